/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lease-client: an unprivileged VMM stand-in for the VM tier's lease tests.
 *
 *   lease-client --device BDF [--device BDF...] [--raw] [--crash-at STEP]
 *                [--hold] [--drop-bus] [--keep-fds] [--orphan-bus]
 *                [--expect-error NAME[,NAME...]]
 *
 * It does what a VMM does with ccdevd: Manager.CreateLease() for an iommufd
 * and an IOAS, Lease.AttachDevice() for each device's VFIO cdev (bound and
 * attached by the daemon, or with --raw handed over unbound so that this
 * process binds and attaches it itself), then on the first device: BAR0
 * mmap, its OWN buffer mapped into the lease's IOAS, bus mastering on, an
 * edu DMA RAM -> device -> RAM through the IOMMU with the data checked,
 * Lease.ResetDevice() and the device alive after it, and Lease.Release().
 * The DMA steps run only on an edu (1234:11e8); other devices get the
 * generic steps.  Output is TAP, one point per step; the first failure stops
 * the run (exit 1).  Exit 0 when every step passed.
 *
 * Test hooks:
 *   --crash-at STEP  raise(SIGKILL) right after STEP, one of: created,
 *                    attached, bar0, mapped, dma-started (the device->RAM
 *                    DMA is in flight: command written, completion not yet
 *                    polled), dma, reset, before-release (fds closed,
 *                    Release() not yet called).
 *   --hold           after attaching, print "# holding" and wait to be killed.
 *   --drop-bus       after attaching, close the fds (unless --keep-fds), then
 *                    leave the bus but stay alive: print "# left the bus" and
 *                    wait to be killed.
 *   --orphan-bus     after attaching, close the fds, fork a child that keeps
 *                    only the bus connection open, print "# orphan PID", and
 *                    die by SIGKILL: the owner process is gone, its bus name
 *                    is not.
 *   --expect-error   the AttachDevice of the last --device (of the
 *                    --second-lease device when given) must fail with one of
 *                    these D-Bus error names; the lease is then released.
 *   --one-call       Manager.CreateLeaseWithDevices() with every --device
 *                    (bind false with --raw) instead of CreateLease() and
 *                    one AttachDevice() each; the same checks follow.
 *   --bind-later     AttachDevice({bind: false}), check the file is unbound
 *                    (VFIO_DEVICE_GET_INFO refused), then Lease.BindDevice()
 *                    for each device (step "bound") and go on as a managed
 *                    client: DMA through the lease's IOAS.
 *   --unbound        with --raw: do not bind the raw file at all; only the
 *                    steps that need no bound file run.
 *   --kvm-option     AttachDevice with the removed option {"kvm": h} (a
 *                    /dev/null fd); use with --expect-error.
 *   --second-lease BDF  after the attach, CreateLease() a second lease in
 *                    this same process and attach BDF to it (bound); it is
 *                    released first at the end.
 *   --pause-at STEP[,STEP...]  after each STEP print "# paused after STEP"
 *                    and wait for SIGUSR1.
 *   --keep-after-release  keep the device fds and the iommufd open across
 *                    Release(), then print "# holder PID" and wait: SIGUSR1
 *                    tries VFIO_DEVICE_BIND_IOMMUFD of each kept (stale)
 *                    device fd to the kept iommufd and prints "# stale bind
 *                    BDF: ..."; SIGUSR2 closes them ("# holder closed").
 *   --no-reset       skip the ResetDevice() step (and the DMA after it).
 *   --pass-to-child  with --keep-after-release: at before-release fork a
 *                    child named "stale-holder" that keeps the fds and does
 *                    the above; this process closes its copies and goes on
 *                    (Release(), or --crash-at before-release).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bus-api.h"
#include "cleanup.h"
#include "edu.h"
#include "kernel-uapi.h"
#include "vmtest.h"

#define MAX_DEVICES 4

struct dev {
	const char *bdf;
	unsigned vendor, device;
	int fd;
	uint32_t dev_id, pt_id;
	uint64_t cfg_offset;
};

static struct {
	struct dev devs[MAX_DEVICES];
	size_t n_devs;
	bool raw, hold, drop_bus, keep_fds, orphan_bus;
	bool bind_later, unbound, kvm_option, keep_after_release, pass_to_child, no_reset, one_call;
	const char *crash_at;
	const char *expect_error;
	const char *pause_at;
	struct dev second; /* --second-lease: .bdf NULL when not given */
} arg;

static sd_bus *bus;
static char *lease_path;
static int iommufd = -1;
static uint32_t ioas_id;
static volatile uint8_t *bar0;
static uint64_t bar0_size;
static uint8_t *buf;
static struct rlimit memlock_before;
static bool attach_refused; /* --expect-error happened: skip to release */
static char *second_path; /* the --second-lease lease */
static int second_iommufd = -1;
static uint32_t second_ioas_id;

#define PRIMARY (&arg.devs[0])

/* A D-Bus error as "NAME: message", for the TAP diagnostics. */
static int fail_bus(const sd_bus_error *e, int r, const char *what)
{
	if (sd_bus_error_is_set(e))
		return fail(0, "%s failed: %s: %s", what, e->name, e->message ? e->message : "");
	return fail(-r, "%s failed", what);
}

static bool is_edu(const struct dev *d)
{
	return d->vendor == 0x1234 && d->device == 0x11e8;
}

/* What an fd of ours refers to, from /proc/self/fd. */
static void fd_target(int fd, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, out, size - 1);
	out[n < 0 ? 0 : n] = '\0';
}

static void print_memlock(const char *when)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0)
		printf("# RLIMIT_MEMLOCK %s: soft %llu, hard %llu\n", when,
		       (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
}

/* ---- edu ---- */

/* Fill the source with a pattern, DMA it into edu and back to RAM, compare. */
static int edu_round_trip(uint8_t seed, bool crash_in_flight)
{
	dma_fill_pattern(buf, seed);
	memset(buf + DST_OFF, 0, BUF_SIZE - DST_OFF);
	edu_dma_start(bar0, DMA_IOVA, EDU_BUF, DMA_LEN, 0);
	if (edu_dma_wait(bar0) < 0)
		return -1;
	edu_dma_start(bar0, EDU_BUF, DMA_IOVA + DST_OFF, DMA_LEN, EDU_CMD_TO_RAM);
	if (crash_in_flight)
		return 0;
	if (edu_dma_wait(bar0) < 0)
		return -1;
	return dma_check_copy(buf);
}

/* ---- D-Bus ---- */

/* ListLeases(): whether PATH is among the leases visible to us. */
static int lease_listed(const char *path)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *p;
	uint32_t uid, pid, n;
	const char *state;
	bool found = false;
	int r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
			       "ListLeases", &e, &reply, "");
	if (r < 0)
		return fail_bus(&e, r, "ListLeases()");
	r = sd_bus_message_enter_container(reply, 'a', "(ouusu)");
	if (r < 0)
		return fail(-r, "ListLeases() reply");
	while ((r = sd_bus_message_read(reply, "(ouusu)", &p, &uid, &pid, &state, &n)) > 0) {
		printf("# ListLeases: %s uid %u pid %u %s, %u devices\n", p, uid, pid, state, n);
		if (strcmp(p, path) == 0)
			found = true;
	}
	if (r < 0)
		return fail(-r, "ListLeases() reply");
	return found;
}

static bool error_expected(const char *name)
{
	const char *p = arg.expect_error;
	size_t n = strlen(name);
	while (p && *p) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

/* The device is what its fd says and answers through it (a bound file). */
static int device_checks(struct dev *d)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	if (IOCTL(d->fd, VFIO_DEVICE_GET_INFO, &info) < 0 ||
	    IOCTL(d->fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
		return fail(0, "  (on %s)", d->bdf);
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI))
		return fail(0, "%s: device flags %#x lack VFIO_DEVICE_FLAGS_PCI", d->bdf, info.flags);
	d->cfg_offset = cfg.offset;
	uint16_t vendor;
	if (pread(d->fd, &vendor, sizeof(vendor), (off_t)cfg.offset) != sizeof(vendor))
		return fail(errno, "%s: pread of the vendor id", d->bdf);
	if (vendor != d->vendor)
		return fail(0, "%s: config space says vendor %#x, sysfs %#x", d->bdf, vendor, d->vendor);
	return 0;
}

static int check_attached(struct dev *d, int iommufd_, uint32_t ioas, bool bind);

/* AttachDevice(d) to the lease PATH (iommufd IOMMUFD, IOAS IOAS); BIND false
 * hands the file over unbound. */
static int attach_to(struct dev *d, const char *path, int iommufd_, uint32_t ioas, bool bind,
		     bool expect_error)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_close_ int kvm_fd = -1;
	char what[160];
	int fd, r;

	if (arg.kvm_option) {
		/* The removed option with a value of its old type, h. */
		kvm_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (kvm_fd < 0)
			return fail(errno, "open /dev/null");
		snprintf(what, sizeof(what), "AttachDevice('%s', {kvm: h})", d->bdf);
		r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, CCDEVD_LEASE_IFACE, "AttachDevice",
				       &e, &reply, "sa{sv}", d->bdf, 1, "kvm", "h", kvm_fd);
	} else {
		snprintf(what, sizeof(what), "AttachDevice('%s', {%s}) on %s", d->bdf, bind ? "" : "bind: false", path);
		if (!bind)
			r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, CCDEVD_LEASE_IFACE, "AttachDevice",
					       &e, &reply, "sa{sv}", d->bdf, 1, "bind", "b", 0);
		else
			r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, CCDEVD_LEASE_IFACE, "AttachDevice",
					       &e, &reply, "sa{sv}", d->bdf, 0);
	}
	if (expect_error) {
		if (r >= 0)
			return fail(0, "%s succeeded; want an error %s", what, arg.expect_error);
		printf("# error %s: %s\n", e.name ? e.name : "(none)", e.message ? e.message : "");
		if (!sd_bus_error_is_set(&e) || !error_expected(e.name))
			return fail(0, "%s: want error %s", what, arg.expect_error);
		attach_refused = true;
		return 0;
	}
	if (r < 0)
		return fail_bus(&e, r, what);
	r = sd_bus_message_read(reply, "huu", &fd, &d->dev_id, &d->pt_id);
	if (r < 0)
		return fail(-r, "%s reply", what);
	d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (d->fd < 0)
		return fail(errno, "dup of the device fd");
	return check_attached(d, iommufd_, ioas, bind);
}

/* What the daemon handed over for d is its VFIO cdev, bound and attached to
 * IOAS (or, !bind, unbound: then this process binds it, unless told not). */
static int check_attached(struct dev *d, int iommufd_, uint32_t ioas, bool bind)
{
	char target[PATH_MAX], want[PATH_MAX];

	printf("# %s: device fd %d, dev_id %u, pt_id %u\n", d->bdf, d->fd, d->dev_id, d->pt_id);

	/* The fd is the device's VFIO cdev. */
	fd_target(d->fd, target, sizeof(target));
	snprintf(want, sizeof(want), PCI_DEVICES "/%s/vfio-dev", d->bdf);
	_cleanup_close_ int dir = open(want, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return fail(errno, "%s: open %s", d->bdf, want);
	if (strncmp(target, "/dev/vfio/devices/vfio", 22) != 0 ||
	    faccessat(dir, target + strlen("/dev/vfio/devices/"), F_OK, 0) < 0)
		return fail(0, "%s: the device fd is '%s', not the cdev listed in %s", d->bdf, target, want);

	if (!bind) {
		if (d->dev_id != 0 || d->pt_id != 0)
			return fail(0, "an unbound attach returned dev_id %u, pt_id %u; want 0 and 0", d->dev_id, d->pt_id);
		/* Unbound: the kernel refuses every ioctl but the bind. */
		struct vfio_device_info info = { .argsz = sizeof(info) };
		if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info) == 0)
			return fail(0, "%s: VFIO_DEVICE_GET_INFO works on the file handed over unbound", d->bdf);
		printf("# %s: unbound as handed over: VFIO_DEVICE_GET_INFO fails with %s\n", d->bdf, strerrorname_np(errno));
		if (arg.bind_later || arg.unbound)
			return 0;
		struct vfio_device_bind_iommufd b = { .argsz = sizeof(b), .iommufd = iommufd_ };
		if (IOCTL(d->fd, VFIO_DEVICE_BIND_IOMMUFD, &b) < 0)
			return fail(0, "  (binding the raw cdev of %s ourselves)", d->bdf);
		struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = ioas };
		if (IOCTL(d->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) < 0)
			return fail(0, "  (attaching %s to IOAS %u ourselves)", d->bdf, ioas);
		d->dev_id = b.out_devid;
		d->pt_id = at.pt_id;
		printf("# %s: bound it ourselves: dev_id %u, attached to pt_id %u\n", d->bdf, d->dev_id, d->pt_id);
	} else {
		if (d->dev_id == 0)
			return fail(0, "%s: dev_id 0 from a bound attach", d->bdf);
		if (d->pt_id != ioas)
			return fail(0, "%s: attached to pt_id %u, not the lease's IOAS %u", d->bdf, d->pt_id, ioas);
	}
	return device_checks(d);
}

static int attach_one(struct dev *d, bool last)
{
	bool bind = !arg.raw && !arg.bind_later;
	return attach_to(d, lease_path, iommufd, ioas_id, bind, last && arg.expect_error && !arg.second.bdf);
}

/* CreateLease({}): a lease path, its iommufd (dup'ed) and IOAS id. */
static int create_lease(char **ret_path, int *ret_iommufd, uint32_t *ret_ioas)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *path;
	int fd, r;

	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
			       "CreateLease", &e, &reply, "a{sv}", 0);
	if (r < 0)
		return fail_bus(&e, r, "CreateLease({})");
	r = sd_bus_message_read(reply, "ohu", &path, &fd, ret_ioas);
	if (r < 0)
		return fail(-r, "CreateLease() reply");
	*ret_path = strdup(path);
	*ret_iommufd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (!*ret_path || *ret_iommufd < 0)
		return fail(errno, "keeping the reply");
	return 0;
}

/* --one-call: CreateLeaseWithDevices(every --device, {bind: false} with
 * --raw); each device's file, dev_id and pt_id into arg.devs, in order. */
static int create_lease_with_devices(void)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
	const char *path;
	int fd, r;

	r = sd_bus_message_new_method_call(bus, &call, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE,
					   "CreateLeaseWithDevices");
	if (r >= 0)
		r = sd_bus_message_open_container(call, 'a', "s");
	for (size_t i = 0; r >= 0 && i < arg.n_devs; i++)
		r = sd_bus_message_append(call, "s", arg.devs[i].bdf);
	if (r >= 0)
		r = sd_bus_message_close_container(call);
	if (r >= 0)
		r = arg.raw ? sd_bus_message_append(call, "a{sv}", 1, "bind", "b", 0)
			    : sd_bus_message_append(call, "a{sv}", 0);
	if (r < 0)
		return fail(-r, "building CreateLeaseWithDevices()");
	r = sd_bus_call(bus, call, 0, &e, &reply);
	if (r < 0)
		return fail_bus(&e, r, "CreateLeaseWithDevices()");
	r = sd_bus_message_read(reply, "ohu", &path, &fd, &ioas_id);
	if (r < 0)
		return fail(-r, "CreateLeaseWithDevices() reply");
	lease_path = strdup(path);
	iommufd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (!lease_path || iommufd < 0)
		return fail(errno, "keeping the reply");
	r = sd_bus_message_enter_container(reply, 'a', "(shuu)");
	for (size_t i = 0; r >= 0 && i < arg.n_devs; i++) {
		struct dev *d = &arg.devs[i];
		const char *address;

		r = sd_bus_message_read(reply, "(shuu)", &address, &fd, &d->dev_id, &d->pt_id);
		if (r == 0)
			return fail(0, "CreateLeaseWithDevices() returned %zu devices, want %zu", i, arg.n_devs);
		if (r > 0 && strcmp(address, d->bdf) != 0)
			return fail(0, "device %zu of the reply is %s, want %s", i, address, d->bdf);
		if (r > 0 && (d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
			return fail(errno, "dup of the device fd");
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(reply);
	if (r < 0)
		return fail(-r, "CreateLeaseWithDevices() reply's devices");
	return 0;
}

static int release_lease(const char *path)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	char what[160];
	int r;

	snprintf(what, sizeof(what), "Release() of %s", path);
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, path, CCDEVD_LEASE_IFACE, "Release", &e, NULL, "");
	if (r < 0)
		return fail_bus(&e, r, what);
	return 0;
}

/* ---- the steps ---- */

static int step_created(void)
{
	char target[PATH_MAX];

	if ((arg.one_call ? create_lease_with_devices() : create_lease(&lease_path, &iommufd, &ioas_id)) < 0)
		return -1;
	printf("# lease %s\n# iommufd %d, ioas_id %u\n", lease_path, iommufd, ioas_id);
	fflush(stdout);

	fd_target(iommufd, target, sizeof(target));
	if (strcmp(target, "/dev/iommu") != 0)
		return fail(0, "the iommufd is '%s', not /dev/iommu", target);
	if (ioas_id == 0)
		return fail(0, "IOAS id 0");
	/* The IOAS id is an IOAS in this iommufd. */
	struct iommu_iova_range ranges[8];
	struct iommu_ioas_iova_ranges rq = { .size = sizeof(rq), .ioas_id = ioas_id,
					     .num_iovas = ELEMENTSOF(ranges),
					     .allowed_iovas = (uintptr_t)ranges };
	if (IOCTL(iommufd, IOMMU_IOAS_IOVA_RANGES, &rq) < 0)
		return fail(0, "  (IOAS %u in the lease's iommufd)", ioas_id);
	return 0;
}

static int step_attached(void)
{
	/* --one-call: attached already; what came is checked here. */
	for (size_t i = 0; arg.one_call && i < arg.n_devs; i++)
		if (check_attached(&arg.devs[i], iommufd, ioas_id, !arg.raw) < 0)
			return -1;
	for (size_t i = 0; !arg.one_call && i < arg.n_devs; i++)
		if (attach_one(&arg.devs[i], i == arg.n_devs - 1) < 0)
			return -1;
	print_memlock("after attach");
	if (!arg.second.bdf)
		return 0;
	if (create_lease(&second_path, &second_iommufd, &second_ioas_id) < 0)
		return -1;
	printf("# second lease %s\n# second iommufd %d, ioas_id %u\n", second_path, second_iommufd, second_ioas_id);
	if (attach_to(&arg.second, second_path, second_iommufd, second_ioas_id, true, arg.expect_error != NULL) < 0)
		return -1;
	print_memlock("after the second lease's attach");
	return 0;
}

/* --bind-later: Lease.BindDevice() binds and attaches each unbound file. */
static int step_bound(void)
{
	for (size_t i = 0; i < arg.n_devs; i++) {
		_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
		struct dev *d = &arg.devs[i];
		char what[64];
		int r;

		snprintf(what, sizeof(what), "BindDevice('%s')", d->bdf);
		r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, lease_path, CCDEVD_LEASE_IFACE, "BindDevice",
				       &e, &reply, "s", d->bdf);
		if (r < 0)
			return fail_bus(&e, r, what);
		r = sd_bus_message_read(reply, "uu", &d->dev_id, &d->pt_id);
		if (r < 0)
			return fail(-r, "%s reply", what);
		printf("# %s: dev_id %u, pt_id %u\n", what, d->dev_id, d->pt_id);
		if (d->dev_id == 0)
			return fail(0, "%s: dev_id 0", what);
		if (d->pt_id != ioas_id)
			return fail(0, "%s: attached to pt_id %u, not the lease's IOAS %u", what, d->pt_id, ioas_id);
		if (device_checks(d) < 0)
			return -1;
	}
	return 0;
}

static int step_bar0(void)
{
	if (vfio_mmap_bar0(PRIMARY->fd, "BAR0", &bar0, &bar0_size) < 0 ||
	    vfio_enable_bus_master(PRIMARY->fd, PRIMARY->cfg_offset, PRIMARY->bdf) < 0)
		return -1;
	uint32_t ident = edu_read32(bar0, EDU_IDENT);
	if (ident != EDU_IDENT_VALUE)
		return fail(0, "edu ident %#x, want %#x", ident, EDU_IDENT_VALUE);
	return edu_liveness(bar0, 0x12345678);
}

static int step_mapped(void)
{
	void *p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return fail(errno, "mmap of the DMA buffer");
	buf = p;
	memset(buf, 0, BUF_SIZE);
	if (ioas_map(iommufd, ioas_id, buf, BUF_SIZE, DMA_IOVA) < 0)
		return -1;
	printf("# mapped %d bytes of our memory at IOVA %#llx in IOAS %u\n", BUF_SIZE,
	       (unsigned long long)DMA_IOVA, ioas_id);
	return 0;
}

static int step_dma_started(void)
{
	return edu_round_trip(3, true);
}

static int step_dma(void)
{
	if (edu_dma_wait(bar0) < 0)
		return -1;
	return dma_check_copy(buf);
}

static int step_reset(void)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	char what[64];
	int r;

	snprintf(what, sizeof(what), "ResetDevice('%s')", PRIMARY->bdf);
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, lease_path, CCDEVD_LEASE_IFACE, "ResetDevice",
			       &e, NULL, "s", PRIMARY->bdf);
	if (r < 0)
		return fail_bus(&e, r, what);
	for (size_t i = 0; i < arg.n_devs; i++) {
		struct dev *d = &arg.devs[i];
		struct vfio_device_info info = { .argsz = sizeof(info) };
		uint16_t vendor = 0;
		if (IOCTL(d->fd, VFIO_DEVICE_GET_INFO, &info) < 0)
			return fail(0, "  (%s after the reset)", d->bdf);
		if (pread(d->fd, &vendor, sizeof(vendor), (off_t)d->cfg_offset) != sizeof(vendor) ||
		    vendor != d->vendor)
			return fail(errno, "%s after the reset: vendor id reads %#x", d->bdf, vendor);
	}
	if (!is_edu(PRIMARY))
		return 0;
	uint32_t ident = edu_read32(bar0, EDU_IDENT);
	if (ident != EDU_IDENT_VALUE)
		return fail(0, "edu ident after the reset: %#x", ident);
	return edu_liveness(bar0, 0x0badcafe);
}

/* The reset left the device attached to the IOAS with our mapping in place. */
static int step_dma_after_reset(void)
{
	if (vfio_enable_bus_master(PRIMARY->fd, PRIMARY->cfg_offset, PRIMARY->bdf) < 0)
		return -1;
	return edu_round_trip(11, false);
}

static void close_fds(void)
{
	for (size_t i = 0; i < arg.n_devs; i++)
		arg.devs[i].fd = safe_close(arg.devs[i].fd);
	arg.second.fd = safe_close(arg.second.fd);
	iommufd = safe_close(iommufd);
	second_iommufd = safe_close(second_iommufd);
}

static volatile sig_atomic_t got_usr1, got_usr2;
static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_usr2 = 1;
}

/* --keep-after-release: this process holds the (stale) device fds and the
 * iommufd it kept; SIGUSR1 tries to bind them, SIGUSR2 closes them. */
static _Noreturn void stale_holder(void)
{
	sigset_t none;

	sigemptyset(&none);
	printf("# holder %d\n", (int)getpid());
	fflush(stdout);
	for (;;) {
		while (!got_usr1 && !got_usr2)
			sigsuspend(&none);
		if (got_usr1) {
			got_usr1 = 0;
			for (size_t i = 0; i < arg.n_devs; i++) {
				struct dev *d = &arg.devs[i];
				struct vfio_device_bind_iommufd b = { .argsz = sizeof(b), .iommufd = iommufd };
				if (d->fd < 0 || iommufd < 0)
					printf("# stale bind %s: no fd kept\n", d->bdf);
				else if (ioctl(d->fd, VFIO_DEVICE_BIND_IOMMUFD, &b) < 0)
					printf("# stale bind %s: failed: %s\n", d->bdf, strerrorname_np(errno));
				else
					printf("# stale bind %s: succeeded: dev_id %u\n", d->bdf, b.out_devid);
			}
		}
		if (got_usr2) {
			got_usr2 = 0;
			close_fds();
			printf("# holder closed\n");
		}
		fflush(stdout);
	}
}

static int step_closed(void)
{
	if (bar0)
		munmap((void *)bar0, bar0_size); /* the mapping holds the device file */
	bar0 = NULL;
	if (arg.pass_to_child) {
		pid_t pid;
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			return fail(errno, "fork");
		if (pid == 0) {
			/* Only the device fds and the iommufd: not the bus. */
			int keep_bus = bus ? sd_bus_get_fd(bus) : -1;
			if (keep_bus >= 0)
				close(keep_bus);
			(void)prctl(PR_SET_NAME, "stale-holder");
			stale_holder();
		}
		printf("# passed the device fds to child %d\n", (int)pid);
		close_fds();
	} else if (!arg.keep_after_release)
		close_fds();
	return 0;
}

static int step_released(void)
{
	struct rlimit now = { 0, 0 };
	int listed = 1;

	if (second_path && release_lease(second_path) < 0)
		return -1;
	if (release_lease(lease_path) < 0)
		return -1;
	/* The teardown may finish after the reply: give it 10 s. */
	for (int i = 0; i < 100; i++) {
		listed = lease_listed(lease_path);
		if (listed == 0 && second_path)
			listed = lease_listed(second_path);
		(void)getrlimit(RLIMIT_MEMLOCK, &now);
		if (listed == 0 && now.rlim_cur == memlock_before.rlim_cur &&
		    now.rlim_max == memlock_before.rlim_max)
			break;
		usleep(100 * 1000);
	}
	print_memlock("after release");
	if (listed != 0)
		return fail(0, "a lease is still listed by ListLeases() 10 s after Release()");
	if (now.rlim_cur != memlock_before.rlim_cur || now.rlim_max != memlock_before.rlim_max)
		return fail(0, "RLIMIT_MEMLOCK not restored: %llu/%llu, was %llu/%llu before the lease",
			    (unsigned long long)now.rlim_cur, (unsigned long long)now.rlim_max,
			    (unsigned long long)memlock_before.rlim_cur,
			    (unsigned long long)memlock_before.rlim_max);
	return 0;
}

/* --pause-at: whether STEP is one of the listed steps. */
static bool pause_after(const char *step)
{
	const char *p = arg.pause_at;
	size_t n = strlen(step);
	while (p && *p) {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, step, n) == 0)
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

static void pause_here(const char *step)
{
	sigset_t none;

	sigemptyset(&none);
	printf("# paused after %s\n", step);
	fflush(stdout);
	while (!got_usr1)
		sigsuspend(&none);
	got_usr1 = 0;
	printf("# resumed after %s\n", step);
	fflush(stdout);
}

/* ---- test hooks ---- */

static void wait_forever(const char *what)
{
	printf("# %s\n", what);
	fflush(stdout);
	for (;;)
		pause();
}

/* The owner process dies; a child keeps only its bus connection alive. */
static void orphan_bus(void)
{
	int keep = sd_bus_get_fd(bus);
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fail(errno, "fork");
		exit(EXIT_FAILURE);
	}
	if (pid == 0) {
		for (int fd = 3; fd < 1024; fd++)
			if (fd != keep)
				close(fd);
		for (;;)
			pause();
	}
	printf("# orphan %d keeps the bus connection of owner %d\n", (int)pid, (int)getpid());
	fflush(stdout);
	raise(SIGKILL);
}

static const struct step {
	const char *name; /* for --crash-at */
	const char *desc;
	int (*run)(void);
	bool edu_only;
	bool needs_bound; /* skipped with --unbound */
} steps[] = {
	{ "created", "CreateLease({}) returns a lease, an iommufd and an IOAS of that iommufd", step_created, false, false },
	{ "attached", "AttachDevice() returns each device's VFIO cdev attached to the lease's IOAS", step_attached, false, false },
	{ "bound", "BindDevice() binds each file handed over unbound and attaches it to the lease's IOAS", step_bound, false, true },
	{ "bar0", "BAR0 is mmapped through the device fd and edu answers", step_bar0, true, true },
	{ "mapped", "our own buffer is mapped into the lease's IOAS with IOMMU_IOAS_MAP", step_mapped, false, true },
	{ "dma-started", "edu DMA RAM->device done through the IOAS and device->RAM started", step_dma_started, true, true },
	{ "dma", "the DMA completes and the data that came back is right", step_dma, true, true },
	{ "reset", "ResetDevice() returns and the device answers after it", step_reset, false, true },
	{ "dma-after-reset", "after the reset the IOAS mapping still carries an edu DMA round trip", step_dma_after_reset, true, true },
	{ "before-release", "the client unmaps BAR0 and closes its device fds and iommufd", step_closed, false, false },
	{ "released", "Release() ends the lease and RLIMIT_MEMLOCK is back to what it was", step_released, false, false },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: lease-client --device BDF [--device BDF...] [--raw] [--crash-at STEP] [--hold]\n"
		   "                    [--drop-bus [--keep-fds]] [--orphan-bus] [--expect-error NAME[,NAME...]]\n"
		   "                    [--bind-later] [--unbound] [--kvm-option] [--second-lease BDF]\n"
		   "                    [--pause-at STEP[,STEP...]] [--keep-after-release [--pass-to-child]] [--no-reset]\n"
		   "                    [--one-call]\n"
		   "STEP:");
	for (size_t i = 0; i < ELEMENTSOF(steps); i++)
		fprintf(f, " %s", steps[i].name);
	fputc('\n', f);
}

static int parse_args(int argc, char **argv)
{
	enum { OPT_RAW = 0x100, OPT_HOLD, OPT_DROP_BUS, OPT_KEEP_FDS, OPT_ORPHAN_BUS, OPT_EXPECT_ERROR,
	       OPT_BIND_LATER, OPT_UNBOUND, OPT_KVM_OPTION, OPT_SECOND_LEASE, OPT_PAUSE_AT,
	       OPT_KEEP_AFTER_RELEASE, OPT_PASS_TO_CHILD, OPT_NO_RESET, OPT_ONE_CALL };
	static const struct option options[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "raw", no_argument, NULL, OPT_RAW },
		{ "crash-at", required_argument, NULL, 'c' },
		{ "hold", no_argument, NULL, OPT_HOLD },
		{ "drop-bus", no_argument, NULL, OPT_DROP_BUS },
		{ "keep-fds", no_argument, NULL, OPT_KEEP_FDS },
		{ "orphan-bus", no_argument, NULL, OPT_ORPHAN_BUS },
		{ "expect-error", required_argument, NULL, OPT_EXPECT_ERROR },
		{ "bind-later", no_argument, NULL, OPT_BIND_LATER },
		{ "unbound", no_argument, NULL, OPT_UNBOUND },
		{ "kvm-option", no_argument, NULL, OPT_KVM_OPTION },
		{ "second-lease", required_argument, NULL, OPT_SECOND_LEASE },
		{ "pause-at", required_argument, NULL, OPT_PAUSE_AT },
		{ "keep-after-release", no_argument, NULL, OPT_KEEP_AFTER_RELEASE },
		{ "pass-to-child", no_argument, NULL, OPT_PASS_TO_CHILD },
		{ "no-reset", no_argument, NULL, OPT_NO_RESET },
		{ "one-call", no_argument, NULL, OPT_ONE_CALL },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	while ((c = getopt_long(argc, argv, "d:c:h", options, NULL)) >= 0) {
		switch (c) {
		case 'd':
			if (arg.n_devs == MAX_DEVICES) {
				fprintf(stderr, "lease-client: at most %d devices\n", MAX_DEVICES);
				return -1;
			}
			arg.devs[arg.n_devs++] = (struct dev){ .bdf = optarg, .fd = -1 };
			break;
		case 'c':
			arg.crash_at = optarg;
			break;
		case OPT_RAW: arg.raw = true; break;
		case OPT_HOLD: arg.hold = true; break;
		case OPT_DROP_BUS: arg.drop_bus = true; break;
		case OPT_KEEP_FDS: arg.keep_fds = true; break;
		case OPT_ORPHAN_BUS: arg.orphan_bus = true; break;
		case OPT_EXPECT_ERROR: arg.expect_error = optarg; break;
		case OPT_BIND_LATER: arg.bind_later = true; break;
		case OPT_UNBOUND: arg.unbound = true; break;
		case OPT_KVM_OPTION: arg.kvm_option = true; break;
		case OPT_SECOND_LEASE: arg.second = (struct dev){ .bdf = optarg, .fd = -1 }; break;
		case OPT_PAUSE_AT: arg.pause_at = optarg; break;
		case OPT_KEEP_AFTER_RELEASE: arg.keep_after_release = true; break;
		case OPT_PASS_TO_CHILD: arg.pass_to_child = true; break;
		case OPT_NO_RESET: arg.no_reset = true; break;
		case OPT_ONE_CALL: arg.one_call = true; break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || arg.n_devs == 0) {
		usage(stderr);
		return -1;
	}
	if (arg.crash_at) {
		bool known = false;
		for (size_t i = 0; i < ELEMENTSOF(steps); i++)
			known = known || strcmp(steps[i].name, arg.crash_at) == 0;
		if (!known) {
			fprintf(stderr, "lease-client: unknown step '%s'\n", arg.crash_at);
			usage(stderr);
			return -1;
		}
	}
	for (const char *p = arg.pause_at; p && *p;) {
		size_t len = strcspn(p, ",");
		bool known = false;
		for (size_t i = 0; i < ELEMENTSOF(steps); i++)
			known = known || (strlen(steps[i].name) == len && strncmp(steps[i].name, p, len) == 0);
		if (!known) {
			fprintf(stderr, "lease-client: unknown step '%.*s' in --pause-at\n", (int)len, p);
			return -1;
		}
		p += len + (p[len] == ',');
	}
	if (arg.one_call && (arg.expect_error || arg.second.bdf || arg.kvm_option || arg.bind_later || arg.unbound)) {
		fprintf(stderr, "lease-client: --one-call excludes --expect-error, --second-lease, --kvm-option, "
				"--bind-later and --unbound\n");
		return -1;
	}
	if ((arg.unbound && !arg.raw) || (arg.bind_later && arg.raw) || (arg.pass_to_child && !arg.keep_after_release)) {
		fprintf(stderr, "lease-client: --unbound needs --raw, --bind-later excludes it, --pass-to-child needs --keep-after-release\n");
		return -1;
	}
	if (arg.second.bdf) {
		arg.second.vendor = (unsigned)pci_attr(arg.second.bdf, "vendor");
		arg.second.device = (unsigned)pci_attr(arg.second.bdf, "device");
	}
	for (size_t i = 0; i < arg.n_devs; i++) {
		arg.devs[i].vendor = (unsigned)pci_attr(arg.devs[i].bdf, "vendor");
		arg.devs[i].device = (unsigned)pci_attr(arg.devs[i].bdf, "device");
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = ELEMENTSOF(steps), i, tap = 0;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_args(argc, argv) < 0)
		return 2;
	printf("# pid %d uid %u: lease-client", (int)getpid(), (unsigned)getuid());
	for (int a = 1; a < argc; a++)
		printf(" %s", argv[a]);
	putchar('\n');
	(void)getrlimit(RLIMIT_MEMLOCK, &memlock_before);
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0)
		return fail(errno, "sigaction"), EXIT_FAILURE;
	print_memlock("before the lease");

	r = sd_bus_open_system(&bus);
	if (r < 0) {
		fail(-r, "connecting to the system bus");
		printf("not ok 1 - connected to the system bus\n1..1\n");
		return EXIT_FAILURE;
	}

	for (i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		bool skip = (s->edu_only && !is_edu(PRIMARY)) ||
			    (s->needs_bound && arg.unbound) ||
			    (s->run == step_bound && !arg.bind_later) ||
			    (arg.no_reset && (s->run == step_reset || s->run == step_dma_after_reset)) ||
			    (attach_refused && strcmp(s->name, "released") != 0);
		const char *why = attach_refused ? "the attach was refused as expected" :
				  s->run == step_bound && !arg.bind_later ? "attached bound (no --bind-later)" :
				  s->needs_bound && arg.unbound ? "the file is left unbound (--unbound)" :
				  arg.no_reset && (s->run == step_reset || s->run == step_dma_after_reset) ? "--no-reset" :
				  "not an edu device";
		struct timespec t0, t1;

		tap++;
		if (skip) {
			printf("ok %zu - %s: %s # SKIP %s\n", tap, s->name, s->desc, why);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		r = s->run();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (strcmp(s->name, "attached") == 0 && arg.expect_error && r == 0)
			printf("ok %zu - attached: AttachDevice('%s') fails with %s (%.0f ms)\n", tap,
			       arg.second.bdf ? arg.second.bdf : arg.devs[arg.n_devs - 1].bdf, arg.expect_error,
			       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
		else
			printf("%s %zu - %s: %s (%.0f ms)\n", r < 0 ? "not ok" : "ok", tap, s->name, s->desc,
			       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
		if (r < 0)
			break;
		fflush(stdout);
		if (pause_after(s->name) && !attach_refused)
			pause_here(s->name);
		if (arg.crash_at && strcmp(arg.crash_at, s->name) == 0) {
			printf("# crashing after %s\n", s->name);
			fflush(stdout);
			raise(SIGKILL);
		}
		if (strcmp(s->name, "attached") == 0 && !attach_refused) {
			if (arg.hold)
				wait_forever("holding");
			if (arg.drop_bus || arg.orphan_bus) {
				if (!arg.keep_fds)
					step_closed();
				if (arg.orphan_bus)
					orphan_bus();
				bus = sd_bus_flush_close_unref(bus);
				wait_forever("left the bus");
			}
		}
	}
	printf("1..%zu\n", tap);
	bus = sd_bus_flush_close_unref(bus);
	if (i == n && arg.keep_after_release && !arg.pass_to_child)
		stale_holder();
	return i == n ? EXIT_SUCCESS : EXIT_FAILURE;
}
