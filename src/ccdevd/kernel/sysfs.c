/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernel/sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

static int write_file(const char *path, const char *value)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(value);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, value, n);
	if (w < 0)
		return -errno;
	return (size_t)w == n ? 0 : -EIO;
}

int sysfs_read_driver(const char *syspath, char *buf, size_t size)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof path, "%s/driver", syspath);
	n = readlink(path, target, sizeof target - 1);
	if (n < 0) {
		if (errno != ENOENT)
			return -errno;
		buf[0] = '\0';
		return 0;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	snprintf(buf, size, "%s", base ? base + 1 : target);
	return 0;
}

int sysfs_set_driver_override(const char *syspath, const char *driver)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/driver_override", syspath);
	/* The kernel clears the override on an empty write (a lone newline). */
	return write_file(path, driver[0] ? driver : "\n");
}

int sysfs_unbind(const char *syspath, const char *name)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof path, "%s/driver/unbind", syspath);
	r = write_file(path, name);
	return r == -ENOENT ? 0 : r;
}

int sysfs_drivers_probe(const char *name)
{
	return write_file("/sys/bus/pci/drivers_probe", name);
}

int sysfs_vfio_cdev_path(const char *syspath, char *buf, size_t size)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof path, "%s/vfio-dev", syspath);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "vfio", 4) == 0 && e->d_name[4] >= '0' && e->d_name[4] <= '9') {
			snprintf(buf, size, "/dev/vfio/devices/%s", e->d_name);
			closedir(d);
			return 0;
		}
	closedir(d);
	return -ENODEV;
}
