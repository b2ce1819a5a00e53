/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The service manager's fd store (DESIGN §11; systemd-logind is the model):
 * every fd a lease holds is kept there too, under a name that says what it
 * is, so a daemon that crashes or restarts gets them back:
 *
 *   lease-7-iommufd            the lease's iommufd (with its IOAS)
 *   lease-7-pidfd              a pidfd of the lease's owner process
 *   lease-7-dev-0000_01_00_0   the daemon's reference to a device's VFIO file
 *
 * Only leases' fds are stored.  A device leaving a lease leaves the store at
 * once, before its release begins: the store's copy of the file would
 * otherwise be a holder that keeps the release from ever completing.
 *
 * fdstore_sync() makes the store hold exactly what the leases hold now; it
 * does nothing when no service manager listens (no $NOTIFY_SOCKET).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct manager;

struct fdstore_entry {
	char *name;
	int fd;                 /* ours; -1 once taken */
};

struct fdstore {
	bool enabled;           /* a service manager with an fd store listens */
	struct fdstore_entry *stored; /* what it holds now: names and our fd numbers */
	size_t n_stored;
	int direct_socket;      /* socket activation's, named "direct" (direct-socket.h); -1: none */
};

#define FDSTORE_DIRECT_SOCKET "direct"

void fdstore_init(struct fdstore *s);
void fdstore_done(struct fdstore *s);

/* Push what is new, remove what is gone. */
void fdstore_sync(struct manager *m);

/* At start: the fds the service manager gave back (LISTEN_FDS), by name;
 * the store is taken to hold them all until the next sync.  The activated
 * direct socket, if any, goes to s->direct_socket instead. */
int fdstore_receive(struct fdstore *s, struct fdstore_entry **ret, size_t *ret_n);
/* Take the fd named name out of entries (-1 if absent). */
int fdstore_take(struct fdstore_entry *entries, size_t n, const char *name);
/* Close what nobody took, saying so; free entries. */
void fdstore_entries_free(struct fdstore_entry *entries, size_t n);

/* The names above, into buf. */
void fdstore_name_lease(char *buf, size_t size, unsigned lease_id, const char *what);
void fdstore_name_device(char *buf, size_t size, unsigned lease_id, const char *bdf);
/* lease-N-export-BDF-K (the K-th export of that device), lease-N-map-IOVA
 * (hex): the daemon's dma-bufs (dmabuf.h). */
void fdstore_name_export(char *buf, size_t size, unsigned lease_id, const char *bdf, size_t k);
void fdstore_name_mapping(char *buf, size_t size, unsigned lease_id, uint64_t iova);
#define FDSTORE_NAME_MAX 64
