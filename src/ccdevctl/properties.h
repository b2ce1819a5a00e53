/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Decoding a Properties.GetAll reply (a{sv}) into a C struct through a table
 * of (property name, D-Bus signature, member offset).  Properties the table
 * does not name are skipped, so a newer daemon with more properties works;
 * a property with a type other than the contract's is an error.
 */

#include <stddef.h>
#include <systemd/sd-bus.h>

struct prop_map {
	const char *name;
	/* "s", "o" → char *, "q" → uint16_t, "u" → uint32_t, "i" → int32_t,
	 * "b" → bool, "as" → char ** (NULL-terminated); strings are malloc'ed
	 * and replace (and free) what the member held. */
	const char *signature;
	size_t offset;
	/* For any other signature (arrays of structs): reads the value, m
	 * positioned inside the variant, into the member at dst, replacing
	 * (and freeing) what it held; returns 0 or a negative errno.  NULL
	 * for the types above. */
	int (*read)(sd_bus_message *m, void *dst);
};

/* Read the a{sv} at m's read position; map ends with an entry whose name is
 * NULL.  Errors are reported here.  The caller rewinds m to read it again. */
int prop_map_read(sd_bus_message *m, const struct prop_map *map, void *base);
