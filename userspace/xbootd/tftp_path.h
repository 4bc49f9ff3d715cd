/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which file a TFTP request names, and opening it without leaving the root.
 *
 * Rules: a leading '/' (or several) is stripped, so "/pxelinux.0" is the
 * root's pxelinux.0, as most TFTP servers do; a ".." component anywhere,
 * control characters (bytes below 0x20 and 0x7f) and an empty name are
 * refused. Symlinks may be followed only while they stay beneath the root:
 * openat2(RESOLVE_BENEATH) when the kernel has it (5.6+), else the resolved
 * path is checked against the root's. Only regular files are served.
 *
 * Lookup order: <root>/<aa-bb-cc-dd-ee-ff>/<path> for the client's MAC
 * when it is known, then <root>/<path>.
 */
#ifndef XBOOTD_TFTP_PATH_H
#define XBOOTD_TFTP_PATH_H

#include <stddef.h>
#include <stdint.h>

/* Check name and write its root-relative form to out. 0, -EACCES (hostile),
 * -EINVAL (empty) or -ENAMETOOLONG. */
int tftp_path_clean(const char *name, char *out, size_t outsz);

/* Open rel (a cleaned path) read-only beneath the directory rootfd, trying
 * the MAC directory first when mac is not NULL. The fd, or -ENOENT,
 * -EACCES (outside the root, not a regular file, not readable) or another
 * -errno. */
int tftp_path_open(int rootfd, const uint8_t *mac, const char *rel);

#endif /* XBOOTD_TFTP_PATH_H */
