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
/*
 * The TFTP hot-block path. Load a hot file (fd read from offset 0, size
 * bytes) as file_id; its pages replace any earlier ones of that id.
 */
int xdp_ctl_tftp_load(struct xdp_ctl *x, uint32_t file_id, int fd,
		      uint64_t size, uint32_t generation);
/* Forget a file loaded with pages pages. */
void xdp_ctl_tftp_unload(struct xdp_ctl *x, uint32_t file_id,
			 uint32_t pages);
/* Sessions: register (replacing), read back, and delete (-ENOENT when the
 * program already ended it). */
int xdp_ctl_tftp_sess_add(struct xdp_ctl *x, const struct xb_tftp_key *k,
			  const struct xb_tftp_sess *v);
int xdp_ctl_tftp_sess_get(struct xdp_ctl *x, const struct xb_tftp_key *k,
			  struct xb_tftp_sess *v);
int xdp_ctl_tftp_sess_del(struct xdp_ctl *x, const struct xb_tftp_key *k);
/* Called from xdp_ctl_poll_events() for each XB_EV_TFTP_DONE. */
typedef void (*xdp_ctl_tftp_done_fn)(void *arg,
				     const struct xb_tftp_event *ev);
void xdp_ctl_set_tftp_hook(struct xdp_ctl *x, xdp_ctl_tftp_done_fn fn,
			   void *arg);
/* Where the hot-block path takes a DATA block's bytes from: "kfunc"
 * (xboot.ko's page cache; hot files are registered with the module and
 * sessions carry its file id and generation) or "map" (xb_blocks, filled
 * by xdp_ctl_tftp_load()). */
const char *xdp_ctl_block_source(const struct xdp_ctl *x);
/* Unique per opened program (0 for NULL): a reload that reopens it at
 * the same address is still seen as another one. */
uint64_t xdp_ctl_serial(const struct xdp_ctl *x);
/* Detach everywhere and give queued addresses back to the lease table. */
void xdp_ctl_close(struct xdp_ctl *x);

#endif /* XBOOTD_XDP_CTL_H */
