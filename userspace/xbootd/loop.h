/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xbootd's one io_uring event loop: DHCP sockets, replies, the 1 s tick,
 * the XDP ring buffer, signals, the control socket, and the TFTP, HTTP,
 * router-advertisement, agent and media services. Every operation in
 * flight carries its kind and its object in user_data; loop.c dispatches
 * each completion to one small handler per kind.
 */
#ifndef XBOOTD_LOOP_H
#define XBOOTD_LOOP_H

#include <stdint.h>
#include <liburing.h>

struct loop;
struct media_srv;
struct xbootd;

enum loop_op {
	LOOP_OP_DHCP_RECV = 1,
	LOOP_OP_DHCP_SEND,
	LOOP_OP_TIMER,
	LOOP_OP_SIGNAL,
	LOOP_OP_XDP_POLL,
	LOOP_OP_CANCEL,     /* removing another operation; result unused */
	LOOP_OP_CTL_ACCEPT, /* control.c's operations */
	LOOP_OP_CTL_RECV,
	LOOP_OP_CTL_SEND,
	/* tftp.c's operations, dispatched to tftp_handle() */
	LOOP_OP_TFTP_FIRST,
	LOOP_OP_TFTP_LAST = LOOP_OP_TFTP_FIRST + 5,
	/* http.c's operations, dispatched to http_handle() */
	LOOP_OP_HTTP_FIRST,
	LOOP_OP_HTTP_LAST = LOOP_OP_HTTP_FIRST + 5,
	LOOP_OP_RA_POLL,    /* ra.c: a router solicitation socket */
	/* agent_srv.c's operations, dispatched to agent_srv_handle() */
	LOOP_OP_AGENT_FIRST,
	LOOP_OP_AGENT_LAST = LOOP_OP_AGENT_FIRST + 5,
	/* media_srv.c's operations, dispatched to media_srv_handle() */
	LOOP_OP_MEDIA_WAIT,	/* a build's pidfd: the child exited */
	LOOP_OP_MEDIA_READ,	/* copying the image from the scratch file */
	LOOP_OP_MEDIA_WRITE,	/* ... to the output, then its fsync */
	LOOP_OP_MAX,
};

/* Objects named in user_data are 32-byte aligned: the low 5 bits are the op. */
#define LOOP_OP_BITS 5
#define LOOP_ALIGNED __attribute__((aligned(1 << LOOP_OP_BITS)))
/* Every op must fit in those bits: LOOP_OP_MAX itself may be 32. */
_Static_assert(LOOP_OP_MAX <= 1 << LOOP_OP_BITS, "too many loop ops");

static inline void loop_sqe_data(struct io_uring_sqe *sqe, void *obj,
				 enum loop_op op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)obj | op);
}

/* Open the DHCP sockets of every interface in d and the control socket. */
int loop_create(struct loop **out, struct xbootd *d);
/* Run until SIGTERM or SIGINT; 0 on a clean stop. */
int loop_run(struct loop *l);
void loop_destroy(struct loop *l);
/* The ring, for services that prepare their own submissions. */
struct io_uring *loop_ring(struct loop *l);
/* The media builder (POST /media), for control.c. */
struct media_srv *loop_media(struct loop *l);
/* A submission entry, submitting what is queued if the ring is full. */
struct io_uring_sqe *loop_get_sqe(struct loop *l);

#endif /* XBOOTD_LOOP_H */
