/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-access.h"

#include <errno.h>
#include <string.h>

#include "bus-api.h"
#include "cleanup.h"
#include "log.h"
#include "manager.h"


static int get_caller(sd_bus_message *m, uint64_t extra, sd_bus_creds **ret_creds, struct caller *ret)
{
	sd_bus_creds *c = NULL;
	const gid_t *gids = NULL;
	int r, n;

	r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID | SD_BUS_CREDS_EGID |
					      SD_BUS_CREDS_GID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
					      SD_BUS_CREDS_AUGMENT | extra, &c);
	if (r < 0)
		return r;
	*ret = (struct caller){ .uid = (uid_t)-1, .gid = (gid_t)-1 };
	if (sd_bus_creds_get_euid(c, &ret->uid) < 0 && sd_bus_creds_get_uid(c, &ret->uid) < 0) {
		sd_bus_creds_unref(c);
		return -ENODATA;
	}
	if (sd_bus_creds_get_egid(c, &ret->gid) < 0)
		(void)sd_bus_creds_get_gid(c, &ret->gid);
	n = sd_bus_creds_get_supplementary_gids(c, &gids);
	if (n > 0) {
		ret->gids = gids;
		ret->n_gids = (size_t)n;
	}
	*ret_creds = c; /* owns gids */
	return 0;
}

/* The caller's credentials, or an AccessDenied error saying why not. */
static int get_caller_or_deny(sd_bus_message *m, const char *what, sd_bus_creds **ret_creds,
			      struct caller *ret, sd_bus_error *error)
{
	int r = get_caller(m, 0, ret_creds, ret);

	if (r < 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_ACCESS_DENIED,
					 "Cannot determine the caller's credentials to authorize a request "
					 "to %s: %s.", what, strerror(-r));
	return 0;
}

int bus_get_caller(sd_bus_message *m, sd_bus_creds **ret_creds, struct caller *ret, uint64_t extra,
		   sd_bus_error *error)
{
	int r = get_caller(m, extra, ret_creds, ret);

	if (r < 0)
		return sd_bus_error_setf(error, CCDEVD_ERROR_ACCESS_DENIED,
					 "Cannot determine the caller's credentials: %s.", strerror(-r));
	return 0;
}

int bus_check_access(sd_bus_message *m, const struct access_list *acl, const char *what,
		     sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	struct caller who;
	int r;

	r = get_caller_or_deny(m, what, &creds, &who, error);
	if (r < 0)
		return r;
	if (access_allows(acl, &who))
		return 0;
	return sd_bus_error_setf(error, CCDEVD_ERROR_ACCESS_DENIED,
				 "Access denied: uid %u may not %s; ask the administrator to add the "
				 "user or one of its groups to the configuration.",
				 (unsigned)who.uid, what);
}

int bus_check_root(sd_bus_message *m, const char *what, sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	struct caller who;
	int r;

	r = get_caller_or_deny(m, what, &creds, &who, error);
	if (r < 0)
		return r;
	if (who.uid == 0)
		return 0;
	return sd_bus_error_setf(error, CCDEVD_ERROR_ACCESS_DENIED,
				 "Access denied: only root may %s (caller is uid %u).", what,
				 (unsigned)who.uid);
}

static bool path_is_device(const char *path)
{
	size_t n = strlen(CCDEVD_DEVICE_PREFIX);

	return path && strncmp(path, CCDEVD_DEVICE_PREFIX, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Method calls that reveal the inventory. */
static bool message_reads_inventory(sd_bus_message *m)
{
	const char *path = sd_bus_message_get_path(m);
	const char *iface = sd_bus_message_get_interface(m);
	const char *member = sd_bus_message_get_member(m);

	if (!path || !member)
		return false;
	if (iface && strcmp(iface, "org.freedesktop.DBus.Peer") == 0)
		return false;
	if (path_is_device(path))
		return true;
	/* Lease objects: their properties and introspection, not their methods
	 * (those check the owner). */
	if (strncmp(path, CCDEVD_LEASE_PREFIX "/", strlen(CCDEVD_LEASE_PREFIX) + 1) == 0)
		return iface && (strcmp(iface, "org.freedesktop.DBus.Properties") == 0 ||
				 strcmp(iface, "org.freedesktop.DBus.Introspectable") == 0);
	if (strcmp(path, CCDEVD_OBJECT_ROOT) != 0)
		return false;
	return strcmp(member, "GetManagedObjects") == 0 || strcmp(member, "ListDevices") == 0 ||
	       strcmp(member, "GetDevice") == 0 || strcmp(member, "Introspect") == 0;
}

static int read_gate(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct manager *mgr = userdata;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

	if (sd_bus_message_is_method_call(m, NULL, NULL) <= 0 || !message_reads_inventory(m))
		return 0;
	if (bus_check_access(m, &mgr->config->readers, "read the device inventory", &error) >= 0)
		return 0;
	/* Denied: answer here and stop dispatch. */
	(void)sd_bus_reply_method_error(m, &error);
	return 1;
}

int bus_install_read_gate(struct manager *mgr)
{
	return sd_bus_add_filter(mgr->bus, NULL, read_gate, mgr);
}
