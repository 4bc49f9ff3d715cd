// SPDX-License-Identifier: GPL-2.0
/*
 * The control API's HTTP request parser (a table of good and bad requests),
 * its JSON responses for an idle daemon, the agent routes (machines,
 * jobs, events) on a real machines store, the image routes on a real
 * image store, and POST /media's checks and defaults.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "control.h"
#include "image_store.h"
#include "machines.h"
#include "xbootd.h"

/* A request the parser refuses, or needs more of (status 0). */
#define BAD(r, s) { .req = (r), .status = (s) }

static const struct {
	const char *req;
	int status;
	const char *path;
	int method;
	const char *query;
	const char *body;
} requests[] = {
	{ "GET /status HTTP/1.1\r\nHost: x\r\n\r\n", 200, "/status",
	  CONTROL_M_GET, "", NULL },
	{ "GET /leases HTTP/1.0\n\n", 200, "/leases", CONTROL_M_GET, "", NULL },
	{ "GET /stats?pretty=1 HTTP/1.1\r\n\r\n", 200, "/stats",
	  CONTROL_M_GET, "pretty=1", NULL },
	{ "GET /stats#frag HTTP/1.1\r\n\r\n", 200, "/stats", CONTROL_M_GET, "",
	  NULL },
	{ "GET /jobs?mac=52:54:00:12:34:56#x HTTP/1.1\r\n\r\n", 200, "/jobs",
	  CONTROL_M_GET, "mac=52:54:00:12:34:56", NULL },
	{ "GET /events?after=3&max=10 HTTP/1.1\r\n\r\n", 200, "/events",
	  CONTROL_M_GET, "after=3&max=10", NULL },
	{ "POST /jobs HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"a\":1}", 200,
	  "/jobs", CONTROL_M_POST, "", "{\"a\":1}" },
	{ "POST /jobs/1/cancel HTTP/1.1\r\ncontent-length:  0 \r\n\r\n", 200,
	  "/jobs/1/cancel", CONTROL_M_POST, "", "" },
	/* a body longer than announced: the rest is not the body */
	{ "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nabcd", 200, "/x",
	  CONTROL_M_POST, "", "ab" },
	BAD("GET /status HTTP/1.1\r\n", 0),     /* header not over yet */
	BAD("GET /sta", 0),
	BAD("", 0),
	/* the body is still coming */
	BAD("POST /jobs HTTP/1.1\r\nContent-Length: 8\r\n\r\n{\"a\":1}", 0),
	BAD("POST /jobs HTTP/1.1\r\nContent-Length: 8\r\n\r\n", 0),
	BAD("POST /status HTTP/1.1\r\n\r\n", 411),
	BAD("POST /jobs HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
	BAD("POST /jobs HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
	BAD("POST /jobs HTTP/1.1\r\nContent-Length: \r\n\r\n", 400),
	BAD("POST /jobs HTTP/1.1\r\nContent-Length: 1234567890\r\n\r\n", 400),
	BAD("POST /jobs HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", 413),
	BAD("POST /jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
	BAD("POST /jobs HTTP/1.1\r\nContent-Length: 2\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n{}", 501),
	BAD("DELETE /leases HTTP/1.1\r\n\r\n", 405),
	BAD("PUT /jobs HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
	BAD("get /status HTTP/1.1\r\n\r\n", 405),
	BAD("GET status HTTP/1.1\r\n\r\n", 400),
	BAD("GET /status\r\n\r\n", 400),
	BAD("GET /status FTP/1.0\r\n\r\n", 400),
	BAD("GET  HTTP/1.1\r\n\r\n", 400),
	BAD(" GET /status HTTP/1.1\r\n\r\n", 400),
	BAD("\r\n\r\n", 400),
	BAD("GET /st\x01tus HTTP/1.1\r\n\r\n", 400),
	BAD("GET /\xffstatus HTTP/1.1\r\n\r\n", 400),
	BAD("GET /jobs?mac=\x7f HTTP/1.1\r\n\r\n", 400),
};

static void test_parse(void **state)
{
	struct control_request req;
	unsigned int i;
	int status;

	for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		memset(&req, 'x', sizeof(req));
		status = control_parse_request(requests[i].req,
					       strlen(requests[i].req), &req);
		if (status != requests[i].status)
			fail_msg("'%s': status %d, want %d", requests[i].req,
				 status, requests[i].status);
		if (!requests[i].path)
			continue;
		assert_string_equal(req.path, requests[i].path);
		assert_int_equal(req.method, requests[i].method);
		assert_string_equal(req.query, requests[i].query);
		if (!requests[i].body) {
			assert_int_equal(req.body_len, 0);
			continue;
		}
		assert_int_equal(req.body_len, strlen(requests[i].body));
		assert_memory_equal(req.body, requests[i].body, req.body_len);
	}
}

static void test_parse_nul(void **state)
{
	static const char req[] = "GET /st\0tus HTTP/1.1\r\n\r\n";
	struct control_request r;

	assert_int_equal(control_parse_request(req, sizeof(req) - 1, &r), 400);
}

static void test_parse_limits(void **state)
{
	char *big = malloc(CONTROL_REQ_MAX + 1);
	struct control_request req;
	char line[400];
	int n;

	/* a header that never ends within the limit */
	memset(big, 'A', CONTROL_REQ_MAX);
	assert_int_equal(control_parse_request(big, CONTROL_HEAD_MAX, &req),
			 431);
	assert_int_equal(control_parse_request(big, CONTROL_REQ_MAX, &req),
			 431);
	assert_int_equal(control_parse_request(big, 100, &req), 0);
	/* the largest body that fits, and one byte more */
	n = snprintf(big, CONTROL_REQ_MAX,
		     "POST /jobs HTTP/1.1\r\nContent-Length: %7d\r\n\r\n", 0);
	snprintf(big, CONTROL_REQ_MAX,
		 "POST /jobs HTTP/1.1\r\nContent-Length: %7d\r\n\r\n",
		 CONTROL_REQ_MAX - n);
	assert_int_equal(control_parse_request(big, CONTROL_REQ_MAX, &req),
			 200);
	assert_int_equal(req.body_len, CONTROL_REQ_MAX - n);
	assert_int_equal(control_parse_request(big, CONTROL_REQ_MAX - 1, &req),
			 0);
	snprintf(big, CONTROL_REQ_MAX,
		 "POST /jobs HTTP/1.1\r\nContent-Length: %7d\r\n\r\n",
		 CONTROL_REQ_MAX - n + 1);
	assert_int_equal(control_parse_request(big, n, &req), 413);
	free(big);
	/* a path or query longer than CONTROL_PATH_MAX */
	memset(line, 0, sizeof(line));
	strcpy(line, "GET /");
	memset(line + 5, 'a', CONTROL_PATH_MAX);
	strcat(line, " HTTP/1.1\r\n\r\n");
	assert_int_equal(control_parse_request(line, strlen(line), &req), 414);
	memset(line, 0, sizeof(line));
	strcpy(line, "GET /jobs?");
	memset(line + 10, 'a', CONTROL_PATH_MAX);
	strcat(line, " HTTP/1.1\r\n\r\n");
	assert_int_equal(control_parse_request(line, strlen(line), &req), 414);
	/* the parser never reads past len: the end is cut off */
	strcpy(line, "GET /status HTTP/1.1\r\n\r\n");
	assert_int_equal(control_parse_request(line, strlen(line) - 1, &req),
			 0);
	strcpy(line, "POST /jobs HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
	assert_int_equal(control_parse_request(line, strlen(line) - 1, &req),
			 0);
}

static void test_query(void **state)
{
	char v[8];

	assert_int_equal(control_query_get("a=1&mac=x%3ay&b=", "mac", v,
					   sizeof(v)), 0);
	assert_string_equal(v, "x:y");
	assert_int_equal(control_query_get("a=1&mac=x%3ay&b=", "b", v,
					   sizeof(v)), 0);
	assert_string_equal(v, "");
	assert_int_equal(control_query_get("xa=1&a=2+3", "a", v, sizeof(v)),
			 0);
	assert_string_equal(v, "2 3");
	assert_int_equal(control_query_get("", "a", v, sizeof(v)), -ENOENT);
	assert_int_equal(control_query_get("ab=1&a", "a", v, sizeof(v)),
			 -ENOENT);
	assert_int_equal(control_query_get("a=12345678", "a", v, sizeof(v)),
			 -ENAMETOOLONG);
	assert_int_equal(control_query_get("a=%zz", "a", v, sizeof(v)),
			 -EINVAL);
	assert_int_equal(control_query_get("a=%4", "a", v, sizeof(v)),
			 -EINVAL);
	assert_int_equal(control_query_get("a=x%00", "a", v, sizeof(v)),
			 -EINVAL);
}

/* The whole answer to the request text req: status checked, the body
 * parsed as JSON (NULL: raw, in *raw when raw is not NULL). */
static struct json_object *ask(struct xbootd *d, const char *req, int want,
			       char **raw)
{
	struct control_request r;
	struct json_object *o = NULL;
	char line[64];
	size_t len;
	char *resp, *body;
	int status;

	status = control_parse_request(req, strlen(req), &r);
	assert_int_not_equal(status, 0);
	resp = control_response(d, status, &r, &len);
	assert_non_null(resp);
	snprintf(line, sizeof(line), "HTTP/1.1 %d ", want);
	if (memcmp(resp, line, strlen(line)))
		fail_msg("%s: got %.*s", req, (int)len, resp);
	body = strstr(resp, "\r\n\r\n");
	assert_non_null(body);
	if (strstr(resp, "Content-Type: application/json")) {
		assert_int_equal(resp[len - 1], '\n');
		resp[len - 1] = '\0';
		o = json_tokener_parse(body + 4);
		assert_non_null(o);
	} else if (raw) {
		*raw = strndup(body + 4, len - (body + 4 - resp));
	}
	free(resp);
	return o;
}

static struct json_object *response(struct xbootd *d, const char *path,
				    int want)
{
	char req[256];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", path);
	return ask(d, req, want, NULL);
}

/* POST path with body; the answer's JSON. */
static struct json_object *post(struct xbootd *d, const char *path,
				const char *body, int want)
{
	char req[1024];

	snprintf(req, sizeof(req),
		 "POST %s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s", path,
		 strlen(body), body);
	return ask(d, req, want, NULL);
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
	return json_object_get_string(v);
}

static int64_t int_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
	return json_object_get_int64(v);
}

/* The error message of an answer, checked to contain want. */
static void expect_error(struct json_object *o, const char *want)
{
	const char *msg = str_of(o, "error");

	if (!strstr(msg, want))
		fail_msg("error '%s' does not say '%s'", msg, want);
	json_object_put(o);
}

static void test_responses(void **state)
{
	struct config cfg;
	struct xbootd d = { .cfg = &cfg, .nifaces = 1 };
	struct json_object *o, *v, *ifs;
	char *resp;
	size_t len;

	config_init(&cfg);
	strcpy(d.ifaces[0].link.name, "eth9");
	d.ifaces[0].link.ifindex = 9;
	d.ifaces[0].link.prefix = 24;
	d.ifaces[0].link.addr.s_addr = htonl(0x0a000001);
	d.ifaces[0].link.mac[5] = 0x42;

	o = response(&d, "/status", 200);
	assert_true(json_object_object_get_ex(o, "mode", &v));
	assert_string_equal(json_object_get_string(v), "full");
	assert_true(json_object_object_get_ex(o, "interfaces", &ifs));
	v = json_object_array_get_idx(ifs, 0);
	assert_string_equal(str_of(v, "address"), "10.0.0.1/24");
	assert_string_equal(str_of(v, "mac"), "00:00:00:00:00:42");
	assert_string_equal(str_of(v, "xdp"), "off");
	assert_true(json_object_object_get_ex(o, "leases", &v));
	assert_true(json_object_object_get_ex(v, "bound", NULL));
	assert_true(json_object_object_get_ex(o, "agents", &v));
	assert_int_equal(int_of(v, "port"), 0);
	assert_int_equal(int_of(v, "active"), 0);
	assert_string_equal(str_of(o, "image_dir"), "");
	json_object_put(o);

	o = response(&d, "/stats", 200);
	assert_true(json_object_object_get_ex(o, "dhcp", &v));
	assert_true(json_object_object_get_ex(v, "drop_no_subnet", NULL));
	assert_true(json_object_object_get_ex(o, "xdp", &v));
	assert_int_equal(json_object_object_length(v), 0);
	assert_true(json_object_object_get_ex(o, "agent", &v));
	json_object_put(o);

	o = response(&d, "/leases/", 200);
	assert_true(json_object_object_get_ex(o, "leases", &v));
	assert_int_equal(json_object_array_length(v), 0);
	json_object_put(o);

	expect_error(response(&d, "/nope", 404), "not found");
	expect_error(response(&d, "/status/x", 404), "not found");
	expect_error(post(&d, "/status", "", 405), "use GET");
	/* no machines store: the agent routes say so */
	expect_error(response(&d, "/machines", 503), "machines store");
	expect_error(response(&d, "/events?after=0", 503), "machines store");
	expect_error(post(&d, "/jobs", "{}", 503), "machines store");
	/* no image store either */
	expect_error(response(&d, "/images", 503), "image store");
	expect_error(response(&d, "/images/disk1", 503), "image store");

	resp = control_response(&d, 405, NULL, &len);
	assert_non_null(resp);
	assert_memory_equal(resp, "HTTP/1.1 405 ", 13);
	free(resp);
	config_free(&cfg);
}

/* ---- the agent routes, on a real store ---- */

struct fixture {
	char dir[64];
	struct config cfg;
	struct store *st;
	struct xbootd d;
};

static int setup_store(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_control.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	config_init(&f->cfg);
	f->d.cfg = &f->cfg;
	if (store_open(&f->st, f->dir) ||
	    machines_open(&f->d.machines, f->st))
		return -1;
	f->d.store = f->st;
	*state = f;
	return 0;
}

static int teardown_store(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	machines_close(f->d.machines);
	store_close(f->st);
	config_free(&f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

#define MAC "52:54:00:12:34:56"

static void test_jobs(void **state)
{
	struct fixture *f = *state;
	struct xbootd *d = &f->d;
	struct json_object *o, *j, *arr;
	char path[64], req[80], *raw = NULL;
	uint64_t id;

	/* the bad fields of a job, each named */
	expect_error(post(d, "/jobs", "", 400), "body");
	expect_error(post(d, "/jobs", "[1]", 400), "body");
	expect_error(post(d, "/jobs", "{\"type\":\"run\"} x", 400), "body");
	expect_error(post(d, "/jobs", "{\"type\":\"run\"}", 400), "mac");
	expect_error(post(d, "/jobs", "{\"mac\":\"52:54\",\"type\":\"run\"}",
			  400), "mac");
	expect_error(post(d, "/jobs", "{\"mac\":\"" MAC "\"}", 400), "type");
	expect_error(post(d, "/jobs", "{\"mac\":\"" MAC "\",\"type\":\"dance\"}",
			  400), "type: unknown");
	expect_error(post(d, "/jobs", "{\"mac\":\"" MAC "\",\"type\":\"run\"}",
			  400), "args");
	expect_error(post(d, "/jobs", "{\"mac\":\"" MAC "\",\"type\":\"run\","
			  "\"args\":[\"x\",2]}", 400), "args[1]");
	expect_error(post(d, "/jobs", "{\"mac\":\"" MAC "\",\"type\":\"run\","
			  "\"args\":\"x\"}", 400), "args");
	expect_error(post(d, "/jobs", "{\"mac\":\"" MAC "\",\"type\":\"run\","
			  "\"args\":[\"x\"],\"step\":\"later\"}", 400), "step");
	expect_error(post(d, "/jobs", "{\"mac\":\"" MAC "\",\"type\":\"run\","
			  "\"args\":[\"x\"],\"timeout_s\":-1}", 400),
		     "timeout_s");
	expect_error(post(d, "/jobs", "{\"mac\":\"" MAC "\",\"type\":\"run\","
			  "\"args\":[\"x\"],\"timeout_s\":\"9\"}", 400),
		     "timeout_s");
	expect_error(post(d, "/jobs", "{\"mac\":\"" MAC "\",\"type\":\"run\","
			  "\"args\":[\"x\"],\"timeout\":9}", 400), "timeout:");

	o = post(d, "/jobs", "{\"mac\":\"52-54-00-12-34-56\",\"type\":\"run\","
		 "\"args\":[\"echo hi\"],\"timeout_s\":30}", 201);
	assert_true(json_object_object_get_ex(o, "job", &j));
	id = int_of(j, "id");
	assert_true(id > 0);
	assert_string_equal(str_of(j, "mac"), MAC);
	assert_string_equal(str_of(j, "type"), "run");
	assert_string_equal(str_of(j, "step"), "pre");
	assert_string_equal(str_of(j, "state"), "queued");
	assert_int_equal(int_of(j, "timeout_s"), 30);
	json_object_put(o);
	json_object_put(post(d, "/jobs", "{\"mac\":\"" MAC "\",\"type\":"
			     "\"poweroff\"}", 201));

	snprintf(path, sizeof(path), "/jobs/%llu", (unsigned long long)id);
	o = response(d, path, 200);
	assert_true(json_object_object_get_ex(o, "job", &j));
	assert_int_equal(int_of(j, "id"), id);
	json_object_put(o);

	o = response(d, "/jobs?mac=" MAC, 200);
	assert_true(json_object_object_get_ex(o, "jobs", &arr));
	assert_int_equal(json_object_array_length(arr), 2);
	json_object_put(o);
	o = response(d, "/jobs?mac=52:54:00:00:00:01", 200);
	assert_true(json_object_object_get_ex(o, "jobs", &arr));
	assert_int_equal(json_object_array_length(arr), 0);
	json_object_put(o);
	expect_error(response(d, "/jobs?mac=zz", 400), "mac");

	/* no output yet: an empty text/plain body */
	snprintf(req, sizeof(req), "GET /jobs/%llu/output HTTP/1.1\r\n\r\n",
		 (unsigned long long)id);
	assert_null(ask(d, req, 200, &raw));
	assert_non_null(raw);
	assert_string_equal(raw, "");
	free(raw);
	expect_error(response(d, "/jobs/999/output", 404), "no job 999");
	snprintf(path, sizeof(path), "/jobs/%llu/output?offset=x",
		 (unsigned long long)id);
	expect_error(response(d, path, 400), "offset");

	expect_error(response(d, "/jobs/999", 404), "no job 999");
	expect_error(response(d, "/jobs/0", 400), "bad job id");
	expect_error(response(d, "/jobs/x1", 400), "bad job id");
	snprintf(path, sizeof(path), "/jobs/%llu/cancel",
		 (unsigned long long)id);
	expect_error(response(d, path, 405), "use POST");
	snprintf(path, sizeof(path), "/jobs/%llu/explode",
		 (unsigned long long)id);
	expect_error(post(d, path, "", 404), "not found");
	snprintf(path, sizeof(path), "/jobs/%llu/retry",
		 (unsigned long long)id);
	expect_error(post(d, path, "", 409), "has not failed");

	snprintf(path, sizeof(path), "/jobs/%llu/cancel",
		 (unsigned long long)id);
	o = post(d, path, "", 200);
	assert_true(json_object_object_get_ex(o, "job", &j));
	assert_string_equal(str_of(j, "state"), "cancelled");
	json_object_put(o);
	expect_error(post(d, path, "", 409), "already finished");
	snprintf(path, sizeof(path), "/jobs/%llu/retry",
		 (unsigned long long)id);
	o = post(d, path, "", 200);
	assert_true(json_object_object_get_ex(o, "job", &j));
	assert_string_equal(str_of(j, "state"), "queued");
	json_object_put(o);
	expect_error(post(d, "/jobs/999/cancel", "", 404), "no job 999");
}

static void test_machines(void **state)
{
	struct fixture *f = *state;
	struct xbootd *d = &f->d;
	struct json_object *o, *arr, *m;
	const char *cred;

	expect_error(response(d, "/machines/" MAC, 404), "unknown machine");
	expect_error(response(d, "/machines/nope", 400), "bad MAC");
	expect_error(response(d, "/machines/" MAC "/enrol", 405), "use POST");
	expect_error(post(d, "/machines/" MAC "/format", "", 404),
		     "not found");

	o = post(d, "/machines/" MAC "/enrol", "", 200);
	assert_string_equal(str_of(o, "mac"), MAC);
	cred = str_of(o, "credential");
	assert_true(strlen(cred) >= 16);
	assert_true(strlen(cred) < MACHINES_CRED_TEXT_MAX);
	assert_int_equal(strspn(cred, "abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"),
			 strlen(cred));
	assert_true(int_of(o, "expires") > time(NULL));
	json_object_put(o);

	o = response(d, "/machines", 200);
	assert_true(json_object_object_get_ex(o, "machines", &arr));
	assert_int_equal(json_object_array_length(arr), 1);
	m = json_object_array_get_idx(arr, 0);
	assert_string_equal(str_of(m, "mac"), MAC);
	json_object_put(o);
	o = response(d, "/machines/525400123456", 200);
	assert_string_equal(str_of(o, "mac"), MAC);
	json_object_put(o);

	/* no agent service: no session to end */
	expect_error(post(d, "/machines/" MAC "/disconnect", "", 404),
		     "no agent session");
	o = post(d, "/machines/" MAC "/forget-token", "", 200);
	assert_string_equal(str_of(o, "mac"), MAC);
	json_object_put(o);
}

static void test_events(void **state)
{
	struct fixture *f = *state;
	struct xbootd *d = &f->d;
	struct json_object *o, *arr, *e;
	const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x57 };
	struct in_addr ip = { htonl(0x0a4d010a) };
	int64_t seq;
	char path[64];

	o = response(d, "/events?max=0", 200);
	seq = int_of(o, "seq");
	assert_true(json_object_object_get_ex(o, "events", &arr));
	assert_int_equal(json_object_array_length(arr), 0);
	json_object_put(o);

	assert_int_equal(machines_phase(d->machines, mac, MPHASE_OFFERED,
					NULL, &ip), 0);
	assert_int_equal(machines_phase(d->machines, mac, MPHASE_BOOT_FILE,
					"undionly.kpxe", &ip), 0);
	snprintf(path, sizeof(path), "/events?after=%lld",
		 (long long)seq);
	o = response(d, path, 200);
	assert_true(json_object_object_get_ex(o, "events", &arr));
	assert_int_equal(json_object_array_length(arr), 2);
	e = json_object_array_get_idx(arr, 1);
	assert_string_equal(str_of(e, "mac"), "52:54:00:12:34:57");
	assert_string_equal(str_of(e, "phase"), "boot-file");
	assert_string_equal(str_of(e, "detail"), "undionly.kpxe");
	json_object_put(o);
	snprintf(path, sizeof(path), "/events?after=%lld&max=1",
		 (long long)seq);
	o = response(d, path, 200);
	assert_true(json_object_object_get_ex(o, "events", &arr));
	assert_int_equal(json_object_array_length(arr), 1);
	json_object_put(o);
	expect_error(response(d, "/events?after=-1", 400), "after");
	expect_error(response(d, "/events?max=z", 400), "max");
}

/* ---- the image routes, on a real image store ---- */

#define IMG_CHUNK (64 * 1024)

/* NAME from 3 chunks: data, zeros (a hole), data; source MAC mac. */
static void image_make(struct image_store *st, const char *name,
		       const uint8_t *mac)
{
	struct image_meta meta = { .size = 3 * IMG_CHUNK - 100,
				   .capture_time = 1700000000 };
	struct image_store_tx *tx;
	struct image_err e = { "" };
	uint8_t *buf = calloc(1, IMG_CHUNK);
	int i;

	assert_non_null(buf);
	if (mac)
		memcpy(meta.mac, mac, XBI_MAC_LEN);
	if (image_store_create(st, name, &meta, IMG_CHUNK, 1, 1, &tx, &e))
		fail_msg("create %s: %s", name, e.msg);
	for (i = 0; i < 3; i++) {
		memset(buf, i == 1 ? 0 : 'a' + i, IMG_CHUNK);
		if (image_writer_put(image_store_tx_writer(tx), i, buf,
				     i == 2 ? IMG_CHUNK - 100 : IMG_CHUNK, &e))
			fail_msg("put %s: %s", name, e.msg);
	}
	if (image_store_publish(tx, &e))
		fail_msg("publish %s: %s", name, e.msg);
	free(buf);
}

static struct json_object *image_at(struct json_object *o, size_t i)
{
	struct json_object *arr;

	assert_true(json_object_object_get_ex(o, "images", &arr));
	assert_true(i < json_object_array_length(arr));
	return json_object_array_get_idx(arr, i);
}

static void test_images(void **state)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0xab, 0xcd, 0xef };
	struct fixture *f = *state;
	struct xbootd *d = &f->d;
	struct image_err e = { "" };
	struct json_object *o, *im, *v;
	char dir[128], path[160], name65[80];
	FILE *fp;

	snprintf(dir, sizeof(dir), "%s/images", f->dir);
	if (image_store_open(&d->images, dir, &e))
		fail_msg("%s", e.msg);

	o = response(d, "/status", 200);
	assert_string_equal(str_of(o, "image_dir"), dir);
	json_object_put(o);
	o = response(d, "/images", 200);
	assert_string_equal(str_of(o, "image_dir"), dir);
	assert_true(json_object_object_get_ex(o, "images", &v));
	assert_int_equal(json_object_array_length(v), 0);
	json_object_put(o);

	/* written beside the daemon (as xbootctl does): listed at once */
	image_make(d->images, "web", NULL);
	image_make(d->images, "captured", mac);
	o = response(d, "/images", 200);
	im = image_at(o, 1); /* by name: captured, web */
	assert_string_equal(str_of(im, "name"), "web");
	assert_false(json_object_get_boolean(
		json_object_object_get(im, "broken")));
	assert_int_equal(int_of(im, "size"), 3 * IMG_CHUNK - 100);
	assert_int_equal(int_of(im, "chunks"), 3);
	assert_int_equal(int_of(im, "holes"), 1);
	assert_int_equal(int_of(im, "chunk_size"), IMG_CHUNK);
	assert_true(int_of(im, "stored") > 0);
	assert_true(int_of(im, "stored") < IMG_CHUNK);
	assert_string_equal(str_of(im, "ptable"), "none");
	assert_int_equal(int_of(im, "level"), 1);
	assert_int_equal(int_of(im, "captured"), 1700000000);
	assert_true(json_object_object_get_ex(im, "source", &v));
	assert_null(v); /* from a file: no machine */
	assert_int_equal(strlen(str_of(im, "sha256")), 64);
	im = image_at(o, 0);
	assert_string_equal(str_of(im, "name"), "captured");
	assert_string_equal(str_of(im, "source"), "52:54:00:ab:cd:ef");
	json_object_put(o);

	o = response(d, "/images/web", 200);
	assert_true(json_object_object_get_ex(o, "image", &im));
	assert_string_equal(str_of(im, "name"), "web");
	assert_int_equal(int_of(im, "holes"), 1);
	json_object_put(o);

	/* a broken image is listed with why, not hidden */
	snprintf(path, sizeof(path), "%s/junk", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/junk/manifest", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("not a manifest", fp);
	fclose(fp);
	o = response(d, "/images", 200);
	im = image_at(o, 1);
	assert_string_equal(str_of(im, "name"), "junk");
	assert_true(json_object_get_boolean(
		json_object_object_get(im, "broken")));
	assert_true(strlen(str_of(im, "error")) > 0);
	assert_false(json_object_object_get_ex(im, "size", NULL));
	json_object_put(o);
	o = response(d, "/images/junk", 200);
	assert_true(json_object_object_get_ex(o, "image", &im));
	assert_true(json_object_get_boolean(
		json_object_object_get(im, "broken")));
	json_object_put(o);

	/* staging directories are never listed */
	snprintf(path, sizeof(path), "%s/.staging-x.000000", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	o = response(d, "/images", 200);
	assert_true(json_object_object_get_ex(o, "images", &v));
	assert_int_equal(json_object_array_length(v), 3);
	json_object_put(o);

	expect_error(response(d, "/images/nope", 404), "no image nope");
	expect_error(response(d, "/images/.staging-x.000000", 400),
		     "bad image name");
	expect_error(response(d, "/images/a%2Fb", 400), "bad image name");
	memset(name65, 'n', 65);
	name65[65] = '\0';
	snprintf(path, sizeof(path), "/images/%s", name65);
	expect_error(response(d, path, 404), "not found");
	name65[64] = '\0'; /* 64 is the longest name: a valid one */
	snprintf(path, sizeof(path), "/images/%s", name65);
	expect_error(response(d, path, 404), "no image");
	expect_error(response(d, "/images/web/chunks", 404), "not found");
	expect_error(post(d, "/images", "", 405), "use GET");
	expect_error(post(d, "/images/web", "", 405), "use GET");

	assert_int_equal(image_store_remove(d->images, "web", &e), 0);
	expect_error(response(d, "/images/web", 404), "no image web");
	image_store_close(d->images);
	d->images = NULL;
}

/* ---- POST /media: every bad body names its field ---- */

struct media_fx {
	struct config cfg;
	struct xbootd d;
	char dir[64];
	char out[128];
};

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs("x", f);
	fclose(f);
}

static void media_fx_init(struct media_fx *f)
{
	char p[256];

	memset(f, 0, sizeof(*f));
	config_init(&f->cfg);
	f->d.cfg = &f->cfg;
	f->d.nifaces = 1;
	f->d.ifaces[0].link.addr.s_addr = htonl(0x0a000001);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_control_media.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cfg.http_root, sizeof(f->cfg.http_root), "%s", f->dir);
	snprintf(p, sizeof(p), "%s/boot", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/boot/default", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/boot/default/vmlinuz", f->dir);
	touch(p);
	snprintf(p, sizeof(p), "%s/boot/default/initrd.img", f->dir);
	touch(p);
	snprintf(p, sizeof(p), "%s/ca.pem", f->dir);
	touch(p);
	snprintf(f->out, sizeof(f->out), "%s/m.img", f->dir);
}

static void media_fx_done(struct media_fx *f)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
}

/* POST /media with body (%s: the fixture's output path) refused 400
 * with a message that says want. */
static void media_refused(struct media_fx *f, const char *body,
			  const char *want)
{
	char b[768];

	snprintf(b, sizeof(b), body, f->out);
	expect_error(post(&f->d, "/media", b, 400), want);
}

static void test_media_route(void **state)
{
	static const struct {
		const char *body, *want;
	} bad[] = {
		{ "[]", "body: not a JSON object" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\"} x", "body: not a JSON" },
		{ "{\"out\":\"%s\"}", "type: required" },
		{ "{\"type\":\"tape\",\"out\":\"%s\"}",
		  "type: unknown media type 'tape'" },
		{ "{\"type\":7,\"out\":\"%s\"}", "type: not a string" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\",\"colour\":\"red\"}",
		  "colour: unknown field" },
		{ "{\"type\":\"floppy\"}", "out: required" },
		{ "{\"type\":\"floppy\",\"out\":\"boot.img\"}",
		  "out: 'boot.img' is not an absolute path" },
		{ "{\"type\":\"floppy\",\"out\":\"/nonexistent/x/b.img\"}",
		  "out: cannot write /nonexistent/x/b.img: No such file" },
		{ "{\"type\":\"floppy\",\"out\":\"/tmp\"}",
		  "out: cannot write /tmp: not a regular file" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\\u0000x\"}",
		  "out: contains NUL" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\",\"server\":\"10.0.0\"}",
		  "server '10.0.0' does not parse" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\",\"server\":\"10.0.0.1:0\"}",
		  "server '10.0.0.1:0' does not parse" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\",\"server\":\"ftp://10.0.0.1\"}",
		  "does not parse" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\",\"machine\":\"52:54:00\"}",
		  "machine: '52:54:00' is not a MAC address" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\",\"ip\":\"10.0.0.5\"}",
		  "ip '10.0.0.5' does not parse" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\",\"ip\":\"10.0.0.5/33\"}",
		  "ip '10.0.0.5/33' does not parse" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\",\"gateway\":\"10.0.0.1\"}",
		  "a gateway needs a static address" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\",\"ip\":\"10.0.0.5/24\",\"gateway\":\"10.1.0.1\"}",
		  "gateway 10.1.0.1 is outside 10.0.0.5/24" },
		{ "{\"type\":\"floppy\",\"out\":\"%s\",\"ip\":\"10.0.0.5/24\",\"gateway\":\"x\"}",
		  "gateway 'x' is not an IPv4 address" },
		{ "{\"type\":\"usb\",\"out\":\"%s\",\"kernel\":\"/nonexistent\",\"initrd\":\"/nonexistent\"}",
		  "kernel: /nonexistent: No such file" },
		{ "{\"type\":\"usb\",\"out\":\"%s\",\"kernel\":\"vmlinuz\",\"initrd\":\"initrd\"}",
		  "kernel: 'vmlinuz' is not an absolute path" },
		{ "{\"type\":\"iso\",\"out\":\"%s\",\"initrd\":\"/etc/hostname\"}",
		  "kernel: give kernel and initrd together" },
		{ "{\"type\":\"iso\",\"out\":\"%s\",\"ca\":\"/nonexistent/ca.pem\"}",
		  "ca: /nonexistent/ca.pem: No such file" },
	};
	struct media_fx f;
	char p[256];
	size_t i;

	media_fx_init(&f);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		media_refused(&f, bad[i].body, bad[i].want);
	expect_error(response(&f.d, "/media", 405), "use POST");
	expect_error(post(&f.d, "/media/x", "{}", 404), "not found");

	/* valid, but only the event loop builds */
	snprintf(p, sizeof(p), "{\"type\":\"floppy\",\"out\":\"%s\"}", f.out);
	expect_error(post(&f.d, "/media", p, 503), "running xbootd");

	/* no boot environment under http-root for usb and iso */
	snprintf(p, sizeof(p), "%s/boot/default/vmlinuz", f.dir);
	unlink(p);
	media_refused(&f, "{\"type\":\"usb\",\"out\":\"%s\"}",
		      "kernel: none given, and xbootd has no boot environment at");
	/* ... which a floppy does not need */
	snprintf(p, sizeof(p), "{\"type\":\"floppy\",\"out\":\"%s\"}", f.out);
	expect_error(post(&f.d, "/media", p, 503), "running xbootd");

	/* no server to default to */
	f.cfg.http_port = 0;
	media_refused(&f, "{\"type\":\"floppy\",\"out\":\"%s\"}",
		      "server: xbootd serves no HTTP (http-port=0)");
	f.cfg.http_port = 8080;
	f.d.nifaces = 0;
	media_refused(&f, "{\"type\":\"floppy\",\"out\":\"%s\"}",
		      "server: xbootd has no address to offer");
	media_fx_done(&f);
}

static struct control_media *media_ok(struct media_fx *f, const char *body)
{
	static struct control_media m;
	char b[768], msg[640];

	snprintf(b, sizeof(b), body, f->out);
	if (control_media_parse(&f->d, b, strlen(b), &m, msg, sizeof(msg)))
		fail_msg("%s: %s", b, msg);
	return &m;
}

/* The defaults a running xbootd fills in. */
static void test_media_defaults(void **state)
{
	struct control_media *m;
	struct media_fx f;
	char p[256];

	media_fx_init(&f);
	m = media_ok(&f, "{\"type\":\"usb\",\"out\":\"%s\"}");
	assert_int_equal(m->spec.type, MEDIA_USB);
	/* and a strong reference: control.c's are weak (fuzz_control) */
	assert_string_equal(media_type_name(m->spec.type), "usb");
	assert_string_equal(m->spec.out, f.out);
	assert_string_equal(m->spec.server, "http://10.0.0.1:8080");
	snprintf(p, sizeof(p), "%s/boot/default/vmlinuz", f.dir);
	assert_string_equal(m->spec.kernel, p);
	snprintf(p, sizeof(p), "%s/boot/default/initrd.img", f.dir);
	assert_string_equal(m->spec.initrd, p);
	assert_string_equal(m->spec.ca, "");
	assert_string_equal(m->spec.enrol, "");
	assert_int_equal(m->enrol_expires, 0);

	/* the agent CA, and server-address over the interface's */
	snprintf(f.d.agent_ca_file, sizeof(f.d.agent_ca_file), "%s/ca.pem",
		 f.dir);
	f.cfg.server_addr.s_addr = htonl(0x0a000009);
	f.cfg.http_port = 8081;
	m = media_ok(&f, "{\"type\":\"iso\",\"out\":\"%s\",\"machine\":\"52-54-00-AA-00-01\"}");
	assert_string_equal(m->spec.ca, f.d.agent_ca_file);
	assert_string_equal(m->spec.server, "http://10.0.0.9:8081");
	assert_string_equal(m->spec.mac, "52:54:00:aa:00:01");

	/* a floppy carries neither boot environment nor CA */
	m = media_ok(&f, "{\"type\":\"floppy\",\"out\":\"%s\",\"kernel\":\"/x\",\"initrd\":\"/y\"}");
	assert_string_equal(m->spec.kernel, "");
	assert_string_equal(m->spec.ca, "");

	/* a server without a port gets xbootd's HTTP port */
	m = media_ok(&f, "{\"type\":\"floppy\",\"out\":\"%s\",\"server\":\"10.0.0.7\"}");
	assert_string_equal(m->spec.server, "http://10.0.0.7:8081");
	m = media_ok(&f, "{\"type\":\"floppy\",\"out\":\"%s\",\"server\":\"http://10.0.0.7/\"}");
	assert_string_equal(m->spec.server, "http://10.0.0.7:8081");
	m = media_ok(&f, "{\"type\":\"floppy\",\"out\":\"%s\",\"server\":\"10.0.0.7:80\",\"ip\":\"10.0.5.7/16\",\"gateway\":\"10.0.0.1\",\"machine\":null}");
	assert_string_equal(m->spec.server, "http://10.0.0.7:80");
	assert_string_equal(m->spec.ip, "10.0.5.7/16");
	assert_string_equal(m->spec.gateway, "10.0.0.1");
	assert_string_equal(m->spec.mac, "");
	media_fx_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_media_route),
		cmocka_unit_test(test_media_defaults),
		cmocka_unit_test_setup_teardown(test_jobs, setup_store,
						teardown_store),
		cmocka_unit_test_setup_teardown(test_machines, setup_store,
						teardown_store),
		cmocka_unit_test_setup_teardown(test_events, setup_store,
						teardown_store),
		cmocka_unit_test_setup_teardown(test_images, setup_store,
						teardown_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
