/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test data that looks random to a compressor but is the same on every run
 * (xorshift64, seeded by each test), so a failure repeats.
 */
#ifndef XBOOT_TEST_FILL_RANDOM_H
#define XBOOT_TEST_FILL_RANDOM_H

#include <stddef.h>
#include <stdint.h>

static inline void fill_random(uint64_t *rng, uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		p[i] = *rng;
	}
}

#endif
