/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * ccdevctl's side of org.ccdevd1.Lease.  A struct lease is a lease this
 * process holds: Manager.CreateLease, then Lease.AttachDevice per device,
 * and Release at the end.  ccdevd ties the lease to the process that created
 * it (its bus connection and its pid), so the lease lives as long as this
 * process keeps the bus connection; the fds here are this process's copies,
 * all O_CLOEXEC.  The other functions act on any lease by its path.
 *
 * Like bus-client.h: every function reports its own errors and returns the
 * classified errnos of ctl.h (-ESRCH: no such lease).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "bdf.h"
#include "bus-dmabuf.h"
#include "cleanup.h"

struct leased_device {
	char address[BDF_STRING_MAX]; /* canonical, as ccdevd was asked */
	int fd;                       /* the VFIO cdev */
	uint32_t dev_id, pt_id;       /* 0 and 0 when attached raw */
};

struct lease;

/* Called from the bus's event processing when ccdevd ends the lease
 * (LeaseReleased for it) or the bus connection is lost, once. */
typedef void (*lease_ended_fn)(struct lease *l, const char *reason, void *userdata);

struct lease {
	sd_bus *bus;
	sd_bus_slot *released_slot;   /* match on Manager.LeaseReleased */
	sd_bus_slot *disconnect_slot; /* filter for the local Disconnected */
	char *path;
	int iommufd;
	uint32_t ioas_id;
	struct leased_device *devices;
	size_t n_devices;
	bool released; /* Release() was called */
	bool ended;    /* ccdevd ended it, or the bus is gone */
	lease_ended_fn on_ended;
	void *userdata;
};

/* Subscribe to LeaseReleased, then CreateLeaseWithDevices(addresses, {} or
 * {"bind": false}): one call, the devices in l->devices in that order.  The
 * addresses must be canonical.  on_ended may be NULL. */
int lease_create(sd_bus *bus, char **addresses, bool bind, lease_ended_fn on_ended, void *userdata,
		 struct lease **ret);

/* Close this process's copies of the fds (after handing them on); the
 * lease stays. */
void lease_close_fds(struct lease *l);

/* Close this process's fds (so that ccdevd's teardown finds the devices
 * free), then Release(), unless ccdevd already ended the lease: 0 then too. */
int lease_release(struct lease *l);

/* Release the lease if it is still held (reporting, not returning, a
 * failure), drop the subscriptions, free l. */
void lease_free(struct lease *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct lease *, lease_free);

/* One entry of ListLeases. */
struct lease_info {
	char *path;
	uint32_t owner_uid;
	uint32_t owner_pid;
	char *state;
	uint32_t device_count;
	struct lease_dmabuf dmabuf; /* empty unless bus_read_lease_dmabufs() */
};

struct lease_list {
	struct lease_info *items;
	size_t n;
};

void lease_info_done(struct lease_info *e);
void lease_list_done(struct lease_list *l);

/* ListLeases: every lease for root, the caller's own otherwise. */
int bus_list_leases(sd_bus *bus, struct lease_list *ret);

/* The entry of l for the lease at path; NULL when l does not have it. */
const struct lease_info *lease_list_find(const struct lease_list *l, const char *path);

/* Release() of the lease at path, which need not be this process's. */
int bus_release_lease(sd_bus *bus, const char *path);

/* ResetDevice(address) on the lease at path. */
int bus_reset_device(sd_bus *bus, const char *path, const char *address);

/* BindDevice(address) on the lease at path: bind a device attached with
 * "bind" false (after the VMM added it to its KVM-VFIO device). */
int bus_bind_device(sd_bus *bus, const char *path, const char *address, uint32_t *ret_dev_id,
		    uint32_t *ret_pt_id);
