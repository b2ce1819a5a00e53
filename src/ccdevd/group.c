/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "group.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attach-job.h"
#include "cleanup.h"
#include "device.h"
#include "inventory.h"
#include "lease.h"
#include "strv.h"
#include "why.h"

static bool driver_is_harmless(const char *driver)
{
	return !driver[0] || strcmp(driver, "vfio-pci") == 0 || strcmp(driver, "pcieport") == 0;
}

static bool same_bus(const struct device *a, const struct device *b)
{
	return a->address.domain == b->address.domain && a->address.bus == b->address.bus;
}

size_t reset_set_members(struct inventory *inv, const struct device *d, struct device **out, size_t max)
{
	struct device *const *all;
	size_t n_all, n = 0;

	if (max == 0)
		return 0;
	out[n++] = (struct device *)d;
	all = inventory_devices(inv, &n_all);
	for (size_t i = 0; i < n_all && n < max; i++)
		if (all[i] != d && same_bus(all[i], d))
			out[n++] = all[i];
	return n;
}

bool device_has_function_reset(struct inventory *inv, const struct device *d)
{
	struct device *set[2];
	bool alone = reset_set_members(inv, d, set, 2) == 1;

	STRV_FOREACH(m, d->reset_methods)
		if (strcmp(*m, "bus") != 0 || alone)
			return true;
	return false;
}

int reset_set_bridge(const struct device *d, char *buf, size_t size)
{
	const char *slash = strrchr(d->syspath, '/');
	char probe[4096];

	if (!slash || slash == d->syspath)
		return -ENOENT;
	snprintf(buf, size, "%.*s", (int)(slash - d->syspath), d->syspath);
	/* A root bus's parent is pciDDDD:BB, not a PCI device. */
	snprintf(probe, sizeof probe, "%s/reset_subordinate", buf);
	return access(probe, F_OK) == 0 ? 0 : -ENOENT;
}

size_t device_companions(struct inventory *inv, const struct device *d, struct device **out, size_t max)
{
	struct device *set[RESET_SET_MAX];
	size_t n_set = reset_set_members(inv, d, set, RESET_SET_MAX), n = 0;

	for (size_t i = 1; i < n_set && n < max; i++)
		out[n++] = set[i];
	STRV_FOREACH(name, d->group_members) {
		struct bdf address;
		struct device *o;
		bool seen = false;

		if (bdf_parse(*name, &address) < 0 || !(o = inventory_find(inv, &address)) || o == d)
			continue;
		for (size_t i = 0; i < n; i++)
			seen |= out[i] == o;
		if (!seen && n < max)
			out[n++] = o;
	}
	return n;
}

static int check_iommu_group(struct inventory *inv, const struct device *d, uid_t owner_uid, char **ret_why)
{
	if (d->iommu_group < 0)
		return why(ret_why, -ENOTSUP, "%s has no IOMMU group: the host has no IOMMU for it, so it "
				  "cannot be assigned safely", d->name);
	STRV_FOREACH(m, d->group_members) {
		struct bdf address;
		struct device *other;

		if (strcmp(*m, d->name) == 0 || bdf_parse(*m, &address) < 0)
			continue;
		other = inventory_find(inv, &address);
		if (!other)
			continue; /* a bridge: never bound to a host driver that does DMA for us */
		if (attach_job_foreign(other, owner_uid))
			return why(ret_why, GROUP_NOT_VIABLE, "IOMMU group %d of %s is not viable: member %s "
					  "is being claimed for another lease; try again once that attach has "
					  "answered", d->iommu_group, d->name, other->name);
		if (other->lease && other->lease->owner_uid != owner_uid)
			/* Which user is not this caller's business. */
			return why(ret_why, GROUP_NOT_VIABLE, "IOMMU group %d of %s is not viable: member %s "
					  "is leased by another user, and a group is never split between owners",
					  d->iommu_group, d->name, other->name);
		if (!driver_is_harmless(other->driver))
			return why(ret_why, GROUP_NOT_VIABLE, "IOMMU group %d of %s is not viable: member %s "
					  "is bound to host driver %s; bind it to vfio-pci (or lease it too) first",
					  d->iommu_group, d->name, other->name, other->driver);
	}
	return 0;
}

static int check_reset_set(struct inventory *inv, const struct device *d, uid_t owner_uid, char **ret_why)
{
	struct device *set[RESET_SET_MAX];
	size_t n;

	if (device_has_function_reset(inv, d))
		return 0;
	n = reset_set_members(inv, d, set, RESET_SET_MAX);
	for (size_t i = 1; i < n; i++) {
		if (attach_job_foreign(set[i], owner_uid))
			return why(ret_why, RESET_SET_NOT_VIABLE, "%s has no reset of its own, and its reset set is "
					  "not viable: %s is being claimed for another lease; try again once that "
					  "attach has answered", d->name, set[i]->name);
		if (set[i]->lease && set[i]->lease->owner_uid != owner_uid)
			return why(ret_why, RESET_SET_NOT_VIABLE, "%s has no reset of its own, and its reset "
					  "set is not viable: %s, which a hot reset of the set resets too, is leased by "
					  "another user; a reset set is never split between owners",
					  d->name, set[i]->name);
		/* Its teardown could never reset it: refuse now, not after. */
		if (!driver_is_harmless(set[i]->driver))
			return why(ret_why, RESET_SET_NOT_VIABLE, "%s has no reset of its own, and its reset "
					  "set is not viable: %s, which a hot reset of the set resets too, is bound to "
					  "host driver %s; bind it to vfio-pci (or lease it too) first",
					  d->name, set[i]->name, set[i]->driver);
	}
	return 0;
}

int group_check_viable(struct inventory *inv, const struct device *d, uid_t owner_uid, char **ret_why)
{
	int r;

	*ret_why = NULL;
	r = check_iommu_group(inv, d, owner_uid, ret_why);
	if (r < 0)
		return r;
	return check_reset_set(inv, d, owner_uid, ret_why);
}
