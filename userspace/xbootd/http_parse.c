// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP/1.x request heads (RFC 9112), strictly: a boot client sends a
 * request line and a few headers, so anything ambiguous (folded lines, a
 * space before the colon, two Content-Lengths, a body on GET, any
 * Transfer-Encoding) is refused rather than guessed at - that is where
 * request smuggling lives. Only PUT and POST have bodies, always framed
 * by one Content-Length.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "http_parse.h"

/* RFC 9110 tchar: the characters of a method or a header name. */
static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* The end of the line at p (past its LF), the line's length without CR LF
 * in *llen; NULL when no LF is in the buffer yet. */
static const char *line_end(const char *p, const char *end, size_t *llen)
{
	const char *lf = memchr(p, '\n', end - p);

	if (!lf)
		return NULL;
	*llen = lf - p;
	if (*llen && lf[-1] == '\r')
		(*llen)--;
	return lf + 1;
}

/* A ".." segment anywhere, after decoding. */
static bool has_dotdot(const char *path)
{
	const char *seg = path;

	while (seg) {
		if (seg[0] == '.' && seg[1] == '.' &&
		    (seg[2] == '/' || !seg[2]))
			return true;
		seg = strchr(seg, '/');
		if (seg)
			seg++;
	}
	return false;
}

int http_decode_path(const char *src, size_t len, char *dst, size_t dstsz)
{
	size_t i, n = 0;
	int hi, lo;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = src[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -EINVAL;
			hi = hex_digit(src[i + 1]);
			lo = hex_digit(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = hi << 4 | lo;
			i += 2;
		}
		if (is_ctl(c) || n + 1 >= dstsz)
			return -EINVAL;
		dst[n++] = c;
	}
	dst[n] = '\0';
	if (dst[0] != '/' || has_dotdot(dst))
		return -EINVAL;
	return 0;
}

static int parse_u64(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	if (s == end || *s < '0' || *s > '9')
		return -EINVAL;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (*v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		*v = *v * 10 + (*s - '0');
	}
	*p = s;
	return 0;
}

int http_parse_range(const char *v, size_t len, struct http_range *r)
{
	const char *p = v, *end = v + len;

	memset(r, 0, sizeof(*r));
	if (len < 6 || strncasecmp(v, "bytes=", 6))
		return -EINVAL;
	p += 6;
	if (memchr(p, ',', end - p))
		return -EOPNOTSUPP;
	if (p < end && *p == '-') {
		p++;
		if (parse_u64(&p, end, &r->first) || p != end || !r->first)
			return -EINVAL;
		r->kind = HTTP_RANGE_SUFFIX;
		return 0;
	}
	if (parse_u64(&p, end, &r->first) || p == end || *p++ != '-')
		return -EINVAL;
	if (p == end) {
		r->kind = HTTP_RANGE_FROM;
		return 0;
	}
	if (parse_u64(&p, end, &r->last) || p != end || r->last < r->first)
		return -EINVAL;
	r->kind = HTTP_RANGE_FROM_TO;
	return 0;
}

int http_range_resolve(const struct http_range *r, uint64_t size,
		       uint64_t *off, uint64_t *count)
{
	*off = 0;
	*count = size;
	switch (r->kind) {
	case HTTP_RANGE_NONE:
		return 200;
	case HTTP_RANGE_SUFFIX:
		if (!size)
			return 416;
		*count = r->first < size ? r->first : size;
		*off = size - *count;
		return 206;
	case HTTP_RANGE_FROM:
	case HTTP_RANGE_FROM_TO:
		if (r->first >= size)
			return 416;
		*off = r->first;
		*count = size - r->first;
		if (r->kind == HTTP_RANGE_FROM_TO && r->last < size - 1)
			*count = r->last - r->first + 1;
		return 206;
	}
	return 200;
}

static int parse_method(const char *p, size_t n, struct http_request *req)
{
	size_t i;

	if (!n)
		return 400;
	for (i = 0; i < n; i++)
		if (!is_tchar(p[i]))
			return 400;
	if (n == 3 && !memcmp(p, "GET", 3))
		req->method = HTTP_M_GET;
	else if (n == 4 && !memcmp(p, "HEAD", 4))
		req->method = HTTP_M_HEAD;
	else if (n == 3 && !memcmp(p, "PUT", 3))
		req->method = HTTP_M_PUT;
	else if (n == 4 && !memcmp(p, "POST", 4))
		req->method = HTTP_M_POST;
	else
		return 405;
	return 200;
}

/* origin-form "/path?query", or absolute-form "http://host/path?query" */
static int parse_target(const char *p, size_t n, struct http_request *req)
{
	const char *q;

	if (n >= 7 && !strncasecmp(p, "http://", 7)) {
		q = memchr(p + 7, '/', n - 7);
		if (!q)
			return 400;
		n -= q - p;
		p = q;
	}
	if (!n || *p != '/')
		return 400;
	q = memchr(p, '?', n);
	if (q)
		n = q - p;
	q = memchr(p, '#', n);
	if (q)
		n = q - p;
	if (n >= sizeof(req->path))
		return 414;
	return http_decode_path(p, n, req->path, sizeof(req->path)) ? 400 : 200;
}

static int parse_version(const char *p, size_t n, struct http_request *req)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) || p[6] != '.' || p[5] < '0' ||
	    p[5] > '9' || p[7] < '0' || p[7] > '9')
		return 400;
	if (p[5] != '1')
		return 505;
	req->minor = p[7] - '0';
	req->keep_alive = req->minor >= 1;
	return 200;
}

static int parse_request_line(const char *p, size_t n,
			      struct http_request *req)
{
	const char *sp1, *sp2, *end = p + n;
	size_t i;
	int st;

	for (i = 0; i < n; i++)
		if (is_ctl(p[i]))
			return 400;
	sp1 = memchr(p, ' ', n);
	if (!sp1)
		return 400;
	st = parse_method(p, sp1 - p, req);
	if (st == 400)
		return st;
	sp2 = memchr(sp1 + 1, ' ', end - sp1 - 1);
	if (!sp2 || memchr(sp2 + 1, ' ', end - sp2 - 1))
		return 400;
	i = parse_version(sp2 + 1, end - sp2 - 1, req);
	if (i != 200)
		return i;
	if (st != 200)
		return st;
	return parse_target(sp1 + 1, sp2 - sp1 - 1, req);
}

/* Does the comma-separated list v (n bytes) hold the token tok? */
static bool has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0, s;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (i - s == tl && !strncasecmp(v + s, tok, tl))
			return true;
	}
	return false;
}

struct head_seen {
	int host, content_length, range, auth, raw_length, expect;
};

static bool has_body(const struct http_request *req)
{
	return req->method == HTTP_M_PUT || req->method == HTTP_M_POST;
}

/* A decimal length, digits only: "+5", " 5" (after trimming) or "5x"
 * would be read differently by someone else on the path. */
static int parse_length(const char *v, size_t vl, uint64_t *out)
{
	const char *p = v;

	if (!vl || vl > 20 || parse_u64(&p, v + vl, out) || p != v + vl)
		return -EINVAL;
	return 0;
}

/* "Bearer TOKEN": the token, when it is printable ASCII without spaces. */
static void parse_bearer(const char *v, size_t vl, struct http_request *req)
{
	size_t i;

	if (vl <= 7 || strncasecmp(v, "Bearer ", 7))
		return;
	v += 7;
	vl -= 7;
	while (vl && *v == ' ') {
		v++;
		vl--;
	}
	if (!vl || vl > HTTP_AUTH_MAX)
		return;
	for (i = 0; i < vl; i++)
		if (v[i] <= ' ' || v[i] > '~')
			return;
	memcpy(req->bearer, v, vl);
	req->bearer[vl] = '\0';
}

static int header_value(const char *name, size_t nl, const char *v,
			size_t vl, struct http_request *req,
			struct head_seen *seen)
{
	struct http_range r;

#define IS(s) (nl == sizeof(s) - 1 && !strncasecmp(name, s, nl))
	if (IS("host")) {
		if (seen->host++)
			return 400;
	} else if (IS("content-length")) {
		/* no body on GET or HEAD: a length other than 0 is refused */
		if (seen->content_length++ ||
		    parse_length(v, vl, &req->content_length))
			return 400;
		if (!has_body(req) && req->content_length)
			return 400;
		if (req->content_length > HTTP_BODY_MAX)
			return 413;
	} else if (IS("authorization")) {
		if (seen->auth++)
			return 400;
		parse_bearer(v, vl, req);
	} else if (IS("x-xboot-raw-length")) {
		if (seen->raw_length++ ||
		    parse_length(v, vl, &req->raw_length))
			return 400;
		req->has_raw_length = 1;
	} else if (IS("expect")) {
		if (seen->expect++ || vl != 12 ||
		    strncasecmp(v, "100-continue", 12))
			return 417;
		req->expect_continue = has_body(req);
	} else if (IS("transfer-encoding")) {
		return 400;
	} else if (IS("connection")) {
		if (has_token(v, vl, "close"))
			req->keep_alive = 0;
		else if (has_token(v, vl, "keep-alive"))
			req->keep_alive = 1;
	} else if (IS("range")) {
		/* RFC 9110 14.2: a Range that does not parse is ignored,
		 * and so are several (the whole file is the answer). */
		if (!seen->range++ && !http_parse_range(v, vl, &r))
			req->range = r;
		else
			req->range.kind = HTTP_RANGE_NONE;
	}
#undef IS
	return 200;
}

static int parse_header(const char *p, size_t n, struct http_request *req,
			struct head_seen *seen)
{
	const char *colon, *v, *e = p + n;
	size_t i;

	if (p[0] == ' ' || p[0] == '\t')
		return 400; /* obsolete line folding */
	colon = memchr(p, ':', n);
	if (!colon || colon == p)
		return 400;
	for (i = 0; p + i < colon; i++)
		if (!is_tchar(p[i]))
			return 400; /* includes a space before the colon */
	for (v = colon + 1; v < e; v++)
		if (is_ctl(*v) && *v != '\t')
			return 400;
	v = colon + 1;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return header_value(p, colon - p, v, e - v, req, seen);
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	const char *p = buf, *end = buf + len, *next;
	struct head_seen seen = { 0 };
	size_t llen;
	int st;

	memset(req, 0, sizeof(*req));
	if (len > HTTP_HEAD_MAX)
		end = buf + HTTP_HEAD_MAX;
	/* RFC 9112 2.2: empty lines before a request line are skipped */
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	next = line_end(p, end, &llen);
	if (!next)
		return end - p >= HTTP_LINE_MAX ? 414 :
		       len >= HTTP_HEAD_MAX ? 431 : 0;
	if (llen >= HTTP_LINE_MAX)
		return 414;
	st = parse_request_line(p, llen, req);
	if (st != 200)
		return st;
	for (p = next;; p = next) {
		next = line_end(p, end, &llen);
		if (!next)
			return len >= HTTP_HEAD_MAX ? 431 : 0;
		if (!llen)
			break;
		st = parse_header(p, llen, req, &seen);
		if (st != 200)
			return st;
	}
	if (req->minor >= 1 && seen.host != 1)
		return 400;
	if (has_body(req) && !seen.content_length)
		return 411;
	req->head_len = next - buf;
	return 200;
}
