// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: raw bytes into the whole DHCP slow path, the way
 * systemd's fuzz-dhcp-server does it: the server's sources are included
 * here and the store is stubbed out (the lease table runs without one).
 *
 * Each input is handed to a full-mode server (ports 67 and 4011) that
 * already has leases, a reservation and a relayed subnet, and to a
 * ProxyDHCP server; then the lease table must still pass its self-check
 * and every reply must fit the layout's bounds.
 */
#include <stdlib.h>

#include "../../userspace/xbootd/dhcp_opts.c"
#include "../../userspace/xbootd/dhcp_reply.c"
#include "../../userspace/xbootd/dhcp_server.c"
#include "../../userspace/xbootd/lease.c"

int store_lease_put(struct store *st, const struct lease_rec *rec)
{
	return 0;
}

int store_lease_foreach(struct store *st,
			int (*fn)(const struct lease_rec *rec, void *arg),
			void *arg)
{
	return 0;
}

/* The machines store is not under test: phases go nowhere. */
int machines_phase(struct machines *m, const uint8_t mac[6], int phase,
		   const char *detail, const struct in_addr *ip)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static time_t fuzz_now(void *arg)
{
	return 1700000000;
}

static struct in_addr addr(uint32_t host_order)
{
	return (struct in_addr){ .s_addr = htonl(host_order) };
}

static void fuzz_config(struct config *cfg, struct cfg_host *host,
			enum xb_mode mode)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = mode;
	cfg->lease_s = 3600;
	cfg->dns[0] = addr(0x0a000001);
	cfg->ndns = 1;
	strcpy(cfg->domain, "fuzz");
	strcpy(cfg->boot_file[XB_CLASS_BIOS], "undionly.kpxe");
	strcpy(cfg->boot_file[XB_CLASS_EFI64], "ipxe.efi");
	strcpy(cfg->boot_file[XB_CLASS_ARM64], "ipxe-arm64.efi");
	strcpy(cfg->boot_file[XB_CLASS_HTTP], "http://10.0.0.1/boot.efi");
	strcpy(cfg->boot_file[XB_CLASS_IPXE], "http://10.0.0.1/boot.ipxe");
	strcpy(cfg->pxe_menu, "Install");
	cfg->pxe_timeout = 3;
	if (mode == XB_MODE_PROXY)
		return;
	cfg->nranges = 2;
	cfg->ranges[0].start = addr(0x0a000064); /* 10.0.0.100-110 */
	cfg->ranges[0].end = addr(0x0a00006e);
	cfg->ranges[0].router = addr(0x0a000001);
	cfg->ranges[1].start = addr(0x0a01000a); /* 10.1.0.10-20, relayed */
	cfg->ranges[1].end = addr(0x0a010014);
	cfg->ranges[1].mask = addr(0xffffff00);
	memset(host, 0, sizeof(*host));
	memcpy(host->mac, "\x52\x54\x00\x00\x00\x99", 6);
	host->ip = addr(0x0a000032);
	strcpy(host->hostname, "resv");
	cfg->hosts = host;
	cfg->nhosts = 1;
}

static const struct dhcp_server_iface fuzz_iface = {
	.ifindex = 2,
	.addr = { .s_addr = 0x0100000a }, /* 10.0.0.1 */
	.mask = { .s_addr = 0x00ffffff },
};

/* A client that already has a lease, so REQUESTs have something to hit. */
static void seed_leases(struct lease_db *db)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	lease_bind(db, mac, 0, addr(0x0a000064), 3600, "seed");
}

static void check_tx(int r, const struct dhcp_tx *tx)
{
	if (r && (tx->len < DHCP_REPLY_MIN_LEN || tx->len % 4 ||
		  tx->len > sizeof(tx->buf)))
		abort();
}

static void run(enum xb_mode mode, const uint8_t *data, size_t size)
{
	static struct dhcp_tx tx;
	struct dhcp_server *srv;
	struct lease_db *db;
	struct cfg_host host;
	struct config cfg;
	struct dhcp_rx rx = {
		.buf = data,
		.len = size,
		.ifindex = 2,
		.src = { .s_addr = 0 },
		.sport = 68,
		.local = { .s_addr = 0xffffffff },
	};

	fuzz_config(&cfg, &host, mode);
	if (lease_db_create(&db, &cfg, NULL))
		abort();
	lease_db_set_clock(db, fuzz_now, NULL);
	if (dhcp_server_create(&srv, &cfg, &fuzz_iface, db))
		abort();
	seed_leases(db);
	rx.dport = DHCP_SERVER_PORT;
	check_tx(dhcp_server_handle(srv, &rx, &tx), &tx);
	rx.dport = PXE_BOOT_SERVER_PORT;
	check_tx(dhcp_server_handle(srv, &rx, &tx), &tx);
	/* the same again, now that the first one changed state */
	rx.dport = DHCP_SERVER_PORT;
	check_tx(dhcp_server_handle(srv, &rx, &tx), &tx);
	lease_expire(db, fuzz_now(NULL) + 700);
	if (lease_db_check(db))
		abort();
	dhcp_server_destroy(srv);
	lease_db_destroy(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_level = LOG_LVL_ERR;
	run(XB_MODE_FULL, data, size);
	run(XB_MODE_PROXY, data, size);
	return 0;
}
