/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Thin wrappers over the PCI driver-binding files in sysfs.  syspath is
 * always the device's path as udev reported it, never anything a client
 * supplied.  Each returns 0 or a negative errno; no policy here.
 */

#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

/* Is the device still in sysfs (not removed from the bus)? */
bool sysfs_device_present(const char *syspath);

/* The bound driver's name into buf ("" when unbound). */
int sysfs_read_driver(const char *syspath, char *buf, size_t size);
/* Write driver_override; "" clears it. */
int sysfs_set_driver_override(const char *syspath, const char *driver);
/* Unbind from whatever driver is bound (no-op when unbound). */
int sysfs_unbind(const char *syspath, const char *name);
/* Ask the PCI core to probe drivers for the device (/sys/bus/pci/drivers_probe). */
int sysfs_drivers_probe(const char *name);
/* "/dev/vfio/devices/vfioN" of a vfio-pci bound device into buf. */
int sysfs_vfio_cdev_path(const char *syspath, char *buf, size_t size);
/* The VFIO cdev's device number (vfio-dev/vfioN/dev), to recognise its files. */
int sysfs_vfio_cdev_devnum(const char *syspath, dev_t *ret);
/* PCI function reset of an unbound device (`reset`): the kernel's
 * pci_reset_function(), whose result the write returns. */
int sysfs_reset_function(const char *syspath);
/* Secondary bus reset below a bridge (`reset_subordinate`, CAP_SYS_ADMIN). */
int sysfs_reset_subordinate(const char *bridge_syspath);

/*
 * Unbinding vfio-pci blocks in the kernel for as long as vfio-pci waits (until
 * every file of the device is closed), so it runs in a child process.  It
 * writes to vfio-pci's own unbind file, not through the device's driver
 * link: an unbind or removal already under way drops the link before it
 * waits, and the child's write then waits for the device lock that one
 * holds.  Not bound to vfio-pci (any more) counts as unbound.  The child is
 * kernel/child.h's: returns a pidfd, readable once it has exited, and its
 * pid; sysfs_unbind_finish() reaps it and returns the unbind's result.
 */
int sysfs_unbind_start(const char *syspath, const char *name, pid_t *ret_pid);
int sysfs_unbind_finish(int pidfd, pid_t pid);
