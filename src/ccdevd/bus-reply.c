/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-reply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "log.h"
#include "manager.h"
#include "teardown.h"

struct pending_reply {
	struct pending_reply *next;
	sd_bus_message *call;
	size_t n;
	struct bdf devices[];
};

static bool all_resting(struct manager *m, const struct pending_reply *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct device *d = inventory_find(m->inventory, &p->devices[i]);
		if (d && !teardown_resting(d))
			return false;
	}
	return true;
}

static void pending_free(struct pending_reply *p)
{
	sd_bus_message_unref(p->call);
	free(p);
}

static void send_reply(struct pending_reply *p)
{
	int r = sd_bus_reply_method_return(p->call, NULL);

	/* The caller may have left meanwhile: nothing to tell then. */
	if (r < 0 && r != -ENOTCONN && r != -ECONNRESET)
		log_debug_errno(r, "Cannot send a deferred reply: %m");
}

int bus_reply_after_teardowns(struct manager *m, sd_bus_message *call, const struct bdf *addresses, size_t n)
{
	struct pending_reply *p;

	p = calloc(1, sizeof(*p) + n * sizeof(p->devices[0]));
	if (!p)
		return -ENOMEM;
	p->call = sd_bus_message_ref(call);
	p->n = n;
	if (n)
		memcpy(p->devices, addresses, n * sizeof(addresses[0]));
	if (all_resting(m, p)) {
		send_reply(p);
		pending_free(p);
		return 1;
	}
	p->next = m->pending_replies;
	m->pending_replies = p;
	return 1;
}

void bus_replies_check(struct manager *m)
{
	struct pending_reply **pp = &m->pending_replies;

	while (*pp) {
		struct pending_reply *p = *pp;
		if (!all_resting(m, p)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		send_reply(p);
		pending_free(p);
	}
}

void bus_replies_free(struct manager *m)
{
	while (m->pending_replies) {
		struct pending_reply *p = m->pending_replies;
		m->pending_replies = p->next;
		pending_free(p);
	}
}
