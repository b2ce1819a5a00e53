/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Prints every ioctl number, constant, member offset and struct size that
 * ccdevd takes from include/kernel-uapi.h, one "name value" per line.
 * test/unit/uapi-abi compiles this file twice, once as the project builds it
 * (system headers plus ccdevd's own declarations) and once against a current
 * kernel's exported headers, and requires the two tables to be identical.
 *
 * Structs that the kernel extends through argsz (bind, attach) are compared
 * by the end of their last member ccdevd declares, not by sizeof.
 */
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "kernel-uapi.h"

#define V(x) printf("%-48s %#llx\n", #x, (unsigned long long)(x))
#define OFF(s, m) printf("%-48s %zu\n", "offsetof(" #s "," #m ")", offsetof(struct s, m))
#define END(s, m) printf("%-48s %zu\n", "offsetofend(" #s "," #m ")", \
			 offsetof(struct s, m) + sizeof(((struct s *)0)->m))
#define SIZE(s) printf("%-48s %zu\n", "sizeof(" #s ")", sizeof(struct s))

int main(void)
{
	V(IOMMU_DESTROY);
	SIZE(iommu_destroy);
	OFF(iommu_destroy, id);

	V(IOMMU_IOAS_ALLOC);
	SIZE(iommu_ioas_alloc);
	OFF(iommu_ioas_alloc, out_ioas_id);

	V(IOMMU_IOAS_IOVA_RANGES);
	SIZE(iommu_ioas_iova_ranges);
	OFF(iommu_ioas_iova_ranges, num_iovas);
	OFF(iommu_ioas_iova_ranges, allowed_iovas);
	OFF(iommu_ioas_iova_ranges, out_iova_alignment);
	SIZE(iommu_iova_range);
	OFF(iommu_iova_range, last);

	V(IOMMU_IOAS_MAP);
	V(IOMMU_IOAS_MAP_FIXED_IOVA);
	V(IOMMU_IOAS_MAP_WRITEABLE);
	V(IOMMU_IOAS_MAP_READABLE);
	SIZE(iommu_ioas_map);
	OFF(iommu_ioas_map, ioas_id);
	OFF(iommu_ioas_map, user_va);
	OFF(iommu_ioas_map, length);
	OFF(iommu_ioas_map, iova);

	V(IOMMU_IOAS_MAP_FILE);
	SIZE(iommu_ioas_map_file);
	OFF(iommu_ioas_map_file, ioas_id);
	OFF(iommu_ioas_map_file, fd);
	OFF(iommu_ioas_map_file, start);
	OFF(iommu_ioas_map_file, length);
	OFF(iommu_ioas_map_file, iova);

	V(IOMMU_IOAS_UNMAP);
	SIZE(iommu_ioas_unmap);
	OFF(iommu_ioas_unmap, iova);
	OFF(iommu_ioas_unmap, length);

	V(IOMMU_OPTION);
	V(IOMMU_OPTION_RLIMIT_MODE);
	V(IOMMU_OPTION_OP_SET);
	V(IOMMU_OPTION_OP_GET);
	SIZE(iommu_option);
	OFF(iommu_option, option_id);
	OFF(iommu_option, op);
	OFF(iommu_option, object_id);
	OFF(iommu_option, val64);

	V(VFIO_DEVICE_BIND_IOMMUFD);
	OFF(vfio_device_bind_iommufd, flags);
	OFF(vfio_device_bind_iommufd, iommufd);
	END(vfio_device_bind_iommufd, out_devid);

	V(VFIO_DEVICE_ATTACH_IOMMUFD_PT);
	OFF(vfio_device_attach_iommufd_pt, flags);
	END(vfio_device_attach_iommufd_pt, pt_id);

	V(VFIO_DEVICE_DETACH_IOMMUFD_PT);
	END(vfio_device_detach_iommufd_pt, flags);

	V(VFIO_PCI_HOT_RESET_FLAG_DEV_ID);
	V(VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED);
	V(VFIO_PCI_DEVID_OWNED);
	V(VFIO_PCI_DEVID_NOT_OWNED);
	V(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO);
	V(VFIO_DEVICE_PCI_HOT_RESET);
	SIZE(vfio_pci_hot_reset_info);
	SIZE(vfio_pci_dependent_device);
	OFF(vfio_pci_dependent_device, segment);
	OFF(vfio_pci_dependent_device, devfn);
	SIZE(vfio_pci_hot_reset);

	V(VFIO_DEVICE_FEATURE);
	V(VFIO_DEVICE_FEATURE_GET);
	V(VFIO_DEVICE_FEATURE_DMA_BUF);
	SIZE(vfio_device_feature);
	SIZE(vfio_device_feature_dma_buf);
	OFF(vfio_device_feature_dma_buf, open_flags);
	OFF(vfio_device_feature_dma_buf, nr_ranges);
	OFF(vfio_device_feature_dma_buf, dma_ranges);
	SIZE(vfio_region_dma_range);
	OFF(vfio_region_dma_range, length);

	V(VFIO_DEVICE_RESET);
	V(VFIO_DEVICE_GET_INFO);
	V(VFIO_DEVICE_GET_REGION_INFO);

	V(SO_PEERPIDFD);

	/* The kernel grows struct pidfd_info, and PIDFD_GET_INFO's number with
	 * it; what must agree is the ioctl and the first version's layout. */
	V(_IOC_TYPE(PIDFD_GET_INFO));
	V(_IOC_NR(PIDFD_GET_INFO));
	V(_IOC_DIR(PIDFD_GET_INFO));
	V(PIDFD_INFO_PID);
	V(PIDFD_INFO_CREDS);
	V(PIDFD_INFO_SIZE_VER0);
	OFF(pidfd_info, mask);
	OFF(pidfd_info, pid);
	OFF(pidfd_info, euid);
	END(pidfd_info, fsgid);

	V(KVM_DEV_VFIO_FILE);
	V(KVM_DEV_VFIO_FILE_ADD);
	V(KVM_DEV_VFIO_FILE_DEL);
	return 0;
}
