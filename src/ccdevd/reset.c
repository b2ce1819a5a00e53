/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "group.h"
#include "inventory.h"
#include "kernel-uapi.h"
#include "kernel/sysfs.h"
#include "kernel/vfio.h"
#include "lease.h"
#include "log.h"
#include "why.h"
#include "worker.h"
#include "cleanup.h"
#include "manager.h"

#define HOOKS_MAX 8

static struct reset_hook hooks[HOOKS_MAX];
static unsigned n_hooks;

int reset_add_hook(const struct reset_hook *hook)
{
	if (n_hooks == HOOKS_MAX)
		return -ENOSPC;
	hooks[n_hooks++] = *hook;
	return 0;
}

void reset_remove_hooks(void)
{
	n_hooks = 0;
}

/* The attachments a reset of these devices touches. */
static void hooks_before(struct device **set, size_t n)
{
	for (unsigned h = 0; h < n_hooks; h++)
		for (size_t i = 0; i < n; i++)
			if (set[i]->attachment && hooks[h].before)
				hooks[h].before(set[i]->attachment, hooks[h].userdata);
}

static void hooks_after(struct device **set, size_t n, int r)
{
	for (unsigned h = n_hooks; h-- > 0;)
		for (size_t i = 0; i < n; i++)
			if (set[i]->attachment && hooks[h].after)
				hooks[h].after(set[i]->attachment, r, hooks[h].userdata);
}

struct attached_reset {
	struct manager *manager;
	struct lease_device *ld;
	struct worker *worker;
	bool function;
	int fd;                        /* ld's file: the child's copy does the ioctl */
	size_t n;
	struct bdf set[RESET_SET_MAX]; /* found again by address after it */
	reset_done_fn done;
	void *userdata;
};

/* The attachments of job's set now (a device may have left meanwhile). */
static size_t attached_set(struct attached_reset *job, struct device **set, const struct device *skip)
{
	size_t k = 0;

	for (size_t i = 0; i < job->n; i++) {
		struct device *d = inventory_find(job->manager->inventory, &job->set[i]);
		if (d && d != skip)
			set[k++] = d;
	}
	return k;
}

/* In the worker. */
static int attached_reset_run(void *userdata)
{
	const struct attached_reset *job = userdata;

	return job->function ? vfio_reset(job->fd) : vfio_hot_reset(job->fd);
}

static void attached_reset_done(int r, void *userdata)
{
	struct attached_reset *job = userdata;
	struct lease_device *ld = job->ld;
	struct device *set[RESET_SET_MAX];
	size_t n = attached_set(job, set, NULL);
	_cleanup_free_ char *text = NULL;

	ld->reset = NULL;
	/* Logged between the hooks: the journal shows the order of things. */
	struct log_ctx ctx = { .device = ld->name, .lease = ld->lease->object_path, .op = "reset" };
	if (r < 0)
		log_meta(LOG_WARNING, r, &ctx, "Reset (%s) failed: %m.", job->function ? "function reset" : "hot reset");
	else
		log_meta(LOG_INFO, 0, &ctx, "Reset (%s).", job->function ? "function reset" : "hot reset");
	hooks_after(set, n, r);
	if (r < 0)
		(void)why(&text, r, "%s failed: %s", job->function ? "VFIO_DEVICE_RESET" : "VFIO_DEVICE_PCI_HOT_RESET",
			  strerror(-r));
	job->done(r, text, job->userdata);
	free(job);
}

int reset_attached_start(struct manager *m, struct lease_device *ld, reset_done_fn done, void *userdata,
			 char **ret_why)
{
	struct device *set[RESET_SET_MAX];
	struct attached_reset *job;
	size_t n = 1;
	uint32_t flags, hot_flags, count;
	bool function;
	char what[64];
	int r;

	*ret_why = NULL;
	if (!ld->device)
		return why(ret_why, -ENODEV, "%s left the bus", ld->name);
	if (ld->reset)
		return why(ret_why, -EBUSY, "a reset of %s is under way already", ld->name);
	r = vfio_device_flags(ld->fd, &flags);
	if (r == -EINVAL)
		return why(ret_why, r, "%s is not bound to an iommufd yet (raw mode: bind it first)", ld->name);
	if (r < 0)
		return why(ret_why, r, "VFIO_DEVICE_GET_INFO failed: %s", strerror(-r));

	/* The kernel sets FLAGS_RESET when a reset of the device alone works. */
	function = flags & VFIO_DEVICE_FLAGS_RESET;
	set[0] = ld->device;
	if (!function) {
		r = vfio_hot_reset_info(ld->fd, &hot_flags, &count);
		if (r < 0)
			return why(ret_why, r, "%s has no function reset, and VFIO_DEVICE_GET_PCI_HOT_RESET_INFO "
					    "failed: %s", ld->name, strerror(-r));
		if (!(hot_flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED))
			return why(ret_why, -EPERM, "%s has no function reset, and a hot reset is refused while a "
					    "device of its reset set is open through another iommufd", ld->name);
		n = reset_set_members(m->inventory, ld->device, set, RESET_SET_MAX);
	}

	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	*job = (struct attached_reset){ .manager = m, .ld = ld, .function = function, .fd = ld->fd, .n = n,
					.done = done, .userdata = userdata };
	for (size_t i = 0; i < n; i++)
		job->set[i] = set[i]->address;
	hooks_before(set, n);
	snprintf(what, sizeof what, "The reset of %s", ld->name);
	/* The ioctl may take long (a hot reset, a slow FLR): a worker does it. */
	r = worker_start(m->event, what, attached_reset_run, job, ld->fd, 0, attached_reset_done, NULL, job,
			 &job->worker);
	if (r < 0) {
		hooks_after(set, n, r);
		free(job);
		return why(ret_why, r, "cannot start the reset of %s: %s", ld->name, strerror(-r));
	}
	ld->reset = job;
	return 0;
}

void reset_attached_cancel(struct lease_device *ld)
{
	struct attached_reset *job = ld->reset;
	struct device *set[RESET_SET_MAX];
	size_t n;
	_cleanup_free_ char *text = NULL;

	if (!job)
		return;
	ld->reset = NULL;
	/* The kernel finishes the reset without us (the child holds its own
	 * copy of the file, so the release waits for it).  The rest of the set
	 * is told it failed: its dma-bufs stay revoked, never mapped again
	 * under a reset that may still run. */
	worker_abandon(job->worker);
	n = attached_set(job, set, ld->device);
	hooks_after(set, n, -ECANCELED);
	(void)why(&text, -ECANCELED, "%s left its lease while its reset ran", ld->name);
	job->done(-ECANCELED, text, job->userdata);
	free(job);
}

/* May a hot reset of d's set reset this member too? */
static int member_state(const struct device *d, const struct device *member, char **ret_why)
{
	if (member->lease)
		return why(ret_why, RESET_SET_PENDING, "waiting for %s, of the same reset set, to leave its lease: "
				  "%s has no reset of its own, and the hot reset of its set resets both", member->name,
				  d->name);
	if (member->teardown_step == TEARDOWN_DETACH || member->teardown_step == TEARDOWN_RELEASE)
		return why(ret_why, RESET_SET_PENDING, "waiting for the release of %s, of the same reset set",
			   member->name);
	if (member->driver[0] && strcmp(member->driver, "vfio-pci") != 0)
		return why(ret_why, -EBUSY, "%s has no reset of its own, and a hot reset of its set would reset "
				  "%s, which is bound to host driver %s; unbind it (or let ccdevd manage it)",
				  d->name, member->name, member->driver);
	return 0;
}

/* The devices of job, found again by address: one may have left the bus
 * while the child ran. */
static size_t job_devices(struct manager *m, const struct reset_job *job, struct device **set)
{
	size_t k = 0;

	for (size_t i = 0; i < job->n; i++) {
		struct device *d = inventory_find(m->inventory, &job->set[i]);
		if (d)
			set[k++] = d;
	}
	return k;
}

void reset_released_plan(struct device *d, struct reset_job *job)
{
	*job = (struct reset_job){ .n = 1, .set = { d->address } };
	snprintf(job->path, sizeof job->path, "%s", d->syspath);
	snprintf(job->names, sizeof job->names, "%s", d->name);
	hooks_before(&d, 1);
}

int reset_released_plan_hot(struct manager *m, struct device *d, struct reset_job *job, char **ret_why)
{
	struct device *set[RESET_SET_MAX];
	size_t n, len;
	int r;

	*ret_why = NULL;
	n = reset_set_members(m->inventory, d, set, RESET_SET_MAX);
	for (size_t i = 1; i < n; i++) {
		r = member_state(d, set[i], ret_why);
		if (r < 0)
			return r;
	}
	*job = (struct reset_job){ .hot = true, .n = n };
	r = reset_set_bridge(d, job->path, sizeof job->path);
	if (r < 0)
		return why(ret_why, r, "no function reset works, and %s sits on a root bus: no hot reset either",
			   d->name);
	len = 0;
	for (size_t i = 0; i < n; i++) {
		job->set[i] = set[i]->address;
		len += (size_t)snprintf(job->names + len, len < sizeof job->names ? sizeof job->names - len : 0,
					"%s%s", i ? " " : "", set[i]->name);
	}
	hooks_before(set, n);
	return 0;
}

int reset_job_run(void *userdata)
{
	const struct reset_job *job = userdata;

	return job->hot ? sysfs_reset_subordinate(job->path) : sysfs_reset_function(job->path);
}

int reset_released_done(struct manager *m, const struct reset_job *job, int r, char **ret_method,
			char **ret_why, void (*also)(struct manager *m, struct device *member))
{
	struct device *set[RESET_SET_MAX];
	size_t n = job_devices(m, job, set);
	const char *bridge = strrchr(job->path, '/') ? strrchr(job->path, '/') + 1 : job->path;

	*ret_method = *ret_why = NULL;
	hooks_after(set, n, r);
	if (!job->hot) {
		/* ENOTTY: no function reset works for it alone. */
		if (r == -ENOTTY)
			return RESET_NEEDS_HOT;
		if (r < 0)
			return why(ret_why, r, "function reset failed: %s", strerror(-r));
		*ret_method = strdup("function reset");
		return 0;
	}
	if (r < 0)
		return why(ret_why, r, "no function reset works, and the hot reset of its reset set (%s) below %s "
				       "failed: %s%s", job->names, bridge, strerror(-r),
			   r == -EPERM ? " (ccdevd lacks CAP_SYS_ADMIN)" : "");
	if (asprintf(ret_method, "hot reset of the reset set (%s) below %s", job->names, bridge) < 0)
		*ret_method = NULL;
	/* set[0] is the device itself, if it is still there. */
	for (size_t i = 0; i < n; i++)
		if (also && !bdf_equal(&set[i]->address, &job->set[0]) && set[i]->teardown_step == TEARDOWN_RESET)
			also(m, set[i]);
	return 0;
}
