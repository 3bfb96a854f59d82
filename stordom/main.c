/* SPDX-License-Identifier: MIT */
/*
 * stordomd: the storage service daemon.
 *
 *   stordomd --listen DIR --control SOCKET [--workers N] [-v]
 *       serve dom0's VOLUME_* control messages on a unix socket; each open
 *       volume is served over NBD on DIR/NAME.sock
 *   stordomd --listen DIR --volumes FILE [--workers N] [-v]
 *       standalone: apply a file of the same control messages, then serve
 *   --control-chan SPEC     also serve the control socket over a channel
 *       (bulkhead/chanproxy.h: fd:N from dom0 on the host platform,
 *       xen:DOMID:PATH on Xen)
 *   --export-chan NAME=SPEC also serve export NAME's NBD socket (DIR/NAME.sock)
 *       over a channel, as a raw byte stream per peer: on Xen, a guest runs
 *       Xen's vchan-socket-proxy and any NBD client (repeatable)
 *   --unseal SOCKET         vtpmd's unseal socket: sealed volumes' secrets come
 *       from there (UNSEAL), never from dom0
 *   --channel SOCKET=NAME   also serve export NAME over bulkhead channels: each
 *       connection on SOCKET sets up one memfd channel (bulkhead/chan.h), and
 *       each mux stream on it is one NBD connection (bridge.c)
 *
 * SIGTERM/SIGINT: hang up every client, wipe every key, exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulkhead/fdio.h"
#include "bulkhead/chan.h"
#include "bulkhead/chanproxy.h"
#include "bulkhead/log.h"
#include "bulkhead/parse.h"
#include "stordom.h"

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static int ctl_listen = -1, ctl_conn = -1, chan_listen = -1;
static volatile int stopping;

#define CHAN_RING SD_CHAN_RING
#define EXPORT_CHANS_MAX 16

/* --export-chan NAME=SPEC: one proxy from a channel to DIR/NAME.sock each. */
struct export_chan {
	const char *arg;
	struct bh_chanproxy *proxy;
};

struct chan_ctx {
	struct sd_server *srv;
	const char *export;
	int lfd;
};

/* The signal thread ends the control loop by shutting its sockets down. */
static void *signal_main(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;

	sigwait(set, &sig);
	bh_notice("signal %d: stopping", sig);
	pthread_mutex_lock(&ctl_lock);
	stopping = 1;
	if (ctl_listen >= 0)
		shutdown(ctl_listen, SHUT_RDWR);
	if (ctl_conn >= 0)
		shutdown(ctl_conn, SHUT_RDWR);
	if (chan_listen >= 0)
		shutdown(chan_listen, SHUT_RDWR);
	pthread_mutex_unlock(&ctl_lock);
	return NULL;
}

static void set_ctl(int *slot, int fd)
{
	pthread_mutex_lock(&ctl_lock);
	*slot = fd;
	if (stopping && fd >= 0)
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&ctl_lock);
}

static int serve_control(struct sd_daemon *d, const char *path, const char *control_chan)
{
	struct bh_chanproxy *proxy = NULL;
	int lfd = bh_unix_listen(path, SOCK_STREAM, 4), r;

	if (lfd < 0)
		return bh_log_errno(LOG_ERR, lfd, "control socket %s", path);
	if (control_chan && (r = bh_chanproxy_start(control_chan, path, 0, &proxy)) < 0) {
		close(lfd);
		return bh_log_errno(LOG_ERR, r, "--control-chan '%s'", control_chan);
	}
	set_ctl(&ctl_listen, lfd);
	bh_info("control on %s%s%s", path, control_chan ? " and " : "", control_chan ?: "");
	while (!stopping) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		set_ctl(&ctl_conn, cfd);
		sd_daemon_stream(d, cfd, cfd);
		set_ctl(&ctl_conn, -1);
		close(cfd);
	}
	set_ctl(&ctl_listen, -1);
	bh_chanproxy_stop(proxy);
	close(lfd);
	unlink(path);
	return 0;
}

/* A new mux stream: the NBD server gets one end of a socketpair, the bridge the other. */
static int chan_stream_fd(void *arg)
{
	struct chan_ctx *cc = arg;
	int sp[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	r = sd_server_serve_fd(cc->srv, cc->export, sp[1]);
	if (r < 0) {
		close(sp[0]);
		close(sp[1]);
		return r;
	}
	return sp[0];
}

/* One channel at a time per --channel socket; each lives until its peer closes it. */
static void *chan_main(void *arg)
{
	struct chan_ctx *cc = arg;

	while (!stopping) {
		struct bh_chan *chan = NULL;
		int fd = accept4(cc->lfd, NULL, NULL, SOCK_CLOEXEC), r;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		r = bh_chan_memfd_server(fd, CHAN_RING, CHAN_RING, &chan);
		if (r < 0) {
			close(fd);
			bh_warn("channel set-up: %s", strerror(-r));
			continue;
		}
		r = sd_bridge_run(chan, false, -1, chan_stream_fd, cc, &stopping);
		if (r < 0)
			bh_warn("channel for '%s' ended: %s", cc->export, strerror(-r));
		bh_chan_close(chan);
	}
	return NULL;
}

static int start_channel(struct chan_ctx *cc, char *spec, pthread_t *ret)
{
	char *eq = strchr(spec, '=');
	int r;

	if (!eq || eq == spec || bh_check_name(eq + 1) < 0)
		return -EINVAL;
	*eq = '\0';
	cc->export = eq + 1;
	cc->lfd = bh_unix_listen(spec, SOCK_STREAM, 4);
	if (cc->lfd < 0)
		return cc->lfd;
	set_ctl(&chan_listen, cc->lfd);
	r = -pthread_create(ret, NULL, chan_main, cc);
	if (r < 0) {
		close(cc->lfd);
		cc->lfd = -1;
	}
	return r;
}

static int apply_file(struct sd_daemon *d, const char *path, const sigset_t *set)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	int r, sig = 0;

	if (fd < 0)
		return bh_log_errno(LOG_ERR, -errno, "open %s", path);
	r = sd_daemon_stream(d, fd, devnull);
	if (r < 0)
		return r;
	sigwait(set, &sig);
	bh_notice("signal %d: stopping", sig);
	return 0;
}

/* The export's socket need not exist yet: each proxy connects when a peer arrives. */
static int start_export_chans(const char *dir, struct export_chan *ec, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const char *eq = strchr(ec[i].arg, '=');
		char name[BH_MSG_NAME_MAX], path[4096];
		int r;

		if (!eq || (size_t)(eq - ec[i].arg) >= sizeof(name))
			return bh_log_errno(LOG_ERR, -EINVAL, "--export-chan '%s'", ec[i].arg);
		snprintf(name, sizeof(name), "%.*s", (int)(eq - ec[i].arg), ec[i].arg);
		if (bh_check_name(name) < 0 ||
		    snprintf(path, sizeof(path), "%s/%s.sock", dir, name) >= (int)sizeof(path))
			return bh_log_errno(LOG_ERR, -EINVAL, "--export-chan '%s'", ec[i].arg);
		r = bh_chanproxy_start(eq + 1, path, CHAN_RING, &ec[i].proxy);
		if (r < 0)
			return bh_log_errno(LOG_ERR, r, "--export-chan '%s'", ec[i].arg);
		bh_info("export '%s' also on %s", name, eq + 1);
	}
	return 0;
}

static void stop_export_chans(struct export_chan *ec, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		bh_chanproxy_stop(ec[i].proxy);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: stordomd --listen DIR (--control SOCKET [--control-chan SPEC] | "
		     "--volumes FILE)\n"
		     "                [--channel SOCKET=NAME]... [--export-chan NAME=SPEC]... "
		     "[--workers N] [-v]\n"
		     "  --listen DIR            directory for the volumes' NBD sockets (NAME.sock)\n"
		     "  --control SOCKET        serve dom0's volume control messages on a unix socket\n"
		     "  --control-chan SPEC     also over a channel: fd:N (host) or xen:DOMID:PATH\n"
		     "  --volumes FILE          standalone: apply the control messages in FILE\n"
		     "  --channel SOCKET=NAME   serve export NAME over channels set up on SOCKET\n"
		     "  --export-chan NAME=SPEC serve export NAME's NBD socket over channel SPEC\n"
		     "  --unseal SOCKET         vtpmd's unseal socket, where sealed volumes' secrets\n"
		     "                          come from\n"
		     "  --workers N             encryption and I/O threads (1..64, default 4)\n"
		     "  -v, --verbose           debug logging\n"
		     "  -h, --help              this text\n"
		     "See stordomd(8).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'c' },
		{ "volumes", required_argument, NULL, 'f' },
		{ "workers", required_argument, NULL, 'w' },
		{ "channel", required_argument, NULL, 'C' },
		{ "control-chan", required_argument, NULL, 'X' },
		{ "export-chan", required_argument, NULL, 'E' },
		{ "unseal", required_argument, NULL, 'U' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir = NULL, *control = NULL, *volumes = NULL, *control_chan = NULL;
	char *channel = NULL;
	struct chan_ctx cc = { .lfd = -1 };
	pthread_t chan_thread;
	struct sd_daemon d = { 0 };
	struct export_chan export_chans[EXPORT_CHANS_MAX] = { { 0 } };
	unsigned n_export_chans = 0;
	uint32_t workers = 4;
	sigset_t set;
	pthread_t sig_thread;
	int c, r, level = LOG_NOTICE;

	while ((c = getopt_long(argc, argv, "l:c:f:w:vhC:", opts, NULL)) != -1) {
		switch (c) {
		case 'C': channel = optarg; break;
		case 'X': control_chan = optarg; break;
		case 'U': d.unseal_path = optarg; break;
		case 'E':
			if (n_export_chans == EXPORT_CHANS_MAX) {
				fprintf(stderr, "stordomd: at most %u --export-chan\n",
					EXPORT_CHANS_MAX);
				return 2;
			}
			export_chans[n_export_chans++].arg = optarg;
			break;
		case 'l': dir = optarg; break;
		case 'c': control = optarg; break;
		case 'f': volumes = optarg; break;
		case 'w':
			if (bh_parse_u32(optarg, 1, 64, &workers) < 0) {
				fprintf(stderr, "stordomd: --workers: bad value '%s' (1..64)\n",
					optarg);
				return 2;
			}
			break;
		case 'v': level = LOG_DEBUG; break;
		case 'h': return usage(stdout), 0;
		default: return usage(stderr), 2;
		}
	}
	bh_log_init("stordomd", BH_LOG_STDERR, level);
	if (!dir || !control == !volumes || (control_chan && !control) || optind != argc)
		return usage(stderr), 2;
	signal(SIGPIPE, SIG_IGN);
	/* Every thread inherits the blocked set; only sigwait() takes these signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d.dir = dir;
	r = sd_server_new(dir, workers, &d.srv);
	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "starting the server"), 1;
	cc.srv = d.srv;
	if (channel && (r = start_channel(&cc, channel, &chan_thread)) < 0) {
		sd_daemon_fini(&d);
		return bh_log_errno(LOG_ERR, r, "--channel '%s'", channel), 1;
	}
	if (start_export_chans(dir, export_chans, n_export_chans) < 0) {
		stop_export_chans(export_chans, n_export_chans);
		sd_daemon_fini(&d);
		return 1;
	}
	if (control) {
		pthread_create(&sig_thread, NULL, signal_main, &set);
		r = serve_control(&d, control, control_chan);
		if (r < 0) /* the signal thread still waits: wake it */
			pthread_kill(sig_thread, SIGTERM);
		pthread_join(sig_thread, NULL);
	} else {
		r = apply_file(&d, volumes, &set);
		stopping = 1;
		if (cc.lfd >= 0)
			shutdown(cc.lfd, SHUT_RDWR);
	}
	if (cc.lfd >= 0) {
		pthread_join(chan_thread, NULL);
		close(cc.lfd);
		unlink(channel);
	}
	stop_export_chans(export_chans, n_export_chans);
	sd_daemon_fini(&d);
	return r < 0 ? 1 : 0;
}
