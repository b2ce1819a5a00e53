/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Which kernel features this host has, each proved by a probe of the running
 * kernel (an ioctl that works, a device node or class that exists), never
 * inferred from a version number.  Shown as Manager.KernelFeatures.
 */

#include <stdbool.h>

enum kernel_feature {
	FEATURE_IOMMUFD,        /* /dev/iommu: an IOAS can be allocated */
	FEATURE_IOAS_MAP_FILE,  /* IOMMU_IOAS_MAP_FILE maps a memfd */
	FEATURE_VFIO_CDEV,      /* VFIO device cdevs (/dev/vfio/devices/) */
	FEATURE_DMA_BUF_EXPORT, /* VFIO_DEVICE_FEATURE_DMA_BUF (probed on a bound device) */
	FEATURE_IOAS_MAP_FILE_DMABUF, /* IOMMU_IOAS_MAP_FILE of a VFIO dma-buf (proved by a MapDmaBuf) */
	FEATURE_PCI_TSM,        /* the PCI TSM core (/sys/class/tsm) */
	_FEATURE_MAX,
};

struct kernel_features {
	bool have[_FEATURE_MAX];
};

/* Probe everything that can be probed without a device; returns true when
 * the set changed. */
bool features_probe(struct kernel_features *f);

const char *feature_to_string(enum kernel_feature f);
