/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one reset path (DESIGN §5 rule 5, §10).  A device is reset by a function
 * reset when it has one, otherwise by a hot reset of its whole reset set
 * (group.h).  Hooks run before and after, over every attachment the reset
 * touches (dma-buf revoke and re-map, TDI unbind plug in here).
 *
 * Two doors, one plan:
 *  - reset_attached(): a device of an active lease, through its bound VFIO
 *    file (VFIO_DEVICE_RESET, or VFIO_DEVICE_PCI_HOT_RESET, which the kernel
 *    allows only when every open device of the set belongs to the file's
 *    iommufd);
 *  - reset_released(): a device that no file is open for any more (the
 *    teardown, after the proof of release), through sysfs: `reset`, or the
 *    bridge's `reset_subordinate` once every device of the set is free.
 */

#include <stdbool.h>

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

/* Reset a leased device on its owner's request.  *ret_why on failure. */
int reset_attached(struct manager *m, struct lease_device *ld, char **ret_why);

/* reset_released()'s answer while a device of the set is still on its way
 * to being free (its teardown has not proven its release yet). */
#define RESET_SET_PENDING (-EINPROGRESS)

/*
 * Reset d, which no file is open for.  *ret_method says which reset was
 * done ("function reset", "hot reset of the reset set (...) below BRIDGE").
 * A hot reset needs every other device of the set free (not leased, no host
 * driver, not in the middle of a teardown before its reset): pending ones
 * give RESET_SET_PENDING, others an error naming the device in *ret_why.
 * On success, devices of the set waiting in their teardown's reset step are
 * reset too: `also` (may be NULL) is called for each of them.
 */
int reset_released(struct manager *m, struct device *d, char **ret_method, char **ret_why,
		   void (*also)(struct manager *m, struct device *member));
