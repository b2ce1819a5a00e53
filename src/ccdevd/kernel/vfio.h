/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Thin wrappers over the VFIO device cdev UAPI.  Each returns 0 (or an fd)
 * or a negative errno; no policy here.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int vfio_cdev_open(const char *path);
int vfio_bind_iommufd(int device_fd, int iommufd, uint32_t *ret_dev_id);
int vfio_attach_pt(int device_fd, uint32_t pt_id);
int vfio_detach_pt(int device_fd);
/* VFIO_DEVICE_GET_INFO flags (VFIO_DEVICE_FLAGS_*). */
int vfio_device_flags(int device_fd, uint32_t *ret_flags);
int vfio_reset(int device_fd);
/* VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: the flags (VFIO_PCI_HOT_RESET_FLAG_*)
 * and how many devices the hot reset would affect. */
int vfio_hot_reset_info(int device_fd, uint32_t *ret_flags, uint32_t *ret_count);
/* VFIO_DEVICE_PCI_HOT_RESET with an empty fd array (cdev/iommufd style). */
int vfio_hot_reset(int device_fd);
/* Close a device file (the kernel unbinds it from its iommufd on the last
 * close).  Always returns -1, for `fd = vfio_close(fd)`. */
int vfio_close(int device_fd);
/* Does the bound device support VFIO_DEVICE_FEATURE_DMA_BUF export? */
int vfio_probe_dma_buf_export(int device_fd);
/* VFIO_DEVICE_GET_REGION_INFO: a region's size (0: the BAR is not
 * implemented) and its VFIO_REGION_INFO_FLAG_* flags. */
int vfio_region_info(int device_fd, uint32_t index, uint64_t *ret_size, uint32_t *ret_flags);
/* One (offset, length) slice of a region, as VFIO_DEVICE_FEATURE_DMA_BUF takes it. */
struct vfio_dma_slice {
	uint64_t offset, length;
};
/* VFIO_DEVICE_FEATURE_DMA_BUF: a dma-buf fd (O_RDWR | O_CLOEXEC) of the
 * concatenated slices of BAR region, or a negative errno. */
int vfio_export_dma_buf(int device_fd, uint32_t region, const struct vfio_dma_slice *slices, size_t n);
/* Is fd a file of the character device rdev (a VFIO cdev's number, from
 * sysfs)?  0, or -ENODEV. */
int vfio_cdev_check(int device_fd, dev_t rdev);
