/* SPDX-License-Identifier: MIT */
/*
 * The policy -> interval-map compiler, checked against the semantics in
 * netdom.h by an independent evaluator: a packet is looked up in the maps in
 * the compiled order exactly as the forward chain does, or the input chain for
 * a packet to the netdom itself (field by field, range by range), and the rule
 * found must be the one a naive scan of the policy
 * picks (most specific endpoint pair, source before destination, then first
 * in policy order). Random policies with heavily overlapping rules exercise
 * the overlap cutting; every lookup also checks the elements are disjoint.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../bh-test.h"
#include "nd-test.h"

enum { TCP = BH_POLICY_PROTO_TCP, UDP = BH_POLICY_PROTO_UDP, ICMP = BH_POLICY_PROTO_ICMP,
       ICMP6 = BH_POLICY_PROTO_ICMPV6, ANYP = BH_POLICY_PROTO_ANY, ACC = BH_POLICY_ACCEPT,
       DROP = BH_POLICY_DROP };

struct pkt {
	int iif, oif; /* vif index, -1: an interface that is not a guest's */
	uint8_t fam;  /* 4 or 6 */
	uint8_t src[16], dst[16];
	uint8_t l4; /* IP protocol number */
	uint16_t dport;
	bool self; /* to the netdom itself: the input chain */
};

static const uint8_t proto_num[] = { 0, 6, 17, 1, 58 };

/* ---- the naive reference ---- */

static bool net_has(const struct bh_msg_net *n, uint8_t fam, const uint8_t *a)
{
	if (n->family != fam)
		return false;
	for (unsigned bit = 0; bit < n->plen; bit++)
		if ((n->addr[bit / 8] ^ a[bit / 8]) & (0x80 >> (bit % 8)))
			return false;
	return true;
}

static bool ep_match(const struct nd_policy *p, const struct bh_msg_policy_ep *ep, uint32_t ref,
		     int vif, uint8_t fam, const uint8_t *addr)
{
	switch (ep->kind) {
	case BH_POLICY_EP_GUEST:
		return vif >= 0 && p->vifs[vif].guest == ref;
	case BH_POLICY_EP_ZONE:
		return vif >= 0 && p->guests[p->vifs[vif].guest].zone == ref + 1;
	case BH_POLICY_EP_CIDR:
		return net_has(&ep->net, fam, addr);
	default:
		return true;
	}
}

static bool rule_match(const struct nd_policy *p, const struct nd_rule *r, const struct pkt *k)
{
	bool port_ok = r->m.n_ports == 0;

	if ((r->m.to.kind == BH_POLICY_EP_SELF) != k->self)
		return false;
	if (!ep_match(p, &r->m.from, r->from_ref, k->iif, k->fam, k->src) ||
	    !ep_match(p, &r->m.to, r->to_ref, k->oif, k->fam, k->dst))
		return false;
	if (r->m.proto != ANYP && proto_num[r->m.proto] != k->l4)
		return false;
	for (unsigned i = 0; i < r->m.n_ports; i++)
		port_ok |= k->dport >= r->m.ports[i].lo && k->dport <= r->m.ports[i].hi;
	return port_ok;
}

static int kind_rank(uint8_t kind)
{
	static const int rank[] = { [BH_POLICY_EP_ANY] = 0, [BH_POLICY_EP_GUEST] = 3,
				    [BH_POLICY_EP_ZONE] = 2, [BH_POLICY_EP_CIDR] = 1,
				    [BH_POLICY_EP_SELF] = 3 };
	return rank[kind];
}

static long reference(const struct nd_policy *p, const struct pkt *k)
{
	long best = -1;
	int best_key = -1;

	for (uint32_t i = 0; i < p->n_rules; i++) {
		const struct nd_rule *r = &p->rules[i];
		int key = (kind_rank(r->m.from.kind) + kind_rank(r->m.to.kind)) * 4 +
			  kind_rank(r->m.from.kind);

		if (key > best_key && rule_match(p, r, k)) {
			best = i;
			best_key = key;
		}
	}
	return best;
}

/* ---- the compiled maps, looked up as the kernel does ---- */

static unsigned put_slot(const struct nd_policy *p, uint8_t slot, bool src, const struct pkt *k,
			 uint8_t *key)
{
	int vif = src ? k->iif : k->oif;
	uint32_t id;

	switch (slot) {
	case ND_SLOT_GUEST: /* vif-id lookup: no element for other interfaces */
		if (vif < 0)
			return UINT32_MAX;
		id = nd_vif_id((uint32_t)vif);
		memcpy(key, &id, 4);
		return 4;
	case ND_SLOT_ZONE: /* vif-zone lookup: no element for zoneless guests */
		if (vif < 0 || !p->guests[p->vifs[vif].guest].zone)
			return UINT32_MAX;
		id = nd_zone_id(p->guests[p->vifs[vif].guest].zone - 1);
		memcpy(key, &id, 4);
		return 4;
	case ND_SLOT_NET4:
		memcpy(key, src ? k->src : k->dst, 4);
		return 4;
	case ND_SLOT_NET6:
		memcpy(key, src ? k->src : k->dst, 16);
		return 16;
	default:
		return 0;
	}
}

static bool in_box(const struct nd_map *m, const struct nd_elem *e, const uint8_t *key)
{
	unsigned off = 0;

	for (unsigned i = 0; i < m->n_fields; i++) {
		unsigned len = m->field_len[i];

		if (memcmp(key + off, e->lo + off, len) < 0 || memcmp(key + off, e->hi + off, len) > 0)
			return false;
		off += (len + 3u) & ~3u;
	}
	return true;
}

static long compiled(const struct nd_ruleset *rs, const struct pkt *k)
{
	for (size_t o = 0; o < rs->n_order; o++) {
		const struct nd_map *m = &rs->maps[rs->order[o]];
		uint8_t key[ND_KEY_MAX] = { 0 };
		unsigned off = 0;
		long found = -1;
		int hits = 0;

		if ((m->dst == ND_SLOT_SELF) != k->self)
			continue; /* the other chain's map */
		if (((m->src == ND_SLOT_NET4 || m->dst == ND_SLOT_NET4) && k->fam != 4) ||
		    ((m->src == ND_SLOT_NET6 || m->dst == ND_SLOT_NET6) && k->fam != 6))
			continue; /* the chain's meta nfproto test */
		unsigned sl = put_slot(rs->p, m->src, true, k, key);

		if (sl == UINT32_MAX)
			continue; /* the lookup found nothing: the rule ends, no match */
		off += (sl + 3u) & ~3u;
		sl = put_slot(rs->p, m->dst, false, k, key + off);
		if (sl == UINT32_MAX)
			continue;
		off += (sl + 3u) & ~3u;
		key[off] = k->l4;
		key[off + 4] = (uint8_t)(k->dport >> 8);
		key[off + 5] = (uint8_t)k->dport;
		CU_ASSERT_EQUAL(off + 8, m->key_len);
		for (size_t i = 0; i < m->n; i++)
			if (in_box(m, &m->v[i], key)) {
				found = m->v[i].rule;
				hits++;
			}
		CU_ASSERT(hits <= 1); /* an interval map needs disjoint elements */
		if (found >= 0)
			return found;
	}
	return -1;
}

/* ---- fixed cases ---- */

static int slot_rank(uint8_t slot)
{
	static const int rank[] = { [ND_SLOT_ANY] = 0, [ND_SLOT_GUEST] = 3, [ND_SLOT_ZONE] = 2,
				    [ND_SLOT_NET4] = 1, [ND_SLOT_NET6] = 1, [ND_SLOT_SELF] = 3 };
	return rank[slot];
}

static struct nd_policy *three_guests(uint32_t rules)
{
	struct nd_policy *p = nt_begin(2, 4, rules);
	struct nd_error e = { 0 };

	nt_zone(p, "dmz", &e);
	nt_zone(p, "db", &e);
	nt_vif(p, "a", "dmz", "vif1.0", 1, "10.0.1.2", "fd00::1", &e);
	nt_vif(p, "a", "dmz", "vif1.1", 2, "10.0.2.2", NULL, &e);
	nt_vif(p, "b", "dmz", "vif2.0", 3, "10.0.3.2", NULL, &e);
	nt_vif(p, "c", NULL, "vif3.0", 4, "10.1.0.2", NULL, &e);
	return p;
}

static struct pkt pkt4(int iif, int oif, const char *src, const char *dst, uint8_t l4,
		       uint16_t dport)
{
	struct pkt k = { iif, oif, 4, { 0 }, { 0 }, l4, dport };

	inet_pton(AF_INET, src, k.src);
	inet_pton(AF_INET, dst, k.dst);
	return k;
}

static long at(const struct nd_ruleset *rs, struct pkt k)
{
	return compiled(rs, &k);
}

static struct nd_ruleset *finish_compile(struct nd_policy *p)
{
	struct nd_ruleset *rs = NULL;
	struct nd_error e = { 0 };

	CU_ASSERT_EQUAL_FATAL(nd_policy_finish(p, 1, &e), 0);
	CU_ASSERT_EQUAL_FATAL(nd_compile(p, &rs, &e), 0);
	return rs;
}

static void test_overlap_cut(void)
{
	struct nd_policy *p = three_guests(2);
	struct nd_error e = { 0 };
	struct nd_ruleset *rs;
	const struct nd_map *m;

	nt_rule(p, 1, "g=b", "g=c", TCP, 80, 80, DROP, &e);
	nt_rule(p, 2, "g=b", "g=c", TCP, 1, 1000, ACC, &e);
	rs = finish_compile(p);
	m = &rs->maps[ND_SLOT_GUEST * ND_SLOT_MAX_ + ND_SLOT_GUEST];
	CU_ASSERT_EQUAL(m->n, 3); /* 80 | 1-79 | 81-1000 */
	CU_ASSERT_EQUAL(rs->n_order, 1);
	CU_ASSERT_EQUAL(at(rs, pkt4(2, 3, "10.0.3.2", "10.1.0.2", 6, 80)), 0);
	CU_ASSERT_EQUAL(at(rs, pkt4(2, 3, "10.0.3.2", "10.1.0.2", 6, 79)), 1);
	CU_ASSERT_EQUAL(at(rs, pkt4(2, 3, "10.0.3.2", "10.1.0.2", 6, 81)), 1);
	CU_ASSERT_EQUAL(at(rs, pkt4(2, 3, "10.0.3.2", "10.1.0.2", 6, 1000)), 1);
	CU_ASSERT_EQUAL(at(rs, pkt4(2, 3, "10.0.3.2", "10.1.0.2", 6, 1001)), -1);
	CU_ASSERT_EQUAL(at(rs, pkt4(2, 3, "10.0.3.2", "10.1.0.2", 17, 80)), -1);
	CU_ASSERT_EQUAL(at(rs, pkt4(3, 2, "10.1.0.2", "10.0.3.2", 6, 80)), -1);
	nd_ruleset_free(rs);
	nd_policy_free(p);
}

static void test_first_rule_wins(void)
{
	struct nd_policy *p = three_guests(3);
	struct nd_error e = { 0 };
	struct nd_ruleset *rs;

	nt_rule(p, 7, "g=b", "g=c", TCP, 80, 80, ACC, &e);
	nt_rule(p, 5, "g=b", "g=c", TCP, 80, 80, DROP, &e);
	nt_rule(p, 6, "g=b", "g=c", ANYP, 0, 0, DROP, &e);
	rs = finish_compile(p);
	CU_ASSERT_EQUAL(rs->maps[ND_SLOT_GUEST * ND_SLOT_MAX_ + ND_SLOT_GUEST].n, 1 + 2 + 2);
	CU_ASSERT_EQUAL(at(rs, pkt4(2, 3, "10.0.3.2", "10.1.0.2", 6, 80)), 0);
	CU_ASSERT_EQUAL(at(rs, pkt4(2, 3, "10.0.3.2", "10.1.0.2", 6, 81)), 2);
	CU_ASSERT_EQUAL(at(rs, pkt4(2, 3, "10.0.3.2", "10.1.0.2", 17, 80)), 2);
	nd_ruleset_free(rs);
	nd_policy_free(p);
}

/* Least specific first in the policy: specificity must still decide. */
static void test_precedence(void)
{
	struct nd_policy *p = three_guests(6);
	struct nd_error e = { 0 };
	struct nd_ruleset *rs;

	nt_rule(p, 1, "any", "any", TCP, 0, 0, DROP, &e);
	nt_rule(p, 2, "10.0.0.0/16", "any", TCP, 0, 0, ACC, &e);
	nt_rule(p, 3, "z=dmz", "any", TCP, 0, 0, DROP, &e);
	nt_rule(p, 4, "g=a", "any", TCP, 0, 0, ACC, &e);
	nt_rule(p, 5, "any", "g=c", UDP, 0, 0, ACC, &e);
	nt_rule(p, 6, "g=b", "any", UDP, 0, 0, DROP, &e);
	rs = finish_compile(p);
	CU_ASSERT_EQUAL(at(rs, pkt4(1, -1, "10.0.2.2", "8.8.8.8", 6, 1)), 3);  /* guest */
	CU_ASSERT_EQUAL(at(rs, pkt4(2, -1, "10.0.3.2", "8.8.8.8", 6, 1)), 2);  /* zone */
	CU_ASSERT_EQUAL(at(rs, pkt4(-1, -1, "10.0.9.9", "8.8.8.8", 6, 1)), 1); /* CIDR */
	CU_ASSERT_EQUAL(at(rs, pkt4(3, -1, "10.1.0.2", "8.8.8.8", 6, 1)), 0);  /* any */
	/* guest->any against any->guest: the source side is more specific */
	CU_ASSERT_EQUAL(at(rs, pkt4(2, 3, "10.0.3.2", "10.1.0.2", 17, 1)), 5);
	CU_ASSERT_EQUAL(at(rs, pkt4(0, 3, "10.0.1.2", "10.1.0.2", 17, 1)), 4);
	CU_ASSERT_EQUAL(rs->n_order, 5); /* rules 4 and 6 share guest->any */
	for (size_t i = 1; i < rs->n_order; i++) {
		const struct nd_map *x = &rs->maps[rs->order[i - 1]], *y = &rs->maps[rs->order[i]];
		int kx = (slot_rank(x->src) + slot_rank(x->dst)) * 4 + slot_rank(x->src);
		int ky = (slot_rank(y->src) + slot_rank(y->dst)) * 4 + slot_rank(y->src);

		CU_ASSERT(kx > ky);
	}
	nd_ruleset_free(rs);
	nd_policy_free(p);
}

static void test_guest_vifs_and_zone_flags(void)
{
	struct nd_policy *p = three_guests(2);
	struct nd_error e = { 0 };
	struct nd_ruleset *rs;

	nt_rule(p, 1, "g=a", "fd00::/16", ICMP6, 0, 0, ACC, &e);
	nt_rule(p, 2, "g=c", "z=db", UDP, 53, 53, ACC, &e);
	rs = finish_compile(p);
	CU_ASSERT_EQUAL(rs->maps[ND_SLOT_GUEST * ND_SLOT_MAX_ + ND_SLOT_NET6].n, 2); /* two vifs */
	CU_ASSERT_EQUAL(rs->maps[ND_SLOT_GUEST * ND_SLOT_MAX_ + ND_SLOT_ZONE].n, 1);
	nd_ruleset_free(rs);
	nd_policy_free(p);
	p = three_guests(1);
	nt_rule(p, 1, "g=a", "g=b", TCP, 0, 0, ACC, &e);
	rs = finish_compile(p);
	CU_ASSERT_EQUAL(rs->maps[ND_SLOT_GUEST * ND_SLOT_MAX_ + ND_SLOT_GUEST].n, 2);
	nd_ruleset_free(rs);
	nd_policy_free(p);
}

/*
 * Rules to self: maps keyed [source][l4proto][dport] with no destination
 * field, decided only for packets to the netdom, never for forwarded ones.
 */
static void test_self_rules(void)
{
	struct nd_policy *p = three_guests(5);
	struct pkt k;
	struct nd_error e = { 0 };
	struct nd_ruleset *rs;
	const struct nd_map *m;

	nt_rule(p, 1, "any", "self", TCP, 22, 22, DROP, &e);
	nt_rule(p, 2, "g=a", "self", UDP, 53, 53, ACC, &e);
	nt_rule(p, 3, "z=dmz", "self", TCP, 53, 53, ACC, &e);
	nt_rule(p, 4, "g=a", "any", UDP, 53, 53, DROP, &e);
	nt_rule(p, 5, "10.1.0.0/16", "self", ANYP, 0, 0, ACC, &e);
	rs = finish_compile(p);
	m = &rs->maps[ND_SLOT_GUEST * ND_SLOT_MAX_ + ND_SLOT_SELF];
	CU_ASSERT_EQUAL(m->n, 2); /* a's two vifs */
	CU_ASSERT_EQUAL(m->n_fields, 3);
	CU_ASSERT_EQUAL(m->key_len, 12);
	CU_ASSERT_EQUAL(rs->maps[ND_SLOT_ZONE * ND_SLOT_MAX_ + ND_SLOT_SELF].n, 1);
	CU_ASSERT_EQUAL(rs->maps[ND_SLOT_ANY * ND_SLOT_MAX_ + ND_SLOT_SELF].key_len, 8);
	CU_ASSERT_EQUAL(rs->n_order, 5);
	k = pkt4(0, -1, "10.0.1.2", "10.0.1.1", 17, 53);
	CU_ASSERT_EQUAL(at(rs, k), 3); /* forwarded: guest->any */
	k.self = true;
	CU_ASSERT_EQUAL(at(rs, k), 1); /* to self: guest->self */
	k = pkt4(2, -1, "10.0.3.2", "10.0.3.1", 6, 53);
	k.self = true;
	CU_ASSERT_EQUAL(at(rs, k), 2); /* b by its zone */
	k.dport = 22;
	CU_ASSERT_EQUAL(at(rs, k), 0);
	k.dport = 23;
	CU_ASSERT_EQUAL(at(rs, k), -1); /* the input chain's default */
	k = pkt4(3, -1, "10.1.0.2", "10.1.0.1", 47, 0);
	k.self = true;
	CU_ASSERT_EQUAL(at(rs, k), 4); /* c by its network, any protocol */
	k.self = false;
	CU_ASSERT_EQUAL(at(rs, k), -1);
	nd_ruleset_free(rs);
	nd_policy_free(p);
}

/* ---- random policies against the reference ---- */

#define R_VIFS 7

static const char *rand_ep(char *buf, size_t len)
{
	static const char *const nets[] = { "10.0.0.0/16", "10.0.3.0/24", "10.0.4.2/32",
					    "0.0.0.0/0", "fd00::/64", "fd00::3/128", "10.1.0.0/16" };

	switch (rand() % 6) {
	case 0:
		return "any";
	case 5:
		return "self"; /* as a source, refused: the rule is skipped */
	case 1:
		snprintf(buf, len, "g=g%d", rand() % 6);
		return buf;
	case 2:
		snprintf(buf, len, "z=z%d", rand() % 3);
		return buf;
	default:
		return nets[rand() % BH_ARRAY_SIZE(nets)];
	}
}

static struct nd_policy *random_policy(uint32_t want_rules)
{
	struct nd_policy *p = nt_begin(3, R_VIFS, want_rules);
	struct nd_error e = { 0 };
	char ifn[16], a4[32], a6[32], g[8], z[8], fb[16], tb[16];

	for (int i = 0; i < 3; i++) {
		snprintf(z, sizeof(z), "z%d", i);
		nt_zone(p, z, &e);
	}
	/* g0 has two vifs (sent together, as dom0 does); g5 has no zone. */
	for (int n = 0; n < R_VIFS; n++) {
		int v = n == 0 ? 0 : n == 1 ? 6 : n - 1, gi = v == 6 ? 0 : v;

		snprintf(g, sizeof(g), "g%d", gi);
		snprintf(z, sizeof(z), "z%d", gi % 3);
		snprintf(ifn, sizeof(ifn), "vif%d.%d", gi, v == 6);
		snprintf(a4, sizeof(a4), "10.0.%d.2", v);
		snprintf(a6, sizeof(a6), "fd00::%d", v);
		nt_vif(p, g, gi == 5 ? NULL : z, ifn, (uint8_t)(v + 1), a4, a6, &e);
	}
	for (uint32_t id = 1; p->n_rules < want_rules; id++) {
		struct bh_msg_policy_rule r;
		int lo = 1 + rand() % 20;

		r = nt_rule_msg(id, rand_ep(fb, sizeof(fb)), rand_ep(tb, sizeof(tb)),
				(uint8_t)(rand() % 5), 0, 0, (uint8_t)(rand() % 3));
		for (int n = rand() % 3; n-- > 0; lo = 1 + rand() % 20)
			r.ports[r.n_ports++] = (struct bh_msg_port_range){ (uint16_t)lo,
					       (uint16_t)(lo + rand() % 6) };
		nd_policy_add_rule(p, &r, &e); /* shapes the model refuses are skipped */
	}
	return p;
}

static struct pkt random_pkt(const struct nd_policy *p)
{
	struct pkt k = { rand() % (R_VIFS + 1) - 1, rand() % (R_VIFS + 1) - 1 };
	static const uint8_t l4[] = { 6, 17, 1, 58, 47 };

	k.fam = rand() % 4 ? 4 : 6;
	for (int side = 0; side < 2; side++) {
		int vif = side ? k.oif : k.iif;
		uint8_t *a = side ? k.dst : k.src;
		const struct bh_msg_net *n = vif >= 0 ? &p->vifs[vif].m.addrs[k.fam == 6] : NULL;

		if (n && rand() % 4)
			memcpy(a, n->addr, 16);
		else if (k.fam == 4)
			memcpy(a, (uint8_t[]){ 10, (uint8_t)(rand() % 2), (uint8_t)(rand() % 9), 2 }, 4);
		else
			memcpy(a, (uint8_t[]){ 0xfd, 0, [15] = (uint8_t)(rand() % 9) }, 16);
	}
	k.l4 = l4[rand() % BH_ARRAY_SIZE(l4)];
	k.dport = (uint16_t)(rand() % 30);
	k.self = rand() % 5 == 0;
	if (k.self)
		k.oif = -1;
	return k;
}

static void test_random_against_reference(void)
{
	unsigned mismatches = 0, matched = 0, matched_self = 0;

	srand(5301);
	for (int round = 0; round < 150; round++) {
		struct nd_policy *p = random_policy(30);
		struct nd_ruleset *rs = finish_compile(p);

		for (int i = 0; i < 400; i++) {
			struct pkt k = random_pkt(p);
			long want = reference(p, &k), got = compiled(rs, &k);

			mismatches += want != got;
			matched += want >= 0;
			matched_self += want >= 0 && k.self;
		}
		nd_ruleset_free(rs);
		nd_policy_free(p);
	}
	CU_ASSERT_EQUAL(mismatches, 0);
	CU_ASSERT(matched > 150 * 400 / 4); /* the packets do exercise the rules */
	CU_ASSERT(matched_self > 150 * 400 / 5 / 4); /* ... the rules to self too */
}

/* netdomd's own evaluator for established flows (flows.c): vifs come from addresses. */
static int vif_by_addr(const struct nd_policy *p, uint8_t fam, const uint8_t *a)
{
	for (uint32_t v = 0; v < p->n_vifs; v++)
		for (unsigned i = 0; i < p->vifs[v].m.n_addrs; i++)
			if (p->vifs[v].m.addrs[i].family == fam &&
			    !memcmp(p->vifs[v].m.addrs[i].addr, a, fam == 4 ? 4 : 16))
				return (int)v;
	return -1;
}

static void test_flows_against_reference(void)
{
	unsigned mismatches = 0, decided = 0;

	srand(7411);
	for (int round = 0; round < 100; round++) {
		struct nd_policy *p = random_policy(30);
		struct nd_ruleset *rs = finish_compile(p);
		struct nd_flows ix;

		CU_ASSERT_EQUAL_FATAL(nd_flows_index(p, &ix), 0);
		for (int i = 0; i < 300; i++) {
			struct pkt k = random_pkt(p);
			struct nd_flow f = { k.fam, { 0 }, { 0 }, k.l4, k.dport };
			long want, got;

			memcpy(f.src, k.src, 16);
			memcpy(f.dst, k.dst, 16);
			k.iif = vif_by_addr(p, k.fam, k.src); /* as anti-spoofing guarantees */
			k.oif = vif_by_addr(p, k.fam, k.dst);
			k.self = false; /* conntrack prune sees forwarded flows only */
			want = reference(p, &k);
			got = nd_flow_decide(rs, &ix, &f);
			mismatches += want != got;
			decided += got >= 0;
			CU_ASSERT_EQUAL(nd_flow_allowed(rs, &ix, &f),
					got >= 0 && p->rules[got].m.action == BH_POLICY_ACCEPT);
		}
		nd_flows_free(&ix);
		nd_ruleset_free(rs);
		nd_policy_free(p);
	}
	CU_ASSERT_EQUAL(mismatches, 0);
	CU_ASSERT(decided > 100 * 300 / 4);
}

int main(void)
{
	static const struct bh_test compile[] = {
		{ "overlapping rules are cut into disjoint boxes", test_overlap_cut },
		{ "first rule wins within an endpoint pair", test_first_rule_wins },
		{ "precedence guest > zone > CIDR > any, source first", test_precedence },
		{ "a guest expands to its vifs",
		  test_guest_vifs_and_zone_flags },
		{ "rules to self: input maps without a destination field", test_self_rules },
		{ "random policies agree with the reference", test_random_against_reference },
		{ "established-flow decisions agree with the reference", test_flows_against_reference },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = {
		{ "compile", compile },
		{ NULL, NULL },
	};

	return bh_test_main(suites);
}
