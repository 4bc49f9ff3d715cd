/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The client of xboot.ko's generic netlink family (include/uapi/linux/
 * xboot.h), on libnl-genl: register and drop boot files in the module's
 * page-cache block cache, list them, read its counters, and hear its events
 * (a file changed on disk and was dropped). Used by xbootd for its hot
 * files and by xbootctl's `cache` commands.
 */
#ifndef XBOOTD_KCACHE_H
#define XBOOTD_KCACHE_H

#include <stdint.h>

#include "uapi/linux/xboot.h"

struct kcache;

struct kcache_file {
	uint32_t id;
	uint32_t gen;
	uint64_t size;
	uint32_t pages;
	uint64_t dev; /* st_dev */
	uint64_t ino;
	uint64_t blocks;
	char path[4096];
};

struct kcache_stats {
	uint32_t files;
	uint64_t pinned;
	uint64_t blocks;
	uint64_t bytes;
	uint64_t misses;
	uint64_t drops;
	uint64_t pin_limit;
};

struct kcache_event {
	uint32_t event; /* enum xboot_event */
	uint32_t id;
	uint32_t gen;
	char path[4096];
};

/* Resolve the family. -ENOENT when xboot.ko is not loaded. With events,
 * also join the multicast group on a second socket (kcache_event_fd()). */
int kcache_open(struct kcache **out, int events);
void kcache_close(struct kcache *kc);
/* Commands; negative errno as the module returned it. */
int kcache_add(struct kcache *kc, const char *path, uint32_t flags,
	       struct kcache_file *out);
int kcache_del(struct kcache *kc, uint32_t id);
int kcache_get(struct kcache *kc, uint32_t id, struct kcache_file *out);
/* Calls fn for each registered file; stops at fn's first nonzero return
 * and returns it. */
int kcache_list(struct kcache *kc,
		int (*fn)(void *arg, const struct kcache_file *f), void *arg);
int kcache_stats(struct kcache *kc, struct kcache_stats *out);
/* The event socket (non-blocking); -1 without events. */
int kcache_event_fd(struct kcache *kc);
/* Read pending events and call fn for each; returns how many, or
 * -ENOBUFS when the socket overran and events were lost (list again). */
int kcache_poll_events(struct kcache *kc,
		       void (*fn)(void *arg, const struct kcache_event *ev),
		       void *arg);
/* The name of an enum xboot_event, for logs and xbootctl. */
const char *kcache_event_name(uint32_t event);

/* The parsers behind the calls above, on one generic netlink message of
 * the family (nlmsg_len bytes at nlh), so tests can feed crafted ones:
 * 0, or -EBADMSG when it is not command cmd, is malformed, or lacks an
 * attribute the UAPI header promises. */
struct nlmsghdr;
int kcache_parse_file(struct nlmsghdr *nlh, uint8_t cmd,
		      struct kcache_file *out);
int kcache_parse_stats(struct nlmsghdr *nlh, struct kcache_stats *out);
int kcache_parse_event(struct nlmsghdr *nlh, struct kcache_event *out);

#endif /* XBOOTD_KCACHE_H */
