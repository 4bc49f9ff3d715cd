// SPDX-License-Identifier: GPL-2.0
/*
 * Quiet router advertisements for PXE clients: see ra.h for why. The
 * sockets are polled from the loop; a solicitation is read, checked and
 * answered right there (they are rare: a few per booting machine).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lease.h"
#include "log.h"
#include "loop.h"
#include "ra.h"
#include "xbootd.h"

#define RA_OPT_SLLA 1 /* source link-layer address */
#define RA_BUF 1280

struct ra_sock {
	struct ra *r;
	int fd;
	int ifindex;
	uint8_t mac[6];
	char name[IF_NAMESIZE];
} LOOP_ALIGNED;

struct ra {
	struct loop *loop;
	struct xbootd *d;
	struct ra_sock socks[CFG_MAX_INTERFACES];
	int nsocks;
};

int ra_parse_solicit(const uint8_t *buf, size_t len, int hops,
		     struct ra_solicit *out)
{
	size_t off = sizeof(struct nd_router_solicit);

	memset(out, 0, sizeof(*out));
	/* Only a neighbour on the link can send with hop limit 255. */
	if (hops != 255)
		return -EPERM;
	if (len < off || buf[0] != ND_ROUTER_SOLICIT || buf[1] != 0)
		return -EINVAL;
	while (off < len) {
		size_t olen;

		if (len - off < 2)
			return -EINVAL;
		olen = (size_t)buf[off + 1] * 8;
		if (!olen || olen > len - off)
			return -EINVAL;
		if (buf[off] == RA_OPT_SLLA && olen == 8) {
			memcpy(out->mac, &buf[off + 2], 6);
			out->has_mac = 1;
		}
		off += olen;
	}
	return 0;
}

int ra_build_advert(uint8_t *buf, size_t len, const uint8_t mac[6])
{
	struct nd_router_advert ra = { 0 };
	size_t n = sizeof(ra) + 8;

	if (len < n)
		return -ENOSPC;
	/* Hop limit, flags, router lifetime, reachable and retransmit
	 * times all 0: "unspecified" and "not a router". */
	ra.nd_ra_type = ND_ROUTER_ADVERT;
	memcpy(buf, &ra, sizeof(ra));
	buf[sizeof(ra)] = RA_OPT_SLLA;
	buf[sizeof(ra) + 1] = 1;
	memcpy(&buf[sizeof(ra) + 2], mac, 6);
	return (int)n;
}

static void ra_arm(struct ra_sock *s)
{
	struct io_uring_sqe *sqe = loop_get_sqe(s->r->loop);

	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, s->fd, POLLIN);
	loop_sqe_data(sqe, s, LOOP_OP_RA_POLL);
}

static int ra_hops(struct msghdr *msg)
{
	struct cmsghdr *c;
	int hops;

	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_HOPLIMIT &&
		    c->cmsg_len == CMSG_LEN(sizeof(int))) {
			memcpy(&hops, CMSG_DATA(c), sizeof(hops));
			return hops;
		}
	}
	return -1;
}

static void ra_answer(struct ra_sock *s, const struct sockaddr_in6 *to,
		      const struct ra_solicit *rs)
{
	uint8_t out[64];
	int n;

	if (!rs->has_mac || !lease_find_mac(s->r->d->leases, rs->mac))
		return; /* not one of ours: someone else's business */
	n = ra_build_advert(out, sizeof(out), s->mac);
	if (n < 0)
		return;
	if (sendto(s->fd, out, n, 0, (const struct sockaddr *)to,
		   sizeof(*to)) < 0) {
		pr_warn_ratelimited("ipv6-ra: %s: %s", s->name,
				    strerror(errno));
		return;
	}
	pr_debug("ipv6-ra: %s: advertisement to %02x:%02x:%02x:%02x:%02x:%02x",
		 s->name, rs->mac[0], rs->mac[1], rs->mac[2], rs->mac[3],
		 rs->mac[4], rs->mac[5]);
}

static void ra_read(struct ra_sock *s)
{
	uint8_t buf[RA_BUF];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct sockaddr_in6 from;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from),
			      .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct ra_solicit rs;
	ssize_t n;
	int i;

	/* Bounded: a flood cannot keep the loop here. */
	for (i = 0; i < 64; i++) {
		msg.msg_namelen = sizeof(from);
		msg.msg_controllen = sizeof(cbuf);
		n = recvmsg(s->fd, &msg, MSG_DONTWAIT);
		if (n < 0)
			return;
		if (ra_parse_solicit(buf, n, ra_hops(&msg), &rs))
			continue;
		/* An unspecified source cannot be answered unicast. */
		if (!IN6_IS_ADDR_LINKLOCAL(&from.sin6_addr))
			continue;
		from.sin6_scope_id = s->ifindex;
		ra_answer(s, &from, &rs);
	}
}

void ra_handle(struct ra *r, void *obj, int res)
{
	struct ra_sock *s = obj;

	if (res < 0 && res != -EINTR) {
		pr_warn("ipv6-ra: %s: poll: %s", s->name, strerror(-res));
		return;
	}
	ra_read(s);
	ra_arm(s);
}

static int ra_sock_setup(int fd, const struct rtnl_iface *link)
{
	struct icmp6_filter filt;
	struct ipv6_mreq mreq = { .ipv6mr_interface = link->ifindex };
	int on = 1, hops = 255;

	ICMP6_FILTER_SETBLOCKALL(&filt);
	ICMP6_FILTER_SETPASS(ND_ROUTER_SOLICIT, &filt);
	/* ff02::2, all routers: where solicitations go. */
	inet_pton(AF_INET6, "ff02::2", &mreq.ipv6mr_multiaddr);
	if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filt,
		       sizeof(filt)) ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, link->name,
		       strlen(link->name)) ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on,
		       sizeof(on)) ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops,
		       sizeof(hops)) ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops,
		       sizeof(hops)) ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mreq,
		       sizeof(mreq)))
		return -errno;
	return 0;
}

static int ra_sock_open(struct ra *r, const struct rtnl_iface *link)
{
	struct ra_sock *s = &r->socks[r->nsocks];
	int fd, ret;

	fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_ICMPV6);
	if (fd < 0)
		return -errno;
	ret = ra_sock_setup(fd, link);
	if (ret) {
		close(fd);
		return ret;
	}
	s->r = r;
	s->fd = fd;
	s->ifindex = link->ifindex;
	memcpy(s->mac, link->mac, 6);
	snprintf(s->name, sizeof(s->name), "%s", link->name);
	r->nsocks++;
	ra_arm(s);
	return 0;
}

int ra_open(struct ra **out, struct loop *l, struct xbootd *d)
{
	struct ra *r;
	int i, ret;

	*out = NULL;
	if (!d->cfg->ipv6_ra)
		return 0;
	r = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->loop = l;
	r->d = d;
	for (i = 0; i < d->nifaces; i++) {
		ret = ra_sock_open(r, &d->ifaces[i].link);
		if (ret)
			pr_warn("ipv6-ra: %s: no router advertisements: %s",
				d->ifaces[i].link.name, strerror(-ret));
	}
	*out = r;
	return 0;
}

void ra_close(struct ra *r)
{
	int i;

	if (!r)
		return;
	for (i = 0; i < r->nsocks; i++)
		close(r->socks[i].fd);
	free(r);
}
