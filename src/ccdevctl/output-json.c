/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The --json renderings of output.h, with json-c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "cleanup.h"
#include "ctl.h"
#include "output.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

/* Add val (consumed, even on failure) under key; NULL val means json-c ran
 * out of memory creating it. */
static int json_add(json_object *o, const char *key, json_object *val)
{
	if (!val)
		return -ENOMEM;
	if (json_object_object_add(o, key, val) < 0) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

static json_object *json_strv(char **l)
{
	_cleanup_(json_object_putp) json_object *a = json_object_new_array();

	if (!a)
		return NULL;
	STRV_FOREACH(s, l) {
		json_object *e = json_object_new_string(*s);

		if (!e || json_object_array_add(a, e) < 0) {
			json_object_put(e);
			return NULL;
		}
	}
	return TAKE_PTR(a);
}

/* Append o (consumed, even on failure) to the array a; NULL o means json-c
 * ran out of memory creating it. */
static int json_append(json_object *a, json_object *o)
{
	if (!o)
		return -ENOMEM;
	if (json_object_array_add(a, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

/* {"device", "bar", "ranges": [{"offset", "length"}...]} */
static json_object *dmabuf_export_to_json(const struct dmabuf_export *e)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();
	_cleanup_(json_object_putp) json_object *ranges = json_object_new_array();

	if (!o || !ranges)
		return NULL;
	for (size_t i = 0; i < e->n_ranges; i++) {
		_cleanup_(json_object_putp) json_object *range = json_object_new_object();

		if (!range ||
		    json_add(range, "offset", json_object_new_uint64(e->ranges[i].offset)) < 0 ||
		    json_add(range, "length", json_object_new_uint64(e->ranges[i].length)) < 0 ||
		    json_append(ranges, TAKE_PTR(range)) < 0)
			return NULL;
	}
	if (json_add(o, "device", json_object_new_string(e->device ? e->device : "")) < 0 ||
	    json_add(o, "bar", json_object_new_int64(e->bar)) < 0 ||
	    json_add(o, "ranges", TAKE_PTR(ranges)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

/* {"lease" (unless NULL), "iova", "length", "device", "bar", "offset", "state"} */
static json_object *dmabuf_mapping_to_json(const struct dmabuf_mapping *m, const char *lease)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();

	if (!o ||
	    (lease && json_add(o, "lease", json_object_new_string(lease)) < 0) ||
	    json_add(o, "iova", json_object_new_uint64(m->iova)) < 0 ||
	    json_add(o, "length", json_object_new_uint64(m->length)) < 0 ||
	    json_add(o, "device", json_object_new_string(m->device ? m->device : "")) < 0 ||
	    json_add(o, "bar", json_object_new_int64(m->bar)) < 0 ||
	    json_add(o, "offset", json_object_new_uint64(m->offset)) < 0 ||
	    json_add(o, "state", json_object_new_string(m->state ? m->state : "")) < 0)
		return NULL;
	return TAKE_PTR(o);
}

/* The exports of one lease (only those of the device at address, unless
 * NULL), as an array. */
static json_object *dmabuf_exports_to_json(const struct lease_dmabuf *d, const char *address)
{
	_cleanup_(json_object_putp) json_object *a = json_object_new_array();

	if (!a)
		return NULL;
	for (size_t i = 0; i < d->exports.n; i++) {
		const struct dmabuf_export *e = &d->exports.items[i];

		if (address && (!e->device || strcmp(e->device, address) != 0))
			continue;
		if (json_append(a, dmabuf_export_to_json(e)) < 0)
			return NULL;
	}
	return TAKE_PTR(a);
}

/* The mappings of one lease as an array, without their lease. */
static json_object *dmabuf_mappings_to_json(const struct lease_dmabuf *d)
{
	_cleanup_(json_object_putp) json_object *a = json_object_new_array();

	if (!a)
		return NULL;
	for (size_t i = 0; i < d->mappings.n; i++)
		if (json_append(a, dmabuf_mapping_to_json(&d->mappings.items[i], NULL)) < 0)
			return NULL;
	return TAKE_PTR(a);
}

/* The mappings of the device at address in every lease of l, with their
 * lease, as an array. */
static json_object *device_mappings_to_json(const struct lease_list *l, const char *address)
{
	_cleanup_(json_object_putp) json_object *a = json_object_new_array();

	if (!a)
		return NULL;
	for (size_t k = 0; k < l->n; k++)
		for (size_t i = 0; i < l->items[k].dmabuf.mappings.n; i++) {
			const struct dmabuf_mapping *m = &l->items[k].dmabuf.mappings.items[i];

			if (!m->device || strcmp(m->device, address) != 0)
				continue;
			if (json_append(a, dmabuf_mapping_to_json(m, l->items[k].path)) < 0)
				return NULL;
		}
	return TAKE_PTR(a);
}

static json_object *device_to_json(const struct device_info *d)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();

	if (!o ||
	    json_add(o, "address", json_object_new_string(d->address)) < 0 ||
	    json_add(o, "vendor_id", json_object_new_int(d->vendor_id)) < 0 ||
	    json_add(o, "device_id", json_object_new_int(d->device_id)) < 0 ||
	    json_add(o, "class", json_object_new_int64(d->class_code)) < 0 ||
	    json_add(o, "driver", json_object_new_string(d->driver)) < 0 ||
	    json_add(o, "state", json_object_new_string(d->state)) < 0 ||
	    json_add(o, "iommu_group", json_object_new_int(d->iommu_group)) < 0 ||
	    json_add(o, "group_members", json_strv(d->group_members)) < 0 ||
	    json_add(o, "vfio_device", json_object_new_string(d->vfio_device)) < 0 ||
	    json_add(o, "managed", json_object_new_boolean(d->managed)) < 0 ||
	    json_add(o, "original_driver", json_object_new_string(d->original_driver)) < 0 ||
	    json_add(o, "reset_methods", json_strv(d->reset_methods)) < 0 ||
	    json_add(o, "path", json_object_new_string(d->path)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

/* Print and drop o; NULL o means building it ran out of memory. */
static int json_print(json_object *o)
{
	_cleanup_(json_object_putp) json_object *owned = o;
	const char *s;

	if (!owned)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	s = json_object_to_json_string_ext(owned, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	puts(s);
	return 0;
}

int output_devices_json(const struct device_list *l)
{
	_cleanup_(json_object_putp) json_object *a = json_object_new_array();

	if (!a)
		return json_print(NULL);
	for (size_t i = 0; i < l->n; i++) {
		json_object *o = device_to_json(&l->items[i]);

		if (!o || json_object_array_add(a, o) < 0) {
			json_object_put(o);
			return json_print(NULL);
		}
	}
	return json_print(TAKE_PTR(a));
}

int output_device_json(const struct device_info *d, const struct lease_list *leases,
		       const struct lease_info *exporting)
{
	_cleanup_(json_object_putp) json_object *o = device_to_json(d);

	if (!o)
		return json_print(NULL);
	if (leases && json_add(o, "dmabuf_mappings", device_mappings_to_json(leases, d->address)) < 0)
		return json_print(NULL);
	if (exporting && json_add(o, "dmabuf_exports", dmabuf_exports_to_json(&exporting->dmabuf, d->address)) < 0)
		return json_print(NULL);
	return json_print(TAKE_PTR(o));
}

int output_manager_json(const struct manager_info *m)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();

	if (!o ||
	    json_add(o, "version", json_object_new_string(m->version)) < 0 ||
	    json_add(o, "kernel_features", json_strv(m->kernel_features)) < 0 ||
	    json_add(o, "device_count", json_object_new_int64(m->device_count)) < 0 ||
	    json_add(o, "lease_count", json_object_new_int64(m->lease_count)) < 0 ||
	    json_add(o, "adopted_leases", json_object_new_int64(m->adopted_leases)) < 0 ||
	    json_add(o, "config_path", json_object_new_string(m->config_path)) < 0 ||
	    json_add(o, "pid", json_object_new_int64(m->pid)) < 0 ||
	    json_add(o, "connection", json_object_new_string(m->direct_socket ? "direct-socket" : "system-bus")) < 0)
		return json_print(NULL);
	return json_print(TAKE_PTR(o));
}

static json_object *lease_info_to_json(const struct lease_info *e, bool dmabuf)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();

	if (!o ||
	    json_add(o, "lease", json_object_new_string(e->path)) < 0 ||
	    json_add(o, "owner_uid", json_object_new_int64(e->owner_uid)) < 0 ||
	    json_add(o, "owner_pid", json_object_new_int64(e->owner_pid)) < 0 ||
	    json_add(o, "state", json_object_new_string(e->state)) < 0 ||
	    json_add(o, "device_count", json_object_new_int64(e->device_count)) < 0)
		return NULL;
	if (dmabuf &&
	    (json_add(o, "dmabuf_mappings", dmabuf_mappings_to_json(&e->dmabuf)) < 0 ||
	     json_add(o, "dmabuf_exports", dmabuf_exports_to_json(&e->dmabuf, NULL)) < 0))
		return NULL;
	return TAKE_PTR(o);
}

int output_leases_json(const struct lease_list *l, bool dmabuf)
{
	_cleanup_(json_object_putp) json_object *a = json_object_new_array();

	if (!a)
		return json_print(NULL);
	for (size_t i = 0; i < l->n; i++) {
		json_object *o = lease_info_to_json(&l->items[i], dmabuf);

		if (!o || json_object_array_add(a, o) < 0) {
			json_object_put(o);
			return json_print(NULL);
		}
	}
	return json_print(TAKE_PTR(a));
}

static json_object *leased_device_to_json(const struct leased_device *d)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();

	if (!o ||
	    json_add(o, "address", json_object_new_string(d->address)) < 0 ||
	    json_add(o, "fd", json_object_new_int(d->fd)) < 0 ||
	    json_add(o, "dev_id", json_object_new_int64(d->dev_id)) < 0 ||
	    json_add(o, "pt_id", json_object_new_int64(d->pt_id)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

int output_lease_json(const struct lease *l)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();
	_cleanup_(json_object_putp) json_object *devices = json_object_new_array();

	if (!o || !devices)
		return json_print(NULL);
	for (size_t i = 0; i < l->n_devices; i++) {
		json_object *d = leased_device_to_json(&l->devices[i]);

		if (!d || json_object_array_add(devices, d) < 0) {
			json_object_put(d);
			return json_print(NULL);
		}
	}
	if (json_add(o, "lease", json_object_new_string(l->path)) < 0 ||
	    json_add(o, "iommufd", json_object_new_int(l->iommufd)) < 0 ||
	    json_add(o, "ioas_id", json_object_new_int64(l->ioas_id)) < 0 ||
	    json_add(o, "devices", TAKE_PTR(devices)) < 0)
		return json_print(NULL);
	return json_print(TAKE_PTR(o));
}

int output_killed_json(const struct killed_list *l)
{
	_cleanup_(json_object_putp) json_object *a = json_object_new_array();

	if (!a)
		return json_print(NULL);
	for (size_t i = 0; i < l->n; i++) {
		_cleanup_(json_object_putp) json_object *o = json_object_new_object();

		if (!o ||
		    json_add(o, "pid", json_object_new_int64(l->items[i].pid)) < 0 ||
		    json_add(o, "command", json_object_new_string(l->items[i].command)) < 0 ||
		    json_object_array_add(a, o) < 0)
			return json_print(NULL);
		o = NULL; /* the array has it */
	}
	return json_print(TAKE_PTR(a));
}

int output_bound_json(uint32_t dev_id, uint32_t pt_id)
{
	_cleanup_(json_object_putp) json_object *o = json_object_new_object();

	if (!o ||
	    json_add(o, "dev_id", json_object_new_int64(dev_id)) < 0 ||
	    json_add(o, "pt_id", json_object_new_int64(pt_id)) < 0)
		return json_print(NULL);
	return json_print(TAKE_PTR(o));
}
