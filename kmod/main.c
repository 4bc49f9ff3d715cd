// SPDX-License-Identifier: GPL-2.0
/*
 * xboot.ko: boot files held in the page cache and lent to the XDP fast
 * path. Load order: the cache, its self-tests (debug builds), the kfuncs,
 * then the netlink family that lets userspace fill the cache.
 */
#include <linux/module.h>

#include "bcache.h"
#include "kfunc.h"
#include "netlink.h"

static int __init xboot_init(void)
{
	int err;

	err = bcache_init();
	if (err)
		return err;
	err = bcache_selftest();
	if (err)
		goto err_cache;
	err = xb_kfunc_init();
	if (err)
		goto err_cache;
	err = xb_genl_init();
	if (err)
		goto err_cache;
	pr_info("loaded\n");
	return 0;

err_cache:
	bcache_exit();
	return err;
}

static void __exit xboot_exit(void)
{
	xb_genl_exit();
	bcache_exit();
	pr_info("unloaded\n");
}

module_init(xboot_init);
module_exit(xboot_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("xboot: page-cache boot file blocks for XDP");
MODULE_AUTHOR("xboot developers");
