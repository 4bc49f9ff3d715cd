// SPDX-License-Identifier: GPL-2.0
/*
 * The complete DHCP server (RFC 2131/2132, relays per RFC 1542/3046, PXE
 * per RFC 4578 and PXE 2.1) and ProxyDHCP, as one pure function from a
 * received datagram to at most one reply. Addresses come from lease.c,
 * reply bytes from dhcp_reply.c's templates, which the XDP fast path uses
 * too; everything XDP passes up lands here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "dhcp_opts.h"
#include "dhcp_reply.h"
#include "dhcp_server.h"
#include "log.h"

/* A declined address is in use by something we do not know; keep it out of
 * the pool this long before trying it again. */
#define DHCP_DECLINE_QUARANTINE_S 600

struct dhcp_server {
	struct dhcp_server_iface iface;
	struct lease_db *leases;
	enum xb_mode mode;
	struct in_addr server_id;
	int local_subnet; /* range on our interface, -ENOENT if none */
	int nsubnets;
	struct xb_subnet sub[XB_MAX_SUBNETS];
	struct xb_tmpl tmpl[XB_MAX_SUBNETS * XB_NCLASS];
	uint64_t stats[DHCP_STAT_MAX];
};

/* One request being handled. */
struct dhcp_ctx {
	struct dhcp_server *srv;
	const struct dhcp_rx *rx;
	const struct dhcp_request *req;
	struct dhcp_tx *tx;
	int subnet;
};

enum verdict { V_SILENT, V_ACK, V_NAK };

static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void count(struct dhcp_server *srv, enum dhcp_stat s)
{
	srv->stats[s]++;
}

static const char *mac_str(const uint8_t *mac, char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
	return buf;
}

static const uint8_t *client_mac(const struct dhcp_ctx *c)
{
	return c->req->chaddr;
}

/* --- templates and subnets --------------------------------------------- */

static const struct xb_tmpl *tmpl_for(const struct dhcp_server *srv,
				      int subnet, int class)
{
	const struct xb_tmpl *t;

	if (subnet < 0 || subnet >= XB_MAX_SUBNETS || class < 0 ||
	    class >= XB_NCLASS)
		return NULL;
	t = &srv->tmpl[subnet * XB_NCLASS + class];
	return (t->flags & XB_TMPL_F_VALID) ? t : NULL;
}

static bool in_subnet(const struct dhcp_server *srv, int subnet,
		      struct in_addr a)
{
	if (subnet < 0 || subnet >= srv->nsubnets)
		return false;
	return (a.s_addr & srv->sub[subnet].mask) == srv->sub[subnet].net;
}

static bool same_network(const struct dhcp_server *srv, int a, int b)
{
	return a >= 0 && b >= 0 && a < srv->nsubnets && b < srv->nsubnets &&
	       srv->sub[a].net == srv->sub[b].net &&
	       srv->sub[a].mask == srv->sub[b].mask;
}

static int subnet_of(const struct dhcp_server *srv, struct in_addr a)
{
	int s;

	for (s = 0; s < srv->nsubnets; s++)
		if (in_subnet(srv, s, a))
			return s;
	return -ENOENT;
}

/* The client's network: the relay's (giaddr), else the one its own
 * address is on (a renewing client unicasts straight to us, even from
 * behind a relay), else our interface's. */
static int request_subnet(const struct dhcp_server *srv,
			  const struct dhcp_request *req)
{
	int s;

	if (req->giaddr.s_addr)
		return subnet_of(srv, req->giaddr);
	if (req->ciaddr.s_addr) {
		s = subnet_of(srv, req->ciaddr);
		if (s >= 0)
			return s;
	}
	return srv->local_subnet;
}

/* --- replies ----------------------------------------------------------- */

/* RFC 2131 4.1: relay first, then a client that has an address, then
 * broadcast when the client asks or has no address to be sent to, else
 * unicast to the offered address at the client's MAC. */
static void set_destination(struct dhcp_ctx *c, struct in_addr yiaddr,
			    bool nak)
{
	const struct dhcp_request *req = c->req;
	struct dhcp_tx *tx = c->tx;

	tx->ifindex = c->rx->ifindex ? c->rx->ifindex : c->srv->iface.ifindex;
	tx->src = c->srv->iface.addr.s_addr ? c->srv->iface.addr :
					      c->srv->server_id;
	tx->sport = DHCP_SERVER_PORT;
	tx->dport = DHCP_CLIENT_PORT;
	memset(tx->dst_mac, 0, sizeof(tx->dst_mac));
	if (req->giaddr.s_addr) {
		tx->via = DHCP_TX_UDP;
		tx->dst = req->giaddr;
		tx->dport = DHCP_SERVER_PORT;
	} else if (!nak && req->ciaddr.s_addr) {
		tx->via = DHCP_TX_UDP;
		tx->dst = req->ciaddr;
	} else if (nak || !yiaddr.s_addr ||
		   (req->flags & htons(BOOTP_FLAG_BROADCAST))) {
		tx->via = DHCP_TX_L2;
		tx->dst.s_addr = INADDR_BROADCAST;
		memcpy(tx->dst_mac, bcast_mac, 6);
	} else {
		tx->via = DHCP_TX_L2;
		tx->dst = yiaddr;
		memcpy(tx->dst_mac, req->chaddr, 6);
	}
}

/* The boot server ACK goes back where the request came from, from the
 * port it came to (4011, or 67 for a broadcast discovery). */
static void set_destination_source(struct dhcp_ctx *c)
{
	struct dhcp_tx *tx = c->tx;

	if (!c->rx->src.s_addr || !c->rx->sport) {
		set_destination(c, (struct in_addr){ 0 }, false);
	} else {
		tx->via = DHCP_TX_UDP;
		tx->ifindex = c->rx->ifindex ? c->rx->ifindex :
					       c->srv->iface.ifindex;
		tx->src = c->srv->iface.addr.s_addr ? c->srv->iface.addr :
						      c->srv->server_id;
		tx->dst = c->rx->src;
		tx->dport = c->rx->sport;
		memset(tx->dst_mac, 0, sizeof(tx->dst_mac));
	}
	tx->sport = c->rx->dport;
}

static const char *reserved_hostname(struct dhcp_ctx *c)
{
	const struct cfg_host *h;

	if (!c->srv->leases)
		return NULL;
	h = lease_find_host(c->srv->leases, client_mac(c));
	return h && h->hostname[0] ? h->hostname : NULL;
}

static int reply(struct dhcp_ctx *c, const struct xb_tmpl *t, int msgtype,
		 struct in_addr yiaddr, unsigned int flags)
{
	int len;

	len = dhcp_reply_build_ex(c->tx->buf, sizeof(c->tx->buf), c->req, t,
				  msgtype, yiaddr, reserved_hostname(c), flags);
	if (len < 0) {
		pr_warn_ratelimited("dhcp: cannot build %s: %s",
				    dhcp_msgtype_name(msgtype), strerror(-len));
		return 0;
	}
	c->tx->len = (size_t)len;
	set_destination(c, yiaddr, false);
	return 1;
}

static int nak(struct dhcp_ctx *c, const char *why)
{
	char m[18];
	int len;

	pr_debug("dhcp: NAK %s: %s", mac_str(client_mac(c), m), why);
	len = dhcp_nak_build(c->tx->buf, sizeof(c->tx->buf), c->req,
			     c->srv->server_id, why);
	if (len < 0)
		return 0;
	c->tx->len = (size_t)len;
	set_destination(c, (struct in_addr){ 0 }, true);
	count(c->srv, DHCP_STAT_NAK);
	return 1;
}

/* The template for this client; unknown PXE architectures get an address
 * and no boot information (their slot holds the plain options). */
static const struct xb_tmpl *client_tmpl(struct dhcp_ctx *c)
{
	const struct dhcp_request *req = c->req;
	char m[18];

	if (req->class == XB_CLASS_UNKNOWN)
		pr_ratelimited(LOG_LVL_INFO,
			       "dhcp: %s: PXE client architecture %u is not one we boot; address only",
			       mac_str(req->chaddr, m), req->arch);
	return tmpl_for(c->srv, c->subnet, req->class);
}

/* --- full mode: addresses ---------------------------------------------- */

static int handle_discover(struct dhcp_ctx *c)
{
	struct dhcp_server *srv = c->srv;
	const struct xb_tmpl *t;
	struct in_addr ip;
	char m[18];
	int err;

	if (c->subnet < 0) {
		count(srv, DHCP_STAT_DROP_NO_SUBNET);
		return 0;
	}
	err = lease_choose(srv->leases, client_mac(c), c->subnet,
			   c->req->requested_ip, &ip);
	if (!err)
		err = lease_offer(srv->leases, client_mac(c), c->subnet, ip,
				  LEASE_OFFER_HOLD_S);
	if (err) {
		pr_warn_ratelimited("dhcp: no address for %s in subnet %d: %s",
				    mac_str(client_mac(c), m), c->subnet,
				    strerror(-err));
		count(srv, DHCP_STAT_DROP_NO_ADDRESS);
		return 0;
	}
	t = client_tmpl(c);
	if (!t || !reply(c, t, DHCPOFFER, ip, 0))
		return 0;
	count(srv, DHCP_STAT_OFFER);
	return 1;
}

static int ack(struct dhcp_ctx *c, struct in_addr ip)
{
	struct dhcp_server *srv = c->srv;
	const char *name = reserved_hostname(c);
	const struct xb_tmpl *t;
	int err;

	err = lease_bind(srv->leases, client_mac(c), c->subnet, ip,
			 srv->sub[c->subnet].lease_s,
			 name ? name : c->req->hostname);
	if (err)
		return nak(c, "address not available");
	t = client_tmpl(c);
	if (!t || !reply(c, t, DHCPACK, ip, 0))
		return 0;
	count(srv, DHCP_STAT_ACK);
	return 1;
}

static bool held_state(int state)
{
	return state == LEASE_OFFERED || state == LEASE_BOUND;
}

/* INIT-REBOOT, RENEWING and REBINDING (RFC 2131 4.3.2): the client names
 * an address it believes is its own. */
static enum verdict verify_claim(struct dhcp_ctx *c, struct in_addr ip,
				 const char **why)
{
	struct lease_db *db = c->srv->leases;
	const uint8_t *mac = client_mac(c);
	const struct lease *other, *mine;
	const struct cfg_host *h;

	*why = "wrong network";
	if (!in_subnet(c->srv, c->subnet, ip))
		return V_NAK;
	*why = "address in use by another client";
	other = lease_find_ip(db, ip);
	if (other && (held_state(other->state) ||
		      other->state == LEASE_DECLINED) &&
	    memcmp(other->mac, mac, 6))
		return V_NAK;
	*why = "not your address";
	h = lease_find_host(db, mac);
	if (h && h->ip.s_addr && in_subnet(c->srv, c->subnet, h->ip))
		return h->ip.s_addr == ip.s_addr ? V_ACK : V_NAK;
	mine = lease_find_mac(db, mac);
	if (mine && same_network(c->srv, mine->subnet, c->subnet))
		return mine->ip.s_addr == ip.s_addr ? V_ACK : V_NAK;
	/* Its lease ran out or it released it, and nobody took it since. */
	if (other && !memcmp(other->mac, mac, 6))
		return V_ACK;
	return V_SILENT;
}

static int request_claim(struct dhcp_ctx *c, struct in_addr ip)
{
	const char *why;

	if (c->subnet < 0) {
		count(c->srv, DHCP_STAT_DROP_NO_SUBNET);
		return 0;
	}
	switch (verify_claim(c, ip, &why)) {
	case V_ACK:
		return ack(c, ip);
	case V_NAK:
		return nak(c, why);
	default:
		/* RFC 2131 4.3.2: no record of this client: stay silent. */
		count(c->srv, DHCP_STAT_DROP_NOT_OURS);
		return 0;
	}
}

/* SELECTING: the client picked an offer; ours if 54 names us. */
static int request_selecting(struct dhcp_ctx *c)
{
	const struct dhcp_request *req = c->req;
	struct lease_db *db = c->srv->leases;
	const struct lease *l;
	struct in_addr ip, chosen;

	if (req->server_id.s_addr != c->srv->server_id.s_addr) {
		l = lease_find_mac(db, client_mac(c));
		if (l && l->state == LEASE_OFFERED)
			lease_release(db, client_mac(c), l->ip);
		count(c->srv, DHCP_STAT_DROP_NOT_OURS);
		return 0;
	}
	if (c->subnet < 0) {
		count(c->srv, DHCP_STAT_DROP_NO_SUBNET);
		return 0;
	}
	ip = req->has_requested_ip ? req->requested_ip : req->ciaddr;
	if (!ip.s_addr)
		return nak(c, "no requested address");
	/* What we offered (or, if the offer ran out, would offer now). */
	if (lease_choose(db, client_mac(c), c->subnet, ip, &chosen) ||
	    chosen.s_addr != ip.s_addr)
		return nak(c, "address not offered");
	return ack(c, ip);
}

static int handle_request(struct dhcp_ctx *c)
{
	const struct dhcp_request *req = c->req;

	if (req->has_server_id)
		return request_selecting(c);
	if (req->ciaddr.s_addr)
		return request_claim(c, req->ciaddr); /* renewing, rebinding */
	if (req->has_requested_ip)
		return request_claim(c, req->requested_ip); /* init-reboot */
	count(c->srv, DHCP_STAT_DROP_MALFORMED);
	return 0;
}

static bool names_another_server(const struct dhcp_ctx *c)
{
	return c->req->has_server_id &&
	       c->req->server_id.s_addr != c->srv->server_id.s_addr;
}

static int handle_decline(struct dhcp_ctx *c)
{
	const struct dhcp_request *req = c->req;
	char m[18];

	if (names_another_server(c) || !req->has_requested_ip)
		return 0;
	if (!lease_decline(c->srv->leases, client_mac(c), req->requested_ip,
			   DHCP_DECLINE_QUARANTINE_S))
		pr_ratelimited(LOG_LVL_WARN,
			       "dhcp: %s declined %s (in use on the network); held back for %d s",
			       mac_str(client_mac(c), m),
			       inet_ntoa(req->requested_ip),
			       DHCP_DECLINE_QUARANTINE_S);
	return 0;
}

static int handle_release(struct dhcp_ctx *c)
{
	if (names_another_server(c))
		return 0;
	lease_release(c->srv->leases, client_mac(c), c->req->ciaddr);
	return 0;
}

/* INFORM: the client has an address already and wants the rest. */
static int handle_inform(struct dhcp_ctx *c)
{
	const struct xb_tmpl *t;
	int len;

	if (c->subnet < 0) {
		count(c->srv, DHCP_STAT_DROP_NO_SUBNET);
		return 0;
	}
	t = client_tmpl(c);
	if (!t)
		return 0;
	len = dhcp_reply_build_ex(c->tx->buf, sizeof(c->tx->buf), c->req, t,
				  DHCPACK, (struct in_addr){ 0 }, NULL,
				  DHCP_REPLY_NO_LEASE);
	if (len < 0)
		return 0;
	c->tx->len = (size_t)len;
	set_destination(c, (struct in_addr){ 0 }, false);
	count(c->srv, DHCP_STAT_ACK);
	return 1;
}

/* --- boot information only --------------------------------------------- */

/* A REQUEST to port 4011 (ProxyDHCP's second step), or a PXE menu pick
 * (43.71) to any port. No address changes hands; the lease options stay
 * out. */
static int handle_boot_server(struct dhcp_ctx *c)
{
	const struct dhcp_request *req = c->req;
	unsigned int flags = DHCP_REPLY_NO_LEASE;
	const struct xb_tmpl *t;
	int len;

	if (req->msgtype != DHCPREQUEST && req->msgtype != DHCPINFORM) {
		count(c->srv, DHCP_STAT_DROP_NOT_OURS);
		return 0;
	}
	t = tmpl_for(c->srv, c->subnet, req->class);
	if (!t || req->class == XB_CLASS_PLAIN ||
	    req->class == XB_CLASS_UNKNOWN || !t->file[0]) {
		count(c->srv, DHCP_STAT_DROP_NOT_OURS);
		return 0;
	}
	if (req->has_boot_item)
		flags |= DHCP_REPLY_BOOT_ITEM;
	/* The proxy templates carry no lease options: keep the canonical
	 * layout there, which is what XDP sends. */
	if (c->srv->mode == XB_MODE_PROXY)
		flags &= ~DHCP_REPLY_NO_LEASE;
	len = dhcp_reply_build_ex(c->tx->buf, sizeof(c->tx->buf), req, t,
				  DHCPACK, (struct in_addr){ 0 }, NULL, flags);
	if (len < 0)
		return 0;
	c->tx->len = (size_t)len;
	set_destination_source(c);
	count(c->srv, DHCP_STAT_PROXY_ACK);
	return 1;
}

/* ProxyDHCP on port 67: boot information for PXE clients, no address. */
static int handle_proxy_discover(struct dhcp_ctx *c)
{
	const struct xb_tmpl *t = tmpl_for(c->srv, 0, c->req->class);

	if (!t) {
		count(c->srv, DHCP_STAT_DROP_NOT_OURS);
		return 0;
	}
	if (!reply(c, t, DHCPOFFER, (struct in_addr){ 0 }, 0))
		return 0;
	count(c->srv, DHCP_STAT_PROXY_OFFER);
	return 1;
}

static bool is_boot_server_request(const struct dhcp_ctx *c)
{
	return c->rx->dport == PXE_BOOT_SERVER_PORT ||
	       (c->req->msgtype == DHCPREQUEST && c->req->has_boot_item);
}

static int handle_proxy(struct dhcp_ctx *c)
{
	c->subnet = 0;
	if (is_boot_server_request(c))
		return handle_boot_server(c);
	if (c->req->msgtype == DHCPDISCOVER)
		return handle_proxy_discover(c);
	count(c->srv, DHCP_STAT_DROP_NOT_OURS);
	return 0;
}

static int handle_full(struct dhcp_ctx *c)
{
	c->subnet = request_subnet(c->srv, c->req);
	if (is_boot_server_request(c))
		return handle_boot_server(c);
	switch (c->req->msgtype) {
	case DHCPDISCOVER:
		return handle_discover(c);
	case DHCPREQUEST:
		return handle_request(c);
	case DHCPDECLINE:
		return handle_decline(c);
	case DHCPRELEASE:
		return handle_release(c);
	case DHCPINFORM:
		return handle_inform(c);
	default:
		count(c->srv, DHCP_STAT_DROP_NOT_OURS);
		return 0;
	}
}

static void count_received(struct dhcp_server *srv, int msgtype)
{
	static const int8_t stat_of[] = {
		[DHCPDISCOVER] = DHCP_STAT_DISCOVER,
		[DHCPREQUEST] = DHCP_STAT_REQUEST,
		[DHCPDECLINE] = DHCP_STAT_DECLINE,
		[DHCPRELEASE] = DHCP_STAT_RELEASE,
		[DHCPINFORM] = DHCP_STAT_INFORM,
	};

	if (msgtype > 0 && msgtype <= DHCPINFORM && stat_of[msgtype])
		count(srv, stat_of[msgtype]);
}

int dhcp_server_handle(struct dhcp_server *srv, const struct dhcp_rx *rx,
		       struct dhcp_tx *tx)
{
	struct dhcp_request req;
	struct dhcp_ctx c = { .srv = srv, .rx = rx, .req = &req, .tx = tx };
	int err;

	count(srv, DHCP_STAT_RX);
	tx->len = 0;
	err = dhcp_parse(rx->buf, rx->len, &req);
	if (err) {
		pr_debug_ratelimited("dhcp: dropped %zu bytes from %s: %s (option %d)",
				     rx->len, inet_ntoa(rx->src), req.err,
				     req.err_opt);
		count(srv, DHCP_STAT_DROP_MALFORMED);
		return 0;
	}
	count_received(srv, req.msgtype);
	if (srv->mode == XB_MODE_PROXY || !srv->leases)
		return handle_proxy(&c);
	return handle_full(&c);
}

/* --- setup ------------------------------------------------------------- */

static int build_subnet_tmpls(struct dhcp_server *srv,
			      const struct config *cfg, int s)
{
	struct dhcp_tmpl_params p = {
		.mode = srv->mode,
		.server_id = srv->server_id,
		.mask.s_addr = srv->sub[s].mask,
		.lease_s = srv->sub[s].lease_s,
	};
	int class, err;

	if (srv->mode == XB_MODE_FULL && s < cfg->nranges)
		p.router = cfg->ranges[s].router;
	for (class = 0; class < XB_NCLASS; class++) {
		err = dhcp_tmpl_build(&srv->tmpl[s * XB_NCLASS + class], cfg,
				      &p, class);
		if (err) {
			pr_err("dhcp: the %s reply options for subnet %d do not fit in %d bytes",
			       dhcp_class_name(class), s, XB_TMPL_OPTS_MAX);
			return err;
		}
	}
	return 0;
}

static int load_subnets(struct dhcp_server *srv)
{
	int s;

	srv->nsubnets = lease_nsubnets(srv->leases);
	if (srv->nsubnets > XB_MAX_SUBNETS)
		return -E2BIG;
	for (s = 0; s < srv->nsubnets; s++)
		lease_subnet_info(srv->leases, s, &srv->sub[s]);
	srv->local_subnet = subnet_of(srv, srv->iface.addr);
	return 0;
}

int dhcp_server_create(struct dhcp_server **out, const struct config *cfg,
		       const struct dhcp_server_iface *iface,
		       struct lease_db *leases)
{
	struct dhcp_server *srv;
	int s, err = 0;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->iface = *iface;
	srv->mode = cfg->mode;
	srv->leases = leases;
	srv->server_id = cfg->server_addr.s_addr ? cfg->server_addr :
						   iface->addr;
	srv->local_subnet = -ENOENT;
	if (srv->mode == XB_MODE_FULL) {
		if (!leases) {
			err = -EINVAL;
			goto err_free;
		}
		if (iface->addr.s_addr)
			lease_db_set_local(leases, iface->addr, iface->mask);
		err = load_subnets(srv);
		for (s = 0; !err && s < srv->nsubnets; s++)
			err = build_subnet_tmpls(srv, cfg, s);
	} else {
		err = build_subnet_tmpls(srv, cfg, 0);
	}
	if (err)
		goto err_free;
	*out = srv;
	return 0;

err_free:
	free(srv);
	return err;
}

void dhcp_server_destroy(struct dhcp_server *srv)
{
	free(srv);
}

const uint64_t *dhcp_server_stats(struct dhcp_server *srv)
{
	return srv->stats;
}

const struct xb_tmpl *dhcp_server_templates(struct dhcp_server *srv,
					    int *count_out)
{
	*count_out = srv->mode == XB_MODE_PROXY ? XB_NCLASS :
						  srv->nsubnets * XB_NCLASS;
	return srv->tmpl;
}
