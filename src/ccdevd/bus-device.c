/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.ccdevd1.Device at /org/ccdevd1/device/DDDD_BB_DD_F (dbus/org.ccdevd1.Device.xml). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bus-access.h"
#include "bus.h"
#include "bus-signals.h"
#include "cleanup.h"
#include "config.h"
#include "log.h"
#include "lease.h"
#include "manager.h"
#include "strv.h"
#include "teardown.h"

/* "/org/ccdevd1/device/0000_01_00_0" -> the managed device, if any. */
static struct device *device_from_path(struct manager *m, const char *path)
{
	size_t n = strlen(CCDEVD_DEVICE_PREFIX);
	char address[BDF_STRING_MAX];
	struct bdf bdf;
	const char *comp;

	if (strncmp(path, CCDEVD_DEVICE_PREFIX "/", n + 1) != 0)
		return NULL;
	comp = path + n + 1;
	if (strlen(comp) != BDF_STRING_MAX - 1)
		return NULL;
	snprintf(address, sizeof address, "%.4s:%.2s:%.2s.%.1s", comp, comp + 5, comp + 8, comp + 11);
	if (comp[4] != '_' || comp[7] != '_' || comp[10] != '_' || bdf_parse(address, &bdf) < 0)
		return NULL;
	return manager_find_managed(m, &bdf);
}

static int device_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
		       void **found, sd_bus_error *error)
{
	struct device *d = device_from_path(userdata, path);

	if (!d)
		return 0;
	*found = d;
	return 1;
}

static int device_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes,
			    sd_bus_error *error)
{
	struct manager *m = userdata;
	struct device *const *devices;
	size_t n, k = 0;
	char **l;

	devices = inventory_devices(m->inventory, &n);
	l = calloc(n + 1, sizeof(char *));
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!devices[i]->managed)
			continue;
		l[k] = strdup(devices[i]->object_path);
		if (!l[k]) {
			strv_free(l);
			return -ENOMEM;
		}
		k++;
	}
	*nodes = l;
	return 0;
}

static int property_strv(sd_bus *bus, const char *path, const char *interface, const char *property,
			 sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	char ***l = userdata; /* points at the field via the vtable offset */
	int r;

	r = sd_bus_message_open_container(reply, 'a', "s");
	STRV_FOREACH(s, *l)
		if (r >= 0)
			r = sd_bus_message_append(reply, "s", *s);
	if (r < 0)
		return r;
	return sd_bus_message_close_container(reply);
}

static int property_state(sd_bus *bus, const char *path, const char *interface, const char *property,
			  sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	enum device_state *s = userdata;

	return sd_bus_message_append(reply, "s", device_state_to_string(*s));
}

static int property_string(sd_bus *bus, const char *path, const char *interface, const char *property,
			   sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	char **s = userdata;

	return sd_bus_message_append(reply, "s", *s ? *s : "");
}

static int property_address(sd_bus *bus, const char *path, const char *interface, const char *property,
			    sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	return sd_bus_message_append(reply, "s", (const char *)userdata);
}

static int property_lease(sd_bus *bus, const char *path, const char *interface, const char *property,
			  sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct device *d = userdata;

	return sd_bus_message_append(reply, "o", d->lease ? d->lease->object_path : "/");
}

static int property_release_policy(sd_bus *bus, const char *path, const char *interface,
				   const char *property, sd_bus_message *reply, void *userdata,
				   sd_bus_error *error)
{
	struct device *d = userdata;

	return sd_bus_message_append(reply, "s",
				     release_policy_to_string(d->rule ? d->rule->on_release : RELEASE_RESTORE_DRIVER));
}

/* A rule of the current configuration manages it (a published device can
 * lose its rule on reload while it is still leased). */
static int property_managed(sd_bus *bus, const char *path, const char *interface, const char *property,
			    sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	struct device *d = userdata;

	return sd_bus_message_append(reply, "b", d->rule != NULL);
}

/* Device.ForceRelease: root ends the processes that keep a released device
 * open; the unbind then proves the release by itself. */
static int method_force_release(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	struct device *d = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_free_ char *why = NULL;
	struct fd_holder killed[16];
	int n, r;

	r = bus_check_root(msg, "force the release of a device", error);
	if (r < 0)
		return r;
	n = teardown_force(d, killed, sizeof killed / sizeof killed[0], &why);
	if (n == TEARDOWN_NOT_WAITING)
		return sd_bus_error_setf(error, CCDEVD_ERROR_NOT_RELEASING,
					 "%s is not waiting for processes that hold it open (state %s%s%s); "
					 "ForceRelease only ends the holders of a device whose release waits for them.",
					 d->name, device_state_to_string(d->state), d->state_reason[0] ? ": " : "",
					 d->state_reason);
	if (n < 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_FAILED, "Cannot force the release of %s: %s.", d->name,
					 why ? why : strerror(-n));
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(us)");
	for (int i = 0; r >= 0 && i < n; i++)
		r = sd_bus_message_append(reply, "(us)", (uint32_t)killed[i].pid, killed[i].comm);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}

#define CHANGES SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST
static const sd_bus_vtable device_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Address", "s", property_address, offsetof(struct device, name), CONST),
	SD_BUS_PROPERTY("VendorId", "q", NULL, offsetof(struct device, vendor_id), CONST),
	SD_BUS_PROPERTY("DeviceId", "q", NULL, offsetof(struct device, device_id), CONST),
	SD_BUS_PROPERTY("Class", "u", NULL, offsetof(struct device, class_code), CONST),
	SD_BUS_PROPERTY("Driver", "s", property_string, offsetof(struct device, driver), CHANGES),
	SD_BUS_PROPERTY("OriginalDriver", "s", property_string, offsetof(struct device, original_driver), CHANGES),
	SD_BUS_PROPERTY("IommuGroup", "i", NULL, offsetof(struct device, iommu_group), CHANGES),
	SD_BUS_PROPERTY("GroupMembers", "as", property_strv, offsetof(struct device, group_members), CHANGES),
	SD_BUS_PROPERTY("Managed", "b", property_managed, 0, CHANGES),
	SD_BUS_PROPERTY("State", "s", property_state, offsetof(struct device, state), CHANGES),
	SD_BUS_PROPERTY("ResetMethods", "as", property_strv, offsetof(struct device, reset_methods), CHANGES),
	SD_BUS_PROPERTY("VfioDevice", "s", property_string, offsetof(struct device, vfio_dev), CHANGES),
	SD_BUS_PROPERTY("StateReason", "s", property_string, offsetof(struct device, state_reason), CHANGES),
	SD_BUS_PROPERTY("Lease", "o", property_lease, 0, CHANGES),
	SD_BUS_PROPERTY("ReleasePolicy", "s", property_release_policy, 0, CHANGES),
	SD_BUS_METHOD_WITH_NAMES("ForceRelease", NULL, , "a(us)", SD_BUS_PARAM(killed), method_force_release,
				 SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END
};

int bus_device_register(struct manager *m, sd_bus *bus)
{
	int r;

	r = sd_bus_add_fallback_vtable(bus, NULL, CCDEVD_DEVICE_PREFIX, CCDEVD_DEVICE_IFACE,
				       device_vtable, device_find, m);
	if (r >= 0)
		r = sd_bus_add_node_enumerator(bus, NULL, CCDEVD_DEVICE_PREFIX, device_enumerate, m);
	if (r < 0)
		return log_error_errno(r, "Failed to register %s: %m", CCDEVD_DEVICE_IFACE);
	return 0;
}

static int device_signal_body(sd_bus_message *msg, void *userdata)
{
	const struct device *d = userdata;

	return sd_bus_message_append(msg, "so", d->name, d->object_path);
}

/* The object manager's InterfacesAdded/Removed carry every property, and
 * sd-bus only broadcasts them: on the bus they go out only while the
 * inventory is public (bus-signals.h), and its subscribers have
 * DeviceAdded/DeviceRemoved; direct subscribers get both. */
void bus_device_published(struct manager *m, struct device *d)
{
	if (bus_inventory_is_public(m))
		(void)sd_bus_emit_object_added(m->bus, d->object_path);
	bus_emit_to_direct_subscribers(m, DIRECT_EMIT_ADDED, d->object_path, NULL, NULL);
	bus_send_inventory_signal(m, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, "DeviceAdded", device_signal_body, d);
}

/* Must run while the device is still findable (managed), so sd-bus can list
 * the interfaces that go away. */
void bus_device_unpublished(struct manager *m, struct device *d)
{
	if (bus_inventory_is_public(m))
		(void)sd_bus_emit_object_removed(m->bus, d->object_path);
	bus_emit_to_direct_subscribers(m, DIRECT_EMIT_REMOVED, d->object_path, NULL, NULL);
	bus_send_inventory_signal(m, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, "DeviceRemoved", device_signal_body,
				  d);
}

void bus_device_emit_changed(struct manager *m, struct device *d, unsigned mask)
{
	static const struct {
		unsigned bit;
		const char *names[3];
	} map[] = {
		{ DEVICE_CHANGED_DRIVER, { "Driver" } },
		{ DEVICE_CHANGED_ORIGINAL_DRIVER, { "OriginalDriver" } },
		{ DEVICE_CHANGED_STATE, { "State", "StateReason" } },
		{ DEVICE_CHANGED_LEASE, { "Lease" } },
		{ DEVICE_CHANGED_GROUP, { "IommuGroup", "GroupMembers" } },
		{ DEVICE_CHANGED_RESET, { "ResetMethods" } },
		{ DEVICE_CHANGED_VFIO, { "VfioDevice" } },
		{ DEVICE_CHANGED_MANAGED, { "Managed", "ReleasePolicy" } },
	};
	char *names[16];
	size_t k = 0;

	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (mask & map[i].bit)
			for (size_t j = 0; j < 2 && map[i].names[j]; j++)
				names[k++] = (char *)map[i].names[j];
	names[k] = NULL;
	if (k == 0)
		return;
	if (bus_inventory_is_public(m))
		(void)sd_bus_emit_properties_changed_strv(m->bus, d->object_path, CCDEVD_DEVICE_IFACE, names);
	else
		bus_send_invalidated(m, d->object_path, CCDEVD_DEVICE_IFACE, (const char *const *)names);
	bus_emit_to_direct_subscribers(m, DIRECT_EMIT_CHANGED, d->object_path, CCDEVD_DEVICE_IFACE, names);
}
