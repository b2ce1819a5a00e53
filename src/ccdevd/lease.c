/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "lease.h"
#include "reset.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bus-api.h"
#include "attach.h"
#include "attach-job.h"
#include "cleanup.h"
#include "config.h"
#include "device.h"
#include "direct-socket.h"
#include "dmabuf.h"
#include "group.h"
#include "inventory.h"
#include "kernel-uapi.h"
#include "kernel/iommufd.h"
#include "kernel/proc.h"
#include "kernel/sysfs.h"
#include "kernel/vfio.h"
#include "log.h"
#include "why.h"
#include "manager.h"
#include "user-limits.h"
#include "memlock.h"
#include "state.h"
#include "state-file.h"
#include "teardown.h"

static const char *const lease_state_names[] = {
	[LEASE_ACTIVE] = "active",
	[LEASE_RELEASING] = "releasing",
};

const char *lease_state_to_string(enum lease_state s)
{
	return lease_state_names[s];
}

unsigned lease_device_count(const struct lease *l)
{
	unsigned n = 0;

	for (const struct lease_device *ld = l->devices; ld; ld = ld->next)
		n++;
	return n;
}

struct lease_device *lease_find_device(struct lease *l, const struct bdf *address)
{
	for (struct lease_device *ld = l->devices; ld; ld = ld->next)
		if (ld->device && bdf_equal(&ld->device->address, address))
			return ld;
	return NULL;
}

/* The owner's process or bus connection went away: end the lease from a
 * deferred event, outside the callback that noticed it. */
static int on_end_deferred(sd_event_source *s, void *userdata)
{
	struct lease *l = userdata;

	lease_end(l, l->end_reason);
	return 0;
}

static void lease_schedule_end(struct lease *l, const char *reason)
{
	int r;

	if (l->end_source || l->state != LEASE_ACTIVE)
		return;
	l->end_reason = reason;
	r = sd_event_add_defer(l->manager->event, &l->end_source, on_end_deferred, l);
	if (r < 0) {
		log_error_errno(r, "Lease %u: cannot defer its end (%m); ending it now.", l->id);
		lease_end(l, reason);
	}
}

static int on_owner_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	lease_schedule_end(userdata, "owner exited");
	return 0;
}

static int on_owner_left_bus(sd_bus_track *t, void *userdata)
{
	lease_schedule_end(userdata, "owner left the bus");
	return 0;
}

void lease_owner_conn_closed(struct lease *l)
{
	l->owner_conn = NULL;
	lease_schedule_end(l, "owner closed its connection to ccdevd");
}

/*
 * Tie the lease to its owner: a pidfd of the calling process, and its
 * connection.  On the direct socket the kernel gave a pidfd of the process
 * that connected (SO_PEERPIDFD): nothing to race.  Otherwise the PID comes
 * from the bus (or SO_PEERCRED on a kernel without SO_PEERPIDFD), recorded
 * when the connection was made: a client that forked and exited leaves a
 * PID that may now be anyone's.  Either way the process behind the pidfd
 * must still run and be the caller's own uid (read after the pidfd pins
 * it), or the daemon would raise another user's RLIMIT_MEMLOCK and end the
 * lease with a stranger.  A bus PID is only trusted once the connection is
 * seen alive with that PID *after* the pidfd was opened.
 */
static int lease_track_owner(struct lease *l, const struct lease_owner *o, char **ret_why)
{
	struct manager *m = l->manager;
	sd_bus_creds *creds = NULL;
	pid_t pid_now = 0;
	uid_t uid;
	int r;

	if (o->conn && o->conn->creds.pidfd >= 0)
		l->owner_pidfd = fcntl(o->conn->creds.pidfd, F_DUPFD_CLOEXEC, 3);
	else
		l->owner_pidfd = (int)syscall(SYS_pidfd_open, o->pid, 0);
	if (l->owner_pidfd < 0)
		return why(ret_why, -errno, "cannot watch the calling process %d: %s", (int)o->pid, strerror(errno));
	r = proc_pidfd_euid(l->owner_pidfd, o->pid, &uid);
	if ((r < 0 || uid != o->uid) && o->conn)
		return why(ret_why, -ESRCH, "process %d, which connected to the direct socket, has exited or is "
			   "no longer uid %u (a client that forks must connect from the process that will hold "
			   "the lease)", (int)o->pid, (unsigned)o->uid);
	if (r < 0 || uid != o->uid)
		return why(ret_why, -ESRCH, "process %d, which the bus names as the caller, is not the caller's "
			   "(uid %u): the process that connected to the bus has gone (a client that forks must "
			   "call from a connection of its own)", (int)o->pid, (unsigned)o->uid);
	if (!o->conn) {
		r = sd_bus_get_name_creds(m->bus, o->unique_name, SD_BUS_CREDS_PID, &creds);
		if (r >= 0)
			r = sd_bus_creds_get_pid(creds, &pid_now);
		sd_bus_creds_unref(creds);
		if (r < 0 || pid_now != o->pid)
			return why(ret_why, -ESRCH, "the calling process went away while the lease was created");
	}

	r = sd_event_add_io(m->event, &l->owner_exit_source, l->owner_pidfd, EPOLLIN, on_owner_exit, l);
	/* A direct connection's close ends the lease (lease_owner_conn_closed). */
	if (r >= 0 && !o->conn)
		r = sd_bus_track_new(m->bus, &l->owner_track, on_owner_left_bus, l);
	if (r >= 0 && !o->conn)
		r = sd_bus_track_add_sender(l->owner_track, o->message);
	if (r < 0)
		return why(ret_why, r, "cannot track the calling process: %s", strerror(-r));
	l->owner_conn = o->conn;
	return 0;
}

static void lease_free(struct lease *l)
{
	if (!l)
		return;
	assert(!l->devices);
	assert(!l->mappings);
	sd_event_source_disable_unref(l->end_source);
	sd_event_source_disable_unref(l->owner_exit_source);
	sd_bus_track_unref(l->owner_track);
	safe_close(l->owner_pidfd);
	safe_close(l->iommufd);
	saved_lease_free(l->saved);
	free(l->saved_line);
	free(l->owner_name);
	free(l->object_path);
	free(l);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct lease *, lease_free);

int lease_new(struct manager *m, const struct lease_owner *o, struct lease **ret, char **ret_why)
{
	_cleanup_(lease_freep) struct lease *l = NULL;
	int r;

	r = limits_check_lease(m, o, ret_why);
	if (r < 0)
		return r;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->manager = m;
	l->owner_pidfd = l->iommufd = -1;
	l->id = ++m->next_lease_id;
	l->owner_uid = o->uid;
	l->owner_pid = o->pid;
	l->owner_name = strdup(o->unique_name ? o->unique_name : "");
	if (!l->owner_name || asprintf(&l->object_path, CCDEVD_LEASE_PREFIX "/%u", l->id) < 0)
		return -ENOMEM;

	l->iommufd = iommufd_open();
	if (l->iommufd == -ENOENT || l->iommufd == -ENODEV)
		return why(ret_why, -ENOTSUP, "this kernel offers no iommufd (/dev/iommu: %s; CONFIG_IOMMUFD, or "
				    "load the iommufd module)", strerror(-l->iommufd));
	if (l->iommufd < 0)
		return why(ret_why, l->iommufd, "cannot open /dev/iommu: %s", strerror(-l->iommufd));
	/* Pinned pages are then charged to the process that maps them (the VMM),
	 * against its own RLIMIT_MEMLOCK, not to a shared user count. */
	r = iommufd_set_rlimit_mode_per_process(l->iommufd);
	if (r < 0)
		return why(ret_why, r, "cannot set per-process pinned-memory accounting on the iommufd: %s%s",
			   strerror(-r), r == -EPERM ? " (ccdevd lacks CAP_SYS_RESOURCE)" : "");
	r = iommufd_ioas_alloc(l->iommufd, &l->ioas_id);
	if (r < 0)
		return why(ret_why, r, "IOMMU_IOAS_ALLOC failed: %s", strerror(-r));
	r = lease_track_owner(l, o, ret_why);
	if (r < 0)
		return r;

	log_meta(LOG_INFO, 0, &(struct log_ctx){ .lease = l->object_path, .op = "create" },
		 "Lease %u created for uid %u pid %d (%s): IOAS %u.", l->id, (unsigned)l->owner_uid,
		 (int)l->owner_pid, l->owner_name[0] ? l->owner_name : "direct socket", l->ioas_id);
	*ret = TAKE_PTR(l);
	return 0;
}

int lease_attach_check(struct lease *l, struct device *d, char **ret_why)
{
	struct manager *m = l->manager;
	uint64_t quota = d->rule ? d->rule->memlock_bytes : 0;
	int r;

	*ret_why = NULL;
	/* Another user's lease is named to nobody but its owner. */
	if (d->lease && d->lease->owner_uid == l->owner_uid)
		return why(ret_why, -EBUSY, "%s is leased by %s already", d->name, d->lease->object_path);
	if (d->lease)
		return why(ret_why, -EBUSY, "%s is leased by another user", d->name);
	if (d->claim_job)
		return why(ret_why, -EBUSY, "%s is being claimed for vfio-pci for a lease; try again once that "
			   "attach has answered", d->name);
	if (d->releasing)
		return why(ret_why, -EBUSY, "%s is not free yet (%s)%s%s", d->name, device_state_to_string(d->state),
			   d->state_reason[0] ? ": " : "", d->state_reason);
	r = group_check_viable(m->inventory, d, l->owner_uid, ret_why);
	if (r < 0)
		return r;
	r = memlock_check(l, quota, ret_why);
	if (r < 0)
		return r;
	return limits_check_device(m, l, ret_why);
}

static int attach_device(struct lease *l, struct device *d, bool raw, bool claimed, struct lease_device **ret,
			 char **ret_why)
{
	struct manager *m = l->manager;
	_cleanup_free_ struct lease_device *ld = NULL;
	uint64_t quota = d->rule ? d->rule->memlock_bytes : 0;
	int r;

	r = lease_attach_check(l, d, ret_why);
	if (r < 0)
		return r;

	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return -ENOMEM;
	*ld = (struct lease_device){ .lease = l, .device = d, .fd = -1 };
	memcpy(ld->name, d->name, sizeof ld->name);
	/* Claimed by a worker (attach-job.h): the step is done. */
	if (claimed) {
		ld->claimed = true;
		ld->steps_done |= 1u << ATTACH_CLAIM;
	}

	/* After a worker's claim its undo is the caller's, in a worker too
	 * (attach-job.c); otherwise attach_run() undoes what it ran. */
	r = attach_run(ld, claimed ? ATTACH_OPEN : ATTACH_CLAIM, raw ? ATTACH_OPEN : ATTACH_PT, ret_why);
	if (r < 0) {
		(void)inventory_refresh(m->inventory, d);
		return r;
	}
	/* dma-buf export can only be probed on a bound device. */
	if (!raw && !m->features.have[FEATURE_DMA_BUF_EXPORT] && vfio_probe_dma_buf_export(ld->fd) == 0)
		manager_feature_found(m, FEATURE_DMA_BUF_EXPORT);

	/* After a claim: driver and cdev as sysfs shows them now, before the
	 * device is linked to the lease (a refresh may find it gone).  A device
	 * that was on vfio-pci already changed nothing there; if it leaves the
	 * bus meanwhile, its removal event detaches it like any other. */
	if (ld->claimed) {
		struct bdf address = d->address;
		(void)inventory_refresh(m->inventory, d);
		d = inventory_find(m->inventory, &address);
		if (!d) {
			ld->fd = vfio_close(ld->fd);
			return why(ret_why, -ENODEV, "%s left the bus while it was attached", ld->name);
		}
	}

	/* Keep attach order; teardown walks it backwards. */
	struct lease_device **tail = &l->devices;
	while (*tail)
		tail = &(*tail)->next;
	*tail = ld;
	ld->device = d;
	ld->memlock_quota = quota;
	memlock_grant(l, quota);
	manager_device_changed(m, d, device_set_lease(d, l, ld));
	manager_lease_changed(m, l, "Devices");
	log_meta(LOG_INFO, 0, &(struct log_ctx){ .device = d->name, .lease = l->object_path, .op = "attach" },
		 "Attached to lease %u%s: dev_id %u, pt_id %u.", l->id, raw ? " (raw)" : "", ld->dev_id, ld->pt_id);
	*ret = TAKE_PTR(ld);
	return 0;
}

int lease_attach(struct lease *l, struct device *d, bool raw, struct lease_device **ret, char **ret_why)
{
	return attach_device(l, d, raw, false, ret, ret_why);
}

int lease_attach_claimed(struct lease *l, struct device *d, bool raw, struct lease_device **ret, char **ret_why)
{
	return attach_device(l, d, raw, true, ret, ret_why);
}

int lease_bind(struct lease_device *ld, char **ret_why)
{
	struct manager *m = ld->lease->manager;
	uint32_t flags;
	int r;

	*ret_why = NULL;
	if (ATTACH_STEP_DONE(ld, ATTACH_PT))
		return why(ret_why, LEASE_ALREADY_BOUND, "%s is bound already (attached with bind=true, or "
				    "BindDevice was called before)", ld->name);
	/* A raw file its client bound itself answers GET_INFO.  One the daemon
	 * bound whose attach failed is only attached now. */
	if (!ATTACH_STEP_DONE(ld, ATTACH_BIND) && vfio_device_flags(ld->fd, &flags) == 0)
		return why(ret_why, LEASE_ALREADY_BOUND, "%s is bound already: the client bound the file itself",
			   ld->name);
	r = attach_run(ld, ATTACH_BIND, ATTACH_PT, ret_why);
	if (r < 0)
		return r;
	if (!m->features.have[FEATURE_DMA_BUF_EXPORT] && vfio_probe_dma_buf_export(ld->fd) == 0)
		manager_feature_found(m, FEATURE_DMA_BUF_EXPORT);
	log_meta(LOG_INFO, 0, &(struct log_ctx){ .device = ld->name, .lease = ld->lease->object_path, .op = "bind" },
		 "Bound for lease %u: dev_id %u, pt_id %u.", ld->lease->id, ld->dev_id, ld->pt_id);
	state_save(m);
	return 0;
}

static void lease_unlink(struct lease *l, struct lease_device *ld)
{
	for (struct lease_device **p = &l->devices; *p; p = &(*p)->next)
		if (*p == ld) {
			*p = ld->next;
			return;
		}
}

/* ld leaves the lease: its share of the memlock quota goes back, its
 * teardown begins.  Returns the device to settle (NULL: left the bus). */
static struct device *lease_release_device(struct lease_device *ld, const char *reason)
{
	struct lease *l = ld->lease;
	struct device *d;

	/* A reset under way is the kernel's now; its caller is answered. */
	reset_attached_cancel(ld);
	/* Its BARs leave every IOAS they were mapped into first (DESIGN §5
	 * rule 7), importers told. */
	dmabuf_device_leaving(ld, reason);
	/* Never out of the state file in between: leaving the lease, the
	 * device is already in its teardown. */
	if (ld->device)
		ld->device->teardown_step = TEARDOWN_DETACH;
	lease_unlink(l, ld);
	if (l->state == LEASE_ACTIVE)
		manager_lease_changed(l->manager, l, "Devices");
	memlock_return(l, ld->memlock_quota);
	d = teardown_begin(l->manager, ld, reason);
	free(ld);
	return d;
}

void lease_detach(struct lease_device *ld, const char *reason)
{
	(void)lease_release_device(ld, reason);
}

void lease_device_gone(struct lease_device *ld)
{
	ld->device = NULL;
}

void lease_end(struct lease *l, const char *reason)
{
	struct manager *m = l->manager;
	int r;

	if (l->state == LEASE_RELEASING)
		return;
	l->state = LEASE_RELEASING;
	attach_jobs_lease_ended(l, reason);
	manager_lease_changed(m, l, "State");
	log_meta(LOG_INFO, 0, &(struct log_ctx){ .lease = l->object_path, .op = "release" },
		 "Lease %u ending: %s.", l->id, reason);

	/* Its own P2P mappings go first, while the IOAS and every device in it
	 * are as they were. */
	dmabuf_lease_ending(l);
	/* Devices in reverse attach order; each teardown goes on from the
	 * event loop (teardown.h). */
	while (l->devices) {
		struct lease_device *last = l->devices;
		while (last->next)
			last = last->next;
		(void)lease_release_device(last, reason);
	}
	r = l->iommufd < 0 ? 0 : iommufd_destroy(l->iommufd, l->ioas_id);
	if (r < 0)
		log_warning_errno(r, "Lease %u: destroying IOAS %u failed: %m", l->id, l->ioas_id);
	l->iommufd = safe_close(l->iommufd);
	manager_remove_lease(m, l, reason);
	lease_free(l);
}

int lease_adopt(struct manager *m, const struct saved_lease *s, int iommufd, int pidfd, int *device_fds,
		bool track_owner, struct lease **ret)
{
	_cleanup_(lease_freep) struct lease *l = NULL;
	struct lease_device **tail;
	int r;

	l = calloc(1, sizeof(*l));
	if (!l) {
		safe_close(iommufd);
		safe_close(pidfd);
		return -ENOMEM;
	}
	*l = (struct lease){ .manager = m, .id = s->id, .owner_uid = s->owner_uid, .owner_pid = s->owner_pid,
			     .iommufd = iommufd, .ioas_id = s->ioas_id, .owner_pidfd = pidfd,
			     .state = LEASE_ACTIVE };
	l->owner_name = strdup(s->owner_name);
	if (!l->owner_name || asprintf(&l->object_path, CCDEVD_LEASE_PREFIX "/%u", l->id) < 0)
		return -ENOMEM;
	if (l->id > m->next_lease_id)
		m->next_lease_id = l->id;
	if (track_owner && l->owner_pidfd >= 0) {
		r = sd_event_add_io(m->event, &l->owner_exit_source, l->owner_pidfd, EPOLLIN, on_owner_exit, l);
		if (r < 0)
			return r;
	}
	if (track_owner && l->owner_name[0]) {
		r = sd_bus_track_new(m->bus, &l->owner_track, on_owner_left_bus, l);
		if (r < 0)
			return r;
		/* A name that left the bus while we were down is caught by the
		 * caller (it asks the bus first); this arms the tracking. */
		(void)sd_bus_track_add_name(l->owner_track, l->owner_name);
	}

	tail = &l->devices;
	for (size_t k = 0; k < s->n_devices; k++) {
		const struct saved_device *sd = &s->devices[k];
		struct device *d = inventory_find(m->inventory, &sd->address);
		struct lease_device *ld;
		char name[BDF_STRING_MAX];

		if (!d || d->lease || d->teardown) {
			log_meta(LOG_WARNING, 0, &(struct log_ctx){ .device = bdf_format(&sd->address, name),
				 .lease = l->object_path, .op = "adopt" },
				 "%s; not re-adopted.", !d ? "Left the bus while ccdevd was down" : "Claimed twice");
			device_fds[k] = vfio_close(device_fds[k]);
			continue;
		}
		ld = calloc(1, sizeof(*ld));
		if (!ld) {
			lease_abandon(TAKE_PTR(l));
			return -ENOMEM;
		}
		*ld = (struct lease_device){ .lease = l, .device = d, .fd = TAKE_FD(device_fds[k]),
					     .dev_id = sd->dev_id, .pt_id = sd->pt_id, .steps_done = sd->steps_done,
					     .claimed = sd->claimed, .memlock_quota = sd->memlock_quota };
		memcpy(ld->name, d->name, sizeof ld->name);
		/* Without its file nothing of the attach can be undone, and
		 * someone may have had access through it. */
		if (ld->fd < 0) {
			ld->steps_done = 0;
			ld->file_lost = true;
		}
		*tail = ld;
		tail = &ld->next;
		l->memlock_limit += ld->memlock_quota;
		device_restore_original_driver(d, sd->original_driver);
		manager_device_changed(m, d, device_set_lease(d, l, ld));
	}

	*ret = TAKE_PTR(l);
	return 0;
}

void lease_abandon(struct lease *l)
{
	struct manager *m = l->manager;

	dmabuf_forget_lease(l);
	while (l->devices) {
		struct lease_device *ld = l->devices;
		l->devices = ld->next;
		reset_attached_cancel(ld);
		dmabuf_forget_device(ld);
		if (ld->device)
			device_set_lease(ld->device, NULL, NULL);
		vfio_close(ld->fd);
		free(ld);
	}
	for (struct lease **p = &m->leases; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			m->n_leases--;
			break;
		}
	lease_free(l);
}
