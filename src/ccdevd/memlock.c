/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "memlock.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "config.h"
#include "lease.h"
#include "log.h"
#include "manager.h"
#include "state-file.h"

/* The limit an owner process had before ccdevd first raised it. */
struct memlock_saved {
	pid_t pid;
	struct rlimit limit;
	struct memlock_saved *next; /* manager::memlock_saved */
};

static bool owner_alive(const struct lease *l)
{
	struct pollfd p = { .fd = l->owner_pidfd, .events = POLLIN };

	return l->owner_pidfd >= 0 && poll(&p, 1, 0) == 0;
}

static struct memlock_saved **find_saved(struct manager *m, pid_t pid)
{
	struct memlock_saved **p = &m->memlock_saved;

	while (*p && (*p)->pid != pid)
		p = &(*p)->next;
	return p;
}

int memlock_check(const struct lease *l, uint64_t quota, char **ret_why)
{
	const struct manager *m = l->manager;
	uint64_t limit = m->config->memlock_per_user, total = quota;

	*ret_why = NULL;
	if (limit == 0 || quota == 0)
		return 0;
	for (const struct lease *x = m->leases; x; x = x->next)
		if (x->owner_uid == l->owner_uid)
			total += x->memlock_limit;
	if (total <= limit)
		return 0;
	if (asprintf(ret_why, "granting %llu MiB would bring the pinned-memory quota of uid %u to %llu MiB, over "
			      "limits.memlock_mib_per_user (%llu MiB) in %s",
		     (unsigned long long)(quota >> 20), (unsigned)l->owner_uid, (unsigned long long)(total >> 20),
		     (unsigned long long)(limit >> 20), m->config->path) < 0)
		*ret_why = NULL;
	return LIMIT_EXCEEDED;
}

/* Set the owner process's limit from the sum of its leases' shares. */
static void apply(struct lease *l)
{
	struct manager *m = l->manager;
	struct memlock_saved **sp = find_saved(m, l->owner_pid), *saved = *sp;
	uint64_t total = 0;
	struct rlimit want;

	for (const struct lease *x = m->leases; x; x = x->next)
		if (x->owner_pid == l->owner_pid)
			total += x->memlock_limit;
	if (!owner_alive(l)) {
		if (saved) {
			*sp = saved->next;
			free(saved);
		}
		return;
	}
	if (!saved) {
		struct rlimit now;
		if (total == 0)
			return;
		if (prlimit(l->owner_pid, RLIMIT_MEMLOCK, NULL, &now) < 0) {
			log_warning_errno(errno, "Lease %u: cannot read the owner's memlock limit: %m", l->id);
			return;
		}
		/* Raise only: a VMM that may already pin as much keeps its limit. */
		if (now.rlim_cur == RLIM_INFINITY || now.rlim_cur >= total)
			return;
		saved = calloc(1, sizeof(*saved));
		if (!saved) {
			log_error("Out of memory.");
			return;
		}
		*saved = (struct memlock_saved){ .pid = l->owner_pid, .limit = now, .next = m->memlock_saved };
		m->memlock_saved = saved;
		sp = &m->memlock_saved;
	}
	if (total <= saved->limit.rlim_cur) {
		want = saved->limit;
		*sp = saved->next;
		free(saved);
	} else {
		want.rlim_cur = total;
		want.rlim_max = saved->limit.rlim_max == RLIM_INFINITY || saved->limit.rlim_max > total
					? saved->limit.rlim_max : total;
	}
	if (prlimit(l->owner_pid, RLIMIT_MEMLOCK, &want, NULL) < 0) {
		log_warning_errno(errno, "Lease %u: cannot set the owner's memlock limit: %m", l->id);
		return;
	}
	log_info("Lease %u: owner pid %d's memlock limit now %llu MiB.", l->id, (int)l->owner_pid,
		 (unsigned long long)(want.rlim_cur >> 20));
}

void memlock_grant(struct lease *l, uint64_t quota)
{
	if (quota == 0)
		return;
	l->memlock_limit += quota;
	apply(l);
	manager_lease_changed(l->manager, l, "MemlockLimit");
}

void memlock_return(struct lease *l, uint64_t quota)
{
	if (quota == 0)
		return;
	l->memlock_limit = quota > l->memlock_limit ? 0 : l->memlock_limit - quota;
	apply(l);
	if (l->state == LEASE_ACTIVE)
		manager_lease_changed(l->manager, l, "MemlockLimit");
}

void memlock_forget(struct manager *m)
{
	while (m->memlock_saved) {
		struct memlock_saved *s = m->memlock_saved;
		m->memlock_saved = s->next;
		free(s);
	}
}

int memlock_export(struct manager *m, struct saved_memlock **ret, size_t *ret_n)
{
	size_t n = 0;

	for (struct memlock_saved *s = m->memlock_saved; s; s = s->next)
		n++;
	*ret = calloc(n ? n : 1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	n = 0;
	for (struct memlock_saved *s = m->memlock_saved; s; s = s->next)
		(*ret)[n++] = (struct saved_memlock){ .pid = s->pid, .cur = s->limit.rlim_cur, .max = s->limit.rlim_max };
	*ret_n = n;
	return 0;
}

int memlock_import(struct manager *m, const struct saved_memlock *s)
{
	struct memlock_saved *x;

	if (*find_saved(m, s->pid))
		return -EEXIST;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	*x = (struct memlock_saved){ .pid = s->pid, .limit = { .rlim_cur = s->cur, .rlim_max = s->max },
				     .next = m->memlock_saved };
	m->memlock_saved = x;
	return 0;
}
