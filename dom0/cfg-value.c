/* SPDX-License-Identifier: MIT */
/*
 * Typed access to the values of one file, for the model builders: each getter
 * reports a malformed value as "file:line: message" and leaves the default.
 */
#include <string.h>

#include "bulkhead/parse.h"
#include "dom0.h"

const char *bh_val_str(const struct bh_cfg_file *f, const char *key)
{
	const struct bh_cfg_value *v = bh_cfg_get(f, key);

	return v && !v->is_list ? v->str : NULL;
}

const struct bh_cfg_value *bh_val_list(const struct bh_cfg_file *f, const char *key)
{
	const struct bh_cfg_value *v = bh_cfg_get(f, key);

	return v && v->is_list ? v : NULL;
}

void bh_val_bool(const struct bh_cfg_file *f, const char *key, struct bh_diags *d, bool *ret)
{
	const char *s = bh_val_str(f, key);

	if (s && bh_parse_bool(s, ret) < 0)
		bh_diag_add(d, f->path, bh_cfg_line(f, key),
			    "'%s' must be yes or no (or 1/0, true/false, on/off), not '%s'", key, s);
}

void bh_val_u64(const struct bh_cfg_file *f, const char *key, uint64_t min, uint64_t max,
		struct bh_diags *d, uint64_t *ret)
{
	const char *s = bh_val_str(f, key);
	uint64_t v;
	int r;

	if (!s)
		return;
	r = bh_parse_u64(s, 0, UINT64_MAX, &v);
	if (r < 0) {
		bh_diag_add(d, f->path, bh_cfg_line(f, key), "'%s' must be a number, not '%s'", key,
			    s);
		return;
	}
	if (v < min || v > max) {
		bh_diag_add(d, f->path, bh_cfg_line(f, key),
			    "'%s' = %s is out of range (%llu..%llu)", key, s,
			    (unsigned long long)min, (unsigned long long)max);
		return;
	}
	*ret = v;
}

int bh_val_enum(const struct bh_cfg_file *f, const char *key, const char *const *names,
		size_t n, struct bh_diags *d, int *ret)
{
	const char *s = bh_val_str(f, key);
	char expected[160] = "";

	if (!s)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (bh_streq(s, names[i])) {
			*ret = (int)i;
			return 0;
		}
		snprintf(expected + strlen(expected), sizeof(expected) - strlen(expected),
			 "%s%s", i ? (i + 1 == n ? " or " : ", ") : "", names[i]);
	}
	bh_diag_add(d, f->path, bh_cfg_line(f, key), "'%s' must be %s, not '%s'", key, expected, s);
	return -EINVAL;
}

int bh_val_strdup(const struct bh_cfg_file *f, const char *key, char **ret)
{
	const char *s = bh_val_str(f, key);

	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

void bh_val_abspath(const struct bh_cfg_file *f, const char *key, struct bh_diags *d)
{
	const char *s = bh_val_str(f, key);

	if (s && s[0] != '/')
		bh_diag_add(d, f->path, bh_cfg_line(f, key), "'%s' must be an absolute path, not '%s'",
			    key, s);
}
