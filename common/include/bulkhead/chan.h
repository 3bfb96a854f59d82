/* SPDX-License-Identifier: MIT */
/*
 * Channels: a bidirectional byte pipe between two domains (DESIGN.md section 3).
 *
 * One API shaped like libxenvchan, two backends chosen when a channel is
 * opened (one binary serves both platforms):
 *
 *   BH_CHAN_MEMFD  host platform: one SPSC byte ring per direction in a sealed
 *                  memfd, eventfd wake-ups; set up between a parent and a child
 *                  over a unix socket (SCM_RIGHTS), usable across fork+exec.
 *   BH_CHAN_XEN    xen platform: libxenvchan (grant pages + event channel),
 *                  advertised in xenstore, readable by the peer domain only.
 *
 * The peer is hostile. Every value read from shared memory is read once and
 * checked against a private copy of the ring size; an impossible value closes
 * the channel and every later call returns -EPROTO. Nothing the peer writes can
 * make us read or write out of bounds or spin forever.
 *
 * A channel is used by one thread at a time. Every call returns a negative errno
 * on failure; a blocking call interrupted by a signal returns -EINTR.
 */
#ifndef BULKHEAD_CHAN_H
#define BULKHEAD_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

struct bh_chan;

enum bh_chan_backend {
	BH_CHAN_MEMFD = 1,
	BH_CHAN_XEN = 2,
};

/* Ring sizes of the memfd backend: a power of two in [MIN, MAX]; others round up. */
#define BH_CHAN_RING_MIN (4u << 10)
#define BH_CHAN_RING_MAX (4u << 20)

/* Where a channel lives; which union member is used depends on @backend. */
struct bh_chan_addr {
	enum bh_chan_backend backend;
	union {
		struct {
			/*
			 * A connected AF_UNIX socket to the peer (SOCK_STREAM or
			 * SOCK_SEQPACKET). The channel takes ownership on success
			 * and keeps it open to notice the peer's death (hang-up),
			 * so no other process may hold a copy of this end.
			 */
			int sock;
		} memfd;
		struct {
			int domid; /* the peer domain */
			/*
			 * Where the server advertises the rings, e.g.
			 * "/local/domain/0/data/bulkhead/tpm". The server may give it
			 * relative to its own xenstore home; the client must give it
			 * absolute (a relative path resolves against the client's home).
			 */
			const char *xs_path;
		} xen;
	};
};

/*
 * Open the server end. @read_min/@write_min: minimum ring sizes in bytes for
 * data we receive / send (memfd: rounded up to a power of two, clamped to
 * [BH_CHAN_RING_MIN, BH_CHAN_RING_MAX]; xen: as libxenvchan rounds them).
 *
 * memfd: creates the rings and sends them to the peer over addr->memfd.sock;
 * does not wait for the client (is_open() returns 2 until it attaches).
 * xen: grants the rings to addr->xen.domid and writes ring-ref/event-channel
 * under addr->xen.xs_path with read permission for that domain only.
 *
 * Returns 0 and *ret (owned by the caller, free with bh_chan_close()), or -errno.
 * The channel starts in blocking mode.
 */
int bh_chan_server_open(const struct bh_chan_addr *addr, size_t read_min, size_t write_min,
			struct bh_chan **ret);

/*
 * Open the client end. memfd: blocks until the server's rings arrive on the
 * socket, validates them (seals, sizes) and attaches. xen: connects to the
 * server domain addr->xen.domid at addr->xen.xs_path (of the server's domain).
 * Returns 0 and *ret, or -errno (-EPROTO for an invalid set-up from the peer).
 */
int bh_chan_client_open(const struct bh_chan_addr *addr, struct bh_chan **ret);

/* Convenience wrappers around the two functions above. */
int bh_chan_memfd_server(int sock, size_t read_min, size_t write_min, struct bh_chan **ret);
int bh_chan_memfd_client(int sock, struct bh_chan **ret);
int bh_chan_xen_server(int domid, const char *xs_path, size_t read_min, size_t write_min,
		       struct bh_chan **ret);
int bh_chan_xen_client(int domid, const char *xs_path, struct bh_chan **ret);

/*
 * Close and free. The peer sees is_open() == 0 and can still read what we
 * wrote before. Accepts NULL.
 */
void bh_chan_close(struct bh_chan *c);
static inline void bh_chan_closep(struct bh_chan **c)
{
	bh_chan_close(*c);
}
#define _cleanup_chan_ _cleanup_(bh_chan_closep)

/* Blocking (default) or non-blocking mode for read/write/send/recv. */
void bh_chan_set_blocking(struct bh_chan *c, bool blocking);

/*
 * Stream read: up to @len bytes. Blocking mode waits for at least one byte.
 * Returns the number of bytes read (> 0), 0 at end of stream (peer closed and
 * everything it wrote has been read), -EAGAIN (non-blocking, nothing ready),
 * -EPROTO (peer broke the protocol), -EINTR, or another -errno.
 */
ssize_t bh_chan_read(struct bh_chan *c, void *buf, size_t len);

/*
 * Stream write. Blocking mode writes all @len bytes; non-blocking writes what
 * fits now. Returns the number of bytes written, -EAGAIN (non-blocking, no
 * space), -EPIPE (peer closed), -EPROTO, -EINTR (when nothing was written yet).
 */
ssize_t bh_chan_write(struct bh_chan *c, const void *buf, size_t len);

/*
 * Whole-message send: all @len bytes go into the ring at once or none do.
 * Returns @len, -EAGAIN (non-blocking, not enough space), -EMSGSIZE (@len
 * larger than the ring can ever hold), -EPIPE, -EPROTO, -EINTR.
 */
ssize_t bh_chan_send(struct bh_chan *c, const void *buf, size_t len);

/*
 * Whole-message receive: exactly @len bytes or none. Returns @len, 0 at end
 * of stream with nothing pending, -EPIPE (peer closed with fewer than @len
 * bytes pending; they stay readable with bh_chan_read()), -EAGAIN, -EMSGSIZE,
 * -EPROTO, -EINTR.
 */
ssize_t bh_chan_recv(struct bh_chan *c, void *buf, size_t len);

/*
 * Block until the channel's state may have changed: data arrived, space was
 * freed after a write or send returned -EAGAIN, or the peer closed. Returns at
 * once if data is ready or the peer closed. Returns 0, -EPROTO or -EINTR.
 */
int bh_chan_wait(struct bh_chan *c);

/*
 * A file descriptor for poll/epoll (POLLIN). When it is readable, bh_chan_wait()
 * does not block; call it to consume the event. A non-blocking read/recv that
 * returned -EAGAIN (or write/send for space) arms the notification. Owned by
 * the channel.
 */
int bh_chan_fd(const struct bh_chan *c);

/*
 * 1 when both ends are open, 0 when the peer closed or died or the channel
 * failed (data already received can still be read), 2 for a server whose
 * client has not attached yet.
 */
int bh_chan_is_open(struct bh_chan *c);

/*
 * A server whose client has attached stops advertising the channel, so that
 * nobody else finds it. xen: removes ring-ref and event-channel from
 * xenstore; otherwise, until this server closes, a new client (the next one
 * of a proxy that serves peers one after another, like Xen's
 * vchan-socket-proxy) can read them and attach to this ring just as its
 * session ends, and be cut off. memfd: nothing to do. Returns 0 or -errno.
 */
int bh_chan_withdraw(struct bh_chan *c);

/* The sticky error that closed the channel (-EPROTO, ...), or 0. */
int bh_chan_error(const struct bh_chan *c);

/* Bytes readable now without blocking. */
size_t bh_chan_data_ready(struct bh_chan *c);
/* Bytes writable now without blocking. */
size_t bh_chan_buffer_space(struct bh_chan *c);

enum bh_chan_backend bh_chan_backend(const struct bh_chan *c);
const char *bh_chan_backend_name(enum bh_chan_backend b);

/* ------------------------------------------------------------------------ */
/*
 * The memfd backend's shared layout. It is an ABI between two processes that
 * do not trust each other; it is public so that peers in other languages and
 * the hostile-peer tests can implement the other side.
 *
 * Set-up: the server sends on the socket one struct bh_chan_memfd_hello
 * (little-endian host order: both ends run on the same host) with exactly
 * three fds in SCM_RIGHTS: [0] the memfd, [1] the server's eventfd (the server
 * waits on it; the client writes it), [2] the client's eventfd.
 *
 * The memfd is sealed F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL and is exactly
 * BH_CHAN_MEMFD_CTL_SIZE + ring_size[0] + ring_size[1] bytes: one page of
 * struct bh_chan_memfd_ctl, then ring 0 (server -> client data), then ring 1
 * (client -> server data).
 *
 * Indices are free-running 32-bit byte counters; the offset into a ring is
 * index & (size - 1), and 0 <= prod - cons <= size. Only the producer writes
 * prod and only the consumer writes cons. The server initialises all four to
 * a start value of its choice before sending the hello (ours: 64 KiB below
 * the 32-bit wrap, so every channel crosses it early); the client takes its
 * own two from the page once, at attach. A side that is about to sleep sets
 * its *_wait word; the other side clears it and writes the sleeper's eventfd.
 *
 * Version history:
 *   1  2026-11  initial layout.
 */
#define BH_CHAN_MEMFD_MAGIC 0x4243484eu /* "BCHN" */
#define BH_CHAN_MEMFD_VERSION 1
#define BH_CHAN_MEMFD_CTL_SIZE 4096u
#define BH_CHAN_MEMFD_NFDS 3
#define BH_CHAN_MEMFD_START (0u - (64u << 10))

struct bh_chan_memfd_hello {
	uint32_t magic;
	uint32_t version;
	uint32_t ring_size[2]; /* [0] server -> client, [1] client -> server */
};

struct bh_chan_memfd_ring_ctl {
	/* Each word on its own cache line: producer and consumer do not share. */
	__attribute__((aligned(64))) uint32_t prod; /* written by the producer */
	__attribute__((aligned(64))) uint32_t cons; /* written by the consumer */
	/* Set by a sleeping side, cleared by the side that wakes it. */
	__attribute__((aligned(64))) uint32_t cons_wait; /* consumer waits for data */
	uint32_t prod_wait;				 /* producer waits for space */
};

struct bh_chan_memfd_ctl {
	uint32_t magic;	      /* BH_CHAN_MEMFD_MAGIC, written by the server */
	uint32_t version;     /* BH_CHAN_MEMFD_VERSION */
	__attribute__((aligned(64))) uint32_t srv_state; /* BH_CHAN_MEMFD_* below */
	__attribute__((aligned(64))) uint32_t cli_state;
	struct bh_chan_memfd_ring_ctl ring[2];
};

enum {
	BH_CHAN_MEMFD_UNATTACHED = 0, /* cli_state before the client attaches */
	BH_CHAN_MEMFD_OPEN = 1,
	BH_CHAN_MEMFD_CLOSED = 2,
};

#endif
