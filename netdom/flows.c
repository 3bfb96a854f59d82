/* SPDX-License-Identifier: MIT */
/*
 * Which established flows a new policy still allows. After a commit netdomd
 * walks conntrack (netlink.c) and deletes the entries whose original
 * direction the new policy no longer accepts; every other flow keeps its
 * entry, so its replies still pass as established. A flow is decided the way
 * the forward chain decides its first packet: the vifs come from its
 * addresses (anti-spoofing guarantees a guest's source address is its own),
 * then the maps in precedence order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include "netdom.h"

struct nd_addr_ref {
	uint8_t fam;
	uint8_t addr[16];
	uint32_t vif;
};

static int cmp_addr(const void *a, const void *b)
{
	const struct nd_addr_ref *x = a, *y = b;

	if (x->fam != y->fam)
		return x->fam - y->fam;
	return memcmp(x->addr, y->addr, 16);
}

int nd_flows_index(const struct nd_policy *p, struct nd_flows *ret)
{
	size_t n = 0;

	memset(ret, 0, sizeof(*ret));
	for (uint32_t i = 0; i < p->n_vifs; i++)
		n += p->vifs[i].m.n_addrs;
	ret->v = calloc(n ? n : 1, sizeof(*ret->v));
	if (!ret->v)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n_vifs; i++)
		for (unsigned a = 0; a < p->vifs[i].m.n_addrs; a++) {
			struct nd_addr_ref *r = &ret->v[ret->n++];

			r->fam = p->vifs[i].m.addrs[a].family;
			memcpy(r->addr, p->vifs[i].m.addrs[a].addr, 16);
			r->vif = i;
		}
	qsort(ret->v, ret->n, sizeof(*ret->v), cmp_addr);
	return 0;
}

void nd_flows_free(struct nd_flows *f)
{
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static int vif_of(const struct nd_flows *ix, uint8_t fam, const uint8_t *addr)
{
	struct nd_addr_ref key = { .fam = fam };
	const struct nd_addr_ref *r;

	memcpy(key.addr, addr, fam == 4 ? 4 : 16);
	r = ix->n ? bsearch(&key, ix->v, ix->n, sizeof(key), cmp_addr) : NULL;
	return r ? (int)r->vif : -1;
}

/* The key bytes of one endpoint field; false when the lookup would find nothing. */
static bool put_slot(const struct nd_policy *p, uint8_t slot, int vif, const struct nd_flow *f,
		     bool src, uint8_t *key, unsigned *len)
{
	uint32_t id;

	*len = 0;
	switch (slot) {
	case ND_SLOT_GUEST:
	case ND_SLOT_ZONE:
		if (vif < 0 || (slot == ND_SLOT_ZONE && !p->guests[p->vifs[vif].guest].zone))
			return false;
		id = slot == ND_SLOT_GUEST ? nd_vif_id((uint32_t)vif)
					   : nd_zone_id(p->guests[p->vifs[vif].guest].zone - 1);
		memcpy(key, &id, 4);
		*len = 4;
		return true;
	case ND_SLOT_NET4:
	case ND_SLOT_NET6:
		*len = slot == ND_SLOT_NET4 ? 4 : 16;
		if (f->fam != (slot == ND_SLOT_NET4 ? 4 : 6))
			return false;
		memcpy(key, src ? f->src : f->dst, *len);
		return true;
	default:
		return true;
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

/* compile.c keeps the elements of a map keyed first by a vif or zone id sorted by it. */
static bool grouped(const struct nd_map *m)
{
	return m->src == ND_SLOT_GUEST || m->src == ND_SLOT_ZONE;
}

static size_t group_start(const struct nd_map *m, const uint8_t *key)
{
	size_t lo = 0, hi = m->n;

	if (!grouped(m))
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(m->v[mid].lo, key, 4) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static long map_lookup(const struct nd_ruleset *rs, const struct nd_map *m, int sv, int dv,
		       const struct nd_flow *f)
{
	uint8_t key[ND_KEY_MAX] = { 0 };
	unsigned off = 0, len;

	if (!put_slot(rs->p, m->src, sv, f, true, key, &len))
		return -1;
	off += (len + 3u) & ~3u;
	if (!put_slot(rs->p, m->dst, dv, f, false, key + off, &len))
		return -1;
	off += (len + 3u) & ~3u;
	key[off] = f->l4proto;
	key[off + 4] = (uint8_t)(f->dport >> 8);
	key[off + 5] = (uint8_t)f->dport;
	for (size_t i = group_start(m, key); i < m->n; i++) {
		if (in_box(m, &m->v[i], key))
			return m->v[i].rule;
		if (i + 1 < m->n && grouped(m) && memcmp(m->v[i + 1].lo, key, 4) > 0)
			break; /* past this vif's or zone's elements */
	}
	return -1;
}

long nd_flow_decide(const struct nd_ruleset *rs, const struct nd_flows *ix, const struct nd_flow *f)
{
	int sv = vif_of(ix, f->fam, f->src), dv = vif_of(ix, f->fam, f->dst);

	for (size_t o = 0; o < rs->n_order; o++) {
		const struct nd_map *m = &rs->maps[rs->order[o]];
		long r;

		if (m->dst == ND_SLOT_SELF)
			continue; /* the input chain's: flows to netdom are not forwarded */
		r = map_lookup(rs, m, sv, dv, f);
		if (r >= 0)
			return r;
	}
	return -1;
}

bool nd_flow_allowed(const struct nd_ruleset *rs, const struct nd_flows *ix,
		     const struct nd_flow *f)
{
	long r = nd_flow_decide(rs, ix, f);

	return r >= 0 && rs->p->rules[r].m.action == BH_POLICY_ACCEPT;
}

/* ---- ctnetlink entries ---- */

/* Walk the attributes in [p, p + len): @fn per attribute; -EBADMSG on a torn one. */
static int attrs(const uint8_t *p, size_t len, int (*fn)(uint16_t, const uint8_t *, size_t, void *),
		 void *arg)
{
	for (size_t off = 0; len - off >= NLA_HDRLEN;) {
		struct nlattr a;
		int r;

		memcpy(&a, p + off, sizeof(a));
		if (a.nla_len < NLA_HDRLEN || a.nla_len > len - off)
			return -EBADMSG;
		r = fn(a.nla_type & NLA_TYPE_MASK, p + off + NLA_HDRLEN, a.nla_len - NLA_HDRLEN, arg);
		if (r < 0)
			return r;
		off += (size_t)NLA_ALIGN(a.nla_len) < len - off ? (size_t)NLA_ALIGN(a.nla_len) : len - off;
	}
	return 0;
}

static int ip_attr(uint16_t type, const uint8_t *d, size_t len, void *arg)
{
	struct nd_flow *f = arg;

	if ((type == CTA_IP_V4_SRC || type == CTA_IP_V4_DST) && len == 4)
		f->fam = 4;
	else if ((type == CTA_IP_V6_SRC || type == CTA_IP_V6_DST) && len == 16)
		f->fam = 6;
	else
		return 0;
	memcpy(type == CTA_IP_V4_SRC || type == CTA_IP_V6_SRC ? f->src : f->dst, d, len);
	return 0;
}

static int proto_attr(uint16_t type, const uint8_t *d, size_t len, void *arg)
{
	struct nd_flow *f = arg;

	if (type == CTA_PROTO_NUM && len == 1)
		f->l4proto = d[0];
	if (type == CTA_PROTO_DST_PORT && len == 2)
		f->dport = (uint16_t)(d[0] << 8 | d[1]);
	return 0;
}

static int tuple_attr(uint16_t type, const uint8_t *d, size_t len, void *arg)
{
	if (type == CTA_TUPLE_IP)
		return attrs(d, len, ip_attr, arg);
	if (type == CTA_TUPLE_PROTO)
		return attrs(d, len, proto_attr, arg);
	return 0;
}

struct ct_top {
	struct nd_flow *f;
	const uint8_t *tuple;
	size_t tuple_len;
};

static int top_attr(uint16_t type, const uint8_t *d, size_t len, void *arg)
{
	struct ct_top *t = arg;

	if (type != CTA_TUPLE_ORIG)
		return 0;
	t->tuple = d - NLA_HDRLEN;
	t->tuple_len = len + NLA_HDRLEN;
	return attrs(d, len, tuple_attr, t->f);
}

int nd_ct_parse(const uint8_t *untrusted, size_t len, struct nd_flow *f, const uint8_t **tuple,
		size_t *tuple_len)
{
	struct ct_top t = { f, NULL, 0 };
	int r;

	memset(f, 0, sizeof(*f));
	r = attrs(untrusted, len, top_attr, &t);
	if (r < 0)
		return r;
	if (!t.tuple || (f->fam != 4 && f->fam != 6))
		return -EBADMSG;
	*tuple = t.tuple;
	*tuple_len = t.tuple_len;
	return 0;
}
