/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The running daemon as the event loop (loop.c) and the control API
 * (control.c) see it. main.c builds it, and rebuilds the parts that depend
 * on the configuration when SIGHUP asks for a reload; everything here is
 * only touched from the loop's thread.
 */
#ifndef XBOOTD_XBOOTD_H
#define XBOOTD_XBOOTD_H

#include <stdint.h>
#include <time.h>

#include "config.h"
#include "dhcp_server.h"
#include "lease.h"
#include "rtnl.h"
#include "store.h"
#include "xdp_ctl.h"

#define XBOOT_VERSION "0.1.0"

struct image_store;

struct xbootd_iface {
	struct rtnl_iface link;  /* name, ifindex, MAC, address */
	struct dhcp_server *srv; /* answers what arrives on it */
};

struct xbootd {
	struct config *cfg;
	int argc;               /* the sources a reload parses again */
	char **argv;
	struct store *store;
	struct lease_db *leases;
	struct xbootd_iface ifaces[CFG_MAX_INTERFACES];
	int nifaces;
	struct xdp_ctl *xdp;    /* NULL: no fast path */
	time_t started;         /* CLOCK_MONOTONIC seconds */
	/* http.c's counters (HTTP_STAT_MAX of them), NULL: no HTTP server */
	const uint64_t *http_stats;
	/* tftp.c's counters (TFTP_STAT_MAX of them), NULL: no TFTP server */
	const uint64_t *tftp_stats;
	/* machines, jobs, enrolment, phases (machines.h); always open */
	struct machines *machines;
	/* the image store (image_store.h) at cfg->image_dir; always open */
	struct image_store *images;
	/* the agent service (agent_srv.h), NULL when agent-port=0 */
	struct agent_srv *agents;
	/* agent_srv.c's counters (AGENT_STAT_MAX), NULL: no agent service */
	const uint64_t *agent_stats;
	/* the CA agents pin, PEM, served at /xboot/ca.pem; "" without one */
	char agent_ca_file[CFG_PATH_MAX];
	/* Re-read the configuration and rebuild on it (SIGHUP); on error the
	 * running configuration stays. Called outside any transaction. */
	int (*reload)(struct xbootd *d);
};

static inline struct xbootd_iface *xbootd_iface_by_index(struct xbootd *d,
							 int ifindex)
{
	int i;

	for (i = 0; i < d->nifaces; i++)
		if (d->ifaces[i].link.ifindex == ifindex)
			return &d->ifaces[i];
	return NULL;
}

#endif /* XBOOTD_XBOOTD_H */
