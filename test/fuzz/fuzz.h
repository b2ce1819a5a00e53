/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The libFuzzer entry point each harness in test/fuzz/ defines.  With
 * -Dfuzz=true (clang) it is linked with libFuzzer; otherwise with regress.c,
 * which feeds it every file of the harness's corpus, as a unit test.
 * A harness calls abort() when a property it checks does not hold.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                             \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                      \
		}                                                                     \
	} while (0)
