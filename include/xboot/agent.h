/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The agent protocol: what xboot-agent (on a target machine, in the boot
 * environment) and xbootd (the controller) say to each other. This header is
 * the specification; both sides include it and use the one codec in
 * userspace/lib/agent_proto.{c,h}. There is no other copy.
 *
 * TRANSPORT
 *   TLS 1.3 over TCP to the controller's agent port, XBA_PORT (4012); the
 *   agent pins the controller's CA, which the boot environment carries. The
 *   port speaks nothing but TLS: a controller that reads XBA_MAGIC where a
 *   TLS ClientHello belongs answers one plaintext REFUSED
 *   (XBA_REFUSED_NO_TLS) and closes, so a misconfigured agent can say why.
 *
 * FRAMING
 *   A frame is a fixed 16-byte header, then a body of attributes. Every
 *   integer on the wire is big-endian (network byte order).
 *
 *     0        4     5     6        8            12           16
 *     +--------+-----+-----+--------+------------+------------+---------
 *     | magic  | ver | type| flags  | body length|    seq     | body ...
 *     | "XBA1" | u8  | u8  |  u16   |    u32     |    u32     |
 *     +--------+-----+-----+--------+------------+------------+---------
 *
 *   magic: XBA_MAGIC; a stream that does not start with it is not ours.
 *   ver: the protocol version of this frame. HELLO goes out with the lowest
 *     version the agent speaks (so an older controller can read it), and
 *     every later frame with the version WELCOME chose. A version outside
 *     what the reader supports is -EPROTONOSUPPORT.
 *   type: enum xba_msg. An unknown type is -EOPNOTSUPP: versions are
 *     negotiated, so a peer never sends a type the other cannot know.
 *   flags: XBA_F_*; a bit outside XBA_F_ALL is -EOPNOTSUPP.
 *   body length: bytes after the header; header plus body is at most
 *     XBA_FRAME_MAX, larger is -EMSGSIZE (the reader cannot buffer it).
 *   seq: see RELIABILITY; 0 on frames that are not reliable.
 *
 *   The body is a sequence of attributes, netlink-style TLVs:
 *
 *     0       2       4
 *     +-------+-------+----------------+---------+
 *     | type  |  len  | value          | pad     |
 *     |  u16  |  u16  | len - 4 bytes  | to 4    |
 *     +-------+-------+----------------+---------+
 *
 *   len counts the 4-byte attribute header and the value, not the padding;
 *   every attribute starts 4-aligned, so the body length is a multiple of 4.
 *   One value is at most XBA_ATTR_VALUE_MAX bytes (the u16 length); payloads
 *   larger than that are split (JOB_OUTPUT) or repeated (XBA_A_JOB_ARG).
 *   Value kinds:
 *     u8/u16/u32/u64/s32: exactly 1/2/4/8/4 bytes, big-endian.
 *     string: UTF-8 bytes and one terminating NUL, no NUL inside; "" is the
 *       1-byte value "\0". Each string field has a maximum (with its NUL).
 *     binary: raw bytes with a fixed length or a stated range.
 *     nest: a value that is itself a sequence of attributes. A list (NICs,
 *       disks, MACs) is a nest of XBA_LIST_ENTRY attributes, in order.
 *
 *   Validation, the same on both sides and per message type (a policy
 *   table in the codec):
 *     - an attribute type the reader does not know for this message is
 *       skipped (forward compatibility: attributes are only ever appended);
 *     - a known attribute with a bad length or value (wrong size for its
 *       kind, empty where a value is required, a string without its NUL or
 *       with a NUL inside, a string or binary longer than its maximum) is
 *       -EINVAL;
 *     - a second copy of a singular attribute is -EINVAL;
 *     - a missing required attribute is -ENODATA;
 *     - an attribute running past the end of the body or of its nest, or a
 *       body that is not a whole number of attributes, is -EBADMSG;
 *     - a list with more entries than its maximum is -E2BIG.
 *   A refused frame ends the session: the reader may send REFUSED
 *   (XBA_REFUSED_MALFORMED) and closes.
 *
 * RELIABILITY AND RESUME
 *   INVENTORY, JOB, JOB_STATUS and JOB_OUTPUT are reliable: each side numbers
 *   the reliable frames it sends 1, 2, 3, ... in seq, one counter per
 *   direction that survives reconnects. The receiver answers with ACK
 *   (cumulative: every seq up to XBA_A_ACK_SEQ has been processed and, on
 *   the controller, committed to its store). The sender keeps what is not
 *   acknowledged yet: the agent in memory for the life of its boot id, the
 *   controller in its store (its send counter, the agent's last committed
 *   seq and the unacknowledged JOBs), so a restarted controller resumes
 *   too. All other frames carry seq 0 and are not acknowledged. An ACK
 *   need not follow every frame: a receiver may acknowledge a run of them
 *   at once, but within a heartbeat interval.
 *
 *   After a dropped connection or a controller restart the agent reconnects
 *   with exponential backoff and sends HELLO with its XBA_A_BOOT_ID and
 *   XBA_A_RESUME_SEQ = the last controller seq it processed. If the boot id
 *   is the one the controller knows for the machine, WELCOME returns in
 *   XBA_A_RESUME_SEQ the last agent seq the controller committed; each side
 *   then resends its reliable frames after the other's resume point, in
 *   order, with XBA_F_RESENT. A receiver drops (but acknowledges) a
 *   reliable frame whose seq it has already processed. A new boot id (the
 *   machine rebooted, the agent restarted) starts both counters afresh:
 *   WELCOME says XBA_A_RESUME_SEQ 0, and the controller fails or re-queues
 *   the jobs the old agent had. JOB_OUTPUT carries its byte offset, so the
 *   output store is idempotent even when a chunk arrives twice.
 *
 * SESSION
 *     agent                                   controller
 *     HELLO (credential or token) ----------->
 *                         <------------------ WELCOME (token if enrolled)
 *                                             or REFUSED, then close
 *     INVENTORY ----------------------------->
 *                         <------------------ ACK
 *                         <------------------ JOB
 *     ACK, JOB_STATUS(accepted), JOB_STATUS(running) -->
 *     JOB_OUTPUT ...; JOB_STATUS(done, exit code) ->
 *                         <------------------ ACK ...
 *     HEARTBEAT <-----------------------------> HEARTBEAT   (each side, every
 *                                                XBA_A_HEARTBEAT_MS; three
 *                                                missed ones end the session)
 *     BYE (either side, before a deliberate close)
 *
 * AUTHENTICATION
 *   A new machine presents an enrolment credential (from the kernel command
 *   line its iPXE script set); the controller answers with a per-machine
 *   token of XBA_TOKEN_LEN random bytes in WELCOME and stores only its hash.
 *   From then on the agent presents the token. HELLO carries exactly one of
 *   the two. Secrets travel in their own attributes and are decoded into
 *   their own fields so both sides can explicit_bzero() them after use.
 *   Refusals: XBA_REFUSED_* below; failed authentications are rate-limited
 *   per source address (XBA_REFUSED_RATE_LIMITED with XBA_A_RETRY_AFTER_MS).
 *
 * MESSAGES (A = agent to controller, C = controller to agent)
 *
 * XBA_MSG_HELLO                                   A, first frame, seq 0
 *   XBA_A_VERSION_MIN: u8, required
 *   XBA_A_VERSION_MAX: u8, required, >= VERSION_MIN
 *   XBA_A_AGENT_VERSION: string, max XBA_AGENT_VERSION_MAX, required
 *   XBA_A_MACS: nest, required, 1..XBA_MACS_MAX entries
 *     XBA_LIST_ENTRY: binary, 6 bytes, a MAC address of the machine
 *   XBA_A_SYSTEM_UUID: binary, 16 bytes, DMI system UUID, optional
 *   XBA_A_BOOT_ID: binary, 16 bytes, random per agent start, required
 *   XBA_A_RESUME_SEQ: u32, last controller seq processed, required
 *   XBA_A_CREDENTIAL: binary, 1..XBA_CREDENTIAL_MAX, secret  } exactly one
 *   XBA_A_TOKEN: binary, XBA_TOKEN_LEN, secret              } of these
 *   errors beyond the general ones: both secrets -EINVAL, neither or no
 *   MAC -ENODATA, VERSION_MIN > VERSION_MAX -EINVAL
 *
 * XBA_MSG_WELCOME                                 C, answers HELLO, seq 0
 *   XBA_A_VERSION: u8, the version of the session, required
 *   XBA_A_SESSION_ID: u64, for logs on both sides, required
 *   XBA_A_HEARTBEAT_MS: u32, heartbeat interval, required, nonzero
 *   XBA_A_RESUME_SEQ: u32, last agent seq committed, required
 *   XBA_A_TOKEN: binary, XBA_TOKEN_LEN, secret, only after enrolment
 *
 * XBA_MSG_REFUSED                                 C, then close, seq 0
 *   XBA_A_REASON: u16, enum xba_refused, required (an unknown value is
 *                 passed through, to be shown as a number)
 *   XBA_A_REASON_TEXT: string, max XBA_TEXT_MAX, optional
 *   XBA_A_RETRY_AFTER_MS: u32, optional: do not reconnect before this
 *
 * XBA_MSG_INVENTORY                               A, reliable
 *   XBA_A_VENDOR, XBA_A_PRODUCT, XBA_A_SERIAL: string, max XBA_DMI_MAX,
 *                 optional (DMI; absent when the firmware leaves it empty)
 *   XBA_A_CPUS: u32, online CPUs, required
 *   XBA_A_MEMORY_BYTES: u64, required
 *   XBA_A_NICS: nest, optional, 0..XBA_NICS_MAX entries
 *     XBA_LIST_ENTRY: nest
 *       XBA_NIC_A_MAC: binary, 6 bytes, required
 *       XBA_NIC_A_NAME: string, max XBA_IFNAME_MAX, required
 *       XBA_NIC_A_SPEED_MBPS: u32, optional (0 or absent: unknown)
 *   XBA_A_DISKS: nest, optional, 0..XBA_DISKS_MAX entries
 *     XBA_LIST_ENTRY: nest
 *       XBA_DISK_A_NAME: string, max XBA_DISK_NAME_MAX ("sda"), required
 *       XBA_DISK_A_SIZE: u64, bytes, required
 *       XBA_DISK_A_MODEL: string, max XBA_DMI_MAX, optional
 *       XBA_DISK_A_SERIAL: string, max XBA_DMI_MAX, optional
 *       XBA_DISK_A_ROTATIONAL: u8, 0 or 1, optional (absent: unknown)
 *
 * XBA_MSG_HEARTBEAT                               A and C, seq 0, no body
 *
 * XBA_MSG_JOB                                     C, reliable
 *   XBA_A_JOB_ID: u64, required, nonzero
 *   XBA_A_JOB_TYPE: u16, enum xba_job_type, required. An agent that does
 *                 not know the type answers JOB_STATUS failed; the decoder
 *                 passes unknown types through so that it can.
 *   XBA_A_JOB_TIMEOUT_S: u32, optional (absent or 0: no timeout)
 *   XBA_A_JOB_ARG: string, max XBA_ATTR_VALUE_MAX, repeated, in order,
 *                 0..XBA_JOB_ARGS_MAX. For XBA_JOB_RUN the first is the
 *                 shell script; for XBA_JOB_KEXEC kernel, initrd, cmdline.
 *
 * XBA_MSG_JOB_STATUS                              A, reliable
 *   XBA_A_JOB_ID: u64, required
 *   XBA_A_JOB_STATE: u8, enum xba_job_state, required (unknown: -EINVAL)
 *   XBA_A_EXIT_CODE: s32, optional: with done/failed of a process; a
 *                 negative value is -(signal number)
 *   XBA_A_OUTPUT_BYTES: u64, optional: output produced so far, so the
 *                 controller knows whether it holds all of it
 *   XBA_A_REASON_TEXT: string, optional: why a job failed
 *
 * XBA_MSG_JOB_OUTPUT                              A, reliable
 *   XBA_A_JOB_ID: u64, required
 *   XBA_A_OFFSET: u64, byte offset of this chunk in the job's output,
 *                 required
 *   XBA_A_DATA: binary, 1..XBA_ATTR_VALUE_MAX, required
 *
 * XBA_MSG_ACK                                     A and C, seq 0
 *   XBA_A_ACK_SEQ: u32, cumulative, required
 *
 * XBA_MSG_BYE                                     A and C, seq 0, then close
 *   XBA_A_REASON: u16, enum xba_bye, optional
 *   XBA_A_REASON_TEXT: string, optional
 *
 * Numbers are appended, never renumbered or reused.
 */
#ifndef _XBOOT_AGENT_H
#define _XBOOT_AGENT_H

#define XBA_PORT 4012
#define XBA_MAGIC 0x58424131U /* "XBA1" */
#define XBA_VERSION_MIN 1
#define XBA_VERSION_MAX 1

#define XBA_HDR_LEN 16
#define XBA_ATTR_HDR_LEN 4
#define XBA_FRAME_MAX (1U << 20) /* header + body */
#define XBA_ATTR_VALUE_MAX (0xffff - XBA_ATTR_HDR_LEN)
#define XBA_ALIGN(len) (((len) + 3U) & ~3U)

/* Field limits; string maxima count the terminating NUL. */
#define XBA_TOKEN_LEN 32
#define XBA_CREDENTIAL_MAX 128
#define XBA_UUID_LEN 16
#define XBA_BOOT_ID_LEN 16
#define XBA_MAC_LEN 6
#define XBA_AGENT_VERSION_MAX 64
#define XBA_TEXT_MAX 256
#define XBA_DMI_MAX 128
#define XBA_IFNAME_MAX 16
#define XBA_DISK_NAME_MAX 32
#define XBA_MACS_MAX 16
#define XBA_NICS_MAX 16
#define XBA_DISKS_MAX 32
#define XBA_JOB_ARGS_MAX 32

enum xba_msg {
	XBA_MSG_UNSPEC,
	XBA_MSG_HELLO,
	XBA_MSG_WELCOME,
	XBA_MSG_REFUSED,
	XBA_MSG_INVENTORY,
	XBA_MSG_HEARTBEAT,
	XBA_MSG_JOB,
	XBA_MSG_JOB_STATUS,
	XBA_MSG_JOB_OUTPUT,
	XBA_MSG_ACK,
	XBA_MSG_BYE,
	__XBA_MSG_MAX
};
#define XBA_MSG_MAX (__XBA_MSG_MAX - 1)

enum xba_flag {
	/* a reliable frame sent again after a reconnect */
	XBA_F_RESENT = 1U << 0,
	__XBA_F_ALL = XBA_F_RESENT
};

/* Top-level attributes: one number space for all messages. */
enum xba_attr {
	XBA_A_UNSPEC,
	XBA_A_VERSION_MIN,
	XBA_A_VERSION_MAX,
	XBA_A_AGENT_VERSION,
	XBA_A_MACS,
	XBA_A_SYSTEM_UUID,
	XBA_A_BOOT_ID,
	XBA_A_RESUME_SEQ,
	XBA_A_CREDENTIAL,
	XBA_A_TOKEN,
	XBA_A_VERSION,
	XBA_A_SESSION_ID,
	XBA_A_HEARTBEAT_MS,
	XBA_A_REASON,
	XBA_A_REASON_TEXT,
	XBA_A_RETRY_AFTER_MS,
	XBA_A_VENDOR,
	XBA_A_PRODUCT,
	XBA_A_SERIAL,
	XBA_A_CPUS,
	XBA_A_MEMORY_BYTES,
	XBA_A_NICS,
	XBA_A_DISKS,
	XBA_A_JOB_ID,
	XBA_A_JOB_TYPE,
	XBA_A_JOB_TIMEOUT_S,
	XBA_A_JOB_ARG,
	XBA_A_JOB_STATE,
	XBA_A_EXIT_CODE,
	XBA_A_OUTPUT_BYTES,
	XBA_A_OFFSET,
	XBA_A_DATA,
	XBA_A_ACK_SEQ,
	__XBA_A_LAST
};
#define XBA_A_MAX (__XBA_A_LAST - 1)

/* The one attribute type inside a list nest. */
enum xba_list_attr {
	XBA_LIST_UNSPEC,
	XBA_LIST_ENTRY,
	__XBA_LIST_LAST
};

enum xba_nic_attr {
	XBA_NIC_A_UNSPEC,
	XBA_NIC_A_MAC,
	XBA_NIC_A_NAME,
	XBA_NIC_A_SPEED_MBPS,
	__XBA_NIC_A_LAST
};
#define XBA_NIC_A_MAX (__XBA_NIC_A_LAST - 1)

enum xba_disk_attr {
	XBA_DISK_A_UNSPEC,
	XBA_DISK_A_NAME,
	XBA_DISK_A_SIZE,
	XBA_DISK_A_MODEL,
	XBA_DISK_A_SERIAL,
	XBA_DISK_A_ROTATIONAL,
	__XBA_DISK_A_LAST
};
#define XBA_DISK_A_MAX (__XBA_DISK_A_LAST - 1)

enum xba_refused {
	XBA_REFUSED_UNSPEC,
	XBA_REFUSED_NO_TLS,		/* plaintext on the TLS port */
	XBA_REFUSED_VERSION,		/* no common protocol version */
	XBA_REFUSED_MALFORMED,		/* a frame the decoder refused */
	XBA_REFUSED_BAD_CREDENTIAL,	/* unknown or expired credential */
	XBA_REFUSED_CREDENTIAL_REUSED,	/* single-use credential replayed */
	XBA_REFUSED_BAD_TOKEN,		/* token unknown or revoked */
	XBA_REFUSED_TOKEN_MISMATCH,	/* another machine's token */
	XBA_REFUSED_RATE_LIMITED,	/* too many failures; RETRY_AFTER_MS */
	XBA_REFUSED_BUSY,		/* controller shutting down or full */
	XBA_REFUSED_DUPLICATE,		/* machine already has a live session */
	__XBA_REFUSED_LAST
};

enum xba_job_type {
	XBA_JOB_UNSPEC,
	XBA_JOB_RUN,
	XBA_JOB_REBOOT,
	XBA_JOB_POWEROFF,
	XBA_JOB_KEXEC,
	/* reserved for the imaging issue */
	XBA_JOB_IMAGE_DEPLOY,
	XBA_JOB_IMAGE_CAPTURE,
	__XBA_JOB_LAST
};

enum xba_job_state {
	XBA_JOB_STATE_UNSPEC,
	XBA_JOB_STATE_ACCEPTED,
	XBA_JOB_STATE_RUNNING,
	XBA_JOB_STATE_DONE,
	XBA_JOB_STATE_FAILED,
	XBA_JOB_STATE_TIMED_OUT,
	__XBA_JOB_STATE_LAST
};

enum xba_bye {
	XBA_BYE_UNSPEC,
	XBA_BYE_SHUTDOWN,	/* controller or agent stopping */
	XBA_BYE_REBOOT,		/* agent about to reboot/poweroff/kexec */
	XBA_BYE_IDLE,		/* nothing left to do */
	__XBA_BYE_LAST
};

#endif /* _XBOOT_AGENT_H */
