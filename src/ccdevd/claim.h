/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Moving a device between its host driver and vfio-pci (DESIGN §5 rule 1).  Every move is verified by reading the
 * driver link back; a claim that does not end on vfio-pci is rolled back so
 * the device is exactly as it was.
 */

#include <errno.h>

#include "device.h"


/* Host driver -> vfio-pci.  On failure the original driver is restored and a
 * message for the client is returned in *ret_why (malloc'ed). */
int claim_for_vfio(struct device *d, char **ret_why);

/* vfio-pci (or no driver) -> the original host driver (none stays none).
 * *ret_why on failure.  Unbinding vfio-pci blocks while any file of the
 * device is open: the teardown calls it only after its proof of release. */
int claim_restore(struct device *d, char **ret_why);
