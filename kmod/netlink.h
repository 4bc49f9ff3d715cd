/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The generic netlink family "xboot" (include/uapi/linux/xboot.h).
 */
#ifndef XBOOT_NETLINK_H
#define XBOOT_NETLINK_H

#include <linux/types.h>

struct xb_file_info;

int xb_genl_init(void);
void xb_genl_exit(void);
/* Multicast an XBOOT_CMD_FILE_EVENT on the "events" group; a no-op while
 * the family is not registered. */
void xb_genl_notify(u32 event, const struct xb_file_info *info);

#endif /* XBOOT_NETLINK_H */
