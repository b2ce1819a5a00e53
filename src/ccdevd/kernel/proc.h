/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Who holds a device file open, from /proc/PID/fd (reading other users' fd
 * tables needs CAP_SYS_PTRACE).  A file in flight on a socket, or held by a
 * process in another PID namespace, is not seen: the answer names holders,
 * it never proves that there are none.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fd_holder {
	pid_t pid;
	char comm[16];
};

/* Up to max processes (other than ccdevd) with a file of character device
 * rdev open; returns how many were found, or a negative errno. */
int proc_find_holders(dev_t rdev, struct fd_holder *holders, size_t max);

/* SIGKILL pid. */
int proc_kill(pid_t pid);
/* The PID a pidfd refers to, from /proc/self/fdinfo: 0 with *ret set (-1
 * once the process is gone), -EINVAL when fd is not a pidfd. */
int proc_pidfd_pid(int pidfd, pid_t *ret);

/* The effective uid (what SO_PEERCRED, and so the bus, records for a
 * connection) of the process pidfd refers to, whose PID is pid: from the
 * pidfd itself (PIDFD_GET_INFO, one ioctl, since Linux 6.13), else from
 * /proc/PID/status, so that a reused PID cannot answer.  -ESRCH once that
 * process has exited, a zombie included (the pidfd polls readable). */
int proc_pidfd_euid(int pidfd, pid_t pid, uid_t *ret);

/* The size of a dma-buf fd, from /proc/self/fdinfo ("exp_name" proves it is
 * a dma-buf): 0, or -EINVAL when fd is none. */
int proc_dmabuf_size(int fd, uint64_t *ret);
