/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manager.h"

#include <errno.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "cleanup.h"
#include "log.h"

static void manager_free(struct manager *m)
{
	if (!m)
		return;
	sd_bus_flush_close_unref(m->bus);
	sd_event_unref(m->event);
	free(m);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct manager *, manager_free);

static int on_name_acquired(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct manager *m = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	if (e) {
		log_error("Failed to acquire bus name %s: %s", CCDEVD_BUS_NAME, e->message);
		return sd_event_exit(m->event, -sd_bus_error_get_errno(e));
	}
	log_info("Acquired bus name %s, ready.", CCDEVD_BUS_NAME);
	sd_notify(0, "READY=1\nSTATUS=Ready");
	return 0;
}

static int manager_connect_bus(struct manager *m)
{
	int r;

	/* sd-bus honours DBUS_SYSTEM_BUS_ADDRESS, which the tests point at a
	 * private bus. */
	r = sd_bus_open_system(&m->bus);
	if (r < 0)
		return log_error_errno(r, "Failed to connect to the system bus: %m");
	r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
	r = sd_bus_request_name_async(m->bus, NULL, CCDEVD_BUS_NAME, 0, on_name_acquired, m);
	if (r < 0)
		return log_error_errno(r, "Failed to request bus name %s: %m", CCDEVD_BUS_NAME);
	return 0;
}

static int manager_new(const struct manager_options *options, struct manager **ret)
{
	_cleanup_(manager_freep) struct manager *m = NULL;
	sigset_t mask;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return log_error_errno(ENOMEM, "Out of memory.");
	m->options = options;

	r = sd_event_default(&m->event);
	if (r < 0)
		return log_error_errno(r, "Failed to allocate the event loop: %m");

	/* Signals are handled in the loop, so SIGTERM runs the normal exit path. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	r = sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
	if (r < 0)
		return log_error_errno(r, "Failed to watch SIGTERM/SIGINT: %m");
	r = sd_event_set_watchdog(m->event, true);
	if (r < 0)
		return log_error_errno(r, "Failed to enable the watchdog: %m");

	r = manager_connect_bus(m);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(m);
	return 0;
}

int manager_run(const struct manager_options *options)
{
	_cleanup_(manager_freep) struct manager *m = NULL;
	int r;

	r = manager_new(options, &m);
	if (r < 0)
		return r;

	r = sd_event_loop(m->event);
	sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");
	if (r < 0)
		return log_error_errno(r, "Event loop failed: %m");
	log_info("Exiting.");
	return r;
}
