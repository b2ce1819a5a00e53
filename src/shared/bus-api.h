/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Names of the org.ccdevd1 D-Bus API (the XML in dbus/ is the contract), shared by
 * the daemon and ccdevctl. */

#define CCDEVD_BUS_NAME "org.ccdevd1"
/* The second door: the same API, peer to peer (ccdevd(8), DIRECT SOCKET);
 * clients take $CCDEVD_SOCKET first when it is set ("" for the bus only). */
#define CCDEVD_DIRECT_SOCKET "/run/ccdevd/ccdevd.sock"
#define CCDEVD_OBJECT_ROOT "/org/ccdevd1"
#define CCDEVD_DEVICE_PREFIX "/org/ccdevd1/device"
#define CCDEVD_MANAGER_IFACE "org.ccdevd1.Manager"
#define CCDEVD_DEVICE_IFACE "org.ccdevd1.Device"

/* Named errors; every one carries a message a person can act on. */
#define CCDEVD_ERROR_INVALID_ARGUMENT "org.ccdevd1.Error.InvalidArgument"
#define CCDEVD_ERROR_NO_SUCH_DEVICE "org.ccdevd1.Error.NoSuchDevice"
#define CCDEVD_ERROR_NOT_MANAGED "org.ccdevd1.Error.NotManaged"
#define CCDEVD_ERROR_ACCESS_DENIED "org.ccdevd1.Error.AccessDenied"
#define CCDEVD_ERROR_DEVICE_BUSY "org.ccdevd1.Error.DeviceBusy"
#define CCDEVD_ERROR_GROUP_NOT_VIABLE "org.ccdevd1.Error.GroupNotViable"
#define CCDEVD_ERROR_NOT_SUPPORTED "org.ccdevd1.Error.NotSupported"
#define CCDEVD_ERROR_CONFIG_INVALID "org.ccdevd1.Error.ConfigInvalid"
#define CCDEVD_ERROR_NO_SUCH_LEASE "org.ccdevd1.Error.NoSuchLease"
#define CCDEVD_ERROR_FAILED "org.ccdevd1.Error.Failed"
#define CCDEVD_ERROR_ALREADY_BOUND "org.ccdevd1.Error.AlreadyBound"
#define CCDEVD_ERROR_RESET_SET_NOT_VIABLE "org.ccdevd1.Error.ResetSetNotViable"
#define CCDEVD_ERROR_NOT_RELEASING "org.ccdevd1.Error.NotReleasing"
#define CCDEVD_ERROR_LIMIT_EXCEEDED "org.ccdevd1.Error.LimitExceeded"
#define CCDEVD_ERROR_NO_SUCH_MAPPING "org.ccdevd1.Error.NoSuchMapping"

#define CCDEVD_LEASE_PREFIX "/org/ccdevd1/lease"
#define CCDEVD_LEASE_IFACE "org.ccdevd1.Lease"
