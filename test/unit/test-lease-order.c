/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The order of the steps of attach, rollback, reset and teardown, asserted on
 * the call log of the recording fake kernel (fake-kernel.c, names at its top;
 * an entry ending in '!' is a call that failed).  The daemon's core runs as
 * is: a struct manager with an sd-event loop, a configuration from
 * config_parse(), devices in the fake inventory (fake-inventory.c) and a
 * private sd-bus object that is never connected (emissions fail quietly).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ccdevd/attach.h"
#include "ccdevd/attach-job.h"
#include "ccdevd/config.h"
#include "ccdevd/device.h"
#include "ccdevd/dmabuf.h"
#include "ccdevd/fdstore.h"
#include "ccdevd/group.h"
#include "ccdevd/inventory.h"
#include "ccdevd/kernel/iommufd.h"
#include "ccdevd/lease.h"
#include "ccdevd/manager.h"
#include "ccdevd/memlock.h"
#include "ccdevd/reset.h"
#include "ccdevd/state.h"
#include "ccdevd/state-file.h"
#include "ccdevd/teardown.h"
#include "ccdevd/user-limits.h"
#include "bus-api.h"
#include "cleanup.h"
#include "fake-kernel.h"
#include "log.h"
#include "tap.h"

/* One TAP point named by a sentence (tap.h's RUN() names it by the function). */
#define POINT(name, ...)                                                                      \
	do {                                                                                  \
		tap_point_failed = 0;                                                         \
		__VA_ARGS__;                                                                  \
		tap_n++;                                                                      \
		if (tap_point_failed)                                                         \
			tap_failed++;                                                         \
		printf("%s %d - %s\n", tap_point_failed ? "not ok" : "ok", tap_n, name);    \
		fflush(stdout);                                                               \
	} while (0)

#define CHECK_LOG(flags, expected)                                                                    \
	do {                                                                                         \
		_cleanup_free_ char *_log = fake_log_string(flags);                                   \
		CHECK_MSG(_log && strcmp(_log, expected) == 0, "\n#   got:      %s\n#   expected: %s", \
			  _log ? _log : "(null)", expected);                                          \
	} while (0)

#define ACTIONS 0
#define CLAIM "sysfs:override vfio-pci, sysfs:unbind, sysfs:drivers_probe"
#define RESTORE "sysfs:override \"\", sysfs:unbind, sysfs:drivers_probe"

static const char *config_text =
	"{ \"devices\": [ { \"address\": \"0000:03:00.0\", \"on_release\": \"keep-vfio\" },"
	"                 { \"class\": \"02\" } ] }";

static char root[256];
/* A and B share bus 1 below bridge 0000:00:1c.0 (a reset set, no function
 * reset of their own), N is alone on bus 2, K (keep-vfio) alone on bus 3. */
static char path_a[PATH_MAX], path_b[PATH_MAX], path_n[PATH_MAX], path_k[PATH_MAX];

/* ---- a manager just big enough ---- */

static void on_added(struct device *d, void *userdata)
{
	struct manager *m = userdata;
	struct pci_ident id = {
		.address = d->address, .vendor = d->vendor_id, .device = d->device_id, .class_code = d->class_code,
	};

	/* What manager.c's manager_apply_rule() does at enumeration. */
	d->rule = config_match(m->config, &id);
	d->managed = d->rule != NULL;
	if (d->managed)
		m->n_managed++;
}

static void on_changed(struct device *d, unsigned mask, void *userdata)
{
	manager_device_changed(userdata, d, mask);
}

static const struct inventory_callbacks callbacks = {
	.added = on_added,
	.changed = on_changed,
};

struct world {
	struct manager *m;
	struct lease *l;
};

static struct device *add_device(struct world *w, const char *syspath, int group, const char *const *resets)
{
	struct fake_pci p = {
		.syspath = syspath,
		.vendor_id = 0x8086,
		.device_id = 0x10d3,
		.class_code = 0x020000,
		.iommu_group = group,
		.reset_methods = resets,
	};
	struct device *d = fake_inventory_add(w->m->inventory, &p);

	CHECK_MSG(d, "cannot add %s", syspath);
	return d;
}

static struct lease *new_lease(struct manager *m)
{
	/* lease_new() needs a connected bus (the owner's credentials); the
	 * rest of what it does, by hand. */
	struct lease *l = calloc(1, sizeof(*l));

	if (!l)
		abort();
	l->manager = m;
	l->id = ++m->next_lease_id;
	if (asprintf(&l->object_path, CCDEVD_LEASE_PREFIX "/%u", l->id) < 0)
		abort();
	l->owner_uid = getuid();
	l->owner_pid = getpid();
	l->owner_name = strdup(":1.42");
	l->owner_pidfd = -1;
	l->iommufd = iommufd_open();
	CHECK(l->iommufd >= 0);
	CHECK(iommufd_ioas_alloc(l->iommufd, &l->ioas_id) == 0);
	manager_add_lease(m, l, true);
	return l;
}

static void world_init(struct world *w)
{
	static const char *const flr[] = { "flr", "bus", NULL };
	_cleanup_free_ char *error = NULL;
	struct manager *m;

	fake_reset();
	reset_remove_hooks();
	*w = (struct world){};
	m = w->m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	CHECK(sd_event_new(&m->event) >= 0);
	CHECK(sd_bus_new(&m->bus) >= 0);
	CHECK_MSG(config_parse(config_text, "/etc/ccdevd/test.json", &m->config, &error) == 0, "%s", error);
	CHECK(inventory_new(m->event, &callbacks, m, &m->inventory) == 0);

	fake_device_add(path_a, "e1000e", "e1000e");
	fake_device_add(path_b, "e1000e", "e1000e");
	fake_device_add(path_n, "e1000e", "e1000e");
	fake_device_add(path_k, "e1000e", "e1000e");
	fake_device_set_function_reset(path_a, false);
	fake_device_set_function_reset(path_b, false);
	static const char *const bus_only[] = { "bus", NULL };
	add_device(w, path_a, 10, bus_only);
	add_device(w, path_b, 11, bus_only);
	add_device(w, path_n, 12, flr);
	add_device(w, path_k, 13, flr);
	w->l = new_lease(m);
	fake_log_clear();
}

static struct device *dev(struct world *w, const char *name)
{
	struct bdf address;

	if (bdf_parse(name, &address) < 0)
		abort();
	return inventory_find(w->m->inventory, &address);
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Run the event loop until d's teardown is over, at most timeout. */
static bool run_until_released(struct world *w, struct device *d, uint64_t timeout_usec)
{
	uint64_t deadline = now_usec() + timeout_usec;

	while (d->teardown) {
		uint64_t now = now_usec();
		if (now >= deadline)
			return false;
		if (sd_event_run(w->m->event, deadline - now) < 0)
			return false;
	}
	return true;
}

/* Run the loop until every teardown rests (teardown_resting()): where a
 * Release or DetachDevice would answer.  False if not within timeout. */
static bool settle_within(struct world *w, uint64_t timeout_usec)
{
	uint64_t deadline = now_usec() + timeout_usec;

	for (;;) {
		struct device *const *devices;
		size_t n;
		bool resting = true;

		devices = inventory_devices(w->m->inventory, &n);
		for (size_t i = 0; i < n; i++)
			resting = resting && teardown_resting(devices[i]);
		if (resting)
			return true;
		uint64_t now = now_usec();
		if (now >= deadline || sd_event_run(w->m->event, deadline - now) < 0)
			return false;
	}
}

struct reset_result {
	bool done;
	int r;
};

static void on_reset(int r, const char *why, void *userdata)
{
	struct reset_result *res = userdata;

	*res = (struct reset_result){ .done = true, .r = r };
}

/* ResetDevice as the bus method does it: begun, then the loop runs until
 * the worker's answer.  *ret_why when it did not begin. */
static int reset_and_wait(struct world *w, struct lease_device *ld, char **ret_why)
{
	struct reset_result res = {};
	uint64_t deadline = now_usec() + 3 * 1000 * 1000;
	int r = reset_attached_start(w->m, ld, on_reset, &res, ret_why);

	if (r < 0)
		return r;
	while (!res.done && now_usec() < deadline)
		if (sd_event_run(w->m->event, 100 * 1000) < 0)
			break;
	return res.done ? res.r : -ETIMEDOUT;
}

static bool settle(struct world *w)
{
	return settle_within(w, 5 * 1000 * 1000);
}

static void world_done(struct world *w)
{
	struct manager *m = w->m;
	struct device *const *devices;
	size_t n;

	CHECK_MSG(fake_violations() == 0, "the fake saw %u violation(s), see the log", fake_violations());
	/* End what the test left: leases torn down, teardowns carried to
	 * their end where they can get there. */
	while (m->leases)
		lease_end(m->leases, "test over");
	devices = inventory_devices(m->inventory, &n);
	for (size_t i = 0; i < n; i++) {
		fake_fail_clear();
		fake_device_let_go(devices[i]->syspath);
		(void)run_until_released(w, devices[i], 3 * 1000 * 1000);
		teardown_abandon(m, devices[i]);
	}
	CHECK_MSG(fake_open_files() == 0, "%u device file(s) left open", fake_open_files());
	state_done(m);
	inventory_free(m->inventory);
	config_free(m->config);
	memlock_forget(m);
	sd_bus_unref(m->bus);
	sd_event_unref(m->event);
	free(m);
	reset_remove_hooks();
}

static struct lease_device *attach(struct world *w, struct device *d, bool raw)
{
	_cleanup_free_ char *why = NULL;
	struct lease_device *ld = NULL;
	int r = lease_attach(w->l, d, raw, &ld, &why);

	CHECK_MSG(r == 0 && ld, "attach of %s: %d (%s)", d->name, r, why ? why : "-");
	return r == 0 ? ld : NULL;
}

/* ---- attach ---- */

static void test_attach_bound(void)
{
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, false);

	CHECK_LOG(ACTIONS, CLAIM ", vfio:open, vfio:bind, vfio:attach_pt");
	{
		/* The claim is verified: the driver link is read back after the
		 * probe, before the file is opened. */
		_cleanup_free_ char *all = fake_log_string(FAKE_LOG_QUERIES);
		CHECK_MSG(all && strstr(all, "sysfs:drivers_probe, sysfs:read_driver, sysfs:cdev_path, vfio:open"),
			  "%s", all);
	}
	CHECK(ld && ld->steps_done == (1u << _ATTACH_STEP_MAX) - 1 && ld->claimed && ld->fd >= 0);
	CHECK(d->lease == w.l && d->attachment == ld && d->state == DEVICE_ASSIGNED);
	CHECK(strcmp(d->driver, "vfio-pci") == 0 && strcmp(d->original_driver, "e1000e") == 0);
	CHECK(fake_device_open_files(path_n) == 1);
	world_done(&w);
}

static void test_attach_raw(void)
{
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, true);

	CHECK_LOG(ACTIONS, CLAIM ", vfio:open");
	CHECK(ld && ld->steps_done == (1u << ATTACH_CLAIM | 1u << ATTACH_OPEN) && ld->dev_id == 0 && ld->pt_id == 0);
	CHECK(d->state == DEVICE_ASSIGNED);
	world_done(&w);
}

struct failure_case {
	const char *call;
	unsigned nth;
	int error;
	const char *expected;
};

static const struct failure_case failure_cases[] = {
	{ "sysfs:override vfio-pci", 1, EACCES,
	  "sysfs:override vfio-pci!, " RESTORE },
	{ "sysfs:unbind", 1, EBUSY,
	  "sysfs:override vfio-pci, sysfs:unbind!, " RESTORE },
	{ "sysfs:drivers_probe", 1, EIO,
	  CLAIM "!, " RESTORE },
	/* Nothing bound: the write "succeeds" as far as ccdevd cares, the
	 * read-back finds no vfio-pci. */
	{ "sysfs:drivers_probe", 1, ENODEV,
	  CLAIM "!, " RESTORE },
	{ "sysfs:read_driver", 3, EIO, /* the claim's read-back */
	  CLAIM ", " RESTORE },
	{ "sysfs:cdev_path", 1, ENOENT,
	  CLAIM ", " RESTORE },
	{ "vfio:open", 1, EACCES,
	  CLAIM ", vfio:open!, " RESTORE },
	{ "vfio:bind", 1, EBUSY,
	  CLAIM ", vfio:open, vfio:bind!, vfio:close, " RESTORE },
	{ "vfio:attach_pt", 1, EINVAL,
	  CLAIM ", vfio:open, vfio:bind, vfio:attach_pt!, vfio:close, " RESTORE },
};

static void test_attach_failure(const struct failure_case *c)
{
	_cleanup_free_ char *why = NULL;
	struct lease_device *ld = NULL;
	struct world w;
	int r;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	fake_fail(c->call, c->nth, c->error);
	r = lease_attach(w.l, d, false, &ld, &why);
	CHECK_MSG(r < 0 && !ld, "attach must fail, got %d", r);
	CHECK_MSG(why && why[0], "no explanation for the client");
	CHECK_LOG(ACTIONS, c->expected);
	CHECK(d->lease == NULL && d->attachment == NULL && !d->releasing && w.l->devices == NULL);
	CHECK_MSG(d->state == DEVICE_HOST, "state %s", device_state_to_string(d->state));
	CHECK(strcmp(fake_device_driver(path_n), "e1000e") == 0 && strcmp(fake_device_override(path_n), "") == 0);
	CHECK(fake_device_open_files(path_n) == 0);
	world_done(&w);
}

static void test_vfio_idle_not_claimed(void)
{
	struct world w;

	/* Seen on its host driver first (so original_driver is known), then
	 * moved to vfio-pci by the admin: the attach's undo must not move it. */
	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	fake_device_set_driver(path_n, "vfio-pci");
	CHECK(inventory_refresh(w.m->inventory, d) == 0);
	CHECK(d->state == DEVICE_VFIO_IDLE && strcmp(d->original_driver, "e1000e") == 0);
	fake_log_clear();

	struct lease_device *ld = attach(&w, d, false);
	CHECK_LOG(ACTIONS, "vfio:open, vfio:bind, vfio:attach_pt");
	CHECK(ld && !ld->claimed);
	world_done(&w);

	world_init(&w);
	d = dev(&w, "0000:02:00.0");
	fake_device_set_driver(path_n, "vfio-pci");
	CHECK(inventory_refresh(w.m->inventory, d) == 0);
	fake_log_clear();
	fake_fail("vfio:attach_pt", 1, EINVAL);
	{
		_cleanup_free_ char *why = NULL;
		ld = NULL;
		CHECK(lease_attach(w.l, d, false, &ld, &why) == -EINVAL && !ld);
	}
	CHECK_LOG(ACTIONS, "vfio:open, vfio:bind, vfio:attach_pt!, vfio:close");
	CHECK(strcmp(fake_device_driver(path_n), "vfio-pci") == 0 && d->state == DEVICE_VFIO_IDLE && !d->lease);
	world_done(&w);
}

/* ---- teardown ---- */

#define TEARDOWN_BOUND "vfio:detach_pt, sysfs:unbind_start, vfio:close, sysfs:unbind_finish, sysfs:reset, "

static void test_teardown_bound(void)
{
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, false);
	fake_log_clear();
	if (ld)
		lease_detach(ld, "test");
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
	CHECK_LOG(ACTIONS, TEARDOWN_BOUND RESTORE);
	CHECK(fake_log_count("sysfs:reset") == 1 && fake_log_count("vfio:reset") == 0);
	CHECK(!d->teardown && d->teardown_step == TEARDOWN_NONE && !d->releasing && !d->lease);
	CHECK_MSG(d->state == DEVICE_HOST, "state %s", device_state_to_string(d->state));
	CHECK(strcmp(fake_device_driver(path_n), "e1000e") == 0 && w.l->devices == NULL);
	CHECK(fake_device_open_files(path_n) == 0);
	world_done(&w);
}

static void test_teardown_keep_vfio(void)
{
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:03:00.0");
	CHECK(d->rule && d->rule->on_release == RELEASE_KEEP_VFIO);
	struct lease_device *ld = attach(&w, d, false);
	fake_log_clear();
	if (ld)
		lease_detach(ld, "test");
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
	CHECK_LOG(ACTIONS, TEARDOWN_BOUND CLAIM);
	CHECK(!d->teardown && strcmp(fake_device_driver(path_k), "vfio-pci") == 0);
	CHECK_MSG(d->state == DEVICE_VFIO_IDLE, "state %s", device_state_to_string(d->state));
	world_done(&w);
}

static void test_teardown_raw_never_bound(void)
{
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, true);
	fake_log_clear();
	if (ld)
		lease_detach(ld, "test");
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
	CHECK_LOG(ACTIONS, "sysfs:unbind_start, vfio:close, sysfs:unbind_finish, " RESTORE);
	{
		/* How it knew: GET_INFO on the file failed. */
		_cleanup_free_ char *all = fake_log_string(FAKE_LOG_QUERIES);
		CHECK_MSG(all && strstr(all, "vfio:flags!, vfio:close"), "%s", all);
	}
	CHECK(fake_log_count("sysfs:reset") == 0 && fake_log_count("sysfs:reset_subordinate") == 0);
	CHECK(!d->teardown && d->state == DEVICE_HOST);
	world_done(&w);
}

static void test_teardown_raw_client_bound(void)
{
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, true);
	fake_device_client_bind(path_n);
	fake_log_clear();
	if (ld)
		lease_detach(ld, "test");
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
	CHECK_LOG(ACTIONS, "sysfs:unbind_start, vfio:close, sysfs:unbind_finish, sysfs:reset, " RESTORE);
	CHECK(!d->teardown && d->state == DEVICE_HOST);
	world_done(&w);
}

static void test_teardown_reset_fails(void)
{
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, false);
	fake_log_clear();
	fake_fail("sysfs:reset", 0, EIO);
	if (ld)
		lease_detach(ld, "test");
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
	CHECK_LOG(ACTIONS, "vfio:detach_pt, sysfs:unbind_start, vfio:close, sysfs:unbind_finish, sysfs:reset!");
	CHECK_MSG(d->state == DEVICE_QUARANTINED, "state %s", device_state_to_string(d->state));
	CHECK(d->teardown && d->teardown_step == TEARDOWN_RESET && strstr(d->state_reason, "reset failed"));
	CHECK(strcmp(fake_device_driver(path_n), "") == 0);
	{
		/* Never handed out while quarantined. */
		_cleanup_free_ char *why = NULL;
		struct lease_device *again = NULL;
		fake_log_clear();
		CHECK(lease_attach(w.l, d, false, &again, &why) == -EBUSY && !again);
		CHECK_LOG(FAKE_LOG_QUERIES, "");
	}

	fake_fail_clear();
	fake_log_clear();
	CHECK_MSG(run_until_released(&w, d, 4 * 1000 * 1000), "the retry did not finish the teardown");
	CHECK_LOG(ACTIONS, "sysfs:reset, " RESTORE);
	CHECK_MSG(d->state == DEVICE_HOST && !d->releasing && !d->state_reason[0], "state %s (%s)",
		  device_state_to_string(d->state), d->state_reason);
	CHECK(strcmp(fake_device_driver(path_n), "e1000e") == 0);
	world_done(&w);
}

static void test_teardown_holder(void)
{
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, false);
	fake_device_set_holder(path_n, true);
	fake_log_clear();
	if (ld)
		lease_detach(ld, "test"); /* rests after its 2 s */
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
	CHECK_LOG(ACTIONS, "vfio:detach_pt, sysfs:unbind_start, vfio:close");
	CHECK_MSG(d->state == DEVICE_RELEASING, "state %s", device_state_to_string(d->state));
	CHECK_MSG(strstr(d->state_reason, "pid 4242 (qemu)"), "reason: %s", d->state_reason);
	CHECK(d->teardown && d->teardown_step == TEARDOWN_RELEASE);
	CHECK(fake_log_count("sysfs:reset") == 0);

	fake_log_clear();
	fake_device_let_go(path_n);
	CHECK_MSG(run_until_released(&w, d, 3 * 1000 * 1000), "the release did not finish");
	CHECK_LOG(ACTIONS, "sysfs:unbind_finish, sysfs:reset, " RESTORE);
	CHECK_MSG(d->state == DEVICE_HOST, "state %s", device_state_to_string(d->state));
	world_done(&w);
}

static void test_teardown_unbind_fails(void)
{
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, false);
	fake_log_clear();
	fake_fail("sysfs:unbind_finish", 1, EBUSY);
	if (ld)
		lease_detach(ld, "test");
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
	CHECK_LOG(ACTIONS, "vfio:detach_pt, sysfs:unbind_start, vfio:close, sysfs:unbind_finish!");
	CHECK_MSG(d->state == DEVICE_QUARANTINED, "state %s", device_state_to_string(d->state));
	CHECK(d->teardown && d->teardown_step == TEARDOWN_RELEASE);
	CHECK(strcmp(fake_device_driver(path_n), "vfio-pci") == 0);

	fake_log_clear();
	CHECK_MSG(run_until_released(&w, d, 4 * 1000 * 1000), "the retry did not finish the teardown");
	/* The daemon's file is closed already: the retry only unbinds again. */
	CHECK_LOG(ACTIONS, "sysfs:unbind_start, sysfs:unbind_finish, sysfs:reset, " RESTORE);
	CHECK_MSG(d->state == DEVICE_HOST, "state %s", device_state_to_string(d->state));
	world_done(&w);
}

static void use_state_file(struct world *w);
static void done_state_file(struct world *w);
static int saved_worker_pid(struct world *w, const struct device *d, pid_t pid);

/* The reset and the driver step run in workers: while the kernel takes its
 * time the loop goes on (another device is attached meanwhile), nothing is
 * at rest, and the steps follow in order once the worker returns. */
static void test_teardown_slow_reset(void)
{
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0"), *k = dev(&w, "0000:03:00.0");
	struct lease_device *ld = attach(&w, d, false);
	use_state_file(&w);
	fake_hold_children(true);
	fake_log_clear();
	if (ld)
		lease_detach(ld, "test");
	CHECK(!settle_within(&w, 300 * 1000));
	CHECK_MSG(fake_children_running() == 1, "%u workers", fake_children_running());
	CHECK_LOG(ACTIONS, "vfio:detach_pt, sysfs:unbind_start, vfio:close, sysfs:unbind_finish");
	CHECK(d->teardown && d->teardown_step == TEARDOWN_RESET && !teardown_resting(d));
	/* Should the daemon die now, the next one waits for this worker. */
	CHECK_MSG(teardown_worker_pid(d) > 0 && saved_worker_pid(&w, d, teardown_worker_pid(d)) == 1,
		  "the state file does not name the reset's worker (pid %d)", (int)teardown_worker_pid(d));
	CHECK_MSG(d->state == DEVICE_RELEASING, "state %s", device_state_to_string(d->state));
	/* Served meanwhile. */
	fake_log_clear();
	CHECK(attach(&w, k, false) != NULL);
	CHECK(fake_log_count("vfio:attach_pt") == 1 && fake_log_count("sysfs:reset") == 0);

	fake_log_clear();
	fake_hold_children(false);
	CHECK_MSG(run_until_released(&w, d, 3 * 1000 * 1000), "the teardown did not finish");
	CHECK_LOG(ACTIONS, "sysfs:reset, " RESTORE);
	CHECK_MSG(d->state == DEVICE_HOST, "state %s", device_state_to_string(d->state));
	CHECK(k->state == DEVICE_ASSIGNED);
	done_state_file(&w);
	world_done(&w);
}

static void test_teardown_force(void)
{
	struct fd_holder killed[4];
	_cleanup_free_ char *why = NULL;
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, false);
	fake_device_set_holder(path_n, true);
	if (ld)
		lease_detach(ld, "test");
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
	CHECK(d->state == DEVICE_RELEASING);
	fake_log_clear();
	CHECK_MSG(teardown_force(d, killed, 4, &why) == 1 && killed[0].pid == 4242, "%s", why ? why : "-");
	CHECK_MSG(run_until_released(&w, d, 3 * 1000 * 1000), "the release did not finish");
	CHECK_LOG(ACTIONS, "proc:kill 4242, sysfs:unbind_finish, sysfs:reset, " RESTORE);
	CHECK(d->state == DEVICE_HOST);
	world_done(&w);
}

/* ---- reset ---- */

static void hook_before(struct lease_device *ld, void *userdata)
{
	fake_log_note(ld->name, "hook:%s:before", (const char *)userdata);
}

static void hook_after(struct lease_device *ld, int r, void *userdata)
{
	fake_log_note(ld->name, "hook:%s:after %d", (const char *)userdata, r);
}

static void test_reset_hooks(void)
{
	_cleanup_free_ char *why = NULL;
	struct world w;

	world_init(&w);
	struct device *a = dev(&w, "0000:01:00.0"), *b = dev(&w, "0000:01:00.1");
	/* Neither has a reset of its own: one is handed out only while the
	 * other is off its host driver (group.c). */
	fake_device_set_driver(b->syspath, "vfio-pci");
	(void)inventory_refresh(w.m->inventory, b);
	struct lease_device *la = attach(&w, a, false);
	attach(&w, b, false);
	CHECK(reset_add_hook(&(struct reset_hook){ "H1", hook_before, hook_after, (void *)"H1" }) == 0);
	CHECK(reset_add_hook(&(struct reset_hook){ "H2", hook_before, hook_after, (void *)"H2" }) == 0);
	fake_log_clear();
	if (la)
		CHECK_MSG(reset_and_wait(&w, la, &why) == 0, "%s", why ? why : "-");
	CHECK_LOG(FAKE_LOG_DEVICE,
		  "0000:01:00.0 hook:H1:before, 0000:01:00.1 hook:H1:before, "
		  "0000:01:00.0 hook:H2:before, 0000:01:00.1 hook:H2:before, "
		  "0000:01:00.0 vfio:hot_reset, "
		  "0000:01:00.0 hook:H2:after 0, 0000:01:00.1 hook:H2:after 0, "
		  "0000:01:00.0 hook:H1:after 0, 0000:01:00.1 hook:H1:after 0");
	CHECK(a->lease == w.l && b->lease == w.l);
	world_done(&w);
}

static void test_reset_hooks_function(void)
{
	_cleanup_free_ char *why = NULL;
	struct world w;

	world_init(&w);
	struct device *n = dev(&w, "0000:02:00.0");
	struct lease_device *ln = attach(&w, n, false);
	attach(&w, dev(&w, "0000:03:00.0"), false);
	CHECK(reset_add_hook(&(struct reset_hook){ "H1", hook_before, hook_after, (void *)"H1" }) == 0);
	CHECK(reset_add_hook(&(struct reset_hook){ "H2", hook_before, hook_after, (void *)"H2" }) == 0);
	fake_log_clear();
	if (ln)
		CHECK_MSG(reset_and_wait(&w, ln, &why) == 0, "%s", why ? why : "-");
	CHECK_LOG(FAKE_LOG_DEVICE, "0000:02:00.0 hook:H1:before, 0000:02:00.0 hook:H2:before, 0000:02:00.0 vfio:reset, "
				   "0000:02:00.0 hook:H2:after 0, 0000:02:00.0 hook:H1:after 0");
	world_done(&w);
}

/* dma-bufs (dmabuf.c): a P2P mapping of N's BAR 0 into the lease's IOAS is
 * unmapped before N's reset and mapped again after it; when N leaves the
 * lease, its mapping leaves the IOAS before anything of N's teardown. */
static void test_dmabuf_reset_and_leave(void)
{
	_cleanup_free_ char *why = NULL;
	struct vfio_dma_slice page = { 0, 0x1000 };
	uint64_t iova = 0x8000000;
	struct world w;

	world_init(&w);
	struct device *n = dev(&w, "0000:02:00.0");
	struct lease_device *ln = attach(&w, n, false);
	dmabuf_register_reset_hook(w.m);
	fake_log_clear();
	if (ln)
		CHECK_MSG(dmabuf_map(w.l, ln, 0, &page, true, &iova, &why) == 0, "%s", why ? why : "-");
	CHECK_LOG(ACTIONS, "vfio:export_dma_buf, iommufd:map_file");
	CHECK(iova == 0x8000000 && w.l->mappings && w.l->mappings->mapped);
	fake_log_clear();
	if (ln)
		CHECK_MSG(reset_and_wait(&w, ln, &why) == 0, "%s", why ? why : "-");
	CHECK_LOG(ACTIONS, "iommufd:unmap, vfio:reset, iommufd:map_file");
	CHECK(w.l->mappings && w.l->mappings->mapped && w.l->mappings->iova == 0x8000000);

	/* A re-map that fails leaves the mapping revoked, not half there. */
	fake_fail("iommufd:map_file", 1, ENODEV);
	fake_log_clear();
	if (ln)
		CHECK(reset_and_wait(&w, ln, &why) == 0);
	CHECK_LOG(ACTIONS, "iommufd:unmap, vfio:reset, iommufd:map_file!");
	CHECK(w.l->mappings && !w.l->mappings->mapped);
	fake_fail_clear();
	unsigned restored = 0;
	free(why);
	why = NULL;
	if (ln)
		CHECK_MSG(dmabuf_refresh(ln, &restored, &why) == 0 && restored == 1, "%s", why ? why : "-");
	CHECK(w.l->mappings && w.l->mappings->mapped);

	fake_log_clear();
	if (ln)
		lease_detach(ln, "test");
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
	_cleanup_free_ char *log = fake_log_string(ACTIONS);
	CHECK_MSG(log && strncmp(log, "iommufd:unmap, vfio:detach_pt", 29) == 0, "got: %s", log ? log : "-");
	CHECK(!w.l->mappings);
	world_done(&w);
}

/* Both functions of the two-function set, with no reset of their own,
 * attached to w's lease (in *a, *b). */
static void lease_reset_set(struct world *w, struct device **a, struct device **b)
{
	world_init(w);
	*a = dev(w, "0000:01:00.0");
	*b = dev(w, "0000:01:00.1");
	/* One is handed out only while the other is off its host driver
	 * (group.c). */
	fake_device_set_driver((*b)->syspath, "vfio-pci");
	(void)inventory_refresh(w->m->inventory, *b);
	attach(w, *a, false);
	attach(w, *b, false);
}

static void test_reset_set_teardown(void)
{
	struct world w;

	struct device *a, *b;

	lease_reset_set(&w, &a, &b);
	fake_log_clear();
	lease_end(w.l, "test");
	w.l = NULL;
	CHECK_MSG(settle(&w), "the teardowns did not come to rest");
	CHECK_LOG(FAKE_LOG_DEVICE,
		  /* reverse attach order, every release begun before any waits;
		   * the IOAS goes once both are detached; each file once its
		   * unbind holds the device (from the loop) */
		  "0000:01:00.1 vfio:detach_pt, 0000:01:00.1 sysfs:unbind_start, "
		  "0000:01:00.0 vfio:detach_pt, 0000:01:00.0 sysfs:unbind_start, - iommufd:destroy, "
		  "0000:01:00.1 vfio:close, 0000:01:00.0 vfio:close, "
		  /* B: no reset of its own; its set waits for A's release */
		  "0000:01:00.1 sysfs:unbind_finish, 0000:01:00.1 sysfs:reset!, "
		  "0000:01:00.0 sysfs:unbind_finish, "
		  /* one hot reset for both (companions' workers never overlap:
		   * A's own reset waited, then the set's covered it) */
		  "0000:00:1c.0 sysfs:reset_subordinate, "
		  "0000:01:00.1 sysfs:override \"\", 0000:01:00.1 sysfs:unbind, 0000:01:00.1 sysfs:drivers_probe, "
		  "0000:01:00.0 sysfs:override \"\", 0000:01:00.0 sysfs:unbind, 0000:01:00.0 sysfs:drivers_probe");
	CHECK(fake_log_count("sysfs:reset_subordinate") == 1);
	CHECK(!a->teardown && !b->teardown && a->state == DEVICE_HOST && b->state == DEVICE_HOST);
	world_done(&w);
}

/* A hot reset that fails with ENOTTY (as the kernel says when the slot
 * cannot be reset) is a failure: quarantined once, not retried at once as if
 * it were a missing function reset. */
static void test_reset_set_hot_enotty(void)
{
	struct world w;

	struct device *a, *b;

	lease_reset_set(&w, &a, &b);
	fake_fail("sysfs:reset_subordinate", 0, ENOTTY);
	fake_log_clear();
	lease_end(w.l, "test");
	w.l = NULL;
	CHECK_MSG(settle(&w), "the teardowns did not come to rest");
	/* One attempt each, the second after the first ended. */
	CHECK_MSG(fake_log_count("sysfs:reset_subordinate") == 2, "%u hot resets",
		  fake_log_count("sysfs:reset_subordinate"));
	CHECK_MSG(a->state == DEVICE_QUARANTINED && strstr(a->state_reason, "hot reset"), "%s: %s",
		  device_state_to_string(a->state), a->state_reason);
	CHECK_MSG(b->state == DEVICE_QUARANTINED && strstr(b->state_reason, "hot reset"), "%s: %s",
		  device_state_to_string(b->state), b->state_reason);
	fake_fail_clear();
	world_done(&w);
}

/* ---- BindDevice ---- */

static void test_lease_bind(void)
{
	_cleanup_free_ char *why = NULL, *why2 = NULL;
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, true);
	fake_log_clear();
	if (ld) {
		CHECK_MSG(lease_bind(ld, &why) == 0, "%s", why ? why : "-");
		CHECK_LOG(ACTIONS, "vfio:bind, vfio:attach_pt");
		CHECK(ld->steps_done == (1u << _ATTACH_STEP_MAX) - 1 && ld->pt_id == w.l->ioas_id);
		fake_log_clear();
		CHECK(lease_bind(ld, &why2) == LEASE_ALREADY_BOUND && why2);
		CHECK_LOG(FAKE_LOG_QUERIES, "");
		/* Torn down as a bound file: detach, then one reset. */
		fake_log_clear();
		lease_detach(ld, "test");
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
		CHECK_LOG(ACTIONS, TEARDOWN_BOUND RESTORE);
	}
	world_done(&w);
}

static void test_lease_bind_attach_fails(void)
{
	_cleanup_free_ char *why = NULL;
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, true);
	fake_log_clear();
	fake_fail("vfio:attach_pt", 1, EINVAL);
	if (ld) {
		CHECK(lease_bind(ld, &why) == -EINVAL && why);
		/* A bind has no undo: it lasts until the file's last close. */
		CHECK_LOG(ACTIONS, "vfio:bind, vfio:attach_pt!");
		CHECK(ATTACH_STEP_DONE(ld, ATTACH_OPEN) && !ATTACH_STEP_DONE(ld, ATTACH_PT) && ld->fd >= 0);
		CHECK(d->lease == w.l && fake_device_open_files(path_n) == 1);
		/* The file was bound: its teardown resets the device. */
		fake_log_clear();
		lease_detach(ld, "test");
	CHECK_MSG(settle(&w), "the teardown did not come to rest");
		CHECK_LOG(ACTIONS, "sysfs:unbind_start, vfio:close, sysfs:unbind_finish, sysfs:reset, " RESTORE);
	}
	world_done(&w);
}

static void test_lease_bind_client_bound(void)
{
	_cleanup_free_ char *why = NULL;
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease_device *ld = attach(&w, d, true);
	fake_device_client_bind(path_n);
	fake_log_clear();
	if (ld)
		CHECK(lease_bind(ld, &why) == LEASE_ALREADY_BOUND && why);
	CHECK_LOG(FAKE_LOG_QUERIES, "vfio:flags");
	world_done(&w);
}

/* ---- setup ---- */

static void make_dir(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void make_dir(const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
}

static void make_tree(void)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;

	snprintf(root, sizeof root, "%s/ccdevd-lease-order-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		exit(1);
	}
	make_dir("%s/pci0000:00", root);
	make_dir("%s/pci0000:00/0000:00:1c.0", root);
	/* group.c looks for the bridge's reset_subordinate itself. */
	snprintf(path_a, sizeof path_a, "%s/pci0000:00/0000:00:1c.0/reset_subordinate", root);
	f = fopen(path_a, "w");
	if (f)
		fclose(f);
	snprintf(path_a, sizeof path_a, "%s/pci0000:00/0000:00:1c.0/0000:01:00.0", root);
	snprintf(path_b, sizeof path_b, "%s/pci0000:00/0000:00:1c.0/0000:01:00.1", root);
	snprintf(path_n, sizeof path_n, "%s/pci0000:00/0000:00:1d.0/0000:02:00.0", root);
	snprintf(path_k, sizeof path_k, "%s/pci0000:00/0000:00:1e.0/0000:03:00.0", root);
}

static void remove_tree(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/pci0000:00/0000:00:1c.0/reset_subordinate", root);
	unlink(path);
	snprintf(path, sizeof path, "%s/pci0000:00/0000:00:1c.0", root);
	rmdir(path);
	snprintf(path, sizeof path, "%s/pci0000:00", root);
	rmdir(path);
	rmdir(root);
}

/* ---- the reset-set rule (group.c) ---- */

static void test_reset_set_with_host_driver_member_refused(void)
{
	_cleanup_free_ char *why = NULL;
	struct lease_device *ld = NULL;
	struct world w;

	world_init(&w);
	/* a and b: own IOMMU groups, no reset of their own, one bus. */
	struct device *a = dev(&w, "0000:01:00.0");
	CHECK(lease_attach(w.l, a, false, &ld, &why) == RESET_SET_NOT_VIABLE && !ld);
	CHECK_MSG(why && strstr(why, "0000:01:00.1") && strstr(why, "e1000e"), "%s", why ? why : "-");
	CHECK_LOG(ACTIONS, "");
	CHECK(!a->lease);
	world_done(&w);
}

static void test_reset_set_split_between_owners_refused(void)
{
	_cleanup_free_ char *why = NULL;
	struct lease_device *ld = NULL;
	struct world w;

	world_init(&w);
	struct device *a = dev(&w, "0000:01:00.0"), *b = dev(&w, "0000:01:00.1");
	fake_device_set_driver(a->syspath, "vfio-pci");
	(void)inventory_refresh(w.m->inventory, a);
	struct lease *other = new_lease(w.m);
	other->owner_uid = w.l->owner_uid + 1;
	CHECK(lease_attach(other, b, false, &ld, &why) == 0 && ld);
	free(TAKE_PTR(why));
	fake_log_clear();
	ld = NULL;
	CHECK(lease_attach(w.l, a, false, &ld, &why) == RESET_SET_NOT_VIABLE && !ld);
	CHECK_MSG(why && strstr(why, "0000:01:00.1") && strstr(why, "never split"), "%s", why ? why : "-");
	CHECK_LOG(ACTIONS, "");
	CHECK(!a->lease && b->lease == other);
	world_done(&w);
}

/* ---- per-connection limits (user-limits.c) ---- */

static void test_per_connection_limits(void)
{
	_cleanup_free_ char *why = NULL;
	struct lease_device *ld = NULL;
	struct world w;

	world_init(&w);
	w.m->config->leases_per_connection = 1;
	w.m->config->devices_per_connection = 1;
	w.l->owner_uid = 1000;
	struct device *n = dev(&w, "0000:02:00.0"), *k = dev(&w, "0000:03:00.0");
	CHECK(attach(&w, n, false));
	/* A second lease of the same bus name: its device counts with n. */
	struct lease *second = new_lease(w.m);
	second->owner_uid = 1000;
	fake_log_clear();
	CHECK(lease_attach(second, k, false, &ld, &why) == LIMIT_EXCEEDED && !ld);
	CHECK_MSG(why && strstr(why, "limits.devices_per_connection"), "%s", why ? why : "-");
	CHECK_LOG(ACTIONS, "");
	CHECK(!k->lease);
	/* The same user's other connection still attaches. */
	free(second->owner_name);
	second->owner_name = strdup(":1.43");
	free(TAKE_PTR(why));
	CHECK(lease_attach(second, k, false, &ld, &why) == 0 && ld && k->lease == second);
	free(TAKE_PTR(why));
	/* :1.42 holds one lease, the most; :1.44 of the same uid none; root is
	 * not counted. */
	CHECK(limits_check_lease(w.m, &(struct lease_owner){ .uid = 1000, .unique_name = ":1.42" }, &why) ==
	      LIMIT_EXCEEDED);
	CHECK_MSG(why && strstr(why, "limits.leases_per_connection"), "%s", why ? why : "-");
	free(TAKE_PTR(why));
	CHECK(limits_check_lease(w.m, &(struct lease_owner){ .uid = 1000, .unique_name = ":1.44" }, &why) == 0);
	CHECK(limits_check_lease(w.m, &(struct lease_owner){ .uid = 0, .unique_name = ":1.42" }, &why) == 0);
	world_done(&w);
}

/* ---- a claim in a worker (attach-job.c) ---- */

struct job_result {
	bool answered;
	int r;
	bool lease_gone;
	char why[256];
};

static void on_job_done(struct lease *l, int r, const char *what, const char *why, void *userdata)
{
	struct job_result *res = userdata;

	*res = (struct job_result){ .answered = true, .r = r, .lease_gone = !l };
	snprintf(res->why, sizeof res->why, "%s", why ? why : "");
}

static bool run_until_answered(struct world *w, const struct job_result *res, uint64_t timeout_usec)
{
	uint64_t deadline = now_usec() + timeout_usec;

	while (!res->answered) {
		uint64_t now = now_usec();
		if (now >= deadline || sd_event_run(w->m->event, deadline - now) < 0)
			return false;
	}
	return true;
}

/* The state file at root/state.json from now on. */
static void use_state_file(struct world *w)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/state.json", root);
	unlink(path);
	w->m->state_path = strdup(path);
}

static void done_state_file(struct world *w)
{
	unlink(w->m->state_path);
	state_done(w->m);
}

/* 1 if the state file names d as one to give back to its host driver
 * (teardown step "driver", original driver e1000e), 0 if not, -1 if it
 * cannot be read. */
static int saved_claim(struct world *w, const struct device *d)
{
	_cleanup_(saved_state_freep) struct saved_state *s = NULL;
	_cleanup_free_ char *why = NULL;
	int found = 0;

	if (state_load(w->m, &s, &why) < 0) {
		printf("# state file: %s\n", why ? why : "unreadable");
		return -1;
	}
	for (size_t i = 0; i < s->n_teardowns; i++)
		if (bdf_equal(&s->teardowns[i].address, &d->address))
			found = s->teardowns[i].step == TEARDOWN_DRIVER &&
				strcmp(s->teardowns[i].original_driver, "e1000e") == 0 ? 1 : -1;
	return found;
}

/* Run the loop (up to 3 s) until d is no longer reserved for a claim. */
static void run_while_reserved(struct world *w, const struct device *d)
{
	for (int i = 0; i < 100 && d->claim_job; i++)
		(void)sd_event_run(w->m->event, 30 * 1000);
}

/* Attach d to w's lease through a job whose claim worker is held: the call
 * is not answered, d is reserved, one worker runs and nothing was done on
 * the loop. */
static void start_held_claim(struct world *w, struct device *d, struct job_result *res)
{
	fake_hold_children(true);
	fake_log_clear();
	CHECK(attach_job_start(w->l, &d->address, 1, false, on_job_done, res) == 0);
	CHECK_MSG(!res->answered && d->claim_job && fake_children_running() == 1, "answered %d, %u workers",
		  res->answered, fake_children_running());
	CHECK_LOG(ACTIONS, "");
}

/* The claim (host driver off, vfio-pci on) runs in a worker: while it has
 * not returned the device is reserved and the loop serves others; then the
 * open, bind and attach follow and the call is answered. */
static void test_attach_claim_in_worker(void)
{
	_cleanup_free_ char *why = NULL;
	struct job_result res = {};
	struct lease_device *ld = NULL;
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0"), *k = dev(&w, "0000:03:00.0");
	struct lease *other = new_lease(w.m);
	CHECK(attach_needs_claim(d));
	use_state_file(&w);
	start_held_claim(&w, d, &res);
	/* Should the daemon die now, the next one waits for the worker and
	 * gives the device back. */
	CHECK_MSG(saved_claim(&w, d) == 1, "the state file does not name %s as being claimed", d->name);
	CHECK_MSG(attach_job_worker_pid(d) > 0 && saved_worker_pid(&w, d, attach_job_worker_pid(d)) == 1,
		  "the state file does not name the claim's worker (pid %d)", (int)attach_job_worker_pid(d));
	CHECK(lease_attach(other, d, false, &ld, &why) == -EBUSY && !ld);
	CHECK_MSG(why && strstr(why, "being claimed"), "%s", why ? why : "-");
	/* Served meanwhile: another device is attached. */
	CHECK(attach(&w, k, false) != NULL);
	fake_log_clear();
	fake_hold_children(false);
	CHECK_MSG(run_until_answered(&w, &res, 3 * 1000 * 1000), "the attach was not answered");
	CHECK_MSG(res.r == 0, "r %d: %s", res.r, res.why);
	CHECK_LOG(ACTIONS, CLAIM ", vfio:open, vfio:bind, vfio:attach_pt");
	CHECK(d->lease == w.l && d->attachment && d->attachment->claimed && !d->claim_job);
	CHECK_MSG(d->state == DEVICE_ASSIGNED, "state %s", device_state_to_string(d->state));
	CHECK_MSG(saved_claim(&w, d) == 0, "the state file still names %s as being claimed", d->name);
	done_state_file(&w);
	world_done(&w);
}

/* The admin moved a device from vfio-pci back to its host driver and the
 * uevent is not in yet: the attach sees the driver link, not the stale
 * inventory, so the claim runs in a worker and not on the loop. */
static void test_attach_claim_stale_inventory(void)
{
	struct job_result res = {};
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	fake_device_set_driver(path_n, "vfio-pci");
	CHECK(inventory_refresh(w.m->inventory, d) == 0);
	fake_device_set_driver(path_n, "e1000e"); /* its uevent not read yet */
	CHECK(!attach_needs_claim(d));
	CHECK(attach_current(w.m, d) == d);
	CHECK_MSG(attach_needs_claim(d) && strcmp(d->driver, "e1000e") == 0, "driver %s", d->driver);

	/* Stale again, through the job this time. */
	fake_device_set_driver(path_n, "vfio-pci");
	CHECK(inventory_refresh(w.m->inventory, d) == 0);
	fake_device_set_driver(path_n, "e1000e");
	start_held_claim(&w, d, &res);
	fake_hold_children(false);
	CHECK_MSG(run_until_answered(&w, &res, 3 * 1000 * 1000), "the attach was not answered");
	CHECK_MSG(res.r == 0, "r %d: %s", res.r, res.why);
	CHECK_LOG(ACTIONS, CLAIM ", vfio:open, vfio:bind, vfio:attach_pt");
	CHECK(d->attachment && d->attachment->claimed && strcmp(d->original_driver, "e1000e") == 0);
	world_done(&w);
}

/* A process named like the previous daemon's worker (fork keeps the
 * daemon's name), running until killed. */
static pid_t fake_predecessor(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		(void)prctl(PR_SET_NAME, "ccdevd");
		for (;;)
			pause();
	}
	CHECK(pid > 0);
	for (int i = 0; pid > 0 && i < 200; i++) {
		char path[64], comm[32] = "";
		FILE *f;
		snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
		f = fopen(path, "re");
		if (f && fgets(comm, sizeof comm, f) && strncmp(comm, "ccdevd", 6) == 0)
			i = 200;
		else
			usleep(10 * 1000);
		if (f)
			fclose(f);
	}
	return pid;
}

/* 1 if the state file names d's teardown with worker_pid pid. */
static int saved_worker_pid(struct world *w, const struct device *d, pid_t pid)
{
	_cleanup_(saved_state_freep) struct saved_state *s = NULL;
	_cleanup_free_ char *why = NULL;

	if (state_load(w->m, &s, &why) < 0)
		return -1;
	for (size_t i = 0; i < s->n_teardowns; i++)
		if (bdf_equal(&s->teardowns[i].address, &d->address))
			return s->teardowns[i].worker_pid == pid;
	return 0;
}

/* After a restart, the previous daemon's worker may still run the step the
 * teardown resumes at (KillMode=process leaves it): the step waits for it
 * to end and then begins again, never beside it; the state file names it
 * meanwhile.  A recorded pid that is the daemon's own is not waited for. */
static void test_resume_waits_for_predecessor(void)
{
	struct world w;
	pid_t pid;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	fake_device_set_driver(path_n, ""); /* vfio-pci went with the release step */
	CHECK(inventory_refresh(w.m->inventory, d) == 0);
	use_state_file(&w);
	pid = fake_predecessor();
	CHECK(teardown_resume(w.m, d, TEARDOWN_RESET, true, 0, pid, "test") == 0);
	fake_log_clear();
	teardown_go(w.m, &d, 1);
	for (int i = 0; i < 10; i++)
		(void)sd_event_run(w.m->event, 20 * 1000);
	CHECK_LOG(ACTIONS, "");
	CHECK_MSG(d->state == DEVICE_RELEASING && strstr(d->state_reason, "previous ccdevd's reset worker"), "%s: %s",
		  device_state_to_string(d->state), d->state_reason);
	state_save_now(w.m);
	CHECK_MSG(saved_worker_pid(&w, d, pid) == 1, "the state file does not name pid %d", (int)pid);
	CHECK(kill(pid, SIGKILL) == 0 && waitpid(pid, NULL, 0) == pid);
	CHECK_MSG(run_until_released(&w, d, 3 * 1000 * 1000), "the teardown did not finish");
	CHECK_LOG(ACTIONS, "sysfs:reset, " RESTORE);
	CHECK_MSG(d->state == DEVICE_HOST, "state %s", device_state_to_string(d->state));
	done_state_file(&w);
	world_done(&w);

	/* Its own pid (reused since): carried on at once. */
	world_init(&w);
	d = dev(&w, "0000:02:00.0");
	fake_device_set_driver(path_n, "");
	CHECK(inventory_refresh(w.m->inventory, d) == 0);
	char own[32] = "";
	CHECK(prctl(PR_GET_NAME, own) == 0 && prctl(PR_SET_NAME, "ccdevd") == 0);
	CHECK(teardown_resume(w.m, d, TEARDOWN_RESET, true, 0, getpid(), "test") == 0);
	fake_log_clear();
	teardown_go(w.m, &d, 1);
	CHECK_MSG(run_until_released(&w, d, 3 * 1000 * 1000), "the teardown did not finish");
	CHECK_LOG(ACTIONS, "sysfs:reset, " RESTORE);
	(void)prctl(PR_SET_NAME, own);
	world_done(&w);
}

/* The lease ends while its device's claim runs: the call fails at once,
 * and once the worker returns the host driver is given back, in a worker
 * too, before the device is free. */
static void test_attach_claim_lease_ends(void)
{
	struct job_result res = {};
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	struct lease *doomed = new_lease(w.m);
	fake_hold_children(true);
	fake_log_clear();
	CHECK(attach_job_start(doomed, &d->address, 1, false, on_job_done, &res) == 0);
	lease_end(doomed, "test");
	CHECK_MSG(res.answered && res.r == -ECANCELED && res.lease_gone, "answered %d, r %d", res.answered, res.r);
	CHECK_MSG(strstr(res.why, "the lease ended (test)"), "%s", res.why);
	CHECK(d->claim_job);
	fake_hold_children(false);
	run_while_reserved(&w, d);
	CHECK_MSG(!d->claim_job, "the device stays reserved");
	CHECK_LOG(ACTIONS, "iommufd:destroy, " CLAIM ", " RESTORE);
	CHECK(!d->lease && strcmp(fake_device_driver(path_n), "e1000e") == 0);
	CHECK_MSG(d->state == DEVICE_HOST, "state %s", device_state_to_string(d->state));
	world_done(&w);
}

/* The open after a worker's claim fails: the call fails at once, and the
 * host driver is given back in a worker, the device reserved (and named in
 * the state file) until then. */
static void test_attach_claim_open_fails(void)
{
	struct job_result res = {};
	struct world w;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	use_state_file(&w);
	fake_log_clear();
	fake_fail("vfio:open", 1, EACCES);
	fake_hold_children(true);
	CHECK(attach_job_start(w.l, &d->address, 1, false, on_job_done, &res) == 0);
	fake_hold_children(false); /* the claim's worker ends */
	fake_hold_children(true);  /* the restore's will wait */
	CHECK_MSG(run_until_answered(&w, &res, 3 * 1000 * 1000), "the attach was not answered");
	CHECK_MSG(res.r == -EACCES && !res.lease_gone, "r %d: %s", res.r, res.why);
	CHECK_MSG(d->claim_job, "the device is not reserved while its host driver is given back");
	CHECK_LOG(ACTIONS, CLAIM ", vfio:open!");
	CHECK_MSG(saved_claim(&w, d) == 1, "the state file does not name %s as being given back", d->name);
	fake_hold_children(false);
	run_while_reserved(&w, d);
	CHECK_MSG(!d->claim_job, "the device stays reserved");
	CHECK_LOG(ACTIONS, CLAIM ", vfio:open!, " RESTORE);
	CHECK(!d->lease && w.l->devices == NULL && strcmp(fake_device_driver(path_n), "e1000e") == 0);
	CHECK_MSG(d->state == DEVICE_HOST, "state %s", device_state_to_string(d->state));
	CHECK_MSG(saved_claim(&w, d) == 0, "the state file still names %s", d->name);
	done_state_file(&w);
	world_done(&w);
}

/* A reload stops managing a device while it is being claimed: it stays
 * published while claimed and while its host driver is given back after the
 * attach failed, and is unpublished once that is done. */
static void test_attach_claim_reload(void)
{
	struct manager_options o = { .config_path_explicit = true };
	_cleanup_free_ char *error = NULL;
	char path[PATH_MAX];
	struct job_result res = {};
	struct world w;
	FILE *f;

	world_init(&w);
	struct device *d = dev(&w, "0000:02:00.0");
	snprintf(path, sizeof path, "%s/reload.json", root);
	f = fopen(path, "we");
	CHECK(f && fputs("{ \"devices\": [ { \"address\": \"0000:03:00.0\" } ] }", f) >= 0 && fclose(f) == 0);
	o.config_path = path;
	w.m->options = &o;
	fake_fail("vfio:open", 1, EACCES);
	fake_hold_children(true);
	CHECK(d->managed && attach_job_start(w.l, &d->address, 1, false, on_job_done, &res) == 0);
	CHECK_MSG(manager_reload(w.m, &error) == 0, "%s", error ? error : "");
	CHECK_MSG(d->managed, "unpublished while it is being claimed");
	fake_hold_children(false);
	fake_hold_children(true);
	CHECK_MSG(run_until_answered(&w, &res, 3 * 1000 * 1000) && res.r == -EACCES, "r %d", res.r);
	CHECK_MSG(d->managed && d->claim_job, "unpublished while its host driver is given back");
	fake_hold_children(false);
	run_while_reserved(&w, d);
	d = dev(&w, "0000:02:00.0");
	CHECK_MSG(d && !d->claim_job && !d->managed && !d->rule, "still published without a rule once it is back");
	CHECK(d && strcmp(fake_device_driver(path_n), "e1000e") == 0);
	unlink(path);
	world_done(&w);
}

/* ---- one state write per call (state.c) ---- */

static bool state_written(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && st.st_size > 0;
}

static void test_state_defer(void)
{
	char path[PATH_MAX];
	struct world w;

	world_init(&w);
	snprintf(path, sizeof path, "%s/state.json", root);
	unlink(path);
	w.m->state_path = strdup(path);
	state_defer(w.m);
	state_defer(w.m);
	state_save(w.m);
	state_save(w.m);
	state_flush(w.m);
	CHECK_MSG(!state_written(path), "an inner state_flush wrote");
	state_flush(w.m);
	CHECK_MSG(state_written(path), "the outermost state_flush did not write");
	unlink(path);
	state_flush(w.m);
	state_defer(w.m);
	state_flush(w.m);
	CHECK_MSG(!state_written(path), "a flush with nothing saved (or unbalanced) wrote");
	state_save(w.m);
	CHECK_MSG(state_written(path), "a save outside state_defer did not write at once");
	unlink(path);
	state_done(w.m);
	world_done(&w);
}

/* ---- the fd store ---- */

/* The notify messages that reached sock since the last call, each closed
 * of its fds, joined by "; " with newlines as spaces. */
static char *notified(int sock)
{
	char *all = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&all, &size);

	for (;;) {
		char buf[512], control[CMSG_SPACE(sizeof(int) * 4)];
		struct iovec iov = { buf, sizeof buf - 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				     .msg_controllen = sizeof control };
		ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
					close(((int *)CMSG_DATA(c))[i]);
		buf[n] = '\0';
		for (char *p = buf; *p; p++)
			if (*p == '\n')
				*p = ' ';
		fprintf(f, "%s%s", ftell(f) ? "; " : "", buf);
	}
	fclose(f);
	return all;
}

#define CHECK_NOTIFIED(sock, want)                                                    \
	do {                                                                          \
		_cleanup_free_ char *got_ = notified(sock);                           \
		CHECK_MSG(got_ && strcmp(got_, want) == 0, "fd store got: %s", got_); \
	} while (0)

static void test_fdstore_sync(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct lease *second;
	struct world w;

	CHECK(strlen(root) + sizeof "/notify" <= sizeof sa.sun_path);
	memcpy(sa.sun_path, root, strlen(root));
	strcat(sa.sun_path, "/notify");
	unlink(sa.sun_path);
	CHECK(sock >= 0 && bind(sock, (struct sockaddr *)&sa, sizeof sa) == 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	world_init(&w);
	w.m->fdstore.enabled = true;

	fdstore_sync(w.m);
	CHECK_NOTIFIED(sock, "FDSTORE=1 FDPOLL=0 FDNAME=lease-1-iommufd");
	attach(&w, dev(&w, "0000:02:00.0"), false);
	fdstore_sync(w.m);
	CHECK_NOTIFIED(sock, "FDSTORE=1 FDPOLL=0 FDNAME=lease-1-dev-0000_02_00_0");
	fdstore_sync(w.m);
	CHECK_NOTIFIED(sock, "");
	second = new_lease(w.m);
	fdstore_sync(w.m);
	CHECK_NOTIFIED(sock, "FDSTORE=1 FDPOLL=0 FDNAME=lease-2-iommufd");
	/* Removals before additions; what stayed is not sent again. */
	lease_end(w.l, "test");
	(void)second;
	fdstore_sync(w.m);
	CHECK_NOTIFIED(sock, "FDSTOREREMOVE=1 FDNAME=lease-1-dev-0000_02_00_0; FDSTOREREMOVE=1 FDNAME=lease-1-iommufd");
	w.m->fdstore.enabled = false;
	fdstore_done(&w.m->fdstore);
	unsetenv("NOTIFY_SOCKET");
	unlink(sa.sun_path);
	world_done(&w);
}

/* The files in root whose names start with prefix. */
static unsigned files_named(const char *prefix)
{
	DIR *d = opendir(root);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/* Each write leaves, once the loop runs again, a temporary file made for
 * the next write (off the reply's path); the next write renames it into
 * place, or makes another if it was removed.  At the end none is left, and
 * at start an earlier daemon's is removed, the set-aside state.json.bad
 * kept. */
static void test_state_spare(void)
{
	char stale[PATH_MAX + 32], bad[PATH_MAX + 32];
	struct world w;
	struct manager m = {};
	int fd;

	world_init(&w);
	use_state_file(&w);
	state_save(w.m);
	CHECK_MSG(files_named("state.json.") == 0 && files_named("state.json") == 1, "%u temporary file(s)",
		  files_named("state.json."));
	(void)sd_event_run(w.m->event, 0);
	CHECK_MSG(w.m->state_spare_path && files_named("state.json.") == 1, "no temporary file made for the next write");
	state_save(w.m);
	CHECK_MSG(!w.m->state_spare_path && files_named("state.json.") == 0, "the next write did not use it");
	(void)sd_event_run(w.m->event, 0);
	CHECK(w.m->state_spare_path && files_named("state.json.") == 1);
	/* Removed behind its back (another ccdevd starting here): the write
	 * still lands, through a fresh temporary file. */
	CHECK(w.m->state_spare_path && unlink(w.m->state_spare_path) == 0 && unlink(w.m->state_path) == 0);
	state_save(w.m);
	CHECK_MSG(state_written(w.m->state_path) && files_named("state.json.") == 0,
		  "a write whose temporary file was removed did not land");
	(void)sd_event_run(w.m->event, 0);
	unlink(w.m->state_path);
	state_done(w.m);
	CHECK_MSG(files_named("state.json") == 0, "%u file(s) left", files_named("state.json"));
	world_done(&w);

	snprintf(stale, sizeof stale, "%s/state.json.Ab12Cd", root);
	snprintf(bad, sizeof bad, "%s/state.json.bad", root);
	fd = open(stale, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && close(fd) == 0);
	fd = open(bad, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && close(fd) == 0);
	setenv("RUNTIME_DIRECTORY", root, 1);
	CHECK(state_init(&m) == 0);
	unsetenv("RUNTIME_DIRECTORY");
	CHECK_MSG(access(stale, F_OK) < 0 && access(bad, F_OK) == 0, "stale temporary file %s, state.json.bad %s",
		  access(stale, F_OK) == 0 ? "kept" : "removed", access(bad, F_OK) == 0 ? "kept" : "removed");
	unlink(bad);
	state_done(&m);
}

/* A state file in memory (tmpfs, as /run) is written without fsync. */
static void test_state_in_memory(void)
{
	char dir[] = "/dev/shm/ccdevd-test-XXXXXX";
	struct manager m = {};

	if (!mkdtemp(dir)) {
		CHECK_MSG(false, "no tmpfs at /dev/shm: %m");
		return;
	}
	setenv("RUNTIME_DIRECTORY", dir, 1);
	CHECK(state_init(&m) == 0 && m.state_path && strncmp(m.state_path, dir, strlen(dir)) == 0);
	CHECK_MSG(m.state_in_memory, "%s is tmpfs, yet the state file would be fsynced", dir);
	unsetenv("RUNTIME_DIRECTORY");
	state_done(&m);
	rmdir(dir);
}

int main(void)
{
	char name[256];

	log_set_max_level(LOG_DEBUG);
	make_tree();

	POINT("bound attach runs claim, open, bind, attach_pt in that order, the claim verified by read-back",
	      test_attach_bound());
	POINT("raw attach runs claim then open, and nothing else", test_attach_raw());
	for (size_t i = 0; i < sizeof(failure_cases) / sizeof(failure_cases[0]); i++) {
		const struct failure_case *c = &failure_cases[i];
		snprintf(name, sizeof name, "bound attach failing at %s (call %u, -%d) undoes exactly the steps that "
			 "ran, newest first, and leaves the device unleased on its host driver", c->call, c->nth, c->error);
		POINT(name, test_attach_failure(c));
	}
	POINT("a device already on vfio-pci is not claimed, and its rollback restores no host driver",
	      test_vfio_idle_not_claimed());
	POINT("teardown of a bound device: detach_pt, unbind_start, close, unbind_finish, ONE sysfs reset, "
	      "then the driver step", test_teardown_bound());
	POINT("teardown with on_release keep-vfio ends on vfio-pci, idle, after the one reset",
	      test_teardown_keep_vfio());
	POINT("teardown of a raw file that was never bound does no reset at all", test_teardown_raw_never_bound());
	POINT("teardown of a raw file its client bound itself does the one reset", test_teardown_raw_client_bound());
	POINT("a failing reset quarantines the device before the driver step; the retry timer finishes it",
	      test_teardown_reset_fails());
	POINT("while a holder keeps the file the device is releasing with no reset; once it lets go the reset "
	      "and the driver step follow", test_teardown_holder());
	POINT("a failing unbind quarantines the device; the retry unbinds again, then the one reset and the "
	      "driver step", test_teardown_unbind_fails());
	POINT("the reset and the driver step run in workers: while the reset has not returned the device is "
	      "releasing, not at rest, and another device is attached meanwhile; then the driver step follows",
	      test_teardown_slow_reset());
	POINT("ForceRelease kills the holder, then the release finishes with the one reset and the driver step",
	      test_teardown_force());
	POINT("reset hooks run before and after a hot reset of a two-device reset set, for each attachment, "
	      "after-hooks in reverse", test_reset_hooks());
	POINT("reset hooks run around a function reset for the one device it touches", test_reset_hooks_function());
	POINT("a dma-buf mapping is unmapped before its device's reset and mapped again after it, stays revoked "
	      "when that fails, and leaves the IOAS first when the device leaves", test_dmabuf_reset_and_leave());
	POINT("ending a lease of a two-device reset set: both releases first, ONE hot reset, then both driver steps",
	      test_reset_set_teardown());
	POINT("a hot reset of the set that fails with ENOTTY quarantines each device after one attempt",
	      test_reset_set_hot_enotty());
	POINT("lease_bind after a raw attach runs bind then attach_pt; again it is LEASE_ALREADY_BOUND with "
	      "nothing called", test_lease_bind());
	POINT("lease_bind failing at attach_pt undoes nothing (the bind lasts until the last close), the device "
	      "stays leased, and its teardown resets it once", test_lease_bind_attach_fails());
	POINT("lease_bind of a raw file its client bound is LEASE_ALREADY_BOUND after one GET_INFO",
	      test_lease_bind_client_bound());

	POINT("a device without a reset of its own is refused (ResetSetNotViable) while a device of its reset "
	      "set is on a host driver, before any kernel call", test_reset_set_with_host_driver_member_refused());
	POINT("a reset set is never split between owners: with one member leased to another uid the other is "
	      "refused (ResetSetNotViable), nothing called", test_reset_set_split_between_owners_refused());

	POINT("the fd store gets each lease fd once, when it is new, and is told to drop each one a lease no "
	      "longer holds, drops first; an unchanged sync sends nothing", test_fdstore_sync());

	POINT("an open failing after a worker's claim fails the call at once; the host driver is given back in a "
	      "worker, the device reserved and in the state file until then", test_attach_claim_open_fails());
	POINT("a reload that stops managing a device mid-claim leaves it published until the claim is undone "
	      "after a failed attach, then unpublishes it", test_attach_claim_reload());
	POINT("each state write leaves a temporary file for the next, made after it; none is left at the end, and "
	      "an earlier daemon's is removed at start", test_state_spare());
	POINT("a state file on tmpfs (as /run is) is written without fsync", test_state_in_memory());

	POINT("per connection (a bus name): a second lease's device is LimitExceeded naming "
	      "limits.devices_per_connection, nothing called; through another name it attaches; one more lease "
	      "on the full name is refused, on another not, root not counted", test_per_connection_limits());

	POINT("an attach off a host driver claims in a worker: meanwhile the device is DeviceBusy for others and "
	      "another device is attached; then open, bind, attach_pt follow and the call is answered",
	      test_attach_claim_in_worker());
	POINT("a teardown resumed after a restart waits for the previous daemon's worker of its step to end, then "
	      "runs the step; the state file names that worker meanwhile; the daemon's own pid is never waited for",
	      test_resume_waits_for_predecessor());
	POINT("an attach of a device whose driver changed before its uevent came claims from the driver link, in a "
	      "worker", test_attach_claim_stale_inventory());
	POINT("a lease that ends during its device's claim fails the call at once; when the worker returns the "
	      "host driver is given back before the device is free", test_attach_claim_lease_ends());
	POINT("between state_defer and state_flush saves only mark the state dirty; the outermost flush writes "
	      "once, a flush with nothing saved writes nothing, a save outside writes at once", test_state_defer());

	remove_tree();
	return tap_done();
}
