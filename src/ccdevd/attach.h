/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The order in which a device enters a lease, as one table of steps, each
 * with its undo (DESIGN §5 rules 1-3):
 *
 *   claim    host driver -> vfio-pci, verified      undo: back to the host driver
 *   open     open /dev/vfio/devices/vfioN           undo: close
 *   bind     VFIO_DEVICE_BIND_IOMMUFD               undo: none (the last close unbinds)
 *   attach   VFIO_DEVICE_ATTACH_IOMMUFD_PT to IOAS  undo: VFIO_DEVICE_DETACH_IOMMUFD_PT
 *
 * attach_run() runs a range of steps forward and, when one fails, undoes
 * exactly the steps it ran, newest first.  That is the rollback of a file
 * nobody else has seen.  Once the file was handed out, the undo of "open" and
 * "claim" is the teardown's (teardown.h): proof that no file is left, reset,
 * release policy; attach_undo_kernel() undoes the steps after "open".
 * Later capabilities (dma-buf, TSM bind) are new rows here.
 */

#include <stdbool.h>

struct lease_device;

enum attach_step {
	ATTACH_CLAIM,
	ATTACH_OPEN,
	ATTACH_BIND,
	ATTACH_PT,
	_ATTACH_STEP_MAX,
};

#define ATTACH_STEP_DONE(ld, s) (((ld)->steps_done >> (s)) & 1u)

const char *attach_step_to_string(enum attach_step s);

/* Run steps [first, last]; on failure undo what this call ran and return the
 * error, with *ret_why explaining it. */
int attach_run(struct lease_device *ld, enum attach_step first, enum attach_step last, char **ret_why);

/* Undo, newest first, every step done after "open" (what the kernel objects
 * of a handed-out file need before the file may go). */
void attach_undo_kernel(struct lease_device *ld);
