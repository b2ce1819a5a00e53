/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "group.h"
#include "kernel-uapi.h"
#include "kernel/sysfs.h"
#include "kernel/vfio.h"
#include "lease.h"
#include "log.h"
#include "why.h"
#include "manager.h"

#define HOOKS_MAX 8

static struct reset_hook hooks[HOOKS_MAX];
static unsigned n_hooks;

int reset_add_hook(const struct reset_hook *hook)
{
	if (n_hooks == HOOKS_MAX)
		return -ENOSPC;
	hooks[n_hooks++] = *hook;
	return 0;
}

void reset_remove_hooks(void)
{
	n_hooks = 0;
}

/* The attachments a reset of these devices touches. */
static void hooks_before(struct device **set, size_t n)
{
	for (unsigned h = 0; h < n_hooks; h++)
		for (size_t i = 0; i < n; i++)
			if (set[i]->attachment && hooks[h].before)
				hooks[h].before(set[i]->attachment, hooks[h].userdata);
}

static void hooks_after(struct device **set, size_t n, int r)
{
	for (unsigned h = n_hooks; h-- > 0;)
		for (size_t i = 0; i < n; i++)
			if (set[i]->attachment && hooks[h].after)
				hooks[h].after(set[i]->attachment, r, hooks[h].userdata);
}

int reset_attached(struct manager *m, struct lease_device *ld, char **ret_why)
{
	struct device *set[RESET_SET_MAX];
	size_t n = 1;
	uint32_t flags, hot_flags, count;
	bool function;
	int r;

	*ret_why = NULL;
	if (!ld->device)
		return why(ret_why, -ENODEV, "%s left the bus", ld->name);
	r = vfio_device_flags(ld->fd, &flags);
	if (r == -EINVAL)
		return why(ret_why, r, "%s is not bound to an iommufd yet (raw mode: bind it first)", ld->name);
	if (r < 0)
		return why(ret_why, r, "VFIO_DEVICE_GET_INFO failed: %s", strerror(-r));

	/* The kernel sets FLAGS_RESET when a reset of the device alone works. */
	function = flags & VFIO_DEVICE_FLAGS_RESET;
	set[0] = ld->device;
	if (!function) {
		r = vfio_hot_reset_info(ld->fd, &hot_flags, &count);
		if (r < 0)
			return why(ret_why, r, "%s has no function reset, and VFIO_DEVICE_GET_PCI_HOT_RESET_INFO "
					    "failed: %s", ld->name, strerror(-r));
		if (!(hot_flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED))
			return why(ret_why, -EPERM, "%s has no function reset, and a hot reset is refused while a "
					    "device of its reset set is open through another iommufd", ld->name);
		n = reset_set_members(m->inventory, ld->device, set, RESET_SET_MAX);
	}

	hooks_before(set, n);
	r = function ? vfio_reset(ld->fd) : vfio_hot_reset(ld->fd);
	/* Logged between the hooks: the journal shows the order of things. */
	log_meta(r < 0 ? LOG_WARNING : LOG_INFO, r < 0 ? -r : 0, &(struct log_ctx){ .device = ld->name,
		 .lease = ld->lease->object_path, .op = "reset" }, "Reset (%s)%s.",
		 function ? "function reset" : "hot reset", r < 0 ? " failed: %m" : "");
	hooks_after(set, n, r);
	if (r < 0)
		return why(ret_why, r, "%s failed: %s", function ? "VFIO_DEVICE_RESET" : "VFIO_DEVICE_PCI_HOT_RESET",
			   strerror(-r));
	return 0;
}

/* May a hot reset of d's set reset this member too? */
static int member_state(const struct device *d, const struct device *member, char **ret_why)
{
	if (member->lease)
		return why(ret_why, RESET_SET_PENDING, "waiting for %s, of the same reset set, to leave its lease: "
				  "%s has no reset of its own, and the hot reset of its set resets both", member->name,
				  d->name);
	if (member->teardown_step == TEARDOWN_DETACH || member->teardown_step == TEARDOWN_RELEASE)
		return why(ret_why, RESET_SET_PENDING, "waiting for the release of %s, of the same reset set",
			   member->name);
	if (member->driver[0] && strcmp(member->driver, "vfio-pci") != 0)
		return why(ret_why, -EBUSY, "%s has no reset of its own, and a hot reset of its set would reset "
				  "%s, which is bound to host driver %s; unbind it (or let ccdevd manage it)",
				  d->name, member->name, member->driver);
	return 0;
}

int reset_released(struct manager *m, struct device *d, char **ret_method, char **ret_why,
		   void (*also)(struct manager *m, struct device *member))
{
	struct device *set[RESET_SET_MAX];
	char bridge[4096], *names = NULL;
	size_t n, len = 0;
	FILE *f;
	int r;

	*ret_method = *ret_why = NULL;
	set[0] = d;
	hooks_before(set, 1);
	r = sysfs_reset_function(d->syspath);
	hooks_after(set, 1, r);
	if (r >= 0) {
		*ret_method = strdup("function reset");
		return 0;
	}
	/* ENOTTY: no function reset works for it alone. */
	if (r != -ENOTTY)
		return why(ret_why, r, "function reset failed: %s", strerror(-r));

	n = reset_set_members(m->inventory, d, set, RESET_SET_MAX);
	for (size_t i = 1; i < n; i++) {
		r = member_state(d, set[i], ret_why);
		if (r < 0)
			return r;
	}
	r = reset_set_bridge(d, bridge, sizeof bridge);
	if (r < 0)
		return why(ret_why, r, "no function reset works, and %s sits on a root bus: no hot reset either",
			   d->name);

	f = open_memstream(&names, &len);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? " " : "", set[i]->name);
	fclose(f);

	hooks_before(set, n);
	r = sysfs_reset_subordinate(bridge);
	hooks_after(set, n, r);
	if (r < 0) {
		r = why(ret_why, r, "no function reset works, and the hot reset of its reset set (%s) below %s "
				    "failed: %s%s", names, strrchr(bridge, '/') + 1, strerror(-r),
			r == -EPERM ? " (ccdevd lacks CAP_SYS_ADMIN)" : "");
		free(names);
		return r;
	}
	if (asprintf(ret_method, "hot reset of the reset set (%s) below %s", names, strrchr(bridge, '/') + 1) < 0)
		*ret_method = NULL;
	free(names);
	for (size_t i = 1; i < n; i++)
		if (also && set[i]->teardown_step == TEARDOWN_RESET)
			also(m, set[i]);
	return 0;
}
