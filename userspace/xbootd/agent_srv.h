/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xbootd's agent service: TLS sessions with xboot-agent on the agent port
 * (include/xboot/agent.h is the protocol), served from the one io_uring
 * loop (loop.c dispatches LOOP_OP_AGENT_FIRST..LOOP_OP_AGENT_LAST
 * completions to agent_srv_handle()). TLS runs through OpenSSL memory
 * BIOs: io_uring moves the ciphertext, OpenSSL never touches a socket.
 *
 * Sessions authenticate (enrolment credential -> token, or token), store
 * what the agent reports through machines.h, and send each machine its
 * next job when the one before has finished. Refusals are logged with the
 * peer's address and the reason, and failed authentications are
 * rate-limited per source address.
 */
#ifndef XBOOTD_AGENT_SRV_H
#define XBOOTD_AGENT_SRV_H

#include <stdint.h>
#include <time.h>

#define AGENT_SESSIONS_MAX 4096	/* more are refused XBA_REFUSED_BUSY */
#define AGENT_HEARTBEAT_MS 5000	/* sent in WELCOME */
#define AGENT_HANDSHAKE_S 10	/* TLS + HELLO must be done by then */
#define AGENT_AUTH_FAILS 5	/* failures per address per window ... */
#define AGENT_AUTH_WINDOW_S 60	/* ... before XBA_REFUSED_RATE_LIMITED */

/* Counters, in /stats ("agent") and /metrics (xboot_agent_*). Keep
 * AGENT_STAT_NAMES in the same order. */
enum agent_stat {
	AGENT_STAT_CONNECTIONS,
	AGENT_STAT_SESSIONS,	/* authenticated */
	AGENT_STAT_ENROLMENTS,	/* tokens issued */
	AGENT_STAT_REFUSED,	/* any refusal */
	AGENT_STAT_AUTH_FAILED,	/* bad/reused credential, bad/other token */
	AGENT_STAT_RATE_LIMITED,
	AGENT_STAT_TLS_FAILED,	/* handshake failures, plaintext */
	AGENT_STAT_MALFORMED,	/* frames the codec refused */
	AGENT_STAT_JOBS_SENT,
	AGENT_STAT_FRAMES_IN,
	AGENT_STAT_FRAMES_OUT,
	AGENT_STAT_ACTIVE,	/* sessions up now (a gauge) */
	AGENT_STAT_MAX,
};

#define AGENT_STAT_NAMES                                                     \
	{ "connections", "sessions", "enrolments", "refused",                \
	  "auth_failed", "rate_limited", "tls_failed", "malformed",          \
	  "jobs_sent", "frames_in", "frames_out", "active" }

struct loop;
struct xbootd;
struct agent_srv;

/* Load or create the TLS identity, open the listening sockets (agent-port
 * on each interface's address) and arm their first operations. NULL *out
 * and 0 when the service is off (agent-port=0). */
int agent_srv_open(struct agent_srv **out, struct loop *l, struct xbootd *d);
/* After the ring has exited: close every socket, free every session. */
void agent_srv_close(struct agent_srv *s);
/* One completion of one of our operations (res < 0: its error). */
void agent_srv_handle(struct agent_srv *s, int op, void *obj, int res);
/* Once a second: heartbeats, handshake deadlines, rate-limit windows. */
void agent_srv_tick(struct agent_srv *s, time_t now);
/* A job was added or changed by the operator: send it if its machine's
 * agent is connected and idle. */
void agent_srv_kick(struct agent_srv *s, const uint8_t mac[6]);
/* Drop mac's session abruptly: no BYE, an RST (SO_LINGER 0), as a
 * cut cable would; the agent reconnects and resumes. 0, or -ENOENT
 * when mac has no session. POST /machines/MAC/disconnect, and tests. */
int agent_srv_disconnect(struct agent_srv *s, const uint8_t mac[6]);

#endif /* XBOOTD_AGENT_SRV_H */
