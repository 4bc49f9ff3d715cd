/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xbootd's HTTP/1.1 boot file server, iPXE scripts and /metrics, served from the one io_uring loop (loop.c dispatches
 * LOOP_OP_HTTP_FIRST..LOOP_OP_HTTP_LAST completions to http_handle()).
 */
#ifndef XBOOTD_HTTP_H
#define XBOOTD_HTTP_H

#include <time.h>

#define HTTP_CONN_MAX 4096     /* more clients are answered 503 and closed */
#define HTTP_IDLE_S 30         /* a quiet keep-alive connection is closed */
#define HTTP_HEAD_DEADLINE_S 10 /* a request head must arrive this fast */
#define HTTP_SEND_STALL_S 30   /* a client that takes no bytes is dropped */

/* Counters, exported in /stats ("http") and /metrics (xboot_http_*).
 * Keep HTTP_STAT_NAMES in the same order. */
enum http_stat {
	HTTP_STAT_CONNECTIONS,   /* accepted */
	HTTP_STAT_REFUSED,       /* over HTTP_CONN_MAX */
	HTTP_STAT_REQUESTS,
	HTTP_STAT_RESP_2XX,
	HTTP_STAT_RESP_3XX,
	HTTP_STAT_RESP_4XX,
	HTTP_STAT_RESP_5XX,
	HTTP_STAT_PARTIAL,       /* 206 */
	HTTP_STAT_SCRIPTS,       /* iPXE scripts rendered */
	HTTP_STAT_BYTES_SENT,    /* heads and bodies */
	HTTP_STAT_TIMEOUTS,      /* idle, slow head, stalled send */
	HTTP_STAT_MAX,
};

#define HTTP_STAT_NAMES                                                      \
	{                                                                    \
		"connections", "refused", "requests", "responses_2xx",       \
		"responses_3xx", "responses_4xx", "responses_5xx",           \
		"partial", "scripts", "bytes_sent", "timeouts",              \
	}

struct loop;
struct xbootd;
struct http;

/* Open the listening sockets (http-port) and arm their first operations.
 * NULL *out and 0 when the service is not configured. */
int http_open(struct http **out, struct loop *l, struct xbootd *d);
/* After the ring has exited: close sockets and free every transfer. */
void http_close(struct http *s);
/* One completion of one of our operations (res < 0: its error). */
void http_handle(struct http *s, int op, void *obj, int res);
/* Once a second: idle and timed-out transfers. */
void http_tick(struct http *s, time_t now);

#endif /* XBOOTD_HTTP_H */
