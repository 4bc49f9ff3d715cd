/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control API: HTTP/1.1 with JSON bodies on a unix socket, served from
 * the event loop (xbootctl is its client).
 *
 *   GET /status  {"version","mode","uptime_s","interfaces":[{"name",
 *                 "ifindex","address":"10.0.0.1/24","mac","xdp"}],
 *                 "tftp_block_source":"kfunc"|"map"|"off",
 *                 "leases":{"free","queued","offered","bound","declined"}}
 *   GET /leases  {"leases":[{"mac","ip","state","expires","hostname"}]}
 *   GET /stats   {"dhcp":{DHCP_STAT_NAMES: n},"xdp":{XB_STAT_NAMES: n}}
 *   anything else: 404/405/400 with {"error":"..."}
 *
 * One request per connection (Connection: close). A request larger than
 * CONTROL_REQ_MAX or a client slower than CONTROL_TIMEOUT_S is cut off; no
 * client can hold up the loop.
 */
#ifndef XBOOTD_CONTROL_H
#define XBOOTD_CONTROL_H

#include <stddef.h>

#define CONTROL_REQ_MAX 8192
#define CONTROL_TIMEOUT_S 5
#define CONTROL_CONN_MAX 64

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

/* The request in buf[0..len): 0 while it is incomplete, else the HTTP
 * status it earns (200: a GET of *path). Never reads past len. */
int control_parse_request(const char *buf, size_t len, char *path,
			  size_t pathsz);
/* The whole HTTP response for a parsed request (malloc'd, *len bytes). */
char *control_response(struct xbootd *d, int status, const char *path,
		       size_t *len);

#endif /* XBOOTD_CONTROL_H */
