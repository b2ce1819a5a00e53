/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "direct-socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <systemd/sd-id128.h>

#include "bus-signals.h"
#include "bus.h"
#include "cleanup.h"
#include "lease.h"
#include "log.h"
#include "manager.h"
#include "user-limits.h"

struct direct_socket {
	struct manager *manager;
	int fd;                      /* listening */
	char *bound_path;            /* ours to unlink; NULL when activated */
	sd_id128_t server_id;
	sd_event_source *accept_source;
	struct direct_conn *conns;   /* owned */
	unsigned next_id;
};

/* One daemon, one socket: how a method handler, which has only its
 * message, finds the connection it came in on. */
static struct direct_socket *the_socket;

const struct direct_conn *direct_conn_of_message(sd_bus_message *msg)
{
	sd_bus *bus = sd_bus_message_get_bus(msg);

	if (!the_socket || !bus || sd_bus_is_bus_client(bus) > 0)
		return NULL;
	for (struct direct_conn *c = the_socket->conns; c; c = c->next)
		if (c->bus == bus)
			return c;
	return NULL;
}

static void conn_unlink(struct direct_conn *c)
{
	for (struct direct_conn **p = &c->socket->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			return;
		}
}

static void conn_free(struct direct_conn *c)
{
	if (!c)
		return;
	sd_event_source_disable_unref(c->close_source);
	sd_event_source_disable_unref(c->start_source);
	/* No flush: a peer that does not read must not hold us up. */
	sd_bus_close_unref(c->bus);
	peer_creds_done(&c->creds);
	free(c);
}

/* The peer hung up (or the connection failed): its leases end, its
 * subscription too.  Deferred: the bus is still dispatching. */
static int on_conn_closed_deferred(sd_event_source *s, void *userdata)
{
	struct direct_conn *c = userdata;
	struct manager *m = c->socket->manager;

	log_debug("Direct connection %u (uid %u pid %d) closed.", c->id, (unsigned)c->creds.uid, (int)c->creds.pid);
	manager_direct_conn_closed(m, c);
	bus_unsubscribe_conn(m, c);
	conn_unlink(c);
	conn_free(c);
	return 0;
}

static int on_conn_message(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	struct direct_conn *c = userdata;
	int r;

	/* A bus client (busctl --address=unix:path=...) says Hello first, as
	 * to a bus daemon: give it a name, so the standard tools work here. */
	if (sd_bus_message_is_method_call(msg, "org.freedesktop.DBus", "Hello")) {
		char name[32];
		snprintf(name, sizeof name, ":direct.%u", c->id);
		(void)sd_bus_reply_method_return(msg, "s", name);
		return 1;
	}
	/* Match rules filter what a bus daemon routes; here nothing is routed:
	 * the connection gets what the daemon sends it (its leases' signals,
	 * the inventory's once subscribed).  sd-bus and GDBus clients add
	 * rules for the signals they watch and would wait for an answer. */
	if (sd_bus_message_is_method_call(msg, "org.freedesktop.DBus", "AddMatch") ||
	    sd_bus_message_is_method_call(msg, "org.freedesktop.DBus", "RemoveMatch")) {
		(void)sd_bus_reply_method_return(msg, NULL);
		return 1;
	}
	if (!sd_bus_message_is_signal(msg, "org.freedesktop.DBus.Local", "Disconnected") || c->close_source)
		return 0;
	r = sd_event_add_defer(c->socket->manager->event, &c->close_source, on_conn_closed_deferred, c);
	if (r < 0)
		log_error_errno(r, "Direct connection %u: cannot defer its close: %m", c->id);
	return 0;
}

/*
 * A client may send its first message right behind BEGIN (libdbus does):
 * sd-bus reads both at once, finishes the handshake, and leaves the message
 * in its buffer, where no poll will ever wake it.  So after each loop
 * iteration until the connection runs, and once more then, drain it.
 */
static int on_start_check(sd_event_source *s, void *userdata)
{
	struct direct_conn *c = userdata;

	if (sd_bus_is_ready(c->bus) <= 0)
		return 0;
	while (!c->close_source && sd_bus_process(c->bus, NULL) > 0)
		;
	c->start_source = sd_event_source_disable_unref(c->start_source);
	return 0;
}

static unsigned conns_of_uid(const struct direct_socket *s, uid_t uid)
{
	unsigned n = 0;

	for (const struct direct_conn *c = s->conns; c; c = c->next)
		n += c->creds.uid == uid;
	return n;
}

/* May this peer have one more connection?  Root always, within the fd
 * reserve. */
static int conn_allowed(struct direct_socket *s, const struct peer_creds *pc)
{
	struct manager *m = s->manager;
	_cleanup_free_ char *why = NULL;
	unsigned n;

	if (limits_check_fds(pc->uid, 1, &why) < 0) {
		log_warning("Refusing a direct connection from uid %u pid %d: %s.", (unsigned)pc->uid, (int)pc->pid,
			    why ? why : "no open files left");
		return -EMFILE;
	}
	if (pc->uid == 0)
		return 0;
	n = conns_of_uid(s, pc->uid);
	if (n < m->config->connections_per_user)
		return 0;
	log_warning("Refusing a direct connection from uid %u pid %d: it has %u open, the most "
		    "limits.connections_per_user in %s allows; it can use the system bus.",
		    (unsigned)pc->uid, (int)pc->pid, n, m->config->path);
	return -EDQUOT;
}

/* The connection's bus takes *fd once it holds it. */
static int conn_setup(struct direct_socket *s, struct direct_conn *c, int *fd)
{
	struct manager *m = s->manager;
	char description[32];
	int r;

	r = sd_bus_new(&c->bus);
	if (r < 0)
		return r;
	r = sd_bus_set_fd(c->bus, *fd, *fd);
	if (r < 0)
		return r;
	TAKE_FD(*fd);
	snprintf(description, sizeof description, "direct-%u", c->id);
	(void)sd_bus_set_description(c->bus, description);
	r = sd_bus_set_server(c->bus, 1, s->server_id);
	if (r >= 0)
		r = sd_bus_negotiate_fds(c->bus, 1);
	if (r >= 0)
		r = bus_manager_register(m, c->bus);
	if (r >= 0)
		r = bus_device_register(m, c->bus);
	if (r >= 0)
		r = bus_lease_register(m, c->bus);
	if (r >= 0)
		r = sd_bus_add_filter(c->bus, NULL, on_conn_message, c);
	if (r >= 0)
		r = sd_bus_attach_event(c->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = sd_bus_start(c->bus);
	if (r >= 0)
		r = sd_event_add_post(m->event, &c->start_source, on_start_check, c);
	return r;
}

static int on_accept(sd_event_source *source, int lfd, uint32_t revents, void *userdata)
{
	struct direct_socket *s = userdata;
	_cleanup_close_ int fd = -1;
	struct direct_conn *c;
	int r;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warning_errno(errno, "Direct socket: accept failed: %m");
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return log_error_errno(ENOMEM, "Direct socket: out of memory; connection closed.");
	*c = (struct direct_conn){ .socket = s, .id = ++s->next_id };
	r = socket_peer_creds(fd, &c->creds); /* first: it sets creds.pidfd */
	if (r < 0) {
		log_warning_errno(r, "Direct socket: cannot read the peer's credentials (%m); connection closed.");
		conn_free(c);
		return 0;
	}
	if (conn_allowed(s, &c->creds) < 0) {
		conn_free(c);
		return 0;
	}
	r = conn_setup(s, c, &fd);
	if (r < 0) {
		log_warning_errno(r, "Direct connection from uid %u pid %d: cannot set it up (%m); closed.",
				  (unsigned)c->creds.uid, (int)c->creds.pid);
		conn_free(c);
		return 0;
	}
	c->next = s->conns;
	s->conns = c;
	log_debug("Direct connection %u from uid %u pid %d%s.", c->id, (unsigned)c->creds.uid, (int)c->creds.pid,
		  c->creds.pidfd >= 0 ? "" : " (no SO_PEERPIDFD: its pid is checked when it is used)");
	return 0;
}

static int bind_socket(const char *path, int *ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (strlen(path) >= sizeof sa.sun_path)
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket left by an earlier daemon: nobody listens on it any more
	 * (the bus name we hold says no other ccdevd runs). */
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -errno;
	/* Anyone may connect (the unit's UMask would make it 0600): the
	 * methods check who calls. */
	if (chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
		int e = errno;
		(void)unlink(path);
		return -e;
	}
	*ret = TAKE_FD(fd);
	return 0;
}

int direct_socket_open(struct manager *m, int fd, const char *path)
{
	struct direct_socket *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s) {
		safe_close(fd);
		return -ENOMEM;
	}
	*s = (struct direct_socket){ .manager = m, .fd = fd };
	if (fd < 0) {
		r = bind_socket(path, &s->fd);
		if (r < 0) {
			free(s);
			return log_error_errno(r, "Failed to listen on %s: %m", path);
		}
		s->bound_path = strdup(path);
		if (!s->bound_path) {
			direct_socket_free(s);
			return -ENOMEM;
		}
	} else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		direct_socket_free(s);
		return log_error_errno(r, "Cannot use the activated direct socket: %m");
	}
	r = sd_id128_randomize(&s->server_id);
	if (r >= 0)
		r = sd_event_add_io(m->event, &s->accept_source, s->fd, EPOLLIN, on_accept, s);
	if (r < 0) {
		direct_socket_free(s);
		return log_error_errno(r, "Failed to watch the direct socket: %m");
	}
	the_socket = s;
	m->direct = s;
	if (fd >= 0)
		log_info("Direct socket: the one the service manager passed (socket activation).");
	else
		log_info("Direct socket: %s.", path);
	return 0;
}

void direct_socket_free(struct direct_socket *s)
{
	if (!s)
		return;
	while (s->conns) {
		struct direct_conn *c = s->conns;
		s->conns = c->next;
		conn_free(c);
	}
	sd_event_source_disable_unref(s->accept_source);
	safe_close(s->fd);
	if (s->bound_path)
		(void)unlink(s->bound_path);
	free(s->bound_path);
	if (the_socket == s)
		the_socket = NULL;
	free(s);
}
