// SPDX-License-Identifier: GPL-2.0
/*
 * xboot-agent: runs in the boot environment (bootenv/init starts it once
 * the network is up), connects to xbootd's agent port, authenticates,
 * reports the machine's inventory and runs the jobs it is sent, until a
 * job powers the machine off, reboots or kexecs it. One poll(2) loop: the
 * connection, the running job's fds, SIGTERM and the timers.
 *
 * The protocol is include/xboot/agent.h; session.c keeps the reliable
 * queue and resume state, tls_client.c the connection, jobs.c the jobs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "agent_log.h"
#include "hex.h"
#include "http_get.h"
#include "inventory.h"
#include "jobs.h"
#include "session.h"
#include "tls_client.h"

#define AGENT_VERSION "xboot-agent 1"
#define AGENT_TOKEN_FILE "/run/xboot/token"
#define AGENT_HELLO_WAIT_MS 15000U	/* connect + TLS + WELCOME */
#define AGENT_BYE_FLUSH_MS 1000U	/* how long a last BYE may take */

enum exit_code {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_TLS_VERIFY = 2,
	EXIT_REFUSED = 3,
};

struct opts {
	const char *server;
	char host[256];
	uint16_t port;
	uint8_t mac[XBA_MAC_LEN];
	const char *ifname, *ip, *gateway;
	const char *enrol_file;
	const char *token_file;
	const char *ca;
	const char *inventory_root;
	bool power_real;
	bool plaintext;
};

enum agent_state {
	AGENT_WAIT,	/* until next_connect_ms */
	AGENT_CONNECTING, /* TCP and TLS */
	AGENT_HELLO,	/* HELLO sent, waiting for WELCOME */
	AGENT_UP,
};

struct agent {
	struct opts o;
	struct sess sess;
	struct jobs jobs;
	struct tls_client tls;
	struct conn conn;
	struct backoff backoff;
	enum agent_state state;
	char peer[64];		/* IP:PORT being dialled */

	uint8_t boot_id[XBA_BOOT_ID_LEN];
	uint64_t session_id;
	uint32_t heartbeat_ms;
	uint64_t next_connect_ms;
	uint64_t deadline_ms;	/* AGENT_CONNECTING/HELLO give up */
	uint64_t up_since_ms;
	uint64_t last_rx_ms, next_hb_ms;
	bool had_session, inventory_sent;
	uint32_t retry_after_ms; /* from a REFUSED: instead of the backoff */

	/* the token, kept only when it could not be written to its file */
	bool mem_token;
	uint8_t token[XBA_TOKEN_LEN];

	uint8_t *rbuf;
	size_t rlen;
	uint8_t fbuf[8192];	/* small frames being built */
	int sigfd;
};

static uint64_t now_ms(void)
{
	return job_run_now_ms();
}

/* --- options ------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: xboot-agent --server URL --mac MAC [--agent-port N]\n"
		"         [--ifname IF] [--ip ADDR/PREFIX] [--gateway ADDR]\n"
		"         [--enrol-file FILE] [--token-file FILE] [--ca FILE]\n"
		"         [--inventory-root DIR] [--power=real|exit]\n"
		"         [--plaintext] [--debug]\n");
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "xboot-agent: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

static int parse_mac(const char *s, uint8_t mac[XBA_MAC_LEN])
{
	unsigned int b[XBA_MAC_LEN];
	char sep[XBA_MAC_LEN - 1], end;
	int i;

	if (sscanf(s, "%2x%c%2x%c%2x%c%2x%c%2x%c%2x%c", &b[0], &sep[0], &b[1],
		   &sep[1], &b[2], &sep[2], &b[3], &sep[3], &b[4], &sep[4],
		   &b[5], &end) != 11 || strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < XBA_MAC_LEN; i++) {
		if (i < XBA_MAC_LEN - 1 && sep[i] != ':' && sep[i] != '-')
			return -EINVAL;
		mac[i] = b[i];
	}
	return 0;
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "mac", required_argument, NULL, 'm' },
		{ "agent-port", required_argument, NULL, 'p' },
		{ "ifname", required_argument, NULL, 'i' },
		{ "ip", required_argument, NULL, 'a' },
		{ "gateway", required_argument, NULL, 'g' },
		{ "enrol-file", required_argument, NULL, 'e' },
		{ "token-file", required_argument, NULL, 't' },
		{ "ca", required_argument, NULL, 'c' },
		{ "inventory-root", required_argument, NULL, 'r' },
		{ "power", required_argument, NULL, 'P' },
		{ "plaintext", no_argument, NULL, 'T' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct http_url u;
	bool have_mac = false;
	unsigned long port;
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->port = XBA_PORT;
	o->token_file = AGENT_TOKEN_FILE;
	o->inventory_root = "/";
	o->power_real = true;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->server = optarg;
			break;
		case 'm':
			if (parse_mac(optarg, o->mac))
				die_usage("--mac: not a MAC address: %s",
					  optarg);
			have_mac = true;
			break;
		case 'p':
			port = strtoul(optarg, &end, 10);
			if (*end || end == optarg || !port || port > 65535)
				die_usage("--agent-port: not a port: %s",
					  optarg);
			o->port = port;
			break;
		case 'i':
			o->ifname = optarg;
			break;
		case 'a':
			o->ip = optarg;
			break;
		case 'g':
			o->gateway = optarg;
			break;
		case 'e':
			o->enrol_file = optarg;
			break;
		case 't':
			o->token_file = optarg;
			break;
		case 'c':
			o->ca = optarg;
			break;
		case 'r':
			o->inventory_root = optarg;
			break;
		case 'P':
			if (!strcmp(optarg, "real"))
				o->power_real = true;
			else if (!strcmp(optarg, "exit"))
				o->power_real = false;
			else
				die_usage("--power: real or exit, not %s",
					  optarg);
			break;
		case 'T':
			o->plaintext = true;
			break;
		case 'd':
			agent_debug = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !o->server || !have_mac)
		usage();
	if (http_url_parse(o->server, &u))
		die_usage("--server: not an http://HOST[:PORT] URL: %s",
			  o->server);
	snprintf(o->host, sizeof(o->host), "%s", u.host);
	if (!o->ca && !o->plaintext)
		die_usage("no --ca: refusing to talk to a controller that "
			  "cannot be verified (--plaintext only for tests)");
	if (o->plaintext)
		o->ca = NULL;
}

/* --- secrets ------------------------------------------------------------ */

/* Reads a small file into buf (NUL-terminated): its length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((size_t)total < len - 1 &&
	       (n = read(fd, buf + total, len - 1 - total)) > 0)
		total += n;
	close(fd);
	buf[total] = 0;
	return total;
}

/* The token file: XBA_TOKEN_LEN bytes in hex and a newline. 0, -errno. */
static int token_load(const char *path, uint8_t token[XBA_TOKEN_LEN])
{
	char buf[2 * XBA_TOKEN_LEN + 8];
	ssize_t n = read_small(path, buf, sizeof(buf));
	int i, err = 0;

	if (n < 0)
		return n;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n != 2 * XBA_TOKEN_LEN)
		err = -EINVAL;
	for (i = 0; !err && i < XBA_TOKEN_LEN; i++) {
		if (hex_digit(buf[2 * i]) < 0 || hex_digit(buf[2 * i + 1]) < 0)
			err = -EINVAL;
		else
			token[i] = hex_digit(buf[2 * i]) << 4 |
				   hex_digit(buf[2 * i + 1]);
	}
	explicit_bzero(buf, sizeof(buf));
	return err;
}

/* Writes the token file atomically, 0600, so a restarted agent finds it. */
static int token_store(const char *path, const uint8_t token[XBA_TOKEN_LEN])
{
	char tmp[PATH_MAX], buf[2 * XBA_TOKEN_LEN + 1];
	int fd, err = 0;

	hex_encode(buf, token, XBA_TOKEN_LEN);
	buf[2 * XBA_TOKEN_LEN] = '\n';
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || fsync(fd))
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
out:
	explicit_bzero(buf, sizeof(buf));
	return err;
}

/* The enrolment credential: the file without its trailing newline. */
static int credential_load(const char *path, struct agent_hello *h)
{
	char buf[XBA_CREDENTIAL_MAX + 4];
	ssize_t n;

	if (!path)
		return -ENOENT;
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (!n || n > XBA_CREDENTIAL_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return -EINVAL;
	}
	memcpy(h->credential, buf, n);
	h->credential_len = n;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* Puts the token (preferred) or the credential into h. */
static int secret_load(struct agent *a, struct agent_hello *h)
{
	if (!token_load(a->o.token_file, h->token)) {
		h->has_token = true;
		return 0;
	}
	if (a->mem_token) {
		memcpy(h->token, a->token, XBA_TOKEN_LEN);
		h->has_token = true;
		return 0;
	}
	return credential_load(a->o.enrol_file, h);
}

/*
 * The token was refused: forget it (file and memory) when an enrolment
 * credential is there to take its place. True when the next HELLO will
 * carry the credential.
 */
static bool token_forget(struct agent *a)
{
	if (!a->o.enrol_file || access(a->o.enrol_file, R_OK))
		return false;
	if (unlink(a->o.token_file) && errno != ENOENT) {
		agent_log("cannot delete %s: %s", a->o.token_file,
			  strerror(errno));
		return false;
	}
	explicit_bzero(a->token, sizeof(a->token));
	a->mem_token = false;
	return true;
}

static void secret_check(struct agent *a)
{
	struct agent_hello h = { 0 };
	int err = secret_load(a, &h);

	agent_hello_wipe(&h);
	if (!err)
		return;
	if (err == -EINVAL)
		die_usage("%s: not a credential (1..%d bytes)",
			  a->o.enrol_file, XBA_CREDENTIAL_MAX);
	die_usage("no credential: neither a token in %s nor an enrolment "
		  "file%s%s", a->o.token_file,
		  a->o.enrol_file ? " " : " (--enrol-file)",
		  a->o.enrol_file ? a->o.enrol_file : "");
}

/* --- frames out --------------------------------------------------------- */

static void debug_frames(const uint8_t *p, size_t len, const char *dir)
{
	size_t flen;

	while (agent_debug && len >= XBA_HDR_LEN) {
		flen = XBA_HDR_LEN + ((uint32_t)p[8] << 24 |
				      (uint32_t)p[9] << 16 |
				      (uint32_t)p[10] << 8 | p[11]);
		agent_log("%s %s seq %u flags %#x, %zu bytes", dir,
			  agent_msg_name(p[5]),
			  (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 |
			  (uint32_t)p[14] << 8 | p[15], p[6] << 8 | p[7],
			  flen);
		if (flen > len)
			break;
		p += flen;
		len -= flen;
	}
}

/* Queues an unreliable frame from a->fbuf (built with agent_msg_init). */
static void send_ctl(struct agent *a, struct agent_msg *m)
{
	ssize_t len = agent_msg_finish(m);

	if (len < 0 || sess_queue_ctl(&a->sess, a->fbuf, len))
		agent_log("cannot send %s", agent_msg_name(a->fbuf[5]));
}

static void send_ack(struct agent *a)
{
	struct agent_msg m;
	uint32_t seq;

	if (!sess_ack_due(&a->sess, &seq))
		return;
	agent_dbg("acknowledging up to seq %u", seq);
	agent_msg_init(&m, a->fbuf, sizeof(a->fbuf), XBA_MSG_ACK, 0, 0);
	agent_build_ack(&m, seq);
	send_ctl(a, &m);
}

static void send_heartbeat(struct agent *a)
{
	struct agent_msg m;

	agent_msg_init(&m, a->fbuf, sizeof(a->fbuf), XBA_MSG_HEARTBEAT, 0, 0);
	send_ctl(a, &m);
}

static void send_bye(struct agent *a, uint16_t reason, const char *text)
{
	struct agent_bye b = { .reason = reason };
	struct agent_msg m;

	snprintf(b.text, sizeof(b.text), "%s", text);
	agent_msg_init(&m, a->fbuf, sizeof(a->fbuf), XBA_MSG_BYE, 0, 0);
	agent_build_bye(&m, &b);
	send_ctl(a, &m);
}

static void hello_macs(struct agent *a, struct agent_hello *h)
{
	uint8_t macs[XBA_MACS_MAX][XBA_MAC_LEN];
	int n, i;
	unsigned int k;

	memcpy(h->macs[0], a->o.mac, XBA_MAC_LEN);
	h->n_macs = 1;
	n = inventory_macs(a->o.inventory_root, macs, XBA_MACS_MAX);
	for (i = 0; i < n && h->n_macs < XBA_MACS_MAX; i++) {
		for (k = 0; k < h->n_macs; k++)
			if (!memcmp(h->macs[k], macs[i], XBA_MAC_LEN))
				break;
		if (k == h->n_macs)
			memcpy(h->macs[h->n_macs++], macs[i], XBA_MAC_LEN);
	}
}

static int send_hello(struct agent *a)
{
	struct agent_hello h = {
		.version_min = XBA_VERSION_MIN,
		.version_max = XBA_VERSION_MAX,
		.resume_seq = a->sess.recv_seq,
	};
	struct agent_msg m;
	ssize_t len;
	int err;

	snprintf(h.agent_version, sizeof(h.agent_version), "%s",
		 AGENT_VERSION);
	hello_macs(a, &h);
	h.has_uuid = !inventory_system_uuid(a->o.inventory_root, h.uuid);
	memcpy(h.boot_id, a->boot_id, XBA_BOOT_ID_LEN);
	err = secret_load(a, &h);
	if (err) {
		agent_hello_wipe(&h);
		return err;
	}
	agent_msg_init(&m, a->fbuf, sizeof(a->fbuf), XBA_MSG_HELLO, 0, 0);
	agent_build_hello(&m, &h);
	agent_hello_wipe(&h);
	len = agent_msg_finish(&m);
	err = len < 0 ? len : sess_queue_ctl(&a->sess, a->fbuf, len);
	explicit_bzero(a->fbuf, sizeof(a->fbuf));
	return err;
}

static void send_inventory(struct agent *a)
{
	struct agent_inventory *inv = calloc(1, sizeof(*inv));
	uint8_t *buf = malloc(XBA_FRAME_MAX);
	struct agent_msg m;
	uint32_t seq;
	ssize_t len;

	if (!inv || !buf)
		goto out;
	if (inventory_collect(a->o.inventory_root, inv))
		agent_log("no inventory from %s", a->o.inventory_root);
	seq = sess_next_seq(&a->sess);
	agent_msg_init(&m, buf, XBA_FRAME_MAX, XBA_MSG_INVENTORY, 0, seq);
	agent_build_inventory(&m, inv);
	len = agent_msg_finish(&m);
	if (len < 0 || sess_queue(&a->sess, buf, len))
		goto out;
	agent_log("inventory: %u cpus, %llu bytes memory, %u nics, %u disks",
		  inv->cpus, (unsigned long long)inv->memory_bytes,
		  inv->n_nics, inv->n_disks);
	a->inventory_sent = true;
out:
	if (!a->inventory_sent)
		agent_log("cannot build the inventory");
	free(buf);
	free(inv);
}

/* --- connection --------------------------------------------------------- */

static int resolve(struct agent *a, struct sockaddr_in *sa)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	int err;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(a->o.port);
	if (inet_pton(AF_INET, a->o.host, &sa->sin_addr) != 1) {
		err = getaddrinfo(a->o.host, NULL, &hints, &res);
		if (err)
			return -EHOSTUNREACH;
		sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
		freeaddrinfo(res);
	}
	inet_ntop(AF_INET, &sa->sin_addr, a->peer, sizeof(a->peer));
	snprintf(a->peer + strlen(a->peer), sizeof(a->peer) - strlen(a->peer),
		 ":%u", a->o.port);
	return 0;
}

static uint32_t random_u32(void)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)now_ms() * 2654435761U;
	return r;
}

/* The connection ended or failed: reconnect after the backoff. */
static void conn_lost(struct agent *a, const char *why)
{
	uint64_t now = now_ms();
	unsigned int delay;

	if (a->state == AGENT_UP)
		backoff_session_ended(&a->backoff, now - a->up_since_ms);
	delay = backoff_next(&a->backoff, random_u32());
	if (a->retry_after_ms)
		delay = a->retry_after_ms;
	a->retry_after_ms = 0;
	agent_log("connection lost: %s; retrying in %u ms", why, delay);
	conn_close(&a->conn);
	sess_disconnect(&a->sess);
	sess_wipe_buffers(&a->sess);
	a->rlen = 0;
	a->state = AGENT_WAIT;
	a->next_connect_ms = now + delay;
}

static void connected(struct agent *a)
{
	int err;

	agent_log("connected to %s", a->peer);
	a->state = AGENT_HELLO;
	a->last_rx_ms = now_ms();
	err = send_hello(a);
	if (err) {
		agent_log("no credential to present: %s", strerror(-err));
		exit(EXIT_USAGE);
	}
}

/* Where conn_start() or conn_progress() got us. */
static void connect_result(struct agent *a, int err)
{
	if (err == -EAGAIN)
		return;
	if (!err) {
		connected(a);
		return;
	}
	if (a->conn.verify_failed) {
		agent_log("%s (is --ca the controller's CA?)", a->conn.why);
		exit(EXIT_TLS_VERIFY);
	}
	conn_lost(a, a->conn.why[0] ? a->conn.why : strerror(-err));
}

static void connect_start(struct agent *a)
{
	struct sockaddr_in sa;

	if (resolve(a, &sa)) {
		a->state = AGENT_CONNECTING;
		conn_lost(a, "cannot resolve the server's name");
		return;
	}
	agent_log("connecting to %s%s", a->peer,
		  a->o.plaintext ? " (plaintext)" : "");
	a->state = AGENT_CONNECTING;
	a->deadline_ms = now_ms() + AGENT_HELLO_WAIT_MS;
	connect_result(a, conn_start(&a->conn, &a->tls, &sa, sizeof(sa)));
}

/* --- frames in ---------------------------------------------------------- */

static void on_refused(struct agent *a, struct agent_frame *f)
{
	struct agent_refused r;
	const char *name;
	char why[XBA_TEXT_MAX + 64], num[16];

	if (agent_parse_refused(f, &r)) {
		conn_lost(a, "malformed REFUSED");
		return;
	}
	name = agent_refused_name(r.reason);
	if (!name) {
		snprintf(num, sizeof(num), "%u", r.reason);
		name = num;
	}
	switch (r.reason) {
	case XBA_REFUSED_RATE_LIMITED:
	case XBA_REFUSED_BUSY:
	case XBA_REFUSED_DUPLICATE:
	case XBA_REFUSED_UNSPEC:
		snprintf(why, sizeof(why), "refused: %s (%s)", name, r.text);
		a->retry_after_ms = r.retry_after_ms;
		conn_lost(a, why);
		return;
	case XBA_REFUSED_BAD_TOKEN:
	case XBA_REFUSED_TOKEN_MISMATCH:
		/* The operator revoked the token (or it belongs to another
		 * machine): a credential we still hold can enrol afresh. */
		if (token_forget(a)) {
			snprintf(why, sizeof(why), "refused: %s (%s); enrolling "
				 "with %s", name, r.text, a->o.enrol_file);
			a->retry_after_ms = 1;
			conn_lost(a, why);
			return;
		}
		agent_log("refused: %s (%s)", name, r.text);
		exit(EXIT_REFUSED);
	default:
		if (r.reason >= __XBA_REFUSED_LAST) {
			snprintf(why, sizeof(why), "refused: %s (%s)", name,
				 r.text);
			conn_lost(a, why);
			return;
		}
		agent_log("refused: %s (%s)", name, r.text);
		exit(EXIT_REFUSED);
	}
}

static void on_welcome(struct agent *a, struct agent_frame *f)
{
	struct agent_welcome w;
	int err;

	if (agent_parse_welcome(f, &w)) {
		conn_lost(a, "malformed WELCOME");
		return;
	}
	sess_wipe_buffers(&a->sess);
	a->session_id = w.session_id;
	/* the codec refuses 0; a tiny value would only spin the loop */
	a->heartbeat_ms = w.heartbeat_ms < 100 ? 100 : w.heartbeat_ms;
	if (w.has_token) {
		err = token_store(a->o.token_file, w.token);
		if (err) {
			agent_log("cannot write the token to %s: %s; keeping "
				  "it in memory", a->o.token_file,
				  strerror(-err));
			memcpy(a->token, w.token, XBA_TOKEN_LEN);
			a->mem_token = true;
		} else {
			a->mem_token = false;
			explicit_bzero(a->token, sizeof(a->token));
		}
		/* the credential was single use: it is spent now */
		if (a->o.enrol_file && unlink(a->o.enrol_file) &&
		    errno != ENOENT)
			agent_log("cannot delete %s: %s", a->o.enrol_file,
				  strerror(errno));
		agent_log("enrolled, session %016llx",
			  (unsigned long long)w.session_id);
	} else if (a->had_session) {
		agent_log("session %016llx (resumed at seq %u)",
			  (unsigned long long)w.session_id, w.resume_seq);
	} else {
		agent_log("session %016llx", (unsigned long long)w.session_id);
	}
	agent_welcome_wipe(&w);
	if (!w.resume_seq && sess_restart(&a->sess))
		agent_log("the controller holds nothing of this agent's "
			  "session: counting afresh");
	sess_resume(&a->sess, w.resume_seq);
	a->state = AGENT_UP;
	a->had_session = true;
	a->up_since_ms = now_ms();
	a->next_hb_ms = a->up_since_ms + a->heartbeat_ms;
	if (!a->inventory_sent)
		send_inventory(a);
}

static void on_job(struct agent *a, struct agent_frame *f)
{
	struct agent_job j;

	if (agent_parse_job(f, &j)) {
		conn_lost(a, f->why ? f->why : "malformed JOB");
		return;
	}
	if (!sess_recv(&a->sess, f->seq)) {
		agent_dbg("JOB seq %u: processed already", f->seq);
		sess_ack_again(&a->sess);
		return;
	}
	jobs_receive(&a->jobs, &j, now_ms());
}

static void on_ack(struct agent *a, struct agent_frame *f)
{
	uint32_t seq;

	if (agent_parse_ack(f, &seq) || sess_ack(&a->sess, seq)) {
		agent_log("ignoring a bad ACK");
		return;
	}
	agent_dbg("ACK %u: %zu frames (%zu bytes) unacknowledged", seq,
		  a->sess.queued_frames, a->sess.queued_bytes);
}

static void on_bye(struct agent *a, struct agent_frame *f)
{
	struct agent_bye b = { 0 };
	char why[XBA_TEXT_MAX + 64];

	agent_parse_bye(f, &b);
	snprintf(why, sizeof(why), "the controller said goodbye (%u%s%s)",
		 b.reason, b.text[0] ? ": " : "", b.text);
	conn_lost(a, why);
}

/* One frame from the controller; false when the connection is gone. */
static bool on_frame(struct agent *a, struct agent_frame *f)
{
	enum agent_state before = a->state;

	agent_dbg("received %s seq %u flags %#x, %u bytes",
		  agent_msg_name(f->type), f->seq, f->flags, f->len);
	a->last_rx_ms = now_ms();
	if (f->type == XBA_MSG_REFUSED) {
		on_refused(a, f);
	} else if (f->type == XBA_MSG_BYE) {
		on_bye(a, f);
	} else if (a->state == AGENT_HELLO) {
		if (f->type == XBA_MSG_WELCOME)
			on_welcome(a, f);
		else
			conn_lost(a, "no WELCOME after HELLO");
	} else if (f->type == XBA_MSG_JOB) {
		on_job(a, f);
	} else if (f->type == XBA_MSG_ACK) {
		on_ack(a, f);
	} else if (f->type != XBA_MSG_HEARTBEAT) {
		agent_dbg("ignoring %s", agent_msg_name(f->type));
	}
	return a->state == before || a->state == AGENT_UP;
}

static void read_frames(struct agent *a)
{
	struct agent_frame f;
	size_t off;
	ssize_t n;
	char why[160];

	for (;;) {
		n = conn_read(&a->conn, a->rbuf + a->rlen,
			      XBA_FRAME_MAX - a->rlen);
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			conn_lost(a, n ? a->conn.why :
				  "closed by the controller");
			return;
		}
		a->rlen += n;
		off = 0;
		while (off < a->rlen) {
			n = agent_frame_parse(a->rbuf + off, a->rlen - off, &f);
			if (n == -EAGAIN)
				break;
			if (n < 0) {
				snprintf(why, sizeof(why), "bad frame: %s",
					 f.why ? f.why : strerror(-n));
				conn_lost(a, why);
				return;
			}
			off += n;
			if (!on_frame(a, &f))
				return;
		}
		memmove(a->rbuf, a->rbuf + off, a->rlen - off);
		a->rlen -= off;
	}
}

static void write_frames(struct agent *a)
{
	size_t len;
	ssize_t n;

	for (;;) {
		if (a->sess.woff == a->sess.wlen) {
			len = sess_fill(&a->sess);
			debug_frames(a->sess.wbuf, len, "sent");
		}
		len = sess_fill(&a->sess);
		if (!len)
			return;
		n = conn_write(&a->conn, a->sess.wbuf + a->sess.woff, len);
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			conn_lost(a, a->conn.why[0] ? a->conn.why :
				  "write failed");
			return;
		}
		sess_wrote(&a->sess, n);
	}
}

/* --- the loop ----------------------------------------------------------- */

static int min_wait(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static int ms_until(uint64_t t, uint64_t now)
{
	return t > now ? (int)(t - now) : 0;
}

/* Timers: connect, give up on a handshake, heartbeats, silence. */
static int timers(struct agent *a, uint64_t now)
{
	switch (a->state) {
	case AGENT_WAIT:
		if (now >= a->next_connect_ms) {
			connect_start(a);
			return 0;
		}
		return ms_until(a->next_connect_ms, now);
	case AGENT_CONNECTING:
	case AGENT_HELLO:
		if (now >= a->deadline_ms) {
			conn_lost(a, "no WELCOME in time");
			return 0;
		}
		return ms_until(a->deadline_ms, now);
	case AGENT_UP:
		if (now - a->last_rx_ms > 3ULL * a->heartbeat_ms) {
			conn_lost(a, "heartbeats missed");
			return 0;
		}
		if (now >= a->next_hb_ms) {
			send_heartbeat(a);
			a->next_hb_ms = now + a->heartbeat_ms;
		}
		return min_wait(ms_until(a->next_hb_ms, now),
				ms_until(a->last_rx_ms +
					 3ULL * a->heartbeat_ms + 1, now));
	}
	return -1;
}

/* Tries to get the last frames (a BYE) out before we go. */
static void flush_out(struct agent *a, unsigned int ms)
{
	uint64_t end = now_ms() + ms;
	struct pollfd p;

	while (a->state == AGENT_UP && sess_want_write(&a->sess) &&
	       now_ms() < end) {
		write_frames(a);
		if (a->state != AGENT_UP || !sess_want_write(&a->sess))
			break;
		p = (struct pollfd){ .fd = a->conn.fd,
				     .events = conn_events(&a->conn, true) };
		poll(&p, 1, ms_until(end, now_ms()));
	}
}

static void __attribute__((noreturn)) power_act(struct agent *a,
						uint16_t type)
{
	const char *what = jobs_type_name(type);
	int err;

	if (a->state == AGENT_UP) {
		send_bye(a, XBA_BYE_REBOOT, what);
		flush_out(a, AGENT_BYE_FLUSH_MS);
	}
	conn_close(&a->conn);
	if (!a->o.power_real) {
		agent_log("%s: not done (--power=exit)", what);
		exit(EXIT_OK);
	}
	agent_log("%s now", what);
	err = jobs_power_act(&a->jobs);
	agent_log("%s failed: %s", what, strerror(-err));
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn)) shutdown_agent(struct agent *a)
{
	agent_log("stopping (signal)");
	if (a->state == AGENT_UP) {
		send_bye(a, XBA_BYE_SHUTDOWN, "agent stopping");
		flush_out(a, AGENT_BYE_FLUSH_MS);
	}
	conn_close(&a->conn);
	/* a running job's process group goes with us */
	jobs_free(&a->jobs);
	explicit_bzero(a->token, sizeof(a->token));
	exit(EXIT_OK);
}

static void run(struct agent *a)
{
	struct pollfd p[2 + JOBS_POLLFDS];
	uint64_t now;
	uint16_t power;
	int n, wait, job_wait, conn_i;

	for (;;) {
		now = now_ms();
		job_wait = jobs_tick(&a->jobs, now);
		power = jobs_power_due(&a->jobs, now);
		if (power)
			power_act(a, power);
		if (a->state == AGENT_UP)
			send_ack(a);
		if (a->state == AGENT_UP || a->state == AGENT_HELLO)
			write_frames(a);
		/* after the writes, which may have lost the connection */
		wait = min_wait(timers(a, now_ms()), job_wait);

		n = 0;
		p[n++] = (struct pollfd){ .fd = a->sigfd, .events = POLLIN };
		conn_i = -1;
		if (a->state != AGENT_WAIT && a->conn.fd >= 0) {
			conn_i = n;
			p[n++] = (struct pollfd){
				.fd = a->conn.fd,
				.events = conn_events(&a->conn,
					sess_want_write(&a->sess)),
			};
		}
		n += jobs_pollfds(&a->jobs, p + n);
		if (poll(p, n, wait) < 0 && errno != EINTR) {
			agent_log("poll: %s", strerror(errno));
			exit(EXIT_USAGE);
		}
		if (p[0].revents)
			shutdown_agent(a);
		if (conn_i < 0 || !p[conn_i].revents)
			continue;
		if (a->state == AGENT_CONNECTING)
			connect_result(a, conn_progress(&a->conn));
		else if (a->state == AGENT_HELLO || a->state == AGENT_UP)
			read_frames(a);
	}
}

static int signals_open(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void log_start(const struct agent *a)
{
	const struct opts *o = &a->o;

	agent_log("%s: server %s, agent port %u, mac "
		  "%02x:%02x:%02x:%02x:%02x:%02x%s%s%s%s%s%s, power %s%s",
		  AGENT_VERSION, o->server, o->port, o->mac[0], o->mac[1],
		  o->mac[2], o->mac[3], o->mac[4], o->mac[5],
		  o->ifname ? ", if " : "", o->ifname ? o->ifname : "",
		  o->ip ? ", ip " : "", o->ip ? o->ip : "",
		  o->gateway ? ", gateway " : "", o->gateway ? o->gateway : "",
		  o->power_real ? "real" : "exit",
		  o->plaintext ? ", PLAINTEXT" : "");
}

int main(int argc, char **argv)
{
	static struct agent agent;
	struct agent *a = &agent;
	char why[256] = "";

	setvbuf(stderr, NULL, _IOLBF, 0);
	parse_opts(&a->o, argc, argv);
	log_start(a);
	secret_check(a);
	if (tls_client_init(&a->tls, a->o.ca, a->o.host, why, sizeof(why)))
		die_usage("%s: %s", a->o.ca, why);
	if (getrandom(a->boot_id, sizeof(a->boot_id), 0) !=
	    sizeof(a->boot_id))
		die_usage("getrandom: %s", strerror(errno));
	a->sigfd = signals_open();
	a->rbuf = malloc(XBA_FRAME_MAX);
	if (a->sigfd < 0 || !a->rbuf)
		die_usage("setup: %s", strerror(errno));
	sess_init(&a->sess);
	if (jobs_init(&a->jobs, &a->sess, a->o.power_real))
		die_usage("out of memory");
	conn_init(&a->conn);
	backoff_reset(&a->backoff);
	a->state = AGENT_WAIT;
	a->next_connect_ms = now_ms();
	run(a);
	return EXIT_OK;
}
