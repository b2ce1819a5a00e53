/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dmabuf-client: a long-lived VMM stand-in for test/vm/test-lease-dmabuf,
 * driven line by line from stdin so that a shell script keeps its leases
 * alive across steps (it reads a fifo the script holds open).
 *
 * One result line per command:
 *   ok COMMAND [RESULT...]
 *   error NAME: MESSAGE        NAME: the D-Bus error name, or "local" (an
 *                              ioctl or mmap of ours failed), or "usage"
 * and, as they arrive (also while a command waits for its reply: they are
 * then printed after its result line), the lease signals the daemon sends
 * this connection:
 *   signal MEMBER lease=NAME ARG=VALUE...   (t in hex, u in decimal)
 * Lines starting with "#" are diagnostics.  Leases have names chosen by the
 * script; a process may hold several.
 *
 * Commands (NUM: decimal or 0x hex; RANGES: OFF:LEN[,OFF:LEN...]):
 *   create NAME                       Manager.CreateLease({})
 *   attach NAME BDF                   Lease.AttachDevice(BDF, {}) (bound)
 *   enable NAME BDF                   memory decoding and bus mastering on
 *   memory NAME BDF on|off            PCI_COMMAND_MEMORY alone, set or cleared
 *   map NAME BDF BAR RANGES [IOVA]    Lease.MapDmaBuf; prints iova=
 *   unmap NAME IOVA                   Lease.UnmapDmaBuf
 *   export NAME BDF BAR RANGES        Lease.ExportDmaBuf; keeps the fd,
 *                                     prints its index and fstat size
 *   import-own NAME IOVA [INDEX]      IOMMU_IOAS_MAP_FILE of a kept export
 *                                     (default: the last) at IOVA in the
 *                                     lease's own iommufd
 *   unimport-own NAME IOVA            IOMMU_IOAS_UNMAP of that import
 *   reset NAME BDF                    Lease.ResetDevice
 *   refresh NAME BDF                  Lease.RefreshDmaBuf; prints restored=
 *   prop NAME PROPERTY                a Lease property, printed generically
 *   ranges NAME                       IOMMU_IOAS_IOVA_RANGES of the IOAS
 *   edu-setup NAME                    the lease's edu: BAR0 mmapped, memory
 *                                     and bus master on, a RAM buffer
 *                                     mapped at DMA_IOVA (IOMMU_IOAS_MAP)
 *   dma-read NAME IOVA LEN            edu DMA IOVA -> edu buffer -> RAM;
 *                                     the edu buffer is prefilled with 5a
 *                                     and RAM with a5; prints bytes=HEX
 *   dma-live NAME IOVA                edu P2P write of its buffer into its
 *                                     own liveness register at IOVA + 4
 *                                     (IOVA: edu BAR0 mapped); prints
 *                                     "live arrived" or "live lost"
 *   bar-read NAME BDF BAR OFF         pread of 4 bytes through the device
 *                                     fd's region; prints value= bytes=
 *   close NAME BDF                    close our fd of the device (and
 *                                     munmap edu's BAR0 if it is the edu)
 *   release NAME                      Lease.Release(), then our fds go
 *   signals                           a round trip to the daemon, then
 *                                     every signal it sent before is out
 *   pid                               prints our pid
 *   quit                              (also EOF on stdin)
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-api.h"
#include "cleanup.h"
#include "edu.h"
#include "kernel-uapi.h"
#include "vmtest.h"

#define MAX_LEASES 8
#define MAX_DEVICES 4
#define MAX_EXPORTS 80
#define MAX_IMPORTS 8
#define MAX_ARGS 24
#define MAX_RANGES 32

struct device {
	char bdf[32];
	int fd;
	uint64_t cfg_offset;
	bool edu;
};

struct export {
	char bdf[32];
	int fd;
	uint64_t size;
};

struct import {
	uint64_t iova, length;
};

struct range {
	uint64_t offset, length;
};

struct lease {
	char name[32];
	char *path;
	int iommufd;
	uint32_t ioas_id;
	struct device devs[MAX_DEVICES];
	size_t n_devs;
	struct export exports[MAX_EXPORTS];
	size_t n_exports;
	struct import imports[MAX_IMPORTS];
	size_t n_imports;
	/* edu-setup */
	struct device *edu;
	volatile uint8_t *bar0;
	uint64_t bar0_size;
	uint8_t *buf;
};

static sd_bus *bus;
static sd_event *event;
static struct lease leases[MAX_LEASES];
static bool quitting;

/* ---- replies ---- */

static int reply_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int reply_ok(const char *fmt, ...)
{
	va_list ap;

	fputs("ok ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return 0;
}

static int reply_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reply_error(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("error %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return -1;
}

static int reply_bus_error(const sd_bus_error *e, int r, const char *what)
{
	if (sd_bus_error_is_set(e))
		return reply_error(e->name, "%s", e->message ? e->message : "");
	return reply_error("local", "%s: %s", what, strerror(-r));
}

static int reply_errno(int err, const char *what)
{
	return reply_error("local", "%s: %s (%s)", what, strerror(err), strerrorname_np(err));
}

/* ---- arguments ---- */

static int parse_num(const char *s, uint64_t *ret)
{
	char *end;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -1;
	*ret = strtoull(s, &end, 0);
	return errno || *end ? -1 : 0;
}

/* OFF:LEN[,OFF:LEN...] */
static int parse_ranges(const char *s, struct range *ranges, size_t *ret_n)
{
	size_t n = 0;

	while (*s) {
		char item[64], *colon;
		size_t len = strcspn(s, ",");
		if (len >= sizeof(item) || n == MAX_RANGES)
			return -1;
		memcpy(item, s, len);
		item[len] = '\0';
		colon = strchr(item, ':');
		if (!colon)
			return -1;
		*colon = '\0';
		if (parse_num(item, &ranges[n].offset) < 0 || parse_num(colon + 1, &ranges[n].length) < 0)
			return -1;
		n++;
		s += len + (s[len] == ',');
	}
	*ret_n = n;
	return n > 0 ? 0 : -1;
}

static struct lease *find_lease(const char *name)
{
	for (size_t i = 0; i < MAX_LEASES; i++)
		if (leases[i].path && strcmp(leases[i].name, name) == 0)
			return &leases[i];
	return NULL;
}

static struct lease *lease_arg(const char *name)
{
	struct lease *l = find_lease(name);

	if (!l)
		reply_error("usage", "no lease named '%s' in this client", name);
	return l;
}

static struct device *device_arg(struct lease *l, const char *bdf)
{
	for (size_t i = 0; i < l->n_devs; i++)
		if (l->devs[i].fd >= 0 && strcmp(l->devs[i].bdf, bdf) == 0)
			return &l->devs[i];
	reply_error("usage", "%s holds no open fd of %s", l->name, bdf);
	return NULL;
}

/* ---- printing D-Bus values: t in hex, arrays [..], structs (..) ---- */

static int print_values(sd_bus_message *m);

static int print_container(sd_bus_message *m, char type, const char *contents, const char *open,
			   const char *close)
{
	int r = sd_bus_message_enter_container(m, type, contents);
	if (r < 0)
		return r;
	fputs(open, stdout);
	r = print_values(m);
	fputs(close, stdout);
	return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int print_values(sd_bus_message *m)
{
	for (bool first = true;; first = false) {
		const char *contents;
		char type;
		int r = sd_bus_message_peek_type(m, &type, &contents);
		if (r <= 0)
			return r;
		if (!first)
			putchar(' ');
		union {
			uint8_t y;
			int b, i;
			int16_t n;
			uint16_t q;
			uint32_t u;
			int64_t x;
			uint64_t t;
			double d;
			const char *s;
		} v;
		switch (type) {
		case 'a':
			r = print_container(m, type, contents, "[", "]");
			break;
		case 'r':
			r = print_container(m, type, contents, "(", ")");
			break;
		case 'e':
			r = print_container(m, type, contents, "{", "}");
			break;
		case 'v':
			r = print_container(m, type, contents, "", "");
			break;
		default:
			r = sd_bus_message_read_basic(m, type, &v);
			if (r < 0)
				return r;
			switch (type) {
			case 'y': printf("%u", v.y); break;
			case 'b': fputs(v.b ? "true" : "false", stdout); break;
			case 'n': printf("%d", v.n); break;
			case 'q': printf("%u", v.q); break;
			case 'i': printf("%d", v.i); break;
			case 'u': printf("%" PRIu32, v.u); break;
			case 'x': printf("%" PRId64, v.x); break;
			case 't': printf("0x%" PRIx64, v.t); break;
			case 'd': printf("%g", v.d); break;
			case 'h': printf("fd"); break;
			default: fputs(v.s, stdout); break; /* s o g */
			}
		}
		if (r < 0)
			return r;
	}
}

/* ---- signals ---- */

static const struct {
	const char *member;
	const char *args[5];
} signal_args[] = {
	{ "DmaBufRevoked", { "iova", "length", "device", "bar", "reason" } },
	{ "DmaBufRestored", { "iova", "length", "device", "bar" } },
	{ "DevicePaused", { "device", "reason" } },
	{ "DeviceResumed", { "device", "reset_done" } },
	{ "DeviceLost", { "device", "reason" } },
};

static int on_lease_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *member = sd_bus_message_get_member(m), *path = sd_bus_message_get_path(m);
	const char *const *names = NULL;
	const char *lease = path;

	for (size_t i = 0; i < MAX_LEASES; i++)
		if (leases[i].path && strcmp(leases[i].path, path) == 0)
			lease = leases[i].name;
	for (size_t i = 0; i < ELEMENTSOF(signal_args); i++)
		if (strcmp(signal_args[i].member, member) == 0)
			names = signal_args[i].args;
	printf("signal %s lease=%s", member, lease);
	for (size_t i = 0;; i++) {
		const char *contents;
		char type;
		if (sd_bus_message_peek_type(m, &type, &contents) <= 0)
			break;
		printf(" %s=", names && i < 5 && names[i] ? names[i] : "arg");
		if (type == 'a' || type == 'r' || type == 'e' || type == 'v') {
			if (print_container(m, type, contents, "[", "]") < 0)
				break;
			continue;
		}
		union {
			int b;
			uint32_t u;
			uint64_t t;
			const char *s;
			uint8_t raw[8];
		} v;
		if (sd_bus_message_read_basic(m, type, &v) < 0)
			break;
		if (type == 't')
			printf("0x%" PRIx64, v.t);
		else if (type == 'u')
			printf("%" PRIu32, v.u);
		else if (type == 'b')
			fputs(v.b ? "true" : "false", stdout);
		else if (type == 's' || type == 'o')
			fputs(v.s, stdout);
		else
			putchar('?');
	}
	putchar('\n');
	return 0;
}

/* ---- the lease's fds ---- */

static void edu_teardown(struct lease *l)
{
	if (l->bar0)
		munmap((void *)l->bar0, l->bar0_size);
	l->bar0 = NULL;
	if (l->buf)
		munmap(l->buf, BUF_SIZE);
	l->buf = NULL;
	l->edu = NULL;
}

static void lease_close_all(struct lease *l)
{
	edu_teardown(l);
	for (size_t i = 0; i < l->n_devs; i++)
		l->devs[i].fd = safe_close(l->devs[i].fd);
	for (size_t i = 0; i < l->n_exports; i++)
		l->exports[i].fd = safe_close(l->exports[i].fd);
	l->iommufd = safe_close(l->iommufd);
	free(l->path);
	*l = (struct lease){ .iommufd = -1 };
}

/* ---- commands ---- */

static int cmd_create(char **argv)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct lease *l = NULL;
	const char *path;
	int fd, r;

	if (find_lease(argv[1]) || strlen(argv[1]) >= sizeof(l->name))
		return reply_error("usage", "lease name '%s' is taken or too long", argv[1]);
	for (size_t i = 0; i < MAX_LEASES && !l; i++)
		if (!leases[i].path)
			l = &leases[i];
	if (!l)
		return reply_error("usage", "at most %d leases", MAX_LEASES);
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, CCDEVD_MANAGER_IFACE, "CreateLease",
			       &e, &reply, "a{sv}", 0);
	if (r < 0)
		return reply_bus_error(&e, r, "CreateLease");
	r = sd_bus_message_read(reply, "ohu", &path, &fd, &l->ioas_id);
	if (r < 0)
		return reply_errno(-r, "CreateLease reply");
	*l = (struct lease){ .iommufd = fcntl(fd, F_DUPFD_CLOEXEC, 3), .ioas_id = l->ioas_id };
	if (l->iommufd < 0)
		return reply_errno(errno, "dup of the iommufd");
	l->path = strdup(path);
	if (!l->path) {
		l->iommufd = safe_close(l->iommufd);
		return reply_errno(ENOMEM, "strdup");
	}
	snprintf(l->name, sizeof(l->name), "%s", argv[1]);
	return reply_ok("create %s %s ioas=%u", l->name, l->path, l->ioas_id);
}

static int cmd_attach(char **argv)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct lease *l = lease_arg(argv[1]);
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint32_t dev_id, pt_id;
	struct device *d;
	int fd, r;

	if (!l)
		return -1;
	if (l->n_devs == MAX_DEVICES || strlen(argv[2]) >= sizeof(d->bdf))
		return reply_error("usage", "at most %d devices per lease", MAX_DEVICES);
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, l->path, CCDEVD_LEASE_IFACE, "AttachDevice", &e, &reply,
			       "sa{sv}", argv[2], 0);
	if (r < 0)
		return reply_bus_error(&e, r, "AttachDevice");
	r = sd_bus_message_read(reply, "huu", &fd, &dev_id, &pt_id);
	if (r < 0)
		return reply_errno(-r, "AttachDevice reply");
	d = &l->devs[l->n_devs];
	*d = (struct device){ .fd = fcntl(fd, F_DUPFD_CLOEXEC, 3) };
	if (d->fd < 0)
		return reply_errno(errno, "dup of the device fd");
	l->n_devs++;
	snprintf(d->bdf, sizeof(d->bdf), "%s", argv[2]);
	d->edu = pci_attr(d->bdf, "vendor") == 0x1234 && pci_attr(d->bdf, "device") == 0x11e8;
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
		return reply_errno(errno, "VFIO_DEVICE_GET_REGION_INFO of the config space");
	d->cfg_offset = cfg.offset;
	return reply_ok("attach %s dev_id=%u pt_id=%u", d->bdf, dev_id, pt_id);
}

static int cmd_enable(char **argv)
{
	struct lease *l = lease_arg(argv[1]);
	struct device *d = l ? device_arg(l, argv[2]) : NULL;

	if (!d)
		return -1;
	if (vfio_enable_bus_master(d->fd, d->cfg_offset, d->bdf) < 0)
		return reply_error("local", "enabling memory and bus mastering of %s failed (see above)", d->bdf);
	return reply_ok("enable %s", d->bdf);
}

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2

/* memory LEASE BDF on|off: the VMM's own memory-space toggle (a config
 * write of PCI_COMMAND_MEMORY), which the daemon cannot see. */
static int cmd_memory(char **argv)
{
	struct lease *l = lease_arg(argv[1]);
	struct device *d = l ? device_arg(l, argv[2]) : NULL;
	bool on = argv[3] && strcmp(argv[3], "on") == 0;
	uint16_t cmd;

	if (!d)
		return -1;
	if (!argv[3] || (!on && strcmp(argv[3], "off") != 0))
		return reply_error("usage", "memory LEASE BDF on|off");
	if (pread(d->fd, &cmd, sizeof(cmd), (off_t)(d->cfg_offset + PCI_COMMAND)) != sizeof(cmd))
		return reply_errno(errno, "pread PCI_COMMAND");
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	if (pwrite(d->fd, &cmd, sizeof(cmd), (off_t)(d->cfg_offset + PCI_COMMAND)) != sizeof(cmd))
		return reply_errno(errno, "pwrite PCI_COMMAND");
	return reply_ok("memory %s %s", d->bdf, on ? "on" : "off");
}

static int append_ranges(sd_bus_message *m, const struct range *ranges, size_t n)
{
	int r = sd_bus_message_open_container(m, 'a', "(tt)");
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = sd_bus_message_append(m, "(tt)", ranges[i].offset, ranges[i].length);
	return r < 0 ? r : sd_bus_message_close_container(m);
}

/* LEASE BDF BAR RANGES: a method call of NAME with them appended. */
static int dmabuf_call(char **argv, const char *method, bool with_iova, uint64_t iova, sd_bus_error *e,
		       sd_bus_message **reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	struct range ranges[MAX_RANGES];
	struct lease *l = lease_arg(argv[1]);
	uint64_t bar;
	size_t n;
	int r;

	if (!l)
		return -EINVAL;
	if (parse_num(argv[3], &bar) < 0 || bar > UINT32_MAX || parse_ranges(argv[4], ranges, &n) < 0) {
		reply_error("usage", "%s LEASE BDF BAR OFF:LEN[,OFF:LEN...]", method);
		return -EINVAL;
	}
	r = sd_bus_message_new_method_call(bus, &m, CCDEVD_BUS_NAME, l->path, CCDEVD_LEASE_IFACE, method);
	if (r >= 0)
		r = sd_bus_message_append(m, "su", argv[2], (uint32_t)bar);
	if (r >= 0)
		r = append_ranges(m, ranges, n);
	if (r >= 0 && with_iova)
		r = sd_bus_message_append(m, "a{sv}", 1, "iova", "t", iova);
	else if (r >= 0)
		r = sd_bus_message_append(m, "a{sv}", 0);
	if (r < 0) {
		reply_errno(-r, "building the call");
		return r;
	}
	r = sd_bus_call(bus, m, 0, e, reply);
	if (r < 0)
		reply_bus_error(e, r, method);
	return r;
}

static int cmd_map(char **argv)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	uint64_t iova = 0;
	int r;

	if (argv[5] && parse_num(argv[5], &iova) < 0)
		return reply_error("usage", "map LEASE BDF BAR RANGES [IOVA]");
	r = dmabuf_call(argv, "MapDmaBuf", argv[5] != NULL, iova, &e, &reply);
	if (r < 0)
		return -1;
	r = sd_bus_message_read(reply, "t", &iova);
	if (r < 0)
		return reply_errno(-r, "MapDmaBuf reply");
	return reply_ok("map iova=0x%" PRIx64, iova);
}

static int cmd_unmap(char **argv)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	struct lease *l = lease_arg(argv[1]);
	uint64_t iova;
	int r;

	if (!l)
		return -1;
	if (parse_num(argv[2], &iova) < 0)
		return reply_error("usage", "unmap LEASE IOVA");
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, l->path, CCDEVD_LEASE_IFACE, "UnmapDmaBuf", &e, NULL, "t",
			       iova);
	if (r < 0)
		return reply_bus_error(&e, r, "UnmapDmaBuf");
	return reply_ok("unmap 0x%" PRIx64, iova);
}

static int cmd_export(char **argv)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct lease *l = lease_arg(argv[1]);
	struct export *x;
	struct stat st;
	int fd, r;

	if (!l)
		return -1;
	if (l->n_exports == MAX_EXPORTS)
		return reply_error("usage", "at most %d exports kept", MAX_EXPORTS);
	r = dmabuf_call(argv, "ExportDmaBuf", false, 0, &e, &reply);
	if (r < 0)
		return -1;
	r = sd_bus_message_read(reply, "h", &fd);
	if (r < 0)
		return reply_errno(-r, "ExportDmaBuf reply");
	x = &l->exports[l->n_exports];
	*x = (struct export){ .fd = fcntl(fd, F_DUPFD_CLOEXEC, 3) };
	if (x->fd < 0)
		return reply_errno(errno, "dup of the dma-buf fd");
	l->n_exports++;
	snprintf(x->bdf, sizeof(x->bdf), "%s", argv[2]);
	if (fstat(x->fd, &st) < 0)
		return reply_errno(errno, "fstat of the dma-buf");
	x->size = (uint64_t)st.st_size;
	return reply_ok("export index=%zu size=0x%" PRIx64, l->n_exports - 1, x->size);
}

static int cmd_import_own(char **argv)
{
	struct lease *l = lease_arg(argv[1]);
	uint64_t iova, index;
	struct export *x;

	if (!l)
		return -1;
	if (parse_num(argv[2], &iova) < 0 || (argv[3] && parse_num(argv[3], &index) < 0))
		return reply_error("usage", "import-own LEASE IOVA [INDEX]");
	if (!argv[3])
		index = l->n_exports - 1;
	if (l->n_exports == 0 || index >= l->n_exports || l->exports[index].fd < 0)
		return reply_error("usage", "no kept export %" PRIu64, index);
	if (l->n_imports == MAX_IMPORTS)
		return reply_error("usage", "at most %d imports", MAX_IMPORTS);
	x = &l->exports[index];
	struct iommu_ioas_map_file mf = {
		.size = sizeof(mf), .ioas_id = l->ioas_id, .fd = x->fd,
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.start = 0, .length = x->size, .iova = iova,
	};
	if (ioctl(l->iommufd, IOMMU_IOAS_MAP_FILE, &mf) < 0)
		return reply_errno(errno, "IOMMU_IOAS_MAP_FILE");
	l->imports[l->n_imports++] = (struct import){ .iova = iova, .length = x->size };
	return reply_ok("import-own iova=0x%" PRIx64 " length=0x%" PRIx64, iova, x->size);
}

static int cmd_unimport_own(char **argv)
{
	struct lease *l = lease_arg(argv[1]);
	uint64_t iova;

	if (!l)
		return -1;
	if (parse_num(argv[2], &iova) < 0)
		return reply_error("usage", "unimport-own LEASE IOVA");
	for (size_t i = 0; i < l->n_imports; i++)
		if (l->imports[i].iova == iova) {
			struct iommu_ioas_unmap u = { .size = sizeof(u), .ioas_id = l->ioas_id,
						      .iova = iova, .length = l->imports[i].length };
			if (ioctl(l->iommufd, IOMMU_IOAS_UNMAP, &u) < 0)
				return reply_errno(errno, "IOMMU_IOAS_UNMAP");
			l->imports[i] = l->imports[--l->n_imports];
			return reply_ok("unimport-own unmapped=0x%llx", (unsigned long long)u.length);
		}
	return reply_error("usage", "no own import at 0x%" PRIx64, iova);
}

/* A method of a lease taking one device address. */
static int lease_device_call(char **argv, const char *method, const char *out_sig)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct lease *l = lease_arg(argv[1]);
	uint32_t n;
	int r;

	if (!l)
		return -1;
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, l->path, CCDEVD_LEASE_IFACE, method, &e, &reply, "s",
			       argv[2]);
	if (r < 0)
		return reply_bus_error(&e, r, method);
	if (!out_sig)
		return reply_ok("%s %s", argv[0], argv[2]);
	r = sd_bus_message_read(reply, out_sig, &n);
	if (r < 0)
		return reply_errno(-r, "reply");
	return reply_ok("%s %s restored=%u", argv[0], argv[2], n);
}

static int cmd_reset(char **argv)
{
	return lease_device_call(argv, "ResetDevice", NULL);
}

static int cmd_refresh(char **argv)
{
	return lease_device_call(argv, "RefreshDmaBuf", "u");
}

static int cmd_prop(char **argv)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	struct lease *l = lease_arg(argv[1]);
	int r;

	if (!l)
		return -1;
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, l->path, "org.freedesktop.DBus.Properties", "Get", &e, &reply,
			       "ss", CCDEVD_LEASE_IFACE, argv[2]);
	if (r < 0)
		return reply_bus_error(&e, r, "Properties.Get");
	printf("ok prop %s ", argv[2]);
	r = print_values(reply);
	putchar('\n');
	if (r < 0)
		printf("# (the reply could not be read whole: %s)\n", strerror(-r));
	return 0;
}

static int cmd_ranges(char **argv)
{
	struct lease *l = lease_arg(argv[1]);
	struct iommu_iova_range ranges[16];

	if (!l)
		return -1;
	struct iommu_ioas_iova_ranges rq = { .size = sizeof(rq), .ioas_id = l->ioas_id,
					     .num_iovas = ELEMENTSOF(ranges), .allowed_iovas = (uintptr_t)ranges };
	if (ioctl(l->iommufd, IOMMU_IOAS_IOVA_RANGES, &rq) < 0)
		return reply_errno(errno, "IOMMU_IOAS_IOVA_RANGES");
	printf("ok ranges align=0x%llx", (unsigned long long)rq.out_iova_alignment);
	for (uint32_t i = 0; i < rq.num_iovas && i < ELEMENTSOF(ranges); i++)
		printf(" 0x%llx-0x%llx", (unsigned long long)ranges[i].start, (unsigned long long)ranges[i].last);
	putchar('\n');
	return 0;
}

static int cmd_edu_setup(char **argv)
{
	struct lease *l = lease_arg(argv[1]);
	struct device *d = NULL;

	if (!l)
		return -1;
	if (l->edu)
		return reply_error("usage", "edu-setup was done on %s", l->name);
	for (size_t i = 0; i < l->n_devs && !d; i++)
		if (l->devs[i].edu && l->devs[i].fd >= 0)
			d = &l->devs[i];
	if (!d)
		return reply_error("usage", "no edu attached to %s", l->name);
	if (vfio_mmap_bar0(d->fd, "edu BAR0", &l->bar0, &l->bar0_size) < 0)
		return reply_error("local", "mmap of edu's BAR0 failed (see above)");
	l->edu = d;
	if (vfio_enable_bus_master(d->fd, d->cfg_offset, d->bdf) < 0) {
		edu_teardown(l);
		return reply_error("local", "enabling bus mastering failed (see above)");
	}
	void *p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		int err = errno;
		edu_teardown(l);
		return reply_errno(err, "mmap of the DMA buffer");
	}
	l->buf = p;
	memset(l->buf, 0, BUF_SIZE);
	if (ioas_map(l->iommufd, l->ioas_id, l->buf, BUF_SIZE, DMA_IOVA) < 0) {
		edu_teardown(l);
		return reply_error("local", "IOMMU_IOAS_MAP of the DMA buffer failed (see above)");
	}
	if (edu_read32(l->bar0, EDU_IDENT) != EDU_IDENT_VALUE || edu_liveness(l->bar0, 0x12345678) < 0)
		return reply_error("local", "edu does not answer: ident %#x", edu_read32(l->bar0, EDU_IDENT));
	return reply_ok("edu-setup %s buffer at 0x%llx", d->bdf, (unsigned long long)DMA_IOVA);
}

/* The lease's edu, ready for a DMA: after a reset the guest (we) turns bus
 * mastering on again. */
static struct lease *edu_lease(const char *name)
{
	struct lease *l = lease_arg(name);

	if (!l)
		return NULL;
	if (!l->edu) {
		reply_error("usage", "no edu-setup on %s", l->name);
		return NULL;
	}
	if (vfio_enable_bus_master(l->edu->fd, l->edu->cfg_offset, l->edu->bdf) < 0) {
		reply_error("local", "enabling bus mastering failed (see above)");
		return NULL;
	}
	return l;
}

static int cmd_dma_read(char **argv)
{
	struct lease *l = edu_lease(argv[1]);
	uint64_t iova, len;

	if (!l)
		return -1;
	if (parse_num(argv[2], &iova) < 0 || parse_num(argv[3], &len) < 0 || len == 0 || len > 256)
		return reply_error("usage", "dma-read LEASE IOVA LEN (1..256)");
	/* Prefill: edu's buffer with 5a (a DMA from our RAM), the destination
	 * in RAM with a5. */
	memset(l->buf, 0x5a, len);
	memset(l->buf + DST_OFF, 0xa5, len);
	if (edu_dma(l->bar0, DMA_IOVA, EDU_BUF, len, 0) < 0)
		return reply_error("local", "prefill DMA RAM -> edu failed (see above)");
	if (edu_dma(l->bar0, iova, EDU_BUF, len, 0) < 0)
		return reply_error("local", "DMA 0x%" PRIx64 " -> edu did not finish", iova);
	if (edu_dma(l->bar0, EDU_BUF, DMA_IOVA + DST_OFF, len, EDU_CMD_TO_RAM) < 0)
		return reply_error("local", "DMA edu -> RAM did not finish");
	printf("ok dma-read bytes=");
	for (uint64_t i = 0; i < len; i++)
		printf("%02x", l->buf[DST_OFF + i]);
	putchar('\n');
	return 0;
}

static int cmd_dma_live(char **argv)
{
	struct lease *l = edu_lease(argv[1]);
	const uint32_t before = 0x11110000, v = 0x600df00d;
	uint64_t iova;
	uint32_t got;

	if (!l)
		return -1;
	if (parse_num(argv[2], &iova) < 0)
		return reply_error("usage", "dma-live LEASE IOVA");
	/* The register's value before, set through our BAR0 mapping. */
	edu_write32(l->bar0, EDU_LIVE, before);
	memcpy(l->buf, &v, sizeof(v));
	if (edu_dma(l->bar0, DMA_IOVA, EDU_BUF, sizeof(v), 0) < 0)
		return reply_error("local", "DMA RAM -> edu failed (see above)");
	if (edu_dma(l->bar0, EDU_BUF, iova + EDU_LIVE, sizeof(v), EDU_CMD_TO_RAM) < 0)
		return reply_error("local", "DMA edu -> 0x%" PRIx64 " did not finish", iova + EDU_LIVE);
	got = edu_read32(l->bar0, EDU_LIVE);
	if (got == ~v)
		return reply_ok("dma-live live arrived");
	return reply_ok("dma-live live lost reads=0x%08x (0x%08x before, 0x%08x had it arrived)", got, ~before, ~v);
}

static int cmd_bar_read(char **argv)
{
	struct lease *l = lease_arg(argv[1]);
	struct device *d = l ? device_arg(l, argv[2]) : NULL;
	uint64_t bar, off;
	uint32_t v;

	if (!d)
		return -1;
	if (parse_num(argv[3], &bar) < 0 || bar > 5 || parse_num(argv[4], &off) < 0)
		return reply_error("usage", "bar-read LEASE BDF BAR OFF");
	struct vfio_region_info reg = { .argsz = sizeof(reg), .index = (uint32_t)bar };
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &reg) < 0)
		return reply_errno(errno, "VFIO_DEVICE_GET_REGION_INFO");
	if (pread(d->fd, &v, sizeof(v), (off_t)(reg.offset + off)) != sizeof(v))
		return reply_errno(errno, "pread of the BAR");
	const uint8_t *b = (const uint8_t *)&v;
	return reply_ok("bar-read value=0x%08x bytes=%02x%02x%02x%02x", v, b[0], b[1], b[2], b[3]);
}

static int cmd_close(char **argv)
{
	struct lease *l = lease_arg(argv[1]);
	struct device *d = l ? device_arg(l, argv[2]) : NULL;

	if (!d)
		return -1;
	if (l->edu == d)
		edu_teardown(l); /* the BAR0 mapping holds the device file */
	d->fd = safe_close(d->fd);
	return reply_ok("close %s", argv[2]);
}

static int cmd_release(char **argv)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	struct lease *l = lease_arg(argv[1]);
	int r;

	if (!l)
		return -1;
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, l->path, CCDEVD_LEASE_IFACE, "Release", &e, NULL, "");
	if (r < 0)
		return reply_bus_error(&e, r, "Release");
	lease_close_all(l);
	return reply_ok("release %s", argv[1]);
}

static int cmd_signals(char **argv)
{
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	/* The bus keeps the daemon's messages to us in order: once the reply
	 * is here, so is every signal it sent before it. */
	r = sd_bus_call_method(bus, CCDEVD_BUS_NAME, CCDEVD_OBJECT_ROOT, "org.freedesktop.DBus.Peer", "Ping", &e,
			       NULL, "");
	if (r < 0)
		return reply_bus_error(&e, r, "Ping");
	while ((r = sd_bus_process(bus, NULL)) > 0)
		;
	if (r < 0)
		return reply_errno(-r, "sd_bus_process");
	return reply_ok("signals");
}

static int cmd_pid(char **argv)
{
	return reply_ok("pid %d", (int)getpid());
}

/* Close the connection to ccdevd, keep the process and every fd. */
static int cmd_disconnect(char **argv)
{
	bus = sd_bus_flush_close_unref(bus);
	return reply_ok("disconnect");
}

static int cmd_quit(char **argv)
{
	quitting = true;
	return reply_ok("quit");
}

static const struct command {
	const char *name;
	int min_args, max_args; /* after the name */
	int (*run)(char **argv);
} commands[] = {
	{ "create", 1, 1, cmd_create },
	{ "attach", 2, 2, cmd_attach },
	{ "enable", 2, 2, cmd_enable },
	{ "memory", 3, 3, cmd_memory },
	{ "map", 4, 5, cmd_map },
	{ "unmap", 2, 2, cmd_unmap },
	{ "export", 4, 4, cmd_export },
	{ "import-own", 2, 3, cmd_import_own },
	{ "unimport-own", 2, 2, cmd_unimport_own },
	{ "reset", 2, 2, cmd_reset },
	{ "refresh", 2, 2, cmd_refresh },
	{ "prop", 2, 2, cmd_prop },
	{ "ranges", 1, 1, cmd_ranges },
	{ "edu-setup", 1, 1, cmd_edu_setup },
	{ "dma-read", 3, 3, cmd_dma_read },
	{ "dma-live", 2, 2, cmd_dma_live },
	{ "bar-read", 4, 4, cmd_bar_read },
	{ "close", 2, 2, cmd_close },
	{ "release", 1, 1, cmd_release },
	{ "signals", 0, 0, cmd_signals },
	{ "pid", 0, 0, cmd_pid },
	{ "disconnect", 0, 0, cmd_disconnect },
	{ "quit", 0, 0, cmd_quit },
};

static void run_line(char *line)
{
	char *argv[MAX_ARGS + 1] = {};
	int argc = 0;

	for (char *save = NULL, *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (argc == MAX_ARGS) {
			reply_error("usage", "too many words");
			return;
		}
		argv[argc++] = tok;
	}
	if (argc == 0 || argv[0][0] == '#')
		return;
	for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
		const struct command *c = &commands[i];
		if (strcmp(c->name, argv[0]) != 0)
			continue;
		if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
			reply_error("usage", "%s takes %d to %d arguments", c->name, c->min_args, c->max_args);
			return;
		}
		(void)c->run(argv);
		return;
	}
	reply_error("usage", "unknown command '%s'", argv[0]);
}

static char inbuf[4096];
static size_t inlen;

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	ssize_t n = read(fd, inbuf + inlen, sizeof(inbuf) - 1 - inlen);
	char *nl;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		if (inlen > 0) {
			inbuf[inlen] = '\0';
			run_line(inbuf);
		}
		return sd_event_exit(event, 0);
	}
	inlen += (size_t)n;
	inbuf[inlen] = '\0';
	while (!quitting && (nl = strchr(inbuf, '\n'))) {
		*nl = '\0';
		run_line(inbuf);
		inlen -= (size_t)(nl + 1 - inbuf);
		memmove(inbuf, nl + 1, inlen + 1);
	}
	if (inlen == sizeof(inbuf) - 1) {
		reply_error("usage", "line too long");
		inlen = 0;
	}
	fflush(stdout);
	return quitting ? sd_event_exit(event, 0) : 0;
}

/* $CCDEVD_SOCKET: ccdevd's direct socket, peer to peer; else the bus. */
static int connect_ccdevd(void)
{
	const char *path = getenv("CCDEVD_SOCKET");
	_cleanup_free_ char *address = NULL;
	int r;

	if (!path || !*path)
		return sd_bus_open_system(&bus);
	if (asprintf(&address, "unix:path=%s", path) < 0)
		return -ENOMEM;
	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, address);
	if (r >= 0)
		r = sd_bus_negotiate_fds(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus);
	return r;
}

int main(void)
{
	_cleanup_(sd_event_source_unrefp) sd_event_source *in = NULL;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < MAX_LEASES; i++)
		leases[i].iommufd = -1;
	r = sd_event_default(&event);
	if (r >= 0)
		r = connect_ccdevd();
	if (r >= 0)
		r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
	/* Lease signals come unicast from the daemon; no sender filter (a
	 * well-known name cannot be matched locally), the interface is enough. */
	if (r >= 0)
		r = sd_bus_match_signal(bus, NULL, NULL, NULL, CCDEVD_LEASE_IFACE, NULL, on_lease_signal, NULL);
	if (r >= 0)
		r = sd_event_add_io(event, &in, STDIN_FILENO, EPOLLIN, on_stdin, NULL);
	if (r < 0) {
		printf("error local: setting up the bus and the event loop: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	printf("# dmabuf-client pid %d uid %u on %s ready\n", (int)getpid(), (unsigned)getuid(),
	       sd_bus_is_bus_client(bus) > 0 ? "the bus" : "the direct socket");
	r = sd_event_loop(event);
	for (size_t i = 0; i < MAX_LEASES; i++)
		if (leases[i].path)
			lease_close_all(&leases[i]);
	in = sd_event_source_unref(in);
	bus = sd_bus_flush_close_unref(bus);
	event = sd_event_unref(event);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
