/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the XDP program tests share: a frame buffer for BPF_PROG_TEST_RUN,
 * an independent Internet checksum to check the program's against, and the
 * per-CPU counters summed.
 */
#ifndef XBOOT_TESTS_XDP_TEST_H
#define XBOOT_TESTS_XDP_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct frame {
	uint8_t align[2]; /* so that the IP header in b is 4-byte aligned */
	uint8_t b[4096];
	size_t len;
} __attribute__((aligned(8)));

/* RFC 1071 sum of p, added to sum, not folded. */
static inline uint32_t xt_sum16(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

static inline uint16_t xt_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* A per-CPU counter of map (an XB_STAT_* index), summed over the CPUs;
 * UINT64_MAX if it cannot be read. */
static inline uint64_t xt_stat(const struct bpf_map *map, int idx)
{
	int ncpu = libbpf_num_possible_cpus(), c;
	uint64_t vals[ncpu > 0 ? ncpu : 1], sum = 0;
	__u32 k = (__u32)idx;

	if (ncpu <= 0 || bpf_map_lookup_elem(bpf_map__fd(map), &k, vals))
		return UINT64_MAX;
	for (c = 0; c < ncpu; c++)
		sum += vals[c];
	return sum;
}

#endif /* XBOOT_TESTS_XDP_TEST_H */
