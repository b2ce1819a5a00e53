/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "attach.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"
#include "device.h"
#include "kernel/sysfs.h"
#include "kernel/vfio.h"
#include "lease.h"
#include "log.h"
#include "why.h"

struct attach_step_def {
	const char *name;
	int (*run)(struct lease_device *ld, char **ret_why);
	void (*undo)(struct lease_device *ld); /* NULL: nothing to undo */
};

static int run_claim(struct lease_device *ld, char **ret_why)
{
	char driver[64] = "";
	int r;

	/* From the driver link itself: the undo must undo exactly the claim. */
	(void)sysfs_read_driver(ld->device->syspath, driver, sizeof driver);
	if (strcmp(driver, "vfio-pci") == 0)
		return 0;
	r = claim_for_vfio(ld->device, ret_why);
	if (r >= 0)
		ld->claimed = true;
	return r;
}

static void undo_claim(struct lease_device *ld)
{
	char *restore_why = NULL;

	if (ld->claimed && claim_restore(ld->device, &restore_why) < 0)
		log_dev(LOG_ERR, 0, ld->name, "attach", "Rollback failed: %s", restore_why);
	free(restore_why);
	ld->claimed = false;
}

static int run_open(struct lease_device *ld, char **ret_why)
{
	char path[64];
	int r;

	r = sysfs_vfio_cdev_path(ld->device->syspath, path, sizeof path);
	if (r < 0)
		return why(ret_why, r, "%s has no VFIO device node (kernel without VFIO_DEVICE_CDEV?): %s",
			   ld->name, strerror(-r));
	r = vfio_cdev_open(path);
	if (r < 0)
		return why(ret_why, r, "cannot open %s: %s", path, strerror(-r));
	ld->fd = r;
	return 0;
}

static void undo_open(struct lease_device *ld)
{
	ld->fd = vfio_close(ld->fd);
	/* The last close unbound it too. */
	ld->steps_done &= ~(1u << ATTACH_BIND);
	ld->dev_id = 0;
}

static int run_bind(struct lease_device *ld, char **ret_why)
{
	int r = vfio_bind_iommufd(ld->fd, ld->lease->iommufd, &ld->dev_id);

	if (r < 0)
		return why(ret_why, r, "VFIO_DEVICE_BIND_IOMMUFD failed: %s", strerror(-r));
	return 0;
}

static int run_pt(struct lease_device *ld, char **ret_why)
{
	int r = vfio_attach_pt(ld->fd, ld->lease->ioas_id);

	if (r < 0)
		return why(ret_why, r, "VFIO_DEVICE_ATTACH_IOMMUFD_PT to IOAS %u failed: %s", ld->lease->ioas_id,
			   strerror(-r));
	ld->pt_id = ld->lease->ioas_id;
	return 0;
}

static void undo_pt(struct lease_device *ld)
{
	int r = vfio_detach_pt(ld->fd);

	if (r < 0)
		log_dev(LOG_WARNING, r, ld->name, "detach", "VFIO_DEVICE_DETACH_IOMMUFD_PT failed: %m");
	ld->pt_id = 0;
}

static const struct attach_step_def steps[_ATTACH_STEP_MAX] = {
	[ATTACH_CLAIM] = { "claim", run_claim, undo_claim },
	[ATTACH_OPEN] = { "open", run_open, undo_open },
	/* A bound file stays bound until its last close. */
	[ATTACH_BIND] = { "bind", run_bind, NULL },
	[ATTACH_PT] = { "attach", run_pt, undo_pt },
};

const char *attach_step_to_string(enum attach_step s)
{
	return s < _ATTACH_STEP_MAX ? steps[s].name : "invalid";
}

static void undo_step(struct lease_device *ld, enum attach_step s)
{
	/* A step without an undo lasts until the file closes. */
	if (!ATTACH_STEP_DONE(ld, s) || !steps[s].undo)
		return;
	steps[s].undo(ld);
	ld->steps_done &= ~(1u << s);
}

int attach_run(struct lease_device *ld, enum attach_step first, enum attach_step last, char **ret_why)
{
	int r;

	*ret_why = NULL;
	for (enum attach_step s = first; s <= last; s++) {
		if (ATTACH_STEP_DONE(ld, s))
			continue;
		r = steps[s].run(ld, ret_why);
		if (r < 0) {
			log_dev(LOG_WARNING, r, ld->name, "attach", "Attach step %s failed: %s; undoing the steps before it.",
				steps[s].name, *ret_why ? *ret_why : strerror(-r));
			while (s-- > first)
				undo_step(ld, s);
			return r;
		}
		ld->steps_done |= 1u << s;
	}
	return 0;
}

void attach_undo_kernel(struct lease_device *ld)
{
	for (enum attach_step s = _ATTACH_STEP_MAX; s-- > ATTACH_OPEN + 1;)
		undo_step(ld, s);
}
