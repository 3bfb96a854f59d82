/* SPDX-License-Identifier: MIT */
/* bulkhead serve [--socket PATH] [--platform host|xen] DIR: the management socket, foreground. */
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>

#include "bulkhead/log.h"
#include "dom0.h"

static volatile int stop_signal;

static void on_signal(int sig)
{
	(void)sig;
	stop_signal = 1;
}

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: bulkhead %s [--socket PATH] [--platform host|xen] DIR\n\n"
		"Validate DIR and serve its management socket in the foreground until SIGINT,\n"
		"SIGTERM or a permitted `bulkhead down`: status, logs, down, restart, policy,\n"
		"each allowed by bh_manage and audit-logged. It starts no domain: status\n"
		"reports every configured domain as stopped.\n\n"
		"  --socket PATH  listen here (default: <bh_state_dir>/%s)\n",
		prog, BH_MGMT_SOCKET_NAME);
}

/* Pull "--socket PATH" out of argv, leaving the rest for bh_cmd_load_valid. */
static int take_socket(int *argc, char **argv, const char **ret)
{
	for (int i = 1; i < *argc; i++) {
		if (!bh_streq(argv[i], "--socket"))
			continue;
		if (i + 1 >= *argc)
			return -EINVAL;
		*ret = argv[i + 1];
		memmove(&argv[i], &argv[i + 2], sizeof(*argv) * (size_t)(*argc - i - 2));
		*argc -= 2;
		return 0;
	}
	return 0;
}

static int serve(const struct bh_topology *t, const char *sock)
{
	struct bh_audit_opts ao = { .syslog = t->syslog, .syslog_path = t->syslog_socket };
	char abuf[4096];
	struct bh_mgmt m = { .t = t, .audit_path = bh_audit_path(t, abuf, sizeof(abuf)) };
	struct bh_audit_actor me = { (uint32_t)getuid(), (int32_t)getpid() };
	_cleanup_close_ int lfd = -1;
	int r = bh_audit_open(m.audit_path, &ao, &m.audit);

	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "cannot open the audit log %s", m.audit_path);
	r = bh_audit_append(m.audit, &me, "serve", sock, "ok", "management server started");
	if (r == 0)
		r = bh_mgmt_listen(sock, &lfd);
	if (r == 0) {
		bh_info("serving %s on %s, audit log %s", t->dir, sock, m.audit_path);
		r = bh_mgmt_serve(&m, lfd, &stop_signal);
		unlink(sock);
		bh_audit_append(m.audit, &me, "serve", sock, "ok", "management server stopped");
	}
	bh_audit_close(m.audit);
	return r < 0 ? bh_log_errno(LOG_ERR, r, "management socket %s", sock) : 0;
}

int bh_cmd_serve(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	const char *sock = NULL;
	enum bh_platform platform;
	struct bh_topology *t;
	char sbuf[4096];
	int status;

	if (take_socket(&argc, argv, &sock) < 0) {
		usage(stderr, argv[0]);
		return 1;
	}
	if (!bh_cmd_load_valid(argc, argv, usage, &platform, &t, &status))
		return status;
	if (!sock) {
		const char *dir = t->state_dir ? t->state_dir : "/var/lib/bulkhead";

		mkdir(dir, 0755);
		snprintf(sbuf, sizeof(sbuf), "%s/%s", dir, BH_MGMT_SOCKET_NAME);
		sock = sbuf;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	status = serve(t, sock) < 0 ? 1 : 0;
	bh_topology_free(t);
	return status;
}
