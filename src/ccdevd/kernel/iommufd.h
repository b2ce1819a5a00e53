/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Thin wrappers over the iommufd UAPI (/dev/iommu).  Each returns 0 or a
 * negative errno and knows nothing of leases, policy or D-Bus.
 */

#include <stdbool.h>
#include <stdint.h>

int iommufd_open(void);
int iommufd_ioas_alloc(int iommufd, uint32_t *ret_ioas_id);
int iommufd_destroy(int iommufd, uint32_t id);
/* Account pinned pages to the process that maps them (needs CAP_SYS_RESOURCE). */
int iommufd_set_rlimit_mode_per_process(int iommufd);
int iommufd_ioas_map_file(int iommufd, uint32_t ioas_id, int fd, uint64_t start,
			  uint64_t length, uint64_t *iova_inout, bool fixed_iova);
int iommufd_ioas_unmap(int iommufd, uint32_t ioas_id, uint64_t iova, uint64_t length);
/* Is fd an iommufd holding IOAS ioas_id?  0, or -ENOENT (no such IOAS),
 * -ENOTTY (not an iommufd), another negative errno. */
int iommufd_check_ioas(int iommufd, uint32_t ioas_id);
