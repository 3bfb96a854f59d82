/* SPDX-License-Identifier: MIT */
/*
 * The policy model: built item by item from the control-message sequence,
 * then resolved and validated as a whole by nd_policy_finish(). Every error
 * that belongs to a rule names it (id and label), so dom0 can point at the
 * config line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netdom.h"

void nd_error_set(struct nd_error *e, int code, uint32_t rule_id, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	e->code = code;
	e->rule_id = rule_id;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
}

void nd_rule_name(const struct nd_rule *r, char *out, size_t outlen)
{
	if (r->m.label[0])
		snprintf(out, outlen, "rule %u (%s)", r->m.id, r->m.label);
	else
		snprintf(out, outlen, "rule %u", r->m.id);
}

static int rule_err(struct nd_error *e, const struct nd_rule *r, const char *what, const char *arg)
{
	char name[BH_POLICY_LABEL_MAX + 32];

	nd_rule_name(r, name, sizeof(name));
	nd_error_set(e, -EINVAL, r->m.id, "%s: %s%s%s%s", name, what, arg ? " '" : "",
		     arg ? arg : "", arg ? "'" : "");
	return -EINVAL;
}

int nd_policy_begin(const struct bh_msg_policy_begin *b, struct nd_policy **ret)
{
	struct nd_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->generation = b->generation;
	p->default_action = b->default_action;
	p->want_zones = b->n_zones;
	p->want_vifs = b->n_vifs;
	p->want_rules = b->n_rules;
	*ret = p;
	return 0;
}

/*
 * Make room for one more element. Arrays grow as items arrive rather than to
 * the counts BEGIN announced, so a peer cannot make us allocate by claiming.
 */
static int grow(void *arrayp, uint32_t n, uint32_t *cap, size_t elem)
{
	void **a = arrayp;
	uint32_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	nv = reallocarray(*a, ncap, elem);
	if (!nv)
		return -ENOMEM;
	*a = nv;
	*cap = ncap;
	return 0;
}

void nd_policy_free(struct nd_policy *p)
{
	if (!p)
		return;
	free(p->zones);
	free(p->guests);
	free(p->vifs);
	free(p->rules);
	free(p);
}

int nd_policy_closed(struct nd_policy **ret)
{
	struct bh_msg_policy_begin b = { .generation = 0, .default_action = BH_POLICY_DROP };
	int r = nd_policy_begin(&b, ret);

	if (r == 0)
		(*ret)->finished = true;
	return r;
}

int nd_policy_add_zone(struct nd_policy *p, const struct bh_msg_policy_zone *z, struct nd_error *e)
{
	if (p->n_zones >= p->want_zones) {
		nd_error_set(e, -EBADMSG, 0, "more zones than POLICY_BEGIN announced");
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < p->n_zones; i++)
		if (bh_streq(p->zones[i].name, z->name)) {
			nd_error_set(e, -EINVAL, 0, "zone '%s' defined twice", z->name);
			return -EINVAL;
		}
	if (grow(&p->zones, p->n_zones, &p->cap_zones, sizeof(*p->zones)) < 0)
		return -ENOMEM;
	p->zones[p->n_zones++] = *z;
	return 0;
}

/*
 * The vifs of one guest arrive one after the other; a guest name seen again
 * later is a second guest of the same name, which nd_policy_finish() refuses.
 */
static uint32_t guest_find(const struct nd_policy *p, const char *name)
{
	if (p->n_guests && bh_streq(p->guests[p->n_guests - 1].name, name))
		return p->n_guests - 1;
	return UINT32_MAX;
}

static int check_host_addr(const struct bh_msg_net *a)
{
	return a->plen == (a->family == 4 ? 32 : 128) ? 0 : -EINVAL;
}

int nd_policy_add_vif(struct nd_policy *p, const struct bh_msg_policy_guest *g, struct nd_error *e)
{
	struct nd_vif *v;
	uint32_t gi;

	if (p->n_vifs >= p->want_vifs) {
		nd_error_set(e, -EBADMSG, 0, "more vifs than POLICY_BEGIN announced");
		return -EBADMSG;
	}
	for (unsigned i = 0; i < g->n_addrs; i++)
		if (check_host_addr(&g->addrs[i]) < 0) {
			nd_error_set(e, -EINVAL, 0, "guest '%s' vif '%s': address %u is a network",
				     g->name, g->ifname, i + 1);
			return -EINVAL;
		}
	if ((g->mac[0] & 1) || !memcmp(g->mac, "\0\0\0\0\0\0", 6)) {
		nd_error_set(e, -EINVAL, 0, "guest '%s' vif '%s': MAC is multicast or zero",
			     g->name, g->ifname);
		return -EINVAL;
	}
	if (grow(&p->vifs, p->n_vifs, &p->cap_vifs, sizeof(*p->vifs)) < 0 ||
	    grow(&p->guests, p->n_guests, &p->cap_guests, sizeof(*p->guests)) < 0) {
		nd_error_set(e, -ENOMEM, 0, "out of memory");
		return -ENOMEM;
	}
	gi = guest_find(p, g->name);
	if (gi == UINT32_MAX) {
		gi = p->n_guests++;
		memcpy(p->guests[gi].name, g->name, sizeof(g->name));
		p->guests[gi].zone = 0;
	}
	v = &p->vifs[p->n_vifs++];
	v->m = *g;
	v->guest = gi;
	return 0;
}

static bool ports_allowed(uint8_t proto)
{
	return proto == BH_POLICY_PROTO_TCP || proto == BH_POLICY_PROTO_UDP;
}

static bool net_is_network(const struct bh_msg_net *n)
{
	unsigned bytes = n->family == 4 ? 4 : 16;

	for (unsigned bit = n->plen; bit < bytes * 8; bit++)
		if (n->addr[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

static int check_rule_shape(const struct nd_rule *r, struct nd_error *e)
{
	const struct bh_msg_policy_rule *m = &r->m;
	uint8_t ff = m->from.kind == BH_POLICY_EP_CIDR ? m->from.net.family : 0;
	uint8_t tf = m->to.kind == BH_POLICY_EP_CIDR ? m->to.net.family : 0;
	uint8_t fam = ff ? ff : tf;

	if (m->from.kind == BH_POLICY_EP_SELF)
		return rule_err(e, r, "from self: traffic the netdom originates is not filtered, "
				"so no rule can match it", NULL);
	if (m->n_ports && !ports_allowed(m->proto))
		return rule_err(e, r, "ports need protocol tcp or udp", NULL);
	for (unsigned i = 0; i < m->n_ports; i++)
		if (m->ports[i].lo == 0 || m->ports[i].lo > m->ports[i].hi)
			return rule_err(e, r, "bad port range", NULL);
	if ((ff && !net_is_network(&m->from.net)) || (tf && !net_is_network(&m->to.net)))
		return rule_err(e, r, "CIDR has bits set beyond its prefix length", NULL);
	if (ff && tf && ff != tf)
		return rule_err(e, r, "mixes IPv4 and IPv6 networks", NULL);
	if ((m->proto == BH_POLICY_PROTO_ICMP && fam == 6) ||
	    (m->proto == BH_POLICY_PROTO_ICMPV6 && fam == 4))
		return rule_err(e, r, "protocol does not match the address family", NULL);
	if (m->from.kind == BH_POLICY_EP_GUEST && m->to.kind == BH_POLICY_EP_GUEST &&
	    bh_streq(m->from.name, m->to.name))
		return rule_err(e, r, "goes from a guest to itself", m->from.name);
	return 0;
}

int nd_policy_add_rule(struct nd_policy *p, const struct bh_msg_policy_rule *m, struct nd_error *e)
{
	struct nd_rule *r;
	int ret;

	if (p->n_rules >= p->want_rules) {
		nd_error_set(e, -EBADMSG, m->id, "more rules than POLICY_BEGIN announced");
		return -EBADMSG;
	}
	if (grow(&p->rules, p->n_rules, &p->cap_rules, sizeof(*p->rules)) < 0)
		return -ENOMEM;
	r = &p->rules[p->n_rules];
	memset(r, 0, sizeof(*r));
	r->m = *m;
	ret = check_rule_shape(r, e);
	if (ret < 0)
		return ret;
	p->n_rules++;
	return 0;
}
