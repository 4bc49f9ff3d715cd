// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the HTTP request head parser: any bytes a client
 * may send, fed as one buffer and again in two pieces as they may arrive
 * over TCP (the answer for the whole must not depend on the split), and a
 * parsed request's range resolved against a few file sizes. The iPXE
 * renderer gets the same bytes as a template.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.c"
#include "ipxe_script.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const char *buf, size_t size)
{
	static const uint64_t sizes[] = { 0, 1, 4096, UINT64_MAX };
	struct http_request req, again;
	uint64_t off, n;
	size_t i;
	int st, st2;

	st = http_parse_request(buf, size, &req);
	if (st == 200) {
		if (req.head_len == 0 || req.head_len > size ||
		    req.path[0] != '/' || strstr(req.path, "/../"))
			abort();
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			st2 = http_range_resolve(&req.range, sizes[i], &off, &n);
			if (st2 == 206 && (off + n > sizes[i] || n == 0))
				abort();
		}
	}
	/* a prefix never parses as a different complete request */
	if (size > 1) {
		st2 = http_parse_request(buf, size / 2, &again);
		if (st == 200 && st2 == 200 && again.head_len != req.head_len)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipxe_vars v = { .mac = "52:54:00:00:00:01", .ip = "10.0.0.2",
			       .server = "http://10.0.0.1:8080" };
	char *buf, *out;
	size_t len;

	if (size > 2 * HTTP_HEAD_MAX)
		return 0;
	/* an exact-size copy, so ASan sees any read past the end */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	check_request(buf, size);
	free(buf);

	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	out = ipxe_render(buf, &v, &len);
	if (out && strlen(out) != len)
		abort();
	free(out);
	free(buf);
	return 0;
}
