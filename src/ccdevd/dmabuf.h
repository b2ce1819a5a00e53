/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * dma-bufs of device BARs (DESIGN §5 rules 5 and 7, §10): exports handed to
 * a lease's owner, and peer-to-peer mappings the daemon makes into a lease's
 * IOAS (IOMMU_IOAS_MAP_FILE of a dma-buf it exported and keeps).
 *
 * The kernel revokes a VFIO dma-buf while its device is reset or its memory
 * space is disabled, and for ever once the device's last file closes;
 * iommufd then unmaps it from the IOMMU but never maps it again.  So the
 * daemon, which made the mappings, unmaps them before every reset it does
 * and maps them again at the same IOVA after it (a reset hook, reset.h);
 * when an exporting device leaves its lease, its mappings are unmapped from
 * every importer first and dropped; when an importing lease ends, its
 * mappings go before its IOAS.  Importers hear of each change
 * (DmaBufRevoked / DmaBufRestored, unicast to the lease owner).
 *
 * Ownership: a lease_device owns its exports (lease_device::exports), a
 * lease the mappings into its IOAS (lease::mappings); each holds one fd, the
 * daemon's dma-buf.  A mapping points at its exporting lease_device until
 * that leaves.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bdf.h"
#include "kernel/vfio.h"

struct lease;
struct lease_device;
struct manager;

#define DMABUF_EXPORTS_MAX 64   /* per lease */
#define DMABUF_MAPPINGS_MAX 128 /* per lease */

struct dmabuf_export {
	struct lease_device *device;
	uint32_t bar;
	struct vfio_dma_slice *ranges;
	size_t n_ranges;
	int fd;                      /* our reference; the owner got a duplicate */
	struct dmabuf_export *next;  /* lease_device::exports */
};

struct dmabuf_mapping {
	struct lease *importer;
	struct lease_device *exporter; /* NULL once it left its lease */
	char device[BDF_STRING_MAX];   /* the exporter's address */
	uint32_t bar;
	uint64_t offset, length, iova;
	int fd;                        /* the daemon's dma-buf of the slice */
	bool mapped;                   /* false: revoked, not in the IOAS */
	struct dmabuf_mapping *next;   /* lease::mappings */
};

/* ExportDmaBuf: a dma-buf of ranges of BAR bar of ld.  The daemon's fd in
 * *ret_fd (still owned by the export).  -EINVAL (a wrong range or BAR),
 * -ENOTSUP, LIMIT_EXCEEDED, other errnos; *ret_why says why. */
int dmabuf_export(struct lease_device *ld, uint32_t bar, const struct vfio_dma_slice *ranges, size_t n,
		  int *ret_fd, char **ret_why);

/* May who map BARs of exporter into importer?  Root, the same owner uid,
 * or one its device rule lists in "dmabuf_importers". */
struct caller;
bool dmabuf_may_import(const struct lease *importer, const struct lease_device *exporter,
		       const struct caller *who);

/* MapDmaBuf: map one range of BAR bar of exporter into importer's IOAS, at
 * *iova when fixed_iova, else where the kernel puts it; *iova is the IOVA
 * used.  Errors as for dmabuf_export(), and -EEXIST (IOVA taken). */
int dmabuf_map(struct lease *importer, struct lease_device *exporter, uint32_t bar,
	       const struct vfio_dma_slice *range, bool fixed_iova, uint64_t *iova, char **ret_why);

/* UnmapDmaBuf: -ENOENT when no daemon mapping of l starts at iova. */
int dmabuf_unmap(struct lease *l, uint64_t iova);

/* RefreshDmaBuf: unmap and map again every mapping of ld's BARs, in every
 * lease.  How many are mapped now in *ret_n; an error when one could not be
 * (it stays revoked). */
int dmabuf_refresh(struct lease_device *ld, unsigned *ret_n, char **ret_why);

/* ld leaves its lease (detach, release, crash, removal): its mappings are
 * unmapped from every importer, who are told, and dropped; its exports are
 * closed.  Before anything else of its teardown. */
void dmabuf_device_leaving(struct lease_device *ld, const char *reason);

/* l ends: its own mappings go, before its IOAS. */
void dmabuf_lease_ending(struct lease *l);

/* Daemon exit or a failed adoption: drop the records and the daemon's fds
 * only, unmapping nothing (the clients' own fds keep working). */
void dmabuf_forget_device(struct lease_device *ld);
void dmabuf_forget_lease(struct lease *l);

/* Adoption after a restart (adopt.c): the records as the last daemon left
 * them, with their fds (taken; checked by the caller).  A mapping recorded
 * as revoked is mapped again if it can be (DmaBufRestored). */
int dmabuf_adopt_export(struct lease_device *ld, uint32_t bar, const struct vfio_dma_slice *ranges, size_t n,
			int fd);
int dmabuf_adopt_mapping(struct lease *importer, struct lease_device *exporter, uint32_t bar, uint64_t offset,
			 uint64_t length, uint64_t iova, bool mapped, int fd);

/* The reset hook (reset.h): unmap before, re-map after. */
void dmabuf_register_reset_hook(struct manager *m);

size_t dmabuf_count_mappings(const struct lease *l);
size_t dmabuf_count_exports(const struct lease *l);
