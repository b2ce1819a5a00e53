/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * For the harnesses that build D-Bus messages from the fuzzer's bytes
 * (fuzz-bus-options, fuzz-dmabuf-args): reading the input a byte or a u64
 * at a time (0 once it runs out), and a bus to build messages on.
 */

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>

struct input {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t take_byte(struct input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint64_t take_u64(struct input *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | take_byte(in);
	return v;
}

/* sd-bus builds messages only for a bus that has been started; this one is
 * started on a socketpair nobody answers and is never used for I/O. */
static inline sd_bus *fuzz_bus(void)
{
	static sd_bus *bus;
	int sp[2];

	if (bus)
		return bus;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0 || sd_bus_new(&bus) < 0 ||
	    sd_bus_set_fd(bus, sp[0], sp[0]) < 0 || sd_bus_start(bus) < 0)
		abort();
	return bus;
}
