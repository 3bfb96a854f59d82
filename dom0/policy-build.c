/* SPDX-License-Identifier: MIT */
/*
 * The topology's network policy as the message sequence netdomd reads
 * (POLICY_BEGIN, ZONE*, GUEST* one per vif, RULE*, COMMIT): dom0 derives it,
 * netdom never sees config text. Every rule is labelled "file:line" and
 * numbered by its place in the topology (1 = the first rule loaded), so
 * an error from netdom points at the config line. A rule to the netdom
 * domain travels as to=self (netdom's input chain); one from it is refused
 * here, as netdom would.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "bulkhead/msg.h"
#include "dom0.h"

struct writer {
	FILE *out;
	uint8_t buf[BH_MSG_HDR_SIZE + 4096];
	int err;
};

static void emit(struct writer *w, uint16_t type, long len)
{
	long n;

	if (w->err)
		return;
	if (len < 0) {
		w->err = (int)len;
		return;
	}
	n = bh_msg_frame(type, 0, 0, 1, w->buf + BH_MSG_HDR_SIZE, (size_t)len, w->buf,
			 sizeof(w->buf));
	if (n < 0)
		w->err = (int)n;
	else if (fwrite(w->buf, 1, (size_t)n, w->out) != (size_t)n)
		w->err = -EIO;
}

#define BODY(w) ((w)->buf + BH_MSG_HDR_SIZE), (sizeof((w)->buf) - BH_MSG_HDR_SIZE)

void bh_vif_ifname(const struct bh_topology *t, const struct bh_domain *dom, size_t n, char *out,
		   size_t outlen)
{
	size_t k = 0;

	if (dom->vifs[n].vifname) {
		snprintf(out, outlen, "%s", dom->vifs[n].vifname);
		return;
	}
	for (size_t i = 0; i < t->n_domains && &t->domains[i] != dom; i++)
		k += t->domains[i].role == BH_DOM_GUEST;
	snprintf(out, outlen, "vif%zu.%zu", k + 1, n);
}

static void to_net(const struct bh_prefix *p, bool host, struct bh_msg_net *n)
{
	memset(n, 0, sizeof(*n));
	n->family = p->family == AF_INET ? 4 : 6;
	memcpy(n->addr, p->addr, n->family == 4 ? 4 : 16);
	n->plen = (uint8_t)(host ? (n->family == 4 ? 32 : 128) : p->len);
}

static void write_vif(struct writer *w, const struct bh_topology *t, const struct bh_domain *dom,
		      size_t n)
{
	const struct bh_vif *v = &dom->vifs[n];
	struct bh_msg_policy_guest g = { 0 };

	snprintf(g.name, sizeof(g.name), "%s", dom->name);
	snprintf(g.zone, sizeof(g.zone), "%s", dom->zone ? dom->zone : "");
	bh_vif_ifname(t, dom, n, g.ifname, sizeof(g.ifname));
	memcpy(g.mac, v->mac, 6);
	for (size_t i = 0; i < v->n_ips && i < BH_POLICY_ADDRS_MAX; i++)
		to_net(&v->ips[i], true, &g.addrs[g.n_addrs++]);
	emit(w, BH_MSG_POLICY_GUEST, bh_msg_policy_guest_encode(&g, BODY(w)));
}

/*
 * One end of a rule: a guest by name, or the netdom domain as "self" (its
 * input chain). Returns false for any other domain, which validation already
 * refused (a rule cannot reach stordom or vtpm).
 */
static bool to_ep(const struct bh_topology *t, const struct bh_rule *r,
		  const struct bh_endpoint *e, struct bh_msg_policy_ep *m)
{
	const struct bh_domain *dom;

	memset(m, 0, sizeof(*m));
	switch (e->kind) {
	case BH_EP_SELF:
	case BH_EP_DOMAIN:
		dom = bh_topology_domain(t, e->kind == BH_EP_SELF ? r->owner : e->name);
		if (dom && dom->role == BH_DOM_NETDOM) {
			m->kind = BH_POLICY_EP_SELF;
			return true;
		}
		if (!dom || dom->role != BH_DOM_GUEST)
			return false;
		m->kind = BH_POLICY_EP_GUEST;
		snprintf(m->name, sizeof(m->name), "%s", dom->name);
		return true;
	case BH_EP_ZONE:
		m->kind = BH_POLICY_EP_ZONE;
		snprintf(m->name, sizeof(m->name), "%s", e->name);
		return true;
	case BH_EP_CIDR:
		m->kind = BH_POLICY_EP_CIDR;
		to_net(&e->cidr, false, &m->net);
		return true;
	default:
		return true; /* any */
	}
}

static bool rule_msg(const struct bh_topology *t, size_t i, struct bh_msg_policy_rule *m)
{
	static const uint8_t proto[] = {
		[BH_PROTO_ANY] = BH_POLICY_PROTO_ANY, [BH_PROTO_TCP] = BH_POLICY_PROTO_TCP,
		[BH_PROTO_UDP] = BH_POLICY_PROTO_UDP, [BH_PROTO_ICMP] = BH_POLICY_PROTO_ICMP,
		[BH_PROTO_ICMPV6] = BH_POLICY_PROTO_ICMPV6,
	};
	static const uint8_t action[] = {
		[BH_ACTION_ACCEPT] = BH_POLICY_ACCEPT, [BH_ACTION_DROP] = BH_POLICY_DROP,
		[BH_ACTION_REJECT] = BH_POLICY_REJECT,
	};
	const struct bh_rule *r = &t->rules[i];

	memset(m, 0, sizeof(*m));
	if (!to_ep(t, r, &r->from, &m->from) || !to_ep(t, r, &r->to, &m->to))
		return false;
	m->id = (uint32_t)i + 1;
	snprintf(m->label, sizeof(m->label), "%s:%u", r->src.file, r->src.line);
	m->proto = proto[r->proto];
	m->action = action[r->action];
	m->flags = r->log ? BH_POLICY_RULE_LOG : 0;
	for (size_t p = 0; p < r->n_ports && p < BH_POLICY_PORTS_MAX; p++)
		m->ports[m->n_ports++] = (struct bh_msg_port_range){ r->ports[p].lo, r->ports[p].hi };
	return true;
}

static void count(const struct bh_topology *t, struct bh_msg_policy_begin *b)
{
	struct bh_msg_policy_rule m;

	b->n_zones = (uint32_t)t->n_zones;
	for (size_t i = 0; i < t->n_domains; i++)
		if (t->domains[i].role == BH_DOM_GUEST)
			b->n_vifs += (uint32_t)t->domains[i].n_vifs;
	for (size_t i = 0; i < t->n_rules; i++)
		b->n_rules += rule_msg(t, i, &m);
}

int bh_policy_write(const struct bh_topology *t, uint64_t generation, FILE *out,
		    struct bh_diags *d)
{
	struct bh_msg_policy_begin b = { .generation = generation };
	struct bh_msg_policy_commit c = { generation };
	struct bh_msg_policy_rule m;
	struct bh_msg_policy_zone z;
	struct writer w = { .out = out };

	b.default_action = t->default_policy == BH_ACTION_REJECT ? BH_POLICY_REJECT : BH_POLICY_DROP;
	count(t, &b);
	emit(&w, BH_MSG_POLICY_BEGIN, bh_msg_policy_begin_encode(&b, BODY(&w)));
	for (size_t i = 0; i < t->n_zones; i++) {
		memset(&z, 0, sizeof(z));
		snprintf(z.name, sizeof(z.name), "%s", t->zones[i].name);
		emit(&w, BH_MSG_POLICY_ZONE, bh_msg_policy_zone_encode(&z, BODY(&w)));
	}
	for (size_t i = 0; i < t->n_domains; i++)
		for (size_t v = 0; t->domains[i].role == BH_DOM_GUEST && v < t->domains[i].n_vifs; v++)
			write_vif(&w, t, &t->domains[i], v);
	for (size_t i = 0; i < t->n_rules; i++) {
		const char *why = NULL;

		if (!rule_msg(t, i, &m))
			why = "a rule to or from a domain that is neither a guest nor the netdom "
			      "cannot be exported";
		else if (m.from.kind == BH_POLICY_EP_SELF)
			why = "a rule from the netdom cannot match: traffic the netdom originates "
			      "is not filtered (its replies pass as established)";
		if (!why) {
			emit(&w, BH_MSG_POLICY_RULE, bh_msg_policy_rule_encode(&m, BODY(&w)));
			continue;
		}
		bh_diag_add(d, t->rules[i].src.file, t->rules[i].src.line, "%s", why);
		if (!w.err)
			w.err = -EINVAL;
	}
	emit(&w, BH_MSG_POLICY_COMMIT, bh_msg_policy_commit_encode(&c, BODY(&w)));
	return w.err;
}
