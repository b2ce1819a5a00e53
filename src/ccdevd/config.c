/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-strict.h"

#define MEMLOCK_MIB_MAX 1048576 /* 1 TiB */
#define ID_MAX (UINT32_MAX - 1) /* (uid_t) -1 means "no id" to the kernel */

/* uids and gids are stored in one kind of array whichever list they go in. */
_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
	       "uid_t and gid_t are expected to be 32-bit");

#ifndef streq
#define streq(a, b) (strcmp((a), (b)) == 0)
#endif

DEFINE_TRIVIAL_CLEANUP_FUNC(struct config *, config_free)

/* Where content errors go. */
struct parser {
	const char *file;
	char **ret_error;
};

static int set_error(char **ret_error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_error(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	assert(r < 0);
	if (!ret_error)
		return r;
	va_start(ap, fmt);
	if (vasprintf(ret_error, fmt, ap) < 0) {
		*ret_error = NULL;
		r = -ENOMEM;
	}
	va_end(ap);
	return r;
}

/* Content errors: "FILE: devices[2].class: why". */
#define fail(p, r, where, fmt, ...) \
	set_error((p)->ret_error, (r), "%s: %s: " fmt, (p)->file, (where), ##__VA_ARGS__)

static char *path_key(const char *where, const char *key)
{
	char *s;

	return asprintf(&s, "%s%s%s", where ?: "", where ? "." : "", key) < 0 ? NULL : s;
}

static char *path_index(const char *where, size_t i)
{
	char *s;

	return asprintf(&s, "%s[%zu]", where, i) < 0 ? NULL : s;
}

static const char *type_to_name(json_type t)
{
	switch (t) {
	case json_type_null:    return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double:  return "a non-integer number";
	case json_type_int:     return "an integer";
	case json_type_object:  return "an object";
	case json_type_array:   return "an array";
	case json_type_string:  return "a string";
	}
	return "an unknown type";
}

static int expect_type(const struct parser *p, json_object *v, json_type t, const char *where)
{
	if (json_object_is_type(v, t))
		return 0;
	return fail(p, -EINVAL, where, "expected %s, got %s",
		    type_to_name(t), type_to_name(json_object_get_type(v)));
}

/* A string the daemon sees exactly as the admin does: no "\u0000" cut-off. */
static int get_string(const struct parser *p, json_object *v, const char *where, const char **ret)
{
	int r = expect_type(p, v, json_type_string, where);

	if (r < 0)
		return r;
	if (strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
		return fail(p, -EINVAL, where, "contains a NUL character");
	*ret = json_object_get_string(v);
	return 0;
}

static int unknown_key(const struct parser *p, const char *where, const char *key, const char *known)
{
	_cleanup_free_ char *k = path_key(where, key);

	return k ? fail(p, -EINVAL, k, "unknown key (expected %s)", known) : -ENOMEM;
}

/* Resolve a user or group name through NSS.  -ESRCH: there is no such name. */
static int lookup_name(const char *name, bool group, uint32_t *ret)
{
	long hint = sysconf(group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t) hint : 1024;

	for (;;) {
		_cleanup_free_ char *buf = malloc(size);
		struct passwd pw, *pwp = NULL;
		struct group gr, *grp = NULL;
		int r;

		if (!buf)
			return -ENOMEM;
		r = group ? getgrnam_r(name, &gr, buf, size, &grp) : getpwnam_r(name, &pw, buf, size, &pwp);
		if (r == ERANGE && size < 1024 * 1024) {
			size *= 2;
			continue;
		}
		if (r == 0 && (pwp || grp)) {
			*ret = group ? gr.gr_gid : pw.pw_uid;
			return 0;
		}
		/* glibc says "not found" with 0; NSS modules may use any of these. */
		if (r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
			return -ESRCH;
		return -r;
	}
}

/* One element of "users" / "groups": a name, or a numeric uid / gid. */
static int parse_principal(const struct parser *p, json_object *v, const char *where, bool group, uint32_t *ret)
{
	const char *what = group ? "group" : "user", *id = group ? "gid" : "uid", *name;
	int r;

	if (json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v);

		/* json_object_get_string(): the number as json-c read it, not clamped to int64 */
		if (n < 0 || n > ID_MAX)
			return fail(p, -EINVAL, where, "expected a %s 0..%" PRIu32 ", got %s",
				    id, ID_MAX, json_object_get_string(v));
		*ret = (uint32_t) n;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return fail(p, -EINVAL, where, "expected a %s name (string) or %s (integer), got %s",
			    what, id, type_to_name(json_object_get_type(v)));

	r = get_string(p, v, where, &name);
	if (r < 0)
		return r;
	r = lookup_name(name, group, ret);
	if (r == -ESRCH)
		return fail(p, -EINVAL, where, "unknown %s '%s'", what, name);
	if (r < 0)
		return fail(p, r, where, "cannot look up %s '%s': %s", what, name, strerror(-r));
	return 0;
}

static int parse_id_list(const struct parser *p, json_object *v, const char *where, bool group,
			 struct access_list *a)
{
	_cleanup_free_ uint32_t *ids = NULL;
	size_t n;
	int r;

	r = expect_type(p, v, json_type_array, where);
	if (r < 0)
		return r;
	n = json_object_array_length(v);
	if (n > 0 && !(ids = calloc(n, sizeof(*ids))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *w = path_index(where, i);

		if (!w)
			return -ENOMEM;
		r = parse_principal(p, json_object_array_get_idx(v, i), w, group, &ids[i]);
		if (r < 0)
			return r;
	}
	if (group) {
		free(a->gids);
		a->gids = TAKE_PTR(ids);
		a->n_gids = n;
	} else {
		free(a->uids);
		a->uids = TAKE_PTR(ids);
		a->n_uids = n;
	}
	return 0;
}

/* {"everyone": b, "users": [...], "groups": [...]} at where ("readers",
 * a rule's "dmabuf_importers", which takes no "everyone"). */
static int parse_access_object(const struct parser *p, json_object *v, const char *where, bool everyone_ok,
			       struct access_list *a)
{
	int r = expect_type(p, v, json_type_object, where);

	if (r < 0)
		return r;
	json_object_object_foreach(v, key, val) {
		_cleanup_free_ char *w = path_key(where, key);

		if (!w)
			return -ENOMEM;
		if (streq(key, "everyone") && !everyone_ok)
			r = fail(p, -EINVAL, w, "not allowed here: list the users or groups who may map this "
				 "device's BARs");
		else if (streq(key, "everyone")) {
			r = expect_type(p, val, json_type_boolean, w);
			if (r >= 0)
				a->everyone = json_object_get_boolean(val);
		} else if (streq(key, "users") || streq(key, "groups"))
			r = parse_id_list(p, val, w, streq(key, "groups"), a);
		else
			r = unknown_key(p, where, key, everyone_ok ? "everyone, users or groups" : "users or groups");
		if (r < 0)
			return r;
	}
	return 0;
}

#define HEX_DIGITS "0123456789abcdefABCDEF"

/* "VVVV:DDDD" */
static int parse_pci_id(const char *s, uint16_t *ret_vendor, uint16_t *ret_device)
{
	if (strlen(s) != 9 || s[4] != ':' || strspn(s, HEX_DIGITS) != 4 || strspn(s + 5, HEX_DIGITS) != 4)
		return -EINVAL;
	*ret_vendor = (uint16_t) strtoul(s, NULL, 16);
	*ret_device = (uint16_t) strtoul(s + 5, NULL, 16);
	return 0;
}

/* "CC", "CCSS" or "CCSSPP": a prefix of the 24-bit class code, left-aligned. */
static int parse_class(const char *s, uint32_t *ret_value, uint32_t *ret_mask)
{
	size_t n = strlen(s);
	unsigned shift = 4 * (6 - (unsigned) n);

	if ((n != 2 && n != 4 && n != 6) || strspn(s, HEX_DIGITS) != n)
		return -EINVAL;
	*ret_value = (uint32_t) strtoul(s, NULL, 16) << shift;
	*ret_mask = (0xffffffu << shift) & 0xffffffu;
	return 0;
}

static int parse_match(const struct parser *p, const char *key, json_object *v, const char *where,
		       struct device_rule *rule)
{
	const char *s;
	int r = get_string(p, v, where, &s);

	if (r < 0)
		return r;
	if (streq(key, "address")) {
		rule->kind = MATCH_ADDRESS;
		if (bdf_parse(s, &rule->address) < 0)
			return fail(p, -EINVAL, where, "expected a PCI address DDDD:BB:DD.F, got '%s'", s);
	} else if (streq(key, "id")) {
		rule->kind = MATCH_ID;
		if (parse_pci_id(s, &rule->vendor, &rule->device) < 0)
			return fail(p, -EINVAL, where, "expected VVVV:DDDD (4 hex digits each), got '%s'", s);
	} else {
		rule->kind = MATCH_CLASS;
		if (parse_class(s, &rule->class_value, &rule->class_mask) < 0)
			return fail(p, -EINVAL, where, "expected 2, 4 or 6 hex digits, got '%s'", s);
	}
	return 0;
}

static int parse_on_release(const struct parser *p, json_object *v, const char *where, enum release_policy *ret)
{
	const char *s;
	int r = get_string(p, v, where, &s);

	if (r < 0)
		return r;
	if (streq(s, "restore"))
		*ret = RELEASE_RESTORE_DRIVER;
	else if (streq(s, "keep-vfio"))
		*ret = RELEASE_KEEP_VFIO;
	else
		return fail(p, -EINVAL, where, "expected 'restore' or 'keep-vfio', got '%s'", s);
	return 0;
}

static int parse_memlock(const struct parser *p, json_object *v, const char *where, uint64_t *ret)
{
	int r = expect_type(p, v, json_type_int, where);
	int64_t mib;

	if (r < 0)
		return r;
	mib = json_object_get_int64(v);
	if (mib < 1 || mib > MEMLOCK_MIB_MAX)
		return fail(p, -EINVAL, where, "expected 1..%d (MiB), got %s", MEMLOCK_MIB_MAX,
			    json_object_get_string(v));
	*ret = (uint64_t) mib << 20;
	return 0;
}

static int parse_rule(const struct parser *p, json_object *v, struct device_rule *rule)
{
	const char *match = NULL;
	int r = expect_type(p, v, json_type_object, rule->where);

	if (r < 0)
		return r;
	json_object_object_foreach(v, key, val) {
		_cleanup_free_ char *w = path_key(rule->where, key);

		if (!w)
			return -ENOMEM;
		if (streq(key, "address") || streq(key, "id") || streq(key, "class")) {
			if (match)
				return fail(p, -EINVAL, rule->where, "both '%s' and '%s' given, a rule matches by one",
					    match, key);
			match = key;
			r = parse_match(p, key, val, w, rule);
		} else if (streq(key, "users") || streq(key, "groups"))
			r = parse_id_list(p, val, w, streq(key, "groups"), &rule->users);
		else if (streq(key, "on_release"))
			r = parse_on_release(p, val, w, &rule->on_release);
		else if (streq(key, "memlock_mib"))
			r = parse_memlock(p, val, w, &rule->memlock_bytes);
		else if (streq(key, "dmabuf_importers"))
			r = parse_access_object(p, val, w, false, &rule->dmabuf_importers);
		else if (streq(key, "everyone"))
			r = fail(p, -EINVAL, w, "only valid in \"readers\"; list users or groups instead");
		else
			r = unknown_key(p, rule->where, key,
					"address, id, class, users, groups, on_release, memlock_mib or "
					"dmabuf_importers");
		if (r < 0)
			return r;
	}
	if (!match)
		return fail(p, -EINVAL, rule->where, "needs one of 'address', 'id' or 'class'");
	return 0;
}

static int parse_devices(const struct parser *p, json_object *v, struct config *c)
{
	int r = expect_type(p, v, json_type_array, "devices");
	size_t n;

	if (r < 0)
		return r;
	n = json_object_array_length(v);
	if (n == 0)
		return 0;
	c->rules = calloc(n, sizeof(*c->rules));
	if (!c->rules)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct device_rule *rule = &c->rules[c->n_rules++]; /* counted now: config_free frees it */

		rule->where = path_index("devices", i);
		if (!rule->where)
			return -ENOMEM;
		r = parse_rule(p, json_object_array_get_idx(v, i), rule);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_count(const struct parser *p, json_object *v, const char *where, unsigned *ret)
{
	int r = expect_type(p, v, json_type_int, where);
	int64_t n;

	if (r < 0)
		return r;
	n = json_object_get_int64(v);
	if (n < 1 || n > PER_USER_COUNT_MAX)
		return fail(p, -EINVAL, where, "expected 1..%d, got %s", PER_USER_COUNT_MAX, json_object_get_string(v));
	*ret = (unsigned)n;
	return 0;
}

static int parse_limits(const struct parser *p, json_object *v, struct config *c)
{
	int r = expect_type(p, v, json_type_object, "limits");

	if (r < 0)
		return r;
	json_object_object_foreach(v, key, val) {
		_cleanup_free_ char *w = path_key("limits", key);

		if (!w)
			return -ENOMEM;
		if (streq(key, "memlock_mib_per_user"))
			r = parse_memlock(p, val, w, &c->memlock_per_user);
		else if (streq(key, "leases_per_user"))
			r = parse_count(p, val, w, &c->leases_per_user);
		else if (streq(key, "devices_per_user"))
			r = parse_count(p, val, w, &c->devices_per_user);
		else if (streq(key, "resets_per_minute"))
			r = parse_count(p, val, w, &c->resets_per_minute);
		else if (streq(key, "connections_per_user"))
			r = parse_count(p, val, w, &c->connections_per_user);
		else if (streq(key, "leases_per_connection"))
			r = parse_count(p, val, w, &c->leases_per_connection);
		else if (streq(key, "devices_per_connection"))
			r = parse_count(p, val, w, &c->devices_per_connection);
		else
			r = unknown_key(p, "limits", key,
					"memlock_mib_per_user, leases_per_user, devices_per_user, resets_per_minute, "
					"connections_per_user, leases_per_connection or devices_per_connection");
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_top(const struct parser *p, json_object *root, struct config *c)
{
	int r;

	if (!json_object_is_type(root, json_type_object))
		return fail(p, -EINVAL, "top level", "expected an object, got %s",
			    type_to_name(json_object_get_type(root)));
	json_object_object_foreach(root, key, val) {
		if (streq(key, "readers"))
			r = parse_access_object(p, val, "readers", true, &c->readers);
		else if (streq(key, "devices"))
			r = parse_devices(p, val, c);
		else if (streq(key, "limits"))
			r = parse_limits(p, val, c);
		else
			r = unknown_key(p, NULL, key, "readers, devices or limits");
		if (r < 0)
			return r;
	}
	return 0;
}

int config_parse(const char *text, const char *path, struct config **ret, char **ret_error)
{
	_cleanup_(config_freep) struct config *c = NULL;
	_cleanup_(json_object_putp) json_object *root = NULL;
	struct parser p = { .file = path ?: "<string>", .ret_error = ret_error };
	int r;

	assert(text);
	assert(ret);
	if (ret_error)
		*ret_error = NULL;

	r = json_parse_strict(text, p.file, &root, ret_error);
	if (r < 0)
		return r;
	r = config_new_empty(path, &c);
	if (r < 0)
		return r;
	r = parse_top(&p, root, c);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

int config_load(const char *path, struct config **ret, char **ret_error)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *text = NULL;
	size_t len;

	assert(path);
	if (ret_error)
		*ret_error = NULL;

	f = fopen(path, "re");
	if (!f)
		return set_error(ret_error, -errno, "%s: %s", path, strerror(errno));
	text = malloc(CONFIG_FILE_SIZE_MAX + 1);
	if (!text)
		return -ENOMEM;
	/* One byte more than allowed tells "too large" from "just fits". */
	errno = 0;
	len = fread(text, 1, CONFIG_FILE_SIZE_MAX + 1, f);
	if (ferror(f)) {
		int r = errno > 0 ? -errno : -EIO;

		return set_error(ret_error, r, "%s: %s", path, strerror(-r));
	}
	if (len > CONFIG_FILE_SIZE_MAX)
		return set_error(ret_error, -EFBIG, "%s: larger than %d bytes", path, CONFIG_FILE_SIZE_MAX);
	text[len] = 0;
	/* config_parse() sees a C string; a NUL would hide the rest of the file. */
	if (strlen(text) != len)
		return json_fail_at(path, text, strlen(text), ret_error, "NUL byte in file");
	return config_parse(text, path, ret, ret_error);
}

int config_new_empty(const char *path, struct config **ret)
{
	_cleanup_(config_freep) struct config *c = calloc(1, sizeof(*c));

	assert(ret);
	if (!c)
		return -ENOMEM;
	if (path && !(c->path = strdup(path)))
		return -ENOMEM;
	c->leases_per_user = LEASES_PER_USER_DEFAULT;
	c->devices_per_user = DEVICES_PER_USER_DEFAULT;
	c->resets_per_minute = RESETS_PER_MINUTE_DEFAULT;
	c->connections_per_user = CONNECTIONS_PER_USER_DEFAULT;
	c->leases_per_connection = LEASES_PER_CONNECTION_DEFAULT;
	c->devices_per_connection = DEVICES_PER_CONNECTION_DEFAULT;
	*ret = TAKE_PTR(c);
	return 0;
}

static void access_list_done(struct access_list *a)
{
	free(a->uids);
	free(a->gids);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_rules; i++) {
		free(c->rules[i].where);
		access_list_done(&c->rules[i].users);
		access_list_done(&c->rules[i].dmabuf_importers);
	}
	free(c->rules);
	access_list_done(&c->readers);
	free(c->path);
	free(c);
}

static bool rule_matches(const struct device_rule *r, const struct pci_ident *id)
{
	switch (r->kind) {
	case MATCH_ADDRESS:
		return bdf_equal(&r->address, &id->address);
	case MATCH_ID:
		return r->vendor == id->vendor && r->device == id->device;
	case MATCH_CLASS:
		return (id->class_code & r->class_mask) == r->class_value;
	}
	return false;
}

const struct device_rule *config_match(const struct config *c, const struct pci_ident *id)
{
	assert(c);
	assert(id);
	for (size_t i = 0; i < c->n_rules; i++)
		if (rule_matches(&c->rules[i], id))
			return &c->rules[i];
	return NULL;
}

bool access_allows(const struct access_list *a, const struct caller *who)
{
	assert(a);
	assert(who);
	if (who->uid == 0 || a->everyone)
		return true;
	for (size_t i = 0; i < a->n_uids; i++)
		if (a->uids[i] == who->uid)
			return true;
	for (size_t i = 0; i < a->n_gids; i++) {
		if (a->gids[i] == who->gid)
			return true;
		for (size_t j = 0; j < who->n_gids; j++)
			if (a->gids[i] == who->gids[j])
				return true;
	}
	return false;
}

const char *release_policy_to_string(enum release_policy p)
{
	switch (p) {
	case RELEASE_RESTORE_DRIVER:
		return "restore";
	case RELEASE_KEEP_VFIO:
		return "keep-vfio";
	}
	return NULL;
}
