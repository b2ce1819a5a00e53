/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lease-bench: what brokering costs, measured side by side in one run.
 *
 *   lease-bench --device BDF [--rounds N] [--socket PATH]
 *
 * Runs as root in the VM tier's guest with ccdevd on the system bus and the
 * device managed with on_release "keep-vfio" (so neither path rebinds
 * drivers), and nobody subscribed (each subscriber of root's would get every
 * lease's signals).  Per round, alternating so drift hits all alike:
 *   direct  the same ioctls in this process: open /dev/iommu, RLIMIT_MODE,
 *           IOAS_ALLOC, open the cdev, BIND_IOMMUFD, ATTACH_IOMMUFD_PT;
 *   brokered Manager.CreateLease + Lease.AttachDevice, until both fds are in
 *           hand (Release is not timed), on the system bus; then the same
 *           in one call, Manager.CreateLeaseWithDevices;
 *   socket  both again on ccdevd's direct socket (--socket), where no bus
 *           daemon relays and no credentials are asked per call;
 *   crash   a child takes a lease and is SIGKILLed; the time from the kill
 *           until the device is vfio-idle again (polled), set beside the
 *           device's own reset time (measured right before with
 *           VFIO_DEVICE_RESET).
 * Prints medians and the brokered/direct ratio.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bench.h"
#include "bus-api.h"
#include "cleanup.h"
#include "kernel-uapi.h"

static const char *bdf;
static char cdev[64];

/* The same kernel work a lease does, in-process, and then the device's
 * reset through its file. */
static double direct_round(double *reset_us)
{
	_cleanup_close_ int iommufd = -1, dev = -1;
	double t0, t1, t2;

	/* Each release unbinds and rebinds vfio-pci: the cdev may be renumbered. */
	bench_vfio_cdev(bdf, cdev, sizeof cdev);
	t0 = now_us();
	bench_direct_attach(cdev, &iommufd, &dev);
	t1 = now_us();
	if (ioctl(dev, VFIO_DEVICE_RESET) < 0)
		die("VFIO_DEVICE_RESET", errno);
	t2 = now_us();
	*reset_us = t2 - t1;
	return t1 - t0;
}

/* CreateLease + AttachDevice; returns the time and leaves the lease path. */
static double brokered_round(sd_bus *bus, char *lease, size_t size)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *r1 = NULL, *r2 = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	const char *path;
	uint32_t ioas, dev_id, pt_id;
	int iommufd, devfd, r;
	double t0 = now_us(), t1;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, "CreateLease",
			       &e, &r1, "a{sv}", 0);
	if (r < 0)
		die(e.message ? e.message : "CreateLease", r);
	r = sd_bus_message_read(r1, "ohu", &path, &iommufd, &ioas);
	if (r < 0)
		die("CreateLease reply", r);
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, CCDEVD_LEASE_IFACE, "AttachDevice", &e, &r2,
			       "sa{sv}", bdf, 0);
	if (r < 0)
		die(e.message ? e.message : "AttachDevice", r);
	r = sd_bus_message_read(r2, "huu", &devfd, &dev_id, &pt_id);
	t1 = now_us();
	if (r < 0)
		die("AttachDevice reply", r);
	snprintf(lease, size, "%s", path);
	return t1 - t0;
}

/* CreateLeaseWithDevices([bdf]): the same in one call. */
static double one_call_round(sd_bus *bus, char *lease, size_t size)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	const char *path, *address;
	uint32_t ioas, dev_id, pt_id;
	int iommufd, devfd, r;
	double t0 = now_us(), t1;

	r = sd_bus_message_new_method_call(bus, &call, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
					   "CreateLeaseWithDevices");
	if (r >= 0)
		r = sd_bus_message_append(call, "asa{sv}", 1, bdf, 0);
	if (r < 0)
		die("CreateLeaseWithDevices call", r);
	r = sd_bus_call(bus, call, 0, &e, &reply);
	if (r < 0)
		die(e.message ? e.message : "CreateLeaseWithDevices", r);
	r = sd_bus_message_read(reply, "ohu", &path, &iommufd, &ioas);
	if (r >= 0)
		r = sd_bus_message_read(reply, "a(shuu)", 1, &address, &devfd, &dev_id, &pt_id);
	t1 = now_us();
	if (r < 0)
		die("CreateLeaseWithDevices reply", r);
	snprintf(lease, size, "%s", path);
	return t1 - t0;
}

/* Is the device back in vfio-idle (its teardown done)? */
static bool device_idle(sd_bus *bus)
{
	_cleanup_free_ char *state = NULL;
	char path[128];
	size_t n;

	n = (size_t)snprintf(path, sizeof path, "%s/", CCDEVD_DEVICE_PREFIX);
	for (const char *p = bdf; *p && n + 1 < sizeof path; p++)
		path[n++] = (*p == ':' || *p == '.') ? '_' : *p;
	path[n] = '\0';
	if (sd_bus_get_property_string(bus, CCDEVD_BUS_NAME, path, CCDEVD_DEVICE_IFACE, "State", NULL, &state) < 0)
		die("Device.State", EIO);
	return strcmp(state, "vfio-idle") == 0;
}

/* A child leases the device and is killed; time until the device is back
 * in vfio-idle (the lease goes at once, its device's teardown goes on from
 * the event loop).  Polled: a subscription of root's would make the daemon
 * send it every lease's signals, acquire's too. */
static double crash_round(sd_bus *bus)
{
	int pipefd[2];
	double t0;
	char c;
	pid_t pid;

	if (pipe(pipefd) < 0)
		die("pipe", errno);
	pid = fork();
	if (pid == 0) {
		_cleanup_(sd_bus_flush_close_unrefp) sd_bus *own = NULL;
		char lease[128];
		if (sd_bus_open_system(&own) < 0)
			_exit(2);
		brokered_round(own, lease, sizeof lease);
		(void)!write(pipefd[1], "x", 1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &c, 1) != 1)
		die("child did not get a lease", EIO);
	close(pipefd[0]);
	t0 = now_us();
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	while (!device_idle(bus))
		usleep(200);
	return now_us() - t0;
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{}
	};
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL, *sock = NULL;
	const char *socket_path = NULL;
	int rounds = 20, c;

	while ((c = getopt_long(argc, argv, "d:n:s:", options, NULL)) >= 0) {
		if (c == 'd')
			bdf = optarg;
		else if (c == 'n')
			rounds = atoi(optarg);
		else if (c == 's')
			socket_path = optarg;
		else
			return 2;
	}
	if (!bdf || rounds < 1 || rounds > 10000) {
		fprintf(stderr, "usage: lease-bench --device BDF [--rounds N] [--socket PATH]\n");
		return 2;
	}
	if (sd_bus_open_system(&bus) < 0)
		die("cannot connect to the system bus", EIO);
	if (socket_path) {
		_cleanup_free_ char *address = NULL;
		if (asprintf(&address, "unix:path=%s", socket_path) < 0 || sd_bus_new(&sock) < 0 ||
		    sd_bus_set_address(sock, address) < 0 || sd_bus_negotiate_fds(sock, 1) < 0 ||
		    sd_bus_set_bus_client(sock, 1) < 0 || sd_bus_start(sock) < 0)
			die("cannot connect to the direct socket", EIO);
	}

	double *direct = calloc((size_t)rounds, sizeof(double));
	double *brokered = calloc((size_t)rounds, sizeof(double));
	double *crash = calloc((size_t)rounds, sizeof(double));
	double *reset = calloc((size_t)rounds, sizeof(double));
	double *socketed = calloc((size_t)rounds, sizeof(double));
	double *one_bus = calloc((size_t)rounds, sizeof(double));
	double *one_socket = calloc((size_t)rounds, sizeof(double));
	if (!direct || !brokered || !crash || !reset || !socketed || !one_bus || !one_socket)
		die("calloc", ENOMEM);

	{ /* warm-up: puts the device on vfio-pci and faults everything in */
		char lease[128];
		brokered_round(bus, lease, sizeof lease);
		bench_release(bus, lease);
		if (sock) {
			brokered_round(sock, lease, sizeof lease);
			bench_release(sock, lease);
		}
		bench_vfio_cdev(bdf, cdev, sizeof cdev);
	}
	for (int i = 0; i < rounds; i++) {
		char lease[128];
		direct[i] = direct_round(&reset[i]);
		brokered[i] = brokered_round(bus, lease, sizeof lease);
		bench_release(bus, lease);
		one_bus[i] = one_call_round(bus, lease, sizeof lease);
		bench_release(bus, lease);
		if (sock) {
			socketed[i] = brokered_round(sock, lease, sizeof lease);
			bench_release(sock, lease);
			one_socket[i] = one_call_round(sock, lease, sizeof lease);
			bench_release(sock, lease);
		}
		crash[i] = crash_round(bus);
	}
	double d = median(direct, rounds), b = median(brokered, rounds);
	double cr = median(crash, rounds), rs = median(reset, rounds);
	printf("rounds:                         %d\n", rounds);
	printf("acquire, direct ioctls:         %8.0f us (median)\n", d);
	printf("acquire, via ccdevd:            %8.0f us (median)\n", b);
	printf("acquire ratio ccdevd/direct:    %8.1f\n", b / d);
	double ob = median(one_bus, rounds);
	printf("acquire in one call, bus:       %8.0f us (median), ratio to direct %.2f\n", ob, ob / d);
	if (sock) {
		double so = median(socketed, rounds), os = median(one_socket, rounds);
		printf("acquire, via the direct socket: %8.0f us (median)\n", so);
		printf("acquire ratio socket/direct:    %8.1f\n", so / d);
		printf("acquire in one call, socket:    %8.0f us (median), ratio to direct %.2f\n", os, os / d);
	}
	printf("crash to released:              %8.0f us (median)\n", cr);
	printf("device reset (VFIO_DEVICE_RESET): %6.0f us (median)\n", rs);
	printf("crash to released minus reset:  %8.0f us\n", cr - rs);
	free(direct);
	free(brokered);
	free(crash);
	free(reset);
	free(socketed);
	free(one_bus);
	free(one_socket);
	return 0;
}
