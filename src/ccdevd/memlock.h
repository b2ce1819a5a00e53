/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Pinned-memory quotas (DESIGN §7).  A lease's iommufd charges the pages its
 * owner maps to the owner process's own RLIMIT_MEMLOCK, so ccdevd raises that
 * limit by what the configuration grants each attached device (a rule's
 * memlock_mib): a lease's share is the sum over its devices, and the owner
 * process's soft limit is the sum of the shares of every lease it owns, never
 * below the limit it had before ccdevd first raised it.  Detaching a device or
 * ending a lease lowers the limit by that share only; at zero the original
 * limit comes back.  A child the VMM forks inherits whatever the limit is then.
 */

#include <stddef.h>
#include <stdint.h>

#include "user-limits.h"

struct lease;
struct manager;

/* May l's owner be granted quota more?  Checks the per-uid total
 * (limits.memlock_mib_per_user); LIMIT_EXCEEDED with *ret_why if not. */
int memlock_check(const struct lease *l, uint64_t quota, char **ret_why);

/* Add quota to l's share / take it back, and apply the owner process's sum. */
void memlock_grant(struct lease *l, uint64_t quota);
void memlock_return(struct lease *l, uint64_t quota);

/* Restart state: the limits saved before ccdevd raised them. */
struct saved_memlock;
int memlock_export(struct manager *m, struct saved_memlock **ret, size_t *ret_n);
/* Adoption: the owner pid had limit (cur, max) before ccdevd raised it. */
int memlock_import(struct manager *m, const struct saved_memlock *s);

/* Daemon exit: forget the saved limits (the VMMs keep what they have). */
void memlock_forget(struct manager *m);
