/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus-api.h"
#include "cleanup.h"
#include "ctl.h"
#include "properties.h"
#include "strv.h"

#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

static const struct prop_map device_props[] = {
	{ "Address", "s", offsetof(struct device_info, address), NULL },
	{ "VendorId", "q", offsetof(struct device_info, vendor_id), NULL },
	{ "DeviceId", "q", offsetof(struct device_info, device_id), NULL },
	{ "Class", "u", offsetof(struct device_info, class_code), NULL },
	{ "Driver", "s", offsetof(struct device_info, driver), NULL },
	{ "OriginalDriver", "s", offsetof(struct device_info, original_driver), NULL },
	{ "IommuGroup", "i", offsetof(struct device_info, iommu_group), NULL },
	{ "GroupMembers", "as", offsetof(struct device_info, group_members), NULL },
	{ "Managed", "b", offsetof(struct device_info, managed), NULL },
	{ "State", "s", offsetof(struct device_info, state), NULL },
	{ "ResetMethods", "as", offsetof(struct device_info, reset_methods), NULL },
	{ "VfioDevice", "s", offsetof(struct device_info, vfio_device), NULL },
	{ "Lease", "o", offsetof(struct device_info, lease), NULL },
	{}
};

static const struct prop_map manager_props[] = {
	{ "Version", "s", offsetof(struct manager_info, version), NULL },
	{ "KernelFeatures", "as", offsetof(struct manager_info, kernel_features), NULL },
	{ "DeviceCount", "u", offsetof(struct manager_info, device_count), NULL },
	{ "ConfigPath", "s", offsetof(struct manager_info, config_path), NULL },
	{ "LeaseCount", "u", offsetof(struct manager_info, lease_count), NULL },
	{ "AdoptedLeases", "u", offsetof(struct manager_info, adopted_leases), NULL },
	{}
};

void device_info_done(struct device_info *d)
{
	free(d->path);
	free(d->address);
	free(d->driver);
	free(d->original_driver);
	strv_free(d->group_members);
	free(d->state);
	strv_free(d->reset_methods);
	free(d->vfio_device);
	free(d->lease);
	*d = (struct device_info){ .iommu_group = -1 };
}

void device_list_done(struct device_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		device_info_done(&l->items[i]);
	free(l->items);
	*l = (struct device_list){};
}

void manager_info_done(struct manager_info *m)
{
	free(m->version);
	strv_free(m->kernel_features);
	free(m->config_path);
	free(m->unique_name);
	free(m->direct_socket);
	*m = (struct manager_info){};
}

/* A daemon that leaves a string property out still gets "" in the output. */
static int strdup_if_null(char **s)
{
	if (!*s)
		*s = strdup("");
	return *s ? 0 : -ENOMEM;
}

/* Connection-level failures: the bus went away or never answered. */
static bool errno_is_disconnect(int r)
{
	return r == -ECONNRESET || r == -ENOTCONN || r == -ECONNREFUSED || r == -EPIPE ||
	       r == -ESHUTDOWN;
}

int bus_log_error(const sd_bus_error *e, int r, const char *what)
{
	if (!sd_bus_error_is_set(e)) {
		if (errno_is_disconnect(r)) {
			ctl_error_errno(r, "Lost the system bus while trying to %s: %m", what);
			return -EHOSTDOWN;
		}
		return ctl_unclassified(ctl_error_errno(r, "Failed to %s: %m", what));
	}

	if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
				   SD_BUS_ERROR_NO_SERVER, SD_BUS_ERROR_DISCONNECTED) ||
	    strncmp(e->name, "org.freedesktop.DBus.Error.Spawn.", 33) == 0)
		return ctl_error_errno(EHOSTDOWN, "ccdevd is not reachable (%s): %s", CCDEVD_BUS_NAME,
				       e->message ? e->message : e->name);

	if (sd_bus_error_has_names(e, SD_BUS_ERROR_TIMEOUT, SD_BUS_ERROR_NO_REPLY))
		return ctl_unclassified(ctl_error_errno(r, "ccdevd did not answer in time (%s).",
							e->message ? e->message : e->name));

	ctl_error("%s", e->message && *e->message ? e->message : e->name);
	if (sd_bus_error_has_names(e, CCDEVD_ERROR_ACCESS_DENIED, SD_BUS_ERROR_ACCESS_DENIED))
		return -EACCES;
	if (sd_bus_error_has_names(e, CCDEVD_ERROR_NO_SUCH_DEVICE, CCDEVD_ERROR_NOT_MANAGED))
		return -ENODEV;
	if (sd_bus_error_has_name(e, CCDEVD_ERROR_NO_SUCH_LEASE))
		return -ESRCH;
	if (sd_bus_error_has_name(e, CCDEVD_ERROR_INVALID_ARGUMENT))
		return -EINVAL;
	return ctl_unclassified(r);
}

int bus_log_parse_error(int r)
{
	return ctl_unclassified(ctl_error_errno(r, "Failed to parse the reply of ccdevd: %m"));
}

bool bus_is_direct(sd_bus *bus)
{
	return sd_bus_is_bus_client(bus) <= 0;
}

const char *bus_direct_socket_path(void)
{
	const char *path = getenv("CCDEVD_SOCKET");

	return path ? path : CCDEVD_DIRECT_SOCKET;
}

/* Until the handshake is done: ccdevd closes a connection over the user's
 * limit at once, and then the caller still has the bus. */
static int wait_ready(sd_bus *bus)
{
	for (int waits = 0;;) {
		int r = sd_bus_is_ready(bus);
		if (r != 0)
			return r;
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		if (waits++ == 10)
			return -ETIMEDOUT;
		r = sd_bus_wait(bus, 500 * 1000);
		if (r < 0)
			return r;
	}
}

static int connect_direct(sd_bus **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
	const char *path = bus_direct_socket_path();
	_cleanup_close_ int fd = -1;
	int r;

	if (!*path || strlen(path) >= sizeof sa.sun_path)
		return -ENOENT;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -errno;
	r = sd_bus_new(&bus);
	if (r < 0)
		return r;
	r = sd_bus_set_fd(bus, fd, fd);
	if (r < 0)
		return r;
	TAKE_FD(fd);
	r = sd_bus_negotiate_fds(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r >= 0)
		r = wait_ready(bus);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(bus);
	return 0;
}

int bus_connect(sd_bus **ret)
{
	int r;

	r = connect_direct(ret);
	if (r >= 0)
		return 0;
	if (r != -ENOENT && getenv("CCDEVD_SOCKET"))
		fprintf(stderr, "ccdevctl: cannot use the direct socket %s (%s); using the system bus.\n",
			bus_direct_socket_path(), strerror(-r));
	r = sd_bus_open_system(ret);
	if (r < 0) {
		ctl_error_errno(r, "Failed to connect to the system bus: %m");
		return -EHOSTDOWN;
	}
	return 0;
}

int bus_connect_with_event(sd_event **ret_event, sd_bus **ret_bus)
{
	int r;

	r = sd_event_new(ret_event);
	if (r < 0)
		return ctl_error_errno(r, "Failed to create an event loop: %m");
	r = bus_connect(ret_bus);
	if (r < 0)
		return r;
	r = sd_bus_attach_event(*ret_bus, *ret_event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		return ctl_error_errno(r, "Failed to attach the bus to the event loop: %m");
	return 0;
}

static int get_all(sd_bus *bus, const char *path, const char *iface, sd_bus_error *error,
		   sd_bus_message **ret)
{
	return sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, PROPERTIES_IFACE, "GetAll", error, ret,
				  "s", iface);
}

/* Decode a Device GetAll reply into d (which takes path) and rewind it. */
static int device_info_read(sd_bus_message *reply, const char *path, struct device_info *d)
{
	int r;

	*d = (struct device_info){ .iommu_group = -1 };
	r = prop_map_read(reply, device_props, d);
	if (r < 0)
		return r;
	d->path = strdup(path);
	if (!d->path || strdup_if_null(&d->address) < 0 || strdup_if_null(&d->driver) < 0 ||
	    strdup_if_null(&d->original_driver) < 0 || strdup_if_null(&d->state) < 0 ||
	    strdup_if_null(&d->vfio_device) < 0 || (!d->lease && !(d->lease = strdup("/"))))
		return ctl_error_errno(ENOMEM, "Out of memory.");
	r = sd_bus_message_rewind(reply, true);
	if (r < 0)
		return bus_log_parse_error(r);
	return 0;
}

/* Append the device at path to l; a device removed since ListDevices is
 * skipped without a word, as if the list had been taken a moment later. */
static int device_list_add(sd_bus *bus, struct device_list *l, const char *path)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct device_info *items;
	int r;

	r = get_all(bus, path, CCDEVD_DEVICE_IFACE, &error, &reply);
	if (r < 0 && sd_bus_error_has_names(&error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE))
		return 0;
	if (r < 0)
		return bus_log_error(&error, r, "read the properties of a device");

	items = reallocarray(l->items, l->n + 1, sizeof(*items));
	if (!items)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	l->items = items;
	r = device_info_read(reply, path, &l->items[l->n]);
	l->n++; /* even on failure: device_list_done() frees what was read */
	return r;
}

int bus_list_devices(sd_bus *bus, struct device_list *ret)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(device_list_done) struct device_list l = {};
	const char *address, *state, *driver, *path;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
			       "ListDevices", &error, &reply, NULL);
	if (r < 0)
		return bus_log_error(&error, r, "list devices");

	r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(ssso)");
	if (r < 0)
		return bus_log_parse_error(r);
	while ((r = sd_bus_message_read(reply, "(ssso)", &address, &state, &driver, &path)) > 0) {
		r = device_list_add(bus, &l, path);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return bus_log_parse_error(r);

	*ret = l;
	l = (struct device_list){};
	return 0;
}

int bus_get_device(sd_bus *bus, const char *address, struct device_info *ret,
		   sd_bus_message **ret_properties)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *props = NULL;
	_cleanup_(device_info_done) struct device_info d = {};
	const char *path;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
			       "GetDevice", &error, &reply, "s", address);
	if (r < 0)
		return bus_log_error(&error, r, "look up the device");
	r = sd_bus_message_read(reply, "o", &path);
	if (r < 0)
		return bus_log_parse_error(r);

	r = get_all(bus, path, CCDEVD_DEVICE_IFACE, &error, &props);
	if (r < 0)
		return bus_log_error(&error, r, "read the properties of the device");
	r = device_info_read(props, path, &d);
	if (r < 0)
		return r;

	*ret = d;
	d = (struct device_info){};
	if (ret_properties)
		*ret_properties = TAKE_PTR(props);
	return 0;
}

void killed_list_done(struct killed_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].command);
	free(l->items);
	*l = (struct killed_list){};
}

int bus_force_release(sd_bus *bus, const char *address, struct killed_list *ret)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *killed = NULL;
	_cleanup_(killed_list_done) struct killed_list l = {};
	struct killed_process *items;
	const char *path, *command;
	uint32_t pid;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
			       "GetDevice", &error, &reply, "s", address);
	if (r < 0)
		return bus_log_error(&error, r, "look up the device");
	r = sd_bus_message_read(reply, "o", &path);
	if (r < 0)
		return bus_log_parse_error(r);

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, CCDEVD_DEVICE_IFACE, "ForceRelease",
			       &error, &killed, NULL);
	if (r < 0)
		return bus_log_error(&error, r, "force the release of the device");

	r = sd_bus_message_enter_container(killed, SD_BUS_TYPE_ARRAY, "(us)");
	if (r < 0)
		return bus_log_parse_error(r);
	while ((r = sd_bus_message_read(killed, "(us)", &pid, &command)) > 0) {
		items = reallocarray(l.items, l.n + 1, sizeof(*items));
		if (!items)
			return ctl_error_errno(ENOMEM, "Out of memory.");
		l.items = items;
		l.items[l.n] = (struct killed_process){ .pid = pid, .command = strdup(command) };
		if (!l.items[l.n++].command)
			return ctl_error_errno(ENOMEM, "Out of memory.");
	}
	if (r < 0)
		return bus_log_parse_error(r);

	*ret = l;
	l = (struct killed_list){};
	return 0;
}

/* Who owns org.ccdevd1 right now: unique name and PID. */
static int manager_read_owner(sd_bus *bus, struct manager_info *m)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	const char *unique;
	int r;

	/* Peer to peer: the kernel says who is at the other end. */
	if (bus_is_direct(bus)) {
		r = sd_bus_get_owner_creds(bus, SD_BUS_CREDS_PID, &creds);
		if (r >= 0)
			r = sd_bus_creds_get_pid(creds, &m->pid);
		if (r < 0)
			return ctl_unclassified(ctl_error_errno(r, "Cannot tell who is at the other end of %s: %m",
								bus_direct_socket_path()));
		m->unique_name = strdup("");
		m->direct_socket = strdup(bus_direct_socket_path());
		return m->unique_name && m->direct_socket ? 0 : ctl_error_errno(ENOMEM, "Out of memory.");
	}

	r = sd_bus_get_name_creds(bus, CCDEVD_BUS_NAME, SD_BUS_CREDS_UNIQUE_NAME | SD_BUS_CREDS_PID,
				  &creds);
	if (r == -ENXIO || r == -EHOSTUNREACH || errno_is_disconnect(r))
		return ctl_error_errno(EHOSTDOWN, "ccdevd is not reachable: %s is not on the bus.",
				       CCDEVD_BUS_NAME);
	if (r < 0)
		return ctl_unclassified(ctl_error_errno(r, "Failed to ask the bus who owns %s: %m",
							CCDEVD_BUS_NAME));

	r = sd_bus_creds_get_unique_name(creds, &unique);
	if (r >= 0)
		r = sd_bus_creds_get_pid(creds, &m->pid);
	if (r < 0)
		return ctl_unclassified(ctl_error_errno(r, "The bus did not say who owns %s: %m",
							CCDEVD_BUS_NAME));
	m->unique_name = strdup(unique);
	return m->unique_name ? 0 : ctl_error_errno(ENOMEM, "Out of memory.");
}

int bus_get_manager(sd_bus *bus, struct manager_info *ret)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(manager_info_done) struct manager_info m = {};
	int r;

	/* Properties first: on a system with bus activation this starts ccdevd. */
	r = get_all(bus, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, &error, &reply);
	if (r < 0)
		return bus_log_error(&error, r, "read the properties of ccdevd");
	r = prop_map_read(reply, manager_props, &m);
	if (r < 0)
		return r;
	if (strdup_if_null(&m.version) < 0 || strdup_if_null(&m.config_path) < 0)
		return ctl_error_errno(ENOMEM, "Out of memory.");

	r = manager_read_owner(bus, &m);
	if (r < 0)
		return r;

	*ret = m;
	m = (struct manager_info){};
	return 0;
}
