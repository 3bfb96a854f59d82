/* SPDX-License-Identifier: MIT */
/*
 * Hostile-peer harness for the memfd channel: this test plays a malicious
 * server (or client) that builds its own set-up message and then writes
 * whatever it likes into the shared indices and ring bytes. The honest side
 * must never read or write out of bounds (its rings have guard pages, so it
 * would fault), never spin forever, and fail with -EPROTO.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <bulkhead/chan.h>

#include "../bh-test.h"

#define START BH_CHAN_MEMFD_START

/* The malicious end's view of the shared memory. */
struct evil {
	int sock, memfd, evt[2];
	uint8_t *map;
	size_t len;
	struct bh_chan_memfd_ctl *ctl;
	uint8_t *ring[2];
	uint32_t size[2];
	struct bh_chan *honest;
};

/* How to spoil the set-up message. */
struct spoil {
	uint32_t magic, version, size[2];
	int nfds;	  /* fds actually sent */
	long size_delta;  /* file size minus the right one */
	bool no_seal;	  /* leave the memfd unsealed */
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void send_setup(int sock, const struct spoil *sp, const int fds[4])
{
	struct bh_chan_memfd_hello h = { sp->magic, sp->version, { sp->size[0], sp->size[1] } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u = { 0 };
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (sp->nfds) {
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)sp->nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)sp->nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)sp->nfds);
	}
	CU_ASSERT_FATAL(sendmsg(sock, &msg, 0) == sizeof(h));
}

/* Build a (possibly spoiled) server by hand; returns bh_chan_memfd_client()'s result. */
static int evil_server(struct evil *e, const struct spoil *sp)
{
	int sv[2], r;
	size_t right = BH_CHAN_MEMFD_CTL_SIZE + (size_t)sp->size[0] + sp->size[1];

	memset(e, 0, sizeof(*e));
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	e->sock = sv[0];
	e->memfd = memfd_create("evil", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	e->len = (size_t)((long)right + sp->size_delta);
	CU_ASSERT_FATAL(e->memfd >= 0 && ftruncate(e->memfd, (off_t)e->len) == 0);
	if (!sp->no_seal)
		CU_ASSERT_FATAL(fcntl(e->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
	e->evt[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->evt[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->map = mmap(NULL, e->len, PROT_READ | PROT_WRITE, MAP_SHARED, e->memfd, 0);
	CU_ASSERT_FATAL(e->map != MAP_FAILED);
	e->ctl = (struct bh_chan_memfd_ctl *)e->map;
	e->ctl->magic = BH_CHAN_MEMFD_MAGIC;
	for (int i = 0; i < 2; i++)
		e->ctl->ring[i].prod = e->ctl->ring[i].cons = START;
	e->size[0] = sp->size[0];
	e->size[1] = sp->size[1];
	e->ring[0] = e->map + BH_CHAN_MEMFD_CTL_SIZE;
	e->ring[1] = e->ring[0] + sp->size[0];
	send_setup(e->sock, sp, (int[]){ e->memfd, e->evt[0], e->evt[1], e->evt[0] });
	r = bh_chan_memfd_client(sv[1], &e->honest);
	if (r < 0)
		close(sv[1]);
	return r;
}

static void evil_free(struct evil *e)
{
	bh_chan_close(e->honest);
	munmap(e->map, e->len);
	close(e->memfd);
	close(e->evt[0]);
	close(e->evt[1]);
	close(e->sock);
}

static const struct spoil good = { BH_CHAN_MEMFD_MAGIC, BH_CHAN_MEMFD_VERSION, { 4096, 4096 }, 3 };

static void test_bad_setup(void)
{
	struct spoil bad[] = { good, good, good, good, good, good, good, good, good, good };
	struct evil e;
	int before = count_fds();

	bad[0].magic = 0;
	bad[1].version = 2;
	bad[2].size[0] = 3000;
	bad[3].size[1] = 8 << 20;
	bad[4].size[0] = 12288;
	bad[5].nfds = 2;
	bad[6].nfds = 4;
	bad[7].nfds = 0;
	bad[8].size_delta = -4096;
	bad[9].no_seal = true;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(evil_server(&e, &bad[i]), -EPROTO);
		CU_ASSERT_PTR_NULL(e.honest);
		evil_free(&e);
		CU_ASSERT_EQUAL(count_fds(), before); /* every received fd closed */
	}
	CU_ASSERT_EQUAL(evil_server(&e, &good), 0);
	CU_ASSERT_EQUAL(bh_chan_is_open(e.honest), 1);
	evil_free(&e);
	CU_ASSERT_EQUAL(count_fds(), before);
}

/* Set the peer-owned index of ring @i (prod of ring 0 or cons of ring 1). */
static void set_idx(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void expect_dead(struct bh_chan *c)
{
	uint8_t b[8];

	CU_ASSERT_EQUAL(bh_chan_error(c), -EPROTO);
	CU_ASSERT_EQUAL(bh_chan_is_open(c), 0);
	CU_ASSERT_EQUAL(bh_chan_read(c, b, 1), -EPROTO);
	CU_ASSERT_EQUAL(bh_chan_write(c, b, 1), -EPROTO);
	CU_ASSERT_EQUAL(bh_chan_wait(c), -EPROTO);
	CU_ASSERT_EQUAL(bh_chan_data_ready(c), 0);
}

static void test_prod_beyond_size(void)
{
	uint32_t bad[] = { START + 4097, START - 1, START + 0x80000000u, 0 };
	uint8_t buf[8192];
	struct evil e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_FATAL(evil_server(&e, &good) == 0);
		set_idx(&e.ctl->ring[0].prod, bad[i]);
		CU_ASSERT_EQUAL(bh_chan_read(e.honest, buf, sizeof(buf)), -EPROTO);
		expect_dead(e.honest);
		evil_free(&e);
	}
}

static void test_prod_backwards(void)
{
	uint8_t buf[64];
	struct evil e;

	CU_ASSERT_FATAL(evil_server(&e, &good) == 0);
	bh_chan_set_blocking(e.honest, false);
	set_idx(&e.ctl->ring[0].prod, START + 100);
	CU_ASSERT_EQUAL(bh_chan_read(e.honest, buf, 10), 10);
	set_idx(&e.ctl->ring[0].prod, START + 50); /* retracts data it published */
	CU_ASSERT_EQUAL(bh_chan_read(e.honest, buf, 10), -EPROTO);
	expect_dead(e.honest);
	evil_free(&e);
}

/* Legitimate traffic across the 32-bit wrap of the indices is fine. */
static void test_wrap(void)
{
	uint8_t buf[4096];
	struct evil e;
	uint32_t prod = START;

	CU_ASSERT_FATAL(evil_server(&e, &good) == 0);
	bh_chan_set_blocking(e.honest, false);
	for (int round = 0; round < 40; round++) {
		for (uint32_t i = 0; i < 3001; i++)
			e.ring[0][(prod + i) & 4095] = (uint8_t)(round + i);
		prod += 3001;
		set_idx(&e.ctl->ring[0].prod, prod);
		CU_ASSERT_EQUAL_FATAL(bh_chan_recv(e.honest, buf, 3001), 3001);
		for (uint32_t i = 0; i < 3001; i++)
			CU_ASSERT_EQUAL_FATAL(buf[i], (uint8_t)(round + i));
		CU_ASSERT_EQUAL(__atomic_load_n(&e.ctl->ring[0].cons, __ATOMIC_ACQUIRE), prod);
	}
	CU_ASSERT((uint32_t)(prod - START) > (0u - START)); /* we did cross zero */
	CU_ASSERT_EQUAL(bh_chan_error(e.honest), 0);
	evil_free(&e);
}

static void test_cons_bogus(void)
{
	uint8_t buf[256] = { 0 };
	struct evil e;

	/* The consumer frees more than we produced. */
	CU_ASSERT_FATAL(evil_server(&e, &good) == 0);
	bh_chan_set_blocking(e.honest, false);
	CU_ASSERT_EQUAL(bh_chan_write(e.honest, buf, 100), 100);
	set_idx(&e.ctl->ring[1].cons, START + 200);
	CU_ASSERT_EQUAL(bh_chan_write(e.honest, buf, 10), -EPROTO);
	expect_dead(e.honest);
	evil_free(&e);

	/* The consumer goes backwards. */
	CU_ASSERT_FATAL(evil_server(&e, &good) == 0);
	bh_chan_set_blocking(e.honest, false);
	CU_ASSERT_EQUAL(bh_chan_write(e.honest, buf, 100), 100);
	set_idx(&e.ctl->ring[1].cons, START + 50);
	CU_ASSERT_EQUAL(bh_chan_buffer_space(e.honest), 4096 - 50);
	set_idx(&e.ctl->ring[1].cons, START + 40);
	CU_ASSERT_EQUAL(bh_chan_send(e.honest, buf, 10), -EPROTO);
	expect_dead(e.honest);
	evil_free(&e);
}

struct flipper {
	struct evil *e;
	volatile bool stop;
	bool plausible; /* only values that look valid on their own */
};

static void *flip(void *arg)
{
	struct flipper *f = arg;
	uint64_t x = 88172645463325252ull;

	while (!f->stop) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t v = f->plausible ? START + (uint32_t)(x % 4097) : (uint32_t)x;
		set_idx(&f->e->ctl->ring[0].prod, v);
		set_idx(&f->e->ctl->ring[1].cons, f->plausible ? START : (uint32_t)(x >> 32));
		f->e->ring[0][(x >> 20) & 4095] = (uint8_t)x;
		f->e->ctl->ring[0].cons_wait = (uint32_t)(x >> 40);
		/* Ring the doorbell too, or a blocked honest reader rightly sleeps on. */
		if ((x & 255) == 0) {
			uint64_t one = 1;
			(void)!write(f->e->evt[1], &one, sizeof(one));
		}
	}
	return NULL;
}

/* Indices flipping while the honest side reads, non-blocking and blocking. */
static void test_flipping(void)
{
	uint8_t buf[4096];

	for (int mode = 0; mode < 4; mode++) {
		struct evil e;
		struct flipper f = { &e, false, mode & 1 };
		pthread_t t;
		ssize_t r = 0;

		CU_ASSERT_FATAL(evil_server(&e, &good) == 0);
		bh_chan_set_blocking(e.honest, mode < 2);
		CU_ASSERT_FATAL(pthread_create(&t, NULL, flip, &f) == 0);
		for (long i = 0; i < 10000000 && r != -EPROTO; i++) {
			r = bh_chan_read(e.honest, buf, 1 + (size_t)(i % sizeof(buf)));
			CU_ASSERT_FATAL(r == -EPROTO || r == -EAGAIN || (r > 0 && r <= 4096));
			if (i % 3 == 0)
				CU_ASSERT(bh_chan_data_ready(e.honest) <= 4096);
		}
		f.stop = true;
		pthread_join(t, NULL);
		CU_ASSERT_EQUAL(r, -EPROTO);
		expect_dead(e.honest);
		evil_free(&e);
	}
}

static void on_alarm(int sig)
{
	(void)sig;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A peer that never writes, only rings the doorbell: we sleep, not spin. */
static void test_no_spin(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { 0, 300000 } };
	uint64_t one = 1;
	uint8_t b;
	struct evil e;
	double t0;

	CU_ASSERT_FATAL(evil_server(&e, &good) == 0);
	sigaction(SIGALRM, &sa, NULL);
	for (int i = 0; i < 100; i++) /* saturate our doorbell a bit */
		CU_ASSERT(write(e.evt[1], &one, sizeof(one)) == sizeof(one));
	t0 = cpu_s();
	setitimer(ITIMER_REAL, &it, NULL);
	CU_ASSERT_EQUAL(bh_chan_read(e.honest, &b, 1), -EINTR);
	CU_ASSERT(cpu_s() - t0 < 0.1);
	CU_ASSERT_EQUAL(bh_chan_error(e.honest), 0);
	evil_free(&e);
}

/* The roles reversed: an honest server and a client that frees too much. */
static void test_evil_client(void)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 3)];
		struct cmsghdr align;
	} u;
	struct bh_chan_memfd_hello h;
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct bh_chan *s;
	int sv[2], fds[3];
	uint8_t buf[16] = { 0 };

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CU_ASSERT_FATAL(bh_chan_memfd_server(sv[0], 4096, 4096, &s) == 0);
	CU_ASSERT_FATAL(recvmsg(sv[1], &msg, MSG_CMSG_CLOEXEC) == sizeof(h));
	memcpy(fds, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(fds));
	size_t len = BH_CHAN_MEMFD_CTL_SIZE + h.ring_size[0] + h.ring_size[1];
	struct bh_chan_memfd_ctl *ctl =
		mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	CU_ASSERT_FATAL(ctl != MAP_FAILED);
	ctl->cli_state = 0x5a5a; /* garbage state: counts as attached */
	CU_ASSERT_EQUAL(bh_chan_is_open(s), 1);
	bh_chan_set_blocking(s, false);
	CU_ASSERT_EQUAL(bh_chan_write(s, buf, 16), 16);
	set_idx(&ctl->ring[0].cons, START + 17);
	CU_ASSERT_EQUAL(bh_chan_write(s, buf, 16), -EPROTO);
	expect_dead(s);
	bh_chan_close(s);
	munmap(ctl, len);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	close(sv[1]);
}

static const struct bh_test chan_hostile_tests[] = {
	{ "spoiled set-up is refused, fds closed", test_bad_setup },
	{ "prod beyond the ring", test_prod_beyond_size },
	{ "prod going backwards", test_prod_backwards },
	{ "legitimate 32-bit wrap", test_wrap },
	{ "cons beyond prod or backwards", test_cons_bogus },
	{ "indices flipping during reads", test_flipping },
	{ "doorbell spam does not make us spin", test_no_spin },
	{ "hostile client, honest server", test_evil_client },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "chan-hostile", chan_hostile_tests }, { NULL, NULL } };

	signal(SIGPIPE, SIG_IGN);
	return bh_test_main(suites);
}
