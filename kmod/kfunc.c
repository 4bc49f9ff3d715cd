// SPDX-License-Identifier: GPL-2.0
/*
 * bpf_xboot_xdp_copy() and bpf_xboot_skb_copy(): copy a block of a
 * registered file into the packet. The packet-side checks live here; the
 * file side (lookup, staleness, the copy itself) is bcache_copy().
 *
 * Unload: a program that calls a module kfunc holds a reference on the
 * module for as long as it is loaded (the verifier takes it when it
 * resolves the call against the module's BTF), so rmmod fails with EBUSY
 * instead of pulling the code from under a running program.
 */
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/module.h>
#include <linux/skbuff.h>
#include <net/xdp.h>

#include <uapi/linux/xboot.h>

#include "bcache.h"
#include "compat.h"
#include "kfunc.h"

/* The checks that do not depend on the packet. pad must be 0 so it can
 * carry something one day. */
static int xb_copy_args_ok(const struct xboot_copy_args *args)
{
	if (!args->len || args->len > XBOOT_COPY_MAX || args->pad) {
		bcache_count_miss();
		return -EINVAL;
	}
	return 0;
}

static int xb_copy_into(void *pkt, u32 room, struct xboot_copy_args *args)
{
	int err;

	err = xb_copy_args_ok(args);
	if (err)
		return err;
	if ((u64)args->pkt_off + args->len > room) {
		bcache_count_miss();
		return -ERANGE;
	}
	return bcache_copy(args->file_id, args->gen, args->offset, args->len,
			   pkt + args->pkt_off, &args->csum);
}

__bpf_kfunc_start_defs();

__bpf_kfunc int bpf_xboot_xdp_copy(struct xdp_md *ctx,
				   struct xboot_copy_args *args)
{
	struct xdp_buff *xdp = (struct xdp_buff *)ctx;

	/* Only the linear part: the program sized the frame already. */
	return xb_copy_into(xdp->data, xdp->data_end - xdp->data, args);
}

__bpf_kfunc int bpf_xboot_skb_copy(struct __sk_buff *ctx,
				   struct xboot_copy_args *args)
{
	struct sk_buff *skb = (struct sk_buff *)ctx;
	u32 room = skb_headlen(skb);
	int ret;

	/*
	 * The verifier does not know this kfunc touches packet data, so it
	 * must not move it: no pulling, no unsharing. The program makes
	 * the bytes linear and private first (bpf_skb_pull_data()); a
	 * clone's shared head is refused rather than written through.
	 */
	if (skb_cloned(skb) && !skb_clone_writable(skb, room)) {
		bcache_count_miss();
		return -EBUSY;
	}
	ret = xb_copy_into(skb->data, room, args);
	/* The payload changed under a checksum the device computed. */
	if (ret > 0 && skb->ip_summed == CHECKSUM_COMPLETE)
		skb->ip_summed = CHECKSUM_NONE;
	return ret;
}

__bpf_kfunc_end_defs();

BTF_KFUNCS_START(xb_kfunc_ids)
BTF_ID_FLAGS(func, bpf_xboot_xdp_copy)
BTF_ID_FLAGS(func, bpf_xboot_skb_copy)
BTF_KFUNCS_END(xb_kfunc_ids)

static const struct btf_kfunc_id_set xb_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &xb_kfunc_ids,
};

/* There is no unregister: the sets go away with the module's BTF. */
int xb_kfunc_init(void)
{
	int err;

	err = register_btf_kfunc_id_set(BPF_PROG_TYPE_XDP, &xb_kfunc_set);
	if (err)
		return err;
	return register_btf_kfunc_id_set(BPF_PROG_TYPE_SCHED_CLS,
					 &xb_kfunc_set);
}
