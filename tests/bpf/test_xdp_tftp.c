// SPDX-License-Identifier: GPL-2.0
/*
 * The TFTP hot-block path under BPF_PROG_TEST_RUN: ACK frames in, DATA
 * frames (or a drop, or a pass) out, through the XDP program and through
 * the TC tier (an skb test run), whose DATA frames must be byte for byte
 * the XDP program's for the same ACK. Files go into xb_blocks with the
 * same layout xdp_ctl_tftp_load() writes; every DATA frame's checksums are
 * recomputed here and its payload compared with the file. The kfunc build
 * is only opened here (loading it needs xboot.ko: tests/vm).
 *
 * Needs root (BPF); exits 77 when the kernel or the privileges are not
 * there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xboot/xdp.h"
#include "xboot_xdp.skel.h"
#include "xboot_xdp_kfunc.skel.h"
#include "xdp_test.h"

#define IFINDEX 1
#define CLIENT_IP "10.0.0.50"
#define SERVER_IP "10.0.0.1"
#define CLIENT_PORT 40000
#define SERVER_PORT 50000
#define FILE_ID 7

static struct xboot_xdp *skel;
static struct ring_buffer *rb;
static struct xb_tftp_event last_ev;
static int nevents;

static const uint8_t client_mac[6] = { 0x52, 0x54, 0, 0, 0, 0x50 };
static const uint8_t server_mac[6] = { 0x52, 0x54, 0, 0, 0, 0x01 };


struct hdrs {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	uint16_t opcode;
	uint16_t block;
} __attribute__((packed));

static uint8_t *file_data;
static uint64_t file_size;

/* --- helpers ------------------------------------------------------------ */



static void load_file(uint32_t id, uint64_t size, uint32_t generation)
{
	struct xb_file f = { .size = size, .generation = generation };
	struct xb_block_key k = { .file_id = id };
	static struct xb_block b;
	uint64_t pages = (size + XB_BLOCK_PAGE - 1) / XB_BLOCK_PAGE, i;

	free(file_data);
	file_data = malloc(size + 1);
	assert_non_null(file_data);
	for (i = 0; i < size; i++)
		file_data[i] = (uint8_t)(i * 7 + (i >> 12) + 3);
	file_size = size;
	for (k.page = 0; k.page < pages; k.page++) {
		uint64_t off = (uint64_t)k.page * XB_BLOCK_PAGE;
		uint64_t n = size - off < sizeof(b.data) ? size - off
							: sizeof(b.data);

		memset(&b, 0, sizeof(b));
		memcpy(b.data, file_data + off, n);
		assert_int_equal(bpf_map_update_elem(
			bpf_map__fd(skel->maps.xb_blocks), &k, &b, BPF_ANY), 0);
	}
	f.pages = pages;
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.xb_files),
					     &id, &f, BPF_ANY), 0);
}

static struct xb_tftp_key key_of(uint16_t cport)
{
	struct xb_tftp_key k = { .client_port = htons(cport),
				 .server_port = htons(SERVER_PORT) };

	inet_pton(AF_INET, CLIENT_IP, &k.client_ip);
	return k;
}

static void add_session(uint32_t blksize, uint32_t last_sent,
			uint32_t generation)
{
	struct xb_tftp_key k = key_of(CLIENT_PORT);
	struct xb_tftp_sess s = {
		.file_id = FILE_ID,
		.generation = generation,
		.blksize = blksize,
		.last_sent = last_sent,
		.total = (uint32_t)(file_size / blksize + 1),
		.state = XB_TFTP_ACTIVE,
		.size = file_size,
	};

	inet_pton(AF_INET, SERVER_IP, &s.server_ip);
	assert_int_equal(bpf_map_update_elem(
		bpf_map__fd(skel->maps.xb_tftp_sess), &k, &s, BPF_ANY), 0);
}

static int get_session(struct xb_tftp_sess *s)
{
	struct xb_tftp_key k = key_of(CLIENT_PORT);

	return bpf_map_lookup_elem(bpf_map__fd(skel->maps.xb_tftp_sess), &k,
				   s);
}

/* A client's frame to the session port: opcode, block, extra bytes. */
static void make_frame(struct frame *f, uint16_t cport, uint16_t opcode,
		       uint16_t block, size_t extra)
{
	struct hdrs *h = (struct hdrs *)f->b;
	size_t udp_len = sizeof(h->udp) + 4 + extra;

	memset(f->b, 0, sizeof(f->b));
	memcpy(h->eth.h_dest, server_mac, 6);
	memcpy(h->eth.h_source, client_mac, 6);
	h->eth.h_proto = htons(ETH_P_IP);
	h->ip.version = 4;
	h->ip.ihl = 5;
	h->ip.ttl = 64;
	h->ip.protocol = IPPROTO_UDP;
	h->ip.tot_len = htons(20 + udp_len);
	inet_pton(AF_INET, CLIENT_IP, &h->ip.saddr);
	inet_pton(AF_INET, SERVER_IP, &h->ip.daddr);
	h->udp.source = htons(cport);
	h->udp.dest = htons(SERVER_PORT);
	h->udp.len = htons(udp_len);
	h->opcode = htons(opcode);
	h->block = htons(block);
	f->len = sizeof(struct ethhdr) + 20 + udp_len;
	/* Ethernet's minimum, as a NIC delivers it. */
	if (f->len < 60)
		f->len = 60;
}

static int run(const struct frame *in, struct frame *out)
{
	struct xdp_md ctx = { .data_end = (__u32)in->len,
			      .ingress_ifindex = IFINDEX };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = in->b,
		    .data_size_in = (__u32)in->len, .data_out = out->b,
		    .data_size_out = sizeof(out->b), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(
		bpf_program__fd(skel->progs.xboot_dhcp), &topts), 0);
	out->len = topts.data_size_out;
	return (int)topts.retval;
}

/* The same frame through the TC tier: TC_ACT_* (TC_ACT_REDIRECT for a
 * DATA block sent back out). */
static int run_tc(const struct frame *in, struct frame *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = in->b,
		    .data_size_in = (__u32)in->len, .data_out = out->b,
		    .data_size_out = sizeof(out->b), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(
		bpf_program__fd(skel->progs.xboot_tftp_tc), &topts), 0);
	out->len = topts.data_size_out;
	return (int)topts.retval;
}

/* The DATA frame for absolute block blk of blksize, checked whole. */
static void check_data(const struct frame *f, uint32_t blk, uint32_t blksize)
{
	const struct hdrs *h = (const struct hdrs *)f->b;
	uint64_t off = (uint64_t)(blk - 1) * blksize;
	size_t n = off < file_size ? (file_size - off < blksize ?
				      file_size - off : blksize) : 0;
	uint8_t pseudo[12];
	uint32_t sum;

	assert_int_equal(f->len, sizeof(*h) + n);
	assert_memory_equal(h->eth.h_dest, client_mac, 6);
	assert_memory_equal(h->eth.h_source, server_mac, 6);
	assert_int_equal(h->ip.ihl, 5);
	assert_int_equal(ntohs(h->ip.tot_len), 20 + 8 + 4 + n);
	assert_int_equal(xt_fold(xt_sum16((const uint8_t *)&h->ip, 20, 0)), 0xffff);
	assert_int_equal(ntohs(h->udp.source), SERVER_PORT);
	assert_int_equal(ntohs(h->udp.dest), CLIENT_PORT);
	assert_int_equal(ntohs(h->udp.len), 8 + 4 + n);
	assert_int_equal(ntohs(h->opcode), 3);
	assert_int_equal(ntohs(h->block), (uint16_t)blk);
	if (n)
		assert_memory_equal(f->b + sizeof(*h), file_data + off, n);
	memcpy(pseudo, &h->ip.saddr, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	memcpy(pseudo + 10, &h->udp.len, 2);
	sum = xt_sum16(pseudo, 12, 0);
	sum = xt_sum16((const uint8_t *)&h->udp, 8 + 4 + n, sum);
	assert_int_not_equal(h->udp.check, 0);
	assert_int_equal(xt_fold(sum), 0xffff);
}

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size >= sizeof(last_ev)) {
		memcpy(&last_ev, data, sizeof(last_ev));
		nevents++;
	}
	return 0;
}

static int setup(void **state)
{
	struct xb_tftp_key k = key_of(CLIENT_PORT);

	(void)state;
	bpf_map_delete_elem(bpf_map__fd(skel->maps.xb_tftp_sess), &k);
	ring_buffer__consume(rb);
	nevents = 0;
	return 0;
}

/* A whole transfer from ACK first_ack on, ACK by ACK. */
static void transfer(uint32_t blksize, uint64_t size)
{
	uint32_t total = (uint32_t)(size / blksize + 1), blk;
	uint64_t tx = xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_TX_DATA);
	uint64_t done = xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_DONE);
	struct xb_tftp_sess s;
	struct frame in, out;

	load_file(FILE_ID, size, 1);
	add_session(blksize, 0, 1);
	for (blk = 1; blk <= total; blk++) {
		make_frame(&in, CLIENT_PORT, 4, (uint16_t)(blk - 1), 0);
		assert_int_equal(run(&in, &out), XDP_TX);
		check_data(&out, blk, blksize);
		assert_int_equal(get_session(&s), 0);
		assert_int_equal(s.last_sent, blk);
	}
	make_frame(&in, CLIENT_PORT, 4, (uint16_t)total, 0);
	assert_int_equal(run(&in, &out), XDP_DROP);
	assert_int_not_equal(get_session(&s), 0);
	ring_buffer__consume(rb);
	assert_int_equal(nevents, 1);
	assert_int_equal(last_ev.type, XB_EV_TFTP_DONE);
	assert_int_equal(ntohs(last_ev.client_port), CLIENT_PORT);
	assert_int_equal(ntohs(last_ev.server_port), SERVER_PORT);
	assert_int_equal(last_ev.blocks, total);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_TX_DATA) - tx, total);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_DONE) - done, 1);
}

/* --- tests -------------------------------------------------------------- */

static void test_blksize_512(void **state)
{
	(void)state;
	transfer(512, 5000);
}

static void test_blksize_1428(void **state)
{
	(void)state;
	transfer(1428, 10001);
}

static void test_blksize_1432(void **state)
{
	(void)state;
	transfer(1432, 9999);
}

static void test_blksize_1468(void **state)
{
	(void)state;
	transfer(1468, 3 * 4096 + 1); /* blocks across page boundaries */
}

static void test_blksize_8(void **state)
{
	(void)state;
	transfer(8, 203);
}

static void test_exact_multiple(void **state)
{
	(void)state;
	transfer(512, 512 * 9); /* ends with a 0-byte block */
}

static void test_empty_file(void **state)
{
	(void)state;
	transfer(512, 0);
}

static void test_small_files(void **state)
{
	(void)state;
	transfer(512, 511);
	setup(NULL);
	transfer(512, 513);
	setup(NULL);
	transfer(1468, 1);
}

static void test_duplicate_ack(void **state)
{
	uint64_t dup = xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_DUP_ACK);
	struct xb_tftp_sess s;
	struct frame in, out;

	(void)state;
	load_file(FILE_ID, 4000, 1);
	add_session(512, 0, 1);
	make_frame(&in, CLIENT_PORT, 4, 0, 0);
	assert_int_equal(run(&in, &out), XDP_TX);
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	assert_int_equal(run(&in, &out), XDP_TX);
	/* ACK 1 again, then ACK 0: both stale */
	assert_int_equal(run(&in, &out), XDP_DROP);
	make_frame(&in, CLIENT_PORT, 4, 0, 0);
	assert_int_equal(run(&in, &out), XDP_DROP);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_DUP_ACK) - dup, 2);
	assert_int_equal(get_session(&s), 0);
	assert_int_equal(s.last_sent, 2);
}

static void test_pass_cases(void **state)
{
	uint64_t pass = xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_PASS);
	struct frame in, out;
	struct hdrs *h = (struct hdrs *)in.b;

	(void)state;
	load_file(FILE_ID, 4000, 1);
	add_session(512, 1, 1);
	/* Unknown session (wrong TID): not ours, passed. */
	make_frame(&in, CLIENT_PORT + 1, 4, 1, 0);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* An ACK of a block not yet sent. */
	make_frame(&in, CLIENT_PORT, 4, 5, 0);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* An ERROR from the client. */
	make_frame(&in, CLIENT_PORT, 5, 0, 8);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* An ACK with a byte too many. */
	make_frame(&in, CLIENT_PORT, 4, 1, 1);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* A UDP length longer than the IP packet. */
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	h->ip.tot_len = htons(30);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* A frame cut inside the TFTP header. */
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	in.len = sizeof(struct hdrs) - 2;
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* IP options (the ports then read as other ones: not counted). */
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	h->ip.ihl = 6;
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* To another address of ours on the same port. */
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	h->ip.daddr = htonl(0x0a000002);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_PASS) - pass, 6);
	/* After all that, the in-order ACK still works. */
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_data(&out, 2, 512);
}

static void test_generation_changed(void **state)
{
	struct frame in, out;

	(void)state;
	load_file(FILE_ID, 4000, 2);
	add_session(512, 0, 1);
	make_frame(&in, CLIENT_PORT, 4, 0, 0);
	assert_int_equal(run(&in, &out), XDP_PASS);
}

static void test_block_wrap(void **state)
{
	struct xb_tftp_sess s;
	struct frame in, out;

	(void)state;
	/* 8-byte blocks: 65536 blocks in 512 KiB. */
	load_file(FILE_ID, 65537 * 8 + 3, 1);
	add_session(8, 65535, 1);
	make_frame(&in, CLIENT_PORT, 4, 65535, 0);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_data(&out, 65536, 8);
	assert_int_equal(ntohs(((struct hdrs *)out.b)->block), 0);
	make_frame(&in, CLIENT_PORT, 4, 0, 0);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_data(&out, 65537, 8);
	/* Stale across the wrap. */
	make_frame(&in, CLIENT_PORT, 4, 65535, 0);
	assert_int_equal(run(&in, &out), XDP_DROP);
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_data(&out, 65538, 8); /* the final, 3 bytes */
	make_frame(&in, CLIENT_PORT, 4, 2, 0);
	assert_int_equal(run(&in, &out), XDP_DROP);
	assert_int_not_equal(get_session(&s), 0);
}

static void test_missing_page(void **state)
{
	struct xb_block_key k = { .file_id = FILE_ID, .page = 1 };
	struct frame in, out;

	(void)state;
	load_file(FILE_ID, 9000, 1);
	bpf_map_delete_elem(bpf_map__fd(skel->maps.xb_blocks), &k);
	add_session(1468, 3, 1);
	make_frame(&in, CLIENT_PORT, 4, 3, 0);
	assert_int_equal(run(&in, &out), XDP_PASS); /* block 4: page 1 */
	assert_int_equal(out.len, 60); /* untouched */
}

/* --- the TC tier ------------------------------------------------------- */

static void set_last_sent(uint32_t last_sent)
{
	struct xb_tftp_key k = key_of(CLIENT_PORT);
	struct xb_tftp_sess s;

	assert_int_equal(get_session(&s), 0);
	s.last_sent = last_sent;
	assert_int_equal(bpf_map_update_elem(
		bpf_map__fd(skel->maps.xb_tftp_sess), &k, &s, BPF_ANY), 0);
}

/* A whole transfer through the TC tier; each ACK also goes through XDP
 * first (the session put back after), and the two DATA frames must be the
 * same bytes. */
static void transfer_tc(uint32_t blksize, uint64_t size)
{
	uint32_t total = (uint32_t)(size / blksize + 1), blk;
	uint64_t tc = xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_TC_DATA);
	uint64_t done = xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_DONE);
	struct xb_tftp_sess s;
	struct frame in, out, xout;

	load_file(FILE_ID, size, 1);
	add_session(blksize, 0, 1);
	for (blk = 1; blk <= total; blk++) {
		make_frame(&in, CLIENT_PORT, 4, (uint16_t)(blk - 1), 0);
		assert_int_equal(run(&in, &xout), XDP_TX);
		set_last_sent(blk - 1);
		assert_int_equal(run_tc(&in, &out), TC_ACT_REDIRECT);
		check_data(&out, blk, blksize);
		assert_int_equal(out.len, xout.len);
		assert_memory_equal(out.b, xout.b, out.len);
		assert_int_equal(get_session(&s), 0);
		assert_int_equal(s.last_sent, blk);
	}
	make_frame(&in, CLIENT_PORT, 4, (uint16_t)total, 0);
	assert_int_equal(run_tc(&in, &out), TC_ACT_SHOT);
	assert_int_not_equal(get_session(&s), 0);
	ring_buffer__consume(rb);
	assert_int_equal(nevents, 1);
	assert_int_equal(last_ev.type, XB_EV_TFTP_DONE);
	assert_int_equal(ntohs(last_ev.client_port), CLIENT_PORT);
	assert_int_equal(last_ev.blocks, total);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_TC_DATA) - tc, total);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_DONE) - done, 1);
}

static void test_tc_blksize_512(void **state)
{
	(void)state;
	transfer_tc(512, 5000);
}

static void test_tc_blksize_1432(void **state)
{
	(void)state;
	transfer_tc(1432, 3 * 4096 + 1); /* blocks across page boundaries */
}

static void test_tc_small_files(void **state)
{
	(void)state;
	transfer_tc(512, 0);
	setup(NULL);
	transfer_tc(512, 512 * 3); /* ends with a 0-byte block */
	setup(NULL);
	transfer_tc(1468, 1);
}

static void test_tc_duplicate_ack(void **state)
{
	uint64_t dup = xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_DUP_ACK);
	struct xb_tftp_sess s;
	struct frame in, out;

	(void)state;
	load_file(FILE_ID, 4000, 1);
	add_session(1432, 0, 1);
	make_frame(&in, CLIENT_PORT, 4, 0, 0);
	assert_int_equal(run_tc(&in, &out), TC_ACT_REDIRECT);
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	assert_int_equal(run_tc(&in, &out), TC_ACT_REDIRECT);
	check_data(&out, 2, 1432);
	/* ACK 1 again, then ACK 0: both stale, dropped */
	assert_int_equal(run_tc(&in, &out), TC_ACT_SHOT);
	make_frame(&in, CLIENT_PORT, 4, 0, 0);
	assert_int_equal(run_tc(&in, &out), TC_ACT_SHOT);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TFTP_DUP_ACK) - dup, 2);
	assert_int_equal(get_session(&s), 0);
	assert_int_equal(s.last_sent, 2);
}

/* What the TC tier leaves to the stack goes there as it came. */
static void tc_passes(const struct frame *in)
{
	struct frame out;

	assert_int_equal(run_tc(in, &out), TC_ACT_OK);
	assert_int_equal(out.len, in->len);
	assert_memory_equal(out.b, in->b, in->len);
}

static void test_tc_pass_cases(void **state)
{
	struct xb_tftp_sess s;
	struct frame in, out;
	struct hdrs *h = (struct hdrs *)in.b;

	(void)state;
	load_file(FILE_ID, 4000, 1);
	add_session(1432, 1, 1);
	/* Wrong TID (another client port): no session, the stack's. */
	make_frame(&in, CLIENT_PORT + 1, 4, 1, 0);
	tc_passes(&in);
	/* Unknown session: another client address. */
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	h->ip.saddr = htonl(0x0a000063);
	tc_passes(&in);
	/* An ACK of a block not yet sent; an ERROR; an ACK too long. */
	make_frame(&in, CLIENT_PORT, 4, 5, 0);
	tc_passes(&in);
	make_frame(&in, CLIENT_PORT, 5, 0, 8);
	tc_passes(&in);
	make_frame(&in, CLIENT_PORT, 4, 1, 1);
	tc_passes(&in);
	/* IP options; another address of ours. */
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	h->ip.ihl = 6;
	tc_passes(&in);
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	h->ip.daddr = htonl(0x0a000002);
	tc_passes(&in);
	assert_int_equal(get_session(&s), 0);
	assert_int_equal(s.last_sent, 1);
	/* After all that, the in-order ACK still works. */
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	assert_int_equal(run_tc(&in, &out), TC_ACT_REDIRECT);
	check_data(&out, 2, 1432);
}

static void test_tc_generation_changed(void **state)
{
	struct frame in;

	(void)state;
	load_file(FILE_ID, 4000, 2);
	add_session(1432, 0, 1);
	make_frame(&in, CLIENT_PORT, 4, 0, 0);
	tc_passes(&in); /* the skb put back to its length */
}

static void test_tc_block_wrap(void **state)
{
	struct xb_tftp_sess s;
	struct frame in, out, xout;

	(void)state;
	load_file(FILE_ID, 65537 * 8 + 3, 1);
	add_session(8, 65535, 1);
	make_frame(&in, CLIENT_PORT, 4, 65535, 0);
	assert_int_equal(run(&in, &xout), XDP_TX);
	set_last_sent(65535);
	assert_int_equal(run_tc(&in, &out), TC_ACT_REDIRECT);
	check_data(&out, 65536, 8);
	assert_memory_equal(out.b, xout.b, out.len);
	assert_int_equal(ntohs(((struct hdrs *)out.b)->block), 0);
	make_frame(&in, CLIENT_PORT, 4, 0, 0);
	assert_int_equal(run_tc(&in, &out), TC_ACT_REDIRECT);
	check_data(&out, 65537, 8);
	/* Stale across the wrap. */
	make_frame(&in, CLIENT_PORT, 4, 65535, 0);
	assert_int_equal(run_tc(&in, &out), TC_ACT_SHOT);
	make_frame(&in, CLIENT_PORT, 4, 1, 0);
	assert_int_equal(run_tc(&in, &out), TC_ACT_REDIRECT);
	check_data(&out, 65538, 8);
	make_frame(&in, CLIENT_PORT, 4, 2, 0);
	assert_int_equal(run_tc(&in, &out), TC_ACT_SHOT);
	assert_int_not_equal(get_session(&s), 0);
}

/* Not TFTP at all (ARP, a runt): the stack's, untouched. */
static void test_tc_not_ip(void **state)
{
	struct frame in;
	struct hdrs *h = (struct hdrs *)in.b;

	(void)state;
	make_frame(&in, CLIENT_PORT, 4, 0, 0);
	h->eth.h_proto = htons(ETH_P_ARP);
	tc_passes(&in);
	make_frame(&in, CLIENT_PORT, 4, 0, 0);
	in.len = sizeof(struct ethhdr) + 20;
	tc_passes(&in);
}

/* The kfunc build is the same object with another block source: libbpf
 * must at least open it, with both programs and the same maps. */
static void test_kfunc_build_opens(void **state)
{
	struct xboot_xdp_kfunc *k;

	(void)state;
	k = xboot_xdp_kfunc__open();
	assert_non_null(k);
	assert_non_null(k->progs.xboot_dhcp);
	assert_non_null(k->progs.xboot_tftp_tc);
	assert_non_null(k->maps.xb_tftp_sess);
	assert_int_equal(bpf_map__value_size(k->maps.xb_tftp_sess),
			 sizeof(struct xb_tftp_sess));
	xboot_xdp_kfunc__destroy(k);
}

#define T(fn) cmocka_unit_test_setup(fn, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_blksize_512),   T(test_blksize_1428),
		T(test_blksize_1432),  T(test_blksize_1468),
		T(test_blksize_8),     T(test_exact_multiple),
		T(test_empty_file),    T(test_small_files),
		T(test_duplicate_ack), T(test_pass_cases),
		T(test_generation_changed), T(test_block_wrap),
		T(test_missing_page),
		T(test_tc_blksize_512), T(test_tc_blksize_1432),
		T(test_tc_small_files), T(test_tc_duplicate_ack),
		T(test_tc_pass_cases),  T(test_tc_generation_changed),
		T(test_tc_block_wrap),  T(test_tc_not_ip),
		T(test_kfunc_build_opens),
	};
	int ret;

	if (geteuid() != 0) {
		printf("SKIP: BPF program tests need root\n");
		return 77;
	}
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL) != 1) {
		printf("SKIP: this kernel cannot load XDP programs\n");
		return 77;
	}
	skel = xboot_xdp__open_and_load();
	if (!skel) {
		printf("FAIL: cannot load the XDP program: %s\n",
		       strerror(errno));
		return 1;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.xb_events), on_event, NULL,
			      NULL);
	if (!rb) {
		printf("FAIL: ring buffer: %s\n", strerror(errno));
		return 1;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	ring_buffer__free(rb);
	xboot_xdp__destroy(skel);
	free(file_data);
	return ret;
}
