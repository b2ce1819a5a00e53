/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The placeholders of `ccdevctl exec`: in the command's arguments
 *
 *   {iommufd}         the iommufd's fd number
 *   {ioas}            the IOAS id
 *   {fd:ADDRESS}      the fd number of a device's VFIO cdev
 *   {devid:ADDRESS}   its iommufd device id (0 when attached raw)
 *   {ptid:ADDRESS}    the page table id it is attached to (0 when raw)
 *
 * are replaced by decimal numbers; ADDRESS is any spelling bdf_parse()
 * accepts (upper-case hex too).  Only these exact tokens are replaced,
 * anywhere inside an argument; every other brace is left as it is.  A
 * {fd:…}, {devid:…} or {ptid:…} that names no device of the lease is an
 * error rather than a literal, so that a typo does not reach the command.
 * Pure: no I/O, no global state.
 */

#include <stddef.h>
#include <stdint.h>

struct placeholder_device {
	const char *address;
	int fd;
	uint32_t dev_id, pt_id;
};

struct placeholder_values {
	int iommufd;
	uint32_t ioas_id;
	const struct placeholder_device *devices;
	size_t n_devices;
};

/* Where the token that could not be expanded is in the argument. */
struct placeholder_error {
	size_t offset, length;
};

/* Returns 0 and the expanded copy of arg in *ret (free() it), -EINVAL with
 * the bad token in *ret_error (if not NULL), or -ENOMEM. */
int placeholders_expand(const char *arg, const struct placeholder_values *v, char **ret,
			struct placeholder_error *ret_error);
