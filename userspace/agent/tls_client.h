/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent's connection to the controller: a non-blocking TCP socket and,
 * unless --plaintext, an OpenSSL TLS 1.3 client on it that pins the
 * controller's CA and checks the certificate names the address or host
 * the agent dialled. Every call returns at once; -EAGAIN means "poll for
 * conn_events() and call again".
 */
#ifndef XBOOT_AGENT_TLS_CLIENT_H
#define XBOOT_AGENT_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ssl_ctx_st;
struct ssl_st;

struct tls_client {
	struct ssl_ctx_st *ctx;	/* NULL: plaintext */
	char host[256];		/* what the certificate must name */
	bool host_is_ip;
};

enum conn_state {
	CONN_CLOSED,
	CONN_CONNECTING,	/* TCP connect in progress */
	CONN_HANDSHAKE,		/* TLS handshake in progress */
	CONN_OPEN,
};

struct conn {
	enum conn_state state;
	int fd;
	struct ssl_st *ssl;
	short events;		/* what the last -EAGAIN waits for */
	bool verify_failed;	/* the handshake failed the CA/name check */
	char why[160];		/* the last failure, for the log */
};

/*
 * Sets up the TLS client: ca is the PEM file to pin (NULL: plaintext),
 * host the controller's address or name. 0 or -errno (why says it).
 */
int tls_client_init(struct tls_client *t, const char *ca, const char *host,
		    char *why, size_t whylen);
void tls_client_free(struct tls_client *t);

void conn_init(struct conn *c);
/* Starts connecting to addr (sockaddr of len alen): 0, -EAGAIN, -errno. */
int conn_start(struct conn *c, struct tls_client *t, const void *addr,
	       unsigned int alen);
/* Drives TCP connect and TLS handshake: 0 once open, -EAGAIN, -errno. */
int conn_progress(struct conn *c);
/* Bytes read, 0 at a clean end of stream, -EAGAIN, or -errno. */
ssize_t conn_read(struct conn *c, void *buf, size_t len);
/* Bytes written (maybe fewer than len), -EAGAIN, or -errno. */
ssize_t conn_write(struct conn *c, const void *buf, size_t len);
/* poll(2) events the connection needs, given whether we have output. */
short conn_events(const struct conn *c, bool want_write);
void conn_close(struct conn *c);

#endif /* XBOOT_AGENT_TLS_CLIENT_H */
