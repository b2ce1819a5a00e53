/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "state.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "attach-job.h"
#include "cleanup.h"
#include "device.h"
#include "dmabuf.h"
#include "fdstore.h"
#include "inventory.h"
#include "lease.h"
#include "log.h"
#include "manager.h"
#include "memlock.h"
#include "state-file.h"
#include "teardown.h"
#include "why.h"

#define STATE_FILE "state.json"

/* A daemon that died left its temporary file (state.json.XXXXXX, from
 * mkostemp): nothing names it, and state.json.bad is no such file. */
static void remove_stale_temps(const char *dir)
{
	DIR *d = opendir(dir);
	const size_t prefix = strlen(STATE_FILE ".");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		bool temp = strncmp(e->d_name, STATE_FILE ".", prefix) == 0 && strlen(e->d_name) == prefix + 6;
		for (size_t i = prefix; temp && e->d_name[i]; i++)
			temp = isalnum((unsigned char)e->d_name[i]);
		if (temp && unlinkat(dirfd(d), e->d_name, 0) == 0)
			log_debug("Removed %s/%s, a temporary file of an earlier daemon.", dir, e->d_name);
	}
	closedir(d);
}

int state_init(struct manager *m)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");
	struct statfs fs;

	/* systemd lists several directories separated by ':'; ours is one. */
	if (!dir || !dir[0] || strchr(dir, ':'))
		dir = "/run/ccdevd";
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return log_error_errno(errno, "Cannot create the runtime directory %s: %m", dir);
	if (asprintf(&m->state_path, "%s/" STATE_FILE, dir) < 0) {
		m->state_path = NULL;
		return log_error_errno(ENOMEM, "Out of memory.");
	}
	/* fsync() guards against a power loss, which takes a file in memory
	 * with it anyway; against a crash of the daemon rename() alone is
	 * atomic.  /run is tmpfs. */
	m->state_in_memory = statfs(dir, &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC);
	remove_stale_temps(dir);
	return 0;
}

static int snapshot_exports(const struct lease_device *ld, struct saved_device *sd)
{
	size_t n = 0;

	for (const struct dmabuf_export *e = ld->exports; e; e = e->next)
		n++;
	if (!n)
		return 0;
	sd->exports = calloc(n, sizeof(*sd->exports));
	if (!sd->exports)
		return -ENOMEM;
	for (const struct dmabuf_export *e = ld->exports; e; e = e->next) {
		struct saved_export *se = &sd->exports[sd->n_exports++];
		se->bar = e->bar;
		se->ranges = calloc(e->n_ranges, sizeof(*se->ranges));
		if (!se->ranges)
			return -ENOMEM;
		for (size_t i = 0; i < e->n_ranges; i++)
			se->ranges[i] = (struct saved_range){ e->ranges[i].offset, e->ranges[i].length };
		se->n_ranges = e->n_ranges;
	}
	return 0;
}

static int snapshot_mappings(const struct lease *l, struct saved_lease *sl)
{
	size_t n = dmabuf_count_mappings(l);

	if (!n)
		return 0;
	sl->mappings = calloc(n, sizeof(*sl->mappings));
	if (!sl->mappings)
		return -ENOMEM;
	for (const struct dmabuf_mapping *mp = l->mappings; mp; mp = mp->next) {
		struct bdf address;
		/* A mapping whose exporter left is unmapped and dropped at once;
		 * none is kept without one. */
		if (!mp->exporter || bdf_parse(mp->device, &address) < 0)
			continue;
		sl->mappings[sl->n_mappings++] = (struct saved_mapping){ .address = address, .bar = mp->bar,
			.offset = mp->offset, .length = mp->length, .iova = mp->iova, .mapped = mp->mapped };
	}
	return 0;
}

/* What the manager holds now, as the file will say it. */
static int snapshot(struct manager *m, struct saved_state **ret)
{
	_cleanup_(saved_state_freep) struct saved_state *s = saved_state_new();
	struct device *const *devices;
	size_t n_devices, k = 0;
	int r;

	if (!s)
		return -ENOMEM;
	s->next_lease_id = m->next_lease_id + 1;
	s->leases = calloc(m->n_leases ? m->n_leases : 1, sizeof(*s->leases));
	if (!s->leases)
		return -ENOMEM;
	for (struct lease *l = m->leases; l; l = l->next) {
		struct saved_lease *sl = &s->leases[s->n_leases++];
		size_t n = lease_device_count(l);

		*sl = (struct saved_lease){ .id = l->id, .owner_uid = l->owner_uid, .owner_pid = l->owner_pid,
					    .owner_name = strdup(l->owner_name), .ioas_id = l->ioas_id,
					    .releasing = l->state == LEASE_RELEASING };
		sl->devices = calloc(n ? n : 1, sizeof(*sl->devices));
		if (!sl->owner_name || !sl->devices)
			return -ENOMEM;
		for (struct lease_device *ld = l->devices; ld; ld = ld->next) {
			struct saved_device *sd;
			/* A device gone from the bus has nothing left to restore. */
			if (!ld->device || ld->fd < 0)
				continue;
			sd = &sl->devices[sl->n_devices++];
			*sd = (struct saved_device){ .address = ld->device->address, .steps_done = ld->steps_done,
						     .claimed = ld->claimed, .dev_id = ld->dev_id, .pt_id = ld->pt_id,
						     .memlock_quota = ld->memlock_quota,
						     .original_driver = strdup(ld->device->original_driver) };
			if (!sd->original_driver)
				return -ENOMEM;
			r = snapshot_exports(ld, sd);
			if (r < 0)
				return r;
		}
		r = snapshot_mappings(l, sl);
		if (r < 0)
			return r;
	}

	devices = inventory_devices(m->inventory, &n_devices);
	for (size_t i = 0; i < n_devices; i++)
		if (devices[i]->teardown_step != TEARDOWN_NONE || devices[i]->claim_job)
			k++;
	s->teardowns = calloc(k ? k : 1, sizeof(*s->teardowns));
	if (!s->teardowns)
		return -ENOMEM;
	for (size_t i = 0; i < n_devices; i++) {
		struct device *d = devices[i];
		struct saved_teardown *t;
		if (d->teardown_step == TEARDOWN_NONE && d->claim_job) {
			/* Being moved between drivers by an attach's worker: should
			 * this daemon die meanwhile, the next one gives it back to
			 * its host driver (no tenant had it: no reset). */
			t = &s->teardowns[s->n_teardowns++];
			*t = (struct saved_teardown){ .address = d->address, .step = TEARDOWN_DRIVER,
						      .worker_pid = attach_job_worker_pid(d),
						      .original_driver = strdup(d->original_driver),
						      .reason = strdup("a claim for vfio-pci was under way when the "
								       "previous ccdevd stopped") };
			if (!t->original_driver || !t->reason)
				return -ENOMEM;
			continue;
		}
		if (d->teardown_step == TEARDOWN_NONE)
			continue;
		t = &s->teardowns[s->n_teardowns++];
		*t = (struct saved_teardown){ .address = d->address, .step = d->teardown_step,
					      .file_bound = teardown_file_bound(d),
					      .release_pid = teardown_release_pid(d),
					      .worker_pid = teardown_worker_pid(d),
					      .original_driver = strdup(d->original_driver),
					      .reason = strdup(d->state_reason) };
		if (!t->original_driver || !t->reason)
			return -ENOMEM;
	}
	r = memlock_export(m, &s->memlock, &s->n_memlock);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

/* A new temporary file beside the state file, for a write to go to. */
static int new_temp(const char *state_path, char **ret_path)
{
	_cleanup_free_ char *tmp = NULL;
	int fd;

	if (asprintf(&tmp, "%s.XXXXXX", state_path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_path = TAKE_PTR(tmp);
	return fd;
}

static void drop_spare(struct manager *m)
{
	if (!m->state_spare_path)
		return;
	safe_close(m->state_spare_fd);
	unlink(m->state_spare_path);
	free(m->state_spare_path);
	m->state_spare_path = NULL;
}

void state_done(struct manager *m)
{
	m->state_refill = sd_event_source_disable_unref(m->state_refill);
	drop_spare(m);
	free(m->state_path);
	m->state_path = NULL;
}

/* After a write, once the caller has its answer: the temporary file for the
 * next one.  Creating a file is the costliest part of a write on tmpfs, and
 * the write comes before a method's reply. */
static int on_refill(sd_event_source *s, void *userdata)
{
	struct manager *m = userdata;
	char *path = NULL;
	int fd;

	m->state_refill = sd_event_source_unref(m->state_refill);
	if (m->state_spare_path || !m->state_path)
		return 0;
	fd = new_temp(m->state_path, &path);
	if (fd < 0)
		return 0; /* the next write makes its own */
	m->state_spare_fd = fd;
	m->state_spare_path = path;
	return 0;
}

/* text to the temporary file fd at tmp, then renamed over path. */
static int write_renamed(int fd, const char *tmp, const char *path, const char *text, bool sync)
{
	size_t len = strlen(text), done = 0;

	while (done < len) {
		ssize_t k = write(fd, text + done, len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		done += (size_t)k;
	}
	if ((sync && fsync(fd) < 0) || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

/* Write the state file atomically: a reader sees the old file or the new
 * one; with sync, also after a power loss. */
static int write_atomic(struct manager *m, const char *text, bool sync)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (m->event && !m->state_refill && sd_event_add_defer(m->event, &m->state_refill, on_refill, m) < 0)
		m->state_refill = NULL;
	if (m->state_spare_path) {
		fd = m->state_spare_fd;
		tmp = TAKE_PTR(m->state_spare_path);
		r = write_renamed(fd, tmp, m->state_path, text, sync);
		/* ENOENT: someone removed it (another ccdevd starting on this
		 * directory); a fresh one below. */
		if (r != -ENOENT)
			goto done;
		fd = safe_close(fd);
		free(tmp);
		tmp = NULL;
	}
	fd = new_temp(m->state_path, &tmp);
	if (fd < 0)
		return fd;
	r = write_renamed(fd, tmp, m->state_path, text, sync);
done:
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Each lease's line of the file, rendered again only if its record changed
 * since the last write (kept in lease::saved), so that a change costs
 * little more with 128 leases held than with one.  Takes the changed
 * records out of s (the old ones are freed with it). */
static char **lease_lines(struct manager *m, struct saved_state *s)
{
	_cleanup_free_ char **lines = calloc(s->n_leases ? s->n_leases : 1, sizeof(char *));
	size_t i = 0;

	if (!lines)
		return NULL;
	for (struct lease *l = m->leases; l; l = l->next, i++) {
		struct saved_lease *now = &s->leases[i], old;
		char *line;

		if (l->saved && saved_lease_equal(l->saved, now)) {
			lines[i] = l->saved_line;
			continue;
		}
		line = state_format_lease(now);
		if (!line)
			return NULL;
		if (!l->saved && !(l->saved = calloc(1, sizeof(*l->saved)))) {
			free(line);
			return NULL;
		}
		old = *l->saved;
		*l->saved = *now;
		*now = old;
		free(l->saved_line);
		lines[i] = l->saved_line = line;
	}
	return TAKE_PTR(lines);
}

void state_save(struct manager *m)
{
	_cleanup_(saved_state_freep) struct saved_state *s = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char **lines = NULL;
	int r;

	if (!m->state_path || m->adopting)
		return;
	if (m->state_deferred) {
		m->state_dirty = true;
		return;
	}
	/* The store first: a file may only be named once it is stored, and
	 * one that left the store must not be named any more. */
	fdstore_sync(m);
	r = snapshot(m, &s);
	if (r >= 0) {
		lines = lease_lines(m, s);
		text = lines ? state_format_with(s, lines) : NULL;
		r = text ? write_atomic(m, text, !m->state_in_memory) : -ENOMEM;
	}
	if (r < 0)
		log_error_errno(r, "Cannot write %s (%m): a restart now would not know the newest lease changes.",
				m->state_path);
}

void state_save_now(struct manager *m)
{
	unsigned deferred = m->state_deferred;

	m->state_deferred = 0;
	m->state_dirty = false;
	state_save(m);
	m->state_deferred = deferred;
}

void state_defer(struct manager *m)
{
	m->state_deferred++;
}

void state_flush(struct manager *m)
{
	if (!m->state_deferred || --m->state_deferred || !m->state_dirty)
		return;
	m->state_dirty = false;
	state_save(m);
}

int state_load(struct manager *m, struct saved_state **ret, char **ret_why)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct stat st;

	*ret_why = NULL;
	f = fopen(m->state_path, "re");
	if (!f)
		return errno == ENOENT ? -ENOENT : why(ret_why, -EINVAL, "%s: %s", m->state_path, strerror(errno));
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATE_SIZE_MAX)
		return why(ret_why, -EINVAL, "%s: not a regular file under %u MiB", m->state_path,
			   STATE_SIZE_MAX >> 20);
	text = calloc(1, (size_t)st.st_size + 1);
	if (!text)
		return -ENOMEM;
	len = fread(text, 1, (size_t)st.st_size, f);
	if (len != (size_t)st.st_size || memchr(text, '\0', len))
		return why(ret_why, -EINVAL, "%s: short read or NUL byte", m->state_path);
	return state_parse(text, m->state_path, ret, ret_why);
}

void state_set_aside(struct manager *m)
{
	_cleanup_free_ char *bad = NULL;

	if (asprintf(&bad, "%s.bad", m->state_path) < 0 || rename(m->state_path, bad) < 0)
		log_warning_errno(errno, "Cannot move %s aside: %m", m->state_path);
	else
		log_notice("The unusable state file is kept as %s.", bad);
}
