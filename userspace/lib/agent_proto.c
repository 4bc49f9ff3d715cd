// SPDX-License-Identifier: GPL-2.0
/*
 * The agent protocol codec: frame and attribute encoding, the stream frame
 * parser with its per-message policy tables, and one typed decoder and
 * encoder per message. include/xboot/agent.h says what is valid; this file
 * only enforces it. Nothing here allocates or logs: a refused frame comes
 * back as a negative errno and a reason for the caller to log.
 */
#include <errno.h>
#include <string.h>

#include "agent_proto.h"
#include "be.h"

/* --- encoding ----------------------------------------------------------- */

void agent_msg_init(struct agent_msg *m, void *buf, size_t cap, uint8_t type,
		    uint16_t flags, uint32_t seq)
{
	memset(m, 0, sizeof(*m));
	m->buf = buf;
	m->cap = cap < XBA_FRAME_MAX ? cap : XBA_FRAME_MAX;
	if (m->cap < XBA_HDR_LEN) {
		m->err = -EMSGSIZE;
		return;
	}
	put_be32(m->buf, XBA_MAGIC);
	m->buf[4] = XBA_VERSION_MIN;
	m->buf[5] = type;
	put_be16(m->buf + 6, flags);
	put_be32(m->buf + 8, 0);
	put_be32(m->buf + 12, seq);
	m->len = XBA_HDR_LEN;
}

static int put_attr(struct agent_msg *m, uint16_t type, const void *val,
		    size_t len)
{
	size_t need = XBA_ALIGN(XBA_ATTR_HDR_LEN + len);
	uint8_t *p;

	if (m->err)
		return m->err;
	if (len > XBA_ATTR_VALUE_MAX || need > m->cap - m->len)
		return m->err = -EMSGSIZE;
	p = m->buf + m->len;
	put_be16(p, type);
	put_be16(p + 2, XBA_ATTR_HDR_LEN + len);
	if (len)
		memcpy(p + XBA_ATTR_HDR_LEN, val, len);
	memset(p + XBA_ATTR_HDR_LEN + len, 0, need - XBA_ATTR_HDR_LEN - len);
	m->len += need;
	return 0;
}

int agent_put_u8(struct agent_msg *m, uint16_t type, uint8_t v)
{
	return put_attr(m, type, &v, 1);
}

int agent_put_u16(struct agent_msg *m, uint16_t type, uint16_t v)
{
	uint8_t b[2];

	put_be16(b, v);
	return put_attr(m, type, b, sizeof(b));
}

int agent_put_u32(struct agent_msg *m, uint16_t type, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	return put_attr(m, type, b, sizeof(b));
}

int agent_put_u64(struct agent_msg *m, uint16_t type, uint64_t v)
{
	uint8_t b[8];

	put_be64(b, v);
	return put_attr(m, type, b, sizeof(b));
}

int agent_put_string(struct agent_msg *m, uint16_t type, const char *s)
{
	return put_attr(m, type, s, strlen(s) + 1);
}

int agent_put_bytes(struct agent_msg *m, uint16_t type, const void *p,
		    size_t len)
{
	return put_attr(m, type, p, len);
}

int agent_nest_begin(struct agent_msg *m, uint16_t type)
{
	if (!m->err && m->depth == AGENT_NEST_DEPTH)
		m->err = -EINVAL;
	if (m->err)
		return m->err;
	m->nest[m->depth++] = m->len;
	return put_attr(m, type, NULL, 0);
}

int agent_nest_end(struct agent_msg *m)
{
	size_t start, len;

	if (!m->err && !m->depth)
		m->err = -EINVAL;
	if (m->err)
		return m->err;
	start = m->nest[--m->depth];
	len = m->len - start;
	if (len > 0xffff)
		return m->err = -EMSGSIZE;
	put_be16(m->buf + start + 2, len);
	return 0;
}

ssize_t agent_msg_finish(struct agent_msg *m)
{
	if (!m->err && m->depth)
		m->err = -EINVAL;
	if (m->err)
		return m->err;
	put_be32(m->buf + 8, m->len - XBA_HDR_LEN);
	return m->len;
}

/* --- policy ------------------------------------------------------------- */

enum { AK_NONE, AK_U8, AK_U16, AK_U32, AK_U64, AK_STRING, AK_BINARY, AK_NEST };

#define P_REQ 1U   /* required */
#define P_MULTI 2U /* may repeat */

struct agent_policy {
	uint8_t kind;
	uint8_t flags;
	uint16_t min; /* binary only */
	uint16_t max; /* string (with its NUL) and binary */
};

#define U8(f) { AK_U8, f, 0, 0 }
#define U16(f) { AK_U16, f, 0, 0 }
#define U32(f) { AK_U32, f, 0, 0 }
#define U64(f) { AK_U64, f, 0, 0 }
#define STR(f, mx) { AK_STRING, f, 0, mx }
#define BIN(f, mn, mx) { AK_BINARY, f, mn, mx }
#define NEST(f) { AK_NEST, f, 0, 0 }

static const struct agent_policy hello_policy[XBA_A_MAX + 1] = {
	[XBA_A_VERSION_MIN] = U8(P_REQ),
	[XBA_A_VERSION_MAX] = U8(P_REQ),
	[XBA_A_AGENT_VERSION] = STR(P_REQ, XBA_AGENT_VERSION_MAX),
	[XBA_A_MACS] = NEST(P_REQ),
	[XBA_A_SYSTEM_UUID] = BIN(0, XBA_UUID_LEN, XBA_UUID_LEN),
	[XBA_A_BOOT_ID] = BIN(P_REQ, XBA_BOOT_ID_LEN, XBA_BOOT_ID_LEN),
	[XBA_A_RESUME_SEQ] = U32(P_REQ),
	[XBA_A_CREDENTIAL] = BIN(0, 1, XBA_CREDENTIAL_MAX),
	[XBA_A_TOKEN] = BIN(0, XBA_TOKEN_LEN, XBA_TOKEN_LEN),
};

static const struct agent_policy welcome_policy[XBA_A_MAX + 1] = {
	[XBA_A_VERSION] = U8(P_REQ),
	[XBA_A_SESSION_ID] = U64(P_REQ),
	[XBA_A_HEARTBEAT_MS] = U32(P_REQ),
	[XBA_A_RESUME_SEQ] = U32(P_REQ),
	[XBA_A_TOKEN] = BIN(0, XBA_TOKEN_LEN, XBA_TOKEN_LEN),
};

static const struct agent_policy refused_policy[XBA_A_MAX + 1] = {
	[XBA_A_REASON] = U16(P_REQ),
	[XBA_A_REASON_TEXT] = STR(0, XBA_TEXT_MAX),
	[XBA_A_RETRY_AFTER_MS] = U32(0),
};

static const struct agent_policy inventory_policy[XBA_A_MAX + 1] = {
	[XBA_A_VENDOR] = STR(0, XBA_DMI_MAX),
	[XBA_A_PRODUCT] = STR(0, XBA_DMI_MAX),
	[XBA_A_SERIAL] = STR(0, XBA_DMI_MAX),
	[XBA_A_CPUS] = U32(P_REQ),
	[XBA_A_MEMORY_BYTES] = U64(P_REQ),
	[XBA_A_NICS] = NEST(0),
	[XBA_A_DISKS] = NEST(0),
};

static const struct agent_policy empty_policy[XBA_A_MAX + 1];

static const struct agent_policy job_policy[XBA_A_MAX + 1] = {
	[XBA_A_JOB_ID] = U64(P_REQ),
	[XBA_A_JOB_TYPE] = U16(P_REQ),
	[XBA_A_JOB_TIMEOUT_S] = U32(0),
	[XBA_A_JOB_ARG] = STR(P_MULTI, XBA_ATTR_VALUE_MAX),
};

static const struct agent_policy job_status_policy[XBA_A_MAX + 1] = {
	[XBA_A_JOB_ID] = U64(P_REQ),
	[XBA_A_JOB_STATE] = U8(P_REQ),
	[XBA_A_EXIT_CODE] = U32(0),
	[XBA_A_OUTPUT_BYTES] = U64(0),
	[XBA_A_REASON_TEXT] = STR(0, XBA_TEXT_MAX),
};

static const struct agent_policy job_output_policy[XBA_A_MAX + 1] = {
	[XBA_A_JOB_ID] = U64(P_REQ),
	[XBA_A_OFFSET] = U64(P_REQ),
	[XBA_A_DATA] = BIN(P_REQ, 1, XBA_ATTR_VALUE_MAX),
};

static const struct agent_policy ack_policy[XBA_A_MAX + 1] = {
	[XBA_A_ACK_SEQ] = U32(P_REQ),
};

static const struct agent_policy bye_policy[XBA_A_MAX + 1] = {
	[XBA_A_REASON] = U16(0),
	[XBA_A_REASON_TEXT] = STR(0, XBA_TEXT_MAX),
};

static const struct agent_msg_desc {
	const char *name;
	const struct agent_policy *policy;
	bool reliable;
} msg_desc[XBA_MSG_MAX + 1] = {
	[XBA_MSG_HELLO] = { "HELLO", hello_policy, false },
	[XBA_MSG_WELCOME] = { "WELCOME", welcome_policy, false },
	[XBA_MSG_REFUSED] = { "REFUSED", refused_policy, false },
	[XBA_MSG_INVENTORY] = { "INVENTORY", inventory_policy, true },
	[XBA_MSG_HEARTBEAT] = { "HEARTBEAT", empty_policy, false },
	[XBA_MSG_JOB] = { "JOB", job_policy, true },
	[XBA_MSG_JOB_STATUS] = { "JOB_STATUS", job_status_policy, true },
	[XBA_MSG_JOB_OUTPUT] = { "JOB_OUTPUT", job_output_policy, true },
	[XBA_MSG_ACK] = { "ACK", ack_policy, false },
	[XBA_MSG_BYE] = { "BYE", bye_policy, false },
};

/* Inside a list nest: MACs, or one nest per NIC or disk. */
static const struct agent_policy mac_list_policy[__XBA_LIST_LAST] = {
	[XBA_LIST_ENTRY] = BIN(P_MULTI, XBA_MAC_LEN, XBA_MAC_LEN),
};

static const struct agent_policy nest_list_policy[__XBA_LIST_LAST] = {
	[XBA_LIST_ENTRY] = NEST(P_MULTI),
};

static const struct agent_policy nic_policy[XBA_NIC_A_MAX + 1] = {
	[XBA_NIC_A_MAC] = BIN(P_REQ, XBA_MAC_LEN, XBA_MAC_LEN),
	[XBA_NIC_A_NAME] = STR(P_REQ, XBA_IFNAME_MAX),
	[XBA_NIC_A_SPEED_MBPS] = U32(0),
};

static const struct agent_policy disk_policy[XBA_DISK_A_MAX + 1] = {
	[XBA_DISK_A_NAME] = STR(P_REQ, XBA_DISK_NAME_MAX),
	[XBA_DISK_A_SIZE] = U64(P_REQ),
	[XBA_DISK_A_MODEL] = STR(0, XBA_DMI_MAX),
	[XBA_DISK_A_SERIAL] = STR(0, XBA_DMI_MAX),
	[XBA_DISK_A_ROTATIONAL] = U8(0),
};

const char *agent_msg_name(unsigned int type)
{
	if (type > XBA_MSG_MAX || !msg_desc[type].name)
		return "UNKNOWN";
	return msg_desc[type].name;
}

const char *agent_refused_name(unsigned int reason)
{
	static const char *const names[__XBA_REFUSED_LAST] = {
		[XBA_REFUSED_UNSPEC] = "unspecified",
		[XBA_REFUSED_NO_TLS] = "no tls",
		[XBA_REFUSED_VERSION] = "version",
		[XBA_REFUSED_MALFORMED] = "malformed",
		[XBA_REFUSED_BAD_CREDENTIAL] = "bad credential",
		[XBA_REFUSED_CREDENTIAL_REUSED] = "credential reused",
		[XBA_REFUSED_BAD_TOKEN] = "bad token",
		[XBA_REFUSED_TOKEN_MISMATCH] = "token mismatch",
		[XBA_REFUSED_RATE_LIMITED] = "rate limited",
		[XBA_REFUSED_BUSY] = "busy",
		[XBA_REFUSED_DUPLICATE] = "duplicate",
	};

	return reason < __XBA_REFUSED_LAST ? names[reason] : NULL;
}

/* --- attribute validation ----------------------------------------------- */

static size_t attr_len(const uint8_t *a)
{
	return get_be16(a + 2) - XBA_ATTR_HDR_LEN;
}

static const uint8_t *attr_val(const uint8_t *a)
{
	return a + XBA_ATTR_HDR_LEN;
}

static int fail(struct agent_frame *f, int err, const char *why)
{
	f->why = why;
	return err;
}

static int check_string(struct agent_frame *f, const uint8_t *v, size_t len,
			size_t max)
{
	if (!len)
		return fail(f, -EINVAL, "empty string attribute");
	if (len > max)
		return fail(f, -EINVAL, "string attribute too long");
	if (v[len - 1])
		return fail(f, -EINVAL, "string attribute without its NUL");
	if (memchr(v, 0, len - 1))
		return fail(f, -EINVAL, "string attribute with a NUL inside");
	return 0;
}

static int check_value(struct agent_frame *f, const struct agent_policy *p,
		       const uint8_t *v, size_t len)
{
	static const uint8_t int_len[] = {
		[AK_U8] = 1, [AK_U16] = 2, [AK_U32] = 4, [AK_U64] = 8,
	};

	switch (p->kind) {
	case AK_U8:
	case AK_U16:
	case AK_U32:
	case AK_U64:
		if (len != int_len[p->kind])
			return fail(f, -EINVAL,
				    "integer attribute of the wrong size");
		return 0;
	case AK_STRING:
		return check_string(f, v, len, p->max);
	case AK_BINARY:
		if (len < p->min || len > p->max)
			return fail(f, -EINVAL,
				    "binary attribute of the wrong size");
		return 0;
	default:
		return 0;
	}
}

/*
 * Walks a sequence of attributes: structure (-EBADMSG), then for the types
 * the policy knows, their values, duplicates and required ones. tb gets the
 * first copy of each known type.
 */
static int attrs_parse(struct agent_frame *f, const uint8_t *p, size_t len,
		       const struct agent_policy *pol, unsigned int maxtype,
		       const uint8_t **tb)
{
	unsigned int t;
	size_t alen, step;
	int err;

	memset(tb, 0, (maxtype + 1) * sizeof(*tb));
	while (len) {
		if (len < XBA_ATTR_HDR_LEN)
			return fail(f, -EBADMSG, "truncated attribute header");
		t = get_be16(p);
		alen = get_be16(p + 2);
		if (alen < XBA_ATTR_HDR_LEN)
			return fail(f, -EBADMSG, "attribute shorter than its header");
		if (alen > len)
			return fail(f, -EBADMSG, "attribute runs past its end");
		step = XBA_ALIGN(alen);
		if (step > len)
			return fail(f, -EBADMSG, "attribute padding runs past its end");
		if (t <= maxtype && pol[t].kind) {
			err = check_value(f, &pol[t], p + XBA_ATTR_HDR_LEN,
					  alen - XBA_ATTR_HDR_LEN);
			if (err)
				return err;
			if (tb[t] && !(pol[t].flags & P_MULTI))
				return fail(f, -EINVAL, "duplicate attribute");
			if (!tb[t])
				tb[t] = p;
		}
		p += step;
		len -= step;
	}
	for (t = 0; t <= maxtype; t++)
		if ((pol[t].flags & P_REQ) && !tb[t])
			return fail(f, -ENODATA, "missing required attribute");
	return 0;
}

/* Iterates over the attributes of one type in an already validated run. */
struct attr_iter {
	const uint8_t *p;
	size_t rem;
	uint16_t type;
};

static void iter_init(struct attr_iter *it, const uint8_t *p, size_t len,
		      uint16_t type)
{
	it->p = p;
	it->rem = len;
	it->type = type;
}

static const uint8_t *iter_next(struct attr_iter *it)
{
	const uint8_t *a;
	size_t step;

	while (it->rem) {
		a = it->p;
		step = XBA_ALIGN(get_be16(a + 2));
		it->p += step;
		it->rem -= step;
		if (get_be16(a) == it->type)
			return a;
	}
	return NULL;
}

/* --- frames ------------------------------------------------------------- */

static int header_parse(const uint8_t *b, size_t len, struct agent_frame *f)
{
	uint32_t body_len;

	/* refuse a TLS ClientHello or plaintext at once, not at byte 16 */
	if (memcmp(b, "XBA1", len < 4 ? len : 4))
		return fail(f, -EPROTO, "bad magic");
	if (len < XBA_HDR_LEN)
		return -EAGAIN;
	if (get_be32(b) != XBA_MAGIC)
		return fail(f, -EPROTO, "bad magic");
	f->version = b[4];
	f->type = b[5];
	f->flags = get_be16(b + 6);
	body_len = get_be32(b + 8);
	f->seq = get_be32(b + 12);
	if (f->version < XBA_VERSION_MIN || f->version > XBA_VERSION_MAX)
		return fail(f, -EPROTONOSUPPORT, "unsupported protocol version");
	if (f->type > XBA_MSG_MAX || !msg_desc[f->type].name)
		return fail(f, -EOPNOTSUPP, "unknown message type");
	if (f->flags & ~__XBA_F_ALL)
		return fail(f, -EOPNOTSUPP, "unknown flags");
	if (body_len > XBA_FRAME_MAX - XBA_HDR_LEN)
		return fail(f, -EMSGSIZE, "frame larger than XBA_FRAME_MAX");
	if (body_len % 4)
		return fail(f, -EBADMSG, "body not a whole number of attributes");
	if (msg_desc[f->type].reliable && !f->seq)
		return fail(f, -EINVAL, "reliable message without seq");
	if (!msg_desc[f->type].reliable && f->seq)
		return fail(f, -EINVAL, "seq on an unreliable message");
	f->body_len = body_len;
	f->len = XBA_HDR_LEN + body_len;
	return 0;
}

ssize_t agent_frame_parse(const void *buf, size_t len, struct agent_frame *f)
{
	const uint8_t *b = buf;
	int err;

	memset(f, 0, sizeof(*f));
	err = header_parse(b, len, f);
	if (err)
		return err;
	if (len < f->len)
		return -EAGAIN;
	f->body = b + XBA_HDR_LEN;
	err = attrs_parse(f, f->body, f->body_len, msg_desc[f->type].policy,
			  XBA_A_MAX, f->attr);
	if (err)
		return err;
	return f->len;
}

/* --- typed decoders ----------------------------------------------------- */

static int want(struct agent_frame *f, uint8_t type)
{
	if (f->type != type || !f->body)
		return fail(f, -EINVAL, "decoder of another message type");
	return 0;
}

static uint8_t a_u8(struct agent_frame *f, int t)
{
	return f->attr[t] ? *attr_val(f->attr[t]) : 0;
}

static uint16_t a_u16(struct agent_frame *f, int t)
{
	return f->attr[t] ? get_be16(attr_val(f->attr[t])) : 0;
}

static uint32_t a_u32(struct agent_frame *f, int t)
{
	return f->attr[t] ? get_be32(attr_val(f->attr[t])) : 0;
}

static uint64_t a_u64(struct agent_frame *f, int t)
{
	return f->attr[t] ? get_be64(attr_val(f->attr[t])) : 0;
}

/* Copies a validated string (the policy max fits dst) or leaves "". */
static void copy_str(char *dst, const uint8_t *a)
{
	if (a)
		memcpy(dst, attr_val(a), attr_len(a));
	else
		dst[0] = 0;
}

/*
 * Validates a list nest and counts its entries: -EBADMSG for a broken
 * structure, -E2BIG beyond max. Entries are then walked with iter_*.
 */
static int list_parse(struct agent_frame *f, const uint8_t *nest,
		      const struct agent_policy *pol, unsigned int max,
		      unsigned int *n)
{
	const uint8_t *tb[__XBA_LIST_LAST];
	struct attr_iter it;
	int err;

	*n = 0;
	if (!nest)
		return 0;
	err = attrs_parse(f, attr_val(nest), attr_len(nest), pol,
			  XBA_LIST_ENTRY, tb);
	if (err)
		return err;
	iter_init(&it, attr_val(nest), attr_len(nest), XBA_LIST_ENTRY);
	while (iter_next(&it))
		if (++*n > max)
			return fail(f, -E2BIG, "too many list entries");
	return 0;
}

int agent_parse_hello(struct agent_frame *f, struct agent_hello *h)
{
	const uint8_t *cred = f->attr[XBA_A_CREDENTIAL];
	const uint8_t *a;
	struct attr_iter it;
	unsigned int i = 0;
	int err;

	memset(h, 0, sizeof(*h));
	err = want(f, XBA_MSG_HELLO);
	if (!err)
		err = list_parse(f, f->attr[XBA_A_MACS], mac_list_policy,
				 XBA_MACS_MAX, &h->n_macs);
	if (err)
		return err;
	if (!h->n_macs)
		return fail(f, -ENODATA, "hello without MACs");
	if (!cred == !f->attr[XBA_A_TOKEN])
		return fail(f, cred ? -EINVAL : -ENODATA,
			    "hello needs exactly one of credential and token");
	h->version_min = a_u8(f, XBA_A_VERSION_MIN);
	h->version_max = a_u8(f, XBA_A_VERSION_MAX);
	if (h->version_min > h->version_max)
		return fail(f, -EINVAL, "empty version range");
	copy_str(h->agent_version, f->attr[XBA_A_AGENT_VERSION]);
	iter_init(&it, attr_val(f->attr[XBA_A_MACS]),
		  attr_len(f->attr[XBA_A_MACS]), XBA_LIST_ENTRY);
	while ((a = iter_next(&it)))
		memcpy(h->macs[i++], attr_val(a), XBA_MAC_LEN);
	if ((h->has_uuid = !!f->attr[XBA_A_SYSTEM_UUID]))
		memcpy(h->uuid, attr_val(f->attr[XBA_A_SYSTEM_UUID]),
		       XBA_UUID_LEN);
	memcpy(h->boot_id, attr_val(f->attr[XBA_A_BOOT_ID]), XBA_BOOT_ID_LEN);
	h->resume_seq = a_u32(f, XBA_A_RESUME_SEQ);
	if (cred) {
		h->credential_len = attr_len(cred);
		memcpy(h->credential, attr_val(cred), h->credential_len);
	} else {
		h->has_token = true;
		memcpy(h->token, attr_val(f->attr[XBA_A_TOKEN]), XBA_TOKEN_LEN);
	}
	return 0;
}

int agent_parse_welcome(struct agent_frame *f, struct agent_welcome *w)
{
	int err;

	memset(w, 0, sizeof(*w));
	err = want(f, XBA_MSG_WELCOME);
	if (err)
		return err;
	w->version = a_u8(f, XBA_A_VERSION);
	w->session_id = a_u64(f, XBA_A_SESSION_ID);
	w->heartbeat_ms = a_u32(f, XBA_A_HEARTBEAT_MS);
	w->resume_seq = a_u32(f, XBA_A_RESUME_SEQ);
	if (!w->heartbeat_ms)
		return fail(f, -EINVAL, "zero heartbeat interval");
	if (w->version < XBA_VERSION_MIN || w->version > XBA_VERSION_MAX)
		return fail(f, -EPROTONOSUPPORT, "welcome chose an unknown version");
	if ((w->has_token = !!f->attr[XBA_A_TOKEN]))
		memcpy(w->token, attr_val(f->attr[XBA_A_TOKEN]), XBA_TOKEN_LEN);
	return 0;
}

int agent_parse_refused(struct agent_frame *f, struct agent_refused *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	err = want(f, XBA_MSG_REFUSED);
	if (err)
		return err;
	r->reason = a_u16(f, XBA_A_REASON);
	r->retry_after_ms = a_u32(f, XBA_A_RETRY_AFTER_MS);
	copy_str(r->text, f->attr[XBA_A_REASON_TEXT]);
	return 0;
}

static int nic_parse(struct agent_frame *f, const uint8_t *a,
		     struct agent_nic *nic)
{
	const uint8_t *tb[XBA_NIC_A_MAX + 1];
	int err;

	err = attrs_parse(f, attr_val(a), attr_len(a), nic_policy,
			  XBA_NIC_A_MAX, tb);
	if (err)
		return err;
	memcpy(nic->mac, attr_val(tb[XBA_NIC_A_MAC]), XBA_MAC_LEN);
	copy_str(nic->name, tb[XBA_NIC_A_NAME]);
	if (tb[XBA_NIC_A_SPEED_MBPS])
		nic->speed_mbps = get_be32(attr_val(tb[XBA_NIC_A_SPEED_MBPS]));
	return 0;
}

static int disk_parse(struct agent_frame *f, const uint8_t *a,
		      struct agent_disk *d)
{
	const uint8_t *tb[XBA_DISK_A_MAX + 1];
	int err;

	err = attrs_parse(f, attr_val(a), attr_len(a), disk_policy,
			  XBA_DISK_A_MAX, tb);
	if (err)
		return err;
	copy_str(d->name, tb[XBA_DISK_A_NAME]);
	d->size = get_be64(attr_val(tb[XBA_DISK_A_SIZE]));
	copy_str(d->model, tb[XBA_DISK_A_MODEL]);
	copy_str(d->serial, tb[XBA_DISK_A_SERIAL]);
	d->rotational = -1;
	if (tb[XBA_DISK_A_ROTATIONAL]) {
		d->rotational = *attr_val(tb[XBA_DISK_A_ROTATIONAL]);
		if (d->rotational > 1)
			return fail(f, -EINVAL, "rotational is not 0 or 1");
	}
	return 0;
}

static int nics_parse(struct agent_frame *f, struct agent_inventory *inv)
{
	const uint8_t *nics = f->attr[XBA_A_NICS], *a;
	struct attr_iter it;
	unsigned int i = 0;
	int err;

	err = list_parse(f, nics, nest_list_policy, XBA_NICS_MAX, &inv->n_nics);
	if (err || !nics)
		return err;
	iter_init(&it, attr_val(nics), attr_len(nics), XBA_LIST_ENTRY);
	while (!err && (a = iter_next(&it)))
		err = nic_parse(f, a, &inv->nics[i++]);
	return err;
}

static int disks_parse(struct agent_frame *f, struct agent_inventory *inv)
{
	const uint8_t *disks = f->attr[XBA_A_DISKS], *a;
	struct attr_iter it;
	unsigned int i = 0;
	int err;

	err = list_parse(f, disks, nest_list_policy, XBA_DISKS_MAX,
			 &inv->n_disks);
	if (err || !disks)
		return err;
	iter_init(&it, attr_val(disks), attr_len(disks), XBA_LIST_ENTRY);
	while (!err && (a = iter_next(&it)))
		err = disk_parse(f, a, &inv->disks[i++]);
	return err;
}

int agent_parse_inventory(struct agent_frame *f, struct agent_inventory *inv)
{
	int err;

	memset(inv, 0, sizeof(*inv));
	err = want(f, XBA_MSG_INVENTORY);
	if (err)
		return err;
	copy_str(inv->vendor, f->attr[XBA_A_VENDOR]);
	copy_str(inv->product, f->attr[XBA_A_PRODUCT]);
	copy_str(inv->serial, f->attr[XBA_A_SERIAL]);
	inv->cpus = a_u32(f, XBA_A_CPUS);
	inv->memory_bytes = a_u64(f, XBA_A_MEMORY_BYTES);
	err = nics_parse(f, inv);
	return err ? err : disks_parse(f, inv);
}

int agent_parse_job(struct agent_frame *f, struct agent_job *j)
{
	struct attr_iter it;
	const uint8_t *a;
	int err;

	memset(j, 0, sizeof(*j));
	err = want(f, XBA_MSG_JOB);
	if (err)
		return err;
	j->id = a_u64(f, XBA_A_JOB_ID);
	j->type = a_u16(f, XBA_A_JOB_TYPE);
	j->timeout_s = a_u32(f, XBA_A_JOB_TIMEOUT_S);
	if (!j->id)
		return fail(f, -EINVAL, "job id 0");
	iter_init(&it, f->body, f->body_len, XBA_A_JOB_ARG);
	while ((a = iter_next(&it))) {
		if (j->n_args == XBA_JOB_ARGS_MAX)
			return fail(f, -E2BIG, "too many job arguments");
		j->args[j->n_args++] = (const char *)attr_val(a);
	}
	return 0;
}

int agent_parse_job_status(struct agent_frame *f, struct agent_job_status *s)
{
	int err;

	memset(s, 0, sizeof(*s));
	err = want(f, XBA_MSG_JOB_STATUS);
	if (err)
		return err;
	s->id = a_u64(f, XBA_A_JOB_ID);
	s->state = a_u8(f, XBA_A_JOB_STATE);
	if (!s->state || s->state >= __XBA_JOB_STATE_LAST)
		return fail(f, -EINVAL, "unknown job state");
	s->has_exit_code = !!f->attr[XBA_A_EXIT_CODE];
	s->exit_code = (int32_t)a_u32(f, XBA_A_EXIT_CODE);
	s->has_output_bytes = !!f->attr[XBA_A_OUTPUT_BYTES];
	s->output_bytes = a_u64(f, XBA_A_OUTPUT_BYTES);
	copy_str(s->text, f->attr[XBA_A_REASON_TEXT]);
	return 0;
}

int agent_parse_job_output(struct agent_frame *f, struct agent_job_output *o)
{
	int err;

	memset(o, 0, sizeof(*o));
	err = want(f, XBA_MSG_JOB_OUTPUT);
	if (err)
		return err;
	o->id = a_u64(f, XBA_A_JOB_ID);
	o->offset = a_u64(f, XBA_A_OFFSET);
	o->data = attr_val(f->attr[XBA_A_DATA]);
	o->len = attr_len(f->attr[XBA_A_DATA]);
	if (o->offset > UINT64_MAX - o->len)
		return fail(f, -EINVAL, "output offset overflows");
	return 0;
}

int agent_parse_ack(struct agent_frame *f, uint32_t *ack_seq)
{
	int err;

	*ack_seq = 0;
	err = want(f, XBA_MSG_ACK);
	if (err)
		return err;
	*ack_seq = a_u32(f, XBA_A_ACK_SEQ);
	return 0;
}

int agent_parse_bye(struct agent_frame *f, struct agent_bye *b)
{
	int err;

	memset(b, 0, sizeof(*b));
	err = want(f, XBA_MSG_BYE);
	if (err)
		return err;
	b->reason = a_u16(f, XBA_A_REASON);
	copy_str(b->text, f->attr[XBA_A_REASON_TEXT]);
	return 0;
}

/* --- typed encoders ----------------------------------------------------- */

static void put_opt_string(struct agent_msg *m, uint16_t type, const char *s)
{
	if (s[0])
		agent_put_string(m, type, s);
}

int agent_build_hello(struct agent_msg *m, const struct agent_hello *h)
{
	unsigned int i;

	agent_put_u8(m, XBA_A_VERSION_MIN, h->version_min);
	agent_put_u8(m, XBA_A_VERSION_MAX, h->version_max);
	agent_put_string(m, XBA_A_AGENT_VERSION, h->agent_version);
	agent_nest_begin(m, XBA_A_MACS);
	for (i = 0; i < h->n_macs && i < XBA_MACS_MAX; i++)
		agent_put_bytes(m, XBA_LIST_ENTRY, h->macs[i], XBA_MAC_LEN);
	agent_nest_end(m);
	if (h->has_uuid)
		agent_put_bytes(m, XBA_A_SYSTEM_UUID, h->uuid, XBA_UUID_LEN);
	agent_put_bytes(m, XBA_A_BOOT_ID, h->boot_id, XBA_BOOT_ID_LEN);
	agent_put_u32(m, XBA_A_RESUME_SEQ, h->resume_seq);
	if (h->has_token)
		agent_put_bytes(m, XBA_A_TOKEN, h->token, XBA_TOKEN_LEN);
	else
		agent_put_bytes(m, XBA_A_CREDENTIAL, h->credential,
				h->credential_len);
	return m->err;
}

int agent_build_welcome(struct agent_msg *m, const struct agent_welcome *w)
{
	agent_put_u8(m, XBA_A_VERSION, w->version);
	agent_put_u64(m, XBA_A_SESSION_ID, w->session_id);
	agent_put_u32(m, XBA_A_HEARTBEAT_MS, w->heartbeat_ms);
	agent_put_u32(m, XBA_A_RESUME_SEQ, w->resume_seq);
	if (w->has_token)
		agent_put_bytes(m, XBA_A_TOKEN, w->token, XBA_TOKEN_LEN);
	return m->err;
}

int agent_build_refused(struct agent_msg *m, const struct agent_refused *r)
{
	agent_put_u16(m, XBA_A_REASON, r->reason);
	put_opt_string(m, XBA_A_REASON_TEXT, r->text);
	if (r->retry_after_ms)
		agent_put_u32(m, XBA_A_RETRY_AFTER_MS, r->retry_after_ms);
	return m->err;
}

static void build_nic(struct agent_msg *m, const struct agent_nic *nic)
{
	agent_nest_begin(m, XBA_LIST_ENTRY);
	agent_put_bytes(m, XBA_NIC_A_MAC, nic->mac, XBA_MAC_LEN);
	agent_put_string(m, XBA_NIC_A_NAME, nic->name);
	if (nic->speed_mbps)
		agent_put_u32(m, XBA_NIC_A_SPEED_MBPS, nic->speed_mbps);
	agent_nest_end(m);
}

static void build_disk(struct agent_msg *m, const struct agent_disk *d)
{
	agent_nest_begin(m, XBA_LIST_ENTRY);
	agent_put_string(m, XBA_DISK_A_NAME, d->name);
	agent_put_u64(m, XBA_DISK_A_SIZE, d->size);
	put_opt_string(m, XBA_DISK_A_MODEL, d->model);
	put_opt_string(m, XBA_DISK_A_SERIAL, d->serial);
	if (d->rotational >= 0)
		agent_put_u8(m, XBA_DISK_A_ROTATIONAL, d->rotational);
	agent_nest_end(m);
}

int agent_build_inventory(struct agent_msg *m,
			  const struct agent_inventory *inv)
{
	unsigned int i;

	put_opt_string(m, XBA_A_VENDOR, inv->vendor);
	put_opt_string(m, XBA_A_PRODUCT, inv->product);
	put_opt_string(m, XBA_A_SERIAL, inv->serial);
	agent_put_u32(m, XBA_A_CPUS, inv->cpus);
	agent_put_u64(m, XBA_A_MEMORY_BYTES, inv->memory_bytes);
	if (inv->n_nics) {
		agent_nest_begin(m, XBA_A_NICS);
		for (i = 0; i < inv->n_nics && i < XBA_NICS_MAX; i++)
			build_nic(m, &inv->nics[i]);
		agent_nest_end(m);
	}
	if (inv->n_disks) {
		agent_nest_begin(m, XBA_A_DISKS);
		for (i = 0; i < inv->n_disks && i < XBA_DISKS_MAX; i++)
			build_disk(m, &inv->disks[i]);
		agent_nest_end(m);
	}
	return m->err;
}

int agent_build_job(struct agent_msg *m, const struct agent_job *j)
{
	unsigned int i;

	agent_put_u64(m, XBA_A_JOB_ID, j->id);
	agent_put_u16(m, XBA_A_JOB_TYPE, j->type);
	if (j->timeout_s)
		agent_put_u32(m, XBA_A_JOB_TIMEOUT_S, j->timeout_s);
	for (i = 0; i < j->n_args && i < XBA_JOB_ARGS_MAX; i++)
		agent_put_string(m, XBA_A_JOB_ARG, j->args[i]);
	return m->err;
}

int agent_build_job_status(struct agent_msg *m,
			   const struct agent_job_status *s)
{
	agent_put_u64(m, XBA_A_JOB_ID, s->id);
	agent_put_u8(m, XBA_A_JOB_STATE, s->state);
	if (s->has_exit_code)
		agent_put_u32(m, XBA_A_EXIT_CODE, (uint32_t)s->exit_code);
	if (s->has_output_bytes)
		agent_put_u64(m, XBA_A_OUTPUT_BYTES, s->output_bytes);
	put_opt_string(m, XBA_A_REASON_TEXT, s->text);
	return m->err;
}

int agent_build_job_output(struct agent_msg *m,
			   const struct agent_job_output *o)
{
	agent_put_u64(m, XBA_A_JOB_ID, o->id);
	agent_put_u64(m, XBA_A_OFFSET, o->offset);
	agent_put_bytes(m, XBA_A_DATA, o->data, o->len);
	return m->err;
}

int agent_build_ack(struct agent_msg *m, uint32_t ack_seq)
{
	return agent_put_u32(m, XBA_A_ACK_SEQ, ack_seq);
}

int agent_build_bye(struct agent_msg *m, const struct agent_bye *b)
{
	if (b->reason)
		agent_put_u16(m, XBA_A_REASON, b->reason);
	put_opt_string(m, XBA_A_REASON_TEXT, b->text);
	return m->err;
}

void agent_hello_wipe(struct agent_hello *h)
{
	explicit_bzero(h->credential, sizeof(h->credential));
	explicit_bzero(h->token, sizeof(h->token));
	h->credential_len = 0;
	h->has_token = false;
}

void agent_welcome_wipe(struct agent_welcome *w)
{
	explicit_bzero(w->token, sizeof(w->token));
	w->has_token = false;
}
