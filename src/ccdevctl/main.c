/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ccdevctl: the command-line client of ccdevd (D-Bus org.ccdevd1).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

static void help(void)
{
	printf("Usage: ccdevctl [OPTIONS] COMMAND ...\n"
	       "\n"
	       "Query and control ccdevd, the VFIO/iommufd device lease broker.\n"
	       "\n"
	       "Options:\n"
	       "  -h --help        Show this help\n"
	       "     --version    Show the version\n"
	       "\n"
	       "See ccdevctl(1).\n");
}

int main(int argc, char *argv[])
{
	enum { ARG_VERSION = 0x100 };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{}
	};
	int c;

	log_open("ccdevctl");
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_VERSION:
			printf("ccdevctl %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			return EXIT_FAILURE;
		}
	}
	if (optind >= argc) {
		help();
		return EXIT_FAILURE;
	}
	log_error("Unknown command '%s'; see --help.", argv[optind]);
	return EXIT_FAILURE;
}
