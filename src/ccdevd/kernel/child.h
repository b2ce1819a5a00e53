/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Kernel work that may block runs in a child process, so that the daemon's
 * event loop never waits on a slow device: a sysfs reset, a driver bind, a
 * VFIO reset ioctl.  The child keeps none of the daemon's fds but keep_fd
 * (each stays with its one owner), runs fn and exits with its result.
 */

#include <sys/types.h>

/* Fork and run fn(userdata) in the child (fn's return: 0 or a negative
 * errno).  Returns a pidfd for the event loop to watch, *ret_pid the child. */
int child_start(int (*fn)(void *userdata), void *userdata, int keep_fd, pid_t *ret_pid);
/* The child has ended (its pidfd is readable): reap it, close pidfd and
 * return fn's result, or -EINTR if the child was killed. */
int child_finish(int pidfd, pid_t pid);
