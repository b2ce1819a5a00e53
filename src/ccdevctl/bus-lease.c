/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-lease.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "bus-api.h"
#include "bus-client.h"
#include "ctl.h"

/* A lease object that is not there is a lease that ended (or never was). */
static int lease_log_error(const sd_bus_error *e, int r, const char *path, const char *what)
{
	if (sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_OBJECT))
		return ctl_error_errno(ESRCH, "No such lease: %s (it ended, or never was).", path);
	return bus_log_error(e, r, what);
}

/* A local failure of the bus (no ccdevd error to print). */
static int bus_log_errno(int r, const char *what)
{
	const sd_bus_error none = SD_BUS_ERROR_NULL;

	return bus_log_error(&none, r, what);
}

/* fds in a reply belong to the message; keep a copy above stdio. */
static int fd_copy(int fd)
{
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);

	if (copy < 0)
		return ctl_error_errno(errno, "Failed to duplicate an fd sent by ccdevd: %m");
	return copy;
}

static void lease_end(struct lease *l, const char *reason)
{
	if (l->ended || l->released)
		return;
	l->ended = true;
	if (l->on_ended)
		l->on_ended(l, reason, l->userdata);
}

static int on_lease_released(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct lease *l = userdata;
	const char *path, *reason;

	if (sd_bus_message_read(m, "os", &path, &reason) < 0)
		return 0; /* not the contract's signal: not about us */
	if (l->path && strcmp(path, l->path) == 0)
		lease_end(l, reason);
	return 0;
}

/* sd-bus tells of a lost connection with a local Disconnected signal. */
static int on_bus_message(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.Local", "Disconnected"))
		lease_end(userdata, "ccdevctl lost its connection to the system bus");
	return 0;
}

int lease_create(sd_bus *bus, char **addresses, bool bind, lease_ended_fn on_ended, void *userdata,
		 struct lease **ret)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
	_cleanup_(lease_freep) struct lease *l = NULL;
	size_t n = 0;
	const char *path;
	int fd, r;

	STRV_FOREACH(a, addresses) {
		assert(strlen(*a) < BDF_STRING_MAX);
		n++;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	*l = (struct lease){ .bus = sd_bus_ref(bus), .iommufd = -1, .on_ended = on_ended,
			     .userdata = userdata };
	l->devices = calloc(n ? n : 1, sizeof(*l->devices));
	if (!l->devices)
		return ctl_error_errno(ENOMEM, "Out of memory.");

	/* Subscribe before the lease exists: it may end at any moment after. */
	r = sd_bus_match_signal(bus, &l->released_slot, bus_signal_sender(bus), CCDEVD_OBJECT_ROOT,
				CCDEVD_MANAGER_IFACE, "LeaseReleased", on_lease_released, l);
	if (r < 0)
		return bus_log_errno(r, "subscribe to LeaseReleased");
	r = sd_bus_add_filter(bus, &l->disconnect_slot, on_bus_message, l);
	if (r < 0)
		return ctl_error_errno(r, "Failed to watch the bus connection: %m");

	r = sd_bus_message_new_method_call(bus, &call, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
					   "CreateLeaseWithDevices");
	if (r >= 0)
		r = sd_bus_message_append_strv(call, addresses);
	if (r >= 0)
		r = bind ? sd_bus_message_append(call, "a{sv}", 0) : sd_bus_message_append(call, "a{sv}", 1, "bind", "b", 0);
	if (r < 0)
		return bus_log_errno(r, "create a lease");
	r = sd_bus_call(bus, call, 0, &error, &reply);
	if (r < 0)
		return bus_log_error(&error, r, "create a lease");
	r = sd_bus_message_read(reply, "ohu", &path, &fd, &l->ioas_id);
	if (r < 0)
		return bus_log_parse_error(r);
	l->path = strdup(path);
	if (!l->path)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	l->iommufd = fd_copy(fd);
	if (l->iommufd < 0)
		return l->iommufd;

	r = sd_bus_message_enter_container(reply, 'a', "(shuu)");
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct leased_device *d = &l->devices[i];
		const char *address;

		r = sd_bus_message_read(reply, "(shuu)", &address, &fd, &d->dev_id, &d->pt_id);
		if (r == 0 || (r > 0 && strcmp(address, addresses[i]) != 0))
			r = -EBADMSG;
		if (r < 0)
			break;
		d->fd = fd_copy(fd);
		if (d->fd < 0)
			return d->fd;
		strcpy(d->address, address);
		l->n_devices++;
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(reply);
	if (r < 0)
		return bus_log_parse_error(r);

	*ret = TAKE_PTR(l);
	return 0;
}

int lease_release(struct lease *l)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	/* Ours first: ccdevd's teardown waits for a device nobody holds. */
	lease_close_fds(l);
	if (l->released || l->ended || !l->path)
		return 0;
	l->released = true;
	r = sd_bus_call_method(l->bus, CCDEVD_BUS_NAME, l->path, CCDEVD_LEASE_IFACE, "Release",
			       &error, NULL, NULL);
	if (r < 0 && sd_bus_error_has_names(&error, SD_BUS_ERROR_UNKNOWN_OBJECT,
					    CCDEVD_ERROR_NO_SUCH_LEASE))
		return 0; /* ended while we were not listening */
	if (r < 0)
		return lease_log_error(&error, r, l->path, "release the lease");
	return 0;
}

void lease_close_fds(struct lease *l)
{
	for (size_t i = 0; i < l->n_devices; i++)
		l->devices[i].fd = safe_close(l->devices[i].fd);
	l->iommufd = safe_close(l->iommufd);
}

void lease_free(struct lease *l)
{
	if (!l)
		return;
	(void)lease_release(l);
	free(l->devices);
	free(l->path);
	sd_bus_slot_unref(l->released_slot);
	sd_bus_slot_unref(l->disconnect_slot);
	sd_bus_unref(l->bus);
	free(l);
}

void lease_info_done(struct lease_info *e)
{
	free(e->path);
	free(e->state);
	lease_dmabuf_done(&e->dmabuf);
	*e = (struct lease_info){};
}

void lease_list_done(struct lease_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		lease_info_done(&l->items[i]);
	free(l->items);
	*l = (struct lease_list){};
}

int bus_list_leases(sd_bus *bus, struct lease_list *ret)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(lease_list_done) struct lease_list l = {};
	struct lease_info e = {}, *items;
	const char *path, *state;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
			       "ListLeases", &error, &reply, NULL);
	if (r < 0)
		return bus_log_error(&error, r, "list leases");

	r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(ouusu)");
	if (r < 0)
		return bus_log_parse_error(r);
	while ((r = sd_bus_message_read(reply, "(ouusu)", &path, &e.owner_uid, &e.owner_pid, &state,
					&e.device_count)) > 0) {
		items = reallocarray(l.items, l.n + 1, sizeof(*items));
		if (!items)
			return ctl_error_errno(ENOMEM, "Out of memory.");
		l.items = items;
		e.path = strdup(path);
		e.state = strdup(state);
		l.items[l.n++] = e; /* even half-filled: lease_list_done() frees it */
		if (!e.path || !e.state)
			return ctl_error_errno(ENOMEM, "Out of memory.");
	}
	if (r < 0)
		return bus_log_parse_error(r);

	*ret = l;
	l = (struct lease_list){};
	return 0;
}

const struct lease_info *lease_list_find(const struct lease_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].path, path) == 0)
			return &l->items[i];
	return NULL;
}

int bus_release_lease(sd_bus *bus, const char *path)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, CCDEVD_LEASE_IFACE, "Release", &error,
			       NULL, NULL);
	if (r < 0)
		return lease_log_error(&error, r, path, "release the lease");
	return 0;
}

int bus_reset_device(sd_bus *bus, const char *path, const char *address)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, CCDEVD_LEASE_IFACE, "ResetDevice",
			       &error, NULL, "s", address);
	if (r < 0)
		return lease_log_error(&error, r, path, "reset the device");
	return 0;
}

int bus_bind_device(sd_bus *bus, const char *path, const char *address, uint32_t *ret_dev_id,
		    uint32_t *ret_pt_id)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, CCDEVD_LEASE_IFACE, "BindDevice",
			       &error, &reply, "s", address);
	if (r < 0)
		return lease_log_error(&error, r, path, "bind the device");
	r = sd_bus_message_read(reply, "uu", ret_dev_id, ret_pt_id);
	if (r < 0)
		return bus_log_parse_error(r);
	return 0;
}
