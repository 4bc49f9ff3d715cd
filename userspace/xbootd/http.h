/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xbootd's HTTP/1.1 boot file server, iPXE scripts and /metrics, served from the one io_uring loop (loop.c dispatches
 * LOOP_OP_HTTP_FIRST..LOOP_OP_HTTP_LAST completions to http_handle()).
 */
#ifndef XBOOTD_HTTP_H
#define XBOOTD_HTTP_H

#include <time.h>

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
