/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernel/sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cleanup.h"
#include "kernel/child.h"

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

bool sysfs_device_present(const char *syspath)
{
	return access(syspath, F_OK) == 0;
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

int sysfs_vfio_cdev_devnum(const char *syspath, dev_t *ret)
{
	char cdev[64], path[PATH_MAX], text[32];
	unsigned major, minor;
	ssize_t n;
	int r;

	r = sysfs_vfio_cdev_path(syspath, cdev, sizeof cdev);
	if (r < 0)
		return r;
	snprintf(path, sizeof path, "%s/vfio-dev/%s/dev", syspath, strrchr(cdev, '/') + 1);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof text - 1);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	if (sscanf(text, "%u:%u", &major, &minor) != 2)
		return -EBADMSG;
	*ret = makedev(major, minor);
	return 0;
}

int sysfs_reset_function(const char *syspath)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/reset", syspath);
	return write_file(path, "1");
}

int sysfs_reset_subordinate(const char *bridge_syspath)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/reset_subordinate", bridge_syspath);
	return write_file(path, "1");
}

/* In the child: the write that blocks until the device's last file closes. */
static int unbind_run(void *userdata)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof path, "/sys/bus/pci/drivers/vfio-pci/unbind");
	r = write_file(path, userdata);
	/* Not bound to vfio-pci (ENODEV), or no vfio-pci at all (ENOENT), is
	 * as good as unbound. */
	return r == -ENOENT || r == -ENODEV ? 0 : r;
}

int sysfs_unbind_start(const char *syspath, const char *name, pid_t *ret_pid)
{
	return child_start(unbind_run, (void *)name, -1, ret_pid);
}

int sysfs_unbind_finish(int pidfd, pid_t pid)
{
	return child_finish(pidfd, pid);
}
