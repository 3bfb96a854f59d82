/* SPDX-License-Identifier: MIT */
/*
 * The layout of table inet bulkhead, as data (see netdom.h): which chains,
 * which rules in them (abstract expressions in nftables register terms),
 * which sets and what their elements hold. nft.c turns these into libnftnl
 * objects one for one; nothing here talks to the kernel.
 *
 *   prerouting (raw prio)  a vif's own iifname . ether saddr . ip(6) saddr: accept
 *                           (one lookup); else from a guest vif: jump spoof, where
 *                           iifname . ether saddr /
 *                           . ip saddr / . ip6 saddr must be in the vif's sets
 *   forward   (policy drop) ct invalid drop, established accept, then per
 *                           endpoint pair: counter objref map + verdict map,
 *                           keyed by [vif id | zone id | address] of each side,
 *                           l4proto, dport; ids come from iifname/oifname
 *                           through maps vif-id / vif-zone into meta / ct mark
 *
 * Ids rather than interface names keep a guest-to-guest key at 16 bytes
 * instead of 40: the kernel's interval maps (pipapo) cost in key bits, both
 * per packet and when a 10,000-element map is loaded.
 *   input     (policy drop) ct, loopback, icmp/icmpv6, then the rules to self:
 *                           per source kind a counter map + verdict map keyed
 *                           [source field] l4proto dport, like forward's; log
 *   reject, log-accept, log-drop, log-reject: shared verdict chains
 *
 * The forward chain has two rules per endpoint pair in use (at most 25
 * pairs) and a fixed handful more: a packet's cost is a bounded number of
 * map lookups whatever the number of guests or rules.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>

#include "bulkhead/parse.h"
#include "netdom.h"

#define GEN_PREFIX "bulkhead generation "

/* nftables' datatype numbers, so that `nft list` shows our set keys. */
enum { T_IPADDR = 7, T_IP6ADDR = 8, T_ETHERADDR = 9, T_PROTO = 12, T_SERVICE = 13, T_MARK = 19,
       T_IFNAME = 41 };

const struct nd_chain_spec nd_verdict_chains[5] = {
	{ "reject", -1, 0, 0 }, { "log-accept", -1, 0, 0 },
	{ "log-drop", -1, 0, 0 }, { "log-reject", -1, 0, 0 },
	{ "spoof", -1, 0, 0 },
};

const struct nd_chain_spec nd_base_chains[3] = {
	{ "prerouting", NF_INET_PRE_ROUTING, -300, NF_ACCEPT },
	{ "input", NF_INET_LOCAL_IN, 0, NF_DROP },
	{ "forward", NF_INET_FORWARD, 0, NF_DROP },
};

const struct nd_set_spec nd_spoof_specs[ND_SPOOF_SETS] = {
	{ "vifs", 0, 1, { 16 }, { T_IFNAME } },
	{ "vif-mac", 0, 2, { 16, 6 }, { T_IFNAME, T_ETHERADDR } },
	{ "vif-ip4", 0, 2, { 16, 4 }, { T_IFNAME, T_IPADDR } },
	{ "vif-ip6", 0, 2, { 16, 16 }, { T_IFNAME, T_IP6ADDR } },
	{ "vif-zone", NFT_SET_MAP, 1, { 16 }, { T_IFNAME }, T_MARK, 4 },
	{ "vif-id", NFT_SET_MAP, 1, { 16 }, { T_IFNAME }, T_MARK, 4 },
	/* The fast path: a vif's MAC and one of its addresses, in one lookup. */
	{ "vif-src4", 0, 3, { 16, 6, 4 }, { T_IFNAME, T_ETHERADDR, T_IPADDR } },
	{ "vif-src6", 0, 3, { 16, 6, 16 }, { T_IFNAME, T_ETHERADDR, T_IP6ADDR } },
};

/* ---- rules ---- */

static struct nd_xrule *rule_begin(struct nd_xrules *rs, const char *chain)
{
	struct nd_xrule *r;

	if (rs->err)
		return NULL;
	if (rs->n == rs->cap) {
		size_t ncap = rs->cap ? rs->cap * 2 : 32;
		struct nd_xrule *nv = reallocarray(rs->v, ncap, sizeof(*nv));

		if (!nv) {
			rs->err = -ENOMEM;
			return NULL;
		}
		rs->v = nv;
		rs->cap = ncap;
	}
	r = &rs->v[rs->n++];
	memset(r, 0, sizeof(*r));
	r->chain = chain;
	return r;
}

void nd_xrules_free(struct nd_xrules *r)
{
	if (!r)
		return;
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* Append one expression; a rule is built by the fixed code below, so overflow is a bug. */
static struct nd_x *x_add(struct nd_xrule *r, uint8_t op)
{
	struct nd_x *x;

	if (!r)
		return NULL;
	if (r->n == ND_X_MAX)
		abort();
	x = &r->x[r->n++];
	x->op = op;
	x->dreg = -1;
	return x;
}

static void x_reg(struct nd_xrule *r, uint8_t op, uint32_t key, uint32_t reg)
{
	struct nd_x *x = x_add(r, op);

	if (x) {
		x->key = key;
		x->reg = reg;
	}
}

static void x_payload(struct nd_xrule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t reg)
{
	struct nd_x *x = x_add(r, ND_X_PAYLOAD);

	if (x) {
		x->key = base;
		x->off = off;
		x->len = len;
		x->reg = reg;
	}
}

static void x_data(struct nd_xrule *r, uint8_t op, uint32_t key, uint32_t reg, const void *data,
		   uint32_t len)
{
	struct nd_x *x = x_add(r, op);

	if (x) {
		x->key = key;
		x->reg = reg;
		x->len = len;
		memcpy(x->data, data, len);
	}
}

static void x_named(struct nd_xrule *r, uint8_t op, const char *name, uint32_t reg, int32_t dreg,
		    bool invert)
{
	struct nd_x *x = x_add(r, op);

	if (x) {
		snprintf(x->name, sizeof(x->name), "%s", name ? name : "");
		x->reg = reg;
		x->dreg = dreg;
		x->invert = invert;
	}
}

static void x_verdict(struct nd_xrule *r, int32_t verdict, const char *chain)
{
	struct nd_x *x = x_add(r, ND_X_VERDICT);

	if (x) {
		x->verdict = verdict;
		snprintf(x->name, sizeof(x->name), "%s", chain ? chain : "");
	}
}

/* Rate-limited NFLOG: the limit comes first so that it gates the log. */
static void x_limited_log(struct nd_xrule *r, const char *prefix)
{
	x_add(r, ND_X_LIMIT);
	x_named(r, ND_X_LOG, prefix, 0, -1, false);
}

static void x_ct_state(struct nd_xrule *r, uint32_t bits, uint32_t op)
{
	uint32_t zero = 0;

	x_reg(r, ND_X_CT, NFT_CT_STATE, NFT_REG_1);
	x_data(r, ND_X_BITWISE, 0, NFT_REG_1, &bits, 4);
	x_data(r, ND_X_CMP, op, NFT_REG_1, &zero, 4);
}

static void x_nfproto(struct nd_xrule *r, uint8_t proto)
{
	x_reg(r, ND_X_META, NFT_META_NFPROTO, NFT_REG_1);
	x_data(r, ND_X_CMP, NFT_CMP_EQ, NFT_REG_1, &proto, 1);
}

/* Register for byte offset @off of the key: a 16-byte register when aligned, as nft does. */
static uint32_t key_reg(unsigned off)
{
	return off % 16 == 0 ? NFT_REG_1 + off / 16 : NFT_REG32_00 + off / 4;
}

/*
 * A vif or zone id, from the interface name through a hash map, into meta
 * mark (source side) or ct mark (destination side). An interface that is not
 * a guest's, or a guest without a zone, has no element: the lookup ends the
 * rule, no match. Every rule sets the marks it reads, so no stale value from
 * an earlier rule is ever used. (A lookup result cannot feed a concatenation
 * directly: `nft list` could not show such a rule.)
 */
static void mark_slot(struct nd_xrule *r, uint8_t slot, bool src)
{
	if (slot != ND_SLOT_GUEST && slot != ND_SLOT_ZONE)
		return;
	x_reg(r, ND_X_META, src ? NFT_META_IIFNAME : NFT_META_OIFNAME, NFT_REG_1);
	x_named(r, ND_X_LOOKUP, slot == ND_SLOT_GUEST ? "vif-id" : "vif-zone", NFT_REG_1,
		NFT_REG_1, false);
	x_reg(r, src ? ND_X_META_SET : ND_X_CT_SET, src ? NFT_META_MARK : NFT_CT_MARK, NFT_REG_1);
}

/* Load one endpoint field of a map key at byte @off; @src: source side. */
static void load_slot(struct nd_xrule *r, uint8_t slot, bool src, unsigned off)
{
	uint32_t reg = key_reg(off);

	switch (slot) {
	case ND_SLOT_GUEST:
	case ND_SLOT_ZONE:
		x_reg(r, src ? ND_X_META : ND_X_CT, src ? NFT_META_MARK : NFT_CT_MARK, reg);
		break;
	case ND_SLOT_NET4:
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, src ? 12 : 16, 4, reg);
		break;
	case ND_SLOT_NET6:
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, src ? 8 : 24, 16, reg);
		break;
	default:
		break;
	}
}

static unsigned pad4(unsigned n)
{
	return (n + 3) & ~3u;
}

/* The key of map @m: [src field][dst field][l4proto][th dport], as compile.c lays it out. */
static void load_key(struct nd_xrule *r, const struct nd_map *m)
{
	unsigned off = 0, f = 0;

	if (m->src == ND_SLOT_NET4 || m->dst == ND_SLOT_NET4)
		x_nfproto(r, NFPROTO_IPV4);
	if (m->src == ND_SLOT_NET6 || m->dst == ND_SLOT_NET6)
		x_nfproto(r, NFPROTO_IPV6);
	mark_slot(r, m->src, true);
	mark_slot(r, m->dst, false);
	if (nd_slot_keyed(m->src)) {
		load_slot(r, m->src, true, off);
		off += pad4(m->field_len[f++]);
	}
	if (nd_slot_keyed(m->dst)) {
		load_slot(r, m->dst, false, off);
		off += pad4(m->field_len[f++]);
	}
	x_reg(r, ND_X_META, NFT_META_L4PROTO, key_reg(off));
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, key_reg(off + 4));
}

static void map_names(const struct nd_map *m, char *vmap, char *cmap)
{
	static const char *const slot[ND_SLOT_MAX_] = { "any", "guest", "zone", "net4", "net6",
							 "self" };

	snprintf(vmap, ND_NAME_MAX, "allow-%s-%s", slot[m->src], slot[m->dst]);
	snprintf(cmap, ND_NAME_MAX, "count-%s-%s", slot[m->src], slot[m->dst]);
}

static void pair_map_rules(struct nd_xrules *rs, const struct nd_map *m, const char *chain)
{
	char vmap[ND_NAME_MAX], cmap[ND_NAME_MAX];
	struct nd_xrule *r;

	map_names(m, vmap, cmap);
	r = rule_begin(rs, chain);
	load_key(r, m);
	x_named(r, ND_X_COUNTER_MAP, cmap, NFT_REG_1, -1, false);
	r = rule_begin(rs, chain);
	load_key(r, m);
	x_named(r, ND_X_LOOKUP, vmap, NFT_REG_1, NFT_REG_VERDICT, false);
}

/* The counter and verdict rules of the maps in use that belong to @chain, most specific first. */
static void pair_rules(struct nd_xrules *rs, const struct nd_ruleset *set, const char *chain)
{
	bool input = !strcmp(chain, "input");

	for (size_t i = 0; i < set->n_order; i++) {
		const struct nd_map *m = &set->maps[set->order[i]];

		if ((m->dst == ND_SLOT_SELF) == input)
			pair_map_rules(rs, m, chain);
	}
}

static void ct_rules(struct nd_xrules *rs, const char *chain)
{
	struct nd_xrule *r = rule_begin(rs, chain);

	x_ct_state(r, NF_CT_STATE_INVALID_BIT, NFT_CMP_NEQ);
	x_verdict(r, NF_DROP, NULL);
	r = rule_begin(rs, chain);
	x_ct_state(r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED),
		   NFT_CMP_NEQ);
	x_verdict(r, NF_ACCEPT, NULL);
}

static void default_rule(struct nd_xrules *rs, const char *chain, uint8_t action)
{
	struct nd_xrule *r = rule_begin(rs, chain);

	x_named(r, ND_X_COUNTER, "default-drop", 0, -1, false);
	x_limited_log(r, "bh-drop ");
	if (action == BH_POLICY_REJECT)
		x_verdict(r, NFT_GOTO, "reject");
}

static void input_rules(struct nd_xrules *rs, const struct nd_ruleset *set)
{
	static const uint8_t icmp[] = { IPPROTO_ICMP, IPPROTO_ICMPV6 };
	uint16_t loopback = 772; /* ARPHRD_LOOPBACK */
	struct nd_xrule *r;

	ct_rules(rs, "input");
	r = rule_begin(rs, "input");
	x_reg(r, ND_X_META, NFT_META_IIFTYPE, NFT_REG_1);
	x_data(r, ND_X_CMP, NFT_CMP_EQ, NFT_REG_1, &loopback, 2);
	x_verdict(r, NF_ACCEPT, NULL);
	for (size_t i = 0; i < BH_ARRAY_SIZE(icmp); i++) {
		r = rule_begin(rs, "input");
		x_reg(r, ND_X_META, NFT_META_L4PROTO, NFT_REG_1);
		x_data(r, ND_X_CMP, NFT_CMP_EQ, NFT_REG_1, &icmp[i], 1);
		x_verdict(r, NF_ACCEPT, NULL);
	}
	pair_rules(rs, set, "input");
	default_rule(rs, "input", set->p->default_action);
}

/*
 * Anti-spoofing, on every packet, established or not (conntrack does not
 * bind a flow to its interface, so a forged packet could join another
 * guest's connection). The common case costs one lookup: an IP packet whose
 * iifname . ether saddr . ip saddr is a vif's own is accepted at once (this
 * base chain only: forward still judges it). Everything else from a guest
 * vif (ARP, link-local IPv6, forgeries) goes to chain spoof, which lets
 * through only the vif's MAC (fam 0) and its addresses (fam 1: v4, 2: v6).
 */
static void spoof_fast_path(struct nd_xrules *rs, int fam)
{
	struct nd_xrule *r = rule_begin(rs, "prerouting");

	x_nfproto(r, fam == 1 ? NFPROTO_IPV4 : NFPROTO_IPV6);
	x_reg(r, ND_X_META, NFT_META_IIFNAME, NFT_REG_1);
	x_payload(r, NFT_PAYLOAD_LL_HEADER, 6, 6, NFT_REG_2);
	/* The key is a concatenation in 32-bit registers: 16 + 8 (6 padded) bytes before the address. */
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, fam == 1 ? 12 : 8, fam == 1 ? 4 : 16,
		  NFT_REG32_00 + 6);
	x_named(r, ND_X_LOOKUP, fam == 1 ? "vif-src4" : "vif-src6", NFT_REG_1, -1, false);
	x_verdict(r, NF_ACCEPT, NULL);
}

static void spoof_jump(struct nd_xrules *rs)
{
	struct nd_xrule *r = rule_begin(rs, "prerouting");

	x_reg(r, ND_X_META, NFT_META_IIFNAME, NFT_REG_1);
	x_named(r, ND_X_LOOKUP, "vifs", NFT_REG_1, -1, false);
	x_verdict(r, NFT_JUMP, "spoof");
}

static void spoof_rule(struct nd_xrules *rs, int fam)
{
	static const uint8_t ll_mask[16] = { 0xff, 0xc0 }, ll[16] = { 0xfe, 0x80 }, any6[16];
	static const char *const set[] = { "vif-mac", "vif-ip4", "vif-ip6" };
	struct nd_xrule *r = rule_begin(rs, "spoof");

	if (fam == 1)
		x_nfproto(r, NFPROTO_IPV4);
	if (fam == 2) {
		x_nfproto(r, NFPROTO_IPV6);
		/* Link-local and unspecified sources (ND, DAD) stay on the link. */
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 8, 16, NFT_REG_1);
		x_data(r, ND_X_CMP, NFT_CMP_NEQ, NFT_REG_1, any6, 16);
		x_data(r, ND_X_BITWISE, 0, NFT_REG_1, ll_mask, 16);
		x_data(r, ND_X_CMP, NFT_CMP_NEQ, NFT_REG_1, ll, 16);
	}
	x_reg(r, ND_X_META, NFT_META_IIFNAME, NFT_REG_1);
	if (fam == 0)
		x_payload(r, NFT_PAYLOAD_LL_HEADER, 6, 6, NFT_REG_2);
	else
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, fam == 1 ? 12 : 8, fam == 1 ? 4 : 16,
			  NFT_REG_2);
	x_named(r, ND_X_LOOKUP, set[fam], NFT_REG_1, -1, true);
	x_named(r, ND_X_COUNTER, "spoof", 0, -1, false);
	x_limited_log(r, "bh-spoof ");
	x_verdict(r, NF_DROP, NULL);
}

void nd_table_verdict_rules(struct nd_xrules *rs)
{
	static const struct { const char *chain, *prefix; int verdict; const char *to; } lc[] = {
		{ "log-accept", "bh-accept ", NF_ACCEPT, NULL },
		{ "log-drop", "bh-drop ", NF_DROP, NULL },
		{ "log-reject", "bh-reject ", NFT_GOTO, "reject" },
	};
	uint8_t tcp = IPPROTO_TCP, code = NFT_REJECT_ICMPX_ADMIN_PROHIBITED;
	struct nd_xrule *r = rule_begin(rs, "reject");

	x_reg(r, ND_X_META, NFT_META_L4PROTO, NFT_REG_1);
	x_data(r, ND_X_CMP, NFT_CMP_EQ, NFT_REG_1, &tcp, 1);
	x_data(r, ND_X_REJECT, NFT_REJECT_TCP_RST, 0, "", 1);
	r = rule_begin(rs, "reject");
	x_data(r, ND_X_REJECT, NFT_REJECT_ICMPX_UNREACH, 0, &code, 1);
	for (size_t i = 0; i < BH_ARRAY_SIZE(lc); i++) {
		r = rule_begin(rs, lc[i].chain);
		x_limited_log(r, lc[i].prefix);
		x_verdict(r, lc[i].verdict, lc[i].to);
	}
}

void nd_table_base_rules(const struct nd_ruleset *rs, struct nd_xrules *out)
{
	spoof_fast_path(out, 1);
	spoof_fast_path(out, 2);
	spoof_jump(out);
	for (int fam = 0; fam < 3; fam++)
		spoof_rule(out, fam);
	input_rules(out, rs);
	ct_rules(out, "forward");
	pair_rules(out, rs, "forward");
	default_rule(out, "forward", rs->p->default_action);
}

/* ---- sets and elements ---- */

uint32_t nd_set_key_len(const struct nd_set_spec *s)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < s->n_fields; i++)
		n += pad4(s->field_len[i]);
	return s->n_fields == 1 ? s->field_len[0] : n;
}

void nd_pair_specs(const struct nd_map *m, struct nd_set_spec *vs, struct nd_set_spec *cs)
{
	static const uint8_t slot_type[ND_SLOT_MAX_] = {
		[ND_SLOT_GUEST] = T_MARK, [ND_SLOT_ZONE] = T_MARK,
		[ND_SLOT_NET4] = T_IPADDR, [ND_SLOT_NET6] = T_IP6ADDR,
	};
	unsigned n = 0;

	memset(vs, 0, sizeof(*vs));
	if (nd_slot_keyed(m->src))
		vs->field_type[n++] = slot_type[m->src];
	if (nd_slot_keyed(m->dst))
		vs->field_type[n++] = slot_type[m->dst];
	vs->field_type[n++] = T_PROTO;
	vs->field_type[n++] = T_SERVICE;
	vs->n_fields = m->n_fields;
	memcpy(vs->field_len, m->field_len, m->n_fields);
	*cs = *vs;
	map_names(m, vs->name, cs->name);
	vs->flags = NFT_SET_INTERVAL | NFT_SET_MAP;
	vs->data_type = NFT_DATA_VERDICT;
	cs->flags = NFT_SET_INTERVAL | NFT_SET_OBJECT;
	cs->obj_type = NFT_OBJECT_COUNTER;
}

void nd_rule_verdict(const struct nd_rule *r, struct nd_elem_val *v)
{
	static const char *const log_chain[BH_POLICY_ACTION_MAX_] = {
		[BH_POLICY_ACCEPT] = "log-accept", [BH_POLICY_DROP] = "log-drop",
		[BH_POLICY_REJECT] = "log-reject",
	};

	v->is_verdict = true;
	if (r->m.flags & BH_POLICY_RULE_LOG)
		v->chain = log_chain[r->m.action];
	else if (r->m.action == BH_POLICY_REJECT)
		v->chain = "reject";
	else
		v->verdict = r->m.action == BH_POLICY_ACCEPT ? NF_ACCEPT : NF_DROP;
}

/* A key of the vif's name and up to two more fields, each padded to 32 bits. */
static struct nd_vif_elem *vif_elem2(struct nd_vif_elem *e, const struct nd_vif *v, uint8_t set,
				     const void *f1, uint32_t len1, const void *f2, uint32_t len2)
{
	memset(e, 0, sizeof(*e));
	e->set = set;
	memcpy(e->key, v->m.ifname, 16);
	e->key_len = 16;
	if (len1)
		memcpy(e->key + e->key_len, f1, len1), e->key_len += pad4(len1);
	if (len2)
		memcpy(e->key + e->key_len, f2, len2), e->key_len += pad4(len2);
	return e;
}

static struct nd_vif_elem *vif_elem(struct nd_vif_elem *e, const struct nd_vif *v, uint8_t set,
				    const void *tail, uint32_t tail_len)
{
	return vif_elem2(e, v, set, tail, tail_len, NULL, 0);
}

size_t nd_vif_elems(const struct nd_policy *p, const struct nd_vif *v, struct nd_vif_elem *out)
{
	uint32_t zone = p->guests[v->guest].zone;
	size_t n = 0;

	vif_elem(&out[n++], v, 0, NULL, 0);
	vif_elem(&out[n++], v, 1, v->m.mac, 6);
	for (unsigned a = 0; a < v->m.n_addrs; a++) {
		bool v4 = v->m.addrs[a].family == 4;

		vif_elem(&out[n++], v, v4 ? 2 : 3, v->m.addrs[a].addr, v4 ? 4 : 16);
		vif_elem2(&out[n++], v, v4 ? 6 : 7, v->m.mac, 6, v->m.addrs[a].addr, v4 ? 4 : 16);
	}
	if (zone)
		vif_elem(&out[n++], v, 4, NULL, 0)->data = nd_zone_id(zone - 1);
	vif_elem(&out[n++], v, 5, NULL, 0)->data = nd_vif_id((uint32_t)(v - p->vifs));
	return n;
}

/* ---- names ---- */

void nd_counter_name(uint32_t rule_id, char *out, size_t len)
{
	snprintf(out, len, "r%u", rule_id);
}

int nd_counter_parse(const char *untrusted_name, uint32_t *ret_id)
{
	if (untrusted_name[0] != 'r')
		return -EINVAL;
	return bh_parse_u32(untrusted_name + 1, 1, UINT32_MAX, ret_id);
}

void nd_generation_comment(uint64_t generation, char *out, size_t len)
{
	snprintf(out, len, GEN_PREFIX "%llu", (unsigned long long)generation);
}

int nd_generation_parse(const char *untrusted, size_t len, uint64_t *ret)
{
	char s[64];

	if (len == 0 || len >= sizeof(s))
		return -EINVAL;
	memcpy(s, untrusted, len);
	s[len] = '\0';
	if (!bh_startswith(s, GEN_PREFIX))
		return -EINVAL;
	return bh_parse_u64(s + strlen(GEN_PREFIX), 1, UINT64_MAX, ret);
}
