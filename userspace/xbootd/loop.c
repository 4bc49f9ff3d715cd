// SPDX-License-Identifier: GPL-2.0
/*
 * The event loop. Per interface: UDP sockets on 0.0.0.0:67 and :4011 (PXE
 * boot-server requests) bound to the device, several recvmsg operations in flight on
 * each, and an AF_PACKET socket for replies to clients that have no address
 * yet (DHCP_TX_L2: the kernel cannot ARP for them).
 *
 * Group commit: the completions of one batch are handled inside one store
 * transaction; its replies wait in tx_pending until store_commit() returns,
 * and only then are they queued to the ring. So a client never holds an
 * ACK for a lease a crash could forget, and a burst of DISCOVERs costs one
 * fsync-free WAL commit, not one per packet.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "agent_srv.h"
#include "control.h"
#include "http.h"
#include "ra.h"
#include "log.h"
#include "loop.h"
#include "media_srv.h"
#include "tftp.h"
#include "xbootd.h"

#define LOOP_RING_ENTRIES 1024
#define LOOP_CQ_ENTRIES 8192
#define LOOP_CQE_BATCH 256
#define RX_PER_SOCK 32
#define RX_BUF_LEN 2048 /* > any DHCP request on a 1500 MTU */
#define TX_SLOTS 2048
#define FRAME_HDR_LEN (ETH_HLEN + sizeof(struct iphdr) + sizeof(struct udphdr))

struct dhcp_sock {
	int fd;
	uint16_t port;
	int iface; /* index into xbootd.ifaces */
};

union pktinfo_cmsg {
	char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
	struct cmsghdr align;
};

struct rx_slot {
	struct dhcp_sock *sock;
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_in from;
	union pktinfo_cmsg cmsg;
	uint8_t buf[RX_BUF_LEN];
} LOOP_ALIGNED;

struct tx_slot {
	struct tx_slot *next;
	struct dhcp_tx tx;
	struct msghdr msg;
	struct iovec iov;
	union {
		struct sockaddr_in in;
		struct sockaddr_ll ll;
	} to;
	union pktinfo_cmsg cmsg;
	uint8_t frame[FRAME_HDR_LEN + DHCP_REPLY_MAX_LEN];
} LOOP_ALIGNED;

struct loop_iface {
	int raw_fd;
	struct dhcp_sock socks[2]; /* 67, then 4011 */
	int nsocks;
};

struct loop {
	struct io_uring ring;
	struct xbootd *d;
	struct control *ctl;
	struct tftp *tftp;
	struct http *http;
	struct ra *ra;        /* NULL: ipv6-ra=off */
	struct agent_srv *agents; /* NULL: agent-port=0 */
	struct media_srv *media;  /* POST /media builds */
	struct loop_iface ifs[CFG_MAX_INTERFACES];
	int nifs;

	struct rx_slot *rx;
	int nrx;
	struct tx_slot *tx;
	struct tx_slot *tx_free;
	struct tx_slot *tx_pending[TX_SLOTS];
	int npending;

	int sfd;
	struct __kernel_timespec tick;
	uint64_t xdp_poll_data; /* 0: not armed */
	uint64_t xdp_gen;

	int batch_open;   /* a store transaction is open for this batch */
	int want_reload;
	int want_stop;
	uint64_t tx_dropped;
} LOOP_ALIGNED;

struct io_uring *loop_ring(struct loop *l)
{
	return &l->ring;
}

struct media_srv *loop_media(struct loop *l)
{
	return l->media;
}

struct io_uring_sqe *loop_get_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (sqe)
		return sqe;
	io_uring_submit(&l->ring);
	sqe = io_uring_get_sqe(&l->ring);
	if (!sqe)
		pr_warn_ratelimited("io_uring submission queue full");
	return sqe;
}

/* --- sockets ----------------------------------------------------------- */

static int set_int(int fd, int level, int opt, int val)
{
	return setsockopt(fd, level, opt, &val, sizeof(val));
}

/*
 * Sockets stay blocking: io_uring polls them itself, while O_NONBLOCK would
 * make it hand EAGAIN back to us instead of waiting.
 */
static int dhcp_sock_open(const char *ifname, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port) };
	int fd, err;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) ||
	    set_int(fd, SOL_SOCKET, SO_BROADCAST, 1) ||
	    set_int(fd, IPPROTO_IP, IP_PKTINFO, 1) ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
		       strlen(ifname) + 1))
		goto err;
	/* A boot storm arrives faster than one loop iteration. */
	set_int(fd, SOL_SOCKET, SO_RCVBUF, 4 << 20);
	set_int(fd, SOL_SOCKET, SO_SNDBUF, 4 << 20);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)))
		goto err;
	return fd;
err:
	err = -errno;
	close(fd);
	return err;
}

/* Send-only: protocol 0 so the kernel hands it no received frames. */
static int raw_sock_open(int ifindex)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_ifindex = ifindex };
	int fd, err;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		err = -errno;
		close(fd);
		return err;
	}
	set_int(fd, SOL_SOCKET, SO_SNDBUF, 4 << 20);
	return fd;
}

static int loop_iface_open(struct loop *l, int i)
{
	struct xbootd_iface *xi = &l->d->ifaces[i];
	struct loop_iface *li = &l->ifs[i];
	/* 4011 in both modes: ProxyDHCP's boot-server requests, and PXE menu
	 * picks (a reload may turn pxe-menu on without reopening sockets). */
	uint16_t ports[2] = { DHCP_SERVER_PORT, PXE_BOOT_SERVER_PORT };
	int n = 2, k, fd;

	li->raw_fd = -1;
	for (k = 0; k < n; k++) {
		fd = dhcp_sock_open(xi->link.name, ports[k]);
		if (fd < 0) {
			pr_err("%s: cannot listen on UDP port %u: %s%s",
			       xi->link.name, ports[k], strerror(-fd),
			       fd == -EADDRINUSE ? " (another DHCP server?)" : "");
			return fd;
		}
		li->socks[k] = (struct dhcp_sock){ fd, ports[k], i };
		li->nsocks++;
	}
	fd = raw_sock_open(xi->link.ifindex);
	if (fd < 0) {
		pr_err("%s: cannot open a packet socket: %s", xi->link.name,
		       strerror(-fd));
		return fd;
	}
	li->raw_fd = fd;
	return 0;
}

static void loop_iface_close(struct loop_iface *li)
{
	int k;

	for (k = 0; k < li->nsocks; k++)
		close(li->socks[k].fd);
	li->nsocks = 0;
	if (li->raw_fd >= 0)
		close(li->raw_fd);
	li->raw_fd = -1;
}

/* --- receiving --------------------------------------------------------- */

static void rx_arm(struct loop *l, struct rx_slot *rx)
{
	struct io_uring_sqe *sqe = loop_get_sqe(l);

	if (!sqe)
		return;
	rx->iov.iov_base = rx->buf;
	rx->iov.iov_len = sizeof(rx->buf);
	rx->msg = (struct msghdr){
		.msg_name = &rx->from,
		.msg_namelen = sizeof(rx->from),
		.msg_iov = &rx->iov,
		.msg_iovlen = 1,
		.msg_control = rx->cmsg.buf,
		.msg_controllen = sizeof(rx->cmsg.buf),
	};
	io_uring_prep_recvmsg(sqe, rx->sock->fd, &rx->msg, 0);
	loop_sqe_data(sqe, rx, LOOP_OP_DHCP_RECV);
}

static struct tx_slot *tx_get(struct loop *l)
{
	struct tx_slot *s = l->tx_free;

	if (s)
		l->tx_free = s->next;
	return s;
}

static void tx_put(struct loop *l, struct tx_slot *s)
{
	s->next = l->tx_free;
	l->tx_free = s;
}

/* The first DHCP packet of a batch opens its transaction. */
static void batch_open(struct loop *l)
{
	if (l->batch_open)
		return;
	l->batch_open = 1;
	if (store_begin(l->d->store))
		pr_warn_ratelimited("store: cannot begin a transaction");
	/* Learn every lease XDP granted before deciding anything; their
	 * writes join this batch's commit. */
	if (l->d->xdp)
		xdp_ctl_poll_events(l->d->xdp);
}

static void rx_fill(struct rx_slot *rx, size_t len, struct dhcp_rx *req)
{
	struct cmsghdr *c;
	struct in_pktinfo pi;

	*req = (struct dhcp_rx){
		.buf = rx->buf,
		.len = len,
		.src = rx->from.sin_addr,
		.sport = ntohs(rx->from.sin_port),
		.dport = rx->sock->port,
	};
	for (c = CMSG_FIRSTHDR(&rx->msg); c; c = CMSG_NXTHDR(&rx->msg, c)) {
		if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO)
			continue;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		req->ifindex = pi.ipi_ifindex;
		req->local = pi.ipi_addr;
	}
}

static void handle_dhcp_recv(struct loop *l, struct rx_slot *rx, int len)
{
	struct xbootd_iface *xi = &l->d->ifaces[rx->sock->iface];
	struct dhcp_rx req;
	struct tx_slot *s;

	if (rx->msg.msg_flags & MSG_TRUNC) {
		pr_debug_ratelimited("%s: dropped a %d+ byte datagram",
				     xi->link.name, len);
		goto rearm;
	}
	rx_fill(rx, len, &req);
	if (!req.ifindex)
		req.ifindex = xi->link.ifindex;
	s = tx_get(l);
	if (!s) {
		l->tx_dropped++;
		pr_warn_ratelimited("%s: reply queue full, dropping a request",
				    xi->link.name);
		goto rearm;
	}
	batch_open(l);
	if (dhcp_server_handle(xi->srv, &req, &s->tx) == 1 && s->tx.len)
		l->tx_pending[l->npending++] = s;
	else
		tx_put(l, s);
rearm:
	rx_arm(l, rx);
}

/* --- sending ----------------------------------------------------------- */

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	return sum;
}

/*
 * Ethernet + IPv4 + UDP around the payload, as the XDP path writes them.
 * The headers are built in locals and copied: after 14 bytes of Ethernet
 * the IP header is not 4-byte aligned in the frame.
 */
static size_t frame_build(struct tx_slot *s, const uint8_t src_mac[6])
{
	const struct dhcp_tx *tx = &s->tx;
	uint16_t ulen = sizeof(struct udphdr) + tx->len;
	struct ethhdr eth = { .h_proto = htons(ETH_P_IP) };
	struct iphdr ip = {
		.version = 4,
		.ihl = 5,
		.tot_len = htons(sizeof(ip) + ulen),
		.ttl = 64,
		.protocol = IPPROTO_UDP,
		.saddr = tx->src.s_addr,
		.daddr = tx->dst.s_addr,
	};
	struct udphdr udp = {
		.source = htons(tx->sport),
		.dest = htons(tx->dport),
		.len = htons(ulen),
	};
	uint8_t *p = s->frame;
	uint32_t sum;

	memcpy(eth.h_dest, tx->dst_mac, 6);
	memcpy(eth.h_source, src_mac, 6);
	ip.check = htons(csum_fold(csum_add(0, &ip, sizeof(ip))));
	sum = csum_add(0, &ip.saddr, 8); /* pseudo header: saddr, daddr, */
	sum += IPPROTO_UDP + ulen;       /* protocol, UDP length */
	sum = csum_add(sum, &udp, sizeof(udp));
	sum = csum_add(sum, tx->buf, tx->len);
	udp.check = htons(csum_fold(sum));
	if (!udp.check)
		udp.check = 0xffff;
	memcpy(p, &eth, sizeof(eth));
	memcpy(p + sizeof(eth), &ip, sizeof(ip));
	memcpy(p + sizeof(eth) + sizeof(ip), &udp, sizeof(udp));
	memcpy(p + FRAME_HDR_LEN, tx->buf, tx->len);
	return FRAME_HDR_LEN + tx->len;
}

static int tx_prep_l2(struct loop *l, struct tx_slot *s, struct loop_iface *li,
		      struct xbootd_iface *xi)
{
	s->iov = (struct iovec){ s->frame, frame_build(s, xi->link.mac) };
	s->to.ll = (struct sockaddr_ll){
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_IP),
		.sll_ifindex = xi->link.ifindex,
		.sll_halen = 6,
	};
	memcpy(s->to.ll.sll_addr, s->tx.dst_mac, 6);
	s->msg = (struct msghdr){ .msg_name = &s->to.ll,
				  .msg_namelen = sizeof(s->to.ll),
				  .msg_iov = &s->iov,
				  .msg_iovlen = 1 };
	return li->raw_fd;
}

static int tx_prep_udp(struct loop *l, struct tx_slot *s, struct loop_iface *li,
		       struct xbootd_iface *xi)
{
	struct in_pktinfo pi = { .ipi_ifindex = xi->link.ifindex,
				 .ipi_spec_dst = s->tx.src };
	struct cmsghdr *c;
	int k, fd = li->socks[0].fd;

	for (k = 0; k < li->nsocks; k++)
		if (li->socks[k].port == s->tx.sport)
			fd = li->socks[k].fd;
	s->iov = (struct iovec){ s->tx.buf, s->tx.len };
	s->to.in = (struct sockaddr_in){ .sin_family = AF_INET,
					 .sin_port = htons(s->tx.dport),
					 .sin_addr = s->tx.dst };
	s->msg = (struct msghdr){ .msg_name = &s->to.in,
				  .msg_namelen = sizeof(s->to.in),
				  .msg_iov = &s->iov,
				  .msg_iovlen = 1,
				  .msg_control = s->cmsg.buf,
				  .msg_controllen = sizeof(s->cmsg.buf) };
	c = CMSG_FIRSTHDR(&s->msg);
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	return fd;
}

static void tx_submit(struct loop *l, struct tx_slot *s)
{
	struct xbootd_iface *xi = xbootd_iface_by_index(l->d, s->tx.ifindex);
	struct io_uring_sqe *sqe;
	struct loop_iface *li;
	int fd;

	if (!xi) {
		pr_warn_ratelimited("reply for unknown ifindex %d dropped",
				    s->tx.ifindex);
		tx_put(l, s);
		return;
	}
	li = &l->ifs[xi - l->d->ifaces];
	if (s->tx.via == DHCP_TX_L2)
		fd = tx_prep_l2(l, s, li, xi);
	else
		fd = tx_prep_udp(l, s, li, xi);
	sqe = loop_get_sqe(l);
	if (!sqe) {
		tx_put(l, s);
		return;
	}
	io_uring_prep_sendmsg(sqe, fd, &s->msg, MSG_NOSIGNAL);
	loop_sqe_data(sqe, s, LOOP_OP_DHCP_SEND);
}

static void handle_dhcp_send(struct loop *l, struct tx_slot *s, int res)
{
	tx_put(l, s);
}

/* End of a batch: commit, and only then let the replies go. */
static void batch_close(struct loop *l)
{
	int i, ret = 0;

	if (l->batch_open)
		ret = store_commit(l->d->store);
	l->batch_open = 0;
	for (i = 0; i < l->npending; i++) {
		if (ret)
			tx_put(l, l->tx_pending[i]);
		else
			tx_submit(l, l->tx_pending[i]);
	}
	if (ret && l->npending)
		pr_warn_ratelimited("store commit failed: %d replies withheld",
				    l->npending);
	l->npending = 0;
}

/* --- XDP ring buffer ----------------------------------------------------- */

static void xdp_poll_arm(struct loop *l)
{
	struct io_uring_sqe *sqe;

	if (!l->d->xdp || l->xdp_poll_data)
		return;
	sqe = loop_get_sqe(l);
	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, xdp_ctl_event_fd(l->d->xdp), POLLIN);
	/* Not an object: a generation, so a poll on a closed fd is ignored. */
	l->xdp_poll_data = (++l->xdp_gen << LOOP_OP_BITS) | LOOP_OP_XDP_POLL;
	io_uring_sqe_set_data64(sqe, l->xdp_poll_data);
}

static void xdp_poll_cancel(struct loop *l)
{
	struct io_uring_sqe *sqe;

	if (!l->xdp_poll_data)
		return;
	sqe = loop_get_sqe(l);
	if (sqe) {
		io_uring_prep_poll_remove(sqe, l->xdp_poll_data);
		io_uring_sqe_set_data64(sqe, LOOP_OP_CANCEL);
		io_uring_submit(&l->ring);
	}
	l->xdp_poll_data = 0;
}

static void handle_xdp_poll(struct loop *l, uint64_t data, int res)
{
	if (data != l->xdp_poll_data)
		return; /* stale: from before a reload */
	l->xdp_poll_data = 0;
	if (!l->d->xdp)
		return;
	batch_open(l);
	xdp_ctl_poll_events(l->d->xdp);
	xdp_poll_arm(l);
}

/* --- timer and signals ------------------------------------------------- */

static void timer_arm(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_get_sqe(l);

	if (!sqe)
		return;
	l->tick = (struct __kernel_timespec){ .tv_sec = 1 };
	io_uring_prep_timeout(sqe, &l->tick, 0, 0);
	loop_sqe_data(sqe, l, LOOP_OP_TIMER);
}

static void handle_timer(struct loop *l)
{
	time_t now = time(NULL);

	batch_open(l);
	lease_expire(l->d->leases, now);
	if (l->d->xdp)
		xdp_ctl_tick(l->d->xdp, now);
	control_tick(l->ctl);
	tftp_tick(l->tftp, now);
	http_tick(l->http, now);
	agent_srv_tick(l->agents, now);
	media_srv_tick(l->media, now);
	timer_arm(l);
}

static int signals_open(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* A shell starts background jobs with SIGINT ignored, and an ignored
	 * signal never reaches a signalfd. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/*
 * Poll in the ring, read here: a read of the signalfd queued to the ring
 * would be done by an io-wq thread or refused with EAGAIN, and either way
 * is harder to reason about than a read in the thread that blocks them.
 */
static void signal_arm(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_get_sqe(l);

	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, l->sfd, POLLIN);
	loop_sqe_data(sqe, l, LOOP_OP_SIGNAL);
}

static void handle_signal(struct loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			pr_info("SIGHUP: reloading the configuration");
			l->want_reload = 1;
		} else {
			pr_info("%s: stopping", strsignal(si.ssi_signo));
			l->want_stop = 1;
		}
	}
	signal_arm(l);
}

/* Between batches, so no transaction is open and no reply is pending. */
static void loop_reload(struct loop *l)
{
	l->want_reload = 0;
	if (!l->d->reload)
		return;
	xdp_poll_cancel(l);
	if (l->d->reload(l->d))
		pr_err("reload failed: still running the previous configuration");
	xdp_poll_arm(l);
}

/* --- dispatch ---------------------------------------------------------- */

static void handle_error(struct loop *l, int op, void *obj, int res)
{
	struct rx_slot *rx;

	switch (op) {
	case LOOP_OP_DHCP_RECV:
		rx = obj;
		pr_warn_ratelimited("recvmsg: %s", strerror(-res));
		rx_arm(l, rx);
		break;
	case LOOP_OP_DHCP_SEND:
		pr_debug_ratelimited("sendmsg: %s", strerror(-res));
		handle_dhcp_send(l, obj, res);
		break;
	case LOOP_OP_TIMER:
		if (res == -ETIME)
			handle_timer(l);
		else
			timer_arm(l);
		break;
	case LOOP_OP_SIGNAL:
		pr_warn_ratelimited("signalfd poll: %s", strerror(-res));
		signal_arm(l);
		break;
	default:
		break;
	}
}

static void handle_cqe(struct loop *l, struct io_uring_cqe *cqe)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);
	int op = data & ((1 << LOOP_OP_BITS) - 1);
	void *obj = (void *)(uintptr_t)(data & ~(uint64_t)((1 << LOOP_OP_BITS) - 1));

	if (op == LOOP_OP_XDP_POLL)
		return handle_xdp_poll(l, data, cqe->res);
	if (op >= LOOP_OP_CTL_ACCEPT && op <= LOOP_OP_CTL_SEND)
		return control_handle(l->ctl, op, obj, cqe->res);
	if (op >= LOOP_OP_TFTP_FIRST && op <= LOOP_OP_TFTP_LAST)
		return tftp_handle(l->tftp, op, obj, cqe->res);
	if (op >= LOOP_OP_HTTP_FIRST && op <= LOOP_OP_HTTP_LAST)
		return http_handle(l->http, op, obj, cqe->res);
	if (op == LOOP_OP_RA_POLL)
		return ra_handle(l->ra, obj, cqe->res);
	if (op >= LOOP_OP_AGENT_FIRST && op <= LOOP_OP_AGENT_LAST)
		return agent_srv_handle(l->agents, op, obj, cqe->res);
	if (op >= LOOP_OP_MEDIA_WAIT && op <= LOOP_OP_MEDIA_WRITE)
		return media_srv_handle(l->media, op, obj, cqe->res);
	if (cqe->res < 0)
		return handle_error(l, op, obj, cqe->res);
	switch (op) {
	case LOOP_OP_DHCP_RECV:
		handle_dhcp_recv(l, obj, cqe->res);
		break;
	case LOOP_OP_DHCP_SEND:
		handle_dhcp_send(l, obj, cqe->res);
		break;
	case LOOP_OP_TIMER:
		handle_timer(l);
		break;
	case LOOP_OP_SIGNAL:
		handle_signal(l);
		break;
	default:
		break;
	}
}

static void loop_batch(struct loop *l)
{
	struct io_uring_cqe *cqes[LOOP_CQE_BATCH];
	unsigned int n, i;

	n = io_uring_peek_batch_cqe(&l->ring, cqes, LOOP_CQE_BATCH);
	for (i = 0; i < n; i++)
		handle_cqe(l, cqes[i]);
	io_uring_cq_advance(&l->ring, n);
	batch_close(l);
}

int loop_run(struct loop *l)
{
	int ret;

	xdp_poll_arm(l); /* XDP is attached after the loop is created */
	while (!l->want_stop) {
		ret = io_uring_submit_and_wait(&l->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			pr_err("io_uring: %s", strerror(-ret));
			return ret;
		}
		loop_batch(l);
		if (l->want_reload && !l->want_stop)
			loop_reload(l);
	}
	return 0;
}

/* --- setup ------------------------------------------------------------- */

static int ring_init(struct loop *l)
{
	struct io_uring_params p = {
		/* Completion work runs only when the loop waits, not in the
		 * middle of SQLite's writes (DEFER_TASKRUN: 6.1 and later). */
		.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
			 IORING_SETUP_DEFER_TASKRUN,
		.cq_entries = LOOP_CQ_ENTRIES,
	};
	int ret;

	ret = io_uring_queue_init_params(LOOP_RING_ENTRIES, &l->ring, &p);
	if (ret == -EINVAL) {
		/* Kernels before 6.1 know neither flag. */
		p = (struct io_uring_params){ .flags = IORING_SETUP_CQSIZE,
					      .cq_entries = LOOP_CQ_ENTRIES };
		ret = io_uring_queue_init_params(LOOP_RING_ENTRIES, &l->ring,
						 &p);
	}
	if (ret)
		pr_err("io_uring: %s", strerror(-ret));
	return ret;
}

static int slots_init(struct loop *l)
{
	int i, k, n = 0;

	for (i = 0; i < l->nifs; i++)
		n += l->ifs[i].nsocks * RX_PER_SOCK;
	l->rx = aligned_alloc(1 << LOOP_OP_BITS, n * sizeof(*l->rx));
	l->tx = aligned_alloc(1 << LOOP_OP_BITS, TX_SLOTS * sizeof(*l->tx));
	if (!l->rx || !l->tx)
		return -ENOMEM;
	for (i = 0; i < TX_SLOTS; i++)
		tx_put(l, &l->tx[i]);
	for (i = 0; i < l->nifs; i++)
		for (k = 0; k < l->ifs[i].nsocks * RX_PER_SOCK; k++)
			l->rx[l->nrx++].sock = &l->ifs[i].socks[k / RX_PER_SOCK];
	return 0;
}

int loop_create(struct loop **out, struct xbootd *d)
{
	struct loop *l;
	int i, ret;

	l = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*l));
	if (!l)
		return -ENOMEM;
	memset(l, 0, sizeof(*l));
	l->d = d;
	l->sfd = -1;
	for (i = 0; i < d->nifaces; i++, l->nifs++) {
		ret = loop_iface_open(l, i);
		if (ret) {
			l->nifs++;
			goto err;
		}
	}
	ret = slots_init(l);
	if (ret)
		goto err;
	l->sfd = signals_open();
	if (l->sfd < 0) {
		ret = -errno;
		pr_err("signalfd: %s", strerror(errno));
		goto err;
	}
	ret = ring_init(l);
	if (ret)
		goto err;
	ret = media_srv_open(&l->media, l);
	if (ret)
		goto err_ring;
	ret = control_open(&l->ctl, l, d, d->cfg->control_socket);
	if (ret)
		goto err_media;
	ret = tftp_open(&l->tftp, l, d);
	if (ret)
		goto err_control;
	ret = http_open(&l->http, l, d);
	if (ret)
		goto err_tftp;
	ret = ra_open(&l->ra, l, d);
	if (ret)
		goto err_http;
	ret = agent_srv_open(&l->agents, l, d);
	if (ret)
		goto err_ra;
	for (i = 0; i < l->nrx; i++)
		rx_arm(l, &l->rx[i]);
	timer_arm(l);
	signal_arm(l);
	xdp_poll_arm(l);
	*out = l;
	return 0;

err_ra:
	io_uring_queue_exit(&l->ring);
	ra_close(l->ra);
	http_close(l->http);
	tftp_close(l->tftp);
	control_close(l->ctl);
	media_srv_close(l->media);
	goto err;
err_http:
	io_uring_queue_exit(&l->ring);
	http_close(l->http);
	tftp_close(l->tftp);
	control_close(l->ctl);
	media_srv_close(l->media);
	goto err;
err_tftp:
	io_uring_queue_exit(&l->ring);
	tftp_close(l->tftp);
	control_close(l->ctl);
	media_srv_close(l->media);
	goto err;
err_control:
	io_uring_queue_exit(&l->ring);
	control_close(l->ctl);
	media_srv_close(l->media);
	goto err;
err_media:
	io_uring_queue_exit(&l->ring);
	media_srv_close(l->media);
	goto err;
err_ring:
	io_uring_queue_exit(&l->ring);
err:
	for (i = 0; i < l->nifs; i++)
		loop_iface_close(&l->ifs[i]);
	if (l->sfd >= 0)
		close(l->sfd);
	free(l->rx);
	free(l->tx);
	free(l);
	return ret;
}

void loop_destroy(struct loop *l)
{
	int i;

	if (!l)
		return;
	/* Exiting the ring cancels what is in flight before the buffers go. */
	io_uring_queue_exit(&l->ring);
	agent_srv_close(l->agents);
	ra_close(l->ra);
	http_close(l->http);
	tftp_close(l->tftp);
	/* before control: a build's callback points at a connection */
	media_srv_close(l->media);
	l->media = NULL;
	control_close(l->ctl);
	for (i = 0; i < l->nifs; i++)
		loop_iface_close(&l->ifs[i]);
	close(l->sfd);
	free(l->rx);
	free(l->tx);
	free(l);
}
