/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kfuncs that lend the block cache to XDP and TC programs; their
 * contract is in include/uapi/linux/xboot.h.
 */
#ifndef XBOOT_KFUNC_H
#define XBOOT_KFUNC_H

#include <linux/types.h>

struct xdp_md;
struct __sk_buff;
struct xboot_copy_args;

int xb_kfunc_init(void);

/* Global (the verifier finds them by BTF name), so declared here. */
int bpf_xboot_xdp_copy(struct xdp_md *ctx, struct xboot_copy_args *args);
int bpf_xboot_skb_copy(struct __sk_buff *skb, struct xboot_copy_args *args);

#endif /* XBOOT_KFUNC_H */
