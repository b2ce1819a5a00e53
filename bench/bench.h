/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every benchmark of bench/ needs: a clock, medians, a way out. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

static inline double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* "PROGRAM: what: strerror(err)" and exit 1. */
__attribute__((noreturn)) static inline void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(err < 0 ? -err : err));
	exit(1);
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v. */
static inline double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Unicast signals from the daemon pile up unless read. */
static inline void drain(sd_bus *bus)
{
	while (sd_bus_process(bus, NULL) > 0)
		;
}

/* ---- what several benchmarks ask of the daemon ---- */

#include <dirent.h>
#include <sys/types.h>

#include "bus-api.h"
#include "cleanup.h"

/* Manager.CreateLease; the path into @path.  The iommufd we get is closed
 * with the reply: the lease keeps its own. */
static inline void bench_create_lease(sd_bus *bus, char *path, size_t size)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	const char *p;
	int iommufd, r;
	uint32_t ioas;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, "CreateLease", &e,
			       &reply, "a{sv}", 0);
	if (r < 0)
		die(e.message ? e.message : "CreateLease", r);
	r = sd_bus_message_read(reply, "ohu", &p, &iommufd, &ioas);
	if (r < 0)
		die("CreateLease reply", r);
	snprintf(path, size, "%s", p);
}

static inline void bench_release(sd_bus *bus, const char *lease)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, lease, CCDEVD_LEASE_IFACE, "Release", &e, NULL, NULL);

	if (r < 0)
		die(e.message ? e.message : "Release", r);
}

/* The daemon's VmRSS in kB and its number of open files. */
static inline void bench_daemon_cost(pid_t pid, long *rss_kb, long *fds)
{
	char path[64], line[256];
	struct dirent *de;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		die(path, errno);
	*rss_kb = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", rss_kb) == 1)
			break;
	fclose(f);
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		die(path, errno);
	*fds = 0;
	while ((de = readdir(d)))
		*fds += de->d_name[0] != '.';
	closedir(d);
}

/* The daemon's context switches so far (voluntary and involuntary), over
 * all its threads. */
static inline long bench_daemon_switches(pid_t pid)
{
	char path[96], line[256];
	struct dirent *de;
	long total = 0, n;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		die(path, errno);
	while ((de = readdir(d))) {
		FILE *f;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.16s/status", (int)pid, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue; /* a thread that just ended */
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1 ||
			    sscanf(line, "nonvoluntary_ctxt_switches: %ld", &n) == 1)
				total += n;
		fclose(f);
	}
	closedir(d);
	return total;
}

/* CPU time the daemon used so far, in ms (user + system, with that of its
 * reaped children: the workers). */
static inline double bench_daemon_cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	long long cut = 0, cst = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		die(path, errno);
	if (!fgets(buf, sizeof buf, f))
		die(path, EIO);
	fclose(f);
	/* Fields after the command's closing parenthesis: state is 3, utime 14. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &ut, &st, &cut,
			 &cst) != 4)
		die(path, EINVAL);
	return (double)(ut + st + (unsigned long long)cut + (unsigned long long)cst) * 1e3 /
	       (double)sysconf(_SC_CLK_TCK);
}

/* ---- the direct path: what a lease does in the kernel, in-process ---- */

#include <fcntl.h>
#include <sys/ioctl.h>

#include "kernel-uapi.h"

/* The VFIO cdev of device bdf, bound to vfio-pci, into out (each unbind and
 * rebind of vfio-pci may renumber it). */
static inline void bench_vfio_cdev(const char *bdf, char *out, size_t size)
{
	char path[128];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(path);
	if (!d)
		die("device is not on vfio-pci", errno);
	out[0] = '\0';
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "vfio", 4) == 0)
			snprintf(out, size, "/dev/vfio/devices/%.32s", e->d_name);
	closedir(d);
	if (!out[0])
		die("no VFIO cdev for the device", ENODEV);
}

/* CreateLease's and AttachDevice's kernel work: an iommufd (rlimit mode)
 * with an IOAS, and cdev opened, bound to it and attached to the IOAS. */
static inline void bench_direct_attach(const char *cdev, int *ret_iommufd, int *ret_dev)
{
	struct iommu_option opt = { .size = sizeof(opt), .option_id = IOMMU_OPTION_RLIMIT_MODE,
				    .op = IOMMU_OPTION_OP_SET, .val64 = 1 };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	int iommufd, dev;

	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		die("open /dev/iommu", errno);
	if (ioctl(iommufd, IOMMU_OPTION, &opt) < 0)
		die("IOMMU_OPTION", errno);
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &ioas) < 0)
		die("IOMMU_IOAS_ALLOC", errno);
	dev = open(cdev, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		die(cdev, errno);
	bind.iommufd = iommufd;
	if (ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0)
		die("VFIO_DEVICE_BIND_IOMMUFD", errno);
	attach.pt_id = ioas.out_ioas_id;
	if (ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0)
		die("VFIO_DEVICE_ATTACH_IOMMUFD_PT", errno);
	*ret_iommufd = iommufd;
	*ret_dev = dev;
}

static inline pid_t bench_find_daemon(sd_bus *bus)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	pid_t pid = 0;
	int r;

	r = sd_bus_get_name_creds(bus, CCDEVD_BUS_NAME, SD_BUS_CREDS_PID, &creds);
	if (r >= 0)
		r = sd_bus_creds_get_pid(creds, &pid);
	if (r < 0)
		die("the daemon's pid", r);
	return pid;
}
