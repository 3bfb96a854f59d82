/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../bh-test.h"
#include "bulkhead/msg.h"

static void test_hdr_roundtrip(void)
{
	struct bh_msg_hdr h = {
		.magic = BH_MSG_MAGIC,
		.version = 1,
		.flags = BH_MSGF_REPLY,
		.type = BH_MSG_PING,
		.length = 8,
		.request_id = 0xcafef00d,
	};
	struct bh_msg_hdr d = { 0 };
	uint8_t buf[BH_MSG_HDR_SIZE];

	bh_msg_hdr_encode(&h, buf);
	CU_ASSERT_EQUAL(memcmp(buf, "BKHD", 4), 0);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), 0);
	CU_ASSERT_EQUAL(memcmp(&h, &d, sizeof(h)), 0);
}

static void encode_hdr(uint8_t buf[BH_MSG_HDR_SIZE], uint32_t magic, uint8_t version, uint8_t flags,
		       uint16_t type, uint32_t length)
{
	struct bh_msg_hdr h = { magic, version, flags, type, length, 1 };

	bh_msg_hdr_encode(&h, buf);
}

static void test_hdr_rejects(void)
{
	struct bh_msg_hdr d = { .request_id = 77 };
	uint8_t buf[BH_MSG_HDR_SIZE];

	encode_hdr(buf, 0x424b4845, 1, 0, BH_MSG_PING, 8);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), -EBADMSG);
	encode_hdr(buf, BH_MSG_MAGIC, 1, 0, 0, 0);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), -EOPNOTSUPP);
	encode_hdr(buf, BH_MSG_MAGIC, 1, 0, BH_MSG_TYPE_MAX_, 0);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), -EOPNOTSUPP);
	encode_hdr(buf, BH_MSG_MAGIC, 1, 0, 0xffff, 0);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), -EOPNOTSUPP);
	encode_hdr(buf, BH_MSG_MAGIC, 0, 0, BH_MSG_PING, 8);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), -EPROTONOSUPPORT);
	encode_hdr(buf, BH_MSG_MAGIC, BH_MSG_VERSION_MAX + 1, 0, BH_MSG_PING, 8);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), -EPROTONOSUPPORT);
	encode_hdr(buf, BH_MSG_MAGIC, 1, 0x80, BH_MSG_PING, 8);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), -EBADMSG);
	encode_hdr(buf, BH_MSG_MAGIC, 1, 0, BH_MSG_PING, 7);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), -EMSGSIZE);
	encode_hdr(buf, BH_MSG_MAGIC, 1, 0, BH_MSG_READY, 1);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), -EMSGSIZE);
	encode_hdr(buf, BH_MSG_MAGIC, 1, 0, BH_MSG_HELLO, 0xffffffff);
	CU_ASSERT_EQUAL(bh_msg_hdr_decode(buf, &d), -EMSGSIZE);
	CU_ASSERT_EQUAL(d.request_id, 77); /* never written on failure */
}

static void test_every_type_has_limits(void)
{
	for (uint16_t t = 1; t < BH_MSG_TYPE_MAX_; t++) {
		uint32_t min = 1, max = 0;

		CU_ASSERT_EQUAL(bh_msg_body_limits(t, &min, &max), 0);
		CU_ASSERT(min <= max);
		CU_ASSERT(max <= BH_MSG_BODY_MAX);
		CU_ASSERT_STRING_NOT_EQUAL(bh_msg_type_name(t), "unknown");
	}
	CU_ASSERT_STRING_EQUAL(bh_msg_type_name(0), "unknown");
	CU_ASSERT_STRING_EQUAL(bh_msg_type_name(BH_MSG_TYPE_MAX_), "unknown");
	CU_ASSERT_STRING_EQUAL(bh_role_name(BH_ROLE_STORDOM), "stordom");
	CU_ASSERT_STRING_EQUAL(bh_role_name(0), "unknown");
	CU_ASSERT_STRING_EQUAL(bh_role_name(200), "unknown");
}

static void test_hello_roundtrip(void)
{
	struct bh_msg_hello m = { 1, 3, BH_ROLE_STORDOM, "stordom" }, d = { 0 };
	uint8_t body[128];
	uint32_t min, max;
	long n = bh_msg_hello_encode(&m, body, sizeof(body));

	CU_ASSERT_EQUAL(n, 3 + 2 + 7);
	CU_ASSERT_EQUAL(bh_msg_hello_decode(body, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(memcmp(&m, &d, sizeof(m)), 0);
	/* Its encoded size is within the table's limits. */
	CU_ASSERT_EQUAL(bh_msg_body_limits(BH_MSG_HELLO, &min, &max), 0);
	CU_ASSERT((uint32_t)n >= min && (uint32_t)n <= max);
	/* Truncated, trailing byte, inverted range, bad role, bad name. */
	CU_ASSERT_EQUAL(bh_msg_hello_decode(body, (size_t)n - 1, &d), -EBADMSG);
	CU_ASSERT_EQUAL(bh_msg_hello_decode(body, (size_t)n + 1, &d), -EBADMSG);
	body[0] = 4;
	CU_ASSERT_EQUAL(bh_msg_hello_decode(body, (size_t)n, &d), -EBADMSG);
	body[0] = 1;
	body[2] = 99;
	CU_ASSERT_EQUAL(bh_msg_hello_decode(body, (size_t)n, &d), -EBADMSG);
	body[2] = BH_ROLE_STORDOM;
	body[5] = 'S';
	CU_ASSERT_EQUAL(bh_msg_hello_decode(body, (size_t)n, &d), -EBADMSG);
	body[5] = 's';
	CU_ASSERT_EQUAL(bh_msg_hello_decode(body, (size_t)n, &d), 0);
	/* Too small a buffer for the encoder. */
	CU_ASSERT_EQUAL(bh_msg_hello_encode(&m, body, 6), -ENOBUFS);
}

static void test_hello_ack_roundtrip(void)
{
	struct bh_msg_hello_ack m = { 1, BH_ROLE_DOM0, "dom0" }, d = { 0 };
	uint8_t body[128];
	long n = bh_msg_hello_ack_encode(&m, body, sizeof(body));

	CU_ASSERT(n > 0);
	CU_ASSERT_EQUAL(bh_msg_hello_ack_decode(body, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(memcmp(&m, &d, sizeof(m)), 0);
	body[0] = 0;
	CU_ASSERT_EQUAL(bh_msg_hello_ack_decode(body, (size_t)n, &d), -EBADMSG);
}

static void test_error_roundtrip(void)
{
	struct bh_msg_error m = { -ENOENT, "volume \"web-data\" not found" }, d = { 0 };
	uint8_t body[512];
	long n = bh_msg_error_encode(&m, body, sizeof(body));

	CU_ASSERT(n > 0);
	CU_ASSERT_EQUAL(bh_msg_error_decode(body, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(d.code, -ENOENT);
	CU_ASSERT_STRING_EQUAL(d.text, m.text);
	/* A positive code is not an errno. */
	m.code = 5;
	n = bh_msg_error_encode(&m, body, sizeof(body));
	CU_ASSERT_EQUAL(bh_msg_error_decode(body, (size_t)n, &d), -EBADMSG);
}

static void test_ping_roundtrip(void)
{
	struct bh_msg_ping m = { 0x1122334455667788ull }, d = { 0 };
	uint8_t body[8];

	CU_ASSERT_EQUAL(bh_msg_ping_encode(&m, body, sizeof(body)), 8);
	CU_ASSERT_EQUAL(bh_msg_ping_decode(body, 8, &d), 0);
	CU_ASSERT_EQUAL(d.token, m.token);
	CU_ASSERT_EQUAL(bh_msg_ping_decode(body, 7, &d), -EBADMSG);
}

static void test_chan_serve(void)
{
	struct bh_msg_chan_serve m = { "g1-data", BH_CHAN_SERVE_CTRL, 7, "data/bulkhead/g1-disk0" };
	struct bh_msg_chan_serve d = { 0 };
	static const char *const bad_paths[] = { "", "/abs", "a//b", "a/", "a/../b", "a b",
						 "a/.x" };
	uint8_t body[512];
	long n = bh_msg_chan_serve_encode(&m, body, sizeof(body));

	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(bh_msg_chan_serve_decode(body, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(memcmp(&m, &d, sizeof(m)), 0);
	CU_ASSERT_EQUAL(bh_msg_chan_serve_decode(body, (size_t)n - 1, &d), -EBADMSG);
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		struct bh_msg_chan_serve b = m;

		snprintf(b.xs_path, sizeof(b.xs_path), "%s", bad_paths[i]);
		n = bh_msg_chan_serve_encode(&b, body, sizeof(body));
		CU_ASSERT_EQUAL(bh_msg_chan_serve_decode(body, (size_t)n, &d), -EBADMSG);
	}
	for (uint32_t k = BH_CHAN_SERVE_UNSEAL; k <= BH_CHAN_SERVE_UNSEAL_PEER; k++) {
		struct bh_msg_chan_serve u = { "stordom", k, 3, "data/bulkhead/unseal-stordom" };

		n = bh_msg_chan_serve_encode(&u, body, sizeof(body));
		CU_ASSERT_EQUAL(bh_msg_chan_serve_decode(body, (size_t)n, &d), 0);
		CU_ASSERT_EQUAL(memcmp(&u, &d, sizeof(u)), 0);
	}
	m.kind = BH_CHAN_SERVE_KIND_MAX_;
	n = bh_msg_chan_serve_encode(&m, body, sizeof(body));
	CU_ASSERT_EQUAL(bh_msg_chan_serve_decode(body, (size_t)n, &d), -EBADMSG);
	m.kind = 0;
	m.domid = BH_DOMID_MAX + 1;
	n = bh_msg_chan_serve_encode(&m, body, sizeof(body));
	CU_ASSERT_EQUAL(bh_msg_chan_serve_decode(body, (size_t)n, &d), -EBADMSG);
}

static void test_negotiate(void)
{
	uint8_t v = 0;

	CU_ASSERT_EQUAL(bh_msg_negotiate(1, 3, 2, 5, &v), 0);
	CU_ASSERT_EQUAL(v, 3);
	CU_ASSERT_EQUAL(bh_msg_negotiate(1, 1, 1, 1, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(bh_msg_negotiate(2, 4, 1, 3, &v), 0);
	CU_ASSERT_EQUAL(v, 3);
	v = 0;
	CU_ASSERT_EQUAL(bh_msg_negotiate(1, 2, 3, 4, &v), -EPROTONOSUPPORT);
	CU_ASSERT_EQUAL(bh_msg_negotiate(3, 1, 1, 3, &v), -EPROTONOSUPPORT);
	CU_ASSERT_EQUAL(bh_msg_negotiate(0, 0, 0, 0, &v), -EPROTONOSUPPORT);
	CU_ASSERT_EQUAL(v, 0);
}

static void test_frame_and_parse(void)
{
	struct bh_msg_ping ping = { 42 };
	uint8_t body[8], buf[64];
	struct bh_msg_hdr h;
	const uint8_t *b = NULL;
	long n;

	bh_msg_ping_encode(&ping, body, sizeof(body));
	n = bh_msg_frame(BH_MSG_PING, 0, 9, 1, body, sizeof(body), buf, sizeof(buf));
	CU_ASSERT_EQUAL(n, BH_MSG_HDR_SIZE + 8);
	CU_ASSERT_EQUAL(bh_msg_parse(buf, (size_t)n, &h, &b), 0);
	CU_ASSERT_EQUAL(h.type, BH_MSG_PING);
	CU_ASSERT_EQUAL(h.request_id, 9);
	CU_ASSERT_PTR_EQUAL(b, buf + BH_MSG_HDR_SIZE);
	/* The buffer must hold exactly one message. */
	CU_ASSERT_EQUAL(bh_msg_parse(buf, (size_t)n - 1, &h, &b), -EBADMSG);
	CU_ASSERT_EQUAL(bh_msg_parse(buf, (size_t)n + 1, &h, &b), -EBADMSG);
	CU_ASSERT_EQUAL(bh_msg_parse(buf, 3, &h, &b), -EBADMSG);
	/* Body sizes outside the table are refused at framing time too. */
	CU_ASSERT_EQUAL(bh_msg_frame(BH_MSG_PING, 0, 9, 1, body, 7, buf, sizeof(buf)), -EMSGSIZE);
	CU_ASSERT_EQUAL(bh_msg_frame(BH_MSG_PING, 0, 9, 1, body, 8, buf, 20), -ENOBUFS);
	CU_ASSERT_EQUAL(bh_msg_frame(0x7777, 0, 9, 1, body, 8, buf, sizeof(buf)), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(bh_msg_frame(BH_MSG_READY, 0, 1, 1, NULL, 0, buf, sizeof(buf)),
			BH_MSG_HDR_SIZE);
}

static const struct bh_test msg_tests[] = {
	{ "header round trip", test_hdr_roundtrip },
	{ "header rejects bad fields", test_hdr_rejects },
	{ "every type has a limit", test_every_type_has_limits },
	{ "HELLO round trip and rejects", test_hello_roundtrip },
	{ "HELLO_ACK round trip", test_hello_ack_roundtrip },
	{ "ERROR round trip", test_error_roundtrip },
	{ "PING round trip", test_ping_roundtrip },
	{ "CHAN_SERVE round trip and checks", test_chan_serve },
	{ "version negotiation", test_negotiate },
	{ "frame and parse", test_frame_and_parse },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "msg", msg_tests }, { NULL, NULL } };

	return bh_test_main(suites);
}
