/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's reading of client-built arguments: AttachDevice's address (s)
 * and options (a{sv}), CreateLease's options (a{sv}).  sd-bus checks the
 * wire format and the signature before a handler runs, so the input here is
 * not wire bytes: it is decoded into a message of the method's signature
 * whose dictionary holds any keys and any variant values (nested variants,
 * arrays, dictionaries, structs), built with sd-bus on a bus that never
 * connects.  Checked: the readers accept exactly what the API allows
 * (AttachDevice: only "bind" as a boolean, the last one wins; CreateLease:
 * nothing), and refuse the rest with InvalidArgument or an sd-bus error.
 *
 * Input: byte 0 picks the method (bit 0) and the number of entries (bits
 * 1-3); AttachDevice then takes an address (take_choice()); each entry is a
 * key (take_choice()) and a variant: a byte indexing types[], then the value
 * (1 byte for b, o, g; 8 for numbers; a length byte and the bytes for s; a
 * count byte and the elements for arrays; the fields for structs).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "bdf.h"
#include "bus-api.h"
#include "ccdevd/bus.h"
#include "fuzz-bus.h"
#include "fuzz.h"

/* len bytes (fewer at the end of the input) as a string.  The caller frees. */
static char *take_chars(struct input *in, size_t len)
{
	char *s;

	if (len > in->n)
		len = in->n;
	s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, in->p, len);
	s[len] = 0;
	in->p += len;
	in->n -= len;
	return s;
}

/* A length byte (0..63), then that many bytes. */
static char *take_string(struct input *in)
{
	return take_chars(in, take_byte(in) % 64);
}

/* A byte with the top bit set picks one of choices, else it is the length
 * (0..127) of the string that follows. */
static char *take_choice(struct input *in, const char *const *choices, size_t n_choices)
{
	uint8_t b = take_byte(in);
	char *s = b & 0x80 ? strdup(choices[(b & 0x7f) % n_choices]) : take_chars(in, b);

	if (!s)
		abort();
	return s;
}

static const char *const known_keys[] = { "bind", "Bind", "bind ", "", "raw", "kvm", "bind\xc3\xa9" };

#define take_key(in) take_choice((in), known_keys, sizeof(known_keys) / sizeof(known_keys[0]))

static const char *const addresses[] = { "0000:01:00.0", "0000:00:1F.7", "ffff:ff:1f.7", "0000:01:00.8",
					 "0000:01:20.0", "0000:01:00", "" };

/* Variant contents, by the signature sd-bus would see. */
static const char *const types[] = {
	"b", "y", "n", "q", "i", "u", "x", "t", "d", "s", "o", "g", "v", "as", "ab", "ay", "a{sv}", "(sb)", "(bv)", "a(sv)",
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static int append_value(sd_bus_message *m, const char *type, struct input *in, unsigned depth);

/* The value of the last boolean appended. */
static int last_bool;

/* One variant: a type byte, then its value. */
static int append_variant(sd_bus_message *m, struct input *in, unsigned depth, const char **ret_type)
{
	const char *type = types[take_byte(in) % N_TYPES];
	int r;

	if (depth > 4 && (type[0] == 'v' || type[0] == 'a' || type[0] == '('))
		type = "b";
	r = sd_bus_message_open_container(m, 'v', type);
	if (r < 0)
		return r;
	r = append_value(m, type, in, depth + 1);
	if (r < 0)
		return r;
	if (ret_type)
		*ret_type = type;
	return sd_bus_message_close_container(m);
}

/* ret_expect_ok, ret_raw: what AttachDevice must make of the dictionary. */
static int append_dict(sd_bus_message *m, struct input *in, unsigned n, unsigned depth,
		       bool *ret_expect_ok, bool *ret_raw)
{
	int r = sd_bus_message_open_container(m, 'a', "{sv}");

	for (unsigned i = 0; r >= 0 && i < n; i++) {
		char *key = take_key(in);
		const char *type = NULL;

		r = sd_bus_message_open_container(m, 'e', "sv");
		if (r >= 0)
			r = sd_bus_message_append_basic(m, 's', key);
		if (r >= 0)
			r = append_variant(m, in, depth, &type);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		if (r >= 0 && ret_expect_ok) {
			if (strcmp(key, "bind") != 0 || strcmp(type, "b") != 0)
				*ret_expect_ok = false;
			else
				*ret_raw = !last_bool;
		}
		free(key);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	return r;
}

static int append_value(sd_bus_message *m, const char *type, struct input *in, unsigned depth)
{
	switch (type[0]) {
	case 'b': {
		last_bool = take_byte(in) & 1;
		return sd_bus_message_append_basic(m, 'b', &last_bool);
	}
	case 'y': case 'n': case 'q': case 'i': case 'u': case 'x': case 't': case 'd': {
		uint64_t v = take_u64(in);
		return sd_bus_message_append_basic(m, type[0], &v);
	}
	case 's': {
		char *s = take_string(in);
		int r = sd_bus_message_append_basic(m, 's', s);
		free(s);
		return r;
	}
	case 'o':
		return sd_bus_message_append_basic(m, 'o', take_byte(in) & 1 ? "/org/ccdevd1" : "/");
	case 'g':
		return sd_bus_message_append_basic(m, 'g', take_byte(in) & 1 ? "a{sv}" : "");
	case 'v':
		return append_variant(m, in, depth, NULL);
	case '(': {
		/* "(sb)" or "(bv)" */
		int r = sd_bus_message_open_container(m, 'r', strndupa(type + 1, strlen(type) - 2));
		for (const char *t = type + 1; r >= 0 && *t != ')'; t++)
			r = append_value(m, (char[]){ *t, 0 }, in, depth + 1);
		return r < 0 ? r : sd_bus_message_close_container(m);
	}
	case 'a': {
		unsigned n = take_byte(in) % 4;
		if (strcmp(type, "a{sv}") == 0)
			return append_dict(m, in, n, depth + 1, NULL, NULL);
		int r = sd_bus_message_open_container(m, 'a', type + 1);
		for (unsigned i = 0; r >= 0 && i < n; i++)
			r = append_value(m, type + 1, in, depth + 1);
		return r < 0 ? r : sd_bus_message_close_container(m);
	}
	}
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	sd_bus_message *m = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	uint8_t head = take_byte(&in);
	bool attach = head & 1, expect_ok = true, expect_raw = false, raw = false;
	unsigned n = (head >> 1) & 7;
	char *address = NULL;
	int r;

	r = sd_bus_message_new_method_call(fuzz_bus(), &m, CCDEVD_BUS_NAME,
					   attach ? CCDEVD_LEASE_PREFIX "/1" : CCDEVD_OBJECT_ROOT,
					   attach ? CCDEVD_LEASE_IFACE : CCDEVD_MANAGER_IFACE,
					   attach ? "AttachDevice" : "CreateLease");
	FUZZ_ASSERT(r >= 0);
	if (attach) {
		address = take_choice(&in, addresses, sizeof(addresses) / sizeof(addresses[0]));
		r = sd_bus_message_append_basic(m, 's', address);
	}
	if (r >= 0)
		r = append_dict(m, &in, n, 0, &expect_ok, &expect_raw);
	if (r < 0)
		goto out; /* not a message a client could send (invalid UTF-8, say) */
	r = sd_bus_message_seal(m, 1, 0);
	FUZZ_ASSERT(r >= 0);
	FUZZ_ASSERT(sd_bus_message_rewind(m, true) >= 0);

	if (attach) {
		const char *s;
		struct bdf bdf;

		FUZZ_ASSERT(sd_bus_message_read(m, "s", &s) >= 0 && strcmp(s, address) == 0);
		(void)bdf_parse(s, &bdf);
		r = bus_read_attach_options(m, &raw, &error);
		FUZZ_ASSERT((r >= 0) == expect_ok);
		if (r >= 0)
			FUZZ_ASSERT(raw == expect_raw && sd_bus_message_at_end(m, true) > 0);
	} else {
		r = bus_read_create_lease_options(m, &error);
		FUZZ_ASSERT((r >= 0) == (n == 0));
	}
	/* A refusal names InvalidArgument, or is sd-bus's own (a wrong type). */
	FUZZ_ASSERT(r >= 0 || !sd_bus_error_is_set(&error) ||
		    sd_bus_error_has_name(&error, CCDEVD_ERROR_INVALID_ARGUMENT));
out:
	sd_bus_error_free(&error);
	sd_bus_message_unref(m);
	free(address);
	return 0;
}
