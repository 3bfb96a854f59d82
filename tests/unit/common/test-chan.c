/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the channel API over the memfd backend, both ends in one
 * process: set-up, stream and message semantics, wrap-around, non-blocking
 * mode and the poll fd, close and EOF, peer death, the xen backend's argument
 * checks.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <bulkhead/chan.h>

#include "../bh-test.h"

static void pair(size_t srv_read, size_t srv_write, struct bh_chan **srv, struct bh_chan **cli)
{
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CU_ASSERT_FATAL(bh_chan_memfd_server(sv[0], srv_read, srv_write, srv) == 0);
	CU_ASSERT_EQUAL(bh_chan_is_open(*srv), 2);
	CU_ASSERT_FATAL(bh_chan_memfd_client(sv[1], cli) == 0);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static void test_open_sizes(void)
{
	struct bh_chan *s, *c;

	pair(1, 5000, &s, &c);
	CU_ASSERT_EQUAL(bh_chan_is_open(s), 1);
	CU_ASSERT_EQUAL(bh_chan_is_open(c), 1);
	CU_ASSERT_EQUAL(bh_chan_backend(s), BH_CHAN_MEMFD);
	CU_ASSERT_STRING_EQUAL(bh_chan_backend_name(bh_chan_backend(c)), "memfd");
	/* 5000 rounds up to 8 KiB, 1 up to the 4 KiB minimum. */
	CU_ASSERT_EQUAL(bh_chan_buffer_space(s), 8192);
	CU_ASSERT_EQUAL(bh_chan_buffer_space(c), 4096);
	CU_ASSERT_EQUAL(bh_chan_data_ready(s), 0);
	CU_ASSERT_EQUAL(bh_chan_error(s), 0);
	bh_chan_close(s);
	bh_chan_close(c);

	pair(SIZE_MAX, 64 << 20, &s, &c);
	CU_ASSERT_EQUAL(bh_chan_buffer_space(s), BH_CHAN_RING_MAX);
	CU_ASSERT_EQUAL(bh_chan_buffer_space(c), BH_CHAN_RING_MAX);
	bh_chan_close(s);
	bh_chan_close(c);
}

/* Stream many odd-sized chunks through a 4 KiB ring: offsets and indices wrap. */
static void test_stream_wrap(void)
{
	static uint8_t out[100000], in[100000];
	struct bh_chan *s, *c;
	size_t sent = 0, got = 0;

	pair(4096, 4096, &s, &c);
	bh_chan_set_blocking(s, false);
	bh_chan_set_blocking(c, false);
	fill(out, sizeof(out), 3);
	while (got < sizeof(in)) {
		size_t chunk = 1 + (sent * 31) % 1500;
		if (chunk > sizeof(out) - sent)
			chunk = sizeof(out) - sent;
		ssize_t n = sent < sizeof(out) ? bh_chan_write(s, out + sent, chunk) : -EAGAIN;
		CU_ASSERT_FATAL(n > 0 || n == -EAGAIN);
		if (n > 0)
			sent += (size_t)n;
		CU_ASSERT(bh_chan_data_ready(c) <= 4096);
		n = bh_chan_read(c, in + got, 1 + got % 999);
		CU_ASSERT_FATAL(n > 0 || n == -EAGAIN);
		if (n > 0)
			got += (size_t)n;
	}
	CU_ASSERT_EQUAL(memcmp(in, out, sizeof(in)), 0);
	CU_ASSERT_EQUAL(bh_chan_read(c, in, 10), -EAGAIN);
	bh_chan_close(s);
	bh_chan_close(c);
}

static void test_messages(void)
{
	uint8_t msg[3000], buf[5000];
	struct bh_chan *s, *c;

	pair(4096, 4096, &s, &c);
	bh_chan_set_blocking(s, false);
	bh_chan_set_blocking(c, false);
	fill(msg, sizeof(msg), 9);
	CU_ASSERT_EQUAL(bh_chan_send(s, msg, 5000), -EMSGSIZE);
	CU_ASSERT_EQUAL(bh_chan_recv(c, buf, 5000), -EMSGSIZE);
	CU_ASSERT_EQUAL(bh_chan_recv(c, buf, 10), -EAGAIN);
	CU_ASSERT_EQUAL(bh_chan_send(s, msg, 3000), 3000);
	/* Not enough space for a second whole message: nothing is written. */
	CU_ASSERT_EQUAL(bh_chan_send(s, msg, 3000), -EAGAIN);
	CU_ASSERT_EQUAL(bh_chan_buffer_space(s), 1096);
	CU_ASSERT_EQUAL(bh_chan_recv(c, buf, 3001), -EAGAIN);
	CU_ASSERT_EQUAL(bh_chan_recv(c, buf, 1000), 1000);
	CU_ASSERT_EQUAL(bh_chan_recv(c, buf + 1000, 2000), 2000);
	CU_ASSERT_EQUAL(memcmp(buf, msg, 3000), 0);
	CU_ASSERT_EQUAL(bh_chan_send(s, msg, 3000), 3000); /* wraps */
	CU_ASSERT_EQUAL(bh_chan_recv(c, buf, 3000), 3000);
	CU_ASSERT_EQUAL(memcmp(buf, msg, 3000), 0);
	CU_ASSERT_EQUAL(bh_chan_send(s, msg, 0), 0);
	bh_chan_close(s);
	bh_chan_close(c);
}

static void test_close_eof(void)
{
	uint8_t buf[64];
	struct bh_chan *s, *c;

	pair(4096, 4096, &s, &c);
	CU_ASSERT_EQUAL(bh_chan_write(c, "hello world", 11), 11);
	bh_chan_close(c);
	CU_ASSERT_EQUAL(bh_chan_is_open(s), 0);
	/* Data written before the close is still there, then EOF (blocking mode). */
	CU_ASSERT_EQUAL(bh_chan_recv(s, buf, 20), -EPIPE);
	CU_ASSERT_EQUAL(bh_chan_recv(s, buf, 5), 5);
	CU_ASSERT_EQUAL(bh_chan_read(s, buf + 5, sizeof(buf)), 6);
	CU_ASSERT_EQUAL(memcmp(buf, "hello world", 11), 0);
	CU_ASSERT_EQUAL(bh_chan_read(s, buf, sizeof(buf)), 0);
	CU_ASSERT_EQUAL(bh_chan_recv(s, buf, 4), 0);
	CU_ASSERT_EQUAL(bh_chan_write(s, "x", 1), -EPIPE);
	CU_ASSERT_EQUAL(bh_chan_send(s, "x", 1), -EPIPE);
	CU_ASSERT_EQUAL(bh_chan_wait(s), 0);
	bh_chan_close(s);
	bh_chan_close(NULL);
}

static int poll_in(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void test_poll_fd(void)
{
	uint8_t buf[8192];
	struct bh_chan *s, *c;

	pair(4096, 4096, &s, &c);
	bh_chan_set_blocking(c, false);
	bh_chan_set_blocking(s, false);
	CU_ASSERT(bh_chan_fd(c) >= 0);
	/* The client's attach woke the server once; consume it. */
	CU_ASSERT_EQUAL(bh_chan_wait(s), 0);
	CU_ASSERT_EQUAL(bh_chan_read(c, buf, 1), -EAGAIN);
	CU_ASSERT_FALSE(poll_in(bh_chan_fd(c), 0));
	CU_ASSERT_EQUAL(bh_chan_write(s, "ab", 2), 2);
	CU_ASSERT_TRUE(poll_in(bh_chan_fd(c), 1000));
	CU_ASSERT_EQUAL(bh_chan_wait(c), 0);
	CU_ASSERT_EQUAL(bh_chan_read(c, buf, sizeof(buf)), 2);

	/* Writer side: fill the ring, -EAGAIN arms the space wake-up. */
	CU_ASSERT_EQUAL(bh_chan_write(s, buf, sizeof(buf)), 4096);
	CU_ASSERT_EQUAL(bh_chan_write(s, buf, 1), -EAGAIN);
	CU_ASSERT_FALSE(poll_in(bh_chan_fd(s), 0));
	/* The waiting writer is woken once half the ring is free, not per byte. */
	CU_ASSERT_EQUAL(bh_chan_read(c, buf, 100), 100);
	CU_ASSERT_FALSE(poll_in(bh_chan_fd(s), 0));
	CU_ASSERT_EQUAL(bh_chan_read(c, buf, 2000), 2000);
	CU_ASSERT_TRUE(poll_in(bh_chan_fd(s), 1000));
	CU_ASSERT_EQUAL(bh_chan_buffer_space(s), 2100);
	CU_ASSERT_EQUAL(bh_chan_wait(s), 0);
	CU_ASSERT_EQUAL(bh_chan_write(s, buf, sizeof(buf)), 2100);
	CU_ASSERT_EQUAL(bh_chan_write(s, buf, 1), -EAGAIN);
	CU_ASSERT_EQUAL(bh_chan_read(c, buf, 1000), 1000);
	CU_ASSERT_FALSE(poll_in(bh_chan_fd(s), 0));
	CU_ASSERT_EQUAL(bh_chan_read(c, buf, sizeof(buf)), 3096);
	CU_ASSERT_TRUE(poll_in(bh_chan_fd(s), 1000));
	bh_chan_close(s);
	/* Close wakes the peer's poll fd. */
	CU_ASSERT_TRUE(poll_in(bh_chan_fd(c), 1000));
	CU_ASSERT_EQUAL(bh_chan_is_open(c), 0);
	bh_chan_close(c);
}

/* A forked child attaches and is killed: the server notices through the socket. */
static void test_peer_killed(void)
{
	struct bh_chan *s;
	uint8_t buf[16];
	int sv[2], st;
	pid_t pid;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct bh_chan *c;
		close(sv[0]);
		if (bh_chan_memfd_client(sv[1], &c) < 0 || bh_chan_write(c, "last", 4) != 4)
			_exit(1);
		for (;;)
			pause();
	}
	close(sv[1]);
	CU_ASSERT_FATAL(bh_chan_memfd_server(sv[0], 4096, 4096, &s) == 0);
	CU_ASSERT_EQUAL(bh_chan_recv(s, buf, 4), 4);
	CU_ASSERT_EQUAL(bh_chan_is_open(s), 1);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	CU_ASSERT_EQUAL(bh_chan_is_open(s), 0);
	/* Blocking read returns EOF instead of sleeping forever. */
	CU_ASSERT_EQUAL(bh_chan_read(s, buf, sizeof(buf)), 0);
	CU_ASSERT_EQUAL(bh_chan_write(s, buf, 1), -EPIPE);
	bh_chan_close(s);
}

static void test_xen_args(void)
{
	struct bh_chan *c = NULL;
	struct bh_chan_addr a = { .backend = 99 };

	CU_ASSERT_EQUAL(bh_chan_xen_server(-1, "data/x", 4096, 4096, &c), -EINVAL);
	CU_ASSERT_EQUAL(bh_chan_xen_client(0x7ff0, "data/x", &c), -EINVAL);
	CU_ASSERT_EQUAL(bh_chan_xen_client(1, NULL, &c), -EINVAL);
	CU_ASSERT_EQUAL(bh_chan_client_open(&a, &c), -EINVAL);
	CU_ASSERT_EQUAL(bh_chan_server_open(&a, 1, 1, &c), -EINVAL);
	CU_ASSERT_EQUAL(bh_chan_memfd_client(-1, &c), -EINVAL);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_STRING_EQUAL(bh_chan_backend_name(BH_CHAN_XEN), "xen");
	/* Without Xen the client fails cleanly, with an errno and no channel. */
	if (access("/dev/xen/gntdev", F_OK) != 0) {
		CU_ASSERT(bh_chan_xen_client(1, "data/bulkhead/none", &c) < 0);
		CU_ASSERT_PTR_NULL(c);
	}
}

static const struct bh_test chan_tests[] = {
	{ "open and ring sizes", test_open_sizes },
	{ "stream wraps the ring", test_stream_wrap },
	{ "whole messages", test_messages },
	{ "close then EOF", test_close_eof },
	{ "poll fd", test_poll_fd },
	{ "peer killed", test_peer_killed },
	{ "xen arguments", test_xen_args },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "chan", chan_tests }, { NULL, NULL } };

	signal(SIGPIPE, SIG_IGN);
	return bh_test_main(suites);
}
