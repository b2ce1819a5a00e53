/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dmabuf-bench: what the ordered reset costs over the bare one, with 0, 1, 8
 * and 64 live dma-buf mappings, measured side by side in one run.
 *
 *   dmabuf-bench --device BDF [--rounds N]
 *
 * Runs as root in the VM tier's guest with ccdevd on the system bus and the
 * device managed.  One lease holds the device; its BAR 0's first page is
 * mapped N times into the lease's own IOAS (MapDmaBuf, one IOVA each).  Per
 * round, alternating so drift hits all alike:
 *   bare     VFIO_DEVICE_RESET on the lease's device fd, in this process
 *            (the daemon does nothing: no unmap, no re-map);
 *   ordered  Lease.ResetDevice with N mappings: the daemon unmaps each,
 *            resets, maps each again and signals the importer.
 * Prints medians, ordered - bare, and ordered / bare for each N.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bench.h"
#include "bus-api.h"
#include "cleanup.h"
#include "kernel-uapi.h"

#define IOVA_BASE 0x10000000ULL
#define PAGE 0x1000ULL

static const unsigned counts[] = { 0, 1, 8, 64 };
#define N_COUNTS (sizeof(counts) / sizeof(counts[0]))

static void call(sd_bus *bus, const char *path, const char *member, sd_bus_message **reply, const char *types,
		 ...)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	va_list ap;
	int r;

	r = sd_bus_message_new_method_call(bus, &m, CCDEVD_BUS_NAME, path,
					   strcmp(path, CCDEVD_OBJECT_ROOT) == 0 ? CCDEVD_MANAGER_IFACE
										 : CCDEVD_LEASE_IFACE, member);
	if (r >= 0 && types) {
		va_start(ap, types);
		r = sd_bus_message_appendv(m, types, ap);
		va_end(ap);
	}
	if (r >= 0)
		r = sd_bus_call(bus, m, 0, &e, reply);
	if (r < 0)
		die(e.message ? e.message : member, r);
}

/* Map the first page of BAR 0 at IOVA_BASE + k pages, for k in [from, to). */
static void map_pages(sd_bus *bus, const char *lease, const char *bdf, unsigned from, unsigned to)
{
	for (unsigned k = from; k < to; k++) {
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
		call(bus, lease, "MapDmaBuf", &reply, "sua(tt)a{sv}", bdf, 0, 1, (uint64_t)0, PAGE, 1, "iova", "t",
		     IOVA_BASE + k * PAGE);
	}
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "rounds", required_argument, NULL, 'n' },
		{}
	};
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *created = NULL, *attached = NULL;
	const char *bdf = NULL, *lease;
	int rounds = 20, c, iommufd, devfd;
	uint32_t ioas, dev_id, pt_id;
	double *bare, *ordered[N_COUNTS];

	while ((c = getopt_long(argc, argv, "d:n:", options, NULL)) >= 0) {
		if (c == 'd')
			bdf = optarg;
		else if (c == 'n')
			rounds = atoi(optarg);
		else
			return 2;
	}
	if (!bdf || rounds < 1 || rounds > 10000) {
		fprintf(stderr, "usage: dmabuf-bench --device BDF [--rounds N]\n");
		return 2;
	}
	if (sd_bus_open_system(&bus) < 0)
		die("cannot connect to the system bus", EIO);
	bare = calloc((size_t)rounds, sizeof(double));
	for (size_t i = 0; i < N_COUNTS; i++)
		if (!(ordered[i] = calloc((size_t)rounds, sizeof(double))))
			die("calloc", ENOMEM);
	if (!bare)
		die("calloc", ENOMEM);

	call(bus, CCDEVD_OBJECT_ROOT, "CreateLease", &created, "a{sv}", 0);
	if (sd_bus_message_read(created, "ohu", &lease, &iommufd, &ioas) < 0)
		die("CreateLease reply", EIO);
	call(bus, lease, "AttachDevice", &attached, "sa{sv}", bdf, 0);
	if (sd_bus_message_read(attached, "huu", &devfd, &dev_id, &pt_id) < 0)
		die("AttachDevice reply", EIO);

	for (int i = 0; i < rounds; i++) {
		double t0 = now_us();
		if (ioctl(devfd, VFIO_DEVICE_RESET) < 0)
			die("VFIO_DEVICE_RESET", errno);
		bare[i] = now_us() - t0;
		for (size_t k = 0; k < N_COUNTS; k++) {
			map_pages(bus, lease, bdf, k ? counts[k - 1] : 0, counts[k]);
			t0 = now_us();
			call(bus, lease, "ResetDevice", NULL, "s", bdf);
			ordered[k][i] = now_us() - t0;
			drain(bus);
		}
		for (unsigned p = 0; p < counts[N_COUNTS - 1]; p++)
			call(bus, lease, "UnmapDmaBuf", NULL, "t", IOVA_BASE + p * PAGE);
		drain(bus);
	}

	double b = median(bare, rounds);
	printf("rounds:                              %d\n", rounds);
	printf("reset, bare VFIO_DEVICE_RESET:       %8.0f us (median)\n", b);
	for (size_t k = 0; k < N_COUNTS; k++) {
		double o = median(ordered[k], rounds);
		printf("ResetDevice, %2u mappings:            %8.0f us (median), +%.0f us over bare, ratio %.2f\n",
		       counts[k], o, o - b, o / b);
	}
	call(bus, lease, "Release", NULL, NULL);
	free(bare);
	for (size_t i = 0; i < N_COUNTS; i++)
		free(ordered[i]);
	return 0;
}
