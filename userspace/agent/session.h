/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent's side of the protocol's RELIABILITY AND RESUME rules
 * (include/xboot/agent.h), kept free of sockets so it can be tested alone:
 * the numbering of the reliable frames the agent sends, the queue that
 * holds them until the controller acknowledges them (across reconnects,
 * for the life of the agent's boot id), which controller frames were
 * processed, and the reconnect backoff.
 *
 * Frames leave through one write buffer: sess_fill() copies into it the
 * unreliable frames waiting (ACK, HEARTBEAT, BYE) and then the reliable
 * frames not yet sent on this connection, and the caller writes it out
 * before asking for more. A copy costs little and leaves the queue free
 * to drop acknowledged frames while a write is still under way.
 */
#ifndef XBOOT_AGENT_SESSION_H
#define XBOOT_AGENT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_proto.h"

/* Unacknowledged bytes beyond which the job's output is not read. */
#define SESS_QUEUE_CAP (32U << 20)
/* How much sess_fill() puts in the write buffer at most per call. */
#define SESS_WBUF_CHUNK (256U << 10)

struct sess_frame {
	struct sess_frame *next;
	uint32_t seq;
	bool sent;	/* written on some connection already */
	bool resend;	/* goes out again with XBA_F_RESENT */
	size_t len;
	uint8_t data[];
};

struct sess {
	uint32_t send_seq;	/* the last seq given to a reliable frame */
	uint32_t acked_seq;	/* the controller committed up to here */
	uint32_t recv_seq;	/* the last controller seq processed */
	uint32_t ack_sent;	/* the last recv_seq we acknowledged */

	struct sess_frame *head, *tail;
	struct sess_frame *unsent;	/* the first not sent on this conn */
	size_t queued_bytes;
	size_t queued_frames;
	/* between connect and WELCOME: only unreliable frames (HELLO) go */
	bool hold;

	/* unreliable frames waiting for the write buffer */
	uint8_t *ctl;
	size_t ctl_len, ctl_cap;

	/* the write buffer of this connection */
	uint8_t *wbuf;
	size_t wlen, woff, wcap;
};

void sess_init(struct sess *s);
void sess_free(struct sess *s);

/* The seq for the next reliable frame (taken: call sess_queue() next). */
uint32_t sess_next_seq(struct sess *s);
/* Keeps a finished reliable frame (its seq in the header) until ACKed. */
int sess_queue(struct sess *s, const void *frame, size_t len);
/* An unreliable frame for the next sess_fill(). */
int sess_queue_ctl(struct sess *s, const void *frame, size_t len);
bool sess_queue_full(const struct sess *s);

/* A cumulative ACK: drops the frames up to ack_seq. -EINVAL past send_seq. */
int sess_ack(struct sess *s, uint32_t ack_seq);

/*
 * A new connection's WELCOME said the controller committed up to
 * resume_seq: drop what it holds, send the rest again from the start (the
 * frames already sent once with XBA_F_RESENT). Until then (after
 * sess_init() or sess_disconnect()) only unreliable frames are written.
 */
void sess_resume(struct sess *s, uint32_t resume_seq);
/*
 * WELCOME said XBA_A_RESUME_SEQ 0: the controller holds nothing of this
 * boot id (it never committed a frame, or it forgot the boot id) and
 * counts both directions from 0. Renumbers the queue from 1 and forgets
 * which controller seqs were processed (a controller that forgot the
 * boot id has failed that agent's jobs, it sends none of them again).
 * True when anything changed.
 */
bool sess_restart(struct sess *s);
/*
 * The connection is gone: what was in flight is not lost, only unwritten.
 * Reliable frames wait for the next WELCOME (sess_resume()).
 */
void sess_disconnect(struct sess *s);
/* Zeroes the idle write buffers, which held HELLO and its secret. */
void sess_wipe_buffers(struct sess *s);

/*
 * A reliable controller frame arrived: true when it is new and must be
 * processed (then recorded), false for one processed already (drop it;
 * it is acknowledged again all the same).
 */
bool sess_recv(struct sess *s, uint32_t seq);
/* Is an ACK owed? Then the seq to acknowledge, recorded as sent. */
bool sess_ack_due(struct sess *s, uint32_t *ack_seq);
/* Make the next sess_ack_due() answer even without news (after resume). */
void sess_ack_again(struct sess *s);

/* Bytes to write (wbuf + woff, wlen - woff), refilled when it runs dry. */
size_t sess_fill(struct sess *s);
void sess_wrote(struct sess *s, size_t n);
bool sess_want_write(const struct sess *s);

/* Reconnect backoff: 500 ms doubling to 30 s, +-20% jitter. */
#define BACKOFF_MIN_MS 500U
#define BACKOFF_MAX_MS 30000U
#define BACKOFF_RESET_MS 10000U	/* a session this long resets it */

struct backoff {
	unsigned int next_ms;	/* before jitter */
};

void backoff_reset(struct backoff *b);
/* The delay to wait now; rnd is any random value (jitter). */
unsigned int backoff_next(struct backoff *b, uint32_t rnd);
/* A session ended after lasting ms: long ones start the backoff afresh. */
void backoff_session_ended(struct backoff *b, uint64_t lasted_ms);

#endif /* XBOOT_AGENT_SESSION_H */
