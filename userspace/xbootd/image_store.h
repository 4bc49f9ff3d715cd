/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The image store: a directory of images, IMAGE_DIR/NAME/{data,manifest}
 * (include/xboot/image.h). An image is written in a staging directory and
 * appears under its name only by one rename, after its manifest has been
 * written, synced and parsed back; removal renames it away first. So a
 * listing never shows a half-made or half-removed image, and whatever a
 * crash leaves behind is a dot-directory the start-up sweep deletes.
 */
#ifndef XBOOT_IMAGE_STORE_H
#define XBOOT_IMAGE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "image_fmt.h"

#define IMAGE_STORE_SUBDIR "images" /* under the state directory */

struct image_store;
struct image_store_tx;

struct image_info {
	char name[XBI_NAME_MAX + 1];
	char error[IMAGE_ERR_MAX]; /* non-empty: the image is unreadable */
	struct image_meta meta;
	uint32_t chunk_size;
	uint32_t n_chunks;
	uint32_t n_holes;
	uint64_t data_size;
	uint8_t sha256[XBI_SHA256_LEN];
};

/* An image opened for reading: its parsed manifest and its data file. */
struct image_handle {
	struct image_manifest m;
	void *manifest_buf;
	size_t manifest_len;
	int dirfd;
	int datafd;
};

/* Creates dir if missing, then sweeps staging leftovers. */
int image_store_open(struct image_store **out, const char *dir,
		     struct image_err *e);
void image_store_close(struct image_store *s);
const char *image_store_path(const struct image_store *s);
/* Removes unlocked staging directories; the number removed or -errno. */
int image_store_sweep(struct image_store *s);

/* Every image, by name; a broken one has info.error set. free() *list. */
int image_store_list(struct image_store *s, struct image_info **list,
		     size_t *n);

int image_store_image_open(struct image_store *s, const char *name,
			   struct image_handle **out, struct image_err *e);
void image_handle_close(struct image_handle *h);
/* Chunk i read from the data file, decoded into out and checked. */
int image_handle_read_chunk(struct image_handle *h, uint32_t i, void *comp,
			    void *out, struct image_err *e);

/* A locked staging directory for a new image NAME (-EEXIST if taken). */
int image_store_stage(struct image_store *s, const char *name,
		      struct image_store_tx **out, struct image_err *e);
/* image_store_stage() and an image writer in it; meta->name is NAME. */
int image_store_create(struct image_store *s, const char *name,
		       const struct image_meta *meta, uint32_t chunk_size,
		       int level, int threads, struct image_store_tx **out,
		       struct image_err *e);
int image_store_tx_dirfd(const struct image_store_tx *tx);
struct image_writer *image_store_tx_writer(struct image_store_tx *tx);
/*
 * Finishes the writer (if any), parses the manifest back, checks the data
 * length and renames the image into place. Frees tx; on failure the
 * staging directory is removed.
 */
int image_store_publish(struct image_store_tx *tx, struct image_err *e);
void image_store_abort(struct image_store_tx *tx);

int image_store_remove(struct image_store *s, const char *name,
		       struct image_err *e);
int image_store_verify(struct image_store *s, const char *name,
		       struct image_err *e);
/* A raw file or block device into a new image NAME. */
int image_store_import(struct image_store *s, const char *raw_path,
		       const char *name, uint32_t chunk_size, int level,
		       int threads, struct image_err *e);
/* Image NAME to a raw file (replaced atomically) or a block device. */
int image_store_export(struct image_store *s, const char *name,
		       const char *path, struct image_err *e);

#endif /* XBOOT_IMAGE_STORE_H */
