/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

void strv_free(char **l)
{
	STRV_FOREACH(s, l)
		free(*s);
	free(l);
}

size_t strv_length(char **l)
{
	size_t n = 0;

	STRV_FOREACH(s, l)
		n++;
	return n;
}

bool strv_equal(char **a, char **b)
{
	size_t n = strv_length(a);

	if (n != strv_length(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* Append a copy of s; *l stays valid (and unchanged) on failure. */
int strv_push(char ***l, const char *s)
{
	size_t n = strv_length(*l);
	char *copy = strdup(s);
	char **grown;

	if (!copy)
		return -ENOMEM;
	grown = realloc(*l, (n + 2) * sizeof(char *));
	if (!grown) {
		free(copy);
		return -ENOMEM;
	}
	grown[n] = copy;
	grown[n + 1] = NULL;
	*l = grown;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort(char **l)
{
	if (!l)
		return; /* qsort() must not get NULL, even for nothing */
	qsort(l, strv_length(l), sizeof(char *), cmp_str);
}
