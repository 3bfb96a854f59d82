/* SPDX-License-Identifier: MIT */
/*
 * A topology directory: host.cfg, service domain files (NAME.cfg at the top),
 * guests/NAME.cfg. Files are read in name order so diagnostics are stable.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dom0.h"

static int add_file(struct bh_topology *t, struct bh_cfg_file *f)
{
	struct bh_cfg_file **slot = bh_array_push(&t->files, &t->n_files, sizeof(*slot));

	if (!slot) {
		bh_cfg_file_free(f);
		return -ENOMEM;
	}
	*slot = f;
	return 0;
}

static int cfg_filter(const struct dirent *e)
{
	size_t len = strlen(e->d_name);

	return e->d_name[0] != '.' && len > 4 && bh_streq(e->d_name + len - 4, ".cfg");
}

/* Read and build every *.cfg in @sub ("" or "guests") of the topology directory. */
static int load_dir(struct bh_topology *t, const char *sub, struct bh_diags *d)
{
	_cleanup_free_ char *dir = NULL;
	struct dirent **names = NULL;
	int n, r = 0;

	if (asprintf(&dir, "%s%s%s", t->dir, *sub ? "/" : "", sub) < 0)
		return -ENOMEM;
	n = scandir(dir, &names, cfg_filter, alphasort);
	if (n < 0) {
		if (*sub && errno == ENOENT)
			return 0; /* a topology without guests */
		bh_diag_add(d, dir, 0, "cannot read directory: %s", strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		bool host = !*sub && bh_streq(names[i]->d_name, "host.cfg");
		enum bh_file_kind kind = *sub ? BH_FILE_GUEST : host ? BH_FILE_HOST : BH_FILE_SERVICE;
		_cleanup_free_ char *path = NULL;
		struct bh_cfg_file *f = NULL;

		if (r == 0 && asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0) {
			path = NULL;
			r = -ENOMEM;
		}
		if (r == 0)
			r = bh_cfg_file_read(path, kind, d, &f);
		if (r == 0 && f)
			r = add_file(t, f);
		if (r == 0 && f)
			r = host ? bh_host_build(t, f, d) : bh_domain_build(t, f, d);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* host.cfg exists (it may not have parsed: that was reported already). */
static bool has_host_cfg(const struct bh_topology *t)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "%s/host.cfg", t->dir) < 0) {
		path = NULL;
		return true; /* no memory: do not invent an error about the file */
	}
	return access(path, F_OK) == 0;
}

static int topology_new(const char *dir, struct bh_topology **ret)
{
	struct bh_topology *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->dir = strdup(dir);
	if (!t->dir) {
		free(t);
		return -ENOMEM;
	}
	t->default_policy = BH_ACTION_DROP;
	*ret = t;
	return 0;
}

int bh_topology_load(const char *dir, struct bh_diags *diags, struct bh_topology **ret)
{
	struct bh_topology *t;
	size_t len = strlen(dir);
	int r;

	/* "configs/demo/" and "configs/demo" print the same paths. */
	while (len > 1 && dir[len - 1] == '/')
		len--;
	_cleanup_free_ char *clean = strndup(dir, len);
	if (!clean)
		return -ENOMEM;
	r = topology_new(clean, &t);
	if (r < 0)
		return r;
	r = load_dir(t, "", diags);
	if (r == 0 && !has_host_cfg(t))
		bh_diag_add(diags, t->dir, 0, "no host.cfg: not a topology directory");
	if (r == 0)
		r = load_dir(t, "guests", diags);
	if (r > 0)
		r = 0; /* the directory itself is unreadable: reported */
	if (r < 0) {
		bh_topology_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

int bh_topology_load_data(const char *path, enum bh_file_kind kind, const char *untrusted_data,
			  size_t len, struct bh_diags *diags, struct bh_topology **ret)
{
	struct bh_cfg_file *f = NULL;
	struct bh_topology *t;
	int r;

	r = topology_new(".", &t);
	if (r < 0)
		return r;
	r = bh_cfg_file_parse(path, kind, untrusted_data, len, diags, &f);
	if (r == 0 && f)
		r = add_file(t, f);
	if (r == 0 && f)
		r = kind == BH_FILE_HOST ? bh_host_build(t, f, diags) : bh_domain_build(t, f, diags);
	if (r < 0) {
		bh_topology_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void bh_topology_free(struct bh_topology *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_domains; i++)
		bh_domain_clear(&t->domains[i]);
	for (size_t i = 0; i < t->n_rules; i++)
		bh_rule_clear(&t->rules[i]);
	for (size_t i = 0; i < t->n_volumes; i++)
		bh_volume_clear(&t->volumes[i]);
	for (size_t i = 0; i < t->n_zones; i++)
		bh_zone_clear(&t->zones[i]);
	for (size_t i = 0; i < t->n_grants; i++)
		bh_grant_clear(&t->grants[i]);
	for (size_t i = 0; i < t->n_files; i++)
		bh_cfg_file_free(t->files[i]);
	free(t->domains);
	free(t->rules);
	free(t->volumes);
	free(t->zones);
	free(t->grants);
	free(t->files);
	free(t->audit_log);
	free(t->syslog_socket);
	free(t->state_dir);
	free(t->dir);
	free(t);
}

const struct bh_domain *bh_topology_domain(const struct bh_topology *t, const char *name)
{
	for (size_t i = 0; i < t->n_domains; i++)
		if (bh_streq(t->domains[i].name, name))
			return &t->domains[i];
	return NULL;
}

const struct bh_domain *bh_topology_service(const struct bh_topology *t, enum bh_dom_role role)
{
	for (size_t i = 0; i < t->n_domains; i++)
		if (t->domains[i].role == role)
			return &t->domains[i];
	return NULL;
}

const struct bh_zone *bh_topology_zone(const struct bh_topology *t, const char *name)
{
	for (size_t i = 0; i < t->n_zones; i++)
		if (bh_streq(t->zones[i].name, name))
			return &t->zones[i];
	return NULL;
}
