/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Who hears what (DESIGN §3; a broadcast goes to every connection on the
 * bus, past the readers gate):
 *
 *  - inventory signals (DeviceAdded/Removed, a device's PropertiesChanged,
 *    the Manager's DeviceCount): broadcast while the configuration lets
 *    everyone read the inventory; otherwise unicast to each subscriber
 *    (Manager.Subscribe, itself gated by "readers"); a direct-socket
 *    subscriber gets them on its connection either way, with values;
 *  - lease signals (a lease's PropertiesChanged, its dma-buf and reset
 *    signals, LeaseReleased, the Manager's LeaseCount): unicast to the
 *    lease's owner and to root's subscriptions, never broadcast.
 *
 * A subscription lasts until Unsubscribe or until its connection leaves the
 * bus; a reload that takes "readers" away from a subscriber ends it.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

struct caller;
struct lease;
struct manager;
struct subscriber;

/* Builds one copy of a signal's body (called once per recipient). */
typedef int (*signal_body_fn)(sd_bus_message *msg, void *userdata);

/* Subscribe the sender of msg (already checked against "readers"). */
int bus_subscribe(struct manager *m, sd_bus_message *msg, const struct caller *who);
/* -ENOENT: the sender of msg had no subscription. */
int bus_unsubscribe(struct manager *m, sd_bus_message *msg);
/* A direct connection closed: its subscription ends. */
struct direct_conn;
void bus_unsubscribe_conn(struct manager *m, const struct direct_conn *conn);
/* After a reload: drop subscribers that may no longer read. */
void bus_subscribers_recheck(struct manager *m);
void bus_subscribers_free(struct manager *m);

/* Do inventory signals go out as broadcasts ("readers": everyone)? */
bool bus_inventory_is_public(const struct manager *m);

/* An inventory signal to whoever may read the inventory. */
void bus_send_inventory_signal(struct manager *m, const char *path, const char *iface, const char *member,
			       signal_body_fn body, void *userdata);

/* A lease signal to l's owner and to root's subscriptions, once l is
 * announced (manager_announce_lease). */
void bus_send_lease_signal(struct manager *m, struct lease *l, const char *path, const char *iface,
			   const char *member, signal_body_fn body, void *userdata);

/* An inventory PropertiesChanged that names the properties (invalidated:
 * the recipients read the new values) instead of carrying them, to the
 * bus's subscribers. */
void bus_send_invalidated(struct manager *m, const char *path, const char *iface, const char *const *names);

/* A direct connection is a private line, where sd-bus's own emitters
 * reach only that peer: its subscribers get PropertiesChanged with the
 * values and the object manager's InterfacesAdded/Removed, whatever
 * "readers" is. */
enum direct_emit { DIRECT_EMIT_CHANGED, DIRECT_EMIT_ADDED, DIRECT_EMIT_REMOVED };
void bus_emit_to_direct_subscribers(struct manager *m, enum direct_emit what, const char *path, const char *iface,
				    char **names);
