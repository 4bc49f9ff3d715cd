// SPDX-License-Identifier: GPL-2.0
/*
 * Interface facts over NETLINK_ROUTE with libmnl: RTM_GETLINK by name for
 * the index, flags and MAC, then an RTM_GETADDR dump for the first IPv4
 * address on that index. One short-lived socket per lookup: this runs at
 * start and on reload, never on the packet path.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <net/if.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "log.h"
#include "rtnl.h"

struct rtnl_query {
	struct rtnl_iface *iface;
	int found;
};

/* Send req and run cb over every reply message until the kernel is done. */
static int rtnl_talk(struct nlmsghdr *req, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	unsigned int portid, seq;
	ssize_t len;
	int ret;

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	seq = req->nlmsg_seq = time(NULL);
	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	do {
		len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len < 0) {
			ret = -errno;
			goto out;
		}
		ret = mnl_cb_run(buf, len, seq, portid, cb, data);
	} while (ret > MNL_CB_STOP);
	ret = ret < 0 ? -errno : 0;
out:
	mnl_socket_close(nl);
	return ret;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct rtnl_iface *iface = data;

	if (mnl_attr_get_type(attr) == IFLA_ADDRESS &&
	    mnl_attr_get_payload_len(attr) == 6)
		memcpy(iface->mac, mnl_attr_get_payload(attr), 6);
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rtnl_query *q = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	q->iface->ifindex = ifi->ifi_index;
	q->iface->up = !!(ifi->ifi_flags & IFF_UP);
	q->found = 1;
	return mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, q->iface);
}

static int rtnl_get_link(struct rtnl_iface *iface)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct rtnl_query q = { .iface = iface };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	int ret;

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK; /* the ACK ends the reply */
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, iface->name);
	ret = rtnl_talk(nlh, link_cb, &q);
	if (ret == -ENODEV || (!ret && !q.found))
		return -ENODEV;
	return ret;
}

struct addr_attrs {
	const struct nlattr *local, *address;
};

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	struct addr_attrs *a = data;

	if (mnl_attr_get_payload_len(attr) != 4)
		return MNL_CB_OK;
	if (mnl_attr_get_type(attr) == IFA_LOCAL)
		a->local = attr;
	else if (mnl_attr_get_type(attr) == IFA_ADDRESS)
		a->address = attr;
	return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rtnl_query *q = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_attrs a = { NULL, NULL };
	const struct nlattr *use;

	if (nlh->nlmsg_type != RTM_NEWADDR || q->found ||
	    ifa->ifa_family != AF_INET ||
	    (int)ifa->ifa_index != q->iface->ifindex)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, &a);
	/* IFA_LOCAL is our address; IFA_ADDRESS is the peer on p2p links. */
	use = a.local ? a.local : a.address;
	if (!use)
		return MNL_CB_OK;
	memcpy(&q->iface->addr, mnl_attr_get_payload(use), 4);
	q->iface->prefix = ifa->ifa_prefixlen;
	q->iface->mask.s_addr = ifa->ifa_prefixlen ?
		htonl(~0u << (32 - ifa->ifa_prefixlen)) : 0;
	q->found = 1;
	return MNL_CB_OK;
}

static int rtnl_get_addr(struct rtnl_iface *iface)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct rtnl_query q = { .iface = iface };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	int ret;

	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_index = iface->ifindex;
	ret = rtnl_talk(nlh, addr_cb, &q);
	if (!ret && !q.found)
		return -EADDRNOTAVAIL;
	return ret;
}

int rtnl_iface_get(const char *name, struct rtnl_iface *out)
{
	char a[INET_ADDRSTRLEN];
	int ret;

	memset(out, 0, sizeof(*out));
	if (strlen(name) >= sizeof(out->name)) {
		pr_err("interface %s: name too long", name);
		return -ENODEV;
	}
	strcpy(out->name, name);
	ret = rtnl_get_link(out);
	if (ret == -ENODEV) {
		pr_err("interface %s does not exist", name);
		return ret;
	}
	if (!ret)
		ret = rtnl_get_addr(out);
	if (ret == -EADDRNOTAVAIL) {
		pr_err("interface %s has no IPv4 address: xbootd needs one to answer from",
		       name);
		return ret;
	}
	if (ret) {
		pr_err("interface %s: rtnetlink: %s", name, strerror(-ret));
		return ret;
	}
	if (!out->up)
		pr_warn("interface %s is down", name);
	pr_debug("interface %s: ifindex %d, %s/%d", name, out->ifindex,
		 inet_ntop(AF_INET, &out->addr, a, sizeof(a)), out->prefix);
	return 0;
}
