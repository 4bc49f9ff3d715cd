// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's reliable send queue, resume and backoff (session.h). Pure
 * bookkeeping on buffers: the event loop in main.c moves the bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent_log.h"
#include "session.h"

bool agent_debug;

void sess_init(struct sess *s)
{
	memset(s, 0, sizeof(*s));
	s->hold = true;
}

void sess_free(struct sess *s)
{
	struct sess_frame *f, *next;

	for (f = s->head; f; f = next) {
		next = f->next;
		free(f);
	}
	free(s->ctl);
	free(s->wbuf);
	memset(s, 0, sizeof(*s));
}

uint32_t sess_next_seq(struct sess *s)
{
	return ++s->send_seq;
}

static uint32_t frame_seq(const uint8_t *p)
{
	return (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 |
	       (uint32_t)p[14] << 8 | p[15];
}

int sess_queue(struct sess *s, const void *frame, size_t len)
{
	struct sess_frame *f;

	if (len < XBA_HDR_LEN)
		return -EINVAL;
	f = malloc(sizeof(*f) + len);
	if (!f)
		return -ENOMEM;
	memcpy(f->data, frame, len);
	f->len = len;
	f->seq = frame_seq(f->data);
	f->sent = false;
	f->resend = false;
	f->next = NULL;
	if (s->tail)
		s->tail->next = f;
	else
		s->head = f;
	s->tail = f;
	if (!s->unsent)
		s->unsent = f;
	s->queued_bytes += len;
	s->queued_frames++;
	return 0;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 4096;
	uint8_t *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

int sess_queue_ctl(struct sess *s, const void *frame, size_t len)
{
	int err = grow(&s->ctl, &s->ctl_cap, s->ctl_len + len);

	if (err)
		return err;
	memcpy(s->ctl + s->ctl_len, frame, len);
	s->ctl_len += len;
	return 0;
}

bool sess_queue_full(const struct sess *s)
{
	return s->queued_bytes >= SESS_QUEUE_CAP;
}

/* Seq comparison that survives wrapping past 2^32 (it never should). */
static bool seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static void drop_upto(struct sess *s, uint32_t seq)
{
	struct sess_frame *f;

	while ((f = s->head) && !seq_after(f->seq, seq)) {
		s->head = f->next;
		if (!s->head)
			s->tail = NULL;
		if (s->unsent == f)
			s->unsent = f->next;
		s->queued_bytes -= f->len;
		s->queued_frames--;
		free(f);
	}
	if (seq_after(seq, s->acked_seq))
		s->acked_seq = seq;
}

int sess_ack(struct sess *s, uint32_t ack_seq)
{
	if (seq_after(ack_seq, s->send_seq))
		return -EINVAL;
	drop_upto(s, ack_seq);
	return 0;
}

void sess_disconnect(struct sess *s)
{
	s->ctl_len = 0;
	s->wlen = 0;
	s->woff = 0;
	s->hold = true;
	s->unsent = s->head;
}

void sess_wipe_buffers(struct sess *s)
{
	if (s->ctl && !s->ctl_len)
		explicit_bzero(s->ctl, s->ctl_cap);
	if (s->wbuf && s->woff == s->wlen)
		explicit_bzero(s->wbuf, s->wcap);
}

void sess_resume(struct sess *s, uint32_t resume_seq)
{
	struct sess_frame *f;

	/* a controller that claims more than we sent lost its mind: the
	 * frames it cannot have are sent again rather than dropped */
	if (seq_after(resume_seq, s->send_seq))
		resume_seq = s->acked_seq;
	drop_upto(s, resume_seq);
	for (f = s->head; f; f = f->next)
		f->resend = f->sent;
	s->unsent = s->head;
	s->hold = false;
	sess_ack_again(s);
}

static void set_seq(uint8_t *p, uint32_t seq)
{
	p[12] = seq >> 24;
	p[13] = seq >> 16;
	p[14] = seq >> 8;
	p[15] = seq;
}

bool sess_restart(struct sess *s)
{
	bool changed = s->recv_seq || s->acked_seq;
	struct sess_frame *f;
	uint32_t seq = 0;

	for (f = s->head; f; f = f->next) {
		f->seq = ++seq;
		set_seq(f->data, f->seq);
	}
	s->send_seq = seq;
	s->acked_seq = 0;
	s->recv_seq = 0;
	s->ack_sent = 0;
	return changed;
}

bool sess_recv(struct sess *s, uint32_t seq)
{
	if (!seq_after(seq, s->recv_seq))
		return false;
	s->recv_seq = seq;
	return true;
}

bool sess_ack_due(struct sess *s, uint32_t *ack_seq)
{
	if (!seq_after(s->recv_seq, s->ack_sent))
		return false;
	*ack_seq = s->ack_sent = s->recv_seq;
	return true;
}

void sess_ack_again(struct sess *s)
{
	s->ack_sent = 0;
}

/* Copies one queued frame into the write buffer, flagged if resent. */
static void fill_frame(struct sess *s, struct sess_frame *f)
{
	uint8_t *p = s->wbuf + s->wlen;

	memcpy(p, f->data, f->len);
	if (f->resend)
		p[7] |= XBA_F_RESENT; /* the low byte of the u16 flags */
	s->wlen += f->len;
	f->sent = true;
}

size_t sess_fill(struct sess *s)
{
	size_t room;

	if (s->woff < s->wlen)
		return s->wlen - s->woff;
	s->wlen = s->woff = 0;
	if (grow(&s->wbuf, &s->wcap, SESS_WBUF_CHUNK + s->ctl_len))
		return 0;
	memcpy(s->wbuf, s->ctl, s->ctl_len);
	s->wlen = s->ctl_len;
	s->ctl_len = 0;
	while (s->unsent && !s->hold) {
		if (s->wlen && s->wlen + s->unsent->len > SESS_WBUF_CHUNK)
			break;
		/* a frame (up to XBA_FRAME_MAX) may need a larger buffer */
		room = s->wcap - s->wlen;
		if (s->unsent->len > room &&
		    grow(&s->wbuf, &s->wcap, s->wlen + s->unsent->len))
			break;
		fill_frame(s, s->unsent);
		s->unsent = s->unsent->next;
	}
	return s->wlen;
}

void sess_wrote(struct sess *s, size_t n)
{
	s->woff += n;
	if (s->woff >= s->wlen)
		s->woff = s->wlen = 0;
}

bool sess_want_write(const struct sess *s)
{
	return s->woff < s->wlen || s->ctl_len || (s->unsent && !s->hold);
}

/* --- backoff ------------------------------------------------------------ */

void backoff_reset(struct backoff *b)
{
	b->next_ms = BACKOFF_MIN_MS;
}

unsigned int backoff_next(struct backoff *b, uint32_t rnd)
{
	unsigned int base = b->next_ms ? b->next_ms : BACKOFF_MIN_MS;
	unsigned int span = base / 5; /* 20% */

	b->next_ms = base >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : base * 2;
	/* base - span .. base + span */
	return base - span + (span ? rnd % (2 * span + 1) : 0);
}

void backoff_session_ended(struct backoff *b, uint64_t lasted_ms)
{
	if (lasted_ms > BACKOFF_RESET_MS)
		backoff_reset(b);
}
