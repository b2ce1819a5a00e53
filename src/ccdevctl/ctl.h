/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What every part of ccdevctl shares: the global options, error messages on
 * stderr ("ccdevctl: ..."), and the exit statuses of ccdevctl(1).
 *
 * Functions return negative errnos.  An error is printed once, by the code
 * that understands it; four errnos are reserved to select an exit status
 * other than 1, and only code that has classified an error returns them:
 *
 *   -EINVAL     2  usage: unknown command or option, wrong arguments, bad address
 *   -EHOSTDOWN  3  ccdevd cannot be reached (no bus, org.ccdevd1 not on it)
 *   -EACCES     4  access denied (by ccdevd or by the bus policy)
 *   -ENODEV     5  no such device, or the device is not managed
 *
 * Everything else, including errors ccdevd reports about an operation,
 * exits 1.  bus-client.c never lets an unclassified error escape as one of
 * the four.
 */

#include <stdbool.h>

enum {
	CTL_EXIT_SUCCESS = 0,
	CTL_EXIT_FAILURE = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3,
	CTL_EXIT_ACCESS_DENIED = 4,
	CTL_EXIT_NO_DEVICE = 5,
};

struct ctl_options {
	bool json;   /* --json: machine-readable output on stdout */
	bool legend; /* header and footer of tables; --no-legend clears it */
};

/* Print "ccdevctl: MESSAGE" on stderr; %m is the error passed in.  Returns
 * -abs(error), so callers can `return ctl_error_errno(r, "...: %m");`. */
int ctl_error_errno(int error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ctl_error(...) ((void)ctl_error_errno(0, __VA_ARGS__))

/* r, unless it is one of the four errnos above: then -EIO.  For errors that
 * were not classified, so that e.g. an -EINVAL from a library is no usage
 * error. */
int ctl_unclassified(int r);

/* The exit status for a verb's return value (see the table above). */
int ctl_exit_status(int r);
