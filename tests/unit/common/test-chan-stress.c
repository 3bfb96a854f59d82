/* SPDX-License-Identifier: MIT */
/*
 * Two-process channel tests over fork+exec (helper-chan-peer):
 *  - stress: BH_CHAN_STRESS_MIB MiB each way at once (default 1024), random
 *    write and read sizes, every byte checked against the sender's stream;
 *  - a peer killed mid-transfer, as writer and as reader: the survivor reads
 *    what was sent, then EOF / -EPIPE, and never hangs.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <bulkhead/chan.h>
#include <bulkhead/parse.h>

#include "../bh-test.h"

static char helper[PATH_MAX];

/* The helper sits next to this test binary. */
static int find_helper(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -1;
	self[n] = 0;
	snprintf(helper, sizeof(helper), "%s/helper-chan-peer", dirname(self));
	return access(helper, X_OK);
}

/* fork+exec the helper with @fd inherited (the rest stays close-on-exec). */
static pid_t spawn(int fd, const char *role, const char *mode, const char *a1, const char *a2,
		   const char *a3)
{
	pid_t pid = fork();

	if (pid == 0) {
		char fdstr[16];
		snprintf(fdstr, sizeof(fdstr), "%d", fd);
		fcntl(fd, F_SETFD, 0);
		execl(helper, helper, fdstr, role, mode, a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int exit_code(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_stress(void)
{
	uint64_t mib = 1024;
	const char *env = getenv("BH_CHAN_STRESS_MIB");
	char bytes[32];
	int sv[2];
	double t0 = now(), dt;

	if (env)
		CU_ASSERT_FATAL(bh_parse_u64(env, 1, 1 << 20, &mib) == 0);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)(mib << 20));
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	pid_t a = spawn(sv[0], "server", "stress", bytes, "11", "22");
	pid_t b = spawn(sv[1], "client", "stress", bytes, "22", "11");
	close(sv[0]);
	close(sv[1]);
	CU_ASSERT_EQUAL(exit_code(a), 0);
	CU_ASSERT_EQUAL(exit_code(b), 0);
	dt = now() - t0;
	printf("\n  stress: %llu MiB each way in %.2f s (%.2f GB/s each way)\n",
	       (unsigned long long)mib, dt, (double)(mib << 20) / dt / 1e9);
}

static void test_writer_killed(void)
{
	static uint8_t buf[65536];
	struct bh_chan *s;
	uint64_t total = 0;
	ssize_t n;
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	pid_t pid = spawn(sv[1], "client", "flood", NULL, NULL, NULL);
	close(sv[1]);
	CU_ASSERT_FATAL(bh_chan_memfd_server(sv[0], 1 << 20, 4096, &s) == 0);
	while (total < (64u << 20) && (n = bh_chan_read(s, buf, sizeof(buf))) > 0)
		total += (uint64_t)n;
	CU_ASSERT_EQUAL(total, 64u << 20);
	kill(pid, SIGKILL);
	/* The rest of the ring drains, then EOF: at most one ring's worth. */
	uint64_t after = 0;
	while ((n = bh_chan_read(s, buf, sizeof(buf))) > 0)
		after += (uint64_t)n;
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT(after <= (1u << 20));
	CU_ASSERT_EQUAL(bh_chan_is_open(s), 0);
	CU_ASSERT_EQUAL(exit_code(pid), 128 + SIGKILL);
	bh_chan_close(s);
}

static void test_reader_killed(void)
{
	static uint8_t buf[1 << 20];
	struct bh_chan *s;
	ssize_t n = 0;
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	pid_t pid = spawn(sv[1], "client", "sink", NULL, NULL, NULL);
	close(sv[1]);
	CU_ASSERT_FATAL(bh_chan_memfd_server(sv[0], 4096, 64 << 10, &s) == 0);
	for (int i = 0; i < 32; i++)
		CU_ASSERT_EQUAL(bh_chan_write(s, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	kill(pid, SIGKILL);
	/* A blocking writer with nobody reading gets -EPIPE, not a hang. */
	for (int i = 0; i < 64 && n >= 0; i++)
		n = bh_chan_write(s, buf, sizeof(buf));
	CU_ASSERT_EQUAL(n, -EPIPE);
	CU_ASSERT_EQUAL(exit_code(pid), 128 + SIGKILL);
	bh_chan_close(s);
}

static const struct bh_test chan_stress_tests[] = {
	{ "1 GiB each way, two processes", test_stress },
	{ "writer killed mid-transfer", test_writer_killed },
	{ "reader killed mid-transfer", test_reader_killed },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = {
		{ "chan-stress", chan_stress_tests },
		{ NULL, NULL },
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(600); /* a hang is a failure, not a stuck CI job */
	if (find_helper() < 0) {
		fprintf(stderr, "helper-chan-peer not found next to the test\n");
		return 1;
	}
	return bh_test_main(suites);
}
