// SPDX-License-Identifier: GPL-2.0
/*
 * Boot media (see media.h): checks the request, writes the scripts, and
 * drives Debian's image tools as child processes (argument vectors, no
 * shell), their stderr becoming the error message when one fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "media.h"

extern char **environ;

#define FLOPPY_BYTES (1440 * 1024)
#define USB_PART_START 2048 /* sectors: the partition starts at 1 MiB */
#define MIB (1024 * 1024)

static const char *const type_names[] = {
	[MEDIA_FLOPPY] = "floppy",
	[MEDIA_USB] = "usb",
	[MEDIA_ISO] = "iso",
};

int media_type_parse(const char *s, enum media_type *type)
{
	unsigned int i;

	for (i = 0; s && i < sizeof(type_names) / sizeof(type_names[0]); i++) {
		if (!strcmp(s, type_names[i])) {
			*type = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *media_type_name(enum media_type type)
{
	if ((unsigned int)type >= sizeof(type_names) / sizeof(type_names[0]))
		return "?";
	return type_names[type];
}

static int seterr(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int seterr(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static int given(const char *s)
{
	return s && *s;
}

/* --- the request ---------------------------------------------------------- */

/* inet_aton() takes "10.1" and "010.0.0.1": people mean dotted quads. */
static int parse_ipv4(const char *s, size_t n, struct in_addr *a)
{
	char buf[INET_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, a) == 1 ? 0 : -EINVAL;
}

static int parse_server(const char *s, struct media_plan *p)
{
	const char *host = s, *colon, *end;
	unsigned long port = MEDIA_HTTP_PORT_DEFAULT;
	char *pend;

	if (!strncmp(host, "http://", 7))
		host += 7;
	end = host + strlen(host);
	if (end > host && end[-1] == '/')
		end--;
	colon = memchr(host, ':', end - host);
	if (colon) {
		if (colon + 1 == end || colon[1] < '0' || colon[1] > '9')
			return -EINVAL;
		errno = 0;
		port = strtoul(colon + 1, &pend, 10);
		if (errno || pend != end || port == 0 || port > 65535)
			return -EINVAL;
		end = colon;
	}
	if (parse_ipv4(host, end - host, &p->server) ||
	    p->server.s_addr == htonl(INADDR_ANY))
		return -EINVAL;
	p->port = port;
	snprintf(p->base_url, sizeof(p->base_url), "http://%s:%u",
		 inet_ntoa(p->server), p->port);
	return 0;
}

static int media_parse_mac(const char *s, char out[18])
{
	unsigned int i;

	if (strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < 17; i++) {
		if (i % 3 == 2) {
			if (s[i] != ':' && s[i] != '-')
				return -EINVAL;
			out[i] = ':';
		} else {
			if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
				return -EINVAL;
			out[i] = s[i] | 0x20; /* lower case */
		}
	}
	out[17] = '\0';
	return 0;
}

static int parse_cidr(const char *s, struct media_plan *p)
{
	const char *slash = strchr(s, '/');
	unsigned long prefix;
	char *end;

	if (!slash || !slash[1] || slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	errno = 0;
	prefix = strtoul(slash + 1, &end, 10);
	if (errno || *end || prefix < 1 || prefix > 32)
		return -EINVAL;
	if (parse_ipv4(s, slash - s, &p->ip))
		return -EINVAL;
	p->prefix = prefix;
	p->netmask.s_addr = htonl(~0u << (32 - prefix));
	return 0;
}

/* Words that go on a GRUB command line unquoted: nothing that GRUB or the
 * kernel would read as a separator, a quote or a variable. */
static int plain_words(const char *s)
{
	for (; *s; s++)
		if (*s < ' ' || *s > '~' || strchr("\"'\\$;{}|&<>`#", *s))
			return 0;
	return 1;
}

static int plain_token(const char *s)
{
	return plain_words(s) && !strchr(s, ' ');
}

static int check_paths(const struct media_spec *spec, char *err,
		       size_t errlen)
{
	if (spec->type == MEDIA_FLOPPY)
		return 0;
	if (!given(spec->kernel) || !given(spec->initrd))
		return seterr(err, errlen, -EINVAL,
			      "%s: UEFI boots the boot environment from the medium: give its kernel and initrd (`make bootenv` builds build/bootenv/vmlinuz and initrd.img)",
			      media_type_name(spec->type));
	return 0;
}

static int plan_static(const struct media_spec *spec, struct media_plan *p,
		       char *err, size_t errlen)
{
	if (given(spec->gateway) && !given(spec->ip))
		return seterr(err, errlen, -EINVAL,
			      "a gateway needs a static address (--ip CIDR)");
	if (!given(spec->ip))
		return 0;
	if (parse_cidr(spec->ip, p))
		return seterr(err, errlen, -EINVAL,
			      "ip '%s' does not parse: want A.B.C.D/PREFIX",
			      spec->ip);
	p->has_ip = 1;
	if (!given(spec->gateway))
		return 0;
	if (parse_ipv4(spec->gateway, strlen(spec->gateway), &p->gateway))
		return seterr(err, errlen, -EINVAL,
			      "gateway '%s' is not an IPv4 address",
			      spec->gateway);
	if ((p->gateway.s_addr ^ p->ip.s_addr) & p->netmask.s_addr)
		return seterr(err, errlen, -EINVAL, "gateway %s is outside %s",
			      spec->gateway, spec->ip);
	return 0;
}

static int plan_addresses(const struct media_spec *spec,
			  struct media_plan *p, char *err, size_t errlen)
{
	if (!given(spec->server))
		return seterr(err, errlen, -EINVAL,
			      "no server given (the controller's address, A.B.C.D[:PORT])");
	if (parse_server(spec->server, p))
		return seterr(err, errlen, -EINVAL,
			      "server '%s' does not parse: want A.B.C.D[:PORT] or http://A.B.C.D[:PORT]",
			      spec->server);
	if (given(spec->mac) && media_parse_mac(spec->mac, p->mac))
		return seterr(err, errlen, -EINVAL,
			      "machine '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)",
			      spec->mac);
	return plan_static(spec, p, err, errlen);
}

/* What goes on the kernel command line as it is. */
static int plan_words(const struct media_spec *spec, char *err,
		      size_t errlen)
{
	if (given(spec->enrol) && !plain_token(spec->enrol))
		return seterr(err, errlen, -EINVAL,
			      "the enrolment credential has characters a kernel command line cannot carry");
	if (given(spec->kernel_args) && !plain_words(spec->kernel_args))
		return seterr(err, errlen, -EINVAL,
			      "kernel arguments '%s': quotes, $, ;, \\ and control characters are not allowed",
			      spec->kernel_args);
	return 0;
}

int media_plan_make(const struct media_spec *spec, struct media_plan *p,
		    char *err, size_t errlen)
{
	uint64_t rnd = 0;
	int ret;

	memset(p, 0, sizeof(*p));
	if ((unsigned int)spec->type > MEDIA_ISO)
		return seterr(err, errlen, -EINVAL,
			      "unknown media type %d (floppy, usb or iso)",
			      spec->type);
	p->type = spec->type;
	if (!given(spec->out))
		return seterr(err, errlen, -EINVAL, "no output file given");
	ret = plan_addresses(spec, p, err, errlen);
	if (!ret)
		ret = plan_words(spec, err, errlen);
	if (ret)
		return ret;
	/* the marker GRUB finds the medium by; uniqueness is all it needs */
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	snprintf(p->id, sizeof(p->id), "%016llx", (unsigned long long)rnd);
	return check_paths(spec, err, errlen);
}

/* --- the generated texts -------------------------------------------------- */

/*
 * Which NIC is the machine's: with a MAC, the one that has it (iPXE names
 * them net0..); else net0 for a static address, and for DHCP whichever
 * interface got a lease (iPXE's netX is the last one opened).
 */
#define MEDIA_NICS 8

static void ipxe_pick_nic(FILE *f, const struct media_plan *p)
{
	int i;

	fprintf(f, "set nic net0\n");
	for (i = MEDIA_NICS - 1; i > 0; i--)
		fprintf(f, "iseq ${net%d/mac} %s && set nic net%d || set nic ${nic}\n",
			i, p->mac, i);
}

char *media_ipxe_script(const struct media_plan *p)
{
	char *buf = NULL, ip[INET_ADDRSTRLEN], mask[INET_ADDRSTRLEN];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "#!ipxe\n"
		   "# xboot boot medium: reach the controller at %s and run\n"
		   "# the machine's own script from it, as a PXE boot would.\n",
		p->base_url);
	if (p->mac[0])
		ipxe_pick_nic(f, p);
	else if (p->has_ip)
		fprintf(f, "set nic net0\n");
	fprintf(f, ":start\n"
		   "echo xboot: boot medium, controller %s\n",
		p->base_url);
	if (p->has_ip) {
		inet_ntop(AF_INET, &p->ip, ip, sizeof(ip));
		inet_ntop(AF_INET, &p->netmask, mask, sizeof(mask));
		fprintf(f, "ifopen ${nic} || goto failed\n"
			   "set ${nic}/ip %s\n"
			   "set ${nic}/netmask %s\n",
			ip, mask);
		if (p->gateway.s_addr) {
			inet_ntop(AF_INET, &p->gateway, ip, sizeof(ip));
			fprintf(f, "set ${nic}/gateway %s\n", ip);
		}
		/* for xbootd's script to hand on to the boot environment
		 * (xboot.ip=${xboot_ip} xboot.gw=${xboot_gw}) */
		inet_ntop(AF_INET, &p->ip, ip, sizeof(ip));
		fprintf(f, "set xboot_ip %s/%d\n", ip, p->prefix);
		if (p->gateway.s_addr) {
			inet_ntop(AF_INET, &p->gateway, ip, sizeof(ip));
			fprintf(f, "set xboot_gw %s\n", ip);
		}
	} else if (p->mac[0]) {
		fprintf(f, "dhcp ${nic} || goto failed\n");
	} else {
		fprintf(f, "dhcp || goto failed\nset nic netX\n");
	}
	if (p->mac[0])
		fprintf(f, "chain %s/boot/%s.ipxe || goto failed\n",
			p->base_url, p->mac);
	else
		fprintf(f, "chain %s/boot/${${nic}/mac}.ipxe || goto failed\n",
			p->base_url);
	fprintf(f, ":failed\n"
		   "echo xboot: no boot from %s, trying again in 10 s\n"
		   "sleep 10\n"
		   "goto start\n",
		p->base_url);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *media_syslinux_cfg(const struct media_plan *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	/* SERIAL must come first; the screen keeps working too */
	fprintf(f, "SERIAL 0 115200\n"
		   "# xboot boot medium (%s): iPXE with the script xboot.ipxe\n"
		   "DEFAULT xboot\n"
		   "PROMPT 0\n"
		   "TIMEOUT 0\n"
		   "LABEL xboot\n"
		   "\tKERNEL /ipxe.lkrn\n"
		   "\tINITRD /xboot.ipxe\n",
		media_type_name(p->type));
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Run by GRUB from inside its image (grub-mkimage -c), with its rescue
 * parser: plain commands only. A CA on the medium goes into the initramfs
 * as /etc/xboot/ca.pem (a second initrd, xboot/ca.img: see ca_cpio()),
 * which the boot environment prefers over any xboot.ca= URL.
 */
char *media_grub_cfg(const struct media_plan *p, const struct media_spec *spec)
{
	char *buf = NULL, ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "echo 'xboot: boot medium, controller %s'\n"
		   "search --no-floppy --file --set=root /xboot/media-%s\n"
		   "linux /xboot/vmlinuz xboot.server=%s",
		p->base_url, p->id, p->base_url);
	if (p->mac[0])
		fprintf(f, " xboot.mac=%s", p->mac);
	if (p->has_ip) {
		inet_ntop(AF_INET, &p->ip, ip, sizeof(ip));
		fprintf(f, " xboot.ip=%s/%d", ip, p->prefix);
		if (p->gateway.s_addr) {
			inet_ntop(AF_INET, &p->gateway, gw, sizeof(gw));
			fprintf(f, " xboot.gw=%s", gw);
		}
	}
	if (given(spec->enrol))
		fprintf(f, " xboot.enrol=%s", spec->enrol);
	if (!given(spec->ca))
		fprintf(f, " xboot.ca=%s/xboot/ca.pem", p->base_url);
	if (given(spec->kernel_args))
		fprintf(f, " %s", spec->kernel_args);
	fprintf(f, "\ninitrd /xboot/initrd.img%s\n"
		   "boot\n",
		given(spec->ca) ? " /xboot/ca.img" : "");
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* --- tools and binaries --------------------------------------------------- */

struct media_ctx {
	const struct media_spec *spec;
	struct media_plan plan;
	char *err;
	size_t errlen;
	char dir[256];		/* scratch directory */
	char tmp[PATH_MAX];	/* the image being written */
	char **env;
	/* the tools, found in PATH */
	char mkfs[PATH_MAX], mcopy[PATH_MAX], mmd[PATH_MAX];
	char syslinux[PATH_MAX], xorriso[PATH_MAX], grub_mkimage[PATH_MAX];
};

static int find_tool(struct media_ctx *c, const char *name, const char *pkg,
		     char out[PATH_MAX])
{
	const char *path = getenv("PATH");
	char dirs[PATH_MAX * 2];
	char *dir, *save = NULL;

	/* mkfs.fat lives in /usr/sbin, often not in a user's PATH */
	snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin",
		 path ? path : "/usr/bin:/bin");
	for (dir = strtok_r(dirs, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, PATH_MAX, "%s/%s", dir, name);
		if (*dir && !access(out, X_OK))
			return 0;
	}
	return seterr(c->err, c->errlen, -ENOENT,
		      "%s not found: install the Debian package %s", name, pkg);
}

static int find_bin(struct media_ctx *c, const char *path, const char *pkg,
		    char out[PATH_MAX])
{
	const char *root = given(c->spec->sysroot) ? c->spec->sysroot : "";
	char buf[PATH_MAX];
	int e;

	snprintf(buf, sizeof(buf), "%s%s", root, path);
	/* the real file: xorriso would record a symbolic link as one (Debian's
	 * ipxe.lkrn is a link to /boot), which ISOLINUX cannot follow */
	if (realpath(buf, out) && !access(out, R_OK))
		return 0;
	e = errno;
	snprintf(out, PATH_MAX, "%s", buf);
	return seterr(c->err, c->errlen, -ENOENT,
		      "%s: %s: install the Debian package %s", out,
		      strerror(e), pkg);
}

/* The tail of a tool's stderr, its lines joined, for the message. */
static void squash_output(char *s)
{
	char *p;

	while (*s && s[strlen(s) - 1] <= ' ')
		s[strlen(s) - 1] = '\0';
	for (p = s; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
}

static int run_tool(struct media_ctx *c, char *const argv[])
{
	char out[400], chunk[256];
	posix_spawn_file_actions_t fa;
	size_t n = 0, k;
	int pfd[2], status, ret;
	ssize_t r;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return seterr(c->err, c->errlen, -errno, "pipe: %s",
			      strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	ret = posix_spawn(&pid, argv[0], &fa, NULL, argv, c->env);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (ret) {
		close(pfd[0]);
		return seterr(c->err, c->errlen, -ret, "cannot run %s: %s",
			      argv[0], strerror(ret));
	}
	/* keep the last bytes: tools end with the reason */
	while ((r = read(pfd[0], chunk, sizeof(chunk))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		k = (size_t)r;
		if (n + k >= sizeof(out)) {
			size_t drop = n + k - (sizeof(out) - 1);

			if (drop > n)
				drop = n;
			memmove(out, out + drop, n - drop);
			n -= drop;
			if (k > sizeof(out) - 1 - n)
				k = sizeof(out) - 1 - n;
		}
		memcpy(out + n, chunk + (r - k), k);
		n += k;
	}
	out[n] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return seterr(c->err, c->errlen, -errno,
				      "%s: wait: %s", argv[0],
				      strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	squash_output(out);
	if (WIFEXITED(status))
		return seterr(c->err, c->errlen, -EIO,
			      "%s failed (exit %d): %s", argv[0],
			      WEXITSTATUS(status), out);
	return seterr(c->err, c->errlen, -EIO, "%s killed by signal %d: %s",
		      argv[0], WTERMSIG(status), out);
}

/* Our environment, and MTOOLS_SKIP_CHECK: a disk image's FAT has no
 * floppy geometry for mtools to agree with. */
static char **tool_env(void)
{
	size_t n = 0, i, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "MTOOLS_SKIP_CHECK=", 18))
			env[k++] = environ[i];
	env[k] = "MTOOLS_SKIP_CHECK=1";
	return env;
}

static int write_text(struct media_ctx *c, const char *name, const char *text,
		      char path[PATH_MAX])
{
	size_t len;
	int fd;

	if (!text)
		return seterr(c->err, c->errlen, -ENOMEM, "out of memory");
	snprintf(path, PATH_MAX, "%s/%s", c->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	len = strlen(text);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		if (fd >= 0)
			close(fd);
		return seterr(c->err, c->errlen, -EIO, "%s: %s", path,
			      strerror(errno));
	}
	close(fd);
	return 0;
}

/* An empty file of size bytes for mkfs.fat to format. */
static int make_blank(struct media_ctx *c, const char *path, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	int ret = fd < 0 || ftruncate(fd, size) ? -errno : 0;

	if (fd >= 0)
		close(fd);
	if (ret)
		return seterr(c->err, c->errlen, ret, "%s: %s", path,
			      strerror(-ret));
	return 0;
}

static int mkfs_fat(struct media_ctx *c, const char *img, const char *offset,
		    const char *kib)
{
	char *argv[] = { c->mkfs, "-n", "XBOOT", NULL, NULL, NULL, NULL,
			 NULL, NULL, NULL };
	int i = 3;

	if (offset) {
		/* hidden sectors too: SYSLINUX's boot sector reads by them */
		argv[i++] = "--offset";
		argv[i++] = (char *)offset;
		argv[i++] = "-h";
		argv[i++] = (char *)offset;
	}
	argv[i++] = (char *)img;
	argv[i++] = (char *)kib;
	return run_tool(c, argv);
}

/* mtools' image@@offset names a FAT inside a disk image. */
static int fat_copy(struct media_ctx *c, const char *fat, const char *src,
		    const char *dst)
{
	char *argv[] = { c->mcopy, "-i", (char *)fat, (char *)src,
			 (char *)dst, NULL };

	return run_tool(c, argv);
}

static int fat_mkdir(struct media_ctx *c, const char *fat, const char *dir)
{
	char *argv[] = { c->mmd, "-i", (char *)fat, (char *)dir, NULL };

	return run_tool(c, argv);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* --- the media ------------------------------------------------------------ */

/* The BIOS half every medium shares: iPXE and the medium's script. */
static int bios_files(struct media_ctx *c, char cfg[PATH_MAX],
		      char script[PATH_MAX], char lkrn[PATH_MAX])
{
	char *text;
	int ret;

	ret = find_bin(c, "/usr/lib/ipxe/ipxe.lkrn", "ipxe", lkrn);
	if (ret)
		return ret;
	text = media_syslinux_cfg(&c->plan);
	ret = write_text(c, "syslinux.cfg", text, cfg);
	free(text);
	if (ret)
		return ret;
	text = media_ipxe_script(&c->plan);
	ret = write_text(c, "xboot.ipxe", text, script);
	free(text);
	return ret;
}

/* Only the modules the config uses: the image must fit the ISO's small
 * EFI FAT image. */
static int grub_mkimage(struct media_ctx *c, char *mods, char *cfg, char *efi)
{
	char *argv[] = { c->grub_mkimage, "-O", "x86_64-efi", "-d", mods,
			 "-p", "/EFI/BOOT", "-c", cfg, "-o", efi,
			 "part_msdos", "part_gpt", "fat", "iso9660", "search",
			 "search_fs_file", "linux", "echo", "efi_gop", NULL };

	return run_tool(c, argv);
}

/* SYSLINUX's boot sector and ldlinux.sys into the FAT at offset bytes. */
static int syslinux_install(struct media_ctx *c, const char *offset)
{
	char *argv[] = { c->syslinux, "--install", c->tmp, NULL, NULL, NULL };

	if (offset) {
		argv[2] = "--offset";
		argv[3] = (char *)offset;
		argv[4] = c->tmp;
	}
	return run_tool(c, argv);
}

/* GRUB for x86_64 UEFI with the medium's config built in. */
static int grub_image(struct media_ctx *c, char efi[PATH_MAX])
{
	char cfg[PATH_MAX], mods[PATH_MAX], modfile[PATH_MAX];
	char *text;
	int ret;

	ret = find_bin(c, "/usr/lib/grub/x86_64-efi/linux.mod",
		       "grub-efi-amd64-bin", modfile);
	if (ret)
		return ret;
	snprintf(mods, sizeof(mods), "%.*s", (int)(strrchr(modfile, '/') - modfile),
		 modfile);
	text = media_grub_cfg(&c->plan, c->spec);
	ret = write_text(c, "grub.cfg", text, cfg);
	free(text);
	if (ret)
		return ret;
	snprintf(efi, PATH_MAX, "%s/BOOTX64.EFI", c->dir);
	return grub_mkimage(c, mods, cfg, efi);
}

static int marker_file(struct media_ctx *c, char path[PATH_MAX])
{
	return write_text(c, "marker",
			  "xboot boot medium: GRUB finds the medium by this file\n",
			  path);
}

static int floppy_build(struct media_ctx *c)
{
	char cfg[PATH_MAX], script[PATH_MAX], lkrn[PATH_MAX];
	int ret;

	ret = bios_files(c, cfg, script, lkrn);
	if (!ret)
		ret = make_blank(c, c->tmp, FLOPPY_BYTES);
	if (!ret)
		ret = mkfs_fat(c, c->tmp, NULL, "1440");
	if (!ret)
		ret = syslinux_install(c, NULL);
	if (!ret)
		ret = fat_copy(c, c->tmp, cfg, "::/syslinux.cfg");
	if (!ret)
		ret = fat_copy(c, c->tmp, lkrn, "::/ipxe.lkrn");
	if (!ret)
		ret = fat_copy(c, c->tmp, script, "::/xboot.ipxe");
	return ret;
}

/* The partition table: SYSLINUX's MBR code and one active partition. */
static int write_mbr(struct media_ctx *c, uint32_t start, uint32_t sectors)
{
	static const uint8_t lba_only[3] = { 0xfe, 0xff, 0xff };
	uint8_t mbr[512] = { 0 }, *e = mbr + 446;
	char code[PATH_MAX];
	int fd, ret;
	ssize_t n;

	ret = find_bin(c, "/usr/lib/syslinux/mbr/mbr.bin", "syslinux-common",
		       code);
	if (ret)
		return ret;
	fd = open(code, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, mbr, 440);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return seterr(c->err, c->errlen, -EIO, "%s: %s", code,
			      n < 0 ? strerror(errno) : "empty");
	memcpy(mbr + 440, c->plan.id, 4); /* disk signature */
	e[0] = 0x80;
	memcpy(e + 1, lba_only, 3);
	e[4] = 0xef; /* EFI system partition */
	memcpy(e + 5, lba_only, 3);
	for (n = 0; n < 4; n++) {
		e[8 + n] = start >> (8 * n);
		e[12 + n] = sectors >> (8 * n);
	}
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	fd = open(c->tmp, O_WRONLY | O_CLOEXEC);
	errno = EIO; /* a short write sets none */
	n = fd < 0 ? -1 : pwrite(fd, mbr, sizeof(mbr), 0);
	ret = n == sizeof(mbr) ? 0 : -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		return seterr(c->err, c->errlen, ret, "%s: %s", c->tmp,
			      strerror(-ret));
	return 0;
}

static off_t file_size(struct media_ctx *c, const char *path, int *ret)
{
	struct stat st;

	if (*ret)
		return 0;
	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		*ret = seterr(c->err, c->errlen, -ENOENT, "%s: %s", path,
			      errno ? strerror(errno) : "not a file");
		return 0;
	}
	return st.st_size;
}

#define CA_MAX (64 * 1024)

static void cpio_entry(FILE *f, unsigned int ino, const char *name,
		       unsigned int mode, const void *data, size_t len)
{
	static const char zeros[4];
	size_t namelen = strlen(name) + 1;

	/* newc: magic, ino, mode, uid, gid, nlink, mtime, filesize,
	 * devmajor, devminor, rdevmajor, rdevminor, namesize, check */
	fprintf(f, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X",
		ino, mode, 0, 0, 1, 0, len, 0, 0, 0, 0, namelen, 0);
	fwrite(name, 1, namelen, f);
	fwrite(zeros, 1, (4 - (110 + namelen) % 4) % 4, f);
	if (len) {
		fwrite(data, 1, len, f);
		fwrite(zeros, 1, (4 - len % 4) % 4, f);
	}
}

/*
 * The CA as an initramfs of its own, /etc/xboot/ca.pem: the kernel unpacks
 * each archive it is given in turn, so GRUB loads it after the boot
 * environment's. (GRUB's own newc: initrds do not work with Debian's UEFI
 * loader.)
 */
static int ca_cpio(struct media_ctx *c, char path[PATH_MAX])
{
	char *pem = malloc(CA_MAX + 1);
	ssize_t n = -1;
	FILE *f;
	int fd;

	fd = pem ? open(c->spec->ca, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		n = read(fd, pem, CA_MAX + 1);
		close(fd);
	}
	if (n <= 0 || n > CA_MAX) {
		free(pem);
		return seterr(c->err, c->errlen, -EINVAL, "CA %s: %s",
			      c->spec->ca,
			      n < 0 ? strerror(errno) :
				      n ? "larger than 64 KiB" : "empty");
	}
	snprintf(path, PATH_MAX, "%s/ca.img", c->dir);
	f = fopen(path, "we");
	if (f) {
		cpio_entry(f, 1, "etc", 040755, NULL, 0);
		cpio_entry(f, 2, "etc/xboot", 040755, NULL, 0);
		cpio_entry(f, 3, "etc/xboot/ca.pem", 0100644, pem, n);
		cpio_entry(f, 0, "TRAILER!!!", 0, NULL, 0);
	}
	free(pem);
	if (!f || ferror(f) | fclose(f))
		return seterr(c->err, c->errlen, -EIO, "%s: %s", path,
			      strerror(errno));
	return 0;
}

/* Files from the boot environment (and the CA) that usb and iso carry. */
static int check_bootenv(struct media_ctx *c, off_t *total)
{
	const struct media_spec *s = c->spec;
	int ret = 0;

	errno = 0;
	*total = file_size(c, s->kernel, &ret);
	*total += file_size(c, s->initrd, &ret);
	if (given(s->ca))
		*total += file_size(c, s->ca, &ret);
	return ret;
}

static int usb_build(struct media_ctx *c)
{
	const struct media_spec *s = c->spec;
	char cfg[PATH_MAX], script[PATH_MAX], lkrn[PATH_MAX], efi[PATH_MAX];
	char marker[PATH_MAX], fat[PATH_MAX + 32], off[32], kib[32];
	char mdst[64], cacpio[PATH_MAX];
	off_t payload = 0, part;
	int ret;

	ret = check_bootenv(c, &payload);
	if (!ret)
		ret = bios_files(c, cfg, script, lkrn);
	if (!ret)
		ret = grub_image(c, efi);
	if (!ret)
		ret = marker_file(c, marker);
	if (!ret && given(s->ca))
		ret = ca_cpio(c, cacpio);
	if (ret)
		return ret;
	/* room for the files and FAT's overhead, at least FAT16's size */
	part = (payload + payload / 8) / MIB + 16;
	if (part < 32)
		part = 32;
	ret = make_blank(c, c->tmp, (part + 1) * MIB);
	if (!ret)
		ret = write_mbr(c, USB_PART_START, part * MIB / 512);
	snprintf(off, sizeof(off), "%d", USB_PART_START);
	snprintf(kib, sizeof(kib), "%lld", (long long)part * 1024);
	if (!ret)
		ret = mkfs_fat(c, c->tmp, off, kib);
	snprintf(off, sizeof(off), "%d", USB_PART_START * 512);
	if (!ret)
		ret = syslinux_install(c, off);
	snprintf(fat, sizeof(fat), "%s@@%d", c->tmp, USB_PART_START * 512);
	snprintf(mdst, sizeof(mdst), "::/xboot/media-%s", c->plan.id);
	if (!ret)
		ret = fat_copy(c, fat, cfg, "::/syslinux.cfg");
	if (!ret)
		ret = fat_copy(c, fat, lkrn, "::/ipxe.lkrn");
	if (!ret)
		ret = fat_copy(c, fat, script, "::/xboot.ipxe");
	if (!ret)
		ret = fat_mkdir(c, fat, "::/EFI");
	if (!ret)
		ret = fat_mkdir(c, fat, "::/EFI/BOOT");
	if (!ret)
		ret = fat_mkdir(c, fat, "::/xboot");
	if (!ret)
		ret = fat_copy(c, fat, efi, "::/EFI/BOOT/BOOTX64.EFI");
	if (!ret)
		ret = fat_copy(c, fat, s->kernel, "::/xboot/vmlinuz");
	if (!ret)
		ret = fat_copy(c, fat, s->initrd, "::/xboot/initrd.img");
	if (!ret && given(s->ca))
		ret = fat_copy(c, fat, cacpio, "::/xboot/ca.img");
	if (!ret)
		ret = fat_copy(c, fat, marker, mdst);
	return ret;
}

/* The EFI El Torito image: a small FAT with GRUB as the removable-media
 * boot file. */
static int efi_fat_image(struct media_ctx *c, const char *efi,
			 char img[PATH_MAX])
{
	char kib[32];
	off_t size;
	int ret = 0;

	size = file_size(c, efi, &ret);
	if (ret)
		return ret;
	size = (size / MIB + 2) * MIB;
	snprintf(img, PATH_MAX, "%s/efi.img", c->dir);
	snprintf(kib, sizeof(kib), "%lld", (long long)size / 1024);
	ret = make_blank(c, img, size);
	if (!ret)
		ret = mkfs_fat(c, img, NULL, kib);
	if (!ret)
		ret = fat_mkdir(c, img, "::/EFI");
	if (!ret)
		ret = fat_mkdir(c, img, "::/EFI/BOOT");
	if (!ret)
		ret = fat_copy(c, img, efi, "::/EFI/BOOT/BOOTX64.EFI");
	return ret;
}

/* xorriso's -graft-points list: PATH-IN-ISO=FILE. */
#define ISO_GRAFTS 12

struct grafts {
	char item[ISO_GRAFTS][PATH_MAX + 80];
	int n;
};

static void graft(struct grafts *g, const char *dst, const char *src)
{
	snprintf(g->item[g->n++], sizeof(g->item[0]), "%s=%s", dst, src);
}

/* isohybrid (isohdpfx.bin, a GPT entry for the EFI image): the ISO also
 * boots when written to a USB stick. */
static int xorriso_write(struct media_ctx *c, char *hybrid, struct grafts *g)
{
	char *argv[32 + ISO_GRAFTS] = {
		c->xorriso, "-as", "mkisofs", "-o", c->tmp, "-quiet",
		"-V", "XBOOT", "-J", "-R", "-iso-level", "3",
		"-isohybrid-mbr", hybrid,
		"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
		"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-eltorito-alt-boot", "-e", "efi.img", "-no-emul-boot",
		"-isohybrid-gpt-basdat", "-graft-points",
	};
	int a = 0, i;

	while (argv[a])
		a++;
	for (i = 0; i < g->n; i++)
		argv[a++] = g->item[i];
	return run_tool(c, argv);
}

/* The ISO's own files; the real files, not links to them (see find_bin()). */
static int iso_grafts(struct media_ctx *c, struct grafts *g)
{
	const struct media_spec *s = c->spec;
	char path[PATH_MAX], dst[64];
	int ret;

	if (!realpath(s->kernel, path))
		return seterr(c->err, c->errlen, -errno, "%s: %s", s->kernel,
			      strerror(errno));
	graft(g, "xboot/vmlinuz", path);
	if (!realpath(s->initrd, path))
		return seterr(c->err, c->errlen, -errno, "%s: %s", s->initrd,
			      strerror(errno));
	graft(g, "xboot/initrd.img", path);
	if (given(s->ca)) {
		ret = ca_cpio(c, path);
		if (ret)
			return ret;
		graft(g, "xboot/ca.img", path);
	}
	ret = marker_file(c, path);
	if (ret)
		return ret;
	snprintf(dst, sizeof(dst), "xboot/media-%s", c->plan.id);
	graft(g, dst, path);
	ret = find_bin(c, "/usr/lib/ISOLINUX/isolinux.bin", "isolinux", path);
	if (ret)
		return ret;
	graft(g, "isolinux/isolinux.bin", path);
	ret = find_bin(c, "/usr/lib/syslinux/modules/bios/ldlinux.c32",
		       "syslinux-common", path);
	if (ret)
		return ret;
	graft(g, "isolinux/ldlinux.c32", path);
	return 0;
}

static int iso_build(struct media_ctx *c)
{
	char cfg[PATH_MAX], script[PATH_MAX], lkrn[PATH_MAX], efi[PATH_MAX];
	char img[PATH_MAX], hybrid[PATH_MAX];
	struct grafts *g;
	off_t payload;
	int ret;

	g = calloc(1, sizeof(*g));
	if (!g)
		return seterr(c->err, c->errlen, -ENOMEM, "out of memory");
	ret = check_bootenv(c, &payload);
	if (!ret)
		ret = find_bin(c, "/usr/lib/ISOLINUX/isohdpfx.bin", "isolinux",
			       hybrid);
	if (!ret)
		ret = iso_grafts(c, g);
	if (!ret)
		ret = bios_files(c, cfg, script, lkrn);
	if (!ret)
		ret = grub_image(c, efi);
	if (!ret)
		ret = efi_fat_image(c, efi, img);
	if (!ret) {
		graft(g, "isolinux/isolinux.cfg", cfg);
		graft(g, "ipxe.lkrn", lkrn);
		graft(g, "xboot.ipxe", script);
		graft(g, "efi.img", img);
		ret = xorriso_write(c, hybrid, g);
	}
	free(g);
	return ret;
}

static int find_tools(struct media_ctx *c)
{
	int ret;

	ret = find_tool(c, "mkfs.fat", "dosfstools", c->mkfs);
	if (!ret)
		ret = find_tool(c, "mcopy", "mtools", c->mcopy);
	if (!ret)
		ret = find_tool(c, "mmd", "mtools", c->mmd);
	if (!ret && c->spec->type != MEDIA_ISO)
		ret = find_tool(c, "syslinux", "syslinux", c->syslinux);
	if (!ret && c->spec->type != MEDIA_FLOPPY)
		ret = find_tool(c, "grub-mkimage", "grub-common",
				c->grub_mkimage);
	if (!ret && c->spec->type == MEDIA_ISO)
		ret = find_tool(c, "xorriso", "xorriso", c->xorriso);
	return ret;
}

/* The image is written beside the output, so a failure never leaves half
 * an image under the name asked for. */
static int open_output(struct media_ctx *c)
{
	const char *out = c->spec->out;
	struct stat st;
	int fd;

	if (!stat(out, &st) && !S_ISREG(st.st_mode))
		return seterr(c->err, c->errlen, -EISDIR,
			      "cannot write %s: not a regular file", out);
	if (snprintf(c->tmp, sizeof(c->tmp), "%s.XXXXXX", out) >=
	    (int)sizeof(c->tmp))
		return seterr(c->err, c->errlen, -ENAMETOOLONG,
			      "cannot write %s: name too long", out);
	fd = mkstemp(c->tmp);
	if (fd < 0) {
		c->tmp[0] = '\0';
		return seterr(c->err, c->errlen, -errno, "cannot write %s: %s",
			      out, strerror(errno));
	}
	close(fd);
	/* xorriso wants to create its output itself */
	if (c->spec->type == MEDIA_ISO)
		unlink(c->tmp);
	return 0;
}

int media_create(const struct media_spec *spec, char *err, size_t errlen)
{
	struct media_ctx *c;
	const char *tmpdir = getenv("TMPDIR");
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return seterr(err, errlen, -ENOMEM, "out of memory");
	c->spec = spec;
	c->err = err;
	c->errlen = errlen;
	ret = media_plan_make(spec, &c->plan, err, errlen);
	if (ret)
		goto err_free;
	c->env = tool_env();
	if (!c->env) {
		ret = seterr(err, errlen, -ENOMEM, "out of memory");
		goto err_free;
	}
	snprintf(c->dir, sizeof(c->dir), "%s/xboot-media.XXXXXX",
		 given(tmpdir) ? tmpdir : "/tmp");
	if (!mkdtemp(c->dir)) {
		ret = seterr(err, errlen, -errno, "scratch directory %s: %s",
			     c->dir, strerror(errno));
		goto err_env;
	}
	ret = open_output(c);
	if (ret)
		goto err_dir;
	ret = find_tools(c);
	if (ret)
		goto err_out;
	switch (spec->type) {
	case MEDIA_FLOPPY:
		ret = floppy_build(c);
		break;
	case MEDIA_USB:
		ret = usb_build(c);
		break;
	case MEDIA_ISO:
		ret = iso_build(c);
		break;
	}
	if (!ret && (chmod(c->tmp, 0644) || rename(c->tmp, spec->out)))
		ret = seterr(err, errlen, -errno, "cannot write %s: %s",
			     spec->out, strerror(errno));
err_out:
	if (ret)
		unlink(c->tmp);
err_dir:
	nftw(c->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
err_env:
	free(c->env);
err_free:
	free(c);
	return ret;
}
