/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * ccdevctl's side of the org.ccdevd1 API (the XML in dbus/): connect to the system
 * bus, call ccdevd, decode what it returns into plain structs.  Every
 * function here reports its own errors (ccdevd's message as it is) and
 * returns the classified errnos of ctl.h, so callers just pass r up.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

/* org.ccdevd1.Device, one managed PCI device.  Strings are never NULL once
 * filled in by bus_list_devices() / bus_get_device(). */
struct device_info {
	char *path; /* D-Bus object path */
	char *address;
	uint16_t vendor_id;
	uint16_t device_id;
	uint32_t class_code;
	char *driver;          /* "" when unbound */
	char *original_driver; /* "" when unknown */
	int32_t iommu_group;   /* -1 when none */
	char **group_members;
	bool managed;
	char *state;
	char **reset_methods;
	char *vfio_device; /* "" unless bound to vfio-pci */
	char *lease;       /* object path of the lease holding it, "/" when none */
};

struct device_list {
	struct device_info *items;
	size_t n;
};

/* org.ccdevd1.Manager, plus who owns the name. */
struct manager_info {
	char *version;
	char **kernel_features;
	uint32_t device_count;
	char *config_path;
	uint32_t lease_count;
	uint32_t adopted_leases;   /* re-adopted at the daemon's start */
	char *unique_name;         /* "" on the direct socket */
	char *direct_socket;       /* the direct socket's path, or NULL on the bus */
	pid_t pid;
};

void device_info_done(struct device_info *d);
void device_list_done(struct device_list *l);
void manager_info_done(struct manager_info *m);

/*
 * Report a failed call (what: "list devices", for local failures) and
 * classify it (ctl.h).  ccdevd's errors are printed as ccdevd wrote them:
 * its messages name the device and what to do.
 */
int bus_log_error(const sd_bus_error *e, int r, const char *what);

/* Report a reply that does not have the contract's signature. */
int bus_log_parse_error(int r);

/* The direct socket ($CCDEVD_SOCKET, default /run/ccdevd/ccdevd.sock, ""
 * for never) when ccdevd accepts us there, else the system bus
 * ($DBUS_SYSTEM_BUS_ADDRESS if set); -EHOSTDOWN if neither. */
int bus_connect(sd_bus **ret);
/* Is bus the direct socket?  Signals there come from ccdevd alone and
 * carry no sender: match them with sender NULL. */
bool bus_is_direct(sd_bus *bus);
const char *bus_direct_socket_path(void);
#define bus_signal_sender(bus) (bus_is_direct(bus) ? NULL : CCDEVD_BUS_NAME)
/* A new event loop and a bus connection attached to it (the caller owns and
 * frees both, also on failure). */
int bus_connect_with_event(sd_event **ret_event, sd_bus **ret_bus);

/* ListDevices, then the properties of each device, in ccdevd's order (by
 * address).  A device that disappears in between is left out. */
int bus_list_devices(sd_bus *bus, struct device_list *ret);

/* GetDevice(address), then its properties.  If ret_properties is not NULL
 * it receives the GetAll reply, rewound, to print every property. */
int bus_get_device(sd_bus *bus, const char *address, struct device_info *ret,
		   sd_bus_message **ret_properties);

/* A process ForceRelease killed. */
struct killed_process {
	uint32_t pid;
	char *command;
};

struct killed_list {
	struct killed_process *items;
	size_t n;
};

void killed_list_done(struct killed_list *l);

/* GetDevice(address), then Device.ForceRelease() on it (root only): the
 * processes ccdevd killed because they held the device open. */
int bus_force_release(sd_bus *bus, const char *address, struct killed_list *ret);

/* The Manager properties, and the PID and unique name of ccdevd. */
int bus_get_manager(sd_bus *bus, struct manager_info *ret);
