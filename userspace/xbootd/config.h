/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xbootd's configuration: dnsmasq-style `key=value` lines in a file, and the
 * same keys as `--key=value` on the command line (applied after the file).
 */
#ifndef XBOOTD_CONFIG_H
#define XBOOTD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "xboot/dhcp.h"
#include "xboot/xdp.h"

#define CFG_MAX_INTERFACES 8
#define CFG_MAX_RANGES XB_MAX_SUBNETS
#define CFG_MAX_DNS 4
#define CFG_PATH_MAX 256
#define CFG_MAX_TFTP_HOT 16

enum cfg_xdp {
	CFG_XDP_AUTO = 0,
	CFG_XDP_NATIVE,
	CFG_XDP_GENERIC,
	CFG_XDP_OFF,
};

struct cfg_range {
	struct in_addr start, end; /* inclusive */
	struct in_addr mask;       /* 0.0.0.0: take the interface's prefix */
	uint32_t lease_s;          /* 0: cfg.lease_s */
	struct in_addr router;     /* 0.0.0.0: none */
};

struct cfg_host {
	uint8_t mac[6];
	struct in_addr ip;          /* 0.0.0.0: no fixed address */
	char hostname[XB_HOSTNAME_MAX + 1];
	char profile[64];           /* boot profile name, "" for default */
};

struct config {
	char interfaces[CFG_MAX_INTERFACES][16];
	int ninterfaces;
	enum xb_mode mode;

	struct cfg_range ranges[CFG_MAX_RANGES];
	int nranges;
	uint32_t lease_s;       /* default lease time, `lease-time=` */
	struct in_addr routers[CFG_MAX_RANGES]; /* `router=`, matched to ranges */
	int nrouters;
	struct in_addr dns[CFG_MAX_DNS];
	int ndns;
	char domain[64];

	struct cfg_host *hosts; /* `host=`; malloc'd, nhosts entries */
	int nhosts;

	/* `boot-file=CLASS,PATH-OR-URL`, indexed by enum xb_class. "" = unset */
	char boot_file[XB_NCLASS][DHCP_FILE_LEN];
	char pxe_menu[64];      /* `pxe-menu=TEXT`: send PXE menu (43.8/9/10) */
	uint8_t pxe_timeout;    /* `pxe-timeout=`: menu prompt seconds */

	char tftp_root[CFG_PATH_MAX];
	bool tftp_off;          /* `tftp=off`: no TFTP server */
	/* `tftp-hot=PATH` (repeatable, relative to tftp_root): files the
	 * XDP hot-block path serves, with the plain-path boot files */
	char tftp_hot[CFG_MAX_TFTP_HOT][CFG_PATH_MAX];
	int ntftp_hot;
	uint16_t http_port;      /* 0: no HTTP server */
	char http_root[CFG_PATH_MAX];   /* `http-root=`: files served over HTTP */
	char ipxe_script[CFG_PATH_MAX]; /* `ipxe-script=`: "" = built in */
	char state_dir[CFG_PATH_MAX];
	/* `image-dir=`: the image store (image_store.h); "" until
	 * config_validate() makes it state_dir/IMAGE_STORE_SUBDIR. Opened
	 * at start: a reload that changes it is refused */
	char image_dir[CFG_PATH_MAX];
	char control_socket[CFG_PATH_MAX];
	enum cfg_xdp xdp;
	/* `ipv6-ra=pxe-clients`: answer our clients' router solicitations
	 * (ra.c); read at start */
	bool ipv6_ra;
	struct in_addr server_addr; /* `server-address=`: 0 = interface's */
	/* the agent service (agent_srv.h); read at start, and a reload
	 * that changes one of the first four is refused */
	uint16_t agent_port;             /* `agent-port=`, 0: off */
	/* `agent-cert=` and `agent-key=`: both or neither; "" = our own
	 * CA and certificate under state_dir/tls (tls.h) */
	char agent_cert[CFG_PATH_MAX];
	char agent_key[CFG_PATH_MAX];
	char agent_ca[CFG_PATH_MAX];     /* `agent-ca=`: the CA agents pin,
					  * required with agent-cert */
	/* `agent-enrol-ttl=` seconds (or 45m, 12h, 7d; finite): a minted
	 * credential's life; a reload changes it */
	uint32_t agent_enrol_ttl;
	int verbose;
};

#define XBOOTD_DEFAULT_STATE_DIR "/var/lib/xboot"
#define XBOOTD_DEFAULT_CONTROL_SOCKET "/run/xboot/xbootd.sock"
#define XBOOTD_DEFAULT_LEASE_S 3600
#define XBOOTD_DEFAULT_HTTP_PORT 8080
#define XBOOTD_DEFAULT_TFTP_ROOT "/srv/tftp"
#define XBOOTD_DEFAULT_AGENT_PORT 4012
#define XBOOTD_DEFAULT_ENROL_TTL_S 3600
#define XBOOTD_DEFAULT_HTTP_ROOT "/srv/xboot/http"

/* Error message from a failed parse: "FILE:LINE: reason" or "--key: reason". */
struct cfg_error {
	char msg[512];
};

void config_init(struct config *cfg);
void config_free(struct config *cfg);
/* Parse one `key=value` (no leading "--"); where names the source for errors
 * (e.g. "xboot.conf:12" or "--dhcp-range"). Returns 0 or -EINVAL. */
int config_set(struct config *cfg, const char *key, const char *value,
	       const char *where, struct cfg_error *err);
/* Parse a whole file. Comments start with '#'; blank lines are ignored. */
int config_load_file(struct config *cfg, const char *path,
		     struct cfg_error *err);
/* Parse argv for `--key=value` / `--key value` options (and -c FILE, -v,
 * -h); the file named by -c is loaded first. Returns 0, -EINVAL, or 1 when
 * the caller should exit 0 (help printed). */
int config_from_args(struct config *cfg, int argc, char **argv,
		     struct cfg_error *err);
/* Cross-key checks after everything is parsed (a range needs an interface,
 * proxy mode takes no range, ...); fills in the defaults that derive from
 * other keys (image_dir from state_dir). */
int config_validate(struct config *cfg, struct cfg_error *err);
/* Checks that need the interfaces' addresses (addr[i]/mask[i], n of them,
 * from rtnl): a range without NETMASK takes the mask of the interface
 * subnet that holds it, each `router=` goes to its range (cfg_range.router),
 * and hosts outside every subnet are warned about. Call after
 * config_validate(); -EINVAL with err set. */
int config_resolve(struct config *cfg, const struct in_addr *addr,
		   const struct in_addr *mask, int n, struct cfg_error *err);

const char *xb_class_name(int class);
int xb_class_from_name(const char *name);

#endif /* XBOOTD_CONFIG_H */
