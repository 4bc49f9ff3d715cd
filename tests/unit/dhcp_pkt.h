/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Crafting DHCP requests in tests: a BOOTREQUEST header, then options
 * appended one by one, exactly as a client would put them on the wire.
 */
#ifndef XBOOT_TEST_DHCP_PKT_H
#define XBOOT_TEST_DHCP_PKT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "xboot/dhcp.h"

struct pkt {
	uint8_t b[1500];
	size_t len;
};

static inline struct dhcp_msg *pkt_msg(struct pkt *p)
{
	return (struct dhcp_msg *)p->b;
}

static inline void pkt_opt(struct pkt *p, uint8_t code, const void *data,
			   uint8_t len)
{
	size_t at = p->len;

	if (at + 2 + len > sizeof(p->b))
		return;
	p->b[at] = code;
	p->b[at + 1] = len;
	memcpy(&p->b[at + 2], data, len);
	p->len = at + 2 + len;
}

static inline void pkt_opt_u8(struct pkt *p, uint8_t code, uint8_t v)
{
	pkt_opt(p, code, &v, 1);
}

static inline void pkt_opt_ip(struct pkt *p, uint8_t code, const char *ip)
{
	struct in_addr a;

	inet_pton(AF_INET, ip, &a);
	pkt_opt(p, code, &a.s_addr, 4);
}

static inline void pkt_opt_str(struct pkt *p, uint8_t code, const char *s)
{
	pkt_opt(p, code, s, (uint8_t)strlen(s));
}

/* Header and option 53; no END yet. */
static inline void pkt_init(struct pkt *p, uint8_t msgtype,
			    const uint8_t mac[6], uint32_t xid)
{
	struct dhcp_msg *m = pkt_msg(p);

	memset(p, 0, sizeof(*p));
	m->op = BOOTP_REQUEST;
	m->htype = BOOTP_HTYPE_ETHER;
	m->hlen = 6;
	m->xid = htonl(xid);
	memcpy(m->chaddr, mac, 6);
	m->magic = htonl(DHCP_MAGIC);
	p->len = DHCP_FIXED_LEN;
	if (msgtype)
		pkt_opt_u8(p, DHO_MSG_TYPE, msgtype);
}

/* END, then padding to the 300 bytes most clients send. */
static inline void pkt_end(struct pkt *p)
{
	p->b[p->len++] = DHO_END;
	if (p->len < 300)
		p->len = 300;
}

/* What a PXE ROM adds: 60 PXEClient:Arch:..., 93, 94, 97. */
static inline void pkt_pxe(struct pkt *p, uint16_t arch)
{
	static const uint8_t ndi[3] = { 1, 2, 1 };
	uint8_t uuid[17] = { 0 };
	uint8_t a[2] = { (uint8_t)(arch >> 8), (uint8_t)arch };
	char vc[40];
	int i;

	snprintf(vc, sizeof(vc), "PXEClient:Arch:%05u:UNDI:002001", arch);
	pkt_opt_str(p, DHO_VENDOR_CLASS, vc);
	pkt_opt(p, DHO_CLIENT_ARCH, a, 2);
	pkt_opt(p, DHO_CLIENT_NDI, ndi, 3);
	for (i = 1; i < 17; i++)
		uuid[i] = (uint8_t)(0xa0 + i);
	pkt_opt(p, DHO_CLIENT_UUID, uuid, 17);
}

static inline struct in_addr ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a;
}

/* An option of a reply (buf holds the whole BOOTP message), or NULL. */
static inline const uint8_t *reply_opt(const uint8_t *buf, size_t len,
				       uint8_t code, uint8_t *olen)
{
	size_t i = DHCP_FIXED_LEN;

	while (i + 2 <= len && buf[i] != DHO_END) {
		if (buf[i] == DHO_PAD) {
			i++;
			continue;
		}
		if (buf[i] == code) {
			*olen = buf[i + 1];
			return buf + i + 2;
		}
		i += 2 + (size_t)buf[i + 1];
	}
	return NULL;
}

static inline int reply_msgtype(const uint8_t *buf, size_t len)
{
	uint8_t n;
	const uint8_t *o = reply_opt(buf, len, DHO_MSG_TYPE, &n);

	return o && n == 1 ? o[0] : -1;
}

#endif /* XBOOT_TEST_DHCP_PKT_H */
