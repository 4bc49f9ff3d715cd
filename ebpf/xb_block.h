/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The block source of the TFTP hot-block path: where a DATA block's bytes
 * come from. The object is built twice and the two builds differ only
 * here:
 *
 *   map (default)           xb_files + xb_blocks, filled by xbootd
 *                           (xdp_ctl_tftp_load());
 *   XB_BLOCK_SOURCE_KFUNC   xboot.ko's page cache through the kfuncs of
 *                           include/uapi/linux/xboot.h.
 *
 * Two builds rather than one program probing for the kfunc: the module's
 * kernel of record is 6.1, where a kfunc that is not there cannot be tested
 * for at run time (bpf_ksym_exists() needs 6.4), so the kfunc build only
 * loads where xboot.ko is, and xbootd falls back to the map build.
 *
 * xb_block_copy() serves both packet layers: tc is a constant at every
 * call, so each program keeps only its own helper calls.
 *
 * Included by xb_tftp.h after its maps.
 */
#ifndef XBOOT_BPF_BLOCK_H
#define XBOOT_BPF_BLOCK_H

#include <stdbool.h>

#ifdef XB_BLOCK_SOURCE_KFUNC

#include "uapi/linux/xboot.h"

extern int bpf_xboot_xdp_copy(struct xdp_md *ctx,
			      struct xboot_copy_args *args) __ksym;
extern int bpf_xboot_skb_copy(struct __sk_buff *skb,
			      struct xboot_copy_args *args) __ksym;

/*
 * Copies len bytes of file_id (generation gen) from offset into the packet
 * at pkt_off, which must already be that long, and returns seed plus their
 * sum (unfolded, memory byte order), or a negative value on failure (the
 * module refused: no such file, stale generation, out of range).
 */
static __always_inline long xb_block_copy(void *ctx, bool tc, __u32 file_id,
					  __u32 gen, __u64 offset, __u32 len,
					  __u32 pkt_off, __u64 seed)
{
	struct xboot_copy_args args = {
		.file_id = file_id,
		.gen = gen,
		.offset = offset,
		.len = len,
		.pkt_off = pkt_off,
		.csum = (__u32)seed,
	};
	int n;

	/* The kfuncs refuse len 0; an empty final block needs no bytes. */
	if (!len)
		return (long)seed;
	if (tc)
		n = bpf_xboot_skb_copy(ctx, &args);
	else
		n = bpf_xboot_xdp_copy(ctx, &args);
	if (n != (int)len)
		return -1;
	return (long)args.csum;
}

#else /* the map block source */

static __always_inline int xb_store(void *ctx, bool tc, __u32 off,
				    const void *from, __u32 len)
{
	if (tc)
		return (int)bpf_skb_store_bytes(ctx, off, from, len, 0);
	return (int)bpf_xdp_store_bytes(ctx, off, (void *)from, len);
}

/* The sum of len bytes of a page value from pgoff, added to seed. */
static __always_inline long xb_block_sum(const struct xb_block *b, __u32 pgoff,
					 __u64 n64, __u64 seed)
{
	__u32 len4 = n64 & 0x7fc, tail, n, i;
	__u8 last[4] = {};
	__u64 sum = seed;
	long s;

#pragma unroll
	for (i = 0; i < 3; i++) {
		__u64 off = i * CSUM_CHUNK, c;

		if (off >= len4)
			break;
		c = (len4 - off) & 0x7fc;
		asm volatile("" : "+r"(c));
		if (c > CSUM_CHUNK)
			c = CSUM_CHUNK;
		if (c < 4)
			break;
		s = bpf_csum_diff(NULL, 0, (__be32 *)&b->data[pgoff + off], c,
				  (__u32)sum);
		if (s < 0)
			return -1;
		sum = (__u64)s;
	}
	tail = n64 - len4;
	if (tail) {
		n = pgoff + len4;
		if (n > sizeof(b->data) - 4)
			return -1;
		__builtin_memcpy(last, &b->data[n], 4);
		if (tail < 2)
			last[1] = 0;
		if (tail < 3)
			last[2] = 0;
		last[3] = 0;
		s = bpf_csum_diff(NULL, 0, (__be32 *)last, 4, (__u32)sum);
		if (s < 0)
			return -1;
		sum = (__u64)s;
	}
	return (long)sum;
}

/* As the kfunc build's, from a page of xb_blocks. A file reloaded since the
 * session began (another generation) is refused, as the module does. */
static __always_inline long xb_block_copy(void *ctx, bool tc, __u32 file_id,
					  __u32 gen, __u64 offset, __u32 len,
					  __u32 pkt_off, __u64 seed)
{
	struct xb_block_key key = { .file_id = file_id,
				    .page = (__u32)(offset / XB_BLOCK_PAGE) };
	__u32 pgoff = offset & (XB_BLOCK_PAGE - 1);
	const struct xb_file *f;
	struct xb_block *b;
	__u64 n64;

	f = bpf_map_lookup_elem(&xb_files, &file_id);
	if (!f || f->generation != gen || offset + len > f->size)
		return -1;
	if (!len)
		return (long)seed;
	if (len > XB_TFTP_BLKSIZE_MAX)
		return -1;
	b = bpf_map_lookup_elem(&xb_blocks, &key);
	if (!b)
		return -1;
	/* Bounds the verifier can see at the call, not somewhere before,
	 * and a lower bound of 1 that 6.1's verifier also sees (it learns
	 * nothing from a "!= 0" test, and the helper refuses a size 0). */
	n64 = (__u64)len - 1;
	asm volatile("" : "+r"(n64));
	if (n64 >= XB_TFTP_BLKSIZE_MAX)
		return -1;
	n64 += 1;
	if (xb_store(ctx, tc, pkt_off, &b->data[pgoff], n64))
		return -1;
	return xb_block_sum(b, pgoff, n64, seed);
}

#endif /* XB_BLOCK_SOURCE_KFUNC */

#endif /* XBOOT_BPF_BLOCK_H */
