/* SPDX-License-Identifier: MIT */
/*
 * A guest's vif on the host platform: one RTM_NEWLINK creating a veth pair
 * directly in its two namespaces, "vif<k>.<n>" in netdom's (by fd) and
 * "eth<n>" in the guest's (by pid), so no interface ever appears in the
 * namespace this runs in. Plain rtnetlink: dom0 links no netlink library.
 */
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>

#include "dom0.h"

struct nlreq {
	char buf[1024];
	size_t len;
	bool overflow;
};

static struct rtattr *attr(struct nlreq *q, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)(q->buf + q->len);
	size_t total = RTA_ALIGN(RTA_LENGTH(len));

	if (total > sizeof(q->buf) - q->len) {
		q->overflow = true;
		return (struct rtattr *)q->buf; /* harmless target; the request is not sent */
	}
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	q->len += total;
	return a;
}

static void nest_end(struct nlreq *q, struct rtattr *a)
{
	if (!q->overflow)
		a->rta_len = (unsigned short)(q->buf + q->len - (char *)a);
}

static void build(struct nlreq *q, const char *host_if, int netdom_ns_fd, const char *guest_if,
		  pid_t guest_pid, const uint8_t *mac)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)q->buf;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct rtattr *info, *data, *peer;
	uint32_t fd = (uint32_t)netdom_ns_fd, pid = (uint32_t)guest_pid;

	q->len = NLMSG_ALIGN(NLMSG_LENGTH(sizeof(ifi)));
	memcpy(NLMSG_DATA(nh), &ifi, sizeof(ifi));
	attr(q, IFLA_IFNAME, host_if, strlen(host_if) + 1);
	attr(q, IFLA_NET_NS_FD, &fd, sizeof(fd));
	info = attr(q, IFLA_LINKINFO, NULL, 0);
	attr(q, IFLA_INFO_KIND, "veth", 4);
	data = attr(q, IFLA_INFO_DATA, NULL, 0);
	peer = attr(q, VETH_INFO_PEER, &ifi, sizeof(ifi));
	attr(q, IFLA_IFNAME, guest_if, strlen(guest_if) + 1);
	attr(q, IFLA_NET_NS_PID, &pid, sizeof(pid));
	if (mac)
		attr(q, IFLA_ADDRESS, mac, 6);
	nest_end(q, peer);
	nest_end(q, data);
	nest_end(q, info);
	nh->nlmsg_len = (uint32_t)q->len;
	nh->nlmsg_type = RTM_NEWLINK;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	nh->nlmsg_seq = 1;
}

/* The kernel's answer to our one request: 0 or its -errno. */
int bh_nl_read_ack(int fd)
{
	char untrusted_buf[4096];
	ssize_t n = recv(fd, untrusted_buf, sizeof(untrusted_buf), 0);
	const struct nlmsghdr *nh = (const struct nlmsghdr *)untrusted_buf;
	const struct nlmsgerr *e;

	if (n < 0)
		return -errno;
	if (!NLMSG_OK(nh, (size_t)n) || nh->nlmsg_type != NLMSG_ERROR ||
	    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return -EPROTO;
	e = NLMSG_DATA(nh);
	return e->error > 0 ? -EPROTO : e->error;
}

int bh_host_veth_create(const char *host_if, int netdom_ns_fd, const char *guest_if,
			pid_t guest_pid, const uint8_t *mac)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	_cleanup_close_ int fd = -1;
	struct nlreq q = { .len = 0 };

	if (strlen(host_if) >= IFNAMSIZ || strlen(guest_if) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	build(&q, host_if, netdom_ns_fd, guest_if, guest_pid, mac);
	if (q.overflow)
		return -ENOBUFS;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (sendto(fd, q.buf, q.len, 0, (struct sockaddr *)&sa, sizeof(sa)) != (ssize_t)q.len)
		return -errno;
	return bh_nl_read_ack(fd);
}
