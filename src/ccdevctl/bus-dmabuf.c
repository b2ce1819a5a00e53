/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-dmabuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-api.h"
#include "bus-client.h"
#include "bus-lease.h"
#include "cleanup.h"
#include "ctl.h"
#include "properties.h"

#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

static void dmabuf_export_list_done(struct dmabuf_export_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].device);
		free(l->items[i].ranges);
	}
	free(l->items);
	*l = (struct dmabuf_export_list){};
}

static void dmabuf_mapping_list_done(struct dmabuf_mapping_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].device);
		free(l->items[i].state);
	}
	free(l->items);
	*l = (struct dmabuf_mapping_list){};
}

void lease_dmabuf_done(struct lease_dmabuf *d)
{
	dmabuf_export_list_done(&d->exports);
	dmabuf_mapping_list_done(&d->mappings);
}

/* The a(tt) of one export, at m's position, into e. */
static int dmabuf_ranges_read(sd_bus_message *m, struct dmabuf_export *e)
{
	struct dmabuf_range *ranges;
	uint64_t offset, length;
	int r;

	r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(tt)");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(m, "(tt)", &offset, &length)) > 0) {
		ranges = reallocarray(e->ranges, e->n_ranges + 1, sizeof(*ranges));
		if (!ranges)
			return -ENOMEM;
		e->ranges = ranges;
		e->ranges[e->n_ranges++] = (struct dmabuf_range){ .offset = offset, .length = length };
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* DmaBufExports, a(sua(tt)), into the struct dmabuf_export_list at dst. */
static int dmabuf_exports_read(sd_bus_message *m, void *dst)
{
	_cleanup_(dmabuf_export_list_done) struct dmabuf_export_list l = {};
	struct dmabuf_export_list *ret = dst;
	struct dmabuf_export *items, *e;
	const char *device;
	int r;

	r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(sua(tt))");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_STRUCT, "sua(tt)")) > 0) {
		items = reallocarray(l.items, l.n + 1, sizeof(*items));
		if (!items)
			return -ENOMEM;
		l.items = items;
		e = &l.items[l.n++]; /* even half-filled: freed with l */
		*e = (struct dmabuf_export){};
		r = sd_bus_message_read(m, "su", &device, &e->bar);
		if (r < 0)
			return r;
		e->device = strdup(device);
		if (!e->device)
			return -ENOMEM;
		r = dmabuf_ranges_read(m, e);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;

	dmabuf_export_list_done(ret);
	*ret = l;
	l = (struct dmabuf_export_list){};
	return 0;
}

/* DmaBufMappings, a(ttsuts), into the struct dmabuf_mapping_list at dst. */
static int dmabuf_mappings_read(sd_bus_message *m, void *dst)
{
	_cleanup_(dmabuf_mapping_list_done) struct dmabuf_mapping_list l = {};
	struct dmabuf_mapping_list *ret = dst;
	struct dmabuf_mapping e = {}, *items;
	const char *device, *state;
	int r;

	r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(ttsuts)");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(m, "(ttsuts)", &e.iova, &e.length, &device, &e.bar, &e.offset,
					&state)) > 0) {
		items = reallocarray(l.items, l.n + 1, sizeof(*items));
		if (!items)
			return -ENOMEM;
		l.items = items;
		e.device = strdup(device);
		e.state = strdup(state);
		l.items[l.n++] = e; /* even half-filled: freed with l */
		if (!e.device || !e.state)
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;

	dmabuf_mapping_list_done(ret);
	*ret = l;
	l = (struct dmabuf_mapping_list){};
	return 0;
}

static const struct prop_map lease_dmabuf_props[] = {
	{ "DmaBufExports", "a(sua(tt))", offsetof(struct lease_dmabuf, exports), dmabuf_exports_read },
	{ "DmaBufMappings", "a(ttsuts)", offsetof(struct lease_dmabuf, mappings), dmabuf_mappings_read },
	{}
};

/* The two properties of the lease at path into d: 1, or 0 when the lease
 * has ended (nothing read). */
static int lease_dmabuf_read(sd_bus *bus, const char *path, struct lease_dmabuf *d)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, PROPERTIES_IFACE, "GetAll", &error, &reply,
			       "s", CCDEVD_LEASE_IFACE);
	if (r < 0 && sd_bus_error_has_names(&error, SD_BUS_ERROR_UNKNOWN_OBJECT, CCDEVD_ERROR_NO_SUCH_LEASE))
		return 0;
	if (r < 0)
		return bus_log_error(&error, r, "read the properties of a lease");
	r = prop_map_read(reply, lease_dmabuf_props, d);
	return r < 0 ? r : 1;
}

int bus_read_lease_dmabufs(sd_bus *bus, struct lease_list *l)
{
	int r;

	for (size_t i = 0; i < l->n;) {
		r = lease_dmabuf_read(bus, l->items[i].path, &l->items[i].dmabuf);
		if (r < 0)
			return r;
		if (r > 0) {
			i++;
			continue;
		}
		lease_info_done(&l->items[i]);
		memmove(&l->items[i], &l->items[i + 1], (l->n - i - 1) * sizeof(l->items[0]));
		l->n--;
	}
	return 0;
}
