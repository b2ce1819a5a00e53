/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Rendering on stdout: tables and "Key: value" lines for people, Name=value
 * lines for scripts that read systemctl-show style, JSON for the rest
 * (ccdevctl(1) documents the keys).  Functions return 0 or -ENOMEM; a write
 * error on stdout is noticed by main() when it flushes.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "bus-client.h"
#include "bus-lease.h"

/* Columns ADDRESS VENDOR:DEVICE CLASS DRIVER STATE GROUP VFIO; with legend,
 * a header line and a "N devices listed." footer. */
int output_device_table(const struct device_list *l, bool legend);

/* Every property in a Properties.GetAll reply as Name=value, in the order
 * ccdevd sent them.  Arrays are space-separated, booleans yes/no, numbers
 * decimal except the PCI ids (VendorId, DeviceId, Class) in 0x-hex. */
int output_properties(sd_bus_message *m);

int output_manager(const struct manager_info *m);

/* Columns LEASE OWNER PID STATE DEVICES (OWNER: the user name, or the uid
 * if it has none); legend as for devices. */
int output_lease_table(const struct lease_list *l, bool legend);

/* leases --mappings, after the lease table: a table of the leases'
 * dma-buf mappings (LEASE IOVA LENGTH DEVICE BAR OFFSET STATE) and one of
 * their exports (LEASE DEVICE BAR RANGES, RANGES as OFFSET+LENGTH,...),
 * numbers in 0x-hex but BAR.  Each table follows an empty line; with
 * legend, it has a header and a "N dma-buf mappings listed." footer. */
int output_lease_dmabuf_tables(const struct lease_list *l, bool legend);

/* show, after output_properties(): a "DmaBufExport={ bar=N ; ranges=... }"
 * line per export of the device at address in exporting (its lease, NULL
 * when the caller cannot read it), then a "DmaBufMapping={ lease=... ;
 * iova=... ; ... }" line per mapping of that device in the leases of l. */
int output_device_dmabuf(const struct lease_list *l, const char *address,
			 const struct lease_info *exporting);

/* A lease this process holds: its path, and each fd with its ids. */
int output_lease(const struct lease *l);

/* release --force: "killed PID COMMAND", one line per process. */
int output_killed(const struct killed_list *l);

/* bind: "dev_id N pt_id M". */
int output_bound(uint32_t dev_id, uint32_t pt_id);

/* --json: an array of device objects / one device object / the manager /
 * an array of lease objects / a lease this process holds.  show: with
 * leases, the device object has "dmabuf_mappings" (of the device, in those
 * leases) and, when exporting is not NULL, "dmabuf_exports" (of the device,
 * in exporting); leases --mappings: with dmabuf, each lease object has
 * "dmabuf_mappings" and "dmabuf_exports". */
int output_devices_json(const struct device_list *l);
int output_device_json(const struct device_info *d, const struct lease_list *leases,
		       const struct lease_info *exporting);
int output_manager_json(const struct manager_info *m);
int output_leases_json(const struct lease_list *l, bool dmabuf);
int output_lease_json(const struct lease *l);
/* --json: [{"pid": N, "command": "..."}...] / {"dev_id": N, "pt_id": M}. */
int output_killed_json(const struct killed_list *l);
int output_bound_json(uint32_t dev_id, uint32_t pt_id);
