/* SPDX-License-Identifier: MIT */
/* host.cfg: platform, management grants, audit sinks, default policy, zones, zone rules. */
#include <stdlib.h>
#include <string.h>

#include "dom0.h"

#define ERRLEN 256

static int host_grants(struct bh_topology *t, const struct bh_cfg_file *f, struct bh_diags *d)
{
	const struct bh_cfg_value *v = bh_val_list(f, "bh_manage");
	char err[ERRLEN];

	for (size_t i = 0; v && i < v->n_items; i++) {
		struct bh_grant g, *slot;
		int r = bh_grant_parse(v->items[i], &g, err, sizeof(err));

		if (r == -EINVAL) {
			bh_diag_add(d, f->path, v->item_lines[i], "bh_manage: %s", err);
			continue;
		}
		if (r < 0)
			return r;
		g.src = (struct bh_src){ f->path, v->item_lines[i] };
		slot = bh_array_push(&t->grants, &t->n_grants, sizeof(*slot));
		if (!slot) {
			bh_grant_clear(&g);
			return -ENOMEM;
		}
		*slot = g;
	}
	return 0;
}

static int host_zones(struct bh_topology *t, const struct bh_cfg_file *f, struct bh_diags *d)
{
	const struct bh_cfg_value *v = bh_val_list(f, "bh_zones");
	char err[ERRLEN];

	for (size_t i = 0; v && i < v->n_items; i++) {
		struct bh_zone z, *slot;
		int r = bh_zone_parse(v->items[i], &z, err, sizeof(err));

		if (r == -EINVAL) {
			bh_diag_add(d, f->path, v->item_lines[i], "bh_zones: %s", err);
			continue;
		}
		if (r < 0)
			return r;
		z.src = (struct bh_src){ f->path, v->item_lines[i] };
		slot = bh_array_push(&t->zones, &t->n_zones, sizeof(*slot));
		if (!slot) {
			bh_zone_clear(&z);
			return -ENOMEM;
		}
		*slot = z;
	}
	return 0;
}

/*
 * bh_allow items of one file into the topology's rule list. @owner is the
 * domain whose file it is, NULL for host.cfg (where both ends must be named).
 */
int bh_rules_build(struct bh_topology *t, const struct bh_cfg_file *f, const char *owner,
		   struct bh_diags *d)
{
	const struct bh_cfg_value *v = bh_val_list(f, "bh_allow");
	char err[ERRLEN];

	for (size_t i = 0; v && i < v->n_items; i++) {
		struct bh_rule rule, *slot;
		int r = bh_rule_parse(v->items[i], &rule, err, sizeof(err));

		if (r == 0 && !owner && (rule.from.kind == BH_EP_SELF || rule.to.kind == BH_EP_SELF)) {
			bh_rule_clear(&rule);
			snprintf(err, sizeof(err), "a host.cfg rule needs both from= and to=");
			r = -EINVAL;
		}
		if (r == -EINVAL) {
			bh_diag_add(d, f->path, v->item_lines[i], "bh_allow: %s", err);
			continue;
		}
		if (r < 0)
			return r;
		rule.src = (struct bh_src){ f->path, v->item_lines[i] };
		rule.owner = owner ? strdup(owner) : NULL;
		slot = bh_array_push(&t->rules, &t->n_rules, sizeof(*slot));
		if (!slot || (owner && !rule.owner)) {
			bh_rule_clear(&rule);
			return -ENOMEM;
		}
		*slot = rule;
	}
	return 0;
}

int bh_host_build(struct bh_topology *t, const struct bh_cfg_file *f, struct bh_diags *d)
{
	static const char *const platforms[] = { "auto", "host", "xen" };
	static const char *const policies[] = { "drop", "reject" };
	int v, r;

	t->host_cfg = f;
	if (bh_val_enum(f, "bh_platform", platforms, BH_ARRAY_SIZE(platforms), d, &v) == 0 &&
	    bh_val_str(f, "bh_platform"))
		t->platform = (enum bh_platform)v;
	if (bh_val_enum(f, "bh_default_policy", policies, BH_ARRAY_SIZE(policies), d, &v) == 0 &&
	    bh_val_str(f, "bh_default_policy"))
		t->default_policy = v ? BH_ACTION_REJECT : BH_ACTION_DROP;
	bh_val_bool(f, "bh_syslog", d, &t->syslog);
	bh_val_abspath(f, "bh_audit_log", d);
	bh_val_abspath(f, "bh_state_dir", d);
	bh_val_abspath(f, "bh_syslog_socket", d);
	r = bh_val_strdup(f, "bh_audit_log", &t->audit_log);
	if (r == 0)
		r = bh_val_strdup(f, "bh_syslog_socket", &t->syslog_socket);
	if (r == 0)
		r = bh_val_strdup(f, "bh_state_dir", &t->state_dir);
	if (r == 0)
		r = host_grants(t, f, d);
	if (r == 0)
		r = host_zones(t, f, d);
	if (r == 0)
		r = bh_rules_build(t, f, NULL, d);
	return r;
}
