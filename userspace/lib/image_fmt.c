// SPDX-License-Identifier: GPL-2.0
/*
 * The image format codec: the manifest parser, chunk decoding and checks,
 * the writer, and import/export/verify of raw files on top of them (the
 * format is include/xboot/image.h).
 *
 * The parser reads input from disks, networks and fuzzers: it checks every
 * length before it reads, does arithmetic only on values already bounded,
 * and never allocates. Frames are checked before anyone writes their bytes
 * to a disk: exactly one zstd frame, the exact raw length, then the hashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "be.h"
#include "fd_io.h"
#include "image_fmt.h"

int image_fail(struct image_err *e, int err, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return err;
}

static void sha256(const void *p, size_t len, uint8_t *md)
{
	EVP_Digest(p, len, md, NULL, EVP_sha256(), NULL);
}

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	return !len || (!b[0] && !memcmp(b, b + 1, len - 1));
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool image_name_valid(const char *name)
{
	size_t i;

	if (!name[0] || name[0] == '.')
		return false;
	for (i = 0; name[i]; i++)
		if (i >= XBI_NAME_MAX || !name_char_ok(name[i]))
			return false;
	return true;
}

/*
 * A GPT has "EFI PART" at LBA 1, which is byte 512 or, on 4K-sector disks,
 * 4096. An MBR has 0x55aa at 510 and partition entries whose status bytes
 * are 0x00 or 0x80 with at least one in use: a bare FAT boot sector also
 * ends in 0x55aa but has boot code where the entries would be.
 */
enum xbi_ptable image_detect_ptable(const void *first, size_t len)
{
	const uint8_t *p = first;
	bool used = false;
	int i;

	if (len >= 520 && !memcmp(p + 512, "EFI PART", 8))
		return XBI_PTABLE_GPT;
	if (len >= 4104 && !memcmp(p + 4096, "EFI PART", 8))
		return XBI_PTABLE_GPT;
	if (len < 512 || p[510] != 0x55 || p[511] != 0xaa)
		return XBI_PTABLE_NONE;
	for (i = 0; i < 4; i++) {
		const uint8_t *ent = p + 446 + 16 * i;

		if (ent[0] != 0x00 && ent[0] != 0x80)
			return XBI_PTABLE_NONE;
		if (ent[4])
			used = true;
	}
	return used ? XBI_PTABLE_MBR : XBI_PTABLE_NONE;
}

const char *image_ptable_name(unsigned int ptable)
{
	static const char *const names[] = {
		[XBI_PTABLE_NONE] = "none",
		[XBI_PTABLE_MBR] = "mbr",
		[XBI_PTABLE_GPT] = "gpt",
	};

	return ptable < __XBI_PTABLE_LAST ? names[ptable] : "unknown";
}

/* --- reader -------------------------------------------------------------- */

static int parse_header(const uint8_t *p, size_t len, struct image_manifest *m,
			struct image_err *e)
{
	uint64_t n_chunks;

	if (len < XBI_HDR_LEN)
		return image_fail(
			e, -EBADMSG,
			"manifest truncated: %zu bytes, the header alone is %u",
			len, XBI_HDR_LEN);
	if (memcmp(p + XBI_H_MAGIC, XBI_MAGIC, XBI_MAGIC_LEN))
		return image_fail(e, -EBADMSG,
				  "not an xboot image manifest (bad magic)");
	m->major = get_be16(p + XBI_H_MAJOR);
	m->minor = get_be16(p + XBI_H_MINOR);
	if (m->major != XBI_VERSION_MAJOR)
		return image_fail(
			e, -EPROTONOSUPPORT,
			"manifest version %u.%u: this reader knows major version %u",
			m->major, m->minor, XBI_VERSION_MAJOR);
	m->flags = get_be32(p + XBI_H_FLAGS);
	if (m->flags & ~XBI_F_ALL)
		return image_fail(e, -EOPNOTSUPP,
				  "manifest flags 0x%x: unknown bits 0x%x",
				  m->flags, m->flags & ~XBI_F_ALL);
	m->chunk_shift = p[XBI_H_CHUNK_SHIFT];
	if (m->chunk_shift < XBI_CHUNK_SHIFT_MIN ||
	    m->chunk_shift > XBI_CHUNK_SHIFT_MAX)
		return image_fail(e, -EINVAL,
				  "chunk shift %u out of range %u..%u",
				  m->chunk_shift, XBI_CHUNK_SHIFT_MIN,
				  XBI_CHUNK_SHIFT_MAX);
	m->chunk_size = 1U << m->chunk_shift;
	m->meta.size = get_be64(p + XBI_H_SIZE);
	if (!m->meta.size || m->meta.size > XBI_SIZE_MAX)
		return image_fail(e, -EINVAL, "source size %llu out of range",
				  (unsigned long long)m->meta.size);
	n_chunks = get_be64(p + XBI_H_N_CHUNKS);
	if (n_chunks != (m->meta.size + m->chunk_size - 1) >> m->chunk_shift)
		return image_fail(
			e, -EINVAL,
			"chunk count %llu does not match size %llu in %u-byte chunks",
			(unsigned long long)n_chunks,
			(unsigned long long)m->meta.size, m->chunk_size);
	if (n_chunks > XBI_CHUNKS_MAX)
		return image_fail(e, -EINVAL, "%llu chunks: more than %u",
				  (unsigned long long)n_chunks, XBI_CHUNKS_MAX);
	m->n_chunks = n_chunks;
	return 0;
}

static int parse_meta(const uint8_t *p, struct image_manifest *m,
		      struct image_err *e)
{
	m->data_size = get_be64(p + XBI_H_DATA_SIZE);
	m->meta.capture_time = (int64_t)get_be64(p + XBI_H_CAPTURE_TIME);
	m->meta.ptable = p[XBI_H_PTABLE];
	if (m->meta.ptable >= __XBI_PTABLE_LAST)
		return image_fail(e, -EINVAL, "partition table type %u unknown",
				  m->meta.ptable);
	m->meta.level = (int8_t)p[XBI_H_LEVEL];
	if (m->meta.level < XBI_LEVEL_MIN || m->meta.level > XBI_LEVEL_MAX)
		return image_fail(e, -EINVAL, "zstd level %d out of range",
				  m->meta.level);
	memcpy(m->meta.mac, p + XBI_H_MAC, XBI_MAC_LEN);
	memcpy(m->sha256, p + XBI_H_SHA256, XBI_SHA256_LEN);
	memcpy(m->meta.name, p + XBI_H_NAME, XBI_NAME_MAX);
	m->meta.name[XBI_NAME_MAX] = '\0';
	/* NUL padding only: nothing may follow the first NUL */
	if (strlen(m->meta.name) < XBI_NAME_MAX &&
	    !all_zero(p + XBI_H_NAME + strlen(m->meta.name),
		      XBI_NAME_MAX - strlen(m->meta.name)))
		return image_fail(e, -EINVAL, "image name not NUL-padded");
	if (!image_name_valid(m->meta.name))
		return image_fail(e, -EINVAL, "image name \"%.64s\" not valid",
				  m->meta.name);
	return 0;
}

static int parse_records(struct image_manifest *m, struct image_err *e)
{
	struct image_chunk c;
	uint64_t end = 0;
	uint32_t i, flags;
	static const uint8_t zero_hash[XBI_REC_LEN - XBI_R_XXH3];

	m->n_holes = 0;
	for (i = 0; i < m->n_chunks; i++) {
		image_chunk_get(m, i, &c);
		flags = get_be32(m->records + (size_t)i * XBI_REC_LEN +
				 XBI_R_FLAGS);
		if (flags & ~XBI_CF_ALL)
			return image_fail(e, -EOPNOTSUPP,
					  "chunk %u: flags 0x%x unknown", i,
					  flags);
		if (c.offset < end)
			return image_fail(
				e, -ERANGE,
				"chunk %u: offset %llu overlaps the previous frame (ends at %llu)",
				i, (unsigned long long)c.offset,
				(unsigned long long)end);
		if (c.offset > end)
			return image_fail(
				e, -ERANGE,
				"chunk %u: offset %llu leaves a gap after %llu",
				i, (unsigned long long)c.offset,
				(unsigned long long)end);
		if (!c.clen) {
			if (memcmp(m->records + (size_t)i * XBI_REC_LEN +
					   XBI_R_XXH3,
				   zero_hash, sizeof(zero_hash)))
				return image_fail(
					e, -EINVAL,
					"chunk %u: a hole with nonzero hashes",
					i);
			m->n_holes++;
			continue;
		}
		if (c.clen > ZSTD_compressBound(c.len))
			return image_fail(
				e, -EINVAL,
				"chunk %u: length %u too big for a %u-byte chunk",
				i, c.clen, c.len);
		end += c.clen;
		if (end > m->data_size)
			return image_fail(
				e, -ERANGE,
				"chunk %u: frame ends at %llu, past the data size %llu",
				i, (unsigned long long)end,
				(unsigned long long)m->data_size);
	}
	if (end != m->data_size)
		return image_fail(
			e, -ERANGE,
			"data size %llu but the frames add up to %llu",
			(unsigned long long)m->data_size,
			(unsigned long long)end);
	return 0;
}

int image_manifest_parse(const void *buf, size_t len, struct image_manifest *m,
			 struct image_err *e)
{
	const uint8_t *p = buf;
	uint8_t md[XBI_SHA256_LEN];
	uint64_t want;
	int err;

	memset(m, 0, sizeof(*m));
	err = parse_header(p, len, m, e);
	if (err)
		return err;
	want = XBI_MANIFEST_LEN(m->n_chunks);
	if (len < want)
		return image_fail(
			e, -EBADMSG,
			"manifest truncated: %zu bytes, %llu chunks need %llu",
			len, (unsigned long long)m->n_chunks,
			(unsigned long long)want);
	if (len > want)
		return image_fail(e, -EBADMSG,
				  "manifest has %llu trailing bytes",
				  (unsigned long long)(len - want));
	sha256(p, want - XBI_TRAILER_LEN, md);
	if (memcmp(md, p + want - XBI_TRAILER_LEN, XBI_SHA256_LEN))
		return image_fail(
			e, -EBADMSG,
			"manifest SHA-256 mismatch: the manifest is corrupt");
	err = parse_meta(p, m, e);
	if (err)
		return err;
	m->records = p + XBI_HDR_LEN;
	return parse_records(m, e);
}

uint32_t image_chunk_len(const struct image_manifest *m, uint32_t i)
{
	uint64_t start = (uint64_t)i << m->chunk_shift;

	if (start >= m->meta.size)
		return 0;
	if (m->meta.size - start < m->chunk_size)
		return m->meta.size - start;
	return m->chunk_size;
}

void image_chunk_get(const struct image_manifest *m, uint32_t i,
		     struct image_chunk *c)
{
	const uint8_t *r = m->records + (size_t)i * XBI_REC_LEN;

	c->offset = get_be64(r + XBI_R_OFFSET);
	c->clen = get_be32(r + XBI_R_CLEN);
	c->len = image_chunk_len(m, i);
	c->xxh3 = get_be64(r + XBI_R_XXH3);
	memcpy(c->sha256, r + XBI_R_SHA256, XBI_SHA256_LEN);
}

static int check_hashes(const struct image_chunk *c, uint32_t i,
			const void *raw, unsigned int flags,
			struct image_err *e)
{
	uint8_t md[XBI_SHA256_LEN];

	if (XXH3_64bits(raw, c->len) != c->xxh3)
		return image_fail(e, -EBADMSG, "chunk %u: XXH3-64 mismatch", i);
	if (flags & IMAGE_CHECK_FAST)
		return 0;
	sha256(raw, c->len, md);
	if (memcmp(md, c->sha256, XBI_SHA256_LEN))
		return image_fail(e, -EBADMSG, "chunk %u: SHA-256 mismatch", i);
	return 0;
}

int image_chunk_check(const struct image_manifest *m, uint32_t i,
		      const void *raw, size_t len, unsigned int flags,
		      struct image_err *e)
{
	struct image_chunk c;

	if (i >= m->n_chunks)
		return image_fail(e, -EINVAL,
				  "chunk %u out of range (%u chunks)", i,
				  m->n_chunks);
	image_chunk_get(m, i, &c);
	if (len != c.len)
		return image_fail(e, -EBADMSG,
				  "chunk %u: %zu bytes, the chunk is %u", i,
				  len, c.len);
	if (!c.clen)
		return all_zero(raw, len) ?
			       0 :
			       image_fail(e, -EBADMSG,
					  "chunk %u: a hole holds data", i);
	return check_hashes(&c, i, raw, flags, e);
}

/*
 * One decompression context per thread, kept: a deploy decodes thousands
 * of chunks and the context is the expensive part. The window limit keeps
 * a hostile frame from asking for more memory than a chunk can need.
 */
static ZSTD_DCtx *dctx_get(void)
{
	static __thread ZSTD_DCtx *dctx;

	if (!dctx) {
		dctx = ZSTD_createDCtx();
		if (dctx)
			ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax,
					       XBI_CHUNK_SHIFT_MAX + 1);
	}
	return dctx;
}

/* Frame to raw: exactly one frame, exactly `len` bytes out. */
static int frame_decode(const void *comp, size_t clen, void *out, size_t len,
			uint32_t i, struct image_err *e)
{
	ZSTD_DCtx *dctx = dctx_get();
	size_t n;

	if (!dctx)
		return image_fail(e, -ENOMEM, "chunk %u: no zstd context", i);
	n = ZSTD_findFrameCompressedSize(comp, clen);
	if (ZSTD_isError(n) || n != clen)
		return image_fail(e, -EBADMSG,
				  "chunk %u: not exactly one zstd frame", i);
	n = ZSTD_decompressDCtx(dctx, out, len, comp, clen);
	if (ZSTD_isError(n) &&
	    ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
		return image_fail(
			e, -EBADMSG,
			"chunk %u: decompresses to more than %zu bytes", i,
			len);
	if (ZSTD_isError(n))
		return image_fail(e, -EBADMSG, "chunk %u: corrupt frame: %s", i,
				  ZSTD_getErrorName(n));
	if (n != len)
		return image_fail(
			e, -EBADMSG,
			"chunk %u: decompressed to %zu bytes, expected %zu", i,
			n, len);
	return 0;
}

int image_chunk_decode(const struct image_manifest *m, uint32_t i,
		       const void *comp, size_t clen, void *out,
		       unsigned int flags, struct image_err *e)
{
	struct image_chunk c;
	int err;

	if (i >= m->n_chunks)
		return image_fail(e, -EINVAL,
				  "chunk %u out of range (%u chunks)", i,
				  m->n_chunks);
	image_chunk_get(m, i, &c);
	if (clen != c.clen)
		return image_fail(e, -EBADMSG,
				  "chunk %u: %zu bytes, the manifest says %u",
				  i, clen, c.clen);
	if (!c.clen) {
		memset(out, 0, c.len);
		return 0;
	}
	err = frame_decode(comp, clen, out, c.len, i, e);
	return err ? err : check_hashes(&c, i, out, flags, e);
}

/* --- writer -------------------------------------------------------------- */

struct image_writer {
	int dirfd;
	int datafd;
	struct image_meta meta;
	uint8_t chunk_shift;
	uint32_t chunk_size;
	uint32_t n_chunks;
	uint32_t next; /* first index not written yet */
	uint64_t data_size;
	uint8_t *manifest; /* the whole manifest, records filled as we go */
	size_t manifest_len;
	uint8_t *cbuf; /* one compressed frame */
	size_t cbuf_cap;
	uint8_t *raw; /* put_frame: the decoded chunk */
	uint8_t *zeros; /* holes, for the whole-image hash */
	struct image_encoder *enc;
	EVP_MD_CTX *image_sha;
	int broken; /* a failed write: data no longer matches the records */
};

uint32_t image_writer_chunk_size(const struct image_writer *w)
{
	return w->chunk_size;
}

static int writer_chunk_shift(uint32_t chunk_size, uint8_t *shift,
			      struct image_err *e)
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
	return image_fail(
		e, -EINVAL,
		"chunk size %u: not a power of two from 64 KiB to 64 MiB",
		chunk_size);
}

static int writer_check_meta(const struct image_meta *meta, int level,
			     struct image_err *e)
{
	if (!meta->size)
		return image_fail(e, -EINVAL, "the source is empty (0 bytes)");
	if (meta->size > XBI_SIZE_MAX)
		return image_fail(e, -EINVAL, "the source is too large");
	if (!image_name_valid(meta->name))
		return image_fail(
			e, -EINVAL,
			"image name \"%s\": use 1..64 of [A-Za-z0-9._-], not starting with '.'",
			meta->name);
	if (level < XBI_LEVEL_MIN || level > XBI_LEVEL_MAX)
		return image_fail(e, -EINVAL,
				  "zstd level %d out of range %d..%d", level,
				  XBI_LEVEL_MIN, XBI_LEVEL_MAX);
	return 0;
}

/* --- encoder ------------------------------------------------------------- */

struct image_encoder {
	ZSTD_CCtx *cctx;
};

size_t image_frame_bound(size_t len)
{
	return ZSTD_compressBound(len);
}

/*
 * Frames are small (one chunk), so zstd's own workers only help when each
 * job is a slice of the chunk: the job size is cut to chunk / threads
 * (zstd raises it to its minimum, 512 KiB). A caller with many chunks in
 * flight does better with one single-threaded encoder per thread.
 */
int image_encoder_new(struct image_encoder **out, uint32_t chunk_size,
		      int level, int threads)
{
	struct image_encoder *enc;

	*out = NULL;
	if (level < XBI_LEVEL_MIN || level > XBI_LEVEL_MAX)
		return -EINVAL;
	enc = calloc(1, sizeof(*enc));
	if (!enc)
		return -ENOMEM;
	enc->cctx = ZSTD_createCCtx();
	if (!enc->cctx) {
		free(enc);
		return -ENOMEM;
	}
	ZSTD_CCtx_setParameter(enc->cctx, ZSTD_c_compressionLevel,
			       level ? level : ZSTD_CLEVEL_DEFAULT);
	ZSTD_CCtx_setParameter(enc->cctx, ZSTD_c_checksumFlag, 0);
	ZSTD_CCtx_setParameter(enc->cctx, ZSTD_c_contentSizeFlag, 1);
	if (threads > 1 && !ZSTD_isError(ZSTD_CCtx_setParameter(
				   enc->cctx, ZSTD_c_nbWorkers, threads)))
		ZSTD_CCtx_setParameter(enc->cctx, ZSTD_c_jobSize,
				       chunk_size / threads);
	*out = enc;
	return 0;
}

void image_encoder_free(struct image_encoder *enc)
{
	if (!enc)
		return;
	ZSTD_freeCCtx(enc->cctx);
	free(enc);
}

ssize_t image_encode_chunk(struct image_encoder *enc, const void *raw,
			   size_t len, void *out, size_t cap,
			   struct image_err *e)
{
	size_t n;

	if (all_zero(raw, len))
		return 0;
	n = ZSTD_compress2(enc->cctx, out, cap, raw, len);
	if (ZSTD_isError(n))
		return image_fail(e, -EIO, "zstd: %s", ZSTD_getErrorName(n));
	return n;
}

static int writer_alloc(struct image_writer *w, int threads)
{
	w->manifest_len = XBI_MANIFEST_LEN(w->n_chunks);
	w->manifest = calloc(1, w->manifest_len);
	w->cbuf_cap = ZSTD_compressBound(w->chunk_size);
	w->cbuf = malloc(w->cbuf_cap);
	w->raw = malloc(w->chunk_size);
	w->zeros = calloc(1, w->chunk_size);
	w->image_sha = EVP_MD_CTX_new();
	if (!w->manifest || !w->cbuf || !w->raw || !w->zeros || !w->image_sha ||
	    !EVP_DigestInit_ex(w->image_sha, EVP_sha256(), NULL))
		return -ENOMEM;
	return image_encoder_new(&w->enc, w->chunk_size, w->meta.level,
				 threads);
}

int image_writer_open(struct image_writer **out, int dirfd,
		      const struct image_meta *meta, uint32_t chunk_size,
		      int level, int threads, struct image_err *e)
{
	struct image_writer *w;
	uint8_t shift = 0;
	uint64_t n_chunks;
	int err;

	*out = NULL;
	err = writer_chunk_shift(chunk_size, &shift, e);
	if (err)
		return err;
	if (!level)
		level = ZSTD_CLEVEL_DEFAULT;
	err = writer_check_meta(meta, level, e);
	if (err)
		return err;
	n_chunks = (meta->size + (1ULL << shift) - 1) >> shift;
	if (n_chunks > XBI_CHUNKS_MAX)
		return image_fail(
			e, -EINVAL,
			"the source needs more than %u chunks of %u bytes",
			XBI_CHUNKS_MAX, 1U << shift);
	w = calloc(1, sizeof(*w));
	if (!w)
		return image_fail(e, -ENOMEM, "out of memory");
	w->dirfd = dirfd;
	w->datafd = -1;
	w->meta = *meta;
	w->meta.level = level;
	w->meta.ptable = XBI_PTABLE_NONE;
	w->chunk_shift = shift;
	w->chunk_size = 1U << shift;
	w->n_chunks = n_chunks;
	err = writer_alloc(w, threads);
	if (err) {
		image_writer_free(w);
		return image_fail(e, err, "out of memory");
	}
	w->datafd = openat(dirfd, XBI_FILE_DATA,
			   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->datafd < 0) {
		err = -errno;
		image_writer_free(w);
		return image_fail(e, err, "create data file: %s",
				  strerror(-err));
	}
	*out = w;
	return 0;
}

static uint32_t writer_chunk_len(const struct image_writer *w, uint32_t i)
{
	uint64_t start = (uint64_t)i << w->chunk_shift;

	if (w->meta.size - start < w->chunk_size)
		return w->meta.size - start;
	return w->chunk_size;
}

static uint8_t *writer_rec(struct image_writer *w, uint32_t i)
{
	return w->manifest + XBI_HDR_LEN + (size_t)i * XBI_REC_LEN;
}

/* Holes from w->next up to (not including) index. */
static void writer_holes_to(struct image_writer *w, uint32_t index)
{
	for (; w->next < index; w->next++) {
		put_be64(writer_rec(w, w->next) + XBI_R_OFFSET, w->data_size);
		EVP_DigestUpdate(w->image_sha, w->zeros,
				 writer_chunk_len(w, w->next));
	}
}

static int writer_check_index(struct image_writer *w, uint64_t index,
			      struct image_err *e)
{
	if (w->broken)
		return image_fail(e, w->broken,
				  "the image writer failed earlier: %s",
				  strerror(-w->broken));
	if (index >= w->n_chunks)
		return image_fail(e, -EINVAL,
				  "chunk %llu out of range (%u chunks)",
				  (unsigned long long)index, w->n_chunks);
	if (index < w->next)
		return image_fail(
			e, -EINVAL,
			"chunk %llu: chunks go in ascending order (next is %u)",
			(unsigned long long)index, w->next);
	return 0;
}

/* Records raw chunk `index` (already checked) whose frame is comp/clen. */
static int writer_commit(struct image_writer *w, uint32_t index,
			 const uint8_t *raw, size_t len, bool hole,
			 const void *comp, size_t clen, struct image_err *e)
{
	uint8_t *rec;
	int err;

	writer_holes_to(w, index);
	if (index == 0)
		w->meta.ptable = image_detect_ptable(raw, len);
	EVP_DigestUpdate(w->image_sha, raw, len);
	w->next = index + 1;
	if (hole) {
		put_be64(writer_rec(w, index) + XBI_R_OFFSET, w->data_size);
		return 0;
	}
	err = write_full(w->datafd, comp, clen);
	if (err) {
		w->broken = err;
		return image_fail(e, err, "chunk %u: write data: %s", index,
				  strerror(-err));
	}
	rec = writer_rec(w, index);
	put_be64(rec + XBI_R_OFFSET, w->data_size);
	put_be32(rec + XBI_R_CLEN, clen);
	put_be64(rec + XBI_R_XXH3, XXH3_64bits(raw, len));
	sha256(raw, len, rec + XBI_R_SHA256);
	w->data_size += clen;
	return 0;
}

int image_writer_put(struct image_writer *w, uint64_t index, const void *raw,
		     size_t len, struct image_err *e)
{
	ssize_t clen;
	int err;

	err = writer_check_index(w, index, e);
	if (err)
		return err;
	if (len != writer_chunk_len(w, index))
		return image_fail(e, -EINVAL,
				  "chunk %llu: %zu bytes, expected %u",
				  (unsigned long long)index, len,
				  writer_chunk_len(w, index));
	clen = image_encode_chunk(w->enc, raw, len, w->cbuf, w->cbuf_cap, e);
	if (clen < 0)
		return clen;
	return writer_commit(w, index, raw, len, !clen, w->cbuf, clen, e);
}

int image_writer_put_frame(struct image_writer *w, uint64_t index,
			   const void *comp, size_t clen, struct image_err *e)
{
	uint32_t len;
	int err;

	err = writer_check_index(w, index, e);
	if (err)
		return err;
	len = writer_chunk_len(w, index);
	if (clen > ZSTD_compressBound(len))
		return image_fail(
			e, -EBADMSG,
			"chunk %llu: length %zu too big for a %u-byte chunk",
			(unsigned long long)index, clen, len);
	err = frame_decode(comp, clen, w->raw, len, index, e);
	if (err)
		return err;
	return writer_commit(w, index, w->raw, len, all_zero(w->raw, len), comp,
			     clen, e);
}

static void writer_header(struct image_writer *w)
{
	uint8_t *p = w->manifest;

	memcpy(p + XBI_H_MAGIC, XBI_MAGIC, XBI_MAGIC_LEN);
	put_be16(p + XBI_H_MAJOR, XBI_VERSION_MAJOR);
	put_be16(p + XBI_H_MINOR, XBI_VERSION_MINOR);
	put_be64(p + XBI_H_SIZE, w->meta.size);
	put_be64(p + XBI_H_N_CHUNKS, w->n_chunks);
	put_be64(p + XBI_H_DATA_SIZE, w->data_size);
	put_be64(p + XBI_H_CAPTURE_TIME, (uint64_t)w->meta.capture_time);
	p[XBI_H_CHUNK_SHIFT] = w->chunk_shift;
	p[XBI_H_PTABLE] = w->meta.ptable;
	p[XBI_H_LEVEL] = (uint8_t)w->meta.level;
	memcpy(p + XBI_H_MAC, w->meta.mac, XBI_MAC_LEN);
	memcpy(p + XBI_H_NAME, w->meta.name, strlen(w->meta.name));
}

int image_writer_finish(struct image_writer *w, struct image_err *e)
{
	size_t body = w->manifest_len - XBI_TRAILER_LEN;
	int fd, err;

	if (w->broken)
		return image_fail(e, w->broken,
				  "the image writer failed earlier: %s",
				  strerror(-w->broken));
	writer_holes_to(w, w->n_chunks);
	EVP_DigestFinal_ex(w->image_sha, w->manifest + XBI_H_SHA256, NULL);
	writer_header(w);
	sha256(w->manifest, body, w->manifest + body);
	if (fsync(w->datafd))
		return image_fail(e, -errno, "sync data: %s", strerror(errno));
	fd = openat(w->dirfd, XBI_FILE_MANIFEST,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return image_fail(e, -errno, "create manifest: %s",
				  strerror(errno));
	err = write_full(fd, w->manifest, w->manifest_len);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	if (err)
		return image_fail(e, err, "write manifest: %s", strerror(-err));
	return 0;
}

void image_writer_free(struct image_writer *w)
{
	if (!w)
		return;
	if (w->datafd >= 0)
		close(w->datafd);
	image_encoder_free(w->enc);
	EVP_MD_CTX_free(w->image_sha);
	free(w->manifest);
	free(w->cbuf);
	free(w->raw);
	free(w->zeros);
	free(w);
}

/* --- files --------------------------------------------------------------- */

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = pread(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -ENODATA;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

int image_manifest_read(int dirfd, void **buf, size_t *len, struct image_err *e)
{
	struct stat st;
	void *p;
	int fd, err;

	*buf = NULL;
	fd = openat(dirfd, XBI_FILE_MANIFEST, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return image_fail(e, -errno, "open manifest: %s",
				  strerror(errno));
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return image_fail(e, err, "stat manifest: %s", strerror(-err));
	}
	if (!S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > XBI_MANIFEST_LEN(XBI_CHUNKS_MAX)) {
		close(fd);
		return image_fail(e, -EFBIG,
				  "manifest: not a regular file or too big");
	}
	p = malloc(st.st_size ? st.st_size : 1);
	if (!p) {
		close(fd);
		return image_fail(e, -ENOMEM, "out of memory");
	}
	err = pread_full(fd, p, st.st_size, 0);
	close(fd);
	if (err) {
		free(p);
		return image_fail(e, err, "read manifest: %s", strerror(-err));
	}
	*buf = p;
	*len = st.st_size;
	return 0;
}

int image_data_open(int dirfd, const struct image_manifest *m,
		    struct image_err *e)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, XBI_FILE_DATA, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return image_fail(e, -errno, "open data: %s", strerror(errno));
	if (fstat(fd, &st)) {
		close(fd);
		return image_fail(e, -EIO, "stat data: %s", strerror(errno));
	}
	if ((uint64_t)st.st_size != m->data_size) {
		close(fd);
		return image_fail(
			e, -EBADMSG,
			"data file is %lld bytes, the manifest says %llu",
			(long long)st.st_size,
			(unsigned long long)m->data_size);
	}
	return fd;
}

int image_import_fd(int rawfd, int dirfd, const struct image_meta *meta,
		    uint32_t chunk_size, int level, int threads,
		    struct image_err *e)
{
	struct image_writer *w;
	uint8_t *buf = NULL;
	uint64_t i, n;
	uint32_t len;
	int err;

	err = image_writer_open(&w, dirfd, meta, chunk_size, level, threads, e);
	if (err)
		return err;
	buf = malloc(w->chunk_size);
	if (!buf) {
		err = image_fail(e, -ENOMEM, "out of memory");
		goto out;
	}
	n = w->n_chunks;
	for (i = 0; i < n; i++) {
		len = writer_chunk_len(w, i);
		err = pread_full(rawfd, buf, len, i << w->chunk_shift);
		if (err) {
			image_fail(e, err, "read source at %llu: %s",
				   (unsigned long long)(i << w->chunk_shift),
				   err == -ENODATA ? "shorter than its size" :
						     strerror(-err));
			goto out;
		}
		err = image_writer_put(w, i, buf, len, e);
		if (err)
			goto out;
	}
	err = image_writer_finish(w, e);
out:
	free(buf);
	image_writer_free(w);
	return err;
}

/*
 * Reads, decodes and checks every chunk in order, handing each to `sink`
 * and folding it into the whole-image hash, which is checked at the end.
 */
static int image_walk(const struct image_manifest *m, int datafd,
		      int (*sink)(void *ctx, uint32_t i, const void *raw,
				  size_t len, bool hole),
		      void *ctx, struct image_err *e)
{
	uint8_t *comp, *raw, md[XBI_SHA256_LEN];
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	struct image_chunk c;
	uint32_t i;
	int err = -ENOMEM;

	comp = malloc(ZSTD_compressBound(m->chunk_size));
	raw = malloc(m->chunk_size);
	if (!comp || !raw || !sha ||
	    !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
		image_fail(e, err, "out of memory");
		goto out;
	}
	for (i = 0; i < m->n_chunks; i++) {
		image_chunk_get(m, i, &c);
		err = pread_full(datafd, comp, c.clen, c.offset);
		if (err) {
			image_fail(e, err, "chunk %u: read data: %s", i,
				   err == -ENODATA ? "data file truncated" :
						     strerror(-err));
			goto out;
		}
		err = image_chunk_decode(m, i, comp, c.clen, raw, 0, e);
		if (!err)
			err = sink(ctx, i, raw, c.len, !c.clen);
		if (err)
			goto out;
		EVP_DigestUpdate(sha, raw, c.len);
	}
	EVP_DigestFinal_ex(sha, md, NULL);
	if (memcmp(md, m->sha256, XBI_SHA256_LEN))
		err = image_fail(e, -EBADMSG, "image SHA-256 mismatch");
out:
	EVP_MD_CTX_free(sha);
	free(comp);
	free(raw);
	return err;
}

static int verify_sink(void *ctx, uint32_t i, const void *raw, size_t len,
		       bool hole)
{
	return 0;
}

int image_verify_fd(const struct image_manifest *m, int datafd,
		    struct image_err *e)
{
	return image_walk(m, datafd, verify_sink, NULL, e);
}

struct export_ctx {
	const struct image_manifest *m;
	int fd;
	bool sparse;
	struct image_err *e;
};

static int export_sink(void *ctx, uint32_t i, const void *raw, size_t len,
		       bool hole)
{
	struct export_ctx *x = ctx;
	int err;

	if (hole && x->sparse)
		return 0;
	err = pwrite_full(x->fd, raw, len, (uint64_t)i << x->m->chunk_shift);
	if (err)
		return image_fail(x->e, err, "chunk %u: write: %s", i,
				  strerror(-err));
	return 0;
}

int image_export_fd(const struct image_manifest *m, int datafd, int outfd,
		    struct image_err *e)
{
	struct export_ctx x = { .m = m, .fd = outfd, .e = e };
	struct stat st;
	int err;

	if (fstat(outfd, &st))
		return image_fail(e, -errno, "stat output: %s",
				  strerror(errno));
	/* a regular file gets its holes back as holes */
	if (S_ISREG(st.st_mode)) {
		if (ftruncate(outfd, 0) || ftruncate(outfd, m->meta.size))
			return image_fail(e, -errno, "size output: %s",
					  strerror(errno));
		x.sparse = true;
	}
	err = image_walk(m, datafd, export_sink, &x, e);
	if (err)
		return err;
	if (fsync(outfd))
		return image_fail(e, -errno, "sync output: %s",
				  strerror(errno));
	return 0;
}
