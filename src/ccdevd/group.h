/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The two rules about which devices go together (DESIGN §5 rule 2, §10):
 *
 *  - an IOMMU group is never split between owners, and no member of it may be
 *    on a host driver that does DMA while another member is handed out;
 *  - a reset set (the functions a hot reset resets together: every device on
 *    the bus below the same bridge) is never split between owners either, for
 *    a device that has no reset of its own and so can only be reset with its set.
 *
 * Pure decisions over the inventory; nothing here touches the kernel.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct device;
struct inventory;

/* group_check_viable()'s answers. */
#define GROUP_NOT_VIABLE (-EXDEV)
#define RESET_SET_NOT_VIABLE (-EUSERS)

/* Can d be handed to owner_uid?  On failure *ret_why names the member in the
 * way and what to do. */
int group_check_viable(struct inventory *inv, const struct device *d, uid_t owner_uid, char **ret_why);

/* Does d have a reset that touches only d?  The kernel's "bus" method counts
 * only while d is alone on its bus. */
bool device_has_function_reset(struct inventory *inv, const struct device *d);

/* Every device of d's reset set (d first), at most max; returns how many. */
size_t reset_set_members(struct inventory *inv, const struct device *d, struct device **out, size_t max);

/* The sysfs path of the bridge above d (whose secondary bus reset is the
 * set's hot reset) into buf; -ENOENT when d sits on a root bus. */
int reset_set_bridge(const struct device *d, char *buf, size_t size);

#define RESET_SET_MAX 32

/* The devices d goes with (the rest of its reset set and of its IOMMU
 * group), each once, at most max; returns how many. */
#define COMPANIONS_MAX 64
size_t device_companions(struct inventory *inv, const struct device *d, struct device **out, size_t max);
