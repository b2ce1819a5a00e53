/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A tiny TAP producer for the unit tests: each RUN() is one test point, each
 * failed CHECK() prints where and why and fails that point.  meson parses the
 * TAP stream (protocol: 'tap').
 */

#include <stdio.h>

static int tap_n, tap_failed, tap_point_failed;

#define CHECK_MSG(cond, ...)                                                      \
	do {                                                                      \
		if (!(cond)) {                                                    \
			printf("# %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                                      \
			printf("\n");                                             \
			tap_point_failed = 1;                                     \
		}                                                                 \
	} while (0)
#define CHECK(cond) CHECK_MSG(cond, "%s", "")

#define RUN(fn)                                                                  \
	do {                                                                     \
		tap_point_failed = 0;                                            \
		fn();                                                            \
		tap_n++;                                                         \
		if (tap_point_failed)                                            \
			tap_failed++;                                            \
		printf("%s %d - %s\n", tap_point_failed ? "not ok" : "ok", tap_n, #fn); \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
