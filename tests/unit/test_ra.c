// SPDX-License-Identifier: GPL-2.0
/*
 * The router solicitation parser with a table of bad messages, and the
 * quiet advertisement's bytes (ipv6-ra=pxe-clients, ra.h).
 */
#include <errno.h>
#include <netinet/icmp6.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ra.h"

#define SLLA 1, 1, 0x52, 0x54, 0x00, 0xee, 0x00, 0x01

struct rs_case {
	const char *what;
	uint8_t msg[32];
	size_t len;
	int hops;
	int err;
	int has_mac;
};

static const struct rs_case cases[] = {
	{ "plain, with SLLA", { 133, 0, 0, 0, 0, 0, 0, 0, SLLA }, 16, 255, 0, 1 },
	{ "no options", { 133, 0, 0, 0, 0, 0, 0, 0 }, 8, 255, 0, 0 },
	{ "unknown option skipped", { 133, 0, 0, 0, 0, 0, 0, 0, 99, 1, 0, 0, 0, 0, 0, 0, SLLA },
	  24, 255, 0, 1 },
	{ "SLLA of the wrong length ignored", { 133, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1, 2, 3, 4, 5, 6,
						  0, 0, 0, 0, 0, 0, 0, 0 }, 24, 255, 0, 0 },
	{ "hop limit 64: routed, not from the link", { 133, 0, 0, 0, 0, 0, 0, 0, SLLA }, 16, 64,
	  -EPERM, 0 },
	{ "no hop limit known", { 133, 0, 0, 0, 0, 0, 0, 0, SLLA }, 16, -1, -EPERM, 0 },
	{ "short", { 133, 0, 0, 0 }, 4, 255, -EINVAL, 0 },
	{ "an advertisement", { 134, 0, 0, 0, 0, 0, 0, 0 }, 8, 255, -EINVAL, 0 },
	{ "code 1", { 133, 1, 0, 0, 0, 0, 0, 0 }, 8, 255, -EINVAL, 0 },
	{ "option length 0", { 133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 }, 16, 255,
	  -EINVAL, 0 },
	{ "option past the end", { 133, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0 }, 16, 255,
	  -EINVAL, 0 },
	{ "a lone option byte", { 133, 0, 0, 0, 0, 0, 0, 0, 1 }, 9, 255, -EINVAL, 0 },
};

static void test_solicit_table(void **state)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xee, 0x00, 0x01 };
	struct ra_solicit rs;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rs_case *c = &cases[i];
		int ret = ra_parse_solicit(c->msg, c->len, c->hops, &rs);

		if (ret != c->err || rs.has_mac != c->has_mac)
			fail_msg("%s: got %d (mac %d), want %d (mac %d)", c->what,
				 ret, rs.has_mac, c->err, c->has_mac);
		if (rs.has_mac)
			assert_memory_equal(rs.mac, mac, 6);
	}
}

static void test_advert_bytes(void **state)
{
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	static const uint8_t want[24] = { 134, 0, 0, 0, /* type, code, csum */
					  0, 0, 0, 0,   /* hops, flags, lifetime 0 */
					  0, 0, 0, 0, 0, 0, 0, 0,
					  1, 1, 2, 0, 0, 0, 0, 1 };
	uint8_t buf[64];

	(void)state;
	assert_int_equal(ra_build_advert(buf, sizeof(buf), mac), 24);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(ra_build_advert(buf, 23, mac), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_solicit_table),
		cmocka_unit_test(test_advert_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
