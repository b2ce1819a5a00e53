/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Moving a device between its host driver and vfio-pci (DESIGN §5 rule 1),
 * and the IOMMU group rule (rule 2).  Every move is verified by reading the
 * driver link back; a claim that does not end on vfio-pci is rolled back so
 * the device is exactly as it was.
 */

#include <errno.h>

#include "device.h"

struct inventory;

/* Host driver -> vfio-pci.  On failure the original driver is restored and a
 * message for the client is returned in *ret_why (malloc'ed). */
int claim_for_vfio(struct device *d, char **ret_why);

/* vfio-pci -> the original host driver (none stays none).  *ret_why on
 * failure.  May block while another process still holds the device open: the
 * caller checks that first. */
int claim_restore(struct device *d, char **ret_why);

/* claim_check_group()'s answer when the group is not viable. */
#define CLAIM_GROUP_NOT_VIABLE (-EXDEV)

/*
 * Can d be handed out?  Every other member of its IOMMU group must be
 * driverless, on vfio-pci or a PCIe port, and not leased to a different
 * owner (owner_uid).  On failure (CLAIM_GROUP_NOT_VIABLE) *ret_why names the
member and what to do.
 */
int claim_check_group(struct inventory *inv, const struct device *d, unsigned owner_uid, char **ret_why);
