/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Helpers shared by the VM tier's C test programs (env-proof, lease-client),
 * which run in the guest and print TAP: diagnostics as TAP comments, an
 * ioctl() that names its request on failure, PCI attributes from sysfs, an
 * IOAS mapping, and a VFIO PCI device's bus mastering and BAR0 mmap.  Every
 * helper that can fail prints one "# ..." line and returns -1, which a step
 * passes on.
 */

#include <stdint.h>

#define PCI_DEVICES "/sys/bus/pci/devices"

/* Prints "# <fmt>" and, for a non-zero err, ": <strerror> (errno N)"; returns -1. */
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ioctl() that names the request and the errno on failure. */
#define IOCTL(fd, req, argp) do_ioctl((fd), (req), (argp), #req)
int do_ioctl(int fd, unsigned long req, void *argp, const char *name);

/* A sysfs attribute of a PCI device read as a hex number; ~0 if unreadable. */
unsigned long pci_attr(const char *bdf, const char *attr);

/* IOMMU_IOAS_MAP of [va, va + length) at the fixed iova, readable and writeable. */
int ioas_map(int iommufd, uint32_t ioas_id, void *va, uint64_t length, uint64_t iova);

/*
 * Memory decoding and bus mastering on, through the VFIO config region at
 * cfg_offset of the device fd.  bdf, when not NULL, names the device in the
 * diagnostics.
 */
int vfio_enable_bus_master(int fd, uint64_t cfg_offset, const char *bdf);

/*
 * Region info of BAR0 (it must be mmappable and not empty), then mmap it
 * shared, read-write: *bar0 and *size on success.  what ("BAR0", "edu BAR0")
 * names it in the diagnostics.  The mapping holds the device file: munmap it
 * before expecting the device to be released.
 */
int vfio_mmap_bar0(int fd, const char *what, volatile uint8_t **bar0, uint64_t *size);
