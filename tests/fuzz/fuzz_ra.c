// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for what a host on the link sends to xbootd's router
 * solicitation socket (ipv6-ra=pxe-clients): any bytes, with a hop limit
 * the input chooses, go through the solicitation parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../userspace/xbootd/ra.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ra.c's neighbours, never reached from the parser. */
struct io_uring_sqe *loop_get_sqe(struct loop *l)
{
	(void)l;
	abort();
}

const struct lease *lease_find_mac(struct lease_db *db, const uint8_t mac[6])
{
	(void)db;
	(void)mac;
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[6];
	struct ra_solicit rs;
	int hops;

	if (!size)
		return 0;
	hops = data[0] & 1 ? 255 : data[0];
	if (ra_parse_solicit(data + 1, size - 1, hops, &rs) == 0) {
		if (hops != 255 || size - 1 < 8 || data[1] != ND_ROUTER_SOLICIT)
			abort();
	}
	if (!rs.has_mac && memcmp(rs.mac, zero, 6))
		abort();
	return 0;
}
