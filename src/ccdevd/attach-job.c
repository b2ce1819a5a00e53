/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "attach-job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claim.h"
#include "cleanup.h"
#include "device.h"
#include "inventory.h"
#include "kernel/sysfs.h"
#include "lease.h"
#include "log.h"
#include "manager.h"
#include "state.h"
#include "why.h"
#include "worker.h"

#define ATTACH_JOB_MAX 32
/* A claim slower than this is named in the log; it is never killed. */
#define CLAIM_SLOW_USEC (10 * 1000 * 1000)

struct attach_job {
	struct manager *manager;
	struct lease *lease; /* NULL once it ended */
	struct bdf bdfs[ATTACH_JOB_MAX];
	size_t n, next;      /* bdfs[next]: the device being claimed */
	bool raw;
	struct device *claiming; /* reserved (claim_job) while its worker runs; NULL once gone */
	char claiming_name[BDF_STRING_MAX];
	struct worker *worker;
	bool answered;       /* done() was called */
	attach_job_done_fn done;
	void *userdata;
	struct attach_job *next_job; /* manager::attach_jobs */
};

bool attach_job_foreign(const struct device *d, uid_t owner_uid)
{
	return d->claim_job && (!d->claim_job->lease || d->claim_job->lease->owner_uid != owner_uid);
}

pid_t attach_job_worker_pid(const struct device *d)
{
	return d->claim_job ? worker_pid(d->claim_job->worker) : 0;
}

bool attach_needs_claim(const struct device *d)
{
	return strcmp(d->driver, "vfio-pci") != 0;
}

struct device *attach_current(struct manager *m, struct device *d)
{
	struct bdf address = d->address;
	char now[64];

	if (sysfs_read_driver(d->syspath, now, sizeof now) < 0 || strcmp(now, d->driver) == 0)
		return d;
	log_dev(LOG_INFO, 0, d->name, "inventory", "Driver link says %s before its uevent came; refreshing.",
		now[0] ? now : "none");
	(void)inventory_refresh(m->inventory, d);
	return inventory_find(m->inventory, &address);
}

static void job_unlink_free(struct attach_job *job)
{
	for (struct attach_job **p = &job->manager->attach_jobs; *p; p = &(*p)->next_job)
		if (*p == job) {
			*p = job->next_job;
			break;
		}
	free(job);
}

static void answer(struct attach_job *job, int r, const char *what, const char *why)
{
	if (job->answered)
		return;
	job->answered = true;
	job->done(job->lease, r, what, why, job->userdata);
}

static void fail(struct attach_job *job, int r, const char *name, const char *why)
{
	char what[64];

	snprintf(what, sizeof what, "lease device %s", name);
	answer(job, r, what, why);
}

/* The job is over with nothing of it running: fail the call, forget it. */
static void fail_and_free(struct attach_job *job, int r, const char *name, const char *why)
{
	fail(job, r, name, why);
	job_unlink_free(job);
}

/* In the worker: the sysfs writes of the claim, and their rollback. */
static int claim_in_worker(void *ctx)
{
	char *why = NULL;
	int r = claim_for_vfio(ctx, &why);

	free(why);
	return r;
}

static int restore_in_worker(void *ctx)
{
	char *why = NULL;
	int r = claim_restore(ctx, &why);

	free(why);
	return r;
}

static void on_claim_slow(void *userdata)
{
	struct attach_job *job = userdata;

	log_dev(LOG_WARNING, 0, job->claiming_name, "claim",
		"The claim for vfio-pci has taken over %d s (the host driver's unbind or vfio-pci's probe); still "
		"waiting for the kernel.", CLAIM_SLOW_USEC / 1000000);
}

static void step(struct attach_job *job);

/* The claim is over with the device in no lease: unreserved, no longer in
 * the state file, its rule applied again (a reload may have come
 * meanwhile); the job goes. */
static void claim_over(struct attach_job *job)
{
	struct manager *m = job->manager;

	if (job->claiming)
		job->claiming->claim_job = NULL;
	job->claiming = NULL;
	state_save(m);
	manager_claim_ended(m, &job->bdfs[job->next]);
	job_unlink_free(job);
}

static void on_restore_done(int r, void *userdata)
{
	struct attach_job *job = userdata;
	struct device *d = job->claiming;

	job->worker = NULL;
	if (d) {
		if (r < 0)
			log_dev(LOG_ERR, r, job->claiming_name, "claim",
				"Returning to host driver %s after a failed attach or the lease's end failed: %m.",
				d->original_driver[0] ? d->original_driver : "(none)");
		d->claim_job = NULL;
		job->claiming = NULL; /* the refresh may make it anew */
		(void)inventory_refresh(job->manager->inventory, d);
	}
	claim_over(job);
}

/* Give the claimed device d back to its host driver in a worker, reserved
 * and named in the state file until then (on_restore_done). */
static void give_back(struct attach_job *job, struct device *d)
{
	job->claiming = d;
	d->claim_job = job;
	state_save_now(job->manager);
	if (worker_start(job->manager->event, "restore", restore_in_worker, d, -1, CLAIM_SLOW_USEC, on_restore_done,
			 NULL, job, &job->worker) >= 0) {
		/* Now with the worker's pid: the next daemon waits for it. */
		state_save(job->manager);
		return;
	}
	log_dev(LOG_ERR, 0, d->name, "claim", "Cannot start the worker that returns it to host driver %s; it stays "
		"on vfio-pci.", d->original_driver[0] ? d->original_driver : "(none)");
	claim_over(job);
}

static void on_claim_done(int r, void *userdata)
{
	struct attach_job *job = userdata;
	struct manager *m = job->manager;
	struct device *d = job->claiming;
	_cleanup_free_ char *why = NULL;
	struct lease_device *ld;

	job->worker = NULL;
	if (!d) {
		/* It left the bus meanwhile (attach_jobs_device_removed answered). */
		job_unlink_free(job);
		return;
	}
	(void)inventory_refresh(m->inventory, d);
	d = inventory_find(m->inventory, &job->bdfs[job->next]);
	if (!d) {
		fail_and_free(job, -ENODEV, job->claiming_name, "it left the bus while it was claimed");
		return;
	}
	/* (The refresh may have made the device anew: reserve it again.) */
	job->claiming = d;
	d->claim_job = job;
	if (!job->lease) {
		/* The lease ended meanwhile: give the device back as it was (to
		 * no driver, if it had none); a failed claim the worker rolled
		 * back already. */
		if (r >= 0)
			give_back(job, d);
		else
			claim_over(job);
		return;
	}
	if (r < 0) {
		bool back = d->original_driver[0] && strcmp(d->driver, d->original_driver) == 0;
		if (asprintf(&why, "Could not bind %s to vfio-pci (%s; is the vfio-pci module loaded?); %s", d->name,
			     r == -EREMOTEIO ? "the driver link did not change to vfio-pci" : strerror(-r),
			     back ? "it is back on its host driver"
				  : d->driver[0] ? "it is on another driver now: see the journal"
						 : "it is left without a driver") < 0)
			why = NULL;
		/* The worker rolled back. */
		fail(job, r, d->name, why);
		claim_over(job);
		return;
	}
	/* On success the attach writes the state file, with the device in the
	 * lease instead of being claimed.  Its refresh may make the device
	 * anew: job->claiming is not used after. */
	d->claim_job = NULL;
	job->claiming = NULL;
	r = lease_attach_claimed(job->lease, d, job->raw, &ld, &why);
	if (r < 0) {
		/* The call fails now; the device goes back to its host driver. */
		fail(job, r, job->claiming_name, why);
		d = inventory_find(m->inventory, &job->bdfs[job->next]);
		if (d)
			give_back(job, d);
		else
			claim_over(job);
		return;
	}
	job->next++;
	step(job);
}

/* Attach from bdfs[next] on: at once while no claim is needed, else start
 * the claim and come back when it ends. */
static void step(struct attach_job *job)
{
	struct manager *m = job->manager;

	for (; job->next < job->n; job->next++) {
		_cleanup_free_ char *why = NULL;
		struct lease_device *ld;
		struct device *d = inventory_find(m->inventory, &job->bdfs[job->next]);
		char name[BDF_STRING_MAX];
		int r;

		if (d)
			d = attach_current(m, d);
		if (!d) {
			fail_and_free(job, -ENODEV, bdf_format(&job->bdfs[job->next], name), "it left the bus");
			return;
		}
		if (attach_needs_claim(d)) {
			r = lease_attach_check(job->lease, d, &why);
			if (r < 0) {
				fail_and_free(job, r, d->name, why);
				return;
			}
			/* Reserved, and so named in the state file, before the worker
			 * starts: a daemon killed during the claim leaves its
			 * successor the host driver to give back. */
			d->claim_job = job;
			job->claiming = d;
			memcpy(job->claiming_name, d->name, sizeof job->claiming_name);
			state_save_now(m);
			r = worker_start(m->event, "claim", claim_in_worker, d, -1, CLAIM_SLOW_USEC, on_claim_done,
					 on_claim_slow, job, &job->worker);
			if (r < 0) {
				fail(job, r, d->name, NULL);
				claim_over(job);
				return;
			}
			/* Now with the worker's pid: a daemon killed during the
			 * claim leaves its successor that worker to wait for
			 * before it gives the device back. */
			state_save(m);
			log_dev(LOG_INFO, 0, d->name, "claim", "Claiming for vfio-pci for lease %u, in a worker (host driver: %s).",
				job->lease->id, d->driver[0] ? d->driver : "none");
			return;
		}
		r = lease_attach(job->lease, d, job->raw, &ld, &why);
		if (r < 0) {
			fail_and_free(job, r, d->name, why);
			return;
		}
	}
	answer(job, 0, NULL, NULL);
	job_unlink_free(job);
}

int attach_job_start(struct lease *l, const struct bdf *bdfs, size_t n, bool raw, attach_job_done_fn done,
		     void *userdata)
{
	struct manager *m = l->manager;
	struct attach_job *job;

	if (n == 0 || n > ATTACH_JOB_MAX)
		return -EINVAL;
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	*job = (struct attach_job){ .manager = m, .lease = l, .n = n, .raw = raw, .done = done, .userdata = userdata };
	memcpy(job->bdfs, bdfs, n * sizeof(*bdfs));
	job->next_job = m->attach_jobs;
	m->attach_jobs = job;
	step(job);
	return 0;
}

void attach_jobs_lease_ended(struct lease *l, const char *reason)
{
	struct manager *m = l->manager;

	for (struct attach_job *job = m->attach_jobs; job; job = job->next_job) {
		char why[160];

		if (job->lease != l)
			continue;
		snprintf(why, sizeof why, "the lease ended (%s) while %s was being claimed for vfio-pci", reason,
			 job->claiming_name);
		job->lease = NULL;
		answer(job, -ECANCELED, "attach", why);
		/* The job stays until its worker ends (on_claim_done). */
	}
}

void attach_jobs_device_removed(struct manager *m, struct device *d)
{
	struct attach_job *job = d->claim_job;

	if (!job)
		return;
	d->claim_job = NULL;
	job->claiming = NULL;
	state_save(m);
	fail(job, -ENODEV, d->name, "it left the bus while it was claimed");
}

void attach_jobs_free(struct manager *m)
{
	while (m->attach_jobs) {
		struct attach_job *job = m->attach_jobs;
		answer(job, -ECANCELED, "attach", "ccdevd is stopping");
		if (job->claiming)
			job->claiming->claim_job = NULL;
		worker_abandon(job->worker);
		job_unlink_free(job);
	}
}
