/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The manager owns the daemon's event loop, bus connection, configuration,
 * inventory and kernel feature set, and everything hanging off them.
 * manager_run() sets it up, runs until SIGTERM/SIGINT and tears it down.
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-api.h"
#include "config.h"
#include "kernel-features.h"
#include "inventory.h"

struct manager_options {
	const char *config_path;
	bool config_path_explicit; /* --config given: a missing file is an error */
};

struct manager {
	const struct manager_options *options;
	sd_event *event;
	sd_bus *bus;
	struct config *config;
	struct inventory *inventory;
	struct kernel_features features;
	unsigned n_managed;
};

int manager_run(const struct manager_options *options);

/* Re-read the configuration; on error keeps the old one and returns a
 * negative errno with a malloc'ed message in *ret_error. */
int manager_reload(struct manager *m, char **ret_error);

/* Managed devices by address (NULL if absent or not managed). */
struct device *manager_find_managed(struct manager *m, const struct bdf *address);
