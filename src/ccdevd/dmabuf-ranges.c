/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dmabuf-ranges.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "why.h"

int dmabuf_check_bar(uint32_t bar, char **ret_why)
{
	if (bar == DMABUF_BAR_MAX + 1)
		return why(ret_why, -EINVAL, "BAR 6 is the expansion ROM, which cannot be exported; use BARs 0..5");
	if (bar > DMABUF_BAR_MAX)
		return why(ret_why, -EINVAL, "BAR %" PRIu32 " does not exist; a PCI function has BARs 0..5", bar);
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const struct vfio_dma_slice *x = *(const struct vfio_dma_slice *const *)a;
	const struct vfio_dma_slice *y = *(const struct vfio_dma_slice *const *)b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int dmabuf_check_ranges(const struct vfio_dma_slice *ranges, size_t n, uint32_t bar, uint64_t bar_size,
			uint64_t page_size, uint64_t *ret_length, char **ret_why)
{
	const struct vfio_dma_slice *sorted[DMABUF_RANGES_MAX];
	uint64_t total = 0, end;

	if (n == 0)
		return why(ret_why, -EINVAL, "no range given; pass at least one (offset, length)");
	if (n > DMABUF_RANGES_MAX)
		return why(ret_why, -EINVAL, "%zu ranges given; at most %d", n, DMABUF_RANGES_MAX);
	if (bar_size == 0)
		return why(ret_why, -EINVAL, "BAR %" PRIu32 " is not implemented by this device", bar);
	for (size_t i = 0; i < n; i++) {
		const struct vfio_dma_slice *r = &ranges[i];

		if (r->length == 0)
			return why(ret_why, -EINVAL, "range %zu (offset 0x%" PRIx64 ") has length 0", i, r->offset);
		if (r->offset % page_size || r->length % page_size)
			return why(ret_why, -EINVAL, "range %zu (0x%" PRIx64 "+0x%" PRIx64 ") is not aligned to the "
				   "page size (0x%" PRIx64 "): offset and length must both be multiples of it",
				   i, r->offset, r->length, page_size);
		if (__builtin_add_overflow(r->offset, r->length, &end))
			return why(ret_why, -EINVAL, "range %zu (0x%" PRIx64 "+0x%" PRIx64 ") overflows 64 bits",
				   i, r->offset, r->length);
		if (end > bar_size)
			return why(ret_why, -EINVAL, "range %zu (0x%" PRIx64 "+0x%" PRIx64 ") ends past the end of "
				   "BAR %" PRIu32 ", which is 0x%" PRIx64 " bytes", i, r->offset, r->length, bar,
				   bar_size);
		total += r->length;
		sorted[i] = r;
	}
	qsort(sorted, n, sizeof(sorted[0]), by_offset);
	for (size_t i = 1; i < n; i++)
		if (sorted[i - 1]->offset + sorted[i - 1]->length > sorted[i]->offset)
			return why(ret_why, -EINVAL, "ranges %zu and %zu overlap (0x%" PRIx64 "+0x%" PRIx64 " and 0x%"
				   PRIx64 "+0x%" PRIx64 ")", (size_t)(sorted[i - 1] - ranges),
				   (size_t)(sorted[i] - ranges), sorted[i - 1]->offset, sorted[i - 1]->length,
				   sorted[i]->offset, sorted[i]->length);
	if (ret_length)
		*ret_length = total;
	return 0;
}
