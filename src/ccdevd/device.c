/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "device.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-api.h"
#include "cleanup.h"
#include "strv.h"

static const char *const state_names[_DEVICE_STATE_MAX] = {
	[DEVICE_HOST] = "host",
	[DEVICE_VFIO_IDLE] = "vfio-idle",
	[DEVICE_ASSIGNED] = "assigned",
	[DEVICE_RELEASING] = "releasing",
	[DEVICE_QUARANTINED] = "quarantined",
	[DEVICE_GONE] = "gone",
};

const char *device_state_to_string(enum device_state s)
{
	return s < _DEVICE_STATE_MAX ? state_names[s] : "invalid";
}

static const char *const teardown_step_names[_TEARDOWN_STEP_MAX] = {
	[TEARDOWN_NONE] = "none",
	[TEARDOWN_DETACH] = "detach",
	[TEARDOWN_RELEASE] = "release",
	[TEARDOWN_RESET] = "reset",
	[TEARDOWN_DRIVER] = "driver",
};

const char *teardown_step_to_string(enum teardown_step s)
{
	return s < _TEARDOWN_STEP_MAX ? teardown_step_names[s] : "invalid";
}

int device_new(const struct bdf *address, const char *syspath, struct device **ret)
{
	_cleanup_free_ struct device *d = NULL;
	char comp[BDF_STRING_MAX];

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->address = *address;
	bdf_format(address, d->name);
	d->iommu_group = -1;
	d->state = DEVICE_HOST;
	if (asprintf(&d->object_path, CCDEVD_DEVICE_PREFIX "/%s", bdf_to_path_component(address, comp)) < 0)
		return -ENOMEM;
	d->syspath = strdup(syspath);
	d->driver = strdup("");
	d->original_driver = strdup("");
	d->vfio_dev = strdup("");
	d->state_reason = strdup("");
	if (!d->syspath || !d->driver || !d->original_driver || !d->vfio_dev || !d->state_reason) {
		device_free(TAKE_PTR(d));
		return -ENOMEM;
	}
	*ret = TAKE_PTR(d);
	return 0;
}

struct device *device_free(struct device *d)
{
	if (!d)
		return NULL;
	free(d->object_path);
	free(d->syspath);
	free(d->driver);
	free(d->original_driver);
	free(d->vfio_dev);
	free(d->state_reason);
	strv_free(d->group_members);
	strv_free(d->reset_methods);
	free(d);
	return NULL;
}

static unsigned device_rederive(struct device *d, unsigned changed);

/* The state follows from the facts; a lease pins it to ASSIGNED. */
static enum device_state device_derive_state(const struct device *d)
{
	if (d->state == DEVICE_GONE)
		return DEVICE_GONE;
	if (d->lease)
		return DEVICE_ASSIGNED;
	if (d->releasing)
		return d->state_reason[0] && d->state == DEVICE_QUARANTINED ? DEVICE_QUARANTINED
									     : DEVICE_RELEASING;
	if (strcmp(d->driver, "vfio-pci") == 0)
		return DEVICE_VFIO_IDLE;
	return DEVICE_HOST;
}

/* Replace *dst with a copy of src if they differ; true when it changed. */
static bool update_string(char **dst, const char *src)
{
	char *copy;

	src = src ? src : "";
	if (strcmp(*dst, src) == 0)
		return false;
	copy = strdup(src);
	if (!copy)
		return false; /* keep the old value; the next event retries */
	free(*dst);
	*dst = copy;
	return true;
}

static bool update_strv(char ***dst, char ***src)
{
	if (strv_equal(*dst, *src)) {
		strv_free(TAKE_PTR(*src));
		return false;
	}
	strv_free(*dst);
	*dst = TAKE_PTR(*src);
	return true;
}

unsigned device_update(struct device *d, struct device_facts *f)
{
	unsigned changed = 0;

	d->vendor_id = f->vendor_id;
	d->device_id = f->device_id;
	d->class_code = f->class_code;
	d->is_bridge = (f->class_code >> 8) == 0x0604;

	if (update_string(&d->driver, f->driver))
		changed |= DEVICE_CHANGED_DRIVER;
	/* Remember the host driver so a release can restore it. */
	if (d->driver[0] && strcmp(d->driver, "vfio-pci") != 0 &&
	    update_string(&d->original_driver, d->driver))
		changed |= DEVICE_CHANGED_ORIGINAL_DRIVER;
	if (d->iommu_group != f->iommu_group) {
		d->iommu_group = f->iommu_group;
		changed |= DEVICE_CHANGED_GROUP;
	}
	if (update_strv(&d->group_members, &f->group_members))
		changed |= DEVICE_CHANGED_GROUP;
	if (update_strv(&d->reset_methods, &f->reset_methods))
		changed |= DEVICE_CHANGED_RESET;
	if (update_string(&d->vfio_dev, f->vfio_dev))
		changed |= DEVICE_CHANGED_VFIO;

	return device_rederive(d, changed);
}

static unsigned device_rederive(struct device *d, unsigned changed)
{
	enum device_state state = device_derive_state(d);

	if (state != d->state) {
		d->state = state;
		changed |= DEVICE_CHANGED_STATE;
	}
	return changed;
}

unsigned device_set_lease(struct device *d, struct lease *l, struct lease_device *ld)
{
	unsigned changed = d->lease != l ? DEVICE_CHANGED_LEASE : 0;

	d->lease = l;
	d->attachment = ld;
	return device_rederive(d, changed);
}

unsigned device_begin_release(struct device *d, const char *reason)
{
	unsigned changed = device_set_lease(d, NULL, NULL);

	/* Back from quarantine to waiting: let the derivation decide afresh. */
	if (d->state == DEVICE_QUARANTINED)
		d->state = DEVICE_RELEASING;

	d->releasing = true;
	if (update_string(&d->state_reason, reason))
		changed |= DEVICE_CHANGED_STATE;
	return device_rederive(d, changed);
}

unsigned device_quarantine(struct device *d, const char *reason)
{
	unsigned changed = update_string(&d->state_reason, reason) ? DEVICE_CHANGED_STATE : 0;

	d->releasing = true;
	if (d->state != DEVICE_GONE && d->state != DEVICE_QUARANTINED) {
		d->state = DEVICE_QUARANTINED;
		changed |= DEVICE_CHANGED_STATE;
	}
	return changed;
}

unsigned device_end_release(struct device *d)
{
	unsigned changed = update_string(&d->state_reason, "") ? DEVICE_CHANGED_STATE : 0;

	d->releasing = false;
	if (d->state == DEVICE_QUARANTINED)
		d->state = DEVICE_RELEASING; /* let the derivation decide afresh */
	return device_rederive(d, changed);
}

unsigned device_restore_original_driver(struct device *d, const char *driver)
{
	if (d->original_driver[0] || !driver[0] || strcmp(driver, "vfio-pci") == 0)
		return 0;
	return update_string(&d->original_driver, driver) ? DEVICE_CHANGED_ORIGINAL_DRIVER : 0;
}

unsigned device_mark_gone(struct device *d)
{
	if (d->state == DEVICE_GONE)
		return 0;
	d->state = DEVICE_GONE;
	return DEVICE_CHANGED_STATE;
}
