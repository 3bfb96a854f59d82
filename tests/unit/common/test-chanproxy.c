/* SPDX-License-Identifier: MIT */
/*
 * The channel <-> socket pump and proxy (bulkhead/chanproxy.h), on the memfd
 * backend: specs, a daemon-style unix socket reached over a channel in both
 * directions with every byte checked, the end of a session on either side,
 * a missing socket, stopping a proxy that never got a peer, and a xen
 * channel that cannot be advertised failing the start.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../bh-test.h"
#include "bulkhead/chanproxy.h"
#include "bulkhead/fdio.h"

#define BIG (8u << 20)
#define CHUNK (16u << 10)

/*
 * Client mode (a service domain reaching another's socket over xen): only a
 * xen spec; the socket exists once started; a connection whose channel
 * cannot be joined (no Xen here) is closed after the retries, not left
 * hanging; stopping removes the socket.
 */
static void test_client_mode(void)
{
	char dir[] = "/tmp/bh-cproxy-XXXXXX", path[64];
	struct bh_chanproxy *p = NULL;
	struct timespec t0, t1;
	char c;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/unseal.sock", dir);
	CU_ASSERT_EQUAL(bh_chanproxy_client_start("fd:3", path, &p), -EINVAL);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
	CU_ASSERT_EQUAL_FATAL(bh_chanproxy_client_start("xen:5:/local/domain/5/data/x", path, &p),
			      0);
	fd = bh_unix_connect(path, SOCK_STREAM);
	CU_ASSERT_FATAL(fd >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(read(fd, &c, 1), 0); /* closed: no channel to join */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CU_ASSERT(t1.tv_sec - t0.tv_sec < 20);
	close(fd);
	bh_chanproxy_stop(p);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
	rmdir(dir);
}

static void test_spec_parse(void)
{
	struct bh_chan_spec s;

	CU_ASSERT_EQUAL(bh_chan_spec_parse("fd:7", &s), 0);
	CU_ASSERT_EQUAL(s.backend, BH_CHAN_MEMFD);
	CU_ASSERT_EQUAL(s.fd, 7);
	CU_ASSERT_EQUAL(bh_chan_spec_parse("xen:3:data/bulkhead/ctl", &s), 0);
	CU_ASSERT_EQUAL(s.backend, BH_CHAN_XEN);
	CU_ASSERT_EQUAL(s.domid, 3);
	CU_ASSERT_STRING_EQUAL(s.xs_path, "data/bulkhead/ctl");
	CU_ASSERT_EQUAL(bh_chan_spec_parse("xen:0:/local/domain/5/x", &s), 0);
	CU_ASSERT_STRING_EQUAL(s.xs_path, "/local/domain/5/x");

	static const char *const bad[] = {
		"", "fd:", "fd:-1", "fd: 3", "fd:3x", "xen:", "xen:1", "xen:1:", "xen::p",
		"xen:32752:p", "xen:-1:p", "xen:1 :p", "memfd:3", "FD:3",
	};
	for (size_t i = 0; i < BH_ARRAY_SIZE(bad); i++) {
		s.backend = 0;
		CU_ASSERT_EQUAL(bh_chan_spec_parse(bad[i], &s), -EINVAL);
		CU_ASSERT_EQUAL(s.backend, 0); /* ret written only on success */
	}
	char longpath[400];
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "xen:1:", 6);
	longpath[sizeof(longpath) - 1] = '\0';
	CU_ASSERT_EQUAL(bh_chan_spec_parse(longpath, &s), -EINVAL);
}

static uint8_t pattern(size_t i, uint8_t seed)
{
	return (uint8_t)((i * 131u) ^ (i >> 9) ^ seed);
}

/*
 * A daemon on a unix socket (a thread running @fn), reached through a proxy
 * started with `fd:N` as dom0 starts daemons, and dom0's end of the channel.
 * @fn accepts on lfd and leaves its answer in result.
 */
struct fixture {
	char dir[32], path[64];
	int lfd;
	long result;
	pthread_t srv;
	struct bh_chanproxy *proxy;
	struct bh_chan *chan;
};

/* dom0's side of an fd:N proxy: the memfd server end, and the child's socket. */
static void make_memfd_pair(struct bh_chan **ret_chan, int *ret_child_sock)
{
	int sp[2];

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	CU_ASSERT_EQUAL_FATAL(bh_chan_memfd_server(sp[0], 64 << 10, 64 << 10, ret_chan), 0);
	*ret_child_sock = sp[1];
}

static void fixture_up(struct fixture *f, void *(*fn)(void *))
{
	char spec[32];
	int child;

	memset(f, 0, sizeof(*f));
	strcpy(f->dir, "/tmp/bh-chanproxy.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/ctl", f->dir);
	f->lfd = bh_unix_listen(f->path, SOCK_STREAM, 4);
	CU_ASSERT_FATAL(f->lfd >= 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&f->srv, NULL, fn, f), 0);
	make_memfd_pair(&f->chan, &child);
	snprintf(spec, sizeof(spec), "fd:%d", child);
	CU_ASSERT_EQUAL_FATAL(bh_chanproxy_start(spec, f->path, 0, &f->proxy), 0);
}

/* dom0 closes its end; the daemon thread finishes; everything goes. */
static void fixture_down(struct fixture *f)
{
	bh_chan_close(f->chan);
	pthread_join(f->srv, NULL);
	bh_chanproxy_stop(f->proxy);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
}

/* Answers one session by sending BIG bytes of pattern 0x5a while checking
 * BIG bytes of pattern 0xa5 it reads; result 1 if they checked out. */
static void *echo_srv_main(void *arg)
{
	struct fixture *f = arg;
	int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	uint8_t *out = malloc(BIG), *in = malloc(BIG);
	bool good = fd >= 0;

	for (size_t i = 0; i < BIG; i++)
		out[i] = pattern(i, 0x5a);
	/* Both directions in alternating chunks, so neither side has to buffer
	 * the whole stream. */
	for (size_t off = 0; off < BIG && good; off += CHUNK) {
		good &= bh_write_full(fd, out + off, CHUNK) == 0;
		good &= bh_read_full(fd, in + off, CHUNK) == CHUNK;
	}
	for (size_t i = 0; good && i < BIG; i++)
		good = in[i] == pattern(i, 0xa5);
	f->result = good;
	if (fd >= 0)
		close(fd);
	free(out);
	free(in);
	return NULL;
}

static void test_proxy_roundtrip(void)
{
	uint8_t *buf = malloc(BIG), *in = malloc(BIG);
	struct fixture f;
	bool good = true;

	fixture_up(&f, echo_srv_main);
	/* The same exchange the server does, from dom0's end of the channel. */
	for (size_t i = 0; i < BIG; i++)
		buf[i] = pattern(i, 0xa5);
	for (size_t off = 0; off < BIG && good; off += CHUNK) {
		CU_ASSERT_EQUAL(bh_chan_write(f.chan, buf + off, CHUNK), CHUNK);
		for (size_t got = 0; got < CHUNK;) {
			ssize_t n = bh_chan_read(f.chan, in + off + got, CHUNK - got);

			if (n <= 0) {
				good = false;
				break;
			}
			got += (size_t)n;
		}
	}
	for (size_t i = 0; good && i < BIG; i++)
		good = in[i] == pattern(i, 0x5a);
	CU_ASSERT(good);
	/* The server closed its socket: the proxy ends the session and the
	 * channel reports the end of the stream. */
	CU_ASSERT_EQUAL(bh_chan_read(f.chan, in, 1), 0);
	fixture_down(&f);
	CU_ASSERT_EQUAL(f.result, 1);
	free(buf);
	free(in);
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU the whole process spends while it waits @ms: nobody should be spinning. */
static double cpu_while_idle(long ms)
{
	const struct timespec nap = { 0, ms * 1000 * 1000 };
	double t0 = cpu_seconds();

	nanosleep(&nap, NULL);
	return cpu_seconds() - t0;
}

/* Write to @c without blocking until nothing has fit for 100 ms; returns the bytes written. */
static long fill(struct bh_chan *c)
{
	const struct timespec tick = { 0, 1000 * 1000 };
	static char buf[64 << 10];
	long sent = 0;

	bh_chan_set_blocking(c, false);
	for (int i = 0; i < 100; i++) {
		ssize_t n = bh_chan_write(c, buf, sizeof(buf));

		if (n > 0)
			sent += n, i = 0;
		nanosleep(&tick, NULL);
	}
	bh_chan_set_blocking(c, true);
	return sent;
}

/* Blocks until the proxy closes its end because dom0 closed the channel. */
static void *idle_srv_main(void *arg)
{
	struct fixture *f = arg;
	int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	char b;

	f->result = fd >= 0 && read(fd, &b, 1) == 0;
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* A connected session with nothing to carry costs no CPU (no busy poll), and
 * dom0 closing the channel reaches the daemon's socket as end of stream. */
static void test_proxy_idle(void)
{
	struct fixture f;

	fixture_up(&f, idle_srv_main);
	cpu_while_idle(300); /* connected by now */
	CU_ASSERT(cpu_while_idle(300) < 0.05);
	fixture_down(&f);
	CU_ASSERT_EQUAL(f.result, 1);
}

/* Reads nothing for a while (every buffer fills), then counts all it gets. */
static void *stall_srv_main(void *arg)
{
	const struct timespec nap = { 0, 400 * 1000 * 1000 };
	struct fixture *f = arg;
	int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	static char buf[64 << 10];
	ssize_t n;

	nanosleep(&nap, NULL);
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		f->result += n;
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Back-pressure: a daemon that does not read stalls the channel writer without
 * anyone spinning, and every byte arrives once it reads again. */
static void test_proxy_backpressure(void)
{
	static char buf[64 << 10];
	struct fixture f;
	long sent;

	fixture_up(&f, stall_srv_main);
	sent = fill(f.chan);
	CU_ASSERT(cpu_while_idle(100) < 0.03);
	for (int i = 0; i < 64; i++)
		CU_ASSERT_EQUAL(bh_chan_write(f.chan, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	sent += 64L * (long)sizeof(buf);
	fixture_down(&f);
	CU_ASSERT_EQUAL(f.result, sent);
}

/* Writes without reading until nothing more fits, then holds still. */
static void *flood_srv_main(void *arg)
{
	const struct timespec tick = { 0, 1000 * 1000 }, nap = { 0, 500 * 1000 * 1000 };
	struct fixture *f = arg;
	int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	static char buf[64 << 10];

	for (int i = 0; fd >= 0 && i < 100; i++) {
		if (send(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			i = 0;
		nanosleep(&tick, NULL);
	}
	nanosleep(&nap, NULL);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Both directions stalled at once (neither end reads): nobody spins. */
static void test_proxy_both_stalled(void)
{
	struct fixture f;

	fixture_up(&f, flood_srv_main);
	fill(f.chan);
	CU_ASSERT(cpu_while_idle(150) < 0.03);
	fixture_down(&f);
}

/* No socket to connect to: the proxy gives up and closes the channel. */
static void test_proxy_no_socket(void)
{
	struct bh_chanproxy *p = NULL;
	struct bh_chan *c = NULL;
	char spec[32], b;
	int child;

	make_memfd_pair(&c, &child);
	snprintf(spec, sizeof(spec), "fd:%d", child);
	CU_ASSERT_EQUAL_FATAL(bh_chanproxy_start(spec, "/nonexistent/bh-ctl", 0, &p), 0);
	CU_ASSERT_EQUAL(bh_chan_read(c, &b, 1), 0); /* blocks until the proxy closes */
	CU_ASSERT_EQUAL(bh_chan_is_open(c), 0);
	bh_chanproxy_stop(p);
	bh_chan_close(c);
}

/* A proxy whose peer never sets up the channel stops promptly. */
static void test_proxy_stop_idle(void)
{
	struct bh_chanproxy *p = NULL;
	char spec[32];
	int sp[2];

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	snprintf(spec, sizeof(spec), "fd:%d", sp[1]);
	CU_ASSERT_EQUAL_FATAL(bh_chanproxy_start(spec, "/nonexistent/bh-ctl", 0, &p), 0);
	bh_chanproxy_stop(p); /* would hang if the thread blocked in the memfd set-up */
	CU_ASSERT_EQUAL(bh_chanproxy_start("fd:x", "/x", 0, &p), -EINVAL);
	close(sp[0]);
}

/*
 * A xen channel that cannot be advertised (here: no Xen at all; on Xen, a
 * domain out of grants) fails the start. It used to start a thread that
 * logged the failure and served nothing, while the caller (stordomd's
 * CHAN_SERVE) answered that the channel was served.
 */
static void test_proxy_xen_unavailable(void)
{
	struct bh_chanproxy *p = NULL;

	if (access("/dev/xen/gntalloc", F_OK) == 0) {
		printf("(skipped: this host runs on Xen) ");
		return;
	}
	CU_ASSERT(bh_chanproxy_start("xen:1:data/bulkhead/test-unavailable", "/nonexistent/bh-ctl",
				     0, &p) < 0);
	CU_ASSERT_PTR_NULL(p);
	bh_chanproxy_stop(p);
}

/* The pump alone, on a socketpair: dom0 closing its socket ends the session
 * after everything it wrote went through. */
struct pump_arg {
	struct bh_chan *c;
	int fd;
	int r;
};

static void *pump_main(void *arg)
{
	struct pump_arg *a = arg;

	a->r = bh_chan_pump(a->c, a->fd, -1);
	return NULL;
}

static void test_pump_eof_flushes(void)
{
	struct bh_chan *srv = NULL, *cli = NULL;
	struct pump_arg a = { 0 };
	pthread_t th;
	int sp[2], fds[2];
	uint8_t *buf = malloc(BIG), *in = malloc(BIG);
	size_t got = 0;

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	CU_ASSERT_EQUAL_FATAL(bh_chan_memfd_server(sp[0], 4096, 4096, &srv), 0);
	CU_ASSERT_EQUAL_FATAL(bh_chan_memfd_client(sp[1], &cli), 0);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	a.c = cli, a.fd = fds[1];
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, pump_main, &a), 0);
	for (size_t i = 0; i < BIG; i++)
		buf[i] = pattern(i, 0x33);
	/* Write everything, then close: a 4 KiB ring forces many waits. */
	pid_t pid = fork();
	if (pid == 0) {
		_exit(bh_write_full(fds[0], buf, BIG) == 0 ? 0 : 1);
	}
	close(fds[0]);
	while (got < BIG) {
		ssize_t n = bh_chan_read(srv, in + got, BIG - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	CU_ASSERT_EQUAL(got, BIG);
	CU_ASSERT_EQUAL(memcmp(in, buf, BIG), 0);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(a.r, 0);
	bh_chan_close(cli);
	CU_ASSERT_EQUAL(bh_chan_read(srv, in, 1), 0);
	bh_chan_close(srv);
	close(fds[1]);
	int st = -1;
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(buf);
	free(in);
}

int main(void)
{
	static const struct bh_test tests[] = {
		{ "spec_parse", test_spec_parse },
		{ "client_mode", test_client_mode },
		{ "proxy_roundtrip", test_proxy_roundtrip },
		{ "proxy_idle", test_proxy_idle },
		{ "proxy_backpressure", test_proxy_backpressure },
		{ "proxy_both_stalled", test_proxy_both_stalled },
		{ "proxy_no_socket", test_proxy_no_socket },
		{ "proxy_stop_idle", test_proxy_stop_idle },
		{ "proxy_xen_unavailable", test_proxy_xen_unavailable },
		{ "pump_eof_flushes", test_pump_eof_flushes },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = { { "chanproxy", tests }, { NULL, NULL } };

	signal(SIGPIPE, SIG_IGN);
	return bh_test_main(suites);
}
