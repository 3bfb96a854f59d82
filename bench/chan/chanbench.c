/* SPDX-License-Identifier: MIT */
/*
 * Channel benchmark: the memfd channel side by side with a unix socketpair
 * and a pipe, in one run, two processes pinned to different CPUs.
 *
 *   chanbench stream TRANSPORT RING WSIZE MIB SAMPLES   median GB/s
 *   chanbench rtt TRANSPORT ITERS                       median 64 B round trip, us
 *   chanbench idle TRANSPORT SECS                       CPU ms of an idle pair
 *
 * TRANSPORT is chan, socketpair or pipe. Each prints one number on stdout;
 * run.sh compares them and prints the `bench ...` lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <bulkhead/chan.h>
#include <bulkhead/parse.h>

enum kind { CHAN, SOCKETPAIR, PIPE };

/* One end of a bidirectional transport. */
struct end {
	enum kind kind;
	struct bh_chan *chan;
	int rfd, wfd;
};

/* Before fork: the raw fds for both ends. */
struct link {
	enum kind kind;
	int a[2], b[2]; /* chan/socketpair: a[0]/b[0] are the socket ends; pipe: a = parent */
};

static void die(const char *what, int err)
{
	fprintf(stderr, "chanbench: %s: %s\n", what, strerror(err));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void link_new(enum kind k, struct link *l)
{
	int p1[2], p2[2];

	l->kind = k;
	if (k == PIPE) {
		if (pipe2(p1, O_CLOEXEC) < 0 || pipe2(p2, O_CLOEXEC) < 0)
			die("pipe", errno);
		/* parent reads p2, writes p1; child reads p1, writes p2 */
		l->a[0] = p2[0], l->a[1] = p1[1];
		l->b[0] = p1[0], l->b[1] = p2[1];
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p1) < 0)
		die("socketpair", errno);
	l->a[0] = l->a[1] = p1[0];
	l->b[0] = l->b[1] = p1[1];
}

/* Turn one side's fds into an end; @server is the parent's side. */
static void end_open(struct link *l, bool server, size_t ring, struct end *e)
{
	int *mine = server ? l->a : l->b, *other = server ? l->b : l->a;
	int r;

	close(other[0]);
	if (other[1] != other[0])
		close(other[1]);
	e->kind = l->kind;
	e->rfd = mine[0];
	e->wfd = mine[1];
	if (l->kind != CHAN)
		return;
	r = server ? bh_chan_memfd_server(mine[0], ring, ring, &e->chan)
		   : bh_chan_memfd_client(mine[0], &e->chan);
	if (r < 0)
		die("chan open", -r);
}

static ssize_t end_write(struct end *e, const void *buf, size_t len)
{
	size_t done = 0;

	if (e->kind == CHAN)
		return bh_chan_write(e->chan, buf, len);
	while (done < len) {
		ssize_t n = write(e->wfd, (const char *)buf + done, len - done);
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static ssize_t end_read(struct end *e, void *buf, size_t len)
{
	if (e->kind == CHAN)
		return bh_chan_read(e->chan, buf, len);
	ssize_t n = read(e->rfd, buf, len);
	return n < 0 ? -errno : n;
}

static int end_read_exact(struct end *e, void *buf, size_t len)
{
	size_t done = 0;

	if (e->kind == CHAN)
		return bh_chan_recv(e->chan, buf, len) == (ssize_t)len ? 0 : -EIO;
	while (done < len) {
		ssize_t n = end_read(e, (char *)buf + done, len - done);
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static void end_close(struct end *e)
{
	if (e->kind == CHAN) {
		bh_chan_close(e->chan);
		return;
	}
	close(e->rfd);
	if (e->wfd != e->rfd)
		close(e->wfd);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static pid_t child_or_die(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork", errno);
	return pid;
}

static int wait_child(pid_t pid)
{
	int st;

	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* ---- stream throughput --------------------------------------------------- */

static void stream_reader(struct end *e, size_t wsize, uint64_t total, int samples)
{
	uint8_t *buf = malloc(wsize);
	char ack = 'k';

	for (int s = 0; s < samples; s++) {
		for (uint64_t got = 0; got < total;) {
			ssize_t n = end_read(e, buf, wsize);
			if (n <= 0)
				exit(1);
			got += (uint64_t)n;
		}
		if (end_write(e, &ack, 1) != 1)
			exit(1);
	}
	free(buf);
}

static double bench_stream(enum kind k, size_t ring, size_t wsize, uint64_t total, int samples)
{
	uint8_t *buf = malloc(wsize);
	double v[64];
	struct link l;
	struct end e;
	char ack;
	pid_t pid;

	memset(buf, 0x5a, wsize);
	link_new(k, &l);
	pid = child_or_die();
	if (pid == 0) {
		pin(1);
		end_open(&l, false, ring, &e);
		stream_reader(&e, wsize, total, samples);
		end_close(&e);
		_exit(0);
	}
	pin(0);
	end_open(&l, true, ring, &e);
	for (int s = 0; s < samples; s++) {
		double t0 = now();
		for (uint64_t sent = 0; sent < total; sent += wsize)
			if (end_write(&e, buf, wsize) != (ssize_t)wsize)
				die("stream write", EIO);
		if (end_read_exact(&e, &ack, 1) < 0)
			die("stream ack", EIO);
		v[s] = (double)total / (now() - t0) / 1e9;
	}
	end_close(&e);
	free(buf);
	if (wait_child(pid))
		die("stream reader", EIO);
	return median(v, (size_t)samples);
}

/* ---- round trip ---------------------------------------------------------- */

static double bench_rtt(enum kind k, int iters)
{
	uint8_t msg[64] = { 1 };
	double *v = calloc((size_t)iters, sizeof(*v));
	struct link l;
	struct end e;
	pid_t pid;

	link_new(k, &l);
	pid = child_or_die();
	if (pid == 0) {
		pin(1);
		end_open(&l, false, 64 << 10, &e);
		for (int i = 0; i < iters + 100; i++)
			if (end_read_exact(&e, msg, sizeof(msg)) < 0 ||
			    end_write(&e, msg, sizeof(msg)) != sizeof(msg))
				_exit(1);
		end_close(&e);
		_exit(0);
	}
	pin(0);
	end_open(&l, true, 64 << 10, &e);
	for (int i = 0; i < iters + 100; i++) {
		double t0 = now();
		if (end_write(&e, msg, sizeof(msg)) != sizeof(msg) ||
		    end_read_exact(&e, msg, sizeof(msg)) < 0)
			die("rtt", EIO);
		if (i >= 100) /* the first 100 warm up */
			v[i - 100] = (now() - t0) * 1e6;
	}
	end_close(&e);
	if (wait_child(pid))
		die("rtt child", EIO);
	double m = median(v, (size_t)iters);
	free(v);
	return m;
}

/* ---- idle CPU ------------------------------------------------------------ */

static void on_usr1(int sig)
{
	(void)sig;
}

/* A side of the idle pair: block in a read until SIGUSR1, report CPU used. */
static void idle_side(struct link *l, bool server, int report)
{
	struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART: read returns -EINTR */
	struct end e;
	uint8_t b;
	double t0;

	sigaction(SIGUSR1, &sa, NULL);
	pin(server ? 0 : 1);
	end_open(l, server, 64 << 10, &e);
	t0 = cpu_now();
	ssize_t n = end_read(&e, &b, 1);
	if (n != -EINTR) {
		fprintf(stderr, "chanbench: idle read returned %zd\n", n);
		_exit(1);
	}
	t0 = cpu_now() - t0;
	if (write(report, &t0, sizeof(t0)) != sizeof(t0))
		_exit(1);
	/* Stay attached until the parent has both reports: closing would wake the peer. */
	for (;;)
		pause();
}

static double bench_idle(enum kind k, double secs)
{
	struct timespec ts = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };
	double sum = 0, d;
	int rep[2];
	struct link l;
	pid_t pid[2];

	if (pipe2(rep, O_CLOEXEC) < 0)
		die("pipe", errno);
	link_new(k, &l);
	for (int i = 0; i < 2; i++) {
		pid[i] = child_or_die();
		if (pid[i] == 0) {
			close(rep[0]);
			idle_side(&l, i == 0, rep[1]);
		}
	}
	close(rep[1]);
	/* The parent keeps no end: each child holds exactly one. */
	close(l.a[0]);
	close(l.b[0]);
	if (l.a[1] != l.a[0]) {
		close(l.a[1]);
		close(l.b[1]);
	}
	nanosleep(&ts, NULL);
	for (int i = 0; i < 2; i++)
		kill(pid[i], SIGUSR1);
	for (int i = 0; i < 2; i++) {
		if (read(rep[0], &d, sizeof(d)) != sizeof(d))
			die("idle report", EIO);
		sum += d;
	}
	for (int i = 0; i < 2; i++) {
		kill(pid[i], SIGTERM);
		waitpid(pid[i], NULL, 0);
	}
	close(rep[0]);
	return sum * 1e3;
}

/* ---- main ---------------------------------------------------------------- */

static enum kind parse_kind(const char *s)
{
	if (strcmp(s, "chan") == 0)
		return CHAN;
	if (strcmp(s, "socketpair") == 0)
		return SOCKETPAIR;
	if (strcmp(s, "pipe") == 0)
		return PIPE;
	fprintf(stderr, "chanbench: unknown transport '%s'\n", s);
	exit(2);
}

static uint64_t arg(const char *s, uint64_t max)
{
	uint64_t v;

	if (bh_parse_u64(s, 1, max, &v) < 0) {
		fprintf(stderr, "chanbench: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 7 && strcmp(argv[1], "stream") == 0)
		printf("%.2f\n", bench_stream(parse_kind(argv[2]), arg(argv[3], 1 << 22),
					      arg(argv[4], 1 << 20), arg(argv[5], 1 << 20) << 20,
					      (int)arg(argv[6], 64)));
	else if (argc == 4 && strcmp(argv[1], "rtt") == 0)
		printf("%.2f\n", bench_rtt(parse_kind(argv[2]), (int)arg(argv[3], 10000000)));
	else if (argc == 4 && strcmp(argv[1], "idle") == 0)
		printf("%.3f\n", bench_idle(parse_kind(argv[2]), (double)arg(argv[3], 60)));
	else {
		fprintf(stderr, "usage: chanbench stream|rtt|idle TRANSPORT ...\n");
		return 2;
	}
	return 0;
}
