/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernel/child.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"

int child_start(int (*fn)(void *userdata), void *userdata, int keep_fd, pid_t *ret_pid)
{
	pid_t pid;
	int pidfd;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigset_t none;
		int r;

		/* Only stdio and keep_fd: every other fd stays with its owner,
		 * and nothing the child does can outlive the daemon's intent. */
		if (keep_fd > 3)
			(void)close_range(3, (unsigned)keep_fd - 1, 0);
		(void)close_range(keep_fd >= 3 ? (unsigned)keep_fd + 1 : 3, ~0U, 0);
		/* The daemon blocks the signals its loop handles. */
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		r = fn(userdata);
		_exit(r >= 0 ? 0 : -r < 256 ? -r : EIO);
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		int r = -errno;
		/* Cannot watch it: wait for it here rather than lose it. */
		(void)waitpid(pid, NULL, 0);
		return r;
	}
	*ret_pid = pid;
	return pidfd;
}

int child_finish(int pidfd, pid_t pid)
{
	siginfo_t si = {};

	safe_close(pidfd);
	if (waitid(P_PID, (id_t)pid, &si, WEXITED) < 0)
		return -errno;
	if (si.si_code != CLD_EXITED)
		return -EINTR;
	return -si.si_status;
}
