/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernel/proc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "kernel-uapi.h"

static bool has_file_of(int pid_dir, dev_t rdev)
{
	_cleanup_close_ int fds = openat(pid_dir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;
	struct stat st;
	bool found = false;
	DIR *d;

	if (fds < 0)
		return false;
	d = fdopendir(fds);
	if (!d)
		return false;
	fds = -1; /* the DIR owns it now */
	while (!found && (e = readdir(d)))
		if (isdigit((unsigned char)e->d_name[0]) && fstatat(dirfd(d), e->d_name, &st, 0) == 0)
			found = S_ISCHR(st.st_mode) && st.st_rdev == rdev;
	closedir(d);
	return found;
}

static void read_comm(int pid_dir, char *buf, size_t size)
{
	_cleanup_close_ int fd = openat(pid_dir, "comm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	if (n <= 0) {
		snprintf(buf, size, "?");
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int proc_find_holders(dev_t rdev, struct fd_holder *holders, size_t max)
{
	struct dirent *e;
	size_t n = 0;
	pid_t self = getpid();
	DIR *proc;

	proc = opendir("/proc");
	if (!proc)
		return -errno;
	while (n < max && (e = readdir(proc))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (!isdigit((unsigned char)e->d_name[0]) || *end || pid == self)
			continue;
		_cleanup_close_ int pid_dir = openat(dirfd(proc), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pid_dir < 0 || !has_file_of(pid_dir, rdev))
			continue;
		holders[n].pid = (pid_t)pid;
		read_comm(pid_dir, holders[n].comm, sizeof holders[n].comm);
		n++;
	}
	closedir(proc);
	return (int)n;
}

int proc_kill(pid_t pid)
{
	return kill(pid, SIGKILL) < 0 ? -errno : 0;
}

int proc_pidfd_pid(int pidfd, pid_t *ret)
{
	char path[64], line[128];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof line, f)) {
		int pid;
		if (sscanf(line, "Pid:\t%d", &pid) == 1) {
			*ret = pid;
			return 0;
		}
	}
	return -EINVAL;
}

int proc_dmabuf_size(int fd, uint64_t *ret)
{
	char path[64], line[256];
	_cleanup_fclose_ FILE *f = NULL;
	bool dmabuf = false, sized = false;
	unsigned long long size = 0;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "exp_name:", 9) == 0)
			dmabuf = true;
		else if (sscanf(line, "size:\t%llu", &size) == 1)
			sized = true;
	}
	if (!dmabuf || !sized)
		return -EINVAL;
	*ret = size;
	return 0;
}

static int status_euid(pid_t pid, uid_t *ret)
{
	char path[64], line[256];
	_cleanup_fclose_ FILE *f = NULL;
	unsigned long uid;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Uid:\t%*u\t%lu", &uid) == 1) {
			*ret = (uid_t)uid;
			return 0;
		}
	return -EINVAL;
}

int proc_pidfd_euid(int pidfd, pid_t pid, uid_t *ret)
{
	struct pidfd_info info = { .mask = PIDFD_INFO_CREDS };
	int r;

	if (ioctl(pidfd, PIDFD_GET_INFO, &info) == 0) {
		*ret = (uid_t)info.euid;
		r = 0;
	} else if (errno == ESRCH)
		return -ESRCH;
	else /* ENOTTY or EINVAL: a kernel before 6.13. */
		r = status_euid(pid, ret);
	/* Read while the process still runs: a zombie, whose PID may still
	 * be the caller's, answers PIDFD_GET_INFO too. */
	if (r >= 0 && poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, 0) != 0)
		r = -ESRCH;
	return r;
}
