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
 * Table layout (see netdom.h for the semantics):
 *   prerouting (raw prio)  anti-spoofing: iifname . ether saddr / . ip saddr sets
 *   forward   (policy drop) ct invalid drop, established accept, zone marks,
 *                           per endpoint pair: counter objref map + verdict map
 *   input     (policy drop) ct, icmp/icmpv6, log
 *   reject, log-accept, log-drop, log-reject: shared verdict chains
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
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "bulkhead/parse.h"
#include "netdom.h"

#define FAMILY NFPROTO_INET
#define MSG_ROOM (256 * 1024)  /* free space kept before building each message */
#define ELEMS_PER_MSG 128
#define GEN_PREFIX "bulkhead generation "

/* nftables' datatype numbers, so that `nft list` shows our set keys. */
enum { T_VERDICT = 1, T_IPADDR = 7, T_IP6ADDR = 8, T_ETHERADDR = 9, T_PROTO = 12,
       T_SERVICE = 13, T_MARK = 19, T_IFNAME = 41, T_COUNTER_OBJ = 0 };

struct nd_nft {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

/* What a batch message was built from: a rule index, or a description. */
struct origin {
	int64_t rule; /* -1: none */
	const char *what;
};

struct batch {
	char *buf;
	size_t len, cap;
	uint32_t seq0, seq;
	struct origin *orig; /* indexed by seq - seq0 */
	size_t n_orig, cap_orig;
	int err;
	const struct nd_ruleset *rs;
	uint32_t set_id;
	int64_t cur_rule; /* origin of the messages being added */
	const char *cur_what;
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

/* Room for the next message; the buffer grows, pointers into it do not outlive a message. */
static char *batch_room(struct batch *b)
{
	if (b->err)
		return NULL;
	if (b->cap - b->len < MSG_ROOM) {
		size_t ncap = b->cap ? b->cap * 2 : 4 * MSG_ROOM;
		char *nb = realloc(b->buf, ncap);

		if (!nb) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->buf = nb;
		b->cap = ncap;
	}
	return b->buf + b->len;
}

static uint32_t batch_next(struct batch *b, const struct nlmsghdr *nlh)
{
	b->len += nlh->nlmsg_len;
	return b->seq++;
}

static void batch_record(struct batch *b)
{
	if (b->n_orig == b->cap_orig) {
		size_t ncap = b->cap_orig ? b->cap_orig * 2 : 1024;
		struct origin *no = reallocarray(b->orig, ncap, sizeof(*no));

		if (!no) {
			b->err = -ENOMEM;
			return;
		}
		b->orig = no;
		b->cap_orig = ncap;
	}
	b->orig[b->n_orig++] = (struct origin){ b->cur_rule, b->cur_what };
}

/* Start a message of @type with NLM_F_ACK; the caller fills its payload. */
static struct nlmsghdr *msg_start(struct batch *b, uint16_t type, uint16_t flags)
{
	char *p = batch_room(b);

	if (!p)
		return NULL;
	batch_record(b);
	return nftnl_nlmsg_build_hdr(p, type, FAMILY, flags | NLM_F_ACK, b->seq);
}

static void msg_end(struct batch *b, struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_len > MSG_ROOM)
		abort(); /* a programmer error: ELEMS_PER_MSG too large for MSG_ROOM */
	batch_next(b, nlh);
}

static void origin(struct batch *b, int64_t rule, const char *what)
{
	b->cur_rule = rule;
	b->cur_what = what;
}

/* ---- table, objects, sets ---- */

static void add_table(struct batch *b, uint16_t type, uint16_t flags, uint64_t generation)
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
		snprintf(comment, sizeof(comment), GEN_PREFIX "%llu", (unsigned long long)generation);
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

static void add_counter(struct batch *b, const char *name)
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

struct set_spec {
	const char *name;
	uint32_t flags; /* NFT_SET_* */
	uint8_t n_fields;
	uint8_t field_len[ND_FIELDS_MAX];
	uint8_t field_type[ND_FIELDS_MAX];
	uint32_t data_type, data_len; /* for maps */
	uint32_t obj_type;            /* for objref maps */
};

static uint32_t spec_key_len(const struct set_spec *s)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < s->n_fields; i++)
		n += (s->field_len[i] + 3u) & ~3u;
	return s->n_fields == 1 ? s->field_len[0] : n;
}

static struct nftnl_set *set_new(const struct set_spec *s)
{
	struct nftnl_set *set = nftnl_set_alloc();

	if (!set)
		return NULL;
	nftnl_set_set_str(set, NFTNL_SET_TABLE, ND_TABLE);
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, FAMILY);
	nftnl_set_set_str(set, NFTNL_SET_NAME, s->name);
	return set;
}

static void add_set(struct batch *b, const struct set_spec *s)
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
	nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, spec_key_len(s));
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
	origin(b, -1, s->name);
	nlh = msg_start(b, NFT_MSG_NEWSET, NLM_F_CREATE);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, set);
		msg_end(b, nlh);
	}
	nftnl_set_free(set);
}

/* Element flush: elements accumulate on @set and go out ELEMS_PER_MSG at a time. */
static void elems_flush(struct batch *b, struct nftnl_set **setp, const struct set_spec *s)
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

struct elem_val {
	const void *key, *key_end;
	uint32_t key_len;
	bool is_verdict; /* maps of verdicts: @verdict */
	int verdict;
	const char *chain; /* for NFT_GOTO */
	const void *data; /* maps of data */
	uint32_t data_len;
	const char *obj; /* objref maps */
};

static void elem_add(struct batch *b, struct nftnl_set *set, const struct elem_val *v)
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

/* ---- expressions ---- */

struct rb {
	struct nftnl_rule *r;
	int err;
};

static void rb_add(struct rb *rb, struct nftnl_expr *e)
{
	if (!e)
		rb->err = -ENOMEM;
	else
		nftnl_rule_add_expr(rb->r, e);
}

static struct nftnl_expr *expr(const char *name)
{
	return nftnl_expr_alloc(name);
}

/* Register for byte offset @off of the key: a 16-byte register when aligned, as nft does. */
static uint32_t key_reg(unsigned off)
{
	return off % 16 == 0 ? NFT_REG_1 + off / 16 : NFT_REG32_00 + off / 4;
}

static void e_meta(struct rb *rb, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr("meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	}
	rb_add(rb, e);
}

static void e_meta_set(struct rb *rb, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = expr("meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
	}
	rb_add(rb, e);
}

static void e_ct(struct rb *rb, uint32_t key, uint32_t reg, bool set)
{
	struct nftnl_expr *e = expr("ct");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
		nftnl_expr_set_u32(e, set ? NFTNL_EXPR_CT_SREG : NFTNL_EXPR_CT_DREG, reg);
	}
	rb_add(rb, e);
}

static void e_payload(struct rb *rb, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = expr("payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	}
	rb_add(rb, e);
}

static void e_cmp(struct rb *rb, uint32_t op, uint32_t sreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr("cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	rb_add(rb, e);
}

static void e_bitwise(struct rb *rb, uint32_t reg, const void *mask, uint32_t len)
{
	struct nftnl_expr *e = expr("bitwise");
	uint8_t zero[16] = { 0 };

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	}
	rb_add(rb, e);
}

static void e_hton32(struct rb *rb, uint32_t reg)
{
	struct nftnl_expr *e = expr("byteorder");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, reg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 4);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 4);
	}
	rb_add(rb, e);
}

/* Lookup in @set: a match test (dreg 0 = none), a map (dreg), or a verdict map. */
static void e_lookup(struct rb *rb, const char *set, uint32_t sreg, int dreg, bool invert)
{
	struct nftnl_expr *e = expr("lookup");

	if (e) {
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
		if (dreg >= 0)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
		if (invert)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	}
	rb_add(rb, e);
}

static void e_counter_named(struct rb *rb, const char *name)
{
	struct nftnl_expr *e = expr("objref");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
	}
	rb_add(rb, e);
}

static void e_counter_map(struct rb *rb, const char *set, uint32_t sreg)
{
	struct nftnl_expr *e = expr("objref");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_SET_SREG, sreg);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_SET_NAME, set);
	}
	rb_add(rb, e);
}

static void e_verdict(struct rb *rb, int verdict, const char *chain)
{
	struct nftnl_expr *e = expr("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
		if (chain)
			nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	}
	rb_add(rb, e);
}

/* Rate-limited NFLOG: the limit comes first so that it gates the log. */
static void e_limited_log(struct rb *rb, const char *prefix)
{
	struct nftnl_expr *l = expr("limit"), *g = expr("log");

	if (l) {
		nftnl_expr_set_u64(l, NFTNL_EXPR_LIMIT_RATE, 20);
		nftnl_expr_set_u64(l, NFTNL_EXPR_LIMIT_UNIT, 1);
		nftnl_expr_set_u32(l, NFTNL_EXPR_LIMIT_BURST, 40);
		nftnl_expr_set_u32(l, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	}
	rb_add(rb, l);
	if (g) {
		nftnl_expr_set_u16(g, NFTNL_EXPR_LOG_GROUP, ND_NFLOG_GROUP);
		nftnl_expr_set_str(g, NFTNL_EXPR_LOG_PREFIX, prefix);
	}
	rb_add(rb, g);
}

static void e_reject(struct rb *rb, uint32_t type, uint8_t code)
{
	struct nftnl_expr *e = expr("reject");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
	}
	rb_add(rb, e);
}

static void e_ct_state(struct rb *rb, uint32_t bits, uint32_t op)
{
	uint32_t zero = 0;

	e_ct(rb, NFT_CT_STATE, NFT_REG_1, false);
	e_bitwise(rb, NFT_REG_1, &bits, 4);
	e_cmp(rb, op, NFT_REG_1, &zero, 4);
}

static void e_nfproto(struct rb *rb, uint8_t proto)
{
	e_meta(rb, NFT_META_NFPROTO, NFT_REG_1);
	e_cmp(rb, NFT_CMP_EQ, NFT_REG_1, &proto, 1);
}

/* ---- chains and rules ---- */

static void add_chain(struct batch *b, const char *name, int hook, int prio, int policy)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c) {
		b->err = -ENOMEM;
		return;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, ND_TABLE);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, FAMILY);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	if (hook >= 0) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, (uint32_t)policy);
	}
	nlh = msg_start(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		msg_end(b, nlh);
	}
	nftnl_chain_free(c);
}

static struct rb rule_begin(const char *chain)
{
	struct rb rb = { .r = nftnl_rule_alloc() };

	if (!rb.r) {
		rb.err = -ENOMEM;
		return rb;
	}
	nftnl_rule_set_str(rb.r, NFTNL_RULE_TABLE, ND_TABLE);
	nftnl_rule_set_u32(rb.r, NFTNL_RULE_FAMILY, FAMILY);
	nftnl_rule_set_str(rb.r, NFTNL_RULE_CHAIN, chain);
	return rb;
}

static void rule_commit(struct batch *b, struct rb *rb)
{
	struct nlmsghdr *nlh;

	if (rb->err && !b->err)
		b->err = rb->err;
	nlh = rb->r ? msg_start(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND) : NULL;
	if (nlh) {
		nftnl_rule_nlmsg_build_payload(nlh, rb->r);
		msg_end(b, nlh);
	}
	nftnl_rule_free(rb->r);
}

/* Load one endpoint field of a map key at byte @off; @src: source side. */
static void load_slot(struct rb *rb, uint8_t slot, bool src, unsigned off)
{
	uint32_t reg = key_reg(off);

	switch (slot) {
	case ND_SLOT_GUEST:
		e_meta(rb, src ? NFT_META_IIFNAME : NFT_META_OIFNAME, reg);
		break;
	case ND_SLOT_ZONE:
		if (src)
			e_meta(rb, NFT_META_MARK, reg);
		else
			e_ct(rb, NFT_CT_MARK, reg, false);
		e_hton32(rb, reg);
		break;
	case ND_SLOT_NET4:
		e_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, src ? 12 : 16, 4, reg);
		break;
	case ND_SLOT_NET6:
		e_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, src ? 8 : 24, 16, reg);
		break;
	default:
		break;
	}
}

static void load_key(struct rb *rb, const struct nd_map *m)
{
	unsigned off = 0;

	if (m->src == ND_SLOT_NET4 || m->dst == ND_SLOT_NET4)
		e_nfproto(rb, NFPROTO_IPV4);
	if (m->src == ND_SLOT_NET6 || m->dst == ND_SLOT_NET6)
		e_nfproto(rb, NFPROTO_IPV6);
	load_slot(rb, m->src, true, off);
	off += (m->field_len[0] + 3u) & ~3u;
	if (m->src == ND_SLOT_ANY)
		off = 0;
	load_slot(rb, m->dst, false, off);
	if (m->dst != ND_SLOT_ANY)
		off += m->src == ND_SLOT_ANY ? ((m->field_len[0] + 3u) & ~3u)
					     : ((m->field_len[1] + 3u) & ~3u);
	e_meta(rb, NFT_META_L4PROTO, key_reg(off));
	e_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, key_reg(off + 4));
}

static void map_names(const struct nd_map *m, char *vmap, char *cmap, size_t len)
{
	static const char *const slot[ND_SLOT_MAX_] = { "any", "guest", "zone", "net4", "net6" };

	snprintf(vmap, len, "allow-%s-%s", slot[m->src], slot[m->dst]);
	snprintf(cmap, len, "count-%s-%s", slot[m->src], slot[m->dst]);
}

static void add_pair_rules(struct batch *b, const struct nd_map *m)
{
	char vmap[32], cmap[32];
	struct rb rb;

	map_names(m, vmap, cmap, sizeof(vmap));
	rb = rule_begin("forward");
	load_key(&rb, m);
	e_counter_map(&rb, cmap, NFT_REG_1);
	rule_commit(b, &rb);
	rb = rule_begin("forward");
	load_key(&rb, m);
	e_lookup(&rb, vmap, NFT_REG_1, NFT_REG_VERDICT, false);
	rule_commit(b, &rb);
}

static void add_ct_rules(struct batch *b, const char *chain)
{
	struct rb rb = rule_begin(chain);

	e_ct_state(&rb, NF_CT_STATE_INVALID_BIT, NFT_CMP_NEQ);
	e_verdict(&rb, NF_DROP, NULL);
	rule_commit(b, &rb);
	rb = rule_begin(chain);
	e_ct_state(&rb, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED),
		   NFT_CMP_NEQ);
	e_verdict(&rb, NF_ACCEPT, NULL);
	rule_commit(b, &rb);
}

static void add_default_rules(struct batch *b, const char *chain, uint8_t action)
{
	struct rb rb = rule_begin(chain);

	e_counter_named(&rb, "default-drop");
	e_limited_log(&rb, "bh-drop ");
	if (action == BH_POLICY_REJECT)
		e_verdict(&rb, NFT_GOTO, "reject");
	rule_commit(b, &rb);
}

static void add_zone_marks(struct batch *b)
{
	struct rb rb = rule_begin("forward");

	e_meta(&rb, NFT_META_IIFNAME, NFT_REG_1);
	e_lookup(&rb, "vif-zone", NFT_REG_1, NFT_REG_1, false);
	e_meta_set(&rb, NFT_META_MARK, NFT_REG_1);
	rule_commit(b, &rb);
	rb = rule_begin("forward");
	e_meta(&rb, NFT_META_OIFNAME, NFT_REG_1);
	e_lookup(&rb, "vif-zone", NFT_REG_1, NFT_REG_1, false);
	e_ct(&rb, NFT_CT_MARK, NFT_REG_1, true);
	rule_commit(b, &rb);
}

static void add_input_rules(struct batch *b, uint8_t action)
{
	static const uint8_t icmp[] = { IPPROTO_ICMP, IPPROTO_ICMPV6 };
	struct rb rb;

	add_ct_rules(b, "input");
	rb = rule_begin("input");
	e_meta(&rb, NFT_META_IIFTYPE, NFT_REG_1);
	e_cmp(&rb, NFT_CMP_EQ, NFT_REG_1, &(uint16_t){ 772 /* ARPHRD_LOOPBACK */ }, 2);
	e_verdict(&rb, NF_ACCEPT, NULL);
	rule_commit(b, &rb);
	for (size_t i = 0; i < BH_ARRAY_SIZE(icmp); i++) {
		rb = rule_begin("input");
		e_meta(&rb, NFT_META_L4PROTO, NFT_REG_1);
		e_cmp(&rb, NFT_CMP_EQ, NFT_REG_1, &icmp[i], 1);
		e_verdict(&rb, NF_ACCEPT, NULL);
		rule_commit(b, &rb);
	}
	add_default_rules(b, "input", action);
}

/* Anti-spoofing: from a guest vif, only its MAC and its addresses. */
static void add_spoof_rules(struct batch *b)
{
	static const uint8_t ll_mask[16] = { 0xff, 0xc0 }, ll[16] = { 0xfe, 0x80 };
	static const uint8_t any6[16] = { 0 };
	struct rb rb;

	for (int fam = 0; fam < 3; fam++) {
		rb = rule_begin("prerouting");
		e_meta(&rb, NFT_META_IIFNAME, NFT_REG_1);
		e_lookup(&rb, "vifs", NFT_REG_1, -1, false);
		if (fam == 1)
			e_nfproto(&rb, NFPROTO_IPV4);
		if (fam == 2) {
			e_nfproto(&rb, NFPROTO_IPV6);
			/* Link-local and unspecified sources (ND, DAD) stay on the link. */
			e_payload(&rb, NFT_PAYLOAD_NETWORK_HEADER, 8, 16, NFT_REG_1);
			e_cmp(&rb, NFT_CMP_NEQ, NFT_REG_1, any6, 16);
			e_bitwise(&rb, NFT_REG_1, ll_mask, 16);
			e_cmp(&rb, NFT_CMP_NEQ, NFT_REG_1, ll, 16);
		}
		e_meta(&rb, NFT_META_IIFNAME, NFT_REG_1);
		if (fam == 0)
			e_payload(&rb, NFT_PAYLOAD_LL_HEADER, 6, 6, NFT_REG_2);
		else
			e_payload(&rb, NFT_PAYLOAD_NETWORK_HEADER, fam == 1 ? 12 : 8,
				  fam == 1 ? 4 : 16, NFT_REG_2);
		e_lookup(&rb, fam == 0 ? "vif-mac" : fam == 1 ? "vif-ip4" : "vif-ip6", NFT_REG_1, -1,
			 true);
		e_counter_named(&rb, "spoof");
		e_limited_log(&rb, "bh-spoof ");
		e_verdict(&rb, NF_DROP, NULL);
		rule_commit(b, &rb);
	}
}

static void add_verdict_chains(struct batch *b)
{
	static const struct { const char *chain, *prefix; int verdict; const char *to; } lc[] = {
		{ "log-accept", "bh-accept ", NF_ACCEPT, NULL },
		{ "log-drop", "bh-drop ", NF_DROP, NULL },
		{ "log-reject", "bh-reject ", NFT_GOTO, "reject" },
	};
	uint8_t tcp = IPPROTO_TCP;
	struct rb rb;

	add_chain(b, "reject", -1, 0, 0);
	for (size_t i = 0; i < BH_ARRAY_SIZE(lc); i++)
		add_chain(b, lc[i].chain, -1, 0, 0);
	rb = rule_begin("reject");
	e_meta(&rb, NFT_META_L4PROTO, NFT_REG_1);
	e_cmp(&rb, NFT_CMP_EQ, NFT_REG_1, &tcp, 1);
	e_reject(&rb, NFT_REJECT_TCP_RST, 0);
	rule_commit(b, &rb);
	rb = rule_begin("reject");
	e_reject(&rb, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
	rule_commit(b, &rb);
	for (size_t i = 0; i < BH_ARRAY_SIZE(lc); i++) {
		rb = rule_begin(lc[i].chain);
		e_limited_log(&rb, lc[i].prefix);
		e_verdict(&rb, lc[i].verdict, lc[i].to);
		rule_commit(b, &rb);
	}
}

/* ---- set contents ---- */

static const uint8_t slot_type[ND_SLOT_MAX_] = {
	[ND_SLOT_GUEST] = T_IFNAME, [ND_SLOT_ZONE] = T_MARK,
	[ND_SLOT_NET4] = T_IPADDR, [ND_SLOT_NET6] = T_IP6ADDR,
};

static void pair_specs(const struct nd_map *m, struct set_spec *vs, struct set_spec *cs,
		       char *vname, char *cname)
{
	unsigned n = 0;

	map_names(m, vname, cname, 32);
	memset(vs, 0, sizeof(*vs));
	if (m->src != ND_SLOT_ANY)
		vs->field_type[n++] = slot_type[m->src];
	if (m->dst != ND_SLOT_ANY)
		vs->field_type[n++] = slot_type[m->dst];
	vs->field_type[n++] = T_PROTO;
	vs->field_type[n++] = T_SERVICE;
	vs->n_fields = m->n_fields;
	memcpy(vs->field_len, m->field_len, m->n_fields);
	*cs = *vs;
	vs->name = vname;
	vs->flags = NFT_SET_INTERVAL | NFT_SET_MAP;
	vs->data_type = NFT_DATA_VERDICT;
	cs->name = cname;
	cs->flags = NFT_SET_INTERVAL | NFT_SET_OBJECT;
	cs->obj_type = NFT_OBJECT_COUNTER;
}

static void rule_target(const struct nd_rule *r, struct elem_val *v)
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

/* The elements of one endpoint pair, grouped per rule so errors map to the rule. */
static void add_pair_elems(struct batch *b, const struct nd_policy *p, const struct nd_map *m)
{
	struct set_spec vs, cs;
	char vname[32], cname[32], ctr[24];
	struct nftnl_set *vset, *cset;
	size_t in_msg = 0;

	pair_specs(m, &vs, &cs, vname, cname);
	vset = set_new(&vs);
	cset = set_new(&cs);
	for (size_t i = 0; b->err == 0 && vset && cset && i < m->n; i++) {
		const struct nd_rule *r = &p->rules[m->v[i].rule];
		struct elem_val v = { m->v[i].lo, m->v[i].hi, m->key_len };

		origin(b, m->v[i].rule, NULL);
		rule_target(r, &v);
		elem_add(b, vset, &v);
		snprintf(ctr, sizeof(ctr), "r%u", r->m.id);
		elem_add(b, cset, &(struct elem_val){ m->v[i].lo, m->v[i].hi, m->key_len, .obj = ctr });
		if (++in_msg == ELEMS_PER_MSG || i + 1 == m->n || m->v[i + 1].rule != m->v[i].rule) {
			elems_flush(b, &vset, &vs);
			elems_flush(b, &cset, &cs);
			in_msg = 0;
		}
	}
	if (!vset || !cset)
		b->err = -ENOMEM;
	nftnl_set_free(vset);
	nftnl_set_free(cset);
}

static void add_pair_sets(struct batch *b, const struct nd_map *m)
{
	struct set_spec vs, cs;
	char vname[32], cname[32];

	pair_specs(m, &vs, &cs, vname, cname);
	add_set(b, &vs);
	add_set(b, &cs);
}

static const struct set_spec spoof_specs[] = {
	{ "vifs", 0, 1, { 16 }, { T_IFNAME } },
	{ "vif-mac", 0, 2, { 16, 6 }, { T_IFNAME, T_ETHERADDR } },
	{ "vif-ip4", 0, 2, { 16, 4 }, { T_IFNAME, T_IPADDR } },
	{ "vif-ip6", 0, 2, { 16, 16 }, { T_IFNAME, T_IP6ADDR } },
	{ "vif-zone", NFT_SET_MAP, 1, { 16 }, { T_IFNAME }, T_MARK, 4 },
};

/* One message per vif for each set: an error names the vif. */
static void add_vif_elems(struct batch *b, const struct nd_policy *p, const struct nd_vif *v)
{
	struct nftnl_set *s[BH_ARRAY_SIZE(spoof_specs)];
	bool has[BH_ARRAY_SIZE(spoof_specs)] = { true, true };
	uint8_t key[32];
	uint32_t zone = 0;

	for (size_t i = 0; i < BH_ARRAY_SIZE(s); i++)
		s[i] = set_new(&spoof_specs[i]);
	for (size_t i = 0; i < BH_ARRAY_SIZE(s); i++)
		if (!s[i])
			b->err = -ENOMEM;
	if (!b->err) {
		memset(key, 0, sizeof(key));
		memcpy(key, v->m.ifname, 16);
		elem_add(b, s[0], &(struct elem_val){ key, NULL, 16 });
		memcpy(key + 16, v->m.mac, 6);
		elem_add(b, s[1], &(struct elem_val){ key, NULL, 24 });
		for (unsigned a = 0; a < v->m.n_addrs; a++) {
			bool v4 = v->m.addrs[a].family == 4;

			memcpy(key + 16, v->m.addrs[a].addr, 16);
			elem_add(b, s[v4 ? 2 : 3], &(struct elem_val){ key, NULL, v4 ? 20 : 32 });
			has[v4 ? 2 : 3] = true;
		}
		zone = p->guests[v->guest].zone;
		has[4] = zone != 0;
		if (zone)
			elem_add(b, s[4], &(struct elem_val){ key, NULL, 16,
					  .data = &(uint32_t){ nd_zone_id(zone - 1) }, .data_len = 4 });
	}
	for (size_t i = 0; i < BH_ARRAY_SIZE(s); i++) {
		if (s[i] && !b->err && has[i])
			elems_flush(b, &s[i], &spoof_specs[i]);
		nftnl_set_free(s[i]);
	}
}

/* ---- the whole table ---- */

static void build_objects(struct batch *b, const struct nd_ruleset *rs)
{
	const struct nd_policy *p = rs->p;
	char name[24];

	origin(b, -1, "counters");
	add_counter(b, "default-drop");
	add_counter(b, "spoof");
	for (uint32_t i = 0; i < p->n_rules; i++) {
		origin(b, i, NULL);
		snprintf(name, sizeof(name), "r%u", p->rules[i].m.id);
		add_counter(b, name);
	}
	origin(b, -1, "sets");
	for (size_t i = 0; i < BH_ARRAY_SIZE(spoof_specs); i++)
		add_set(b, &spoof_specs[i]);
	for (size_t i = 0; i < rs->n_order; i++)
		add_pair_sets(b, &rs->maps[rs->order[i]]);
	origin(b, -1, "chains");
	add_verdict_chains(b); /* before the elements that jump to them */
	for (uint32_t i = 0; i < p->n_vifs; i++) {
		origin(b, -1, p->vifs[i].m.ifname);
		add_vif_elems(b, p, &p->vifs[i]);
	}
	for (size_t i = 0; i < rs->n_order; i++)
		add_pair_elems(b, p, &rs->maps[rs->order[i]]);
}

static void build_chains(struct batch *b, const struct nd_ruleset *rs)
{
	origin(b, -1, "chains");
	add_chain(b, "prerouting", NF_INET_PRE_ROUTING, -300, NF_ACCEPT);
	add_chain(b, "input", NF_INET_LOCAL_IN, 0, NF_DROP);
	add_chain(b, "forward", NF_INET_FORWARD, 0, NF_DROP);
	add_spoof_rules(b);
	add_input_rules(b, rs->p->default_action);
	add_ct_rules(b, "forward");
	if (rs->uses_zones)
		add_zone_marks(b);
	for (size_t i = 0; i < rs->n_order; i++)
		add_pair_rules(b, &rs->maps[rs->order[i]]);
	add_default_rules(b, "forward", rs->p->default_action);
}

static void build(struct batch *b, const struct nd_ruleset *rs)
{
	struct nlmsghdr *nlh;
	char *p = batch_room(b);

	if (!p)
		return;
	nlh = nftnl_batch_begin(p, b->seq++);
	b->len += nlh->nlmsg_len;
	b->seq0 = b->seq;
	origin(b, -1, "table");
	/* Create-if-missing then delete, so the delete cannot fail: nft's own idiom. */
	add_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, 0);
	add_table(b, NFT_MSG_DELTABLE, 0, 0);
	add_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, rs->p->generation);
	build_objects(b, rs);
	build_chains(b, rs);
	p = batch_room(b);
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
	const struct batch *b;
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
	if (nlh->nlmsg_seq < a->b->seq0 || nlh->nlmsg_seq - a->b->seq0 >= a->b->n_orig)
		return -EBADMSG;
	a->acked++;
	if (untrusted_err->error < 0 && !a->err) {
		a->err = untrusted_err->error < -4095 ? -EIO : untrusted_err->error;
		a->err_seq = nlh->nlmsg_seq;
	}
	return 0;
}

static int read_acks(struct nd_nft *n, struct acks *a)
{
	static char buf[1 << 16];
	int fd = mnl_socket_get_fd(n->nl);

	/* The kernel processes the batch inside sendmsg: every reply is queued by now. */
	while (a->acked < a->b->n_orig) {
		ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int rem;

		if (len < 0)
			return errno == EAGAIN ? (a->err ? 0 : -EIO) : -errno;
		rem = (int)len;
		for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem))
			if (ack_one(nlh, a) < 0)
				return -EBADMSG;
	}
	return 0;
}

static void map_error(const struct batch *b, const struct acks *a, struct nd_error *e)
{
	const struct origin *o = &b->orig[a->err_seq - b->seq0];
	char name[BH_POLICY_LABEL_MAX + 32];

	if (o->rule >= 0) {
		const struct nd_rule *r = &b->rs->p->rules[o->rule];

		nd_rule_name(r, name, sizeof(name));
		nd_error_set(e, a->err, r->m.id, "%s: kernel refused it: %s", name,
			     strerror(-a->err));
	} else {
		nd_error_set(e, a->err, 0, "kernel refused %s: %s", o->what ? o->what : "table",
			     strerror(-a->err));
	}
}

int nd_nft_apply(struct nd_nft *n, const struct nd_ruleset *rs, struct nd_error *e)
{
	struct batch b = { .seq = n->seq, .rs = rs };
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
		map_error(&b, &a, e);
		r = a.err;
	}
	free(b.buf);
	free(b.orig);
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
	const char *untrusted = nftnl_udata_get(attr);
	uint8_t len = nftnl_udata_len(attr);
	uint64_t *ret = data;
	char s[64];

	if (nftnl_udata_type(attr) != NFTNL_UDATA_TABLE_COMMENT || len == 0 || len >= sizeof(s))
		return 0;
	memcpy(s, untrusted, len);
	s[len] = '\0';
	if (bh_startswith(s, GEN_PREFIX) &&
	    bh_parse_u64(s + strlen(GEN_PREFIX), 0, UINT64_MAX, ret) < 0)
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

struct ctr_list {
	struct bh_msg_counter *v;
	size_t n, cap;
	int err;
};

static int ctr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ctr_list *l = data;
	struct nftnl_obj *o = nftnl_obj_alloc();
	const char *name;
	uint32_t id;

	if (!o)
		return MNL_CB_ERROR;
	if (nftnl_obj_nlmsg_parse(nlh, o) == 0 && nftnl_obj_is_set(o, NFTNL_OBJ_NAME) &&
	    (name = nftnl_obj_get_str(o, NFTNL_OBJ_NAME)) && name[0] == 'r' &&
	    bh_parse_u32(name + 1, 1, UINT32_MAX, &id) == 0) {
		if (l->n == l->cap) {
			size_t ncap = l->cap ? l->cap * 2 : 256;
			struct bh_msg_counter *nv = reallocarray(l->v, ncap, sizeof(*nv));

			if (!nv) {
				l->err = -ENOMEM;
				nftnl_obj_free(o);
				return MNL_CB_ERROR;
			}
			l->v = nv;
			l->cap = ncap;
		}
		l->v[l->n++] = (struct bh_msg_counter){ id, nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS),
							nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES) };
	}
	nftnl_obj_free(o);
	return MNL_CB_OK;
}

int nd_nft_counters(struct nd_nft *n, struct bh_msg_counter **ret, size_t *ret_n)
{
	char buf[8192];
	struct nftnl_obj *o = nftnl_obj_alloc();
	struct ctr_list l = { 0 };
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

int nd_conntrack_flush(void)
{
	char buf[8192];
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	int r = 0;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC; /* no tuple: every entry, both families */
	nfg->version = NFNETLINK_V0;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	ssize_t len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (len < 0 || mnl_cb_run(buf, (size_t)len, nlh->nlmsg_seq, mnl_socket_get_portid(nl),
				  NULL, NULL) < 0)
		r = -errno;
out:
	mnl_socket_close(nl);
	return r;
}
