// SPDX-License-Identifier: GPL-2.0
/*
 * Boot media builds for the control API (see media_srv.h). A build goes
 * through three stages, each one operation in flight on the ring:
 *
 *   BUILDING  the child runs media_create() into DIR/medium.img; a poll
 *             on its pidfd completes when it exits
 *   COPYING   read a chunk of DIR/medium.img, write it to OUT.XXXXXX
 *             (created before the fork: an unwritable output is refused
 *             at once), until the read returns 0
 *   SYNCING   fsync OUT.XXXXXX; then chmod and rename it to OUT
 *
 * The child gets DIR as its TMPDIR, so whatever media_create() leaves
 * behind when it is killed is removed with DIR.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <openssl/evp.h>

#include "log.h"
#include "loop.h"
#include "media_srv.h"

enum build_stage {
	BUILDING,
	COPYING,
	SYNCING,
};

struct media_build {
	struct media_srv *srv;
	struct media_build *next;
	enum build_stage stage;
	pid_t pid;
	int pidfd;
	int msgfd;		/* the child's error message, non-blocking */
	int src, dst;		/* COPYING: DIR/medium.img, OUT.XXXXXX */
	int timed_out;
	time_t started;
	uint64_t off;		/* bytes copied */
	uint32_t chunk, done;	/* the chunk in buf, how much is written */
	uint8_t *buf;
	EVP_MD_CTX *sha;
	media_srv_done_fn notify;
	void *arg;
	struct media_result res;
	char dir[PATH_MAX];	/* scratch */
	char tmp[PATH_MAX];	/* OUT.XXXXXX */
	char out[PATH_MAX];
} LOOP_ALIGNED;

struct media_srv {
	struct loop *loop;
	struct media_build *builds;
	int nbuilds;
} LOOP_ALIGNED;

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* --- the child ------------------------------------------------------------ */

/*
 * In the child of a daemon: its signal mask blocks what the loop reads
 * from a signalfd, and posix_spawn() would hand that mask, and every fd
 * without O_CLOEXEC, on to the tools. Its own process group lets a timeout
 * kill the tools with it; PDEATHSIG ends it if xbootd dies.
 */
static void __attribute__((noreturn))
build_child(const struct media_spec *spec, const char *dir, int msgfd)
{
	char err[MEDIA_ERR_MAX] = "";
	sigset_t none;
	ssize_t n;
	int ret;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	setenv("TMPDIR", dir, 1);
	ret = media_create(spec, err, sizeof(err));
	if (ret) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-ret));
		/* less than PIPE_BUF: it all fits in the pipe at once */
		n = write(msgfd, err, strlen(err));
		(void)n;
	}
	_exit(ret ? 1 : 0);
}

/* --- ending a build ------------------------------------------------------- */

static void build_free(struct media_build *b)
{
	struct media_build **p;

	for (p = &b->srv->builds; *p; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			break;
		}
	}
	b->srv->nbuilds--;
	if (b->pid > 0) {
		kill(-b->pid, SIGKILL);
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
	}
	if (b->pidfd >= 0)
		close(b->pidfd);
	if (b->msgfd >= 0)
		close(b->msgfd);
	if (b->src >= 0)
		close(b->src);
	if (b->dst >= 0)
		close(b->dst);
	if (b->tmp[0])
		unlink(b->tmp);
	if (b->dir[0])
		nftw(b->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	EVP_MD_CTX_free(b->sha);
	free(b->buf);
	free(b);
}

static void build_finish(struct media_build *b)
{
	if (b->res.ok)
		pr_info("media: %s written (%llu bytes)", b->out,
			(unsigned long long)b->res.size);
	else
		pr_warn("media: %s: %s", b->out, b->res.error);
	if (b->notify)
		b->notify(b->arg, &b->res);
	build_free(b);
}

static void __attribute__((format(printf, 2, 3)))
build_fail(struct media_build *b, const char *fmt, ...)
{
	va_list ap;

	b->res.ok = 0;
	va_start(ap, fmt);
	vsnprintf(b->res.error, sizeof(b->res.error), fmt, ap);
	va_end(ap);
	build_finish(b);
}

/* --- copying the image ---------------------------------------------------- */

static void copy_read(struct media_build *b)
{
	struct io_uring_sqe *sqe = loop_get_sqe(b->srv->loop);

	if (!sqe)
		return build_fail(b, "cannot write %s: io_uring is full", b->out);
	io_uring_prep_read(sqe, b->src, b->buf, MEDIA_SRV_CHUNK, b->off);
	loop_sqe_data(sqe, b, LOOP_OP_MEDIA_READ);
}

static void copy_write(struct media_build *b)
{
	struct io_uring_sqe *sqe = loop_get_sqe(b->srv->loop);

	if (!sqe)
		return build_fail(b, "cannot write %s: io_uring is full", b->out);
	io_uring_prep_write(sqe, b->dst, b->buf + b->done, b->chunk - b->done,
			    b->off + b->done);
	loop_sqe_data(sqe, b, LOOP_OP_MEDIA_WRITE);
}

static void copy_sync(struct media_build *b)
{
	struct io_uring_sqe *sqe = loop_get_sqe(b->srv->loop);

	if (!sqe)
		return build_fail(b, "cannot write %s: io_uring is full", b->out);
	b->stage = SYNCING;
	io_uring_prep_fsync(sqe, b->dst, 0);
	loop_sqe_data(sqe, b, LOOP_OP_MEDIA_WRITE);
}

static void hex(const uint8_t *p, unsigned int n, char *out)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* The copy is on disk: give it its name. */
static void copy_done(struct media_build *b)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_DigestFinal_ex(b->sha, md, &mdlen) || mdlen != 32)
		return build_fail(b, "sha256 of %s failed", b->out);
	hex(md, mdlen, b->res.sha256);
	if (fchmod(b->dst, 0644) || rename(b->tmp, b->out))
		return build_fail(b, "cannot write %s: %s", b->out,
				  strerror(errno));
	b->tmp[0] = '\0';
	b->res.ok = 1;
	b->res.size = b->off;
	build_finish(b);
}

static void handle_read(struct media_build *b, int res)
{
	if (res < 0)
		return build_fail(b, "reading the built image: %s",
				  strerror(-res));
	if (!res)
		return copy_sync(b);
	b->chunk = res;
	b->done = 0;
	if (!EVP_DigestUpdate(b->sha, b->buf, res))
		return build_fail(b, "sha256 of %s failed", b->out);
	copy_write(b);
}

static void handle_write(struct media_build *b, int res)
{
	if (res < 0)
		return build_fail(b, "cannot write %s: %s", b->out,
				  strerror(-res));
	if (b->stage == SYNCING)
		return copy_done(b);
	if (!res)
		return build_fail(b, "cannot write %s: no progress", b->out);
	b->done += res;
	if (b->done < b->chunk)
		return copy_write(b); /* a short write: the rest */
	b->off += b->chunk;
	copy_read(b);
}

static void copy_start(struct media_build *b)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/medium.img", b->dir);
	b->src = open(path, O_RDONLY | O_CLOEXEC);
	if (b->src < 0)
		return build_fail(b, "the builder left no image: %s",
				  strerror(errno));
	b->buf = aligned_alloc(4096, MEDIA_SRV_CHUNK);
	b->sha = EVP_MD_CTX_new();
	if (!b->buf || !b->sha ||
	    !EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL))
		return build_fail(b, "out of memory");
	b->stage = COPYING;
	copy_read(b);
}

/* --- the child's end ------------------------------------------------------ */

static void handle_wait(struct media_build *b, int res)
{
	char msg[MEDIA_ERR_MAX];
	ssize_t n;
	int status;

	if (res < 0) {
		/* no way left to learn of its end without blocking on it */
		kill(-b->pid, SIGKILL);
		kill(b->pid, SIGKILL);
		return build_fail(b, "media builder: poll on its pidfd: %s",
				  strerror(-res));
	}
	if (waitpid(b->pid, &status, WNOHANG) <= 0)
		return build_fail(b, "media builder: wait: %s",
				  strerror(errno));
	b->pid = 0;
	if (b->timed_out)
		return build_fail(b, "the build took longer than %d s and was stopped",
				  MEDIA_SRV_TIMEOUT_S);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return copy_start(b);
	n = read(b->msgfd, msg, sizeof(msg) - 1);
	if (n > 0) {
		msg[n] = '\0';
		return build_fail(b, "%s", msg);
	}
	if (WIFSIGNALED(status))
		return build_fail(b, "the media builder was killed by signal %d",
				  WTERMSIG(status));
	build_fail(b, "the media builder failed (exit %d)",
		   WEXITSTATUS(status));
}

void media_srv_handle(struct media_srv *m, int op, void *obj, int res)
{
	switch (op) {
	case LOOP_OP_MEDIA_WAIT:
		handle_wait(obj, res);
		break;
	case LOOP_OP_MEDIA_READ:
		handle_read(obj, res);
		break;
	case LOOP_OP_MEDIA_WRITE:
		handle_write(obj, res);
		break;
	}
}

/* --- starting one --------------------------------------------------------- */

/* OUT.XXXXXX beside the output, so the rename stays in one file system. */
static int open_output(struct media_build *b, const char *out, char *err,
		       size_t errlen)
{
	struct stat st;
	int ret;

	if (snprintf(b->out, sizeof(b->out), "%s", out) >=
		    (int)sizeof(b->out) ||
	    snprintf(b->tmp, sizeof(b->tmp), "%s.XXXXXX", out) >=
		    (int)sizeof(b->tmp)) {
		b->tmp[0] = '\0';
		snprintf(err, errlen, "cannot write %s: name too long", out);
		return -ENAMETOOLONG;
	}
	if (!stat(out, &st) && !S_ISREG(st.st_mode)) {
		b->tmp[0] = '\0';
		snprintf(err, errlen, "cannot write %s: not a regular file",
			 out);
		return -EISDIR;
	}
	b->dst = mkostemp(b->tmp, O_CLOEXEC);
	if (b->dst < 0) {
		ret = -errno;
		b->tmp[0] = '\0';
		snprintf(err, errlen, "cannot write %s: %s", out,
			 strerror(-ret));
		return ret;
	}
	return 0;
}

static int scratch_dir(struct media_build *b, char *err, size_t errlen)
{
	const char *t = getenv("TMPDIR");
	int e;

	snprintf(b->dir, sizeof(b->dir), "%s/xbootd-media.XXXXXX",
		 t && *t ? t : "/tmp");
	if (mkdtemp(b->dir))
		return 0;
	e = errno;
	snprintf(err, errlen, "scratch directory %s: %s", b->dir,
		 strerror(e));
	b->dir[0] = '\0';
	return -e;
}

static int spawn(struct media_build *b, const struct media_spec *spec,
		 char *err, size_t errlen)
{
	char img[PATH_MAX + 16];
	struct media_spec cs = *spec;
	int pfd[2], ret;

	snprintf(img, sizeof(img), "%s/medium.img", b->dir);
	cs.out = img;
	if (pipe2(pfd, O_CLOEXEC))
		goto err;
	b->pid = fork();
	if (b->pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		goto err;
	}
	if (!b->pid) {
		close(pfd[0]);
		build_child(&cs, b->dir, pfd[1]);
	}
	close(pfd[1]);
	setpgid(b->pid, b->pid); /* also here: a kill may come before the
				  * child has run */
	b->msgfd = pfd[0];
	fcntl(b->msgfd, F_SETFL, O_NONBLOCK);
	/* The child stays a zombie until we wait: its pid cannot be reused
	 * before pidfd_open() has it. */
	b->pidfd = syscall(SYS_pidfd_open, b->pid, 0);
	if (b->pidfd < 0)
		goto err;
	return 0;
err:
	ret = errno;
	snprintf(err, errlen, "cannot start the media builder: %s",
		 strerror(ret));
	return -ret;
}

static int wait_arm(struct media_build *b, char *err, size_t errlen)
{
	struct io_uring_sqe *sqe = loop_get_sqe(b->srv->loop);

	if (!sqe) {
		snprintf(err, errlen, "io_uring submission queue full");
		return -EBUSY;
	}
	io_uring_prep_poll_add(sqe, b->pidfd, POLLIN);
	loop_sqe_data(sqe, b, LOOP_OP_MEDIA_WAIT);
	return 0;
}

int media_srv_start(struct media_srv *m, const struct media_spec *spec,
		    media_srv_done_fn done, void *arg, char *err,
		    size_t errlen)
{
	struct media_build *b;
	int ret;

	if (m->nbuilds >= MEDIA_SRV_BUILDS_MAX) {
		snprintf(err, errlen, "%d media builds are running already: try again when one has finished",
			 m->nbuilds);
		return -EBUSY;
	}
	b = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ECHILD;
	}
	memset(b, 0, sizeof(*b));
	b->srv = m;
	b->pidfd = b->msgfd = b->src = b->dst = -1;
	b->notify = done;
	b->arg = arg;
	b->started = mono_now();
	b->next = m->builds;
	m->builds = b;
	m->nbuilds++;
	ret = open_output(b, spec->out, err, errlen);
	if (!ret && (scratch_dir(b, err, errlen) ||
		     spawn(b, spec, err, errlen) || wait_arm(b, err, errlen)))
		ret = -ECHILD;
	if (ret) {
		b->notify = NULL;
		build_free(b);
		return ret;
	}
	pr_info("media: building a %s image for %s (pid %d)",
		media_type_name(spec->type), b->out, b->pid);
	return 0;
}

void media_srv_forget(struct media_srv *m, void *arg)
{
	struct media_build *b;

	for (b = m ? m->builds : NULL; b; b = b->next)
		if (b->arg == arg)
			b->notify = NULL;
}

int media_srv_running(const struct media_srv *m)
{
	return m ? m->nbuilds : 0;
}

void media_srv_tick(struct media_srv *m, time_t now)
{
	time_t mono = mono_now();
	struct media_build *b;

	for (b = m ? m->builds : NULL; b; b = b->next) {
		if (b->stage != BUILDING || b->timed_out || b->pid <= 0 ||
		    mono - b->started < MEDIA_SRV_TIMEOUT_S)
			continue;
		/* the pidfd's poll completes, and handle_wait() reports it */
		pr_warn("media: %s: the build has run %d s: stopping it",
			b->out, MEDIA_SRV_TIMEOUT_S);
		b->timed_out = 1;
		kill(-b->pid, SIGKILL);
	}
}

int media_srv_open(struct media_srv **out, struct loop *l)
{
	struct media_srv *m = aligned_alloc(1 << LOOP_OP_BITS, sizeof(*m));

	if (!m)
		return -ENOMEM;
	memset(m, 0, sizeof(*m));
	m->loop = l;
	*out = m;
	return 0;
}

void media_srv_close(struct media_srv *m)
{
	if (!m)
		return;
	while (m->builds) {
		m->builds->notify = NULL;
		build_free(m->builds);
	}
	free(m);
}
