/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent's hardware inventory, read from sysfs and procfs below a root
 * directory ("/" on a machine, a fake tree in tests) into the codec's
 * struct agent_inventory, ready for agent_build_inventory(). Collection is
 * best effort: a missing or odd file leaves its field empty, never fails
 * the whole inventory.
 */
#ifndef XBOOT_AGENT_INVENTORY_H
#define XBOOT_AGENT_INVENTORY_H

#include <stdint.h>

#include "agent_proto.h"

/*
 * Fills *out (zeroed first). 0, or -errno when root itself cannot be
 * opened. Lists keep the first XBA_NICS_MAX / XBA_DISKS_MAX entries in
 * kernel naming order (eth2 before eth10, sdz before sdaa); the rest are
 * logged with pr_warn, since the struct has no field to count them.
 */
int inventory_collect(const char *root, struct agent_inventory *out);

/*
 * The MAC addresses of the physical NICs, in the order and with the
 * filter of inventory_collect(), for HELLO's XBA_A_MACS: how many were
 * stored (at most max), or -errno when root cannot be opened.
 */
int inventory_macs(const char *root, uint8_t macs[][XBA_MAC_LEN], int max);

/*
 * The DMI system UUID (/sys/class/dmi/id/product_uuid) as 16 bytes in the
 * order the kernel prints them, for HELLO's XBA_A_SYSTEM_UUID. 0, -ENOENT
 * without the file (or permission to read it: it is root-only), -EINVAL
 * when it is not a UUID, -ENODATA for the all-zero and all-FF values
 * SMBIOS uses for "not set" and "not present".
 */
int inventory_system_uuid(const char *root, uint8_t uuid[XBA_UUID_LEN]);

#endif /* XBOOT_AGENT_INVENTORY_H */
