/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM tier's shared TAP diagnostics, ioctl wrapper and sysfs helpers. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cleanup.h"
#include "kernel-uapi.h"
#include "vmtest.h"

int fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	va_end(ap);
	if (err)
		printf(": %s (errno %d)", strerror(err), err);
	putchar('\n');
	return -1;
}

int do_ioctl(int fd, unsigned long req, void *argp, const char *name)
{
	int r = ioctl(fd, req, argp);
	if (r < 0)
		return fail(errno, "%s failed", name);
	return r;
}

unsigned long pci_attr(const char *bdf, const char *attr)
{
	char path[PATH_MAX], val[32];
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", bdf, attr);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, val, sizeof(val) - 1);
	if (n <= 0)
		return ~0UL;
	val[n] = '\0';
	return strtoul(val, NULL, 16);
}

int ioas_map(int iommufd, uint32_t ioas_id, void *va, uint64_t length, uint64_t iova)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map), .ioas_id = ioas_id,
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.user_va = (uintptr_t)va, .length = length, .iova = iova,
	};
	return IOCTL(iommufd, IOMMU_IOAS_MAP, &map);
}

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4

int vfio_enable_bus_master(int fd, uint64_t cfg_offset, const char *bdf)
{
	const char *of = bdf ? " of " : "";
	uint16_t cmd;

	if (!bdf)
		bdf = "";
	if (pread(fd, &cmd, sizeof(cmd), (off_t)(cfg_offset + PCI_COMMAND)) != sizeof(cmd))
		return fail(errno, "pread PCI_COMMAND%s%s", of, bdf);
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(fd, &cmd, sizeof(cmd), (off_t)(cfg_offset + PCI_COMMAND)) != sizeof(cmd))
		return fail(errno, "pwrite PCI_COMMAND%s%s", of, bdf);
	return 0;
}

int vfio_mmap_bar0(int fd, const char *what, volatile uint8_t **bar0, uint64_t *size)
{
	struct vfio_region_info reg = { .argsz = sizeof(reg), .index = VFIO_PCI_BAR0_REGION_INDEX };

	if (IOCTL(fd, VFIO_DEVICE_GET_REGION_INFO, &reg) < 0)
		return -1;
	if (!(reg.flags & VFIO_REGION_INFO_FLAG_MMAP) || reg.size == 0)
		return fail(0, "%s: flags %#x size %llu, not mmappable", what, reg.flags,
			    (unsigned long long)reg.size);
	void *p = mmap(NULL, reg.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)reg.offset);
	if (p == MAP_FAILED)
		return fail(errno, "mmap %s", what);
	*bar0 = p;
	*size = reg.size;
	return 0;
}
