/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int ctl_error_errno(int error, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	error = abs(error);
	errno = error; /* for %m */
	fputs("ccdevctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errno = saved;
	return -error;
}

int ctl_unclassified(int r)
{
	return r == -EINVAL || r == -EHOSTDOWN || r == -EACCES || r == -ENODEV ? -EIO : r;
}

int ctl_exit_status(int r)
{
	switch (r) {
	case 0:
		return CTL_EXIT_SUCCESS;
	case -EINVAL:
		return CTL_EXIT_USAGE;
	case -EHOSTDOWN:
		return CTL_EXIT_UNREACHABLE;
	case -EACCES:
		return CTL_EXIT_ACCESS_DENIED;
	case -ENODEV:
		return CTL_EXIT_NO_DEVICE;
	default:
		return CTL_EXIT_FAILURE;
	}
}
