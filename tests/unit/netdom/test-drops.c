/* SPDX-License-Identifier: MIT */
/*
 * NFLOG parsing and drop coalescing (drops.c), on messages laid out as the
 * kernel's nfnetlink_log sends them.
 */
#include <errno.h>
#include <string.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include "../bh-test.h"
#include "nd-test.h"

static uint8_t msg[4096];
static size_t msg_len;

static void put_attr(uint16_t type, const void *data, uint16_t len)
{
	struct nlattr a = { (uint16_t)(NLA_HDRLEN + len), type };

	memcpy(msg + msg_len, &a, sizeof(a));
	memcpy(msg + msg_len + NLA_HDRLEN, data, len);
	msg_len += (NLA_HDRLEN + len + 3u) & ~3u;
}

/* One NFULNL_MSG_PACKET appended to msg[]: prefix, input ifindex, packet. */
static void put_packet(const char *prefix, uint32_t ifindex, const uint8_t *pkt, uint16_t len)
{
	size_t start = msg_len;
	struct nlmsghdr h = { 0, NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET };
	struct nfgenmsg g = { 2 /* NFPROTO_IPV4 */, NFNETLINK_V0, 0 };
	uint32_t idx = htonl(ifindex);

	msg_len += NLMSG_HDRLEN;
	memcpy(msg + msg_len, &g, sizeof(g));
	msg_len += 4;
	put_attr(NFULA_PREFIX, prefix, (uint16_t)(strlen(prefix) + 1));
	put_attr(NFULA_IFINDEX_INDEV, &idx, 4);
	put_attr(NFULA_PAYLOAD, pkt, len);
	h.nlmsg_len = (uint32_t)(msg_len - start);
	memcpy(msg + start, &h, sizeof(h));
}

static const uint8_t tcp4[24] = { 0x45, 0, 0, 24, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 81, 1, 2,
				  10, 81, 2, 2, 0xc0, 0x01, 0, 22 };

static struct nd_drop got[8];
static int n_got;

static void collect(const struct nd_drop *d, void *arg)
{
	(void)arg;
	if (n_got < 8)
		got[n_got++] = *d;
}

static void test_parse_ipv4_ipv6(void)
{
	uint8_t udp6[48] = { 0x60, 0, 0, 0, 0, 8, 17, 64, 0xfd, [23] = 2, 0xfd, [39] = 3,
			     [40] = 0x30, 0x39, 0x01, 0xbb };
	uint8_t frag[24];

	memcpy(frag, tcp4, sizeof(frag));
	frag[7] = 1; /* fragment offset 8: no transport header here */
	msg_len = 0;
	n_got = 0;
	put_packet("bh-drop ", 7, tcp4, sizeof(tcp4));
	put_packet("bh-accept ", 7, tcp4, sizeof(tcp4)); /* logged, but not a drop */
	put_packet("bh-spoof ", 8, udp6, sizeof(udp6));
	put_packet("bh-reject ", 9, frag, sizeof(frag));
	put_packet("someone else", 9, tcp4, sizeof(tcp4));
	CU_ASSERT_EQUAL(nd_nflog_parse(msg, msg_len, collect, NULL), 3);
	CU_ASSERT_EQUAL_FATAL(n_got, 3);
	CU_ASSERT_EQUAL(got[0].indev, 7);
	CU_ASSERT_EQUAL(got[0].src.family, 4);
	CU_ASSERT_EQUAL(memcmp(got[0].dst.addr, (uint8_t[]){ 10, 81, 2, 2 }, 4), 0);
	CU_ASSERT_EQUAL(got[0].l4proto, 6);
	CU_ASSERT_EQUAL(got[0].dport, 22);
	CU_ASSERT(!got[0].spoof);
	CU_ASSERT(got[1].spoof);
	CU_ASSERT_EQUAL(got[1].src.family, 6);
	CU_ASSERT_EQUAL(got[1].dst.addr[15], 3);
	CU_ASSERT_EQUAL(got[1].l4proto, 17);
	CU_ASSERT_EQUAL(got[1].dport, 443);
	CU_ASSERT_EQUAL(got[2].dport, 0); /* a later fragment has no port */
}

static void test_parse_rejects_torn(void)
{
	msg_len = 0;
	put_packet("bh-drop ", 7, tcp4, sizeof(tcp4));
	CU_ASSERT_EQUAL(nd_nflog_parse(msg, msg_len - 1, collect, NULL), -EBADMSG);
	msg[NLMSG_HDRLEN + 4] = 0xff; /* first attribute longer than the message */
	msg[NLMSG_HDRLEN + 5] = 0x0f;
	CU_ASSERT_EQUAL(nd_nflog_parse(msg, msg_len, collect, NULL), -EBADMSG);
	CU_ASSERT_EQUAL(nd_nflog_packet(tcp4, 19, &got[0]), -EBADMSG);
	CU_ASSERT_EQUAL(nd_nflog_packet((const uint8_t *)"\x50", 1, &got[0]), -EBADMSG);
	/* A header that claims more options than the packet has: no port read past the end. */
	uint8_t ihl15[24];

	memcpy(ihl15, tcp4, sizeof(ihl15));
	ihl15[0] = 0x4f;
	CU_ASSERT_EQUAL(nd_nflog_packet(ihl15, sizeof(ihl15), &got[0]), 0);
	CU_ASSERT_EQUAL(got[0].dport, 0);
}

static void test_coalesce_and_period(void)
{
	static struct nd_drops t;
	struct nd_drop d = { 0 };

	nd_drops_reset(&t, 1000);
	CU_ASSERT_EQUAL(nd_drops_wait_ms(&t, 1000), -1);
	CU_ASSERT(nd_nflog_packet(tcp4, sizeof(tcp4), &d) == 0);
	nd_drops_add(&t, "g1", &d);
	nd_drops_add(&t, "g1", &d);
	nd_drops_add(&t, NULL, &d); /* not a guest's: a different event */
	CU_ASSERT_EQUAL_FATAL(t.n, 2);
	CU_ASSERT_STRING_EQUAL(t.v[0].guest, "g1");
	CU_ASSERT_EQUAL(t.v[0].count, 2);
	CU_ASSERT_EQUAL(t.v[1].count, 1);
	CU_ASSERT(!nd_drops_due(&t, 1500));
	CU_ASSERT_EQUAL(nd_drops_wait_ms(&t, 1500), 500);
	CU_ASSERT(nd_drops_due(&t, 2000));
	for (uint16_t p = 0; p < ND_DROPS_MAX + 5; p++) {
		d.dport = p;
		nd_drops_add(&t, "g2", &d);
	}
	CU_ASSERT_EQUAL(t.n, ND_DROPS_MAX);
	CU_ASSERT(t.lost >= 5);
	nd_drops_reset(&t, 2000);
	CU_ASSERT_EQUAL(t.n, 0);
	CU_ASSERT(!nd_drops_due(&t, 5000));
}

/* A ctnetlink entry as a dump returns it: CTA_TUPLE_ORIG { IP { src, dst }, PROTO { num, ports } }. */
static void test_ct_parse(void)
{
	uint8_t ip[2 * 8], proto[8 + 8 + 8], tuple[4 + sizeof(ip) + 4 + sizeof(proto)], entry[256];
	size_t n = 0, t = 0, e = 0;
	const uint8_t *raw;
	struct nd_flow f;
	size_t raw_len;

	msg_len = 0;
	put_attr(CTA_IP_V4_SRC, (uint8_t[]){ 10, 81, 1, 2 }, 4);
	put_attr(CTA_IP_V4_DST, (uint8_t[]){ 10, 81, 2, 2 }, 4);
	memcpy(ip, msg, n = msg_len);
	msg_len = 0;
	put_attr(CTA_PROTO_NUM, (uint8_t[]){ 6 }, 1);
	put_attr(CTA_PROTO_SRC_PORT, (uint8_t[]){ 0xc0, 0x01 }, 2);
	put_attr(CTA_PROTO_DST_PORT, (uint8_t[]){ 0x15, 0x38 }, 2);
	memcpy(proto, msg, t = msg_len);
	msg_len = 0;
	put_attr(CTA_TUPLE_IP | NLA_F_NESTED, ip, (uint16_t)n);
	put_attr(CTA_TUPLE_PROTO | NLA_F_NESTED, proto, (uint16_t)t);
	memcpy(tuple, msg, t = msg_len);
	msg_len = 0;
	put_attr(CTA_TUPLE_ORIG | NLA_F_NESTED, tuple, (uint16_t)t);
	put_attr(CTA_MARK, (uint8_t[]){ 0, 0, 0, 1 }, 4);
	memcpy(entry, msg, e = msg_len);
	CU_ASSERT_EQUAL_FATAL(nd_ct_parse(entry, e, &f, &raw, &raw_len), 0);
	CU_ASSERT_EQUAL(f.fam, 4);
	CU_ASSERT_EQUAL(f.src[3], 2);
	CU_ASSERT_EQUAL(f.dst[2], 2);
	CU_ASSERT_EQUAL(f.l4proto, 6);
	CU_ASSERT_EQUAL(f.dport, 5432);
	CU_ASSERT_PTR_EQUAL(raw, entry);
	CU_ASSERT_EQUAL(raw_len, NLA_HDRLEN + t);
	CU_ASSERT_EQUAL(nd_ct_parse(entry, e - 1, &f, &raw, &raw_len), -EBADMSG);
	CU_ASSERT_EQUAL(nd_ct_parse(entry + NLA_HDRLEN + t, e - NLA_HDRLEN - t, &f, &raw, &raw_len),
			-EBADMSG); /* no tuple */
}

int main(void)
{
	static const struct bh_test drops[] = {
		{ "NFLOG: drops parsed, accepts and foreign prefixes skipped", test_parse_ipv4_ipv6 },
		{ "NFLOG: torn messages and short packets refused", test_parse_rejects_torn },
		{ "coalescing, table limit, period", test_coalesce_and_period },
		{ "conntrack entry: original tuple", test_ct_parse },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = {
		{ "drops", drops },
		{ NULL, NULL },
	};

	return bh_test_main(suites);
}
