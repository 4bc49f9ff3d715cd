/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The controller's side of image transfers (include/xboot/image_http.h is
 * the contract): who may fetch or upload an image (a job's key), the
 * capture sessions that write uploaded chunks into a staging directory of
 * the image store and publish the image at finish, the chunk-boundary
 * check of deploy ranges, and the progress both put in the machine's
 * phase detail. http.c moves the bytes; this holds the state between
 * requests. Everything runs on the loop's thread.
 */
#ifndef XBOOTD_IMAGE_XFER_H
#define XBOOTD_IMAGE_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "xboot/image_http.h"

#define IMAGE_XFER_REPLY_MAX 512
#define IMAGE_XFER_DEPLOY_IDLE_S 60 /* a deploy's manifest is let go */

struct image_store;
struct image_xfer;
struct machines;

/* An answer: the HTTP status and its JSON body. */
struct image_xfer_reply {
	int status;
	char body[IMAGE_XFER_REPLY_MAX];
};

/* The job a key authorised: what the rest of the calls take. */
struct image_xfer_auth {
	uint64_t job;
	uint8_t mac[6];
	int type; /* XBA_JOB_IMAGE_DEPLOY or _CAPTURE */
};

int image_xfer_open(struct image_xfer **out, struct machines *m,
		    struct image_store *st);
/* Drops every capture (their staging directories are removed). */
void image_xfer_close(struct image_xfer *x);

/*
 * Before an image job is queued: image-deploy NAME DISK needs image NAME
 * in the store, image-capture DISK NAME a valid NAME not taken. 0, or
 * -ENOENT / -EEXIST / -EINVAL with the reason in why. Other job types: 0.
 */
int image_xfer_job_check(struct image_store *st, int type,
			 const char *const args[], unsigned int nargs,
			 char *why, size_t why_size);

/*
 * The request's Bearer key ("" when none) against a job in flight of
 * type for image name: 0 and *a filled in, 401 (no key, unknown key) or
 * 403 (another job type or image, a job not in flight). peer names the
 * client in the log line a refusal writes.
 */
int image_xfer_authorise(struct image_xfer *x, const char *bearer, int type,
			 const char *name, const char *peer,
			 struct image_xfer_auth *a);

/*
 * A deploy asks for count bytes at off of image name's data file: 0 when
 * the range starts at a chunk's frame and ends at one's end (progress is
 * noted), -EINVAL when not, another -errno when the image is unreadable.
 */
int image_xfer_deploy_range(struct image_xfer *x,
			    const struct image_xfer_auth *a, const char *name,
			    uint64_t off, uint64_t count);

/* May the job's capture take a chunk body now (false: 503)? */
bool image_xfer_capture_room(struct image_xfer *x,
			     const struct image_xfer_auth *a);

/* The capture requests; each fills r (status and body). */
void image_xfer_capture_start(struct image_xfer *x,
			      const struct image_xfer_auth *a,
			      const char *name, const char *body, size_t len,
			      struct image_xfer_reply *r);
void image_xfer_capture_chunk(struct image_xfer *x,
			      const struct image_xfer_auth *a,
			      const char *name, uint64_t index,
			      uint64_t raw_len, const void *frame, size_t len,
			      struct image_xfer_reply *r);
void image_xfer_capture_finish(struct image_xfer *x,
			       const struct image_xfer_auth *a,
			       const char *name, const char *body, size_t len,
			       struct image_xfer_reply *r);
void image_xfer_capture_abort(struct image_xfer *x,
			      const struct image_xfer_auth *a,
			      const char *name, struct image_xfer_reply *r);

/* Captures in flight (staging directories held). */
unsigned int image_xfer_captures(const struct image_xfer *x);

/* Once a second: drops captures whose job is no longer in flight or that
 * have been quiet for IMAGE_HTTP_CAPTURE_IDLE_S, and idle deploys. now
 * is CLOCK_MONOTONIC seconds. */
void image_xfer_tick(struct image_xfer *x, time_t now);

#endif /* XBOOTD_IMAGE_XFER_H */
