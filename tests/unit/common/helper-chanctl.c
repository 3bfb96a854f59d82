/* SPDX-License-Identifier: MIT */
/*
 * Test helper standing in for dom0's end of a daemon's control channel on the
 * host platform: starts a daemon with one end of a socketpair as fd 3 (for
 * `--control-chan fd:3`), sets up a memfd channel over it as the server, and
 * carries client connections on the unix socket SOCK over that one channel
 * (bh_chan_pump), one after the other, so the existing request/response
 * control clients can talk to the daemon through the channel.
 *
 *   helper-chanctl SOCK PROGRAM [ARG]...
 *
 * On SIGTERM the daemon gets SIGTERM too; exits 0 if every session carried
 * its bytes without error and the daemon exited 0 or died of that SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bulkhead/chanproxy.h"
#include "bulkhead/fdio.h"

static int stop_pipe[2] = { -1, -1 };

static void on_term(int sig)
{
	(void)sig;
	(void)!write(stop_pipe[1], "x", 1);
}

static bool stopped(void)
{
	struct pollfd p = { .fd = stop_pipe[0], .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

static pid_t spawn(int child_sock, char **argv)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* fd 3 without close-on-exec; everything else of ours is cloexec. */
		if (dup2(child_sock, 3) < 0)
			_exit(127);
		execv(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term }; /* no SA_RESTART: accept() returns */
	struct bh_chan *c = NULL;
	int sp[2], lfd, cfd, r = 0, st = 0;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: helper-chanctl SOCK PROGRAM [ARG]...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(stop_pipe, O_CLOEXEC) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return 2;
	lfd = bh_unix_listen(argv[1], SOCK_STREAM, 1);
	if (lfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		perror(argv[1]);
		return 2;
	}
	pid = spawn(sp[1], argv + 2);
	close(sp[1]);
	r = pid < 0 ? -errno : bh_chan_memfd_server(sp[0], 64 << 10, 64 << 10, &c);
	if (r < 0) {
		fprintf(stderr, "helper-chanctl: channel: %s\n", strerror(-r));
		return 1;
	}
	while (r == 0 && !stopped() && bh_chan_is_open(c)) {
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			r = errno == EINTR ? 0 : -errno;
			continue;
		}
		r = bh_chan_pump(c, cfd, stop_pipe[0]);
		close(cfd);
		if (r < 0)
			fprintf(stderr, "helper-chanctl: pump: %s\n", strerror(-r));
	}
	bh_chan_close(c);
	kill(pid, SIGTERM);
	if (waitpid(pid, &st, 0) != pid ||
	    (WIFEXITED(st) ? WEXITSTATUS(st) != 0 : WTERMSIG(st) != SIGTERM)) {
		fprintf(stderr, "helper-chanctl: %s ended with status 0x%x\n", argv[2], st);
		r = -ECHILD;
	}
	unlink(argv[1]);
	return r < 0 ? 1 : 0;
}
