// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP/1.1 boot file server on xbootd's io_uring loop: files under
 * http-root (kernels, initramfs, images), per-machine iPXE scripts, the CA
 * the agents pin (/xboot/ca.pem) and Prometheus /metrics. A served script
 * or whole boot file moves its machine's phase (machines.h). Under
 * /images/ it is the image transport of include/xboot/image_http.h:
 * deploys read an image's files like boot files, captures upload chunk
 * frames as request bodies that image_xfer.c checks and stores.
 *
 * Each connection has at most one operation in flight - accept, recv of
 * the request head, send of the response head, then for a file body
 * splice file -> pipe and pipe -> socket in turn - so it is freed exactly
 * when that operation completes, never under the kernel's feet. The
 * bytes of a file never enter userspace. A request body (PUT, POST) is
 * read only after its request is authorised, into a buffer of exactly
 * its Content-Length, by the same recv operation as heads. Timeouts are
 * enforced by http_tick() with shutdown(), which makes the pending
 * operation complete.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent_srv.h"
#include "http.h"
#include "http_parse.h"
#include "image_store.h"
#include "image_xfer.h"
#include "ipxe_script.h"
#include "log.h"
#include "loop.h"
#include "machines.h"
#include "tftp.h"
#include "xbootd.h"

/* Our operations, inside loop.h's LOOP_OP_HTTP_FIRST..LOOP_OP_HTTP_LAST. */
#define OP_ACCEPT ((enum loop_op)(LOOP_OP_HTTP_FIRST + 0))
#define OP_RECV ((enum loop_op)(LOOP_OP_HTTP_FIRST + 1))
#define OP_SEND ((enum loop_op)(LOOP_OP_HTTP_FIRST + 2))
#define OP_SPLICE_IN ((enum loop_op)(LOOP_OP_HTTP_FIRST + 3))  /* file -> pipe */
#define OP_SPLICE_OUT ((enum loop_op)(LOOP_OP_HTTP_FIRST + 4)) /* pipe -> socket */

#define HTTP_PIPE_SZ (256 * 1024) /* bytes moved per splice pair */
#define HTTP_LINGER_S 2 /* how long a closing connection is drained */
#define HTTP_SMALL_BODY 4096 /* start, finish, abort: JSON of a line */
#define HTTP_BODIES_MAX 16 /* chunk bodies in memory at once; more: 503 */

enum image_op {
	IMG_MANIFEST,
	IMG_DATA,
	IMG_START,
	IMG_CHUNK,
	IMG_FINISH,
	IMG_ABORT,
};

/* A parsed /images/NAME/... path. */
struct image_target {
	enum image_op op;
	uint64_t index;          /* IMG_CHUNK */
	char name[XBI_NAME_MAX + 1];
};

struct http_conn {
	struct http *srv;
	struct http_conn *prev, *next;
	int fd;
	int file_fd;             /* the body being sent, or -1 */
	int pipe[2];             /* made for the first file body, or -1 */
	int keep_alive;
	int shut;                /* shutdown() by http_tick() */
	int lingering;           /* answered and closing: reading to the end */
	time_t last;             /* last progress, CLOCK_MONOTONIC */
	time_t head_start;       /* first byte of the pending head, 0: idle */
	uint64_t file_off, file_left; /* still to go from the file */
	size_t in_pipe;          /* bytes in the pipe, still to go out */
	char *out;               /* response head (and a generated body) */
	char *boot_path;         /* a whole boot file going out: its phase
				  * is set when it is all sent */
	size_t out_len, out_off;
	struct in_addr peer, local;
	/* a request body being read (image uploads): the request waits */
	struct http_request *req;
	struct image_xfer_auth auth;
	struct image_target *img;
	char *body;
	size_t body_len, body_need;
	int body_counted;        /* a chunk body: counted in srv->bodies */
	int continuing;          /* the out buffer is a 100 Continue */
	int body_read;           /* the whole body is in: the stream is in
				  * step even if the answer is an error */
	size_t in_len;
	char in[HTTP_HEAD_MAX];
} LOOP_ALIGNED;

struct http {
	struct loop *loop;
	struct xbootd *d;
	int fd;
	int accepting;
	struct http_conn *conns;
	int nconns;
	struct image_xfer *xfer;
	unsigned int bodies;     /* chunk bodies being read now */
	uint64_t stats[HTTP_STAT_MAX];
} LOOP_ALIGNED;

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static const char *status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 206: return "Partial Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

static void count_status(struct http *s, int status)
{
	if (status < 300)
		s->stats[HTTP_STAT_RESP_2XX]++;
	else if (status < 400)
		s->stats[HTTP_STAT_RESP_3XX]++;
	else if (status < 500)
		s->stats[HTTP_STAT_RESP_4XX]++;
	else
		s->stats[HTTP_STAT_RESP_5XX]++;
	if (status == 206)
		s->stats[HTTP_STAT_PARTIAL]++;
}

/* --- connection lifetime ------------------------------------------------ */

static void conn_body_free(struct http_conn *c)
{
	if (c->req) {
		explicit_bzero(c->req, sizeof(*c->req));
		free(c->req);
		c->req = NULL;
	}
	if (c->body_counted)
		c->srv->bodies--;
	c->body_counted = 0;
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_need = 0;
	free(c->img);
	c->img = NULL;
}

static void conn_free(struct http_conn *c)
{
	struct http *s = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	close(c->fd);
	if (c->file_fd >= 0)
		close(c->file_fd);
	if (c->pipe[0] >= 0) {
		close(c->pipe[0]);
		close(c->pipe[1]);
	}
	free(c->out);
	free(c->boot_path);
	conn_body_free(c);
	free(c);
}

static void conn_recv(struct http_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->shut)
		return conn_free(c);
	sqe = loop_get_sqe(c->srv->loop);
	if (!sqe)
		return conn_free(c);
	if (c->body && !c->lingering)
		io_uring_prep_recv(sqe, c->fd, c->body + c->body_len,
				   c->body_need - c->body_len, 0);
	else
		io_uring_prep_recv(sqe, c->fd, c->in + c->in_len,
				   sizeof(c->in) - c->in_len, 0);
	loop_sqe_data(sqe, c, OP_RECV);
}

static void conn_send(struct http_conn *c)
{
	struct io_uring_sqe *sqe = loop_get_sqe(c->srv->loop);

	if (!sqe)
		return conn_free(c);
	io_uring_prep_send(sqe, c->fd, c->out + c->out_off,
			   c->out_len - c->out_off, MSG_NOSIGNAL);
	loop_sqe_data(sqe, c, OP_SEND);
}

static void conn_splice_in(struct http_conn *c)
{
	struct io_uring_sqe *sqe = loop_get_sqe(c->srv->loop);
	unsigned int n = c->file_left < HTTP_PIPE_SZ ? c->file_left :
						       HTTP_PIPE_SZ;

	if (!sqe)
		return conn_free(c);
	io_uring_prep_splice(sqe, c->file_fd, c->file_off, c->pipe[1], -1, n,
			     SPLICE_F_MOVE);
	loop_sqe_data(sqe, c, OP_SPLICE_IN);
}

static void conn_splice_out(struct http_conn *c)
{
	struct io_uring_sqe *sqe = loop_get_sqe(c->srv->loop);

	if (!sqe)
		return conn_free(c);
	io_uring_prep_splice(sqe, c->pipe[0], -1, c->fd, -1, c->in_pipe,
			     SPLICE_F_MOVE | (c->file_left ? SPLICE_F_MORE : 0));
	loop_sqe_data(sqe, c, OP_SPLICE_OUT);
}

static int conn_pipe(struct http_conn *c)
{
	if (c->pipe[0] >= 0)
		return 0;
	if (pipe2(c->pipe, O_CLOEXEC))
		return -errno;
	/* a bigger pipe moves more per round trip; the default also works */
	fcntl(c->pipe[1], F_SETPIPE_SZ, HTTP_PIPE_SZ);
	return 0;
}

/* --- responses ------------------------------------------------------------ */

static void http_date(char *buf, size_t sz, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sz, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

struct reply {
	int status;
	const char *ctype;
	uint64_t length;      /* Content-Length */
	const char *body;     /* generated body (length bytes), or NULL */
	int file_fd;          /* or a file: length bytes from file_off */
	uint64_t file_off, file_size;
	time_t mtime;         /* Last-Modified, 0: none */
	const char *extra;    /* more header lines, each ending CR LF */
};

/* The head of a reply into c->out, followed by r->body unless HEAD. */
static int build_head(struct http_conn *c, const struct reply *r, int head)
{
	char date[64], lm[64] = "", crange[96] = "";
	size_t blen = r->body && !head ? r->length : 0;
	int n;

	http_date(date, sizeof(date), time(NULL));
	if (r->mtime)
		http_date(lm, sizeof(lm), r->mtime);
	if (r->status == 206)
		snprintf(crange, sizeof(crange),
			 "Content-Range: bytes %llu-%llu/%llu\r\n",
			 (unsigned long long)r->file_off,
			 (unsigned long long)(r->file_off + r->length - 1),
			 (unsigned long long)r->file_size);
	else if (r->status == 416)
		snprintf(crange, sizeof(crange), "Content-Range: bytes */%llu\r\n",
			 (unsigned long long)r->file_size);
	c->out = malloc(1024 + blen);
	if (!c->out)
		return -ENOMEM;
	n = snprintf(c->out, 1024,
		     "HTTP/1.1 %d %s\r\n"
		     "Server: xbootd/" XBOOT_VERSION "\r\n"
		     "Date: %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %llu\r\n"
		     "%s%s%s%s%s%s%s"
		     "Connection: %s\r\n\r\n",
		     r->status, status_reason(r->status), date, r->ctype,
		     (unsigned long long)r->length, crange,
		     r->file_fd >= 0 || r->status == 416 ?
			     "Accept-Ranges: bytes\r\n" : "",
		     *lm ? "Last-Modified: " : "", lm, *lm ? "\r\n" : "",
		     r->status == 405 ? "Allow: GET, HEAD\r\n" : "",
		     r->extra ? r->extra : "",
		     c->keep_alive ? "keep-alive" : "close");
	if (n < 0 || n >= 1024)
		return -EOVERFLOW;
	if (blen)
		memcpy(c->out + n, r->body, blen);
	c->out_len = n + blen;
	c->out_off = 0;
	return 0;
}

static void conn_reply(struct http_conn *c, const struct reply *r, int head)
{
	struct http *s = c->srv;

	count_status(s, r->status);
	if (r->status >= 400 && r->status != 404 && r->status != 416 &&
	    !c->body_read)
		c->keep_alive = 0; /* the stream may be out of step */
	c->body_read = 0;
	if (build_head(c, r, head)) {
		if (r->file_fd >= 0)
			close(r->file_fd);
		return conn_free(c);
	}
	if (r->file_fd >= 0 && !head && r->length) {
		c->file_fd = r->file_fd; /* serve_file() made the pipe */
		c->file_off = r->file_off;
		c->file_left = r->length;
	} else if (r->file_fd >= 0) {
		close(r->file_fd);
	}
	conn_send(c);
}

static void reply_text(struct http_conn *c, int status, const char *ctype,
		       const char *body, size_t len, int head)
{
	struct reply r = { .status = status, .ctype = ctype, .length = len,
			   .body = body, .file_fd = -1 };

	conn_reply(c, &r, head);
}

static void reply_error(struct http_conn *c, int status, int head)
{
	char body[80];
	int n = snprintf(body, sizeof(body), "%d %s\n", status,
			 status_reason(status));

	reply_text(c, status, "text/plain", body, n, head);
}

/* --- files ---------------------------------------------------------------- */

/* Open path (decoded, no "..") under root; no symlink may lead out. */
static int open_beneath(int root, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	char link[64], real[PATH_MAX], rootp[PATH_MAX];
	ssize_t n;
	int fd;

	fd = syscall(SYS_openat2, root, rel, &how, sizeof(how));
	if (fd >= 0 || errno != ENOSYS)
		return fd < 0 ? -errno : fd;
	/* before Linux 5.6: open, then check where it really is */
	fd = openat(root, rel, how.flags);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", root);
	n = readlink(link, rootp, sizeof(rootp) - 1);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (n > 0) {
		rootp[n] = '\0';
		n = readlink(link, real, sizeof(real) - 1);
	}
	if (n <= 0 || (real[n] = '\0', strncmp(real, rootp, strlen(rootp))) ||
	    (real[strlen(rootp)] != '/' && strcmp(rootp, "/"))) {
		close(fd);
		return -EXDEV;
	}
	return fd;
}

static int errno_status(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
	case -EISDIR:
	case -ENAMETOOLONG:
		return 404;
	case -EXDEV:
	case -ELOOP:
	case -EACCES:
	case -EPERM:
		return 403;
	default:
		return 500;
	}
}

static const char *file_ctype(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot && (!strcmp(dot, ".ipxe") || !strcmp(dot, ".txt") ||
		    !strcmp(dot, ".cfg")))
		return "text/plain";
	return "application/octet-stream";
}

static int file_open(struct http *s, const char *path, struct stat *st)
{
	int root, fd;

	if (!path[1])
		return -ENOENT;
	root = open(s->d->cfg->http_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -ENOENT;
	fd = open_beneath(root, path + 1);
	close(root);
	if (fd < 0)
		return fd;
	if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
		close(fd);
		return -EISDIR;
	}
	return fd;
}

/* The MAC of the machine at ip (its lease), or NULL. */
static const uint8_t *peer_mac(struct http *s, struct in_addr ip)
{
	const struct lease *l;

	if (!s->d->leases)
		return NULL;
	l = lease_find_ip(s->d->leases, ip);
	return l && l->state != LEASE_FREE ? l->mac : NULL;
}

/* A whole boot file went out to c's peer. */
static void boot_file_sent(struct http_conn *c)
{
	struct xbootd *d = c->srv->d;
	const uint8_t *mac = peer_mac(c->srv, c->peer);

	if (d->machines && mac)
		machines_phase(d->machines, mac, MPHASE_BOOT_FILE,
			       c->boot_path, &c->peer);
	free(c->boot_path);
	c->boot_path = NULL;
}

/* The file open as fd (stat st) as the reply, with ranges; boot: a boot
 * file, whose sending moves its machine's phase. */
static void reply_fd(struct http_conn *c, const struct http_request *req,
		     int fd, const struct stat *st, const char *ctype,
		     bool boot)
{
	struct reply r = { .ctype = ctype };
	int head = req->method == HTTP_M_HEAD;

	if (conn_pipe(c)) {
		pr_warn_ratelimited("http: pipe: %s", strerror(errno));
		close(fd);
		return reply_error(c, 500, head);
	}
	r.file_size = st->st_size;
	r.mtime = st->st_mtime;
	r.status = http_range_resolve(&req->range, st->st_size, &r.file_off,
				      &r.length);
	if (r.status == 416) {
		close(fd);
		r.file_fd = -1;
		r.length = 0;
		return conn_reply(c, &r, head);
	}
	r.file_fd = fd;
	/* only a whole file is a boot file sent, not a range of it */
	if (boot && r.status == 200 && !head && c->srv->d->machines)
		c->boot_path = strdup(req->path);
	conn_reply(c, &r, head);
}

static void serve_file(struct http_conn *c, const struct http_request *req)
{
	int head = req->method == HTTP_M_HEAD;
	struct stat st;
	int fd;

	fd = file_open(c->srv, req->path, &st);
	if (fd < 0) {
		pr_debug("http: %s: %s", req->path, strerror(-fd));
		return reply_error(c, errno_status(fd), head);
	}
	reply_fd(c, req, fd, &st, file_ctype(req->path), true);
}

/* The CA certificate agents pin, when xbootd has one. */
static void serve_ca(struct http_conn *c, const struct http_request *req)
{
	const char *path = c->srv->d->agent_ca_file;
	int head = req->method == HTTP_M_HEAD;
	struct stat st;
	int fd;

	if (!path[0])
		return reply_error(c, 404, head);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		pr_warn_ratelimited("http: agent CA %s: %s", path,
				    fd < 0 ? strerror(errno) : "not a file");
		if (fd >= 0)
			close(fd);
		return reply_error(c, 404, head);
	}
	reply_fd(c, req, fd, &st, "application/x-pem-file", false);
}

/* --- iPXE scripts --------------------------------------------------------- */

static int parse_mac(const char *s, size_t n, uint8_t mac[6])
{
	unsigned int b[6];
	char buf[18], tail;
	int i;

	if (n != 17 && n != 12)
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (n == 12 && strspn(buf, "0123456789abcdefABCDEF") != 12)
		return -EINVAL;
	if (n == 12 && sscanf(buf, "%2x%2x%2x%2x%2x%2x%c", &b[0], &b[1],
			      &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	if (n == 17) {
		for (i = 2; i < 17; i += 3)
			if (buf[i] != ':' && buf[i] != '-')
				return -EINVAL;
		for (i = 0; i < 6; i++) {
			buf[i * 3 + 2] = '\0';
			if (strspn(buf + i * 3, "0123456789abcdefABCDEF") != 2)
				return -EINVAL;
			b[i] = strtoul(buf + i * 3, NULL, 16);
		}
	}
	for (i = 0; i < 6; i++)
		mac[i] = b[i];
	return 0;
}

/* "/boot/aa:bb:cc:dd:ee:ff.ipxe" (or aa-bb-.. or aabbccddeeff) */
static int script_path_mac(const char *path, uint8_t mac[6])
{
	size_t n = strlen(path);

	if (strncmp(path, "/boot/", 6) || n < 6 + 5 ||
	    strcmp(path + n - 5, ".ipxe"))
		return -EINVAL;
	return parse_mac(path + 6, n - 11, mac);
}

static const struct cfg_host *host_of(const struct config *cfg,
				      const uint8_t mac[6])
{
	int i;

	for (i = 0; i < cfg->nhosts; i++)
		if (!memcmp(cfg->hosts[i].mac, mac, 6))
			return &cfg->hosts[i];
	return NULL;
}

/* The template: the ipxe-script file, read each time so edits apply at
 * once, or the built-in one. */
static char *load_template(const struct config *cfg)
{
	char *buf;
	ssize_t n;
	int fd;

	if (!cfg->ipxe_script[0])
		return strdup(ipxe_default_template);
	fd = open(cfg->ipxe_script, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		pr_warn_ratelimited("http: ipxe-script %s: %s", cfg->ipxe_script,
				    strerror(errno));
		return NULL;
	}
	buf = malloc(IPXE_SCRIPT_MAX + 1);
	n = buf ? read(fd, buf, IPXE_SCRIPT_MAX + 1) : -1;
	close(fd);
	if (n < 0 || n > IPXE_SCRIPT_MAX) {
		pr_warn_ratelimited("http: ipxe-script %s: unreadable or over %d bytes",
				    cfg->ipxe_script, IPXE_SCRIPT_MAX);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static struct in_addr server_addr(struct http_conn *c)
{
	const struct config *cfg = c->srv->d->cfg;

	return cfg->server_addr.s_addr ? cfg->server_addr : c->local;
}

/* We do not know who asks: let iPXE tell us its MAC. */
static void reply_chain_by_mac(struct http_conn *c, int head)
{
	char ip[INET_ADDRSTRLEN], body[160];
	struct in_addr a = server_addr(c);
	int n;

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	n = snprintf(body, sizeof(body),
		     "#!ipxe\nchain http://%s:%u/boot/${net0/mac}.ipxe\n", ip,
		     c->srv->d->cfg->http_port);
	c->srv->stats[HTTP_STAT_SCRIPTS]++;
	reply_text(c, 200, "text/plain", body, n, head);
}

/* A new enrolment credential for mac into cred, "" when there is no agent
 * service to redeem it. */
static void script_enrol(struct xbootd *d, const uint8_t mac[6],
			 char cred[MACHINES_CRED_TEXT_MAX])
{
	int ret;

	cred[0] = '\0';
	if (!d->machines || !d->agents)
		return;
	ret = machines_enrol_mint(d->machines, mac, d->cfg->agent_enrol_ttl,
				  cred, NULL);
	if (ret) {
		pr_warn_ratelimited("http: no enrolment credential for the script: %s",
				    strerror(-ret));
		cred[0] = '\0';
	}
}

static void reply_script(struct http_conn *c, const uint8_t mac[6],
			 struct in_addr ip, const char *lease_name, int head)
{
	struct xbootd *d = c->srv->d;
	const struct cfg_host *h = host_of(d->cfg, mac);
	char macs[18], ips[INET_ADDRSTRLEN] = "", sip[INET_ADDRSTRLEN];
	char server[64], port[8], aport[8] = "", ca_url[96] = "";
	char cred[MACHINES_CRED_TEXT_MAX] = "";
	struct in_addr sa = server_addr(c);
	struct ipxe_vars v;
	char *tmpl, *text;
	size_t len;

	snprintf(macs, sizeof(macs), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
		 mac[1], mac[2], mac[3], mac[4], mac[5]);
	if (!ip.s_addr && h)
		ip = h->ip;
	if (ip.s_addr)
		inet_ntop(AF_INET, &ip, ips, sizeof(ips));
	inet_ntop(AF_INET, &sa, sip, sizeof(sip));
	snprintf(port, sizeof(port), "%u", d->cfg->http_port);
	snprintf(server, sizeof(server), "http://%s:%s", sip, port);
	if (d->agents && d->cfg->agent_port)
		snprintf(aport, sizeof(aport), "%u", d->cfg->agent_port);
	if (d->agent_ca_file[0])
		snprintf(ca_url, sizeof(ca_url), "%s/xboot/ca.pem", server);
	tmpl = load_template(d->cfg);
	/* each script served gets a fresh credential (the machine's unused
	 * older one is dropped); a HEAD is not a boot */
	if (tmpl && !head && ipxe_uses(tmpl, "enrol"))
		script_enrol(d, mac, cred);
	v = (struct ipxe_vars){
		.mac = macs, .ip = ips, .server = server, .server_ip = sip,
		.http_port = port,
		.hostname = h && h->hostname[0] ? h->hostname : lease_name,
		.profile = h && h->profile[0] ? h->profile : "default",
		.enrol = cred, .agent_port = aport, .ca_url = ca_url,
	};
	text = tmpl ? ipxe_render(tmpl, &v, &len) : NULL;
	explicit_bzero(cred, sizeof(cred));
	free(tmpl);
	if (!text)
		return reply_error(c, 500, head);
	c->srv->stats[HTTP_STAT_SCRIPTS]++;
	if (d->machines && !head)
		machines_phase(d->machines, mac, MPHASE_BOOTENV, "iPXE script",
			       ip.s_addr ? &ip : NULL);
	reply_text(c, 200, "text/plain", text, len, head);
	explicit_bzero(text, len);
	free(text);
}

static void serve_script(struct http_conn *c, const struct http_request *req)
{
	struct xbootd *d = c->srv->d;
	int head = req->method == HTTP_M_HEAD;
	const struct lease *l = NULL;
	struct in_addr none = { 0 };
	uint8_t mac[6];
	int i;

	if (strcmp(req->path, "/boot.ipxe")) {
		script_path_mac(req->path, mac);
		l = d->leases ? lease_find_mac(d->leases, mac) : NULL;
		return reply_script(c, mac, l ? l->ip : none,
				    l ? l->hostname : "", head);
	}
	if (d->leases)
		l = lease_find_ip(d->leases, c->peer);
	if (l && l->state != LEASE_DECLINED)
		return reply_script(c, l->mac, c->peer, l->hostname, head);
	for (i = 0; i < d->cfg->nhosts; i++)
		if (d->cfg->hosts[i].ip.s_addr == c->peer.s_addr)
			return reply_script(c, d->cfg->hosts[i].mac, c->peer, "",
					    head);
	reply_chain_by_mac(c, head);
}

/* --- /metrics ------------------------------------------------------------- */

static void metric_head(FILE *f, const char *name, const char *type,
			const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_dhcp(FILE *f, struct xbootd *d)
{
	static const char *const names[DHCP_STAT_MAX] = DHCP_STAT_NAMES;
	const uint64_t *st;
	char name[96];
	int i, k;

	for (k = 0; k < DHCP_STAT_MAX; k++) {
		snprintf(name, sizeof(name), "xboot_dhcp_%s_total", names[k]);
		metric_head(f, name, "counter",
			    "DHCP packets handled by xbootd (slow path), by kind.");
		for (i = 0; i < d->nifaces; i++) {
			st = d->ifaces[i].srv ?
				     dhcp_server_stats(d->ifaces[i].srv) : NULL;
			fprintf(f, "%s{interface=\"%s\"} %llu\n", name,
				d->ifaces[i].link.name,
				(unsigned long long)(st ? st[k] : 0));
		}
	}
}

static void metrics_xdp(FILE *f, struct xbootd *d)
{
	static const char *const names[XB_STAT_MAX] = XB_STAT_NAMES;
	uint64_t xs[XB_STAT_MAX];
	char name[96];
	int k;

	if (!d->xdp || xdp_ctl_stats(d->xdp, xs))
		return;
	for (k = 0; k < XB_STAT_MAX; k++) {
		snprintf(name, sizeof(name), "xboot_xdp_%s_total", names[k]);
		metric_head(f, name, "counter",
			    "Packets handled by the XDP fast path, by kind.");
		fprintf(f, "%s %llu\n", name, (unsigned long long)xs[k]);
	}
}

static void metrics_tftp(FILE *f, struct xbootd *d)
{
	static const char *const names[TFTP_STAT_MAX] = TFTP_STAT_NAMES;
	char name[96];
	int k;

	for (k = 0; d->tftp_stats && k < TFTP_STAT_MAX; k++) {
		snprintf(name, sizeof(name), "xboot_tftp_%s_total", names[k]);
		metric_head(f, name, "counter",
			    "TFTP transfers and packets of xbootd (slow path).");
		fprintf(f, "%s %llu\n", name,
			(unsigned long long)d->tftp_stats[k]);
	}
}

static void metrics_http(FILE *f, struct http *s)
{
	static const char *const names[HTTP_STAT_MAX] = HTTP_STAT_NAMES;
	char name[96];
	int k;

	for (k = 0; k < HTTP_STAT_MAX; k++) {
		snprintf(name, sizeof(name), "xboot_http_%s_total", names[k]);
		metric_head(f, name, "counter", "HTTP server counters.");
		fprintf(f, "%s %llu\n", name,
			(unsigned long long)s->stats[k]);
	}
	metric_head(f, "xboot_http_connections_open", "gauge",
		    "HTTP connections open now.");
	fprintf(f, "xboot_http_connections_open %d\n", s->nconns);
}

static void metrics_agent(FILE *f, struct xbootd *d)
{
	static const char *const names[AGENT_STAT_MAX] = AGENT_STAT_NAMES;
	char name[96];
	int k;

	for (k = 0; d->agent_stats && k < AGENT_STAT_MAX; k++) {
		if (k == AGENT_STAT_ACTIVE) {
			snprintf(name, sizeof(name), "xboot_agent_%s",
				 names[k]);
			metric_head(f, name, "gauge",
				    "Agent sessions up now.");
		} else {
			snprintf(name, sizeof(name), "xboot_agent_%s_total",
				 names[k]);
			metric_head(f, name, "counter",
				    "Agent service counters.");
		}
		fprintf(f, "%s %llu\n", name,
			(unsigned long long)d->agent_stats[k]);
	}
}

static void serve_metrics(struct http_conn *c, const struct http_request *req)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	if (!f)
		return reply_error(c, 500, req->method == HTTP_M_HEAD);
	metrics_dhcp(f, c->srv->d);
	metrics_xdp(f, c->srv->d);
	metrics_tftp(f, c->srv->d);
	metrics_http(f, c->srv);
	metrics_agent(f, c->srv->d);
	if (fclose(f)) {
		free(text);
		return reply_error(c, 500, req->method == HTTP_M_HEAD);
	}
	reply_text(c, 200, "text/plain; version=0.0.4", text, len,
		   req->method == HTTP_M_HEAD);
	free(text);
}


/* --- images (include/xboot/image_http.h) ---------------------------------- */

static const struct {
	const char *name;
	enum image_op op;
	enum http_method method;
} image_ops[] = {
	{ "manifest", IMG_MANIFEST, HTTP_M_GET },
	{ "data", IMG_DATA, HTTP_M_GET },
	{ "start", IMG_START, HTTP_M_POST },
	{ "finish", IMG_FINISH, HTTP_M_POST },
	{ "abort", IMG_ABORT, HTTP_M_POST },
};

/* "/images/NAME/OP" or "/images/NAME/chunk/INDEX" into t; 0 or 404. The
 * method is checked too: 405. */
static int image_target_parse(const char *path, enum http_method method,
			      struct image_target *t)
{
	const char *name = path + strlen(IMAGE_HTTP_PREFIX), *slash, *op;
	enum http_method want;
	unsigned int i;
	char *end;

	slash = strchr(name, '/');
	if (!slash || slash == name || slash - name > XBI_NAME_MAX)
		return 404;
	memcpy(t->name, name, slash - name);
	t->name[slash - name] = '\0';
	if (!image_name_valid(t->name))
		return 404;
	op = slash + 1;
	if (!strncmp(op, "chunk/", 6)) {
		if (op[6] < '0' || op[6] > '9' || strlen(op + 6) > 10)
			return 404;
		errno = 0;
		t->index = strtoull(op + 6, &end, 10);
		if (*end || errno || t->index >= XBI_CHUNKS_MAX)
			return 404;
		t->op = IMG_CHUNK;
		return method == HTTP_M_PUT ? 0 : 405;
	}
	for (i = 0; i < sizeof(image_ops) / sizeof(image_ops[0]); i++) {
		if (strcmp(op, image_ops[i].name))
			continue;
		t->op = image_ops[i].op;
		want = image_ops[i].method;
		if (method == want ||
		    (want == HTTP_M_GET && method == HTTP_M_HEAD))
			return 0;
		return 405;
	}
	return 404;
}

static void reply_image(struct http_conn *c, const struct image_xfer_reply *r)
{
	struct reply rr = { .status = r->status, .ctype = "application/json",
			    .length = strlen(r->body), .body = r->body,
			    .file_fd = -1 };

	if (r->status == 503)
		rr.extra = "Retry-After: 5\r\n";
	conn_reply(c, &rr, 0);
}

/* The request refused before its body is read: the connection closes. */
static void reply_image_refusal(struct http_conn *c, int status, int head)
{
	struct image_xfer_reply r = { .status = status };
	struct reply rr;

	snprintf(r.body, sizeof(r.body), "{\"error\":\"%s\"}",
		 status_reason(status));
	rr = (struct reply){ .status = status, .ctype = "application/json",
			     .length = strlen(r.body), .body = r.body,
			     .file_fd = -1 };
	if (status == 401)
		rr.extra = "WWW-Authenticate: Bearer\r\n";
	else if (status == 503)
		rr.extra = "Retry-After: 5\r\n";
	conn_reply(c, &rr, head);
}

static void serve_image_file(struct http_conn *c,
			     const struct http_request *req,
			     const struct image_target *t)
{
	struct http *s = c->srv;
	int head = req->method == HTTP_M_HEAD;
	uint64_t off, count;
	char path[PATH_MAX];
	struct stat st;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s/%s",
		 image_store_path(s->d->images), t->name,
		 t->op == IMG_MANIFEST ? XBI_FILE_MANIFEST : XBI_FILE_DATA);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return reply_image_refusal(c, 404, head);
	}
	if (t->op == IMG_DATA && !head &&
	    http_range_resolve(&req->range, st.st_size, &off, &count) != 416 &&
	    count) {
		ret = image_xfer_deploy_range(s->xfer, &c->auth, t->name, off,
					      count);
		if (ret) {
			close(fd);
			pr_debug_ratelimited("http: %s: bytes %llu+%llu: %s",
					     req->path,
					     (unsigned long long)off,
					     (unsigned long long)count,
					     ret == -EINVAL ?
						     "not on chunk boundaries" :
						     strerror(-ret));
			return reply_image_refusal(c, ret == -EINVAL ? 400 :
									500,
						   head);
		}
	}
	reply_fd(c, req, fd, &st, "application/octet-stream", false);
}

/* The body of a capture request is in: hand it on, answer. */
static void image_body_done(struct http_conn *c)
{
	struct image_xfer *x = c->srv->xfer;
	const struct image_target *t = c->img;
	struct image_xfer_reply r = { 0 };

	c->last = mono_now();
	switch (t->op) {
	case IMG_START:
		image_xfer_capture_start(x, &c->auth, t->name, c->body,
					 c->body_len, &r);
		break;
	case IMG_CHUNK:
		image_xfer_capture_chunk(x, &c->auth, t->name, t->index,
					 c->req->raw_length, c->body,
					 c->body_len, &r);
		break;
	case IMG_FINISH:
		image_xfer_capture_finish(x, &c->auth, t->name, c->body,
					  c->body_len, &r);
		break;
	default:
		image_xfer_capture_abort(x, &c->auth, t->name, &r);
		break;
	}
	conn_body_free(c);
	c->body_read = 1;
	reply_image(c, &r);
}

/* Take the request's body: what came with the head, then recv the rest
 * (after a 100 Continue when the client waits for one). */
static void image_body_begin(struct http_conn *c,
			     const struct http_request *req,
			     const struct image_target *t)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	size_t n;

	c->req = malloc(sizeof(*c->req));
	c->img = malloc(sizeof(*c->img));
	c->body = malloc(req->content_length ? req->content_length : 1);
	if (!c->req || !c->img || !c->body) {
		conn_body_free(c);
		return reply_image_refusal(c, 503, 0);
	}
	*c->req = *req;
	*c->img = *t;
	c->body_need = req->content_length;
	if (t->op == IMG_CHUNK) {
		c->body_counted = 1;
		c->srv->bodies++;
	}
	n = c->in_len < c->body_need ? c->in_len : c->body_need;
	memcpy(c->body, c->in, n);
	c->body_len = n;
	c->in_len -= n;
	memmove(c->in, c->in + n, c->in_len);
	c->head_start = 0;
	if (c->body_len == c->body_need)
		return image_body_done(c);
	if (!req->expect_continue)
		return conn_recv(c);
	c->out = malloc(sizeof(cont));
	if (!c->out)
		return conn_free(c);
	memcpy(c->out, cont, sizeof(cont));
	c->out_len = sizeof(cont) - 1;
	c->out_off = 0;
	c->continuing = 1;
	conn_send(c);
}

static void serve_image(struct http_conn *c, struct http_request *req)
{
	struct http *s = c->srv;
	int head = req->method == HTTP_M_HEAD;
	char peer[INET_ADDRSTRLEN];
	struct image_target t;
	int st, type;

	st = image_target_parse(req->path, req->method, &t);
	if (st || !s->xfer) {
		explicit_bzero(req->bearer, sizeof(req->bearer));
		return reply_image_refusal(c, st ? st : 404, head);
	}
	type = t.op == IMG_MANIFEST || t.op == IMG_DATA ?
		       XBA_JOB_IMAGE_DEPLOY : XBA_JOB_IMAGE_CAPTURE;
	inet_ntop(AF_INET, &c->peer, peer, sizeof(peer));
	st = image_xfer_authorise(s->xfer, req->bearer, type, t.name, peer,
				  &c->auth);
	explicit_bzero(req->bearer, sizeof(req->bearer));
	if (st)
		return reply_image_refusal(c, st, head);
	if (type == XBA_JOB_IMAGE_DEPLOY)
		return serve_image_file(c, req, &t);
	if (t.op != IMG_CHUNK && req->content_length > HTTP_SMALL_BODY)
		return reply_image_refusal(c, 413, 0);
	if (t.op == IMG_CHUNK && !req->has_raw_length)
		return reply_image_refusal(c, 400, 0);
	if (t.op == IMG_CHUNK && (s->bodies >= HTTP_BODIES_MAX ||
				  !image_xfer_capture_room(s->xfer, &c->auth)))
		return reply_image_refusal(c, 503, 0);
	image_body_begin(c, req, &t);
}

/* --- requests ------------------------------------------------------------- */

static const char *method_name(enum http_method m)
{
	switch (m) {
	case HTTP_M_HEAD: return "HEAD";
	case HTTP_M_PUT: return "PUT";
	case HTTP_M_POST: return "POST";
	default: return "GET";
	}
}

static void route(struct http_conn *c, struct http_request *req)
{
	uint8_t mac[6];

	pr_debug("http: %s %s", method_name(req->method), req->path);
	if (!strncmp(req->path, IMAGE_HTTP_PREFIX,
		     strlen(IMAGE_HTTP_PREFIX)))
		return serve_image(c, req);
	explicit_bzero(req->bearer, sizeof(req->bearer));
	/* only image uploads take a body; it is not read: the reply closes */
	if (req->method == HTTP_M_PUT || req->method == HTTP_M_POST)
		return reply_error(c, 405, 0);
	if (!strcmp(req->path, "/metrics"))
		return serve_metrics(c, req);
	if (!strcmp(req->path, "/xboot/ca.pem"))
		return serve_ca(c, req);
	if (!strcmp(req->path, "/boot.ipxe") ||
	    !script_path_mac(req->path, mac))
		return serve_script(c, req);
	serve_file(c, req);
}

/* Answer the head in c->in if it is complete, else read more. */
static void conn_next(struct http_conn *c)
{
	struct http_request *req;
	int st;

	req = malloc(sizeof(*req));
	if (!req)
		return conn_free(c);
	st = http_parse_request(c->in, c->in_len, req);
	if (!st) {
		free(req);
		return conn_recv(c);
	}
	c->srv->stats[HTTP_STAT_REQUESTS]++;
	if (st != 200) {
		c->keep_alive = 0;
		reply_error(c, st, req->method == HTTP_M_HEAD);
		explicit_bzero(req, sizeof(*req));
		free(req);
		return;
	}
	c->keep_alive = req->keep_alive;
	/* what follows the head is the next pipelined request */
	c->in_len -= req->head_len;
	memmove(c->in, c->in + req->head_len, c->in_len);
	c->head_start = c->in_len ? mono_now() : 0;
	route(c, req);
	explicit_bzero(req, sizeof(*req));
	free(req);
}

/*
 * Closing with unread request bytes in the socket would send a reset,
 * which can destroy the answer before the client has read it (an error
 * answered before the whole request arrived): send FIN, then read and
 * drop whatever comes until the client closes too, or HTTP_LINGER_S.
 */
static void conn_linger(struct http_conn *c)
{
	c->lingering = 1;
	c->last = mono_now();
	c->in_len = 0;
	shutdown(c->fd, SHUT_WR);
	conn_recv(c);
}

static void conn_done(struct http_conn *c)
{
	if (c->boot_path)
		boot_file_sent(c);
	if (c->file_fd >= 0)
		close(c->file_fd);
	c->file_fd = -1;
	free(c->out);
	c->out = NULL;
	if (!c->keep_alive)
		return conn_linger(c);
	c->last = mono_now();
	if (c->in_len && !c->head_start)
		c->head_start = c->last;
	conn_next(c);
}

static void handle_recv(struct http_conn *c, int res)
{
	if (res <= 0)
		return conn_free(c); /* closed, reset, or cut off */
	if (c->lingering)
		return conn_recv(c);
	if (c->body) {
		c->body_len += res;
		c->last = mono_now();
		if (c->body_len < c->body_need)
			return conn_recv(c);
		return image_body_done(c);
	}
	c->in_len += res;
	c->last = mono_now();
	if (!c->head_start)
		c->head_start = c->last;
	conn_next(c);
}

static void handle_send(struct http_conn *c, int res)
{
	if (res <= 0)
		return conn_free(c);
	c->srv->stats[HTTP_STAT_BYTES_SENT] += res;
	c->last = mono_now();
	c->out_off += res;
	if (c->out_off < c->out_len)
		return conn_send(c);
	if (c->continuing) {
		c->continuing = 0;
		free(c->out);
		c->out = NULL;
		return conn_recv(c);
	}
	if (c->file_fd >= 0 && c->file_left)
		return conn_splice_in(c);
	conn_done(c);
}

static void handle_splice_in(struct http_conn *c, int res)
{
	if (res <= 0) {
		/* the file shrank under us: the promised length cannot be
		 * kept, so the client must see the connection end */
		pr_debug_ratelimited("http: reading a file: %s",
				     res ? strerror(-res) : "short file");
		return conn_free(c);
	}
	c->file_off += res;
	c->file_left -= res;
	c->in_pipe = res;
	conn_splice_out(c);
}

static void handle_splice_out(struct http_conn *c, int res)
{
	if (res <= 0)
		return conn_free(c);
	c->srv->stats[HTTP_STAT_BYTES_SENT] += res;
	c->last = mono_now();
	c->in_pipe -= res;
	if (c->in_pipe)
		return conn_splice_out(c);
	if (c->file_left)
		return conn_splice_in(c);
	conn_done(c);
}

/* --- accepting ------------------------------------------------------------ */

static void accept_arm(struct http *s)
{
	struct io_uring_sqe *sqe;

	if (s->accepting)
		return;
	sqe = loop_get_sqe(s->loop);
	if (!sqe)
		return; /* http_tick() tries again */
	io_uring_prep_accept(sqe, s->fd, NULL, NULL, SOCK_CLOEXEC);
	loop_sqe_data(sqe, s, OP_ACCEPT);
	s->accepting = 1;
}

/* Over the limit: a short 503 without waiting for anything, then close. */
static void refuse(struct http *s, int fd)
{
	static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
				  "Content-Length: 0\r\n"
				  "Retry-After: 5\r\n"
				  "Connection: close\r\n\r\n";

	s->stats[HTTP_STAT_REFUSED]++;
	pr_warn_ratelimited("http: %d connections open, refusing one",
			    s->nconns);
	if (send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		pr_debug("http: 503: %s", strerror(errno));
	close(fd);
}

static void handle_accept(struct http *s, int res)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct http_conn *c;

	s->accepting = 0;
	if (res < 0) {
		pr_warn_ratelimited("http: accept: %s", strerror(-res));
		return; /* EMFILE and friends: again on the next tick */
	}
	accept_arm(s);
	if (s->nconns >= HTTP_CONN_MAX)
		return refuse(s, res);
	c = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*c));
	if (!c) {
		close(res);
		return;
	}
	memset(c, 0, offsetof(struct http_conn, in));
	c->srv = s;
	c->fd = res;
	c->file_fd = -1;
	c->pipe[0] = c->pipe[1] = -1;
	c->last = mono_now();
	if (!getpeername(res, (struct sockaddr *)&sin, &sl))
		c->peer = sin.sin_addr;
	sl = sizeof(sin);
	if (!getsockname(res, (struct sockaddr *)&sin, &sl))
		c->local = sin.sin_addr;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	s->stats[HTTP_STAT_CONNECTIONS]++;
	conn_recv(c);
}

void http_handle(struct http *s, int op, void *obj, int res)
{
	switch (op) {
	case OP_ACCEPT:
		handle_accept(s, res);
		break;
	case OP_RECV:
		handle_recv(obj, res);
		break;
	case OP_SEND:
		handle_send(obj, res);
		break;
	case OP_SPLICE_IN:
		handle_splice_in(obj, res);
		break;
	case OP_SPLICE_OUT:
		handle_splice_out(obj, res);
		break;
	}
}

/* Which limit, if any, c has run past. */
static const char *conn_overdue(const struct http_conn *c, time_t now)
{
	if (c->lingering)
		return now - c->last >= HTTP_LINGER_S ? "lingering" : NULL;
	if (c->out)
		return now - c->last >= HTTP_SEND_STALL_S ? "stalled" : NULL;
	if (c->body)
		return now - c->last >= HTTP_SEND_STALL_S ? "stalled body" :
							    NULL;
	if (c->head_start)
		return now - c->head_start >= HTTP_HEAD_DEADLINE_S ?
			       "slow request head" : NULL;
	return now - c->last >= HTTP_IDLE_S ? "idle" : NULL;
}

void http_tick(struct http *s, time_t wall)
{
	time_t now = mono_now();
	struct http_conn *c;
	const char *why;

	(void)wall;
	if (!s)
		return;
	for (c = s->conns; c; c = c->next) {
		if (c->shut)
			continue;
		why = conn_overdue(c, now);
		if (!why)
			continue;
		pr_debug("http: closing a connection: %s", why);
		if (!c->lingering)
			s->stats[HTTP_STAT_TIMEOUTS]++;
		shutdown(c->fd, SHUT_RDWR);
		c->shut = 1;
	}
	image_xfer_tick(s->xfer, now);
	accept_arm(s);
}

/* --- the listening socket ------------------------------------------------- */

static int listen_open(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd, one = 1, ret;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(fd, 1024)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Each connection may hold a socket, a pipe and a file open. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

int http_open(struct http **out, struct loop *l, struct xbootd *d)
{
	struct http *s;
	int fd;

	*out = NULL;
	if (!d->cfg->http_port)
		return 0;
	fd = listen_open(d->cfg->http_port);
	if (fd < 0) {
		pr_err("http: port %u: %s", d->cfg->http_port, strerror(-fd));
		return fd;
	}
	s = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	memset(s, 0, sizeof(*s));
	s->loop = l;
	s->d = d;
	s->fd = fd;
	if (d->machines && d->images &&
	    image_xfer_open(&s->xfer, d->machines, d->images))
		pr_warn("http: no image transfers: out of memory");
	raise_nofile();
	if (access(d->cfg->http_root, R_OK | X_OK))
		pr_warn("http: http-root %s: %s (files will be 404)",
			d->cfg->http_root, strerror(errno));
	accept_arm(s);
	d->http_stats = s->stats;
	pr_info("http: serving %s on port %u", d->cfg->http_root,
		d->cfg->http_port);
	*out = s;
	return 0;
}

void http_close(struct http *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_free(s->conns);
	image_xfer_close(s->xfer);
	s->d->http_stats = NULL;
	close(s->fd);
	free(s);
}
