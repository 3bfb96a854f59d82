/* SPDX-License-Identifier: MIT */
/*
 * Many logical streams over one channel (DESIGN.md section 3): NBD
 * connections and TPM sessions of one guest share its channel.
 *
 * Every frame is a 12-byte header, big-endian, then the payload (DATA only):
 *
 *   offset size field
 *   0      4    stream id   odd: opened by the initiator, even: by the other side
 *   4      1    type        enum bh_mux_type
 *   5      1    flags       0
 *   6      2    reserved    0
 *   8      4    length      DATA: payload bytes (1..BH_MUX_FRAME_MAX)
 *                           CREDIT: bytes of window returned (>= 1); others: 0
 *
 * Flow control: each side may have at most BH_MUX_WINDOW unacknowledged bytes
 * in flight per stream; the receiver returns window with CREDIT as its
 * application reads. The mux drains the channel into per-stream buffers of
 * that size, so a stream whose reader stalls stops only its own sender.
 *
 * A stream is opened by OPEN (ids strictly increasing per side) and closed in
 * each direction by FIN; it is forgotten once both FINs have passed and the
 * application closed it. Anything else from the peer (unknown type or stream,
 * data beyond the window, frames after FIN, ...) is -EPROTO, and the mux is
 * dead from then on.
 *
 * Version history:
 *   1  2026-11  OPEN, DATA, CREDIT, FIN.
 *
 * The mux is single-threaded and never blocks: it puts its channel into
 * non-blocking mode. Drive it from an event loop: when bh_chan_fd() is
 * readable, call bh_chan_wait() then bh_mux_poll(), then retry reads/writes.
 */
#ifndef BULKHEAD_MUX_H
#define BULKHEAD_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bh_chan;
struct bh_mux;

#define BH_MUX_HDR_SIZE 12
#define BH_MUX_FRAME_MAX (32u << 10)
#define BH_MUX_WINDOW (128u << 10)
#define BH_MUX_STREAMS_MAX 256

enum bh_mux_type {
	BH_MUX_OPEN = 1,
	BH_MUX_DATA = 2,
	BH_MUX_CREDIT = 3,
	BH_MUX_FIN = 4,
};

struct bh_mux_hdr {
	uint32_t stream;
	uint8_t type;
	uint32_t length;
};

void bh_mux_hdr_encode(const struct bh_mux_hdr *h, uint8_t out[BH_MUX_HDR_SIZE]);
/*
 * Check a header on its own (known type, flags and reserved zero, stream id
 * non-zero, length within the type's limits). 0 and *ret, or -EPROTO.
 */
int bh_mux_hdr_decode(const uint8_t untrusted_in[BH_MUX_HDR_SIZE], struct bh_mux_hdr *ret);

/*
 * A mux over @chan (not owned; must outlive the mux). @initiator picks the odd
 * stream ids; the two ends must disagree. 0 and *ret, or -ENOMEM.
 */
int bh_mux_new(struct bh_chan *chan, bool initiator, struct bh_mux **ret);
void bh_mux_free(struct bh_mux *m);

/*
 * Read what the channel holds, decode it, and flush queued frames. Returns 0,
 * 1 when it stopped early with more input possibly pending (call again), or
 * -EPROTO / another -errno (sticky).
 */
int bh_mux_poll(struct bh_mux *m);

/* Decode @len bytes received from the peer (bh_mux_poll() uses it; fuzzing too). */
int bh_mux_input(struct bh_mux *m, const void *untrusted_buf, size_t len);

/* Open a stream; 0 and *ret_id, -EAGAIN (channel full), -EMFILE, -EPIPE. */
int bh_mux_open(struct bh_mux *m, uint32_t *ret_id);
/* Next stream the peer opened; 0 and *ret_id, or -EAGAIN. */
int bh_mux_accept(struct bh_mux *m, uint32_t *ret_id);

/*
 * Write up to @len bytes on a stream (as far as its credit and the channel
 * allow). Returns bytes written, -EAGAIN, -ENOENT (no such stream, or we
 * closed it), -EPIPE (the channel ended), -EPROTO.
 */
ssize_t bh_mux_write(struct bh_mux *m, uint32_t id, const void *buf, size_t len);
/*
 * Write all @len bytes on a stream, flushing queued frames and waiting on the
 * channel (bh_chan_wait) while credit or ring space runs out. For a thread
 * that owns the channel and may block. Returns 0 or bh_mux_write()'s and
 * bh_chan_wait()'s errors.
 */
int bh_mux_write_all(struct bh_mux *m, uint32_t id, const void *buf, size_t len);
/* Read from a stream: bytes, 0 when the peer finished it, -EAGAIN, -ENOENT. */
ssize_t bh_mux_read(struct bh_mux *m, uint32_t id, void *buf, size_t len);
/* Bytes a stream can read now, or -ENOENT. */
ssize_t bh_mux_pending(struct bh_mux *m, uint32_t id);
/* Finish our direction and forget the stream; pending input is dropped. */
int bh_mux_close(struct bh_mux *m, uint32_t id);

/* Number of live streams (for tests and status). */
unsigned bh_mux_nstreams(const struct bh_mux *m);
int bh_mux_error(const struct bh_mux *m);

#endif
