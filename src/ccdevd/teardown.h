/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The ordered teardown of a device leaving a lease, the one place it lives
 * (DESIGN §5 rule 7, §10), whether the lease was released, its owner crashed
 * or the owner detached the device:
 *
 *   detach   undo the kernel objects of the attach (attach_undo_kernel())
 *   release  unbind vfio-pci in a child process; once the cdev node is gone
 *            close the daemon's file.  The unbind completes only when every
 *            file of the device is closed: that is the kernel's proof that no
 *            tenant keeps access.  While a holder keeps it open the device is
 *            "releasing" and StateReason names the holders.  Because the
 *            unbind holds the device lock, the last close does not reset the
 *            device and a holder's unbound file can no longer bind.
 *   reset    one reset, after the proof (reset.h, in a worker): a file that was
 *            never bound gave nobody access and needs none
 *   driver   the release policy: the original host driver, or vfio-pci again
 *
 * Nothing of it blocks the event loop: the release child's exit and the
 * cdev node's removal are watched from the loop, and the reset and the
 * driver run in workers (worker.h).
 *
 * A step that fails quarantines the device (StateReason, journal) and is
 * retried with backoff (1 s doubling to 16 s); the device is never handed
 * out before every step succeeded.  A device waits before "driver" while a
 * device of its IOMMU group or reset set is still before that step, and a
 * hot reset waits for every device of the set to be released.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "device.h"
#include "kernel/proc.h"

struct device;
struct lease_device;
struct manager;

/* Take ld's file and begin: detach, then start the release.  Returns the
 * device (its teardown goes on from the event loop), or NULL when it left
 * the bus. */
struct device *teardown_begin(struct manager *m, struct lease_device *ld, const char *reason);

/* Is d's teardown at rest: done, or waiting for something that is not its
 * own step at work (a holder to close the device after the first 2 s of the
 * release, a retry after a failure, a device of its group, a worker slower
 * than 10 s)?  Release and DetachDevice reply once their devices rest
 * (bus-reply.h), so a client still sees the outcome in its answer while the
 * event loop, not the method, does the waiting. */
bool teardown_resting(const struct device *d);

/* ForceRelease: SIGKILL the processes holding d's file while its release
 * waits.  Returns how many were killed (their pid and comm in killed), or
 * TEARDOWN_NOT_WAITING, or another negative errno with *ret_why. */
#define TEARDOWN_NOT_WAITING (-EALREADY)
int teardown_force(struct device *d, struct fd_holder *killed, size_t max, char **ret_why);

/* Restart state: would the reset step reset d (was its file bound)? */
bool teardown_file_bound(const struct device *d);
/* Restart state: the release child waiting for d's last file, 0: none. */
pid_t teardown_release_pid(const struct device *d);
/* Restart state: the worker of d's reset or driver step (or a previous
 * daemon's, still waited for), 0: none. */
pid_t teardown_worker_pid(const struct device *d);

/* Adoption after a restart: d's teardown, recorded at step, exists again
 * (releasing, with reason); teardown_go() carries every resumed one on,
 * releases first.  A release child of the previous daemon still waiting
 * (KillMode=process leaves it) is waited for; else the release begins
 * again (each step is idempotent).  So is a worker of the previous daemon
 * still running the step (worker_pid: its reset, its driver bind, or an
 * attach's claim): the step begins again once it has ended, never beside
 * it. */
int teardown_resume(struct manager *m, struct device *d, enum teardown_step step, bool file_bound,
		    pid_t release_pid, pid_t worker_pid, const char *reason);
void teardown_go(struct manager *m, struct device **devices, size_t n);

/* The device leaves the bus, or the daemon exits: stop its teardown (a
 * release child still running is reaped when it ends). */
void teardown_abandon(struct manager *m, struct device *d);
