/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The bus side of the manager: vtables and signals.  No ioctls, no sysfs. */

#include <systemd/sd-bus.h>

#include "device.h"

struct manager;

int bus_manager_register(struct manager *m);
int bus_device_register(struct manager *m);
int bus_lease_register(struct manager *m);

struct lease;
int bus_method_create_lease(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_method_list_leases(sd_bus_message *msg, void *userdata, sd_bus_error *error);
/* The options of Lease.AttachDevice and Manager.CreateLease (a{sv}): unknown
 * keys and wrong types are InvalidArgument.  Separate for test/fuzz/. */
int bus_read_attach_options(sd_bus_message *msg, bool *raw, sd_bus_error *error);
int bus_read_create_lease_options(sd_bus_message *msg, sd_bus_error *error);
void bus_lease_emit_added(struct manager *m, struct lease *l);
void bus_lease_emit_changed(struct manager *m, struct lease *l, const char *property);
void bus_lease_emit_released(struct manager *m, struct lease *l, const char *reason);

/* Announce a device that became managed / stopped being published. */
void bus_device_published(struct manager *m, struct device *d);
void bus_device_unpublished(struct manager *m, struct device *d);
void bus_device_emit_changed(struct manager *m, struct device *d, unsigned changed_mask);
void bus_manager_emit_changed(struct manager *m, const char *property);

/* Parse a client-supplied address and find the managed device, or set the
 * InvalidArgument / NoSuchDevice / NotManaged error. */
int bus_resolve_device(struct manager *m, const char *address, struct device **ret,
		       sd_bus_error *error);
