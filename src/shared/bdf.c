/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bdf.h"

#include <errno.h>
#include <stdio.h>

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly n hex digits at s; no sign, no prefix, no whitespace. */
static int parse_hex(const char *s, unsigned n, unsigned *out)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		int d = hex_digit(s[i]);
		if (d < 0)
			return -EINVAL;
		v = v << 4 | (unsigned)d;
	}
	*out = v;
	return 0;
}

int bdf_parse(const char *s, struct bdf *out)
{
	unsigned domain, bus, device, function;

	if (!s)
		return -EINVAL;
	/* Layout: DDDD ':' BB ':' DD '.' F NUL; hex_digit() rejects NUL, so the
	 * checks below never read past a short string. */
	if (parse_hex(s, 4, &domain) < 0 || s[4] != ':' ||
	    parse_hex(s + 5, 2, &bus) < 0 || s[7] != ':' ||
	    parse_hex(s + 8, 2, &device) < 0 || s[10] != '.' ||
	    parse_hex(s + 11, 1, &function) < 0 || s[12] != '\0')
		return -EINVAL;
	if (device > 0x1f || function > 7)
		return -EINVAL;

	*out = (struct bdf){
		.domain = (uint16_t)domain,
		.bus = (uint8_t)bus,
		.device = (uint8_t)device,
		.function = (uint8_t)function,
	};
	return 0;
}

char *bdf_format(const struct bdf *b, char buf[static BDF_STRING_MAX])
{
	snprintf(buf, BDF_STRING_MAX, "%04x:%02x:%02x.%x", b->domain, b->bus, b->device & 0x1f, b->function & 7);
	return buf;
}

char *bdf_to_path_component(const struct bdf *b, char buf[static BDF_STRING_MAX])
{
	snprintf(buf, BDF_STRING_MAX, "%04x_%02x_%02x_%x", b->domain, b->bus, b->device & 0x1f, b->function & 7);
	return buf;
}

bool bdf_equal(const struct bdf *a, const struct bdf *b)
{
	return a->domain == b->domain && a->bus == b->bus && a->device == b->device &&
	       a->function == b->function;
}
