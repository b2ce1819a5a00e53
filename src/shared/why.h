/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemon's modules return a negative errno and, for the client, a
 * malloc'ed sentence saying why (the bus layer puts it in the D-Bus error).
 */

/* *ret = the formatted explanation (NULL when out of memory); returns r. */
int why(char **ret, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
