// SPDX-License-Identifier: GPL-2.0
/* TFTP path sanitizer and lookup order; the rules are in tftp_path.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#include "tftp_path.h"

static int has_dotdot(const char *p)
{
	const char *c = p;

	for (;;) {
		size_t n = strcspn(c, "/");

		if (n == 2 && c[0] == '.' && c[1] == '.')
			return 1;
		if (!c[n])
			return 0;
		c += n + 1;
	}
}

int tftp_path_clean(const char *name, char *out, size_t outsz)
{
	const unsigned char *c;
	size_t len;

	for (c = (const unsigned char *)name; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return -EACCES;
	while (*name == '/')
		name++;
	len = strlen(name);
	if (!len)
		return -EINVAL;
	if (len >= outsz || len >= PATH_MAX)
		return -ENAMETOOLONG;
	if (has_dotdot(name))
		return -EACCES;
	memcpy(out, name, len + 1);
	return 0;
}

static int open_beneath_openat2(int rootfd, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* Without openat2: open, then check where the fd really is. */
static int open_beneath_check(int rootfd, const char *rel)
{
	char link[64], root[PATH_MAX], real[PATH_MAX];
	ssize_t n;
	size_t rlen;
	int fd;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", rootfd);
	n = readlink(link, root, sizeof(root) - 1);
	if (n < 0)
		return -errno;
	root[n] = '\0';
	fd = openat(rootfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof(real) - 1);
	if (n < 0) {
		close(fd);
		return -EACCES;
	}
	real[n] = '\0';
	rlen = strlen(root);
	if (strncmp(real, root, rlen) ||
	    (real[rlen] != '/' && strcmp(root, "/"))) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

static int open_beneath(int rootfd, const char *rel)
{
	static int no_openat2;
	int fd;

	if (!no_openat2) {
		fd = open_beneath_openat2(rootfd, rel);
		if (fd != -ENOSYS)
			return fd == -EXDEV || fd == -ELOOP ? -EACCES : fd;
		no_openat2 = 1;
	}
	return open_beneath_check(rootfd, rel);
}

/* A regular, readable file, or an error; fd is closed on error. */
static int check_regular(int fd)
{
	struct stat st;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EACCES;
	}
	/* O_NONBLOCK only kept a FIFO from blocking the open. */
	fcntl(fd, F_SETFL, 0);
	return fd;
}

int tftp_path_open(int rootfd, const uint8_t *mac, const char *rel)
{
	char path[PATH_MAX];
	int fd, n;

	if (mac) {
		n = snprintf(path, sizeof(path),
			     "%02x-%02x-%02x-%02x-%02x-%02x/%s", mac[0], mac[1],
			     mac[2], mac[3], mac[4], mac[5], rel);
		if (n > 0 && (size_t)n < sizeof(path)) {
			fd = open_beneath(rootfd, path);
			if (fd != -ENOENT && fd != -ENOTDIR)
				return check_regular(fd);
		}
	}
	return check_regular(open_beneath(rootfd, rel));
}
