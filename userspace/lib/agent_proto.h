/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent protocol codec (include/xboot/agent.h is the specification),
 * shared by xbootd and xboot-agent. Encoding writes into a caller buffer
 * with a sticky error, so a message is built with unchecked put calls and
 * checked once in agent_msg_finish(). Decoding never allocates: first
 * agent_frame_parse() on a stream buffer (header, TLV structure, the
 * per-type policy), then the typed agent_parse_*() into a plain struct.
 * Decoded strings are copies, except the large ones (job args, output
 * bytes), which point into the frame buffer and live as long as it does.
 */
#ifndef XBOOT_AGENT_PROTO_H
#define XBOOT_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xboot/agent.h"

#define AGENT_NEST_DEPTH 4

struct agent_msg {
	uint8_t *buf;
	size_t cap;
	size_t len;
	size_t nest[AGENT_NEST_DEPTH];
	int depth;
	int err;
};

void agent_msg_init(struct agent_msg *m, void *buf, size_t cap, uint8_t type,
		    uint16_t flags, uint32_t seq);
int agent_put_u8(struct agent_msg *m, uint16_t type, uint8_t v);
int agent_put_u16(struct agent_msg *m, uint16_t type, uint16_t v);
int agent_put_u32(struct agent_msg *m, uint16_t type, uint32_t v);
int agent_put_u64(struct agent_msg *m, uint16_t type, uint64_t v);
int agent_put_string(struct agent_msg *m, uint16_t type, const char *s);
int agent_put_bytes(struct agent_msg *m, uint16_t type, const void *p,
		    size_t len);
int agent_nest_begin(struct agent_msg *m, uint16_t type);
int agent_nest_end(struct agent_msg *m);
/* The frame's total length, or the first error (-EMSGSIZE, -EINVAL). */
ssize_t agent_msg_finish(struct agent_msg *m);

struct agent_frame {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t seq;
	uint32_t len; /* header + body */
	const uint8_t *body;
	uint32_t body_len;
	/* the first copy of each attribute the policy knows, or NULL */
	const uint8_t *attr[XBA_A_MAX + 1];
	const char *why; /* set when a parse function fails */
};

/*
 * One frame at the head of buf: its length, -EAGAIN when buf holds only
 * part of it, or a negative errno with f->why (see the specification for
 * which errno means what).
 */
ssize_t agent_frame_parse(const void *buf, size_t len, struct agent_frame *f);
const char *agent_msg_name(unsigned int type);
/* The lower-case words both sides log for a refusal ("credential
 * reused"), or NULL for a number this version does not know. */
const char *agent_refused_name(unsigned int reason);

struct agent_hello {
	uint8_t version_min;
	uint8_t version_max;
	char agent_version[XBA_AGENT_VERSION_MAX];
	unsigned int n_macs;
	uint8_t macs[XBA_MACS_MAX][XBA_MAC_LEN];
	bool has_uuid;
	uint8_t uuid[XBA_UUID_LEN];
	uint8_t boot_id[XBA_BOOT_ID_LEN];
	uint32_t resume_seq;
	/* secrets: exactly one is present; agent_hello_wipe() them */
	size_t credential_len;
	uint8_t credential[XBA_CREDENTIAL_MAX];
	bool has_token;
	uint8_t token[XBA_TOKEN_LEN];
};

struct agent_welcome {
	uint8_t version;
	uint64_t session_id;
	uint32_t heartbeat_ms;
	uint32_t resume_seq;
	bool has_token; /* secret: agent_welcome_wipe() it */
	uint8_t token[XBA_TOKEN_LEN];
};

struct agent_refused {
	uint16_t reason;
	uint32_t retry_after_ms; /* 0: absent */
	char text[XBA_TEXT_MAX];
};

struct agent_nic {
	uint8_t mac[XBA_MAC_LEN];
	char name[XBA_IFNAME_MAX];
	uint32_t speed_mbps;
};

struct agent_disk {
	char name[XBA_DISK_NAME_MAX];
	uint64_t size;
	char model[XBA_DMI_MAX];
	char serial[XBA_DMI_MAX];
	int rotational; /* -1: unknown */
};

struct agent_inventory {
	char vendor[XBA_DMI_MAX];
	char product[XBA_DMI_MAX];
	char serial[XBA_DMI_MAX];
	uint32_t cpus;
	uint64_t memory_bytes;
	unsigned int n_nics;
	struct agent_nic nics[XBA_NICS_MAX];
	unsigned int n_disks;
	struct agent_disk disks[XBA_DISKS_MAX];
};

struct agent_job {
	uint64_t id;
	uint16_t type;
	uint32_t timeout_s;
	unsigned int n_args;
	const char *args[XBA_JOB_ARGS_MAX]; /* into the frame buffer */
};

struct agent_job_status {
	uint64_t id;
	uint8_t state;
	bool has_exit_code;
	int32_t exit_code;
	bool has_output_bytes;
	uint64_t output_bytes;
	char text[XBA_TEXT_MAX];
};

struct agent_job_output {
	uint64_t id;
	uint64_t offset;
	const uint8_t *data; /* into the frame buffer */
	size_t len;
};

struct agent_bye {
	uint16_t reason;
	char text[XBA_TEXT_MAX];
};

/* Typed decoders of a frame agent_frame_parse() accepted: 0 or -errno. */
int agent_parse_hello(struct agent_frame *f, struct agent_hello *h);
int agent_parse_welcome(struct agent_frame *f, struct agent_welcome *w);
int agent_parse_refused(struct agent_frame *f, struct agent_refused *r);
int agent_parse_inventory(struct agent_frame *f, struct agent_inventory *inv);
int agent_parse_job(struct agent_frame *f, struct agent_job *j);
int agent_parse_job_status(struct agent_frame *f, struct agent_job_status *s);
int agent_parse_job_output(struct agent_frame *f, struct agent_job_output *o);
int agent_parse_ack(struct agent_frame *f, uint32_t *ack_seq);
int agent_parse_bye(struct agent_frame *f, struct agent_bye *b);

/*
 * Typed encoders: the attributes of one message into m, after
 * agent_msg_init() with the matching type; finish with agent_msg_finish().
 */
int agent_build_hello(struct agent_msg *m, const struct agent_hello *h);
int agent_build_welcome(struct agent_msg *m, const struct agent_welcome *w);
int agent_build_refused(struct agent_msg *m, const struct agent_refused *r);
int agent_build_inventory(struct agent_msg *m,
			  const struct agent_inventory *inv);
int agent_build_job(struct agent_msg *m, const struct agent_job *j);
int agent_build_job_status(struct agent_msg *m,
			   const struct agent_job_status *s);
int agent_build_job_output(struct agent_msg *m,
			   const struct agent_job_output *o);
int agent_build_ack(struct agent_msg *m, uint32_t ack_seq);
int agent_build_bye(struct agent_msg *m, const struct agent_bye *b);

void agent_hello_wipe(struct agent_hello *h);
void agent_welcome_wipe(struct agent_welcome *w);

#endif /* XBOOT_AGENT_PROTO_H */
