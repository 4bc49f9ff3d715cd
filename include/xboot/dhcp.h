/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * DHCP/BOOTP wire format and the xboot reply layout.
 *
 * Included by the XDP program (ebpf/) and by xbootd (userspace/), so both
 * paths speak exactly the same bytes. Plain C types only: no libc, no
 * kernel headers beyond <linux/types.h>.
 *
 * The reply layout (both paths build exactly this, byte for byte):
 *
 *   BOOTP header (struct dhcp_msg, 236 bytes)
 *     op=2 htype=1 hlen=6 hops=0 xid=request.xid secs=0 flags=request.flags
 *     ciaddr = request.ciaddr for ACK, 0 for OFFER
 *     yiaddr = the lease address (0 in ProxyDHCP replies)
 *     siaddr = template.siaddr   giaddr = request.giaddr
 *     chaddr = request.chaddr (all 16 bytes)
 *     sname  = zeros             file   = template.file
 *   magic cookie 99.130.83.99
 *   option 53 (message type, 1 byte)
 *   template.opts[0 .. template.opts_len)      (54, 51, 58, 59, 1, 3, 6,
 *                                               60, 43, ... : per subnet
 *                                               and class, built by xbootd)
 *   option 12 hostname        if the client has a reservation with a name
 *   option 97 client UUID     echoed verbatim if the request had one and
 *                             the class is a PXE class
 *   option 82 relay agent     echoed verbatim if the request had one
 *   option 255 end
 *   zero padding up to DHCP_REPLY_MIN_LEN, then up to a multiple of 4
 */
#ifndef XBOOT_DHCP_H
#define XBOOT_DHCP_H

#include <linux/types.h>

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define PXE_BOOT_SERVER_PORT 4011

#define BOOTP_REQUEST 1
#define BOOTP_REPLY 2
#define BOOTP_HTYPE_ETHER 1
#define BOOTP_FLAG_BROADCAST 0x8000

#define DHCP_MAGIC 0x63825363 /* host order; on the wire 99.130.83.99 */

/* The fixed BOOTP part (RFC 2131 figure 1), network byte order. */
struct dhcp_msg {
	__u8 op;
	__u8 htype;
	__u8 hlen;
	__u8 hops;
	__be32 xid;
	__be16 secs;
	__be16 flags;
	__be32 ciaddr;
	__be32 yiaddr;
	__be32 siaddr;
	__be32 giaddr;
	__u8 chaddr[16];
	char sname[64];
	char file[128];
	__be32 magic;
	__u8 options[]; /* variable */
} __attribute__((packed));

#define DHCP_FIXED_LEN 240 /* header + magic cookie */
#define DHCP_SNAME_LEN 64
#define DHCP_FILE_LEN 128
/* RFC 1542 2.1: BOOTP messages are at least 300 bytes; many PXE ROMs insist. */
#define DHCP_REPLY_MIN_LEN 300
/* Largest reply either path builds (fits any Ethernet MTU >= 576 + headers). */
#define DHCP_REPLY_MAX_LEN 1024
/* Largest request the XDP program looks at; longer ones go to xbootd. */
#define DHCP_REQUEST_MAX_LEN 1472

/* Message types, option 53 (RFC 2132 9.6). */
enum dhcp_msgtype {
	DHCPDISCOVER = 1,
	DHCPOFFER = 2,
	DHCPREQUEST = 3,
	DHCPDECLINE = 4,
	DHCPACK = 5,
	DHCPNAK = 6,
	DHCPRELEASE = 7,
	DHCPINFORM = 8,
};

/* Option codes used by xboot (RFC 2132, 3046, 4578, 3004). */
enum dhcp_option {
	DHO_PAD = 0,
	DHO_SUBNET_MASK = 1,
	DHO_ROUTER = 3,
	DHO_DNS = 6,
	DHO_HOSTNAME = 12,
	DHO_DOMAIN_NAME = 15,
	DHO_BROADCAST = 28,
	DHO_VENDOR_OPTS = 43,
	DHO_REQUESTED_IP = 50,
	DHO_LEASE_TIME = 51,
	DHO_OVERLOAD = 52,
	DHO_MSG_TYPE = 53,
	DHO_SERVER_ID = 54,
	DHO_PARAM_LIST = 55,
	DHO_MESSAGE = 56,
	DHO_MAX_MSG_SIZE = 57,
	DHO_RENEWAL_TIME = 58,
	DHO_REBINDING_TIME = 59,
	DHO_VENDOR_CLASS = 60,
	DHO_CLIENT_ID = 61,
	DHO_TFTP_SERVER = 66,
	DHO_BOOTFILE = 67,
	DHO_USER_CLASS = 77,
	DHO_RELAY_AGENT = 82,
	DHO_CLIENT_ARCH = 93,
	DHO_CLIENT_NDI = 94,
	DHO_CLIENT_UUID = 97,
	DHO_IPXE_ENCAP = 175,
	DHO_END = 255,
};

/* Option 52 values (RFC 2132 9.3). */
#define DHCP_OVERLOAD_FILE 1
#define DHCP_OVERLOAD_SNAME 2

/* Option 43 PXE sub-options (PXE 2.1 table 2-1). */
enum pxe_subopt {
	PXE_DISCOVERY_CONTROL = 6,
	PXE_BOOT_SERVERS = 8,
	PXE_BOOT_MENU = 9,
	PXE_MENU_PROMPT = 10,
	PXE_BOOT_ITEM = 71,
};
/* Discovery control bit 3: boot from the file/sname fields, no discovery. */
#define PXE_DISCOVERY_USE_FILE 0x08

/* Option 93 client system architectures (RFC 4578, IANA registry). */
enum pxe_arch {
	PXE_ARCH_BIOS = 0,
	PXE_ARCH_EFI_IA32 = 6,
	PXE_ARCH_EFI_BC = 7,
	PXE_ARCH_EFI_X64 = 9,
	PXE_ARCH_EFI_ARM64 = 11,
	PXE_ARCH_EFI_X64_HTTP = 16,
	PXE_ARCH_EFI_ARM64_HTTP = 19,
};

/*
 * Boot classes: what a client is, so what it is handed. Both paths classify
 * with the same rules (first match wins):
 *   1. user class (77) "iPXE", or option 175 present     -> XB_CLASS_IPXE
 *   2. vendor class (60) starting "HTTPClient", or
 *      arch (93) 16 or 19                                -> XB_CLASS_HTTP
 *   3. vendor class starting "PXEClient":
 *      arch 0 or no option 93                            -> XB_CLASS_BIOS
 *      arch 7 or 9                                       -> XB_CLASS_EFI64
 *      arch 11                                           -> XB_CLASS_ARM64
 *      any other arch                                    -> XB_CLASS_UNKNOWN
 *   4. anything else                                     -> XB_CLASS_PLAIN
 * XB_CLASS_UNKNOWN is never answered by XDP; xbootd logs it and answers with
 * an address but no boot file.
 */
enum xb_class {
	XB_CLASS_PLAIN = 0, /* ordinary DHCP client: address, no boot */
	XB_CLASS_BIOS,
	XB_CLASS_EFI64,
	XB_CLASS_ARM64,
	XB_CLASS_HTTP,
	XB_CLASS_IPXE,
	XB_CLASS_UNKNOWN,
	XB_NCLASS,
};

#define XB_CLASS_NAMES                                                       \
	{ "plain", "bios", "efi64", "arm64", "http", "ipxe", "unknown" }

static inline int xb_class_is_pxe(int class)
{
	return class != XB_CLASS_PLAIN;
}

#endif /* XBOOT_DHCP_H */
