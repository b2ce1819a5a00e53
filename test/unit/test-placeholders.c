/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The placeholders of `ccdevctl exec` (src/ccdevctl/placeholders.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/ccdevctl/placeholders.h"
#include "tap.h"

static const struct placeholder_device devices[] = {
	{ .address = "0000:01:00.0", .fd = 4, .dev_id = 7, .pt_id = 2 },
	{ .address = "0000:0a:1f.7", .fd = 5, .dev_id = 8, .pt_id = 2 },
};
static const struct placeholder_values values = {
	.iommufd = 3, .ioas_id = 2, .devices = devices, .n_devices = 2,
};

/* arg expands to want (NULL: expansion fails with -EINVAL). */
static int expands_to(const char *arg, const char *want)
{
	struct placeholder_error e = { 99, 99 };
	char *got = NULL;
	int r, ok;

	r = placeholders_expand(arg, &values, &got, &e);
	if (!want)
		ok = r == -EINVAL && !got;
	else
		ok = r == 0 && got && strcmp(got, want) == 0;
	if (!ok)
		printf("# '%s' -> r=%d '%s', expected '%s'\n", arg, r, got ? got : "(null)",
		       want ? want : "-EINVAL");
	free(got);
	return ok;
}

static void test_the_qemu_example_expands(void)
{
	CHECK(expands_to("iommufd,id=i0,fd={iommufd}", "iommufd,id=i0,fd=3"));
	CHECK(expands_to("vfio-pci,fd={fd:0000:01:00.0},iommufd=i0,id=hostdev0",
			 "vfio-pci,fd=4,iommufd=i0,id=hostdev0"));
}

static void test_every_placeholder_has_its_value(void)
{
	CHECK(expands_to("{iommufd}", "3"));
	CHECK(expands_to("{ioas}", "2"));
	CHECK(expands_to("{fd:0000:0a:1f.7}", "5"));
	CHECK(expands_to("{devid:0000:01:00.0}", "7"));
	CHECK(expands_to("{devid:0000:0a:1f.7}", "8"));
	CHECK(expands_to("{ptid:0000:0a:1f.7}", "2"));
	CHECK(expands_to("{iommufd}{ioas}{fd:0000:01:00.0}", "324"));
	CHECK(expands_to("a{iommufd}b{iommufd}c", "a3b3c"));
}

static void test_upper_case_addresses_match(void)
{
	CHECK(expands_to("{fd:0000:0A:1F.7}", "5"));
	CHECK(expands_to("{ptid:0000:0a:1F.7}", "2"));
}

static void test_large_ids_are_unsigned_decimal(void)
{
	static const struct placeholder_device big = { .address = "ffff:ff:1f.7", .fd = 1023,
						       .dev_id = 4294967295u, .pt_id = 2147483648u };
	static const struct placeholder_values v = { .iommufd = 3, .ioas_id = 4294967295u,
						     .devices = &big, .n_devices = 1 };
	char *got = NULL;

	CHECK(placeholders_expand("{ioas} {devid:ffff:ff:1f.7} {ptid:FFFF:FF:1F.7}", &v, &got,
				  NULL) == 0);
	CHECK(got && strcmp(got, "4294967295 4294967295 2147483648") == 0);
	free(got);
}

static void test_other_braces_are_left_alone(void)
{
	CHECK(expands_to("", ""));
	CHECK(expands_to("no placeholders", "no placeholders"));
	CHECK(expands_to("{", "{"));
	CHECK(expands_to("}", "}"));
	CHECK(expands_to("{}", "{}"));
	CHECK(expands_to("{iommufd", "{iommufd"));
	CHECK(expands_to("iommufd}", "iommufd}"));
	CHECK(expands_to("{IOMMUFD}", "{IOMMUFD}"));
	CHECK(expands_to("{ iommufd}", "{ iommufd}"));
	CHECK(expands_to("{iommufd }", "{iommufd }"));
	CHECK(expands_to("{ioas_id}", "{ioas_id}"));
	CHECK(expands_to("{{iommufd}}", "{3}"));
	CHECK(expands_to("{\"driver\":\"vfio-pci\",\"fd\":\"{fd:0000:01:00.0}\"}",
			 "{\"driver\":\"vfio-pci\",\"fd\":\"4\"}"));
	CHECK(expands_to("{FD:0000:01:00.0}", "{FD:0000:01:00.0}"));
	CHECK(expands_to("${HOME}", "${HOME}"));
}

static void test_a_device_placeholder_without_the_device_fails(void)
{
	struct placeholder_error e = {};
	char *got = NULL;

	CHECK(expands_to("{fd:0000:02:00.0}", NULL));   /* not in the lease */
	CHECK(expands_to("{devid:0000:1:00.0}", NULL)); /* not an address */
	CHECK(expands_to("{ptid:}", NULL));
	CHECK(expands_to("{fd:0000:01:00.0 }", NULL));
	CHECK(expands_to("{fd:0000:01:00.00}", NULL));

	CHECK(placeholders_expand("fd={iommufd},x={fd:0000:03:00.0},y", &values, &got, &e) == -EINVAL);
	CHECK(!got);
	CHECK_MSG(e.offset == 15 && e.length == 17, "offset %zu length %zu", e.offset, e.length);
}

static void test_no_devices_means_no_device_placeholders(void)
{
	static const struct placeholder_values none = { .iommufd = 3, .ioas_id = 1 };
	char *got = NULL;

	CHECK(placeholders_expand("{iommufd}", &none, &got, NULL) == 0);
	CHECK(got && strcmp(got, "3") == 0);
	free(got);
	got = NULL;
	CHECK(placeholders_expand("{fd:0000:01:00.0}", &none, &got, NULL) == -EINVAL);
	CHECK(!got);
}

int main(void)
{
	RUN(test_the_qemu_example_expands);
	RUN(test_every_placeholder_has_its_value);
	RUN(test_upper_case_addresses_match);
	RUN(test_large_ids_are_unsigned_decimal);
	RUN(test_other_braces_are_left_alone);
	RUN(test_a_device_placeholder_without_the_device_fails);
	RUN(test_no_devices_means_no_device_placeholders);
	return tap_done();
}
