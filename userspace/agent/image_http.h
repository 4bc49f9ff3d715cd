/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent's side of image transfers (include/xboot/image_http.h): one
 * keep-alive HTTP/1.1 connection to xbootd, non-blocking and driven by
 * the agent's poll loop, so a 4 MiB chunk on the wire never holds up a
 * heartbeat. One request at a time; its response body is kept whole in
 * memory (a few chunks' frames at most), and what has arrived of it can
 * be read while the rest is on its way, so a deploy checks and writes
 * frames as they come. Every request carries the job's Bearer key.
 */
#ifndef XBOOT_AGENT_IMAGE_HTTP_H
#define XBOOT_AGENT_IMAGE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#include "http_get.h"
#include "xboot/image_http.h"

/* A response body larger than this is refused (a batch of frames). */
#define IHTTP_BODY_MAX (80ULL << 20)
/* No byte moving for this long: the connection is taken as lost. */
#define IHTTP_IDLE_MS 30000U

/* ihttp_step() results besides -errno (the connection is lost) */
#define IHTTP_BUSY 1 /* the request is under way */
#define IHTTP_DONE 0 /* the response is complete: status, body */

enum ihttp_state {
	IHTTP_IDLE,
	IHTTP_CONNECTING,
	IHTTP_SENDING,
	IHTTP_HEAD,
	IHTTP_BODY,
	IHTTP_COMPLETE,
};

struct ihttp {
	struct http_url base;	/* the image's URL, path ending in '/' */
	struct sockaddr_in addr;
	char key[IMAGE_HTTP_KEY_HEX + 1];
	int fd;
	enum ihttp_state state;
	uint64_t last_io_ms;	/* for IHTTP_IDLE_MS */

	char *out;		/* request head */
	size_t out_len, out_off;
	const void *body;	/* request body (the caller's, kept alive) */
	size_t body_len, body_off;

	char head[8192];	/* response head as it arrives */
	size_t head_len;
	int status;
	bool close_after;	/* Connection: close */
	bool cut_short;	/* answered before all the body went */

	uint8_t *rbuf;		/* response body */
	size_t rlen, rcap;
	uint64_t clen;		/* its Content-Length */
};

/* url: the job's URL argument; key: its KEY. 0 or -EINVAL. */
int ihttp_init(struct ihttp *h, const char *url, const char *key);
/* A new key (a JOB frame sent again): the next request carries it. */
void ihttp_set_key(struct ihttp *h, const char *key);
/* Closes the connection, wipes the key, frees the buffers. */
void ihttp_free(struct ihttp *h);

/*
 * Starts a request for base URL + what (e.g. "data", "chunk/7") with extra
 * header lines (each ending "\r\n", or NULL) and a body (NULL for none;
 * it must stay put until the response is complete). Connects first when
 * there is no connection. 0 or -errno.
 */
int ihttp_request(struct ihttp *h, const char *method, const char *what,
		  const char *headers, const void *body, size_t body_len,
		  uint64_t now);
/* Moves the request on as far as the socket allows. */
int ihttp_step(struct ihttp *h, uint64_t now);
/* Drops the connection (the request with it). */
void ihttp_close(struct ihttp *h);
bool ihttp_busy(const struct ihttp *h);

/* The fd and events to poll, or -1 when idle. */
int ihttp_pollfd(const struct ihttp *h, short *events);

#endif /* XBOOT_AGENT_IMAGE_HTTP_H */
