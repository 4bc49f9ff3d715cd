/* SPDX-License-Identifier: GPL-2.0 */
/*
 * DHCP option parsing and writing.
 *
 * dhcp_parse() turns an untrusted datagram into a struct dhcp_request: it
 * validates the BOOTREQUEST header, walks the options field and, with
 * option 52, the file and sname fields (RFC 2132 9.3), and concatenates split
 * instances of the options it keeps (RFC 3396). It never allocates; the
 * request holds copies, so it outlives the receive buffer.
 *
 * struct dhcp_writer appends options to a reply with bounds checks; its
 * error is sticky, so a builder checks once at the end.
 */
#ifndef XBOOTD_DHCP_OPTS_H
#define XBOOTD_DHCP_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "xboot/dhcp.h"

/* One option instance, or several concatenated (RFC 3396), never longer. */
#define DHCP_OPT_MAX 255

struct dhcp_request {
	/* BOOTP header, network byte order where the wire has it. */
	__be32 xid;
	__be16 flags;
	__u8 hops;
	struct in_addr ciaddr, giaddr;
	uint8_t chaddr[16];

	uint8_t msgtype;          /* enum dhcp_msgtype, never 0 */
	uint8_t overload;         /* option 52, 0 if absent */
	int class;                /* enum xb_class, from dhcp_classify() */

	bool has_requested_ip, has_server_id, has_arch, has_ndi;
	bool has_ipxe_encap;      /* option 175 present */
	bool has_relay;           /* option 82 present (may be 0 bytes) */
	bool has_uuid;            /* option 97 present (may be 0 bytes) */
	bool user_class_ipxe;     /* option 77 names "iPXE" (either form) */
	bool has_boot_item;       /* option 43 sub-option 71 (PXE menu pick) */
	struct in_addr requested_ip;  /* 50 */
	struct in_addr server_id;     /* 54 */
	uint16_t max_msg_size;        /* 57, 0 if absent */
	uint16_t arch;                /* 93, first entry */
	uint8_t ndi[3];               /* 94 */
	uint16_t boot_item_type, boot_item_layer; /* 43.71 */

	uint8_t client_id_len, hostname_len, vendor_class_len,
		user_class_len, uuid_len, relay_len, param_list_len;
	uint8_t client_id[DHCP_OPT_MAX];    /* 61 */
	char hostname[DHCP_OPT_MAX + 1];    /* 12, NUL-terminated copy */
	char vendor_class[DHCP_OPT_MAX];    /* 60 */
	uint8_t user_class[DHCP_OPT_MAX];   /* 77, raw */
	uint8_t uuid[DHCP_OPT_MAX];         /* 97, verbatim */
	uint8_t relay[DHCP_OPT_MAX];        /* 82, verbatim */
	uint8_t param_list[DHCP_OPT_MAX];   /* 55 */

	/* On failure: a short constant reason, and the option it is about
	 * (0 if none), for the log. */
	const char *err;
	int err_opt;
};

/* Returns 0, or -EINVAL (malformed: see req->err), -EMSGSIZE (an option too
 * long to keep), -EPROTONOSUPPORT (not an Ethernet BOOTREQUEST with DHCP). */
int dhcp_parse(const uint8_t *buf, size_t len, struct dhcp_request *req);
/* The boot class by the rules in xboot/dhcp.h. */
int dhcp_classify(const struct dhcp_request *req);
const char *dhcp_class_name(int class);
const char *dhcp_msgtype_name(int type);

struct dhcp_writer {
	uint8_t *buf;
	size_t len, cap;
	int err; /* 0 or -EMSGSIZE, sticky */
};

void dhcp_writer_init(struct dhcp_writer *w, uint8_t *buf, size_t cap);
/* Raw bytes (a prebuilt run of options, a header). */
int dhcp_put_raw(struct dhcp_writer *w, const void *data, size_t len);
/* One option: code, len, data; len must fit one instance (<= 255). */
int dhcp_put_opt(struct dhcp_writer *w, uint8_t code, const void *data,
		 size_t len);
int dhcp_put_u8(struct dhcp_writer *w, uint8_t code, uint8_t v);
int dhcp_put_u32(struct dhcp_writer *w, uint8_t code, uint32_t v);
int dhcp_put_addr(struct dhcp_writer *w, uint8_t code, struct in_addr a);
int dhcp_put_end(struct dhcp_writer *w);
/* Zero-fill up to at least min bytes, then up to a multiple of align. */
int dhcp_pad(struct dhcp_writer *w, size_t min, size_t align);

#endif /* XBOOTD_DHCP_OPTS_H */
