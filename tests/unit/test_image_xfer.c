// SPDX-License-Identifier: GPL-2.0
/*
 * The controller's side of image transfers (image_xfer.c, image_http.h)
 * without sockets: job keys and who they authorise, the job-add checks,
 * deploy ranges on and off chunk boundaries, and captures - a good one
 * published and verified, then a table of ways one fails, each leaving no
 * image and no staging directory - and the tick that drops a capture
 * whose job stopped or whose agent went quiet.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "image_store.h"
#include "image_xfer.h"
#include "machines.h"
#include "store.h"

#define CHUNK (64U << 10)
#define NCHUNKS 5

static char tmpdir[] = "/tmp/xboot-test-image-xfer.XXXXXX";
static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct ctx {
	struct store *st;
	struct machines *m;
	struct image_store *images;
	struct image_xfer *x;
	char store_dir[600];
	uint8_t raw[NCHUNKS * CHUNK - 1000]; /* the last chunk is short */
	uint8_t *frame[NCHUNKS];
	ssize_t flen[NCHUNKS];
	char sha[2 * XBI_SHA256_LEN + 1];
};

static struct ctx *C;

static uint32_t raw_len(unsigned int i)
{
	return i == NCHUNKS - 1 ? sizeof(C->raw) - i * CHUNK : CHUNK;
}

/* data, zeros, text, zeros, data: two holes */
static void make_raw(struct ctx *c)
{
	struct image_encoder *enc;
	struct image_err e;
	unsigned char md[32];
	unsigned int i;

	srand(7);
	memset(c->raw, 0, sizeof(c->raw));
	for (i = 0; i < CHUNK; i++)
		c->raw[i] = rand();
	for (i = 2 * CHUNK; i < 3 * CHUNK; i++)
		c->raw[i] = "xboot "[i % 6];
	for (i = 4 * CHUNK; i < sizeof(c->raw); i++)
		c->raw[i] = rand();
	assert_int_equal(image_encoder_new(&enc, CHUNK, 3, 0), 0);
	for (i = 0; i < NCHUNKS; i++) {
		c->frame[i] = malloc(image_frame_bound(CHUNK));
		c->flen[i] = image_encode_chunk(enc, c->raw + i * CHUNK,
						raw_len(i), c->frame[i],
						image_frame_bound(CHUNK), &e);
		assert_true(c->flen[i] >= 0);
	}
	image_encoder_free(enc);
	EVP_Digest(c->raw, sizeof(c->raw), md, NULL, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(c->sha + 2 * i, 3, "%02x", md[i]);
}

static int setup(void **state)
{
	struct image_err e;
	char path[700];
	int fd;

	if (!mkdtemp(tmpdir))
		return -1;
	C = calloc(1, sizeof(*C));
	make_raw(C);
	if (store_open(&C->st, tmpdir) || machines_open(&C->m, C->st))
		return -1;
	snprintf(C->store_dir, sizeof(C->store_dir), "%s/images", tmpdir);
	if (image_store_open(&C->images, C->store_dir, &e))
		return -1;
	if (image_xfer_open(&C->x, C->m, C->images))
		return -1;
	/* the image deploys read */
	snprintf(path, sizeof(path), "%s/src.raw", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, C->raw, sizeof(C->raw)) != sizeof(C->raw))
		return -1;
	close(fd);
	if (image_store_import(C->images, path, "src", CHUNK, 3, 0, &e))
		return -1;
	*state = C;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	int i;

	image_xfer_close(C->x);
	image_store_close(C->images);
	machines_close(C->m);
	store_close(C->st);
	for (i = 0; i < NCHUNKS; i++)
		free(C->frame[i]);
	free(C);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

/* A job of type sent to the agent, its key in key. */
static uint64_t job_sent(int type, const char *a0, const char *a1,
			 char key[MACHINES_JOB_KEY_TEXT])
{
	const char *args[2] = { a0, a1 };
	static uint32_t seq;
	uint64_t id;

	assert_int_equal(machines_job_add(C->m, mac, type, 0, 0, args, 2, &id),
			 0);
	assert_int_equal(machines_job_sent(C->m, id, ++seq), 0);
	assert_int_equal(machines_job_key_new(C->m, id, key), 0);
	return id;
}

static bool listed(const char *name)
{
	struct image_info *list;
	bool found = false;
	size_t n, i;

	assert_int_equal(image_store_list(C->images, &list, &n), 0);
	for (i = 0; i < n; i++)
		found |= !strcmp(list[i].name, name);
	free(list);
	return found;
}

static int staging_dirs(void)
{
	DIR *d = opendir(C->store_dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] == '.' && strcmp(de->d_name, ".") &&
		     strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void test_job_add_checks(void **state)
{
	const char *one[1] = { "src" };
	const char *bad[2] = { "../x", "/dev/vda" };
	const char *deploy_missing[2] = { "nope", "/dev/vda" };
	const char *capture_taken[2] = { "/dev/vda", "src" };
	const char *capture_new[2] = { "/dev/vda", "fresh" };
	const char *deploy_src[2] = { "src", "/dev/vda" };
	char why[128];
	uint64_t id;

	(void)state;
	assert_int_equal(machines_job_add(C->m, mac, XBA_JOB_IMAGE_DEPLOY, 0,
					  0, one, 1, &id), -EINVAL);
	assert_int_equal(image_xfer_job_check(C->images, XBA_JOB_IMAGE_DEPLOY,
					      one, 1, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(image_xfer_job_check(C->images, XBA_JOB_IMAGE_DEPLOY,
					      bad, 2, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(image_xfer_job_check(C->images, XBA_JOB_IMAGE_DEPLOY,
					      deploy_missing, 2, why,
					      sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "nope"));
	assert_int_equal(image_xfer_job_check(C->images, XBA_JOB_IMAGE_DEPLOY,
					      deploy_src, 2, why, sizeof(why)),
			 0);
	assert_int_equal(image_xfer_job_check(C->images, XBA_JOB_IMAGE_CAPTURE,
					      capture_taken, 2, why,
					      sizeof(why)), -EEXIST);
	assert_string_equal(why, "image src exists");
	assert_int_equal(image_xfer_job_check(C->images, XBA_JOB_IMAGE_CAPTURE,
					      capture_new, 2, why,
					      sizeof(why)), 0);
	assert_int_equal(image_xfer_job_check(C->images, XBA_JOB_RUN, one, 1,
					      why, sizeof(why)), 0);
}

static void test_keys(void **state)
{
	char key[MACHINES_JOB_KEY_TEXT], old[MACHINES_JOB_KEY_TEXT];
	struct image_xfer_auth a;
	struct job_rec j;
	uint64_t id;

	(void)state;
	id = job_sent(XBA_JOB_IMAGE_DEPLOY, "src", "/dev/vda", key);
	assert_int_equal(strlen(key), IMAGE_HTTP_KEY_HEX);
	assert_int_equal(machines_job_key_find(C->m, key, &j), 0);
	assert_int_equal(j.id, id);
	job_rec_free(&j);

	assert_int_equal(image_xfer_authorise(C->x, key, XBA_JOB_IMAGE_DEPLOY,
					      "src", "test", &a), 0);
	assert_int_equal(a.job, id);
	assert_memory_equal(a.mac, mac, 6);
	assert_int_equal(image_xfer_authorise(C->x, "", XBA_JOB_IMAGE_DEPLOY,
					      "src", "test", &a), 401);
	assert_int_equal(image_xfer_authorise(C->x, "short",
					      XBA_JOB_IMAGE_DEPLOY, "src",
					      "test", &a), 401);
	/* another image, another type */
	assert_int_equal(image_xfer_authorise(C->x, key, XBA_JOB_IMAGE_DEPLOY,
					      "other", "test", &a), 403);
	assert_int_equal(image_xfer_authorise(C->x, key,
					      XBA_JOB_IMAGE_CAPTURE, "src",
					      "test", &a), 403);
	/* a resent JOB frame's key replaces the old one */
	strcpy(old, key);
	assert_int_equal(machines_job_key_new(C->m, id, key), 0);
	assert_string_not_equal(old, key);
	assert_int_equal(image_xfer_authorise(C->x, old, XBA_JOB_IMAGE_DEPLOY,
					      "src", "test", &a), 401);
	assert_int_equal(image_xfer_authorise(C->x, key, XBA_JOB_IMAGE_DEPLOY,
					      "src", "test", &a), 0);
	/* a job no longer in flight */
	assert_int_equal(machines_job_cancel(C->m, id), 0);
	assert_int_equal(image_xfer_authorise(C->x, key, XBA_JOB_IMAGE_DEPLOY,
					      "src", "test", &a), 403);
}

static void test_deploy_ranges(void **state)
{
	char key[MACHINES_JOB_KEY_TEXT];
	struct image_handle *h;
	struct image_chunk c[NCHUNKS];
	struct image_xfer_auth a;
	struct image_err e;
	unsigned int i;
	uint64_t end;

	(void)state;
	job_sent(XBA_JOB_IMAGE_DEPLOY, "src", "/dev/vda", key);
	assert_int_equal(image_xfer_authorise(C->x, key, XBA_JOB_IMAGE_DEPLOY,
					      "src", "test", &a), 0);
	assert_int_equal(image_store_image_open(C->images, "src", &h, &e), 0);
	for (i = 0; i < NCHUNKS; i++)
		image_chunk_get(&h->m, i, &c[i]);
	end = h->m.data_size;
	image_handle_close(h);
	assert_int_equal(c[1].clen, 0);
	assert_int_equal(c[3].clen, 0);

	/* one frame each, several in a row, the whole file */
	for (i = 0; i < NCHUNKS; i += 2)
		assert_int_equal(image_xfer_deploy_range(C->x, &a, "src",
							 c[i].offset,
							 c[i].clen), 0);
	assert_int_equal(image_xfer_deploy_range(C->x, &a, "src", c[2].offset,
						 end - c[2].offset), 0);
	assert_int_equal(image_xfer_deploy_range(C->x, &a, "src", 0, end), 0);
	/* off the boundaries */
	assert_int_equal(image_xfer_deploy_range(C->x, &a, "src", 1,
						 c[0].clen - 1), -EINVAL);
	assert_int_equal(image_xfer_deploy_range(C->x, &a, "src", 0,
						 c[0].clen + 1), -EINVAL);
	assert_int_equal(image_xfer_deploy_range(C->x, &a, "src", 0,
						 c[0].clen - 1), -EINVAL);
	assert_int_equal(image_xfer_deploy_range(C->x, &a, "src", 0, end + 1),
			 -EINVAL);
	assert_int_equal(image_xfer_deploy_range(C->x, &a, "src", end, 0),
			 -EINVAL);
}

struct capture {
	uint64_t job;
	struct image_xfer_auth a;
	struct image_xfer_reply r;
	const char *name;
};

static void capture_begin(struct capture *cp, const char *name)
{
	char key[MACHINES_JOB_KEY_TEXT], body[96];

	cp->name = name;
	cp->job = job_sent(XBA_JOB_IMAGE_CAPTURE, "/dev/vda", name, key);
	assert_int_equal(image_xfer_authorise(C->x, key,
					      XBA_JOB_IMAGE_CAPTURE, name,
					      "test", &cp->a), 0);
	snprintf(body, sizeof(body), "{\"size\":%zu,\"chunk_size\":%u}",
		 sizeof(C->raw), CHUNK);
	image_xfer_capture_start(C->x, &cp->a, name, body, strlen(body),
				 &cp->r);
	assert_int_equal(cp->r.status, 201);
}

static int put(struct capture *cp, unsigned int i)
{
	image_xfer_capture_chunk(C->x, &cp->a, cp->name, i, raw_len(i),
				 C->frame[i], C->flen[i], &cp->r);
	return cp->r.status;
}

static int finish(struct capture *cp, const char *sha, const char *ptable)
{
	char body[200];

	snprintf(body, sizeof(body), "{\"size\":%zu,\"sha256\":\"%s\"%s%s%s}",
		 sizeof(C->raw), sha, ptable ? ",\"ptable\":\"" : "",
		 ptable ? ptable : "", ptable ? "\"" : "");
	image_xfer_capture_finish(C->x, &cp->a, cp->name, body, strlen(body),
				  &cp->r);
	return cp->r.status;
}

static void test_capture_good(void **state)
{
	struct capture cp;
	struct image_err e;
	char body[96];

	(void)state;
	capture_begin(&cp, "good");
	assert_int_equal(staging_dirs(), 1);
	assert_int_equal(image_xfer_captures(C->x), 1);
	/* a second start with the same geometry resumes, another refuses */
	snprintf(body, sizeof(body), "{\"size\":%zu,\"chunk_size\":%u}",
		 sizeof(C->raw), CHUNK);
	assert_int_equal(put(&cp, 0), 200);
	image_xfer_capture_start(C->x, &cp.a, "good", body, strlen(body),
				 &cp.r);
	assert_int_equal(cp.r.status, 200);
	assert_string_equal(cp.r.body, "{\"next\":1}");
	image_xfer_capture_start(C->x, &cp.a, "good", "{\"size\":5,\"chunk_size\":65536}",
				 30, &cp.r);
	assert_int_equal(cp.r.status, 409);
	/* a chunk again is refused but does no harm */
	assert_int_equal(put(&cp, 0), 409);
	assert_int_equal(put(&cp, 2), 200);
	assert_int_equal(put(&cp, 4), 200);
	assert_false(listed("good"));
	assert_int_equal(finish(&cp, C->sha, "none"), 201);
	assert_non_null(strstr(cp.r.body, "\"holes\":2"));
	assert_true(listed("good"));
	assert_int_equal(staging_dirs(), 0);
	assert_int_equal(image_xfer_captures(C->x), 0);
	assert_int_equal(image_store_verify(C->images, "good", &e), 0);
}

enum fail_how {
	FAIL_BAD_FRAME,
	FAIL_RAW_LENGTH,
	FAIL_INDEX,
	FAIL_SHA,
	FAIL_PTABLE,
	FAIL_TRUNCATED, /* finish before the last data chunk */
};

static const struct {
	const char *name;
	enum fail_how how;
	int status;
	const char *why;
} fail_cases[] = {
	{ "bad-frame", FAIL_BAD_FRAME, 422, "chunk 2: " },
	{ "raw-length", FAIL_RAW_LENGTH, 422, "raw length" },
	{ "index", FAIL_INDEX, 422, "the image has 5" },
	{ "sha", FAIL_SHA, 422, "SHA-256" },
	{ "ptable", FAIL_PTABLE, 422, "partition table" },
	{ "truncated", FAIL_TRUNCATED, 422, "SHA-256" },
};

static void test_capture_failures(void **state)
{
	uint8_t junk[4096];
	struct capture cp;
	unsigned int i;
	int st = 0;

	(void)state;
	memset(junk, 0x5a, sizeof(junk));
	for (i = 0; i < sizeof(fail_cases) / sizeof(fail_cases[0]); i++) {
		capture_begin(&cp, fail_cases[i].name);
		assert_int_equal(put(&cp, 0), 200);
		switch (fail_cases[i].how) {
		case FAIL_BAD_FRAME:
			image_xfer_capture_chunk(C->x, &cp.a, cp.name, 2,
						 CHUNK, junk, sizeof(junk),
						 &cp.r);
			st = cp.r.status;
			break;
		case FAIL_RAW_LENGTH:
			image_xfer_capture_chunk(C->x, &cp.a, cp.name, 2,
						 CHUNK - 1, C->frame[2],
						 C->flen[2], &cp.r);
			st = cp.r.status;
			break;
		case FAIL_INDEX:
			image_xfer_capture_chunk(C->x, &cp.a, cp.name, 5,
						 CHUNK, C->frame[2],
						 C->flen[2], &cp.r);
			st = cp.r.status;
			break;
		case FAIL_SHA:
			assert_int_equal(put(&cp, 2), 200);
			assert_int_equal(put(&cp, 4), 200);
			st = finish(&cp, "00000000000000000000000000000000"
					 "00000000000000000000000000000000",
				    NULL);
			break;
		case FAIL_PTABLE:
			assert_int_equal(put(&cp, 2), 200);
			assert_int_equal(put(&cp, 4), 200);
			st = finish(&cp, C->sha, "gpt");
			break;
		case FAIL_TRUNCATED:
			assert_int_equal(put(&cp, 2), 200);
			st = finish(&cp, C->sha, NULL);
			break;
		}
		if (st != fail_cases[i].status ||
		    !strstr(cp.r.body, fail_cases[i].why))
			fail_msg("%s: %d %s", fail_cases[i].name, st,
				 cp.r.body);
		assert_false(listed(cp.name));
		assert_int_equal(staging_dirs(), 0);
		/* a failed capture takes nothing more */
		assert_int_equal(put(&cp, 4), 409);
		assert_int_equal(finish(&cp, C->sha, NULL), 409);
		assert_int_equal(machines_job_cancel(C->m, cp.job), 0);
	}
	assert_int_equal(image_xfer_captures(C->x), 0);
}

static void test_capture_dropped(void **state)
{
	struct timespec now;
	struct capture cp;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* the job is cancelled: gone at the next tick */
	capture_begin(&cp, "cancelled");
	assert_int_equal(put(&cp, 0), 200);
	image_xfer_tick(C->x, now.tv_sec);
	assert_int_equal(staging_dirs(), 1);
	assert_int_equal(machines_job_cancel(C->m, cp.job), 0);
	image_xfer_tick(C->x, now.tv_sec);
	assert_int_equal(staging_dirs(), 0);
	assert_false(listed("cancelled"));
	assert_int_equal(put(&cp, 2), 409);

	/* the agent went quiet */
	capture_begin(&cp, "quiet");
	image_xfer_tick(C->x, now.tv_sec + IMAGE_HTTP_CAPTURE_IDLE_S - 1);
	assert_int_equal(staging_dirs(), 1);
	image_xfer_tick(C->x, now.tv_sec + IMAGE_HTTP_CAPTURE_IDLE_S + 1);
	assert_int_equal(staging_dirs(), 0);
	assert_int_equal(image_xfer_captures(C->x), 0);

	/* the agent gives up */
	capture_begin(&cp, "aborted");
	image_xfer_capture_abort(C->x, &cp.a, cp.name, &cp.r);
	assert_int_equal(cp.r.status, 200);
	assert_int_equal(staging_dirs(), 0);
}

static void test_capture_bad_requests(void **state)
{
	static const char *const bodies[] = {
		"", "[]", "{\"size\":1}", "{\"size\":-1,\"chunk_size\":65536}",
		"{\"size\":10,\"chunk_size\":3000}",
		"{\"size\":10,\"chunk_size\":134217728}",
		"{\"size\":0,\"chunk_size\":65536}",
		"{\"size\":\"10\",\"chunk_size\":65536}",
		"{\"size\":10,\"chunk_size\":65536", /* cut short */
	};
	char key[MACHINES_JOB_KEY_TEXT];
	struct image_xfer_reply r;
	struct image_xfer_auth a;
	unsigned int i;

	(void)state;
	job_sent(XBA_JOB_IMAGE_CAPTURE, "/dev/vda", "badreq", key);
	assert_int_equal(image_xfer_authorise(C->x, key,
					      XBA_JOB_IMAGE_CAPTURE, "badreq",
					      "test", &a), 0);
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		image_xfer_capture_start(C->x, &a, "badreq", bodies[i],
					 strlen(bodies[i]), &r);
		if (r.status != 422)
			fail_msg("start %s: %d", bodies[i], r.status);
	}
	image_xfer_capture_chunk(C->x, &a, "badreq", 0, CHUNK, C->frame[0],
				 C->flen[0], &r);
	assert_int_equal(r.status, 409);
	image_xfer_capture_finish(C->x, &a, "badreq", "{}", 2, &r);
	assert_int_equal(r.status, 409);
	assert_int_equal(staging_dirs(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_add_checks),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_deploy_ranges),
		cmocka_unit_test(test_capture_good),
		cmocka_unit_test(test_capture_failures),
		cmocka_unit_test(test_capture_dropped),
		cmocka_unit_test(test_capture_bad_requests),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
