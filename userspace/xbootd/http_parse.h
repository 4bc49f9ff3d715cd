/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP/1.x request head parser of the boot file server: pure (no I/O),
 * so the unit tests and the fuzzer drive it with bytes. It accepts what a
 * boot client sends (GET or HEAD, no body) and what an imaging agent sends
 * (PUT and POST with a Content-Length body, include/xboot/image_http.h),
 * and turns everything else into the status to answer with. The path it
 * returns is percent-decoded and already free of "..", NUL and control
 * characters. Bodies are framed by Content-Length only: no chunked
 * transfer coding, so there is one way to find a body's end.
 */
#ifndef XBOOTD_HTTP_PARSE_H
#define XBOOTD_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX 8192 /* whole request head: larger -> 431 */
#define HTTP_LINE_MAX 2048 /* request line: longer -> 414 */
#define HTTP_PATH_MAX 1024
/*
 * The largest body: one image chunk frame (image_http.h), a chunk of at
 * most 64 MiB (XBI_CHUNK_SHIFT_MAX) whose zstd frame may be up to
 * ZSTD_compressBound() = len + len / 256 (+ a little below 128 KiB)
 * bytes: 64 MiB + 256 KiB; 512 KiB of slack. Larger -> 413.
 */
#define HTTP_BODY_MAX ((64ULL << 20) + (512ULL << 10))
#define HTTP_AUTH_MAX 128 /* a Bearer credential's characters, at most */

enum http_method {
	HTTP_M_NONE = 0,
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_PUT,
	HTTP_M_POST,
};

enum http_range_kind {
	HTTP_RANGE_NONE = 0, /* no Range, or one we ignore (malformed, multi) */
	HTTP_RANGE_FROM_TO,  /* bytes=a-b */
	HTTP_RANGE_FROM,     /* bytes=a- */
	HTTP_RANGE_SUFFIX,   /* bytes=-n: the last n bytes */
};

struct http_range {
	enum http_range_kind kind;
	uint64_t first, last; /* SUFFIX: first is n */
};

struct http_request {
	enum http_method method;
	int minor;            /* HTTP/1.minor */
	int keep_alive;       /* the connection stays open after the answer */
	size_t head_len;      /* bytes of the buffer the head took */
	uint64_t content_length; /* PUT, POST: the body's (<= HTTP_BODY_MAX) */
	int expect_continue;  /* "Expect: 100-continue" */
	int has_raw_length;   /* X-Xboot-Raw-Length was given */
	uint64_t raw_length;
	struct http_range range;
	/* "Authorization: Bearer X": X ([!-~] only), "" when absent or of
	 * another scheme. A secret: wipe the request after use. */
	char bearer[HTTP_AUTH_MAX + 1];
	char path[HTTP_PATH_MAX]; /* decoded, query cut off */
};

/*
 * Parse the request head at the start of buf. Returns 0 when the head is
 * not complete yet (read more), 200 when req is filled in, or the HTTP
 * status to answer an unusable request with (400, 405, 411: a PUT or POST
 * without Content-Length, 413: a body over HTTP_BODY_MAX, 414, 417: an
 * Expect other than 100-continue, 431, 505); then
 * the connection is closed after the answer. req->method is set as soon
 * as it is known, so a HEAD gets no body even in an error answer.
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* The value of a Range header: 0 with r filled in, -EINVAL for anything
 * else than one "bytes=a-b", "bytes=a-" or "bytes=-n" (several ranges
 * included: -EOPNOTSUPP, they get the whole file). */
int http_parse_range(const char *v, size_t len, struct http_range *r);

/*
 * Apply a range to a file of size bytes: 200 (the whole file: no range),
 * 206 with *off and *count set, or 416 (nothing of it is in the file).
 */
int http_range_resolve(const struct http_range *r, uint64_t size,
		       uint64_t *off, uint64_t *count);

/* Percent-decode src (len bytes) into dst, refuse NUL and control
 * characters (also when encoded) and any ".." segment. 0 or -EINVAL. */
int http_decode_path(const char *src, size_t len, char *dst, size_t dstsz);

#endif /* XBOOTD_HTTP_PARSE_H */
