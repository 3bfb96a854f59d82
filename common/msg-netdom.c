/* SPDX-License-Identifier: MIT */
/*
 * Body codecs of the netdom control messages (policy sequence, result,
 * counters, drop events). See msg.h for the sequence and the field meaning.
 *
 * Decoders are syntactic and canonical: every enum in range, every string a
 * valid name or ifname, every unused byte zero, so that an accepted body
 * re-encodes to the same bytes. What a policy means (references, overlaps)
 * is netdom's to check (netdom/policy.c), where errors can name the rule.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bulkhead/cursor.h"
#include "bulkhead/msg.h"
#include "bulkhead/parse.h"
#include "bulkhead/util.h"

/* An interface name: 1..15 printable bytes, no '/', no spaces (as the kernel wants). */
static void get_ifname(struct bh_cursor *c, char out[BH_IFNAME_MAX])
{
	if (bh_cursor_str(c, out, BH_IFNAME_MAX) < 0)
		return;
	if (out[0] == '\0' || bh_streq(out, ".") || bh_streq(out, ".."))
		bh_cursor_fail(c);
	for (const char *p = out; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == ':')
			bh_cursor_fail(c);
}

static bool zero_bytes(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void put_net(struct bh_wcursor *w, const struct bh_msg_net *n)
{
	bh_wcursor_u8(w, n->family);
	bh_wcursor_u8(w, n->plen);
	bh_wcursor_bytes(w, n->addr, sizeof(n->addr));
}

static void get_net(struct bh_cursor *c, struct bh_msg_net *n, bool may_be_none)
{
	bh_cursor_u8(c, &n->family);
	bh_cursor_u8(c, &n->plen);
	bh_cursor_bytes(c, n->addr, sizeof(n->addr));
	if (c->err)
		return;
	switch (n->family) {
	case 0:
		if (!may_be_none || n->plen || !zero_bytes(n->addr, 16))
			bh_cursor_fail(c);
		break;
	case 4:
		if (n->plen > 32 || !zero_bytes(n->addr + 4, 12))
			bh_cursor_fail(c);
		break;
	case 6:
		if (n->plen > 128)
			bh_cursor_fail(c);
		break;
	default:
		bh_cursor_fail(c);
	}
}

long bh_msg_policy_begin_encode(const struct bh_msg_policy_begin *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u64(&w, m->generation);
	bh_wcursor_u8(&w, m->default_action);
	bh_wcursor_u32(&w, m->n_zones);
	bh_wcursor_u32(&w, m->n_vifs);
	bh_wcursor_u32(&w, m->n_rules);
	return bh_wcursor_finish(&w);
}

int bh_msg_policy_begin_decode(const void *untrusted_body, size_t len,
			       struct bh_msg_policy_begin *ret)
{
	struct bh_msg_policy_begin m = { 0 };
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u64(&c, &m.generation);
	bh_cursor_u8(&c, &m.default_action);
	bh_cursor_u32(&c, &m.n_zones);
	bh_cursor_u32(&c, &m.n_vifs);
	bh_cursor_u32(&c, &m.n_rules);
	if (bh_cursor_finish(&c) < 0 || m.generation == 0 ||
	    (m.default_action != BH_POLICY_DROP && m.default_action != BH_POLICY_REJECT) ||
	    m.n_zones > BH_POLICY_ZONES_MAX || m.n_vifs > BH_POLICY_VIFS_MAX ||
	    m.n_rules > BH_POLICY_RULES_MAX)
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_policy_zone_encode(const struct bh_msg_policy_zone *m, void *out, size_t cap)
{
	return bh_msg_name_body_encode(m->name, out, cap);
}

int bh_msg_policy_zone_decode(const void *untrusted_body, size_t len,
			      struct bh_msg_policy_zone *ret)
{
	struct bh_msg_policy_zone m = { 0 };
	int r = bh_msg_name_body_decode(untrusted_body, len, m.name);

	if (r < 0)
		return r;
	*ret = m;
	return 0;
}

long bh_msg_policy_guest_encode(const struct bh_msg_policy_guest *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_str(&w, m->name);
	bh_wcursor_str(&w, m->zone);
	bh_wcursor_str(&w, m->ifname);
	bh_wcursor_bytes(&w, m->mac, sizeof(m->mac));
	bh_wcursor_u8(&w, m->n_addrs);
	if (m->n_addrs > BH_POLICY_ADDRS_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < m->n_addrs; i++)
		put_net(&w, &m->addrs[i]);
	return bh_wcursor_finish(&w);
}

int bh_msg_policy_guest_decode(const void *untrusted_body, size_t len,
			       struct bh_msg_policy_guest *ret)
{
	struct bh_msg_policy_guest m = { 0 };
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_msg_get_name(&c, m.name, false);
	bh_msg_get_name(&c, m.zone, true);
	get_ifname(&c, m.ifname);
	bh_cursor_bytes(&c, m.mac, sizeof(m.mac));
	bh_cursor_u8(&c, &m.n_addrs);
	if (m.n_addrs > BH_POLICY_ADDRS_MAX)
		bh_cursor_fail(&c);
	for (unsigned i = 0; i < m.n_addrs && !c.err; i++)
		get_net(&c, &m.addrs[i], false);
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	*ret = m;
	return 0;
}

static void put_ep(struct bh_wcursor *w, const struct bh_msg_policy_ep *e)
{
	bh_wcursor_u8(w, e->kind);
	bh_wcursor_str(w, e->name);
	put_net(w, &e->net);
}

/* The name is set exactly for guests and zones, the network exactly for CIDRs. */
static void get_ep(struct bh_cursor *c, struct bh_msg_policy_ep *e)
{
	bool named;

	bh_cursor_u8(c, &e->kind);
	if (!c->err && e->kind >= BH_POLICY_EP_KIND_MAX_)
		bh_cursor_fail(c);
	named = e->kind == BH_POLICY_EP_GUEST || e->kind == BH_POLICY_EP_ZONE;
	bh_msg_get_name(c, e->name, !named);
	if (!c->err && !named && e->name[0])
		bh_cursor_fail(c);
	get_net(c, &e->net, e->kind != BH_POLICY_EP_CIDR);
	if (!c->err && e->kind != BH_POLICY_EP_CIDR && e->net.family)
		bh_cursor_fail(c);
}

long bh_msg_policy_rule_encode(const struct bh_msg_policy_rule *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	if (m->n_ports > BH_POLICY_PORTS_MAX)
		return -EINVAL;
	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u32(&w, m->id);
	bh_wcursor_str(&w, m->label);
	put_ep(&w, &m->from);
	put_ep(&w, &m->to);
	bh_wcursor_u8(&w, m->proto);
	bh_wcursor_u8(&w, m->action);
	bh_wcursor_u8(&w, m->flags);
	bh_wcursor_u8(&w, m->n_ports);
	for (unsigned i = 0; i < m->n_ports; i++) {
		bh_wcursor_u16(&w, m->ports[i].lo);
		bh_wcursor_u16(&w, m->ports[i].hi);
	}
	return bh_wcursor_finish(&w);
}

static bool label_ok(const char *s)
{
	for (; *s; s++)
		if (*s < ' ' || *s >= 0x7f)
			return false;
	return true;
}

int bh_msg_policy_rule_decode(const void *untrusted_body, size_t len,
			      struct bh_msg_policy_rule *ret)
{
	struct bh_msg_policy_rule m = { 0 };
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u32(&c, &m.id);
	if (bh_cursor_str(&c, m.label, sizeof(m.label)) == 0 && !label_ok(m.label))
		bh_cursor_fail(&c);
	get_ep(&c, &m.from);
	get_ep(&c, &m.to);
	bh_cursor_u8(&c, &m.proto);
	bh_cursor_u8(&c, &m.action);
	bh_cursor_u8(&c, &m.flags);
	bh_cursor_u8(&c, &m.n_ports);
	if (m.n_ports > BH_POLICY_PORTS_MAX)
		bh_cursor_fail(&c);
	for (unsigned i = 0; i < m.n_ports && !c.err; i++) {
		bh_cursor_u16(&c, &m.ports[i].lo);
		bh_cursor_u16(&c, &m.ports[i].hi);
	}
	if (bh_cursor_finish(&c) < 0 || m.id == 0 || m.proto >= BH_POLICY_PROTO_MAX_ ||
	    m.action >= BH_POLICY_ACTION_MAX_ || (m.flags & ~(uint8_t)BH_POLICY_RULE_FLAGS_ALL_))
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_policy_commit_encode(const struct bh_msg_policy_commit *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u64(&w, m->generation);
	return bh_wcursor_finish(&w);
}

int bh_msg_policy_commit_decode(const void *untrusted_body, size_t len,
				struct bh_msg_policy_commit *ret)
{
	struct bh_msg_policy_commit m = { 0 };
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u64(&c, &m.generation);
	if (bh_cursor_finish(&c) < 0 || m.generation == 0)
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_policy_result_encode(const struct bh_msg_policy_result *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u64(&w, m->generation);
	bh_wcursor_u32(&w, (uint32_t)m->status);
	bh_wcursor_u32(&w, m->rule_id);
	bh_wcursor_str(&w, m->text);
	return bh_wcursor_finish(&w);
}

int bh_msg_policy_result_decode(const void *untrusted_body, size_t len,
				struct bh_msg_policy_result *ret)
{
	struct bh_msg_policy_result m = { 0 };
	struct bh_cursor c;
	uint32_t status = 0;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u64(&c, &m.generation);
	bh_cursor_u32(&c, &status);
	bh_cursor_u32(&c, &m.rule_id);
	if (bh_cursor_str(&c, m.text, sizeof(m.text)) == 0 && !label_ok(m.text))
		bh_cursor_fail(&c);
	m.status = (int32_t)status;
	if (bh_cursor_finish(&c) < 0 || m.status > 0 || m.status < -4095)
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_counters_encode(const struct bh_msg_counters *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	if (m->n > BH_COUNTERS_PER_MSG || m->first > m->total || m->n > m->total - m->first)
		return -EINVAL;
	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u64(&w, m->generation);
	bh_wcursor_u32(&w, m->total);
	bh_wcursor_u32(&w, m->first);
	bh_wcursor_u32(&w, m->n);
	for (uint32_t i = 0; i < m->n; i++) {
		bh_wcursor_u32(&w, m->v[i].rule_id);
		bh_wcursor_u64(&w, m->v[i].packets);
		bh_wcursor_u64(&w, m->v[i].bytes);
	}
	return bh_wcursor_finish(&w);
}

int bh_msg_counters_decode(const void *untrusted_body, size_t len, struct bh_msg_counters *ret)
{
	struct bh_msg_counters m = { .v = ret->v };
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u64(&c, &m.generation);
	bh_cursor_u32(&c, &m.total);
	bh_cursor_u32(&c, &m.first);
	bh_cursor_u32(&c, &m.n);
	if (!c.err && (m.n > BH_COUNTERS_PER_MSG || m.first > m.total ||
		       m.n > m.total - m.first))
		bh_cursor_fail(&c);
	for (uint32_t i = 0; i < m.n && !c.err; i++) {
		bh_cursor_u32(&c, &m.v[i].rule_id);
		bh_cursor_u64(&c, &m.v[i].packets);
		bh_cursor_u64(&c, &m.v[i].bytes);
	}
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_drop_event_encode(const struct bh_msg_drop_event *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_str(&w, m->guest);
	put_net(&w, &m->src);
	put_net(&w, &m->dst);
	bh_wcursor_u8(&w, m->l4proto);
	bh_wcursor_u16(&w, m->dport);
	bh_wcursor_u32(&w, m->count);
	return bh_wcursor_finish(&w);
}

int bh_msg_drop_event_decode(const void *untrusted_body, size_t len,
			     struct bh_msg_drop_event *ret)
{
	struct bh_msg_drop_event m = { 0 };
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_msg_get_name(&c, m.guest, true);
	get_net(&c, &m.src, false);
	get_net(&c, &m.dst, false);
	bh_cursor_u8(&c, &m.l4proto);
	bh_cursor_u16(&c, &m.dport);
	bh_cursor_u32(&c, &m.count);
	if (bh_cursor_finish(&c) < 0 || m.count == 0 || m.src.family != m.dst.family)
		return -EBADMSG;
	*ret = m;
	return 0;
}
