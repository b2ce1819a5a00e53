/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "teardown.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "claim.h"
#include "cleanup.h"
#include "config.h"
#include "device.h"
#include "group.h"
#include "kernel/sysfs.h"
#include "kernel/vfio.h"
#include "lease.h"
#include "log.h"
#include "manager.h"
#include "reset.h"
#include "state.h"

#define SETTLE_WAIT_MSEC 2000
#define NODE_GONE_WAIT_MSEC 2000
#define BACKOFF_MIN_SEC 1
#define BACKOFF_MAX_SEC 16
#define HOLDERS_REFRESH_USEC (2 * 1000 * 1000)
#define HOLDERS_MAX 8

struct teardown {
	struct manager *manager;
	struct device *device;
	int fd;                  /* the daemon's file, until the release closes it */
	dev_t rdev;              /* the cdev's number, to find holders */
	bool file_bound;         /* someone had access: the device needs its reset */
	pid_t child;             /* the unbind, while it runs (0: a previous daemon's) */
	pid_t inherited;         /* a previous daemon's release child, at resume */
	int pidfd;
	sd_event_source *child_source;
	sd_event_source *timer;  /* retry after a failure, or holders refresh */
	unsigned backoff;        /* seconds until the next retry */
};

static void advance(struct teardown *t);
static void release_start(struct teardown *t);
static void release_waiting(struct teardown *t);
static void release_finished(struct teardown *t);
static bool pidfd_exited(int pidfd, int timeout_msec);

static void step_log(const struct device *d, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void step_log(const struct device *d, const char *step, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	log_dev(LOG_INFO, 0, d->name, step, "Teardown %s: %s.", step, text ? text : "?");
}

/* Each step reached is recorded before the next begins: a restarted daemon
 * resumes there (each step is idempotent). */
static void set_step(struct teardown *t, enum teardown_step step)
{
	t->device->teardown_step = step;
	state_save(t->manager);
}

static void teardown_free(struct teardown *t)
{
	if (!t)
		return;
	sd_event_source_disable_unref(t->timer);
	sd_event_source_disable_unref(t->child_source);
	safe_close(t->pidfd);
	vfio_close(t->fd);
	free(t);
}

/* ---- waiting: retries with backoff, and the holders refresh ---- */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct teardown *t = userdata;

	t->timer = sd_event_source_disable_unref(t->timer);
	if (t->device->teardown_step != TEARDOWN_RELEASE) {
		advance(t);
		return 0;
	}
	/* The release is retried from the event loop: no waiting here. */
	release_start(t);
	if (t->pidfd >= 0 && pidfd_exited(t->pidfd, 100))
		release_finished(t);
	else if (t->pidfd >= 0)
		release_waiting(t);
	return 0;
}

static void arm_timer(struct teardown *t, uint64_t usec)
{
	int r;

	t->timer = sd_event_source_disable_unref(t->timer);
	r = sd_event_add_time_relative(t->manager->event, &t->timer, CLOCK_MONOTONIC, usec, 0, on_timer, t);
	if (r < 0)
		log_dev(LOG_ERR, r, t->device->name, "teardown", "Cannot schedule a retry: %m; the device stays as it is.");
}

/* A step failed: quarantine, say why, retry the step later. */
static void quarantine(struct teardown *t, const char *why)
{
	struct device *d = t->device;
	_cleanup_free_ char *reason = NULL;

	t->backoff = t->backoff ? t->backoff * 2 : BACKOFF_MIN_SEC;
	if (t->backoff > BACKOFF_MAX_SEC)
		t->backoff = BACKOFF_MAX_SEC;
	if (asprintf(&reason, "%s; retrying in %u s", why, t->backoff) < 0)
		reason = NULL;
	log_dev(LOG_WARNING, 0, d->name, teardown_step_to_string(d->teardown_step), "Quarantined: %s.",
		reason ? reason : why);
	manager_device_changed(t->manager, d, device_quarantine(d, reason ? reason : why));
	arm_timer(t, (uint64_t)t->backoff * 1000 * 1000);
}

/* Still on its way, not failed: releasing, saying what it waits for. */
static void wait_for(struct teardown *t, const char *why)
{
	manager_device_changed(t->manager, t->device, device_begin_release(t->device, why));
}

/* ---- release: the kernel's proof that no file is open ---- */

static void release_finished(struct teardown *t)
{
	struct device *d = t->device;
	char driver[64] = "";
	int r;

	t->child_source = sd_event_source_disable_unref(t->child_source);
	t->timer = sd_event_source_disable_unref(t->timer);
	if (t->child)
		r = sysfs_unbind_finish(TAKE_FD(t->pidfd), t->child);
	else
		r = 0, t->pidfd = safe_close(t->pidfd); /* not ours to reap: the driver link tells */
	t->child = 0;
	/* Removed from the bus (hot unplug): the removal event ends it. */
	if (!sysfs_device_present(d->syspath)) {
		step_log(d, "release", "no file open; the device left the bus");
		return;
	}
	(void)sysfs_read_driver(d->syspath, driver, sizeof driver);
	if (r < 0 || strcmp(driver, "vfio-pci") == 0) {
		_cleanup_free_ char *why = NULL;
		if (asprintf(&why, "unbinding vfio-pci failed (%s), so the kernel has not proven that no file of "
				   "it is open", r < 0 ? strerror(-r) : "still bound") < 0)
			why = NULL;
		quarantine(t, why ? why : "unbinding vfio-pci failed");
		return;
	}
	step_log(d, "release", "no file open (vfio-pci unbound)");
	t->backoff = 0;
	set_step(t, TEARDOWN_RESET);
	advance(t);
}

static int on_child_exited(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	release_finished(userdata);
	return 0;
}

/* "held open by pid 12 (qemu), pid 15 (sh)" into reason. */
static void describe_holders(struct teardown *t, char **ret)
{
	struct fd_holder h[HOLDERS_MAX];
	_cleanup_free_ char *list = NULL;
	size_t len = 0;
	int n = proc_find_holders(t->rdev, h, HOLDERS_MAX);
	FILE *f = open_memstream(&list, &len);

	*ret = NULL;
	if (!f)
		return;
	for (int i = 0; i < n; i++)
		fprintf(f, "%spid %d (%s)", i ? ", " : "", (int)h[i].pid, h[i].comm);
	fclose(f);
	if (n > 0) {
		if (asprintf(ret, "held open by %s; released once it closes the device or exits (root: ccdevctl "
				  "release --force %s)", list, t->device->name) < 0)
			*ret = NULL;
	} else if (asprintf(ret, "held open by a process ccdevd cannot see (a file in flight on a socket, or in "
				 "another PID namespace); released once it is closed") < 0)
		*ret = NULL;
}

static int on_holders_refresh(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct teardown *t = userdata;
	_cleanup_free_ char *why = NULL;

	describe_holders(t, &why);
	if (why && strcmp(why, t->device->state_reason) != 0) {
		log_dev(LOG_INFO, 0, t->device->name, "release", "Teardown release: %s.", why);
		wait_for(t, why);
	}
	return sd_event_source_set_time_relative(s, HOLDERS_REFRESH_USEC) < 0 ? 0
	       : sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* The proof did not come at once: someone else holds the file. */
static void release_waiting(struct teardown *t)
{
	_cleanup_free_ char *why = NULL;
	int r;

	describe_holders(t, &why);
	log_dev(LOG_WARNING, 0, t->device->name, "release", "Teardown release: %s; waiting for it to close.",
		why ? why : "held open");
	wait_for(t, why ? why : "held open by another process");
	r = sd_event_add_io(t->manager->event, &t->child_source, t->pidfd, EPOLLIN, on_child_exited, t);
	if (r < 0) {
		log_dev(LOG_ERR, r, t->device->name, "release", "Cannot watch the release (%m); waiting for it here.");
		release_finished(t);
		return;
	}
	t->timer = sd_event_source_disable_unref(t->timer);
	(void)sd_event_add_time_relative(t->manager->event, &t->timer, CLOCK_MONOTONIC, HOLDERS_REFRESH_USEC, 0,
					 on_holders_refresh, t);
}

static bool pidfd_exited(int pidfd, int timeout_msec)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, timeout_msec) == 1;
}

/* The unbind has removed the cdev node once it holds the device lock. */
static void wait_node_gone(struct teardown *t)
{
	char path[64];

	for (int i = 0; i < NODE_GONE_WAIT_MSEC; i++) {
		if (sysfs_vfio_cdev_path(t->device->syspath, path, sizeof path) < 0 || pidfd_exited(t->pidfd, 0))
			return;
		(void)poll(NULL, 0, 1);
	}
	log_dev(LOG_WARNING, 0, t->device->name, "release", "The cdev node is still there %d ms after the unbind "
		"began; closing the daemon's file anyway.", NODE_GONE_WAIT_MSEC);
}

static void release_start(struct teardown *t)
{
	struct device *d = t->device;
	uint32_t flags;
	int r;

	set_step(t, TEARDOWN_RELEASE);
	if (t->fd >= 0 && !t->rdev && sysfs_vfio_cdev_devnum(d->syspath, &t->rdev) < 0) {
		/* The node is gone already (a removal): the file says it too. */
		struct stat st;
		if (fstat(t->fd, &st) == 0 && S_ISCHR(st.st_mode))
			t->rdev = st.st_rdev;
	}
	step_log(d, "release", "unbinding vfio-pci; no file of the device may stay open");
	r = sysfs_unbind_start(d->syspath, d->name, &t->child);
	if (r < 0) {
		_cleanup_free_ char *why = NULL;
		if (asprintf(&why, "cannot start unbinding vfio-pci: %s", strerror(-r)) < 0)
			why = NULL;
		quarantine(t, why ? why : "cannot start unbinding vfio-pci");
		return;
	}
	t->pidfd = r;
	if (t->fd >= 0) {
		wait_node_gone(t);
		/* No file can bind now (the unbind holds the device lock), so a
		 * file not bound now never was: nobody had access through it. */
		t->file_bound = t->file_bound || vfio_device_flags(t->fd, &flags) == 0;
		t->fd = vfio_close(t->fd);
	}
}

/* ---- reset and release policy ---- */

/* A hot reset of d's set reset member too, which was waiting for it. */
static void reset_with_set(struct manager *m, struct device *member)
{
	step_log(member, "reset", "done by the hot reset of its reset set");
	member->teardown->backoff = 0;
	set_step(member->teardown, TEARDOWN_DRIVER);
}

static void do_reset(struct teardown *t)
{
	struct device *d = t->device;
	_cleanup_free_ char *method = NULL, *why = NULL;
	int r;

	if (!t->file_bound) {
		step_log(d, "reset", "not needed, the file was never bound: nobody had access since its last reset");
		set_step(t, TEARDOWN_DRIVER);
		return;
	}
	r = reset_released(t->manager, d, &method, &why, reset_with_set);
	if (r == RESET_SET_PENDING) {
		wait_for(t, why ? why : "waiting for a device of its reset set");
		return;
	}
	if (r < 0) {
		_cleanup_free_ char *q = NULL;
		if (asprintf(&q, "reset failed: %s", why ? why : strerror(-r)) < 0)
			q = NULL;
		quarantine(t, q ? q : "reset failed");
		return;
	}
	step_log(d, "reset", "%s", method ? method : "done");
	t->backoff = 0;
	set_step(t, TEARDOWN_DRIVER);
}

/* Is a device d goes with (IOMMU group, reset set) still before "driver"? */
static struct device *sibling_before_driver(struct manager *m, struct device *d)
{
	struct device *c[COMPANIONS_MAX];
	size_t n = device_companions(m->inventory, d, c, COMPANIONS_MAX);

	for (size_t i = 0; i < n; i++)
		if (c[i]->teardown_step > TEARDOWN_NONE && c[i]->teardown_step < TEARDOWN_DRIVER)
			return c[i];
	return NULL;
}

static void kick_siblings(struct manager *m, struct device *d);

static void finish(struct teardown *t)
{
	struct manager *m = t->manager;
	struct device *d = t->device;
	struct bdf address = d->address;

	d->teardown = NULL;
	d->teardown_step = TEARDOWN_NONE;
	teardown_free(t);
	state_save(m);
	manager_device_released(m, d);
	d = inventory_find(m->inventory, &address);
	if (d)
		kick_siblings(m, d);
}

static void do_driver(struct teardown *t)
{
	struct device *d = t->device;
	_cleanup_free_ char *why = NULL;
	enum release_policy policy = d->rule ? d->rule->on_release : RELEASE_RESTORE_DRIVER;
	struct device *other = sibling_before_driver(t->manager, d);
	int r;

	if (other) {
		_cleanup_free_ char *w = NULL;
		if (asprintf(&w, "waiting for %s (same IOMMU group or reset set) to be released and reset first",
			     other->name) < 0)
			w = NULL;
		wait_for(t, w ? w : "waiting for a device of its group");
		return;
	}
	if (policy == RELEASE_RESTORE_DRIVER)
		r = claim_restore(d, &why);
	else
		r = claim_for_vfio(d, &why);
	if (r < 0) {
		quarantine(t, why ? why : "the release policy's driver did not bind");
		return;
	}
	step_log(d, "driver", policy == RELEASE_RESTORE_DRIVER ? "host driver restored and verified"
							      : "kept on vfio-pci, idle");
	finish(t);
}

/* Carry the teardown as far as it goes now. */
static void advance(struct teardown *t)
{
	struct device *d = t->device;

	if (d->teardown_step == TEARDOWN_RESET)
		do_reset(t);
	if (d->teardown == t && d->teardown_step == TEARDOWN_DRIVER)
		do_driver(t);
}

/* d moved on: its companions waiting for it (not for a retry) go on too. */
static void kick_siblings(struct manager *m, struct device *d)
{
	struct device *c[COMPANIONS_MAX];
	size_t n = device_companions(m->inventory, d, c, COMPANIONS_MAX);

	for (size_t i = 0; i < n; i++)
		if (c[i]->teardown && c[i]->teardown_step >= TEARDOWN_RESET && !c[i]->teardown->timer)
			advance(c[i]->teardown);
}

/* ---- entry points ---- */

struct device *teardown_begin(struct manager *m, struct lease_device *ld, const char *reason)
{
	struct device *d = ld->device;
	bool attached = ATTACH_STEP_DONE(ld, ATTACH_PT);
	struct teardown *t;

	if (!d) {
		ld->fd = vfio_close(ld->fd);
		return NULL;
	}
	log_dev(LOG_INFO, 0, d->name, "teardown", "Teardown started: %s.", reason);
	manager_device_changed(m, d, device_begin_release(d, reason));
	d->teardown_step = TEARDOWN_DETACH;
	attach_undo_kernel(ld);
	step_log(d, "detach", attached ? "detached from the IOAS" : "not bound, nothing attached");

	t = calloc(1, sizeof(*t));
	if (!t) {
		/* Without its state the device cannot be proven free: leave it
		 * releasing, never idle. */
		log_dev(LOG_ERR, ENOMEM, d->name, "teardown", "Out of memory; the device stays releasing.");
		ld->fd = vfio_close(ld->fd);
		return NULL;
	}
	*t = (struct teardown){ .manager = m, .device = d, .fd = TAKE_FD(ld->fd), .pidfd = -1,
				.file_bound = ATTACH_STEP_DONE(ld, ATTACH_BIND) || ld->file_lost };
	ld->steps_done = 0;
	d->teardown = t;
	release_start(t);
	return d;
}

void teardown_settle(struct manager *m, struct device **devices, size_t n)
{
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (size_t i = 0; i < n; i++) {
		struct device *d = devices[i];
		struct teardown *t = d->teardown;
		struct timespec now;
		long left;

		if (!t || d->teardown_step != TEARDOWN_RELEASE || t->pidfd < 0 || t->child_source)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = SETTLE_WAIT_MSEC - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
		if (pidfd_exited(t->pidfd, left > 0 ? (int)left : 0))
			release_finished(t);
		else
			release_waiting(t);
	}
}

int teardown_force(struct device *d, struct fd_holder *killed, size_t max, char **ret_why)
{
	struct teardown *t = d->teardown;
	int n, k = 0;

	*ret_why = NULL;
	if (!t || d->teardown_step != TEARDOWN_RELEASE || t->pidfd < 0)
		return TEARDOWN_NOT_WAITING;
	n = proc_find_holders(t->rdev, killed, max);
	if (n < 0)
		return n;
	if (n == 0) {
		if (asprintf(ret_why, "no process holding %s can be found (a file in flight on a socket, or in "
				      "another PID namespace, is invisible); it stays releasing", d->name) < 0)
			*ret_why = NULL;
		return -ENOENT;
	}
	for (int i = 0; i < n; i++) {
		int r = proc_kill(killed[i].pid);
		log_dev(r < 0 ? LOG_WARNING : LOG_NOTICE, r, d->name, "release",
			"Force release: SIGKILL to pid %d (%s)%s.", (int)killed[i].pid, killed[i].comm,
			r < 0 ? " failed: %m" : "");
		if (r >= 0)
			killed[k++] = killed[i];
	}
	return k;
}

pid_t teardown_release_pid(const struct device *d)
{
	return d->teardown && d->teardown->pidfd >= 0 ? (d->teardown->child ? d->teardown->child
								 : d->teardown->inherited) : 0;
}

/* The previous daemon's release child pid, if it still runs: a pidfd. */
static int inherit_child(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;
	int pidfd;

	if (pid <= 0)
		return -1;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -1;
	/* After the pidfd: the pid cannot be reused under it any more. */
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f || !fgets(comm, sizeof comm, f) || strncmp(comm, "ccdevd", 6) != 0)
		pidfd = safe_close(pidfd);
	if (f)
		fclose(f);
	return pidfd;
}

bool teardown_file_bound(const struct device *d)
{
	/* Without its state, assume someone had access: one reset too many
	 * is safe, one too few is not. */
	return !d->teardown || d->teardown->file_bound;
}

int teardown_resume(struct manager *m, struct device *d, enum teardown_step step, bool file_bound,
		    pid_t release_pid, const char *reason)
{
	struct teardown *t;

	if (d->teardown)
		return -EBUSY;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	*t = (struct teardown){ .manager = m, .device = d, .fd = -1, .pidfd = -1, .file_bound = file_bound,
				.inherited = release_pid };
	d->teardown = t;
	d->teardown_step = step;
	manager_device_changed(m, d, device_begin_release(d, reason));
	log_dev(LOG_NOTICE, 0, d->name, teardown_step_to_string(step), "Teardown resumed at step %s%s: %s.",
		teardown_step_to_string(step), file_bound ? "" : " (its file was never bound)", reason);
	return 0;
}

static bool step_is_release(const struct teardown *t)
{
	return t->device->teardown_step == TEARDOWN_RELEASE;
}

void teardown_go(struct manager *m, struct device **devices, size_t n)
{
	struct device *waiting[n ? n : 1];
	size_t k = 0;

	/* Every release first, each resumed teardown carried on after. */
	for (size_t i = 0; i < n; i++) {
		struct teardown *t = devices[i]->teardown;

		if (!t || devices[i]->teardown_step > TEARDOWN_RELEASE)
			continue;
		/* Even with no driver bound: the driver link goes first, and the
		 * unbind a previous daemon began may still wait for a holder
		 * (the release child then waits for it, see sysfs.h). */
		t->pidfd = step_is_release(t) ? inherit_child(t->inherited) : -1;
		if (t->pidfd >= 0)
			step_log(devices[i], "release", "the previous daemon's unbind (pid %d) still waits; waiting for it",
				 (int)t->inherited);
		else
			release_start(t);
		if (devices[i]->teardown == t && t->pidfd >= 0)
			waiting[k++] = devices[i];
	}
	teardown_settle(m, waiting, k);
	for (size_t i = 0; i < n; i++) {
		struct teardown *t = devices[i]->teardown;
		if (t && devices[i]->teardown_step >= TEARDOWN_RESET && !t->timer)
			advance(t);
	}
}

/* A release child whose device went away: reap it when it ends. */
struct reaper {
	pid_t pid;
	int pidfd;
	sd_event_source *source;
};

static int on_reap(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct reaper *r = userdata;

	(void)sysfs_unbind_finish(r->pidfd, r->pid);
	sd_event_source_disable_unref(r->source);
	free(r);
	return 0;
}

void teardown_abandon(struct manager *m, struct device *d)
{
	struct teardown *t = d->teardown;

	if (!t)
		return;
	d->teardown = NULL;
	d->teardown_step = TEARDOWN_NONE;
	if (t->pidfd >= 0) {
		struct reaper *r = calloc(1, sizeof(*r));
		if (r && sd_event_add_io(m->event, &r->source, t->pidfd, EPOLLIN, on_reap, r) >= 0) {
			r->pid = t->child;
			r->pidfd = TAKE_FD(t->pidfd);
		} else
			free(r);
	}
	teardown_free(t);
}
