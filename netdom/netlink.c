/* SPDX-License-Identifier: MIT */
/*
 * Small netfilter netlink requests that need no library: flushing conntrack
 * and binding an NFLOG group. Plain sockets over the kernel's uapi headers,
 * so the nftables adapter (nft.c) stays the only libnftnl/libmnl user.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include "netdom.h"

#define NL_ALIGN(n) (((n) + 3u) & ~3u)

struct nl_req {
	struct nlmsghdr nlh;
	struct nfgenmsg nfg;
	uint8_t attrs[64];
};

static void req_init(struct nl_req *q, uint16_t type, uint8_t family, uint16_t res_id)
{
	memset(q, 0, sizeof(*q));
	q->nlh.nlmsg_len = NLMSG_LENGTH(sizeof(q->nfg));
	q->nlh.nlmsg_type = type;
	q->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	q->nlh.nlmsg_seq = (uint32_t)time(NULL);
	q->nfg.nfgen_family = family;
	q->nfg.version = NFNETLINK_V0;
	q->nfg.res_id = htons(res_id);
}

static void req_attr(struct nl_req *q, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)((uint8_t *)q + NL_ALIGN(q->nlh.nlmsg_len));

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	q->nlh.nlmsg_len = NL_ALIGN(q->nlh.nlmsg_len) + NL_ALIGN(a->nla_len);
}

/* Send @q on @fd and read its ACK: 0 or the kernel's -errno. */
static int req_talk(int fd, const struct nl_req *q)
{
	union {
		struct nlmsghdr h;
		uint8_t b[512];
	} u;
	const struct nlmsgerr *untrusted_err = NLMSG_DATA(&u.h);
	ssize_t n;

	if (send(fd, q, q->nlh.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		n = recv(fd, &u, sizeof(u), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if ((size_t)n < NLMSG_LENGTH(sizeof(*untrusted_err)) || u.h.nlmsg_type != NLMSG_ERROR)
			continue; /* not the ACK (an NFLOG socket may already have packets) */
		if (u.h.nlmsg_seq == q->nlh.nlmsg_seq)
			return untrusted_err->error <= 0 && untrusted_err->error > -4096 ?
				       untrusted_err->error : -EIO;
	}
}

static int nl_open(int flags)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | flags, NETLINK_NETFILTER);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

int nd_conntrack_flush(void)
{
	struct nl_req q;
	int fd = nl_open(0), r;

	if (fd < 0)
		return fd;
	/* No tuple: every entry, both families. */
	req_init(&q, NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE, AF_UNSPEC, 0);
	r = req_talk(fd, &q);
	close(fd);
	return r;
}

int nd_nflog_open(uint16_t group, int *ret_fd)
{
	struct nfulnl_msg_config_cmd cmd = { NFULNL_CFG_CMD_BIND };
	struct nfulnl_msg_config_mode mode = { htonl(ND_NFLOG_COPY), NFULNL_COPY_PACKET, 0 };
	uint32_t qthresh = htonl(1); /* one packet per message: drops are rare and rate-limited */
	struct nl_req q;
	int fd = nl_open(SOCK_NONBLOCK), r;

	if (fd < 0)
		return fd;
	req_init(&q, NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG, AF_UNSPEC, group);
	req_attr(&q, NFULA_CFG_CMD, &cmd, sizeof(cmd));
	req_attr(&q, NFULA_CFG_MODE, &mode, sizeof(mode));
	req_attr(&q, NFULA_CFG_QTHRESH, &qthresh, sizeof(qthresh));
	/* The ACK is read blocking: it is queued before send() returns. */
	r = req_talk(fd, &q);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}
