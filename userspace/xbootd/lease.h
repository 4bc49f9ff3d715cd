/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The lease allocator: which address belongs to which client, per subnet.
 *
 * The in-memory tables are the authority while xbootd runs; every change is
 * written through to the store (store.h) so a restart rebuilds them. When the
 * XDP fast path is on, part of each subnet's free addresses is lent to it via
 * its free-address queue (xdp_ctl.c): a lent address is "queued", owned by
 * XDP until an XB_EV_OFFER for it comes back over the ring buffer (then it is
 * an OFFERED lease like any other) or xbootd takes it back. An address is
 * never in two of {free, queued, leased, reserved} at once, so it is never
 * handed to two clients.
 */
#ifndef XBOOTD_LEASE_H
#define XBOOTD_LEASE_H

#include <stdint.h>
#include <time.h>
#include <netinet/in.h>

#include "config.h"
#include "store.h"
#include "xboot/xdp.h"

struct lease_db;

/* How long an OFFERed address stays held for the client (also XDP's
 * xb_config.offer_hold_s). */
#define LEASE_OFFER_HOLD_S 30

struct lease {
	uint8_t mac[6];
	struct in_addr ip;
	int state;        /* enum lease_state */
	int subnet;       /* index into the config's ranges */
	int64_t expires;  /* wall clock seconds */
	char hostname[64];
};

/* How the allocator tells the XDP side about changes; all optional. */
struct lease_hooks {
	/* A lease was created, renewed, or ended (state LEASE_FREE): mirror it
	 * into the XDP lease map (or delete it there). */
	void (*changed)(void *ctx, const struct lease *l);
	/* The slow path found no free address of its own in `subnet`: take one
	 * back from XDP's queue. Returns 0 and sets *ip, or -ENOENT. */
	int (*take_queued)(void *ctx, int subnet, struct in_addr *ip);
};

int lease_db_create(struct lease_db **out, const struct config *cfg,
		    struct store *st);
void lease_db_destroy(struct lease_db *db);
void lease_db_set_hooks(struct lease_db *db, const struct lease_hooks *h,
			void *ctx);
/* Where offers and ACKs (the slow path's and XDP's) move the client's
 * machine to MPHASE_OFFERED / MPHASE_BOUND; NULL (the default): nowhere. */
struct machines;
void lease_db_set_machines(struct lease_db *db, struct machines *m);
/* Tell the allocator about a local interface address: ranges with mask 0
 * inside addr/mask take that prefix, and ranges on it become local
 * (XB_SUBNET_F_LOCAL: they serve requests with giaddr 0). Returns how many
 * ranges are on it. dhcp_server_create() calls it for its interface. */
int lease_db_set_local(struct lease_db *db, struct in_addr addr,
		       struct in_addr mask);
/* Wall clock used for offers, binds and expiry (tests); default time(). */
void lease_db_set_clock(struct lease_db *db, time_t (*now)(void *arg),
			void *arg);

/* Subnets are the configured ranges, same index. */
int lease_nsubnets(struct lease_db *db);
/* net/mask/lease_s/flags of a subnet, as XDP's xb_subnets wants them. */
int lease_subnet_info(struct lease_db *db, int subnet, struct xb_subnet *out);
/* The subnet whose net/mask contains addr, -ENOENT if none. */
int lease_subnet_of(struct lease_db *db, struct in_addr addr);
/* The `host=` entry for mac, or NULL. */
const struct cfg_host *lease_find_host(struct lease_db *db,
				       const uint8_t mac[6]);

/* Which configured range (subnet) serves a request that arrived on the
 * local interface (giaddr 0: the range on the interface's prefix) or via a
 * relay (the range whose subnet contains giaddr). -ENOENT if none. */
int lease_subnet_for(struct lease_db *db, struct in_addr giaddr);

/* The address mac holds (offered or bound; bound wins), or NULL. */
const struct lease *lease_find_mac(struct lease_db *db, const uint8_t mac[6]);
/* What is known about ip: held, declined, released, or free but with its
 * last client remembered (state LEASE_FREE, that client's MAC); NULL for
 * an address nobody has had, one lent to XDP, or one not ours. */
const struct lease *lease_find_ip(struct lease_db *db, struct in_addr ip);

/* Choose an address for mac in subnet: its reservation, its current or
 * previous lease, `requested` if free, else any free address (then one
 * taken back from XDP). Does not change state. */
int lease_choose(struct lease_db *db, const uint8_t mac[6], int subnet,
		 struct in_addr requested, struct in_addr *ip);
/* State changes; each writes through to the store and calls hooks. */
int lease_offer(struct lease_db *db, const uint8_t mac[6], int subnet,
		struct in_addr ip, uint32_t hold_s);
int lease_bind(struct lease_db *db, const uint8_t mac[6], int subnet,
	       struct in_addr ip, uint32_t lease_s, const char *hostname);
int lease_release(struct lease_db *db, const uint8_t mac[6],
		  struct in_addr ip);
int lease_decline(struct lease_db *db, const uint8_t mac[6],
		  struct in_addr ip, uint32_t quarantine_s);
/* Reclaim expired offers and leases; returns how many. */
int lease_expire(struct lease_db *db, time_t now);

/* XDP lending: move up to `max` free addresses of subnet to the caller
 * (they become queued); and give a queued address back (it becomes free). */
int lease_lend(struct lease_db *db, int subnet, struct in_addr *ips, int max);
void lease_unlend(struct lease_db *db, int subnet, struct in_addr ip);
/* How many of subnet's addresses are lent to XDP right now; O(1). */
int lease_queued(struct lease_db *db, int subnet);
/* Record what XDP did (XB_EV_OFFER / XB_EV_ACK from the ring buffer). */
int lease_apply_xdp_event(struct lease_db *db, const struct xb_event *ev);

/* Self-check of the allocator's invariants (tests, fuzzing): 0 or
 * -EUCLEAN after logging what is wrong. O(addresses). */
int lease_db_check(struct lease_db *db);

int lease_foreach(struct lease_db *db,
		  int (*fn)(const struct lease *l, void *arg), void *arg);
/* Counts for status: per subnet total, free, queued, leased (subnet -1:
 * every subnet). */
struct lease_counts {
	int total, free, queued, offered, bound, declined;
};
void lease_count(struct lease_db *db, int subnet, struct lease_counts *c);

#endif /* XBOOTD_LEASE_H */
