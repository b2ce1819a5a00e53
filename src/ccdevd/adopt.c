/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "adopt.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "device.h"
#include "dmabuf.h"
#include "fdstore.h"
#include "inventory.h"
#include "kernel/iommufd.h"
#include "kernel/proc.h"
#include "kernel/sysfs.h"
#include "kernel/vfio.h"
#include "lease.h"
#include "log.h"
#include "manager.h"
#include "memlock.h"
#include "state-file.h"
#include "state.h"
#include "teardown.h"

/* Leases re-created only to be ended: ended once the daemon owns its bus
 * name, so that an owner listening for LeaseReleased from org.ccdevd1 hears
 * it (by id: a lease may end by itself before). */
struct adoption {
	unsigned *ids;
	char **reasons;
	size_t n;
};

static void pending_add(struct manager *m, unsigned id, char *reason)
{
	struct adoption *a = m->adoption;
	unsigned *ids;
	char **reasons;

	if (!a && !(a = m->adoption = calloc(1, sizeof(*a))))
		goto oom;
	ids = reallocarray(a->ids, a->n + 1, sizeof(*ids));
	if (ids)
		a->ids = ids;
	reasons = reallocarray(a->reasons, a->n + 1, sizeof(*reasons));
	if (reasons)
		a->reasons = reasons;
	if (!ids || !reasons)
		goto oom;
	a->ids[a->n] = id;
	a->reasons[a->n++] = reason;
	return;
oom:
	/* Better now than never. */
	free(reason);
	if (manager_find_lease(m, id))
		lease_end(manager_find_lease(m, id), "not re-adopted after a restart");
}

void adopt_forget(struct manager *m)
{
	struct adoption *a = m->adoption;

	if (!a)
		return;
	m->adoption = NULL;
	for (size_t i = 0; i < a->n; i++)
		free(a->reasons[i]);
	free(a->ids);
	free(a->reasons);
	free(a);
}

void adopt_finish(struct manager *m)
{
	struct adoption *a = m->adoption;

	if (!a)
		return;
	m->adoption = NULL;
	for (size_t i = 0; i < a->n; i++) {
		struct lease *l = manager_find_lease(m, a->ids[i]);
		if (l)
			lease_end(l, a->reasons[i] ? a->reasons[i] : "not re-adopted after a restart");
		free(a->reasons[i]);
	}
	free(a->ids);
	free(a->reasons);
	free(a);
}

struct received {
	struct fdstore_entry *entries;
	size_t n;
};

/* Teardowns to carry on once everything is in place. */
struct resumed {
	struct device **devices;
	size_t n, max;
};

static void resumed_add(struct resumed *r, struct device *d)
{
	if (r->n == r->max) {
		size_t max = r->max ? r->max * 2 : 16;
		struct device **p = reallocarray(r->devices, max, sizeof(*p));
		if (!p) {
			log_error("Out of memory: the teardown of %s is not resumed now.", d->name);
			return;
		}
		r->devices = p;
		r->max = max;
	}
	r->devices[r->n++] = d;
}

static int take(struct received *rc, unsigned lease_id, const char *what)
{
	char name[FDSTORE_NAME_MAX];

	fdstore_name_lease(name, sizeof name, lease_id, what);
	return fdstore_take(rc->entries, rc->n, name);
}

static bool pidfd_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Is the device file fd one of d's?  Else *why says what is wrong. */
static bool device_fd_ok(struct device *d, int fd, const char **why)
{
	dev_t rdev;

	if (fd < 0)
		*why = "its file is not in the fd store";
	else if (sysfs_vfio_cdev_devnum(d->syspath, &rdev) < 0)
		*why = "it has no VFIO device node any more";
	else if (vfio_cdev_check(fd, rdev) < 0)
		*why = "the fd stored as its file is not a file of its VFIO device";
	else
		return true;
	return false;
}

/* One lease of the state file: adopted, or adopted and ended. */
static void adopt_lease(struct manager *m, const struct saved_lease *s, struct received *rc, struct lease **ret,
			char **ret_end)
{
	_cleanup_free_ int *fds = calloc(s->n_devices ? s->n_devices : 1, sizeof(int));
	_cleanup_close_ int iommufd = take(rc, s->id, "iommufd"), pidfd = take(rc, s->id, "pidfd");
	_cleanup_free_ char *distrust = NULL;
	pid_t pid = 0;
	int r;

	*ret = NULL;
	*ret_end = NULL;
	if (!fds) {
		log_error("Out of memory adopting lease %u.", s->id);
		return;
	}
	/* Each fd against what its name says. */
	if (iommufd < 0)
		distrust = strdup("its iommufd is not in the fd store");
	else if ((r = iommufd_check_ioas(iommufd, s->ioas_id)) < 0 &&
		 asprintf(&distrust, "the fd stored as its iommufd has no IOAS %u (%s)", s->ioas_id, strerror(-r)) < 0)
		distrust = NULL;
	if (!distrust && pidfd < 0)
		distrust = strdup("its owner's pidfd is not in the fd store");
	else if (!distrust && (proc_pidfd_pid(pidfd, &pid) < 0 || (pid != s->owner_pid && pid != -1)) &&
		 asprintf(&distrust, "the fd stored as its owner's pidfd is not one of pid %d", (int)s->owner_pid) < 0)
		distrust = NULL;
	if (distrust) {
		/* Not an iommufd or pidfd of this lease: not ours to use. */
		iommufd = safe_close(iommufd);
		pidfd = safe_close(pidfd);
	}
	for (size_t k = 0; k < s->n_devices; k++) {
		char name[FDSTORE_NAME_MAX], bdf[BDF_STRING_MAX];
		struct device *d = inventory_find(m->inventory, &s->devices[k].address);
		const char *bad = NULL;

		fdstore_name_device(name, sizeof name, s->id, bdf_format(&s->devices[k].address, bdf));
		fds[k] = fdstore_take(rc->entries, rc->n, name);
		if (d && !device_fd_ok(d, fds[k], &bad)) {
			log_dev(LOG_WARNING, 0, d->name, "adopt", "Lease %u: %s.", s->id, bad);
			fds[k] = safe_close(fds[k]);
			if (!distrust && asprintf(&distrust, "%s: %s", d->name, bad) < 0)
				distrust = NULL;
		}
	}

	/* Whether it can be trusted, and whether its owner is still there,
	 * before it exists: a lease to end is not tracked (its end must say
	 * why, not race with the owner's pidfd). */
	if (distrust) {
		if (asprintf(ret_end, "not re-adopted after a restart: %s", distrust) < 0)
			*ret_end = NULL;
	} else if (s->releasing)
		*ret_end = strdup("its release was under way when ccdevd stopped");
	else if (pid == -1 || pidfd_exited(pidfd))
		*ret_end = strdup("owner exited while ccdevd was down");
	else if (s->owner_name[0]) {
		/* The bus name must still be the owner's: a connection with that
		 * name and that PID.  (A direct connection did not outlive the
		 * last daemon: its lease goes on with its owner process.) */
		sd_bus_creds *creds = NULL;
		pid_t name_pid = 0;
		r = sd_bus_get_name_creds(m->bus, s->owner_name, SD_BUS_CREDS_PID, &creds);
		if (r >= 0)
			r = sd_bus_creds_get_pid(creds, &name_pid);
		sd_bus_creds_unref(creds);
		if (r < 0 || name_pid != s->owner_pid)
			*ret_end = strdup("owner left the bus while ccdevd was down");
	}
	r = lease_adopt(m, s, TAKE_FD(iommufd), TAKE_FD(pidfd), fds, !*ret_end, ret);
	if (r < 0) {
		log_error_errno(r, "Lease %u cannot be re-created (%m); its devices stay as they are.", s->id);
		free(*ret_end);
		*ret_end = NULL;
	}
}

/* The state file cannot be trusted: nothing handed out can be known. */
static void adopt_without_state(struct manager *m, struct received *rc, struct resumed *res)
{
	size_t n;
	struct device *const *devices = inventory_devices(m->inventory, &n);

	/* Device files first (detach from any IOAS, drop our reference), then
	 * the iommufds: the same order as a teardown. */
	for (size_t i = 0; i < rc->n; i++) {
		unsigned id;
		int pos = 0;
		if (rc->entries[i].fd < 0 || sscanf(rc->entries[i].name, "lease-%u-dev-%n", &id, &pos) != 1 || !pos)
			continue;
		(void)vfio_detach_pt(rc->entries[i].fd);
		rc->entries[i].fd = vfio_close(rc->entries[i].fd);
	}
	for (size_t i = 0; i < rc->n; i++)
		if (rc->entries[i].fd >= 0) {
			log_info("fd store: %s closed (no state says what it belongs to).", rc->entries[i].name);
			rc->entries[i].fd = safe_close(rc->entries[i].fd);
		}
	for (size_t i = 0; i < n; i++) {
		struct device *d = devices[i];
		char driver[64] = "";
		if (!d->managed || d->teardown)
			continue;
		(void)sysfs_read_driver(d->syspath, driver, sizeof driver);
		if (strcmp(driver, "vfio-pci") != 0)
			continue;
		if (teardown_resume(m, d, TEARDOWN_RELEASE, true, 0, 0,
				    "ccdevd lost its state: it may be open in a VM nobody remembers; released once "
				    "the kernel proves no file of it open") >= 0)
			resumed_add(res, d);
	}
}

/* Is fd the daemon's dma-buf of length bytes?  Else *why says what is wrong. */
static bool dmabuf_fd_ok(int fd, uint64_t length, const char **why)
{
	uint64_t size;

	if (fd < 0)
		*why = "its dma-buf is not in the fd store";
	else if (proc_dmabuf_size(fd, &size) < 0)
		*why = "the fd stored as its dma-buf is no dma-buf";
	else if (size != length)
		*why = "the fd stored as its dma-buf has another size";
	else
		return true;
	return false;
}

/* The exports of l's devices, each with its fd. */
static void adopt_exports(struct lease *l, const struct saved_lease *s, struct received *rc)
{
	for (size_t k = 0; k < s->n_devices; k++) {
		const struct saved_device *sd = &s->devices[k];
		struct lease_device *ld = lease_find_device(l, &sd->address);
		char name[FDSTORE_NAME_MAX], bdf[BDF_STRING_MAX];

		bdf_format(&sd->address, bdf);
		for (size_t e = 0; e < sd->n_exports; e++) {
			struct vfio_dma_slice ranges[STATE_RANGES_MAX];
			uint64_t total = 0;
			const char *bad = NULL;
			int fd;

			fdstore_name_export(name, sizeof name, l->id, bdf, e);
			fd = fdstore_take(rc->entries, rc->n, name);
			for (size_t x = 0; x < sd->exports[e].n_ranges; x++) {
				ranges[x] = (struct vfio_dma_slice){ sd->exports[e].ranges[x].offset,
								     sd->exports[e].ranges[x].length };
				total += ranges[x].length;
			}
			if (!ld)
				bad = "its device was not re-adopted";
			if (bad || !dmabuf_fd_ok(fd, total, &bad)) {
				log_dev(LOG_WARNING, 0, bdf, "adopt", "Lease %u: export %zu of BAR %u dropped: %s.", l->id, e,
					sd->exports[e].bar, bad);
				safe_close(fd);
				continue;
			}
			(void)dmabuf_adopt_export(ld, sd->exports[e].bar, ranges, sd->exports[e].n_ranges, fd);
		}
	}
}

/* The P2P mappings into l's IOAS.  One that cannot be trusted, or whose
 * exporter did not come back, leaves the IOAS now: no mapping stays that
 * nobody knows. */
static void adopt_mappings(struct manager *m, struct lease *l, const struct saved_lease *s, struct received *rc)
{
	for (size_t k = 0; k < s->n_mappings; k++) {
		const struct saved_mapping *mp = &s->mappings[k];
		struct device *d = inventory_find(m->inventory, &mp->address);
		struct lease_device *exporter = d ? d->attachment : NULL;
		char name[FDSTORE_NAME_MAX], bdf[BDF_STRING_MAX];
		const char *bad = NULL;
		int fd;

		bdf_format(&mp->address, bdf);
		fdstore_name_mapping(name, sizeof name, l->id, mp->iova);
		fd = fdstore_take(rc->entries, rc->n, name);
		if (!exporter)
			bad = "its exporting device was not re-adopted";
		if (bad || !dmabuf_fd_ok(fd, mp->length, &bad)) {
			log_meta(LOG_WARNING, 0, &(struct log_ctx){ .device = bdf, .lease = l->object_path, .op = "adopt" },
				 "Mapping of BAR %u at IOVA 0x%" PRIx64 " dropped: %s.", mp->bar, mp->iova, bad);
			if (mp->mapped && l->iommufd >= 0)
				(void)iommufd_ioas_unmap(l->iommufd, l->ioas_id, mp->iova, mp->length);
			safe_close(fd);
			continue;
		}
		(void)dmabuf_adopt_mapping(l, exporter, mp->bar, mp->offset, mp->length, mp->iova, mp->mapped, fd);
	}
}

/* The state file is good: leases and teardowns as it says, each checked. */
static void adopt_from_state(struct manager *m, const struct saved_state *s, struct received *rc,
			     struct resumed *res)
{
	if (s->next_lease_id - 1 > m->next_lease_id)
		m->next_lease_id = s->next_lease_id - 1;
	/* The saved memlock limits before the leases: ending one lowers its
	 * owner's limit back towards them. */
	for (size_t i = 0; i < s->n_memlock; i++)
		(void)memlock_import(m, &s->memlock[i]);

	for (size_t i = 0; i < s->n_leases; i++) {
		struct lease *l;
		char *end;

		adopt_lease(m, &s->leases[i], rc, &l, &end);
		if (!l)
			continue;
		manager_add_lease(m, l, true);
		if (end) {
			pending_add(m, l->id, end);
			continue;
		}
		m->n_adopted++;
		log_meta(LOG_NOTICE, 0, &(struct log_ctx){ .lease = l->object_path, .op = "adopt" },
			 "Lease %u re-adopted: uid %u pid %d (%s), %u device(s), IOAS %u.", l->id,
			 (unsigned)l->owner_uid, (int)l->owner_pid, l->owner_name[0] ? l->owner_name : "direct socket",
			 lease_device_count(l), l->ioas_id);
	}
	/* dma-bufs once every lease is back: a mapping's exporter may be a
	 * device of any of them. */
	for (size_t i = 0; i < s->n_leases; i++) {
		struct lease *l = manager_find_lease(m, s->leases[i].id);
		if (l)
			adopt_exports(l, &s->leases[i], rc);
	}
	for (size_t i = 0; i < s->n_leases; i++) {
		struct lease *l = manager_find_lease(m, s->leases[i].id);
		if (l)
			adopt_mappings(m, l, &s->leases[i], rc);
	}
	for (size_t i = 0; i < s->n_teardowns; i++) {
		const struct saved_teardown *t = &s->teardowns[i];
		struct device *d = inventory_find(m->inventory, &t->address);
		char name[BDF_STRING_MAX];

		if (!d) {
			log_warning("Teardown of %s not resumed: it left the bus while ccdevd was down.",
				    bdf_format(&t->address, name));
			continue;
		}
		device_restore_original_driver(d, t->original_driver);
		if (teardown_resume(m, d, t->step, t->file_bound, t->release_pid, t->worker_pid,
				    t->reason[0] ? t->reason : "resumed after a restart") >= 0)
			resumed_add(res, d);
	}

	/* The store keeps only what the adopted leases hold: this sync removes
	 * the rest before any release below waits for a device's last file. */
	fdstore_entries_free(rc->entries, rc->n);
	*rc = (struct received){};
	m->adopting = false;
	state_save(m);
}

void adopt_run(struct manager *m)
{
	_cleanup_(saved_state_freep) struct saved_state *s = NULL;
	_cleanup_free_ char *why = NULL;
	struct received rc = {};
	struct resumed res = {};
	int r;

	m->adopting = true;
	r = fdstore_receive(&m->fdstore, &rc.entries, &rc.n);
	if (r < 0)
		log_error_errno(r, "Cannot take the fds back from the service manager: %m");
	r = state_load(m, &s, &why);
	if (r == -ENOENT && rc.n == 0) {
		log_info("No state from an earlier start: nothing to re-adopt.");
		goto done;
	}
	if (r < 0) {
		log_error("%s; trusting nothing of it: %zu fd(s) from the fd store are closed in order, and every "
			  "managed device on vfio-pci is released before it is handed out.",
			  r == -ENOENT ? "The fd store gave fds back but there is no state file"
			  : why ? why : strerror(-r), rc.n);
		if (r != -ENOENT)
			state_set_aside(m);
		adopt_without_state(m, &rc, &res);
		goto done;
	}

	adopt_from_state(m, s, &rc, &res);

done:
	fdstore_entries_free(rc.entries, rc.n);
	m->adopting = false;
	/* Everything the store still holds that nobody took leaves it now,
	 * before any release waits for the last file of a device. */
	state_save(m);
	teardown_go(m, res.devices, res.n);
	free(res.devices);
	if (m->n_adopted)
		log_notice("%u lease(s) re-adopted at start.", m->n_adopted);
}
