// SPDX-License-Identifier: GPL-2.0
/*
 * The agent port's certificates and its server context (see tls.h). Keys
 * are EC P-256: small enough for the boot environment to handshake fast,
 * and what every TLS 1.3 stack speaks. Files are written to a temporary
 * name and renamed, so a crash never leaves half a key behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "tls.h"

static int tls_err(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	pr_err("agent tls: %s%s%s", what, *buf ? ": " : "", buf);
	return -EIO;
}

void tls_paths_get(const struct config *cfg, struct tls_paths *p)
{
	memset(p, 0, sizeof(*p));
	if (cfg->agent_cert[0]) {
		snprintf(p->cert, sizeof(p->cert), "%s", cfg->agent_cert);
		snprintf(p->key, sizeof(p->key), "%s", cfg->agent_key);
		snprintf(p->ca_cert, sizeof(p->ca_cert), "%s", cfg->agent_ca);
		return;
	}
	/* state_dir is under CFG_PATH_MAX: every name fits */
	snprintf(p->dir, sizeof(p->dir), "%s/" TLS_DIR, cfg->state_dir);
	snprintf(p->ca_cert, sizeof(p->ca_cert), "%s/" TLS_DIR "/ca.pem",
		 cfg->state_dir);
	snprintf(p->ca_key, sizeof(p->ca_key), "%s/" TLS_DIR "/ca.key",
		 cfg->state_dir);
	snprintf(p->cert, sizeof(p->cert), "%s/" TLS_DIR "/server.pem",
		 cfg->state_dir);
	snprintf(p->key, sizeof(p->key), "%s/" TLS_DIR "/server.key",
		 cfg->state_dir);
}

/* --- files ------------------------------------------------------------ */

static X509 *cert_load(const char *path)
{
	X509 *x = NULL;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	return x;
}

static EVP_PKEY *key_load(const char *path)
{
	EVP_PKEY *k;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	return k;
}

/* Writes path.tmp with mode, then renames it over path. */
static int pem_write(const char *path, mode_t mode, X509 *x, EVP_PKEY *k)
{
	char tmp[TLS_PATH_MAX + 8];
	FILE *f;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		pr_err("agent tls: %s: %s", tmp, strerror(errno));
		return -errno;
	}
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	ok = x ? PEM_write_X509(f, x) :
		 PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	ok = ok && !fflush(f) && !fsync(fileno(f));
	if (fclose(f) || !ok || rename(tmp, path)) {
		unlink(tmp);
		return tls_err(path);
	}
	return 0;
}

/* --- certificates ----------------------------------------------------- */

static EVP_PKEY *key_new(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (!k)
		tls_err("cannot make an EC P-256 key");
	return k;
}

static int ext_add(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (!e)
		return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/* A certificate for key named cn, signed by issuer/ikey (self when NULL). */
static X509 *cert_new(EVP_PKEY *key, const char *cn, long days, X509 *issuer,
		      EVP_PKEY *ikey)
{
	X509 *x = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	X509V3_CTX ctx;

	if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
		goto err;
	serial[0] &= 0x7f; /* a positive serial */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	name = X509_get_subject_name(x);
	if (!bn || !X509_set_version(x, 2) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"xboot", -1,
					-1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
					      name) ||
	    /* an hour back: the agent's clock may be a little behind */
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L) ||
	    !X509_set_pubkey(x, key))
		goto err;
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (!ext_add(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !ext_add(x, &ctx, NID_authority_key_identifier, "keyid:always"))
		goto err;
	BN_free(bn);
	return x;
err:
	BN_free(bn);
	X509_free(x);
	tls_err("cannot build a certificate");
	return NULL;
}

static int ca_make(const struct tls_paths *p)
{
	EVP_PKEY *k = key_new();
	X509V3_CTX ctx;
	X509 *x = NULL;
	int ret = -EIO;

	if (!k)
		return -EIO;
	x = cert_new(k, "xboot agent CA", TLS_CA_DAYS, NULL, NULL);
	if (!x)
		goto out;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (!ext_add(x, &ctx, NID_basic_constraints,
		     "critical,CA:TRUE,pathlen:0") ||
	    !ext_add(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !X509_sign(x, k, EVP_sha256())) {
		ret = tls_err("cannot sign the CA certificate");
		goto out;
	}
	ret = pem_write(p->ca_key, 0600, NULL, k);
	if (!ret)
		ret = pem_write(p->ca_cert, 0644, x, NULL);
	if (!ret)
		pr_info("agent tls: made a new CA, %s", p->ca_cert);
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return ret;
}

static int san_build(char *buf, size_t sz, const struct in_addr *addrs,
		     int naddrs, const char *hostname)
{
	char a[INET_ADDRSTRLEN];
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < naddrs && n < sz; i++)
		n += snprintf(buf + n, sz - n, "%sIP:%s", n ? "," : "",
			      inet_ntop(AF_INET, &addrs[i], a, sizeof(a)));
	if (hostname && *hostname && n < sz)
		n += snprintf(buf + n, sz - n, "%sDNS:%s", n ? "," : "",
			      hostname);
	return n && n < sz ? 0 : -EINVAL;
}

static int server_make(const struct tls_paths *p, X509 *ca, EVP_PKEY *cakey,
		       const struct in_addr *addrs, int naddrs,
		       const char *hostname)
{
	char san[TLS_SAN_MAX * 24 + 300];
	EVP_PKEY *k = key_new();
	X509V3_CTX ctx;
	X509 *x = NULL;
	int ret = -EIO;

	if (!k)
		return -EIO;
	if (san_build(san, sizeof(san), addrs, naddrs, hostname)) {
		pr_err("agent tls: no address for the server certificate");
		ret = -EINVAL;
		goto out;
	}
	x = cert_new(k, hostname && *hostname ? hostname : "xbootd",
		     TLS_SERVER_DAYS, ca, cakey);
	if (!x)
		goto out;
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	if (!ext_add(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	    !ext_add(x, &ctx, NID_key_usage, "critical,digitalSignature") ||
	    !ext_add(x, &ctx, NID_ext_key_usage, "serverAuth") ||
	    !ext_add(x, &ctx, NID_subject_alt_name, san) ||
	    !X509_sign(x, cakey, EVP_sha256())) {
		ret = tls_err("cannot sign the server certificate");
		goto out;
	}
	ret = pem_write(p->key, 0600, NULL, k);
	if (!ret)
		ret = pem_write(p->cert, 0644, x, NULL);
	if (!ret)
		pr_info("agent tls: issued %s for %s", p->cert, san);
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return ret;
}

static int san_has_ip(GENERAL_NAMES *names, struct in_addr a)
{
	const GENERAL_NAME *g;
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		g = sk_GENERAL_NAME_value(names, i);
		if (g->type == GEN_IPADD && g->d.iPAddress->length == 4 &&
		    !memcmp(g->d.iPAddress->data, &a.s_addr, 4))
			return 1;
	}
	return 0;
}

static int san_has_dns(GENERAL_NAMES *names, const char *host)
{
	const GENERAL_NAME *g;
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		g = sk_GENERAL_NAME_value(names, i);
		if (g->type == GEN_DNS &&
		    (size_t)g->d.dNSName->length == strlen(host) &&
		    !memcmp(g->d.dNSName->data, host, strlen(host)))
			return 1;
	}
	return 0;
}

/* Why the server certificate must be issued again, or NULL. */
static const char *server_stale(X509 *x, EVP_PKEY *key, X509 *ca,
				const struct in_addr *addrs, int naddrs,
				const char *hostname)
{
	time_t soon = time(NULL) + TLS_RENEW_S;
	GENERAL_NAMES *names;
	const char *why = NULL;
	int i;

	if (!x || !key)
		return "none yet";
	if (X509_verify(x, X509_get0_pubkey(ca)) != 1 ||
	    X509_check_private_key(x, key) != 1) {
		ERR_clear_error();
		return "not of this CA or key";
	}
	if (X509_cmp_time(X509_get0_notAfter(x), &soon) < 0)
		return "it expires within 30 days";
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (!names)
		return "no subjectAltName";
	for (i = 0; i < naddrs && !why; i++)
		if (!san_has_ip(names, addrs[i]))
			why = "the addresses changed";
	if (!why && hostname && *hostname && !san_has_dns(names, hostname))
		why = "the hostname changed";
	GENERAL_NAMES_free(names);
	return why;
}

static int dir_make(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		pr_err("agent tls: %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		pr_err("agent tls: %s is not a directory", dir);
		return -ENOTDIR;
	}
	if ((st.st_mode & 077) && chmod(dir, 0700))
		pr_warn("agent tls: %s: chmod: %s", dir, strerror(errno));
	return 0;
}

int tls_identity_ensure(const struct tls_paths *p,
			const struct in_addr *addrs, int naddrs,
			const char *hostname)
{
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	const char *why;
	int ret, made = 0;

	ret = dir_make(p->dir);
	if (ret)
		return ret;
	ca = cert_load(p->ca_cert);
	cakey = key_load(p->ca_key);
	if (!ca || !cakey || X509_check_private_key(ca, cakey) != 1) {
		ERR_clear_error();
		if (ca || cakey)
			pr_warn("agent tls: %s or %s unreadable or mismatched: making a new CA (boot environments must pin it again)",
				p->ca_cert, p->ca_key);
		X509_free(ca);
		EVP_PKEY_free(cakey);
		ret = ca_make(p);
		if (ret)
			return ret;
		made = 1;
		ca = cert_load(p->ca_cert);
		cakey = key_load(p->ca_key);
		if (!ca || !cakey) {
			ret = tls_err("cannot read back the new CA");
			goto out;
		}
	}
	x = cert_load(p->cert);
	key = key_load(p->key);
	why = server_stale(x, key, ca, addrs, naddrs, hostname);
	if (why) {
		pr_info("agent tls: issuing %s: %s", p->cert, why);
		ret = server_make(p, ca, cakey, addrs, naddrs, hostname);
		made = 1;
	}
out:
	X509_free(x);
	EVP_PKEY_free(key);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return ret ? ret : made;
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		tls_err("SSL_CTX_new");
		return NULL;
	}
	/* The agent is ours and speaks 1.3: nothing older is needed. */
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		tls_err("TLS 1.3");
		goto err;
	}
	/* Agents never resume TLS sessions: no tickets to send. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_err(cert);
		goto err;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_err(key);
		goto err;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_err("the key does not match the certificate");
		goto err;
	}
	return ctx;
err:
	SSL_CTX_free(ctx);
	return NULL;
}
