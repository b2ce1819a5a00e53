/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The inventory API (src/ccdevd/inventory.h) over the fake sysfs, for unit
 * tests.  The real inventory.c finds devices only through libudev and reads
 * sysfs itself, outside the kernel layer, so a test cannot put a device into
 * it.  Linking this file defines every function inventory.c defines, so the
 * linker never pulls inventory.o out of ccdevd_core_lib (a new inventory_*
 * function in inventory.c used by the core makes the link fail loudly with
 * duplicate symbols: add it here too).
 *
 * A refresh takes the driver and the cdev from the fake sysfs, the other facts
 * from what the test gave fake_inventory_add(), and reports changes through
 * ->changed as inventory.c does.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ccdevd/inventory.h"
#include "fake-kernel.h"
#include "strv.h"

#define MAX_DEVICES 16

struct inventory {
	const struct inventory_callbacks *cb;
	void *userdata;
	struct device *devices[MAX_DEVICES]; /* sorted by address */
	struct fake_pci facts[MAX_DEVICES];  /* same order */
	size_t n_devices;
};

static unsigned refreshes;

static int compare(const struct bdf *a, const struct bdf *b)
{
	uint32_t x = (uint32_t)a->domain << 16 | a->bus << 8 | a->device << 3 | a->function;
	uint32_t y = (uint32_t)b->domain << 16 | b->bus << 8 | b->device << 3 | b->function;
	return x < y ? -1 : x > y;
}

static char **strv_copy(const char *const *l)
{
	char **copy = NULL;

	for (; l && *l; l++)
		if (strv_push(&copy, *l) < 0)
			abort();
	return copy;
}

static unsigned update(struct inventory *inv, size_t i)
{
	const struct fake_pci *p = &inv->facts[i];
	struct device *d = inv->devices[i];
	const char *self[] = { d->name, NULL };
	struct device_facts f = {
		.vendor_id = p->vendor_id,
		.device_id = p->device_id,
		.class_code = p->class_code,
		.driver = fake_device_driver(d->syspath),
		.iommu_group = p->iommu_group,
		.group_members = strv_copy(p->group_members ? p->group_members : self),
		.reset_methods = strv_copy(p->reset_methods),
		.vfio_dev = fake_device_cdev(d->syspath),
	};

	return device_update(d, &f);
}

struct device *fake_inventory_add(struct inventory *inv, const struct fake_pci *p)
{
	const char *slash = strrchr(p->syspath, '/');
	struct bdf address;
	struct device *d;
	size_t i;

	if (inv->n_devices == MAX_DEVICES || bdf_parse(slash ? slash + 1 : p->syspath, &address) < 0 ||
	    inventory_find(inv, &address) || device_new(&address, p->syspath, &d) < 0)
		return NULL;
	for (i = 0; i < inv->n_devices && compare(&inv->devices[i]->address, &address) < 0; i++)
		;
	memmove(inv->devices + i + 1, inv->devices + i, (inv->n_devices - i) * sizeof(*inv->devices));
	memmove(inv->facts + i + 1, inv->facts + i, (inv->n_devices - i) * sizeof(*inv->facts));
	inv->devices[i] = d;
	inv->facts[i] = *p;
	inv->n_devices++;
	(void)update(inv, i);
	if (inv->cb->added)
		inv->cb->added(d, inv->userdata);
	return d;
}

unsigned fake_inventory_refreshes(void)
{
	return refreshes;
}

int inventory_new(sd_event *event, const struct inventory_callbacks *cb, void *userdata, struct inventory **ret)
{
	struct inventory *inv = calloc(1, sizeof(*inv));

	if (!inv)
		return -ENOMEM;
	inv->cb = cb;
	inv->userdata = userdata;
	refreshes = 0;
	*ret = inv;
	return 0;
}

struct inventory *inventory_free(struct inventory *inv)
{
	if (!inv)
		return NULL;
	for (size_t i = 0; i < inv->n_devices; i++)
		device_free(inv->devices[i]);
	free(inv);
	return NULL;
}

int inventory_enumerate(struct inventory *inv)
{
	return 0; /* fake_inventory_add() is the enumeration */
}

struct device *inventory_find(struct inventory *inv, const struct bdf *address)
{
	for (size_t i = 0; i < inv->n_devices; i++)
		if (compare(&inv->devices[i]->address, address) == 0)
			return inv->devices[i];
	return NULL;
}

struct device *const *inventory_devices(struct inventory *inv, size_t *ret_n)
{
	*ret_n = inv->n_devices;
	return inv->devices;
}

int inventory_refresh(struct inventory *inv, struct device *d)
{
	refreshes++;
	for (size_t i = 0; i < inv->n_devices; i++)
		if (inv->devices[i] == d) {
			unsigned changed = update(inv, i);
			if (changed && inv->cb->changed)
				inv->cb->changed(d, changed, inv->userdata);
			return 0;
		}
	return -ENODEV;
}
