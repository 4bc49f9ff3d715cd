/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface facts over rtnetlink (libmnl): what xbootd needs to know about
 * an interface it serves, read once at start and again on reload.
 */
#ifndef XBOOTD_RTNL_H
#define XBOOTD_RTNL_H

#include <stdint.h>
#include <netinet/in.h>

struct rtnl_iface {
	char name[16];       /* IFNAMSIZ */
	int ifindex;
	uint8_t mac[6];
	int up;              /* IFF_UP */
	struct in_addr addr; /* first IPv4 address */
	int prefix;
	struct in_addr mask;
};

/* Fill *out for the interface called name. -ENODEV if there is none,
 * -EADDRNOTAVAIL if it has no IPv4 address; each logged with pr_err. */
int rtnl_iface_get(const char *name, struct rtnl_iface *out);

#endif /* XBOOTD_RTNL_H */
