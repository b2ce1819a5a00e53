/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Who is calling, and may they.  The bus policy lets anyone talk to ccdevd;
 * these checks, against the configuration, are the access control.
 *
 * Reading the inventory (device objects, ListDevices, GetDevice, the object
 * tree) is gated in one place, a bus filter that runs before any handler, so
 * signal emission and property getters never depend on who is calling.
 */

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "config.h"

struct manager;

/* Check the sender of m against acl; on denial sets an AccessDenied error
 * naming the uid and what was refused and returns -EACCES. */
int bus_check_access(sd_bus_message *m, const struct access_list *acl, const char *what,
		     sd_bus_error *error);

/* A caller as the bus daemon (or, on the direct socket, the kernel)
 * recorded it at connect time. */
struct direct_conn;
struct bus_caller {
	struct caller who; /* uid; gid unused (-1): UnixGroupIDs holds all groups */
	pid_t pid;
	gid_t *gids;       /* owned */
	const struct direct_conn *conn; /* the direct connection called on, or NULL */
};
void bus_caller_done(struct bus_caller *c);

/* Sets an AccessDenied error when the credentials cannot be had.  On the
 * bus, asks the bus daemon once per message (the last answer is kept). */
int bus_get_caller(sd_bus_message *m, struct bus_caller *ret, sd_bus_error *error);

/* Drop the kept answer (at exit). */
void bus_access_forget_caller(void);

/* Root only (Reload and other administrative methods). */
int bus_check_root(sd_bus_message *m, const char *what, sd_bus_error *error);

int bus_install_read_gate(struct manager *mgr, sd_bus *bus);
