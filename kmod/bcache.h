/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The page-cache block cache: registered boot files whose folios xboot.ko
 * holds in the page cache, looked up by id from XDP/TC (RCU) and managed
 * over generic netlink (one mutex).
 */
#ifndef XBOOT_BCACHE_H
#define XBOOT_BCACHE_H

#include <linux/types.h>

struct netlink_ext_ack;

/* What a reply or an event says about a file: a snapshot, valid only
 * inside the callback that receives it. */
struct xb_file_info {
	u32 id;
	u32 gen;
	u32 pages;
	u64 size;
	u64 dev;
	u64 ino;
	u64 blocks;
	const char *path;
};

struct xb_stats {
	u32 files;
	u64 pinned;
	u64 blocks;
	u64 bytes;
	u64 misses;
	u64 drops;
	u64 pin_limit;
};

typedef int (*bcache_fill_fn)(const struct xb_file_info *info, void *arg);

int bcache_init(void);
void bcache_exit(void);

int bcache_add(const char *path, u32 flags, bcache_fill_fn fill, void *arg,
	       struct netlink_ext_ack *extack);
int bcache_del(u32 id);
int bcache_get(u32 id, bcache_fill_fn fill, void *arg);
int bcache_walk(unsigned long *next, bcache_fill_fn fill, void *arg);
void bcache_stats(struct xb_stats *stats);

/* The kfuncs' common body: copy len bytes of file id at offset into dst
 * (linear memory the caller bounds-checked), adding them to *csum. */
int bcache_copy(u32 id, u32 gen, u64 offset, u32 len, void *dst, u32 *csum);
/* Count a call refused before it reached the cache. */
void bcache_count_miss(void);

#ifdef XBOOT_SELFTEST
int bcache_selftest(void);
#else
static inline int bcache_selftest(void)
{
	return 0;
}
#endif

#endif /* XBOOT_BCACHE_H */
