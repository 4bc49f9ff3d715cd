// SPDX-License-Identifier: GPL-2.0
/*
 * The image format codec: writer to reader round trips (random data, zero
 * regions, short last chunks, frames compressed elsewhere), the writer's
 * refusals, partition table detection, and a table of corrupt manifests
 * and chunks, each refused with the errno and message the specification
 * (include/xboot/image.h) gives.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "fill_random.h"
#include "image_fmt.h"
#include "tmpdir.h"

#define CHUNK (64U * 1024)

static char tmpdir[] = "/tmp/xboot-test-image-fmt.XXXXXX";
static int dirfd_;

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

/* Chunk 0: an MBR and random bytes; 1: zeros; 2: text; 3: random; 4 short. */
static uint8_t *sample_disk(size_t *size)
{
	size_t n = 4 * CHUNK + 1000, i;
	uint8_t *d = calloc(1, n);

	fill_random(&rng, d, CHUNK);
	memset(d + 446, 0, 64);
	d[446 + 4] = 0x83;
	d[510] = 0x55;
	d[511] = 0xaa;
	for (i = 0; i < CHUNK; i++)
		d[2 * CHUNK + i] = "xboot image text "[i % 17];
	fill_random(&rng, d + 3 * CHUNK, CHUNK + 1000);
	*size = n;
	return d;
}

static void sample_meta(struct image_meta *m, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	m->size = size;
	m->capture_time = 1700000000;
	memcpy(m->mac, "\x52\x54\x00\x12\x34\x56", 6);
	strcpy(m->name, "sample-1.0_x");
}

/* Writes disk into tmpdir through the writer, chunk by chunk. */
static void write_image(const uint8_t *disk, size_t size, uint32_t chunk,
			int threads)
{
	struct image_writer *w;
	struct image_meta meta;
	struct image_err e;
	uint64_t i, n;

	sample_meta(&meta, size);
	assert_int_equal(
		image_writer_open(&w, dirfd_, &meta, chunk, 3, threads, &e), 0);
	chunk = image_writer_chunk_size(w);
	n = (size + chunk - 1) / chunk;
	for (i = 0; i < n; i++) {
		size_t len = size - i * chunk < chunk ? size - i * chunk :
							chunk;

		assert_int_equal(
			image_writer_put(w, i, disk + i * chunk, len, &e), 0);
	}
	assert_int_equal(image_writer_finish(w, &e), 0);
	image_writer_free(w);
}

static uint8_t *read_manifest(size_t *len)
{
	struct image_err e;
	void *buf;

	assert_int_equal(image_manifest_read(dirfd_, &buf, len, &e), 0);
	return buf;
}

static void check_disk(const uint8_t *disk, size_t size, uint32_t chunk)
{
	struct image_manifest m;
	struct image_chunk c;
	struct image_err e;
	uint8_t *buf, *comp, *raw, md[32];
	size_t len;
	uint32_t i;
	int fd;

	buf = read_manifest(&len);
	assert_int_equal(image_manifest_parse(buf, len, &m, &e), 0);
	assert_int_equal(m.meta.size, size);
	assert_int_equal(m.chunk_size, chunk);
	assert_int_equal(m.n_chunks, (size + chunk - 1) / chunk);
	assert_string_equal(m.meta.name, "sample-1.0_x");
	assert_int_equal(m.meta.capture_time, 1700000000);
	assert_memory_equal(m.meta.mac, "\x52\x54\x00\x12\x34\x56", 6);
	EVP_Digest(disk, size, md, NULL, EVP_sha256(), NULL);
	assert_memory_equal(m.sha256, md, 32);

	fd = image_data_open(dirfd_, &m, &e);
	assert_true(fd >= 0);
	comp = malloc(ZSTD_compressBound(chunk));
	raw = malloc(chunk);
	for (i = 0; i < m.n_chunks; i++) {
		image_chunk_get(&m, i, &c);
		assert_int_equal(pread(fd, comp, c.clen, c.offset), c.clen);
		assert_int_equal(
			image_chunk_decode(&m, i, comp, c.clen, raw, 0, &e), 0);
		assert_memory_equal(raw, disk + (size_t)i * chunk, c.len);
		assert_int_equal(image_chunk_check(&m, i, raw, c.len,
						   IMAGE_CHECK_FAST, &e),
				 0);
	}
	assert_int_equal(image_verify_fd(&m, fd, &e), 0);
	close(fd);
	free(comp);
	free(raw);
	free(buf);
}

static void test_roundtrip(void **state)
{
	static const size_t sizes[] = { 1,     511,	  CHUNK - 1,
					CHUNK, CHUNK + 1, 3 * CHUNK + 12345 };
	struct image_manifest m;
	struct image_err e;
	uint8_t *disk, *buf;
	size_t size, len, k;

	(void)state;
	disk = sample_disk(&size);
	write_image(disk, size, CHUNK, 1);
	check_disk(disk, size, CHUNK);
	buf = read_manifest(&len);
	assert_int_equal(image_manifest_parse(buf, len, &m, &e), 0);
	assert_int_equal(m.n_chunks, 5);
	assert_int_equal(m.n_holes, 1);
	assert_int_equal(m.meta.ptable, XBI_PTABLE_MBR);
	assert_int_equal(m.meta.level, 3);
	free(buf);

	/* sizes around chunk boundaries, with a zero region in the middle */
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		fill_random(&rng, disk, sizes[k]);
		if (sizes[k] > CHUNK + 100)
			memset(disk + 100, 0, CHUNK + 100);
		write_image(disk, sizes[k], CHUNK, 1);
		check_disk(disk, sizes[k], CHUNK);
	}
	free(disk);
}

static void test_roundtrip_threads_and_sizes(void **state)
{
	uint8_t *disk;
	size_t size = 3 * (1U << 20) + 4097;

	(void)state;
	disk = calloc(1, size);
	fill_random(&rng, disk, 1U << 20);
	memset(disk, 'a', 512 * 1024); /* compressible */
	fill_random(&rng, disk + 2 * (1U << 20) + 7, 4097);
	write_image(disk, size, 1U << 20, 4);
	check_disk(disk, size, 1U << 20);
	write_image(disk, size, 0, 2); /* default 4 MiB: one short chunk */
	check_disk(disk, size, 1U << XBI_CHUNK_SHIFT_DEFAULT);
	free(disk);
}

/* All zeros: every chunk a hole, an empty data file. */
static void test_all_holes(void **state)
{
	struct image_manifest m;
	struct image_err e;
	uint8_t *disk, *buf;
	size_t len;

	(void)state;
	disk = calloc(1, 5 * CHUNK + 3);
	write_image(disk, 5 * CHUNK + 3, CHUNK, 1);
	check_disk(disk, 5 * CHUNK + 3, CHUNK);
	buf = read_manifest(&len);
	assert_int_equal(image_manifest_parse(buf, len, &m, &e), 0);
	assert_int_equal(m.n_holes, 6);
	assert_int_equal(m.data_size, 0);
	assert_int_equal(m.meta.ptable, XBI_PTABLE_NONE);
	free(buf);
	free(disk);
}

/* Skipped indexes are holes; frames compressed elsewhere are checked. */
static void test_put_frame_and_skips(void **state)
{
	struct image_writer *w;
	struct image_meta meta;
	struct image_err e;
	uint8_t *disk, *comp;
	size_t size = 4 * CHUNK, clen;

	(void)state;
	disk = calloc(1, size);
	fill_random(&rng, disk + 2 * CHUNK, CHUNK);
	comp = malloc(ZSTD_compressBound(CHUNK) * 2);
	sample_meta(&meta, size);
	assert_int_equal(image_writer_open(&w, dirfd_, &meta, CHUNK, 1, 1, &e),
			 0);

	/* a frame of zeros becomes a hole */
	clen = ZSTD_compress(comp, ZSTD_compressBound(CHUNK), disk, CHUNK, 1);
	assert_int_equal(image_writer_put_frame(w, 0, comp, clen, &e), 0);
	/* a frame of the wrong size is refused */
	clen = ZSTD_compress(comp, ZSTD_compressBound(CHUNK), disk, CHUNK - 1,
			     1);
	assert_int_equal(image_writer_put_frame(w, 2, comp, clen, &e),
			 -EBADMSG);
	assert_non_null(strstr(e.msg, "decompressed to 65535 bytes"));
	/* two frames back to back are not one chunk */
	clen = ZSTD_compress(comp, ZSTD_compressBound(CHUNK), disk, CHUNK / 2,
			     1);
	memcpy(comp + clen, comp, clen);
	assert_int_equal(image_writer_put_frame(w, 2, comp, 2 * clen, &e),
			 -EBADMSG);
	assert_non_null(strstr(e.msg, "not exactly one zstd frame"));
	/* garbage */
	memset(comp, 0x5a, 100);
	assert_int_equal(image_writer_put_frame(w, 2, comp, 100, &e), -EBADMSG);

	clen = ZSTD_compress(comp, ZSTD_compressBound(CHUNK), disk + 2 * CHUNK,
			     CHUNK, 1);
	assert_int_equal(image_writer_put_frame(w, 2, comp, clen, &e), 0);
	/* order is enforced */
	assert_int_equal(image_writer_put(w, 1, disk, CHUNK, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "ascending order"));
	assert_int_equal(image_writer_put(w, 4, disk, CHUNK, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "out of range"));
	assert_int_equal(image_writer_put(w, 3, disk, CHUNK - 1, &e), -EINVAL);
	assert_int_equal(image_writer_finish(w, &e), 0);
	image_writer_free(w);
	check_disk(disk, size, CHUNK);
	free(comp);
	free(disk);
}

/* The capture path: the agent encodes, skips holes, the writer checks. */
static void test_encoder_capture(void **state)
{
	struct image_encoder *enc;
	struct image_writer *w;
	struct image_meta meta;
	struct image_err e;
	uint8_t *disk, *frame;
	size_t size, cap = image_frame_bound(CHUNK);
	ssize_t n;
	uint32_t i;

	(void)state;
	disk = sample_disk(&size);
	frame = malloc(cap);
	assert_int_equal(image_encoder_new(&enc, CHUNK, 30, 1), -EINVAL);
	assert_int_equal(image_encoder_new(&enc, CHUNK, 5, 1), 0);
	sample_meta(&meta, size);
	assert_int_equal(image_writer_open(&w, dirfd_, &meta, CHUNK, 5, 1, &e),
			 0);
	for (i = 0; i * CHUNK < size; i++) {
		size_t len = size - i * CHUNK < CHUNK ? size - i * CHUNK :
							CHUNK;

		n = image_encode_chunk(enc, disk + i * CHUNK, len, frame, cap,
				       &e);
		assert_true(n >= 0);
		assert_int_equal(n == 0, i == 1); /* chunk 1 is the hole */
		if (n)
			assert_int_equal(
				image_writer_put_frame(w, i, frame, n, &e), 0);
	}
	assert_int_equal(image_writer_finish(w, &e), 0);
	image_writer_free(w);
	image_encoder_free(enc);
	check_disk(disk, size, CHUNK);
	free(frame);
	free(disk);
}

static void test_writer_refusals(void **state)
{
	struct image_writer *w;
	struct image_meta meta;
	struct image_err e;

	(void)state;
	sample_meta(&meta, 0);
	assert_int_equal(image_writer_open(&w, dirfd_, &meta, CHUNK, 3, 1, &e),
			 -EINVAL);
	assert_non_null(strstr(e.msg, "empty"));
	assert_null(w);
	sample_meta(&meta, 100);
	assert_int_equal(image_writer_open(&w, dirfd_, &meta, 32768, 3, 1, &e),
			 -EINVAL);
	assert_int_equal(image_writer_open(&w, dirfd_, &meta, CHUNK + 1, 3, 1,
					   &e),
			 -EINVAL);
	assert_int_equal(image_writer_open(&w, dirfd_, &meta, 128U << 20, 3, 1,
					   &e),
			 -EINVAL);
	assert_int_equal(image_writer_open(&w, dirfd_, &meta, CHUNK, 23, 1, &e),
			 -EINVAL);
	strcpy(meta.name, ".hidden");
	assert_int_equal(image_writer_open(&w, dirfd_, &meta, CHUNK, 3, 1, &e),
			 -EINVAL);
	meta.size = XBI_SIZE_MAX;
	strcpy(meta.name, "big");
	assert_int_equal(image_writer_open(&w, dirfd_, &meta, CHUNK, 3, 1, &e),
			 -EINVAL);
	assert_non_null(strstr(e.msg, "more than"));
}

/* A failed write poisons the writer: its records would lie. */
static void test_writer_write_error(void **state)
{
	struct image_writer *w;
	struct image_meta meta;
	struct image_err e;
	uint8_t buf[CHUNK];
	int fd;

	(void)state;
	assert_int_equal(mkdirat(dirfd_, "full", 0755), 0);
	assert_int_equal(symlinkat("/dev/full", dirfd_, "full/data"), 0);
	fd = openat(dirfd_, "full", O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	sample_meta(&meta, 2 * CHUNK);
	assert_int_equal(image_writer_open(&w, fd, &meta, CHUNK, 1, 1, &e), 0);
	fill_random(&rng, buf, sizeof(buf));
	assert_int_equal(image_writer_put(w, 0, buf, CHUNK, &e), -ENOSPC);
	assert_non_null(strstr(e.msg, "chunk 0: write data"));
	assert_int_equal(image_writer_put(w, 1, buf, CHUNK, &e), -ENOSPC);
	assert_non_null(strstr(e.msg, "failed earlier"));
	assert_int_equal(image_writer_finish(w, &e), -ENOSPC);
	image_writer_free(w);
	close(fd);
}

static void test_names(void **state)
{
	char n65[66];

	(void)state;
	assert_true(image_name_valid("a"));
	assert_true(image_name_valid("debian-12.5_amd64"));
	assert_true(image_name_valid("A.."));
	assert_false(image_name_valid(""));
	assert_false(image_name_valid("."));
	assert_false(image_name_valid(".."));
	assert_false(image_name_valid(".staging-x"));
	assert_false(image_name_valid("a/b"));
	assert_false(image_name_valid("a b"));
	assert_false(image_name_valid("a\xc3\xa9"));
	memset(n65, 'x', 65);
	n65[65] = '\0';
	assert_false(image_name_valid(n65));
	n65[64] = '\0';
	assert_true(image_name_valid(n65));
}

static void test_ptable(void **state)
{
	uint8_t s[8192];

	(void)state;
	memset(s, 0, sizeof(s));
	assert_int_equal(image_detect_ptable(s, sizeof(s)), XBI_PTABLE_NONE);
	s[510] = 0x55;
	s[511] = 0xaa;
	assert_int_equal(image_detect_ptable(s, sizeof(s)), XBI_PTABLE_NONE);
	s[446 + 16 + 4] = 0x0c;
	s[446 + 16] = 0x80;
	assert_int_equal(image_detect_ptable(s, sizeof(s)), XBI_PTABLE_MBR);
	assert_int_equal(image_detect_ptable(s, 511), XBI_PTABLE_NONE);
	/* FAT boot code where the entries would be */
	s[446] = 0xeb;
	assert_int_equal(image_detect_ptable(s, sizeof(s)), XBI_PTABLE_NONE);
	s[446] = 0;
	s[446 + 4] = 0xee; /* protective MBR ... */
	memcpy(s + 512, "EFI PART", 8); /* ... and the GPT header */
	assert_int_equal(image_detect_ptable(s, sizeof(s)), XBI_PTABLE_GPT);
	memset(s + 512, 0, 8);
	memcpy(s + 4096, "EFI PART", 8); /* 4K sectors */
	assert_int_equal(image_detect_ptable(s, sizeof(s)), XBI_PTABLE_GPT);
	assert_int_equal(image_detect_ptable(s, 4100), XBI_PTABLE_MBR);
	assert_string_equal(image_ptable_name(XBI_PTABLE_GPT), "gpt");
	assert_string_equal(image_ptable_name(9), "unknown");
}

/* --- corrupt manifests --------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint8_t *rec(uint8_t *b, int i)
{
	return b + XBI_HDR_LEN + i * XBI_REC_LEN;
}

/* The sample image: 0 data, 1 hole, 2 text, 3 random, 4 short random. */
static void m_magic(uint8_t *b, size_t *len)
{
	b[0] = 'Y';
}

static void m_major(uint8_t *b, size_t *len)
{
	b[XBI_H_MAJOR + 1] = 2;
}

static void m_major0(uint8_t *b, size_t *len)
{
	b[XBI_H_MAJOR + 1] = 0;
}

static void m_minor(uint8_t *b, size_t *len)
{
	b[XBI_H_MINOR + 1] = 7;
}

static void m_flags(uint8_t *b, size_t *len)
{
	b[XBI_H_FLAGS + 3] = 1;
}

static void m_short(uint8_t *b, size_t *len)
{
	*len = 100;
}

static void m_trunc(uint8_t *b, size_t *len)
{
	*len -= 1;
}

static void m_trunc_rec(uint8_t *b, size_t *len)
{
	*len -= XBI_REC_LEN;
}

static void m_trailing(uint8_t *b, size_t *len)
{
	*len += 8;
}

static void m_flip(uint8_t *b, size_t *len)
{
	b[XBI_HDR_LEN + 30] ^= 1;
}

static void m_flip_trailer(uint8_t *b, size_t *len)
{
	b[*len - 1] ^= 1;
}

static void m_shift_lo(uint8_t *b, size_t *len)
{
	b[XBI_H_CHUNK_SHIFT] = 15;
}

static void m_shift_hi(uint8_t *b, size_t *len)
{
	b[XBI_H_CHUNK_SHIFT] = 27;
}

static void m_size0(uint8_t *b, size_t *len)
{
	put64(b + XBI_H_SIZE, 0);
}

static void m_count(uint8_t *b, size_t *len)
{
	put64(b + XBI_H_N_CHUNKS, 4);
}

static void m_size_big(uint8_t *b, size_t *len)
{
	put64(b + XBI_H_SIZE, 5 * CHUNK + 1);
}

static void m_huge(uint8_t *b, size_t *len)
{
	put64(b + XBI_H_SIZE, (uint64_t)XBI_CHUNKS_MAX * CHUNK + 1);
	put64(b + XBI_H_N_CHUNKS, XBI_CHUNKS_MAX + 1ULL);
}

static void m_ptable(uint8_t *b, size_t *len)
{
	b[XBI_H_PTABLE] = 3;
}

static void m_level(uint8_t *b, size_t *len)
{
	b[XBI_H_LEVEL] = 23;
}

static void m_level_neg(uint8_t *b, size_t *len)
{
	b[XBI_H_LEVEL] = 0xf8;
}

static void m_name_empty(uint8_t *b, size_t *len)
{
	memset(b + XBI_H_NAME, 0, XBI_NAME_MAX);
}

static void m_name_dot(uint8_t *b, size_t *len)
{
	b[XBI_H_NAME] = '.';
}

static void m_name_slash(uint8_t *b, size_t *len)
{
	b[XBI_H_NAME + 1] = '/';
}

static void m_name_pad(uint8_t *b, size_t *len)
{
	b[XBI_H_NAME + 40] = 'x';
}

static void m_name_full(uint8_t *b, size_t *len)
{
	memset(b + XBI_H_NAME, 'n', XBI_NAME_MAX);
}

static void m_reserved(uint8_t *b, size_t *len)
{
	b[200] = 0xff;
}

static void m_rec_flags(uint8_t *b, size_t *len)
{
	rec(b, 2)[XBI_R_FLAGS + 3] = 4;
}

static void m_overlap(uint8_t *b, size_t *len)
{
	put64(rec(b, 3) + XBI_R_OFFSET, 1);
}

static void m_gap(uint8_t *b, size_t *len)
{
	uint8_t *r = rec(b, 2) + XBI_R_OFFSET;

	put64(r, get64(r) + 1);
}

static void m_hole_offset(uint8_t *b, size_t *len)
{
	put64(rec(b, 1) + XBI_R_OFFSET, 0);
}

static void m_hole_hash(uint8_t *b, size_t *len)
{
	rec(b, 1)[XBI_R_SHA256 + 5] = 1;
}

static void m_clen_big(uint8_t *b, size_t *len)
{
	put32(rec(b, 4) + XBI_R_CLEN, 2000);
}

static void m_past_end(uint8_t *b, size_t *len)
{
	uint8_t *r = rec(b, 4) + XBI_R_CLEN;

	put32(r, (uint32_t)(get64(r) >> 32) - 1);
	put64(b + XBI_H_DATA_SIZE, 10);
}

static void m_data_size(uint8_t *b, size_t *len)
{
	b[XBI_H_DATA_SIZE + 7] ^= 0x10;
}

struct bad_manifest {
	const char *what;
	void (*mutate)(uint8_t *b, size_t *len);
	bool reseal; /* recompute the trailer after the change */
	int err;
	const char *msg;
};

static const struct bad_manifest bad_manifests[] = {
	{ "magic", m_magic, true, -EBADMSG, "bad magic" },
	{ "major 2", m_major, true, -EPROTONOSUPPORT, "version 2.0" },
	{ "major 0", m_major0, true, -EPROTONOSUPPORT, "version 0.0" },
	{ "flags", m_flags, true, -EOPNOTSUPP, "unknown bits 0x1" },
	{ "short header", m_short, false, -EBADMSG, "header alone" },
	{ "truncated", m_trunc, false, -EBADMSG, "truncated" },
	{ "one record less", m_trunc_rec, false, -EBADMSG, "5 chunks need" },
	{ "trailing", m_trailing, false, -EBADMSG, "8 trailing bytes" },
	{ "flipped bit", m_flip, false, -EBADMSG, "SHA-256 mismatch" },
	{ "flipped trailer", m_flip_trailer, false, -EBADMSG,
	  "SHA-256 mismatch" },
	{ "chunk shift 15", m_shift_lo, true, -EINVAL, "chunk shift 15" },
	{ "chunk shift 27", m_shift_hi, true, -EINVAL, "chunk shift 27" },
	{ "size 0", m_size0, true, -EINVAL, "source size 0" },
	{ "count vs size", m_count, true, -EINVAL, "chunk count 4" },
	{ "size vs count", m_size_big, true, -EINVAL, "does not match size" },
	{ "too many chunks", m_huge, true, -EINVAL, "more than 16777216" },
	{ "ptable", m_ptable, true, -EINVAL, "partition table type 3" },
	{ "level 23", m_level, true, -EINVAL, "zstd level 23" },
	{ "level -8", m_level_neg, true, -EINVAL, "zstd level -8" },
	{ "empty name", m_name_empty, true, -EINVAL, "name \"\"" },
	{ "dot name", m_name_dot, true, -EINVAL, "not valid" },
	{ "slash name", m_name_slash, true, -EINVAL, "not valid" },
	{ "name padding", m_name_pad, true, -EINVAL, "NUL-padded" },
	{ "record flags", m_rec_flags, true, -EOPNOTSUPP, "chunk 2: flags" },
	{ "overlap", m_overlap, true, -ERANGE, "chunk 3: offset 1 overlaps" },
	{ "gap", m_gap, true, -ERANGE, "chunk 2: offset" },
	{ "hole offset", m_hole_offset, true, -ERANGE, "chunk 1: offset 0" },
	{ "hole hash", m_hole_hash, true, -EINVAL, "hole with nonzero" },
	{ "clen too big", m_clen_big, true, -EINVAL,
	  "chunk 4: length 2000 too big for a 1000-byte chunk" },
	{ "past data end", m_past_end, true, -ERANGE, "past the data size 10" },
	{ "data size", m_data_size, true, -ERANGE, "frames add up to" },
};

static void reseal(uint8_t *b, size_t len)
{
	EVP_Digest(b, len - XBI_TRAILER_LEN, b + len - XBI_TRAILER_LEN, NULL,
		   EVP_sha256(), NULL);
}

static void test_bad_manifests(void **state)
{
	struct image_manifest m;
	struct image_err e;
	uint8_t *disk, *good, *b;
	size_t size, good_len, len, k;
	int err;

	(void)state;
	disk = sample_disk(&size);
	write_image(disk, size, CHUNK, 1);
	good = read_manifest(&good_len);
	assert_int_equal(image_manifest_parse(good, good_len, &m, &e), 0);
	b = malloc(good_len + 64);
	for (k = 0; k < sizeof(bad_manifests) / sizeof(bad_manifests[0]); k++) {
		const struct bad_manifest *t = &bad_manifests[k];

		memset(b, 0, good_len + 64);
		memcpy(b, good, good_len);
		len = good_len;
		t->mutate(b, &len);
		if (t->reseal)
			reseal(b, len);
		e.msg[0] = '\0';
		err = image_manifest_parse(b, len, &m, &e);
		if (err != t->err || !strstr(e.msg, t->msg))
			fail_msg("%s: got %d \"%s\", want %d \"%s\"", t->what,
				 err, e.msg, t->err, t->msg);
	}

	/* what a reader may ignore: reserved bytes, a newer minor version,
   * and a name using all 64 bytes */
	void (*fine[])(uint8_t *, size_t *) = { m_reserved, m_minor,
						m_name_full };
	for (k = 0; k < 3; k++) {
		memcpy(b, good, good_len);
		len = good_len;
		fine[k](b, &len);
		reseal(b, len);
		assert_int_equal(image_manifest_parse(b, len, &m, &e), 0);
	}
	free(b);
	free(good);
	free(disk);
}

/* --- corrupt chunks ------------------------------------------------------ */

static void test_bad_chunks(void **state)
{
	struct image_manifest m;
	struct image_chunk c2;
	struct image_err e;
	uint8_t *disk, *man, *data, *comp, *raw;
	size_t size, mlen;
	struct stat st;
	int fd;

	(void)state;
	disk = sample_disk(&size);
	write_image(disk, size, CHUNK, 1);
	man = read_manifest(&mlen);
	assert_int_equal(image_manifest_parse(man, mlen, &m, &e), 0);
	fd = image_data_open(dirfd_, &m, &e);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	data = malloc(st.st_size);
	assert_int_equal(pread(fd, data, st.st_size, 0), st.st_size);
	close(fd);
	comp = malloc(2 * ZSTD_compressBound(CHUNK));
	raw = malloc(CHUNK);
	image_chunk_get(&m, 2, &c2);

	assert_int_equal(image_chunk_decode(&m, 5, NULL, 0, raw, 0, &e),
			 -EINVAL);
	assert_non_null(strstr(e.msg, "chunk 5 out of range"));
	/* a hole: no bytes, zeros out; bytes for a hole are refused */
	memset(raw, 0xff, CHUNK);
	assert_int_equal(image_chunk_decode(&m, 1, NULL, 0, raw, 0, &e), 0);
	assert_true(raw[0] == 0 && raw[CHUNK - 1] == 0);
	assert_int_equal(image_chunk_decode(&m, 1, data, 5, raw, 0, &e),
			 -EBADMSG);
	assert_non_null(strstr(e.msg, "manifest says 0"));
	/* the wrong length */
	assert_int_equal(image_chunk_decode(&m, 2, data + c2.offset,
					    c2.clen - 1, raw, 0, &e),
			 -EBADMSG);
	assert_non_null(strstr(e.msg, "chunk 2:"));
	/* a flipped byte in the frame */
	memcpy(comp, data + c2.offset, c2.clen);
	comp[c2.clen / 2] ^= 0x40;
	assert_int_equal(image_chunk_decode(&m, 2, comp, c2.clen, raw, 0, &e),
			 -EBADMSG);
	assert_non_null(strstr(e.msg, "chunk 2:"));
	/* two frames in one chunk */
	memcpy(comp, data + c2.offset, c2.clen);
	{
		size_t half = ZSTD_compress(comp, ZSTD_compressBound(CHUNK),
					    disk + 2 * CHUNK, CHUNK / 2, 1);
		uint8_t *r2 = (uint8_t *)m.records + 2 * XBI_REC_LEN;

		memcpy(comp + half, comp, half);
		put32(r2 + XBI_R_CLEN, 2 * half);
		assert_int_equal(image_chunk_decode(&m, 2, comp, 2 * half, raw,
						    0, &e),
				 -EBADMSG);
		assert_non_null(strstr(e.msg, "not exactly one zstd frame"));
		/* one frame, too short: 32 KiB of a 64 KiB chunk */
		put32(r2 + XBI_R_CLEN, half);
		assert_int_equal(image_chunk_decode(&m, 2, comp, half, raw, 0,
						    &e),
				 -EBADMSG);
		assert_non_null(strstr(
			e.msg, "decompressed to 32768 bytes, expected 65536"));
		/* one frame, too long: the 1000-byte last chunk */
		put32(rec(man, 4) + XBI_R_CLEN, c2.clen);
		assert_int_equal(image_chunk_decode(&m, 4, data + c2.offset,
						    c2.clen, raw, 0, &e),
				 -EBADMSG);
		assert_non_null(strstr(e.msg, "more than 1000 bytes"));
		put32(r2 + XBI_R_CLEN, c2.clen);
	}
	/* hashes: each one checked, the fast one first */
	rec(man, 2)[XBI_R_XXH3] ^= 1;
	assert_int_equal(image_chunk_decode(&m, 2, data + c2.offset, c2.clen,
					    raw, 0, &e),
			 -EBADMSG);
	assert_string_equal(e.msg, "chunk 2: XXH3-64 mismatch");
	rec(man, 2)[XBI_R_XXH3] ^= 1;
	rec(man, 2)[XBI_R_SHA256 + 31] ^= 1;
	assert_int_equal(image_chunk_decode(&m, 2, data + c2.offset, c2.clen,
					    raw, 0, &e),
			 -EBADMSG);
	assert_string_equal(e.msg, "chunk 2: SHA-256 mismatch");
	/* the fast check does not look at SHA-256 */
	assert_int_equal(image_chunk_decode(&m, 2, data + c2.offset, c2.clen,
					    raw, IMAGE_CHECK_FAST, &e),
			 0);
	rec(man, 2)[XBI_R_SHA256 + 31] ^= 1;
	/* read-back checks */
	assert_int_equal(
		image_chunk_check(&m, 2, disk + 2 * CHUNK, CHUNK, 0, &e), 0);
	raw[0] = 1;
	assert_int_equal(image_chunk_check(&m, 1, raw, CHUNK, 0, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "hole holds data"));
	assert_int_equal(image_chunk_check(&m, 4, raw, CHUNK, 0, &e), -EBADMSG);
	free(raw);
	free(comp);
	free(data);
	free(man);
	free(disk);
}

/* The whole-image hash catches what per-chunk hashes cannot: a manifest
 * whose records were all rewritten consistently but whose image hash was
 * not. */
static void test_verify_image_hash(void **state)
{
	struct image_manifest m;
	struct image_err e;
	uint8_t *disk, *man;
	size_t size, len;
	int fd;

	(void)state;
	disk = sample_disk(&size);
	write_image(disk, size, CHUNK, 1);
	man = read_manifest(&len);
	man[XBI_H_SHA256] ^= 1;
	reseal(man, len);
	assert_int_equal(image_manifest_parse(man, len, &m, &e), 0);
	fd = image_data_open(dirfd_, &m, &e);
	assert_true(fd >= 0);
	assert_int_equal(image_verify_fd(&m, fd, &e), -EBADMSG);
	assert_string_equal(e.msg, "image SHA-256 mismatch");
	close(fd);
	/* a data file of the wrong length */
	m.data_size++;
	assert_int_equal(image_data_open(dirfd_, &m, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "data file is"));
	free(man);
	free(disk);
}

static int setup(void **state)
{
	(void)state;
	if (tmpdir_make(tmpdir))
		return -1;
	dirfd_ = open(tmpdir, O_RDONLY | O_DIRECTORY);
	return dirfd_ < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	close(dirfd_);
	return tmpdir_remove(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_roundtrip_threads_and_sizes),
		cmocka_unit_test(test_all_holes),
		cmocka_unit_test(test_put_frame_and_skips),
		cmocka_unit_test(test_encoder_capture),
		cmocka_unit_test(test_writer_refusals),
		cmocka_unit_test(test_writer_write_error),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ptable),
		cmocka_unit_test(test_bad_manifests),
		cmocka_unit_test(test_bad_chunks),
		cmocka_unit_test(test_verify_image_hash),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
