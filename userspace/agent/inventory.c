// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's hardware inventory from sysfs and procfs. Every path is
 * opened relative to a root directory fd, so the same code reads a
 * machine ("/") and the fake trees of the unit test. Every read is bounded
 * by the field it fills: the files are small by nature, and an oversized
 * or binary one (a broken driver, a fuzzed tree) yields a truncated,
 * sanitized value instead of an error.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hex.h"
#include "inventory.h"
#include "log.h"

/* Longest entry name a list keeps: the larger of the protocol's names. */
#define INV_NAME_MAX XBA_DISK_NAME_MAX
/* Enough for any number, MAC or UUID attribute. */
#define INV_SMALL 64

/* --- bounded reads ------------------------------------------------------ */

/*
 * The head of a file below dfd, at most cap - 1 bytes, NUL-terminated: its
 * length or -errno. O_NONBLOCK so that a FIFO in a fake tree cannot hang
 * the agent.
 */
static ssize_t read_head(int dfd, const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;
	int fd, err;

	fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	while (len < cap - 1) {
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return len;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	       c == '\v' || c == '\f';
}

/* Strips leading and trailing whitespace in place. */
static void trim(char *s)
{
	size_t len = strlen(s), start = 0;

	while (len && is_space(s[len - 1]))
		len--;
	while (start < len && is_space(s[start]))
		start++;
	memmove(s, s + start, len - start);
	s[len - start] = '\0';
}

/*
 * SMBIOS and sysfs model/serial strings are ASCII; anything else (binary,
 * a UTF-8 sequence cut by the bound) becomes '?', so that the value is
 * always valid for the protocol's UTF-8 strings. Trims first: SCSI pads
 * its model with blanks.
 */
static void sanitize(char *s)
{
	trim(s);
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
}

/*
 * A text attribute into out, sanitized: "" when absent or unreadable. A
 * NUL ends the value.
 */
static void read_string(int dfd, const char *path, char *out, size_t size)
{
	if (read_head(dfd, path, out, size) < 0) {
		out[0] = '\0';
		return;
	}
	sanitize(out);
}

/* An unsigned decimal attribute: 0 or -errno (-EINVAL if not a number). */
static int read_u64(int dfd, const char *path, uint64_t *v)
{
	char buf[INV_SMALL], *end;
	ssize_t n;

	n = read_head(dfd, path, buf, sizeof(buf));
	if (n < 0)
		return n;
	trim(buf);
	if (!isdigit((unsigned char)buf[0]))
		return -EINVAL;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

static bool exists_at(int dfd, const char *path)
{
	struct stat st;

	return fstatat(dfd, path, &st, 0) == 0;
}

/*
 * "name/file" into path: false when it does not fit, which for names the
 * kernel makes never happens; callers then treat the file as absent.
 */
static bool attr_path(char *path, size_t size, const char *name,
		      const char *file)
{
	int n = snprintf(path, size, "%s/%s", name, file);

	return n >= 0 && (size_t)n < size;
}

/* A list entry's name into a protocol field: the scan made sure it fits. */
static void copy_name(char *dst, size_t size, const char *name)
{
	size_t len = strnlen(name, size - 1);

	memcpy(dst, name, len);
	dst[len] = '\0';
}

/* --- sorted, bounded name lists ------------------------------------------ */

struct name_list {
	char (*names)[INV_NAME_MAX];
	unsigned int max;
	unsigned int n;
	unsigned int dropped;
};

/* The length of the run of digits (or of non-digits) at s. */
static size_t run_len(const char *s, bool digits)
{
	size_t n = 0;

	while (s[n] && !!isdigit((unsigned char)s[n]) == digits)
		n++;
	return n;
}

/*
 * Kernel naming order: runs of digits and runs of letters both compare
 * like numbers, shorter (after leading zeros, for digits) first, so
 * eth2 < eth10 and sdz < sdaa (sd names count in bijective base 26).
 */
static int name_cmp(const char *a, const char *b)
{
	size_t la, lb;
	bool digits;
	int c;

	while (*a && *b) {
		digits = isdigit((unsigned char)*a);
		if (digits != !!isdigit((unsigned char)*b))
			return digits ? -1 : 1;
		if (digits) {
			while (a[0] == '0' && isdigit((unsigned char)a[1]))
				a++;
			while (b[0] == '0' && isdigit((unsigned char)b[1]))
				b++;
		}
		la = run_len(a, digits);
		lb = run_len(b, digits);
		if (la != lb)
			return la < lb ? -1 : 1;
		c = memcmp(a, b, la);
		if (c)
			return c;
		a += la;
		b += lb;
	}
	return *a ? 1 : *b ? -1 : 0;
}

/*
 * Keeps the max smallest names in name_cmp() order without storing the
 * rest, so a tree with thousands of entries costs no memory; dropped
 * counts what fell off.
 */
static void name_list_add(struct name_list *l, const char *name)
{
	unsigned int pos = l->n;

	while (pos && name_cmp(name, l->names[pos - 1]) < 0)
		pos--;
	if (pos == l->max) {
		l->dropped++;
		return;
	}
	if (l->n == l->max) {
		l->dropped++;
		l->n--;
	}
	memmove(l->names[pos + 1], l->names[pos],
		(l->n - pos) * sizeof(l->names[0]));
	copy_name(l->names[pos], sizeof(l->names[0]), name);
	l->n++;
}

typedef bool (*name_filter_t)(int dfd, const char *name);

/*
 * The entries of dir (below rootfd) that keep() accepts and whose name
 * fits name_size (with its NUL) into l. A missing directory is an empty
 * list: a machine without block devices has no /sys/block entries either.
 */
static void scan_dir(int rootfd, const char *dir, name_filter_t keep,
		     size_t name_size, struct name_list *l)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		/* kernel names never exceed these: a longer one is not ours */
		if (strlen(de->d_name) >= name_size) {
			pr_debug("inventory: %s/%s: name too long, skipped",
				 dir, de->d_name);
			continue;
		}
		if (keep(dirfd(d), de->d_name))
			name_list_add(l, de->d_name);
	}
	closedir(d);
}

/* --- NICs ---------------------------------------------------------------- */

#define NET_DIR "sys/class/net"

/* "52:54:00:12:34:56" to 6 bytes: 0 or -EINVAL (also for other lengths). */
static int parse_mac(const char *s, uint8_t mac[XBA_MAC_LEN])
{
	unsigned int b[XBA_MAC_LEN];
	int i, end = 0;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &end) != XBA_MAC_LEN || end != 17 || s[end])
		return -EINVAL;
	for (i = 0; i < XBA_MAC_LEN; i++)
		mac[i] = b[i];
	return 0;
}

/*
 * The address of NIC name, if it is one that identifies the machine: a
 * 6-byte MAC, not all zero (a zero MAC would collide across machines in
 * HELLO).
 */
static int nic_mac(int dfd, const char *name, uint8_t mac[XBA_MAC_LEN])
{
	static const uint8_t zero[XBA_MAC_LEN];
	char path[INV_SMALL], buf[INV_SMALL];

	if (!attr_path(path, sizeof(path), name, "address") ||
	    read_head(dfd, path, buf, sizeof(buf)) < 0)
		return -ENOENT;
	trim(buf);
	if (parse_mac(buf, mac) || !memcmp(mac, zero, XBA_MAC_LEN))
		return -EINVAL;
	return 0;
}

/*
 * Physical NICs only: lo, bridges, veths, tunnels and the like have no
 * device link; InfiniBand and other non-Ethernet addresses are skipped by
 * the MAC check.
 */
static bool nic_keep(int dfd, const char *name)
{
	uint8_t mac[XBA_MAC_LEN];
	char path[INV_SMALL];

	if (!strcmp(name, "lo"))
		return false;
	return attr_path(path, sizeof(path), name, "device") &&
	       exists_at(dfd, path) && !nic_mac(dfd, name, mac);
}

/* Mb/s, 0 when unknown: -1 for no link, or a read error when down. */
static uint32_t nic_speed(int dfd, const char *name)
{
	char path[INV_SMALL];
	uint64_t v;

	if (!attr_path(path, sizeof(path), name, "speed") ||
	    read_u64(dfd, path, &v) || v > UINT32_MAX)
		return 0;
	return v;
}

static void nics_scan(int rootfd, struct name_list *l)
{
	scan_dir(rootfd, NET_DIR, nic_keep, XBA_IFNAME_MAX, l);
}

static void nics_collect(int rootfd, struct agent_inventory *inv)
{
	char names[XBA_NICS_MAX][INV_NAME_MAX];
	struct name_list l = { names, XBA_NICS_MAX, 0, 0 };
	struct agent_nic *nic;
	unsigned int i;
	int dfd;

	nics_scan(rootfd, &l);
	if (l.dropped)
		pr_warn("inventory: %u NICs beyond the first %u left out",
			l.dropped, l.max);
	dfd = openat(rootfd, NET_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	for (i = 0; i < l.n; i++) {
		nic = &inv->nics[inv->n_nics];
		/* the NIC may have gone since the scan */
		if (nic_mac(dfd, names[i], nic->mac))
			continue;
		copy_name(nic->name, sizeof(nic->name), names[i]);
		nic->speed_mbps = nic_speed(dfd, names[i]);
		inv->n_nics++;
	}
	close(dfd);
}

int inventory_macs(const char *root, uint8_t macs[][XBA_MAC_LEN], int max)
{
	char names[XBA_MACS_MAX][INV_NAME_MAX];
	struct name_list l = { names, 0, 0, 0 };
	int rootfd, dfd, n = 0;
	unsigned int i;

	if (max <= 0)
		return 0;
	l.max = max < XBA_MACS_MAX ? max : XBA_MACS_MAX;
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	nics_scan(rootfd, &l);
	/* the caller chose max; the full list goes out in INVENTORY */
	if (l.dropped)
		pr_debug("inventory: %u MACs beyond the first %u left out",
			 l.dropped, l.max);
	dfd = openat(rootfd, NET_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (i = 0; dfd >= 0 && i < l.n; i++)
		if (!nic_mac(dfd, names[i], macs[n]))
			n++;
	if (dfd >= 0)
		close(dfd);
	close(rootfd);
	return n;
}

/* --- disks --------------------------------------------------------------- */

#define BLOCK_DIR "sys/block"

/*
 * Virtual block devices say nothing about the machine's hardware and come
 * and go with the boot environment (loop, zram), so they are left out.
 */
static bool disk_keep(int dfd, const char *name)
{
	static const char *const virtual[] = { "loop", "ram", "zram", "dm-" };
	size_t i;

	for (i = 0; i < sizeof(virtual) / sizeof(virtual[0]); i++)
		if (!strncmp(name, virtual[i], strlen(virtual[i])))
			return false;
	return true;
}

/*
 * The serial of a SCSI/SATA disk is only in its unit serial number VPD
 * page (0x80): a 4-byte header whose last byte is the length, then ASCII.
 */
static void disk_vpd_serial(int dfd, const char *name, char *out, size_t size)
{
	uint8_t page[4 + XBA_DMI_MAX];
	char path[INV_SMALL];
	size_t len;
	ssize_t n;

	if (!attr_path(path, sizeof(path), name, "device/vpd_pg80"))
		return;
	n = read_head(dfd, path, (char *)page, sizeof(page));
	if (n < 4 || page[1] != 0x80)
		return;
	len = page[3];
	if (len > (size_t)n - 4)
		len = n - 4;
	if (len > size - 1)
		len = size - 1;
	memcpy(out, page + 4, len);
	out[len] = '\0';
	sanitize(out);
}

/*
 * Where drivers put the serial: device/serial (NVMe controller, MMC),
 * serial on the disk itself (virtio-blk), else the SCSI VPD page.
 */
static void disk_serial(int dfd, const char *name, char *out, size_t size)
{
	static const char *const files[] = { "device/serial", "serial" };
	char path[INV_SMALL];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		out[0] = '\0';
		if (attr_path(path, sizeof(path), name, files[i]))
			read_string(dfd, path, out, size);
		if (out[0])
			return;
	}
	disk_vpd_serial(dfd, name, out, size);
}

static void disk_read(int dfd, const char *name, struct agent_disk *d)
{
	char path[INV_SMALL];
	uint64_t v;

	copy_name(d->name, sizeof(d->name), name);
	/* in 512-byte sectors whatever the logical block size */
	if (attr_path(path, sizeof(path), name, "size") &&
	    !read_u64(dfd, path, &v) && v <= UINT64_MAX / 512)
		d->size = v * 512;
	if (attr_path(path, sizeof(path), name, "device/model"))
		read_string(dfd, path, d->model, sizeof(d->model));
	/* MMC/SD cards call it the product name */
	if (!d->model[0] && attr_path(path, sizeof(path), name, "device/name"))
		read_string(dfd, path, d->model, sizeof(d->model));
	disk_serial(dfd, name, d->serial, sizeof(d->serial));
	d->rotational = -1;
	if (attr_path(path, sizeof(path), name, "queue/rotational") &&
	    !read_u64(dfd, path, &v) && v <= 1)
		d->rotational = v;
}

static void disks_collect(int rootfd, struct agent_inventory *inv)
{
	char names[XBA_DISKS_MAX][INV_NAME_MAX];
	struct name_list l = { names, XBA_DISKS_MAX, 0, 0 };
	unsigned int i;
	int dfd;

	scan_dir(rootfd, BLOCK_DIR, disk_keep, XBA_DISK_NAME_MAX, &l);
	if (l.dropped)
		pr_warn("inventory: %u disks beyond the first %u left out",
			l.dropped, l.max);
	dfd = openat(rootfd, BLOCK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	for (i = 0; i < l.n; i++)
		disk_read(dfd, names[i], &inv->disks[inv->n_disks++]);
	close(dfd);
}

/* --- CPUs, memory, DMI --------------------------------------------------- */

#define CPU_DIR "sys/devices/system/cpu"

/*
 * Online CPUs, as the protocol asks: the cpuN directories whose online
 * file does not say 0 (cpu0 often has no online file: it cannot go
 * offline). sysfs rather than /proc/cpuinfo, whose format differs per
 * architecture.
 */
static bool cpu_keep(int dfd, const char *name)
{
	char path[INV_SMALL];
	const char *p;
	uint64_t v;

	if (strncmp(name, "cpu", 3) || !name[3])
		return false;
	for (p = name + 3; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	if (!attr_path(path, sizeof(path), name, "online"))
		return false;
	return read_u64(dfd, path, &v) || v != 0;
}

static uint32_t cpus_count(int rootfd)
{
	uint32_t n = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(rootfd, CPU_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)))
		if (cpu_keep(dirfd(d), de->d_name))
			n++;
	closedir(d);
	return n;
}

/* MemTotal from /proc/meminfo, in bytes; 0 when unknown. */
static uint64_t memory_bytes(int rootfd)
{
	char buf[4096], *p;
	unsigned long long kb;

	/* MemTotal is the first line; 4 KiB holds it with room to spare */
	if (read_head(rootfd, "proc/meminfo", buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "MemTotal:");
	if (!p || (p != buf && p[-1] != '\n'))
		return 0;
	if (sscanf(p, "MemTotal: %llu kB", &kb) != 1 ||
	    kb > UINT64_MAX / 1024)
		return 0;
	return kb * 1024;
}

#define DMI_DIR "sys/class/dmi/id/"

static void dmi_collect(int rootfd, struct agent_inventory *inv)
{
	read_string(rootfd, DMI_DIR "sys_vendor", inv->vendor,
		    sizeof(inv->vendor));
	read_string(rootfd, DMI_DIR "product_name", inv->product,
		    sizeof(inv->product));
	read_string(rootfd, DMI_DIR "product_serial", inv->serial,
		    sizeof(inv->serial));
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" to 16 bytes. */
static int parse_uuid(const char *s, uint8_t uuid[XBA_UUID_LEN])
{
	int i, hi, lo;

	if (strlen(s) != 36)
		return -EINVAL;
	for (i = 0; i < XBA_UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10) {
			if (*s != '-')
				return -EINVAL;
			s++;
		}
		hi = hex_digit(s[0]);
		lo = hex_digit(s[1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		uuid[i] = hi << 4 | lo;
		s += 2;
	}
	return 0;
}

int inventory_system_uuid(const char *root, uint8_t uuid[XBA_UUID_LEN])
{
	char buf[INV_SMALL];
	bool zero = true, ones = true;
	int rootfd, i;
	ssize_t n;

	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	n = read_head(rootfd, DMI_DIR "product_uuid", buf, sizeof(buf));
	close(rootfd);
	if (n < 0)
		return -ENOENT;
	trim(buf);
	if (parse_uuid(buf, uuid))
		return -EINVAL;
	for (i = 0; i < XBA_UUID_LEN; i++) {
		zero &= uuid[i] == 0x00;
		ones &= uuid[i] == 0xff;
	}
	return zero || ones ? -ENODATA : 0;
}

int inventory_collect(const char *root, struct agent_inventory *out)
{
	int rootfd;

	memset(out, 0, sizeof(*out));
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	dmi_collect(rootfd, out);
	out->cpus = cpus_count(rootfd);
	out->memory_bytes = memory_bytes(rootfd);
	nics_collect(rootfd, out);
	disks_collect(rootfd, out);
	close(rootfd);
	return 0;
}
