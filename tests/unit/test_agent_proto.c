// SPDX-License-Identifier: GPL-2.0
/*
 * The agent protocol codec: every message type encoded and decoded back,
 * the stream parser on split and concatenated frames, the encoder's bounds,
 * and a table of bad frames, each refused with the errno and reason the
 * specification (include/xboot/agent.h) gives.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "agent_proto.h"

static uint8_t buf[XBA_FRAME_MAX + 64];

static const uint8_t mac1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t mac2[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

/* Parses buf[0..len) as one whole frame of the given type. */
static void parse_ok(size_t len, uint8_t type, struct agent_frame *f)
{
	assert_int_equal(agent_frame_parse(buf, len, f), (ssize_t)len);
	assert_int_equal(f->type, type);
}

static void sample_hello(struct agent_hello *h, bool token)
{
	memset(h, 0, sizeof(*h));
	h->version_min = 1;
	h->version_max = 1;
	strcpy(h->agent_version, "xboot-agent 0.5");
	h->n_macs = 2;
	memcpy(h->macs[0], mac1, 6);
	memcpy(h->macs[1], mac2, 6);
	h->has_uuid = true;
	memset(h->uuid, 0x11, sizeof(h->uuid));
	memset(h->boot_id, 0x22, sizeof(h->boot_id));
	h->resume_seq = 7;
	if (token) {
		h->has_token = true;
		memset(h->token, 0xa5, sizeof(h->token));
	} else {
		h->credential_len = 5;
		memcpy(h->credential, "s3cr3", 5);
	}
}

static size_t build_hello(bool token)
{
	struct agent_hello h;
	struct agent_msg m;

	sample_hello(&h, token);
	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_HELLO, 0, 0);
	assert_int_equal(agent_build_hello(&m, &h), 0);
	return agent_msg_finish(&m);
}

static void test_hello(void **state)
{
	struct agent_hello want, got;
	struct agent_frame f;
	size_t n;
	int token;

	(void)state;
	for (token = 0; token < 2; token++) {
		n = build_hello(token);
		parse_ok(n, XBA_MSG_HELLO, &f);
		assert_int_equal(f.version, XBA_VERSION_MIN);
		assert_int_equal(f.seq, 0);
		assert_int_equal(agent_parse_hello(&f, &got), 0);
		sample_hello(&want, token);
		assert_memory_equal(&got, &want, sizeof(got));
		agent_hello_wipe(&got);
		assert_int_equal(got.credential_len, 0);
		assert_false(got.has_token);
	}
}

static void test_welcome_refused(void **state)
{
	struct agent_welcome w;
	struct agent_refused r = { .reason = XBA_REFUSED_RATE_LIMITED,
				   .retry_after_ms = 30000,
				   .text = "too many failures" }, r2;
	struct agent_welcome w2;
	struct agent_frame f;
	struct agent_msg m;
	ssize_t n;

	(void)state;
	/* memset, not an initializer: the structs are compared bytewise */
	memset(&w, 0, sizeof(w));
	w.version = 1;
	w.session_id = 1ULL << 40;
	w.heartbeat_ms = 5000;
	w.resume_seq = 42;
	w.has_token = true;
	memset(w.token, 0x5a, sizeof(w.token));
	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_WELCOME, 0, 0);
	agent_build_welcome(&m, &w);
	n = agent_msg_finish(&m);
	parse_ok(n, XBA_MSG_WELCOME, &f);
	assert_int_equal(agent_parse_welcome(&f, &w2), 0);
	assert_memory_equal(&w, &w2, sizeof(w));
	agent_welcome_wipe(&w2);
	assert_false(w2.has_token);

	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_REFUSED, 0, 0);
	agent_build_refused(&m, &r);
	n = agent_msg_finish(&m);
	parse_ok(n, XBA_MSG_REFUSED, &f);
	assert_int_equal(agent_parse_refused(&f, &r2), 0);
	assert_int_equal(r2.reason, XBA_REFUSED_RATE_LIMITED);
	assert_int_equal(r2.retry_after_ms, 30000);
	assert_string_equal(r2.text, "too many failures");
}

static void sample_inventory(struct agent_inventory *inv, unsigned int nics,
			     unsigned int disks)
{
	unsigned int i;

	memset(inv, 0, sizeof(*inv));
	strcpy(inv->vendor, "QEMU");
	strcpy(inv->product, "Standard PC (i440FX + PIIX, 1996)");
	inv->cpus = 2;
	inv->memory_bytes = 2ULL << 30;
	inv->n_nics = nics;
	for (i = 0; i < nics; i++) {
		memcpy(inv->nics[i].mac, mac1, 6);
		inv->nics[i].mac[5] = i;
		snprintf(inv->nics[i].name, sizeof(inv->nics[i].name),
			 "eth%u", i);
		inv->nics[i].speed_mbps = i ? 1000 * i : 0;
	}
	inv->n_disks = disks;
	for (i = 0; i < disks; i++) {
		snprintf(inv->disks[i].name, sizeof(inv->disks[i].name),
			 "vd%c", 'a' + i % 26);
		inv->disks[i].size = (i + 1) * (1ULL << 33);
		if (i % 2) {
			strcpy(inv->disks[i].model, "QEMU HARDDISK");
			strcpy(inv->disks[i].serial, "QM0001");
		}
		inv->disks[i].rotational = (int)(i % 3) - 1;
	}
}

static size_t build_inventory(unsigned int nics, unsigned int disks)
{
	struct agent_inventory inv;
	struct agent_msg m;

	sample_inventory(&inv, nics, disks);
	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_INVENTORY, 0, 3);
	agent_build_inventory(&m, &inv);
	return agent_msg_finish(&m);
}

static void test_inventory(void **state)
{
	struct agent_inventory want, got;
	struct agent_frame f;
	unsigned int n[][2] = { { 0, 0 }, { 1, 1 }, { 3, 5 },
				{ XBA_NICS_MAX, XBA_DISKS_MAX } };
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
		len = build_inventory(n[i][0], n[i][1]);
		parse_ok(len, XBA_MSG_INVENTORY, &f);
		assert_int_equal(f.seq, 3);
		assert_int_equal(agent_parse_inventory(&f, &got), 0);
		sample_inventory(&want, n[i][0], n[i][1]);
		assert_memory_equal(&got, &want, sizeof(got));
	}
}

static void test_jobs(void **state)
{
	const char *args[] = { "echo hi; exit 3", "", "--x" };
	struct agent_job j = { .id = 99, .type = XBA_JOB_RUN, .timeout_s = 60,
			       .n_args = 3 }, j2;
	struct agent_job_status s, s2;
	struct agent_job_output o = { .id = 99, .offset = 65536,
				      .data = (const uint8_t *)"a\0b", .len = 3 },
				o2;
	struct agent_frame f;
	struct agent_msg m;
	ssize_t n;
	unsigned int i;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.id = 99;
	s.state = XBA_JOB_STATE_DONE;
	s.has_exit_code = true;
	s.exit_code = -9;
	s.has_output_bytes = true;
	s.output_bytes = 1ULL << 35;
	strcpy(s.text, "killed");
	memcpy(j.args, args, sizeof(args));
	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_JOB, 0, 1);
	agent_build_job(&m, &j);
	n = agent_msg_finish(&m);
	parse_ok(n, XBA_MSG_JOB, &f);
	assert_int_equal(agent_parse_job(&f, &j2), 0);
	assert_int_equal(j2.id, 99);
	assert_int_equal(j2.type, XBA_JOB_RUN);
	assert_int_equal(j2.timeout_s, 60);
	assert_int_equal(j2.n_args, 3);
	for (i = 0; i < 3; i++)
		assert_string_equal(j2.args[i], args[i]);

	/* an unknown job type reaches the agent, which answers "failed" */
	j.type = 0x7fff;
	j.n_args = 0;
	j.timeout_s = 0;
	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_JOB, XBA_F_RESENT, 2);
	agent_build_job(&m, &j);
	n = agent_msg_finish(&m);
	parse_ok(n, XBA_MSG_JOB, &f);
	assert_int_equal(f.flags, XBA_F_RESENT);
	assert_int_equal(agent_parse_job(&f, &j2), 0);
	assert_int_equal(j2.type, 0x7fff);
	assert_int_equal(j2.n_args, 0);

	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_JOB_STATUS, 0, 5);
	agent_build_job_status(&m, &s);
	n = agent_msg_finish(&m);
	parse_ok(n, XBA_MSG_JOB_STATUS, &f);
	assert_int_equal(agent_parse_job_status(&f, &s2), 0);
	assert_memory_equal(&s, &s2, sizeof(s));

	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_JOB_OUTPUT, 0, 6);
	agent_build_job_output(&m, &o);
	n = agent_msg_finish(&m);
	parse_ok(n, XBA_MSG_JOB_OUTPUT, &f);
	assert_int_equal(agent_parse_job_output(&f, &o2), 0);
	assert_int_equal(o2.id, 99);
	assert_int_equal(o2.offset, 65536);
	assert_int_equal(o2.len, 3);
	assert_memory_equal(o2.data, "a\0b", 3);
}

static void test_small_messages(void **state)
{
	struct agent_bye b = { .reason = XBA_BYE_REBOOT, .text = "kexec" }, b2;
	struct agent_frame f;
	struct agent_msg m;
	uint32_t ack;
	ssize_t n;

	(void)state;
	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_ACK, 0, 0);
	agent_build_ack(&m, 0xfffffffe);
	n = agent_msg_finish(&m);
	assert_int_equal(n, XBA_HDR_LEN + 8);
	parse_ok(n, XBA_MSG_ACK, &f);
	assert_int_equal(agent_parse_ack(&f, &ack), 0);
	assert_int_equal(ack, 0xfffffffe);

	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_HEARTBEAT, 0, 0);
	n = agent_msg_finish(&m);
	assert_int_equal(n, XBA_HDR_LEN);
	parse_ok(n, XBA_MSG_HEARTBEAT, &f);
	assert_string_equal(agent_msg_name(f.type), "HEARTBEAT");
	assert_string_equal(agent_msg_name(200), "UNKNOWN");

	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_BYE, 0, 0);
	agent_build_bye(&m, &b);
	n = agent_msg_finish(&m);
	parse_ok(n, XBA_MSG_BYE, &f);
	assert_int_equal(agent_parse_bye(&f, &b2), 0);
	assert_int_equal(b2.reason, XBA_BYE_REBOOT);
	assert_string_equal(b2.text, "kexec");
	/* a decoder of another type refuses the frame */
	assert_int_equal(agent_parse_ack(&f, &ack), -EINVAL);
}

/* Unknown attributes, and known ones foreign to the message, are skipped. */
static void test_forward_compatible(void **state)
{
	struct agent_frame f;
	struct agent_msg m;
	uint32_t ack;
	ssize_t n;

	(void)state;
	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_ACK, 0, 0);
	agent_put_string(&m, 0x7777, "from the future");
	agent_put_u32(&m, XBA_A_ACK_SEQ, 9);
	agent_put_bytes(&m, XBA_A_CPUS, "", 0);
	agent_put_u8(&m, 0x7777, 1);
	n = agent_msg_finish(&m);
	parse_ok(n, XBA_MSG_ACK, &f);
	assert_int_equal(agent_parse_ack(&f, &ack), 0);
	assert_int_equal(ack, 9);
}

/* A byte stream: frames back to back, cut anywhere. */
static void test_stream(void **state)
{
	struct agent_frame f;
	struct agent_msg m;
	size_t a, b, cut;
	ssize_t n;

	(void)state;
	a = build_hello(false);
	agent_msg_init(&m, buf + a, sizeof(buf) - a, XBA_MSG_ACK, 0, 0);
	agent_build_ack(&m, 1);
	b = agent_msg_finish(&m);
	for (cut = 0; cut < a; cut++)
		assert_int_equal(agent_frame_parse(buf, cut, &f), -EAGAIN);
	assert_int_equal(agent_frame_parse(buf, a + b, &f), (ssize_t)a);
	for (cut = 0; cut < b; cut++)
		assert_int_equal(agent_frame_parse(buf + a, cut, &f), -EAGAIN);
	n = agent_frame_parse(buf + a, b + 3, &f);
	assert_int_equal(n, (ssize_t)b);
	assert_int_equal(f.type, XBA_MSG_ACK);
}

static void test_encoder_bounds(void **state)
{
	static uint8_t big[XBA_ATTR_VALUE_MAX + 1];
	uint8_t small[24];
	struct agent_msg m;
	int i;

	(void)state;
	agent_msg_init(&m, small, 8, XBA_MSG_ACK, 0, 0);
	assert_int_equal(agent_msg_finish(&m), -EMSGSIZE);

	agent_msg_init(&m, small, sizeof(small), XBA_MSG_ACK, 0, 0);
	assert_int_equal(agent_put_u32(&m, XBA_A_ACK_SEQ, 1), 0);
	assert_int_equal(agent_put_u32(&m, XBA_A_ACK_SEQ, 1), -EMSGSIZE);
	assert_int_equal(agent_put_u8(&m, XBA_A_ACK_SEQ, 1), -EMSGSIZE);
	assert_int_equal(agent_msg_finish(&m), -EMSGSIZE);

	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_JOB_OUTPUT, 0, 1);
	assert_int_equal(agent_put_bytes(&m, XBA_A_DATA, big, sizeof(big)),
			 -EMSGSIZE);

	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_INVENTORY, 0, 1);
	agent_nest_begin(&m, XBA_A_NICS);
	assert_int_equal(agent_msg_finish(&m), -EINVAL);
	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_INVENTORY, 0, 1);
	assert_int_equal(agent_nest_end(&m), -EINVAL);
	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_INVENTORY, 0, 1);
	for (i = 0; i < AGENT_NEST_DEPTH; i++)
		assert_int_equal(agent_nest_begin(&m, XBA_A_NICS), 0);
	assert_int_equal(agent_nest_begin(&m, XBA_A_NICS), -EINVAL);

	/* the encoder never writes a frame larger than XBA_FRAME_MAX */
	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_JOB, 0, 1);
	for (i = 0; i < 17 && !m.err; i++)
		agent_put_bytes(&m, XBA_A_JOB_ARG, big, XBA_ATTR_VALUE_MAX);
	assert_int_equal(agent_msg_finish(&m), -EMSGSIZE);
}

/* --- bad frames --------------------------------------------------------- */

static void set16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void set32(uint8_t *p, uint32_t v)
{
	set16(p, v >> 16);
	set16(p + 2, v);
}

static size_t ack_frame(void)
{
	struct agent_msg m;

	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_ACK, 0, 0);
	agent_build_ack(&m, 1);
	return agent_msg_finish(&m);
}

/* One message with whatever attributes put() writes, no checks. */
static size_t frame_with(uint8_t type, uint32_t seq,
			 void (*put)(struct agent_msg *m))
{
	struct agent_msg m;

	agent_msg_init(&m, buf, sizeof(buf), type, 0, seq);
	put(&m);
	return agent_msg_finish(&m);
}

static size_t bad_magic(void)
{
	size_t n = ack_frame();

	buf[3] = '2';
	return n;
}

static size_t tls_hello(void)
{
	memcpy(buf, "\x16\x03\x01", 3);
	return 3;
}

static size_t version_2(void)
{
	size_t n = ack_frame();

	buf[4] = 2;
	return n;
}

static size_t version_0(void)
{
	size_t n = ack_frame();

	buf[4] = 0;
	return n;
}

static size_t unknown_type(void)
{
	size_t n = ack_frame();

	buf[5] = 99;
	return n;
}

static size_t unknown_flag(void)
{
	size_t n = ack_frame();

	set16(buf + 6, 0x8000);
	return n;
}

static size_t oversize(void)
{
	ack_frame();
	set32(buf + 8, XBA_FRAME_MAX - XBA_HDR_LEN + 4);
	return XBA_HDR_LEN;
}

static size_t trunc_header(void)
{
	ack_frame();
	return XBA_HDR_LEN - 1;
}

static size_t trunc_body(void)
{
	return ack_frame() - 1;
}

static size_t body_unaligned(void)
{
	size_t n = ack_frame();

	set32(buf + 8, n - XBA_HDR_LEN + 2);
	return n + 2;
}

static size_t attr_overrun(void)
{
	size_t n = ack_frame();

	set16(buf + XBA_HDR_LEN + 2, 12);
	return n;
}

static size_t attr_too_short(void)
{
	size_t n = ack_frame();

	set16(buf + XBA_HDR_LEN + 2, 3);
	return n;
}

static size_t seq_on_ack(void)
{
	size_t n = ack_frame();

	set32(buf + 12, 5);
	return n;
}

static void put_empty_ack_seq(struct agent_msg *m)
{
	agent_put_bytes(m, XBA_A_ACK_SEQ, NULL, 0);
}

static size_t zero_len_int(void)
{
	return frame_with(XBA_MSG_ACK, 0, put_empty_ack_seq);
}

static void put_empty_data(struct agent_msg *m)
{
	agent_put_u64(m, XBA_A_JOB_ID, 1);
	agent_put_u64(m, XBA_A_OFFSET, 0);
	agent_put_bytes(m, XBA_A_DATA, NULL, 0);
}

static size_t zero_len_data(void)
{
	return frame_with(XBA_MSG_JOB_OUTPUT, 1, put_empty_data);
}

static void put_empty_text(struct agent_msg *m)
{
	agent_put_bytes(m, XBA_A_REASON_TEXT, NULL, 0);
}

static size_t zero_len_string(void)
{
	return frame_with(XBA_MSG_BYE, 0, put_empty_text);
}

static void put_text_no_nul(struct agent_msg *m)
{
	agent_put_bytes(m, XBA_A_REASON_TEXT, "bye", 3);
}

static size_t string_no_nul(void)
{
	return frame_with(XBA_MSG_BYE, 0, put_text_no_nul);
}

static void put_text_inner_nul(struct agent_msg *m)
{
	agent_put_bytes(m, XBA_A_REASON_TEXT, "b\0ye", 5);
}

static size_t string_inner_nul(void)
{
	return frame_with(XBA_MSG_BYE, 0, put_text_inner_nul);
}

static void put_long_text(struct agent_msg *m)
{
	char s[XBA_TEXT_MAX + 1];

	memset(s, 'x', XBA_TEXT_MAX);
	s[XBA_TEXT_MAX] = 0;
	agent_put_string(m, XBA_A_REASON_TEXT, s);
}

static size_t string_too_long(void)
{
	return frame_with(XBA_MSG_BYE, 0, put_long_text);
}

static void put_two_acks(struct agent_msg *m)
{
	agent_put_u32(m, XBA_A_ACK_SEQ, 1);
	agent_put_u32(m, XBA_A_ACK_SEQ, 2);
}

static size_t duplicate(void)
{
	return frame_with(XBA_MSG_ACK, 0, put_two_acks);
}

static void put_nothing(struct agent_msg *m)
{
}

static size_t missing(void)
{
	return frame_with(XBA_MSG_ACK, 0, put_nothing);
}

static size_t reliable_no_seq(void)
{
	return frame_with(XBA_MSG_JOB_OUTPUT, 0, put_empty_data);
}

static void put_inventory_base(struct agent_msg *m)
{
	agent_put_u32(m, XBA_A_CPUS, 1);
	agent_put_u64(m, XBA_A_MEMORY_BYTES, 1 << 30);
}

static void put_nic(struct agent_msg *m, unsigned int i, bool named)
{
	agent_nest_begin(m, XBA_LIST_ENTRY);
	agent_put_bytes(m, XBA_NIC_A_MAC, mac1, 6);
	if (named)
		agent_put_string(m, XBA_NIC_A_NAME, "eth0");
	agent_nest_end(m);
}

static void put_nic_overrun(struct agent_msg *m)
{
	put_inventory_base(m);
	agent_nest_begin(m, XBA_A_NICS);
	put_nic(m, 0, true);
	agent_nest_end(m);
	/* the 28-byte entry claims 4 bytes more than its nest holds */
	set16(m->buf + m->len - 28 + 2, 32);
}

static size_t nest_overrun(void)
{
	return frame_with(XBA_MSG_INVENTORY, 1, put_nic_overrun);
}

static void put_nic_unnamed(struct agent_msg *m)
{
	put_inventory_base(m);
	agent_nest_begin(m, XBA_A_NICS);
	put_nic(m, 0, false);
	agent_nest_end(m);
}

static size_t nic_missing_name(void)
{
	return frame_with(XBA_MSG_INVENTORY, 1, put_nic_unnamed);
}

static void put_17_nics(struct agent_msg *m)
{
	unsigned int i;

	put_inventory_base(m);
	agent_nest_begin(m, XBA_A_NICS);
	for (i = 0; i <= XBA_NICS_MAX; i++)
		put_nic(m, i, true);
	agent_nest_end(m);
}

static size_t too_many_nics(void)
{
	return frame_with(XBA_MSG_INVENTORY, 1, put_17_nics);
}

static void put_33_disks(struct agent_msg *m)
{
	unsigned int i;

	put_inventory_base(m);
	agent_nest_begin(m, XBA_A_DISKS);
	for (i = 0; i <= XBA_DISKS_MAX; i++) {
		agent_nest_begin(m, XBA_LIST_ENTRY);
		agent_put_string(m, XBA_DISK_A_NAME, "sda");
		agent_put_u64(m, XBA_DISK_A_SIZE, 1);
		agent_nest_end(m);
	}
	agent_nest_end(m);
}

static size_t too_many_disks(void)
{
	return frame_with(XBA_MSG_INVENTORY, 1, put_33_disks);
}

static void put_rotational_2(struct agent_msg *m)
{
	put_inventory_base(m);
	agent_nest_begin(m, XBA_A_DISKS);
	agent_nest_begin(m, XBA_LIST_ENTRY);
	agent_put_string(m, XBA_DISK_A_NAME, "sda");
	agent_put_u64(m, XBA_DISK_A_SIZE, 1);
	agent_put_u8(m, XBA_DISK_A_ROTATIONAL, 2);
	agent_nest_end(m);
	agent_nest_end(m);
}

static size_t bad_rotational(void)
{
	return frame_with(XBA_MSG_INVENTORY, 1, put_rotational_2);
}

static void put_33_args(struct agent_msg *m)
{
	unsigned int i;

	agent_put_u64(m, XBA_A_JOB_ID, 1);
	agent_put_u16(m, XBA_A_JOB_TYPE, XBA_JOB_RUN);
	for (i = 0; i <= XBA_JOB_ARGS_MAX; i++)
		agent_put_string(m, XBA_A_JOB_ARG, "a");
}

static void put_job_id_0(struct agent_msg *m)
{
	agent_put_u64(m, XBA_A_JOB_ID, 0);
	agent_put_u16(m, XBA_A_JOB_TYPE, XBA_JOB_REBOOT);
}

static size_t job_id_0(void)
{
	return frame_with(XBA_MSG_JOB, 1, put_job_id_0);
}

static size_t too_many_args(void)
{
	return frame_with(XBA_MSG_JOB, 1, put_33_args);
}

static void put_hello_base(struct agent_msg *m, unsigned int macs)
{
	static const uint8_t id[16];
	unsigned int i;

	agent_put_u8(m, XBA_A_VERSION_MIN, 1);
	agent_put_u8(m, XBA_A_VERSION_MAX, 1);
	agent_put_string(m, XBA_A_AGENT_VERSION, "t");
	agent_put_bytes(m, XBA_A_BOOT_ID, id, sizeof(id));
	agent_put_u32(m, XBA_A_RESUME_SEQ, 0);
	agent_nest_begin(m, XBA_A_MACS);
	for (i = 0; i < macs; i++)
		agent_put_bytes(m, XBA_LIST_ENTRY, mac1, 6);
	agent_nest_end(m);
}

static void put_hello_both(struct agent_msg *m)
{
	static const uint8_t tok[XBA_TOKEN_LEN];

	put_hello_base(m, 1);
	agent_put_bytes(m, XBA_A_CREDENTIAL, "c", 1);
	agent_put_bytes(m, XBA_A_TOKEN, tok, sizeof(tok));
}

static size_t hello_both_secrets(void)
{
	return frame_with(XBA_MSG_HELLO, 0, put_hello_both);
}

static void put_hello_none(struct agent_msg *m)
{
	put_hello_base(m, 1);
}

static size_t hello_no_secret(void)
{
	return frame_with(XBA_MSG_HELLO, 0, put_hello_none);
}

static void put_hello_no_macs(struct agent_msg *m)
{
	put_hello_base(m, 0);
	agent_put_bytes(m, XBA_A_CREDENTIAL, "c", 1);
}

static size_t hello_no_macs(void)
{
	return frame_with(XBA_MSG_HELLO, 0, put_hello_no_macs);
}

static void put_hello_many_macs(struct agent_msg *m)
{
	put_hello_base(m, XBA_MACS_MAX + 1);
	agent_put_bytes(m, XBA_A_CREDENTIAL, "c", 1);
}

static size_t hello_too_many_macs(void)
{
	return frame_with(XBA_MSG_HELLO, 0, put_hello_many_macs);
}

static void put_hello_short_token(struct agent_msg *m)
{
	put_hello_base(m, 1);
	agent_put_bytes(m, XBA_A_TOKEN, "short", 5);
}

static size_t hello_short_token(void)
{
	return frame_with(XBA_MSG_HELLO, 0, put_hello_short_token);
}

static void put_bad_state(struct agent_msg *m)
{
	agent_put_u64(m, XBA_A_JOB_ID, 1);
	agent_put_u8(m, XBA_A_JOB_STATE, __XBA_JOB_STATE_LAST);
}

static size_t bad_job_state(void)
{
	return frame_with(XBA_MSG_JOB_STATUS, 1, put_bad_state);
}

static void put_welcome_no_heartbeat(struct agent_msg *m)
{
	agent_put_u8(m, XBA_A_VERSION, 1);
	agent_put_u64(m, XBA_A_SESSION_ID, 1);
	agent_put_u32(m, XBA_A_HEARTBEAT_MS, 0);
	agent_put_u32(m, XBA_A_RESUME_SEQ, 0);
}

static size_t welcome_zero_heartbeat(void)
{
	return frame_with(XBA_MSG_WELCOME, 0, put_welcome_no_heartbeat);
}

/* Frame parse, then the typed decoder of the frame's type. */
static int decode(size_t len, const char **why)
{
	union {
		struct agent_hello h;
		struct agent_welcome w;
		struct agent_refused r;
		struct agent_inventory inv;
		struct agent_job j;
		struct agent_job_status s;
		struct agent_job_output o;
		struct agent_bye b;
		uint32_t ack;
	} u;
	struct agent_frame f;
	ssize_t n;
	int err = 0;

	n = agent_frame_parse(buf, len, &f);
	*why = f.why;
	if (n < 0)
		return n;
	switch (f.type) {
	case XBA_MSG_HELLO: err = agent_parse_hello(&f, &u.h); break;
	case XBA_MSG_WELCOME: err = agent_parse_welcome(&f, &u.w); break;
	case XBA_MSG_REFUSED: err = agent_parse_refused(&f, &u.r); break;
	case XBA_MSG_INVENTORY: err = agent_parse_inventory(&f, &u.inv); break;
	case XBA_MSG_JOB: err = agent_parse_job(&f, &u.j); break;
	case XBA_MSG_JOB_STATUS: err = agent_parse_job_status(&f, &u.s); break;
	case XBA_MSG_JOB_OUTPUT: err = agent_parse_job_output(&f, &u.o); break;
	case XBA_MSG_ACK: err = agent_parse_ack(&f, &u.ack); break;
	case XBA_MSG_BYE: err = agent_parse_bye(&f, &u.b); break;
	}
	*why = f.why;
	return err;
}

static const struct bad_frame {
	const char *name;
	size_t (*build)(void);
	int err;
	const char *why; /* a substring of the reason; NULL for -EAGAIN */
} bad_frames[] = {
	{ "bad magic", bad_magic, -EPROTO, "magic" },
	{ "TLS on the wire", tls_hello, -EPROTO, "magic" },
	{ "version 2", version_2, -EPROTONOSUPPORT, "version" },
	{ "version 0", version_0, -EPROTONOSUPPORT, "version" },
	{ "unknown type", unknown_type, -EOPNOTSUPP, "type" },
	{ "unknown flag", unknown_flag, -EOPNOTSUPP, "flags" },
	{ "oversize", oversize, -EMSGSIZE, "XBA_FRAME_MAX" },
	{ "truncated header", trunc_header, -EAGAIN, NULL },
	{ "truncated body", trunc_body, -EAGAIN, NULL },
	{ "body unaligned", body_unaligned, -EBADMSG, "whole number" },
	{ "attribute overrun", attr_overrun, -EBADMSG, "past its end" },
	{ "attribute < header", attr_too_short, -EBADMSG, "shorter" },
	{ "seq on ACK", seq_on_ack, -EINVAL, "seq on an unreliable" },
	{ "reliable, seq 0", reliable_no_seq, -EINVAL, "without seq" },
	{ "zero-length u32", zero_len_int, -EINVAL, "wrong size" },
	{ "zero-length data", zero_len_data, -EINVAL, "wrong size" },
	{ "zero-length string", zero_len_string, -EINVAL, "empty string" },
	{ "string without NUL", string_no_nul, -EINVAL, "without its NUL" },
	{ "string inner NUL", string_inner_nul, -EINVAL, "NUL inside" },
	{ "string too long", string_too_long, -EINVAL, "too long" },
	{ "duplicate singular", duplicate, -EINVAL, "duplicate" },
	{ "missing required", missing, -ENODATA, "missing" },
	{ "nest overrun", nest_overrun, -EBADMSG, "past its end" },
	{ "NIC without name", nic_missing_name, -ENODATA, "missing" },
	{ "17 NICs", too_many_nics, -E2BIG, "too many" },
	{ "33 disks", too_many_disks, -E2BIG, "too many" },
	{ "rotational 2", bad_rotational, -EINVAL, "rotational" },
	{ "33 job args", too_many_args, -E2BIG, "too many" },
	{ "job id 0", job_id_0, -EINVAL, "job id 0" },
	{ "hello, both secrets", hello_both_secrets, -EINVAL, "exactly one" },
	{ "hello, no secret", hello_no_secret, -ENODATA, "exactly one" },
	{ "hello, no MACs", hello_no_macs, -ENODATA, "MACs" },
	{ "hello, 17 MACs", hello_too_many_macs, -E2BIG, "too many" },
	{ "hello, short token", hello_short_token, -EINVAL, "wrong size" },
	{ "job state unknown", bad_job_state, -EINVAL, "job state" },
	{ "heartbeat 0", welcome_zero_heartbeat, -EINVAL, "heartbeat" },
};

static void test_bad_frames(void **state)
{
	const struct bad_frame *t;
	const char *why;
	size_t i, len;
	int err;

	(void)state;
	for (i = 0; i < sizeof(bad_frames) / sizeof(bad_frames[0]); i++) {
		t = &bad_frames[i];
		memset(buf, 0, 4096);
		len = t->build();
		err = decode(len, &why);
		if (err != t->err || (t->why && (!why || !strstr(why, t->why))))
			fail_msg("%s: got %d (%s), want %d (%s)", t->name, err,
				 why ? why : "-", t->err, t->why ? t->why : "-");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_welcome_refused),
		cmocka_unit_test(test_inventory),
		cmocka_unit_test(test_jobs),
		cmocka_unit_test(test_small_messages),
		cmocka_unit_test(test_forward_compatible),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_encoder_bounds),
		cmocka_unit_test(test_bad_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
