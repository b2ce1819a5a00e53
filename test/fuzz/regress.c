/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Without libFuzzer: run a harness once over each file named on the command
 * line, or each file in a directory named there (its corpus), one TAP test
 * point per file.  A crash or a failed property aborts the run, and meson
 * reports the test as failed with the last file it started on.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int n_points;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "re");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		printf("not ok %d - %s: %s\n", ++n_points, path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			unsigned char *p = realloc(buf, cap = cap ? cap * 2 : 4096);
			if (!p)
				abort();
			buf = p;
		}
		size_t k = fread(buf + len, 1, cap - len, f);
		if (k == 0)
			break;
		len += k;
	}
	fclose(f);
	printf("# %s (%zu bytes)\n", path, len);
	fflush(stdout);
	/* A copy of exactly len bytes, so reading past the end is caught. */
	unsigned char *exact = malloc(len ? len : 1);
	if (!exact)
		abort();
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	printf("ok %d - %s\n", ++n_points, path);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	int rc = 0;

	if (!d) {
		printf("not ok %d - %s: %s\n", ++n_points, dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char **p = realloc(names, (n + 1) * sizeof(*names));
		if (!p || !(p[n] = strdup(de->d_name)))
			abort();
		names = p;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char *path;
		if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
			abort();
		if (run_file(path) < 0)
			rc = -1;
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			rc |= run_dir(argv[i]) < 0;
		else
			rc |= run_file(argv[i]) < 0;
	}
	if (n_points == 0)
		printf("not ok %d - no input files\n", ++n_points), rc = 1;
	printf("1..%d\n", n_points);
	return rc;
}
