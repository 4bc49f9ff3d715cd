/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal HTTP/1.1 GET for the agent's kexec jobs: the kernel and initrd
 * come from the controller's HTTP server (xbootd), so plain http:// with a
 * Content-Length body (or one ended by the connection closing) is all it
 * needs. Blocking, with a deadline: the caller runs it in a child process.
 */
#ifndef XBOOT_AGENT_HTTP_GET_H
#define XBOOT_AGENT_HTTP_GET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct http_url {
	char host[256];
	uint16_t port;
	char path[2048];
};

/* Splits http://HOST[:PORT][/PATH]: 0 or -EINVAL. */
int http_url_parse(const char *url, struct http_url *u);

/*
 * The HTTP status code and, from a response head (all of it, up to and
 * including the blank line), the Content-Length (-1 when absent). 0 or
 * -EBADMSG; -EOPNOTSUPP for a chunked body.
 */
int http_head_parse(const char *head, size_t len, int *status,
		    int64_t *content_length);

/*
 * GETs url and writes the body to fd. Bytes written, or -errno with why
 * set ("HTTP 404", "connect: ...", "timed out", ...).
 */
ssize_t http_get(const char *url, int fd, unsigned int timeout_ms, char *why,
		 size_t whylen);

#endif /* XBOOT_AGENT_HTTP_GET_H */
