/* SPDX-License-Identifier: MIT */
/*
 * netdomd's event loop: control connections (several may be open; each has
 * its own pending policy sequence), the NFLOG socket, and the period timer
 * that hands coalesced drops to every connected peer as DROP_EVENTs. A peer
 * that cannot take its events is disconnected, never waited for.
 */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "netdom.h"

#define CONN_BUF (BH_MSG_HDR_SIZE + BH_MSG_BODY_MAX)
#define READ_CHUNK (256 * 1024)

void nd_conn_close(struct nd_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->out >= 0 && c->out != c->fd)
		close(c->out);
	nd_policy_free(c->pending);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = c->out = -1;
}

/* Handle every complete message in the buffer; keep the incomplete tail. */
static int conn_drain(struct nd_daemon *d, struct nd_conn *c)
{
	size_t off = 0;
	int r = 0;

	while (r == 0 && c->len - off >= BH_MSG_HDR_SIZE) {
		struct bh_msg_hdr h;

		r = bh_msg_hdr_decode(c->buf + off, &h);
		if (r < 0) {
			bh_log_errno(LOG_ERR, r, "control stream: bad header");
			break;
		}
		if (c->len - off - BH_MSG_HDR_SIZE < h.length)
			break;
		r = nd_daemon_handle(d, c, &h, c->buf + off + BH_MSG_HDR_SIZE);
		if (r < 0)
			bh_log_errno(LOG_ERR, r, "control stream: %s", bh_msg_type_name(h.type));
		off += BH_MSG_HDR_SIZE + h.length;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return r;
}

int nd_conn_input(struct nd_daemon *d, struct nd_conn *c)
{
	size_t room;
	ssize_t n;

	if (!c->buf && !(c->buf = malloc(CONN_BUF)))
		return -ENOMEM;
	room = CONN_BUF - c->len < READ_CHUNK ? CONN_BUF - c->len : READ_CHUNK;
	n = read(c->fd, c->buf + c->len, room);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return c->len ? -EBADMSG : 1; /* EOF inside a message: a torn stream */
	c->len += (size_t)n;
	return conn_drain(d, c);
}

int nd_daemon_file(struct nd_daemon *d, int fd)
{
	struct nd_conn c = { .fd = fd, .out = -1 };
	int r;

	d->last_status = -ENODATA;
	do
		r = nd_conn_input(d, &c);
	while (r == 0);
	c.fd = -1; /* the caller's */
	nd_conn_close(&c);
	return r < 0 ? r : d->last_status;
}

/* ---- drop events ---- */

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* The guest a drop came from: its input interface is one of the policy's vifs. */
static const char *drop_guest(const struct nd_daemon *d, uint32_t ifindex)
{
	char ifname[IF_NAMESIZE];

	if (!d->policy || !ifindex || !if_indextoname(ifindex, ifname))
		return NULL;
	for (uint32_t i = 0; i < d->policy->n_vifs; i++)
		if (!strcmp(d->policy->vifs[i].m.ifname, ifname))
			return d->policy->guests[d->policy->vifs[i].guest].name;
	return NULL;
}

static void on_drop(const struct nd_drop *dr, void *arg)
{
	struct nd_daemon *d = arg;

	nd_drops_add(&d->drops, drop_guest(d, dr->indev), dr);
}

static void read_nflog(struct nd_daemon *d)
{
	static uint8_t buf[64 * 1024];

	for (;;) {
		ssize_t n = recv(d->nflog_fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == ENOBUFS) {
			d->drops.lost++; /* the kernel had more than we read: some reports lost */
			continue;
		}
		if (n <= 0)
			return;
		if (nd_nflog_parse(buf, (size_t)n, on_drop, d) < 0)
			bh_warn("malformed NFLOG message (%zd bytes) ignored", n);
	}
}

/* Events never block netdomd: a peer whose socket is full loses the connection instead. */
static int send_event(int fd, const uint8_t *frame, long n)
{
	return send(fd, frame, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n ? 0 : -EAGAIN;
}

static void send_drops(struct nd_daemon *d)
{
	uint8_t body[256], frame[BH_MSG_HDR_SIZE + 256];

	if (d->drops.lost)
		bh_warn("%llu drop reports lost to the rate limit",
			(unsigned long long)d->drops.lost);
	for (size_t i = 0; i < d->drops.n; i++) {
		long len = bh_msg_drop_event_encode(&d->drops.v[i], body, sizeof(body));
		long n = len < 0 ? len : bh_msg_frame(BH_MSG_DROP_EVENT, 0, 0, 1, body, (size_t)len,
						      frame, sizeof(frame));

		for (size_t k = 0; n > 0 && k < d->n_conns; k++)
			if (send_event(d->conns[k].out, frame, n) < 0)
				shutdown(d->conns[k].fd, SHUT_RDWR); /* poll reports it; closed there */
	}
	nd_drops_reset(&d->drops, now_ms());
}

/* ---- the loop ---- */

static void accept_conn(struct nd_daemon *d, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (d->n_conns == ND_CONNS_MAX) {
		bh_warn("control connection refused: %d already open", ND_CONNS_MAX);
		close(fd);
		return;
	}
	d->conns[d->n_conns++] = (struct nd_conn){ .fd = fd, .out = fd };
}

static void drop_conn(struct nd_daemon *d, size_t i)
{
	nd_conn_close(&d->conns[i]);
	d->conns[i] = d->conns[--d->n_conns];
}

int nd_daemon_serve(struct nd_daemon *d, int lfd)
{
	struct pollfd p[ND_CONNS_MAX + 2];

	nd_drops_reset(&d->drops, now_ms());
	for (;;) {
		size_t n = d->n_conns;
		int r;

		for (size_t i = 0; i < n; i++)
			p[i] = (struct pollfd){ d->conns[i].fd, POLLIN };
		p[n] = (struct pollfd){ lfd, POLLIN };
		p[n + 1] = (struct pollfd){ d->nflog_fd, POLLIN };
		r = poll(p, n + 2, nd_drops_wait_ms(&d->drops, now_ms()));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (d->nflog_fd >= 0 && (p[n + 1].revents & POLLIN))
			read_nflog(d);
		if (nd_drops_due(&d->drops, now_ms()))
			send_drops(d);
		for (size_t i = n; i-- > 0;)
			if (p[i].revents && nd_conn_input(d, &d->conns[i]) != 0)
				drop_conn(d, i);
		if (p[n].revents & POLLIN)
			accept_conn(d, lfd);
	}
}
