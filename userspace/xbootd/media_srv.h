/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xbootd's side of boot media (POST /media, control.h): media_create()
 * (media.h) runs in a forked child, because it waits on mkfs.fat, mtools,
 * syslinux, xorriso and grub-mkimage for a second or more and the loop
 * must not. The loop waits for the child with IORING_OP_POLL_ADD on its
 * pidfd, then copies the finished image from the child's scratch file to
 * the output with io_uring reads and writes (hashing it on the way), and
 * renames it into place: the output appears only whole, and a build that
 * fails or is killed leaves nothing under its name.
 *
 * At most MEDIA_SRV_BUILDS_MAX builds run at once (more: -EBUSY, which the
 * API answers 429); one that runs longer than MEDIA_SRV_TIMEOUT_S is
 * killed, tools and all (the child leads its own process group).
 */
#ifndef XBOOTD_MEDIA_SRV_H
#define XBOOTD_MEDIA_SRV_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "media.h"

#define MEDIA_SRV_BUILDS_MAX 2
#define MEDIA_SRV_TIMEOUT_S 300
#define MEDIA_SRV_CHUNK (1U << 20) /* bytes per io_uring read and write */

struct loop;
struct media_srv;

/* How a build ended. */
struct media_result {
	int ok;
	uint64_t size;			/* bytes written to the output */
	char sha256[65];		/* hex, of the output */
	char error[MEDIA_ERR_MAX];	/* when !ok: the builder's words */
};

/* Called once per started build, from the loop, unless the build was
 * forgotten first (media_srv_forget) or the service closed. */
typedef void (*media_srv_done_fn)(void *arg, const struct media_result *res);

int media_srv_open(struct media_srv **out, struct loop *l);
/* After the ring has exited: kill every build, remove its files. */
void media_srv_close(struct media_srv *m);
/* A completion of one of our operations (LOOP_OP_MEDIA_*). */
void media_srv_handle(struct media_srv *m, int op, void *obj, int res);
/* Once a second: kill builds that take too long. */
void media_srv_tick(struct media_srv *m, time_t now);
/* Builds running now. */
int media_srv_running(const struct media_srv *m);

/*
 * Build spec into spec->out (an absolute path): 0 and done(arg, ...)
 * later. Else, with the reason in err: -EBUSY when MEDIA_SRV_BUILDS_MAX
 * run already; -ECHILD when the builder cannot be started (memory, the
 * scratch directory, fork); any other -errno when the output cannot be
 * written ("cannot write OUT: reason"). spec is only read here: the
 * child has its own copy.
 */
int media_srv_start(struct media_srv *m, const struct media_spec *spec,
		    media_srv_done_fn done, void *arg, char *err,
		    size_t errlen);
/* Whoever started the build with arg no longer wants to hear of it. */
void media_srv_forget(struct media_srv *m, void *arg);

#endif /* XBOOTD_MEDIA_SRV_H */
