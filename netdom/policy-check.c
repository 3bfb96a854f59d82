/* SPDX-License-Identifier: MIT */
/*
 * Whole-policy checks (nd_policy_finish) and the message-sequence feeder
 * (nd_policy_feed). Uniqueness is checked by sorting, references resolved by
 * binary search, so a 10,000-rule, 1,000-guest policy validates in
 * milliseconds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netdom.h"

struct name_idx {
	const char *name;
	uint32_t idx;
};

static int cmp_name_idx(const void *a, const void *b)
{
	return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

static uint32_t idx_find(const struct name_idx *v, size_t n, const char *name)
{
	struct name_idx key = { .name = name };
	const struct name_idx *f = bsearch(&key, v, n, sizeof(*v), cmp_name_idx);

	return f ? f->idx : UINT32_MAX;
}

/* Sorted index of zone names (the caller frees); duplicates were refused on add. */
static struct name_idx *zone_index(const struct nd_policy *p)
{
	struct name_idx *v = calloc(p->n_zones ? p->n_zones : 1, sizeof(*v));

	if (!v)
		return NULL;
	for (uint32_t i = 0; i < p->n_zones; i++)
		v[i] = (struct name_idx){ p->zones[i].name, i };
	qsort(v, p->n_zones, sizeof(*v), cmp_name_idx);
	return v;
}

static struct name_idx *guest_index(const struct nd_policy *p)
{
	struct name_idx *v = calloc(p->n_guests ? p->n_guests : 1, sizeof(*v));

	if (!v)
		return NULL;
	for (uint32_t i = 0; i < p->n_guests; i++)
		v[i] = (struct name_idx){ p->guests[i].name, i };
	qsort(v, p->n_guests, sizeof(*v), cmp_name_idx);
	return v;
}

static int resolve_guest_zones(struct nd_policy *p, const struct name_idx *zi, struct nd_error *e)
{
	for (uint32_t i = 0; i < p->n_vifs; i++) {
		const struct nd_vif *v = &p->vifs[i];
		struct nd_guest *g = &p->guests[v->guest];
		uint32_t z = 0;

		if (v->m.zone[0]) {
			z = idx_find(zi, p->n_zones, v->m.zone);
			if (z == UINT32_MAX) {
				nd_error_set(e, -EINVAL, 0, "guest '%s': unknown zone '%s'", g->name,
					     v->m.zone);
				return -EINVAL;
			}
			z++;
		}
		if (g->zone && g->zone != z) {
			nd_error_set(e, -EINVAL, 0, "guest '%s': vifs in different zones", g->name);
			return -EINVAL;
		}
		g->zone = z;
	}
	return 0;
}

/* Items to check for duplicates: a key of up to 17 bytes and who owns it. */
struct dup_item {
	uint8_t key[17];
	uint32_t vif;
};

static int cmp_dup(const void *a, const void *b)
{
	return memcmp(((const struct dup_item *)a)->key, ((const struct dup_item *)b)->key, 17);
}

static int check_dups(const struct nd_policy *p, struct dup_item *v, size_t n, const char *what,
		      struct nd_error *e)
{
	qsort(v, n, sizeof(*v), cmp_dup);
	for (size_t i = 1; i < n; i++)
		if (!memcmp(v[i - 1].key, v[i].key, sizeof(v[i].key))) {
			nd_error_set(e, -EINVAL, 0, "%s of vif '%s' also used by vif '%s'", what,
				     p->vifs[v[i].vif].m.ifname, p->vifs[v[i - 1].vif].m.ifname);
			return -EINVAL;
		}
	return 0;
}

static int check_vifs_unique(const struct nd_policy *p, struct nd_error *e)
{
	size_t n_addrs = 0, k = 0;
	struct dup_item *v;
	int r;

	for (uint32_t i = 0; i < p->n_vifs; i++)
		n_addrs += p->vifs[i].m.n_addrs;
	v = calloc(p->n_vifs + n_addrs + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n_vifs; i++) {
		memcpy(v[i].key, p->vifs[i].m.ifname, BH_IFNAME_MAX);
		v[i].vif = i;
	}
	r = check_dups(p, v, p->n_vifs, "interface name", e);
	for (uint32_t i = 0; r == 0 && i < p->n_vifs; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		memcpy(v[i].key, p->vifs[i].m.mac, 6);
		v[i].vif = i;
	}
	if (r == 0)
		r = check_dups(p, v, p->n_vifs, "MAC", e);
	for (uint32_t i = 0; r == 0 && i < p->n_vifs; i++)
		for (unsigned j = 0; j < p->vifs[i].m.n_addrs; j++, k++) {
			v[k].key[0] = p->vifs[i].m.addrs[j].family;
			memcpy(v[k].key + 1, p->vifs[i].m.addrs[j].addr, 16);
			v[k].vif = i;
		}
	if (r == 0)
		r = check_dups(p, v, n_addrs, "address", e);
	free(v);
	return r;
}

static int resolve_ep(const struct nd_rule *r, const struct bh_msg_policy_ep *ep, uint32_t *ref,
		      const struct name_idx *gi, size_t ng, const struct name_idx *zi, size_t nz,
		      struct nd_error *e)
{
	char name[BH_POLICY_LABEL_MAX + 32];

	if (ep->kind != BH_POLICY_EP_GUEST && ep->kind != BH_POLICY_EP_ZONE)
		return 0;
	*ref = ep->kind == BH_POLICY_EP_GUEST ? idx_find(gi, ng, ep->name)
					      : idx_find(zi, nz, ep->name);
	if (*ref != UINT32_MAX)
		return 0;
	nd_rule_name(r, name, sizeof(name));
	nd_error_set(e, -EINVAL, r->m.id, "%s: unknown %s '%s'", name,
		     ep->kind == BH_POLICY_EP_GUEST ? "guest" : "zone", ep->name);
	return -EINVAL;
}

static int cmp_rule_id(const void *a, const void *b)
{
	uint32_t x = **(const uint32_t *const *)a, y = **(const uint32_t *const *)b;

	return x < y ? -1 : x > y;
}

static int check_rule_ids(const struct nd_policy *p, struct nd_error *e)
{
	const uint32_t **v = calloc(p->n_rules + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->n_rules; i++)
		v[i] = &p->rules[i].m.id;
	qsort(v, p->n_rules, sizeof(*v), cmp_rule_id);
	for (uint32_t i = 1; i < p->n_rules; i++)
		if (*v[i] == *v[i - 1]) {
			nd_error_set(e, -EINVAL, *v[i], "rule %u: id used twice", *v[i]);
			free(v);
			return -EINVAL;
		}
	free(v);
	return 0;
}

static int resolve_rules(struct nd_policy *p, const struct name_idx *zi, struct nd_error *e)
{
	struct name_idx *gi = guest_index(p);
	int r = gi ? 0 : -ENOMEM;

	for (uint32_t i = 1; r == 0 && i < p->n_guests; i++)
		if (bh_streq(gi[i].name, gi[i - 1].name)) {
			nd_error_set(e, -EINVAL, 0, "guest '%s' defined twice (its vifs must be "
				     "sent together)", gi[i].name);
			r = -EINVAL;
		}
	for (uint32_t i = 0; r == 0 && i < p->n_rules; i++) {
		struct nd_rule *rule = &p->rules[i];

		r = resolve_ep(rule, &rule->m.from, &rule->from_ref, gi, p->n_guests, zi,
			       p->n_zones, e);
		if (r == 0)
			r = resolve_ep(rule, &rule->m.to, &rule->to_ref, gi, p->n_guests, zi,
				       p->n_zones, e);
	}
	free(gi);
	return r;
}

int nd_policy_finish(struct nd_policy *p, uint64_t generation, struct nd_error *e)
{
	_cleanup_free_ struct name_idx *zi = NULL;
	int r;

	if (generation != p->generation || p->n_zones != p->want_zones ||
	    p->n_vifs != p->want_vifs || p->n_rules != p->want_rules) {
		nd_error_set(e, -EBADMSG, 0,
			     "POLICY_COMMIT does not match POLICY_BEGIN (generation or counts)");
		return -EBADMSG;
	}
	zi = zone_index(p);
	if (!zi)
		return -ENOMEM;
	r = resolve_guest_zones(p, zi, e);
	if (r == 0)
		r = check_vifs_unique(p, e);
	if (r == 0)
		r = check_rule_ids(p, e);
	if (r == 0)
		r = resolve_rules(p, zi, e);
	if (r == -ENOMEM)
		nd_error_set(e, r, 0, "out of memory");
	if (r == 0)
		p->finished = true;
	return r;
}

const struct nd_rule *nd_policy_rule_by_id(const struct nd_policy *p, uint32_t id)
{
	for (uint32_t i = 0; i < p->n_rules; i++)
		if (p->rules[i].m.id == id)
			return &p->rules[i];
	return NULL;
}

static int feed_item(struct nd_policy *p, uint16_t type, const uint8_t *body, size_t len,
		     struct nd_error *e)
{
	union {
		struct bh_msg_policy_zone z;
		struct bh_msg_policy_guest g;
		struct bh_msg_policy_rule r;
		struct bh_msg_policy_commit c;
	} u;
	int r = -EBADMSG;

	switch (type) {
	case BH_MSG_POLICY_ZONE:
		if (bh_msg_policy_zone_decode(body, len, &u.z) == 0)
			return nd_policy_add_zone(p, &u.z, e);
		break;
	case BH_MSG_POLICY_GUEST:
		if (bh_msg_policy_guest_decode(body, len, &u.g) == 0)
			return nd_policy_add_vif(p, &u.g, e);
		break;
	case BH_MSG_POLICY_RULE:
		if (bh_msg_policy_rule_decode(body, len, &u.r) == 0)
			return nd_policy_add_rule(p, &u.r, e);
		break;
	case BH_MSG_POLICY_COMMIT:
		if (bh_msg_policy_commit_decode(body, len, &u.c) == 0) {
			r = nd_policy_finish(p, u.c.generation, e);
			return r < 0 ? r : 1;
		}
		break;
	default:
		nd_error_set(e, -EPROTO, 0, "%s inside a policy sequence", bh_msg_type_name(type));
		return -EPROTO;
	}
	nd_error_set(e, r, 0, "malformed %s (item %u of the sequence)", bh_msg_type_name(type),
		     p->n_zones + p->n_vifs + p->n_rules + 1);
	return r;
}

int nd_policy_feed(struct nd_policy **pp, uint16_t type, const uint8_t *untrusted_body, size_t len,
		   struct nd_error *e)
{
	struct bh_msg_policy_begin b;
	int r;

	if (type == BH_MSG_POLICY_BEGIN) {
		nd_policy_free(*pp);
		*pp = NULL;
		if (bh_msg_policy_begin_decode(untrusted_body, len, &b) < 0) {
			nd_error_set(e, -EBADMSG, 0, "malformed POLICY_BEGIN");
			return -EBADMSG;
		}
		r = nd_policy_begin(&b, pp);
		if (r < 0)
			nd_error_set(e, r, 0, "out of memory");
		return r;
	}
	if (!*pp) {
		nd_error_set(e, -EPROTO, 0, "%s without POLICY_BEGIN", bh_msg_type_name(type));
		return -EPROTO;
	}
	r = feed_item(*pp, type, untrusted_body, len, e);
	if (r < 0) {
		nd_policy_free(*pp);
		*pp = NULL;
	}
	return r;
}
