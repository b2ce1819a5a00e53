/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scale-bench: what many concurrent leases cost, measured side by side in
 * one run.
 *
 *   scale-bench --device BDF [--rounds N] [--idle SECONDS] [--state-file PATH]
 *
 * Runs as root in the VM tier's guest with ccdevd on the system bus, the
 * device managed with on_release "keep-vfio" and limits.leases_per_user
 * above 128 (root is not counted against it, but a config that is run as
 * another user should not fail on it).  K empty leases (CreateLease only)
 * are held from HOLDERS connections of this process, round robin; then:
 *   cost     the daemon's VmRSS and open files with K = 0, 32, 128 held
 *            (and 0 again after: what is not given back), and the size of
 *            its state file (--state-file: rewritten on each lease change);
 *   acquire  per round, for each K in 1, 32, 128 (the order reversed every
 *            other round, so drift and the held-lease churn hit all alike):
 *            one more lease on a connection of its own, each call timed:
 *            CreateLease, AttachDevice (fds in hand), Release (teardown
 *            done; the device file is closed before it);
 *   idle     the daemon's context switches (voluntary + involuntary, summed
 *            over its threads) over an idle window with 0 and with 128
 *            leases held; nothing talks to the bus meanwhile.
 * Prints medians and the ratios to K = 1, the cost slopes per lease, and
 * the switches per window.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bench.h"
#include "bus-api.h"
#include "cleanup.h"

#define HOLDERS 4
#define MAX_HELD 128

static const unsigned ks[] = { 1, 32, 128 };
#define N_KS (sizeof(ks) / sizeof(ks[0]))

static sd_bus *holder[HOLDERS];
static char held[MAX_HELD][128];
static unsigned n_held;
static pid_t daemon_pid;

/* Create or release held leases (the newest first) until @k are held. */
static void hold(unsigned k)
{
	while (n_held < k) {
		bench_create_lease(holder[n_held % HOLDERS], held[n_held], sizeof held[0]);
		n_held++;
	}
	while (n_held > k) {
		n_held--;
		bench_release(holder[n_held % HOLDERS], held[n_held]);
	}
	for (int i = 0; i < HOLDERS; i++)
		drain(holder[i]);
}

/* One lease of the device on @bus, each call timed: CreateLease,
 * AttachDevice (the fds in hand), Release (the teardown done). */
struct cycle {
	double create, attach, release;
};

static void lease_round(sd_bus *bus, const char *bdf, struct cycle *c)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	uint32_t dev_id, pt_id;
	char lease[128];
	int devfd, r;
	double t0 = now_us(), t1, t2;

	bench_create_lease(bus, lease, sizeof lease);
	t1 = now_us();
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, lease, CCDEVD_LEASE_IFACE, "AttachDevice", &e, &reply,
			       "sa{sv}", bdf, 0);
	if (r < 0)
		die(e.message ? e.message : "AttachDevice", r);
	r = sd_bus_message_read(reply, "huu", &devfd, &dev_id, &pt_id);
	if (r < 0)
		die("AttachDevice reply", r);
	t2 = now_us();
	/* The device file goes before Release, as a well-behaved client's
	 * would: the teardown need not wait for it. */
	reply = sd_bus_message_unref(reply);
	bench_release(bus, lease);
	c->create = t1 - t0;
	c->attach = t2 - t1;
	c->release = now_us() - t2;
	drain(bus);
}

/* Switches over @seconds of silence with @k leases held. */
static long idle_window(unsigned k, unsigned seconds)
{
	long before;

	hold(k);
	sleep(1); /* let whatever the last call started settle */
	before = bench_daemon_switches(daemon_pid);
	sleep(seconds);
	return bench_daemon_switches(daemon_pid) - before;
}

/* The size of the daemon's state file (rewritten on each lease change), or
 * -1 without one. */
static long file_size(const char *path)
{
	struct stat st;

	return path && stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "idle", required_argument, NULL, 'i' },
		{ "state-file", required_argument, NULL, 's' },
		{}
	};
	static const unsigned cost_ks[] = { 0, 32, 128, 0 };
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	const char *bdf = NULL;
	int rounds = 20, idle = 10, c;
	long rss[4], fds[4];
	double *create[N_KS], *attach[N_KS], *acquire[N_KS], *rel[N_KS], *cycle[N_KS];
	const char *state_file = NULL;
	long state_size[4];

	while ((c = getopt_long(argc, argv, "d:n:i:s:", options, NULL)) >= 0) {
		if (c == 'd')
			bdf = optarg;
		else if (c == 'n')
			rounds = atoi(optarg);
		else if (c == 'i')
			idle = atoi(optarg);
		else if (c == 's')
			state_file = optarg;
		else
			return 2;
	}
	if (!bdf || rounds < 1 || rounds > 10000 || idle < 1 || idle > 600) {
		fprintf(stderr, "usage: scale-bench --device BDF [--rounds N] [--idle SECONDS] [--state-file PATH]\n");
		return 2;
	}
	if (sd_bus_open_system(&bus) < 0)
		die("cannot connect to the system bus", EIO);
	for (int i = 0; i < HOLDERS; i++)
		if (sd_bus_open_system(&holder[i]) < 0)
			die("cannot connect to the system bus", EIO);
	daemon_pid = bench_find_daemon(bus);
	for (size_t k = 0; k < N_KS; k++)
		if (!(create[k] = calloc((size_t)rounds, sizeof(double))) ||
		    !(attach[k] = calloc((size_t)rounds, sizeof(double))) ||
		    !(acquire[k] = calloc((size_t)rounds, sizeof(double))) ||
		    !(rel[k] = calloc((size_t)rounds, sizeof(double))) ||
		    !(cycle[k] = calloc((size_t)rounds, sizeof(double))))
			die("calloc", ENOMEM);

	{ /* warm-up: puts the device on vfio-pci and faults the paths in */
		struct cycle w;
		lease_round(bus, bdf, &w);
		hold(1);
		hold(0);
	}
	/* Before anything else held many leases: the allocator's high-water
	 * mark would hide what they cost. */
	for (size_t i = 0; i < 4; i++) {
		hold(cost_ks[i]);
		bench_daemon_cost(daemon_pid, &rss[i], &fds[i]);
		state_size[i] = file_size(state_file);
	}
	for (int i = 0; i < rounds; i++)
		for (size_t j = 0; j < N_KS; j++) {
			size_t k = i % 2 ? N_KS - 1 - j : j;
			struct cycle cy;
			hold(ks[k]);
			lease_round(bus, bdf, &cy);
			create[k][i] = cy.create;
			attach[k][i] = cy.attach;
			acquire[k][i] = cy.create + cy.attach;
			rel[k][i] = cy.release;
			cycle[k][i] = cy.create + cy.attach + cy.release;
		}
	long idle0 = idle_window(0, (unsigned)idle);
	long idle128 = idle_window(MAX_HELD, (unsigned)idle);
	hold(0);

	printf("rounds:                              %d\n", rounds);
	printf("median us     CreateLease AttachDevice  acquire  Release    cycle   ratio to K=1: acquire cycle\n");
	double a1 = median(acquire[0], rounds), c1 = median(cycle[0], rounds);
	for (size_t k = 0; k < N_KS; k++) {
		double a = median(acquire[k], rounds), cy = median(cycle[k], rounds);
		printf("K=%-3u held   %11.0f %12.0f %8.0f %8.0f %8.0f                 %5.2f %5.2f\n", ks[k],
		       median(create[k], rounds), median(attach[k], rounds), a, median(rel[k], rounds), cy, a / a1,
		       cy / c1);
	}
	for (size_t i = 0; i < 4; i++) {
		printf("%-3u leases held: daemon VmRSS %6ld kB, %4ld fds", cost_ks[i], rss[i], fds[i]);
		if (state_size[i] >= 0)
			printf(", state file %6ld bytes", state_size[i]);
		printf("%s\n", i == 3 ? " (after releasing them all)" : "");
	}
	printf("per lease (0 -> 128): %.1f kB RSS, %.2f fds", (double)(rss[2] - rss[0]) / MAX_HELD,
	       (double)(fds[2] - fds[0]) / MAX_HELD);
	if (state_size[2] >= 0 && state_size[0] >= 0)
		printf(", %.0f bytes of state file", (double)(state_size[2] - state_size[0]) / MAX_HELD);
	printf("\n");
	printf("idle %d s, 0 leases held:   %ld context switches\n", idle, idle0);
	printf("idle %d s, 128 leases held: %ld context switches\n", idle, idle128);
	for (size_t k = 0; k < N_KS; k++) {
		free(create[k]);
		free(attach[k]);
		free(acquire[k]);
		free(rel[k]);
		free(cycle[k]);
	}
	for (int i = 0; i < HOLDERS; i++)
		sd_bus_flush_close_unref(holder[i]);
	return 0;
}
