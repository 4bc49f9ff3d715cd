// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the control API: any bytes a client may send go
 * through control_parse_request(), and a request it accepts is answered
 * by control_response() for an idle daemon. The event loop, the lease table,
 * the XDP controller, the machines store and the agent service are stubbed:
 * only the parser, the routes (a POST /jobs body included) and the JSON are
 * under test. The image store's code is linked in as it is (the idle
 * daemon has no store open, so its routes answer 503).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.c"
#include "image_store.c"
#include "media.c"

/* No image jobs are checked against a store here: none is open. */
int image_xfer_job_check(struct image_store *st, int type,
			 const char *const args[], unsigned int nargs,
			 char *why, size_t why_size)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct io_uring_sqe *loop_get_sqe(struct loop *l)
{
	return NULL;
}

/* No loop, so no media builds: POST /media is parsed, then refused busy. */
struct media_srv *loop_media(struct loop *l)
{
	return NULL;
}

int media_srv_running(const struct media_srv *m)
{
	return 0;
}

int media_srv_start(struct media_srv *m, const struct media_spec *spec,
		    media_srv_done_fn done, void *arg, char *err,
		    size_t errlen)
{
	snprintf(err, errlen, "no builds in the fuzzer");
	return -EBUSY;
}

void media_srv_forget(struct media_srv *m, void *arg)
{
}

void lease_count(struct lease_db *db, int subnet, struct lease_counts *c)
{
	memset(c, 0, sizeof(*c));
}

int lease_foreach(struct lease_db *db,
		  int (*fn)(const struct lease *l, void *arg), void *arg)
{
	return 0;
}

const uint64_t *dhcp_server_stats(struct dhcp_server *srv)
{
	static uint64_t st[DHCP_STAT_MAX];

	return st;
}

const char *xdp_ctl_mode(struct xdp_ctl *x, int ifindex)
{
	return "off";
}

int xdp_ctl_stats(struct xdp_ctl *x, uint64_t out[XB_STAT_MAX])
{
	return -1;
}

const char *xdp_ctl_block_source(const struct xdp_ctl *x)
{
	return "map";
}

/* The machines store: one machine, one job (id 1), no output. */
static const uint8_t stub_mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };

struct json_object *machines_list_json(struct machines *m)
{
	return json_object_new_object();
}

struct json_object *machines_machine_json(struct machines *m,
					  const uint8_t mac[6])
{
	return memcmp(mac, stub_mac, 6) ? NULL : json_object_new_object();
}

int machines_enrol_mint(struct machines *m, const uint8_t mac[6],
			uint32_t ttl_s, char out[MACHINES_CRED_TEXT_MAX],
			int64_t *expires)
{
	strcpy(out, "credential");
	*expires = 1;
	return 0;
}

int machines_token_revoke(struct machines *m, const uint8_t mac[6])
{
	return memcmp(mac, stub_mac, 6) ? -ENOENT : 0;
}

int machines_job_get(struct machines *m, uint64_t id, struct job_rec *out)
{
	if (id != 1)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->id = 1;
	memcpy(out->mac, stub_mac, 6);
	return 0;
}

void job_rec_free(struct job_rec *j)
{
}

struct json_object *machines_job_json(const struct job_rec *j)
{
	return json_object_new_object();
}

struct json_object *machines_jobs_json(struct machines *m,
				       const uint8_t *mac)
{
	return json_object_new_object();
}

int machines_job_add(struct machines *m, const uint8_t mac[6], int type,
		     int step, uint32_t timeout_s, const char *const args[],
		     unsigned int nargs, uint64_t *id)
{
	unsigned int i;

	/* what the store would copy */
	for (i = 0; i < nargs; i++)
		if (strlen(args[i]) >= XBA_ATTR_VALUE_MAX)
			abort();
	*id = 1;
	return 0;
}

int machines_job_output_read(struct machines *m, uint64_t id,
			     uint64_t offset, size_t max, uint8_t **buf,
			     size_t *len)
{
	*buf = NULL;
	*len = 0;
	return 0;
}

int machines_job_cancel(struct machines *m, uint64_t id)
{
	return id == 1 ? 0 : -ENOENT;
}

int machines_job_retry(struct machines *m, uint64_t id)
{
	return id == 1 ? -EALREADY : -ENOENT;
}

uint64_t machines_event_seq(struct machines *m)
{
	return 0;
}

struct json_object *machines_events_json(struct machines *m, uint64_t after,
					 unsigned int max)
{
	return json_object_new_object();
}

int job_type_from_name(const char *name)
{
	return strcmp(name, "run") ? -EINVAL : XBA_JOB_RUN;
}

int job_step_from_name(const char *name)
{
	return strcmp(name, "pre") ? -EINVAL : JOB_STEP_PRE;
}

int job_type_default_step(int type)
{
	return JOB_STEP_PRE;
}

void agent_srv_kick(struct agent_srv *s, const uint8_t mac[6])
{
}

int agent_srv_disconnect(struct agent_srv *s, const uint8_t mac[6])
{
	return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	struct xbootd d = { .cfg = &cfg, .nifaces = 1,
			    .machines = (struct machines *)&cfg };
	struct control_request r;
	size_t len;
	char *req, *resp;
	int status;

	if (size > CONTROL_REQ_MAX)
		return 0;
	/* An exact-size copy, so ASan sees any read past the end. */
	req = malloc(size ? size : 1);
	if (!req)
		return 0;
	memcpy(req, data, size);
	status = control_parse_request(req, size, &r);
	if (status) {
		resp = control_response(&d, status, &r, &len);
		free(resp);
	}
	free(req);
	return 0;
}
