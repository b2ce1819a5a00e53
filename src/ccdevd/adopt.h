/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Re-adoption at start (DESIGN §11): what the last daemon handed out comes
 * back from the fd store and the state file, each fd checked against what
 * its name says, and nothing is trusted that fails:
 *
 *   - a lease whose fds all check out is re-created with the same id, object
 *     path, owner, devices and ids; owner tracking is re-armed from the
 *     stored pidfd and the unique name.  If the owner exited or left the bus
 *     meanwhile, it ends at once, in order.
 *   - a lease with a missing or wrong fd is re-created and ended: its devices
 *     are torn down in order (a device without its file is assumed bound,
 *     and waits for the kernel's proof that no file of it is open).
 *   - a teardown resumes at the step it reached.
 *   - an unusable state file (corrupt, unknown version) is set aside; every
 *     device file the store gives back is torn down, and every managed
 *     device found on vfio-pci goes through the release too: it may be open
 *     in a VM nobody remembers, so it is never reported idle before the
 *     kernel proves it free.
 */

struct manager;

/* Run once at start, with the inventory enumerated and the bus open; sets
 * manager::n_adopted.  Failures are logged; the daemon starts regardless. */
void adopt_run(struct manager *m);

/* The daemon owns its bus name: end the leases adoption could not trust
 * (their LeaseReleased then comes from org.ccdevd1). */
void adopt_finish(struct manager *m);
/* Exit before that: they stay for the next start. */
void adopt_forget(struct manager *m);
