/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The TFTP hot-block path (see include/xboot/xdp.h): an in-order ACK of a
 * registered transfer becomes the next DATA block, rewritten in place and
 * sent back out of the interface it came in on. Everything else on a
 * session's port goes to xbootd's socket, except duplicate ACKs, which are
 * dropped (answering them would double the traffic, the Sorcerer's
 * Apprentice bug) and the final ACK, which ends the session here.
 *
 * Two tiers apply the same rules (tftp_session_step()) through two thin
 * packet layers:
 *
 *   XDP  xb_tftp(): the frame grown in place, XDP_TX. Drivers with
 *        page-sized receive buffers (mlx5, ixgbe, i40e, ice, virtio_net,
 *        veth before 6.8) leave room for any block.
 *   TC   xb_tftp_tc(), at clsact ingress of the same interfaces: the ACKs
 *        XDP could not grow a frame for (veth since 6.8 hands XDP a buffer
 *        sized to the packet, ~200 bytes of room), with the skb grown by
 *        bpf_skb_change_tail() and redirected back out. XDP leaves such an
 *        ACK and its session untouched, so TC sees it as if XDP were not
 *        there.
 *
 * Included by xboot_xdp.bpf.c after its maps and count().
 */
#ifndef XBOOT_BPF_TFTP_H
#define XBOOT_BPF_TFTP_H

#include <stdbool.h>
#include <linux/pkt_cls.h>

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

#include "xb_block.h"

/* --- the rules, shared by both tiers ------------------------------------ */

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

/* -1: not a UDP frame for a session port; 1: one xbootd must see (IP
 * options, bad lengths, cut short); 0: a, complete. */
static __always_inline int tftp_parse(struct cursor *c, __u32 frame_len,
				      struct tftp_ack *a)
{
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
	__be16 *p;

	eth = parse_ethhdr(c);
	if (!eth || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = parse_iphdr(c);
	if (!ip || ip->protocol != IPPROTO_UDP ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return -1;
	udp = parse_udphdr(c);
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
	a->frame_len = frame_len;
	a->opcode = 0;
	/* IP options would move the payload: xbootd's business. */
	if (ip->ihl != 5 || bpf_ntohs(ip->tot_len) < 20 + a->udp_len)
		return 1;
	p = c->pos;
	if ((void *)(p + 2) > c->end)
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

enum tftp_step {
	TFTP_STEP_NOT_OURS, /* no session: not TFTP's */
	TFTP_STEP_PASS,     /* a session's, but xbootd's to answer */
	TFTP_STEP_DROP,     /* a stale ACK, or the final one: consumed */
	TFTP_STEP_SEND,     /* send block *blk of *sp, then advance */
};

/*
 * What a session does with an ACK frame (parsed is tftp_parse()'s 0 or
 * 1). The one place of the rules: both tiers call it and only differ in
 * how they send. Counts what it consumes; a pass is the caller's to count.
 */
static __always_inline int tftp_session_step(const struct tftp_ack *a,
					     int parsed,
					     struct xb_tftp_sess **sp,
					     __u32 *blk)
{
	struct xb_tftp_sess *s;
	__u16 d;

	s = bpf_map_lookup_elem(&xb_tftp_sess, &a->key);
	if (!s)
		return TFTP_STEP_NOT_OURS;
	/* Another server address on the same port: not this transfer. */
	if (s->server_ip != a->daddr || parsed ||
	    a->udp_len != sizeof(struct udphdr) + TFTP_ACK_LEN ||
	    a->opcode != TFTP_OP_ACK || s->state != XB_TFTP_ACTIVE)
		return TFTP_STEP_PASS;
	d = (__u16)s->last_sent - a->block;
	if (d) {
		/* Behind by less than half the block space: stale. Ahead
		 * (an ACK of a block never sent): xbootd decides. */
		if (d < 0x8000) {
			count(XB_STAT_TFTP_DUP_ACK);
			return TFTP_STEP_DROP;
		}
		return TFTP_STEP_PASS;
	}
	if (s->last_sent >= s->total) {
		struct xb_tftp_sess done = *s;

		bpf_map_delete_elem(&xb_tftp_sess, &a->key);
		tftp_event(a, &done, bpf_ktime_get_boot_ns());
		count(XB_STAT_TFTP_DONE);
		return TFTP_STEP_DROP;
	}
	*sp = s;
	*blk = s->last_sent + 1;
	return TFTP_STEP_SEND;
}

/* Block blk went out. Two CPUs on one ACK would both send it; harmless. */
static __always_inline void tftp_session_advance(struct xb_tftp_sess *s)
{
	s->last_sent++;
	s->last_ns = bpf_ktime_get_boot_ns();
}

/* Bytes of block blk (1-based) of s, and where in the file they start. */
static __always_inline __u32 tftp_block_len(const struct xb_tftp_sess *s,
					    __u32 blk, __u64 *off)
{
	*off = (__u64)(blk - 1) * s->blksize;
	if (*off >= s->size)
		return 0;
	return s->size - *off < s->blksize ? s->size - *off : s->blksize;
}

/*
 * The DATA frame's headers for block blk of len bytes, answering a; returns
 * the UDP checksum's sum so far (pseudo header, UDP header, opcode and
 * block), to which the block source adds the data, or -1.
 */
static __always_inline long tftp_data_hdrs(const struct tftp_ack *a,
					   __u32 blk, __u32 len,
					   struct tftp_hdrs *h)
{
	struct tftp_pseudo ph = {};
	__be32 word;
	__u64 sum;

	__builtin_memcpy(h->eth.h_dest, a->src_mac, 6);
	__builtin_memcpy(h->eth.h_source, a->dst_mac, 6);
	h->eth.h_proto = bpf_htons(ETH_P_IP);
	h->ip.version = 4;
	h->ip.ihl = 5;
	h->ip.tot_len = bpf_htons(20 + 8 + TFTP_HDR + len);
	h->ip.frag_off = bpf_htons(0x4000); /* DF, as the kernel sends */
	h->ip.ttl = 64;
	h->ip.protocol = IPPROTO_UDP;
	h->ip.saddr = a->daddr;
	h->ip.daddr = a->key.client_ip;
	h->ip.check = csum_fold(csum_block20(&h->ip, 0));
	h->udp.source = a->key.server_port;
	h->udp.dest = a->key.client_port;
	h->udp.len = bpf_htons(8 + TFTP_HDR + len);
	h->opcode = bpf_htons(TFTP_OP_DATA);
	h->block = bpf_htons((__u16)blk);

	ph.saddr = h->ip.saddr;
	ph.daddr = h->ip.daddr;
	ph.proto = IPPROTO_UDP;
	ph.len = h->udp.len;
	ph.udp = h->udp;
	ph.opcode = h->opcode;
	ph.block = h->block;
	sum = csum_block20(&ph, 0);
	__builtin_memcpy(&word, &ph.opcode, 4);
	return bpf_csum_diff(NULL, 0, &word, 4, (__u32)sum);
}

static __always_inline __u16 tftp_udp_check(__u64 sum)
{
	__u16 check = csum_fold(sum);

	/* 0 means "no checksum" in UDP: send its other form. */
	return check ? check : 0xffff;
}

/* --- the XDP tier -------------------------------------------------------- */

/* tftp_build_data()'s failures: no room leaves the frame as it came, for
 * the TC tier; any other failure is xbootd's. */
#define TFTP_NO_ROOM (-1)
#define TFTP_FAILED (-2)

/* Rewrite the ACK frame into DATA block blk; 0, TFTP_NO_ROOM or
 * TFTP_FAILED (the frame put back as it was either way). */
static __always_inline int tftp_build_data(struct xdp_md *ctx,
					   const struct tftp_ack *a,
					   const struct xb_tftp_sess *s,
					   __u32 blk)
{
	struct tftp_hdrs h = {};
	__u64 off;
	__u32 len = tftp_block_len(s, blk, &off);
	int delta, grew;
	long cs;

	if (len > XB_TFTP_BLKSIZE_MAX)
		return TFTP_FAILED;
	delta = (int)(TFTP_HDRS_LEN + len) - (int)a->frame_len;
	/* The frame is written from its start, so room at either end will
	 * do: veth leaves little tailroom, but there are 256 bytes of
	 * headroom. A frame that fits neither is the TC tier's. */
	if (!bpf_xdp_adjust_tail(ctx, delta))
		grew = GREW_TAIL;
	else if (delta > 0 && !bpf_xdp_adjust_head(ctx, -delta))
		grew = GREW_HEAD;
	else
		return TFTP_NO_ROOM;

	cs = tftp_data_hdrs(a, blk, len, &h);
	if (cs < 0)
		goto err;
	cs = xb_block_copy(ctx, false, s->file_id, s->generation, off, len,
			   TFTP_HDRS_LEN, (__u64)cs);
	if (cs < 0)
		goto err;
	h.udp.check = tftp_udp_check((__u64)cs);
	if (bpf_xdp_store_bytes(ctx, 0, &h, sizeof(h)))
		goto err;
	return 0;
err:
	if (grew == GREW_TAIL)
		bpf_xdp_adjust_tail(ctx, -delta);
	else
		bpf_xdp_adjust_head(ctx, delta);
	return TFTP_FAILED;
}

/* XDP_TX, XDP_DROP, XDP_PASS, or TFTP_NOT_OURS. */
XB_GLOBAL int xb_tftp(struct xdp_md *ctx)
{
	struct xb_tftp_sess *s = NULL;
	struct tftp_ack a = {};
	struct cursor c;
	__u32 blk = 0;
	int ret;

	if (!ctx)
		return TFTP_NOT_OURS;
	cursor_init(&c, ctx);
	ret = tftp_parse(&c, ctx->data_end - ctx->data, &a);
	if (ret < 0)
		return TFTP_NOT_OURS;
	switch (tftp_session_step(&a, ret, &s, &blk)) {
	case TFTP_STEP_NOT_OURS:
		return TFTP_NOT_OURS;
	case TFTP_STEP_DROP:
		return XDP_DROP;
	case TFTP_STEP_SEND:
		break;
	default:
		goto pass;
	}
	if (!s)
		goto pass;
	ret = tftp_build_data(ctx, &a, s, blk);
	if (ret == TFTP_NO_ROOM) {
		/* Untouched, session and all: the TC tier sends it. */
		count(XB_STAT_TFTP_TO_TC);
		return XDP_PASS;
	}
	if (ret)
		goto pass;
	tftp_session_advance(s);
	count(XB_STAT_TFTP_TX_DATA);
	return XDP_TX;
pass:
	count(XB_STAT_TFTP_PASS);
	return XDP_PASS;
}

/* --- the TC tier --------------------------------------------------------- */

static __always_inline void cursor_init_skb(struct cursor *c,
					    struct __sk_buff *skb)
{
	c->pos = (void *)(long)skb->data;
	c->end = (void *)(long)skb->data_end;
}

#define TFTP_UDP_CHECK_OFF (sizeof(struct ethhdr) + sizeof(struct iphdr) + \
			    offsetof(struct udphdr, check))

/*
 * The DATA frame keeps the ACK's skb, and with it the ACK's checksum
 * state: an ACK from a local sender (a veth peer, a virtio guest with
 * offloads) is CHECKSUM_PARTIAL, and then the UDP checksum field must hold
 * only the pseudo header's sum, which whoever completes the checksum adds
 * the rest to. The program cannot see the state; bpf_l4_csum_replace()
 * acts on it: a pseudo-header change of x, then a payload change of -x,
 * leaves a whole checksum as it was and turns a PARTIAL one into the
 * pseudo header's sum.
 */
static __always_inline int tftp_skb_csum_state(struct __sk_buff *skb,
					       const struct tftp_hdrs *h)
{
	struct {
		__be32 saddr;
		__be32 daddr;
		__u8 zero;
		__u8 proto;
		__be16 len;
	} ph = {
		.saddr = h->ip.saddr,
		.daddr = h->ip.daddr,
		.proto = IPPROTO_UDP,
		.len = h->udp.len,
	};
	__u32 x;
	long ps;

	ps = bpf_csum_diff(NULL, 0, (__be32 *)&ph, sizeof(ph), 0);
	if (ps < 0)
		return -1;
	/* x = ps - check, in ones' complement (end-around carry) */
	x = (__u32)ps + (__u32)(0xffff - h->udp.check);
	x += x < (__u32)ps;
	if (bpf_l4_csum_replace(skb, TFTP_UDP_CHECK_OFF, 0, x,
				BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0))
		return -1;
	if (bpf_l4_csum_replace(skb, TFTP_UDP_CHECK_OFF, 0, ~x,
				BPF_F_MARK_MANGLED_0))
		return -1;
	return 0;
}

/* Grow (or trim) the skb into DATA block blk, written whole; 0 or
 * TFTP_FAILED, with the skb's length put back. */
static __always_inline int tftp_build_data_skb(struct __sk_buff *skb,
					       const struct tftp_ack *a,
					       const struct xb_tftp_sess *s,
					       __u32 blk)
{
	struct tftp_hdrs h = {};
	__u64 off;
	__u32 len = tftp_block_len(s, blk, &off);
	long cs;

	if (len > XB_TFTP_BLKSIZE_MAX)
		return TFTP_FAILED;
	if (bpf_skb_change_tail(skb, TFTP_HDRS_LEN + len, 0))
		return TFTP_FAILED;
	cs = tftp_data_hdrs(a, blk, len, &h);
	if (cs < 0)
		goto err;
	cs = xb_block_copy(skb, true, s->file_id, s->generation, off, len,
			   TFTP_HDRS_LEN, (__u64)cs);
	if (cs < 0)
		goto err;
	h.udp.check = tftp_udp_check((__u64)cs);
	if (bpf_skb_store_bytes(skb, 0, &h, sizeof(h), 0))
		goto err;
	if (tftp_skb_csum_state(skb, &h))
		goto err;
	/* Nothing downstream may take the ACK's "already verified" for
	 * this frame's. */
	bpf_csum_level(skb, BPF_CSUM_LEVEL_RESET);
	return 0;
err:
	bpf_skb_change_tail(skb, a->frame_len, 0);
	return TFTP_FAILED;
}

/*
 * TC_ACT_REDIRECT (the DATA block out of the interface the ACK came in
 * on), TC_ACT_SHOT, or TC_ACT_OK (to the stack: xbootd's socket, or not
 * TFTP). A pass by the rules is not counted here: XDP saw the same frame
 * first and counted it.
 */
static __always_inline int xb_tftp_tc(struct __sk_buff *skb)
{
	struct xb_tftp_sess *s = NULL;
	struct tftp_ack a = {};
	struct cursor c;
	__u32 blk = 0;
	int ret;

	if (skb->protocol != bpf_htons(ETH_P_IP) || skb->len < TFTP_HDRS_LEN)
		return TC_ACT_OK;
	/* The headers in the linear part, for direct access. */
	if (bpf_skb_pull_data(skb, TFTP_HDRS_LEN))
		return TC_ACT_OK;
	cursor_init_skb(&c, skb);
	ret = tftp_parse(&c, skb->len, &a);
	if (ret < 0)
		return TC_ACT_OK;
	switch (tftp_session_step(&a, ret, &s, &blk)) {
	case TFTP_STEP_DROP:
		return TC_ACT_SHOT;
	case TFTP_STEP_SEND:
		break;
	default:
		return TC_ACT_OK;
	}
	if (!s)
		return TC_ACT_OK;
	if (tftp_build_data_skb(skb, &a, s, blk)) {
		count(XB_STAT_TFTP_PASS);
		return TC_ACT_OK;
	}
	tftp_session_advance(s);
	count(XB_STAT_TFTP_TC_DATA);
	return bpf_redirect(skb->ifindex, 0);
}

#endif /* XBOOT_BPF_TFTP_H */
