/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bdf_parse(), which every client-supplied address goes through.  Checked:
 * it accepts exactly the canonical form (any case), and what it accepts
 * formats back to the same text, lower-cased, and parses again to the same.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "bdf.h"
#include "fuzz.h"

static bool canonical(const char *s)
{
	static const char layout[] = "xxxx:xx:xx.x";

	if (strlen(s) != sizeof(layout) - 1)
		return false;
	for (size_t i = 0; layout[i]; i++)
		if (layout[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != layout[i])
			return false;
	unsigned device = (unsigned)strtoul((char[]){ s[8], s[9], 0 }, NULL, 16);
	unsigned function = (unsigned)strtoul((char[]){ s[11], 0 }, NULL, 16);
	return device <= 0x1f && function <= 7;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char buf[BDF_STRING_MAX], path[BDF_STRING_MAX];
	struct bdf b, again;
	int r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;

	r = bdf_parse(s, &b);
	FUZZ_ASSERT(r == 0 || r == -EINVAL);
	FUZZ_ASSERT((r == 0) == canonical(s));
	if (r == 0) {
		bdf_format(&b, buf);
		FUZZ_ASSERT(strlen(buf) == BDF_STRING_MAX - 1);
		for (size_t i = 0; s[i]; i++)
			FUZZ_ASSERT(buf[i] == tolower((unsigned char)s[i]));
		FUZZ_ASSERT(bdf_parse(buf, &again) == 0 && bdf_equal(&b, &again));
		bdf_to_path_component(&b, path);
		FUZZ_ASSERT(strlen(path) == BDF_STRING_MAX - 1 && !strchr(path, ':') && !strchr(path, '.'));
	}
	free(s);
	return 0;
}
