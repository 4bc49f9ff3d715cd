// SPDX-License-Identifier: GPL-2.0
/*
 * The image store (see image_store.h): list, open, create through a
 * staging directory and an atomic rename, remove, verify, import, export.
 *
 * A staging directory is ".staging-NAME.XXXXXX" (a new image) or
 * ".removing-NAME.XXXXXX" (one being deleted). Its creator holds an flock
 * on it for as long as it works in it, so the sweep deletes only those
 * whose process is gone: xbootd sweeps at start-up while an xbootctl
 * import may be running next to it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_store.h"
#include "log.h"

#define STAGING_PREFIX ".staging-"
#define REMOVING_PREFIX ".removing-"

struct image_store {
	int dirfd;
	char path[PATH_MAX];
};

struct image_store_tx {
	struct image_store *s;
	char name[XBI_NAME_MAX + 1];
	char staging[XBI_NAME_MAX + 32];
	int dirfd; /* holds the flock */
	struct image_writer *w;
};

/* Removes a directory of files (an image) under parent; no subdirectories
 * are expected, but one level is tolerated so the sweep cannot get stuck. */
static int remove_tree(int parent, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(fd, de->d_name, 0) && errno == EISDIR && depth < 2)
			remove_tree(fd, de->d_name, depth + 1);
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) && errno != ENOENT)
		return -errno;
	return 0;
}

static bool is_staging(const char *name)
{
	return !strncmp(name, STAGING_PREFIX, strlen(STAGING_PREFIX)) ||
	       !strncmp(name, REMOVING_PREFIX, strlen(REMOVING_PREFIX));
}

/* Deletes a staging directory unless its creator still holds the lock. */
static int sweep_one(struct image_store *s, const char *name)
{
	int fd, err;

	fd = openat(s->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return 0;
	}
	err = remove_tree(s->dirfd, name, 0);
	close(fd);
	if (err) {
		pr_warn("image store: cannot remove %s/%s: %s", s->path, name,
			strerror(-err));
		return 0;
	}
	pr_info("image store: removed leftover %s/%s", s->path, name);
	return 1;
}

int image_store_sweep(struct image_store *s)
{
	struct dirent *de;
	int fd, n = 0;
	DIR *d;

	fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (is_staging(de->d_name))
			n += sweep_one(s, de->d_name);
	closedir(d);
	return n;
}

int image_store_open(struct image_store **out, const char *dir,
		     struct image_err *e)
{
	struct image_store *s;
	int err;

	*out = NULL;
	if (strlen(dir) >= sizeof(s->path))
		return image_fail(e, -ENAMETOOLONG, "image directory too long");
	if (mkdir(dir, 0755) && errno != EEXIST)
		return image_fail(e, -errno, "create %s: %s", dir,
				  strerror(errno));
	s = calloc(1, sizeof(*s));
	if (!s)
		return image_fail(e, -ENOMEM, "out of memory");
	strcpy(s->path, dir);
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		err = -errno;
		free(s);
		return image_fail(e, err, "open %s: %s", dir, strerror(-err));
	}
	image_store_sweep(s);
	*out = s;
	return 0;
}

void image_store_close(struct image_store *s)
{
	if (!s)
		return;
	close(s->dirfd);
	free(s);
}

const char *image_store_path(const struct image_store *s)
{
	return s->path;
}

/* --- reading -------------------------------------------------------------- */

static int check_name(const char *name, struct image_err *e)
{
	if (!image_name_valid(name))
		return image_fail(
			e, -EINVAL,
			"image name \"%.80s\": use 1..64 of [A-Za-z0-9._-], not starting with '.'",
			name);
	return 0;
}

void image_handle_close(struct image_handle *h)
{
	if (!h)
		return;
	if (h->datafd >= 0)
		close(h->datafd);
	if (h->dirfd >= 0)
		close(h->dirfd);
	free(h->manifest_buf);
	free(h);
}

/* Opens the image in directory entry `dname` of the store, as `name`. */
static int handle_open(struct image_store *s, const char *dname,
		       const char *name, struct image_handle **out,
		       struct image_err *e)
{
	struct image_handle *h;
	int err;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return image_fail(e, -ENOMEM, "out of memory");
	h->datafd = -1;
	h->dirfd = openat(s->dirfd, dname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->dirfd < 0) {
		err = errno == ENOENT ?
			      image_fail(e, -ENOENT, "no image %s", name) :
			      image_fail(e, -errno, "open image %s: %s", name,
					 strerror(errno));
		goto err;
	}
	err = image_manifest_read(h->dirfd, &h->manifest_buf, &h->manifest_len,
				  e);
	if (err)
		goto err;
	err = image_manifest_parse(h->manifest_buf, h->manifest_len, &h->m, e);
	if (err)
		goto err;
	if (strcmp(h->m.meta.name, name)) {
		err = image_fail(e, -EINVAL,
				 "the manifest names image \"%s\", not \"%s\"",
				 h->m.meta.name, name);
		goto err;
	}
	h->datafd = image_data_open(h->dirfd, &h->m, e);
	if (h->datafd < 0) {
		err = h->datafd;
		goto err;
	}
	*out = h;
	return 0;
err:
	image_handle_close(h);
	return err;
}

int image_store_image_open(struct image_store *s, const char *name,
			   struct image_handle **out, struct image_err *e)
{
	int err = check_name(name, e);

	*out = NULL;
	return err ? err : handle_open(s, name, name, out, e);
}

int image_handle_read_chunk(struct image_handle *h, uint32_t i, void *comp,
			    void *out, struct image_err *e)
{
	struct image_chunk c;
	ssize_t n;

	if (i >= h->m.n_chunks)
		return image_fail(e, -EINVAL, "chunk %u out of range", i);
	image_chunk_get(&h->m, i, &c);
	if (c.clen) {
		n = pread(h->datafd, comp, c.clen, c.offset);
		if (n < 0)
			return image_fail(e, -errno, "chunk %u: read: %s", i,
					  strerror(errno));
		if ((size_t)n != c.clen)
			return image_fail(e, -EBADMSG,
					  "chunk %u: data file truncated", i);
	}
	return image_chunk_decode(&h->m, i, comp, c.clen, out, 0, e);
}

static void info_fill(struct image_store *s, const char *name,
		      struct image_info *info)
{
	struct image_handle *h;
	struct image_err e = { "" };

	memset(info, 0, sizeof(*info));
	strcpy(info->name, name);
	if (handle_open(s, name, name, &h, &e)) {
		snprintf(info->error, sizeof(info->error), "%s", e.msg);
		return;
	}
	info->meta = h->m.meta;
	info->chunk_size = h->m.chunk_size;
	info->n_chunks = h->m.n_chunks;
	info->n_holes = h->m.n_holes;
	info->data_size = h->m.data_size;
	memcpy(info->sha256, h->m.sha256, XBI_SHA256_LEN);
	image_handle_close(h);
}

static int info_cmp(const void *a, const void *b)
{
	return strcmp(((const struct image_info *)a)->name,
		      ((const struct image_info *)b)->name);
}

int image_store_list(struct image_store *s, struct image_info **list, size_t *n)
{
	struct image_info *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	struct stat st;
	int fd;
	DIR *d;

	*list = NULL;
	*n = 0;
	fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		/* staging and removal directories start with '.' */
		if (!image_name_valid(de->d_name) ||
		    fstatat(s->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		info_fill(s, de->d_name, &v[cnt++]);
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), info_cmp);
	*list = v;
	*n = cnt;
	return 0;
}

/* --- writing -------------------------------------------------------------- */

static int staging_dir(struct image_store *s, const char *prefix,
		       const char *name, char *out, size_t len)
{
	uint8_t rnd[6];
	int i, tries;

	for (tries = 0; tries < 16; tries++) {
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -EIO;
		i = snprintf(out, len, "%s%s.", prefix, name);
		for (int k = 0; k < 6; k++)
			i += snprintf(out + i, len - i, "%02x", rnd[k]);
		if (!mkdirat(s->dirfd, out, 0755))
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static bool image_exists(struct image_store *s, const char *name)
{
	struct stat st;

	return !fstatat(s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW);
}

int image_store_stage(struct image_store *s, const char *name,
		      struct image_store_tx **out, struct image_err *e)
{
	struct image_store_tx *tx;
	int err;

	*out = NULL;
	err = check_name(name, e);
	if (err)
		return err;
	if (image_exists(s, name))
		return image_fail(e, -EEXIST, "image %s exists", name);
	tx = calloc(1, sizeof(*tx));
	if (!tx)
		return image_fail(e, -ENOMEM, "out of memory");
	tx->s = s;
	strcpy(tx->name, name);
	err = staging_dir(s, STAGING_PREFIX, name, tx->staging,
			  sizeof(tx->staging));
	if (err) {
		free(tx);
		return image_fail(e, err, "create staging directory in %s: %s",
				  s->path, strerror(-err));
	}
	tx->dirfd = openat(s->dirfd, tx->staging,
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/*
	 * A sweep by another process between mkdir and flock can take the
	 * empty directory: then this create fails (-ENOENT or -EWOULDBLOCK)
	 * and nothing is lost; sweeps run only when a store is opened.
	 */
	if (tx->dirfd < 0 || flock(tx->dirfd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		image_store_abort(tx);
		return image_fail(e, err, "lock staging directory: %s",
				  strerror(-err));
	}
	*out = tx;
	return 0;
}

int image_store_create(struct image_store *s, const char *name,
		       const struct image_meta *meta, uint32_t chunk_size,
		       int level, int threads, struct image_store_tx **out,
		       struct image_err *e)
{
	struct image_store_tx *tx;
	struct image_meta m = *meta;
	int err;

	*out = NULL;
	err = image_store_stage(s, name, &tx, e);
	if (err)
		return err;
	snprintf(m.name, sizeof(m.name), "%s", name);
	err = image_writer_open(&tx->w, tx->dirfd, &m, chunk_size, level,
				threads, e);
	if (err) {
		image_store_abort(tx);
		return err;
	}
	*out = tx;
	return 0;
}

int image_store_tx_dirfd(const struct image_store_tx *tx)
{
	return tx->dirfd;
}

struct image_writer *image_store_tx_writer(struct image_store_tx *tx)
{
	return tx->w;
}

void image_store_abort(struct image_store_tx *tx)
{
	if (!tx)
		return;
	image_writer_free(tx->w);
	remove_tree(tx->s->dirfd, tx->staging, 0);
	if (tx->dirfd >= 0)
		close(tx->dirfd);
	free(tx);
}

/* The staging directory must hold a complete, consistent image. */
static int tx_check(struct image_store_tx *tx, struct image_err *e)
{
	struct image_manifest m;
	size_t len;
	void *buf;
	int fd, err;

	err = image_manifest_read(tx->dirfd, &buf, &len, e);
	if (err)
		return err;
	err = image_manifest_parse(buf, len, &m, e);
	if (!err && strcmp(m.meta.name, tx->name))
		err = image_fail(e, -EINVAL,
				 "the manifest names image \"%s\", not \"%s\"",
				 m.meta.name, tx->name);
	if (!err) {
		fd = image_data_open(tx->dirfd, &m, e);
		if (fd < 0)
			err = fd;
		else
			close(fd);
	}
	free(buf);
	return err;
}

int image_store_publish(struct image_store_tx *tx, struct image_err *e)
{
	struct image_store *s = tx->s;
	int err = 0;

	if (tx->w) {
		err = image_writer_finish(tx->w, e);
		image_writer_free(tx->w);
		tx->w = NULL;
	}
	if (!err)
		err = tx_check(tx, e);
	if (!err && fsync(tx->dirfd))
		err = image_fail(e, -errno, "sync: %s", strerror(errno));
	if (!err && renameat2(s->dirfd, tx->staging, s->dirfd, tx->name,
			      RENAME_NOREPLACE))
		err = errno == EEXIST ?
			      image_fail(e, -EEXIST, "image %s exists",
					 tx->name) :
			      image_fail(e, -errno, "publish %s: %s", tx->name,
					 strerror(errno));
	if (err) {
		image_store_abort(tx);
		return err;
	}
	fsync(s->dirfd);
	close(tx->dirfd);
	free(tx);
	return 0;
}

/*
 * The image leaves the listing with one rename, then its files go; a crash
 * in between leaves a ".removing-" directory for the sweep.
 */
int image_store_remove(struct image_store *s, const char *name,
		       struct image_err *e)
{
	char tmp[XBI_NAME_MAX + 32];
	int err;

	err = check_name(name, e);
	if (err)
		return err;
	if (!image_exists(s, name))
		return image_fail(e, -ENOENT, "no image %s", name);
	err = staging_dir(s, REMOVING_PREFIX, name, tmp, sizeof(tmp));
	if (err)
		return image_fail(e, err, "remove %s: %s", name,
				  strerror(-err));
	/* renaming onto the fresh empty directory replaces it atomically */
	if (renameat(s->dirfd, name, s->dirfd, tmp)) {
		err = -errno;
		unlinkat(s->dirfd, tmp, AT_REMOVEDIR);
		return image_fail(e, err, "remove %s: %s", name,
				  strerror(-err));
	}
	fsync(s->dirfd);
	err = remove_tree(s->dirfd, tmp, 0);
	if (err)
		pr_warn("image store: %s/%s left for the sweep: %s", s->path,
			tmp, strerror(-err));
	return 0;
}

int image_store_verify(struct image_store *s, const char *name,
		       struct image_err *e)
{
	struct image_handle *h;
	int err;

	err = image_store_image_open(s, name, &h, e);
	if (err)
		return err;
	err = image_verify_fd(&h->m, h->datafd, e);
	image_handle_close(h);
	return err;
}

static int raw_size(int fd, uint64_t *size, struct image_err *e)
{
	struct stat st;

	if (fstat(fd, &st))
		return image_fail(e, -errno, "stat source: %s",
				  strerror(errno));
	if (S_ISREG(st.st_mode)) {
		*size = st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size))
			return image_fail(e, -errno, "source size: %s",
					  strerror(errno));
		return 0;
	}
	return image_fail(e, -EINVAL,
			  "source is neither a file nor a block device");
}

int image_store_import(struct image_store *s, const char *raw_path,
		       const char *name, uint32_t chunk_size, int level,
		       int threads, struct image_err *e)
{
	struct image_store_tx *tx;
	struct image_meta meta = { 0 };
	int fd, err;

	fd = open(raw_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return image_fail(e, -errno, "open %s: %s", raw_path,
				  strerror(errno));
	err = raw_size(fd, &meta.size, e);
	if (err)
		goto out;
	meta.capture_time = time(NULL);
	snprintf(meta.name, sizeof(meta.name), "%s", name);
	err = image_store_stage(s, name, &tx, e);
	if (err)
		goto out;
	err = image_import_fd(fd, tx->dirfd, &meta, chunk_size, level, threads,
			      e);
	if (err) {
		image_store_abort(tx);
		goto out;
	}
	err = image_store_publish(tx, e);
out:
	close(fd);
	return err;
}

/* A regular file is written beside its target and renamed over it. */
static int export_open(const char *path, char *tmp, size_t len, bool *direct,
		       struct image_err *e)
{
	struct stat st;
	int fd;

	*direct = !stat(path, &st) && !S_ISREG(st.st_mode);
	if (*direct) {
		fd = open(path, O_WRONLY | O_CLOEXEC);
	} else {
		if ((size_t)snprintf(tmp, len, "%s.xboot-partial", path) >= len)
			return image_fail(e, -ENAMETOOLONG, "path too long");
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return image_fail(e, -errno, "open %s: %s",
				  *direct ? path : tmp, strerror(errno));
	return fd;
}

int image_store_export(struct image_store *s, const char *name,
		       const char *path, struct image_err *e)
{
	struct image_handle *h;
	char tmp[PATH_MAX];
	bool direct;
	int fd, err;

	err = image_store_image_open(s, name, &h, e);
	if (err)
		return err;
	fd = export_open(path, tmp, sizeof(tmp), &direct, e);
	if (fd < 0) {
		image_handle_close(h);
		return fd;
	}
	err = image_export_fd(&h->m, h->datafd, fd, e);
	close(fd);
	image_handle_close(h);
	if (direct)
		return err;
	if (!err && rename(tmp, path))
		err = image_fail(e, -errno, "rename to %s: %s", path,
				 strerror(errno));
	if (err)
		unlink(tmp);
	return err;
}
