/* SPDX-License-Identifier: MIT */
/*
 * helper-hostdom DIR GUEST [NETDOM_NETNS]: start guest GUEST of topology DIR
 * as a host-platform domain (platform-host.c), print what was made as
 * key=value lines, wait for EOF on stdin, stop it and print "stopped".
 * For tests/integration/test-host-domains.sh, until `bulkhead up` exists.
 */
#include <stdio.h>

#include "bulkhead/log.h"
#include "../../../dom0/dom0.h"

static int run(const struct bh_topology *t, const char *guest, const char *netns)
{
	const struct bh_domain *dom = bh_topology_domain(t, guest);
	struct bh_host_opts o = { .netdom_netns = netns };
	struct bh_pdom *d = NULL;
	char line[64];
	int r;

	if (!dom)
		return bh_log_errno(LOG_ERR, -ENOENT, "no domain '%s'", guest);
	r = bh_host_spawn(t, dom, &o, &d);
	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "spawn %s", guest);
	printf("pid=%d\ncgroup=%s\nlimits=%s\n", d->id, d->cgroup ? d->cgroup : "",
	       d->limits_ok ? "applied" : d->limits_note);
	for (size_t i = 0; i < d->n_vifs; i++)
		printf("vif=%s\n", d->vifs[i]);
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	r = bh_host_stop(d);
	bh_host_dom_free(d);
	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "stop %s", guest);
	printf("stopped\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct bh_diags diags = { 0 };
	struct bh_topology *t = NULL;
	int r;

	bh_log_init("helper-hostdom", BH_LOG_STDERR, LOG_INFO);
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s DIR GUEST [NETDOM_NETNS]\n", argv[0]);
		return 2;
	}
	r = bh_topology_load(argv[1], &diags, &t);
	if (r == 0 && diags.n == 0)
		bh_validate(t, BH_PLATFORM_HOST, &diags);
	if (r < 0 || diags.n) {
		bh_diags_print(&diags, stderr);
		r = r < 0 ? r : -EINVAL;
	} else {
		r = run(t, argv[2], argc == 4 ? argv[3] : NULL);
	}
	bh_topology_free(t);
	bh_diags_clear(&diags);
	return r < 0 ? 1 : 0;
}
