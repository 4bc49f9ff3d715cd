// SPDX-License-Identifier: GPL-2.0
/*
 * The control API's HTTP request parser (a table of good and bad requests)
 * and its JSON responses for an idle daemon.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "control.h"
#include "xbootd.h"

static const struct {
	const char *req;
	int status;
	const char *path;
} requests[] = {
	{ "GET /status HTTP/1.1\r\nHost: x\r\n\r\n", 200, "/status" },
	{ "GET /leases HTTP/1.0\n\n", 200, "/leases" },
	{ "GET /stats?pretty=1 HTTP/1.1\r\n\r\n", 200, "/stats" },
	{ "GET /stats#frag HTTP/1.1\r\n\r\n", 200, "/stats" },
	{ "GET /status HTTP/1.1\r\n", 0, NULL },     /* header not over yet */
	{ "GET /sta", 0, NULL },
	{ "", 0, NULL },
	{ "POST /status HTTP/1.1\r\n\r\n", 405, NULL },
	{ "DELETE /leases HTTP/1.1\r\n\r\n", 405, NULL },
	{ "GET status HTTP/1.1\r\n\r\n", 400, NULL },
	{ "GET /status\r\n\r\n", 400, NULL },
	{ "GET /status FTP/1.0\r\n\r\n", 400, NULL },
	{ "GET  HTTP/1.1\r\n\r\n", 400, NULL },
	{ " GET /status HTTP/1.1\r\n\r\n", 400, NULL },
	{ "\r\n\r\n", 400, NULL },
	{ "GET /st\x01tus HTTP/1.1\r\n\r\n", 400, NULL },
	{ "GET /\xffstatus HTTP/1.1\r\n\r\n", 400, NULL },
};

static void test_parse(void **state)
{
	char path[64];
	unsigned int i;
	int status;

	for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		memset(path, 'x', sizeof(path));
		status = control_parse_request(requests[i].req,
					       strlen(requests[i].req), path,
					       sizeof(path));
		if (status != requests[i].status)
			fail_msg("'%s': status %d, want %d", requests[i].req,
				 status, requests[i].status);
		if (requests[i].path)
			assert_string_equal(path, requests[i].path);
	}
}

static void test_parse_limits(void **state)
{
	char *big = malloc(CONTROL_REQ_MAX);
	char path[16], req[64];

	/* a header that never ends within the limit */
	memset(big, 'A', CONTROL_REQ_MAX);
	assert_int_equal(control_parse_request(big, CONTROL_REQ_MAX, path,
					       sizeof(path)), 431);
	assert_int_equal(control_parse_request(big, 100, path, sizeof(path)),
			 0);
	free(big);
	/* a path longer than the caller's buffer */
	strcpy(req, "GET /a-rather-long-path-name HTTP/1.1\r\n\r\n");
	assert_int_equal(control_parse_request(req, strlen(req), path,
					       sizeof(path)), 414);
	/* the parser never reads past len: the end is cut off */
	strcpy(req, "GET /status HTTP/1.1\r\n\r\n");
	assert_int_equal(control_parse_request(req, strlen(req) - 1, path,
					       sizeof(path)), 0);
}

/* The body of a response, parsed; status checked. */
static struct json_object *response(struct xbootd *d, int status,
				    const char *path, int want)
{
	struct json_object *o;
	char line[64];
	size_t len;
	char *resp = control_response(d, status, path, &len), *body;

	assert_non_null(resp);
	snprintf(line, sizeof(line), "HTTP/1.1 %d ", want);
	assert_memory_equal(resp, line, strlen(line));
	body = strstr(resp, "\r\n\r\n");
	assert_non_null(body);
	assert_int_equal(resp[len - 1], '\n');
	resp[len - 1] = '\0';
	o = json_tokener_parse(body + 4);
	assert_non_null(o);
	free(resp);
	return o;
}

static void test_responses(void **state)
{
	struct config cfg;
	struct xbootd d = { .cfg = &cfg, .nifaces = 1 };
	struct json_object *o, *v, *ifs;

	config_init(&cfg);
	strcpy(d.ifaces[0].link.name, "eth9");
	d.ifaces[0].link.ifindex = 9;
	d.ifaces[0].link.prefix = 24;
	d.ifaces[0].link.addr.s_addr = htonl(0x0a000001);
	d.ifaces[0].link.mac[5] = 0x42;

	o = response(&d, 200, "/status", 200);
	assert_true(json_object_object_get_ex(o, "mode", &v));
	assert_string_equal(json_object_get_string(v), "full");
	assert_true(json_object_object_get_ex(o, "interfaces", &ifs));
	v = json_object_array_get_idx(ifs, 0);
	assert_string_equal(json_object_get_string(
				    json_object_object_get(v, "address")),
			    "10.0.0.1/24");
	assert_string_equal(json_object_get_string(
				    json_object_object_get(v, "mac")),
			    "00:00:00:00:00:42");
	assert_string_equal(json_object_get_string(
				    json_object_object_get(v, "xdp")), "off");
	assert_true(json_object_object_get_ex(o, "leases", &v));
	assert_true(json_object_object_get_ex(v, "bound", NULL));
	json_object_put(o);

	o = response(&d, 200, "/stats", 200);
	assert_true(json_object_object_get_ex(o, "dhcp", &v));
	assert_true(json_object_object_get_ex(v, "drop_no_subnet", NULL));
	assert_true(json_object_object_get_ex(o, "xdp", &v));
	assert_int_equal(json_object_object_length(v), 0);
	json_object_put(o);

	o = response(&d, 200, "/leases", 200);
	assert_true(json_object_object_get_ex(o, "leases", &v));
	assert_int_equal(json_object_array_length(v), 0);
	json_object_put(o);

	o = response(&d, 200, "/nope", 404);
	assert_true(json_object_object_get_ex(o, "error", NULL));
	json_object_put(o);
	json_object_put(response(&d, 405, "", 405));
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_responses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
