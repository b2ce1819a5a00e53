/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A recording fake of src/ccdevd/kernel/ (fake-kernel.c) and of the inventory
 * (fake-inventory.c), for the unit tests of the lease core.  See the top of
 * fake-kernel.c for the names in the call log.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct device;
struct inventory;

/* ---- the fake sysfs ---- */

/* Forget every device, rule, open file and the call log. */
void fake_reset(void);

/* A PCI function at syspath (its last component is its BDF), now bound to
 * driver ("" for none); host_driver is what drivers_probe binds when no
 * driver_override is set ("" for none). */
void fake_device_add(const char *syspath, const char *driver, const char *host_driver);
/* The admin (not the daemon) bound it to driver. */
void fake_device_set_driver(const char *syspath, const char *driver);
/* Does `reset` work for it (default yes)?  No: the write gives -ENOTTY and
 * its VFIO file has no VFIO_DEVICE_FLAGS_RESET. */
void fake_device_set_function_reset(const char *syspath, bool works);
/* A holder keeps a file of it open: an unbind begun from now on finishes
 * only after fake_device_let_go(). */
void fake_device_set_holder(const char *syspath, bool held);
void fake_device_let_go(const char *syspath);
/* The client bound its own copy of the device's file (raw mode). */
void fake_device_client_bind(const char *syspath);

const char *fake_device_driver(const char *syspath);
const char *fake_device_override(const char *syspath);
/* "/dev/vfio/devices/vfioN" while the cdev exists, else "". */
const char *fake_device_cdev(const char *syspath);
/* Files of the device the fake handed out and that are still open. */
unsigned fake_device_open_files(const char *syspath);
/* Device files of every device still open (device files are only ever
 * closed through vfio_close()). */
unsigned fake_open_files(void);

/* child_start() runs its function at once, in this process; held, it runs
 * only when fake_hold_children(false) lets the children go (a reset or a
 * driver bind that takes its time).  How many have not run yet. */
void fake_hold_children(bool hold);
unsigned fake_children_running(void);

/* Things the real kernel would not have let pass (an unbind of vfio-pci with
 * a file open, which blocks for ever; a close of an fd the fake never gave or
 * closed already; a reset of a device whose file is open).  Each is logged
 * as "VIOLATION: ..." in the call log and counted here. */
unsigned fake_violations(void);

/* ---- failures ---- */

/* Make a call fail with -error: call is a log name ("vfio:bind"), a whole
 * line ("sysfs:override vfio-pci") or either prefixed by the device
 * ("0000:01:00.0 sysfs:reset").  nth: 0 every time from now on, N only the
 * Nth matching call from now on. */
void fake_fail(const char *call, unsigned nth, int error);
void fake_fail_clear(void);

/* ---- the call log ---- */

enum {
	FAKE_LOG_QUERIES = 1 << 0, /* include the calls that only read */
	FAKE_LOG_DEVICE = 1 << 1,  /* prefix each entry with the device's BDF */
};

void fake_log_clear(void);
/* A line of the test's own (a reset hook, say), logged as an action. */
void fake_log_note(const char *device, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The log as "a, b, c" (malloc'ed). */
char *fake_log_string(unsigned flags);
/* How many entries are exactly name (or start with "name "). */
unsigned fake_log_count(const char *name);

/* ---- the inventory (fake-inventory.c) ---- */

struct fake_pci {
	const char *syspath;
	uint16_t vendor_id, device_id;
	uint32_t class_code;
	int iommu_group;
	const char *const *group_members; /* NULL-terminated, NULL: just itself */
	const char *const *reset_methods; /* NULL-terminated */
};

/* Put a device in inv as the udev enumeration would (driver and cdev from the
 * fake sysfs), announced through ->added.  Returns it, or NULL. */
struct device *fake_inventory_add(struct inventory *inv, const struct fake_pci *p);
/* How many times inventory_refresh() ran. */
unsigned fake_inventory_refreshes(void);
