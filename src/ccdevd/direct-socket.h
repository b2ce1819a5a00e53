/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The second door (DESIGN §3): a unix socket, /run/ccdevd/ccdevd.sock, on
 * which each connection is a peer-to-peer sd-bus connection carrying the
 * same vtables, the same read gate and the same checks as the system bus.
 * What differs is where the caller's credentials come from: the socket
 * itself, as the kernel recorded them at connect() (SO_PEERCRED,
 * SO_PEERGROUPS, and SO_PEERPIDFD where the kernel has it), so there is no
 * bus daemon round trip per call and the owner's pidfd is the connecting
 * process itself, not a PID looked up later.
 *
 * A lease created on a direct connection ends when its owner process exits
 * or when it closes that connection (as a bus lease ends when its owner
 * leaves the bus).  Its signals go to that connection.
 *
 * The socket comes from socket activation (ccdevd.socket, fd name "direct")
 * or is bound by the daemon at $RUNTIME_DIRECTORY/ccdevd.sock, mode 0666:
 * anyone may connect, the methods decide what they may do.  Each uid but
 * root may hold limits.connections_per_user connections; one more is closed
 * at once (the client falls back to the system bus).
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "kernel/socket.h"

#define DIRECT_SOCKET_NAME "ccdevd.sock"
#define DIRECT_SOCKET_DEFAULT_PATH "/run/ccdevd/" DIRECT_SOCKET_NAME

struct manager;
struct direct_socket;

struct direct_conn {
	struct direct_socket *socket;
	unsigned id;
	sd_bus *bus;
	struct peer_creds creds;
	sd_event_source *close_source; /* deferred free after the peer hung up */
	sd_event_source *start_source; /* until the handshake is done (direct-socket.c) */
	struct direct_conn *next;      /* direct_socket::conns */
};

/* Listen: on fd (socket activation; taken) or, with fd -1, on a socket the
 * daemon binds at path.  Sets m->direct. */
int direct_socket_open(struct manager *m, int fd, const char *path);
/* Close every connection and the socket (unlinking what we bound). */
void direct_socket_free(struct direct_socket *s);

/* The direct connection a message came in on; NULL for the system bus. */
const struct direct_conn *direct_conn_of_message(sd_bus_message *msg);
