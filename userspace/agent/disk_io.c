// SPDX-License-Identifier: GPL-2.0
/*
 * Chunk I/O on a disk or a file for the imaging engines (disk_io.h): one
 * io_uring, a table of requests indexed by the SQE's user_data, and the
 * fallbacks a boot environment on unknown hardware needs (buffered I/O,
 * synchronous I/O, written zeros).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk_io.h"

#define DISK_ZERO_BUF (1U << 20)

static int disk_get_size(struct disk *d)
{
	struct stat st;

	if (fstat(d->bfd, &st))
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		d->blockdev = true;
		if (ioctl(d->bfd, BLKGETSIZE64, &d->size))
			return -errno;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -ENOTBLK;
	d->size = st.st_size;
	return 0;
}

int disk_open(struct disk *d, const char *path, unsigned int flags,
	      unsigned int depth)
{
	int oflags = O_CLOEXEC | (flags & DISK_F_WRITE ? O_RDWR : O_RDONLY);
	int err;

	memset(d, 0, sizeof(*d));
	d->fd = d->bfd = -1;
	if ((flags & ~DISK_F_ALL) || !depth || depth > DISK_DEPTH_MAX)
		return -EINVAL;
	d->depth = depth;
	d->bfd = open(path, oflags);
	if (d->bfd < 0)
		return -errno;
	err = disk_get_size(d);
	if (err)
		goto err_bfd;
	/* EINVAL: this filesystem has no O_DIRECT (tmpfs before 6.6) */
	if (!(flags & DISK_F_BUFFERED)) {
		d->fd = open(path, oflags | O_DIRECT);
		if (d->fd < 0 && errno != EINVAL) {
			err = -errno;
			goto err_bfd;
		}
		d->direct = d->fd >= 0;
	}
	if (!d->direct)
		d->fd = d->bfd;
	if (!(flags & DISK_F_SYNC_IO) &&
	    !io_uring_queue_init(depth, &d->ring, 0))
		d->uring = true;
	return 0;

err_bfd:
	close(d->bfd);
	d->bfd = -1;
	return err;
}

void disk_close(struct disk *d)
{
	struct disk_done done;

	if (d->bfd < 0)
		return;
	/* the kernel may still be writing into the caller's buffers */
	while (d->inflight && disk_complete(d, &done, true) > 0)
		;
	if (d->uring)
		io_uring_queue_exit(&d->ring);
	if (d->fd != d->bfd)
		close(d->fd);
	close(d->bfd);
	d->fd = d->bfd = -1;
	d->uring = false;
}

void *disk_buf_alloc(size_t len)
{
	void *p;

	len = (len + DISK_ALIGN - 1) & ~(size_t)(DISK_ALIGN - 1);
	if (posix_memalign(&p, DISK_ALIGN, len ? len : DISK_ALIGN))
		return NULL;
	memset(p, 0, len);
	return p;
}

static bool io_aligned(const void *buf, size_t len, uint64_t off)
{
	return !(((uintptr_t)buf | len | off) & (DISK_ALIGN - 1));
}

/* One pread or pwrite of request r's remaining bytes: bytes or -errno. */
static int req_io_sync(struct disk *d, struct disk_req *r)
{
	int fd = r->direct ? d->fd : d->bfd;
	uint8_t *p = (uint8_t *)r->buf + r->done;
	ssize_t n;

	if (r->write)
		n = pwrite(fd, p, r->len - r->done, r->off + r->done);
	else
		n = pread(fd, p, r->len - r->done, r->off + r->done);
	return n < 0 ? -errno : (int)n;
}

/*
 * A transfer of request r ended with res. True when the request is over
 * (done->res set); false when the rest of it must be sent again: after an
 * interruption, a short transfer, or O_DIRECT refused at the first I/O.
 */
static bool req_result(struct disk *d, struct disk_req *r, int res,
		       struct disk_done *done)
{
	done->tag = r->tag;
	if (res == -EINVAL && r->direct) {
		d->direct = false;
		r->direct = false;
		return false;
	}
	if (res == -EINTR || res == -EAGAIN)
		return false;
	if (res < 0) {
		done->res = res;
		return true;
	}
	if (!res) {
		/* nothing moved: the end of a file or device */
		done->res = r->write ? -ENOSPC : -ENODATA;
		return true;
	}
	r->done += res;
	if (r->done < r->len) {
		/* the rest is no longer aligned */
		r->direct = false;
		return false;
	}
	done->res = r->len;
	return true;
}

static int req_send_uring(struct disk *d, unsigned int i)
{
	struct disk_req *r = &d->req[i];
	int fd = r->direct ? d->fd : d->bfd;
	uint8_t *p = (uint8_t *)r->buf + r->done;
	struct io_uring_sqe *sqe;
	int ret;

	sqe = io_uring_get_sqe(&d->ring);
	if (!sqe)
		return -EBUSY;
	if (r->write)
		io_uring_prep_write(sqe, fd, p, r->len - r->done,
				    r->off + r->done);
	else
		io_uring_prep_read(sqe, fd, p, r->len - r->done,
				   r->off + r->done);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)i);
	ret = io_uring_submit(&d->ring);
	return ret < 0 ? ret : 0;
}

/* Synchronous fallback: the whole request now, its completion queued. */
static void req_run_sync(struct disk *d, unsigned int i)
{
	struct disk_req *r = &d->req[i];
	struct disk_done done;

	while (!req_result(d, r, req_io_sync(d, r), &done))
		;
	r->used = false;
	d->done[d->n_done++] = done;
}

static int disk_queue(struct disk *d, void *buf, size_t len, uint64_t off,
		      uint64_t tag, bool write)
{
	struct disk_req *r = NULL;
	unsigned int i;
	int err;

	if (!len || len > INT32_MAX)
		return -EINVAL;
	if (d->inflight >= d->depth)
		return -EBUSY;
	for (i = 0; i < d->depth; i++) {
		if (!d->req[i].used) {
			r = &d->req[i];
			break;
		}
	}
	if (!r)
		return -EBUSY;
	*r = (struct disk_req){ .buf = buf, .len = len, .off = off,
				.tag = tag, .write = write, .used = true };
	r->direct = d->direct && io_aligned(buf, len, off);
	d->inflight++;
	if (!d->uring) {
		req_run_sync(d, i);
		return 0;
	}
	err = req_send_uring(d, i);
	if (err) {
		r->used = false;
		d->inflight--;
	}
	return err;
}

int disk_read(struct disk *d, void *buf, size_t len, uint64_t off,
	      uint64_t tag)
{
	return disk_queue(d, buf, len, off, tag, false);
}

int disk_write(struct disk *d, const void *buf, size_t len, uint64_t off,
	       uint64_t tag)
{
	/* the buffer is only read; the request table is shared with reads */
	return disk_queue(d, (void *)buf, len, off, tag, true);
}

static int disk_complete_sync(struct disk *d, struct disk_done *done)
{
	if (!d->n_done)
		return 0;
	*done = d->done[0];
	memmove(d->done, d->done + 1, --d->n_done * sizeof(d->done[0]));
	d->inflight--;
	return 1;
}

int disk_complete(struct disk *d, struct disk_done *done, bool wait)
{
	struct io_uring_cqe *cqe;
	struct disk_req *r;
	unsigned int i;
	int ret, res;

	if (!d->uring)
		return disk_complete_sync(d, done);
	for (;;) {
		if (!d->inflight)
			return 0;
		if (wait)
			ret = io_uring_wait_cqe(&d->ring, &cqe);
		else
			ret = io_uring_peek_cqe(&d->ring, &cqe);
		if (ret == -EAGAIN || ret == -EINTR) {
			if (!wait)
				return 0;
			continue;
		}
		if (ret < 0)
			return ret;
		i = (uintptr_t)io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&d->ring, cqe);
		if (i >= d->depth || !d->req[i].used)
			continue;
		r = &d->req[i];
		if (!req_result(d, r, res, done)) {
			ret = req_send_uring(d, i);
			if (!ret)
				continue;
			done->res = ret;
		}
		r->used = false;
		d->inflight--;
		return 1;
	}
}

int disk_pollfd(const struct disk *d)
{
	return d->uring ? d->ring.ring_fd : -1;
}

int disk_notify(struct disk *d, int efd)
{
	return d->uring ? io_uring_register_eventfd(&d->ring, efd) : 0;
}

bool disk_ready(const struct disk *d)
{
	return !d->uring && d->n_done;
}

unsigned int disk_inflight(const struct disk *d)
{
	return d->inflight;
}

static int disk_write_zeros(struct disk *d, uint64_t off, uint64_t len)
{
	size_t n, bufsz = len < DISK_ZERO_BUF ? len : DISK_ZERO_BUF;
	uint8_t *zeros = calloc(1, bufsz);
	ssize_t w;
	int err = 0;

	if (!zeros)
		return -ENOMEM;
	while (len) {
		n = len < bufsz ? len : bufsz;
		w = pwrite(d->bfd, zeros, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? -errno : -ENOSPC;
			break;
		}
		off += w;
		len -= w;
	}
	free(zeros);
	return err;
}

int disk_zero(struct disk *d, uint64_t off, uint64_t len)
{
	uint64_t range[2] = { off, len };

	if (!len)
		return 0;
	/* a file's hole; on a block device, a zero-out that may unmap */
	if (!fallocate(d->bfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		       off, len))
		return 0;
	/* the kernel writes zeros itself if the device cannot */
	if (d->blockdev && !ioctl(d->bfd, BLKZEROOUT, range))
		return 0;
	return disk_write_zeros(d, off, len);
}

int disk_sync(struct disk *d)
{
	return fdatasync(d->bfd) ? -errno : 0;
}
