/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "user-limits.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "lease.h"
#include "log.h"
#include "manager.h"
#include "why.h"

/* Open files the daemon has now; -errno when it cannot tell.  Since Linux
 * 6.2 the size of /proc/self/fd is that count: one stat, however many
 * leases are held.  Before, it is read as a directory. */
static int open_fds(void)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0 && st.st_size < INT_MAX)
		return (int)st.st_size;
	d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own */
}

int limits_check_fds(uid_t uid, int need, char **ret_why)
{
	struct rlimit nofile;
	int open = open_fds();
	rlim_t reserve = uid == 0 ? 8 : LIMITS_FD_RESERVE;

	if (open < 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0 || nofile.rlim_cur == RLIM_INFINITY)
		return 0;
	if ((rlim_t)open + (rlim_t)need + reserve <= nofile.rlim_cur)
		return 0;
	return why(ret_why, LIMIT_EXCEEDED, "ccdevd is near its open-file limit (%d of %llu in use%s); ask the "
		   "administrator to raise LimitNOFILE= of ccdevd.service or lower limits.leases_per_user",
		   open, (unsigned long long)nofile.rlim_cur, uid == 0 ? "" : ", the last ones are kept for root");
}

/* Is x owned through this connection: the same bus name, or the same open
 * direct connection (a closed one's leases have none)? */
static bool same_connection(const struct lease *x, const char *unique_name, const struct direct_conn *conn)
{
	if (conn)
		return x->owner_conn == conn;
	return unique_name && *unique_name && x->owner_name && strcmp(x->owner_name, unique_name) == 0;
}

int limits_check_lease(struct manager *m, const struct lease_owner *o, char **ret_why)
{
	unsigned n = 0, on_conn = 0;

	*ret_why = NULL;
	if (o->uid != 0) {
		for (const struct lease *l = m->leases; l; l = l->next)
			if (l->owner_uid == o->uid) {
				n++;
				on_conn += same_connection(l, o->unique_name, o->conn);
			}
		if (n >= m->config->leases_per_user)
			return why(ret_why, LIMIT_EXCEEDED, "uid %u holds %u lease(s), the most limits.leases_per_user "
				   "in %s allows; release one, or ask the administrator to raise it",
				   (unsigned)o->uid, n, m->config->path);
		if (on_conn >= m->config->leases_per_connection)
			return why(ret_why, LIMIT_EXCEEDED, "this connection holds %u lease(s), the most "
				   "limits.leases_per_connection in %s allows; release one, or ask the administrator "
				   "to raise it", on_conn, m->config->path);
	}
	return limits_check_fds(o->uid, 2, ret_why);
}

int limits_check_device(struct manager *m, const struct lease *l, char **ret_why)
{
	unsigned n = 0, on_conn = 0;

	*ret_why = NULL;
	if (l->owner_uid != 0) {
		for (const struct lease *x = m->leases; x; x = x->next)
			if (x->owner_uid == l->owner_uid) {
				n += lease_device_count(x);
				if (x == l || same_connection(x, l->owner_name, l->owner_conn))
					on_conn += lease_device_count(x);
			}
		if (n >= m->config->devices_per_user)
			return why(ret_why, LIMIT_EXCEEDED, "uid %u holds %u device(s), the most limits.devices_per_user "
				   "in %s allows; detach one, or ask the administrator to raise it",
				   (unsigned)l->owner_uid, n, m->config->path);
		if (on_conn >= m->config->devices_per_connection)
			return why(ret_why, LIMIT_EXCEEDED, "the leases of this connection hold %u device(s), the most "
				   "limits.devices_per_connection in %s allows; detach one, or ask the administrator "
				   "to raise it", on_conn, m->config->path);
	}
	return limits_check_fds(l->owner_uid, 1, ret_why);
}

void limits_raise_nofile(void)
{
	struct rlimit nofile;

	if (getrlimit(RLIMIT_NOFILE, &nofile) < 0 || nofile.rlim_cur == nofile.rlim_max)
		return;
	nofile.rlim_cur = nofile.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		log_warning_errno(errno, "Cannot raise the open-file limit to %llu: %m",
				  (unsigned long long)nofile.rlim_max);
}

int limits_check_reset(struct lease_device *ld, char **ret_why)
{
	struct timespec now;
	uint64_t sec;

	*ret_why = NULL;
	clock_gettime(CLOCK_MONOTONIC, &now);
	sec = (uint64_t)now.tv_sec;
	if (!ld->resets_in_window || sec >= ld->reset_window_start + LIMITS_RESET_WINDOW_SEC) {
		ld->reset_window_start = sec;
		ld->resets_in_window = 0;
	}
	if (ld->resets_in_window >= ld->lease->manager->config->resets_per_minute)
		return why(ret_why, LIMIT_EXCEEDED, "%s was reset %u times within a minute, the most "
			   "limits.resets_per_minute in %s allows; try again in %llu s", ld->name, ld->resets_in_window,
			   ld->lease->manager->config->path,
			   (unsigned long long)(ld->reset_window_start + LIMITS_RESET_WINDOW_SEC - sec));
	ld->resets_in_window++;
	return 0;
}
