/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the stream multiplexer's decoder and state machine with arbitrary peer
 * bytes interleaved with application calls. The mux under test runs over a
 * real memfd channel pair; the fuzzer writes the peer's side of the channel.
 *
 * Input: a sequence of operations, an opcode byte and its arguments:
 *   0 LEN BYTES   the peer writes BYTES into the channel; the mux polls
 *   1 LEN BYTES   feed BYTES straight to bh_mux_input()
 *   2 K LEN       read LEN from stream K      3 K LEN   write LEN to stream K
 *   4 K           close stream K              5         accept
 *   6             open                        7         drain what the mux sent
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bulkhead/chan.h>
#include <bulkhead/mux.h>

#include "fuzz-input.h"

#define MAX_INPUT 65536

static size_t take_bytes(struct input *in, const uint8_t **ret)
{
	size_t n = take(in, 2);

	if (n > in->left)
		n = in->left;
	*ret = in->p;
	in->p += n;
	in->left -= n;
	return n;
}

static void app_op(struct bh_mux *m, uint8_t op, struct input *in)
{
	static uint8_t buf[BH_MUX_WINDOW + 1];
	uint32_t id = take(in, 1);
	size_t len = op == 4 ? 0 : take(in, 3) % sizeof(buf);
	ssize_t r;

	if (op == 2) {
		r = bh_mux_read(m, id, buf, len);
		check(r == -EAGAIN || r == -ENOENT || r == -EPROTO || (r >= 0 && (size_t)r <= len));
	} else if (op == 3) {
		r = bh_mux_write(m, id, buf, len);
		check(r == -EAGAIN || r == -ENOENT || r == -EPROTO || r == -EPIPE ||
		      (r >= 0 && (size_t)r <= len && r <= BH_MUX_FRAME_MAX));
	} else {
		r = bh_mux_close(m, id);
		check(r <= 0);
	}
	check(bh_mux_nstreams(m) <= BH_MUX_STREAMS_MAX);
}

static void step(struct bh_chan *peer, struct bh_mux *m, struct input *in)
{
	static uint8_t sink[1 << 16];
	uint8_t op = (uint8_t)(take(in, 1) % 8);
	const uint8_t *p;
	size_t n;
	uint32_t id;

	switch (op) {
	case 0:
		n = take_bytes(in, &p);
		if (n)
			(void)bh_chan_write(peer, p, n);
		check(bh_mux_poll(m) <= 1);
		break;
	case 1:
		n = take_bytes(in, &p);
		check(bh_mux_input(m, p, n) <= 0);
		break;
	case 5:
		check(bh_mux_accept(m, &id) <= 0);
		break;
	case 6:
		check(bh_mux_open(m, &id) <= 0);
		break;
	case 7:
		while (bh_chan_read(peer, sink, sizeof(sink)) > 0)
			;
		break;
	default:
		app_op(m, op, in);
		break;
	}
	if (bh_mux_error(m))
		check(bh_mux_error(m) == -EPROTO || bh_mux_error(m) == -ENOMEM);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct bh_chan *peer, *c;
	struct bh_mux *m;
	int sv[2];

	if (size > MAX_INPUT)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (bh_chan_memfd_server(sv[0], 1 << 16, 1 << 16, &peer) < 0)
		abort();
	if (bh_chan_memfd_client(sv[1], &c) < 0 || bh_mux_new(c, false, &m) < 0)
		abort();
	bh_chan_set_blocking(peer, false);
	while (in.left)
		step(peer, m, &in);
	bh_mux_free(m);
	bh_chan_close(c);
	bh_chan_close(peer);
	return 0;
}
