/* SPDX-License-Identifier: MIT */
/*
 * xen-chan-stress: prove chan-xen.c between two real Xen domains.
 *
 * Runs in dom0 (server) and in a PV domU (client), linked statically so the
 * domU image needs no shared libraries. It talks only through bulkhead's
 * channel API (bulkhead/chan.h), so what it proves is our backend, not
 * libxenvchan alone. The one exception is the permission probe, which reads
 * xenstore directly to check that the refusal is EACCES and not some other
 * failure.
 *
 *   server --peer DOMID --path P [--bytes N] [--reconnect-bytes N] [--ring N]
 *	round 1: N bytes each way at once, checksummed;
 *	round 2: the client kills itself mid-transfer; the server must see the
 *		 peer die (not hang) and re-advertise the same path;
 *	round 3: a new client process reconnects and moves --reconnect-bytes.
 *   client --path P --round R --bytes N [--die-after N] [--server DOMID]
 *	one client round; retries the connection until the server is there.
 *   hold --peer DOMID --path P --seconds S
 *	advertise a channel for another domain and keep it open for S seconds.
 *   deny --path P [--server DOMID]
 *	the calling domain must NOT be able to open or even read P.
 *   probe --path P [--server DOMID]
 *	the calling domain must be able to read P (control for deny).
 *
 * Progress lines start with "BH-NESTED: " (the marker the host-side script
 * checks) in dom0, "BH-NESTED-DOMU: " in the domU. Every phase is bounded by
 * --timeout (alarm): a hang exits 124 and names the phase.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>

#include "bulkhead/chan.h"
#include "bulkhead/parse.h"
#include "bulkhead/util.h"

#define HELLO_MAGIC 0x42485354u	  /* "BHST" */
#define TRAILER_MAGIC 0x42484e44u /* "BHND" */
#define BLOCK 65536

/* First message each way: who we are and what we are about to send. */
struct hello {
	uint32_t magic;
	uint32_t round;
	uint64_t bytes;
};

/* Last message each way: checksum of everything the sender sent. */
struct trailer {
	uint32_t magic;
	uint32_t pad;
	uint64_t fnv;
};

struct opts {
	const char *mode;
	const char *path;
	int peer;   /* server: the client domain */
	int server; /* client: the server domain */
	uint32_t round;
	uint64_t bytes;
	uint64_t reconnect_bytes;
	uint64_t die_after;
	uint64_t ring;
	uint32_t seconds;
	uint32_t timeout;
};

static const char *prefix = "BH-NESTED";
static const char *volatile phase = "start";

static void on_alarm(int sig)
{
	char buf[160];
	int n;

	(void)sig;
	n = snprintf(buf, sizeof(buf), "%s: TIMEOUT in phase '%s'\n", prefix, phase);
	if (n > 0 && write(STDOUT_FILENO, buf, (size_t)n) < 0)
		_exit(125);
	_exit(124);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A stream nobody can guess in advance: xorshift64* seeded per round and direction. */
struct prng {
	uint64_t s;
};

static void prng_seed(struct prng *p, uint32_t round, int dir)
{
	p->s = 0x9e3779b97f4a7c15ull ^ ((uint64_t)round << 32) ^ (uint64_t)(dir + 1);
}

static void prng_fill(struct prng *p, uint8_t *buf, size_t len)
{
	size_t i;

	/* len is always a multiple of 8 (BLOCK-sized fills). */
	for (i = 0; i < len; i += 8) {
		uint64_t v;

		p->s ^= p->s >> 12;
		p->s ^= p->s << 25;
		p->s ^= p->s >> 27;
		v = p->s * 0x2545f4914f6cdd1dull;
		memcpy(buf + i, &v, 8);
	}
}

static uint64_t fnv1a(uint64_t h, const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= buf[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

/* One direction's state: the expected stream, its position and checksum. */
struct side {
	struct prng prng;
	uint8_t block[BLOCK];
	size_t off;   /* bytes of block[] used */
	size_t avail; /* bytes of block[] generated */
	uint64_t done;
	uint64_t fnv;
};

static void side_init(struct side *s, uint32_t round, int dir)
{
	prng_seed(&s->prng, round, dir);
	s->off = s->avail = 0;
	s->done = 0;
	s->fnv = FNV_INIT;
}

/* Make sure at least one byte of the stream is generated and unused. */
static void side_refill(struct side *s)
{
	if (s->off < s->avail)
		return;
	prng_fill(&s->prng, s->block, BLOCK);
	s->off = 0;
	s->avail = BLOCK;
}

struct xfer {
	struct side tx, rx;
	struct prng sizes; /* odd write/read sizes, so ring wrap-around is hit at every offset */
	uint64_t total;
	uint64_t die_after;
	uint8_t buf[BLOCK];
};

/* 1..BLOCK bytes, mostly small, sometimes whole blocks. */
static size_t random_len(struct prng *p)
{
	uint64_t v;

	prng_fill(p, (uint8_t *)&v, sizeof(v));
	return 1 + (size_t)((v >> 8) % ((size_t)1 << (v % 17)));
}

/* Send what fits now. Returns bytes moved (0 if none), or -errno. */
static ssize_t xfer_send(struct bh_chan *c, struct xfer *x)
{
	size_t len, want;
	ssize_t n;

	if (x->tx.done == x->total)
		return 0;
	side_refill(&x->tx);
	len = x->tx.avail - x->tx.off;
	want = random_len(&x->sizes);
	if (len > want)
		len = want;
	if (len > x->total - x->tx.done)
		len = (size_t)(x->total - x->tx.done);
	n = bh_chan_write(c, x->tx.block + x->tx.off, len);
	if (n == -EAGAIN)
		return 0;
	if (n < 0)
		return n;
	x->tx.fnv = fnv1a(x->tx.fnv, x->tx.block + x->tx.off, (size_t)n);
	x->tx.off += (size_t)n;
	x->tx.done += (uint64_t)n;
	return n;
}

/* Check @len received bytes against the expected stream. */
static int xfer_check(struct xfer *x, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		size_t k;

		side_refill(&x->rx);
		k = x->rx.avail - x->rx.off;
		if (k > len)
			k = len;
		if (memcmp(buf, x->rx.block + x->rx.off, k) != 0) {
			printf("%s: data mismatch near byte %" PRIu64 "\n", prefix, x->rx.done);
			return -EBADMSG;
		}
		x->rx.fnv = fnv1a(x->rx.fnv, buf, k);
		x->rx.off += k;
		x->rx.done += k;
		buf += k;
		len -= k;
	}
	return 0;
}

/* Receive what is there now. Returns bytes moved (0 if none), or -errno. */
static ssize_t xfer_recv(struct bh_chan *c, struct xfer *x)
{
	size_t len = random_len(&x->sizes);
	ssize_t n;
	int r;

	if (x->rx.done == x->total)
		return 0;
	if (len > x->total - x->rx.done)
		len = (size_t)(x->total - x->rx.done);
	n = bh_chan_read(c, x->buf, len);
	if (n == -EAGAIN)
		return 0;
	if (n == 0)
		return -EPIPE; /* peer closed before sending everything */
	if (n < 0)
		return n;
	r = xfer_check(x, x->buf, (size_t)n);
	if (r < 0)
		return r;
	if (x->die_after && x->rx.done >= x->die_after) {
		/* Die the hard way: no close, so the peer learns it from the kernel. */
		printf("%s: dying on purpose after %" PRIu64 " bytes\n", prefix, x->rx.done);
		fflush(stdout);
		kill(getpid(), SIGKILL);
	}
	return n;
}

/* Both directions at once, non-blocking, sleeping in bh_chan_wait(). */
static int xfer_run(struct bh_chan *c, struct xfer *x)
{
	bh_chan_set_blocking(c, false);
	while (x->tx.done < x->total || x->rx.done < x->total) {
		ssize_t s, r;
		int w;

		s = xfer_send(c, x);
		if (s < 0)
			return (int)s;
		r = xfer_recv(c, x);
		if (r < 0)
			return (int)r;
		if (s > 0 || r > 0)
			continue;
		w = bh_chan_wait(c);
		if (w < 0)
			return w;
	}
	bh_chan_set_blocking(c, true);
	return 0;
}

static int send_all(struct bh_chan *c, const void *buf, size_t len)
{
	ssize_t n = bh_chan_send(c, buf, len);

	if (n < 0)
		return (int)n;
	return n == (ssize_t)len ? 0 : -EIO;
}

static int recv_all(struct bh_chan *c, void *buf, size_t len)
{
	ssize_t n = bh_chan_recv(c, buf, len);

	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return (int)n;
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Exchange hellos: both sides must agree on the round and the byte count. */
static int handshake(struct bh_chan *c, uint32_t round, uint64_t bytes)
{
	struct hello mine = { HELLO_MAGIC, round, bytes }, untrusted_theirs;
	int r;

	phase = "handshake";
	r = send_all(c, &mine, sizeof(mine));
	if (r < 0)
		return r;
	r = recv_all(c, &untrusted_theirs, sizeof(untrusted_theirs));
	if (r < 0)
		return r;
	if (untrusted_theirs.magic != HELLO_MAGIC || untrusted_theirs.round != round ||
	    untrusted_theirs.bytes != bytes) {
		printf("%s: bad hello: magic %#x round %u bytes %" PRIu64 "\n", prefix,
		       untrusted_theirs.magic, untrusted_theirs.round, untrusted_theirs.bytes);
		return -EPROTO;
	}
	return 0;
}

/* Swap checksums of what each side sent; each compares with what it received. */
static int trailers(struct bh_chan *c, const struct xfer *x)
{
	struct trailer mine = { TRAILER_MAGIC, 0, x->tx.fnv }, untrusted_theirs;
	int r;

	phase = "trailer";
	r = send_all(c, &mine, sizeof(mine));
	if (r < 0)
		return r;
	r = recv_all(c, &untrusted_theirs, sizeof(untrusted_theirs));
	if (r < 0)
		return r;
	if (untrusted_theirs.magic != TRAILER_MAGIC || untrusted_theirs.fnv != x->rx.fnv) {
		printf("%s: checksum mismatch: peer sent %016" PRIx64 ", we got %016" PRIx64 "\n",
		       prefix, untrusted_theirs.fnv, x->rx.fnv);
		return -EBADMSG;
	}
	return 0;
}

/*
 * One full exchange on a connected channel. is_server picks the stream
 * directions so the two ends generate complementary streams.
 */
static int exchange(struct bh_chan *c, bool is_server, uint32_t round, uint64_t bytes,
		    uint64_t die_after)
{
	_cleanup_free_ struct xfer *x = calloc(1, sizeof(*x));
	double t0;
	int r;

	if (!x)
		return -ENOMEM;
	r = handshake(c, round, bytes);
	if (r < 0)
		return r;
	side_init(&x->tx, round, is_server ? 0 : 1);
	side_init(&x->rx, round, is_server ? 1 : 0);
	prng_seed(&x->sizes, round, is_server ? 2 : 3);
	x->total = bytes;
	x->die_after = die_after;
	phase = "transfer";
	t0 = now();
	r = xfer_run(c, x);
	if (r < 0) {
		printf("%s: round %u: transfer stopped at sent %" PRIu64 " received %" PRIu64
		       ": %s\n", prefix, round, x->tx.done, x->rx.done, strerror(-r));
		return r;
	}
	r = trailers(c, x);
	if (r < 0)
		return r;
	printf("%s: round %u: %" PRIu64 " MiB each way, checksums %016" PRIx64 "/%016" PRIx64
	       " match, %.1f s, %.1f MiB/s each way\n", prefix, round, bytes >> 20, x->tx.fnv,
	       x->rx.fnv, now() - t0, (double)(bytes >> 20) / (now() - t0));
	return 0;
}

/*
 * Wait (bounded by the alarm) until a client attaches to a server channel.
 * Polls the channel's fd with a short timeout rather than sleeping in
 * bh_chan_wait(): whether an attach raises an event is the backend's
 * business, and this test must not hang on that.
 */
static int wait_attached(struct bh_chan *c)
{
	struct pollfd pfd = { .fd = bh_chan_fd(c), .events = POLLIN };
	int st;

	phase = "wait-for-client";
	while ((st = bh_chan_is_open(c)) == 2) {
		if (poll(&pfd, 1, 50) > 0) {
			int r = bh_chan_wait(c);

			if (r < 0)
				return r;
		}
	}
	return st == 1 ? 0 : -EPIPE;
}

static int server_open(const struct opts *o, struct bh_chan **ret)
{
	int r = bh_chan_xen_server(o->peer, o->path, o->ring, o->ring, ret);

	if (r < 0)
		printf("%s: server open of '%s' for domain %d failed: %s\n", prefix, o->path,
		       o->peer, strerror(-r));
	return r;
}

static int server_round(const struct opts *o, uint32_t round, uint64_t bytes, bool expect_death)
{
	_cleanup_chan_ struct bh_chan *c = NULL;
	int r;

	alarm(o->timeout);
	r = server_open(o, &c);
	if (r < 0)
		return r;
	r = wait_attached(c);
	if (r < 0) {
		printf("%s: round %u: client did not attach: %s\n", prefix, round, strerror(-r));
		return r;
	}
	if (round == 1)
		printf("%s: vchan-connected\n", prefix);
	fflush(stdout);
	r = exchange(c, true, round, bytes, 0);
	if (!expect_death)
		return r;
	if (r == 0) {
		printf("%s: round %u: the client was to die but the transfer completed\n", prefix,
		       round);
		return -EPROTO;
	}
	if (r != -EPIPE) {
		printf("%s: round %u: expected the peer's death (EPIPE), got %s\n", prefix, round,
		       strerror(-r));
		return r;
	}
	if (bh_chan_is_open(c) != 0) {
		printf("%s: round %u: peer died but is_open() says %d\n", prefix, round,
		       bh_chan_is_open(c));
		return -EPROTO;
	}
	return 0;
}

static int do_server(const struct opts *o)
{
	int r;

	r = server_round(o, 1, o->bytes, false);
	if (r < 0)
		return r;
	printf("%s: stress-ok\n", prefix);
	fflush(stdout);
	r = server_round(o, 2, o->bytes, true);
	if (r < 0)
		return r;
	printf("%s: peer-death-detected\n", prefix);
	fflush(stdout);
	r = server_round(o, 3, o->reconnect_bytes, false);
	if (r < 0)
		return r;
	printf("%s: reconnect-ok\n", prefix);
	return 0;
}

/* Connect, retrying while the server is not (yet, or again) advertised. */
static int client_connect(const struct opts *o, struct bh_chan **ret)
{
	int r, tries = 0;

	phase = "connect";
	for (;;) {
		r = bh_chan_xen_client(o->server, o->path, ret);
		if (r == 0)
			break;
		if (++tries % 50 == 0)
			printf("%s: still connecting to '%s': %s\n", prefix, o->path,
			       strerror(-r));
		usleep(100000);
	}
	if (tries)
		printf("%s: connected after %d retries\n", prefix, tries);
	return 0;
}

static int do_client(const struct opts *o)
{
	_cleanup_chan_ struct bh_chan *c = NULL;
	int r;

	alarm(o->timeout);
	r = client_connect(o, &c);
	if (r < 0)
		return r;
	r = exchange(c, false, o->round, o->bytes, o->die_after);
	if (r < 0)
		return r;
	printf("%s: round %u ok\n", prefix, o->round);
	return 0;
}

static int do_hold(const struct opts *o)
{
	_cleanup_chan_ struct bh_chan *c = NULL;
	int r;

	alarm(o->seconds + 5);
	r = server_open(o, &c);
	if (r < 0)
		return r;
	printf("%s: holding '%s' for domain %d\n", prefix, o->path, o->peer);
	fflush(stdout);
	phase = "hold";
	sleep(o->seconds);
	return 0;
}

static char *abs_path(const struct opts *o, const char *leaf)
{
	char *p;

	if (o->path[0] == '/')
		return asprintf(&p, "%s/%s", o->path, leaf) < 0 ? NULL : p;
	return asprintf(&p, "/local/domain/%d/%s/%s", o->server, o->path, leaf) < 0 ? NULL : p;
}

/* xenstore read of @path/ring-ref from this domain: 0, or -errno. */
static int read_ring_ref(const struct opts *o)
{
	_cleanup_free_ char *ref = abs_path(o, "ring-ref");
	struct xs_handle *xs;
	unsigned int len;
	void *val;
	int err;

	if (!ref)
		return -ENOMEM;
	xs = xs_open(0);
	if (!xs) {
		printf("%s: cannot open xenstore: %s\n", prefix, strerror(errno));
		return -EIO;
	}
	errno = 0;
	val = xs_read(xs, XBT_NULL, ref, &len);
	err = errno ? errno : EIO;
	free(val);
	xs_close(xs);
	printf("%s: read of %s: %s\n", prefix, ref, val ? "allowed" : strerror(err));
	return val ? 0 : -err;
}

/*
 * The channel at @path is advertised for some other domain. We must fail to
 * connect, and a plain xenstore read of its ring-ref must fail with EACCES
 * (not ENOENT: the caller made sure it exists, so this proves permissions).
 */
static int do_deny(const struct opts *o)
{
	_cleanup_chan_ struct bh_chan *c = NULL;
	int r;

	alarm(o->timeout);
	phase = "deny";
	r = bh_chan_xen_client(o->server, o->path, &c);
	if (r == 0) {
		printf("%s: DENY FAILED: connected to '%s' meant for another domain\n", prefix,
		       o->path);
		return -EPERM;
	}
	printf("%s: channel open of '%s' refused: %s\n", prefix, o->path, strerror(-r));
	r = read_ring_ref(o);
	if (r != -EACCES) {
		printf("%s: DENY FAILED: want EACCES\n", prefix);
		return -EPERM;
	}
	return 0;
}

/* Positive control for do_deny(): the channel's own peer may read it. */
static int do_probe(const struct opts *o)
{
	alarm(o->timeout);
	phase = "probe";
	return read_ring_ref(o);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xen-chan-stress server --peer DOMID --path P [--bytes N] "
		"[--reconnect-bytes N]\n"
		"       xen-chan-stress client --path P --round R --bytes N [--die-after N]\n"
		"       xen-chan-stress hold --peer DOMID --path P --seconds S\n"
		"       xen-chan-stress deny --path P\n"
		"       xen-chan-stress probe --path P\n"
		"common: [--server DOMID] [--ring N] [--timeout S] [--domu]\n");
	exit(2);
}

static int parse_int(const char *name, const char *s, uint32_t max, uint32_t *ret)
{
	int r = bh_parse_u32(s, 0, max, ret);

	if (r < 0)
		fprintf(stderr, "xen-chan-stress: bad %s '%s'\n", name, s);
	return r;
}

static int parse_sz(const char *name, const char *s, uint64_t *ret)
{
	int r = bh_parse_size(s, 1, 0, 1ull << 40, ret);

	if (r < 0)
		fprintf(stderr, "xen-chan-stress: bad %s '%s'\n", name, s);
	return r;
}

static int parse_opt(struct opts *o, const char *k, const char *v)
{
	uint32_t u;
	int r;

	if (!strcmp(k, "--path")) {
		o->path = v;
		return 0;
	}
	if (!strcmp(k, "--peer") || !strcmp(k, "--server")) {
		r = parse_int(k, v, 0x7fef, &u);
		if (r == 0)
			*(k[2] == 'p' ? &o->peer : &o->server) = (int)u;
		return r;
	}
	if (!strcmp(k, "--round"))
		return parse_int(k, v, 1000, &o->round);
	if (!strcmp(k, "--seconds"))
		return parse_int(k, v, 3600, &o->seconds);
	if (!strcmp(k, "--timeout"))
		return parse_int(k, v, 3600, &o->timeout);
	if (!strcmp(k, "--bytes"))
		return parse_sz(k, v, &o->bytes);
	if (!strcmp(k, "--reconnect-bytes"))
		return parse_sz(k, v, &o->reconnect_bytes);
	if (!strcmp(k, "--die-after"))
		return parse_sz(k, v, &o->die_after);
	if (!strcmp(k, "--ring"))
		return parse_sz(k, v, &o->ring);
	fprintf(stderr, "xen-chan-stress: unknown option '%s'\n", k);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.peer = -1,
		.server = 0,
		.round = 1,
		.bytes = 64ull << 20,
		.reconnect_bytes = 16ull << 20,
		.ring = 256 << 10,
		.seconds = 60,
		.timeout = 60,
	};
	int i, r;

	if (argc < 2)
		usage();
	o.mode = argv[1];
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--domu")) {
			prefix = "BH-NESTED-DOMU";
			continue;
		}
		if (i + 1 >= argc || parse_opt(&o, argv[i], argv[i + 1]) < 0)
			usage();
		i++;
	}
	if (!o.path)
		usage();
	signal(SIGALRM, on_alarm);
	/* Lines must reach the console in order even when we die by signal. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (!strcmp(o.mode, "server") && o.peer >= 0)
		r = do_server(&o);
	else if (!strcmp(o.mode, "client"))
		r = do_client(&o);
	else if (!strcmp(o.mode, "hold") && o.peer >= 0)
		r = do_hold(&o);
	else if (!strcmp(o.mode, "deny"))
		r = do_deny(&o);
	else if (!strcmp(o.mode, "probe"))
		r = do_probe(&o);
	else
		usage();
	if (r < 0) {
		printf("%s: %s failed in phase '%s': %s\n", prefix, o.mode, phase, strerror(-r));
		return 1;
	}
	return 0;
}
