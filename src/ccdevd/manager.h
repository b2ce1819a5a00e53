/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The manager owns the daemon's event loop, bus connection, configuration,
 * inventory and kernel feature set, and everything hanging off them.
 * manager_run() sets it up, runs until SIGTERM/SIGINT and tears it down.
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-api.h"
#include "config.h"
#include "fdstore.h"
#include "kernel-features.h"
#include "inventory.h"

struct memlock_saved;
struct subscriber;
struct direct_socket;
struct direct_conn;

struct manager_options {
	const char *config_path;
	bool config_path_explicit; /* --config given: a missing file is an error */
};

struct manager {
	const struct manager_options *options;
	sd_event *event;
	sd_bus *bus;
	struct config *config;
	struct inventory *inventory;
	struct kernel_features features;
	unsigned n_managed;
	struct lease *leases;       /* owned; lease::next */
	unsigned n_leases;
	unsigned next_lease_id;
	struct memlock_saved *memlock_saved; /* owned; memlock.c */
	char *state_path;           /* the restart state (state.h); NULL: none kept */
	bool state_in_memory;       /* it is on tmpfs: no fsync (state_init) */
	char *state_spare_path;     /* a temporary file made for the next write, */
	int state_spare_fd;         /* ... open (valid while the path is set) */
	sd_event_source *state_refill; /* makes the next one, after a write */
	struct fdstore fdstore;     /* what the service manager holds for us */
	bool adopting;              /* adopt.c at work: the state is written once it is done */
	struct attach_job *attach_jobs; /* attaches waiting for a claim (attach-job.h) */
	unsigned state_deferred;    /* state_defer() depth: saves wait for state_flush() */
	bool state_dirty;           /* a save waits */
	unsigned n_adopted;         /* leases re-adopted at start */
	struct adoption *adoption;  /* owned; what adopt_finish() still ends */
	struct subscriber *subscribers; /* owned; bus-signals.c */
	struct direct_socket *direct; /* owned; the second door (direct-socket.h), NULL if none */
	struct pending_reply *pending_replies; /* owned; bus-reply.c */
};

int manager_run(const struct manager_options *options);

/* Re-read the configuration; on error keeps the old one and returns a
 * negative errno with a malloc'ed message in *ret_error. */
int manager_reload(struct manager *m, char **ret_error);

/* A device's facts or life-cycle state changed: tell the bus. */
void manager_device_changed(struct manager *m, struct device *d, unsigned changed_mask);
/* Teardown finished for d: it is free again (or unpublished if no longer
 * managed). */
void manager_device_released(struct manager *m, struct device *d);

/* A claim for a lease (attach-job.h) ended without the device in it. */
void manager_claim_ended(struct manager *m, const struct bdf *address);

/* A teardown reached rest, or ended (teardown_resting()): the replies
 * waiting for it may go. */
void manager_teardown_rested(struct manager *m);

/* A probe on a device proved a kernel feature. */
void manager_feature_found(struct manager *m, enum kernel_feature f);

/* Adds l; with announce, InterfacesAdded goes out at once.  Without it, l
 * is announced by manager_announce_lease(), with what it holds by then, and
 * its property changes before that are not sent: CreateLease and
 * CreateLeaseWithDevices announce right after their reply, the latter with
 * its devices in the one signal.  A lease that ends before it is announced
 * ends without signals: nobody was told of it. */
void manager_add_lease(struct manager *m, struct lease *l, bool announce);
void manager_announce_lease(struct manager *m, struct lease *l);
/* A direct connection closed: the leases it created end. */
void manager_direct_conn_closed(struct manager *m, const struct direct_conn *c);
/* Unlinks and frees l; sends LeaseReleased if it was announced. */
void manager_remove_lease(struct manager *m, struct lease *l, const char *reason);
struct lease *manager_find_lease(struct manager *m, unsigned id);
/* A lease property (Devices, State, MemlockLimit) changed. */
void manager_lease_changed(struct manager *m, struct lease *l, const char *property);

/* Managed devices by address (NULL if absent or not managed). */
struct device *manager_find_managed(struct manager *m, const struct bdf *address);
