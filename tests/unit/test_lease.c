// SPDX-License-Identifier: GPL-2.0
/*
 * The lease allocator on its own: pools and their order, reservations,
 * subnets, holds and expiry, quarantine, lending to XDP and its events,
 * hooks, a /16 pool, persistence through the store, and a randomized run
 * (slow path and simulated XDP together) checking that no address is ever
 * with two clients.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "lease.h"
#include "log.h"
#include "store.h"
#include "dhcp_pkt.h"

#define T0 1700000000

struct fx {
	struct config cfg;
	struct cfg_host hosts[4];
	struct lease_db *db;
	time_t now;
	int changed, ended;
	struct lease last;
};

static time_t fx_clock(void *arg)
{
	return ((struct fx *)arg)->now;
}

static void mac_of(uint32_t i, uint8_t mac[6])
{
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = (uint8_t)(i >> 24);
	mac[3] = (uint8_t)(i >> 16);
	mac[4] = (uint8_t)(i >> 8);
	mac[5] = (uint8_t)i;
}

static void fx_config(struct fx *f)
{
	struct config *cfg = &f->cfg;

	memset(cfg, 0, sizeof(*cfg));
	cfg->lease_s = 3600;
	cfg->nranges = 2;
	cfg->ranges[0].start = ip4("10.0.0.10");
	cfg->ranges[0].end = ip4("10.0.0.19");
	cfg->ranges[1].start = ip4("10.2.0.100");
	cfg->ranges[1].end = ip4("10.2.0.103");
	cfg->ranges[1].mask = ip4("255.255.0.0");
	cfg->ranges[1].lease_s = 60;
	/* one reservation inside the pool, one outside every range */
	mac_of(0xff01, f->hosts[0].mac);
	f->hosts[0].ip = ip4("10.0.0.15");
	strcpy(f->hosts[0].hostname, "inpool");
	mac_of(0xff02, f->hosts[1].mac);
	f->hosts[1].ip = ip4("10.0.0.2");
	strcpy(f->hosts[1].hostname, "outside");
	mac_of(0xff03, f->hosts[2].mac);
	strcpy(f->hosts[2].hostname, "nameonly");
	cfg->hosts = f->hosts;
	cfg->nhosts = 3;
}

static int fx_open(struct fx *f, struct store *st)
{
	int err = lease_db_create(&f->db, &f->cfg, st);

	if (err)
		return err;
	lease_db_set_clock(f->db, fx_clock, f);
	lease_db_set_local(f->db, ip4("10.0.0.1"), ip4("255.255.255.0"));
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->now = T0;
	fx_config(f);
	*state = f;
	return fx_open(f, NULL);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	lease_db_destroy(f->db);
	free(f);
	return 0;
}

static struct in_addr choose(struct fx *f, uint32_t who, int subnet,
			     const char *want)
{
	struct in_addr ip = { 0 };
	uint8_t mac[6];

	mac_of(who, mac);
	assert_int_equal(lease_choose(f->db, mac, subnet,
				      want ? ip4(want) : (struct in_addr){ 0 },
				      &ip), 0);
	return ip;
}

static struct in_addr offer(struct fx *f, uint32_t who, int subnet)
{
	struct in_addr ip = choose(f, who, subnet, NULL);
	uint8_t mac[6];

	mac_of(who, mac);
	assert_int_equal(lease_offer(f->db, mac, subnet, ip, 30), 0);
	return ip;
}

static struct in_addr bind_one(struct fx *f, uint32_t who, int subnet)
{
	struct in_addr ip = offer(f, who, subnet);
	uint8_t mac[6];

	mac_of(who, mac);
	assert_int_equal(lease_bind(f->db, mac, subnet, ip, 3600, "h"), 0);
	return ip;
}

static void assert_ip(struct in_addr a, const char *want)
{
	if (a.s_addr != ip4(want).s_addr)
		fail_msg("got %s, want %s", inet_ntoa(a), want);
}

/* --- pools ------------------------------------------------------------- */

static void test_pool_order(void **state)
{
	struct fx *f = *state;
	struct in_addr a;
	uint8_t mac[6];
	int i;

	/* never-used addresses in order, skipping the reservation */
	for (i = 0; i < 5; i++)
		assert_ip(offer(f, (uint32_t)i, 0),
			  (const char *[]){ "10.0.0.10", "10.0.0.11",
					    "10.0.0.12", "10.0.0.13",
					    "10.0.0.14" }[i]);
	assert_ip(offer(f, 5, 0), "10.0.0.16");
	/* a released address goes to the back of the line ... */
	mac_of(1, mac);
	assert_int_equal(lease_release(f->db, mac, ip4("10.0.0.11")), 0);
	assert_ip(offer(f, 6, 0), "10.0.0.17");
	/* ... but its client gets it back */
	assert_ip(choose(f, 1, 0, NULL), "10.0.0.11");
	/* a wish is granted when free, ignored when taken */
	assert_ip(choose(f, 7, 0, "10.0.0.19"), "10.0.0.19");
	assert_ip(choose(f, 7, 0, "10.0.0.10"), "10.0.0.18");
	assert_ip(choose(f, 7, 0, "10.0.0.15"), "10.0.0.18");
	/* an offered client is offered the same again */
	a = choose(f, 3, 0, "10.0.0.19");
	assert_ip(a, "10.0.0.13");
	assert_int_equal(lease_db_check(f->db), 0);
}

static void test_exhaust_and_expire(void **state)
{
	struct fx *f = *state;
	struct lease_counts c;
	struct in_addr ip;
	uint8_t mac[6];
	int i;

	for (i = 0; i < 9; i++)
		offer(f, (uint32_t)i, 0);
	mac_of(100, mac);
	assert_int_equal(lease_choose(f->db, mac, 0, (struct in_addr){ 0 },
				      &ip), -ENOSPC);
	lease_count(f->db, 0, &c);
	assert_int_equal(c.offered, 9);
	assert_int_equal(c.free, 0);
	/* offers expire after their hold */
	f->now += 29;
	assert_int_equal(lease_expire(f->db, f->now), 0);
	f->now += 1;
	assert_int_equal(lease_expire(f->db, f->now), 9);
	lease_count(f->db, 0, &c);
	assert_int_equal(c.free, 9);
	/* a bound lease lasts its lease time */
	bind_one(f, 1, 0);
	f->now += 3599;
	assert_int_equal(lease_expire(f->db, f->now), 0);
	f->now += 1;
	assert_int_equal(lease_expire(f->db, f->now), 1);
	mac_of(1, mac);
	assert_null(lease_find_mac(f->db, mac));
	/* infinite leases do not */
	ip = offer(f, 2, 0);
	mac_of(2, mac);
	assert_int_equal(lease_bind(f->db, mac, 0, ip, 0xffffffff, NULL), 0);
	f->now += 100 * 365 * 86400L;
	assert_int_equal(lease_expire(f->db, f->now), 0);
	assert_int_equal(lease_db_check(f->db), 0);
}

static void test_one_address_per_client(void **state)
{
	struct fx *f = *state;
	struct lease_counts c;
	uint8_t mac[6];

	mac_of(1, mac);
	assert_int_equal(lease_offer(f->db, mac, 0, ip4("10.0.0.12"), 30), 0);
	assert_int_equal(lease_offer(f->db, mac, 0, ip4("10.0.0.13"), 30), 0);
	lease_count(f->db, 0, &c);
	assert_int_equal(c.offered, 1);
	assert_int_equal(lease_bind(f->db, mac, 0, ip4("10.0.0.14"), 60, NULL),
			 0);
	lease_count(f->db, 0, &c);
	assert_int_equal(c.offered + c.bound, 1);
	assert_ip(lease_find_mac(f->db, mac)->ip, "10.0.0.14");
	/* somebody else's address is refused */
	mac_of(2, mac);
	assert_int_equal(lease_offer(f->db, mac, 0, ip4("10.0.0.14"), 30),
			 -EBUSY);
	assert_int_equal(lease_bind(f->db, mac, 0, ip4("10.0.0.14"), 30, NULL),
			 -EBUSY);
	assert_int_equal(lease_offer(f->db, mac, 0, ip4("10.9.9.9"), 30),
			 -ENOENT);
	assert_int_equal(lease_release(f->db, mac, ip4("10.0.0.14")), -ENOENT);
	assert_int_equal(lease_db_check(f->db), 0);
}

static void test_reservations(void **state)
{
	struct fx *f = *state;
	const struct cfg_host *h;
	struct in_addr ip;
	uint8_t mac[6];

	assert_ip(choose(f, 0xff01, 0, NULL), "10.0.0.15");
	assert_ip(choose(f, 0xff02, 0, NULL), "10.0.0.2");
	/* a host= without an address gets a pool address */
	assert_ip(choose(f, 0xff03, 0, NULL), "10.0.0.10");
	mac_of(0xff03, mac);
	h = lease_find_host(f->db, mac);
	assert_non_null(h);
	assert_string_equal(h->hostname, "nameonly");
	/* the reservation outside the ranges can be bound and found */
	mac_of(0xff02, mac);
	assert_int_equal(lease_bind(f->db, mac, 0, ip4("10.0.0.2"), 60, "x"),
			 0);
	assert_int_equal(lease_find_ip(f->db, ip4("10.0.0.2"))->subnet, 0);
	assert_int_equal(lease_release(f->db, mac, ip4("10.0.0.2")), 0);
	/* nobody else ever gets a reserved address */
	mac_of(5, mac);
	assert_int_equal(lease_offer(f->db, mac, 0, ip4("10.0.0.15"), 30),
			 -EBUSY);
	assert_int_equal(lease_offer(f->db, mac, 0, ip4("10.0.0.2"), 30),
			 -EBUSY);
	/* a reservation is only handed out on its own network */
	mac_of(0xff01, mac);
	assert_int_equal(lease_choose(f->db, mac, 1, (struct in_addr){ 0 },
				      &ip), 0);
	assert_ip(ip, "10.2.0.100");
	assert_int_equal(lease_db_check(f->db), 0);
}

static void test_subnets(void **state)
{
	struct fx *f = *state;
	struct xb_subnet sn;

	assert_int_equal(lease_nsubnets(f->db), 2);
	assert_int_equal(lease_subnet_info(f->db, 0, &sn), 0);
	assert_int_equal(sn.net, ip4("10.0.0.0").s_addr);
	assert_int_equal(sn.mask, ip4("255.255.255.0").s_addr);
	assert_int_equal(sn.lease_s, 3600);
	assert_int_equal(sn.flags, XB_SUBNET_F_VALID | XB_SUBNET_F_LOCAL);
	assert_int_equal(lease_subnet_info(f->db, 1, &sn), 0);
	assert_int_equal(sn.net, ip4("10.2.0.0").s_addr);
	assert_int_equal(sn.mask, ip4("255.255.0.0").s_addr);
	assert_int_equal(sn.lease_s, 60);
	assert_int_equal(sn.flags, XB_SUBNET_F_VALID);
	assert_int_equal(lease_subnet_info(f->db, 2, &sn), -EINVAL);
	assert_int_equal(lease_subnet_for(f->db, (struct in_addr){ 0 }), 0);
	assert_int_equal(lease_subnet_for(f->db, ip4("10.2.7.1")), 1);
	assert_int_equal(lease_subnet_for(f->db, ip4("10.3.0.1")), -ENOENT);
	assert_int_equal(lease_subnet_of(f->db, ip4("10.0.0.200")), 0);
}

static void test_bad_ranges(void **state)
{
	struct lease_db *db;
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.nranges = 2;
	cfg.ranges[0].start = ip4("10.0.0.10");
	cfg.ranges[0].end = ip4("10.0.0.20");
	cfg.ranges[1].start = ip4("10.0.0.20");
	cfg.ranges[1].end = ip4("10.0.0.30");
	assert_int_equal(lease_db_create(&db, &cfg, NULL), -EINVAL);
	cfg.nranges = 1;
	cfg.ranges[0].start = ip4("10.0.0.30");
	assert_int_equal(lease_db_create(&db, &cfg, NULL), -EINVAL);
	cfg.ranges[0].start = ip4("10.0.0.0");
	cfg.ranges[0].end = ip4("10.255.255.255");
	assert_int_equal(lease_db_create(&db, &cfg, NULL), -E2BIG);
}

static void test_decline(void **state)
{
	struct fx *f = *state;
	struct lease_counts c;
	struct in_addr ip;
	uint8_t mac[6];

	ip = bind_one(f, 1, 0);
	mac_of(2, mac);
	assert_int_equal(lease_decline(f->db, mac, ip, 600), -ENOENT);
	mac_of(1, mac);
	assert_int_equal(lease_decline(f->db, mac, ip, 600), 0);
	assert_int_equal(lease_find_ip(f->db, ip)->state, LEASE_DECLINED);
	assert_null(lease_find_mac(f->db, mac));
	lease_count(f->db, 0, &c);
	assert_int_equal(c.declined, 1);
	/* not even its decliner gets it during the quarantine */
	assert_int_not_equal(choose(f, 1, 0, inet_ntoa(ip)).s_addr, ip.s_addr);
	f->now += 600;
	assert_int_equal(lease_expire(f->db, f->now), 1);
	lease_count(f->db, 0, &c);
	assert_int_equal(c.declined, 0);
	assert_int_equal(c.free, 9);
	assert_int_equal(lease_db_check(f->db), 0);
}

/* --- XDP lending ------------------------------------------------------- */

static void hook_changed(void *ctx, const struct lease *l)
{
	struct fx *f = ctx;

	f->changed++;
	if (l->state == LEASE_FREE)
		f->ended++;
	f->last = *l;
}

static void test_lending(void **state)
{
	struct fx *f = *state;
	struct lease_hooks h = { .changed = hook_changed };
	struct in_addr lent[16];
	struct lease_counts c;
	struct xb_event ev;
	uint8_t mac[6];
	int n;

	lease_db_set_hooks(f->db, &h, f);
	n = lease_lend(f->db, 0, lent, 16);
	assert_int_equal(n, 9); /* every free one; never the reservation */
	lease_count(f->db, 0, &c);
	assert_int_equal(c.queued, 9);
	assert_int_equal(c.free, 0);
	/* the slow path has nothing left of its own */
	mac_of(1, mac);
	assert_int_equal(lease_choose(f->db, mac, 0, lent[0], &lent[15]),
			 -ENOSPC);
	assert_int_equal(lease_offer(f->db, mac, 0, lent[0], 30), -EBUSY);
	assert_null(lease_find_ip(f->db, lent[0]));

	/* XDP offers and acks two of them */
	memset(&ev, 0, sizeof(ev));
	ev.type = XB_EV_OFFER;
	ev.ip = lent[0].s_addr;
	mac_of(1, ev.mac);
	assert_int_equal(lease_apply_xdp_event(f->db, &ev), 0);
	assert_int_equal(lease_find_mac(f->db, ev.mac)->state, LEASE_OFFERED);
	ev.type = XB_EV_ACK;
	ev.lease_s = 3600;
	assert_int_equal(lease_apply_xdp_event(f->db, &ev), 0);
	assert_int_equal(lease_find_mac(f->db, ev.mac)->state, LEASE_BOUND);
	assert_int_equal(lease_find_mac(f->db, ev.mac)->expires, T0 + 3600);
	/* XDP already knows: no hook calls for its own events */
	assert_int_equal(f->changed, 0);
	/* an event for an address someone else holds is refused */
	mac_of(2, ev.mac);
	assert_int_equal(lease_apply_xdp_event(f->db, &ev), -EEXIST);
	ev.ip = ip4("192.168.0.1").s_addr;
	assert_int_equal(lease_apply_xdp_event(f->db, &ev), -ENOENT);

	/* give the rest back: free again, at the front of the line */
	for (n = 1; n < 9; n++)
		lease_unlend(f->db, 0, lent[n]);
	lease_unlend(f->db, 0, lent[0]); /* not queued any more: no-op */
	lease_count(f->db, 0, &c);
	assert_int_equal(c.queued, 0);
	assert_int_equal(c.free, 8);
	assert_int_equal(c.bound, 1);
	assert_int_equal(lease_db_check(f->db), 0);

	/* slow-path changes reach the hook */
	offer(f, 3, 0);
	assert_int_equal(f->changed, 1);
	assert_int_equal(f->last.state, LEASE_OFFERED);
	mac_of(1, mac);
	assert_int_equal(lease_release(f->db, mac, lent[0]), 0);
	assert_int_equal(f->ended, 1);
	assert_int_equal(f->last.ip.s_addr, lent[0].s_addr);
	assert_int_equal(f->last.state, LEASE_FREE);
	f->now += 30;
	assert_int_equal(lease_expire(f->db, f->now), 1);
	assert_int_equal(f->ended, 2);
}

/* --- scale ------------------------------------------------------------- */

static void test_big_pool(void **state)
{
	struct lease_db *db;
	struct config cfg;
	struct lease_counts c;
	struct in_addr ip;
	uint8_t mac[6];
	uint32_t i, n = 65534;

	memset(&cfg, 0, sizeof(cfg));
	cfg.nranges = 1;
	cfg.ranges[0].start = ip4("10.100.0.1");
	cfg.ranges[0].end = ip4("10.100.255.254");
	cfg.ranges[0].mask = ip4("255.255.0.0");
	assert_int_equal(lease_db_create(&db, &cfg, NULL), 0);
	for (i = 0; i < n; i++) {
		mac_of(i, mac);
		assert_int_equal(lease_choose(db, mac, 0, (struct in_addr){ 0 },
					      &ip), 0);
		assert_int_equal(lease_bind(db, mac, 0, ip, 3600, NULL), 0);
	}
	mac_of(n, mac);
	assert_int_equal(lease_choose(db, mac, 0, (struct in_addr){ 0 }, &ip),
			 -ENOSPC);
	for (i = 0; i < n; i += 997) {
		mac_of(i, mac);
		ip.s_addr = htonl(ntohl(ip4("10.100.0.1").s_addr) + i);
		assert_int_equal(lease_find_mac(db, mac)->ip.s_addr, ip.s_addr);
		assert_memory_equal(lease_find_ip(db, ip)->mac, mac, 6);
	}
	lease_count(db, 0, &c);
	assert_int_equal(c.bound, (int)n);
	assert_int_equal(lease_db_check(db), 0);
	lease_db_destroy(db);
}

/* --- persistence ------------------------------------------------------- */

/* Restoring runs before a test can set the clock, so this test lives on
 * the real clock: session one happens 100 s in the past. */
static void test_store_reopen(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/xboot-test-lease-XXXXXX";
	char cmd[64];
	struct store *st;
	struct in_addr a, b, c, d, e;
	uint8_t mac[6];

	assert_non_null(mkdtemp(dir));
	lease_db_destroy(f->db);
	assert_int_equal(store_open(&st, dir), 0);
	f->now = time(NULL) - 100;
	assert_int_equal(fx_open(f, st), 0);
	a = bind_one(f, 1, 0);         /* bound for an hour: survives */
	b = offer(f, 2, 0);            /* offer held 30 s: over at reopen */
	c = bind_one(f, 3, 0);
	mac_of(3, mac);
	lease_release(f->db, mac, c);  /* released: remembered for client 3 */
	d = offer(f, 4, 1);            /* bound for 60 s: over at reopen */
	mac_of(4, mac);
	assert_int_equal(lease_bind(f->db, mac, 1, d, 60, "four"), 0);
	e = choose(f, 5, 0, NULL);     /* offer held an hour: survives */
	mac_of(5, mac);
	assert_int_equal(lease_offer(f->db, mac, 0, e, 3600), 0);
	mac_of(0xff02, mac);           /* reservation outside the pool */
	assert_int_equal(lease_bind(f->db, mac, 0, ip4("10.0.0.2"), 3600,
				    "outside"), 0);
	lease_db_destroy(f->db);
	store_close(st);

	assert_int_equal(store_open(&st, dir), 0);
	f->now = time(NULL);
	assert_int_equal(fx_open(f, st), 0);
	mac_of(1, mac);
	assert_non_null(lease_find_mac(f->db, mac));
	assert_int_equal(lease_find_mac(f->db, mac)->ip.s_addr, a.s_addr);
	assert_int_equal(lease_find_mac(f->db, mac)->state, LEASE_BOUND);
	assert_string_equal(lease_find_mac(f->db, mac)->hostname, "h");
	mac_of(5, mac);
	assert_int_equal(lease_find_mac(f->db, mac)->state, LEASE_OFFERED);
	assert_int_equal(lease_find_mac(f->db, mac)->ip.s_addr, e.s_addr);
	mac_of(0xff02, mac);
	assert_int_equal(lease_find_mac(f->db, mac)->state, LEASE_BOUND);
	assert_string_equal(lease_find_mac(f->db, mac)->hostname, "outside");
	/* over: free, and each goes back to its client first */
	mac_of(2, mac);
	assert_null(lease_find_mac(f->db, mac));
	mac_of(4, mac);
	assert_null(lease_find_mac(f->db, mac));
	assert_int_equal(lease_find_ip(f->db, c)->state, LEASE_RELEASED);
	assert_int_equal(choose(f, 2, 0, NULL).s_addr, b.s_addr);
	assert_int_equal(choose(f, 3, 0, NULL).s_addr, c.s_addr);
	assert_int_equal(choose(f, 4, 1, NULL).s_addr, d.s_addr);
	/* a newcomer gets an address nobody had */
	assert_int_equal(choose(f, 9, 0, NULL).s_addr,
			 htonl(ntohl(e.s_addr) + 1));
	assert_int_equal(lease_db_check(f->db), 0);
	lease_db_destroy(f->db);
	f->db = NULL;
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* --- randomized: slow path and XDP together ---------------------------- */

#define NCLIENTS 200

static uint32_t rnd_state = 4242;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

/* Simulated XDP: holds lent addresses and grants them to clients. */
struct xdp_sim {
	struct in_addr q[32];
	int n;
};

static int sim_take(void *ctx, int subnet, struct in_addr *ip)
{
	struct xdp_sim *x = ctx;

	if (!x->n || subnet != 0)
		return -ENOENT;
	*ip = x->q[--x->n];
	return 0;
}

/* The invariant, from outside: every address is held by at most one
 * client, a client holds at most one address in a network, and nothing
 * the simulated XDP holds is also known to the slow path as held. */
static void check_invariant(struct fx *f, struct xdp_sim *x)
{
	const struct lease *l;
	uint8_t mac[6];
	uint32_t i;
	int k;

	assert_int_equal(lease_db_check(f->db), 0);
	for (k = 0; k < x->n; k++) {
		l = lease_find_ip(f->db, x->q[k]);
		if (l && (l->state == LEASE_OFFERED ||
			  l->state == LEASE_BOUND))
			fail_msg("%s is queued and held", inet_ntoa(x->q[k]));
	}
	for (i = 0; i < NCLIENTS; i++) {
		mac_of(i, mac);
		l = lease_find_mac(f->db, mac);
		if (!l)
			continue;
		assert_memory_equal(lease_find_ip(f->db, l->ip)->mac, mac, 6);
		for (k = 0; k < x->n; k++)
			assert_int_not_equal(x->q[k].s_addr, l->ip.s_addr);
	}
}

static void random_step(struct fx *f, struct xdp_sim *x)
{
	uint32_t who = rnd(NCLIENTS);
	const struct lease *l;
	struct xb_event ev;
	struct in_addr ip;
	uint8_t mac[6];
	int subnet = rnd(4) ? 0 : 1;

	mac_of(who, mac);
	switch (rnd(9)) {
	case 0:
	case 1:
		if (lease_choose(f->db, mac, subnet, (struct in_addr){ 0 },
				 &ip) == 0) {
			l = lease_find_ip(f->db, ip);
			if (l && (l->state == LEASE_OFFERED ||
				  l->state == LEASE_BOUND) &&
			    memcmp(l->mac, mac, 6))
				fail_msg("chose %s, held by another client",
					 inet_ntoa(ip));
			if (lease_offer(f->db, mac, subnet, ip, 30) == 0 &&
			    rnd(2))
				lease_bind(f->db, mac, subnet, ip, 300, NULL);
		}
		break;
	case 2:
		l = lease_find_mac(f->db, mac);
		if (l)
			lease_release(f->db, mac, l->ip);
		break;
	case 3:
		l = lease_find_mac(f->db, mac);
		if (l && rnd(3) == 0)
			lease_decline(f->db, mac, l->ip, 120);
		break;
	case 4: /* XDP tops up its queue */
		if (x->n < 32)
			x->n += lease_lend(f->db, 0, x->q + x->n,
					   (int)rnd(33 - (uint32_t)x->n));
		break;
	case 5: /* XDP grants one from its queue */
		if (!x->n)
			break;
		memset(&ev, 0, sizeof(ev));
		ev.type = XB_EV_OFFER;
		ev.ip = x->q[--x->n].s_addr;
		memcpy(ev.mac, mac, 6);
		assert_int_equal(lease_apply_xdp_event(f->db, &ev), 0);
		if (rnd(2)) {
			ev.type = XB_EV_ACK;
			ev.lease_s = 300;
			assert_int_equal(lease_apply_xdp_event(f->db, &ev), 0);
		}
		break;
	case 6: /* xbootd stops XDP and takes everything back */
		if (rnd(8))
			break;
		while (x->n)
			lease_unlend(f->db, 0, x->q[--x->n]);
		break;
	default:
		f->now += rnd(40);
		lease_expire(f->db, f->now);
		break;
	}
}

static void test_random_with_xdp(void **state)
{
	struct fx *f = *state;
	struct xdp_sim x = { .n = 0 };
	struct lease_hooks h = { .take_queued = sim_take };
	int i;

	lease_db_set_hooks(f->db, &h, &x);
	for (i = 0; i < 40000; i++) {
		random_step(f, &x);
		check_invariant(f, &x);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pool_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exhaust_and_expire, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_address_per_client,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reservations, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_subnets, setup, teardown),
		cmocka_unit_test(test_bad_ranges),
		cmocka_unit_test_setup_teardown(test_decline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lending, setup, teardown),
		cmocka_unit_test(test_big_pool),
		cmocka_unit_test_setup_teardown(test_store_reopen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_random_with_xdp, setup,
						teardown),
	};

	log_level = LOG_LVL_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
