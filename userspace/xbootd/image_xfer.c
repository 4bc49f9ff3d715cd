// SPDX-License-Identifier: GPL-2.0
/*
 * Image transfer state between HTTP requests (image_http.h): one record
 * per image job that has been heard from. A capture's record owns the
 * staging directory and the image writer the uploaded frames go into; a
 * deploy's holds the image's parsed manifest, to check that each range
 * is a run of whole frames. Both note progress for `xbootctl watch`.
 *
 * A capture never outlives its job: the tick drops it, staging and all,
 * as soon as the job is not in flight or its agent has gone quiet, so
 * the store only ever sees a finished image published by one rename.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "hex.h"
#include "image_store.h"
#include "image_xfer.h"
#include "log.h"
#include "machines.h"
#include "units.h"

struct xfer {
	struct xfer *next;
	uint64_t job;
	uint8_t mac[6];
	int type;
	char name[XBI_NAME_MAX + 1];
	time_t last;		/* last request, CLOCK_MONOTONIC */
	struct timespec started;
	/* progress: source bytes reached, of total */
	uint64_t done, total;
	time_t reported;	/* last phase detail written */
	uint64_t reported_done;

	/* deploy */
	struct image_handle *h;

	/* capture */
	struct image_store_tx *tx;
	struct image_writer *w;
	uint64_t size;
	uint32_t chunk_size, n_chunks;
	uint32_t next_chunk;	/* the lowest index still accepted */
	char failed[IMAGE_ERR_MAX]; /* non-empty: the capture has failed */
};

struct image_xfer {
	struct machines *m;
	struct image_store *st;
	struct xfer *list;
	unsigned int captures;
};

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void __attribute__((format(printf, 3, 4)))
reply(struct image_xfer_reply *r, int status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->body, sizeof(r->body), fmt, ap);
	va_end(ap);
}

/* {"error": why}, JSON-escaped by json-c. */
static void reply_error(struct image_xfer_reply *r, int status,
			const char *why, long long next)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(why));
	if (next >= 0)
		json_object_object_add(o, "next", json_object_new_int64(next));
	reply(r, status, "%s",
	      json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* --- records ------------------------------------------------------------- */

static struct xfer *xfer_find(struct image_xfer *x, uint64_t job)
{
	struct xfer *t;

	for (t = x->list; t; t = t->next)
		if (t->job == job)
			return t;
	return NULL;
}

static struct xfer *xfer_get(struct image_xfer *x,
			     const struct image_xfer_auth *a,
			     const char *name)
{
	struct xfer *t = xfer_find(x, a->job);

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->job = a->job;
	memcpy(t->mac, a->mac, 6);
	t->type = a->type;
	snprintf(t->name, sizeof(t->name), "%s", name);
	clock_gettime(CLOCK_MONOTONIC, &t->started);
	t->last = t->started.tv_sec;
	t->next = x->list;
	x->list = t;
	return t;
}

/* The capture's staging and writer go; the record stays (failed set). */
static void capture_drop(struct image_xfer *x, struct xfer *t)
{
	if (!t->tx)
		return;
	image_writer_free(t->w);
	t->w = NULL;
	image_store_abort(t->tx);
	t->tx = NULL;
	x->captures--;
}

static void xfer_free(struct image_xfer *x, struct xfer *t)
{
	struct xfer **pp;

	for (pp = &x->list; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	capture_drop(x, t);
	image_handle_close(t->h);
	free(t);
}

static void capture_fail(struct image_xfer *x, struct xfer *t,
			 const char *why)
{
	pr_warn("image: capture of %s (job %llu) failed: %s", t->name,
		(unsigned long long)t->job, why);
	snprintf(t->failed, sizeof(t->failed), "%s", why);
	capture_drop(x, t);
}

int image_xfer_open(struct image_xfer **out, struct machines *m,
		    struct image_store *st)
{
	struct image_xfer *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	x->m = m;
	x->st = st;
	*out = x;
	return 0;
}

void image_xfer_close(struct image_xfer *x)
{
	if (!x)
		return;
	while (x->list)
		xfer_free(x, x->list);
	free(x);
}

unsigned int image_xfer_captures(const struct image_xfer *x)
{
	return x->captures;
}

/* --- progress ------------------------------------------------------------ */

/* "job 12 image-deploy web: 1.2 GiB of 4.0 GiB, 110.5 MiB/s, ETA 25 s" */
static void progress_report(struct image_xfer *x, struct xfer *t, bool force)
{
	char detail[256], done[32], total[32], rate[32], eta[32] = "";
	struct timespec now;
	double secs, bps;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && (now.tv_sec - t->reported < IMAGE_HTTP_PROGRESS_S ||
		       t->done == t->reported_done))
		return;
	t->reported = now.tv_sec;
	t->reported_done = t->done;
	secs = (now.tv_sec - t->started.tv_sec) +
	       (now.tv_nsec - t->started.tv_nsec) / 1e9;
	human_bytes(done, sizeof(done), t->done);
	human_bytes(total, sizeof(total), t->total);
	bps = secs > 0 ? t->done / secs : 0;
	human_bytes(rate, sizeof(rate), bps);
	if (bps >= 1 && t->done < t->total)
		snprintf(eta, sizeof(eta), ", ETA %.0f s",
			 (t->total - t->done) / bps);
	snprintf(detail, sizeof(detail), "job %llu %s %s: %s of %s, %s/s%s",
		 (unsigned long long)t->job, job_type_name(t->type), t->name,
		 done, total, rate, eta);
	machines_phase(x->m, t->mac, MPHASE_RUNNING, detail, NULL);
}

/* --- jobs and keys ------------------------------------------------------- */

int image_xfer_job_check(struct image_store *st, int type,
			 const char *const args[], unsigned int nargs,
			 char *why, size_t why_size)
{
	struct image_handle *h;
	struct image_err e = { "" };
	const char *name;
	int ret;

	if (type != XBA_JOB_IMAGE_DEPLOY && type != XBA_JOB_IMAGE_CAPTURE)
		return 0;
	if (nargs != IMAGE_HTTP_JOB_ARGS) {
		snprintf(why, why_size, "%s takes two arguments: %s",
			 job_type_name(type),
			 type == XBA_JOB_IMAGE_DEPLOY ? "NAME DISK" :
							"DISK NAME");
		return -EINVAL;
	}
	name = args[type == XBA_JOB_IMAGE_DEPLOY ? 0 : 1];
	if (!image_name_valid(name)) {
		snprintf(why, why_size, "not a valid image name: %s", name);
		return -EINVAL;
	}
	ret = image_store_image_open(st, name, &h, &e);
	if (type == XBA_JOB_IMAGE_DEPLOY) {
		if (ret)
			snprintf(why, why_size, "image %s: %s", name,
				 e.msg[0] ? e.msg : strerror(-ret));
		image_handle_close(ret ? NULL : h);
		return ret;
	}
	if (!ret) {
		image_handle_close(h);
		snprintf(why, why_size, "image %s exists", name);
		return -EEXIST;
	}
	return 0;
}

int image_xfer_authorise(struct image_xfer *x, const char *bearer, int type,
			 const char *name, const char *peer,
			 struct image_xfer_auth *a)
{
	const char *what = type == XBA_JOB_IMAGE_DEPLOY ? "deploy" : "capture";
	const char *jname;
	struct job_rec j;
	int ret, status = 0;

	if (!bearer[0]) {
		pr_warn_ratelimited("image: %s: %s %s without a key, refused",
				    peer, what, name);
		return 401;
	}
	ret = machines_job_key_find(x->m, bearer, &j);
	if (ret) {
		pr_warn_ratelimited("image: %s: %s %s with an unknown key, refused",
				    peer, what, name);
		return 401;
	}
	jname = j.nargs >= IMAGE_HTTP_JOB_ARGS ?
			j.args[j.type == XBA_JOB_IMAGE_DEPLOY ? 0 : 1] : "";
	if (j.type != type || strcmp(jname, name))
		status = 403;
	else if (j.state != JOB_SENT && j.state != JOB_ACCEPTED &&
		 j.state != JOB_RUNNING)
		status = 403;
	if (status) {
		pr_warn_ratelimited("image: %s: %s %s with the key of job %llu (%s %s, %s), refused",
				    peer, what, name, (unsigned long long)j.id,
				    job_type_name(j.type), jname,
				    job_state_name(j.state));
	} else {
		a->job = j.id;
		memcpy(a->mac, j.mac, 6);
		a->type = j.type;
	}
	job_rec_free(&j);
	return status;
}

/* --- deploys ------------------------------------------------------------- */

/* The lowest chunk whose record's offset is >= off. */
static uint32_t chunk_at_or_after(const struct image_manifest *m,
				  uint64_t off)
{
	uint32_t lo = 0, hi = m->n_chunks, mid;
	struct image_chunk c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		image_chunk_get(m, mid, &c);
		if (c.offset < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Records are in data order and a hole sits at the offset of the next
 * frame, so the first frame of a range is the first non-hole at its start
 * and the last one is the chunk just below the first record at or past
 * its end.
 */
static int range_chunks(const struct image_manifest *m, uint64_t off,
			uint64_t count, uint32_t *last)
{
	uint64_t end = off + count;
	struct image_chunk c;
	uint32_t i;

	if (!count || end > m->data_size)
		return -EINVAL;
	for (i = chunk_at_or_after(m, off); i < m->n_chunks; i++) {
		image_chunk_get(m, i, &c);
		if (c.offset != off || c.clen)
			break;
	}
	if (i == m->n_chunks || c.offset != off || !c.clen)
		return -EINVAL;
	i = chunk_at_or_after(m, end);
	if (!i)
		return -EINVAL;
	image_chunk_get(m, i - 1, &c);
	if (!c.clen || c.offset + c.clen != end)
		return -EINVAL;
	*last = i - 1;
	return 0;
}

int image_xfer_deploy_range(struct image_xfer *x,
			    const struct image_xfer_auth *a, const char *name,
			    uint64_t off, uint64_t count)
{
	struct image_err e = { "" };
	struct xfer *t = xfer_get(x, a, name);
	uint64_t reached;
	uint32_t last;
	int ret;

	if (!t)
		return -ENOMEM;
	t->last = mono_now();
	if (!t->h) {
		ret = image_store_image_open(x->st, name, &t->h, &e);
		if (ret) {
			pr_warn("image: deploy of %s (job %llu): %s", name,
				(unsigned long long)a->job, e.msg);
			return ret;
		}
		t->total = t->h->m.meta.size;
	}
	ret = range_chunks(&t->h->m, off, count, &last);
	if (ret)
		return ret;
	reached = ((uint64_t)last + 1) * t->h->m.chunk_size;
	if (reached > t->total)
		reached = t->total;
	if (reached > t->done)
		t->done = reached;
	/* the end is shown once, whenever it comes */
	progress_report(x, t, t->done == t->total &&
				      t->reported_done != t->total);
	return 0;
}

/* --- captures ------------------------------------------------------------ */

bool image_xfer_capture_room(struct image_xfer *x,
			     const struct image_xfer_auth *a)
{
	struct xfer *t = xfer_find(x, a->job);

	return (t && t->tx) || x->captures < IMAGE_HTTP_CAPTURES_MAX;
}

static struct json_object *body_json(const char *body, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, body, len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* A non-negative integer member; false when absent or of another type. */
static bool json_u64(struct json_object *o, const char *key, uint64_t *v)
{
	struct json_object *f;

	if (!json_object_object_get_ex(o, key, &f) ||
	    !json_object_is_type(f, json_type_int))
		return false;
	errno = 0;
	*v = json_object_get_uint64(f);
	return !errno && json_object_get_int64(f) >= 0;
}

static uint32_t capture_chunk_len(const struct xfer *t, uint64_t index)
{
	uint64_t off = index * t->chunk_size;

	return t->size - off < t->chunk_size ? t->size - off : t->chunk_size;
}

static int capture_begin(struct image_xfer *x, struct xfer *t,
			 struct image_xfer_reply *r)
{
	struct image_meta meta = { .size = t->size };
	struct image_err e = { "" };
	int ret;

	meta.capture_time = time(NULL);
	memcpy(meta.mac, t->mac, 6);
	snprintf(meta.name, sizeof(meta.name), "%s", t->name);
	ret = image_store_stage(x->st, t->name, &t->tx, &e);
	if (!ret) {
		ret = image_writer_open(&t->w, image_store_tx_dirfd(t->tx),
					&meta, t->chunk_size, 0, 0, &e);
		if (ret) {
			image_store_abort(t->tx);
			t->tx = NULL;
		}
	}
	if (ret) {
		reply_error(r, ret == -EEXIST ? 409 : ret == -EINVAL ? 422 : 500,
			    e.msg, -1);
		return ret;
	}
	x->captures++;
	t->total = t->size;
	t->n_chunks = (t->size + t->chunk_size - 1) / t->chunk_size;
	pr_info("image: capture of %s (job %llu) started: %llu bytes in %u chunks",
		t->name, (unsigned long long)t->job,
		(unsigned long long)t->size, t->n_chunks);
	reply(r, 201, "{\"next\":0}");
	return 0;
}

void image_xfer_capture_start(struct image_xfer *x,
			      const struct image_xfer_auth *a,
			      const char *name, const char *body, size_t len,
			      struct image_xfer_reply *r)
{
	struct json_object *o = body_json(body, len);
	uint64_t size, chunk;
	struct xfer *t;

	if (!o || !json_u64(o, "size", &size) ||
	    !json_u64(o, "chunk_size", &chunk)) {
		json_object_put(o);
		return reply_error(r, 422, "the body must be {\"size\": N, \"chunk_size\": N}", -1);
	}
	json_object_put(o);
	if (!size || size > XBI_SIZE_MAX ||
	    chunk < (1U << XBI_CHUNK_SHIFT_MIN) ||
	    chunk > (1U << XBI_CHUNK_SHIFT_MAX) || (chunk & (chunk - 1)))
		return reply_error(r, 422, "size or chunk_size out of range",
				   -1);
	t = xfer_get(x, a, name);
	if (!t)
		return reply_error(r, 500, "out of memory", -1);
	t->last = mono_now();
	if (t->failed[0])
		return reply_error(r, 409, t->failed, -1);
	if (t->tx) {
		if (t->size != size || t->chunk_size != chunk)
			return reply_error(r, 409, "this job's capture runs with another size or chunk size", -1);
		return reply(r, 200, "{\"next\":%u}", t->next_chunk);
	}
	if (x->captures >= IMAGE_HTTP_CAPTURES_MAX)
		return reply_error(r, 503, "too many captures at once", -1);
	t->size = size;
	t->chunk_size = chunk;
	t->next_chunk = 0;
	t->done = 0;
	capture_begin(x, t, r);
}

void image_xfer_capture_chunk(struct image_xfer *x,
			      const struct image_xfer_auth *a,
			      const char *name, uint64_t index,
			      uint64_t raw_len, const void *frame, size_t len,
			      struct image_xfer_reply *r)
{
	struct xfer *t = xfer_find(x, a->job);
	struct image_err e = { "" };
	char why[IMAGE_ERR_MAX + 64];
	int ret;

	if (!t || (!t->tx && !t->failed[0]))
		return reply_error(r, 409, "no capture started", -1);
	t->last = mono_now();
	if (t->failed[0])
		return reply_error(r, 409, t->failed, -1);
	if (index < t->next_chunk) {
		snprintf(why, sizeof(why), "chunk %llu is stored already",
			 (unsigned long long)index);
		return reply_error(r, 409, why, t->next_chunk);
	}
	if (index >= t->n_chunks) {
		snprintf(why, sizeof(why), "chunk %llu: the image has %u",
			 (unsigned long long)index, t->n_chunks);
	} else if (raw_len != capture_chunk_len(t, index)) {
		snprintf(why, sizeof(why),
			 "chunk %llu: raw length %llu, expected %u",
			 (unsigned long long)index,
			 (unsigned long long)raw_len,
			 capture_chunk_len(t, index));
	} else {
		ret = image_writer_put_frame(t->w, index, frame, len, &e);
		if (!ret) {
			t->next_chunk = index + 1;
			t->done = t->next_chunk == t->n_chunks ?
					  t->size :
					  (uint64_t)t->next_chunk *
						  t->chunk_size;
			progress_report(x, t, false);
			return reply(r, 200, "{\"next\":%u}", t->next_chunk);
		}
		snprintf(why, sizeof(why), "%s", e.msg);
	}
	capture_fail(x, t, why);
	reply_error(r, 422, why, -1);
}

static int ptable_from_name(const char *s)
{
	unsigned int i;

	for (i = 0; i < __XBI_PTABLE_LAST; i++)
		if (!strcmp(s, image_ptable_name(i)))
			return i;
	return -1;
}

static int hex32(const char *s, uint8_t out[XBI_SHA256_LEN])
{
	if (strlen(s) != 2 * XBI_SHA256_LEN)
		return -EINVAL;
	return hex_decode(out, s, XBI_SHA256_LEN);
}

struct finish_claim {
	uint64_t size;
	uint8_t sha256[XBI_SHA256_LEN];
	int ptable; /* -1: not given */
};

static int finish_parse(const char *body, size_t len, struct finish_claim *c)
{
	struct json_object *o = body_json(body, len), *f;
	int ret = -EINVAL;

	c->ptable = -1;
	if (!o || !json_u64(o, "size", &c->size) ||
	    !json_object_object_get_ex(o, "sha256", &f) ||
	    !json_object_is_type(f, json_type_string) ||
	    hex32(json_object_get_string(f), c->sha256))
		goto out;
	if (json_object_object_get_ex(o, "ptable", &f)) {
		if (!json_object_is_type(f, json_type_string))
			goto out;
		c->ptable = ptable_from_name(json_object_get_string(f));
		if (c->ptable < 0)
			goto out;
	}
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

/* The manifest the writer left in the staging directory, against what
 * the agent read from the disk. */
static int finish_check(struct xfer *t, const struct finish_claim *c,
			struct image_manifest *m, char *why, size_t size)
{
	struct image_err e = { "" };
	void *buf = NULL;
	size_t len;
	int ret;

	ret = image_manifest_read(image_store_tx_dirfd(t->tx), &buf, &len, &e);
	if (!ret)
		ret = image_manifest_parse(buf, len, m, &e);
	if (ret) {
		snprintf(why, size, "%s", e.msg);
	} else if (m->meta.size != c->size) {
		snprintf(why, size, "size %llu, the agent read %llu",
			 (unsigned long long)m->meta.size,
			 (unsigned long long)c->size);
		ret = -EBADMSG;
	} else if (memcmp(m->sha256, c->sha256, XBI_SHA256_LEN)) {
		snprintf(why, size,
			 "the image's SHA-256 is not the one the agent read");
		ret = -EBADMSG;
	} else if (c->ptable >= 0 && c->ptable != m->meta.ptable) {
		snprintf(why, size, "partition table %s, the agent saw %s",
			 image_ptable_name(m->meta.ptable),
			 image_ptable_name(c->ptable));
		ret = -EBADMSG;
	}
	m->records = NULL; /* buf goes */
	free(buf);
	return ret;
}

static void finish_reply(struct xfer *t, const struct image_manifest *m,
			 struct image_xfer_reply *r)
{
	char hex[2 * XBI_SHA256_LEN + 1];

	hex_encode(hex, m->sha256, XBI_SHA256_LEN);
	reply(r, 201,
	      "{\"name\":\"%s\",\"size\":%llu,\"sha256\":\"%s\",\"chunks\":%u,"
	      "\"holes\":%u,\"data_size\":%llu}",
	      t->name, (unsigned long long)m->meta.size, hex, m->n_chunks,
	      m->n_holes, (unsigned long long)m->data_size);
}

void image_xfer_capture_finish(struct image_xfer *x,
			       const struct image_xfer_auth *a,
			       const char *name, const char *body, size_t len,
			       struct image_xfer_reply *r)
{
	struct xfer *t = xfer_find(x, a->job);
	struct image_err e = { "" };
	struct finish_claim claim;
	struct image_manifest m;
	char why[IMAGE_ERR_MAX + 64];
	int ret;

	if (!t || (!t->tx && !t->failed[0]))
		return reply_error(r, 409, "no capture started", -1);
	t->last = mono_now();
	if (t->failed[0])
		return reply_error(r, 409, t->failed, -1);
	if (finish_parse(body, len, &claim))
		return reply_error(r, 422, "the body must be {\"size\": N, \"sha256\": \"hex\", \"ptable\": \"none|mbr|gpt\"}", -1);
	ret = image_writer_finish(t->w, &e);
	image_writer_free(t->w);
	t->w = NULL;
	if (ret)
		snprintf(why, sizeof(why), "%s", e.msg);
	else
		ret = finish_check(t, &claim, &m, why, sizeof(why));
	if (ret) {
		capture_fail(x, t, why);
		return reply_error(r, 422, why, -1);
	}
	ret = image_store_publish(t->tx, &e);
	t->tx = NULL; /* publish frees it, or aborts it on failure */
	x->captures--;
	if (ret) {
		capture_fail(x, t, e.msg);
		return reply_error(r, ret == -EEXIST ? 409 : 500, e.msg, -1);
	}
	t->done = t->total;
	progress_report(x, t, true);
	pr_info("image: %s captured from job %llu: %llu bytes, %u chunks, %u holes",
		t->name, (unsigned long long)t->job,
		(unsigned long long)m.meta.size, m.n_chunks, m.n_holes);
	finish_reply(t, &m, r);
	xfer_free(x, t);
}

void image_xfer_capture_abort(struct image_xfer *x,
			      const struct image_xfer_auth *a,
			      const char *name, struct image_xfer_reply *r)
{
	struct xfer *t = xfer_find(x, a->job);

	if (t) {
		if (t->tx)
			pr_info("image: capture of %s (job %llu) aborted by the agent",
				t->name, (unsigned long long)t->job);
		xfer_free(x, t);
	}
	reply(r, 200, "{}");
}

/* --- tick ---------------------------------------------------------------- */

/* Why t must go now, or NULL. */
static const char *xfer_stale(struct image_xfer *x, struct xfer *t,
			      time_t now, char *buf, size_t size)
{
	struct job_rec j;
	int state;

	if (machines_job_get(x->m, t->job, &j))
		return "its job is gone";
	state = j.state;
	job_rec_free(&j);
	if (state != JOB_SENT && state != JOB_ACCEPTED &&
	    state != JOB_RUNNING) {
		snprintf(buf, size, "its job is %s", job_state_name(state));
		return buf;
	}
	if (t->type == XBA_JOB_IMAGE_CAPTURE && t->tx &&
	    now - t->last >= IMAGE_HTTP_CAPTURE_IDLE_S)
		return "nothing heard from the agent";
	if ((t->type == XBA_JOB_IMAGE_DEPLOY || !t->tx) &&
	    now - t->last >= IMAGE_XFER_DEPLOY_IDLE_S)
		return "idle";
	return NULL;
}

void image_xfer_tick(struct image_xfer *x, time_t now)
{
	struct xfer *t, *next;
	const char *why;
	char buf[64];

	if (!x)
		return;
	for (t = x->list; t; t = next) {
		next = t->next;
		why = xfer_stale(x, t, now, buf, sizeof(buf));
		if (!why) {
			progress_report(x, t, false);
			continue;
		}
		if (t->tx)
			pr_warn("image: capture of %s (job %llu) dropped: %s",
				t->name, (unsigned long long)t->job, why);
		xfer_free(x, t);
	}
}
