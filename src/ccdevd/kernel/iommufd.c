/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/ioctl.h>

#include "kernel-uapi.h"
#include "kernel/iommufd.h"

int iommufd_open(void)
{
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int iommufd_ioas_alloc(int iommufd, uint32_t *ret_ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd) < 0)
		return -errno;
	*ret_ioas_id = cmd.out_ioas_id;
	return 0;
}

int iommufd_destroy(int iommufd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(iommufd, IOMMU_DESTROY, &cmd) < 0 ? -errno : 0;
}

int iommufd_set_rlimit_mode_per_process(int iommufd)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = IOMMU_OPTION_RLIMIT_MODE,
		.op = IOMMU_OPTION_OP_SET,
		.val64 = 1,
	};

	return ioctl(iommufd, IOMMU_OPTION, &cmd) < 0 ? -errno : 0;
}

int iommufd_ioas_map_file(int iommufd, uint32_t ioas_id, int fd, uint64_t start,
			  uint64_t length, uint64_t *iova_inout, bool fixed_iova)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
			 (fixed_iova ? IOMMU_IOAS_MAP_FIXED_IOVA : 0),
		.ioas_id = ioas_id,
		.fd = fd,
		.start = start,
		.length = length,
		.iova = fixed_iova ? *iova_inout : 0,
	};

	if (ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &cmd) < 0)
		return -errno;
	*iova_inout = cmd.iova;
	return 0;
}

int iommufd_ioas_unmap(int iommufd, uint32_t ioas_id, uint64_t iova, uint64_t length)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};

	return ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd) < 0 ? -errno : 0;
}

int iommufd_check_ioas(int iommufd, uint32_t ioas_id)
{
	/* With no room for ranges the kernel answers EMSGSIZE for an IOAS
	 * that has some: either answer proves the object is an IOAS. */
	struct iommu_ioas_iova_ranges cmd = { .size = sizeof(cmd), .ioas_id = ioas_id };

	if (ioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, &cmd) == 0 || errno == EMSGSIZE)
		return 0;
	return -errno;
}
