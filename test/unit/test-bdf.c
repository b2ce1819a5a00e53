/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "bdf.h"
#include "tap.h"

static void test_canonical_forms_parse(void)
{
	struct bdf b;
	char buf[BDF_STRING_MAX];

	CHECK(bdf_parse("0000:01:00.0", &b) == 0);
	CHECK(b.domain == 0 && b.bus == 1 && b.device == 0 && b.function == 0);
	CHECK(bdf_parse("ffff:FF:1f.7", &b) == 0);
	CHECK(b.domain == 0xffff && b.bus == 0xff && b.device == 0x1f && b.function == 7);
	CHECK(strcmp(bdf_format(&b, buf), "ffff:ff:1f.7") == 0);
	CHECK(strcmp(bdf_to_path_component(&b, buf), "ffff_ff_1f_7") == 0);
}

static void test_everything_else_is_rejected(void)
{
	static const char *bad[] = {
		"", "0000:01:00", "0000:01:00.", "01:00.0", "0:01:00.0", "00000:01:00.0",
		"0000:01:00.0 ", " 0000:01:00.0", "0000:01:00.0\n", "0000:1:00.0", "0000:01:0.0",
		"0000:01:20.0",   /* device > 0x1f */
		"0000:01:00.8",   /* function > 7 */
		"0000-01-00.0", "0000:01:00:0", "0x00:01:00.0", "+000:01:00.0", "0000:0g:00.0",
		"../../../../etc", "0000:01:00.0/../..", "0000:01:00.00",
	};
	struct bdf b = { .domain = 0x1234 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_MSG(bdf_parse(bad[i], &b) == -EINVAL, "'%s' must be rejected", bad[i]);
	}
	CHECK(bdf_parse(NULL, &b) == -EINVAL);
	CHECK_MSG(b.domain == 0x1234, "a rejected string must not touch the output");
}

static void test_equality(void)
{
	struct bdf a, b;

	CHECK(bdf_parse("0000:00:02.0", &a) == 0);
	CHECK(bdf_parse("0000:00:02.0", &b) == 0);
	CHECK(bdf_equal(&a, &b));
	b.function = 1;
	CHECK(!bdf_equal(&a, &b));
}

int main(void)
{
	RUN(test_canonical_forms_parse);
	RUN(test_everything_else_is_rejected);
	RUN(test_equality);
	return tap_done();
}
