// SPDX-License-Identifier: GPL-2.0
/*
 * The agent service on xbootd's io_uring loop (see agent_srv.h and the
 * protocol in include/xboot/agent.h).
 *
 * Each session has at most one recv and one send in flight. Ciphertext
 * moves between the socket and OpenSSL's memory BIOs; what a recv brings
 * is handled at once: TLS records in, frames out, store writes committed,
 * and only then the answers (ACK, WELCOME, JOB) go to TLS, so the agent
 * never holds an acknowledgement a crash could take back. A session is
 * freed only when it has ended and neither operation is in flight.
 *
 * The send side is two buffers: one the kernel is sending from, which is
 * never touched while a send is in flight, and one that collects what
 * comes next; they swap when the first is done.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "agent_proto.h"
#include "agent_srv.h"
#include "image_fmt.h"
#include "log.h"
#include "loop.h"
#include "machines.h"
#include "tls.h"
#include "xbootd.h"
#include "xboot/image_http.h"

/* Our operations, inside loop.h's LOOP_OP_AGENT_FIRST..LOOP_OP_AGENT_LAST. */
#define OP_ACCEPT ((enum loop_op)(LOOP_OP_AGENT_FIRST + 0))
#define OP_RECV ((enum loop_op)(LOOP_OP_AGENT_FIRST + 1))
#define OP_SEND ((enum loop_op)(LOOP_OP_AGENT_FIRST + 2))

#define AGENT_NET_BUF (16 * 1024)	/* ciphertext per recv */
#define AGENT_IN_MIN (16 * 1024)	/* first plaintext buffer */
#define AGENT_SENDQ_MAX (4U << 20)	/* a reader this slow is dropped */
#define AGENT_LINGER_S 2		/* a refused peer gets this to read */
#define AGENT_RATE_SLOTS 1024
#define AGENT_SESSIONS_HARD (AGENT_SESSIONS_MAX + 64) /* then plain close */
#define AGENT_MACS_TEXT (XBA_MACS_MAX * 18 + 1)

enum sess_state {
	S_PROBE,	/* nothing read yet: TLS or a plaintext agent? */
	S_TLS,		/* TLS handshake */
	S_HELLO,	/* waiting for HELLO */
	S_UP,		/* authenticated */
	S_CLOSING,	/* sending what is queued, then FIN */
	S_LINGER,	/* FIN sent: reading until the peer closes */
	S_DEAD,		/* ended: freed when no operation is in flight */
};

struct agent_listener {
	struct agent_srv *srv;
	int fd;
	int accepting;
	struct in_addr addr;
} LOOP_ALIGNED;

struct agent_sess {
	struct agent_srv *srv;
	struct agent_sess *prev, *next;
	int fd;
	enum sess_state state;
	int recv_busy, send_busy;
	int rst;		/* close with an RST (agent_srv_disconnect) */
	SSL *ssl;
	BIO *rbio, *wbio;	/* network side of OpenSSL */
	struct sockaddr_in peer;
	char name[INET_ADDRSTRLEN + 8];	/* "10.0.0.5:41234" */
	char macs[AGENT_MACS_TEXT];	/* from HELLO, for logs */
	time_t accepted, last_rx, last_hb; /* CLOCK_MONOTONIC */

	/* authenticated */
	uint8_t mac[6];
	uint8_t version;
	uint64_t session_id;
	struct machine_session ms;

	/* plaintext frames read, not yet whole */
	uint8_t *in;
	size_t in_len, in_cap;
	/* plaintext to write once the store has committed */
	uint8_t *pend;
	size_t pend_len, pend_cap;
	/* ciphertext: tx is being sent, q collects what follows */
	uint8_t *tx, *q;
	size_t tx_len, tx_off, tx_cap, q_len, q_cap;

	size_t net_len;
	uint8_t net[AGENT_NET_BUF];
} LOOP_ALIGNED;

struct rate_slot {
	in_addr_t addr;
	time_t start;		/* of the window, CLOCK_MONOTONIC */
	unsigned int fails;
};

struct agent_srv {
	struct loop *loop;
	struct xbootd *d;
	SSL_CTX *ctx;
	struct agent_listener *ln;
	int nln;
	struct agent_sess *sessions;
	int nsessions;
	uint8_t *fbuf;		/* one frame being built */
	struct rate_slot rate[AGENT_RATE_SLOTS];
	uint64_t stats[AGENT_STAT_MAX];
} LOOP_ALIGNED;

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void mac_text(char *buf, size_t sz, const uint8_t *m)
{
	snprintf(buf, sz, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

/* --- buffers ----------------------------------------------------------- */

static int buf_append(uint8_t **buf, size_t *len, size_t *cap,
		      const void *p, size_t n)
{
	size_t want = *cap ? *cap : 4096;
	uint8_t *nb;

	while (want < *len + n)
		want *= 2;
	if (want != *cap) {
		nb = realloc(*buf, want);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = want;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}

/* --- session lifetime -------------------------------------------------- */

static void sess_free(struct agent_sess *c)
{
	struct agent_srv *s = c->srv;
	struct linger lg = { 1, 0 };

	if (c->prev)
		c->prev->next = c->next;
	else
		s->sessions = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nsessions--;
	if (c->rst)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	SSL_free(c->ssl); /* and both BIOs */
	free(c->in);
	if (c->pend)
		explicit_bzero(c->pend, c->pend_cap); /* may hold a token */
	free(c->pend);
	free(c->tx);
	free(c->q);
	free(c);
}

static void sess_maybe_free(struct agent_sess *c)
{
	if (c->state == S_DEAD && !c->recv_busy && !c->send_busy)
		sess_free(c);
}

/* The machine is not connected any more; a finished machine keeps its
 * phase (done/failed says more than gone). */
static void machine_gone(struct agent_sess *c)
{
	struct machines *m = c->srv->d->machines;
	int phase;

	machines_set_connected(m, c->mac, false, NULL);
	phase = machines_phase_get(m, c->mac);
	if (phase != MPHASE_DONE && phase != MPHASE_FAILED)
		machines_phase(m, c->mac, MPHASE_GONE, "agent disconnected",
			       NULL);
}

/* Without a FIN a blocked send never completes: take it back. */
static void sess_cancel_send(struct agent_sess *c)
{
	struct io_uring_sqe *sqe = loop_get_sqe(c->srv->loop);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)c | OP_SEND, 0);
	io_uring_sqe_set_data64(sqe, LOOP_OP_CANCEL);
}

/*
 * End the session now: what is queued is dropped. The pending operations
 * complete because of the shutdown (SHUT_RD alone for an RST: no FIN).
 */
static void sess_end(struct agent_sess *c, const char *why)
{
	struct agent_srv *s = c->srv;

	if (c->state == S_DEAD)
		return;
	if (c->session_id) {
		pr_info("agent %s (%s): session %016llx ended: %s", c->name,
			c->macs, (unsigned long long)c->session_id, why);
		s->stats[AGENT_STAT_ACTIVE]--;
		machine_gone(c);
		c->session_id = 0;
	} else {
		pr_debug("agent %s: closed: %s", c->name, why);
	}
	c->state = S_DEAD;
	shutdown(c->fd, c->rst ? SHUT_RD : SHUT_RDWR);
	if (c->rst && c->send_busy)
		sess_cancel_send(c);
	sess_maybe_free(c);
}

/* Another session of the same machine took over: this one ends without
 * marking the machine gone. */
static void sess_replaced(struct agent_sess *c)
{
	pr_info("agent %s (%s): session %016llx replaced by a new one",
		c->name, c->macs, (unsigned long long)c->session_id);
	c->srv->stats[AGENT_STAT_ACTIVE]--;
	c->session_id = 0;
	sess_end(c, "replaced");
}

/* --- sending ----------------------------------------------------------- */

static void sess_send_arm(struct agent_sess *c)
{
	struct io_uring_sqe *sqe;
	uint8_t *t;
	size_t cap;

	if (c->send_busy || c->state == S_DEAD)
		return;
	if (c->tx_off == c->tx_len) {
		/* swap: the collected bytes become the ones in flight */
		t = c->tx;
		cap = c->tx_cap;
		c->tx = c->q;
		c->tx_cap = c->q_cap;
		c->tx_len = c->q_len;
		c->tx_off = 0;
		c->q = t;
		c->q_cap = cap;
		c->q_len = 0;
	}
	if (c->tx_off == c->tx_len) {
		if (c->state == S_CLOSING) {
			/* all sent: FIN, then read until the peer closes
			 * so no RST destroys what it has not read yet */
			c->state = S_LINGER;
			c->last_rx = mono_now();
			shutdown(c->fd, SHUT_WR);
		}
		return;
	}
	sqe = loop_get_sqe(c->srv->loop);
	if (!sqe)
		return sess_end(c, "submission queue full");
	io_uring_prep_send(sqe, c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off,
			   MSG_NOSIGNAL);
	loop_sqe_data(sqe, c, OP_SEND);
	c->send_busy = 1;
}

static int sess_queue_raw(struct agent_sess *c, const void *p, size_t n)
{
	if (c->q_len + (c->tx_len - c->tx_off) + n > AGENT_SENDQ_MAX) {
		pr_warn("agent %s (%s): over %u bytes unsent: dropping it",
			c->name, c->macs, AGENT_SENDQ_MAX);
		return -ENOBUFS;
	}
	return buf_append(&c->q, &c->q_len, &c->q_cap, p, n);
}

/* What OpenSSL wrote into its network BIO, onto the send queue. */
static int sess_drain_wbio(struct agent_sess *c)
{
	uint8_t buf[16384];
	int n, ret = 0;

	while ((n = BIO_read(c->wbio, buf, sizeof(buf))) > 0 && !ret)
		ret = sess_queue_raw(c, buf, n);
	return ret;
}

/* The plaintext waiting for the store, through TLS, to the socket. */
static void sess_flush(struct agent_sess *c)
{
	int n;

	if (c->state == S_DEAD)
		return;
	if (c->pend_len) {
		n = SSL_write(c->ssl, c->pend, c->pend_len);
		explicit_bzero(c->pend, c->pend_len);
		c->pend_len = 0;
		if (n <= 0) {
			ERR_clear_error();
			return sess_end(c, "TLS write failed");
		}
	}
	if (sess_drain_wbio(c))
		return sess_end(c, "send queue full");
	sess_send_arm(c);
}

/* Append one frame from s->fbuf to the plaintext queue. */
static int sess_frame(struct agent_sess *c, struct agent_msg *m)
{
	ssize_t n = agent_msg_finish(m);

	if (n < 0) {
		pr_warn("agent %s: cannot build a %s frame: %s", c->name,
			agent_msg_name(m->buf[5]), strerror(-n));
		return n;
	}
	m->buf[4] = c->version ? c->version : XBA_VERSION_MIN;
	c->srv->stats[AGENT_STAT_FRAMES_OUT]++;
	return buf_append(&c->pend, &c->pend_len, &c->pend_cap, m->buf, n);
}

static void msg_start(struct agent_sess *c, struct agent_msg *m,
		      uint8_t type, uint16_t flags, uint32_t seq)
{
	agent_msg_init(m, c->srv->fbuf, XBA_FRAME_MAX, type, flags, seq);
}

static void sess_send_ack(struct agent_sess *c)
{
	struct agent_msg m;

	msg_start(c, &m, XBA_MSG_ACK, 0, 0);
	agent_build_ack(&m, c->ms.rx_seq);
	sess_frame(c, &m);
}

static void sess_send_simple(struct agent_sess *c, uint8_t type)
{
	struct agent_msg m;

	msg_start(c, &m, type, 0, 0);
	sess_frame(c, &m);
}

/*
 * REFUSED, then close. Before TLS is up (a plaintext agent) it goes out
 * in the clear; the peer's state cannot be trusted after it, so nothing
 * else it sent is read.
 */
static void sess_refuse(struct agent_sess *c, uint16_t reason,
			const char *text, uint32_t retry_ms)
{
	struct agent_srv *s = c->srv;
	struct agent_refused r = { .reason = reason,
				   .retry_after_ms = retry_ms };
	struct agent_msg m;
	const char *name;
	ssize_t n;

	if (c->state >= S_CLOSING)
		return;
	s->stats[AGENT_STAT_REFUSED]++;
	name = agent_refused_name(reason);
	pr_warn("agent %s (%s): refused: %s%s%s", c->name,
		c->macs[0] ? c->macs : "no MAC yet", name ? name : "?",
		text ? ": " : "", text ? text : "");
	snprintf(r.text, sizeof(r.text), "%s", text ? text : name ? name : "");
	c->pend_len = 0; /* nothing promised before goes out */
	msg_start(c, &m, XBA_MSG_REFUSED, 0, 0);
	agent_build_refused(&m, &r);
	if (c->state == S_PROBE) {
		n = agent_msg_finish(&m);
		if (n > 0 && !sess_queue_raw(c, m.buf, n))
			s->stats[AGENT_STAT_FRAMES_OUT]++;
		c->state = S_CLOSING;
		return sess_send_arm(c);
	}
	sess_frame(c, &m);
	c->state = S_CLOSING;
	sess_flush(c);
	if (c->state != S_CLOSING)
		return;
	/* close_notify: the agent reads REFUSED and a clean end */
	SSL_shutdown(c->ssl);
	ERR_clear_error();
	if (!sess_drain_wbio(c))
		sess_send_arm(c);
}

/* --- rate limit -------------------------------------------------------- */

static struct rate_slot *rate_find(struct agent_srv *s, in_addr_t a,
				   int create, time_t now)
{
	struct rate_slot *r, *victim = NULL;
	int i;

	for (i = 0; i < AGENT_RATE_SLOTS; i++) {
		r = &s->rate[i];
		if (r->fails && r->addr == a)
			return r;
		/* a free slot, else the oldest window */
		if (!victim || (victim->fails &&
				(!r->fails || r->start < victim->start)))
			victim = r;
	}
	if (!create)
		return NULL;
	*victim = (struct rate_slot){ .addr = a, .start = now };
	return victim;
}

static void rate_fail(struct agent_srv *s, struct in_addr a)
{
	time_t now = mono_now();
	struct rate_slot *r = rate_find(s, a.s_addr, 1, now);

	if (now - r->start >= AGENT_AUTH_WINDOW_S) {
		r->start = now;
		r->fails = 0;
	}
	r->fails++;
}

/* Milliseconds before a from a may try again, 0: it may now. */
static uint32_t rate_limited(struct agent_srv *s, struct in_addr a)
{
	time_t now = mono_now();
	struct rate_slot *r = rate_find(s, a.s_addr, 0, now);
	time_t left;

	if (!r || r->fails < AGENT_AUTH_FAILS)
		return 0;
	left = r->start + AGENT_AUTH_WINDOW_S - now;
	return left > 0 ? left * 1000 : 0;
}

/* --- jobs -------------------------------------------------------------- */

static bool job_is_image(const struct job_rec *j)
{
	return (j->type == XBA_JOB_IMAGE_DEPLOY ||
		j->type == XBA_JOB_IMAGE_CAPTURE) &&
	       j->nargs == IMAGE_HTTP_JOB_ARGS;
}

/*
 * An image job's URL and key (include/xboot/image_http.h): the address
 * the agent reached us at is one it can reach (unless server-address
 * says which one to announce), and a key is minted each time the frame
 * goes out, so a resent frame carries the only key that still works (its
 * hash is written in the caller's transaction).
 */
static int job_image_args(struct agent_sess *c, const struct job_rec *j,
			  char *url, size_t url_size,
			  char key[MACHINES_JOB_KEY_TEXT])
{
	const char *name = j->args[j->type == XBA_JOB_IMAGE_DEPLOY ? 0 : 1];
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	char addr[INET_ADDRSTRLEN];

	if (getsockname(c->fd, (struct sockaddr *)&sin, &sl))
		return -errno;
	/* server-address is what HTTP announces too (iPXE scripts) */
	if (c->srv->d->cfg->server_addr.s_addr)
		sin.sin_addr = c->srv->d->cfg->server_addr;
	inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof(addr));
	if (!c->srv->d->cfg->http_port)
		pr_warn("agent %s (%s): image job %llu, but http-port=0: the agent cannot reach the image",
			c->name, c->macs, (unsigned long long)j->id);
	snprintf(url, url_size, "http://%s:%u" IMAGE_HTTP_PREFIX "%s/", addr,
		 c->srv->d->cfg->http_port, name);
	return machines_job_key_new(c->srv->d->machines, j->id, key);
}

static int sess_job_frame(struct agent_sess *c, const struct job_rec *j,
			  uint16_t flags)
{
	struct agent_job aj = { .id = j->id, .type = j->type,
				.timeout_s = j->timeout_s,
				.n_args = j->nargs };
	char url[128 + XBI_NAME_MAX], key[MACHINES_JOB_KEY_TEXT];
	struct agent_msg m;
	unsigned int i;
	int ret = 0;

	for (i = 0; i < j->nargs && i < XBA_JOB_ARGS_MAX; i++)
		aj.args[i] = j->args[i];
	if (job_is_image(j)) {
		ret = job_image_args(c, j, url, sizeof(url), key);
		if (ret) {
			pr_warn("agent %s (%s): no key for image job %llu: %s",
				c->name, c->macs, (unsigned long long)j->id,
				strerror(-ret));
			return ret;
		}
		aj.args[IMAGE_HTTP_JOB_ARG_URL] = url;
		aj.args[IMAGE_HTTP_JOB_ARG_KEY] = key;
		aj.n_args = IMAGE_HTTP_JOB_ARGS + 2;
	}
	msg_start(c, &m, XBA_MSG_JOB, flags, j->seq);
	agent_build_job(&m, &aj);
	explicit_bzero(key, sizeof(key));
	ret = sess_frame(c, &m);
	if (job_is_image(j))
		explicit_bzero(c->srv->fbuf, m.len);
	if (ret)
		return -EIO;
	c->srv->stats[AGENT_STAT_JOBS_SENT]++;
	return 0;
}

/* Inside the caller's transaction: the machine's next job, if it is
 * idle, numbered and queued; it goes out after the commit. */
static void sess_pump(struct agent_sess *c)
{
	struct machines *m = c->srv->d->machines;
	struct job_rec j;
	uint32_t seq;
	char detail[64];

	if (c->state != S_UP)
		return;
	memset(&j, 0, sizeof(j));
	if (machines_job_next(m, c->mac, &j))
		return;
	seq = c->ms.tx_seq + 1;
	if (machines_job_sent(m, j.id, seq))
		goto out;
	c->ms.tx_seq = seq;
	j.seq = seq;
	if (machines_session_put(m, c->mac, &c->ms))
		goto out;
	snprintf(detail, sizeof(detail), "job %llu %s sent",
		 (unsigned long long)j.id, job_type_name(j.type));
	machines_phase(m, c->mac, MPHASE_RUNNING, detail, NULL);
	sess_job_frame(c, &j, 0);
out:
	job_rec_free(&j);
}

static int resend_one(const struct job_rec *j, void *arg)
{
	return sess_job_frame(arg, j, XBA_F_RESENT);
}

/* --- frames from the agent --------------------------------------------- */

static struct agent_sess *sess_of_mac(struct agent_srv *s,
				      const uint8_t mac[6])
{
	struct agent_sess *c;

	for (c = s->sessions; c; c = c->next)
		if (c->state == S_UP && c->session_id &&
		    !memcmp(c->mac, mac, 6))
			return c;
	return NULL;
}

static void hello_macs(struct agent_sess *c, const struct agent_hello *h)
{
	size_t n = 0;
	unsigned int i;

	c->macs[0] = '\0';
	for (i = 0; i < h->n_macs && n + 18 < sizeof(c->macs); i++) {
		if (i)
			c->macs[n++] = ',';
		mac_text(c->macs + n, sizeof(c->macs) - n, h->macs[i]);
		n += 17;
	}
}

/* Credential or token -> the machine's MAC, or a refusal reason. */
static int hello_auth(struct agent_sess *c, struct agent_hello *h,
		      uint8_t token[XBA_TOKEN_LEN], bool *enrolled)
{
	struct machines *m = c->srv->d->machines;
	int ret;

	*enrolled = false;
	if (h->has_token) {
		ret = machines_token_check(m, h->token, h->macs, h->n_macs,
					   c->mac);
		if (ret == -ENOENT)
			return XBA_REFUSED_BAD_TOKEN;
		if (ret == -EPERM)
			return XBA_REFUSED_TOKEN_MISMATCH;
		return ret ? -EIO : 0;
	}
	ret = machines_enrol_redeem(m, h->credential, h->credential_len,
				    h->macs, h->n_macs, c->mac);
	if (ret == -ENOENT)
		return XBA_REFUSED_BAD_CREDENTIAL;
	if (ret == -EALREADY)
		return XBA_REFUSED_CREDENTIAL_REUSED;
	if (ret)
		return -EIO;
	if (machines_token_issue(m, c->mac, token))
		return -EIO;
	*enrolled = true;
	return 0;
}

/* Same boot id: carry on from the stored counters (1). A new one: the
 * old agent's jobs are over, and both counters start again (0). */
static int hello_resume(struct agent_sess *c, const struct agent_hello *h)
{
	struct machines *m = c->srv->d->machines;
	int ret;

	ret = machines_session_get(m, c->mac, &c->ms);
	if (ret)
		return ret;
	if (c->ms.has_boot_id &&
	    !memcmp(c->ms.boot_id, h->boot_id, XBA_BOOT_ID_LEN)) {
		if (h->resume_seq > c->ms.acked_seq &&
		    h->resume_seq <= c->ms.tx_seq)
			c->ms.acked_seq = h->resume_seq;
		ret = machines_session_put(m, c->mac, &c->ms);
		return ret ? ret : 1;
	}
	ret = machines_jobs_abandon(m, c->mac, "agent restarted");
	if (ret < 0)
		return ret;
	if (ret > 0)
		pr_info("agent %s (%s): new boot id: %d job(s) failed",
			c->name, c->macs, ret);
	c->ms = (struct machine_session){ .has_boot_id = true };
	memcpy(c->ms.boot_id, h->boot_id, XBA_BOOT_ID_LEN);
	return machines_session_put(m, c->mac, &c->ms);
}

static void handle_hello(struct agent_sess *c, struct agent_frame *f)
{
	struct agent_srv *s = c->srv;
	struct machines *m = s->d->machines;
	struct agent_hello h;
	struct agent_welcome w = { 0 };
	struct agent_sess *old;
	struct agent_msg msg;
	uint32_t retry;
	uint32_t h_resume;
	bool enrolled;
	int ret, vmax, vmin, resumed;

	ret = agent_parse_hello(f, &h);
	if (ret) {
		s->stats[AGENT_STAT_MALFORMED]++;
		agent_hello_wipe(&h);
		return sess_refuse(c, XBA_REFUSED_MALFORMED, f->why, 0);
	}
	hello_macs(c, &h);
	h_resume = h.resume_seq;
	retry = rate_limited(s, c->peer.sin_addr);
	if (retry) {
		agent_hello_wipe(&h);
		s->stats[AGENT_STAT_RATE_LIMITED]++;
		return sess_refuse(c, XBA_REFUSED_RATE_LIMITED, NULL, retry);
	}
	vmax = h.version_max < XBA_VERSION_MAX ? h.version_max :
						 XBA_VERSION_MAX;
	vmin = h.version_min > XBA_VERSION_MIN ? h.version_min :
						 XBA_VERSION_MIN;
	if (vmax < vmin) {
		agent_hello_wipe(&h);
		return sess_refuse(c, XBA_REFUSED_VERSION, NULL, 0);
	}
	if (s->nsessions > AGENT_SESSIONS_MAX) {
		agent_hello_wipe(&h);
		return sess_refuse(c, XBA_REFUSED_BUSY, NULL, 5000);
	}
	/* in sess_frames()'s transaction: a failure commits too, so a used
	 * credential stays used */
	ret = hello_auth(c, &h, w.token, &enrolled);
	if (ret > 0) {
		agent_hello_wipe(&h);
		s->stats[AGENT_STAT_AUTH_FAILED]++;
		rate_fail(s, c->peer.sin_addr);
		return sess_refuse(c, ret, NULL, 0);
	}
	resumed = 0;
	/* one session per machine: the newer one is the agent that lives */
	old = ret ? NULL : sess_of_mac(s, c->mac);
	if (old)
		sess_replaced(old);
	if (!ret) {
		ret = hello_resume(c, &h);
		resumed = ret > 0;
		if (ret > 0)
			ret = 0;
	}
	if (!ret)
		ret = machines_hello_put(m, c->mac, &h);
	if (!ret)
		ret = machines_set_connected(m, c->mac, true,
					     &c->peer.sin_addr);
	if (!ret)
		ret = machines_phase(m, c->mac, MPHASE_AGENT,
				     enrolled ? "agent enrolled" :
						"agent connected", NULL);
	agent_hello_wipe(&h);
	if (ret) {
		explicit_bzero(w.token, sizeof(w.token));
		return sess_refuse(c, XBA_REFUSED_BUSY,
				   "controller store error", 5000);
	}

	c->version = vmax;
	RAND_bytes((unsigned char *)&c->session_id, sizeof(c->session_id));
	c->session_id |= 1; /* nonzero: authenticated */
	c->state = S_UP;
	c->last_hb = mono_now();
	w.version = vmax;
	w.session_id = c->session_id;
	w.heartbeat_ms = AGENT_HEARTBEAT_MS;
	w.resume_seq = c->ms.rx_seq;
	w.has_token = enrolled;
	msg_start(c, &msg, XBA_MSG_WELCOME, 0, 0);
	agent_build_welcome(&msg, &w);
	agent_welcome_wipe(&w);
	sess_frame(c, &msg);
	explicit_bzero(s->fbuf, msg.len);
	/* what the agent has not acknowledged goes again, in order */
	if (resumed)
		machines_job_foreach_unacked(m, c->mac, h_resume, resend_one,
					     c);
	sess_pump(c);
	s->stats[AGENT_STAT_SESSIONS]++;
	s->stats[AGENT_STAT_ACTIVE]++;
	if (enrolled)
		s->stats[AGENT_STAT_ENROLMENTS]++;
	pr_info("agent %s (%s): session %016llx up%s%s (rx %u, tx %u)",
		c->name, c->macs, (unsigned long long)c->session_id,
		enrolled ? ", enrolled" : "", resumed ? ", resumed" : "",
		c->ms.rx_seq, c->ms.tx_seq);
}

/* A frame that breaks the protocol: refuse, count, log. */
static int sess_malformed(struct agent_sess *c, const char *why)
{
	c->srv->stats[AGENT_STAT_MALFORMED]++;
	sess_refuse(c, XBA_REFUSED_MALFORMED, why, 0);
	return -EPROTO;
}

static int handle_job_status(struct agent_sess *c, struct agent_frame *f)
{
	struct machines *m = c->srv->d->machines;
	struct agent_job_status st;
	int ret;

	ret = agent_parse_job_status(f, &st);
	if (ret)
		return sess_malformed(c, f->why);
	ret = machines_job_status(m, c->mac, &st);
	if (ret == -ENOENT) {
		pr_warn("agent %s (%s): status of job %llu, not one of its own",
			c->name, c->macs, (unsigned long long)st.id);
		return sess_malformed(c, "no such job");
	}
	if (ret)
		return ret;
	if (st.state == XBA_JOB_STATE_DONE ||
	    st.state == XBA_JOB_STATE_FAILED ||
	    st.state == XBA_JOB_STATE_TIMED_OUT)
		pr_info("agent %s (%s): job %llu %s", c->name, c->macs,
			(unsigned long long)st.id,
			st.state == XBA_JOB_STATE_DONE ? "done" :
			st.state == XBA_JOB_STATE_FAILED ? "failed" :
							   "timed out");
	return 0;
}

static int handle_job_output(struct agent_sess *c, struct agent_frame *f)
{
	struct agent_job_output o;
	int ret;

	ret = agent_parse_job_output(f, &o);
	if (ret)
		return sess_malformed(c, f->why);
	ret = machines_job_output(c->srv->d->machines, c->mac, &o);
	if (ret == -ENOENT) {
		pr_warn("agent %s (%s): output of job %llu, not one of its own",
			c->name, c->macs, (unsigned long long)o.id);
		return sess_malformed(c, "no such job");
	}
	return ret;
}

static int handle_inventory(struct agent_sess *c, struct agent_frame *f)
{
	struct agent_inventory *inv = malloc(sizeof(*inv));
	int ret;

	if (!inv)
		return -ENOMEM;
	ret = agent_parse_inventory(f, inv);
	if (ret) {
		free(inv);
		return sess_malformed(c, f->why);
	}
	ret = machines_inventory_put(c->srv->d->machines, c->mac, inv);
	free(inv);
	return ret;
}

/*
 * A reliable frame: one already processed is dropped (the ACK says so
 * again), the next one is processed and counted in the same transaction,
 * a gap is a protocol error (the agent resends from our resume point
 * when it reconnects).
 */
static int handle_reliable(struct agent_sess *c, struct agent_frame *f,
			   int *ack)
{
	struct machines *m = c->srv->d->machines;
	int ret;

	*ack = 1;
	if (f->seq <= c->ms.rx_seq)
		return 0;
	if (f->seq != c->ms.rx_seq + 1)
		return sess_malformed(c, "sequence gap");
	switch (f->type) {
	case XBA_MSG_INVENTORY:
		ret = handle_inventory(c, f);
		break;
	case XBA_MSG_JOB_STATUS:
		ret = handle_job_status(c, f);
		break;
	default:
		ret = handle_job_output(c, f);
		break;
	}
	if (ret)
		return ret;
	c->ms.rx_seq = f->seq;
	return machines_session_put(m, c->mac, &c->ms);
}

static int handle_ack(struct agent_sess *c, struct agent_frame *f)
{
	uint32_t seq;

	if (agent_parse_ack(f, &seq))
		return sess_malformed(c, f->why);
	if (seq > c->ms.tx_seq)
		return sess_malformed(c, "ack of a frame never sent");
	if (seq <= c->ms.acked_seq)
		return 0;
	c->ms.acked_seq = seq;
	return machines_session_put(c->srv->d->machines, c->mac, &c->ms);
}

/* One frame of an authenticated session; *ack when an ACK is due. */
static int handle_frame(struct agent_sess *c, struct agent_frame *f, int *ack)
{
	struct agent_bye b;

	switch (f->type) {
	case XBA_MSG_INVENTORY:
	case XBA_MSG_JOB_STATUS:
	case XBA_MSG_JOB_OUTPUT:
		return handle_reliable(c, f, ack);
	case XBA_MSG_ACK:
		return handle_ack(c, f);
	case XBA_MSG_HEARTBEAT:
		return 0;
	case XBA_MSG_BYE:
		if (!agent_parse_bye(f, &b) && b.text[0])
			pr_debug("agent %s: bye: %s", c->name, b.text);
		sess_end(c, "agent said bye");
		return -ECONNRESET;
	default:
		return sess_malformed(c, "unexpected message");
	}
}

/*
 * Every whole frame in c->in, in one transaction: commit, then ACK what
 * was committed and send what the store now says is next.
 */
static void sess_frames(struct agent_sess *c)
{
	struct agent_srv *s = c->srv;
	struct store *st = s->d->store;
	struct agent_frame f;
	size_t off = 0;
	int ack = 0, jobs = 0, ret = 0, began = 0;
	ssize_t n;

	while (c->state == S_HELLO || c->state == S_UP) {
		n = agent_frame_parse(c->in + off, c->in_len - off, &f);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			sess_malformed(c, f.why);
			break;
		}
		off += n;
		s->stats[AGENT_STAT_FRAMES_IN]++;
		c->last_rx = mono_now();
		if (!began++)
			store_begin(st);
		if (c->state == S_HELLO) {
			if (f.type != XBA_MSG_HELLO) {
				sess_malformed(c, "HELLO must come first");
				break;
			}
			handle_hello(c, &f);
			explicit_bzero(c->in, off); /* the secret in it */
			continue;
		}
		jobs |= f.type == XBA_MSG_JOB_STATUS;
		ret = handle_frame(c, &f, &ack);
		if (ret)
			break;
	}
	if (began && c->state == S_UP && !ret && jobs)
		sess_pump(c);
	if (began && store_commit(st) && c->state == S_UP) {
		pr_warn("agent %s (%s): store commit failed", c->name, c->macs);
		c->pend_len = 0;
		return sess_end(c, "store commit failed");
	}
	if (c->state == S_DEAD)
		return;
	if (ret && ret != -EPROTO && c->state == S_UP)
		return sess_refuse(c, XBA_REFUSED_BUSY,
				   "controller store error", 5000);
	c->in_len -= off;
	memmove(c->in, c->in + off, c->in_len);
	if (ack && c->state == S_UP)
		sess_send_ack(c);
	sess_flush(c);
}

/* --- receiving --------------------------------------------------------- */

static void sess_recv_arm(struct agent_sess *c)
{
	struct io_uring_sqe *sqe;

	if (c->recv_busy || c->state == S_DEAD)
		return;
	sqe = loop_get_sqe(c->srv->loop);
	if (!sqe)
		return sess_end(c, "submission queue full");
	io_uring_prep_recv(sqe, c->fd, c->net + c->net_len,
			   sizeof(c->net) - c->net_len, 0);
	loop_sqe_data(sqe, c, OP_RECV);
	c->recv_busy = 1;
}

/* Plaintext out of TLS into c->in (grown up to one whole frame). */
static int sess_tls_read(struct agent_sess *c)
{
	size_t cap;
	uint8_t *nb;
	int n, err;

	for (;;) {
		if (c->in_len == c->in_cap) {
			cap = c->in_cap ? c->in_cap * 2 : AGENT_IN_MIN;
			if (cap > XBA_FRAME_MAX)
				return 0; /* whole frames wait in TLS */
			nb = realloc(c->in, cap);
			if (!nb)
				return -ENOMEM;
			c->in = nb;
			c->in_cap = cap;
		}
		n = SSL_read(c->ssl, c->in + c->in_len, c->in_cap - c->in_len);
		if (n > 0) {
			c->in_len += n;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		ERR_clear_error();
		if (err == SSL_ERROR_WANT_READ)
			return 0;
		return err == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPROTO;
	}
}

static void sess_handshake(struct agent_sess *c)
{
	struct agent_srv *s = c->srv;
	unsigned long e;
	char buf[160];
	int n, err;

	n = SSL_do_handshake(c->ssl);
	if (n == 1) {
		c->state = S_HELLO;
		return;
	}
	err = SSL_get_error(c->ssl, n);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		return;
	}
	e = ERR_peek_error();
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	s->stats[AGENT_STAT_TLS_FAILED]++;
	pr_warn("agent %s: TLS handshake failed: %s", c->name,
		e ? buf : "connection closed");
	/* the alert OpenSSL wrote goes out before the close */
	sess_drain_wbio(c);
	c->state = S_CLOSING;
	sess_send_arm(c);
}

/* The first bytes: a TLS record, or an agent speaking plaintext. */
static int sess_probe(struct agent_sess *c)
{
	static const uint8_t magic[4] = { 'X', 'B', 'A', '1' };
	size_t n = c->net_len < 4 ? c->net_len : 4;

	if (memcmp(c->net, magic, n))
		return 1; /* TLS, or garbage that TLS will refuse */
	if (n < 4)
		return 0;
	c->srv->stats[AGENT_STAT_TLS_FAILED]++;
	sess_refuse(c, XBA_REFUSED_NO_TLS,
		    "this port speaks TLS only: check the agent's setup", 0);
	return 0; /* refused: now S_CLOSING */
}

/* TLS records in, frames out, until OpenSSL holds no whole frame. */
static void sess_read_frames(struct agent_sess *c)
{
	int ret, full;

	do {
		ret = sess_tls_read(c);
		full = c->in_len == c->in_cap;
		sess_frames(c);
	} while (!ret && full && (c->state == S_HELLO || c->state == S_UP));
	if (ret && c->state < S_CLOSING)
		sess_end(c, ret == -ECONNRESET ? "TLS closed by the agent" :
						 "TLS error");
}

/* What a recv brought. The caller holds c (recv_busy) throughout, so
 * nothing in here frees it. */
static void sess_input(struct agent_sess *c, int res)
{
	if (res <= 0)
		return sess_end(c, res ? strerror(-res) :
					 "closed by the agent");
	if (c->state >= S_CLOSING)
		return; /* read and dropped */
	c->net_len += res;
	if (c->state == S_PROBE) {
		if (!sess_probe(c))
			return;
		c->state = S_TLS;
	}
	if (BIO_write(c->rbio, c->net, c->net_len) != (int)c->net_len)
		return sess_end(c, "out of memory");
	c->net_len = 0;
	if (c->state == S_TLS)
		sess_handshake(c);
	if (c->state == S_HELLO || c->state == S_UP)
		sess_read_frames(c);
	if (c->state == S_DEAD)
		return;
	if (sess_drain_wbio(c))
		return sess_end(c, "send queue full");
	sess_send_arm(c);
}

static void handle_recv(struct agent_sess *c, int res)
{
	if (c->state != S_DEAD)
		sess_input(c, res);
	c->recv_busy = 0;
	if (c->state == S_DEAD)
		return sess_maybe_free(c);
	sess_recv_arm(c);
}

static void handle_send(struct agent_sess *c, int res)
{
	c->send_busy = 0;
	if (c->state == S_DEAD)
		return sess_maybe_free(c);
	if (res <= 0)
		return sess_end(c, res ? strerror(-res) : "send failed");
	c->tx_off += res;
	sess_send_arm(c);
}

/* --- accepting --------------------------------------------------------- */

static void accept_arm(struct agent_listener *ln)
{
	struct io_uring_sqe *sqe;

	if (ln->accepting)
		return;
	sqe = loop_get_sqe(ln->srv->loop);
	if (!sqe)
		return; /* agent_srv_tick() tries again */
	io_uring_prep_accept(sqe, ln->fd, NULL, NULL, SOCK_CLOEXEC);
	loop_sqe_data(sqe, ln, OP_ACCEPT);
	ln->accepting = 1;
}

static struct agent_sess *sess_new(struct agent_srv *s, int fd)
{
	struct agent_sess *c;
	socklen_t sl = sizeof(c->peer);
	char a[INET_ADDRSTRLEN] = "?";
	int one = 1;

	c = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*c));
	if (!c)
		return NULL;
	memset(c, 0, offsetof(struct agent_sess, net));
	c->srv = s;
	c->fd = fd;
	c->ssl = SSL_new(s->ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->rbio || !c->wbio) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	/* an empty BIO means "wait for more", not end of stream */
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_accept_state(c->ssl);
	getpeername(fd, (struct sockaddr *)&c->peer, &sl);
	inet_ntop(AF_INET, &c->peer.sin_addr, a, sizeof(a));
	snprintf(c->name, sizeof(c->name), "%s:%u", a,
		 ntohs(c->peer.sin_port));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->accepted = c->last_rx = mono_now();
	return c;
}

static void handle_accept(struct agent_listener *ln, int res)
{
	struct agent_srv *s = ln->srv;
	struct agent_sess *c;

	ln->accepting = 0;
	if (res < 0) {
		pr_warn_ratelimited("agent: accept: %s", strerror(-res));
		return; /* EMFILE and friends: again on the next tick */
	}
	accept_arm(ln);
	s->stats[AGENT_STAT_CONNECTIONS]++;
	if (s->nsessions >= AGENT_SESSIONS_HARD) {
		s->stats[AGENT_STAT_REFUSED]++;
		pr_warn_ratelimited("agent: %d sessions open, closing one",
				    s->nsessions);
		close(res);
		return;
	}
	c = sess_new(s, res);
	if (!c) {
		close(res);
		return;
	}
	c->next = s->sessions;
	if (s->sessions)
		s->sessions->prev = c;
	s->sessions = c;
	s->nsessions++;
	sess_recv_arm(c);
}

void agent_srv_handle(struct agent_srv *s, int op, void *obj, int res)
{
	switch (op) {
	case OP_ACCEPT:
		handle_accept(obj, res);
		break;
	case OP_RECV:
		handle_recv(obj, res);
		break;
	case OP_SEND:
		handle_send(obj, res);
		break;
	}
}

/* --- timers and the API ------------------------------------------------ */

static void sess_tick(struct agent_sess *c, time_t now)
{
	switch (c->state) {
	case S_PROBE:
	case S_TLS:
	case S_HELLO:
		if (now - c->accepted >= AGENT_HANDSHAKE_S) {
			if (c->state != S_HELLO)
				c->srv->stats[AGENT_STAT_TLS_FAILED]++;
			sess_end(c, "no HELLO in time");
		}
		break;
	case S_UP:
		if ((now - c->last_rx) * 1000 >= 3 * AGENT_HEARTBEAT_MS)
			return sess_end(c, "heartbeats missed");
		if ((now - c->last_hb) * 1000 >= AGENT_HEARTBEAT_MS) {
			c->last_hb = now;
			sess_send_simple(c, XBA_MSG_HEARTBEAT);
			sess_flush(c);
		}
		break;
	case S_CLOSING:
	case S_LINGER:
		/* a peer that reads nothing gets no longer than this */
		if (now - c->last_rx >= AGENT_LINGER_S + AGENT_HANDSHAKE_S ||
		    (c->state == S_LINGER &&
		     now - c->last_rx >= AGENT_LINGER_S))
			sess_end(c, "closing");
		break;
	case S_DEAD:
		break;
	}
}

void agent_srv_tick(struct agent_srv *s, time_t wall)
{
	time_t now = mono_now();
	struct agent_sess *c, *next;
	int i;

	(void)wall;
	if (!s)
		return;
	for (c = s->sessions; c; c = next) {
		next = c->next; /* sess_end() may free c */
		sess_tick(c, now);
	}
	for (i = 0; i < s->nln; i++)
		accept_arm(&s->ln[i]);
}

void agent_srv_kick(struct agent_srv *s, const uint8_t mac[6])
{
	struct agent_sess *c;

	if (!s)
		return;
	c = sess_of_mac(s, mac);
	if (!c)
		return;
	store_begin(s->d->store);
	sess_pump(c);
	if (store_commit(s->d->store)) {
		c->pend_len = 0;
		return sess_end(c, "store commit failed");
	}
	sess_flush(c);
}

int agent_srv_disconnect(struct agent_srv *s, const uint8_t mac[6])
{
	struct agent_sess *c;

	if (!s)
		return -ENOENT;
	c = sess_of_mac(s, mac);
	if (!c)
		return -ENOENT;
	c->rst = 1;
	c->pend_len = 0;
	sess_end(c, "disconnected by the operator");
	return 0;
}

/* --- setup ------------------------------------------------------------- */

static int listener_open(struct agent_listener *ln, struct in_addr addr,
			 uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr = addr };
	int fd, one = 1, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(fd, 1024)) {
		err = -errno;
		close(fd);
		return err;
	}
	ln->fd = fd;
	ln->addr = addr;
	return 0;
}

/* The addresses agents may connect to: every interface's, and
 * server-address; each once. */
static int agent_addrs(const struct xbootd *d, struct in_addr *out)
{
	int i, k, n = 0;

	for (i = 0; i < d->nifaces + 1 && n < TLS_SAN_MAX; i++) {
		struct in_addr a = i < d->nifaces ? d->ifaces[i].link.addr :
						    d->cfg->server_addr;

		if (!a.s_addr)
			continue;
		for (k = 0; k < n && out[k].s_addr != a.s_addr; k++)
			;
		if (k == n)
			out[n++] = a;
	}
	return n;
}

static int identity_load(struct agent_srv *s)
{
	struct in_addr addrs[TLS_SAN_MAX];
	struct tls_paths p;
	char host[256] = "";
	int ret, n;

	tls_paths_get(s->d->cfg, &p);
	if (p.dir[0]) {
		n = agent_addrs(s->d, addrs);
		if (gethostname(host, sizeof(host) - 1))
			host[0] = '\0';
		ret = tls_identity_ensure(&p, addrs, n, host);
		if (ret < 0)
			return ret;
	}
	s->ctx = tls_server_ctx(p.cert, p.key);
	if (!s->ctx)
		return -EIO;
	if (strlen(p.ca_cert) < sizeof(s->d->agent_ca_file))
		memcpy(s->d->agent_ca_file, p.ca_cert, strlen(p.ca_cert) + 1);
	return 0;
}

static void srv_free(struct agent_srv *s)
{
	int i;

	for (i = 0; i < s->nln; i++)
		close(s->ln[i].fd);
	free(s->ln);
	free(s->fbuf);
	SSL_CTX_free(s->ctx);
	free(s);
}

int agent_srv_open(struct agent_srv **out, struct loop *l, struct xbootd *d)
{
	struct agent_srv *s;
	struct in_addr addrs[TLS_SAN_MAX];
	int i, n, ret;

	*out = NULL;
	if (!d->cfg->agent_port)
		return 0;
	if (!d->machines) {
		pr_err("agent: no machine store: not serving agents");
		return -EINVAL;
	}
	s = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	s->loop = l;
	s->d = d;
	s->fbuf = malloc(XBA_FRAME_MAX);
	n = d->nifaces;
	s->ln = aligned_alloc(1 << LOOP_OP_BITS, (n ? n : 1) * sizeof(*s->ln));
	if (!s->fbuf || !s->ln) {
		ret = -ENOMEM;
		goto err;
	}
	ret = identity_load(s);
	if (ret)
		goto err;
	/* the interfaces' own addresses: not server-address, which may be
	 * a NAT or a VIP that is not ours to bind */
	for (i = 0; i < d->nifaces; i++)
		addrs[i] = d->ifaces[i].link.addr;
	for (i = 0; i < n; i++) {
		memset(&s->ln[i], 0, sizeof(s->ln[i]));
		ret = listener_open(&s->ln[i], addrs[i], d->cfg->agent_port);
		if (ret) {
			pr_err("%s: cannot listen on TCP port %u: %s",
			       d->ifaces[i].link.name, d->cfg->agent_port,
			       strerror(-ret));
			goto err;
		}
		s->ln[i].srv = s;
		s->nln++;
	}
	for (i = 0; i < s->nln; i++)
		accept_arm(&s->ln[i]);
	d->agent_stats = s->stats;
	d->agents = s;
	pr_info("agent: serving TLS on port %u of %d interface(s), CA %s",
		d->cfg->agent_port, s->nln, d->agent_ca_file);
	*out = s;
	return 0;
err:
	srv_free(s);
	return ret;
}

void agent_srv_close(struct agent_srv *s)
{
	if (!s)
		return;
	/* the ring is gone: nothing is in flight any more */
	while (s->sessions) {
		s->sessions->recv_busy = s->sessions->send_busy = 0;
		if (s->sessions->state == S_DEAD)
			sess_free(s->sessions);
		else
			sess_end(s->sessions, "xbootd stopping");
	}
	s->d->agent_stats = NULL;
	s->d->agents = NULL;
	srv_free(s);
}
