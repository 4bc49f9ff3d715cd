/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The persistent store: one SQLite database, `xboot.db`, under the state
 * directory. WAL mode, so a `kill -9` never loses a committed lease. The
 * event loop groups the writes of one batch of packets into one transaction
 * (store_begin/store_commit) and sends replies only after the commit.
 */
#ifndef XBOOTD_STORE_H
#define XBOOTD_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

struct store;
struct sqlite3;

enum lease_state {
	LEASE_FREE = 0,     /* not stored; in-memory only */
	LEASE_OFFERED = 1,  /* held for an OFFER */
	LEASE_BOUND = 2,    /* ACKed */
	LEASE_DECLINED = 3, /* client said the address is in use */
	LEASE_RELEASED = 4, /* client released it; remembered for reuse */
};

struct lease_rec {
	uint8_t mac[6];
	struct in_addr ip;
	int state;             /* enum lease_state */
	int64_t expires;       /* wall clock, seconds since the epoch */
	char hostname[64];
	uint8_t client_id[64]; /* option 61, if any */
	int client_id_len;
};

int store_open(struct store **out, const char *state_dir);
void store_close(struct store *st);
int store_begin(struct store *st);
int store_commit(struct store *st);
/* Ends the open transaction, undoing its writes (no-op when none). */
int store_rollback(struct store *st);
/* Whether store_begin() opened a transaction not yet ended: a caller that
 * groups its own writes begins and commits only when this is false. */
bool store_in_tx(struct store *st);
/* The connection, for the other tables of the one database (machines.c);
 * the schema of every table is store.c's. */
struct sqlite3 *store_db(struct store *st);

/* Insert or replace the lease for rec->ip (the IP is the key). */
int store_lease_put(struct store *st, const struct lease_rec *rec);
int store_lease_del(struct store *st, struct in_addr ip);
/* Calls fn for each stored lease; stops and returns fn's value if nonzero. */
int store_lease_foreach(struct store *st,
			int (*fn)(const struct lease_rec *rec, void *arg),
			void *arg);

#endif /* XBOOTD_STORE_H */
