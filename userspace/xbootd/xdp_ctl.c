// SPDX-License-Identifier: GPL-2.0
/*
 * The XDP fast path's controller (see xdp_ctl.h). It owns the BPF object:
 * loads it, attaches it, mirrors policy (subnets, templates, reservations,
 * leases) into its maps, keeps each subnet's free-address queue topped up
 * with addresses lent by the lease table, and feeds the program's
 * ring-buffer events back into the lease table.
 *
 * Ownership of an address moves only through lease_lend()/lease_unlend()
 * and the events, so an address is never both in a queue and leased.
 *
 * XDP answers before xbootd has stored anything, so the lease map is pinned
 * in bpffs: if xbootd dies (kill -9), the program is detached with it (a
 * BPF link), and the next start with the same state directory takes every
 * lease XDP granted from the pinned map before serving anyone.
 *
 * The object comes in two builds (ebpf/xb_block.h): with xboot.ko loaded,
 * the one whose TFTP blocks come from the module's page cache through its
 * kfuncs; otherwise, or when the kernel refuses that one, the one whose
 * blocks come from xb_blocks. Both have the same maps and programs.
 *
 * Next to the XDP program, the object's TC program sits at clsact ingress
 * of each interface: it sends the TFTP blocks XDP had no room to build
 * (veth since Linux 6.8). A tc filter is not a BPF link and outlives a
 * killed xbootd; the next start replaces it (same handle and priority).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/if_link.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "xdp_ctl.h"
#include "xboot_xdp.skel.h"
#include "xboot_xdp_kfunc.skel.h"

/* How many free addresses each subnet lends to XDP at most. Enough for a
 * burst of thousands of DISCOVERs between two ticks, small enough that
 * the slow path rarely has to take one back. */
#define XDP_QUEUE_TARGET 4096
#define XDP_LEND_BATCH 256
#define NSEC_PER_SEC 1000000000LL

/* Our tc filter at clsact ingress: unusual numbers, so that a leftover
 * of ours is found again and nobody else's is taken for one. */
#define XDP_TC_HANDLE 0xb007
#define XDP_TC_PRIO 0xb007

struct xdp_iface {
	int ifindex;
	char name[IF_NAMESIZE];
	__u32 flags;  /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	int link_fd;  /* the attachment; closing it detaches */
	int tc;       /* the TC tier's filter is attached */
	struct dhcp_server_iface info;
};

/* The loaded build's maps and programs, whichever build it is. */
#define XDP_OBJ_MAPS(X)                                                     \
	X(xb_config) X(xb_subnets) X(xb_tmpl) X(xb_resv) X(xb_leases)      \
	X(xb_free) X(xb_events) X(xb_stats) X(xb_files) X(xb_blocks)       \
	X(xb_tftp_sess)
#define XDP_OBJ_PROGS(X) X(xboot_dhcp) X(xboot_tftp_tc)
#define XDP_OBJ_FIELD(name) struct bpf_map *name;
#define XDP_OBJ_PROG_FIELD(name) struct bpf_program *name;

struct xdp_obj_maps {
	XDP_OBJ_MAPS(XDP_OBJ_FIELD)
};

struct xdp_obj_progs {
	XDP_OBJ_PROGS(XDP_OBJ_PROG_FIELD)
};

struct xdp_ctl {
	const struct config *cfg;
	const struct xdp_build *build;
	void *skel; /* build's skeleton */
	struct xdp_obj_maps maps;
	struct xdp_obj_progs progs;
	struct ring_buffer *rb;
	struct xdp_iface ifs[XB_MAX_IFACES];
	int nifs;
	int queue_fd[XB_MAX_SUBNETS]; /* -1: no queue */
	int nsubnets;
	struct lease_db *db;
	struct dhcp_server *srv;
	int in_poll; /* replaying events: XDP's map is already newer */
	char pin_path[PATH_MAX]; /* xb_leases in bpffs; "" when none */
	int pinned;
	int crashed_fd; /* a previous run's pinned xb_leases, or -1 */
	xdp_ctl_tftp_done_fn tftp_done;
	void *tftp_arg;
	uint64_t serial;
};

/* Tells one opened program from the next, even at the same address. */
static uint64_t ctl_serial;

/* --- loading ------------------------------------------------------------ */

/* Set while a libbpf call is expected to fail (a probe): its messages
 * then go to debug. */
static int libbpf_quiet;

/* libbpf's messages, one level lower than it files them: its warnings are
 * mostly about optional features. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	int lvl = level == LIBBPF_WARN ? LOG_LVL_INFO :
		  level == LIBBPF_INFO ? LOG_LVL_DEBUG : LOG_LVL_DEBUG + 1;
	char line[1024];
	size_t n;

	if (libbpf_quiet && lvl < LOG_LVL_DEBUG)
		lvl = LOG_LVL_DEBUG;
	if (lvl > log_level)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_msg(lvl > LOG_LVL_DEBUG ? LOG_LVL_DEBUG : lvl, "libbpf: %s", line);
	return 0;
}

/* What the program needs beyond plain XDP (Linux 5.18 has all of it;
 * Debian 12's 6.1 does). */
static int probe_features(void)
{
	static const struct {
		enum bpf_func_id id;
		const char *name;
	} helpers[] = {
		{ BPF_FUNC_loop, "bpf_loop (5.17)" },
		{ BPF_FUNC_xdp_load_bytes, "bpf_xdp_load_bytes (5.18)" },
		{ BPF_FUNC_xdp_store_bytes, "bpf_xdp_store_bytes (5.18)" },
		{ BPF_FUNC_ringbuf_reserve, "ring buffers (5.8)" },
		{ BPF_FUNC_ktime_get_boot_ns, "bpf_ktime_get_boot_ns (5.8)" },
	};
	size_t i;

	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL) != 1) {
		pr_warn("xdp: the kernel cannot load XDP programs (no BPF, or no permission: needs CAP_BPF and CAP_NET_ADMIN)");
		return -EOPNOTSUPP;
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1 ||
	    libbpf_probe_bpf_map_type(BPF_MAP_TYPE_QUEUE, NULL) != 1) {
		pr_warn("xdp: the kernel lacks ring buffer or queue maps (needs Linux >= 5.18)");
		return -EOPNOTSUPP;
	}
	for (i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++) {
		if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, helpers[i].id,
					    NULL) != 1) {
			pr_warn("xdp: the kernel lacks %s (needs Linux >= 5.18)",
				helpers[i].name);
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

/* --- the two builds ------------------------------------------------------ */

struct xdp_build {
	const char *source; /* xdp_ctl_block_source() */
	void *(*open)(void);
	int (*load)(void *skel);
	void (*destroy)(void *skel);
	void (*bind)(struct xdp_ctl *x, void *skel);
};

#define XDP_BIND_MAP(name) x->maps.name = s->maps.name;
#define XDP_BIND_PROG(name) x->progs.name = s->progs.name;

static void *map_open(void)
{
	return xboot_xdp__open();
}

static int map_load(void *skel)
{
	return xboot_xdp__load(skel);
}

static void map_destroy(void *skel)
{
	xboot_xdp__destroy(skel);
}

static void map_bind(struct xdp_ctl *x, void *skel)
{
	struct xboot_xdp *s = skel;

	XDP_OBJ_MAPS(XDP_BIND_MAP)
	XDP_OBJ_PROGS(XDP_BIND_PROG)
}

static void *kfunc_open(void)
{
	return xboot_xdp_kfunc__open();
}

static int kfunc_load(void *skel)
{
	return xboot_xdp_kfunc__load(skel);
}

static void kfunc_destroy(void *skel)
{
	xboot_xdp_kfunc__destroy(skel);
}

static void kfunc_bind(struct xdp_ctl *x, void *skel)
{
	struct xboot_xdp_kfunc *s = skel;

	XDP_OBJ_MAPS(XDP_BIND_MAP)
	XDP_OBJ_PROGS(XDP_BIND_PROG)
}

static const struct xdp_build build_map = {
	.source = "map",
	.open = map_open,
	.load = map_load,
	.destroy = map_destroy,
	.bind = map_bind,
};

static const struct xdp_build build_kfunc = {
	.source = "kfunc",
	.open = kfunc_open,
	.load = kfunc_load,
	.destroy = kfunc_destroy,
	.bind = kfunc_bind,
};

/* xboot.ko is loaded: its kfuncs (and their BTF) may be there. */
static int kmod_present(void)
{
	return !access("/sys/module/xboot", F_OK) ||
	       !access("/sys/kernel/btf/xboot", F_OK);
}

/* With -vv, the verifier's statistics (instructions processed, states):
 * how close the program is to the verifier's limits on this kernel. Only
 * the statistics, as a full log would not fit any sane buffer. */
static int load_program(struct xdp_ctl *x)
{
	struct bpf_program *prog = x->progs.xboot_dhcp;
	char *log = NULL, *line, *save;
	int err;

	if (log_level >= LOG_LVL_DEBUG) {
		log = calloc(1, 4096);
		if (log) {
			bpf_program__set_log_buf(prog, log, 4096);
			bpf_program__set_log_level(prog, 4);
		}
	}
	err = x->build->load(x->skel);
	for (line = log ? strtok_r(log, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		pr_debug("xdp: verifier: %s", line);
	free(log);
	return err;
}

/* Open and load one build; on failure nothing is left open. */
static int open_build(struct xdp_ctl *x, const struct xdp_build *b)
{
	int err;

	x->build = b;
	x->skel = b->open();
	if (!x->skel) {
		err = -errno;
		pr_warn("xdp: cannot open the BPF object (%s blocks): %s",
			b->source, strerror(-err));
		return err ? err : -ENOMEM;
	}
	b->bind(x, x->skel);
	err = load_program(x);
	if (err) {
		b->destroy(x->skel);
		x->skel = NULL;
	}
	return err;
}

/* The kfunc build when xboot.ko is there, else (or when the kernel refuses
 * it: a module without its BTF, an older module) the map build. */
static int open_object(struct xdp_ctl *x)
{
	int err;

	if (kmod_present()) {
		err = open_build(x, &build_kfunc);
		if (!err) {
			pr_info("xdp: TFTP blocks from xboot.ko's page cache (kfunc)");
			return 0;
		}
		pr_info("xdp: xboot.ko is loaded but the kernel refused the kfunc build (%s); TFTP blocks from the map",
			strerror(-err));
	}
	err = open_build(x, &build_map);
	if (err)
		pr_warn("xdp: the kernel refused the XDP program (%s)%s",
			strerror(-err),
			log_level >= LOG_LVL_DEBUG ?
				"; without -vv libbpf logs the verifier's reasons" :
				"; libbpf's messages above have the verifier's reasons");
	return err;
}

static int on_event(void *ctx, void *data, size_t size);
static void pin_open(struct xdp_ctl *x);

int xdp_ctl_open(struct xdp_ctl **out, const struct config *cfg)
{
	struct xdp_ctl *x;
	int err, i;

	libbpf_set_print(libbpf_log);
	err = probe_features();
	if (err)
		return err;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->cfg = cfg;
	x->crashed_fd = -1;
	for (i = 0; i < XB_MAX_SUBNETS; i++)
		x->queue_fd[i] = -1;

	err = open_object(x);
	if (err) {
		err = err == -EPERM ? -EPERM : -EOPNOTSUPP;
		goto err_free;
	}
	x->rb = ring_buffer__new(bpf_map__fd(x->maps.xb_events),
				 on_event, x, NULL);
	if (!x->rb) {
		err = -errno;
		pr_warn("xdp: cannot map the event ring buffer: %s",
			strerror(-err));
		goto err_skel;
	}
	pin_open(x);
	x->serial = ++ctl_serial;
	*out = x;
	return 0;

err_skel:
	x->build->destroy(x->skel);
err_free:
	free(x);
	return err;
}

/* --- attaching ---------------------------------------------------------- */

static const char *mode_name(__u32 flags)
{
	return flags & XDP_FLAGS_DRV_MODE ? "native" : "generic";
}

static int prog_is(__u32 id, char name[BPF_OBJ_NAME_LEN], const char *want)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd, err;

	strcpy(name, "?");
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return 1; /* gone meanwhile */
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (err)
		return 0;
	memcpy(name, info.name, BPF_OBJ_NAME_LEN);
	name[BPF_OBJ_NAME_LEN - 1] = '\0';
	return !strcmp(name, want);
}

/* Only an earlier xbootd's program may be replaced; anyone else's is left
 * alone. */
static int check_slot(int ifindex, const char *ifname)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char name[BPF_OBJ_NAME_LEN];
	__u32 ids[2];
	int i;

	if (bpf_xdp_query(ifindex, 0, &q))
		return 0;
	ids[0] = q.drv_prog_id;
	ids[1] = q.skb_prog_id;
	for (i = 0; i < 2; i++) {
		if (!ids[i] || prog_is(ids[i], name, "xboot_dhcp"))
			continue;
		pr_warn("xdp: %s already runs XDP program %u (%s); not replacing it",
			ifname, ids[i], name);
		return -EBUSY;
	}
	return 0;
}

/* Attached through a BPF link, which lives only as long as its file
 * descriptor: if xbootd dies, even by kill -9, the kernel detaches the
 * program, so it never goes on handing out addresses nobody records. */
static int try_attach(struct xdp_ctl *x, struct xdp_iface *xi, __u32 mode)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = mode);
	int fd = bpf_program__fd(x->progs.xboot_dhcp);

	/* An older xbootd's program attached without a link (check_slot()
	 * made sure it is ours). */
	bpf_xdp_detach(xi->ifindex, XDP_FLAGS_DRV_MODE, NULL);
	bpf_xdp_detach(xi->ifindex, XDP_FLAGS_SKB_MODE, NULL);
	fd = bpf_link_create(fd, xi->ifindex, BPF_XDP, &opts);
	if (fd < 0)
		return -errno;
	xi->link_fd = fd;
	xi->flags = mode;
	return 0;
}

static int attach_mode(struct xdp_ctl *x, struct xdp_iface *xi)
{
	enum cfg_xdp want = x->cfg ? x->cfg->xdp : CFG_XDP_AUTO;
	int err = -EOPNOTSUPP;

	if (want == CFG_XDP_AUTO || want == CFG_XDP_NATIVE) {
		err = try_attach(x, xi, XDP_FLAGS_DRV_MODE);
		if (!err || err == -EBUSY)
			return err;
		if (want == CFG_XDP_NATIVE) {
			pr_warn("xdp: %s: the driver refused native XDP (%s); try xdp=generic",
				xi->name, strerror(-err));
			return -EOPNOTSUPP;
		}
		pr_debug("xdp: %s: native XDP refused (%s), trying generic",
			 xi->name, strerror(-err));
	}
	err = try_attach(x, xi, XDP_FLAGS_SKB_MODE);
	if (err == -EBUSY)
		return err;
	if (err) {
		pr_warn("xdp: %s: the kernel refused generic XDP (%s)",
			xi->name, strerror(-err));
		return -EOPNOTSUPP;
	}
	return 0;
}

/* --- the TC tier ---------------------------------------------------------- */

static void tc_hook_of(struct bpf_tc_hook *hook, int ifindex)
{
	memset(hook, 0, sizeof(*hook));
	hook->sz = sizeof(*hook);
	hook->ifindex = ifindex;
	hook->attach_point = BPF_TC_INGRESS;
}

static void tc_opts_of(struct bpf_tc_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->sz = sizeof(*opts);
	opts->handle = XDP_TC_HANDLE;
	opts->priority = XDP_TC_PRIO;
}

/* Our slot is free, or holds a leftover of ours (a killed xbootd). */
static int tc_check_slot(struct bpf_tc_hook *hook, const char *ifname)
{
	char name[BPF_OBJ_NAME_LEN];
	struct bpf_tc_opts q;
	int err;

	tc_opts_of(&q);
	/* An empty slot is the usual answer, and libbpf warns about it. */
	libbpf_quiet++;
	err = bpf_tc_query(hook, &q);
	libbpf_quiet--;
	if (err)
		return 0;
	if (prog_is(q.prog_id, name, "xboot_tftp_tc")) {
		pr_debug("xdp: %s: replacing a leftover TC program %u",
			 ifname, q.prog_id);
		return 0;
	}
	pr_warn("xdp: %s: tc filter %#x:%#x at ingress is someone else's (%s); no TC tier there",
		ifname, XDP_TC_HANDLE, XDP_TC_PRIO, name);
	return -EBUSY;
}

/* The TFTP blocks XDP has no room for are sent from clsact ingress. */
static int tc_attach(struct xdp_ctl *x, struct xdp_iface *xi)
{
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;
	int err;

	tc_hook_of(&hook, xi->ifindex);
	/* The clsact qdisc may be there already (-EEXIST): fine. */
	libbpf_quiet++;
	err = bpf_tc_hook_create(&hook);
	libbpf_quiet--;
	if (err && err != -EEXIST)
		return err;
	err = tc_check_slot(&hook, xi->name);
	if (err)
		return err;
	tc_opts_of(&opts);
	opts.prog_fd = bpf_program__fd(x->progs.xboot_tftp_tc);
	opts.flags = BPF_TC_F_REPLACE;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		return err;
	xi->tc = 1;
	return 0;
}

/* Only our filter: the clsact qdisc may hold others' and stays. */
static void tc_detach(struct xdp_iface *xi)
{
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;

	if (!xi->tc)
		return;
	tc_hook_of(&hook, xi->ifindex);
	tc_opts_of(&opts);
	bpf_tc_detach(&hook, &opts);
	xi->tc = 0;
}

static struct xdp_iface *find_iface(struct xdp_ctl *x, int ifindex)
{
	int i;

	for (i = 0; i < x->nifs; i++)
		if (x->ifs[i].ifindex == ifindex)
			return &x->ifs[i];
	return NULL;
}

static int write_config(struct xdp_ctl *x, const struct xdp_iface *xi,
			int enabled)
{
	struct xb_config c = {};
	__u32 key = (__u32)xi->ifindex;

	c.server_ip = xi->info.addr.s_addr;
	if (x->cfg && x->cfg->server_addr.s_addr)
		c.server_ip = x->cfg->server_addr.s_addr;
	memcpy(c.server_mac, xi->info.mac, sizeof(c.server_mac));
	c.mode = x->cfg ? (__u8)x->cfg->mode : XB_MODE_FULL;
	c.enabled = (__u8)enabled;
	c.offer_hold_s = LEASE_OFFER_HOLD_S;
	return bpf_map_update_elem(bpf_map__fd(x->maps.xb_config), &key,
				   &c, BPF_ANY);
}

int xdp_ctl_attach(struct xdp_ctl *x, const char *ifname,
		   const struct dhcp_server_iface *iface)
{
	struct xdp_iface *xi;
	int ifindex = iface->ifindex, err;

	if (!ifindex)
		ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		return -ENODEV;
	xi = find_iface(x, ifindex);
	if (xi)
		return 0; /* attached already */
	if (x->nifs == XB_MAX_IFACES)
		return -ENOSPC;
	xi = &x->ifs[x->nifs];
	memset(xi, 0, sizeof(*xi));
	xi->ifindex = ifindex;
	snprintf(xi->name, sizeof(xi->name), "%s", ifname);
	xi->info = *iface;
	xi->info.ifindex = ifindex;

	err = check_slot(ifindex, ifname);
	if (err)
		return err;
	/* Until the first sync the program passes everything here. */
	err = write_config(x, xi, x->db != NULL);
	if (err) {
		pr_warn("xdp: %s: cannot write its config: %s", ifname,
			strerror(-err));
		return err;
	}
	err = attach_mode(x, xi);
	if (err == -EBUSY)
		pr_warn("xdp: %s: another program holds the XDP hook (another xbootd running?)",
			ifname);
	if (err) {
		bpf_map_delete_elem(bpf_map__fd(x->maps.xb_config),
				    &(__u32){ (__u32)ifindex });
		return err;
	}
	x->nifs++;
	err = tc_attach(x, xi);
	if (err)
		pr_warn("xdp: %s: no TC tier (%s): TFTP blocks XDP has no room for go to userspace",
			ifname, strerror(-err));
	pr_info("xdp: attached to %s (%s%s)", ifname, mode_name(xi->flags),
		xi->tc ? ", TC tier at ingress" : "");
	return 0;
}

const char *xdp_ctl_mode(struct xdp_ctl *x, int ifindex)
{
	struct xdp_iface *xi = x ? find_iface(x, ifindex) : NULL;

	return xi ? mode_name(xi->flags) : "off";
}

/* --- time --------------------------------------------------------------- */

/* Leases keep wall-clock seconds; the program compares CLOCK_BOOTTIME ns. */
static __u64 wall_to_boot_ns(int64_t wall)
{
	struct timespec boot, real;
	int64_t ns;

	clock_gettime(CLOCK_BOOTTIME, &boot);
	clock_gettime(CLOCK_REALTIME, &real);
	ns = (int64_t)boot.tv_sec * NSEC_PER_SEC + boot.tv_nsec +
	     (wall - real.tv_sec) * NSEC_PER_SEC - real.tv_nsec;
	return ns > 0 ? (__u64)ns : 0;
}

/* --- lease mirroring ---------------------------------------------------- */

static int leases_fd(struct xdp_ctl *x)
{
	return bpf_map__fd(x->maps.xb_leases);
}

static int lease_is_live(int state)
{
	return state == LEASE_OFFERED || state == LEASE_BOUND;
}

static void mac_key(struct xb_mac_key *k, const uint8_t mac[6])
{
	memset(k, 0, sizeof(*k));
	memcpy(k->mac, mac, sizeof(k->mac));
}

static int mirror_lease(struct xdp_ctl *x, const struct lease *l)
{
	struct xb_lease v = {}, cur;
	struct xb_mac_key k;
	int have;

	mac_key(&k, l->mac);
	have = !bpf_map_lookup_elem(leases_fd(x), &k, &cur);
	if (!lease_is_live(l->state) || l->subnet < 0 ||
	    l->subnet >= XB_MAX_SUBNETS) {
		/* Only if the entry is still about this address: the client
		 * may already hold another one. */
		if (have && cur.ip == l->ip.s_addr)
			bpf_map_delete_elem(leases_fd(x), &k);
		return 0;
	}
	/* Replaying an event XDP has since moved past (OFFER after its ACK):
	 * the map is newer. */
	if (x->in_poll && have && cur.ip == l->ip.s_addr &&
	    cur.state == XB_LEASE_BOUND && l->state == LEASE_OFFERED)
		return 0;
	v.ip = l->ip.s_addr;
	v.state = l->state == LEASE_BOUND ? XB_LEASE_BOUND : XB_LEASE_OFFERED;
	v.subnet = (__u8)l->subnet;
	v.expires_ns = wall_to_boot_ns(l->expires);
	return bpf_map_update_elem(leases_fd(x), &k, &v, BPF_ANY);
}

static void hook_changed(void *ctx, const struct lease *l)
{
	struct xdp_ctl *x = ctx;
	int err = mirror_lease(x, l);

	if (err)
		pr_warn_ratelimited("xdp: cannot mirror a lease: %s",
				    strerror(-err));
}

static int hook_take_queued(void *ctx, int subnet, struct in_addr *ip)
{
	struct xdp_ctl *x = ctx;
	__u32 v;

	if (subnet < 0 || subnet >= XB_MAX_SUBNETS || x->queue_fd[subnet] < 0)
		return -ENOENT;
	if (bpf_map_lookup_and_delete_elem(x->queue_fd[subnet], NULL, &v))
		return -ENOENT;
	ip->s_addr = v;
	return 0;
}

static int sync_lease_cb(const struct lease *l, void *arg)
{
	struct xdp_ctl *x = arg;

	if (lease_is_live(l->state))
		mirror_lease(x, l);
	return 0;
}

/* Entries the lease table no longer has (they ended while we were not
 * listening, or before a reload). */
static void prune_leases(struct xdp_ctl *x)
{
	struct xb_mac_key k, next, *prev = NULL;
	struct xb_lease v;

	while (!bpf_map_get_next_key(leases_fd(x), prev, &next)) {
		const struct lease *l = lease_find_mac(x->db, next.mac);

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(leases_fd(x), &k, &v))
			continue;
		if (!l || !lease_is_live(l->state) || l->ip.s_addr != v.ip)
			bpf_map_delete_elem(leases_fd(x), &k);
	}
}

/* --- policy maps -------------------------------------------------------- */

static int sync_subnets(struct xdp_ctl *x)
{
	int fd = bpf_map__fd(x->maps.xb_subnets);
	int n = lease_nsubnets(x->db), err;
	__u32 i;

	if (n > XB_MAX_SUBNETS)
		n = XB_MAX_SUBNETS;
	for (i = 0; i < XB_MAX_SUBNETS; i++) {
		struct xb_subnet sn = {};

		if ((int)i < n && lease_subnet_info(x->db, (int)i, &sn))
			memset(&sn, 0, sizeof(sn));
		err = bpf_map_update_elem(fd, &i, &sn, BPF_ANY);
		if (err)
			return err;
	}
	x->nsubnets = n < 0 ? 0 : n;
	return 0;
}

static int sync_templates(struct xdp_ctl *x)
{
	int fd = bpf_map__fd(x->maps.xb_tmpl), count = 0, err;
	const struct xb_tmpl *t = dhcp_server_templates(x->srv, &count);
	static const struct xb_tmpl none;
	__u32 i;

	for (i = 0; i < XB_MAX_SUBNETS * XB_NCLASS; i++) {
		const struct xb_tmpl *v = t && (int)i < count ? &t[i] : &none;

		err = bpf_map_update_elem(fd, &i, v, BPF_ANY);
		if (err)
			return err;
	}
	return 0;
}

static void resv_of_host(struct xdp_ctl *x, const struct cfg_host *h,
			 struct xb_resv *r)
{
	int subnet;

	memset(r, 0, sizeof(*r));
	r->ip = h->ip.s_addr;
	if (h->ip.s_addr) {
		subnet = lease_subnet_of(x->db, h->ip);
		/* Outside every subnet: 0xff matches none, so XDP leaves the
		 * host to xbootd. */
		r->subnet = subnet >= 0 && subnet < XB_MAX_SUBNETS ?
				    (__u8)subnet : 0xff;
	}
	r->hostname_len = (__u8)strnlen(h->hostname, XB_HOSTNAME_MAX);
	memcpy(r->hostname, h->hostname, r->hostname_len);
}

static int sync_resv(struct xdp_ctl *x)
{
	int fd = bpf_map__fd(x->maps.xb_resv), i, err;
	struct xb_mac_key k, next, *prev = NULL;
	struct xb_resv r;

	for (i = 0; x->cfg && i < x->cfg->nhosts; i++) {
		mac_key(&k, x->cfg->hosts[i].mac);
		resv_of_host(x, &x->cfg->hosts[i], &r);
		err = bpf_map_update_elem(fd, &k, &r, BPF_ANY);
		if (err)
			return err;
	}
	/* Then drop hosts that left the config (adding first means a kept
	 * host is never briefly without its reservation). */
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (!lease_find_host(x->db, k.mac))
			bpf_map_delete_elem(fd, &k);
	}
	return 0;
}

/* --- free-address queues ------------------------------------------------ */

static int queue_create(struct xdp_ctl *x, int subnet)
{
	int outer = bpf_map__fd(x->maps.xb_free), fd, err;
	__u32 key = (__u32)subnet;
	char name[16];

	snprintf(name, sizeof(name), "xb_free_%d", subnet);
	fd = bpf_map_create(BPF_MAP_TYPE_QUEUE, name, 0, sizeof(__u32),
			    XB_FREE_QUEUE_LEN, NULL);
	if (fd < 0)
		return -errno;
	err = bpf_map_update_elem(outer, &key, &fd, BPF_ANY);
	if (err) {
		close(fd);
		return err;
	}
	x->queue_fd[subnet] = fd;
	return 0;
}

/* Give every queued address of a subnet back; db NULL: just empty it (a
 * new lease table already counts them as free). */
static void queue_drain(struct xdp_ctl *x, int subnet, struct lease_db *db)
{
	struct in_addr ip;
	__u32 v;

	if (x->queue_fd[subnet] < 0)
		return;
	while (!bpf_map_lookup_and_delete_elem(x->queue_fd[subnet], NULL,
					       &v)) {
		ip.s_addr = v;
		if (db)
			lease_unlend(db, subnet, ip);
	}
}

static void queue_destroy(struct xdp_ctl *x, int subnet)
{
	__u32 key = (__u32)subnet;

	if (x->queue_fd[subnet] < 0)
		return;
	bpf_map_delete_elem(bpf_map__fd(x->maps.xb_free), &key);
	close(x->queue_fd[subnet]);
	x->queue_fd[subnet] = -1;
}

static void queue_top_up(struct xdp_ctl *x, int subnet)
{
	struct in_addr ips[XDP_LEND_BATCH];
	int want, n, i;

	want = XDP_QUEUE_TARGET - lease_queued(x->db, subnet);
	while (want > 0) {
		n = lease_lend(x->db, subnet, ips,
			       want < XDP_LEND_BATCH ? want : XDP_LEND_BATCH);
		if (n <= 0)
			return;
		for (i = 0; i < n; i++) {
			if (bpf_map_update_elem(x->queue_fd[subnet], NULL,
						&ips[i].s_addr, BPF_ANY))
				break;
		}
		/* A full queue: what did not fit goes back. */
		for (; i < n; i++)
			lease_unlend(x->db, subnet, ips[i]);
		if (i < n)
			return;
		want -= n;
	}
}

/* Refill as XDP drains a queue, not only once a tick: a boot storm can
 * take thousands of addresses a second. */
static void queues_refill_low(struct xdp_ctl *x)
{
	int i;

	for (i = 0; i < x->nsubnets; i++)
		if (x->queue_fd[i] >= 0 &&
		    lease_queued(x->db, i) < XDP_QUEUE_TARGET / 2)
			queue_top_up(x, i);
}

static int sync_queues(struct xdp_ctl *x)
{
	int i, err;

	for (i = 0; i < XB_MAX_SUBNETS; i++) {
		if (i >= x->nsubnets) {
			queue_drain(x, i, x->db);
			queue_destroy(x, i);
			continue;
		}
		if (x->queue_fd[i] < 0) {
			err = queue_create(x, i);
			if (err)
				return err;
		}
		queue_top_up(x, i);
	}
	return 0;
}

/* --- crash recovery ---------------------------------------------------- */

/* The host's bpffs, mounted at /sys/fs/bpf if nothing is there yet (as
 * systemd would). Under `ip netns exec` /sys is private to the process, so
 * a bpffs mounted there dies with it and the pin cannot outlive a crash:
 * run xbootd with `nsenter --net=` there instead. */
static int is_bpffs(const char *dir)
{
	struct statfs fs;

	return !statfs(dir, &fs) && fs.f_type == BPF_FS_MAGIC;
}

static const char *bpffs_dir(void)
{
	const char *dir = "/sys/fs/bpf";

	if (is_bpffs(dir))
		return dir;
	if (mount("bpf", dir, "bpf", 0, "mode=0700")) {
		pr_warn("xdp: cannot mount bpffs at %s: %s", dir,
			strerror(errno));
		return NULL;
	}
	pr_info("xdp: mounted bpffs at %s", dir);
	return dir;
}

/* One pin per state directory: two xbootd instances never share one. */
static void pin_path_for(const struct config *cfg, const char *bpffs,
			 char *out, size_t n)
{
	const char *dir = cfg && cfg->state_dir[0] ? cfg->state_dir :
						     XBOOTD_DEFAULT_STATE_DIR;
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	char real[PATH_MAX];
	const char *p;

	if (realpath(dir, real))
		dir = real;
	for (p = dir; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	snprintf(out, n, "%s/xboot-%016llx-leases", bpffs,
		 (unsigned long long)h);
}

static int is_lease_map(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return !bpf_obj_get_info_by_fd(fd, &info, &len) &&
	       info.type == BPF_MAP_TYPE_HASH &&
	       info.key_size == sizeof(struct xb_mac_key) &&
	       info.value_size == sizeof(struct xb_lease);
}

static void pin_open(struct xdp_ctl *x)
{
	const char *bpffs = bpffs_dir();
	int fd;

	if (!bpffs) {
		pr_warn("xdp: no bpffs at /sys/fs/bpf: leases XDP grants right before a crash could be forgotten");
		return;
	}
	pin_path_for(x->cfg, bpffs, x->pin_path, sizeof(x->pin_path));
	fd = bpf_obj_get(x->pin_path);
	if (fd < 0)
		return;
	if (!is_lease_map(fd)) {
		pr_warn("xdp: %s is not a lease map; replacing it",
			x->pin_path);
		close(fd);
		unlink(x->pin_path);
		return;
	}
	x->crashed_fd = fd;
}

static __u64 boot_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (__u64)ts.tv_sec * NSEC_PER_SEC + (__u64)ts.tv_nsec;
}

/* Already what the lease table says: nothing to redo. */
static int lease_known(struct xdp_ctl *x, const struct xb_mac_key *k,
		       const struct xb_lease *v)
{
	const struct lease *l = lease_find_mac(x->db, k->mac);

	return l && l->ip.s_addr == v->ip &&
	       (l->state == LEASE_BOUND) == (v->state == XB_LEASE_BOUND);
}

/* A lease of the crashed run's map, as the event that would have told us. */
static int recover_one(struct xdp_ctl *x, const struct xb_mac_key *k,
		       const struct xb_lease *v, __u64 now)
{
	struct xb_event ev = {};

	if (v->state == XB_LEASE_BOUND && v->expires_ns <= now)
		return 0;
	if (lease_known(x, k, v))
		return 0;
	ev.type = v->state == XB_LEASE_BOUND ? XB_EV_ACK : XB_EV_OFFER;
	ev.ip = v->ip;
	memcpy(ev.mac, k->mac, sizeof(ev.mac));
	ev.subnet = v->subnet;
	if (v->state == XB_LEASE_BOUND)
		ev.lease_s = (__u32)((v->expires_ns - now) / NSEC_PER_SEC);
	ev.ts_ns = now;
	return !lease_apply_xdp_event(x->db, &ev);
}

/* The previous run died without telling the lease table everything XDP
 * granted: take it from its pinned map now, before anyone is served. */
static void pin_recover(struct xdp_ctl *x)
{
	struct xb_mac_key k, next, *prev = NULL;
	__u64 now = boot_now_ns();
	struct xb_lease v;
	int n = 0;

	if (x->crashed_fd < 0)
		return;
	while (!bpf_map_get_next_key(x->crashed_fd, prev, &next)) {
		k = next;
		prev = &k;
		if (!bpf_map_lookup_elem(x->crashed_fd, &k, &v))
			n += recover_one(x, &k, &v, now);
	}
	if (n)
		pr_warn("xdp: took %d leases granted by XDP before an unclean stop from %s",
			n, x->pin_path);
	close(x->crashed_fd);
	x->crashed_fd = -1;
	unlink(x->pin_path);
}

static void pin_leases(struct xdp_ctl *x)
{
	int err;

	if (!x->pin_path[0] || x->pinned)
		return;
	unlink(x->pin_path);
	err = bpf_obj_pin(leases_fd(x), x->pin_path);
	if (err) {
		pr_warn("xdp: cannot pin the lease map at %s: %s", x->pin_path,
			strerror(errno));
		return;
	}
	x->pinned = 1;
}

/* A clean stop: the lease table has everything. */
static void pin_close(struct xdp_ctl *x)
{
	if (x->pinned)
		unlink(x->pin_path);
	if (x->crashed_fd >= 0)
		close(x->crashed_fd);
}

/* --- sync, events, ticks ------------------------------------------------ */

static void set_enabled(struct xdp_ctl *x, int enabled)
{
	int i;

	for (i = 0; i < x->nifs; i++)
		write_config(x, &x->ifs[i], enabled);
}

int xdp_ctl_sync(struct xdp_ctl *x, struct dhcp_server *srv,
		 struct lease_db *db)
{
	static const struct lease_hooks hooks = {
		.changed = hook_changed,
		.take_queued = hook_take_queued,
	};
	int err, i;

	/* What XDP did so far belongs to the table it was lent from. */
	if (x->db)
		xdp_ctl_poll_events(x);
	if (x->db && x->db != db) {
		/* A new table was rebuilt from the store, where queued
		 * addresses are free: empty the queues without returning. */
		for (i = 0; i < XB_MAX_SUBNETS; i++)
			queue_drain(x, i, NULL);
	}
	x->db = db;
	x->srv = srv;
	pin_recover(x);

	err = sync_subnets(x);
	if (!err)
		err = sync_templates(x);
	if (!err)
		err = sync_resv(x);
	if (err) {
		pr_warn("xdp: cannot write policy maps: %s", strerror(-err));
		return err;
	}
	lease_foreach(db, sync_lease_cb, x);
	prune_leases(x);
	pin_leases(x);
	lease_db_set_hooks(db, &hooks, x);
	err = sync_queues(x);
	if (err) {
		pr_warn("xdp: cannot create free-address queues: %s",
			strerror(-err));
		return err;
	}
	set_enabled(x, 1);
	return 0;
}

/* Both kinds share the ring buffer and are told apart by type. */
_Static_assert(sizeof(struct xb_tftp_event) <= sizeof(struct xb_event),
	       "xb_tftp_event must not outgrow xb_event");

static int on_tftp_event(struct xdp_ctl *x, const void *data, size_t size)
{
	struct xb_tftp_event ev;

	if (size < sizeof(ev) || !x->tftp_done)
		return 0;
	memcpy(&ev, data, sizeof(ev));
	x->tftp_done(x->tftp_arg, &ev);
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct xdp_ctl *x = ctx;
	struct xb_event ev;
	int err;

	if (size < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	if (ev.type == XB_EV_TFTP_DONE)
		return on_tftp_event(x, data, size);
	if (!x->db)
		return 0;
	err = lease_apply_xdp_event(x->db, &ev);
	if (err)
		pr_debug_ratelimited("xdp: event %u for %s not applied: %s",
				     ev.type,
				     inet_ntoa((struct in_addr){ ev.ip }),
				     strerror(-err));
	return 0;
}

int xdp_ctl_event_fd(struct xdp_ctl *x)
{
	return ring_buffer__epoll_fd(x->rb);
}

int xdp_ctl_poll_events(struct xdp_ctl *x)
{
	int n;

	x->in_poll = 1;
	n = ring_buffer__consume(x->rb);
	x->in_poll = 0;
	if (n > 0 && x->db)
		queues_refill_low(x);
	return n;
}

void xdp_ctl_tick(struct xdp_ctl *x, time_t now)
{
	int i;

	if (!x->db)
		return;
	xdp_ctl_poll_events(x);
	for (i = 0; i < x->nsubnets; i++)
		if (x->queue_fd[i] >= 0)
			queue_top_up(x, i);
}

int xdp_ctl_stats(struct xdp_ctl *x, uint64_t out[XB_STAT_MAX])
{
	int fd = bpf_map__fd(x->maps.xb_stats);
	int ncpu = libbpf_num_possible_cpus(), c;
	__u64 *vals;
	__u32 k;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (k = 0; k < XB_STAT_MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
	return 0;
}

/* --- teardown ----------------------------------------------------------- */

static void detach_all(struct xdp_ctl *x)
{
	int i;

	for (i = 0; i < x->nifs; i++) {
		tc_detach(&x->ifs[i]);
		close(x->ifs[i].link_fd);
		pr_info("xdp: detached from %s", x->ifs[i].name);
	}
	x->nifs = 0;
}

void xdp_ctl_close(struct xdp_ctl *x)
{
	static const struct lease_hooks no_hooks;
	int i;

	if (!x)
		return;
	detach_all(x);
	if (x->db) {
		/* Offers XDP made before the detach still count. */
		xdp_ctl_poll_events(x);
		lease_db_set_hooks(x->db, &no_hooks, NULL);
	}
	for (i = 0; i < XB_MAX_SUBNETS; i++) {
		queue_drain(x, i, x->db);
		queue_destroy(x, i);
	}
	pin_close(x);
	ring_buffer__free(x->rb);
	x->build->destroy(x->skel);
	free(x);
}

/* --- TFTP hot blocks ----------------------------------------------------- */

/* Each page value holds its own 4096 bytes and the next XB_BLOCK_SLACK, so
 * a block is one copy in the program; the file is read once per page. */
int xdp_ctl_tftp_load(struct xdp_ctl *x, uint32_t file_id, int fd,
		      uint64_t size, uint32_t generation)
{
	int bfd = bpf_map__fd(x->maps.xb_blocks);
	int ffd = bpf_map__fd(x->maps.xb_files);
	struct xb_file f = { .size = size, .generation = generation };
	struct xb_block_key k = { .file_id = file_id };
	struct xb_block *b;
	uint64_t pages = size ? (size + XB_BLOCK_PAGE - 1) / XB_BLOCK_PAGE : 0;
	ssize_t got;
	int err = 0;

	if (pages > XB_MAX_BLOCKS)
		return -EFBIG;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (k.page = 0; k.page < pages; k.page++) {
		memset(b, 0, sizeof(*b));
		got = pread(fd, b->data, sizeof(b->data),
			    (off_t)k.page * XB_BLOCK_PAGE);
		if (got < 0) {
			err = -errno;
			break;
		}
		if (bpf_map_update_elem(bfd, &k, b, BPF_ANY)) {
			err = -errno;
			break;
		}
	}
	free(b);
	f.pages = k.page;
	if (err) {
		xdp_ctl_tftp_unload(x, file_id, f.pages);
		return err;
	}
	if (bpf_map_update_elem(ffd, &file_id, &f, BPF_ANY))
		return -errno;
	return 0;
}

void xdp_ctl_tftp_unload(struct xdp_ctl *x, uint32_t file_id,
			 uint32_t pages)
{
	struct xb_block_key k = { .file_id = file_id };

	bpf_map_delete_elem(bpf_map__fd(x->maps.xb_files), &file_id);
	for (k.page = 0; k.page < pages; k.page++)
		bpf_map_delete_elem(bpf_map__fd(x->maps.xb_blocks), &k);
}

int xdp_ctl_tftp_sess_add(struct xdp_ctl *x, const struct xb_tftp_key *k,
			  const struct xb_tftp_sess *v)
{
	if (bpf_map_update_elem(bpf_map__fd(x->maps.xb_tftp_sess), k, v,
				BPF_ANY))
		return -errno;
	return 0;
}

int xdp_ctl_tftp_sess_get(struct xdp_ctl *x, const struct xb_tftp_key *k,
			  struct xb_tftp_sess *v)
{
	if (bpf_map_lookup_elem(bpf_map__fd(x->maps.xb_tftp_sess), k, v))
		return -errno;
	return 0;
}

int xdp_ctl_tftp_sess_del(struct xdp_ctl *x, const struct xb_tftp_key *k)
{
	if (bpf_map_delete_elem(bpf_map__fd(x->maps.xb_tftp_sess), k))
		return -errno;
	return 0;
}

void xdp_ctl_set_tftp_hook(struct xdp_ctl *x, xdp_ctl_tftp_done_fn fn,
			   void *arg)
{
	x->tftp_done = fn;
	x->tftp_arg = arg;
}

uint64_t xdp_ctl_serial(const struct xdp_ctl *x)
{
	return x ? x->serial : 0;
}

const char *xdp_ctl_block_source(const struct xdp_ctl *x)
{
	return x && x->build ? x->build->source : "map";
}
