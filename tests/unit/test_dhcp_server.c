// SPDX-License-Identifier: GPL-2.0
/*
 * The DHCP server state machine, request in, reply out: DORA, every
 * REQUEST state of RFC 2131 4.3.2, DECLINE/RELEASE/INFORM, relays, the
 * RFC 2131 4.1 destination rules, ProxyDHCP, the boot classes, and a
 * randomized run of many clients checked against a model that no address
 * is ever offered or acked to two clients at once.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "dhcp_opts.h"
#include "dhcp_server.h"
#include "lease.h"
#include "log.h"
#include "dhcp_pkt.h"

#define IFINDEX 3
#define T0 1700000000

struct fx {
	struct config cfg;
	struct cfg_host hosts[2];
	struct lease_db *db;
	struct dhcp_server *srv;
	time_t now;
	struct dhcp_tx tx;
	int queued_calls;
	struct in_addr lent[8];
	int nlent;
};

static const uint8_t mac_a[6] = { 0x52, 0x54, 0x00, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x52, 0x54, 0x00, 0, 0, 0x0b };
static const uint8_t mac_c[6] = { 0x52, 0x54, 0x00, 0, 0, 0x0c };
static const uint8_t mac_r[6] = { 0x52, 0x54, 0x00, 0, 0, 0x99 };

static time_t fx_clock(void *arg)
{
	return ((struct fx *)arg)->now;
}

static void fx_config(struct fx *f, enum xb_mode mode)
{
	struct config *cfg = &f->cfg;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = mode;
	cfg->lease_s = 3600;
	cfg->dns[0] = ip4("10.0.0.1");
	cfg->ndns = 1;
	strcpy(cfg->boot_file[XB_CLASS_BIOS], "undionly.kpxe");
	strcpy(cfg->boot_file[XB_CLASS_EFI64], "ipxe.efi");
	strcpy(cfg->boot_file[XB_CLASS_HTTP], "http://10.0.0.1/efi/boot.efi");
	strcpy(cfg->boot_file[XB_CLASS_IPXE], "http://10.0.0.1/boot.ipxe");
	if (mode == XB_MODE_PROXY)
		return;
	cfg->nranges = 2;
	cfg->ranges[0].start = ip4("10.0.0.100");
	cfg->ranges[0].end = ip4("10.0.0.200");
	cfg->ranges[0].router = ip4("10.0.0.1");
	/* mask 0: taken from the interface */
	cfg->ranges[1].start = ip4("10.1.0.10");
	cfg->ranges[1].end = ip4("10.1.0.50");
	cfg->ranges[1].mask = ip4("255.255.255.0");
	cfg->ranges[1].router = ip4("10.1.0.1");
	cfg->ranges[1].lease_s = 600;
	memcpy(f->hosts[0].mac, mac_r, 6);
	f->hosts[0].ip = ip4("10.0.0.50");
	strcpy(f->hosts[0].hostname, "resv1");
	cfg->hosts = f->hosts;
	cfg->nhosts = 1;
}

static int fx_start(struct fx *f)
{
	struct dhcp_server_iface iface = {
		.ifindex = IFINDEX,
		.addr = ip4("10.0.0.1"),
		.mask = ip4("255.255.255.0"),
		.mac = { 0x02, 0, 0, 0, 0, 1 },
	};

	f->now = T0;
	if (lease_db_create(&f->db, &f->cfg, NULL))
		return -1;
	lease_db_set_clock(f->db, fx_clock, f);
	return dhcp_server_create(&f->srv, &f->cfg, &iface, f->db);
}

static int setup_full(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	fx_config(f, XB_MODE_FULL);
	*state = f;
	return fx_start(f);
}

static int setup_proxy(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	fx_config(f, XB_MODE_PROXY);
	*state = f;
	return fx_start(f);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dhcp_server_destroy(f->srv);
	lease_db_destroy(f->db);
	free(f);
	return 0;
}

/* Sends p as if from src (port 68 unless relayed) to dport. */
static int fx_send_to(struct fx *f, struct pkt *p, const char *src,
		      uint16_t dport)
{
	struct dhcp_rx rx = {
		.buf = p->b,
		.len = p->len,
		.ifindex = IFINDEX,
		.src = ip4(src),
		.sport = pkt_msg(p)->giaddr ? 67 : 68,
		.dport = dport,
		.local = ip4("255.255.255.255"),
	};

	memset(&f->tx, 0xee, sizeof(f->tx));
	return dhcp_server_handle(f->srv, &rx, &f->tx);
}

static int fx_send(struct fx *f, struct pkt *p)
{
	return fx_send_to(f, p, "0.0.0.0", 67);
}

static const struct dhcp_msg *tx_msg(struct fx *f)
{
	return (const struct dhcp_msg *)f->tx.buf;
}

static int tx_type(struct fx *f)
{
	return reply_msgtype(f->tx.buf, f->tx.len);
}

static const uint8_t *tx_opt(struct fx *f, uint8_t code, uint8_t *n)
{
	return reply_opt(f->tx.buf, f->tx.len, code, n);
}

static uint64_t nstat(struct fx *f, enum dhcp_stat s)
{
	return dhcp_server_stats(f->srv)[s];
}

static void discover(struct pkt *p, const uint8_t *mac, uint32_t xid)
{
	pkt_init(p, DHCPDISCOVER, mac, xid);
	pkt_end(p);
}

static void request_selecting(struct pkt *p, const uint8_t *mac,
			      struct in_addr ip, const char *server)
{
	pkt_init(p, DHCPREQUEST, mac, 2);
	pkt_opt(p, DHO_REQUESTED_IP, &ip.s_addr, 4);
	pkt_opt_ip(p, DHO_SERVER_ID, server);
	pkt_end(p);
}

/* DISCOVER + REQUEST; returns the bound address. */
static struct in_addr dora(struct fx *f, const uint8_t *mac)
{
	struct in_addr ip;
	struct pkt p;

	discover(&p, mac, 1);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPOFFER);
	ip.s_addr = tx_msg(f)->yiaddr;
	request_selecting(&p, mac, ip, "10.0.0.1");
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_int_equal(tx_msg(f)->yiaddr, ip.s_addr);
	return ip;
}

/* --- DORA and destinations --------------------------------------------- */

static void test_dora(void **state)
{
	struct fx *f = *state;
	const struct lease *l;
	struct in_addr ip;
	const uint8_t *o;
	uint8_t n;
	struct pkt p;

	discover(&p, mac_a, 0x1234);
	pkt_msg(&p)->flags = htons(BOOTP_FLAG_BROADCAST);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPOFFER);
	ip.s_addr = tx_msg(f)->yiaddr;
	assert_int_equal(ip.s_addr, ip4("10.0.0.100").s_addr);
	assert_int_equal(tx_msg(f)->xid, htonl(0x1234));
	assert_int_equal(tx_msg(f)->ciaddr, 0);
	assert_int_equal(f->tx.via, DHCP_TX_L2);
	assert_int_equal(f->tx.dst.s_addr, INADDR_BROADCAST);
	assert_memory_equal(f->tx.dst_mac, "\xff\xff\xff\xff\xff\xff", 6);
	assert_int_equal(f->tx.sport, 67);
	assert_int_equal(f->tx.dport, 68);
	assert_int_equal(f->tx.ifindex, IFINDEX);
	assert_int_equal(f->tx.src.s_addr, ip4("10.0.0.1").s_addr);
	assert_true(f->tx.len >= 300 && f->tx.len % 4 == 0);
	o = tx_opt(f, DHO_SUBNET_MASK, &n);
	assert_non_null(o);
	assert_memory_equal(o, "\xff\xff\xff\x00", 4); /* from the iface */
	o = tx_opt(f, DHO_ROUTER, &n);
	assert_memory_equal(o, "\x0a\x00\x00\x01", 4);
	assert_null(tx_opt(f, DHO_VENDOR_CLASS, &n));
	l = lease_find_mac(f->db, mac_a);
	assert_non_null(l);
	assert_int_equal(l->state, LEASE_OFFERED);
	assert_int_equal(l->expires, T0 + LEASE_OFFER_HOLD_S);

	request_selecting(&p, mac_a, ip, "10.0.0.1");
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_int_equal(tx_msg(f)->yiaddr, ip.s_addr);
	/* no broadcast flag, no ciaddr: unicast to the new address */
	assert_int_equal(f->tx.via, DHCP_TX_L2);
	assert_int_equal(f->tx.dst.s_addr, ip.s_addr);
	assert_memory_equal(f->tx.dst_mac, mac_a, 6);
	l = lease_find_mac(f->db, mac_a);
	assert_int_equal(l->state, LEASE_BOUND);
	assert_int_equal(l->expires, T0 + 3600);
	assert_int_equal(nstat(f, DHCP_STAT_RX), 2);
	assert_int_equal(nstat(f, DHCP_STAT_DISCOVER), 1);
	assert_int_equal(nstat(f, DHCP_STAT_REQUEST), 1);
	assert_int_equal(nstat(f, DHCP_STAT_OFFER), 1);
	assert_int_equal(nstat(f, DHCP_STAT_ACK), 1);
	assert_int_equal(lease_db_check(f->db), 0);
}

/* The OFFER is the template byte for byte after option 53. */
static void test_offer_is_template(void **state)
{
	struct fx *f = *state;
	const struct xb_tmpl *t;
	struct pkt p;
	int count;

	t = dhcp_server_templates(f->srv, &count);
	assert_int_equal(count, 2 * XB_NCLASS);
	t += 0 * XB_NCLASS + XB_CLASS_BIOS;
	pkt_init(&p, DHCPDISCOVER, mac_a, 1);
	pkt_pxe(&p, 0);
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_memory_equal(f->tx.buf + DHCP_FIXED_LEN + 3, t->opts,
			    t->opts_len);
	assert_string_equal(tx_msg(f)->file, "undionly.kpxe");
	assert_int_equal(tx_msg(f)->siaddr, ip4("10.0.0.1").s_addr);
}

static void test_same_address_again(void **state)
{
	struct fx *f = *state;
	struct in_addr a, b;
	struct pkt p;

	a = dora(f, mac_a);
	discover(&p, mac_a, 9);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_msg(f)->yiaddr, a.s_addr);
	b = dora(f, mac_b);
	assert_int_not_equal(a.s_addr, b.s_addr);

	/* released, then back: its previous address, not a fresh one */
	pkt_init(&p, DHCPRELEASE, mac_a, 3);
	pkt_msg(&p)->ciaddr = a.s_addr;
	pkt_opt_ip(&p, DHO_SERVER_ID, "10.0.0.1");
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 0);
	assert_null(lease_find_mac(f->db, mac_a));
	assert_int_equal(lease_find_ip(f->db, a)->state, LEASE_RELEASED);
	assert_int_equal(dora(f, mac_a).s_addr, a.s_addr);
	assert_int_equal(lease_db_check(f->db), 0);
}

static void test_requested_in_discover(void **state)
{
	struct fx *f = *state;
	struct pkt p;

	pkt_init(&p, DHCPDISCOVER, mac_a, 1);
	pkt_opt_ip(&p, DHO_REQUESTED_IP, "10.0.0.150");
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_msg(f)->yiaddr, ip4("10.0.0.150").s_addr);
	/* a wish outside the pool is ignored */
	pkt_init(&p, DHCPDISCOVER, mac_b, 1);
	pkt_opt_ip(&p, DHO_REQUESTED_IP, "10.0.0.250");
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_msg(f)->yiaddr, ip4("10.0.0.100").s_addr);
}

/* --- REQUEST states ---------------------------------------------------- */

static void test_selecting_other_server(void **state)
{
	struct fx *f = *state;
	struct in_addr ip;
	struct pkt p;

	discover(&p, mac_a, 1);
	assert_int_equal(fx_send(f, &p), 1);
	ip.s_addr = tx_msg(f)->yiaddr;
	request_selecting(&p, mac_a, ip4("192.168.5.9"), "192.168.5.1");
	assert_int_equal(fx_send(f, &p), 0);
	assert_int_equal(nstat(f, DHCP_STAT_DROP_NOT_OURS), 1);
	/* the held address is free again: a client asking gets it */
	assert_null(lease_find_mac(f->db, mac_a));
	pkt_init(&p, DHCPDISCOVER, mac_b, 1);
	pkt_opt(&p, DHO_REQUESTED_IP, &ip.s_addr, 4);
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_msg(f)->yiaddr, ip.s_addr);
}

static void test_selecting_wrong_address(void **state)
{
	struct fx *f = *state;
	struct pkt p;
	uint8_t n;
	const uint8_t *o;

	discover(&p, mac_a, 1);
	assert_int_equal(fx_send(f, &p), 1);
	request_selecting(&p, mac_a, ip4("10.0.0.160"), "10.0.0.1");
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPNAK);
	assert_int_equal(tx_msg(f)->yiaddr, 0);
	assert_int_equal(f->tx.via, DHCP_TX_L2);
	assert_int_equal(f->tx.dst.s_addr, INADDR_BROADCAST);
	o = tx_opt(f, DHO_SERVER_ID, &n);
	assert_memory_equal(o, "\x0a\x00\x00\x01", 4);
	assert_non_null(tx_opt(f, DHO_MESSAGE, &n));
	assert_null(tx_opt(f, DHO_LEASE_TIME, &n));
	assert_int_equal(nstat(f, DHCP_STAT_NAK), 1);
}

/* An offer that timed out is still ACKed if nobody took the address. */
static void test_selecting_after_offer_expired(void **state)
{
	struct fx *f = *state;
	struct in_addr ip;
	struct pkt p;

	discover(&p, mac_a, 1);
	assert_int_equal(fx_send(f, &p), 1);
	ip.s_addr = tx_msg(f)->yiaddr;
	f->now += 120;
	assert_int_equal(lease_expire(f->db, f->now), 1);
	request_selecting(&p, mac_a, ip, "10.0.0.1");
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPACK);
}

static void init_reboot(struct pkt *p, const uint8_t *mac, const char *ip)
{
	pkt_init(p, DHCPREQUEST, mac, 5);
	pkt_opt_ip(p, DHO_REQUESTED_IP, ip);
	pkt_end(p);
}

static void test_init_reboot(void **state)
{
	struct fx *f = *state;
	char ipbuf[16];
	struct in_addr a;
	struct pkt p;

	a = dora(f, mac_a);
	inet_ntop(AF_INET, &a, ipbuf, sizeof(ipbuf));

	/* its own lease: ACK */
	init_reboot(&p, mac_a, ipbuf);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_int_equal(tx_msg(f)->yiaddr, a.s_addr);
	/* another address on the subnet: NAK */
	init_reboot(&p, mac_a, "10.0.0.170");
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPNAK);
	/* wrong network: NAK */
	init_reboot(&p, mac_a, "192.168.1.5");
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPNAK);
	/* someone else's address: NAK */
	init_reboot(&p, mac_b, ipbuf);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPNAK);
	/* a client we know nothing about: silence (RFC 2131 4.3.2) */
	init_reboot(&p, mac_b, "10.0.0.170");
	assert_int_equal(fx_send(f, &p), 0);
	assert_int_equal(nstat(f, DHCP_STAT_DROP_NOT_OURS), 1);

	/* after its lease ran out and nobody took the address: ACK */
	f->now += 4000;
	lease_expire(f->db, f->now);
	assert_null(lease_find_mac(f->db, mac_a));
	init_reboot(&p, mac_a, ipbuf);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_int_equal(lease_db_check(f->db), 0);
}

static void renew(struct pkt *p, const uint8_t *mac, struct in_addr ip,
		  bool broadcast)
{
	pkt_init(p, DHCPREQUEST, mac, 6);
	pkt_msg(p)->ciaddr = ip.s_addr;
	if (broadcast)
		pkt_msg(p)->flags = htons(BOOTP_FLAG_BROADCAST);
	pkt_end(p);
}

static void test_renew_rebind(void **state)
{
	struct fx *f = *state;
	struct in_addr a, b;
	struct pkt p;

	a = dora(f, mac_a);
	b = dora(f, mac_b);
	f->now += 1800;
	/* RENEWING: unicast, ciaddr */
	renew(&p, mac_a, a, false);
	assert_int_equal(fx_send_to(f, &p, "10.0.0.100", 67), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_int_equal(tx_msg(f)->ciaddr, a.s_addr);
	assert_int_equal(tx_msg(f)->yiaddr, a.s_addr);
	assert_int_equal(f->tx.via, DHCP_TX_UDP);
	assert_int_equal(f->tx.dst.s_addr, a.s_addr);
	assert_int_equal(f->tx.dport, 68);
	assert_int_equal(lease_find_mac(f->db, mac_a)->expires,
			 T0 + 1800 + 3600);
	/* REBINDING: broadcast, ciaddr: still answered to ciaddr */
	f->now += 1500;
	renew(&p, mac_a, a, true);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_int_equal(f->tx.via, DHCP_TX_UDP);
	assert_int_equal(f->tx.dst.s_addr, a.s_addr);
	/* renewing someone else's address: NAK, broadcast */
	renew(&p, mac_a, b, true);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPNAK);
	assert_int_equal(f->tx.dst.s_addr, INADDR_BROADCAST);
	/* a client we do not know, with an address we never gave out */
	renew(&p, mac_c, ip4("10.0.0.190"), false);
	assert_int_equal(fx_send(f, &p), 0);
}

/* --- DECLINE, RELEASE, INFORM ------------------------------------------ */

static void test_decline(void **state)
{
	struct fx *f = *state;
	struct in_addr a;
	char ipbuf[16];
	struct pkt p;

	a = dora(f, mac_a);
	inet_ntop(AF_INET, &a, ipbuf, sizeof(ipbuf));
	pkt_init(&p, DHCPDECLINE, mac_a, 7);
	pkt_opt_ip(&p, DHO_REQUESTED_IP, ipbuf);
	pkt_opt_ip(&p, DHO_SERVER_ID, "10.0.0.1");
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 0);
	assert_int_equal(nstat(f, DHCP_STAT_DECLINE), 1);
	assert_int_equal(lease_find_ip(f->db, a)->state, LEASE_DECLINED);
	assert_null(lease_find_mac(f->db, mac_a));

	/* the client starts over and gets another address */
	discover(&p, mac_a, 8);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_not_equal(tx_msg(f)->yiaddr, a.s_addr);
	/* nobody gets it during the quarantine */
	init_reboot(&p, mac_b, ipbuf);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPNAK);
	f->now += 601;
	lease_expire(f->db, f->now);
	assert_null(lease_find_ip(f->db, a));
	assert_int_equal(lease_db_check(f->db), 0);
}

static void test_release_wrong_client(void **state)
{
	struct fx *f = *state;
	struct in_addr a;
	struct pkt p;

	a = dora(f, mac_a);
	pkt_init(&p, DHCPRELEASE, mac_b, 3);
	pkt_msg(&p)->ciaddr = a.s_addr;
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 0);
	assert_int_equal(lease_find_mac(f->db, mac_a)->state, LEASE_BOUND);
	/* a release naming another server is not for us */
	pkt_init(&p, DHCPRELEASE, mac_a, 3);
	pkt_msg(&p)->ciaddr = a.s_addr;
	pkt_opt_ip(&p, DHO_SERVER_ID, "10.0.0.254");
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 0);
	assert_int_equal(lease_find_mac(f->db, mac_a)->state, LEASE_BOUND);
}

static void test_inform(void **state)
{
	struct fx *f = *state;
	struct pkt p;
	uint8_t n;

	pkt_init(&p, DHCPINFORM, mac_a, 11);
	pkt_msg(&p)->ciaddr = ip4("10.0.0.77").s_addr;
	pkt_end(&p);
	assert_int_equal(fx_send_to(f, &p, "10.0.0.77", 67), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_int_equal(tx_msg(f)->yiaddr, 0);
	assert_int_equal(tx_msg(f)->ciaddr, ip4("10.0.0.77").s_addr);
	assert_null(tx_opt(f, DHO_LEASE_TIME, &n));
	assert_null(tx_opt(f, DHO_RENEWAL_TIME, &n));
	assert_non_null(tx_opt(f, DHO_SUBNET_MASK, &n));
	assert_non_null(tx_opt(f, DHO_DNS, &n));
	assert_int_equal(f->tx.via, DHCP_TX_UDP);
	assert_int_equal(f->tx.dst.s_addr, ip4("10.0.0.77").s_addr);
	assert_int_equal(f->tx.dport, 68);
	assert_null(lease_find_mac(f->db, mac_a));
	assert_int_equal(nstat(f, DHCP_STAT_INFORM), 1);
}

/* --- relays ------------------------------------------------------------ */

static void test_relay(void **state)
{
	struct fx *f = *state;
	const uint8_t *o;
	struct in_addr ip;
	struct pkt p;
	uint8_t n = 0;

	pkt_init(&p, DHCPDISCOVER, mac_a, 21);
	pkt_msg(&p)->giaddr = ip4("10.1.0.1").s_addr;
	pkt_msg(&p)->hops = 1;
	pkt_opt(&p, DHO_RELAY_AGENT, "\x01\x04port\x02\x03sw1", 11);
	pkt_end(&p);
	assert_int_equal(fx_send_to(f, &p, "10.1.0.1", 67), 1);
	assert_int_equal(tx_type(f), DHCPOFFER);
	ip.s_addr = tx_msg(f)->yiaddr;
	assert_int_equal(ip.s_addr, ip4("10.1.0.10").s_addr);
	assert_int_equal(tx_msg(f)->giaddr, ip4("10.1.0.1").s_addr);
	assert_int_equal(f->tx.via, DHCP_TX_UDP);
	assert_int_equal(f->tx.dst.s_addr, ip4("10.1.0.1").s_addr);
	assert_int_equal(f->tx.dport, 67);
	o = tx_opt(f, DHO_RELAY_AGENT, &n);
	assert_int_equal(n, 11);
	assert_memory_equal(o, "\x01\x04port\x02\x03sw1", 11);
	o = tx_opt(f, DHO_ROUTER, &n);
	assert_memory_equal(o, "\x0a\x01\x00\x01", 4);
	o = tx_opt(f, DHO_LEASE_TIME, &n);
	assert_memory_equal(o, "\x00\x00\x02\x58", 4); /* the range's 600 */
	/* 82 is the last option before END */
	o = tx_opt(f, DHO_RELAY_AGENT, &n);
	assert_int_equal(o[n], DHO_END);

	pkt_init(&p, DHCPREQUEST, mac_a, 22);
	pkt_msg(&p)->giaddr = ip4("10.1.0.1").s_addr;
	pkt_opt(&p, DHO_REQUESTED_IP, &ip.s_addr, 4);
	pkt_opt_ip(&p, DHO_SERVER_ID, "10.0.0.1");
	pkt_end(&p);
	assert_int_equal(fx_send_to(f, &p, "10.1.0.1", 67), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_int_equal(lease_find_mac(f->db, mac_a)->subnet, 1);

	/* renewing from behind the relay: unicast straight to us */
	renew(&p, mac_a, ip, false);
	assert_int_equal(fx_send_to(f, &p, "10.1.0.10", 67), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	o = tx_opt(f, DHO_ROUTER, &n);
	assert_memory_equal(o, "\x0a\x01\x00\x01", 4);

	/* NAK through the relay: to the relay, broadcast bit set */
	init_reboot(&p, mac_a, "10.1.0.44");
	pkt_msg(&p)->giaddr = ip4("10.1.0.1").s_addr;
	assert_int_equal(fx_send_to(f, &p, "10.1.0.1", 67), 1);
	assert_int_equal(tx_type(f), DHCPNAK);
	assert_int_equal(f->tx.dst.s_addr, ip4("10.1.0.1").s_addr);
	assert_int_equal(f->tx.dport, 67);
	assert_int_equal(tx_msg(f)->flags, htons(BOOTP_FLAG_BROADCAST));

	/* a relay on a network we do not serve */
	pkt_init(&p, DHCPDISCOVER, mac_b, 23);
	pkt_msg(&p)->giaddr = ip4("10.9.0.1").s_addr;
	pkt_end(&p);
	assert_int_equal(fx_send_to(f, &p, "10.9.0.1", 67), 0);
	assert_int_equal(nstat(f, DHCP_STAT_DROP_NO_SUBNET), 1);
}

/* --- reservations, classes --------------------------------------------- */

static void test_reservation(void **state)
{
	struct fx *f = *state;
	const uint8_t *o;
	struct pkt p;
	uint8_t n;

	discover(&p, mac_r, 1);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_msg(f)->yiaddr, ip4("10.0.0.50").s_addr);
	o = tx_opt(f, DHO_HOSTNAME, &n);
	assert_non_null(o);
	assert_int_equal(n, 5);
	assert_memory_equal(o, "resv1", 5);
	assert_int_equal(dora(f, mac_r).s_addr, ip4("10.0.0.50").s_addr);
	assert_string_equal(lease_find_mac(f->db, mac_r)->hostname, "resv1");

	/* nobody else gets it, even asking for it */
	pkt_init(&p, DHCPDISCOVER, mac_a, 1);
	pkt_opt_ip(&p, DHO_REQUESTED_IP, "10.0.0.50");
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_not_equal(tx_msg(f)->yiaddr, ip4("10.0.0.50").s_addr);
	init_reboot(&p, mac_a, "10.0.0.50");
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPNAK);
	assert_int_equal(lease_db_check(f->db), 0);
}

static void pxe_discover(struct pkt *p, const uint8_t *mac, uint16_t arch)
{
	pkt_init(p, DHCPDISCOVER, mac, 31);
	pkt_pxe(p, arch);
}

static void test_classes(void **state)
{
	struct fx *f = *state;
	const uint8_t *o;
	struct pkt p;
	uint8_t n;

	/* UEFI x64 */
	pxe_discover(&p, mac_a, 7);
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_string_equal(tx_msg(f)->file, "ipxe.efi");
	assert_non_null(tx_opt(f, DHO_VENDOR_OPTS, &n));
	o = tx_opt(f, DHO_CLIENT_UUID, &n);
	assert_int_equal(n, 17);

	/* iPXE (user class) is handed its script, never the loader again */
	pxe_discover(&p, mac_a, 7);
	pkt_opt_str(&p, DHO_USER_CLASS, "iPXE");
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_string_equal(tx_msg(f)->file, "http://10.0.0.1/boot.ipxe");
	assert_null(tx_opt(f, DHO_VENDOR_OPTS, &n));
	assert_int_equal(tx_msg(f)->siaddr, 0);

	/* UEFI HTTP boot: the URL and 60 HTTPClient */
	pkt_init(&p, DHCPDISCOVER, mac_b, 32);
	pkt_opt_str(&p, DHO_VENDOR_CLASS, "HTTPClient:Arch:00016:UNDI:003001");
	pkt_opt(&p, DHO_CLIENT_ARCH, "\x00\x10", 2);
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_string_equal(tx_msg(f)->file, "http://10.0.0.1/efi/boot.efi");
	o = tx_opt(f, DHO_VENDOR_CLASS, &n);
	assert_int_equal(n, 10);
	assert_memory_equal(o, "HTTPClient", 10);

	/* an architecture we do not boot: an address and nothing else */
	pxe_discover(&p, mac_b, 6);
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPOFFER);
	assert_int_not_equal(tx_msg(f)->yiaddr, 0);
	assert_int_equal(tx_msg(f)->file[0], 0);
	assert_null(tx_opt(f, DHO_VENDOR_CLASS, &n));
	assert_null(tx_opt(f, DHO_VENDOR_OPTS, &n));

	/* arm64 has no boot file configured: address only, 60 kept */
	pxe_discover(&p, mac_b, 11);
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_msg(f)->file[0], 0);
	assert_null(tx_opt(f, DHO_VENDOR_OPTS, &n));
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	struct pkt p;

	discover(&p, mac_a, 1);
	pkt_msg(&p)->magic = 0;
	assert_int_equal(fx_send(f, &p), 0);
	p.len = 100;
	assert_int_equal(fx_send(f, &p), 0);
	assert_int_equal(nstat(f, DHCP_STAT_DROP_MALFORMED), 2);
	assert_int_equal(nstat(f, DHCP_STAT_RX), 2);
}

/* --- pool exhaustion and XDP's queue ----------------------------------- */

static int fx_take_queued(void *ctx, int subnet, struct in_addr *ip)
{
	struct fx *f = ctx;

	f->queued_calls++;
	if (!f->nlent)
		return -ENOENT;
	*ip = f->lent[--f->nlent];
	return 0;
}

static void test_exhaustion(void **state)
{
	struct fx *f = *state;
	struct lease_hooks h = { .take_queued = fx_take_queued };
	uint8_t mac[6] = { 0x52, 0x54, 0, 0, 1, 0 };
	struct lease_counts c;
	struct pkt p;
	int i;

	lease_db_set_hooks(f->db, &h, f);
	/* XDP holds two addresses of subnet 0 */
	assert_int_equal(lease_lend(f->db, 0, f->lent, 2), 2);
	f->nlent = 2;
	lease_count(f->db, 0, &c);
	assert_int_equal(c.queued, 2);
	assert_int_equal(c.free, 99);
	for (i = 0; i < 101; i++) {
		mac[5] = (uint8_t)i;
		discover(&p, mac, (uint32_t)i);
		assert_int_equal(fx_send(f, &p), 1);
	}
	/* the last two came back from XDP */
	assert_int_equal(f->queued_calls, 2);
	mac[4] = 2;
	discover(&p, mac, 1000);
	assert_int_equal(fx_send(f, &p), 0);
	assert_int_equal(nstat(f, DHCP_STAT_DROP_NO_ADDRESS), 1);
	lease_count(f->db, 0, &c);
	assert_int_equal(c.offered, 101);
	assert_int_equal(c.free, 0);
	/* offers run out: addresses come back */
	f->now += LEASE_OFFER_HOLD_S;
	assert_int_equal(lease_expire(f->db, f->now), 101);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(lease_db_check(f->db), 0);
}

/* --- boot server (4011) in full mode: a PXE menu pick ------------------ */

static void test_menu_pick(void **state)
{
	struct fx *f = *state;
	const uint8_t *o;
	struct pkt p;
	uint8_t n;

	pkt_init(&p, DHCPREQUEST, mac_a, 41);
	pkt_msg(&p)->ciaddr = ip4("10.0.0.120").s_addr;
	pkt_pxe(&p, 0);
	pkt_opt(&p, DHO_VENDOR_OPTS, "\x47\x04\x80\x00\x00\x00\xff", 7);
	pkt_end(&p);
	assert_int_equal(fx_send_to(f, &p, "10.0.0.120", 4011), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_string_equal(tx_msg(f)->file, "undionly.kpxe");
	assert_int_equal(tx_msg(f)->yiaddr, 0);
	o = tx_opt(f, DHO_VENDOR_OPTS, &n);
	assert_int_equal(n, 7);
	assert_memory_equal(o, "\x47\x04\x80\x00\x00\x00\xff", 7);
	assert_null(tx_opt(f, DHO_LEASE_TIME, &n));
	assert_int_equal(f->tx.via, DHCP_TX_UDP);
	assert_int_equal(f->tx.dst.s_addr, ip4("10.0.0.120").s_addr);
	assert_int_equal(f->tx.sport, 4011);
	assert_int_equal(f->tx.dport, 68);
	assert_null(lease_find_mac(f->db, mac_a));

	/* the same pick broadcast to port 67 is no renewal */
	assert_int_equal(fx_send_to(f, &p, "10.0.0.120", 67), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_int_equal(f->tx.sport, 67);
	o = tx_opt(f, DHO_VENDOR_OPTS, &n);
	assert_memory_equal(o, "\x47\x04\x80\x00\x00\x00\xff", 7);
	assert_int_equal(nstat(f, DHCP_STAT_ACK), 0);
	assert_int_equal(nstat(f, DHCP_STAT_PROXY_ACK), 2);
}

/* --- ProxyDHCP --------------------------------------------------------- */

static void test_proxy(void **state)
{
	struct fx *f = *state;
	struct lease_counts c;
	const struct xb_tmpl *t;
	struct pkt p;
	int count;
	uint8_t n;

	t = dhcp_server_templates(f->srv, &count);
	assert_int_equal(count, XB_NCLASS);
	assert_true(t[XB_CLASS_BIOS].flags & XB_TMPL_F_VALID);
	assert_false(t[XB_CLASS_PLAIN].flags & XB_TMPL_F_VALID);

	pxe_discover(&p, mac_a, 0);
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_int_equal(tx_type(f), DHCPOFFER);
	assert_int_equal(tx_msg(f)->yiaddr, 0);
	assert_string_equal(tx_msg(f)->file, "undionly.kpxe");
	assert_int_equal(tx_msg(f)->siaddr, ip4("10.0.0.1").s_addr);
	assert_null(tx_opt(f, DHO_LEASE_TIME, &n));
	assert_null(tx_opt(f, DHO_SUBNET_MASK, &n));
	assert_null(tx_opt(f, DHO_ROUTER, &n));
	assert_non_null(tx_opt(f, DHO_SERVER_ID, &n));
	assert_non_null(tx_opt(f, DHO_VENDOR_CLASS, &n));
	assert_non_null(tx_opt(f, DHO_VENDOR_OPTS, &n));
	assert_non_null(tx_opt(f, DHO_CLIENT_UUID, &n));
	assert_int_equal(f->tx.dst.s_addr, INADDR_BROADCAST);
	assert_int_equal(nstat(f, DHCP_STAT_PROXY_OFFER), 1);

	/* not a PXE client: not ours to answer */
	discover(&p, mac_b, 1);
	assert_int_equal(fx_send(f, &p), 0);
	/* a REQUEST on 67 belongs to the real DHCP server */
	request_selecting(&p, mac_a, ip4("10.0.0.120"), "10.0.0.254");
	assert_int_equal(fx_send(f, &p), 0);

	/* the boot server step on 4011: back to the client's address/port */
	pkt_init(&p, DHCPREQUEST, mac_a, 42);
	pkt_msg(&p)->ciaddr = ip4("10.0.0.120").s_addr;
	pkt_pxe(&p, 0);
	pkt_end(&p);
	assert_int_equal(fx_send_to(f, &p, "10.0.0.120", 4011), 1);
	assert_int_equal(tx_type(f), DHCPACK);
	assert_int_equal(tx_msg(f)->yiaddr, 0);
	assert_int_equal(tx_msg(f)->ciaddr, ip4("10.0.0.120").s_addr);
	assert_string_equal(tx_msg(f)->file, "undionly.kpxe");
	assert_int_equal(f->tx.via, DHCP_TX_UDP);
	assert_int_equal(f->tx.dst.s_addr, ip4("10.0.0.120").s_addr);
	assert_int_equal(f->tx.sport, 4011);
	assert_int_equal(f->tx.dport, 68);
	assert_int_equal(nstat(f, DHCP_STAT_PROXY_ACK), 1);

	/* iPXE gets its script */
	pxe_discover(&p, mac_a, 0);
	pkt_opt_str(&p, DHO_USER_CLASS, "iPXE");
	pkt_end(&p);
	assert_int_equal(fx_send(f, &p), 1);
	assert_string_equal(tx_msg(f)->file, "http://10.0.0.1/boot.ipxe");

	/* never an address */
	lease_count(f->db, -1, &c);
	assert_int_equal(c.offered + c.bound, 0);
}

/* --- many clients against a model -------------------------------------- */

#define NMACS 300
#define NADDR 256

struct model {
	/* who may hold each address (last octet of 10.0.0.x) until when */
	int acked[NADDR];        /* client index or -1 */
	int64_t acked_until[NADDR];
	int offered[NADDR];
	int64_t offered_until[NADDR];
	int64_t declined_until[NADDR];
	struct in_addr have[NMACS]; /* what each client believes it has */
};

static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static void mac_of(int i, uint8_t mac[6])
{
	uint8_t m[6] = { 0x52, 0x54, 0x00, 0xaa, (uint8_t)(i >> 8),
			 (uint8_t)i };

	memcpy(mac, m, 6);
}

/* No address is given to a client while another may still hold it. */
static void model_check_grant(struct fx *f, struct model *m, int who,
			      struct in_addr ip, bool ack)
{
	uint32_t a = ntohl(ip.s_addr);
	int o = a & 0xff;

	assert_int_equal(a >> 8, 0x0a0000);
	if (m->acked[o] >= 0 && m->acked[o] != who &&
	    m->acked_until[o] > f->now)
		fail_msg("10.0.0.%d granted to %d while acked to %d", o, who,
			 m->acked[o]);
	if (m->offered[o] >= 0 && m->offered[o] != who &&
	    m->offered_until[o] > f->now)
		fail_msg("10.0.0.%d granted to %d while offered to %d", o, who,
			 m->offered[o]);
	if (m->declined_until[o] > f->now)
		fail_msg("10.0.0.%d granted during its quarantine", o);
	/* the server drops a client's other offers when it grants one */
	for (int k = 0; k < NADDR; k++)
		if (m->offered[k] == who)
			m->offered[k] = -1;
	if (ack) {
		for (int k = 0; k < NADDR; k++)
			if (m->acked[k] == who)
				m->acked[k] = -1;
		m->acked[o] = who;
		m->acked_until[o] = f->now + 3600;
		m->have[who] = ip;
	} else {
		m->offered[o] = who;
		m->offered_until[o] = f->now + LEASE_OFFER_HOLD_S;
	}
}

static void model_drop(struct model *m, int who, struct in_addr ip)
{
	int o = ntohl(ip.s_addr) & 0xff;

	if (m->acked[o] == who)
		m->acked[o] = -1;
	if (m->offered[o] == who)
		m->offered[o] = -1;
	m->have[who].s_addr = 0;
}

static void step(struct fx *f, struct model *m)
{
	int who = (int)rnd(NMACS), r;
	struct in_addr have = m->have[who], off;
	uint8_t mac[6];
	char ipbuf[16];
	struct pkt p;

	mac_of(who, mac);
	switch (rnd(8)) {
	case 0: /* DORA, sometimes asking for a random address */
	case 1:
		pkt_init(&p, DHCPDISCOVER, mac, 1);
		if (rnd(3) == 0) {
			snprintf(ipbuf, sizeof(ipbuf), "10.0.0.%u",
				 100 + rnd(101));
			pkt_opt_ip(&p, DHO_REQUESTED_IP, ipbuf);
		}
		pkt_end(&p);
		if (!fx_send(f, &p))
			return;
		off.s_addr = tx_msg(f)->yiaddr;
		model_check_grant(f, m, who, off, false);
		if (rnd(4) == 0)
			return; /* never comes back */
		request_selecting(&p, mac, off,
				  rnd(8) ? "10.0.0.1" : "10.0.0.254");
		if (fx_send(f, &p) && tx_type(f) == DHCPACK)
			model_check_grant(f, m, who, off, true);
		else if (m->offered[ntohl(off.s_addr) & 0xff] == who)
			m->offered[ntohl(off.s_addr) & 0xff] = -1;
		return;
	case 2: /* renew or rebind what it has (or something random) */
		if (!have.s_addr || rnd(5) == 0)
			have.s_addr = htonl(0x0a000000 | (100 + rnd(101)));
		renew(&p, mac, have, rnd(2));
		break;
	case 3: /* init-reboot */
		if (!have.s_addr || rnd(5) == 0)
			have.s_addr = htonl(0x0a000000 | (100 + rnd(101)));
		inet_ntop(AF_INET, &have, ipbuf, sizeof(ipbuf));
		init_reboot(&p, mac, ipbuf);
		break;
	case 4: /* release */
		if (!have.s_addr)
			return;
		pkt_init(&p, DHCPRELEASE, mac, 1);
		pkt_msg(&p)->ciaddr = have.s_addr;
		pkt_end(&p);
		fx_send(f, &p);
		model_drop(m, who, have);
		return;
	case 5: /* decline */
		if (!have.s_addr || rnd(4))
			return;
		inet_ntop(AF_INET, &have, ipbuf, sizeof(ipbuf));
		pkt_init(&p, DHCPDECLINE, mac, 1);
		pkt_opt_ip(&p, DHO_REQUESTED_IP, ipbuf);
		pkt_end(&p);
		fx_send(f, &p);
		if (m->acked[ntohl(have.s_addr) & 0xff] == who &&
		    m->acked_until[ntohl(have.s_addr) & 0xff] > f->now)
			m->declined_until[ntohl(have.s_addr) & 0xff] =
				f->now + 600;
		model_drop(m, who, have);
		return;
	case 6: /* time passes */
		f->now += rnd(90);
		lease_expire(f->db, f->now);
		return;
	default: /* the client forgets everything */
		m->have[who].s_addr = 0;
		return;
	}
	r = fx_send(f, &p);
	if (r && tx_type(f) == DHCPACK)
		model_check_grant(f, m, who, have, true);
	else if (r && tx_type(f) == DHCPNAK)
		m->have[who].s_addr = 0;
}

static void test_many_clients(void **state)
{
	struct fx *f = *state;
	struct model m;
	int i;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < NADDR; i++)
		m.acked[i] = m.offered[i] = -1;
	for (i = 0; i < 30000; i++) {
		step(f, &m);
		if (lease_db_check(f->db))
			fail_msg("lease table broken after step %d", i);
	}
	print_message("offers %llu acks %llu naks %llu silent %llu exhausted %llu\n",
		      (unsigned long long)nstat(f, DHCP_STAT_OFFER),
		      (unsigned long long)nstat(f, DHCP_STAT_ACK),
		      (unsigned long long)nstat(f, DHCP_STAT_NAK),
		      (unsigned long long)nstat(f, DHCP_STAT_DROP_NOT_OURS),
		      (unsigned long long)nstat(f, DHCP_STAT_DROP_NO_ADDRESS));
	assert_true(nstat(f, DHCP_STAT_ACK) > 1000);
	assert_true(nstat(f, DHCP_STAT_NAK) > 10);
	assert_true(nstat(f, DHCP_STAT_DROP_NO_ADDRESS) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dora, setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_offer_is_template,
						setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_same_address_again,
						setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_requested_in_discover,
						setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_selecting_other_server,
						setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_selecting_wrong_address,
						setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_selecting_after_offer_expired,
						setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_init_reboot, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_renew_rebind, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_decline, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_release_wrong_client,
						setup_full, teardown),
		cmocka_unit_test_setup_teardown(test_inform, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_relay, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_reservation, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_classes, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_exhaustion, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_menu_pick, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_proxy, setup_proxy,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_clients, setup_full,
						teardown),
	};

	log_level = LOG_LVL_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
