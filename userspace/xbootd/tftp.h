/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xbootd's TFTP boot file server (RFC 1350, 2347-2349, 7440), served from
 * the one io_uring loop (loop.c dispatches LOOP_OP_TFTP_FIRST..
 * LOOP_OP_TFTP_LAST completions to tftp_handle()).
 *
 * Per interface a socket on its address, port 69, takes requests; each
 * transfer gets its own socket (its TID) on the same address. Block numbers
 * are counted in 32 bits inside and wrap from 65535 to 0 on the wire, as
 * tftp-hpa, curl and iPXE expect. A transfer that sees no ACK for its
 * timeout (the negotiated one, else 1 s doubling to 8 s) resends its
 * window, up to TFTP_RETRIES times; duplicate ACKs are never answered.
 */
#ifndef XBOOTD_TFTP_H
#define XBOOTD_TFTP_H

#include <stdint.h>
#include <time.h>

struct loop;
struct xbootd;
struct tftp;

enum tftp_stat {
	TFTP_STAT_STARTED,
	TFTP_STAT_COMPLETED,
	TFTP_STAT_FAILED,     /* refused, client error, or socket trouble */
	TFTP_STAT_TIMED_OUT,
	TFTP_STAT_BLOCKS_SENT, /* DATA packets sent by xbootd (not XDP) */
	TFTP_STAT_RETRANSMITS,
	TFTP_STAT_ERRORS_SENT,
	TFTP_STAT_MAX,
};

#define TFTP_STAT_NAMES                                                      \
	{ "transfers_started", "transfers_completed", "transfers_failed",    \
	  "transfers_timed_out", "blocks_sent_user", "retransmits",          \
	  "errors_sent" }

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
