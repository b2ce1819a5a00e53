/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "teardown.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"
#include "cleanup.h"
#include "config.h"
#include "device.h"
#include "kernel-uapi.h"
#include "kernel/iommufd.h"
#include "kernel/sysfs.h"
#include "kernel/vfio.h"
#include "log.h"
#include "manager.h"

#define RETRY_USEC (1000 * 1000)

static void step_log(const struct device *d, const char *step, int r, const char *what)
{
	if (r < 0)
		log_dev(LOG_WARNING, r, d->name, step, "Teardown %s: %s failed: %m", step, what);
	else
		log_dev(LOG_INFO, 0, d->name, step, "Teardown %s: %s.", step, what);
}

/* Steps 1-4.  EINVAL from detach/reset means the file was never bound (raw
 * mode, client never bound it): nothing to undo there. */
static void release_kernel_objects(struct device *d, int device_fd, int kvm_fd)
{
	uint32_t flags = 0;
	int r;

	if (device_fd >= 0) {
		r = vfio_detach_pt(device_fd);
		step_log(d, "detach", r == -EINVAL ? 0 : r,
			 r == -EINVAL ? "not bound, nothing attached" : "detached from the IOAS");

		r = vfio_device_flags(device_fd, &flags);
		if (r == -EINVAL) {
			step_log(d, "reset", 0, "never bound by a client, nothing to reset");
		} else {
			if (r >= 0 && (flags & VFIO_DEVICE_FLAGS_RESET))
				r = vfio_reset(device_fd);
			else if (r >= 0)
				r = vfio_hot_reset(device_fd);
			step_log(d, "reset", r, "device reset");
		}
	}
	if (kvm_fd >= 0 && device_fd >= 0) {
		r = vfio_kvm_file_del(kvm_fd, device_fd);
		step_log(d, "kvm", r, "removed from the VM's KVM-VFIO device");
	}
	safe_close(kvm_fd);
	safe_close(device_fd);
	step_log(d, "close", 0, "daemon's fds closed");
}

/*
 * Is the device still open through someone else's file?  The cdev allows one
 * bound file at a time, so a fresh file that cannot bind (EINVAL) means
 * another one still is.  Returns 1 held, 0 free, <0 error.
 */
static int device_is_held(const struct device *d)
{
	char path[64];
	_cleanup_close_ int fd = -1, iommufd = -1;
	uint32_t dev_id;
	int r;

	r = sysfs_vfio_cdev_path(d->syspath, path, sizeof path);
	if (r < 0)
		return 0; /* not on vfio-pci: no VFIO file can hold it */
	fd = vfio_cdev_open(path);
	if (fd < 0)
		return fd;
	iommufd = iommufd_open();
	if (iommufd < 0)
		return iommufd;
	r = vfio_bind_iommufd(fd, iommufd, &dev_id);
	if (r == -EINVAL)
		return 1;
	/* EPERM: the kernel checked this device's own files first (EINVAL
	 * above) and then refused the IOMMU group, because a sibling is on a
	 * host driver or bound elsewhere.  This device is not held. */
	if (r == -EPERM)
		return 0;
	return r < 0 ? r : 0;
}

static int settle(struct manager *m, struct device *d);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct device *d = userdata;

	d->retry_source = sd_event_source_disable_unref(d->retry_source);
	return settle(d->manager, d);
}

static void quarantine(struct manager *m, struct device *d, const char *why)
{
	int r;

	if (strcmp(d->state_reason, why) != 0)
		log_dev(LOG_WARNING, 0, d->name, "settle", "Quarantined: %s; retrying every second.", why);
	manager_device_changed(m, d, device_quarantine(d, why));
	if (d->retry_source)
		return;
	d->manager = m;
	r = sd_event_add_time_relative(m->event, &d->retry_source, CLOCK_MONOTONIC, RETRY_USEC, 0,
				       on_retry, d);
	if (r < 0)
		log_dev(LOG_ERR, r, d->name, "settle", "Cannot schedule a retry: %m; the device stays quarantined.");
}

/* Steps 5-6. */
static int settle(struct manager *m, struct device *d)
{
	_cleanup_free_ char *why = NULL;
	enum release_policy policy = d->rule ? d->rule->on_release : RELEASE_RESTORE_DRIVER;
	int r;

	r = device_is_held(d);
	if (r > 0) {
		quarantine(m, d, "still open through a file ccdevd handed out (the lease owner, or a process "
				 "it passed the fd to, has not closed it); released once it is closed");
		return 0;
	}
	if (r < 0)
		log_dev(LOG_WARNING, r, d->name, "settle", "Cannot tell whether the device is still held: %m");

	if (policy == RELEASE_RESTORE_DRIVER) {
		r = claim_restore(d, &why);
		if (r < 0) {
			quarantine(m, d, why ? why : "restoring the host driver failed");
			return 0;
		}
		step_log(d, "driver", 0, "host driver restored and verified");
	} else {
		step_log(d, "driver", 0, "kept on vfio-pci, idle");
	}
	manager_device_released(m, d);
	return 0;
}

void teardown_release_kernel(struct manager *m, struct device *d, int device_fd, int kvm_fd,
			     const char *reason)
{
	log_dev(LOG_INFO, 0, d->name, "teardown", "Teardown started: %s.", reason);
	manager_device_changed(m, d, device_begin_release(d, reason));
	release_kernel_objects(d, device_fd, kvm_fd);
}

void teardown_settle(struct manager *m, struct device *d)
{
	(void)settle(m, d);
}
