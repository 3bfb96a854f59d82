/* SPDX-License-Identifier: MIT */
/*
 * Shared by the channel fuzz targets: the fuzzer's bytes read as a script of
 * little-endian values (running out reads zeros), and a check that aborts so
 * libFuzzer and the replay main both report it.
 */
#ifndef BH_FUZZ_INPUT_H
#define BH_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct input {
	const uint8_t *p;
	size_t left;
};

static inline uint32_t take(struct input *in, size_t n)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n && in->left; i++, in->left--)
		v |= (uint32_t)*in->p++ << (8 * i);
	return v;
}

static inline void check(bool ok)
{
	if (!ok)
		abort();
}

#endif
