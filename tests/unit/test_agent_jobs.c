// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's job queue (userspace/agent/jobs.c) against a real session
 * queue: the frames a run job leaves (accepted, running, output at its
 * offsets, the final status with exit code and size), one job at a time,
 * a job sent again while queued, refused job types, a power job waiting
 * for the ACK of its status, kexec failures with their reason, image
 * jobs that cannot start and one that waits for its server, a deploy
 * (through a cut connection; of a corrupt chunk) and a capture against a
 * fake xbootd in a thread, and the output left in the pipe while the
 * send queue is full.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "image_fmt.h"
#include "jobs.h"
#include "xboot/image_http.h"

struct sent {
	int n;
	uint8_t type[64];
	struct agent_job_status st[64];
	uint64_t out_off[64];
	size_t out_len[64];
	char out[4096];
	size_t out_total;	/* all jobs' output, concatenated */
	size_t job_base;	/* where the current job's output starts */
};

/* Everything queued so far, decoded; the controller "ACKs" all of it. */
static void collect(struct sess *s, struct sent *out)
{
	struct agent_job_output o;
	struct agent_frame f;
	struct sess_frame *fr;
	int i;

	memset(out, 0, sizeof(*out));
	for (fr = s->head; fr; fr = fr->next) {
		assert_int_equal(agent_frame_parse(fr->data, fr->len, &f),
				 (ssize_t)fr->len);
		i = out->n++;
		assert_true(i < 64);
		out->type[i] = f.type;
		if (f.type == XBA_MSG_JOB_STATUS) {
			assert_int_equal(agent_parse_job_status(&f, &out->st[i]),
					 0);
		} else {
			assert_int_equal(f.type, XBA_MSG_JOB_OUTPUT);
			assert_int_equal(agent_parse_job_output(&f, &o), 0);
			out->out_off[i] = o.offset;
			out->out_len[i] = o.len;
			/* chunks in order; jobs one after the other */
			if (!o.offset)
				out->job_base = out->out_total;
			assert_int_equal(out->job_base + o.offset,
					 out->out_total);
			if (out->out_total + o.len <= sizeof(out->out))
				memcpy(out->out + out->out_total, o.data,
				       o.len);
			out->out_total += o.len;
		}
	}
}

/* Ticks until no job is running (bounded), as the event loop would. */
static void run_until_idle(struct jobs *j)
{
	uint64_t end = job_run_now_ms() + 10000;

	do {
		jobs_tick(j, job_run_now_ms());
		if (!j->cur && !j->head)
			return;
		usleep(2000);
	} while (job_run_now_ms() < end);
	fail_msg("jobs still running after 10 s");
}

static void job_of(struct agent_job *a, uint64_t id, uint16_t type,
		   unsigned int n, const char *const *args)
{
	unsigned int i;

	memset(a, 0, sizeof(*a));
	a->id = id;
	a->type = type;
	a->n_args = n;
	for (i = 0; i < n; i++)
		a->args[i] = args[i];
}

static void test_run_job(void **state)
{
	static const char *const args[] = { "echo out; echo err >&2; "
					    "printf %s \"$1\"; exit 7",
					    "arg1" };
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 42, XBA_JOB_RUN, 2, args);
	assert_int_equal(jobs_receive(&j, &a, job_run_now_ms()), 0);
	run_until_idle(&j);
	collect(&s, &w);
	assert_true(w.n >= 4);
	assert_int_equal(w.type[0], XBA_MSG_JOB_STATUS);
	assert_int_equal(w.st[0].id, 42);
	assert_int_equal(w.st[0].state, XBA_JOB_STATE_ACCEPTED);
	assert_int_equal(w.st[1].state, XBA_JOB_STATE_RUNNING);
	assert_int_equal(w.type[w.n - 1], XBA_MSG_JOB_STATUS);
	assert_int_equal(w.st[w.n - 1].state, XBA_JOB_STATE_FAILED);
	assert_true(w.st[w.n - 1].has_exit_code);
	assert_int_equal(w.st[w.n - 1].exit_code, 7);
	assert_true(w.st[w.n - 1].has_output_bytes);
	assert_int_equal(w.st[w.n - 1].output_bytes, 12);
	assert_int_equal(w.out_total, 12);
	assert_memory_equal(w.out, "out\nerr\narg1", 12);
	/* seqs are 1, 2, 3, ... in the order queued */
	assert_int_equal(s.head->seq, 1);
	assert_int_equal(s.tail->seq, (uint32_t)w.n);
	jobs_free(&j);
	sess_free(&s);
}

static void test_queue_and_duplicates(void **state)
{
	static const char *const slow[] = { "sleep 0.2; echo one" };
	static const char *const fast[] = { "echo two" };
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;
	int i, done = 0;

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 1, XBA_JOB_RUN, 1, slow);
	jobs_receive(&j, &a, job_run_now_ms());
	/* the same job again while it runs: ignored */
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 2, XBA_JOB_RUN, 1, fast);
	jobs_receive(&j, &a, job_run_now_ms());
	/* and while it waits its turn */
	jobs_receive(&j, &a, job_run_now_ms());
	run_until_idle(&j);
	collect(&s, &w);
	/* accepted 1, running 1, accepted 2, output 1, done 1, running 2,
	 * output 2, done 2: job 2 starts only after job 1 is done */
	for (i = 0; i < w.n; i++) {
		if (w.type[i] != XBA_MSG_JOB_STATUS)
			continue;
		if (w.st[i].state == XBA_JOB_STATE_DONE)
			done++;
		if (w.st[i].id == 2 && w.st[i].state == XBA_JOB_STATE_RUNNING)
			assert_int_equal(done, 1);
		if (w.st[i].state == XBA_JOB_STATE_ACCEPTED)
			assert_true(w.st[i].id == 1 ? i == 0 : i == 2);
	}
	assert_int_equal(done, 2);
	assert_int_equal(w.out_total, strlen("one\ntwo\n"));
	/* a finished job sent again (a retry) runs again */
	jobs_receive(&j, &a, job_run_now_ms());
	run_until_idle(&j);
	collect(&s, &w);
	assert_int_equal(w.st[w.n - 1].id, 2);
	assert_int_equal(w.st[w.n - 1].state, XBA_JOB_STATE_DONE);
	jobs_free(&j);
	sess_free(&s);
}

static void test_refused_jobs(void **state)
{
	static const char *const kexec_args[] = { "/nonexistent/vmlinuz", "",
						  "console=ttyS0" };
	static const char *const rel[] = { "vmlinuz", "", "" };
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 1, 99, 0, NULL);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 2, 77, 0, NULL);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 3, XBA_JOB_RUN, 0, NULL);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 4, XBA_JOB_KEXEC, 1, kexec_args);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 5, XBA_JOB_KEXEC, 3, kexec_args);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 6, XBA_JOB_KEXEC, 3, rel);
	jobs_receive(&j, &a, job_run_now_ms());
	run_until_idle(&j);
	collect(&s, &w);
	assert_int_equal(w.n, 10);
	assert_int_equal(w.st[0].state, XBA_JOB_STATE_FAILED);
	assert_string_equal(w.st[0].text,
			    "job type not supported by this agent");
	assert_string_equal(w.st[1].text,
			    "job type not supported by this agent");
	assert_string_equal(w.st[2].text, "run job without a script");
	assert_string_equal(w.st[3].text,
			    "kexec job needs kernel, initrd and cmdline");
	/* 5: accepted, running, failed with the file's error */
	assert_int_equal(w.st[4].state, XBA_JOB_STATE_ACCEPTED);
	assert_int_equal(w.st[6].state, XBA_JOB_STATE_FAILED);
	assert_non_null(strstr(w.st[6].text, "/nonexistent/vmlinuz"));
	assert_non_null(strstr(w.st[6].text, "No such file"));
	assert_int_equal(w.st[9].id, 6);
	assert_non_null(strstr(w.st[9].text, "not an absolute path"));
	assert_int_equal(jobs_power_due(&j, job_run_now_ms()), 0);
	jobs_free(&j);
	sess_free(&s);
}

/* The last status of job id in w, or NULL. */
static const struct agent_job_status *last_status(const struct sent *w,
						  uint64_t id)
{
	int i;

	for (i = w->n - 1; i >= 0; i--)
		if (w->type[i] == XBA_MSG_JOB_STATUS && w->st[i].id == id)
			return &w->st[i];
	return NULL;
}

/*
 * Image jobs that cannot start: too few arguments (refused), a URL that
 * is not http://ADDR:PORT/.../, a source disk that does not exist, a
 * target that is not there. Each ends failed with its reason, and the
 * key argument is not echoed anywhere.
 */
static void test_image_jobs_refused(void **state)
{
	static const char *const two[] = { "img", "/dev/null" };
	static const char *const bad_url[] = {
		"img", "/tmp/x", "ftp://10.0.0.1/images/img/", "k" };
	static const char *const no_disk[] = {
		"/nonexistent/disk", "img", "http://127.0.0.1:9/images/img/",
		"secretkey" };
	struct agent_job a;
	const struct agent_job_status *st;
	struct sent w;
	struct sess s;
	struct jobs j;

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 1, XBA_JOB_IMAGE_DEPLOY, 2, two);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 2, XBA_JOB_IMAGE_DEPLOY, 4, bad_url);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 3, XBA_JOB_IMAGE_CAPTURE, 4, no_disk);
	jobs_receive(&j, &a, job_run_now_ms());
	run_until_idle(&j);
	collect(&s, &w);
	st = last_status(&w, 1);
	assert_non_null(st);
	assert_int_equal(st->state, XBA_JOB_STATE_FAILED);
	assert_string_equal(st->text,
			    "image-deploy job needs image, disk, URL and key");
	st = last_status(&w, 2);
	assert_int_equal(st->state, XBA_JOB_STATE_FAILED);
	assert_non_null(strstr(st->text, "bad image URL"));
	st = last_status(&w, 3);
	assert_int_equal(st->state, XBA_JOB_STATE_FAILED);
	assert_non_null(strstr(st->text, "/nonexistent/disk"));
	assert_null(memmem(w.out, w.out_total, "secretkey", 9));
	jobs_free(&j);
	sess_free(&s);
}

/*
 * A deploy whose server does not answer keeps trying (a controller
 * restart is not a failure) and reports nothing but its start; a JOB
 * sent again for it (with a new key) is not a second job.
 */
static void test_image_job_retries(void **state)
{
	static const char *const args[] = {
		"img", "/tmp/xboot-test-never-written",
		"http://127.0.0.1:9/images/img/", "key1" };
	static const char *const again[] = {
		"img", "/tmp/xboot-test-never-written",
		"http://127.0.0.1:9/images/img/", "key2" };
	uint64_t end = job_run_now_ms() + 500;
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 9, XBA_JOB_IMAGE_DEPLOY, 4, args);
	jobs_receive(&j, &a, job_run_now_ms());
	job_of(&a, 9, XBA_JOB_IMAGE_DEPLOY, 4, again);
	jobs_receive(&j, &a, job_run_now_ms());
	while (job_run_now_ms() < end) {
		jobs_tick(&j, job_run_now_ms());
		usleep(5000);
	}
	assert_non_null(j.cur);
	assert_null(j.head);
	collect(&s, &w);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.st[0].state, XBA_JOB_STATE_ACCEPTED);
	assert_int_equal(w.st[1].state, XBA_JOB_STATE_RUNNING);
	jobs_free(&j);
	sess_free(&s);
	assert_int_equal(access("/tmp/xboot-test-never-written", F_OK), -1);
}

/* --- image jobs against a fake xbootd ----------------------------------- */

/*
 * A stand-in for xbootd's image transport (include/xboot/image_http.h) on
 * 127.0.0.1, in a thread: keep-alive, Bearer keys, the manifest, Range
 * requests on the data file, and capture's start, chunk and finish into
 * an image writer. It can cut the connection in the middle of the first
 * data answer, and flip a byte of what it serves.
 */
#define FAKE_CHUNK (64U << 10)
#define FAKE_SIZE (8 * FAKE_CHUNK + 1000)

struct fake {
	int lfd;
	uint16_t port;
	pthread_t thread;
	volatile bool stop;
	char dir[64];		/* the image served: manifest, data */
	char cap_dir[96];	/* where a capture is written */
	const char *key;
	bool cut_once;		/* the first data answer stops half-way */
	long flip_at;		/* a data byte served flipped, or -1 */
	int data_gets, cuts, unauthorised;
	struct image_writer *w;
	struct image_meta meta;
	bool finished;
	int cap_dirfd;
	const char *bad;	/* what the fake saw wrong (no asserts in it) */
};

/* cmocka's asserts belong to the test's thread: the fake notes and 500s */
#define FAKE_CHECK(fk, fd, cond)                                    \
	do {                                                            \
		if (!(cond)) {                                          \
			(fk)->bad = #cond;                              \
			fake_send(fd, 500, NULL, 0, NULL);              \
			return;                                         \
		}                                                       \
	} while (0)

static void fake_send(int fd, int status, const void *body, size_t len,
		      const char *extra)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status,
		     len, extra ? extra : "");
	if (write(fd, head, n) != n ||
	    (len && write(fd, body, len) != (ssize_t)len))
		return;
}

static uint8_t *fake_file(const char *dir, const char *name, size_t *len)
{
	char path[128];
	uint8_t *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n + 1);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = n;
	return buf;
}

static void fake_data(struct fake *fk, int fd, const char *head)
{
	unsigned long long a, b;
	const char *r = strstr(head, "Range: bytes=");
	size_t len;
	uint8_t *data = fake_file(fk->dir, "data", &len);
	char extra[64];

	fk->data_gets++;
	if (!r || sscanf(r + 13, "%llu-%llu", &a, &b) != 2 || a > b ||
	    b >= len) {
		free(data);
		FAKE_CHECK(fk, fd, !"a good Range");
	}
	if (fk->flip_at >= 0 && (unsigned long)fk->flip_at < len)
		data[fk->flip_at] ^= 0x40;
	snprintf(extra, sizeof(extra), "Content-Range: bytes %llu-%llu/%zu\r\n",
		 a, b, len);
	if (fk->cut_once && b > a) {
		/* promise it all, send half, hang up */
		fk->cut_once = false;
		fk->cuts++;
		dprintf(fd, "HTTP/1.1 206 X\r\nContent-Length: %llu\r\n\r\n",
			b - a + 1);
		if (write(fd, data + a, (b - a + 1) / 2) < 0)
			fk->cuts += 100;
		free(data);
		shutdown(fd, SHUT_RDWR);
		return;
	}
	fake_send(fd, 206, data + a, b - a + 1, extra);
	free(data);
}

static void fake_capture(struct fake *fk, int fd, const char *path,
			 const char *head, const uint8_t *body, size_t blen)
{
	struct image_err e = { { 0 } };
	unsigned long long size = 0;
	unsigned int idx, cs = 0;
	char ans[128];
	int dirfd;

	if (!strcmp(path, "start")) {
		FAKE_CHECK(fk, fd, !fk->w);
		FAKE_CHECK(fk, fd, sscanf((const char *)body,
					  "{\"size\": %llu, "
					  "\"chunk_size\": %u}",
					  &size, &cs) == 2);
		FAKE_CHECK(fk, fd, size == FAKE_SIZE);
		mkdir(fk->cap_dir, 0700);
		dirfd = open(fk->cap_dir, O_RDONLY | O_DIRECTORY);
		FAKE_CHECK(fk, fd, dirfd >= 0);
		fk->meta.size = FAKE_SIZE;
		snprintf(fk->meta.name, sizeof(fk->meta.name), "cap");
		/* the writer works in dirfd until it is finished */
		fk->cap_dirfd = dirfd;
		idx = image_writer_open(&fk->w, dirfd, &fk->meta, cs, 0, 0,
					&e);
		FAKE_CHECK(fk, fd, idx == 0);
		fake_send(fd, 201, "{\"next\": 0}", 11, NULL);
	} else if (sscanf(path, "chunk/%u", &idx) == 1) {
		FAKE_CHECK(fk, fd, fk->w);
		FAKE_CHECK(fk, fd, strstr(head, IMAGE_HTTP_RAW_LENGTH ": "));
		FAKE_CHECK(fk, fd, !image_writer_put_frame(fk->w, idx, body,
							   blen, &e));
		snprintf(ans, sizeof(ans), "{\"next\": %u}", idx + 1);
		fake_send(fd, 200, ans, strlen(ans), NULL);
	} else {
		FAKE_CHECK(fk, fd, fk->w && !strcmp(path, "finish"));
		FAKE_CHECK(fk, fd, strstr((const char *)body,
					  "\"size\": 525288"));
		if (image_writer_finish(fk->w, &e)) {
			static char why[IMAGE_ERR_MAX];

			snprintf(why, sizeof(why), "finish: %s", e.msg);
			fk->bad = why;
			fake_send(fd, 500, NULL, 0, NULL);
			return;
		}
		image_writer_free(fk->w);
		fk->w = NULL;
		fk->finished = true;
		fake_send(fd, 201, "{\"name\": \"cap\"}", 15, NULL);
	}
}

/* One request from fd: 0, or -1 when the connection is done. */
static int fake_request(struct fake *fk, int fd)
{
	char head[4096], method[8], path[256], want[128];
	const char *p, *what;
	uint8_t *body = NULL;
	size_t n = 0, blen = 0;
	ssize_t r;

	while (n < sizeof(head) - 1) {
		r = read(fd, head + n, 1);
		if (r <= 0)
			return -1;
		n++;
		head[n] = 0;
		if (n >= 4 && !memcmp(head + n - 4, "\r\n\r\n", 4))
			break;
	}
	if (sscanf(head, "%7s %255s", method, path) != 2) {
		fk->bad = "a request line";
		return -1;
	}
	p = strstr(head, "Content-Length: ");
	if (p) {
		blen = strtoul(p + 16, NULL, 10);
		body = calloc(1, blen + 1);
		for (n = 0; n < blen; n += r) {
			r = read(fd, body + n, blen - n);
			if (r <= 0) {
				free(body);
				return -1;
			}
		}
	}
	snprintf(want, sizeof(want), "Authorization: Bearer %s\r\n", fk->key);
	if (!strstr(head, want)) {
		fk->unauthorised++;
		fake_send(fd, 401, NULL, 0, NULL);
	} else if (strncmp(path, "/images/img/", 12)) {
		fake_send(fd, 404, NULL, 0, NULL);
	} else {
		what = path + 12;
		if (!strcmp(what, "manifest")) {
			uint8_t *m = fake_file(fk->dir, "manifest", &n);

			fake_send(fd, 200, m, n, NULL);
			free(m);
		} else if (!strcmp(what, "data")) {
			fake_data(fk, fd, head);
		} else {
			fake_capture(fk, fd, what, head, body, blen);
		}
	}
	free(body);
	return 0;
}

static void *fake_main(void *arg)
{
	struct fake *fk = arg;
	struct pollfd p = { .fd = fk->lfd, .events = POLLIN };
	int fd;

	while (!fk->stop) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(fk->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		while (!fk->stop && !fake_request(fk, fd))
			;
		close(fd);
	}
	return NULL;
}

/* A raw disk: random, zeros, text, zeros, a short random tail. */
static void fake_raw(uint8_t *raw)
{
	unsigned int i;

	memset(raw, 0, FAKE_SIZE);
	for (i = 0; i < FAKE_CHUNK; i++)
		raw[i] = (uint8_t)(i * 2654435761U >> 13);
	for (i = 3 * FAKE_CHUNK; i < 4 * FAKE_CHUNK; i++)
		raw[i] = "xboot image job\n"[i % 16];
	for (i = 8 * FAKE_CHUNK; i < FAKE_SIZE; i++)
		raw[i] = (uint8_t)(i * 40503U >> 7);
}

static void fake_start(struct fake *fk, const uint8_t *raw)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct image_meta meta = { .size = FAKE_SIZE };
	struct image_err e = { { 0 } };
	socklen_t sl = sizeof(sa);
	char raw_path[96];
	int rfd, dfd;

	memset(fk, 0, sizeof(*fk));
	fk->flip_at = -1;
	fk->key = "0123abcd";
	snprintf(fk->dir, sizeof(fk->dir), "/tmp/xbt-agjobs-img.XXXXXX");
	assert_non_null(mkdtemp(fk->dir));
	snprintf(fk->cap_dir, sizeof(fk->cap_dir), "%s/cap", fk->dir);
	snprintf(raw_path, sizeof(raw_path), "%s/raw", fk->dir);
	rfd = open(raw_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(rfd, raw, FAKE_SIZE), FAKE_SIZE);
	dfd = open(fk->dir, O_RDONLY | O_DIRECTORY);
	snprintf(meta.name, sizeof(meta.name), "img");
	lseek(rfd, 0, SEEK_SET);
	assert_int_equal(image_import_fd(rfd, dfd, &meta, FAKE_CHUNK, 3, 0,
					 &e), 0);
	close(rfd);
	close(dfd);
	fk->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fk->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fk->lfd, 4), 0);
	getsockname(fk->lfd, (struct sockaddr *)&sa, &sl);
	fk->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&fk->thread, NULL, fake_main, fk), 0);
}

static void fake_stop(struct fake *fk)
{
	char cmd[128];

	fk->stop = true;
	pthread_join(fk->thread, NULL);
	close(fk->lfd);
	if (fk->w)
		image_writer_free(fk->w);
	if (fk->cap_dirfd > 0)
		close(fk->cap_dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fk->dir);
	assert_int_equal(system(cmd), 0);
}

/* Runs one image job of type against fk to its end: its final status. */
static void fake_job(struct fake *fk, uint16_t type, const char *a0,
		     const char *a1, struct agent_job_status *out)
{
	char url[96];
	const char *args[4] = { a0, a1, url, fk->key };
	const struct agent_job_status *st;
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/images/img/",
		 fk->port);
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 5, type, 4, args);
	jobs_receive(&j, &a, job_run_now_ms());
	run_until_idle(&j);
	collect(&s, &w);
	st = last_status(&w, 5);
	assert_non_null(st);
	*out = *st;
	/* progress and the end as output lines; the key nowhere */
	assert_true(w.out_total > 0);
	assert_null(memmem(w.out, w.out_total, fk->key, strlen(fk->key)));
	jobs_free(&j);
	sess_free(&s);
}

static uint8_t *read_all(const char *path, size_t len)
{
	uint8_t *buf = malloc(len);
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, 0), (ssize_t)len);
	close(fd);
	return buf;
}

/*
 * A deploy through a cut connection (resumed, byte-identical), then one
 * of a chunk whose frame is served corrupt (failed, the chunk named, its
 * bytes on the target untouched).
 */
static void test_image_deploy(void **state)
{
	static uint8_t raw[FAKE_SIZE];
	struct agent_job_status st;
	char target[96];
	struct fake fk;
	uint8_t *got;
	int fd;

	(void)state;
	fake_raw(raw);
	fake_start(&fk, raw);
	snprintf(target, sizeof(target), "%s/target", fk.dir);
	fd = open(target, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(ftruncate(fd, FAKE_SIZE), 0);
	close(fd);

	fk.cut_once = true;
	fake_job(&fk, XBA_JOB_IMAGE_DEPLOY, "img", target, &st);
	if (fk.bad)
		fail_msg("the fake xbootd saw: %s", fk.bad);
	assert_int_equal(st.state, XBA_JOB_STATE_DONE);
	assert_int_equal(fk.cuts, 1);
	assert_true(fk.data_gets >= 2);
	assert_int_equal(fk.unauthorised, 0);
	got = read_all(target, FAKE_SIZE);
	assert_memory_equal(got, raw, FAKE_SIZE);
	free(got);

	/* chunk 3 (text) is the second frame: flip a byte inside it */
	fd = open(target, O_RDWR | O_TRUNC);
	assert_int_equal(ftruncate(fd, FAKE_SIZE), 0);
	close(fd);
	{
		size_t mlen;
		uint8_t *m = fake_file(fk.dir, "manifest", &mlen);
		const uint8_t *rec = m + 256 + 56 * 3;
		uint64_t off = 0;
		int i;

		for (i = 0; i < 8; i++)
			off = off << 8 | rec[i];
		fk.flip_at = off + 10;
		free(m);
	}
	fake_job(&fk, XBA_JOB_IMAGE_DEPLOY, "img", target, &st);
	assert_int_equal(st.state, XBA_JOB_STATE_FAILED);
	assert_non_null(strstr(st.text, "chunk 3"));
	got = read_all(target, FAKE_SIZE);
	{
		static const uint8_t zero[FAKE_CHUNK];

		assert_memory_equal(got + 3 * FAKE_CHUNK, zero, FAKE_CHUNK);
	}
	free(got);
	fake_stop(&fk);
}

/* A capture: what the fake stores exports byte-identical to the disk. */
static void test_image_capture(void **state)
{
	static uint8_t raw[FAKE_SIZE];
	struct image_err e = { { 0 } };
	struct agent_job_status st;
	struct image_manifest m;
	char disk[96], out[96];
	int dirfd, datafd, ofd;
	struct fake fk;
	void *mbuf;
	size_t mlen;
	uint8_t *got;

	(void)state;
	fake_raw(raw);
	fake_start(&fk, raw);
	snprintf(disk, sizeof(disk), "%s/raw", fk.dir);
	fake_job(&fk, XBA_JOB_IMAGE_CAPTURE, disk, "img", &st);
	if (fk.bad)
		fail_msg("the fake xbootd saw: %s", fk.bad);
	assert_int_equal(st.state, XBA_JOB_STATE_DONE);
	assert_true(fk.finished);

	dirfd = open(fk.cap_dir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	assert_int_equal(image_manifest_read(dirfd, &mbuf, &mlen, &e), 0);
	assert_int_equal(image_manifest_parse(mbuf, mlen, &m, &e), 0);
	assert_int_equal(m.meta.size, FAKE_SIZE);
	datafd = image_data_open(dirfd, &m, &e);
	assert_true(datafd >= 0);
	snprintf(out, sizeof(out), "%s/export", fk.dir);
	ofd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(image_export_fd(&m, datafd, ofd, &e), 0);
	close(ofd);
	close(datafd);
	close(dirfd);
	free(mbuf);
	got = read_all(out, FAKE_SIZE);
	assert_memory_equal(got, raw, FAKE_SIZE);
	free(got);
	fake_stop(&fk);
}

static void test_power_waits_for_ack(void **state)
{
	static const char *const after[] = { "echo never" };
	uint64_t now = job_run_now_ms();
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	job_of(&a, 9, XBA_JOB_POWEROFF, 0, NULL);
	jobs_receive(&j, &a, now);
	job_of(&a, 10, XBA_JOB_RUN, 1, after);
	jobs_receive(&j, &a, now);
	jobs_tick(&j, now);
	collect(&s, &w);
	/* accepted 9, done 9, accepted 10; 10 never starts */
	assert_int_equal(w.n, 3);
	assert_int_equal(w.st[1].state, XBA_JOB_STATE_DONE);
	assert_int_equal(j.power, XBA_JOB_POWEROFF);
	assert_null(j.cur);
	/* not before the ACK of its done status ... */
	assert_int_equal(jobs_power_due(&j, now + 10), 0);
	assert_int_equal(sess_ack(&s, 1), 0);
	assert_int_equal(jobs_power_due(&j, now + 10), 0);
	assert_int_equal(sess_ack(&s, 2), 0);
	assert_int_equal(jobs_power_due(&j, now + 10), XBA_JOB_POWEROFF);
	/* ... or the deadline */
	s.acked_seq = 0;
	assert_int_equal(jobs_power_due(&j, now + JOBS_POWER_ACK_MS),
			 XBA_JOB_POWEROFF);
	/* --power=exit: the act is a no-op that succeeds */
	assert_int_equal(jobs_power_act(&j), 0);
	jobs_free(&j);
	sess_free(&s);
}

static void test_backpressure(void **state)
{
	static const char *const args[] = { "head -c 300000 /dev/zero" };
	uint64_t end;
	struct agent_job a;
	struct sent w;
	struct sess s;
	struct jobs j;
	struct pollfd p[JOBS_POLLFDS];

	(void)state;
	sess_init(&s);
	assert_int_equal(jobs_init(&j, &s, false), 0);
	/* as if 32 MiB waited for the controller's ACK */
	s.queued_bytes += SESS_QUEUE_CAP;
	job_of(&a, 1, XBA_JOB_RUN, 1, args);
	jobs_receive(&j, &a, job_run_now_ms());
	end = job_run_now_ms() + 300;
	while (job_run_now_ms() < end) {
		jobs_tick(&j, job_run_now_ms());
		usleep(5000);
	}
	/* the output pipe is not even polled, the job is stuck writing */
	assert_non_null(j.cur);
	assert_int_equal(jobs_pollfds(&j, p), 1); /* the pidfd only */
	assert_int_equal(p[0].fd, job_run_pidfd(&j.run));
	collect(&s, &w);
	assert_int_equal(w.out_total, 0);
	/* the ACK comes: everything flows, nothing is lost */
	s.queued_bytes -= SESS_QUEUE_CAP;
	run_until_idle(&j);
	collect(&s, &w);
	assert_int_equal(w.out_total, 300000);
	assert_int_equal(w.st[w.n - 1].state, XBA_JOB_STATE_DONE);
	assert_int_equal(w.st[w.n - 1].output_bytes, 300000);
	jobs_free(&j);
	sess_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_job),
		cmocka_unit_test(test_queue_and_duplicates),
		cmocka_unit_test(test_refused_jobs),
		cmocka_unit_test(test_image_jobs_refused),
		cmocka_unit_test(test_image_job_retries),
		cmocka_unit_test(test_image_deploy),
		cmocka_unit_test(test_image_capture),
		cmocka_unit_test(test_power_waits_for_ack),
		cmocka_unit_test(test_backpressure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
