/* SPDX-License-Identifier: MIT */
/*
 * The keys bulkhead reads, their type and the files they belong in. Any other
 * key starting with "bh_" is an error (usually a typo, so the closest known
 * key is suggested); other keys belong to xl and are left to it.
 */
#include <string.h>

#include "dom0.h"

#define H BH_FILE_HOST
#define S BH_FILE_SERVICE
#define G BH_FILE_GUEST

static const struct bh_key_info keys[] = {
	/* xl keys bulkhead interprets */
	{ "name", BH_KEY_STRING, S | G },
	{ "type", BH_KEY_STRING, S | G },
	{ "kernel", BH_KEY_STRING, S | G },
	{ "ramdisk", BH_KEY_STRING, S | G },
	{ "cmdline", BH_KEY_STRING, S | G },
	{ "extra", BH_KEY_STRING, S | G },
	{ "root", BH_KEY_STRING, S | G },
	{ "memory", BH_KEY_STRING, S | G },
	{ "vcpus", BH_KEY_STRING, S | G },
	{ "cpu_weight", BH_KEY_STRING, S | G },
	{ "cap", BH_KEY_STRING, S | G },
	{ "tsc_mode", BH_KEY_STRING, S | G },
	{ "bh_io_max", BH_KEY_STRING, S | G },
	{ "vif", BH_KEY_LIST, G },
	{ "disk", BH_KEY_LIST, S | G },
	/* host.cfg */
	{ "bh_platform", BH_KEY_STRING, H },
	{ "bh_manage", BH_KEY_LIST, H },
	{ "bh_audit_log", BH_KEY_STRING, H },
	{ "bh_syslog", BH_KEY_STRING, H },
	{ "bh_syslog_socket", BH_KEY_STRING, H },
	{ "bh_default_policy", BH_KEY_STRING, H },
	{ "bh_state_dir", BH_KEY_STRING, H },
	{ "bh_zones", BH_KEY_LIST, H },
	/* service domains */
	{ "bh_role", BH_KEY_STRING, S },
	{ "bh_pids_max", BH_KEY_STRING, S },
	{ "bh_restart", BH_KEY_STRING, S },
	{ "bh_gateway", BH_KEY_LIST, S },
	/* guests */
	{ "bh_zone", BH_KEY_STRING, G },
	{ "bh_volume", BH_KEY_LIST, G },
	{ "bh_vtpm", BH_KEY_STRING, G },
	{ "bh_measure", BH_KEY_STRING, G },
	{ "bh_host_cmd", BH_KEY_STRING, G },
	/* policy: zone rules in host.cfg, per-guest rules in the guest's file */
	{ "bh_allow", BH_KEY_LIST, H | G },
};

#undef H
#undef S
#undef G

const struct bh_key_info *bh_key_lookup(const char *name)
{
	for (size_t i = 0; i < BH_ARRAY_SIZE(keys); i++)
		if (bh_streq(keys[i].name, name))
			return &keys[i];
	return NULL;
}

const struct bh_key_info *bh_key_table(size_t *ret_n)
{
	*ret_n = BH_ARRAY_SIZE(keys);
	return keys;
}

/* Optimal string alignment distance, capped: names here are short. */
static unsigned edit_distance(const char *a, const char *b)
{
	enum { N = 40 };
	unsigned d[N + 1][N + 1];
	size_t la = strlen(a), lb = strlen(b);

	if (la > N || lb > N)
		return ~0u;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned v = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

const char *bh_key_suggest(const char *name)
{
	const char *best = NULL;
	unsigned best_d = 4;

	for (size_t i = 0; i < BH_ARRAY_SIZE(keys); i++) {
		unsigned dist;

		if (!bh_startswith(keys[i].name, "bh_"))
			continue;
		dist = edit_distance(name, keys[i].name);
		if (dist < best_d) {
			best_d = dist;
			best = keys[i].name;
		}
	}
	return best;
}

const char *bh_file_kind_name(enum bh_file_kind kind)
{
	switch (kind) {
	case BH_FILE_HOST:
		return "host.cfg";
	case BH_FILE_SERVICE:
		return "a service domain file";
	case BH_FILE_GUEST:
		return "a guest file";
	}
	return "?";
}
