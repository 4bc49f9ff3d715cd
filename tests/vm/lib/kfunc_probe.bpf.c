// SPDX-License-Identifier: GPL-2.0
/*
 * The VM test's probe of xboot.ko's XDP kfunc (tests/vm/kmod.sh): run with
 * BPF_PROG_TEST_RUN (`bpftool prog run`), it reads a struct
 * xboot_copy_args from the start of the frame, calls bpf_xboot_xdp_copy()
 * with it, and writes the result back into the frame, so the test checks
 * each return code and the copied bytes against the file from the shell.
 *
 *   frame:  0  struct xboot_copy_args (in; csum out)
 *          32  __s32 the kfunc's return value (out)
 *          36  the rest: where args.pkt_off points the copy
 *
 * xboot_kfunc_probe_tc does the same with bpf_xboot_skb_copy() for TC
 * (the skb test run hands it the same bytes as its linear data).
 *
 * Attached to an interface, the XDP one also holds the module (its BTF)
 * while the test tries to unload it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "uapi/linux/xboot.h"

extern int bpf_xboot_xdp_copy(struct xdp_md *ctx,
			      struct xboot_copy_args *args) __ksym;
extern int bpf_xboot_skb_copy(struct __sk_buff *skb,
			      struct xboot_copy_args *args) __ksym;

struct probe_frame {
	struct xboot_copy_args args;
	__s32 ret;
};

SEC("xdp")
int xboot_kfunc_probe(struct xdp_md *ctx)
{
	struct probe_frame *f = (void *)(long)ctx->data;
	struct xboot_copy_args args;
	int ret;

	if ((void *)(f + 1) > (void *)(long)ctx->data_end)
		return XDP_PASS;
	__builtin_memcpy(&args, &f->args, sizeof(args));
	ret = bpf_xboot_xdp_copy(ctx, &args);
	/* The kfunc may have written the frame: look at it afresh. */
	f = (void *)(long)ctx->data;
	if ((void *)(f + 1) > (void *)(long)ctx->data_end)
		return XDP_PASS;
	f->args.csum = args.csum;
	f->ret = ret;
	return XDP_PASS;
}

SEC("tc")
int xboot_kfunc_probe_tc(struct __sk_buff *skb)
{
	struct probe_frame *f = (void *)(long)skb->data;
	struct xboot_copy_args args;
	int ret;

	if ((void *)(f + 1) > (void *)(long)skb->data_end)
		return 0;
	__builtin_memcpy(&args, &f->args, sizeof(args));
	ret = bpf_xboot_skb_copy(skb, &args);
	f = (void *)(long)skb->data;
	if ((void *)(f + 1) > (void *)(long)skb->data_end)
		return 0;
	f->args.csum = args.csum;
	f->ret = ret;
	return 0;
}

char _license[] SEC("license") = "GPL";
