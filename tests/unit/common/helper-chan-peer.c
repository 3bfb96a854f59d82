/* SPDX-License-Identifier: MIT */
/*
 * Peer process for the channel tests, started by fork+exec with the set-up
 * socket's fd number on the command line:
 *
 *   helper-chan-peer FD server|client stress BYTES SEED_TX SEED_RX
 *       move BYTES each way at once with random write sizes; every received
 *       byte is checked against the sender's deterministic stream; then
 *       both sides exchange their totals as whole messages. Exit 0 if all ok.
 *   helper-chan-peer FD client flood    write until the channel fails
 *   helper-chan-peer FD client sink     read until the channel fails
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bulkhead/chan.h>
#include <bulkhead/parse.h>

#define CHUNK_MAX (64u << 10)

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Byte @off of stream @seed is byte (off % 8) of splitmix(seed ^ off / 8). */
static void gen(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint64_t w = splitmix(seed ^ ((off + i) / 8));
		size_t b = (off + i) % 8;
		size_t n = 8 - b < len - i ? 8 - b : len - i;
		memcpy(buf + i, (uint8_t *)&w + b, n);
		i += n;
	}
}

struct side {
	uint64_t total, seed_tx, seed_rx, sent, got, rng;
	uint8_t out[CHUNK_MAX], in[CHUNK_MAX], want[CHUNK_MAX];
	size_t out_len, out_off;
};

static size_t random_size(struct side *s)
{
	uint64_t r = s->rng = splitmix(s->rng);
	size_t n = 1 + (size_t)((r >> 8) % (1u << (r % 17)));

	return n > CHUNK_MAX ? CHUNK_MAX : n;
}

/* One non-blocking write attempt; 1 progress, 0 none, -1 failure. */
static int pump_out(struct bh_chan *c, struct side *s)
{
	if (s->out_off == s->out_len) {
		if (s->sent == s->total)
			return 0;
		s->out_len = random_size(s);
		if (s->out_len > s->total - s->sent)
			s->out_len = (size_t)(s->total - s->sent);
		gen(s->seed_tx, s->sent, s->out, s->out_len);
		s->out_off = 0;
	}
	ssize_t n = bh_chan_write(c, s->out + s->out_off, s->out_len - s->out_off);
	if (n == -EAGAIN)
		return 0;
	if (n <= 0)
		return fprintf(stderr, "write: %zd\n", n), -1;
	s->out_off += (size_t)n;
	s->sent += (uint64_t)n;
	return 1;
}

static int pump_in(struct bh_chan *c, struct side *s)
{
	size_t want = random_size(s);

	if (s->got == s->total)
		return 0;
	if (want > s->total - s->got)
		want = (size_t)(s->total - s->got);
	ssize_t n = bh_chan_read(c, s->in, want);
	if (n == -EAGAIN)
		return 0;
	if (n <= 0)
		return fprintf(stderr, "read: %zd at %" PRIu64 "\n", n, s->got), -1;
	gen(s->seed_rx, s->got, s->want, (size_t)n);
	if (memcmp(s->in, s->want, (size_t)n) != 0)
		return fprintf(stderr, "data mismatch at %" PRIu64 "\n", s->got), -1;
	s->got += (uint64_t)n;
	return 1;
}

static int stress(struct bh_chan *c, struct side *s)
{
	uint64_t peer[2], mine[2] = { s->sent, s->got };

	bh_chan_set_blocking(c, false);
	while (s->sent < s->total || s->got < s->total) {
		int a = pump_out(c, s), b = pump_in(c, s);
		if (a < 0 || b < 0)
			return 1;
		if (!a && !b && bh_chan_wait(c) < 0)
			return fprintf(stderr, "wait failed\n"), 1;
	}
	bh_chan_set_blocking(c, true);
	mine[0] = s->sent;
	mine[1] = s->got;
	if (bh_chan_send(c, mine, sizeof(mine)) != sizeof(mine) ||
	    bh_chan_recv(c, peer, sizeof(peer)) != sizeof(peer))
		return fprintf(stderr, "trailer failed\n"), 1;
	if (peer[0] != s->got || peer[1] != s->sent)
		return fprintf(stderr, "totals differ\n"), 1;
	return 0;
}

static int flood(struct bh_chan *c)
{
	static uint8_t buf[CHUNK_MAX];

	for (uint64_t off = 0;; off += sizeof(buf)) {
		gen(1, off, buf, sizeof(buf));
		if (bh_chan_write(c, buf, sizeof(buf)) < 0)
			return 1;
	}
}

static int sink(struct bh_chan *c)
{
	static uint8_t buf[CHUNK_MAX];

	while (bh_chan_read(c, buf, sizeof(buf)) > 0)
		;
	return 1;
}

static int run(struct bh_chan *c, int argc, char **argv)
{
	static struct side s;

	if (strcmp(argv[3], "flood") == 0)
		return flood(c);
	if (strcmp(argv[3], "sink") == 0)
		return sink(c);
	if (strcmp(argv[3], "stress") != 0 || argc != 7 ||
	    bh_parse_u64(argv[4], 1, UINT64_MAX, &s.total) < 0 ||
	    bh_parse_u64(argv[5], 0, UINT64_MAX, &s.seed_tx) < 0 ||
	    bh_parse_u64(argv[6], 0, UINT64_MAX, &s.seed_rx) < 0)
		return 2;
	s.rng = s.seed_tx;
	return stress(c, &s);
}

int main(int argc, char **argv)
{
	struct bh_chan *c;
	uint32_t fd;
	int r;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 4 || bh_parse_u32(argv[1], 0, 1024, &fd) < 0) {
		fprintf(stderr, "usage: %s FD server|client MODE [ARGS]\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[2], "server") == 0)
		r = bh_chan_memfd_server((int)fd, 1 << 20, 1 << 20, &c);
	else
		r = bh_chan_memfd_client((int)fd, &c);
	if (r < 0) {
		fprintf(stderr, "open: %s\n", strerror(-r));
		return 1;
	}
	r = run(c, argc, argv);
	bh_chan_close(c);
	return r;
}
