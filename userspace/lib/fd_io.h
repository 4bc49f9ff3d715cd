/* SPDX-License-Identifier: GPL-2.0 */
/* Whole writes to blocking file descriptors. */
#ifndef XBOOT_FD_IO_H
#define XBOOT_FD_IO_H

#include <stddef.h>

int write_full(int fd, const void *buf, size_t len);

#endif
