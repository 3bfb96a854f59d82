/* SPDX-License-Identifier: MIT */
/*
 * Policy -> lookup maps. Each rule becomes boxes (one per source vif x
 * destination vif x port range) in the map of its endpoint pair, keyed like
 * the kernel sees the packet: [src field][dst field][l4proto][dport], every
 * field a range, each padded to 4 bytes as in nftables registers. A rule to
 * self (the netdom) has no destination field: its pair's maps are the input
 * chain's, and the chain is the destination.
 *
 * Rules may overlap (a rule for one port inside another for a range). An
 * interval map needs disjoint elements, and first-match order must survive,
 * so each new box has every earlier box of its group subtracted from it: what
 * remains is exactly the part of the rule that no earlier rule decides.
 * Groups are boxes with the same exact first field (the same source vif or
 * zone), which keeps the work proportional to rules per guest, not rules^2.
 * The elements of such a map come out sorted by that field (flows.c's
 * binary search relies on it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netdom.h"

static const uint8_t slot_len[ND_SLOT_MAX_] = {
	[ND_SLOT_ANY] = 0, [ND_SLOT_GUEST] = 4, [ND_SLOT_ZONE] = 4,
	[ND_SLOT_NET4] = 4, [ND_SLOT_NET6] = 16, [ND_SLOT_SELF] = 0,
};

/*
 * Specificity of an endpoint kind: guest > zone > network > any. Self is only
 * ever a destination and alone in its chain (input), so its maps rank among
 * themselves by source only.
 */
static const uint8_t slot_rank[ND_SLOT_MAX_] = {
	[ND_SLOT_ANY] = 0, [ND_SLOT_GUEST] = 3, [ND_SLOT_ZONE] = 2,
	[ND_SLOT_NET4] = 1, [ND_SLOT_NET6] = 1, [ND_SLOT_SELF] = 3,
};

static uint8_t ep_slot(const struct bh_msg_policy_ep *ep)
{
	switch (ep->kind) {
	case BH_POLICY_EP_GUEST:
		return ND_SLOT_GUEST;
	case BH_POLICY_EP_ZONE:
		return ND_SLOT_ZONE;
	case BH_POLICY_EP_CIDR:
		return ep->net.family == 4 ? ND_SLOT_NET4 : ND_SLOT_NET6;
	case BH_POLICY_EP_SELF:
		return ND_SLOT_SELF;
	default:
		return ND_SLOT_ANY;
	}
}

static inline unsigned pad4(unsigned n)
{
	return (n + 3) & ~3u;
}

static void map_init(struct nd_map *m, uint8_t src, uint8_t dst)
{
	m->src = src;
	m->dst = dst;
	if (slot_len[src])
		m->field_len[m->n_fields++] = slot_len[src];
	if (slot_len[dst])
		m->field_len[m->n_fields++] = slot_len[dst];
	m->field_len[m->n_fields++] = 1; /* meta l4proto */
	m->field_len[m->n_fields++] = 2; /* th dport */
	for (unsigned i = 0; i < m->n_fields; i++)
		m->key_len += pad4(m->field_len[i]);
}

static int push_elem(struct nd_map *m, const struct nd_elem *el)
{
	if (m->n == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		struct nd_elem *nv = reallocarray(m->v, ncap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		m->v = nv;
		m->cap = ncap;
	}
	m->v[m->n++] = *el;
	return 0;
}

/* ---- box arithmetic on big-endian byte fields ---- */

struct box_ops {
	unsigned n;
	unsigned off[ND_FIELDS_MAX], len[ND_FIELDS_MAX];
};

static void ops_init(struct box_ops *o, const struct nd_map *m)
{
	unsigned off = 0;

	o->n = m->n_fields;
	for (unsigned i = 0; i < o->n; i++) {
		o->off[i] = off;
		o->len[i] = m->field_len[i];
		off += pad4(m->field_len[i]);
	}
}

static int fcmp(const struct box_ops *o, unsigned i, const uint8_t *a, const uint8_t *b)
{
	return memcmp(a + o->off[i], b + o->off[i], o->len[i]);
}

/* Add (+1) or subtract (-1) one; callers never step past the field's range. */
static void fstep(const struct box_ops *o, unsigned i, uint8_t *k, int dir)
{
	for (unsigned j = o->len[i]; j-- > 0;) {
		uint8_t *b = &k[o->off[i] + j];
		bool carry = dir > 0 ? *b == 0xff : *b == 0x00;

		*b = (uint8_t)(*b + dir);
		if (!carry)
			break;
	}
}

static bool overlap(const struct box_ops *o, const struct nd_elem *a, const struct nd_elem *b)
{
	for (unsigned i = 0; i < o->n; i++)
		if (fcmp(o, i, a->hi, b->lo) < 0 || fcmp(o, i, b->hi, a->lo) < 0)
			return false;
	return true;
}

struct elems {
	struct nd_elem *v;
	size_t n, cap;
};

static int elems_push(struct elems *s, const struct nd_elem *el)
{
	struct nd_map tmp = { .v = s->v, .n = s->n, .cap = s->cap };
	int r = push_elem(&tmp, el);

	s->v = tmp.v;
	s->n = tmp.n;
	s->cap = tmp.cap;
	return r;
}

/* Push the parts of @f outside @e (at most two per field). */
static int subtract(const struct box_ops *o, struct nd_elem f, const struct nd_elem *e,
		    struct elems *out)
{
	for (unsigned i = 0; i < o->n; i++) {
		struct nd_elem piece;

		if (fcmp(o, i, f.lo, e->lo) < 0) {
			piece = f;
			memcpy(piece.hi + o->off[i], e->lo + o->off[i], o->len[i]);
			fstep(o, i, piece.hi, -1);
			if (elems_push(out, &piece) < 0)
				return -ENOMEM;
			memcpy(f.lo + o->off[i], e->lo + o->off[i], o->len[i]);
		}
		if (fcmp(o, i, f.hi, e->hi) > 0) {
			piece = f;
			memcpy(piece.lo + o->off[i], e->hi + o->off[i], o->len[i]);
			fstep(o, i, piece.lo, +1);
			if (elems_push(out, &piece) < 0)
				return -ENOMEM;
			memcpy(f.hi + o->off[i], e->hi + o->off[i], o->len[i]);
		}
	}
	return 0;
}

/* Add @b minus every box already emitted in its group (m->v[group..n)). */
static int add_disjoint(struct nd_map *m, const struct box_ops *o, size_t group,
			const struct nd_elem *b)
{
	struct elems cur = { 0 }, next = { 0 };
	int r = elems_push(&cur, b);

	for (size_t k = group; r == 0 && k < m->n && cur.n; k++) {
		next.n = 0;
		for (size_t j = 0; r == 0 && j < cur.n; j++)
			r = overlap(o, &cur.v[j], &m->v[k]) ? subtract(o, cur.v[j], &m->v[k], &next)
							     : elems_push(&next, &cur.v[j]);
		struct elems t = cur;
		cur = next;
		next = t;
	}
	for (size_t j = 0; r == 0 && j < cur.n; j++)
		r = push_elem(m, &cur.v[j]);
	free(cur.v);
	free(next.v);
	return r;
}

/* ---- rules to boxes ---- */

struct raw {
	struct nd_elem e;
	uint32_t seq; /* insertion order: policy order, then port-range order */
};

struct raws {
	struct raw *v;
	size_t n, cap;
	unsigned group_len; /* bytes of the exact first field that groups boxes, or 0 */
};

static int raws_push(struct raws *s, const struct nd_elem *e)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct raw *nv = reallocarray(s->v, ncap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n].e = *e;
	s->v[s->n].seq = (uint32_t)s->n;
	s->n++;
	return 0;
}

static int cmp_raw(const void *a, const void *b, void *arg)
{
	const struct raw *x = a, *y = b;
	int c = memcmp(x->e.lo, y->e.lo, *(const unsigned *)arg);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Write the endpoint's range for one choice (vif index for guests) at @off. */
static void put_ep(const struct bh_msg_policy_ep *ep, uint32_t ref,
		   uint32_t vif, uint8_t *lo, uint8_t *hi)
{
	uint32_t id;

	/* Ids are exact values, never ranges: host byte order, as the vif maps hold them. */
	switch (ep->kind) {
	case BH_POLICY_EP_GUEST:
		id = nd_vif_id(vif);
		memcpy(lo, &id, 4);
		memcpy(hi, &id, 4);
		break;
	case BH_POLICY_EP_ZONE:
		id = nd_zone_id(ref);
		memcpy(lo, &id, 4);
		memcpy(hi, &id, 4);
		break;
	case BH_POLICY_EP_CIDR: {
		unsigned bytes = ep->net.family == 4 ? 4 : 16;

		for (unsigned bit = 0; bit < bytes * 8; bit++) {
			uint8_t mask = (uint8_t)(0x80 >> (bit % 8));
			bool net = bit < ep->net.plen && (ep->net.addr[bit / 8] & mask);

			if (net || bit >= ep->net.plen)
				hi[bit / 8] |= mask;
			if (net)
				lo[bit / 8] |= mask;
		}
		break;
	}
	default:
		break;
	}
}

static const uint8_t proto_num[BH_POLICY_PROTO_MAX_] = {
	[BH_POLICY_PROTO_TCP] = 6, [BH_POLICY_PROTO_UDP] = 17,
	[BH_POLICY_PROTO_ICMP] = 1, [BH_POLICY_PROTO_ICMPV6] = 58,
};

static void put_proto_port(const struct bh_msg_policy_rule *m, int port, uint8_t *lo, uint8_t *hi)
{
	if (m->proto == BH_POLICY_PROTO_ANY) {
		lo[0] = 0;
		hi[0] = 255;
	} else {
		lo[0] = hi[0] = proto_num[m->proto];
	}
	lo += 4;
	hi += 4;
	if (port < 0) {
		lo[0] = lo[1] = 0;
		hi[0] = hi[1] = 0xff;
		return;
	}
	lo[0] = (uint8_t)(m->ports[port].lo >> 8);
	lo[1] = (uint8_t)m->ports[port].lo;
	hi[0] = (uint8_t)(m->ports[port].hi >> 8);
	hi[1] = (uint8_t)m->ports[port].hi;
}

/* The vifs an endpoint expands to: a guest's own, or one placeholder. */
static void ep_vifs(const struct nd_policy *p, const struct bh_msg_policy_ep *ep, uint32_t ref,
		    uint32_t *first, uint32_t *end)
{
	*first = 0;
	*end = 1;
	if (ep->kind != BH_POLICY_EP_GUEST)
		return;
	*first = p->n_vifs;
	*end = p->n_vifs;
	for (uint32_t i = 0; i < p->n_vifs; i++)
		if (p->vifs[i].guest == ref) {
			if (*first == p->n_vifs)
				*first = i;
			*end = i + 1;
		}
}

static int rule_boxes(const struct nd_policy *p, uint32_t ri, const struct nd_map *m,
		      struct raws *out)
{
	const struct nd_rule *r = &p->rules[ri];
	unsigned soff = 0, doff = pad4(slot_len[m->src]), poff = doff + pad4(slot_len[m->dst]);
	uint32_t s0, s1, d0, d1;
	int np = r->m.n_ports ? r->m.n_ports : 1;

	ep_vifs(p, &r->m.from, r->from_ref, &s0, &s1);
	ep_vifs(p, &r->m.to, r->to_ref, &d0, &d1);
	for (uint32_t s = s0; s < s1; s++) {
		if (r->m.from.kind == BH_POLICY_EP_GUEST && p->vifs[s].guest != r->from_ref)
			continue;
		for (uint32_t d = d0; d < d1; d++) {
			if (r->m.to.kind == BH_POLICY_EP_GUEST && p->vifs[d].guest != r->to_ref)
				continue;
			for (int k = 0; k < np; k++) {
				struct nd_elem e = { .rule = ri };

				put_ep(&r->m.from, r->from_ref, s, e.lo + soff, e.hi + soff);
				put_ep(&r->m.to, r->to_ref, d, e.lo + doff, e.hi + doff);
				put_proto_port(&r->m, r->m.n_ports ? k : -1, e.lo + poff,
					       e.hi + poff);
				if (raws_push(out, &e) < 0)
					return -ENOMEM;
			}
		}
	}
	return 0;
}

static int partition(struct nd_map *m, struct raws *raw)
{
	struct box_ops o;
	size_t group = 0;
	int r = 0;

	if (raw->n == 0)
		return 0; /* raw->v is NULL: qsort_r must not see it */
	ops_init(&o, m);
	qsort_r(raw->v, raw->n, sizeof(*raw->v), cmp_raw, &raw->group_len);
	for (size_t i = 0; r == 0 && i < raw->n; i++) {
		if (i == 0 || memcmp(raw->v[i].e.lo, raw->v[i - 1].e.lo, raw->group_len))
			group = m->n;
		r = add_disjoint(m, &o, group, &raw->v[i].e);
	}
	return r;
}

static int cmp_order(const void *a, const void *b, void *arg)
{
	const struct nd_ruleset *rs = arg;
	const struct nd_map *x = &rs->maps[*(const uint8_t *)a], *y = &rs->maps[*(const uint8_t *)b];
	int sx = slot_rank[x->src] + slot_rank[x->dst], sy = slot_rank[y->src] + slot_rank[y->dst];

	if (sx != sy)
		return sy - sx;
	if (slot_rank[x->src] != slot_rank[y->src])
		return slot_rank[y->src] - slot_rank[x->src];
	return *(const uint8_t *)a - *(const uint8_t *)b;
}

void nd_ruleset_free(struct nd_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < BH_ARRAY_SIZE(rs->maps); i++)
		free(rs->maps[i].v);
	free(rs);
}

int nd_compile(const struct nd_policy *p, struct nd_ruleset **ret, struct nd_error *e)
{
	struct raws raw[ND_SLOT_MAX_ * ND_SLOT_MAX_] = { 0 };
	struct nd_ruleset *rs = calloc(1, sizeof(*rs));
	int r = rs ? 0 : -ENOMEM;

	for (uint8_t s = 0; rs && s < ND_SLOT_MAX_; s++)
		for (uint8_t d = 0; d < ND_SLOT_MAX_; d++) {
			map_init(&rs->maps[s * ND_SLOT_MAX_ + d], s, d);
			raw[s * ND_SLOT_MAX_ + d].group_len =
				(s == ND_SLOT_GUEST || s == ND_SLOT_ZONE) ? slot_len[s] : 0;
		}
	for (uint32_t i = 0; r == 0 && i < p->n_rules; i++) {
		unsigned mi = ep_slot(&p->rules[i].m.from) * ND_SLOT_MAX_ +
			      ep_slot(&p->rules[i].m.to);

		r = rule_boxes(p, i, &rs->maps[mi], &raw[mi]);
	}
	for (unsigned mi = 0; r == 0 && mi < BH_ARRAY_SIZE(raw); mi++) {
		r = partition(&rs->maps[mi], &raw[mi]);
		if (rs->maps[mi].n)
			rs->order[rs->n_order++] = (uint8_t)mi;
	}
	for (unsigned mi = 0; mi < BH_ARRAY_SIZE(raw); mi++)
		free(raw[mi].v);
	if (r < 0) {
		nd_ruleset_free(rs);
		nd_error_set(e, r, 0, "out of memory compiling the policy");
		return r;
	}
	rs->p = p;
	qsort_r(rs->order, rs->n_order, 1, cmp_order, rs);
	*ret = rs;
	return 0;
}
