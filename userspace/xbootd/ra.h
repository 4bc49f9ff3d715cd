/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Quiet IPv6 router advertisements for PXE clients (`ipv6-ra=pxe-clients`).
 *
 * iPXE configures IPv4 (DHCP) and IPv6 (router discovery) at once and goes
 * on only when both are done: on a provisioning network without an IPv6
 * router it solicits for about 15 s before it gives up, and every machine
 * of a boot storm waits that long. A router advertisement with a router
 * lifetime of 0 (not a default router), no prefix and neither M nor O set
 * ends that wait at once and configures nothing. xbootd sends one only in
 * reply to a solicitation, only to its sender (unicast), and only when the
 * sender's MAC (its source link-layer address option) holds a lease from
 * us: other hosts on the link never hear it.
 */
#ifndef XBOOTD_RA_H
#define XBOOTD_RA_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct xbootd;
struct ra;

/* The parts of a router solicitation that decide the answer. */
struct ra_solicit {
	uint8_t mac[6]; /* source link-layer address option */
	int has_mac;
};

/* Parse an ICMPv6 message received with hop limit hops: 0 for a valid
 * router solicitation (RFC 4861 6.1.1), else a negative errno. */
int ra_parse_solicit(const uint8_t *buf, size_t len, int hops,
		     struct ra_solicit *out);
/* Build the advertisement (with our link-layer address) into buf; its
 * length, or -ENOSPC. */
int ra_build_advert(uint8_t *buf, size_t len, const uint8_t mac[6]);

/* One raw ICMPv6 socket per interface, polled from the loop; NULL *out
 * and 0 when ipv6-ra is off. An interface without IPv6 is warned about
 * and skipped. */
int ra_open(struct ra **out, struct loop *l, struct xbootd *d);
void ra_close(struct ra *r);
/* A completion of LOOP_OP_RA_POLL. */
void ra_handle(struct ra *r, void *obj, int res);

#endif /* XBOOTD_RA_H */
