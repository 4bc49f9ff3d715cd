// SPDX-License-Identifier: GPL-2.0
/*
 * xbootctl: the admin CLI. One HTTP GET over xbootd's control socket per
 * command; the JSON answer is printed as it is (--json) or as a table.
 *
 *   xbootctl [--control-socket=PATH] [--json] status|leases|stats
 *
 * Exits 0 on success, 1 on any error (xbootd not running, bad answer).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "config.h"

#define RESPONSE_MAX (256 << 20)
#define IO_TIMEOUT_S 10

struct opts {
	const char *socket;
	const char *command;
	int json;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: xbootctl [--control-socket=PATH] [--json] COMMAND\n"
		"Talk to a running xbootd.\n\n"
		"Commands:\n"
		"  status   interfaces, XDP mode, lease counts\n"
		"  leases   every lease: MAC, address, state, expiry, host name\n"
		"  stats    DHCP, XDP and HTTP counters\n\n"
		"Options:\n"
		"  --control-socket=PATH  xbootd's socket (default %s)\n"
		"  --json                 print xbootd's JSON answer\n"
		"  -h, --help             this text\n",
		XBOOTD_DEFAULT_CONTROL_SOCKET);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--json")) {
			o->json = 1;
		} else if (!strncmp(a, "--control-socket=", 17)) {
			o->socket = a + 17;
		} else if (!strcmp(a, "--control-socket") && i + 1 < argc) {
			o->socket = argv[++i];
		} else if (a[0] != '-' && !o->command) {
			o->command = a;
		} else {
			fprintf(stderr, "xbootctl: unexpected '%s' (see --help)\n",
				a);
			return -1;
		}
	}
	if (!o->command) {
		usage(stderr);
		return -1;
	}
	if (strcmp(o->command, "status") && strcmp(o->command, "leases") &&
	    strcmp(o->command, "stats")) {
		fprintf(stderr, "xbootctl: unknown command '%s' (status, leases or stats)\n",
			o->command);
		return -1;
	}
	return 0;
}

static int control_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "xbootctl: %s: path too long\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("xbootctl: socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "xbootctl: cannot connect to %s: %s - is xbootd running?\n",
			path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Everything until xbootd closes the connection; NUL-terminated. */
static char *recv_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap), *grown;
	ssize_t r;

	while (buf) {
		if (n + 1 == cap) {
			if (cap >= RESPONSE_MAX) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			grown = realloc(buf, cap * 2);
			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		r = recv(fd, buf + n, cap - n - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			buf[n] = '\0';
			*len = n;
			return buf;
		}
		n += r;
	}
	free(buf);
	return NULL;
}

/* GET path; the parsed JSON body and the HTTP status, or NULL. */
static struct json_object *http_get(const char *sock, const char *path,
				    int *status)
{
	char req[256];
	struct json_object *body;
	char *resp, *start;
	size_t len;
	int fd;

	fd = control_connect(sock);
	if (fd < 0)
		return NULL;
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: xbootd\r\nConnection: close\r\n\r\n",
		 path);
	if (send_all(fd, req, strlen(req))) {
		fprintf(stderr, "xbootctl: %s: send: %s\n", sock, strerror(errno));
		close(fd);
		return NULL;
	}
	resp = recv_all(fd, &len);
	close(fd);
	if (!resp) {
		fprintf(stderr, "xbootctl: %s: receive: %s\n", sock,
			strerror(errno));
		return NULL;
	}
	start = strstr(resp, "\r\n\r\n");
	if (sscanf(resp, "HTTP/1.%*d %d", status) != 1 || !start) {
		fprintf(stderr, "xbootctl: %s: not an HTTP answer\n", sock);
		free(resp);
		return NULL;
	}
	body = json_tokener_parse(start + 4);
	if (!body)
		fprintf(stderr, "xbootctl: %s: answer is not JSON\n", sock);
	free(resp);
	return body;
}

/* --- tables ------------------------------------------------------------ */

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return "-";
	return json_object_get_string(v);
}

static int64_t get_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_int64(v);
}

static void fmt_duration(int64_t s, char *buf, size_t size)
{
	if (s < 3600)
		snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%dh%02dm", (int)(s / 3600),
			 (int)(s % 3600 / 60));
	else
		snprintf(buf, size, "%dd%02dh", (int)(s / 86400),
			 (int)(s % 86400 / 3600));
}

static void print_status(struct json_object *o)
{
	struct json_object *ifs, *ls, *it;
	char up[32];
	size_t i;

	fmt_duration(get_int(o, "uptime_s"), up, sizeof(up));
	printf("xbootd %s, mode %s, up %s\n\n", get_str(o, "version"),
	       get_str(o, "mode"), up);
	printf("%-16s %7s  %-18s  %-17s  %s\n", "INTERFACE", "IFINDEX",
	       "ADDRESS", "MAC", "XDP");
	if (json_object_object_get_ex(o, "interfaces", &ifs))
		for (i = 0; i < json_object_array_length(ifs); i++) {
			it = json_object_array_get_idx(ifs, i);
			printf("%-16s %7lld  %-18s  %-17s  %s\n",
			       get_str(it, "name"),
			       (long long)get_int(it, "ifindex"),
			       get_str(it, "address"), get_str(it, "mac"),
			       get_str(it, "xdp"));
		}
	if (json_object_object_get_ex(o, "leases", &ls))
		printf("\nleases: %lld bound, %lld offered, %lld declined, %lld free, %lld queued for XDP\n",
		       (long long)get_int(ls, "bound"),
		       (long long)get_int(ls, "offered"),
		       (long long)get_int(ls, "declined"),
		       (long long)get_int(ls, "free"),
		       (long long)get_int(ls, "queued"));
}

static void print_leases(struct json_object *o)
{
	struct json_object *arr, *l;
	time_t now = time(NULL);
	int64_t left;
	char exp[32];
	size_t i, n = 0;

	if (!json_object_object_get_ex(o, "leases", &arr))
		return;
	n = json_object_array_length(arr);
	printf("%-17s  %-15s  %-8s  %-10s  %s\n", "MAC", "IP", "STATE",
	       "EXPIRES", "HOSTNAME");
	for (i = 0; i < n; i++) {
		l = json_object_array_get_idx(arr, i);
		left = get_int(l, "expires") - now;
		if (left < 0)
			snprintf(exp, sizeof(exp), "expired");
		else if (left > 10LL * 365 * 86400)
			snprintf(exp, sizeof(exp), "never");
		else
			fmt_duration(left, exp, sizeof(exp));
		printf("%-17s  %-15s  %-8s  %-10s  %s\n", get_str(l, "mac"),
		       get_str(l, "ip"), get_str(l, "state"), exp,
		       get_str(l, "hostname"));
	}
	printf("%zu lease%s\n", n, n == 1 ? "" : "s");
}

static void print_counters(struct json_object *o, const char *title)
{
	struct json_object *group;
	int any = 0;

	printf("%s:\n", title);
	if (json_object_object_get_ex(o, title, &group)) {
		json_object_object_foreach(group, key, val) {
			printf("  %-20s %lld\n", key,
			       (long long)json_object_get_int64(val));
			any = 1;
		}
	}
	if (!any)
		printf("  (off)\n");
}

static void print_stats(struct json_object *o)
{
	print_counters(o, "dhcp");
	print_counters(o, "xdp");
	print_counters(o, "tftp");
	print_counters(o, "http");
}

int main(int argc, char **argv)
{
	struct opts o = { .socket = XBOOTD_DEFAULT_CONTROL_SOCKET };
	struct json_object *body;
	char path[32];
	int status = 0;

	if (parse_args(argc, argv, &o))
		return 1;
	snprintf(path, sizeof(path), "/%s", o.command);
	body = http_get(o.socket, path, &status);
	if (!body)
		return 1;
	if (status != 200) {
		fprintf(stderr, "xbootctl: xbootd answered %d: %s\n", status,
			get_str(body, "error"));
		json_object_put(body);
		return 1;
	}
	if (o.json)
		printf("%s\n", json_object_to_json_string_ext(
				       body, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (!strcmp(o.command, "status"))
		print_status(body);
	else if (!strcmp(o.command, "leases"))
		print_leases(body);
	else
		print_stats(body);
	json_object_put(body);
	return 0;
}
