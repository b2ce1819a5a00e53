/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manager.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "bus.h"
#include "bus-access.h"
#include "bus-reply.h"
#include "bus-signals.h"
#include "cleanup.h"
#include "direct-socket.h"
#include "dmabuf.h"
#include "reset.h"
#include "lease.h"
#include "user-limits.h"
#include "log.h"
#include "memlock.h"
#include "privilege.h"
#include "adopt.h"
#include "attach-job.h"
#include "state.h"
#include "teardown.h"
#include "worker.h"

static void manager_free(struct manager *m)
{
	if (!m)
		return;
	/* What is left in place stays in the state file and the fd store for
	 * the next start: nothing below may rewrite them. */
	state_done(m);
	adopt_forget(m);
	/*
	 * Stopping does not tear leases down: the VMs keep the fds they were
	 * given and keep running.  The daemon only drops its own references.
	 */
	while (m->leases) {
		struct lease *l = m->leases;
		log_warning("Lease %u of pid %d left in place at exit; its devices are not reset.",
			    l->id, (int)l->owner_pid);
		lease_abandon(l);
	}
	/* Callers of a Release still waiting get no answer: the bus tells
	 * them that the daemon left, and the teardown resumes at the next start. */
	bus_replies_free(m);
	/* Teardowns under way resume at the next start (adopt.h); their release
	 * children and workers run on and are reparented. */
	if (m->inventory) {
		size_t n;
		struct device *const *devices = inventory_devices(m->inventory, &n);
		for (size_t i = 0; i < n; i++)
			teardown_abandon(m, devices[i]);
	}
	attach_jobs_free(m);
	/* The inventory's devices are referenced by bus objects: drop the bus
	 * first. */
	bus_subscribers_free(m);
	direct_socket_free(m->direct);
	sd_bus_flush_close_unref(m->bus);
	bus_access_forget_caller();
	inventory_free(m->inventory);
	config_free(m->config);
	memlock_forget(m);
	worker_free_abandoned();
	sd_event_unref(m->event);
	fdstore_done(&m->fdstore);
	free(m);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct manager *, manager_free);

struct device *manager_find_managed(struct manager *m, const struct bdf *address)
{
	struct device *d = inventory_find(m->inventory, address);

	return d && d->managed ? d : NULL;
}

static struct pci_ident device_ident(const struct device *d)
{
	return (struct pci_ident){
		.address = d->address,
		.vendor = d->vendor_id,
		.device = d->device_id,
		.class_code = d->class_code,
	};
}

/*
 * Apply the configuration to one device: publish it when it becomes managed,
 * unpublish it when it stops being managed.  A leased device stays published
 * (Managed=false) until its lease ends.
 */
static void manager_apply_rule(struct manager *m, struct device *d, bool announce)
{
	struct pci_ident id = device_ident(d);
	const struct device_rule *rule = config_match(m->config, &id);
	bool want = rule != NULL;

	bool rule_changed = rule != d->rule;

	/* A leased device that a reload stops managing keeps its lease, but
	 * cannot be attached again (no rule) and stays published until the
	 * teardown ends. */
	d->rule = rule;
	if (d->managed && rule_changed && announce)
		bus_device_emit_changed(m, d, DEVICE_CHANGED_MANAGED);
	if (want == d->managed)
		return;
	if (!want && (d->lease || d->releasing || d->claim_job)) {
		/* Not yet: it stays published until its lease is over. */
		return;
	}
	if (want) {
		d->managed = true;
		m->n_managed++;
		log_dev(LOG_INFO, 0, d->name, "inventory", "Managing %04x:%04x (%s), state %s, driver %s.",
			d->vendor_id, d->device_id, rule->where, device_state_to_string(d->state),
			d->driver[0] ? d->driver : "none");
		if (announce)
			bus_device_published(m, d);
	} else {
		if (announce)
			bus_device_unpublished(m, d);
		d->managed = false;
		m->n_managed--;
		log_dev(LOG_INFO, 0, d->name, "inventory", "No longer managed.");
	}
	if (announce)
		bus_manager_emit_changed(m, "DeviceCount");
}

void manager_device_changed(struct manager *m, struct device *d, unsigned changed_mask)
{
	if (d->managed && changed_mask)
		bus_device_emit_changed(m, d, changed_mask);
}

void manager_device_released(struct manager *m, struct device *d)
{
	struct bdf address = d->address;

	/* Read the driver link first, so the state the release ends in is
	 * derived from where the device is now, not from the last uevent. */
	(void)inventory_refresh(m->inventory, d);
	d = inventory_find(m->inventory, &address);
	if (!d)
		return;
	manager_device_changed(m, d, device_end_release(d));
	log_dev(LOG_INFO, 0, d->name, "teardown", "Teardown finished: %s.", device_state_to_string(d->state));
	/* A reload may have stopped managing it while it was leased. */
	manager_apply_rule(m, d, true);
}

void manager_claim_ended(struct manager *m, const struct bdf *address)
{
	struct device *d = inventory_find(m->inventory, address);

	/* A reload may have stopped managing it while it was being claimed. */
	if (d && !d->lease && !d->claim_job)
		manager_apply_rule(m, d, true);
}

void manager_teardown_rested(struct manager *m)
{
	bus_replies_check(m);
}

void manager_feature_found(struct manager *m, enum kernel_feature f)
{
	if (m->features.have[f])
		return;
	m->features.have[f] = true;
	log_info("Kernel feature %s found.", feature_to_string(f));
	bus_manager_emit_changed(m, "KernelFeatures");
}

void manager_add_lease(struct manager *m, struct lease *l, bool announce)
{
	l->next = m->leases;
	m->leases = l;
	m->n_leases++;
	state_save(m);
	if (announce)
		manager_announce_lease(m, l);
}

void manager_announce_lease(struct manager *m, struct lease *l)
{
	if (l->announced)
		return;
	l->announced = true;
	bus_lease_emit_added(m, l);
	bus_manager_emit_changed(m, "LeaseCount");
}

void manager_direct_conn_closed(struct manager *m, const struct direct_conn *c)
{
	for (struct lease *l = m->leases; l; l = l->next)
		if (l->owner_conn == c)
			lease_owner_conn_closed(l);
}

void manager_remove_lease(struct manager *m, struct lease *l, const char *reason)
{
	/* While it is still findable, so InterfacesRemoved names its interface. */
	bus_lease_emit_released(m, l, reason);
	for (struct lease **p = &m->leases; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			m->n_leases--;
			break;
		}
	state_save(m);
	if (l->announced)
		bus_manager_emit_changed(m, "LeaseCount");
}

void manager_lease_changed(struct manager *m, struct lease *l, const char *property)
{
	state_save(m);
	bus_lease_emit_changed(m, l, property);
}

struct lease *manager_find_lease(struct manager *m, unsigned id)
{
	for (struct lease *l = m->leases; l; l = l->next)
		if (l->id == id)
			return l;
	return NULL;
}

static void on_device_added(struct device *d, void *userdata)
{
	struct manager *m = userdata;

	manager_apply_rule(m, d, m->bus != NULL);
}

static void on_device_changed(struct device *d, unsigned mask, void *userdata)
{
	struct manager *m = userdata;

	if (mask & DEVICE_CHANGED_DRIVER) {
		log_dev(LOG_INFO, 0, d->name, "inventory", "Driver now %s, state %s.",
			d->driver[0] ? d->driver : "none", device_state_to_string(d->state));
		/* A newly loaded vfio may bring the cdev feature (and iommufd
		 * with it).  Once both are there nothing a bind brings is
		 * missing: each probe allocates an IOAS and maps a page, and
		 * every claim and teardown binds vfio-pci. */
		if (strcmp(d->driver, "vfio-pci") == 0 &&
		    !(m->features.have[FEATURE_VFIO_CDEV] && m->features.have[FEATURE_IOMMUFD]) &&
		    features_probe(&m->features))
			bus_manager_emit_changed(m, "KernelFeatures");
	}
	if (d->managed)
		bus_device_emit_changed(m, d, mask);
}

static void on_device_removed(struct device *d, void *userdata)
{
	struct manager *m = userdata;

	/* A leased device that leaves the bus: nothing left to reset or
	 * restore; its lease forgets it and closes the daemon's fds. */
	attach_jobs_device_removed(m, d);
	if (d->attachment) {
		struct lease_device *ld = d->attachment;
		lease_device_gone(ld);
		lease_detach(ld, "device removed");
	}
	teardown_abandon(m, d);
	state_save(m);
	if (!d->managed)
		return;
	log_dev(LOG_INFO, 0, d->name, "inventory", "Device removed from the bus.");
	bus_device_unpublished(m, d);
	d->managed = false;
	m->n_managed--;
	bus_manager_emit_changed(m, "DeviceCount");
}

/* The kernel is taking a leased device back: its VFIO node went while no
 * teardown of ours was unbinding it (hot unplug, or vfio-pci unbound by the
 * administrator).  The kernel waits for every file of it to close, so the
 * daemon lets go of its own now (the device leaves its lease, dma-buf
 * mappings first) rather than when the lease ends, and tells the owner. */
static void on_vfio_node_gone(struct device *d, void *userdata)
{
	struct manager *m = userdata;
	struct lease_device *ld = d->attachment;
	struct lease *l;

	if (!ld || d->teardown)
		return;
	l = ld->lease;
	log_dev(LOG_WARNING, 0, d->name, "removal", "The kernel removed the VFIO node of this leased device "
		"(hot unplug, or vfio-pci unbound); it leaves lease %u now.", l->id);
	if (l->state == LEASE_ACTIVE)
		bus_lease_emit_device_lost(m, l, d->name, "the kernel is removing the device (hot unplug, or vfio-pci "
					   "unbound); close your files of it and the removal completes");
	lease_detach(ld, "removed by the kernel");
}

static const struct inventory_callbacks inventory_callbacks = {
	.added = on_device_added,
	.changed = on_device_changed,
	.removed = on_device_removed,
	.vfio_node_gone = on_vfio_node_gone,
};

static int load_config(const struct manager_options *o, struct config **ret, char **ret_error)
{
	int r = config_load(o->config_path, ret, ret_error);

	if (r == -ENOENT && !o->config_path_explicit) {
		free(*ret_error);
		*ret_error = NULL;
		log_notice("%s does not exist: managing no devices, only root may read.", o->config_path);
		return config_new_empty(o->config_path, ret);
	}
	return r;
}

int manager_reload(struct manager *m, char **ret_error)
{
	struct config *fresh = NULL;
	struct device *const *devices;
	size_t n;
	int r;

	r = load_config(m->options, &fresh, ret_error);
	if (r < 0) {
		log_error("Reload failed, keeping the previous configuration: %s",
			  *ret_error ? *ret_error : strerror(-r));
		return r;
	}
	config_free(m->config);
	m->config = fresh;
	/* Before any signal of the new rules goes out. */
	bus_subscribers_recheck(m);
	devices = inventory_devices(m->inventory, &n);
	for (size_t i = 0; i < n; i++)
		manager_apply_rule(m, devices[i], true);
	if (features_probe(&m->features))
		bus_manager_emit_changed(m, "KernelFeatures");
	log_info("Configuration reloaded from %s: %zu rule(s), %u managed device(s).",
		 m->config->path, m->config->n_rules, m->n_managed);
	return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	_cleanup_free_ char *why = NULL;

	(void)manager_reload(userdata, &why);
	return 0;
}

static int on_name_acquired(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct manager *m = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	uint32_t result = 0;

	if (e) {
		log_error("Failed to acquire bus name %s: %s", CCDEVD_BUS_NAME, e->message);
		return sd_event_exit(m->event, -sd_bus_error_get_errno(e));
	}
	/* RequestName answers 1 (primary owner) or why not: 2 queued, 3 taken. */
	if (sd_bus_message_read(reply, "u", &result) < 0 || result != 1) {
		log_error("Bus name %s is owned by another process (RequestName answered %u); is ccdevd "
			  "already running?", CCDEVD_BUS_NAME, result);
		return sd_event_exit(m->event, -EEXIST);
	}
	log_info("Acquired bus name %s, ready: %u managed device(s), %u lease(s) re-adopted.", CCDEVD_BUS_NAME,
		 m->n_managed, m->n_adopted);
	sd_notifyf(0, "READY=1\nSTATUS=Managing %u device(s), %u lease(s) re-adopted at start", m->n_managed,
		   m->n_adopted);
	adopt_finish(m);
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
	r = bus_manager_register(m, m->bus);
	if (r >= 0)
		r = bus_device_register(m, m->bus);
	if (r >= 0)
		r = bus_lease_register(m, m->bus);
	if (r < 0)
		return r;
	r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
	/* The name comes last: by the time clients can find us, we are complete. */
	r = sd_bus_request_name_async(m->bus, NULL, CCDEVD_BUS_NAME, 0, on_name_acquired, m);
	if (r < 0)
		return log_error_errno(r, "Failed to request bus name %s: %m", CCDEVD_BUS_NAME);
	return 0;
}

/* The second door; without it clients still have the bus. */
static void manager_open_direct(struct manager *m)
{
	_cleanup_free_ char *path = NULL;
	const char *dir = getenv("RUNTIME_DIRECTORY");
	int fd = TAKE_FD(m->fdstore.direct_socket);

	if (fd < 0 && asprintf(&path, "%s/" DIRECT_SOCKET_NAME, dir ? dir : "/run/ccdevd") < 0) {
		log_error("Out of memory; no direct socket, clients use the system bus.");
		return;
	}
	if (direct_socket_open(m, fd, path) < 0)
		log_warning("No direct socket: clients use the system bus.");
}

static int manager_watch_signals(struct manager *m)
{
	sigset_t mask;
	int r;

	/* Handled in the loop: SIGTERM/SIGINT exit through the normal path. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD); /* sd_event_add_child (teardown's restore) */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	r = sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
	if (r < 0)
		return log_error_errno(r, "Failed to watch signals: %m");
	return 0;
}

static int manager_new(const struct manager_options *options, struct manager **ret)
{
	_cleanup_(manager_freep) struct manager *m = NULL;
	_cleanup_free_ char *why = NULL;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return log_error_errno(ENOMEM, "Out of memory.");
	m->options = options;

	r = load_config(options, &m->config, &why);
	if (r < 0)
		return log_error_errno(r, "Refusing to start: %s", why ? why : strerror(-r));

	limits_raise_nofile();
	r = privilege_drop();
	if (r < 0)
		return r;

	r = sd_event_default(&m->event);
	if (r < 0)
		return log_error_errno(r, "Failed to allocate the event loop: %m");
	r = manager_watch_signals(m);
	if (r < 0)
		return r;
	r = sd_event_set_watchdog(m->event, true);
	if (r < 0)
		return log_error_errno(r, "Failed to enable the watchdog: %m");

	(void)features_probe(&m->features);
	reset_remove_hooks();
	dmabuf_register_reset_hook(m);
	r = inventory_new(m->event, &inventory_callbacks, m, &m->inventory);
	if (r < 0)
		return r;
	r = inventory_enumerate(m->inventory);
	if (r < 0)
		return r;

	fdstore_init(&m->fdstore);
	r = state_init(m);
	if (r < 0)
		return r;
	r = manager_connect_bus(m);
	if (r < 0)
		return r;
	/* Before the first call can come in (the name is acquired from the
	 * loop): what the last daemon handed out is known again. */
	adopt_run(m);
	manager_open_direct(m);

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
