/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The lease commands of ccdevctl: acquire (hold a lease until a signal),
 * release (also --force of a device), reset, bind and leases.  Called as the verbs of verbs.h are: argv[0]
 * is the command name, the arguments are counted; each returns 0 or a
 * classified negative errno (ctl.h), having reported the error.
 */

#include "ctl.h"

int verb_acquire(int argc, char *argv[], const struct ctl_options *o);
int verb_release(int argc, char *argv[], const struct ctl_options *o);
int verb_reset(int argc, char *argv[], const struct ctl_options *o);
int verb_bind(int argc, char *argv[], const struct ctl_options *o);
int verb_leases(int argc, char *argv[], const struct ctl_options *o);

/* The D-Bus path of a lease named on the command line: its path
 * /org/ccdevd1/lease/N, or just N.  -EINVAL, reported, for anything else. */
int lease_path_parse(const char *s, char **ret);
