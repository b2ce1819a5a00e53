/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "why.h"

#include <stdarg.h>
#include <stdio.h>

int why(char **ret, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(ret, fmt, ap) < 0)
		*ret = NULL;
	va_end(ap);
	return r;
}
