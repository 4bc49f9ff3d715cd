// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * xboot's DHCP fast path. Answers the common PXE/DHCP exchanges in the
 * receive path with XDP_TX: DISCOVER -> OFFER and REQUEST -> ACK for
 * clients with a reservation or a pool address (full mode), and the
 * ProxyDHCP OFFER (port 67) and ACK (port 4011). Policy comes from maps
 * written by xbootd (include/xboot/xdp.h); replies are assembled from its
 * per-(subnet, class) templates following the layout in
 * include/xboot/dhcp.h, so both paths send the same bytes. Anything this
 * program does not fully understand is passed to xbootd, counted by reason;
 * it never drops a DHCP packet.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xboot/dhcp.h"
#include "xboot/xdp.h"
#include "xb_csum.h"
#include "xb_cursor.h"

/* Scratch buffers. Offsets into them are masked with *_MASK and every
 * fixed-size access after a masked offset stays inside, which is what lets
 * the verifier accept variable offsets without tracking exact bounds. */
#define REQ_MASK 2047
#define REQ_BUF 4096
#define REPLY_MASK 1023
#define REPLY_BUF 2048
#define REPLY_ZERO_WINDOW 512 /* bytes cleared after option 255 */

#define HDRS_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + \
		  sizeof(struct udphdr))
#define NSEC_PER_SEC 1000000000ULL

/*
 * Global (non-static) functions are verified once, on their own, with
 * unknown arguments and an unknown result. The big steps are global so the
 * verifier does not walk everything after them once per subnet index or
 * per combination of options; their pointer arguments may be NULL as far
 * as it knows, so each checks.
 */
#define XB_GLOBAL __attribute__((noinline))

/* Outcomes that are not counters: not DHCP, or not for us. */
#define OUT_IGNORE (-1)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XB_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xb_config);
} xb_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XB_MAX_SUBNETS);
	__type(key, __u32);
	__type(value, struct xb_subnet);
} xb_subnets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XB_MAX_SUBNETS * XB_NCLASS);
	__type(key, __u32);
	__type(value, struct xb_tmpl);
} xb_tmpl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XB_MAX_RESV);
	__type(key, struct xb_mac_key);
	__type(value, struct xb_resv);
} xb_resv SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XB_MAX_LEASES);
	__type(key, struct xb_mac_key);
	__type(value, struct xb_lease);
} xb_leases SEC(".maps");

/* Inner map template: xbootd creates one such queue per subnet. */
struct xb_free_queue {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, XB_FREE_QUEUE_LEN);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XB_MAX_SUBNETS);
	__type(key, __u32);
	__array(values, struct xb_free_queue);
} xb_free SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} xb_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XB_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xb_stats SEC(".maps");

/* The options xbootd's parser keeps. It concatenates repeated ones
 * (RFC 3396); this program does not, so a second copy of any of them sends
 * the request to xbootd. */
enum {
	SEEN_53 = 1 << 0,
	SEEN_50 = 1 << 1,
	SEEN_54 = 1 << 2,
	SEEN_60 = 1 << 3,
	SEEN_77 = 1 << 4,
	SEEN_93 = 1 << 5,
	SEEN_97 = 1 << 6,
	SEEN_82 = 1 << 7,
	SEEN_175 = 1 << 8,
	SEEN_52 = 1 << 9,
	SEEN_12 = 1 << 10,
	SEEN_43 = 1 << 11,
	SEEN_55 = 1 << 12,
	SEEN_57 = 1 << 13,
	SEEN_61 = 1 << 14,
	SEEN_94 = 1 << 15,
};

/* classify() could not decide (long user class list): xbootd's call. */
#define CLASS_UNDECIDED XB_NCLASS
/* Names in an RFC 3004 user class list this program walks. */
#define USER_CLASS_MAX_NAMES 8

/* State of the option scan, kept in xb_scratch.scan while the bpf_loop()
 * callback runs. Offsets are of the option's code byte in xb_scratch.req. */
struct opt_scan {
	__u32 off;
	__u32 end;
	__u32 seen;
	__u16 off_50, off_54, off_60, off_77, off_93, off_97, off_82;
	__u8 len_60, len_77, len_97, len_82;
	__u8 msgtype;
	__u8 malformed;
	__u8 class;
	__u8 pad;
};

/* Per-CPU working memory. The option scan keeps its state here rather than
 * on the stack: the verifier does not track values in map memory, so it
 * sees every loop iteration alike and verifies the callback quickly. */
struct xb_scratch {
	__u8 req[REQ_BUF];     /* the request's BOOTP payload */
	__u8 reply[REPLY_BUF]; /* the reply's BOOTP payload */
	struct opt_scan scan;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xb_scratch);
} xb_scratch SEC(".maps");

/* Everything about the request that the reply needs, saved before the
 * frame is resized. */
struct req {
	__u8 src_mac[6];
	__u16 dport;
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__u16 pad;
	__u32 payload_off; /* BOOTP offset in the frame */
	__u32 plen;        /* BOOTP length */
	__u32 frame_len;
	__be32 xid;
	__be32 ciaddr;
	__be32 giaddr;
	__be16 flags;
	struct xb_mac_key mac;
	struct opt_scan opts;
};

/* What to answer with. */
struct answer {
	const struct xb_tmpl *tmpl;
	const struct xb_resv *resv; /* for option 12, may be NULL */
	__be32 yiaddr;
	__be32 ciaddr;
	__u8 msgtype;
	__u8 proxy_ack; /* reply to the request's source (port 4011) */
	__be32 server_id; /* the ingress interface's: templates carry the
			   * first interface's, patched here */
	__u32 len;      /* BOOTP payload length, set by answer_len() */
};

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&xb_stats, &stat);

	if (v)
		*v += 1;
}

static __always_inline struct xb_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&xb_scratch, &zero);
}

/* --- request parsing ---------------------------------------------------- */

/* Frame -> struct req up to the UDP payload. OUT_IGNORE for anything that
 * is not IPv4/UDP to 67 or 4011; XB_STAT_PASS_MALFORMED when it is to those
 * ports but the lengths do not add up. */
static __always_inline int parse_frame(struct xdp_md *ctx, struct req *r)
{
	struct cursor c;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 ip_len, udp_len, l3_off;

	cursor_init(&c, ctx);
	eth = parse_ethhdr(&c);
	if (!eth || eth->h_proto != bpf_htons(ETH_P_IP))
		return OUT_IGNORE;
	ip = parse_iphdr(&c);
	if (!ip || ip->protocol != IPPROTO_UDP)
		return OUT_IGNORE;
	/* Non-first fragments carry no UDP header. */
	if (ip->frag_off & bpf_htons(0x1fff))
		return OUT_IGNORE;
	udp = parse_udphdr(&c);
	if (!udp)
		return OUT_IGNORE;
	r->dport = bpf_ntohs(udp->dest);
	if (r->dport != DHCP_SERVER_PORT && r->dport != PXE_BOOT_SERVER_PORT)
		return OUT_IGNORE;

	__builtin_memcpy(r->src_mac, eth->h_source, 6);
	r->saddr = ip->saddr;
	r->daddr = ip->daddr;
	r->sport = udp->source;
	r->frame_len = ctx->data_end - ctx->data;
	r->payload_off = (void *)(udp + 1) - (void *)(long)ctx->data;

	if (ip->frag_off & bpf_htons(0x2000)) /* more fragments */
		return XB_STAT_PASS_MALFORMED;
	l3_off = sizeof(*eth);
	ip_len = bpf_ntohs(ip->tot_len);
	udp_len = bpf_ntohs(udp->len);
	if (l3_off + ip_len > r->frame_len)
		return XB_STAT_PASS_MALFORMED;
	if (r->payload_off - l3_off + udp_len - sizeof(*udp) > ip_len)
		return XB_STAT_PASS_MALFORMED;
	if (udp_len < sizeof(*udp) + DHCP_FIXED_LEN ||
	    udp_len > sizeof(*udp) + DHCP_REQUEST_MAX_LEN)
		return XB_STAT_PASS_MALFORMED;
	r->plen = udp_len - sizeof(*udp);
	return 0;
}

static __always_inline __u16 req_off(__u32 off)
{
	return off & REQ_MASK;
}

/* Checks one option as xbootd's parser would and records where it is.
 * -1: xbootd would refuse the request, or must see it. */
static __always_inline int scan_record(struct opt_scan *s, const __u8 *req,
				       __u8 code, __u32 off, __u32 len)
{
	__u32 bit;

	switch (code) {
	case DHO_MSG_TYPE:
		if (len != 1)
			return -1;
		bit = SEEN_53;
		s->msgtype = req[req_off(off + 2)];
		break;
	case DHO_REQUESTED_IP:
		if (len != 4)
			return -1;
		bit = SEEN_50;
		s->off_50 = off;
		break;
	case DHO_SERVER_ID:
		if (len != 4)
			return -1;
		bit = SEEN_54;
		s->off_54 = off;
		break;
	case DHO_VENDOR_CLASS:
		bit = SEEN_60;
		s->off_60 = off;
		s->len_60 = len;
		break;
	case DHO_USER_CLASS:
		bit = SEEN_77;
		s->off_77 = off;
		s->len_77 = len;
		break;
	case DHO_CLIENT_ARCH:
		if (len < 2 || len & 1)
			return -1;
		bit = SEEN_93;
		s->off_93 = off;
		break;
	case DHO_CLIENT_UUID:
		bit = SEEN_97;
		s->off_97 = off;
		s->len_97 = len;
		break;
	case DHO_RELAY_AGENT:
		bit = SEEN_82;
		s->off_82 = off;
		s->len_82 = len;
		break;
	case DHO_MAX_MSG_SIZE:
		if (len != 2)
			return -1;
		bit = SEEN_57;
		break;
	case DHO_CLIENT_NDI:
		if (len != 3)
			return -1;
		bit = SEEN_94;
		break;
	case DHO_IPXE_ENCAP:
		bit = SEEN_175;
		break;
	case DHO_OVERLOAD:
		bit = SEEN_52;
		break;
	case DHO_HOSTNAME:
		bit = SEEN_12;
		break;
	case DHO_VENDOR_OPTS:
		bit = SEEN_43;
		break;
	case DHO_PARAM_LIST:
		bit = SEEN_55;
		break;
	case DHO_CLIENT_ID:
		bit = SEEN_61;
		break;
	default:
		return 0;
	}
	if (s->seen & bit)
		return -1;
	s->seen |= bit;
	return 0;
}

/* One option per call; bpf_loop() keeps the verifier's work independent
 * of how many options a request carries. */
static long scan_one_option(__u32 i, void *data)
{
	struct xb_scratch *sc = scratch();
	struct opt_scan *s;
	__u32 off, len;
	__u8 code;

	if (!sc)
		return 1;
	s = &sc->scan;
	off = s->off;
	if (off >= s->end)
		return 1; /* options may run to the end without option 255 */
	code = sc->req[req_off(off)];
	if (code == DHO_PAD) {
		s->off = off + 1;
		return 0;
	}
	if (code == DHO_END)
		return 1;
	if (off + 2 > s->end)
		goto malformed;
	len = sc->req[req_off(off + 1)];
	if (off + 2 + len > s->end)
		goto malformed;
	if (scan_record(s, sc->req, code, off, len))
		goto malformed;
	s->off = off + 2 + len;
	return 0;
malformed:
	s->malformed = 1;
	return 1;
}

static __always_inline __be32 req_be32(const __u8 *req, __u32 off)
{
	__be32 v;

	__builtin_memcpy(&v, &req[req_off(off)], sizeof(v));
	return v;
}

static __always_inline int req_has_prefix(const __u8 *req, __u32 off,
					  __u32 len, const char *lit,
					  __u32 n)
{
	const __u8 *p = &req[req_off(off)];

	if (len < n)
		return 0;
#pragma unroll
	for (__u32 i = 0; i < 10; i++) {
		if (i < n && p[i] != (__u8)lit[i])
			return 0;
	}
	return 1;
}

static __always_inline int is_ipxe(const __u8 *p)
{
	return p[0] == 'i' && p[1] == 'P' && p[2] == 'X' && p[3] == 'E';
}

/* Does user class (77) name iPXE? iPXE sends the bare string; RFC 3004
 * wants a list of length-prefixed names, and a malformed list names
 * nothing (as in xbootd). 1 yes, 0 no, -1 too long a list to tell. */
static __always_inline int user_class_ipxe(const __u8 *req, __u32 off,
					   __u32 len)
{
	const __u8 *p = &req[req_off(off)];
	__u32 i = 0, n;
	int found = 0;

	if (len == 4 && is_ipxe(p))
		return 1;
#pragma unroll
	for (int k = 0; k < USER_CLASS_MAX_NAMES; k++) {
		if (i >= len)
			return found;
		n = p[i & 0xff];
		if (n == 0 || i + 1 + n > len)
			return 0;
		if (n == 4 && is_ipxe(&p[(i + 1) & 0xff]))
			found = 1;
		i += 1 + n;
	}
	return i >= len ? found : -1;
}

/* Classification, first match wins: the rules in include/xboot/dhcp.h. */
static __always_inline int classify(const __u8 *req, const struct opt_scan *s)
{
	int has93 = s->seen & SEEN_93;
	__u16 arch = 0;
	int ipxe;

	if (s->seen & SEEN_175)
		return XB_CLASS_IPXE;
	if (s->seen & SEEN_77) {
		ipxe = user_class_ipxe(req, s->off_77 + 2, s->len_77);
		if (ipxe < 0)
			return CLASS_UNDECIDED;
		if (ipxe)
			return XB_CLASS_IPXE;
	}
	if (has93)
		arch = bpf_ntohs(*(__be16 *)&req[req_off(s->off_93 + 2)]);
	if ((s->seen & SEEN_60) &&
	    req_has_prefix(req, s->off_60 + 2, s->len_60, "HTTPClient", 10))
		return XB_CLASS_HTTP;
	if (has93 && (arch == PXE_ARCH_EFI_X64_HTTP ||
		      arch == PXE_ARCH_EFI_ARM64_HTTP))
		return XB_CLASS_HTTP;
	if ((s->seen & SEEN_60) &&
	    req_has_prefix(req, s->off_60 + 2, s->len_60, "PXEClient", 9)) {
		if (!has93 || arch == PXE_ARCH_BIOS)
			return XB_CLASS_BIOS;
		if (arch == PXE_ARCH_EFI_BC || arch == PXE_ARCH_EFI_X64)
			return XB_CLASS_EFI64;
		if (arch == PXE_ARCH_EFI_ARM64)
			return XB_CLASS_ARM64;
		return XB_CLASS_UNKNOWN;
	}
	return XB_CLASS_PLAIN;
}

/* Scan the options and classify the client. Global: verified once on its
 * own, so the rest of the program is not walked once per combination of
 * options seen. */
XB_GLOBAL int xb_parse_options(struct opt_scan *out)
{
	struct xb_scratch *sc = scratch();
	struct opt_scan *s;
	__u32 end;

	if (!out || !sc)
		return XB_STAT_PASS_MALFORMED;
	s = &sc->scan;
	end = out->end;
	if (end < DHCP_FIXED_LEN || end > DHCP_REQUEST_MAX_LEN)
		return XB_STAT_PASS_MALFORMED;
	__builtin_memset(s, 0, sizeof(*s));
	s->off = DHCP_FIXED_LEN;
	s->end = end;
	bpf_loop(end - DHCP_FIXED_LEN + 1, scan_one_option, NULL, 0);
	if (s->malformed)
		return XB_STAT_PASS_MALFORMED;
	if (s->seen & SEEN_52)
		return XB_STAT_PASS_OVERLOAD;
	if (!(s->seen & SEEN_53))
		return XB_STAT_PASS_MSGTYPE;
	s->class = classify(sc->req, s);
	if (s->class == CLASS_UNDECIDED)
		return XB_STAT_PASS_CLASS;
	*out = *s;
	return 0;
}

/* Copy the BOOTP payload into scratch and read what the reply needs. */
static __always_inline int parse_bootp(struct xdp_md *ctx, struct req *r,
				       struct xb_scratch *sc)
{
	const struct dhcp_msg *m = (const void *)sc->req;
	__u32 plen = r->plen & REQ_MASK;

	if (plen < DHCP_FIXED_LEN)
		return XB_STAT_PASS_MALFORMED;
	if (bpf_xdp_load_bytes(ctx, r->payload_off, sc->req, plen))
		return XB_STAT_PASS_MALFORMED;
	if (m->op != BOOTP_REQUEST || m->htype != BOOTP_HTYPE_ETHER ||
	    m->hlen != 6 || m->magic != bpf_htonl(DHCP_MAGIC))
		return XB_STAT_PASS_MALFORMED;
	r->xid = m->xid;
	r->flags = m->flags;
	r->ciaddr = m->ciaddr;
	r->giaddr = m->giaddr;
	__builtin_memcpy(r->mac.mac, m->chaddr, 6);
	r->mac.pad = 0;
	r->opts.end = plen;
	return xb_parse_options(&r->opts);
}

/* --- policy ------------------------------------------------------------- */

/* giaddr 0: the local subnet of the interface the request came in on (the
 * one holding our address, else the first local one); else the subnet
 * holding giaddr. */
XB_GLOBAL int xb_find_subnet(__be32 giaddr, __be32 server_ip)
{
	int first_local = -1;

	for (__u32 i = 0; i < XB_MAX_SUBNETS; i++) {
		__u32 key = i;
		struct xb_subnet *sn = bpf_map_lookup_elem(&xb_subnets, &key);

		if (!sn || !(sn->flags & XB_SUBNET_F_VALID))
			continue;
		if (giaddr) {
			if ((giaddr & sn->mask) == sn->net)
				return i;
			continue;
		}
		if (!(sn->flags & XB_SUBNET_F_LOCAL))
			continue;
		if ((server_ip & sn->mask) == sn->net)
			return i;
		if (first_local < 0)
			first_local = i;
	}
	return first_local;
}

static __always_inline const struct xb_tmpl *find_tmpl(int subnet, int class)
{
	__u32 key = (__u32)subnet * XB_NCLASS + class;
	const struct xb_tmpl *t = bpf_map_lookup_elem(&xb_tmpl, &key);

	if (!t || !(t->flags & XB_TMPL_F_VALID) ||
	    t->opts_len > XB_TMPL_OPTS_MAX)
		return NULL;
	return t;
}

/* --- reply assembly ----------------------------------------------------- */

static __always_inline __u32 hostname_len(const struct xb_resv *resv)
{
	if (!resv || resv->hostname_len > XB_HOSTNAME_MAX)
		return 0;
	return resv->hostname_len;
}

static __always_inline int echo_uuid(const struct req *r)
{
	return (r->opts.seen & SEEN_97) && xb_class_is_pxe(r->opts.class);
}

/* Payload length per the layout in dhcp.h; 0 if it would not fit. */
static __always_inline __u32 answer_len(const struct req *r,
					const struct answer *a)
{
	__u32 len = DHCP_FIXED_LEN + 3 + a->tmpl->opts_len;
	__u32 hn = hostname_len(a->resv);

	if (hn)
		len += 2 + hn;
	if (echo_uuid(r))
		len += 2 + r->opts.len_97;
	if (r->opts.seen & SEEN_82)
		len += 2 + r->opts.len_82;
	len += 1;
	if (len < DHCP_REPLY_MIN_LEN)
		len = DHCP_REPLY_MIN_LEN;
	len = (len + 3) & ~3U;
	return len > DHCP_REPLY_MAX_LEN ? 0 : len;
}

static __always_inline void copy_u64s(__u8 *dst, const __u8 *src, int n)
{
#pragma unroll
	for (int i = 0; i < n; i++)
		((__u64 *)dst)[i] = ((const __u64 *)src)[i];
}

static __always_inline void zero_u64s(__u8 *dst, int n)
{
#pragma unroll
	for (int i = 0; i < n; i++)
		((__u64 *)dst)[i] = 0;
}

static __always_inline void put_bootp_header(__u8 *p, const struct req *r,
					     const struct answer *a,
					     const __u8 *req)
{
	struct dhcp_msg *m = (void *)p;

	zero_u64s(p, DHCP_FIXED_LEN / 8);
	m->op = BOOTP_REPLY;
	m->htype = BOOTP_HTYPE_ETHER;
	m->hlen = 6;
	m->xid = r->xid;
	m->flags = r->flags;
	m->ciaddr = a->ciaddr;
	m->yiaddr = a->yiaddr;
	m->siaddr = a->tmpl->siaddr ? a->server_id : 0;
	m->giaddr = r->giaddr;
	copy_u64s(m->chaddr, ((const struct dhcp_msg *)req)->chaddr, 2);
	copy_u64s((__u8 *)m->file, (const __u8 *)a->tmpl->file,
		  DHCP_FILE_LEN / 8);
	m->magic = bpf_htonl(DHCP_MAGIC);
	p[DHCP_FIXED_LEN] = DHO_MSG_TYPE;
	p[DHCP_FIXED_LEN + 1] = 1;
	p[DHCP_FIXED_LEN + 2] = a->msgtype;
}

/* Echo one request option (code, length, data) at reply offset pos. */
static __always_inline __u32 put_echo(struct xdp_md *ctx, __u8 *reply,
				      __u32 pos, const struct req *r,
				      __u32 opt_off, __u32 len)
{
	__u8 *p = &reply[pos & REPLY_MASK];
	__u32 n = len & 0xff;

	bpf_xdp_load_bytes(ctx, r->payload_off + opt_off, p, n + 2);
	return pos + 2 + n;
}

/* Assemble the BOOTP payload in scratch: the layout in dhcp.h. */
static __always_inline void build_payload(struct xdp_md *ctx,
					  struct xb_scratch *sc,
					  const struct req *r,
					  const struct answer *a)
{
	__u8 *reply = sc->reply;
	__u32 pos, hn;
	__u8 *p;

	put_bootp_header(reply, r, a, sc->req);
	/* Whole template; what lies past opts_len is overwritten below. */
	copy_u64s(&reply[DHCP_FIXED_LEN + 3], a->tmpl->opts,
		  XB_TMPL_OPTS_MAX / 8);
	pos = DHCP_FIXED_LEN + 3 + a->tmpl->opts_len;
	/* Every template opens with option 54. */
	if (a->tmpl->opts[0] == DHO_SERVER_ID && a->tmpl->opts[1] == 4)
		__builtin_memcpy(&reply[DHCP_FIXED_LEN + 5], &a->server_id, 4);

	hn = hostname_len(a->resv);
	if (hn) {
		p = &reply[pos & REPLY_MASK];
		p[0] = DHO_HOSTNAME;
		p[1] = hn;
		copy_u64s(p + 2, (const __u8 *)a->resv->hostname, 8);
		pos += 2 + hn;
	}
	if (echo_uuid(r))
		pos = put_echo(ctx, reply, pos, r, r->opts.off_97,
			       r->opts.len_97);
	if (r->opts.seen & SEEN_82)
		pos = put_echo(ctx, reply, pos, r, r->opts.off_82,
			       r->opts.len_82);
	p = &reply[pos & REPLY_MASK];
	p[0] = DHO_END;
	zero_u64s(p + 1, REPLY_ZERO_WINDOW / 8);
}

struct reply_hdrs {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
} __attribute__((packed));

struct pseudo_udp {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
	struct udphdr udp;
} __attribute__((packed));

/* RFC 2131 4.1: relay first, then a client that has an address, then
 * broadcast when asked (or when there is no address to unicast to). */
static __always_inline void choose_dest(struct reply_hdrs *h,
					const struct req *r,
					const struct answer *a,
					const __u8 *chaddr)
{
	h->udp.source = bpf_htons(DHCP_SERVER_PORT);
	if (a->proxy_ack) {
		h->ip.daddr = r->saddr;
		h->udp.source = bpf_htons(PXE_BOOT_SERVER_PORT);
		h->udp.dest = r->sport;
		__builtin_memcpy(h->eth.h_dest, r->src_mac, 6);
	} else if (r->giaddr) {
		h->ip.daddr = r->giaddr;
		h->udp.dest = bpf_htons(DHCP_SERVER_PORT);
		__builtin_memcpy(h->eth.h_dest, r->src_mac, 6);
	} else if (r->ciaddr) {
		h->ip.daddr = r->ciaddr;
		h->udp.dest = bpf_htons(DHCP_CLIENT_PORT);
		__builtin_memcpy(h->eth.h_dest, r->src_mac, 6);
	} else if ((r->flags & bpf_htons(BOOTP_FLAG_BROADCAST)) ||
		   !a->yiaddr) {
		h->ip.daddr = 0xffffffff;
		h->udp.dest = bpf_htons(DHCP_CLIENT_PORT);
		__builtin_memset(h->eth.h_dest, 0xff, 6);
	} else {
		h->ip.daddr = a->yiaddr;
		h->udp.dest = bpf_htons(DHCP_CLIENT_PORT);
		__builtin_memcpy(h->eth.h_dest, chaddr, 6);
	}
}

static __always_inline __u16 udp_csum(const struct reply_hdrs *h,
				      const __u8 *payload, __u32 len)
{
	struct pseudo_udp ph = {
		.saddr = h->ip.saddr,
		.daddr = h->ip.daddr,
		.proto = IPPROTO_UDP,
		.len = h->udp.len,
		.udp = h->udp,
	};
	__u64 sum = csum_block20(&ph, 0);
	__u16 folded;

#pragma unroll
	for (__u32 i = 0; i < DHCP_REPLY_MAX_LEN / CSUM_CHUNK; i++) {
		__u32 off = i * CSUM_CHUNK, n;
		long s;

		if (off >= len)
			break;
		n = (len - off) & (2 * CSUM_CHUNK - 1);
		if (n > CSUM_CHUNK)
			n = CSUM_CHUNK;
		s = bpf_csum_diff(NULL, 0, (__be32 *)(payload + off), n,
				  (__u32)sum);
		sum = s < 0 ? 0 : (__u64)s;
	}
	folded = csum_fold(sum);
	return folded ? folded : 0xffff;
}

/* Write Ethernet/IPv4/UDP headers and the payload into the (already
 * resized) frame. */
static __always_inline int write_reply(struct xdp_md *ctx,
				       struct xb_scratch *sc,
				       const struct req *r,
				       const struct answer *a,
				       const struct xb_config *cfg)
{
	struct reply_hdrs h = {};
	__u32 len = a->len & (REPLY_BUF - 1);

	if (len < DHCP_REPLY_MIN_LEN)
		return -1;
	__builtin_memcpy(h.eth.h_source, cfg->server_mac, 6);
	h.eth.h_proto = bpf_htons(ETH_P_IP);
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.tot_len = bpf_htons(sizeof(h.ip) + sizeof(h.udp) + len);
	h.ip.ttl = 64;
	h.ip.protocol = IPPROTO_UDP;
	h.ip.saddr = cfg->server_ip;
	choose_dest(&h, r, a, ((const struct dhcp_msg *)sc->req)->chaddr);
	h.ip.check = csum_fold(csum_block20(&h.ip, 0));
	h.udp.len = bpf_htons(sizeof(h.udp) + len);
	h.udp.check = udp_csum(&h, sc->reply, len);

	if (bpf_xdp_store_bytes(ctx, HDRS_LEN, sc->reply, len))
		return -1;
	return bpf_xdp_store_bytes(ctx, 0, &h, sizeof(h)) ? -1 : 0;
}

/* --- transactions --------------------------------------------------------
 *
 * A transaction changes state (queue, lease map, ring buffer) and the frame;
 * on any failure it undoes both and passes the original frame. Growing the
 * frame is done first (it can fail, and shrinking back restores the frame
 * exactly); shrinking is done last (it cannot fail).
 */

enum grown {
	GREW_NOT = 0,
	GREW_TAIL,
	GREW_HEAD,
	GREW_FAILED = -1,
};

static __always_inline int frame_delta(const struct req *r,
				       const struct answer *a)
{
	return (int)(HDRS_LEN + a->len) - (int)r->frame_len;
}

/* The reply is written from the frame's start, so room at either end will
 * do. Drivers often leave little tailroom (veth copies a frame into a
 * buffer just big enough), but XDP always has 256 bytes of headroom. */
static __always_inline int frame_grow(struct xdp_md *ctx, int delta)
{
	if (delta <= 0)
		return GREW_NOT;
	if (!bpf_xdp_adjust_tail(ctx, delta))
		return GREW_TAIL;
	if (!bpf_xdp_adjust_head(ctx, -delta))
		return GREW_HEAD;
	return GREW_FAILED;
}

static __always_inline void frame_ungrow(struct xdp_md *ctx, int delta,
					 int grown)
{
	if (grown == GREW_TAIL)
		bpf_xdp_adjust_tail(ctx, -delta);
	else if (grown == GREW_HEAD)
		bpf_xdp_adjust_head(ctx, delta);
}

static __always_inline int frame_shrink(struct xdp_md *ctx, int delta)
{
	if (delta >= 0)
		return 0;
	return bpf_xdp_adjust_tail(ctx, delta);
}

static __always_inline int send_event(struct xb_event *ev, __u32 type,
				      const struct req *r,
				      const struct xb_lease *l, __u32 secs,
				      __u64 now)
{
	ev->type = type;
	ev->ip = l->ip;
	__builtin_memcpy(ev->mac, r->mac.mac, 6);
	ev->subnet = l->subnet;
	ev->class = r->opts.class;
	ev->xid = r->xid;
	ev->lease_s = secs;
	ev->ts_ns = now;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/* Commit a lease change and send the reply; on failure undo the lease,
 * the frame, and return the pass reason. */
static __always_inline int commit_lease(struct xdp_md *ctx,
					struct xb_scratch *sc,
					const struct req *r,
					const struct answer *a,
					const struct xb_config *cfg,
					const struct xb_mac_key *mac,
					const struct xb_lease *nl,
					const struct xb_lease *old,
					__u32 ev_type, __u32 secs, __u64 now)
{
	int delta = frame_delta(r, a), grown;
	struct xb_event *ev;

	grown = frame_grow(ctx, delta);
	if (grown == GREW_FAILED)
		return XB_STAT_PASS_NO_ROOM;
	ev = bpf_ringbuf_reserve(&xb_events, sizeof(*ev), 0);
	if (!ev) {
		frame_ungrow(ctx, delta, grown);
		return XB_STAT_PASS_RINGBUF;
	}
	if (bpf_map_update_elem(&xb_leases, mac, nl, BPF_ANY))
		goto err_lease;
	if (frame_shrink(ctx, delta) || write_reply(ctx, sc, r, a, cfg))
		goto err_frame;
	send_event(ev, ev_type, r, nl, secs, now);
	return ev_type == XB_EV_OFFER ? XB_STAT_TX_OFFER : XB_STAT_TX_ACK;

err_frame:
	if (old)
		bpf_map_update_elem(&xb_leases, mac, old, BPF_ANY);
	else
		bpf_map_delete_elem(&xb_leases, mac);
err_lease:
	bpf_ringbuf_discard(ev, 0);
	frame_ungrow(ctx, delta, grown);
	return XB_STAT_PASS_NO_ROOM;
}

#include "xb_tftp.h"

/* An offer is the client's until xbootd reclaims it (and deletes it here);
 * a binding until it expires. */
static __always_inline int lease_live(const struct xb_lease *l, __u64 now)
{
	return l->state != XB_LEASE_BOUND || l->expires_ns > now;
}

/* DISCOVER -> OFFER (full mode). */
XB_GLOBAL int xb_offer(struct xdp_md *ctx, const struct req *r,
		       const struct xb_config *cfg)
{
	struct xb_scratch *sc = scratch();
	struct answer a = {};
	struct xb_lease nl = {}, old = {}, *cur;
	struct xb_mac_key mac = {};
	void *queue = NULL;
	int subnet, ret;
	__u64 now;
	__u32 key;

	if (!sc || !r || !cfg)
		return XB_STAT_PASS_NO_ROOM;
	/* A DISCOVER with ciaddr (RFC 2131 says 0) puts xbootd on the
	 * subnet of ciaddr; leave such oddities to it. */
	if (r->ciaddr)
		return XB_STAT_PASS_MISMATCH;
	now = bpf_ktime_get_boot_ns();
	a.msgtype = DHCPOFFER;
	__builtin_memcpy(mac.mac, r->mac.mac, 6);
	subnet = xb_find_subnet(r->giaddr, cfg->server_ip);
	if (subnet < 0 || subnet >= XB_MAX_SUBNETS)
		return XB_STAT_PASS_NO_SUBNET;
	a.tmpl = find_tmpl(subnet, r->opts.class);
	if (!a.tmpl)
		return XB_STAT_PASS_NO_TEMPLATE;
	a.resv = bpf_map_lookup_elem(&xb_resv, &mac);
	if (a.resv && a.resv->ip && a.resv->subnet != subnet)
		return XB_STAT_PASS_MISMATCH;
	a.server_id = cfg->server_ip;
	a.len = answer_len(r, &a);
	if (!a.len)
		return XB_STAT_PASS_NO_ROOM;

	cur = bpf_map_lookup_elem(&xb_leases, &mac);
	if (cur)
		old = *cur;
	if (a.resv && a.resv->ip) {
		a.yiaddr = a.resv->ip;
	} else if (cur && old.subnet == subnet && lease_live(&old, now)) {
		a.yiaddr = old.ip;
	} else {
		key = subnet;
		queue = bpf_map_lookup_elem(&xb_free, &key);
		if (!queue || bpf_map_pop_elem(queue, &a.yiaddr))
			return XB_STAT_PASS_NO_ADDRESS;
	}

	nl.ip = a.yiaddr;
	nl.subnet = subnet;
	nl.state = XB_LEASE_OFFERED;
	nl.expires_ns = now + cfg->offer_hold_s * NSEC_PER_SEC;
	/* A bound client that starts over keeps its binding until it is
	 * ACKed again or expires. */
	if (cur && old.ip == nl.ip && old.state == XB_LEASE_BOUND &&
	    old.expires_ns > nl.expires_ns) {
		nl.state = XB_LEASE_BOUND;
		nl.expires_ns = old.expires_ns;
	}

	build_payload(ctx, sc, r, &a);
	ret = commit_lease(ctx, sc, r, &a, cfg, &mac, &nl, cur ? &old : NULL,
			   XB_EV_OFFER, cfg->offer_hold_s, now);
	if (ret != XB_STAT_TX_OFFER && queue)
		bpf_map_push_elem(queue, &a.yiaddr, 0);
	return ret;
}

/* REQUEST -> ACK (full mode), only for a lease this program knows. */
XB_GLOBAL int xb_ack(struct xdp_md *ctx, const struct req *r,
		     const struct xb_config *cfg)
{
	struct xb_scratch *sc = scratch();
	struct answer a = {};
	struct xb_mac_key mac = {};
	const struct xb_subnet *sn;
	struct xb_lease nl, old, *cur;
	__be32 want;
	int subnet;
	__u64 now;
	__u32 key;

	if (!sc || !r || !cfg)
		return XB_STAT_PASS_NO_ROOM;
	now = bpf_ktime_get_boot_ns();
	a.msgtype = DHCPACK;
	__builtin_memcpy(mac.mac, r->mac.mac, 6);
	cur = bpf_map_lookup_elem(&xb_leases, &mac);
	if (!cur)
		return XB_STAT_PASS_NO_LEASE;
	old = *cur;
	if (old.expires_ns <= now)
		return XB_STAT_PASS_NO_LEASE;
	want = (r->opts.seen & SEEN_50) ? req_be32(sc->req, r->opts.off_50 + 2)
					: r->ciaddr;
	if (!want || want != old.ip)
		return XB_STAT_PASS_MISMATCH;
	if ((r->opts.seen & SEEN_54) &&
	    req_be32(sc->req, r->opts.off_54 + 2) != cfg->server_ip)
		return XB_STAT_PASS_MISMATCH;
	/* A client that moved to another segment gets its NAK from xbootd. */
	subnet = xb_find_subnet(r->giaddr, cfg->server_ip);
	if (subnet < 0 || subnet >= XB_MAX_SUBNETS)
		return XB_STAT_PASS_NO_SUBNET;
	if (subnet != old.subnet)
		return XB_STAT_PASS_MISMATCH;
	key = subnet;
	sn = bpf_map_lookup_elem(&xb_subnets, &key);
	if (!sn)
		return XB_STAT_PASS_NO_SUBNET;
	a.tmpl = find_tmpl(subnet, r->opts.class);
	if (!a.tmpl)
		return XB_STAT_PASS_NO_TEMPLATE;
	a.resv = bpf_map_lookup_elem(&xb_resv, &mac);
	a.yiaddr = old.ip;
	a.ciaddr = r->ciaddr;
	a.server_id = cfg->server_ip;
	a.len = answer_len(r, &a);
	if (!a.len)
		return XB_STAT_PASS_NO_ROOM;

	nl = old;
	nl.state = XB_LEASE_BOUND;
	nl.expires_ns = now + sn->lease_s * NSEC_PER_SEC;
	build_payload(ctx, sc, r, &a);
	return commit_lease(ctx, sc, r, &a, cfg, &mac, &nl, &old, XB_EV_ACK,
			    sn->lease_s, now);
}

/* ProxyDHCP: boot information only, no address and no state. */
XB_GLOBAL int xb_proxy(struct xdp_md *ctx, const struct req *r,
		       const struct xb_config *cfg, int ack)
{
	struct xb_scratch *sc = scratch();
	struct xb_mac_key mac = {};
	struct answer a = {};
	int subnet, delta, grown;

	if (!sc || !r || !cfg)
		return XB_STAT_PASS_NO_ROOM;
	if (!xb_class_is_pxe(r->opts.class) ||
	    r->opts.class == XB_CLASS_UNKNOWN)
		return XB_STAT_PASS_CLASS;
	a.msgtype = ack ? DHCPACK : DHCPOFFER;
	a.ciaddr = ack ? r->ciaddr : 0;
	a.proxy_ack = !!ack;
	/* Proxy servers own no ranges; their templates sit at subnet 0
	 * unless a configured subnet matches. */
	subnet = xb_find_subnet(r->giaddr, cfg->server_ip);
	if (subnet < 0 || subnet >= XB_MAX_SUBNETS)
		subnet = 0;
	a.tmpl = find_tmpl(subnet, r->opts.class);
	if (!a.tmpl)
		return XB_STAT_PASS_NO_TEMPLATE;
	/* xbootd names reserved hosts in its proxy offers, not in the boot
	 * server's ACK. */
	if (!ack) {
		__builtin_memcpy(mac.mac, r->mac.mac, 6);
		a.resv = bpf_map_lookup_elem(&xb_resv, &mac);
	}
	a.server_id = cfg->server_ip;
	a.len = answer_len(r, &a);
	if (!a.len)
		return XB_STAT_PASS_NO_ROOM;
	build_payload(ctx, sc, r, &a);
	delta = frame_delta(r, &a);
	grown = frame_grow(ctx, delta);
	if (grown == GREW_FAILED)
		return XB_STAT_PASS_NO_ROOM;
	if (frame_shrink(ctx, delta) || write_reply(ctx, sc, r, &a, cfg)) {
		frame_ungrow(ctx, delta, grown);
		return XB_STAT_PASS_NO_ROOM;
	}
	return ack ? XB_STAT_TX_PROXY_ACK : XB_STAT_TX_PROXY_OFFER;
}

static __always_inline int dispatch(struct xdp_md *ctx, const struct req *r,
				    const struct xb_config *cfg)
{
	__u8 type = r->opts.msgtype;

	/* A REQUEST with vendor options may be a PXE menu pick (43.71), whose
	 * ACK xbootd builds differently. */
	if (type == DHCPREQUEST && (r->opts.seen & SEEN_43))
		return XB_STAT_PASS_MSGTYPE;
	if (cfg->mode == XB_MODE_PROXY) {
		if (r->dport == DHCP_SERVER_PORT && type == DHCPDISCOVER)
			return xb_proxy(ctx, r, cfg, 0);
		if (r->dport == PXE_BOOT_SERVER_PORT && type == DHCPREQUEST)
			return xb_proxy(ctx, r, cfg, 1);
		return XB_STAT_PASS_MSGTYPE;
	}
	if (type != DHCPDISCOVER && type != DHCPREQUEST)
		return XB_STAT_PASS_MSGTYPE;
	if (r->opts.class == XB_CLASS_UNKNOWN)
		return XB_STAT_PASS_CLASS;
	return type == DHCPDISCOVER ? xb_offer(ctx, r, cfg)
				    : xb_ack(ctx, r, cfg);
}

static __always_inline int handle(struct xdp_md *ctx)
{
	struct xb_config cfg, *c;
	struct xb_scratch *sc;
	struct req r = {};
	__u32 ifindex;
	int ret;

	ret = parse_frame(ctx, &r);
	if (ret == OUT_IGNORE)
		return OUT_IGNORE;
	ifindex = ctx->ingress_ifindex;
	c = bpf_map_lookup_elem(&xb_config, &ifindex);
	if (!c)
		return OUT_IGNORE;
	cfg = *c;
	/* Port 4011 is ProxyDHCP's; unicast not to us is someone else's. */
	if (r.dport == PXE_BOOT_SERVER_PORT && cfg.mode != XB_MODE_PROXY)
		return OUT_IGNORE;
	if (r.daddr != 0xffffffff && r.daddr != cfg.server_ip)
		return OUT_IGNORE;
	count(XB_STAT_RX_DHCP);
	if (!cfg.enabled)
		return XB_STAT_PASS_DISABLED;
	if (ret)
		return ret;
	sc = scratch();
	if (!sc)
		return XB_STAT_PASS_NO_ROOM;
	ret = parse_bootp(ctx, &r, sc);
	if (ret)
		return ret;
	return dispatch(ctx, &r, &cfg);
}

SEC("xdp")
int xboot_dhcp(struct xdp_md *ctx)
{
	int out = xb_tftp(ctx);

	if (out != TFTP_NOT_OURS)
		return out;
	out = handle(ctx);

	if (out == OUT_IGNORE)
		return XDP_PASS;
	count(out);
	switch (out) {
	case XB_STAT_TX_OFFER:
	case XB_STAT_TX_ACK:
	case XB_STAT_TX_PROXY_OFFER:
	case XB_STAT_TX_PROXY_ACK:
		return XDP_TX;
	default:
		return XDP_PASS;
	}
}

/* The TFTP path's second tier, at clsact ingress of the same interfaces:
 * blocks XDP had no room to build (see xb_tftp.h). */
SEC("tc")
int xboot_tftp_tc(struct __sk_buff *skb)
{
	return xb_tftp_tc(skb);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
