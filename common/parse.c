/* SPDX-License-Identifier: MIT */
/*
 * Strict number and token parsing. See parse.h.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bulkhead/parse.h"

static int digit_value(char c, unsigned base)
{
	int v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return -1;
	return v < (int)base ? v : -1;
}

/*
 * Parse the digits of [s, s+len) in @base. Returns -EINVAL on a bad digit or
 * empty input, -ERANGE on overflow. No sign, space or prefix is accepted here.
 */
static int parse_digits(const char *s, size_t len, unsigned base, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int d = digit_value(s[i], base);

		if (d < 0)
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return -ERANGE;
		v = v * base + (uint64_t)d;
	}
	*ret = v;
	return 0;
}

static int parse_u64_raw(const char *s, size_t len, uint64_t *ret)
{
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return parse_digits(s + 2, len - 2, 16, ret);
	return parse_digits(s, len, 10, ret);
}

int bh_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t v;
	int r;

	if (!s)
		return -EINVAL;
	r = parse_u64_raw(s, strlen(s), &v);
	if (r < 0)
		return r;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int bh_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint64_t v;
	int r = bh_parse_u64(s, min, max, &v);

	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return 0;
}

int bh_parse_u16(const char *s, uint16_t min, uint16_t max, uint16_t *ret)
{
	uint64_t v;
	int r = bh_parse_u64(s, min, max, &v);

	if (r < 0)
		return r;
	*ret = (uint16_t)v;
	return 0;
}

static int suffix_shift(char c, unsigned *ret)
{
	static const char units[] = "KMGT";
	const char *p = strchr(units, c);

	if (!p || c == '\0')
		return -EINVAL;
	*ret = 10u * (unsigned)(p - units + 1);
	return 0;
}

int bh_parse_size(const char *s, uint64_t default_unit, uint64_t min, uint64_t max,
		  uint64_t *ret)
{
	uint64_t v, mult = default_unit;
	size_t len;
	int r;

	if (!s || default_unit == 0)
		return -EINVAL;
	len = strlen(s);
	if (len > 1 && !(s[len - 1] >= '0' && s[len - 1] <= '9')) {
		unsigned shift;

		/* A suffix only makes sense on decimal digits. */
		r = suffix_shift(s[len - 1], &shift);
		if (r < 0)
			return r;
		mult = UINT64_C(1) << shift;
		r = parse_digits(s, len - 1, 10, &v);
	} else {
		r = parse_digits(s, len, 10, &v);
	}
	if (r < 0)
		return r;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	v *= mult;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int bh_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

int bh_parse_port_range(const char *s, uint16_t *ret_lo, uint16_t *ret_hi)
{
	const char *dash;
	uint64_t lo, hi;
	int r;

	if (!s)
		return -EINVAL;
	dash = strchr(s, '-');
	if (!dash) {
		r = parse_digits(s, strlen(s), 10, &lo);
		hi = lo;
		if (r == 0 && (lo < 1 || lo > 65535))
			r = -ERANGE;
	} else {
		r = parse_digits(s, (size_t)(dash - s), 10, &lo);
		if (r == 0)
			r = parse_digits(dash + 1, strlen(dash + 1), 10, &hi);
		if (r == 0 && (lo < 1 || hi > 65535))
			r = -ERANGE;
		if (r == 0 && lo > hi)
			r = -EINVAL;
	}
	if (r < 0)
		return r;
	*ret_lo = (uint16_t)lo;
	*ret_hi = (uint16_t)hi;
	return 0;
}

int bh_check_name(const char *s)
{
	size_t len;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len < 1 || len > 63 || !(s[0] >= 'a' && s[0] <= 'z'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -EINVAL;
	}
	return 0;
}
