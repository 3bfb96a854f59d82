/* SPDX-License-Identifier: MIT */
/*
 * Policy builders shared by the netdom unit tests: short calls that fill the
 * message structs dom0 would send and hand them to the policy model.
 */
#ifndef ND_TEST_H
#define ND_TEST_H

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../netdom/netdom.h"

static inline struct bh_msg_net nt_net(const char *s)
{
	struct bh_msg_net n = { 0 };
	char a[64];
	const char *slash = strchr(s, '/');

	snprintf(a, sizeof(a), "%.*s", slash ? (int)(slash - s) : (int)strlen(s), s);
	if (inet_pton(AF_INET, a, n.addr) == 1)
		n.family = 4;
	else if (inet_pton(AF_INET6, a, n.addr) == 1)
		n.family = 6;
	n.plen = (uint8_t)(slash ? atoi(slash + 1) : n.family == 4 ? 32 : 128);
	return n;
}

static inline struct nd_policy *nt_begin(uint32_t zones, uint32_t vifs, uint32_t rules)
{
	struct bh_msg_policy_begin b = { 1, BH_POLICY_DROP, zones, vifs, rules };
	struct nd_policy *p = NULL;

	return nd_policy_begin(&b, &p) == 0 ? p : NULL;
}

static inline int nt_zone(struct nd_policy *p, const char *name, struct nd_error *e)
{
	struct bh_msg_policy_zone z = { 0 };

	snprintf(z.name, sizeof(z.name), "%s", name);
	return nd_policy_add_zone(p, &z, e);
}

/* @mac_last: last MAC byte (00:16:3e:00:00:xx); @addrs: comma-free list of up to 2. */
static inline struct bh_msg_policy_guest nt_vif_msg(const char *guest, const char *zone,
						     const char *ifname, uint8_t mac_last,
						     const char *a1, const char *a2)
{
	struct bh_msg_policy_guest g = { .mac = { 0, 0x16, 0x3e, 0, 0, mac_last } };

	snprintf(g.name, sizeof(g.name), "%s", guest);
	snprintf(g.zone, sizeof(g.zone), "%s", zone ? zone : "");
	snprintf(g.ifname, sizeof(g.ifname), "%s", ifname);
	if (a1)
		g.addrs[g.n_addrs++] = nt_net(a1);
	if (a2)
		g.addrs[g.n_addrs++] = nt_net(a2);
	return g;
}

static inline int nt_vif(struct nd_policy *p, const char *guest, const char *zone,
			 const char *ifname, uint8_t mac_last, const char *a1, const char *a2,
			 struct nd_error *e)
{
	struct bh_msg_policy_guest g = nt_vif_msg(guest, zone, ifname, mac_last, a1, a2);

	return nd_policy_add_vif(p, &g, e);
}

/* "any", "self", "g=NAME", "z=NAME" or a CIDR. */
static inline struct bh_msg_policy_ep nt_ep(const char *s)
{
	struct bh_msg_policy_ep e = { 0 };

	if (!strcmp(s, "any"))
		return e;
	if (!strcmp(s, "self")) {
		e.kind = BH_POLICY_EP_SELF;
		return e;
	}
	if (s[1] == '=') {
		e.kind = s[0] == 'g' ? BH_POLICY_EP_GUEST : BH_POLICY_EP_ZONE;
		snprintf(e.name, sizeof(e.name), "%s", s + 2);
		return e;
	}
	e.kind = BH_POLICY_EP_CIDR;
	e.net = nt_net(s);
	return e;
}

static inline struct bh_msg_policy_rule nt_rule_msg(uint32_t id, const char *from, const char *to,
						    uint8_t proto, uint16_t plo, uint16_t phi,
						    uint8_t action)
{
	struct bh_msg_policy_rule r = { .id = id, .proto = proto, .action = action };

	snprintf(r.label, sizeof(r.label), "t:%u", id);
	r.from = nt_ep(from);
	r.to = nt_ep(to);
	if (plo)
		r.ports[r.n_ports++] = (struct bh_msg_port_range){ plo, phi };
	return r;
}

static inline int nt_rule(struct nd_policy *p, uint32_t id, const char *from, const char *to,
			  uint8_t proto, uint16_t plo, uint16_t phi, uint8_t action,
			  struct nd_error *e)
{
	struct bh_msg_policy_rule r = nt_rule_msg(id, from, to, proto, plo, phi, action);

	return nd_policy_add_rule(p, &r, e);
}

#endif
