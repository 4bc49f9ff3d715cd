// SPDX-License-Identifier: GPL-2.0
/*
 * The TFTP codec and option negotiation: every RFC 2347-2349/7440 edge
 * (blksize out of range or capped, unknown options ignored, tsize on
 * netascii and on an empty file, window caps), a table of malformed
 * requests, the OACK/ERROR/DATA builders and the netascii conversion.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tftp_proto.h"

/* A request from NUL-separated strings: mk(buf, op, "a\0b\0", 4). */
static size_t mk(uint8_t *buf, int op, const char *body, size_t len)
{
	buf[0] = 0;
	buf[1] = op;
	memcpy(buf + 2, body, len);
	return len + 2;
}

#define REQ(buf, op, lit) mk(buf, op, lit, sizeof(lit) - 1)

static int parse(const uint8_t *buf, size_t len, struct tftp_request *rq)
{
	const char *why;

	return tftp_parse_request(buf, len, rq, &why);
}

static void test_plain_rrq(void **state)
{
	struct tftp_request rq;
	uint8_t b[256];
	size_t n = REQ(b, TFTP_RRQ, "pxelinux.0\0octet\0");

	(void)state;
	assert_int_equal(parse(b, n, &rq), 0);
	assert_int_equal(rq.opcode, TFTP_RRQ);
	assert_string_equal(rq.name, "pxelinux.0");
	assert_int_equal(rq.netascii, 0);
	assert_int_equal(rq.has, 0);
	n = REQ(b, TFTP_RRQ, "a\0NetASCII\0");
	assert_int_equal(parse(b, n, &rq), 0);
	assert_int_equal(rq.netascii, 1);
	n = REQ(b, TFTP_WRQ, "a\0octet\0");
	assert_int_equal(parse(b, n, &rq), 0);
	assert_int_equal(rq.opcode, TFTP_WRQ);
}

static void test_options(void **state)
{
	struct tftp_request rq;
	uint8_t b[256];
	size_t n = REQ(b, TFTP_RRQ, "f\0octet\0BLKSIZE\0001468\0tsize\0000\0"
				    "timeout\0003\0windowsize\08\0"
				    "multicast\0\0x-unknown\0zz\0");

	(void)state;
	assert_int_equal(parse(b, n, &rq), 0);
	assert_int_equal(rq.has, TFTP_OPT_BLKSIZE | TFTP_OPT_TSIZE |
					 TFTP_OPT_TIMEOUT | TFTP_OPT_WINDOW);
	assert_int_equal(rq.blksize, 1468);
	assert_int_equal(rq.tsize, 0);
	assert_int_equal(rq.timeout, 3);
	assert_int_equal(rq.window, 8);
}

struct opt_case {
	const char *body;
	size_t len;
	unsigned int has;
};

#define OC(lit, has) { lit, sizeof(lit) - 1, has }

/* Out-of-range and non-numeric values are ignored, never fatal. */
static void test_option_ranges(void **state)
{
	static const struct opt_case cases[] = {
		OC("f\0octet\0blksize\0007\0", 0),
		OC("f\0octet\0blksize\0008\0", TFTP_OPT_BLKSIZE),
		OC("f\0octet\0blksize\00065464\0", TFTP_OPT_BLKSIZE),
		OC("f\0octet\0blksize\00065465\0", 0),
		OC("f\0octet\0blksize\0-512\0", 0),
		OC("f\0octet\0blksize\0\0", 0),
		OC("f\0octet\0blksize\0512x\0", 0),
		OC("f\0octet\0blksize\099999999999\0", 0),
		OC("f\0octet\0timeout\0000\0", 0),
		OC("f\0octet\0timeout\0001\0", TFTP_OPT_TIMEOUT),
		OC("f\0octet\0timeout\000255\0", TFTP_OPT_TIMEOUT),
		OC("f\0octet\0timeout\000256\0", 0),
		OC("f\0octet\0windowsize\0000\0", 0),
		OC("f\0octet\0windowsize\00065535\0", TFTP_OPT_WINDOW),
		OC("f\0octet\0windowsize\00065536\0", 0),
		OC("f\0octet\0tsize\0abc\0", 0),
		/* a name without a value is dropped */
		OC("f\0octet\0tsize\0", 0),
		OC("f\0octet\0tsize\0000\0blksize\0", TFTP_OPT_TSIZE),
		/* the first of a repeated option counts */
		OC("f\0octet\0blksize\0001024\0blksize\0007\0",
		   TFTP_OPT_BLKSIZE),
	};
	struct tftp_request rq;
	uint8_t b[256];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = mk(b, TFTP_RRQ, cases[i].body, cases[i].len);
		assert_int_equal(parse(b, n, &rq), 0);
		if (rq.has != cases[i].has)
			fail_msg("case %zu: has %#x, want %#x", i, rq.has,
				 cases[i].has);
	}
	n = REQ(b, TFTP_RRQ, "f\0octet\0blksize\0001024\0blksize\0007\0");
	assert_int_equal(parse(b, n, &rq), 0);
	assert_int_equal(rq.blksize, 1024);
}

struct bad_case {
	const char *what;
	const char *body;
	size_t len;
	int op;
	int err;
};

#define BC(what, op, lit, err) { what, lit, sizeof(lit) - 1, op, err }

static void test_malformed(void **state)
{
	static const struct bad_case cases[] = {
		BC("no NUL after the name", TFTP_RRQ, "file", -EINVAL),
		BC("no NUL after the mode", TFTP_RRQ, "file\0octet", -EINVAL),
		BC("no mode", TFTP_RRQ, "file\0", -EINVAL),
		BC("empty name", TFTP_RRQ, "\0octet\0", -EINVAL),
		BC("unknown mode", TFTP_RRQ, "file\0mail\0", -EINVAL),
		BC("empty mode", TFTP_RRQ, "file\0\0", -EINVAL),
		BC("option value without NUL", TFTP_RRQ,
		   "file\0octet\0blksize\0512", -EINVAL),
		BC("DATA", TFTP_DATA, "\0\1xx", -EOPNOTSUPP),
		BC("ACK", TFTP_ACK, "\0\1", -EOPNOTSUPP),
		BC("opcode 0", 0, "file\0octet\0", -EOPNOTSUPP),
		BC("opcode 7", 7, "file\0octet\0", -EOPNOTSUPP),
	};
	struct tftp_request rq;
	const char *why;
	uint8_t b[1024];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = mk(b, cases[i].op, cases[i].body, cases[i].len);
		if (tftp_parse_request(b, n, &rq, &why) != cases[i].err)
			fail_msg("%s: not refused with %d", cases[i].what,
				 cases[i].err);
		assert_non_null(why);
	}
	assert_int_equal(tftp_parse_request(b, 0, &rq, &why), -EOPNOTSUPP);
	assert_int_equal(tftp_parse_request(b, 1, &rq, &why), -EOPNOTSUPP);
	/* a name as long as the buffer */
	b[0] = 0;
	b[1] = TFTP_RRQ;
	assert_int_equal(tftp_parse_request(b, 3, &rq, &why), -EINVAL);
	memset(b + 2, 'a', TFTP_NAME_MAX);
	memcpy(b + 2 + TFTP_NAME_MAX, "\0octet\0", 7);
	assert_int_equal(tftp_parse_request(b, TFTP_NAME_MAX + 9, &rq, &why),
			 -EINVAL);
	b[2 + TFTP_NAME_MAX - 1] = '\0';
	memcpy(b + 2 + TFTP_NAME_MAX, "octet\0", 6);
	assert_int_equal(tftp_parse_request(b, TFTP_NAME_MAX + 8, &rq, &why),
			 0);
	assert_int_equal(strlen(rq.name), TFTP_NAME_MAX - 1);
}

static void test_negotiate(void **state)
{
	struct tftp_request rq = { .opcode = TFTP_RRQ };
	struct tftp_params p;

	(void)state;
	tftp_negotiate(&rq, 1468, 64, 1000, &p);
	assert_int_equal(p.ack, 0);
	assert_int_equal(p.blksize, 512);
	assert_int_equal(p.window, 1);
	assert_int_equal(p.timeout, 0);

	rq.has = TFTP_OPT_BLKSIZE | TFTP_OPT_TSIZE | TFTP_OPT_WINDOW |
		 TFTP_OPT_TIMEOUT;
	rq.blksize = 65464;
	rq.window = 1000;
	rq.timeout = 9;
	tftp_negotiate(&rq, 1468, 64, 123456, &p);
	assert_int_equal(p.ack, rq.has);
	assert_int_equal(p.blksize, 1468); /* capped to the path MTU */
	assert_int_equal(p.window, 64);
	assert_int_equal(p.timeout, 9);
	assert_int_equal(p.tsize, 123456);

	rq.blksize = 1024;
	tftp_negotiate(&rq, 1468, 64, 0, &p);
	assert_int_equal(p.blksize, 1024);
	assert_false(p.ack & TFTP_OPT_TSIZE); /* empty file: see the header */

	rq.netascii = 1;
	tftp_negotiate(&rq, 1468, 64, 5000, &p);
	assert_false(p.ack & TFTP_OPT_TSIZE);
	assert_false(p.ack & TFTP_OPT_WINDOW);
	assert_int_equal(p.window, 1);
	assert_true(p.ack & TFTP_OPT_BLKSIZE);
}

static void test_oack_error_data(void **state)
{
	static const uint8_t want[] = "\0\6blksize\0001468\0tsize\00099\0"
				      "timeout\0002\0windowsize\0004";
	struct tftp_params p = { .ack = TFTP_OPT_BLKSIZE | TFTP_OPT_TSIZE |
					TFTP_OPT_TIMEOUT | TFTP_OPT_WINDOW,
				 .blksize = 1468, .tsize = 99, .timeout = 2,
				 .window = 4 };
	uint8_t b[128];
	size_t n;

	(void)state;
	n = tftp_build_oack(b, sizeof(b), &p);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(b, want, n);
	assert_int_equal(tftp_build_oack(b, 20, &p), 0);

	n = tftp_build_error(b, sizeof(b), TFTP_ENOTFOUND, "file not found");
	assert_int_equal(n, 4 + 15);
	assert_memory_equal(b, "\0\5\0\1file not found", n);
	n = tftp_build_error(b, 8, TFTP_EUNDEF, "a long message");
	assert_int_equal(n, 8);
	assert_int_equal(b[7], 0);

	tftp_build_data_hdr(b, 65535);
	assert_memory_equal(b, "\0\3\377\377", 4);
}

static void test_parse_reply(void **state)
{
	uint16_t blk;

	(void)state;
	assert_int_equal(tftp_parse_reply((const uint8_t *)"\0\4\1\2", 4, &blk),
			 TFTP_ACK);
	assert_int_equal(blk, 0x102);
	assert_int_equal(tftp_parse_reply((const uint8_t *)"\0\5\0\10x", 6,
					  &blk), TFTP_ERROR);
	assert_int_equal(blk, TFTP_EOPTNEG);
	assert_int_equal(tftp_parse_reply((const uint8_t *)"\0\4\1", 3, &blk),
			 -EINVAL);
	assert_int_equal(tftp_parse_reply((const uint8_t *)"\0\3\0\1", 4, &blk),
			 -EINVAL);
}

static void test_netascii(void **state)
{
	const uint8_t in[] = "a\nb\rc";
	uint8_t out[16];
	size_t used, n;
	int pend = -1;

	(void)state;
	n = tftp_netascii(in, 5, &used, out, sizeof(out), &pend);
	assert_int_equal(n, 7);
	assert_int_equal(used, 5);
	assert_memory_equal(out, "a\r\nb\r\0c", 7);
	assert_int_equal(pend, -1);

	/* a pair split across two blocks */
	n = tftp_netascii(in, 5, &used, out, 2, &pend);
	assert_int_equal(n, 2);
	assert_int_equal(used, 2);
	assert_memory_equal(out, "a\r", 2);
	assert_int_equal(pend, '\n');
	n = tftp_netascii(in + used, 3, &used, out, 3, &pend);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "\nb\r", 3);
	assert_int_equal(pend, 0);
	n = tftp_netascii(in, 0, &used, out, 3, &pend);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(pend, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_rrq),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_option_ranges),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_oack_error_data),
		cmocka_unit_test(test_parse_reply),
		cmocka_unit_test(test_netascii),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
