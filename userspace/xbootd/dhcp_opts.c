// SPDX-License-Identifier: GPL-2.0
/*
 * DHCP option parsing (untrusted input) and the bounded option writer.
 *
 * The parser copies what it keeps into struct dhcp_request, so a malformed
 * packet can at worst be refused: every read is checked against the end of
 * the area it is in (options field, or file/sname under option 52).
 */
#include <errno.h>
#include <string.h>

#include "dhcp_opts.h"

/* The options dhcp_parse() keeps; every other option is skipped. */
enum kept_opt {
	K_HOSTNAME,
	K_VENDOR_OPTS,
	K_REQUESTED_IP,
	K_MSG_TYPE,
	K_SERVER_ID,
	K_PARAM_LIST,
	K_MAX_MSG_SIZE,
	K_VENDOR_CLASS,
	K_CLIENT_ID,
	K_USER_CLASS,
	K_RELAY_AGENT,
	K_CLIENT_ARCH,
	K_CLIENT_NDI,
	K_CLIENT_UUID,
	K_IPXE_ENCAP,
	NKEPT,
};

/* Option code -> kept index + 1 (0: not kept). */
static const uint8_t kept_of[256] = {
	[DHO_HOSTNAME] = K_HOSTNAME + 1,
	[DHO_VENDOR_OPTS] = K_VENDOR_OPTS + 1,
	[DHO_REQUESTED_IP] = K_REQUESTED_IP + 1,
	[DHO_MSG_TYPE] = K_MSG_TYPE + 1,
	[DHO_SERVER_ID] = K_SERVER_ID + 1,
	[DHO_PARAM_LIST] = K_PARAM_LIST + 1,
	[DHO_MAX_MSG_SIZE] = K_MAX_MSG_SIZE + 1,
	[DHO_VENDOR_CLASS] = K_VENDOR_CLASS + 1,
	[DHO_CLIENT_ID] = K_CLIENT_ID + 1,
	[DHO_USER_CLASS] = K_USER_CLASS + 1,
	[DHO_RELAY_AGENT] = K_RELAY_AGENT + 1,
	[DHO_CLIENT_ARCH] = K_CLIENT_ARCH + 1,
	[DHO_CLIENT_NDI] = K_CLIENT_NDI + 1,
	[DHO_CLIENT_UUID] = K_CLIENT_UUID + 1,
	[DHO_IPXE_ENCAP] = K_IPXE_ENCAP + 1,
};

/* A kept option, all its instances concatenated (RFC 3396). */
struct opt_acc {
	uint16_t len;
	bool seen;
	uint8_t data[DHCP_OPT_MAX];
};

struct parse_ctx {
	struct dhcp_request *req;
	struct opt_acc acc[NKEPT];
};

enum area { AREA_OPTIONS, AREA_FILE, AREA_SNAME };

static const char *const past_end_msg[] = {
	[AREA_OPTIONS] = "option runs past the end of the packet",
	[AREA_FILE] = "overloaded option runs past the end of the file field",
	[AREA_SNAME] = "overloaded option runs past the end of the sname field",
};

static int fail(struct dhcp_request *req, int err, const char *why, int opt)
{
	req->err = why;
	req->err_opt = opt;
	return err;
}

static int take_overload(struct parse_ctx *c, const uint8_t *data,
			 uint8_t len)
{
	if (len != 1 || data[0] < 1 || data[0] > 3)
		return fail(c->req, -EINVAL, "bad option overload (52)",
			    DHO_OVERLOAD);
	c->req->overload = data[0];
	return 0;
}

static int append(struct parse_ctx *c, uint8_t code, const uint8_t *data,
		  uint8_t len)
{
	struct opt_acc *a = &c->acc[kept_of[code] - 1];

	if (a->len + len > DHCP_OPT_MAX)
		return fail(c->req, -EMSGSIZE,
			    "option longer than 255 bytes after concatenation",
			    code);
	memcpy(a->data + a->len, data, len);
	a->len += len;
	a->seen = true;
	return 0;
}

/* Walks one area of options. A missing END is fine (many clients omit it
 * after the last option); PAD is skipped. */
static int scan_area(struct parse_ctx *c, const uint8_t *p, size_t len,
		     enum area area)
{
	size_t i = 0;
	int err;

	while (i < len) {
		uint8_t code = p[i], olen;

		if (code == DHO_PAD) {
			i++;
			continue;
		}
		if (code == DHO_END)
			return 0;
		if (i + 1 >= len)
			return fail(c->req, -EINVAL, past_end_msg[area], code);
		olen = p[i + 1];
		if (i + 2 + olen > len)
			return fail(c->req, -EINVAL, past_end_msg[area], code);
		err = 0;
		/* RFC 2132 9.3: 52 belongs in the options field only. */
		if (code == DHO_OVERLOAD && area == AREA_OPTIONS)
			err = take_overload(c, p + i + 2, olen);
		else if (kept_of[code])
			err = append(c, code, p + i + 2, olen);
		if (err)
			return err;
		i += 2 + (size_t)olen;
	}
	return 0;
}

static int check_header(const uint8_t *buf, size_t len,
			struct dhcp_request *req)
{
	const struct dhcp_msg *m = (const struct dhcp_msg *)buf;

	if (len < DHCP_FIXED_LEN)
		return fail(req, -EINVAL, "shorter than a BOOTP header", 0);
	if (m->op != BOOTP_REQUEST)
		return fail(req, -EPROTONOSUPPORT, "not a BOOTREQUEST", 0);
	if (m->htype != BOOTP_HTYPE_ETHER || m->hlen != 6)
		return fail(req, -EPROTONOSUPPORT, "not Ethernet (htype/hlen)",
			    0);
	if (m->magic != htonl(DHCP_MAGIC))
		return fail(req, -EPROTONOSUPPORT, "no DHCP magic cookie", 0);
	return 0;
}

static void copy_header(const uint8_t *buf, struct dhcp_request *req)
{
	const struct dhcp_msg *m = (const struct dhcp_msg *)buf;

	req->xid = m->xid;
	req->flags = m->flags;
	req->hops = m->hops;
	req->ciaddr.s_addr = m->ciaddr;
	req->giaddr.s_addr = m->giaddr;
	memcpy(req->chaddr, m->chaddr, sizeof(req->chaddr));
}

static int scan_all(struct parse_ctx *c, const uint8_t *buf, size_t len)
{
	const struct dhcp_msg *m = (const struct dhcp_msg *)buf;
	int err;

	err = scan_area(c, buf + DHCP_FIXED_LEN, len - DHCP_FIXED_LEN,
			AREA_OPTIONS);
	/* RFC 3396 order: options, then file, then sname. */
	if (!err && (c->req->overload & DHCP_OVERLOAD_FILE))
		err = scan_area(c, (const uint8_t *)m->file, DHCP_FILE_LEN,
				AREA_FILE);
	if (!err && (c->req->overload & DHCP_OVERLOAD_SNAME))
		err = scan_area(c, (const uint8_t *)m->sname, DHCP_SNAME_LEN,
				AREA_SNAME);
	return err;
}

static const struct opt_acc *kept(const struct parse_ctx *c, int k)
{
	return c->acc[k].seen ? &c->acc[k] : NULL;
}

static int take_addr(const struct parse_ctx *c, int k, uint8_t code,
		     struct in_addr *out, bool *has)
{
	const struct opt_acc *a = kept(c, k);

	if (!a)
		return 0;
	if (a->len != 4)
		return fail(c->req, -EINVAL, "address option is not 4 bytes",
			    code);
	memcpy(&out->s_addr, a->data, 4);
	*has = true;
	return 0;
}

static int take_msgtype(const struct parse_ctx *c)
{
	const struct opt_acc *a = kept(c, K_MSG_TYPE);

	if (!a)
		return fail(c->req, -EINVAL, "no message type (BOOTP)",
			    DHO_MSG_TYPE);
	if (a->len != 1)
		return fail(c->req, -EINVAL, "message type is not 1 byte",
			    DHO_MSG_TYPE);
	if (a->data[0] < DHCPDISCOVER || a->data[0] > DHCPINFORM)
		return fail(c->req, -EINVAL, "unknown message type",
			    DHO_MSG_TYPE);
	c->req->msgtype = a->data[0];
	return 0;
}

static int take_fixed(const struct parse_ctx *c)
{
	struct dhcp_request *req = c->req;
	const struct opt_acc *a;

	a = kept(c, K_MAX_MSG_SIZE);
	if (a) {
		if (a->len != 2)
			return fail(req, -EINVAL, "max message size is not 2 bytes",
				    DHO_MAX_MSG_SIZE);
		req->max_msg_size = (uint16_t)(a->data[0] << 8 | a->data[1]);
	}
	a = kept(c, K_CLIENT_ARCH);
	if (a) {
		if (a->len < 2 || a->len % 2)
			return fail(req, -EINVAL, "bad client architecture length",
				    DHO_CLIENT_ARCH);
		req->arch = (uint16_t)(a->data[0] << 8 | a->data[1]);
		req->has_arch = true;
	}
	a = kept(c, K_CLIENT_NDI);
	if (a) {
		if (a->len != 3)
			return fail(req, -EINVAL, "client NDI is not 3 bytes",
				    DHO_CLIENT_NDI);
		memcpy(req->ndi, a->data, 3);
		req->has_ndi = true;
	}
	return 0;
}

/* Variable-length options are kept as they came. */
static void take_bytes(const struct parse_ctx *c, int k, void *out,
		       uint8_t *len)
{
	const struct opt_acc *a = kept(c, k);

	if (!a)
		return;
	memcpy(out, a->data, a->len);
	*len = (uint8_t)a->len;
}

static void take_variable(const struct parse_ctx *c)
{
	struct dhcp_request *req = c->req;

	take_bytes(c, K_CLIENT_ID, req->client_id, &req->client_id_len);
	take_bytes(c, K_HOSTNAME, req->hostname, &req->hostname_len);
	req->hostname[req->hostname_len] = '\0';
	take_bytes(c, K_VENDOR_CLASS, req->vendor_class,
		   &req->vendor_class_len);
	take_bytes(c, K_USER_CLASS, req->user_class, &req->user_class_len);
	take_bytes(c, K_CLIENT_UUID, req->uuid, &req->uuid_len);
	take_bytes(c, K_RELAY_AGENT, req->relay, &req->relay_len);
	take_bytes(c, K_PARAM_LIST, req->param_list, &req->param_list_len);
	req->has_relay = kept(c, K_RELAY_AGENT) != NULL;
	req->has_uuid = kept(c, K_CLIENT_UUID) != NULL;
	req->has_ipxe_encap = kept(c, K_IPXE_ENCAP) != NULL;
}

/* User class (77) is a list of length-prefixed names (RFC 3004), but iPXE
 * sends the bare string "iPXE"; accept both. */
static bool user_class_is_ipxe(const uint8_t *p, size_t len)
{
	size_t i = 0;
	bool found = false;

	if (len == 4 && !memcmp(p, "iPXE", 4))
		return true;
	while (i < len) {
		size_t n = p[i];

		if (n == 0 || i + 1 + n > len)
			return false;
		if (n == 4 && !memcmp(p + i + 1, "iPXE", 4))
			found = true;
		i += 1 + n;
	}
	return found;
}

static bool vendor_class_starts(const struct dhcp_request *req,
				const char *prefix)
{
	size_t n = strlen(prefix);

	return req->vendor_class_len >= n &&
	       !memcmp(req->vendor_class, prefix, n);
}

/* A PXE menu selection (boot server discovery) carries 43.71 with the boot
 * server type and layer; anything else in 43 is of no interest. Malformed
 * vendor options are ignored rather than refused: they are advisory. */
static void take_boot_item(const struct parse_ctx *c)
{
	const struct opt_acc *a = kept(c, K_VENDOR_OPTS);
	struct dhcp_request *req = c->req;
	size_t i = 0;

	if (!a || !vendor_class_starts(req, "PXEClient"))
		return;
	while (i + 2 <= a->len) {
		uint8_t code = a->data[i], n = a->data[i + 1];

		if (code == DHO_PAD) {
			i++;
			continue;
		}
		if (code == DHO_END || i + 2 + n > a->len)
			return;
		if (code == PXE_BOOT_ITEM && n >= 4) {
			const uint8_t *d = a->data + i + 2;

			req->boot_item_type = (uint16_t)(d[0] << 8 | d[1]);
			req->boot_item_layer = (uint16_t)(d[2] << 8 | d[3]);
			req->has_boot_item = true;
			return;
		}
		i += 2 + (size_t)n;
	}
}

int dhcp_parse(const uint8_t *buf, size_t len, struct dhcp_request *req)
{
	struct parse_ctx c;
	int err, k;

	memset(req, 0, offsetof(struct dhcp_request, client_id));
	req->err = NULL;
	req->err_opt = 0;
	req->hostname[0] = '\0';
	c.req = req;
	for (k = 0; k < NKEPT; k++) {
		c.acc[k].len = 0;
		c.acc[k].seen = false;
	}

	err = check_header(buf, len, req);
	if (err)
		return err;
	copy_header(buf, req);
	err = scan_all(&c, buf, len);
	if (!err)
		err = take_msgtype(&c);
	if (!err)
		err = take_addr(&c, K_REQUESTED_IP, DHO_REQUESTED_IP,
				&req->requested_ip, &req->has_requested_ip);
	if (!err)
		err = take_addr(&c, K_SERVER_ID, DHO_SERVER_ID, &req->server_id,
				&req->has_server_id);
	if (!err)
		err = take_fixed(&c);
	if (err)
		return err;
	take_variable(&c);
	req->user_class_ipxe = user_class_is_ipxe(req->user_class,
						  req->user_class_len);
	take_boot_item(&c);
	req->class = dhcp_classify(req);
	return 0;
}

int dhcp_classify(const struct dhcp_request *req)
{
	if (req->user_class_ipxe || req->has_ipxe_encap)
		return XB_CLASS_IPXE;
	if (vendor_class_starts(req, "HTTPClient") ||
	    (req->has_arch && (req->arch == PXE_ARCH_EFI_X64_HTTP ||
			       req->arch == PXE_ARCH_EFI_ARM64_HTTP)))
		return XB_CLASS_HTTP;
	if (!vendor_class_starts(req, "PXEClient"))
		return XB_CLASS_PLAIN;
	if (!req->has_arch || req->arch == PXE_ARCH_BIOS)
		return XB_CLASS_BIOS;
	switch (req->arch) {
	case PXE_ARCH_EFI_BC:
	case PXE_ARCH_EFI_X64:
		return XB_CLASS_EFI64;
	case PXE_ARCH_EFI_ARM64:
		return XB_CLASS_ARM64;
	default:
		return XB_CLASS_UNKNOWN;
	}
}

const char *dhcp_class_name(int class)
{
	static const char *const names[] = XB_CLASS_NAMES;

	if (class < 0 || class >= XB_NCLASS)
		return "?";
	return names[class];
}

const char *dhcp_msgtype_name(int type)
{
	static const char *const names[] = {
		"?", "DISCOVER", "OFFER", "REQUEST", "DECLINE",
		"ACK", "NAK", "RELEASE", "INFORM",
	};

	if (type < 0 || type > DHCPINFORM)
		return "?";
	return names[type];
}

void dhcp_writer_init(struct dhcp_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = cap;
	w->err = 0;
}

int dhcp_put_raw(struct dhcp_writer *w, const void *data, size_t len)
{
	if (w->err)
		return w->err;
	if (len > w->cap - w->len)
		return w->err = -EMSGSIZE;
	memcpy(w->buf + w->len, data, len);
	w->len += len;
	return 0;
}

int dhcp_put_opt(struct dhcp_writer *w, uint8_t code, const void *data,
		 size_t len)
{
	uint8_t hdr[2] = { code, (uint8_t)len };

	if (len > DHCP_OPT_MAX && !w->err)
		w->err = -EMSGSIZE;
	if (w->err)
		return w->err;
	if (len + 2 > w->cap - w->len)
		return w->err = -EMSGSIZE;
	dhcp_put_raw(w, hdr, 2);
	return dhcp_put_raw(w, data, len);
}

int dhcp_put_u8(struct dhcp_writer *w, uint8_t code, uint8_t v)
{
	return dhcp_put_opt(w, code, &v, 1);
}

int dhcp_put_u32(struct dhcp_writer *w, uint8_t code, uint32_t v)
{
	uint32_t be = htonl(v);

	return dhcp_put_opt(w, code, &be, 4);
}

int dhcp_put_addr(struct dhcp_writer *w, uint8_t code, struct in_addr a)
{
	return dhcp_put_opt(w, code, &a.s_addr, 4);
}

int dhcp_put_end(struct dhcp_writer *w)
{
	uint8_t end = DHO_END;

	return dhcp_put_raw(w, &end, 1);
}

int dhcp_pad(struct dhcp_writer *w, size_t min, size_t align)
{
	size_t want = w->len > min ? w->len : min;

	if (w->err)
		return w->err;
	if (align > 1)
		want = (want + align - 1) / align * align;
	if (want > w->cap)
		return w->err = -EMSGSIZE;
	memset(w->buf + w->len, 0, want - w->len);
	w->len = want;
	return 0;
}
