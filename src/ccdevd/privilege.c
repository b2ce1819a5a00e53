/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "privilege.h"

#include <cap-ng.h>
#include <errno.h>
#include <stdbool.h>
#include <linux/capability.h>
#include <unistd.h>

#include "log.h"

int privilege_drop(void)
{
	if (geteuid() != 0)
		return log_error_errno(EPERM, "ccdevd must run as root (it owns the VFIO and iommufd "
					      "device nodes and writes sysfs driver bindings).");

	/* The bounding set can only be cut with CAP_SETPCAP; under systemd the
	 * unit's CapabilityBoundingSet= has done that already. */
	capng_get_caps_process();
	bool can_bound = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
	/* A capability we were started without cannot be kept (containers). */
	bool have_resource = capng_have_capability(CAPNG_PERMITTED, CAP_SYS_RESOURCE);

	capng_clear(CAPNG_SELECT_BOTH);
	if (have_resource &&
	    capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
			 CAP_SYS_RESOURCE) < 0)
		return log_error_errno(EINVAL, "Failed to prepare the capability set.");
	if (capng_apply(can_bound ? CAPNG_SELECT_BOTH : CAPNG_SELECT_CAPS) < 0)
		return log_error_errno(EPERM, "Failed to drop capabilities.");
	if (!have_resource)
		log_warning("Running without CAP_SYS_RESOURCE: no lease can be created (per-process "
			    "pinned-memory accounting needs it); the inventory still works.");
	log_debug("Capabilities reduced to CAP_SYS_RESOURCE.");
	return 0;
}
