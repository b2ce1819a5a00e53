/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "socket.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "cleanup.h"
#include "kernel-uapi.h"

void peer_creds_done(struct peer_creds *c)
{
	free(c->gids);
	c->gids = NULL;
	c->n_gids = 0;
	c->pidfd = safe_close(c->pidfd);
}

/* SO_PEERGROUPS answers ERANGE with the size it needs. */
static int peer_groups(int fd, struct peer_creds *c)
{
	socklen_t len = 16 * sizeof(gid_t);

	for (int tries = 0; tries < 4; tries++) {
		gid_t *g = realloc(c->gids, len ? len : sizeof(gid_t));
		if (!g)
			return -ENOMEM;
		c->gids = g;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c->gids, &len) == 0) {
			c->n_gids = len / sizeof(gid_t);
			return 0;
		}
		if (errno != ERANGE)
			return -errno;
	}
	return -ERANGE;
}

int socket_peer_creds(int fd, struct peer_creds *c)
{
	struct ucred u;
	socklen_t len = sizeof(u);
	int pidfd, r;

	*c = (struct peer_creds){ .pidfd = -1 };
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &u, &len) < 0)
		return -errno;
	if (len != sizeof(u) || u.pid <= 0)
		return -ENODATA;
	c->pid = u.pid;
	c->uid = u.uid;
	c->gid = u.gid;
	r = peer_groups(fd, c);
	if (r < 0) {
		peer_creds_done(c);
		return r;
	}
	len = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && len == sizeof(pidfd))
		c->pidfd = pidfd;
	else
		c->pidfd_errno = errno ? errno : EINVAL;
	return 0;
}
