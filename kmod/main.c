// SPDX-License-Identifier: GPL-2.0
/*
 * xboot.ko: the page-cache block cache lent to the XDP fast path.
 *
 * This is the module's frame: it loads and unloads cleanly. The block cache,
 * the kfunc and the generic netlink family arrive with the kernel-module
 * issue; until then the XDP program serves from its own maps.
 */
#include <linux/module.h>

static int __init xboot_init(void)
{
	pr_info("xboot: loaded\n");
	return 0;
}

static void __exit xboot_exit(void)
{
	pr_info("xboot: unloaded\n");
}

module_init(xboot_init);
module_exit(xboot_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("xboot: page-cache boot file blocks for XDP");
MODULE_AUTHOR("xboot developers");
