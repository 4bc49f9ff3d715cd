// SPDX-License-Identifier: GPL-2.0
/*
 * genl_raw: send one hand-made message to xboot.ko's generic netlink family
 * and print how the kernel answered. The VM test (tests/vm/kmod.sh) uses it
 * for what a well-behaved client (kcache.c, xbootctl) never sends: missing
 * and unknown attributes, unknown flag bits, unknown commands, and callers
 * without CAP_NET_ADMIN.
 *
 *   genl_raw [-u] [-d] CMD [TYPE:KIND=VALUE ...]
 *     CMD    add | del | get | stats | event | a number
 *     TYPE   id | gen | path | flags | event | next (XBOOT_A_MAX + 1, the
 *            first type this header does not know) | a number
 *     KIND   u32 | u64 | str (NUL-terminated) | bin (no NUL) | flag (no
 *            payload; write TYPE:flag=)
 *     -u     become uid/gid 65534 first: no capabilities at all
 *     -d     a dump request (NLM_F_DUMP) instead of a doit
 *     -f F   talk to family F instead (to check the tool on any kernel)
 *
 *   genl_raw -m SECONDS
 *     join the "events" multicast group and print each event that arrives
 *     within SECONDS as "event" and its attributes (then exit 0); prints
 *     "ready" once joined, so a test can start the change after it
 *
 * Prints one line: "OK" or the errno's name (e.g. "EINVAL"), then the
 * kernel's extended-ack message if it gave one, then for answers with
 * data "messages=N"; then one line per data message, "msg" and its
 * attributes as NAME=VALUE (u32/u64 by size, strings as they are).
 * Exit status: 0 the kernel answered, 3 the family is not registered
 * (xboot.ko not loaded), 2 anything else.
 */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "uapi/linux/xboot.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

struct answer {
	int err;	     /* 0 or a positive errno */
	int messages;	     /* data messages before the end */
	char extack[256];
	uint16_t family;     /* for the CTRL_CMD_GETFAMILY answer */
	uint32_t mcgrp;      /* the id of the "events" multicast group */
	const char *prefix;  /* of each data message's line: "msg", "event" */
	char text[16384];    /* the data messages, printed at the end */
	size_t used;
};

static const struct {
	const char *name;
	int val;
} cmd_names[] = {
	{ "add", XBOOT_CMD_FILE_ADD },	 { "del", XBOOT_CMD_FILE_DEL },
	{ "get", XBOOT_CMD_FILE_GET },	 { "stats", XBOOT_CMD_STATS_GET },
	{ "event", XBOOT_CMD_FILE_EVENT },
}, attr_names[] = {
	{ "id", XBOOT_A_FILE_ID },	 { "gen", XBOOT_A_FILE_GEN },
	{ "path", XBOOT_A_FILE_PATH },	 { "flags", XBOOT_A_FILE_FLAGS },
	{ "event", XBOOT_A_EVENT },	 { "next", XBOOT_A_MAX + 1 },
};

/* Names of the attributes in answers, by type. */
static const char *const answer_names[XBOOT_A_MAX + 1] = {
	[XBOOT_A_FILE_ID] = "id",	    [XBOOT_A_FILE_GEN] = "gen",
	[XBOOT_A_FILE_PATH] = "path",	    [XBOOT_A_FILE_FLAGS] = "flags",
	[XBOOT_A_FILE_SIZE] = "size",	    [XBOOT_A_FILE_PAGES] = "pages",
	[XBOOT_A_FILE_DEV] = "dev",	    [XBOOT_A_FILE_INO] = "ino",
	[XBOOT_A_FILE_BLOCKS] = "blocks",   [XBOOT_A_EVENT] = "event",
	[XBOOT_A_STATS_FILES] = "files",    [XBOOT_A_STATS_PINNED] = "pinned",
	[XBOOT_A_STATS_BLOCKS] = "kblocks", [XBOOT_A_STATS_BYTES] = "bytes",
	[XBOOT_A_STATS_MISSES] = "misses",  [XBOOT_A_STATS_DROPS] = "drops",
	[XBOOT_A_STATS_PIN_LIMIT] = "pin_limit",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int lookup(const char *s, int is_cmd)
{
	size_t i, n = is_cmd ? ARRAY_SIZE(cmd_names) : ARRAY_SIZE(attr_names);
	char *end;
	long v;

	for (i = 0; i < n; i++) {
		if (is_cmd && !strcmp(s, cmd_names[i].name))
			return cmd_names[i].val;
		if (!is_cmd && !strcmp(s, attr_names[i].name))
			return attr_names[i].val;
	}
	v = strtol(s, &end, 0);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 0xffff)
		return -1;
	return (int)v;
}

/* The extended ack's message, which follows the echoed request. */
static void parse_extack(const struct nlmsghdr *nlh, struct answer *a)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	mnl_attr_for_each_payload((const void *)((const char *)e + off),
				  mnl_nlmsg_get_payload_len(nlh) - off)
	{
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    !mnl_attr_validate(attr, MNL_TYPE_NUL_STRING))
			snprintf(a->extack, sizeof(a->extack), "%s",
				 mnl_attr_get_str(attr));
	}
}

/* One group of CTRL_ATTR_MCAST_GROUPS: remember the events group's id. */
static void parse_mcgrp(const struct nlattr *grp, struct answer *a)
{
	const struct nlattr *attr;
	const char *name = NULL;
	uint32_t id = 0;

	mnl_attr_for_each_nested(attr, grp)
	{
		if (mnl_attr_get_type(attr) == CTRL_ATTR_MCAST_GRP_NAME &&
		    !mnl_attr_validate(attr, MNL_TYPE_NUL_STRING))
			name = mnl_attr_get_str(attr);
		else if (mnl_attr_get_type(attr) == CTRL_ATTR_MCAST_GRP_ID &&
			 !mnl_attr_validate(attr, MNL_TYPE_U32))
			id = mnl_attr_get_u32(attr);
	}
	if (name && !strcmp(name, XBOOT_MCGRP_EVENTS))
		a->mcgrp = id;
}

static int family_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr *grp;
	struct answer *a = data;

	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID &&
	    !mnl_attr_validate(attr, MNL_TYPE_U16))
		a->family = mnl_attr_get_u16(attr);
	if (mnl_attr_get_type(attr) == CTRL_ATTR_MCAST_GROUPS) {
		mnl_attr_for_each_nested(grp, attr)
			parse_mcgrp(grp, a);
	}
	return MNL_CB_OK;
}

static void append(struct answer *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void append(struct answer *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->used >= sizeof(a->text))
		return;
	va_start(ap, fmt);
	n = vsnprintf(a->text + a->used, sizeof(a->text) - a->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		a->used += (size_t)n;
}

static int answer_attr_cb(const struct nlattr *attr, void *data)
{
	uint16_t type = mnl_attr_get_type(attr), len = mnl_attr_get_payload_len(attr);
	struct answer *a = data;
	const char *name = type <= XBOOT_A_MAX ? answer_names[type] : NULL;
	char num[16];

	if (!name) {
		snprintf(num, sizeof(num), "a%u", type);
		name = num;
	}
	if (type == XBOOT_A_FILE_PATH && !mnl_attr_validate(attr, MNL_TYPE_NUL_STRING))
		append(a, " %s=%s", name, mnl_attr_get_str(attr));
	else if (len == 4)
		append(a, " %s=%u", name, mnl_attr_get_u32(attr));
	else if (len == 8)
		append(a, " %s=%llu", name, (unsigned long long)mnl_attr_get_u64(attr));
	else
		append(a, " %s=<%u bytes>", name, len);
	return MNL_CB_OK;
}

static int data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct answer *a = data;

	a->messages++;
	if (nlh->nlmsg_type == GENL_ID_CTRL) {
		mnl_attr_parse(nlh, GENL_HDRLEN, family_attr_cb, a);
		return MNL_CB_OK;
	}
	append(a, "%s", a->prefix ? a->prefix : "msg");
	mnl_attr_parse(nlh, GENL_HDRLEN, answer_attr_cb, a);
	append(a, "\n");
	return MNL_CB_OK;
}

static int error_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	struct answer *a = data;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return MNL_CB_ERROR;
	a->err = -e->error;
	parse_extack(nlh, a);
	return MNL_CB_STOP;
}

static int done_cb(const struct nlmsghdr *nlh, void *data)
{
	struct answer *a = data;
	const int *err = mnl_nlmsg_get_payload(nlh);

	/* A dump that failed part-way says so in NLMSG_DONE's payload. */
	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(*err) && *err < 0)
		a->err = -*err;
	return MNL_CB_STOP;
}

static mnl_cb_t ctl_cbs[NLMSG_MIN_TYPE] = {
	[NLMSG_ERROR] = error_cb,
	[NLMSG_DONE] = done_cb,
};

/* Send nlh and read until its ACK, error or end of dump. */
static int transact(struct mnl_socket *nl, struct nlmsghdr *nlh,
		    struct answer *a)
{
	char buf[32768];
	unsigned int portid = mnl_socket_get_portid(nl);
	int n;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		n = mnl_cb_run2(buf, (size_t)n, nlh->nlmsg_seq, portid, data_cb,
				a, ctl_cbs, ARRAY_SIZE(ctl_cbs));
		if (n <= MNL_CB_STOP)
			return n < 0 ? -errno : 0;
	}
}

static struct nlmsghdr *genl_start(char *buf, uint16_t type, uint8_t cmd,
				   uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = XBOOT_GENL_VERSION;
	return nlh;
}

static const char *family_name = XBOOT_GENL_NAME;

static int resolve_family(struct mnl_socket *nl, uint16_t *id, uint32_t *mcgrp)
{
	char buf[8192];
	struct answer a = { 0 };
	struct nlmsghdr *nlh;
	int ret;

	nlh = genl_start(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, family_name);
	ret = transact(nl, nlh, &a);
	if (ret)
		return ret;
	if (a.err)
		return -a.err;
	if (!a.family)
		return -ENOENT;
	*id = a.family;
	*mcgrp = a.mcgrp;
	return 0;
}

/* -m: print the events of the next `seconds` seconds. */
static int listen_events(struct mnl_socket *nl, uint32_t mcgrp, int seconds)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200 * 1000 };
	time_t end = time(NULL) + seconds;
	char buf[32768];
	struct answer *a;
	ssize_t n;
	int fd = mnl_socket_get_fd(nl);

	if (!mcgrp) {
		printf("ENOENT no \"%s\" multicast group\n", XBOOT_MCGRP_EVENTS);
		return 2;
	}
	if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &mcgrp, sizeof(mcgrp)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		perror("genl_raw: joining the events group");
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	a = calloc(1, sizeof(*a));
	if (!a)
		return 2;
	a->prefix = "event";
	while (time(NULL) < end) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			continue;
		a->used = 0;
		mnl_cb_run(buf, (size_t)n, 0, 0, data_cb, a);
		printf("%.*s", (int)a->used, a->text);
		fflush(stdout);
	}
	free(a);
	return 0;
}

/* TYPE:KIND=VALUE onto nlh. */
static int put_attr(struct nlmsghdr *nlh, const char *spec)
{
	char type_s[32], kind[8];
	const char *colon = strchr(spec, ':'), *eq = strchr(spec, '=');
	int type;

	if (!colon || !eq || eq < colon || (size_t)(colon - spec) >= sizeof(type_s) ||
	    (size_t)(eq - colon - 1) >= sizeof(kind))
		return -EINVAL;
	memcpy(type_s, spec, (size_t)(colon - spec));
	type_s[colon - spec] = '\0';
	memcpy(kind, colon + 1, (size_t)(eq - colon - 1));
	kind[eq - colon - 1] = '\0';
	type = lookup(type_s, 0);
	if (type < 0)
		return -EINVAL;
	if (!strcmp(kind, "u32"))
		mnl_attr_put_u32(nlh, (uint16_t)type, (uint32_t)strtoul(eq + 1, NULL, 0));
	else if (!strcmp(kind, "u64"))
		mnl_attr_put_u64(nlh, (uint16_t)type, strtoull(eq + 1, NULL, 0));
	else if (!strcmp(kind, "str"))
		mnl_attr_put_strz(nlh, (uint16_t)type, eq + 1);
	else if (!strcmp(kind, "bin"))
		mnl_attr_put_str(nlh, (uint16_t)type, eq + 1);
	else if (!strcmp(kind, "flag"))
		mnl_attr_put(nlh, (uint16_t)type, 0, NULL);
	else
		return -EINVAL;
	return 0;
}

static int drop_privileges(void)
{
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534))
		return -errno;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: genl_raw [-u] [-d] [-f FAMILY] add|del|get|stats|event|N "
			"[TYPE:u32|u64|str|bin|flag=VALUE ...]\n"
			"       genl_raw [-f FAMILY] -m SECONDS\n");
	exit(2);
}

static void print_answer(const struct answer *a)
{
	const char *name = a->err ? strerrorname_np(a->err) : "OK";

	printf("%s", name ? name : "E?");
	if (a->extack[0])
		printf(" extack=\"%s\"", a->extack);
	if (a->messages)
		printf(" messages=%d", a->messages);
	printf("\n%.*s", (int)a->used, a->text);
}

int main(int argc, char **argv)
{
	char buf[8192];
	struct answer a = { 0 };
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	uint16_t family, flags = 0;
	int opt, cmd = -1, one = 1, i, ret, listen_s = 0;
	uint32_t mcgrp;

	while ((opt = getopt(argc, argv, "udf:m:")) != -1) {
		if (opt == 'u' && drop_privileges()) {
			perror("genl_raw: dropping privileges");
			return 2;
		} else if (opt == 'f') {
			family_name = optarg;
		} else if (opt == 'd') {
			flags |= NLM_F_DUMP;
		} else if (opt == 'm') {
			listen_s = atoi(optarg);
		} else if (opt != 'u') {
			usage();
		}
	}
	if (!listen_s &&
	    (optind >= argc || (cmd = lookup(argv[optind], 1)) < 0 || cmd > 255))
		usage();

	nl = mnl_socket_open(NETLINK_GENERIC);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("genl_raw: netlink socket");
		return 2;
	}
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	ret = resolve_family(nl, &family, &mcgrp);
	if (ret) {
		printf("%s family \"%s\" not found\n", strerrorname_np(-ret),
		       family_name);
		mnl_socket_close(nl);
		return ret == -ENOENT ? 3 : 2;
	}

	if (listen_s) {
		ret = listen_events(nl, mcgrp, listen_s);
		mnl_socket_close(nl);
		return ret;
	}
	nlh = genl_start(buf, family, (uint8_t)cmd, flags);
	for (i = optind + 1; i < argc; i++) {
		if (put_attr(nlh, argv[i])) {
			fprintf(stderr, "genl_raw: bad attribute '%s'\n", argv[i]);
			usage();
		}
	}
	ret = transact(nl, nlh, &a);
	mnl_socket_close(nl);
	if (ret) {
		fprintf(stderr, "genl_raw: %s\n", strerror(-ret));
		return 2;
	}
	print_answer(&a);
	return 0;
}
