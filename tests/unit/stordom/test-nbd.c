/* SPDX-License-Identifier: MIT */
/*
 * nbd.c: handshake replies and phase changes, request checks (each malformed
 * request mapped to the NBD error the protocol asks for, or a hang-up when
 * the stream cannot stay framed), reply headers.
 */
#include <errno.h>
#include <string.h>

#include "../bh-test.h"
#include "sd-test.h"

#define IHAVEOPT 0x49484156454f5054ull
#define REP_MAGIC 0x0003e889045565a9ull

static struct sd_nbd_export the_export = { .size = 1u << 20, .block_min = 4096 };

static int lookup(void *ctx, const char *name, struct sd_nbd_export *ret, void **ret_handle)
{
	(void)ctx;
	if (name[0] && strcmp(name, "disk"))
		return -ENOENT;
	*ret = the_export;
	*ret_handle = &the_export;
	return 0;
}

static const char *list(void *ctx, size_t i)
{
	(void)ctx;
	return i == 0 ? "disk" : NULL;
}

static const struct sd_nbd_exports_ops ops = { lookup, list };

static size_t put(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
	return (size_t)n;
}

static uint64_t get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static size_t option(uint8_t *p, uint32_t opt, const void *data, uint32_t len)
{
	size_t o = put(p, IHAVEOPT, 8);

	o += put(p + o, opt, 4);
	o += put(p + o, len, 4);
	if (len)
		memcpy(p + o, data, len);
	return o + len;
}

/* A session in the options phase. */
static void start(struct sd_nbd_session *s)
{
	struct sd_nbd_out out = { 0 };
	uint8_t flags[4] = { 0, 0, 0, 3 };

	sd_nbd_session_init(s, &ops, NULL);
	CU_ASSERT_EQUAL(sd_nbd_handshake(s, flags, 3, &out), 0); /* needs 4 bytes */
	CU_ASSERT_EQUAL(sd_nbd_handshake(s, flags, 4, &out), 4);
	CU_ASSERT_EQUAL(s->phase, SD_NBD_PHASE_OPTIONS);
	CU_ASSERT(s->no_zeroes);
	sd_nbd_out_free(&out);
}

static void test_greeting_and_flags(void)
{
	uint8_t g[SD_NBD_GREETING_SIZE], bad[4] = { 0, 0, 0, 0 }, unknown[4] = { 0, 0, 0, 5 };
	struct sd_nbd_session s;
	struct sd_nbd_out out = { 0 };

	sd_nbd_greeting(g);
	CU_ASSERT_EQUAL(memcmp(g, "NBDMAGICIHAVEOPT", 16), 0);
	CU_ASSERT_EQUAL(get(g + 16, 2), 3); /* fixed newstyle, no zeroes */
	sd_nbd_session_init(&s, &ops, NULL);
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, bad, 4, &out), -EPROTO); /* not fixed newstyle */
	sd_nbd_session_init(&s, &ops, NULL);
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, unknown, 4, &out), -EPROTO);
	start(&s);
}

static void test_go(void)
{
	uint8_t in[256], body[16] = { 0, 0, 0, 0, 0, 1, 0, 3 }; /* name "", 1 info: block size */
	struct sd_nbd_session s;
	struct sd_nbd_out out = { 0 };
	size_t n = option(in, 8, NULL, 0);

	start(&s);
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, n, &out), (ssize_t)n); /* STRUCTURED_REPLY */
	CU_ASSERT(s.structured);
	CU_ASSERT_EQUAL(out.len, 20);
	CU_ASSERT_EQUAL(get(out.buf + 12, 4), 1); /* ACK */
	out.len = 0;
	n = option(in, 7, body, 8);
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, n - 1, &out), 0); /* incomplete */
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, n, &out), (ssize_t)n);
	CU_ASSERT_EQUAL(s.phase, SD_NBD_PHASE_TRANSMISSION);
	/* INFO_EXPORT (20+12), INFO_BLOCK_SIZE (20+14), ACK (20). */
	CU_ASSERT_EQUAL_FATAL(out.len, 86);
	CU_ASSERT_EQUAL(get(out.buf, 8), REP_MAGIC);
	CU_ASSERT_EQUAL(get(out.buf + 12, 4), 3);
	CU_ASSERT_EQUAL(get(out.buf + 22, 8), 1u << 20);
	CU_ASSERT_EQUAL(get(out.buf + 52, 2), 3);
	CU_ASSERT_EQUAL(get(out.buf + 54, 4), 4096);
	CU_ASSERT_EQUAL(get(out.buf + 62, 4), SD_NBD_MAX_PAYLOAD);
	CU_ASSERT_EQUAL(get(out.buf + 78, 4), 1);
	sd_nbd_out_free(&out);
}

static void test_option_errors(void)
{
	uint8_t in[256], unknown_name[16] = { 0, 0, 0, 4, 'n', 'o', 'p', 'e', 0, 0 };
	uint8_t trailing[16] = { 0, 0, 0, 0, 0, 0, 9 };
	struct sd_nbd_session s;
	struct sd_nbd_out out = { 0 };
	size_t n;

	start(&s);
	n = option(in, 7, unknown_name, 10);
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, n, &out), (ssize_t)n);
	CU_ASSERT_EQUAL(get(out.buf + 12, 4), 0x80000006u); /* ERR_UNKNOWN */
	CU_ASSERT_EQUAL(s.phase, SD_NBD_PHASE_OPTIONS);
	out.len = 0;
	n = option(in, 6, trailing, 7);
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, n, &out), (ssize_t)n);
	CU_ASSERT_EQUAL(get(out.buf + 12, 4), 0x80000003u); /* ERR_INVALID */
	out.len = 0;
	n = option(in, 5, NULL, 0); /* STARTTLS */
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, n, &out), (ssize_t)n);
	CU_ASSERT_EQUAL(get(out.buf + 12, 4), 0x80000001u); /* ERR_UNSUP */
	out.len = 0;
	n = option(in, 3, NULL, 0); /* LIST */
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, n, &out), (ssize_t)n);
	CU_ASSERT_EQUAL(out.len, 20 + 8 + 20);
	CU_ASSERT_EQUAL(get(out.buf + 12, 4), 2);
	CU_ASSERT_EQUAL(memcmp(out.buf + 24, "disk", 4), 0);
	put(in, IHAVEOPT, 8);
	put(in + 8, 7, 4);
	put(in + 12, SD_NBD_OPTION_MAX + 1, 4); /* too long: hang up */
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, 16, &out), -EPROTO);
	in[0] ^= 1; /* bad magic */
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, 16, &out), -EPROTO);
	out.len = 0;
	n = option(in, 2, NULL, 0); /* ABORT: ACK, then hang up */
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, n, &out), -ECONNABORTED);
	CU_ASSERT_EQUAL(out.len, 20);
	sd_nbd_out_free(&out);
}

static void test_export_name(void)
{
	uint8_t in[256];
	struct sd_nbd_session s;
	struct sd_nbd_out out = { 0 };
	size_t n = option(in, 1, "disk", 4);

	start(&s);
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, n, &out), (ssize_t)n);
	CU_ASSERT_EQUAL(s.phase, SD_NBD_PHASE_TRANSMISSION);
	CU_ASSERT_EQUAL(out.len, 10); /* size + flags, no zeroes */
	sd_nbd_out_free(&out);
	start(&s);
	n = option(in, 1, "nope", 4);
	CU_ASSERT_EQUAL(sd_nbd_handshake(&s, in, n, &out), -ENOENT);
}

static struct sd_nbd_req parse(struct sd_nbd_session *s, uint16_t flags, uint16_t type,
			       uint64_t off, uint32_t len, int *ret)
{
	uint8_t h[SD_NBD_REQ_SIZE];
	struct sd_nbd_req r = { .error = -1 };

	put(h, 0x25609513, 4);
	put(h + 4, flags, 2);
	put(h + 6, type, 2);
	put(h + 8, 0xc00c1e, 8);
	put(h + 16, off, 8);
	put(h + 24, len, 4);
	*ret = sd_nbd_parse_request(s, h, &r);
	return r;
}

static int req_error(struct sd_nbd_session *s, uint16_t flags, uint16_t type, uint64_t off,
		     uint32_t len)
{
	int rc;
	struct sd_nbd_req r = parse(s, flags, type, off, len, &rc);

	return rc < 0 ? rc : r.error;
}

static void test_requests(void)
{
	struct sd_nbd_session s;
	uint8_t h[SD_NBD_REQ_SIZE] = { 0 };
	struct sd_nbd_req r;
	int rc;

	sd_nbd_session_init(&s, &ops, NULL);
	s.exp = the_export;
	r = parse(&s, 1, SD_NBD_CMD_WRITE, 8192, 4096, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(r.error, 0);
	CU_ASSERT_EQUAL(r.payload, 4096);
	CU_ASSERT_EQUAL(r.cookie, 0xc00c1e);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_READ, 0, 1u << 20), 0);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_READ, 512, 4096), SD_NBD_EINVAL);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_READ, 0, 0), SD_NBD_EINVAL);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_READ, 1u << 20, 4096), SD_NBD_EINVAL);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_READ, UINT64_MAX - 4095, 4096), SD_NBD_EINVAL);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_WRITE, (1u << 20) - 4096, 8192), SD_NBD_ENOSPC);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_WRITE_ZEROES, 1u << 20, 4096), SD_NBD_ENOSPC);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_WRITE, 0, SD_NBD_MAX_PAYLOAD + 4096), -EPROTO);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_READ, 0, SD_NBD_MAX_PAYLOAD + 4096),
			SD_NBD_EINVAL);
	CU_ASSERT_EQUAL(req_error(&s, 0x80, SD_NBD_CMD_READ, 0, 4096), SD_NBD_EINVAL);
	CU_ASSERT_EQUAL(req_error(&s, 2, SD_NBD_CMD_WRITE, 0, 4096), SD_NBD_EINVAL); /* NO_HOLE */
	CU_ASSERT_EQUAL(req_error(&s, 2, SD_NBD_CMD_WRITE_ZEROES, 0, 4096), 0);
	CU_ASSERT_EQUAL(req_error(&s, 0, 5, 0, 4096), SD_NBD_EINVAL); /* CACHE: not offered */
	CU_ASSERT_EQUAL(req_error(&s, 0, 0xffff, 0, 0), SD_NBD_EINVAL);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_FLUSH, 0, 0), 0);
	s.exp.readonly = true;
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_WRITE, 0, 4096), SD_NBD_EPERM);
	CU_ASSERT_EQUAL(req_error(&s, 0, SD_NBD_CMD_TRIM, 0, 4096), SD_NBD_EPERM);
	CU_ASSERT_EQUAL(sd_nbd_parse_request(&s, h, &r), -EPROTO); /* bad magic */
}

static void test_replies(void)
{
	struct sd_nbd_session s;
	struct sd_nbd_req r = { .type = SD_NBD_CMD_READ, .cookie = 7, .offset = 8192, .len = 4096 };
	uint8_t h[SD_NBD_REPLY_HDR_MAX];

	sd_nbd_session_init(&s, &ops, NULL);
	CU_ASSERT_EQUAL(sd_nbd_reply_header(&s, &r, 0, 4096, h), 16);
	CU_ASSERT_EQUAL(get(h, 4), 0x67446698u);
	CU_ASSERT_EQUAL(get(h + 8, 8), 7);
	CU_ASSERT_EQUAL(sd_nbd_reply_header(&s, &r, SD_NBD_EIO, 0, h), 16);
	CU_ASSERT_EQUAL(get(h + 4, 4), SD_NBD_EIO);
	s.structured = true;
	CU_ASSERT_EQUAL(sd_nbd_reply_header(&s, &r, 0, 4096, h), 28);
	CU_ASSERT_EQUAL(get(h, 4), 0x668e33efu);
	CU_ASSERT_EQUAL(get(h + 4, 2), 1); /* DONE */
	CU_ASSERT_EQUAL(get(h + 6, 2), 1); /* OFFSET_DATA */
	CU_ASSERT_EQUAL(get(h + 16, 4), 8 + 4096);
	CU_ASSERT_EQUAL(get(h + 20, 8), 8192);
	CU_ASSERT_EQUAL(sd_nbd_reply_header(&s, &r, SD_NBD_EINVAL, 0, h), 26);
	CU_ASSERT_EQUAL(get(h + 6, 2), 0x8001); /* ERROR */
	CU_ASSERT_EQUAL(get(h + 20, 4), SD_NBD_EINVAL);
	r.type = SD_NBD_CMD_FLUSH;
	CU_ASSERT_EQUAL(sd_nbd_reply_header(&s, &r, 0, 0, h), 20);
	CU_ASSERT_EQUAL(sd_nbd_errno(-ENOSPC), SD_NBD_ENOSPC);
	CU_ASSERT_EQUAL(sd_nbd_errno(-EBADF), SD_NBD_EIO);
}

static const struct bh_test nbd_tests[] = {
	{ "greeting, client flags", test_greeting_and_flags },
	{ "STRUCTURED_REPLY then GO", test_go },
	{ "option errors, LIST, ABORT, oversize, bad magic", test_option_errors },
	{ "EXPORT_NAME known and unknown", test_export_name },
	{ "request checks", test_requests },
	{ "reply headers", test_replies },
	{ NULL, NULL },
};

static const struct bh_suite suites[] = {
	{ "nbd", nbd_tests },
	{ NULL, NULL },
};

int main(void)
{
	return bh_test_main(suites);
}
