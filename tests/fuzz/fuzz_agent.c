// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the agent protocol (include/xboot/agent.h): any
 * bytes are a stream of frames. Each frame agent_frame_parse() accepts goes
 * through every typed decoder (all but its own must refuse it), and what
 * its own decoder accepts is encoded again and must decode to the same
 * thing: the decoder accepts only what the encoder can say. The codec is
 * linked in from userspace/lib (the Makefile adds LIB_SRC).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[XBA_FRAME_MAX];

static union {
	struct agent_hello h;
	struct agent_welcome w;
	struct agent_refused r;
	struct agent_inventory inv;
	struct agent_job j;
	struct agent_job_status s;
	struct agent_job_output o;
	struct agent_bye b;
	uint32_t ack;
} u1, u2;

static int decode(struct agent_frame *f, int type, void *u)
{
	switch (type) {
	case XBA_MSG_HELLO:
		return agent_parse_hello(f, u);
	case XBA_MSG_WELCOME:
		return agent_parse_welcome(f, u);
	case XBA_MSG_REFUSED:
		return agent_parse_refused(f, u);
	case XBA_MSG_INVENTORY:
		return agent_parse_inventory(f, u);
	case XBA_MSG_JOB:
		return agent_parse_job(f, u);
	case XBA_MSG_JOB_STATUS:
		return agent_parse_job_status(f, u);
	case XBA_MSG_JOB_OUTPUT:
		return agent_parse_job_output(f, u);
	case XBA_MSG_ACK:
		return agent_parse_ack(f, u);
	case XBA_MSG_BYE:
		return agent_parse_bye(f, u);
	default:
		return -EOPNOTSUPP;
	}
}

static int encode(struct agent_msg *m, int type, const void *u)
{
	switch (type) {
	case XBA_MSG_HELLO:
		return agent_build_hello(m, u);
	case XBA_MSG_WELCOME:
		return agent_build_welcome(m, u);
	case XBA_MSG_REFUSED:
		return agent_build_refused(m, u);
	case XBA_MSG_INVENTORY:
		return agent_build_inventory(m, u);
	case XBA_MSG_JOB:
		return agent_build_job(m, u);
	case XBA_MSG_JOB_STATUS:
		return agent_build_job_status(m, u);
	case XBA_MSG_JOB_OUTPUT:
		return agent_build_job_output(m, u);
	case XBA_MSG_ACK:
		return agent_build_ack(m, *(const uint32_t *)u);
	case XBA_MSG_BYE:
		return agent_build_bye(m, u);
	default:
		return 0;
	}
}

/* Pointers into the frame differ between the two decodes; compare bytes. */
static void check_same(int type)
{
	unsigned int i;

	if (type == XBA_MSG_JOB) {
		if (u1.j.id != u2.j.id || u1.j.type != u2.j.type ||
		    u1.j.timeout_s != u2.j.timeout_s ||
		    u1.j.n_args != u2.j.n_args)
			abort();
		for (i = 0; i < u1.j.n_args; i++)
			if (strcmp(u1.j.args[i], u2.j.args[i]))
				abort();
	} else if (type == XBA_MSG_JOB_OUTPUT) {
		if (u1.o.id != u2.o.id || u1.o.offset != u2.o.offset ||
		    u1.o.len != u2.o.len || memcmp(u1.o.data, u2.o.data, u1.o.len))
			abort();
	} else if (memcmp(&u1, &u2, sizeof(u1))) {
		abort();
	}
}

static void round_trip(const struct agent_frame *f)
{
	struct agent_frame f2;
	struct agent_msg m;
	ssize_t n;

	agent_msg_init(&m, out, sizeof(out), f->type, f->flags, f->seq);
	encode(&m, f->type, &u1);
	n = agent_msg_finish(&m);
	/* re-encoding drops unknown attributes: it can only shrink */
	if (n < 0 || (size_t)n > f->len)
		abort();
	if (agent_frame_parse(out, n, &f2) != n)
		abort();
	memset(&u2, 0, sizeof(u2));
	if (decode(&f2, f2.type, &u2))
		abort();
	check_same(f->type);
}

static void check_frame(struct agent_frame *f)
{
	int t, err, own = -1;

	for (t = XBA_MSG_HELLO; t <= XBA_MSG_MAX; t++) {
		memset(&u1, 0, sizeof(u1));
		err = decode(f, t, &u1);
		if (err == -EOPNOTSUPP) /* HEARTBEAT: no body, no decoder */
			continue;
		if ((t != f->type && err != -EINVAL) || (err && !f->why))
			abort();
		if (t == f->type)
			own = err;
		f->why = NULL;
	}
	if (own)
		return;
	memset(&u1, 0, sizeof(u1));
	decode(f, f->type, &u1);
	round_trip(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_frame f;
	ssize_t n;

	while (size) {
		n = agent_frame_parse(data, size, &f);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			if (!f.why)
				abort();
			break;
		}
		if (n < XBA_HDR_LEN || (size_t)n > size)
			abort();
		check_frame(&f);
		data += n;
		size -= n;
	}
	return 0;
}
