/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The ordered teardown of a device leaving a lease, the one place it lives
 * (DESIGN §5 rule 7), whether the lease was released, its owner crashed or
 * the daemon stops:
 *
 *   1. detach from the IOAS           VFIO_DEVICE_DETACH_IOMMUFD_PT
 *   2. reset                          VFIO_DEVICE_RESET, else hot reset
 *   3. leave the VM's KVM-VFIO device KVM_DEV_VFIO_FILE_DEL
 *   4. close the daemon's fds
 *   5. make sure nobody else holds it (a client may have passed its fd on);
 *      if someone does: quarantine, say who/why, retry every second
 *   6. the release policy: back to the host driver (verified) or stay on
 *      vfio-pci, idle
 *
 * Each step logs its outcome with the device and step as journal fields.
 * Steps 1-3 are best effort (a device the client never bound has nothing to
 * detach or reset); 5 and 6 must succeed before the device is free again.
 */

struct manager;
struct device;

/* Steps 1-4.  Takes ownership of device_fd and kvm_fd (either may be -1). */
void teardown_release_kernel(struct manager *m, struct device *d, int device_fd, int kvm_fd,
			     const char *reason);

/* Steps 5-6.  When a lease holds several devices of one IOMMU group or reset
 * set, every one of them goes through steps 1-4 before any is settled: a
 * member back on its host driver would make the others' resets and the
 * held-probe fail. */
void teardown_settle(struct manager *m, struct device *d);
