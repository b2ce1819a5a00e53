/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * (Not "limits.h": that name is the C library's.)
 *
 * What one user may take of the daemon, so that no tenant can lock others
 * out: leases and devices per uid (limits.leases_per_user, devices_per_user)
 * and per connection, a bus name or a direct connection
 * (leases_per_connection, devices_per_connection; root is counted by
 * neither), and a reserve of the daemon's open files that only
 * root may use.  A lease costs the daemon 2 fds (its iommufd, the owner's
 * pidfd), a device 1 (its cdev file), a dma-buf export or mapping 1.
 */

#include <errno.h>
#include <sys/types.h>

struct lease;
struct lease_owner;
struct manager;

/* Every refusal here; the bus names it org.ccdevd1.Error.LimitExceeded. */
#define LIMIT_EXCEEDED (-EDQUOT)

/* Open files kept for root beyond what other users may use. */
#define LIMITS_FD_RESERVE 64

/* May this owner (uid, connection) create one more lease?  *ret_why names
 * the limit and its key. */
int limits_check_lease(struct manager *m, const struct lease_owner *o, char **ret_why);

/* May l's owner attach one more device, to l or through l's connection? */
int limits_check_device(struct manager *m, const struct lease *l, char **ret_why);

/* ResetDevice: at most limits.resets_per_minute resets of one leased device
 * in a minute, so one tenant's reset storm (each reset holds the event loop
 * while the kernel resets) cannot starve the others.  Counts the reset when
 * it is allowed. */
#define LIMITS_RESET_WINDOW_SEC 60
struct lease_device;
int limits_check_reset(struct lease_device *ld, char **ret_why);

/* Room for `need` more daemon fds (a dma-buf costs one), keeping the
 * reserve unless uid is root? */
int limits_check_fds(uid_t uid, int need, char **ret_why);

/* Raise the soft RLIMIT_NOFILE to the hard one (the unit sets it); logs it. */
void limits_raise_nofile(void);
