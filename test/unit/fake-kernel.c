/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A recording fake of every function of src/ccdevd/kernel/{iommufd,sysfs,
 * vfio,proc}.h.  Unit tests link it with ccdevd_core_lib instead of
 * ccdevd_kernel_lib.  Each call appends one entry to the call log; an entry
 * whose call returned an error ends in '!'.  The names:
 *
 *   sysfs:read_driver (q)         sysfs_read_driver
 *   sysfs:override DRIVER         sysfs_set_driver_override (DRIVER "" clears)
 *   sysfs:unbind                  sysfs_unbind
 *   sysfs:drivers_probe           sysfs_drivers_probe
 *   sysfs:cdev_path (q)           sysfs_vfio_cdev_path
 *   sysfs:cdev_devnum (q)         sysfs_vfio_cdev_devnum
 *   sysfs:reset                   sysfs_reset_function
 *   sysfs:reset_subordinate       sysfs_reset_subordinate (device: the bridge)
 *   sysfs:unbind_start            sysfs_unbind_start
 *   sysfs:unbind_finish           sysfs_unbind_finish
 *   vfio:open                     vfio_cdev_open
 *   vfio:bind                     vfio_bind_iommufd
 *   vfio:attach_pt                vfio_attach_pt
 *   vfio:detach_pt                vfio_detach_pt
 *   vfio:flags (q)                vfio_device_flags
 *   vfio:reset                    vfio_reset
 *   vfio:hot_reset_info (q)       vfio_hot_reset_info
 *   vfio:hot_reset                vfio_hot_reset
 *   vfio:close                    vfio_close (not logged for fd < 0: a no-op)
 *   vfio:probe_dma_buf (q)        vfio_probe_dma_buf_export (-ENOTTY)
 *   vfio:region_info (q)          vfio_region_info (BAR 0: 1 MiB)
 *   vfio:export_dma_buf           vfio_export_dma_buf (an eventfd stands for the dma-buf)
 *   iommufd:open, iommufd:ioas_alloc, iommufd:destroy, iommufd:rlimit,
 *   iommufd:map_file, iommufd:unmap
 *   proc:find_holders (q)         proc_find_holders
 *   proc:kill PID                 proc_kill (of the fake holder: it lets go)
 *
 * (q): a query, left out of fake_log_string() without FAKE_LOG_QUERIES.
 * Each entry also records its device (the syspath's last component, or the
 * device of the file) for FAKE_LOG_DEVICE.
 *
 * The fake sysfs keeps, per device: the bound driver, driver_override, the
 * host driver drivers_probe binds without an override, whether a VFIO cdev
 * exists (while bound to vfio-pci, until an unbind begins), whether `reset`
 * works, and whether a holder keeps a file open.  The writes act on it as the
 * kernel would, so the daemon's read-backs see them.  Every fd handed out is a
 * real one (an eventfd): the unbind's "pidfd" becomes readable once the fake
 * child is done, at once unless a holder keeps the file.
 */

#include "fake-kernel.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ccdevd/kernel/child.h"
#include "ccdevd/kernel/iommufd.h"
#include "ccdevd/kernel/proc.h"
#include "ccdevd/kernel/socket.h"
#include "ccdevd/kernel/sysfs.h"
#include "ccdevd/kernel/vfio.h"
#include "kernel-uapi.h"

#define MAX_DEVICES 16
#define MAX_FDS 64
#define MAX_LOG 1024
#define MAX_RULES 16
#define FAKE_VFIO_MAJOR 511
#define HOLDER_PID 4242

struct fake_dev {
	bool used;
	char syspath[512];
	char name[32];
	char driver[32];
	char override[32];
	char host_driver[32];
	bool unbinding;     /* an unbind began: the cdev node is gone */
	bool no_function_reset;
	bool held;
};

enum fd_kind { FD_FREE, FD_DEVICE, FD_IOMMUFD, FD_UNBIND, FD_DMABUF, FD_CHILD };

struct fake_fd {
	enum fd_kind kind;
	int fd;
	int dev;            /* FD_DEVICE, FD_UNBIND */
	bool bound, attached;
	pid_t pid;          /* FD_UNBIND, FD_CHILD */
	bool done;          /* FD_UNBIND, FD_CHILD: the child finished */
	int result;         /* FD_CHILD: what its function returned */
	int (*fn)(void *);  /* FD_CHILD, held: runs when let go */
	void *ctx;
};

struct entry {
	char line[96];
	char dev[32];
	bool query;
};

struct rule {
	char call[96];
	unsigned nth, seen;
	int error;
};

static struct fake_dev devs[MAX_DEVICES];
static struct fake_fd fds[MAX_FDS];
static struct entry entries[MAX_LOG];
static size_t n_entries;
static struct rule rules[MAX_RULES];
static size_t n_rules;
static unsigned violations;
static unsigned next_ioas = 1, next_pid = 30000;
static bool children_held;

/* ---- bookkeeping ---- */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int dev_by_syspath(const char *syspath)
{
	for (int i = 0; i < MAX_DEVICES; i++)
		if (devs[i].used && strcmp(devs[i].syspath, syspath) == 0)
			return i;
	return -1;
}

static int dev_by_name(const char *name)
{
	for (int i = 0; i < MAX_DEVICES; i++)
		if (devs[i].used && strcmp(devs[i].name, name) == 0)
			return i;
	return -1;
}

static void fd_forget(struct fake_fd *f)
{
	*f = (struct fake_fd){ .kind = FD_FREE, .fd = -1 };
}

static struct fake_fd *fd_find(int fd, enum fd_kind kind)
{
	if (fd < 0)
		return NULL;
	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].kind != FD_FREE && fds[i].fd == fd && (kind == FD_FREE || fds[i].kind == kind))
			return &fds[i];
	return NULL;
}

static struct fake_fd *fd_new(enum fd_kind kind, int dev)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].kind == FD_FREE) {
			int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (fd < 0)
				return NULL;
			/* An entry with this number was closed behind the fake's
			 * back (safe_close() of an iommufd or pidfd): forget it. */
			for (int j = 0; j < MAX_FDS; j++)
				if (fds[j].kind != FD_FREE && fds[j].fd == fd)
					fd_forget(&fds[j]);
			fds[i] = (struct fake_fd){ .kind = kind, .fd = fd, .dev = dev };
			return &fds[i];
		}
	return NULL;
}

static bool cdev_exists(const struct fake_dev *d)
{
	return strcmp(d->driver, "vfio-pci") == 0 && !d->unbinding;
}

static unsigned open_files(int dev)
{
	unsigned n = 0;

	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].kind == FD_DEVICE && fds[i].dev == dev)
			n++;
	return n;
}

/* ---- the log and the failures ---- */

static int fail_for(const char *line, const char *dev)
{
	char op[96], dev_op[160], dev_line[160];

	snprintf(op, sizeof op, "%.*s", (int)strcspn(line, " "), line);
	snprintf(dev_op, sizeof dev_op, "%s %s", dev, op);
	snprintf(dev_line, sizeof dev_line, "%s %s", dev, line);
	for (size_t i = 0; i < n_rules; i++) {
		struct rule *r = &rules[i];

		if (strcmp(r->call, line) != 0 && strcmp(r->call, op) != 0 && strcmp(r->call, dev_op) != 0 &&
		    strcmp(r->call, dev_line) != 0)
			continue;
		r->seen++;
		if (r->nth == 0 || r->nth == r->seen)
			return -r->error;
	}
	return 0;
}

static struct entry *log_add(bool query, const char *dev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static struct entry *log_add(bool query, const char *dev, const char *fmt, ...)
{
	static struct entry overflow;
	struct entry *e = n_entries < MAX_LOG ? &entries[n_entries++] : &overflow;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->line, sizeof e->line, fmt, ap);
	va_end(ap);
	snprintf(e->dev, sizeof e->dev, "%s", dev ? dev : "-");
	e->query = query;
	return e;
}

/* Log the call, then ask the rules whether it fails: 0 or -errno. */
static int call(bool query, const char *dev, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int call(bool query, const char *dev, const char *fmt, ...)
{
	char line[96];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_add(query, dev, "%s", line);
	r = fail_for(line, dev ? dev : "-");
	return r;
}

/* The last entry's call returned r. */
static int ret(int r)
{
	if (r < 0 && n_entries > 0) {
		struct entry *e = &entries[n_entries - 1];
		size_t n = strlen(e->line);
		if (n + 1 < sizeof e->line && (n == 0 || e->line[n - 1] != '!')) {
			e->line[n] = '!';
			e->line[n + 1] = '\0';
		}
	}
	return r;
}

static void violation(const char *dev, const char *what)
{
	violations++;
	log_add(false, dev, "VIOLATION: %s", what);
	fprintf(stderr, "fake-kernel: VIOLATION on %s: %s\n", dev ? dev : "-", what);
}

void fake_log_clear(void)
{
	n_entries = 0;
}

void fake_log_note(const char *device, const char *fmt, ...)
{
	struct entry *e = log_add(false, device, "%s", "");
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->line, sizeof e->line, fmt, ap);
	va_end(ap);
}

char *fake_log_string(unsigned flags)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	bool first = true;

	if (!f)
		return NULL;
	for (size_t i = 0; i < n_entries; i++) {
		if (entries[i].query && !(flags & FAKE_LOG_QUERIES))
			continue;
		fprintf(f, "%s", first ? "" : ", ");
		if (flags & FAKE_LOG_DEVICE)
			fprintf(f, "%s ", entries[i].dev);
		fprintf(f, "%s", entries[i].line);
		first = false;
	}
	fclose(f);
	return s;
}

unsigned fake_log_count(const char *name)
{
	size_t n = strlen(name);
	unsigned k = 0;

	for (size_t i = 0; i < n_entries; i++)
		if (strncmp(entries[i].line, name, n) == 0 &&
		    (entries[i].line[n] == '\0' || entries[i].line[n] == ' ' || entries[i].line[n] == '!'))
			k++;
	return k;
}

void fake_fail(const char *c, unsigned nth, int error)
{
	if (n_rules == MAX_RULES)
		abort();
	rules[n_rules] = (struct rule){ .nth = nth, .error = error };
	snprintf(rules[n_rules].call, sizeof rules[n_rules].call, "%s", c);
	n_rules++;
}

void fake_fail_clear(void)
{
	n_rules = 0;
}

unsigned fake_violations(void)
{
	return violations;
}

/* ---- the test's side ---- */

void fake_reset(void)
{
	/* The fds are closed by their owners (the daemon); a test that leaves
	 * some open leaks them, it never closes one that may be reused. */
	for (int i = 0; i < MAX_FDS; i++)
		fd_forget(&fds[i]);
	memset(devs, 0, sizeof devs);
	n_entries = n_rules = 0;
	violations = 0;
	children_held = false;
}

void fake_device_add(const char *syspath, const char *driver, const char *host_driver)
{
	for (int i = 0; i < MAX_DEVICES; i++)
		if (!devs[i].used) {
			struct fake_dev *d = &devs[i];
			*d = (struct fake_dev){ .used = true };
			snprintf(d->syspath, sizeof d->syspath, "%s", syspath);
			snprintf(d->name, sizeof d->name, "%s", base_name(syspath));
			snprintf(d->driver, sizeof d->driver, "%s", driver);
			snprintf(d->host_driver, sizeof d->host_driver, "%s", host_driver);
			return;
		}
	abort();
}

static struct fake_dev *must_find(const char *syspath)
{
	int i = dev_by_syspath(syspath);

	if (i < 0) {
		fprintf(stderr, "fake-kernel: no device %s\n", syspath);
		abort();
	}
	return &devs[i];
}

void fake_device_set_driver(const char *syspath, const char *driver)
{
	struct fake_dev *d = must_find(syspath);

	snprintf(d->driver, sizeof d->driver, "%s", driver);
}

void fake_device_set_function_reset(const char *syspath, bool works)
{
	must_find(syspath)->no_function_reset = !works;
}

void fake_device_set_holder(const char *syspath, bool held)
{
	must_find(syspath)->held = held;
}

void fake_device_let_go(const char *syspath)
{
	int dev = dev_by_syspath(syspath);

	must_find(syspath)->held = false;
	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].kind == FD_UNBIND && fds[i].dev == dev && !fds[i].done) {
			fds[i].done = true;
			(void)eventfd_write(fds[i].fd, 1);
		}
}

void fake_device_client_bind(const char *syspath)
{
	int dev = dev_by_syspath(syspath);

	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].kind == FD_DEVICE && fds[i].dev == dev)
			fds[i].bound = true;
}

const char *fake_device_driver(const char *syspath)
{
	int i = dev_by_syspath(syspath);

	return i < 0 ? "" : devs[i].driver;
}

const char *fake_device_override(const char *syspath)
{
	int i = dev_by_syspath(syspath);

	return i < 0 ? "" : devs[i].override;
}

const char *fake_device_cdev(const char *syspath)
{
	static char buf[64];
	int i = dev_by_syspath(syspath);

	if (i < 0 || !cdev_exists(&devs[i]))
		return "";
	snprintf(buf, sizeof buf, "/dev/vfio/devices/vfio%d", i);
	return buf;
}

unsigned fake_device_open_files(const char *syspath)
{
	int i = dev_by_syspath(syspath);

	return i < 0 ? 0 : open_files(i);
}

unsigned fake_open_files(void)
{
	unsigned n = 0;

	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].kind == FD_DEVICE)
			n++;
	return n;
}

/* ---- sysfs.h ---- */

static const char *dev_name_of(const char *syspath)
{
	return base_name(syspath);
}

bool sysfs_device_present(const char *syspath)
{
	return dev_by_syspath(syspath) >= 0;
}

int sysfs_read_driver(const char *syspath, char *buf, size_t size)
{
	int i = dev_by_syspath(syspath);
	int r = call(true, dev_name_of(syspath), "sysfs:read_driver");

	if (r == 0 && i < 0)
		r = -ENOENT;
	if (r < 0)
		return ret(r);
	snprintf(buf, size, "%s", devs[i].driver);
	return 0;
}

int sysfs_set_driver_override(const char *syspath, const char *driver)
{
	int i = dev_by_syspath(syspath);
	int r = call(false, dev_name_of(syspath), "sysfs:override %s", driver[0] ? driver : "\"\"");

	if (r == 0 && i < 0)
		r = -ENOENT;
	if (r < 0)
		return ret(r);
	snprintf(devs[i].override, sizeof devs[i].override, "%s", driver);
	return 0;
}

static void do_unbind(int i)
{
	devs[i].driver[0] = '\0';
	devs[i].unbinding = false;
}

int sysfs_unbind(const char *syspath, const char *name)
{
	int i = dev_by_syspath(syspath);
	int r = call(false, dev_name_of(syspath), "sysfs:unbind");

	if (r == 0 && i < 0)
		r = -ENOENT;
	if (r < 0)
		return ret(r);
	if (strcmp(devs[i].driver, "vfio-pci") == 0 && open_files(i) > 0)
		violation(devs[i].name, "unbind of vfio-pci while a file of the device is open (blocks for ever)");
	do_unbind(i);
	return 0;
}

int sysfs_drivers_probe(const char *name)
{
	int i = dev_by_name(name);
	int r = call(false, name, "sysfs:drivers_probe");

	if (r == 0 && i < 0)
		r = -ENODEV;
	if (r < 0)
		return ret(r);
	/* The kernel binds an unbound device: its override, else its driver;
	 * the write succeeds when nothing binds. */
	if (!devs[i].driver[0])
		snprintf(devs[i].driver, sizeof devs[i].driver, "%s",
			 devs[i].override[0] ? devs[i].override : devs[i].host_driver);
	return 0;
}

int sysfs_vfio_cdev_path(const char *syspath, char *buf, size_t size)
{
	int i = dev_by_syspath(syspath);
	int r = call(true, dev_name_of(syspath), "sysfs:cdev_path");

	if (r == 0 && (i < 0 || !cdev_exists(&devs[i])))
		r = -ENOENT;
	if (r < 0)
		return ret(r);
	snprintf(buf, size, "/dev/vfio/devices/vfio%d", i);
	return 0;
}

int sysfs_vfio_cdev_devnum(const char *syspath, dev_t *ret_devnum)
{
	int i = dev_by_syspath(syspath);
	int r = call(true, dev_name_of(syspath), "sysfs:cdev_devnum");

	if (r == 0 && (i < 0 || !cdev_exists(&devs[i])))
		r = -ENOENT;
	if (r < 0)
		return ret(r);
	*ret_devnum = makedev(FAKE_VFIO_MAJOR, (unsigned)i);
	return 0;
}

int sysfs_reset_function(const char *syspath)
{
	int i = dev_by_syspath(syspath);
	int r = call(false, dev_name_of(syspath), "sysfs:reset");

	if (r == 0 && i < 0)
		r = -ENOENT;
	if (r == 0 && devs[i].no_function_reset)
		r = -ENOTTY;
	if (r == 0 && open_files(i) > 0)
		violation(devs[i].name, "reset through sysfs while a file of the device is open");
	return ret(r);
}

int sysfs_reset_subordinate(const char *bridge_syspath)
{
	int r = call(false, base_name(bridge_syspath), "sysfs:reset_subordinate");

	if (r == 0)
		for (int i = 0; i < MAX_DEVICES; i++)
			if (devs[i].used && strncmp(devs[i].syspath, bridge_syspath, strlen(bridge_syspath)) == 0 &&
			    devs[i].syspath[strlen(bridge_syspath)] == '/' && open_files(i) > 0)
				violation(devs[i].name, "hot reset of the set while a file of a member is open");
	return ret(r);
}

int sysfs_unbind_start(const char *syspath, const char *name, pid_t *ret_pid)
{
	int i = dev_by_syspath(syspath);
	int r = call(false, dev_name_of(syspath), "sysfs:unbind_start");
	struct fake_fd *f;

	if (r == 0 && i < 0)
		r = -ENOENT;
	if (r < 0)
		return ret(r);
	f = fd_new(FD_UNBIND, i);
	if (!f)
		return ret(-EMFILE);
	/* vfio-pci removes the cdev node first, then waits for the files. */
	if (strcmp(devs[i].driver, "vfio-pci") == 0)
		devs[i].unbinding = true;
	f->pid = next_pid++;
	if (!devs[i].held) {
		f->done = true;
		(void)eventfd_write(f->fd, 1);
	}
	*ret_pid = f->pid;
	return f->fd;
}

int sysfs_unbind_finish(int pidfd, pid_t pid)
{
	struct fake_fd *f = fd_find(pidfd, FD_UNBIND);
	int dev = f ? f->dev : -1;
	int r = call(false, dev >= 0 ? devs[dev].name : NULL, "sysfs:unbind_finish");

	if (!f) {
		violation(NULL, "unbind_finish of an fd that is no unbind of the fake");
		return ret(-ECHILD);
	}
	if (f->pid != pid)
		violation(devs[dev].name, "unbind_finish with the wrong pid");
	if (!f->done)
		violation(devs[dev].name, "unbind_finish before the child finished (blocks in waitid)");
	close(f->fd);
	fd_forget(f);
	if (r == 0)
		do_unbind(dev);
	else
		devs[dev].unbinding = false; /* still bound: the node is back */
	return ret(r);
}

/* ---- child.h ---- */

/* The function runs at once, in this process (its calls go to the fake, in
 * order), unless fake_hold_children(): then it runs when let go. */
int child_start(int (*fn)(void *userdata), void *userdata, int keep_fd, pid_t *ret_pid)
{
	struct fake_fd *f = fd_new(FD_CHILD, -1);

	if (!f)
		return -EMFILE;
	f->pid = next_pid++;
	if (children_held) {
		f->fn = fn;
		f->ctx = userdata;
	} else {
		f->result = fn(userdata);
		f->done = true;
		(void)eventfd_write(f->fd, 1);
	}
	*ret_pid = f->pid;
	return f->fd;
}

int child_finish(int pidfd, pid_t pid)
{
	struct fake_fd *f = fd_find(pidfd, FD_CHILD);
	int r;

	if (!f) {
		violation(NULL, "child_finish of an fd that is no child of the fake");
		return -ECHILD;
	}
	if (f->pid != pid)
		violation(NULL, "child_finish with the wrong pid");
	if (!f->done)
		violation(NULL, "child_finish before the child finished (blocks in waitid)");
	r = f->result;
	close(f->fd);
	fd_forget(f);
	return r;
}

void fake_hold_children(bool hold)
{
	children_held = hold;
	if (hold)
		return;
	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].kind == FD_CHILD && !fds[i].done) {
			fds[i].result = fds[i].fn(fds[i].ctx);
			fds[i].done = true;
			(void)eventfd_write(fds[i].fd, 1);
		}
}

unsigned fake_children_running(void)
{
	unsigned n = 0;

	for (int i = 0; i < MAX_FDS; i++)
		n += fds[i].kind == FD_CHILD && !fds[i].done;
	return n;
}

/* ---- vfio.h ---- */

static const char *fd_dev_name(const struct fake_fd *f)
{
	return f && f->dev >= 0 ? devs[f->dev].name : NULL;
}

int vfio_cdev_open(const char *path)
{
	const char *p = strrchr(path, '/');
	int i = -1;
	struct fake_fd *f;
	int r;

	if (p && sscanf(p, "/vfio%d", &i) != 1)
		i = -1;
	if (i >= MAX_DEVICES || (i >= 0 && !devs[i].used))
		i = -1;
	r = call(false, i >= 0 ? devs[i].name : NULL, "vfio:open");
	if (r == 0 && (i < 0 || !cdev_exists(&devs[i])))
		r = -ENOENT;
	if (r < 0)
		return ret(r);
	f = fd_new(FD_DEVICE, i);
	if (!f)
		return ret(-EMFILE);
	return f->fd;
}

int vfio_bind_iommufd(int device_fd, int iommufd, uint32_t *ret_dev_id)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);
	int r = call(false, fd_dev_name(f), "vfio:bind");

	if (r == 0 && !f)
		r = -EBADF;
	if (r == 0 && !fd_find(iommufd, FD_IOMMUFD))
		r = -EBADF;
	if (r == 0 && f->bound)
		r = -EBUSY;
	if (r < 0)
		return ret(r);
	f->bound = true;
	*ret_dev_id = 0x100 + (uint32_t)f->dev;
	return 0;
}

int vfio_attach_pt(int device_fd, uint32_t pt_id)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);
	int r = call(false, fd_dev_name(f), "vfio:attach_pt");

	if (r == 0 && !f)
		r = -EBADF;
	if (r == 0 && !f->bound)
		r = -EINVAL;
	if (r < 0)
		return ret(r);
	f->attached = true;
	return 0;
}

int vfio_detach_pt(int device_fd)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);
	int r = call(false, fd_dev_name(f), "vfio:detach_pt");

	if (r == 0 && !f)
		r = -EBADF;
	if (r == 0 && !f->bound)
		r = -EINVAL;
	if (r < 0)
		return ret(r);
	f->attached = false;
	return 0;
}

int vfio_device_flags(int device_fd, uint32_t *ret_flags)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);
	int r = call(true, fd_dev_name(f), "vfio:flags");

	if (r == 0 && !f)
		r = -EBADF;
	/* An unbound cdev file answers no ioctl but BIND_IOMMUFD. */
	if (r == 0 && !f->bound)
		r = -EINVAL;
	if (r < 0)
		return ret(r);
	*ret_flags = VFIO_DEVICE_FLAGS_PCI | (devs[f->dev].no_function_reset ? 0 : VFIO_DEVICE_FLAGS_RESET);
	return 0;
}

int vfio_reset(int device_fd)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);
	int r = call(false, fd_dev_name(f), "vfio:reset");

	if (r == 0 && !f)
		r = -EBADF;
	if (r == 0 && (!f->bound || devs[f->dev].no_function_reset))
		r = -EINVAL;
	return ret(r);
}

int vfio_hot_reset_info(int device_fd, uint32_t *ret_flags, uint32_t *ret_count)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);
	int r = call(true, fd_dev_name(f), "vfio:hot_reset_info");
	uint32_t n = 0;

	if (r == 0 && !f)
		r = -EBADF;
	if (r == 0 && !f->bound)
		r = -EINVAL;
	if (r < 0)
		return ret(r);
	/* The set: every device below the same parent. */
	const char *slash = strrchr(devs[f->dev].syspath, '/');
	size_t plen = slash ? (size_t)(slash - devs[f->dev].syspath) : 0;
	for (int i = 0; i < MAX_DEVICES; i++)
		if (devs[i].used && strncmp(devs[i].syspath, devs[f->dev].syspath, plen) == 0 &&
		    devs[i].syspath[plen] == '/' && !strchr(devs[i].syspath + plen + 1, '/'))
			n++;
	*ret_flags = VFIO_PCI_HOT_RESET_FLAG_DEV_ID | VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED;
	*ret_count = n;
	return 0;
}

int vfio_hot_reset(int device_fd)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);
	int r = call(false, fd_dev_name(f), "vfio:hot_reset");

	if (r == 0 && !f)
		r = -EBADF;
	if (r == 0 && !f->bound)
		r = -EINVAL;
	return ret(r);
}

int vfio_close(int device_fd)
{
	struct fake_fd *f;

	if (device_fd < 0)
		return -1;
	f = fd_find(device_fd, FD_DEVICE);
	(void)call(false, fd_dev_name(f), "vfio:close");
	if (!f) {
		violation(NULL, "vfio_close of an fd that is no open device file of the fake");
		(void)ret(-EBADF);
		return -1;
	}
	close(f->fd);
	fd_forget(f);
	return -1;
}

int vfio_probe_dma_buf_export(int device_fd)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);
	int r = call(true, fd_dev_name(f), "vfio:probe_dma_buf");

	return ret(r < 0 ? r : -ENOTTY);
}

int vfio_region_info(int device_fd, uint32_t index, uint64_t *ret_size, uint32_t *ret_flags)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);
	int r = call(true, fd_dev_name(f), "vfio:region_info");

	if (r == 0 && (!f || !f->bound))
		r = -EINVAL;
	if (r < 0)
		return ret(r);
	/* A 1 MiB BAR 0, nothing else. */
	*ret_size = index == 0 ? 1u << 20 : 0;
	*ret_flags = 0;
	return 0;
}

int vfio_export_dma_buf(int device_fd, uint32_t region, const struct vfio_dma_slice *slices, size_t n)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);
	int r = call(false, fd_dev_name(f), "vfio:export_dma_buf");

	if (r == 0 && (!f || !f->bound))
		r = -EINVAL;
	if (r < 0)
		return ret(r);
	/* A plain fd stands for the dma-buf; the daemon closes it with
	 * safe_close(), and fd_new() forgets a reused number. */
	f = fd_new(FD_DMABUF, f->dev);
	return f ? f->fd : ret(-EMFILE);
}

int vfio_cdev_check(int device_fd, dev_t rdev)
{
	struct fake_fd *f = fd_find(device_fd, FD_DEVICE);

	return f && rdev == makedev(FAKE_VFIO_MAJOR, (unsigned)f->dev) ? 0 : -ENODEV;
}

/* ---- iommufd.h ---- */

int iommufd_open(void)
{
	int r = call(false, NULL, "iommufd:open");
	struct fake_fd *f;

	if (r < 0)
		return ret(r);
	f = fd_new(FD_IOMMUFD, -1);
	return f ? f->fd : ret(-EMFILE);
}

int iommufd_ioas_alloc(int iommufd, uint32_t *ret_ioas_id)
{
	int r = call(false, NULL, "iommufd:ioas_alloc");

	if (r == 0 && !fd_find(iommufd, FD_IOMMUFD))
		r = -EBADF;
	if (r < 0)
		return ret(r);
	*ret_ioas_id = next_ioas++;
	return 0;
}

int iommufd_destroy(int iommufd, uint32_t id)
{
	int r = call(false, NULL, "iommufd:destroy");

	if (r == 0 && !fd_find(iommufd, FD_IOMMUFD))
		r = -EBADF;
	return ret(r);
}

int iommufd_set_rlimit_mode_per_process(int iommufd)
{
	int r = call(false, NULL, "iommufd:rlimit");

	if (r == 0 && !fd_find(iommufd, FD_IOMMUFD))
		r = -EBADF;
	return ret(r);
}

int iommufd_ioas_map_file(int iommufd, uint32_t ioas_id, int fd, uint64_t start, uint64_t length,
			  uint64_t *iova_inout, bool fixed_iova)
{
	int r = call(false, NULL, "iommufd:map_file");

	if (r == 0 && !fd_find(iommufd, FD_IOMMUFD))
		r = -EBADF;
	if (r < 0)
		return ret(r);
	if (!fixed_iova)
		*iova_inout = 0x100000;
	return 0;
}

int iommufd_ioas_unmap(int iommufd, uint32_t ioas_id, uint64_t iova, uint64_t length)
{
	int r = call(false, NULL, "iommufd:unmap");

	if (r == 0 && !fd_find(iommufd, FD_IOMMUFD))
		r = -EBADF;
	return ret(r);
}

int iommufd_check_ioas(int iommufd, uint32_t ioas_id)
{
	return fd_find(iommufd, FD_IOMMUFD) && ioas_id > 0 && ioas_id < next_ioas ? 0 : -ENOTTY;
}

/* ---- proc.h ---- */

int proc_pidfd_pid(int pidfd, pid_t *ret_pid)
{
	return -EINVAL; /* the unit tests store no pidfds */
}

int proc_pidfd_euid(int pidfd, pid_t pid, uid_t *ret)
{
	return -ENOENT; /* the unit tests create no lease through lease_new() */
}

int proc_dmabuf_size(int fd, uint64_t *ret)
{
	return -EINVAL; /* the fake exports no dma-bufs */
}

int proc_find_holders(dev_t rdev, struct fd_holder *holders, size_t max)
{
	unsigned i = minor(rdev);
	bool ours = major(rdev) == FAKE_VFIO_MAJOR && i < MAX_DEVICES && devs[i].used;
	int r = call(true, ours ? devs[i].name : NULL, "proc:find_holders");

	if (r < 0)
		return ret(r);
	if (!ours || !devs[i].held || max == 0)
		return 0;
	holders[0] = (struct fd_holder){ .pid = HOLDER_PID };
	snprintf(holders[0].comm, sizeof holders[0].comm, "qemu");
	return 1;
}

int proc_kill(pid_t pid)
{
	int r = call(false, NULL, "proc:kill %d", (int)pid);

	if (r == 0 && pid != HOLDER_PID)
		r = -ESRCH;
	if (r < 0)
		return ret(r);
	/* The holder dies: its files close, every unbind it held finishes. */
	for (int i = 0; i < MAX_DEVICES; i++)
		if (devs[i].used && devs[i].held)
			fake_device_let_go(devs[i].syspath);
	return 0;
}

/* ---- kernel/socket.h: no direct socket in the unit tier ---- */

int socket_peer_creds(int fd, struct peer_creds *c)
{
	*c = (struct peer_creds){ .pidfd = -1 };
	return -ENOTSUP;
}

void peer_creds_done(struct peer_creds *c)
{
	free(c->gids);
	*c = (struct peer_creds){ .pidfd = -1 };
}
