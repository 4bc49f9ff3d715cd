/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control API: HTTP/1.1 with JSON bodies on a unix socket, served from
 * the event loop (xbootctl is its client). MAC is aa:bb:cc:dd:ee:ff (or
 * with '-', or 12 hex digits); ID is a job id.
 *
 *   GET  /status  {"version","mode","uptime_s","interfaces":[{"name",
 *                  "ifindex","address":"10.0.0.1/24","mac","xdp"}],
 *                  "tftp_block_source":"kfunc"|"map"|"off",
 *                  "leases":{"free","queued","offered","bound","declined"},
 *                  "agents":{"port" (0: off),"active"},
 *                  "image_dir"}
 *   GET  /leases  {"leases":[{"mac","ip","state","expires","hostname"}]}
 *   GET  /stats   {"dhcp":{DHCP_STAT_NAMES: n},"xdp":{XB_STAT_NAMES: n},
 *                  "http":{...},"tftp":{...},"agent":{...}}
 *
 *   GET  /machines                    {"machines":[summary]} (machines.h)
 *   GET  /machines/MAC                the machine, inventory and jobs
 *   POST /machines/MAC/enrol          {"mac","credential","expires"}: a new
 *                                     single-use enrolment credential
 *   POST /machines/MAC/disconnect     end its agent session (404: none)
 *   POST /machines/MAC/forget-token   it must enrol again
 *   GET  /jobs[?mac=MAC]              {"jobs":[job]}
 *   POST /jobs                        body {"mac","type","step"?,
 *                                     "timeout_s"?,"args":[strings]}:
 *                                     201 {"job":{...}}
 *   GET  /jobs/ID                     {"job":{...}}
 *   GET  /jobs/ID/output[?offset=N]   the stored output, text/plain, raw
 *                                     bytes (at most CONTROL_OUTPUT_MAX)
 *   POST /jobs/ID/cancel              {"job":{...}} (409: finished)
 *   POST /jobs/ID/retry               {"job":{...}} (409: not failed)
 *   GET  /events?after=N[&max=M]      {"seq","events":[...]} (max=0: just
 *                                     the newest seq)
 *
 *   GET  /images                      {"image_dir","images":[image]}, by
 *                                     name, read from the directory on
 *                                     each request
 *   GET  /images/NAME                 {"image":image} (404: none)
 *     image: {"name","broken":false,"size","stored" (bytes in the data
 *            file),"chunks","holes","chunk_size","ptable":"none"|"mbr"|
 *            "gpt","level","captured" (epoch s),"source" (MAC, null:
 *            imported from a file),"sha256" (hex, the whole source)}, or
 *            {"name","broken":true,"error"} for one that cannot be read
 *
 *   POST /media                       body {"type":"floppy"|"usb"|"iso",
 *                                     "out" (absolute path, written by
 *                                     xbootd),"server"?,"machine"?,"ip"?,
 *                                     "gateway"?,"kernel"?,"initrd"?,
 *                                     "ca"?}: a boot medium (media.h),
 *                                     built by media_srv.h; the answer
 *                                     waits for it: 201 {"media":{"type",
 *                                     "out","size","sha256","server"
 *                                     (http://A.B.C.D:PORT),
 *                                     "machine" (null: any),
 *                                     "credential_expires"? (epoch s)}};
 *                                     400 naming the field; 429 when
 *                                     MEDIA_SRV_BUILDS_MAX builds run;
 *                                     500 with the builder's message
 *     defaults: server = server-address or the first interface's address,
 *     with http-port (also the port of a server given without one);
 *     kernel, initrd (usb, iso) = HTTP-ROOT/boot/default/{vmlinuz,
 *     initrd.img}; ca (usb, iso) = the CA agents pin. With a machine and
 *     the agent service on, usb and iso carry an enrolment credential
 *     minted for CONTROL_MEDIA_ENROL_TTL_S (their UEFI path boots the
 *     agent straight from the medium, with no iPXE script to mint one).
 *
 *   Errors: 400/404/405/409/411/413/429/501/503 with {"error":"..."}; a
 *   bad field of a POST body is named in the message ("type: unknown 'x'").
 *
 * One request per connection (Connection: close). A POST carries its body
 * with Content-Length (chunked is refused: 501; none: 411). A request
 * larger than CONTROL_REQ_MAX (head at most CONTROL_HEAD_MAX) or a client
 * slower than CONTROL_TIMEOUT_S is cut off; no client can hold up the loop.
 * A POST /media connection waits for its build (MEDIA_SRV_TIMEOUT_S at
 * most) with no operation in flight, then gets CONTROL_TIMEOUT_S to take
 * its answer.
 */
#ifndef XBOOTD_CONTROL_H
#define XBOOTD_CONTROL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "media.h"

#define CONTROL_HEAD_MAX 8192
/* A run job's script may be as long as one agent attribute (64 KiB), and
 * JSON escaping can double it. */
#define CONTROL_REQ_MAX (256 * 1024)
#define CONTROL_PATH_MAX 256
#define CONTROL_OUTPUT_MAX (16U << 20)
#define CONTROL_TIMEOUT_S 5
#define CONTROL_CONN_MAX 64
/* A boot medium outlives a PXE boot's script: its credential lasts 30 days. */
#define CONTROL_MEDIA_ENROL_TTL_S (30 * 24 * 3600)

enum control_method {
	CONTROL_M_NONE = 0,
	CONTROL_M_GET,
	CONTROL_M_POST,
};

/* A parsed request; body points into the caller's buffer. */
struct control_request {
	enum control_method method;
	char path[CONTROL_PATH_MAX];	/* without query and fragment */
	char query[CONTROL_PATH_MAX];	/* after '?', "" if none */
	const char *body;
	size_t body_len;
};

/* A POST /media body checked, with the defaults filled in; spec points
 * into the strings here. */
struct control_media {
	struct media_spec spec;
	char out[PATH_MAX];
	char server[80];
	char mac[18];
	char ip[32];
	char gateway[32];
	char kernel[PATH_MAX];
	char initrd[PATH_MAX];
	char ca[PATH_MAX];
	char enrol[64];		/* minted when the build starts */
	int64_t enrol_expires;	/* 0: none */
};

struct control;
struct loop;
struct xbootd;

/* Listen on path (its directory is created; mode 0660). */
int control_open(struct control **out, struct loop *l, struct xbootd *d,
		 const char *path);
void control_close(struct control *c);
/* A completion of one of control's operations (LOOP_OP_CTL_*). */
void control_handle(struct control *c, int op, void *obj, int res);
/* Once a second: cut off clients that take too long. */
void control_tick(struct control *c);

/* The request in buf[0..len): 0 while it is incomplete (head or body),
 * else the HTTP status it earns (200: req is filled in). Never reads past
 * len. */
int control_parse_request(const char *buf, size_t len,
			  struct control_request *req);
/* The whole HTTP response for a parsed request (malloc'd, *len bytes);
 * with a status other than 200, req may be NULL. */
char *control_response(struct xbootd *d, int status,
		       const struct control_request *req, size_t *len);
/* A POST /media body (body_len bytes) into m for the running d: 0, or
 * -EINVAL with msg naming the bad field. Nothing is minted or written. */
int control_media_parse(struct xbootd *d, const char *body, size_t body_len,
			struct control_media *m, char *msg, size_t size);
/* Value of key in a query string ("a=1&b=2"), percent-decoded, into
 * out: 0, or -ENOENT / -ENAMETOOLONG / -EINVAL. */
int control_query_get(const char *query, const char *key, char *out,
		      size_t size);

#endif /* XBOOTD_CONTROL_H */
