/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The credentials of a unix socket's peer, as the kernel recorded them when
 * it connected (SO_PEERCRED, SO_PEERGROUPS, SO_PEERPIDFD): what the process
 * was then, not what any process is now.
 */

#include <stddef.h>
#include <sys/types.h>

struct peer_creds {
	pid_t pid;
	uid_t uid;     /* the effective ids at connect() */
	gid_t gid;
	gid_t *gids;   /* owned: the supplementary groups at connect() */
	size_t n_gids;
	int pidfd;     /* owned: the connecting process itself, or -1 (see below) */
	int pidfd_errno; /* why pidfd is -1: ENOPROTOOPT when the kernel has no SO_PEERPIDFD */
};

/* Fill c from the connected socket fd.  A missing pidfd is not an error
 * (pidfd -1, pidfd_errno set): the caller decides what it may do without. */
int socket_peer_creds(int fd, struct peer_creds *c);
void peer_creds_done(struct peer_creds *c);
