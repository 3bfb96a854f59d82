/* SPDX-License-Identifier: MIT */
/*
 * Policy checks: every rule names things that exist and can carry traffic,
 * and can match at least one packet.
 */
#include <string.h>

#include "dom0.h"

/* The domain an endpoint resolves to, or NULL (zones, any, CIDRs, unknown names). */
static const struct bh_domain *ep_domain(const struct bh_topology *t, const struct bh_rule *r,
					 const struct bh_endpoint *e)
{
	if (e->kind == BH_EP_SELF)
		return r->owner ? bh_topology_domain(t, r->owner) : NULL;
	if (e->kind == BH_EP_DOMAIN)
		return bh_topology_domain(t, e->name);
	return NULL;
}

static void check_endpoint(const struct bh_topology *t, const struct bh_rule *r,
			   const struct bh_endpoint *e, const char *field, struct bh_diags *d)
{
	const struct bh_domain *dom;

	if (e->kind == BH_EP_ZONE && !bh_topology_zone(t, e->name))
		bh_diag_add(d, r->src.file, r->src.line,
			    "bh_allow: %s=zone:%s names an unknown zone", field, e->name);
	if (e->kind != BH_EP_DOMAIN)
		return;
	dom = bh_topology_domain(t, e->name);
	if (!dom)
		bh_diag_add(d, r->src.file, r->src.line,
			    "bh_allow: %s=%s names an unknown domain", field, e->name);
	else if (dom->role == BH_DOM_STORDOM || dom->role == BH_DOM_VTPM)
		bh_diag_add(d, r->src.file, r->src.line,
			    "bh_allow: %s=%s is the %s, which is not on any guest network", field,
			    e->name, bh_role_cfg_name(dom->role));
	else if (dom->role == BH_DOM_NETDOM && bh_streq(field, "from"))
		bh_diag_add(d, r->src.file, r->src.line,
			    "bh_allow: from=%s: what the netdom sends itself is not filtered, so the "
			    "rule can never match", e->name);
	else if (dom->role == BH_DOM_GUEST && !dom->n_vifs)
		bh_diag_add(d, r->src.file, r->src.line,
			    "bh_allow: %s=%s has no vif, so no traffic can reach it", field, e->name);
}

static void check_match(const struct bh_rule *r, struct bh_diags *d)
{
	if (r->n_ports && r->proto != BH_PROTO_TCP && r->proto != BH_PROTO_UDP)
		bh_diag_add(d, r->src.file, r->src.line,
			    "bh_allow: port= needs proto=tcp or proto=udp; with proto=%s the rule "
			    "can never match", bh_proto_name(r->proto));
	if (r->from.kind == BH_EP_CIDR && r->to.kind == BH_EP_CIDR)
		bh_diag_add(d, r->src.file, r->src.line,
			    "bh_allow: both ends are outside networks; the rule concerns no domain");
}

/* A guest's rules concern the guest: one end is the guest itself. */
static void check_owner(const struct bh_topology *t, const struct bh_rule *r, struct bh_diags *d)
{
	const struct bh_domain *from = ep_domain(t, r, &r->from);
	const struct bh_domain *to = ep_domain(t, r, &r->to);
	bool self_from = r->from.kind == BH_EP_SELF || (from && bh_streq(from->name, r->owner));
	bool self_to = r->to.kind == BH_EP_SELF || (to && bh_streq(to->name, r->owner));

	if (self_from && self_to)
		bh_diag_add(d, r->src.file, r->src.line,
			    "bh_allow: from and to are both '%s'; the rule can never match",
			    r->owner);
	else if (!self_from && !self_to)
		bh_diag_add(d, r->src.file, r->src.line,
			    "bh_allow: a rule in '%s' must have '%s' at one end (omit from= or "
			    "to=)", r->owner, r->owner);
}

static void check_host_rule(const struct bh_rule *r, struct bh_diags *d)
{
	char a[64], b[64];

	bh_endpoint_format(&r->from, NULL, a, sizeof(a));
	bh_endpoint_format(&r->to, NULL, b, sizeof(b));
	if (r->from.kind == r->to.kind && bh_streq(a, b) && r->from.kind != BH_EP_ANY)
		bh_diag_add(d, r->src.file, r->src.line,
			    "bh_allow: from and to are both '%s'; the rule can never match", a);
}

void bh_validate_rules(const struct bh_topology *t, struct bh_diags *d)
{
	for (size_t i = 0; i < t->n_rules; i++) {
		const struct bh_rule *r = &t->rules[i];

		check_endpoint(t, r, &r->from, "from", d);
		check_endpoint(t, r, &r->to, "to", d);
		check_match(r, d);
		if (r->owner)
			check_owner(t, r, d);
		else
			check_host_rule(r, d);
	}
}
