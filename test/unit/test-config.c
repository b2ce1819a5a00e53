/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccdevd/config.h"
#include "cleanup.h"
#include "tap.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct config *, config_free)

#define FILE_NAME "/etc/ccdevd/test.json"

/* The tests write JSON with 'single quotes' for legibility; the parser gets double ones. */
static char *json(const char *s)
{
	char *t = strdup(s);

	for (char *p = t; p && *p; p++)
		if (*p == '\'')
			*p = '"';
	return t;
}

static struct config *parse_ok(const char *text)
{
	_cleanup_free_ char *t = json(text), *error = NULL;
	struct config *c = NULL;
	int r = config_parse(t, FILE_NAME, &c, &error);

	CHECK_MSG(r == 0, "%s: r=%d, error: %s", text, r, error ?: "(none)");
	return c;
}

/* The parse fails with exactly err, and the message names every needle (the JSON path, ...). */
static void check_raw_error(const char *text, int err, const char *needle, const char *needle2)
{
	_cleanup_(config_freep) struct config *c = NULL;
	_cleanup_free_ char *error = NULL;
	int r = config_parse(text, FILE_NAME, &c, &error);

	CHECK_MSG(r == err, "%s: expected %d, got %d (%s)", text, err, r, error ?: "(none)");
	CHECK_MSG(!c, "%s: no config on error", text);
	CHECK_MSG(error && strncmp(error, FILE_NAME ":", strlen(FILE_NAME ":")) == 0,
		  "%s: message '%s' must start with the file name", text, error ?: "(none)");
	CHECK_MSG(error && strstr(error, needle), "%s: message '%s' lacks '%s'", text, error ?: "(none)", needle);
	if (needle2)
		CHECK_MSG(error && strstr(error, needle2), "%s: message '%s' lacks '%s'", text,
			  error ?: "(none)", needle2);
}

static void check_error(const char *text, const char *needle, const char *needle2)
{
	_cleanup_free_ char *t = json(text);

	check_raw_error(t, -EINVAL, needle, needle2);
}

static struct pci_ident ident(const char *bdf, uint16_t vendor, uint16_t device, uint32_t class_code)
{
	struct pci_ident id = { .vendor = vendor, .device = device, .class_code = class_code };

	CHECK(bdf_parse(bdf, &id.address) == 0);
	return id;
}

static void test_a_full_valid_config_parses_with_the_expected_values(void)
{
	_cleanup_(config_freep) struct config *c = parse_ok(
		"{ 'readers': { 'users': ['root', 1001], 'groups': ['nogroup', 7] },\n"
		"  'devices': [\n"
		"    { 'address': '0000:01:00.0', 'users': ['nobody', 1000], 'groups': ['nogroup'],\n"
		"      'on_release': 'keep-vfio', 'memlock_mib': 1024 },\n"
		"    { 'id': '1234:11E8', 'on_release': 'restore' },\n"
		"    { 'class': '0200', 'memlock_mib': 1048576 } ] }\n");
	struct passwd *nobody = getpwnam("nobody");
	struct group *nogroup = getgrnam("nogroup");

	if (!c)
		return;
	CHECK(nobody && nogroup);
	CHECK(strcmp(c->path, FILE_NAME) == 0);
	CHECK(!c->readers.everyone);
	CHECK(c->readers.n_uids == 2 && c->readers.uids[0] == 0 && c->readers.uids[1] == 1001);
	CHECK(c->readers.n_gids == 2 && nogroup && c->readers.gids[0] == nogroup->gr_gid && c->readers.gids[1] == 7);
	CHECK(c->n_rules == 3);

	const struct device_rule *r = &c->rules[0];
	CHECK(strcmp(r->where, "devices[0]") == 0);
	CHECK(r->kind == MATCH_ADDRESS && r->address.domain == 0 && r->address.bus == 1 &&
	      r->address.device == 0 && r->address.function == 0);
	CHECK(r->users.n_uids == 2 && nobody && r->users.uids[0] == nobody->pw_uid && r->users.uids[1] == 1000);
	CHECK(r->users.n_gids == 1 && nogroup && r->users.gids[0] == nogroup->gr_gid);
	CHECK(!r->users.everyone);
	CHECK(r->on_release == RELEASE_KEEP_VFIO);
	CHECK(r->memlock_bytes == 1024ull << 20);

	r = &c->rules[1];
	CHECK(r->kind == MATCH_ID && r->vendor == 0x1234 && r->device == 0x11e8);
	CHECK(r->users.n_uids == 0 && r->users.n_gids == 0);
	CHECK(r->on_release == RELEASE_RESTORE_DRIVER);
	CHECK(r->memlock_bytes == 0);

	r = &c->rules[2];
	CHECK(strcmp(r->where, "devices[2]") == 0);
	CHECK(r->kind == MATCH_CLASS && r->class_value == 0x020000 && r->class_mask == 0xffff00);
	CHECK(r->on_release == RELEASE_RESTORE_DRIVER);
	CHECK(r->memlock_bytes == 1048576ull << 20);
}

static void test_an_empty_object_manages_nothing_and_lets_only_root_read(void)
{
	_cleanup_(config_freep) struct config *c = parse_ok("{ }");
	struct pci_ident id = ident("0000:01:00.0", 0x8086, 0x1234, 0x020000);

	if (!c)
		return;
	CHECK(c->n_rules == 0);
	CHECK(!config_match(c, &id));
	CHECK(!access_allows(&c->readers, &(struct caller){ .uid = 1000, .gid = 1000 }));
	CHECK(access_allows(&c->readers, &(struct caller){ .uid = 0, .gid = 0 }));
}

static void test_the_empty_config_manages_nothing_and_lets_only_root_read(void)
{
	_cleanup_(config_freep) struct config *c = NULL;
	struct pci_ident id = ident("0000:01:00.0", 0x8086, 0x1234, 0x020000);

	CHECK(config_new_empty("/nonexistent.json", &c) == 0);
	if (!c)
		return;
	CHECK(strcmp(c->path, "/nonexistent.json") == 0);
	CHECK(c->n_rules == 0 && !config_match(c, &id));
	CHECK(!c->readers.everyone && c->readers.n_uids == 0 && c->readers.n_gids == 0);
	CHECK(!access_allows(&c->readers, &(struct caller){ .uid = 1000, .gid = 1000 }));
	CHECK(access_allows(&c->readers, &(struct caller){ .uid = 0, .gid = 1000 }));
}

static void test_readers_everyone_lets_anybody_read(void)
{
	_cleanup_(config_freep) struct config *c = parse_ok("{ 'readers': { 'everyone': true } }");

	if (!c)
		return;
	CHECK(c->readers.everyone);
	CHECK(access_allows(&c->readers, &(struct caller){ .uid = 4242, .gid = 4242 }));
}

static void test_an_address_rule_matches_only_that_address(void)
{
	_cleanup_(config_freep) struct config *c = parse_ok("{ 'devices': [ { 'address': '0000:01:00.1' } ] }");
	struct pci_ident same = ident("0000:01:00.1", 0x1, 0x2, 0x030000);
	struct pci_ident other_fn = ident("0000:01:00.0", 0x1, 0x2, 0x030000);
	struct pci_ident other_domain = ident("0001:01:00.1", 0x1, 0x2, 0x030000);

	if (!c)
		return;
	CHECK(config_match(c, &same) == &c->rules[0]);
	CHECK(!config_match(c, &other_fn));
	CHECK(!config_match(c, &other_domain));
}

static void test_an_id_rule_matches_vendor_and_device_together(void)
{
	_cleanup_(config_freep) struct config *c = parse_ok("{ 'devices': [ { 'id': '10de:2330' } ] }");
	struct pci_ident same = ident("0000:41:00.0", 0x10de, 0x2330, 0x030200);
	struct pci_ident other_device = ident("0000:41:00.0", 0x10de, 0x2331, 0x030200);
	struct pci_ident other_vendor = ident("0000:41:00.0", 0x10df, 0x2330, 0x030200);
	struct pci_ident swapped = ident("0000:41:00.0", 0x2330, 0x10de, 0x030200);

	if (!c)
		return;
	CHECK(config_match(c, &same) == &c->rules[0]);
	CHECK(!config_match(c, &other_device));
	CHECK(!config_match(c, &other_vendor));
	CHECK(!config_match(c, &swapped));
}

static void test_a_class_rule_matches_a_prefix_of_the_class_code(void)
{
	_cleanup_(config_freep) struct config *c = parse_ok(
		"{ 'devices': [ { 'class': '02' }, { 'class': '0c03' }, { 'class': '0c0330' } ] }");
	struct pci_ident ethernet = ident("0000:01:00.0", 1, 1, 0x020000);
	struct pci_ident other_network = ident("0000:01:00.0", 1, 1, 0x028000);
	struct pci_ident xhci = ident("0000:01:00.0", 1, 1, 0x0c0330);
	struct pci_ident ehci = ident("0000:01:00.0", 1, 1, 0x0c0320);
	struct pci_ident serial_bus = ident("0000:01:00.0", 1, 1, 0x0c0500);
	struct pci_ident vga = ident("0000:01:00.0", 1, 1, 0x030000);

	if (!c)
		return;
	CHECK(c->rules[0].class_value == 0x020000 && c->rules[0].class_mask == 0xff0000);
	CHECK(c->rules[1].class_value == 0x0c0300 && c->rules[1].class_mask == 0xffff00);
	CHECK(c->rules[2].class_value == 0x0c0330 && c->rules[2].class_mask == 0xffffff);
	CHECK(config_match(c, &ethernet) == &c->rules[0]);
	CHECK(config_match(c, &other_network) == &c->rules[0]);
	CHECK(config_match(c, &xhci) == &c->rules[1]);
	CHECK(config_match(c, &ehci) == &c->rules[1]);
	CHECK(!config_match(c, &serial_bus));
	CHECK(!config_match(c, &vga));
}

static void test_the_first_matching_rule_wins(void)
{
	_cleanup_(config_freep) struct config *c = parse_ok(
		"{ 'devices': [ { 'address': '0000:02:00.0', 'on_release': 'keep-vfio' },"
		"               { 'id': '8086:1572' },"
		"               { 'class': '0200', 'memlock_mib': 64 } ] }");
	struct pci_ident by_address = ident("0000:02:00.0", 0x8086, 0x1572, 0x020000);
	struct pci_ident by_id = ident("0000:03:00.0", 0x8086, 0x1572, 0x020000);
	struct pci_ident by_class = ident("0000:03:00.0", 0x8086, 0x1573, 0x020000);

	if (!c)
		return;
	CHECK(config_match(c, &by_address) == &c->rules[0]);
	CHECK(config_match(c, &by_id) == &c->rules[1]);
	CHECK(config_match(c, &by_class) == &c->rules[2]);
}

static void test_a_syntax_error_reports_line_and_column(void)
{
	/* the 'x' is line 3, column 4 */
	check_raw_error("{\n  \"devices\": [1,\n 2 x]\n}", -EINVAL, FILE_NAME ":3:4: ", "separator");
	/* a missing ':' after the key on line 2 */
	check_raw_error("{\n\t\"readers\" {}\n}", -EINVAL, FILE_NAME ":2:12: ", "':' expected");
	/* cut short: the error is at the end */
	check_raw_error("{\n  \"devices\": [", -EINVAL, FILE_NAME ":2:15: ", "unexpected end of data");
	check_raw_error("", -EINVAL, FILE_NAME ":1:1: ", "unexpected end of data");
	/* not JSON, though json-c would take them in its default mode */
	check_raw_error("{ \"devices\": [], }", -EINVAL, FILE_NAME ":1:", NULL);
	check_raw_error("{ /* comment */ }", -EINVAL, FILE_NAME ":1:", NULL);
	check_raw_error("{ 'devices': [] }", -EINVAL, FILE_NAME ":1:3: ", "double quotes");
	check_raw_error("{ \"devices\": [ { \"id\": '1234:5678' } ] }", -EINVAL, FILE_NAME ":1:24: ", NULL);
	check_raw_error("{ \"a\": \"\xff\" }", -EINVAL, FILE_NAME ":1:", "utf-8");
}

static void test_trailing_characters_after_the_top_level_value_are_rejected(void)
{
	check_raw_error("{}\n}", -EINVAL, FILE_NAME ":2:1: ", "trailing");
	check_raw_error("{} {}", -EINVAL, FILE_NAME ":1:4: ", "trailing");
	check_raw_error("{}x", -EINVAL, FILE_NAME ":1:3: ", "trailing");

	/* trailing whitespace is fine */
	_cleanup_(config_freep) struct config *c = parse_ok(" {} \n\t\r\n");
	CHECK(c);
}

static void test_a_top_level_that_is_not_an_object_is_rejected(void)
{
	check_error("[]", "top level", "expected an object, got an array");
	check_error("42", "top level", "expected an object, got an integer");
	check_error("'devices'", "top level", "got a string");
	check_error("null", "top level", "got null");
}

static void test_duplicate_keys_are_rejected_where_they_repeat(void)
{
	check_error("{ 'devices': [],\n  'devices': [] }", FILE_NAME ":2:3: ", "duplicate key \"devices\"");
	check_error("{ 'devices': [ { 'class': '02', 'users': [], 'groups': [], 'users': ['root'] } ] }",
		    FILE_NAME ":1:60: ", "duplicate key \"users\"");
	check_error("{ 'readers': { 'everyone': false, 'everyone': true } }", FILE_NAME ":1:35: ", "duplicate");
	/* json-c would see 'users' here */
	check_raw_error("{ \"readers\": { \"users\\u0000x\": [] } }", -EINVAL, FILE_NAME ":1:16: ", "escapes");
	/* same key in different objects is fine */
	_cleanup_(config_freep) struct config *c = parse_ok(
		"{ 'devices': [ { 'class': '02', 'users': [] }, { 'class': '03', 'users': [] } ],"
		"  'readers': { 'users': [] } }");
	CHECK(c && c->n_rules == 2);
}

static void test_unknown_keys_are_rejected_with_their_path(void)
{
	check_error("{ 'device': [] }", ": device: unknown key", "(expected readers, devices or limits)");
	check_error("{ 'readers': { 'user': [] } }", ": readers.user: unknown key", NULL);
	check_error("{ 'devices': [ { 'class': '02' }, { 'class': '02', 'onrelease': 'restore' } ] }",
		    ": devices[1].onrelease: unknown key", NULL);
}

static void test_values_of_the_wrong_type_are_rejected_with_path_and_expected_type(void)
{
	check_error("{ 'readers': [] }", ": readers: ", "expected an object, got an array");
	check_error("{ 'devices': {} }", ": devices: ", "expected an array, got an object");
	check_error("{ 'devices': [ 'x' ] }", ": devices[0]: ", "expected an object, got a string");
	check_error("{ 'readers': { 'everyone': 1 } }", ": readers.everyone: ", "expected a boolean, got an integer");
	check_error("{ 'readers': { 'users': 'root' } }", ": readers.users: ", "expected an array, got a string");
	check_error("{ 'readers': { 'groups': [ true ] } }", ": readers.groups[0]: ", "got a boolean");
	check_error("{ 'devices': [ { 'address': 1 } ] }", ": devices[0].address: ", "expected a string, got an integer");
	check_error("{ 'devices': [ { 'id': null } ] }", ": devices[0].id: ", "expected a string, got null");
	check_error("{ 'devices': [ { 'class': 2 } ] }", ": devices[0].class: ", "expected a string");
	check_error("{ 'devices': [ { 'class': '02', 'on_release': false } ] }", ": devices[0].on_release: ",
		    "expected a string, got a boolean");
	check_error("{ 'devices': [ { 'class': '02', 'memlock_mib': '64' } ] }", ": devices[0].memlock_mib: ",
		    "expected an integer, got a string");
	check_error("{ 'devices': [ { 'class': '02', 'memlock_mib': 1.5 } ] }", ": devices[0].memlock_mib: ",
		    "expected an integer");
	check_error("{ 'devices': [ { 'class': '02', 'users': [ 1.0 ] } ] }", ": devices[0].users[0]: ",
		    "expected a user name");
}

static void test_bad_addresses_are_rejected(void)
{
	static const char *bad[] = { "01:00.0", "0000:01:00.8", "0000:01:20.0", "0000:01:00.0 ", "" };

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_free_ char *text = NULL, *got = NULL;

		CHECK(asprintf(&text, "{ 'devices': [ { 'class': '02' }, { 'address': '%s' } ] }", bad[i]) > 0);
		CHECK(asprintf(&got, "got '%s'", bad[i]) > 0);
		check_error(text, ": devices[1].address: ", got);
	}
}

static void test_bad_ids_are_rejected(void)
{
	static const char *bad[] = { "1234", "1234:567", "12345:678", "0x12:5678", "1234-5678",
				     "1234:5678 ", "123g:5678", "1234:56789", "" };

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_free_ char *text = NULL, *got = NULL;

		CHECK(asprintf(&text, "{ 'devices': [ { 'id': '%s' } ] }", bad[i]) > 0);
		CHECK(asprintf(&got, "got '%s'", bad[i]) > 0);
		check_error(text, ": devices[0].id: ", got);
	}
}

static void test_bad_classes_are_rejected(void)
{
	static const char *bad[] = { "zz", "2", "020", "02000", "0200000", "0x02", " 02", "02 ", "" };

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_free_ char *text = NULL, *msg = NULL;

		CHECK(asprintf(&text, "{ 'devices': [ { 'id': '1234:5678' }, { 'id': '1234:5678' },"
				      " { 'class': '%s' } ] }", bad[i]) > 0);
		CHECK(asprintf(&msg, "devices[2].class: expected 2, 4 or 6 hex digits, got '%s'", bad[i]) > 0);
		check_error(text, msg, NULL);
	}
}

static void test_a_rule_needs_exactly_one_of_address_id_and_class(void)
{
	check_error("{ 'devices': [ { 'users': ['root'] } ] }", ": devices[0]: ", "needs one of");
	check_error("{ 'devices': [ { 'address': '0000:01:00.0', 'class': '02' } ] }", ": devices[0]: ",
		    "both 'address' and 'class'");
	check_error("{ 'devices': [ { 'id': '1234:5678', 'address': '0000:01:00.0' } ] }", ": devices[0]: ",
		    "both 'id' and 'address'");
}

static void test_unknown_users_and_groups_are_rejected(void)
{
	check_error("{ 'devices': [ { 'class': '02' }, { 'class': '02', 'users': ['root', 'ccdevd-no-such-user'] } ] }",
		    "devices[1].users[1]: unknown user 'ccdevd-no-such-user'", NULL);
	check_error("{ 'readers': { 'groups': ['ccdevd-no-such-group'] } }",
		    "readers.groups[0]: unknown group 'ccdevd-no-such-group'", NULL);
	/* a group name is not a user name */
	check_error("{ 'readers': { 'users': ['nogroup'] } }", "readers.users[0]: unknown user 'nogroup'", NULL);
	/* a number in a string is a name */
	check_error("{ 'readers': { 'users': ['0'] } }", "readers.users[0]: unknown user '0'", NULL);
	/* "\u0000" would make the lookup see only "root" */
	check_raw_error("{ \"readers\": { \"users\": [\"root\\u0000x\"] } }", -EINVAL, "readers.users[0]: ", "NUL");
}

static void test_uids_and_gids_out_of_range_are_rejected(void)
{
	check_error("{ 'devices': [ { 'class': '02', 'users': [1000, -1] } ] }", "devices[0].users[1]: ", "got -1");
	check_error("{ 'devices': [ { 'class': '02', 'groups': [-5] } ] }", "devices[0].groups[0]: ", "got -5");
	check_error("{ 'readers': { 'users': [4294967295] } }", "readers.users[0]: ", "0..4294967294, got 4294967295");
	check_error("{ 'readers': { 'groups': [99999999999999999999999] } }", "readers.groups[0]: ", "0..4294967294");

	_cleanup_(config_freep) struct config *c = parse_ok("{ 'readers': { 'users': [4294967294], 'groups': [0] } }");
	CHECK(c && c->readers.uids[0] == 4294967294u && c->readers.gids[0] == 0);
}

static void test_bad_on_release_values_are_rejected(void)
{
	check_error("{ 'devices': [ { 'class': '02', 'on_release': 'keep' } ] }", "devices[0].on_release: ",
		    "got 'keep'");
	check_error("{ 'devices': [ { 'class': '02', 'on_release': 'Restore' } ] }", "devices[0].on_release: ",
		    "expected 'restore' or 'keep-vfio'");
}

static void test_memlock_out_of_range_is_rejected(void)
{
	check_error("{ 'devices': [ { 'class': '02', 'memlock_mib': 0 } ] }", "devices[0].memlock_mib: ", "got 0");
	check_error("{ 'devices': [ { 'class': '02', 'memlock_mib': -1 } ] }", "devices[0].memlock_mib: ", "got -1");
	check_error("{ 'devices': [ { 'class': '02', 'memlock_mib': 1048577 } ] }", "devices[0].memlock_mib: ",
		    "got 1048577");
	check_error("{ 'devices': [ { 'class': '02', 'memlock_mib': 18446744073709551615 } ] }",
		    "devices[0].memlock_mib: ", "got 18446744073709551615");
}

static void test_dmabuf_importers_lists_who_may_map_a_device_s_bars(void)
{
	_cleanup_(config_freep) struct config *c = parse_ok(
		"{ 'devices': [ { 'class': '02', 'users': [1000], 'dmabuf_importers': { 'users': [1001], "
		"'groups': [2000] } }, { 'class': '01' } ] }");

	if (!c)
		return;
	CHECK(access_allows(&c->rules[0].dmabuf_importers, &(struct caller){ .uid = 1001, .gid = 1001 }));
	CHECK(access_allows(&c->rules[0].dmabuf_importers, &(struct caller){ .uid = 7, .gid = 2000 }));
	CHECK(!access_allows(&c->rules[0].dmabuf_importers, &(struct caller){ .uid = 1000, .gid = 1000 }));
	CHECK(!access_allows(&c->rules[1].dmabuf_importers, &(struct caller){ .uid = 1001, .gid = 1001 }));
	check_error("{ 'devices': [ { 'class': '02', 'dmabuf_importers': [1001] } ] }",
		    ": devices[0].dmabuf_importers: ", "expected an object");
	check_error("{ 'devices': [ { 'class': '02', 'dmabuf_importers': { 'user': [1] } } ] }",
		    ": devices[0].dmabuf_importers.user: unknown key", NULL);
	check_error("{ 'devices': [ { 'class': '02', 'dmabuf_importers': { 'everyone': true } } ] }",
		    ": devices[0].dmabuf_importers.everyone: not allowed here", NULL);
}

static void test_limits_memlock_mib_per_user_is_read_in_bytes(void)
{
	_cleanup_(config_freep) struct config *c = parse_ok("{ 'limits': { 'memlock_mib_per_user': 4096 } }");
	_cleanup_(config_freep) struct config *max = parse_ok("{ 'limits': { 'memlock_mib_per_user': 1048576 } }");
	_cleanup_(config_freep) struct config *empty = parse_ok("{ 'limits': { } }");
	_cleanup_(config_freep) struct config *absent = parse_ok("{ 'devices': [] }");

	CHECK(c && c->memlock_per_user == 4096ull << 20);
	CHECK(max && max->memlock_per_user == 1048576ull << 20);
	/* no key, or no "limits" at all: no per-user limit */
	CHECK(empty && empty->memlock_per_user == 0);
	CHECK(absent && absent->memlock_per_user == 0);
}

static void test_limits_memlock_mib_per_user_out_of_range_is_rejected(void)
{
	check_error("{ 'limits': { 'memlock_mib_per_user': 0 } }", ": limits.memlock_mib_per_user: ",
		    "expected 1..1048576 (MiB), got 0");
	check_error("{ 'limits': { 'memlock_mib_per_user': -1 } }", ": limits.memlock_mib_per_user: ", "got -1");
	check_error("{ 'limits': { 'memlock_mib_per_user': 1048577 } }", ": limits.memlock_mib_per_user: ",
		    "got 1048577");
	check_error("{ 'limits': { 'memlock_mib_per_user': 18446744073709551615 } }",
		    ": limits.memlock_mib_per_user: ", "got 18446744073709551615");
}

static void test_leases_and_devices_per_user_default_and_parse(void)
{
	_cleanup_(config_freep) struct config *set =
		parse_ok("{ 'limits': { 'leases_per_user': 3, 'devices_per_user': 1024, 'connections_per_user': 2 } }");
	_cleanup_(config_freep) struct config *absent = parse_ok("{ }");

	CHECK(set && set->leases_per_user == 3 && set->devices_per_user == 1024 && set->connections_per_user == 2);
	CHECK(absent && absent->leases_per_user == LEASES_PER_USER_DEFAULT &&
	      absent->devices_per_user == DEVICES_PER_USER_DEFAULT &&
	      absent->connections_per_user == CONNECTIONS_PER_USER_DEFAULT);
	check_error("{ 'limits': { 'connections_per_user': 0 } }", ": limits.connections_per_user: ",
		    "expected 1..1024, got 0");
}

static void test_per_connection_limits_default_and_parse(void)
{
	_cleanup_(config_freep) struct config *set =
		parse_ok("{ 'limits': { 'leases_per_connection': 2, 'devices_per_connection': 1 } }");
	_cleanup_(config_freep) struct config *absent = parse_ok("{ }");

	CHECK(set && set->leases_per_connection == 2 && set->devices_per_connection == 1);
	CHECK(absent && absent->leases_per_connection == LEASES_PER_CONNECTION_DEFAULT &&
	      absent->devices_per_connection == DEVICES_PER_CONNECTION_DEFAULT);
	/* Each at most half its per-user default: one runaway client leaves its
	 * user room for another. */
	CHECK(2 * LEASES_PER_CONNECTION_DEFAULT <= LEASES_PER_USER_DEFAULT &&
	      2 * DEVICES_PER_CONNECTION_DEFAULT <= DEVICES_PER_USER_DEFAULT);
	check_error("{ 'limits': { 'leases_per_connection': 0 } }", ": limits.leases_per_connection: ",
		    "expected 1..1024, got 0");
	check_error("{ 'limits': { 'devices_per_connection': 1025 } }", ": limits.devices_per_connection: ",
		    "got 1025");
	check_error("{ 'limits': { 'devices_per_connection': true } }", ": limits.devices_per_connection: ",
		    "expected an integer, got a boolean");
}

static void test_leases_and_devices_per_user_out_of_range_or_wrong_type_are_rejected(void)
{
	check_error("{ 'limits': { 'leases_per_user': 0 } }", ": limits.leases_per_user: ", "expected 1..1024, got 0");
	check_error("{ 'limits': { 'leases_per_user': 1025 } }", ": limits.leases_per_user: ", "got 1025");
	check_error("{ 'limits': { 'devices_per_user': -1 } }", ": limits.devices_per_user: ", "got -1");
	check_error("{ 'limits': { 'devices_per_user': '8' } }", ": limits.devices_per_user: ",
		    "expected an integer, got a string");
}

static void test_limits_of_the_wrong_type_or_with_unknown_keys_are_rejected(void)
{
	check_error("{ 'limits': { 'memlock_mib_per_user': '4096' } }", ": limits.memlock_mib_per_user: ",
		    "expected an integer, got a string");
	check_error("{ 'limits': { 'memlock_mib_per_user': 1.5 } }", ": limits.memlock_mib_per_user: ",
		    "expected an integer, got a non-integer number");
	check_error("{ 'limits': { 'memlock_mib_per_user': null } }", ": limits.memlock_mib_per_user: ",
		    "expected an integer, got null");
	check_error("{ 'limits': { 'memlock_mib': 64 } }", ": limits.memlock_mib: ",
		    "unknown key (expected memlock_mib_per_user, leases_per_user, devices_per_user, "
		    "resets_per_minute, connections_per_user, leases_per_connection or devices_per_connection)");
	check_error("{ 'limits': { 'memlock_mib_per_user': 64, 'leases_per_uid': 2 } }",
		    ": limits.leases_per_uid: ", "unknown key");
	check_error("{ 'limits': [] }", ": limits: ", "expected an object, got an array");
	check_error("{ 'limits': 4096 }", ": limits: ", "expected an object, got an integer");
	check_error("{ 'limits': { 'memlock_mib_per_user': 1, 'memlock_mib_per_user': 2 } }", FILE_NAME ":1:",
		    "duplicate key \"memlock_mib_per_user\"");
	/* it is not a rule's key */
	check_error("{ 'devices': [ { 'class': '02', 'memlock_mib_per_user': 64 } ] }",
		    ": devices[0].memlock_mib_per_user: ", "unknown key");
}

static void test_everyone_is_only_valid_in_readers(void)
{
	check_error("{ 'devices': [ { 'class': '02', 'everyone': true } ] }", "devices[0].everyone: ",
		    "only valid in \"readers\"");
}

static void test_access_is_granted_to_root_listed_uids_and_listed_groups_only(void)
{
	uid_t uids[] = { 1000 };
	gid_t gids[] = { 50, 60 };
	struct access_list a = { .uids = uids, .n_uids = 1, .gids = gids, .n_gids = 2 };
	gid_t supplementary[] = { 10, 60 }, unrelated[] = { 10, 1000 };

	CHECK(access_allows(&a, &(struct caller){ .uid = 0, .gid = 0 }));
	CHECK(access_allows(&(struct access_list){}, &(struct caller){ .uid = 0, .gid = 99 }));
	CHECK(access_allows(&a, &(struct caller){ .uid = 1000, .gid = 1000 }));
	CHECK(access_allows(&a, &(struct caller){ .uid = 2000, .gid = 50 }));
	CHECK(access_allows(&a, &(struct caller){ .uid = 2000, .gid = 2000, .gids = supplementary, .n_gids = 2 }));
	/* denied: neither uid nor any gid listed, and a uid is not a gid */
	CHECK(!access_allows(&a, &(struct caller){ .uid = 2000, .gid = 2000, .gids = unrelated, .n_gids = 2 }));
	CHECK(!access_allows(&a, &(struct caller){ .uid = 50, .gid = 2000 }));
	CHECK(!access_allows(&(struct access_list){}, &(struct caller){ .uid = 1000, .gid = 1000 }));
	CHECK(access_allows(&(struct access_list){ .everyone = true }, &(struct caller){ .uid = 3000, .gid = 3000 }));
}

static void test_release_policies_have_their_config_names(void)
{
	CHECK(strcmp(release_policy_to_string(RELEASE_RESTORE_DRIVER), "restore") == 0);
	CHECK(strcmp(release_policy_to_string(RELEASE_KEEP_VFIO), "keep-vfio") == 0);
}

static void test_loading_a_missing_file_gives_enoent(void)
{
	_cleanup_(config_freep) struct config *c = NULL;
	_cleanup_free_ char *error = NULL;

	CHECK(config_load("/nonexistent/ccdevd.json", &c, &error) == -ENOENT);
	CHECK(!c);
	CHECK_MSG(error && strstr(error, "/nonexistent/ccdevd.json"), "message: %s", error ?: "(none)");
}

/* Writes data (len bytes) times times to a new temporary file; returns its path. */
static char *write_temp(const char *data, size_t len, size_t times)
{
	char *path = strdup("/tmp/test-config-XXXXXX");
	_cleanup_fclose_ FILE *f = NULL;
	int fd = path ? mkstemp(path) : -1;

	CHECK(fd >= 0);
	if (fd < 0) {
		free(path);
		return NULL;
	}
	f = fdopen(fd, "w");
	CHECK(f);
	for (size_t i = 0; f && i < times; i++)
		CHECK(fwrite(data, 1, len, f) == len);
	CHECK(f && fflush(f) == 0);
	return path;
}

static void test_loading_a_file_reads_and_parses_it(void)
{
	_cleanup_free_ char *text = json("{ 'devices': [ { 'address': '0000:01:00.0', 'users': ['root'] } ] }\n");
	_cleanup_free_ char *path = write_temp(text, strlen(text), 1), *error = NULL;
	_cleanup_(config_freep) struct config *c = NULL;
	int r;

	if (!path)
		return;
	r = config_load(path, &c, &error);
	CHECK_MSG(r == 0, "r=%d: %s", r, error ?: "(none)");
	CHECK(c && strcmp(c->path, path) == 0 && c->n_rules == 1 && c->rules[0].users.uids[0] == 0);
	unlink(path);
}

static void test_loading_reports_errors_with_the_file_name(void)
{
	_cleanup_free_ char *path = write_temp("{\n  \"devices\": 1 }", 18, 1), *error = NULL;
	_cleanup_(config_freep) struct config *c = NULL;

	if (!path)
		return;
	CHECK(config_load(path, &c, &error) == -EINVAL);
	CHECK_MSG(error && strncmp(error, path, strlen(path)) == 0 && strstr(error, ": devices: "),
		  "message: %s", error ?: "(none)");
	unlink(path);
}

static void test_loading_a_file_with_a_nul_byte_is_rejected(void)
{
	_cleanup_free_ char *path = write_temp("{\n}\0", 4, 1), *error = NULL;
	_cleanup_(config_freep) struct config *c = NULL;

	if (!path)
		return;
	CHECK(config_load(path, &c, &error) == -EINVAL);
	CHECK_MSG(error && strstr(error, ":2:2: ") && strstr(error, "NUL"), "message: %s", error ?: "(none)");
	unlink(path);
}

static void test_loading_a_file_over_the_size_limit_gives_efbig(void)
{
	_cleanup_free_ char *path = write_temp(" ", 1, CONFIG_FILE_SIZE_MAX + 1), *error = NULL;
	_cleanup_free_ char *fits = write_temp(" ", 1, CONFIG_FILE_SIZE_MAX - 2), *error2 = NULL;
	_cleanup_(config_freep) struct config *c = NULL, *c2 = NULL;
	FILE *f;

	if (!path || !fits)
		return;
	CHECK(config_load(path, &c, &error) == -EFBIG);
	CHECK_MSG(error && strstr(error, path), "message: %s", error ?: "(none)");
	/* exactly at the limit is fine */
	f = fopen(fits, "a");
	CHECK(f && fputs("{}", f) >= 0 && fclose(f) == 0);
	CHECK(config_load(fits, &c2, &error2) == 0);
	unlink(path);
	unlink(fits);
}

int main(void)
{
	RUN(test_a_full_valid_config_parses_with_the_expected_values);
	RUN(test_an_empty_object_manages_nothing_and_lets_only_root_read);
	RUN(test_the_empty_config_manages_nothing_and_lets_only_root_read);
	RUN(test_readers_everyone_lets_anybody_read);
	RUN(test_an_address_rule_matches_only_that_address);
	RUN(test_an_id_rule_matches_vendor_and_device_together);
	RUN(test_a_class_rule_matches_a_prefix_of_the_class_code);
	RUN(test_the_first_matching_rule_wins);
	RUN(test_a_syntax_error_reports_line_and_column);
	RUN(test_trailing_characters_after_the_top_level_value_are_rejected);
	RUN(test_a_top_level_that_is_not_an_object_is_rejected);
	RUN(test_duplicate_keys_are_rejected_where_they_repeat);
	RUN(test_unknown_keys_are_rejected_with_their_path);
	RUN(test_values_of_the_wrong_type_are_rejected_with_path_and_expected_type);
	RUN(test_bad_addresses_are_rejected);
	RUN(test_bad_ids_are_rejected);
	RUN(test_bad_classes_are_rejected);
	RUN(test_a_rule_needs_exactly_one_of_address_id_and_class);
	RUN(test_unknown_users_and_groups_are_rejected);
	RUN(test_uids_and_gids_out_of_range_are_rejected);
	RUN(test_bad_on_release_values_are_rejected);
	RUN(test_memlock_out_of_range_is_rejected);
	RUN(test_dmabuf_importers_lists_who_may_map_a_device_s_bars);
	RUN(test_limits_memlock_mib_per_user_is_read_in_bytes);
	RUN(test_limits_memlock_mib_per_user_out_of_range_is_rejected);
	RUN(test_leases_and_devices_per_user_default_and_parse);
	RUN(test_per_connection_limits_default_and_parse);
	RUN(test_leases_and_devices_per_user_out_of_range_or_wrong_type_are_rejected);
	RUN(test_limits_of_the_wrong_type_or_with_unknown_keys_are_rejected);
	RUN(test_everyone_is_only_valid_in_readers);
	RUN(test_access_is_granted_to_root_listed_uids_and_listed_groups_only);
	RUN(test_release_policies_have_their_config_names);
	RUN(test_loading_a_missing_file_gives_enoent);
	RUN(test_loading_a_file_reads_and_parses_it);
	RUN(test_loading_reports_errors_with_the_file_name);
	RUN(test_loading_a_file_with_a_nul_byte_is_rejected);
	RUN(test_loading_a_file_over_the_size_limit_gives_efbig);
	return tap_done();
}
