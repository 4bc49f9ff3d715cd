/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The boundary between xbootd and the XDP program: every map's key and value,
 * the ring-buffer event, and the counters. xbootd owns policy and writes it
 * here; the XDP program only applies it.
 *
 * Maps (names as in the BPF object):
 *   xb_config   HASH  __u32 ifindex            -> struct xb_config
 *               (one program serves every interface; no entry: pass)
 *   xb_subnets  ARRAY[XB_MAX_SUBNETS]         -> struct xb_subnet
 *   xb_tmpl     ARRAY[XB_MAX_SUBNETS*XB_NCLASS] -> struct xb_tmpl
 *               index = subnet * XB_NCLASS + class
 *   xb_resv     HASH  struct xb_mac_key       -> struct xb_resv
 *   xb_leases   HASH  struct xb_mac_key       -> struct xb_lease
 *   xb_free     ARRAY_OF_MAPS[XB_MAX_SUBNETS] -> QUEUE of __u32 (be32 addrs)
 *   xb_events   RINGBUF                       <- struct xb_event
 *   xb_stats    PERCPU_ARRAY[XB_STAT_MAX]     -> __u64
 *
 * Times in maps are CLOCK_BOOTTIME nanoseconds (bpf_ktime_get_boot_ns()).
 * Addresses are network byte order.
 */
#ifndef XBOOT_XDP_H
#define XBOOT_XDP_H

#include <linux/types.h>
#include "dhcp.h"

#define XB_MAX_SUBNETS 16
#define XB_MAX_IFACES 8
#define XB_MAX_LEASES 65536
#define XB_MAX_RESV 65536
#define XB_FREE_QUEUE_LEN 65536
#define XB_TMPL_OPTS_MAX 256
#define XB_HOSTNAME_MAX 63

enum xb_mode {
	XB_MODE_FULL = 0,  /* we own the addresses */
	XB_MODE_PROXY = 1, /* ProxyDHCP: boot information only */
};

struct xb_config {
	__be32 server_ip;
	__u8 server_mac[6];
	__u8 mode;    /* enum xb_mode */
	__u8 enabled; /* 0: pass everything */
	__u32 offer_hold_s; /* how long an OFFERed address stays held */
	__u32 pad;
};

#define XB_SUBNET_F_VALID 0x1
#define XB_SUBNET_F_LOCAL 0x2 /* on the interface: serves non-relayed requests */

struct xb_subnet {
	__be32 net;
	__be32 mask;
	__u32 lease_s;
	__u32 flags;
};

/* Per subnet and class: everything of a reply that does not depend on the
 * client. Built by dhcp_tmpl_build() in xbootd. */
#define XB_TMPL_F_VALID 0x1

struct xb_tmpl {
	__u16 opts_len;
	__u16 flags;
	__be32 siaddr;
	char file[DHCP_FILE_LEN];
	__u8 opts[XB_TMPL_OPTS_MAX];
};

struct xb_mac_key {
	__u8 mac[6];
	__u16 pad; /* always 0 */
};

struct xb_resv {
	__be32 ip;
	__u8 subnet;
	__u8 hostname_len; /* 0: no option 12 */
	__u8 pad[2];
	char hostname[64];
};

enum xb_lease_state {
	XB_LEASE_OFFERED = 1,
	XB_LEASE_BOUND = 2,
};

struct xb_lease {
	__be32 ip;
	__u8 state; /* enum xb_lease_state */
	__u8 subnet;
	__u16 pad;
	__u64 expires_ns;
};

enum xb_event_type {
	XB_EV_OFFER = 1, /* address offered (held for offer_hold_s) */
	XB_EV_ACK = 2,   /* lease bound for lease_s */
	XB_EV_TFTP_DONE = 3, /* struct xb_tftp_event: final ACK seen */
};

struct xb_event {
	__u32 type;
	__be32 ip;
	__u8 mac[6];
	__u8 subnet;
	__u8 class;
	__be32 xid;
	__u32 lease_s;
	__u64 ts_ns;
};

/* Counters. Keep XB_STAT_NAMES in the same order. */
enum xb_stat {
	XB_STAT_RX_DHCP,           /* BOOTREQUESTs seen on 67/4011 */
	XB_STAT_TX_OFFER,
	XB_STAT_TX_ACK,
	XB_STAT_TX_PROXY_OFFER,
	XB_STAT_TX_PROXY_ACK,
	XB_STAT_PASS_DISABLED,
	XB_STAT_PASS_MALFORMED,    /* truncated, bad lengths, not BOOTP */
	XB_STAT_PASS_OVERLOAD,     /* option 52: xbootd parses it */
	XB_STAT_PASS_MSGTYPE,      /* INFORM, DECLINE, RELEASE, ... */
	XB_STAT_PASS_CLASS,        /* unknown architecture */
	XB_STAT_PASS_NO_SUBNET,
	XB_STAT_PASS_NO_ADDRESS,   /* free queue empty */
	XB_STAT_PASS_NO_LEASE,     /* REQUEST without a lease from XDP */
	XB_STAT_PASS_MISMATCH,     /* REQUEST for another address/server */
	XB_STAT_PASS_NO_TEMPLATE,
	XB_STAT_PASS_NO_ROOM,      /* could not size the frame */
	XB_STAT_PASS_RINGBUF,      /* event could not be queued */
	XB_STAT_TFTP_TX_DATA,      /* DATA blocks sent by the TFTP path */
	XB_STAT_TFTP_DUP_ACK,      /* duplicate/stale ACKs dropped */
	XB_STAT_TFTP_DONE,         /* transfers whose final ACK XDP saw */
	XB_STAT_TFTP_PASS,         /* session traffic left to xbootd */
	XB_STAT_TFTP_TC_DATA,      /* DATA blocks sent by the TC tier */
	XB_STAT_TFTP_TO_TC,        /* ACKs XDP had no room for: TC's */
	XB_STAT_MAX,
};

#define XB_STAT_NAMES                                                        \
	{                                                                    \
		"rx_dhcp", "tx_offer", "tx_ack", "tx_proxy_offer",           \
		"tx_proxy_ack", "pass_disabled", "pass_malformed",           \
		"pass_overload", "pass_msgtype", "pass_class",               \
		"pass_no_subnet", "pass_no_address", "pass_no_lease",        \
		"pass_mismatch", "pass_no_template", "pass_no_room",         \
		"pass_ringbuf", "tftp_blocks", "tftp_dup_acks",              \
		"tftp_completed", "tftp_pass", "tftp_blocks_tc",             \
		"tftp_xdp_to_tc",                                            \
	}

/*
 * The TFTP hot-block path. xbootd loads hot files into xb_blocks and
 * xb_files, answers each RRQ itself (OACK or DATA 1), and then registers
 * the transfer in xb_tftp_sess; the program turns every in-order ACK into
 * the next DATA block in place.
 *
 *   xb_files     HASH  __u32 file_id              -> struct xb_file
 *   xb_blocks    HASH  struct xb_block_key        -> struct xb_block
 *                (no prealloc: only loaded pages cost memory)
 *   xb_tftp_sess HASH  struct xb_tftp_key         -> struct xb_tftp_sess
 *
 * A page value carries XB_BLOCK_SLACK bytes of the next page after its own
 * 4096, so one DATA block (at most XB_TFTP_BLKSIZE_MAX bytes) is always one
 * contiguous copy from one value.
 */
#define XB_MAX_HOT_FILES 64
#define XB_MAX_BLOCKS 32768       /* pages of all hot files: 128 MiB */
#define XB_MAX_TFTP_SESS 4096
#define XB_BLOCK_PAGE 4096
#define XB_BLOCK_SLACK 2048
#define XB_TFTP_BLKSIZE_MAX 1468  /* a DATA frame of 1514 bytes */

struct xb_file {
	__u64 size;
	__u32 pages;
	__u32 generation; /* bumped on every reload of the file */
};

struct xb_block_key {
	__u32 file_id;
	__u32 page;
};

struct xb_block {
	__u8 data[XB_BLOCK_PAGE + XB_BLOCK_SLACK];
};

struct xb_tftp_key {
	__be32 client_ip;
	__be16 client_port;
	__be16 server_port;
};

enum xb_tftp_state {
	XB_TFTP_ACTIVE = 1,
};

struct xb_tftp_sess {
	__be32 server_ip; /* the DATA frames' source; MACs are swapped */
	__u32 file_id;
	__u32 generation; /* of the file when registered; mismatch: pass */
	__u32 blksize;
	__u32 last_sent;  /* absolute block number (wraps on the wire) */
	__u32 total;      /* blocks in the transfer: size / blksize + 1 */
	__u32 state;      /* enum xb_tftp_state */
	__u64 size;
	__u64 last_ns;    /* last activity, bpf_ktime_get_boot_ns() */
};

/* XB_EV_TFTP_DONE on the ring buffer; type first, as in xb_event, and
 * no longer than it. */
struct xb_tftp_event {
	__u32 type;
	__be32 client_ip;
	__be16 client_port;
	__be16 server_port;
	__u32 blocks;
	__u64 ts_ns;
	__u64 pad;
};

#endif /* XBOOT_XDP_H */
