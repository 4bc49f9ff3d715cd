/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Machines, their enrolment credentials and tokens, their jobs and job
 * output, and the phase each machine is in: the agent side of xbootd's
 * state, kept in the one SQLite store (store.h) so that a restarted
 * daemon carries on where it was. Everything is called from the event
 * loop's thread.
 *
 * A machine is known by its boot MAC (the NIC that PXE booted, the first
 * MAC of the agent's HELLO). It is created by the first thing that sees
 * it: a DHCP offer, a TFTP/HTTP transfer, an enrolment credential minted
 * for it, an `xbootctl job add`.
 *
 * SECRETS: credentials and tokens are never stored, only their SHA-256.
 * A credential is single use and expires (MACHINES_ENROL_TTL_S); a used
 * one is remembered until it would have expired, so a replay is told
 * apart from a wrong one. Minting a new credential for a MAC drops its
 * unused ones that expire no later than the new one: a boot medium's
 * long-lived credential survives the machine's iPXE scripts. Issuing a
 * token replaces the machine's old token.
 *
 * JOBS: a machine's jobs run one at a time in the classic order: every
 * `pre` step, then `image`, then `post`, then `final` (reboot, poweroff,
 * kexec), and within a step by id. A job that fails or times out stops
 * the sequence: the jobs after it stay queued (the machine's phase is
 * failed) until the operator cancels or retries (`machines_job_retry`).
 * Output is stored by (job, offset), so a chunk that arrives twice is
 * stored once; at most MACHINES_OUTPUT_MAX bytes of a job's output are
 * kept (the status still counts all of it).
 *
 * RELIABLE FRAMES (include/xboot/agent.h, RELIABILITY AND RESUME): the
 * machine row holds the agent's boot id, the controller's send counter
 * (tx_seq), the highest seq the agent acknowledged (acked_seq) and the
 * last agent seq committed (rx_seq). A JOB frame's seq is stored on its
 * job (machines_job_sent) in the same transaction as tx_seq, so the JOBs
 * to resend after a reconnect are the jobs whose seq > the agent's
 * XBA_A_RESUME_SEQ.
 *
 * Every function returns 0 or a negative errno (-EIO: the store failed,
 * logged) unless it says otherwise. Writes go into the store's open
 * transaction when there is one (store_begin), else commit on their own.
 */
#ifndef XBOOTD_MACHINES_H
#define XBOOTD_MACHINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "agent_proto.h"
#include "xboot/image_http.h"

struct store;
struct machines;
struct json_object;

#define MACHINES_ENROL_TTL_S 3600	/* a minted credential's life */
#define MACHINES_CRED_TEXT_MAX 64	/* text form, with its NUL */
#define MACHINES_OUTPUT_MAX (16U << 20) /* output kept per job */
#define MACHINES_EVENTS 4096		/* the event ring for `watch` */

/* Where a machine is; the names are what the API and CLI show. */
enum machine_phase {
	MPHASE_NONE,		/* "new": known, nothing seen yet */
	MPHASE_OFFERED,		/* "offered": a DHCP offer went out */
	MPHASE_BOUND,		/* "bound": DHCP ACK */
	MPHASE_BOOT_FILE,	/* "boot-file": a TFTP/HTTP boot file sent */
	MPHASE_BOOTENV,		/* "boot-env": its iPXE script was served */
	MPHASE_AGENT,		/* "agent": an agent session is up, idle */
	MPHASE_RUNNING,		/* "running": a job is in flight */
	MPHASE_DONE,		/* "done": every job finished well */
	MPHASE_FAILED,		/* "failed": a job failed or timed out */
	MPHASE_GONE,		/* "gone": the agent's session ended */
	__MPHASE_MAX
};

enum job_step {
	JOB_STEP_PRE = 1,	/* "pre" */
	JOB_STEP_IMAGE,		/* "image" */
	JOB_STEP_POST,		/* "post" */
	JOB_STEP_FINAL,		/* "final": reboot, poweroff, kexec */
	__JOB_STEP_MAX
};

/* The controller's view of a job; the names are what the API shows. */
enum job_state {
	JOB_QUEUED = 1,		/* "queued": not sent yet */
	JOB_SENT,		/* "sent": JOB frame out, no status yet */
	JOB_ACCEPTED,		/* "accepted" */
	JOB_RUNNING,		/* "running" */
	JOB_DONE,		/* "done" */
	JOB_FAILED,		/* "failed" */
	JOB_TIMED_OUT,		/* "timed-out" */
	JOB_CANCELLED,		/* "cancelled": by the operator */
	__JOB_STATE_MAX
};

const char *machine_phase_name(int phase);
const char *job_step_name(int step);
int job_step_from_name(const char *name);	/* -EINVAL if unknown */
const char *job_state_name(int state);
const char *job_type_name(int type);		/* enum xba_job_type */
int job_type_from_name(const char *name);	/* "run", ...; -EINVAL */
/* The step a job type goes in when none is given: run -> pre, image
 * types -> image, reboot/poweroff/kexec -> final. */
int job_type_default_step(int type);
bool job_state_finished(int state); /* done, failed, timed-out, cancelled */

struct job_rec {
	uint64_t id;
	uint8_t mac[6];
	int type;		/* enum xba_job_type */
	int step;		/* enum job_step */
	int state;		/* enum job_state */
	uint32_t timeout_s;	/* 0: none */
	unsigned int nargs;
	char *args[XBA_JOB_ARGS_MAX]; /* malloc'd; job_rec_free() */
	uint32_t seq;		/* its JOB frame's seq; 0: never sent */
	int64_t created, started, finished; /* epoch s; 0: not yet */
	bool has_exit_code;
	int32_t exit_code;	/* wire form: -N for signal N */
	uint64_t output_bytes;	/* as the agent last reported */
	uint64_t output_stored;	/* bytes of output we hold */
	char reason[XBA_TEXT_MAX];
};

void job_rec_free(struct job_rec *j);

/* Per-machine reliability state (see RELIABLE FRAMES). */
struct machine_session {
	bool has_boot_id;
	uint8_t boot_id[XBA_BOOT_ID_LEN];
	uint32_t tx_seq;	/* last seq the controller sent */
	uint32_t acked_seq;	/* highest seq the agent acknowledged */
	uint32_t rx_seq;	/* last agent seq committed */
};

/* Opens the machines' tables in st (store_open() creates or migrates
 * them: schema version 2). The event ring is in memory only: its
 * sequence numbers start again from 0 at each open. */
int machines_open(struct machines **out, struct store *st);
void machines_close(struct machines *m);
struct store *machines_store(struct machines *m);

/* ---- phases and events ---- */

/*
 * The machine (created when new) moved to phase; detail is a short
 * free-form text for `watch` ("job 12 run: 4 KiB output", "pxelinux.0"),
 * may be NULL. ip, when not NULL and nonzero, is remembered as its
 * address. Appends an event unless phase and detail are both unchanged.
 * A phase never moves back from AGENT/RUNNING (nor DONE/FAILED) to
 * OFFERED..BOOTENV while an agent session is up (a DHCP renewal from the
 * boot environment is not news): those calls only refresh the address.
 * AGENT is what the jobs allow: a machine with a job in flight stays
 * RUNNING, one whose sequence a failed job stops stays FAILED.
 */
int machines_phase(struct machines *m, const uint8_t mac[6], int phase,
		   const char *detail, const struct in_addr *ip);
/* The machine's phase (enum machine_phase), -ENOENT when unknown. */
int machines_phase_get(struct machines *m, const uint8_t mac[6]);
/* Marks whether an agent session is up (shown as "connected"); peer,
 * when not NULL, is remembered. The phase is left to machines_phase(). */
int machines_set_connected(struct machines *m, const uint8_t mac[6],
			   bool connected, const struct in_addr *peer);

/* The newest event's sequence number (0: none yet). */
uint64_t machines_event_seq(struct machines *m);
/* {"seq":N,"lost":K,"events":[{"seq","time","mac","phase","job","detail"}]}:
 * the events after `after`, oldest first, at most max of them (events that
 * fell off the ring are skipped; "lost":K says how many). "seq" is the
 * last event returned or skipped: the next call's `after`. An `after`
 * beyond the newest event is a client of an earlier xbootd run: it gets
 * this run's events from the start. "job" is null when none. */
struct json_object *machines_events_json(struct machines *m, uint64_t after,
					 unsigned int max);

/* ---- enrolment credentials and tokens ---- */

/*
 * A new single-use credential for mac: its text form (URL- and
 * command-line safe, [A-Za-z0-9_-], at most MACHINES_CRED_TEXT_MAX - 1
 * characters) in out; its hash is stored with an expiry of ttl_s
 * seconds (0: MACHINES_ENROL_TTL_S). *expires (may be NULL) gets the
 * expiry, epoch seconds.
 */
int machines_enrol_mint(struct machines *m, const uint8_t mac[6],
			uint32_t ttl_s, char out[MACHINES_CRED_TEXT_MAX],
			int64_t *expires);
/*
 * Redeems a credential presented in HELLO (the raw bytes of
 * XBA_A_CREDENTIAL, which are the text form) by a machine with the MACs
 * macs[0..nmacs): 0 and the machine's MAC in mac_out; the credential is
 * used from then on. -ENOENT: unknown, expired, or minted for a MAC not
 * in macs (XBA_REFUSED_BAD_CREDENTIAL); -EALREADY: already used
 * (XBA_REFUSED_CREDENTIAL_REUSED).
 */
int machines_enrol_redeem(struct machines *m, const uint8_t *cred,
			  size_t len, const uint8_t macs[][XBA_MAC_LEN],
			  unsigned int nmacs, uint8_t mac_out[6]);
/* A new random token for mac (XBA_TOKEN_LEN bytes into token); its hash
 * replaces the machine's old one. */
int machines_token_issue(struct machines *m, const uint8_t mac[6],
			 uint8_t token[XBA_TOKEN_LEN]);
/*
 * Checks a token presented by a machine with the MACs macs[0..nmacs):
 * 0 and the owner's MAC in mac_out; -ENOENT: no machine has it
 * (XBA_REFUSED_BAD_TOKEN); -EPERM: it is the token of a machine whose MAC
 * is not in macs (XBA_REFUSED_TOKEN_MISMATCH).
 */
int machines_token_check(struct machines *m,
			 const uint8_t token[XBA_TOKEN_LEN],
			 const uint8_t macs[][XBA_MAC_LEN], unsigned int nmacs,
			 uint8_t mac_out[6]);
/* Forgets the machine's token (it must enrol again). */
int machines_token_revoke(struct machines *m, const uint8_t mac[6]);

/* ---- sessions and inventory ---- */

/* The reliability state (all zero for a machine never connected). */
int machines_session_get(struct machines *m, const uint8_t mac[6],
			 struct machine_session *s);
int machines_session_put(struct machines *m, const uint8_t mac[6],
			 const struct machine_session *s);
/* The agent's inventory and HELLO facts (agent version, system UUID; not
 * the boot id, which is machines_session_put()'s), replacing what was
 * stored. */
int machines_inventory_put(struct machines *m, const uint8_t mac[6],
			   const struct agent_inventory *inv);
int machines_hello_put(struct machines *m, const uint8_t mac[6],
		       const struct agent_hello *h);

/* ---- jobs ---- */

/* A new queued job; args are copied. *id gets its id. step 0 is the
 * type's job_type_default_step(). -EINVAL: type or step out of range,
 * too many args, an arg of XBA_ATTR_VALUE_MAX bytes or more, a run job
 * without its script, an image job without exactly its two arguments
 * (image-deploy NAME DISK, image-capture DISK NAME; the name and whether
 * the image exists are the caller's check: image_xfer_job_check()). */
int machines_job_add(struct machines *m, const uint8_t mac[6], int type,
		     int step, uint32_t timeout_s, const char *const args[],
		     unsigned int nargs, uint64_t *id);
/* The job, or -ENOENT. */
int machines_job_get(struct machines *m, uint64_t id, struct job_rec *out);
/*
 * The machine's next job to send: 0 and *out when the first unfinished
 * job (in step, id order) is queued; -EBUSY when that job is already in
 * flight (sent, accepted, running); -ECANCELED when a failed or timed-out
 * job stops the sequence; -ENOENT when nothing is left.
 */
int machines_job_next(struct machines *m, const uint8_t mac[6],
		      struct job_rec *out);
/* The job's JOB frame went out with seq (state queued -> sent; phase
 * RUNNING). -EALREADY when it is not queued (0 when it is in flight with
 * this seq already). */
int machines_job_sent(struct machines *m, uint64_t id, uint32_t seq);
/* For a resume: fn for each of mac's jobs in flight whose seq > after, in
 * seq order (fn's nonzero return stops and is returned). */
int machines_job_foreach_unacked(struct machines *m, const uint8_t mac[6],
				 uint32_t after,
				 int (*fn)(const struct job_rec *j, void *arg),
				 void *arg);
/*
 * A JOB_STATUS from mac's agent. -ENOENT: no such job of this machine
 * (a status for another machine's job is refused the same way); a status
 * for a finished job is ignored (0). Sets timestamps and the phase
 * (RUNNING, DONE when nothing is left, FAILED).
 */
int machines_job_status(struct machines *m, const uint8_t mac[6],
			const struct agent_job_status *st);
/* A JOB_OUTPUT chunk from mac's agent; idempotent per offset. -ENOENT:
 * not a job of mac. Bytes past MACHINES_OUTPUT_MAX are dropped (0). */
int machines_job_output(struct machines *m, const uint8_t mac[6],
			const struct agent_job_output *o);
/* The job's stored output from offset, at most max bytes: malloc'd into
 * *buf, length in *len (0 at the end). */
int machines_job_output_read(struct machines *m, uint64_t id,
			     uint64_t offset, size_t max, uint8_t **buf,
			     size_t *len);
/* The agent of mac started afresh (new boot id): its jobs in flight
 * become failed with reason. Returns how many, or -errno. */
int machines_jobs_abandon(struct machines *m, const uint8_t mac[6],
			  const char *reason);
/* Operator actions: cancel a queued, in-flight, failed or timed-out job
 * (cancelling a failed one skips it: the sequence goes on; -EALREADY
 * when done or cancelled already; an agent running it is not told);
 * retry a failed/timed-out/cancelled one (back to queued, its output
 * dropped; -EALREADY otherwise). -ENOENT: no such job. */
int machines_job_cancel(struct machines *m, uint64_t id);
int machines_job_retry(struct machines *m, uint64_t id);

/* ---- image job keys (include/xboot/image_http.h) ---- */

#define MACHINES_JOB_KEY_TEXT (IMAGE_HTTP_KEY_HEX + 1)

/* A new key for image job id (its text, lowercase hex, into out); only
 * its SHA-256 is stored, replacing the job's older key. */
int machines_job_key_new(struct machines *m, uint64_t id,
			 char out[MACHINES_JOB_KEY_TEXT]);
/* The job whose current key is key (any state: the caller checks it is
 * in flight), or -ENOENT (also for text that cannot be a key). */
int machines_job_key_find(struct machines *m, const char *key,
			  struct job_rec *out);

/* ---- the API's views (json-c objects, the caller puts them) ---- */

/* {"machines":[ machine summary ]}: mac, ip, hostname, phase,
 * phase_since, phase_detail, connected, peer, vendor, product, serial,
 * cpus, memory_bytes, disks (count), created, seen, jobs {"queued",
 * "running" (sent, accepted, running), "done", "failed" (failed,
 * timed-out), "cancelled"}, job (the current or last job's id and state,
 * null when none). ip and hostname fall back to the machine's lease. */
struct json_object *machines_list_json(struct machines *m);
/* One machine: the summary plus "inventory" (nics, disks with all their
 * fields, system_uuid, agent_version, boot_id) and "jobs" (job objects;
 * the summary's counts move to "job_counts"). NULL when unknown. Times
 * not reached yet (started, finished) and absent values (ip, exit_code,
 * rotational) are null. */
struct json_object *machines_machine_json(struct machines *m,
					  const uint8_t mac[6]);
/* {"jobs":[ job ]}, of one machine when mac is not NULL: id, mac, type,
 * step, state, timeout_s, args, created, started, finished, exit_code,
 * output_bytes, output_stored, reason. */
struct json_object *machines_jobs_json(struct machines *m,
				       const uint8_t *mac);
struct json_object *machines_job_json(const struct job_rec *j);

#endif /* XBOOTD_MACHINES_H */
