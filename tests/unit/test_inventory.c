// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's inventory collector on fake sysfs/procfs trees
 * (tests/unit/data/inventory/): a whole machine, one without DMI, odd
 * files (empty, unterminated, oversized, binary), more disks than the
 * protocol carries (built at run time), and once on this host, where only
 * success is asserted since the host may have anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent_proto.h"
#include "inventory.h"

static char tree[PATH_MAX];

/* A tree under tests/unit/data/inventory, from the top of the repo. */
static const char *data(const char *name)
{
	const char *top = getenv("XBOOT_TOP");

	snprintf(tree, sizeof(tree), "%s/tests/unit/data/inventory/%s",
		 top ? top : ".", name);
	return tree;
}

static const struct agent_disk *find_disk(const struct agent_inventory *inv,
					  const char *name)
{
	unsigned int i;

	for (i = 0; i < inv->n_disks; i++)
		if (!strcmp(inv->disks[i].name, name))
			return &inv->disks[i];
	return NULL;
}

/* What the agent would send must be what the controller reads back. */
static void assert_round_trip(const struct agent_inventory *inv)
{
	static uint8_t buf[XBA_FRAME_MAX];
	static struct agent_inventory back;
	struct agent_frame f;
	struct agent_msg m;
	ssize_t len;

	agent_msg_init(&m, buf, sizeof(buf), XBA_MSG_INVENTORY, 0, 1);
	assert_int_equal(agent_build_inventory(&m, inv), 0);
	len = agent_msg_finish(&m);
	assert_true(len > 0);
	assert_int_equal(agent_frame_parse(buf, len, &f), len);
	memset(&back, 0, sizeof(back));
	assert_int_equal(agent_parse_inventory(&f, &back), 0);
	assert_int_equal(back.n_nics, inv->n_nics);
	assert_int_equal(back.n_disks, inv->n_disks);
	assert_int_equal(back.cpus, inv->cpus);
	assert_true(back.memory_bytes == inv->memory_bytes);
	assert_string_equal(back.serial, inv->serial);
}

static void test_full_machine(void **state)
{
	static const uint8_t mac1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const uint8_t mac2[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	static const uint8_t uuid_want[16] = {
		0x4c, 0x4c, 0x45, 0x44, 0x00, 0x42, 0x35, 0x10,
		0x80, 0x52, 0xb4, 0xc0, 0x4f, 0x33, 0x37, 0x32,
	};
	static struct agent_inventory inv;
	const struct agent_disk *d;
	uint8_t uuid[16];

	assert_int_equal(inventory_collect(data("full"), &inv), 0);
	assert_string_equal(inv.vendor, "QEMU");
	assert_string_equal(inv.product, "Standard PC (Q35 + ICH9, 2009)");
	assert_string_equal(inv.serial, "SN-12345");
	/* cpu0 (no online file), cpu1, cpu3; not cpu2 (offline), cpufreq */
	assert_int_equal(inv.cpus, 3);
	assert_true(inv.memory_bytes == 8041532ULL * 1024);

	/* lo and veth0 (no device link) are skipped; natural order */
	assert_int_equal(inv.n_nics, 2);
	assert_string_equal(inv.nics[0].name, "eno1");
	assert_memory_equal(inv.nics[0].mac, mac1, 6);
	assert_int_equal(inv.nics[0].speed_mbps, 1000);
	assert_string_equal(inv.nics[1].name, "enp2s0");
	assert_memory_equal(inv.nics[1].mac, mac2, 6);
	assert_int_equal(inv.nics[1].speed_mbps, 0); /* -1: no link */

	/* loop0 is skipped */
	assert_int_equal(inv.n_disks, 3);
	assert_null(find_disk(&inv, "loop0"));
	/* letters count like numbers: sda, vda, then nvme0n1 */
	assert_string_equal(inv.disks[0].name, "sda");
	assert_string_equal(inv.disks[1].name, "vda");
	assert_string_equal(inv.disks[2].name, "nvme0n1");
	d = find_disk(&inv, "nvme0n1");
	assert_true(d->size == 1000215216ULL * 512);
	assert_string_equal(d->model, "Samsung SSD 970 EVO Plus 500GB");
	assert_string_equal(d->serial, "S4EVNX0N123456A");
	assert_int_equal(d->rotational, 0);
	d = find_disk(&inv, "sda");
	assert_non_null(d);
	assert_true(d->size == 62914560ULL * 512);
	assert_string_equal(d->model, "QEMU HARDDISK");
	assert_string_equal(d->serial, "QM00001"); /* from VPD page 0x80 */
	assert_int_equal(d->rotational, 1);
	d = find_disk(&inv, "vda");
	assert_non_null(d);
	assert_string_equal(d->model, "");
	assert_string_equal(d->serial, "virtio-serial-7");

	assert_int_equal(inventory_system_uuid(data("full"), uuid), 0);
	assert_memory_equal(uuid, uuid_want, 16);
	assert_round_trip(&inv);
}

static void test_macs(void **state)
{
	uint8_t macs[XBA_MACS_MAX][XBA_MAC_LEN];
	static const uint8_t mac1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	assert_int_equal(inventory_macs(data("full"), macs, XBA_MACS_MAX), 2);
	assert_memory_equal(macs[0], mac1, 6);
	assert_int_equal(inventory_macs(data("full"), macs, 1), 1);
	assert_memory_equal(macs[0], mac1, 6);
	assert_int_equal(inventory_macs(data("full"), macs, 0), 0);
	assert_int_equal(inventory_macs(data("no-such-tree"), macs, 4),
			 -ENOENT);
}

static void test_missing_dmi(void **state)
{
	static struct agent_inventory inv;
	uint8_t uuid[16];

	assert_int_equal(inventory_collect(data("nodmi"), &inv), 0);
	assert_string_equal(inv.vendor, "");
	assert_string_equal(inv.product, "");
	assert_string_equal(inv.serial, "");
	assert_int_equal(inv.cpus, 1);
	assert_true(inv.memory_bytes == 1024 * 1024);
	assert_int_equal(inv.n_nics, 1);
	assert_string_equal(inv.nics[0].name, "eth0");
	assert_int_equal(inv.n_disks, 0); /* no /sys/block at all */
	assert_int_equal(inventory_system_uuid(data("nodmi"), uuid), -ENOENT);
	assert_round_trip(&inv);
}

static void test_odd_files(void **state)
{
	static struct agent_inventory inv;
	const struct agent_disk *d;
	uint8_t uuid[16];
	size_t i;

	assert_int_equal(inventory_collect(data("odd"), &inv), 0);
	assert_string_equal(inv.vendor, "");		/* empty file */
	assert_string_equal(inv.product, "No Newline Product");
	/* 300 characters, truncated to the field */
	assert_int_equal(strlen(inv.serial), XBA_DMI_MAX - 1);
	for (i = 0; i < XBA_DMI_MAX - 1; i++)
		assert_int_equal(inv.serial[i], 'X');
	assert_int_equal(inv.cpus, 0);		/* no cpu directory */
	assert_true(inv.memory_bytes == 0);	/* no MemTotal line */

	/* leading blanks trimmed, bad speed unknown, ib0's 20 bytes skipped */
	assert_int_equal(inv.n_nics, 1);
	assert_string_equal(inv.nics[0].name, "eth0");
	assert_int_equal(inv.nics[0].mac[5], 0x02);
	assert_int_equal(inv.nics[0].speed_mbps, 0);

	assert_int_equal(inv.n_disks, 2);
	d = find_disk(&inv, "sdb");
	assert_non_null(d);
	assert_true(d->size == 0);		/* "abc" */
	assert_string_equal(d->model, "");	/* empty */
	assert_int_equal(strlen(d->serial), XBA_DMI_MAX - 1);
	assert_int_equal(d->rotational, -1);	/* "2" */
	d = find_disk(&inv, "sdc");
	assert_non_null(d);
	/* binary: cut at the NUL, non-ASCII bytes replaced */
	assert_string_equal(d->model, "bin??ary");
	assert_int_equal(d->rotational, -1);	/* no queue directory */

	assert_int_equal(inventory_system_uuid(data("odd"), uuid), -EINVAL);
	assert_int_equal(inventory_system_uuid(data("bad-uuid"), uuid),
			 -EINVAL);
	assert_int_equal(inventory_system_uuid(data("zero-uuid"), uuid),
			 -ENODATA);
	assert_round_trip(&inv);
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

/*
 * sda..sdz, sdaa..sdal: 38 disks, more than XBA_DISKS_MAX (32), created in
 * reverse so that the order comes from the collector; and special files
 * git cannot hold.
 */
static void test_too_many_disks(void **state)
{
	static struct agent_inventory inv;
	char root[] = "/tmp/xboot-inventory-XXXXXX", path[PATH_MAX];
	char name[8];
	int i;

	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/sys", root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sys/block", root);
	assert_int_equal(mkdir(path, 0755), 0);
	for (i = 37; i >= 0; i--) {
		if (i < 26)
			snprintf(name, sizeof(name), "sd%c", 'a' + i);
		else
			snprintf(name, sizeof(name), "sda%c", 'a' + i - 26);
		snprintf(path, sizeof(path), "%s/sys/block/%s", root, name);
		assert_int_equal(mkdir(path, 0755), 0);
		assert_int_equal(write_file(path, "size", "2048\n"), 0);
	}

	/* files that are not files: a FIFO, an endless device, a directory */
	snprintf(path, sizeof(path), "%s/sys/block/sda/device", root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sys/block/sda/device/model", root);
	assert_int_equal(mkfifo(path, 0644), 0);
	snprintf(path, sizeof(path), "%s/sys/block/sda/device/serial", root);
	assert_int_equal(symlink("/dev/zero", path), 0);
	snprintf(path, sizeof(path), "%s/sys/block/sdb/queue", root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sys/block/sdb/queue/rotational",
		 root);
	assert_int_equal(mkdir(path, 0755), 0);

	assert_int_equal(inventory_collect(root, &inv), 0);
	assert_string_equal(inv.disks[0].model, "");
	assert_string_equal(inv.disks[0].serial, "");
	assert_int_equal(inv.disks[1].rotational, -1);
	assert_int_equal(inv.n_disks, XBA_DISKS_MAX);
	assert_string_equal(inv.disks[0].name, "sda");
	assert_string_equal(inv.disks[25].name, "sdz");
	assert_string_equal(inv.disks[26].name, "sdaa");
	assert_string_equal(inv.disks[31].name, "sdaf");
	assert_true(inv.disks[31].size == 2048 * 512);
	assert_round_trip(&inv);

	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	assert_int_equal(system(path), 0);
}

static void test_this_host(void **state)
{
	static struct agent_inventory inv;
	uint8_t macs[XBA_MACS_MAX][XBA_MAC_LEN];
	uint8_t uuid[16];
	int n;

	assert_int_equal(inventory_collect("/", &inv), 0);
	n = inventory_macs("/", macs, XBA_MACS_MAX);
	assert_true(n >= 0 && n <= XBA_MACS_MAX);
	n = inventory_system_uuid("/", uuid);
	assert_true(n == 0 || n == -ENOENT || n == -ENODATA || n == -EINVAL);
	print_message("host: %u cpus, %llu MiB, %u nics, %u disks, '%s'\n",
		      inv.cpus, (unsigned long long)(inv.memory_bytes >> 20),
		      inv.n_nics, inv.n_disks, inv.vendor);
	assert_round_trip(&inv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_machine),
		cmocka_unit_test(test_macs),
		cmocka_unit_test(test_missing_dmi),
		cmocka_unit_test(test_odd_files),
		cmocka_unit_test(test_too_many_disks),
		cmocka_unit_test(test_this_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
