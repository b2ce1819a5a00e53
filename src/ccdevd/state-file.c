/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "state-file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "cleanup.h"
#include "json-strict.h"
#include "why.h"

struct saved_state *saved_state_new(void)
{
	return calloc(1, sizeof(struct saved_state));
}

static void saved_lease_done(struct saved_lease *l)
{
	for (size_t k = 0; k < l->n_devices; k++) {
		struct saved_device *d = &l->devices[k];
		for (size_t e = 0; e < d->n_exports; e++)
			free(d->exports[e].ranges);
		free(d->exports);
		free(d->original_driver);
	}
	free(l->devices);
	free(l->mappings);
	free(l->owner_name);
	*l = (struct saved_lease){};
}

void saved_lease_free(struct saved_lease *l)
{
	if (!l)
		return;
	saved_lease_done(l);
	free(l);
}

void saved_state_free(struct saved_state *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_leases; i++)
		saved_lease_done(&s->leases[i]);
	free(s->leases);
	for (size_t i = 0; i < s->n_teardowns; i++) {
		free(s->teardowns[i].original_driver);
		free(s->teardowns[i].reason);
	}
	free(s->teardowns);
	free(s->memlock);
	free(s);
}

static bool same_string(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_device(const struct saved_device *a, const struct saved_device *b)
{
	if (!bdf_equal(&a->address, &b->address) || a->steps_done != b->steps_done || a->claimed != b->claimed ||
	    a->dev_id != b->dev_id || a->pt_id != b->pt_id || a->memlock_quota != b->memlock_quota ||
	    !same_string(a->original_driver, b->original_driver) || a->n_exports != b->n_exports)
		return false;
	for (size_t e = 0; e < a->n_exports; e++) {
		const struct saved_export *x = &a->exports[e], *y = &b->exports[e];
		if (x->bar != y->bar || x->n_ranges != y->n_ranges)
			return false;
		for (size_t i = 0; i < x->n_ranges; i++)
			if (x->ranges[i].offset != y->ranges[i].offset || x->ranges[i].length != y->ranges[i].length)
				return false;
	}
	return true;
}

bool saved_lease_equal(const struct saved_lease *a, const struct saved_lease *b)
{
	if (a->id != b->id || a->owner_uid != b->owner_uid || a->owner_pid != b->owner_pid ||
	    !same_string(a->owner_name, b->owner_name) || a->ioas_id != b->ioas_id || a->releasing != b->releasing ||
	    a->n_devices != b->n_devices || a->n_mappings != b->n_mappings)
		return false;
	for (size_t k = 0; k < a->n_devices; k++)
		if (!same_device(&a->devices[k], &b->devices[k]))
			return false;
	for (size_t k = 0; k < a->n_mappings; k++) {
		const struct saved_mapping *x = &a->mappings[k], *y = &b->mappings[k];
		if (!bdf_equal(&x->address, &y->address) || x->bar != y->bar || x->offset != y->offset ||
		    x->length != y->length || x->iova != y->iova || x->mapped != y->mapped)
			return false;
	}
	return true;
}

/* ---- reading ---- */

struct reader {
	const char *file;
	char **ret_why;
};

static int bad(const struct reader *rd, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(const struct reader *rd, const char *where, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	return why(rd->ret_why, -EINVAL, "%s: %s: %s", rd->file, where, text ? text : "invalid");
}

/* Each field a reader knows: its key, and where it goes. */
enum field_kind { F_U32, F_U64, F_ID, F_PID, F_BOOL, F_STRING, F_BDF, F_STEPS, F_TEARDOWN_STEP, F_LEASE_STATE };

struct field {
	const char *key;
	enum field_kind kind;
	void *out;
	bool required;
};

static int read_field(const struct reader *rd, const char *where, const struct field *f, json_object *v)
{
	char at[256];

	snprintf(at, sizeof at, "%s.%s", where, f->key);
	switch (f->kind) {
	case F_U32:
	case F_U64:
	case F_ID:
	case F_PID: {
		uint64_t max = f->kind == F_U64 ? UINT64_MAX : f->kind == F_PID ? INT32_MAX
			       : f->kind == F_ID ? UINT32_MAX - 1 : UINT32_MAX;
		uint64_t n;
		if (!json_object_is_type(v, json_type_int))
			return bad(rd, at, "must be a whole number");
		n = json_object_get_uint64(v);
		/* json-c saturates: only an exact round trip is the number written. */
		if (json_object_get_int64(v) < 0 || n > max || (f->kind == F_PID && n == 0))
			return bad(rd, at, "out of range");
		if (f->kind == F_U64)
			*(uint64_t *)f->out = n;
		else if (f->kind == F_PID)
			*(pid_t *)f->out = (pid_t)n;
		else
			*(uint32_t *)f->out = (uint32_t)n;
		return 0;
	}
	case F_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return bad(rd, at, "must be true or false");
		*(bool *)f->out = json_object_get_boolean(v);
		return 0;
	case F_STRING: {
		const char *s;
		if (!json_object_is_type(v, json_type_string))
			return bad(rd, at, "must be a string");
		s = json_object_get_string(v);
		if ((size_t)json_object_get_string_len(v) != strlen(s) || strlen(s) >= STATE_STRING_MAX)
			return bad(rd, at, "must be a string without NUL, under %d bytes", STATE_STRING_MAX);
		*(char **)f->out = strdup(s);
		return *(char **)f->out ? 0 : -ENOMEM;
	}
	case F_BDF:
		if (!json_object_is_type(v, json_type_string) || bdf_parse(json_object_get_string(v), f->out) < 0)
			return bad(rd, at, "must be a PCI address DDDD:BB:DD.F");
		return 0;
	case F_STEPS: {
		unsigned *mask = f->out;
		if (!json_object_is_type(v, json_type_array))
			return bad(rd, at, "must be an array of attach steps");
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *e = json_object_array_get_idx(v, i);
			enum attach_step s;
			for (s = 0; s < _ATTACH_STEP_MAX; s++)
				if (json_object_is_type(e, json_type_string) &&
				    strcmp(json_object_get_string(e), attach_step_to_string(s)) == 0)
					break;
			if (s == _ATTACH_STEP_MAX || (*mask & (1u << s)))
				return bad(rd, at, "element %zu is not an attach step, or repeats one", i);
			*mask |= 1u << s;
		}
		/* Steps run in order: a later one done means every earlier one,
		 * except claim (a device already on vfio-pci needs none). */
		for (enum attach_step s = ATTACH_BIND; s < _ATTACH_STEP_MAX; s++)
			if ((*mask & (1u << s)) && !(*mask & (1u << (s - 1))))
				return bad(rd, at, "step %s without %s before it", attach_step_to_string(s),
					   attach_step_to_string(s - 1));
		if (!(*mask & (1u << ATTACH_OPEN)))
			return bad(rd, at, "a leased device is at least opened");
		return 0;
	}
	case F_TEARDOWN_STEP: {
		enum teardown_step *step = f->out;
		if (json_object_is_type(v, json_type_string))
			for (enum teardown_step s = TEARDOWN_DETACH; s < _TEARDOWN_STEP_MAX; s++)
				if (strcmp(json_object_get_string(v), teardown_step_to_string(s)) == 0) {
					*step = s;
					return 0;
				}
		return bad(rd, at, "must be one of detach, release, reset, driver");
	}
	case F_LEASE_STATE:
		if (json_object_is_type(v, json_type_string) && strcmp(json_object_get_string(v), "active") == 0)
			*(bool *)f->out = false;
		else if (json_object_is_type(v, json_type_string) &&
			 strcmp(json_object_get_string(v), "releasing") == 0)
			*(bool *)f->out = true;
		else
			return bad(rd, at, "must be \"active\" or \"releasing\"");
		return 0;
	}
	return -EINVAL;
}

/* Read the object o into fields: every key known, every required key there. */
static int read_object(const struct reader *rd, const char *where, json_object *o, const struct field *fields,
		       size_t n, json_object **ret_array, const char *array_key)
{
	bool seen[16] = {};
	int r;

	if (!json_object_is_type(o, json_type_object))
		return bad(rd, where, "must be an object");
	json_object_object_foreach(o, key, val) {
		size_t i;
		if (array_key && strcmp(key, array_key) == 0) {
			*ret_array = val;
			continue;
		}
		for (i = 0; i < n && strcmp(key, fields[i].key) != 0; i++)
			;
		if (i == n)
			return bad(rd, where, "unknown key \"%s\"", key);
		r = read_field(rd, where, &fields[i], val);
		if (r < 0)
			return r;
		seen[i] = true;
	}
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && !seen[i])
			return bad(rd, where, "\"%s\" is missing", fields[i].key);
	if (array_key && !*ret_array)
		return bad(rd, where, "\"%s\" is missing", array_key);
	return 0;
}

static int get_array(const struct reader *rd, const char *where, json_object *v, size_t max, size_t *ret_n)
{
	if (!v || !json_object_is_type(v, json_type_array))
		return bad(rd, where, "must be an array");
	*ret_n = json_object_array_length(v);
	if (*ret_n > max)
		return bad(rd, where, "more than %zu entries", max);
	return 0;
}

/* An optional array key, taken out of o so read_object() need not know it. */
static json_object *take_optional(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	json_object_get(v);
	json_object_object_del(o, key);
	return v;
}

static int read_range(const struct reader *rd, const char *where, json_object *o, struct saved_range *x)
{
	const struct field fields[] = {
		{ "offset", F_U64, &x->offset, true },
		{ "length", F_U64, &x->length, true },
	};
	int r = read_object(rd, where, o, fields, ELEMENTSOF(fields), NULL, NULL);

	if (r >= 0 && (x->length == 0 || x->offset + x->length < x->offset))
		return bad(rd, where, "length must be set and offset + length must not overflow");
	return r;
}

static int read_export(const struct reader *rd, const char *where, json_object *o, struct saved_export *e)
{
	const struct field fields[] = {
		{ "bar", F_U32, &e->bar, true },
	};
	json_object *ranges = NULL;
	char at[256];
	int r;

	r = read_object(rd, where, o, fields, ELEMENTSOF(fields), &ranges, "ranges");
	if (r < 0)
		return r;
	if (e->bar > 5)
		return bad(rd, where, "bar must be 0..5");
	snprintf(at, sizeof at, "%s.ranges", where);
	r = get_array(rd, at, ranges, STATE_RANGES_MAX, &e->n_ranges);
	if (r < 0)
		return r;
	if (e->n_ranges == 0)
		return bad(rd, at, "an export has at least one range");
	e->ranges = calloc(e->n_ranges, sizeof(*e->ranges));
	if (!e->ranges)
		return -ENOMEM;
	for (size_t i = 0; i < e->n_ranges; i++) {
		snprintf(at, sizeof at, "%s.ranges[%zu]", where, i);
		r = read_range(rd, at, json_object_array_get_idx(ranges, i), &e->ranges[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_mapping(const struct reader *rd, const char *where, json_object *o, struct saved_mapping *mp)
{
	const struct field fields[] = {
		{ "address", F_BDF, &mp->address, true },
		{ "bar", F_U32, &mp->bar, true },
		{ "offset", F_U64, &mp->offset, true },
		{ "length", F_U64, &mp->length, true },
		{ "iova", F_U64, &mp->iova, true },
		{ "mapped", F_BOOL, &mp->mapped, true },
	};
	int r = read_object(rd, where, o, fields, ELEMENTSOF(fields), NULL, NULL);

	if (r < 0)
		return r;
	if (mp->bar > 5 || mp->length == 0 || mp->iova + mp->length < mp->iova || mp->offset + mp->length < mp->offset)
		return bad(rd, where, "bar must be 0..5, length set, and neither iova nor offset + length overflow");
	return 0;
}

/* An optional array of what read_one reads, n of them at most, into *ret. */
static int read_array(const struct reader *rd, const char *where, json_object *v, size_t max, size_t elem_size,
		      int (*read_one)(const struct reader *, const char *, json_object *, void *), void **ret,
		      size_t *ret_n)
{
	char at[256];
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (!v)
		return 0;
	r = get_array(rd, where, v, max, ret_n);
	if (r < 0)
		return r;
	*ret = calloc(*ret_n ? *ret_n : 1, elem_size);
	if (!*ret)
		return -ENOMEM;
	for (size_t i = 0; i < *ret_n; i++) {
		snprintf(at, sizeof at, "%s[%zu]", where, i);
		r = read_one(rd, at, json_object_array_get_idx(v, i), (char *)*ret + i * elem_size);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_export_any(const struct reader *rd, const char *where, json_object *o, void *out)
{
	return read_export(rd, where, o, out);
}

static int read_mapping_any(const struct reader *rd, const char *where, json_object *o, void *out)
{
	return read_mapping(rd, where, o, out);
}

static int read_device(const struct reader *rd, const char *where, json_object *o, struct saved_device *d)
{
	_cleanup_(json_object_putp) json_object *exports = take_optional(o, "exports");
	char at[320];
	void *p;
	const struct field fields[] = {
		{ "address", F_BDF, &d->address, true },
		{ "steps", F_STEPS, &d->steps_done, true },
		{ "dev_id", F_U32, &d->dev_id, true },
		{ "pt_id", F_U32, &d->pt_id, true },
		{ "memlock_quota", F_U64, &d->memlock_quota, true },
		{ "original_driver", F_STRING, &d->original_driver, true },
	};
	int r = read_object(rd, where, o, fields, ELEMENTSOF(fields), NULL, NULL);

	if (r < 0)
		return r;
	d->claimed = d->steps_done & (1u << ATTACH_CLAIM);
	if (!!(d->steps_done & (1u << ATTACH_BIND)) != (d->dev_id != 0) ||
	    !!(d->steps_done & (1u << ATTACH_PT)) != (d->pt_id != 0))
		return bad(rd, where, "dev_id and pt_id must be set exactly when bind and attach are done");
	snprintf(at, sizeof at, "%s.exports", where);
	r = read_array(rd, at, exports, STATE_EXPORTS_MAX, sizeof(struct saved_export), read_export_any, &p,
		       &d->n_exports);
	d->exports = p;
	return r;
}

static int read_lease(const struct reader *rd, const char *where, json_object *o, struct saved_lease *l)
{
	const struct field fields[] = {
		{ "id", F_ID, &l->id, true },
		{ "owner_uid", F_ID, &l->owner_uid, true },
		{ "owner_pid", F_PID, &l->owner_pid, true },
		{ "owner_name", F_STRING, &l->owner_name, true },
		{ "ioas_id", F_U32, &l->ioas_id, true },
		{ "state", F_LEASE_STATE, &l->releasing, true },
	};
	_cleanup_(json_object_putp) json_object *mappings = take_optional(o, "mappings");
	json_object *devices = NULL;
	char at[256];
	void *p;
	int r;

	r = read_object(rd, where, o, fields, ELEMENTSOF(fields), &devices, "devices");
	if (r < 0)
		return r;
	/* owner_name "": the lease was made on the direct socket. */
	if (l->id == 0 || (l->owner_name[0] != ':' && l->owner_name[0] != '\0') || l->ioas_id == 0)
		return bad(rd, where, "id and ioas_id must be set and owner_name a unique bus name or \"\"");
	snprintf(at, sizeof at, "%s.devices", where);
	r = get_array(rd, at, devices, STATE_DEVICES_MAX, &l->n_devices);
	if (r < 0)
		return r;
	l->devices = calloc(l->n_devices ? l->n_devices : 1, sizeof(*l->devices));
	if (!l->devices)
		return -ENOMEM;
	for (size_t k = 0; k < l->n_devices; k++) {
		snprintf(at, sizeof at, "%s.devices[%zu]", where, k);
		r = read_device(rd, at, json_object_array_get_idx(devices, k), &l->devices[k]);
		if (r < 0)
			return r;
		if (l->devices[k].pt_id && l->devices[k].pt_id != l->ioas_id)
			return bad(rd, at, "pt_id %u is not the lease's IOAS %u", l->devices[k].pt_id, l->ioas_id);
	}
	snprintf(at, sizeof at, "%s.mappings", where);
	r = read_array(rd, at, mappings, STATE_MAPPINGS_MAX, sizeof(struct saved_mapping), read_mapping_any, &p,
		       &l->n_mappings);
	l->mappings = p;
	if (r < 0)
		return r;
	/* One fd name per IOVA. */
	for (size_t i = 0; i < l->n_mappings; i++)
		for (size_t j = 0; j < i; j++)
			if (l->mappings[i].iova == l->mappings[j].iova)
				return bad(rd, at, "two mappings at IOVA 0x%" PRIx64, l->mappings[i].iova);
	return 0;
}

static int read_teardown(const struct reader *rd, const char *where, json_object *o, struct saved_teardown *t)
{
	const struct field fields[] = {
		{ "address", F_BDF, &t->address, true },
		{ "step", F_TEARDOWN_STEP, &t->step, true },
		{ "file_bound", F_BOOL, &t->file_bound, true },
		{ "release_pid", F_PID, &t->release_pid, false },
		{ "worker_pid", F_PID, &t->worker_pid, false },
		{ "original_driver", F_STRING, &t->original_driver, true },
		{ "reason", F_STRING, &t->reason, true },
	};

	return read_object(rd, where, o, fields, ELEMENTSOF(fields), NULL, NULL);
}

static int read_memlock(const struct reader *rd, const char *where, json_object *o, struct saved_memlock *s)
{
	const struct field fields[] = {
		{ "pid", F_PID, &s->pid, true },
		{ "cur", F_U64, &s->cur, true },
		{ "max", F_U64, &s->max, true },
	};

	return read_object(rd, where, o, fields, ELEMENTSOF(fields), NULL, NULL);
}

/* No lease id twice, no device in two places. */
static int check_unique(const struct reader *rd, const struct saved_state *s)
{
	for (size_t i = 0; i < s->n_leases; i++) {
		const struct saved_lease *l = &s->leases[i];
		if (l->id >= s->next_lease_id)
			return bad(rd, "leases", "lease %u is not below next_lease_id %u", l->id, s->next_lease_id);
		for (size_t j = 0; j < i; j++)
			if (s->leases[j].id == l->id)
				return bad(rd, "leases", "lease %u appears twice", l->id);
	}
	/* Every device address, wherever it is, once. */
	size_t n = s->n_teardowns;
	for (size_t i = 0; i < s->n_leases; i++)
		n += s->leases[i].n_devices;
	_cleanup_free_ const struct bdf **all = calloc(n ? n : 1, sizeof(*all));
	size_t k = 0;
	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_leases; i++)
		for (size_t j = 0; j < s->leases[i].n_devices; j++)
			all[k++] = &s->leases[i].devices[j].address;
	for (size_t i = 0; i < s->n_teardowns; i++)
		all[k++] = &s->teardowns[i].address;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (bdf_equal(all[i], all[j])) {
				char name[BDF_STRING_MAX];
				return bad(rd, "devices", "%s appears twice", bdf_format(all[i], name));
			}
	for (size_t i = 0; i < s->n_memlock; i++)
		for (size_t j = 0; j < i; j++)
			if (s->memlock[i].pid == s->memlock[j].pid)
				return bad(rd, "memlock_saved", "pid %d appears twice", (int)s->memlock[i].pid);
	return 0;
}

#define READ_ARRAY(rd, root_arrays, idx, name, max, items, n_items, reader)                      \
	({                                                                                       \
		int _r = get_array(rd, name, root_arrays[idx], max, &(n_items));                 \
		if (_r >= 0 && !((items) = calloc((n_items) ? (n_items) : 1, sizeof(*(items))))) \
			_r = -ENOMEM;                                                            \
		for (size_t _i = 0; _r >= 0 && _i < (n_items); _i++) {                           \
			char _at[64];                                                            \
			snprintf(_at, sizeof _at, "%s[%zu]", name, _i);                          \
			_r = reader(rd, _at, json_object_array_get_idx(root_arrays[idx], _i),    \
				    &(items)[_i]);                                               \
		}                                                                                \
		_r;                                                                              \
	})

int state_parse(const char *text, const char *file, struct saved_state **ret, char **ret_why)
{
	_cleanup_(json_object_putp) json_object *root = NULL;
	_cleanup_(saved_state_freep) struct saved_state *s = NULL;
	struct reader rd = { .file = file, .ret_why = ret_why };
	json_object *arrays[3] = {};
	static const char *const array_keys[] = { "leases", "teardowns", "memlock_saved" };
	uint32_t version = 0;
	int r;

	*ret_why = NULL;
	r = json_parse_strict(text, file, &root, ret_why);
	if (r < 0)
		return r;
	s = saved_state_new();
	if (!s)
		return -ENOMEM;
	if (!json_object_is_type(root, json_type_object))
		return bad(&rd, "top level", "must be an object");
	/* The version first: a newer file is refused as such, not by its keys. */
	json_object *v;
	if (!json_object_object_get_ex(root, "version", &v) || !json_object_is_type(v, json_type_int))
		return bad(&rd, "version", "missing or not a number");
	if (json_object_get_int64(v) != STATE_VERSION)
		return bad(&rd, "version", "%" PRId64 " is not the version this ccdevd writes (%d)",
			   json_object_get_int64(v), STATE_VERSION);
	json_object_object_foreach(root, key, val) {
		size_t i;
		if (strcmp(key, "version") == 0) {
			version = STATE_VERSION;
			continue;
		}
		if (strcmp(key, "next_lease_id") == 0) {
			const struct field f = { "next_lease_id", F_ID, &s->next_lease_id, true };
			r = read_field(&rd, "top level", &f, val);
			if (r < 0)
				return r;
			continue;
		}
		for (i = 0; i < ELEMENTSOF(array_keys) && strcmp(key, array_keys[i]) != 0; i++)
			;
		if (i == ELEMENTSOF(array_keys))
			return bad(&rd, "top level", "unknown key \"%s\"", key);
		arrays[i] = val;
	}
	if (!version || !s->next_lease_id)
		return bad(&rd, "top level", "\"version\" and \"next_lease_id\" are required");
	r = READ_ARRAY(&rd, arrays, 0, "leases", STATE_LEASES_MAX, s->leases, s->n_leases, read_lease);
	if (r >= 0)
		r = READ_ARRAY(&rd, arrays, 1, "teardowns", STATE_TEARDOWNS_MAX, s->teardowns, s->n_teardowns,
			       read_teardown);
	if (r >= 0)
		r = READ_ARRAY(&rd, arrays, 2, "memlock_saved", STATE_LEASES_MAX, s->memlock, s->n_memlock,
			       read_memlock);
	if (r >= 0)
		r = check_unique(&rd, s);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

/* ---- writing ---- */

static json_object *steps_array(unsigned mask)
{
	json_object *a = json_object_new_array();

	for (enum attach_step s = 0; a && s < _ATTACH_STEP_MAX; s++)
		if (mask & (1u << s))
			json_object_array_add(a, json_object_new_string(attach_step_to_string(s)));
	return a;
}

static json_object *lease_json(const struct saved_lease *l)
{
	json_object *o = json_object_new_object(), *devices = json_object_new_array();
	char name[BDF_STRING_MAX];

	if (!o || !devices) {
		json_object_put(o);
		json_object_put(devices);
		return NULL;
	}
	json_object_object_add(o, "id", json_object_new_uint64(l->id));
	json_object_object_add(o, "owner_uid", json_object_new_uint64(l->owner_uid));
	json_object_object_add(o, "owner_pid", json_object_new_int64(l->owner_pid));
	json_object_object_add(o, "owner_name", json_object_new_string(l->owner_name));
	json_object_object_add(o, "ioas_id", json_object_new_uint64(l->ioas_id));
	json_object_object_add(o, "state", json_object_new_string(l->releasing ? "releasing" : "active"));
	json_object_object_add(o, "devices", devices);
	for (size_t k = 0; k < l->n_devices; k++) {
		const struct saved_device *d = &l->devices[k];
		json_object *od = json_object_new_object();
		json_object_object_add(od, "address", json_object_new_string(bdf_format(&d->address, name)));
		json_object_object_add(od, "steps", steps_array(d->steps_done));
		json_object_object_add(od, "dev_id", json_object_new_uint64(d->dev_id));
		json_object_object_add(od, "pt_id", json_object_new_uint64(d->pt_id));
		json_object_object_add(od, "memlock_quota", json_object_new_uint64(d->memlock_quota));
		json_object_object_add(od, "original_driver", json_object_new_string(d->original_driver));
		if (d->n_exports) {
			json_object *exports = json_object_new_array();
			for (size_t e = 0; e < d->n_exports; e++) {
				json_object *oe = json_object_new_object(), *ranges = json_object_new_array();
				json_object_object_add(oe, "bar", json_object_new_uint64(d->exports[e].bar));
				for (size_t x = 0; x < d->exports[e].n_ranges; x++) {
					json_object *orr = json_object_new_object();
					json_object_object_add(orr, "offset",
							       json_object_new_uint64(d->exports[e].ranges[x].offset));
					json_object_object_add(orr, "length",
							       json_object_new_uint64(d->exports[e].ranges[x].length));
					json_object_array_add(ranges, orr);
				}
				json_object_object_add(oe, "ranges", ranges);
				json_object_array_add(exports, oe);
			}
			json_object_object_add(od, "exports", exports);
		}
		json_object_array_add(devices, od);
	}
	if (l->n_mappings) {
		json_object *mappings = json_object_new_array();
		for (size_t k = 0; k < l->n_mappings; k++) {
			const struct saved_mapping *mp = &l->mappings[k];
			json_object *om = json_object_new_object();
			json_object_object_add(om, "address", json_object_new_string(bdf_format(&mp->address, name)));
			json_object_object_add(om, "bar", json_object_new_uint64(mp->bar));
			json_object_object_add(om, "offset", json_object_new_uint64(mp->offset));
			json_object_object_add(om, "length", json_object_new_uint64(mp->length));
			json_object_object_add(om, "iova", json_object_new_uint64(mp->iova));
			json_object_object_add(om, "mapped", json_object_new_boolean(mp->mapped));
			json_object_array_add(mappings, om);
		}
		json_object_object_add(o, "mappings", mappings);
	}
	return o;
}

#define TEXT_FLAGS (JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

char *state_format_lease(const struct saved_lease *l)
{
	_cleanup_(json_object_putp) json_object *o = lease_json(l);
	const char *text = o ? json_object_to_json_string_ext(o, TEXT_FLAGS) : NULL;

	return text ? strdup(text) : NULL;
}

char *state_format_with(const struct saved_state *s, char *const *lease_texts)
{
	_cleanup_(json_object_putp) json_object *teardowns = json_object_new_array();
	_cleanup_free_ char *buf = NULL;
	char name[BDF_STRING_MAX];
	const char *text;
	size_t size = 0;
	FILE *f;

	if (!teardowns)
		return NULL;
	for (size_t i = 0; i < s->n_teardowns; i++) {
		const struct saved_teardown *t = &s->teardowns[i];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "address", json_object_new_string(bdf_format(&t->address, name)));
		json_object_object_add(o, "step", json_object_new_string(teardown_step_to_string(t->step)));
		json_object_object_add(o, "file_bound", json_object_new_boolean(t->file_bound));
		if (t->release_pid > 0)
			json_object_object_add(o, "release_pid", json_object_new_int64(t->release_pid));
		if (t->worker_pid > 0)
			json_object_object_add(o, "worker_pid", json_object_new_int64(t->worker_pid));
		json_object_object_add(o, "original_driver", json_object_new_string(t->original_driver));
		json_object_object_add(o, "reason", json_object_new_string(t->reason));
		json_object_array_add(teardowns, o);
	}
	text = json_object_to_json_string_ext(teardowns, TEXT_FLAGS);
	f = open_memstream(&buf, &size);
	if (!text || !f) {
		if (f)
			fclose(f);
		return NULL;
	}
	/* One lease per line: a change rewrites the file, but renders only the
	 * leases it changed (state.c keeps the others' lines). */
	fprintf(f, "{ \"version\": %d, \"next_lease_id\": %u,\n  \"leases\": [", STATE_VERSION, s->next_lease_id);
	for (size_t i = 0; i < s->n_leases; i++) {
		_cleanup_free_ char *own = NULL;
		const char *line = lease_texts ? lease_texts[i] : NULL;
		if (!line)
			line = own = state_format_lease(&s->leases[i]);
		if (!line) {
			fclose(f);
			return NULL;
		}
		fprintf(f, "%s\n    %s", i ? "," : "", line);
	}
	fprintf(f, "\n  ],\n  \"teardowns\": %s,\n  \"memlock_saved\": [", text);
	for (size_t i = 0; i < s->n_memlock; i++)
		fprintf(f, "%s { \"pid\": %d, \"cur\": %" PRIu64 ", \"max\": %" PRIu64 " }", i ? "," : "",
			(int)s->memlock[i].pid, s->memlock[i].cur, s->memlock[i].max);
	fprintf(f, " ] }\n");
	if (fclose(f) != 0)
		return NULL;
	return TAKE_PTR(buf);
}

char *state_format(const struct saved_state *s)
{
	return state_format_with(s, NULL);
}
