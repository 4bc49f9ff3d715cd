// SPDX-License-Identifier: GPL-2.0
/* TFTP packet codec and option negotiation; the rules are in tftp_proto.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tftp_proto.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* A decimal number of at most 10 digits, no sign; -1 if it is not one. */
static int64_t parse_num(const char *s)
{
	int64_t v = 0;
	int n = 0;

	for (; *s; s++, n++) {
		if (*s < '0' || *s > '9' || n >= 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return n ? v : -1;
}

static int in_range(int64_t v, int64_t lo, int64_t hi)
{
	return v >= lo && v <= hi;
}

/* Record one option; out-of-range values leave it unseen. */
static void take_option(struct tftp_request *rq, const char *name,
			const char *val)
{
	int64_t v = parse_num(val);

	if (!strcasecmp(name, "blksize") && !(rq->has & TFTP_OPT_BLKSIZE) &&
	    in_range(v, TFTP_BLKSIZE_MIN, TFTP_BLKSIZE_MAX)) {
		rq->blksize = v;
		rq->has |= TFTP_OPT_BLKSIZE;
	} else if (!strcasecmp(name, "tsize") && !(rq->has & TFTP_OPT_TSIZE) &&
		   v >= 0) {
		rq->tsize = v;
		rq->has |= TFTP_OPT_TSIZE;
	} else if (!strcasecmp(name, "timeout") &&
		   !(rq->has & TFTP_OPT_TIMEOUT) &&
		   in_range(v, TFTP_TIMEOUT_MIN, TFTP_TIMEOUT_MAX)) {
		rq->timeout = v;
		rq->has |= TFTP_OPT_TIMEOUT;
	} else if (!strcasecmp(name, "windowsize") &&
		   !(rq->has & TFTP_OPT_WINDOW) &&
		   in_range(v, 1, TFTP_WINDOW_MAX)) {
		rq->window = v;
		rq->has |= TFTP_OPT_WINDOW;
	}
}

static int parse_mode(struct tftp_request *rq, const char *mode)
{
	if (!strcasecmp(mode, "octet"))
		rq->netascii = 0;
	else if (!strcasecmp(mode, "netascii"))
		rq->netascii = 1;
	else
		return -EINVAL;
	return 0;
}

int tftp_parse_request(const uint8_t *buf, size_t len,
		       struct tftp_request *rq, const char **why)
{
	const char *p = (const char *)buf + 2, *end = (const char *)buf + len;
	const char *name, *val;
	size_t nlen;

	memset(rq, 0, sizeof(*rq));
	*why = "not a request";
	if (len < 2)
		return -EOPNOTSUPP;
	rq->opcode = get16(buf);
	if (rq->opcode != TFTP_RRQ && rq->opcode != TFTP_WRQ)
		return -EOPNOTSUPP;
	*why = "malformed request";
	if (len < 4 || buf[len - 1] != '\0')
		return -EINVAL;
	nlen = strlen(p);
	if (!nlen) {
		*why = "empty file name";
		return -EINVAL;
	}
	if (nlen >= TFTP_NAME_MAX) {
		*why = "file name too long";
		return -EINVAL;
	}
	memcpy(rq->name, p, nlen + 1);
	p += nlen + 1;
	if (p >= end) {
		*why = "no transfer mode";
		return -EINVAL;
	}
	if (parse_mode(rq, p)) {
		*why = "unknown transfer mode";
		return -EINVAL;
	}
	p += strlen(p) + 1;
	while (p < end) {
		name = p;
		p += strlen(p) + 1;
		if (p >= end)
			break; /* a name without a value: ignored */
		val = p;
		p += strlen(p) + 1;
		take_option(rq, name, val);
	}
	*why = NULL;
	return 0;
}

int tftp_parse_reply(const uint8_t *buf, size_t len, uint16_t *block)
{
	int op;

	if (len < TFTP_HDR_LEN)
		return -EINVAL;
	op = get16(buf);
	if (op != TFTP_ACK && op != TFTP_ERROR)
		return -EINVAL;
	*block = get16(buf + 2);
	return op;
}

void tftp_negotiate(const struct tftp_request *rq, uint32_t max_blksize,
		    uint32_t max_window, uint64_t file_size,
		    struct tftp_params *p)
{
	memset(p, 0, sizeof(*p));
	p->blksize = TFTP_BLKSIZE_DEFAULT;
	p->window = 1;
	if (max_blksize < TFTP_BLKSIZE_MIN)
		max_blksize = TFTP_BLKSIZE_MIN;
	if (!max_window)
		max_window = 1;
	if (rq->has & TFTP_OPT_BLKSIZE) {
		p->blksize = rq->blksize < max_blksize ? rq->blksize :
							 max_blksize;
		p->ack |= TFTP_OPT_BLKSIZE;
	}
	if ((rq->has & TFTP_OPT_TSIZE) && !rq->netascii && file_size) {
		p->tsize = file_size;
		p->ack |= TFTP_OPT_TSIZE;
	}
	if (rq->has & TFTP_OPT_TIMEOUT) {
		p->timeout = rq->timeout;
		p->ack |= TFTP_OPT_TIMEOUT;
	}
	if ((rq->has & TFTP_OPT_WINDOW) && !rq->netascii) {
		p->window = rq->window < max_window ? rq->window : max_window;
		p->ack |= TFTP_OPT_WINDOW;
	}
}

/* Append "name\0value\0"; 0 when it does not fit. */
static size_t put_option(uint8_t *buf, size_t off, size_t len,
			 const char *name, uint64_t val)
{
	int n = snprintf((char *)buf + off, len - off, "%s%c%llu", name, '\0',
			 (unsigned long long)val);

	if (n < 0 || (size_t)n + 1 >= len - off)
		return 0;
	return off + n + 1;
}

size_t tftp_build_oack(uint8_t *buf, size_t len, const struct tftp_params *p)
{
	size_t off = 2;

	if (len < 2)
		return 0;
	put16(buf, TFTP_OACK);
	if (off && (p->ack & TFTP_OPT_BLKSIZE))
		off = put_option(buf, off, len, "blksize", p->blksize);
	if (off && (p->ack & TFTP_OPT_TSIZE))
		off = put_option(buf, off, len, "tsize", p->tsize);
	if (off && (p->ack & TFTP_OPT_TIMEOUT))
		off = put_option(buf, off, len, "timeout", p->timeout);
	if (off && (p->ack & TFTP_OPT_WINDOW))
		off = put_option(buf, off, len, "windowsize", p->window);
	return off;
}

size_t tftp_build_error(uint8_t *buf, size_t len, int code, const char *msg)
{
	size_t mlen = strlen(msg);

	if (len < TFTP_HDR_LEN + 1)
		return 0;
	if (mlen > len - TFTP_HDR_LEN - 1)
		mlen = len - TFTP_HDR_LEN - 1;
	put16(buf, TFTP_ERROR);
	put16(buf + 2, code);
	memcpy(buf + TFTP_HDR_LEN, msg, mlen);
	buf[TFTP_HDR_LEN + mlen] = '\0';
	return TFTP_HDR_LEN + mlen + 1;
}

void tftp_build_data_hdr(uint8_t *buf, uint16_t block)
{
	put16(buf, TFTP_DATA);
	put16(buf + 2, block);
}

size_t tftp_netascii(const uint8_t *in, size_t inlen, size_t *used,
		     uint8_t *out, size_t outlen, int *pending)
{
	size_t i = 0, o = 0;

	if (*pending >= 0 && o < outlen) {
		out[o++] = *pending;
		*pending = -1;
	}
	for (; i < inlen && o < outlen; i++) {
		if (in[i] == '\n' || in[i] == '\r') {
			out[o++] = '\r';
			*pending = in[i] == '\n' ? '\n' : '\0';
			if (o < outlen) {
				out[o++] = *pending;
				*pending = -1;
			}
		} else {
			out[o++] = in[i];
		}
	}
	*used = i;
	return o;
}
