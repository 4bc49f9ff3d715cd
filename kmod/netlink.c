// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "xboot": the admin interface to the block
 * cache. Every op has its own strict policy (unknown attributes are
 * refused by the core), needs CAP_NET_ADMIN, and explains each refusal in
 * the extended ack. Replies and events carry one attribute per field.
 */
#include <linux/module.h>
#include <net/genetlink.h>

#include <uapi/linux/xboot.h>

#include "bcache.h"
#include "netlink.h"

static struct genl_family xb_genl_family;
static bool xb_genl_registered;

static const struct nla_policy xb_add_policy[XBOOT_A_MAX + 1] = {
	[XBOOT_A_FILE_PATH] = { .type = NLA_NUL_STRING, .len = PATH_MAX - 1 },
	[XBOOT_A_FILE_FLAGS] = { .type = NLA_U32 },
};

static const struct nla_policy xb_id_policy[XBOOT_A_MAX + 1] = {
	[XBOOT_A_FILE_ID] = { .type = NLA_U32 },
};

static size_t xb_file_msg_size(const struct xb_file_info *info)
{
	return nla_total_size(sizeof(u32)) * 4 + /* id, gen, pages, event */
	       nla_total_size_64bit(sizeof(u64)) * 4 + /* size, dev, ino, blocks */
	       nla_total_size(strlen(info->path) + 1);
}

static int xb_put_file(struct sk_buff *skb, const struct xb_file_info *info)
{
	if (nla_put_u32(skb, XBOOT_A_FILE_ID, info->id) ||
	    nla_put_u32(skb, XBOOT_A_FILE_GEN, info->gen) ||
	    nla_put_string(skb, XBOOT_A_FILE_PATH, info->path) ||
	    nla_put_u64_64bit(skb, XBOOT_A_FILE_SIZE, info->size, XBOOT_A_PAD) ||
	    nla_put_u32(skb, XBOOT_A_FILE_PAGES, info->pages) ||
	    nla_put_u64_64bit(skb, XBOOT_A_FILE_DEV, info->dev, XBOOT_A_PAD) ||
	    nla_put_u64_64bit(skb, XBOOT_A_FILE_INO, info->ino, XBOOT_A_PAD) ||
	    nla_put_u64_64bit(skb, XBOOT_A_FILE_BLOCKS, info->blocks,
			      XBOOT_A_PAD))
		return -EMSGSIZE;
	return 0;
}

struct xb_reply {
	struct genl_info *info;
	struct sk_buff *skb;
};

/* Room for any file: the path is the only attribute of variable size. */
#define XB_FILE_MSG_MAX (PATH_MAX + 256)

/* Fill a doit's reply with one file; may run under the cache's RCU lock,
 * so it only writes into the message allocated beforehand. */
static int xb_fill_reply(const struct xb_file_info *info, void *arg)
{
	struct xb_reply *r = arg;
	void *hdr;

	hdr = genlmsg_put_reply(r->skb, r->info, &xb_genl_family, 0,
				r->info->genlhdr->cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (xb_put_file(r->skb, info)) {
		genlmsg_cancel(r->skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(r->skb, hdr);
	return 0;
}

/* Run a cache call that answers with one file, and send the answer. */
static int xb_reply_file(struct genl_info *info,
			 int (*call)(struct xb_reply *r, void *arg), void *arg)
{
	struct xb_reply r = { .info = info };
	int err;

	r.skb = genlmsg_new(XB_FILE_MSG_MAX, GFP_KERNEL);
	if (!r.skb)
		return -ENOMEM;
	err = call(&r, arg);
	if (err) {
		nlmsg_free(r.skb);
		return err;
	}
	return genlmsg_reply(r.skb, info);
}

struct xb_add_req {
	const char *path;
	u32 flags;
};

static int xb_call_add(struct xb_reply *r, void *arg)
{
	struct xb_add_req *req = arg;

	return bcache_add(req->path, req->flags, xb_fill_reply, r,
			  r->info->extack);
}

static int xb_call_get(struct xb_reply *r, void *arg)
{
	return bcache_get(*(u32 *)arg, xb_fill_reply, r);
}

static int xb_genl_file_add(struct sk_buff *skb, struct genl_info *info)
{
	struct netlink_ext_ack *extack = info->extack;
	struct xb_add_req req;
	const char *path;
	u32 flags = 0;

	if (GENL_REQ_ATTR_CHECK(info, XBOOT_A_FILE_PATH))
		return -EINVAL;
	path = nla_data(info->attrs[XBOOT_A_FILE_PATH]);
	if (path[0] != '/') {
		NL_SET_ERR_MSG_ATTR(extack, info->attrs[XBOOT_A_FILE_PATH],
				    "path must be absolute");
		return -EINVAL;
	}
	if (info->attrs[XBOOT_A_FILE_FLAGS])
		flags = nla_get_u32(info->attrs[XBOOT_A_FILE_FLAGS]);
	if (flags & ~__XBOOT_FILE_F_ALL) {
		NL_SET_ERR_MSG_ATTR(extack, info->attrs[XBOOT_A_FILE_FLAGS],
				    "unknown flag bits");
		return -EOPNOTSUPP;
	}
	req.path = path;
	req.flags = flags;
	return xb_reply_file(info, xb_call_add, &req);
}

static int xb_genl_file_del(struct sk_buff *skb, struct genl_info *info)
{
	int err;

	if (GENL_REQ_ATTR_CHECK(info, XBOOT_A_FILE_ID))
		return -EINVAL;
	err = bcache_del(nla_get_u32(info->attrs[XBOOT_A_FILE_ID]));
	if (err)
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[XBOOT_A_FILE_ID],
				    "no such file");
	return err;
}

static int xb_genl_file_get(struct sk_buff *skb, struct genl_info *info)
{
	u32 id;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, XBOOT_A_FILE_ID))
		return -EINVAL;
	id = nla_get_u32(info->attrs[XBOOT_A_FILE_ID]);
	err = xb_reply_file(info, xb_call_get, &id);
	if (err == -ENOENT)
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[XBOOT_A_FILE_ID],
				    "no such file");
	return err;
}

struct xb_dump {
	struct sk_buff *skb;
	struct netlink_callback *cb;
};

static int xb_dump_file(const struct xb_file_info *info, void *arg)
{
	struct xb_dump *d = arg;
	void *hdr;

	hdr = genlmsg_put(d->skb, NETLINK_CB(d->cb->skb).portid,
			  d->cb->nlh->nlmsg_seq, &xb_genl_family, NLM_F_MULTI,
			  XBOOT_CMD_FILE_GET);
	if (!hdr)
		return -EMSGSIZE;
	if (xb_put_file(d->skb, info)) {
		genlmsg_cancel(d->skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(d->skb, hdr);
	return 0;
}

/* cb->args[0]: the id to resume from; ULONG_MAX once done. */
static int xb_genl_file_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct xb_dump d = { .skb = skb, .cb = cb };
	unsigned long next = cb->args[0];
	int err;

	if (next == ULONG_MAX)
		return 0;
	err = bcache_walk(&next, xb_dump_file, &d);
	cb->args[0] = next;
	/* A file that does not fit even an empty message never will. */
	if (err && !skb->len)
		return err;
	return skb->len;
}

static int xb_genl_stats_get(struct sk_buff *skb, struct genl_info *info)
{
	struct xb_stats st;
	struct sk_buff *msg;
	void *hdr;

	bcache_stats(&st);
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &xb_genl_family, 0,
				XBOOT_CMD_STATS_GET);
	if (!hdr ||
	    nla_put_u32(msg, XBOOT_A_STATS_FILES, st.files) ||
	    nla_put_u64_64bit(msg, XBOOT_A_STATS_PINNED, st.pinned, XBOOT_A_PAD) ||
	    nla_put_u64_64bit(msg, XBOOT_A_STATS_BLOCKS, st.blocks, XBOOT_A_PAD) ||
	    nla_put_u64_64bit(msg, XBOOT_A_STATS_BYTES, st.bytes, XBOOT_A_PAD) ||
	    nla_put_u64_64bit(msg, XBOOT_A_STATS_MISSES, st.misses, XBOOT_A_PAD) ||
	    nla_put_u64_64bit(msg, XBOOT_A_STATS_DROPS, st.drops, XBOOT_A_PAD) ||
	    nla_put_u64_64bit(msg, XBOOT_A_STATS_PIN_LIMIT, st.pin_limit,
			      XBOOT_A_PAD)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

void xb_genl_notify(u32 event, const struct xb_file_info *info)
{
	struct sk_buff *skb;
	void *hdr;

	if (!READ_ONCE(xb_genl_registered))
		return;
	skb = genlmsg_new(xb_file_msg_size(info), GFP_KERNEL);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &xb_genl_family, 0, XBOOT_CMD_FILE_EVENT);
	if (!hdr || nla_put_u32(skb, XBOOT_A_EVENT, event) ||
	    nla_put_u32(skb, XBOOT_A_FILE_ID, info->id) ||
	    nla_put_u32(skb, XBOOT_A_FILE_GEN, info->gen) ||
	    nla_put_string(skb, XBOOT_A_FILE_PATH, info->path)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	/* -ESRCH (nobody listening) is the common case, not an error. */
	genlmsg_multicast_allns(&xb_genl_family, skb, 0, 0);
}

/* Files are global, not per namespace: the family answers in every
 * network namespace, and GENL_ADMIN_PERM asks for CAP_NET_ADMIN in the
 * initial user namespace, so a user namespace cannot pin memory. */
static const struct genl_ops xb_genl_ops[] = {
	{
		.cmd = XBOOT_CMD_FILE_ADD,
		.doit = xb_genl_file_add,
		.policy = xb_add_policy,
		.maxattr = XBOOT_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = XBOOT_CMD_FILE_DEL,
		.doit = xb_genl_file_del,
		.policy = xb_id_policy,
		.maxattr = XBOOT_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = XBOOT_CMD_FILE_GET,
		.doit = xb_genl_file_get,
		.dumpit = xb_genl_file_dump,
		.policy = xb_id_policy,
		.maxattr = XBOOT_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		/* No policy: the core refuses any attribute. */
		.cmd = XBOOT_CMD_STATS_GET,
		.doit = xb_genl_stats_get,
		.flags = GENL_ADMIN_PERM,
	},
};

/* Events name files: only for those who may manage them. */
static const struct genl_multicast_group xb_genl_mcgrps[] = {
	{ .name = XBOOT_MCGRP_EVENTS, .flags = GENL_UNS_ADMIN_PERM },
};

static struct genl_family xb_genl_family __ro_after_init = {
	.name = XBOOT_GENL_NAME,
	.version = XBOOT_GENL_VERSION,
	.maxattr = XBOOT_A_MAX,
	.netnsok = true,
	/* Strict header checks and policies from the first command on. */
	.resv_start_op = XBOOT_CMD_FILE_ADD,
	.ops = xb_genl_ops,
	.n_ops = ARRAY_SIZE(xb_genl_ops),
	.mcgrps = xb_genl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(xb_genl_mcgrps),
	.module = THIS_MODULE,
};

int xb_genl_init(void)
{
	int err = genl_register_family(&xb_genl_family);

	if (!err)
		WRITE_ONCE(xb_genl_registered, true);
	return err;
}

void xb_genl_exit(void)
{
	WRITE_ONCE(xb_genl_registered, false);
	genl_unregister_family(&xb_genl_family);
}
