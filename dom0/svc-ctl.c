/* SPDX-License-Identifier: MIT */
/*
 * Control messages (msg.h) between dom0 and a service daemon over its
 * control channel: a memfd channel (chan.h) that dom0 creates as the server
 * and hands the daemon's domain at spawn (fd 3, `--control-chan fd:3`); the
 * daemon's channel proxy relays it to its own control socket. The same
 * framing as on a socket; the channel runs non-blocking and every wait is
 * bounded by svc->deadline_ms, so a daemon that stops answering costs a
 * timeout, never a hang. The daemon is not trusted: headers are checked
 * before bodies, bodies are length-capped and decoded by the codecs.
 */
#include <arpa/inet.h>
#include <poll.h>

#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "dom0.h"

static uint32_t next_request = 1;

/* Until the channel may have changed, or the deadline. 0, -ETIMEDOUT, -EPROTO. */
static int chan_wait(struct bh_svc *svc)
{
	struct pollfd p = { .fd = bh_chan_fd(svc->chan), .events = POLLIN };
	uint64_t now = bh_now_ms();
	int r;

	if (now >= svc->deadline_ms)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)(svc->deadline_ms - now));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return -ETIMEDOUT;
	r = bh_chan_wait(svc->chan);
	return r == -EINTR ? 0 : r;
}

static int read_exact(struct bh_svc *svc, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = bh_chan_read(svc->chan, (uint8_t *)buf + got, len - got);
		int r;

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			svc->chan_dead = true;
			return -ECONNRESET;
		}
		if (n != -EAGAIN)
			return (int)n;
		r = chan_wait(svc);
		if (r < 0)
			return r;
	}
	return 0;
}

int bh_ctl_send_raw(struct bh_svc *svc, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = bh_chan_write(svc->chan, (const uint8_t *)buf + done, len - done);
		int r;

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == -EPIPE)
			svc->chan_dead = true;
		if (n != -EAGAIN)
			return n == -EPIPE ? -ECONNRESET : (int)n;
		r = chan_wait(svc);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One whole message: the header checked first, then a body of at most @cap. */
static int read_msg(struct bh_svc *svc, struct bh_msg_hdr *h, uint8_t *body, size_t cap)
{
	uint8_t untrusted_hdr[BH_MSG_HDR_SIZE];
	int r = read_exact(svc, untrusted_hdr, sizeof(untrusted_hdr));

	if (r == 0)
		r = bh_msg_hdr_decode(untrusted_hdr, h);
	if (r == 0 && h->length > cap)
		r = -EMSGSIZE;
	if (r == 0)
		r = read_exact(svc, body, h->length);
	return r;
}

/* Something the service sent that no request waits for. */
static void unasked(struct bh_sup *s, struct bh_svc *svc, const struct bh_msg_hdr *h,
		    const uint8_t *untrusted_body)
{
	struct bh_msg_drop_event e;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];

	if (h->type != BH_MSG_DROP_EVENT ||
	    bh_msg_drop_event_decode(untrusted_body, h->length, &e) < 0) {
		bh_debug("%s: ignoring %s", svc->dom->name, bh_msg_type_name(h->type));
		return;
	}
	svc->drops += e.count;
	inet_ntop(e.src.family == 6 ? AF_INET6 : AF_INET, e.src.addr, src, sizeof(src));
	inet_ntop(e.dst.family == 6 ? AF_INET6 : AF_INET, e.dst.addr, dst, sizeof(dst));
	bh_sup_audit(s, "drop", e.guest[0] ? e.guest : "-", "dropped",
		     "%s -> %s proto %u port %u: %u packets", src, dst, e.l4proto, e.dport, e.count);
}

int bh_ctl_wait(struct bh_sup *s, struct bh_svc *svc, uint16_t want, void *reply, size_t cap)
{
	static uint8_t untrusted_body[64 << 10];
	struct bh_msg_hdr h;

	for (;;) {
		int r = read_msg(svc, &h, untrusted_body, sizeof(untrusted_body));

		if (r < 0)
			return r;
		if (h.type != want) {
			unasked(s, svc, &h, untrusted_body);
			continue;
		}
		if (h.length > cap)
			return -EMSGSIZE;
		memcpy(reply, untrusted_body, h.length);
		return (int)h.length;
	}
}

int bh_ctl_call(struct bh_sup *s, struct bh_svc *svc, uint16_t type, const void *body,
		size_t len, uint16_t want, void *reply, size_t cap)
{
	static uint8_t frame[BH_MSG_HDR_SIZE + 2 * BH_VOLUME_PATH_MAX + 512];
	long n = bh_msg_frame(type, 0, next_request++, BH_MSG_VERSION_MAX, body, len, frame,
			      sizeof(frame));
	int r = n < 0 ? (int)n : bh_ctl_send_raw(svc, frame, (size_t)n);

	return r < 0 ? r : bh_ctl_wait(s, svc, want, reply, cap);
}

int bh_ctl_drain(struct bh_sup *s, struct bh_svc *svc)
{
	static uint8_t untrusted_body[64 << 10];

	bh_chan_wait(svc->chan); /* the fd polled readable: consume the event, never blocks */
	svc->deadline_ms = bh_now_ms() + 1000;
	while (bh_chan_data_ready(svc->chan) > 0) {
		struct bh_msg_hdr h;
		int r = read_msg(svc, &h, untrusted_body, sizeof(untrusted_body));

		if (r < 0)
			return r;
		unasked(s, svc, &h, untrusted_body);
	}
	if (bh_chan_is_open(svc->chan) == 0) {
		svc->chan_dead = true;
		return -ECONNRESET;
	}
	return 0;
}
