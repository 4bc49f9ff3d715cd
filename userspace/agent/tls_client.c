// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's TLS client (tls_client.h): OpenSSL on a non-blocking socket.
 * Only TLS 1.3, only a certificate chaining to the pinned CA and naming
 * what we dialled: a boot environment has no other trust store, and a
 * stolen or misissued certificate must not buy a machine's credential.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls_client.h"

static void ssl_why(char *why, size_t len, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[128];

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(why, len, "%s: %s", what, buf);
	} else {
		snprintf(why, len, "%s", what);
	}
	ERR_clear_error();
}

int tls_client_init(struct tls_client *t, const char *ca, const char *host,
		    char *why, size_t whylen)
{
	struct in_addr ip;

	memset(t, 0, sizeof(*t));
	snprintf(t->host, sizeof(t->host), "%s", host);
	t->host_is_ip = inet_pton(AF_INET, host, &ip) == 1;
	if (!ca)
		return 0;
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx) {
		ssl_why(why, whylen, "SSL_CTX_new");
		return -ENOMEM;
	}
	if (!SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(t->ctx, TLS1_3_VERSION)) {
		ssl_why(why, whylen, "TLS 1.3");
		goto err;
	}
	if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1) {
		ssl_why(why, whylen, "cannot load the CA");
		goto err;
	}
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* the framing tells a cut stream from a finished one */
	SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	return 0;
err:
	SSL_CTX_free(t->ctx);
	t->ctx = NULL;
	return -EINVAL;
}

void tls_client_free(struct tls_client *t)
{
	SSL_CTX_free(t->ctx);
	t->ctx = NULL;
}

void conn_init(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int conn_start(struct conn *c, struct tls_client *t, const void *addr,
	       unsigned int alen)
{
	const struct sockaddr *sa = addr;
	X509_VERIFY_PARAM *param;
	int one = 1;

	conn_close(c);
	c->verify_failed = false;
	c->why[0] = 0;
	c->fd = socket(sa->sa_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	/* frames are small and answered: do not wait to coalesce them */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (t->ctx) {
		c->ssl = SSL_new(t->ctx);
		if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
			goto err_ssl;
		param = SSL_get0_param(c->ssl);
		if (t->host_is_ip) {
			if (!X509_VERIFY_PARAM_set1_ip_asc(param, t->host))
				goto err_ssl;
		} else if (!SSL_set1_host(c->ssl, t->host) ||
			   !SSL_set_tlsext_host_name(c->ssl, t->host)) {
			goto err_ssl;
		}
		SSL_set_connect_state(c->ssl);
	}
	c->state = CONN_CONNECTING;
	c->events = POLLOUT;
	if (connect(c->fd, sa, alen) && errno != EINPROGRESS) {
		int err = -errno;

		snprintf(c->why, sizeof(c->why), "connect: %s",
			 strerror(errno));
		conn_close(c);
		return err;
	}
	return conn_progress(c);
err_ssl:
	ssl_why(c->why, sizeof(c->why), "TLS setup");
	conn_close(c);
	return -ENOMEM;
}

/* Maps an OpenSSL result to -EAGAIN (with the events) or an error. */
static int ssl_result(struct conn *c, int ret, const char *what)
{
	int e = SSL_get_error(c->ssl, ret);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		c->events = POLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		c->events = POLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno) {
			int err = -errno;

			snprintf(c->why, sizeof(c->why), "%s: %s", what,
				 strerror(errno));
			ERR_clear_error();
			return err;
		}
		snprintf(c->why, sizeof(c->why), "%s: connection closed",
			 what);
		ERR_clear_error();
		return -ECONNRESET;
	default:
		ssl_why(c->why, sizeof(c->why), what);
		return -EPROTO;
	}
}

static int handshake(struct conn *c)
{
	long v;
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_do_handshake(c->ssl);
	if (ret == 1) {
		c->state = CONN_OPEN;
		return 0;
	}
	ret = ssl_result(c, ret, "TLS handshake");
	if (ret == -EAGAIN)
		return ret;
	v = SSL_get_verify_result(c->ssl);
	if (v != X509_V_OK) {
		c->verify_failed = true;
		snprintf(c->why, sizeof(c->why),
			 "TLS verification failed: %s",
			 X509_verify_cert_error_string(v));
	}
	return ret ? ret : -ECONNRESET;
}

int conn_progress(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	switch (c->state) {
	case CONN_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			return -EAGAIN;
		if (err) {
			snprintf(c->why, sizeof(c->why), "connect: %s",
				 strerror(err));
			return -err;
		}
		/* a connect still under way says nothing in SO_ERROR */
		if (!(poll(&(struct pollfd){ .fd = c->fd, .events = POLLOUT },
			   1, 0) > 0))
			return -EAGAIN;
		if (!c->ssl) {
			c->state = CONN_OPEN;
			return 0;
		}
		c->state = CONN_HANDSHAKE;
		return handshake(c);
	case CONN_HANDSHAKE:
		return handshake(c);
	case CONN_OPEN:
		return 0;
	default:
		return -ENOTCONN;
	}
}

ssize_t conn_read(struct conn *c, void *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	c->events = 0;
	if (!c->ssl) {
		r = read(c->fd, buf, len);
		if (r < 0) {
			snprintf(c->why, sizeof(c->why), "read: %s",
				 strerror(errno));
			return errno == EINTR ? -EAGAIN : -errno;
		}
		return r;
	}
	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(c->ssl, buf, len, &n) == 1)
		return n;
	return ssl_result(c, 0, "TLS read");
}

ssize_t conn_write(struct conn *c, const void *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	c->events = 0;
	if (!c->ssl) {
		r = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (r < 0) {
			snprintf(c->why, sizeof(c->why), "write: %s",
				 strerror(errno));
			return errno == EINTR ? -EAGAIN : -errno;
		}
		return r;
	}
	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(c->ssl, buf, len, &n) == 1)
		return n;
	r = ssl_result(c, 0, "TLS write");
	return r ? r : -ECONNRESET;
}

short conn_events(const struct conn *c, bool want_write)
{
	switch (c->state) {
	case CONN_CONNECTING:
		return POLLOUT;
	case CONN_HANDSHAKE:
		return c->events;
	case CONN_OPEN:
		/* OpenSSL may need the other direction to make progress */
		return POLLIN | (want_write ? POLLOUT : 0) |
		       (c->events == POLLOUT ? POLLOUT : 0);
	default:
		return 0;
	}
}

void conn_close(struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CONN_CLOSED;
	c->events = 0;
}
