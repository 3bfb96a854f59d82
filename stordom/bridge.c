/* SPDX-License-Identifier: MIT */
/*
 * NBD over a bulkhead channel: one mux stream per NBD connection, each joined
 * to a byte-stream fd (stordom's side: a socketpair whose other end the NBD
 * server serves; a guest's side: a connection accepted on its disk socket).
 *
 * One thread runs the whole bridge as a poll loop: the mux never blocks, the
 * fds are non-blocking, and each direction of each link holds at most one
 * buffer, so a stalled reader stops only its own stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulkhead/chan.h"
#include "bulkhead/mux.h"
#include "stordom.h"

#define LINK_BUF (64u << 10)
#define LINKS_MAX BH_MUX_STREAMS_MAX

struct link {
	uint32_t id;
	int fd;
	bool fd_eof, mux_eof;
	uint8_t *to_mux, *to_fd;
	size_t tm_off, tm_len, tf_off, tf_len;
};

struct sd_bridge {
	struct bh_chan *chan;
	struct bh_mux *mux;
	struct link links[LINKS_MAX];
	unsigned n;
	int listen_fd; /* guest side: new connections open streams; -1 on stordom's side */
	int (*stream_fd)(void *ctx); /* stordom's side: an fd to serve a new stream on */
	void *ctx;
};

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

static int link_add(struct sd_bridge *b, uint32_t id, int fd)
{
	struct link *l;

	if (b->n == LINKS_MAX || set_nonblock(fd) < 0)
		return -EMFILE;
	l = &b->links[b->n];
	*l = (struct link){ .id = id, .fd = fd };
	l->to_mux = malloc(LINK_BUF);
	l->to_fd = malloc(LINK_BUF);
	if (!l->to_mux || !l->to_fd) {
		free(l->to_mux);
		free(l->to_fd);
		return -ENOMEM;
	}
	b->n++;
	return 0;
}

static void link_del(struct sd_bridge *b, unsigned i)
{
	struct link *l = &b->links[i];

	bh_mux_close(b->mux, l->id);
	close(l->fd);
	free(l->to_mux);
	free(l->to_fd);
	b->links[i] = b->links[--b->n];
}

/* mux -> fd. Returns true on progress. */
static bool pump_to_fd(struct sd_bridge *b, struct link *l)
{
	bool progress = false;
	ssize_t n;

	if (l->tf_off == l->tf_len && !l->mux_eof) {
		n = bh_mux_read(b->mux, l->id, l->to_fd, LINK_BUF);
		if (n > 0) {
			l->tf_off = 0;
			l->tf_len = (size_t)n;
			progress = true;
		} else if (n == 0 || n == -ENOENT) {
			l->mux_eof = true;
			shutdown(l->fd, SHUT_WR);
			progress = true;
		}
	}
	if (l->tf_off < l->tf_len) {
		n = write(l->fd, l->to_fd + l->tf_off, l->tf_len - l->tf_off);
		if (n > 0) {
			l->tf_off += (size_t)n;
			progress = true;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			l->mux_eof = l->fd_eof = true; /* the local end is gone */
			l->tf_off = l->tf_len = 0;
		}
	}
	return progress;
}

/* fd -> mux. */
static bool pump_to_mux(struct sd_bridge *b, struct link *l)
{
	bool progress = false;
	ssize_t n;

	if (l->tm_off == l->tm_len && !l->fd_eof) {
		n = read(l->fd, l->to_mux, LINK_BUF);
		if (n > 0) {
			l->tm_off = 0;
			l->tm_len = (size_t)n;
			progress = true;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			l->fd_eof = true;
			progress = true;
		}
	}
	if (l->tm_off < l->tm_len) {
		n = bh_mux_write(b->mux, l->id, l->to_mux + l->tm_off, l->tm_len - l->tm_off);
		if (n > 0) {
			l->tm_off += (size_t)n;
			progress = true;
		} else if (n != -EAGAIN) {
			l->fd_eof = l->mux_eof = true;
			l->tm_off = l->tm_len = 0;
		}
	}
	return progress;
}

static void accept_streams(struct sd_bridge *b)
{
	uint32_t id;

	while (b->stream_fd && bh_mux_accept(b->mux, &id) == 0) {
		int fd = b->stream_fd(b->ctx);

		if (fd < 0 || link_add(b, id, fd) < 0) {
			if (fd >= 0)
				close(fd);
			bh_mux_close(b->mux, id);
		}
	}
}

static void accept_conns(struct sd_bridge *b)
{
	uint32_t id;
	int fd;

	while (b->listen_fd >= 0 && (fd = accept4(b->listen_fd, NULL, NULL,
						  SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		if (bh_mux_open(b->mux, &id) < 0 || link_add(b, id, fd) < 0)
			close(fd);
	}
}

static bool pump_all(struct sd_bridge *b)
{
	bool progress = false;

	for (unsigned i = 0; i < b->n;) {
		struct link *l = &b->links[i];

		progress |= pump_to_fd(b, l);
		progress |= pump_to_mux(b, l);
		/* Done once the local end finished and everything it sent is in the mux. */
		if (l->fd_eof && l->tm_off == l->tm_len && (l->mux_eof || l->tf_off == l->tf_len)) {
			link_del(b, i);
			progress = true;
			continue;
		}
		i++;
	}
	return progress;
}

static void wait_events(struct sd_bridge *b, int timeout_ms)
{
	struct pollfd pfd[LINKS_MAX + 2];
	nfds_t n = 0;

	pfd[n++] = (struct pollfd){ bh_chan_fd(b->chan), POLLIN, 0 };
	if (b->listen_fd >= 0)
		pfd[n++] = (struct pollfd){ b->listen_fd, POLLIN, 0 };
	for (unsigned i = 0; i < b->n; i++) {
		struct link *l = &b->links[i];
		short ev = 0;

		if (l->tm_off == l->tm_len && !l->fd_eof)
			ev |= POLLIN;
		if (l->tf_off < l->tf_len)
			ev |= POLLOUT;
		pfd[n++] = (struct pollfd){ l->fd, ev, 0 };
	}
	if (poll(pfd, n, timeout_ms) > 0 && (pfd[0].revents & POLLIN))
		bh_chan_wait(b->chan);
}

int sd_bridge_run(struct bh_chan *chan, bool initiator, int listen_fd,
		  int (*stream_fd)(void *ctx), void *ctx, const volatile int *stop)
{
	struct sd_bridge *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	b->chan = chan;
	b->listen_fd = listen_fd;
	b->stream_fd = stream_fd;
	b->ctx = ctx;
	r = bh_mux_new(chan, initiator, &b->mux);
	while (r == 0 && !*stop) {
		bool progress;

		r = bh_mux_poll(b->mux);
		if (r < 0)
			break;
		accept_streams(b);
		accept_conns(b);
		progress = pump_all(b) || r > 0;
		r = bh_mux_poll(b->mux); /* flush what the pumps queued */
		if (r < 0)
			break;
		r = 0;
		if (bh_chan_is_open(chan) == 0 && b->n == 0)
			break;
		if (!progress)
			wait_events(b, 200);
	}
	while (b->n)
		link_del(b, 0);
	bh_mux_free(b->mux);
	free(b);
	return r == -EPIPE ? 0 : r;
}
