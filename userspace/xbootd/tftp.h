/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xbootd's TFTP boot file server (RFC 1350, 2347-2349, 7440), served from the one io_uring loop (loop.c dispatches
 * LOOP_OP_TFTP_FIRST..LOOP_OP_TFTP_LAST completions to tftp_handle()).
 */
#ifndef XBOOTD_TFTP_H
#define XBOOTD_TFTP_H

#include <time.h>

struct loop;
struct xbootd;
struct tftp;

/* Open the listening sockets (69) and arm their first operations.
 * NULL *out and 0 when the service is not configured. */
int tftp_open(struct tftp **out, struct loop *l, struct xbootd *d);
/* After the ring has exited: close sockets and free every transfer. */
void tftp_close(struct tftp *s);
/* One completion of one of our operations (res < 0: its error). */
void tftp_handle(struct tftp *s, int op, void *obj, int res);
/* Once a second: idle and timed-out transfers. */
void tftp_tick(struct tftp *s, time_t now);

#endif /* XBOOTD_TFTP_H */
