/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.ccdevd1.Manager at /org/ccdevd1 (dbus/org.ccdevd1.Manager.xml). */
#include <errno.h>
#include <string.h>

#include "build-config.h"
#include "bus-access.h"
#include "bus.h"
#include "bus-signals.h"
#include "cleanup.h"
#include "config.h"
#include "log.h"
#include "manager.h"


static int method_list_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct device *const *devices;
	size_t n;
	int r;

	/* Readers were checked by the read gate before we got here. */
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(ssso)");
	devices = inventory_devices(m->inventory, &n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct device *d = devices[i];
		if (!d->managed)
			continue;
		r = sd_bus_message_append(reply, "(ssso)", d->name, device_state_to_string(d->state),
					  d->driver, d->object_path);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

/*
 * Resolve a client-supplied address to a managed device, or fail with the
 * error a person can act on.  Shared by every method that takes an address.
 */
int bus_resolve_device(struct manager *m, const char *address, struct device **ret,
		       sd_bus_error *error)
{
	struct bdf bdf;
	struct device *d;

	if (bdf_parse(address, &bdf) < 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_INVALID_ARGUMENT,
					 "'%s' is not a PCI address; expected DDDD:BB:DD.F, e.g. 0000:01:00.0.",
					 address);
	d = inventory_find(m->inventory, &bdf);
	if (!d)
		return sd_bus_error_setf(error, CCDEVD_ERROR_NO_SUCH_DEVICE,
					 "No PCI device %s on this host (bridges are not listed).", address);
	if (!d->managed || !d->rule)
		return sd_bus_error_setf(error, CCDEVD_ERROR_NOT_MANAGED,
					 "PCI device %s is not managed by ccdevd; add a rule for it to 'devices' "
					 "in %s and reload.", d->name, m->config->path);
	*ret = d;
	return 0;
}

static int method_get_device(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	const char *address;
	struct device *d;
	int r;

	r = sd_bus_message_read(msg, "s", &address);
	if (r < 0)
		return r;
	r = bus_resolve_device(m, address, &d, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, "o", d->object_path);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	_cleanup_free_ char *why = NULL;
	int r;

	r = bus_check_root(msg, "reload the configuration", error);
	if (r < 0)
		return r;
	r = manager_reload(m, &why);
	if (r < 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_CONFIG_INVALID,
					 "%s; the previous configuration stays in force.", why ? why : strerror(-r));
	return sd_bus_reply_method_return(msg, NULL);
}

static int property_kernel_features(sd_bus *bus, const char *path, const char *interface,
				    const char *property, sd_bus_message *reply, void *userdata,
				    sd_bus_error *error)
{
	struct manager *m = userdata;
	int r;

	r = sd_bus_message_open_container(reply, 'a', "s");
	for (int f = 0; r >= 0 && f < _FEATURE_MAX; f++)
		if (m->features.have[f])
			r = sd_bus_message_append(reply, "s", feature_to_string(f));
	if (r < 0)
		return r;
	return sd_bus_message_close_container(reply);
}

static int property_version(sd_bus *bus, const char *path, const char *interface,
			    const char *property, sd_bus_message *reply, void *userdata,
			    sd_bus_error *error)
{
	return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_config_path(sd_bus *bus, const char *path, const char *interface,
				const char *property, sd_bus_message *reply, void *userdata,
				sd_bus_error *error)
{
	struct manager *m = userdata;

	return sd_bus_message_append(reply, "s", m->config->path);
}

/* Subscribe: inventory signals (unless they are broadcast anyway) and, for
 * root, every lease's signals, unicast to the caller until it leaves the
 * bus or calls Unsubscribe. */
static int method_subscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;
	_cleanup_(bus_caller_done) struct bus_caller c = {};
	int r;

	r = bus_get_caller(msg, &c, error);
	if (r < 0)
		return r;
	if (c.who.uid != 0 && !access_allows(&m->config->readers, &c.who))
		return sd_bus_error_setf(error, CCDEVD_ERROR_ACCESS_DENIED,
					 "Access denied: uid %u may not read the device inventory, so it receives "
					 "none of its signals; ask the administrator to add it to 'readers' in %s.",
					 (unsigned)c.who.uid, m->config->path);
	r = bus_subscribe(m, msg, &c.who);
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Cannot subscribe: %m");
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_unsubscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct manager *m = userdata;

	if (bus_unsubscribe(m, msg) < 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_FAILED, "Not subscribed.");
	return sd_bus_reply_method_return(msg, NULL);
}

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Version", "s", property_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("KernelFeatures", "as", property_kernel_features, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("DeviceCount", "u", NULL, offsetof(struct manager, n_managed),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("ConfigPath", "s", property_config_path, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("AdoptedLeases", "u", NULL, offsetof(struct manager, n_adopted), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("LeaseCount", "u", NULL, offsetof(struct manager, n_leases),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_METHOD_WITH_NAMES("ListDevices", NULL, , "a(ssso)", SD_BUS_PARAM(devices),
				 method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("GetDevice", "s", SD_BUS_PARAM(address), "o", SD_BUS_PARAM(device),
				 method_get_device, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Reload", NULL, NULL, method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("CreateLease", "a{sv}", SD_BUS_PARAM(options), "ohu",
				 SD_BUS_PARAM(lease) SD_BUS_PARAM(iommufd) SD_BUS_PARAM(ioas_id),
				 bus_method_create_lease, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("CreateLeaseWithDevices", "asa{sv}", SD_BUS_PARAM(addresses) SD_BUS_PARAM(options),
				 "ohua(shuu)", SD_BUS_PARAM(lease) SD_BUS_PARAM(iommufd) SD_BUS_PARAM(ioas_id)
				 SD_BUS_PARAM(devices),
				 bus_method_create_lease_with_devices, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_NAMES("ListLeases", NULL, , "a(ouusu)", SD_BUS_PARAM(leases),
				 bus_method_list_leases, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Subscribe", NULL, NULL, method_subscribe, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD("Unsubscribe", NULL, NULL, method_unsubscribe, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_NAMES("DeviceAdded", "so", SD_BUS_PARAM(address) SD_BUS_PARAM(device), 0),
	SD_BUS_SIGNAL_WITH_NAMES("DeviceRemoved", "so", SD_BUS_PARAM(address) SD_BUS_PARAM(device), 0),
	SD_BUS_SIGNAL_WITH_NAMES("LeaseReleased", "os", SD_BUS_PARAM(lease) SD_BUS_PARAM(reason), 0),
	SD_BUS_VTABLE_END
};

int bus_manager_register(struct manager *m, sd_bus *bus)
{
	int r;

	r = sd_bus_add_object_vtable(bus, NULL, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
				     manager_vtable, m);
	if (r < 0)
		return log_error_errno(r, "Failed to register %s: %m", CCDEVD_MANAGER_IFACE);
	r = sd_bus_add_object_manager(bus, NULL, CCDEVD_OBJECT_ROOT);
	if (r < 0)
		return log_error_errno(r, "Failed to add the object manager: %m");
	return bus_install_read_gate(m, bus);
}

void bus_manager_emit_changed(struct manager *m, const char *property)
{
	const char *names[] = { property, NULL };

	if (!m->bus)
		return;
	if (bus_inventory_is_public(m))
		(void)sd_bus_emit_properties_changed(m->bus, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
						     property, NULL);
	else
		bus_send_invalidated(m, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, names);
	bus_emit_to_direct_subscribers(m, DIRECT_EMIT_CHANGED, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
				       (char **)names);
}
