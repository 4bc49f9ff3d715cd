/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The image format codec (include/xboot/image.h is the specification),
 * shared by xbootd, xbootctl and xboot-agent: no xbootd dependencies.
 *
 * Reading never allocates: image_manifest_parse() validates a whole
 * manifest buffer and keeps a pointer to its records, which live as long
 * as the buffer. Every refusal returns a negative errno and, when the
 * caller passes a struct image_err, a message naming the field or chunk.
 *
 * The writer takes raw chunks in ascending index order (skipped indexes are
 * holes, all-zero chunks become holes), appends their frames to `data` in a
 * directory and, in image_writer_finish(), writes `manifest`. Atomic
 * publication of the directory is the image store's job.
 */
#ifndef XBOOT_IMAGE_FMT_H
#define XBOOT_IMAGE_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xboot/image.h"

#define IMAGE_ERR_MAX 192

struct image_err {
	char msg[IMAGE_ERR_MAX];
};

struct image_meta {
	uint64_t size;
	int64_t capture_time;
	uint8_t mac[XBI_MAC_LEN];
	uint8_t ptable; /* enum xbi_ptable; the writer detects it */
	int8_t level;
	char name[XBI_NAME_MAX + 1];
};

struct image_manifest {
	struct image_meta meta;
	uint16_t major;
	uint16_t minor;
	uint32_t flags;
	uint8_t chunk_shift;
	uint32_t chunk_size;
	uint32_t n_chunks;
	uint32_t n_holes;
	uint64_t data_size;
	uint8_t sha256[XBI_SHA256_LEN];
	const uint8_t *records; /* into the parsed buffer */
};

struct image_chunk {
	uint64_t offset; /* in the data file */
	uint32_t clen; /* 0: a hole */
	uint32_t len; /* raw length */
	uint64_t xxh3;
	uint8_t sha256[XBI_SHA256_LEN];
};

/* Flags of image_chunk_decode() and image_chunk_check(). */
#define IMAGE_CHECK_FAST (1U << 0) /* XXH3-64 only, not SHA-256 */

/* Sets e->msg (when e is not NULL) and returns err, a negative errno. */
int image_fail(struct image_err *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

bool image_name_valid(const char *name);
enum xbi_ptable image_detect_ptable(const void *first, size_t len);
const char *image_ptable_name(unsigned int ptable);

int image_manifest_parse(const void *buf, size_t len, struct image_manifest *m,
			 struct image_err *e);
void image_chunk_get(const struct image_manifest *m, uint32_t i,
		     struct image_chunk *c);
uint32_t image_chunk_len(const struct image_manifest *m, uint32_t i);

/*
 * Decodes chunk i's frame (comp, clen bytes as fetched from the data file)
 * into out, which holds image_chunk_len(m, i) bytes, and checks it against
 * its record; a hole (clen 0) fills out with zeros. 0 or -errno.
 */
int image_chunk_decode(const struct image_manifest *m, uint32_t i,
		       const void *comp, size_t clen, void *out,
		       unsigned int flags, struct image_err *e);
/* Checks raw bytes (a read-back) against chunk i's hashes. */
int image_chunk_check(const struct image_manifest *m, uint32_t i,
		      const void *raw, size_t len, unsigned int flags,
		      struct image_err *e);

/*
 * Raw chunk to frame, for whoever compresses (the agent at capture, the
 * writer): returns the frame's length, 0 for an all-zero chunk (a hole:
 * nothing to send or store), or -errno. cap >= image_frame_bound(len).
 */
struct image_encoder;
int image_encoder_new(struct image_encoder **out, uint32_t chunk_size,
		      int level, int threads);
ssize_t image_encode_chunk(struct image_encoder *enc, const void *raw,
			   size_t len, void *out, size_t cap,
			   struct image_err *e);
void image_encoder_free(struct image_encoder *enc);
size_t image_frame_bound(size_t len);

struct image_writer;

/*
 * meta->size, name, capture_time and mac describe the source; ptable and
 * level are filled in by the writer. chunk_size 0 means the default;
 * level 0 zstd's default; threads > 1 splits each frame's compression.
 */
int image_writer_open(struct image_writer **out, int dirfd,
		      const struct image_meta *meta, uint32_t chunk_size,
		      int level, int threads, struct image_err *e);
int image_writer_put(struct image_writer *w, uint64_t index, const void *raw,
		     size_t len, struct image_err *e);
/* A chunk compressed elsewhere (the agent): decoded and hashed here. */
int image_writer_put_frame(struct image_writer *w, uint64_t index,
			   const void *comp, size_t clen, struct image_err *e);
/* Holes to the end, the manifest written, both files synced. */
int image_writer_finish(struct image_writer *w, struct image_err *e);
void image_writer_free(struct image_writer *w);
uint32_t image_writer_chunk_size(const struct image_writer *w);

/* Reads a manifest file (at most what XBI_CHUNKS_MAX allows) into *buf. */
int image_manifest_read(int dirfd, void **buf, size_t *len,
			struct image_err *e);
/* Opens the data file and checks its length is m->data_size. */
int image_data_open(int dirfd, const struct image_manifest *m,
		    struct image_err *e);

/* A raw source (file or block device) of `size` bytes into an image. */
int image_import_fd(int rawfd, int dirfd, const struct image_meta *meta,
		    uint32_t chunk_size, int level, int threads,
		    struct image_err *e);
/*
 * Every chunk decoded, checked and written to outfd; holes are skipped in
 * a regular file (left sparse) and written as zeros elsewhere. The whole
 * image's SHA-256 is checked too.
 */
int image_export_fd(const struct image_manifest *m, int datafd, int outfd,
		    struct image_err *e);
/* Every chunk read and checked, then the whole image's SHA-256. */
int image_verify_fd(const struct image_manifest *m, int datafd,
		    struct image_err *e);

#endif /* XBOOT_IMAGE_FMT_H */
