// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP request head parser: good requests (keep-alive rules, ranges,
 * pipelining, absolute-form), a table of bad requests with the status
 * each must get, the Range forms, range resolution against a size, and
 * the heads of image uploads (PUT/POST bodies, Bearer keys, Expect).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http_parse.h"

static int parse(const char *s, struct http_request *req)
{
	return http_parse_request(s, strlen(s), req);
}

static void test_simple_get(void **state)
{
	struct http_request req;
	const char *s = "GET /boot/vmlinuz HTTP/1.1\r\nHost: x\r\n\r\n";

	(void)state;
	assert_int_equal(parse(s, &req), 200);
	assert_int_equal(req.method, HTTP_M_GET);
	assert_int_equal(req.minor, 1);
	assert_true(req.keep_alive);
	assert_string_equal(req.path, "/boot/vmlinuz");
	assert_int_equal(req.head_len, strlen(s));
	assert_int_equal(req.range.kind, HTTP_RANGE_NONE);
}

static void test_keep_alive_rules(void **state)
{
	struct http_request req;

	(void)state;
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &req), 200);
	assert_false(req.keep_alive);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			       &req), 200);
	assert_true(req.keep_alive);
	assert_int_equal(parse("HEAD / HTTP/1.1\r\nHost: a\r\nConnection: te, close\r\n\r\n",
			       &req), 200);
	assert_int_equal(req.method, HTTP_M_HEAD);
	assert_false(req.keep_alive);
}

static void test_incomplete(void **state)
{
	struct http_request req;

	(void)state;
	assert_int_equal(parse("", &req), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n", &req), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n\r", &req), 0);
	assert_int_equal(parse("GE", &req), 0);
}

static void test_pipelined(void **state)
{
	const char *s = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
			"GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http_request req;

	(void)state;
	assert_int_equal(parse(s, &req), 200);
	assert_string_equal(req.path, "/a");
	assert_int_equal(parse(s + req.head_len, &req), 200);
	assert_string_equal(req.path, "/b");
}

static void test_target_forms(void **state)
{
	struct http_request req;

	(void)state;
	assert_int_equal(parse("GET http://srv:8080/x/y?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
			       &req), 200);
	assert_string_equal(req.path, "/x/y");
	assert_int_equal(parse("GET /a%20b/c%2Fd HTTP/1.1\r\nHost: a\r\n\r\n",
			       &req), 200);
	assert_string_equal(req.path, "/a b/c/d");
	assert_int_equal(parse("GET /..a/b.. HTTP/1.1\r\nHost: a\r\n\r\n",
			       &req), 200);
	assert_string_equal(req.path, "/..a/b..");
	/* a bare LF ends lines too, and leading empty lines are skipped */
	assert_int_equal(parse("\r\nGET / HTTP/1.1\nHost: a\n\n", &req), 200);
}

struct bad_case {
	const char *name;
	const char *req;
	size_t len; /* 0: strlen */
	int status;
};

/* for requests with a NUL in them */
#define WITH_LEN(s) s, sizeof(s) - 1

static const struct bad_case bad_cases[] = {
	{ "no version", "GET /\r\n\r\n", 0, 400 },
	{ "no target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 0, 400 },
	{ "bad method token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "POST without length", "POST / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 411 },
	{ "PUT without length", "PUT /x HTTP/1.1\r\nHost: a\r\n\r\n", 0, 411 },
	{ "PUT body too big", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 67633153\r\n\r\n", 0, 413 },
	{ "PUT huge length", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0, 400 },
	{ "PUT signed length", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 0, 400 },
	{ "PUT length list", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 0, 400 },
	{ "PUT two lengths", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0, 400 },
	{ "PUT chunked", "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400 },
	{ "PUT length and chunked", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400 },
	{ "two Authorization", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n", 0, 400 },
	{ "bad raw length", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nX-Xboot-Raw-Length: 1k\r\n\r\n", 0, 400 },
	{ "two raw lengths", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nX-Xboot-Raw-Length: 1\r\nX-Xboot-Raw-Length: 1\r\n\r\n", 0, 400 },
	{ "unknown Expect", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: magic\r\n\r\n", 0, 417 },
	{ "GET with body length", "GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx", 0, 400 },
	{ "get lower case", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 405 },
	{ "DELETE", "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", 0, 405 },
	{ "HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 0, 505 },
	{ "bad version", "GET / HTTP/1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "not HTTP", "GET / FTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "version letters", "GET / HTTP/a.b\r\nHost: a\r\n\r\n", 0, 400 },
	{ "relative target", "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "dotdot", "GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "dotdot inside", "GET /a/../../b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "dotdot at end", "GET /a/.. HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "encoded dotdot", "GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "encoded dotdot mixed", "GET /a/.%2E/%2e./x HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "encoded slash dotdot", "GET /a%2f..%2fb HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "encoded NUL", "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "encoded LF", "GET /a%0ab HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "bad percent", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "short percent", "GET /a% HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "short percent 2", "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "raw NUL in line", WITH_LEN("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ "raw NUL in header", WITH_LEN("GET / HTTP/1.1\r\nHost: a\0\r\n\r\n"), 400 },
	{ "control char in target", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400 },
	{ "no host in 1.1", "GET / HTTP/1.1\r\n\r\n", 0, 400 },
	{ "two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 0, 400 },
	{ "header without colon", "GET / HTTP/1.1\r\nHost: a\r\nFoo\r\n\r\n", 0, 400 },
	{ "empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 0, 400 },
	{ "space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0, 400 },
	{ "folded header", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 0, 400 },
	{ "folded with tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 0, 400 },
	{ "body length", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 0, 400 },
	{ "duplicate Content-Length", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", 0, 400 },
	{ "bad Content-Length", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 0, 400 },
	{ "chunked", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400 },
	{ "request line too long", NULL, 0, 414 },
	{ "head too big", NULL, 1, 431 },
	{ "target too long", NULL, 2, 414 },
};

/* The generated cases: big requests built at run time. */
static char *make_big(const struct bad_case *c, size_t *len)
{
	char *b = malloc(HTTP_HEAD_MAX * 2);
	size_t n = 0;

	assert_non_null(b);
	if (c->len == 0) { /* no LF within the request line limit */
		memcpy(b, "GET /", 5);
		memset(b + 5, 'a', HTTP_LINE_MAX);
		n = 5 + HTTP_LINE_MAX;
	} else if (c->len == 1) { /* headers past the head limit, no end */
		n = sprintf(b, "GET / HTTP/1.1\r\nHost: a\r\n");
		while (n < HTTP_HEAD_MAX + 100)
			n += sprintf(b + n, "X-Pad: %0100d\r\n", 0);
	} else { /* a line within limits but a path too long */
		memcpy(b, "GET /", 5);
		memset(b + 5, 'a', HTTP_PATH_MAX + 10);
		n = 5 + HTTP_PATH_MAX + 10;
		n += sprintf(b + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
	}
	*len = n;
	return b;
}

static void test_bad_requests(void **state)
{
	struct http_request req;
	size_t i, len;
	char *big;
	int st;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];

		if (c->req) {
			len = c->len ? c->len : strlen(c->req);
			st = http_parse_request(c->req, len, &req);
		} else {
			big = make_big(c, &len);
			st = http_parse_request(big, len, &req);
			free(big);
		}
		if (st != c->status)
			fail_msg("%s: got %d, want %d", c->name, st, c->status);
	}
}

static void test_bodies(void **state)
{
	struct http_request req;
	const char *s;

	(void)state;
	s = "PUT /images/a/chunk/3 HTTP/1.1\r\nHost: a\r\n"
	    "Authorization: Bearer 0123abcd\r\n"
	    "X-Xboot-Raw-Length: 4194304\r\nContent-Length: 67633152\r\n"
	    "Expect: 100-continue\r\n\r\nFRAME";
	assert_int_equal(parse(s, &req), 200);
	assert_int_equal(req.method, HTTP_M_PUT);
	assert_string_equal(req.path, "/images/a/chunk/3");
	assert_int_equal(req.content_length, HTTP_BODY_MAX);
	assert_true(req.has_raw_length);
	assert_int_equal(req.raw_length, 4194304);
	assert_true(req.expect_continue);
	assert_string_equal(req.bearer, "0123abcd");
	assert_int_equal(req.head_len, strlen(s) - 5);
	assert_true(req.keep_alive);

	s = "POST /images/a/finish HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 0\r\n\r\n";
	assert_int_equal(parse(s, &req), 200);
	assert_int_equal(req.method, HTTP_M_POST);
	assert_int_equal(req.content_length, 0);
	assert_false(req.has_raw_length);
	assert_false(req.expect_continue);
	assert_string_equal(req.bearer, "");

	/* other schemes and unprintable keys are no key at all */
	s = "GET /images/a/data HTTP/1.1\r\nHost: a\r\n"
	    "Authorization: Basic dXNlcjpwdw==\r\n\r\n";
	assert_int_equal(parse(s, &req), 200);
	assert_string_equal(req.bearer, "");
	s = "GET /images/a/data HTTP/1.1\r\nHost: a\r\n"
	    "Authorization: bearer  k\x7f\r\n\r\n";
	assert_int_equal(parse(s, &req), 400);
	s = "GET /images/a/data HTTP/1.1\r\nHost: a\r\n"
	    "Authorization: Bearer\r\n\r\n";
	assert_int_equal(parse(s, &req), 200);
	assert_string_equal(req.bearer, "");
	s = "GET /images/a/data HTTP/1.1\r\nHost: a\r\n"
	    "Authorization: BEARER abc\r\n\r\n";
	assert_int_equal(parse(s, &req), 200);
	assert_string_equal(req.bearer, "abc");
	/* Expect on a GET is not a reason to wait for a body */
	s = "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n";
	assert_int_equal(parse(s, &req), 200);
	assert_false(req.expect_continue);
}

static void test_head_method_known_on_error(void **state)
{
	struct http_request req;

	(void)state;
	assert_int_equal(parse("HEAD /%00 HTTP/1.1\r\nHost: a\r\n\r\n", &req),
			 400);
	assert_int_equal(req.method, HTTP_M_HEAD);
}

struct range_case {
	const char *v;
	int ret;
	enum http_range_kind kind;
	uint64_t first, last;
};

static const struct range_case range_cases[] = {
	{ "bytes=0-0", 0, HTTP_RANGE_FROM_TO, 0, 0 },
	{ "bytes=10-19", 0, HTTP_RANGE_FROM_TO, 10, 19 },
	{ "bytes=10-", 0, HTTP_RANGE_FROM, 10, 0 },
	{ "bytes=-5", 0, HTTP_RANGE_SUFFIX, 5, 0 },
	{ "BYTES=1-2", 0, HTTP_RANGE_FROM_TO, 1, 2 },
	{ "bytes=0-1,4-5", -EOPNOTSUPP, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=5-4", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=-0", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=-", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=a-b", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=1", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=1-2x", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes= 1-2", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
	{ "items=1-2", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=99999999999999999999-", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
	{ "bytes=--1", -EINVAL, HTTP_RANGE_NONE, 0, 0 },
};

static void test_range_forms(void **state)
{
	struct http_range r;
	size_t i;
	int ret;

	(void)state;
	for (i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
		const struct range_case *c = &range_cases[i];

		ret = http_parse_range(c->v, strlen(c->v), &r);
		if (ret != c->ret)
			fail_msg("'%s': got %d, want %d", c->v, ret, c->ret);
		if (ret)
			continue;
		assert_int_equal(r.kind, c->kind);
		assert_int_equal(r.first, c->first);
		if (c->kind == HTTP_RANGE_FROM_TO)
			assert_int_equal(r.last, c->last);
	}
}

static void test_range_header(void **state)
{
	struct http_request req;

	(void)state;
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=2-3\r\n\r\n",
			       &req), 200);
	assert_int_equal(req.range.kind, HTTP_RANGE_FROM_TO);
	/* malformed, several, or repeated: ignored, the whole file goes */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=x\r\n\r\n",
			       &req), 200);
	assert_int_equal(req.range.kind, HTTP_RANGE_NONE);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1,3-4\r\n\r\n",
			       &req), 200);
	assert_int_equal(req.range.kind, HTTP_RANGE_NONE);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\nRange: bytes=0-1\r\n\r\n",
			       &req), 200);
	assert_int_equal(req.range.kind, HTTP_RANGE_NONE);
}

static void test_range_resolve(void **state)
{
	struct http_range r = { 0 };
	uint64_t off, n;

	(void)state;
	assert_int_equal(http_range_resolve(&r, 100, &off, &n), 200);
	assert_int_equal(n, 100);
	r = (struct http_range){ HTTP_RANGE_FROM_TO, 10, 19 };
	assert_int_equal(http_range_resolve(&r, 100, &off, &n), 206);
	assert_int_equal(off, 10);
	assert_int_equal(n, 10);
	r = (struct http_range){ HTTP_RANGE_FROM_TO, 90, 1000 };
	assert_int_equal(http_range_resolve(&r, 100, &off, &n), 206);
	assert_int_equal(off, 90);
	assert_int_equal(n, 10);
	r = (struct http_range){ HTTP_RANGE_FROM, 99, 0 };
	assert_int_equal(http_range_resolve(&r, 100, &off, &n), 206);
	assert_int_equal(n, 1);
	r = (struct http_range){ HTTP_RANGE_FROM, 100, 0 };
	assert_int_equal(http_range_resolve(&r, 100, &off, &n), 416);
	r = (struct http_range){ HTTP_RANGE_SUFFIX, 30, 0 };
	assert_int_equal(http_range_resolve(&r, 100, &off, &n), 206);
	assert_int_equal(off, 70);
	assert_int_equal(n, 30);
	r = (struct http_range){ HTTP_RANGE_SUFFIX, 300, 0 };
	assert_int_equal(http_range_resolve(&r, 100, &off, &n), 206);
	assert_int_equal(off, 0);
	assert_int_equal(n, 100);
	assert_int_equal(http_range_resolve(&r, 0, &off, &n), 416);
	r = (struct http_range){ HTTP_RANGE_FROM_TO, 0, 0 };
	assert_int_equal(http_range_resolve(&r, 0, &off, &n), 416);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_keep_alive_rules),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_target_forms),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_head_method_known_on_error),
		cmocka_unit_test(test_range_forms),
		cmocka_unit_test(test_range_header),
		cmocka_unit_test(test_range_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
