/* SPDX-License-Identifier: MIT */
/*
 * Channel <-> socket byte streams (bulkhead/chanproxy.h): the pump, and the
 * proxy thread that serves a daemon's unix socket over a channel.
 *
 * The pump keeps one bounded buffer per direction and never blocks on either
 * side: it polls the channel's notification fd, the socket, and a stop fd.
 * The channel's notification is armed by a non-blocking read or write that
 * found nothing to do (chan.h), so every poll below follows such a call for
 * each direction that is waiting on the channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/chanproxy.h"
#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "bulkhead/parse.h"

#define PUMP_BUF (64u << 10)
#define XEN_RING_DEFAULT (64u << 10)
#define CONNECT_TRIES 30 /* x 100 ms: the daemon's socket may still be coming up */

int bh_chan_spec_parse(const char *spec, struct bh_chan_spec *ret)
{
	struct bh_chan_spec s = { .fd = -1, .domid = -1 };
	char num[16];
	const char *colon;
	uint32_t v;
	size_t n;

	if (!strncmp(spec, "fd:", 3)) {
		if (bh_parse_u32(spec + 3, 0, INT32_MAX, &v) < 0)
			return -EINVAL;
		s.backend = BH_CHAN_MEMFD;
		s.fd = (int)v;
	} else if (!strncmp(spec, "xen:", 4)) {
		colon = strchr(spec + 4, ':');
		n = colon ? (size_t)(colon - (spec + 4)) : 0;
		if (!n || n >= sizeof(num))
			return -EINVAL;
		memcpy(num, spec + 4, n);
		num[n] = '\0';
		/* DOMID_FIRST_RESERVED is 0x7ff0: nothing above is a real domain. */
		if (bh_parse_u32(num, 0, 0x7fef, &v) < 0 || !colon[1] ||
		    strlen(colon + 1) >= sizeof(s.xs_path))
			return -EINVAL;
		s.backend = BH_CHAN_XEN;
		s.domid = (int)v;
		strcpy(s.xs_path, colon + 1);
	} else {
		return -EINVAL;
	}
	*ret = s;
	return 0;
}

/* One direction of the pump: bytes read from one side, not yet written to the other. */
struct pump_buf {
	char *data;
	size_t off, len;
	bool eof; /* the source side ended */
};

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/*
 * Channel -> fd, until one side would block (so that a channel read that
 * found nothing has armed the channel's notification) or the channel ended.
 * Returns 0, or -errno for a dead side (-EPIPE: fd's reader left).
 */
static int chan_to_fd(struct bh_chan *c, int fd, struct pump_buf *b)
{
	ssize_t n;

	for (;;) {
		if (!b->len) {
			if (b->eof)
				return 0;
			n = bh_chan_read(c, b->data, PUMP_BUF);
			if (n == 0)
				b->eof = true;
			else if (n > 0)
				b->off = 0, b->len = (size_t)n;
			else
				return n == -EAGAIN ? 0 : (int)n;
		}
		while (b->len) {
			n = write(fd, b->data + b->off, b->len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			b->off += (size_t)n, b->len -= (size_t)n;
		}
	}
}

/* fd -> channel, the same way round (a full channel arms its notification). */
static int fd_to_chan(int fd, struct bh_chan *c, struct pump_buf *b)
{
	ssize_t n;

	for (;;) {
		if (!b->len) {
			if (b->eof)
				return 0;
			n = read(fd, b->data, PUMP_BUF);
			if (n == 0)
				b->eof = true;
			else if (n > 0)
				b->off = 0, b->len = (size_t)n;
			else if (errno == EINTR)
				continue;
			else
				return errno == EAGAIN ? 0 : errno == ECONNRESET ? -EPIPE : -errno;
		}
		while (b->len) {
			n = bh_chan_write(c, b->data + b->off, b->len);
			if (n == -EAGAIN)
				return 0;
			if (n < 0)
				return (int)n;
			b->off += (size_t)n, b->len -= (size_t)n;
		}
	}
}

static int pump_loop(struct bh_chan *c, int fd, int stop_fd, struct pump_buf *in,
		     struct pump_buf *out)
{
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = bh_chan_fd(c), .events = POLLIN },
			{ .fd = fd },
			{ .fd = stop_fd, .events = POLLIN },
		};
		int r;

		r = chan_to_fd(c, fd, out);
		if (r == 0)
			r = fd_to_chan(fd, c, in);
		if (r == -EPIPE || r == -ECONNRESET)
			return 0;
		if (r < 0)
			return r;
		/* A side that ended and whose bytes are all delivered ends the session. */
		if ((out->eof && !out->len) || (in->eof && !in->len))
			return 0;
		p[1].events = (short)((out->len ? POLLOUT : 0) | (!in->len && !in->eof ? POLLIN : 0));
		/*
		 * Watch the channel only while waiting on it (for data, or for
		 * space): its fd can stay readable while data sits unread because
		 * the socket is full, and polling it then would spin.
		 */
		if (out->len && !in->len)
			p[0].fd = -1;
		if (poll(p, stop_fd >= 0 ? 3 : 2, -1) < 0 && errno != EINTR)
			return -errno;
		if (p[2].revents)
			return 0;
		if (p[0].revents && (r = bh_chan_wait(c)) < 0 && r != -EINTR)
			return r;
	}
}

int bh_chan_pump(struct bh_chan *c, int fd, int stop_fd)
{
	struct pump_buf in = { 0 }, out = { 0 };
	int r;

	r = set_nonblock(fd);
	if (r < 0)
		return r;
	bh_chan_set_blocking(c, false);
	in.data = malloc(PUMP_BUF);
	out.data = malloc(PUMP_BUF);
	r = in.data && out.data ? pump_loop(c, fd, stop_fd, &in, &out) : -ENOMEM;
	free(in.data);
	free(out.data);
	return r;
}

/* ------------------------------------------------------------------------ */

struct bh_chanproxy {
	struct bh_chan_spec spec;
	char *sock_path;
	size_t ring_size;
	int stop_fd; /* eventfd: readable once bh_chanproxy_stop() was called */
	int listen_fd; /* client mode: the socket we accept on; else -1 */
	struct bh_chan *next; /* xen: the ring advertised for the next peer, if any */
	pthread_t thread;
};

static bool stopped(const struct bh_chanproxy *p)
{
	struct pollfd pfd = { .fd = p->stop_fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/* Wait until @fd is readable or the proxy is stopped. Returns 1, 0 (stopped) or -errno. */
static int wait_readable(const struct bh_chanproxy *p, int fd)
{
	struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN }, { .fd = p->stop_fd, .events = POLLIN } };

	while (poll(pfd, 2, -1) < 0)
		if (errno != EINTR)
			return -errno;
	return pfd[1].revents ? 0 : 1;
}

/* Advertise a new ring for the next xen peer (p->next). */
static int advertise(struct bh_chanproxy *p)
{
	size_t ring = p->ring_size ? p->ring_size : XEN_RING_DEFAULT;
	int r = bh_chan_xen_server(p->spec.domid, p->spec.xs_path, ring, ring, &p->next);

	/*
	 * Each page of a ring is a grant from this domain's gntalloc device,
	 * whose module-wide limit (1024 grants by default) two 1 MiB rings
	 * already exceed.
	 */
	if (r == -ENOSPC)
		bh_err("channel for %s: out of grants: raise /sys/module/xen_gntalloc/parameters/limit",
		       p->sock_path);
	return r;
}

/*
 * Advertise again after a session; on failure retry every second until
 * stopped (the grants of the ring just closed may not all be back yet).
 * Returns 1 once advertised, 0 when stopped.
 */
static int readvertise(struct bh_chanproxy *p)
{
	const struct timespec tick = { 1, 0 };
	bool logged = false;
	int r;

	while ((r = advertise(p)) < 0) {
		if (!logged)
			bh_log_errno(LOG_ERR, r, "channel for %s: advertising it again (retrying)",
				     p->sock_path);
		logged = true;
		if (stopped(p))
			return 0;
		nanosleep(&tick, NULL);
	}
	if (logged)
		bh_notice("channel for %s: advertised again", p->sock_path);
	return 1;
}

/* The next peer's channel: 1 and *ret, 0 when stopped, or -errno. */
static int accept_peer(struct bh_chanproxy *p, struct bh_chan **ret)
{
	struct bh_chan *c = NULL;
	int r;

	if (p->spec.backend == BH_CHAN_MEMFD) {
		/* dom0 sends the rings right after spawning us; don't block a stop on it. */
		r = wait_readable(p, p->spec.fd);
		if (r <= 0)
			return r;
		r = bh_chan_memfd_client(p->spec.fd, &c);
		p->spec.fd = -1; /* the channel owns it now, or it was closed on failure */
		if (r < 0)
			return r;
		*ret = c;
		return 1;
	}
	if (!p->next && (r = readvertise(p)) <= 0)
		return r;
	c = p->next;
	p->next = NULL;
	while ((r = bh_chan_is_open(c)) == 2) {
		r = wait_readable(p, bh_chan_fd(c));
		if (r <= 0 || (r = bh_chan_wait(c)) < 0) {
			bh_chan_close(c);
			return r;
		}
	}
	/*
	 * Taken: stop advertising this ring, so that the next peer waits for the
	 * next one instead of attaching to this ring as its session ends (Xen's
	 * vchan-socket-proxy reconnects at once, once per TPM command).
	 */
	r = bh_chan_withdraw(c);
	if (r < 0)
		bh_log_errno(LOG_WARNING, r, "channel for %s: withdrawing its advertisement",
			     p->sock_path);
	*ret = c;
	return 1;
}

static int connect_socket(const struct bh_chanproxy *p)
{
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	int fd = -ENOENT;

	for (int i = 0; i < CONNECT_TRIES && !stopped(p); i++) {
		fd = bh_unix_connect(p->sock_path, SOCK_STREAM);
		if (fd >= 0 || (fd != -ENOENT && fd != -ECONNREFUSED))
			break;
		nanosleep(&tick, NULL);
	}
	return fd;
}

static void *proxy_main(void *arg)
{
	struct bh_chanproxy *p = arg;

	for (;;) {
		_cleanup_chan_ struct bh_chan *c = NULL;
		_cleanup_close_ int fd = -1;
		int r = accept_peer(p, &c);

		if (r == 0)
			break;
		if (r < 0) {
			bh_log_errno(LOG_ERR, r, "channel for %s", p->sock_path);
			break;
		}
		fd = connect_socket(p);
		if (fd < 0)
			bh_log_errno(LOG_ERR, fd, "channel peer for %s: connect", p->sock_path);
		else if ((r = bh_chan_pump(c, fd, p->stop_fd)) < 0)
			bh_log_errno(LOG_WARNING, r, "channel for %s", p->sock_path);
		if (p->spec.backend == BH_CHAN_MEMFD || stopped(p))
			break;
	}
	return NULL;
}

/* Client mode: join the server's channel, retried while it re-advertises. */
static int join_chan(const struct bh_chanproxy *p, struct bh_chan **ret)
{
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	int r = -ENOENT;

	for (int i = 0; i < CONNECT_TRIES && !stopped(p); i++) {
		r = bh_chan_xen_client(p->spec.domid, p->spec.xs_path, ret);
		if (r == 0)
			break;
		nanosleep(&tick, NULL);
	}
	return r;
}

static void *client_main(void *arg)
{
	struct bh_chanproxy *p = arg;

	for (;;) {
		_cleanup_chan_ struct bh_chan *c = NULL;
		_cleanup_close_ int fd = -1;
		int r = wait_readable(p, p->listen_fd);

		if (r <= 0)
			break;
		fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue; /* the connection went away meanwhile */
		r = join_chan(p, &c);
		if (r < 0)
			bh_log_errno(LOG_ERR, r, "%s: channel %s of domain %d", p->sock_path,
				     p->spec.xs_path, p->spec.domid);
		else if ((r = bh_chan_pump(c, fd, p->stop_fd)) < 0)
			bh_log_errno(LOG_WARNING, r, "%s: channel of domain %d", p->sock_path,
				     p->spec.domid);
	}
	return NULL;
}

static int proxy_new(const char *spec, const char *sock_path, size_t ring_size,
		     struct bh_chanproxy **ret)
{
	struct bh_chanproxy *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->stop_fd = -1;
	p->listen_fd = -1;
	p->ring_size = ring_size;
	r = bh_chan_spec_parse(spec, &p->spec);
	if (r == 0 && !(p->sock_path = strdup(sock_path)))
		r = -ENOMEM;
	if (r == 0) {
		p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = p->stop_fd < 0 ? -errno : 0;
	}
	if (r < 0) {
		if (p->stop_fd >= 0)
			close(p->stop_fd);
		free(p->sock_path);
		free(p);
		return r;
	}
	*ret = p;
	return 0;
}

static void proxy_free(struct bh_chanproxy *p)
{
	bh_chan_close(p->next);
	if (p->listen_fd >= 0) {
		close(p->listen_fd);
		unlink(p->sock_path);
	}
	if (p->spec.backend == BH_CHAN_MEMFD && p->spec.fd >= 0)
		close(p->spec.fd);
	close(p->stop_fd);
	free(p->sock_path);
	free(p);
}

int bh_chanproxy_start(const char *spec, const char *sock_path, size_t ring_size,
		       struct bh_chanproxy **ret)
{
	struct bh_chanproxy *p;
	int r = proxy_new(spec, sock_path, ring_size, &p);

	if (r < 0)
		return r;
	/*
	 * The first ring here, not in the thread: a channel that cannot be
	 * advertised fails the start (and the daemon's CHAN_SERVE with it)
	 * instead of a proxy that reports started and serves nothing.
	 */
	if (p->spec.backend == BH_CHAN_XEN)
		r = advertise(p);
	if (r == 0)
		r = -pthread_create(&p->thread, NULL, proxy_main, p);
	if (r < 0) {
		p->spec.fd = -1; /* not ours to close yet: the caller keeps it on failure */
		proxy_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int bh_chanproxy_client_start(const char *spec, const char *sock_path,
			      struct bh_chanproxy **ret)
{
	struct bh_chanproxy *p;
	int r = proxy_new(spec, sock_path, 0, &p);

	if (r < 0)
		return r;
	if (p->spec.backend != BH_CHAN_XEN)
		r = -EINVAL;
	if (r == 0) {
		p->listen_fd = bh_unix_listen(sock_path, SOCK_STREAM, 4);
		r = p->listen_fd < 0 ? p->listen_fd : 0;
	}
	if (r == 0)
		r = -pthread_create(&p->thread, NULL, client_main, p);
	if (r < 0) {
		p->spec.fd = -1;
		proxy_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void bh_chanproxy_stop(struct bh_chanproxy *p)
{
	uint64_t one = 1;

	if (!p)
		return;
	if (write(p->stop_fd, &one, sizeof(one)) < 0)
		bh_log_errno(LOG_WARNING, -errno, "stopping the channel proxy for %s", p->sock_path);
	pthread_join(p->thread, NULL);
	proxy_free(p);
}
