/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ccdevctl: the command-line client of ccdevd (D-Bus org.ccdevd1).
 * This file: options, the command table, exit status.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "build-config.h"
#include "ctl.h"
#include "exec.h"
#include "lease.h"
#include "strv.h"
#include "verbs.h"

enum {
	VERB_RAW = 1 << 0,      /* takes --raw */
	VERB_DEVICE = 1 << 1,   /* takes --device */
	VERB_COMMAND = 1 << 2,  /* ends in a command line: its options end at its first argument */
	VERB_FORCE = 1 << 3,    /* takes --force */
	VERB_MAPPINGS = 1 << 4, /* takes --mappings */
};

struct verb {
	const char *name;
	const char *args; /* for messages: "ADDRESS", or "" */
	int min_args, max_args;
	unsigned flags;
	int (*run)(int argc, char *argv[], const struct ctl_options *o);
};

/* The first one is what ccdevctl does without a command, like systemctl. */
static const struct verb verbs[] = {
	{ "list", "", 0, 0, 0, verb_list },
	{ "show", "ADDRESS", 1, 1, 0, verb_show },
	{ "status", "", 0, 0, 0, verb_status },
	{ "leases", "[--mappings]", 0, 0, VERB_MAPPINGS, verb_leases },
	{ "acquire", "[--raw] ADDRESS...", 1, INT_MAX, VERB_RAW, verb_acquire },
	{ "release", "LEASE | --force ADDRESS", 1, 1, VERB_FORCE, verb_release },
	{ "reset", "ADDRESS", 1, 1, 0, verb_reset },
	{ "bind", "LEASE ADDRESS", 2, 2, 0, verb_bind },
	{ "exec", "[--raw] --device ADDRESS... [--] COMMAND [ARGS...]", 1, INT_MAX,
	  VERB_RAW | VERB_DEVICE | VERB_COMMAND, verb_exec },
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
	       "  leases           List the leases (all for root, the caller's own otherwise)\n"
	       "  leases --mappings\n"
	       "                   Also list their dma-buf mappings and exports\n"
	       "  acquire ADDRESS...\n"
	       "                   Lease devices, print their fds and ids, hold the lease\n"
	       "                   until SIGINT or SIGTERM\n"
	       "  release LEASE    End a lease (its path, or its number)\n"
	       "  release --force ADDRESS\n"
	       "                   Root: kill the processes that hold a releasing device\n"
	       "                   open, so that its release completes\n"
	       "  reset ADDRESS    Reset a leased device through its lease\n"
	       "  bind LEASE ADDRESS\n"
	       "                   Bind a device attached unbound to the lease's iommufd\n"
	       "                   and IOAS (after the VMM added it to its KVM-VFIO device)\n"
	       "  exec --device ADDRESS... [--] COMMAND [ARGS...]\n"
	       "                   Lease devices and run COMMAND with the iommufd at fd 3\n"
	       "                   and the devices from fd 4; placeholders in ARGS:\n"
	       "                   {iommufd} {ioas} {fd:ADDRESS} {devid:ADDRESS} {ptid:ADDRESS}\n"
	       "\n"
	       "Options:\n"
	       "  -h --help        Show this help\n"
	       "     --version    Show the version\n"
	       "     --json       Print JSON instead of text\n"
	       "     --no-legend  Leave out the table header and footer\n"
	       "     --raw        acquire, exec: hand the devices over unbound, for a VMM\n"
	       "                  that binds them itself (QEMU)\n"
	       "     --device ADDRESS\n"
	       "                  exec: a device to lease; may be repeated\n"
	       "     --force      release: force the release of a device (root only)\n"
	       "     --mappings   leases: also list the dma-buf mappings and exports\n"
	       "\n"
	       "Exit status: 0 success, 1 failure, 2 usage error, 3 ccdevd not reachable,\n"
	       "4 access denied, 5 no such device or device not managed, 6 no such lease;\n"
	       "exec: COMMAND's status once it runs.\n"
	       "\n"
	       "See ccdevctl(1).\n");
}

/*
 * One getopt_long() pass over argv (argv[0] is not looked at).  With
 * in_order, options end at the first non-option; else they may come after
 * arguments (GNU argument permutation).  Either way optind is then the
 * first argument.  Returns 1 to go on, 0 when done (--help, --version), or
 * -EINVAL.
 */
static int parse_options(int argc, char *argv[], bool in_order, struct ctl_options *o)
{
	enum { ARG_VERSION = 0x100, ARG_JSON, ARG_NO_LEGEND, ARG_RAW, ARG_DEVICE, ARG_FORCE, ARG_MAPPINGS };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "no-legend", no_argument, NULL, ARG_NO_LEGEND },
		{ "raw", no_argument, NULL, ARG_RAW },
		{ "device", required_argument, NULL, ARG_DEVICE },
		{ "force", no_argument, NULL, ARG_FORCE },
		{ "mappings", no_argument, NULL, ARG_MAPPINGS },
		{}
	};
	int c;

	/* The messages for bad options are ours, to carry the "ccdevctl: "
	 * prefix; optind 0 makes getopt start afresh on this argv. */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, in_order ? "+:h" : ":h", options, NULL)) >= 0) {
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
		case ARG_RAW:
			o->raw = true;
			break;
		case ARG_DEVICE:
			if (strv_push(&o->devices, optarg) < 0)
				return ctl_error_errno(ENOMEM, "Out of memory.");
			break;
		case ARG_FORCE:
			o->force = true;
			break;
		case ARG_MAPPINGS:
			o->mappings = true;
			break;
		case ':':
			return ctl_error_errno(EINVAL, "Option '%s' needs an argument; see --help.",
					       argv[optind - 1]);
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

/*
 * Options may come before the command and, mixed with its arguments, after
 * it; but for a command that ends in a command line (exec), the options end
 * at that command line's first word, which may have options of its own.
 * Hence two passes: up to the command, then the command's own arguments.
 */
static int parse_and_dispatch(int argc, char *argv[], struct ctl_options *o)
{
	char *default_argv[] = { (char *)verbs[0].name, NULL };
	const struct verb *v;
	int r, n;

	r = parse_options(argc, argv, true, o);
	if (r <= 0)
		return r;
	argc -= optind; /* argv[0]: the command name */
	argv += optind;
	if (argc == 0) {
		argc = 1;
		argv = default_argv;
	}
	v = verb_find(argv[0]);
	if (!v)
		return ctl_error_errno(EINVAL, "Unknown command '%s'; see --help.", argv[0]);

	r = parse_options(argc, argv, v->flags & VERB_COMMAND, o);
	if (r <= 0)
		return r;
	argc -= optind - 1; /* getopt moved the arguments to the end; */
	argv += optind - 1;
	argv[0] = (char *)v->name; /* what was before them is not needed */
	if (o->raw && !(v->flags & VERB_RAW))
		return ctl_error_errno(EINVAL, "Option --raw is for acquire and exec only; see --help.");
	if (o->devices && !(v->flags & VERB_DEVICE))
		return ctl_error_errno(EINVAL, "Option --device is for exec only; see --help.");
	if (o->force && !(v->flags & VERB_FORCE))
		return ctl_error_errno(EINVAL, "Option --force is for release only; see --help.");
	if (o->mappings && !(v->flags & VERB_MAPPINGS))
		return ctl_error_errno(EINVAL, "Option --mappings is for leases only; see --help.");

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

	r = parse_and_dispatch(argc, argv, &o);
	strv_free(o.devices);

	/* Output that could not be written is a failure, e.g. a full disk. */
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_error_errno(errno ? errno : EIO, "Failed to write the output: %m");
		if (r >= 0)
			r = -EIO;
	}
	return ctl_exit_status(r);
}
