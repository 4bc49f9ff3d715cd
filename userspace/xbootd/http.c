// SPDX-License-Identifier: GPL-2.0
/* HTTP/1.1 boot file server, iPXE scripts and /metrics: not served yet; see http.h. */
#include <stddef.h>

#include "http.h"

int http_open(struct http **out, struct loop *l, struct xbootd *d)
{
	*out = NULL;
	return 0;
}

void http_close(struct http *s)
{
}

void http_handle(struct http *s, int op, void *obj, int res)
{
}

void http_tick(struct http *s, time_t now)
{
}
