/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A lease: one VM's devices, owned by one client process.  It holds the
 * iommufd (with the IOAS the daemon allocated) and, for each attached device,
 * the daemon's own reference to the VFIO cdev file it handed out, so the
 * kernel's last-close reset never runs behind the daemon's back: teardown is
 * always the daemon's job (DESIGN §5 rule 8).
 *
 * Ownership: the manager owns leases (manager::leases); a lease owns its
 * lease_devices (lease::devices, attach order) and every fd below.  A
 * lease_device points at its inventory device and the device back at it
 * (device::attachment) while attached.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bdf.h"

struct manager;
struct device;
struct dmabuf_export;
struct dmabuf_mapping;

struct lease_device {
	struct lease *lease;
	struct device *device;       /* NULL once the device left the bus */
	char name[BDF_STRING_MAX];
	int fd;                      /* our reference to the cdev file */
	uint32_t dev_id, pt_id;      /* 0 until the daemon bound it */
	unsigned steps_done;         /* 1 << enum attach_step, see attach.h */
	bool claimed;                /* the claim moved it off a host driver */
	uint64_t memlock_quota;      /* this device's share of lease::memlock_limit */
	bool file_lost;              /* adopted without its file: assume it was bound */
	struct dmabuf_export *exports; /* owned (dmabuf.h) */
	uint64_t reset_window_start;   /* ResetDevice rate limit (user-limits.h) */
	unsigned resets_in_window;
	struct attached_reset *reset;  /* ResetDevice under way (reset.h) */
	struct lease_device *next;   /* lease::devices */
};

enum lease_state {
	LEASE_ACTIVE,
	LEASE_RELEASING,
};

struct lease {
	struct manager *manager;
	unsigned id;
	char *object_path;

	uid_t owner_uid;
	pid_t owner_pid;
	char *owner_name;            /* unique bus name; "" when made on the direct socket */
	const struct direct_conn *owner_conn; /* that direct connection while it is open */
	int owner_pidfd;
	sd_event_source *owner_exit_source;
	sd_bus_track *owner_track;
	sd_event_source *end_source; /* deferred teardown after the owner went away */
	const char *end_reason;

	int iommufd;
	uint32_t ioas_id;
	uint64_t memlock_limit;      /* this lease's pinned-memory share (memlock.h) */

	enum lease_state state;
	bool announced;              /* InterfacesAdded went out (manager_announce_lease) */
	struct lease_device *devices;
	struct dmabuf_mapping *mappings; /* owned: P2P mappings into the IOAS (dmabuf.h) */
	struct saved_lease *saved;   /* its state-file record as last written, */
	char *saved_line;            /* ... and that line of the file (state.c) */
	struct lease *next;          /* manager::leases */
};

struct direct_conn;
struct lease_owner {
	uid_t uid;
	pid_t pid;
	const char *unique_name;     /* NULL on the direct socket */
	sd_bus_message *message;     /* the CreateLease call: tracked for liveness */
	const struct direct_conn *conn; /* the direct connection called on, or NULL */
};

/* Fresh iommufd (per-process pinned-page accounting) + IOAS + liveness
 * tracking of the owner.  *ret_why explains a failure. */
int lease_new(struct manager *m, const struct lease_owner *owner, struct lease **ret, char **ret_why);

/*
 * Attach d (attach.h has the order of steps): claimed, opened and, unless
 * raw, bound to the lease's iommufd and attached to its IOAS.  On failure
 * everything done is undone and *ret_why explains.  The lease_device's fd
 * stays ours; the caller sends a duplicate.
 */
int lease_attach(struct lease *l, struct device *d, bool raw, struct lease_device **ret, char **ret_why);

/* What lease_attach() checks before it touches anything: busy, group and
 * reset set, pinned-memory quota, limits. */
int lease_attach_check(struct lease *l, struct device *d, char **ret_why);

/* lease_attach() of a device a worker claimed for it (attach-job.h): the
 * claim is not run again, nor undone if the attach fails (the caller gives
 * the host driver back, in a worker too). */
int lease_attach_claimed(struct lease *l, struct device *d, bool raw, struct lease_device **ret, char **ret_why);

/* BindDevice: the daemon binds and attaches a file it handed out unbound.
 * LEASE_ALREADY_BOUND when someone bound it already. */
#define LEASE_ALREADY_BOUND (-EALREADY)
int lease_bind(struct lease_device *ld, char **ret_why);

struct lease_device *lease_find_device(struct lease *l, const struct bdf *address);

/* DetachDevice: the ordered teardown of one device (teardown.h). */
void lease_detach(struct lease_device *ld, const char *reason);

/* Its owner's direct connection closed: end the lease (deferred). */
void lease_owner_conn_closed(struct lease *l);

/* End the lease now: every device torn down in reverse attach order, the
 * IOAS destroyed, the owner's memlock share returned, LeaseReleased sent. */
void lease_end(struct lease *l, const char *reason);

/*
 * Adoption after a restart (adopt.c): the lease s, as the last daemon left
 * it, with the fds the fd store gave back (taken; -1 where one is missing or
 * failed its check, device_fds[k] for s->devices[k]).  Owner tracking is
 * re-armed from the pidfd and the unique name (when track_owner).  The caller ends the lease
 * when anything about it cannot be trusted.
 */
struct saved_lease;
int lease_adopt(struct manager *m, const struct saved_lease *s, int iommufd, int pidfd, int *device_fds,
		bool track_owner, struct lease **ret);

/* Daemon exit: drop the daemon's references without tearing anything down,
 * and free l (the client's own fds keep its devices working). */
void lease_abandon(struct lease *l);

/* The device left the bus: forget it without touching sysfs. */
void lease_device_gone(struct lease_device *ld);

unsigned lease_device_count(const struct lease *l);
const char *lease_state_to_string(enum lease_state s);
