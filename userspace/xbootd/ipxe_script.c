// SPDX-License-Identifier: GPL-2.0
/*
 * Rendering of per-machine iPXE scripts (see ipxe_script.h). Only xboot's
 * own variable names are replaced: iPXE expands ${...} itself at run time,
 * so everything else must reach it untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "ipxe_script.h"

/*
 * The kernel and initramfs of the machine's boot profile, under http-root:
 * boot/PROFILE/vmlinuz and boot/PROFILE/initrd.img. The kernel is told
 * where xboot is, for the agent in the boot environment: the server, the
 * agent port, the CA to pin and a credential to enrol with (the boot
 * environment ignores the keys that are empty). ${xboot_ip} and
 * ${xboot_gw} are iPXE's own settings, left for iPXE to expand: a boot
 * medium with a static address sets them (media.c), so the boot
 * environment keeps that address; elsewhere they are empty and it uses
 * DHCP.
 */
const char ipxe_default_template[] =
	"#!ipxe\n"
	"# xboot: the boot script of ${mac}\n"
	"echo xboot: ${hostname} mac ${mac} ip ${ip} profile ${profile}\n"
	"kernel ${server}/boot/${profile}/vmlinuz initrd=initrd.img "
	"xboot.server=${server} xboot.mac=${mac} xboot.enrol=${enrol} "
	"xboot.agent_port=${agent_port} xboot.ca=${ca_url} "
	"xboot.ip=${xboot_ip} xboot.gw=${xboot_gw}\n"
	"initrd ${server}/boot/${profile}/initrd.img\n"
	"boot || goto failed\n"
	":failed\n"
	"echo xboot: boot failed, retrying in 10 s\n"
	"sleep 10\n"
	"reboot\n";

struct outbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void out_put(struct outbuf *o, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (o->err)
		return;
	if (o->len + n + 1 > IPXE_SCRIPT_MAX) {
		o->err = 1;
		return;
	}
	if (o->len + n + 1 > o->cap) {
		cap = o->cap ? o->cap * 2 : 1024;
		while (cap < o->len + n + 1)
			cap *= 2;
		p = realloc(o->p, cap);
		if (!p) {
			o->err = 1;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* The value of an xboot variable named by name (n bytes), or NULL. */
static const char *var_value(const struct ipxe_vars *v, const char *name,
			     size_t n)
{
	static const struct {
		const char *name;
		size_t off;
	} vars[] = {
		{ "mac", offsetof(struct ipxe_vars, mac) },
		{ "ip", offsetof(struct ipxe_vars, ip) },
		{ "hostname", offsetof(struct ipxe_vars, hostname) },
		{ "profile", offsetof(struct ipxe_vars, profile) },
		{ "server", offsetof(struct ipxe_vars, server) },
		{ "server_ip", offsetof(struct ipxe_vars, server_ip) },
		{ "http_port", offsetof(struct ipxe_vars, http_port) },
		{ "enrol", offsetof(struct ipxe_vars, enrol) },
		{ "agent_port", offsetof(struct ipxe_vars, agent_port) },
		{ "ca_url", offsetof(struct ipxe_vars, ca_url) },
	};
	const char *val;
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (strlen(vars[i].name) != n || memcmp(vars[i].name, name, n))
			continue;
		val = *(const char *const *)((const char *)v + vars[i].off);
		return val ? val : "";
	}
	return NULL;
}

char *ipxe_render(const char *tmpl, const struct ipxe_vars *v, size_t *len)
{
	struct outbuf o = { 0 };
	const char *p = tmpl, *open, *close, *val;

	while ((open = strstr(p, "${"))) {
		out_put(&o, p, open - p);
		close = strchr(open + 2, '}');
		val = close ? var_value(v, open + 2, close - open - 2) : NULL;
		if (val) {
			out_put(&o, val, strlen(val));
			p = close + 1;
		} else {
			out_put(&o, open, 2);
			p = open + 2;
		}
	}
	out_put(&o, p, strlen(p));
	if (!o.err && !o.p)
		out_put(&o, "", 0);
	if (o.err || !o.p) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}

bool ipxe_uses(const char *tmpl, const char *name)
{
	size_t n = strlen(name);
	const char *p = tmpl;

	while ((p = strstr(p, "${"))) {
		p += 2;
		if (!strncmp(p, name, n) && p[n] == '}')
			return true;
	}
	return false;
}
