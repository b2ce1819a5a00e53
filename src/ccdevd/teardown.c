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
#include "worker.h"

#define SETTLE_WAIT_USEC (2 * 1000 * 1000)
#define NODE_POLL_USEC 1000
#define NODE_GONE_WAIT_MSEC 2000
#define WORKER_SLOW_USEC (10 * 1000 * 1000)
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
	/* A previous daemon's worker still running this step, at resume: the
	 * step begins again once it has ended. */
	pid_t predecessor;
	int predecessor_pidfd;
	sd_event_source *predecessor_source;
	sd_event_source *child_source;
	sd_event_source *timer;  /* retry after a failure, or holders refresh */
	unsigned backoff;        /* seconds until the next retry */
	/* The release: the cdev node's removal polled for (node_timer), then
	 * its first SETTLE_WAIT_USEC watched before saying who holds it. */
	sd_event_source *node_timer;
	unsigned node_polls;
	sd_event_source *settle_timer;
	/* The reset or driver step in a worker, off the event loop. */
	struct worker *worker;
	bool worker_slow;        /* it runs longer than WORKER_SLOW_USEC */
	bool queued;             /* waiting for a companion's worker to end */
	bool need_hot;           /* its function reset does not exist: the set's next */
	struct reset_job reset;  /* the reset the worker does */
};

static void advance(struct teardown *t);
static void kick_siblings(struct manager *m, struct device *d);
static void worker_ended(struct manager *m, struct device *d);
static void release_start(struct teardown *t);
static void release_finished(struct teardown *t);
static void release_watch(struct teardown *t);
static bool pidfd_exited(int pidfd);

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
	sd_event_source_disable_unref(t->node_timer);
	sd_event_source_disable_unref(t->settle_timer);
	worker_abandon(t->worker);
	sd_event_source_disable_unref(t->predecessor_source);
	safe_close(t->predecessor_pidfd);
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
	release_start(t);
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
	manager_teardown_rested(t->manager);
}

/* Still on its way, not failed: releasing, saying what it waits for. */
static void wait_for(struct teardown *t, const char *why)
{
	manager_device_changed(t->manager, t->device, device_begin_release(t->device, why));
	manager_teardown_rested(t->manager);
}

/* ---- workers: the reset and driver steps, off the loop ---- */

static void on_worker_slow(void *userdata)
{
	struct teardown *t = userdata;
	_cleanup_free_ char *why = NULL;

	t->worker_slow = true;
	if (asprintf(&why, "the kernel has not finished the %s step after %d s; still waiting for it (a device "
			   "this slow may be broken: see the journal)", teardown_step_to_string(t->device->teardown_step),
		     (int)(WORKER_SLOW_USEC / 1000000)) < 0)
		why = NULL;
	wait_for(t, why ? why : "the kernel is slow; still waiting");
}

/* Run fn(ctx) in a worker; done(r, t) when it ends.  False: it did not
 * start (quarantined, retried). */
static bool start_worker(struct teardown *t, const char *step, int (*fn)(void *), void *ctx,
			 worker_done_fn done)
{
	char what[64];
	int r;

	snprintf(what, sizeof what, "The %s of %s", step, t->device->name);
	t->worker_slow = false;
	r = worker_start(t->manager->event, what, fn, ctx, -1, WORKER_SLOW_USEC, done, on_worker_slow, t,
			 &t->worker);
	if (r < 0) {
		_cleanup_free_ char *why = NULL;
		if (asprintf(&why, "cannot start the %s step: %s", step, strerror(-r)) < 0)
			why = NULL;
		quarantine(t, why ? why : "cannot start a worker");
		return false;
	}
	/* With the worker's pid: should this daemon die now, the next one
	 * waits for it before the step begins again. */
	state_save(t->manager);
	return true;
}

/* ---- release: the kernel's proof that no file is open ---- */

static void release_finished(struct teardown *t)
{
	struct device *d = t->device;
	char driver[64] = "";
	int r;

	t->child_source = sd_event_source_disable_unref(t->child_source);
	t->settle_timer = sd_event_source_disable_unref(t->settle_timer);
	t->timer = sd_event_source_disable_unref(t->timer);
	if (t->child)
		r = sysfs_unbind_finish(TAKE_FD(t->pidfd), t->child);
	else
		r = 0, t->pidfd = safe_close(t->pidfd); /* not ours to reap: the driver link tells */
	t->child = 0;
	/* Removed from the bus (hot unplug): the removal event ends it. */
	if (!sysfs_device_present(d->syspath)) {
		step_log(d, "release", "no file open; the device left the bus");
		manager_teardown_rested(t->manager);
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

/* The proof did not come within SETTLE_WAIT_USEC: someone else holds the
 * file.  Say who, and keep saying it as holders change. */
static int on_settle_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct teardown *t = userdata;
	_cleanup_free_ char *why = NULL;

	t->settle_timer = sd_event_source_disable_unref(t->settle_timer);
	describe_holders(t, &why);
	log_dev(LOG_WARNING, 0, t->device->name, "release", "Teardown release: %s; waiting for it to close.",
		why ? why : "held open");
	t->timer = sd_event_source_disable_unref(t->timer);
	(void)sd_event_add_time_relative(t->manager->event, &t->timer, CLOCK_MONOTONIC, HOLDERS_REFRESH_USEC, 0,
					 on_holders_refresh, t);
	wait_for(t, why ? why : "held open by another process");
	return 0;
}

static bool pidfd_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Watch the release child: its exit is the proof. */
static void release_watch(struct teardown *t)
{
	int r;

	r = sd_event_add_io(t->manager->event, &t->child_source, t->pidfd, EPOLLIN, on_child_exited, t);
	if (r >= 0)
		r = sd_event_add_time_relative(t->manager->event, &t->settle_timer, CLOCK_MONOTONIC,
					       SETTLE_WAIT_USEC, 0, on_settle_timeout, t);
	if (r < 0) {
		log_dev(LOG_ERR, r, t->device->name, "release", "Cannot watch the release (%m); waiting for it here.");
		release_finished(t);
	}
}

/* The daemon's own file goes once the unbind holds the device lock (the
 * cdev node is gone then): closed earlier, its last close could reset the
 * device, and a holder's file could still bind. */
static void close_file(struct teardown *t)
{
	uint32_t flags;
	bool was_bound = t->file_bound;

	t->node_timer = sd_event_source_disable_unref(t->node_timer);
	/* No file can bind now, so a file not bound now never was: nobody had
	 * access through it. */
	t->file_bound = t->file_bound || vfio_device_flags(t->fd, &flags) == 0;
	t->fd = vfio_close(t->fd);
	if (t->file_bound != was_bound)
		state_save(t->manager); /* a restart must reset it too */
	release_watch(t);
}

static int on_node_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct teardown *t = userdata;
	char path[64];

	if (sysfs_vfio_cdev_path(t->device->syspath, path, sizeof path) < 0 || pidfd_exited(t->pidfd)) {
		close_file(t);
		return 0;
	}
	if (++t->node_polls * (NODE_POLL_USEC / 1000) >= NODE_GONE_WAIT_MSEC) {
		log_dev(LOG_WARNING, 0, t->device->name, "release", "The cdev node is still there %d ms after the "
			"unbind began; closing the daemon's file anyway.", NODE_GONE_WAIT_MSEC);
		close_file(t);
		return 0;
	}
	return sd_event_source_set_time_relative(s, NODE_POLL_USEC) < 0 ? 0
	       : sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void release_start(struct teardown *t)
{
	struct device *d = t->device;
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
	if (t->fd < 0) {
		release_watch(t);
		return;
	}
	t->node_polls = 0;
	r = sd_event_add_time_relative(t->manager->event, &t->node_timer, CLOCK_MONOTONIC, 0, 0, on_node_poll, t);
	if (r < 0)
		close_file(t); /* cannot poll: the kernel's unbind still orders the close */
}

/* ---- reset and release policy ---- */

/* A hot reset of d's set reset member too, which was waiting for it (never
 * one at work: workers of companions do not overlap). */
static void reset_with_set(struct manager *m, struct device *member)
{
	step_log(member, "reset", "done by the hot reset of its reset set");
	member->teardown->backoff = 0;
	set_step(member->teardown, TEARDOWN_DRIVER);
}

static void reset_failed(struct teardown *t, int r, const char *why)
{
	_cleanup_free_ char *q = NULL;

	if (asprintf(&q, "reset failed: %s", why ? why : strerror(-r)) < 0)
		q = NULL;
	quarantine(t, q ? q : "reset failed");
}

/* A companion of d (IOMMU group, reset set) whose reset or driver step is
 * at work.  The kernel takes the device locks of a whole set for a hot
 * reset (and fails with EAGAIN if one is taken), so companions' workers
 * never overlap: the next starts when the last ends. */
static struct device *companion_at_work(struct manager *m, struct device *d)
{
	struct device *c[COMPANIONS_MAX];
	size_t n = device_companions(m->inventory, d, c, COMPANIONS_MAX);

	for (size_t i = 0; i < n; i++)
		if (c[i] != d && c[i]->teardown && c[i]->teardown->worker)
			return c[i];
	return NULL;
}

static void on_reset_done(int r, void *userdata)
{
	struct teardown *t = userdata;
	struct device *d = t->device;
	_cleanup_free_ char *method = NULL, *why = NULL;

	t->worker = NULL;
	r = reset_released_done(t->manager, &t->reset, r, &method, &why, reset_with_set);
	/* (A hot reset that fails with ENOTTY too is a failure.) */
	if (r == RESET_NEEDS_HOT && !t->reset.hot) {
		t->need_hot = true;
		advance(t);
	} else if (r < 0)
		reset_failed(t, r, why);
	else {
		step_log(d, "reset", "%s", method ? method : "done");
		t->backoff = 0;
		set_step(t, TEARDOWN_DRIVER);
		advance(t);
	}
	worker_ended(t->manager, d);
}

/* Begins the reset (function reset first, see reset.h); on_reset_done()
 * carries on. */
static void do_reset(struct teardown *t)
{
	struct device *d = t->device;

	if (!t->file_bound) {
		step_log(d, "reset", "not needed, the file was never bound: nobody had access since its last reset");
		set_step(t, TEARDOWN_DRIVER);
		return;
	}
	if (t->need_hot) {
		_cleanup_free_ char *why = NULL;
		int r;

		t->need_hot = false;
		r = reset_released_plan_hot(t->manager, d, &t->reset, &why);
		if (r == RESET_SET_PENDING)
			wait_for(t, why ? why : "waiting for a device of its reset set");
		else if (r < 0)
			reset_failed(t, r, why);
		else
			(void)start_worker(t, "reset", reset_job_run, &t->reset, on_reset_done);
		return;
	}
	reset_released_plan(d, &t->reset);
	(void)start_worker(t, "reset", reset_job_run, &t->reset, on_reset_done);
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

/* d's worker ended: a companion queued behind it goes on. */
static void worker_ended(struct manager *m, struct device *d)
{
	kick_siblings(m, d);
	manager_teardown_rested(m);
}

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
	manager_teardown_rested(m);
}

/* In the worker: the release policy's driver.  Its journal lines are the
 * child's; the loop learns the result. */
static int driver_run(void *userdata)
{
	struct device *d = userdata;
	_cleanup_free_ char *why = NULL;
	bool restore = !d->rule || d->rule->on_release == RELEASE_RESTORE_DRIVER;

	return restore ? claim_restore(d, &why) : claim_for_vfio(d, &why);
}

static void on_driver_done(int r, void *userdata)
{
	struct teardown *t = userdata;
	struct device *d = t->device;
	bool restore = !d->rule || d->rule->on_release == RELEASE_RESTORE_DRIVER;

	t->worker = NULL;
	if (r < 0) {
		_cleanup_free_ char *why = NULL;
		if (restore)
			r = asprintf(&why, "restoring host driver '%s' failed: %s",
				     d->original_driver[0] ? d->original_driver : "(none)",
				     r == -EREMOTEIO ? "the driver link did not come back" : strerror(-r));
		else
			r = asprintf(&why, "binding vfio-pci again failed: %s (see the journal)",
				     r == -EREMOTEIO ? "the driver link did not change to vfio-pci" : strerror(-r));
		quarantine(t, r >= 0 ? why : "the release policy's driver did not bind");
		worker_ended(t->manager, d);
		return;
	}
	step_log(d, "driver", restore ? "host driver restored and verified" : "kept on vfio-pci, idle");
	finish(t); /* kicks its companions */
}

static void do_driver(struct teardown *t)
{
	struct device *d = t->device;
	struct device *other = sibling_before_driver(t->manager, d);

	if (other) {
		_cleanup_free_ char *w = NULL;
		if (asprintf(&w, "waiting for %s (same IOMMU group or reset set) to be released and reset first",
			     other->name) < 0)
			w = NULL;
		wait_for(t, w ? w : "waiting for a device of its group");
		return;
	}
	(void)start_worker(t, "driver", driver_run, d, on_driver_done);
}

/* Carry the teardown as far as it goes now. */
static void advance(struct teardown *t)
{
	struct device *d = t->device;

	if (t->worker)
		return; /* its end carries on */
	t->queued = (d->teardown_step == TEARDOWN_RESET || d->teardown_step == TEARDOWN_DRIVER) &&
		    companion_at_work(t->manager, d);
	if (t->queued)
		return; /* that worker's end carries on */
	if (d->teardown_step == TEARDOWN_RESET)
		do_reset(t);
	if (d->teardown == t && !t->worker && d->teardown_step == TEARDOWN_DRIVER)
		do_driver(t);
}

/* d moved on: its companions waiting for it (not for a retry) go on too. */
static void kick_siblings(struct manager *m, struct device *d)
{
	struct device *c[COMPANIONS_MAX];
	size_t n = device_companions(m->inventory, d, c, COMPANIONS_MAX);

	for (size_t i = 0; i < n; i++)
		if (c[i]->teardown && c[i]->teardown_step >= TEARDOWN_RESET && !c[i]->teardown->timer &&
		    !c[i]->teardown->worker)
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
				.predecessor_pidfd = -1, .file_bound = ATTACH_STEP_DONE(ld, ATTACH_BIND) || ld->file_lost };
	ld->steps_done = 0;
	d->teardown = t;
	release_start(t);
	return d;
}

bool teardown_resting(const struct device *d)
{
	const struct teardown *t = d->teardown;

	return !t || (!t->node_timer && !t->settle_timer && (!t->worker || t->worker_slow) &&
		      !(t->queued && companion_at_work(t->manager, t->device)));
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

pid_t teardown_worker_pid(const struct device *d)
{
	const struct teardown *t = d->teardown;

	if (!t)
		return 0;
	if (t->worker)
		return worker_pid(t->worker);
	return t->predecessor_pidfd >= 0 ? t->predecessor : 0;
}

/* A process of the previous daemon (its release child, or a worker), if it
 * still runs: a pidfd. */
static int inherit_child(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;
	int pidfd;

	/* Our own pid, reused: not the previous daemon's. */
	if (pid <= 0 || pid == getpid())
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
		    pid_t release_pid, pid_t worker_pid, const char *reason)
{
	struct teardown *t;

	if (d->teardown)
		return -EBUSY;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	*t = (struct teardown){ .manager = m, .device = d, .fd = -1, .pidfd = -1, .file_bound = file_bound,
				.inherited = release_pid, .predecessor = worker_pid, .predecessor_pidfd = -1 };
	d->teardown = t;
	d->teardown_step = step;
	manager_device_changed(m, d, device_begin_release(d, reason));
	log_dev(LOG_NOTICE, 0, d->name, teardown_step_to_string(step), "Teardown resumed at step %s%s: %s.",
		teardown_step_to_string(step), file_bound ? "" : " (its file was never bound)", reason);
	return 0;
}

static int on_predecessor_exited(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct teardown *t = userdata;

	t->predecessor_source = sd_event_source_disable_unref(t->predecessor_source);
	t->predecessor_pidfd = safe_close(t->predecessor_pidfd);
	step_log(t->device, teardown_step_to_string(t->device->teardown_step),
		 "the previous daemon's worker (pid %d) has ended; the step begins again", (int)t->predecessor);
	advance(t);
	return 0;
}

/* The previous daemon's worker for this step still runs (KillMode=process
 * leaves it): two resets or two driver binds at once would fight over the
 * device, so the step waits for it.  True: waiting. */
static bool wait_for_predecessor(struct teardown *t)
{
	struct device *d = t->device;
	const char *step = teardown_step_to_string(d->teardown_step);
	_cleanup_free_ char *why = NULL;

	t->predecessor_pidfd = inherit_child(t->predecessor);
	if (t->predecessor_pidfd < 0)
		return false;
	if (sd_event_add_io(t->manager->event, &t->predecessor_source, t->predecessor_pidfd, EPOLLIN,
			    on_predecessor_exited, t) < 0) {
		/* Cannot watch it: better the step beside it than never. */
		t->predecessor_pidfd = safe_close(t->predecessor_pidfd);
		return false;
	}
	step_log(d, step, "the previous daemon's worker (pid %d) still runs this step; waiting for it to end",
		 (int)t->predecessor);
	if (asprintf(&why, "waiting for the previous ccdevd's %s worker (pid %d) to end", step,
		     (int)t->predecessor) < 0)
		why = NULL;
	wait_for(t, why ? why : "waiting for the previous ccdevd's worker to end");
	return true;
}

static bool step_is_release(const struct teardown *t)
{
	return t->device->teardown_step == TEARDOWN_RELEASE;
}

void teardown_go(struct manager *m, struct device **devices, size_t n)
{
	/* Every release first, each resumed teardown carried on after. */
	for (size_t i = 0; i < n; i++) {
		struct teardown *t = devices[i]->teardown;

		if (!t || devices[i]->teardown_step > TEARDOWN_RELEASE)
			continue;
		/* Even with no driver bound: the driver link goes first, and the
		 * unbind a previous daemon began may still wait for a holder
		 * (the release child then waits for it, see sysfs.h). */
		t->pidfd = step_is_release(t) ? inherit_child(t->inherited) : -1;
		if (t->pidfd >= 0) {
			step_log(devices[i], "release", "the previous daemon's unbind (pid %d) still waits; waiting for it",
				 (int)t->inherited);
			release_watch(t);
		} else
			release_start(t);
	}
	for (size_t i = 0; i < n; i++) {
		struct teardown *t = devices[i]->teardown;
		if (t && devices[i]->teardown_step >= TEARDOWN_RESET && !t->timer && !wait_for_predecessor(t))
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
	manager_teardown_rested(m);
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
