/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The TFTP wire format (RFC 1350) and option negotiation (RFC 2347 OACK,
 * 2348 blksize, 2349 tsize and timeout, 7440 windowsize). Pure: no sockets,
 * no files, so the unit tests and the fuzzer drive it directly.
 *
 * Choices where the RFCs leave room:
 * - An option whose value is out of range or not a number is ignored (not
 *   acknowledged), never a reason to refuse the request (RFC 2347/2348).
 * - A request whose last string is not NUL-terminated, whose file name is
 *   empty, or whose mode is unknown is refused with error 4. A trailing
 *   option name without a value is ignored. Option names and the mode are
 *   case-insensitive; of a repeated option the first one counts.
 * - tsize is acknowledged only in octet mode: the netascii size differs from
 *   the file's, and computing it would mean reading the whole file first.
 *   Nor for an empty file: curl takes an OACK "tsize 0" for an illegal
 *   operation, and leaving the option out is always allowed.
 * - Netascii transfers use a window of 1 (the converted bytes of a block
 *   depend on every byte before it, so a block is rebuilt from the state at
 *   its start rather than from a computed file offset).
 */
#ifndef XBOOTD_TFTP_PROTO_H
#define XBOOTD_TFTP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define TFTP_PORT 69

enum tftp_opcode {
	TFTP_RRQ = 1,
	TFTP_WRQ = 2,
	TFTP_DATA = 3,
	TFTP_ACK = 4,
	TFTP_ERROR = 5,
	TFTP_OACK = 6,
};

enum tftp_errcode {
	TFTP_EUNDEF = 0,    /* see the message */
	TFTP_ENOTFOUND = 1,
	TFTP_EACCESS = 2,
	TFTP_ENOSPACE = 3,
	TFTP_EBADOP = 4,    /* illegal TFTP operation */
	TFTP_EBADID = 5,    /* unknown transfer ID */
	TFTP_EEXISTS = 6,
	TFTP_ENOUSER = 7,
	TFTP_EOPTNEG = 8,   /* option negotiation refused (RFC 2347) */
};

#define TFTP_HDR_LEN 4
#define TFTP_BLKSIZE_DEFAULT 512
#define TFTP_BLKSIZE_MIN 8
#define TFTP_BLKSIZE_MAX 65464
#define TFTP_TIMEOUT_MIN 1
#define TFTP_TIMEOUT_MAX 255
#define TFTP_WINDOW_MAX 65535
#define TFTP_NAME_MAX 512 /* bytes of a requested file name, with its NUL */
#define TFTP_REQ_MAX 1024 /* longer requests are not read whole */

/* Options seen in a request, as bits of tftp_request.has */
enum {
	TFTP_OPT_BLKSIZE = 1 << 0,
	TFTP_OPT_TSIZE = 1 << 1,
	TFTP_OPT_TIMEOUT = 1 << 2,
	TFTP_OPT_WINDOW = 1 << 3,
};

struct tftp_request {
	int opcode;       /* TFTP_RRQ or TFTP_WRQ */
	int netascii;     /* 0: octet */
	unsigned int has; /* TFTP_OPT_*: valid options the client sent */
	uint32_t blksize;
	uint32_t timeout;
	uint32_t window;
	uint64_t tsize;
	char name[TFTP_NAME_MAX];
};

/* What a transfer uses, after negotiation. */
struct tftp_params {
	unsigned int ack;  /* TFTP_OPT_*: options to put in the OACK */
	uint32_t blksize;
	uint32_t timeout;  /* seconds; 0: the server's own schedule */
	uint32_t window;
	uint64_t tsize;
};

/*
 * Parse an RRQ or WRQ. 0, or -EINVAL with *why set to the text for the
 * error packet (-EOPNOTSUPP for a packet that is not a request at all).
 */
int tftp_parse_request(const uint8_t *buf, size_t len,
		       struct tftp_request *rq, const char **why);
/*
 * Parse what a client sends on a transfer: an ACK (returns TFTP_ACK, *block
 * set) or an ERROR (returns TFTP_ERROR, *block the error code); -EINVAL for
 * anything else.
 */
int tftp_parse_reply(const uint8_t *buf, size_t len, uint16_t *block);

/*
 * Decide the transfer's parameters: blksize capped to max_blksize (the
 * path MTU), window capped to max_window, tsize from file_size (octet only).
 */
void tftp_negotiate(const struct tftp_request *rq, uint32_t max_blksize,
		    uint32_t max_window, uint64_t file_size,
		    struct tftp_params *p);

/* Builders: the packet length, or 0 if it does not fit in len. */
size_t tftp_build_oack(uint8_t *buf, size_t len, const struct tftp_params *p);
size_t tftp_build_error(uint8_t *buf, size_t len, int code, const char *msg);
void tftp_build_data_hdr(uint8_t *buf, uint16_t block);

/*
 * Netascii (RFC 764 newlines): LF -> CR LF, CR -> CR NUL. A conversion
 * may stop in the middle of a pair; *pending keeps the second byte (-1 for
 * none) for the next call. Converts from in[] until out is full or in is
 * used up; returns the bytes written, *used the input bytes consumed.
 */
size_t tftp_netascii(const uint8_t *in, size_t inlen, size_t *used,
		     uint8_t *out, size_t outlen, int *pending);

#endif /* XBOOTD_TFTP_PROTO_H */
