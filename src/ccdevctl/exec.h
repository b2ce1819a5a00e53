/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * ccdevctl exec: lease the --device devices, run COMMAND with the fds at 3
 * (the iommufd), 4, 5, ... (the devices, in the order given), and release
 * the lease when it exits.  ccdevctl stays as COMMAND's parent because the
 * lease is its own: ccdevd follows the bus connection and pid of the process
 * that created it.  argv[0] is "exec", argv[1] COMMAND, then its arguments,
 * in which the placeholders of placeholders.h are expanded.
 *
 * Returns COMMAND's exit status (128 + the signal if a signal killed it) as
 * a positive value or 0, or a classified negative errno (ctl.h), reported,
 * if it could not be started.
 */

#include "ctl.h"

int verb_exec(int argc, char *argv[], const struct ctl_options *o);
