// SPDX-License-Identifier: GPL-2.0
/*
 * The agent port's own TLS identity (tls.c): a fresh state directory gets
 * a CA and a server certificate naming every address and the hostname,
 * with private files; a second start reuses both; a new address, a new
 * hostname, a certificate of another key or one near its end is issued
 * again under the same CA; the server context is TLS 1.3 only.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "tmpdir.h"

static char tmpdir[] = "/tmp/xboot-test-tls.XXXXXX";
static struct tls_paths paths;

static struct in_addr ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static char *slurp(const char *path)
{
	char *buf = calloc(1, 65536);
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_true(fread(buf, 1, 65535, f) > 0);
	fclose(f);
	return buf;
}

static X509 *load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

static int mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static int same_file(const char *path, const char *before)
{
	char *now = slurp(path);
	int same = !strcmp(now, before);

	free(now);
	return same;
}

static void test_fresh(void **state)
{
	struct in_addr a[2] = { ip("10.0.0.1"), ip("192.168.7.1") };
	X509 *ca, *x;

	assert_int_equal(tls_identity_ensure(&paths, a, 2, "boothost"), 1);
	assert_int_equal(mode_of(paths.dir), 0700);
	assert_int_equal(mode_of(paths.ca_key), 0600);
	assert_int_equal(mode_of(paths.key), 0600);
	ca = load_cert(paths.ca_cert);
	x = load_cert(paths.cert);
	assert_int_equal(X509_check_ca(ca), 1);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
	assert_int_equal(X509_check_ip_asc(x, "10.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "192.168.7.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "10.0.0.2", 0), 0);
	assert_int_equal(X509_check_host(x, "boothost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	X509_free(ca);
	X509_free(x);
}

static void test_reuse(void **state)
{
	struct in_addr a[2] = { ip("10.0.0.1"), ip("192.168.7.1") };
	char *ca = slurp(paths.ca_cert), *srv = slurp(paths.cert);

	assert_int_equal(tls_identity_ensure(&paths, a, 2, "boothost"), 0);
	/* a subset of the addresses is still covered */
	assert_int_equal(tls_identity_ensure(&paths, a, 1, "boothost"), 0);
	assert_true(same_file(paths.ca_cert, ca));
	assert_true(same_file(paths.cert, srv));
	free(ca);
	free(srv);
}

static void test_new_address(void **state)
{
	struct in_addr a[2] = { ip("10.0.0.1"), ip("10.9.9.9") };
	char *ca = slurp(paths.ca_cert), *srv = slurp(paths.cert);
	X509 *x;

	assert_int_equal(tls_identity_ensure(&paths, a, 2, "boothost"), 1);
	assert_true(same_file(paths.ca_cert, ca)); /* pinned: never replaced */
	assert_false(same_file(paths.cert, srv));
	x = load_cert(paths.cert);
	assert_int_equal(X509_check_ip_asc(x, "10.9.9.9", 0), 1);
	X509_free(x);
	/* and a new hostname */
	assert_int_equal(tls_identity_ensure(&paths, a, 2, "otherhost"), 1);
	x = load_cert(paths.cert);
	assert_int_equal(X509_check_host(x, "otherhost", 0, 0, NULL), 1);
	X509_free(x);
	assert_true(same_file(paths.ca_cert, ca));
	free(ca);
	free(srv);
}

/* A server certificate that is fine but for its end: in 10 days. */
static void write_expiring(const struct in_addr *a)
{
	EVP_PKEY *cakey = load_key(paths.ca_key), *key = load_key(paths.key);
	X509 *ca = load_cert(paths.ca_cert), *x = X509_new();
	X509_EXTENSION *e;
	X509V3_CTX ctx;
	char san[64], addr[INET_ADDRSTRLEN];
	FILE *f;

	inet_ntop(AF_INET, a, addr, sizeof(addr));
	snprintf(san, sizeof(san), "IP:%s,DNS:otherhost", addr);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 77);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_set_subject_name(x, X509_get_subject_name(ca));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10 * 86400L);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, cakey, EVP_sha256()) > 0);
	f = fopen(paths.cert, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
}

static void test_reissue(void **state)
{
	struct in_addr a = ip("10.0.0.1");
	X509 *x;
	time_t far = time(NULL) + 300 * 86400L;

	/* near its end */
	write_expiring(&a);
	assert_int_equal(tls_identity_ensure(&paths, &a, 1, "otherhost"), 1);
	x = load_cert(paths.cert);
	assert_true(X509_cmp_time(X509_get0_notAfter(x), &far) > 0);
	X509_free(x);
	/* a certificate that is not for our key: the CA's own */
	{
		char *ca = slurp(paths.ca_cert);
		FILE *f = fopen(paths.cert, "w");

		fputs(ca, f);
		fclose(f);
		free(ca);
	}
	assert_int_equal(tls_identity_ensure(&paths, &a, 1, "otherhost"), 1);
	assert_int_equal(tls_identity_ensure(&paths, &a, 1, "otherhost"), 0);
	/* a lost key */
	assert_int_equal(unlink(paths.key), 0);
	assert_int_equal(tls_identity_ensure(&paths, &a, 1, "otherhost"), 1);
	assert_int_equal(mode_of(paths.key), 0600);
}

static void test_server_ctx(void **state)
{
	SSL_CTX *ctx = tls_server_ctx(paths.cert, paths.key);

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	SSL_CTX_free(ctx);
	/* a key that is not the certificate's */
	assert_null(tls_server_ctx(paths.cert, paths.ca_key));
	assert_null(tls_server_ctx("/nonexistent.pem", paths.key));
}

static void test_paths(void **state)
{
	struct tls_paths p;
	struct config cfg;

	config_init(&cfg);
	tls_paths_get(&cfg, &p);
	assert_string_equal(p.ca_cert, XBOOTD_DEFAULT_STATE_DIR "/tls/ca.pem");
	assert_string_equal(p.key, XBOOTD_DEFAULT_STATE_DIR "/tls/server.key");
	strcpy(cfg.agent_cert, "/etc/x/c.pem");
	strcpy(cfg.agent_key, "/etc/x/c.key");
	strcpy(cfg.agent_ca, "/etc/x/ca.pem");
	tls_paths_get(&cfg, &p);
	assert_string_equal(p.dir, ""); /* nothing of ours to make */
	assert_string_equal(p.cert, "/etc/x/c.pem");
	assert_string_equal(p.ca_cert, "/etc/x/ca.pem");
	config_free(&cfg);
}

static int setup(void **state)
{
	struct config cfg;

	log_level = LOG_LVL_ERR - 1; /* the refusals below are expected */
	if (tmpdir_make(tmpdir))
		return -1;
	config_init(&cfg);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", tmpdir);
	tls_paths_get(&cfg, &paths);
	config_free(&cfg);
	return 0;
}

static int teardown(void **state)
{
	return tmpdir_remove(tmpdir);
}

int main(void)
{
	/* in order: each starts from what the one before left */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_new_address),
		cmocka_unit_test(test_reissue),
		cmocka_unit_test(test_server_ctx),
		cmocka_unit_test(test_paths),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
