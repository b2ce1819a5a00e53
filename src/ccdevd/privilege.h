/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * ccdevd runs as root (it must own root's sysfs files and device nodes) but
 * keeps only the capabilities it uses, in every set, bounding set included:
 *
 *   CAP_SYS_RESOURCE  IOMMU_OPTION(RLIMIT_MODE) on a lease's iommufd, and
 *                     raising a client's RLIMIT_MEMLOCK to its lease quota.
 *
 * Everything else it does needs no capability: sysfs driver_override / bind /
 * unbind / drivers_probe and /dev/iommu and the VFIO cdevs are root-owned
 * files it opens as their owner; udev monitoring and D-Bus need none.
 */

int privilege_drop(void);
