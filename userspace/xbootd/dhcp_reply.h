/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reply templates and reply assembly.
 *
 * Everything of a reply that does not depend on the client lives in a
 * struct xb_tmpl (xboot/xdp.h), one per (subnet, class). The XDP program
 * builds its replies from the same templates, so this file and the BPF
 * program only have to agree on the few per-client bytes laid out in
 * xboot/dhcp.h.
 *
 * Template options, in this order:
 *   54 server id
 *   51 lease time, 58 T1 = lease/2, 59 T2 = lease*7/8      full mode only
 *   1 mask, 3 router, 6 DNS, 15 domain (if configured)     full mode only
 *   60 "PXEClient" ("HTTPClient" for http)                 PXE classes
 *   43 PXE vendor options                                  bios/efi64/arm64
 *                                                          with a boot file
 * Option 43 without a menu is { 6 = 0x08 } (discovery control: boot the
 * file, no discovery). With `pxe-menu=TEXT` it is
 *   6  = 0x07    no broadcast/multicast discovery; unicast only to the
 *                servers of 43.8 (that is us, on port 4011)
 *   8  = type 0x8000, 1 address: the server id. 0x8000 is the first type
 *        PXE 2.1 reserves for local use, so it never names a vendor's
 *        boot server product
 *   9  = one item: type 0x8000, TEXT
 *   10 = cfg->pxe_timeout, "Press F8 for the boot menu"
 * and the client's pick comes back as a REQUEST carrying 43.71 (to port
 * 4011; xbootd takes it on 67 as well); its ACK is the normal ACK with
 * 43 = { 71 = type, layer } in place of the template's 43
 * (DHCP_REPLY_BOOT_ITEM), no address and no lease options.
 *
 * DHCPNAK has its own minimal layout (RFC 2131 table 3): the BOOTP header
 * with only xid, flags (broadcast bit set when relayed), giaddr and chaddr,
 * then 53 = NAK, 54 server id, 56 message (if given), 82 echoed, 255, zero
 * padding as for every reply.
 */
#ifndef XBOOTD_DHCP_REPLY_H
#define XBOOTD_DHCP_REPLY_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "config.h"
#include "dhcp_opts.h"
#include "xboot/xdp.h"

#define PXE_DISCOVERY_MENU 0x07
#define PXE_MENU_SERVER_TYPE 0x8000
#define PXE_MENU_PROMPT_TEXT "Press F8 for the boot menu"

/* What a template depends on besides the class and the config. */
struct dhcp_tmpl_params {
	enum xb_mode mode;
	struct in_addr server_id;
	struct in_addr mask;   /* full mode */
	struct in_addr router; /* full mode; 0: none */
	uint32_t lease_s;      /* full mode; 0xffffffff: infinite */
};

/* Fills *t. Returns 0, or -EMSGSIZE if the options do not fit. In proxy
 * mode a template is valid only for a PXE class with a boot file; in full
 * mode every class is valid (XB_CLASS_UNKNOWN gets the plain options). */
int dhcp_tmpl_build(struct xb_tmpl *t, const struct config *cfg,
		    const struct dhcp_tmpl_params *p, int class);

/* The canonical reply (OFFER or ACK, proxy or not) per xboot/dhcp.h.
 * hostname: NULL or "" for no option 12. Returns the length or -EMSGSIZE. */
int dhcp_reply_build(uint8_t *buf, size_t cap, const struct dhcp_request *req,
		     const struct xb_tmpl *t, int msgtype,
		     struct in_addr yiaddr, const char *hostname);

#define DHCP_REPLY_NO_LEASE 0x1  /* INFORM: leave out 51, 58, 59 */
#define DHCP_REPLY_BOOT_ITEM 0x2 /* boot server ACK: 43 = 71 echoed */

int dhcp_reply_build_ex(uint8_t *buf, size_t cap,
			const struct dhcp_request *req,
			const struct xb_tmpl *t, int msgtype,
			struct in_addr yiaddr, const char *hostname,
			unsigned int flags);

/* DHCPNAK; message: NULL for no option 56. */
int dhcp_nak_build(uint8_t *buf, size_t cap, const struct dhcp_request *req,
		   struct in_addr server_id, const char *message);

#endif /* XBOOTD_DHCP_REPLY_H */
