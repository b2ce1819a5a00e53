/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The commands of ccdevctl.  argv[0] is the command name, argv[1..] its
 * arguments, already counted by main().  Each returns 0 or a negative errno
 * classified as in ctl.h, having reported the error.
 */

#include "ctl.h"

int verb_list(int argc, char *argv[], const struct ctl_options *o);
int verb_show(int argc, char *argv[], const struct ctl_options *o);
int verb_status(int argc, char *argv[], const struct ctl_options *o);
