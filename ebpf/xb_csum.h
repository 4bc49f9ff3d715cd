/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Internet checksums (RFC 1071) for replies built in XDP. bpf_csum_diff()
 * does the summing so the program stays short; it takes at most 512 bytes
 * per call and only multiples of 4, which is why replies are padded to a
 * multiple of 4 and summed in chunks.
 */
#ifndef XBOOT_BPF_CSUM_H
#define XBOOT_BPF_CSUM_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define CSUM_CHUNK 512

/* The sum stays in memory byte order, so the folded value can be stored
 * as is, without a byte swap. */
static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Sum of a 20-byte block (an IPv4 header or pseudo + UDP header). */
static __always_inline __u64 csum_block20(void *p, __u64 seed)
{
	long s = bpf_csum_diff(NULL, 0, p, 20, (__u32)seed);

	return s < 0 ? 0 : (__u64)s;
}

#endif /* XBOOT_BPF_CSUM_H */
