/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-access.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-api.h"
#include "bus.h"
#include "lease.h"
#include "cleanup.h"
#include "direct-socket.h"
#include "log.h"
#include "manager.h"


void bus_caller_done(struct bus_caller *c)
{
	free(c->gids);
	c->gids = NULL;
}

/* Read the "au" variant of UnixGroupIDs into a fresh array. */
static int read_gids(sd_bus_message *reply, struct bus_caller *c)
{
	const void *p;
	size_t size;
	int r;

	r = sd_bus_message_enter_container(reply, 'v', "au");
	if (r < 0)
		return r;
	r = sd_bus_message_read_array(reply, 'u', &p, &size);
	if (r < 0)
		return r;
	c->gids = malloc(size ? size : 1);
	if (!c->gids)
		return -ENOMEM;
	memcpy(c->gids, p, size);
	c->who.gids = c->gids;
	c->who.n_gids = size / sizeof(uint32_t);
	return sd_bus_message_exit_container(reply);
}

/*
 * The caller's uid, pid and groups as the bus daemon recorded them when the
 * caller connected (GetConnectionCredentials), never from /proc at call time:
 * a PID can be reused and a process can change groups, but the connection's
 * credentials cannot.  Without UnixGroupIDs no group counts.
 */
/* On the direct socket: what the kernel recorded at connect(), with no
 * round trip.  The same groups as the bus daemon's UnixGroupIDs, which it
 * reads with the same SO_PEERCRED (the primary gid) and SO_PEERGROUPS. */
static int get_direct_caller(const struct direct_conn *conn, struct bus_caller *ret)
{
	const struct peer_creds *pc = &conn->creds;

	*ret = (struct bus_caller){ .who = { .uid = pc->uid, .gid = (gid_t)-1 }, .pid = pc->pid, .conn = conn };
	ret->gids = malloc((pc->n_gids + 1) * sizeof(gid_t));
	if (!ret->gids)
		return -ENOMEM;
	ret->gids[0] = pc->gid;
	if (pc->n_gids)
		memcpy(ret->gids + 1, pc->gids, pc->n_gids * sizeof(gid_t));
	ret->who.gids = ret->gids;
	ret->who.n_gids = pc->n_gids + 1;
	return 0;
}

static int caller_copy(const struct bus_caller *from, struct bus_caller *to)
{
	*to = *from;
	to->gids = malloc((from->who.n_gids ? from->who.n_gids : 1) * sizeof(gid_t));
	if (!to->gids)
		return -ENOMEM;
	if (from->who.n_gids)
		memcpy(to->gids, from->gids, from->who.n_gids * sizeof(gid_t));
	to->who.gids = to->gids;
	return 0;
}

/*
 * One method checks its caller more than once (the lease's owner, then the
 * device's users): the bus daemon is asked once per message.  A message is
 * known by its bus, sender and cookie; unique names are never reused on a
 * bus.
 */
static struct {
	const sd_bus *bus; /* compared, never used */
	char *sender;
	uint64_t cookie;
	struct bus_caller caller;
} last_caller;

static bool is_last_caller(sd_bus_message *m, uint64_t cookie)
{
	const char *sender = sd_bus_message_get_sender(m);

	return last_caller.sender && sender && last_caller.bus == sd_bus_message_get_bus(m) &&
	       cookie == last_caller.cookie && strcmp(sender, last_caller.sender) == 0;
}

static void remember_caller(sd_bus_message *m, uint64_t cookie, const struct bus_caller *c)
{
	const char *sender = sd_bus_message_get_sender(m);

	bus_access_forget_caller();
	if (!sender || !(last_caller.sender = strdup(sender)))
		return;
	if (caller_copy(c, &last_caller.caller) < 0) {
		free(last_caller.sender);
		last_caller.sender = NULL;
		return;
	}
	last_caller.cookie = cookie;
	last_caller.bus = sd_bus_message_get_bus(m);
}

void bus_access_forget_caller(void)
{
	free(last_caller.sender);
	last_caller.sender = NULL;
	bus_caller_done(&last_caller.caller);
}

static int ask_bus_daemon(sd_bus_message *m, struct bus_caller *ret);

static int get_caller(sd_bus_message *m, struct bus_caller *ret)
{
	const struct direct_conn *conn = direct_conn_of_message(m);
	uint64_t cookie = 0;
	int r;

	if (conn)
		return get_direct_caller(conn, ret);
	*ret = (struct bus_caller){ .who = { .uid = (uid_t)-1, .gid = (gid_t)-1 } };
	/* A message on a connection that is neither: nobody to trust. */
	if (sd_bus_is_bus_client(sd_bus_message_get_bus(m)) <= 0)
		return -ENODATA;
	if (sd_bus_message_get_cookie(m, &cookie) >= 0 && is_last_caller(m, cookie))
		return caller_copy(&last_caller.caller, ret);
	r = ask_bus_daemon(m, ret);
	if (r >= 0 && cookie)
		remember_caller(m, cookie, ret);
	return r;
}

static int ask_bus_daemon(sd_bus_message *m, struct bus_caller *ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	bool have_uid = false;
	int r;

	r = sd_bus_call_method(sd_bus_message_get_bus(m), "org.freedesktop.DBus", "/org/freedesktop/DBus",
			       "org.freedesktop.DBus", "GetConnectionCredentials", NULL, &reply, "s",
			       sd_bus_message_get_sender(m));
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "{sv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
		const char *key;
		uint32_t v;

		r = sd_bus_message_read(reply, "s", &key);
		if (r < 0)
			break;
		if (strcmp(key, "UnixUserID") == 0 && (r = sd_bus_message_read(reply, "v", "u", &v)) >= 0) {
			ret->who.uid = v;
			have_uid = true;
		} else if (strcmp(key, "ProcessID") == 0 && (r = sd_bus_message_read(reply, "v", "u", &v)) >= 0)
			ret->pid = (pid_t)v;
		else if (strcmp(key, "UnixGroupIDs") == 0 && !ret->gids)
			r = read_gids(reply, ret);
		else
			r = sd_bus_message_skip(reply, "v");
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	if (r < 0) {
		bus_caller_done(ret);
		return r;
	}
	if (!have_uid) {
		bus_caller_done(ret);
		return -ENODATA;
	}
	return 0;
}

int bus_get_caller(sd_bus_message *m, struct bus_caller *ret, sd_bus_error *error)
{
	int r = get_caller(m, ret);

	if (r < 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_ACCESS_DENIED,
					 "Cannot determine the caller's credentials: %s.", strerror(-r));
	return 0;
}

int bus_check_access(sd_bus_message *m, const struct access_list *acl, const char *what,
		     sd_bus_error *error)
{
	_cleanup_(bus_caller_done) struct bus_caller c = {};
	int r;

	r = bus_get_caller(m, &c, error);
	if (r < 0)
		return r;
	if (access_allows(acl, &c.who))
		return 0;
	return sd_bus_error_setf(error, CCDEVD_ERROR_ACCESS_DENIED,
				 "Access denied: uid %u may not %s; ask the administrator to add the "
				 "user or one of its groups to the configuration.",
				 (unsigned)c.who.uid, what);
}

int bus_check_root(sd_bus_message *m, const char *what, sd_bus_error *error)
{
	_cleanup_(bus_caller_done) struct bus_caller c = {};
	int r;

	r = bus_get_caller(m, &c, error);
	if (r < 0)
		return r;
	if (c.who.uid == 0)
		return 0;
	return sd_bus_error_setf(error, CCDEVD_ERROR_ACCESS_DENIED,
				 "Access denied: only root may %s (caller is uid %u).", what,
				 (unsigned)c.who.uid);
}

static bool path_is_device(const char *path)
{
	size_t n = strlen(CCDEVD_DEVICE_PREFIX);

	return path && strncmp(path, CCDEVD_DEVICE_PREFIX, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Method calls that reveal the inventory. */
static bool message_reads_inventory(sd_bus_message *m)
{
	const char *path = sd_bus_message_get_path(m);
	const char *iface = sd_bus_message_get_interface(m);
	const char *member = sd_bus_message_get_member(m);

	if (!path || !member)
		return false;
	if (iface && strcmp(iface, "org.freedesktop.DBus.Peer") == 0)
		return false;
	if (path_is_device(path))
		return true;
	if (strcmp(path, CCDEVD_OBJECT_ROOT) != 0)
		return false;
	return strcmp(member, "GetManagedObjects") == 0 || strcmp(member, "ListDevices") == 0 ||
	       strcmp(member, "GetDevice") == 0 || strcmp(member, "Introspect") == 0;
}

/* Reading a lease object (its properties, its introspection; its methods
 * check the owner themselves): for its owner's uid and root.  Anyone else
 * is answered as if it did not exist, as sd-bus answers for a path it does
 * not know, so that one tenant cannot probe another's leases. */
static bool lease_read_refused(struct manager *mgr, sd_bus_message *m)
{
	_cleanup_(bus_caller_done) struct bus_caller c = {};
	const char *iface = sd_bus_message_get_interface(m);
	const char *path = sd_bus_message_get_path(m);
	struct lease *l;

	if (!iface || (strcmp(iface, "org.freedesktop.DBus.Properties") != 0 &&
		       strcmp(iface, "org.freedesktop.DBus.Introspectable") != 0))
		return false;
	l = bus_lease_of_path(mgr, path);
	if (!l)
		return false; /* sd-bus answers NoSuchLease or UnknownObject */
	if (get_caller(m, &c) >= 0 && (c.who.uid == 0 || c.who.uid == l->owner_uid))
		return false;
	(void)sd_bus_reply_method_errorf(m, SD_BUS_ERROR_UNKNOWN_OBJECT, "Unknown object '%s'.", path);
	return true;
}

static int read_gate(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct manager *mgr = userdata;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

	if (sd_bus_message_is_method_call(m, NULL, NULL) <= 0)
		return 0;
	if (lease_read_refused(mgr, m))
		return 1;
	if (!message_reads_inventory(m))
		return 0;
	if (bus_check_access(m, &mgr->config->readers, "read the device inventory", &error) >= 0)
		return 0;
	/* Denied: answer here and stop dispatch. */
	(void)sd_bus_reply_method_error(m, &error);
	return 1;
}

int bus_install_read_gate(struct manager *mgr, sd_bus *bus)
{
	return sd_bus_add_filter(bus, NULL, read_gate, mgr);
}
