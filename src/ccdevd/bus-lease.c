/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.ccdevd1.Lease at /org/ccdevd1/lease/N (dbus/org.ccdevd1.Lease.xml) and
 * the Manager's lease methods.  Handlers parse, check the caller, call the
 * lease module, reply: no ioctls or sysfs here.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach-job.h"
#include "bus-access.h"
#include "bus.h"
#include "bus-reply.h"
#include "bus-signals.h"
#include "group.h"
#include "cleanup.h"
#include "dmabuf.h"
#include "dmabuf-ranges.h"
#include "lease.h"
#include "log.h"
#include "manager.h"
#include "user-limits.h"
#include "reset.h"
#include "state.h"
#include "strv.h"

/* Map a lease-module errno to the named error a client can act on. */
static int lease_error(sd_bus_error *error, int r, const char *what, const char *why)
{
	const char *name = r == -EBUSY			? CCDEVD_ERROR_DEVICE_BUSY
			   : r == GROUP_NOT_VIABLE	? CCDEVD_ERROR_GROUP_NOT_VIABLE
			   : r == RESET_SET_NOT_VIABLE	? CCDEVD_ERROR_RESET_SET_NOT_VIABLE
			   : r == LIMIT_EXCEEDED	? CCDEVD_ERROR_LIMIT_EXCEEDED
			   : r == LEASE_ALREADY_BOUND	? CCDEVD_ERROR_ALREADY_BOUND
			   : r == -ENOTSUP		? CCDEVD_ERROR_NOT_SUPPORTED
			   : r == -EINVAL || r == -EEXIST ? CCDEVD_ERROR_INVALID_ARGUMENT
							: CCDEVD_ERROR_FAILED;
	return sd_bus_error_setf(error, name, "%s: %s.", what, why ? why : strerror(-r));
}

/* Only the owner's uid (or root) may use a lease. */
static int check_owner(sd_bus_message *msg, struct lease *l, const char *what, sd_bus_error *error)
{
	uid_t uid = l->owner_uid;
	struct access_list owner = { .uids = &uid, .n_uids = 1 };

	return bus_check_access(msg, &owner, what, error);
}

/* May the caller lease anything at all? */
static bool may_lease_something(const struct config *c, const struct caller *who)
{
	for (size_t i = 0; i < c->n_rules; i++)
		if (access_allows(&c->rules[i].users, who))
			return true;
	return who->uid == 0;
}

/* Reject unknown option keys so typos do not silently change behaviour. */
int bus_read_attach_options(sd_bus_message *msg, bool *raw, sd_bus_error *error)
{
	return bus_read_bind_options(msg, "AttachDevice", raw, error);
}

int bus_read_bind_options(sd_bus_message *msg, const char *method, bool *raw, sd_bus_error *error)
{
	int r;

	r = sd_bus_message_enter_container(msg, 'a', "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
		const char *key;
		r = sd_bus_message_read(msg, "s", &key);
		if (r < 0)
			return r;
		if (strcmp(key, "bind") == 0) {
			int b;
			r = sd_bus_message_read(msg, "v", "b", &b);
			if (r < 0)
				return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT,
							 "Option 'bind' must be a boolean (b).");
			*raw = !b;
		} else {
			return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT,
						 "Unknown option '%s'; %s knows 'bind' (b). For KVM association "
						 "attach with bind=false, add the file to the VM's KVM-VFIO device, then "
						 "call BindDevice.", key, method);
		}
		r = sd_bus_message_exit_container(msg);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(msg);
	return r;
}

/* An attach that waits for a claim (attach-job.h), answered when it is
 * done: AttachDevice's reply, or CreateLeaseWithDevices' (one_call), whose
 * lease ends if an attach fails. */
struct later {
	sd_bus_message *msg;
	bool one_call;
	size_t n;
	struct bdf bdfs[];
};

static int reply_attached(sd_bus_message *msg, struct lease *l, const struct bdf *bdfs, size_t n, bool one_call)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0 && one_call)
		r = sd_bus_message_append(reply, "ohu", l->object_path, l->iommufd, l->ioas_id);
	if (r >= 0 && one_call)
		r = sd_bus_message_open_container(reply, 'a', "(shuu)");
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct lease_device *ld = lease_find_device(l, &bdfs[i]);
		char name[BDF_STRING_MAX];

		if (!ld) {
			r = sd_bus_reply_method_errorf(msg, CCDEVD_ERROR_FAILED, "%s left the lease before the "
						       "answer.", bdf_format(&bdfs[i], name));
			goto announce;
		}
		/* sd-bus sends a duplicate; ld->fd stays ours. */
		r = one_call ? sd_bus_message_append(reply, "(shuu)", ld->name, ld->fd, ld->dev_id, ld->pt_id)
			     : sd_bus_message_append(reply, "huu", ld->fd, ld->dev_id, ld->pt_id);
	}
	if (r >= 0 && one_call)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
announce:
	/* CreateLeaseWithDevices' lease, with its devices, in one signal, after
	 * the reply: the caller waits for that, not for the signal. */
	if (one_call)
		manager_announce_lease(l->manager, l);
	return r;
}

static void on_attached_later(struct lease *l, int r, const char *what, const char *why, void *userdata)
{
	struct later *later = userdata;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

	if (r >= 0 && !l)
		r = -ECANCELED;
	if (r >= 0)
		r = reply_attached(later->msg, l, later->bdfs, later->n, later->one_call);
	else {
		if (l && later->one_call)
			lease_end(l, "an attach failed");
		(void)lease_error(&error, r, what, why);
		r = sd_bus_reply_method_error(later->msg, &error);
	}
	if (r < 0)
		log_warning_errno(r, "Cannot answer an attach: %m");
	sd_bus_message_unref(later->msg);
	free(later);
}

/* Hand bdfs[first..n) to an attach job (those before it are attached); the
 * call is answered when it is done, naming all n. */
static int attach_later(sd_bus_message *msg, struct lease *l, const struct bdf *bdfs, size_t n, size_t first,
			bool raw, bool one_call)
{
	struct later *later = calloc(1, sizeof(*later) + n * sizeof(struct bdf));
	int r;

	if (!later)
		return -ENOMEM;
	*later = (struct later){ .msg = sd_bus_message_ref(msg), .one_call = one_call, .n = n };
	memcpy(later->bdfs, bdfs, n * sizeof(struct bdf));
	/* A refusal, too, is answered through on_attached_later(). */
	r = attach_job_start(l, bdfs + first, n - first, raw, on_attached_later, later);
	if (r < 0) {
		sd_bus_message_unref(later->msg);
		free(later);
		return r;
	}
	return 1;
}

static int method_attach_device(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	struct manager *m = l->manager;
	_cleanup_free_ char *why = NULL, *what = NULL;
	struct lease_device *ld;
	const char *address;
	struct device *d;
	bool raw = false;
	int r;

	r = check_owner(msg, l, "use this lease", error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "s", &address);
	if (r < 0)
		return r;
	r = bus_read_attach_options(msg, &raw, error);
	if (r < 0)
		return r;
	r = bus_resolve_device(m, address, &d, error);
	if (r < 0)
		return r;
	if (asprintf(&what, "lease device %s", d->name) < 0)
		return -ENOMEM;
	r = bus_check_access(msg, &d->rule->users, what, error);
	if (r < 0)
		return r;
	if (l->state != LEASE_ACTIVE)
		return sd_bus_error_setf(error, CCDEVD_ERROR_FAILED, "Lease %u is being released.", l->id);
	d = attach_current(m, d);
	if (!d)
		return sd_bus_error_setf(error, CCDEVD_ERROR_NO_SUCH_DEVICE, "%s left the bus.", address);
	/* Off a host driver: the claim runs in a worker. */
	if (attach_needs_claim(d))
		return attach_later(msg, l, &d->address, 1, 0, raw, false);

	r = lease_attach(l, d, raw, &ld, &why);
	if (r < 0)
		return lease_error(error, r, what, why);
	/* sd-bus sends a duplicate; ld->fd stays ours. */
	return sd_bus_reply_method_return(msg, "huu", ld->fd, ld->dev_id, ld->pt_id);
}

/* The owner's call naming one device of the lease (BindDevice, DetachDevice,
 * ResetDevice). */
static int find_attached(struct lease *l, sd_bus_message *msg, struct lease_device **ret,
			 sd_bus_error *error)
{
	const char *address;
	struct bdf bdf;
	int r;

	r = check_owner(msg, l, "use this lease", error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "s", &address);
	if (r < 0)
		return r;
	if (bdf_parse(address, &bdf) < 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT,
					 "'%s' is not a PCI address; expected DDDD:BB:DD.F.", address);
	*ret = lease_find_device(l, &bdf);
	if (!*ret)
		return sd_bus_error_setf(error, CCDEVD_ERROR_NO_SUCH_DEVICE,
					 "%s is not attached to lease %u.", address, l->id);
	/* Its reset is under way: nothing may touch it meanwhile. */
	if ((*ret)->reset)
		return sd_bus_error_setf(error, CCDEVD_ERROR_DEVICE_BUSY, "%s is being reset (ResetDevice has not "
					 "answered yet); try again once it has.", address);
	return 0;
}

static int method_detach_device(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	struct lease_device *ld;
	int r;

	r = find_attached(l, msg, &ld, error);
	if (r < 0)
		return r;
	struct bdf address = ld->device ? ld->device->address : (struct bdf){};
	bool present = ld->device;
	lease_detach(ld, "detached by its owner");
	/* Answered once its teardown rests (bus-reply.h). */
	return bus_reply_after_teardowns(l->manager, msg, &address, present ? 1 : 0);
}

static void on_reset_done(int r, const char *why, void *userdata)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = userdata;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

	if (r >= 0)
		r = sd_bus_reply_method_return(msg, NULL);
	else {
		(void)lease_error(&error, r, "Reset failed", why);
		r = sd_bus_reply_method_error(msg, &error);
	}
	/* The caller may have left meanwhile: nothing to tell then. */
	if (r < 0 && r != -ENOTCONN && r != -ECONNRESET)
		log_debug_errno(r, "Cannot answer ResetDevice: %m");
}

static int method_reset_device(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	_cleanup_free_ char *why = NULL;
	struct lease_device *ld;
	int r;

	r = find_attached(l, msg, &ld, error);
	if (r < 0)
		return r;
	r = limits_check_reset(ld, &why);
	if (r < 0)
		return lease_error(error, r, "Reset refused", why);
	/* Answered when the reset is done, from the loop (reset.h). */
	r = reset_attached_start(l->manager, ld, on_reset_done, msg, &why);
	if (r < 0)
		return lease_error(error, r, "Reset failed", why);
	sd_bus_message_ref(msg);
	return 1;
}

static int method_bind_device(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	_cleanup_free_ char *why = NULL;
	struct lease_device *ld;
	int r;

	r = find_attached(l, msg, &ld, error);
	if (r < 0)
		return r;
	r = lease_bind(ld, &why);
	if (r < 0)
		return lease_error(error, r, "BindDevice failed", why);
	return sd_bus_reply_method_return(msg, "uu", ld->dev_id, ld->pt_id);
}

/* a(tt): at most DMABUF_RANGES_MAX (offset, length) pairs; more is an error. */
int bus_read_dmabuf_ranges(sd_bus_message *msg, struct vfio_dma_slice *ranges, size_t *ret_n, sd_bus_error *error)
{
	size_t n = 0;
	int r;

	r = sd_bus_message_enter_container(msg, 'a', "(tt)");
	if (r < 0)
		return r;
	for (;;) {
		uint64_t offset, length;

		r = sd_bus_message_read(msg, "(tt)", &offset, &length);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (n == DMABUF_RANGES_MAX)
			return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT,
						 "More than %d ranges given; a dma-buf takes at most %d.",
						 DMABUF_RANGES_MAX, DMABUF_RANGES_MAX);
		ranges[n++] = (struct vfio_dma_slice){ .offset = offset, .length = length };
	}
	*ret_n = n;
	return sd_bus_message_exit_container(msg);
}

/* MapDmaBuf's options: "iova" (t).  ExportDmaBuf passes NULL: none. */
int bus_read_dmabuf_options(sd_bus_message *msg, const char *method, bool *ret_fixed, uint64_t *ret_iova,
			    sd_bus_error *error)
{
	int r;

	r = sd_bus_message_enter_container(msg, 'a', "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
		const char *key;

		r = sd_bus_message_read(msg, "s", &key);
		if (r < 0)
			return r;
		if (ret_fixed && strcmp(key, "iova") == 0) {
			r = sd_bus_message_read(msg, "v", "t", ret_iova);
			if (r < 0)
				return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT,
							 "Option 'iova' must be an unsigned 64-bit integer (t).");
			*ret_fixed = true;
		} else
			return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT, "Unknown option '%s' of %s; %s.",
						 key, method, ret_fixed ? "it knows 'iova' (t)" : "it takes none");
		r = sd_bus_message_exit_container(msg);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(msg);
	return r;
}

static int lease_active(struct lease *l, sd_bus_error *error)
{
	if (l->state != LEASE_ACTIVE)
		return sd_bus_error_setf(error, CCDEVD_ERROR_FAILED, "Lease %u is being released.", l->id);
	return 0;
}

static int method_export_dmabuf(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	struct vfio_dma_slice ranges[DMABUF_RANGES_MAX];
	_cleanup_free_ char *why = NULL, *what = NULL;
	struct lease_device *ld;
	uint32_t bar;
	size_t n;
	int fd, r;

	r = find_attached(l, msg, &ld, error);
	if (r >= 0)
		r = sd_bus_message_read(msg, "u", &bar);
	if (r >= 0)
		r = bus_read_dmabuf_ranges(msg, ranges, &n, error);
	if (r >= 0)
		r = bus_read_dmabuf_options(msg, "ExportDmaBuf", NULL, NULL, error);
	if (r >= 0)
		r = lease_active(l, error);
	if (r < 0)
		return r;
	r = dmabuf_export(ld, bar, ranges, n, &fd, &why);
	if (r < 0) {
		if (asprintf(&what, "Cannot export BAR %u of %s", bar, ld->name) < 0)
			what = NULL;
		return lease_error(error, r, what ? what : "ExportDmaBuf failed", why);
	}
	return sd_bus_reply_method_return(msg, "h", fd);
}

static int method_map_dmabuf(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	struct manager *m = l->manager;
	_cleanup_(bus_caller_done) struct bus_caller c = {};
	struct vfio_dma_slice ranges[DMABUF_RANGES_MAX];
	_cleanup_free_ char *why = NULL, *what = NULL;
	struct lease_device *exporter;
	const char *address;
	bool fixed = false;
	uint64_t iova = 0;
	struct device *d;
	struct bdf bdf;
	uint32_t bar;
	size_t n;
	int r;

	r = check_owner(msg, l, "use this lease", error);
	if (r >= 0)
		r = bus_get_caller(msg, &c, error);
	if (r >= 0)
		r = sd_bus_message_read(msg, "su", &address, &bar);
	if (r >= 0)
		r = bus_read_dmabuf_ranges(msg, ranges, &n, error);
	if (r >= 0)
		r = bus_read_dmabuf_options(msg, "MapDmaBuf", &fixed, &iova, error);
	if (r >= 0)
		r = lease_active(l, error);
	if (r < 0)
		return r;
	if (bdf_parse(address, &bdf) < 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT,
					 "'%s' is not a PCI address; expected DDDD:BB:DD.F.", address);
	if (n == 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT, "No range given; pass one (offset, length).");
	if (n > 1)
		return sd_bus_error_setf(error, CCDEVD_ERROR_NOT_SUPPORTED, "%zu ranges given; the kernel maps only a "
					 "single-range dma-buf into an IOAS: call MapDmaBuf once per range.", n);
	d = manager_find_managed(m, &bdf);
	exporter = d ? d->attachment : NULL;
	if (!exporter || exporter->lease->state != LEASE_ACTIVE)
		return sd_bus_error_setf(error, CCDEVD_ERROR_NO_SUCH_DEVICE,
					 "%s is not attached to an active lease; only a leased device's BAR can be "
					 "mapped.", address);
	if (!dmabuf_may_import(l, exporter, &c.who))
		return sd_bus_error_setf(error, CCDEVD_ERROR_ACCESS_DENIED,
					 "Access denied: %s is leased by another owner, and its device rule in %s does "
					 "not list uid %u in dmabuf_importers.", d->name, m->config->path,
					 (unsigned)l->owner_uid);
	r = dmabuf_map(l, exporter, bar, &ranges[0], fixed, &iova, &why);
	if (r < 0) {
		if (asprintf(&what, "Cannot map BAR %u of %s into lease %u", bar, d->name, l->id) < 0)
			what = NULL;
		return lease_error(error, r, what ? what : "MapDmaBuf failed", why);
	}
	return sd_bus_reply_method_return(msg, "t", iova);
}

static int method_unmap_dmabuf(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	uint64_t iova;
	int r;

	r = check_owner(msg, l, "use this lease", error);
	if (r >= 0)
		r = sd_bus_message_read(msg, "t", &iova);
	if (r < 0)
		return r;
	r = dmabuf_unmap(l, iova);
	if (r == -ENOENT)
		return sd_bus_error_setf(error, CCDEVD_ERROR_NO_SUCH_MAPPING,
					 "No dma-buf mapping of lease %u starts at IOVA 0x%" PRIx64 "; see DmaBufMappings.",
					 l->id, iova);
	return r < 0 ? r : sd_bus_reply_method_return(msg, NULL);
}

static int method_refresh_dmabuf(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	_cleanup_free_ char *why = NULL;
	struct lease_device *ld;
	unsigned n;
	int r;

	r = find_attached(l, msg, &ld, error);
	if (r >= 0)
		r = lease_active(l, error);
	if (r < 0)
		return r;
	r = dmabuf_refresh(ld, &n, &why);
	if (r < 0)
		return lease_error(error, r == -EINVAL ? -EIO : r, "Refresh failed", why);
	return sd_bus_reply_method_return(msg, "u", n);
}

static int method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	int r;

	r = check_owner(msg, l, "release this lease", error);
	if (r < 0)
		return r;
	/* Answered once every teardown rests (bus-reply.h): when Release
	 * returns, the devices are back in their idle or host state, or
	 * quarantined or waiting for a holder, saying why. */
	struct manager *m = l->manager;
	unsigned n = lease_device_count(l), k = 0;
	struct bdf devices[n ? n : 1];
	for (struct lease_device *ld = l->devices; ld; ld = ld->next)
		if (ld->device)
			devices[k++] = ld->device->address;
	lease_end(l, "released");
	return bus_reply_after_teardowns(m, msg, devices, k);
}

static int property_devices(sd_bus *bus, const char *path, const char *interface, const char *property,
			    sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	int r;

	r = sd_bus_message_open_container(reply, 'a', "s");
	for (struct lease_device *ld = l->devices; r >= 0 && ld; ld = ld->next)
		r = sd_bus_message_append(reply, "s", ld->name);
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int property_state(sd_bus *bus, const char *path, const char *interface, const char *property,
			  sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;

	return sd_bus_message_append(reply, "s", lease_state_to_string(l->state));
}

static int property_owner_name(sd_bus *bus, const char *path, const char *interface, const char *property,
			       sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;

	return sd_bus_message_append(reply, "s", l->owner_name);
}

static int property_dmabuf_exports(sd_bus *bus, const char *path, const char *interface, const char *property,
				    sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	int r;

	r = sd_bus_message_open_container(reply, 'a', "(sua(tt))");
	for (struct lease_device *ld = l->devices; r >= 0 && ld; ld = ld->next)
		for (struct dmabuf_export *e = ld->exports; r >= 0 && e; e = e->next) {
			r = sd_bus_message_open_container(reply, 'r', "sua(tt)");
			if (r >= 0)
				r = sd_bus_message_append(reply, "su", ld->name, e->bar);
			if (r >= 0)
				r = sd_bus_message_open_container(reply, 'a', "(tt)");
			for (size_t i = 0; r >= 0 && i < e->n_ranges; i++)
				r = sd_bus_message_append(reply, "(tt)", e->ranges[i].offset, e->ranges[i].length);
			if (r >= 0)
				r = sd_bus_message_close_container(reply);
			if (r >= 0)
				r = sd_bus_message_close_container(reply);
		}
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int property_dmabuf_mappings(sd_bus *bus, const char *path, const char *interface, const char *property,
				     sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct lease *l = userdata;
	int r;

	r = sd_bus_message_open_container(reply, 'a', "(ttsuts)");
	for (struct dmabuf_mapping *mp = l->mappings; r >= 0 && mp; mp = mp->next)
		r = sd_bus_message_append(reply, "(ttsuts)", mp->iova, mp->length, mp->device, mp->bar, mp->offset,
					  mp->mapped ? "mapped" : "revoked");
	return r < 0 ? r : sd_bus_message_close_container(reply);
}

static const sd_bus_vtable lease_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Owner", "u", NULL, offsetof(struct lease, owner_uid), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("OwnerPid", "u", NULL, offsetof(struct lease, owner_pid), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("OwnerName", "s", property_owner_name, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("IoasId", "u", NULL, offsetof(struct lease, ioas_id), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Devices", "as", property_devices, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("State", "s", property_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("MemlockLimit", "t", NULL, offsetof(struct lease, memlock_limit),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_METHOD_WITH_NAMES("AttachDevice", "sa{sv}", SD_BUS_PARAM(address) SD_BUS_PARAM(options),
				 "huu", SD_BUS_PARAM(device_fd) SD_BUS_PARAM(dev_id) SD_BUS_PARAM(pt_id),
				 method_attach_device, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("BindDevice", "s", SD_BUS_PARAM(address),
				 "uu", SD_BUS_PARAM(dev_id) SD_BUS_PARAM(pt_id),
				 method_bind_device, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("DetachDevice", "s", SD_BUS_PARAM(address), NULL, ,
				 method_detach_device, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("ResetDevice", "s", SD_BUS_PARAM(address), NULL, ,
				 method_reset_device, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_PROPERTY("DmaBufExports", "a(sua(tt))", property_dmabuf_exports, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("DmaBufMappings", "a(ttsuts)", property_dmabuf_mappings, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_METHOD_WITH_NAMES("ExportDmaBuf", "sua(tt)a{sv}",
				 SD_BUS_PARAM(address) SD_BUS_PARAM(bar) SD_BUS_PARAM(ranges) SD_BUS_PARAM(options),
				 "h", SD_BUS_PARAM(dmabuf_fd), method_export_dmabuf, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("MapDmaBuf", "sua(tt)a{sv}",
				 SD_BUS_PARAM(address) SD_BUS_PARAM(bar) SD_BUS_PARAM(ranges) SD_BUS_PARAM(options),
				 "t", SD_BUS_PARAM(iova), method_map_dmabuf, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("UnmapDmaBuf", "t", SD_BUS_PARAM(iova), NULL, ,
				 method_unmap_dmabuf, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("RefreshDmaBuf", "s", SD_BUS_PARAM(address), "u", SD_BUS_PARAM(restored),
				 method_refresh_dmabuf, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Release", NULL, NULL, method_release, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_NAMES("DmaBufRevoked", "ttsus", SD_BUS_PARAM(iova) SD_BUS_PARAM(length)
				 SD_BUS_PARAM(device) SD_BUS_PARAM(bar) SD_BUS_PARAM(reason), 0),
	SD_BUS_SIGNAL_WITH_NAMES("DmaBufRestored", "ttsu", SD_BUS_PARAM(iova) SD_BUS_PARAM(length)
				 SD_BUS_PARAM(device) SD_BUS_PARAM(bar), 0),
	SD_BUS_SIGNAL_WITH_NAMES("DevicePaused", "ss", SD_BUS_PARAM(device) SD_BUS_PARAM(reason), 0),
	SD_BUS_SIGNAL_WITH_NAMES("DeviceResumed", "sb", SD_BUS_PARAM(device) SD_BUS_PARAM(reset_done), 0),
	SD_BUS_SIGNAL_WITH_NAMES("DeviceLost", "ss", SD_BUS_PARAM(device) SD_BUS_PARAM(reason), 0),
	SD_BUS_VTABLE_END
};

/* The id in a lease object path (…/lease/N, N canonical), or 0. */
static unsigned lease_id_of_path(const char *path)
{
	const char *prefix = CCDEVD_LEASE_PREFIX "/";
	unsigned long id;
	char *end;

	if (!path || strncmp(path, prefix, strlen(prefix)) != 0)
		return 0;
	path += strlen(prefix);
	if (!*path || *path == '0' || *path == '+' || *path == '-')
		return 0;
	errno = 0;
	id = strtoul(path, &end, 10);
	if (errno || *end || id > UINT32_MAX)
		return 0;
	return (unsigned)id;
}

struct lease *bus_lease_of_path(struct manager *m, const char *path)
{
	unsigned id = lease_id_of_path(path);

	return id ? manager_find_lease(m, id) : NULL;
}

static int lease_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
		      void **found, sd_bus_error *error)
{
	struct manager *m = userdata;
	unsigned long id = lease_id_of_path(path);
	struct lease *l;

	if (!id)
		return 0;
	l = manager_find_lease(m, (unsigned)id);
	if (!l)
		return sd_bus_error_setf(error, CCDEVD_ERROR_NO_SUCH_LEASE,
					 "Lease %lu does not exist: it ended or never existed.", id);
	*found = l;
	return 1;
}

/* A lease object is the business of its owner's uid and root alone
 * (GetManagedObjects, Introspect): others are not shown it. */
static int lease_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error)
{
	struct manager *m = userdata;
	_cleanup_(bus_caller_done) struct bus_caller c = {};
	sd_bus_message *msg = sd_bus_get_current_message(bus);
	char **l = calloc(m->n_leases + 1, sizeof(char *));
	size_t k = 0;
	int r;

	if (!l)
		return -ENOMEM;
	if (msg) {
		r = bus_get_caller(msg, &c, error);
		if (r < 0) {
			free(l);
			return r;
		}
	}
	for (struct lease *x = m->leases; x; x = x->next)
		if ((!msg || c.who.uid == 0 || c.who.uid == x->owner_uid) && !(l[k++] = strdup(x->object_path))) {
			strv_free(l);
			return -ENOMEM;
		}
	*nodes = l;
	return 0;
}

int bus_lease_register(struct manager *m, sd_bus *bus)
{
	int r;

	r = sd_bus_add_fallback_vtable(bus, NULL, CCDEVD_LEASE_PREFIX, CCDEVD_LEASE_IFACE, lease_vtable,
				       lease_find, m);
	if (r >= 0)
		r = sd_bus_add_node_enumerator(bus, NULL, CCDEVD_LEASE_PREFIX, lease_enumerate, m);
	if (r < 0)
		return log_error_errno(r, "Failed to register %s: %m", CCDEVD_LEASE_IFACE);
	return 0;
}

int bus_read_create_lease_options(sd_bus_message *msg, sd_bus_error *error)
{
	int r;

	r = sd_bus_message_enter_container(msg, 'a', "{sv}");
	if (r < 0)
		return r;
	if (sd_bus_message_at_end(msg, false) <= 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT,
					 "CreateLease takes no options in this version; pass an empty dictionary.");
	return sd_bus_message_exit_container(msg);
}

/* The lease for the caller's process, added to the manager. */
static int create_lease_for(struct manager *m, sd_bus_message *msg, const struct bus_caller *c,
			    struct lease **ret, sd_bus_error *error)
{
	_cleanup_free_ char *why = NULL;
	int r;

	if (c->pid <= 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_FAILED, "Cannot identify the calling process.");
	r = lease_new(m, &(struct lease_owner){ .uid = c->who.uid, .pid = c->pid,
						.unique_name = sd_bus_message_get_sender(msg),
						.message = msg, .conn = c->conn }, ret, &why);
	if (r < 0)
		return lease_error(error, r, "Cannot create a lease", why);
	/* Announced once its caller has the answer. */
	manager_add_lease(m, *ret, false);
	return 0;
}

static int deny_leasing(struct manager *m, const struct bus_caller *c, sd_bus_error *error)
{
	return sd_bus_error_setf(error, CCDEVD_ERROR_ACCESS_DENIED,
				 "Access denied: uid %u may lease no device; ask the administrator to add "
				 "the user to a device's 'users' in %s.", (unsigned)c->who.uid, m->config->path);
}

/* Manager.CreateLease */
int bus_method_create_lease(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	_cleanup_(bus_caller_done) struct bus_caller c = {};
	struct lease *l;
	int r;

	r = bus_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	if (!may_lease_something(m->config, &c.who))
		return deny_leasing(m, &c, error);
	r = bus_read_create_lease_options(msg, error);
	if (r < 0)
		return r;
	r = create_lease_for(m, msg, &c, &l, error);
	if (r < 0)
		return r;
	r = sd_bus_reply_method_return(msg, "ohu", l->object_path, l->iommufd, l->ioas_id);
	/* After the reply, which the caller waits for. */
	manager_announce_lease(m, l);
	return r;
}

/*
 * Manager.CreateLeaseWithDevices: CreateLease and AttachDevice of each
 * address, in that order, in one call (one round trip, one signal for the
 * new lease).  Every address is parsed and authorized before anything is
 * made; if an attach fails, the lease ends, as by Release, and the error
 * is that attach's.
 */
#define LEASE_WITH_DEVICES_MAX 32
int bus_method_create_lease_with_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	_cleanup_(bus_caller_done) struct bus_caller c = {};
	_cleanup_strv_free_ char **addresses = NULL;
	struct bdf bdfs[LEASE_WITH_DEVICES_MAX];
	size_t n;
	bool raw = false;
	struct lease *l;
	int r;

	r = bus_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	if (!may_lease_something(m->config, &c.who))
		return deny_leasing(m, &c, error);
	r = sd_bus_message_read_strv(msg, &addresses);
	if (r < 0)
		return r;
	r = bus_read_bind_options(msg, "CreateLeaseWithDevices", &raw, error);
	if (r < 0)
		return r;
	n = strv_length(addresses);
	if (n > LEASE_WITH_DEVICES_MAX)
		return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT,
					 "CreateLeaseWithDevices takes at most %d addresses, got %zu; attach the "
					 "rest with AttachDevice.", LEASE_WITH_DEVICES_MAX, n);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *what = NULL;
		struct device *d;

		r = bus_resolve_device(m, addresses[i], &d, error);
		if (r < 0)
			return r;
		for (size_t k = 0; k < i; k++)
			if (bdf_equal(&bdfs[k], &d->address))
				return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT,
							 "%s is listed twice.", d->name);
		if (asprintf(&what, "lease device %s", d->name) < 0)
			return -ENOMEM;
		r = bus_check_access(msg, &d->rule->users, what, error);
		if (r < 0)
			return r;
		bdfs[i] = d->address;
	}

	/* One state write for the lease and all its devices, before the reply;
	 * on an error, when this returns. */
	_cleanup_(state_flushp) struct manager *deferred = m;
	state_defer(m);
	r = create_lease_for(m, msg, &c, &l, error);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *why = NULL, *what = NULL;
		struct lease_device *ld;
		/* Looked up again: an attach may refresh the inventory. */
		struct device *d = inventory_find(m->inventory, &bdfs[i]);

		if (d)
			d = attach_current(m, d);
		if (!d) {
			lease_end(l, "a device to attach left the bus");
			return sd_bus_error_setf(error, CCDEVD_ERROR_NO_SUCH_DEVICE, "%s left the bus before it was "
						 "attached; the lease was released.", addresses[i]);
		}
		/* Off a host driver: this one and the rest go on in an attach
		 * job, and the call is answered when it is done. */
		if (attach_needs_claim(d)) {
			r = attach_later(msg, l, bdfs, n, i, raw, true);
			if (r < 0)
				lease_end(l, "an attach failed");
			return r;
		}
		if (asprintf(&what, "lease device %s", d->name) < 0)
			r = -ENOMEM;
		else
			r = lease_attach(l, d, raw, &ld, &why);
		if (r < 0) {
			lease_end(l, "an attach failed");
			if (r == -ENOMEM)
				return r;
			return lease_error(error, r, what, why);
		}
	}
	state_flush(TAKE_PTR(deferred));
	r = reply_attached(msg, l, bdfs, n, true);
	if (r < 0)
		lease_end(l, "the reply could not be made");
	return r;
}

/* Manager.ListLeases: all for root, the caller's own otherwise. */
int bus_method_list_leases(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	_cleanup_(bus_caller_done) struct bus_caller c = {};
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = bus_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(ouusu)");
	for (struct lease *l = m->leases; r >= 0 && l; l = l->next)
		if (c.who.uid == 0 || c.who.uid == l->owner_uid)
			r = sd_bus_message_append(reply, "(ouusu)", l->object_path, (uint32_t)l->owner_uid,
						  (uint32_t)l->owner_pid, lease_state_to_string(l->state),
						  lease_device_count(l));
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}

/* ---- signals: to the owner and root's subscriptions only (bus-signals.h) ---- */

/* One property of l as a dictionary entry {name: value}. */
static int append_lease_property(sd_bus_message *msg, struct lease *l, const char *name)
{
	static const struct {
		const char *name, *signature;
		sd_bus_property_get_t get;
	} getters[] = {
		{ "Devices", "as", property_devices },
		{ "State", "s", property_state },
		{ "OwnerName", "s", property_owner_name },
		{ "DmaBufExports", "a(sua(tt))", property_dmabuf_exports },
		{ "DmaBufMappings", "a(ttsuts)", property_dmabuf_mappings },
	};
	int r = sd_bus_message_open_container(msg, 'e', "sv");

	if (r < 0)
		return r;
	r = sd_bus_message_append(msg, "s", name);
	if (r < 0)
		return r;
	if (strcmp(name, "Owner") == 0 || strcmp(name, "OwnerPid") == 0 || strcmp(name, "IoasId") == 0)
		r = sd_bus_message_append(msg, "v", "u", strcmp(name, "Owner") == 0 ? (uint32_t)l->owner_uid
							 : strcmp(name, "OwnerPid") == 0 ? (uint32_t)l->owner_pid
											: l->ioas_id);
	else if (strcmp(name, "MemlockLimit") == 0)
		r = sd_bus_message_append(msg, "v", "t", l->memlock_limit);
	else {
		size_t i;
		for (i = 0; i < ELEMENTSOF(getters) && strcmp(getters[i].name, name) != 0; i++)
			;
		if (i == ELEMENTSOF(getters))
			return -EINVAL;
		r = sd_bus_message_open_container(msg, 'v', getters[i].signature);
		if (r >= 0)
			r = getters[i].get(NULL, l->object_path, CCDEVD_LEASE_IFACE, name, msg, l, NULL);
		if (r >= 0)
			r = sd_bus_message_close_container(msg);
	}
	return r < 0 ? r : sd_bus_message_close_container(msg);
}

struct lease_body {
	struct lease *l;
	const char *property; /* PropertiesChanged */
	const char *reason;   /* LeaseReleased */
};

static int properties_changed_body(sd_bus_message *msg, void *userdata)
{
	struct lease_body *b = userdata;
	int r = sd_bus_message_append(msg, "s", CCDEVD_LEASE_IFACE);

	if (r >= 0)
		r = sd_bus_message_open_container(msg, 'a', "{sv}");
	if (r >= 0)
		r = append_lease_property(msg, b->l, b->property);
	if (r >= 0)
		r = sd_bus_message_close_container(msg);
	return r < 0 ? r : sd_bus_message_append(msg, "as", 0);
}

static int interfaces_added_body(sd_bus_message *msg, void *userdata)
{
	static const char *const names[] = { "Owner", "OwnerPid", "OwnerName", "IoasId", "Devices", "State",
					     "MemlockLimit", "DmaBufExports", "DmaBufMappings" };
	struct lease_body *b = userdata;
	int r = sd_bus_message_append(msg, "o", b->l->object_path);

	if (r >= 0)
		r = sd_bus_message_open_container(msg, 'a', "{sa{sv}}");
	if (r >= 0)
		r = sd_bus_message_open_container(msg, 'e', "sa{sv}");
	if (r >= 0)
		r = sd_bus_message_append(msg, "s", CCDEVD_LEASE_IFACE);
	if (r >= 0)
		r = sd_bus_message_open_container(msg, 'a', "{sv}");
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(names); i++)
		r = append_lease_property(msg, b->l, names[i]);
	for (int k = 0; r >= 0 && k < 3; k++)
		r = sd_bus_message_close_container(msg);
	return r;
}

static int interfaces_removed_body(sd_bus_message *msg, void *userdata)
{
	struct lease_body *b = userdata;

	return sd_bus_message_append(msg, "oas", b->l->object_path, 1, CCDEVD_LEASE_IFACE);
}

static int lease_released_body(sd_bus_message *msg, void *userdata)
{
	struct lease_body *b = userdata;

	return sd_bus_message_append(msg, "os", b->l->object_path, b->reason);
}

#define OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"

void bus_lease_emit_released(struct manager *m, struct lease *l, const char *reason)
{
	struct lease_body b = { .l = l, .reason = reason };

	bus_send_lease_signal(m, l, CCDEVD_OBJECT_ROOT, OBJECT_MANAGER_IFACE, "InterfacesRemoved",
			      interfaces_removed_body, &b);
	bus_send_lease_signal(m, l, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, "LeaseReleased", lease_released_body,
			      &b);
}

void bus_lease_emit_changed(struct manager *m, struct lease *l, const char *property)
{
	struct lease_body b = { .l = l, .property = property };

	bus_send_lease_signal(m, l, l->object_path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
			      properties_changed_body, &b);
}

void bus_lease_emit_added(struct manager *m, struct lease *l)
{
	struct lease_body b = { .l = l };

	bus_send_lease_signal(m, l, CCDEVD_OBJECT_ROOT, OBJECT_MANAGER_IFACE, "InterfacesAdded",
			      interfaces_added_body, &b);
}

struct dmabuf_body {
	uint64_t iova, length;
	const char *device, *reason;
	uint32_t bar;
	bool flag;
};

static int dmabuf_body(sd_bus_message *msg, void *userdata)
{
	struct dmabuf_body *b = userdata;
	int r = sd_bus_message_append(msg, "ttsu", b->iova, b->length, b->device, b->bar);

	return r >= 0 && b->reason ? sd_bus_message_append(msg, "s", b->reason) : r;
}

static int device_reason_body(sd_bus_message *msg, void *userdata)
{
	struct dmabuf_body *b = userdata;

	return sd_bus_message_append(msg, "ss", b->device, b->reason);
}

static int device_resumed_body(sd_bus_message *msg, void *userdata)
{
	struct dmabuf_body *b = userdata;

	return sd_bus_message_append(msg, "sb", b->device, (int)b->flag);
}

void bus_lease_emit_dmabuf(struct manager *m, struct lease *l, const char *member, uint64_t iova, uint64_t length,
			   const char *device, uint32_t bar, const char *reason)
{
	struct dmabuf_body b = { .iova = iova, .length = length, .device = device, .bar = bar, .reason = reason };

	bus_send_lease_signal(m, l, l->object_path, CCDEVD_LEASE_IFACE, member, dmabuf_body, &b);
}

void bus_lease_emit_device_paused(struct manager *m, struct lease *l, const char *device, const char *reason)
{
	struct dmabuf_body b = { .device = device, .reason = reason };

	bus_send_lease_signal(m, l, l->object_path, CCDEVD_LEASE_IFACE, "DevicePaused", device_reason_body, &b);
}

void bus_lease_emit_device_resumed(struct manager *m, struct lease *l, const char *device, bool reset_done)
{
	struct dmabuf_body b = { .device = device, .flag = reset_done };

	bus_send_lease_signal(m, l, l->object_path, CCDEVD_LEASE_IFACE, "DeviceResumed", device_resumed_body, &b);
}

void bus_lease_emit_device_lost(struct manager *m, struct lease *l, const char *device, const char *reason)
{
	struct dmabuf_body b = { .device = device, .reason = reason };

	bus_send_lease_signal(m, l, l->object_path, CCDEVD_LEASE_IFACE, "DeviceLost", device_reason_body, &b);
}
