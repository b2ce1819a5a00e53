/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "lease.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-api.h"
#include "bus-client.h"
#include "bus-dmabuf.h"
#include "bus-lease.h"
#include "cleanup.h"
#include "output.h"
#include "strv.h"

int lease_path_parse(const char *s, char **ret)
{
	const char *n = s;
	unsigned long long v;
	char *end;

	if (strncmp(s, CCDEVD_LEASE_PREFIX "/", strlen(CCDEVD_LEASE_PREFIX "/")) == 0)
		n = s + strlen(CCDEVD_LEASE_PREFIX "/");
	errno = 0;
	v = strtoull(n, &end, 10);
	if (*n < '0' || *n > '9' || *end || errno != 0)
		return ctl_error_errno(EINVAL, "'%s' is not a lease; expected %s/N or N, e.g. %s/1.", s,
				       CCDEVD_LEASE_PREFIX, CCDEVD_LEASE_PREFIX);
	if (asprintf(ret, "%s/%llu", CCDEVD_LEASE_PREFIX, v) < 0)
		return ctl_error_errno(ENOMEM, "Out of memory.");
	return 0;
}

/* Holding a lease until a signal, or until ccdevd ends it. */
struct hold {
	bool done;
	int result; /* once done */
};

/* Released by someone else (root, or another process of the owner): the
 * lease ended as a lease should; for any other reason it was lost. */
static void acquire_lease_ended(struct lease *l, const char *reason, void *userdata)
{
	struct hold *h = userdata;

	ctl_error("Lease %s ended: %s.", l->path, reason);
	*h = (struct hold){ .done = true, .result = strcmp(reason, "released") == 0 ? 0 : -ENOLINK };
}

static int acquire_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct hold *h = userdata;

	*h = (struct hold){ .done = true, .result = 0 };
	return 0;
}

int verb_acquire(int argc, char *argv[], const struct ctl_options *o)
{
	static const int hold_signals[] = { SIGINT, SIGTERM, SIGHUP };
	_cleanup_(sd_event_unrefp) sd_event *event = NULL;
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(lease_freep) struct lease *l = NULL; /* released on every return */
	_cleanup_strv_free_ char **addresses = NULL;
	struct hold h = {};
	sigset_t mask;
	int r;

	r = ctl_parse_addresses(argv + 1, (size_t)argc - 1, &addresses);
	if (r < 0)
		return r;

	r = bus_connect_with_event(&event, &bus);
	if (r < 0)
		return r;

	r = lease_create(bus, addresses, !o->raw, acquire_lease_ended, &h, &l);
	if (r < 0)
		return r;

	/* From here on a signal ends the lease with Release(), not by death:
	 * blocked before the fds are printed, so a script that read them and
	 * then sends SIGTERM always gets a clean release. */
	sigemptyset(&mask);
	for (size_t i = 0; i < ELEMENTSOF(hold_signals); i++)
		sigaddset(&mask, hold_signals[i]);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return ctl_error_errno(errno, "Failed to block signals: %m");
	for (size_t i = 0; i < ELEMENTSOF(hold_signals); i++) {
		r = sd_event_add_signal(event, NULL, hold_signals[i], acquire_signal, &h);
		if (r < 0)
			return ctl_error_errno(r, "Failed to watch for signals: %m");
	}

	r = o->json ? output_lease_json(l) : output_lease(l);
	if (r < 0)
		return r;
	if (fflush(stdout) != 0)
		return ctl_error_errno(errno, "Failed to write the output: %m");
	if (!o->json && isatty(STDERR_FILENO))
		fprintf(stderr, "Holding the lease; press Ctrl-C or send SIGTERM to release it.\n");

	/* Not sd_event_loop(): when that ends, sd-bus closes the connection,
	 * and with it the lease, before Release() could be called. */
	while (!h.done) {
		r = sd_event_run(event, UINT64_MAX);
		if (r < 0)
			return ctl_error_errno(r, "Event loop failed: %m");
	}
	if (h.result < 0)
		return h.result;
	return lease_release(l);
}

/* release --force ADDRESS: root kills what holds a releasing device open. */
static int release_force(const char *arg, const struct ctl_options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(killed_list_done) struct killed_list k = {};
	char address[BDF_STRING_MAX];
	int r;

	r = ctl_parse_address(arg, address);
	if (r < 0)
		return r;
	r = bus_connect(&bus);
	if (r < 0)
		return r;
	r = bus_force_release(bus, address, &k);
	if (r < 0)
		return r;
	return o->json ? output_killed_json(&k) : output_killed(&k);
}

int verb_release(int argc, char *argv[], const struct ctl_options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	if (o->force)
		return release_force(argv[1], o);
	r = lease_path_parse(argv[1], &path);
	if (r < 0)
		return r;
	r = bus_connect(&bus);
	if (r < 0)
		return r;
	return bus_release_lease(bus, path);
}

int verb_reset(int argc, char *argv[], const struct ctl_options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(device_info_done) struct device_info d = {};
	char address[BDF_STRING_MAX];
	int r;

	r = ctl_parse_address(argv[1], address);
	if (r < 0)
		return r;
	r = bus_connect(&bus);
	if (r < 0)
		return r;
	r = bus_get_device(bus, address, &d, NULL);
	if (r < 0)
		return r;
	/* Only a lease can reset its device: ccdevd orders the reset with
	 * the lease's mappings (org.ccdevd1(5)). */
	if (strcmp(d.lease, "/") == 0)
		return ctl_error_errno(ENOLINK, "Device %s is not leased; only a leased device can be reset.",
				       address);
	return bus_reset_device(bus, d.lease, address);
}

int verb_bind(int argc, char *argv[], const struct ctl_options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_free_ char *path = NULL;
	char address[BDF_STRING_MAX];
	uint32_t dev_id, pt_id;
	int r;

	r = lease_path_parse(argv[1], &path);
	if (r < 0)
		return r;
	r = ctl_parse_address(argv[2], address);
	if (r < 0)
		return r;
	r = bus_connect(&bus);
	if (r < 0)
		return r;
	r = bus_bind_device(bus, path, address, &dev_id, &pt_id);
	if (r < 0)
		return r;
	return o->json ? output_bound_json(dev_id, pt_id) : output_bound(dev_id, pt_id);
}

int verb_leases(int argc, char *argv[], const struct ctl_options *o)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(lease_list_done) struct lease_list l = {};
	int r;

	r = bus_connect(&bus);
	if (r < 0)
		return r;
	r = bus_list_leases(bus, &l);
	if (r >= 0 && o->mappings)
		r = bus_read_lease_dmabufs(bus, &l);
	if (r < 0)
		return r;
	if (o->json)
		return output_leases_json(&l, o->mappings);
	r = output_lease_table(&l, o->legend);
	if (r < 0 || !o->mappings)
		return r;
	return output_lease_dmabuf_tables(&l, o->legend);
}
