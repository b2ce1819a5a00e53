/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernel/vfio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "kernel-uapi.h"

int vfio_cdev_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int vfio_bind_iommufd(int device_fd, int iommufd, uint32_t *ret_dev_id)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = iommufd,
	};

	if (ioctl(device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0)
		return -errno;
	*ret_dev_id = bind.out_devid;
	return 0;
}

int vfio_attach_pt(int device_fd, uint32_t pt_id)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
		.pt_id = pt_id,
	};

	return ioctl(device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0 ? -errno : 0;
}

int vfio_detach_pt(int device_fd)
{
	struct vfio_device_detach_iommufd_pt detach = { .argsz = sizeof(detach) };

	return ioctl(device_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach) < 0 ? -errno : 0;
}

int vfio_device_flags(int device_fd, uint32_t *ret_flags)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(device_fd, VFIO_DEVICE_GET_INFO, &info) < 0)
		return -errno;
	*ret_flags = info.flags;
	return 0;
}

int vfio_reset(int device_fd)
{
	return ioctl(device_fd, VFIO_DEVICE_RESET) < 0 ? -errno : 0;
}

int vfio_hot_reset_info(int device_fd, uint32_t *ret_flags, uint32_t *ret_count)
{
	_cleanup_free_ struct vfio_pci_hot_reset_info *info = NULL;
	uint32_t count = 8;

	for (;;) {
		size_t size = sizeof(*info) + count * sizeof(struct vfio_pci_dependent_device);

		free(info);
		info = calloc(1, size);
		if (!info)
			return -ENOMEM;
		info->argsz = (uint32_t)size;
		if (ioctl(device_fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info) == 0)
			break;
		/* ENOSPC: the set is larger; count says how large. */
		if (errno != ENOSPC || info->count <= count)
			return -errno;
		count = info->count;
	}
	*ret_flags = info->flags;
	*ret_count = info->count;
	return 0;
}

int vfio_hot_reset(int device_fd)
{
	struct vfio_pci_hot_reset reset = { .argsz = sizeof(reset) };

	return ioctl(device_fd, VFIO_DEVICE_PCI_HOT_RESET, &reset) < 0 ? -errno : 0;
}

int vfio_close(int device_fd)
{
	return safe_close(device_fd);
}

int vfio_probe_dma_buf_export(int device_fd)
{
	struct vfio_device_feature probe = {
		.argsz = sizeof(probe),
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF,
	};

	return ioctl(device_fd, VFIO_DEVICE_FEATURE, &probe) < 0 ? -errno : 0;
}

int vfio_cdev_check(int device_fd, dev_t rdev)
{
	struct stat st;

	if (fstat(device_fd, &st) < 0)
		return -errno;
	return S_ISCHR(st.st_mode) && st.st_rdev == rdev ? 0 : -ENODEV;
}

int vfio_region_info(int device_fd, uint32_t index, uint64_t *ret_size, uint32_t *ret_flags)
{
	struct vfio_region_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, &info) < 0)
		return -errno;
	*ret_size = info.size;
	*ret_flags = info.flags;
	return 0;
}

int vfio_export_dma_buf(int device_fd, uint32_t region, const struct vfio_dma_slice *slices, size_t n)
{
	size_t size = sizeof(struct vfio_device_feature) + sizeof(struct vfio_device_feature_dma_buf) +
		      n * sizeof(struct vfio_region_dma_range);
	_cleanup_free_ struct vfio_device_feature *feature = calloc(1, size);
	struct vfio_device_feature_dma_buf *req;
	int fd;

	if (!feature)
		return -ENOMEM;
	feature->argsz = (uint32_t)size;
	feature->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	req = (struct vfio_device_feature_dma_buf *)feature->data;
	req->region_index = region;
	req->open_flags = O_RDWR | O_CLOEXEC;
	req->nr_ranges = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		req->dma_ranges[i] = (struct vfio_region_dma_range){ .offset = slices[i].offset,
								     .length = slices[i].length };
	fd = ioctl(device_fd, VFIO_DEVICE_FEATURE, feature);
	return fd < 0 ? -errno : fd;
}
