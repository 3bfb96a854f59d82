/* SPDX-License-Identifier: MIT */
/*
 * A service domain or guest file into a struct bh_domain (plus the volumes and
 * rules it declares, which go to the topology's own lists).
 */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/parse.h"
#include "dom0.h"

#define ERRLEN 256

struct builder {
	struct bh_topology *t;
	const struct bh_cfg_file *f;
	struct bh_diags *d;
	struct bh_domain *dom;
};

static void domain_clear(struct bh_domain *dom)
{
	free(dom->name);
	free(dom->type);
	free(dom->tsc_mode);
	free(dom->kernel);
	free(dom->ramdisk);
	free(dom->cmdline);
	for (size_t i = 0; i < dom->n_vifs; i++)
		bh_vif_clear(&dom->vifs[i]);
	free(dom->vifs);
	for (size_t i = 0; i < dom->n_disks; i++)
		bh_disk_clear(&dom->disks[i]);
	free(dom->disks);
	free(dom->zone);
	free(dom->host_cmd);
	free(dom->io_max);
	free(dom->gateways);
}

/*
 * The role: from bh_role in a service file, always "guest" under guests/.
 * Returns false when a service file has no usable role.
 */
static bool build_role(struct builder *b)
{
	static const char *const roles[] = { "guest", "netdom", "stordom", "vtpm" };
	const struct bh_cfg_file *f = b->f;
	int v;

	b->dom->role = BH_DOM_GUEST;
	if (f->kind == BH_FILE_GUEST)
		return true;
	if (!bh_val_str(f, "bh_role")) {
		bh_diag_add(b->d, f->path, 0,
			    "missing 'bh_role' (netdom, stordom or vtpm; guests go in guests/)");
		return false;
	}
	if (bh_val_enum(f, "bh_role", roles, BH_ARRAY_SIZE(roles), b->d, &v) < 0)
		return false;
	if (v == BH_DOM_GUEST) {
		bh_diag_add(b->d, f->path, bh_cfg_line(f, "bh_role"),
			    "bh_role 'guest': guest files belong in guests/");
		return false;
	}
	b->dom->role = (enum bh_dom_role)v;
	return true;
}

/* The name; when missing or bad, the file name stands in so checking goes on. */
static int build_name(struct builder *b)
{
	const char *name = bh_val_str(b->f, "name");
	_cleanup_free_ char *copy = strdup(b->f->path);
	char *dot;

	if (!copy)
		return -ENOMEM;
	b->dom->src = (struct bh_src){ b->f->path, bh_cfg_line(b->f, "name") };
	if (!name)
		bh_diag_add(b->d, b->f->path, 0, "missing 'name'");
	else if (bh_check_name(name) < 0)
		bh_diag_add(b->d, b->f->path, b->dom->src.line,
			    "bad name '%s' (1-63 of a-z, 0-9, _ and -, starting with a letter)", name);
	else
		return (b->dom->name = strdup(name)) ? 0 : -ENOMEM;
	name = basename(copy);
	dot = strrchr(name, '.');
	if (dot)
		*dot = '\0';
	return (b->dom->name = strdup(name)) ? 0 : -ENOMEM;
}

/* xl: "cmdline" wins; else "root=ROOT EXTRA". bulkhead refuses the ambiguity. */
static int build_cmdline(struct builder *b)
{
	const char *cmdline = bh_val_str(b->f, "cmdline");
	const char *extra = bh_val_str(b->f, "extra");
	const char *root = bh_val_str(b->f, "root");

	if (cmdline && (extra || root)) {
		bh_diag_add(b->d, b->f->path, bh_cfg_line(b->f, "cmdline"),
			    "'cmdline' and '%s' both set; use one", extra ? "extra" : "root");
		return 0;
	}
	if (cmdline)
		return bh_val_strdup(b->f, "cmdline", &b->dom->cmdline);
	if (!root)
		return bh_val_strdup(b->f, "extra", &b->dom->cmdline);
	if (asprintf(&b->dom->cmdline, "root=%s%s%s", root, extra ? " " : "", extra ? extra : "") < 0) {
		b->dom->cmdline = NULL;
		return -ENOMEM;
	}
	return 0;
}

int bh_io_max_check(const char *untrusted_s, char *err, size_t errlen)
{
	static const char *const keys[] = { "rbps=", "wbps=", "riops=", "wiops=" };
	char copy[256], *save = NULL;
	size_t n = 0;

	if (bh_fmt(copy, sizeof(copy), "%s", untrusted_s) < 0)
		return bh_fmt(err, errlen, "too long"), -EINVAL;
	for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save), n++) {
		size_t k = 0;
		uint64_t v;

		while (k < BH_ARRAY_SIZE(keys) && !bh_startswith(tok, keys[k]))
			k++;
		if (k == BH_ARRAY_SIZE(keys))
			return bh_fmt(err, errlen, "'%.40s' is not rbps=, wbps=, riops= or wiops=", tok),
			       -EINVAL;
		tok += strlen(keys[k]);
		if (!bh_streq(tok, "max") && bh_parse_u64(tok, 1, UINT64_MAX, &v) < 0)
			return bh_fmt(err, errlen, "bad value '%.40s' (a number or max)", tok), -EINVAL;
	}
	return n ? 0 : (bh_fmt(err, errlen, "empty"), -EINVAL);
}

static int build_io_max(struct builder *b)
{
	const char *v = bh_val_str(b->f, "bh_io_max");
	char err[128];

	if (!v)
		return 0;
	if (bh_io_max_check(v, err, sizeof(err)) < 0) {
		bh_diag_add(b->d, b->f->path, bh_cfg_line(b->f, "bh_io_max"), "bh_io_max: %s", err);
		return 0;
	}
	b->dom->io_max = strdup(v);
	return b->dom->io_max ? 0 : -ENOMEM;
}

/* xl's tsc_mode: how the guest's TSC is provided (xl.cfg(5)); kept as the
 * checked name, which platform-xen hands to libxl. */
static int build_tsc_mode(struct builder *b)
{
	static const char *const modes[] = { "default", "always_emulate", "native",
					     "native_paravirt" };
	int mode = 0;

	if (!bh_val_str(b->f, "tsc_mode") ||
	    bh_val_enum(b->f, "tsc_mode", modes, BH_ARRAY_SIZE(modes), b->d, &mode) < 0)
		return 0;
	b->dom->tsc_mode = strdup(modes[mode]);
	return b->dom->tsc_mode ? 0 : -ENOMEM;
}

static int build_basics(struct builder *b)
{
	static const char *const types[] = { "pvh", "pv" };
	struct bh_domain *dom = b->dom;
	uint64_t vcpus = 1, weight = 0, cap = 0;
	int type = 0, r;

	bh_val_u64(b->f, "memory", BH_MEMORY_MIN_MIB, BH_MEMORY_MAX_MIB, b->d, &dom->memory_mib);
	bh_val_u64(b->f, "vcpus", 1, BH_VCPUS_MAX, b->d, &vcpus);
	dom->vcpus = (unsigned)vcpus;
	/* xl's ranges: credit scheduler weight 1..65535, cap in % of one CPU. */
	bh_val_u64(b->f, "cpu_weight", 1, 65535, b->d, &weight);
	bh_val_u64(b->f, "cap", 0, 100ull * BH_VCPUS_MAX, b->d, &cap);
	dom->cpu_weight = (unsigned)weight;
	dom->cpu_cap = (unsigned)cap;
	bh_val_enum(b->f, "type", types, BH_ARRAY_SIZE(types), b->d, &type);
	dom->type = strdup(types[type]);
	if (!dom->type)
		return -ENOMEM;
	r = build_tsc_mode(b);
	if (r == 0)
		r = build_io_max(b);
	if (r == 0)
		r = bh_val_strdup(b->f, "kernel", &dom->kernel);
	if (r == 0)
		r = bh_val_strdup(b->f, "ramdisk", &dom->ramdisk);
	if (r == 0)
		r = build_cmdline(b);
	return r;
}

static int build_vifs(struct builder *b)
{
	const struct bh_cfg_value *v = bh_val_list(b->f, "vif");
	char err[ERRLEN];

	for (size_t i = 0; v && i < v->n_items; i++) {
		struct bh_vif vif, *slot;
		int r = bh_vif_parse(v->items[i], &vif, err, sizeof(err));

		if (r == -EINVAL) {
			bh_diag_add(b->d, b->f->path, v->item_lines[i], "vif: %s", err);
			continue;
		}
		if (r < 0)
			return r;
		vif.src = (struct bh_src){ b->f->path, v->item_lines[i] };
		slot = bh_array_push(&b->dom->vifs, &b->dom->n_vifs, sizeof(*slot));
		if (!slot) {
			bh_vif_clear(&vif);
			return -ENOMEM;
		}
		*slot = vif;
	}
	return 0;
}

static int build_disks(struct builder *b)
{
	const struct bh_cfg_value *v = bh_val_list(b->f, "disk");
	char err[ERRLEN];

	for (size_t i = 0; v && i < v->n_items; i++) {
		struct bh_disk disk, *slot;
		int r = bh_cfg_disk_parse(v->items[i], &disk, err, sizeof(err));

		if (r == -EINVAL) {
			bh_diag_add(b->d, b->f->path, v->item_lines[i], "disk: %s", err);
			continue;
		}
		if (r < 0)
			return r;
		disk.line = v->item_lines[i];
		slot = bh_array_push(&b->dom->disks, &b->dom->n_disks, sizeof(*slot));
		if (!slot) {
			bh_disk_clear(&disk);
			return -ENOMEM;
		}
		*slot = disk;
	}
	return 0;
}

static int build_volumes(struct builder *b)
{
	const struct bh_cfg_value *v = bh_val_list(b->f, "bh_volume");
	char err[ERRLEN];

	for (size_t i = 0; v && i < v->n_items; i++) {
		struct bh_volume vol, *slot;
		int r = bh_volume_parse(v->items[i], &vol, err, sizeof(err));

		if (r == -EINVAL) {
			bh_diag_add(b->d, b->f->path, v->item_lines[i], "bh_volume: %s", err);
			continue;
		}
		if (r < 0)
			return r;
		vol.src = (struct bh_src){ b->f->path, v->item_lines[i] };
		vol.owner = strdup(b->dom->name);
		slot = bh_array_push(&b->t->volumes, &b->t->n_volumes, sizeof(*slot));
		if (!slot || !vol.owner) {
			bh_volume_clear(&vol);
			return -ENOMEM;
		}
		*slot = vol;
	}
	return 0;
}

static int build_gateways(struct builder *b)
{
	const struct bh_cfg_value *v = bh_val_list(b->f, "bh_gateway");

	if (v && b->dom->role != BH_DOM_NETDOM) {
		bh_diag_add(b->d, b->f->path, v->line, "'bh_gateway' is only valid for the netdom");
		return 0;
	}
	for (size_t i = 0; v && i < v->n_items; i++) {
		struct bh_prefix p, *slot;

		if (bh_prefix_parse(v->items[i], &p) < 0 || !strchr(v->items[i], '/') ||
		    bh_prefix_is_network(&p)) {
			bh_diag_add(b->d, b->f->path, v->item_lines[i],
				    "bh_gateway: '%s' must be ADDRESS/PREFIX, e.g. 10.10.1.1/24",
				    v->items[i]);
			continue;
		}
		slot = bh_array_push(&b->dom->gateways, &b->dom->n_gateways, sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		*slot = p;
	}
	return 0;
}

static int build_service(struct builder *b)
{
	static const char *const restarts[] = { "always", "on-failure", "never" };
	uint64_t pids = 1024;
	int restart = 0;

	bh_val_u64(b->f, "bh_pids_max", 16, BH_PIDS_MAX_LIMIT, b->d, &pids);
	b->dom->pids_max = (uint32_t)pids;
	bh_val_enum(b->f, "bh_restart", restarts, BH_ARRAY_SIZE(restarts), b->d, &restart);
	b->dom->restart = (enum bh_restart)restart;
	return build_gateways(b);
}

static int build_guest(struct builder *b)
{
	const char *zone = bh_val_str(b->f, "bh_zone");
	const char *cmd = bh_val_str(b->f, "bh_host_cmd");
	int r;

	if (zone && bh_check_name(zone) < 0)
		bh_diag_add(b->d, b->f->path, bh_cfg_line(b->f, "bh_zone"), "bad zone name '%s'",
			    zone);
	else if (zone && !(b->dom->zone = strdup(zone)))
		return -ENOMEM;
	if (cmd && !*cmd)
		bh_diag_add(b->d, b->f->path, bh_cfg_line(b->f, "bh_host_cmd"),
			    "'bh_host_cmd' is empty");
	else if (cmd && !(b->dom->host_cmd = strdup(cmd)))
		return -ENOMEM;
	bh_val_bool(b->f, "bh_vtpm", b->d, &b->dom->vtpm);
	bh_val_bool(b->f, "bh_measure", b->d, &b->dom->measure);
	r = build_volumes(b);
	if (r == 0)
		r = bh_rules_build(b->t, b->f, b->dom->name, b->d);
	return r;
}

int bh_domain_build(struct bh_topology *t, const struct bh_cfg_file *f, struct bh_diags *diags)
{
	struct bh_domain dom = { .cfg = f, .memory_mib = 128 };
	struct builder b = { .t = t, .f = f, .d = diags, .dom = &dom };
	struct bh_domain *slot;
	bool keep = build_role(&b);
	int r;

	r = build_name(&b);
	if (r == 0)
		r = build_basics(&b);
	if (r == 0)
		r = build_vifs(&b);
	if (r == 0)
		r = build_disks(&b);
	if (r == 0)
		r = f->kind == BH_FILE_GUEST ? build_guest(&b) : build_service(&b);
	/* A service without a role is still checked, but joins no topology. */
	if (r == 0 && keep) {
		slot = bh_array_push(&t->domains, &t->n_domains, sizeof(*slot));
		if (slot) {
			*slot = dom;
			return 0;
		}
		r = -ENOMEM;
	}
	domain_clear(&dom);
	return r;
}

void bh_domain_clear(struct bh_domain *dom)
{
	domain_clear(dom);
	*dom = (struct bh_domain){ 0 };
}
