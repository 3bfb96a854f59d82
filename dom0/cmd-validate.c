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

int bh_topology_load_valid(const char *dir, enum bh_platform cli, FILE *diag_out,
			   struct bh_topology **ret, enum bh_platform *ret_platform)
{
	struct bh_diags diags = { 0 };
	struct bh_topology *t = NULL;
	enum bh_platform platform = cli;
	int r = bh_topology_load(dir, &diags, &t);

	if (r == 0) {
		platform = bh_platform_resolve(cli, t);
		bh_validate(t, platform, &diags);
		r = diags.err;
	}
	if (r < 0) {
		bh_log_errno(LOG_ERR, r, "cannot load %s", dir);
	} else if (diags.n) {
		bh_diags_sort(&diags);
		bh_diags_print(&diags, diag_out);
		r = -EINVAL;
	}
	bh_diags_clear(&diags);
	if (r < 0) {
		bh_topology_free(t);
		return r;
	}
	*ret_platform = platform;
	*ret = t;
	return 0;
}

/*
 * Shared by validate and show: parse the arguments, load DIR and validate it.
 * Returns true with *ret (owned by the caller) when the topology is valid;
 * otherwise prints the help, the errors or the failure and returns false
 * with the exit status in *ret_exit.
 */
bool bh_cmd_load_valid(int argc, char **argv, void (*usage_fn)(FILE *out, const char *prog),
		       enum bh_platform *ret_platform, struct bh_topology **ret, int *ret_exit)
{
	enum bh_platform platform;
	const char *dir;
	int r;

	r = bh_cmd_args(argc, argv, &platform, &dir, usage_fn);
	if (r) {
		*ret_exit = r > 0 ? 0 : 1;
		return false;
	}
	if (bh_topology_load_valid(dir, platform, stdout, ret, ret_platform) < 0) {
		*ret_exit = 1;
		return false;
	}
	return true;
}

int bh_cmd_validate(int argc, char **argv)
{
	struct bh_topology *t;
	enum bh_platform platform;
	int status;

	if (!bh_cmd_load_valid(argc, argv, usage, &platform, &t, &status))
		return status;
	printf("configuration OK\n");
	bh_topology_free(t);
	return 0;
}
