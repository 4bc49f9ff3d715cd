// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's HTTP GET (http_get.h). Deliberately small: one request per
 * connection, no redirects, no chunked bodies, no TLS; anything else is a
 * clear error for the job's REASON_TEXT rather than a guess.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "fd_io.h"
#include "http_get.h"

#define HTTP_HEAD_MAX 16384

int http_url_parse(const char *url, struct http_url *u)
{
	const char *h, *end, *colon;
	char *e;
	unsigned long port = 80;
	size_t hlen;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "http://", 7))
		return -EINVAL;
	h = url + 7;
	end = h + strcspn(h, "/?#");
	colon = memchr(h, ':', end - h);
	hlen = (colon ? colon : end) - h;
	if (!hlen || hlen >= sizeof(u->host))
		return -EINVAL;
	memcpy(u->host, h, hlen);
	if (colon) {
		errno = 0;
		port = strtoul(colon + 1, &e, 10);
		if (e != end || e == colon + 1 || !port || port > 65535)
			return -EINVAL;
	}
	u->port = port;
	if (!*end)
		end = "/";
	if (*end != '/' || strlen(end) >= sizeof(u->path) ||
	    strpbrk(end, " \r\n"))
		return -EINVAL;
	strcpy(u->path, end);
	return 0;
}

/* The value of header name in head (case-insensitive), or NULL. */
static const char *header(const char *head, const char *name)
{
	size_t n = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] != '\r') {
		p += 2;
		if (!strncasecmp(p, name, n) && p[n] == ':') {
			p += n + 1;
			return p + strspn(p, " \t");
		}
		p = strstr(p, "\r\n");
	}
	return NULL;
}

int http_head_parse(const char *head, size_t len, int *status,
		    int64_t *content_length)
{
	const char *v;
	char *e;
	long long cl;

	if (len < 16 || strncmp(head, "HTTP/1.", 7) || head[8] != ' ' ||
	    memcmp(head + len - 4, "\r\n\r\n", 4) || strlen(head) != len)
		return -EBADMSG;
	*status = strtol(head + 9, &e, 10);
	if (e != head + 12 || *status < 100 || *status > 599)
		return -EBADMSG;
	v = header(head, "Transfer-Encoding");
	if (v && strncasecmp(v, "identity", 8))
		return -EOPNOTSUPP;
	*content_length = -1;
	v = header(head, "Content-Length");
	if (v) {
		if (*v < '0' || *v > '9')
			return -EBADMSG;
		errno = 0;
		cl = strtoll(v, &e, 10);
		if (errno || (*e != '\r' && *e != ' ' && *e != '\t'))
			return -EBADMSG;
		*content_length = cl;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline: 0 or -ETIMEDOUT. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	uint64_t now = now_ms();
	int r;

	if (now >= deadline)
		return -ETIMEDOUT;
	r = poll(&(struct pollfd){ .fd = fd, .events = events }, 1,
		 (int)(deadline - now));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r ? 0 : -ETIMEDOUT;
}

static int resolve(const struct http_url *u, struct sockaddr_in *sa)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(u->port);
	if (inet_pton(AF_INET, u->host, &sa->sin_addr) == 1)
		return 0;
	if (getaddrinfo(u->host, NULL, &hints, &res))
		return -EHOSTUNREACH;
	sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

static int dial(const struct http_url *u, uint64_t deadline, char *why,
		size_t whylen)
{
	struct sockaddr_in sa;
	int fd, err = 0;
	socklen_t len = sizeof(err);

	if (resolve(u, &sa)) {
		snprintf(why, whylen, "cannot resolve %s", u->host);
		return -EHOSTUNREACH;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    errno != EINPROGRESS)
		err = errno;
	else if ((err = -wait_fd(fd, POLLOUT, deadline)) == 0)
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		snprintf(why, whylen, "connect to %s:%u: %s", u->host, u->port,
			 strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t len, uint64_t deadline)
{
	ssize_t n;
	int err;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0) {
			p += n;
			len -= n;
			continue;
		}
		err = wait_fd(fd, POLLOUT, deadline);
		if (err)
			return err;
	}
	return 0;
}

/* Reads into buf until the deadline: bytes, 0 at EOF, or -errno. */
static ssize_t recv_some(int fd, char *buf, size_t len, uint64_t deadline)
{
	ssize_t n;
	int err;

	for (;;) {
		n = recv(fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		err = wait_fd(fd, POLLIN, deadline);
		if (err)
			return err;
	}
}

/* Reads the response head into head; the body bytes read with it stay
 * after it in head (*extra of them). */
static int read_head(int sock, char *head, size_t *head_len, size_t *extra,
		     uint64_t deadline)
{
	size_t have = 0;
	char *end;
	ssize_t n;

	for (;;) {
		n = recv_some(sock, head + have, HTTP_HEAD_MAX - 1 - have,
			      deadline);
		if (n < 0)
			return n;
		if (!n)
			return -ECONNRESET;
		have += n;
		head[have] = 0;
		end = strstr(head, "\r\n\r\n");
		if (end) {
			*head_len = end + 4 - head;
			*extra = have - *head_len;
			return 0;
		}
		if (have >= HTTP_HEAD_MAX - 1)
			return -EMSGSIZE;
	}
}

static ssize_t read_body(int sock, int fd, const char *first, size_t nfirst,
			 int64_t cl, uint64_t deadline, char *why,
			 size_t whylen)
{
	static char buf[65536];
	uint64_t total = 0;
	ssize_t n;
	int err;

	if (cl >= 0 && nfirst > (uint64_t)cl)
		nfirst = cl;
	err = write_full(fd, first, nfirst);
	total = nfirst;
	while (!err && (cl < 0 || total < (uint64_t)cl)) {
		n = recv_some(sock, buf, sizeof(buf), deadline);
		if (n < 0) {
			snprintf(why, whylen, "%s", n == -ETIMEDOUT ?
				 "timed out" : strerror(-n));
			return n;
		}
		if (!n)
			break;
		if (cl >= 0 && total + n > (uint64_t)cl)
			n = cl - total;
		err = write_full(fd, buf, n);
		total += n;
	}
	if (err) {
		snprintf(why, whylen, "write: %s", strerror(-err));
		return err;
	}
	if (cl >= 0 && total < (uint64_t)cl) {
		snprintf(why, whylen, "body cut short (%llu of %lld bytes)",
			 (unsigned long long)total, (long long)cl);
		return -EPIPE;
	}
	return total;
}

ssize_t http_get(const char *url, int fd, unsigned int timeout_ms, char *why,
		 size_t whylen)
{
	uint64_t deadline = now_ms() + timeout_ms;
	static char head[HTTP_HEAD_MAX];
	size_t head_len = 0, extra = 0;
	struct http_url u;
	int64_t cl;
	ssize_t ret;
	int sock, status;
	char req[2560], c;

	if (http_url_parse(url, &u)) {
		snprintf(why, whylen, "bad URL");
		return -EINVAL;
	}
	sock = dial(&u, deadline, why, whylen);
	if (sock < 0)
		return sock;
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: %s:%u\r\n"
		 "User-Agent: xboot-agent\r\nConnection: close\r\n\r\n",
		 u.path, u.host, u.port);
	ret = send_all(sock, req, strlen(req), deadline);
	if (!ret)
		ret = read_head(sock, head, &head_len, &extra, deadline);
	if (ret) {
		snprintf(why, whylen, "%s", ret == -ETIMEDOUT ? "timed out" :
			 ret == -EMSGSIZE ? "response head too long" :
			 strerror(-ret));
		goto out;
	}
	/* parse the head as a string, then give the body its first byte */
	c = head[head_len];
	head[head_len] = 0;
	ret = http_head_parse(head, head_len, &status, &cl);
	head[head_len] = c;
	if (ret) {
		snprintf(why, whylen, "%s", ret == -EOPNOTSUPP ?
			 "chunked response not supported" : "bad response");
		goto out;
	}
	if (status != 200) {
		snprintf(why, whylen, "HTTP %d", status);
		ret = -ENOENT;
		goto out;
	}
	ret = read_body(sock, fd, head + head_len, extra, cl, deadline, why,
			whylen);
out:
	close(sock);
	return ret;
}
