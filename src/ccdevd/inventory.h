/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The inventory: every PCI function on the host except bridges, found and
 * kept current through libudev (enumeration at start, then the udev monitor
 * on the event loop: add, remove, bind, unbind, change; and the removal of
 * VFIO cdev nodes, subsystem vfio-dev).  Devices are found
 * only here, never from a client-supplied path.  Whether a device is managed
 * is the manager's business, told through the callbacks.
 */

#include <stddef.h>
#include <systemd/sd-event.h>

#include "bdf.h"
#include "device.h"

struct inventory;

struct inventory_callbacks {
	void (*added)(struct device *d, void *userdata);
	void (*changed)(struct device *d, unsigned changed_mask, void *userdata);
	/* Called before the device is freed. */
	void (*removed)(struct device *d, void *userdata);
	/* Its VFIO cdev node went away: vfio-pci is being unbound from it (by
	 * the daemon's own teardown, a hot unplug or the administrator); the
	 * kernel removes the node first, then waits for every file to close. */
	void (*vfio_node_gone)(struct device *d, void *userdata);
};

int inventory_new(sd_event *event, const struct inventory_callbacks *cb, void *userdata,
		  struct inventory **ret);
struct inventory *inventory_free(struct inventory *inv);

/* Initial scan; announces each device through ->added. */
int inventory_enumerate(struct inventory *inv);

struct device *inventory_find(struct inventory *inv, const struct bdf *address);

/* All devices, sorted by address. */
struct device *const *inventory_devices(struct inventory *inv, size_t *ret_n);

/* Re-read one device from sysfs now (e.g. after the daemon's own writes),
 * reporting changes through ->changed. */
int inventory_refresh(struct inventory *inv, struct device *d);
