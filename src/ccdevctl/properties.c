/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "properties.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "strv.h"

static const struct prop_map *prop_map_find(const struct prop_map *map, const char *name)
{
	for (const struct prop_map *p = map; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* Read the basic value or string array inside the variant into *dst. */
static int prop_read_value(sd_bus_message *m, const char *signature, void *dst)
{
	const char *s;
	char **l = NULL;
	int b, r;

	switch (signature[0]) {
	case 's':
	case 'o':
		r = sd_bus_message_read_basic(m, signature[0], &s);
		if (r < 0)
			return r;
		free(*(char **)dst);
		*(char **)dst = strdup(s);
		return *(char **)dst ? 0 : -ENOMEM;
	case 'b':
		r = sd_bus_message_read_basic(m, 'b', &b);
		if (r < 0)
			return r;
		*(bool *)dst = b;
		return 0;
	case 'a':
		r = sd_bus_message_read_strv(m, &l);
		if (r < 0)
			return r;
		strv_free(*(char ***)dst);
		*(char ***)dst = l;
		return 0;
	default: /* q, u, i: sd-bus writes exactly the member's width */
		return sd_bus_message_read_basic(m, signature[0], dst);
	}
}

static int prop_read(sd_bus_message *m, const struct prop_map *p, void *base)
{
	const char *contents;
	char type;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	if (type != SD_BUS_TYPE_VARIANT || strcmp(contents, p->signature) != 0)
		return -EBADMSG;

	r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, p->signature);
	if (r < 0)
		return r;
	if (p->read)
		r = p->read(m, (uint8_t *)base + p->offset);
	else
		r = prop_read_value(m, p->signature, (uint8_t *)base + p->offset);
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* One dict entry; *ret_name is the property being read, for messages. */
static int prop_map_read_entry(sd_bus_message *m, const struct prop_map *map, void *base,
			       const char **ret_name)
{
	const struct prop_map *p;
	const char *name;
	int r;

	r = sd_bus_message_read_basic(m, 's', &name);
	if (r < 0)
		return r;
	*ret_name = name;
	p = prop_map_find(map, name);
	if (!p)
		return sd_bus_message_skip(m, "v");
	r = prop_read(m, p, base);
	if (r == -EBADMSG)
		return ctl_error_errno(r, "ccdevd sent property %s with a type other than '%s'.",
				       name, p->signature);
	if (r < 0)
		return ctl_unclassified(ctl_error_errno(r, "Failed to read property %s sent by ccdevd: %m", name));
	return 0;
}

int prop_map_read(sd_bus_message *m, const struct prop_map *map, void *base)
{
	const char *name = NULL;
	int r;

	r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
		r = prop_map_read_entry(m, map, base, &name);
		if (r < 0)
			return r; /* already reported */
		r = sd_bus_message_exit_container(m);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (r < 0)
		return ctl_unclassified(ctl_error_errno(r, "Failed to parse the properties sent by ccdevd%s%s: %m",
							name ? " after " : "", name ? name : ""));
	return 0;
}
