// SPDX-License-Identifier: GPL-2.0
/*
 * TFTP boot file server on the io_uring loop (see tftp.h).
 *
 * Receiving goes through the ring: a few recvmsg operations on each port-69
 * socket, and one on each transfer's socket. Sending does not: a window of
 * DATA packets is read with one preadv() into a shared batch buffer and
 * sent with one sendmmsg(MSG_DONTWAIT); the kernel copies UDP payloads, so
 * the buffer is free again at once and a transfer owns no send buffers.
 * A packet the socket could not take is simply lost and the timeout sends
 * it again, as for a loss on the wire.
 *
 * Transfers live in one fixed array with a free list (no allocation per
 * transfer or packet). Their timeouts sit in a timer wheel turned by one
 * 100 ms IORING_OP_TIMEOUT of our own, so thousands of transfers cost one
 * timer, not one each.
 *
 * The XDP hot-block path: hot files (`tftp-hot=`, and the boot files
 * that are plain paths) are loaded into the program's block cache at
 * start, or, when the program takes its blocks from xboot.ko's page cache
 * (the kfunc block source), registered with the module; then the files
 * others registered under tftp-root (`xbootctl cache add`) are hot too.
 * The module's events are polled on the loop: a file it dropped because
 * it changed on disk is registered again (a new generation) once it is
 * back, and ours leave the module when xbootd stops.
 *
 * An octet transfer of a hot file with window 1 and a blksize that fits a
 * frame is registered in the session map (with the module's file id and
 * generation for the kfunc source) just before its OACK (or its DATA 1)
 * goes out; from then on the program answers each in-order ACK with the
 * next block and ends the session on the final ACK (an event completes
 * the transfer here). The timer wheel watches the session's
 * progress instead of ACKs: no progress for a timeout and xbootd resends
 * the block itself, giving up after TFTP_RETRIES. Whatever reaches the
 * transfer's socket (an ERROR, an ACK the program did not take) ends the
 * XDP part: the session is deleted and userspace carries on from where it
 * stood.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kcache.h"
#include "log.h"
#include "loop.h"
#include "machines.h"
#include "tftp.h"
#include "tftp_path.h"
#include "tftp_proto.h"
#include "xbootd.h"
#include "xdp_ctl.h"

#define TFTP_MAX_XFERS 4096
#define TFTP_LISTEN_RX 8       /* requests in flight per port-69 socket */
#define TFTP_RETRIES 5
#define TFTP_TICK_MS 100
#define TFTP_WHEEL 512         /* slots of TFTP_TICK_MS: a 51 s horizon */
#define TFTP_WINDOW_CAP 64
#define TFTP_BATCH_BYTES (256 << 10)
#define TFTP_RX_LEN 516        /* an ERROR with a 512-byte message */
#define TFTP_MAX_HOT (CFG_MAX_TFTP_HOT + XB_NCLASS)
#define TFTP_MAX_ADOPTED 64    /* others' files under the root in xboot.ko */
#define TFTP_HOT_SLOTS (TFTP_MAX_HOT + TFTP_MAX_ADOPTED)
#define HOT_RETRY_S 1          /* a dropped file is registered again after */

#define OP_LISTEN_RECV ((enum loop_op)(LOOP_OP_TFTP_FIRST + 0))
#define OP_XFER_RECV ((enum loop_op)(LOOP_OP_TFTP_FIRST + 1))
#define OP_WHEEL_TICK ((enum loop_op)(LOOP_OP_TFTP_FIRST + 2))
#define OP_KCACHE_POLL ((enum loop_op)(LOOP_OP_TFTP_FIRST + 3))

enum xfer_state {
	XFER_FREE,
	XFER_ACTIVE,
	XFER_CLOSING, /* waiting for its recv to come back cancelled */
};

struct tftp_listener;

struct listen_rx {
	struct tftp_listener *ln;
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_in from;
	uint8_t buf[TFTP_REQ_MAX];
} LOOP_ALIGNED;

struct tftp_listener {
	struct tftp *srv;
	int fd;
	struct in_addr addr;
	uint32_t max_blksize; /* interface MTU - IP - UDP - TFTP headers */
	struct listen_rx rx[TFTP_LISTEN_RX];
};

struct tftp_xfer {
	struct tftp *srv;
	struct tftp_xfer *prev, *next; /* wheel slot; next also free list */
	uint64_t expire;               /* wheel tick */
	enum xfer_state state;
	int rx_armed;
	int fd;                        /* our TID */
	int file;
	int netascii;
	int oack;                      /* OACK sent, ACK 0 not yet seen */
	int xdp;                       /* the XDP program sends its blocks */
	struct xb_tftp_key xkey;
	int retries;
	struct sockaddr_in peer;
	struct tftp_params p;
	uint64_t size;
	struct timespec mtime;         /* of the file when the transfer began */
	char name[128];                /* as asked for: the phase's detail */
	uint32_t acked, sent, last;    /* absolute blocks; last 0: unknown */
	/* netascii: read offset and pending byte at the start of block
	 * acked + 1, and after it */
	off_t na_off, na_next_off;
	int na_pend, na_next_pend;
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_in from;
	uint8_t rx[TFTP_RX_LEN];
} LOOP_ALIGNED;

/* A hot file, known by identity: a request is served from it only while
 * the file on disk is still the one loaded into the map or registered with
 * xboot.ko. */
struct hot_file {
	char *rel;             /* under tftp-root; NULL: a free slot */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int has_mtime;         /* 0: known from the module's list only */
	int ours;              /* configured here, not `xbootctl cache add` */
	uint32_t pages;        /* map: pages loaded */
	uint32_t kid, kgen;    /* xboot.ko: id and generation; 0: none */
	int dropped;           /* xboot.ko dropped it: register it again ... */
	time_t retry_at;       /* ... from then on (CLOCK_MONOTONIC s) */
	int seen;              /* in the module's list just read */
};

struct tftp {
	struct loop *loop;
	struct xbootd *d;
	int rootfd;
	uint64_t tick;
	int wheel_armed;
	int nactive;           /* transfers not yet ended: the wheel turns */
	struct __kernel_timespec wheel_ts;
	struct tftp_listener ln[CFG_MAX_INTERFACES];
	int nln;
	struct tftp_xfer *xfers;
	struct tftp_xfer *free;
	struct tftp_xfer *wheel[TFTP_WHEEL];
	struct xdp_ctl *xdp;   /* NULL: no hot-block path */
	uint64_t xdp_serial;   /* of the program the hot files are in */
	/* The kfunc block source: hot files registered with xboot.ko, its
	 * events polled on the loop. NULL: the map source. */
	struct kcache *kc;
	int kc_poll_armed;
	int kc_refresh;        /* read the module's list again */
	char root_abs[PATH_MAX]; /* tftp-root as the module names files,
				  * "" for "/" */
	struct hot_file hot[TFTP_HOT_SLOTS]; /* map: file_id = index + 1 */
	int nhot;              /* slots used so far, some maybe freed */
	struct mmsghdr mmsg[TFTP_WINDOW_CAP];
	struct iovec iov[TFTP_WINDOW_CAP];
	uint8_t na_in[TFTP_BLKSIZE_MAX];
	uint8_t batch[TFTP_BATCH_BYTES];
} LOOP_ALIGNED;

/* The daemon's counters (d->tftp_stats); they outlive a tftp_close(). */
static uint64_t stats[TFTP_STAT_MAX];

/* --- timer wheel ------------------------------------------------------- */

static void wheel_del(struct tftp_xfer *x)
{
	struct tftp_xfer **head = &x->srv->wheel[x->expire % TFTP_WHEEL];

	if (x->prev)
		x->prev->next = x->next;
	else if (*head == x)
		*head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

/* The negotiated timeout is kept as is (RFC 2349); ours backs off. */
static uint64_t xfer_timeout_ticks(const struct tftp_xfer *x)
{
	int shift = x->retries < 3 ? x->retries : 3;

	if (x->p.timeout)
		return (uint64_t)x->p.timeout * (1000 / TFTP_TICK_MS);
	return (uint64_t)(1000 / TFTP_TICK_MS) << shift;
}

static void wheel_arm(struct tftp_xfer *x)
{
	struct tftp_xfer **head;

	wheel_del(x);
	x->expire = x->srv->tick + xfer_timeout_ticks(x);
	head = &x->srv->wheel[x->expire % TFTP_WHEEL];
	x->next = *head;
	if (*head)
		(*head)->prev = x;
	*head = x;
}

static void wheel_tick_arm(struct tftp *s)
{
	struct io_uring_sqe *sqe;

	if (s->wheel_armed || !s->nactive)
		return; /* an idle server takes no wake-ups */
	sqe = loop_get_sqe(s->loop);
	if (!sqe)
		return; /* tftp_tick() tries again */
	s->wheel_ts = (struct __kernel_timespec){
		.tv_nsec = TFTP_TICK_MS * 1000000L,
	};
	io_uring_prep_timeout(sqe, &s->wheel_ts, 0, 0);
	loop_sqe_data(sqe, s, OP_WHEEL_TICK);
	s->wheel_armed = 1;
}

/* --- sending ----------------------------------------------------------- */

static void send_error(int fd, const struct sockaddr_in *to, int code,
		       const char *msg)
{
	uint8_t buf[128];
	size_t len = tftp_build_error(buf, sizeof(buf), code, msg);

	stats[TFTP_STAT_ERRORS_SENT]++;
	if (sendto(fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)to,
		   sizeof(*to)) < 0)
		pr_debug_ratelimited("tftp: sending an error: %s",
				     strerror(errno));
}

static void send_oack(struct tftp_xfer *x)
{
	uint8_t buf[128];
	size_t len = tftp_build_oack(buf, sizeof(buf), &x->p);

	if (sendto(x->fd, buf, len, MSG_DONTWAIT,
		   (const struct sockaddr *)&x->peer, sizeof(x->peer)) < 0)
		pr_debug_ratelimited("tftp: sending an OACK: %s",
				     strerror(errno));
}

/* How many blocks from first on fit a window (all, if last is unknown). */
static uint32_t window_count(const struct tftp_xfer *x, uint32_t first)
{
	uint32_t n = x->p.window;

	if (x->last && first + n - 1 > x->last)
		n = x->last - first + 1;
	return n;
}

/* Octet blocks first..first+n-1 into the batch; one preadv for them all. */
static int fill_octet(struct tftp_xfer *x, uint32_t first, uint32_t n)
{
	struct tftp *s = x->srv;
	uint64_t off = (uint64_t)(first - 1) * x->p.blksize;
	size_t stride = x->p.blksize + TFTP_HDR_LEN;
	uint64_t left = off < x->size ? x->size - off : 0;
	ssize_t got;
	uint32_t i;

	for (i = 0; i < n; i++) {
		s->iov[i].iov_base = s->batch + i * stride + TFTP_HDR_LEN;
		s->iov[i].iov_len = left < x->p.blksize ? left : x->p.blksize;
		left -= s->iov[i].iov_len;
	}
	got = preadv(x->file, s->iov, n, off);
	if (got < 0)
		return -errno;
	/* A file that shrank under us ends early; the client sees the end. */
	for (i = 0; i < n; i++) {
		if ((size_t)got < s->iov[i].iov_len)
			s->iov[i].iov_len = got;
		got -= s->iov[i].iov_len;
	}
	return 0;
}

/* One netascii block (window 1) from the state at acked + 1. */
static int fill_netascii(struct tftp_xfer *x)
{
	struct tftp *s = x->srv;
	uint8_t *out = s->batch + TFTP_HDR_LEN;
	size_t o = 0, used;
	off_t off = x->na_off;
	int pend = x->na_pend;
	ssize_t got;

	while (o < x->p.blksize) {
		got = pread(x->file, s->na_in, x->p.blksize - o, off);
		if (got < 0)
			return -errno;
		if (!got && pend < 0)
			break;
		o += tftp_netascii(s->na_in, got, &used, out + o,
				   x->p.blksize - o, &pend);
		off += used;
	}
	x->na_next_off = off;
	x->na_next_pend = pend;
	s->iov[0].iov_base = out;
	s->iov[0].iov_len = o;
	if (o < x->p.blksize)
		x->last = x->acked + 1;
	return 0;
}

static void xfer_end(struct tftp_xfer *x, enum tftp_stat why);
static int hot_current(const struct tftp *s);

/*
 * The file was written or truncated since the transfer began: its next
 * blocks would mix new bytes into the old ones (or end it early, as if the
 * file were complete), so the transfer fails instead. This is also where a
 * hot transfer lands when xboot.ko dropped its file and the kfunc refused
 * the next block. A file renamed over keeps the old inode: that one is
 * still whole and its transfer goes on.
 */
static int xfer_file_changed(const struct tftp_xfer *x)
{
	struct stat st;

	if (fstat(x->file, &st))
		return 1;
	return (uint64_t)st.st_size != x->size ||
	       st.st_mtim.tv_sec != x->mtime.tv_sec ||
	       st.st_mtim.tv_nsec != x->mtime.tv_nsec;
}

/* Send blocks from first on, a window's worth, in one sendmmsg. */
static void send_window(struct tftp_xfer *x, uint32_t first)
{
	struct tftp *s = x->srv;
	uint32_t n = x->netascii ? 1 : window_count(x, first), i;
	int ret;

	if (xfer_file_changed(x)) {
		pr_ratelimited(LOG_LVL_INFO,
			       "tftp: %s:%u: the file changed on disk during the transfer; ending it",
			       inet_ntoa(x->peer.sin_addr),
			       ntohs(x->peer.sin_port));
		send_error(x->fd, &x->peer, TFTP_EUNDEF, "file changed");
		return xfer_end(x, TFTP_STAT_FAILED);
	}
	ret = x->netascii ? fill_netascii(x) : fill_octet(x, first, n);
	if (ret) {
		pr_warn_ratelimited("tftp: reading a file: %s", strerror(-ret));
		send_error(x->fd, &x->peer, TFTP_EUNDEF, "read error");
		return xfer_end(x, TFTP_STAT_FAILED);
	}
	for (i = 0; i < n; i++) {
		uint8_t *pkt = (uint8_t *)s->iov[i].iov_base - TFTP_HDR_LEN;

		tftp_build_data_hdr(pkt, (uint16_t)(first + i));
		s->iov[i].iov_base = pkt;
		s->iov[i].iov_len += TFTP_HDR_LEN;
		s->mmsg[i].msg_hdr = (struct msghdr){
			.msg_name = &x->peer,
			.msg_namelen = sizeof(x->peer),
			.msg_iov = &s->iov[i],
			.msg_iovlen = 1,
		};
	}
	ret = sendmmsg(x->fd, s->mmsg, n, MSG_DONTWAIT);
	if (ret < 0)
		pr_debug_ratelimited("tftp: sendmmsg: %s", strerror(errno));
	stats[TFTP_STAT_BLOCKS_SENT] += ret > 0 ? ret : 0;
	for (i = first; i < first + n; i++)
		if (i <= x->sent)
			stats[TFTP_STAT_RETRANSMITS]++;
	if (first + n - 1 > x->sent)
		x->sent = first + n - 1;
	wheel_arm(x);
}

/* --- transfers --------------------------------------------------------- */

static void xfer_recv_arm(struct tftp_xfer *x)
{
	struct io_uring_sqe *sqe = loop_get_sqe(x->srv->loop);

	if (!sqe)
		return; /* the timeout ends a transfer that hears nothing */
	x->iov = (struct iovec){ x->rx, sizeof(x->rx) };
	x->msg = (struct msghdr){
		.msg_name = &x->from,
		.msg_namelen = sizeof(x->from),
		.msg_iov = &x->iov,
		.msg_iovlen = 1,
	};
	io_uring_prep_recvmsg(sqe, x->fd, &x->msg, 0);
	loop_sqe_data(sqe, x, OP_XFER_RECV);
	x->rx_armed = 1;
}

static void xfer_release(struct tftp_xfer *x)
{
	struct tftp *s = x->srv;

	close(x->fd);
	x->state = XFER_FREE;
	x->next = s->free;
	s->free = x;
}

static const uint8_t *client_mac(struct tftp *s, struct in_addr ip);

/* The whole file reached the client: its machine got a boot file. */
static void xfer_phase(struct tftp_xfer *x)
{
	struct xbootd *d = x->srv->d;
	const uint8_t *mac;

	if (!d->machines)
		return;
	mac = client_mac(x->srv, x->peer.sin_addr);
	if (mac)
		machines_phase(d->machines, mac, MPHASE_BOOT_FILE, x->name,
			       &x->peer.sin_addr);
}

/* Done, one way or another; the slot is reused once its recv is back. */
static void xfer_end(struct tftp_xfer *x, enum tftp_stat why)
{
	struct io_uring_sqe *sqe;

	stats[why]++;
	/* both ends: the last ACK seen here, or XB_EV_TFTP_DONE from XDP */
	if (why == TFTP_STAT_COMPLETED)
		xfer_phase(x);
	if (x->xdp && hot_current(x->srv))
		xdp_ctl_tftp_sess_del(x->srv->xdp, &x->xkey);
	x->xdp = 0;
	x->srv->nactive--;
	wheel_del(x);
	close(x->file);
	x->file = -1;
	x->state = XFER_CLOSING;
	if (!x->rx_armed)
		return xfer_release(x);
	sqe = loop_get_sqe(x->srv->loop);
	if (sqe) {
		io_uring_prep_cancel64(sqe,
				       (uint64_t)(uintptr_t)x | OP_XFER_RECV, 0);
		loop_sqe_data(sqe, NULL, LOOP_OP_CANCEL);
	} else {
		shutdown(x->fd, SHUT_RDWR); /* wakes the recv all the same */
	}
}

static int same_peer(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr &&
	       a->sin_port == b->sin_port;
}

/* An ACK of block (on the wire) b: absolute, or 0 if stale or not sent. */
static uint32_t ack_to_block(const struct tftp_xfer *x, uint16_t b)
{
	uint32_t blk = x->acked + (uint16_t)(b - (uint16_t)x->acked);

	return blk > x->acked && blk <= x->sent ? blk : 0;
}

/* --- the XDP hot-block path -------------------------------------------- */

/* Where the program stands: blocks up to last_sent went out, the one
 * before it was ACKed. */
static void xdp_sync(struct tftp_xfer *x, const struct xb_tftp_sess *v)
{
	if (v->last_sent > x->sent) {
		x->sent = v->last_sent;
		x->acked = v->last_sent - 1;
		x->oack = 0;
	}
}

/* Userspace takes the transfer back (an ACK reached the socket). */
static void xdp_leave(struct tftp_xfer *x)
{
	struct xb_tftp_sess v;

	if (!xdp_ctl_tftp_sess_get(x->srv->xdp, &x->xkey, &v))
		xdp_sync(x, &v);
	xdp_ctl_tftp_sess_del(x->srv->xdp, &x->xkey);
	x->xdp = 0;
}

/* On the transfer's timeout: 1 when the program moved on (or finished:
 * its event ends the transfer), 0 when xbootd must resend. */
static int xdp_progress(struct tftp_xfer *x)
{
	struct xb_tftp_sess v;

	if (xdp_ctl_tftp_sess_get(x->srv->xdp, &x->xkey, &v)) {
		/* Only the final ACK deletes it behind our back; its event,
		 * still queued, then finds no transfer. */
		x->xdp = 0;
		x->acked = x->sent = x->last;
		xfer_end(x, TFTP_STAT_COMPLETED);
		return 1;
	}
	if (v.last_sent > x->sent) {
		xdp_sync(x, &v);
		x->retries = 0;
		wheel_arm(x);
		return 1;
	}
	return 0;
}

static void xdp_done(void *arg, const struct xb_tftp_event *ev)
{
	struct tftp *s = arg;
	int i;

	for (i = 0; i < TFTP_MAX_XFERS; i++) {
		struct tftp_xfer *x = &s->xfers[i];

		if (x->state != XFER_ACTIVE || !x->xdp ||
		    x->xkey.client_ip != ev->client_ip ||
		    x->xkey.client_port != ev->client_port ||
		    x->xkey.server_port != ev->server_port)
			continue;
		x->xdp = 0; /* the program deleted the session */
		x->acked = x->sent = x->last;
		return xfer_end(x, TFTP_STAT_COMPLETED);
	}
}

/* --- hot files --------------------------------------------------------- */

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The hot file an open file is, NULL if it is not (or no longer) one. */
static const struct hot_file *hot_id(const struct tftp *s, int file)
{
	const struct hot_file *h;
	struct stat st;
	int i;

	if (!s->nhot || fstat(file, &st))
		return NULL;
	for (i = 0; i < s->nhot; i++) {
		h = &s->hot[i];
		if (!h->rel || (s->kc && !h->kid))
			continue;
		if (h->dev == st.st_dev && h->ino == st.st_ino &&
		    h->size == st.st_size &&
		    (!h->has_mtime ||
		     (h->mtime.tv_sec == st.st_mtim.tv_sec &&
		      h->mtime.tv_nsec == st.st_mtim.tv_nsec)))
			return h;
	}
	return NULL;
}

/* Register x with the program before its first packet goes out, so the
 * client's answer cannot overtake the session. */
static void xdp_register(struct tftp_xfer *x, struct in_addr server)
{
	struct tftp *s = x->srv;
	struct xb_tftp_sess v = { .server_ip = server.s_addr,
				  .state = XB_TFTP_ACTIVE };
	const struct hot_file *h;
	struct sockaddr_in me;
	socklen_t len = sizeof(me);

	if (!s->xdp || x->netascii || x->p.window != 1 ||
	    x->p.blksize > XB_TFTP_BLKSIZE_MAX)
		return;
	h = hot_id(s, x->file);
	if (!h || getsockname(x->fd, (struct sockaddr *)&me, &len))
		return;
	/* The module's generation makes the kfunc refuse a session begun
	 * on contents it has since dropped. */
	v.file_id = s->kc ? h->kid : (uint32_t)(h - s->hot) + 1;
	v.generation = s->kc ? h->kgen : 1;
	x->xkey = (struct xb_tftp_key){ .client_ip = x->peer.sin_addr.s_addr,
					.client_port = x->peer.sin_port,
					.server_port = me.sin_port };
	v.blksize = x->p.blksize;
	v.size = x->size;
	v.total = x->last;
	v.last_sent = x->p.ack ? 0 : 1;
	if (xdp_ctl_tftp_sess_add(s->xdp, &x->xkey, &v)) {
		pr_debug_ratelimited("tftp: no XDP session for a hot file");
		return;
	}
	x->xdp = 1;
}

static struct hot_file *hot_slot(struct tftp *s)
{
	int i;

	for (i = 0; i < s->nhot; i++)
		if (!s->hot[i].rel)
			return &s->hot[i];
	return s->nhot < TFTP_HOT_SLOTS ? &s->hot[s->nhot++] : NULL;
}

static void hot_free(struct hot_file *h)
{
	free(h->rel);
	memset(h, 0, sizeof(*h));
}

static struct hot_file *hot_by_kid(struct tftp *s, uint32_t id)
{
	int i;

	for (i = 0; i < s->nhot && id; i++)
		if (s->hot[i].rel && s->hot[i].kid == id)
			return &s->hot[i];
	return NULL;
}

static struct hot_file *hot_by_rel(struct tftp *s, const char *rel)
{
	int i;

	for (i = 0; i < s->nhot; i++)
		if (s->hot[i].rel && !strcmp(s->hot[i].rel, rel))
			return &s->hot[i];
	return NULL;
}

static int hot_named(const struct tftp *s, const struct stat *st)
{
	int i;

	for (i = 0; i < s->nhot; i++)
		if (s->hot[i].rel && s->hot[i].dev == st->st_dev &&
		    s->hot[i].ino == st->st_ino)
			return 1;
	return 0;
}

/* A path the module reported, relative to tftp-root; NULL if outside. */
static const char *hot_rel_of(const struct tftp *s, const char *path)
{
	size_t n = strlen(s->root_abs);

	if (strncmp(path, s->root_abs, n) || path[n] != '/' || !path[n + 1])
		return NULL;
	return path + n + 1;
}

/* An open regular file under the root, or a negative errno. */
static int hot_open(const struct tftp *s, const char *rel, struct stat *st)
{
	int fd = openat(s->rootfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int err;

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
		err = S_ISREG(st->st_mode) ? -errno : -EINVAL;
		close(fd);
		return err;
	}
	return fd;
}

static void hot_set_identity(struct hot_file *h, const struct stat *st)
{
	h->dev = st->st_dev;
	h->ino = st->st_ino;
	h->size = st->st_size;
	h->mtime = st->st_mtim;
	h->has_mtime = 1;
}

/*
 * Register h with xboot.ko, replacing whatever had its path (ours from a
 * run that was killed, someone else's), and take the id and generation
 * sessions carry. Its identity is read after the module read the file: a
 * change after that is the module's to report.
 */
static int hot_register(struct tftp *s, struct hot_file *h)
{
	struct kcache_file f;
	char path[PATH_MAX];
	struct stat st;
	int fd, ret;

	fd = hot_open(s, h->rel, &st);
	if (fd < 0)
		return fd;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", s->root_abs,
			     h->rel) >= sizeof(path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	ret = kcache_add(s->kc, path, XBOOT_FILE_F_REPLACE, &f);
	if (!ret && fstat(fd, &st))
		ret = -errno;
	close(fd);
	if (ret)
		return ret;
	if (f.dev != (uint64_t)st.st_dev || f.ino != (uint64_t)st.st_ino)
		return -ESTALE; /* renamed over meanwhile: again later */
	hot_set_identity(h, &st);
	h->kid = f.id;
	h->kgen = f.gen;
	h->dropped = 0;
	return 0;
}

/* Errors after which the file may come back (it is being replaced), or
 * the module may have registered it after all (its answer came late). */
static int hot_retryable(int err)
{
	return err == -ENOENT || err == -ESTALE || err == -EINVAL ||
	       err == -ETIMEDOUT;
}

static void hot_retry_later(struct hot_file *h)
{
	h->kid = 0;
	h->dropped = 1;
	h->retry_at = mono_now() + HOT_RETRY_S;
}

static int hot_load_map(struct tftp *s, struct hot_file *h, int fd,
			const struct stat *st)
{
	int ret;

	ret = xdp_ctl_tftp_load(s->xdp, (uint32_t)(h - s->hot) + 1, fd,
				st->st_size, 1);
	if (ret)
		return ret;
	hot_set_identity(h, st);
	h->pages = (uint32_t)((st->st_size + XB_BLOCK_PAGE - 1) /
			      XB_BLOCK_PAGE);
	return 0;
}

/* A configured hot file: into the map, or registered with xboot.ko. */
static void hot_add(struct tftp *s, const char *rel)
{
	struct hot_file *h;
	struct stat st;
	int fd, ret;

	while (*rel == '/')
		rel++;
	if (!*rel || strstr(rel, "://"))
		return;
	fd = hot_open(s, rel, &st);
	if (fd < 0) {
		pr_warn("tftp: hot file %s: %s", rel,
			fd == -EINVAL ? "not a regular file" : strerror(-fd));
		return;
	}
	h = hot_named(s, &st) ? NULL : hot_slot(s);
	if (!h || !(h->rel = strdup(rel))) {
		close(fd); /* named twice (or out of memory) */
		return;
	}
	h->ours = 1;
	ret = s->kc ? hot_register(s, h) : hot_load_map(s, h, fd, &st);
	close(fd);
	if (ret) {
		pr_warn("tftp: hot file %s not %s: %s", rel,
			s->kc ? "registered with xboot.ko" : "cached",
			strerror(-ret));
		if (s->kc && hot_retryable(ret))
			return hot_retry_later(h);
		return hot_free(h);
	}
	if (s->kc)
		pr_info("tftp: %s (%lld bytes) served by XDP from xboot.ko (id %u, generation %u)",
			rel, (long long)h->size, h->kid, h->kgen);
	else
		pr_info("tftp: %s (%lld bytes) served by XDP", rel,
			(long long)h->size);
}

/* --- xboot.ko's files and events --------------------------------------- */

/* A file of the module's under the root that is not known by its id:
 * ours registered by someone else, or someone else's (`xbootctl cache
 * add`), which is as hot as ours. NULL if it is not under the root. */
static struct hot_file *hot_adopt(struct tftp *s, const struct kcache_file *f)
{
	const char *rel = hot_rel_of(s, f->path);
	struct hot_file *h;
	struct stat st;
	int fd;

	if (!rel)
		return NULL;
	h = hot_by_kid(s, f->id);
	if (h)
		return h;
	h = hot_by_rel(s, rel);
	if (!h && !(h = hot_slot(s)))
		return NULL;
	if (!h->rel && !(h->rel = strdup(rel)))
		return NULL;
	h->kid = f->id;
	h->kgen = f->gen;
	h->dropped = 0;
	h->dev = f->dev;
	h->ino = f->ino;
	h->size = f->size;
	h->has_mtime = 0;
	fd = h->ours ? hot_open(s, rel, &st) : -1;
	if (fd >= 0) {
		if (st.st_dev == h->dev && st.st_ino == h->ino)
			hot_set_identity(h, &st);
		close(fd);
	}
	if (!h->ours)
		pr_info("tftp: %s (%llu bytes) registered with xboot.ko by someone else: served by XDP",
			rel, (unsigned long long)f->size);
	return h;
}

static int hot_list_one(void *arg, const struct kcache_file *f)
{
	struct hot_file *h = hot_adopt(arg, f);

	if (h)
		h->seen = 1;
	return 0;
}

/* Someone registered a file under the root: one GET, not the list. */
static void hot_added(struct tftp *s, uint32_t id)
{
	struct kcache_file *f = malloc(sizeof(*f));
	int ret;

	ret = f ? kcache_get(s->kc, id, f) : -ENOMEM;
	if (!ret) {
		hot_adopt(s, f);
	} else if (ret != -ENOENT) { /* -ENOENT: already gone again */
		pr_warn_ratelimited("tftp: xboot.ko: reading file %u: %s", id,
				    strerror(-ret));
		s->kc_refresh = 1;
	}
	free(f);
}

/* Read the module's list again: adopt what others added under the root,
 * forget what went, and register ours again if the module lost them. */
static void hot_refresh(struct tftp *s)
{
	struct hot_file *h;
	int i, ret;

	s->kc_refresh = 0;
	for (i = 0; i < s->nhot; i++)
		s->hot[i].seen = 0;
	ret = kcache_list(s->kc, hot_list_one, s);
	if (ret) {
		pr_warn_ratelimited("tftp: listing xboot.ko's files: %s",
				    strerror(-ret));
		return;
	}
	for (i = 0; i < s->nhot; i++) {
		h = &s->hot[i];
		if (!h->rel || !h->kid || h->seen)
			continue;
		if (h->ours)
			hot_retry_later(h);
		else
			hot_free(h);
	}
}

/* Changed or gone on disk: the module dropped it. */
static void hot_dropped(struct tftp *s, struct hot_file *h, uint32_t event)
{
	if (!h->ours) {
		pr_info("tftp: %s %s on disk: xboot.ko dropped it", h->rel,
			kcache_event_name(event));
		return hot_free(h);
	}
	pr_info("tftp: %s %s on disk: xboot.ko dropped it; served from userspace until it is registered again",
		h->rel, kcache_event_name(event));
	hot_retry_later(h);
	(void)s;
}

/* Unregistered, or replaced, by someone else. */
static void hot_removed(struct tftp *s, struct hot_file *h, uint32_t event)
{
	if (event == XBOOT_EVENT_REPLACED) {
		/* Registered again by someone: the list has the new one. */
		h->kid = 0;
		s->kc_refresh = 1;
		if (!h->ours)
			hot_free(h);
		return;
	}
	if (!h->ours)
		return hot_free(h);
	/* An admin's `xbootctl cache del`: not fought, until a reload. */
	pr_info("tftp: %s unregistered from xboot.ko by someone else; served from userspace until the next reload",
		h->rel);
	h->kid = 0;
}

static void hot_event(void *arg, const struct kcache_event *ev)
{
	struct tftp *s = arg;
	struct hot_file *h = hot_by_kid(s, ev->id);

	pr_debug("tftp: xboot.ko: %s %s (id %u, generation %u)",
		 kcache_event_name(ev->event), ev->path, ev->id, ev->gen);
	switch (ev->event) {
	case XBOOT_EVENT_ADDED:
		if (!h && hot_rel_of(s, ev->path))
			hot_added(s, ev->id);
		break;
	case XBOOT_EVENT_CHANGED:
	case XBOOT_EVENT_GONE:
		if (h)
			hot_dropped(s, h, ev->event);
		break;
	case XBOOT_EVENT_REMOVED:
	case XBOOT_EVENT_REPLACED:
		if (h)
			hot_removed(s, h, ev->event);
		break;
	default:
		break;
	}
}

/* Our dropped files, once they are back (at a tick or a request). */
static void hot_retry(struct tftp *s)
{
	struct hot_file *h;
	time_t now;
	int i, ret;

	if (!s->kc)
		return;
	if (s->kc_refresh)
		hot_refresh(s);
	now = mono_now();
	for (i = 0; i < s->nhot; i++) {
		h = &s->hot[i];
		if (!h->rel || !h->dropped || now < h->retry_at)
			continue;
		ret = hot_register(s, h);
		if (!ret) {
			pr_info("tftp: %s (%lld bytes) registered with xboot.ko again (id %u, generation %u): served by XDP",
				h->rel, (long long)h->size, h->kid, h->kgen);
		} else if (hot_retryable(ret)) {
			h->retry_at = now + HOT_RETRY_S;
		} else {
			h->dropped = 0;
			pr_warn("tftp: %s not registered with xboot.ko again: %s; served from userspace",
				h->rel, strerror(-ret));
		}
	}
}

static void kc_poll_arm(struct tftp *s)
{
	struct io_uring_sqe *sqe;

	if (!s->kc || s->kc_poll_armed)
		return;
	sqe = loop_get_sqe(s->loop);
	if (!sqe)
		return; /* tftp_tick() tries again */
	io_uring_prep_poll_add(sqe, kcache_event_fd(s->kc), POLLIN);
	loop_sqe_data(sqe, s, OP_KCACHE_POLL);
	s->kc_poll_armed = 1;
}

/* Its completion (-ECANCELED) re-arms the poll on the next socket. */
static void kc_poll_cancel(struct tftp *s)
{
	struct io_uring_sqe *sqe;

	if (!s->kc_poll_armed)
		return;
	sqe = loop_get_sqe(s->loop);
	if (!sqe)
		return;
	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)s | OP_KCACHE_POLL);
	loop_sqe_data(sqe, NULL, LOOP_OP_CANCEL);
}

static void handle_kc_poll(struct tftp *s, int res)
{
	int n;

	s->kc_poll_armed = 0;
	if (!s->kc)
		return;
	if (res < 0 && res != -ECANCELED)
		pr_warn_ratelimited("tftp: xboot.ko events: %s", strerror(-res));
	n = kcache_poll_events(s->kc, hot_event, s);
	if (n == -ENOBUFS) {
		pr_warn("tftp: xboot.ko events were lost; reading its list again");
		s->kc_refresh = 1;
	} else if (n < 0) {
		pr_warn_ratelimited("tftp: xboot.ko events: %s", strerror(-n));
	}
	if (s->kc_refresh)
		hot_refresh(s);
	kc_poll_arm(s);
}

/* The program takes blocks from xboot.ko: talk to it, or say why not. */
static int kc_open(struct tftp *s)
{
	int ret;

	if (s->kc)
		return 0;
	ret = kcache_open(&s->kc, 1);
	if (ret) {
		pr_warn("tftp: xboot.ko: %s; hot files not served by XDP",
			ret == -ENOENT ? "not loaded" : strerror(-ret));
		return ret;
	}
	kc_poll_arm(s);
	return 0;
}

static void kc_close(struct tftp *s)
{
	if (!s->kc)
		return;
	kc_poll_cancel(s);
	kcache_close(s->kc);
	s->kc = NULL;
}

/* Forget every hot file; ours leave the module (a map goes with its
 * program). */
static void hot_forget(struct tftp *s)
{
	struct hot_file *h;
	int i, ret;

	for (i = 0; i < s->nhot; i++) {
		h = &s->hot[i];
		if (s->kc && h->ours && h->kid) {
			ret = kcache_del(s->kc, h->kid);
			if (ret && ret != -ENOENT)
				pr_warn("tftp: unregistering %s from xboot.ko: %s",
					h->rel, strerror(-ret));
		}
		hot_free(h);
	}
	s->nhot = 0;
}

static void hot_load(struct tftp *s)
{
	const struct config *cfg = s->d->cfg;
	int i;

	if (!s->xdp)
		return kc_close(s);
	if (strcmp(xdp_ctl_block_source(s->xdp), "kfunc"))
		kc_close(s);
	else if (kc_open(s))
		return;
	for (i = 0; i < cfg->ntftp_hot; i++)
		hot_add(s, cfg->tftp_hot[i]);
	for (i = 0; i < XB_NCLASS; i++)
		hot_add(s, cfg->boot_file[i]);
	if (s->kc)
		hot_refresh(s);
	xdp_ctl_set_tftp_hook(s->xdp, xdp_done, s);
}

static int hot_current(const struct tftp *s)
{
	return s->xdp == s->d->xdp &&
	       s->xdp_serial == xdp_ctl_serial(s->d->xdp);
}

static void hot_unload(struct tftp *s)
{
	int i;

	/* A program already closed took its maps with it. */
	if (!s->xdp || !hot_current(s))
		return;
	xdp_ctl_set_tftp_hook(s->xdp, NULL, NULL);
	for (i = 0; i < s->nhot && !s->kc; i++)
		if (s->hot[i].rel)
			xdp_ctl_tftp_unload(s->xdp, i + 1, s->hot[i].pages);
}

/* xbootd starts XDP after the loop, and a reload may replace it: follow
 * d->xdp, loading (or registering again, with a new generation) the hot
 * files of the configuration in force for each new program. Transfers of
 * a program that is gone go on in userspace. */
static void hot_sync(struct tftp *s)
{
	int i;

	if (hot_current(s))
		return;
	for (i = 0; i < TFTP_MAX_XFERS; i++)
		s->xfers[i].xdp = 0;
	hot_forget(s);
	s->xdp = s->d->xdp;
	s->xdp_serial = xdp_ctl_serial(s->xdp);
	hot_load(s);
}

static void xfer_ack(struct tftp_xfer *x, uint16_t b)
{
	uint32_t blk;

	if (x->oack) {
		if (b != 0)
			return;
		x->oack = 0;
		x->retries = 0;
		return send_window(x, 1);
	}
	blk = ack_to_block(x, b);
	if (!blk)
		return; /* duplicate or stale: never answered, or every
			 * delayed ACK doubles the traffic (Sorcerer's
			 * Apprentice) */
	x->acked = blk;
	x->retries = 0;
	if (x->netascii) {
		x->na_off = x->na_next_off;
		x->na_pend = x->na_next_pend;
	}
	if (x->last && x->acked >= x->last)
		return xfer_end(x, TFTP_STAT_COMPLETED);
	/* Inside the window: the client lost what followed; resend from it. */
	send_window(x, x->acked + 1);
}

static void handle_xfer_recv(struct tftp_xfer *x, int res)
{
	uint16_t b;
	int op;

	x->rx_armed = 0;
	if (x->state == XFER_CLOSING)
		return xfer_release(x);
	hot_sync(x->srv);
	if (res < 0) {
		pr_debug_ratelimited("tftp: transfer recv: %s", strerror(-res));
		return xfer_end(x, TFTP_STAT_FAILED);
	}
	if (!same_peer(&x->from, &x->peer)) {
		send_error(x->fd, &x->from, TFTP_EBADID, "unknown transfer ID");
		return xfer_recv_arm(x);
	}
	op = tftp_parse_reply(x->rx, res, &b);
	if (x->xdp && op == TFTP_ACK)
		xdp_leave(x);
	if (op == TFTP_ERROR) {
		pr_debug("tftp: client ended a transfer with error %u", b);
		return xfer_end(x, TFTP_STAT_FAILED);
	}
	xfer_recv_arm(x);
	if (op == TFTP_ACK)
		xfer_ack(x, b);
}

static void xfer_timeout(struct tftp_xfer *x)
{
	if (x->xdp && xdp_progress(x))
		return;
	if (++x->retries > TFTP_RETRIES) {
		pr_debug("tftp: %s:%u timed out at block %u",
			 inet_ntoa(x->peer.sin_addr), ntohs(x->peer.sin_port),
			 x->acked);
		return xfer_end(x, TFTP_STAT_TIMED_OUT);
	}
	if (x->oack) {
		send_oack(x);
		return wheel_arm(x);
	}
	send_window(x, x->acked + 1);
}

static void handle_wheel_tick(struct tftp *s)
{
	struct tftp_xfer *x, *next;

	s->wheel_armed = 0;
	hot_sync(s);
	s->tick++;
	for (x = s->wheel[s->tick % TFTP_WHEEL]; x; x = next) {
		next = x->next;
		if (x->expire <= s->tick)
			xfer_timeout(x);
	}
	wheel_tick_arm(s);
}

/* --- requests ---------------------------------------------------------- */

static int xfer_socket(struct in_addr addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = addr };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* The client's MAC from its lease, or NULL when unknown. */
static const uint8_t *client_mac(struct tftp *s, struct in_addr ip)
{
	const struct lease *l;

	if (!s->d->leases)
		return NULL;
	l = lease_find_ip(s->d->leases, ip);
	return l && l->state != LEASE_FREE ? l->mac : NULL;
}

/* The file for rq, or -1 after answering the client with an error. */
static int request_open(struct tftp_listener *ln,
			const struct sockaddr_in *from,
			const struct tftp_request *rq)
{
	char rel[TFTP_NAME_MAX];
	int fd;

	fd = tftp_path_clean(rq->name, rel, sizeof(rel));
	if (!fd)
		fd = tftp_path_open(ln->srv->rootfd,
				    client_mac(ln->srv, from->sin_addr), rel);
	if (fd >= 0)
		return fd;
	pr_debug("tftp: %s asked for '%s': %s", inet_ntoa(from->sin_addr),
		 rq->name, strerror(-fd));
	if (fd == -ENOENT || fd == -ENOTDIR)
		send_error(ln->fd, from, TFTP_ENOTFOUND, "file not found");
	else if (fd == -EACCES || fd == -EPERM)
		send_error(ln->fd, from, TFTP_EACCESS, "access violation");
	else
		send_error(ln->fd, from, TFTP_EUNDEF, strerror(-fd));
	stats[TFTP_STAT_FAILED]++;
	return -1;
}

static void xfer_start(struct tftp_xfer *x, const struct tftp_request *rq,
		       uint32_t max_blksize, struct in_addr server)
{
	uint32_t max_window;

	tftp_negotiate(rq, max_blksize, TFTP_WINDOW_CAP, x->size, &x->p);
	max_window = TFTP_BATCH_BYTES / (x->p.blksize + TFTP_HDR_LEN);
	if (x->p.window > max_window)
		x->p.window = max_window;
	x->last = x->netascii ? 0 : (uint32_t)(x->size / x->p.blksize + 1);
	stats[TFTP_STAT_STARTED]++;
	x->srv->nactive++;
	wheel_tick_arm(x->srv);
	xfer_recv_arm(x);
	xdp_register(x, server);
	if (x->p.ack) {
		x->oack = 1;
		send_oack(x);
		return wheel_arm(x);
	}
	send_window(x, 1);
}

static void handle_request(struct tftp_listener *ln,
			   const struct sockaddr_in *from,
			   const struct tftp_request *rq)
{
	struct tftp *s = ln->srv;
	struct tftp_xfer *x;
	struct stat st;
	int file, fd;

	hot_sync(s);
	hot_retry(s);
	file = request_open(ln, from, rq);
	if (file < 0)
		return;
	x = s->free;
	fd = x ? xfer_socket(ln->addr) : -EBUSY;
	if (fd < 0 || fstat(file, &st)) {
		pr_warn_ratelimited("tftp: cannot start a transfer: %s",
				    fd < 0 ? strerror(-fd) : strerror(errno));
		send_error(ln->fd, from, TFTP_EUNDEF, "server busy");
		stats[TFTP_STAT_FAILED]++;
		if (fd >= 0)
			close(fd);
		close(file);
		return;
	}
	s->free = x->next;
	memset(x, 0, offsetof(struct tftp_xfer, msg));
	x->srv = s;
	x->state = XFER_ACTIVE;
	x->fd = fd;
	x->file = file;
	x->netascii = rq->netascii;
	x->na_pend = -1;
	x->peer = *from;
	x->size = st.st_size;
	x->mtime = st.st_mtim;
	snprintf(x->name, sizeof(x->name), "%.*s", (int)sizeof(x->name) - 1,
		 rq->name);
	pr_debug("tftp: %s:%u gets '%s' (%llu bytes)",
		 inet_ntoa(from->sin_addr), ntohs(from->sin_port), rq->name,
		 (unsigned long long)x->size);
	xfer_start(x, rq, ln->max_blksize, ln->addr);
}

static void listen_arm(struct listen_rx *rx)
{
	struct io_uring_sqe *sqe = loop_get_sqe(rx->ln->srv->loop);

	if (!sqe)
		return;
	rx->iov = (struct iovec){ rx->buf, sizeof(rx->buf) };
	rx->msg = (struct msghdr){
		.msg_name = &rx->from,
		.msg_namelen = sizeof(rx->from),
		.msg_iov = &rx->iov,
		.msg_iovlen = 1,
	};
	io_uring_prep_recvmsg(sqe, rx->ln->fd, &rx->msg, 0);
	loop_sqe_data(sqe, rx, OP_LISTEN_RECV);
}

static void handle_listen_recv(struct listen_rx *rx, int res)
{
	struct tftp_listener *ln = rx->ln;
	struct tftp_request rq;
	const char *why;
	int ret;

	if (res < 0) {
		pr_warn_ratelimited("tftp: recv: %s", strerror(-res));
		if (res == -ECANCELED || res == -EBADF)
			return; /* shutting down: do not spin */
		return listen_arm(rx);
	}
	ret = tftp_parse_request(rx->buf, res, &rq, &why);
	if (rx->msg.msg_flags & MSG_TRUNC) {
		ret = -EINVAL;
		why = "request too long";
	}
	if (ret == -EINVAL) {
		send_error(ln->fd, &rx->from, TFTP_EBADOP, why);
	} else if (!ret && rq.opcode == TFTP_WRQ) {
		send_error(ln->fd, &rx->from, TFTP_EACCESS,
			   "WRQ not supported");
	} else if (!ret) {
		handle_request(ln, &rx->from, &rq);
	}
	listen_arm(rx);
}

void tftp_handle(struct tftp *s, int op, void *obj, int res)
{
	switch (op) {
	case OP_LISTEN_RECV:
		handle_listen_recv(obj, res);
		break;
	case OP_XFER_RECV:
		handle_xfer_recv(obj, res);
		break;
	case OP_WHEEL_TICK:
		handle_wheel_tick(s);
		break;
	case OP_KCACHE_POLL:
		handle_kc_poll(s, res);
		break;
	}
}

void tftp_tick(struct tftp *s, time_t now)
{
	(void)now;
	if (!s)
		return;
	hot_sync(s);
	hot_retry(s);
	kc_poll_arm(s);
	wheel_tick_arm(s);
}

/* --- setup ------------------------------------------------------------- */

static uint32_t iface_max_blksize(int fd, const char *ifname)
{
	struct ifreq ifr = { 0 };
	uint32_t mtu = 1500;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (!ioctl(fd, SIOCGIFMTU, &ifr) && ifr.ifr_mtu > 576)
		mtu = ifr.ifr_mtu;
	/* IPv4 and UDP headers, then TFTP's own 4 bytes: 1468 for 1500. */
	mtu -= 20 + 8 + TFTP_HDR_LEN;
	return mtu < TFTP_BLKSIZE_MAX ? mtu : TFTP_BLKSIZE_MAX;
}

static int listener_open(struct tftp_listener *ln,
			 const struct xbootd_iface *xi)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(TFTP_PORT),
				   .sin_addr = xi->link.addr };
	int fd, one = 1, err;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		err = -errno;
		close(fd);
		return err;
	}
	ln->fd = fd;
	ln->addr = xi->link.addr;
	ln->max_blksize = iface_max_blksize(fd, xi->link.name);
	return 0;
}

static void tftp_free(struct tftp *s)
{
	int i;

	for (i = 0; i < s->nln; i++)
		close(s->ln[i].fd);
	if (s->rootfd >= 0)
		close(s->rootfd);
	free(s->xfers);
	free(s);
}

static int tftp_alloc(struct tftp **out, struct loop *l, struct xbootd *d)
{
	struct tftp *s = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*s));
	int i;

	if (!s)
		return -ENOMEM;
	memset(s, 0, offsetof(struct tftp, mmsg));
	s->loop = l;
	s->d = d;
	s->rootfd = -1;
	s->xfers = aligned_alloc(1 << LOOP_OP_BITS,
				 TFTP_MAX_XFERS * sizeof(*s->xfers));
	if (!s->xfers) {
		free(s);
		return -ENOMEM;
	}
	for (i = TFTP_MAX_XFERS - 1; i >= 0; i--) {
		s->xfers[i].state = XFER_FREE;
		s->xfers[i].next = s->free;
		s->free = &s->xfers[i];
	}
	*out = s;
	return 0;
}

int tftp_open(struct tftp **out, struct loop *l, struct xbootd *d)
{
	struct tftp *s;
	int i, k, ret;

	*out = NULL;
	if (d->cfg->tftp_off)
		return 0;
	ret = tftp_alloc(&s, l, d);
	if (ret)
		return ret;
	s->rootfd = open(d->cfg->tftp_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		pr_warn("tftp: root %s: %s; not serving TFTP",
			d->cfg->tftp_root, strerror(errno));
		tftp_free(s);
		return 0;
	}
	/* xboot.ko takes absolute paths; "/" is kept as "" so that root
	 * plus '/' plus a relative path never starts with "//". */
	if (!realpath(d->cfg->tftp_root, s->root_abs)) {
		pr_warn("tftp: root %s: %s; not serving TFTP",
			d->cfg->tftp_root, strerror(errno));
		tftp_free(s);
		return 0;
	}
	if (!strcmp(s->root_abs, "/"))
		s->root_abs[0] = '\0';
	for (i = 0; i < d->nifaces; i++, s->nln++) {
		ret = listener_open(&s->ln[i], &d->ifaces[i]);
		if (ret) {
			pr_err("%s: cannot listen on UDP port %d: %s",
			       d->ifaces[i].link.name, TFTP_PORT,
			       strerror(-ret));
			tftp_free(s);
			return ret;
		}
		s->ln[i].srv = s;
		for (k = 0; k < TFTP_LISTEN_RX; k++) {
			s->ln[i].rx[k].ln = &s->ln[i];
			listen_arm(&s->ln[i].rx[k]);
		}
	}
	hot_sync(s);
	d->tftp_stats = stats;
	pr_info("tftp: serving %s on %d interface(s)", d->cfg->tftp_root,
		s->nln);
	*out = s;
	return 0;
}

void tftp_close(struct tftp *s)
{
	int i;

	if (!s)
		return;
	s->d->tftp_stats = NULL;
	for (i = 0; i < TFTP_MAX_XFERS; i++) {
		if (s->xfers[i].state == XFER_FREE)
			continue;
		if (s->xfers[i].xdp && hot_current(s))
			xdp_ctl_tftp_sess_del(s->xdp, &s->xfers[i].xkey);
		if (s->xfers[i].file >= 0)
			close(s->xfers[i].file);
		close(s->xfers[i].fd);
	}
	hot_unload(s);
	/* The ring is gone, and the poll with it; ours leave the module
	 * (a kill -9 leaves them: the next start replaces them). */
	s->kc_poll_armed = 0;
	hot_forget(s);
	kc_close(s);
	tftp_free(s);
}
