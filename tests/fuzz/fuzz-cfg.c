/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the config path end to end on one file: scanner, libxlutil loader,
 * model builders and validator. The first byte picks the kind of file (host,
 * service domain or guest); the rest is the file.
 *
 * Inputs are capped at 64 KiB: config files are small, and libxlutil's
 * bison parser is not what we are here to benchmark.
 */
#include <stdint.h>
#include <string.h>

#include "../../dom0/dom0.h"

#define FUZZ_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum bh_file_kind kinds[] = { BH_FILE_HOST, BH_FILE_SERVICE, BH_FILE_GUEST };
	struct bh_diags diags = { 0 };
	struct bh_topology *t = NULL;
	struct bh_scan scan = { 0 };

	if (size < 1 || size > FUZZ_MAX)
		return 0;
	/* The scanner alone, on the same bytes. */
	if (bh_cfg_scan((const char *)data + 1, size - 1, &scan) == 0)
		bh_scan_free(&scan);
	if (bh_topology_load_data("fuzz.cfg", kinds[data[0] % 3], (const char *)data + 1, size - 1,
				  &diags, &t) == 0) {
		bh_validate(t, data[0] & 4 ? BH_PLATFORM_XEN : BH_PLATFORM_HOST, &diags);
		bh_diags_sort(&diags);
	}
	bh_topology_free(t);
	bh_diags_clear(&diags);
	return 0;
}
