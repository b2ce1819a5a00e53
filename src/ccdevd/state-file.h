/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The restart state file, /run/ccdevd/state.json (DESIGN §11): what each fd
 * in the service manager's fd store means, so a restarted daemon can
 * re-adopt leases and resume teardowns.  This file is the format only
 * (pure: no manager, no kernel), so unit tests and the fuzzer use it alone;
 * state.c writes it from the manager and adopt.c acts on what it says.
 *
 * Version 1:
 *   { "version": 1, "next_lease_id": N,
 *     "leases": [ { "id", "owner_uid", "owner_pid", "owner_name" (a unique
 *                   bus name, "" for the direct socket), "ioas_id",
 *                   "state": "active"|"releasing",
 *                   "devices": [ { "address", "steps": ["claim", ...],
 *                                  "dev_id", "pt_id", "memlock_quota",
 *                                  "original_driver",
 *                                  optional "exports": [ { "bar",
 *                                      "ranges": [ { "offset", "length" } ] } ]
 *                                } ],
 *                   optional "mappings": [ { "address", "bar", "offset",
 *                                  "length", "iova", "mapped" } ] } ],
 *     "teardowns": [ { "address", "step", "file_bound", "original_driver",
 *                      "reason", optional "release_pid",
 *                      optional "worker_pid" } ],
 *     "memlock_saved": [ { "pid", "cur", "max" } ] }
 *
 * Written with one line per lease (state.c renders only the leases that
 * changed); any JSON layout of the same document reads the same.
 *
 * Parsing is strict: every key known and of its type, numbers in range, no
 * lease id or device twice.  Anything else is refused with where and why;
 * the daemon then trusts none of it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bdf.h"
#include "cleanup.h"
#include "device.h"

#define STATE_VERSION 1
#define STATE_LEASES_MAX 65536
#define STATE_DEVICES_MAX 256 /* per lease */
#define STATE_TEARDOWNS_MAX 65536
#define STATE_STRING_MAX 4096
#define STATE_SIZE_MAX (64u << 20)

#define STATE_EXPORTS_MAX 64   /* per device */
#define STATE_RANGES_MAX 16    /* per export */
#define STATE_MAPPINGS_MAX 128 /* per lease */

/* A dma-buf the owner got (ExportDmaBuf): fd lease-N-export-BDF-K. */
struct saved_range {
	uint64_t offset, length;
};
struct saved_export {
	uint32_t bar;
	struct saved_range *ranges;
	size_t n_ranges;
};

/* A P2P mapping into the lease's IOAS (MapDmaBuf): fd lease-N-map-IOVA. */
struct saved_mapping {
	struct bdf address;       /* the exporting device */
	uint32_t bar;
	uint64_t offset, length, iova;
	bool mapped;
};

struct saved_device {
	struct bdf address;
	unsigned steps_done;      /* 1 << enum attach_step */
	bool claimed;             /* "claim" in steps: it was moved off a host driver */
	uint32_t dev_id, pt_id;
	uint64_t memlock_quota;
	char *original_driver;
	struct saved_export *exports;
	size_t n_exports;
};

struct saved_lease {
	unsigned id;
	uid_t owner_uid;
	pid_t owner_pid;
	char *owner_name;        /* "": made on the direct socket */
	uint32_t ioas_id;
	bool releasing;
	struct saved_device *devices;
	size_t n_devices;
	struct saved_mapping *mappings;
	size_t n_mappings;
};

struct saved_teardown {
	struct bdf address;
	enum teardown_step step;
	bool file_bound;
	pid_t release_pid;        /* the unbind child still waiting, 0: none */
	pid_t worker_pid;         /* the worker of the step (a claim's, a reset's,
				   * a driver's) while it runs, 0: none */
	char *original_driver;
	char *reason;
};

struct saved_memlock {
	pid_t pid;
	uint64_t cur, max;        /* the limit before ccdevd raised it; UINT64_MAX: infinity */
};

struct saved_state {
	unsigned next_lease_id;
	struct saved_lease *leases;
	size_t n_leases;
	struct saved_teardown *teardowns;
	size_t n_teardowns;
	struct saved_memlock *memlock;
	size_t n_memlock;
};

/* text (NUL-terminated, from file, for messages) to a new saved_state;
 * -EINVAL with *ret_why (malloc'ed) when anything is wrong with it. */
int state_parse(const char *text, const char *file, struct saved_state **ret, char **ret_why);

/* s to JSON text (malloc'ed), or NULL when out of memory.  The file has
 * one line per lease. */
char *state_format(const struct saved_state *s);

/* One lease's line of that text (malloc'ed), or NULL. */
char *state_format_lease(const struct saved_lease *l);

/* state_format() with the lines of some leases given: lease_texts[i], when
 * not NULL, must be state_format_lease(&s->leases[i]).  What state.c uses
 * so that a change renders only the leases it changed. */
char *state_format_with(const struct saved_state *s, char *const *lease_texts);

/* Do a and b say the same (and so format to the same line)? */
bool saved_lease_equal(const struct saved_lease *a, const struct saved_lease *b);

struct saved_state *saved_state_new(void);
void saved_state_free(struct saved_state *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct saved_state *, saved_state_free)
/* A saved_lease on its own (state.c keeps the last one written per lease). */
void saved_lease_free(struct saved_lease *l);
