// SPDX-License-Identifier: GPL-2.0
/*
 * Reply templates (per subnet and class) and reply assembly from them.
 * The layout is fixed in xboot/dhcp.h and the option order in dhcp_reply.h;
 * the XDP program builds byte-identical replies from the same templates.
 */
#include <errno.h>
#include <string.h>

#include "dhcp_reply.h"

#define LEASE_INFINITE 0xffffffffu

static bool class_has_vendor_opts(int class)
{
	return class == XB_CLASS_BIOS || class == XB_CLASS_EFI64 ||
	       class == XB_CLASS_ARM64;
}

static bool class_is_bootable(int class)
{
	return class != XB_CLASS_PLAIN && class != XB_CLASS_UNKNOWN;
}

static void put_lease_times(struct dhcp_writer *w, uint32_t lease_s)
{
	uint32_t t1 = lease_s / 2, t2 = (uint32_t)((uint64_t)lease_s * 7 / 8);

	if (lease_s == LEASE_INFINITE)
		t1 = t2 = LEASE_INFINITE;
	dhcp_put_u32(w, DHO_LEASE_TIME, lease_s);
	dhcp_put_u32(w, DHO_RENEWAL_TIME, t1);
	dhcp_put_u32(w, DHO_REBINDING_TIME, t2);
}

static void put_network(struct dhcp_writer *w, const struct config *cfg,
			const struct dhcp_tmpl_params *p)
{
	dhcp_put_addr(w, DHO_SUBNET_MASK, p->mask);
	if (p->router.s_addr)
		dhcp_put_addr(w, DHO_ROUTER, p->router);
	if (cfg->ndns > 0) {
		int n = cfg->ndns < CFG_MAX_DNS ? cfg->ndns : CFG_MAX_DNS;

		dhcp_put_opt(w, DHO_DNS, cfg->dns, (size_t)n * 4);
	}
	if (cfg->domain[0])
		dhcp_put_opt(w, DHO_DOMAIN_NAME, cfg->domain,
			     strnlen(cfg->domain, sizeof(cfg->domain)));
}

/* PXE 2.1 sub-options 8/9/10: one boot server (us) and a one-item menu. */
static void put_pxe_menu(struct dhcp_writer *v, const struct config *cfg,
			 struct in_addr server)
{
	uint8_t b[DHCP_OPT_MAX];
	size_t n = strnlen(cfg->pxe_menu, sizeof(cfg->pxe_menu));
	size_t plen = strlen(PXE_MENU_PROMPT_TEXT);

	dhcp_put_u8(v, PXE_DISCOVERY_CONTROL, PXE_DISCOVERY_MENU);
	b[0] = PXE_MENU_SERVER_TYPE >> 8;
	b[1] = PXE_MENU_SERVER_TYPE & 0xff;
	b[2] = 1;
	memcpy(b + 3, &server.s_addr, 4);
	dhcp_put_opt(v, PXE_BOOT_SERVERS, b, 7);
	b[2] = (uint8_t)n;
	memcpy(b + 3, cfg->pxe_menu, n);
	dhcp_put_opt(v, PXE_BOOT_MENU, b, 3 + n);
	b[0] = cfg->pxe_timeout;
	memcpy(b + 1, PXE_MENU_PROMPT_TEXT, plen);
	dhcp_put_opt(v, PXE_MENU_PROMPT, b, 1 + plen);
}

static void put_vendor_opts(struct dhcp_writer *w, const struct config *cfg,
			    struct in_addr server)
{
	uint8_t buf[DHCP_OPT_MAX];
	struct dhcp_writer v;

	dhcp_writer_init(&v, buf, sizeof(buf));
	if (cfg->pxe_menu[0])
		put_pxe_menu(&v, cfg, server);
	else
		dhcp_put_u8(&v, PXE_DISCOVERY_CONTROL, PXE_DISCOVERY_USE_FILE);
	dhcp_put_end(&v);
	if (v.err)
		w->err = v.err;
	else
		dhcp_put_opt(w, DHO_VENDOR_OPTS, buf, v.len);
}

static void put_boot(struct dhcp_writer *w, struct xb_tmpl *t,
		     const struct config *cfg,
		     const struct dhcp_tmpl_params *p, int class)
{
	const char *file = cfg->boot_file[class];
	const char *vc = class == XB_CLASS_HTTP ? "HTTPClient" : "PXEClient";

	/* iPXE takes a full server's offer that says PXEClient for a
	 * ProxyDHCP offer too and asks again on 4011; without it, it waits
	 * for ProxyDHCP offers. Its own setting no-pxedhcp (175.176 = 1)
	 * tells it to do neither. A ProxyDHCP server needs the vendor class:
	 * it is what makes its offer a proxy offer. */
	static const uint8_t ipxe_no_pxedhcp[] = { 176, 1, 1 };

	if (class == XB_CLASS_IPXE && p->mode == XB_MODE_FULL)
		dhcp_put_opt(w, DHO_IPXE_ENCAP, ipxe_no_pxedhcp,
			     sizeof(ipxe_no_pxedhcp));
	else
		dhcp_put_opt(w, DHO_VENDOR_CLASS, vc, strlen(vc));
	if (class_has_vendor_opts(class))
		t->siaddr = p->server_id.s_addr;
	if (!file[0])
		return;
	memcpy(t->file, file, strnlen(file, DHCP_FILE_LEN));
	if (class_has_vendor_opts(class))
		put_vendor_opts(w, cfg, p->server_id);
}

int dhcp_tmpl_build(struct xb_tmpl *t, const struct config *cfg,
		    const struct dhcp_tmpl_params *p, int class)
{
	bool full = p->mode == XB_MODE_FULL;
	struct dhcp_writer w;

	memset(t, 0, sizeof(*t));
	if (class < 0 || class >= XB_NCLASS)
		return -EINVAL;
	if (!full && (!class_is_bootable(class) || !cfg->boot_file[class][0]))
		return 0; /* ProxyDHCP only answers clients it can boot */

	dhcp_writer_init(&w, t->opts, sizeof(t->opts));
	dhcp_put_addr(&w, DHO_SERVER_ID, p->server_id);
	if (full) {
		put_lease_times(&w, p->lease_s);
		put_network(&w, cfg, p);
	}
	if (class_is_bootable(class))
		put_boot(&w, t, cfg, p, class);
	if (w.err) {
		memset(t, 0, sizeof(*t));
		return w.err;
	}
	t->opts_len = (uint16_t)w.len;
	t->flags = XB_TMPL_F_VALID;
	return 0;
}

static void put_header(uint8_t *buf, const struct dhcp_request *req,
		       const struct xb_tmpl *t, int msgtype,
		       struct in_addr yiaddr)
{
	struct dhcp_msg *m = (struct dhcp_msg *)buf;

	memset(buf, 0, DHCP_FIXED_LEN);
	m->op = BOOTP_REPLY;
	m->htype = BOOTP_HTYPE_ETHER;
	m->hlen = 6;
	m->xid = req->xid;
	m->flags = req->flags;
	if (msgtype == DHCPACK)
		m->ciaddr = req->ciaddr.s_addr;
	m->yiaddr = yiaddr.s_addr;
	m->giaddr = req->giaddr.s_addr;
	memcpy(m->chaddr, req->chaddr, sizeof(m->chaddr));
	if (t) {
		m->siaddr = t->siaddr;
		memcpy(m->file, t->file, DHCP_FILE_LEN);
	}
	m->magic = htonl(DHCP_MAGIC);
}

static bool is_lease_opt(uint8_t code)
{
	return code == DHO_LEASE_TIME || code == DHO_RENEWAL_TIME ||
	       code == DHO_REBINDING_TIME;
}

static void put_boot_item(struct dhcp_writer *w,
			  const struct dhcp_request *req)
{
	uint8_t b[9] = {
		PXE_BOOT_ITEM, 4,
		(uint8_t)(req->boot_item_type >> 8),
		(uint8_t)req->boot_item_type,
		(uint8_t)(req->boot_item_layer >> 8),
		(uint8_t)req->boot_item_layer,
		DHO_END,
	};

	dhcp_put_opt(w, DHO_VENDOR_OPTS, b, 7);
}

/* Copies the template's options, leaving out or replacing some of them.
 * The template is ours, but the walk is bounded all the same. */
static void put_tmpl_filtered(struct dhcp_writer *w,
			      const struct dhcp_request *req,
			      const struct xb_tmpl *t, unsigned int flags)
{
	size_t i = 0, len = t->opts_len;

	if (len > sizeof(t->opts))
		len = sizeof(t->opts);
	while (i + 2 <= len) {
		uint8_t code = t->opts[i];
		size_t n = 2 + (size_t)t->opts[i + 1];

		if (i + n > len)
			break;
		if ((flags & DHCP_REPLY_BOOT_ITEM) && code == DHO_VENDOR_OPTS)
			put_boot_item(w, req);
		else if (!((flags & DHCP_REPLY_NO_LEASE) && is_lease_opt(code)))
			dhcp_put_raw(w, t->opts + i, n);
		i += n;
	}
}

int dhcp_reply_build_ex(uint8_t *buf, size_t cap,
			const struct dhcp_request *req,
			const struct xb_tmpl *t, int msgtype,
			struct in_addr yiaddr, const char *hostname,
			unsigned int flags)
{
	struct dhcp_writer w;

	if (cap < DHCP_FIXED_LEN)
		return -EMSGSIZE;
	put_header(buf, req, t, msgtype, yiaddr);
	dhcp_writer_init(&w, buf, cap);
	w.len = DHCP_FIXED_LEN;
	dhcp_put_u8(&w, DHO_MSG_TYPE, (uint8_t)msgtype);
	if (flags)
		put_tmpl_filtered(&w, req, t, flags);
	else
		dhcp_put_raw(&w, t->opts,
			     t->opts_len < sizeof(t->opts) ? t->opts_len :
							     sizeof(t->opts));
	if (hostname && hostname[0])
		dhcp_put_opt(&w, DHO_HOSTNAME, hostname,
			     strnlen(hostname, XB_HOSTNAME_MAX));
	if (req->has_uuid && xb_class_is_pxe(req->class))
		dhcp_put_opt(&w, DHO_CLIENT_UUID, req->uuid, req->uuid_len);
	if (req->has_relay)
		dhcp_put_opt(&w, DHO_RELAY_AGENT, req->relay, req->relay_len);
	dhcp_put_end(&w);
	dhcp_pad(&w, DHCP_REPLY_MIN_LEN, 4);
	return w.err ? w.err : (int)w.len;
}

int dhcp_reply_build(uint8_t *buf, size_t cap, const struct dhcp_request *req,
		     const struct xb_tmpl *t, int msgtype,
		     struct in_addr yiaddr, const char *hostname)
{
	return dhcp_reply_build_ex(buf, cap, req, t, msgtype, yiaddr,
				   hostname, 0);
}

int dhcp_nak_build(uint8_t *buf, size_t cap, const struct dhcp_request *req,
		   struct in_addr server_id, const char *message)
{
	struct in_addr none = { 0 };
	struct dhcp_writer w;
	struct dhcp_msg *m = (struct dhcp_msg *)buf;

	if (cap < DHCP_FIXED_LEN)
		return -EMSGSIZE;
	put_header(buf, req, NULL, DHCPNAK, none);
	/* RFC 2131 4.3.2: a relay must broadcast the NAK to the client. */
	if (req->giaddr.s_addr)
		m->flags |= htons(BOOTP_FLAG_BROADCAST);
	dhcp_writer_init(&w, buf, cap);
	w.len = DHCP_FIXED_LEN;
	dhcp_put_u8(&w, DHO_MSG_TYPE, DHCPNAK);
	dhcp_put_addr(&w, DHO_SERVER_ID, server_id);
	if (message && message[0])
		dhcp_put_opt(&w, DHO_MESSAGE, message, strlen(message));
	if (req->has_relay)
		dhcp_put_opt(&w, DHO_RELAY_AGENT, req->relay, req->relay_len);
	dhcp_put_end(&w);
	dhcp_pad(&w, DHCP_REPLY_MIN_LEN, 4);
	return w.err ? w.err : (int)w.len;
}
