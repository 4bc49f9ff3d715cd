// SPDX-License-Identifier: GPL-2.0
/*
 * The DHCP option parser (a table of bad packets, overload, RFC 3396
 * concatenation, client classes), the option writer, and the reply
 * templates and builder down to the byte (one golden BIOS OFFER).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dhcp_opts.h"
#include "dhcp_reply.h"
#include "dhcp_pkt.h"

static const uint8_t mac1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static int parse(struct pkt *p, struct dhcp_request *r)
{
	return dhcp_parse(p->b, p->len, r);
}

/* --- bad packets ------------------------------------------------------- */

struct bad_case {
	const char *name;
	void (*make)(struct pkt *p);
	int err;
};

static void mk_empty(struct pkt *p) { p->len = 0; }

static void mk_truncated_header(struct pkt *p)
{
	pkt_end(p);
	p->len = DHCP_FIXED_LEN - 1;
}

static void mk_bootreply(struct pkt *p)
{
	pkt_end(p);
	pkt_msg(p)->op = BOOTP_REPLY;
}

static void mk_htype(struct pkt *p)
{
	pkt_end(p);
	pkt_msg(p)->htype = 6;
}

static void mk_hlen(struct pkt *p)
{
	pkt_end(p);
	pkt_msg(p)->hlen = 16;
}

static void mk_cookie(struct pkt *p)
{
	pkt_end(p);
	pkt_msg(p)->magic = htonl(0x63825364);
}

static void mk_no_options(struct pkt *p) { p->len = DHCP_FIXED_LEN; }

static void mk_no_msgtype(struct pkt *p)
{
	p->len = DHCP_FIXED_LEN;
	pkt_opt_str(p, DHO_HOSTNAME, "x");
	pkt_end(p);
}

static void mk_len_past_end(struct pkt *p)
{
	pkt_opt_str(p, DHO_VENDOR_CLASS, "PXEClient");
	p->len -= 3; /* the packet ends inside option 60 */
}

static void mk_code_without_len(struct pkt *p)
{
	p->b[p->len++] = DHO_HOSTNAME;
}

static void mk_msgtype_empty(struct pkt *p)
{
	p->len = DHCP_FIXED_LEN;
	pkt_opt(p, DHO_MSG_TYPE, "", 0);
	pkt_end(p);
}

static void mk_msgtype_two(struct pkt *p)
{
	p->len = DHCP_FIXED_LEN;
	pkt_opt(p, DHO_MSG_TYPE, "\x01\x01", 2);
	pkt_end(p);
}

static void mk_msgtype_zero(struct pkt *p)
{
	p->len = DHCP_FIXED_LEN;
	pkt_opt_u8(p, DHO_MSG_TYPE, 0);
	pkt_end(p);
}

static void mk_msgtype_unknown(struct pkt *p)
{
	p->len = DHCP_FIXED_LEN;
	pkt_opt_u8(p, DHO_MSG_TYPE, 13); /* DHCPLEASEACTIVE */
	pkt_end(p);
}

static void mk_overload_value(struct pkt *p)
{
	pkt_opt_u8(p, DHO_OVERLOAD, 4);
	pkt_end(p);
}

static void mk_overload_len(struct pkt *p)
{
	pkt_opt(p, DHO_OVERLOAD, "\x01\x01", 2);
	pkt_end(p);
}

/* Overload says the file field holds options, but it holds a file name
 * whose bytes read as an option running off the field. */
static void mk_overload_file_garbage(struct pkt *p)
{
	pkt_opt_u8(p, DHO_OVERLOAD, DHCP_OVERLOAD_FILE);
	pkt_end(p);
	memset(pkt_msg(p)->file, 'x', DHCP_FILE_LEN);
}

static void mk_overload_sname_garbage(struct pkt *p)
{
	pkt_opt_u8(p, DHO_OVERLOAD, DHCP_OVERLOAD_SNAME);
	pkt_end(p);
	pkt_msg(p)->sname[0] = DHO_HOSTNAME;
	pkt_msg(p)->sname[1] = 63; /* 2 + 63 > 64 */
}

static void mk_overload_file_code_at_end(struct pkt *p)
{
	pkt_opt_u8(p, DHO_OVERLOAD, DHCP_OVERLOAD_FILE);
	pkt_end(p);
	memset(pkt_msg(p)->file, DHO_PAD, DHCP_FILE_LEN);
	pkt_msg(p)->file[DHCP_FILE_LEN - 1] = DHO_HOSTNAME;
}

static void mk_requested_short(struct pkt *p)
{
	pkt_opt(p, DHO_REQUESTED_IP, "\x0a\x00\x00", 3);
	pkt_end(p);
}

static void mk_server_id_long(struct pkt *p)
{
	pkt_opt(p, DHO_SERVER_ID, "\x0a\x00\x00\x01\x01", 5);
	pkt_end(p);
}

static void mk_max_size_short(struct pkt *p)
{
	pkt_opt_u8(p, DHO_MAX_MSG_SIZE, 5);
	pkt_end(p);
}

static void mk_arch_odd(struct pkt *p)
{
	pkt_opt(p, DHO_CLIENT_ARCH, "\x00\x07\x00", 3);
	pkt_end(p);
}

static void mk_arch_empty(struct pkt *p)
{
	pkt_opt(p, DHO_CLIENT_ARCH, "", 0);
	pkt_end(p);
}

static void mk_ndi_short(struct pkt *p)
{
	pkt_opt(p, DHO_CLIENT_NDI, "\x01\x02", 2);
	pkt_end(p);
}

/* Option 82 split in two (RFC 3396) adding up to more than one option
 * can carry: we could not echo it verbatim. */
static void mk_huge_82(struct pkt *p)
{
	uint8_t junk[200];

	memset(junk, 0x01, sizeof(junk));
	pkt_opt(p, DHO_RELAY_AGENT, junk, 200);
	pkt_opt(p, DHO_RELAY_AGENT, junk, 100);
	pkt_end(p);
}

static void mk_huge_hostname(struct pkt *p)
{
	uint8_t junk[255];

	memset(junk, 'h', sizeof(junk));
	pkt_opt(p, DHO_HOSTNAME, junk, 255);
	pkt_opt(p, DHO_HOSTNAME, junk, 1);
	pkt_end(p);
}

static const struct bad_case bad_cases[] = {
	{ "empty", mk_empty, -EINVAL },
	{ "truncated header", mk_truncated_header, -EINVAL },
	{ "BOOTREPLY", mk_bootreply, -EPROTONOSUPPORT },
	{ "htype not Ethernet", mk_htype, -EPROTONOSUPPORT },
	{ "hlen 16", mk_hlen, -EPROTONOSUPPORT },
	{ "bad cookie", mk_cookie, -EPROTONOSUPPORT },
	{ "no options (BOOTP)", mk_no_options, -EINVAL },
	{ "no message type", mk_no_msgtype, -EINVAL },
	{ "option length past the end", mk_len_past_end, -EINVAL },
	{ "option code without length", mk_code_without_len, -EINVAL },
	{ "zero-length message type", mk_msgtype_empty, -EINVAL },
	{ "two-byte message type", mk_msgtype_two, -EINVAL },
	{ "message type 0", mk_msgtype_zero, -EINVAL },
	{ "unknown message type", mk_msgtype_unknown, -EINVAL },
	{ "overload value 4", mk_overload_value, -EINVAL },
	{ "overload length 2", mk_overload_len, -EINVAL },
	{ "overload: garbage file", mk_overload_file_garbage, -EINVAL },
	{ "overload: garbage sname", mk_overload_sname_garbage, -EINVAL },
	{ "overload: code at end of file", mk_overload_file_code_at_end,
	  -EINVAL },
	{ "requested IP 3 bytes", mk_requested_short, -EINVAL },
	{ "server id 5 bytes", mk_server_id_long, -EINVAL },
	{ "max message size 1 byte", mk_max_size_short, -EINVAL },
	{ "arch odd length", mk_arch_odd, -EINVAL },
	{ "arch empty", mk_arch_empty, -EINVAL },
	{ "NDI 2 bytes", mk_ndi_short, -EINVAL },
	{ "huge option 82", mk_huge_82, -EMSGSIZE },
	{ "hostname over 255 bytes", mk_huge_hostname, -EMSGSIZE },
};

static void test_bad_packets(void **state)
{
	struct dhcp_request r;
	struct pkt p;
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		int err;

		pkt_init(&p, DHCPDISCOVER, mac1, 1);
		bad_cases[i].make(&p);
		err = parse(&p, &r);
		if (err != bad_cases[i].err)
			fail_msg("%s: got %d, want %d", bad_cases[i].name, err,
				 bad_cases[i].err);
		assert_non_null(r.err);
		assert_true(strlen(r.err) > 0);
	}
}

/* Every prefix of a valid packet is either refused or parsed, and never
 * read past its end (run under ASan to see the "never"). */
static void test_every_truncation(void **state)
{
	struct dhcp_request r;
	struct pkt p, q;
	size_t n;

	pkt_init(&p, DHCPDISCOVER, mac1, 1);
	pkt_pxe(&p, 7);
	pkt_opt_str(&p, DHO_HOSTNAME, "node1");
	pkt_end(&p);
	for (n = 0; n <= p.len; n++) {
		memset(&q, 0, sizeof(q));
		memcpy(q.b, p.b, n);
		q.len = n;
		(void)parse(&q, &r);
	}
}

/* --- good packets ------------------------------------------------------ */

static void test_discover_fields(void **state)
{
	struct dhcp_request r;
	struct pkt p;

	pkt_init(&p, DHCPDISCOVER, mac1, 0xdeadbeef);
	pkt_msg(&p)->flags = htons(BOOTP_FLAG_BROADCAST);
	pkt_pxe(&p, 0);
	pkt_opt_ip(&p, DHO_REQUESTED_IP, "10.0.0.7");
	pkt_opt_ip(&p, DHO_SERVER_ID, "10.0.0.1");
	pkt_opt(&p, DHO_CLIENT_ID, "\x01\x52\x54\x00\x12\x34\x56", 7);
	pkt_opt_str(&p, DHO_HOSTNAME, "node1");
	pkt_opt(&p, DHO_PARAM_LIST, "\x01\x03\x06\x2b\x3c\x42\x43", 7);
	pkt_opt(&p, DHO_MAX_MSG_SIZE, "\x05\xc0", 2);
	pkt_end(&p);

	assert_int_equal(parse(&p, &r), 0);
	assert_int_equal(r.msgtype, DHCPDISCOVER);
	assert_int_equal(r.xid, htonl(0xdeadbeef));
	assert_int_equal(r.flags, htons(BOOTP_FLAG_BROADCAST));
	assert_memory_equal(r.chaddr, mac1, 6);
	assert_true(r.has_requested_ip);
	assert_int_equal(r.requested_ip.s_addr, ip4("10.0.0.7").s_addr);
	assert_true(r.has_server_id);
	assert_int_equal(r.server_id.s_addr, ip4("10.0.0.1").s_addr);
	assert_int_equal(r.client_id_len, 7);
	assert_string_equal(r.hostname, "node1");
	assert_int_equal(r.param_list_len, 7);
	assert_int_equal(r.max_msg_size, 1472);
	assert_true(r.has_arch);
	assert_int_equal(r.arch, 0);
	assert_true(r.has_ndi);
	assert_true(r.has_uuid);
	assert_int_equal(r.uuid_len, 17);
	assert_false(r.has_relay);
	assert_int_equal(r.class, XB_CLASS_BIOS);
}

static void test_missing_end_and_pad(void **state)
{
	struct dhcp_request r;
	struct pkt p;

	pkt_init(&p, 0, mac1, 1);
	p.b[p.len++] = DHO_PAD;
	p.b[p.len++] = DHO_PAD;
	pkt_opt_u8(&p, DHO_MSG_TYPE, DHCPREQUEST);
	p.b[p.len++] = DHO_PAD;
	pkt_opt_ip(&p, DHO_REQUESTED_IP, "10.0.0.9");
	/* no END, no padding */
	assert_int_equal(parse(&p, &r), 0);
	assert_int_equal(r.msgtype, DHCPREQUEST);
	assert_int_equal(r.requested_ip.s_addr, ip4("10.0.0.9").s_addr);
}

static void test_after_end_ignored(void **state)
{
	struct dhcp_request r;
	struct pkt p;

	pkt_init(&p, DHCPDISCOVER, mac1, 1);
	p.b[p.len++] = DHO_END;
	p.b[p.len++] = DHO_HOSTNAME; /* garbage after END */
	p.b[p.len++] = 200;
	assert_int_equal(parse(&p, &r), 0);
	assert_int_equal(r.hostname_len, 0);
}

/* RFC 2132 9.3 + RFC 3396: option 60 split over options, file and sname
 * is put back together in that order. */
static void test_overload_both(void **state)
{
	struct dhcp_request r;
	struct pkt p;
	struct dhcp_msg *m;

	pkt_init(&p, 0, mac1, 1);
	pkt_opt_u8(&p, DHO_OVERLOAD, DHCP_OVERLOAD_FILE | DHCP_OVERLOAD_SNAME);
	pkt_opt_str(&p, DHO_VENDOR_CLASS, "PXE");
	pkt_end(&p);
	m = pkt_msg(&p);
	memcpy(m->file, "\x35\x01\x01\x3c\x03" "Cli\xff", 9);
	memcpy(m->sname, "\x3c\x03" "ent\x5d\x02\x00\x09", 9); /* no END */
	assert_int_equal(parse(&p, &r), 0);
	assert_int_equal(r.msgtype, DHCPDISCOVER);
	assert_int_equal(r.overload, 3);
	assert_int_equal(r.vendor_class_len, 9);
	assert_memory_equal(r.vendor_class, "PXEClient", 9);
	assert_int_equal(r.arch, 9);
	assert_int_equal(r.class, XB_CLASS_EFI64);
}

/* Overload in file or sname means nothing (RFC 2132 9.3). */
static void test_overload_only_in_options(void **state)
{
	struct dhcp_request r;
	struct pkt p;

	pkt_init(&p, DHCPDISCOVER, mac1, 1);
	pkt_opt_u8(&p, DHO_OVERLOAD, DHCP_OVERLOAD_FILE);
	pkt_end(&p);
	memcpy(pkt_msg(&p)->file, "\x34\x01\x02\x0c\x02hi\xff", 9);
	memset(pkt_msg(&p)->sname, 'x', DHCP_SNAME_LEN); /* never read */
	assert_int_equal(parse(&p, &r), 0);
	assert_int_equal(r.overload, DHCP_OVERLOAD_FILE);
	assert_string_equal(r.hostname, "hi");
}

static void test_split_relay_agent(void **state)
{
	struct dhcp_request r;
	struct pkt p;

	pkt_init(&p, DHCPDISCOVER, mac1, 1);
	pkt_opt(&p, DHO_RELAY_AGENT, "\x01\x04" "ab", 4);
	pkt_opt_str(&p, DHO_HOSTNAME, "n");
	pkt_opt(&p, DHO_RELAY_AGENT, "cd\x02\x01z", 5);
	pkt_end(&p);
	assert_int_equal(parse(&p, &r), 0);
	assert_true(r.has_relay);
	assert_int_equal(r.relay_len, 9);
	assert_memory_equal(r.relay, "\x01\x04" "abcd\x02\x01z", 9);
}

struct class_case {
	const char *vendor;      /* NULL: no option 60 */
	int arch;                /* -1: no option 93 */
	const void *user_class;  /* NULL: no option 77 */
	uint8_t user_class_len;
	bool ipxe_encap;
	int class;
};

static const struct class_case class_cases[] = {
	{ NULL, -1, NULL, 0, false, XB_CLASS_PLAIN },
	{ "MSFT 5.0", -1, NULL, 0, false, XB_CLASS_PLAIN },
	{ "PXEClient:Arch:00000:UNDI:002001", 0, NULL, 0, false,
	  XB_CLASS_BIOS },
	{ "PXEClient", -1, NULL, 0, false, XB_CLASS_BIOS },
	{ "PXEClient:Arch:00007:UNDI:003016", 7, NULL, 0, false,
	  XB_CLASS_EFI64 },
	{ "PXEClient:Arch:00009:UNDI:003016", 9, NULL, 0, false,
	  XB_CLASS_EFI64 },
	{ "PXEClient:Arch:00011:UNDI:003000", 11, NULL, 0, false,
	  XB_CLASS_ARM64 },
	{ "PXEClient:Arch:00006:UNDI:003016", 6, NULL, 0, false,
	  XB_CLASS_UNKNOWN },
	{ "HTTPClient:Arch:00016:UNDI:003001", 16, NULL, 0, false,
	  XB_CLASS_HTTP },
	{ "HTTPClient", -1, NULL, 0, false, XB_CLASS_HTTP },
	{ NULL, 19, NULL, 0, false, XB_CLASS_HTTP },
	{ "PXEClient:Arch:00000:UNDI:002001", 0, "iPXE", 4, false,
	  XB_CLASS_IPXE },
	{ "PXEClient:Arch:00007:UNDI:003016", 7, "\x04iPXE", 5, false,
	  XB_CLASS_IPXE },
	{ NULL, -1, "\x03" "abc\x04iPXE", 9, false, XB_CLASS_IPXE },
	{ "HTTPClient", 16, NULL, 0, true, XB_CLASS_IPXE },
	{ "PXEClient", 0, "iPXEx", 5, false, XB_CLASS_BIOS },
	{ "PXEClient", 0, "\x05iPXE", 5, false, XB_CLASS_BIOS },
	{ "PXEClient", 0, "ipxe", 4, false, XB_CLASS_BIOS },
	{ "pxeclient", 0, NULL, 0, false, XB_CLASS_PLAIN },
};

static void test_classes(void **state)
{
	struct dhcp_request r;
	struct pkt p;
	size_t i;

	for (i = 0; i < sizeof(class_cases) / sizeof(class_cases[0]); i++) {
		const struct class_case *cc = &class_cases[i];

		pkt_init(&p, DHCPDISCOVER, mac1, 1);
		if (cc->vendor)
			pkt_opt_str(&p, DHO_VENDOR_CLASS, cc->vendor);
		if (cc->arch >= 0) {
			uint8_t a[2] = { (uint8_t)(cc->arch >> 8),
					 (uint8_t)cc->arch };

			pkt_opt(&p, DHO_CLIENT_ARCH, a, 2);
		}
		if (cc->user_class)
			pkt_opt(&p, DHO_USER_CLASS, cc->user_class,
				cc->user_class_len);
		if (cc->ipxe_encap)
			pkt_opt(&p, DHO_IPXE_ENCAP, "\x01\x01\x01", 3);
		pkt_end(&p);
		assert_int_equal(parse(&p, &r), 0);
		if (r.class != cc->class)
			fail_msg("case %zu: class %s, want %s", i,
				 dhcp_class_name(r.class),
				 dhcp_class_name(cc->class));
	}
}

static void test_boot_item(void **state)
{
	struct dhcp_request r;
	struct pkt p;

	pkt_init(&p, DHCPREQUEST, mac1, 1);
	pkt_pxe(&p, 0);
	pkt_opt(&p, DHO_VENDOR_OPTS, "\x47\x04\x80\x00\x00\x00\xff", 7);
	pkt_end(&p);
	assert_int_equal(parse(&p, &r), 0);
	assert_true(r.has_boot_item);
	assert_int_equal(r.boot_item_type, 0x8000);
	assert_int_equal(r.boot_item_layer, 0);

	/* A malformed 43 is ignored, not refused. */
	pkt_init(&p, DHCPREQUEST, mac1, 1);
	pkt_pxe(&p, 0);
	pkt_opt(&p, DHO_VENDOR_OPTS, "\x47\x09\x80", 3);
	pkt_end(&p);
	assert_int_equal(parse(&p, &r), 0);
	assert_false(r.has_boot_item);
}

/* --- writer ------------------------------------------------------------ */

static void test_writer_bounds(void **state)
{
	uint8_t buf[16], big[300] = { 0 };
	struct dhcp_writer w;

	dhcp_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(dhcp_put_u32(&w, DHO_LEASE_TIME, 3600), 0);
	assert_int_equal(w.len, 6);
	assert_memory_equal(buf, "\x33\x04\x00\x00\x0e\x10", 6);
	assert_int_equal(dhcp_put_opt(&w, DHO_HOSTNAME, big, 8), 0);
	assert_int_equal(w.len, 16);
	assert_int_equal(dhcp_put_u8(&w, DHO_MSG_TYPE, 1), -EMSGSIZE);
	/* sticky: even what would fit is refused now */
	assert_int_equal(dhcp_put_end(&w), -EMSGSIZE);
	assert_int_equal(w.len, 16);

	dhcp_writer_init(&w, big, sizeof(big));
	assert_int_equal(dhcp_put_opt(&w, DHO_HOSTNAME, big, 256), -EMSGSIZE);
	assert_int_equal(w.len, 0);

	dhcp_writer_init(&w, big, sizeof(big));
	dhcp_put_end(&w);
	assert_int_equal(dhcp_pad(&w, 10, 4), 0);
	assert_int_equal(w.len, 12);
	assert_int_equal(dhcp_pad(&w, 0, 4), 0);
	assert_int_equal(w.len, 12);
	assert_int_equal(dhcp_pad(&w, 301, 4), -EMSGSIZE);
}

/* --- templates and replies --------------------------------------------- */

static void base_config(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = XB_MODE_FULL;
	cfg->nranges = 1;
	cfg->ranges[0].start = ip4("10.0.0.100");
	cfg->ranges[0].end = ip4("10.0.0.200");
	cfg->ranges[0].mask = ip4("255.255.255.0");
	cfg->ranges[0].router = ip4("10.0.0.1");
	cfg->lease_s = 3600;
	cfg->dns[0] = ip4("10.0.0.1");
	cfg->ndns = 1;
	strcpy(cfg->domain, "lab");
	strcpy(cfg->boot_file[XB_CLASS_BIOS], "undionly.kpxe");
	strcpy(cfg->boot_file[XB_CLASS_EFI64], "ipxe.efi");
	strcpy(cfg->boot_file[XB_CLASS_HTTP], "http://10.0.0.1/boot.efi");
	strcpy(cfg->boot_file[XB_CLASS_IPXE], "http://10.0.0.1/boot.ipxe");
}

static const struct dhcp_tmpl_params full_params = {
	.mode = XB_MODE_FULL,
	.server_id.s_addr = 0x0100000a, /* 10.0.0.1 */
	.mask.s_addr = 0x00ffffff,      /* 255.255.255.0 */
	.router.s_addr = 0x0100000a,
	.lease_s = 3600,
};

/* The whole reply to one BIOS DISCOVER, byte by byte. */
static const uint8_t golden_bios_offer_opts[] = {
	0x35, 0x01, 0x02,                               /* 53 OFFER */
	0x36, 0x04, 0x0a, 0x00, 0x00, 0x01,             /* 54 server id */
	0x33, 0x04, 0x00, 0x00, 0x0e, 0x10,             /* 51 3600 */
	0x3a, 0x04, 0x00, 0x00, 0x07, 0x08,             /* 58 1800 */
	0x3b, 0x04, 0x00, 0x00, 0x0c, 0x4e,             /* 59 3150 */
	0x01, 0x04, 0xff, 0xff, 0xff, 0x00,             /* 1 mask */
	0x03, 0x04, 0x0a, 0x00, 0x00, 0x01,             /* 3 router */
	0x06, 0x04, 0x0a, 0x00, 0x00, 0x01,             /* 6 dns */
	0x0f, 0x03, 'l', 'a', 'b',                      /* 15 domain */
	0x3c, 0x09, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't', /* 60 */
	0x2b, 0x04, 0x06, 0x01, 0x08, 0xff,             /* 43 { 6 = 8 } */
	0x61, 0x11, 0x00, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, /* 97 echoed */
	0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad,
	0xae, 0xaf, 0xb0,
	0xff,
};

static void test_golden_bios_offer(void **state)
{
	uint8_t out[DHCP_REPLY_MAX_LEN], want[DHCP_REPLY_MAX_LEN] = { 0 };
	struct dhcp_msg *m = (struct dhcp_msg *)want;
	struct dhcp_request r;
	struct config cfg;
	struct xb_tmpl t;
	struct pkt p;
	int len;

	base_config(&cfg);
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &full_params,
					 XB_CLASS_BIOS), 0);
	pkt_init(&p, DHCPDISCOVER, mac1, 0x11223344);
	pkt_msg(&p)->flags = htons(BOOTP_FLAG_BROADCAST);
	pkt_msg(&p)->secs = htons(4);
	pkt_pxe(&p, 0);
	pkt_end(&p);
	assert_int_equal(parse(&p, &r), 0);
	len = dhcp_reply_build(out, sizeof(out), &r, &t, DHCPOFFER,
			       ip4("10.0.0.100"), NULL);

	m->op = BOOTP_REPLY;
	m->htype = 1;
	m->hlen = 6;
	m->xid = htonl(0x11223344);
	m->flags = htons(0x8000);
	m->yiaddr = ip4("10.0.0.100").s_addr;
	m->siaddr = ip4("10.0.0.1").s_addr;
	memcpy(m->chaddr, mac1, 6);
	strcpy(m->file, "undionly.kpxe");
	m->magic = htonl(DHCP_MAGIC);
	memcpy(want + DHCP_FIXED_LEN, golden_bios_offer_opts,
	       sizeof(golden_bios_offer_opts));
	/* 240 + 87 option bytes, padded to a multiple of 4 */
	assert_int_equal(len, 328);
	assert_memory_equal(out, want, 328);
}

static const uint8_t *find_opt(const uint8_t *opts, size_t len, uint8_t code,
			       uint8_t *olen)
{
	size_t i = 0;

	while (i + 2 <= len && opts[i] != DHO_END) {
		if (opts[i] == code) {
			*olen = opts[i + 1];
			return opts + i + 2;
		}
		i += 2 + opts[i + 1];
	}
	return NULL;
}

static void test_tmpl_classes(void **state)
{
	struct config cfg;
	struct xb_tmpl t;
	const uint8_t *o;
	uint8_t n;

	base_config(&cfg);
	/* plain: addresses only */
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &full_params,
					 XB_CLASS_PLAIN), 0);
	assert_true(t.flags & XB_TMPL_F_VALID);
	assert_null(find_opt(t.opts, t.opts_len, DHO_VENDOR_CLASS, &n));
	assert_int_equal(t.file[0], 0);
	assert_int_equal(t.siaddr, 0);
	/* unknown arch: the same as plain */
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &full_params,
					 XB_CLASS_UNKNOWN), 0);
	assert_null(find_opt(t.opts, t.opts_len, DHO_VENDOR_CLASS, &n));
	/* http: URL, HTTPClient, no 43, no next-server */
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &full_params,
					 XB_CLASS_HTTP), 0);
	assert_string_equal(t.file, "http://10.0.0.1/boot.efi");
	o = find_opt(t.opts, t.opts_len, DHO_VENDOR_CLASS, &n);
	assert_non_null(o);
	assert_int_equal(n, 10);
	assert_memory_equal(o, "HTTPClient", 10);
	assert_null(find_opt(t.opts, t.opts_len, DHO_VENDOR_OPTS, &n));
	assert_int_equal(t.siaddr, 0);
	/* ipxe: its script URL, and no PXEClient from a full server (iPXE
	 * would take the offer for a ProxyDHCP one and ask again on 4011) */
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &full_params,
					 XB_CLASS_IPXE), 0);
	assert_string_equal(t.file, "http://10.0.0.1/boot.ipxe");
	assert_null(find_opt(t.opts, t.opts_len, DHO_VENDOR_CLASS, &n));
	o = find_opt(t.opts, t.opts_len, DHO_IPXE_ENCAP, &n);
	assert_non_null(o);
	assert_int_equal(n, 3);
	assert_memory_equal(o, "\xb0\x01\x01", 3); /* no-pxedhcp = 1 */
	/* arm64 without a boot file: valid, no file, no 43 */
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &full_params,
					 XB_CLASS_ARM64), 0);
	assert_true(t.flags & XB_TMPL_F_VALID);
	assert_int_equal(t.file[0], 0);
	assert_null(find_opt(t.opts, t.opts_len, DHO_VENDOR_OPTS, &n));
	assert_non_null(find_opt(t.opts, t.opts_len, DHO_LEASE_TIME, &n));
}

static void test_tmpl_proxy(void **state)
{
	struct dhcp_tmpl_params pp = {
		.mode = XB_MODE_PROXY,
		.server_id.s_addr = 0x0100000a,
	};
	static const uint8_t want[] = {
		0x36, 0x04, 0x0a, 0x00, 0x00, 0x01,
		0x3c, 0x09, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't',
		0x2b, 0x04, 0x06, 0x01, 0x08, 0xff,
	};
	struct config cfg;
	struct xb_tmpl t;

	base_config(&cfg);
	cfg.mode = XB_MODE_PROXY;
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &pp, XB_CLASS_BIOS), 0);
	assert_true(t.flags & XB_TMPL_F_VALID);
	assert_int_equal(t.opts_len, sizeof(want));
	assert_memory_equal(t.opts, want, sizeof(want));
	assert_int_equal(t.siaddr, 0x0100000a);
	/* nothing to boot: no proxy answer at all */
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &pp, XB_CLASS_ARM64), 0);
	assert_false(t.flags & XB_TMPL_F_VALID);
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &pp, XB_CLASS_PLAIN), 0);
	assert_false(t.flags & XB_TMPL_F_VALID);
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &pp, XB_CLASS_UNKNOWN), 0);
	assert_false(t.flags & XB_TMPL_F_VALID);
}

static void test_tmpl_menu(void **state)
{
	static const uint8_t want43[] = {
		0x06, 0x01, 0x07,
		0x08, 0x07, 0x80, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x01,
		0x09, 0x0a, 0x80, 0x00, 0x07, 'I', 'n', 's', 't', 'a', 'l', 'l',
		0x0a, 0x1b, 0x05, 'P', 'r', 'e', 's', 's', ' ', 'F', '8', ' ',
		'f', 'o', 'r', ' ', 't', 'h', 'e', ' ', 'b', 'o', 'o', 't', ' ',
		'm', 'e', 'n', 'u',
		0xff,
	};
	struct config cfg;
	struct xb_tmpl t;
	const uint8_t *o;
	uint8_t n;

	base_config(&cfg);
	strcpy(cfg.pxe_menu, "Install");
	cfg.pxe_timeout = 5;
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &full_params,
					 XB_CLASS_EFI64), 0);
	o = find_opt(t.opts, t.opts_len, DHO_VENDOR_OPTS, &n);
	assert_non_null(o);
	assert_int_equal(n, sizeof(want43));
	assert_memory_equal(o, want43, sizeof(want43));
}

static void test_lease_times(void **state)
{
	struct dhcp_tmpl_params pp = full_params;
	struct config cfg;
	struct xb_tmpl t;
	const uint8_t *o;
	uint8_t n;

	base_config(&cfg);
	pp.lease_s = 0xffffffff;
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &pp, XB_CLASS_PLAIN), 0);
	o = find_opt(t.opts, t.opts_len, DHO_REBINDING_TIME, &n);
	assert_memory_equal(o, "\xff\xff\xff\xff", 4);
	pp.lease_s = 86400;
	assert_int_equal(dhcp_tmpl_build(&t, &cfg, &pp, XB_CLASS_PLAIN), 0);
	o = find_opt(t.opts, t.opts_len, DHO_RENEWAL_TIME, &n);
	assert_memory_equal(o, "\x00\x00\xa8\xc0", 4); /* 43200 */
	o = find_opt(t.opts, t.opts_len, DHO_REBINDING_TIME, &n);
	assert_memory_equal(o, "\x00\x01\x27\x50", 4); /* 75600 */
}

/* The rest of the layout: 12 after the template, 97 only for PXE
 * classes, 82 verbatim, ciaddr only in ACKs, minimum size. */
static void test_reply_layout(void **state)
{
	uint8_t out[DHCP_REPLY_MAX_LEN];
	const struct dhcp_msg *m = (const struct dhcp_msg *)out;
	struct dhcp_request r;
	struct config cfg;
	struct xb_tmpl t;
	struct pkt p;
	const uint8_t *o;
	uint8_t n;
	int len;

	base_config(&cfg);
	dhcp_tmpl_build(&t, &cfg, &full_params, XB_CLASS_PLAIN);
	pkt_init(&p, DHCPREQUEST, mac1, 7);
	pkt_msg(&p)->ciaddr = ip4("10.0.0.150").s_addr;
	pkt_msg(&p)->giaddr = ip4("10.1.0.1").s_addr;
	pkt_opt(&p, DHO_CLIENT_UUID, "\x00\x01\x02", 3);
	pkt_opt(&p, DHO_RELAY_AGENT, "\x01\x03" "abc", 5);
	pkt_end(&p);
	assert_int_equal(parse(&p, &r), 0);
	len = dhcp_reply_build(out, sizeof(out), &r, &t, DHCPACK,
			       ip4("10.0.0.150"), "node7");
	assert_true(len >= DHCP_REPLY_MIN_LEN && len % 4 == 0);
	assert_int_equal(m->ciaddr, ip4("10.0.0.150").s_addr);
	assert_int_equal(m->giaddr, ip4("10.1.0.1").s_addr);
	o = out + DHCP_FIXED_LEN;
	assert_memory_equal(o, "\x35\x01\x05", 3);
	assert_memory_equal(o + 3, t.opts, t.opts_len);
	o += 3 + t.opts_len;
	assert_memory_equal(o, "\x0c\x05node7\x52\x05\x01\x03" "abc\xff", 15);
	assert_null(find_opt(out + DHCP_FIXED_LEN, len - DHCP_FIXED_LEN,
			     DHO_CLIENT_UUID, &n));

	/* INFORM: no lease options, no yiaddr */
	len = dhcp_reply_build_ex(out, sizeof(out), &r, &t, DHCPACK,
				  (struct in_addr){ 0 }, NULL,
				  DHCP_REPLY_NO_LEASE);
	assert_true(len > 0);
	assert_int_equal(m->yiaddr, 0);
	assert_null(find_opt(out + DHCP_FIXED_LEN, len - DHCP_FIXED_LEN,
			     DHO_LEASE_TIME, &n));
	assert_null(find_opt(out + DHCP_FIXED_LEN, len - DHCP_FIXED_LEN,
			     DHO_RENEWAL_TIME, &n));
	assert_non_null(find_opt(out + DHCP_FIXED_LEN, len - DHCP_FIXED_LEN,
				 DHO_SUBNET_MASK, &n));

	/* OFFER: no ciaddr */
	len = dhcp_reply_build(out, sizeof(out), &r, &t, DHCPOFFER,
			       ip4("10.0.0.150"), NULL);
	assert_int_equal(m->ciaddr, 0);
	/* too small a buffer is an error, not an overflow */
	assert_int_equal(dhcp_reply_build(out, 260, &r, &t, DHCPOFFER,
					  ip4("10.0.0.150"), NULL),
			 -EMSGSIZE);
}

static void test_nak_layout(void **state)
{
	uint8_t out[DHCP_REPLY_MAX_LEN];
	const struct dhcp_msg *m = (const struct dhcp_msg *)out;
	struct dhcp_request r;
	struct pkt p;
	int len;

	pkt_init(&p, DHCPREQUEST, mac1, 9);
	pkt_msg(&p)->giaddr = ip4("10.1.0.1").s_addr;
	pkt_msg(&p)->ciaddr = ip4("10.1.0.50").s_addr;
	pkt_opt(&p, DHO_RELAY_AGENT, "\x01\x01x", 3);
	pkt_end(&p);
	assert_int_equal(parse(&p, &r), 0);
	len = dhcp_nak_build(out, sizeof(out), &r, ip4("10.0.0.1"), "nope");
	assert_int_equal(len, 300);
	assert_int_equal(m->op, BOOTP_REPLY);
	assert_int_equal(m->xid, htonl(9));
	assert_int_equal(m->ciaddr, 0);
	assert_int_equal(m->yiaddr, 0);
	assert_int_equal(m->flags, htons(BOOTP_FLAG_BROADCAST));
	assert_int_equal(m->giaddr, ip4("10.1.0.1").s_addr);
	assert_memory_equal(out + DHCP_FIXED_LEN,
			    "\x35\x01\x06\x36\x04\x0a\x00\x00\x01"
			    "\x38\x04nope\x52\x03\x01\x01x\xff", 21);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_packets),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_discover_fields),
		cmocka_unit_test(test_missing_end_and_pad),
		cmocka_unit_test(test_after_end_ignored),
		cmocka_unit_test(test_overload_both),
		cmocka_unit_test(test_overload_only_in_options),
		cmocka_unit_test(test_split_relay_agent),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_boot_item),
		cmocka_unit_test(test_writer_bounds),
		cmocka_unit_test(test_golden_bios_offer),
		cmocka_unit_test(test_tmpl_classes),
		cmocka_unit_test(test_tmpl_proxy),
		cmocka_unit_test(test_tmpl_menu),
		cmocka_unit_test(test_lease_times),
		cmocka_unit_test(test_reply_layout),
		cmocka_unit_test(test_nak_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
