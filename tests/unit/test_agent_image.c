// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's imaging engines on file-backed disks: a capture into the
 * image store (frames through image_writer_put_frame(), as the controller
 * takes them) deployed to another file is byte-identical; a chunk
 * corrupted in the store stops the deploy, named, with none of its bytes
 * on the target; an interrupted deploy resumed from its resume point
 * completes; a target too small is refused; and the disk layer's
 * fallbacks (buffered, synchronous, tmpfs) give the same bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/loop.h>
#include <cmocka.h>

#include "disk_io.h"
#include "fill_random.h"
#include "image_job.h"
#include "image_store.h"
#include "tmpdir.h"

#define CHUNK (64U * 1024)
#define N_CHUNKS 40U
/* an odd tail: the last chunk goes through the buffered fd */
#define SRC_SIZE ((uint64_t)N_CHUNKS * CHUNK + 1000)
#define PATTERN 0xa5

static char tmpdir[] = "/tmp/xboot-test-agent-image.XXXXXX";
/* the engines' worker threads in this test (its prestate), 0: none */
static unsigned int workers;
static unsigned int three = 3;
static char store_dir[128];
static struct image_store *st;
static uint64_t rng = 0x6a09e667f3bcc908ULL;

static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st_;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st_), 0);
	p = malloc(st_.st_size + 1);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, st_.st_size, 0), st_.st_size);
	close(fd);
	*len = st_.st_size;
	return p;
}

/*
 * The source disk: an MBR in chunk 0, random chunks, repeated text, and
 * zero regions (chunks 6..21 and 30..33) left as real holes in the file.
 */
static uint8_t *make_source(const char *path)
{
	uint8_t *d = calloc(1, SRC_SIZE);
	size_t i;
	int fd;

	fill_random(&rng, d, 6 * CHUNK);
	memset(d + 446, 0, 64);
	d[446] = 0x80;
	d[446 + 4] = 0x83;
	d[510] = 0x55;
	d[511] = 0xaa;
	for (i = 22 * CHUNK; i < 30 * CHUNK; i++)
		d[i] = "a disk of the xboot tests\n"[i % 26];
	fill_random(&rng, d + 34 * CHUNK, SRC_SIZE - 34 * CHUNK);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SRC_SIZE), 0);
	assert_int_equal(pwrite(fd, d, 6 * CHUNK, 0), 6 * CHUNK);
	assert_int_equal(pwrite(fd, d + 22 * CHUNK, 8 * CHUNK, 22 * CHUNK),
			 8 * CHUNK);
	assert_int_equal(pwrite(fd, d + 34 * CHUNK, SRC_SIZE - 34 * CHUNK,
				34 * CHUNK),
			 (ssize_t)(SRC_SIZE - 34 * CHUNK));
	close(fd);
	return d;
}

/* A target file full of PATTERN, so a chunk not written stands out. */
static void make_target(const char *path, uint64_t size)
{
	uint8_t *p = malloc(size);

	memset(p, PATTERN, size);
	write_file(path, p, size);
	free(p);
}

/* --- capture ----------------------------------------------------------- */

struct sink {
	struct image_writer *w;
	uint32_t calls;
	uint32_t frames;
	uint32_t last; /* the index of the last frame, to check order */
	bool pushback; /* -EAGAIN every other call */
	int fail_at; /* > 0: -EIO on this frame */
};

static int sink_cb(void *ctx, uint32_t index, const void *frame, size_t clen,
		   uint32_t raw_len)
{
	struct sink *s = ctx;
	struct image_err e;
	int err;

	assert_true(clen > 0);
	assert_true(raw_len > 0 && raw_len <= CHUNK);
	if (s->pushback && s->calls++ % 2 == 0)
		return -EAGAIN;
	if (s->fail_at && (int)index == s->fail_at)
		return -EIO;
	assert_true(!s->frames || index > s->last);
	s->last = index;
	s->frames++;
	err = image_writer_put_frame(s->w, index, frame, clen, &e);
	if (err)
		fail_msg("put_frame: %s", e.msg);
	return 0;
}

/* Drives a capture to its end; 0 or its error. */
static int run_capture(struct image_capture *c)
{
	struct pollfd p;
	int ret;

	for (;;) {
		ret = image_capture_step(c);
		if (ret <= 0)
			return ret;
		p.fd = image_capture_pollfd(c);
		p.events = POLLIN;
		/* a WAIT with a full sink only: the test's sink frees itself */
		if (ret == IMAGE_STEP_WAIT && p.fd >= 0)
			poll(&p, 1, 20);
	}
}

/* Captures src into the store as NAME; returns the capture's result. */
static void capture_sized(const char *src, const char *name,
			  unsigned int disk_flags, bool pushback,
			  uint64_t size, struct image_capture_result *r)
{
	struct image_capture_opts o = { .chunk_size = CHUNK, .level = 3,
					.depth = 4, .disk_flags = disk_flags,
					.workers = workers };
	struct image_capture *c;
	struct image_store_tx *tx;
	struct image_meta meta = { 0 };
	struct image_progress pr;
	struct sink s = { .pushback = pushback };
	struct image_err e;
	int err;

	/* the same test again with workers: the name is taken */
	image_store_remove(st, name, &e);
	err = image_capture_new(&c, src, &o, sink_cb, &s, &e);
	if (err)
		fail_msg("capture_new: %s", e.msg);
	assert_int_equal(image_capture_size(c), size);
	meta.size = image_capture_size(c);
	meta.capture_time = 1700000000;
	strcpy(meta.name, name);
	err = image_store_create(st, name, &meta, CHUNK, 3, 1, &tx, &e);
	if (err)
		fail_msg("store_create: %s", e.msg);
	s.w = image_store_tx_writer(tx);
	err = run_capture(c);
	if (err)
		fail_msg("capture: %s", image_capture_error(c));
	image_capture_result(c, r);
	image_capture_progress(c, &pr);
	assert_int_equal(pr.bytes, size);
	assert_int_equal(pr.chunks, r->n_chunks);
	assert_int_equal(r->n_chunks, (size + CHUNK - 1) / CHUNK);
	assert_int_equal(pr.eta_s, 0);
	assert_int_equal(s.frames, r->n_chunks - r->holes);
	image_capture_free(c);
	err = image_store_publish(tx, &e);
	if (err)
		fail_msg("publish: %s", e.msg);
}

static void capture_into_store(const char *src, const char *name,
			       unsigned int disk_flags, bool pushback,
			       struct image_capture_result *r)
{
	capture_sized(src, name, disk_flags, pushback, SRC_SIZE, r);
}

/* --- deploy ------------------------------------------------------------ */

struct source {
	struct image_handle *h;
	uint32_t q[DISK_DEPTH_MAX];
	unsigned int n;
	uint8_t *frame;
	int feeds_left; /* < 0: no limit; 0: the connection "drops" */
	int corrupt; /* >= 0: flip a byte of this chunk's frame */
	uint32_t asked;
	bool busy; /* fetch pushes back every other call */
	struct image_deploy *inline_feed; /* feed from inside fetch */
	bool pushed_back;
	unsigned int fetch_calls;
	/* once the last chunk is fed, scribble on this target's chunk 0 */
	const char *sabotage;
};

static int source_feed(struct source *s, struct image_deploy *d, bool *fed);

static int fetch_cb(void *ctx, uint32_t index, uint64_t offset, uint32_t clen)
{
	struct source *s = ctx;
	struct image_chunk ch;

	if (s->busy && s->fetch_calls++ % 2 == 0) {
		s->pushed_back = true;
		return -EAGAIN;
	}
	image_chunk_get(&s->h->m, index, &ch);
	assert_int_equal(ch.offset, offset);
	assert_int_equal(ch.clen, clen);
	assert_true(clen > 0);
	assert_true(s->n < DISK_DEPTH_MAX);
	s->q[s->n++] = index;
	s->asked++;
	if (s->inline_feed) {
		bool fed;

		return source_feed(s, s->inline_feed, &fed);
	}
	return 0;
}

static void source_open(struct source *s, const char *name)
{
	struct image_err e;

	memset(s, 0, sizeof(*s));
	if (image_store_image_open(st, name, &s->h, &e))
		fail_msg("image_open: %s", e.msg);
	s->frame = malloc(image_frame_bound(CHUNK));
	assert_non_null(s->frame);
	s->feeds_left = -1;
	s->corrupt = -1;
}

static void source_close(struct source *s)
{
	image_handle_close(s->h);
	free(s->frame);
}

/* Changes chunk 0 on the target behind the deploy's back. */
static void sabotage(const char *path)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XBOOT", 5, 100), 5);
	close(fd);
}

/* Feeds what was asked for, newest first (a transport may reorder). */
static int source_feed(struct source *s, struct image_deploy *d, bool *fed)
{
	struct image_chunk ch;
	uint32_t i;
	int err;

	while (s->n) {
		if (s->feeds_left == 0)
			return 1;
		i = s->q[--s->n];
		image_chunk_get(&s->h->m, i, &ch);
		assert_int_equal(pread(s->h->datafd, s->frame, ch.clen,
				       ch.offset),
				 (ssize_t)ch.clen);
		if ((int)i == s->corrupt)
			s->frame[ch.clen / 2] ^= 0x40;
		err = image_deploy_feed(d, i, s->frame, ch.clen);
		if (err)
			return err;
		*fed = true;
		if (s->feeds_left > 0)
			s->feeds_left--;
		if (s->sabotage && i == s->h->m.n_chunks - 1)
			sabotage(s->sabotage);
	}
	return 0;
}

/* 0 done, 1 the source stopped feeding, or the deploy's error. */
static int run_deploy(struct image_deploy *d, struct source *s)
{
	struct pollfd p;
	int ret, err;
	bool fed;

	for (;;) {
		ret = image_deploy_step(d);
		if (ret <= 0)
			return ret;
		fed = false;
		err = source_feed(s, d, &fed);
		if (err)
			return err;
		if (fed || s->pushed_back || ret == IMAGE_STEP_AGAIN) {
			s->pushed_back = false;
			continue;
		}
		p.fd = image_deploy_pollfd(d);
		p.events = POLLIN;
		/* WAIT means a completion is due: it must wake us */
		assert_true(p.fd >= 0);
		assert_int_equal(poll(&p, 1, 5000), 1);
	}
}

/* Lets what is in flight finish: steps until nothing happens for 200 ms. */
static void settle(struct image_deploy *d)
{
	struct pollfd p = { .fd = image_deploy_pollfd(d), .events = POLLIN };
	int ret;

	do {
		ret = image_deploy_step(d);
	} while (ret == IMAGE_STEP_AGAIN ||
		 (ret == IMAGE_STEP_WAIT && poll(&p, 1, 200) == 1));
}

static struct image_deploy *deploy_new(const char *name, const char *target,
				       struct source *s,
				       const struct image_deploy_opts *o)
{
	struct image_deploy_opts ow = *o;
	struct image_deploy *d;
	struct image_err e;
	int err;

	ow.workers = workers;
	err = image_deploy_new(&d, s->h->manifest_buf, s->h->manifest_len,
			       target, &ow, fetch_cb, s, &e);
	if (err)
		fail_msg("deploy_new %s: %s", name, e.msg);
	return d;
}

static void assert_same_file(const char *path, const uint8_t *want,
			     size_t len)
{
	size_t got_len, i;
	uint8_t *got = read_file(path, &got_len);

	assert_true(got_len >= len);
	for (i = 0; i < len; i++)
		if (got[i] != want[i])
			fail_msg("%s differs at byte %zu (chunk %zu)", path, i,
				 i / CHUNK);
	free(got);
}

/* Source and image for one test: NAME in the store, the raw bytes back. */
static uint8_t *setup_image(const char *name, char *src, size_t srclen,
			    struct image_capture_result *r)
{
	uint8_t *raw;

	path_in(src, srclen, tmpdir, name);
	raw = make_source(src);
	capture_into_store(src, name, 0, false, r);
	return raw;
}

static void test_capture_deploy_roundtrip(void **state)
{
	struct image_deploy_opts o = { .verify = IMAGE_VERIFY_FULL,
				       .depth = 4 };
	struct image_capture_result r;
	struct image_progress pr;
	struct image_deploy *d;
	struct source s;
	char src[256], dst[256];
	uint8_t *raw;
	int err;

	workers = *state ? *(unsigned int *)*state : 0;

	raw = setup_image("roundtrip", src, sizeof(src), &r);
	/* chunks 6..21 and 30..33 are zeros */
	assert_int_equal(r.holes, 20);
	assert_int_equal(r.size, SRC_SIZE);
	assert_int_equal(r.ptable, XBI_PTABLE_MBR);
	assert_int_equal(r.n_chunks, N_CHUNKS + 1);
	source_open(&s, "roundtrip");
	/* the agent's whole-image hash is the one the writer computed */
	assert_memory_equal(r.sha256, s.h->m.sha256, XBI_SHA256_LEN);
	assert_int_equal(r.data_size, s.h->m.data_size);
	assert_int_equal(s.h->m.meta.ptable, XBI_PTABLE_MBR);

	path_in(dst, sizeof(dst), tmpdir, "roundtrip.dst");
	make_target(dst, SRC_SIZE);
	d = deploy_new("roundtrip", dst, &s, &o);
	err = run_deploy(d, &s);
	if (err)
		fail_msg("deploy: %s", image_deploy_error(d));
	assert_int_equal(image_deploy_resume_point(d), N_CHUNKS + 1);
	/* holes are not fetched */
	assert_int_equal(s.asked, N_CHUNKS + 1 - 20);
	image_deploy_progress(d, &pr);
	assert_int_equal(pr.bytes, SRC_SIZE);
	assert_int_equal(pr.chunks, N_CHUNKS + 1);
	assert_int_equal(pr.holes, 20);
	assert_int_equal(pr.eta_s, 0);
	image_deploy_free(d);
	assert_same_file(dst, raw, SRC_SIZE);
	source_close(&s);
	free(raw);
}

/* The sink's -EAGAIN holds the frame back; order and bytes are kept. */
static void test_capture_pushback(void **state)
{
	struct image_capture_result r;
	struct source s;
	char src[256];
	uint8_t *raw;

	workers = *state ? *(unsigned int *)*state : 0;

	path_in(src, sizeof(src), tmpdir, "pushback");
	raw = make_source(src);
	capture_into_store(src, "pushback", 0, true, &r);
	source_open(&s, "pushback");
	assert_memory_equal(r.sha256, s.h->m.sha256, XBI_SHA256_LEN);
	assert_int_equal(image_verify_fd(&s.h->m, s.h->datafd, NULL), 0);
	source_close(&s);
	free(raw);
}

static void test_capture_sink_error(void **state)
{
	struct image_capture_opts o = { .chunk_size = CHUNK, .depth = 4 };
	struct image_capture *c;
	struct image_store_tx *tx;
	struct image_meta meta = { .size = SRC_SIZE };
	struct sink s = { .fail_at = 3 };
	struct image_err e;
	char src[256];
	uint8_t *raw;

	workers = *state ? *(unsigned int *)*state : 0;

	path_in(src, sizeof(src), tmpdir, "sinkerr");
	raw = make_source(src);
	assert_int_equal(image_capture_new(&c, src, &o, sink_cb, &s, &e), 0);
	strcpy(meta.name, "sinkerr");
	assert_int_equal(image_store_create(st, "sinkerr", &meta, CHUNK, 3, 1,
					    &tx, &e),
			 0);
	s.w = image_store_tx_writer(tx);
	assert_int_equal(run_capture(c), -EIO);
	assert_non_null(strstr(image_capture_error(c), "chunk 3"));
	image_capture_free(c);
	image_store_abort(tx);
	free(raw);
}

/* A chunk corrupted in the store: named, stopped, none of it written. */
static void test_deploy_corrupt_chunk(void **state)
{
	struct image_deploy_opts o = { .depth = 4 };
	struct image_capture_result r;
	struct image_deploy *d;
	struct image_chunk ch;
	struct source s;
	char src[256], dst[256], data[300];
	uint8_t *raw, *got, b;
	size_t len, i;
	int fd, err;

	workers = *state ? *(unsigned int *)*state : 0;

	raw = setup_image("corrupt", src, sizeof(src), &r);
	source_open(&s, "corrupt");
	/* flip one byte of chunk 24's frame in the store's data file */
	image_chunk_get(&s.h->m, 24, &ch);
	snprintf(data, sizeof(data), "%s/corrupt/%s", store_dir,
		 XBI_FILE_DATA);
	fd = open(data, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, ch.offset + ch.clen - 3), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, ch.offset + ch.clen - 3), 1);
	close(fd);

	path_in(dst, sizeof(dst), tmpdir, "corrupt.dst");
	make_target(dst, SRC_SIZE);
	d = deploy_new("corrupt", dst, &s, &o);
	err = run_deploy(d, &s);
	assert_true(err == -EBADMSG);
	assert_non_null(strstr(image_deploy_error(d), "chunk 24:"));
	/* the error stays; a later feed or step gives it again */
	assert_int_equal(image_deploy_step(d), err);
	assert_true(image_deploy_resume_point(d) <= 24);
	image_deploy_free(d);

	got = read_file(dst, &len);
	for (i = 24 * CHUNK; i < 25 * CHUNK; i++)
		if (got[i] != PATTERN)
			fail_msg("byte %zu of the bad chunk was written", i);
	free(got);
	source_close(&s);
	free(raw);
}

/* A deploy cut after some chunks, resumed by a new engine, completes. */
static void test_deploy_resume(void **state)
{
	struct image_deploy_opts o = { .depth = 4 };
	struct image_capture_result r;
	struct image_progress pr;
	struct image_deploy *d;
	struct source s;
	char src[256], dst[256];
	uint32_t resume, asked;
	uint8_t *raw;

	workers = *state ? *(unsigned int *)*state : 0;

	raw = setup_image("resume", src, sizeof(src), &r);
	source_open(&s, "resume");
	path_in(dst, sizeof(dst), tmpdir, "resume.dst");
	make_target(dst, SRC_SIZE);

	d = deploy_new("resume", dst, &s, &o);
	s.feeds_left = 9;
	assert_int_equal(run_deploy(d, &s), 1);
	settle(d);
	resume = image_deploy_resume_point(d);
	image_deploy_free(d);
	assert_true(resume > 0 && resume < N_CHUNKS + 1);
	/* everything below the resume point is on the target */
	assert_same_file(dst, raw, (size_t)resume * CHUNK);

	/* a new engine, as after an agent restart */
	s.n = 0;
	s.feeds_left = -1;
	asked = s.asked;
	o.start = resume;
	o.verify = IMAGE_VERIFY_FAST;
	d = deploy_new("resume", dst, &s, &o);
	assert_int_equal(image_deploy_resume_point(d), resume);
	if (run_deploy(d, &s))
		fail_msg("resumed deploy: %s", image_deploy_error(d));
	/* nothing below the resume point is asked for again */
	assert_true(s.asked - asked <= N_CHUNKS + 1 - resume);
	image_deploy_progress(d, &pr);
	assert_int_equal(pr.bytes, SRC_SIZE);
	image_deploy_free(d);
	assert_same_file(dst, raw, SRC_SIZE);
	source_close(&s);
	free(raw);
}

/* A connection lost mid-deploy: what was asked is asked again. */
static void test_deploy_refetch(void **state)
{
	struct image_deploy_opts o = { .depth = 6 };
	struct image_capture_result r;
	struct image_deploy *d;
	struct source s;
	char src[256], dst[256];
	uint8_t *raw;

	workers = *state ? *(unsigned int *)*state : 0;

	raw = setup_image("refetch", src, sizeof(src), &r);
	source_open(&s, "refetch");
	path_in(dst, sizeof(dst), tmpdir, "refetch.dst");
	make_target(dst, SRC_SIZE);
	d = deploy_new("refetch", dst, &s, &o);
	s.feeds_left = 5;
	assert_int_equal(run_deploy(d, &s), 1);
	settle(d);
	/* the requests in the queue are lost with the connection */
	s.n = 0;
	image_deploy_refetch(d);
	s.feeds_left = -1;
	if (run_deploy(d, &s))
		fail_msg("deploy after refetch: %s", image_deploy_error(d));
	/* a late duplicate is ignored */
	assert_int_equal(image_deploy_feed(d, 0, s.frame, 1), -EALREADY);
	image_deploy_free(d);
	assert_same_file(dst, raw, SRC_SIZE);

	/* a transport that feeds from inside fetch (a local file) */
	make_target(dst, SRC_SIZE);
	o.disk_flags = DISK_F_SYNC_IO;
	d = deploy_new("refetch", dst, &s, &o);
	s.inline_feed = d;
	if (run_deploy(d, &s))
		fail_msg("inline deploy: %s", image_deploy_error(d));
	image_deploy_free(d);
	assert_same_file(dst, raw, SRC_SIZE);
	s.inline_feed = NULL;
	source_close(&s);
	free(raw);
}

/* A transport that pushes back, and a target changed after writing. */
static void test_deploy_readback(void **state)
{
	struct image_deploy_opts o = { .depth = 2,
				       .verify = IMAGE_VERIFY_FAST };
	struct image_capture_result r;
	struct image_deploy *d;
	struct source s;
	char src[256], dst[256];
	uint8_t *raw;
	int err;

	workers = *state ? *(unsigned int *)*state : 0;

	raw = setup_image("readback", src, sizeof(src), &r);
	source_open(&s, "readback");
	path_in(dst, sizeof(dst), tmpdir, "readback.dst");
	make_target(dst, SRC_SIZE);
	s.busy = true;
	d = deploy_new("readback", dst, &s, &o);
	if (run_deploy(d, &s))
		fail_msg("deploy: %s", image_deploy_error(d));
	image_deploy_free(d);
	assert_same_file(dst, raw, SRC_SIZE);

	s.sabotage = dst;
	o.verify = IMAGE_VERIFY_FULL;
	d = deploy_new("readback", dst, &s, &o);
	err = run_deploy(d, &s);
	assert_int_equal(err, -EBADMSG);
	assert_non_null(strstr(image_deploy_error(d), "read back: chunk 0:"));
	image_deploy_free(d);
	source_close(&s);
	free(raw);
}

/* A source that shrinks under the capture: the chunk is named. */
static void test_capture_short_source(void **state)
{
	struct image_capture_opts o = { .chunk_size = CHUNK, .depth = 2 };
	struct image_capture *c;
	struct image_err e;
	struct sink s = { 0 };
	struct image_writer *w;
	struct image_meta meta = { .size = SRC_SIZE };
	char src[256];
	uint8_t *raw;
	int dirfd;

	workers = *state ? *(unsigned int *)*state : 0;

	path_in(src, sizeof(src), tmpdir, "short");
	raw = make_source(src);
	assert_int_equal(image_capture_new(&c, src, &o, sink_cb, &s, &e), 0);
	assert_int_equal(truncate(src, 10 * CHUNK), 0);
	strcpy(meta.name, "short");
	dirfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	assert_int_equal(image_writer_open(&w, dirfd, &meta, CHUNK, 1, 1, &e),
			 0);
	s.w = w;
	assert_int_equal(run_capture(c), -ENODATA);
	assert_non_null(strstr(image_capture_error(c), "chunk 10: read"));
	image_capture_free(c);
	image_writer_free(w);
	close(dirfd);
	free(raw);

	/* and the refusals at the start */
	o.chunk_size = 1000;
	assert_int_equal(image_capture_new(&c, src, &o, sink_cb, &s, &e),
			 -EINVAL);
	o.chunk_size = CHUNK;
	assert_int_equal(image_capture_new(&c, "/nonexistent", &o, sink_cb,
					   &s, &e),
			 -ENOENT);
	assert_int_equal(truncate(src, 0), 0);
	assert_int_equal(image_capture_new(&c, src, &o, sink_cb, &s, &e),
			 -EINVAL);
}

static void test_deploy_target_too_small(void **state)
{
	struct image_deploy_opts o = { 0 };
	struct image_capture_result r;
	struct image_deploy *d;
	struct image_err e;
	struct source s;
	char src[256], dst[256];
	uint8_t *raw;
	int err;

	workers = *state ? *(unsigned int *)*state : 0;

	raw = setup_image("small", src, sizeof(src), &r);
	source_open(&s, "small");
	path_in(dst, sizeof(dst), tmpdir, "small.dst");
	make_target(dst, SRC_SIZE - 1);
	err = image_deploy_new(&d, s.h->manifest_buf, s.h->manifest_len, dst,
			       &o, fetch_cb, &s, &e);
	assert_int_equal(err, -ENOSPC);
	assert_null(d);
	assert_non_null(strstr(e.msg, "the image needs"));

	/* a file may grow when asked to; then the deploy works */
	o.grow_file = true;
	d = deploy_new("small", dst, &s, &o);
	if (run_deploy(d, &s))
		fail_msg("deploy: %s", image_deploy_error(d));
	image_deploy_free(d);
	assert_same_file(dst, raw, SRC_SIZE);

	/* a bad manifest is refused before the target is touched */
	s.h->manifest_len--;
	err = image_deploy_new(&d, s.h->manifest_buf, s.h->manifest_len, dst,
			       &o, fetch_cb, &s, &e);
	s.h->manifest_len++;
	assert_int_equal(err, -EBADMSG);
	source_close(&s);
	free(raw);
}

/* Capture and deploy through each disk fallback: same bytes. */
static void fallback_roundtrip(const char *dir, const char *name,
			       unsigned int flags)
{
	struct image_deploy_opts o = { .verify = IMAGE_VERIFY_FULL,
				       .depth = 3, .disk_flags = flags };
	struct image_capture_result r;
	struct image_deploy *d;
	struct source s;
	char src[256], dst[256];
	uint8_t *raw;

	path_in(src, sizeof(src), dir, name);
	raw = make_source(src);
	capture_into_store(src, name, flags, false, &r);
	source_open(&s, name);
	assert_memory_equal(r.sha256, s.h->m.sha256, XBI_SHA256_LEN);
	snprintf(dst, sizeof(dst), "%s/%s.dst", dir, name);
	make_target(dst, SRC_SIZE);
	d = deploy_new(name, dst, &s, &o);
	if (flags & DISK_F_BUFFERED)
		assert_false(image_deploy_direct(d));
	if (run_deploy(d, &s))
		fail_msg("%s: deploy: %s", name, image_deploy_error(d));
	image_deploy_free(d);
	assert_same_file(dst, raw, SRC_SIZE);
	source_close(&s);
	unlink(src);
	unlink(dst);
	free(raw);
}

static void test_fallbacks(void **state)
{
	char shm[] = "/dev/shm/xboot-test-agent-image.XXXXXX";

	workers = *state ? *(unsigned int *)*state : 0;

	fallback_roundtrip(tmpdir, "buffered", DISK_F_BUFFERED);
	fallback_roundtrip(tmpdir, "syncio", DISK_F_SYNC_IO);
	fallback_roundtrip(tmpdir, "both", DISK_F_BUFFERED | DISK_F_SYNC_IO);
	/* tmpfs: O_DIRECT refused before 6.6, accepted since */
	if (mkdtemp(shm)) {
		fallback_roundtrip(shm, "tmpfs", 0);
		rmdir(shm);
	}
}

/*
 * A loop device on path that detaches itself when its last opener closes
 * (the fd returned, then the engines'), even if a failed test never
 * cleans up. The fd, or -1 (no root, no loop devices).
 */
static int loop_attach(const char *path, char *dev, size_t len)
{
	struct loop_config cfg = { .info.lo_flags = LO_FLAGS_AUTOCLEAR };
	int ctl, fd, n, lfd = -1, tries;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -1;
	fd = open(path, O_RDWR | O_CLOEXEC);
	cfg.fd = fd;
	for (tries = 0; fd >= 0 && tries < 10; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		snprintf(dev, len, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0)
			break;
		if (!ioctl(lfd, LOOP_CONFIGURE, &cfg))
			break;
		close(lfd);
		lfd = -1;
		/* another process took it between the two calls */
		if (errno != EBUSY)
			break;
	}
	if (fd >= 0)
		close(fd);
	close(ctl);
	return lfd;
}

/*
 * Block devices: the size from BLKGETSIZE64, a tail of 512-byte sectors
 * that is not 4 KiB aligned, holes discarded. Needs root and loop devices.
 */
static void test_block_devices(void **state)
{
	struct image_deploy_opts o = { .verify = IMAGE_VERIFY_FULL };
	uint64_t size = (uint64_t)N_CHUNKS * CHUNK + 1024;
	struct image_capture_result r;
	struct image_deploy *d;
	struct source s;
	char src[256], dst[256], sdev[64], ddev[64];
	int err, sfd, dfd;
	uint8_t *raw;

	workers = *state ? *(unsigned int *)*state : 0;

	path_in(src, sizeof(src), tmpdir, "blk");
	path_in(dst, sizeof(dst), tmpdir, "blk.dst");
	raw = make_source(src);
	/* the loop device ends on a sector: pad the file with zeros */
	raw = realloc(raw, size);
	memset(raw + SRC_SIZE, 0, size - SRC_SIZE);
	assert_int_equal(truncate(src, size), 0);
	make_target(dst, size + 3 * CHUNK);
	sfd = loop_attach(src, sdev, sizeof(sdev));
	dfd = loop_attach(dst, ddev, sizeof(ddev));
	if (sfd < 0 || dfd < 0) {
		printf("skip: no loop devices here\n");
		if (sfd >= 0)
			close(sfd);
		free(raw);
		skip();
	}
	capture_sized(sdev, "blk", 0, false, size, &r);
	assert_int_equal(r.holes, 20);
	source_open(&s, "blk");
	d = deploy_new("blk", ddev, &s, &o);
	err = run_deploy(d, &s);
	if (err)
		fail_msg("deploy to %s: %s", ddev, image_deploy_error(d));
	image_deploy_free(d);
	close(sfd);
	close(dfd);
	assert_same_file(dst, raw, size);
	source_close(&s);
	free(raw);
}

/* --- disk layer -------------------------------------------------------- */

static void test_disk_io(void **state)
{
	struct disk_done done;
	struct stat st_;
	struct disk d;
	char path[256];
	uint8_t *buf, *data;
	size_t i;

	path_in(path, sizeof(path), tmpdir, "disk");
	data = malloc(3 * CHUNK + 100);
	fill_random(&rng, data, 3 * CHUNK + 100);
	write_file(path, data, 3 * CHUNK + 100);

	assert_int_equal(disk_open(&d, path, 0, 0), -EINVAL);
	assert_int_equal(disk_open(&d, path, 1U << 7, 2), -EINVAL);
	assert_int_equal(disk_open(&d, "/nonexistent/x", 0, 2), -ENOENT);
	assert_int_equal(disk_open(&d, "/dev/null", 0, 2), -ENOTBLK);

	assert_int_equal(disk_open(&d, path, DISK_F_WRITE, 2), 0);
	assert_int_equal(d.size, 3 * CHUNK + 100);
	assert_true(d.direct); /* ext4 or similar under /tmp */
	buf = disk_buf_alloc(2 * CHUNK);
	assert_non_null(buf);
	/* aligned (O_DIRECT) and a short tail (buffered) at once */
	assert_int_equal(disk_read(&d, buf, CHUNK, CHUNK, 1), 0);
	assert_int_equal(disk_read(&d, buf + CHUNK, 100, 3 * CHUNK, 2), 0);
	assert_int_equal(disk_read(&d, buf, 1, 0, 3), -EBUSY);
	for (i = 0; i < 2; i++) {
		assert_int_equal(disk_complete(&d, &done, true), 1);
		assert_true(done.tag == 1 || done.tag == 2);
		assert_int_equal(done.res, done.tag == 1 ? CHUNK : 100);
	}
	assert_int_equal(disk_complete(&d, &done, true), 0);
	assert_memory_equal(buf, data + CHUNK, CHUNK);
	assert_memory_equal(buf + CHUNK, data + 3 * CHUNK, 100);

	/* reading past the end is an error, not a silent short read */
	assert_int_equal(disk_read(&d, buf, CHUNK, 3 * CHUNK + 4096, 4), 0);
	assert_int_equal(disk_complete(&d, &done, true), 1);
	assert_int_equal(done.res, -ENODATA);

	/* a hole punched in the middle reads as zeros, and takes no space */
	assert_int_equal(disk_zero(&d, CHUNK, CHUNK), 0);
	free(buf);
	buf = disk_buf_alloc(3 * CHUNK);
	assert_int_equal(disk_read(&d, buf, 3 * CHUNK, 0, 5), 0);
	assert_int_equal(disk_complete(&d, &done, true), 1);
	assert_int_equal(done.res, 3 * CHUNK);
	for (i = 0; i < CHUNK; i++)
		assert_int_equal(buf[CHUNK + i], 0);
	assert_memory_equal(buf, data, CHUNK);
	assert_int_equal(stat(path, &st_), 0);
	assert_true(st_.st_blocks * 512 < 3 * CHUNK + 4096);
	/* an unaligned zero range (the tail) */
	assert_int_equal(disk_zero(&d, 3 * CHUNK + 10, 50), 0);
	assert_int_equal(disk_sync(&d), 0);
	disk_close(&d);
	free(buf);
	free(data);
	buf = read_file(path, &i);
	assert_int_equal(i, 3 * CHUNK + 100);
	for (i = 3 * CHUNK + 10; i < 3 * CHUNK + 60; i++)
		assert_int_equal(buf[i], 0);
	free(buf);
}

static int setup(void **state)
{
	struct image_err e;

	if (tmpdir_make(tmpdir))
		return -1;
	path_in(store_dir, sizeof(store_dir), tmpdir, "store");
	return image_store_open(&st, store_dir, &e);
}

static int teardown(void **state)
{
	image_store_close(st);
	return tmpdir_remove(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disk_io),
		cmocka_unit_test(test_capture_deploy_roundtrip),
		cmocka_unit_test(test_capture_pushback),
		cmocka_unit_test(test_capture_sink_error),
		cmocka_unit_test(test_deploy_corrupt_chunk),
		cmocka_unit_test(test_deploy_resume),
		cmocka_unit_test(test_deploy_refetch),
		cmocka_unit_test(test_deploy_readback),
		cmocka_unit_test(test_capture_short_source),
		cmocka_unit_test(test_deploy_target_too_small),
		cmocka_unit_test(test_fallbacks),
		cmocka_unit_test(test_block_devices),
		/* the same with worker threads */
		cmocka_unit_test_prestate(test_capture_deploy_roundtrip,
					  &three),
		cmocka_unit_test_prestate(test_capture_pushback, &three),
		cmocka_unit_test_prestate(test_deploy_corrupt_chunk, &three),
		cmocka_unit_test_prestate(test_deploy_resume, &three),
		cmocka_unit_test_prestate(test_deploy_refetch, &three),
		cmocka_unit_test_prestate(test_deploy_readback, &three),
		cmocka_unit_test_prestate(test_fallbacks, &three),
		cmocka_unit_test_prestate(test_block_devices, &three),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
