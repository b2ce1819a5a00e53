/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The bus side of the manager: vtables and signals.  No ioctls, no sysfs. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "device.h"

struct manager;

/* The vtables, on the system bus and on each direct connection alike:
 * one set of methods, one authorization (bus-access.h). */
int bus_manager_register(struct manager *m, sd_bus *bus);
int bus_device_register(struct manager *m, sd_bus *bus);
int bus_lease_register(struct manager *m, sd_bus *bus);

struct lease;
/* The lease whose object path this is, or NULL. */
struct lease *bus_lease_of_path(struct manager *m, const char *path);
int bus_method_create_lease(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_method_create_lease_with_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_method_list_leases(sd_bus_message *msg, void *userdata, sd_bus_error *error);
/* The options of Lease.AttachDevice and Manager.CreateLease (a{sv}): unknown
 * keys and wrong types are InvalidArgument.  Separate for test/fuzz/. */
int bus_read_attach_options(sd_bus_message *msg, bool *raw, sd_bus_error *error);
/* The same options for another method, named in the error. */
int bus_read_bind_options(sd_bus_message *msg, const char *method, bool *raw, sd_bus_error *error);
int bus_read_create_lease_options(sd_bus_message *msg, sd_bus_error *error);
/* ExportDmaBuf / MapDmaBuf arguments: the ranges a(tt) (at most
 * DMABUF_RANGES_MAX) and the options a{sv} (ret_fixed NULL: none allowed). */
struct vfio_dma_slice;
int bus_read_dmabuf_ranges(sd_bus_message *msg, struct vfio_dma_slice *ranges, size_t *ret_n, sd_bus_error *error);
int bus_read_dmabuf_options(sd_bus_message *msg, const char *method, bool *ret_fixed, uint64_t *ret_iova,
			    sd_bus_error *error);
void bus_lease_emit_added(struct manager *m, struct lease *l);
/* Unicast to the lease's owner (org.ccdevd1.Lease signals).  member:
 * "DmaBufRevoked" (with reason) or "DmaBufRestored" (reason NULL). */
void bus_lease_emit_dmabuf(struct manager *m, struct lease *l, const char *member, uint64_t iova, uint64_t length,
			   const char *device, uint32_t bar, const char *reason);
void bus_lease_emit_device_paused(struct manager *m, struct lease *l, const char *device, const char *reason);
void bus_lease_emit_device_resumed(struct manager *m, struct lease *l, const char *device, bool reset_done);
void bus_lease_emit_device_lost(struct manager *m, struct lease *l, const char *device, const char *reason);
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
