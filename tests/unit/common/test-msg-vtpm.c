/* SPDX-License-Identifier: MIT */
/* Round trips and rejects for the vtpm message codecs. */
#include <errno.h>
#include <string.h>

#include "../bh-test.h"
#include "bulkhead/msg.h"

static void test_ref_roundtrip(void)
{
	struct bh_msg_vtpm_ref m = { "web-1" }, d = { "x" };
	uint8_t buf[128], frame[256];
	const uint8_t *body;
	struct bh_msg_hdr h;
	long n = bh_msg_vtpm_ref_encode(&m, buf, sizeof(buf));

	CU_ASSERT_EQUAL_FATAL(n, 2 + 5);
	CU_ASSERT_EQUAL(bh_msg_vtpm_ref_decode(buf, (size_t)n, &d), 0);
	CU_ASSERT_STRING_EQUAL(d.name, "web-1");
	for (uint16_t t = BH_MSG_VTPM_CREATE; t <= BH_MSG_VTPM_DELETE; t++) {
		long f = bh_msg_frame(t, 0, 9, 1, buf, (size_t)n, frame, sizeof(frame));

		CU_ASSERT_EQUAL_FATAL(f, BH_MSG_HDR_SIZE + n);
		CU_ASSERT_EQUAL(bh_msg_parse(frame, (size_t)f, &h, &body), 0);
		CU_ASSERT_EQUAL(h.type, t);
	}
	CU_ASSERT_STRING_EQUAL(bh_msg_type_name(BH_MSG_VTPM_STATE_STORE), "VTPM_STATE_STORE");
	CU_ASSERT_EQUAL(bh_msg_vtpm_ref_encode(&m, buf, 4), -ENOBUFS);
}

static void test_ref_rejects(void)
{
	struct bh_msg_vtpm_ref d = { "keep" };
	const uint8_t bad_name[] = { 0, 3, '.', '.', '/' };
	const uint8_t empty[] = { 0, 0 };
	const uint8_t trailing[] = { 0, 1, 'a', 0 };
	const uint8_t short_str[] = { 0, 4, 'a' };
	uint8_t frame[BH_MSG_HDR_SIZE + 80];

	CU_ASSERT_EQUAL(bh_msg_vtpm_ref_decode(bad_name, sizeof(bad_name), &d), -EBADMSG);
	CU_ASSERT_EQUAL(bh_msg_vtpm_ref_decode(empty, sizeof(empty), &d), -EBADMSG);
	CU_ASSERT_EQUAL(bh_msg_vtpm_ref_decode(trailing, sizeof(trailing), &d), -EBADMSG);
	CU_ASSERT_EQUAL(bh_msg_vtpm_ref_decode(short_str, sizeof(short_str), &d), -EBADMSG);
	CU_ASSERT_STRING_EQUAL(d.name, "keep");
	/* A body longer than any name is refused by the header's limits. */
	CU_ASSERT_EQUAL(bh_msg_frame(BH_MSG_VTPM_START, 0, 1, 1, frame, 66, frame, sizeof(frame)),
			-EMSGSIZE);
	/* A state store must carry a state. */
	CU_ASSERT_EQUAL(bh_msg_frame(BH_MSG_VTPM_STATE_STORE, 0, 1, 1, NULL, 0, frame,
				     sizeof(frame)), -EMSGSIZE);
	CU_ASSERT_EQUAL(bh_msg_frame(BH_MSG_VTPM_STATE_LOAD, 0, 1, 1, NULL, 0, frame,
				     sizeof(frame)), BH_MSG_HDR_SIZE);
}

static void test_result_roundtrip_and_rejects(void)
{
	struct bh_msg_vtpm_result m = { -ESTALE, "db", "state generation 3 is older than 5" };
	struct bh_msg_vtpm_result d;
	uint8_t buf[512];
	long n = bh_msg_vtpm_result_encode(&m, buf, sizeof(buf));

	CU_ASSERT_FATAL(n > 0);
	memset(&d, 0, sizeof(d));
	CU_ASSERT_EQUAL(bh_msg_vtpm_result_decode(buf, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(memcmp(&m, &d, sizeof(m)), 0);
	m.status = 0;
	m.name[0] = 0; /* empty name allowed: the request was not decodable */
	n = bh_msg_vtpm_result_encode(&m, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_vtpm_result_decode(buf, (size_t)n, &d), 0);
	m.status = 5; /* positive: not an errno */
	n = bh_msg_vtpm_result_encode(&m, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_vtpm_result_decode(buf, (size_t)n, &d), -EBADMSG);
	m.status = -1;
	strcpy(m.name, "Bad/Name");
	n = bh_msg_vtpm_result_encode(&m, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_vtpm_result_decode(buf, (size_t)n, &d), -EBADMSG);
	CU_ASSERT_EQUAL(bh_msg_vtpm_result_decode(buf, 3, &d), -EBADMSG);
}

static void test_unseal_roundtrip_and_rejects(void)
{
	struct bh_msg_unseal u = { "web", "web-data", BH_UNSEAL_CREATE }, ud;
	struct bh_msg_unseal_result r = { .status = 0, .secret_len = 64 }, rd;
	uint8_t body[1024], frame[BH_MSG_HDR_SIZE + 1024];
	long n = bh_msg_unseal_encode(&u, body, sizeof(body));

	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(bh_msg_unseal_decode(body, (size_t)n, &ud), 0);
	CU_ASSERT_EQUAL(memcmp(&u, &ud, sizeof(u)), 0);
	CU_ASSERT(bh_msg_frame(BH_MSG_UNSEAL, 0, 1, 1, body, (size_t)n, frame, sizeof(frame)) > 0);
	CU_ASSERT(bh_msg_frame(BH_MSG_VTPM_RESEAL, 0, 1, 1, body, (size_t)n, frame,
			       sizeof(frame)) > 0);
	body[n - 1] = 0x80; /* unknown flag */
	CU_ASSERT_EQUAL(bh_msg_unseal_decode(body, (size_t)n, &ud), -EBADMSG);
	strcpy(u.volume, "../x");
	n = bh_msg_unseal_encode(&u, body, sizeof(body));
	CU_ASSERT_EQUAL(bh_msg_unseal_decode(body, (size_t)n, &ud), -EBADMSG);

	for (int i = 0; i < 64; i++)
		r.secret[i] = (uint8_t)(i * 7 + 1);
	strcpy(r.text, "ok");
	n = bh_msg_unseal_result_encode(&r, body, sizeof(body));
	CU_ASSERT_FATAL(n == 4 + 2 + 64 + 2 + 2);
	CU_ASSERT(bh_msg_frame(BH_MSG_UNSEAL_RESULT, 0, 1, 1, body, (size_t)n, frame,
			       sizeof(frame)) > 0);
	CU_ASSERT_EQUAL(bh_msg_unseal_result_decode(body, (size_t)n, &rd), 0);
	CU_ASSERT_EQUAL(memcmp(&r, &rd, sizeof(r)), 0);
	/* A refusal carries no secret, even when the sender had one. */
	r.status = -EACCES;
	n = bh_msg_unseal_result_encode(&r, body, sizeof(body));
	CU_ASSERT_EQUAL(n, 4 + 2 + 2 + 2);
	/* ... and a decoder refuses one that does: a success with its status made -13. */
	r.status = 0;
	n = bh_msg_unseal_result_encode(&r, body, sizeof(body));
	body[0] = 0xff, body[1] = 0xff, body[2] = 0xff, body[3] = 0xf3;
	CU_ASSERT_EQUAL(bh_msg_unseal_result_decode(body, (size_t)n, &rd), -EBADMSG);
	CU_ASSERT_EQUAL(rd.secret_len, 0);
	r.secret_len = BH_UNSEAL_SECRET_MAX + 1;
	CU_ASSERT_EQUAL(bh_msg_unseal_result_encode(&r, body, sizeof(body)), -EINVAL);
}

static const struct bh_test tests[] = {
	{ "ref round trip", test_ref_roundtrip },
	{ "ref rejects", test_ref_rejects },
	{ "result round trip and rejects", test_result_roundtrip_and_rejects },
	{ "unseal round trip and rejects", test_unseal_roundtrip_and_rejects },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "msg-vtpm", tests }, { NULL, NULL } };

	return bh_test_main(suites);
}
