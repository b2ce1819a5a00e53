/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ccdevctl: the command-line client of ccdevd (D-Bus org.ccdevd1).
 * This file: options, the command table, exit status.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "build-config.h"
#include "ctl.h"
#include "verbs.h"

struct verb {
	const char *name;
	const char *args; /* for messages: "ADDRESS", or "" */
	int min_args, max_args;
	int (*run)(int argc, char *argv[], const struct ctl_options *o);
};

/* The first one is what ccdevctl does without a command, like systemctl. */
static const struct verb verbs[] = {
	{ "list", "", 0, 0, verb_list },
	{ "show", "ADDRESS", 1, 1, verb_show },
	{ "status", "", 0, 0, verb_status },
};

static void help(void)
{
	printf("Usage: ccdevctl [OPTIONS] COMMAND ...\n"
	       "\n"
	       "Query and control ccdevd, the VFIO/iommufd device lease broker.\n"
	       "\n"
	       "Commands:\n"
	       "  list             List the devices ccdevd manages (the default)\n"
	       "  show ADDRESS     Show every property of one device, as Name=value\n"
	       "  status           Show the daemon's version, kernel features and PID\n"
	       "\n"
	       "Options:\n"
	       "  -h --help        Show this help\n"
	       "     --version    Show the version\n"
	       "     --json       Print JSON instead of text\n"
	       "     --no-legend  Leave out the table header and footer\n"
	       "\n"
	       "Exit status: 0 success, 1 failure, 2 usage error, 3 ccdevd not reachable,\n"
	       "4 access denied, 5 no such device or device not managed.\n"
	       "\n"
	       "See ccdevctl(1).\n");
}

/* Returns 1 to go on, 0 when done (--help, --version), or -EINVAL. */
static int parse_argv(int argc, char *argv[], struct ctl_options *o)
{
	enum { ARG_VERSION = 0x100, ARG_JSON, ARG_NO_LEGEND };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "no-legend", no_argument, NULL, ARG_NO_LEGEND },
		{}
	};
	int c;

	/* Options may follow the command (GNU argument permutation); the
	 * messages for bad ones are ours, to carry the "ccdevctl: " prefix. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("ccdevctl %s\n", PACKAGE_VERSION);
			return 0;
		case ARG_JSON:
			o->json = true;
			break;
		case ARG_NO_LEGEND:
			o->legend = false;
			break;
		case '?':
			/* optopt: the bad short option; 0 for an unknown long
			 * one; a long option's value if it was given "=ARG". */
			if (optopt > 0 && optopt < 0x100)
				return ctl_error_errno(EINVAL, "Unknown option '-%c'; see --help.", optopt);
			if (optopt == 0)
				return ctl_error_errno(EINVAL, "Unknown option '%s'; see --help.",
						       argv[optind - 1]);
			return ctl_error_errno(EINVAL, "Option '%s' takes no argument; see --help.",
					       argv[optind - 1]);
		default:
			assert(!"getopt_long() returned an option not in the table");
			return -EIO;
		}
	}
	return 1;
}

static const struct verb *verb_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

/* argv: the command and its arguments (none at all: the default command). */
static int dispatch(int argc, char *argv[], const struct ctl_options *o)
{
	char *default_argv[] = { (char *)verbs[0].name, NULL };
	const struct verb *v;
	int n;

	if (argc == 0) {
		argc = 1;
		argv = default_argv;
	}
	v = verb_find(argv[0]);
	if (!v)
		return ctl_error_errno(EINVAL, "Unknown command '%s'; see --help.", argv[0]);

	n = argc - 1;
	if (n < v->min_args)
		return ctl_error_errno(EINVAL, "Missing argument; usage: ccdevctl %s %s", v->name, v->args);
	if (n > v->max_args)
		return ctl_error_errno(EINVAL, "Too many arguments; usage: ccdevctl %s%s%s", v->name,
				       *v->args ? " " : "", v->args);
	return v->run(argc, argv, o);
}

int main(int argc, char *argv[])
{
	struct ctl_options o = { .legend = true };
	int r;

	r = parse_argv(argc, argv, &o);
	if (r > 0)
		r = dispatch(argc - optind, argv + optind, &o);

	/* Output that could not be written is a failure, e.g. a full disk. */
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_error_errno(errno ? errno : EIO, "Failed to write the output: %m");
		if (r >= 0)
			r = -EIO;
	}
	return ctl_exit_status(r);
}
