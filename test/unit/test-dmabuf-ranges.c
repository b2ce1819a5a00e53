/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What ExportDmaBuf / MapDmaBuf accept of a BAR slice (src/ccdevd/dmabuf-ranges.c):
 * each refusal is EINVAL with a sentence naming the range and the rule. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ccdevd/dmabuf-ranges.h"
#include "tap.h"

#define PAGE 0x1000ULL
#define BAR_SIZE 0x100000ULL /* 1 MiB */

typedef struct vfio_dma_slice S;

/* check(): the result, and *why must contain want (when want is set). */
static int check(const S *r, size_t n, const char *want)
{
	char *why = NULL;
	uint64_t total = 0;
	int ret = dmabuf_check_ranges(r, n, 0, BAR_SIZE, PAGE, &total, &why);

	if (want)
		CHECK_MSG(why && strstr(why, want), "want '%s' in the reason, got '%s'", want, why ? why : "(none)");
	else
		CHECK_MSG(!why, "no reason expected on success, got '%s'", why);
	free(why);
	return ret;
}

static void test_aligned_ranges_inside_the_bar_are_accepted(void)
{
	S one = { 0, PAGE }, whole = { 0, BAR_SIZE };
	S several[] = { { 0x2000, PAGE }, { 0, PAGE }, { BAR_SIZE - PAGE, PAGE } };
	uint64_t total = 0;

	CHECK(check(&one, 1, NULL) == 0);
	CHECK(check(&whole, 1, NULL) == 0);
	CHECK(check(several, 3, NULL) == 0);
	CHECK(dmabuf_check_ranges(several, 3, 0, BAR_SIZE, PAGE, &total, NULL) == 0 && total == 3 * PAGE);
}

static void test_empty_unaligned_and_outside_ranges_are_named(void)
{
	S zero = { 0, 0 }, off = { 0x800, PAGE }, len = { 0, 0x1800 };
	S past = { BAR_SIZE - PAGE, 2 * PAGE }, beyond = { BAR_SIZE, PAGE };
	S wrap = { 0xfffffffffffff000ULL, 0x2000 };
	S second_bad[] = { { 0, PAGE }, { PAGE, 0 } };

	CHECK(check(&zero, 1, "range 0 (offset 0x0) has length 0") == -EINVAL);
	CHECK(check(&off, 1, "not aligned to the page size") == -EINVAL);
	CHECK(check(&len, 1, "not aligned to the page size") == -EINVAL);
	CHECK(check(&past, 1, "ends past the end of BAR 0, which is 0x100000 bytes") == -EINVAL);
	CHECK(check(&beyond, 1, "ends past the end") == -EINVAL);
	CHECK(check(&wrap, 1, "overflows 64 bits") == -EINVAL);
	CHECK(check(second_bad, 2, "range 1 ") == -EINVAL);
}

static void test_overlapping_ranges_are_refused(void)
{
	S same[] = { { 0, PAGE }, { 0, PAGE } };
	S inside[] = { { 0x4000, PAGE }, { 0, 0x8000 } };
	S touching[] = { { 0, PAGE }, { PAGE, PAGE } };

	CHECK(check(same, 2, "overlap") == -EINVAL);
	CHECK(check(inside, 2, "overlap") == -EINVAL);
	CHECK(check(touching, 2, NULL) == 0);
}

static void test_range_count_is_bounded(void)
{
	S many[DMABUF_RANGES_MAX + 1];

	for (size_t i = 0; i < DMABUF_RANGES_MAX + 1; i++)
		many[i] = (S){ i * PAGE, PAGE };
	CHECK(check(many, 0, "no range given") == -EINVAL);
	CHECK(check(many, DMABUF_RANGES_MAX, NULL) == 0);
	CHECK(check(many, DMABUF_RANGES_MAX + 1, "at most 16") == -EINVAL);
}

static void test_rom_and_missing_bars_are_refused(void)
{
	S one = { 0, PAGE };
	char *why = NULL;

	CHECK(dmabuf_check_bar(0, NULL) == 0 && dmabuf_check_bar(5, NULL) == 0);
	CHECK(dmabuf_check_bar(6, &why) == -EINVAL && why && strstr(why, "expansion ROM"));
	free(why);
	why = NULL;
	CHECK(dmabuf_check_bar(7, &why) == -EINVAL && why && strstr(why, "does not exist"));
	free(why);
	why = NULL;
	CHECK(dmabuf_check_ranges(&one, 1, 2, 0, PAGE, NULL, &why) == -EINVAL && why &&
	      strstr(why, "BAR 2 is not implemented"));
	free(why);
}

int main(void)
{
	RUN(test_aligned_ranges_inside_the_bar_are_accepted);
	RUN(test_empty_unaligned_and_outside_ranges_are_named);
	RUN(test_overlapping_ranges_are_refused);
	RUN(test_range_count_is_bounded);
	RUN(test_rom_and_missing_bars_are_refused);
	return tap_done();
}
