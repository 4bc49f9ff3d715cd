// SPDX-License-Identifier: GPL-2.0
/* TFTP boot file server (RFC 1350, 2347-2349, 7440): not served yet; see tftp.h. */
#include <stddef.h>

#include "tftp.h"

int tftp_open(struct tftp **out, struct loop *l, struct xbootd *d)
{
	*out = NULL;
	return 0;
}

void tftp_close(struct tftp *s)
{
}

void tftp_handle(struct tftp *s, int op, void *obj, int res)
{
}

void tftp_tick(struct tftp *s, time_t now)
{
}
