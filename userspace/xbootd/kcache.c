// SPDX-License-Identifier: GPL-2.0
/*
 * The client of xboot.ko's generic netlink family (see kcache.h and
 * include/uapi/linux/xboot.h), on libnl-genl.
 *
 * Commands go over one blocking socket with a receive timeout, so a module
 * that never answers cannot hang xbootd's loop for good. Each request asks
 * for an ACK and is read until its ACK, error or NLMSG_DONE: the socket is
 * left empty for the next one even when a reply is refused, and the late
 * answers to a request that timed out are skipped by their sequence
 * number. Kernel errors are taken from the NLMSG_ERROR itself, not from
 * libnl's translation, which folds several errno values into one of its
 * own codes.
 *
 * Events come on a second, non-blocking socket that joins the "events"
 * group; xbootd polls its fd on the io_uring loop.
 *
 * Replies are parsed strictly: the family's command, every attribute the
 * UAPI header promises, each of its exact size, a NUL-terminated path, and
 * no bytes left over. Attributes appended by a newer module are ignored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "kcache.h"

#define KCACHE_TIMEOUT_S 15 /* FILE_ADD reads the whole file in */
#define KCACHE_EVENT_RCVBUF (1 << 20)
#define KCACHE_EVENT_BATCH 64 /* datagrams per kcache_poll_events() */

struct kcache {
	struct nl_sock *sk;
	struct nl_sock *ev; /* NULL without events */
	int family;
};

/* --- parsing ----------------------------------------------------------- */

static struct nla_policy kcache_policy[XBOOT_A_MAX + 1] = {
	[XBOOT_A_FILE_ID] = { .type = NLA_U32 },
	[XBOOT_A_FILE_GEN] = { .type = NLA_U32 },
	[XBOOT_A_FILE_PATH] = { .type = NLA_NUL_STRING,
				.maxlen = sizeof(((struct kcache_file *)0)->path) },
	[XBOOT_A_FILE_FLAGS] = { .type = NLA_U32 },
	[XBOOT_A_FILE_SIZE] = { .type = NLA_U64 },
	[XBOOT_A_FILE_PAGES] = { .type = NLA_U32 },
	[XBOOT_A_FILE_DEV] = { .type = NLA_U64 },
	[XBOOT_A_FILE_INO] = { .type = NLA_U64 },
	[XBOOT_A_FILE_BLOCKS] = { .type = NLA_U64 },
	[XBOOT_A_EVENT] = { .type = NLA_U32 },
	[XBOOT_A_STATS_FILES] = { .type = NLA_U32 },
	[XBOOT_A_STATS_PINNED] = { .type = NLA_U64 },
	[XBOOT_A_STATS_BLOCKS] = { .type = NLA_U64 },
	[XBOOT_A_STATS_BYTES] = { .type = NLA_U64 },
	[XBOOT_A_STATS_MISSES] = { .type = NLA_U64 },
	[XBOOT_A_STATS_DROPS] = { .type = NLA_U64 },
	[XBOOT_A_STATS_PIN_LIMIT] = { .type = NLA_U64 },
};

/* libnl's policy checks minimum sizes only; a u32 must be exactly 4. */
static int attr_size_ok(const struct nlattr *a)
{
	const struct nla_policy *p = &kcache_policy[nla_type(a)];
	int len = nla_len(a);
	const char *s;

	switch (p->type) {
	case NLA_U32:
		return len == sizeof(uint32_t);
	case NLA_U64:
		return len == sizeof(uint64_t);
	case NLA_NUL_STRING:
		s = nla_data(a);
		return len > 0 && len <= p->maxlen && !s[len - 1] &&
		       strlen(s) == (size_t)len - 1;
	default:
		return 1;
	}
}

/* tb[] from a message of command cmd, every attribute checked. */
static int parse_attrs(struct nlmsghdr *nlh, uint8_t cmd,
		       struct nlattr *tb[XBOOT_A_MAX + 1])
{
	struct genlmsghdr *gh;
	struct nlattr *a;
	int rem, i;

	if (nlh->nlmsg_len < NLMSG_HDRLEN ||
	    !genlmsg_valid_hdr(nlh, 0))
		return -EBADMSG;
	gh = nlmsg_data(nlh);
	if (gh->cmd != cmd)
		return -EBADMSG;
	nla_for_each_attr(a, genlmsg_attrdata(gh, 0), genlmsg_attrlen(gh, 0),
			  rem)
		;
	if (rem)
		return -EBADMSG; /* a truncated attribute, or trailing bytes */
	if (genlmsg_parse(nlh, 0, tb, XBOOT_A_MAX, kcache_policy))
		return -EBADMSG;
	for (i = 1; i <= XBOOT_A_MAX; i++)
		if (tb[i] && !attr_size_ok(tb[i]))
			return -EBADMSG;
	return 0;
}

static int need(struct nlattr *tb[], const int *types, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!tb[types[i]])
			return -EBADMSG;
	return 0;
}

#define NEED(tb, ...)                                                        \
	need(tb, (const int[]){ __VA_ARGS__ },                               \
	     sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int))

int kcache_parse_file(struct nlmsghdr *nlh, uint8_t cmd,
		      struct kcache_file *out)
{
	struct nlattr *tb[XBOOT_A_MAX + 1];
	int ret;

	ret = parse_attrs(nlh, cmd, tb);
	if (!ret)
		ret = NEED(tb, XBOOT_A_FILE_ID, XBOOT_A_FILE_GEN,
			   XBOOT_A_FILE_PATH, XBOOT_A_FILE_SIZE,
			   XBOOT_A_FILE_PAGES, XBOOT_A_FILE_DEV,
			   XBOOT_A_FILE_INO, XBOOT_A_FILE_BLOCKS);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->id = nla_get_u32(tb[XBOOT_A_FILE_ID]);
	out->gen = nla_get_u32(tb[XBOOT_A_FILE_GEN]);
	out->size = nla_get_u64(tb[XBOOT_A_FILE_SIZE]);
	out->pages = nla_get_u32(tb[XBOOT_A_FILE_PAGES]);
	out->dev = nla_get_u64(tb[XBOOT_A_FILE_DEV]);
	out->ino = nla_get_u64(tb[XBOOT_A_FILE_INO]);
	out->blocks = nla_get_u64(tb[XBOOT_A_FILE_BLOCKS]);
	strcpy(out->path, nla_get_string(tb[XBOOT_A_FILE_PATH]));
	return 0;
}

int kcache_parse_stats(struct nlmsghdr *nlh, struct kcache_stats *out)
{
	struct nlattr *tb[XBOOT_A_MAX + 1];
	int ret;

	ret = parse_attrs(nlh, XBOOT_CMD_STATS_GET, tb);
	if (!ret)
		ret = NEED(tb, XBOOT_A_STATS_FILES, XBOOT_A_STATS_PINNED,
			   XBOOT_A_STATS_BLOCKS, XBOOT_A_STATS_BYTES,
			   XBOOT_A_STATS_MISSES, XBOOT_A_STATS_DROPS,
			   XBOOT_A_STATS_PIN_LIMIT);
	if (ret)
		return ret;
	out->files = nla_get_u32(tb[XBOOT_A_STATS_FILES]);
	out->pinned = nla_get_u64(tb[XBOOT_A_STATS_PINNED]);
	out->blocks = nla_get_u64(tb[XBOOT_A_STATS_BLOCKS]);
	out->bytes = nla_get_u64(tb[XBOOT_A_STATS_BYTES]);
	out->misses = nla_get_u64(tb[XBOOT_A_STATS_MISSES]);
	out->drops = nla_get_u64(tb[XBOOT_A_STATS_DROPS]);
	out->pin_limit = nla_get_u64(tb[XBOOT_A_STATS_PIN_LIMIT]);
	return 0;
}

int kcache_parse_event(struct nlmsghdr *nlh, struct kcache_event *out)
{
	struct nlattr *tb[XBOOT_A_MAX + 1];
	int ret;

	ret = parse_attrs(nlh, XBOOT_CMD_FILE_EVENT, tb);
	if (!ret)
		ret = NEED(tb, XBOOT_A_EVENT, XBOOT_A_FILE_ID,
			   XBOOT_A_FILE_GEN, XBOOT_A_FILE_PATH);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->event = nla_get_u32(tb[XBOOT_A_EVENT]);
	out->id = nla_get_u32(tb[XBOOT_A_FILE_ID]);
	out->gen = nla_get_u32(tb[XBOOT_A_FILE_GEN]);
	strcpy(out->path, nla_get_string(tb[XBOOT_A_FILE_PATH]));
	return 0;
}

const char *kcache_event_name(uint32_t event)
{
	static const char *const names[] = {
		[XBOOT_EVENT_ADDED] = "added",
		[XBOOT_EVENT_REMOVED] = "removed",
		[XBOOT_EVENT_CHANGED] = "changed",
		[XBOOT_EVENT_GONE] = "gone",
		[XBOOT_EVENT_REPLACED] = "replaced",
	};

	if (event >= sizeof(names) / sizeof(names[0]) || !names[event])
		return "unknown";
	return names[event];
}

/* --- requests ---------------------------------------------------------- */

/* One request in flight: what its replies go to, and how it ended. */
struct kc_req {
	struct kcache *kc;
	uint8_t cmd; /* the replies' command */
	/* Called for each reply of the family; the first failure is kept
	 * and the rest of the replies are only drained. */
	int (*reply)(struct kc_req *r, struct nlmsghdr *nlh);
	void *out;
	int (*fn)(void *arg, const struct kcache_file *f);
	void *arg;
	uint32_t seq; /* of the request */
	int replies;
	int ret;  /* first failure: a kernel errno, a parse error, fn's */
	int done; /* ACK, error or NLMSG_DONE seen */
};

/* Not ours (a late answer to a request that timed out): skipped. */
static int on_seq(struct nl_msg *msg, void *arg)
{
	struct kc_req *r = arg;

	return nlmsg_hdr(msg)->nlmsg_seq == r->seq ? NL_OK : NL_SKIP;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct kc_req *r = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	int ret;

	r->replies++;
	if (r->ret)
		return NL_SKIP;
	if (nlh->nlmsg_type != r->kc->family || !r->reply)
		ret = -EBADMSG;
	else
		ret = r->reply(r, nlh);
	if (ret)
		r->ret = ret;
	return NL_SKIP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct kc_req *r = arg;

	(void)msg;
	r->done = 1;
	return NL_STOP;
}

/* A dump that failed part way says so in NLMSG_DONE's payload. */
static int on_finish(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct kc_req *r = arg;
	int err;

	if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(err))) {
		memcpy(&err, nlmsg_data(nlh), sizeof(err));
		if (err < 0 && !r->ret)
			r->ret = err;
	}
	r->done = 1;
	return NL_STOP;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct kc_req *r = arg;

	(void)nla;
	if (!r->ret)
		r->ret = e->error < 0 ? e->error : -EPROTO;
	r->done = 1;
	return NL_STOP;
}

/* libnl's own failures (no kernel errno at hand) as errno. */
static int nlerr_to_errno(int err)
{
	switch (-err) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
	case NLE_NOACCESS:
		return -EPERM;
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_AGAIN:
		return -ETIMEDOUT;
	case NLE_MSG_TRUNC:
	case NLE_MSG_TOOSHORT:
	case NLE_MSG_OVERFLOW:
	case NLE_PARSE_ERR:
		return -EBADMSG;
	default:
		return -EPROTO;
	}
}

/* Send msg (freed here) and read until its ACK, error or end of dump. */
static int kc_transact(struct kcache *kc, struct nl_msg *msg,
		       struct kc_req *r)
{
	struct nl_cb *cb;
	int ret;

	r->kc = kc;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, on_seq, r);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, r);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, r);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, r);
	ret = nl_send_auto(kc->sk, msg);
	r->seq = nlmsg_hdr(msg)->nlmsg_seq; /* set by the send */
	nlmsg_free(msg);
	while (ret >= 0 && !r->done) {
		ret = nl_recvmsgs_report(kc->sk, cb);
		if (ret == 0 && !r->done)
			ret = -NLE_AGAIN; /* the receive timeout passed */
	}
	nl_cb_put(cb);
	if (r->ret)
		return r->ret;
	return ret < 0 ? nlerr_to_errno(ret) : 0;
}

static struct nl_msg *kc_msg(struct kcache *kc, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, kc->family, 0,
				flags, cmd, XBOOT_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

/* A doit's one reply: a second one is as wrong as none. */
static int reply_file(struct kc_req *r, struct nlmsghdr *nlh)
{
	if (r->replies > 1)
		return -EBADMSG;
	return kcache_parse_file(nlh, r->cmd, r->out);
}

static int reply_stats(struct kc_req *r, struct nlmsghdr *nlh)
{
	if (r->replies > 1)
		return -EBADMSG;
	return kcache_parse_stats(nlh, r->out);
}

/* A doit with one reply: -EBADMSG when it was only ACKed. */
static int kc_doit(struct kcache *kc, struct nl_msg *msg, struct kc_req *r)
{
	int ret = kc_transact(kc, msg, r);

	if (!ret && r->reply && r->replies != 1)
		ret = -EBADMSG;
	return ret;
}

int kcache_add(struct kcache *kc, const char *path, uint32_t flags,
	       struct kcache_file *out)
{
	struct kcache_file *f = malloc(sizeof(*f));
	struct kc_req r = { .cmd = XBOOT_CMD_FILE_ADD, .reply = reply_file,
			    .out = f };
	struct nl_msg *msg;
	int ret;

	msg = f ? kc_msg(kc, XBOOT_CMD_FILE_ADD, 0) : NULL;
	if (!msg) {
		free(f);
		return -ENOMEM;
	}
	if (nla_put_string(msg, XBOOT_A_FILE_PATH, path) ||
	    (flags && nla_put_u32(msg, XBOOT_A_FILE_FLAGS, flags))) {
		nlmsg_free(msg);
		free(f);
		return -ENAMETOOLONG;
	}
	ret = kc_doit(kc, msg, &r);
	if (!ret && out)
		*out = *f;
	free(f);
	return ret;
}

int kcache_del(struct kcache *kc, uint32_t id)
{
	struct kc_req r = { .cmd = XBOOT_CMD_FILE_DEL };
	struct nl_msg *msg;

	msg = kc_msg(kc, XBOOT_CMD_FILE_DEL, 0);
	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, XBOOT_A_FILE_ID, id)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	/* No reply but the ACK: anything else is -EBADMSG (reply NULL). */
	return kc_doit(kc, msg, &r);
}

int kcache_get(struct kcache *kc, uint32_t id, struct kcache_file *out)
{
	struct kcache_file *f = malloc(sizeof(*f));
	struct kc_req r = { .cmd = XBOOT_CMD_FILE_GET, .reply = reply_file,
			    .out = f };
	struct nl_msg *msg;
	int ret;

	msg = f ? kc_msg(kc, XBOOT_CMD_FILE_GET, 0) : NULL;
	if (!msg || nla_put_u32(msg, XBOOT_A_FILE_ID, id)) {
		nlmsg_free(msg);
		free(f);
		return -ENOMEM;
	}
	ret = kc_doit(kc, msg, &r);
	if (!ret && out)
		*out = *f;
	free(f);
	return ret;
}

static int reply_list(struct kc_req *r, struct nlmsghdr *nlh)
{
	int ret = kcache_parse_file(nlh, XBOOT_CMD_FILE_GET, r->out);

	return ret ?: r->fn(r->arg, r->out);
}

int kcache_list(struct kcache *kc,
		int (*fn)(void *arg, const struct kcache_file *f), void *arg)
{
	struct kcache_file *f = malloc(sizeof(*f));
	struct kc_req r = { .cmd = XBOOT_CMD_FILE_GET, .reply = reply_list,
			    .out = f, .fn = fn, .arg = arg };
	struct nl_msg *msg;
	int ret;

	msg = f ? kc_msg(kc, XBOOT_CMD_FILE_GET, NLM_F_DUMP) : NULL;
	if (!msg) {
		free(f);
		return -ENOMEM;
	}
	ret = kc_transact(kc, msg, &r);
	free(f);
	return ret;
}

int kcache_stats(struct kcache *kc, struct kcache_stats *out)
{
	struct kcache_stats st;
	struct kc_req r = { .cmd = XBOOT_CMD_STATS_GET, .reply = reply_stats,
			    .out = &st };
	struct nl_msg *msg;
	int ret;

	msg = kc_msg(kc, XBOOT_CMD_STATS_GET, 0);
	if (!msg)
		return -ENOMEM;
	ret = kc_doit(kc, msg, &r);
	if (!ret)
		*out = st;
	return ret;
}

/* --- events ------------------------------------------------------------ */

struct kc_events {
	struct kcache *kc;
	void (*fn)(void *arg, const struct kcache_event *ev);
	void *arg;
	int n;
	struct kcache_event ev;
};

static int on_event(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct kc_events *e = arg;

	/* Anything else on the group (a newer module's command) is not
	 * ours to understand; a malformed event is dropped. */
	if (nlh->nlmsg_type != e->kc->family ||
	    kcache_parse_event(nlh, &e->ev))
		return NL_SKIP;
	e->n++;
	e->fn(e->arg, &e->ev);
	return NL_OK;
}

/* Events are not answers to a request: any sequence number will do. */
static int any_seq(struct nl_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return NL_OK;
}

int kcache_poll_events(struct kcache *kc,
		       void (*fn)(void *arg, const struct kcache_event *ev),
		       void *arg)
{
	struct kc_events *e;
	struct nl_cb *cb;
	int i, n, ret = 1;

	if (!kc->ev)
		return 0;
	e = malloc(sizeof(*e)); /* a 4 KiB path: off the stack */
	cb = e ? nl_cb_alloc(NL_CB_DEFAULT) : NULL;
	if (!cb) {
		free(e);
		return -ENOMEM;
	}
	*e = (struct kc_events){ .kc = kc, .fn = fn, .arg = arg };
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, any_seq, NULL);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_event, e);
	for (i = 0; i < KCACHE_EVENT_BATCH && ret > 0; i++)
		ret = nl_recvmsgs_report(kc->ev, cb);
	nl_cb_put(cb);
	n = e->n;
	free(e);
	if (ret == -NLE_NOMEM)
		return -ENOBUFS; /* the kernel dropped what did not fit */
	if (ret < 0 && ret != -NLE_AGAIN)
		return nlerr_to_errno(ret);
	return n;
}

int kcache_event_fd(struct kcache *kc)
{
	return kc && kc->ev ? nl_socket_get_fd(kc->ev) : -1;
}

/* --- setup ------------------------------------------------------------- */

static int sock_open(struct nl_sock **out)
{
	struct nl_sock *sk = nl_socket_alloc();
	int ret;

	if (!sk)
		return -ENOMEM;
	ret = genl_connect(sk);
	if (ret) {
		nl_socket_free(sk);
		return nlerr_to_errno(ret);
	}
	/* A reply with a 4 KiB path is larger than libnl's default page. */
	nl_socket_enable_msg_peek(sk);
	*out = sk;
	return 0;
}

static int events_open(struct kcache *kc)
{
	int grp, ret;

	grp = genl_ctrl_resolve_grp(kc->sk, XBOOT_GENL_NAME,
				    XBOOT_MCGRP_EVENTS);
	if (grp < 0)
		return grp == -NLE_OBJ_NOTFOUND ? -ENOENT : nlerr_to_errno(grp);
	ret = sock_open(&kc->ev);
	if (ret)
		return ret;
	nl_socket_disable_seq_check(kc->ev);
	nl_socket_set_buffer_size(kc->ev, KCACHE_EVENT_RCVBUF, 0);
	ret = nl_socket_add_membership(kc->ev, grp);
	if (!ret)
		ret = nl_socket_set_nonblocking(kc->ev);
	return ret ? nlerr_to_errno(ret) : 0;
}

int kcache_open(struct kcache **out, int events)
{
	struct timeval tv = { .tv_sec = KCACHE_TIMEOUT_S };
	struct kcache *kc = calloc(1, sizeof(*kc));
	int ret;

	*out = NULL;
	if (!kc)
		return -ENOMEM;
	ret = sock_open(&kc->sk);
	if (ret)
		goto err;
	setsockopt(nl_socket_get_fd(kc->sk), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	kc->family = genl_ctrl_resolve(kc->sk, XBOOT_GENL_NAME);
	if (kc->family < 0) {
		/* The normal case without xboot.ko: no such family. */
		ret = kc->family == -NLE_OBJ_NOTFOUND ? -ENOENT :
							nlerr_to_errno(kc->family);
		goto err;
	}
	if (events) {
		ret = events_open(kc);
		if (ret)
			goto err;
	}
	*out = kc;
	return 0;
err:
	kcache_close(kc);
	return ret;
}

void kcache_close(struct kcache *kc)
{
	if (!kc)
		return;
	if (kc->ev)
		nl_socket_free(kc->ev);
	if (kc->sk)
		nl_socket_free(kc->sk);
	free(kc);
}
