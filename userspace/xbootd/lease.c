// SPDX-License-Identifier: GPL-2.0
/*
 * The lease allocator.
 *
 * Every address xbootd may hand out has one slot: the pool addresses of
 * each range, contiguous, so an IP finds its slot by arithmetic, and after
 * them the `host=` addresses that lie outside every range, found through a
 * small hash. A slot is on at most one list: its subnet's free list (FIFO,
 * so never-used and long-free addresses go first and a client's previous
 * address stays free as long as possible) or the active list (offered,
 * bound, declined: what lease_expire() walks). A slot is also on the MAC
 * hash chain of the client it belongs or last belonged to, which is how a
 * returning client gets its previous address back.
 *
 * The one rule everything here keeps: a slot is in exactly one of free,
 * queued (lent to XDP), reserved-and-idle, or held (offered/bound/declined),
 * and only free slots, or slots already held by or reserved for the same
 * client, are ever given to a client.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "lease.h"
#include "log.h"
#include "machines.h"

#define NIL UINT32_MAX
/* All ranges together; a /12 of slots is ~120 MiB, more is a config slip. */
#define LEASE_MAX_ADDRS (1u << 20)
#define LEASE_INFINITE 0xffffffffu
#define EXPIRES_NEVER INT64_MAX

enum slot_list { ON_NONE, ON_FREE, ON_ACTIVE };

#define SLOT_QUEUED 0x1 /* lent to XDP's free queue */
#define SLOT_HASHED 0x2 /* on the MAC hash chain of l.mac */

struct slot {
	struct lease l;
	uint32_t prev, next; /* free or active list */
	uint32_t mac_next;   /* MAC hash chain */
	uint32_t resv;       /* index into db->hosts, NIL if not reserved */
	uint8_t flags;
	uint8_t list;        /* enum slot_list */
};

struct subnet {
	uint32_t start, end, base; /* host order; base: first slot */
	uint32_t net, mask;        /* host order */
	bool mask_given, local;
	uint32_t lease_s;
	uint32_t free_head, free_tail;
	uint32_t nqueued; /* slots with SLOT_QUEUED */
};

struct lease_db {
	struct subnet sub[CFG_MAX_RANGES];
	int nsub;
	struct slot *slots;
	uint32_t nslots, npool; /* [0, npool): ranges; then reservations */

	uint32_t *mac_heads, mac_mask;
	uint32_t *ip_tab, ip_mask;     /* extra slots by IP */
	struct cfg_host *hosts;
	int nhosts;
	uint32_t *host_tab, host_mask; /* hosts by MAC */

	uint32_t active_head, active_tail;

	struct store *st;
	struct machines *machines; /* phases; NULL: not tracked */
	struct lease_hooks hooks;
	void *hook_ctx;
	time_t (*now)(void *arg);
	void *now_arg;
};

static time_t default_now(void *arg)
{
	return time(NULL);
}

static time_t db_now(struct lease_db *db)
{
	return db->now(db->now_arg);
}

/* The client's machine is offered or bound (a DHCP offer or ACK, from
 * the slow path or XDP). machines_phase() writes nothing when that is
 * already so, which keeps renewals cheap. */
static void machine_phase(struct lease_db *db, const uint8_t mac[6],
			  int phase, struct in_addr ip)
{
	char text[INET_ADDRSTRLEN];

	if (!db->machines)
		return;
	inet_ntop(AF_INET, &ip, text, sizeof(text));
	machines_phase(db->machines, mac, phase, text, &ip);
}

static bool mac_eq(const uint8_t *a, const uint8_t *b)
{
	return !memcmp(a, b, 6);
}

static uint32_t mac_hash(const uint8_t mac[6])
{
	uint64_t v = 0;

	memcpy(&v, mac, 6);
	v *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(v >> 32);
}

static uint32_t ip_hash(uint32_t ip)
{
	return (uint32_t)(((uint64_t)ip * 0x9e3779b97f4a7c15ull) >> 32);
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

static uint32_t slot_id(const struct lease_db *db, const struct slot *s)
{
	return (uint32_t)(s - db->slots);
}

/* --- lists ----------------------------------------------------------- */

static void list_unlink(struct lease_db *db, struct slot *s, uint32_t *head,
			uint32_t *tail)
{
	if (s->prev != NIL)
		db->slots[s->prev].next = s->next;
	else
		*head = s->next;
	if (s->next != NIL)
		db->slots[s->next].prev = s->prev;
	else
		*tail = s->prev;
	s->prev = s->next = NIL;
	s->list = ON_NONE;
}

static void list_push(struct lease_db *db, struct slot *s, uint32_t *head,
		      uint32_t *tail, bool at_head, enum slot_list which)
{
	uint32_t id = slot_id(db, s);

	if (at_head) {
		s->prev = NIL;
		s->next = *head;
		if (*head != NIL)
			db->slots[*head].prev = id;
		else
			*tail = id;
		*head = id;
	} else {
		s->next = NIL;
		s->prev = *tail;
		if (*tail != NIL)
			db->slots[*tail].next = id;
		else
			*head = id;
		*tail = id;
	}
	s->list = which;
}

static void slot_unlist(struct lease_db *db, struct slot *s)
{
	struct subnet *sn;

	if (s->list == ON_ACTIVE) {
		list_unlink(db, s, &db->active_head, &db->active_tail);
	} else if (s->list == ON_FREE) {
		sn = &db->sub[s->l.subnet];
		list_unlink(db, s, &sn->free_head, &sn->free_tail);
	}
}

/* Only unreserved pool slots are ever on a free list. */
static bool slot_poolable(const struct lease_db *db, const struct slot *s)
{
	return slot_id(db, s) < db->npool && s->resv == NIL;
}

static void free_push(struct lease_db *db, struct slot *s, bool at_head)
{
	struct subnet *sn = &db->sub[s->l.subnet];

	slot_unlist(db, s);
	if (slot_poolable(db, s))
		list_push(db, s, &sn->free_head, &sn->free_tail, at_head,
			  ON_FREE);
}

static void active_push(struct lease_db *db, struct slot *s)
{
	if (s->list == ON_ACTIVE)
		return;
	slot_unlist(db, s);
	list_push(db, s, &db->active_head, &db->active_tail, false,
		  ON_ACTIVE);
}

/* --- MAC hash ---------------------------------------------------------- */

static void mac_unhash(struct lease_db *db, struct slot *s)
{
	uint32_t id = slot_id(db, s);
	uint32_t *p;

	if (!(s->flags & SLOT_HASHED))
		return;
	p = &db->mac_heads[mac_hash(s->l.mac) & db->mac_mask];
	while (*p != NIL && *p != id)
		p = &db->slots[*p].mac_next;
	if (*p == id)
		*p = s->mac_next;
	s->mac_next = NIL;
	s->flags &= ~SLOT_HASHED;
}

static void mac_rehash(struct lease_db *db, struct slot *s,
		       const uint8_t mac[6])
{
	uint32_t *head;

	if ((s->flags & SLOT_HASHED) && mac_eq(s->l.mac, mac))
		return;
	mac_unhash(db, s);
	memcpy(s->l.mac, mac, 6);
	head = &db->mac_heads[mac_hash(mac) & db->mac_mask];
	s->mac_next = *head;
	*head = slot_id(db, s);
	s->flags |= SLOT_HASHED;
}

static bool is_held(const struct slot *s)
{
	return !(s->flags & SLOT_QUEUED) &&
	       (s->l.state == LEASE_OFFERED || s->l.state == LEASE_BOUND);
}

static bool is_idle(const struct slot *s)
{
	return !(s->flags & SLOT_QUEUED) &&
	       (s->l.state == LEASE_FREE || s->l.state == LEASE_RELEASED);
}

/* --- lookups ----------------------------------------------------------- */

static struct slot *slot_by_ip(struct lease_db *db, struct in_addr ip)
{
	uint32_t a = ntohl(ip.s_addr), i;
	int r;

	for (r = 0; r < db->nsub; r++) {
		const struct subnet *sn = &db->sub[r];

		if (a >= sn->start && a <= sn->end)
			return &db->slots[sn->base + (a - sn->start)];
	}
	if (!db->ip_tab)
		return NULL;
	for (i = ip_hash(a) & db->ip_mask; db->ip_tab[i] != NIL;
	     i = (i + 1) & db->ip_mask) {
		struct slot *s = &db->slots[db->ip_tab[i]];

		if (s->l.ip.s_addr == ip.s_addr)
			return s;
	}
	return NULL;
}

static const struct cfg_host *host_by_mac(const struct lease_db *db,
					  const uint8_t mac[6])
{
	uint32_t i;

	if (!db->host_tab)
		return NULL;
	for (i = mac_hash(mac) & db->host_mask; db->host_tab[i] != NIL;
	     i = (i + 1) & db->host_mask) {
		const struct cfg_host *h = &db->hosts[db->host_tab[i]];

		if (mac_eq(h->mac, mac))
			return h;
	}
	return NULL;
}

static bool in_net(const struct subnet *sn, uint32_t a)
{
	return (a & sn->mask) == sn->net;
}

static bool same_net(const struct lease_db *db, int a, int b)
{
	return db->sub[a].net == db->sub[b].net &&
	       db->sub[a].mask == db->sub[b].mask;
}

/* Every change of SLOT_QUEUED goes through these, so the per-subnet count
 * that paces XDP's queue top-ups stays O(1) to read. */
static void slot_set_queued(struct lease_db *db, struct slot *s)
{
	if (!(s->flags & SLOT_QUEUED))
		db->sub[s->l.subnet].nqueued++;
	s->flags |= SLOT_QUEUED;
}

static void slot_clear_queued(struct lease_db *db, struct slot *s)
{
	if (s->flags & SLOT_QUEUED)
		db->sub[s->l.subnet].nqueued--;
	s->flags &= ~SLOT_QUEUED;
}

/* Whether slot s may be given to mac now. */
static bool slot_available(const struct lease_db *db, const struct slot *s,
			   const uint8_t mac[6])
{
	if (s->flags & SLOT_QUEUED)
		return false;
	if (s->l.state == LEASE_OFFERED || s->l.state == LEASE_BOUND)
		return mac_eq(s->l.mac, mac);
	if (s->l.state == LEASE_DECLINED)
		return false;
	return s->resv == NIL || mac_eq(db->hosts[s->resv].mac, mac);
}

enum mac_match { MATCH_HELD, MATCH_IDLE };

/* A slot of mac's in subnet's network: a held one, or an idle one it had
 * before. For MATCH_HELD a bound slot wins over an offered one. */
static struct slot *mac_slot(struct lease_db *db, const uint8_t mac[6],
			     int subnet, enum mac_match m)
{
	struct slot *best = NULL;
	uint32_t id = db->mac_heads[mac_hash(mac) & db->mac_mask];

	for (; id != NIL; id = db->slots[id].mac_next) {
		struct slot *s = &db->slots[id];

		if (!mac_eq(s->l.mac, mac))
			continue;
		if (subnet >= 0 && (s->l.subnet < 0 ||
				    !same_net(db, s->l.subnet, subnet)))
			continue;
		if (m == MATCH_IDLE && is_idle(s) && slot_available(db, s, mac))
			return s;
		if (m == MATCH_HELD && is_held(s) &&
		    (!best || s->l.state == LEASE_BOUND))
			best = s;
	}
	return best;
}

/* --- write-through ----------------------------------------------------- */

static void persist(struct lease_db *db, const struct slot *s)
{
	struct lease_rec rec;
	int err;

	if (!db->st)
		return;
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.mac, s->l.mac, 6);
	rec.ip = s->l.ip;
	rec.state = s->l.state;
	rec.expires = s->l.expires;
	memcpy(rec.hostname, s->l.hostname, sizeof(rec.hostname));
	err = store_lease_put(db->st, &rec);
	if (err)
		pr_warn_ratelimited("lease %s: cannot store: %s",
				    inet_ntoa(s->l.ip), strerror(-err));
}

static void notify(struct lease_db *db, const struct slot *s, bool ended)
{
	struct lease l;

	if (!db->hooks.changed)
		return;
	l = s->l;
	if (ended)
		l.state = LEASE_FREE;
	db->hooks.changed(db->hook_ctx, &l);
}

/* --- state changes ----------------------------------------------------- */

/* s stops being held: back to its free list (or idle reservation). The
 * client's MAC stays on the slot so it can have the address back. */
static void slot_end(struct lease_db *db, struct slot *s, int state)
{
	bool was_held = is_held(s);

	s->l.state = state;
	free_push(db, s, false);
	if (was_held)
		notify(db, s, true);
}

static void slot_hold(struct lease_db *db, struct slot *s,
		      const uint8_t mac[6], int state, int64_t expires)
{
	if (!mac_eq(s->l.mac, mac))
		s->l.hostname[0] = '\0';
	mac_rehash(db, s, mac);
	slot_clear_queued(db, s);
	s->l.state = state;
	s->l.expires = expires;
	active_push(db, s);
}

/* A client holds one address per network: drop its other offers (and,
 * when it binds a new one, its other bound address there). */
static void drop_others(struct lease_db *db, const struct slot *keep,
			bool bound_too)
{
	uint32_t id = db->mac_heads[mac_hash(keep->l.mac) & db->mac_mask];

	while (id != NIL) {
		struct slot *s = &db->slots[id];

		id = s->mac_next;
		if (s == keep || !mac_eq(s->l.mac, keep->l.mac) || !is_held(s))
			continue;
		if (s->l.state == LEASE_BOUND &&
		    (!bound_too || s->l.subnet < 0 || keep->l.subnet < 0 ||
		     !same_net(db, s->l.subnet, keep->l.subnet)))
			continue;
		slot_end(db, s, LEASE_RELEASED);
		persist(db, s);
	}
}

static int64_t expiry(struct lease_db *db, uint32_t secs)
{
	if (secs == LEASE_INFINITE)
		return EXPIRES_NEVER;
	return (int64_t)db_now(db) + secs;
}

/* The subnet a slot counts in: its range, or for a reservation outside
 * the ranges the subnet of the request that bound it. */
static void slot_set_subnet(struct lease_db *db, struct slot *s, int subnet)
{
	if (slot_id(db, s) >= db->npool && subnet >= 0 && subnet < db->nsub)
		s->l.subnet = subnet;
}

static struct slot *free_head_in_net(struct lease_db *db, int subnet)
{
	int r;

	if (db->sub[subnet].free_head != NIL)
		return &db->slots[db->sub[subnet].free_head];
	for (r = 0; r < db->nsub; r++)
		if (r != subnet && same_net(db, r, subnet) &&
		    db->sub[r].free_head != NIL)
			return &db->slots[db->sub[r].free_head];
	return NULL;
}

static struct slot *take_back_queued(struct lease_db *db, int subnet)
{
	struct in_addr ip;
	struct slot *s;

	if (!db->hooks.take_queued ||
	    db->hooks.take_queued(db->hook_ctx, subnet, &ip))
		return NULL;
	s = slot_by_ip(db, ip);
	if (!s || !(s->flags & SLOT_QUEUED)) {
		pr_warn_ratelimited("XDP returned %s, which it did not hold",
				    inet_ntoa(ip));
		return NULL;
	}
	slot_clear_queued(db, s);
	free_push(db, s, true);
	return s;
}

static struct slot *choose_slot(struct lease_db *db, const uint8_t mac[6],
				int subnet, struct in_addr requested)
{
	struct slot *s;

	s = mac_slot(db, mac, subnet, MATCH_HELD);
	if (s)
		return s;
	if (requested.s_addr && in_net(&db->sub[subnet],
				       ntohl(requested.s_addr))) {
		s = slot_by_ip(db, requested);
		if (s && slot_poolable(db, s) && slot_available(db, s, mac))
			return s;
	}
	s = mac_slot(db, mac, subnet, MATCH_IDLE);
	if (s && slot_poolable(db, s))
		return s;
	s = free_head_in_net(db, subnet);
	if (s)
		return s;
	return take_back_queued(db, subnet);
}

int lease_choose(struct lease_db *db, const uint8_t mac[6], int subnet,
		 struct in_addr requested, struct in_addr *ip)
{
	const struct cfg_host *h;
	struct slot *s;

	if (subnet < 0 || subnet >= db->nsub)
		return -EINVAL;
	h = host_by_mac(db, mac);
	if (h && h->ip.s_addr && in_net(&db->sub[subnet], ntohl(h->ip.s_addr))) {
		*ip = h->ip;
		return 0;
	}
	s = choose_slot(db, mac, subnet, requested);
	if (!s)
		return -ENOSPC;
	*ip = s->l.ip;
	return 0;
}

int lease_offer(struct lease_db *db, const uint8_t mac[6], int subnet,
		struct in_addr ip, uint32_t hold_s)
{
	struct slot *s = slot_by_ip(db, ip);
	int64_t until = expiry(db, hold_s);

	if (!s)
		return -ENOENT;
	if (!slot_available(db, s, mac))
		return -EBUSY;
	machine_phase(db, mac, MPHASE_OFFERED, ip);
	if (s->l.state == LEASE_BOUND) {
		/* Re-offering a bound lease (client rebooted): keep it bound. */
		if (s->l.expires < until)
			s->l.expires = until;
		return 0;
	}
	slot_hold(db, s, mac, LEASE_OFFERED, until);
	slot_set_subnet(db, s, subnet);
	drop_others(db, s, false);
	persist(db, s);
	notify(db, s, false);
	return 0;
}

int lease_bind(struct lease_db *db, const uint8_t mac[6], int subnet,
	       struct in_addr ip, uint32_t lease_s, const char *hostname)
{
	struct slot *s = slot_by_ip(db, ip);

	if (!s)
		return -ENOENT;
	if (!slot_available(db, s, mac))
		return -EBUSY;
	slot_hold(db, s, mac, LEASE_BOUND, expiry(db, lease_s));
	slot_set_subnet(db, s, subnet);
	if (hostname)
		snprintf(s->l.hostname, sizeof(s->l.hostname), "%s", hostname);
	drop_others(db, s, true);
	persist(db, s);
	notify(db, s, false);
	machine_phase(db, mac, MPHASE_BOUND, ip);
	return 0;
}

int lease_release(struct lease_db *db, const uint8_t mac[6],
		  struct in_addr ip)
{
	struct slot *s = slot_by_ip(db, ip);

	if (!s || !is_held(s) || !mac_eq(s->l.mac, mac))
		return -ENOENT;
	slot_end(db, s, LEASE_RELEASED);
	persist(db, s);
	return 0;
}

int lease_decline(struct lease_db *db, const uint8_t mac[6],
		  struct in_addr ip, uint32_t quarantine_s)
{
	struct slot *s = slot_by_ip(db, ip);

	if (!s || !is_held(s) || !mac_eq(s->l.mac, mac))
		return -ENOENT;
	notify(db, s, true);
	s->l.state = LEASE_DECLINED;
	s->l.expires = expiry(db, quarantine_s);
	s->l.hostname[0] = '\0';
	active_push(db, s);
	persist(db, s);
	return 0;
}

/* Expiry is not written to the store: the row keeps its past expiry time,
 * which is exactly what a restart needs to see the address as free. */
int lease_expire(struct lease_db *db, time_t now)
{
	uint32_t id = db->active_head;
	int n = 0;

	while (id != NIL) {
		struct slot *s = &db->slots[id];

		id = s->next;
		if (s->l.expires > (int64_t)now)
			continue;
		if (s->l.state == LEASE_DECLINED) {
			/* The quarantine is over; the decliner has no claim. */
			mac_unhash(db, s);
			memset(s->l.mac, 0, 6);
		}
		slot_end(db, s, LEASE_FREE);
		n++;
	}
	return n;
}

int lease_lend(struct lease_db *db, int subnet, struct in_addr *ips, int max)
{
	struct subnet *sn;
	int n = 0;

	if (subnet < 0 || subnet >= db->nsub)
		return -EINVAL;
	sn = &db->sub[subnet];
	while (n < max && sn->free_head != NIL) {
		struct slot *s = &db->slots[sn->free_head];

		list_unlink(db, s, &sn->free_head, &sn->free_tail);
		slot_set_queued(db, s);
		s->l.state = LEASE_FREE;
		ips[n++] = s->l.ip;
	}
	return n;
}

void lease_unlend(struct lease_db *db, int subnet, struct in_addr ip)
{
	struct slot *s = slot_by_ip(db, ip);

	if (!s || !(s->flags & SLOT_QUEUED))
		return;
	slot_clear_queued(db, s);
	free_push(db, s, true);
}

int lease_apply_xdp_event(struct lease_db *db, const struct xb_event *ev)
{
	struct in_addr ip = { .s_addr = ev->ip };
	struct slot *s = slot_by_ip(db, ip);
	bool offer = ev->type == XB_EV_OFFER;

	if (!s)
		return -ENOENT;
	if (ev->type != XB_EV_OFFER && ev->type != XB_EV_ACK)
		return -EINVAL;
	if (!(s->flags & SLOT_QUEUED) && !slot_available(db, s, ev->mac)) {
		pr_warn_ratelimited("XDP %s of %s conflicts with a lease",
				    offer ? "offer" : "ack", inet_ntoa(ip));
		return -EEXIST;
	}
	machine_phase(db, ev->mac, offer ? MPHASE_OFFERED : MPHASE_BOUND, ip);
	if (offer && s->l.state == LEASE_BOUND && mac_eq(s->l.mac, ev->mac))
		return 0;
	slot_hold(db, s, ev->mac, offer ? LEASE_OFFERED : LEASE_BOUND,
		  expiry(db, offer ? LEASE_OFFER_HOLD_S : ev->lease_s));
	slot_set_subnet(db, s, ev->subnet);
	drop_others(db, s, !offer);
	persist(db, s);
	return 0;
}

const struct lease *lease_find_mac(struct lease_db *db, const uint8_t mac[6])
{
	struct slot *s = mac_slot(db, mac, -1, MATCH_HELD);

	return s ? &s->l : NULL;
}

const struct lease *lease_find_ip(struct lease_db *db, struct in_addr ip)
{
	struct slot *s = slot_by_ip(db, ip);

	if (!s || (s->flags & SLOT_QUEUED))
		return NULL;
	if (s->l.state == LEASE_FREE && !(s->flags & SLOT_HASHED))
		return NULL;
	return &s->l;
}

const struct cfg_host *lease_find_host(struct lease_db *db,
				       const uint8_t mac[6])
{
	return host_by_mac(db, mac);
}

int lease_foreach(struct lease_db *db,
		  int (*fn)(const struct lease *l, void *arg), void *arg)
{
	uint32_t i;
	int ret;

	for (i = 0; i < db->nslots; i++) {
		const struct slot *s = &db->slots[i];

		if ((s->flags & SLOT_QUEUED) || s->l.state == LEASE_FREE)
			continue;
		ret = fn(&s->l, arg);
		if (ret)
			return ret;
	}
	return 0;
}

static void count_slot(const struct slot *s, struct lease_counts *c)
{
	c->total++;
	if (s->flags & SLOT_QUEUED) {
		c->queued++;
		return;
	}
	switch (s->l.state) {
	case LEASE_OFFERED:
		c->offered++;
		break;
	case LEASE_BOUND:
		c->bound++;
		break;
	case LEASE_DECLINED:
		c->declined++;
		break;
	default:
		if (s->list == ON_FREE)
			c->free++;
		break;
	}
}

/* A scan, but only of the subnet's own range (and the few reservation
 * slots): cheap enough for a once-a-second status or queue top-up. */
int lease_queued(struct lease_db *db, int subnet)
{
	if (subnet < 0 || subnet >= db->nsub)
		return 0;
	return (int)db->sub[subnet].nqueued;
}

void lease_count(struct lease_db *db, int subnet, struct lease_counts *c)
{
	uint32_t i, from = 0, to = db->npool;

	memset(c, 0, sizeof(*c));
	if (subnet >= db->nsub)
		return;
	if (subnet >= 0) {
		from = db->sub[subnet].base;
		to = from + (db->sub[subnet].end - db->sub[subnet].start) + 1;
	}
	for (i = from; i < to; i++)
		count_slot(&db->slots[i], c);
	for (i = db->npool; i < db->nslots; i++)
		if (subnet < 0 || db->slots[i].l.subnet == subnet)
			count_slot(&db->slots[i], c);
}

/* --- subnets ----------------------------------------------------------- */

int lease_nsubnets(struct lease_db *db)
{
	return db->nsub;
}

int lease_subnet_of(struct lease_db *db, struct in_addr addr)
{
	uint32_t a = ntohl(addr.s_addr);
	int r;

	for (r = 0; r < db->nsub; r++)
		if (in_net(&db->sub[r], a))
			return r;
	return -ENOENT;
}

int lease_subnet_for(struct lease_db *db, struct in_addr giaddr)
{
	int r;

	if (giaddr.s_addr)
		return lease_subnet_of(db, giaddr);
	for (r = 0; r < db->nsub; r++)
		if (db->sub[r].local)
			return r;
	return -ENOENT;
}

int lease_subnet_info(struct lease_db *db, int subnet, struct xb_subnet *out)
{
	const struct subnet *sn;

	if (subnet < 0 || subnet >= db->nsub)
		return -EINVAL;
	sn = &db->sub[subnet];
	out->net = htonl(sn->net);
	out->mask = htonl(sn->mask);
	out->lease_s = sn->lease_s;
	out->flags = XB_SUBNET_F_VALID | (sn->local ? XB_SUBNET_F_LOCAL : 0);
	return 0;
}

static void extra_slots_resubnet(struct lease_db *db)
{
	uint32_t i;

	for (i = db->npool; i < db->nslots; i++) {
		struct slot *s = &db->slots[i];

		if (!is_held(s))
			s->l.subnet = lease_subnet_of(db, s->l.ip);
	}
}

int lease_db_set_local(struct lease_db *db, struct in_addr addr,
		       struct in_addr mask)
{
	uint32_t a = ntohl(addr.s_addr), m = ntohl(mask.s_addr);
	int r, n = 0;

	for (r = 0; r < db->nsub; r++) {
		struct subnet *sn = &db->sub[r];

		if (!sn->mask_given && (sn->start & m) == (a & m) &&
		    (sn->end & m) == (a & m)) {
			sn->mask = m;
			sn->net = sn->start & m;
		}
		if (in_net(sn, a)) {
			sn->local = true;
			n++;
		}
	}
	extra_slots_resubnet(db);
	return n;
}

void lease_db_set_clock(struct lease_db *db, time_t (*now)(void *arg),
			void *arg)
{
	db->now = now ? now : default_now;
	db->now_arg = arg;
}

void lease_db_set_machines(struct lease_db *db, struct machines *m)
{
	db->machines = m;
}

void lease_db_set_hooks(struct lease_db *db, const struct lease_hooks *h,
			void *ctx)
{
	if (h)
		db->hooks = *h;
	else
		memset(&db->hooks, 0, sizeof(db->hooks));
	db->hook_ctx = ctx;
}

/* --- self-check ------------------------------------------------------- */

static int check_fail(const struct slot *s, const char *what)
{
	pr_err("lease table: %s: %s", inet_ntoa(s->l.ip), what);
	return -EUCLEAN;
}

static enum slot_list expected_list(const struct lease_db *db,
				    const struct slot *s)
{
	if (s->flags & SLOT_QUEUED)
		return ON_NONE;
	if (s->l.state == LEASE_OFFERED || s->l.state == LEASE_BOUND ||
	    s->l.state == LEASE_DECLINED)
		return ON_ACTIVE;
	return slot_poolable(db, s) ? ON_FREE : ON_NONE;
}

static bool on_mac_chain(const struct lease_db *db, uint32_t id)
{
	uint32_t i = db->mac_heads[mac_hash(db->slots[id].l.mac) & db->mac_mask];

	for (; i != NIL; i = db->slots[i].mac_next)
		if (i == id)
			return true;
	return false;
}

static int check_slot(struct lease_db *db, uint32_t id)
{
	struct slot *s = &db->slots[id];
	struct slot *other;

	if (s->list != expected_list(db, s))
		return check_fail(s, "on the wrong list");
	if ((s->flags & SLOT_HASHED) && !on_mac_chain(db, id))
		return check_fail(s, "missing from its MAC chain");
	if (is_held(s) && !(s->flags & SLOT_HASHED))
		return check_fail(s, "held but not on a MAC chain");
	if (is_held(s) && s->resv != NIL &&
	    !mac_eq(db->hosts[s->resv].mac, s->l.mac))
		return check_fail(s, "reserved address held by another client");
	if (slot_by_ip(db, s->l.ip) != s)
		return check_fail(s, "IP lookup finds another slot");
	if (!is_held(s) || s->l.subnet < 0)
		return 0;
	other = mac_slot(db, s->l.mac, s->l.subnet, MATCH_HELD);
	if (other && other != s && other->l.state == s->l.state &&
	    s->l.state == LEASE_BOUND)
		return check_fail(s, "client bound twice in one network");
	return 0;
}

static int check_list(struct lease_db *db, uint32_t head, uint32_t tail,
		      enum slot_list which, uint32_t *n)
{
	uint32_t id, prev = NIL;

	for (id = head; id != NIL; prev = id, id = db->slots[id].next) {
		if (db->slots[id].list != which || db->slots[id].prev != prev)
			return check_fail(&db->slots[id], "broken list links");
		if (++*n > db->nslots)
			return check_fail(&db->slots[id], "list loops");
	}
	if (prev != tail)
		return -EUCLEAN;
	return 0;
}

int lease_db_check(struct lease_db *db)
{
	uint32_t i, listed = 0, expected = 0;
	int r, err;

	for (i = 0; i < db->nslots; i++) {
		err = check_slot(db, i);
		if (err)
			return err;
		if (db->slots[i].list != ON_NONE)
			expected++;
	}
	err = check_list(db, db->active_head, db->active_tail, ON_ACTIVE,
			 &listed);
	for (r = 0; !err && r < db->nsub; r++)
		err = check_list(db, db->sub[r].free_head, db->sub[r].free_tail,
				 ON_FREE, &listed);
	if (!err && listed != expected) {
		pr_err("lease table: %u slots listed, %u expected", listed,
		       expected);
		err = -EUCLEAN;
	}
	for (r = 0; !err && r < db->nsub; r++) {
		struct lease_counts c;

		lease_count(db, r, &c);
		if ((uint32_t)c.queued != db->sub[r].nqueued) {
			pr_err("lease table: subnet %d counts %u queued, has %d",
			       r, db->sub[r].nqueued, c.queued);
			err = -EUCLEAN;
		}
	}
	return err;
}

/* --- creation ---------------------------------------------------------- */

/* Until an interface tells us its prefix, a range without a mask gets the
 * /24 it sits in, or the smallest prefix holding both ends. */
static uint32_t guess_mask(uint32_t start, uint32_t end)
{
	uint32_t m = 0xffffff00u;

	while (m && (start & m) != (end & m))
		m <<= 1;
	return m;
}

static int init_subnets(struct lease_db *db, const struct config *cfg)
{
	uint32_t total = 0;
	int r, q;

	if (cfg->nranges < 0 || cfg->nranges > CFG_MAX_RANGES)
		return -EINVAL;
	for (r = 0; r < cfg->nranges; r++) {
		const struct cfg_range *cr = &cfg->ranges[r];
		struct subnet *sn = &db->sub[r];

		sn->start = ntohl(cr->start.s_addr);
		sn->end = ntohl(cr->end.s_addr);
		if (sn->end < sn->start) {
			pr_err("dhcp-range %d: end before start", r + 1);
			return -EINVAL;
		}
		if (sn->end - sn->start >= LEASE_MAX_ADDRS - total) {
			pr_err("dhcp-range %d: more than %u addresses in all",
			       r + 1, LEASE_MAX_ADDRS);
			return -E2BIG;
		}
		for (q = 0; q < r; q++)
			if (sn->start <= db->sub[q].end &&
			    db->sub[q].start <= sn->end) {
				pr_err("dhcp-range %d overlaps range %d", r + 1,
				       q + 1);
				return -EINVAL;
			}
		sn->base = total;
		total += sn->end - sn->start + 1;
		sn->mask_given = cr->mask.s_addr != 0;
		sn->mask = sn->mask_given ? ntohl(cr->mask.s_addr) :
					    guess_mask(sn->start, sn->end);
		sn->net = sn->start & sn->mask;
		sn->lease_s = cr->lease_s ? cr->lease_s :
			      cfg->lease_s ? cfg->lease_s : XBOOTD_DEFAULT_LEASE_S;
		sn->free_head = sn->free_tail = NIL;
	}
	db->nsub = cfg->nranges;
	db->npool = total;
	return 0;
}

static bool in_ranges(const struct lease_db *db, struct in_addr ip)
{
	uint32_t a = ntohl(ip.s_addr);
	int r;

	for (r = 0; r < db->nsub; r++)
		if (a >= db->sub[r].start && a <= db->sub[r].end)
			return true;
	return false;
}

static uint32_t count_extra(const struct lease_db *db,
			    const struct config *cfg)
{
	uint32_t n = 0;
	int i;

	for (i = 0; i < cfg->nhosts; i++)
		if (cfg->hosts[i].ip.s_addr && !in_ranges(db, cfg->hosts[i].ip))
			n++;
	return n;
}

static void init_pool_slots(struct lease_db *db)
{
	int r;

	for (r = 0; r < db->nsub; r++) {
		struct subnet *sn = &db->sub[r];
		uint32_t a;

		for (a = sn->start;; a++) {
			struct slot *s = &db->slots[sn->base + (a - sn->start)];

			s->l.ip.s_addr = htonl(a);
			s->l.subnet = r;
			if (a == sn->end)
				break;
		}
	}
}

static void ip_tab_add(struct lease_db *db, uint32_t id)
{
	uint32_t i = ip_hash(ntohl(db->slots[id].l.ip.s_addr)) & db->ip_mask;

	while (db->ip_tab[i] != NIL)
		i = (i + 1) & db->ip_mask;
	db->ip_tab[i] = id;
}

static void host_tab_add(struct lease_db *db, int idx)
{
	uint32_t i = mac_hash(db->hosts[idx].mac) & db->host_mask;

	while (db->host_tab[i] != NIL)
		i = (i + 1) & db->host_mask;
	db->host_tab[i] = (uint32_t)idx;
}

/* Marks each host= address reserved, giving it a slot of its own when it
 * lies outside the ranges. */
static void init_reservations(struct lease_db *db)
{
	uint32_t next = db->npool;
	int i;

	for (i = 0; i < db->nhosts; i++) {
		const struct cfg_host *h = &db->hosts[i];
		struct slot *s;

		if (host_by_mac(db, h->mac)) {
			pr_warn("host %02x:%02x:%02x:%02x:%02x:%02x listed twice; first wins",
				h->mac[0], h->mac[1], h->mac[2], h->mac[3],
				h->mac[4], h->mac[5]);
			continue;
		}
		host_tab_add(db, i);
		if (!h->ip.s_addr)
			continue;
		s = slot_by_ip(db, h->ip);
		if (!s) {
			s = &db->slots[next];
			s->l.ip = h->ip;
			s->l.subnet = lease_subnet_of(db, h->ip);
			ip_tab_add(db, next++);
		}
		if (s->resv != NIL) {
			pr_warn("host address %s reserved twice; first wins",
				inet_ntoa(h->ip));
			continue;
		}
		s->resv = (uint32_t)i;
	}
	db->nslots = next;
}

static void init_free_lists(struct lease_db *db)
{
	uint32_t i;

	for (i = 0; i < db->npool; i++)
		if (db->slots[i].resv == NIL)
			free_push(db, &db->slots[i], false);
}

static int alloc_tables(struct lease_db *db, const struct config *cfg,
			uint32_t nextra)
{
	uint32_t n = db->npool + nextra, i;

	db->slots = calloc(n ? n : 1, sizeof(*db->slots));
	db->mac_mask = pow2_at_least(n) - 1;
	db->mac_heads = malloc((db->mac_mask + 1) * sizeof(uint32_t));
	db->ip_mask = pow2_at_least(2 * nextra) - 1;
	db->ip_tab = malloc((db->ip_mask + 1) * sizeof(uint32_t));
	db->host_mask = pow2_at_least(2 * (uint32_t)cfg->nhosts) - 1;
	db->host_tab = malloc((db->host_mask + 1) * sizeof(uint32_t));
	if (cfg->nhosts) {
		db->hosts = malloc((size_t)cfg->nhosts * sizeof(*db->hosts));
		if (db->hosts)
			memcpy(db->hosts, cfg->hosts,
			       (size_t)cfg->nhosts * sizeof(*db->hosts));
	}
	if (!db->slots || !db->mac_heads || !db->ip_tab || !db->host_tab ||
	    (cfg->nhosts && !db->hosts))
		return -ENOMEM;
	db->nhosts = cfg->nhosts;
	memset(db->mac_heads, 0xff, (db->mac_mask + 1) * sizeof(uint32_t));
	memset(db->ip_tab, 0xff, (db->ip_mask + 1) * sizeof(uint32_t));
	memset(db->host_tab, 0xff, (db->host_mask + 1) * sizeof(uint32_t));
	for (i = 0; i < n; i++) {
		db->slots[i].prev = db->slots[i].next = NIL;
		db->slots[i].mac_next = db->slots[i].resv = NIL;
		db->slots[i].l.subnet = -1;
	}
	return 0;
}

/* One stored lease back into memory: live ones are held again, the rest
 * become free but remember their client. */
static int restore_one(const struct lease_rec *rec, void *arg)
{
	struct lease_db *db = arg;
	struct slot *s = slot_by_ip(db, rec->ip);
	bool live = rec->expires > (int64_t)db_now(db);

	if (!s || is_held(s) || s->l.state == LEASE_DECLINED)
		return 0;
	switch (rec->state) {
	case LEASE_OFFERED:
	case LEASE_BOUND:
	case LEASE_DECLINED:
		if (live) {
			slot_hold(db, s, rec->mac, rec->state, rec->expires);
			break;
		}
		if (rec->state == LEASE_DECLINED)
			return 0;
		/* fall through */
	case LEASE_RELEASED:
		mac_rehash(db, s, rec->mac);
		s->l.state = rec->state == LEASE_RELEASED ? LEASE_RELEASED :
							   LEASE_FREE;
		s->l.expires = rec->expires;
		free_push(db, s, false); /* freed recently: to the back */
		break;
	default:
		return 0;
	}
	memcpy(s->l.hostname, rec->hostname, sizeof(s->l.hostname));
	s->l.hostname[sizeof(s->l.hostname) - 1] = '\0';
	return 0;
}

int lease_db_create(struct lease_db **out, const struct config *cfg,
		    struct store *st)
{
	struct lease_db *db;
	int err;

	db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	db->now = default_now;
	db->active_head = db->active_tail = NIL;
	db->st = st;
	err = init_subnets(db, cfg);
	if (!err)
		err = alloc_tables(db, cfg, count_extra(db, cfg));
	if (err)
		goto err_free;
	init_pool_slots(db);
	init_reservations(db);
	init_free_lists(db);
	if (st) {
		err = store_lease_foreach(st, restore_one, db);
		if (err < 0)
			goto err_free;
	}
	*out = db;
	return 0;

err_free:
	lease_db_destroy(db);
	return err;
}

void lease_db_destroy(struct lease_db *db)
{
	if (!db)
		return;
	free(db->slots);
	free(db->mac_heads);
	free(db->ip_tab);
	free(db->host_tab);
	free(db->hosts);
	free(db);
}
