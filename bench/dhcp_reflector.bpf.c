// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The DHCP benchmark's yardstick: the cheapest possible "server", to measure
 * how many DORA exchanges per second the load generator (perfdhcp) itself
 * can drive through these namespaces. It holds no state and makes no
 * decision: a DHCPDISCOVER is turned, in place, into a minimal valid
 * DHCPOFFER and a DHCPREQUEST into a DHCPACK, and bounced with XDP_TX.
 *
 * Only what perfdhcp checks is made right: op, message type, server id,
 * yiaddr (unique per client: 10.<chaddr[3..5]>), and the addresses and
 * ports of a reply to a relay (perfdhcp talks like one: giaddr set, source
 * port 67). Option 55 of the DISCOVER is overwritten by option 54 (+ filler),
 * so the frame never changes size. Anything else passes.
 *
 * Built by bench/dhcp.sh with clang -target bpf -DSERVER_IP=0x0a4d0001
 * -DSERVER_MAC=0x02,0x11,... (the veth's address).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xboot/dhcp.h"

#ifndef SERVER_IP
#define SERVER_IP 0x0a4d0001 /* 10.77.0.1 */
#endif
#ifndef SERVER_MAC /* the interface's MAC, as 6 bytes */
#define SERVER_MAC 0x02, 0x00, 0x00, 0x00, 0x00, 0x01
#endif

static __always_inline __u16 ip_csum(struct iphdr *ip)
{
	__u16 *w = (__u16 *)ip;
	__u32 sum = 0;
	int i;

	ip->check = 0;
#pragma unroll
	for (i = 0; i < (int)sizeof(*ip) / 2; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* perfdhcp's layout: option 53 first, and in a DISCOVER option 55 next.
 * A yardstick need not parse anything else (a frame that differs passes,
 * and shows up as a drop). Returns the reply's message type, or 0. */
static __always_inline int rewrite_opts(__u8 *opt, void *end)
{
	__u32 sid = bpf_htonl(SERVER_IP);
	__u8 len;

	if ((void *)(opt + 5) > end || opt[0] != DHO_MSG_TYPE || opt[1] != 1)
		return 0;
	if (opt[2] == DHCPREQUEST) {
		opt[2] = DHCPACK;
		return DHCPACK;
	}
	if (opt[2] != DHCPDISCOVER || opt[3] != DHO_PARAM_LIST)
		return 0;
	len = opt[4];
	if (len < 4 || (void *)(opt + 5 + len) > end || (void *)(opt + 11) > end)
		return 0;
	opt[2] = DHCPOFFER;
	opt += 3;
	opt[0] = DHO_SERVER_ID;
	opt[1] = 4;
	__builtin_memcpy(opt + 2, &sid, 4);
	/* The rest of the old option: one PAD, or an option of the
	 * site-specific range (224) that nobody reads. */
	if (len == 5) {
		opt[6] = DHO_PAD;
	} else if (len > 5) {
		opt[6] = 224;
		opt[7] = len - 6;
	}
	return DHCPOFFER;
}

SEC("xdp")
int dhcp_reflect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct dhcp_msg *m = (void *)(udp + 1);
	static const __u8 our_mac[ETH_ALEN] = { SERVER_MAC };

	if ((void *)(m + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
	    udp->dest != bpf_htons(DHCP_SERVER_PORT))
		return XDP_PASS;
	if (m->op != BOOTP_REQUEST || m->magic != bpf_htonl(DHCP_MAGIC) ||
	    !m->giaddr)
		return XDP_PASS;
	if (!rewrite_opts(m->options, end))
		return XDP_PASS;

	m->op = BOOTP_REPLY;
	m->yiaddr = bpf_htonl(0x0a000000 | m->chaddr[3] << 16 |
			      m->chaddr[4] << 8 | m->chaddr[5]);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, our_mac, ETH_ALEN);
	ip->daddr = m->giaddr;
	ip->saddr = bpf_htonl(SERVER_IP);
	ip->ttl = 64;
	ip->check = ip_csum(ip);
	udp->source = bpf_htons(DHCP_SERVER_PORT);
	udp->dest = bpf_htons(DHCP_SERVER_PORT);
	udp->check = 0;
	return XDP_TX;
}

char _license[] SEC("license") = "Dual MIT/GPL";
