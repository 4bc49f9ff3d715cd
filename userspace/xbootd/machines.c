// SPDX-License-Identifier: GPL-2.0
/*
 * Machines, credentials, tokens, jobs and job output in the store's SQLite
 * database (the tables are created by store.c's schema, version 2), and
 * the in-memory ring of phase events that `xbootctl watch` follows.
 *
 * Secrets are handled as SHA-256 hashes only: a presented credential or
 * token is hashed and looked up through the table's index, so no C code
 * compares secret bytes and nothing branches on how much of one matched.
 * Our copies of secrets are wiped after use.
 *
 * A call that writes more than one row opens its own transaction unless
 * the caller already holds one (store_begin), so a machine's phase and
 * its job always move together.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "hex.h"
#include "job_names.h"
#include "log.h"
#include "machines.h"
#include "store.h"

#define HASH_LEN 32		/* SHA-256 */
#define CRED_RAW_LEN 24		/* 32 characters of base64url */
#define EVENT_DETAIL_MAX 128

#define JOB_COLS                                                             \
	"id, mac, type, step, state, timeout_s, args, seq, created, started," \
	" finished, exit_code, output_bytes, reason,"                        \
	" (SELECT COALESCE(SUM(length(data)), 0) FROM job_output"            \
	"  WHERE job_id = jobs.id)"

/* The lease table knows a machine's address and hostname before we do. */
#define MACHINE_COLS                                                         \
	"mac, CASE WHEN ip != 0 THEN ip ELSE COALESCE((SELECT l.ip"          \
	"  FROM leases l WHERE l.mac = machines.mac"                         \
	"  ORDER BY l.expires DESC LIMIT 1), 0) END,"                        \
	" CASE WHEN hostname != '' THEN hostname ELSE COALESCE((SELECT"      \
	"  l.hostname FROM leases l WHERE l.mac = machines.mac"              \
	"  ORDER BY l.expires DESC LIMIT 1), '') END,"                       \
	" phase, phase_since, phase_detail, connected, peer, vendor,"        \
	" product, serial, cpus, memory_bytes, system_uuid, agent_version,"  \
	" inventory, boot_id, created, seen"

#define IN_FLIGHT "(2, 3, 4)"	/* sent, accepted, running */
#define BLOCKING "(6, 7)"	/* failed, timed-out */

enum machines_stmt {
	M_ENSURE,
	M_PHASE_GET,
	M_PHASE_SET,
	M_IP_SET,
	M_CONNECTED,
	M_ENROL_GC,
	M_ENROL_DROP,
	M_ENROL_ADD,
	M_ENROL_GET,
	M_ENROL_USE,
	M_TOKEN_SET,
	M_TOKEN_GET,
	M_SESSION_GET,
	M_SESSION_SET,
	M_INV_SET,
	M_HELLO_SET,
	M_JOB_ADD,
	M_JOB_GET,
	M_JOB_NEXT,
	M_JOB_UNACKED,
	M_JOB_INFLIGHT,
	M_JOB_UPDATE,
	M_JOB_COUNTS,
	M_JOB_LAST,
	M_OUT_PUT,
	M_OUT_READ,
	M_OUT_DEL,
	M_MACHINES_ALL,
	M_MACHINE_ONE,
	M_JOBS_ALL,
	M_JOBS_MAC,
	M_KEY_SET,
	M_KEY_FIND,
	M_MAX,
};

static const char *const machines_sql[M_MAX] = {
	[M_ENSURE] = "INSERT OR IGNORE INTO machines"
		     " (mac, created, seen, phase_since)"
		     " VALUES (?1, ?2, ?2, ?2)",
	[M_PHASE_GET] = "SELECT phase, phase_detail, connected FROM machines"
			" WHERE mac = ?1",
	[M_PHASE_SET] = "UPDATE machines SET phase_since = CASE WHEN phase = ?2"
			" THEN phase_since ELSE ?5 END, phase = ?2,"
			" phase_detail = ?3, ip = COALESCE(?4, ip), seen = ?5"
			" WHERE mac = ?1",
	[M_IP_SET] = "UPDATE machines SET ip = COALESCE(?2, ip), seen = ?3"
		     " WHERE mac = ?1",
	[M_CONNECTED] = "UPDATE machines SET connected = ?2,"
			" peer = COALESCE(?3, peer), seen = ?4 WHERE mac = ?1",
	[M_ENROL_GC] = "DELETE FROM enrolments WHERE expires <= ?1",
	[M_ENROL_DROP] = "DELETE FROM enrolments WHERE mac = ?1"
			 " AND used_at = 0 AND expires <= ?2",
	[M_ENROL_ADD] = "INSERT OR REPLACE INTO enrolments"
			" (hash, mac, expires, used_at) VALUES (?1, ?2, ?3, 0)",
	[M_ENROL_GET] = "SELECT mac, expires, used_at FROM enrolments"
			" WHERE hash = ?1",
	[M_ENROL_USE] = "UPDATE enrolments SET used_at = ?2 WHERE hash = ?1",
	[M_TOKEN_SET] = "UPDATE machines SET token_hash = ?2 WHERE mac = ?1",
	[M_TOKEN_GET] = "SELECT mac FROM machines WHERE token_hash = ?1",
	[M_SESSION_GET] = "SELECT boot_id, tx_seq, acked_seq, rx_seq"
			  " FROM machines WHERE mac = ?1",
	[M_SESSION_SET] = "UPDATE machines SET boot_id = ?2, tx_seq = ?3,"
			  " acked_seq = ?4, rx_seq = ?5 WHERE mac = ?1",
	[M_INV_SET] = "UPDATE machines SET vendor = ?2, product = ?3,"
		      " serial = ?4, cpus = ?5, memory_bytes = ?6,"
		      " inventory = ?7, seen = ?8 WHERE mac = ?1",
	[M_HELLO_SET] = "UPDATE machines SET agent_version = ?2,"
			" system_uuid = ?3, seen = ?4 WHERE mac = ?1",
	[M_JOB_ADD] = "INSERT INTO jobs (mac, type, step, state, timeout_s,"
		      " args, created) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6)",
	[M_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
	/* in flight first: a job added to an earlier step while one runs
	 * must wait for it */
	[M_JOB_NEXT] = "SELECT " JOB_COLS " FROM jobs WHERE mac = ?1"
		       " AND state NOT IN (5, 8)"
		       " ORDER BY state IN " IN_FLIGHT " DESC, step, id"
		       " LIMIT 1",
	[M_JOB_UNACKED] = "SELECT " JOB_COLS " FROM jobs WHERE mac = ?1"
			  " AND state IN " IN_FLIGHT " AND seq > ?2"
			  " ORDER BY seq",
	[M_JOB_INFLIGHT] = "SELECT " JOB_COLS " FROM jobs WHERE mac = ?1"
			   " AND state IN " IN_FLIGHT " ORDER BY id",
	[M_JOB_UPDATE] = "UPDATE jobs SET state = ?2, seq = ?3, started = ?4,"
			 " finished = ?5, exit_code = ?6, output_bytes = ?7,"
			 " reason = ?8 WHERE id = ?1",
	[M_JOB_COUNTS] = "SELECT COUNT(*), TOTAL(state = 1),"
			 " TOTAL(state IN " IN_FLIGHT "), TOTAL(state = 5),"
			 " TOTAL(state IN " BLOCKING "), TOTAL(state = 8)"
			 " FROM jobs WHERE mac = ?1",
	[M_JOB_LAST] = "SELECT id, state FROM jobs WHERE mac = ?1"
		       " ORDER BY state IN " IN_FLIGHT " DESC,"
		       " state IN " BLOCKING " DESC,"
		       " MAX(created, started, finished) DESC, id DESC LIMIT 1",
	[M_OUT_PUT] = "INSERT OR REPLACE INTO job_output (job_id, offset, data)"
		      " VALUES (?1, ?2, ?3)",
	[M_OUT_READ] = "SELECT offset, data FROM job_output WHERE job_id = ?1"
		       " AND offset >= COALESCE((SELECT MAX(offset)"
		       "  FROM job_output"
		       "  WHERE job_id = ?1 AND offset <= ?2), 0)"
		       " ORDER BY offset",
	[M_OUT_DEL] = "DELETE FROM job_output WHERE job_id = ?1",
	[M_MACHINES_ALL] = "SELECT " MACHINE_COLS " FROM machines ORDER BY mac",
	[M_MACHINE_ONE] = "SELECT " MACHINE_COLS " FROM machines"
			  " WHERE mac = ?1",
	[M_JOBS_ALL] = "SELECT " JOB_COLS " FROM jobs ORDER BY id",
	[M_JOBS_MAC] = "SELECT " JOB_COLS " FROM jobs WHERE mac = ?1"
		       " ORDER BY step, id",
	[M_KEY_SET] = "INSERT OR REPLACE INTO job_keys (job_id, hash)"
		      " VALUES (?1, ?2)",
	[M_KEY_FIND] = "SELECT " JOB_COLS " FROM jobs WHERE id ="
		       " (SELECT job_id FROM job_keys WHERE hash = ?1)",
};

/*
 * Image job keys (image_http.h) live in a table of their own, made here
 * rather than in store.c's schema so that an older database gains it
 * without a migration step; it holds nothing that outlives its job's
 * usefulness, so dropping it costs only the keys of jobs in flight.
 */
static const char job_keys_sql[] =
	"CREATE TABLE IF NOT EXISTS job_keys ("
	" job_id INTEGER PRIMARY KEY,"
	" hash BLOB NOT NULL UNIQUE)";

struct machine_event {
	uint64_t seq;
	int64_t time;
	uint8_t mac[6];
	int phase;
	uint64_t job;		/* 0: none */
	char detail[EVENT_DETAIL_MAX];
};

struct machines {
	struct store *st;
	sqlite3 *db;
	sqlite3_stmt *stmt[M_MAX];
	uint64_t event_seq;	/* the newest event's; from 0 at each open */
	struct machine_event events[MACHINES_EVENTS];
};

/* ---- names ---- */

static const char *const phase_names[__MPHASE_MAX] = {
	[MPHASE_NONE] = "new",		[MPHASE_OFFERED] = "offered",
	[MPHASE_BOUND] = "bound",	[MPHASE_BOOT_FILE] = "boot-file",
	[MPHASE_BOOTENV] = "boot-env",	[MPHASE_AGENT] = "agent",
	[MPHASE_RUNNING] = "running",	[MPHASE_DONE] = "done",
	[MPHASE_FAILED] = "failed",	[MPHASE_GONE] = "gone",
};

static const char *const step_names[__JOB_STEP_MAX] = {
	[JOB_STEP_PRE] = "pre",
	[JOB_STEP_IMAGE] = "image",
	[JOB_STEP_POST] = "post",
	[JOB_STEP_FINAL] = "final",
};

static const char *const state_names[__JOB_STATE_MAX] = {
	[JOB_QUEUED] = "queued",	[JOB_SENT] = "sent",
	[JOB_ACCEPTED] = "accepted",	[JOB_RUNNING] = "running",
	[JOB_DONE] = "done",		[JOB_FAILED] = "failed",
	[JOB_TIMED_OUT] = "timed-out",	[JOB_CANCELLED] = "cancelled",
};

static const char *name_of(const char *const *names, int n, int v)
{
	if (v < 0 || v >= n || !names[v])
		return "unknown";
	return names[v];
}

static int name_find(const char *const *names, int n, const char *name)
{
	int i;

	for (i = 0; name && i < n; i++)
		if (names[i] && !strcmp(names[i], name))
			return i;
	return -EINVAL;
}

const char *machine_phase_name(int phase)
{
	return name_of(phase_names, __MPHASE_MAX, phase);
}

const char *job_step_name(int step)
{
	return name_of(step_names, __JOB_STEP_MAX, step);
}

int job_step_from_name(const char *name)
{
	return name_find(step_names, __JOB_STEP_MAX, name);
}

const char *job_state_name(int state)
{
	return name_of(state_names, __JOB_STATE_MAX, state);
}

const char *job_type_name(int type)
{
	return xba_job_type_name(type);
}

int job_type_from_name(const char *name)
{
	return xba_job_type_from_name(name);
}

int job_type_default_step(int type)
{
	switch (type) {
	case XBA_JOB_RUN:
		return JOB_STEP_PRE;
	case XBA_JOB_IMAGE_DEPLOY:
	case XBA_JOB_IMAGE_CAPTURE:
		return JOB_STEP_IMAGE;
	case XBA_JOB_REBOOT:
	case XBA_JOB_POWEROFF:
	case XBA_JOB_KEXEC:
		return JOB_STEP_FINAL;
	}
	return -EINVAL;
}

bool job_state_finished(int state)
{
	return state == JOB_DONE || state == JOB_FAILED ||
	       state == JOB_TIMED_OUT || state == JOB_CANCELLED;
}

static bool job_state_in_flight(int state)
{
	return state == JOB_SENT || state == JOB_ACCEPTED ||
	       state == JOB_RUNNING;
}

void job_rec_free(struct job_rec *j)
{
	unsigned int i;

	for (i = 0; i < j->nargs && i < XBA_JOB_ARGS_MAX; i++) {
		free(j->args[i]);
		j->args[i] = NULL;
	}
	j->nargs = 0;
}

/* ---- statements and transactions ---- */

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static int m_err(struct machines *m, enum machines_stmt which)
{
	pr_err("machines: %s: %s", machines_sql[which], sqlite3_errmsg(m->db));
	return -EIO;
}

static sqlite3_stmt *m_stmt(struct machines *m, enum machines_stmt which)
{
	return m->stmt[which];
}

static void m_done(struct machines *m, enum machines_stmt which)
{
	sqlite3_reset(m->stmt[which]);
	sqlite3_clear_bindings(m->stmt[which]);
}

/* Runs a bound statement that returns no rows. */
static int m_exec(struct machines *m, enum machines_stmt which)
{
	int rc = sqlite3_step(m->stmt[which]);

	m_done(m, which);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return m_err(m, which);
}

/* One row: 1 (read it, then m_done), 0 (none; reset already) or -EIO. */
static int m_row(struct machines *m, enum machines_stmt which)
{
	int rc = sqlite3_step(m->stmt[which]);

	if (rc == SQLITE_ROW)
		return 1;
	m_done(m, which);
	return rc == SQLITE_DONE ? 0 : m_err(m, which);
}

static void bind_mac(sqlite3_stmt *s, int i, const uint8_t mac[6])
{
	sqlite3_bind_blob(s, i, mac, 6, SQLITE_TRANSIENT);
}

static void bind_ip(sqlite3_stmt *s, int i, const struct in_addr *ip)
{
	if (ip && ip->s_addr)
		sqlite3_bind_int64(s, i, ntohl(ip->s_addr));
	else
		sqlite3_bind_null(s, i);
}

static bool col_mac(sqlite3_stmt *s, int i, uint8_t mac[6])
{
	const void *p = sqlite3_column_blob(s, i);

	if (!p || sqlite3_column_bytes(s, i) != 6)
		return false;
	memcpy(mac, p, 6);
	return true;
}

static void col_text(sqlite3_stmt *s, int i, char *out, size_t size)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	snprintf(out, size, "%s", t ? (const char *)t : "");
}

/*
 * Our own transaction unless the caller holds one (*began says which);
 * tx_end() commits ours, or rolls it back on error. The event ring is not
 * rolled back: an event of a failed write may stay in it.
 */
static int tx_begin(struct machines *m, bool *began)
{
	*began = !store_in_tx(m->st);
	return *began ? store_begin(m->st) : 0;
}

static int tx_end(struct machines *m, bool began, int ret)
{
	if (!began)
		return ret;
	if (ret < 0) {
		store_rollback(m->st);
		return ret;
	}
	return store_commit(m->st) ? -EIO : ret;
}

int machines_open(struct machines **out, struct store *st)
{
	struct machines *m;
	int i;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->st = st;
	m->db = store_db(st);
	if (sqlite3_exec(m->db, job_keys_sql, NULL, NULL, NULL) != SQLITE_OK) {
		pr_err("machines: job_keys: %s", sqlite3_errmsg(m->db));
		free(m);
		return -EIO;
	}
	for (i = 0; i < M_MAX; i++) {
		if (sqlite3_prepare_v3(m->db, machines_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &m->stmt[i],
				       NULL) != SQLITE_OK) {
			pr_err("machines: %s: %s", machines_sql[i],
			       sqlite3_errmsg(m->db));
			machines_close(m);
			return -EIO;
		}
	}
	/* No agent is connected to a daemon that is just starting: a kill -9
	 * left the last sessions marked up. */
	if (sqlite3_exec(m->db, "UPDATE machines SET connected = 0"
			 " WHERE connected != 0", NULL, NULL, NULL) != SQLITE_OK)
		pr_warn("machines: cannot clear stale sessions: %s",
			sqlite3_errmsg(m->db));
	*out = m;
	return 0;
}

int machines_phase_get(struct machines *m, const uint8_t mac[6])
{
	sqlite3_stmt *s = m_stmt(m, M_PHASE_GET);
	int ret;

	bind_mac(s, 1, mac);
	ret = m_row(m, M_PHASE_GET);
	if (ret > 0)
		ret = sqlite3_column_int(s, 0);
	else if (ret == 0)
		ret = -ENOENT;
	m_done(m, M_PHASE_GET);
	return ret;
}

void machines_close(struct machines *m)
{
	int i;

	if (!m)
		return;
	for (i = 0; i < M_MAX; i++)
		sqlite3_finalize(m->stmt[i]);
	free(m);
}

struct store *machines_store(struct machines *m)
{
	return m->st;
}

/* ---- machines, phases and events ---- */

struct job_counts {
	int64_t total, queued, in_flight, done, blocking, cancelled;
};

static int job_counts(struct machines *m, const uint8_t mac[6],
		      struct job_counts *c)
{
	sqlite3_stmt *s = m_stmt(m, M_JOB_COUNTS);
	int ret;

	memset(c, 0, sizeof(*c));
	bind_mac(s, 1, mac);
	ret = m_row(m, M_JOB_COUNTS);
	if (ret <= 0)
		return ret;
	c->total = sqlite3_column_int64(s, 0);
	c->queued = sqlite3_column_int64(s, 1);
	c->in_flight = sqlite3_column_int64(s, 2);
	c->done = sqlite3_column_int64(s, 3);
	c->blocking = sqlite3_column_int64(s, 4);
	c->cancelled = sqlite3_column_int64(s, 5);
	m_done(m, M_JOB_COUNTS);
	return 0;
}

static int machine_ensure(struct machines *m, const uint8_t mac[6])
{
	sqlite3_stmt *s = m_stmt(m, M_ENSURE);

	bind_mac(s, 1, mac);
	sqlite3_bind_int64(s, 2, now_s());
	return m_exec(m, M_ENSURE);
}

static void event_push(struct machines *m, const uint8_t mac[6], int phase,
		       uint64_t job, const char *detail)
{
	struct machine_event *e;

	m->event_seq++;
	e = &m->events[m->event_seq % MACHINES_EVENTS];
	e->seq = m->event_seq;
	e->time = now_s();
	memcpy(e->mac, mac, 6);
	e->phase = phase;
	e->job = job;
	snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
}

/* The rule of the header: a running boot environment's DHCP traffic and
 * transfers are not news while its agent is connected. */
static bool phase_is_boot(int phase)
{
	return phase >= MPHASE_OFFERED && phase <= MPHASE_BOOTENV;
}

static bool phase_is_agent(int phase)
{
	return phase >= MPHASE_AGENT && phase <= MPHASE_FAILED;
}

static int machine_phase_set(struct machines *m, const uint8_t mac[6],
			     int phase, const char *detail,
			     const struct in_addr *ip, uint64_t job)
{
	char cur_detail[EVENT_DETAIL_MAX];
	int cur, connected, ret;
	sqlite3_stmt *s;

	if (phase < 0 || phase >= __MPHASE_MAX)
		return -EINVAL;
	if (!detail)
		detail = "";
	ret = machine_ensure(m, mac);
	if (ret)
		return ret;
	s = m_stmt(m, M_PHASE_GET);
	bind_mac(s, 1, mac);
	ret = m_row(m, M_PHASE_GET);
	if (ret <= 0)
		return ret ? ret : -EIO;
	cur = sqlite3_column_int(s, 0);
	col_text(s, 1, cur_detail, sizeof(cur_detail));
	connected = sqlite3_column_int(s, 2);
	m_done(m, M_PHASE_GET);

	if ((connected && phase_is_agent(cur) && phase_is_boot(phase)) ||
	    (cur == phase && !strncmp(cur_detail, detail,
				      sizeof(cur_detail) - 1))) {
		s = m_stmt(m, M_IP_SET);
		bind_mac(s, 1, mac);
		bind_ip(s, 2, ip);
		sqlite3_bind_int64(s, 3, now_s());
		return m_exec(m, M_IP_SET);
	}
	s = m_stmt(m, M_PHASE_SET);
	bind_mac(s, 1, mac);
	sqlite3_bind_int(s, 2, phase);
	sqlite3_bind_text(s, 3, detail, strnlen(detail, EVENT_DETAIL_MAX - 1),
			  SQLITE_TRANSIENT);
	bind_ip(s, 4, ip);
	sqlite3_bind_int64(s, 5, now_s());
	ret = m_exec(m, M_PHASE_SET);
	if (!ret)
		event_push(m, mac, phase, job, detail);
	return ret;
}

/*
 * An agent that (re)connects is idle only if its jobs say so: after a
 * controller restart its job may still be running, and after a new boot
 * id the job it had failed and stops the sequence.
 */
static int phase_of_agent(struct machines *m, const uint8_t mac[6],
			  int *phase)
{
	struct job_counts c;
	int ret;

	ret = job_counts(m, mac, &c);
	if (ret)
		return ret;
	if (c.blocking)
		*phase = MPHASE_FAILED;
	else if (c.in_flight)
		*phase = MPHASE_RUNNING;
	return 0;
}

int machines_phase(struct machines *m, const uint8_t mac[6], int phase,
		   const char *detail, const struct in_addr *ip)
{
	bool began;
	int ret;

	ret = tx_begin(m, &began);
	if (ret)
		return ret;
	if (phase == MPHASE_AGENT)
		ret = phase_of_agent(m, mac, &phase);
	if (!ret)
		ret = machine_phase_set(m, mac, phase, detail, ip, 0);
	return tx_end(m, began, ret);
}

int machines_set_connected(struct machines *m, const uint8_t mac[6],
			   bool connected, const struct in_addr *peer)
{
	sqlite3_stmt *s;
	bool began;
	int ret;

	ret = tx_begin(m, &began);
	if (ret)
		return ret;
	ret = machine_ensure(m, mac);
	if (!ret) {
		s = m_stmt(m, M_CONNECTED);
		bind_mac(s, 1, mac);
		sqlite3_bind_int(s, 2, connected);
		bind_ip(s, 3, peer);
		sqlite3_bind_int64(s, 4, now_s());
		ret = m_exec(m, M_CONNECTED);
	}
	return tx_end(m, began, ret);
}

uint64_t machines_event_seq(struct machines *m)
{
	return m->event_seq;
}

static void mac_text(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}

static struct json_object *json_mac(const uint8_t mac[6])
{
	char text[18];

	mac_text(mac, text);
	return json_object_new_string(text);
}

static void add_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v ? v : ""));
}

/* A time that may not have happened yet: null until it has. */
static void add_time(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, v ? json_object_new_int64(v) : NULL);
}

static struct json_object *event_json(const struct machine_event *e)
{
	struct json_object *o = json_object_new_object();

	add_int(o, "seq", (int64_t)e->seq);
	add_int(o, "time", e->time);
	json_object_object_add(o, "mac", json_mac(e->mac));
	add_str(o, "phase", machine_phase_name(e->phase));
	json_object_object_add(o, "job", e->job ?
				json_object_new_int64((int64_t)e->job) : NULL);
	add_str(o, "detail", e->detail);
	return o;
}

/*
 * `after` beyond the newest event means the client saw an earlier run of
 * xbootd (sequence numbers restart at each start): it gets everything
 * from the start of this run. "seq" is the last event returned or
 * skipped, the `after` of the client's next call.
 */
struct json_object *machines_events_json(struct machines *m, uint64_t after,
					 unsigned int max)
{
	struct json_object *o = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	uint64_t oldest, lost = 0, seq, last;

	if (after > m->event_seq)
		after = 0;
	oldest = m->event_seq > MACHINES_EVENTS ?
			 m->event_seq - MACHINES_EVENTS + 1 : 1;
	if (after + 1 < oldest) {
		lost = oldest - after - 1;
		after = oldest - 1;
	}
	last = after;
	for (seq = after + 1; seq <= m->event_seq && max; seq++, max--) {
		json_object_array_add(arr, event_json(
				&m->events[seq % MACHINES_EVENTS]));
		last = seq;
	}
	add_int(o, "seq", (int64_t)last);
	add_int(o, "lost", (int64_t)lost);
	json_object_object_add(o, "events", arr);
	return o;
}

/* ---- credentials and tokens ---- */

static int random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_err("machines: getrandom: %s", strerror(errno));
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int sha256(const void *data, size_t len, uint8_t out[HASH_LEN])
{
	unsigned int n = HASH_LEN;

	if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) ||
	    n != HASH_LEN) {
		pr_err("machines: SHA-256 failed");
		return -EIO;
	}
	return 0;
}

/* base64url without padding: len must be a multiple of 3. */
static void base64url(const uint8_t *in, size_t len, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789-_";
	uint32_t v;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		*out++ = alphabet[(v >> 18) & 63];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = alphabet[(v >> 6) & 63];
		*out++ = alphabet[v & 63];
	}
	*out = '\0';
	explicit_bzero(&v, sizeof(v));
}

static bool mac_in(const uint8_t mac[6], const uint8_t macs[][XBA_MAC_LEN],
		   unsigned int nmacs)
{
	unsigned int i;

	for (i = 0; i < nmacs; i++)
		if (!memcmp(mac, macs[i], 6))
			return true;
	return false;
}

static int enrol_store(struct machines *m, const uint8_t mac[6],
		       const uint8_t hash[HASH_LEN], int64_t expires)
{
	sqlite3_stmt *s;
	int ret;

	ret = machine_ensure(m, mac);
	if (ret)
		return ret;
	/* used ones are kept until they expire, to tell a replay apart */
	sqlite3_bind_int64(m_stmt(m, M_ENROL_GC), 1, now_s());
	ret = m_exec(m, M_ENROL_GC);
	if (ret)
		return ret;
	/* a short-lived credential (an iPXE script's) never cancels a
	 * longer-lived one (a boot medium's) */
	bind_mac(m_stmt(m, M_ENROL_DROP), 1, mac);
	sqlite3_bind_int64(m_stmt(m, M_ENROL_DROP), 2, expires);
	ret = m_exec(m, M_ENROL_DROP);
	if (ret)
		return ret;
	s = m_stmt(m, M_ENROL_ADD);
	sqlite3_bind_blob(s, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
	bind_mac(s, 2, mac);
	sqlite3_bind_int64(s, 3, expires);
	return m_exec(m, M_ENROL_ADD);
}

int machines_enrol_mint(struct machines *m, const uint8_t mac[6],
			uint32_t ttl_s, char out[MACHINES_CRED_TEXT_MAX],
			int64_t *expires)
{
	uint8_t raw[CRED_RAW_LEN], hash[HASH_LEN];
	int64_t exp = now_s() + (ttl_s ? ttl_s : MACHINES_ENROL_TTL_S);
	bool began;
	int ret;

	ret = random_bytes(raw, sizeof(raw));
	if (ret)
		return ret;
	base64url(raw, sizeof(raw), out);
	explicit_bzero(raw, sizeof(raw));
	ret = sha256(out, strlen(out), hash);
	if (!ret)
		ret = tx_begin(m, &began);
	if (!ret)
		ret = tx_end(m, began, enrol_store(m, mac, hash, exp));
	explicit_bzero(hash, sizeof(hash));
	if (ret) {
		explicit_bzero(out, MACHINES_CRED_TEXT_MAX);
		return ret;
	}
	if (expires)
		*expires = exp;
	return 0;
}

static int enrol_redeem(struct machines *m, const uint8_t hash[HASH_LEN],
			const uint8_t macs[][XBA_MAC_LEN], unsigned int nmacs,
			uint8_t mac_out[6])
{
	sqlite3_stmt *s = m_stmt(m, M_ENROL_GET);
	int64_t expires, used_at, now = now_s();
	uint8_t mac[6];
	bool ok;
	int ret;

	sqlite3_bind_blob(s, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
	ret = m_row(m, M_ENROL_GET);
	if (ret <= 0)
		return ret ? ret : -ENOENT;
	ok = col_mac(s, 0, mac);
	expires = sqlite3_column_int64(s, 1);
	used_at = sqlite3_column_int64(s, 2);
	m_done(m, M_ENROL_GET);
	if (!ok || expires <= now)
		return -ENOENT;
	if (used_at)
		return -EALREADY;
	if (!mac_in(mac, macs, nmacs))
		return -ENOENT;
	s = m_stmt(m, M_ENROL_USE);
	sqlite3_bind_blob(s, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, now);
	ret = m_exec(m, M_ENROL_USE);
	if (!ret)
		memcpy(mac_out, mac, 6);
	return ret;
}

int machines_enrol_redeem(struct machines *m, const uint8_t *cred,
			  size_t len, const uint8_t macs[][XBA_MAC_LEN],
			  unsigned int nmacs, uint8_t mac_out[6])
{
	uint8_t hash[HASH_LEN];
	bool began;
	int ret;

	if (!len || len > XBA_CREDENTIAL_MAX)
		return -ENOENT;
	ret = sha256(cred, len, hash);
	if (!ret)
		ret = tx_begin(m, &began);
	if (!ret)
		ret = tx_end(m, began,
			     enrol_redeem(m, hash, macs, nmacs, mac_out));
	explicit_bzero(hash, sizeof(hash));
	return ret;
}

int machines_token_issue(struct machines *m, const uint8_t mac[6],
			 uint8_t token[XBA_TOKEN_LEN])
{
	uint8_t hash[HASH_LEN];
	sqlite3_stmt *s;
	bool began;
	int ret;

	ret = random_bytes(token, XBA_TOKEN_LEN);
	if (!ret)
		ret = sha256(token, XBA_TOKEN_LEN, hash);
	if (!ret)
		ret = tx_begin(m, &began);
	if (ret)
		goto out;
	ret = machine_ensure(m, mac);
	if (!ret) {
		s = m_stmt(m, M_TOKEN_SET);
		bind_mac(s, 1, mac);
		sqlite3_bind_blob(s, 2, hash, HASH_LEN, SQLITE_TRANSIENT);
		ret = m_exec(m, M_TOKEN_SET);
	}
	ret = tx_end(m, began, ret);
out:
	explicit_bzero(hash, sizeof(hash));
	if (ret)
		explicit_bzero(token, XBA_TOKEN_LEN);
	return ret;
}

int machines_token_check(struct machines *m,
			 const uint8_t token[XBA_TOKEN_LEN],
			 const uint8_t macs[][XBA_MAC_LEN], unsigned int nmacs,
			 uint8_t mac_out[6])
{
	sqlite3_stmt *s = m_stmt(m, M_TOKEN_GET);
	uint8_t hash[HASH_LEN], mac[6];
	bool ok;
	int ret;

	ret = sha256(token, XBA_TOKEN_LEN, hash);
	if (ret)
		return ret;
	sqlite3_bind_blob(s, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
	explicit_bzero(hash, sizeof(hash));
	ret = m_row(m, M_TOKEN_GET);
	if (ret <= 0)
		return ret ? ret : -ENOENT;
	ok = col_mac(s, 0, mac);
	m_done(m, M_TOKEN_GET);
	if (!ok)
		return -ENOENT;
	if (!mac_in(mac, macs, nmacs))
		return -EPERM;
	memcpy(mac_out, mac, 6);
	return 0;
}

int machines_token_revoke(struct machines *m, const uint8_t mac[6])
{
	sqlite3_stmt *s = m_stmt(m, M_TOKEN_SET);

	bind_mac(s, 1, mac);
	sqlite3_bind_null(s, 2);
	return m_exec(m, M_TOKEN_SET);
}

/* ---- sessions and inventory ---- */

int machines_session_get(struct machines *m, const uint8_t mac[6],
			 struct machine_session *out)
{
	sqlite3_stmt *s = m_stmt(m, M_SESSION_GET);
	const void *id;
	int ret;

	memset(out, 0, sizeof(*out));
	bind_mac(s, 1, mac);
	ret = m_row(m, M_SESSION_GET);
	if (ret <= 0)
		return ret;
	id = sqlite3_column_blob(s, 0);
	if (id && sqlite3_column_bytes(s, 0) == XBA_BOOT_ID_LEN) {
		out->has_boot_id = true;
		memcpy(out->boot_id, id, XBA_BOOT_ID_LEN);
	}
	out->tx_seq = (uint32_t)sqlite3_column_int64(s, 1);
	out->acked_seq = (uint32_t)sqlite3_column_int64(s, 2);
	out->rx_seq = (uint32_t)sqlite3_column_int64(s, 3);
	m_done(m, M_SESSION_GET);
	return 0;
}

int machines_session_put(struct machines *m, const uint8_t mac[6],
			 const struct machine_session *in)
{
	sqlite3_stmt *s;
	bool began;
	int ret;

	ret = tx_begin(m, &began);
	if (ret)
		return ret;
	ret = machine_ensure(m, mac);
	if (!ret) {
		s = m_stmt(m, M_SESSION_SET);
		bind_mac(s, 1, mac);
		if (in->has_boot_id)
			sqlite3_bind_blob(s, 2, in->boot_id, XBA_BOOT_ID_LEN,
					  SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(s, 2);
		sqlite3_bind_int64(s, 3, in->tx_seq);
		sqlite3_bind_int64(s, 4, in->acked_seq);
		sqlite3_bind_int64(s, 5, in->rx_seq);
		ret = m_exec(m, M_SESSION_SET);
	}
	return tx_end(m, began, ret);
}

static struct json_object *nic_json(const struct agent_nic *n)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "mac", json_mac(n->mac));
	add_str(o, "name", n->name);
	add_int(o, "speed_mbps", n->speed_mbps);
	return o;
}

static struct json_object *disk_json(const struct agent_disk *d)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "name", d->name);
	add_int(o, "size", (int64_t)d->size);
	add_str(o, "model", d->model);
	add_str(o, "serial", d->serial);
	json_object_object_add(o, "rotational", d->rotational < 0 ? NULL :
			       json_object_new_boolean(d->rotational));
	return o;
}

static struct json_object *
inventory_lists_json(const struct agent_inventory *inv)
{
	struct json_object *o = json_object_new_object();
	struct json_object *nics = json_object_new_array();
	struct json_object *disks = json_object_new_array();
	unsigned int i;

	for (i = 0; i < inv->n_nics && i < XBA_NICS_MAX; i++)
		json_object_array_add(nics, nic_json(&inv->nics[i]));
	for (i = 0; i < inv->n_disks && i < XBA_DISKS_MAX; i++)
		json_object_array_add(disks, disk_json(&inv->disks[i]));
	json_object_object_add(o, "nics", nics);
	json_object_object_add(o, "disks", disks);
	return o;
}

static void bind_str(sqlite3_stmt *s, int i, const char *v, size_t max)
{
	sqlite3_bind_text(s, i, v, strnlen(v, max), SQLITE_TRANSIENT);
}

int machines_inventory_put(struct machines *m, const uint8_t mac[6],
			   const struct agent_inventory *inv)
{
	struct json_object *lists = inventory_lists_json(inv);
	const char *text;
	sqlite3_stmt *s;
	bool began;
	int ret;

	text = json_object_to_json_string_ext(lists, JSON_C_TO_STRING_PLAIN);
	ret = tx_begin(m, &began);
	if (ret)
		goto out;
	ret = machine_ensure(m, mac);
	if (!ret) {
		s = m_stmt(m, M_INV_SET);
		bind_mac(s, 1, mac);
		bind_str(s, 2, inv->vendor, sizeof(inv->vendor));
		bind_str(s, 3, inv->product, sizeof(inv->product));
		bind_str(s, 4, inv->serial, sizeof(inv->serial));
		sqlite3_bind_int64(s, 5, inv->cpus);
		sqlite3_bind_int64(s, 6, (sqlite3_int64)inv->memory_bytes);
		sqlite3_bind_text(s, 7, text, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 8, now_s());
		ret = m_exec(m, M_INV_SET);
	}
	ret = tx_end(m, began, ret);
out:
	json_object_put(lists);
	return ret;
}

int machines_hello_put(struct machines *m, const uint8_t mac[6],
		       const struct agent_hello *h)
{
	sqlite3_stmt *s;
	bool began;
	int ret;

	ret = tx_begin(m, &began);
	if (ret)
		return ret;
	ret = machine_ensure(m, mac);
	if (!ret) {
		s = m_stmt(m, M_HELLO_SET);
		bind_mac(s, 1, mac);
		bind_str(s, 2, h->agent_version, sizeof(h->agent_version));
		if (h->has_uuid)
			sqlite3_bind_blob(s, 3, h->uuid, XBA_UUID_LEN,
					  SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(s, 3);
		sqlite3_bind_int64(s, 4, now_s());
		ret = m_exec(m, M_HELLO_SET);
	}
	return tx_end(m, began, ret);
}

/* ---- jobs ---- */

static int args_from_json(const char *text, struct job_rec *j)
{
	struct json_object *arr = text ? json_tokener_parse(text) : NULL;
	const char *a;
	size_t i, n;
	int ret = 0;

	if (!arr || !json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		return -EINVAL;
	}
	n = json_object_array_length(arr);
	for (i = 0; i < n && i < XBA_JOB_ARGS_MAX; i++) {
		a = json_object_get_string(json_object_array_get_idx(arr, i));
		j->args[i] = strdup(a ? a : "");
		if (!j->args[i]) {
			ret = -ENOMEM;
			break;
		}
		j->nargs = i + 1;
	}
	json_object_put(arr);
	return ret;
}

/* A row of JOB_COLS into j (args malloc'd). */
static int job_from_row(sqlite3_stmt *s, struct job_rec *j)
{
	memset(j, 0, sizeof(*j));
	j->id = (uint64_t)sqlite3_column_int64(s, 0);
	col_mac(s, 1, j->mac);
	j->type = sqlite3_column_int(s, 2);
	j->step = sqlite3_column_int(s, 3);
	j->state = sqlite3_column_int(s, 4);
	j->timeout_s = (uint32_t)sqlite3_column_int64(s, 5);
	j->seq = (uint32_t)sqlite3_column_int64(s, 7);
	j->created = sqlite3_column_int64(s, 8);
	j->started = sqlite3_column_int64(s, 9);
	j->finished = sqlite3_column_int64(s, 10);
	if (sqlite3_column_type(s, 11) != SQLITE_NULL) {
		j->has_exit_code = true;
		j->exit_code = sqlite3_column_int(s, 11);
	}
	j->output_bytes = (uint64_t)sqlite3_column_int64(s, 12);
	col_text(s, 13, j->reason, sizeof(j->reason));
	j->output_stored = (uint64_t)sqlite3_column_int64(s, 14);
	if (args_from_json((const char *)sqlite3_column_text(s, 6), j)) {
		job_rec_free(j);
		return -ENOMEM;
	}
	return 0;
}

/* One job from a statement bound by the caller: 0, -ENOENT or -errno. */
static int job_read_one(struct machines *m, enum machines_stmt which,
			struct job_rec *out)
{
	int ret = m_row(m, which);

	if (ret <= 0)
		return ret ? ret : -ENOENT;
	ret = job_from_row(m_stmt(m, which), out);
	m_done(m, which);
	return ret;
}

/* Every job a bound statement returns, into a malloc'd array. Reading
 * them all first lets callers write while they walk them. */
static int job_read_all(struct machines *m, enum machines_stmt which,
			struct job_rec **out, size_t *n)
{
	struct job_rec *recs = NULL, *grown;
	size_t cap = 0;
	int rc, ret = 0;

	*n = 0;
	while ((rc = sqlite3_step(m_stmt(m, which))) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(recs, cap * sizeof(*recs));
			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			recs = grown;
		}
		ret = job_from_row(m_stmt(m, which), &recs[*n]);
		if (ret)
			break;
		(*n)++;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = m_err(m, which);
	m_done(m, which);
	*out = recs;
	return ret;
}

static void job_recs_free(struct job_rec *recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		job_rec_free(&recs[i]);
	free(recs);
}

static int job_write(struct machines *m, const struct job_rec *j)
{
	sqlite3_stmt *s = m_stmt(m, M_JOB_UPDATE);

	sqlite3_bind_int64(s, 1, (sqlite3_int64)j->id);
	sqlite3_bind_int(s, 2, j->state);
	sqlite3_bind_int64(s, 3, j->seq);
	sqlite3_bind_int64(s, 4, j->started);
	sqlite3_bind_int64(s, 5, j->finished);
	if (j->has_exit_code)
		sqlite3_bind_int(s, 6, j->exit_code);
	else
		sqlite3_bind_null(s, 6);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)j->output_bytes);
	bind_str(s, 8, j->reason, sizeof(j->reason));
	return m_exec(m, M_JOB_UPDATE);
}

/* Appends to out[size], where *n is used; a detail may be cut short. */
static void __attribute__((format(printf, 4, 5)))
detail_add(char *out, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*n >= size)
		return;
	va_start(ap, fmt);
	r = vsnprintf(out + *n, size - *n, fmt, ap);
	va_end(ap);
	if (r > 0)
		*n += r;
}

/* "job 12 run: done, exit 0" */
static void job_detail(const struct job_rec *j, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	detail_add(out, size, &n, "job %llu %s: %s", (unsigned long long)j->id,
		   job_type_name(j->type), job_state_name(j->state));
	if (j->has_exit_code && job_state_finished(j->state))
		detail_add(out, size, &n, ", exit %d", j->exit_code);
	if (j->reason[0] && j->state != JOB_DONE && j->state != JOB_CANCELLED)
		detail_add(out, size, &n, ": %s", j->reason);
}

/*
 * The machine's phase after one of its jobs changed, from all its jobs:
 * a failed job stops the sequence, one in flight is running, nothing left
 * is done. Queued jobs wait for the agent: idle when it is connected;
 * without it the phase stays, except one that speaks of an agent session
 * that has ended.
 */
static int machine_settle(struct machines *m, const struct job_rec *j)
{
	char detail[EVENT_DETAIL_MAX];
	struct job_counts c;
	sqlite3_stmt *s;
	int ret, phase, cur, connected;

	ret = job_counts(m, j->mac, &c);
	if (ret)
		return ret;
	s = m_stmt(m, M_PHASE_GET);
	bind_mac(s, 1, j->mac);
	ret = m_row(m, M_PHASE_GET);
	if (ret <= 0)
		return ret ? ret : -EIO;
	cur = sqlite3_column_int(s, 0);
	connected = sqlite3_column_int(s, 2);
	m_done(m, M_PHASE_GET);

	if (c.blocking)
		phase = MPHASE_FAILED;
	else if (c.in_flight)
		phase = MPHASE_RUNNING;
	else if (!c.queued)
		phase = MPHASE_DONE;
	else if (connected)
		phase = MPHASE_AGENT;
	else if (cur == MPHASE_RUNNING || cur == MPHASE_DONE ||
		 cur == MPHASE_FAILED)
		phase = MPHASE_GONE;
	else
		phase = cur;
	job_detail(j, detail, sizeof(detail));
	return machine_phase_set(m, j->mac, phase, detail, NULL, j->id);
}

/* Image jobs take exactly their two arguments: xbootd appends the URL
 * and the key after them (image_http.h). Whether the image exists or the
 * name is free is the image store's to say: image_xfer_job_check(). */
static bool job_image_args_valid(int type, unsigned int nargs)
{
	if (type != XBA_JOB_IMAGE_DEPLOY && type != XBA_JOB_IMAGE_CAPTURE)
		return true;
	return nargs == IMAGE_HTTP_JOB_ARGS;
}

int machines_job_add(struct machines *m, const uint8_t mac[6], int type,
		     int step, uint32_t timeout_s, const char *const args[],
		     unsigned int nargs, uint64_t *id)
{
	struct json_object *arr;
	struct job_rec j;
	sqlite3_stmt *s;
	unsigned int i;
	bool began;
	int ret;

	if (type <= XBA_JOB_UNSPEC || type >= __XBA_JOB_LAST)
		return -EINVAL;
	if (!step)
		step = job_type_default_step(type);
	if (step < JOB_STEP_PRE || step >= __JOB_STEP_MAX)
		return -EINVAL;
	if (nargs > XBA_JOB_ARGS_MAX || (type == XBA_JOB_RUN && !nargs))
		return -EINVAL;
	for (i = 0; i < nargs; i++)
		if (!args[i] || strlen(args[i]) >= XBA_ATTR_VALUE_MAX)
			return -EINVAL;
	if (!job_image_args_valid(type, nargs))
		return -EINVAL;
	arr = json_object_new_array();
	for (i = 0; i < nargs; i++)
		json_object_array_add(arr, json_object_new_string(args[i]));

	ret = tx_begin(m, &began);
	if (ret)
		goto out;
	ret = machine_ensure(m, mac);
	if (ret)
		goto end;
	s = m_stmt(m, M_JOB_ADD);
	bind_mac(s, 1, mac);
	sqlite3_bind_int(s, 2, type);
	sqlite3_bind_int(s, 3, step);
	sqlite3_bind_int64(s, 4, timeout_s);
	sqlite3_bind_text(s, 5, json_object_to_json_string_ext(arr,
				JSON_C_TO_STRING_PLAIN), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 6, now_s());
	ret = m_exec(m, M_JOB_ADD);
	if (ret)
		goto end;
	memset(&j, 0, sizeof(j));
	j.id = (uint64_t)sqlite3_last_insert_rowid(m->db);
	memcpy(j.mac, mac, 6);
	j.type = type;
	j.state = JOB_QUEUED;
	ret = machine_settle(m, &j);
	if (!ret && id)
		*id = j.id;
end:
	ret = tx_end(m, began, ret);
out:
	json_object_put(arr);
	return ret;
}

int machines_job_get(struct machines *m, uint64_t id, struct job_rec *out)
{
	sqlite3_bind_int64(m_stmt(m, M_JOB_GET), 1, (sqlite3_int64)id);
	return job_read_one(m, M_JOB_GET, out);
}

int machines_job_next(struct machines *m, const uint8_t mac[6],
		      struct job_rec *out)
{
	int ret;

	bind_mac(m_stmt(m, M_JOB_NEXT), 1, mac);
	ret = job_read_one(m, M_JOB_NEXT, out);
	if (ret)
		return ret;
	if (out->state == JOB_QUEUED)
		return 0;
	ret = job_state_in_flight(out->state) ? -EBUSY : -ECANCELED;
	job_rec_free(out);
	return ret;
}

static int job_sent(struct machines *m, struct job_rec *j, uint32_t seq)
{
	char detail[EVENT_DETAIL_MAX];
	int ret;

	if (j->state != JOB_QUEUED)
		return job_state_in_flight(j->state) && j->seq == seq ?
			       0 : -EALREADY;
	j->state = JOB_SENT;
	j->seq = seq;
	ret = job_write(m, j);
	if (ret)
		return ret;
	snprintf(detail, sizeof(detail), "job %llu %s",
		 (unsigned long long)j->id, job_type_name(j->type));
	return machine_phase_set(m, j->mac, MPHASE_RUNNING, detail, NULL,
				 j->id);
}

int machines_job_sent(struct machines *m, uint64_t id, uint32_t seq)
{
	struct job_rec j;
	bool began;
	int ret;

	ret = tx_begin(m, &began);
	if (ret)
		return ret;
	ret = machines_job_get(m, id, &j);
	if (!ret) {
		ret = job_sent(m, &j, seq);
		job_rec_free(&j);
	}
	return tx_end(m, began, ret);
}

int machines_job_foreach_unacked(struct machines *m, const uint8_t mac[6],
				 uint32_t after,
				 int (*fn)(const struct job_rec *j, void *arg),
				 void *arg)
{
	sqlite3_stmt *s = m_stmt(m, M_JOB_UNACKED);
	struct job_rec *recs;
	size_t n, i;
	int ret;

	bind_mac(s, 1, mac);
	sqlite3_bind_int64(s, 2, after);
	ret = job_read_all(m, M_JOB_UNACKED, &recs, &n);
	for (i = 0; i < n && !ret; i++)
		ret = fn(&recs[i], arg);
	job_recs_free(recs, n);
	return ret;
}

static int job_state_from_agent(uint8_t state)
{
	switch (state) {
	case XBA_JOB_STATE_ACCEPTED:
		return JOB_ACCEPTED;
	case XBA_JOB_STATE_RUNNING:
		return JOB_RUNNING;
	case XBA_JOB_STATE_DONE:
		return JOB_DONE;
	case XBA_JOB_STATE_FAILED:
		return JOB_FAILED;
	case XBA_JOB_STATE_TIMED_OUT:
		return JOB_TIMED_OUT;
	}
	return -EINVAL;
}

static int job_status(struct machines *m, struct job_rec *j, int state,
		      const struct agent_job_status *st)
{
	int64_t now = now_s();
	int ret;

	/* a status that repeats what we have (a resent frame) is no news */
	if (state == j->state && !st->has_exit_code &&
	    (!st->has_output_bytes || st->output_bytes == j->output_bytes))
		return 0;
	j->state = state;
	if (!j->started)
		j->started = now;
	if (job_state_finished(state))
		j->finished = now;
	if (st->has_exit_code) {
		j->has_exit_code = true;
		j->exit_code = st->exit_code;
	}
	if (st->has_output_bytes)
		j->output_bytes = st->output_bytes;
	if (st->text[0])
		snprintf(j->reason, sizeof(j->reason), "%s", st->text);
	ret = job_write(m, j);
	return ret ? ret : machine_settle(m, j);
}

int machines_job_status(struct machines *m, const uint8_t mac[6],
			const struct agent_job_status *st)
{
	struct job_rec j;
	bool began;
	int state, ret;

	state = job_state_from_agent(st->state);
	if (state < 0)
		return state;
	ret = tx_begin(m, &began);
	if (ret)
		return ret;
	ret = machines_job_get(m, st->id, &j);
	if (ret)
		return tx_end(m, began, ret);
	if (memcmp(j.mac, mac, 6))
		ret = -ENOENT;
	else if (!job_state_finished(j.state))
		ret = job_status(m, &j, state, st);
	job_rec_free(&j);
	return tx_end(m, began, ret);
}

/* Which job's, and is it mac's: 0, or -ENOENT for both. */
static int job_owned(struct machines *m, uint64_t id, const uint8_t mac[6])
{
	struct job_rec j;
	int ret;

	ret = machines_job_get(m, id, &j);
	if (ret)
		return ret;
	ret = memcmp(j.mac, mac, 6) ? -ENOENT : 0;
	job_rec_free(&j);
	return ret;
}

int machines_job_output(struct machines *m, const uint8_t mac[6],
			const struct agent_job_output *o)
{
	sqlite3_stmt *s = m_stmt(m, M_OUT_PUT);
	size_t len = o->len;
	int ret;

	ret = job_owned(m, o->id, mac);
	if (ret)
		return ret;
	/* the agent counts all of it in output_bytes; we keep the head */
	if (o->offset >= MACHINES_OUTPUT_MAX || !len)
		return 0;
	if (len > MACHINES_OUTPUT_MAX - o->offset)
		len = MACHINES_OUTPUT_MAX - o->offset;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)o->id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)o->offset);
	sqlite3_bind_blob(s, 3, o->data, len, SQLITE_TRANSIENT);
	return m_exec(m, M_OUT_PUT);
}

struct output_buf {
	uint8_t *data;
	size_t len, cap, max;
	uint64_t pos;		/* the output offset of data[len] */
};

/* Appends what of the chunk at off lies at or after ob->pos: 1, 0 at a
 * gap (the end of what we hold), -ENOMEM. */
static int output_take(struct output_buf *ob, uint64_t off,
		       const uint8_t *data, size_t dlen)
{
	size_t skip, n, cap;
	uint8_t *grown;

	if (off > ob->pos)
		return 0;
	if (off + dlen <= ob->pos)
		return 1;
	skip = ob->pos - off;
	n = dlen - skip;
	if (n > ob->max - ob->len)
		n = ob->max - ob->len;
	if (ob->len + n > ob->cap) {
		cap = ob->len + n > 2 * ob->cap ? ob->len + n : 2 * ob->cap;
		grown = realloc(ob->data, cap);
		if (!grown)
			return -ENOMEM;
		ob->data = grown;
		ob->cap = cap;
	}
	memcpy(ob->data + ob->len, data + skip, n);
	ob->len += n;
	ob->pos += n;
	return 1;
}

int machines_job_output_read(struct machines *m, uint64_t id,
			     uint64_t offset, size_t max, uint8_t **buf,
			     size_t *len)
{
	struct output_buf ob = { .max = max, .pos = offset };
	sqlite3_stmt *s = m_stmt(m, M_OUT_READ);
	int rc = SQLITE_DONE, ret;
	struct job_rec j;

	*buf = NULL;
	*len = 0;
	ret = machines_job_get(m, id, &j);
	if (ret)
		return ret;
	job_rec_free(&j);
	if (ob.max > MACHINES_OUTPUT_MAX)
		ob.max = MACHINES_OUTPUT_MAX;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)offset);
	while (ob.len < ob.max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		ret = output_take(&ob, (uint64_t)sqlite3_column_int64(s, 0),
				  sqlite3_column_blob(s, 1),
				  sqlite3_column_bytes(s, 1));
		if (ret <= 0)
			break;
	}
	if (ret > 0)
		ret = 0;
	if (!ret && rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = m_err(m, M_OUT_READ);
	m_done(m, M_OUT_READ);
	if (!ret && !ob.data)
		ob.data = malloc(1); /* a buffer even when empty */
	if (ret || !ob.data) {
		free(ob.data);
		return ret ? ret : -ENOMEM;
	}
	*buf = ob.data;
	*len = ob.len;
	return 0;
}

int machines_jobs_abandon(struct machines *m, const uint8_t mac[6],
			  const char *reason)
{
	struct job_rec *recs;
	size_t n = 0, i;
	bool began;
	int ret;

	ret = tx_begin(m, &began);
	if (ret)
		return ret;
	bind_mac(m_stmt(m, M_JOB_INFLIGHT), 1, mac);
	ret = job_read_all(m, M_JOB_INFLIGHT, &recs, &n);
	for (i = 0; i < n && !ret; i++) {
		recs[i].state = JOB_FAILED;
		recs[i].finished = now_s();
		if (!recs[i].started)
			recs[i].started = recs[i].finished;
		snprintf(recs[i].reason, sizeof(recs[i].reason), "%s",
			 reason ? reason : "abandoned");
		ret = job_write(m, &recs[i]);
		if (!ret)
			ret = machine_settle(m, &recs[i]);
	}
	job_recs_free(recs, n);
	ret = tx_end(m, began, ret);
	return ret ? ret : (int)n;
}

/*
 * A failed or timed-out job may be cancelled too: that is how an operator
 * skips it and lets the sequence go on.
 */
static int job_cancel(struct machines *m, struct job_rec *j)
{
	if (j->state == JOB_DONE || j->state == JOB_CANCELLED)
		return -EALREADY;
	j->state = JOB_CANCELLED;
	if (!j->finished)
		j->finished = now_s();
	snprintf(j->reason, sizeof(j->reason), "cancelled by the operator");
	return job_write(m, j);
}

static int job_retry(struct machines *m, struct job_rec *j)
{
	if (j->state != JOB_FAILED && j->state != JOB_TIMED_OUT &&
	    j->state != JOB_CANCELLED)
		return -EALREADY;
	j->state = JOB_QUEUED;
	j->seq = 0;
	j->started = 0;
	j->finished = 0;
	j->has_exit_code = false;
	j->output_bytes = 0;
	j->reason[0] = '\0';
	return job_write(m, j);
}

static int job_operator(struct machines *m, uint64_t id,
			int (*action)(struct machines *m, struct job_rec *j))
{
	struct job_rec j;
	bool began;
	int ret;

	ret = tx_begin(m, &began);
	if (ret)
		return ret;
	ret = machines_job_get(m, id, &j);
	if (!ret) {
		ret = action(m, &j);
		if (!ret)
			ret = machine_settle(m, &j);
		job_rec_free(&j);
	}
	return tx_end(m, began, ret);
}

int machines_job_cancel(struct machines *m, uint64_t id)
{
	return job_operator(m, id, job_cancel);
}

/* The old output goes too: the new run's chunks start again at 0. */
static int job_retry_all(struct machines *m, struct job_rec *j)
{
	int ret;

	ret = job_retry(m, j);
	if (ret)
		return ret;
	sqlite3_bind_int64(m_stmt(m, M_OUT_DEL), 1, (sqlite3_int64)j->id);
	return m_exec(m, M_OUT_DEL);
}

int machines_job_retry(struct machines *m, uint64_t id)
{
	return job_operator(m, id, job_retry_all);
}

/* ---- the API's views ---- */

struct json_object *machines_job_json(const struct job_rec *j)
{
	struct json_object *o = json_object_new_object();
	struct json_object *args = json_object_new_array();
	unsigned int i;

	add_int(o, "id", (int64_t)j->id);
	json_object_object_add(o, "mac", json_mac(j->mac));
	add_str(o, "type", job_type_name(j->type));
	add_str(o, "step", job_step_name(j->step));
	add_str(o, "state", job_state_name(j->state));
	add_int(o, "timeout_s", j->timeout_s);
	for (i = 0; i < j->nargs && i < XBA_JOB_ARGS_MAX; i++)
		json_object_array_add(args, json_object_new_string(j->args[i]));
	json_object_object_add(o, "args", args);
	add_int(o, "seq", j->seq);
	add_time(o, "created", j->created);
	add_time(o, "started", j->started);
	add_time(o, "finished", j->finished);
	json_object_object_add(o, "exit_code", j->has_exit_code ?
			       json_object_new_int(j->exit_code) : NULL);
	add_int(o, "output_bytes", (int64_t)j->output_bytes);
	add_int(o, "output_stored", (int64_t)j->output_stored);
	add_str(o, "reason", j->reason);
	return o;
}

static struct json_object *jobs_array(struct machines *m,
				      enum machines_stmt which)
{
	struct json_object *arr = json_object_new_array();
	struct job_rec *recs;
	size_t n, i;

	job_read_all(m, which, &recs, &n);
	for (i = 0; i < n; i++)
		json_object_array_add(arr, machines_job_json(&recs[i]));
	job_recs_free(recs, n);
	return arr;
}

struct json_object *machines_jobs_json(struct machines *m,
				       const uint8_t *mac)
{
	struct json_object *o = json_object_new_object();
	enum machines_stmt which = mac ? M_JOBS_MAC : M_JOBS_ALL;

	if (mac)
		bind_mac(m_stmt(m, which), 1, mac);
	json_object_object_add(o, "jobs", jobs_array(m, which));
	return o;
}

static struct json_object *ip_json(sqlite3_stmt *s, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(s, i);
	char text[INET_ADDRSTRLEN];
	struct in_addr ip;

	if (v <= 0 || v > 0xffffffffLL)
		return NULL;
	ip.s_addr = htonl((uint32_t)v);
	inet_ntop(AF_INET, &ip, text, sizeof(text));
	return json_object_new_string(text);
}

static struct json_object *hex_json(const uint8_t *p, int len)
{
	char text[2 * 64 + 1];

	if (!p || len <= 0 || len > 64)
		return NULL;
	hex_encode(text, p, len);
	return json_object_new_string(text);
}

static struct json_object *uuid_json(const uint8_t *u, int len)
{
	char text[37];

	if (!u || len != XBA_UUID_LEN)
		return NULL;
	snprintf(text, sizeof(text),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
	return json_object_new_string(text);
}

static struct json_object *summary_jobs(struct machines *m,
					const uint8_t mac[6],
					struct json_object *o)
{
	struct json_object *counts = json_object_new_object(), *job = NULL;
	sqlite3_stmt *s = m_stmt(m, M_JOB_LAST);
	struct job_counts c;

	job_counts(m, mac, &c);
	add_int(counts, "queued", c.queued);
	add_int(counts, "running", c.in_flight);
	add_int(counts, "done", c.done);
	add_int(counts, "failed", c.blocking);
	add_int(counts, "cancelled", c.cancelled);
	json_object_object_add(o, "jobs", counts);
	bind_mac(s, 1, mac);
	if (m_row(m, M_JOB_LAST) > 0) {
		job = json_object_new_object();
		add_int(job, "id", sqlite3_column_int64(s, 0));
		add_str(job, "state", job_state_name(sqlite3_column_int(s, 1)));
		m_done(m, M_JOB_LAST);
	}
	json_object_object_add(o, "job", job);
	return o;
}

/* The inventory column, or empty lists. */
static struct json_object *inventory_column(sqlite3_stmt *s, int i)
{
	const char *text = (const char *)sqlite3_column_text(s, i);
	struct json_object *o = text ? json_tokener_parse(text) : NULL;

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = json_object_new_object();
	}
	if (!json_object_object_get_ex(o, "nics", NULL))
		json_object_object_add(o, "nics", json_object_new_array());
	if (!json_object_object_get_ex(o, "disks", NULL))
		json_object_object_add(o, "disks", json_object_new_array());
	return o;
}

/* A row of MACHINE_COLS; with detail, the inventory and jobs too. The
 * job queries use other statements, so s may stay on its row. */
static struct json_object *machine_row_json(struct machines *m,
					    sqlite3_stmt *s, bool detail)
{
	struct json_object *o = json_object_new_object(), *inv, *disks;
	int connected = sqlite3_column_int(s, 6);
	uint8_t mac[6];

	if (!col_mac(s, 0, mac))
		memset(mac, 0, sizeof(mac));
	json_object_object_add(o, "mac", json_mac(mac));
	json_object_object_add(o, "ip", ip_json(s, 1));
	add_str(o, "hostname", (const char *)sqlite3_column_text(s, 2));
	add_str(o, "phase", machine_phase_name(sqlite3_column_int(s, 3)));
	add_int(o, "phase_since", sqlite3_column_int64(s, 4));
	add_str(o, "phase_detail", (const char *)sqlite3_column_text(s, 5));
	json_object_object_add(o, "connected",
			       json_object_new_boolean(connected));
	json_object_object_add(o, "peer", ip_json(s, 7));
	add_str(o, "vendor", (const char *)sqlite3_column_text(s, 8));
	add_str(o, "product", (const char *)sqlite3_column_text(s, 9));
	add_str(o, "serial", (const char *)sqlite3_column_text(s, 10));
	add_int(o, "cpus", sqlite3_column_int64(s, 11));
	add_int(o, "memory_bytes", sqlite3_column_int64(s, 12));
	inv = inventory_column(s, 15);
	json_object_object_get_ex(inv, "disks", &disks);
	add_int(o, "disks", json_object_array_length(disks));
	add_int(o, "created", sqlite3_column_int64(s, 17));
	add_int(o, "seen", sqlite3_column_int64(s, 18));
	summary_jobs(m, mac, o);
	if (!detail) {
		json_object_put(inv);
		return o;
	}
	json_object_object_add(inv, "system_uuid",
			       uuid_json(sqlite3_column_blob(s, 13),
					 sqlite3_column_bytes(s, 13)));
	add_str(inv, "agent_version", (const char *)sqlite3_column_text(s, 14));
	json_object_object_add(inv, "boot_id",
			       hex_json(sqlite3_column_blob(s, 16),
					sqlite3_column_bytes(s, 16)));
	json_object_object_add(o, "inventory", inv);
	/* "jobs" is the list here; the counts move to "job_counts" */
	json_object_object_add(o, "job_counts", json_object_get(
					json_object_object_get(o, "jobs")));
	bind_mac(m_stmt(m, M_JOBS_MAC), 1, mac);
	json_object_object_add(o, "jobs", jobs_array(m, M_JOBS_MAC));
	return o;
}

struct json_object *machines_list_json(struct machines *m)
{
	struct json_object *o = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	sqlite3_stmt *s = m_stmt(m, M_MACHINES_ALL);
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_object_array_add(arr, machine_row_json(m, s, false));
	if (rc != SQLITE_DONE)
		m_err(m, M_MACHINES_ALL);
	m_done(m, M_MACHINES_ALL);
	json_object_object_add(o, "machines", arr);
	return o;
}

struct json_object *machines_machine_json(struct machines *m,
					  const uint8_t mac[6])
{
	sqlite3_stmt *s = m_stmt(m, M_MACHINE_ONE);
	struct json_object *o;

	bind_mac(s, 1, mac);
	if (m_row(m, M_MACHINE_ONE) <= 0)
		return NULL;
	o = machine_row_json(m, s, true);
	m_done(m, M_MACHINE_ONE);
	return o;
}

/* ---- image job keys ---- */

static bool key_text_valid(const char *key)
{
	size_t n = strlen(key);

	return n == IMAGE_HTTP_KEY_HEX &&
	       strspn(key, "0123456789abcdef") == IMAGE_HTTP_KEY_HEX;
}

int machines_job_key_new(struct machines *m, uint64_t id,
			 char out[MACHINES_JOB_KEY_TEXT])
{
	uint8_t raw[IMAGE_HTTP_KEY_LEN], hash[HASH_LEN];
	sqlite3_stmt *s = m_stmt(m, M_KEY_SET);
	int i, ret;

	ret = random_bytes(raw, sizeof(raw));
	for (i = 0; !ret && i < IMAGE_HTTP_KEY_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	if (!ret)
		ret = sha256(out, IMAGE_HTTP_KEY_HEX, hash);
	if (ret) {
		explicit_bzero(out, MACHINES_JOB_KEY_TEXT);
		return ret;
	}
	sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
	sqlite3_bind_blob(s, 2, hash, HASH_LEN, SQLITE_TRANSIENT);
	ret = m_exec(m, M_KEY_SET);
	if (ret)
		explicit_bzero(out, MACHINES_JOB_KEY_TEXT);
	return ret;
}

int machines_job_key_find(struct machines *m, const char *key,
			  struct job_rec *out)
{
	uint8_t hash[HASH_LEN];
	int ret;

	if (!key_text_valid(key))
		return -ENOENT;
	ret = sha256(key, IMAGE_HTTP_KEY_HEX, hash);
	if (ret)
		return ret;
	sqlite3_bind_blob(m_stmt(m, M_KEY_FIND), 1, hash, HASH_LEN,
			  SQLITE_TRANSIENT);
	return job_read_one(m, M_KEY_FIND, out);
}
