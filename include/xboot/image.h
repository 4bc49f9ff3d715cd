/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The xboot disk image format. This header is the specification; xbootd,
 * xbootctl and xboot-agent read and write images only through the one codec
 * in userspace/lib/image_fmt.{c,h}. There is no other copy.
 *
 * WHY THIS SHAPE
 *   A disk is cut into fixed-size chunks, each compressed on its own into one
 *   zstd frame with its own hashes. A deploy can fetch any chunk by itself
 *   (an HTTP Range on chunk boundaries), check it before writing a byte of
 *   it, and resume after the last good one; all-zero chunks (most of a fresh
 *   disk) cost nothing to store or send.
 *
 * ON DISK
 *   An image is a directory NAME/ holding two files:
 *     data      the compressed chunks, one zstd frame each, back to back in
 *               chunk order, nothing between them. Holes have no bytes.
 *     manifest  the header, one record per chunk, and a trailer (below).
 *   The image store (userspace/xbootd/image_store.c) keeps images under
 *   one directory: IMAGE_DIR/NAME/. A name is [A-Za-z0-9._-]{1,64} and does
 *   not start with '.': names starting with '.' are the store's own
 *   (staging directories of images being written or removed), never listed.
 *
 * NAMES
 *   XBI_NAME_MAX characters at most, from [A-Za-z0-9._-], not starting with
 *   '.'. The empty name is refused.
 *
 * MANIFEST
 *   Every integer is big-endian; every field has a fixed place.
 *
 *   Header, XBI_HDR_LEN (256) bytes:
 *     0    8  magic         XBI_MAGIC, "XBOOTIMG"
 *     8    2  major         format major version: XBI_VERSION_MAJOR
 *     10   2  minor         format minor version: XBI_VERSION_MINOR
 *     12   4  flags         XBI_F_*; none defined yet
 *     16   8  size          source size in bytes, 1..XBI_SIZE_MAX
 *     24   8  n_chunks      ceil(size / chunk size), 1..XBI_CHUNKS_MAX
 *     32   8  data_size     length of the data file: the sum of the
 *                           compressed lengths of all chunks
 *     40   8  capture_time  seconds since the epoch (UTC), signed
 *     48   1  chunk_shift   chunk size is 1 << chunk_shift bytes,
 *                           XBI_CHUNK_SHIFT_MIN..XBI_CHUNK_SHIFT_MAX
 *                           (64 KiB .. 64 MiB; writers default to 4 MiB)
 *     49   1  ptable        enum xbi_ptable, detected from the first
 *                           sectors of the source at capture or import
 *     50   1  level         zstd level the writer used, signed,
 *                           XBI_LEVEL_MIN..XBI_LEVEL_MAX; informational
 *     51   1  reserved
 *     52   6  mac           the source machine's MAC; all zero: unknown
 *                           (an import from a file)
 *     58   6  reserved
 *     64  32  sha256        SHA-256 of the whole source: the `size` raw
 *                           bytes of the disk, holes included as zeros
 *     96  64  name          the image name at capture, NUL-padded (a name
 *                           of 64 characters has no NUL)
 *     160 96  reserved
 *   Reserved bytes are written as zero. A reader ignores them, so that a
 *   later minor version may give them a meaning an older reader can skip;
 *   anything an older reader must not ignore takes a flags bit or a new
 *   major version.
 *
 *   Chunk records, n_chunks of them, XBI_REC_LEN (56) bytes each, in chunk
 *   order; chunk i covers bytes [i << chunk_shift, min(size, (i + 1) <<
 *   chunk_shift)) of the source, so only the last chunk may be short:
 *     0    8  offset        where the chunk's frame starts in the data file
 *     8    4  clen          the frame's length; 0: a hole (all zeros)
 *     12   4  flags         XBI_CF_*; none defined yet
 *     16   8  xxh3          XXH3-64 (seed 0) of the raw chunk: the fast
 *                           check (a read-back, a re-sent chunk)
 *     24  32  sha256        SHA-256 of the raw chunk: the check before a
 *                           chunk is written to a disk
 *   Frames are contiguous: chunk i's offset is the end of the last data
 *   chunk before it (0 for the first); a hole's offset is where the next
 *   frame would start, and its clen, xxh3 and sha256 are all zero (the
 *   content is implied). A frame is at most ZSTD_compressBound(raw chunk
 *   length) bytes, and holds exactly one zstd frame that decompresses to
 *   exactly the raw chunk length.
 *
 *   Trailer, XBI_TRAILER_LEN (32) bytes:
 *     0   32  SHA-256 of every manifest byte before it.
 *   The manifest is exactly XBI_HDR_LEN + n_chunks * XBI_REC_LEN +
 *   XBI_TRAILER_LEN bytes long.
 *
 * VERSIONS
 *   A reader accepts any minor version of the major version it knows and
 *   refuses another major version (newer or older) with -EPROTONOSUPPORT.
 *   Fields and records are only ever appended in reserved space, never
 *   moved or renumbered.
 *
 * READER ERRORS (a negative errno, and a message naming the field or chunk)
 *   Manifest, in the order they are checked:
 *     -EBADMSG          shorter than the header ("truncated"); bad magic
 *     -EPROTONOSUPPORT  major version not XBI_VERSION_MAJOR
 *     -EOPNOTSUPP       a flags bit outside XBI_F_ALL
 *     -EINVAL           chunk_shift out of range; size 0 or over
 *                       XBI_SIZE_MAX; n_chunks not ceil(size / chunk
 *                       size); n_chunks over XBI_CHUNKS_MAX
 *     -EBADMSG          length not the one n_chunks gives ("truncated"
 *                       when short, "trailing bytes" when long); trailer
 *                       SHA-256 mismatch ("the manifest is corrupt")
 *     -EINVAL           ptable unknown; level out of range; name not
 *                       NUL-padded or not a valid name
 *   then for each chunk record in order:
 *     -EOPNOTSUPP       a record flags bit outside XBI_CF_ALL
 *     -ERANGE           offset before the end of the previous frame
 *                       ("overlaps") or after it ("gap")
 *     -EINVAL           a hole whose hashes are not zero; clen over
 *                       ZSTD_compressBound(raw chunk length) ("too big")
 *     -ERANGE           the frame ends past data_size
 *   and last:
 *     -ERANGE           data_size is not the sum of all clen
 *   Chunk, decoded against its record (image_chunk_decode()):
 *     -EINVAL           index out of range
 *     -EBADMSG          length not the record's clen; not exactly one zstd
 *                       frame; zstd refuses the frame ("corrupt frame");
 *                       decompresses to more or fewer bytes than the raw
 *                       chunk length; XXH3-64 mismatch; SHA-256 mismatch
 *   Image, in the store:
 *     -EBADMSG          the data file's length is not data_size; a
 *                       whole-image verify finds the sha256 field wrong
 *     -EINVAL           the manifest names another image (a directory
 *                       renamed by hand)
 *
 * LIMITS
 *   XBI_CHUNKS_MAX chunks (16 Mi: 64 TiB at 4 MiB chunks, 1 TiB at 64 KiB),
 *   so the largest manifest is about 940 MB and a reader may bound what it
 *   reads before parsing.
 */
#ifndef _XBOOT_IMAGE_H
#define _XBOOT_IMAGE_H

#define XBI_MAGIC "XBOOTIMG"
#define XBI_MAGIC_LEN 8
#define XBI_VERSION_MAJOR 1
#define XBI_VERSION_MINOR 0

#define XBI_HDR_LEN 256
#define XBI_REC_LEN 56
#define XBI_TRAILER_LEN 32
#define XBI_SHA256_LEN 32
#define XBI_MAC_LEN 6
#define XBI_NAME_MAX 64

#define XBI_CHUNK_SHIFT_MIN 16 /* 64 KiB */
#define XBI_CHUNK_SHIFT_MAX 26 /* 64 MiB */
#define XBI_CHUNK_SHIFT_DEFAULT 22 /* 4 MiB */
#define XBI_CHUNKS_MAX (1U << 24)
#define XBI_SIZE_MAX (1ULL << 62)
#define XBI_LEVEL_MIN (-7)
#define XBI_LEVEL_MAX 22

#define XBI_MANIFEST_LEN(n_chunks)                                  \
	(XBI_HDR_LEN + (unsigned long long)(n_chunks)*XBI_REC_LEN + \
	 XBI_TRAILER_LEN)

/* Header field offsets. */
#define XBI_H_MAGIC 0
#define XBI_H_MAJOR 8
#define XBI_H_MINOR 10
#define XBI_H_FLAGS 12
#define XBI_H_SIZE 16
#define XBI_H_N_CHUNKS 24
#define XBI_H_DATA_SIZE 32
#define XBI_H_CAPTURE_TIME 40
#define XBI_H_CHUNK_SHIFT 48
#define XBI_H_PTABLE 49
#define XBI_H_LEVEL 50
#define XBI_H_MAC 52
#define XBI_H_SHA256 64
#define XBI_H_NAME 96

/* Chunk record field offsets. */
#define XBI_R_OFFSET 0
#define XBI_R_CLEN 8
#define XBI_R_FLAGS 12
#define XBI_R_XXH3 16
#define XBI_R_SHA256 24

/* Header flags: none yet. */
#define XBI_F_ALL 0U
/* Chunk record flags: none yet. */
#define XBI_CF_ALL 0U

/* File names inside an image directory. */
#define XBI_FILE_DATA "data"
#define XBI_FILE_MANIFEST "manifest"

enum xbi_ptable {
	XBI_PTABLE_NONE, /* neither below: a bare filesystem, or empty */
	XBI_PTABLE_MBR, /* 0x55aa and sane partition entries */
	XBI_PTABLE_GPT, /* "EFI PART" at LBA 1 (512 or 4096 bytes) */
	__XBI_PTABLE_LAST
};

#endif /* _XBOOT_IMAGE_H */
