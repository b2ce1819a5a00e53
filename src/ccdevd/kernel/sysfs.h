/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Thin wrappers over the PCI driver-binding files in sysfs.  syspath is
 * always the device's path as udev reported it, never anything a client
 * supplied.  Each returns 0 or a negative errno; no policy here.
 */

#include <stddef.h>

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
