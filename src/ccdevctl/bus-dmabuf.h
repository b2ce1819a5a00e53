/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The dma-buf state of leases, as ccdevctl reads it: the Lease properties
 * DmaBufExports (a(sua(tt)): what ExportDmaBuf handed the owner) and
 * DmaBufMappings (a(ttsuts): what MapDmaBuf mapped into the lease's IOAS).
 * A daemon without them reads as a lease with neither.
 *
 * Like bus-client.h: every function reports its own errors and returns the
 * classified errnos of ctl.h.
 */

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

struct lease_list;

/* One (offset, length) slice of a BAR. */
struct dmabuf_range {
	uint64_t offset;
	uint64_t length;
};

/* One entry of DmaBufExports. */
struct dmabuf_export {
	char *device; /* the exporting device's address */
	uint32_t bar;
	struct dmabuf_range *ranges;
	size_t n_ranges;
};

struct dmabuf_export_list {
	struct dmabuf_export *items;
	size_t n;
};

/* One entry of DmaBufMappings. */
struct dmabuf_mapping {
	uint64_t iova;
	uint64_t length;
	char *device; /* the exporting device's address */
	uint32_t bar;
	uint64_t offset; /* in the BAR */
	char *state;     /* "mapped" or "revoked" */
};

struct dmabuf_mapping_list {
	struct dmabuf_mapping *items;
	size_t n;
};

/* The two properties of one lease. */
struct lease_dmabuf {
	struct dmabuf_export_list exports;
	struct dmabuf_mapping_list mappings;
};

void lease_dmabuf_done(struct lease_dmabuf *d);

/* Read DmaBufExports and DmaBufMappings of every lease of l (as
 * bus_list_leases() listed them) into its dmabuf member.  A lease that
 * ended since it was listed is left out of l, as if the list had been
 * taken a moment later. */
int bus_read_lease_dmabufs(sd_bus *bus, struct lease_list *l);
