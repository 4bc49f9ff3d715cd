/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent's imaging engines, free of any transport: capture (a disk
 * into compressed chunks handed to a sink) and deploy (chunks fed in by
 * a transport, checked, written to a disk). The format is
 * include/xboot/image.h; frames are made and checked only by the codec,
 * userspace/lib/image_fmt.h.
 *
 * HOW THEY RUN
 *   Both are step machines for the agent's single poll loop. Disk I/O goes
 *   through io_uring (disk_io.h) with `depth` chunks in flight. The CPU
 *   work per chunk (compressing it; decoding and hashing a fed frame;
 *   checking a read-back) runs either on the loop thread, one chunk per
 *   step (workers 0: some milliseconds per 4 MiB chunk, so heartbeats
 *   keep flowing between chunks), or on worker threads, up to `workers`
 *   chunks at once, which is what lets a deploy verify every chunk and
 *   still keep up with the network on a many-core server. The threads are
 *   one pool the engines share, grown to the largest `workers` asked for
 *   and kept for the life of the agent. A worker touches only the slot it
 *   was given; everything else (order, the whole-image hash, the disk,
 *   the callbacks) stays on the loop thread, so callbacks need no locks.
 *
 *   The loop polls *_pollfd() for POLLIN: one eventfd signalled by disk
 *   completions (io_uring_register_eventfd) and by workers. It calls
 *   *_step() when that fd is readable, when *_step() asked to be called
 *   again at once (IMAGE_STEP_AGAIN), and after the transport made room
 *   (capture) or fed a chunk (deploy). Compression can also be split
 *   inside each frame by zstd's own workers (`threads`).
 *
 * CAPTURE
 *   Reads the disk in chunk-size pieces, up to `depth` in flight, and in
 *   chunk order folds each into the whole-image SHA-256, detects the
 *   partition table from chunk 0, and compresses it: an all-zero chunk is
 *   a hole and is not handed on; any other goes to sink(index, frame,
 *   clen, raw length), which the controller feeds to
 *   image_writer_put_frame(). The sink may answer -EAGAIN (its queue is
 *   full): the frame is kept and offered again on a later step. Any other
 *   error stops the capture.
 *
 * DEPLOY
 *   Takes the manifest (the bytes the controller sent) and writes the
 *   image to a target at least the image's source size. It asks the
 *   transport for chunks with fetch(index, data offset, clen), up to
 *   `depth` outstanding, in chunk order from the resume point; the
 *   transport later calls image_deploy_feed() with the frame, in any
 *   order. A fed frame is decoded and checked (SHA-256) against its
 *   record before a byte of it is written; a chunk that fails stops the
 *   deploy with an error naming it, and it is never written. Holes are
 *   not fetched: they are zeroed on the target (punched, discarded).
 *
 *   The resume point is the first chunk not yet verified and written:
 *   every chunk below it is on the target (written, not yet flushed: it
 *   survives the agent, and is synced before the read-back and the end). After a lost connection the
 *   transport calls image_deploy_refetch() and the engine asks again for
 *   what was not fed; after a lost agent, a new engine starts at the
 *   resume point the controller recorded (options.start). With
 *   `verify`, once every chunk is written, the target is synced and
 *   read back, every chunk checked (XXH3 only with IMAGE_VERIFY_FAST).
 *
 * ERRORS
 *   Every failure is a negative errno and a message (image_*_error())
 *   naming the chunk or the disk: "chunk 7: SHA-256 mismatch", "target
 *   /dev/sda is 1000000 bytes, the image needs 2000000".
 */
#ifndef XBOOT_AGENT_IMAGE_JOB_H
#define XBOOT_AGENT_IMAGE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image_fmt.h"

#define IMAGE_DEPTH_DEFAULT 8U
#define IMAGE_WORKERS_MAX 64U

/* *_step() results */
#define IMAGE_STEP_WAIT 1 /* wait for the pollfd, a feed or sink room */
#define IMAGE_STEP_AGAIN 2 /* more to do now: call again soon */
/* 0: finished; < 0: failed (-errno, see the error text) */

struct image_progress {
	uint64_t bytes; /* source bytes done: read, or verified + written */
	uint64_t total; /* the source size */
	uint64_t comp_bytes; /* frame bytes made or fed */
	uint32_t chunks; /* chunks done, holes included */
	uint32_t n_chunks;
	uint32_t holes; /* of those done, holes */
	uint64_t elapsed_ms;
	uint64_t rate; /* bytes per second since the start */
	uint64_t eta_s; /* at that rate; UINT64_MAX when unknown */
	bool verifying; /* deploy: in the read-back */
};

/* --- capture --------------------------------------------------------- */

struct image_capture_opts {
	uint32_t chunk_size; /* 0: XBI_CHUNK_SHIFT_DEFAULT */
	int level; /* zstd; 0: zstd's default */
	int threads; /* zstd workers inside each frame; <= 1: none */
	unsigned int workers; /* chunks compressed at once; 0: in step */
	unsigned int depth; /* chunks in flight; 0: IMAGE_DEPTH_DEFAULT */
	unsigned int disk_flags; /* DISK_F_BUFFERED, DISK_F_SYNC_IO */
};

/* 0 taken, -EAGAIN full (offer again later), another -errno: stop. */
typedef int (*image_sink_fn)(void *ctx, uint32_t index, const void *frame,
			     size_t clen, uint32_t raw_len);

struct image_capture_result {
	uint64_t size;
	uint8_t sha256[XBI_SHA256_LEN];
	uint8_t ptable; /* enum xbi_ptable */
	uint32_t chunk_size;
	uint32_t n_chunks;
	uint32_t holes;
	uint64_t data_size; /* the sum of the frames' lengths */
};

struct image_capture;

int image_capture_new(struct image_capture **out, const char *path,
		      const struct image_capture_opts *opts,
		      image_sink_fn sink, void *ctx, struct image_err *e);
/* The source's size and chunking, known from the start. */
uint64_t image_capture_size(const struct image_capture *c);
uint32_t image_capture_chunk_size(const struct image_capture *c);
/* IMAGE_STEP_WAIT or _AGAIN, 0 when finished, -errno when failed. */
int image_capture_step(struct image_capture *c);
int image_capture_pollfd(const struct image_capture *c);
void image_capture_progress(const struct image_capture *c,
			    struct image_progress *p);
/* After image_capture_step() returned 0. */
void image_capture_result(const struct image_capture *c,
			  struct image_capture_result *r);
const char *image_capture_error(const struct image_capture *c);
bool image_capture_direct(const struct image_capture *c);
/* Stops (waits for reads in flight) and frees. */
void image_capture_free(struct image_capture *c);

/* --- deploy ---------------------------------------------------------- */

enum image_verify {
	IMAGE_VERIFY_NONE,
	IMAGE_VERIFY_FAST, /* read back, XXH3-64 per chunk */
	IMAGE_VERIFY_FULL, /* read back, SHA-256 per chunk */
};

struct image_deploy_opts {
	uint32_t start; /* resume point: chunks below it are done */
	enum image_verify verify;
	unsigned int depth; /* chunks fetched/written at once; 0: default */
	unsigned int workers; /* chunks decoded at once; 0: in feed/step */
	unsigned int disk_flags; /* DISK_F_BUFFERED, DISK_F_SYNC_IO */
	bool grow_file; /* a regular file smaller than the image grows */
};

/*
 * Asks the transport for chunk index: clen bytes at offset in the image's
 * data file. 0 asked, -EAGAIN not now (asked again on a later step),
 * another -errno: stop.
 */
typedef int (*image_fetch_fn)(void *ctx, uint32_t index, uint64_t offset,
			      uint32_t clen);

struct image_deploy;

/* The manifest is copied; the target opened, its size checked. */
int image_deploy_new(struct image_deploy **out, const void *manifest,
		     size_t len, const char *path,
		     const struct image_deploy_opts *opts, image_fetch_fn fetch,
		     void *ctx, struct image_err *e);
const struct image_manifest *image_deploy_manifest(
	const struct image_deploy *d);
/*
 * Chunk index's frame, as asked for: decoded, checked, then queued for
 * writing (the bytes are copied or decoded before this returns). 0;
 * -EALREADY for a chunk not outstanding (done, or a duplicate: ignored);
 * another -errno when the deploy has failed. A chunk that fails its
 * check fails the deploy here (no workers) or at the next step (workers):
 * nothing of it is written either way.
 */
int image_deploy_feed(struct image_deploy *d, uint32_t index,
		      const void *frame, size_t clen);
/* The transport lost what it was asked for: ask again. */
void image_deploy_refetch(struct image_deploy *d);
int image_deploy_step(struct image_deploy *d);
int image_deploy_pollfd(const struct image_deploy *d);
/* The first chunk not yet verified and written. */
uint32_t image_deploy_resume_point(const struct image_deploy *d);
void image_deploy_progress(const struct image_deploy *d,
			   struct image_progress *p);
const char *image_deploy_error(const struct image_deploy *d);
bool image_deploy_direct(const struct image_deploy *d);
/* Stops (waits for writes in flight) and frees. */
void image_deploy_free(struct image_deploy *d);

#endif /* XBOOT_AGENT_IMAGE_JOB_H */
