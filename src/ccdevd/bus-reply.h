/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Method replies that wait for teardowns.  Release and DetachDevice answer
 * once each device they tore down is at rest (teardown_resting(): released,
 * quarantined, or waiting for a holder, saying so in StateReason), so the
 * caller sees the outcome in its answer, as with a blocking call, while the
 * event loop goes on serving every other client.
 */

#include <stddef.h>

#include <systemd/sd-bus.h>

#include "bdf.h"

struct manager;

/* Reply to call (an empty method return) once every device of addresses
 * rests or left the bus: at once if they all do now. */
int bus_reply_after_teardowns(struct manager *m, sd_bus_message *call, const struct bdf *addresses, size_t n);

/* A teardown moved: send the replies whose devices all rest now. */
void bus_replies_check(struct manager *m);

/* At exit: drop the replies still waiting (their callers get no answer;
 * the bus tells them the daemon left). */
void bus_replies_free(struct manager *m);
