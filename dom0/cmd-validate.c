/* SPDX-License-Identifier: MIT */
/* bulkhead validate [--platform host|xen] DIR */
#include <getopt.h>
#include <stdio.h>

#include "bulkhead/log.h"
#include "dom0.h"

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: bulkhead %s [--platform host|xen] DIR\n\n"
		"Load the topology in DIR (host.cfg, service domain files, guests/*.cfg),\n"
		"check it as a whole and print every error as FILE:LINE: MESSAGE. Prints\n"
		"\"configuration OK\" and exits 0 when there is none, else exits 1.\n\n"
		"  --platform host|xen  check for this platform (default: bh_platform in\n"
		"                       host.cfg, else xen if /dev/xen/privcmd exists)\n",
		prog);
}

/* Shared by validate and show: parse "--platform X" and the one DIR argument. */
int bh_cmd_args(int argc, char **argv, enum bh_platform *ret_platform, const char **ret_dir,
		void (*usage_fn)(FILE *out, const char *prog))
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	*ret_platform = BH_PLATFORM_AUTO;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage_fn(stdout, argv[0]);
			return 1;
		}
		if (c == 'p' && bh_streq(optarg, "host")) {
			*ret_platform = BH_PLATFORM_HOST;
		} else if (c == 'p' && bh_streq(optarg, "xen")) {
			*ret_platform = BH_PLATFORM_XEN;
		} else {
			if (c == 'p')
				bh_err("--platform must be host or xen, not '%s'", optarg);
			usage_fn(stderr, argv[0]);
			return -EINVAL;
		}
	}
	if (argc - optind != 1) {
		usage_fn(stderr, argv[0]);
		return -EINVAL;
	}
	*ret_dir = argv[optind];
	return 0;
}

int bh_cmd_validate(int argc, char **argv)
{
	struct bh_diags diags = { 0 };
	struct bh_topology *t = NULL;
	enum bh_platform platform;
	const char *dir;
	int r;

	r = bh_cmd_args(argc, argv, &platform, &dir, usage);
	if (r)
		return r > 0 ? 0 : 1;
	r = bh_topology_load(dir, &diags, &t);
	if (r == 0)
		bh_validate(t, bh_platform_resolve(platform, t), &diags);
	if (r == 0)
		r = diags.err;
	if (r < 0) {
		bh_log_errno(LOG_ERR, r, "cannot validate %s", dir);
	} else if (diags.n) {
		bh_diags_sort(&diags);
		bh_diags_print(&diags, stdout);
		r = 1;
	} else {
		printf("configuration OK\n");
	}
	bh_topology_free(t);
	bh_diags_clear(&diags);
	return r ? 1 : 0;
}
