/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * env-proof: the VM tier's first test.  Run as root in the guest booted by
 * test/vm/run; it proves, against the real kernel, everything ccdevd relies
 * on: rebinding PCI devices to vfio-pci through driver_override (checked by
 * read-back), VFIO cdevs bound to an iommufd and attached to one IOAS, BAR
 * mmap, edu DMA through the emulated VT-d (data arrives when mapped, does
 * NOT arrive once unmapped), VFIO dma-buf export of a BAR and its
 * IOMMU_IOAS_MAP_FILE, VFIO_DEVICE_RESET, and the return of the host
 * drivers.  Output is TAP; the first failing step stops the run (later steps
 * depend on it) and the exit status is non-zero.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "edu.h"
#include "kernel-uapi.h"
#include "vmtest.h"

#define DMABUF_IOVA 0x8000000ULL

struct dev {
	const char *name;
	unsigned vendor, device;
	bool single_function;
	char bdf[256];
	char orig_driver[256];
	int fd;
	uint32_t devid;
};

static struct dev devs[] = {
	{ .name = "edu", .vendor = 0x1234, .device = 0x11e8, .fd = -1 },
	/* the single-function one: the 2-function e1000e is for other tests */
	{ .name = "e1000e", .vendor = 0x8086, .device = 0x10d3, .single_function = true, .fd = -1 },
	{ .name = "nvme", .vendor = 0x1b36, .device = 0x0010, .fd = -1 },
};
#define EDU (&devs[0])

static int iommufd = -1, dmabuf_fd = -1;
static uint32_t ioas_id;
static volatile uint8_t *bar0;
static uint64_t bar0_size;
static uint8_t *buf;

static int sysfs_write(const char *path, const char *value)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open %s", path);
	if (write(fd, value, strlen(value)) < 0)
		return fail(errno, "write '%.*s' to %s", (int)strcspn(value, "\n"), value, path);
	return 0;
}

/* The bound driver's name, or "" when the device has none. */
static void current_driver(const char *bdf, char *out, size_t size)
{
	char path[PATH_MAX], target[256];
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", bdf);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		out[0] = '\0';
		return;
	}
	target[n] = '\0';
	const char *slash = strrchr(target, '/');
	snprintf(out, size, "%s", slash ? slash + 1 : target);
}

/* driver_override + unbind + drivers_probe, then require the read-back. */
static int rebind(const char *bdf, const char *override, const char *want)
{
	char path[PATH_MAX], drv[256];
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", bdf);
	if (sysfs_write(path, override) < 0)
		return -1;
	current_driver(bdf, drv, sizeof(drv));
	if (strcmp(drv, want) == 0)
		return 0;
	if (drv[0]) {
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver/unbind", bdf);
		if (sysfs_write(path, bdf) < 0)
			return -1;
	}
	if (sysfs_write("/sys/bus/pci/drivers_probe", bdf) < 0)
		return -1;
	current_driver(bdf, drv, sizeof(drv));
	if (strcmp(drv, want) != 0)
		return fail(0, "%s: driver is '%s' after probe, want '%s'", bdf, drv, want);
	return 0;
}

static int find_device(struct dev *d)
{
	DIR *dir = opendir(PCI_DEVICES);
	struct dirent *de;
	if (!dir)
		return fail(errno, "opendir " PCI_DEVICES);
	while ((de = readdir(dir))) {
		if (pci_attr(de->d_name, "vendor") != d->vendor ||
		    pci_attr(de->d_name, "device") != d->device)
			continue;
		if (d->single_function) {
			/* dddd:bb:ss.f: skip any function of a multi-function slot */
			char sib[PATH_MAX];
			size_t len = strlen(de->d_name);
			snprintf(sib, sizeof(sib), PCI_DEVICES "/%.*s1", (int)len - 1, de->d_name);
			if (de->d_name[len - 1] != '0' || access(sib, F_OK) == 0)
				continue;
		}
		snprintf(d->bdf, sizeof(d->bdf), "%s", de->d_name);
		break;
	}
	closedir(dir);
	if (!d->bdf[0])
		return fail(0, "no %s (%04x:%04x) in " PCI_DEVICES, d->name, d->vendor, d->device);
	current_driver(d->bdf, d->orig_driver, sizeof(d->orig_driver));
	printf("# %s at %s, driver '%s'\n", d->name, d->bdf, d->orig_driver);
	return 0;
}

static int ioas_map_buf(void)
{
	return ioas_map(iommufd, ioas_id, buf, BUF_SIZE, DMA_IOVA);
}

static int ioas_unmap(uint64_t iova, uint64_t length)
{
	struct iommu_ioas_unmap unmap = { .size = sizeof(unmap), .ioas_id = ioas_id,
					  .iova = iova, .length = length };
	if (IOCTL(iommufd, IOMMU_IOAS_UNMAP, &unmap) < 0)
		return -1;
	if (unmap.length != length)
		return fail(0, "IOMMU_IOAS_UNMAP unmapped %llu bytes, want %" PRIu64,
			    (unsigned long long)unmap.length, length);
	return 0;
}

/* ---- the steps ---- */

static int step_modules(void)
{
	if (access("/dev/iommu", F_OK) == 0 && access("/sys/bus/pci/drivers/vfio-pci", F_OK) == 0)
		return 0;
	int r = system("modprobe -a iommufd vfio-pci");
	if (r == -1 || !WIFEXITED(r) || WEXITSTATUS(r) != 0)
		return fail(0, "'modprobe -a iommufd vfio-pci' failed (wait status %#x)", r);
	if (access("/dev/iommu", F_OK) < 0)
		return fail(errno, "/dev/iommu");
	if (access("/sys/bus/pci/drivers/vfio-pci", F_OK) < 0)
		return fail(errno, "vfio-pci driver");
	return 0;
}

static int step_bind_vfio(void)
{
	for (size_t i = 0; i < ELEMENTSOF(devs); i++)
		if (find_device(&devs[i]) < 0 || rebind(devs[i].bdf, "vfio-pci", "vfio-pci") < 0)
			return fail(0, "binding %s to vfio-pci failed", devs[i].name);
	return 0;
}

static int step_open(void)
{
	for (size_t i = 0; i < ELEMENTSOF(devs); i++) {
		char path[PATH_MAX] = "";
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/vfio-dev", devs[i].bdf);
		DIR *dir = opendir(path);
		if (!dir)
			return fail(errno, "opendir %s", path);
		struct dirent *de;
		while ((de = readdir(dir)) && strncmp(de->d_name, "vfio", 4) != 0)
			;
		if (de)
			snprintf(path, sizeof(path), "/dev/vfio/devices/%s", de->d_name);
		closedir(dir);
		if (!de)
			return fail(0, "no vfioN under %s/vfio-dev", devs[i].bdf);
		devs[i].fd = open(path, O_RDWR | O_CLOEXEC);
		if (devs[i].fd < 0)
			return fail(errno, "open %s", path);
		printf("# %s: %s\n", devs[i].name, path);
	}
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		return fail(errno, "open /dev/iommu");
	return 0;
}

static int step_iommufd(void)
{
	struct iommu_option opt = { .size = sizeof(opt), .option_id = IOMMU_OPTION_RLIMIT_MODE,
				    .op = IOMMU_OPTION_OP_SET, .val64 = 1 };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	if (IOCTL(iommufd, IOMMU_OPTION, &opt) < 0 || IOCTL(iommufd, IOMMU_IOAS_ALLOC, &alloc) < 0)
		return -1;
	ioas_id = alloc.out_ioas_id;
	for (size_t i = 0; i < ELEMENTSOF(devs); i++) {
		struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = iommufd };
		struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach), .pt_id = ioas_id };
		if (IOCTL(devs[i].fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0)
			return fail(0, "  (on %s)", devs[i].name);
		if (bind.out_devid == 0)
			return fail(0, "VFIO_DEVICE_BIND_IOMMUFD: %s got devid 0", devs[i].name);
		devs[i].devid = bind.out_devid;
		if (IOCTL(devs[i].fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0)
			return fail(0, "  (on %s)", devs[i].name);
		printf("# %s: devid %u attached to IOAS %u\n", devs[i].name, devs[i].devid, ioas_id);
	}
	return 0;
}

static int step_info_mmap(void)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };

	if (IOCTL(EDU->fd, VFIO_DEVICE_GET_INFO, &info) < 0)
		return -1;
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) || !(info.flags & VFIO_DEVICE_FLAGS_RESET))
		return fail(0, "edu device flags %#x lack PCI and/or RESET", info.flags);
	if (IOCTL(EDU->fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0 ||
	    vfio_enable_bus_master(EDU->fd, cfg.offset, NULL) < 0 ||
	    vfio_mmap_bar0(EDU->fd, "edu BAR0", &bar0, &bar0_size) < 0)
		return -1;
	printf("# edu: %u regions, %u irqs, BAR0 %" PRIu64 " bytes\n", info.num_regions,
	       info.num_irqs, bar0_size);
	return 0;
}

static int step_edu_regs(void)
{
	uint32_t ident = edu_read32(bar0, EDU_IDENT);
	if (ident != EDU_IDENT_VALUE)
		return fail(0, "edu ident %#x, want 0x010000ed", ident);
	return edu_liveness(bar0, 0x12345678) < 0 || edu_liveness(bar0, 0xcafe0001) < 0 ? -1 : 0;
}

static int step_dma(void)
{
	void *p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return fail(errno, "mmap DMA buffer");
	buf = p;
	memset(buf, 0, BUF_SIZE);
	if (ioas_map_buf() < 0)
		return -1;
	dma_fill_pattern(buf, 3);
	if (edu_dma(bar0, DMA_IOVA, EDU_BUF, DMA_LEN, 0) < 0)
		return -1;
	memset(buf + DST_OFF, 0, BUF_SIZE - DST_OFF);
	if (edu_dma(bar0, EDU_BUF, DMA_IOVA + DST_OFF, DMA_LEN, EDU_CMD_TO_RAM) < 0)
		return -1;
	return dma_check_copy(buf);
}

static int step_unmap_blocks(void)
{
	if (ioas_unmap(DMA_IOVA, BUF_SIZE) < 0)
		return -1;
	memset(buf + DST_OFF, 0x5a, DMA_LEN);
	if (edu_dma(bar0, EDU_BUF, DMA_IOVA + DST_OFF, DMA_LEN, EDU_CMD_TO_RAM) < 0)
		return -1;
	for (int i = 0; i < DMA_LEN; i++)
		if (buf[DST_OFF + i] != 0x5a)
			return fail(0, "DMA to the unmapped IOVA reached memory (byte %d)", i);
	/* Re-map, and the same DMA arrives again: the device was not the problem. */
	if (ioas_map_buf() < 0 || edu_dma(bar0, EDU_BUF, DMA_IOVA + DST_OFF, DMA_LEN, EDU_CMD_TO_RAM) < 0)
		return -1;
	if (memcmp(buf + DST_OFF, buf, DMA_LEN) != 0)
		return fail(0, "DMA after re-map did not arrive");
	return 0;
}

static int step_dmabuf(void)
{
	union {
		struct vfio_device_feature hdr;
		uint8_t raw[sizeof(struct vfio_device_feature) +
			    sizeof(struct vfio_device_feature_dma_buf) +
			    sizeof(struct vfio_region_dma_range)];
	} u;
	memset(&u, 0, sizeof(u));
	struct vfio_device_feature_dma_buf *db = (void *)u.hdr.data;
	u.hdr.argsz = sizeof(u);
	u.hdr.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	db->region_index = VFIO_PCI_BAR0_REGION_INDEX;
	db->open_flags = O_RDWR | O_CLOEXEC;
	db->nr_ranges = 1;
	db->dma_ranges[0] = (struct vfio_region_dma_range){ .offset = 0, .length = bar0_size };
	dmabuf_fd = IOCTL(EDU->fd, VFIO_DEVICE_FEATURE, &u);
	if (dmabuf_fd < 0)
		return -1;

	struct stat st;
	if (fstat(dmabuf_fd, &st) < 0)
		return fail(errno, "fstat dma-buf");
	if ((uint64_t)st.st_size != bar0_size)
		return fail(0, "dma-buf size %lld, want %" PRIu64, (long long)st.st_size, bar0_size);
	void *p = mmap(NULL, bar0_size, PROT_READ, MAP_SHARED, dmabuf_fd, 0);
	if (p != MAP_FAILED) {
		munmap(p, bar0_size);
		return fail(0, "mmap of the dma-buf succeeded; documented to fail with EINVAL");
	}
	if (errno != EINVAL)
		return fail(errno, "mmap dma-buf: want EINVAL, got");

	struct iommu_ioas_map_file mf = {
		.size = sizeof(mf), .ioas_id = ioas_id, .fd = dmabuf_fd,
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.start = 0, .length = bar0_size, .iova = DMABUF_IOVA,
	};
	if (IOCTL(iommufd, IOMMU_IOAS_MAP_FILE, &mf) < 0)
		return -1;
	/* Peer-to-peer through that mapping: edu writes 4 bytes of its buffer
	 * into its own liveness register, which then reads back inverted. */
	uint32_t v = 0x600df00d;
	memcpy(buf, &v, sizeof(v));
	if (edu_dma(bar0, DMA_IOVA, EDU_BUF, sizeof(v), 0) < 0 ||
	    edu_dma(bar0, EDU_BUF, DMABUF_IOVA + EDU_LIVE, sizeof(v), EDU_CMD_TO_RAM) < 0)
		return -1;
	if (edu_read32(bar0, EDU_LIVE) != ~v)
		return fail(0, "P2P DMA through the dma-buf IOVA: liveness reads %#x, want %#x",
			    edu_read32(bar0, EDU_LIVE), ~v);
	return ioas_unmap(DMABUF_IOVA, bar0_size);
}

static int step_reset(void)
{
	if (IOCTL(EDU->fd, VFIO_DEVICE_RESET, NULL) < 0)
		return -1;
	if (edu_read32(bar0, EDU_IDENT) != EDU_IDENT_VALUE)
		return fail(0, "edu ident after reset: %#x", edu_read32(bar0, EDU_IDENT));
	return edu_liveness(bar0, 0x0badcafe);
}

static int step_cleanup(void)
{
	int r = 0;
	if (bar0)
		munmap((void *)bar0, bar0_size); /* the mapping holds the device file */
	bar0 = NULL;
	dmabuf_fd = safe_close(dmabuf_fd);
	for (size_t i = 0; i < ELEMENTSOF(devs); i++)
		devs[i].fd = safe_close(devs[i].fd);
	iommufd = safe_close(iommufd);
	for (size_t i = 1; i < ELEMENTSOF(devs); i++) {
		if (!devs[i].bdf[0])
			continue;
		if (rebind(devs[i].bdf, "\n", devs[i].orig_driver) < 0)
			r = fail(0, "restoring %s to '%s' failed", devs[i].name, devs[i].orig_driver);
	}
	if (EDU->bdf[0]) {
		char drv[256];
		current_driver(EDU->bdf, drv, sizeof(drv));
		if (drv[0] && strcmp(drv, "vfio-pci") != 0)
			r = fail(0, "edu ended up on '%s'", drv);
	}
	return r;
}

static const struct {
	const char *desc;
	int (*run)(void);
} steps[] = {
	{ "vfio-pci and iommufd are loaded", step_modules },
	{ "edu, e1000e and nvme bound to vfio-pci (read back)", step_bind_vfio },
	{ "VFIO cdevs and /dev/iommu open", step_open },
	{ "RLIMIT_MODE, IOAS_ALLOC, BIND_IOMMUFD + ATTACH_IOMMUFD_PT for all three", step_iommufd },
	{ "edu GET_INFO (PCI, RESET), BAR0 region info and mmap", step_info_mmap },
	{ "edu ident 0x010000ed and liveness register", step_edu_regs },
	{ "edu DMA RAM->edu->RAM through the IOAS, data verified", step_dma },
	{ "DMA to an unmapped IOVA does not reach memory; re-map works", step_unmap_blocks },
	{ "dma-buf of BAR0: fstat, mmap EINVAL, MAP_FILE, P2P DMA, UNMAP", step_dmabuf },
	{ "VFIO_DEVICE_RESET, liveness after reset", step_reset },
	{ "fds closed, e1000e and nvme back on their drivers (read back)", step_cleanup },
};

int main(void)
{
	size_t n = ELEMENTSOF(steps), i;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0)
		printf("# not root: expect failures\n");
	for (i = 0; i < n; i++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int r = steps[i].run();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("%s %zu - %s (%.0f ms)\n", r < 0 ? "not ok" : "ok", i + 1, steps[i].desc,
		       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
		if (r < 0)
			break;
	}
	if (i < n - 1)
		printf("# stopped after step %zu; restoring the drivers: %s\n", i + 1,
		       step_cleanup() < 0 ? "FAILED" : "done");
	printf("1..%zu\n", n);
	return i == n ? EXIT_SUCCESS : EXIT_FAILURE;
}
