/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernel-features.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "kernel/iommufd.h"

static const char *const feature_names[_FEATURE_MAX] = {
	[FEATURE_IOMMUFD] = "iommufd",
	[FEATURE_IOAS_MAP_FILE] = "ioas-map-file",
	[FEATURE_VFIO_CDEV] = "vfio-cdev",
	[FEATURE_DMA_BUF_EXPORT] = "dma-buf-export",
	[FEATURE_IOAS_MAP_FILE_DMABUF] = "ioas-map-file-dmabuf",
	[FEATURE_PCI_TSM] = "pci-tsm",
};

const char *feature_to_string(enum kernel_feature f)
{
	return f < _FEATURE_MAX ? feature_names[f] : NULL;
}

/* An IOAS can be allocated; then whether a memfd page maps into it. */
static void probe_iommufd(bool *iommufd, bool *map_file)
{
	_cleanup_close_ int fd = iommufd_open();
	_cleanup_close_ int memfd = -1;
	uint32_t ioas;
	uint64_t iova = 0;
	long page = sysconf(_SC_PAGESIZE);

	*iommufd = *map_file = false;
	if (fd < 0 || iommufd_ioas_alloc(fd, &ioas) < 0)
		return;
	*iommufd = true;
	memfd = memfd_create("ccdevd-probe", MFD_CLOEXEC);
	if (memfd >= 0 && ftruncate(memfd, page) == 0 &&
	    iommufd_ioas_map_file(fd, ioas, memfd, 0, (uint64_t)page, &iova, false) == 0) {
		*map_file = true;
		(void)iommufd_ioas_unmap(fd, ioas, iova, (uint64_t)page);
	}
	(void)iommufd_destroy(fd, ioas);
}

/* The VFIO cdev char region is registered as "vfio-dev" only when the kernel
 * has VFIO_DEVICE_CDEV and vfio is loaded. */
static bool probe_vfio_cdev(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/devices", "re");
	char line[128];

	if (!f)
		return false;
	while (fgets(line, sizeof line, f)) {
		char name[64];
		unsigned major;
		if (sscanf(line, "%u %63s", &major, name) == 2 && strcmp(name, "vfio-dev") == 0)
			return true;
	}
	return false;
}

static bool probe_pci_tsm(void)
{
	struct stat st;

	return stat("/sys/class/tsm", &st) == 0 && S_ISDIR(st.st_mode);
}

bool features_probe(struct kernel_features *f)
{
	struct kernel_features old = *f;
	bool dma_buf = f->have[FEATURE_DMA_BUF_EXPORT], map_dmabuf = f->have[FEATURE_IOAS_MAP_FILE_DMABUF];

	probe_iommufd(&f->have[FEATURE_IOMMUFD], &f->have[FEATURE_IOAS_MAP_FILE]);
	f->have[FEATURE_VFIO_CDEV] = probe_vfio_cdev();
	f->have[FEATURE_PCI_TSM] = probe_pci_tsm();
	/* Found by a probe on a bound device (lease_attach); kept once proved. */
	f->have[FEATURE_DMA_BUF_EXPORT] = dma_buf;
	f->have[FEATURE_IOAS_MAP_FILE_DMABUF] = map_dmabuf;
	return memcmp(&old, f, sizeof(old)) != 0;
}
