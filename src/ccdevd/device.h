/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One PCI device as ccdevd knows it: identity, what sysfs says about it now,
 * and its state in ccdevd's life cycle (DESIGN §4).  The state is derived
 * here and only here; the inventory refreshes the sysfs facts, the bus layer
 * only reads.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "bdf.h"

struct device_rule;
struct teardown;
struct lease;
struct attach_job;
struct lease_device;
struct manager;

enum device_state {
	DEVICE_HOST,      /* bound to a host driver, or to none */
	DEVICE_VFIO_IDLE, /* bound to vfio-pci, no lease */
	DEVICE_ASSIGNED,  /* leased to a client */
	DEVICE_RELEASING, /* its lease ended; teardown running */
	DEVICE_QUARANTINED, /* teardown could not finish; see state_reason */
	DEVICE_GONE,      /* removed from the bus; object about to go */
	_DEVICE_STATE_MAX,
};

/* Where a device leaving a lease is (teardown.h); each step is idempotent. */
enum teardown_step {
	TEARDOWN_NONE,    /* not leaving a lease */
	TEARDOWN_DETACH,  /* undoing the kernel objects of its attach */
	TEARDOWN_RELEASE, /* waiting for the kernel's proof that no file is open */
	TEARDOWN_RESET,   /* reset after the proof */
	TEARDOWN_DRIVER,  /* the release policy: host driver or vfio-pci */
	_TEARDOWN_STEP_MAX,
};

/* What changed in a refresh, so the bus layer emits PropertiesChanged for
 * exactly those properties. */
enum {
	DEVICE_CHANGED_DRIVER = 1 << 0,
	DEVICE_CHANGED_STATE = 1 << 1,
	DEVICE_CHANGED_GROUP = 1 << 2,
	DEVICE_CHANGED_RESET = 1 << 3,
	DEVICE_CHANGED_VFIO = 1 << 4,
	DEVICE_CHANGED_MANAGED = 1 << 5,
	DEVICE_CHANGED_ORIGINAL_DRIVER = 1 << 6,
	DEVICE_CHANGED_LEASE = 1 << 7,
};

struct device {
	struct bdf address;
	char name[BDF_STRING_MAX];  /* "0000:01:00.0" */
	char *object_path;          /* /org/ccdevd1/device/0000_01_00_0 */
	char *syspath;              /* from udev, never from a client */

	uint16_t vendor_id, device_id;
	uint32_t class_code;
	bool is_bridge;

	char *driver;               /* "" when unbound */
	char *original_driver;      /* last host driver seen, "" if none yet */
	int iommu_group;            /* -1: none */
	char **group_members;       /* NULL-terminated BDF strings */
	char **reset_methods;       /* NULL-terminated */
	char *vfio_dev;             /* "/dev/vfio/devices/vfioN" or "" */

	const struct device_rule *rule; /* config rule managing it, or NULL */
	bool managed;               /* published on the bus */
	struct lease *lease;        /* holding it, or NULL */
	struct lease_device *attachment; /* lease::devices entry for it */
	struct attach_job *claim_job; /* claiming it for a lease, in a worker (attach-job.h) */
	bool releasing;             /* teardown running or waiting (quarantine) */
	char *state_reason;         /* why releasing/quarantined, "" otherwise */
	enum teardown_step teardown_step;
	struct teardown *teardown;  /* owned while teardown_step != NONE */
	enum device_state state;
};

int device_new(const struct bdf *address, const char *syspath, struct device **ret);
struct device *device_free(struct device *d);

/* Facts read from sysfs by the inventory; the device takes what differs and
 * returns the DEVICE_CHANGED_* mask. */
struct device_facts {
	uint16_t vendor_id, device_id;
	uint32_t class_code;
	const char *driver;
	int iommu_group;
	char **group_members;   /* ownership passes to the device */
	char **reset_methods;   /* ownership passes to the device */
	const char *vfio_dev;
};
unsigned device_update(struct device *d, struct device_facts *f);

/* Mark removed; returns the change mask (state). */
unsigned device_mark_gone(struct device *d);

/* Life-cycle transitions made by leases and teardown; each returns the
 * change mask.  The state itself is always derived from these facts. */
unsigned device_set_lease(struct device *d, struct lease *l, struct lease_device *ld);
unsigned device_begin_release(struct device *d, const char *reason);
unsigned device_quarantine(struct device *d, const char *reason);
unsigned device_end_release(struct device *d);
/* Adoption: the host driver the last daemon recorded, where this one saw
 * the device only on vfio-pci. */
unsigned device_restore_original_driver(struct device *d, const char *driver);

const char *device_state_to_string(enum device_state s);
const char *teardown_step_to_string(enum teardown_step s);
