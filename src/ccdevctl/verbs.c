/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "verbs.h"

#include <errno.h>
#include <systemd/sd-bus.h>

#include "bus-client.h"
#include "bus-dmabuf.h"
#include "bus-lease.h"
#include "cleanup.h"
#include "output.h"

int verb_list(int argc, char *argv[], const struct ctl_options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(device_list_done) struct device_list l = {};
	int r;

	r = bus_connect(&bus);
	if (r < 0)
		return r;
	r = bus_list_devices(bus, &l);
	if (r < 0)
		return r;
	return o->json ? output_devices_json(&l) : output_device_table(&l, o->legend);
}

int verb_show(int argc, char *argv[], const struct ctl_options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *props = NULL;
	_cleanup_(device_info_done) struct device_info d = {};
	_cleanup_(lease_list_done) struct lease_list leases = {};
	const struct lease_info *exporting = NULL;
	char address[BDF_STRING_MAX];
	bool leased;
	int r;

	/* Checked here too so that a typo is a usage error without a bus. */
	r = ctl_parse_address(argv[1], address);
	if (r < 0)
		return r;

	r = bus_connect(&bus);
	if (r < 0)
		return r;
	r = bus_get_device(bus, address, &d, o->json ? NULL : &props);
	if (r < 0)
		return r;

	/* A leased device: the dma-buf exports of it, if the caller can read
	 * its lease, and the mappings of its BARs, in the leases the caller
	 * can read (ListLeases: its own, all for root). */
	leased = strcmp(d.lease, "/") != 0;
	if (leased) {
		r = bus_list_leases(bus, &leases);
		if (r >= 0)
			r = bus_read_lease_dmabufs(bus, &leases);
		if (r < 0)
			return r;
		exporting = lease_list_find(&leases, d.lease);
	}

	if (o->json)
		return output_device_json(&d, leased ? &leases : NULL, exporting);
	r = output_properties(props);
	if (r < 0 || !leased)
		return r;
	return output_device_dmabuf(&leases, d.address, exporting);
}

int verb_status(int argc, char *argv[], const struct ctl_options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(manager_info_done) struct manager_info m = {};
	int r;

	r = bus_connect(&bus);
	if (r < 0)
		return r;
	r = bus_get_manager(bus, &m);
	if (r < 0)
		return r;
	return o->json ? output_manager_json(&m) : output_manager(&m);
}
