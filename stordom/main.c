/* SPDX-License-Identifier: MIT */
/*
 * stordomd: the storage service daemon.
 *
 *   stordomd --listen DIR --control SOCKET [--workers N] [-v]
 *       serve dom0's VOLUME_* control messages on a unix socket; each open
 *       volume is served over NBD on DIR/NAME.sock
 *   stordomd --listen DIR --volumes FILE [--workers N] [-v]
 *       standalone: apply a file of the same control messages, then serve
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
#include <sys/un.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "bulkhead/parse.h"
#include "stordom.h"

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static int ctl_listen = -1, ctl_conn = -1;
static volatile sig_atomic_t stopping;

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
	pthread_mutex_unlock(&ctl_lock);
	return NULL;
}

static int listen_control(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static void set_ctl(int *slot, int fd)
{
	pthread_mutex_lock(&ctl_lock);
	*slot = fd;
	if (stopping && fd >= 0)
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&ctl_lock);
}

static int serve_control(struct sd_daemon *d, const char *path)
{
	int lfd = listen_control(path);

	if (lfd < 0)
		return bh_log_errno(LOG_ERR, lfd, "control socket %s", path);
	set_ctl(&ctl_listen, lfd);
	bh_info("control on %s", path);
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
	close(lfd);
	unlink(path);
	return 0;
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

static int usage(void)
{
	fprintf(stderr, "usage: stordomd --listen DIR (--control SOCKET | --volumes FILE) "
			"[--workers N] [-v]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'c' },
		{ "volumes", required_argument, NULL, 'f' },
		{ "workers", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ 0 },
	};
	const char *dir = NULL, *control = NULL, *volumes = NULL;
	struct sd_daemon d = { 0 };
	uint32_t workers = 4;
	sigset_t set;
	pthread_t sig_thread;
	int c, r, level = LOG_NOTICE;

	while ((c = getopt_long(argc, argv, "l:c:f:w:v", opts, NULL)) != -1) {
		switch (c) {
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
		default: return usage();
		}
	}
	bh_log_init("stordomd", BH_LOG_STDERR, level);
	if (!dir || !control == !volumes || optind != argc)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	/* Every thread inherits the blocked set; only sigwait() takes these signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	r = sd_server_new(dir, workers, &d.srv);
	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "starting the server"), 1;
	if (control) {
		pthread_create(&sig_thread, NULL, signal_main, &set);
		r = serve_control(&d, control);
		if (r < 0) /* the signal thread still waits: wake it */
			pthread_kill(sig_thread, SIGTERM);
		pthread_join(sig_thread, NULL);
	} else {
		r = apply_file(&d, volumes, &set);
	}
	sd_daemon_fini(&d);
	return r < 0 ? 1 : 0;
}
