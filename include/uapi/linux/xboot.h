/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * xboot.ko's generic netlink family: the specification of the protocol
 * between the module and userspace (xbootd, xbootctl). Both sides include
 * this header; there is no other copy.
 *
 * The module keeps boot files in the page cache, holds their folios so they
 * are not evicted, and lends their bytes to XDP (and TC) programs through
 * the kfuncs declared at the end. A file is registered by path; a file that
 * changes on disk (written, truncated, unlinked, renamed over) is dropped at
 * once and reported on the "events" multicast group, never served stale.
 *
 * Family "xboot", version 1. Every command needs CAP_NET_ADMIN
 * (GENL_ADMIN_PERM: in the initial user namespace; the family answers in
 * every network namespace, and files are global), and joining "events"
 * needs CAP_NET_ADMIN over the caller's network namespace (-EPERM
 * otherwise). Attributes are appended, never renumbered. Unknown
 * attributes are rejected (strict validation); a flags word with a bit
 * outside its _F_ALL mask is -EOPNOTSUPP.
 *
 * XBOOT_CMD_FILE_ADD                              (doit)
 *   request:
 *     XBOOT_A_FILE_PATH: NUL-terminated absolute path, required
 *     XBOOT_A_FILE_FLAGS: u32, XBOOT_FILE_F_*, optional
 *   reply (XBOOT_CMD_FILE_ADD), the file as registered:
 *     XBOOT_A_FILE_ID, XBOOT_A_FILE_GEN, XBOOT_A_FILE_PATH,
 *     XBOOT_A_FILE_SIZE, XBOOT_A_FILE_PAGES, XBOOT_A_FILE_DEV,
 *     XBOOT_A_FILE_INO, XBOOT_A_FILE_BLOCKS
 *   errors: -EINVAL path missing, empty or relative; -EEXIST path (or the
 *   same inode) already registered and XBOOT_FILE_F_REPLACE not set;
 *   -ENOENT/-EACCES/-ELOOP from the lookup; -EINVAL not a regular file;
 *   -EFBIG larger than XBOOT_FILE_SIZE_MAX; -ENOSPC the pin limit
 *   (module parameter max_pinned_mb) or XBOOT_FILES_MAX would be passed;
 *   -EOPNOTSUPP unknown flag bits.
 *
 * XBOOT_CMD_FILE_DEL                              (doit)
 *   request: XBOOT_A_FILE_ID, required
 *   errors: -ENOENT no such file
 *
 * XBOOT_CMD_FILE_GET                              (doit and dumpit)
 *   doit request: XBOOT_A_FILE_ID, required; reply as for FILE_ADD
 *   dumpit: one XBOOT_CMD_FILE_GET message per registered file, as above
 *
 * XBOOT_CMD_STATS_GET                             (doit)
 *   reply:
 *     XBOOT_A_STATS_FILES: u32, files registered
 *     XBOOT_A_STATS_PINNED: u64, bytes held in the page cache
 *     XBOOT_A_STATS_BLOCKS: u64, blocks copied by the kfuncs
 *     XBOOT_A_STATS_BYTES: u64, bytes copied by the kfuncs
 *     XBOOT_A_STATS_MISSES: u64, kfunc calls refused (no such file,
 *                           stale generation, out of range)
 *     XBOOT_A_STATS_DROPS: u64, files dropped because they changed
 *     XBOOT_A_STATS_PIN_LIMIT: u64, bytes the module may pin
 *
 * XBOOT_CMD_FILE_EVENT                (multicast on XBOOT_MCGRP_EVENTS)
 *     XBOOT_A_EVENT: u32, enum xboot_event
 *     XBOOT_A_FILE_ID, XBOOT_A_FILE_GEN, XBOOT_A_FILE_PATH
 *
 * Numbers: a file id is never reused while the module is loaded; a
 * generation is the value the kfuncs check, bumped every time a path is
 * registered again (so a session begun on the old contents is refused).
 */
#ifndef _UAPI_LINUX_XBOOT_H
#define _UAPI_LINUX_XBOOT_H

#include <linux/types.h>

#define XBOOT_GENL_NAME "xboot"
#define XBOOT_GENL_VERSION 1
#define XBOOT_MCGRP_EVENTS "events"

#define XBOOT_FILES_MAX 256
#define XBOOT_FILE_SIZE_MAX (1ULL << 32) /* 4 GiB */

enum xboot_cmd {
	XBOOT_CMD_UNSPEC,
	XBOOT_CMD_FILE_ADD,
	XBOOT_CMD_FILE_DEL,
	XBOOT_CMD_FILE_GET,
	XBOOT_CMD_STATS_GET,
	XBOOT_CMD_FILE_EVENT,
	__XBOOT_CMD_MAX
};
#define XBOOT_CMD_MAX (__XBOOT_CMD_MAX - 1)

enum xboot_file_flag {
	/* Registering a path (or inode) that is already registered drops
	 * the old entry (XBOOT_EVENT_REPLACED) instead of -EEXIST. */
	XBOOT_FILE_F_REPLACE = 1U << 0,
	__XBOOT_FILE_F_ALL = XBOOT_FILE_F_REPLACE
};

enum xboot_event {
	XBOOT_EVENT_UNSPEC,
	XBOOT_EVENT_ADDED,    /* registered (by anyone) */
	XBOOT_EVENT_REMOVED,  /* XBOOT_CMD_FILE_DEL */
	XBOOT_EVENT_CHANGED,  /* written or truncated on disk: dropped */
	XBOOT_EVENT_GONE,     /* unlinked or renamed over: dropped */
	XBOOT_EVENT_REPLACED, /* XBOOT_FILE_F_REPLACE: the old entry dropped */
	__XBOOT_EVENT_MAX
};

enum xboot_attr {
	XBOOT_A_UNSPEC,
	XBOOT_A_FILE_ID,     /* u32 */
	XBOOT_A_FILE_GEN,    /* u32 */
	XBOOT_A_FILE_PATH,   /* NUL-terminated string, < PATH_MAX */
	XBOOT_A_FILE_FLAGS,  /* u32, XBOOT_FILE_F_* */
	XBOOT_A_FILE_SIZE,   /* u64 */
	XBOOT_A_FILE_PAGES,  /* u32, pages held */
	XBOOT_A_FILE_DEV,    /* u64, st_dev as userspace sees it */
	XBOOT_A_FILE_INO,    /* u64 */
	XBOOT_A_FILE_BLOCKS, /* u64, blocks of this file copied by kfuncs */
	XBOOT_A_EVENT,       /* u32, enum xboot_event */
	XBOOT_A_STATS_FILES,     /* u32 */
	XBOOT_A_STATS_PINNED,    /* u64 */
	XBOOT_A_STATS_BLOCKS,    /* u64 */
	XBOOT_A_STATS_BYTES,     /* u64 */
	XBOOT_A_STATS_MISSES,    /* u64 */
	XBOOT_A_STATS_DROPS,     /* u64 */
	XBOOT_A_STATS_PIN_LIMIT, /* u64 */
	XBOOT_A_PAD,
	__XBOOT_A_MAX
};
#define XBOOT_A_MAX (__XBOOT_A_MAX - 1)

/*
 * The kfuncs (module BTF; callable when xboot.ko is loaded):
 *
 *   int bpf_xboot_xdp_copy(struct xdp_md *ctx,
 *                          struct xboot_copy_args *args);
 *       XDP programs. Copies args->len bytes of file args->file_id
 *       (generation args->gen) at byte args->offset into the frame at
 *       args->pkt_off (the frame must already be that long).
 *       args->csum is in and out: the seed on entry, on return the seed
 *       with the copied bytes added (unfolded 32-bit ones' complement sum
 *       as bpf_csum_diff() returns it).
 *
 *   int bpf_xboot_skb_copy(struct __sk_buff *skb,
 *                          struct xboot_copy_args *args);
 *       TC (BPF_PROG_TYPE_SCHED_CLS) programs; the same, into the skb.
 *
 * Both return len, or a negative errno: -ENOENT no such file; -ESTALE
 * gen is not the file's current generation, or the file was dropped;
 * -ERANGE offset + len past the end of the file or pkt_off + len past the
 * end of the packet; -EINVAL len 0 or above XBOOT_COPY_MAX, or pad not 0.
 * The bytes go only into the packet's linear part (an skb's head: pull it
 * first with bpf_skb_pull_data()); bpf_xboot_skb_copy() also returns
 * -EBUSY for a cloned skb whose head is shared, which it will not write.
 *
 * The arguments travel in a struct because a BPF call passes at most five
 * (R1-R5; the verifier refuses a kfunc with more), and a pointer to a
 * struct of scalars on the program's stack is a memory argument the 6.1
 * verifier accepts, sized by the struct.
 */
struct xboot_copy_args {
	__u32 file_id;
	__u32 gen;
	__u64 offset;
	__u32 len;
	__u32 pkt_off;
	__u32 csum; /* in: the seed; out: the seed plus the copied bytes */
	__u32 pad;  /* 0 */
};

#define XBOOT_COPY_MAX 9000

#endif /* _UAPI_LINUX_XBOOT_H */
