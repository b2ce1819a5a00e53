/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Strict JSON for the files ccdevd trusts: the configuration and the restart
 * state.  json-c in strict mode, plus what it lets through: repeated keys,
 * escapes in keys, single-quoted strings, trailing text.  Errors say
 * "FILE:LINE:COLUMN: why".
 */

#include <json-c/json.h>
#include <stddef.h>

#include "cleanup.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

/* text (NUL-terminated) to a json-c tree; *ret_error (malloc'ed) on failure. */
int json_parse_strict(const char *text, const char *file, json_object **ret, char **ret_error);

/* -EINVAL with "FILE:LINE:COLUMN: why" for the byte at offset in *ret_error. */
int json_fail_at(const char *file, const char *text, size_t offset, char **ret_error, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
