/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config_parse(): the strict JSON reader and the schema behind it, on any
 * text (config_load() reads the file, refuses a NUL byte or more than 1 MiB,
 * and hands the text to config_parse()).  Checked: an error always comes with
 * a message naming the file, success with none; a loaded configuration
 * answers config_match() and access_allows() and frees cleanly.
 */
#include <errno.h>
#include <string.h>

#include "ccdevd/config.h"
#include "fuzz.h"

#define FILE_NAME "/fuzz/ccdevd.json"

static void use(const struct config *c)
{
	static const gid_t supplementary[] = { 27, 100, 1000 };
	static const struct caller callers[] = {
		{ .uid = 0, .gid = 0 },
		{ .uid = 1000, .gid = 1000, .gids = supplementary, .n_gids = 3 },
		{ .uid = 65534, .gid = 65534 },
	};
	static const struct pci_ident idents[] = {
		{ .address = { 0, 1, 0, 0 }, .vendor = 0x1234, .device = 0x11e8, .class_code = 0x00ff00 },
		{ .address = { 0xffff, 0xff, 0x1f, 7 }, .vendor = 0x8086, .device = 0x10d3, .class_code = 0x020000 },
		{ .address = { 0, 0, 3, 0 }, .vendor = 0x1b36, .device = 0x0010, .class_code = 0x010802 },
	};

	FUZZ_ASSERT(c->path && strcmp(c->path, FILE_NAME) == 0);
	for (size_t i = 0; i < c->n_rules; i++)
		FUZZ_ASSERT(c->rules[i].where && c->rules[i].on_release <= RELEASE_KEEP_VFIO);
	for (size_t i = 0; i < sizeof(idents) / sizeof(idents[0]); i++) {
		const struct device_rule *r = config_match(c, &idents[i]);
		FUZZ_ASSERT(!r || (r >= c->rules && r < c->rules + c->n_rules));
		if (r)
			for (size_t j = 0; j < sizeof(callers) / sizeof(callers[0]); j++)
				(void)access_allows(&r->users, &callers[j]);
	}
	for (size_t j = 0; j < sizeof(callers) / sizeof(callers[0]); j++)
		FUZZ_ASSERT(access_allows(&c->readers, &callers[j]) || callers[j].uid != 0);
	FUZZ_ASSERT(c->leases_per_user <= PER_USER_COUNT_MAX && c->devices_per_user <= PER_USER_COUNT_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;
	char *error = NULL, *text;
	int r;

	if (size > CONFIG_FILE_SIZE_MAX)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;

	r = config_parse(text, FILE_NAME, &c, &error);
	if (r < 0) {
		FUZZ_ASSERT(!c);
		FUZZ_ASSERT(error || r == -ENOMEM);
		FUZZ_ASSERT(!error || strncmp(error, FILE_NAME ":", strlen(FILE_NAME ":")) == 0);
	} else {
		FUZZ_ASSERT(r == 0 && c && !error);
		use(c);
	}
	config_free(c);
	free(error);
	free(text);
	return 0;
}
