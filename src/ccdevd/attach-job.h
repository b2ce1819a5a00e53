/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Attaching devices whose claim can be slow, off the event loop.  Taking a
 * device from its host driver means that driver's unbind and vfio-pci's
 * probe, which the kernel may take its time over; the claim runs in a
 * worker (worker.h) and the attach goes on from the loop when it ends.
 * Meanwhile the device is reserved (device::claim_job): another attach of
 * it is DeviceBusy, and it counts as another owner's in its group and
 * reset set.  The devices are attached in the order given; each one
 * already on vfio-pci at once, each other one after its claim.
 *
 * If the lease ends meanwhile, or the open, bind or attach after the claim
 * fails, the call fails; a claim already done is undone (the host driver
 * restored, in a worker too) before the device is free again.  If the
 * device leaves the bus, the call fails.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bdf.h"

struct device;
struct lease;
struct manager;

/* Called once, from the loop: r < 0 with what failed (what, why) and l
 * NULL if the lease ended, or 0 with every device attached to l. */
typedef void (*attach_job_done_fn)(struct lease *l, int r, const char *what, const char *why, void *userdata);

/* Is d being claimed for a lease not of owner_uid (or for one that ended)? */
bool attach_job_foreign(const struct device *d, uid_t owner_uid);

/* Restart state: the worker moving d between drivers for an attach (its
 * claim, or giving it back), 0: none. */
pid_t attach_job_worker_pid(const struct device *d);

/* Does attaching d take a claim (d is not on vfio-pci)? */
bool attach_needs_claim(const struct device *d);

/* The inventory follows uevents, which may not be in yet for a driver
 * change made just before: d as its driver link shows it now (refreshed if
 * the two differ), so that a claim runs in a worker and knows the host
 * driver to give the device back to.  NULL: a refresh found it gone. */
struct device *attach_current(struct manager *m, struct device *d);

/* Attach bdfs[0..n) to l in order.  0: done() will be called, at once
 * (before this returns) for a refusal; < 0: nothing started (no memory). */
int attach_job_start(struct lease *l, const struct bdf *bdfs, size_t n, bool raw, attach_job_done_fn done,
		     void *userdata);

/* lease_end(): the jobs of l fail ("the lease ended"). */
void attach_jobs_lease_ended(struct lease *l, const char *reason);

/* d left the bus: a job claiming it fails. */
void attach_jobs_device_removed(struct manager *m, struct device *d);

/* At exit: stop waiting for every claim (the workers go on alone). */
void attach_jobs_free(struct manager *m);
