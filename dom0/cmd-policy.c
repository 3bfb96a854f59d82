/* SPDX-License-Identifier: MIT */
/* bulkhead policy-export [--platform host|xen] [--generation N] DIR OUT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulkhead/log.h"
#include "bulkhead/parse.h"
#include "dom0.h"

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: bulkhead %s [--platform host|xen] [--generation N] DIR OUT\n\n"
		"Validate the topology in DIR and write its network policy to OUT ('-' for\n"
		"standard output) as the control messages netdomd reads (netdomd --policy\n"
		"OUT applies it). Each rule is labelled with its FILE:LINE.\n\n"
		"  --generation N  the policy's generation (default: the current time in\n"
		"                  seconds, so a later export supersedes an earlier one)\n",
		prog);
}

/* Take "--generation N" out of @argv (the shared parser does not know it). */
static int take_generation(int *argc, char **argv, uint64_t *ret)
{
	for (int i = 1; i < *argc; i++) {
		if (!bh_streq(argv[i], "--generation"))
			continue;
		if (i + 1 >= *argc || bh_parse_u64(argv[i + 1], 1, UINT64_MAX, ret) < 0) {
			bh_err("--generation needs a number from 1");
			return -EINVAL;
		}
		memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof(*argv));
		*argc -= 2;
		return 0;
	}
	return 0;
}

static int write_out(const struct bh_topology *t, uint64_t gen, const char *path)
{
	struct bh_diags diags = { 0 };
	FILE *f = bh_streq(path, "-") ? stdout : fopen(path, "we");
	int r;

	if (!f)
		return bh_log_errno(LOG_ERR, -errno, "%s", path);
	r = bh_policy_write(t, gen, f, &diags);
	if (f != stdout && fclose(f) != 0 && r == 0)
		r = -errno;
	else if (f == stdout && fflush(f) != 0 && r == 0)
		r = -EIO;
	bh_diags_print(&diags, stderr);
	bh_diags_clear(&diags);
	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "writing %s", path);
	return 0;
}

int bh_cmd_policy_export(int argc, char **argv)
{
	struct bh_topology *t;
	enum bh_platform platform;
	uint64_t gen = (uint64_t)time(NULL);
	const char *out;
	int status;

	if (take_generation(&argc, argv, &gen) < 0) {
		usage(stderr, argv[0]);
		return 1;
	}
	if (argc >= 2 && (bh_streq(argv[1], "--help") || bh_streq(argv[1], "-h"))) {
		usage(stdout, argv[0]);
		return 0;
	}
	if (argc < 3) {
		usage(stderr, argv[0]);
		return 1;
	}
	out = argv[argc - 1];
	if (!bh_cmd_load_valid(argc - 1, argv, usage, &platform, &t, &status))
		return status;
	status = write_out(t, gen, out) < 0 ? 1 : 0;
	bh_topology_free(t);
	return status;
}
