/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Keeping the restart state (state-file.h has the format, fdstore.h the fds):
 * after every change that a restart must not lose (a lease created or
 * ended, a device attached, bound or detached, a teardown step reached, a
 * memlock limit raised) the state file is rewritten atomically and the fd
 * store brought in line, before the caller answers the client.
 */

struct manager;
struct saved_state;

/* Where the state lives: $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=),
 * else /run/ccdevd. */
int state_init(struct manager *m);
/* At exit: the temporary file kept for the next write goes (the state file
 * stays, for the next start). */
void state_done(struct manager *m);

/* Write the state file and sync the fd store; a failure is logged (the
 * daemon goes on: what it does is right, only a restart would lose it). */
void state_save(struct manager *m);

/* One method that makes several changes (CreateLeaseWithDevices: a lease
 * and each device) writes once: between state_defer() and state_flush()
 * saves only mark the state dirty; state_flush() writes it if so, and must
 * come before the reply.  Nested pairs write at the outermost flush. */
void state_defer(struct manager *m);
void state_flush(struct manager *m);
/* state_save() at once, even between state_defer() and state_flush(): for
 * a record that must be on disk before a worker acts (a claim). */
void state_save_now(struct manager *m);
static inline void state_flushp(struct manager **m)
{
	if (*m)
		state_flush(*m);
}

/* The state file as the last daemon left it.  -ENOENT: there is none (the
 * first start since boot); -EINVAL: it is unusable, *ret_why says why. */
int state_load(struct manager *m, struct saved_state **ret, char **ret_why);

/* Keep an unusable state file for the administrator, out of the way. */
void state_set_aside(struct manager *m);
