/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "privilege.h"

#include <cap-ng.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/capability.h>
#include <unistd.h>

#include "log.h"

/* What ccdevd keeps, and what it cannot do without each. */
static const struct {
	int cap;
	const char *name;
	const char *without;
} kept[] = {
	{ CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE",
	  "no lease can be created (per-process pinned-memory accounting and raising a VMM's memlock "
	  "limit need it); the inventory still works" },
	{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN",
	  "no hot reset of a reset set after a release (the bridge's reset_subordinate needs it): devices "
	  "without a function reset stay quarantined after their lease" },
	{ CAP_KILL, "CAP_KILL", "ForceRelease cannot end the processes holding a released device" },
	/* /proc/PID/fd of another uid: its directory (0500) needs the first,
	 * the links in it the second. */
	{ CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH",
	  "the processes holding a released device open cannot be named or force-released" },
	{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE",
	  "the processes holding a released device open cannot be named or force-released" },
};

int privilege_drop(void)
{
	if (geteuid() != 0)
		return log_error_errno(EPERM, "ccdevd must run as root (it owns the VFIO and iommufd "
					      "device nodes and writes sysfs driver bindings).");

	/* The bounding set can only be cut with CAP_SETPCAP; under systemd the
	 * unit's CapabilityBoundingSet= has done that already. */
	bool have[sizeof kept / sizeof kept[0]];

	capng_get_caps_process();
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
		have[i] = capng_have_capability(CAPNG_PERMITTED, (unsigned)kept[i].cap);
	bool can_bound = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);

	capng_clear(CAPNG_SELECT_BOTH);
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
		/* A capability we were started without cannot be kept (containers). */
		if (!have[i]) {
			log_warning("Running without %s: %s.", kept[i].name, kept[i].without);
			continue;
		}
		if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET, kept[i].cap) < 0)
			return log_error_errno(EINVAL, "Failed to prepare the capability set.");
	}
	if (capng_apply(can_bound ? CAPNG_SELECT_BOTH : CAPNG_SELECT_CAPS) < 0)
		return log_error_errno(EPERM, "Failed to drop capabilities.");
	log_debug("Capabilities reduced to CAP_SYS_RESOURCE, CAP_SYS_ADMIN, CAP_KILL, CAP_DAC_READ_SEARCH and "
		  "CAP_SYS_PTRACE.");
	return 0;
}
