/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-machine iPXE scripts: a template (the `ipxe-script=FILE`, or the
 * built-in one) with xboot's variables filled in for the machine asking.
 *
 *   ${mac}        the machine's MAC, aa:bb:cc:dd:ee:ff
 *   ${ip}         its address (its lease, or the address it asked from)
 *   ${hostname}   the reservation's host name, else the lease's, else ""
 *   ${profile}    the reservation's boot profile, else "default"
 *   ${server}     base URL of this HTTP server, http://ADDRESS:PORT
 *   ${server_ip}  the server's address the machine reached
 *   ${http_port}  the HTTP port
 *   ${enrol}      a new single-use enrolment credential for the machine's
 *                 agent (minted only when the template uses it); "" when
 *                 xbootd has no agent service
 *   ${agent_port} the agent port, "" when the agent service is off
 *   ${ca_url}     ${server}/xboot/ca.pem, the CA agents pin, when xbootd
 *                 has one, else ""
 *
 * Any other ${...} is left as it is, so the script can still use iPXE's own
 * settings (${net0/mac}, ${buildarch}, ...).
 */
#ifndef XBOOTD_IPXE_SCRIPT_H
#define XBOOTD_IPXE_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#define IPXE_SCRIPT_MAX (64 * 1024) /* a template, or a rendered script */

struct ipxe_vars {
	const char *mac;
	const char *ip;
	const char *hostname;
	const char *profile;
	const char *server;
	const char *server_ip;
	const char *http_port;
	const char *enrol;
	const char *agent_port;
	const char *ca_url;
};

extern const char ipxe_default_template[];

/* The script for v: malloc'd, NUL-terminated, its length in *len; NULL
 * when out of memory or longer than IPXE_SCRIPT_MAX. */
char *ipxe_render(const char *tmpl, const struct ipxe_vars *v, size_t *len);
/* Whether tmpl uses the variable name (say "enrol"), so that a value
 * that costs something is made only when it is needed. */
bool ipxe_uses(const char *tmpl, const char *name);

#endif /* XBOOTD_IPXE_SCRIPT_H */
