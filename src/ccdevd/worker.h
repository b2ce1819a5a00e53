/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Slow kernel work off the event loop: fn runs in a child process
 * (kernel/child.h) and done() is called from the loop with its result once
 * the child has ended.  While it runs the loop serves every other client and
 * the watchdog.  A child that takes longer than slow_usec is not killed (a
 * reset or a driver bind cannot be interrupted half way, and killing the
 * process would not stop the kernel's work): slow() is called once, to say
 * so, and the wait goes on.
 */

#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

struct worker;

typedef void (*worker_done_fn)(int r, void *userdata);
typedef void (*worker_slow_fn)(void *userdata);

/* ctx is read by fn in the child (a copy of the daemon's memory at fork):
 * it may point at the caller's stack.  keep_fd: the one fd the child keeps
 * (-1: none).  slow may be NULL. */
int worker_start(sd_event *e, const char *what, int (*fn)(void *ctx), void *ctx, int keep_fd,
		 uint64_t slow_usec, worker_done_fn done, worker_slow_fn slow, void *userdata,
		 struct worker **ret);

/* The worker's process id; 0 for NULL. */
pid_t worker_pid(const struct worker *w);

/* Stop waiting for w: done() is never called; the child is reaped when it
 * ends.  NULL is a no-op. */
void worker_abandon(struct worker *w);

/* At exit: forget abandoned workers still running (they go on without us;
 * nothing of theirs is ours to close but their pidfd). */
void worker_free_abandoned(void);
