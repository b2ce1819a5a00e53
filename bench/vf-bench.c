/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vf-bench: SR-IOV VFs at scale, inventoried, leased and released.
 *
 *   vf-bench --pf BDF --vfs N [--rounds R] [--idle SECONDS]
 *
 * Runs as root in the VM tier's guest (CCDEVD_VM_SRIOV=N) with ccdevd on
 * the system bus, a rule that manages the PF's VFs with
 * on_release "keep-vfio", and the PF's sriov_drivers_autoprobe 0 (no host
 * driver probes a VF, as on a host that hands VFs to VMs).  Side by side:
 *   inventory  R rounds of enabling N VFs (write to sriov_numvfs) and
 *              disabling them: how long the kernel's write takes, and how
 *              much later the daemon has announced every VF (DeviceAdded,
 *              DeviceRemoved), per VF; ListDevices with 0 and N VFs;
 *   direct     the same kernel work done here, VF by VF with those before
 *              still held, the daemon stopped meanwhile: vfio-pci bound
 *              through driver_override and drivers_probe, an iommufd with
 *              an IOAS, the cdev opened, bound and attached.  Its growth
 *              is the kernel's;
 *   leases     one lease per VF, each acquired (CreateLease + AttachDevice,
 *              the VF claimed for vfio-pci on the way) and timed: the first
 *              eighth against the last, and the least-squares growth per VF
 *              held over all of them, beside the direct path's; the
 *              daemon's CPU, RSS and open files per leased VF;
 *   idle       with those N leases and N more empty ones held, the daemon's
 *              context switches over an idle window (the goal is none);
 *   release    each lease released in turn (Release answers once its VF's
 *              teardown, one reset included, is done), first eighth against
 *              the last, and the whole release.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bench.h"
#include "bus-api.h"
#include "cleanup.h"
#include "kernel-uapi.h"

#define MAX_VFS 127

static sd_bus *bus;
static pid_t daemon_pid;
static const char *pf;
static unsigned added, removed;

static int on_device_added(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	added++;
	return 0;
}

static int on_device_removed(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
	removed++;
	return 0;
}

/* Process the bus until *counter reaches want (60 s at most). */
static void wait_count(unsigned *counter, unsigned want, const char *what)
{
	double deadline = now_us() + 60e6;

	while (*counter < want) {
		int r = sd_bus_process(bus, NULL);
		if (r < 0)
			die("bus", r);
		if (r > 0)
			continue;
		if (now_us() > deadline) {
			fprintf(stderr, "vf-bench: %s: %u of %u after 60 s\n", what, *counter, want);
			exit(1);
		}
		sd_bus_wait(bus, 100000);
	}
}

static void write_numvfs(unsigned n)
{
	char path[128], text[16];
	int fd, len;

	snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/sriov_numvfs", pf);
	len = snprintf(text, sizeof text, "%u", n);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die(path, errno);
	if (write(fd, text, (size_t)len) != len)
		die(path, errno);
	close(fd);
}

/* The address of VF i, from the PF's virtfnI link. */
static void vf_address(unsigned i, char *out, size_t size)
{
	char link[128], target[256];
	ssize_t n;
	const char *base;

	snprintf(link, sizeof link, "/sys/bus/pci/devices/%s/virtfn%u", pf, i);
	n = readlink(link, target, sizeof target - 1);
	if (n < 0)
		die(link, errno);
	target[n] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= size)
		die(link, ENAMETOOLONG);
	memcpy(out, base, strlen(base) + 1);
}

static double list_devices(unsigned *count)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	double t0 = now_us(), t;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, "ListDevices", &e,
			       &reply, NULL);
	t = now_us() - t0;
	if (r < 0)
		die(e.message ? e.message : "ListDevices", r);
	*count = 0;
	r = sd_bus_message_enter_container(reply, 'a', "(ssso)");
	while (r >= 0 && (r = sd_bus_message_skip(reply, "(ssso)")) > 0)
		(*count)++;
	if (r < 0)
		die("ListDevices reply", r);
	return t;
}

/* The device file comes with the reply and goes with it: the daemon keeps
 * its own, and Release need not wait for ours. */
static void attach(const char *lease, const char *bdf)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, lease, CCDEVD_LEASE_IFACE, "AttachDevice", &e, &reply, "sa{sv}",
			       bdf, 0);
	if (r < 0)
		die(e.message ? e.message : "AttachDevice", r);
}

/* Write text to a sysfs file; errno on failure. */
static int write_sysfs(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(text);

	if (fd < 0)
		return errno;
	return write(fd, text, (size_t)len) == len ? 0 : errno;
}

struct direct_vf {
	int iommufd, dev;
};

/* What the daemon's claim and attach do for a VF, in-process: bind it to
 * vfio-pci, then an iommufd with an IOAS and the cdev bound and attached. */
static void direct_acquire(const char *bdf, struct direct_vf *out)
{
	char path[192], target[256], cdev[64];
	ssize_t n;
	int err;

	snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/driver_override", bdf);
	if ((err = write_sysfs(path, "vfio-pci")))
		die(path, err);
	if ((err = write_sysfs("/sys/bus/pci/drivers_probe", bdf)))
		die("drivers_probe", err);
	snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, target, sizeof target - 1);
	if (n < 0)
		die(path, errno);
	target[n] = 0;
	if (strcmp(strrchr(target, '/') ? strrchr(target, '/') + 1 : target, "vfio-pci") != 0)
		die("VF did not bind to vfio-pci", EREMOTEIO);
	bench_vfio_cdev(bdf, cdev, sizeof cdev);
	bench_direct_attach(cdev, &out->iommufd, &out->dev);
}

/* Back to where the daemon's leases start: no driver, no override. */
static void direct_release(const char *bdf, struct direct_vf *vf)
{
	char path[192];
	int err;

	safe_close(vf->dev);
	safe_close(vf->iommufd);
	snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/driver_override", bdf);
	if ((err = write_sysfs(path, "")))
		die(path, err);
	if ((err = write_sysfs("/sys/bus/pci/drivers/vfio-pci/unbind", bdf)))
		die("vfio-pci unbind", err);
}

/* The direct path for VFs 0..n-1, each timed into t[], all held, then all
 * given back.  The daemon is stopped (SIGSTOP) meanwhile: it would follow
 * each bind's uevents on the other CPU, and this is the kernel's floor.  It
 * reads them once it goes on. */
static void resume_daemon(void)
{
	(void)kill(daemon_pid, SIGCONT);
}

static void direct_phase(unsigned n, double *t)
{
	static struct direct_vf held[MAX_VFS];
	char bdf[16];

	/* Should a step die, the daemon goes on (die() exits). */
	if (atexit(resume_daemon) != 0 || kill(daemon_pid, SIGSTOP) < 0)
		die("SIGSTOP", errno);
	for (unsigned i = 0; i < n; i++) {
		double t0;

		vf_address(i, bdf, sizeof bdf);
		t0 = now_us();
		direct_acquire(bdf, &held[i]);
		t[i] = now_us() - t0;
	}
	for (unsigned i = 0; i < n; i++) {
		vf_address(i, bdf, sizeof bdf);
		direct_release(bdf, &held[i]);
	}
	if (kill(daemon_pid, SIGCONT) < 0)
		die("SIGCONT", errno);
	/* Let the daemon see every VF without a driver again, and the kernel
	 * finish freeing what was held, before what comes next. */
	for (double until = now_us() + 5e6; now_us() < until;) {
		sd_bus_wait(bus, 100000);
		drain(bus);
	}
}

/* The least-squares slope of v[i] over i: how much each VF held before
 * adds, from every round (the eighths' medians use a quarter of them). */
static double slope(const double *v, unsigned n)
{
	double mx = (n - 1) / 2.0, my = 0, sxy = 0, sxx = 0;

	for (unsigned i = 0; i < n; i++)
		my += v[i] / n;
	for (unsigned i = 0; i < n; i++) {
		sxy += (i - mx) * (v[i] - my);
		sxx += (i - mx) * (i - mx);
	}
	return sxy / sxx;
}

/* Median of v[from..to). */
static double median_of(const double *v, unsigned from, unsigned to)
{
	double tmp[MAX_VFS];

	memcpy(tmp, v + from, (to - from) * sizeof(double));
	return median(tmp, (int)(to - from));
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "pf", required_argument, NULL, 'p' },
		{ "vfs", required_argument, NULL, 'v' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "idle", required_argument, NULL, 'i' },
		{}
	};
	static char vf[MAX_VFS][16], leases[2 * MAX_VFS][128];
	double en_kernel[64], en_daemon[64], dis_kernel[64], dis_daemon[64], list0[64], listn[64];
	double acquire[MAX_VFS], direct[MAX_VFS], rel[MAX_VFS];
	unsigned n = 0, base, count;
	int rounds = 5, idle = 10, c;
	long rss0, fds0, rss1, fds1, rss2, fds2;

	while ((c = getopt_long(argc, argv, "p:v:n:i:", options, NULL)) >= 0) {
		if (c == 'p')
			pf = optarg;
		else if (c == 'v')
			n = (unsigned)atoi(optarg);
		else if (c == 'n')
			rounds = atoi(optarg);
		else if (c == 'i')
			idle = atoi(optarg);
		else
			return 2;
	}
	if (!pf || n < 8 || n > MAX_VFS || rounds < 1 || rounds > 64 || idle < 1 || idle > 600) {
		fprintf(stderr, "usage: vf-bench --pf BDF --vfs 8..%d [--rounds 1..64] [--idle SECONDS]\n", MAX_VFS);
		return 2;
	}
	if (sd_bus_open_system(&bus) < 0)
		die("cannot connect to the system bus", EIO);
	daemon_pid = bench_find_daemon(bus);
	/* Unless readers is everyone, the inventory's signals go to subscribers
	 * only. */
	if (sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, "Subscribe", NULL,
			       NULL, NULL) < 0)
		die("Subscribe", EIO);
	if (sd_bus_match_signal(bus, NULL, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, "DeviceAdded",
				on_device_added, NULL) < 0 ||
	    sd_bus_match_signal(bus, NULL, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
				"DeviceRemoved", on_device_removed, NULL) < 0)
		die("cannot match the inventory's signals", EIO);

	/* ---- inventory ---- */
	list_devices(&base);
	for (int i = 0; i < rounds; i++) {
		double t0, t1;

		list0[i] = list_devices(&count);
		added = 0;
		t0 = now_us();
		write_numvfs(n);
		t1 = now_us();
		wait_count(&added, n, "DeviceAdded");
		en_kernel[i] = t1 - t0;
		en_daemon[i] = now_us() - t1;
		listn[i] = list_devices(&count);
		if (count != base + n) {
			fprintf(stderr, "vf-bench: ListDevices lists %u devices with %u VFs, want %u\n", count, n,
				base + n);
			return 1;
		}
		if (i == rounds - 1)
			break; /* the VFs stay for the leases */
		removed = 0;
		t0 = now_us();
		write_numvfs(0);
		t1 = now_us();
		wait_count(&removed, n, "DeviceRemoved");
		dis_kernel[i] = t1 - t0;
		dis_daemon[i] = now_us() - t1;
	}
	printf("VFs:                                     %u (devices managed besides: %u)\n", n, base);
	printf("enable, the kernel's write:              %8.1f ms (median of %d)\n",
	       median(en_kernel, rounds) / 1e3, rounds);
	printf("enable, then all in the daemon's list:   %8.1f ms, %.2f ms per VF\n", median(en_daemon, rounds) / 1e3,
	       median(en_daemon, rounds) / 1e3 / n);
	if (rounds > 1) {
		printf("disable, the kernel's write:             %8.1f ms (median of %d)\n",
		       median(dis_kernel, rounds - 1) / 1e3, rounds - 1);
		printf("disable, then all gone from the list:    %8.1f ms, %.2f ms per VF\n",
		       median(dis_daemon, rounds - 1) / 1e3, median(dis_daemon, rounds - 1) / 1e3 / n);
	}
	printf("ListDevices, %3u devices:                %8.2f ms (median)\n", base, median(list0, rounds) / 1e3);
	printf("ListDevices, %3u devices:                %8.2f ms (median)\n", base + n, median(listn, rounds) / 1e3);

	/* ---- leases: one per VF ---- */
	for (unsigned i = 0; i < n; i++)
		vf_address(i, vf[i], sizeof vf[i]);
	unsigned eighth = n / 8;

	/* ---- direct: the kernel's part, one VF after another, all held ---- */
	direct_phase(n, direct);
	double d_first = median_of(direct, 0, eighth), d_last = median_of(direct, n - eighth, n);
	printf("direct, VF 1..%u (bind, open, bind, attach): %8.1f ms (median)\n", eighth, d_first / 1e3);
	printf("direct, VF %u..%u:                       %8.1f ms (median), ratio to the first %.2f\n",
	       n - eighth + 1, n, d_last / 1e3, d_last / d_first);
	printf("direct, growth per VF held:              %8.2f ms (least squares over all %u)\n",
	       slope(direct, n) / 1e3, n);

	drain(bus);
	bench_daemon_cost(daemon_pid, &rss0, &fds0);
	double cpu1 = bench_daemon_cpu_ms(daemon_pid), t_leases = now_us();
	for (unsigned i = 0; i < n; i++) {
		double t0 = now_us();
		bench_create_lease(bus, leases[i], sizeof leases[i]);
		attach(leases[i], vf[i]);
		acquire[i] = now_us() - t0;
		drain(bus);
	}
	t_leases = now_us() - t_leases;
	double cpu_leases = bench_daemon_cpu_ms(daemon_pid) - cpu1;
	bench_daemon_cost(daemon_pid, &rss1, &fds1);
	double a_first = median_of(acquire, 0, eighth), a_last = median_of(acquire, n - eighth, n);
	printf("acquire of VF 1..%u (claimed for vfio-pci): %8.1f ms (median), %.2fx direct\n", eighth,
	       a_first / 1e3, a_first / d_first);
	printf("acquire of VF %u..%u:                      %8.1f ms (median), %.2fx direct, ratio to the first %.2f\n",
	       n - eighth + 1, n, a_last / 1e3, a_last / d_last, a_last / a_first);
	printf("acquire, growth per VF leased:           %8.2f ms (least squares over all %u)\n",
	       slope(acquire, n) / 1e3, n);
	printf("the daemon's CPU for the %u acquires:     %5.0f ms in %.0f ms (%.1f ms per VF, workers included)\n",
	       n, cpu_leases, t_leases / 1e3, cpu_leases / n);
	/* Medians of differences would pair unrelated rounds: the difference of
	 * the medians is the daemon's part. */
	printf("the daemon's part, VF 1..%u / %u..%u:      %8.1f ms / %.1f ms\n", eighth, n - eighth + 1, n,
	       (a_first - d_first) / 1e3, (a_last - d_last) / 1e3);
	printf("daemon with %u VFs leased:               %ld kB RSS, %ld fds (%ld kB idle, %ld fds)\n", n, rss1,
	       fds1, rss0, fds0);
	printf("per leased VF:                           %.1f kB RSS, %.2f fds\n", (double)(rss1 - rss0) / n,
	       (double)(fds1 - fds0) / n);

	/* ---- idle with 2N leases held ---- */
	for (unsigned i = n; i < 2 * n; i++)
		bench_create_lease(bus, leases[i], sizeof leases[i]);
	drain(bus);
	bench_daemon_cost(daemon_pid, &rss2, &fds2);
	sleep(1);
	long before = bench_daemon_switches(daemon_pid);
	sleep((unsigned)idle);
	long switches = bench_daemon_switches(daemon_pid) - before;
	printf("idle %d s with %u leases (%u VFs) held:     %ld context switches of the daemon\n", idle, 2 * n, n,
	       switches);
	for (unsigned i = n; i < 2 * n; i++)
		bench_release(bus, leases[i]);
	drain(bus);

	/* ---- release, one lease at a time ---- */
	double t_all = now_us();
	for (unsigned i = 0; i < n; i++) {
		double t0 = now_us();
		bench_release(bus, leases[i]);
		rel[i] = now_us() - t0;
		drain(bus);
	}
	t_all = now_us() - t_all;
	double r_first = median_of(rel, 0, eighth), r_last = median_of(rel, n - eighth, n);
	printf("release of VF 1..%u (one reset each):       %8.1f ms (median)\n", eighth, r_first / 1e3);
	printf("release of VF %u..%u:                      %8.1f ms (median), ratio to the first %.2f\n",
	       n - eighth + 1, n, r_last / 1e3, r_last / r_first);
	printf("release of all %u, one after another:     %8.1f ms\n", n, t_all / 1e3);

	removed = 0;
	write_numvfs(0);
	wait_count(&removed, n, "DeviceRemoved");
	bench_daemon_cost(daemon_pid, &rss2, &fds2);
	printf("after the VFs went:                      %ld kB RSS, %ld fds\n", rss2, fds2);
	return 0;
}
