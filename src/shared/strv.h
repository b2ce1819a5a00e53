/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* NULL-terminated string arrays (a NULL array is the empty list). */

#include <stdbool.h>
#include <stddef.h>

void strv_free(char **l);
size_t strv_length(char **l);
bool strv_equal(char **a, char **b);
int strv_push(char ***l, const char *s);
void strv_sort(char **l);

static inline void strv_freep(char ***l)
{
	strv_free(*l);
}
#define _cleanup_strv_free_ __attribute__((cleanup(strv_freep)))
