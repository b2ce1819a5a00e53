/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/types.h>

#include "cleanup.h"
#include "kernel/child.h"
#include "log.h"

struct worker {
	char what[64];
	pid_t pid;
	int pidfd;
	sd_event_source *exit_source;
	sd_event_source *slow_timer;
	worker_done_fn done;
	worker_slow_fn slow;
	void *userdata;
	struct worker *next; /* in the abandoned list */
};

/* Abandoned workers still running: freed when they end, or at exit. */
static struct worker *abandoned;

static void unlink_abandoned(struct worker *w)
{
	for (struct worker **p = &abandoned; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			return;
		}
}

static void worker_free(struct worker *w)
{
	if (!w)
		return;
	sd_event_source_disable_unref(w->exit_source);
	sd_event_source_disable_unref(w->slow_timer);
	safe_close(w->pidfd);
	free(w);
}

static int on_child_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct worker *w = userdata;
	worker_done_fn done = w->done;
	void *data = w->userdata;
	int r;

	r = child_finish(TAKE_FD(w->pidfd), w->pid);
	unlink_abandoned(w);
	worker_free(w);
	/* Last: done() may start the next worker, or free its owner. */
	if (done)
		done(r, data);
	return 0;
}

static int on_slow(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct worker *w = userdata;

	w->slow_timer = sd_event_source_disable_unref(w->slow_timer);
	log_warning("%s (pid %d) has not returned yet; still waiting for the kernel.", w->what, (int)w->pid);
	if (w->slow)
		w->slow(w->userdata);
	return 0;
}

int worker_start(sd_event *e, const char *what, int (*fn)(void *ctx), void *ctx, int keep_fd,
		 uint64_t slow_usec, worker_done_fn done, worker_slow_fn slow, void *userdata,
		 struct worker **ret)
{
	struct worker *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct worker){ .pidfd = -1, .done = done, .slow = slow, .userdata = userdata };
	snprintf(w->what, sizeof w->what, "%s", what);
	r = child_start(fn, ctx, keep_fd, &w->pid);
	if (r < 0) {
		worker_free(w);
		return r;
	}
	w->pidfd = r;
	r = sd_event_add_io(e, &w->exit_source, w->pidfd, EPOLLIN, on_child_exit, w);
	if (r >= 0 && slow_usec)
		r = sd_event_add_time_relative(e, &w->slow_timer, CLOCK_MONOTONIC, slow_usec, 0, on_slow, w);
	if (r < 0) {
		/* Cannot watch it: reap it (no zombie), and fail to start. */
		log_error_errno(r, "Cannot watch %s (pid %d): %m.", what, (int)w->pid);
		(void)child_finish(TAKE_FD(w->pidfd), w->pid);
		worker_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

pid_t worker_pid(const struct worker *w)
{
	return w ? w->pid : 0;
}

void worker_abandon(struct worker *w)
{
	if (!w)
		return;
	/* Still watched, so that it is reaped; nobody is told. */
	w->done = NULL;
	w->slow = NULL;
	w->slow_timer = sd_event_source_disable_unref(w->slow_timer);
	w->next = abandoned;
	abandoned = w;
}

void worker_free_abandoned(void)
{
	while (abandoned) {
		struct worker *w = abandoned;
		abandoned = w->next;
		worker_free(w);
	}
}
