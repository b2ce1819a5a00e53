/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ccdevd: brokers leases on VFIO/iommufd devices to unprivileged VMMs.
 * This file: command line, then hand over to the manager's event loop.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "log.h"
#include "manager.h"

static void help(void)
{
	printf("Usage: ccdevd [OPTIONS]\n"
	       "\n"
	       "Privileged broker of VFIO/iommufd device leases (D-Bus: org.ccdevd1).\n"
	       "\n"
	       "  -h --help           Show this help\n"
	       "     --version        Show the version\n"
	       "  -c --config PATH    Configuration file (default " SYSCONFDIR "/ccdevd/ccdevd.json)\n"
	       "\n"
	       "See ccdevd(8) and ccdevd.json(5).\n");
}

int main(int argc, char *argv[])
{
	enum { ARG_VERSION = 0x100 };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "config", required_argument, NULL, 'c' },
		{}
	};
	struct manager_options opts = {
		.config_path = SYSCONFDIR "/ccdevd/ccdevd.json",
	};
	int c, r;

	log_open("ccdevd");
	while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_VERSION:
			printf("ccdevd %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		case 'c':
			opts.config_path = optarg;
			opts.config_path_explicit = true;
			break;
		default:
			return EXIT_FAILURE;
		}
	}
	if (optind < argc) {
		log_error("ccdevd takes no positional arguments (got '%s'); see --help.", argv[optind]);
		return EXIT_FAILURE;
	}

	r = manager_run(&opts);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
