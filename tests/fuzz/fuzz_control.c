// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the control API: any bytes a client may send go
 * through control_parse_request(), and a request it accepts is answered
 * by control_response() for an idle daemon. The event loop, the lease table
 * and the XDP controller are stubbed: only the parser and the JSON are
 * under test.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct io_uring_sqe *loop_get_sqe(struct loop *l)
{
	return NULL;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	struct xbootd d = { .cfg = &cfg, .nifaces = 1 };
	char path[256];
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
	status = control_parse_request(req, size, path, sizeof(path));
	if (status) {
		resp = control_response(&d, status, status == 200 ? path : "",
					&len);
		free(resp);
	}
	free(req);
	return 0;
}
