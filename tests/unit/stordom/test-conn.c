/* SPDX-License-Identifier: MIT */
/*
 * conn.c through the NBD wire: a server with two workers serves a LUKS2
 * volume over socketpairs, and a minimal client here (fixed newstyle, OPT_GO,
 * simple replies) sends requests the way fio and qemu do: many in flight.
 * What is checked is the concurrency of large WRITEs, which are cut into
 * pieces that the workers encrypt and store while the reader reads on: every
 * byte reads back, through the server and from the raw file decrypted with a
 * cipher context of our own; a FUA write's ciphertext is in the file when its
 * reply comes; overlapping writes in flight leave each sector whole; two
 * connections at once; a client that hangs up mid-payload.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../bh-test.h"
#include "sd-test.h"

#define VOL_SIZE (64u << 20)
#define MIB (1u << 20)
#define T_READ 0
#define T_WRITE 1
#define T_FLUSH 3
#define F_FUA 1

static char img[128], keyfile[128];
static struct sd_server *srv;
static struct sd_volume *vol; /* the server's; valid while the export is up */

/* ------------------------------------------------------------------------
 * A minimal NBD client.
 */
static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int xwrite(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int xread(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = read(fd, p, len);

		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Connect to the export over a socketpair and negotiate: the client's fd, or -1. */
static int cli_open(void)
{
	uint8_t greet[18], fl[4], opt[16 + 6] = { 0 }, rep[20], skip[256];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (sd_server_serve_fd(srv, "v", sv[0]) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	put_be(fl, 3, 4); /* FIXED_NEWSTYLE | NO_ZEROES */
	if (xread(sv[1], greet, sizeof(greet)) < 0 || xwrite(sv[1], fl, 4) < 0)
		goto fail;
	put_be(opt, 0x49484156454f5054ull, 8); /* IHAVEOPT */
	put_be(opt + 8, 7, 4);                 /* NBD_OPT_GO */
	put_be(opt + 12, 6, 4);                /* name length 0 (default export), no info */
	if (xwrite(sv[1], opt, sizeof(opt)) < 0)
		goto fail;
	for (;;) {
		uint32_t type, len;

		if (xread(sv[1], rep, sizeof(rep)) < 0)
			goto fail;
		type = (uint32_t)get_be(rep + 12, 4);
		len = (uint32_t)get_be(rep + 16, 4);
		if (len > sizeof(skip) || (len && xread(sv[1], skip, len) < 0))
			goto fail;
		if (type == 1) /* NBD_REP_ACK */
			return sv[1];
		if (type != 3) /* anything but NBD_REP_INFO */
			goto fail;
	}
fail:
	close(sv[1]);
	return -1;
}

static int cli_send(int fd, uint16_t type, uint16_t flags, uint64_t cookie, uint64_t off,
		    uint32_t len, const void *payload)
{
	uint8_t h[28];

	put_be(h, 0x25609513u, 4);
	put_be(h + 4, flags, 2);
	put_be(h + 6, type, 2);
	put_be(h + 8, cookie, 8);
	put_be(h + 16, off, 8);
	put_be(h + 24, len, 4);
	if (xwrite(fd, h, sizeof(h)) < 0)
		return -1;
	return payload ? xwrite(fd, payload, len) : 0;
}

/* One simple reply: its cookie and NBD error; no data is read. 0 or -1. */
static int cli_reply(int fd, uint64_t *cookie, uint32_t *err)
{
	uint8_t r[16];

	if (xread(fd, r, sizeof(r)) < 0 || get_be(r, 4) != 0x67446698u)
		return -1;
	*err = (uint32_t)get_be(r + 4, 4);
	*cookie = get_be(r + 8, 8);
	return 0;
}

/* A request that is alone in flight: its NBD error, or -1 if the stream broke. */
static long cli_sync(int fd, uint16_t type, uint16_t flags, uint64_t off, uint32_t len,
		     const void *payload, void *rdata)
{
	uint64_t cookie;
	uint32_t err;

	if (cli_send(fd, type, flags, 42, off, len, payload) < 0 ||
	    cli_reply(fd, &cookie, &err) < 0 || cookie != 42)
		return -1;
	if (type == T_READ && !err && xread(fd, rdata, len) < 0)
		return -1;
	return err;
}

/* ------------------------------------------------------------------------
 * Fixtures.
 */
static void server_up(void)
{
	struct sd_volume_params p = { .size = VOL_SIZE, .test_kdf = true };
	uint8_t k[48];

	snprintf(img, sizeof(img), "%s/conn.img", test_dir());
	snprintf(keyfile, sizeof(keyfile), "%s/conn.key", test_dir());
	unlink(img);
	CU_ASSERT_FATAL(getrandom(k, sizeof(k), 0) == sizeof(k));
	CU_ASSERT_FATAL(write_file(keyfile, k, sizeof(k)) == 0);
	CU_ASSERT_EQUAL_FATAL(sd_volume_create(img, keyfile, &p, &vol), 0);
	CU_ASSERT_EQUAL_FATAL(sd_server_new(NULL, 2, &srv), 0);
	CU_ASSERT_EQUAL_FATAL(sd_server_add(srv, "v", vol, false), 0);
}

static void server_down(void)
{
	CU_ASSERT_EQUAL(sd_server_remove(srv, "v"), 0);
	sd_server_free(srv);
	srv = NULL;
	vol = NULL;
}

static uint8_t *random_buf(size_t len)
{
	uint8_t *b = malloc(len);

	CU_ASSERT_FATAL(b != NULL);
	for (size_t i = 0; i < len; i += 256)
		CU_ASSERT_FATAL(getrandom(b + i, len - i < 256 ? len - i : 256, 0) > 0);
	return b;
}

/* The raw file at data offset @off decrypted by a context of our own equals @want. */
static bool stored(uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *buf = malloc(len);
	struct sd_xts *x = NULL;
	bool ok = buf && sd_xts_new(&x) == 0 &&
		  sd_xts_set_key(x, vol->key->data, vol->key->len) == 0 &&
		  pread(vol->fd, buf, len, (off_t)(vol->data_offset + off)) == (ssize_t)len &&
		  memcmp(buf, want, len) != 0 && /* ciphertext at rest */
		  sd_xts_decrypt(x, buf, len, vol->sector_size, sd_volume_iv(vol, off),
				 vol->iv_step) == 0 && memcmp(buf, want, len) == 0;

	sd_xts_free(x);
	free(buf);
	return ok;
}

static bool reads_back(int fd, uint64_t off, const uint8_t *want, uint32_t len)
{
	uint8_t *got = malloc(len);
	bool ok = got && cli_sync(fd, T_READ, 0, off, len, NULL, got) == 0 &&
		  memcmp(got, want, len) == 0;

	free(got);
	return ok;
}

/* ------------------------------------------------------------------------
 * Tests.
 */

/* The largest WRITE (16 pieces) and one that ends in a short piece. */
static void test_large_write_reads_back(void)
{
	uint32_t odd = SD_STORE_CHUNK + 5 * 4096;
	uint8_t *a = random_buf(SD_NBD_MAX_PAYLOAD), *b = random_buf(odd);
	int fd;

	server_up();
	fd = cli_open();
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(cli_sync(fd, T_WRITE, 0, 3 * MIB, SD_NBD_MAX_PAYLOAD, a, NULL), 0);
	CU_ASSERT_EQUAL(cli_sync(fd, T_WRITE, 0, 9 * MIB + 4096, odd, b, NULL), 0);
	CU_ASSERT(reads_back(fd, 3 * MIB, a, SD_NBD_MAX_PAYLOAD));
	CU_ASSERT(reads_back(fd, 9 * MIB + 4096, b, odd));
	CU_ASSERT(stored(3 * MIB, a, SD_NBD_MAX_PAYLOAD));
	CU_ASSERT(stored(9 * MIB + 4096, b, odd));
	close(fd);
	server_down();
	free(a);
	free(b);
}

/*
 * Sixteen 1 MiB WRITEs in flight at once (every slot), the last with FUA,
 * then a FLUSH: each answered once, without error; a FUA WRITE's ciphertext is
 * in the file by the time its reply comes.
 */
static void test_pipelined_and_fua(void)
{
	uint8_t *data = random_buf(SD_SLOTS * MIB), *f = random_buf(2 * MIB);
	unsigned seen = 0;
	int fd;

	server_up();
	fd = cli_open();
	CU_ASSERT_FATAL(fd >= 0);
	for (unsigned i = 0; i < SD_SLOTS; i++)
		CU_ASSERT(cli_send(fd, T_WRITE, i == SD_SLOTS - 1 ? F_FUA : 0, 100 + i,
				   (uint64_t)i * MIB, MIB, data + (size_t)i * MIB) == 0);
	CU_ASSERT(cli_send(fd, T_FLUSH, 0, 200, 0, 0, NULL) == 0);
	for (unsigned i = 0; i <= SD_SLOTS; i++) {
		uint64_t cookie = 0;
		uint32_t err = 1;

		CU_ASSERT_FATAL(cli_reply(fd, &cookie, &err) == 0);
		CU_ASSERT_EQUAL(err, 0);
		if (cookie == 200)
			cookie = 100 + SD_SLOTS;
		CU_ASSERT_FATAL(cookie >= 100 && cookie <= 100 + SD_SLOTS);
		CU_ASSERT_FALSE(seen & (1u << (cookie - 100)));
		seen |= 1u << (cookie - 100);
	}
	CU_ASSERT(stored(0, data, SD_SLOTS * MIB));
	CU_ASSERT(reads_back(fd, 0, data, SD_SLOTS * MIB / 4));
	/* FUA alone in flight: stored (and fdatasync'ed) before the reply. */
	CU_ASSERT_EQUAL(cli_sync(fd, T_WRITE, F_FUA, 40 * MIB, 2 * MIB, f, NULL), 0);
	CU_ASSERT(stored(40 * MIB, f, 2 * MIB));
	close(fd);
	server_down();
	free(data);
	free(f);
}

/*
 * Overlapping WRITEs in flight may land in any order (NBD leaves it open),
 * but never tear a sector: each 4 KiB of the range is wholly one writer's.
 * A WRITE sent after those were answered wins everywhere.
 */
static void test_overlapping(void)
{
	enum { N = 8, LEN = 2 * MIB };
	uint8_t *buf = malloc(LEN), *got = malloc(LEN);
	bool whole = true;
	int fd;

	CU_ASSERT_FATAL(buf && got);
	server_up();
	fd = cli_open();
	CU_ASSERT_FATAL(fd >= 0);
	for (unsigned i = 0; i < N; i++) {
		memset(buf, 0x10 + (int)i, LEN);
		CU_ASSERT(cli_send(fd, T_WRITE, 0, i, 5 * MIB, LEN, buf) == 0);
	}
	for (unsigned i = 0; i < N; i++) {
		uint64_t cookie;
		uint32_t err = 1;

		CU_ASSERT_FATAL(cli_reply(fd, &cookie, &err) == 0);
		CU_ASSERT_EQUAL(err, 0);
	}
	CU_ASSERT_EQUAL_FATAL(cli_sync(fd, T_READ, 0, 5 * MIB, LEN, NULL, got), 0);
	for (size_t s = 0; s < LEN; s += 4096) {
		uint8_t b = got[s];

		whole = whole && b >= 0x10 && b < 0x10 + N;
		for (size_t k = 1; whole && k < 4096; k++)
			whole = got[s + k] == b;
	}
	CU_ASSERT(whole);
	memset(buf, 0x77, LEN);
	CU_ASSERT_EQUAL(cli_sync(fd, T_WRITE, 0, 5 * MIB, LEN, buf, NULL), 0);
	CU_ASSERT(reads_back(fd, 5 * MIB, buf, LEN));
	close(fd);
	server_down();
	free(buf);
	free(got);
}

struct writer {
	uint64_t base;
	uint8_t *data; /* 8 MiB */
	bool ok;
};

/* One connection: 8 MiB as 1 MiB WRITEs, four in flight, then FLUSH. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	int fd = cli_open();
	unsigned sent = 0, done = 0;

	w->ok = fd >= 0;
	while (w->ok && done < 8) {
		uint64_t cookie;
		uint32_t err;

		while (w->ok && sent < 8 && sent - done < 4) {
			w->ok = cli_send(fd, T_WRITE, 0, sent, w->base + sent * MIB, MIB,
					 w->data + (size_t)sent * MIB) == 0;
			sent++;
		}
		w->ok = w->ok && cli_reply(fd, &cookie, &err) == 0 && err == 0 && cookie < sent;
		done++;
	}
	w->ok = w->ok && cli_sync(fd, T_FLUSH, 0, 0, 0, NULL, NULL) == 0;
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Two connections writing at once: their pieces share the pool. */
static void test_two_connections(void)
{
	struct writer w[2] = { { 0, random_buf(8 * MIB), false },
			       { 16 * MIB, random_buf(8 * MIB), false } };
	pthread_t t[2];
	int fd;

	server_up();
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT(w[i].ok);
	}
	fd = cli_open();
	CU_ASSERT_FATAL(fd >= 0);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT(reads_back(fd, w[i].base, w[i].data, 8 * MIB / 2));
		CU_ASSERT(stored(w[i].base, w[i].data, 8 * MIB));
	}
	close(fd);
	server_down();
	free(w[0].data);
	free(w[1].data);
}

/*
 * A client that hangs up in the middle of a large WRITE's payload, with pieces
 * of it already queued: no reply, no crash, the export goes on serving and
 * can be removed (sd_server_remove waits for every piece).
 */
static void test_hangup_mid_payload(void)
{
	uint8_t *a = random_buf(SD_NBD_MAX_PAYLOAD);
	int fd;

	server_up();
	for (int i = 0; i < 4; i++) {
		fd = cli_open();
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT(cli_send(fd, T_WRITE, 0, 1, 0, SD_NBD_MAX_PAYLOAD, NULL) == 0);
		CU_ASSERT(xwrite(fd, a, SD_NBD_MAX_PAYLOAD / 2 + (uint32_t)i * 300000) == 0);
		close(fd);
	}
	fd = cli_open();
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(cli_sync(fd, T_WRITE, 0, 20 * MIB, MIB, a, NULL), 0);
	CU_ASSERT(reads_back(fd, 20 * MIB, a, MIB));
	close(fd);
	server_down();
	free(a);
}

static const struct bh_test conn_tests[] = {
	{ "large WRITE spread over threads reads back", test_large_write_reads_back },
	{ "16 WRITEs in flight, FUA stored before its reply", test_pipelined_and_fua },
	{ "overlapping WRITEs in flight keep sectors whole", test_overlapping },
	{ "two connections writing at once", test_two_connections },
	{ "hang-up in the middle of a split WRITE", test_hangup_mid_payload },
	{ NULL, NULL },
};

static const struct bh_suite suites[] = {
	{ "conn", conn_tests },
	{ NULL, NULL },
};

int main(void)
{
	int r = bh_test_main(suites);

	test_dir_cleanup();
	return r;
}
