/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The manager owns the daemon's event loop and bus connection and everything
 * hanging off them.  manager_run() sets it up, runs until SIGTERM/SIGINT and
 * tears it down; it returns 0 on a clean exit, a negative errno otherwise.
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#define CCDEVD_BUS_NAME "org.ccdevd1"
#define CCDEVD_OBJECT_ROOT "/org/ccdevd1"

struct manager_options {
	const char *config_path;
};

struct manager {
	const struct manager_options *options;
	sd_event *event;
	sd_bus *bus;
};

int manager_run(const struct manager_options *options);
