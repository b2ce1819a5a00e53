/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The restart state file (src/ccdevd/state-file.c): what state_format()
 * writes, state_parse() reads back exactly; anything else it refuses, naming
 * where and why, so that the daemon trusts none of a bad file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ccdevd/state-file.h"
#include "attach.h"
#include "tap.h"

static struct saved_state *sample(void)
{
	struct saved_state *s = saved_state_new();

	s->next_lease_id = 8;
	s->n_leases = 1;
	s->leases = calloc(1, sizeof(*s->leases));
	s->leases[0] = (struct saved_lease){ .id = 7, .owner_uid = 1000, .owner_pid = 345,
					     .owner_name = strdup(":1.12"), .ioas_id = 2, .n_devices = 2 };
	s->leases[0].devices = calloc(2, sizeof(struct saved_device));
	s->leases[0].devices[0] = (struct saved_device){
		.address = { 0, 1, 0, 0 },
		.steps_done = (1u << ATTACH_CLAIM) | (1u << ATTACH_OPEN) | (1u << ATTACH_BIND) | (1u << ATTACH_PT),
		.claimed = true, .dev_id = 1, .pt_id = 2, .memlock_quota = 64u << 20,
		.original_driver = strdup("e1000e") };
	s->leases[0].devices[1] = (struct saved_device){ .address = { 0, 3, 0, 0 }, .steps_done = 1u << ATTACH_OPEN,
							 .original_driver = strdup("") };
	/* A dma-buf export of device 0 (two ranges), and a P2P mapping of it
	 * into the lease's IOAS, recorded as revoked (a reset was under way). */
	s->leases[0].devices[0].n_exports = 1;
	s->leases[0].devices[0].exports = calloc(1, sizeof(struct saved_export));
	s->leases[0].devices[0].exports[0] = (struct saved_export){ .bar = 2, .n_ranges = 2,
		.ranges = calloc(2, sizeof(struct saved_range)) };
	s->leases[0].devices[0].exports[0].ranges[0] = (struct saved_range){ 0x1000, 0x1000 };
	s->leases[0].devices[0].exports[0].ranges[1] = (struct saved_range){ 0x8000, 0x2000 };
	s->leases[0].n_mappings = 1;
	s->leases[0].mappings = calloc(1, sizeof(struct saved_mapping));
	s->leases[0].mappings[0] = (struct saved_mapping){ .address = { 0, 1, 0, 0 }, .bar = 0, .offset = 0x4000,
							   .length = 0x1000, .iova = 0x8000000, .mapped = false };
	s->n_teardowns = 1;
	s->teardowns = calloc(1, sizeof(*s->teardowns));
	s->teardowns[0] = (struct saved_teardown){ .address = { 0, 2, 0, 0 }, .step = TEARDOWN_RESET, .file_bound = true,
						   .worker_pid = 4242, .original_driver = strdup("nvme"), .reason = strdup("owner exited") };
	s->n_memlock = 1;
	s->memlock = calloc(1, sizeof(*s->memlock));
	s->memlock[0] = (struct saved_memlock){ .pid = 345, .cur = 8u << 20, .max = UINT64_MAX };
	return s;
}

static void round_trip(void)
{
	struct saved_state *s = sample(), *back = NULL;
	char *text = state_format(s), *why = NULL;
	int r;

	CHECK(text);
	r = state_parse(text, "state.json", &back, &why);
	CHECK_MSG(r == 0, "%s", why ? why : "");
	if (r == 0) {
		CHECK(back->next_lease_id == 8 && back->n_leases == 1 && back->n_teardowns == 1 && back->n_memlock == 1);
		CHECK(back->leases[0].id == 7 && back->leases[0].owner_uid == 1000 && back->leases[0].owner_pid == 345);
		CHECK(strcmp(back->leases[0].owner_name, ":1.12") == 0 && back->leases[0].ioas_id == 2);
		CHECK(!back->leases[0].releasing && back->leases[0].n_devices == 2);
		CHECK(back->leases[0].devices[0].steps_done == s->leases[0].devices[0].steps_done);
		CHECK(back->leases[0].devices[0].claimed && back->leases[0].devices[0].memlock_quota == 64u << 20);
		CHECK(strcmp(back->leases[0].devices[0].original_driver, "e1000e") == 0);
		CHECK(back->leases[0].devices[1].steps_done == 1u << ATTACH_OPEN && !back->leases[0].devices[1].claimed);
		CHECK(back->leases[0].devices[0].n_exports == 1 && back->leases[0].devices[1].n_exports == 0);
		CHECK(back->leases[0].devices[0].exports[0].bar == 2 && back->leases[0].devices[0].exports[0].n_ranges == 2);
		CHECK(back->leases[0].devices[0].exports[0].ranges[1].offset == 0x8000 &&
		      back->leases[0].devices[0].exports[0].ranges[1].length == 0x2000);
		CHECK(back->leases[0].n_mappings == 1 && back->leases[0].mappings[0].iova == 0x8000000);
		CHECK(back->leases[0].mappings[0].offset == 0x4000 && back->leases[0].mappings[0].length == 0x1000);
		CHECK(!back->leases[0].mappings[0].mapped && back->leases[0].mappings[0].address.bus == 1);
		CHECK(back->teardowns[0].step == TEARDOWN_RESET && back->teardowns[0].file_bound);
		CHECK(back->teardowns[0].worker_pid == 4242 && back->teardowns[0].release_pid == 0);
		CHECK(strcmp(back->teardowns[0].reason, "owner exited") == 0);
		CHECK(back->memlock[0].max == UINT64_MAX && back->memlock[0].cur == 8u << 20);
	}
	saved_state_free(back);
	saved_state_free(s);
	free(text);
	free(why);
}

static void empty_state(void)
{
	struct saved_state *back = NULL;
	char *why = NULL;
	int r = state_parse("{\"version\":1,\"next_lease_id\":1,\"leases\":[],\"teardowns\":[],\"memlock_saved\":[]}",
			    "s", &back, &why);

	CHECK_MSG(r == 0, "%s", why ? why : "");
	CHECK(back && back->n_leases == 0 && back->n_teardowns == 0);
	saved_state_free(back);
	free(why);
}

/* A lease made on the direct socket has no bus name: "" is kept as such. */
static void direct_owner(void)
{
	struct saved_state *s = sample(), *back = NULL;
	char *text, *why = NULL;
	int r;

	free(s->leases[0].owner_name);
	s->leases[0].owner_name = strdup("");
	text = state_format(s);
	r = text ? state_parse(text, "state.json", &back, &why) : -ENOMEM;
	CHECK_MSG(r == 0, "%s", why ? why : "");
	CHECK(back && back->n_leases == 1 && strcmp(back->leases[0].owner_name, "") == 0);
	saved_state_free(back);
	saved_state_free(s);
	free(text);
	free(why);
}

/* What state.c writes from kept lines is what state_format() writes. */
static void kept_lines(void)
{
	struct saved_state *s = sample();
	char *line = state_format_lease(&s->leases[0]);
	char *lines[] = { line };
	char *whole = state_format(s), *with = state_format_with(s, lines);

	CHECK(line && whole && with && strcmp(whole, with) == 0);
	CHECK_MSG(line && !strchr(line, '\n'), "a lease's record is one line: %s", line ? line : "(none)");
	CHECK(whole && strstr(whole, line));
	free(line);
	free(whole);
	free(with);
	saved_state_free(s);
}

/* saved_lease_equal() decides whether a kept line may be written again: it
 * must see every change of anything the line says. */
static void lease_equality(void)
{
	static const char *const changes[] = {
		"id", "owner_uid", "owner_pid", "owner_name", "ioas_id", "releasing", "device count", "address",
		"steps", "claim", "dev_id", "pt_id", "memlock_quota", "original_driver", "export count", "bar",
		"range count", "range offset", "range length", "mapping count", "mapping address", "mapping bar",
		"mapping offset", "mapping length", "mapping iova", "mapped",
	};
	struct saved_state *a = sample();

	for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
		struct saved_state *b = sample();
		struct saved_lease *l = &b->leases[0];
		struct saved_device *d = &l->devices[0];
		struct saved_export *e = &d->exports[0];
		struct saved_mapping *mp = &l->mappings[0];
		char *ta, *tb;

		size_t n_devices = l->n_devices, n_exports = d->n_exports, n_mappings = l->n_mappings;

		CHECK(saved_lease_equal(&a->leases[0], l));
		switch (i) {
		case 0: l->id++; break;
		case 1: l->owner_uid++; break;
		case 2: l->owner_pid++; break;
		case 3: l->owner_name[1] = '2'; break;
		case 4: l->ioas_id++; break;
		case 5: l->releasing = true; break;
		case 6: l->n_devices--; break;
		case 7: d->address.device++; break;
		case 8: d->steps_done &= ~(1u << ATTACH_PT); d->pt_id = 0; break;
		case 9: d->steps_done &= ~(1u << ATTACH_CLAIM); d->claimed = false; break;
		case 10: d->dev_id++; break;
		case 11: d->pt_id++; break;
		case 12: d->memlock_quota++; break;
		case 13: d->original_driver[0] = 'E'; break;
		case 14: d->n_exports = 0; break;
		case 15: e->bar++; break;
		case 16: e->n_ranges--; break;
		case 17: e->ranges[1].offset++; break;
		case 18: e->ranges[1].length++; break;
		case 19: l->n_mappings = 0; break;
		case 20: mp->address.bus++; break;
		case 21: mp->bar++; break;
		case 22: mp->offset++; break;
		case 23: mp->length++; break;
		case 24: mp->iova++; break;
		case 25: mp->mapped = true; break;
		}
		ta = state_format_lease(&a->leases[0]);
		tb = state_format_lease(l);
		CHECK_MSG(!saved_lease_equal(&a->leases[0], l), "a change of %s is seen", changes[i]);
		CHECK_MSG(ta && tb && strcmp(ta, tb) != 0, "a change of %s changes the line", changes[i]);
		free(ta);
		free(tb);
		/* What a count change hid is freed all the same. */
		l->n_devices = n_devices;
		d->n_exports = n_exports;
		l->n_mappings = n_mappings;
		saved_state_free(b);
	}
	saved_state_free(a);
}

/* Replace the first occurrence of from in the sample's text by to and expect
 * a refusal whose message contains want. */
static int refused(const char *from, const char *to, const char *want)
{
	struct saved_state *s = sample(), *back = NULL;
	char *text = state_format(s), *why = NULL, *edited, *at;
	int ok;

	at = strstr(text, from);
	if (!at) {
		printf("# '%s' is not in the sample\n", from);
		ok = 0;
		goto out;
	}
	edited = malloc(strlen(text) + strlen(to) + 1);
	memcpy(edited, text, (size_t)(at - text));
	strcpy(edited + (at - text), to);
	strcat(edited, at + strlen(from));
	ok = state_parse(edited, "state.json", &back, &why) < 0 && why && strstr(why, want);
	if (!ok)
		printf("# %s -> %s: got %s\n", from, to, why ? why : "(accepted)");
	free(edited);
out:
	saved_state_free(back);
	saved_state_free(s);
	free(text);
	free(why);
	return ok;
}

static void refusals(void)
{
	CHECK(refused("\"version\": 1", "\"version\": 2", "not the version"));
	CHECK(refused("\"version\": 1", "\"version\": \"1\"", "version"));
	CHECK(refused("\"owner_uid\": 1000", "\"owner_uid\": -1", "out of range"));
	CHECK(refused("\"owner_uid\": 1000", "\"owner_uid\": 4294967295", "out of range"));
	CHECK(refused("\"owner_pid\": 345", "\"owner_pid\": 0", "out of range"));
	CHECK(refused("\"owner_name\": \":1.12\"", "\"owner_name\": \"org.evil\"", "unique bus name"));
	CHECK(refused("\"id\": 7", "\"id\": 8", "not below next_lease_id"));
	CHECK(refused("\"ioas_id\": 2", "\"ioas_id\": 2, \"extra\": 1", "unknown key \"extra\""));
	CHECK(refused("\"address\": \"0000:01:00.0\"", "\"address\": \"0000:01:00.9\"", "PCI address"));
	CHECK(refused("\"address\": \"0000:01:00.0\"", "\"address\": \"0000:02:00.0\"", "appears twice"));
	CHECK(refused("\"address\": \"0000:01:00.0\"", "\"address\": \"0000:01:00.0\", \"address\": \"0000:01:00.0\"",
		      "duplicate key"));
	CHECK(refused("\"claim\",", "\"bogus\",", "not an attach step"));
	CHECK(refused("\"open\",", "", "without open before it"));
	CHECK(refused("\"pt_id\": 2", "\"pt_id\": 3", "not the lease's IOAS"));
	CHECK(refused("\"dev_id\": 1", "\"dev_id\": 0", "exactly when bind and attach"));
	CHECK(refused("\"step\": \"reset\"", "\"step\": \"none\"", "detach, release, reset, driver"));
	CHECK(refused("\"file_bound\": true", "\"file_bound\": 1", "true or false"));
	CHECK(refused("\"state\": \"active\"", "\"state\": \"gone\"", "\"active\" or \"releasing\""));
	CHECK(refused("\"pid\": 345", "\"pid\": 345, \"cur\": 1, \"max\": 1 }, { \"pid\": 345", "appears twice"));
	CHECK(refused("\"reason\": \"owner exited\"", "\"reason\": \"owner\\u0000exited\"", "without NUL"));
	CHECK(refused("\"memlock_saved\"", "\"memlock_saved_x\"", "unknown key"));
	CHECK(refused("\"bar\": 2", "\"bar\": 6", "bar must be 0..5"));
	CHECK(refused("\"length\": 8192", "\"length\": 0", "length must be set"));
	CHECK(refused("\"iova\": 134217728", "\"iova\": 18446744073709551615", "overflow"));
	CHECK(refused("\"mapped\": false", "\"mapped\": 0", "true or false"));
	CHECK(refused("\"mapped\": false", "\"mapped\": false }, { \"address\": \"0000:01:00.0\", \"bar\": 0, "
		      "\"offset\": 0, \"length\": 4096, \"iova\": 134217728, \"mapped\": true", "two mappings at IOVA"));
	CHECK(refused("{", "[", ""));
}

static void garbage(void)
{
	static const char *const bad[] = {
		"", "{", "null", "[]", "{\"version\":1}", "{\"version\":1,\"next_lease_id\":1}x",
		"{\"version\":1,\"next_lease_id\":1,\"leases\":{}}",
		"{\"version\":1,\"next_lease_id\":1,\"leases\":[],\"teardowns\":[],\"memlock_saved\":[],\"leases\":[]}",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct saved_state *back = NULL;
		char *why = NULL;
		int r = state_parse(bad[i], "s", &back, &why);
		CHECK_MSG(r < 0 && !back, "accepted: %s", bad[i]);
		free(why);
		saved_state_free(back);
	}
}

int main(void)
{
	RUN(round_trip);
	RUN(empty_state);
	RUN(direct_owner);
	RUN(kept_lines);
	RUN(lease_equality);
	RUN(refusals);
	RUN(garbage);
	return tap_done();
}
