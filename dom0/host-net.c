/* SPDX-License-Identifier: MIT */
/*
 * Addresses and routes of the host platform's vifs, over plain rtnetlink
 * (dom0 links no netlink library). The layout is routed, as Xen's vif-route
 * script does it: netdom's end of each vif holds the gateway as a host
 * address and a host route to its one guest, so any number of guests share
 * a network and each stays on its own link (anti-spoofing per vif in
 * netdom's nftables); the guest gets its address on the gateway's network
 * and a default route through the gateway.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>

#include "dom0.h"

struct nlmsg {
	char buf[512];
	size_t len;
};

static void nl_attr(struct nlmsg *q, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)(q->buf + q->len);

	/* Our attributes are fixed and small: they always fit. */
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	q->len += RTA_ALIGN(RTA_LENGTH(len));
}

static void *nl_start(struct nlmsg *q, uint16_t type, uint16_t flags, const void *hdr,
		      size_t hlen)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)q->buf;

	memset(q->buf, 0, sizeof(q->buf));
	nh->nlmsg_type = type;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nh->nlmsg_seq = 1;
	memcpy(NLMSG_DATA(nh), hdr, hlen);
	q->len = NLMSG_ALIGN(NLMSG_LENGTH(hlen));
	return NLMSG_DATA(nh);
}

/* Send @q on @fd and read its ACK: 0 or the kernel's -errno. */
static int nl_talk(int fd, struct nlmsg *q)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	((struct nlmsghdr *)q->buf)->nlmsg_len = (uint32_t)q->len;
	if (sendto(fd, q->buf, q->len, 0, (struct sockaddr *)&sa, sizeof(sa)) != (ssize_t)q->len)
		return -errno;
	return bh_nl_read_ack(fd);
}

static size_t addr_len(const struct bh_prefix *p)
{
	return p->family == AF_INET ? 4 : 16;
}

static int link_up(int fd, unsigned ifindex)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = (int)ifindex,
				 .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	struct nlmsg q;

	nl_start(&q, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	return nl_talk(fd, &q);
}

static int addr_add(int fd, unsigned ifindex, const struct bh_prefix *p)
{
	struct ifaddrmsg ifa = { .ifa_family = (uint8_t)p->family,
				 .ifa_prefixlen = (uint8_t)p->len, .ifa_index = ifindex };
	uint32_t flags = IFA_F_NODAD;
	struct nlmsg q;
	int r;

	nl_start(&q, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &ifa, sizeof(ifa));
	nl_attr(&q, IFA_LOCAL, p->addr, addr_len(p));
	nl_attr(&q, IFA_ADDRESS, p->addr, addr_len(p));
	nl_attr(&q, IFA_FLAGS, &flags, sizeof(flags));
	r = nl_talk(fd, &q);
	return r == -EEXIST ? 0 : r;
}

/* A route to @dst (a prefix) on @ifindex, through @gw when not NULL. */
static int route_add(int fd, unsigned ifindex, const struct bh_prefix *dst,
		     const struct bh_prefix *gw)
{
	struct rtmsg rt = { .rtm_family = (uint8_t)dst->family, .rtm_dst_len = (uint8_t)dst->len,
			    .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
			    .rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
			    .rtm_type = RTN_UNICAST };
	uint32_t oif = ifindex;
	struct nlmsg q;
	int r;

	nl_start(&q, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt, sizeof(rt));
	if (dst->len)
		nl_attr(&q, RTA_DST, dst->addr, addr_len(dst));
	if (gw)
		nl_attr(&q, RTA_GATEWAY, gw->addr, addr_len(gw));
	nl_attr(&q, RTA_OIF, &oif, sizeof(oif));
	r = nl_talk(fd, &q);
	return r == -EEXIST ? 0 : r;
}

static int nl_socket(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	return fd < 0 ? -errno : fd;
}

int bh_net_iface_config(const char *ifname, const struct bh_prefix *addr,
			const struct bh_prefix *gw)
{
	struct bh_prefix any = { .family = addr->family };
	_cleanup_close_ int fd = nl_socket();
	unsigned idx = if_nametoindex(ifname);
	int r;

	if (fd < 0)
		return fd;
	if (!idx)
		return -ENODEV;
	r = link_up(fd, idx);
	if (r == 0)
		r = addr_add(fd, idx, addr);
	if (r == 0 && gw)
		r = route_add(fd, idx, &any, gw);
	return r;
}

/* A netlink socket and the index of @ifname, both in the namespace @ns_fd. */
static int open_in_ns(int ns_fd, const char *ifname, unsigned *ret_idx)
{
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int fd, r = 0;

	if (self < 0)
		return -errno;
	/* setns(CLONE_NEWNET) moves only this thread; it moves back below. */
	if (setns(ns_fd, CLONE_NEWNET) < 0)
		return -errno;
	fd = nl_socket();
	*ret_idx = if_nametoindex(ifname);
	if (fd >= 0 && !*ret_idx)
		r = -ENODEV;
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* stuck in netdom's namespace: nothing after this would be right */
	if (r < 0 && fd >= 0)
		close(fd);
	return r < 0 ? r : fd;
}

int bh_net_vif_config(int ns_fd, const char *ifname, const struct bh_prefix *gw,
		      const struct bh_prefix *guest)
{
	unsigned idx = 0;
	_cleanup_close_ int fd = open_in_ns(ns_fd, ifname, &idx);
	int r;

	if (fd < 0)
		return fd;
	r = link_up(fd, idx);
	if (r == 0)
		r = addr_add(fd, idx, gw);
	if (r == 0)
		r = route_add(fd, idx, guest, NULL);
	return r;
}

int bh_net_link_del(int ns_fd, const char *ifname)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	unsigned idx = 0;
	_cleanup_close_ int fd = open_in_ns(ns_fd, ifname, &idx);
	struct nlmsg q;
	int r;

	if (fd < 0)
		return fd == -ENODEV ? 0 : fd;
	ifi.ifi_index = (int)idx;
	nl_start(&q, RTM_DELLINK, 0, &ifi, sizeof(ifi));
	r = nl_talk(fd, &q);
	return r == -ENODEV ? 0 : r;
}

const struct bh_prefix *bh_net_gateway_for(const struct bh_topology *t,
					   const struct bh_prefix *ip)
{
	const struct bh_domain *nd = bh_topology_service(t, BH_DOM_NETDOM);

	for (size_t i = 0; nd && i < nd->n_gateways; i++) {
		struct bh_prefix net = nd->gateways[i];

		if (net.family == ip->family && bh_prefix_contains(&net, ip))
			return &nd->gateways[i];
	}
	return NULL;
}
