// SPDX-License-Identifier: GPL-2.0
/*
 * xbootd's configuration parser. One table of keys serves the config file
 * (`key=value` lines), the command line (`--key=value`, `--key value`) and
 * `--help`, so the three can never disagree. Every value is checked where it
 * is read and refused with the file, the line and the reason; checks that
 * need several keys live in config_validate(), and those that need the
 * interfaces' addresses in config_resolve().
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "image_store.h"
#include "log.h"

#define CFG_LINE_MAX 1024
#define CFG_FIELDS_MAX 8
#define CFG_LEASE_MIN_S 10
#define CFG_LEASE_INFINITE 0xffffffffu

/* Why a value was refused; config_set() prefixes the source and the key. */
struct cfg_why {
	char msg[256];
};

static int __attribute__((format(printf, 2, 3)))
why(struct cfg_why *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int __attribute__((format(printf, 2, 3)))
cfg_fail(struct cfg_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *const class_names[XB_NCLASS] = XB_CLASS_NAMES;

const char *xb_class_name(int class)
{
	if (class < 0 || class >= XB_NCLASS)
		return "?";
	return class_names[class];
}

int xb_class_from_name(const char *name)
{
	int i;

	for (i = 0; i < XB_NCLASS; i++)
		if (!strcmp(name, class_names[i]))
			return i;
	return -ENOENT;
}

/* --- value parsers --------------------------------------------------- */

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/*
 * Split a copy of v at commas into at most max fields, keeping empty ones
 * ("host=MAC,,name"). Returns the count, or -E2BIG with more fields.
 */
static int split(char *v, char **f, int max)
{
	int n = 0;
	char *comma;

	for (;;) {
		if (n == max)
			return -E2BIG;
		comma = strchr(v, ',');
		if (comma)
			*comma = '\0';
		f[n++] = trim(v);
		if (!comma)
			return n;
		v = comma + 1;
	}
}

static int parse_ip(const char *s, struct in_addr *ip)
{
	return inet_pton(AF_INET, s, ip) == 1 ? 0 : -EINVAL;
}

static const char *ipstr(struct in_addr ip, char *buf)
{
	return inet_ntop(AF_INET, &ip, buf, INET_ADDRSTRLEN);
}

static int mask_is_contiguous(struct in_addr mask)
{
	uint32_t m = ntohl(mask.s_addr);

	return m != 0 && (~m & (~m + 1)) == 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "3600", "45m", "12h", "7d", "2w" or "infinite", in seconds. */
static int parse_lease(const char *s, uint32_t *secs, struct cfg_why *w)
{
	static const struct {
		char unit;
		unsigned long mult;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 },
		      { 'd', 86400 }, { 'w', 604800 } };
	char num[16];
	size_t len = strlen(s);
	unsigned long mult = 1, v;
	unsigned int i;

	if (!strcmp(s, "infinite")) {
		*secs = CFG_LEASE_INFINITE;
		return 0;
	}
	if (len == 0 || len >= sizeof(num))
		return why(w, "bad lease time '%s'", s);
	memcpy(num, s, len + 1);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (num[len - 1] == units[i].unit) {
			mult = units[i].mult;
			num[--len] = '\0';
			break;
		}
	}
	if (parse_uint(num, (CFG_LEASE_INFINITE - 1) / mult, &v))
		return why(w, "bad lease time '%s' (like 3600, 45m, 12h, 7d or infinite)",
			   s);
	if (v * mult < CFG_LEASE_MIN_S)
		return why(w, "lease time '%s' is shorter than %d seconds", s,
			   CFG_LEASE_MIN_S);
	*secs = v * mult;
	return 0;
}

/* aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff */
static int parse_mac(const char *s, uint8_t mac[6])
{
	char sep = 0;
	int i, hi, lo;

	for (i = 0; i < 6; i++) {
		if (i > 0) {
			if (!sep && (*s == ':' || *s == '-'))
				sep = *s;
			if (*s != sep || !sep)
				return -EINVAL;
			s++;
		}
		if (!isxdigit((unsigned char)s[0]) ||
		    !isxdigit((unsigned char)s[1]))
			return -EINVAL;
		hi = isdigit((unsigned char)s[0]) ? s[0] - '0' :
						    tolower(s[0]) - 'a' + 10;
		lo = isdigit((unsigned char)s[1]) ? s[1] - '0' :
						    tolower(s[1]) - 'a' + 10;
		mac[i] = hi << 4 | lo;
		s += 2;
	}
	return *s ? -EINVAL : 0;
}

/* RFC 1123 host name: labels of letters, digits and '-', joined by dots. */
static int valid_hostname(const char *s, size_t max)
{
	size_t len = strlen(s), label = 0;
	const char *p;

	if (len == 0 || len > max || *s == '.' || *s == '-')
		return 0;
	for (p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return 0;
		if (++label > 63)
			return 0;
	}
	return p[-1] != '-' && p[-1] != '.';
}

static int valid_token(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return 0;
	return 1;
}

static int printable(const char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s))
			return 0;
	return 1;
}

static int copy_str(char *dst, size_t size, const char *v, const char *what,
		    struct cfg_why *w)
{
	size_t len = strlen(v);

	if (len == 0)
		return why(w, "empty %s", what);
	if (len >= size)
		return why(w, "%s is longer than %zu characters", what,
			   size - 1);
	if (!printable(v))
		return why(w, "%s has a control character", what);
	memcpy(dst, v, len + 1);
	return 0;
}

/* --- one parser per key ---------------------------------------------- */

static int set_interface(struct config *cfg, const char *v, struct cfg_why *w)
{
	int i;

	if (cfg->ninterfaces == CFG_MAX_INTERFACES)
		return why(w, "more than %d interfaces", CFG_MAX_INTERFACES);
	if (!*v)
		return why(w, "empty interface name");
	if (strlen(v) >= sizeof(cfg->interfaces[0]))
		return why(w, "interface name '%s' is longer than %zu characters",
			   v, sizeof(cfg->interfaces[0]) - 1);
	for (i = 0; v[i]; i++)
		if (!isgraph((unsigned char)v[i]) || v[i] == '/' ||
		    v[i] == ':' || v[i] == ',')
			return why(w, "'%s' is not an interface name", v);
	for (i = 0; i < cfg->ninterfaces; i++)
		if (!strcmp(cfg->interfaces[i], v))
			return why(w, "%s is listed twice", v);
	strcpy(cfg->interfaces[cfg->ninterfaces++], v);
	return 0;
}

static int set_mode(struct config *cfg, const char *v, struct cfg_why *w)
{
	if (!strcmp(v, "full"))
		cfg->mode = XB_MODE_FULL;
	else if (!strcmp(v, "proxy"))
		cfg->mode = XB_MODE_PROXY;
	else
		return why(w, "'%s' is not full or proxy", v);
	return 0;
}

static int range_check_mask(const struct cfg_range *r, struct cfg_why *w)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN];
	uint32_t m = ntohl(r->mask.s_addr);
	uint32_t s = ntohl(r->start.s_addr), e = ntohl(r->end.s_addr);

	if ((s & m) != (e & m))
		return why(w, "start %s and end %s are not in one subnet of netmask %s",
			   ipstr(r->start, a), ipstr(r->end, b),
			   ipstr(r->mask, c));
	if (m != 0xffffffffu && m != 0xfffffffeu &&
	    ((s & ~m) == 0 || (e & ~m) == ~m))
		return why(w, "range %s-%s includes the subnet's network or broadcast address",
			   ipstr(r->start, a), ipstr(r->end, b));
	return 0;
}

/* START,END[,NETMASK][,LEASE] */
static int set_dhcp_range(struct config *cfg, const char *v, struct cfg_why *w)
{
	char buf[CFG_LINE_MAX], a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	char *f[CFG_FIELDS_MAX];
	struct cfg_range r = { 0 };
	int n, i = 2;

	if (cfg->nranges == CFG_MAX_RANGES)
		return why(w, "more than %d ranges", CFG_MAX_RANGES);
	snprintf(buf, sizeof(buf), "%s", v);
	n = split(buf, f, 4);
	if (n < 2)
		return why(w, "want START,END[,NETMASK][,LEASE]");
	if (parse_ip(f[0], &r.start))
		return why(w, "start '%s' is not an IPv4 address", f[0]);
	if (parse_ip(f[1], &r.end))
		return why(w, "end '%s' is not an IPv4 address", f[1]);
	if (ntohl(r.end.s_addr) < ntohl(r.start.s_addr))
		return why(w, "end %s is before start %s", ipstr(r.end, a),
			   ipstr(r.start, b));
	if (n > i && strchr(f[i], '.')) {
		if (parse_ip(f[i], &r.mask) || !mask_is_contiguous(r.mask))
			return why(w, "'%s' is not a netmask", f[i]);
		if (range_check_mask(&r, w))
			return -EINVAL;
		i++;
	}
	if (n > i && parse_lease(f[i++], &r.lease_s, w))
		return -EINVAL;
	if (n > i)
		return why(w, "unexpected '%s' (want START,END[,NETMASK][,LEASE])",
			   f[i]);
	cfg->ranges[cfg->nranges++] = r;
	return 0;
}

static int set_lease_time(struct config *cfg, const char *v, struct cfg_why *w)
{
	return parse_lease(v, &cfg->lease_s, w);
}

static int set_router(struct config *cfg, const char *v, struct cfg_why *w)
{
	struct in_addr ip;

	if (parse_ip(v, &ip) || !ip.s_addr)
		return why(w, "'%s' is not an IPv4 address", v);
	if (cfg->nrouters == CFG_MAX_RANGES)
		return why(w, "more than %d routers", CFG_MAX_RANGES);
	cfg->routers[cfg->nrouters++] = ip;
	return 0;
}

static int set_dns(struct config *cfg, const char *v, struct cfg_why *w)
{
	char buf[CFG_LINE_MAX];
	char *f[CFG_MAX_DNS];
	int n, i;

	snprintf(buf, sizeof(buf), "%s", v);
	n = split(buf, f, CFG_MAX_DNS);
	if (n < 0)
		return why(w, "more than %d servers", CFG_MAX_DNS);
	for (i = 0; i < n; i++)
		if (parse_ip(f[i], &cfg->dns[i]) || !cfg->dns[i].s_addr)
			return why(w, "'%s' is not an IPv4 address", f[i]);
	cfg->ndns = n;
	return 0;
}

static int set_domain(struct config *cfg, const char *v, struct cfg_why *w)
{
	if (!valid_hostname(v, sizeof(cfg->domain) - 1))
		return why(w, "'%s' is not a domain name", v);
	strcpy(cfg->domain, v);
	return 0;
}

/* The hosts array grows by doubling from 16: a big file loads in linear time. */
static int hosts_cap(int n)
{
	int cap = 16;

	while (cap < n)
		cap *= 2;
	return cap;
}

/* Duplicates are found in config_validate(): checking here is quadratic. */
static int host_add(struct config *cfg, const struct cfg_host *h,
		    struct cfg_why *w)
{
	struct cfg_host *hosts;

	if (cfg->nhosts >= XB_MAX_RESV)
		return why(w, "more than %d hosts", XB_MAX_RESV);
	if (!cfg->nhosts || cfg->nhosts == hosts_cap(cfg->nhosts)) {
		hosts = realloc(cfg->hosts,
				hosts_cap(cfg->nhosts + 1) * sizeof(*hosts));
		if (!hosts)
			return why(w, "out of memory");
		cfg->hosts = hosts;
	}
	cfg->hosts[cfg->nhosts++] = *h;
	return 0;
}

/* MAC,IP[,HOSTNAME][,PROFILE]; IP or HOSTNAME may be empty: "MAC,,name" */
static int set_host(struct config *cfg, const char *v, struct cfg_why *w)
{
	char buf[CFG_LINE_MAX];
	char *f[CFG_FIELDS_MAX];
	struct cfg_host h = { 0 };
	int n;

	snprintf(buf, sizeof(buf), "%s", v);
	n = split(buf, f, 4);
	if (n < 2)
		return why(w, "want MAC,IP[,HOSTNAME][,PROFILE]");
	if (parse_mac(f[0], h.mac))
		return why(w, "'%s' is not a MAC address (aa:bb:cc:dd:ee:ff)",
			   f[0]);
	if (*f[1] && (parse_ip(f[1], &h.ip) || !h.ip.s_addr))
		return why(w, "'%s' is not an IPv4 address", f[1]);
	if (n > 2 && *f[2] && !valid_hostname(f[2], XB_HOSTNAME_MAX))
		return why(w, "'%s' is not a host name", f[2]);
	if (n > 2)
		strcpy(h.hostname, f[2]);
	if (n > 3 && *f[3] && !valid_token(f[3], sizeof(h.profile) - 1))
		return why(w, "'%s' is not a profile name (letters, digits, _ . -)",
			   f[3]);
	if (n > 3)
		strcpy(h.profile, f[3]);
	if (!h.ip.s_addr && !h.hostname[0] && !h.profile[0])
		return why(w, "host entry gives neither address, name nor profile");
	return host_add(cfg, &h, w);
}

/* CLASS,PATH-OR-URL */
static int set_boot_file(struct config *cfg, const char *v, struct cfg_why *w)
{
	const char *comma = strchr(v, ',');
	char cls[16], path[CFG_LINE_MAX];
	size_t len;
	int c;

	if (!comma)
		return why(w, "want CLASS,PATH-OR-URL");
	len = comma - v;
	if (len >= sizeof(cls))
		len = sizeof(cls) - 1;
	memcpy(cls, v, len);
	cls[len] = '\0';
	snprintf(path, sizeof(path), "%s", comma + 1);
	c = xb_class_from_name(trim(cls));
	if (c < 0 || c == XB_CLASS_PLAIN || c == XB_CLASS_UNKNOWN)
		return why(w, "unknown class '%s' (bios, efi64, arm64, http, ipxe)",
			   trim(cls));
	v = trim(path);
	if (c == XB_CLASS_HTTP && strncmp(v, "http://", 7) &&
	    strncmp(v, "https://", 8))
		return why(w, "the http class needs a URL, not '%s'", v);
	if (strchr(v, ' '))
		return why(w, "'%s' has a space", v);
	return copy_str(cfg->boot_file[c], DHCP_FILE_LEN, v, "boot file", w);
}

static int set_pxe_menu(struct config *cfg, const char *v, struct cfg_why *w)
{
	return copy_str(cfg->pxe_menu, sizeof(cfg->pxe_menu), v, "menu text", w);
}

static int set_pxe_timeout(struct config *cfg, const char *v, struct cfg_why *w)
{
	unsigned long t;

	if (parse_uint(v, 255, &t))
		return why(w, "'%s' is not a number of seconds from 0 to 255", v);
	cfg->pxe_timeout = t;
	return 0;
}

static int set_path(char *dst, const char *v, struct cfg_why *w)
{
	if (*v != '/')
		return why(w, "'%s' is not an absolute path", v);
	return copy_str(dst, CFG_PATH_MAX, v, "path", w);
}

static int set_tftp_root(struct config *cfg, const char *v, struct cfg_why *w)
{
	return set_path(cfg->tftp_root, v, w);
}

static int set_tftp_hot(struct config *cfg, const char *v,
			struct cfg_why *w)
{
	if (cfg->ntftp_hot >= CFG_MAX_TFTP_HOT)
		return why(w, "more than %d hot files", CFG_MAX_TFTP_HOT);
	if (strstr(v, "..") || strchr(v, '\\'))
		return why(w, "'%s': hot files live under tftp-root", v);
	while (*v == '/')
		v++; /* relative to tftp-root, as TFTP requests are */
	if (copy_str(cfg->tftp_hot[cfg->ntftp_hot], CFG_PATH_MAX, v, "path",
		     w))
		return -EINVAL;
	cfg->ntftp_hot++;
	return 0;
}

static int set_tftp(struct config *cfg, const char *v, struct cfg_why *w)
{
	if (strcmp(v, "on") && strcmp(v, "off"))
		return why(w, "'%s' is not on or off", v);
	cfg->tftp_off = !strcmp(v, "off");
	return 0;
}

static int set_state_dir(struct config *cfg, const char *v, struct cfg_why *w)
{
	return set_path(cfg->state_dir, v, w);
}

static int set_image_dir(struct config *cfg, const char *v, struct cfg_why *w)
{
	return set_path(cfg->image_dir, v, w);
}

static int set_control_socket(struct config *cfg, const char *v,
			      struct cfg_why *w)
{
	if (strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return why(w, "path is longer than %zu characters",
			   sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return set_path(cfg->control_socket, v, w);
}

static int set_http_port(struct config *cfg, const char *v, struct cfg_why *w)
{
	unsigned long port;

	if (parse_uint(v, 65535, &port))
		return why(w, "'%s' is not a port number", v);
	cfg->http_port = port;
	return 0;
}

static int set_http_root(struct config *cfg, const char *v, struct cfg_why *w)
{
	return set_path(cfg->http_root, v, w);
}

static int set_ipxe_script(struct config *cfg, const char *v,
			   struct cfg_why *w)
{
	return set_path(cfg->ipxe_script, v, w);
}

static int set_xdp(struct config *cfg, const char *v, struct cfg_why *w)
{
	static const char *const modes[] = { "auto", "native", "generic",
					     "off" };
	unsigned int i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(v, modes[i])) {
			cfg->xdp = i;
			return 0;
		}
	}
	return why(w, "'%s' is not auto, native, generic or off", v);
}

static int set_ipv6_ra(struct config *cfg, const char *v, struct cfg_why *w)
{
	if (!strcmp(v, "off"))
		cfg->ipv6_ra = false;
	else if (!strcmp(v, "pxe-clients"))
		cfg->ipv6_ra = true;
	else
		return why(w, "'%s' is not off or pxe-clients", v);
	return 0;
}

static int set_server_address(struct config *cfg, const char *v,
			      struct cfg_why *w)
{
	if (parse_ip(v, &cfg->server_addr) || !cfg->server_addr.s_addr)
		return why(w, "'%s' is not an IPv4 address", v);
	return 0;
}

static int set_agent_port(struct config *cfg, const char *v,
			  struct cfg_why *w)
{
	unsigned long port;

	if (parse_uint(v, 65535, &port))
		return why(w, "'%s' is not a port number", v);
	cfg->agent_port = port;
	return 0;
}

static int set_agent_cert(struct config *cfg, const char *v,
			  struct cfg_why *w)
{
	return set_path(cfg->agent_cert, v, w);
}

static int set_agent_key(struct config *cfg, const char *v,
			 struct cfg_why *w)
{
	return set_path(cfg->agent_key, v, w);
}

static int set_agent_ca(struct config *cfg, const char *v, struct cfg_why *w)
{
	return set_path(cfg->agent_ca, v, w);
}

/* Like a lease time, but finite: a credential that never expires is a
 * password on a kernel command line. */
static int set_agent_enrol_ttl(struct config *cfg, const char *v,
			       struct cfg_why *w)
{
	uint32_t s;

	if (!strcmp(v, "infinite") || parse_lease(v, &s, w))
		return why(w, "'%s' is not a number of seconds (like 3600, 45m, 12h, 7d)",
			   v);
	cfg->agent_enrol_ttl = s;
	return 0;
}

/* `verbose` alone adds one level, like -v; `verbose=N` sets it. */
static int set_verbose(struct config *cfg, const char *v, struct cfg_why *w)
{
	unsigned long n;

	if (!v) {
		cfg->verbose++;
		return 0;
	}
	if (parse_uint(v, 3, &n))
		return why(w, "'%s' is not a level from 0 to 3", v);
	cfg->verbose = n;
	return 0;
}

#define CFG_K_FLAG 0x1   /* may be given without a value */
#define CFG_K_REPEAT 0x2 /* each line adds one; others: last one wins */

struct cfg_key {
	const char *name;
	int (*set)(struct config *cfg, const char *v, struct cfg_why *w);
	unsigned int flags;
	const char *arg;
	const char *help;
};

static const struct cfg_key cfg_keys[] = {
	{ "interface", set_interface, CFG_K_REPEAT, "IFNAME",
	  "serve DHCP on this interface (repeatable)" },
	{ "mode", set_mode, 0, "full|proxy",
	  "full: hand out addresses; proxy: boot information only" },
	{ "dhcp-range", set_dhcp_range, CFG_K_REPEAT,
	  "START,END[,NETMASK][,LEASE]", "an address pool, one per subnet" },
	{ "lease-time", set_lease_time, 0, "LEASE",
	  "default lease: 3600, 45m, 12h, 7d, infinite (default 1h)" },
	{ "router", set_router, CFG_K_REPEAT, "IP",
	  "default gateway of the range whose subnet holds IP" },
	{ "dns", set_dns, 0, "IP[,IP..]", "DNS servers (up to 4)" },
	{ "domain", set_domain, 0, "NAME", "DNS domain name (option 15)" },
	{ "host", set_host, CFG_K_REPEAT, "MAC,[IP][,HOSTNAME][,PROFILE]",
	  "a reservation (repeatable)" },
	{ "boot-file", set_boot_file, CFG_K_REPEAT, "CLASS,PATH-OR-URL",
	  "boot file per class: bios efi64 arm64 http ipxe" },
	{ "pxe-menu", set_pxe_menu, 0, "TEXT", "offer a PXE boot menu" },
	{ "pxe-timeout", set_pxe_timeout, 0, "SECONDS",
	  "PXE menu prompt timeout (0-255)" },
	{ "tftp-root", set_tftp_root, 0, "DIR",
	  "TFTP root (default " XBOOTD_DEFAULT_TFTP_ROOT ")" },
	{ "tftp-hot", set_tftp_hot, CFG_K_REPEAT, "PATH",
	  "a file under tftp-root the XDP path serves (repeatable)" },
	{ "tftp", set_tftp, 0, "on|off",
	  "serve TFTP on port 69 of each interface (default on)" },
	{ "http-port", set_http_port, 0, "PORT",
	  "HTTP boot port (default 8080, 0: no HTTP)" },
	{ "http-root", set_http_root, 0, "DIR",
	  "HTTP root (default " XBOOTD_DEFAULT_HTTP_ROOT ")" },
	{ "ipxe-script", set_ipxe_script, 0, "FILE",
	  "iPXE script template for /boot.ipxe (default: built in)" },
	{ "state-dir", set_state_dir, 0, "DIR",
	  "lease database dir (default " XBOOTD_DEFAULT_STATE_DIR ")" },
	{ "image-dir", set_image_dir, 0, "DIR",
	  "disk images (default: STATE-DIR/" IMAGE_STORE_SUBDIR ")" },
	{ "control-socket", set_control_socket, 0, "PATH",
	  "xbootctl's socket (default " XBOOTD_DEFAULT_CONTROL_SOCKET ")" },
	{ "xdp", set_xdp, 0, "auto|native|generic|off",
	  "XDP fast path (default auto)" },
	{ "ipv6-ra", set_ipv6_ra, 0, "off|pxe-clients",
	  "answer router solicitations of clients with a lease (default off)" },
	{ "server-address", set_server_address, 0, "IP",
	  "our address in replies (default: the interface's)" },
	{ "agent-port", set_agent_port, 0, "PORT",
	  "xboot-agent's TLS port (default 4012, 0: no agent service)" },
	{ "agent-cert", set_agent_cert, 0, "FILE",
	  "agent port certificate, PEM (default: made under state-dir)" },
	{ "agent-key", set_agent_key, 0, "FILE",
	  "agent-cert's private key, PEM" },
	{ "agent-ca", set_agent_ca, 0, "FILE",
	  "the CA agents pin, PEM (required with agent-cert)" },
	{ "agent-enrol-ttl", set_agent_enrol_ttl, 0, "SECONDS",
	  "life of an enrolment credential (default 1h)" },
	{ "verbose", set_verbose, CFG_K_FLAG, "[LEVEL]",
	  "more logging (-v, repeatable)" },
};

#define CFG_NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

static const struct cfg_key *key_find(const char *name)
{
	unsigned int i;

	for (i = 0; i < CFG_NKEYS; i++)
		if (!strcmp(cfg_keys[i].name, name))
			return &cfg_keys[i];
	return NULL;
}

/* --- public API ------------------------------------------------------ */

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = XB_MODE_FULL;
	cfg->lease_s = XBOOTD_DEFAULT_LEASE_S;
	cfg->http_port = XBOOTD_DEFAULT_HTTP_PORT;
	cfg->agent_port = XBOOTD_DEFAULT_AGENT_PORT;
	cfg->agent_enrol_ttl = XBOOTD_DEFAULT_ENROL_TTL_S;
	cfg->xdp = CFG_XDP_AUTO;
	strcpy(cfg->tftp_root, XBOOTD_DEFAULT_TFTP_ROOT);
	strcpy(cfg->http_root, XBOOTD_DEFAULT_HTTP_ROOT);
	strcpy(cfg->state_dir, XBOOTD_DEFAULT_STATE_DIR);
	strcpy(cfg->control_socket, XBOOTD_DEFAULT_CONTROL_SOCKET);
}

void config_free(struct config *cfg)
{
	free(cfg->hosts);
	cfg->hosts = NULL;
	cfg->nhosts = 0;
}

/* "--dhcp-range: reason", or "xboot.conf:12: dhcp-range: reason" */
static int set_fail(struct cfg_error *err, const char *where, const char *key,
		    const char *reason)
{
	if (!where)
		return cfg_fail(err, "--%s: %s", key, reason);
	if (!strncmp(where, "--", 2))
		return cfg_fail(err, "%s: %s", where, reason);
	return cfg_fail(err, "%s: %s: %s", where, key, reason);
}

int config_set(struct config *cfg, const char *key, const char *value,
	       const char *where, struct cfg_error *err)
{
	const struct cfg_key *k = key_find(key);
	struct cfg_why w = { "" };

	if (!k)
		return set_fail(err, where, key, "unknown key (see xbootd --help)");
	if (!value && !(k->flags & CFG_K_FLAG))
		return set_fail(err, where, key, "missing '=VALUE'");
	if (value && strlen(value) >= CFG_LINE_MAX)
		return set_fail(err, where, key, "value too long");
	if (value && !(k->flags & CFG_K_FLAG) && !*value)
		return set_fail(err, where, key, "empty value");
	if (k->set(cfg, value, &w))
		return set_fail(err, where, key, w.msg);
	return 0;
}

/* One line of a file: "key=value", "key" (flags), comment or blank. */
static int config_line(struct config *cfg, char *line, const char *where,
		       struct cfg_error *err)
{
	char *eq, *key, *value = NULL;

	key = trim(line);
	if (!*key || *key == '#')
		return 0;
	eq = strchr(key, '=');
	if (eq) {
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
	}
	if (!*key)
		return cfg_fail(err, "%s: missing key before '='", where);
	return config_set(cfg, key, value, where, err);
}

int config_load_file(struct config *cfg, const char *path,
		     struct cfg_error *err)
{
	char where[CFG_PATH_MAX + 32];
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, ret = 0;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		cfg_fail(err, "%s: %s", path, strerror(-ret));
		return ret;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		snprintf(where, sizeof(where), "%s:%d", path, ++lineno);
		if (memchr(line, '\0', len)) {
			ret = cfg_fail(err, "%s: NUL byte in line", where);
			break;
		}
		if (len > CFG_LINE_MAX) {
			ret = cfg_fail(err, "%s: line longer than %d characters",
				       where, CFG_LINE_MAX);
			break;
		}
		ret = config_line(cfg, line, where, err);
		if (ret)
			break;
	}
	if (!ret && ferror(f))
		ret = cfg_fail(err, "%s: read error", path);
	free(line);
	fclose(f);
	return ret;
}

static void config_usage(FILE *out, const char *prog)
{
	char opt[64];
	unsigned int i;

	fprintf(out,
		"Usage: %s [-c FILE] [-v] [--KEY=VALUE ...]\n"
		"PXE DHCP/ProxyDHCP server with an XDP fast path.\n\n"
		"  -c, --config=FILE   read KEY=VALUE lines from FILE first\n"
		"  -v                  more logging (repeatable)\n"
		"  -h, --help          this text\n\n"
		"Every key works as a KEY=VALUE line in FILE and as --KEY=VALUE\n"
		"here (the command line wins):\n",
		prog);
	for (i = 0; i < CFG_NKEYS; i++) {
		snprintf(opt, sizeof(opt), "--%s=%s", cfg_keys[i].name,
			 cfg_keys[i].arg);
		if (strlen(opt) > 34)
			fprintf(out, "  %s\n  %-34s  %s\n", opt, "",
				cfg_keys[i].help);
		else
			fprintf(out, "  %-34s  %s\n", opt, cfg_keys[i].help);
	}
}

/* Does argv[i] name the config file? Sets *file and skips its argument. */
static int arg_config_file(int argc, char **argv, int *i, const char **file,
			   struct cfg_error *err)
{
	const char *a = argv[*i];

	if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
		if (*i + 1 >= argc)
			return cfg_fail(err, "%s: missing FILE", a);
		*file = argv[++*i];
		return 1;
	}
	if (!strncmp(a, "-c", 2) && a[2] != '-') {
		*file = a + 2;
		return 1;
	}
	if (!strncmp(a, "--config=", 9)) {
		*file = a + 9;
		return 1;
	}
	return 0;
}

/* -v, -vv, ... */
static int arg_verbose(const char *a)
{
	int n = 0;

	if (a[0] != '-' || a[1] != 'v')
		return 0;
	for (a++; *a == 'v'; a++)
		n++;
	return *a ? 0 : n;
}

/* --key=value or --key value; *i moves past what was used. */
static int arg_key(struct config *cfg, int argc, char **argv, int *i,
		   struct cfg_error *err)
{
	char key[64], where[80];
	const char *a = argv[*i] + 2, *eq = strchr(a, '='), *value = NULL;
	const struct cfg_key *k;
	size_t len = eq ? (size_t)(eq - a) : strlen(a);

	if (len == 0 || len >= sizeof(key))
		return cfg_fail(err, "%s: unknown option (see --help)", argv[*i]);
	memcpy(key, a, len);
	key[len] = '\0';
	snprintf(where, sizeof(where), "--%s", key);
	k = key_find(key);
	if (!k)
		return cfg_fail(err, "%s: unknown key (see --help)", where);
	if (eq)
		value = eq + 1;
	else if (!(k->flags & CFG_K_FLAG)) {
		if (*i + 1 >= argc)
			return cfg_fail(err, "%s: missing VALUE", where);
		value = argv[++*i];
	}
	return config_set(cfg, key, value, where, err);
}

int config_from_args(struct config *cfg, int argc, char **argv,
		     struct cfg_error *err)
{
	const char *file = NULL, *prog = argc > 0 ? argv[0] : "xbootd";
	int i, ret, v;

	/* First pass: -c, -v, -h; the file goes in before the --keys. */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			config_usage(stdout, prog);
			return 1;
		}
		ret = arg_config_file(argc, argv, &i, &file, err);
		if (ret < 0)
			return ret;
	}
	if (file) {
		ret = config_load_file(cfg, file, err);
		if (ret)
			return -EINVAL;
	}
	for (i = 1; i < argc; i++) {
		if (arg_config_file(argc, argv, &i, &file, err))
			continue;
		v = arg_verbose(argv[i]);
		if (v) {
			cfg->verbose += v;
			continue;
		}
		if (strncmp(argv[i], "--", 2))
			return cfg_fail(err, "%s: unexpected argument (options are --KEY=VALUE; see --help)",
					argv[i]);
		ret = arg_key(cfg, argc, argv, &i, err);
		if (ret)
			return ret;
	}
	return 0;
}

/* --- cross-key checks ------------------------------------------------ */

static uint32_t hord(struct in_addr a)
{
	return ntohl(a.s_addr);
}

static int in_subnet(struct in_addr ip, struct in_addr net,
		     struct in_addr mask)
{
	return ((ip.s_addr ^ net.s_addr) & mask.s_addr) == 0;
}

static int ranges_check_overlap(const struct config *cfg,
				struct cfg_error *err)
{
	char a[4][INET_ADDRSTRLEN];
	const struct cfg_range *r, *q;
	int i, j;

	for (i = 0; i < cfg->nranges; i++) {
		for (j = i + 1; j < cfg->nranges; j++) {
			r = &cfg->ranges[i];
			q = &cfg->ranges[j];
			if (hord(r->start) <= hord(q->end) && hord(q->start) <= hord(r->end))
				return cfg_fail(err, "dhcp-range %s-%s overlaps dhcp-range %s-%s",
						ipstr(r->start, a[0]),
						ipstr(r->end, a[1]),
						ipstr(q->start, a[2]),
						ipstr(q->end, a[3]));
		}
	}
	return 0;
}

/* A subnet is one pool (lease.h indexes subnets by range). */
static int ranges_check_subnets(const struct config *cfg,
				struct cfg_error *err)
{
	char a[4][INET_ADDRSTRLEN];
	const struct cfg_range *r, *q;
	struct in_addr m;
	int i, j;

	for (i = 0; i < cfg->nranges; i++) {
		for (j = 0; j < cfg->nranges; j++) {
			r = &cfg->ranges[i];
			q = &cfg->ranges[j];
			if (i == j || !r->mask.s_addr)
				continue;
			m = r->mask;
			if (q->mask.s_addr && hord(q->mask) < hord(m))
				m = q->mask;
			if (in_subnet(q->start, r->start, m))
				return cfg_fail(err, "dhcp-ranges %s-%s and %s-%s share a subnet; xboot serves one range per subnet",
						ipstr(r->start, a[0]),
						ipstr(r->end, a[1]),
						ipstr(q->start, a[2]),
						ipstr(q->end, a[3]));
		}
	}
	return 0;
}

/* Give each `router=` to the range whose (known) subnet holds it. */
static int routers_match(struct config *cfg, int strict, struct cfg_error *err)
{
	char a[3][INET_ADDRSTRLEN];
	struct cfg_range *r;
	int i, j, found;

	for (i = 0; i < cfg->nrouters; i++) {
		found = 0;
		for (j = 0; j < cfg->nranges; j++) {
			r = &cfg->ranges[j];
			if (!r->mask.s_addr ||
			    !in_subnet(cfg->routers[i], r->start, r->mask))
				continue;
			if (r->router.s_addr &&
			    r->router.s_addr != cfg->routers[i].s_addr)
				return cfg_fail(err, "routers %s and %s are both in the subnet of dhcp-range %s",
						ipstr(r->router, a[0]),
						ipstr(cfg->routers[i], a[1]),
						ipstr(r->start, a[2]));
			r->router = cfg->routers[i];
			found = 1;
		}
		if (!found && strict)
			return cfg_fail(err, "router %s is not in the subnet of any dhcp-range",
					ipstr(cfg->routers[i], a[0]));
	}
	return 0;
}

struct host_key {
	uint8_t mac[6];
	struct in_addr ip;
};

static int host_key_by_mac(const void *a, const void *b)
{
	return memcmp(((const struct host_key *)a)->mac,
		      ((const struct host_key *)b)->mac, 6);
}

static int host_key_by_ip(const void *a, const void *b)
{
	uint32_t x = hord(((const struct host_key *)a)->ip);
	uint32_t y = hord(((const struct host_key *)b)->ip);

	return x < y ? -1 : x > y;
}

static int hosts_check_dups(const struct config *cfg, struct cfg_error *err)
{
	char a[INET_ADDRSTRLEN];
	struct host_key *k;
	const uint8_t *m;
	int i, ret = 0;

	if (cfg->nhosts < 2)
		return 0;
	k = calloc(cfg->nhosts, sizeof(*k));
	if (!k)
		return cfg_fail(err, "out of memory");
	for (i = 0; i < cfg->nhosts; i++) {
		memcpy(k[i].mac, cfg->hosts[i].mac, 6);
		k[i].ip = cfg->hosts[i].ip;
	}
	qsort(k, cfg->nhosts, sizeof(*k), host_key_by_mac);
	for (i = 1; i < cfg->nhosts && !ret; i++) {
		m = k[i].mac;
		if (!memcmp(k[i - 1].mac, m, 6))
			ret = cfg_fail(err, "host %02x:%02x:%02x:%02x:%02x:%02x is given twice",
				       m[0], m[1], m[2], m[3], m[4], m[5]);
	}
	qsort(k, cfg->nhosts, sizeof(*k), host_key_by_ip);
	for (i = 1; i < cfg->nhosts && !ret; i++)
		if (k[i].ip.s_addr && k[i].ip.s_addr == k[i - 1].ip.s_addr)
			ret = cfg_fail(err, "host address %s is reserved twice",
				       ipstr(k[i].ip, a));
	free(k);
	return ret;
}

static int has_boot_file(const struct config *cfg)
{
	int c;

	for (c = 0; c < XB_NCLASS; c++)
		if (cfg->boot_file[c][0])
			return 1;
	return 0;
}

/* A certificate of the operator's own comes whole: its key, and the CA
 * the boot environment pins (which we serve at /xboot/ca.pem). */
static int agent_check(const struct config *cfg, struct cfg_error *err)
{
	if (!cfg->agent_cert[0] != !cfg->agent_key[0])
		return cfg_fail(err, "agent-cert and agent-key go together: give both or neither");
	if (cfg->agent_cert[0] && !cfg->agent_ca[0])
		return cfg_fail(err, "agent-cert needs agent-ca (the CA agents pin)");
	if (!cfg->agent_cert[0] && cfg->agent_ca[0])
		return cfg_fail(err, "agent-ca needs agent-cert and agent-key (without them xbootd makes its own CA)");
	return 0;
}

/* The image store sits beside the leases unless image-dir says otherwise. */
static int image_dir_default(struct config *cfg, struct cfg_error *err)
{
	size_t n;

	if (cfg->image_dir[0])
		return 0;
	n = snprintf(cfg->image_dir, sizeof(cfg->image_dir), "%s/%s",
		     cfg->state_dir, IMAGE_STORE_SUBDIR);
	if (n >= sizeof(cfg->image_dir)) {
		cfg->image_dir[0] = '\0';
		return cfg_fail(err, "state-dir is too long to hold the image store: give image-dir");
	}
	return 0;
}

int config_validate(struct config *cfg, struct cfg_error *err)
{
	int ret, i;

	if (!cfg->ninterfaces)
		return cfg_fail(err, "no interface given (interface=IFNAME)");
	if (cfg->mode == XB_MODE_PROXY && cfg->nranges)
		return cfg_fail(err, "mode=proxy hands out no addresses, so it takes no dhcp-range");
	if (cfg->mode == XB_MODE_PROXY && cfg->nhosts) {
		for (i = 0; i < cfg->nhosts; i++)
			if (cfg->hosts[i].ip.s_addr)
				return cfg_fail(err, "mode=proxy hands out no addresses, so host= takes no IP");
	}
	if (cfg->mode == XB_MODE_PROXY && !has_boot_file(cfg))
		return cfg_fail(err, "mode=proxy needs at least one boot-file");
	if (cfg->mode == XB_MODE_FULL && !cfg->nranges)
		return cfg_fail(err, "mode=full needs a dhcp-range (or use mode=proxy)");
	ret = agent_check(cfg, err);
	if (!ret)
		ret = image_dir_default(cfg, err);
	if (!ret)
		ret = ranges_check_overlap(cfg, err);
	if (!ret)
		ret = hosts_check_dups(cfg, err);
	if (!ret)
		ret = ranges_check_subnets(cfg, err);
	if (!ret)
		ret = routers_match(cfg, 0, err);
	if (ret)
		return ret;
	if (!has_boot_file(cfg))
		pr_warn("no boot-file set: PXE clients get an address but nothing to boot");
	return 0;
}

static void hosts_check(const struct config *cfg)
{
	char a[INET_ADDRSTRLEN];
	const struct cfg_host *ho;
	int i, j, inside;

	for (i = 0; i < cfg->nhosts; i++) {
		ho = &cfg->hosts[i];
		if (!ho->ip.s_addr)
			continue;
		inside = 0;
		for (j = 0; j < cfg->nranges; j++)
			inside |= in_subnet(ho->ip, cfg->ranges[j].start,
					    cfg->ranges[j].mask);
		if (!inside)
			pr_warn("host %02x:%02x:%02x:%02x:%02x:%02x: %s is outside every dhcp-range's subnet; it will not be served",
				ho->mac[0], ho->mac[1], ho->mac[2], ho->mac[3],
				ho->mac[4], ho->mac[5], ipstr(ho->ip, a));
	}
}

int config_resolve(struct config *cfg, const struct in_addr *addr,
		   const struct in_addr *mask, int n, struct cfg_error *err)
{
	char a[2][INET_ADDRSTRLEN];
	struct cfg_range *r;
	struct cfg_why w;
	int i, j;

	for (i = 0; i < cfg->nranges; i++) {
		r = &cfg->ranges[i];
		for (j = 0; j < n && !r->mask.s_addr; j++)
			if (in_subnet(r->start, addr[j], mask[j]))
				r->mask = mask[j];
		if (!r->mask.s_addr)
			return cfg_fail(err, "dhcp-range %s-%s is on no interface's subnet: give its NETMASK (a relayed range needs one)",
					ipstr(r->start, a[0]),
					ipstr(r->end, a[1]));
		if (range_check_mask(r, &w))
			return cfg_fail(err, "dhcp-range: %s", w.msg);
	}
	if (ranges_check_subnets(cfg, err) || routers_match(cfg, 1, err))
		return -EINVAL;
	hosts_check(cfg);
	return 0;
}
