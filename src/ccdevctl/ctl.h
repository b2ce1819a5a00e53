/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What every part of ccdevctl shares: the global options, error messages on
 * stderr ("ccdevctl: ..."), and the exit statuses of ccdevctl(1).
 *
 * Functions return negative errnos.  An error is printed once, by the code
 * that understands it; five errnos are reserved to select an exit status
 * other than 1, and only code that has classified an error returns them:
 *
 *   -EINVAL     2  usage: unknown command or option, wrong arguments, bad address
 *   -EHOSTDOWN  3  ccdevd cannot be reached (no bus, org.ccdevd1 not on it)
 *   -EACCES     4  access denied (by ccdevd or by the bus policy)
 *   -ENODEV     5  no such device, or the device is not managed
 *   -ESRCH      6  no such lease (never was, or already ended)
 *
 * Everything else, including errors ccdevd reports about an operation,
 * exits 1.  bus-client.c never lets an unclassified error escape as one of
 * the five.  A verb may also return a positive value: an exit status to pass
 * on as it is (exec: the command's).
 */

#include <stdbool.h>
#include <stddef.h>

#include "bdf.h"

enum {
	CTL_EXIT_SUCCESS = 0,
	CTL_EXIT_FAILURE = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3,
	CTL_EXIT_ACCESS_DENIED = 4,
	CTL_EXIT_NO_DEVICE = 5,
	CTL_EXIT_NO_LEASE = 6,
};

struct ctl_options {
	bool json;   /* --json: machine-readable output on stdout */
	bool legend; /* header and footer of tables; --no-legend clears it */
	bool raw;    /* --raw: attach devices unbound (acquire, exec) */
	bool force;  /* --force: release a device from its holders (release) */
	bool mappings; /* --mappings: also the dma-buf exports and mappings (leases) */
	char **devices; /* --device ADDRESS, in order (exec) */
};

/* Print "ccdevctl: MESSAGE" on stderr; %m is the error passed in.  Returns
 * -abs(error), so callers can `return ctl_error_errno(r, "...: %m");`. */
int ctl_error_errno(int error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define ctl_error(...) ((void)ctl_error_errno(0, __VA_ARGS__))

/* r, unless it is one of the five errnos above: then -EIO.  For errors that
 * were not classified, so that e.g. an -EINVAL from a library is no usage
 * error. */
int ctl_unclassified(int r);

/* Parse a PCI address given on the command line into its canonical form;
 * -EINVAL, reported, if it is not one. */
int ctl_parse_address(const char *s, char ret[static BDF_STRING_MAX]);

/* The same for a list of n addresses, into a new strv of canonical ones; a
 * device given twice is a usage error too (ccdevd would refuse it). */
int ctl_parse_addresses(char *const *args, size_t n, char ***ret);

/* The exit status for a verb's return value (see the table above); a
 * positive value is already one. */
int ctl_exit_status(int r);
