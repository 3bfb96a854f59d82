/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the strict parsers with arbitrary strings; every accepted value must
 * print back to a string the parser accepts again with the same result.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/parse.h"

#define FUZZ_MAX_INPUT 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[FUZZ_MAX_INPUT + 1], again[64];
	uint64_t v, v2, sz;
	uint16_t lo, hi, lo2, hi2;
	size_t len;
	bool b;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* The parsers see C strings: an embedded NUL ends the input there. */
	len = strlen(s);
	if (bh_parse_u64(s, 0, UINT64_MAX, &v) == 0) {
		snprintf(again, sizeof(again), "%" PRIu64, v);
		assert(bh_parse_u64(again, 0, UINT64_MAX, &v2) == 0 && v2 == v);
		assert(bh_parse_u64(s, v, v, &v2) == 0 && v2 == v);
	}
	if (bh_parse_size(s, 1, 0, UINT64_MAX, &sz) == 0)
		assert(len > 0);
	if (bh_parse_port_range(s, &lo, &hi) == 0) {
		assert(lo >= 1 && lo <= hi);
		snprintf(again, sizeof(again), "%u-%u", lo, hi);
		assert(bh_parse_port_range(again, &lo2, &hi2) == 0 && lo2 == lo && hi2 == hi);
	}
	if (bh_parse_bool(s, &b) == 0)
		assert(len >= 1 && len <= 5);
	if (bh_check_name(s) == 0)
		assert(len >= 1 && len <= 63 && strchr(s, '/') == NULL);
	return 0;
}
