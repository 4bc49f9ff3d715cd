/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The XDP fast path's controller: loads the BPF object (libbpf skeleton),
 * attaches it to each interface, writes policy into its maps, lends free
 * addresses to its queues, and turns its ring-buffer events into leases.
 * One program instance serves every interface (xb_config is keyed by
 * ifindex).
 */
#ifndef XBOOTD_XDP_CTL_H
#define XBOOTD_XDP_CTL_H

#include <stdint.h>
#include <time.h>

#include "config.h"
#include "dhcp_server.h"
#include "lease.h"
#include "xboot/xdp.h"

struct xdp_ctl;

/* Load the program. -EOPNOTSUPP (after a clear pr_warn) when the kernel
 * cannot run it; with xdp=auto the caller then goes on without XDP. */
int xdp_ctl_open(struct xdp_ctl **out, const struct config *cfg);
/* Attach to one interface (native, generic, or whatever works for auto). */
int xdp_ctl_attach(struct xdp_ctl *x, const char *ifname,
		   const struct dhcp_server_iface *iface);
/* Write (or rewrite, on reload) every policy map from the server and the
 * lease table, install the lease hooks, and fill the free queues. */
int xdp_ctl_sync(struct xdp_ctl *x, struct dhcp_server *srv,
		 struct lease_db *db);
/* The ring buffer's epoll fd: readable when events are waiting. */
int xdp_ctl_event_fd(struct xdp_ctl *x);
/* Consume pending events into the lease table; returns how many. */
int xdp_ctl_poll_events(struct xdp_ctl *x);
/* Periodic work: top up the free queues. */
void xdp_ctl_tick(struct xdp_ctl *x, time_t now);
/* Sum of the per-CPU counters. */
int xdp_ctl_stats(struct xdp_ctl *x, uint64_t out[XB_STAT_MAX]);
/* "native", "generic" for an interface (ifindex), or "off". */
const char *xdp_ctl_mode(struct xdp_ctl *x, int ifindex);
/* Detach everywhere and give queued addresses back to the lease table. */
void xdp_ctl_close(struct xdp_ctl *x);

#endif /* XBOOTD_XDP_CTL_H */
