// SPDX-License-Identifier: GPL-2.0
/*
 * The persistent store: SQLite in WAL mode under the state directory.
 *
 * synchronous=NORMAL in WAL mode syncs at checkpoints, not at each commit:
 * a committed transaction is in the WAL file before COMMIT returns, so it
 * survives the process being killed (kill -9); only a power cut can lose the
 * last commits. The schema version is PRAGMA user_version: a database from
 * a newer xbootd is refused rather than misread. A lock file keeps two
 * daemons off one state directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"

#define STORE_SCHEMA_VERSION 2

/*
 * The schema, one step per version: store_schema[v - 1] turns a version
 * v - 1 database into a version v one. A step only ever adds, so a
 * database is migrated in place and keeps what it holds (leases).
 */
static const char *const store_schema[STORE_SCHEMA_VERSION] = {
	/* 1: leases */
	"CREATE TABLE IF NOT EXISTS leases ("
	" ip INTEGER PRIMARY KEY," /* host byte order */
	" mac BLOB NOT NULL,"
	" state INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" hostname TEXT NOT NULL DEFAULT '',"
	" client_id BLOB);"
	"CREATE INDEX IF NOT EXISTS leases_mac ON leases(mac);",

	/* 2: machines, enrolment credentials, jobs and their output
	 * (machines.c). Secrets are stored only as SHA-256 hashes. */
	"CREATE TABLE IF NOT EXISTS machines ("
	" mac BLOB PRIMARY KEY,"
	" ip INTEGER NOT NULL DEFAULT 0," /* host byte order; 0: none */
	" hostname TEXT NOT NULL DEFAULT '',"
	" phase INTEGER NOT NULL DEFAULT 0,"
	" phase_since INTEGER NOT NULL DEFAULT 0,"
	" phase_detail TEXT NOT NULL DEFAULT '',"
	" connected INTEGER NOT NULL DEFAULT 0,"
	" peer INTEGER NOT NULL DEFAULT 0,"
	" vendor TEXT NOT NULL DEFAULT '',"
	" product TEXT NOT NULL DEFAULT '',"
	" serial TEXT NOT NULL DEFAULT '',"
	" cpus INTEGER NOT NULL DEFAULT 0,"
	" memory_bytes INTEGER NOT NULL DEFAULT 0,"
	" system_uuid BLOB,"
	" agent_version TEXT NOT NULL DEFAULT '',"
	" inventory TEXT," /* JSON: {"nics":[...],"disks":[...]} */
	" token_hash BLOB UNIQUE,"
	" boot_id BLOB,"
	" tx_seq INTEGER NOT NULL DEFAULT 0,"
	" acked_seq INTEGER NOT NULL DEFAULT 0,"
	" rx_seq INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL DEFAULT 0,"
	" seen INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS enrolments ("
	" hash BLOB PRIMARY KEY,"
	" mac BLOB NOT NULL,"
	" expires INTEGER NOT NULL,"
	" used_at INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS enrolments_mac ON enrolments(mac);"
	"CREATE INDEX IF NOT EXISTS enrolments_expires"
	" ON enrolments(expires);"
	"CREATE TABLE IF NOT EXISTS jobs ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" mac BLOB NOT NULL,"
	" type INTEGER NOT NULL,"
	" step INTEGER NOT NULL,"
	" state INTEGER NOT NULL,"
	" timeout_s INTEGER NOT NULL DEFAULT 0,"
	" args TEXT NOT NULL DEFAULT '[]'," /* JSON array of strings */
	" seq INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL,"
	" started INTEGER NOT NULL DEFAULT 0,"
	" finished INTEGER NOT NULL DEFAULT 0,"
	" exit_code INTEGER,"
	" output_bytes INTEGER NOT NULL DEFAULT 0,"
	" reason TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS jobs_mac ON jobs(mac, step, id);"
	"CREATE TABLE IF NOT EXISTS job_output ("
	" job_id INTEGER NOT NULL,"
	" offset INTEGER NOT NULL,"
	" data BLOB NOT NULL,"
	" PRIMARY KEY (job_id, offset)"
	") WITHOUT ROWID;",
};

enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_PUT,
	ST_DEL,
	ST_ALL,
	ST_MAX,
};

static const char *const store_sql[ST_MAX] = {
	[ST_BEGIN] = "BEGIN",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_PUT] = "INSERT OR REPLACE INTO leases"
		   " (ip, mac, state, expires, hostname, client_id)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_DEL] = "DELETE FROM leases WHERE ip = ?1",
	[ST_ALL] = "SELECT ip, mac, state, expires, hostname, client_id"
		   " FROM leases ORDER BY ip",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_MAX];
	int in_tx;
	int lock_fd;
	char path[PATH_MAX];
};

static int store_err(struct store *st, const char *what)
{
	pr_err("%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
	return -EIO;
}

/* mkdir -p, mode 0750 for what it creates. */
static int mkdir_parents(const char *dir)
{
	char path[PATH_MAX];
	size_t i, len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0750) && errno != EEXIST)
			return -errno;
		path[i] = dir[i];
	}
	return 0;
}

static int store_lock(struct store *st, const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/xboot.lock", dir);
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (st->lock_fd < 0) {
		pr_err("%s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB)) {
		pr_err("%s: another xbootd is using this state directory",
		       path);
		return -EBUSY;
	}
	return 0;
}

static int store_exec(struct store *st, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	pr_err("%s: %s: %s", st->path, sql, msg ? msg : "failed");
	sqlite3_free(msg);
	return -EIO;
}

static int store_pragma_int(struct store *st, const char *sql, int *out)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return store_err(st, sql);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_err(st, sql);
}

static int store_set_wal(struct store *st)
{
	sqlite3_stmt *s;
	const unsigned char *mode;
	int ret = -EIO;

	/* xbootd is the database's only user (the lock file sees to that):
	 * holding SQLite's locks for good saves two fcntl()s a transaction
	 * and lets WAL run without its shared-memory index. */
	if (store_exec(st, "PRAGMA locking_mode=EXCLUSIVE"))
		return -EIO;
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s,
			       NULL) != SQLITE_OK)
		return store_err(st, "journal_mode");
	if (sqlite3_step(s) == SQLITE_ROW) {
		mode = sqlite3_column_text(s, 0);
		if (mode && !strcmp((const char *)mode, "wal"))
			ret = 0;
		else
			pr_err("%s: cannot switch to WAL mode (got %s)",
			       st->path, mode ? (const char *)mode : "?");
	} else {
		store_err(st, "journal_mode");
	}
	sqlite3_finalize(s);
	if (ret)
		return ret;
	return store_exec(st, "PRAGMA synchronous=NORMAL");
}

/* Create the schema in a fresh database, migrate an older one step by step
 * in one transaction; refuse one we do not know. */
static int store_migrate(struct store *st)
{
	char sql[64];
	int version = 0, ret, v;

	ret = store_pragma_int(st, "PRAGMA user_version", &version);
	if (ret)
		return ret;
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	if (version > STORE_SCHEMA_VERSION || version < 0) {
		pr_err("%s: schema version %d is not one this xbootd knows (it knows %d); use the xbootd that wrote it, or move the file away",
		       st->path, version, STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (version)
		pr_info("%s: migrating schema version %d to %d", st->path,
			version, STORE_SCHEMA_VERSION);
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d",
		 STORE_SCHEMA_VERSION);
	ret = store_exec(st, "BEGIN");
	for (v = version; !ret && v < STORE_SCHEMA_VERSION; v++)
		ret = store_exec(st, store_schema[v]);
	if (!ret)
		ret = store_exec(st, sql);
	if (!ret)
		return store_exec(st, "COMMIT");
	store_exec(st, "ROLLBACK");
	return ret;
}

static int store_prepare(struct store *st)
{
	int i;

	for (i = 0; i < ST_MAX; i++)
		if (sqlite3_prepare_v3(st->db, store_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
				       NULL) != SQLITE_OK)
			return store_err(st, store_sql[i]);
	return 0;
}

int store_open(struct store **out, const char *state_dir)
{
	struct store *st;
	int ret;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->lock_fd = -1;
	snprintf(st->path, sizeof(st->path), "%s/xboot.db", state_dir);
	ret = mkdir_parents(state_dir);
	if (ret) {
		pr_err("%s: cannot create: %s", state_dir, strerror(-ret));
		goto err_free;
	}
	ret = store_lock(st, state_dir);
	if (ret)
		goto err_close;
	if (sqlite3_open_v2(st->path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		ret = store_err(st, "open");
		goto err_close;
	}
	sqlite3_busy_timeout(st->db, 2000);
	ret = store_set_wal(st);
	if (!ret)
		ret = store_migrate(st);
	if (!ret)
		ret = store_prepare(st);
	if (ret)
		goto err_close;
	*out = st;
	return 0;

err_close:
	store_close(st);
	return ret;
err_free:
	free(st);
	return ret;
}

void store_close(struct store *st)
{
	int i;

	if (!st)
		return;
	if (st->in_tx)
		store_commit(st);
	for (i = 0; i < ST_MAX; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st);
}

static int store_step(struct store *st, enum store_stmt which)
{
	sqlite3_stmt *s = st->stmt[which];
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return store_err(st, store_sql[which]);
}

/* Nested calls are one transaction: callers need not know who began it. */
int store_begin(struct store *st)
{
	int ret;

	if (st->in_tx)
		return 0;
	ret = store_step(st, ST_BEGIN);
	if (!ret)
		st->in_tx = 1;
	return ret;
}

int store_commit(struct store *st)
{
	int ret;

	if (!st->in_tx)
		return 0;
	ret = store_step(st, ST_COMMIT);
	if (ret) {
		/* A failed COMMIT may leave the transaction open; end it so
		 * the next batch starts clean. */
		if (!sqlite3_get_autocommit(st->db))
			store_exec(st, "ROLLBACK");
	}
	st->in_tx = 0;
	return ret;
}

bool store_in_tx(struct store *st)
{
	return st->in_tx;
}

int store_rollback(struct store *st)
{
	int ret;

	if (!st->in_tx)
		return 0;
	ret = store_step(st, ST_ROLLBACK);
	st->in_tx = 0;
	return ret;
}

sqlite3 *store_db(struct store *st)
{
	return st->db;
}

int store_lease_put(struct store *st, const struct lease_rec *rec)
{
	sqlite3_stmt *s = st->stmt[ST_PUT];
	int idlen = rec->client_id_len;

	if (idlen < 0 || idlen > (int)sizeof(rec->client_id))
		return -EINVAL;
	sqlite3_bind_int64(s, 1, ntohl(rec->ip.s_addr));
	sqlite3_bind_blob(s, 2, rec->mac, 6, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, rec->state);
	sqlite3_bind_int64(s, 4, rec->expires);
	sqlite3_bind_text(s, 5, rec->hostname,
			  strnlen(rec->hostname, sizeof(rec->hostname)),
			  SQLITE_STATIC);
	if (idlen)
		sqlite3_bind_blob(s, 6, rec->client_id, idlen, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 6);
	return store_step(st, ST_PUT);
}

int store_lease_del(struct store *st, struct in_addr ip)
{
	sqlite3_bind_int64(st->stmt[ST_DEL], 1, ntohl(ip.s_addr));
	return store_step(st, ST_DEL);
}

/* A row we cannot read back whole is skipped with a warning, not fatal. */
static int store_row(struct store *st, sqlite3_stmt *s, struct lease_rec *rec)
{
	const void *mac = sqlite3_column_blob(s, 1);
	const void *id = sqlite3_column_blob(s, 5);
	const unsigned char *name = sqlite3_column_text(s, 4);
	int idlen = sqlite3_column_bytes(s, 5);
	sqlite3_int64 ip = sqlite3_column_int64(s, 0);

	memset(rec, 0, sizeof(*rec));
	if (ip < 0 || ip > 0xffffffffLL || !mac ||
	    sqlite3_column_bytes(s, 1) != 6 || idlen > (int)sizeof(rec->client_id)) {
		pr_warn("%s: skipping a malformed lease row (ip %lld)", st->path,
			(long long)ip);
		return -EINVAL;
	}
	rec->ip.s_addr = htonl((uint32_t)ip);
	memcpy(rec->mac, mac, 6);
	rec->state = sqlite3_column_int(s, 2);
	rec->expires = sqlite3_column_int64(s, 3);
	if (name)
		snprintf(rec->hostname, sizeof(rec->hostname), "%s", name);
	if (id && idlen > 0) {
		memcpy(rec->client_id, id, idlen);
		rec->client_id_len = idlen;
	}
	return 0;
}

/*
 * Rows are read into memory first and the statement reset before any
 * callback runs, so fn may write to the store (drop an expired lease, say)
 * without disturbing the scan.
 */
int store_lease_foreach(struct store *st,
			int (*fn)(const struct lease_rec *rec, void *arg),
			void *arg)
{
	sqlite3_stmt *s = st->stmt[ST_ALL];
	struct lease_rec *recs = NULL, *grown;
	size_t n = 0, cap = 0, i;
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			grown = realloc(recs, cap * sizeof(*recs));
			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			recs = grown;
		}
		if (!store_row(st, s, &recs[n]))
			n++;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = store_err(st, store_sql[ST_ALL]);
	sqlite3_reset(s);
	for (i = 0; i < n && !ret; i++)
		ret = fn(&recs[i], arg);
	free(recs);
	return ret;
}
