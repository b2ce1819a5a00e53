/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one reset path (DESIGN §5 rule 5, §10).  A device is reset by a function
 * reset when it has one, otherwise by a hot reset of its whole reset set
 * (group.h).  Hooks run before and after, over every attachment the reset
 * touches (dma-buf revoke and re-map, TDI unbind plug in here).
 *
 * Two doors, one plan:
 *  - reset_attached_start(): a device of an active lease, through its bound VFIO
 *    file (VFIO_DEVICE_RESET, or VFIO_DEVICE_PCI_HOT_RESET, which the kernel
 *    allows only when every open device of the set belongs to the file's
 *    iommufd);
 *  - reset_released_plan() and the rest below: a device that no file is
 *    open for any more (the teardown, after the proof of release), through
 *    sysfs: `reset`, or the bridge's `reset_subordinate` once every device
 *    of the set is free.
 */

#include <errno.h>
#include <stdbool.h>

#include "bdf.h"
#include "group.h"

struct device;
struct lease_device;
struct manager;

struct reset_hook {
	const char *name;
	void (*before)(struct lease_device *ld, void *userdata);
	/* r: the reset's result. */
	void (*after)(struct lease_device *ld, int r, void *userdata);
	void *userdata;
};

/* Hooks run in the order added, "after" hooks in reverse.  At most 8. */
int reset_add_hook(const struct reset_hook *hook);
void reset_remove_hooks(void);

/* A reset on its owner's request ended: r and, on failure, why. */
typedef void (*reset_done_fn)(int r, const char *why, void *userdata);

/*
 * Reset a leased device on its owner's request.  The checks are made and
 * the hooks run before at once; the ioctl runs in a worker (worker.h) and
 * done() is called from the loop after the hooks after.  Returns 0 once
 * begun, or a negative errno with *ret_why (nothing begun, done() never
 * called).  While it runs ld->reset is set.
 */
int reset_attached_start(struct manager *m, struct lease_device *ld, reset_done_fn done, void *userdata,
			 char **ret_why);
/* ld leaves its lease while its reset runs: done() is called with
 * -ECANCELED now, the rest of its set's hooks after too. */
void reset_attached_cancel(struct lease_device *ld);

/* reset_released_plan_hot()'s answer while a device of the set is still on
 * its way to being free (its teardown has not proven its release yet). */
#define RESET_SET_PENDING (-EINPROGRESS)
/* reset_released_done()'s answer, after a function reset, when d has none
 * of its own: plan the hot reset of its set next.  (After a hot reset the
 * same value is that reset's failure.) */
#define RESET_NEEDS_HOT (-ENOTTY)

/*
 * The reset of a device that no file is open for, in three parts so that
 * the sysfs write runs in a worker (worker.h), off the event loop:
 *
 *   reset_released_plan()      the function reset (`reset`) of d
 *   reset_released_plan_hot()  after RESET_NEEDS_HOT: the hot reset of d's
 *                              set (the bridge's `reset_subordinate`), which
 *                              needs every other device of the set free (not
 *                              leased, no host driver, not before its reset
 *                              in a teardown): pending ones give
 *                              RESET_SET_PENDING, others an error naming the
 *                              device in *ret_why
 *   reset_job_run()            in the worker: the write
 *   reset_released_done()      back on the loop: the hooks after, which
 *                              reset was done (*ret_method), and for a hot
 *                              reset `also` (may be NULL) for each device of
 *                              the set waiting in its teardown's reset step
 *
 * The hooks run before the write (in the plan) and after it (in done).
 */
struct reset_job {
	bool hot;
	size_t n;
	struct bdf set[RESET_SET_MAX]; /* set[0] is the device */
	char path[4096];               /* its syspath, or the bridge's */
	char names[RESET_SET_MAX * 16];
};

void reset_released_plan(struct device *d, struct reset_job *job);
int reset_released_plan_hot(struct manager *m, struct device *d, struct reset_job *job, char **ret_why);
int reset_job_run(void *job);
int reset_released_done(struct manager *m, const struct reset_job *job, int r, char **ret_method,
			char **ret_why, void (*also)(struct manager *m, struct device *member));
