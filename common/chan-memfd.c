/* SPDX-License-Identifier: MIT */
/*
 * memfd channel backend (host platform): one single-producer/single-consumer
 * byte ring per direction in a sealed memfd, eventfd wake-ups, set up over a
 * unix socket. The shared layout is documented in bulkhead/chan.h.
 *
 * Trust: the peer may write anything, at any time, into the shared control
 * page and rings. We keep private copies of the ring sizes and of our own
 * index, read each peer index once per use, and check it against what is
 * possible (the producer only adds, at most a ring's worth; the consumer only
 * frees what we produced). Anything else fails the channel with -EPROTO. Data
 * bytes are copied out before anyone looks at them. The rings are mapped with
 * PROT_NONE guard pages after each, so an indexing bug faults instead of
 * reading the neighbour.
 *
 * Wake-ups: a side about to sleep sets the ring's *_wait word, re-checks, and
 * sleeps on its eventfd; the other side, after moving an index, clears the
 * word and writes the eventfd (libxenvchan's notify bits). Before sleeping we
 * spin for an adaptive, bounded time: a wake-up through eventfd costs several
 * microseconds, a spin that succeeds well under one.
 *
 * Peer death: the set-up socket stays open; the kernel hangs it up when the
 * peer exits or crashes, and it sits in our epoll set next to the eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "chan-priv.h"

/* Spin budget before blocking, adapted per channel between these bounds. */
#define SPIN_NS_MIN 5000u
#define SPIN_NS_INIT 20000u
#define SPIN_NS_MAX 50000u

#define SEALS_REQUIRED (F_SEAL_SHRINK | F_SEAL_GROW)

struct memfd_ring {
	struct bh_chan_memfd_ring_ctl *ctl; /* shared */
	uint8_t *data;			    /* shared, @size bytes, guard page after */
	uint32_t size;			    /* private copy, power of two */
	uint32_t idx;			    /* our index: prod (tx) or cons (rx) */
	uint32_t seen;			    /* the peer's index as last validated */
};

struct memfd_chan {
	struct bh_chan chan;
	bool server;
	void *map;
	size_t map_len;
	struct bh_chan_memfd_ctl *ctl;
	uint32_t *own_state, *peer_state; /* in ctl */
	struct memfd_ring rx, tx;
	int sock, own_evt, peer_evt, epfd;
	bool peer_dead; /* the set-up socket hung up */
	uint32_t spin_ns;
};

static struct memfd_chan *to_memfd(struct bh_chan *c)
{
	return (struct memfd_chan *)c;
}

/* ---- index validation ---------------------------------------------------- */

/* Bytes readable in the rx ring, or -EPROTO if the peer's prod is impossible. */
static int rx_avail(struct memfd_chan *m, uint32_t *ret)
{
	struct memfd_ring *r = &m->rx;
	/*
	 * Acquire: orders this read of prod before our reads of the bytes it
	 * covers; pairs with the producer's release store of prod.
	 */
	uint32_t untrusted_prod = __atomic_load_n(&r->ctl->prod, __ATOMIC_ACQUIRE);
	uint32_t avail = untrusted_prod - r->idx;

	/* The producer only adds: at least what it had published, at most the ring. */
	if (avail > r->size || avail < r->seen - r->idx)
		return bh_chan_fail(&m->chan, -EPROTO);
	r->seen = untrusted_prod;
	*ret = avail;
	return 0;
}

/* Bytes writable in the tx ring, or -EPROTO if the peer's cons is impossible. */
static int tx_space(struct memfd_chan *m, uint32_t *ret)
{
	struct memfd_ring *r = &m->tx;
	/*
	 * Acquire: orders this read of cons before our writes into the space it
	 * frees; pairs with the consumer's release store of cons.
	 */
	uint32_t untrusted_cons = __atomic_load_n(&r->ctl->cons, __ATOMIC_ACQUIRE);
	uint32_t used = r->idx - untrusted_cons;

	/* The consumer only frees: never before what it freed, never past our prod. */
	if (used > r->idx - r->seen)
		return bh_chan_fail(&m->chan, -EPROTO);
	r->seen = untrusted_cons;
	*ret = r->size - used;
	return 0;
}

static bool peer_gone(struct memfd_chan *m)
{
	/*
	 * Acquire: orders the state read before the caller's re-read of prod,
	 * so data published before the peer's close is seen.
	 */
	return m->peer_dead ||
	       __atomic_load_n(m->peer_state, __ATOMIC_ACQUIRE) == BH_CHAN_MEMFD_CLOSED;
}

/* ---- wake-ups ------------------------------------------------------------ */

static void signal_peer(struct memfd_chan *m)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is saturated, the peer will wake anyway. */
	if (write(m->peer_evt, &one, sizeof(one)) < 0 && errno != EAGAIN)
		bh_chan_fail(&m->chan, -EPROTO);
}

/* After moving our index: wake the peer if it sleeps on @untrusted_wait. */
static void kick(struct memfd_chan *m, uint32_t *untrusted_wait)
{
	/*
	 * Full fence: orders our index store (just done) before the read of the
	 * peer's wait word. Pairs with the fence in arm(): either the peer's
	 * re-check sees our index, or we see its wait word.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(untrusted_wait, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(untrusted_wait, 0, __ATOMIC_RELAXED))
		signal_peer(m);
}

/* Before sleeping: ask the peer to wake us through @wait. */
static void arm(uint32_t *wait)
{
	__atomic_store_n(wait, 1, __ATOMIC_RELAXED);
	/*
	 * Full fence: orders the wait word store before the caller's re-read of
	 * the peer's index; pairs with the fence in kick().
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

/* Sleep until the eventfd fires or the socket hangs up. */
static int block(struct memfd_chan *m)
{
	struct epoll_event ev[2];
	int n = epoll_wait(m->epfd, ev, 2, -1);

	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.fd == m->own_evt)
			drain_eventfd(m->own_evt);
		else if (ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			m->peer_dead = true;
	}
	return 0;
}

/* ---- waiting ------------------------------------------------------------- */

enum want { WANT_DATA, WANT_SPACE };

/* 1 when @need bytes (of data or space) are there or the peer is gone, 0 if not. */
static int ready(struct memfd_chan *m, enum want w, uint32_t need)
{
	uint32_t n = 0;
	int r = w == WANT_DATA ? rx_avail(m, &n) : tx_space(m, &n);

	if (r < 0)
		return r;
	return n >= need || peer_gone(m);
}

static uint32_t *wait_word(struct memfd_chan *m, enum want w)
{
	return w == WANT_DATA ? &m->rx.ctl->cons_wait : &m->tx.ctl->prod_wait;
}

/* Spin up to the adaptive budget; returns ready()'s verdict. */
static int spin(struct memfd_chan *m, enum want w, uint32_t need)
{
	uint64_t deadline = bh_now_ns() + m->spin_ns;

	for (unsigned i = 1;; i++) {
		int r = ready(m, w, need);
		if (r != 0) {
			m->spin_ns = m->spin_ns * 2 > SPIN_NS_MAX ? SPIN_NS_MAX : m->spin_ns * 2;
			return r;
		}
		bh_cpu_relax();
		if (i % 32 == 0 && bh_now_ns() > deadline)
			break;
	}
	m->spin_ns = m->spin_ns / 2 < SPIN_NS_MIN ? SPIN_NS_MIN : m->spin_ns / 2;
	return 0;
}

/* Wait (blocking mode) until ready(); 1, or -EAGAIN in non-blocking mode, or -errno. */
static int wait_for(struct memfd_chan *m, enum want w, uint32_t need)
{
	int r = ready(m, w, need);

	if (r != 0)
		return r;
	if (m->chan.blocking) {
		r = spin(m, w, need);
		if (r != 0)
			return r;
	}
	for (;;) {
		if (w == WANT_DATA) /* we may sleep: never leave a waiting producer asleep */
			kick(m, &m->rx.ctl->prod_wait);
		arm(wait_word(m, w));
		r = ready(m, w, need);
		if (r != 0)
			return r;
		if (!m->chan.blocking)
			return -EAGAIN;
		r = block(m);
		if (r < 0)
			return r;
	}
}

/* ---- data movement ------------------------------------------------------- */

static void copy_out(struct memfd_ring *r, void *buf, uint32_t n)
{
	uint32_t off = r->idx & (r->size - 1);
	uint32_t first = n < r->size - off ? n : r->size - off;

	memcpy(buf, r->data + off, first);
	memcpy((uint8_t *)buf + first, r->data, n - first);
}

static void copy_in(struct memfd_ring *r, const void *buf, uint32_t n)
{
	uint32_t off = r->idx & (r->size - 1);
	uint32_t first = n < r->size - off ? n : r->size - off;

	memcpy(r->data + off, buf, first);
	memcpy(r->data, (const uint8_t *)buf + first, n - first);
}

static void consume(struct memfd_chan *m, void *buf, uint32_t n)
{
	copy_out(&m->rx, buf, n);
	m->rx.idx += n;
	/*
	 * Release: orders our reads of the bytes (copy_out) before telling the
	 * producer it may overwrite them.
	 */
	__atomic_store_n(&m->rx.ctl->cons, m->rx.idx, __ATOMIC_RELEASE);
	/*
	 * Wake a producer waiting for space only once half the ring is free, so
	 * it refills in bulk instead of paying a wake-up per chunk; before we
	 * sleep ourselves we wake it regardless (wait_for(), memfd_wait()).
	 */
	if (m->rx.seen - m->rx.idx <= m->rx.size / 2)
		kick(m, &m->rx.ctl->prod_wait);
}

static void produce(struct memfd_chan *m, const void *buf, uint32_t n)
{
	copy_in(&m->tx, buf, n);
	m->tx.idx += n;
	/* Release: orders our writes of the bytes (copy_in) before publishing them. */
	__atomic_store_n(&m->tx.ctl->prod, m->tx.idx, __ATOMIC_RELEASE);
	kick(m, &m->tx.ctl->cons_wait);
}

static ssize_t memfd_read(struct bh_chan *c, void *buf, size_t len)
{
	struct memfd_chan *m = to_memfd(c);
	uint32_t avail = 0;
	int r = wait_for(m, WANT_DATA, 1);

	if (r < 0)
		return r;
	r = rx_avail(m, &avail);
	if (r < 0)
		return r;
	if (avail > len)
		avail = (uint32_t)len;
	if (avail)
		consume(m, buf, avail);
	return avail;
}

static ssize_t memfd_recv(struct bh_chan *c, void *buf, size_t len)
{
	struct memfd_chan *m = to_memfd(c);
	uint32_t avail = 0;
	int r;

	if (len > m->rx.size)
		return -EMSGSIZE;
	r = wait_for(m, WANT_DATA, (uint32_t)len);
	if (r < 0)
		return r;
	r = rx_avail(m, &avail);
	if (r < 0)
		return r;
	if (avail < len)
		return avail ? -EPIPE : 0;
	consume(m, buf, (uint32_t)len);
	return (ssize_t)len;
}

/* Write what fits now, after waiting for at least one byte of space. */
static ssize_t write_some(struct memfd_chan *m, const void *buf, size_t len)
{
	uint32_t space = 0;
	int r = wait_for(m, WANT_SPACE, 1);

	if (r < 0)
		return r;
	if (peer_gone(m))
		return -EPIPE;
	r = tx_space(m, &space);
	if (r < 0)
		return r;
	if (space > len)
		space = (uint32_t)len;
	produce(m, buf, space);
	return space;
}

static ssize_t memfd_write(struct bh_chan *c, const void *buf, size_t len)
{
	struct memfd_chan *m = to_memfd(c);
	size_t done = 0;

	do {
		ssize_t n = write_some(m, (const uint8_t *)buf + done, len - done);
		if (n < 0)
			return done && n != -EPROTO ? (ssize_t)done : n;
		done += (size_t)n;
	} while (done < len && c->blocking);
	return (ssize_t)done;
}

static ssize_t memfd_send(struct bh_chan *c, const void *buf, size_t len)
{
	struct memfd_chan *m = to_memfd(c);
	int r;

	if (len > m->tx.size)
		return -EMSGSIZE;
	r = wait_for(m, WANT_SPACE, (uint32_t)len);
	if (r < 0)
		return r;
	if (peer_gone(m))
		return -EPIPE;
	produce(m, buf, (uint32_t)len);
	return (ssize_t)len;
}

static int memfd_wait(struct bh_chan *c)
{
	struct memfd_chan *m = to_memfd(c);
	int r = ready(m, WANT_DATA, 1);

	/*
	 * Space waits were armed by the write/send that returned -EAGAIN. Data
	 * is ready: consume the wake-up anyway, or a caller polling our fd while
	 * it waits only for space would find it readable forever.
	 */
	if (r != 0) {
		drain_eventfd(m->own_evt);
		return r < 0 ? r : 0;
	}
	kick(m, &m->rx.ctl->prod_wait); /* never leave a waiting producer asleep */
	arm(wait_word(m, WANT_DATA));
	r = ready(m, WANT_DATA, 1);
	if (r != 0)
		return r < 0 ? r : 0;
	return block(m);
}

static int memfd_fd(const struct bh_chan *c)
{
	return ((const struct memfd_chan *)c)->epfd;
}

static void check_hangup(struct memfd_chan *m)
{
	struct pollfd p = { .fd = m->sock, .events = POLLRDHUP };

	if (!m->peer_dead && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		m->peer_dead = true;
}

static int memfd_is_open(struct bh_chan *c)
{
	struct memfd_chan *m = to_memfd(c);

	check_hangup(m);
	if (peer_gone(m))
		return 0;
	if (m->server &&
	    __atomic_load_n(m->peer_state, __ATOMIC_ACQUIRE) == BH_CHAN_MEMFD_UNATTACHED)
		return 2;
	return 1;
}

static size_t memfd_data_ready(struct bh_chan *c)
{
	uint32_t n = 0;

	return rx_avail(to_memfd(c), &n) < 0 ? 0 : n;
}

static size_t memfd_buffer_space(struct bh_chan *c)
{
	uint32_t n = 0;

	return tx_space(to_memfd(c), &n) < 0 ? 0 : n;
}

static void memfd_close(struct bh_chan *c)
{
	struct memfd_chan *m = to_memfd(c);

	if (m->ctl) {
		/* Release: orders every index store we made before the close. */
		__atomic_store_n(m->own_state, BH_CHAN_MEMFD_CLOSED, __ATOMIC_RELEASE);
		signal_peer(m);
		munmap(m->map, m->map_len);
	}
	if (m->epfd >= 0)
		close(m->epfd);
	if (m->peer_evt >= 0)
		close(m->peer_evt);
	if (m->own_evt >= 0)
		close(m->own_evt);
	if (m->sock >= 0)
		close(m->sock);
	free(m);
}

static const struct bh_chan_ops memfd_ops = {
	.read = memfd_read,
	.write = memfd_write,
	.send = memfd_send,
	.recv = memfd_recv,
	.wait = memfd_wait,
	.fd = memfd_fd,
	.is_open = memfd_is_open,
	.data_ready = memfd_data_ready,
	.buffer_space = memfd_buffer_space,
	.close = memfd_close,
};

/* ---- set-up -------------------------------------------------------------- */

static uint32_t ring_size_for(size_t min)
{
	uint32_t s = BH_CHAN_RING_MIN;

	while (s < min && s < BH_CHAN_RING_MAX)
		s <<= 1;
	return s;
}

static bool ring_size_ok(uint32_t untrusted_size)
{
	return untrusted_size >= BH_CHAN_RING_MIN && untrusted_size <= BH_CHAN_RING_MAX &&
	       (untrusted_size & (untrusted_size - 1)) == 0;
}

static struct memfd_chan *memfd_alloc(bool server)
{
	struct memfd_chan *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->chan.ops = &memfd_ops;
	m->chan.backend = BH_CHAN_MEMFD;
	m->chan.blocking = true;
	m->server = server;
	m->sock = m->own_evt = m->peer_evt = m->epfd = -1;
	m->spin_ns = SPIN_NS_INIT;
	return m;
}

/*
 * Map the control page and both rings, each ring followed by a PROT_NONE
 * guard page: reserve the whole range, then map the file's pieces over it.
 */
static int map_rings(struct memfd_chan *m, int memfd, const uint32_t size[2])
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t off1 = BH_CHAN_MEMFD_CTL_SIZE + size[0];
	uint8_t *base;

	if (BH_CHAN_MEMFD_CTL_SIZE % page || size[0] % page)
		return -EINVAL;
	m->map_len = off1 + page + size[1] + page;
	base = mmap(NULL, m->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	m->map = base;
	if (mmap(base, off1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd, 0) ==
		    MAP_FAILED ||
	    mmap(base + off1 + page, size[1], PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd,
		 (off_t)off1) == MAP_FAILED) {
		int r = -errno;
		munmap(base, m->map_len);
		m->map = NULL;
		return r;
	}
	m->ctl = (struct bh_chan_memfd_ctl *)base;
	return 0;
}

/*
 * Point rx/tx at the mapped rings (ring 0 is server -> client) and take our
 * starting indices. The server chooses them (BH_CHAN_MEMFD_START); the client
 * reads its own two once, here, and from then on keeps them privately. The
 * peer-owned ones are checked against them on first use.
 */
static void attach_rings(struct memfd_chan *m, const uint32_t size[2])
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *base = m->map;
	struct memfd_ring r0 = { &m->ctl->ring[0], base + BH_CHAN_MEMFD_CTL_SIZE, size[0] };
	struct memfd_ring r1 = { &m->ctl->ring[1],
				 base + BH_CHAN_MEMFD_CTL_SIZE + size[0] + page, size[1] };

	m->tx = m->server ? r0 : r1;
	m->rx = m->server ? r1 : r0;
	if (m->server) {
		m->tx.idx = m->rx.idx = BH_CHAN_MEMFD_START;
		for (int i = 0; i < 2; i++)
			m->ctl->ring[i].prod = m->ctl->ring[i].cons = BH_CHAN_MEMFD_START;
	} else {
		m->tx.idx = __atomic_load_n(&m->tx.ctl->prod, __ATOMIC_RELAXED);
		m->rx.idx = __atomic_load_n(&m->rx.ctl->cons, __ATOMIC_RELAXED);
	}
	m->tx.seen = m->tx.idx;
	m->rx.seen = m->rx.idx;
	m->own_state = m->server ? &m->ctl->srv_state : &m->ctl->cli_state;
	m->peer_state = m->server ? &m->ctl->cli_state : &m->ctl->srv_state;
}

static int setup_epoll(struct memfd_chan *m)
{
	struct epoll_event e1 = { .events = EPOLLIN, .data.fd = m->own_evt };
	struct epoll_event e2 = { .events = EPOLLRDHUP, .data.fd = m->sock };

	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0)
		return -errno;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->own_evt, &e1) < 0 ||
	    epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->sock, &e2) < 0)
		return -errno;
	return 0;
}

static int make_memfd(const uint32_t size[2])
{
	int fd = memfd_create("bulkhead-chan", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)BH_CHAN_MEMFD_CTL_SIZE + size[0] + size[1]) < 0 ||
	    fcntl(fd, F_ADD_SEALS, SEALS_REQUIRED | F_SEAL_SEAL) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int send_hello(int sock, const uint32_t size[2], const int fds[BH_CHAN_MEMFD_NFDS])
{
	struct bh_chan_memfd_hello h = { BH_CHAN_MEMFD_MAGIC, BH_CHAN_MEMFD_VERSION,
					 { size[0], size[1] } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * BH_CHAN_MEMFD_NFDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	memset(&u, 0, sizeof(u));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * BH_CHAN_MEMFD_NFDS);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * BH_CHAN_MEMFD_NFDS);
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == sizeof(h) ? 0 : -EIO;
}

static int server_init(struct memfd_chan *m, const uint32_t size[2])
{
	_cleanup_close_ int memfd = make_memfd(size);
	int r;

	if (memfd < 0)
		return memfd;
	m->own_evt = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->peer_evt = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->own_evt < 0 || m->peer_evt < 0)
		return -errno;
	r = map_rings(m, memfd, size);
	if (r < 0)
		return r;
	attach_rings(m, size);
	m->ctl->magic = BH_CHAN_MEMFD_MAGIC;
	m->ctl->version = BH_CHAN_MEMFD_VERSION;
	__atomic_store_n(&m->ctl->srv_state, BH_CHAN_MEMFD_OPEN, __ATOMIC_RELEASE);
	r = setup_epoll(m);
	if (r < 0)
		return r;
	return send_hello(m->sock, size, (int[]){ memfd, m->own_evt, m->peer_evt });
}

int bh_chan_memfd_server_open(int sock, size_t read_min, size_t write_min, struct bh_chan **ret)
{
	uint32_t size[2] = { ring_size_for(write_min), ring_size_for(read_min) };
	struct memfd_chan *m;
	int r;

	if (sock < 0 || !ret)
		return -EINVAL;
	m = memfd_alloc(true);
	if (!m)
		return -ENOMEM;
	m->sock = sock;
	r = server_init(m, size);
	if (r < 0) {
		m->sock = -1; /* not ours until we succeed */
		memfd_close(&m->chan);
		return r;
	}
	*ret = &m->chan;
	return 0;
}

/* Receive the hello and exactly BH_CHAN_MEMFD_NFDS fds (all O_CLOEXEC). */
static int recv_hello(int sock, struct bh_chan_memfd_hello *ret, int fds[BH_CHAN_MEMFD_NFDS])
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} u;
	struct bh_chan_memfd_hello untrusted_h;
	struct iovec iov = { &untrusted_h, sizeof(untrusted_h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	size_t nfds = 0;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (nfds < BH_CHAN_MEMFD_NFDS)
				fds[nfds] = fd;
			else
				close(fd);
			nfds++;
		}
	}
	if (n != sizeof(untrusted_h) || nfds != BH_CHAN_MEMFD_NFDS || (msg.msg_flags & MSG_CTRUNC)) {
		for (size_t i = 0; i < nfds && i < BH_CHAN_MEMFD_NFDS; i++)
			close(fds[i]);
		return n == 0 ? -ECONNRESET : -EPROTO;
	}
	*ret = untrusted_h;
	return 0;
}

/* The memfd must be sealed against shrinking (no SIGBUS) and exactly sized. */
static int check_memfd(int memfd, const uint32_t size[2])
{
	struct stat st;
	int seals = fcntl(memfd, F_GET_SEALS);

	if (seals < 0 || (seals & SEALS_REQUIRED) != SEALS_REQUIRED)
		return -EPROTO;
	if (fstat(memfd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size != (uint64_t)BH_CHAN_MEMFD_CTL_SIZE + size[0] + size[1])
		return -EPROTO;
	return 0;
}

static int client_init(struct memfd_chan *m, const struct bh_chan_memfd_hello *untrusted_h,
		       int memfd)
{
	uint32_t size[2] = { untrusted_h->ring_size[0], untrusted_h->ring_size[1] };
	int r;

	if (untrusted_h->magic != BH_CHAN_MEMFD_MAGIC ||
	    untrusted_h->version != BH_CHAN_MEMFD_VERSION || !ring_size_ok(size[0]) ||
	    !ring_size_ok(size[1]))
		return -EPROTO;
	/* The peer's eventfd: never let a bogus fd block our wake-up writes. */
	if (fcntl(m->peer_evt, F_SETFL, O_NONBLOCK) < 0 || fcntl(m->own_evt, F_SETFL, O_NONBLOCK) < 0)
		return -EPROTO;
	r = check_memfd(memfd, size);
	if (r < 0)
		return r;
	r = map_rings(m, memfd, size);
	if (r < 0)
		return r;
	attach_rings(m, size);
	if (__atomic_load_n(&m->ctl->magic, __ATOMIC_RELAXED) != BH_CHAN_MEMFD_MAGIC)
		return -EPROTO;
	r = setup_epoll(m);
	if (r < 0)
		return r;
	__atomic_store_n(m->own_state, BH_CHAN_MEMFD_OPEN, __ATOMIC_RELEASE);
	signal_peer(m);
	return m->chan.error;
}

int bh_chan_memfd_client_open(int sock, struct bh_chan **ret)
{
	struct bh_chan_memfd_hello untrusted_h = { 0 };
	int fds[BH_CHAN_MEMFD_NFDS];
	struct memfd_chan *m;
	int r;

	if (sock < 0 || !ret)
		return -EINVAL;
	r = recv_hello(sock, &untrusted_h, fds);
	if (r < 0)
		return r;
	m = memfd_alloc(false);
	if (!m) {
		for (int i = 0; i < BH_CHAN_MEMFD_NFDS; i++)
			close(fds[i]);
		return -ENOMEM;
	}
	m->sock = sock;
	m->peer_evt = fds[1]; /* the server waits on [1], we on [2] */
	m->own_evt = fds[2];
	r = client_init(m, &untrusted_h, fds[0]);
	close(fds[0]);
	if (r < 0) {
		m->sock = -1;
		memfd_close(&m->chan);
		return r;
	}
	*ret = &m->chan;
	return 0;
}
