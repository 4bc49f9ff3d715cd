// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's HTTP GET for kexec jobs (userspace/agent/http_get.c): URL
 * splitting and the response head parser, with tables of bad inputs (both
 * read what a network or an operator hands the agent).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http_get.h"

static void test_url_ok(void **state)
{
	struct http_url u;

	(void)state;
	assert_int_equal(http_url_parse("http://10.0.0.1:8080/boot/vmlinuz",
					&u), 0);
	assert_string_equal(u.host, "10.0.0.1");
	assert_int_equal(u.port, 8080);
	assert_string_equal(u.path, "/boot/vmlinuz");
	assert_int_equal(http_url_parse("http://boot.example", &u), 0);
	assert_string_equal(u.host, "boot.example");
	assert_int_equal(u.port, 80);
	assert_string_equal(u.path, "/");
	assert_int_equal(http_url_parse("http://h/a?b=c", &u), 0);
	assert_string_equal(u.path, "/a?b=c");
}

static void test_url_bad(void **state)
{
	static const char *const bad[] = {
		"", "http://", "http:///x", "https://h/x", "ftp://h/x",
		"http://h:/x", "http://h:0/x", "http://h:65536/x",
		"http://h:80x/x", "http://:80/x", "http://h/a b",
		"http://h/a\r\nX: y", "/boot/vmlinuz", "http://h?x",
	};
	struct http_url u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (http_url_parse(bad[i], &u) != -EINVAL)
			fail_msg("accepted bad URL '%s'", bad[i]);
}

static int head(const char *h, int *status, int64_t *cl)
{
	return http_head_parse(h, strlen(h), status, cl);
}

static void test_head_ok(void **state)
{
	int64_t cl;
	int status;

	(void)state;
	assert_int_equal(head("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n"
			      "Server: xbootd\r\n\r\n", &status, &cl), 0);
	assert_int_equal(status, 200);
	assert_int_equal(cl, 42);
	assert_int_equal(head("HTTP/1.0 404 Not Found\r\n\r\n", &status, &cl),
			 0);
	assert_int_equal(status, 404);
	assert_int_equal(cl, -1);
	assert_int_equal(head("HTTP/1.1 200 OK\r\ncontent-length:7\r\n\r\n",
			      &status, &cl), 0);
	assert_int_equal(cl, 7);
}

static void test_head_bad(void **state)
{
	static const struct {
		const char *head;
		int err;
	} bad[] = {
		{ "HTTP/2 200 OK\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 20 OK\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 2000 OK\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 099 OK\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\n", -EBADMSG },
		{ "ICY 200 OK\r\n\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nContent-Length: "
		  "99999999999999999999999\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		  -EOPNOTSUPP },
	};
	int64_t cl;
	int status;
	size_t i;
	int err;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = head(bad[i].head, &status, &cl);
		if (err != bad[i].err)
			fail_msg("'%s': got %d, want %d", bad[i].head, err,
				 bad[i].err);
	}
	/* a NUL inside the head */
	assert_int_equal(http_head_parse("HTTP/1.1 200 OK\r\nA: \0b\r\n\r\n",
					 25, &status, &cl), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_ok),
		cmocka_unit_test(test_url_bad),
		cmocka_unit_test(test_head_ok),
		cmocka_unit_test(test_head_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
