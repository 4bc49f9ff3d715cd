// SPDX-License-Identifier: GPL-2.0
/*
 * XDP_PASS on the client end of a veth inside the VM, as
 * tests/lib/netns.sh's nx_xdp_pass builds it on the host (there is no clang
 * in the guest): a native XDP program on the peer makes the kernel deliver
 * the server's XDP_TX frames at once.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
