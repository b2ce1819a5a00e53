/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fdstore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "cleanup.h"
#include "dmabuf.h"
#include "lease.h"
#include "log.h"
#include "manager.h"

void fdstore_name_lease(char *buf, size_t size, unsigned lease_id, const char *what)
{
	snprintf(buf, size, "lease-%u-%s", lease_id, what);
}

/* FDNAME= takes no ':'; the bus object paths spell a BDF this way too. */
static void no_colons(char *buf)
{
	for (char *p = buf; *p; p++)
		if (*p == ':' || *p == '.')
			*p = '_';
}

void fdstore_name_device(char *buf, size_t size, unsigned lease_id, const char *bdf)
{
	snprintf(buf, size, "lease-%u-dev-%s", lease_id, bdf);
	no_colons(buf);
}

void fdstore_name_export(char *buf, size_t size, unsigned lease_id, const char *bdf, size_t k)
{
	snprintf(buf, size, "lease-%u-export-%s-%zu", lease_id, bdf, k);
	no_colons(buf);
}

void fdstore_name_mapping(char *buf, size_t size, unsigned lease_id, uint64_t iova)
{
	snprintf(buf, size, "lease-%u-map-%" PRIx64, lease_id, iova);
}

void fdstore_init(struct fdstore *s)
{
	*s = (struct fdstore){ .enabled = getenv("NOTIFY_SOCKET") != NULL, .direct_socket = -1 };
}

void fdstore_done(struct fdstore *s)
{
	for (size_t i = 0; i < s->n_stored; i++)
		free(s->stored[i].name);
	free(s->stored);
	s->stored = NULL;
	s->n_stored = 0;
}

/* What the leases hold now (the fds stay theirs). */
static int collect(struct manager *m, struct fdstore_entry **ret, size_t *ret_n)
{
	struct fdstore_entry *e = NULL;
	size_t n = 0, max = 0;
	char name[FDSTORE_NAME_MAX];

	for (struct lease *l = m->leases; l; l = l->next)
		max += 2 + lease_device_count(l) + dmabuf_count_exports(l) + dmabuf_count_mappings(l);
	e = calloc(max ? max : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
#define ADD(fd_)                                              \
	do {                                                  \
		if ((fd_) >= 0) {                             \
			e[n].name = strdup(name);             \
			if (!e[n].name)                       \
				goto oom;                     \
			e[n++].fd = (fd_);                    \
		}                                             \
	} while (0)
	for (struct lease *l = m->leases; l; l = l->next) {
		fdstore_name_lease(name, sizeof name, l->id, "iommufd");
		ADD(l->iommufd);
		fdstore_name_lease(name, sizeof name, l->id, "pidfd");
		ADD(l->owner_pidfd);
		for (struct lease_device *ld = l->devices; ld; ld = ld->next) {
			size_t k = 0;
			fdstore_name_device(name, sizeof name, l->id, ld->name);
			ADD(ld->fd);
			for (struct dmabuf_export *x = ld->exports; x; x = x->next) {
				fdstore_name_export(name, sizeof name, l->id, ld->name, k++);
				ADD(x->fd);
			}
		}
		for (struct dmabuf_mapping *mp = l->mappings; mp; mp = mp->next) {
			fdstore_name_mapping(name, sizeof name, l->id, mp->iova);
			ADD(mp->fd);
		}
	}
#undef ADD
	*ret = e;
	*ret_n = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
	return -ENOMEM;
}

/* Entries in (name, fd) order, so that the stored and the wanted set are
 * compared in one walk of both. */
static int entry_cmp(const void *a, const void *b)
{
	const struct fdstore_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->fd > y->fd) - (x->fd < y->fd);
}

static void sort_entries(struct fdstore_entry *e, size_t n)
{
	if (n > 1)
		qsort(e, n, sizeof(*e), entry_cmp);
}

/* Walk have and want (both sorted): call out for each entry of one that the
 * other lacks (removals: of have; additions: of want). */
static void each_missing(const struct fdstore_entry *have, size_t n_have, const struct fdstore_entry *want,
			 size_t n_want, bool removals, void (*out)(const struct fdstore_entry *e))
{
	size_t i = 0, k = 0;

	while (i < n_have || k < n_want) {
		int c = i == n_have ? 1 : k == n_want ? -1 : entry_cmp(&have[i], &want[k]);
		if (c < 0 && removals)
			out(&have[i]);
		else if (c > 0 && !removals)
			out(&want[k]);
		i += c <= 0;
		k += c >= 0;
	}
}

static void store_remove(const struct fdstore_entry *e)
{
	char msg[FDSTORE_NAME_MAX + 64];
	int r;

	snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", e->name);
	r = sd_pid_notify(0, false, msg);
	if (r < 0)
		log_warning_errno(r, "fd store: removing %s failed: %m", e->name);
}

static void store_add(const struct fdstore_entry *e)
{
	char msg[FDSTORE_NAME_MAX + 64];
	int r;

	/* FDPOLL=0: a pidfd turns readable when its process exits, and must
	 * stay stored all the same: it is the owner's identity. */
	snprintf(msg, sizeof msg, "FDSTORE=1\nFDPOLL=0\nFDNAME=%s", e->name);
	r = sd_pid_notify_with_fds(0, false, msg, &e->fd, 1);
	if (r < 0)
		log_warning_errno(r, "fd store: storing %s failed (%m); a restart would not find it.", e->name);
}

void fdstore_sync(struct manager *m)
{
	struct fdstore *s = &m->fdstore;
	struct fdstore_entry *want;
	size_t n_want;
	int r;

	if (!s->enabled)
		return;
	r = collect(m, &want, &n_want);
	if (r < 0) {
		log_error("Out of memory: the fd store is not updated; a restart now would lose the newest lease changes.");
		return;
	}
	sort_entries(want, n_want);
	/* Removals first: a name that comes back names another file. */
	each_missing(s->stored, s->n_stored, want, n_want, true, store_remove);
	each_missing(s->stored, s->n_stored, want, n_want, false, store_add);
	fdstore_done(s);
	s->stored = want;
	s->n_stored = n_want;
}

int fdstore_receive(struct fdstore *s, struct fdstore_entry **ret, size_t *ret_n)
{
	char **names = NULL;
	struct fdstore_entry *e;
	int n;

	*ret = NULL;
	*ret_n = 0;
	n = sd_listen_fds_with_names(true, &names);
	if (n <= 0) {
		free(names);
		return n;
	}
	e = calloc((size_t)n, sizeof(*e));
	if (!e) {
		for (int i = 0; i < n; i++) {
			free(names[i]);
			safe_close(SD_LISTEN_FDS_START + i);
		}
		free(names);
		return -ENOMEM;
	}
	for (int i = 0, k = 0; i < n; i++) {
		/* Socket activation's listening socket is no lease's fd. */
		if (strcmp(names[i], FDSTORE_DIRECT_SOCKET) == 0 && s->direct_socket < 0) {
			s->direct_socket = SD_LISTEN_FDS_START + i;
			free(names[i]);
			continue;
		}
		e[k++] = (struct fdstore_entry){ .name = names[i], .fd = SD_LISTEN_FDS_START + i };
	}
	n -= s->direct_socket >= 0;
	free(names);
	/* The service manager still holds every one of them: the first sync
	 * removes what no lease takes over. */
	fdstore_done(s);
	s->stored = calloc((size_t)n, sizeof(*s->stored));
	for (int i = 0; s->stored && i < n; i++) {
		char *name = strdup(e[i].name);
		if (name)
			s->stored[s->n_stored++] = (struct fdstore_entry){ .name = name, .fd = e[i].fd };
	}
	sort_entries(s->stored, s->n_stored);
	*ret = e;
	*ret_n = (size_t)n;
	return n;
}

int fdstore_take(struct fdstore_entry *entries, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (entries[i].fd >= 0 && strcmp(entries[i].name, name) == 0)
			return TAKE_FD(entries[i].fd);
	return -1;
}

void fdstore_entries_free(struct fdstore_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (entries[i].fd >= 0) {
			log_warning("fd store: %s is named by no lease of the state file; closed.", entries[i].name);
			safe_close(entries[i].fd);
		}
		free(entries[i].name);
	}
	free(entries);
}
