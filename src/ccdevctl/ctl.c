/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "strv.h"

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
	if (r == -EINVAL || r == -EHOSTDOWN || r == -EACCES || r == -ENODEV || r == -ESRCH)
		return -EIO;
	return r;
}

int ctl_parse_address(const char *s, char ret[static BDF_STRING_MAX])
{
	struct bdf bdf;

	if (bdf_parse(s, &bdf) < 0)
		return ctl_error_errno(EINVAL, "'%s' is not a PCI address; expected DDDD:BB:DD.F, e.g. 0000:01:00.0.",
				       s);
	bdf_format(&bdf, ret);
	return 0;
}

int ctl_parse_addresses(char *const *args, size_t n, char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	char address[BDF_STRING_MAX];
	int r;

	for (size_t i = 0; i < n; i++) {
		r = ctl_parse_address(args[i], address);
		if (r < 0)
			return r;
		STRV_FOREACH(a, l)
			if (strcmp(*a, address) == 0)
				return ctl_error_errno(EINVAL, "Device %s is given twice.", address);
		if (strv_push(&l, address) < 0)
			return ctl_error_errno(ENOMEM, "Out of memory.");
	}
	*ret = TAKE_PTR(l);
	return 0;
}

int ctl_exit_status(int r)
{
	if (r > 0)
		return r;
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
	case -ESRCH:
		return CTL_EXIT_NO_LEASE;
	default:
		return CTL_EXIT_FAILURE;
	}
}
