/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A disk (block device or regular file) for the imaging engines: chunk
 * reads and writes with several in flight through one io_uring, completed
 * from the agent's poll loop, so a 4 MiB read never stalls a heartbeat.
 *
 * O_DIRECT is the normal path: an image streams far more bytes than the
 * page cache should hold, and a deploy's read-back must see the disk, not
 * the cache. It needs DISK_ALIGN-aligned buffers, offsets and lengths, so
 * each disk keeps a second, buffered fd for what is not aligned (the short
 * tail of an odd-sized source) and for filesystems that refuse O_DIRECT,
 * at open (EINVAL) or on the first I/O (EINVAL again: the request is sent
 * once more, buffered, and the disk stays buffered).
 *
 * Where io_uring is unavailable (kernel.io_uring_disabled, seccomp), each
 * request is done at once with pread/pwrite and its completion queued:
 * the same interface, only slower and blocking.
 *
 * Requests carry a caller tag; a completion reports the tag and the bytes
 * done (always the whole length) or -errno. Short transfers are finished
 * here, so the caller sees one completion per request.
 */
#ifndef XBOOT_AGENT_DISK_IO_H
#define XBOOT_AGENT_DISK_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <liburing.h>

/* Alignment for O_DIRECT: any logical block size up to 4096 works. */
#define DISK_ALIGN 4096U
#define DISK_DEPTH_MAX 64U

/* disk_open() flags */
#define DISK_F_WRITE (1U << 0) /* open for writing (a deploy) */
#define DISK_F_BUFFERED (1U << 1) /* never O_DIRECT, as if refused */
#define DISK_F_SYNC_IO (1U << 2) /* no io_uring, as if unavailable */
#define DISK_F_ALL (DISK_F_WRITE | DISK_F_BUFFERED | DISK_F_SYNC_IO)

struct disk_done {
	uint64_t tag;
	int res; /* the request's length, or -errno */
};

struct disk_req {
	void *buf;
	size_t len;
	size_t done; /* bytes transferred so far */
	uint64_t off;
	uint64_t tag;
	bool write;
	bool direct; /* sent on the O_DIRECT fd */
	bool used;
};

struct disk {
	int fd; /* O_DIRECT, or the same as bfd */
	int bfd; /* buffered */
	uint64_t size;
	bool blockdev;
	bool direct; /* O_DIRECT is in use */
	bool uring; /* false: synchronous fallback */
	unsigned int depth;
	unsigned int inflight;
	struct io_uring ring;
	struct disk_req req[DISK_DEPTH_MAX];
	/* synchronous fallback: completions not yet collected */
	struct disk_done done[DISK_DEPTH_MAX];
	unsigned int n_done;
};

/*
 * Opens path with room for depth (1..DISK_DEPTH_MAX) requests in flight.
 * The size comes from BLKGETSIZE64 or fstat. 0 or -errno.
 */
int disk_open(struct disk *d, const char *path, unsigned int flags,
	      unsigned int depth);
/* Waits for what is in flight (buffers must outlive it), closes all. */
void disk_close(struct disk *d);

/* A zeroed buffer aligned for O_DIRECT, len rounded up; free() it. */
void *disk_buf_alloc(size_t len);

/* Queues a read or write of len bytes at off. 0, -EBUSY when full. */
int disk_read(struct disk *d, void *buf, size_t len, uint64_t off,
	      uint64_t tag);
int disk_write(struct disk *d, const void *buf, size_t len, uint64_t off,
	       uint64_t tag);

/*
 * The next completion: 1 (in *done), 0 when none is ready, -errno when
 * the ring itself failed. With wait, blocks until one is ready (0 only
 * when nothing is in flight).
 */
int disk_complete(struct disk *d, struct disk_done *done, bool wait);

/* What to poll for POLLIN: the ring's fd, or -1 (synchronous: ready). */
int disk_pollfd(const struct disk *d);
/*
 * Completions also signal efd, an eventfd the caller polls with others
 * (io_uring_register_eventfd); nothing to do when synchronous. 0 or -errno.
 */
int disk_notify(struct disk *d, int efd);
/* True when a completion waits without any fd event (synchronous). */
bool disk_ready(const struct disk *d);
unsigned int disk_inflight(const struct disk *d);

/*
 * Makes [off, off + len) read as zeros, synchronously: a punched hole in
 * a file, a discard or zero-out on a block device, written zeros where
 * neither works. 0 or -errno.
 */
int disk_zero(struct disk *d, uint64_t off, uint64_t len);
/* fdatasync: the writes done are on the disk. */
int disk_sync(struct disk *d);

#endif /* XBOOT_AGENT_DISK_IO_H */
