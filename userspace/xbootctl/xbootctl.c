// SPDX-License-Identifier: GPL-2.0
/*
 * xbootctl: the admin CLI. One HTTP GET over xbootd's control socket per
 * command; the JSON answer is printed as it is (--json) or as a table.
 * The `cache` commands talk to xboot.ko itself over generic netlink
 * (kcache.h), so they work with or without xbootd.
 *
 *   xbootctl [--control-socket=PATH] [--json] status|leases|stats
 *   xbootctl [--json] cache list|stats
 *   xbootctl cache add [--replace] PATH
 *   xbootctl cache del ID|PATH
 *
 * Exits 0 on success, 1 on any error (xbootd not running, xboot.ko not
 * loaded, bad answer).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
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
#include "kcache.h"

#define RESPONSE_MAX (256 << 20)
#define IO_TIMEOUT_S 10
#define MAX_ARGS 3

struct opts {
	const char *socket;
	const char *command;
	const char *args[MAX_ARGS]; /* after the command */
	int nargs;
	int json;
	int replace;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: xbootctl [--control-socket=PATH] [--json] COMMAND\n"
		"Talk to a running xbootd.\n\n"
		"Commands:\n"
		"  status           interfaces, XDP mode, TFTP block source, lease counts\n"
		"  leases           every lease: MAC, address, state, expiry, host name\n"
		"  stats            DHCP, XDP and HTTP counters\n"
		"  cache list       files in xboot.ko's page-cache block cache\n"
		"  cache add PATH   register a file (relative: to the current directory)\n"
		"  cache del ID|PATH  unregister a file\n"
		"  cache stats      xboot.ko's counters\n\n"
		"The cache commands talk to xboot.ko directly and need CAP_NET_ADMIN.\n\n"
		"Options:\n"
		"  --control-socket=PATH  xbootd's socket (default %s)\n"
		"  --json                 print the answer as JSON\n"
		"  --replace              cache add: replace an entry of the same path\n"
		"  -h, --help             this text\n",
		XBOOTD_DEFAULT_CONTROL_SOCKET);
}

/* cache list|stats, cache add PATH, cache del ID|PATH */
static int cache_args_check(const struct opts *o)
{
	const char *sub = o->nargs ? o->args[0] : "";
	int want;

	if (!strcmp(sub, "list") || !strcmp(sub, "stats"))
		want = 1;
	else if (!strcmp(sub, "add") || !strcmp(sub, "del"))
		want = 2;
	else {
		fprintf(stderr, "xbootctl: cache: list, add PATH, del ID|PATH or stats\n");
		return -1;
	}
	if (o->nargs != want) {
		fprintf(stderr, "xbootctl: cache %s: %s\n", sub,
			o->nargs < want ? "which file?" : "too many arguments");
		return -1;
	}
	return 0;
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
		} else if (!strcmp(a, "--replace")) {
			o->replace = 1;
		} else if (!strncmp(a, "--control-socket=", 17)) {
			o->socket = a + 17;
		} else if (!strcmp(a, "--control-socket") && i + 1 < argc) {
			o->socket = argv[++i];
		} else if (a[0] != '-' && !o->command) {
			o->command = a;
		} else if (a[0] != '-' && o->nargs < MAX_ARGS) {
			o->args[o->nargs++] = a;
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
	if (!strcmp(o->command, "cache"))
		return cache_args_check(o);
	if (strcmp(o->command, "status") && strcmp(o->command, "leases") &&
	    strcmp(o->command, "stats")) {
		fprintf(stderr, "xbootctl: unknown command '%s' (status, leases, stats or cache)\n",
			o->command);
		return -1;
	}
	if (o->nargs) {
		fprintf(stderr, "xbootctl: unexpected '%s' (see --help)\n",
			o->args[0]);
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

static const char *block_source_name(const char *src)
{
	if (!strcmp(src, "kfunc"))
		return "kfunc (xboot.ko)";
	return strcmp(src, "-") ? src : "off";
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
	printf("\nTFTP block source: %s\n",
	       block_source_name(get_str(o, "tftp_block_source")));
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

/* --- cache: xboot.ko over generic netlink -------------------------------- */

static int cache_fail(const char *what, int err)
{
	if (err == -EPERM || err == -EACCES)
		fprintf(stderr, "xbootctl: cache %s: needs CAP_NET_ADMIN\n", what);
	else
		fprintf(stderr, "xbootctl: cache %s: %s\n", what, strerror(-err));
	return 1;
}

static int cache_open(struct kcache **kc)
{
	int ret = kcache_open(kc, 0);

	if (ret == -ENOENT)
		fprintf(stderr, "xbootctl: xboot.ko is not loaded\n");
	else if (ret)
		cache_fail("open", ret);
	return ret;
}

/*
 * PATH made absolute against the current directory, with "." and ".."
 * taken out and slashes folded, but symlinks kept: xbootd knows the files
 * under its tftp-root by the names they have there.
 */
static int abs_path(const char *in, char *out, size_t size)
{
	char buf[PATH_MAX * 2], *p, *save = NULL;
	size_t n = 0, len;

	if (in[0] == '/')
		snprintf(buf, sizeof(buf), "%s", in);
	else if (!getcwd(buf, PATH_MAX) ||
		 (size_t)snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
				  "/%s", in) >= sizeof(buf) - strlen(buf))
		return -ENAMETOOLONG;
	out[0] = '\0';
	for (p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (!strcmp(p, "."))
			continue;
		if (!strcmp(p, "..")) {
			while (n && out[n - 1] != '/')
				n--;
			n = n ? n - 1 : 0;
			out[n] = '\0';
			continue;
		}
		len = strlen(p);
		if (n + 1 + len + 1 > size)
			return -ENAMETOOLONG;
		out[n++] = '/';
		memcpy(out + n, p, len + 1);
		n += len;
	}
	if (!n)
		snprintf(out, size, "/");
	return 0;
}

static struct json_object *file_json(const struct kcache_file *f)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(f->id));
	json_object_object_add(o, "gen", json_object_new_int64(f->gen));
	json_object_object_add(o, "size", json_object_new_int64(f->size));
	json_object_object_add(o, "pages", json_object_new_int64(f->pages));
	json_object_object_add(o, "blocks", json_object_new_int64(f->blocks));
	json_object_object_add(o, "dev", json_object_new_int64(f->dev));
	json_object_object_add(o, "ino", json_object_new_int64(f->ino));
	json_object_object_add(o, "path", json_object_new_string(f->path));
	return o;
}

static void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(
			       o, JSON_C_TO_STRING_PRETTY |
					  JSON_C_TO_STRING_NOSLASHESCAPE));
}

static void print_file_row(const struct kcache_file *f)
{
	printf("%6u %6u %12llu %8u %10llu  %s\n", f->id, f->gen,
	       (unsigned long long)f->size, f->pages,
	       (unsigned long long)f->blocks, f->path);
}

struct list_out {
	struct json_object *arr; /* NULL: a table */
	int n;
};

static int list_one(void *arg, const struct kcache_file *f)
{
	struct list_out *lo = arg;

	if (lo->arr)
		json_object_array_add(lo->arr, file_json(f));
	else
		print_file_row(f);
	lo->n++;
	return 0;
}

static int cache_list(struct kcache *kc, int json)
{
	struct list_out lo = { .arr = json ? json_object_new_array() : NULL };
	struct json_object *o;
	int ret;

	if (!json)
		printf("%6s %6s %12s %8s %10s  %s\n", "ID", "GEN", "SIZE",
		       "PAGES", "BLOCKS", "PATH");
	ret = kcache_list(kc, list_one, &lo);
	if (ret) {
		json_object_put(lo.arr);
		return cache_fail("list", ret);
	}
	if (json) {
		o = json_object_new_object();
		json_object_object_add(o, "files", lo.arr);
		print_json(o);
		json_object_put(o);
	} else {
		printf("%d file%s\n", lo.n, lo.n == 1 ? "" : "s");
	}
	return 0;
}

static int cache_add(struct kcache *kc, const char *arg, int replace,
		     int json)
{
	char path[PATH_MAX];
	struct kcache_file *f = malloc(sizeof(*f));
	struct json_object *o;
	int ret;

	if (!f)
		return cache_fail("add", -ENOMEM);
	ret = abs_path(arg, path, sizeof(path));
	if (!ret)
		ret = kcache_add(kc, path, replace ? XBOOT_FILE_F_REPLACE : 0,
				 f);
	if (ret == -EEXIST)
		fprintf(stderr, "xbootctl: cache add: %s is already registered (--replace to register it again)\n",
			path);
	else if (ret)
		cache_fail("add", ret);
	else if (json) {
		o = file_json(f);
		print_json(o);
		json_object_put(o);
	} else {
		printf("added %s: id %u, generation %u, %llu bytes in %u pages\n",
		       f->path, f->id, f->gen, (unsigned long long)f->size,
		       f->pages);
	}
	free(f);
	return ret ? 1 : 0;
}

struct find_path {
	const char *path;
	uint32_t id;
};

static int find_one(void *arg, const struct kcache_file *f)
{
	struct find_path *fp = arg;

	if (strcmp(f->path, fp->path))
		return 0;
	fp->id = f->id;
	return 1;
}

/* An all-digit argument is an id; anything else a path to look up. */
static int cache_del(struct kcache *kc, const char *arg)
{
	char path[PATH_MAX], *end;
	struct find_path fp = { .path = path };
	unsigned long id;
	int ret;

	errno = 0;
	id = isdigit((unsigned char)arg[0]) ? strtoul(arg, &end, 10) : 0;
	if (id && !*end && !errno && id <= UINT32_MAX) {
		fp.id = (uint32_t)id;
		snprintf(path, sizeof(path), "id %lu", id);
	} else {
		ret = abs_path(arg, path, sizeof(path));
		if (ret)
			return cache_fail("del", ret);
		ret = kcache_list(kc, find_one, &fp);
		if (ret < 0)
			return cache_fail("del", ret);
	}
	ret = fp.id ? kcache_del(kc, fp.id) : -ENOENT;
	if (ret == -ENOENT) {
		fprintf(stderr, "xbootctl: cache del: %s is not registered\n",
			path);
		return 1;
	}
	if (ret)
		return cache_fail("del", ret);
	printf("removed %s\n", path);
	return 0;
}

static int cache_stats(struct kcache *kc, int json)
{
	struct kcache_stats st;
	struct json_object *o;
	int ret;

	ret = kcache_stats(kc, &st);
	if (ret)
		return cache_fail("stats", ret);
	if (!json) {
		printf("xboot.ko:\n");
		printf("  %-20s %u\n", "files", st.files);
		printf("  %-20s %llu\n", "pinned_bytes", (unsigned long long)st.pinned);
		printf("  %-20s %llu\n", "pin_limit_bytes", (unsigned long long)st.pin_limit);
		printf("  %-20s %llu\n", "blocks", (unsigned long long)st.blocks);
		printf("  %-20s %llu\n", "bytes", (unsigned long long)st.bytes);
		printf("  %-20s %llu\n", "misses", (unsigned long long)st.misses);
		printf("  %-20s %llu\n", "drops", (unsigned long long)st.drops);
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "files", json_object_new_int64(st.files));
	json_object_object_add(o, "pinned_bytes", json_object_new_int64(st.pinned));
	json_object_object_add(o, "pin_limit_bytes", json_object_new_int64(st.pin_limit));
	json_object_object_add(o, "blocks", json_object_new_int64(st.blocks));
	json_object_object_add(o, "bytes", json_object_new_int64(st.bytes));
	json_object_object_add(o, "misses", json_object_new_int64(st.misses));
	json_object_object_add(o, "drops", json_object_new_int64(st.drops));
	print_json(o);
	json_object_put(o);
	return 0;
}

static int cache_command(const struct opts *o)
{
	const char *sub = o->args[0];
	struct kcache *kc;
	int ret;

	if (cache_open(&kc))
		return 1;
	if (!strcmp(sub, "list"))
		ret = cache_list(kc, o->json);
	else if (!strcmp(sub, "add"))
		ret = cache_add(kc, o->args[1], o->replace, o->json);
	else if (!strcmp(sub, "del"))
		ret = cache_del(kc, o->args[1]);
	else
		ret = cache_stats(kc, o->json);
	kcache_close(kc);
	return ret;
}

int main(int argc, char **argv)
{
	struct opts o = { .socket = XBOOTD_DEFAULT_CONTROL_SOCKET };
	struct json_object *body;
	char path[32];
	int status = 0;

	if (parse_args(argc, argv, &o))
		return 1;
	if (!strcmp(o.command, "cache"))
		return cache_command(&o);
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
