/* SPDX-License-Identifier: MIT */
/*
 * Drop reports: NFLOG messages from the kernel (the rate-limited `log` in
 * table.c's drop paths) parsed into drops, coalesced by (guest, source,
 * destination, protocol, port) and handed out at most once per period, at
 * most ND_DROPS_MAX distinct events each time. Plain C over the uapi
 * headers: the socket is opened by netlink.c, and this parser is fuzzed.
 */
#include <errno.h>
#include <string.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include "netdom.h"

#define NL_ALIGN(n) (((n) + 3u) & ~3u)

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static bool has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 136; /* tcp udp sctp udplite */
}

/* The logged packet, from its network header: addresses, protocol, destination port. */
int nd_nflog_packet(const uint8_t *untrusted, size_t len, struct nd_drop *d)
{
	size_t l4;

	if (len >= 20 && untrusted[0] >> 4 == 4) {
		l4 = (size_t)(untrusted[0] & 15) * 4;
		d->src = (struct bh_msg_net){ 4, 32 };
		d->dst = (struct bh_msg_net){ 4, 32 };
		memcpy(d->src.addr, untrusted + 12, 4);
		memcpy(d->dst.addr, untrusted + 16, 4);
		d->l4proto = untrusted[9];
		if (l4 < 20 || (be16(untrusted + 6) & 0x1fff)) /* bad header, or not the first fragment */
			l4 = SIZE_MAX;
	} else if (len >= 40 && untrusted[0] >> 4 == 6) {
		d->src = (struct bh_msg_net){ 6, 128 };
		d->dst = (struct bh_msg_net){ 6, 128 };
		memcpy(d->src.addr, untrusted + 8, 16);
		memcpy(d->dst.addr, untrusted + 24, 16);
		d->l4proto = untrusted[6]; /* extension headers are not walked */
		l4 = 40;
	} else {
		return -EBADMSG;
	}
	d->dport = 0;
	if (has_ports(d->l4proto) && l4 != SIZE_MAX && len >= 4 && l4 <= len - 4)
		d->dport = be16(untrusted + l4 + 2);
	return 0;
}

/* The attributes of one NFULNL_MSG_PACKET: a drop, or 0 for a log line that is not one. */
static int packet_attrs(const uint8_t *untrusted, size_t len, struct nd_drop *d)
{
	bool drop = false, payload = false;

	memset(d, 0, sizeof(*d));
	for (size_t off = 0; len - off >= NLA_HDRLEN;) {
		struct nlattr a; /* copied: the buffer need not be aligned */
		size_t alen, dlen;
		const uint8_t *data = untrusted + off + NLA_HDRLEN;

		memcpy(&a, untrusted + off, sizeof(a));
		alen = a.nla_len;
		if (alen < NLA_HDRLEN || alen > len - off)
			return -EBADMSG;
		dlen = alen - NLA_HDRLEN;
		switch (a.nla_type & NLA_TYPE_MASK) {
		case NFULA_PREFIX: /* ours: "bh-drop ", "bh-reject ", "bh-spoof ", "bh-accept " */
			drop = dlen >= 3 && !memcmp(data, "bh-", 3) &&
			       !(dlen >= 9 && !memcmp(data, "bh-accept", 9));
			d->spoof = dlen >= 8 && !memcmp(data, "bh-spoof", 8);
			break;
		case NFULA_IFINDEX_INDEV:
			if (dlen == 4)
				d->indev = be32(data);
			break;
		case NFULA_PAYLOAD:
			payload = nd_nflog_packet(data, dlen, d) == 0;
			break;
		default:
			break;
		}
		off += NL_ALIGN(alen) < len - off ? NL_ALIGN(alen) : len - off;
	}
	return drop && payload ? 1 : 0;
}

int nd_nflog_parse(const uint8_t *untrusted, size_t len, nd_drop_cb cb, void *arg)
{
	const size_t head = NLMSG_HDRLEN + NL_ALIGN(sizeof(struct nfgenmsg));
	int n = 0;

	for (size_t off = 0; len - off >= NLMSG_HDRLEN;) {
		struct nlmsghdr h;
		struct nd_drop d;
		int r = 0;

		memcpy(&h, untrusted + off, sizeof(h));
		if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len - off)
			return -EBADMSG;
		if (h.nlmsg_type == (NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET) && h.nlmsg_len >= head)
			r = packet_attrs(untrusted + off + head, h.nlmsg_len - head, &d);
		if (r < 0)
			return r;
		if (r > 0) {
			cb(&d, arg);
			n++;
		}
		off += NL_ALIGN(h.nlmsg_len) < len - off ? NL_ALIGN(h.nlmsg_len) : len - off;
	}
	return n;
}

/* ---- coalescing ---- */

void nd_drops_add(struct nd_drops *t, const char *guest, const struct nd_drop *d)
{
	struct bh_msg_drop_event k = { .src = d->src, .dst = d->dst, .l4proto = d->l4proto,
				       .dport = d->dport };

	snprintf(k.guest, sizeof(k.guest), "%s", guest ? guest : "");
	for (size_t i = 0; i < t->n; i++) {
		struct bh_msg_drop_event *e = &t->v[i];

		if (!strcmp(e->guest, k.guest) && !memcmp(&e->src, &k.src, sizeof(k.src)) &&
		    !memcmp(&e->dst, &k.dst, sizeof(k.dst)) && e->l4proto == k.l4proto &&
		    e->dport == k.dport) {
			if (e->count < UINT32_MAX)
				e->count++;
			return;
		}
	}
	if (t->n == ND_DROPS_MAX) {
		t->lost++;
		return;
	}
	k.count = 1;
	t->v[t->n++] = k;
}

bool nd_drops_due(const struct nd_drops *t, uint64_t now_ms)
{
	return (t->n || t->lost) && now_ms - t->last_ms >= ND_DROPS_PERIOD_MS;
}

int nd_drops_wait_ms(const struct nd_drops *t, uint64_t now_ms)
{
	if (!t->n && !t->lost)
		return -1;
	return now_ms - t->last_ms >= ND_DROPS_PERIOD_MS ? 0
							 : (int)(ND_DROPS_PERIOD_MS - (now_ms - t->last_ms));
}

void nd_drops_reset(struct nd_drops *t, uint64_t now_ms)
{
	t->n = 0;
	t->lost = 0;
	t->last_ms = now_ms;
}
