// SPDX-License-Identifier: GPL-2.0
/*
 * The imaging engines (image_job.h): capture reads a disk ahead in
 * chunk-size slots, compresses them (in the step or on workers) and hands
 * the frames on in order; deploy checks every fed frame into a slot
 * before writing it, and keeps a bitmap of the chunks on the target so
 * its resume point never passes one that is not.
 *
 * A slot is owned by one party at a time, told by its state: the loop
 * thread, the kernel (a disk request in flight: the tag is the slot
 * number) or a worker (a job). Neither engine frees or reuses a slot
 * before its owner gives it back, even after a failure.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "disk_io.h"
#include "image_job.h"

/* How many hole chunks a deploy step zeroes at most (one call). */
#define DEPLOY_HOLE_RUN 16U
/* How many chunks a capture step hands on at most. */
#define CAPTURE_EMIT_PER_STEP 64U

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void progress_rate(struct image_progress *p, uint64_t start_ms,
			  uint64_t base)
{
	uint64_t done = p->bytes - base;

	p->elapsed_ms = now_ms() - start_ms;
	p->rate = p->elapsed_ms ? done * 1000 / p->elapsed_ms : 0;
	p->eta_s = p->rate ? (p->total - p->bytes) / p->rate : UINT64_MAX;
	if (p->bytes >= p->total)
		p->eta_s = 0;
}

static int chunk_shift_of(uint32_t chunk_size, uint8_t *shift)
{
	unsigned int s;

	if (!chunk_size)
		chunk_size = 1U << XBI_CHUNK_SHIFT_DEFAULT;
	for (s = XBI_CHUNK_SHIFT_MIN; s <= XBI_CHUNK_SHIFT_MAX; s++) {
		if (chunk_size == 1U << s) {
			*shift = s;
			return 0;
		}
	}
	return -EINVAL;
}

static unsigned int depth_of(unsigned int depth)
{
	if (!depth)
		return IMAGE_DEPTH_DEFAULT;
	return depth > DISK_DEPTH_MAX ? DISK_DEPTH_MAX : depth;
}

static unsigned int workers_of(unsigned int workers, unsigned int depth)
{
	if (workers > IMAGE_WORKERS_MAX)
		workers = IMAGE_WORKERS_MAX;
	/* more workers than slots would only wait */
	return workers > depth ? depth : workers;
}

/* Empties the engine's eventfd before looking for work: no lost wakeup. */
static void efd_drain(int efd)
{
	uint64_t v;
	ssize_t n;

	/* EAGAIN: nothing was signalled */
	n = read(efd, &v, sizeof(v));
	(void)n;
}

static void efd_signal(int efd)
{
	uint64_t one = 1;
	ssize_t n;

	/* EAGAIN: the counter is full, and the fd readable all the same */
	n = write(efd, &one, sizeof(one));
	(void)n;
}

/* --- worker pool ------------------------------------------------------ */

/*
 * One pool of worker threads for the whole agent, started on first use,
 * grown to the most workers any engine asked for, never stopped: threads
 * that live as long as the agent keep their zstd contexts (the codec
 * holds one per thread) instead of leaking one per job. Each engine is a
 * client with its own done list and eventfd, and never has more than its
 * `workers` jobs queued or running, so one deploy cannot starve another.
 */
struct pool_client;

struct pool_job {
	struct pool_job *next;
	struct pool_client *client;
};

struct pool_client {
	void (*run)(void *eng, struct pool_job *job);
	void *eng;
	int efd; /* written when a job is done */
	unsigned int max; /* its `workers` */
	unsigned int out; /* jobs not taken back yet: the loop's own */
	unsigned int busy; /* jobs queued or running: under the lock */
	struct pool_job *done, **done_tail;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued */
	pthread_cond_t idle; /* a job was done */
	struct pool_job *todo, **todo_tail;
	unsigned int n;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
	.todo_tail = &pool.todo,
};

static void *pool_main(void *arg)
{
	struct pool_client *c;
	struct pool_job *job;

	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (!pool.todo)
			pthread_cond_wait(&pool.work, &pool.lock);
		job = pool.todo;
		pool.todo = job->next;
		if (!pool.todo)
			pool.todo_tail = &pool.todo;
		c = job->client;
		pthread_mutex_unlock(&pool.lock);

		c->run(c->eng, job);

		pthread_mutex_lock(&pool.lock);
		job->next = NULL;
		*c->done_tail = job;
		c->done_tail = &job->next;
		c->busy--;
		efd_signal(c->efd);
		pthread_cond_broadcast(&pool.idle);
	}
	return NULL;
}

/*
 * Grows the pool to n threads. They block every signal: the agent's
 * signals are the loop's business, never a worker's mid-chunk.
 */
static int pool_grow(unsigned int n)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t th;
	int err = 0;

	pthread_mutex_lock(&pool.lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (pool.n < n && !err) {
		err = -pthread_create(&th, &attr, pool_main, NULL);
		if (!err)
			pool.n++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	/* fewer threads than asked still work: the jobs wait their turn */
	err = pool.n ? 0 : err;
	pthread_mutex_unlock(&pool.lock);
	return err;
}

static int pool_client_init(struct pool_client *c, unsigned int max, int efd,
			    void (*run)(void *, struct pool_job *), void *eng)
{
	c->run = run;
	c->eng = eng;
	c->efd = efd;
	c->max = max;
	c->done_tail = &c->done;
	return max ? pool_grow(max) : 0;
}

static bool pool_room(const struct pool_client *c)
{
	return c->out < c->max;
}

static void pool_submit(struct pool_client *c, struct pool_job *job)
{
	pthread_mutex_lock(&pool.lock);
	job->client = c;
	job->next = NULL;
	*pool.todo_tail = job;
	pool.todo_tail = &job->next;
	c->busy++;
	c->out++;
	pthread_cond_signal(&pool.work);
	pthread_mutex_unlock(&pool.lock);
}

/* Every job of c done since the last call, as a list. */
static struct pool_job *pool_take(struct pool_client *c)
{
	struct pool_job *done, *job;

	if (!c->max)
		return NULL;
	pthread_mutex_lock(&pool.lock);
	done = c->done;
	c->done = NULL;
	c->done_tail = &c->done;
	pthread_mutex_unlock(&pool.lock);
	for (job = done; job; job = job->next)
		c->out--;
	return done;
}

/* Drops c's queued jobs and waits for its running ones: c can go. */
static void pool_client_stop(struct pool_client *c)
{
	struct pool_job **pp;

	if (!c->max)
		return;
	pthread_mutex_lock(&pool.lock);
	pool.todo_tail = &pool.todo;
	for (pp = &pool.todo; *pp;) {
		if ((*pp)->client == c) {
			*pp = (*pp)->next;
			c->busy--;
		} else {
			pool.todo_tail = &(*pp)->next;
			pp = &(*pp)->next;
		}
	}
	while (c->busy)
		pthread_cond_wait(&pool.idle, &pool.lock);
	pthread_mutex_unlock(&pool.lock);
	c->max = 0;
}

/* --- capture --------------------------------------------------------- */

enum cap_state {
	CAP_FREE,
	CAP_READING, /* the kernel's */
	CAP_READ,
	CAP_WORKING, /* a worker's */
	CAP_WORKED, /* frame made: clen */
};

struct cap_slot {
	struct pool_job job; /* first: a job is its slot */
	struct image_encoder *enc; /* a worker's, while CAP_WORKING */
	uint8_t *buf;
	uint8_t *frame;
	ssize_t clen; /* the frame's length, 0 a hole, or -errno */
	struct image_err e;
	uint32_t index;
	enum cap_state state;
};

struct image_capture {
	struct disk disk;
	int efd;
	struct pool_client pool;
	/* enc[0] for the step; the workers' not in use: enc[1..n_idle] */
	struct image_encoder *enc[IMAGE_WORKERS_MAX + 1];
	struct image_encoder *idle_enc[IMAGE_WORKERS_MAX];
	unsigned int n_idle;
	image_sink_fn sink;
	void *ctx;
	uint64_t size;
	uint8_t shift;
	uint32_t chunk_size;
	uint32_t n_chunks;
	unsigned int depth;
	struct cap_slot slot[DISK_DEPTH_MAX];
	size_t frame_cap;
	uint32_t next_read; /* the next chunk to read */
	uint32_t next_emit; /* the next chunk to hand on */
	bool emit_hashed; /* next_emit is in the image hash already */
	EVP_MD_CTX *sha;
	uint8_t sha256[XBI_SHA256_LEN];
	uint8_t ptable;
	uint32_t holes;
	uint64_t bytes;
	uint64_t comp_bytes;
	uint64_t start_ms;
	bool done;
	int err;
	struct image_err e;
};

static int capture_fail(struct image_capture *c, int err, const char *what,
			uint32_t i)
{
	if (c->err)
		return c->err;
	c->err = image_fail(&c->e, err, "chunk %u: %s at %llu: %s", i, what,
			    (unsigned long long)i << c->shift,
			    err == -ENODATA ? "the source ended early" :
					      strerror(-err));
	return c->err;
}

static uint32_t capture_chunk_len(const struct image_capture *c, uint32_t i)
{
	uint64_t start = (uint64_t)i << c->shift;

	return c->size - start < c->chunk_size ? c->size - start :
						 c->chunk_size;
}

static struct cap_slot *cap_slot_of(struct image_capture *c, uint32_t i)
{
	return &c->slot[i % c->depth];
}

/* Compresses one slot, on a worker or in the step. */
static void capture_work(struct image_capture *c, struct cap_slot *s,
			 struct image_encoder *enc)
{
	s->clen = image_encode_chunk(enc, s->buf,
				     capture_chunk_len(c, s->index), s->frame,
				     c->frame_cap, &s->e);
}

static void capture_run(void *eng, struct pool_job *job)
{
	struct cap_slot *s = (struct cap_slot *)job;

	capture_work(eng, s, s->enc);
}

static int capture_alloc(struct image_capture *c,
			 const struct image_capture_opts *o,
			 unsigned int workers, struct image_err *e)
{
	unsigned int i;
	int err;

	c->frame_cap = image_frame_bound(c->chunk_size);
	for (i = 0; i < c->depth; i++) {
		c->slot[i].buf = disk_buf_alloc(c->chunk_size);
		c->slot[i].frame = malloc(c->frame_cap);
		if (!c->slot[i].buf || !c->slot[i].frame)
			return image_fail(e, -ENOMEM, "out of memory");
	}
	c->sha = EVP_MD_CTX_new();
	if (!c->sha || !EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL))
		return image_fail(e, -ENOMEM, "out of memory");
	for (i = 0; i <= workers; i++) {
		err = image_encoder_new(&c->enc[i], c->chunk_size, o->level,
					o->threads);
		if (err)
			return image_fail(e, err, "zstd level %d: %s",
					  o->level, strerror(-err));
		if (i)
			c->idle_enc[c->n_idle++] = c->enc[i];
	}
	return 0;
}

static int capture_open(struct image_capture *c, const char *path,
			const struct image_capture_opts *o,
			struct image_err *e)
{
	uint64_t n;
	int err;

	err = disk_open(&c->disk, path, o->disk_flags & ~DISK_F_WRITE,
			c->depth);
	if (err)
		return image_fail(e, err, "open %s: %s", path, strerror(-err));
	c->size = c->disk.size;
	n = (c->size + c->chunk_size - 1) >> c->shift;
	if (!c->size || c->size > XBI_SIZE_MAX || n > XBI_CHUNKS_MAX)
		return image_fail(e, -EINVAL,
				  "%s: %llu bytes cannot be an image", path,
				  (unsigned long long)c->size);
	c->n_chunks = n;
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0)
		return image_fail(e, -errno, "eventfd: %s", strerror(errno));
	err = disk_notify(&c->disk, c->efd);
	if (err)
		return image_fail(e, err, "io_uring eventfd: %s",
				  strerror(-err));
	return 0;
}

int image_capture_new(struct image_capture **out, const char *path,
		      const struct image_capture_opts *o, image_sink_fn sink,
		      void *ctx, struct image_err *e)
{
	struct image_capture *c;
	unsigned int workers;
	int err;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return image_fail(e, -ENOMEM, "out of memory");
	c->disk.fd = c->disk.bfd = -1;
	c->efd = -1;
	c->sink = sink;
	c->ctx = ctx;
	c->depth = depth_of(o->depth);
	workers = workers_of(o->workers, c->depth);
	if (chunk_shift_of(o->chunk_size, &c->shift)) {
		err = image_fail(
			e, -EINVAL,
			"chunk size %u: not a power of two from 64 KiB to 64 MiB",
			o->chunk_size);
		goto err_free;
	}
	c->chunk_size = 1U << c->shift;
	err = capture_open(c, path, o, e);
	if (!err)
		err = capture_alloc(c, o, workers, e);
	if (!err) {
		err = pool_client_init(&c->pool, workers, c->efd,
				       capture_run, c);
		if (err)
			image_fail(e, err, "start workers: %s", strerror(-err));
	}
	if (err)
		goto err_free;
	c->start_ms = now_ms();
	*out = c;
	return 0;

err_free:
	image_capture_free(c);
	return err;
}

uint64_t image_capture_size(const struct image_capture *c)
{
	return c->size;
}

uint32_t image_capture_chunk_size(const struct image_capture *c)
{
	return c->chunk_size;
}

int image_capture_pollfd(const struct image_capture *c)
{
	return c->efd;
}

bool image_capture_direct(const struct image_capture *c)
{
	return c->disk.direct;
}

const char *image_capture_error(const struct image_capture *c)
{
	return c->err ? c->e.msg : "";
}

/* Disk completions and finished jobs back to the loop thread. */
static int capture_reap(struct image_capture *c)
{
	struct pool_job *job, *next;
	struct disk_done done;
	struct cap_slot *s;
	int ret;

	while ((ret = disk_complete(&c->disk, &done, false)) > 0) {
		s = &c->slot[done.tag];
		s->state = done.res < 0 ? CAP_FREE : CAP_READ;
		if (done.res < 0)
			capture_fail(c, done.res, "read", s->index);
	}
	if (ret < 0 && !c->err)
		c->err = image_fail(&c->e, ret, "io_uring: %s",
				    strerror(-ret));
	for (job = pool_take(&c->pool); job; job = next) {
		next = job->next;
		s = (struct cap_slot *)job;
		c->idle_enc[c->n_idle++] = s->enc;
		s->state = CAP_WORKED;
	}
	return c->err;
}

/* Reads ahead into the free slots; chunk i always uses slot i % depth. */
static int capture_issue(struct image_capture *c)
{
	struct cap_slot *s;
	int err;

	while (c->next_read < c->n_chunks &&
	       c->next_read - c->next_emit < c->depth) {
		s = cap_slot_of(c, c->next_read);
		err = disk_read(&c->disk, s->buf,
				capture_chunk_len(c, c->next_read),
				(uint64_t)c->next_read << c->shift,
				s - c->slot);
		if (err == -EBUSY)
			break;
		if (err)
			return capture_fail(c, err, "read", c->next_read);
		s->index = c->next_read++;
		s->state = CAP_READING;
	}
	return 0;
}

/* Chunks read go to the workers, as many as it may have at once. */
static void capture_dispatch(struct image_capture *c)
{
	struct cap_slot *s;
	uint32_t i;

	/* in chunk order: the next to hand on is compressed first */
	for (i = c->next_emit;
	     i < c->next_read && c->n_idle && pool_room(&c->pool); i++) {
		s = cap_slot_of(c, i);
		if (s->state != CAP_READ)
			continue;
		s->enc = c->idle_enc[--c->n_idle];
		s->state = CAP_WORKING;
		pool_submit(&c->pool, &s->job);
	}
}

/*
 * Chunk next_emit, compressed: into the image hash (once, even when the
 * sink pushes back), then handed on unless it is a hole. 0 or -EAGAIN
 * (the sink is full) or failed.
 */
static int capture_emit_one(struct image_capture *c, struct cap_slot *s)
{
	uint32_t len = capture_chunk_len(c, s->index);
	int err;

	if (s->clen < 0) {
		c->err = image_fail(&c->e, s->clen, "chunk %u: %s", s->index,
				    s->e.msg);
		return c->err;
	}
	if (!c->emit_hashed) {
		if (s->index == 0)
			c->ptable = image_detect_ptable(s->buf, len);
		EVP_DigestUpdate(c->sha, s->buf, len);
		c->emit_hashed = true;
	}
	if (s->clen) {
		err = c->sink(c->ctx, s->index, s->frame, s->clen, len);
		if (err == -EAGAIN)
			return err;
		if (err) {
			c->err = image_fail(&c->e, err,
					    "chunk %u: the sink: %s",
					    s->index, strerror(-err));
			return err;
		}
		c->comp_bytes += s->clen;
	} else {
		c->holes++;
	}
	c->bytes += len;
	s->state = CAP_FREE;
	c->emit_hashed = false;
	c->next_emit++;
	return 0;
}

/* Hands on the chunks ready in order; compresses one in the step. */
static int capture_emit(struct image_capture *c)
{
	bool worked = false;
	unsigned int n;
	struct cap_slot *s;
	int err;

	for (n = 0; n < CAPTURE_EMIT_PER_STEP && c->next_emit < c->n_chunks;
	     n++) {
		s = cap_slot_of(c, c->next_emit);
		if (s->state == CAP_READ && !c->pool.max && !worked) {
			/* the step's CPU work: one chunk */
			capture_work(c, s, c->enc[0]);
			s->state = CAP_WORKED;
			worked = s->clen > 0;
		}
		if (s->state != CAP_WORKED)
			break;
		err = capture_emit_one(c, s);
		if (err)
			return err;
	}
	return 0;
}

int image_capture_step(struct image_capture *c)
{
	struct cap_slot *s;
	int err;

	if (c->done)
		return 0;
	efd_drain(c->efd);
	if (capture_reap(c) || capture_issue(c))
		return c->err;
	capture_dispatch(c);
	err = capture_emit(c);
	/* a full sink stops the handing on, not the reading ahead */
	if ((err && err != -EAGAIN) || capture_issue(c))
		return c->err;
	capture_dispatch(c);
	if (err == -EAGAIN)
		return IMAGE_STEP_WAIT;
	if (c->next_emit == c->n_chunks) {
		EVP_DigestFinal_ex(c->sha, c->sha256, NULL);
		c->done = true;
		return 0;
	}
	s = cap_slot_of(c, c->next_emit);
	if (disk_ready(&c->disk) || s->state == CAP_WORKED ||
	    (s->state == CAP_READ && !c->pool.max))
		return IMAGE_STEP_AGAIN;
	return IMAGE_STEP_WAIT;
}

void image_capture_progress(const struct image_capture *c,
			    struct image_progress *p)
{
	memset(p, 0, sizeof(*p));
	p->bytes = c->bytes;
	p->total = c->size;
	p->comp_bytes = c->comp_bytes;
	p->chunks = c->next_emit;
	p->n_chunks = c->n_chunks;
	p->holes = c->holes;
	progress_rate(p, c->start_ms, 0);
}

void image_capture_result(const struct image_capture *c,
			  struct image_capture_result *r)
{
	memset(r, 0, sizeof(*r));
	r->size = c->size;
	memcpy(r->sha256, c->sha256, XBI_SHA256_LEN);
	r->ptable = c->ptable;
	r->chunk_size = c->chunk_size;
	r->n_chunks = c->n_chunks;
	r->holes = c->holes;
	r->data_size = c->comp_bytes;
}

void image_capture_free(struct image_capture *c)
{
	unsigned int i;

	if (!c)
		return;
	pool_client_stop(&c->pool);
	disk_close(&c->disk);
	if (c->efd >= 0)
		close(c->efd);
	for (i = 0; i < DISK_DEPTH_MAX; i++) {
		free(c->slot[i].buf);
		free(c->slot[i].frame);
	}
	for (i = 0; i <= IMAGE_WORKERS_MAX; i++)
		image_encoder_free(c->enc[i]);
	EVP_MD_CTX_free(c->sha);
	free(c);
}

/* --- deploy ---------------------------------------------------------- */

enum dep_state {
	DEP_FREE,
	DEP_ASKED, /* the transport's */
	DEP_FED, /* the frame in comp, waiting for a worker */
	DEP_DECODING, /* a worker's: frame to buf, checked */
	DEP_WRITING, /* the kernel's */
	DEP_READING, /* the kernel's: read-back */
	DEP_READ,
	DEP_CHECKING, /* a worker's: the read-back checked */
	DEP_DONE_WORK, /* a worker finished: res */
};

struct dep_slot {
	struct pool_job job; /* first: a job is its slot */
	uint8_t *buf;
	uint8_t *comp; /* workers: the fed frame, copied */
	size_t clen;
	int res;
	bool checking; /* the job was a read-back check */
	struct image_err e;
	uint32_t index;
	enum dep_state state;
};

enum dep_phase { PHASE_WRITE, PHASE_VERIFY, PHASE_DONE };

struct image_deploy {
	struct disk disk;
	int efd;
	struct pool_client pool;
	void *mbuf;
	struct image_manifest m;
	image_fetch_fn fetch;
	void *ctx;
	enum image_verify verify;
	unsigned int depth;
	struct dep_slot slot[DISK_DEPTH_MAX];
	uint8_t *written; /* bitmap: chunk i is verified and on the target */
	uint32_t resume; /* the first chunk not in `written` */
	uint32_t next_fetch; /* the next chunk to ask for or zero */
	enum dep_phase phase;
	uint32_t next_check; /* read-back: the next chunk to read */
	uint32_t checked; /* read-back: chunks checked */
	uint64_t bytes; /* source bytes written (or read back) */
	uint64_t base_bytes; /* bytes done before this run or phase */
	uint64_t comp_bytes;
	uint32_t chunks_done;
	uint32_t holes;
	uint64_t start_ms;
	int err;
	struct image_err e;
};

static bool dep_is_written(const struct image_deploy *d, uint32_t i)
{
	return d->written[i / 8] & (1U << (i % 8));
}

static void dep_mark_written(struct image_deploy *d, uint32_t i)
{
	d->written[i / 8] |= 1U << (i % 8);
	d->bytes += image_chunk_len(&d->m, i);
	d->chunks_done++;
}

static struct dep_slot *dep_slot_of(struct image_deploy *d, uint32_t i)
{
	unsigned int k;

	for (k = 0; k < d->depth; k++)
		if (d->slot[k].state != DEP_FREE && d->slot[k].index == i)
			return &d->slot[k];
	return NULL;
}

static struct dep_slot *dep_slot_free(struct image_deploy *d)
{
	unsigned int k;

	for (k = 0; k < d->depth; k++)
		if (d->slot[k].state == DEP_FREE)
			return &d->slot[k];
	return NULL;
}

static bool dep_has(const struct image_deploy *d, enum dep_state st)
{
	unsigned int k;

	for (k = 0; k < d->depth; k++)
		if (d->slot[k].state == st)
			return true;
	return false;
}

static int deploy_fail(struct image_deploy *d, int err, const char *what,
		       uint32_t i)
{
	if (d->err)
		return d->err;
	d->err = image_fail(&d->e, err, "chunk %u: %s at %llu: %s", i, what,
			    (unsigned long long)i << d->m.chunk_shift,
			    strerror(-err));
	return d->err;
}

/* Decodes and checks a frame, or checks a read-back: worker or step. */
static void deploy_work(struct image_deploy *d, struct dep_slot *s,
			const void *comp)
{
	unsigned int flags = d->verify == IMAGE_VERIFY_FAST ? IMAGE_CHECK_FAST :
							      0;

	if (s->checking)
		s->res = image_chunk_check(&d->m, s->index, s->buf,
					   image_chunk_len(&d->m, s->index),
					   flags, &s->e);
	else
		s->res = image_chunk_decode(&d->m, s->index, comp, s->clen,
					    s->buf, 0, &s->e);
}

static void deploy_run(void *eng, struct pool_job *job)
{
	struct dep_slot *s = (struct dep_slot *)job;

	deploy_work(eng, s, s->comp);
}

static int deploy_target(struct image_deploy *d, const char *path,
			 const struct image_deploy_opts *o,
			 struct image_err *e)
{
	int err;

	err = disk_open(&d->disk, path, o->disk_flags | DISK_F_WRITE,
			d->depth);
	if (err)
		return image_fail(e, err, "open %s: %s", path, strerror(-err));
	if (d->disk.size < d->m.meta.size && o->grow_file &&
	    !d->disk.blockdev) {
		if (ftruncate(d->disk.bfd, d->m.meta.size))
			return image_fail(e, -errno, "grow %s: %s", path,
					  strerror(errno));
		d->disk.size = d->m.meta.size;
	}
	if (d->disk.size < d->m.meta.size)
		return image_fail(
			e, -ENOSPC,
			"target %s is %llu bytes, the image needs %llu", path,
			(unsigned long long)d->disk.size,
			(unsigned long long)d->m.meta.size);
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0)
		return image_fail(e, -errno, "eventfd: %s", strerror(errno));
	err = disk_notify(&d->disk, d->efd);
	if (err)
		return image_fail(e, err, "io_uring eventfd: %s",
				  strerror(-err));
	return 0;
}

static int deploy_alloc(struct image_deploy *d, unsigned int workers,
			struct image_err *e)
{
	unsigned int k;

	d->written = calloc(1, d->m.n_chunks / 8 + 1);
	if (!d->written)
		return image_fail(e, -ENOMEM, "out of memory");
	for (k = 0; k < d->depth; k++) {
		d->slot[k].buf = disk_buf_alloc(d->m.chunk_size);
		if (!d->slot[k].buf)
			return image_fail(e, -ENOMEM, "out of memory");
		if (!workers)
			continue;
		d->slot[k].comp = malloc(image_frame_bound(d->m.chunk_size));
		if (!d->slot[k].comp)
			return image_fail(e, -ENOMEM, "out of memory");
	}
	return 0;
}

static int deploy_setup(struct image_deploy *d, const void *manifest,
			size_t len, const char *path,
			const struct image_deploy_opts *o, struct image_err *e)
{
	unsigned int workers = workers_of(o->workers, d->depth);
	int err;

	d->mbuf = malloc(len ? len : 1);
	if (!d->mbuf)
		return image_fail(e, -ENOMEM, "out of memory");
	memcpy(d->mbuf, manifest, len);
	err = image_manifest_parse(d->mbuf, len, &d->m, e);
	if (err)
		return err;
	if (o->start > d->m.n_chunks)
		return image_fail(e, -EINVAL,
				  "resume point %u past the last chunk (%u)",
				  o->start, d->m.n_chunks);
	err = deploy_target(d, path, o, e);
	if (!err)
		err = deploy_alloc(d, workers, e);
	if (err)
		return err;
	err = pool_client_init(&d->pool, workers, d->efd, deploy_run, d);
	if (err)
		return image_fail(e, err, "start workers: %s", strerror(-err));
	return 0;
}

int image_deploy_new(struct image_deploy **out, const void *manifest,
		     size_t len, const char *path,
		     const struct image_deploy_opts *o, image_fetch_fn fetch,
		     void *ctx, struct image_err *e)
{
	struct image_deploy *d;
	uint32_t i;
	int err;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return image_fail(e, -ENOMEM, "out of memory");
	d->disk.fd = d->disk.bfd = -1;
	d->efd = -1;
	d->fetch = fetch;
	d->ctx = ctx;
	d->verify = o->verify;
	d->depth = depth_of(o->depth);
	err = deploy_setup(d, manifest, len, path, o, e);
	if (err) {
		image_deploy_free(d);
		return err;
	}
	for (i = 0; i < o->start; i++)
		dep_mark_written(d, i);
	d->resume = d->next_fetch = o->start;
	d->base_bytes = d->bytes;
	d->start_ms = now_ms();
	*out = d;
	return 0;
}

const struct image_manifest *image_deploy_manifest(const struct image_deploy *d)
{
	return &d->m;
}

int image_deploy_pollfd(const struct image_deploy *d)
{
	return d->efd;
}

bool image_deploy_direct(const struct image_deploy *d)
{
	return d->disk.direct;
}

const char *image_deploy_error(const struct image_deploy *d)
{
	return d->err ? d->e.msg : "";
}

uint32_t image_deploy_resume_point(const struct image_deploy *d)
{
	return d->resume;
}

/* A checked chunk goes to the disk; a failed one stops everything. */
static int deploy_write(struct image_deploy *d, struct dep_slot *s)
{
	int err;

	if (s->res) {
		s->state = DEP_FREE;
		if (!d->err)
			d->err = image_fail(&d->e, s->res, "%s", s->e.msg);
		return d->err;
	}
	err = disk_write(&d->disk, s->buf, image_chunk_len(&d->m, s->index),
			 (uint64_t)s->index << d->m.chunk_shift, s - d->slot);
	if (err) {
		s->state = DEP_FREE;
		return deploy_fail(d, err, "write", s->index);
	}
	s->state = DEP_WRITING;
	return 0;
}

/* Fed frames and read-backs to the workers, in chunk order. */
static void deploy_dispatch(struct image_deploy *d)
{
	struct dep_slot *s, *first;
	unsigned int k;

	while (pool_room(&d->pool)) {
		first = NULL;
		for (k = 0; k < d->depth; k++) {
			s = &d->slot[k];
			if ((s->state == DEP_FED || s->state == DEP_READ) &&
			    (!first || s->index < first->index))
				first = s;
		}
		if (!first)
			return;
		first->checking = first->state == DEP_READ;
		first->state = first->checking ? DEP_CHECKING : DEP_DECODING;
		pool_submit(&d->pool, &first->job);
	}
}

int image_deploy_feed(struct image_deploy *d, uint32_t index,
		      const void *frame, size_t clen)
{
	struct dep_slot *s;

	if (d->err)
		return d->err;
	if (d->phase != PHASE_WRITE || index >= d->m.n_chunks)
		return -EALREADY;
	s = dep_slot_of(d, index);
	if (!s || s->state != DEP_ASKED)
		return -EALREADY;
	d->comp_bytes += clen;
	s->clen = clen;
	s->checking = false;
	if (!d->pool.max) {
		/* the one check that stands between the network and the disk */
		deploy_work(d, s, frame);
		return deploy_write(d, s);
	}
	if (clen > image_frame_bound(d->m.chunk_size)) {
		s->state = DEP_FREE;
		d->err = image_fail(&d->e, -EBADMSG,
				    "chunk %u: %zu bytes, more than a frame",
				    index, clen);
		return d->err;
	}
	memcpy(s->comp, frame, clen);
	s->state = DEP_FED;
	deploy_dispatch(d);
	return 0;
}

void image_deploy_refetch(struct image_deploy *d)
{
	unsigned int k;

	for (k = 0; k < d->depth; k++) {
		if (d->slot[k].state != DEP_ASKED)
			continue;
		d->slot[k].state = DEP_FREE;
		if (d->slot[k].index < d->next_fetch)
			d->next_fetch = d->slot[k].index;
	}
}

/* A read-back checked: the slot is free again, or the deploy failed. */
static int deploy_checked(struct image_deploy *d, struct dep_slot *s)
{
	s->state = DEP_FREE;
	if (s->res) {
		if (!d->err)
			d->err = image_fail(
				&d->e, s->res,
				"read back: %s (the target does not hold what was written)",
				s->e.msg);
		return d->err;
	}
	d->checked++;
	d->bytes += image_chunk_len(&d->m, s->index);
	return 0;
}

/* Disk completions and finished jobs back to the loop thread. */
static int deploy_reap(struct image_deploy *d)
{
	struct pool_job *job, *next;
	struct disk_done done;
	struct dep_slot *s;
	int ret;

	while ((ret = disk_complete(&d->disk, &done, false)) > 0) {
		s = &d->slot[done.tag];
		if (done.res < 0) {
			deploy_fail(d, done.res,
				    s->state == DEP_WRITING ? "write" :
							      "read back",
				    s->index);
			s->state = DEP_FREE;
		} else if (s->state == DEP_READING) {
			s->state = DEP_READ;
		} else {
			dep_mark_written(d, s->index);
			s->state = DEP_FREE;
		}
	}
	if (ret < 0 && !d->err)
		d->err = image_fail(&d->e, ret, "io_uring: %s",
				    strerror(-ret));
	for (job = pool_take(&d->pool); job; job = next) {
		next = job->next;
		s = (struct dep_slot *)job;
		if (s->checking)
			deploy_checked(d, s);
		else if (d->err)
			s->state = DEP_FREE; /* checked, but we are stopping */
		else
			deploy_write(d, s);
	}
	return d->err;
}

static void deploy_advance(struct image_deploy *d)
{
	while (d->resume < d->m.n_chunks && dep_is_written(d, d->resume))
		d->resume++;
}

/* Zeroes the run of holes starting at next_fetch (DEPLOY_HOLE_RUN max). */
static int deploy_holes(struct image_deploy *d)
{
	uint32_t first = d->next_fetch, i = first;
	uint64_t off = (uint64_t)first << d->m.chunk_shift, len = 0;
	struct image_chunk ch;
	int err;

	while (i < d->m.n_chunks && i - first < DEPLOY_HOLE_RUN &&
	       !dep_is_written(d, i)) {
		image_chunk_get(&d->m, i, &ch);
		if (ch.clen)
			break;
		len += ch.len;
		i++;
	}
	err = disk_zero(&d->disk, off, len);
	if (err)
		return deploy_fail(d, err, "zero a hole", first);
	for (; first < i; first++) {
		dep_mark_written(d, first);
		d->holes++;
	}
	d->next_fetch = i;
	return 0;
}

/*
 * Asks for the chunks ahead while slots are free. 0, 1 when the fetch
 * pushed back, 2 after zeroing holes (call again), or failed.
 */
static int deploy_ask(struct image_deploy *d)
{
	struct image_chunk ch;
	struct dep_slot *s;
	uint32_t i;
	int err;

	while (d->next_fetch < d->m.n_chunks && !d->err) {
		i = d->next_fetch;
		if (dep_is_written(d, i) || dep_slot_of(d, i)) {
			d->next_fetch++;
			continue;
		}
		image_chunk_get(&d->m, i, &ch);
		if (!ch.clen)
			return deploy_holes(d) ?: 2;
		s = dep_slot_free(d);
		if (!s)
			return 0;
		/* asked before the call: a transport may feed from inside */
		s->index = i;
		s->state = DEP_ASKED;
		d->next_fetch++;
		err = d->fetch(d->ctx, i, ch.offset, ch.clen);
		if (!err)
			continue;
		if (d->err)
			return d->err;
		if (s->state == DEP_ASKED)
			s->state = DEP_FREE;
		d->next_fetch = i;
		if (err == -EAGAIN)
			return 1;
		d->err = image_fail(&d->e, err, "chunk %u: fetch: %s", i,
				    strerror(-err));
		return err;
	}
	return d->err;
}

static int deploy_verify_start(struct image_deploy *d)
{
	int err = disk_sync(&d->disk);

	if (err) {
		d->err = image_fail(&d->e, err, "sync the target: %s",
				    strerror(-err));
		return err;
	}
	if (d->verify == IMAGE_VERIFY_NONE) {
		d->phase = PHASE_DONE;
		return 0;
	}
	d->phase = PHASE_VERIFY;
	d->bytes = d->base_bytes = 0;
	d->start_ms = now_ms();
	return 0;
}

/* Read-back: reads ahead into the free slots, checks what was read. */
static int deploy_verify(struct image_deploy *d)
{
	bool checked = false;
	struct dep_slot *s;
	unsigned int k;
	int err;

	for (k = 0; k < d->depth && !d->pool.max; k++) {
		s = &d->slot[k];
		if (s->state != DEP_READ || checked)
			continue;
		/* the step's CPU work: one chunk */
		s->checking = true;
		deploy_work(d, s, NULL);
		if (deploy_checked(d, s))
			return d->err;
		checked = true;
	}
	while (d->next_check < d->m.n_chunks && (s = dep_slot_free(d))) {
		err = disk_read(&d->disk, s->buf,
				image_chunk_len(&d->m, d->next_check),
				(uint64_t)d->next_check << d->m.chunk_shift,
				s - d->slot);
		if (err == -EBUSY)
			break;
		if (err)
			return deploy_fail(d, err, "read back", d->next_check);
		s->index = d->next_check++;
		s->state = DEP_READING;
	}
	deploy_dispatch(d);
	if (d->checked == d->m.n_chunks)
		d->phase = PHASE_DONE;
	return 0;
}

int image_deploy_step(struct image_deploy *d)
{
	int ret;

	efd_drain(d->efd);
	if (deploy_reap(d))
		return d->err;
	if (d->phase == PHASE_WRITE) {
		deploy_advance(d);
		ret = deploy_ask(d);
		if (ret < 0)
			return ret;
		if (ret == 2)
			return IMAGE_STEP_AGAIN;
		if (d->resume == d->m.n_chunks && deploy_verify_start(d))
			return d->err;
	}
	if (d->phase == PHASE_VERIFY && deploy_verify(d))
		return d->err;
	if (d->phase == PHASE_DONE)
		return 0;
	deploy_dispatch(d);
	if (disk_ready(&d->disk) || (!d->pool.max && dep_has(d, DEP_READ)))
		return IMAGE_STEP_AGAIN;
	return IMAGE_STEP_WAIT;
}

void image_deploy_progress(const struct image_deploy *d,
			   struct image_progress *p)
{
	memset(p, 0, sizeof(*p));
	p->total = d->m.meta.size;
	p->n_chunks = d->m.n_chunks;
	p->comp_bytes = d->comp_bytes;
	p->holes = d->holes;
	p->verifying = d->phase == PHASE_VERIFY;
	p->bytes = d->bytes;
	p->chunks = d->phase == PHASE_WRITE ? d->chunks_done : d->checked;
	if (d->phase == PHASE_DONE) {
		p->bytes = p->total;
		p->chunks = p->n_chunks;
	}
	progress_rate(p, d->start_ms, d->base_bytes);
}

void image_deploy_free(struct image_deploy *d)
{
	unsigned int k;

	if (!d)
		return;
	pool_client_stop(&d->pool);
	disk_close(&d->disk);
	if (d->efd >= 0)
		close(d->efd);
	for (k = 0; k < DISK_DEPTH_MAX; k++) {
		free(d->slot[k].buf);
		free(d->slot[k].comp);
	}
	free(d->written);
	free(d->mbuf);
	free(d);
}
