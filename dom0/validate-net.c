/* SPDX-License-Identifier: MIT */
/*
 * Network checks: MAC addresses unique, guest addresses disjoint (from each
 * other and from the netdom's gateways), inside the netdom's networks and
 * their zone's CIDRs, zone CIDRs disjoint, vif backends pointing at the netdom.
 */
#include <string.h>
#include <sys/socket.h>

#include "dom0.h"

/* Every (domain, vif) pair in order, for pairwise checks. */
struct vif_ref {
	const struct bh_domain *dom;
	const struct bh_vif *vif;
};

static void check_mac_pair(struct vif_ref a, struct vif_ref b, struct bh_diags *d)
{
	if (!a.vif->has_mac || !b.vif->has_mac || memcmp(a.vif->mac, b.vif->mac, 6) != 0)
		return;
	bh_diag_add(d, a.vif->src.file, a.vif->src.line,
		    "vif: MAC %02x:%02x:%02x:%02x:%02x:%02x is also used by '%s' (%s:%u)",
		    a.vif->mac[0], a.vif->mac[1], a.vif->mac[2], a.vif->mac[3], a.vif->mac[4],
		    a.vif->mac[5], b.dom->name, b.vif->src.file, b.vif->src.line);
}

static void check_ip_pair(struct vif_ref a, struct vif_ref b, struct bh_diags *d)
{
	char buf[64];

	for (size_t i = 0; i < a.vif->n_ips; i++) {
		for (size_t j = 0; j < b.vif->n_ips; j++) {
			if (!bh_prefix_overlap(&a.vif->ips[i], &b.vif->ips[j]))
				continue;
			bh_prefix_format(&a.vif->ips[i], buf, sizeof(buf));
			bh_diag_add(d, a.vif->src.file, a.vif->src.line,
				    "vif: address %s is also used by '%s' (%s:%u)", buf,
				    b.dom->name, b.vif->src.file, b.vif->src.line);
		}
	}
}

static void check_vif_pairs(const struct bh_topology *t, struct bh_diags *d)
{
	for (size_t i = 0; i < t->n_domains; i++) {
		for (size_t vi = 0; vi < t->domains[i].n_vifs; vi++) {
			struct vif_ref a = { &t->domains[i], &t->domains[i].vifs[vi] };

			/* Every earlier vif: of earlier domains, and earlier in this one. */
			for (size_t j = 0; j <= i; j++) {
				size_t nv = j == i ? vi : t->domains[j].n_vifs;

				for (size_t vj = 0; vj < nv; vj++) {
					struct vif_ref b = { &t->domains[j], &t->domains[j].vifs[vj] };

					check_mac_pair(a, b, d);
					check_ip_pair(a, b, d);
				}
			}
		}
	}
}

/*
 * @ip inside one of @nets, or @nets has no network of @ip's family (a zone
 * declared with IPv4 CIDRs only says nothing about IPv6). Gateways carry
 * their network's prefix length.
 */
static bool in_any(const struct bh_prefix *ip, const struct bh_prefix *nets, size_t n)
{
	bool family_seen = false;

	for (size_t i = 0; i < n; i++) {
		if (bh_prefix_contains(&nets[i], ip))
			return true;
		family_seen |= nets[i].family == ip->family;
	}
	return !family_seen;
}

static bool overlaps_any(const struct bh_prefix *p, const struct bh_prefix *nets, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (bh_prefix_overlap(&nets[i], p))
			return true;
	return false;
}

/* Gateways are netdom addresses: no guest may claim one. */
static void check_vif_ip(const struct bh_domain *dom, const struct bh_vif *vif,
			 const struct bh_prefix *ip, const struct bh_domain *net,
			 const struct bh_zone *zone, struct bh_diags *d)
{
	char buf[64];

	bh_prefix_format(ip, buf, sizeof(buf));
	for (size_t i = 0; net && i < net->n_gateways; i++) {
		struct bh_prefix host = net->gateways[i];

		host.len = host.family == AF_INET ? 32 : 128;
		if (bh_prefix_overlap(&host, ip))
			bh_diag_add(d, vif->src.file, vif->src.line,
				    "vif: address %s is the gateway address of '%s'", buf, net->name);
	}
	if (net && !in_any(ip, net->gateways, net->n_gateways))
		bh_diag_add(d, vif->src.file, vif->src.line,
			    "vif: address %s is outside every network of '%s' (bh_gateway)", buf,
			    net->name);
	if (zone && !in_any(ip, zone->cidrs, zone->n_cidrs))
		bh_diag_add(d, vif->src.file, vif->src.line,
			    "vif: address %s of '%s' is outside zone '%s'", buf, dom->name,
			    zone->name);
}

static void check_vif(const struct bh_topology *t, const struct bh_domain *dom,
		      const struct bh_vif *vif, struct bh_diags *d)
{
	const struct bh_domain *net = bh_topology_service(t, BH_DOM_NETDOM);
	const struct bh_zone *zone = dom->zone ? bh_topology_zone(t, dom->zone) : NULL;

	if (vif->backend && net && !bh_streq(vif->backend, net->name))
		bh_diag_add(d, vif->src.file, vif->src.line,
			    "vif: backend '%s' is not the netdom ('%s'); guest networks are "
			    "served only by the netdom", vif->backend, net->name);
	/* netdom's anti-spoofing binds each vif to its MAC, and names it in the kernel. */
	if (dom->role == BH_DOM_GUEST && !vif->has_mac)
		bh_diag_add(d, vif->src.file, vif->src.line,
			    "vif: a guest vif needs mac= (netdom drops frames from any other MAC)");
	if (vif->vifname && strlen(vif->vifname) > 15)
		bh_diag_add(d, vif->src.file, vif->src.line,
			    "vif: vifname '%s' is longer than 15 characters (an interface name)",
			    vif->vifname);
	for (size_t i = 0; i < vif->n_ips; i++)
		check_vif_ip(dom, vif, &vif->ips[i], net, zone, d);
}

static void check_zone_overlap(const struct bh_topology *t, struct bh_diags *d)
{
	char buf[64];

	for (size_t i = 0; i < t->n_zones; i++) {
		const struct bh_zone *a = &t->zones[i];

		for (size_t j = 0; j < i; j++) {
			const struct bh_zone *b = &t->zones[j];

			for (size_t x = 0; x < a->n_cidrs; x++) {
				if (!overlaps_any(&a->cidrs[x], b->cidrs, b->n_cidrs))
					continue;
				bh_prefix_format(&a->cidrs[x], buf, sizeof(buf));
				bh_diag_add(d, a->src.file, a->src.line,
					    "zone '%s': %s overlaps zone '%s'", a->name, buf,
					    b->name);
			}
		}
	}
}

void bh_validate_net(const struct bh_topology *t, struct bh_diags *d)
{
	check_vif_pairs(t, d);
	check_zone_overlap(t, d);
	for (size_t i = 0; i < t->n_domains; i++)
		for (size_t v = 0; v < t->domains[i].n_vifs; v++)
			check_vif(t, &t->domains[i], &t->domains[i].vifs[v], d);
}
