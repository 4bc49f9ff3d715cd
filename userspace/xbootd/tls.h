/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent port's TLS identity. An operator may bring a certificate, its
 * key and the CA the boot environment pins (agent-cert, agent-key,
 * agent-ca); without them xbootd keeps its own under STATE_DIR/tls: a CA
 * (EC P-256, ten years) made once, and a server certificate it signs for
 * the addresses agents connect to, issued again at start when those
 * addresses changed or it is near its end. The CA must outlive every boot
 * environment that pins it, so it is never replaced behind their backs.
 */
#ifndef XBOOTD_TLS_H
#define XBOOTD_TLS_H

#include <stddef.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

#define TLS_DIR "tls"			/* under state-dir, mode 0700 */
#define TLS_CA_DAYS 3650
#define TLS_SERVER_DAYS 397
#define TLS_RENEW_S (30 * 86400)	/* re-issue when closer to its end */
#define TLS_SAN_MAX 16
#define TLS_PATH_MAX 320

struct config;

/* Where our own CA and server certificate live (files under dir). */
struct tls_paths {
	char dir[TLS_PATH_MAX];		/* "": the operator's files */
	char ca_cert[TLS_PATH_MAX], ca_key[TLS_PATH_MAX];
	char cert[TLS_PATH_MAX], key[TLS_PATH_MAX];
};

/* The files the agent port uses: the operator's, or ours under
 * state_dir/tls. */
void tls_paths_get(const struct config *cfg, struct tls_paths *p);

/*
 * Our own identity under p->dir: creates the directory, the CA (unless
 * there is one) and the server certificate, or issues the latter again
 * when it does not name every address in addrs[0..naddrs) or hostname (may
 * be NULL or ""), was signed by another CA, or ends within TLS_RENEW_S.
 * Returns 1 when it (re)issued something, 0 when all was current, or a
 * negative errno (logged).
 */
int tls_identity_ensure(const struct tls_paths *p,
			const struct in_addr *addrs, int naddrs,
			const char *hostname);

/* A TLS 1.3-only server context on cert (a PEM chain) and key, or NULL
 * (logged). */
SSL_CTX *tls_server_ctx(const char *cert, const char *key);

#endif /* XBOOTD_TLS_H */
