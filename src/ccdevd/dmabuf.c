/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dmabuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "cleanup.h"
#include "config.h"
#include "device.h"
#include "dmabuf-ranges.h"
#include "kernel/iommufd.h"
#include "kernel/vfio.h"
#include "lease.h"
#include "log.h"
#include "manager.h"
#include "reset.h"
#include "state.h"
#include "user-limits.h"
#include "why.h"

static void mapping_log(const struct dmabuf_mapping *mp, int level, int error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void mapping_log(const struct dmabuf_mapping *mp, int level, int error, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	log_meta(level, error, &(struct log_ctx){ .device = mp->device, .lease = mp->importer->object_path,
		 .op = "dmabuf" }, "BAR %" PRIu32 "+0x%" PRIx64 " at IOVA 0x%" PRIx64 " (0x%" PRIx64 " bytes) of "
		 "lease %u: %s.", mp->bar, mp->offset, mp->iova, mp->length, mp->importer->id, text ? text : "?");
}

size_t dmabuf_count_mappings(const struct lease *l)
{
	size_t n = 0;

	for (const struct dmabuf_mapping *mp = l->mappings; mp; mp = mp->next)
		n++;
	return n;
}

size_t dmabuf_count_exports(const struct lease *l)
{
	size_t n = 0;

	for (const struct lease_device *ld = l->devices; ld; ld = ld->next)
		for (const struct dmabuf_export *e = ld->exports; e; e = e->next)
			n++;
	return n;
}

/* The size of BAR bar of ld, or why not. */
static int bar_size(const struct lease_device *ld, uint32_t bar, uint64_t *ret_size, char **ret_why)
{
	uint32_t flags;
	int r;

	r = dmabuf_check_bar(bar, ret_why);
	if (r < 0)
		return r;
	if (ld->fd < 0)
		return why(ret_why, -EBADF, "the daemon lost its file of %s in a restart; detach and attach it again",
			   ld->name);
	r = vfio_region_info(ld->fd, bar, ret_size, &flags);
	if (r == -EINVAL)
		return why(ret_why, -EINVAL, "%s is not bound to an iommufd yet (raw mode: bind it first)", ld->name);
	if (r < 0)
		return why(ret_why, r, "VFIO_DEVICE_GET_REGION_INFO of BAR %" PRIu32 " of %s failed: %s", bar, ld->name,
			   strerror(-r));
	return 0;
}

/* A dma-buf fd of the slices, with the kernel's refusals explained. */
static int export_fd(struct lease_device *ld, uint32_t bar, const struct vfio_dma_slice *ranges, size_t n,
		     char **ret_why)
{
	struct manager *m = ld->lease->manager;
	int fd = vfio_export_dma_buf(ld->fd, bar, ranges, n);

	if (fd >= 0) {
		if (!m->features.have[FEATURE_DMA_BUF_EXPORT])
			manager_feature_found(m, FEATURE_DMA_BUF_EXPORT);
		return fd;
	}
	if (fd == -ENOTTY || fd == -EOPNOTSUPP)
		return why(ret_why, -ENOTSUP, "%s offers no dma-buf export (VFIO_DEVICE_FEATURE_DMA_BUF: %s); it "
			   "needs Linux 6.19 or later and a vfio-pci variant that supports it", ld->name, strerror(-fd));
	if (fd == -ENODEV || fd == -EINVAL)
		return why(ret_why, -EINVAL, "the kernel refused to export BAR %" PRIu32 " of %s (%s): it is not a "
			   "memory BAR vfio-pci can share peer to peer", bar, ld->name, strerror(-fd));
	return why(ret_why, fd, "VFIO_DEVICE_FEATURE_DMA_BUF on %s failed: %s", ld->name, strerror(-fd));
}

int dmabuf_export(struct lease_device *ld, uint32_t bar, const struct vfio_dma_slice *ranges, size_t n,
		  int *ret_fd, char **ret_why)
{
	struct lease *l = ld->lease;
	_cleanup_free_ struct dmabuf_export *e = NULL;
	uint64_t size;
	int r;

	*ret_why = NULL;
	r = bar_size(ld, bar, &size, ret_why);
	if (r < 0)
		return r;
	r = dmabuf_check_ranges(ranges, n, bar, size, (uint64_t)sysconf(_SC_PAGESIZE), NULL, ret_why);
	if (r < 0)
		return r;
	if (dmabuf_count_exports(l) >= DMABUF_EXPORTS_MAX)
		return why(ret_why, LIMIT_EXCEEDED, "lease %u holds %d dma-buf exports, the most a lease may; they "
			   "end with their device's lease", l->id, DMABUF_EXPORTS_MAX);
	r = limits_check_fds(l->owner_uid, 1, ret_why);
	if (r < 0)
		return r;

	e = calloc(1, sizeof(*e));
	if (!e || !(e->ranges = calloc(n, sizeof(*ranges)))) {
		if (e)
			free(e->ranges);
		return -ENOMEM;
	}
	memcpy(e->ranges, ranges, n * sizeof(*ranges));
	e->n_ranges = n;
	e->bar = bar;
	e->device = ld;
	e->fd = export_fd(ld, bar, ranges, n, ret_why);
	if (e->fd < 0) {
		free(e->ranges);
		return e->fd;
	}

	struct dmabuf_export **tail = &ld->exports;
	while (*tail)
		tail = &(*tail)->next;
	*ret_fd = e->fd;
	*tail = TAKE_PTR(e);
	log_meta(LOG_INFO, 0, &(struct log_ctx){ .device = ld->name, .lease = l->object_path, .op = "dmabuf" },
		 "Exported BAR %" PRIu32 " (%zu range%s) to the owner of lease %u.", bar, n, n == 1 ? "" : "s", l->id);
	manager_lease_changed(l->manager, l, "DmaBufExports");
	return 0;
}

bool dmabuf_may_import(const struct lease *importer, const struct lease_device *exporter,
		       const struct caller *who)
{
	const struct device *d = exporter->device;

	if (who->uid == 0 || exporter->lease->owner_uid == importer->owner_uid)
		return true;
	return d && d->rule && access_allows(&d->rule->dmabuf_importers, who);
}

/* Does [iova, iova + length) meet a mapping of l the daemon made? */
static const struct dmabuf_mapping *overlapping(const struct lease *l, uint64_t iova, uint64_t length)
{
	for (const struct dmabuf_mapping *mp = l->mappings; mp; mp = mp->next)
		if (iova < mp->iova + mp->length && mp->iova < iova + length)
			return mp;
	return NULL;
}

static int map_one(struct dmabuf_mapping *mp, bool fixed_iova, char **ret_why)
{
	struct lease *l = mp->importer;
	uint64_t iova = mp->iova;
	int r;

	r = iommufd_ioas_map_file(l->iommufd, l->ioas_id, mp->fd, 0, mp->length, &iova, fixed_iova);
	if (r == -EEXIST)
		return why(ret_why, -EEXIST, "IOVA 0x%" PRIx64 "+0x%" PRIx64 " overlaps a mapping already in IOAS %u",
			   mp->iova, mp->length, l->ioas_id);
	if (r == -EINVAL && fixed_iova)
		return why(ret_why, -EINVAL, "IOVA 0x%" PRIx64 "+0x%" PRIx64 " is outside the allowed ranges of IOAS "
			   "%u (IOMMU_IOAS_IOVA_RANGES) or not aligned to its IOVA alignment", mp->iova, mp->length,
			   l->ioas_id);
	if (r == -ENODEV)
		return why(ret_why, r, "the kernel revokes BAR %" PRIu32 " of %s now: its memory space is disabled, "
			   "or it is in a reset", mp->bar, mp->device);
	if (r == -EOPNOTSUPP)
		return why(ret_why, -ENOTSUP, "this kernel cannot map a dma-buf of %s into an IOAS "
			   "(IOMMU_IOAS_MAP_FILE: %s)", mp->device, strerror(-r));
	if (r < 0)
		return why(ret_why, r, "IOMMU_IOAS_MAP_FILE into IOAS %u failed: %s", l->ioas_id, strerror(-r));
	mp->iova = iova;
	mp->mapped = true;
	if (!l->manager->features.have[FEATURE_IOAS_MAP_FILE_DMABUF])
		manager_feature_found(l->manager, FEATURE_IOAS_MAP_FILE_DMABUF);
	return 0;
}

static void unmap_one(struct dmabuf_mapping *mp)
{
	struct lease *l = mp->importer;
	int r;

	if (!mp->mapped)
		return;
	mp->mapped = false;
	if (l->iommufd < 0) /* adopted without its iommufd: nothing to unmap through */
		return;
	r = iommufd_ioas_unmap(l->iommufd, l->ioas_id, mp->iova, mp->length);
	/* ENOENT: the owner unmapped it through its own iommufd. */
	if (r < 0 && r != -ENOENT)
		mapping_log(mp, LOG_WARNING, r, "IOMMU_IOAS_UNMAP failed: %m");
}

static bool owner_listens(const struct lease *l)
{
	return l->state == LEASE_ACTIVE;
}

static void tell_revoked(struct dmabuf_mapping *mp, const char *reason)
{
	struct lease *l = mp->importer;

	if (owner_listens(l))
		bus_lease_emit_dmabuf(l->manager, l, "DmaBufRevoked", mp->iova, mp->length, mp->device, mp->bar, reason);
}

static void tell_restored(struct dmabuf_mapping *mp)
{
	struct lease *l = mp->importer;

	if (owner_listens(l))
		bus_lease_emit_dmabuf(l->manager, l, "DmaBufRestored", mp->iova, mp->length, mp->device, mp->bar, NULL);
}

static struct dmabuf_mapping *mapping_free(struct dmabuf_mapping *mp)
{
	struct dmabuf_mapping *next = mp->next;

	safe_close(mp->fd);
	free(mp);
	return next;
}

int dmabuf_map(struct lease *importer, struct lease_device *exporter, uint32_t bar,
	       const struct vfio_dma_slice *range, bool fixed_iova, uint64_t *iova, char **ret_why)
{
	_cleanup_free_ struct dmabuf_mapping *mp = NULL;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), size, end;
	const struct dmabuf_mapping *other;
	int r;

	*ret_why = NULL;
	r = bar_size(exporter, bar, &size, ret_why);
	if (r < 0)
		return r;
	r = dmabuf_check_ranges(range, 1, bar, size, page, NULL, ret_why);
	if (r < 0)
		return r;
	if (fixed_iova) {
		if (*iova % page)
			return why(ret_why, -EINVAL, "IOVA 0x%" PRIx64 " is not aligned to the page size (0x%" PRIx64 ")",
				   *iova, page);
		if (__builtin_add_overflow(*iova, range->length, &end))
			return why(ret_why, -EINVAL, "IOVA 0x%" PRIx64 " + length 0x%" PRIx64 " overflows 64 bits",
				   *iova, range->length);
		other = overlapping(importer, *iova, range->length);
		if (other)
			return why(ret_why, -EEXIST, "IOVA 0x%" PRIx64 "+0x%" PRIx64 " overlaps the mapping of BAR %"
				   PRIu32 " of %s at 0x%" PRIx64, *iova, range->length, other->bar, other->device,
				   other->iova);
	}
	if (dmabuf_count_mappings(importer) >= DMABUF_MAPPINGS_MAX)
		return why(ret_why, LIMIT_EXCEEDED, "lease %u holds %d dma-buf mappings, the most a lease may; unmap "
			   "one first", importer->id, DMABUF_MAPPINGS_MAX);
	r = limits_check_fds(importer->owner_uid, 1, ret_why);
	if (r < 0)
		return r;

	mp = calloc(1, sizeof(*mp));
	if (!mp)
		return -ENOMEM;
	*mp = (struct dmabuf_mapping){ .importer = importer, .exporter = exporter, .bar = bar,
				       .offset = range->offset, .length = range->length,
				       .iova = fixed_iova ? *iova : 0 };
	memcpy(mp->device, exporter->name, sizeof mp->device);
	mp->fd = export_fd(exporter, bar, range, 1, ret_why);
	if (mp->fd < 0)
		return mp->fd;
	r = map_one(mp, fixed_iova, ret_why);
	if (r < 0) {
		safe_close(mp->fd);
		return r;
	}

	struct dmabuf_mapping **tail = &importer->mappings;
	while (*tail)
		tail = &(*tail)->next;
	*iova = mp->iova;
	*tail = TAKE_PTR(mp);
	mapping_log(*tail, LOG_INFO, 0, "mapped%s", fixed_iova ? "" : " (IOVA chosen by the kernel)");
	manager_lease_changed(importer->manager, importer, "DmaBufMappings");
	return 0;
}

int dmabuf_unmap(struct lease *l, uint64_t iova)
{
	for (struct dmabuf_mapping **p = &l->mappings; *p; p = &(*p)->next)
		if ((*p)->iova == iova) {
			unmap_one(*p);
			mapping_log(*p, LOG_INFO, 0, "unmapped by the owner");
			*p = mapping_free(*p);
			manager_lease_changed(l->manager, l, "DmaBufMappings");
			return 0;
		}
	return -ENOENT;
}

/* Every mapping of ld's BARs, in every lease, through fn. */
static void for_each_mapping_of(struct lease_device *ld, void (*fn)(struct dmabuf_mapping *mp, void *userdata),
				void *userdata)
{
	struct manager *m = ld->lease->manager;

	for (struct lease *l = m->leases; l; l = l->next)
		for (struct dmabuf_mapping *mp = l->mappings, *next; mp; mp = next) {
			next = mp->next; /* fn may free mp */
			if (mp->exporter == ld)
				fn(mp, userdata);
		}
}

struct remap_result {
	unsigned mapped, touched;
	int error;
	char *why;
	const char *reason;
};

static void revoke_for_reset(struct dmabuf_mapping *mp, void *userdata)
{
	struct remap_result *res = userdata;

	if (!mp->mapped)
		return;
	unmap_one(mp);
	res->touched++;
	mapping_log(mp, LOG_DEBUG, 0, "unmapped for the reset of its device");
	tell_revoked(mp, res->reason);
}

/* After changing mappings of ld in bulk: one PropertiesChanged per
 * importing lease, one state write in all. */
static void mappings_changed(struct lease_device *ld)
{
	struct manager *m = ld->lease->manager;

	for (struct lease *l = m->leases; l; l = l->next)
		for (struct dmabuf_mapping *mp = l->mappings; mp; mp = mp->next)
			if (mp->exporter == ld) {
				if (owner_listens(l))
					bus_lease_emit_changed(m, l, "DmaBufMappings");
				break;
			}
	state_save(m);
}

static void remap(struct dmabuf_mapping *mp, void *userdata)
{
	struct remap_result *res = userdata;
	_cleanup_free_ char *why = NULL;
	int r;

	if (mp->mapped) {
		res->mapped++;
		return;
	}
	r = map_one(mp, true, &why);
	if (r < 0) {
		mapping_log(mp, LOG_WARNING, r, "cannot map it again: %s; it stays revoked", why ? why : "?");
		if (!res->error) {
			res->error = r;
			res->why = TAKE_PTR(why);
		}
		return;
	}
	res->mapped++;
	res->touched++;
	mapping_log(mp, LOG_DEBUG, 0, "mapped again");
	tell_restored(mp);
}

/* Before a reset of ld: every mapping of its BARs leaves its IOAS, and the
 * state file says so before the reset begins. */
static void hook_before_reset(struct lease_device *ld, void *userdata)
{
	_cleanup_free_ char *reason = NULL;
	struct remap_result res = {};

	if (asprintf(&reason, "%s is being reset", ld->name) < 0)
		reason = NULL;
	res.reason = reason ? reason : "its device is being reset";
	for_each_mapping_of(ld, revoke_for_reset, &res);
	if (res.touched) {
		log_meta(LOG_INFO, 0, &(struct log_ctx){ .device = ld->name, .lease = ld->lease->object_path,
			 .op = "dmabuf" }, "Unmapped %u dma-buf mapping(s) of its BARs before the reset.", res.touched);
		mappings_changed(ld);
	}
	if (owner_listens(ld->lease))
		bus_lease_emit_device_paused(ld->lease->manager, ld->lease, ld->name, res.reason);
}

static void hook_after_reset(struct lease_device *ld, int r, void *userdata)
{
	struct remap_result res = {};

	for_each_mapping_of(ld, remap, &res);
	if (res.touched || res.error) {
		log_meta(res.error ? LOG_WARNING : LOG_INFO, 0, &(struct log_ctx){ .device = ld->name,
			 .lease = ld->lease->object_path, .op = "dmabuf" },
			 "Mapped %u dma-buf mapping(s) of its BARs again after the reset%s%s.", res.touched,
			 res.error ? "; some stay revoked: " : "", res.error && res.why ? res.why : "");
		mappings_changed(ld);
	}
	free(res.why);
	if (owner_listens(ld->lease))
		bus_lease_emit_device_resumed(ld->lease->manager, ld->lease, ld->name, r >= 0);
}

void dmabuf_register_reset_hook(struct manager *m)
{
	int r = reset_add_hook(&(struct reset_hook){ .name = "dma-buf", .before = hook_before_reset,
						     .after = hook_after_reset, .userdata = m });

	if (r < 0)
		log_error_errno(r, "Cannot add the dma-buf reset hook: %m");
}

static void revoke_for_refresh(struct dmabuf_mapping *mp, void *userdata)
{
	if (!mp->mapped)
		return;
	unmap_one(mp);
	mapping_log(mp, LOG_DEBUG, 0, "unmapped for a refresh");
	tell_revoked(mp, "the exporting device's owner asked for a refresh");
}

int dmabuf_refresh(struct lease_device *ld, unsigned *ret_n, char **ret_why)
{
	struct remap_result res = {};

	*ret_why = NULL;
	for_each_mapping_of(ld, revoke_for_refresh, NULL);
	for_each_mapping_of(ld, remap, &res);
	log_meta(LOG_INFO, 0, &(struct log_ctx){ .device = ld->name, .lease = ld->lease->object_path, .op = "dmabuf" },
		 "Refresh asked by the owner: %u mapping(s) of its BARs mapped again%s.", res.mapped,
		 res.error ? ", some stay revoked" : "");
	mappings_changed(ld);
	*ret_n = res.mapped;
	if (res.error) {
		*ret_why = res.why;
		return res.error;
	}
	return 0;
}

static void drop_for_leaving(struct dmabuf_mapping *mp, void *userdata)
{
	struct lease *l = mp->importer;
	_cleanup_free_ char *reason = NULL;

	unmap_one(mp);
	mapping_log(mp, LOG_INFO, 0, "unmapped and dropped: %s", (const char *)userdata);
	if (asprintf(&reason, "%s left its lease (%s); the mapping is gone", mp->device, (const char *)userdata) < 0)
		reason = NULL;
	tell_revoked(mp, reason ? reason : "its device left its lease; the mapping is gone");
	for (struct dmabuf_mapping **p = &l->mappings; *p; p = &(*p)->next)
		if (*p == mp) {
			*p = mapping_free(mp);
			break;
		}
	if (owner_listens(l))
		bus_lease_emit_changed(l->manager, l, "DmaBufMappings");
}

static void exports_free(struct lease_device *ld)
{
	while (ld->exports) {
		struct dmabuf_export *e = ld->exports;
		ld->exports = e->next;
		safe_close(e->fd);
		free(e->ranges);
		free(e);
	}
}

void dmabuf_device_leaving(struct lease_device *ld, const char *reason)
{
	bool had_exports = ld->exports;

	for_each_mapping_of(ld, drop_for_leaving, (void *)reason);
	exports_free(ld);
	if (had_exports && owner_listens(ld->lease))
		bus_lease_emit_changed(ld->lease->manager, ld->lease, "DmaBufExports");
	/* The caller's teardown writes the state next (its first step). */
}

void dmabuf_lease_ending(struct lease *l)
{
	while (l->mappings) {
		unmap_one(l->mappings);
		mapping_log(l->mappings, LOG_INFO, 0, "unmapped: the lease ends");
		l->mappings = mapping_free(l->mappings);
	}
}

void dmabuf_forget_device(struct lease_device *ld)
{
	struct manager *m = ld->lease->manager;

	for (struct lease *l = m->leases; l; l = l->next)
		for (struct dmabuf_mapping *mp = l->mappings; mp; mp = mp->next)
			if (mp->exporter == ld)
				mp->exporter = NULL;
	exports_free(ld);
}

void dmabuf_forget_lease(struct lease *l)
{
	while (l->mappings)
		l->mappings = mapping_free(l->mappings);
}

int dmabuf_adopt_export(struct lease_device *ld, uint32_t bar, const struct vfio_dma_slice *ranges, size_t n,
			int fd)
{
	struct dmabuf_export *e = calloc(1, sizeof(*e)), **tail = &ld->exports;
	struct vfio_dma_slice *copy = calloc(n, sizeof(*ranges));

	if (!e || !copy) {
		free(e);
		free(copy);
		safe_close(fd);
		return -ENOMEM;
	}
	memcpy(copy, ranges, n * sizeof(*ranges));
	*e = (struct dmabuf_export){ .device = ld, .bar = bar, .ranges = copy, .n_ranges = n, .fd = fd };
	while (*tail)
		tail = &(*tail)->next;
	*tail = e;
	return 0;
}

int dmabuf_adopt_mapping(struct lease *importer, struct lease_device *exporter, uint32_t bar, uint64_t offset,
			 uint64_t length, uint64_t iova, bool mapped, int fd)
{
	struct dmabuf_mapping *mp = calloc(1, sizeof(*mp)), **tail = &importer->mappings;
	_cleanup_free_ char *why = NULL;

	if (!mp) {
		safe_close(fd);
		return -ENOMEM;
	}
	*mp = (struct dmabuf_mapping){ .importer = importer, .exporter = exporter, .bar = bar, .offset = offset,
				       .length = length, .iova = iova, .fd = fd, .mapped = mapped };
	memcpy(mp->device, exporter->name, sizeof mp->device);
	while (*tail)
		tail = &(*tail)->next;
	*tail = mp;
	/* Revoked when the last daemon stopped (it was in a reset, or a re-map
	 * had failed): try again now. */
	if (!mp->mapped && importer->iommufd >= 0) {
		if (map_one(mp, true, &why) < 0)
			mapping_log(mp, LOG_WARNING, 0, "still revoked after the restart: %s", why ? why : "?");
		else {
			mapping_log(mp, LOG_INFO, 0, "mapped again after the restart");
			tell_restored(mp);
		}
	}
	return 0;
}
