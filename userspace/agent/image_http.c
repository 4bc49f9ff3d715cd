// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's non-blocking HTTP client for image transfers (image_http.h).
 * Small on purpose: xbootd is the only server it talks to, so a response
 * is a head and a Content-Length body, nothing else; anything unexpected
 * drops the connection and the job's transport asks again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <poll.h>

#include "image_http.h"

#define IHTTP_OUT_MAX 4096

int ihttp_init(struct ihttp *h, const char *url, const char *key)
{
	size_t n;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	if (http_url_parse(url, &h->base))
		return -EINVAL;
	n = strlen(h->base.path);
	if (!n || h->base.path[n - 1] != '/')
		return -EINVAL;
	/* the URL names the address the session reached: no lookup, which
	 * would block the loop */
	h->addr.sin_family = AF_INET;
	h->addr.sin_port = htons(h->base.port);
	if (inet_pton(AF_INET, h->base.host, &h->addr.sin_addr) != 1)
		return -EINVAL;
	h->out = malloc(IHTTP_OUT_MAX);
	if (!h->out)
		return -ENOMEM;
	ihttp_set_key(h, key);
	return 0;
}

void ihttp_set_key(struct ihttp *h, const char *key)
{
	snprintf(h->key, sizeof(h->key), "%s", key);
}

void ihttp_close(struct ihttp *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->state = IHTTP_IDLE;
}

void ihttp_free(struct ihttp *h)
{
	ihttp_close(h);
	if (h->out)
		explicit_bzero(h->out, IHTTP_OUT_MAX);
	explicit_bzero(h->key, sizeof(h->key));
	free(h->out);
	free(h->rbuf);
	h->out = NULL;
	h->rbuf = NULL;
}

bool ihttp_busy(const struct ihttp *h)
{
	return h->state != IHTTP_IDLE && h->state != IHTTP_COMPLETE;
}

static int ihttp_connect(struct ihttp *h)
{
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0)
		return -errno;
	if (connect(h->fd, (struct sockaddr *)&h->addr, sizeof(h->addr)) &&
	    errno != EINPROGRESS) {
		int err = -errno;

		ihttp_close(h);
		return err;
	}
	h->state = IHTTP_CONNECTING;
	return 0;
}

int ihttp_request(struct ihttp *h, const char *method, const char *what,
		  const char *headers, const void *body, size_t body_len,
		  uint64_t now)
{
	int n;

	if (ihttp_busy(h))
		return -EBUSY;
	n = snprintf(h->out, IHTTP_OUT_MAX,
		     "%s %s%s HTTP/1.1\r\nHost: %s:%u\r\n"
		     "Authorization: Bearer %s\r\n%s",
		     method, h->base.path, what, h->base.host, h->base.port,
		     h->key, headers ? headers : "");
	if (n < 0 || n >= IHTTP_OUT_MAX - 64)
		return -ENAMETOOLONG;
	if (body || !strcmp(method, "POST") || !strcmp(method, "PUT"))
		n += snprintf(h->out + n, IHTTP_OUT_MAX - n,
			      "Content-Length: %zu\r\n", body_len);
	n += snprintf(h->out + n, IHTTP_OUT_MAX - n, "\r\n");
	h->out_len = n;
	h->out_off = 0;
	h->body = body;
	h->body_len = body ? body_len : 0;
	h->body_off = 0;
	h->head_len = 0;
	h->status = 0;
	h->close_after = false;
	h->cut_short = false;
	h->rlen = 0;
	h->clen = 0;
	h->last_io_ms = now;
	if (h->fd >= 0) {
		h->state = IHTTP_SENDING;
		return 0;
	}
	return ihttp_connect(h);
}

static int ihttp_fail(struct ihttp *h, int err)
{
	ihttp_close(h);
	return err;
}

static int step_connect(struct ihttp *h)
{
	struct pollfd p = { .fd = h->fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err = 0;

	if (poll(&p, 1, 0) <= 0)
		return IHTTP_BUSY;
	if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err)
		return ihttp_fail(h, -err);
	h->state = IHTTP_SENDING;
	return 0;
}

/* Sends what is left of the head, then of the body. */
static int step_send(struct ihttp *h, uint64_t now)
{
	const char *p;
	size_t left;
	ssize_t n;

	for (;;) {
		if (h->out_off < h->out_len) {
			p = h->out + h->out_off;
			left = h->out_len - h->out_off;
		} else if (h->body_off < h->body_len) {
			p = (const char *)h->body + h->body_off;
			left = h->body_len - h->body_off;
		} else {
			h->state = IHTTP_HEAD;
			return 0;
		}
		n = send(h->fd, p, left, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return IHTTP_BUSY;
			if (errno != EPIPE && errno != ECONNRESET)
				return ihttp_fail(h, -errno);
			/*
			 * xbootd answers a refused request before its body
			 * and closes: the answer may be there to read.
			 */
			h->cut_short = true;
			h->state = IHTTP_HEAD;
			return 0;
		}
		h->last_io_ms = now;
		if (h->out_off < h->out_len)
			h->out_off += n;
		else
			h->body_off += n;
	}
}

/* The head is complete in h->head: its status and body length. */
static int head_done(struct ihttp *h)
{
	int64_t cl;
	const char *c;

	if (http_head_parse(h->head, h->head_len, &h->status, &cl) ||
	    cl < 0 || (uint64_t)cl > IHTTP_BODY_MAX)
		return ihttp_fail(h, -EBADMSG);
	c = strcasestr(h->head, "\r\nConnection:");
	h->close_after = c && !strncasecmp(c + 13 + strspn(c + 13, " "),
					   "close", 5);
	h->clen = cl;
	if (h->rcap < h->clen) {
		uint8_t *b = realloc(h->rbuf, h->clen);

		if (!b)
			return ihttp_fail(h, -ENOMEM);
		h->rbuf = b;
		h->rcap = h->clen;
	}
	h->state = IHTTP_BODY;
	return 0;
}

/*
 * Reads the head a byte run at a time up to its blank line (peeking, so
 * the body is left for step_body()), then the body.
 */
static int step_head(struct ihttp *h, uint64_t now)
{
	size_t room = sizeof(h->head) - 1 - h->head_len;
	char *end;
	ssize_t n;

	if (!room)
		return ihttp_fail(h, -EBADMSG);
	n = recv(h->fd, h->head + h->head_len, room, MSG_PEEK);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ?
		       IHTTP_BUSY : ihttp_fail(h, -errno);
	if (!n)
		return ihttp_fail(h, -ECONNRESET);
	h->last_io_ms = now;
	h->head[h->head_len + n] = 0;
	end = strstr(h->head, "\r\n\r\n");
	if (!end) {
		/* take what was peeked, it is all head */
		if (recv(h->fd, h->head + h->head_len, n, 0) != n)
			return ihttp_fail(h, -EIO);
		h->head_len += n;
		return 0;
	}
	n = end + 4 - (h->head + h->head_len);
	if (recv(h->fd, h->head + h->head_len, n, 0) != n)
		return ihttp_fail(h, -EIO);
	h->head_len += n;
	h->head[h->head_len] = 0;
	/* 100 Continue: not asked for, but harmless */
	if (!strncmp(h->head, "HTTP/1.1 100", 12)) {
		h->head_len = 0;
		return 0;
	}
	return head_done(h);
}

static int step_body(struct ihttp *h, uint64_t now)
{
	ssize_t n;

	while (h->rlen < h->clen) {
		n = recv(h->fd, h->rbuf + h->rlen, h->clen - h->rlen, 0);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ?
			       IHTTP_BUSY : ihttp_fail(h, -errno);
		if (!n)
			return ihttp_fail(h, -ECONNRESET);
		h->last_io_ms = now;
		h->rlen += n;
	}
	h->state = IHTTP_COMPLETE;
	if (h->close_after || h->cut_short) {
		close(h->fd);
		h->fd = -1;
	}
	return IHTTP_DONE;
}

int ihttp_step(struct ihttp *h, uint64_t now)
{
	int ret = 0;

	while (ret == 0) {
		switch (h->state) {
		case IHTTP_IDLE:
			return -ENOTCONN;
		case IHTTP_COMPLETE:
			return IHTTP_DONE;
		case IHTTP_CONNECTING:
			ret = step_connect(h);
			break;
		case IHTTP_SENDING:
			ret = step_send(h, now);
			break;
		case IHTTP_HEAD:
			ret = step_head(h, now);
			break;
		case IHTTP_BODY:
			ret = step_body(h, now);
			break;
		}
	}
	if (ret == IHTTP_BUSY && now - h->last_io_ms > IHTTP_IDLE_MS)
		return ihttp_fail(h, -ETIMEDOUT);
	return ret;
}

int ihttp_pollfd(const struct ihttp *h, short *events)
{
	if (!ihttp_busy(h) || h->fd < 0)
		return -1;
	*events = h->state == IHTTP_CONNECTING ||
			  h->state == IHTTP_SENDING ? POLLOUT : POLLIN;
	return h->fd;
}
