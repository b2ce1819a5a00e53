/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * PCI addresses (domain:bus:device.function).  Clients name devices only by
 * BDF; the string is parsed strictly here and a device is then looked up in
 * the daemon's inventory, never used to build a path.
 */

#include <stdbool.h>
#include <stdint.h>

/* "DDDD:BB:DD.F" plus the terminating NUL */
#define BDF_STRING_MAX 13

struct bdf {
	uint16_t domain;
	uint8_t bus;
	uint8_t device;   /* 0..31 */
	uint8_t function; /* 0..7 */
};

/*
 * Accepts exactly the canonical sysfs form: four hex digits of domain, two of
 * bus, two of device (<= 0x1f), one of function (<= 7), lower or upper case,
 * nothing before or after.  Returns 0 or -EINVAL.
 */
int bdf_parse(const char *s, struct bdf *out);

/* Canonical lower-case form into buf (BDF_STRING_MAX bytes); returns buf. */
char *bdf_format(const struct bdf *b, char buf[static BDF_STRING_MAX]);

bool bdf_equal(const struct bdf *a, const struct bdf *b);

/* D-Bus object path component: "0000_01_00_0". */
char *bdf_to_path_component(const struct bdf *b, char buf[static BDF_STRING_MAX]);
