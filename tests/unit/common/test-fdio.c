/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bh-test.h"
#include "bulkhead/fdio.h"

static void test_read_full_eof(void)
{
	int p[2];
	char buf[8];

	CU_ASSERT_EQUAL_FATAL(pipe2(p, O_CLOEXEC), 0);
	CU_ASSERT_EQUAL(write(p[1], "abc", 3), 3);
	close(p[1]);
	/* Part of the buffer, then EOF: -EPIPE. */
	CU_ASSERT_EQUAL(bh_read_full(p[0], buf, 8), -EPIPE);
	/* Nothing left: a clean EOF is 0. */
	CU_ASSERT_EQUAL(bh_read_full(p[0], buf, 8), 0);
	close(p[0]);
	CU_ASSERT_EQUAL(bh_read_full(-1, buf, 1), -EBADF);
}

/* A large buffer through a pipe forces short writes and reads. */
static void test_large_roundtrip(void)
{
	size_t len = 4 << 20;
	uint8_t *out = malloc(len), *in = malloc(len);
	int p[2];
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 131 + (i >> 13));
	CU_ASSERT_EQUAL_FATAL(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(bh_write_full(p[1], out, len) == 0 ? 0 : 1);
	}
	close(p[1]);
	CU_ASSERT_EQUAL(bh_read_full(p[0], in, len), (ssize_t)len);
	CU_ASSERT_EQUAL(memcmp(in, out, len), 0);
	close(p[0]);
	int st = 0;
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(out);
	free(in);
}

static void test_write_to_closed_peer(void)
{
	int sv[2];

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	close(sv[1]);
	CU_ASSERT_EQUAL(bh_write_full(sv[0], "x", 1), -EPIPE);
	close(sv[0]);
}

static void test_msg_roundtrip(void)
{
	struct bh_msg_ping ping = { 0xfeedull }, got = { 0 };
	uint8_t body[8], rbody[64];
	struct bh_msg_hdr h = { 0 };
	int sv[2];

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CU_ASSERT_EQUAL(bh_msg_ping_encode(&ping, body, sizeof(body)), 8);
	CU_ASSERT_EQUAL(bh_msg_write(sv[0], BH_MSG_PING, 0, 77, body, 8), 0);
	CU_ASSERT_EQUAL(bh_msg_write(sv[0], BH_MSG_READY, BH_MSGF_REPLY, 78, NULL, 0), 0);
	CU_ASSERT_EQUAL(bh_msg_read(sv[1], &h, rbody, sizeof(rbody)), 1);
	CU_ASSERT_EQUAL(h.type, BH_MSG_PING);
	CU_ASSERT_EQUAL(h.request_id, 77);
	CU_ASSERT_EQUAL(bh_msg_ping_decode(rbody, h.length, &got), 0);
	CU_ASSERT_EQUAL(got.token, 0xfeedull);
	CU_ASSERT_EQUAL(bh_msg_read(sv[1], &h, rbody, sizeof(rbody)), 1);
	CU_ASSERT_EQUAL(h.type, BH_MSG_READY);
	CU_ASSERT_EQUAL(h.flags, BH_MSGF_REPLY);
	CU_ASSERT_EQUAL(h.length, 0);
	/* Framing limits are enforced on the way out. */
	CU_ASSERT_EQUAL(bh_msg_write(sv[0], BH_MSG_PING, 0, 1, body, 7), -EMSGSIZE);
	CU_ASSERT_EQUAL(bh_msg_write(sv[0], 0x7777, 0, 1, body, 8), -EOPNOTSUPP);
	close(sv[0]);
	/* Clean close before a header. */
	CU_ASSERT_EQUAL(bh_msg_read(sv[1], &h, rbody, sizeof(rbody)), 0);
	close(sv[1]);
}

static void test_msg_read_rejects(void)
{
	struct bh_msg_hdr h = { 0 };
	uint8_t frame[64], body[8] = { 0 };
	int sv[2];
	long n;

	/* A body larger than the caller's buffer. */
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CU_ASSERT_EQUAL(bh_msg_write(sv[0], BH_MSG_PING, 0, 1, body, 8), 0);
	CU_ASSERT_EQUAL(bh_msg_read(sv[1], &h, body, 4), -EMSGSIZE);
	close(sv[0]);
	close(sv[1]);

	/* A bad header is refused before any body byte is read. */
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	n = bh_msg_frame(BH_MSG_PING, 0, 1, 1, body, 8, frame, sizeof(frame));
	CU_ASSERT_EQUAL(n, 24);
	frame[0] ^= 0xff;
	CU_ASSERT_EQUAL(bh_write_full(sv[0], frame, (size_t)n), 0);
	CU_ASSERT_EQUAL(bh_msg_read(sv[1], &h, body, sizeof(body)), -EBADMSG);
	close(sv[0]);
	close(sv[1]);

	/* The peer closes mid-body. */
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	frame[0] ^= 0xff;
	CU_ASSERT_EQUAL(bh_write_full(sv[0], frame, (size_t)n - 3), 0);
	close(sv[0]);
	CU_ASSERT_EQUAL(bh_msg_read(sv[1], &h, body, sizeof(body)), -EPIPE);
	close(sv[1]);
}

static void test_unix_sockets(void)
{
	char dir[] = "/tmp/bh-fdio-XXXXXX", path[128], longpath[200];
	int l, c, a;
	char b = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	l = bh_unix_listen(path, SOCK_STREAM, 4);
	CU_ASSERT_FATAL(l >= 0);
	c = bh_unix_connect(path, SOCK_STREAM);
	CU_ASSERT(c >= 0);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CU_ASSERT(a >= 0);
	CU_ASSERT_EQUAL(bh_write_full(c, "z", 1), 0);
	CU_ASSERT_EQUAL(bh_read_full(a, &b, 1), 1);
	CU_ASSERT_EQUAL(b, 'z');
	CU_ASSERT(fcntl(l, F_GETFD) & FD_CLOEXEC);
	CU_ASSERT(fcntl(c, F_GETFD) & FD_CLOEXEC);
	close(a);
	close(c);
	close(l);
	/* A stale socket file is replaced. */
	l = bh_unix_listen(path, SOCK_SEQPACKET, 4);
	CU_ASSERT(l >= 0);
	close(l);
	unlink(path);
	CU_ASSERT_EQUAL(bh_unix_connect(path, SOCK_STREAM), -ENOENT);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	CU_ASSERT_EQUAL(bh_unix_listen(longpath, SOCK_STREAM, 1), -ENAMETOOLONG);
	CU_ASSERT_EQUAL(bh_unix_connect("", SOCK_STREAM), -EINVAL);
	rmdir(dir);
}

static const struct bh_test fdio_tests[] = {
	{ "read_full: partial then EOF", test_read_full_eof },
	{ "4 MiB through a pipe", test_large_roundtrip },
	{ "write to a closed peer", test_write_to_closed_peer },
	{ "control message round trip", test_msg_roundtrip },
	{ "control message rejects", test_msg_read_rejects },
	{ "unix listen/connect", test_unix_sockets },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "fdio", fdio_tests }, { NULL, NULL } };

	signal(SIGPIPE, SIG_IGN);
	return bh_test_main(suites);
}
