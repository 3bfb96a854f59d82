/* SPDX-License-Identifier: MIT */
/*
 * Small netfilter netlink requests that need no library: pruning conntrack
 * after a policy change and binding an NFLOG group. Plain sockets over the kernel's uapi headers,
 * so the nftables adapter (nft.c) stays the only libnftnl/libmnl user.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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

/* ---- conntrack: dump, decide, delete ---- */

struct local_addrs {
	struct nd_flow v[64]; /* fam + src used */
	size_t n;
};

/* The netdom's own addresses: flows to or from them are the input chain's, not the policy's. */
static void local_addrs(struct local_addrs *l)
{
	struct ifaddrs *ifa, *i;

	l->n = 0;
	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i && l->n < BH_ARRAY_SIZE(l->v); i = i->ifa_next) {
		struct nd_flow *f = &l->v[l->n];

		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
				     i->ifa_addr->sa_family != AF_INET6))
			continue;
		memset(f, 0, sizeof(*f));
		f->fam = i->ifa_addr->sa_family == AF_INET ? 4 : 6;
		if (f->fam == 4)
			memcpy(f->src, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		else
			memcpy(f->src, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
		l->n++;
	}
	freeifaddrs(ifa);
}

static bool is_local(const struct local_addrs *l, const struct nd_flow *f)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].fam == f->fam && (!memcmp(l->v[i].src, f->src, 16) ||
					      !memcmp(l->v[i].src, f->dst, 16)))
			return true;
	return false;
}

struct doomed {
	uint8_t *buf; /* [u8 family][u16 len][tuple attribute]... */
	size_t len, cap;
};

static int doom(struct doomed *d, uint8_t fam, const uint8_t *tuple, size_t len)
{
	if (len > UINT16_MAX)
		return -EBADMSG;
	if (d->cap - d->len < len + 3) {
		size_t ncap = (d->cap + len + 3) * 2;
		uint8_t *nb = realloc(d->buf, ncap);

		if (!nb)
			return -ENOMEM;
		d->buf = nb;
		d->cap = ncap;
	}
	d->buf[d->len] = fam;
	memcpy(d->buf + d->len + 1, &(uint16_t){ (uint16_t)len }, 2);
	memcpy(d->buf + d->len + 3, tuple, len);
	d->len += len + 3;
	return 0;
}

struct prune {
	nd_ct_keep_fn keep;
	void *arg;
	struct local_addrs local;
	struct doomed doomed;
};

/* One datagram of the dump: 1 when NLMSG_DONE was seen, 0 for more, -errno. */
static int dump_part(struct prune *pr, const uint8_t *buf, size_t len)
{
	const size_t head = NLMSG_HDRLEN + NL_ALIGN(sizeof(struct nfgenmsg));

	for (size_t off = 0; len - off >= NLMSG_HDRLEN;) {
		struct nlmsghdr h;
		const uint8_t *tuple;
		size_t tlen;
		struct nd_flow f;
		int r = 0;

		memcpy(&h, buf + off, sizeof(h));
		if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len - off)
			return -EBADMSG;
		if (h.nlmsg_type == NLMSG_DONE)
			return 1;
		if (h.nlmsg_type == NLMSG_ERROR)
			return -EIO;
		if (h.nlmsg_len >= head &&
		    nd_ct_parse(buf + off + head, h.nlmsg_len - head, &f, &tuple, &tlen) == 0 &&
		    !is_local(&pr->local, &f) && !pr->keep(&f, pr->arg))
			r = doom(&pr->doomed, f.fam == 4 ? AF_INET : AF_INET6, tuple, tlen);
		if (r < 0)
			return r;
		off += NL_ALIGN(h.nlmsg_len) < len - off ? NL_ALIGN(h.nlmsg_len) : len - off;
	}
	return 0;
}

static int dump(int fd, struct prune *pr)
{
	static uint8_t buf[64 * 1024];
	struct nl_req q;
	int r = 0;

	req_init(&q, NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET, AF_UNSPEC, 0);
	q.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	if (send(fd, &q, q.nlh.nlmsg_len, 0) < 0)
		return -errno;
	while (r == 0) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		r = dump_part(pr, buf, (size_t)n);
	}
	return r < 0 ? r : 0;
}

/* Delete each doomed entry by its original tuple; one already gone is fine. */
static int delete_doomed(int fd, const struct doomed *d)
{
	union {
		struct nl_req q;
		uint8_t b[sizeof(struct nl_req) + 1024];
	} u;
	int n = 0;

	for (size_t off = 0; off < d->len;) {
		uint16_t tlen;
		int r;

		memcpy(&tlen, d->buf + off + 1, 2);
		req_init(&u.q, NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE, d->buf[off], 0);
		if (tlen <= 1024) {
			memcpy((uint8_t *)&u + NL_ALIGN(u.q.nlh.nlmsg_len), d->buf + off + 3, tlen);
			u.q.nlh.nlmsg_len = NL_ALIGN(u.q.nlh.nlmsg_len) + NL_ALIGN(tlen);
			r = req_talk(fd, &u.q);
			if (r < 0 && r != -ENOENT)
				return r;
			n += r == 0;
		}
		off += 3u + tlen;
	}
	return n;
}

int nd_conntrack_prune(nd_ct_keep_fn keep, void *arg)
{
	struct prune pr = { keep, arg };
	int fd = nl_open(0), r;

	if (fd < 0)
		return fd;
	local_addrs(&pr.local);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ 4 << 20 }, sizeof(int));
	r = dump(fd, &pr);
	if (r == 0)
		r = delete_doomed(fd, &pr.doomed);
	free(pr.doomed.buf);
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
