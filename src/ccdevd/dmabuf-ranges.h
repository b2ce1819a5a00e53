/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What a client may ask of a BAR slice, checked before the kernel sees it,
 * so that the error names the range and the rule it breaks.  Pure: no
 * kernel, no bus (unit-tested and fuzzed).
 */

#include <stddef.h>
#include <stdint.h>

#include "kernel/vfio.h"

/* PCI BARs 0..5; index 6 is the expansion ROM, which cannot be exported. */
#define DMABUF_BAR_MAX 5
#define DMABUF_RANGES_MAX 16

/* bar in 0..5?  -EINVAL with *ret_why naming the ROM or the range. */
int dmabuf_check_bar(uint32_t bar, char **ret_why);

/*
 * ranges[0..n) inside a BAR of bar_size bytes: n in 1..DMABUF_RANGES_MAX,
 * each non-empty, page-aligned (offset and length), inside the BAR without
 * overflow, no two overlapping.  0, or -EINVAL with *ret_why saying which
 * range and why.  *ret_length (may be NULL): their total length.
 */
int dmabuf_check_ranges(const struct vfio_dma_slice *ranges, size_t n, uint32_t bar, uint64_t bar_size,
			uint64_t page_size, uint64_t *ret_length, char **ret_why);
