/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the stream multiplexer: header codec, open/accept/read/write/
 * close over a real memfd channel pair (both ends in this process, driven by
 * polling), per-stream credit with one stalled reader among many streams, and
 * the decoder's rejection of protocol violations.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bulkhead/chan.h>
#include <bulkhead/mux.h>

#include "../bh-test.h"

struct mpair {
	struct bh_chan *cs, *cc;
	struct bh_mux *a, *b; /* a: initiator (server end), b: the client end */
};

static void mpair_open(struct mpair *p)
{
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CU_ASSERT_FATAL(bh_chan_memfd_server(sv[0], 64 << 10, 64 << 10, &p->cs) == 0);
	CU_ASSERT_FATAL(bh_chan_memfd_client(sv[1], &p->cc) == 0);
	CU_ASSERT_FATAL(bh_mux_new(p->cs, true, &p->a) == 0);
	CU_ASSERT_FATAL(bh_mux_new(p->cc, false, &p->b) == 0);
}

static void mpair_close(struct mpair *p)
{
	bh_mux_free(p->a);
	bh_mux_free(p->b);
	bh_chan_close(p->cs);
	bh_chan_close(p->cc);
}

static void pump(struct mpair *p)
{
	CU_ASSERT(bh_mux_poll(p->a) >= 0);
	CU_ASSERT(bh_mux_poll(p->b) >= 0);
}

static void test_hdr(void)
{
	struct bh_mux_hdr h = { 0x01020304, BH_MUX_DATA, 77 }, d;
	uint8_t buf[BH_MUX_HDR_SIZE];

	bh_mux_hdr_encode(&h, buf);
	CU_ASSERT_EQUAL(buf[0], 1);
	CU_ASSERT_EQUAL(buf[11], 77);
	CU_ASSERT_EQUAL(bh_mux_hdr_decode(buf, &d), 0);
	CU_ASSERT_EQUAL(d.stream, h.stream);
	CU_ASSERT_EQUAL(d.type, h.type);
	CU_ASSERT_EQUAL(d.length, h.length);
	buf[6] = 1; /* reserved */
	CU_ASSERT_EQUAL(bh_mux_hdr_decode(buf, &d), -EPROTO);
	struct bh_mux_hdr bad[] = {
		{ 0, BH_MUX_OPEN, 0 },		      { 1, 0, 0 },
		{ 1, 5, 0 },			      { 1, BH_MUX_OPEN, 1 },
		{ 1, BH_MUX_FIN, 4 },		      { 1, BH_MUX_DATA, 0 },
		{ 1, BH_MUX_DATA, BH_MUX_FRAME_MAX + 1 }, { 1, BH_MUX_CREDIT, 0 },
		{ 1, BH_MUX_CREDIT, BH_MUX_WINDOW + 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bh_mux_hdr_encode(&bad[i], buf);
		CU_ASSERT_EQUAL(bh_mux_hdr_decode(buf, &d), -EPROTO);
	}
}

static void test_open_rw_close(void)
{
	struct mpair p;
	uint32_t ia, ib;
	char buf[64];

	mpair_open(&p);
	CU_ASSERT_EQUAL(bh_mux_accept(p.b, &ib), -EAGAIN);
	CU_ASSERT_EQUAL(bh_mux_open(p.a, &ia), 0);
	CU_ASSERT_EQUAL(ia & 1, 1);
	pump(&p);
	CU_ASSERT_EQUAL(bh_mux_accept(p.b, &ib), 0);
	CU_ASSERT_EQUAL(ib, ia);
	CU_ASSERT_EQUAL(bh_mux_read(p.b, ib, buf, sizeof(buf)), -EAGAIN);
	CU_ASSERT_EQUAL(bh_mux_write(p.a, ia, "ping", 4), 4);
	CU_ASSERT_EQUAL(bh_mux_write(p.b, ib, "pong!", 5), 5);
	pump(&p);
	CU_ASSERT_EQUAL(bh_mux_pending(p.b, ib), 4);
	CU_ASSERT_EQUAL(bh_mux_read(p.b, ib, buf, sizeof(buf)), 4);
	CU_ASSERT_EQUAL(memcmp(buf, "ping", 4), 0);
	CU_ASSERT_EQUAL(bh_mux_read(p.a, ia, buf, sizeof(buf)), 5);
	CU_ASSERT_EQUAL(memcmp(buf, "pong!", 5), 0);
	CU_ASSERT_EQUAL(bh_mux_write_all(p.a, ia, "whole", 5), 0);
	pump(&p);
	CU_ASSERT_EQUAL(bh_mux_read(p.b, ib, buf, sizeof(buf)), 5);
	CU_ASSERT_EQUAL(memcmp(buf, "whole", 5), 0);
	CU_ASSERT_EQUAL(bh_mux_read(p.a, 99, buf, 1), -ENOENT);
	CU_ASSERT_EQUAL(bh_mux_write(p.a, 99, buf, 1), -ENOENT);
	CU_ASSERT_EQUAL(bh_mux_write_all(p.a, 99, buf, 1), -ENOENT);
	/* Half close: a finishes, b still writes, then b closes: both forget it. */
	CU_ASSERT_EQUAL(bh_mux_close(p.a, ia), 0);
	CU_ASSERT_EQUAL(bh_mux_write(p.a, ia, "x", 1), -ENOENT);
	pump(&p);
	CU_ASSERT_EQUAL(bh_mux_read(p.b, ib, buf, sizeof(buf)), 0);
	CU_ASSERT_EQUAL(bh_mux_write(p.b, ib, "late", 4), 4);
	CU_ASSERT_EQUAL(bh_mux_close(p.b, ib), 0);
	pump(&p);
	pump(&p);
	CU_ASSERT_EQUAL(bh_mux_nstreams(p.a), 0);
	CU_ASSERT_EQUAL(bh_mux_nstreams(p.b), 0);
	CU_ASSERT_EQUAL(bh_mux_error(p.a), 0);
	CU_ASSERT_EQUAL(bh_mux_error(p.b), 0);
	mpair_close(&p);
}

#define NSTREAMS 16
#define PER_STREAM (1u << 20)

/* Stream 0's reader never reads: the other 15 still complete. */
static void test_stalled_reader(void)
{
	static uint8_t src[PER_STREAM], dst[64 << 10];
	size_t sent[NSTREAMS] = { 0 }, got[NSTREAMS] = { 0 };
	uint32_t ida[NSTREAMS], idb[NSTREAMS];
	struct mpair p;
	bool done = false;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 13 + (i >> 12));
	mpair_open(&p);
	for (int i = 0; i < NSTREAMS; i++)
		CU_ASSERT_FATAL(bh_mux_open(p.a, &ida[i]) == 0);
	pump(&p);
	for (int i = 0; i < NSTREAMS; i++)
		CU_ASSERT_FATAL(bh_mux_accept(p.b, &idb[i]) == 0 && idb[i] == ida[i]);
	for (int round = 0; round < 100000 && !done; round++) {
		done = true;
		for (int i = 0; i < NSTREAMS; i++) {
			ssize_t n = bh_mux_write(p.a, ida[i], src + sent[i], PER_STREAM - sent[i]);
			CU_ASSERT_FATAL(n >= 0 || n == -EAGAIN);
			sent[i] += n > 0 ? (size_t)n : 0;
			if (i == 0)
				continue;
			n = bh_mux_read(p.b, idb[i], dst, sizeof(dst));
			CU_ASSERT_FATAL(n > 0 || n == -EAGAIN);
			if (n > 0) {
				CU_ASSERT_FATAL(memcmp(dst, src + got[i], (size_t)n) == 0);
				got[i] += (size_t)n;
			}
			done &= got[i] == PER_STREAM;
		}
		pump(&p);
	}
	CU_ASSERT_TRUE(done);
	/* The stalled stream got exactly one window through, no more. */
	CU_ASSERT_EQUAL(sent[0], BH_MUX_WINDOW);
	CU_ASSERT_EQUAL(bh_mux_pending(p.b, idb[0]), BH_MUX_WINDOW);
	CU_ASSERT_EQUAL(bh_mux_write(p.a, ida[0], src, 1), -EAGAIN);
	/* Now it reads, and catches up. */
	while (got[0] < PER_STREAM) {
		ssize_t n = bh_mux_write(p.a, ida[0], src + sent[0], PER_STREAM - sent[0]);
		sent[0] += n > 0 ? (size_t)n : 0;
		n = bh_mux_read(p.b, idb[0], dst, sizeof(dst));
		if (n > 0) {
			CU_ASSERT_FATAL(memcmp(dst, src + got[0], (size_t)n) == 0);
			got[0] += (size_t)n;
		}
		pump(&p);
	}
	mpair_close(&p);
}

static int feed(struct bh_mux *m, uint32_t id, uint8_t type, uint32_t len)
{
	static uint8_t payload[BH_MUX_FRAME_MAX];
	uint8_t hdr[BH_MUX_HDR_SIZE];
	struct bh_mux_hdr h = { id, type, len };
	int r;

	bh_mux_hdr_encode(&h, hdr);
	r = bh_mux_input(m, hdr, sizeof(hdr));
	if (r == 0 && type == BH_MUX_DATA)
		r = bh_mux_input(m, payload, len);
	return r;
}

/* Each case: a fresh non-initiator mux fed one bad sequence from the peer. */
static void test_violations(void)
{
	struct mpair p;
	uint32_t id;

	mpair_open(&p);
	CU_ASSERT_EQUAL(feed(p.b, 2, BH_MUX_OPEN, 0), -EPROTO); /* initiator must use odd ids */
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_OPEN, 0), -EPROTO); /* and the mux stays dead */
	mpair_close(&p);

	mpair_open(&p);
	CU_ASSERT_EQUAL(feed(p.b, 3, BH_MUX_OPEN, 0), 0);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_OPEN, 0), -EPROTO); /* ids only grow */
	mpair_close(&p);

	mpair_open(&p);
	CU_ASSERT_EQUAL(feed(p.b, 5, BH_MUX_DATA, 10), -EPROTO); /* unknown stream */
	mpair_close(&p);

	mpair_open(&p);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_OPEN, 0), 0);
	for (unsigned i = 0; i < BH_MUX_WINDOW / BH_MUX_FRAME_MAX; i++)
		CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_DATA, BH_MUX_FRAME_MAX), 0);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_DATA, 1), -EPROTO); /* beyond the window */
	CU_ASSERT_EQUAL(bh_mux_error(p.b), -EPROTO);
	CU_ASSERT_EQUAL(bh_mux_poll(p.b), -EPROTO);
	mpair_close(&p);

	mpair_open(&p);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_OPEN, 0), 0);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_CREDIT, 1), -EPROTO); /* credit beyond window */
	mpair_close(&p);

	mpair_open(&p);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_OPEN, 0), 0);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_FIN, 0), 0);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_DATA, 1), -EPROTO); /* data after FIN */
	mpair_close(&p);

	mpair_open(&p);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_OPEN, 0), 0);
	CU_ASSERT_EQUAL(bh_mux_accept(p.b, &id), 0);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_FIN, 0), 0);
	CU_ASSERT_EQUAL(bh_mux_close(p.b, id), 0);
	CU_ASSERT_EQUAL(bh_mux_nstreams(p.b), 0);
	/* A late CREDIT for a forgotten stream is fine; a FIN is not. */
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_CREDIT, 5), 0);
	CU_ASSERT_EQUAL(feed(p.b, 1, BH_MUX_FIN, 0), -EPROTO);
	mpair_close(&p);

	mpair_open(&p);
	for (uint32_t i = 0; i < BH_MUX_STREAMS_MAX; i++)
		CU_ASSERT_EQUAL(feed(p.b, 2 * i + 1, BH_MUX_OPEN, 0), 0);
	CU_ASSERT_EQUAL(bh_mux_open(p.b, &id), -EMFILE);
	CU_ASSERT_EQUAL(feed(p.b, 2 * BH_MUX_STREAMS_MAX + 1, BH_MUX_OPEN, 0), -EPROTO);
	mpair_close(&p);
}

/* Closing the channel finishes every stream after its buffered data. */
static void test_chan_eof(void)
{
	struct mpair p;
	uint32_t ia, ib;
	char buf[16];

	mpair_open(&p);
	CU_ASSERT_EQUAL(bh_mux_open(p.a, &ia), 0);
	CU_ASSERT_EQUAL(bh_mux_write(p.a, ia, "bye", 3), 3);
	bh_mux_free(p.a);
	bh_chan_close(p.cs);
	CU_ASSERT_EQUAL(bh_mux_poll(p.b), 0);
	CU_ASSERT_EQUAL(bh_mux_accept(p.b, &ib), 0);
	CU_ASSERT_EQUAL(bh_mux_read(p.b, ib, buf, sizeof(buf)), 3);
	CU_ASSERT_EQUAL(bh_mux_read(p.b, ib, buf, sizeof(buf)), 0);
	CU_ASSERT_EQUAL(bh_mux_write(p.b, ib, "x", 1), -EPIPE);
	CU_ASSERT_EQUAL(bh_mux_close(p.b, ib), 0);
	CU_ASSERT_EQUAL(bh_mux_nstreams(p.b), 0);
	bh_mux_free(p.b);
	bh_chan_close(p.cc);
}

static const struct bh_test mux_tests[] = {
	{ "header codec", test_hdr },
	{ "open, read, write, close", test_open_rw_close },
	{ "one stalled reader among 16 streams", test_stalled_reader },
	{ "protocol violations", test_violations },
	{ "channel EOF", test_chan_eof },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "mux", mux_tests }, { NULL, NULL } };

	signal(SIGPIPE, SIG_IGN);
	return bh_test_main(suites);
}
