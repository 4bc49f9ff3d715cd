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
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "agent_srv.h"
#include "control.h"
#include "hex.h"
#include "http.h"
#include "image_store.h"
#include "image_xfer.h"
#include "log.h"
#include "loop.h"
#include "machines.h"
#include "media_srv.h"
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
	/* POST /media: waiting for its build, no operation in flight */
	struct control_media *media;
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
	case 201: return "Created";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
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

/* The value of header name in the head [buf, end) (the request line
 * skipped), blanks trimmed, its length in *vlen; NULL when absent. */
static const char *header_value(const char *buf, const char *end,
				const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *p = memchr(buf, '\n', end - buf), *eol, *v, *e;

	while (p && ++p < end) {
		eol = memchr(p, '\n', end - p);
		if (!eol)
			break;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
		    !strncasecmp(p, name, nlen)) {
			v = p + nlen + 1;
			e = eol;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			while (e > v && (e[-1] == '\r' || e[-1] == ' ' ||
					 e[-1] == '\t'))
				e--;
			*vlen = e - v;
			return v;
		}
		p = eol;
	}
	return NULL;
}

/* Content-Length: 0 with *n, -ENOENT when absent, -EINVAL when bad. */
static int content_length(const char *buf, const char *end, size_t *n)
{
	size_t vlen, i;
	const char *v = header_value(buf, end, "Content-Length", &vlen);

	if (!v)
		return -ENOENT;
	if (!vlen || vlen > 9)
		return -EINVAL;
	*n = 0;
	for (i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EINVAL;
		*n = *n * 10 + (v[i] - '0');
	}
	return 0;
}

static int printable(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return 0;
	return 1;
}

/* "/path?query#fragment" into req->path and req->query. */
static int split_target(const char *t, size_t tlen,
			struct control_request *req)
{
	size_t plen = strcspn(t, "?# "), qlen = 0;
	const char *q = NULL;

	if (plen > tlen)
		plen = tlen;
	if (plen < tlen && t[plen] == '?') {
		q = t + plen + 1;
		qlen = strcspn(q, "# ");
		if (qlen > tlen - plen - 1)
			qlen = tlen - plen - 1;
	}
	if (memchr(t, '\0', tlen))
		return 400;
	if (plen >= sizeof(req->path) || qlen >= sizeof(req->query))
		return 414;
	memcpy(req->path, t, plen);
	req->path[plen] = '\0';
	if (q)
		memcpy(req->query, q, qlen);
	req->query[qlen] = '\0';
	return printable(req->path) && printable(req->query) ? 200 : 400;
}

/* A POST's body: 0 while it is still coming, else a status. */
static int parse_body(const char *buf, size_t len, const char *end,
		      struct control_request *req)
{
	size_t vlen, n;
	int ret;

	/* Transfer codings are more than a local admin socket needs. */
	if (header_value(buf, end, "Transfer-Encoding", &vlen))
		return 501;
	ret = content_length(buf, end, &n);
	if (ret == -ENOENT)
		return 411;
	if (ret)
		return 400;
	if (n > CONTROL_REQ_MAX - (size_t)(end - buf))
		return 413;
	if (len - (end - buf) < n)
		return 0;
	req->body = end;
	req->body_len = n;
	return 200;
}

int control_parse_request(const char *buf, size_t len,
			  struct control_request *req)
{
	const char *end, *target, *sp, *ver;
	size_t hlen = len < CONTROL_HEAD_MAX ? len : CONTROL_HEAD_MAX;
	int ret;

	memset(req, 0, sizeof(*req));
	end = header_end(buf, hlen);
	if (!end)
		return len >= CONTROL_HEAD_MAX ? 431 : 0;
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
	if (target - buf == 4 && !memcmp(buf, "GET ", 4))
		req->method = CONTROL_M_GET;
	else if (target - buf == 5 && !memcmp(buf, "POST ", 5))
		req->method = CONTROL_M_POST;
	else
		return 405;
	if (sp == target || *target != '/')
		return 400;
	ret = split_target(target, sp - target, req);
	if (ret != 200)
		return ret;
	if (req->method == CONTROL_M_POST)
		return parse_body(buf, len, end, req);
	return 200;
}

int control_query_get(const char *query, const char *key, char *out,
		      size_t size)
{
	size_t klen = strlen(key), n = 0;
	const char *p = query, *v;

	while (*p) {
		if (!strncmp(p, key, klen) && p[klen] == '=')
			break;
		p += strcspn(p, "&");
		p += *p == '&';
	}
	if (!*p)
		return -ENOENT;
	for (v = p + klen + 1; *v && *v != '&'; v++) {
		if (n + 1 >= size)
			return -ENAMETOOLONG;
		if (*v == '%') {
			if (hex_digit(v[1]) < 0 || hex_digit(v[2]) < 0)
				return -EINVAL;
			out[n++] = hex_digit(v[1]) << 4 | hex_digit(v[2]);
			v += 2;
		} else {
			out[n++] = *v == '+' ? ' ' : *v;
		}
	}
	out[n] = '\0';
	return strlen(out) == n ? 0 : -EINVAL;
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
	struct json_object *ag = json_object_new_object();
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
	add_int(ag, "port", d->agents ? d->cfg->agent_port : 0);
	add_int(ag, "active",
		d->agent_stats ? d->agent_stats[AGENT_STAT_ACTIVE] : 0);
	json_object_object_add(o, "agents", ag);
	add_str(o, "image_dir", d->images ? image_store_path(d->images) :
					    d->cfg->image_dir);
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

/* Empty when the agent service is off (agent-port=0). */
static struct json_object *agent_stats_json(struct xbootd *d)
{
	static const char *const names[AGENT_STAT_MAX] = AGENT_STAT_NAMES;
	struct json_object *o = json_object_new_object();
	int k;

	for (k = 0; d->agent_stats && k < AGENT_STAT_MAX; k++)
		add_int(o, names[k], d->agent_stats[k]);
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
	json_object_object_add(o, "agent", agent_stats_json(d));
	return o;
}

static struct json_object *error_json(const char *msg)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "error", msg);
	return o;
}

/* --- routes ------------------------------------------------------------ */

/* What a route answers: a JSON object, or raw bytes (a job's output). */
struct ctl_reply {
	int status;
	struct json_object *json;
	uint8_t *raw;		/* malloc'd, text/plain */
	size_t raw_len;
};

static void reply_json(struct ctl_reply *r, int status,
		       struct json_object *o)
{
	r->status = status;
	r->json = o;
}

static void __attribute__((format(printf, 3, 4)))
reply_err(struct ctl_reply *r, int status, const char *fmt, ...)
{
	char msg[MEDIA_ERR_MAX + 160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_json(r, status, error_json(msg));
}

static int __attribute__((format(printf, 3, 4)))
bad_field(char *msg, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *method_name(enum control_method m)
{
	return m == CONTROL_M_POST ? "POST" : "GET";
}

/* Whether req uses m; else a 405 that says which one to use. */
static bool method_is(struct ctl_reply *r, const struct control_request *req,
		      enum control_method m)
{
	if (req->method == m)
		return true;
	reply_err(r, 405, "%s %s: use %s", method_name(req->method),
		  req->path, method_name(m));
	return false;
}

#define SEGS_MAX 4
#define SEG_LEN (XBI_NAME_MAX + 1) /* an image name is the longest */

struct segs {
	int n;
	char s[SEGS_MAX][SEG_LEN];
};

/* "/a/b/c" into its segments (empty ones skipped); -EINVAL when there
 * are too many or one is too long. */
static int split_path(const char *path, struct segs *sg)
{
	const char *p = path;
	size_t n;

	sg->n = 0;
	for (;;) {
		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (!n)
			return 0;
		if (sg->n == SEGS_MAX || n >= SEG_LEN)
			return -EINVAL;
		memcpy(sg->s[sg->n], p, n);
		sg->s[sg->n++][n] = '\0';
		p += n;
	}
}

/* aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff */
static int parse_mac(const char *s, uint8_t mac[6])
{
	size_t len = strlen(s), step;
	const char *p;
	int i, hi, lo;

	if (len == 17)
		step = 3;
	else if (len == 12)
		step = 2;
	else
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		p = s + i * step;
		hi = hex_digit(p[0]);
		lo = hex_digit(p[1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		if (step == 3 && i < 5 && p[2] != s[2])
			return -EINVAL;
		mac[i] = hi << 4 | lo;
	}
	return step == 3 && s[2] != ':' && s[2] != '-' ? -EINVAL : 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

/* ---- /machines ---- */

static void machine_enrol(struct xbootd *d, const uint8_t mac[6],
			  struct ctl_reply *r)
{
	char cred[MACHINES_CRED_TEXT_MAX], ms[18];
	struct json_object *o;
	int64_t expires = 0;
	int ret;

	ret = machines_enrol_mint(d->machines, mac, d->cfg->agent_enrol_ttl,
				  cred, &expires);
	if (ret)
		return reply_err(r, 500, "enrol: %s", strerror(-ret));
	o = json_object_new_object();
	add_str(o, "mac", mac_str(mac, ms));
	add_str(o, "credential", cred);
	add_int(o, "expires", expires);
	explicit_bzero(cred, sizeof(cred));
	pr_info("control: enrolment credential minted for %s", ms);
	reply_json(r, 200, o);
}

static void machine_disconnect(struct xbootd *d, const uint8_t mac[6],
			       struct ctl_reply *r)
{
	struct json_object *o;
	char ms[18];
	int ret;

	mac_str(mac, ms);
	ret = d->agents ? agent_srv_disconnect(d->agents, mac) : -ENOENT;
	if (ret == -ENOENT)
		return reply_err(r, 404, "%s has no agent session", ms);
	if (ret < 0)
		return reply_err(r, 500, "disconnect %s: %s", ms,
				 strerror(-ret));
	o = json_object_new_object();
	add_str(o, "mac", ms);
	json_object_object_add(o, "disconnected", json_object_new_boolean(1));
	reply_json(r, 200, o);
}

static void machine_forget_token(struct xbootd *d, const uint8_t mac[6],
				 struct ctl_reply *r)
{
	struct json_object *o;
	char ms[18];
	int ret;

	mac_str(mac, ms);
	ret = machines_token_revoke(d->machines, mac);
	if (ret == -ENOENT)
		return reply_err(r, 404, "unknown machine %s", ms);
	if (ret)
		return reply_err(r, 500, "forget-token %s: %s", ms,
				 strerror(-ret));
	pr_info("control: the token of %s is forgotten", ms);
	o = json_object_new_object();
	add_str(o, "mac", ms);
	json_object_object_add(o, "forgotten", json_object_new_boolean(1));
	reply_json(r, 200, o);
}

static void route_machines(struct xbootd *d, const struct control_request *req,
			   const struct segs *sg, struct ctl_reply *r)
{
	struct json_object *o;
	const char *act;
	uint8_t mac[6];

	if (sg->n == 1) {
		if (method_is(r, req, CONTROL_M_GET))
			reply_json(r, 200, machines_list_json(d->machines));
		return;
	}
	if (parse_mac(sg->s[1], mac))
		return reply_err(r, 400, "bad MAC '%s'", sg->s[1]);
	if (sg->n == 2) {
		if (!method_is(r, req, CONTROL_M_GET))
			return;
		o = machines_machine_json(d->machines, mac);
		if (!o)
			return reply_err(r, 404, "unknown machine %s",
					 sg->s[1]);
		return reply_json(r, 200, o);
	}
	act = sg->s[2];
	if (sg->n > 3 || (strcmp(act, "enrol") && strcmp(act, "disconnect") &&
			  strcmp(act, "forget-token")))
		return reply_err(r, 404, "not found: a machine's actions are enrol, disconnect and forget-token");
	if (!method_is(r, req, CONTROL_M_POST))
		return;
	if (!strcmp(act, "enrol"))
		machine_enrol(d, mac, r);
	else if (!strcmp(act, "disconnect"))
		machine_disconnect(d, mac, r);
	else
		machine_forget_token(d, mac, r);
}

/* ---- /jobs ---- */

static void job_reply(struct xbootd *d, uint64_t id, int status,
		      struct ctl_reply *r)
{
	struct json_object *o;
	struct job_rec j;
	int ret;

	ret = machines_job_get(d->machines, id, &j);
	if (ret == -ENOENT)
		return reply_err(r, 404, "no job %llu",
				 (unsigned long long)id);
	if (ret)
		return reply_err(r, 500, "job %llu: %s",
				 (unsigned long long)id, strerror(-ret));
	o = json_object_new_object();
	json_object_object_add(o, "job", machines_job_json(&j));
	job_rec_free(&j);
	reply_json(r, status, o);
}

static void jobs_list(struct xbootd *d, const struct control_request *req,
		      struct ctl_reply *r)
{
	char val[32];
	uint8_t mac[6];
	int ret;

	ret = control_query_get(req->query, "mac", val, sizeof(val));
	if (ret == -ENOENT)
		return reply_json(r, 200,
				  machines_jobs_json(d->machines, NULL));
	if (ret || parse_mac(val, mac))
		return reply_err(r, 400, "mac: bad MAC address");
	reply_json(r, 200, machines_jobs_json(d->machines, mac));
}

struct job_req {
	uint8_t mac[6];
	int type, step;
	uint32_t timeout_s;
	const char *args[XBA_JOB_ARGS_MAX]; /* into the parsed body */
	unsigned int nargs;
};

static int job_req_args(struct json_object *a, struct job_req *jr,
			char *msg, size_t size)
{
	struct json_object *v;
	size_t i, n;

	if (!json_object_is_type(a, json_type_array))
		return bad_field(msg, size, "args: not a list of strings");
	n = json_object_array_length(a);
	if (n > XBA_JOB_ARGS_MAX)
		return bad_field(msg, size, "args: more than %d",
				 XBA_JOB_ARGS_MAX);
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(a, i);
		if (!json_object_is_type(v, json_type_string))
			return bad_field(msg, size, "args[%zu]: not a string",
					 i);
		if (json_object_get_string_len(v) >= XBA_ATTR_VALUE_MAX)
			return bad_field(msg, size,
					 "args[%zu]: longer than %d bytes", i,
					 XBA_ATTR_VALUE_MAX - 1);
		jr->args[i] = json_object_get_string(v);
		if (strlen(jr->args[i]) !=
		    (size_t)json_object_get_string_len(v))
			return bad_field(msg, size, "args[%zu]: contains NUL",
					 i);
	}
	jr->nargs = n;
	return 0;
}

/* The fields of a POST /jobs body into jr; -EINVAL with msg naming the
 * bad field. */
static int job_req_parse(struct json_object *o, struct job_req *jr,
			 char *msg, size_t size)
{
	struct json_object *v;
	const char *s;
	int64_t t;

	json_object_object_foreach(o, key, val) {
		(void)val;
		if (strcmp(key, "mac") && strcmp(key, "type") &&
		    strcmp(key, "step") && strcmp(key, "timeout_s") &&
		    strcmp(key, "args"))
			return bad_field(msg, size, "%s: unknown field", key);
	}
	if (!json_object_object_get_ex(o, "mac", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    parse_mac(json_object_get_string(v), jr->mac))
		return bad_field(msg, size, "mac: a MAC address is required");
	if (!json_object_object_get_ex(o, "type", &v) ||
	    !json_object_is_type(v, json_type_string))
		return bad_field(msg, size, "type: required (run, reboot, poweroff, kexec)");
	s = json_object_get_string(v);
	jr->type = job_type_from_name(s);
	if (jr->type < 0)
		return bad_field(msg, size, "type: unknown job type '%.64s'",
				 s);
	jr->step = job_type_default_step(jr->type);
	if (json_object_object_get_ex(o, "step", &v)) {
		s = json_object_is_type(v, json_type_string) ?
			    json_object_get_string(v) : "";
		jr->step = job_step_from_name(s);
		if (jr->step < 0)
			return bad_field(msg, size, "step: unknown step '%.64s' (pre, image, post, final)",
					 s);
	}
	if (json_object_object_get_ex(o, "timeout_s", &v)) {
		t = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || t < 0 ||
		    t > UINT32_MAX)
			return bad_field(msg, size, "timeout_s: seconds, 0 (none) to %u",
					 UINT32_MAX);
		jr->timeout_s = t;
	}
	if (json_object_object_get_ex(o, "args", &v) &&
	    job_req_args(v, jr, msg, size))
		return -EINVAL;
	if (jr->type == XBA_JOB_RUN && !jr->nargs)
		return bad_field(msg, size, "args: a run job needs its script in args[0]");
	return 0;
}

/* The request's body as a JSON object, or NULL. */
static struct json_object *body_object(const struct control_request *req)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	size_t used;

	if (!tok || !req->body_len)
		goto out;
	o = json_tokener_parse_ex(tok, req->body, req->body_len);
	/* nothing but blanks may follow the object */
	for (used = json_tokener_get_parse_end(tok); used < req->body_len;
	     used++)
		if (!strchr(" \t\r\n", req->body[used]) || !req->body[used])
			break;
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  !json_object_is_type(o, json_type_object) ||
		  used < req->body_len)) {
		json_object_put(o);
		o = NULL;
	}
out:
	json_tokener_free(tok);
	return o;
}

static void job_add(struct xbootd *d, const struct control_request *req,
		    struct ctl_reply *r)
{
	struct job_req jr = { 0 };
	struct json_object *o = body_object(req);
	char msg[256];
	uint64_t id;
	int ret;

	if (!o)
		return reply_err(r, 400, "body: not a JSON object");
	if (job_req_parse(o, &jr, msg, sizeof(msg))) {
		json_object_put(o);
		return reply_err(r, 400, "%s", msg);
	}
	/* an image job names an image that is there (deploy) or not yet
	 * (capture): say so now, not when the agent runs it */
	if (jr.type == XBA_JOB_IMAGE_DEPLOY || jr.type == XBA_JOB_IMAGE_CAPTURE) {
		ret = d->images ? image_xfer_job_check(d->images, jr.type,
						       jr.args, jr.nargs, msg,
						       sizeof(msg)) : -ENODEV;
		if (ret == -ENODEV)
			snprintf(msg, sizeof(msg), "job: no image store");
		if (ret) {
			json_object_put(o);
			return reply_err(r, ret == -ENOENT ? 404 :
					 ret == -EEXIST ? 409 :
					 ret == -ENODEV ? 503 : 400, "%s", msg);
		}
	}
	ret = machines_job_add(d->machines, jr.mac, jr.type, jr.step,
			       jr.timeout_s, jr.args, jr.nargs, &id);
	json_object_put(o);
	if (ret == -EINVAL)
		return reply_err(r, 400, "job: refused (type, step or args)");
	if (ret)
		return reply_err(r, 500, "job: %s", strerror(-ret));
	if (d->agents)
		agent_srv_kick(d->agents, jr.mac);
	job_reply(d, id, 201, r);
}

static void job_output(struct xbootd *d, uint64_t id,
		       const struct control_request *req, struct ctl_reply *r)
{
	uint64_t off = 0;
	struct job_rec j;
	char val[24];
	int ret;

	ret = control_query_get(req->query, "offset", val, sizeof(val));
	if (ret != -ENOENT && (ret || parse_u64(val, &off)))
		return reply_err(r, 400, "offset: a byte offset");
	ret = machines_job_get(d->machines, id, &j);
	if (ret == -ENOENT)
		return reply_err(r, 404, "no job %llu",
				 (unsigned long long)id);
	if (!ret) {
		job_rec_free(&j);
		ret = machines_job_output_read(d->machines, id, off,
					       CONTROL_OUTPUT_MAX, &r->raw,
					       &r->raw_len);
	}
	if (ret)
		return reply_err(r, 500, "job %llu output: %s",
				 (unsigned long long)id, strerror(-ret));
	r->status = 200;
}

/* Cancel or retry, then the job as it is now. */
static void job_action(struct xbootd *d, uint64_t id, const char *act,
		       struct ctl_reply *r)
{
	bool cancel = !strcmp(act, "cancel");
	struct job_rec j;
	int ret;

	ret = cancel ? machines_job_cancel(d->machines, id) :
		       machines_job_retry(d->machines, id);
	if (ret == -ENOENT)
		return reply_err(r, 404, "no job %llu",
				 (unsigned long long)id);
	if (ret == -EALREADY || ret == -EINVAL || ret == -EBUSY)
		return reply_err(r, 409, cancel ?
				 "job %llu is already finished" :
				 "job %llu has not failed: only failed, timed-out or cancelled jobs are retried",
				 (unsigned long long)id);
	if (ret)
		return reply_err(r, 500, "%s job %llu: %s", act,
				 (unsigned long long)id, strerror(-ret));
	if (d->agents && !machines_job_get(d->machines, id, &j)) {
		agent_srv_kick(d->agents, j.mac);
		job_rec_free(&j);
	}
	job_reply(d, id, 200, r);
}

static void route_jobs(struct xbootd *d, const struct control_request *req,
		       const struct segs *sg, struct ctl_reply *r)
{
	uint64_t id;

	if (sg->n == 1)
		return req->method == CONTROL_M_POST ? job_add(d, req, r) :
						       jobs_list(d, req, r);
	if (parse_u64(sg->s[1], &id) || !id)
		return reply_err(r, 400, "bad job id '%s'", sg->s[1]);
	if (sg->n == 2) {
		if (method_is(r, req, CONTROL_M_GET))
			job_reply(d, id, 200, r);
		return;
	}
	if (sg->n == 3 && !strcmp(sg->s[2], "output")) {
		if (method_is(r, req, CONTROL_M_GET))
			job_output(d, id, req, r);
		return;
	}
	if (sg->n > 3 || (strcmp(sg->s[2], "cancel") &&
			  strcmp(sg->s[2], "retry")))
		return reply_err(r, 404, "not found: a job has output, cancel and retry");
	if (method_is(r, req, CONTROL_M_POST))
		job_action(d, id, sg->s[2], r);
}

/* ---- /images ---- */

static struct json_object *hex_json(const uint8_t *p, size_t n)
{
	char hex[2 * XBI_SHA256_LEN + 1];

	hex_encode(hex, p, n < XBI_SHA256_LEN ? n : XBI_SHA256_LEN);
	return json_object_new_string(hex);
}

/* An unreadable image is listed too, with why: the operator removes it. */
static struct json_object *image_json(const struct image_info *in)
{
	static const uint8_t zero_mac[XBI_MAC_LEN];
	struct json_object *o = json_object_new_object();
	char mac[18];

	add_str(o, "name", in->name);
	json_object_object_add(o, "broken",
			       json_object_new_boolean(!!in->error[0]));
	if (in->error[0]) {
		add_str(o, "error", in->error);
		return o;
	}
	add_int(o, "size", in->meta.size);
	add_int(o, "stored", in->data_size);
	add_int(o, "chunks", in->n_chunks);
	add_int(o, "holes", in->n_holes);
	add_int(o, "chunk_size", in->chunk_size);
	add_str(o, "ptable", image_ptable_name(in->meta.ptable));
	add_int(o, "level", in->meta.level);
	add_int(o, "captured", in->meta.capture_time);
	/* null: imported from a file, no machine */
	json_object_object_add(o, "source",
			       memcmp(in->meta.mac, zero_mac, XBI_MAC_LEN) ?
				       json_object_new_string(
					       mac_str(in->meta.mac, mac)) :
				       NULL);
	json_object_object_add(o, "sha256",
			       hex_json(in->sha256, XBI_SHA256_LEN));
	return o;
}

/*
 * The listing reads the directory and every manifest on each request:
 * xbootctl imports and removes images beside us (through the store's
 * staging directories and renames), so a cached list would go stale, and
 * a manifest is small (56 bytes a chunk).
 */
static void images_list(struct xbootd *d, struct ctl_reply *r)
{
	struct json_object *o, *arr;
	struct image_info *v;
	size_t i, n;
	int ret;

	ret = image_store_list(d->images, &v, &n);
	if (ret)
		return reply_err(r, 500, "images: %s: %s",
				 image_store_path(d->images), strerror(-ret));
	o = json_object_new_object();
	arr = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(arr, image_json(&v[i]));
	free(v);
	add_str(o, "image_dir", image_store_path(d->images));
	json_object_object_add(o, "images", arr);
	reply_json(r, 200, o);
}

static void image_info_from(const struct image_handle *h,
			    struct image_info *in)
{
	in->meta = h->m.meta;
	in->chunk_size = h->m.chunk_size;
	in->n_chunks = h->m.n_chunks;
	in->n_holes = h->m.n_holes;
	in->data_size = h->m.data_size;
	memcpy(in->sha256, h->m.sha256, XBI_SHA256_LEN);
}

static void image_show(struct xbootd *d, const char *name,
		       struct ctl_reply *r)
{
	struct image_err e = { "" };
	struct image_handle *h;
	struct json_object *o;
	struct image_info in;
	char path[PATH_MAX];
	struct stat st;

	memset(&in, 0, sizeof(in));
	if (!image_name_valid(name))
		return reply_err(r, 400, "bad image name '%s'", name);
	snprintf(path, sizeof(path), "%s/%s", image_store_path(d->images),
		 name);
	if (lstat(path, &st) || !S_ISDIR(st.st_mode))
		return reply_err(r, 404, "no image %s", name);
	snprintf(in.name, sizeof(in.name), "%s", name);
	if (image_store_image_open(d->images, name, &h, &e)) {
		snprintf(in.error, sizeof(in.error), "%s", e.msg);
	} else {
		image_info_from(h, &in);
		image_handle_close(h);
	}
	o = json_object_new_object();
	json_object_object_add(o, "image", image_json(&in));
	reply_json(r, 200, o);
}

static void route_images(struct xbootd *d, const struct control_request *req,
			 const struct segs *sg, struct ctl_reply *r)
{
	if (sg->n > 2)
		return reply_err(r, 404, "not found: /images or /images/NAME");
	if (!method_is(r, req, CONTROL_M_GET))
		return;
	if (!d->images)
		return reply_err(r, 503, "no image store in this xbootd");
	if (sg->n == 1)
		return images_list(d, r);
	image_show(d, sg->s[1], r);
}

/* ---- /events ---- */

static void route_events(struct xbootd *d, const struct control_request *req,
			 struct ctl_reply *r)
{
	uint64_t after = 0, max = 256;
	struct json_object *o;
	char val[24];
	int ret;

	ret = control_query_get(req->query, "after", val, sizeof(val));
	if (ret != -ENOENT && (ret || parse_u64(val, &after)))
		return reply_err(r, 400, "after: an event sequence number");
	ret = control_query_get(req->query, "max", val, sizeof(val));
	if (ret != -ENOENT && (ret || parse_u64(val, &max)))
		return reply_err(r, 400, "max: a number of events");
	if (max > MACHINES_EVENTS)
		max = MACHINES_EVENTS;
	if (!max) {
		/* where a watcher that wants only what comes next starts */
		o = json_object_new_object();
		add_int(o, "seq", machines_event_seq(d->machines));
		json_object_object_add(o, "events", json_object_new_array());
		return reply_json(r, 200, o);
	}
	o = machines_events_json(d->machines, after, max);
	if (!o)
		return reply_err(r, 500, "events: the store failed");
	reply_json(r, 200, o);
}

/* ---- /media ---- */

_Static_assert(sizeof(((struct control_media *)0)->enrol) >=
		       MACHINES_CRED_TEXT_MAX,
	       "control_media.enrol holds a credential");

/* The string field key of o into out (size bytes): 1 when given, 0 when
 * absent or null, -EINVAL with msg. */
static int media_str(struct json_object *o, const char *key, char *out,
		     size_t size, char *msg, size_t msize)
{
	struct json_object *v;
	const char *s;
	size_t n;

	out[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return bad_field(msg, msize, "%s: not a string", key);
	s = json_object_get_string(v);
	n = json_object_get_string_len(v);
	if (strlen(s) != n)
		return bad_field(msg, msize, "%s: contains NUL", key);
	if (n >= size)
		return bad_field(msg, msize, "%s: longer than %zu bytes", key,
				 size - 1);
	memcpy(out, s, n + 1);
	return n ? 1 : 0;
}

/* A file the medium carries: absolute and readable here. */
static int media_file(const char *key, const char *path, char *msg,
		      size_t size)
{
	if (path[0] != '/')
		return bad_field(msg, size, "%s: '%.200s' is not an absolute path",
				 key, path);
	if (access(path, R_OK))
		return bad_field(msg, size, "%s: %.200s: %s", key, path,
				 strerror(errno));
	return 0;
}

/* Where the image goes: an absolute path in a directory that exists. The
 * builder finds out whether it can really write there. */
static int media_out(const char *out, char *msg, size_t size)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	if (!out[0])
		return bad_field(msg, size, "out: required: the image file to write (an absolute path)");
	if (out[0] != '/')
		return bad_field(msg, size, "out: '%.200s' is not an absolute path (xbootd writes it)",
				 out);
	if (!stat(out, &st) && !S_ISREG(st.st_mode))
		return bad_field(msg, size, "out: cannot write %.200s: not a regular file",
				 out);
	snprintf(dir, sizeof(dir), "%s", out);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st))
		return bad_field(msg, size, "out: cannot write %.200s: %s", out,
				 strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return bad_field(msg, size, "out: cannot write %.200s: %.200s is not a directory",
				 out, dir);
	return 0;
}

/* Ours when none is given; xbootd's HTTP port when the one given has no
 * port, so a medium never knocks on a door nobody opens. */
static int media_server(struct xbootd *d, struct control_media *m,
			char *msg, size_t size)
{
	const char *host = m->server;
	char ip[INET_ADDRSTRLEN];
	struct in_addr a;
	size_t n;

	if (!m->server[0]) {
		if (!d->cfg->http_port)
			return bad_field(msg, size, "server: xbootd serves no HTTP (http-port=0): give the server the medium is to reach");
		a = d->cfg->server_addr;
		if (!a.s_addr && d->nifaces)
			a = d->ifaces[0].link.addr;
		if (!a.s_addr)
			return bad_field(msg, size, "server: xbootd has no address to offer: give one");
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		snprintf(m->server, sizeof(m->server), "%s:%u", ip,
			 d->cfg->http_port);
		return 0;
	}
	if (!strncmp(host, "http://", 7))
		host += 7;
	n = strlen(m->server);
	if (n && m->server[n - 1] == '/')
		m->server[--n] = '\0';
	/* only to what parses, so a message quotes what was given */
	if (!strchr(host, ':') && inet_pton(AF_INET, host, &a) == 1 &&
	    d->cfg->http_port && n + 7 < sizeof(m->server))
		snprintf(m->server + n, sizeof(m->server) - n, ":%u",
			 d->cfg->http_port);
	return 0;
}

/* The boot environment usb and iso carry, and the CA its agent pins. */
static int media_bootenv(struct xbootd *d, struct control_media *m,
			 char *msg, size_t size)
{
	if (m->spec.type == MEDIA_FLOPPY) {
		/* iPXE fetches everything else from xbootd */
		m->kernel[0] = m->initrd[0] = m->ca[0] = '\0';
		return 0;
	}
	if (!m->kernel[0] != !m->initrd[0])
		return bad_field(msg, size, "%s: give kernel and initrd together",
				 m->kernel[0] ? "initrd" : "kernel");
	if (!m->kernel[0]) {
		snprintf(m->kernel, sizeof(m->kernel),
			 "%s/boot/default/vmlinuz", d->cfg->http_root);
		snprintf(m->initrd, sizeof(m->initrd),
			 "%s/boot/default/initrd.img", d->cfg->http_root);
		if (access(m->kernel, R_OK) || access(m->initrd, R_OK))
			return bad_field(msg, size, "kernel: none given, and xbootd has no boot environment at %.200s/boot/default/{vmlinuz,initrd.img}: give kernel and initrd (`make bootenv` builds them)",
					 d->cfg->http_root);
	}
	if (media_file("kernel", m->kernel, msg, size) ||
	    media_file("initrd", m->initrd, msg, size))
		return -EINVAL;
	if (!m->ca[0] && d->agent_ca_file[0])
		snprintf(m->ca, sizeof(m->ca), "%s", d->agent_ca_file);
	if (m->ca[0] && media_file("ca", m->ca, msg, size))
		return -EINVAL;
	return 0;
}

static int media_fields(struct json_object *o, struct control_media *m,
			char *msg, size_t size)
{
	static const char *const keys[] = { "type", "out", "server",
					    "machine", "ip", "gateway",
					    "kernel", "initrd", "ca" };
	char type[16];
	uint8_t mac[6];
	size_t i;
	int ret = 0;

	json_object_object_foreach(o, key, val) {
		(void)val;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(key, keys[i]))
				break;
		if (i == sizeof(keys) / sizeof(keys[0]))
			return bad_field(msg, size, "%.64s: unknown field", key);
	}
	if (media_str(o, "type", type, sizeof(type), msg, size) < 0)
		return -EINVAL;
	if (!type[0])
		return bad_field(msg, size, "type: required (floppy, usb or iso)");
	if (media_type_parse(type, &m->spec.type))
		return bad_field(msg, size, "type: unknown media type '%s' (floppy, usb or iso)",
				 type);
	if (media_str(o, "out", m->out, sizeof(m->out), msg, size) < 0 ||
	    media_str(o, "server", m->server, sizeof(m->server), msg, size) < 0 ||
	    media_str(o, "machine", m->mac, sizeof(m->mac), msg, size) < 0 ||
	    media_str(o, "ip", m->ip, sizeof(m->ip), msg, size) < 0 ||
	    media_str(o, "gateway", m->gateway, sizeof(m->gateway), msg,
		      size) < 0 ||
	    media_str(o, "kernel", m->kernel, sizeof(m->kernel), msg,
		      size) < 0 ||
	    media_str(o, "initrd", m->initrd, sizeof(m->initrd), msg,
		      size) < 0 ||
	    media_str(o, "ca", m->ca, sizeof(m->ca), msg, size) < 0)
		return -EINVAL;
	if (m->mac[0]) {
		ret = parse_mac(m->mac, mac);
		if (ret)
			return bad_field(msg, size, "machine: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)",
					 m->mac);
		mac_str(mac, m->mac);
	}
	return 0;
}

int control_media_parse(struct xbootd *d, const char *body, size_t body_len,
			struct control_media *m, char *msg, size_t size)
{
	struct control_request req = { .body = body, .body_len = body_len };
	struct json_object *o = body_object(&req);
	struct media_plan plan;
	char err[MEDIA_ERR_MAX];
	int ret;

	memset(m, 0, sizeof(*m));
	if (!o)
		return bad_field(msg, size, "body: not a JSON object");
	ret = media_fields(o, m, msg, size);
	json_object_put(o);
	if (!ret)
		ret = media_out(m->out, msg, size);
	if (!ret)
		ret = media_server(d, m, msg, size);
	if (!ret)
		ret = media_bootenv(d, m, msg, size);
	if (ret)
		return ret;
	m->spec.out = m->out;
	m->spec.server = m->server;
	m->spec.mac = m->mac;
	m->spec.ip = m->ip;
	m->spec.gateway = m->gateway;
	m->spec.kernel = m->kernel;
	m->spec.initrd = m->initrd;
	m->spec.ca = m->ca;
	m->spec.enrol = m->enrol;
	/* media.c's own checks: server, ip and gateway, each by name */
	if (media_plan_make(&m->spec, &plan, err, sizeof(err)))
		return bad_field(msg, size, "%s", err);
	/* one spelling for the answer: http://A.B.C.D:PORT */
	snprintf(m->server, sizeof(m->server), "%s", plan.base_url);
	return 0;
}

/* POST /media outside a connection (the fuzzer, the unit tests): checked,
 * but only the event loop builds. */
static void route_media(struct xbootd *d, const struct control_request *req,
			const struct segs *sg, struct ctl_reply *r)
{
	struct control_media *m;
	char msg[MEDIA_ERR_MAX + 64];

	if (sg->n > 1)
		return reply_err(r, 404, "not found: POST /media");
	if (!method_is(r, req, CONTROL_M_POST))
		return;
	m = malloc(sizeof(*m));
	if (!m)
		return reply_err(r, 500, "out of memory");
	if (control_media_parse(d, req->body, req->body_len, m, msg,
				sizeof(msg)))
		reply_err(r, 400, "%s", msg);
	else
		reply_err(r, 503, "media are built by a running xbootd");
	free(m);
}

static void route(struct xbootd *d, const struct control_request *req,
		  struct ctl_reply *r)
{
	struct segs sg;
	const char *top;

	if (split_path(req->path, &sg) || !sg.n)
		goto not_found;
	top = sg.s[0];
	if (!strcmp(top, "images"))
		return route_images(d, req, &sg, r);
	if (!strcmp(top, "media"))
		return route_media(d, req, &sg, r);
	if (sg.n == 1 && (!strcmp(top, "status") || !strcmp(top, "leases") ||
			  !strcmp(top, "stats"))) {
		if (!method_is(r, req, CONTROL_M_GET))
			return;
		if (!strcmp(top, "status"))
			return reply_json(r, 200, status_json(d));
		if (!strcmp(top, "leases"))
			return reply_json(r, 200, leases_json(d));
		return reply_json(r, 200, stats_json(d));
	}
	if (strcmp(top, "machines") && strcmp(top, "jobs") &&
	    strcmp(top, "events"))
		goto not_found;
	if (!d->machines)
		return reply_err(r, 503, "no machines store in this xbootd");
	if (!strcmp(top, "machines"))
		return route_machines(d, req, &sg, r);
	if (!strcmp(top, "jobs"))
		return route_jobs(d, req, &sg, r);
	if (sg.n == 1 && method_is(r, req, CONTROL_M_GET))
		return route_events(d, req, r);
	if (sg.n == 1)
		return;
not_found:
	reply_err(r, 404, "not found: try /status, /leases, /stats, /machines, /jobs, /events, /images or /media");
}

/* The whole HTTP response for r, which it consumes (malloc'd). */
static char *reply_render(struct ctl_reply *rp, size_t *len)
{
	struct ctl_reply r = *rp;
	const char *ctype = "application/json", *text;
	size_t tlen, blen;
	char *resp;
	int hlen;

	if (!r.json && !r.raw_len && !r.raw && r.status != 200)
		reply_json(&r, r.status, error_json(http_reason(r.status)));
	if (r.json) {
		text = json_object_to_json_string_length(
			r.json,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
			&tlen);
	} else {
		ctype = "text/plain";
		text = r.raw ? (const char *)r.raw : "";
		tlen = r.raw_len;
	}
	/* JSON ends with a newline, for the shell */
	blen = tlen + !!r.json;
	resp = malloc(blen + 256);
	if (resp) {
		hlen = snprintf(resp, 256,
				"HTTP/1.1 %d %s\r\n"
				"Content-Type: %s\r\n"
				"Content-Length: %zu\r\n"
				"Connection: close\r\n\r\n",
				r.status, http_reason(r.status), ctype, blen);
		memcpy(resp + hlen, text, tlen);
		if (r.json)
			resp[hlen + tlen] = '\n';
		*len = hlen + blen;
	}
	/* an enrolment credential may be in there */
	if (r.json)
		explicit_bzero((char *)text, tlen);
	json_object_put(r.json);
	free(r.raw);
	return resp;
}

char *control_response(struct xbootd *d, int status,
		       const struct control_request *req, size_t *len)
{
	struct ctl_reply r = { .status = status };

	if (status != 200 || !req)
		reply_json(&r, status == 200 ? 500 : status,
			   error_json(http_reason(status)));
	else
		route(d, req, &r);
	return reply_render(&r, len);
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
	if (conn->media) {
		media_srv_forget(loop_media(c->loop), conn);
		explicit_bzero(conn->media, sizeof(*conn->media));
		free(conn->media);
	}
	close(conn->fd);
	if (conn->resp)
		explicit_bzero(conn->resp, conn->resp_len);
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

static void conn_reply(struct ctl_conn *conn, struct ctl_reply *r)
{
	conn->resp = reply_render(r, &conn->resp_len);
	if (!conn->resp)
		return conn_free(conn);
	conn_send(conn);
}

/* A build has ended: answer the connection that asked for it. */
static void media_done(void *arg, const struct media_result *res)
{
	struct ctl_conn *conn = arg;
	struct control_media *m = conn->media;
	struct ctl_reply r = { 0 };
	struct json_object *o, *md;

	conn->media = NULL;
	conn->started = mono_now(); /* its time to take the answer */
	if (!res->ok) {
		reply_err(&r, 500, "%s", res->error);
	} else {
		md = json_object_new_object();
		add_str(md, "type", media_type_name(m->spec.type));
		add_str(md, "out", m->out);
		add_int(md, "size", res->size);
		add_str(md, "sha256", res->sha256);
		add_str(md, "server", m->server);
		json_object_object_add(md, "machine", m->mac[0] ?
				       json_object_new_string(m->mac) : NULL);
		if (m->enrol_expires)
			add_int(md, "credential_expires", m->enrol_expires);
		o = json_object_new_object();
		json_object_object_add(o, "media", md);
		reply_json(&r, 201, o);
	}
	explicit_bzero(m, sizeof(*m));
	free(m);
	conn_reply(conn, &r);
}

/* A credential on usb and iso media for a named machine: their UEFI path
 * starts the agent from the medium, with no iPXE script to mint one. */
static int media_enrol(struct xbootd *d, struct control_media *m,
		       struct ctl_reply *r)
{
	uint8_t mac[6];
	int ret;

	if (m->spec.type == MEDIA_FLOPPY || !m->mac[0] || !d->agents ||
	    !d->machines || parse_mac(m->mac, mac))
		return 0;
	ret = machines_enrol_mint(d->machines, mac, CONTROL_MEDIA_ENROL_TTL_S,
				  m->enrol, &m->enrol_expires);
	if (ret) {
		reply_err(r, 500, "enrol %s: %s", m->mac, strerror(-ret));
		return ret;
	}
	pr_info("control: enrolment credential minted for %s's boot medium",
		m->mac);
	return 0;
}

/*
 * POST /media on a connection: true when its build has started (the
 * answer comes from media_done()); else r holds the answer.
 */
static bool conn_media(struct ctl_conn *conn, const struct control_request *req,
		       struct ctl_reply *r)
{
	struct media_srv *ms = loop_media(conn->ctl->loop);
	struct xbootd *d = conn->ctl->d;
	char msg[MEDIA_ERR_MAX + 64];
	struct control_media *m;
	int ret;

	m = malloc(sizeof(*m));
	if (!m) {
		reply_err(r, 500, "out of memory");
		return false;
	}
	if (control_media_parse(d, req->body, req->body_len, m, msg,
				sizeof(msg))) {
		reply_err(r, 400, "%s", msg);
		goto err;
	}
	if (media_srv_running(ms) >= MEDIA_SRV_BUILDS_MAX) {
		reply_err(r, 429, "media: %d builds are running already: try again when one has finished",
			  MEDIA_SRV_BUILDS_MAX);
		goto err;
	}
	if (media_enrol(d, m, r))
		goto err;
	conn->media = m;
	ret = media_srv_start(ms, &m->spec, media_done, conn, msg,
			      sizeof(msg));
	/* the child has its copy; ours is not needed any more */
	explicit_bzero(m->enrol, sizeof(m->enrol));
	if (!ret)
		return true;
	conn->media = NULL;
	if (ret == -EBUSY)
		reply_err(r, 429, "media: %s", msg);
	else if (ret == -ECHILD)
		reply_err(r, 500, "media: %s", msg);
	else
		reply_err(r, 400, "out: %s", msg);
err:
	explicit_bzero(m, sizeof(*m));
	free(m);
	return false;
}

static bool is_media_post(const struct control_request *req)
{
	struct segs sg;

	return req->method == CONTROL_M_POST && !split_path(req->path, &sg) &&
	       sg.n == 1 && !strcmp(sg.s[0], "media");
}

static void conn_respond(struct ctl_conn *conn, int status,
			 const struct control_request *req)
{
	struct ctl_reply r = { .status = status };

	if (status == 200 && is_media_post(req)) {
		if (conn_media(conn, req, &r))
			return;
		pr_debug("control: POST /media -> %d", r.status);
		return conn_reply(conn, &r);
	}
	conn->resp = control_response(conn->ctl->d, status, req,
				      &conn->resp_len);
	if (!conn->resp)
		return conn_free(conn);
	pr_debug("control: %s %s -> %.3s", method_name(req->method),
		 req->path, conn->resp + 9);
	conn_send(conn);
}

static void handle_recv(struct ctl_conn *conn, int res)
{
	struct control_request req;
	int status;

	if (res <= 0)
		return conn_free(conn); /* closed, error, or cut off */
	conn->req_len += res;
	status = control_parse_request(conn->req, conn->req_len, &req);
	if (!status)
		return conn_recv(conn);
	conn_respond(conn, status, &req);
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
		if (conn->shut || conn->media ||
		    now - conn->started < CONTROL_TIMEOUT_S)
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
