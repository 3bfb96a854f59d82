/* SPDX-License-Identifier: MIT */
/*
 * The nftables adapter: the only file that includes libnftnl and libmnl.
 *
 * nd_nft_apply() builds table inet bulkhead from a compiled ruleset as one
 * nfnetlink batch (BEGIN, NEWTABLE, DELTABLE, NEWTABLE, objects, sets,
 * elements, chains, rules, END), sends it in one sendmsg, and reads one ACK
 * per message. The kernel applies a batch whole or not at all, so on any
 * error the previous table stays in force; each message's sequence number
 * records which policy rule it came from, which is how an error names a rule
 * (as nftables' mnl_batch_talk does for its command lines).
 *
 * What goes in the table (chains, rules as abstract expressions, set specs,
 * element values) is decided by table.c in plain C; this file turns each item
 * into libnftnl objects and talks to the kernel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "netdom.h"

#define FAMILY NFPROTO_INET
#define ELEMS_PER_MSG 128
struct nd_nft {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

int nd_nft_open(struct nd_nft **ret)
{
	struct nd_nft *n = calloc(1, sizeof(*n));

	if (!n)
		return -ENOMEM;
	n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!n->nl || mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		nd_nft_close(n);
		return r;
	}
	/* Errors carry only the header of the refused message: ACKs stay small. */
	mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &(int){ 1 }, sizeof(int));
	n->portid = mnl_socket_get_portid(n->nl);
	n->seq = (uint32_t)time(NULL) << 8;
	*ret = n;
	return 0;
}

void nd_nft_close(struct nd_nft *n)
{
	if (!n)
		return;
	if (n->nl)
		mnl_socket_close(n->nl);
	free(n);
}

/* Start a message of @type with NLM_F_ACK; the caller fills its payload. */
static struct nlmsghdr *msg_start(struct nd_batch *b, uint16_t type, uint16_t flags)
{
	char *p = nd_batch_room(b);

	if (!p || nd_batch_record(b) < 0)
		return NULL;
	return nftnl_nlmsg_build_hdr(p, type, FAMILY, flags | NLM_F_ACK, b->seq);
}

static void msg_end(struct nd_batch *b, struct nlmsghdr *nlh)
{
	nd_batch_done(b, nlh->nlmsg_len);
}

/* ---- table, objects, sets ---- */

static void add_table(struct nd_batch *b, uint16_t type, uint16_t flags, uint64_t generation)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_udata_buf *ud = NULL;
	struct nlmsghdr *nlh;
	char comment[64];

	if (!t) {
		b->err = -ENOMEM;
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, ND_TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, FAMILY);
	if (type == NFT_MSG_NEWTABLE && generation) {
		/* The generation rides in the table's comment: nft shows it, a restarted netdomd reads it. */
		nd_generation_comment(generation, comment, sizeof(comment));
		ud = nftnl_udata_buf_alloc(128);
		if (!ud || !nftnl_udata_put_strz(ud, NFTNL_UDATA_TABLE_COMMENT, comment))
			b->err = -ENOMEM;
		else
			nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud),
					     nftnl_udata_buf_len(ud));
	}
	nlh = msg_start(b, type, flags);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		msg_end(b, nlh);
	}
	nftnl_udata_buf_free(ud);
	nftnl_table_free(t);
}

static void add_counter(struct nd_batch *b, const char *name)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	struct nlmsghdr *nlh;

	if (!o) {
		b->err = -ENOMEM;
		return;
	}
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, ND_TABLE);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, FAMILY);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nlh = msg_start(b, NFT_MSG_NEWOBJ, NLM_F_CREATE);
	if (nlh) {
		nftnl_obj_nlmsg_build_payload(nlh, o);
		msg_end(b, nlh);
	}
	nftnl_obj_free(o);
}

static struct nftnl_set *set_new(const struct nd_set_spec *s)
{
	struct nftnl_set *set = nftnl_set_alloc();

	if (!set)
		return NULL;
	nftnl_set_set_str(set, NFTNL_SET_TABLE, ND_TABLE);
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, FAMILY);
	nftnl_set_set_str(set, NFTNL_SET_NAME, s->name);
	return set;
}

static void add_set(struct nd_batch *b, const struct nd_set_spec *s)
{
	struct nftnl_set *set = set_new(s);
	uint32_t key_type = 0;
	struct nlmsghdr *nlh;

	if (!set) {
		b->err = -ENOMEM;
		return;
	}
	for (unsigned i = 0; i < s->n_fields; i++)
		key_type = key_type << 6 | s->field_type[i];
	bool iconcat = s->n_fields > 1 && (s->flags & NFT_SET_INTERVAL);

	nftnl_set_set_u32(set, NFTNL_SET_FLAGS, s->flags | (iconcat ? NFT_SET_CONCAT : 0));
	nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(set, NFTNL_SET_ID, ++b->set_id); /* the kernel requires one per set */
	nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, nd_set_key_len(s));
	if (s->flags & NFT_SET_MAP) {
		nftnl_set_set_u32(set, NFTNL_SET_DATA_TYPE, s->data_type);
		if (s->data_len)
			nftnl_set_set_u32(set, NFTNL_SET_DATA_LEN, s->data_len);
	}
	if (s->flags & NFT_SET_OBJECT)
		nftnl_set_set_u32(set, NFTNL_SET_OBJ_TYPE, s->obj_type);
	if (iconcat) {
		uint8_t lens[NFT_REG32_COUNT] = { 0 };

		memcpy(lens, s->field_len, s->n_fields);
		nftnl_set_set_data(set, NFTNL_SET_DESC_CONCAT, lens, s->n_fields);
	}
	nd_batch_origin(b, -1, s->name);
	nlh = msg_start(b, NFT_MSG_NEWSET, NLM_F_CREATE);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, set);
		msg_end(b, nlh);
	}
	nftnl_set_free(set);
}

/* Element flush: elements accumulate on @set and go out ELEMS_PER_MSG at a time. */
static void elems_flush(struct nd_batch *b, struct nftnl_set **setp, const struct nd_set_spec *s)
{
	struct nlmsghdr *nlh;

	if (!*setp)
		return;
	nlh = msg_start(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE);
	if (nlh) {
		nftnl_set_elems_nlmsg_build_payload(nlh, *setp);
		msg_end(b, nlh);
	}
	nftnl_set_free(*setp);
	*setp = set_new(s);
	if (!*setp)
		b->err = -ENOMEM;
}

static void elem_add(struct nd_batch *b, struct nftnl_set *set, const struct nd_elem_val *v)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	if (!e) {
		b->err = -ENOMEM;
		return;
	}
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, v->key, v->key_len);
	if (v->key_end)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, v->key_end, v->key_len);
	if (v->chain) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NFT_GOTO);
		nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, v->chain);
	} else if (v->data) {
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, v->data, v->data_len);
	} else if (v->obj) {
		nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_OBJREF, v->obj);
	} else if (v->is_verdict) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)v->verdict);
	}
	nftnl_set_elem_add(set, e);
}

/* ---- chains ---- */

static void add_chain(struct nd_batch *b, const struct nd_chain_spec *s)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c) {
		b->err = -ENOMEM;
		return;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, ND_TABLE);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, FAMILY);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, s->name);
	if (s->hook >= 0) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)s->hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, s->prio);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, (uint32_t)s->policy);
	}
	nlh = msg_start(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		msg_end(b, nlh);
	}
	nftnl_chain_free(c);
}

/* ---- rules: table.c's abstract expressions as nftnl expressions ---- */

static void x_regs(struct nftnl_expr *e, const struct nd_x *x)
{
	switch (x->op) {
	case ND_X_META:
	case ND_X_META_SET:
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, x->key);
		nftnl_expr_set_u32(e, x->op == ND_X_META ? NFTNL_EXPR_META_DREG
							 : NFTNL_EXPR_META_SREG, x->reg);
		break;
	case ND_X_CT:
	case ND_X_CT_SET:
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, x->key);
		nftnl_expr_set_u32(e, x->op == ND_X_CT ? NFTNL_EXPR_CT_DREG : NFTNL_EXPR_CT_SREG,
				   x->reg);
		break;
	case ND_X_PAYLOAD:
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, x->key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, x->off);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, x->len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, x->reg);
		break;
	case ND_X_CMP:
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, x->reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, x->key);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, x->data, x->len);
		break;
	default:
		break;
	}
}

static void x_more(struct nftnl_expr *e, const struct nd_x *x)
{
	static const uint8_t zero[16];

	switch (x->op) {
	case ND_X_BITWISE:
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, x->reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, x->reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, x->len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, x->data, x->len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, x->len);
		break;
	case ND_X_LOOKUP:
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, x->name);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, x->reg);
		if (x->dreg >= 0)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)x->dreg);
		if (x->invert)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
		break;
	default:
		x_regs(e, x);
		break;
	}
}

static void x_set(struct nftnl_expr *e, const struct nd_x *x)
{
	switch (x->op) {
	case ND_X_COUNTER:
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, x->name);
		break;
	case ND_X_COUNTER_MAP:
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_SET_SREG, x->reg);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_SET_NAME, x->name);
		break;
	case ND_X_VERDICT:
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)x->verdict);
		if (x->name[0])
			nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, x->name);
		break;
	case ND_X_LIMIT:
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, ND_LOG_RATE);
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, ND_LOG_BURST);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
		break;
	case ND_X_LOG:
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, ND_NFLOG_GROUP);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, x->name);
		break;
	case ND_X_REJECT:
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, x->key);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, x->data[0]);
		break;
	default:
		x_more(e, x);
		break;
	}
}

static struct nftnl_expr *x_expr(const struct nd_x *x)
{
	static const char *const kind[] = {
		[ND_X_META] = "meta", [ND_X_META_SET] = "meta", [ND_X_CT] = "ct",
		[ND_X_CT_SET] = "ct", [ND_X_PAYLOAD] = "payload", [ND_X_CMP] = "cmp",
		[ND_X_BITWISE] = "bitwise", [ND_X_LOOKUP] = "lookup",
		[ND_X_COUNTER] = "objref", [ND_X_COUNTER_MAP] = "objref",
		[ND_X_VERDICT] = "immediate", [ND_X_LIMIT] = "limit", [ND_X_LOG] = "log",
		[ND_X_REJECT] = "reject",
	};
	struct nftnl_expr *e = nftnl_expr_alloc(kind[x->op]);

	if (e)
		x_set(e, x);
	return e;
}

static void add_rule(struct nd_batch *b, const struct nd_xrule *xr)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	if (!r) {
		b->err = -ENOMEM;
		return;
	}
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, ND_TABLE);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, FAMILY);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, xr->chain);
	for (unsigned i = 0; i < xr->n; i++) {
		struct nftnl_expr *e = x_expr(&xr->x[i]);

		if (!e)
			b->err = -ENOMEM;
		else
			nftnl_rule_add_expr(r, e);
	}
	nlh = msg_start(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
	if (nlh) {
		nftnl_rule_nlmsg_build_payload(nlh, r);
		msg_end(b, nlh);
	}
	nftnl_rule_free(r);
}

static void add_rules(struct nd_batch *b, struct nd_xrules *xr)
{
	if (xr->err && !b->err)
		b->err = xr->err;
	for (size_t i = 0; i < xr->n; i++)
		add_rule(b, &xr->v[i]);
	nd_xrules_free(xr);
}

/* ---- set contents ---- */

/*
 * An endpoint pair's elements, ELEMS_PER_MSG a message even across rules (a third fewer
 * messages and ACKs); a refused one makes nd_nft_apply() rebuild per rule to name it.
 */
static void add_pair_elems(struct nd_batch *b, const struct nd_policy *p, const struct nd_map *m)
{
	struct nd_set_spec vs, cs;
	struct nftnl_set *vset, *cset;
	char ctr[24];
	size_t in_msg = 0, first = 0;

	nd_pair_specs(m, &vs, &cs);
	vset = set_new(&vs);
	cset = set_new(&cs);
	for (size_t i = 0; b->err == 0 && vset && cset && i < m->n; i++) {
		const struct nd_rule *r = &p->rules[m->v[i].rule];
		struct nd_elem_val v = { m->v[i].lo, m->v[i].hi, m->key_len };

		if (in_msg == 0)
			first = i;
		nd_rule_verdict(r, &v);
		elem_add(b, vset, &v);
		nd_counter_name(r->m.id, ctr, sizeof(ctr));
		elem_add(b, cset, &(struct nd_elem_val){ m->v[i].lo, m->v[i].hi, m->key_len,
							 .obj = ctr });
		if (++in_msg == ELEMS_PER_MSG || i + 1 == m->n ||
		    (b->one_rule_per_msg && m->v[i + 1].rule != m->v[i].rule)) {
			nd_batch_origin(b, m->v[first].rule, NULL);
			b->cur.rule_last = m->v[i].rule;
			elems_flush(b, &vset, &vs);
			elems_flush(b, &cset, &cs);
			in_msg = 0;
		}
	}
	if (!vset || !cset)
		b->err = -ENOMEM;
	if (vset)
		nftnl_set_free(vset);
	if (cset)
		nftnl_set_free(cset);
}

static void add_pair_sets(struct nd_batch *b, const struct nd_map *m)
{
	struct nd_set_spec vs, cs;

	nd_pair_specs(m, &vs, &cs);
	add_set(b, &vs);
	add_set(b, &cs);
}

/* One message per vif for each set: an error names the vif. */
static void add_vif_elems(struct nd_batch *b, const struct nd_policy *p, const struct nd_vif *v)
{
	struct nd_vif_elem el[ND_VIF_ELEMS_MAX];
	struct nftnl_set *s[ND_SPOOF_SETS] = { 0 };
	size_t n = nd_vif_elems(p, v, el);

	for (size_t i = 0; i < n && !b->err; i++) {
		struct nd_elem_val ev = { el[i].key, NULL, el[i].key_len };
		uint32_t data = el[i].data;

		if (!s[el[i].set] && !(s[el[i].set] = set_new(&nd_spoof_specs[el[i].set]))) {
			b->err = -ENOMEM;
			break;
		}
		if (nd_spoof_specs[el[i].set].flags & NFT_SET_MAP) {
			ev.data = &data;
			ev.data_len = 4;
		}
		elem_add(b, s[el[i].set], &ev);
	}
	for (size_t i = 0; i < ND_SPOOF_SETS; i++) {
		if (s[i] && !b->err)
			elems_flush(b, &s[i], &nd_spoof_specs[i]);
		if (s[i]) /* nftnl_set_free() does not take NULL */
			nftnl_set_free(s[i]);
	}
}

/* ---- the whole table ---- */

static void build_objects(struct nd_batch *b, const struct nd_ruleset *rs)
{
	const struct nd_policy *p = rs->p;
	struct nd_xrules xr = { 0 };
	char name[24];

	nd_batch_origin(b, -1, "counters");
	add_counter(b, "default-drop");
	add_counter(b, "spoof");
	for (uint32_t i = 0; i < p->n_rules; i++) {
		nd_batch_origin(b, i, NULL);
		nd_counter_name(p->rules[i].m.id, name, sizeof(name));
		add_counter(b, name);
	}
	nd_batch_origin(b, -1, "sets");
	for (size_t i = 0; i < ND_SPOOF_SETS; i++)
		add_set(b, &nd_spoof_specs[i]);
	for (size_t i = 0; i < rs->n_order; i++)
		add_pair_sets(b, &rs->maps[rs->order[i]]);
	nd_batch_origin(b, -1, "chains");
	/* The verdict chains exist before the elements that jump to them. */
	for (size_t i = 0; i < BH_ARRAY_SIZE(nd_verdict_chains); i++)
		add_chain(b, &nd_verdict_chains[i]);
	nd_table_verdict_rules(&xr);
	add_rules(b, &xr);
	for (uint32_t i = 0; i < p->n_vifs; i++) {
		nd_batch_origin(b, -1, p->vifs[i].m.ifname);
		add_vif_elems(b, p, &p->vifs[i]);
	}
	for (size_t i = 0; i < rs->n_order; i++)
		add_pair_elems(b, p, &rs->maps[rs->order[i]]);
}

static void build_chains(struct nd_batch *b, const struct nd_ruleset *rs)
{
	struct nd_xrules xr = { 0 };

	nd_batch_origin(b, -1, "chains");
	for (size_t i = 0; i < BH_ARRAY_SIZE(nd_base_chains); i++)
		add_chain(b, &nd_base_chains[i]);
	nd_table_base_rules(rs, &xr);
	add_rules(b, &xr);
}

static void build(struct nd_batch *b, const struct nd_ruleset *rs)
{
	struct nlmsghdr *nlh;
	char *p = nd_batch_room(b);

	if (!p)
		return;
	nlh = nftnl_batch_begin(p, b->seq++);
	b->len += nlh->nlmsg_len;
	b->seq0 = b->seq;
	nd_batch_origin(b, -1, "table");
	/* Create-if-missing then delete, so the delete cannot fail: nft's own idiom. */
	add_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, 0);
	add_table(b, NFT_MSG_DELTABLE, 0, 0);
	add_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, rs->p->generation);
	build_objects(b, rs);
	build_chains(b, rs);
	p = nd_batch_room(b);
	if (!p)
		return;
	nlh = nftnl_batch_end(p, b->seq++);
	b->len += nlh->nlmsg_len;
}

/* ---- talking to the kernel ---- */

static int set_bufs(struct nd_nft *n, size_t snd, size_t rcv)
{
	int fd = mnl_socket_get_fd(n->nl);
	int s = snd > INT32_MAX ? INT32_MAX : (int)snd, r = rcv > INT32_MAX ? INT32_MAX : (int)rcv;

	/* FORCE needs CAP_NET_ADMIN, which netdomd has; the plain call is the fallback. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &s, sizeof(s)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s, sizeof(s)) < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &r, sizeof(r)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r, sizeof(r)) < 0)
		return -errno;
	return 0;
}

struct acks {
	const struct nd_batch *b;
	size_t acked;
	uint32_t err_seq;
	int err; /* first error the kernel reported */
};

/* One reply: every one must be an ACK or error for a sequence number we sent. */
static int ack_one(const struct nlmsghdr *nlh, struct acks *a)
{
	const struct nlmsgerr *untrusted_err;

	if (nlh->nlmsg_type != NLMSG_ERROR)
		return 0; /* no other replies are requested; ignore (NLMSG_DONE etc.) */
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*untrusted_err)))
		return -EBADMSG;
	untrusted_err = mnl_nlmsg_get_payload(nlh);
	if (!nd_batch_owns(a->b, nlh->nlmsg_seq))
		return -EBADMSG;
	a->acked++;
	if (untrusted_err->error < 0 && !a->err) {
		a->err = untrusted_err->error < -4095 ? -EIO : untrusted_err->error;
		a->err_seq = nlh->nlmsg_seq;
	}
	return 0;
}

#define ACK_VEC 256
#define ACK_BUF 512 /* an ACK, or an error with NETLINK_CAP_ACK: header + nlmsgerr */

/* Every reply, ACK_VEC datagrams per system call: a 10,000-rule batch has ~25,000. */
static int read_acks(struct nd_nft *n, struct acks *a)
{
	static char buf[ACK_VEC][ACK_BUF];
	struct mmsghdr mm[ACK_VEC];
	struct iovec iov[ACK_VEC];
	int fd = mnl_socket_get_fd(n->nl);

	for (unsigned i = 0; i < ACK_VEC; i++) {
		iov[i] = (struct iovec){ buf[i], ACK_BUF };
		mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	/* The kernel processes the batch inside sendmsg: every reply is queued by now. */
	while (a->acked < a->b->n_orig) {
		int got = recvmmsg(fd, mm, ACK_VEC, MSG_DONTWAIT, NULL);

		if (got < 0)
			return errno == EAGAIN ? (a->err ? 0 : -EIO) : -errno;
		for (int i = 0; i < got; i++) {
			const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf[i];
			int rem = (int)mm[i].msg_len;

			if (mm[i].msg_hdr.msg_flags & MSG_TRUNC)
				return -EBADMSG;
			for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem))
				if (ack_one(nlh, a) < 0)
					return -EBADMSG;
		}
	}
	return 0;
}

static int apply_once(struct nd_nft *n, const struct nd_ruleset *rs, bool fine,
		      struct nd_error *e, bool *ret_spans)
{
	struct nd_batch b = { .seq = n->seq, .rs = rs, .one_rule_per_msg = fine };
	struct acks a = { .b = &b };
	int r;

	build(&b, rs);
	n->seq = b.seq;
	r = b.err;
	if (r == 0)
		r = set_bufs(n, b.len + 65536, b.n_orig * 1024 + (1 << 20));
	if (r == 0 && mnl_socket_sendto(n->nl, b.buf, b.len) < 0)
		r = -errno;
	if (r == 0)
		r = read_acks(n, &a);
	if (r < 0)
		nd_error_set(e, r, 0, "applying the ruleset: %s", strerror(-r));
	else if (a.err) {
		nd_batch_error(&b, a.err_seq, a.err, e);
		*ret_spans = nd_batch_spans_rules(&b, a.err_seq);
		r = a.err;
	}
	nd_batch_free(&b);
	return r;
}

int nd_nft_apply(struct nd_nft *n, const struct nd_ruleset *rs, struct nd_error *e)
{
	bool spans = false;
	int r = apply_once(n, rs, false, e, &spans);

	/* Refused whole, so nothing changed: build it again finely to name the rule. */
	if (r < 0 && spans)
		r = apply_once(n, rs, true, e, &spans);
	return r;
}

/* ---- reading state back ---- */

/* Send one request and run @cb over every reply until the dump or ACK ends it. */
static int talk(struct nd_nft *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	static char buf[1 << 16];
	uint32_t seq = nlh->nlmsg_seq;
	int r;

	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		ssize_t len = mnl_socket_recvfrom(n->nl, buf, sizeof(buf));

		if (len < 0)
			return -errno;
		r = mnl_cb_run(buf, (size_t)len, seq, n->portid, cb, data);
	} while (r == MNL_CB_OK);
	return r < 0 ? -errno : 0;
}

static int gen_udata_cb(const struct nftnl_udata *attr, void *data)
{
	uint64_t *ret = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_TABLE_COMMENT &&
	    nd_generation_parse(nftnl_udata_get(attr), nftnl_udata_len(attr), ret) < 0)
		*ret = 0;
	return 0;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_table *t = nftnl_table_alloc();
	const void *ud;
	uint32_t len = 0;

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 && nftnl_table_is_set(t, NFTNL_TABLE_USERDATA)) {
		ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &len);
		nftnl_udata_parse(ud, len, gen_udata_cb, data);
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

int nd_nft_generation(struct nd_nft *n, uint64_t *ret)
{
	char buf[8192];
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	uint64_t gen = 0;
	int r;

	if (!t)
		return -ENOMEM;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, FAMILY, NLM_F_ACK, ++n->seq);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, ND_TABLE);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	r = talk(n, nlh, gen_cb, &gen);
	if (r == -ENOENT)
		return 0 * (*ret = 0);
	if (r < 0)
		return r;
	*ret = gen;
	return 1;
}

static int ctr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nd_counter_list *l = data;
	struct nftnl_obj *o = nftnl_obj_alloc();
	struct bh_msg_counter c;
	const char *name;

	if (!o)
		return MNL_CB_ERROR;
	if (nftnl_obj_nlmsg_parse(nlh, o) == 0 && nftnl_obj_is_set(o, NFTNL_OBJ_NAME) &&
	    (name = nftnl_obj_get_str(o, NFTNL_OBJ_NAME)) && nd_counter_parse(name, &c.rule_id) == 0) {
		c.packets = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
		c.bytes = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES);
		l->err = nd_counters_push(l, &c);
	}
	nftnl_obj_free(o);
	return l->err ? MNL_CB_ERROR : MNL_CB_OK;
}

int nd_nft_counters(struct nd_nft *n, struct bh_msg_counter **ret, size_t *ret_n)
{
	char buf[8192];
	struct nftnl_obj *o = nftnl_obj_alloc();
	struct nd_counter_list l = { 0 };
	struct nlmsghdr *nlh;
	int r;

	if (!o)
		return -ENOMEM;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, FAMILY, NLM_F_DUMP, ++n->seq);
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, ND_TABLE);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nftnl_obj_nlmsg_build_payload(nlh, o);
	nftnl_obj_free(o);
	r = talk(n, nlh, ctr_cb, &l);
	if (r == 0 && l.err)
		r = l.err;
	if (r < 0) {
		free(l.v);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}
