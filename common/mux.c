/* SPDX-License-Identifier: MIT */
/*
 * Stream multiplexer over a channel. Wire format and rules: bulkhead/mux.h.
 *
 * Invariant per stream, which makes every peer-driven copy bounded:
 *   rx_allowed + rx_len + credit_pending == BH_MUX_WINDOW
 * (bytes the peer may still send + bytes buffered + bytes read but not yet
 * returned as credit). A DATA frame longer than rx_allowed is -EPROTO, so the
 * receive buffer of BH_MUX_WINDOW bytes can never overflow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bulkhead/chan.h>
#include <bulkhead/mux.h>

#define OBUF_SIZE (2 * (BH_MUX_FRAME_MAX + BH_MUX_HDR_SIZE))
#define IBUF_SIZE (16u << 10)
#define POLL_READS_MAX 256

struct mux_stream {
	uint32_t id;
	bool accepted;	  /* the application knows it */
	bool app_closed;  /* bh_mux_close() called */
	bool fin_pending; /* FIN still to queue */
	bool fin_sent;
	bool peer_fin;
	uint32_t tx_credit;	 /* bytes we may still send */
	uint32_t rx_allowed;	 /* bytes the peer may still send */
	uint32_t credit_pending; /* read by the application, not yet returned */
	uint32_t rx_head, rx_len;
	uint8_t rx[BH_MUX_WINDOW];
};

struct bh_mux {
	struct bh_chan *chan;
	bool initiator;
	int error;
	bool chan_eof;
	uint32_t next_id;      /* our next stream id */
	uint32_t last_peer_id; /* highest id the peer opened */
	struct mux_stream *streams[BH_MUX_STREAMS_MAX];
	unsigned nstreams;
	/* decoder */
	uint8_t hdr[BH_MUX_HDR_SIZE];
	size_t hdr_have;
	uint32_t data_left;
	struct mux_stream *data_stream;
	/* output queue, flushed into the channel */
	uint8_t obuf[OBUF_SIZE];
	size_t olen;
	uint8_t ibuf[IBUF_SIZE];
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void bh_mux_hdr_encode(const struct bh_mux_hdr *h, uint8_t out[BH_MUX_HDR_SIZE])
{
	put_be32(out, h->stream);
	out[4] = h->type;
	out[5] = out[6] = out[7] = 0;
	put_be32(out + 8, h->length);
}

int bh_mux_hdr_decode(const uint8_t untrusted_in[BH_MUX_HDR_SIZE], struct bh_mux_hdr *ret)
{
	struct bh_mux_hdr h = { get_be32(untrusted_in), untrusted_in[4], get_be32(untrusted_in + 8) };

	if (h.stream == 0 || untrusted_in[5] || untrusted_in[6] || untrusted_in[7])
		return -EPROTO;
	switch (h.type) {
	case BH_MUX_OPEN:
	case BH_MUX_FIN:
		if (h.length != 0)
			return -EPROTO;
		break;
	case BH_MUX_DATA:
		if (h.length == 0 || h.length > BH_MUX_FRAME_MAX)
			return -EPROTO;
		break;
	case BH_MUX_CREDIT:
		if (h.length == 0 || h.length > BH_MUX_WINDOW)
			return -EPROTO;
		break;
	default:
		return -EPROTO;
	}
	*ret = h;
	return 0;
}

static int mux_fail(struct bh_mux *m, int err)
{
	if (!m->error)
		m->error = err;
	return m->error;
}

int bh_mux_new(struct bh_chan *chan, bool initiator, struct bh_mux **ret)
{
	struct bh_mux *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->chan = chan;
	m->initiator = initiator;
	m->next_id = initiator ? 1 : 2;
	bh_chan_set_blocking(chan, false);
	*ret = m;
	return 0;
}

void bh_mux_free(struct bh_mux *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < BH_MUX_STREAMS_MAX; i++)
		free(m->streams[i]);
	free(m);
}

/* ---- streams ------------------------------------------------------------- */

static struct mux_stream *find(struct bh_mux *m, uint32_t id)
{
	for (unsigned i = 0; i < BH_MUX_STREAMS_MAX; i++)
		if (m->streams[i] && m->streams[i]->id == id)
			return m->streams[i];
	return NULL;
}

static struct mux_stream *stream_new(struct bh_mux *m, uint32_t id)
{
	struct mux_stream *s;

	for (unsigned i = 0; i < BH_MUX_STREAMS_MAX; i++) {
		if (m->streams[i])
			continue;
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		s->id = id;
		s->tx_credit = s->rx_allowed = BH_MUX_WINDOW;
		m->streams[i] = s;
		m->nstreams++;
		return s;
	}
	return NULL;
}

/* Forget a stream once the application closed it and both FINs have passed. */
static void maybe_free(struct bh_mux *m, struct mux_stream *s)
{
	if (!s->app_closed || !s->fin_sent || !s->peer_fin)
		return;
	for (unsigned i = 0; i < BH_MUX_STREAMS_MAX; i++) {
		if (m->streams[i] == s) {
			if (m->data_stream == s)
				m->data_stream = NULL;
			m->streams[i] = NULL;
			m->nstreams--;
			free(s);
			return;
		}
	}
}

/* Was @id opened at some point (by either side)? */
static bool id_used(const struct bh_mux *m, uint32_t id)
{
	bool ours = (id & 1) == (m->initiator ? 1u : 0u);

	return ours ? id < m->next_id : id <= m->last_peer_id;
}

/* ---- output -------------------------------------------------------------- */

static int flush_out(struct bh_mux *m)
{
	while (m->olen) {
		ssize_t n = bh_chan_write(m->chan, m->obuf, m->olen);
		if (n == -EAGAIN)
			return 0;
		if (n == -EPIPE) { /* the peer is gone: nobody will read the rest */
			m->olen = 0;
			return 0;
		}
		if (n < 0)
			return mux_fail(m, (int)n);
		memmove(m->obuf, m->obuf + n, m->olen - (size_t)n);
		m->olen -= (size_t)n;
	}
	return 0;
}

static bool queue_frame(struct bh_mux *m, uint32_t id, uint8_t type, uint32_t length,
			const void *payload)
{
	struct bh_mux_hdr h = { id, type, length };
	size_t plen = type == BH_MUX_DATA ? length : 0;

	if (OBUF_SIZE - m->olen < BH_MUX_HDR_SIZE + plen)
		return false;
	bh_mux_hdr_encode(&h, m->obuf + m->olen);
	if (plen)
		memcpy(m->obuf + m->olen + BH_MUX_HDR_SIZE, payload, plen);
	m->olen += BH_MUX_HDR_SIZE + plen;
	return true;
}

/* Queue the credit returns and FINs that are due, as far as the queue allows. */
static void queue_ctl(struct bh_mux *m)
{
	for (unsigned i = 0; i < BH_MUX_STREAMS_MAX; i++) {
		struct mux_stream *s = m->streams[i];
		if (!s)
			continue;
		if (s->credit_pending >= BH_MUX_WINDOW / 4 && !s->peer_fin &&
		    queue_frame(m, s->id, BH_MUX_CREDIT, s->credit_pending, NULL)) {
			s->rx_allowed += s->credit_pending;
			s->credit_pending = 0;
		}
		if (s->fin_pending && queue_frame(m, s->id, BH_MUX_FIN, 0, NULL)) {
			s->fin_pending = false;
			s->fin_sent = true;
			maybe_free(m, s);
		}
	}
}

static int flush(struct bh_mux *m)
{
	int r = flush_out(m);

	if (r < 0)
		return r;
	queue_ctl(m);
	return flush_out(m);
}

/* ---- input --------------------------------------------------------------- */

static int on_open(struct bh_mux *m, uint32_t id)
{
	bool peer_parity = (id & 1) == (m->initiator ? 0u : 1u);

	if (!peer_parity || id <= m->last_peer_id)
		return -EPROTO;
	m->last_peer_id = id;
	/* A peer that opens more than we hold is breaking the protocol, not racing. */
	return stream_new(m, id) ? 0 : -EPROTO;
}

static int on_header(struct bh_mux *m, const struct bh_mux_hdr *h)
{
	struct mux_stream *s;

	if (h->type == BH_MUX_OPEN)
		return on_open(m, h->stream);
	s = find(m, h->stream);
	if (!s) /* late CREDIT for a stream we already forgot is harmless */
		return h->type == BH_MUX_CREDIT && id_used(m, h->stream) ? 0 : -EPROTO;
	switch (h->type) {
	case BH_MUX_DATA:
		if (s->peer_fin || h->length > s->rx_allowed)
			return -EPROTO;
		s->rx_allowed -= h->length;
		m->data_stream = s;
		m->data_left = h->length;
		return 0;
	case BH_MUX_CREDIT:
		if (h->length > BH_MUX_WINDOW - s->tx_credit)
			return -EPROTO;
		s->tx_credit += h->length;
		return 0;
	case BH_MUX_FIN:
		if (s->peer_fin)
			return -EPROTO;
		s->peer_fin = true;
		maybe_free(m, s);
		return 0;
	}
	return -EPROTO;
}

/* Append payload to the stream's buffer (or drop it if the app closed it). */
static void on_data(struct mux_stream *s, const uint8_t *p, uint32_t n)
{
	if (s->app_closed) {
		s->credit_pending += n; /* keep the invariant; never sent after FIN */
		return;
	}
	uint32_t tail = (s->rx_head + s->rx_len) % BH_MUX_WINDOW;
	uint32_t first = n < BH_MUX_WINDOW - tail ? n : BH_MUX_WINDOW - tail;

	memcpy(s->rx + tail, p, first);
	memcpy(s->rx, p + first, n - first);
	s->rx_len += n;
}

int bh_mux_input(struct bh_mux *m, const void *untrusted_buf, size_t len)
{
	const uint8_t *p = untrusted_buf;

	while (len && !m->error) {
		if (m->data_left) {
			uint32_t n = len < m->data_left ? (uint32_t)len : m->data_left;
			if (m->data_stream)
				on_data(m->data_stream, p, n);
			m->data_left -= n;
			p += n;
			len -= n;
			continue;
		}
		size_t n = BH_MUX_HDR_SIZE - m->hdr_have;
		if (n > len)
			n = len;
		memcpy(m->hdr + m->hdr_have, p, n);
		m->hdr_have += n;
		p += n;
		len -= n;
		if (m->hdr_have < BH_MUX_HDR_SIZE)
			break;
		m->hdr_have = 0;
		struct bh_mux_hdr h;
		int r = bh_mux_hdr_decode(m->hdr, &h);
		if (r == 0)
			r = on_header(m, &h);
		if (r < 0)
			return mux_fail(m, r);
	}
	return m->error;
}

/* The channel ended: every stream is finished from the peer's side. */
static void on_chan_eof(struct bh_mux *m)
{
	m->chan_eof = true;
	for (unsigned i = 0; i < BH_MUX_STREAMS_MAX; i++)
		if (m->streams[i])
			m->streams[i]->peer_fin = true;
}

int bh_mux_poll(struct bh_mux *m)
{
	int r = m->error ? m->error : flush(m);

	if (r < 0)
		return r;
	for (int i = 0; i < POLL_READS_MAX && !m->chan_eof; i++) {
		ssize_t n = bh_chan_read(m->chan, m->ibuf, sizeof(m->ibuf));
		if (n == -EAGAIN)
			return flush(m);
		if (n < 0)
			return mux_fail(m, (int)n);
		if (n == 0)
			on_chan_eof(m);
		else if ((r = bh_mux_input(m, m->ibuf, (size_t)n)) < 0)
			return r;
	}
	r = flush(m);
	return r < 0 ? r : !m->chan_eof;
}

/* ---- application side ---------------------------------------------------- */

int bh_mux_open(struct bh_mux *m, uint32_t *ret_id)
{
	struct mux_stream *s;

	if (m->error)
		return m->error;
	if (m->chan_eof)
		return -EPIPE;
	if (m->nstreams >= BH_MUX_STREAMS_MAX || m->next_id > UINT32_MAX - 2)
		return -EMFILE;
	if (!queue_frame(m, m->next_id, BH_MUX_OPEN, 0, NULL))
		return -EAGAIN;
	s = stream_new(m, m->next_id);
	if (!s) {
		m->olen -= BH_MUX_HDR_SIZE;
		return -ENOMEM;
	}
	s->accepted = true;
	m->next_id += 2;
	*ret_id = s->id;
	flush_out(m);
	return m->error;
}

int bh_mux_accept(struct bh_mux *m, uint32_t *ret_id)
{
	if (m->error)
		return m->error;
	for (unsigned i = 0; i < BH_MUX_STREAMS_MAX; i++) {
		struct mux_stream *s = m->streams[i];
		if (s && !s->accepted) {
			s->accepted = true;
			*ret_id = s->id;
			return 0;
		}
	}
	return -EAGAIN;
}

static struct mux_stream *app_stream(struct bh_mux *m, uint32_t id, int *err)
{
	struct mux_stream *s = find(m, id);

	/* After bh_mux_close() the id is gone for the application. */
	*err = m->error ? m->error : !s || !s->accepted || s->app_closed ? -ENOENT : 0;
	return *err ? NULL : s;
}

ssize_t bh_mux_write(struct bh_mux *m, uint32_t id, const void *buf, size_t len)
{
	int err;
	struct mux_stream *s = app_stream(m, id, &err);
	size_t n = len;

	if (!s)
		return err;
	if (m->chan_eof)
		return -EPIPE;
	if (n > s->tx_credit)
		n = s->tx_credit;
	if (n > BH_MUX_FRAME_MAX)
		n = BH_MUX_FRAME_MAX;
	if (n == 0)
		return len ? -EAGAIN : 0;
	if (OBUF_SIZE - m->olen < BH_MUX_HDR_SIZE + n)
		flush_out(m);
	if (OBUF_SIZE - m->olen <= BH_MUX_HDR_SIZE)
		return m->error ? m->error : -EAGAIN;
	if (n > OBUF_SIZE - m->olen - BH_MUX_HDR_SIZE)
		n = OBUF_SIZE - m->olen - BH_MUX_HDR_SIZE;
	queue_frame(m, id, BH_MUX_DATA, (uint32_t)n, buf);
	s->tx_credit -= (uint32_t)n;
	flush_out(m);
	return m->error ? m->error : (ssize_t)n;
}

int bh_mux_write_all(struct bh_mux *m, uint32_t id, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = bh_mux_write(m, id, (const uint8_t *)buf + off, len - off);

		if (n == -EAGAIN) {
			int r = bh_mux_poll(m);

			if (r == 0)
				r = bh_chan_wait(m->chan);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return (int)n;
		off += (size_t)n;
	}
	return 0;
}

ssize_t bh_mux_read(struct bh_mux *m, uint32_t id, void *buf, size_t len)
{
	int err;
	struct mux_stream *s = app_stream(m, id, &err);
	uint32_t n, first;

	if (!s)
		return err;
	if (s->rx_len == 0)
		return s->peer_fin ? 0 : -EAGAIN;
	n = len < s->rx_len ? (uint32_t)len : s->rx_len;
	first = n < BH_MUX_WINDOW - s->rx_head ? n : BH_MUX_WINDOW - s->rx_head;
	memcpy(buf, s->rx + s->rx_head, first);
	memcpy((uint8_t *)buf + first, s->rx, n - first);
	s->rx_head = (s->rx_head + n) % BH_MUX_WINDOW;
	s->rx_len -= n;
	s->credit_pending += n;
	if (s->credit_pending >= BH_MUX_WINDOW / 4)
		flush(m);
	return n;
}

ssize_t bh_mux_pending(struct bh_mux *m, uint32_t id)
{
	int err;
	struct mux_stream *s = app_stream(m, id, &err);

	return s ? (ssize_t)s->rx_len : err;
}

int bh_mux_close(struct bh_mux *m, uint32_t id)
{
	struct mux_stream *s = find(m, id);

	if (!s || !s->accepted || s->app_closed)
		return -ENOENT;
	s->app_closed = true;
	s->credit_pending += s->rx_len;
	s->rx_len = 0;
	s->fin_pending = true;
	if (m->error)
		return m->error;
	return flush(m);
}

unsigned bh_mux_nstreams(const struct bh_mux *m)
{
	return m->nstreams;
}

int bh_mux_error(const struct bh_mux *m)
{
	return m->error;
}
