/* SPDX-License-Identifier: MIT */
/*
 * bulkhead show DIR: the topology as a tree. Domains with their roles, the
 * channels dom0 opens to each service and each guest opens to its services
 * (disk over NBD to stordom, TPM to vtpm), zones, policy, volumes, vTPMs.
 */
#include <stdio.h>
#include <sys/socket.h>

#include "bulkhead/log.h"
#include "dom0.h"

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: bulkhead %s [--platform host|xen] DIR\n\n"
		"Print the topology in DIR as a tree. An invalid topology is not shown:\n"
		"its errors are printed as by 'bulkhead validate'.\n",
		prog);
}

static void print_size(FILE *out, uint64_t bytes)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (u < 3 && bytes >= 1024 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		fprintf(out, "%llu B", (unsigned long long)bytes);
	else
		fprintf(out, "%llu %ciB", (unsigned long long)bytes, units[u]);
}

static void show_host(const struct bh_topology *t, enum bh_platform platform, FILE *out)
{
	static const char *const perms[] = { "status", "logs", "up", "down",
					     "attest", "policy", "measure", "restart" };

	fprintf(out, "topology %s\n", t->dir);
	fprintf(out, "|-- host: platform %s (host.cfg: %s), default policy %s\n",
		bh_platform_name(platform), bh_platform_name(t->platform),
		bh_action_name(t->default_policy));
	fprintf(out, "|   |-- audit log %s%s\n", t->audit_log ? t->audit_log : "<state dir>/audit.jsonl",
		t->syslog ? ", copied to syslog" : "");
	for (size_t i = 0; i < t->n_grants; i++) {
		const struct bh_grant *g = &t->grants[i];

		fprintf(out, "|   |-- manage: %s %s:", g->is_group ? "group" : "user", g->principal);
		if (g->perms == BH_PERM_ALL)
			fprintf(out, " all");
		else
			for (size_t p = 0; p < BH_ARRAY_SIZE(perms); p++)
				if (g->perms & (1u << p))
					fprintf(out, " %s", perms[p]);
		fprintf(out, "\n");
	}
}

static void show_dom0(const struct bh_topology *t, FILE *out)
{
	fprintf(out, "|-- dom0: bulkhead (control plane)\n");
	for (size_t i = 0; i < t->n_domains; i++) {
		const struct bh_domain *s = &t->domains[i];

		if (s->role != BH_DOM_GUEST)
			fprintf(out, "|   |-- ctl channel -> %s [%s]\n", s->name,
				bh_role_cfg_name(s->role));
	}
}

static void show_vifs(const struct bh_domain *d, FILE *out)
{
	char buf[64];

	for (size_t v = 0; v < d->n_vifs; v++) {
		const struct bh_vif *vif = &d->vifs[v];

		fprintf(out, "|   |   |-- vif%zu", v);
		if (vif->has_mac)
			fprintf(out, " mac %02x:%02x:%02x:%02x:%02x:%02x", vif->mac[0], vif->mac[1],
				vif->mac[2], vif->mac[3], vif->mac[4], vif->mac[5]);
		for (size_t i = 0; i < vif->n_ips; i++) {
			bh_prefix_format(&vif->ips[i], buf, sizeof(buf));
			fprintf(out, " ip %s", buf);
		}
		fprintf(out, " -> netdom\n");
	}
}

static void show_guest_channels(const struct bh_topology *t, const struct bh_domain *d, FILE *out)
{
	const struct bh_domain *stor = bh_topology_service(t, BH_DOM_STORDOM);
	const struct bh_domain *vtpm = bh_topology_service(t, BH_DOM_VTPM);

	for (size_t i = 0; i < t->n_volumes; i++) {
		const struct bh_volume *v = &t->volumes[i];

		if (!bh_streq(v->owner, d->name))
			continue;
		fprintf(out, "|   |   |-- disk channel (NBD) -> %s: volume %s\n",
			stor ? stor->name : "?", v->name);
	}
	if (d->vtpm)
		fprintf(out, "|   |   |-- tpm channel (TPM 2.0) -> %s%s\n", vtpm ? vtpm->name : "?",
			d->measure ? ", measured boot" : "");
}

static void show_domains(const struct bh_topology *t, enum bh_dom_role want_guests, FILE *out)
{
	for (size_t i = 0; i < t->n_domains; i++) {
		const struct bh_domain *d = &t->domains[i];

		if ((d->role == BH_DOM_GUEST) != (want_guests == BH_DOM_GUEST))
			continue;
		fprintf(out, "|   |-- %s [%s] %s, %llu MiB, %u vcpu%s", d->name,
			bh_role_cfg_name(d->role), d->type, (unsigned long long)d->memory_mib,
			d->vcpus, d->vcpus == 1 ? "" : "s");
		if (d->zone)
			fprintf(out, ", zone %s", d->zone);
		fprintf(out, "\n");
		for (size_t g = 0; g < d->n_gateways; g++) {
			char buf[64];

			bh_prefix_format(&d->gateways[g], buf, sizeof(buf));
			fprintf(out, "|   |   |-- gateway %s\n", buf);
		}
		show_vifs(d, out);
		if (d->role == BH_DOM_GUEST)
			show_guest_channels(t, d, out);
	}
}

static void show_zones(const struct bh_topology *t, FILE *out)
{
	char buf[64];

	fprintf(out, "|-- zones\n");
	for (size_t i = 0; i < t->n_zones; i++) {
		const struct bh_zone *z = &t->zones[i];

		fprintf(out, "|   |-- %s", z->name);
		for (size_t c = 0; c < z->n_cidrs; c++) {
			bh_prefix_format(&z->cidrs[c], buf, sizeof(buf));
			fprintf(out, " %s", buf);
		}
		fprintf(out, ":");
		for (size_t d = 0; d < t->n_domains; d++)
			if (t->domains[d].zone && bh_streq(t->domains[d].zone, z->name))
				fprintf(out, " %s", t->domains[d].name);
		fprintf(out, "\n");
	}
}

static void show_rules(const struct bh_topology *t, FILE *out)
{
	char from[64], to[64];

	fprintf(out, "|-- policy (default %s)\n", bh_action_name(t->default_policy));
	for (size_t i = 0; i < t->n_rules; i++) {
		const struct bh_rule *r = &t->rules[i];

		bh_endpoint_format(&r->from, r->owner, from, sizeof(from));
		bh_endpoint_format(&r->to, r->owner, to, sizeof(to));
		fprintf(out, "|   |-- %s %s -> %s %s", bh_action_name(r->action), from, to,
			bh_proto_name(r->proto));
		for (size_t p = 0; p < r->n_ports; p++) {
			fprintf(out, "%c%u", p ? ',' : '/', r->ports[p].lo);
			if (r->ports[p].hi != r->ports[p].lo)
				fprintf(out, "-%u", r->ports[p].hi);
		}
		fprintf(out, "%s\n", r->log ? " log" : "");
	}
}

static void show_volumes(const struct bh_topology *t, FILE *out)
{
	fprintf(out, "|-- volumes\n");
	for (size_t i = 0; i < t->n_volumes; i++) {
		const struct bh_volume *v = &t->volumes[i];

		fprintf(out, "|   |-- %s (guest %s): ", v->name, v->owner);
		print_size(out, v->size);
		fprintf(out, ", LUKS2 %s, %u-byte sectors, %s\n", v->cipher, v->sector_size,
			v->backing ? v->backing : "backing in the state dir");
	}
}

static void show_vtpms(const struct bh_topology *t, FILE *out)
{
	fprintf(out, "`-- vTPMs\n");
	for (size_t i = 0; i < t->n_domains; i++) {
		const struct bh_domain *d = &t->domains[i];

		if (d->vtpm)
			fprintf(out, "    |-- %s: TPM 2.0%s\n", d->name,
				d->measure ? ", kernel+initramfs in PCR 9, cmdline in PCR 8" : "");
	}
}

void bh_show_topology(const struct bh_topology *t, enum bh_platform platform, FILE *out)
{
	show_host(t, platform, out);
	show_dom0(t, out);
	fprintf(out, "|-- service domains\n");
	show_domains(t, BH_DOM_NETDOM, out);
	fprintf(out, "|-- guests\n");
	show_domains(t, BH_DOM_GUEST, out);
	show_zones(t, out);
	show_rules(t, out);
	show_volumes(t, out);
	show_vtpms(t, out);
}

int bh_cmd_show(int argc, char **argv)
{
	struct bh_topology *t;
	enum bh_platform platform;
	int status;

	if (!bh_cmd_load_valid(argc, argv, usage, &platform, &t, &status))
		return status;
	bh_show_topology(t, platform, stdout);
	bh_topology_free(t);
	return 0;
}
