// SPDX-License-Identifier: GPL-2.0
/*
 * The SQLite store: put/del/foreach, leases persist across a close and a
 * reopen, group commit, a second daemon is locked out, and a database with
 * a schema version this build does not know is refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "tmpdir.h"

static char tmpdir[] = "/tmp/xboot-test-store.XXXXXX";

static struct lease_rec rec_make(int i)
{
	struct lease_rec r = { 0 };

	r.mac[0] = 0x52;
	r.mac[5] = i;
	r.ip.s_addr = htonl(0x0a000000 | (i + 10));
	r.state = LEASE_BOUND;
	r.expires = 1700000000 + i;
	snprintf(r.hostname, sizeof(r.hostname), "host%d", i);
	if (i % 2) {
		r.client_id[0] = 1;
		memcpy(r.client_id + 1, r.mac, 6);
		r.client_id_len = 7;
	}
	return r;
}

struct collect {
	struct lease_rec recs[64];
	int n;
};

static int collect_fn(const struct lease_rec *rec, void *arg)
{
	struct collect *c = arg;

	if (c->n < 64)
		c->recs[c->n] = *rec;
	c->n++;
	return 0;
}

static int stop_fn(const struct lease_rec *rec, void *arg)
{
	return 42;
}

/* A callback that writes while the scan is going on. */
static int delete_fn(const struct lease_rec *rec, void *arg)
{
	return store_lease_del(arg, rec->ip);
}

static void test_put_del_foreach(void **state)
{
	struct collect c = { .n = 0 };
	struct store *st;
	struct lease_rec r;
	int i;

	assert_int_equal(store_open(&st, tmpdir), 0);
	for (i = 0; i < 5; i++) {
		r = rec_make(i);
		assert_int_equal(store_lease_put(st, &r), 0);
	}
	/* replace: the IP is the key */
	r = rec_make(2);
	r.state = LEASE_OFFERED;
	r.mac[5] = 0x99;
	assert_int_equal(store_lease_put(st, &r), 0);
	assert_int_equal(store_lease_del(st, rec_make(3).ip), 0);
	assert_int_equal(store_lease_foreach(st, collect_fn, &c), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.recs[2].ip.s_addr, rec_make(2).ip.s_addr);
	assert_int_equal(c.recs[2].state, LEASE_OFFERED);
	assert_int_equal(c.recs[2].mac[5], 0x99);
	r = rec_make(1);
	assert_memory_equal(&c.recs[1], &r, sizeof(r));
	assert_int_equal(store_lease_foreach(st, stop_fn, NULL), 42);
	store_close(st);
}

static void test_reopen_persists(void **state)
{
	struct collect c = { .n = 0 };
	struct store *st;
	struct lease_rec r = rec_make(4);

	assert_int_equal(store_open(&st, tmpdir), 0);
	assert_int_equal(store_lease_foreach(st, collect_fn, &c), 0);
	assert_int_equal(c.n, 4);
	assert_memory_equal(&c.recs[3], &r, sizeof(r));
	/* writes from inside foreach are safe */
	assert_int_equal(store_lease_foreach(st, delete_fn, st), 0);
	c.n = 0;
	assert_int_equal(store_lease_foreach(st, collect_fn, &c), 0);
	assert_int_equal(c.n, 0);
	store_close(st);
}

static void test_group_commit(void **state)
{
	struct collect c = { .n = 0 };
	struct store *st;
	struct lease_rec r;
	int i;

	assert_int_equal(store_open(&st, tmpdir), 0);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_begin(st), 0); /* nested: still one */
	for (i = 0; i < 50; i++) {
		r = rec_make(i);
		assert_int_equal(store_lease_put(st, &r), 0);
	}
	assert_int_equal(store_commit(st), 0);
	assert_int_equal(store_commit(st), 0); /* nothing open: no-op */
	assert_int_equal(store_lease_foreach(st, collect_fn, &c), 0);
	assert_int_equal(c.n, 50);
	store_close(st);
}

/* A committed lease survives the process dying without any cleanup. */
static void test_kill_keeps_commits(void **state)
{
	struct collect c = { .n = 0 };
	struct store *st;
	struct lease_rec r;
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (store_open(&st, tmpdir))
			_exit(1);
		store_begin(st);
		r = rec_make(60);
		store_lease_put(st, &r);
		store_commit(st);
		store_begin(st); /* never committed: must not appear */
		r = rec_make(61);
		store_lease_put(st, &r);
		_exit(0); /* no store_close */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(store_open(&st, tmpdir), 0);
	assert_int_equal(store_lease_foreach(st, collect_fn, &c), 0);
	assert_int_equal(c.n, 51);
	r = rec_make(60);
	assert_memory_equal(&c.recs[50], &r, sizeof(r));
	store_close(st);
}

static void test_locked(void **state)
{
	struct store *st, *st2;

	assert_int_equal(store_open(&st, tmpdir), 0);
	assert_int_equal(store_open(&st2, tmpdir), -EBUSY);
	store_close(st);
}

static void test_unknown_schema(void **state)
{
	char path[700], dir[600], log[700], text[1024] = "";
	struct store *st;
	sqlite3 *db;
	FILE *f;
	int saved;

	snprintf(dir, sizeof(dir), "%s/future", tmpdir);
	assert_int_equal(store_open(&st, dir), 0);
	store_close(st);
	snprintf(path, sizeof(path), "%s/xboot.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);

	/* the refusal must say why, on stderr */
	snprintf(log, sizeof(log), "%s/stderr", tmpdir);
	f = fopen(log, "w+");
	assert_non_null(f);
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(f), 2);
	log_level = LOG_LVL_ERR;
	assert_int_equal(store_open(&st, dir), -EPROTO);
	log_level = LOG_LVL_ERR - 1;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
	fclose(f);
	if (!strstr(text, "xboot.db: schema version 99 is not one this xbootd knows (it knows 2)"))
		fail_msg("unclear error: %s", text);
}

static void test_bad_dir(void **state)
{
	struct store *st;
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/file", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/file/sub", tmpdir);
	assert_int_equal(store_open(&st, path), -ENOTDIR);
}

static int setup(void **state)
{
	log_level = LOG_LVL_ERR - 1; /* the refusals are expected */
	return tmpdir_make(tmpdir);
}

static int teardown(void **state)
{
	return tmpdir_remove(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_del_foreach),
		cmocka_unit_test(test_reopen_persists),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_kill_keeps_commits),
		cmocka_unit_test(test_locked),
		cmocka_unit_test(test_unknown_schema),
		cmocka_unit_test(test_bad_dir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
