// SPDX-License-Identifier: GPL-2.0
/*
 * The XDP fast path under BPF_PROG_TEST_RUN: crafted frames in, verdict and
 * reply frame out.
 *
 * First group: the maps are filled by hand with templates built by the
 * slow path's own dhcp_tmpl_build(), and every reply's BOOTP payload is
 * compared byte for byte with what dhcp_reply_build() makes of the same
 * request: crafted classes, relays, truncation, bad lengths, limits.
 *
 * Second group: the whole of xbootd's side, in a network namespace of the
 * test's own: a config, the lease table, dhcp_server, and xdp_ctl attached
 * to a veth and synced. Each request goes through XDP first, its events
 * into the lease table, then the same request through dhcp_server_handle():
 * the two replies must be the same bytes, to the same destination.
 *
 * Needs root (BPF); exits 77 when the kernel or the privileges are not
 * there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "dhcp_opts.h"
#include "dhcp_reply.h"
#include "dhcp_server.h"
#include "lease.h"
#include "log.h"
#include "xdp_ctl.h"
#include "xboot/dhcp.h"
#include "xboot/xdp.h"
#include "xboot_xdp.skel.h"
#include "xdp_test.h"

#define IFINDEX 1 /* lo: test runs need a real device for ingress_ifindex */
#define SERVER_IP "10.0.0.1"
#define NQUEUED 8000

static const uint8_t server_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t relay_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* Subnet 0 is local (10.0.0.0/24), subnet 1 is behind a relay. */
static const char *const subnet_net[2] = { "10.0.0.0", "10.1.0.0" };
static const char *const subnet_router[2] = { "10.0.0.1", "10.1.0.1" };
static const uint32_t subnet_lease[2] = { 3600, 7200 };

static struct xboot_xdp *skel;
static struct ring_buffer *rb;
static int queue_fd[2] = { -1, -1 };
static struct config cfg;
static struct xb_tmpl tmpl[XB_MAX_SUBNETS * XB_NCLASS];
static struct xb_event last_ev;
static int nevents;

/* --- requests ----------------------------------------------------------- */

struct opts {
	uint8_t b[1500];
	size_t n;
};

static void opt_add(struct opts *o, uint8_t code, const void *data,
		    size_t len)
{
	o->b[o->n++] = code;
	o->b[o->n++] = (uint8_t)len;
	memcpy(o->b + o->n, data, len);
	o->n += len;
}

static void opt_str(struct opts *o, uint8_t code, const char *s)
{
	opt_add(o, code, s, strlen(s));
}

static void opt_arch(struct opts *o, uint16_t arch)
{
	uint8_t a[2] = { arch >> 8, arch & 0xff };

	opt_add(o, DHO_CLIENT_ARCH, a, 2);
}

static void opt_ip(struct opts *o, uint8_t code, const char *ip)
{
	in_addr_t a = inet_addr(ip);

	opt_add(o, code, &a, 4);
}

/* What a PXE ROM sends: vendor class, arch, NDI, UUID. */
static void opts_pxe(struct opts *o, uint16_t arch)
{
	static const uint8_t ndi[3] = { 1, 2, 1 };
	uint8_t uuid[17] = { 0 };
	char vc[40];
	int i;

	for (i = 1; i < 17; i++)
		uuid[i] = (uint8_t)(0x10 + i);
	snprintf(vc, sizeof(vc), "PXEClient:Arch:%05u:UNDI:002001", arch);
	opt_str(o, DHO_VENDOR_CLASS, vc);
	opt_arch(o, arch);
	opt_add(o, DHO_CLIENT_NDI, ndi, 3);
	opt_add(o, DHO_CLIENT_UUID, uuid, 17);
}

struct req_spec {
	uint8_t msgtype; /* 0: no option 53 */
	uint8_t mac[6];
	uint32_t xid;
	bool broadcast;
	const char *ciaddr, *giaddr;
	const char *ip_src, *ip_dst; /* default 0.0.0.0 -> 255.255.255.255 */
	uint16_t sport, dport;       /* default 68 -> 67 */
	const struct opts *opts;     /* after option 53 */
	size_t pad_to;               /* BOOTP length; default 300 */
};



static in_addr_t ip_or(const char *s, const char *dflt)
{
	return inet_addr(s ? s : dflt);
}

/* Returns the BOOTP offset. */
static size_t build_bootp(const struct req_spec *s, uint8_t *p)
{
	struct dhcp_msg *m = (struct dhcp_msg *)p;
	size_t n = DHCP_FIXED_LEN, pad = s->pad_to ? s->pad_to : 300;

	memset(p, 0, pad > 1500 ? pad : 1500);
	m->op = BOOTP_REQUEST;
	m->htype = BOOTP_HTYPE_ETHER;
	m->hlen = 6;
	m->hops = s->giaddr ? 1 : 0;
	m->xid = htonl(s->xid ? s->xid : 0x1234abcd);
	m->secs = htons(4);
	m->flags = s->broadcast ? htons(BOOTP_FLAG_BROADCAST) : 0;
	m->ciaddr = ip_or(s->ciaddr, "0.0.0.0");
	m->giaddr = ip_or(s->giaddr, "0.0.0.0");
	memcpy(m->chaddr, s->mac, 6);
	m->magic = htonl(DHCP_MAGIC);
	if (s->msgtype) {
		p[n++] = DHO_MSG_TYPE;
		p[n++] = 1;
		p[n++] = s->msgtype;
	}
	if (s->opts) {
		memcpy(p + n, s->opts->b, s->opts->n);
		n += s->opts->n;
	}
	p[n++] = DHO_END;
	return n > pad ? n : pad;
}

static void build_frame(const struct req_spec *s, struct frame *f)
{
	struct ethhdr *eth = (struct ethhdr *)f->b;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);
	size_t blen = build_bootp(s, (uint8_t *)(udp + 1));

	memcpy(eth->h_dest, bcast_mac, 6);
	memcpy(eth->h_source, s->giaddr ? relay_mac : s->mac, 6);
	eth->h_proto = htons(ETH_P_IP);
	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*udp) + blen);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = ip_or(s->ip_src, s->giaddr ? s->giaddr : "0.0.0.0");
	ip->daddr = ip_or(s->ip_dst, s->giaddr ? SERVER_IP : "255.255.255.255");
	ip->check = htons(~xt_fold(xt_sum16(ip, sizeof(*ip), 0)));
	udp->source = htons(s->sport ? s->sport :
			    s->giaddr ? DHCP_SERVER_PORT : DHCP_CLIENT_PORT);
	udp->dest = htons(s->dport ? s->dport : DHCP_SERVER_PORT);
	udp->len = htons(sizeof(*udp) + blen);
	udp->check = 0;
	f->len = sizeof(*eth) + sizeof(*ip) + sizeof(*udp) + blen;
}

#define HDRS (sizeof(struct ethhdr) + sizeof(struct iphdr) + \
	      sizeof(struct udphdr))

/* --- running the program ------------------------------------------------ */

static int run_ifindex(const struct frame *in, struct frame *out, int ifindex)
{
	struct xdp_md ctx = {
		.data_end = (__u32)in->len,
		.ingress_ifindex = (__u32)ifindex,
	};
	LIBBPF_OPTS(bpf_test_run_opts, topts,
		    .data_in = in->b,
		    .data_size_in = (__u32)in->len,
		    .data_out = out->b,
		    .data_size_out = sizeof(out->b),
		    .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx),
		    .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xboot_dhcp),
				     &topts);
	assert_int_equal(err, 0);
	out->len = topts.data_size_out;
	return (int)topts.retval;
}

static int run(const struct frame *in, struct frame *out)
{
	return run_ifindex(in, out, IFINDEX);
}


static int on_event(void *ctx, void *data, size_t size)
{
	assert_true(size >= sizeof(last_ev));
	memcpy(&last_ev, data, sizeof(last_ev));
	nevents++;
	return 0;
}

static int events(void)
{
	nevents = 0;
	ring_buffer__consume(rb);
	return nevents;
}

/* --- map setup ---------------------------------------------------------- */

static void put_config(enum xb_mode mode, int enabled)
{
	struct xb_config c = { 0 };
	__u32 key = IFINDEX;

	c.server_ip = inet_addr(SERVER_IP);
	memcpy(c.server_mac, server_mac, 6);
	c.mode = mode;
	c.enabled = (uint8_t)enabled;
	c.offer_hold_s = 30;
	assert_int_equal(bpf_map_update_elem(
				 bpf_map__fd(skel->maps.xb_config), &key, &c,
				 BPF_ANY), 0);
}

static void put_subnets(bool present)
{
	__u32 i;

	for (i = 0; i < XB_MAX_SUBNETS; i++) {
		struct xb_subnet sn = { 0 };

		if (present && i < 2) {
			sn.net = inet_addr(subnet_net[i]);
			sn.mask = inet_addr("255.255.255.0");
			sn.lease_s = subnet_lease[i];
			sn.flags = XB_SUBNET_F_VALID |
				   (i == 0 ? XB_SUBNET_F_LOCAL : 0);
		}
		assert_int_equal(bpf_map_update_elem(
					 bpf_map__fd(skel->maps.xb_subnets),
					 &i, &sn, BPF_ANY), 0);
	}
}

static void cfg_set(const char *k, const char *v)
{
	struct cfg_error err;

	if (config_set(&cfg, k, v, "test", &err))
		fail_msg("config %s=%s: %s", k, v, err.msg);
}

/* Templates as xbootd builds them: full mode for subnets 0 and 1, or
 * proxy mode at subnet 0. */
static void put_templates(enum xb_mode mode)
{
	int fd = bpf_map__fd(skel->maps.xb_tmpl), s, c;
	__u32 i;

	memset(tmpl, 0, sizeof(tmpl));
	for (s = 0; s < (mode == XB_MODE_FULL ? 2 : 1); s++) {
		struct dhcp_tmpl_params p = {
			.mode = mode,
			.server_id.s_addr = inet_addr(SERVER_IP),
			.mask.s_addr = inet_addr("255.255.255.0"),
			.router.s_addr = inet_addr(subnet_router[s]),
			.lease_s = subnet_lease[s],
		};

		for (c = 0; c < XB_NCLASS; c++)
			assert_int_equal(dhcp_tmpl_build(
						 &tmpl[s * XB_NCLASS + c], &cfg,
						 &p, c), 0);
	}
	for (i = 0; i < XB_MAX_SUBNETS * XB_NCLASS; i++)
		assert_int_equal(bpf_map_update_elem(fd, &i, &tmpl[i],
						     BPF_ANY), 0);
}

static void clear_map(struct bpf_map *map)
{
	int fd = bpf_map__fd(map);
	uint8_t key[64], next[64];

	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, sizeof(key));
		assert_int_equal(bpf_map_delete_elem(fd, key), 0);
	}
}

static void fill_queue(int subnet, int n)
{
	__u32 v;
	int i;

	while (!bpf_map_lookup_and_delete_elem(queue_fd[subnet], NULL, &v))
		;
	for (i = 0; i < n; i++) {
		/* 10.S.X.Y from .100 on */
		v = htonl(0x0a000000 | (uint32_t)subnet << 16 |
			  (uint32_t)(100 + i));
		assert_int_equal(bpf_map_update_elem(queue_fd[subnet], NULL, &v,
						     BPF_ANY), 0);
	}
}

static int queue_len(int subnet)
{
	__u32 v[NQUEUED + 16];
	int n = 0, i;

	while (n < NQUEUED + 16 &&
	       !bpf_map_lookup_and_delete_elem(queue_fd[subnet], NULL, &v[n]))
		n++;
	for (i = 0; i < n; i++)
		bpf_map_update_elem(queue_fd[subnet], NULL, &v[i], BPF_ANY);
	return n;
}

static void reset_stats(void)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t zero[ncpu];
	__u32 k;

	memset(zero, 0, sizeof(zero));
	for (k = 0; k < XB_STAT_MAX; k++)
		bpf_map_update_elem(bpf_map__fd(skel->maps.xb_stats), &k, zero,
				    BPF_ANY);
}

static void put_resv(const uint8_t mac[6], const char *ip, int subnet,
		     const char *hostname)
{
	struct xb_mac_key k = { 0 };
	struct xb_resv r = { 0 };

	memcpy(k.mac, mac, 6);
	r.ip = ip ? inet_addr(ip) : 0;
	r.subnet = (uint8_t)subnet;
	if (hostname) {
		r.hostname_len = (uint8_t)strlen(hostname);
		memcpy(r.hostname, hostname, r.hostname_len);
	}
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.xb_resv),
					     &k, &r, BPF_ANY), 0);
}

static int get_lease(const uint8_t mac[6], struct xb_lease *l)
{
	struct xb_mac_key k = { 0 };

	memcpy(k.mac, mac, 6);
	return bpf_map_lookup_elem(bpf_map__fd(skel->maps.xb_leases), &k, l);
}

static int setup_full(void **state)
{
	put_config(XB_MODE_FULL, 1);
	put_subnets(true);
	put_templates(XB_MODE_FULL);
	clear_map(skel->maps.xb_resv);
	clear_map(skel->maps.xb_leases);
	fill_queue(0, 16);
	fill_queue(1, 16);
	reset_stats();
	events();
	return 0;
}

static int setup_proxy(void **state)
{
	setup_full(state);
	put_config(XB_MODE_PROXY, 1);
	put_subnets(false);
	put_templates(XB_MODE_PROXY);
	fill_queue(0, 0);
	fill_queue(1, 0);
	return 0;
}

/* --- checking replies --------------------------------------------------- */

struct expect {
	int msgtype;
	const char *yiaddr;       /* NULL: 0.0.0.0 */
	const char *ip_dst;
	const uint8_t *eth_dst;
	uint16_t sport, dport;
	const char *hostname;     /* option 12 from a reservation */
	int subnet;               /* template row */
	int class;                /* -1: do not check */
};

static void check_csums(const struct frame *out)
{
	const struct iphdr *ip = (const void *)(out->b + sizeof(struct ethhdr));
	const struct udphdr *udp = (const void *)(ip + 1);
	uint8_t pseudo[12];
	uint16_t ulen = ntohs(udp->len);
	uint32_t sum;

	assert_int_equal(xt_fold(xt_sum16(ip, sizeof(*ip), 0)), 0xffff);
	assert_int_not_equal(udp->check, 0);
	memcpy(pseudo, &ip->saddr, 4);
	memcpy(pseudo + 4, &ip->daddr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	memcpy(pseudo + 10, &udp->len, 2);
	sum = xt_fold(xt_sum16(pseudo, sizeof(pseudo), 0));
	assert_int_equal(xt_fold(xt_sum16(udp, ulen, sum)), 0xffff);
}

/* The slow path's reply to the same request, from the same template. */
static int slow_reply(const struct frame *in, const struct expect *e,
		      uint8_t *buf)
{
	struct dhcp_request *req = calloc(1, sizeof(*req));
	struct in_addr yi = { e->yiaddr ? inet_addr(e->yiaddr) : 0 };
	int len;

	assert_non_null(req);
	assert_int_equal(dhcp_parse(in->b + HDRS, in->len - HDRS, req), 0);
	if (e->class >= 0)
		assert_int_equal(req->class, e->class);
	len = dhcp_reply_build(buf, DHCP_REPLY_MAX_LEN, req,
			       &tmpl[e->subnet * XB_NCLASS + req->class],
			       e->msgtype, yi, e->hostname);
	free(req);
	return len;
}

static void check_reply(const struct frame *in, const struct frame *out,
			const struct expect *e)
{
	const struct ethhdr *eth = (const void *)out->b;
	const struct iphdr *ip = (const void *)(eth + 1);
	const struct udphdr *udp = (const void *)(ip + 1);
	uint8_t want[DHCP_REPLY_MAX_LEN];
	int wlen;

	assert_true(out->len > HDRS + DHCP_FIXED_LEN);
	assert_memory_equal(eth->h_source, server_mac, 6);
	assert_memory_equal(eth->h_dest, e->eth_dst, 6);
	assert_int_equal(ntohs(eth->h_proto), ETH_P_IP);
	assert_int_equal(ip->version, 4);
	assert_int_equal(ip->ihl, 5);
	assert_int_equal(ntohs(ip->tot_len), out->len - sizeof(*eth));
	assert_int_equal(ip->id, 0);
	assert_int_equal(ip->frag_off, 0);
	assert_int_equal(ip->ttl, 64);
	assert_int_equal(ip->protocol, IPPROTO_UDP);
	assert_int_equal(ip->saddr, inet_addr(SERVER_IP));
	assert_int_equal(ip->daddr, inet_addr(e->ip_dst));
	assert_int_equal(ntohs(udp->source), e->sport ? e->sport : 67);
	assert_int_equal(ntohs(udp->dest), e->dport);
	assert_int_equal(ntohs(udp->len),
			 out->len - sizeof(*eth) - sizeof(*ip));
	check_csums(out);

	wlen = slow_reply(in, e, want);
	assert_true(wlen > 0);
	assert_int_equal(out->len - HDRS, (size_t)wlen);
	assert_memory_equal(out->b + HDRS, want, (size_t)wlen);
	assert_int_equal(out->b[HDRS + DHCP_FIXED_LEN + 2], e->msgtype);
}

/* --- tests: full mode --------------------------------------------------- */

static const uint8_t mac_a[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t mac_b[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0b };

static void discover_class(uint16_t arch, const char *vc, int class,
			   bool ipxe)
{
	struct opts o = { .n = 0 };
	struct req_spec s = {
		.msgtype = DHCPDISCOVER, .broadcast = true, .opts = &o,
		.pad_to = 548,
	};
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.100",
		.ip_dst = "255.255.255.255", .eth_dst = bcast_mac,
		.dport = 68, .class = class,
	};
	struct frame in, out;
	struct xb_lease l;

	memcpy(s.mac, mac_a, 6);
	if (vc)
		opt_str(&o, DHO_VENDOR_CLASS, vc);
	if (arch != 0xffff)
		opt_arch(&o, arch);
	if (ipxe)
		opt_str(&o, DHO_USER_CLASS, "iPXE");
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);

	assert_int_equal(get_lease(mac_a, &l), 0);
	assert_int_equal(l.ip, inet_addr("10.0.0.100"));
	assert_int_equal(l.state, XB_LEASE_OFFERED);
	assert_int_equal(l.subnet, 0);
	assert_int_equal(events(), 1);
	assert_int_equal(last_ev.type, XB_EV_OFFER);
	assert_int_equal(last_ev.ip, inet_addr("10.0.0.100"));
	assert_memory_equal(last_ev.mac, mac_a, 6);
	assert_int_equal(last_ev.class, class);
	assert_int_equal(last_ev.xid, htonl(0x1234abcd));
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TX_OFFER), 1);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_RX_DHCP), 1);
	assert_int_equal(queue_len(0), 15);
}

static void test_bios(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s = {
		.msgtype = DHCPDISCOVER, .broadcast = true, .opts = &o,
		.pad_to = 548,
	};
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.100",
		.ip_dst = "255.255.255.255", .eth_dst = bcast_mac,
		.dport = 68, .class = XB_CLASS_BIOS,
	};
	struct frame in, out;
	const struct dhcp_msg *m;

	memcpy(s.mac, mac_a, 6);
	opts_pxe(&o, PXE_ARCH_BIOS);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
	m = (const void *)(out.b + HDRS);
	assert_string_equal(m->file, "undionly.kpxe");
	assert_int_equal(m->siaddr, inet_addr(SERVER_IP));
	assert_int_equal(events(), 1);
	assert_int_equal(last_ev.class, XB_CLASS_BIOS);
}

static void test_efi64(void **state)
{
	discover_class(PXE_ARCH_EFI_BC, "PXEClient:Arch:00007:UNDI:003016",
		       XB_CLASS_EFI64, false);
}

static void test_efi64_arch9(void **state)
{
	discover_class(PXE_ARCH_EFI_X64, "PXEClient", XB_CLASS_EFI64, false);
}

static void test_arm64(void **state)
{
	discover_class(PXE_ARCH_EFI_ARM64, "PXEClient:Arch:00011:UNDI:003000",
		       XB_CLASS_ARM64, false);
}

static void test_http(void **state)
{
	discover_class(PXE_ARCH_EFI_X64_HTTP, "HTTPClient:Arch:00016:UNDI:003001",
		       XB_CLASS_HTTP, false);
}

static void test_ipxe(void **state)
{
	discover_class(PXE_ARCH_EFI_BC, "PXEClient:Arch:00007:UNDI:003016",
		       XB_CLASS_IPXE, true);
}

static void test_plain(void **state)
{
	discover_class(0xffff, NULL, XB_CLASS_PLAIN, false);
}

static void test_no_arch_is_bios(void **state)
{
	discover_class(0xffff, "PXEClient", XB_CLASS_BIOS, false);
}

static void test_ipxe_rfc3004(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true,
			      .opts = &o };
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.100",
		.ip_dst = "255.255.255.255", .eth_dst = bcast_mac,
		.dport = 68, .class = XB_CLASS_IPXE,
	};
	static const uint8_t uc[] = { 3, 'f', 'o', 'o', 4, 'i', 'P', 'X', 'E' };
	struct frame in, out;

	memcpy(s.mac, mac_a, 6);
	opts_pxe(&o, PXE_ARCH_BIOS);
	opt_add(&o, DHO_USER_CLASS, uc, sizeof(uc));
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
}

static void test_ipxe_encap(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true,
			      .opts = &o };
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.100",
		.ip_dst = "255.255.255.255", .eth_dst = bcast_mac,
		.dport = 68, .class = XB_CLASS_IPXE,
	};
	static const uint8_t encap[] = { 19, 1, 1 };
	struct frame in, out;

	memcpy(s.mac, mac_a, 6);
	opts_pxe(&o, PXE_ARCH_EFI_BC);
	opt_add(&o, DHO_IPXE_ENCAP, encap, sizeof(encap));
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
}

static void test_unknown_arch(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .opts = &o };
	struct frame in, out;

	memcpy(s.mac, mac_a, 6);
	opts_pxe(&o, 2); /* EFI Itanium */
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_CLASS), 1);
	assert_int_equal(queue_len(0), 16);
}

/* Relayed: subnet of giaddr, reply to the relay on 67, option 82 echoed. */
static void test_relayed(void **state)
{
	static const uint8_t agent[] = { 1, 6, 'e', 't', 'h', '0', '/', '1',
					 2, 4, 0xde, 0xad, 0xbe, 0xef };
	struct opts o = { .n = 0 };
	struct req_spec s = {
		.msgtype = DHCPDISCOVER, .giaddr = "10.1.0.1", .opts = &o,
	};
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.1.0.100",
		.ip_dst = "10.1.0.1", .eth_dst = relay_mac, .dport = 67,
		.subnet = 1, .class = XB_CLASS_EFI64,
	};
	struct frame in, out;
	struct xb_lease l;

	memcpy(s.mac, mac_b, 6);
	opts_pxe(&o, PXE_ARCH_EFI_BC);
	opt_add(&o, DHO_RELAY_AGENT, agent, sizeof(agent));
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
	assert_non_null(memmem(out.b + HDRS, out.len - HDRS, agent,
			       sizeof(agent)));
	assert_int_equal(get_lease(mac_b, &l), 0);
	assert_int_equal(l.subnet, 1);
	assert_int_equal(queue_len(1), 15);
	assert_int_equal(queue_len(0), 16);
}

static void test_relayed_unknown_subnet(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER, .giaddr = "192.168.9.1" };
	struct frame in, out;

	memcpy(s.mac, mac_b, 6);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_NO_SUBNET), 1);
}

/* Without the broadcast flag the OFFER goes to yiaddr at chaddr. */
static void test_unicast_offer(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER };
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.100",
		.ip_dst = "10.0.0.100", .eth_dst = mac_a, .dport = 68,
		.class = XB_CLASS_PLAIN,
	};
	struct frame in, out;

	memcpy(s.mac, mac_a, 6);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
}

static void offer(const uint8_t mac[6], struct frame *in, struct frame *out)
{
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true,
			      .opts = &o };

	memcpy(s.mac, mac, 6);
	opts_pxe(&o, PXE_ARCH_BIOS);
	build_frame(&s, in);
	assert_int_equal(run(in, out), XDP_TX);
	events();
}

static void request_spec(struct req_spec *s, struct opts *o, const uint8_t *mac,
			 const char *want, const char *server)
{
	memset(s, 0, sizeof(*s));
	s->msgtype = DHCPREQUEST;
	s->broadcast = true;
	s->opts = o;
	memcpy(s->mac, mac, 6);
	opts_pxe(o, PXE_ARCH_BIOS);
	if (want)
		opt_ip(o, DHO_REQUESTED_IP, want);
	if (server)
		opt_ip(o, DHO_SERVER_ID, server);
}

static void test_request_ack(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s;
	struct expect e = {
		.msgtype = DHCPACK, .yiaddr = "10.0.0.100",
		.ip_dst = "255.255.255.255", .eth_dst = bcast_mac,
		.dport = 68, .class = XB_CLASS_BIOS,
	};
	struct frame in, out;
	struct xb_lease l;

	offer(mac_a, &in, &out);
	request_spec(&s, &o, mac_a, "10.0.0.100", SERVER_IP);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
	assert_int_equal(get_lease(mac_a, &l), 0);
	assert_int_equal(l.state, XB_LEASE_BOUND);
	assert_int_equal(events(), 1);
	assert_int_equal(last_ev.type, XB_EV_ACK);
	assert_int_equal(last_ev.lease_s, 3600);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TX_ACK), 1);
}

/* A second DISCOVER gets the same address, without taking another. */
static void test_rediscover_same_address(void **state)
{
	struct frame in, out;
	const struct dhcp_msg *m = (const void *)(out.b + HDRS);

	offer(mac_a, &in, &out);
	offer(mac_a, &in, &out);
	assert_int_equal(m->yiaddr, inet_addr("10.0.0.100"));
	assert_int_equal(queue_len(0), 15);
	offer(mac_b, &in, &out);
	assert_int_equal(m->yiaddr, inet_addr("10.0.0.101"));
}

static void test_request_wrong_address(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s;
	struct frame in, out;
	struct xb_lease l;

	offer(mac_a, &in, &out);
	request_spec(&s, &o, mac_a, "10.0.0.77", SERVER_IP);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_MISMATCH), 1);
	assert_int_equal(get_lease(mac_a, &l), 0);
	assert_int_equal(l.state, XB_LEASE_OFFERED);
	assert_int_equal(events(), 0);
}

static void test_request_other_server(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s;
	struct frame in, out;

	offer(mac_a, &in, &out);
	request_spec(&s, &o, mac_a, "10.0.0.100", "10.0.0.2");
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_MISMATCH), 1);
}

static void test_request_no_lease(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s;
	struct frame in, out;

	request_spec(&s, &o, mac_a, "10.0.0.100", NULL);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_NO_LEASE), 1);
}

/* Renewing: ciaddr set, no option 50 -> unicast to ciaddr:68. */
static void test_renew_unicast(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s;
	struct expect e = {
		.msgtype = DHCPACK, .yiaddr = "10.0.0.100",
		.ip_dst = "10.0.0.100", .eth_dst = mac_a, .dport = 68,
		.class = XB_CLASS_BIOS,
	};
	struct frame in, out;

	offer(mac_a, &in, &out);
	request_spec(&s, &o, mac_a, NULL, NULL);
	s.broadcast = false;
	s.ciaddr = "10.0.0.100";
	s.ip_src = "10.0.0.100";
	s.ip_dst = SERVER_IP;
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
	assert_int_equal(((const struct dhcp_msg *)(out.b + HDRS))->ciaddr,
			 inet_addr("10.0.0.100"));
}

static void test_reservation(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true,
			      .opts = &o };
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.50",
		.ip_dst = "255.255.255.255", .eth_dst = bcast_mac,
		.dport = 68, .hostname = "node-17", .class = XB_CLASS_EFI64,
	};
	struct frame in, out;
	struct xb_lease l;

	put_resv(mac_a, "10.0.0.50", 0, "node-17");
	memcpy(s.mac, mac_a, 6);
	opts_pxe(&o, PXE_ARCH_EFI_X64);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
	assert_int_equal(queue_len(0), 16);
	assert_int_equal(get_lease(mac_a, &l), 0);
	assert_int_equal(l.ip, inet_addr("10.0.0.50"));

	/* and its REQUEST is ACKed with the name again */
	request_spec(&s, &o, mac_a, "10.0.0.50", SERVER_IP);
	o.n = 0;
	opts_pxe(&o, PXE_ARCH_EFI_X64);
	opt_ip(&o, DHO_REQUESTED_IP, "10.0.0.50");
	build_frame(&s, &in);
	e.msgtype = DHCPACK;
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
}

/* A name but no fixed address: a pool address plus option 12. */
static void test_reservation_name_only(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true };
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.100",
		.ip_dst = "255.255.255.255", .eth_dst = bcast_mac,
		.dport = 68, .hostname = "named", .class = XB_CLASS_PLAIN,
	};
	struct frame in, out;

	put_resv(mac_a, NULL, 0, "named");
	memcpy(s.mac, mac_a, 6);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
}

static void test_reservation_other_subnet(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true };
	struct frame in, out;

	put_resv(mac_a, "10.1.0.9", 1, NULL);
	memcpy(s.mac, mac_a, 6);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_MISMATCH), 1);
}

static void test_queue_empty(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER };
	struct frame in, out;

	fill_queue(0, 0);
	memcpy(s.mac, mac_a, 6);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_NO_ADDRESS), 1);
	assert_memory_equal(out.b, in.b, in.len);
	assert_int_equal(out.len, in.len);
}

static void test_msgtypes_pass(void **state)
{
	static const uint8_t types[] = { DHCPINFORM, DHCPRELEASE, DHCPDECLINE,
					 DHCPOFFER, DHCPACK, 42 };
	struct req_spec s = { .ciaddr = "10.0.0.100" };
	struct frame in, out;
	size_t i;

	memcpy(s.mac, mac_a, 6);
	for (i = 0; i < sizeof(types); i++) {
		s.msgtype = types[i];
		build_frame(&s, &in);
		assert_int_equal(run(&in, &out), XDP_PASS);
		assert_int_equal(out.len, in.len);
		assert_memory_equal(out.b, in.b, in.len);
	}
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_MSGTYPE), sizeof(types));
	s.msgtype = 0; /* plain BOOTP */
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_MSGTYPE), sizeof(types) + 1);
}

static void test_overload(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .opts = &o };
	uint8_t v = DHCP_OVERLOAD_FILE;
	struct frame in, out;

	memcpy(s.mac, mac_a, 6);
	opt_add(&o, DHO_OVERLOAD, &v, 1);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_OVERLOAD), 1);
	assert_int_equal(queue_len(0), 16);
}

/* Every option whose length xbootd's parser checks, and options running
 * past the end: all passed, none answered. */
static void test_bad_option_lengths(void **state)
{
	static const uint8_t bad[][8] = {
		{ DHO_REQUESTED_IP, 3, 10, 0, 0 },
		{ DHO_SERVER_ID, 5, 10, 0, 0, 1, 0 },
		{ DHO_CLIENT_ARCH, 1, 0 },
		{ DHO_CLIENT_ARCH, 3, 0, 0, 7 },
		{ DHO_MAX_MSG_SIZE, 1, 5 },
		{ DHO_CLIENT_NDI, 2, 1, 2 },
		{ DHO_MSG_TYPE, 2, 1, 1 },
	};
	struct opts o;
	struct req_spec s = { .msgtype = DHCPDISCOVER, .opts = &o };
	struct frame in, out;
	size_t i;

	memcpy(s.mac, mac_a, 6);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.n = 0;
		memcpy(o.b, bad[i], 2 + bad[i][1]);
		o.n = 2 + bad[i][1];
		build_frame(&s, &in);
		assert_int_equal(run(&in, &out), XDP_PASS);
	}
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_MALFORMED), i);

	/* an option running past the end of the packet */
	s.opts = NULL;
	s.pad_to = 1;
	build_frame(&s, &in);
	in.b[in.len - 1] = DHO_HOSTNAME; /* replaces END: code, no length */
	assert_int_equal(run(&in, &out), XDP_PASS);
	in.b[in.len++] = 20; /* length past the end */
	((struct iphdr *)(in.b + 14))->tot_len =
		htons(ntohs(((struct iphdr *)(in.b + 14))->tot_len) + 1);
	((struct udphdr *)(in.b + 34))->len =
		htons(ntohs(((struct udphdr *)(in.b + 34))->len) + 1);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_MALFORMED), i + 2);

	/* a repeated option is concatenated by xbootd, not here */
	o.n = 0;
	opt_str(&o, DHO_VENDOR_CLASS, "PXE");
	opt_str(&o, DHO_VENDOR_CLASS, "Client");
	s.opts = &o;
	s.pad_to = 0;
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(queue_len(0), 16);
}

static void test_no_end_option(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER, .pad_to = 1 };
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.100",
		.ip_dst = "10.0.0.100", .eth_dst = mac_a, .dport = 68,
		.class = XB_CLASS_PLAIN,
	};
	struct frame in, out;

	memcpy(s.mac, mac_a, 6);
	build_frame(&s, &in);
	/* drop the END byte: options run to the end of the packet */
	in.len--;
	((struct iphdr *)(in.b + 14))->tot_len =
		htons(ntohs(((struct iphdr *)(in.b + 14))->tot_len) - 1);
	((struct udphdr *)(in.b + 34))->len =
		htons(ntohs(((struct udphdr *)(in.b + 34))->len) - 1);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
}

static void reset_leases(void)
{
	fill_queue(0, 16);
	clear_map(skel->maps.xb_leases);
	events();
}

/* Every prefix of a valid DISCOVER. With the headers' lengths left as they
 * were: never answered, never changed. With the lengths cut to match: XDP
 * answers exactly when xbootd's parser accepts the rest (a cut between two
 * options is a request without END), and then with the same bytes. */
static void test_truncated(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .opts = &o };
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.100",
		.ip_dst = "10.0.0.100", .eth_dst = mac_a, .dport = 68,
		.class = -1,
	};
	struct dhcp_request *req = calloc(1, sizeof(*req));
	struct frame in, cut, out;
	int answered = 0, want;
	size_t len;

	assert_non_null(req);
	memcpy(s.mac, mac_a, 6);
	opts_pxe(&o, PXE_ARCH_BIOS);
	s.pad_to = 1;
	build_frame(&s, &in);
	for (len = ETH_HLEN; len < in.len; len++) {
		memcpy(cut.b, in.b, len);
		cut.len = len;
		assert_int_equal(run(&cut, &out), XDP_PASS);
		assert_int_equal(out.len, len);
		assert_memory_equal(out.b, cut.b, len);

		if (len < HDRS)
			continue;
		((struct iphdr *)(cut.b + 14))->tot_len = htons(len - 14);
		((struct udphdr *)(cut.b + 34))->len = htons(len - 34);
		want = dhcp_parse(cut.b + HDRS, len - HDRS, req) == 0 &&
		       req->msgtype == DHCPDISCOVER &&
		       req->class != XB_CLASS_UNKNOWN;
		if (!want) {
			assert_int_equal(run(&cut, &out), XDP_PASS);
			assert_int_equal(out.len, len);
			continue;
		}
		assert_int_equal(run(&cut, &out), XDP_TX);
		check_reply(&cut, &out, &e);
		answered++;
		reset_leases();
	}
	free(req);
	/* after 53, 60, 93, 94 and 97 (END itself is the last byte) */
	assert_int_equal(answered, 5);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TX_OFFER), 5);
}

static void test_not_dhcp(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER };
	struct frame in, out;

	memcpy(s.mac, mac_a, 6);
	/* another UDP port */
	s.dport = 53;
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* unicast to someone else's server */
	s.dport = 0;
	s.ip_dst = "10.0.0.2";
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* 4011 outside proxy mode */
	s.ip_dst = NULL;
	s.dport = PXE_BOOT_SERVER_PORT;
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* VLAN-tagged */
	s.dport = 0;
	build_frame(&s, &in);
	((struct ethhdr *)in.b)->h_proto = htons(ETH_P_8021Q);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* a fragment */
	build_frame(&s, &in);
	((struct iphdr *)(in.b + 14))->frag_off = htons(0x2000);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* none of it was counted as DHCP but the fragment */
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_RX_DHCP), 1);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_MALFORMED), 1);
	/* a BOOTREPLY to port 67 */
	build_frame(&s, &in);
	in.b[HDRS] = BOOTP_REPLY;
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_MALFORMED), 2);
}

static void test_unconfigured_and_disabled(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER };
	struct frame in, out;

	__u32 key = IFINDEX;

	memcpy(s.mac, mac_a, 6);
	build_frame(&s, &in);
	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(skel->maps.xb_config),
					     &key), 0);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_RX_DHCP), 0);
	put_config(XB_MODE_FULL, 0);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_DISABLED), 1);
	assert_int_equal(queue_len(0), 16);
}

static void test_ip_options(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true };
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.100",
		.ip_dst = "255.255.255.255", .eth_dst = bcast_mac,
		.dport = 68, .class = XB_CLASS_PLAIN,
	};
	struct frame in, with, out;
	struct iphdr *ip;

	memcpy(s.mac, mac_a, 6);
	build_frame(&s, &in);
	/* insert 4 bytes of IP options (router alert) */
	memcpy(with.b, in.b, 34);
	memcpy(with.b + 34, "\x94\x04\x00\x00", 4);
	memcpy(with.b + 38, in.b + 34, in.len - 34);
	with.len = in.len + 4;
	ip = (struct iphdr *)(with.b + 14);
	ip->ihl = 6;
	ip->tot_len = htons(ntohs(ip->tot_len) + 4);
	assert_int_equal(run(&with, &out), XDP_TX);
	check_reply(&in, &out, &e);
}

/* The ring buffer full: the popped address goes back, the frame passes. */
static void test_ringbuf_full(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER };
	struct frame in, out;
	int i, verdict = XDP_TX, sent = 0;

	fill_queue(0, NQUEUED);
	for (i = 0; i < NQUEUED && verdict == XDP_TX; i++) {
		s.mac[0] = 0x52;
		s.mac[4] = (uint8_t)(i >> 8);
		s.mac[5] = (uint8_t)i;
		build_frame(&s, &in);
		verdict = run(&in, &out);
		sent += verdict == XDP_TX;
	}
	assert_int_equal(verdict, XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_RINGBUF), 1);
	assert_int_equal(out.len, in.len);
	assert_memory_equal(out.b, in.b, in.len);
	assert_int_equal(queue_len(0), NQUEUED - sent);
	assert_int_equal(events(), sent);
	assert_int_not_equal(get_lease(s.mac, &(struct xb_lease){ 0 }), 0);
	/* drained: answered again */
	assert_int_equal(run(&in, &out), XDP_TX);
	events();
}

/* The biggest replies: 1014 bytes with a full template and 255-byte
 * options 97 and 82 (checksummed in two chunks), and with a 63-byte host
 * name on top, over DHCP_REPLY_MAX_LEN: left to xbootd. */
static void test_biggest(void **state)
{
	static const char name[] = "a23456789-123456789-123456789-123456789-"
				   "123456789-123456789-123";
	uint8_t big[255];
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .opts = &o };
	struct expect e = {
		.msgtype = DHCPOFFER, .yiaddr = "10.0.0.100",
		.ip_dst = "10.0.0.100", .eth_dst = mac_a, .dport = 68,
		.class = XB_CLASS_BIOS,
	};
	struct xb_tmpl *t = &tmpl[XB_CLASS_BIOS];
	struct frame in, out;
	__u32 key = XB_CLASS_BIOS;

	memset(big, 0x41, sizeof(big));
	memcpy(s.mac, mac_a, 6);
	opts_pxe(&o, PXE_ARCH_BIOS);
	o.n -= 19; /* drop the 17-byte UUID for a 255-byte one */
	opt_add(&o, DHO_CLIENT_UUID, big, sizeof(big));
	opt_add(&o, DHO_RELAY_AGENT, big, sizeof(big));
	while (t->opts_len + 3 <= XB_TMPL_OPTS_MAX) {
		uint8_t n = (uint8_t)(XB_TMPL_OPTS_MAX - t->opts_len - 2);

		t->opts[t->opts_len] = 224;
		t->opts[t->opts_len + 1] = n > 40 ? 40 : n;
		memset(t->opts + t->opts_len + 2, 0x5a, n > 40 ? 40 : n);
		t->opts_len += 2 + (n > 40 ? 40 : n);
	}
	assert_int_equal(t->opts_len, XB_TMPL_OPTS_MAX);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.xb_tmpl),
					     &key, t, BPF_ANY), 0);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
	assert_int_equal(out.len - HDRS, 1016);

	reset_leases();
	put_resv(mac_a, NULL, 0, name);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_NO_ROOM), 1);
	assert_int_equal(queue_len(0), 16);
	e.hostname = name;
	assert_true(slow_reply(&in, &e,
			       (uint8_t[DHCP_REPLY_MAX_LEN]){ 0 }) < 0);
}

static void test_no_template(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER };
	struct xb_tmpl none = { 0 };
	struct frame in, out;
	__u32 key = XB_CLASS_PLAIN;

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.xb_tmpl),
					     &key, &none, BPF_ANY), 0);
	memcpy(s.mac, mac_a, 6);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_NO_TEMPLATE), 1);
}

/* --- tests: proxy mode -------------------------------------------------- */

static void test_proxy_offer(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .opts = &o,
			      .pad_to = 548 };
	struct expect e = {
		.msgtype = DHCPOFFER, .ip_dst = "255.255.255.255",
		.eth_dst = bcast_mac, .dport = 68, .class = XB_CLASS_EFI64,
	};
	struct frame in, out;
	const struct dhcp_msg *m = (const void *)(out.b + HDRS);

	memcpy(s.mac, mac_a, 6);
	opts_pxe(&o, PXE_ARCH_EFI_BC);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
	assert_int_equal(m->yiaddr, 0);
	assert_string_equal(m->file, "ipxe.efi");
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TX_PROXY_OFFER), 1);
	assert_int_equal(events(), 0);
	assert_int_not_equal(get_lease(mac_a, &(struct xb_lease){ 0 }), 0);
}

static void test_proxy_plain_pass(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER };
	struct frame in, out;

	memcpy(s.mac, mac_a, 6);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_PASS_CLASS), 1);
}

static void test_proxy_ack(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s = {
		.msgtype = DHCPREQUEST, .opts = &o, .ciaddr = "10.0.0.123",
		.ip_src = "10.0.0.123", .ip_dst = SERVER_IP, .sport = 68,
		.dport = PXE_BOOT_SERVER_PORT,
	};
	struct expect e = {
		.msgtype = DHCPACK, .ip_dst = "10.0.0.123", .eth_dst = mac_a,
		.sport = PXE_BOOT_SERVER_PORT, .dport = 68,
		.class = XB_CLASS_BIOS,
	};
	struct frame in, out;

	memcpy(s.mac, mac_a, 6);
	opts_pxe(&o, PXE_ARCH_BIOS);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_TX);
	check_reply(&in, &out, &e);
	assert_int_equal(xt_stat(skel->maps.xb_stats, XB_STAT_TX_PROXY_ACK), 1);
	/* a REQUEST on 67 is not the proxy's */
	s.dport = DHCP_SERVER_PORT;
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
	/* nor a menu pick (43.71), which xbootd answers itself */
	s.dport = PXE_BOOT_SERVER_PORT;
	opt_add(&o, DHO_VENDOR_OPTS, "\x47\x04\x80\x00\x00\x00\xff", 7);
	build_frame(&s, &in);
	assert_int_equal(run(&in, &out), XDP_PASS);
}

/* --- the real slow path: xdp_ctl + lease table + dhcp_server ---------- */

#define VETH "xbt0"

static struct {
	struct config cfg;
	struct lease_db *db;
	struct dhcp_server *srv;
	struct xdp_ctl *x;
	struct dhcp_server_iface iface;
	int prog_fd, leases_fd, resv_fd;
	bool netns; /* we have our own namespace with the veth */
} rs;

/* The state directory of the xbootd under test: it also names the pinned
 * lease map, so never the default one of a real xbootd. */
static char rs_state[] = "/tmp/xboot-test-xdp.XXXXXX";

static int map_fd_by_name(int prog_fd, const char *name)
{
	struct bpf_prog_info info = { 0 };
	__u32 ids[32], len = sizeof(info), i;

	info.nr_map_ids = 32;
	info.map_ids = (__u64)(unsigned long)ids;
	assert_int_equal(bpf_obj_get_info_by_fd(prog_fd, &info, &len), 0);
	for (i = 0; i < info.nr_map_ids && i < 32; i++) {
		struct bpf_map_info mi = { 0 };
		__u32 mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &mi, &mlen) &&
		    !strcmp(mi.name, name))
			return fd;
		close(fd);
	}
	fail_msg("no map %s", name);
	return -1;
}

static void rs_cfg_set(const char *k, const char *v)
{
	struct cfg_error err;

	if (config_set(&rs.cfg, k, v, "test", &err))
		fail_msg("config %s=%s: %s", k, v, err.msg);
}

static int rs_setup(enum xb_mode mode)
{
	__u32 id = 0;

	config_init(&rs.cfg);
	rs_cfg_set("state-dir", rs_state);
	if (mode == XB_MODE_PROXY) {
		rs_cfg_set("mode", "proxy");
	} else {
		rs_cfg_set("dhcp-range", "10.0.0.100,10.0.0.107,255.255.255.0");
		rs_cfg_set("dhcp-range",
			   "10.1.0.100,10.1.0.199,255.255.255.0,2h");
		rs.cfg.ranges[0].router.s_addr = inet_addr("10.0.0.1");
		rs.cfg.ranges[1].router.s_addr = inet_addr("10.1.0.1");
		rs_cfg_set("dns", "10.0.0.53");
		rs_cfg_set("domain", "lab.example");
	}
	rs_cfg_set("boot-file", "bios,undionly.kpxe");
	rs_cfg_set("boot-file", "efi64,ipxe.efi");
	rs_cfg_set("boot-file", "arm64,ipxe-arm64.efi");
	rs_cfg_set("boot-file", "http,http://10.0.0.1:8080/boot/ipxe.efi");
	rs_cfg_set("boot-file", "ipxe,http://10.0.0.1:8080/boot.ipxe");
	rs_cfg_set("host", "52:54:00:00:00:0c,10.0.0.50,node-c");
	rs_cfg_set("host", "52:54:00:00:00:0d,,named-d");
	rs_cfg_set("xdp", "native");

	rs.iface.ifindex = (int)if_nametoindex(VETH);
	rs.iface.addr.s_addr = inet_addr(SERVER_IP);
	rs.iface.mask.s_addr = inet_addr("255.255.255.0");
	memcpy(rs.iface.mac, server_mac, 6);
	assert_int_not_equal(rs.iface.ifindex, 0);

	assert_int_equal(lease_db_create(&rs.db, &rs.cfg, NULL), 0);
	assert_int_equal(dhcp_server_create(&rs.srv, &rs.cfg, &rs.iface,
					    rs.db), 0);
	assert_int_equal(xdp_ctl_open(&rs.x, &rs.cfg), 0);
	assert_int_equal(xdp_ctl_attach(rs.x, VETH, &rs.iface), 0);
	assert_int_equal(xdp_ctl_sync(rs.x, rs.srv, rs.db), 0);

	assert_int_equal(bpf_xdp_query_id(rs.iface.ifindex, XDP_FLAGS_DRV_MODE,
					  &id), 0);
	assert_int_not_equal(id, 0);
	rs.prog_fd = bpf_prog_get_fd_by_id(id);
	assert_true(rs.prog_fd >= 0);
	rs.leases_fd = map_fd_by_name(rs.prog_fd, "xb_leases");
	rs.resv_fd = map_fd_by_name(rs.prog_fd, "xb_resv");
	return 0;
}

static int rs_setup_full(void **state)
{
	return rs_setup(XB_MODE_FULL);
}

static int rs_setup_proxy(void **state)
{
	return rs_setup(XB_MODE_PROXY);
}

static int rs_teardown(void **state)
{
	struct lease_counts c;
	__u32 id = 0;

	if (!rs.x)
		return 0;
	xdp_ctl_close(rs.x);
	rs.x = NULL;
	/* detached, and every lent address is back */
	assert_int_equal(bpf_xdp_query_id(rs.iface.ifindex, XDP_FLAGS_DRV_MODE,
					  &id), 0);
	assert_int_equal(id, 0);
	lease_count(rs.db, -1, &c);
	assert_int_equal(c.queued, 0);
	close(rs.prog_fd);
	close(rs.leases_fd);
	close(rs.resv_fd);
	dhcp_server_destroy(rs.srv);
	lease_db_destroy(rs.db);
	config_free(&rs.cfg);
	memset(&rs, 0, sizeof(rs) - sizeof(rs.netns));
	rs.netns = true;
	return 0;
}

static int rs_run(const struct frame *in, struct frame *out)
{
	struct xdp_md ctx = {
		.data_end = (__u32)in->len,
		.ingress_ifindex = (__u32)rs.iface.ifindex,
	};
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = in->b,
		    .data_size_in = (__u32)in->len, .data_out = out->b,
		    .data_size_out = sizeof(out->b), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(rs.prog_fd, &topts), 0);
	out->len = topts.data_size_out;
	return (int)topts.retval;
}

/* The same request through the slow path. */
static int rs_slow(const struct frame *in, struct dhcp_tx *tx)
{
	const struct iphdr *ip = (const void *)(in->b + sizeof(struct ethhdr));
	const struct udphdr *udp = (const void *)(ip + 1);
	struct dhcp_rx rx = {
		.buf = in->b + HDRS,
		.len = in->len - HDRS,
		.ifindex = rs.iface.ifindex,
		.src.s_addr = ip->saddr,
		.sport = ntohs(udp->source),
		.dport = ntohs(udp->dest),
		.local.s_addr = ip->daddr,
	};

	return dhcp_server_handle(rs.srv, &rx, tx);
}

/* XDP answers, the lease table learns of it, then the slow path answers
 * the same request: same bytes, same destination. Returns yiaddr. */
static in_addr_t rs_both(const struct frame *in)
{
	static struct dhcp_tx tx;
	struct frame out;
	const struct ethhdr *eth = (const void *)out.b;
	const struct iphdr *ip = (const void *)(eth + 1);
	const struct udphdr *udp = (const void *)(ip + 1);

	assert_int_equal(rs_run(in, &out), XDP_TX);
	check_csums(&out);
	assert_true(xdp_ctl_poll_events(rs.x) >= 0);
	assert_int_equal(rs_slow(in, &tx), 1);
	assert_int_equal(out.len - HDRS, tx.len);
	assert_memory_equal(out.b + HDRS, tx.buf, tx.len);
	assert_int_equal(ip->daddr, tx.dst.s_addr);
	assert_int_equal(ntohs(udp->dest), tx.dport);
	assert_int_equal(ntohs(udp->source), tx.sport);
	assert_int_equal(ip->saddr, inet_addr(SERVER_IP));
	assert_memory_equal(eth->h_source, server_mac, 6);
	if (tx.via == DHCP_TX_L2)
		assert_memory_equal(eth->h_dest, tx.dst_mac, 6);
	else /* to the sender: a relay, or the client itself */
		assert_memory_equal(eth->h_dest, in->b + ETH_ALEN, 6);
	return ((const struct dhcp_msg *)tx.buf)->yiaddr;
}

static const struct lease *rs_lease(const uint8_t *mac)
{
	return lease_find_mac(rs.db, mac);
}

static void rs_dora(const uint8_t mac[6], const struct opts *extra,
		    const char *giaddr, in_addr_t want_ip)
{
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true,
			      .opts = &o, .giaddr = giaddr, .pad_to = 548 };
	char ip[INET_ADDRSTRLEN];
	struct frame in;
	in_addr_t yi;

	memcpy(s.mac, mac, 6);
	if (extra)
		o = *extra;
	build_frame(&s, &in);
	yi = rs_both(&in);
	if (want_ip)
		assert_int_equal(yi, want_ip);
	assert_non_null(rs_lease(mac));
	assert_int_equal(rs_lease(mac)->state, LEASE_OFFERED);

	inet_ntop(AF_INET, &yi, ip, sizeof(ip));
	s.msgtype = DHCPREQUEST;
	opt_ip(&o, DHO_REQUESTED_IP, ip);
	opt_ip(&o, DHO_SERVER_ID, SERVER_IP);
	build_frame(&s, &in);
	assert_int_equal(rs_both(&in), yi);
	assert_int_equal(rs_lease(mac)->state, LEASE_BOUND);
	assert_int_equal(rs_lease(mac)->ip.s_addr, yi);
}

static void test_rs_sync(void **state)
{
	struct lease_counts c;
	uint64_t st[XB_STAT_MAX];

	assert_string_equal(xdp_ctl_mode(rs.x, rs.iface.ifindex), "native");
	assert_string_equal(xdp_ctl_mode(rs.x, 9999), "off");
	lease_count(rs.db, 0, &c);
	assert_int_equal(c.queued, 8);
	assert_int_equal(c.free, 0);
	lease_count(rs.db, 1, &c);
	assert_int_equal(c.queued, 100);
	assert_int_equal(xdp_ctl_stats(rs.x, st), 0);
	assert_int_equal(st[XB_STAT_RX_DHCP], 0);
	assert_true(xdp_ctl_event_fd(rs.x) >= 0);
}

/* Every boot class, offer and ack, both paths. */
static void test_rs_classes(void **state)
{
	static const struct {
		uint16_t arch;
		const char *vc;
		bool ipxe;
	} cl[] = {
		{ PXE_ARCH_BIOS, NULL, false },
		{ PXE_ARCH_EFI_BC, NULL, false },
		{ PXE_ARCH_EFI_X64, NULL, false },
		{ PXE_ARCH_EFI_ARM64, NULL, false },
		{ PXE_ARCH_EFI_X64_HTTP, "HTTPClient:Arch:00016:UNDI:003001", false },
		{ PXE_ARCH_EFI_BC, NULL, true },
		{ 0xffff, "", false }, /* plain DHCP client */
	};
	uint64_t st[XB_STAT_MAX];
	size_t i;

	for (i = 0; i < sizeof(cl) / sizeof(cl[0]); i++) {
		uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x01, 0x00, (uint8_t)i };
		struct opts o = { .n = 0 };

		if (cl[i].arch != 0xffff)
			opts_pxe(&o, cl[i].arch);
		if (cl[i].vc) {
			o.n = 0;
			if (cl[i].vc[0])
				opt_str(&o, DHO_VENDOR_CLASS, cl[i].vc);
			if (cl[i].arch != 0xffff)
				opt_arch(&o, cl[i].arch);
		}
		if (cl[i].ipxe)
			opt_str(&o, DHO_USER_CLASS, "iPXE");
		rs_dora(mac, &o, NULL, 0);
	}
	assert_int_equal(xdp_ctl_stats(rs.x, st), 0);
	assert_int_equal(st[XB_STAT_TX_OFFER], i);
	assert_int_equal(st[XB_STAT_TX_ACK], i);
}

static void test_rs_reservations(void **state)
{
	static const uint8_t c[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0c };
	static const uint8_t d[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0d };
	struct opts o = { .n = 0 };
	struct lease_counts n;

	opts_pxe(&o, PXE_ARCH_EFI_X64);
	rs_dora(c, &o, NULL, inet_addr("10.0.0.50"));
	assert_string_equal(rs_lease(c)->hostname, "node-c");
	rs_dora(d, &o, NULL, 0);
	lease_count(rs.db, 0, &n);
	assert_int_equal(n.queued, 7); /* only the name-only host took one */
}

static void test_rs_relayed(void **state)
{
	static const uint8_t agent[] = { 1, 4, 'p', 'o', 'r', 't', 2, 2, 0xca,
					 0xfe };
	uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x02, 0x00, 0x01 };
	struct opts o = { .n = 0 };

	opts_pxe(&o, PXE_ARCH_BIOS);
	opt_add(&o, DHO_RELAY_AGENT, agent, sizeof(agent));
	rs_dora(mac, &o, "10.1.0.1", 0);
	assert_int_equal(rs_lease(mac)->subnet, 1);
}

/* Renewing: unicast from the client's address, ciaddr set, no 50/54. */
static void test_rs_renew(void **state)
{
	uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x03, 0x00, 0x01 };
	struct req_spec s = { .msgtype = DHCPREQUEST, .ip_dst = SERVER_IP };
	char ip[INET_ADDRSTRLEN];
	struct frame in;

	rs_dora(mac, NULL, NULL, 0);
	inet_ntop(AF_INET, &rs_lease(mac)->ip, ip, sizeof(ip));
	memcpy(s.mac, mac, 6);
	s.ciaddr = ip;
	s.ip_src = ip;
	build_frame(&s, &in);
	rs_both(&in);
}

/* A lease the slow path makes is mirrored, so XDP ACKs its REQUEST; a
 * release removes it again. */
static void test_rs_hooks(void **state)
{
	uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x04, 0x00, 0x01 };
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true,
			      .opts = &o };
	static struct dhcp_tx tx;
	struct xb_mac_key k = { 0 };
	struct xb_lease l;
	char ip[INET_ADDRSTRLEN];
	struct lease_counts c;
	struct frame in;

	/* An architecture XDP leaves alone; all pool addresses are lent, so
	 * the slow path takes one back from the queue. */
	memcpy(s.mac, mac, 6);
	opts_pxe(&o, 2);
	build_frame(&s, &in);
	assert_int_equal(rs_run(&in, &(struct frame){ .len = 0 }), XDP_PASS);
	assert_int_equal(rs_slow(&in, &tx), 1);
	lease_count(rs.db, 0, &c);
	assert_int_equal(c.queued, 7);
	assert_int_equal(c.offered, 1);

	memcpy(k.mac, mac, 6);
	assert_int_equal(bpf_map_lookup_elem(rs.leases_fd, &k, &l), 0);
	assert_int_equal(l.state, XB_LEASE_OFFERED);
	assert_int_equal(l.ip, rs_lease(mac)->ip.s_addr);

	/* a plain client of that MAC now: XDP ACKs the slow path's offer */
	o.n = 0;
	inet_ntop(AF_INET, &l.ip, ip, sizeof(ip));
	s.msgtype = DHCPREQUEST;
	opt_ip(&o, DHO_REQUESTED_IP, ip);
	opt_ip(&o, DHO_SERVER_ID, SERVER_IP);
	build_frame(&s, &in);
	assert_int_equal(rs_both(&in), l.ip);

	/* released through the slow path: gone from XDP, then lent again */
	o.n = 0;
	opt_ip(&o, DHO_SERVER_ID, SERVER_IP);
	s.msgtype = DHCPRELEASE;
	s.broadcast = false;
	s.ciaddr = ip;
	build_frame(&s, &in);
	assert_int_equal(rs_run(&in, &(struct frame){ .len = 0 }), XDP_PASS);
	assert_int_equal(rs_slow(&in, &tx), 0);
	assert_int_not_equal(bpf_map_lookup_elem(rs.leases_fd, &k, &l), 0);
	xdp_ctl_tick(rs.x, time(NULL));
	lease_count(rs.db, 0, &c);
	assert_int_equal(c.queued, 8);
}

/* XDP pops what is queued; once the pool is all leased, DISCOVERs pass
 * and the slow path has nothing either. */
static void test_rs_exhaust(void **state)
{
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true };
	struct frame in, out;
	struct lease_counts c;
	static struct dhcp_tx tx;
	int i;

	for (i = 0; i < 8; i++) {
		uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x05, 0x00, (uint8_t)i };

		rs_dora(mac, NULL, NULL, 0);
	}
	lease_count(rs.db, 0, &c);
	assert_int_equal(c.bound, 8);
	assert_int_equal(c.queued, 0);
	s.mac[0] = 0x52;
	s.mac[5] = 0x99;
	build_frame(&s, &in);
	assert_int_equal(rs_run(&in, &out), XDP_PASS);
	assert_int_equal(rs_slow(&in, &tx), 0);
}

static void test_rs_proxy(void **state)
{
	static const uint8_t c[6] = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x0c };
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .opts = &o,
			      .pad_to = 548 };
	struct frame in;
	uint64_t st[XB_STAT_MAX];

	/* a reserved host: its name is in the proxy offer */
	memcpy(s.mac, c, 6);
	opts_pxe(&o, PXE_ARCH_BIOS);
	build_frame(&s, &in);
	assert_int_equal(rs_both(&in), 0);
	s.mac[5] = 0x42;
	build_frame(&s, &in);
	assert_int_equal(rs_both(&in), 0);
	/* the boot server step on 4011 */
	s.msgtype = DHCPREQUEST;
	s.ciaddr = "10.0.0.123";
	s.ip_src = "10.0.0.123";
	s.ip_dst = SERVER_IP;
	s.dport = PXE_BOOT_SERVER_PORT;
	build_frame(&s, &in);
	rs_both(&in);
	memcpy(s.mac, c, 6);
	build_frame(&s, &in);
	rs_both(&in);
	assert_int_equal(xdp_ctl_stats(rs.x, st), 0);
	assert_int_equal(st[XB_STAT_TX_PROXY_OFFER], 2);
	assert_int_equal(st[XB_STAT_TX_PROXY_ACK], 2);
}

/* --- on the wire: frames through the veth, not BPF_PROG_TEST_RUN ------ */

struct wire {
	int peer;  /* ifindex of the veth's other end */
	int sock;  /* AF_PACKET on it */
	int pass_fd;
};

static const struct bpf_insn xdp_pass_insns[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0,
	  .imm = XDP_PASS },
	{ .code = BPF_JMP | BPF_EXIT },
};

/* The peer gets an XDP_PASS program: a native XDP_TX on a veth only
 * reaches a peer that runs NAPI. */
static void wire_open(struct wire *w)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	char name[IF_NAMESIZE], cmd[64];
	/* "3: xbt0@xbt1: <...": the peer's name (sysfs is the host's) */
	FILE *f = popen("ip -o link show dev " VETH, "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%*d: " VETH "@%15[^:]", name), 1);
	pclose(f);
	w->peer = (int)if_nametoindex(name);
	assert_int_not_equal(w->peer, 0);
	snprintf(cmd, sizeof(cmd), "ip link set dev %s up", name);
	assert_int_equal(system(cmd), 0);
	w->pass_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "peer_pass", "GPL",
				   xdp_pass_insns, 2, NULL);
	assert_true(w->pass_fd >= 0);
	assert_int_equal(bpf_xdp_attach(w->peer, w->pass_fd,
					XDP_FLAGS_DRV_MODE, NULL), 0);
	w->sock = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
	assert_true(w->sock >= 0);
	sll.sll_ifindex = w->peer;
	assert_int_equal(bind(w->sock, (struct sockaddr *)&sll, sizeof(sll)),
			 0);
}

static void wire_close(struct wire *w)
{
	bpf_xdp_detach(w->peer, XDP_FLAGS_DRV_MODE, NULL);
	close(w->pass_fd);
	close(w->sock);
}

/* Send a request from the peer; wait up to a second for a UDP reply from
 * port 67 or 4011. Returns 1 with *out, or 0. */
static int wire_exchange(struct wire *w, const struct frame *in,
			 struct frame *out)
{
	struct pollfd pfd = { .fd = w->sock, .events = POLLIN };
	struct sockaddr_ll from;
	socklen_t flen;
	ssize_t n;

	assert_int_equal(send(w->sock, in->b, in->len, 0), (ssize_t)in->len);
	while (poll(&pfd, 1, 1000) > 0) {
		const struct udphdr *udp = (const void *)(out->b + 34);

		flen = sizeof(from);
		n = recvfrom(w->sock, out->b, sizeof(out->b), 0,
			     (struct sockaddr *)&from, &flen);
		if (n < (ssize_t)HDRS || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		out->len = (size_t)n;
		if (out->b[23] == IPPROTO_UDP &&
		    (ntohs(udp->source) == DHCP_SERVER_PORT ||
		     ntohs(udp->source) == PXE_BOOT_SERVER_PORT))
			return 1;
	}
	return 0;
}

/* Real frames over the veth: XDP_TX in native mode delivers the OFFER and
 * ACK for requests without padding and with BOOTP's 300 bytes (the frame
 * must grow, where the driver may leave no tailroom) and PXE's 548 (it
 * shrinks). */
static void test_rs_wire(void **state)
{
	struct opts o = { .n = 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true,
			      .opts = &o };
	struct frame in, out;
	uint64_t st[XB_STAT_MAX];
	struct wire w;
	size_t pad;

	wire_open(&w);
	for (pad = 1; pad <= 548; pad = pad == 1 ? 300 : pad + 248) {
		const struct dhcp_msg *m = (const void *)(out.b + HDRS);
		char ip[INET_ADDRSTRLEN];

		memset(s.mac, 0, 6);
		s.mac[0] = 0x52;
		s.mac[5] = (uint8_t)pad;
		s.msgtype = DHCPDISCOVER;
		s.pad_to = pad;
		o.n = 0;
		if (pad > 1) /* else a bare 244-byte DISCOVER, as perfdhcp's */
			opts_pxe(&o, PXE_ARCH_BIOS);
		build_frame(&s, &in);
		assert_int_equal(wire_exchange(&w, &in, &out), 1);
		check_csums(&out);
		assert_int_equal(m->op, BOOTP_REPLY);
		assert_int_equal(out.b[HDRS + DHCP_FIXED_LEN + 2], DHCPOFFER);

		inet_ntop(AF_INET, &m->yiaddr, ip, sizeof(ip));
		s.msgtype = DHCPREQUEST;
		opt_ip(&o, DHO_REQUESTED_IP, ip);
		opt_ip(&o, DHO_SERVER_ID, SERVER_IP);
		build_frame(&s, &in);
		assert_int_equal(wire_exchange(&w, &in, &out), 1);
		check_csums(&out);
		assert_int_equal(out.b[HDRS + DHCP_FIXED_LEN + 2], DHCPACK);
	}
	assert_int_equal(xdp_ctl_stats(rs.x, st), 0);
	assert_int_equal(st[XB_STAT_PASS_NO_ROOM], 0);
	assert_int_equal(st[XB_STAT_TX_OFFER], 3);
	assert_int_equal(st[XB_STAT_TX_ACK], 3);
	assert_int_equal(xdp_ctl_poll_events(rs.x), 6);
	wire_close(&w);
}

/* xdp=generic and xdp=auto attach as asked; someone else's program is
 * left alone. */
static void test_rs_attach_modes(void **state)
{
	static const struct bpf_insn pass[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0,
		  .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct dhcp_server_iface iface = { 0 };
	struct xdp_ctl *x;
	struct config c;
	__u32 id = 0;
	int fd, ifindex = (int)if_nametoindex(VETH);

	config_init(&c);
	iface.ifindex = ifindex;
	iface.addr.s_addr = inet_addr(SERVER_IP);

	c.xdp = CFG_XDP_GENERIC;
	assert_int_equal(xdp_ctl_open(&x, &c), 0);
	assert_int_equal(xdp_ctl_attach(x, VETH, &iface), 0);
	assert_string_equal(xdp_ctl_mode(x, ifindex), "generic");
	assert_int_equal(bpf_xdp_query_id(ifindex, XDP_FLAGS_SKB_MODE, &id), 0);
	assert_int_not_equal(id, 0);
	xdp_ctl_close(x);
	assert_int_equal(bpf_xdp_query_id(ifindex, XDP_FLAGS_SKB_MODE, &id), 0);
	assert_int_equal(id, 0);

	c.xdp = CFG_XDP_AUTO;
	assert_int_equal(xdp_ctl_open(&x, &c), 0);
	assert_int_equal(xdp_ctl_attach(x, VETH, &iface), 0);
	assert_string_equal(xdp_ctl_mode(x, ifindex), "native");
	xdp_ctl_close(x);

	/* a second xbootd on the same interface is refused */
	assert_int_equal(xdp_ctl_open(&x, &c), 0);
	assert_int_equal(xdp_ctl_attach(x, VETH, &iface), 0);
	{
		struct xdp_ctl *x2;

		assert_int_equal(xdp_ctl_open(&x2, &c), 0);
		assert_int_equal(xdp_ctl_attach(x2, VETH, &iface), -EBUSY);
		xdp_ctl_close(x2);
	}
	assert_int_equal(bpf_xdp_query_id(ifindex, XDP_FLAGS_DRV_MODE, &id), 0);
	assert_int_not_equal(id, 0);
	xdp_ctl_close(x);

	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "other", "GPL", pass, 2, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL),
			 0);
	assert_int_equal(xdp_ctl_open(&x, &c), 0);
	assert_int_equal(xdp_ctl_attach(x, VETH, &iface), -EBUSY);
	xdp_ctl_close(x);
	assert_int_equal(bpf_xdp_query_id(ifindex, XDP_FLAGS_DRV_MODE, &id), 0);
	assert_int_not_equal(id, 0);
	assert_int_equal(bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL), 0);
	close(fd);
	config_free(&c);
}

static int run_fd(int prog_fd, int ifindex, const struct frame *in,
		  struct frame *out)
{
	struct xdp_md ctx = { .data_end = (__u32)in->len,
			      .ingress_ifindex = (__u32)ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = in->b,
		    .data_size_in = (__u32)in->len, .data_out = out->b,
		    .data_size_out = sizeof(out->b), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &topts))
		return -1;
	out->len = topts.data_size_out;
	return (int)topts.retval;
}

/* The child of test_rs_killed: an xbootd whose XDP grants a lease, then
 * dies by kill -9 before it hears of it. No cmocka in here. */
static void crash_child(const uint8_t mac[6])
{
	struct dhcp_server_iface iface = { 0 };
	struct req_spec s = { .msgtype = DHCPDISCOVER, .broadcast = true };
	struct opts o = { .n = 0 };
	struct cfg_error err;
	struct dhcp_server *srv;
	struct lease_db *db;
	struct frame in, out;
	struct xdp_ctl *x;
	struct config c;
	__u32 id = 0;
	int fd;

	config_init(&c);
	if (config_set(&c, "dhcp-range", "10.0.0.100,10.0.0.107,255.255.255.0",
		       "test", &err) ||
	    config_set(&c, "state-dir", rs_state, "test", &err))
		_exit(10);
	iface.ifindex = (int)if_nametoindex(VETH);
	iface.addr.s_addr = inet_addr(SERVER_IP);
	iface.mask.s_addr = inet_addr("255.255.255.0");
	memcpy(iface.mac, server_mac, 6);
	if (lease_db_create(&db, &c, NULL) ||
	    dhcp_server_create(&srv, &c, &iface, db) ||
	    xdp_ctl_open(&x, &c) || xdp_ctl_attach(x, VETH, &iface) ||
	    xdp_ctl_sync(x, srv, db))
		_exit(11);
	if (bpf_xdp_query_id(iface.ifindex, 0, &id) || !id)
		_exit(12);
	fd = bpf_prog_get_fd_by_id(id);
	memcpy(s.mac, mac, 6);
	s.opts = &o;
	build_frame(&s, &in);
	if (run_fd(fd, iface.ifindex, &in, &out) != XDP_TX)
		_exit(13);
	s.msgtype = DHCPREQUEST;
	opt_ip(&o, DHO_REQUESTED_IP, "10.0.0.100");
	opt_ip(&o, DHO_SERVER_ID, SERVER_IP);
	build_frame(&s, &in);
	if (run_fd(fd, iface.ifindex, &in, &out) != XDP_TX)
		_exit(14);
	raise(SIGKILL); /* the events are never read */
	_exit(15);
}

/* kill -9 right after XDP granted a lease: the kernel detaches the program
 * with the process (no orphan goes on granting addresses nobody records),
 * and the next start takes the lease from the pinned map. */
static void test_rs_killed(void **state)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x09, 0x00, 0x01 };
	int ifindex = (int)if_nametoindex(VETH), status, i;
	struct statfs fs;
	const struct lease *l;
	__u32 id = 0;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		crash_child(mac);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("the child stopped early (exit %d)", WEXITSTATUS(status));
	for (i = 0; i < 100; i++) {
		assert_int_equal(bpf_xdp_query_id(ifindex, 0, &id), 0);
		if (!id)
			break;
		usleep(10000);
	}
	assert_int_equal(id, 0);

	if (statfs("/sys/fs/bpf", &fs) || fs.f_type != BPF_FS_MAGIC) {
		printf("note: no bpffs: crash recovery not tested\n");
		return;
	}
	rs_setup(XB_MODE_FULL);
	l = lease_find_mac(rs.db, mac);
	assert_non_null(l);
	assert_int_equal(l->state, LEASE_BOUND);
	assert_int_equal(l->ip.s_addr, inet_addr("10.0.0.100"));
	assert_true(l->expires > time(NULL) + 3000);
	rs_teardown(NULL);
	/* a clean stop leaves nothing to recover */
	rs_setup(XB_MODE_FULL);
	assert_null(lease_find_mac(rs.db, mac));
	rs_teardown(NULL);
}

/* Our own network namespace, with a veth pair to attach to. */
static bool make_netns(void)
{
	if (unshare(CLONE_NEWNET)) {
		printf("note: no network namespace (%s): skipping the xdp_ctl tests\n",
		       strerror(errno));
		return false;
	}
	/* The peer's name does not matter (and is not always honoured). */
	if (system("ip link set lo up && "
		   "ip link add " VETH " type veth peer name xbt1 && "
		   "ip link set " VETH " up")) {
		printf("note: cannot make a veth pair: skipping the xdp_ctl tests\n");
		return false;
	}
	return true;
}

/* --- main --------------------------------------------------------------- */

static int load(void)
{
	int outer, i, err;
	__u32 key;

	skel = xboot_xdp__open_and_load();
	if (!skel)
		return -errno;
	outer = bpf_map__fd(skel->maps.xb_free);
	for (i = 0; i < 2; i++) {
		queue_fd[i] = bpf_map_create(BPF_MAP_TYPE_QUEUE, "test_free", 0,
					     sizeof(__u32), XB_FREE_QUEUE_LEN,
					     NULL);
		if (queue_fd[i] < 0)
			return -errno;
		key = (__u32)i;
		err = bpf_map_update_elem(outer, &key, &queue_fd[i], BPF_ANY);
		if (err)
			return err;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.xb_events), on_event, NULL,
			      NULL);
	return rb ? 0 : -errno;
}

static void make_config(void)
{
	config_init(&cfg);
	cfg_set("boot-file", "bios,undionly.kpxe");
	cfg_set("boot-file", "efi64,ipxe.efi");
	cfg_set("boot-file", "arm64,ipxe-arm64.efi");
	cfg_set("boot-file", "http,http://10.0.0.1:8080/boot/ipxe.efi");
	cfg_set("boot-file", "ipxe,http://10.0.0.1:8080/boot.ipxe");
	cfg_set("dns", "10.0.0.53");
	cfg_set("domain", "lab.example");
}

#define T(fn) cmocka_unit_test_setup(fn, setup_full)
#define P(fn) cmocka_unit_test_setup(fn, setup_proxy)
#define RS(fn) cmocka_unit_test_setup_teardown(fn, rs_setup_full, rs_teardown)
#define RSP(fn) \
	cmocka_unit_test_setup_teardown(fn, rs_setup_proxy, rs_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_bios),
		T(test_efi64),
		T(test_efi64_arch9),
		T(test_arm64),
		T(test_http),
		T(test_ipxe),
		T(test_ipxe_rfc3004),
		T(test_ipxe_encap),
		T(test_plain),
		T(test_no_arch_is_bios),
		T(test_unknown_arch),
		T(test_relayed),
		T(test_relayed_unknown_subnet),
		T(test_unicast_offer),
		T(test_request_ack),
		T(test_rediscover_same_address),
		T(test_request_wrong_address),
		T(test_request_other_server),
		T(test_request_no_lease),
		T(test_renew_unicast),
		T(test_reservation),
		T(test_reservation_name_only),
		T(test_reservation_other_subnet),
		T(test_queue_empty),
		T(test_msgtypes_pass),
		T(test_overload),
		T(test_bad_option_lengths),
		T(test_no_end_option),
		T(test_truncated),
		T(test_not_dhcp),
		T(test_unconfigured_and_disabled),
		T(test_ip_options),
		T(test_ringbuf_full),
		T(test_biggest),
		T(test_no_template),
		P(test_proxy_offer),
		P(test_proxy_plain_pass),
		P(test_proxy_ack),
	};
	const struct CMUnitTest slow_path_tests[] = {
		RS(test_rs_sync),
		RS(test_rs_classes),
		RS(test_rs_reservations),
		RS(test_rs_relayed),
		RS(test_rs_renew),
		RS(test_rs_hooks),
		RS(test_rs_exhaust),
		RSP(test_rs_proxy),
		RS(test_rs_wire),
		cmocka_unit_test(test_rs_attach_modes),
		cmocka_unit_test(test_rs_killed),
	};
	int err, ret;

	if (geteuid() != 0) {
		printf("SKIP: BPF program tests need root\n");
		return 77;
	}
	rs.netns = make_netns() && mkdtemp(rs_state);
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL) != 1) {
		printf("SKIP: this kernel cannot load XDP programs\n");
		return 77;
	}
	log_level = getenv("XBOOT_TEST_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_WARN;
	/* From here on the program must load: a verifier rejection fails. */
	err = load();
	if (err) {
		printf("FAIL: cannot load the XDP program: %s\n",
		       strerror(-err));
		return 1;
	}
	make_config();
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	if (rs.netns)
		ret |= cmocka_run_group_tests(slow_path_tests, NULL, NULL);
	config_free(&cfg);
	ring_buffer__free(rb);
	xboot_xdp__destroy(skel);
	if (rs.netns)
		rmdir(rs_state);
	return ret;
}
