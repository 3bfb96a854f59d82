/* SPDX-License-Identifier: MIT */
/*
 * Whole-topology checks: names, service roles, zones, volumes, platform
 * requirements. Every problem is collected (the validator never stops at the
 * first), with the file and line of the key that causes it.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dom0.h"

enum bh_platform bh_platform_resolve(enum bh_platform cli, const struct bh_topology *t)
{
	if (cli != BH_PLATFORM_AUTO)
		return cli;
	if (t && t->platform != BH_PLATFORM_AUTO)
		return t->platform;
	return access("/dev/xen/privcmd", F_OK) == 0 ? BH_PLATFORM_XEN : BH_PLATFORM_HOST;
}

static void check_domain_names(const struct bh_topology *t, struct bh_diags *d)
{
	for (size_t i = 0; i < t->n_domains; i++) {
		const struct bh_domain *a = &t->domains[i];

		for (size_t j = 0; j < i; j++) {
			const struct bh_domain *b = &t->domains[j];

			if (bh_streq(a->name, b->name)) {
				bh_diag_add(d, a->src.file, a->src.line,
					    "duplicate domain name '%s' (also in %s)", a->name,
					    b->src.file);
				break;
			}
		}
	}
}

/* At most one domain per service role. */
static void check_roles_unique(const struct bh_topology *t, struct bh_diags *d)
{
	for (size_t i = 0; i < t->n_domains; i++) {
		const struct bh_domain *a = &t->domains[i];
		const struct bh_domain *first = bh_topology_service(t, a->role);

		if (a->role != BH_DOM_GUEST && first != a)
			bh_diag_add(d, a->cfg->path, bh_cfg_line(a->cfg, "bh_role"),
				    "a second %s domain '%s' (the first is '%s' in %s)",
				    bh_role_cfg_name(a->role), a->name, first->name, first->cfg->path);
	}
}

/* The service a guest's key needs must exist. */
static void need_service(const struct bh_topology *t, const struct bh_domain *g, const char *key,
			 enum bh_dom_role role, struct bh_diags *d)
{
	if (!bh_topology_service(t, role))
		bh_diag_add(d, g->cfg->path, bh_cfg_line(g->cfg, key),
			    "'%s' needs a %s domain, but the topology has none", key,
			    bh_role_cfg_name(role));
}

static void check_services_needed(const struct bh_topology *t, struct bh_diags *d)
{
	for (size_t i = 0; i < t->n_domains; i++) {
		const struct bh_domain *g = &t->domains[i];

		if (g->role != BH_DOM_GUEST)
			continue;
		if (g->n_vifs)
			need_service(t, g, "vif", BH_DOM_NETDOM, d);
		if (bh_cfg_get(g->cfg, "bh_volume"))
			need_service(t, g, "bh_volume", BH_DOM_STORDOM, d);
		if (g->vtpm)
			need_service(t, g, "bh_vtpm", BH_DOM_VTPM, d);
		if (g->measure && !g->vtpm)
			bh_diag_add(d, g->cfg->path, bh_cfg_line(g->cfg, "bh_measure"),
				    "'bh_measure' needs 'bh_vtpm = 1' (measurements go to the "
				    "guest's vTPM)");
	}
}

static void check_zones(const struct bh_topology *t, struct bh_diags *d)
{
	for (size_t i = 0; i < t->n_zones; i++)
		for (size_t j = 0; j < i; j++)
			if (bh_streq(t->zones[i].name, t->zones[j].name))
				bh_diag_add(d, t->zones[i].src.file, t->zones[i].src.line,
					    "duplicate zone '%s' (also at line %u)", t->zones[i].name,
					    t->zones[j].src.line);
	for (size_t i = 0; i < t->n_domains; i++) {
		const struct bh_domain *g = &t->domains[i];

		if (g->zone && !bh_topology_zone(t, g->zone))
			bh_diag_add(d, g->cfg->path, bh_cfg_line(g->cfg, "bh_zone"),
				    "unknown zone '%s' (zones are declared by bh_zones in host.cfg)",
				    g->zone);
	}
}

static void check_volumes(const struct bh_topology *t, struct bh_diags *d)
{
	for (size_t i = 0; i < t->n_volumes; i++) {
		const struct bh_volume *a = &t->volumes[i];
		const struct bh_domain *g = a->owner ? bh_topology_domain(t, a->owner) : NULL;

		/* Its secret is sealed to the owner's measured boot, in the owner's vTPM. */
		if (a->sealed && g && (!g->vtpm || !g->measure))
			bh_diag_add(d, a->src.file, a->src.line,
				    "volume '%s': seal=1 needs 'bh_vtpm = 1' and 'bh_measure = 1' "
				    "(its secret is sealed to the guest's measurements)", a->name);
		if (a->sealed && i >= 64)
			bh_diag_add(d, a->src.file, a->src.line,
				    "volume '%s': seal=1 only for the first 64 volumes", a->name);
		for (size_t j = 0; j < i; j++) {
			const struct bh_volume *b = &t->volumes[j];

			if (bh_streq(a->name, b->name))
				bh_diag_add(d, a->src.file, a->src.line,
					    "duplicate volume name '%s' (also in %s:%u)", a->name,
					    b->src.file, b->src.line);
			else if (a->backing && b->backing && bh_streq(a->backing, b->backing))
				bh_diag_add(d, a->src.file, a->src.line,
					    "volume '%s' uses the backing file of '%s' (%s)", a->name,
					    b->name, a->backing);
		}
	}
}

/*
 * A service domain has at most one disk: its persistent state, which the
 * images' /init mounts from xvdb (stordom: volumes' backing files; vtpm:
 * its instances and manager key), so it must be xvdb and writable.
 */
static void check_state_disk(const struct bh_domain *dom, struct bh_diags *d)
{
	const struct bh_disk *k = dom->n_disks ? &dom->disks[0] : NULL;

	if (!k)
		return;
	if (dom->n_disks > 1)
		bh_diag_add(d, dom->cfg->path, dom->disks[1].line,
			    "disk: a service domain has one disk, its state disk (xvdb)");
	else if (!bh_streq(k->vdev, "xvdb"))
		bh_diag_add(d, dom->cfg->path, k->line,
			    "disk: a service domain's state disk is xvdb, not '%s'", k->vdev);
	else if (k->readonly)
		bh_diag_add(d, dom->cfg->path, k->line,
			    "disk: a service domain's state disk must be writable (access=rw)");
	else if (!k->target[0])
		bh_diag_add(d, dom->cfg->path, k->line, "disk: the state disk needs a target");
}

static void check_disks(const struct bh_domain *dom, struct bh_diags *d)
{
	if (dom->role != BH_DOM_GUEST)
		check_state_disk(dom, d);
	for (size_t i = 0; i < dom->n_disks; i++)
		for (size_t j = 0; j < i; j++)
			if (bh_streq(dom->disks[i].vdev, dom->disks[j].vdev))
				bh_diag_add(d, dom->cfg->path, dom->disks[i].line,
					    "disk: vdev '%s' used twice", dom->disks[i].vdev);
}

/* A kernel or ramdisk path: relative ones are relative to the topology directory. */
static void check_readable(const struct bh_topology *t, const struct bh_domain *dom,
			   const char *key, const char *path, struct bh_diags *d)
{
	_cleanup_free_ char *full = NULL;

	if (path[0] != '/' && asprintf(&full, "%s/%s", t->dir, path) < 0) {
		d->err = -ENOMEM;
		return;
	}
	if (access(full ? full : path, R_OK) < 0)
		bh_diag_add(d, dom->cfg->path, bh_cfg_line(dom->cfg, key), "%s '%s': %s", key,
			    path, strerror(errno));
}

static void check_platform(const struct bh_topology *t, const struct bh_domain *dom,
			   enum bh_platform platform, struct bh_diags *d)
{
	if (platform == BH_PLATFORM_HOST) {
		if (dom->role == BH_DOM_GUEST && !dom->host_cmd)
			bh_diag_add(d, dom->cfg->path, dom->src.line,
				    "guest '%s' has no 'bh_host_cmd' (what it runs on the host "
				    "platform)", dom->name);
		return;
	}
	if (!dom->kernel)
		bh_diag_add(d, dom->cfg->path, dom->src.line,
			    "'%s' has no 'kernel' (required on the xen platform)", dom->name);
	else
		check_readable(t, dom, "kernel", dom->kernel, d);
	if (dom->ramdisk)
		check_readable(t, dom, "ramdisk", dom->ramdisk, d);
}

void bh_validate(const struct bh_topology *t, enum bh_platform platform, struct bh_diags *d)
{
	check_domain_names(t, d);
	check_roles_unique(t, d);
	check_services_needed(t, d);
	check_zones(t, d);
	check_volumes(t, d);
	for (size_t i = 0; i < t->n_domains; i++) {
		check_disks(&t->domains[i], d);
		check_platform(t, &t->domains[i], platform, d);
	}
	bh_validate_net(t, d);
	bh_validate_rules(t, d);
}
