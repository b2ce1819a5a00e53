/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemon's configuration (JSON, /etc/ccdevd/ccdevd.json, schema in
 * ccdevd.json(5)): which PCI devices ccdevd manages, who may read the
 * inventory, who may lease each device, what happens to a device when its
 * lease ends, and the limits on what one user may be granted.  Parsing is strict: unknown keys, wrong types, unknown users or
 * groups and malformed addresses are errors that name the file, the place
 * (line:column for syntax, a JSON path like devices[2].users[0] for content)
 * and why.  A loaded config is immutable; reload builds a new one and swaps.
 *
 * Access checks are here too because they are pure functions of the config
 * and the caller's credentials.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bdf.h"

enum release_policy {
	RELEASE_RESTORE_DRIVER, /* "restore": back to the original host driver */
	RELEASE_KEEP_VFIO,      /* "keep-vfio": stay on vfio-pci, ready for the next lease */
};

struct access_list {
	bool everyone;
	uid_t *uids;
	size_t n_uids;
	gid_t *gids;
	size_t n_gids;
};

enum match_kind {
	MATCH_ADDRESS, /* "address": "0000:01:00.0" */
	MATCH_ID,      /* "id": "1234:11e8" (vendor:device, 4 hex digits each) */
	MATCH_CLASS,   /* "class": "02" | "0200" | "020000" (class code prefix) */
};

struct device_rule {
	char *where; /* "devices[2]", for messages */
	enum match_kind kind;
	struct bdf address;
	uint16_t vendor, device;
	uint32_t class_value; /* prefix left-aligned in 24 bits, e.g. 0x020000 */
	uint32_t class_mask;  /* e.g. 0xff0000 for "02" */
	struct access_list users; /* who may lease it ("users", "groups") */
	/* who may map its BARs into their own leases while another owner
	 * leases it ("dmabuf_importers"); the same owner always may */
	struct access_list dmabuf_importers;
	enum release_policy on_release;
	uint64_t memlock_bytes; /* per-lease pinned-memory quota; 0 = default */
};

struct config {
	char *path;
	struct access_list readers; /* who may list/read devices ("readers") */
	struct device_rule *rules;  /* first match wins */
	size_t n_rules;
	uint64_t memlock_per_user; /* bytes, 0: no limit ("limits.memlock_mib_per_user") */
	unsigned leases_per_user;  /* "limits.leases_per_user"; root is not counted */
	unsigned devices_per_user; /* "limits.devices_per_user" */
	unsigned resets_per_minute; /* "limits.resets_per_minute": ResetDevice, per leased device */
	unsigned connections_per_user; /* "limits.connections_per_user": the direct socket; root not counted */
	unsigned leases_per_connection;  /* "limits.leases_per_connection": one bus name or direct connection */
	unsigned devices_per_connection; /* "limits.devices_per_connection" */
};

/* The defaults keep one user from using more than a small share of the
 * daemon's open files (a lease costs 2, a device 1; see ccdevd(8)). */
#define LEASES_PER_USER_DEFAULT 16
#define DEVICES_PER_USER_DEFAULT 32
/* A reset holds the event loop for as long as the kernel resets (an FLR is
 * some 100 ms): one tenant's storm must not starve the others. */
#define RESETS_PER_MINUTE_DEFAULT 60
/* A direct-socket connection costs one fd: room for a VMM per lease
 * (ccdevctl exec keeps its connection) and a few ccdevctl calls besides. */
#define CONNECTIONS_PER_USER_DEFAULT 24
/* One runaway client (a VMM in a loop) takes at most half of its user's
 * share, so that user's other VMMs still get theirs. */
#define LEASES_PER_CONNECTION_DEFAULT 8
#define DEVICES_PER_CONNECTION_DEFAULT 16
#define PER_USER_COUNT_MAX 1024

/* What a rule is matched against. */
struct pci_ident {
	struct bdf address;
	uint16_t vendor, device;
	uint32_t class_code; /* 24 bits */
};

/* A caller's credentials as the bus reports them. */
struct caller {
	uid_t uid;
	gid_t gid;          /* primary */
	const gid_t *gids;  /* supplementary */
	size_t n_gids;
};

/* Larger files are refused with -EFBIG. */
#define CONFIG_FILE_SIZE_MAX (1024 * 1024)

/*
 * Load and validate path.  On failure returns a negative errno and, in
 * *ret_error, a malloc'ed message (-ENOENT when the file does not exist).
 * ret_error may be NULL; *ret_error is NULL only when the error is -ENOMEM.
 */
int config_load(const char *path, struct config **ret, char **ret_error);

/* Same, from a string; path is only used in messages and stored in ->path. */
int config_parse(const char *text, const char *path, struct config **ret, char **ret_error);

/* The configuration used when no file exists: manage nothing, root only. */
int config_new_empty(const char *path, struct config **ret);

void config_free(struct config *c);

/* The first rule matching the device, or NULL: the device is not managed. */
const struct device_rule *config_match(const struct config *c, const struct pci_ident *id);

/* Root (uid 0) is always allowed; otherwise everyone, the uid, the primary
 * gid or a supplementary gid must be on the list. */
bool access_allows(const struct access_list *a, const struct caller *who);

const char *release_policy_to_string(enum release_policy p);
