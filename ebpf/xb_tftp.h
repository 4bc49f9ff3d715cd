/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The TFTP hot-block path (see include/xboot/xdp.h): an in-order ACK of a
 * registered transfer becomes the next DATA block, rewritten in place and
 * sent back with XDP_TX. Everything else on a session's port goes to
 * xbootd's socket, except duplicate ACKs, which are dropped (answering
 * them would double the traffic, the Sorcerer's Apprentice bug) and the
 * final ACK, which ends the session here.
 *
 * Included by xboot_xdp.bpf.c after its maps and count().
 */
#ifndef XBOOT_BPF_TFTP_H
#define XBOOT_BPF_TFTP_H

#define TFTP_OP_DATA 3
#define TFTP_OP_ACK 4
#define TFTP_ACK_LEN 4
#define TFTP_HDR 4

/* The verdict when the frame is not a session's: the DHCP path runs. */
#define TFTP_NOT_OURS (-1)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XB_MAX_HOT_FILES);
	__type(key, __u32);
	__type(value, struct xb_file);
} xb_files SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XB_MAX_BLOCKS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xb_block_key);
	__type(value, struct xb_block);
} xb_blocks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XB_MAX_TFTP_SESS);
	__type(key, struct xb_tftp_key);
	__type(value, struct xb_tftp_sess);
} xb_tftp_sess SEC(".maps");

struct tftp_hdrs {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	__be16 opcode;
	__be16 block;
} __attribute__((packed));

struct tftp_pseudo {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
	struct udphdr udp;
	__be16 opcode;
	__be16 block;
} __attribute__((packed));

#define TFTP_HDRS_LEN sizeof(struct tftp_hdrs)

/*
 * The block source: where the bytes of a DATA block come from. Today a
 * page of xb_blocks; a kfunc reading the page cache can replace it without
 * touching the rest. Copies len bytes of file_id from offset into the frame
 * at pkt_off and returns their checksum (unfolded, memory byte order), or
 * a negative value on failure. len <= XB_TFTP_BLKSIZE_MAX.
 */
static __always_inline long xb_block_copy(struct xdp_md *ctx, __u32 file_id,
					  __u64 offset, __u32 len,
					  __u32 pkt_off, __u64 seed)
{
	struct xb_block_key key = { .file_id = file_id,
				    .page = (__u32)(offset / XB_BLOCK_PAGE) };
	__u32 pgoff = offset & (XB_BLOCK_PAGE - 1), len4, tail, n, i;
	struct xb_block *b;
	__u8 last[4] = {};
	__u64 sum = seed, n64;
	long s;

	if (!len)
		return (long)sum;
	if (len > XB_TFTP_BLKSIZE_MAX)
		return -1;
	b = bpf_map_lookup_elem(&xb_blocks, &key);
	if (!b)
		return -1;
	/* Bounds the verifier can see at the call, not somewhere before. */
	n64 = len;
	asm volatile("" : "+r"(n64));
	if (n64 < 1 || n64 > XB_TFTP_BLKSIZE_MAX)
		return -1;
	if (bpf_xdp_store_bytes(ctx, pkt_off, &b->data[pgoff], n64))
		return -1;
	len4 = n64 & 0x7fc;
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

/* The ACK frame, if it is one to a session: its key and block number. */
struct tftp_ack {
	struct xb_tftp_key key;
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__be32 daddr;
	__u16 block;
	__u16 opcode;
	__u32 udp_len;
	__u32 frame_len;
};

static __always_inline int tftp_parse(struct xdp_md *ctx, struct tftp_ack *a)
{
	struct cursor c;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
	__be16 *p;

	cursor_init(&c, ctx);
	eth = parse_ethhdr(&c);
	if (!eth || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = parse_iphdr(&c);
	if (!ip || ip->protocol != IPPROTO_UDP ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return -1;
	udp = parse_udphdr(&c);
	if (!udp)
		return -1;
	/* Never a DHCP port: that path comes next. */
	if (udp->dest == bpf_htons(DHCP_SERVER_PORT) ||
	    udp->dest == bpf_htons(PXE_BOOT_SERVER_PORT))
		return -1;
	a->key.client_ip = ip->saddr;
	a->key.client_port = udp->source;
	a->key.server_port = udp->dest;
	a->daddr = ip->daddr;
	__builtin_memcpy(a->src_mac, eth->h_source, 6);
	__builtin_memcpy(a->dst_mac, eth->h_dest, 6);
	a->udp_len = bpf_ntohs(udp->len);
	a->frame_len = ctx->data_end - ctx->data;
	a->opcode = 0;
	/* IP options would move the payload: xbootd's business. */
	if (ip->ihl != 5 || bpf_ntohs(ip->tot_len) < 20 + a->udp_len)
		return 1;
	p = c.pos;
	if ((void *)(p + 2) > c.end)
		return 1;
	a->opcode = bpf_ntohs(p[0]);
	a->block = bpf_ntohs(p[1]);
	return 0;
}

static __always_inline void tftp_event(const struct tftp_ack *a,
				       const struct xb_tftp_sess *s, __u64 now)
{
	struct xb_tftp_event *ev;

	ev = bpf_ringbuf_reserve(&xb_events, sizeof(*ev), 0);
	if (!ev) {
		count(XB_STAT_PASS_RINGBUF);
		return;
	}
	ev->type = XB_EV_TFTP_DONE;
	ev->client_ip = a->key.client_ip;
	ev->client_port = a->key.client_port;
	ev->server_port = a->key.server_port;
	ev->blocks = s->total;
	ev->ts_ns = now;
	ev->pad = 0;
	bpf_ringbuf_submit(ev, 0);
}

/* Rewrite the ACK frame into DATA block blk; 0 or -1 (frame untouched
 * on -1 except its tail, which is put back). */
static __always_inline int tftp_build_data(struct xdp_md *ctx,
					   const struct tftp_ack *a,
					   const struct xb_tftp_sess *s,
					   __u32 blk)
{
	struct tftp_hdrs h = {};
	struct tftp_pseudo ph = {};
	__u64 off = (__u64)(blk - 1) * s->blksize, sum;
	__u32 len = 0;
	__be32 word;
	int delta, grew;
	long cs;

	if (off < s->size) {
		len = s->size - off < s->blksize ? s->size - off : s->blksize;
	}
	if (len > XB_TFTP_BLKSIZE_MAX)
		return -1;
	delta = (int)(TFTP_HDRS_LEN + len) - (int)a->frame_len;
	/* The frame is written from its start, so room at either end will
	 * do: veth leaves little tailroom, but there are 256 bytes of
	 * headroom. A frame that fits neither goes to xbootd. */
	if (!bpf_xdp_adjust_tail(ctx, delta))
		grew = GREW_TAIL;
	else if (delta > 0 && !bpf_xdp_adjust_head(ctx, -delta))
		grew = GREW_HEAD;
	else
		return -1;

	__builtin_memcpy(h.eth.h_dest, a->src_mac, 6);
	__builtin_memcpy(h.eth.h_source, a->dst_mac, 6);
	h.eth.h_proto = bpf_htons(ETH_P_IP);
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.tot_len = bpf_htons(20 + 8 + TFTP_HDR + len);
	h.ip.frag_off = bpf_htons(0x4000); /* DF, as the kernel sends */
	h.ip.ttl = 64;
	h.ip.protocol = IPPROTO_UDP;
	h.ip.saddr = a->daddr;
	h.ip.daddr = a->key.client_ip;
	h.ip.check = csum_fold(csum_block20(&h.ip, 0));
	h.udp.source = a->key.server_port;
	h.udp.dest = a->key.client_port;
	h.udp.len = bpf_htons(8 + TFTP_HDR + len);
	h.opcode = bpf_htons(TFTP_OP_DATA);
	h.block = bpf_htons((__u16)blk);

	ph.saddr = h.ip.saddr;
	ph.daddr = h.ip.daddr;
	ph.proto = IPPROTO_UDP;
	ph.len = h.udp.len;
	ph.udp = h.udp;
	ph.opcode = h.opcode;
	ph.block = h.block;
	sum = csum_block20(&ph, 0);
	__builtin_memcpy(&word, &ph.opcode, 4);
	cs = bpf_csum_diff(NULL, 0, &word, 4, (__u32)sum);
	if (cs < 0)
		goto err;
	cs = xb_block_copy(ctx, s->file_id, off, len, TFTP_HDRS_LEN,
			   (__u64)cs);
	if (cs < 0)
		goto err;
	h.udp.check = csum_fold((__u64)cs);
	if (!h.udp.check)
		h.udp.check = 0xffff;
	if (bpf_xdp_store_bytes(ctx, 0, &h, sizeof(h)))
		goto err;
	return 0;
err:
	if (grew == GREW_TAIL)
		bpf_xdp_adjust_tail(ctx, -delta);
	else
		bpf_xdp_adjust_head(ctx, delta);
	return -1;
}

/* XDP_TX, XDP_DROP, XDP_PASS, or TFTP_NOT_OURS. */
XB_GLOBAL int xb_tftp(struct xdp_md *ctx)
{
	struct tftp_ack a = {};
	struct xb_tftp_sess *s;
	const struct xb_file *f;
	__u64 now;
	__u16 d;
	int ret;

	if (!ctx)
		return TFTP_NOT_OURS;
	ret = tftp_parse(ctx, &a);
	if (ret < 0)
		return TFTP_NOT_OURS;
	s = bpf_map_lookup_elem(&xb_tftp_sess, &a.key);
	if (!s)
		return TFTP_NOT_OURS;
	/* Another server address on the same port: not this transfer. */
	if (s->server_ip != a.daddr || ret ||
	    a.udp_len != sizeof(struct udphdr) + TFTP_ACK_LEN ||
	    a.opcode != TFTP_OP_ACK || s->state != XB_TFTP_ACTIVE)
		goto pass;
	now = bpf_ktime_get_boot_ns();
	d = (__u16)s->last_sent - a.block;
	if (d) {
		/* Behind by less than half the block space: stale. Ahead
		 * (an ACK of a block never sent): xbootd decides. */
		if (d < 0x8000) {
			count(XB_STAT_TFTP_DUP_ACK);
			return XDP_DROP;
		}
		goto pass;
	}
	if (s->last_sent >= s->total) {
		struct xb_tftp_sess done = *s;

		bpf_map_delete_elem(&xb_tftp_sess, &a.key);
		tftp_event(&a, &done, now);
		count(XB_STAT_TFTP_DONE);
		return XDP_DROP;
	}
	f = bpf_map_lookup_elem(&xb_files, &s->file_id);
	if (!f || f->generation != s->generation)
		goto pass;
	if (tftp_build_data(ctx, &a, s, s->last_sent + 1))
		goto pass;
	/* Two CPUs on one ACK would both send the block; harmless. */
	s->last_sent++;
	s->last_ns = now;
	count(XB_STAT_TFTP_TX_DATA);
	return XDP_TX;
pass:
	count(XB_STAT_TFTP_PASS);
	return XDP_PASS;
}

#endif /* XBOOT_BPF_TFTP_H */
