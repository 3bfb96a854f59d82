/* SPDX-License-Identifier: MIT */
/*
 * What a guest on the host platform runs to reach its vTPM through the
 * bulkhead channel with standard clients: swtpm's two unix sockets, bridged
 * onto the mux streams of tpm.chan (protocol in vtpm/worker-chan.c).
 *
 *   helper-tpmbridge CHAN SOCK      serve SOCK (data) and SOCK.ctrl (control)
 *                                   until SIGTERM or the channel ends
 *
 * tpm2-tools then talk to it with -T swtpm:path=SOCK. One client per socket
 * at a time, each connection its own stream.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bulkhead/chan.h"
#include "bulkhead/mux.h"
#include "../../../vtpm/vtpm.h"

struct side {
	int lfd, fd;  /* listening socket; accepted connection or -1 */
	uint32_t id;  /* its stream */
	uint8_t kind; /* VT_CHAN_STREAM_* */
};

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static void side_close(struct vt_client *c, struct side *s)
{
	if (s->fd < 0)
		return;
	close(s->fd);
	s->fd = -1;
	bh_mux_close(c->mux, s->id);
}

static void side_accept(struct vt_client *c, struct side *s)
{
	s->fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (s->fd >= 0 && vt_client_open_stream(c, s->kind, &s->id) < 0) {
		close(s->fd);
		s->fd = -1;
	}
}

/* Client bytes onto the stream. */
static void side_input(struct vt_client *c, struct side *s)
{
	uint8_t buf[8192];
	ssize_t n = read(s->fd, buf, sizeof(buf));

	if (n <= 0 || vt_client_write(c, s->id, buf, (size_t)n) < 0)
		side_close(c, s);
}

/* Stream bytes to the client; the worker finishing the stream closes it. */
static void side_output(struct vt_client *c, struct side *s)
{
	uint8_t buf[8192];

	while (s->fd >= 0) {
		ssize_t n = bh_mux_read(c->mux, s->id, buf, sizeof(buf));

		if (n == -EAGAIN)
			return;
		if (n <= 0 || send(s->fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			side_close(c, s);
	}
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	char ctrl_path[108];
	struct side sides[2] = { { -1, -1, 0, VT_CHAN_STREAM_DATA },
				 { -1, -1, 0, VT_CHAN_STREAM_CTRL } };
	struct vt_client *c = NULL;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: helper-tpmbridge CHAN SOCK\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	r = vt_client_open(argv[1], &c);
	if (r < 0) {
		fprintf(stderr, "helper-tpmbridge: %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	/* vt_client_open() opened a data stream we do not use: each connection gets its own. */
	bh_mux_close(c->mux, c->data);
	snprintf(ctrl_path, sizeof(ctrl_path), "%s.ctrl", argv[2]);
	sides[0].lfd = listen_unix(argv[2]);
	sides[1].lfd = listen_unix(ctrl_path);
	while (!stop && bh_chan_is_open(c->chan) && bh_mux_poll(c->mux) >= 0) {
		struct pollfd p[3] = { { bh_chan_fd(c->chan), POLLIN, 0 } };

		for (int i = 0; i < 2; i++) {
			side_output(c, &sides[i]);
			p[1 + i].fd = sides[i].fd >= 0 ? sides[i].fd : sides[i].lfd;
			p[1 + i].events = POLLIN;
		}
		if (bh_mux_pending(c->mux, sides[0].id) > 0 || bh_mux_pending(c->mux, sides[1].id) > 0)
			continue;
		if (poll(p, 3, -1) < 0)
			continue;
		if (p[0].revents)
			bh_chan_wait(c->chan);
		for (int i = 0; i < 2; i++) {
			if (p[1 + i].revents && sides[i].fd < 0)
				side_accept(c, &sides[i]);
			else if (p[1 + i].revents)
				side_input(c, &sides[i]);
		}
	}
	for (int i = 0; i < 2; i++)
		side_close(c, &sides[i]);
	vt_client_close(c);
	unlink(argv[2]);
	unlink(ctrl_path);
	return 0;
}
