// SPDX-License-Identifier: GPL-2.0
/*
 * The control API on a unix socket (see control.h). Each connection has at
 * most one operation in flight (accept, then recv until the header ends,
 * then send until the response is out), so it can be freed as soon as that
 * operation completes. A stuck client is shut down by control_tick(), which
 * makes its pending operation complete.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "control.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "tftp.h"
#include "xbootd.h"

struct ctl_conn {
	struct control *ctl;
	struct ctl_conn *prev, *next;
	int fd;
	int shut;
	time_t started;
	size_t req_len;
	char *resp;
	size_t resp_len, resp_off;
	char req[CONTROL_REQ_MAX];
} LOOP_ALIGNED;

struct control {
	struct loop *loop;
	struct xbootd *d;
	int fd;
	int accepting;
	struct ctl_conn *conns;
	int nconns;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} LOOP_ALIGNED;

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* --- HTTP -------------------------------------------------------------- */

static const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* The end of the header (CRLF CRLF, or a bare LF LF), or NULL. */
static const char *header_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return buf + i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return buf + i + 3;
	}
	return NULL;
}

int control_parse_request(const char *buf, size_t len, char *path,
			  size_t pathsz)
{
	const char *end = header_end(buf, len), *target, *sp, *ver;
	size_t tlen;

	if (!end)
		return len >= CONTROL_REQ_MAX ? 431 : 0;
	sp = memchr(buf, ' ', end - buf);
	if (!sp || sp == buf)
		return 400;
	target = sp + 1;
	sp = memchr(target, ' ', end - target);
	if (!sp)
		return 400;
	ver = sp + 1;
	if (end - ver < 8 || memcmp(ver, "HTTP/1.", 7))
		return 400;
	if (target - buf != 4 || memcmp(buf, "GET ", 4))
		return 405;
	tlen = sp - target;
	if (!tlen || *target != '/')
		return 400;
	if (tlen >= pathsz)
		return 414;
	memcpy(path, target, tlen);
	path[tlen] = '\0';
	path[strcspn(path, "?#")] = '\0';
	for (tlen = 0; path[tlen]; tlen++)
		if (path[tlen] <= ' ' || path[tlen] > '~')
			return 400;
	return 200;
}

/* --- JSON bodies ------------------------------------------------------- */

static void add_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

static const char *mac_str(const uint8_t *m, char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
	return buf;
}

static struct json_object *iface_json(struct xbootd *d,
				      const struct xbootd_iface *xi)
{
	struct json_object *o = json_object_new_object();
	char addr[INET_ADDRSTRLEN + 4], ip[INET_ADDRSTRLEN], mac[18];

	inet_ntop(AF_INET, &xi->link.addr, ip, sizeof(ip));
	snprintf(addr, sizeof(addr), "%s/%d", ip, xi->link.prefix);
	add_str(o, "name", xi->link.name);
	add_int(o, "ifindex", xi->link.ifindex);
	add_str(o, "address", addr);
	add_str(o, "mac", mac_str(xi->link.mac, mac));
	add_str(o, "xdp", d->xdp ? xdp_ctl_mode(d->xdp, xi->link.ifindex) :
				   "off");
	return o;
}

/* Where XDP takes TFTP DATA bytes from: "kfunc" (xboot.ko's page
 * cache), "map", or "off" (no XDP, or no TFTP server). */
static const char *tftp_block_source(const struct xbootd *d)
{
	if (!d->xdp || !d->tftp_stats)
		return "off";
	return xdp_ctl_block_source(d->xdp);
}

static struct json_object *status_json(struct xbootd *d)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ifs = json_object_new_array();
	struct json_object *ls = json_object_new_object();
	struct lease_counts c = { 0 };
	int i;

	add_str(o, "version", XBOOT_VERSION);
	add_str(o, "mode", d->cfg->mode == XB_MODE_PROXY ? "proxy" : "full");
	add_int(o, "uptime_s", mono_now() - d->started);
	for (i = 0; i < d->nifaces; i++)
		json_object_array_add(ifs, iface_json(d, &d->ifaces[i]));
	json_object_object_add(o, "interfaces", ifs);
	add_str(o, "tftp_block_source", tftp_block_source(d));
	if (d->leases)
		lease_count(d->leases, -1, &c);
	add_int(ls, "free", c.free);
	add_int(ls, "queued", c.queued);
	add_int(ls, "offered", c.offered);
	add_int(ls, "bound", c.bound);
	add_int(ls, "declined", c.declined);
	json_object_object_add(o, "leases", ls);
	return o;
}

static const char *lease_state_name(int state)
{
	static const char *const names[] = { "free", "offered", "bound",
					     "declined", "released" };

	if (state < 0 || state >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown";
	return names[state];
}

static int lease_json(const struct lease *l, void *arg)
{
	struct json_object *o = json_object_new_object();
	char ip[INET_ADDRSTRLEN], mac[18];

	add_str(o, "mac", mac_str(l->mac, mac));
	add_str(o, "ip", inet_ntop(AF_INET, &l->ip, ip, sizeof(ip)));
	add_str(o, "state", lease_state_name(l->state));
	add_int(o, "expires", l->expires);
	add_str(o, "hostname", l->hostname);
	json_object_array_add(arg, o);
	return 0;
}

static struct json_object *leases_json(struct xbootd *d)
{
	struct json_object *o = json_object_new_object();
	struct json_object *arr = json_object_new_array();

	if (d->leases)
		lease_foreach(d->leases, lease_json, arr);
	json_object_object_add(o, "leases", arr);
	return o;
}

/* Empty when the HTTP server is off (http-port=0). */
static struct json_object *http_stats_json(struct xbootd *d)
{
	static const char *const names[HTTP_STAT_MAX] = HTTP_STAT_NAMES;
	struct json_object *o = json_object_new_object();
	int k;

	for (k = 0; d->http_stats && k < HTTP_STAT_MAX; k++)
		add_int(o, names[k], d->http_stats[k]);
	return o;
}

/* Empty when the TFTP server is off. */
static struct json_object *tftp_stats_json(struct xbootd *d)
{
	static const char *const names[TFTP_STAT_MAX] = TFTP_STAT_NAMES;
	struct json_object *o = json_object_new_object();
	int k;

	for (k = 0; d->tftp_stats && k < TFTP_STAT_MAX; k++)
		add_int(o, names[k], d->tftp_stats[k]);
	return o;
}

static struct json_object *stats_json(struct xbootd *d)
{
	static const char *const dhcp_names[DHCP_STAT_MAX] = DHCP_STAT_NAMES;
	static const char *const xdp_names[XB_STAT_MAX] = XB_STAT_NAMES;
	struct json_object *o = json_object_new_object();
	struct json_object *dh = json_object_new_object();
	struct json_object *xd = json_object_new_object();
	uint64_t sum[DHCP_STAT_MAX] = { 0 }, xs[XB_STAT_MAX];
	const uint64_t *st;
	int i, k;

	for (i = 0; i < d->nifaces; i++) {
		st = d->ifaces[i].srv ? dhcp_server_stats(d->ifaces[i].srv) :
					NULL;
		for (k = 0; st && k < DHCP_STAT_MAX; k++)
			sum[k] += st[k];
	}
	for (k = 0; k < DHCP_STAT_MAX; k++)
		add_int(dh, dhcp_names[k], sum[k]);
	if (d->xdp && !xdp_ctl_stats(d->xdp, xs))
		for (k = 0; k < XB_STAT_MAX; k++)
			add_int(xd, xdp_names[k], xs[k]);
	json_object_object_add(o, "dhcp", dh);
	json_object_object_add(o, "xdp", xd);
	json_object_object_add(o, "http", http_stats_json(d));
	json_object_object_add(o, "tftp", tftp_stats_json(d));
	return o;
}

static struct json_object *error_json(const char *msg)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "error", msg);
	return o;
}

static struct json_object *route(struct xbootd *d, int *status,
				 const char *path)
{
	if (*status != 200)
		return error_json(http_reason(*status));
	if (!strcmp(path, "/status"))
		return status_json(d);
	if (!strcmp(path, "/leases"))
		return leases_json(d);
	if (!strcmp(path, "/stats"))
		return stats_json(d);
	*status = 404;
	return error_json("not found: try /status, /leases or /stats");
}

char *control_response(struct xbootd *d, int status, const char *path,
		       size_t *len)
{
	struct json_object *body = route(d, &status, path);
	const char *text;
	size_t tlen;
	char *resp;
	int hlen;

	text = json_object_to_json_string_length(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
						 &tlen);
	resp = malloc(tlen + 256);
	if (resp) {
		hlen = snprintf(resp, 256,
				"HTTP/1.1 %d %s\r\n"
				"Content-Type: application/json\r\n"
				"Content-Length: %zu\r\n"
				"Connection: close\r\n\r\n",
				status, http_reason(status), tlen + 1);
		memcpy(resp + hlen, text, tlen);
		resp[hlen + tlen] = '\n';
		*len = hlen + tlen + 1;
	}
	json_object_put(body);
	return resp;
}

/* --- connections ------------------------------------------------------- */

static void conn_free(struct ctl_conn *conn)
{
	struct control *c = conn->ctl;

	if (conn->prev)
		conn->prev->next = conn->next;
	else
		c->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	c->nconns--;
	close(conn->fd);
	free(conn->resp);
	free(conn);
}

static void conn_recv(struct ctl_conn *conn)
{
	struct io_uring_sqe *sqe = loop_get_sqe(conn->ctl->loop);

	if (!sqe)
		return conn_free(conn);
	io_uring_prep_recv(sqe, conn->fd, conn->req + conn->req_len,
			   sizeof(conn->req) - conn->req_len, 0);
	loop_sqe_data(sqe, conn, LOOP_OP_CTL_RECV);
}

static void conn_send(struct ctl_conn *conn)
{
	struct io_uring_sqe *sqe = loop_get_sqe(conn->ctl->loop);

	if (!sqe)
		return conn_free(conn);
	io_uring_prep_send(sqe, conn->fd, conn->resp + conn->resp_off,
			   conn->resp_len - conn->resp_off, MSG_NOSIGNAL);
	loop_sqe_data(sqe, conn, LOOP_OP_CTL_SEND);
}

static void conn_respond(struct ctl_conn *conn, int status, const char *path)
{
	conn->resp = control_response(conn->ctl->d, status, path,
				      &conn->resp_len);
	if (!conn->resp)
		return conn_free(conn);
	pr_debug("control: GET %s -> %d", path, status);
	conn_send(conn);
}

static void handle_recv(struct ctl_conn *conn, int res)
{
	char path[256] = "";
	int status;

	if (res <= 0)
		return conn_free(conn); /* closed, error, or cut off */
	conn->req_len += res;
	status = control_parse_request(conn->req, conn->req_len, path,
				       sizeof(path));
	if (!status)
		return conn_recv(conn);
	conn_respond(conn, status, path);
}

static void handle_send(struct ctl_conn *conn, int res)
{
	if (res <= 0)
		return conn_free(conn);
	conn->resp_off += res;
	if (conn->resp_off < conn->resp_len)
		return conn_send(conn);
	conn_free(conn);
}

static void accept_arm(struct control *c)
{
	struct io_uring_sqe *sqe;

	if (c->accepting)
		return;
	sqe = loop_get_sqe(c->loop);
	if (!sqe)
		return; /* control_tick() tries again */
	io_uring_prep_accept(sqe, c->fd, NULL, NULL, SOCK_CLOEXEC);
	loop_sqe_data(sqe, c, LOOP_OP_CTL_ACCEPT);
	c->accepting = 1;
}

static void handle_accept(struct control *c, int res)
{
	struct ctl_conn *conn;

	c->accepting = 0;
	if (res < 0) {
		/* EMFILE and friends: try again on the next tick. */
		pr_warn_ratelimited("control: accept: %s", strerror(-res));
		return;
	}
	accept_arm(c);
	if (c->nconns >= CONTROL_CONN_MAX) {
		pr_warn_ratelimited("control: too many clients, refusing one");
		close(res);
		return;
	}
	conn = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*conn));
	if (!conn) {
		close(res);
		return;
	}
	memset(conn, 0, offsetof(struct ctl_conn, req));
	conn->ctl = c;
	conn->fd = res;
	conn->started = mono_now();
	conn->next = c->conns;
	if (c->conns)
		c->conns->prev = conn;
	c->conns = conn;
	c->nconns++;
	conn_recv(conn);
}

void control_handle(struct control *c, int op, void *obj, int res)
{
	switch (op) {
	case LOOP_OP_CTL_ACCEPT:
		handle_accept(c, res);
		break;
	case LOOP_OP_CTL_RECV:
		handle_recv(obj, res);
		break;
	case LOOP_OP_CTL_SEND:
		handle_send(obj, res);
		break;
	}
}

void control_tick(struct control *c)
{
	time_t now = mono_now();
	struct ctl_conn *conn;

	if (!c)
		return;
	for (conn = c->conns; conn; conn = conn->next) {
		if (conn->shut || now - conn->started < CONTROL_TIMEOUT_S)
			continue;
		pr_debug("control: cutting off a client after %d s",
			 CONTROL_TIMEOUT_S);
		shutdown(conn->fd, SHUT_RDWR);
		conn->shut = 1;
	}
	accept_arm(c);
}

/* --- the listening socket ---------------------------------------------- */

/* mkdir -p of the socket's directory (/run/xboot is not there at boot). */
static int mkdir_for(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t i, len;

	snprintf(dir, sizeof(dir), "%s", path);
	len = strrchr(dir, '/') ? (size_t)(strrchr(dir, '/') - dir) : 0;
	for (i = 1; i <= len; i++) {
		if (i < len && dir[i] != '/')
			continue;
		dir[i] = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		dir[i] = '/';
	}
	return 0;
}

/* A socket file left by a dead xbootd is removed; a live one is not. */
static int clear_stale(const struct sockaddr_un *sun)
{
	int fd, ret = 0;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (const struct sockaddr *)sun, sizeof(*sun)))
		ret = -EADDRINUSE;
	else if (errno == ECONNREFUSED)
		unlink(sun->sun_path);
	close(fd);
	return ret;
}

static int listen_open(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	ret = mkdir_for(path);
	if (!ret)
		ret = clear_stale(&sun);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    chmod(path, 0660) || listen(fd, 64)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int control_open(struct control **out, struct loop *l, struct xbootd *d,
		 const char *path)
{
	struct control *c;
	int fd;

	fd = listen_open(path);
	if (fd < 0) {
		pr_err("control socket %s: %s%s", path, strerror(-fd),
		       fd == -EADDRINUSE ? " (is another xbootd running?)" : "");
		return fd;
	}
	c = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*c));
	if (!c) {
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	memset(c, 0, sizeof(*c));
	c->loop = l;
	c->d = d;
	c->fd = fd;
	snprintf(c->path, sizeof(c->path), "%s", path);
	accept_arm(c);
	*out = c;
	return 0;
}

void control_close(struct control *c)
{
	if (!c)
		return;
	while (c->conns)
		conn_free(c->conns);
	close(c->fd);
	unlink(c->path);
	free(c);
}
