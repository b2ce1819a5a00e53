/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The edu DMA engine and the DMA buffer checks of the VM tier's C tests. */

#include <inttypes.h>
#include <stdbool.h>
#include <unistd.h>

#include "edu.h"
#include "vmtest.h"

int edu_liveness(volatile uint8_t *bar0, uint32_t v)
{
	edu_write32(bar0, EDU_LIVE, v);
	uint32_t got = edu_read32(bar0, EDU_LIVE);
	if (got != (uint32_t)~v)
		return fail(0, "edu liveness: wrote %#x, read %#x, want %#x", v, got, ~v);
	return 0;
}

void edu_dma_start(volatile uint8_t *bar0, uint64_t src, uint64_t dst, uint64_t cnt, uint64_t cmd)
{
	edu_write64(bar0, EDU_SRC, src);
	edu_write64(bar0, EDU_DST, dst);
	edu_write64(bar0, EDU_CNT, cnt);
	edu_write64(bar0, EDU_CMD, cmd | EDU_CMD_RUN);
}

/* Polls for 5 s at most; true once the engine is idle. */
static bool edu_dma_idle(volatile uint8_t *bar0)
{
	for (int i = 0; i < 5000; i++) {
		if (!(edu_read32(bar0, EDU_CMD) & EDU_CMD_RUN)) {
			__asm__ volatile("" ::: "memory"); /* the device wrote buf */
			return true;
		}
		usleep(1000);
	}
	return false;
}

int edu_dma_wait(volatile uint8_t *bar0)
{
	if (edu_dma_idle(bar0))
		return 0;
	return fail(0, "edu DMA did not finish in 5 s (command register %#x)", edu_read32(bar0, EDU_CMD));
}

int edu_dma(volatile uint8_t *bar0, uint64_t src, uint64_t dst, uint64_t cnt, uint64_t cmd)
{
	edu_dma_start(bar0, src, dst, cnt, cmd);
	if (edu_dma_idle(bar0))
		return 0;
	return fail(0, "edu DMA %#" PRIx64 " -> %#" PRIx64 " did not finish in 5 s", src, dst);
}

void dma_fill_pattern(uint8_t *buf, uint8_t seed)
{
	for (int i = 0; i < DMA_LEN; i++)
		buf[i] = (uint8_t)(i * 7 + seed);
}

int dma_check_copy(const uint8_t *buf)
{
	for (int i = 0; i < DMA_LEN; i++)
		if (buf[DST_OFF + i] != buf[i])
			return fail(0, "DMA data differs at byte %d: %#x, want %#x", i, buf[DST_OFF + i], buf[i]);
	if (buf[DST_OFF + DMA_LEN] != 0)
		return fail(0, "DMA wrote past its %d bytes", DMA_LEN);
	return 0;
}
