/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Logging: to the journal with structured fields when stderr is connected to
 * it (JOURNAL_STREAM, as systemd sets for services), plain stderr otherwise.
 * As in systemd, the place that can explain an error logs it once and returns
 * the negative errno: `return log_error_errno(r, "Failed to …: %m");`, where
 * %m prints the error passed in, not whatever errno holds.
 */

#include <stdbool.h>
#include <syslog.h>

/* Optional structured context, journal fields CCDEVD_DEVICE / _LEASE / _OP. */
struct log_ctx {
	const char *device;
	const char *lease;
	const char *op;
};

void log_open(const char *ident);
void log_set_max_level(int level);
bool log_to_journal(void);

/* Returns -abs(error) (or 0 when error is 0), so callers can return it. */
int log_meta(int level, int error, const struct log_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_full_errno(level, error, ...) log_meta(level, error, NULL, __VA_ARGS__)
#define log_debug(...) log_meta(LOG_DEBUG, 0, NULL, __VA_ARGS__)
#define log_info(...) log_meta(LOG_INFO, 0, NULL, __VA_ARGS__)
#define log_notice(...) log_meta(LOG_NOTICE, 0, NULL, __VA_ARGS__)
#define log_warning(...) log_meta(LOG_WARNING, 0, NULL, __VA_ARGS__)
#define log_error(...) log_meta(LOG_ERR, 0, NULL, __VA_ARGS__)
#define log_warning_errno(e, ...) log_meta(LOG_WARNING, e, NULL, __VA_ARGS__)
#define log_error_errno(e, ...) log_meta(LOG_ERR, e, NULL, __VA_ARGS__)
#define log_debug_errno(e, ...) log_meta(LOG_DEBUG, e, NULL, __VA_ARGS__)

/* Same, tagged with a device (BDF) and/or lease and the operation. */
#define log_dev(level, error, dev_name, op_name, ...) \
	log_meta(level, error, &(struct log_ctx){ .device = (dev_name), .op = (op_name) }, __VA_ARGS__)
