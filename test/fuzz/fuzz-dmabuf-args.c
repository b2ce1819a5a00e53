/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ExportDmaBuf / MapDmaBuf argument reading and checking: the ranges a(tt)
 * and options a{sv} as the bus handlers read them (bus_read_dmabuf_*), then
 * the BAR and range rules (dmabuf-ranges.c) against a BAR size from the
 * input.  Checked: at most DMABUF_RANGES_MAX ranges are ever read; options
 * are accepted exactly when MapDmaBuf gets only "iova" as a t (the last
 * wins) and ExportDmaBuf gets none; an accepted set of ranges really is
 * non-empty, page-aligned, inside the BAR and free of overlaps (checked
 * pair by pair here), and every refusal is EINVAL with a reason.
 *
 * Input: byte 0: bit 0 picks MapDmaBuf, bits 1-5 the range count (0..31),
 * bits 6-7 the option count; byte 1 the BAR; 8 bytes the BAR size (shifted
 * to stay a plausible size); then 16 bytes per range, and per option a key
 * byte (index into keys[]), a type byte (index into types[]) and 8 bytes.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>

#include "bus-api.h"
#include "ccdevd/bus.h"
#include "ccdevd/dmabuf-ranges.h"
#include "fuzz-bus.h"
#include "fuzz.h"

#define PAGE 4096ULL

static const char *const keys[] = { "iova", "IOVA", "iova ", "", "bar", "fixed" };
static const char types[] = { 't', 'u', 's', 'b', 'x' };

static int append_option(sd_bus_message *m, struct input *in, bool *ok, uint64_t *want_iova, bool *want_fixed)
{
	const char *key = keys[take_byte(in) % (sizeof(keys) / sizeof(keys[0]))];
	char type = types[take_byte(in) % sizeof(types)];
	uint64_t v = take_u64(in);
	int b = (int)(v & 1);
	int r;

	r = sd_bus_message_open_container(m, 'e', "sv");
	if (r >= 0)
		r = sd_bus_message_append_basic(m, 's', key);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'v', (char[]){ type, 0 });
	if (r >= 0)
		r = type == 's' ? sd_bus_message_append_basic(m, 's', "0x1000")
		    : type == 'b' ? sd_bus_message_append_basic(m, 'b', &b)
				  : sd_bus_message_append_basic(m, type, &v);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (strcmp(key, "iova") == 0 && type == 't') {
		*want_iova = v;
		*want_fixed = true;
	} else
		*ok = false;
	return r;
}

/* The accepted ranges must obey every rule, checked the slow way. */
static void check_accepted(const struct vfio_dma_slice *r, size_t n, uint64_t bar_size)
{
	FUZZ_ASSERT(n >= 1 && n <= DMABUF_RANGES_MAX);
	for (size_t i = 0; i < n; i++) {
		FUZZ_ASSERT(r[i].length > 0 && r[i].offset % PAGE == 0 && r[i].length % PAGE == 0);
		FUZZ_ASSERT(r[i].offset < bar_size && r[i].length <= bar_size - r[i].offset);
		for (size_t j = 0; j < i; j++)
			FUZZ_ASSERT(r[i].offset + r[i].length <= r[j].offset || r[j].offset + r[j].length <= r[i].offset);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	sd_bus_message *m = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	uint8_t head = take_byte(&in);
	bool map = head & 1, options_ok = true, want_fixed = false, fixed = false;
	unsigned n_ranges = (head >> 1) & 31, n_options = head >> 6;
	uint32_t bar = take_byte(&in) % 9;
	uint64_t bar_size = take_u64(&in) >> (take_byte(&in) % 64), want_iova = 0, iova = 0, total;
	struct vfio_dma_slice ranges[DMABUF_RANGES_MAX];
	char *why = NULL;
	size_t n = 0;
	int r;

	FUZZ_ASSERT(sd_bus_message_new_method_call(fuzz_bus(), &m, CCDEVD_BUS_NAME, CCDEVD_LEASE_PREFIX "/1",
						   CCDEVD_LEASE_IFACE, map ? "MapDmaBuf" : "ExportDmaBuf") >= 0);
	r = sd_bus_message_open_container(m, 'a', "(tt)");
	for (unsigned i = 0; r >= 0 && i < n_ranges; i++) {
		uint64_t offset = take_u64(&in), length = take_u64(&in);
		r = sd_bus_message_append(m, "(tt)", offset, length);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	for (unsigned i = 0; r >= 0 && i < n_options; i++)
		r = append_option(m, &in, &options_ok, &want_iova, &want_fixed);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	FUZZ_ASSERT(r >= 0);
	FUZZ_ASSERT(sd_bus_message_seal(m, 1, 0) >= 0);
	FUZZ_ASSERT(sd_bus_message_rewind(m, true) >= 0);

	r = bus_read_dmabuf_ranges(m, ranges, &n, &error);
	if (n_ranges > DMABUF_RANGES_MAX) {
		FUZZ_ASSERT(r < 0 && sd_bus_error_has_name(&error, CCDEVD_ERROR_INVALID_ARGUMENT));
		goto out;
	}
	FUZZ_ASSERT(r >= 0 && n == n_ranges);
	r = bus_read_dmabuf_options(m, map ? "MapDmaBuf" : "ExportDmaBuf", map ? &fixed : NULL, &iova, &error);
	if (map)
		FUZZ_ASSERT((r >= 0) == options_ok && (r < 0 || (fixed == want_fixed && iova == want_iova)));
	else
		FUZZ_ASSERT((r >= 0) == (n_options == 0));
	FUZZ_ASSERT(r >= 0 || sd_bus_error_has_name(&error, CCDEVD_ERROR_INVALID_ARGUMENT));

	r = dmabuf_check_bar(bar, &why);
	FUZZ_ASSERT(r == 0 ? bar <= DMABUF_BAR_MAX && !why : r == -EINVAL && why);
	free(why);
	why = NULL;
	r = dmabuf_check_ranges(ranges, n, bar, bar_size, PAGE, &total, &why);
	if (r == 0) {
		FUZZ_ASSERT(!why);
		check_accepted(ranges, n, bar_size);
	} else
		FUZZ_ASSERT(r == -EINVAL && why);
out:
	free(why);
	sd_bus_error_free(&error);
	sd_bus_message_unref(m);
	return 0;
}
