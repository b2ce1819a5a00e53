/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "inventory.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <libudev.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "strv.h"

struct inventory {
	struct udev *udev;
	struct udev_monitor *monitor;
	sd_event_source *monitor_source;
	const struct inventory_callbacks *cb;
	void *userdata;
	struct device **devices; /* sorted by address */
	size_t n_devices;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_device *, udev_device_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_enumerate *, udev_enumerate_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

static int bdf_compare(const struct bdf *a, const struct bdf *b)
{
	uint32_t x = (uint32_t)a->domain << 16 | a->bus << 8 | a->device << 3 | a->function;
	uint32_t y = (uint32_t)b->domain << 16 | b->bus << 8 | b->device << 3 | b->function;
	return x < y ? -1 : x > y;
}

/* Index of address, or of where it would be inserted (binary search). */
static size_t inventory_index(const struct inventory *inv, const struct bdf *address, bool *found)
{
	size_t lo = 0, hi = inv->n_devices;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = bdf_compare(&inv->devices[mid]->address, address);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct device *inventory_find(struct inventory *inv, const struct bdf *address)
{
	bool found;
	size_t i = inventory_index(inv, address, &found);

	return found ? inv->devices[i] : NULL;
}

struct device *const *inventory_devices(struct inventory *inv, size_t *ret_n)
{
	*ret_n = inv->n_devices;
	return inv->devices;
}

static int parse_hex_attr(struct udev_device *u, const char *attr, unsigned long max, unsigned long *ret)
{
	const char *v = udev_device_get_sysattr_value(u, attr);
	char *end;
	unsigned long n;

	if (!v)
		return -ENOENT;
	errno = 0;
	n = strtoul(v, &end, 16);
	if (errno || end == v || (*end && *end != '\n') || n > max)
		return -EINVAL;
	*ret = n;
	return 0;
}

/* NULL-terminated sorted list of entry names in dir (no dot entries). */
static int list_dir(const char *dir, char ***ret)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	_cleanup_strv_free_ char **l = NULL;
	struct dirent *e;
	int r;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		r = strv_push(&l, e->d_name);
		if (r < 0)
			return r;
	}
	strv_sort(l);
	*ret = TAKE_PTR(l);
	return 0;
}

static int read_iommu_group(const char *syspath, int *ret_group, char ***ret_members)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;
	long group;
	char *end;

	*ret_group = -1;
	*ret_members = NULL;
	snprintf(path, sizeof path, "%s/iommu_group", syspath);
	n = readlink(path, target, sizeof target - 1);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	errno = 0;
	group = strtol(base, &end, 10);
	if (errno || *end || group < 0 || group > INT_MAX)
		return -EINVAL;
	*ret_group = (int)group;
	snprintf(path, sizeof path, "%s/iommu_group/devices", syspath);
	return list_dir(path, ret_members);
}

static int read_reset_methods(struct udev_device *u, char ***ret)
{
	const char *v = udev_device_get_sysattr_value(u, "reset_method");
	_cleanup_free_ char *copy = NULL;
	_cleanup_strv_free_ char **l = NULL;
	char *save = NULL;
	int r;

	*ret = NULL;
	if (!v)
		return 0; /* no reset method: the attribute is absent */
	copy = strdup(v);
	if (!copy)
		return -ENOMEM;
	for (char *w = strtok_r(copy, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
		r = strv_push(&l, w);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

/* "/dev/vfio/devices/vfioN" when the device has a VFIO cdev, else "". */
static void read_vfio_dev(const char *syspath, char *buf, size_t size)
{
	char path[PATH_MAX];
	_cleanup_strv_free_ char **l = NULL;

	buf[0] = '\0';
	snprintf(path, sizeof path, "%s/vfio-dev", syspath);
	if (list_dir(path, &l) < 0)
		return;
	STRV_FOREACH(e, l)
		if (strncmp(*e, "vfio", 4) == 0 && (*e)[4] >= '0' && (*e)[4] <= '9') {
			snprintf(buf, size, "/dev/vfio/devices/%s", *e);
			return;
		}
}

static int read_facts(struct udev_device *u, struct device_facts *f, char *vfio_buf, size_t vfio_size)
{
	unsigned long vendor, device, class_code;
	int r;

	if (parse_hex_attr(u, "vendor", 0xffff, &vendor) < 0 ||
	    parse_hex_attr(u, "device", 0xffff, &device) < 0 ||
	    parse_hex_attr(u, "class", 0xffffff, &class_code) < 0)
		return -EINVAL;
	*f = (struct device_facts){
		.vendor_id = (uint16_t)vendor,
		.device_id = (uint16_t)device,
		.class_code = (uint32_t)class_code,
		.driver = udev_device_get_driver(u),
	};
	r = read_iommu_group(udev_device_get_syspath(u), &f->iommu_group, &f->group_members);
	if (r < 0)
		return r;
	r = read_reset_methods(u, &f->reset_methods);
	if (r < 0) {
		strv_free(f->group_members);
		return r;
	}
	read_vfio_dev(udev_device_get_syspath(u), vfio_buf, vfio_size);
	f->vfio_dev = vfio_buf;
	return 0;
}

static void inventory_remove_at(struct inventory *inv, size_t i)
{
	struct device *d = inv->devices[i];
	struct bdf address = d->address;
	bool found;

	/* Tell while it can still be found, so the bus can name what goes. */
	if (device_mark_gone(d) && inv->cb->changed)
		inv->cb->changed(d, DEVICE_CHANGED_STATE, inv->userdata);
	if (inv->cb->removed)
		inv->cb->removed(d, inv->userdata);
	i = inventory_index(inv, &address, &found);
	assert(found && inv->devices[i] == d);
	memmove(inv->devices + i, inv->devices + i + 1, (inv->n_devices - i - 1) * sizeof(*inv->devices));
	inv->n_devices--;
	device_free(d);
}

static int inventory_refresh_members(struct inventory *inv, int group, const struct device *except);

/* Add or refresh the device at syspath; remove it if it has vanished. */
static int inventory_sync(struct inventory *inv, const char *syspath)
{
	_cleanup_(udev_device_unrefp) struct udev_device *u = NULL;
	struct device_facts f;
	char vfio[64];
	struct bdf address;
	struct device *d;
	unsigned changed;
	bool found;
	size_t i;
	int r;

	u = udev_device_new_from_syspath(inv->udev, syspath);
	if (!u)
		return -errno;
	if (bdf_parse(udev_device_get_sysname(u), &address) < 0)
		return log_debug_errno(EINVAL, "Ignoring PCI device with unexpected name '%s'.",
				       udev_device_get_sysname(u));
	i = inventory_index(inv, &address, &found);
	if (found && inv->devices[i]->state == DEVICE_GONE)
		return 0; /* being removed right now */
	r = read_facts(u, &f, vfio, sizeof vfio);
	if (r < 0) {
		/* Gone between the event and our read: a removal.  Anything else
		 * (EMFILE, ENOMEM...) is not: keep what we knew. */
		if (found && access(syspath, F_OK) < 0 && errno == ENOENT)
			inventory_remove_at(inv, i);
		else if (found)
			log_warning_errno(r, "%s: cannot re-read sysfs (%m); keeping what was known.",
					  inv->devices[i]->name);
		return 0;
	}
	if ((f.class_code >> 8) == 0x0604) {
		strv_free(f.group_members);
		strv_free(f.reset_methods);
		return 0; /* bridges are never leased */
	}

	if (found) {
		d = inv->devices[i];
		changed = device_update(d, &f);
		if (changed && inv->cb->changed)
			inv->cb->changed(d, changed, inv->userdata);
		return 0;
	}

	struct device **grown = realloc(inv->devices, (inv->n_devices + 1) * sizeof(*grown));
	if (!grown) {
		strv_free(f.group_members);
		strv_free(f.reset_methods);
		return log_error_errno(ENOMEM, "Out of memory.");
	}
	inv->devices = grown;
	r = device_new(&address, syspath, &d);
	if (r < 0) {
		strv_free(f.group_members);
		strv_free(f.reset_methods);
		return log_error_errno(r, "Failed to allocate device: %m");
	}
	device_update(d, &f);
	memmove(inv->devices + i + 1, inv->devices + i, (inv->n_devices - i) * sizeof(*inv->devices));
	inv->devices[i] = d;
	inv->n_devices++;
	if (inv->cb->added)
		inv->cb->added(d, inv->userdata);
	return 1;
}

/* A device joining or leaving a group changes its members' GroupMembers. */
static int inventory_refresh_members(struct inventory *inv, int group, const struct device *except)
{
	if (group < 0)
		return 0;
	for (size_t i = 0; i < inv->n_devices; i++) {
		struct device *d = inv->devices[i];
		if (d != except && d->iommu_group == group)
			(void)inventory_refresh(inv, d);
	}
	return 0;
}

int inventory_refresh(struct inventory *inv, struct device *d)
{
	return inventory_sync(inv, d->syspath);
}

static void inventory_handle_remove(struct inventory *inv, const char *sysname)
{
	struct bdf address;
	bool found;
	size_t i;
	int group;

	if (bdf_parse(sysname, &address) < 0)
		return;
	i = inventory_index(inv, &address, &found);
	if (!found)
		return;
	group = inv->devices[i]->iommu_group;
	inventory_remove_at(inv, i);
	inventory_refresh_members(inv, group, NULL);
}

static bool streq_ptr(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* devpath: /devices/.../0000:01:00.0/vfio-dev/vfio3; the PCI function is
 * the component before "vfio-dev". */
static void inventory_handle_vfio_gone(struct inventory *inv, const char *devpath)
{
	char name[BDF_STRING_MAX + 1];
	const char *end, *start;
	struct bdf address;
	struct device *d;

	if (!devpath || !(end = strstr(devpath, "/vfio-dev/")))
		return;
	start = end;
	while (start > devpath && start[-1] != '/')
		start--;
	if ((size_t)(end - start) >= sizeof name)
		return;
	memcpy(name, start, (size_t)(end - start));
	name[end - start] = 0;
	if (bdf_parse(name, &address) < 0 || !(d = inventory_find(inv, &address)))
		return;
	if (inv->cb->vfio_node_gone)
		inv->cb->vfio_node_gone(d, inv->userdata);
}

static int on_udev_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct inventory *inv = userdata;
	_cleanup_(udev_device_unrefp) struct udev_device *u = udev_monitor_receive_device(inv->monitor);
	const char *action;
	struct bdf address;
	struct device *d;

	if (!u)
		return 0;
	action = udev_device_get_action(u);
	if (!action)
		return 0;
	log_debug("udev: %s %s", action, udev_device_get_sysname(u));
	if (streq_ptr(udev_device_get_subsystem(u), "vfio-dev")) {
		if (strcmp(action, "remove") == 0)
			inventory_handle_vfio_gone(inv, udev_device_get_devpath(u));
		return 0;
	}
	if (strcmp(action, "remove") == 0) {
		inventory_handle_remove(inv, udev_device_get_sysname(u));
		return 0;
	}
	if (inventory_sync(inv, udev_device_get_syspath(u)) > 0 &&
	    bdf_parse(udev_device_get_sysname(u), &address) == 0 &&
	    (d = inventory_find(inv, &address)))
		inventory_refresh_members(inv, d->iommu_group, d);
	return 0;
}

int inventory_enumerate(struct inventory *inv)
{
	_cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = udev_enumerate_new(inv->udev);
	struct udev_list_entry *entry;
	int r;

	if (!e)
		return log_error_errno(ENOMEM, "Out of memory.");
	r = udev_enumerate_add_match_subsystem(e, "pci");
	if (r >= 0)
		r = udev_enumerate_scan_devices(e);
	if (r < 0)
		return log_error_errno(r, "Failed to enumerate PCI devices: %m");
	udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e))
		(void)inventory_sync(inv, udev_list_entry_get_name(entry));
	log_info("Inventory: %zu PCI functions (bridges excluded).", inv->n_devices);
	return 0;
}

int inventory_new(sd_event *event, const struct inventory_callbacks *cb, void *userdata,
		  struct inventory **ret)
{
	struct inventory *inv;
	const char *source;
	int r;

	inv = calloc(1, sizeof(*inv));
	if (!inv)
		return log_error_errno(ENOMEM, "Out of memory.");
	inv->cb = cb;
	inv->userdata = userdata;
	inv->udev = udev_new();
	if (!inv->udev) {
		inventory_free(inv);
		return log_error_errno(ENOMEM, "Failed to create a udev context.");
	}

	/* Without udevd (early boot, minimal guests) listen to the kernel's own
	 * uevents; otherwise to udev's, which come after its rules ran. */
	source = access("/run/udev/control", F_OK) == 0 ? "udev" : "kernel";
	inv->monitor = udev_monitor_new_from_netlink(inv->udev, source);
	if (!inv->monitor) {
		inventory_free(inv);
		return log_error_errno(errno ? errno : EIO, "Failed to create a udev monitor: %m");
	}
	r = udev_monitor_filter_add_match_subsystem_devtype(inv->monitor, "pci", NULL);
	if (r >= 0)
		r = udev_monitor_filter_add_match_subsystem_devtype(inv->monitor, "vfio-dev", NULL);
	if (r >= 0)
		r = udev_monitor_enable_receiving(inv->monitor);
	if (r >= 0)
		r = sd_event_add_io(event, &inv->monitor_source, udev_monitor_get_fd(inv->monitor),
				    EPOLLIN, on_udev_event, inv);
	if (r < 0) {
		inventory_free(inv);
		return log_error_errno(r, "Failed to watch udev events: %m");
	}
	log_debug("Watching %s uevents for PCI devices.", source);
	*ret = inv;
	return 0;
}

struct inventory *inventory_free(struct inventory *inv)
{
	if (!inv)
		return NULL;
	for (size_t i = 0; i < inv->n_devices; i++)
		device_free(inv->devices[i]);
	free(inv->devices);
	sd_event_source_disable_unref(inv->monitor_source);
	udev_monitor_unref(inv->monitor);
	udev_unref(inv->udev);
	free(inv);
	return NULL;
}
