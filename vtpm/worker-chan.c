/* SPDX-License-Identifier: MIT */
/*
 * tpm.chan: a guest's TPM over one bulkhead channel. The channel carries a
 * mux (bulkhead/mux.h; the client is the initiator); each stream the client
 * opens is named by its first byte (VT_CHAN_STREAM_DATA or _CTRL in vtpm.h)
 * and then carries exactly what tpm.sock or tpm.sock.ctrl would. One stream
 * of each kind at a time; another one, or an unknown name, is closed.
 *
 * Wake-ups (measured: a non-blocking read that finds the ring empty arms the
 * channel's wake-up, and then the guest pays an eventfd write, ~10 us here,
 * for its next command): while the guest is busy, the worker spins on
 * bh_chan_data_ready(), which never arms, and pulls the bytes into the mux
 * itself (vt_mux_pull). Only after its spin budget (spin.c) without input
 * does it arm (bh_mux_poll reads until -EAGAIN) and sleep in poll(); an idle
 * guest costs no CPU.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/chan.h"
#include "bulkhead/log.h"
#include "bulkhead/mux.h"
#include "vtpm.h"

/* Serve a busy channel at most this long before the other fds get a look. */
#define CHAN_SLICE_NS 1000000u
#define STREAMS 4
#define RING_SIZE (64u << 10)

struct wstream {
	uint32_t id; /* 0: free slot */
	uint8_t kind; /* 0 until the naming byte arrives */
};

struct vt_wchan {
	struct bh_chan *chan;
	struct bh_mux *mux;
	struct wstream s[STREAMS];
	struct vt_framer fr;	   /* of the data stream */
	struct vt_ctrl_parser cp; /* of the control stream */
	struct vt_spin spin;
	uint8_t in[VT_TPM_CMD_MAX];
};

struct stream_ref {
	struct vt_wchan *c;
	uint32_t id;
};

int vt_mux_pull(struct bh_mux *mux, struct bh_chan *chan, uint8_t *buf, size_t cap)
{
	size_t ready = bh_chan_data_ready(chan);
	ssize_t n;

	if (!ready)
		return 0;
	/* Data is there, so this read does not arm the wake-up. */
	n = bh_chan_read(chan, buf, ready < cap ? ready : cap);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return 0;
	n = bh_mux_input(mux, buf, (size_t)n);
	return n < 0 ? (int)n : 1;
}

/* Write all of a response on a stream; waits (this guest only) while the ring is full. */
static int stream_send(void *sctx, const void *buf, size_t len)
{
	struct stream_ref *ref = sctx;
	return bh_mux_write_all(ref->c->mux, ref->id, buf, len);
}

static void stream_close(struct vt_wchan *c, struct wstream *s)
{
	bh_mux_close(c->mux, s->id);
	s->id = 0;
	s->kind = 0;
}

static bool kind_taken(const struct vt_wchan *c, uint8_t kind)
{
	for (int i = 0; i < STREAMS; i++)
		if (c->s[i].id && c->s[i].kind == kind)
			return true;
	return false;
}

/* The first byte of a stream names it. */
static int name_stream(struct vt_worker *w, struct vt_wchan *c, struct wstream *s)
{
	uint8_t untrusted_kind = c->in[0];

	if ((untrusted_kind != VT_CHAN_STREAM_DATA && untrusted_kind != VT_CHAN_STREAM_CTRL) ||
	    kind_taken(c, untrusted_kind))
		return -EPROTO;
	s->kind = untrusted_kind;
	if (s->kind == VT_CHAN_STREAM_DATA)
		vt_framer_init(&c->fr, w->bufsize);
	else
		vt_ctrl_parser_init(&c->cp);
	return 0;
}

/* Everything a stream has buffered; -errno when it must close. */
static int stream_input(struct vt_worker *w, struct vt_wchan *c, struct wstream *s)
{
	struct stream_ref ref = { c, s->id };

	for (;;) {
		ssize_t n = bh_mux_read(c->mux, s->id, c->in, s->kind ? sizeof(c->in) : 1);
		int r;

		if (n == -EAGAIN)
			return 0;
		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE; /* the guest finished the stream */
		if (!s->kind)
			r = name_stream(w, c, s);
		else if (s->kind == VT_CHAN_STREAM_DATA)
			r = vt_worker_data(w, &c->fr, c->in, (size_t)n, stream_send, &ref);
		else
			r = vt_worker_ctrl(w, &c->cp, c->in, (size_t)n, stream_send, &ref);
		if (r < 0 || w->shutdown)
			return r;
	}
}

/* New streams into free slots, then every stream's input. */
static void serve_streams(struct vt_worker *w, struct vt_wchan *c)
{
	uint32_t id;

	while (bh_mux_accept(c->mux, &id) == 0) {
		struct wstream *s = NULL;

		for (int i = 0; i < STREAMS && !s; i++)
			if (!c->s[i].id)
				s = &c->s[i];
		if (!s) {
			bh_mux_close(c->mux, id);
			continue;
		}
		s->id = id;
		s->kind = 0;
	}
	/* Named streams first: a FIN there frees its kind for a new stream named below. */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < STREAMS && !w->shutdown; i++)
			if (c->s[i].id && (c->s[i].kind == 0) == (pass == 1) &&
			    stream_input(w, c, &c->s[i]) < 0)
				stream_close(c, &c->s[i]);
}

void vt_wchan_close(struct vt_worker *w)
{
	struct vt_wchan *c = w->wc;

	if (!c)
		return;
	bh_mux_free(c->mux);
	bh_chan_close(c->chan);
	free(c);
	w->wc = NULL;
	w->chan_busy = false;
}

void vt_wchan_accept(struct vt_worker *w, int sock)
{
	struct vt_wchan *c;
	int r;

	if (sock < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(sock);
		return;
	}
	r = bh_chan_memfd_server(sock, RING_SIZE, RING_SIZE, &c->chan);
	if (r < 0) {
		close(sock);
		free(c);
		bh_warn("channel set-up failed: %s", strerror(-r));
		return;
	}
	r = bh_mux_new(c->chan, false, &c->mux);
	if (r < 0) {
		bh_chan_close(c->chan);
		free(c);
		return;
	}
	vt_spin_init(&c->spin, VT_SPIN_WORKER_NS);
	w->wc = c;
	w->chan_busy = false;
}

int vt_wchan_fd(const struct vt_worker *w)
{
	return bh_chan_fd(w->wc->chan);
}

/* Arm the wake-up before sleeping; whatever raced in is served. False: close. */
static bool arm(struct vt_worker *w, struct vt_wchan *c)
{
	int r = bh_mux_poll(c->mux);

	if (r < 0)
		return false;
	w->chan_busy = bh_chan_data_ready(c->chan) > 0;
	serve_streams(w, c);
	/* A guest that closed or died shows as a hang-up: vt_wchan_event() sees it. */
	return true;
}

static int pull_ready(void *ctx)
{
	struct vt_wchan *c = ctx;

	return vt_mux_pull(c->mux, c->chan, c->in, sizeof(c->in));
}

void vt_wchan_run(struct vt_worker *w)
{
	struct vt_wchan *c = w->wc;
	uint64_t start = bh_now_ns();
	int r = 0;

	while (!w->shutdown && (r = vt_spin(&c->spin, pull_ready, c)) > 0) {
		serve_streams(w, c);
		w->chan_busy = true;
		if (bh_now_ns() - start > CHAN_SLICE_NS)
			return; /* still busy: poll() will not sleep */
	}
	if (r < 0 || w->shutdown || !arm(w, c))
		vt_wchan_close(w);
}

void vt_wchan_event(struct vt_worker *w)
{
	struct vt_wchan *c = w->wc;

	/* Readable fd: this consumes the wake-up without sleeping. */
	if (bh_chan_wait(c->chan) < 0)
		return vt_wchan_close(w);
	/*
	 * No input: the guest closed the channel or died (everything it sent is
	 * served), or a stale wake-up (input already served while spinning).
	 */
	if (!bh_chan_data_ready(c->chan) && (!bh_chan_is_open(c->chan) || !arm(w, c)))
		return vt_wchan_close(w);
	if (bh_chan_data_ready(c->chan))
		vt_spin_woken(&c->spin);
	if (w->chan_busy || bh_chan_data_ready(c->chan))
		vt_wchan_run(w);
}
