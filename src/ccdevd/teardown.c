/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "teardown.h"

#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
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
#define RESTORE_WAIT_MSEC 2000

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
/*
 * Restoring the host driver starts by unbinding vfio-pci, and that blocks in
 * the kernel for as long as anyone keeps the device's cdev open.  A file that
 * was opened but never bound (raw mode, handed on) is invisible to
 * device_is_held(), so the sysfs writes run in a child process: the daemon
 * stays responsive and says what it waits for.
 */
static void restore_finished(struct manager *m, struct device *d, const siginfo_t *si)
{
	char now[64] = "";
	_cleanup_free_ char *why = NULL;

	d->restore_source = sd_event_source_disable_unref(d->restore_source);
	if (si->si_code == CLD_EXITED && si->si_status == 0) {
		step_log(d, "driver", 0, "host driver restored and verified");
		manager_device_released(m, d);
		return;
	}
	(void)sysfs_read_driver(d->syspath, now, sizeof now);
	if (asprintf(&why, "restoring host driver '%s' failed (driver now '%s')",
		     d->original_driver[0] ? d->original_driver : "(none)", now) < 0)
		why = NULL;
	quarantine(m, d, why ? why : "restoring the host driver failed");
}

static int on_restore_exited(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct device *d = userdata;

	restore_finished(d->manager, d, si);
	return 0;
}

/* The restore outlasted the wait: say on the bus what it waits for. */
static void restore_is_slow(struct device *d)
{
	const char *why = "vfio-pci is waiting for the device to be closed: a process still has it open "
			  "(perhaps handed on without binding it); released once that process closes it or exits";

	log_dev(LOG_WARNING, 0, d->name, "driver", "Teardown driver: %s.", why);
	manager_device_changed(d->manager, d, device_begin_release(d, why));
}

static int restore_in_child(struct manager *m, struct device *d)
{
	pid_t pid;
	int r;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Only sysfs writes and reads here, nothing of the parent's loop,
		 * and none of its fds: they stay with their one owner. */
		_cleanup_free_ char *why = NULL;
		(void)close_range(3, ~0U, 0);
		int k = claim_restore(d, &why);
		if (k < 0)
			log_dev(LOG_ERR, k, d->name, "driver", "%s", why ? why : "restore failed");
		_exit(k < 0 ? 1 : 0);
	}
	d->manager = m;

	/* The usual restore takes a fraction of a second: wait for it here, so
	 * that a Release answers with the device back on its driver. */
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	siginfo_t si = {};
	if (pidfd >= 0 && poll(&p, 1, RESTORE_WAIT_MSEC) == 1 &&
	    waitid(P_PID, (id_t)pid, &si, WEXITED) == 0) {
		restore_finished(m, d, &si);
		return 0;
	}

	r = sd_event_add_child(m->event, &d->restore_source, pid, WEXITED, on_restore_exited, d);
	if (r < 0) {
		/* Cannot watch it: wait for it here rather than lose it. */
		log_dev(LOG_WARNING, r, d->name, "driver", "Cannot watch the restore (%m); waiting for it.");
		if (waitid(P_PID, (id_t)pid, &si, WEXITED) == 0)
			restore_finished(m, d, &si);
		return 0;
	}
	restore_is_slow(d);
	return 0;
}

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
		if (d->restore_source)
			return 0; /* already under way */
		r = restore_in_child(m, d);
		if (r >= 0)
			return 0; /* on_restore_exited() goes on */
		log_dev(LOG_WARNING, r, d->name, "driver", "Cannot restore in a child process (%m); restoring here.");
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
