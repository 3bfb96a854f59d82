/* SPDX-License-Identifier: MIT */
/*
 * A guest's end of NBD over a bulkhead channel, for the tests: attaches to
 * stordomd's --channel socket as the memfd channel client and serves GUEST.sock,
 * where each NBD client connection becomes one mux stream (what the host
 * platform's guest plumbing will do). Runs until SIGTERM.
 *
 *   helper-changuest CHANNEL_SOCKET GUEST_SOCKET
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bulkhead/chan.h"
#include "../../../stordom/stordom.h"

static volatile int stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int unix_sock(const char *path, bool listen_it)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (listen_it ? SOCK_NONBLOCK : 0), 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return -1;
	if (listen_it) {
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
			return -1;
	} else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct bh_chan *chan = NULL;
	int sock, lfd, r;

	if (argc != 3) {
		fprintf(stderr, "usage: helper-changuest CHANNEL_SOCKET GUEST_SOCKET\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sock = unix_sock(argv[1], false);
	if (sock < 0 || (r = bh_chan_memfd_client(sock, &chan)) < 0) {
		fprintf(stderr, "helper-changuest: channel %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	lfd = unix_sock(argv[2], true);
	if (lfd < 0) {
		perror(argv[2]);
		return 1;
	}
	r = sd_bridge_run(chan, true, lfd, NULL, NULL, &stop);
	bh_chan_close(chan);
	close(lfd);
	unlink(argv[2]);
	if (r < 0)
		fprintf(stderr, "helper-changuest: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}
