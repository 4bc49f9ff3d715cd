// SPDX-License-Identifier: GPL-2.0
/*
 * xbootd: parse the configuration, look up the interfaces, open the store
 * and the image store, build the lease table and one DHCP server per
 * interface, attach the XDP fast path, and run the event loop. Reload
 * (SIGHUP) rebuilds everything that depends on the configuration on top of
 * the same store, sockets and control socket; the leases live in the
 * store, so none is lost.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image_store.h"
#include "log.h"
#include "loop.h"
#include "machines.h"
#include "xbootd.h"

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Parse and check every source; *out is a new config, or an error in err. */
static int config_build(struct config **out, int argc, char **argv,
			struct cfg_error *err)
{
	struct config *cfg = malloc(sizeof(*cfg));
	int ret;

	if (!cfg) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	config_init(cfg);
	ret = config_from_args(cfg, argc, argv, err);
	if (!ret)
		ret = config_validate(cfg, err);
	if (ret) {
		config_free(cfg);
		free(cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

static void config_destroy(struct config *cfg)
{
	if (!cfg)
		return;
	config_free(cfg);
	free(cfg);
}

/* rtnl facts for every configured interface, then what needs them. */
static int ifaces_lookup(struct config *cfg, struct xbootd_iface *ifs)
{
	struct in_addr addr[CFG_MAX_INTERFACES], mask[CFG_MAX_INTERFACES];
	struct cfg_error err;
	int i, ret;

	for (i = 0; i < cfg->ninterfaces; i++) {
		ret = rtnl_iface_get(cfg->interfaces[i], &ifs[i].link);
		if (ret)
			return ret;
		addr[i] = ifs[i].link.addr;
		mask[i] = ifs[i].link.mask;
	}
	if (config_resolve(cfg, addr, mask, cfg->ninterfaces, &err)) {
		pr_err("%s", err.msg);
		return -EINVAL;
	}
	return 0;
}

static void servers_destroy(struct xbootd *d)
{
	int i;

	for (i = 0; i < d->nifaces; i++) {
		dhcp_server_destroy(d->ifaces[i].srv);
		d->ifaces[i].srv = NULL;
	}
}

static int servers_create(struct xbootd *d)
{
	struct dhcp_server_iface si;
	struct xbootd_iface *xi;
	int i, ret;

	for (i = 0; i < d->nifaces; i++) {
		xi = &d->ifaces[i];
		si = (struct dhcp_server_iface){ .ifindex = xi->link.ifindex,
						 .addr = xi->link.addr,
						 .mask = xi->link.mask };
		memcpy(si.mac, xi->link.mac, 6);
		ret = dhcp_server_create(&xi->srv, d->cfg, &si, d->leases);
		if (ret) {
			pr_err("%s: cannot start the DHCP server: %s",
			       xi->link.name, strerror(-ret));
			servers_destroy(d);
			return ret;
		}
	}
	return 0;
}

/* The lease table and the servers: what a reload rebuilds. */
static int services_start(struct xbootd *d)
{
	int ret;

	ret = lease_db_create(&d->leases, d->cfg, d->store);
	if (ret) {
		pr_err("cannot build the lease table: %s", strerror(-ret));
		return ret;
	}
	/* DHCP offers and acks move the machines' phases */
	lease_db_set_machines(d->leases, d->machines);
	ret = servers_create(d);
	if (ret) {
		lease_db_destroy(d->leases);
		d->leases = NULL;
	}
	return ret;
}

static void services_stop(struct xbootd *d)
{
	servers_destroy(d);
	lease_db_destroy(d->leases);
	d->leases = NULL;
}

static void xdp_stop(struct xbootd *d)
{
	if (!d->xdp)
		return;
	/* Whatever XDP granted last goes into the lease table first. */
	xdp_ctl_poll_events(d->xdp);
	xdp_ctl_close(d->xdp);
	d->xdp = NULL;
}

/* xdp=auto: any failure leaves the slow path alone; native|generic: fatal. */
static int xdp_start(struct xbootd *d)
{
	int i, ret, must = d->cfg->xdp != CFG_XDP_AUTO;
	struct dhcp_server_iface si;
	struct xdp_ctl *x;

	if (d->cfg->xdp == CFG_XDP_OFF)
		return 0;
	ret = xdp_ctl_open(&x, d->cfg);
	if (ret)
		goto fail;
	for (i = 0; i < d->nifaces && !ret; i++) {
		si = (struct dhcp_server_iface){
			.ifindex = d->ifaces[i].link.ifindex,
			.addr = d->ifaces[i].link.addr,
			.mask = d->ifaces[i].link.mask,
		};
		memcpy(si.mac, d->ifaces[i].link.mac, 6);
		ret = xdp_ctl_attach(x, d->ifaces[i].link.name, &si);
	}
	/* One program serves every interface, and its templates are per
	 * subnet: the first interface's server supplies them, and the
	 * program puts the ingress interface's address in option 54 and
	 * siaddr, as that interface's own server would. */
	if (!ret)
		ret = xdp_ctl_sync(x, d->ifaces[0].srv, d->leases);
	if (ret) {
		xdp_ctl_close(x);
		goto fail;
	}
	d->xdp = x;
	return 0;
fail:
	if (must) {
		pr_err("XDP fast path: %s (xdp=%s)", strerror(-ret),
		       d->cfg->xdp == CFG_XDP_NATIVE ? "native" : "generic");
		return ret;
	}
	pr_warn("XDP fast path unavailable (%s): answering from userspace only",
		strerror(-ret));
	return 0;
}

/*
 * The image store. Opening it sweeps what an interrupted import, capture
 * or removal left behind (xbootctl writes images beside us, holding a lock
 * on its staging directory, so a live one is never swept).
 */
static int images_open(struct xbootd *d)
{
	struct image_err e = { "" };
	int ret;

	ret = image_store_open(&d->images, d->cfg->image_dir, &e);
	if (ret)
		pr_err("image-dir: %s", e.msg);
	return ret;
}

static int same_interfaces(const struct config *a, const struct config *b)
{
	int i;

	if (a->ninterfaces != b->ninterfaces || a->mode != b->mode)
		return 0;
	for (i = 0; i < a->ninterfaces; i++)
		if (strcmp(a->interfaces[i], b->interfaces[i]))
			return 0;
	return 1;
}

/* Keys whose sockets, roots or files are opened once at start: a reload
 * that changes one is refused rather than half applied. NULL: none. */
static const char *reload_fixed_key(const struct config *a,
				    const struct config *b)
{
	if (a->tftp_off != b->tftp_off)
		return "tftp";
	if (!a->tftp_off && strcmp(a->tftp_root, b->tftp_root))
		return "tftp-root";
	if (a->http_port != b->http_port)
		return "http-port";
	if (strcmp(a->control_socket, b->control_socket))
		return "control-socket";
	if (strcmp(a->state_dir, b->state_dir))
		return "state-dir";
	if (strcmp(a->image_dir, b->image_dir))
		return "image-dir";
	if (a->ipv6_ra != b->ipv6_ra)
		return "ipv6-ra";
	/* the agent port and its TLS identity are set up once at start */
	if (a->agent_port != b->agent_port)
		return "agent-port";
	if (strcmp(a->agent_cert, b->agent_cert))
		return "agent-cert";
	if (strcmp(a->agent_key, b->agent_key))
		return "agent-key";
	if (strcmp(a->agent_ca, b->agent_ca))
		return "agent-ca";
	return NULL;
}

static void log_summary(const struct xbootd *d)
{
	char line[512], a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	const struct config *cfg = d->cfg;
	size_t n = 0;
	int i;

	for (i = 0; i < d->nifaces; i++)
		n += snprintf(line + n, sizeof(line) - n, "%s%s (%s/%d)",
			      i ? ", " : "", d->ifaces[i].link.name,
			      inet_ntop(AF_INET, &d->ifaces[i].link.addr, a,
					sizeof(a)),
			      d->ifaces[i].link.prefix);
	n += snprintf(line + n, sizeof(line) - n, "; mode %s; ranges",
		      cfg->mode == XB_MODE_PROXY ? "proxy" : "full");
	for (i = 0; i < cfg->nranges && n < sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - n, " %s-%s",
			      inet_ntop(AF_INET, &cfg->ranges[i].start, a,
					sizeof(a)),
			      inet_ntop(AF_INET, &cfg->ranges[i].end, b,
					sizeof(b)));
	if (!cfg->nranges && n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, " none");
	if (n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, "; XDP %s",
			 d->xdp ? xdp_ctl_mode(d->xdp, d->ifaces[0].link.ifindex) :
				  "off");
	pr_info("xbootd %s: serving %s", XBOOT_VERSION, line);
}

/*
 * SIGHUP. The new configuration is parsed and checked, and its interfaces
 * looked up, before anything running is touched; then XDP, the servers and
 * the lease table are rebuilt on it. If that fails, the old configuration
 * is rebuilt instead. TFTP follows the new XDP program on its own: its hot
 * files (tftp-hot=, boot files) are loaded into the new map, or registered
 * with xboot.ko again, from the new configuration.
 */
static int xbootd_reload(struct xbootd *d)
{
	struct xbootd_iface ifs[CFG_MAX_INTERFACES] = { 0 };
	struct config *cfg, *old = d->cfg;
	struct cfg_error err;
	const char *key;
	int i, ret;

	ret = config_build(&cfg, d->argc, d->argv, &err);
	if (ret) {
		pr_err("reload: %s", err.msg);
		return ret;
	}
	if (!same_interfaces(old, cfg)) {
		pr_err("reload: interfaces or mode changed: restart xbootd to apply that");
		config_destroy(cfg);
		return -EINVAL;
	}
	key = reload_fixed_key(old, cfg);
	if (key) {
		pr_err("reload: %s changed: restart xbootd to apply that; nothing reloaded",
		       key);
		config_destroy(cfg);
		return -EINVAL;
	}
	ret = ifaces_lookup(cfg, ifs);
	if (ret) {
		config_destroy(cfg);
		return ret;
	}
	xdp_stop(d);
	services_stop(d);
	for (i = 0; i < d->nifaces; i++)
		d->ifaces[i].link = ifs[i].link;
	d->cfg = cfg;
	ret = services_start(d);
	if (ret) {
		pr_err("reload: going back to the previous configuration");
		d->cfg = old;
		old = cfg;
		if (services_start(d))
			pr_err("reload: cannot restore the previous configuration; serving nothing");
	}
	log_level = LOG_LVL_INFO + d->cfg->verbose;
	if (d->leases && xdp_start(d))
		pr_err("reload: XDP fast path not restored");
	config_destroy(old);
	if (!ret)
		log_summary(d);
	return ret;
}

int main(int argc, char **argv)
{
	struct xbootd d = { .argc = argc, .argv = argv,
			    .reload = xbootd_reload };
	struct cfg_error err;
	struct loop *loop;
	int ret;

	ret = config_build(&d.cfg, argc, argv, &err);
	if (ret == 1)
		return 0; /* --help */
	if (ret) {
		fprintf(stderr, "xbootd: %s\n", err.msg);
		return 1;
	}
	log_level = LOG_LVL_INFO + d.cfg->verbose;
	d.nifaces = d.cfg->ninterfaces;
	d.started = mono_now();
	ret = ifaces_lookup(d.cfg, d.ifaces);
	if (ret)
		goto err_config;
	ret = store_open(&d.store, d.cfg->state_dir);
	if (ret)
		goto err_config;
	ret = machines_open(&d.machines, d.store);
	if (ret) {
		pr_err("cannot open the machine tables: %s", strerror(-ret));
		goto err_store;
	}
	ret = images_open(&d);
	if (ret)
		goto err_machines;
	ret = services_start(&d);
	if (ret)
		goto err_images;
	/* Sockets before XDP: if port 67 is taken, nothing gets attached. */
	ret = loop_create(&loop, &d);
	if (ret)
		goto err_services;
	ret = xdp_start(&d);
	if (ret)
		goto err_loop;
	log_summary(&d);
	ret = loop_run(loop);
	xdp_stop(&d);
	pr_info("stopped");
err_loop:
	loop_destroy(loop);
err_services:
	services_stop(&d);
err_images:
	image_store_close(d.images);
err_machines:
	machines_close(d.machines);
err_store:
	store_close(d.store);
err_config:
	config_destroy(d.cfg);
	return ret ? 1 : 0;
}
