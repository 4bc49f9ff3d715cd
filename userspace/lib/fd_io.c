// SPDX-License-Identifier: GPL-2.0
/*
 * Whole writes to blocking file descriptors: write(2) may stop short on a
 * pipe, a socket or a signal, and every caller wants all or an error.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "fd_io.h"

/* All len bytes of buf to fd, retrying short writes and EINTR. 0, -errno. */
int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}
