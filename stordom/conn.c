/* SPDX-License-Identifier: MIT */
/*
 * NBD connections and the worker pool. A reader thread per connection runs
 * the handshake, then reads request headers (nbd.c checks them) into a free
 * slot. Small WRITEs' data it encrypts and stores as it arrives; larger
 * WRITEs it cuts into pieces that the pool encrypts and stores while the
 * reader reads on, the reply leaving once every piece is stored; small READs it executes itself; their replies it corks. Larger
 * READs, FLUSH, TRIM, WRITE_ZEROES and FUA's fdatasync go to the shared pool
 * of workers, each with its own cipher context, which execute slots (io.c)
 * and send the reply. Replies may leave in any order, as NBD allows; WRITEs
 * in flight together may land in any order, but a sector is always one
 * WRITE's (pieces are whole sectors, each stored by one pwrite). Slot buffers
 * grow to the largest request seen and are reused, and a slot carries its
 * pieces' descriptors: no allocation per request once warm. At most
 * SD_SLOTS * SD_NBD_MAX_PAYLOAD bytes of buffer per connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "stordom.h"

/* ------------------------------------------------------------------------
 * Socket helpers.
 */
static int send_iov(int fd, struct iovec *iov, int n)
{
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };

	while (msg.msg_iovlen) {
		ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EPIPE;
		while (msg.msg_iovlen && (size_t)w >= msg.msg_iov->iov_len) {
			w -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + w;
			msg.msg_iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int send_all(int fd, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return len ? send_iov(fd, &iov, 1) : 0;
}

/* ------------------------------------------------------------------------
 * Export lookup for the handshake: a socket serves exactly its one volume,
 * under its name or as the default export "".
 */
static int exp_lookup(void *ctx, const char *name, struct sd_nbd_export *ret, void **ret_handle)
{
	struct sd_export *e = ctx;

	if (name[0] && !bh_streq(name, e->name))
		return -ENOENT;
	pthread_mutex_lock(&e->lock);
	*ret = (struct sd_nbd_export){
		.size = e->v->size,
		.block_min = e->v->sector_size,
		.readonly = e->v->readonly,
		.discard = e->discard,
	};
	pthread_mutex_unlock(&e->lock);
	*ret_handle = e;
	return 0;
}

static const char *exp_list(void *ctx, size_t i)
{
	struct sd_export *e = ctx;

	return i == 0 ? e->name : NULL;
}

static const struct sd_nbd_exports_ops exp_ops = { exp_lookup, exp_list };

/* ------------------------------------------------------------------------
 * Workers.
 */
/*
 * A wake-up costs a context switch, dear on these CPUs (a PVM guest): a WRITE
 * piece wakes a worker only when none is awake, or when pieces pile up beyond
 * what one worker keeps up with. An awake worker drains the queue before it
 * sleeps, so on two CPUs one connection's reader copies from the socket while
 * one worker encrypts and stores. (Readers must not run pieces themselves:
 * that leaves the socket undrained and the client blocked in its send, which
 * halved a 1 MiB write stream here.) Other work (a FLUSH, a large READ)
 * always wakes a worker: it may block.
 */
#define SD_PIECES_BACKLOG 8u

static void queue_push(struct sd_server *srv, struct sd_job *j)
{
	unsigned queued = 0;

	pthread_mutex_lock(&srv->qlock);
	j->next = NULL;
	if (srv->qtail)
		srv->qtail->next = j;
	else
		srv->qhead = j;
	srv->qtail = j;
	if (j->piece)
		queued = atomic_fetch_add_explicit(&srv->n_pieces, 1, memory_order_relaxed);
	if (!j->piece || !srv->n_awake || queued >= SD_PIECES_BACKLOG)
		pthread_cond_signal(&srv->qcond);
	pthread_mutex_unlock(&srv->qlock);
}

static struct sd_job *queue_pop(struct sd_server *srv)
{
	struct sd_job *j;

	pthread_mutex_lock(&srv->qlock);
	while (!srv->qhead && !srv->stopping) {
		srv->n_awake--;
		pthread_cond_wait(&srv->qcond, &srv->qlock);
		srv->n_awake++;
	}
	j = srv->qhead;
	if (j) {
		srv->qhead = j->next;
		if (!srv->qhead)
			srv->qtail = NULL;
		if (j->piece)
			atomic_fetch_sub_explicit(&srv->n_pieces, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&srv->qlock);
	return j;
}

static void slot_release(struct sd_slot *s)
{
	struct sd_conn *c = s->conn;

	pthread_mutex_lock(&c->lock);
	s->next = c->free;
	c->free = s;
	c->inflight--;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void reply(struct sd_conn *c, struct sd_slot *s, int err)
{
	uint8_t hdr[SD_NBD_REPLY_HDR_MAX];
	bool data = !err && s->req.type == SD_NBD_CMD_READ;
	struct iovec iov[2] = {
		{ hdr, sd_nbd_reply_header(&c->s, &s->req, err, data ? s->req.len : 0, hdr) },
		{ s->buf, data ? s->req.len : 0 },
	};
	int r;

	pthread_mutex_lock(&c->send_lock);
	r = send_iov(c->fd, iov, data ? 2 : 1);
	pthread_mutex_unlock(&c->send_lock);
	if (r < 0) /* the client is gone: make its reader stop too */
		shutdown(c->fd, SHUT_RDWR);
}

static void cork_flush(struct sd_conn *c)
{
	int n = 0, r;

	if (!c->n_corked)
		return;
	for (unsigned i = 0; i < c->n_corked; i++) {
		struct sd_slot *s = c->corked[i];
		int err = s->req.error; /* the execution result, see cork_add */
		bool data = !err && s->req.type == SD_NBD_CMD_READ;

		c->cork_iov[n++] = (struct iovec){ c->cork_hdr[i], sd_nbd_reply_header(
			&c->s, &s->req, err, data ? s->req.len : 0, c->cork_hdr[i]) };
		if (data)
			c->cork_iov[n++] = (struct iovec){ s->buf, s->req.len };
	}
	pthread_mutex_lock(&c->send_lock);
	r = send_iov(c->fd, c->cork_iov, n);
	pthread_mutex_unlock(&c->send_lock);
	if (r < 0)
		shutdown(c->fd, SHUT_RDWR);
	for (unsigned i = 0; i < c->n_corked; i++)
		slot_release(c->corked[i]);
	c->n_corked = 0;
}

/* A request the reader ran, with its result @err: the reply leaves with the next flush. */
static void cork_add(struct sd_conn *c, struct sd_slot *s, int err)
{
	s->req.error = err;
	c->corked[c->n_corked++] = s;
	/* Nothing more buffered, or no slot left to read the next one into: send now. */
	if (c->rpos == c->rlen || c->n_corked == SD_SLOTS)
		cork_flush(c);
}

/*
 * Small READs run in the reader, and WRITEs (already stored by read_write)
 * unless FUA's fdatasync is left: the reader need not wait for the disk.
 */
static bool run_inline(const struct sd_nbd_req *r)
{
	if (r->error)
		return true;
	if (r->type == SD_NBD_CMD_WRITE)
		return !(r->flags & SD_NBD_CMD_FLAG_FUA);
	return r->type == SD_NBD_CMD_READ && r->len <= SD_INLINE_MAX;
}

/*
 * Execute a slot's request. A WRITE was encrypted and stored as it arrived
 * (read_write): what is left is FUA's fdatasync.
 */
static int slot_exec(struct sd_slot *s, struct sd_xts *x, uint64_t *keyed)
{
	struct sd_export *e = s->conn->exp;

	if (s->req.type == SD_NBD_CMD_WRITE)
		return sd_io_write_finish(e->v, &s->req);
	return sd_io_execute(e->v, e->discard, x, keyed, &s->req, s->buf);
}

static void slot_run(struct sd_slot *s, struct sd_xts *x, uint64_t *keyed)
{
	int err = slot_exec(s, x, keyed);

	reply(s->conn, s, err);
	slot_release(s);
}

/*
 * A WRITE whose pieces are all stored (read_write_split), on the thread that
 * dropped the last reference: answer it (after FUA's fdatasync, which a
 * worker may wait for but the reader hands back to the pool), or only free
 * the slot if the reader gave up on the connection.
 */
static void split_done(struct sd_slot *s, struct sd_xts *x, uint64_t *keyed, bool worker)
{
	struct sd_conn *c = s->conn;

	s->req.error = atomic_load(&s->piece_err);
	if (atomic_load(&s->abandoned))
		slot_release(s);
	else if (worker)
		slot_run(s, x, keyed);
	else if (run_inline(&s->req))
		cork_add(c, s, slot_exec(s, x, keyed));
	else {
		cork_flush(c);
		queue_push(c->exp->srv, &s->job);
	}
}

/* Drop one reference to a split WRITE: true if it was the last. */
static bool split_put(struct sd_slot *s)
{
	return atomic_fetch_sub(&s->pending, 1) == 1;
}

/* A piece of a split WRITE, on a worker: encrypt and store it, keep the first error. */
static void piece_run(struct sd_job *j, struct sd_xts *x, uint64_t *keyed)
{
	struct sd_slot *s = j->slot;
	struct sd_volume *v = s->conn->exp->v;
	int err = sd_io_seal(v, x, keyed, &s->req, s->buf, j->from, j->to), none = 0;

	if (!err)
		err = sd_io_store(v, &s->req, s->buf, j->from, j->to);
	if (err)
		atomic_compare_exchange_strong(&s->piece_err, &none, err);
	if (split_put(s))
		split_done(s, x, keyed, true);
}

void *sd_worker_main(void *arg)
{
	struct sd_server *srv = arg;
	struct sd_xts *x = NULL;
	uint64_t keyed = 0;
	struct sd_job *j;

	if (sd_xts_new(&x) < 0) {
		bh_err("worker: no cipher context");
		pthread_mutex_lock(&srv->qlock);
		srv->n_awake--; /* never to take work: do not count on it */
		pthread_mutex_unlock(&srv->qlock);
		return NULL;
	}
	while ((j = queue_pop(srv)) != NULL) {
		if (j->piece)
			piece_run(j, x, &keyed);
		else
			slot_run(j->slot, x, &keyed);
	}
	sd_xts_free(x);
	return NULL;
}

/* ------------------------------------------------------------------------
 * Connections.
 */
static void conn_free(struct sd_conn *c)
{
	for (int i = 0; i < SD_SLOTS; i++)
		free(c->slots[i].buf);
	sd_xts_free(c->xts);
	free(c->rbuf);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->send_lock);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/*
 * A 1 MiB READ reply blocks in sendmsg each time the socket's default
 * ~208 KiB send buffer fills, and every block costs a context switch (most of
 * the kernel time of a sequential read here). Ask for room for a few whole
 * replies; the kernel caps it at net.core.wmem_max, which is fine.
 */
#define SD_SNDBUF (4 << 20)

static void conn_tune(int fd)
{
	int v = SD_SNDBUF;

	/* Best effort: a socketpair end or a pipe-backed fd may refuse. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static struct sd_conn *conn_new(struct sd_export *e, int fd)
{
	struct sd_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	conn_tune(fd);
	c->exp = e;
	c->fd = fd;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	pthread_mutex_init(&c->send_lock, NULL);
	for (int i = 0; i < SD_SLOTS; i++) {
		struct sd_slot *s = &c->slots[i];

		s->conn = c;
		s->job.slot = s;
		for (unsigned k = 0; k < SD_PIECES_MAX; k++)
			s->pieces[k] = (struct sd_job){ .slot = s, .piece = true };
		s->next = c->free;
		c->free = s;
	}
	sd_nbd_session_init(&c->s, &exp_ops, e);
	c->rbuf = malloc(SD_RBUF);
	if (!c->rbuf || sd_xts_new(&c->xts) < 0) {
		c->fd = -1;
		conn_free(c);
		return NULL;
	}
	return c;
}


/* Handshake: 0 when transmission starts, -errno to hang up. */
static int handshake(struct sd_conn *c)
{
	uint8_t greet[SD_NBD_GREETING_SIZE], in[SD_NBD_OPTION_MAX + 16];
	struct sd_nbd_out out = { 0 };
	size_t have = 0;
	int r;

	sd_nbd_greeting(greet);
	r = send_all(c->fd, greet, sizeof(greet));
	while (r == 0 && c->s.phase != SD_NBD_PHASE_TRANSMISSION) {
		ssize_t n = sd_nbd_handshake(&c->s, in, have, &out);

		if (n == 0) {
			n = read(c->fd, in + have, sizeof(in) - have);
			r = n > 0 ? 0 : n == 0 ? -EPIPE : -errno;
			have += n > 0 ? (size_t)n : 0;
			continue;
		}
		if (out.len)
			r = send_all(c->fd, out.buf, out.len);
		out.len = 0;
		if (n < 0)
			r = r < 0 ? r : (int)n;
		else
			memmove(in, in + n, have -= (size_t)n);
	}
	sd_nbd_out_free(&out);
	/* A client may pipeline its first requests after GO: keep those bytes. */
	if (r == 0 && have) {
		memcpy(c->rbuf, in, have);
		c->rlen = have;
	}
	return r;
}

static struct sd_slot *slot_get(struct sd_conn *c)
{
	struct sd_slot *s;

	pthread_mutex_lock(&c->lock);
	if (!c->free && c->n_corked) {
		pthread_mutex_unlock(&c->lock);
		cork_flush(c);
		pthread_mutex_lock(&c->lock);
	}
	while (!c->free)
		pthread_cond_wait(&c->cond, &c->lock);
	s = c->free;
	c->free = s->next;
	c->inflight++;
	pthread_mutex_unlock(&c->lock);
	return s;
}

static int slot_reserve(struct sd_slot *s, size_t need)
{
	uint8_t *p;

	if (need <= s->cap)
		return 0;
	p = realloc(s->buf, need);
	if (!p)
		return -ENOMEM;
	s->buf = p;
	s->cap = need;
	return 0;
}

/*
 * Waiting for bytes from the client. Sleeping in read(2) is dear here (a
 * third of stordomd's time on random 4 KiB reads went to the context switch,
 * and the client pays for the wake-up in its send), so while requests come
 * quickly, the reader first polls the socket (recv with MSG_DONTWAIT) for up
 * to SD_POLL_NS. Polling only pays while the client is running on the other
 * CPU: each poll that comes back empty doubles the number of waits that skip
 * polling (up to SD_POLL_SKIP_MAX), so on a loaded machine it costs little,
 * and a connection whose last sleep was longer than SD_IDLE_NS does not poll
 * at all: an idle connection costs no CPU.
 */
#define SD_POLL_NS 20000u
#define SD_IDLE_NS 200000u
#define SD_POLL_SKIP_MAX 64u

/* Poll for up to SD_POLL_NS: bytes read, 0 at EOF, -errno; -EAGAIN: nothing came. */
static ssize_t sock_poll(struct sd_conn *c, void *dst, size_t len)
{
	uint64_t t0 = bh_now_ns();

	for (;;) {
		ssize_t got = recv(c->fd, dst, len, MSG_DONTWAIT);

		if (got >= 0)
			return got;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (bh_now_ns() - t0 >= SD_POLL_NS)
			return -EAGAIN;
	}
}

/* Bytes read (> 0), 0 at EOF, -errno. */
static ssize_t sock_read(struct sd_conn *c, void *dst, size_t len)
{
	uint64_t t0;
	ssize_t got;


	if (c->busy && c->poll_skip) {
		c->poll_skip--;
	} else if (c->busy) {
		got = sock_poll(c, dst, len);
		if (got != -EAGAIN) {
			c->poll_backoff = 0;
			return got;
		}
		c->poll_backoff = c->poll_backoff ? 2 * c->poll_backoff : 1;
		if (c->poll_backoff > SD_POLL_SKIP_MAX)
			c->poll_backoff = SD_POLL_SKIP_MAX;
		c->poll_skip = c->poll_backoff;
	}
	t0 = bh_now_ns();
	do
		got = read(c->fd, dst, len);
	while (got < 0 && errno == EINTR);
	c->busy = bh_now_ns() - t0 < SD_IDLE_NS;
	return got < 0 ? -errno : got;
}

/*
 * Read at most @len (> 0) bytes through the connection's read-ahead buffer:
 * small requests cost one read(2) for several headers and payloads. Large
 * payloads go straight into @dst. Bytes read, 0 at EOF, -errno.
 */
static ssize_t conn_read_some(struct sd_conn *c, uint8_t *dst, size_t len)
{
	size_t n = c->rlen - c->rpos;
	ssize_t got;

	if (!n) {
		/* Never sleep on the socket with replies corked (a split WRITE may add one). */
		cork_flush(c);
		got = sock_read(c, len >= SD_RBUF ? dst : c->rbuf, len >= SD_RBUF ? len : SD_RBUF);
		if (got <= 0 || len >= SD_RBUF)
			return got;
		c->rpos = 0;
		c->rlen = n = (size_t)got;
	}
	n = n < len ? n : len;
	memcpy(dst, c->rbuf + c->rpos, n);
	c->rpos += n;
	return (ssize_t)n;
}

/* Read exactly @len bytes: 1, 0 at a clean EOF before the first byte, -errno. */
static int conn_read(struct sd_conn *c, void *dst, size_t len)
{
	uint8_t *p = dst;

	while (len) {
		ssize_t n = conn_read_some(c, p, len);

		if (n <= 0)
			return n < 0 ? (int)n : (p == dst ? 0 : -EPIPE);
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

/*
 * Read a WRITE's payload, encrypting each run of whole sectors as soon as it
 * is in and storing every SD_STORE_CHUNK of them: the cipher and the copy
 * into the page cache work on bytes still in the CPU cache from the copy out
 * of the socket, and meanwhile the client refills the socket, instead of the
 * reader sleeping until it does. A refused request's payload is read and
 * dropped. 0 (the NBD result so far in s->req.error), or -errno: hang up.
 */
static int read_write(struct sd_conn *c, struct sd_slot *s)
{
	struct sd_volume *v = c->exp->v;
	uint32_t len = s->req.payload, got = 0, sealed = 0, stored = 0;
	int err = 0;

	while (got < len) {
		ssize_t n = conn_read_some(c, s->buf + got, len - got);
		uint32_t upto;

		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		got += (uint32_t)n;
		upto = got == len ? len : got / v->sector_size * v->sector_size;
		if (!err && upto > sealed) {
			err = sd_io_seal(v, c->xts, &c->keyed, &s->req, s->buf, sealed, upto);
			sealed = upto;
		}
		if (!err && (sealed - stored >= SD_STORE_CHUNK || sealed == len)) {
			err = sd_io_store(v, &s->req, s->buf, stored, sealed);
			stored = sealed;
		}
	}
	s->req.error = err;
	return 0;
}

/*
 * Read a large WRITE's payload and hand each SD_STORE_CHUNK of it to the pool
 * as soon as it is in: the workers encrypt and store the pieces (each with its
 * own cipher context) while the reader reads on, so one connection's cipher
 * work runs on every CPU. The slot is finished by whoever drops its last
 * reference (split_done): its reply waits for every piece (and FUA's
 * fdatasync after them). Returns 1, or -errno: hang up (the slot is freed
 * once the pieces already queued are done, without a reply).
 */
static int read_write_split(struct sd_conn *c, struct sd_slot *s)
{
	uint32_t len = s->req.payload, got = 0, queued = 0;
	unsigned n = 0;
	int r = 1;

	atomic_store(&s->piece_err, 0);
	atomic_store(&s->abandoned, false);
	atomic_store(&s->pending, 1); /* the reader's */
	while (got < len) {
		ssize_t m = conn_read_some(c, s->buf + got, len - got);

		if (m <= 0) {
			r = m < 0 ? (int)m : -EPIPE;
			atomic_store(&s->abandoned, true);
			break;
		}
		got += (uint32_t)m;
		while (got - queued >= SD_STORE_CHUNK || (got == len && queued < len)) {
			struct sd_job *j = &s->pieces[n++];

			j->from = queued;
			j->to = len - queued < SD_STORE_CHUNK ? len : queued + SD_STORE_CHUNK;
			queued = j->to;
			atomic_fetch_add(&s->pending, 1);
			queue_push(c->exp->srv, j);
		}
	}
	/* After this the slot may be a worker's: touch it only if it is ours again. */
	if (split_put(s))
		split_done(s, c->xts, &c->keyed, false);
	return r;
}

/* A WRITE worth spreading over the pool: more than one piece. */
static bool split_write(const struct sd_nbd_req *r)
{
	return !r->error && r->type == SD_NBD_CMD_WRITE && r->payload > SD_STORE_CHUNK;
}

/* One request: 1 to go on, 0 at a clean end (EOF or DISC), -errno to hang up. */
static int read_request(struct sd_conn *c)
{
	uint8_t hdr[SD_NBD_REQ_SIZE];
	struct sd_nbd_req req;
	struct sd_slot *s;
	size_t need;
	int r = conn_read(c, hdr, sizeof(hdr));

	if (r <= 0)
		return r;
	r = sd_nbd_parse_request(&c->s, hdr, &req);
	if (r < 0)
		return r;
	if (req.type == SD_NBD_CMD_DISC && !req.error)
		return 0;
	s = slot_get(c);
	s->req = req;
	need = sd_io_bufsize(&req);
	r = slot_reserve(s, need > req.payload ? need : req.payload);
	if (r == 0 && split_write(&req))
		return read_write_split(c, s);
	if (r == 0 && req.payload) /* a WRITE's, even a refused one */
		r = read_write(c, s);
	if (r < 0) {
		slot_release(s);
		return r;
	}
	if (run_inline(&s->req)) {
		cork_add(c, s, slot_exec(s, c->xts, &c->keyed));
	} else {
		cork_flush(c);
		queue_push(c->exp->srv, &s->job);
	}
	return 1;
}

static void conn_drain(struct sd_conn *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->inflight)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

static void conn_unlink(struct sd_conn *c)
{
	struct sd_export *e = c->exp;

	pthread_mutex_lock(&e->lock);
	for (struct sd_conn **p = &e->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	e->n_conns--;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void *conn_main(void *arg)
{
	struct sd_conn *c = arg;
	int r = handshake(c);

	if (r == 0)
		while ((r = read_request(c)) > 0)
			;
	if (r < 0 && r != -EPIPE && r != -ECONNABORTED && r != -ECONNRESET)
		bh_info("%s: connection ended: %s", c->exp->name, strerror(-r));
	/* Answer what is in flight (FLUSH included) before the socket goes away. */
	cork_flush(c);
	conn_drain(c);
	shutdown(c->fd, SHUT_RDWR);
	conn_unlink(c);
	conn_free(c);
	return NULL;
}

int sd_conn_start(struct sd_export *e, int fd)
{
	struct sd_conn *c;
	pthread_attr_t attr;
	pthread_t t;
	int r = 0;

	pthread_mutex_lock(&e->lock);
	if (e->closing || e->n_conns >= SD_CONNS_MAX)
		r = e->closing ? -ESHUTDOWN : -EMFILE;
	else if (!(c = conn_new(e, fd)))
		r = -ENOMEM;
	if (r == 0) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = -pthread_create(&t, &attr, conn_main, c);
		pthread_attr_destroy(&attr);
		if (r == 0) {
			c->next = e->conns;
			e->conns = c;
			e->n_conns++;
		} else {
			c->fd = -1;
			conn_free(c);
		}
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}
