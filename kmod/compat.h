/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel API differences between 6.1 (Debian 12, the default
 * target) and newer trees. Only what xboot.ko uses; one macro per
 * difference, keyed on the version that introduced it.
 */
#ifndef XBOOT_COMPAT_H
#define XBOOT_COMPAT_H

#include <linux/version.h>
#include <linux/fs.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>

/* 6.5 marks kfuncs with __bpf_kfunc so they survive LTO and are kept in
 * BTF; before, a global noinline function was enough. */
#ifndef __bpf_kfunc
#define __bpf_kfunc __used noinline
#endif

/* 6.5 wraps kfunc definitions to silence -Wmissing-prototypes. */
#ifndef __bpf_kfunc_start_defs
#define __bpf_kfunc_start_defs()
#define __bpf_kfunc_end_defs()
#endif

/* 6.8 renamed the kfunc id set from BTF_SET8 to BTF_KFUNCS. */
#ifndef BTF_KFUNCS_START
#define BTF_KFUNCS_START(name) BTF_SET8_START(name)
#define BTF_KFUNCS_END(name) BTF_SET8_END(name)
#endif

/* 6.6 and 6.7 hid the inode timestamps behind accessors. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
#define xb_inode_mtime(inode) inode_get_mtime(inode)
#define xb_inode_ctime(inode) inode_get_ctime(inode)
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#define xb_inode_mtime(inode) ((inode)->i_mtime)
#define xb_inode_ctime(inode) inode_get_ctime(inode)
#else
#define xb_inode_mtime(inode) ((inode)->i_mtime)
#define xb_inode_ctime(inode) ((inode)->i_ctime)
#endif

#endif /* XBOOT_COMPAT_H */
