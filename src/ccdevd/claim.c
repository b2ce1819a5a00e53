/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "claim.h"

#include <stdbool.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "kernel/sysfs.h"
#include "log.h"

#define VFIO_PCI "vfio-pci"

/* What the driver link says now, or "?" when it cannot be read. */
static const char *driver_now(const struct device *d, char *buf, size_t size)
{
	if (sysfs_read_driver(d->syspath, buf, size) < 0)
		snprintf(buf, size, "?");
	return buf;
}

/* Bind d to `driver` (or leave it driverless for ""), verified by read-back. */
static int bind_verified(const struct device *d, const char *driver)
{
	char now[64];
	int r;

	r = sysfs_set_driver_override(d->syspath, driver);
	if (r < 0)
		return r;
	r = sysfs_unbind(d->syspath, d->name);
	if (r < 0)
		return r;
	if (driver[0] || d->original_driver[0]) {
		r = sysfs_drivers_probe(d->name);
		/* drivers_probe fails when nothing binds; the read-back decides. */
		if (r < 0 && r != -ENODEV && r != -EINVAL)
			return r;
	}
	r = sysfs_read_driver(d->syspath, now, sizeof now);
	if (r < 0)
		return r;
	return strcmp(now, driver) == 0 ? 0 : -EREMOTEIO;
}

int claim_for_vfio(struct device *d, char **ret_why)
{
	char now[64];
	int r, r2;

	*ret_why = NULL;
	if (strcmp(driver_now(d, now, sizeof now), VFIO_PCI) == 0)
		return 0;
	log_dev(LOG_INFO, 0, d->name, "claim", "Claiming for vfio-pci (host driver: %s).",
		now[0] ? now : "none");
	r = bind_verified(d, VFIO_PCI);
	if (r >= 0)
		return 0;

	/* Roll back: clear the override, let the host driver take it again. */
	driver_now(d, now, sizeof now);
	r2 = sysfs_set_driver_override(d->syspath, "");
	if (r2 >= 0)
		(void)sysfs_unbind(d->syspath, d->name);
	if (r2 >= 0 && d->original_driver[0])
		(void)sysfs_drivers_probe(d->name);
	char restored[64];
	driver_now(d, restored, sizeof restored);
	bool ok = strcmp(restored, d->original_driver) == 0;
	log_dev(LOG_ERR, r, d->name, "claim", "vfio-pci did not bind (%m; driver was %s); rollback %s, driver now %s.",
		now[0] ? now : "none", ok ? "done" : "FAILED", restored[0] ? restored : "none");
	if (asprintf(ret_why, "Could not bind %s to vfio-pci (%s; is the vfio-pci module loaded?); %s",
		     d->name, r == -EREMOTEIO ? "the driver link did not change to vfio-pci" : strerror(-r),
		     ok ? (d->original_driver[0] ? "it is back on its host driver" : "it is left without a driver")
			: "restoring the host driver failed too: see the journal") < 0)
		*ret_why = NULL;
	return r;
}

int claim_restore(struct device *d, char **ret_why)
{
	const char *want = d->original_driver;
	char now[64];
	int r;

	*ret_why = NULL;
	log_dev(LOG_INFO, 0, d->name, "restore", "Returning to host driver %s.", want[0] ? want : "(none)");
	r = sysfs_set_driver_override(d->syspath, "");
	if (r >= 0)
		r = sysfs_unbind(d->syspath, d->name);
	if (r >= 0 && want[0]) {
		r = sysfs_drivers_probe(d->name);
		if (r == -ENODEV || r == -EINVAL)
			r = 0;
	}
	if (r >= 0)
		r = sysfs_read_driver(d->syspath, now, sizeof now);
	if (r >= 0 && strcmp(now, want) != 0)
		r = -EREMOTEIO;
	if (r < 0 && asprintf(ret_why, "restoring host driver '%s' failed: %s", want[0] ? want : "(none)",
			      r == -EREMOTEIO ? "the driver link did not come back" : strerror(-r)) < 0)
		*ret_why = NULL;
	return r;
}
