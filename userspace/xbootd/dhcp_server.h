/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The complete DHCP/ProxyDHCP server (the slow path): one request in, at most
 * one reply out. No I/O here: the event loop (loop.c) receives datagrams,
 * calls dhcp_server_handle(), and sends what it returns.
 */
#ifndef XBOOTD_DHCP_SERVER_H
#define XBOOTD_DHCP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "config.h"
#include "lease.h"
#include "xboot/dhcp.h"

struct dhcp_server;

/* A received datagram. */
struct dhcp_rx {
	const uint8_t *buf;
	size_t len;
	int ifindex;
	struct in_addr src;   /* IP source */
	uint16_t sport;
	uint16_t dport;       /* 67 or 4011 */
	struct in_addr local; /* IP destination (IP_PKTINFO) */
};

/* Where and how to send the reply. */
enum dhcp_tx_via {
	DHCP_TX_UDP,      /* kernel UDP socket to dst:dport (relay, unicast) */
	DHCP_TX_L2,       /* raw frame to dst_mac (client has no address yet) */
};

struct dhcp_tx {
	uint8_t buf[DHCP_REPLY_MAX_LEN];
	size_t len;
	enum dhcp_tx_via via;
	int ifindex;
	struct in_addr src;   /* our address to send from */
	struct in_addr dst;
	uint16_t sport, dport;
	uint8_t dst_mac[6];   /* DHCP_TX_L2 only; ff:.. for broadcast */
};

/* Per-server counters shown by `xbootctl stats`. Same order as the names. */
enum dhcp_stat {
	DHCP_STAT_RX,
	DHCP_STAT_DISCOVER,
	DHCP_STAT_REQUEST,
	DHCP_STAT_DECLINE,
	DHCP_STAT_RELEASE,
	DHCP_STAT_INFORM,
	DHCP_STAT_OFFER,
	DHCP_STAT_ACK,
	DHCP_STAT_NAK,
	DHCP_STAT_PROXY_OFFER,
	DHCP_STAT_PROXY_ACK,
	DHCP_STAT_DROP_MALFORMED,
	DHCP_STAT_DROP_NOT_OURS,   /* REQUEST for another server, etc. */
	DHCP_STAT_DROP_NO_ADDRESS, /* pool exhausted */
	DHCP_STAT_DROP_NO_SUBNET,
	DHCP_STAT_MAX,
};

#define DHCP_STAT_NAMES                                                      \
	{                                                                    \
		"rx", "discover", "request", "decline", "release", "inform", \
		"offer", "ack", "nak", "proxy_offer", "proxy_ack",           \
		"drop_malformed", "drop_not_ours", "drop_no_address",        \
		"drop_no_subnet",                                            \
	}

struct dhcp_server_iface {
	int ifindex;
	struct in_addr addr;   /* our IPv4 address on it */
	struct in_addr mask;
	uint8_t mac[6];
};

int dhcp_server_create(struct dhcp_server **out, const struct config *cfg,
		       const struct dhcp_server_iface *iface,
		       struct lease_db *leases);
void dhcp_server_destroy(struct dhcp_server *srv);
/* Returns 1 with *tx filled when there is a reply, 0 when there is none
 * (dropped or nothing to say; counted and logged at debug level). */
int dhcp_server_handle(struct dhcp_server *srv, const struct dhcp_rx *rx,
		       struct dhcp_tx *tx);
const uint64_t *dhcp_server_stats(struct dhcp_server *srv);
/* The per-subnet, per-class templates this server answers with, for the
 * XDP program: t[subnet * XB_NCLASS + class]; *count entries. In proxy mode
 * there are no subnets: the proxy templates are t[0 .. XB_NCLASS). A slot
 * without XB_TMPL_F_VALID is never answered. */
const struct xb_tmpl *dhcp_server_templates(struct dhcp_server *srv,
					    int *count);

#endif /* XBOOTD_DHCP_SERVER_H */
