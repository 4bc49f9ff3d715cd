// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's reliable queue and resume (userspace/agent/session.c): seq
 * numbering, cumulative ACKs, what a WELCOME's resume point drops and what
 * goes out again with XBA_F_RESENT, duplicate controller frames, the hold
 * between HELLO and WELCOME, the queue cap, and the reconnect backoff.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "session.h"

static uint8_t fbuf[XBA_FRAME_MAX];

/* Queues one reliable JOB_STATUS (any reliable type does) of this id. */
static uint32_t queue_status(struct sess *s, uint64_t id)
{
	struct agent_job_status st = { .id = id,
				       .state = XBA_JOB_STATE_RUNNING };
	uint32_t seq = sess_next_seq(s);
	struct agent_msg m;
	ssize_t len;

	agent_msg_init(&m, fbuf, sizeof(fbuf), XBA_MSG_JOB_STATUS, 0, seq);
	agent_build_job_status(&m, &st);
	len = agent_msg_finish(&m);
	assert_true(len > 0);
	assert_int_equal(sess_queue(s, fbuf, len), 0);
	return seq;
}

static void queue_heartbeat(struct sess *s)
{
	struct agent_msg m;
	ssize_t len;

	agent_msg_init(&m, fbuf, sizeof(fbuf), XBA_MSG_HEARTBEAT, 0, 0);
	len = agent_msg_finish(&m);
	assert_int_equal(sess_queue_ctl(s, fbuf, len), 0);
}

struct seen {
	int n;
	uint8_t type[64];
	uint32_t seq[64];
	uint16_t flags[64];
};

/* Drains everything sess_fill() hands out, parsing it as the wire would. */
static void drain(struct sess *s, struct seen *out)
{
	struct agent_frame f;
	size_t len, off;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	while ((len = sess_fill(s))) {
		for (off = 0; off < len; off += n) {
			n = agent_frame_parse(s->wbuf + s->woff + off,
					      len - off, &f);
			assert_true(n > 0);
			if (out->n < 64) {
				out->type[out->n] = f.type;
				out->seq[out->n] = f.seq;
				out->flags[out->n] = f.flags;
			}
			out->n++;
		}
		sess_wrote(s, len);
	}
}

static void test_numbering_and_ack(void **state)
{
	struct sess s;
	struct seen w;

	(void)state;
	sess_init(&s);
	assert_int_equal(queue_status(&s, 1), 1);
	assert_int_equal(queue_status(&s, 1), 2);
	assert_int_equal(queue_status(&s, 1), 3);
	/* held until WELCOME: nothing reliable before it */
	drain(&s, &w);
	assert_int_equal(w.n, 0);
	assert_false(sess_want_write(&s));
	sess_resume(&s, 0);
	drain(&s, &w);
	assert_int_equal(w.n, 3);
	assert_int_equal(w.seq[0], 1);
	assert_int_equal(w.seq[2], 3);
	assert_int_equal(w.flags[0], 0); /* first time out: not resent */
	assert_int_equal(s.queued_frames, 3);
	assert_int_equal(sess_ack(&s, 2), 0);
	assert_int_equal(s.queued_frames, 1);
	assert_int_equal(s.acked_seq, 2);
	/* an ACK of what was never sent is refused and changes nothing */
	assert_int_equal(sess_ack(&s, 9), -EINVAL);
	assert_int_equal(s.queued_frames, 1);
	/* an old ACK is harmless */
	assert_int_equal(sess_ack(&s, 1), 0);
	assert_int_equal(s.acked_seq, 2);
	assert_int_equal(sess_ack(&s, 3), 0);
	assert_int_equal(s.queued_frames, 0);
	assert_int_equal(s.queued_bytes, 0);
	sess_free(&s);
}

static void test_resume(void **state)
{
	struct sess s;
	struct seen w;
	uint32_t i;

	(void)state;
	sess_init(&s);
	sess_resume(&s, 0);
	for (i = 1; i <= 5; i++)
		queue_status(&s, 7);
	/* 1..3 written, then the connection drops */
	assert_true(sess_fill(&s) > 0);
	sess_wrote(&s, s.wlen);
	sess_disconnect(&s);
	queue_status(&s, 7); /* 6: queued while down, never sent */
	assert_false(sess_want_write(&s)); /* held until WELCOME */
	/* the controller committed up to 2 */
	sess_resume(&s, 2);
	drain(&s, &w);
	assert_int_equal(w.n, 4);
	for (i = 0; i < 3; i++) {
		assert_int_equal(w.seq[i], 3 + i);
		assert_int_equal(w.flags[i], XBA_F_RESENT);
	}
	assert_int_equal(w.seq[3], 6);
	assert_int_equal(w.flags[3], 0);
	assert_int_equal(s.acked_seq, 2);

	/* a controller claiming more than was sent drops nothing */
	sess_disconnect(&s);
	sess_resume(&s, 100);
	drain(&s, &w);
	assert_int_equal(w.n, 4);
	assert_int_equal(w.seq[0], 3);
	sess_free(&s);
}

static void test_restart(void **state)
{
	struct sess s;
	struct seen w;
	uint32_t ack;

	(void)state;
	sess_init(&s);
	/* a first WELCOME (0) of a fresh agent changes nothing */
	assert_false(sess_restart(&s));
	sess_resume(&s, 0);
	queue_status(&s, 1);
	queue_status(&s, 1);
	queue_status(&s, 1);
	drain(&s, &w);
	assert_int_equal(sess_ack(&s, 1), 0);
	assert_true(sess_recv(&s, 1));
	assert_true(sess_recv(&s, 2));
	sess_disconnect(&s);
	/* the controller forgot this boot id: both directions from 0 */
	assert_true(sess_restart(&s));
	sess_resume(&s, 0);
	assert_false(sess_ack_due(&s, &ack));
	drain(&s, &w);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.seq[0], 1);
	assert_int_equal(w.seq[1], 2);
	assert_int_equal(w.flags[0], XBA_F_RESENT);
	assert_int_equal(queue_status(&s, 1), 3);
	/* its JOB seq 1 is new again */
	assert_true(sess_recv(&s, 1));
	sess_free(&s);
}

static void test_recv_and_acks(void **state)
{
	struct sess s;
	uint32_t ack;

	(void)state;
	sess_init(&s);
	assert_false(sess_ack_due(&s, &ack));
	assert_true(sess_recv(&s, 1));
	assert_true(sess_recv(&s, 2));
	assert_true(sess_ack_due(&s, &ack));
	assert_int_equal(ack, 2);
	assert_false(sess_ack_due(&s, &ack));
	/* a duplicate is dropped but acknowledged again when asked */
	assert_false(sess_recv(&s, 2));
	assert_false(sess_recv(&s, 1));
	sess_ack_again(&s);
	assert_true(sess_ack_due(&s, &ack));
	assert_int_equal(ack, 2);
	/* after a resume the first ACK goes out again */
	sess_resume(&s, 0);
	assert_true(sess_ack_due(&s, &ack));
	assert_int_equal(ack, 2);
	sess_free(&s);
}

static void test_ctl_first(void **state)
{
	struct sess s;
	struct seen w;

	(void)state;
	sess_init(&s);
	queue_status(&s, 1);
	queue_heartbeat(&s);
	/* HELLO (here a heartbeat) goes out while reliable frames wait */
	assert_true(sess_want_write(&s));
	drain(&s, &w);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.type[0], XBA_MSG_HEARTBEAT);
	sess_resume(&s, 0);
	queue_heartbeat(&s);
	drain(&s, &w);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.type[0], XBA_MSG_HEARTBEAT);
	assert_int_equal(w.type[1], XBA_MSG_JOB_STATUS);
	/* a partial write keeps its place; a disconnect forgets it */
	queue_status(&s, 1);
	assert_true(sess_fill(&s) > 4);
	sess_wrote(&s, 4);
	assert_int_equal(s.woff, 4);
	sess_disconnect(&s);
	assert_int_equal(s.wlen, 0);
	sess_resume(&s, 1);
	drain(&s, &w);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.seq[0], 2);
	assert_int_equal(w.flags[0], XBA_F_RESENT);
	sess_free(&s);
}

static void test_queue_cap(void **state)
{
	struct agent_job_output o = { .id = 1, .data = fbuf + 65536,
				      .len = XBA_ATTR_VALUE_MAX };
	static uint8_t frame[70000];
	struct agent_msg m;
	struct sess s;
	struct seen w;
	ssize_t len = 1;
	int n = 0;

	(void)state;
	sess_init(&s);
	sess_resume(&s, 0);
	while (!sess_queue_full(&s)) {
		o.offset = (uint64_t)n * XBA_ATTR_VALUE_MAX;
		agent_msg_init(&m, frame, sizeof(frame), XBA_MSG_JOB_OUTPUT, 0,
			       sess_next_seq(&s));
		agent_build_job_output(&m, &o);
		len = agent_msg_finish(&m);
		assert_int_equal(sess_queue(&s, frame, len), 0);
		n++;
	}
	assert_true(s.queued_bytes >= SESS_QUEUE_CAP);
	assert_int_equal(n, (SESS_QUEUE_CAP + len - 1) / len);
	/* writes come in chunks of about SESS_WBUF_CHUNK */
	assert_true(sess_fill(&s) <= SESS_WBUF_CHUNK);
	sess_wrote(&s, s.wlen);
	drain(&s, &w);
	assert_int_equal(sess_ack(&s, n / 2), 0);
	assert_false(sess_queue_full(&s));
	sess_free(&s);
}

static void test_backoff(void **state)
{
	struct backoff b;
	unsigned int d, base = BACKOFF_MIN_MS;
	int i;

	(void)state;
	backoff_reset(&b);
	for (i = 0; i < 12; i++) {
		d = backoff_next(&b, 0);
		assert_int_equal(d, base - base / 5);
		base = base * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base * 2;
	}
	assert_int_equal(backoff_next(&b, 0xffffffffU) <= 36000, 1);
	d = backoff_next(&b, 2 * (BACKOFF_MAX_MS / 5));
	assert_int_equal(d, BACKOFF_MAX_MS + BACKOFF_MAX_MS / 5);
	/* a short session keeps backing off, a long one starts afresh */
	backoff_session_ended(&b, 2000);
	assert_int_equal(backoff_next(&b, 0), BACKOFF_MAX_MS * 4 / 5);
	backoff_session_ended(&b, BACKOFF_RESET_MS + 1);
	d = backoff_next(&b, 0);
	assert_int_equal(d, BACKOFF_MIN_MS * 4 / 5);
	for (i = 0; i < 1000; i++) {
		backoff_reset(&b);
		d = backoff_next(&b, (uint32_t)i * 2654435761U);
		assert_true(d >= 400 && d <= 600);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbering_and_ack),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_recv_and_acks),
		cmocka_unit_test(test_ctl_first),
		cmocka_unit_test(test_queue_cap),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
