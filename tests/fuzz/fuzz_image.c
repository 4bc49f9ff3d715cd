// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the image reader (include/xboot/image.h). The input
 * is one byte of mode, a big-endian u32 manifest length, the manifest, and
 * the data file. Mode bit 0 recomputes the manifest's trailer SHA-256 first,
 * so mutations reach the field and record checks behind it instead of all
 * dying at the hash. A manifest the parser accepts must be self-consistent
 * (the records tile the data exactly), and each chunk whose frame is in the
 * data goes through image_chunk_decode(), whose output must then pass
 * image_chunk_check(): the two must agree. Every refusal carries a message.
 * The codec is linked in from userspace/lib (the Makefile adds LIB_SRC).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "image_fmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAW_MAX (1U << 20) /* larger chunks are parsed, not decoded */
#define DECODE_MAX 64 /* chunks decoded per input */

static uint8_t raw[RAW_MAX];

static void check_manifest(const struct image_manifest *m)
{
	struct image_chunk c;
	uint64_t end = 0;
	uint32_t i, holes = 0;

	if (m->n_chunks != (m->meta.size + m->chunk_size - 1) / m->chunk_size)
		abort();
	for (i = 0; i < m->n_chunks; i++) {
		image_chunk_get(m, i, &c);
		if (c.offset != end || !c.len || c.len > m->chunk_size)
			abort();
		end += c.clen;
		holes += !c.clen;
	}
	if (end != m->data_size || holes != m->n_holes ||
	    !image_name_valid(m->meta.name))
		abort();
}

static void check_chunks(const struct image_manifest *m, const uint8_t *d,
			 size_t dlen)
{
	struct image_chunk c;
	struct image_err e;
	uint32_t i;
	int err;

	for (i = 0; i < m->n_chunks && i < DECODE_MAX; i++) {
		image_chunk_get(m, i, &c);
		if (c.len > RAW_MAX || c.offset > dlen ||
		    c.clen > dlen - c.offset)
			continue;
		e.msg[0] = '\0';
		err = image_chunk_decode(m, i, d + c.offset, c.clen, raw, 0,
					 &e);
		if (err && !e.msg[0])
			abort();
		if (!err && image_chunk_check(m, i, raw, c.len, 0, &e))
			abort();
	}
}

/* Manifest and data in buffers of their exact size, so that ASan sees any
 * read past either. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_manifest m;
	struct image_err e;
	uint8_t *man, *dat;
	size_t mlen, dlen;
	int err;

	if (size < 5)
		return 0;
	mlen = (size_t)data[1] << 24 | data[2] << 16 | data[3] << 8 | data[4];
	if (mlen > size - 5)
		mlen = size - 5;
	dlen = size - 5 - mlen;
	man = malloc(mlen ? mlen : 1);
	dat = malloc(dlen ? dlen : 1);
	if (!man || !dat)
		goto out;
	memcpy(man, data + 5, mlen);
	memcpy(dat, data + 5 + mlen, dlen);
	if ((data[0] & 1) && mlen >= XBI_TRAILER_LEN)
		EVP_Digest(man, mlen - XBI_TRAILER_LEN,
			   man + mlen - XBI_TRAILER_LEN, NULL, EVP_sha256(),
			   NULL);
	e.msg[0] = '\0';
	err = image_manifest_parse(man, mlen, &m, &e);
	if (err) {
		if (!e.msg[0] || err >= 0)
			abort();
	} else {
		check_manifest(&m);
		check_chunks(&m, dat, dlen);
	}
out:
	free(man);
	free(dat);
	return 0;
}
