/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-signals.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "direct-socket.h"
#include "lease.h"
#include "log.h"
#include "manager.h"

struct subscriber {
	struct manager *manager;
	char *name;                  /* unique bus name; NULL on a direct connection */
	const struct direct_conn *conn; /* that direct connection, or NULL */
	uid_t uid;
	gid_t *gids;
	size_t n_gids;
	sd_bus_track *track;         /* ends the subscription when the name goes */
	struct subscriber *next;     /* manager::subscribers */
};

static void subscriber_free(struct subscriber *s)
{
	if (!s)
		return;
	sd_bus_track_unref(s->track);
	free(s->name);
	free(s->gids);
	free(s);
}

static void unlink_subscriber(struct manager *m, struct subscriber *s)
{
	for (struct subscriber **p = &m->subscribers; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			return;
		}
}

static int on_subscriber_left(sd_bus_track *t, void *userdata)
{
	struct subscriber *s = userdata;

	unlink_subscriber(s->manager, s);
	subscriber_free(s);
	return 0;
}

/* The subscription of msg's sender: by bus name, or by direct connection. */
static struct subscriber *find(struct manager *m, sd_bus_message *msg)
{
	const struct direct_conn *conn = direct_conn_of_message(msg);
	const char *name = sd_bus_message_get_sender(msg);

	for (struct subscriber *s = m->subscribers; s; s = s->next)
		if (conn ? s->conn == conn : s->name && name && strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

int bus_subscribe(struct manager *m, sd_bus_message *msg, const struct caller *who)
{
	const struct direct_conn *conn = direct_conn_of_message(msg);
	const char *name = sd_bus_message_get_sender(msg);
	struct subscriber *s;
	int r;

	if (!name && !conn)
		return -EINVAL;
	if (find(m, msg))
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (struct subscriber){ .manager = m, .uid = who->uid, .n_gids = who->n_gids, .conn = conn };
	if (who->n_gids && (s->gids = calloc(who->n_gids, sizeof(gid_t))))
		memcpy(s->gids, who->gids, who->n_gids * sizeof(gid_t));
	if ((!conn && !(s->name = strdup(name))) || (who->n_gids && !s->gids)) {
		subscriber_free(s);
		return -ENOMEM;
	}
	/* A direct connection's subscription ends with it
	 * (bus_unsubscribe_conn); a bus name's when it leaves the bus. */
	if (!conn) {
		r = sd_bus_track_new(m->bus, &s->track, on_subscriber_left, s);
		if (r >= 0)
			r = sd_bus_track_add_sender(s->track, msg);
		if (r < 0) {
			subscriber_free(s);
			return r;
		}
	}
	s->next = m->subscribers;
	m->subscribers = s;
	log_debug("%s (uid %u) subscribed to signals.", s->name ? s->name : "A direct connection",
		  (unsigned)s->uid);
	return 0;
}

int bus_unsubscribe(struct manager *m, sd_bus_message *msg)
{
	struct subscriber *s = find(m, msg);

	if (!s)
		return -ENOENT;
	unlink_subscriber(m, s);
	subscriber_free(s);
	return 0;
}

void bus_unsubscribe_conn(struct manager *m, const struct direct_conn *conn)
{
	for (struct subscriber *s = m->subscribers, *next; s; s = next) {
		next = s->next;
		if (s->conn == conn) {
			unlink_subscriber(m, s);
			subscriber_free(s);
		}
	}
}

static bool may_read(const struct manager *m, const struct subscriber *s)
{
	struct caller who = { .uid = s->uid, .gid = (gid_t)-1, .gids = s->gids, .n_gids = s->n_gids };

	return s->uid == 0 || access_allows(&m->config->readers, &who);
}

void bus_subscribers_recheck(struct manager *m)
{
	for (struct subscriber *s = m->subscribers, *next; s; s = next) {
		next = s->next;
		if (!may_read(m, s)) {
			log_info("%s (uid %u) may no longer read the inventory: its subscription ends.",
				 s->name ? s->name : "A direct connection", (unsigned)s->uid);
			unlink_subscriber(m, s);
			subscriber_free(s);
		}
	}
}

void bus_subscribers_free(struct manager *m)
{
	while (m->subscribers) {
		struct subscriber *s = m->subscribers;
		m->subscribers = s->next;
		subscriber_free(s);
	}
}

bool bus_inventory_is_public(const struct manager *m)
{
	return m->config->readers.everyone;
}

/* One copy of the signal on bus to destination (NULL: broadcast on the
 * system bus; the peer on a direct connection). */
static void send_one(sd_bus *bus, const char *destination, const char *path, const char *iface,
		     const char *member, signal_body_fn body, void *userdata)
{
	sd_bus_message *msg = NULL;
	int r;

	r = sd_bus_message_new_signal(bus, &msg, path, iface, member);
	if (r >= 0 && destination)
		r = sd_bus_message_set_destination(msg, destination);
	if (r >= 0 && body)
		r = body(msg, userdata);
	if (r >= 0)
		r = sd_bus_send(NULL, msg, NULL);
	if (r < 0)
		log_warning_errno(r, "Cannot send %s.%s to %s: %m", iface, member,
				  destination ? destination : sd_bus_is_bus_client(bus) > 0 ? "the bus" : "a direct peer");
	sd_bus_message_unref(msg);
}

void bus_send_inventory_signal(struct manager *m, const char *path, const char *iface, const char *member,
			       signal_body_fn body, void *userdata)
{
	if (!m->bus)
		return;
	if (bus_inventory_is_public(m))
		send_one(m->bus, NULL, path, iface, member, body, userdata);
	for (struct subscriber *s = m->subscribers; s; s = s->next)
		if (s->conn)
			send_one(s->conn->bus, NULL, path, iface, member, body, userdata);
		else if (!bus_inventory_is_public(m))
			send_one(m->bus, s->name, path, iface, member, body, userdata);
}

void bus_send_lease_signal(struct manager *m, struct lease *l, const char *path, const char *iface,
			   const char *member, signal_body_fn body, void *userdata)
{
	/* Nobody is told of a lease before its InterfacesAdded. */
	if (!m->bus || !l->announced)
		return;
	if (l->owner_conn)
		send_one(l->owner_conn->bus, NULL, path, iface, member, body, userdata);
	else if (l->owner_name[0])
		send_one(m->bus, l->owner_name, path, iface, member, body, userdata);
	for (struct subscriber *s = m->subscribers; s; s = s->next) {
		if (s->uid != 0)
			continue;
		if (s->conn && s->conn != l->owner_conn)
			send_one(s->conn->bus, NULL, path, iface, member, body, userdata);
		else if (!s->conn && strcmp(s->name, l->owner_name) != 0)
			send_one(m->bus, s->name, path, iface, member, body, userdata);
	}
}

struct invalidated {
	const char *iface;
	const char *const *names;
};

static int invalidated_body(sd_bus_message *msg, void *userdata)
{
	const struct invalidated *v = userdata;
	int r;

	r = sd_bus_message_append(msg, "sa{sv}", v->iface, 0);
	if (r >= 0)
		r = sd_bus_message_append_strv(msg, (char **)v->names);
	return r;
}

void bus_send_invalidated(struct manager *m, const char *path, const char *iface, const char *const *names)
{
	struct invalidated v = { iface, names };

	if (!m->bus)
		return;
	/* Direct subscribers get the values (bus_emit_to_direct_subscribers). */
	for (struct subscriber *s = m->subscribers; s; s = s->next)
		if (!s->conn)
			send_one(m->bus, s->name, path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
				 invalidated_body, &v);
}

void bus_emit_to_direct_subscribers(struct manager *m, enum direct_emit what, const char *path, const char *iface,
				    char **names)
{
	for (struct subscriber *s = m->subscribers; s; s = s->next) {
		if (!s->conn)
			continue;
		if (what == DIRECT_EMIT_CHANGED)
			(void)sd_bus_emit_properties_changed_strv(s->conn->bus, path, iface, names);
		else if (what == DIRECT_EMIT_ADDED)
			(void)sd_bus_emit_object_added(s->conn->bus, path);
		else
			(void)sd_bus_emit_object_removed(s->conn->bus, path);
	}
}
