/* SPDX-License-Identifier: MIT */
/*
 * netdomd: the netdom service daemon.
 *
 *   netdomd [--netns NAME] --control SOCKET   serve dom0's control messages on a unix socket
 *   netdomd [--netns NAME] --policy FILE      apply one encoded policy sequence and exit
 *   --control-chan SPEC   also serve the control socket over a channel
 *                         (bulkhead/chanproxy.h: fd:N from dom0 on the host
 *                         platform, xen:DOMID:PATH on Xen)
 *
 * Either way the kernel keeps enforcing the last policy after netdomd exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulkhead/chanproxy.h"
#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "netdom.h"

static int enter_netns(const char *name)
{
	char path[256];
	_cleanup_close_ int fd = -1;

	if (strchr(name, '/') || snprintf(path, sizeof(path), "/run/netns/%s", name) >=
					   (int)sizeof(path))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

static int serve(struct nd_daemon *d, const char *path, const char *control_chan)
{
	_cleanup_close_ int lfd = bh_unix_listen(path, SOCK_STREAM, 4);
	struct bh_chanproxy *proxy = NULL;
	int r;

	if (lfd < 0)
		return bh_log_errno(LOG_ERR, lfd, "listen on %s", path);
	if (control_chan && (r = bh_chanproxy_start(control_chan, path, 0, &proxy)) < 0)
		return bh_log_errno(LOG_ERR, r, "--control-chan '%s'", control_chan);
	r = nd_nflog_open(ND_NFLOG_GROUP, &d->nflog_fd);
	if (r < 0)
		bh_log_errno(LOG_WARNING, r, "NFLOG group %d: no drop events", ND_NFLOG_GROUP);
	bh_info("listening on %s", path);
	r = nd_daemon_serve(d, lfd);
	bh_chanproxy_stop(proxy);
	return r;
}

static int apply_file(struct nd_daemon *d, const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return bh_log_errno(LOG_ERR, -errno, "open %s", path);
	return nd_daemon_file(d, fd);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: netdomd [--netns NAME] (--control SOCKET [--control-chan SPEC] | "
		     "--policy FILE) [-v]\n"
		     "  --netns NAME          enforce in network namespace /run/netns/NAME\n"
		     "  --control SOCKET      serve dom0's control messages on a unix socket\n"
		     "  --control-chan SPEC   also over a channel: fd:N (host) or xen:DOMID:PATH\n"
		     "  --policy FILE         apply an encoded policy (bulkhead policy-export) and exit\n"
		     "  -v, --verbose         debug logging\n"
		     "See netdomd(8).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "netns", required_argument, NULL, 'n' },
		{ "control", required_argument, NULL, 'c' },
		{ "control-chan", required_argument, NULL, 'X' },
		{ "policy", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *netns = NULL, *control = NULL, *policy = NULL, *control_chan = NULL;
	struct nd_daemon d;
	int c, r, level = LOG_NOTICE;

	while ((c = getopt_long(argc, argv, "n:c:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'n': netns = optarg; break;
		case 'c': control = optarg; break;
		case 'X': control_chan = optarg; break;
		case 'p': policy = optarg; break;
		case 'v': level = LOG_DEBUG; break;
		case 'h': return usage(stdout), 0;
		default: return usage(stderr), 2;
		}
	}
	bh_log_init(netns ? "netdomd" : "netdomd", BH_LOG_STDERR, level);
	if (!control == !policy) {
		bh_err("exactly one of --control and --policy");
		return 2;
	}
	if (control_chan && !control) {
		bh_err("--control-chan needs --control");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (netns && (r = enter_netns(netns)) < 0)
		return bh_log_errno(LOG_ERR, r, "netns '%s'", netns), 1;
	if (nd_daemon_init(&d) < 0)
		return 1;
	r = control ? serve(&d, control, control_chan) : apply_file(&d, policy);
	nd_daemon_fini(&d);
	return r < 0 ? 1 : 0;
}
