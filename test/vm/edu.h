/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * QEMU's edu device (1234:11e8, QEMU docs/specs/edu.rst) as the VM tier's
 * DMA engine: its registers through a mapped BAR0, passed in explicitly, and
 * the DMA buffer layout both env-proof and lease-client use.  A round trip
 * copies DMA_LEN bytes from buf (at DMA_IOVA) into edu's own buffer and back
 * to buf + DST_OFF.  Failures print a TAP diagnostic and return -1.
 */

#include <stdint.h>

/* The test's DMA buffer: BUF_SIZE bytes of our memory mapped at DMA_IOVA. */
#define BUF_SIZE (64 * 1024)
#define DMA_IOVA 0x100000ULL /* edu reaches only 28-bit addresses */
#define DMA_LEN 4000         /* QEMU 7.2 edu dies on a 4096-byte transfer */
#define DST_OFF 0x8000
#define EDU_BUF 0x40000      /* edu's internal buffer in its DMA space */

/* edu registers */
enum { EDU_IDENT = 0x00, EDU_LIVE = 0x04, EDU_SRC = 0x80, EDU_DST = 0x88,
       EDU_CNT = 0x90, EDU_CMD = 0x98 };
enum { EDU_CMD_RUN = 1, EDU_CMD_TO_RAM = 2 };
#define EDU_IDENT_VALUE 0x010000edU

static inline uint32_t edu_read32(volatile uint8_t *bar0, unsigned reg)
{
	return *(volatile uint32_t *)(bar0 + reg);
}

static inline void edu_write32(volatile uint8_t *bar0, unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(bar0 + reg) = v;
}

static inline void edu_write64(volatile uint8_t *bar0, unsigned reg, uint64_t v)
{
	*(volatile uint64_t *)(bar0 + reg) = v;
}

/* Writes v to the liveness register and requires ~v back. */
int edu_liveness(volatile uint8_t *bar0, uint32_t v);

/* Starts one DMA of cnt bytes; cmd is 0 (RAM -> edu) or EDU_CMD_TO_RAM. */
void edu_dma_start(volatile uint8_t *bar0, uint64_t src, uint64_t dst, uint64_t cnt, uint64_t cmd);

/* Waits (5 s at most) for the engine to go idle after edu_dma_start(). */
int edu_dma_wait(volatile uint8_t *bar0);

/* edu_dma_start() and the wait, with src and dst in the diagnostic. */
int edu_dma(volatile uint8_t *bar0, uint64_t src, uint64_t dst, uint64_t cnt, uint64_t cmd);

/* The source pattern: buf[i] = i * 7 + seed for the DMA_LEN bytes. */
void dma_fill_pattern(uint8_t *buf, uint8_t seed);

/* The copy at buf + DST_OFF equals the source, and nothing was written past it. */
int dma_check_copy(const uint8_t *buf);
