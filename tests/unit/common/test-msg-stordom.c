/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "../bh-test.h"
#include "bulkhead/msg.h"

static uint8_t buf[BH_MSG_BODY_MAX];

static struct bh_msg_volume_open sample_open(void)
{
	struct bh_msg_volume_open m;

	memset(&m, 0, sizeof(m));
	strcpy(m.name, "web-disk0");
	strcpy(m.path, "/var/lib/bulkhead/web/disk0.img");
	strcpy(m.keyfile, "/run/bulkhead/keys/web-disk0");
	m.flags = BH_VOLUME_CREATE | BH_VOLUME_TEST_KDF;
	m.size = 256ull << 20;
	return m;
}

static void check_limits(uint16_t type, long n)
{
	uint32_t min, max;

	CU_ASSERT_EQUAL(bh_msg_body_limits(type, &min, &max), 0);
	CU_ASSERT(n >= (long)min && n <= (long)max);
}

static void test_open_roundtrip(void)
{
	struct bh_msg_volume_open m = sample_open(), d;
	long n = bh_msg_volume_open_encode(&m, buf, sizeof(buf));

	CU_ASSERT_FATAL(n > 0);
	check_limits(BH_MSG_VOLUME_OPEN, n);
	memset(&d, 0, sizeof(d));
	CU_ASSERT_EQUAL(bh_msg_volume_open_decode(buf, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(memcmp(&m, &d, sizeof(m)), 0);
	CU_ASSERT_EQUAL(bh_msg_volume_open_decode(buf, (size_t)n - 1, &d), -EBADMSG);
	buf[n] = 0;
	CU_ASSERT_EQUAL(bh_msg_volume_open_decode(buf, (size_t)n + 1, &d), -EBADMSG);
	/* Longest paths fit the table's maximum. */
	memset(m.path, 'a', sizeof(m.path) - 1);
	m.path[0] = '/';
	memset(m.keyfile, 'b', sizeof(m.keyfile) - 1);
	m.keyfile[0] = '/';
	n = bh_msg_volume_open_encode(&m, buf, sizeof(buf));
	check_limits(BH_MSG_VOLUME_OPEN, n);
	CU_ASSERT_EQUAL(bh_msg_volume_open_decode(buf, (size_t)n, &d), 0);
}

static void expect_open_reject(struct bh_msg_volume_open m);

/* A sealed volume: no key file, its guest named; and neither half alone. */
static void test_open_sealed(void)
{
	struct bh_msg_volume_open m = sample_open(), d;
	long n;

	memset(m.keyfile, 0, sizeof(m.keyfile));
	strcpy(m.guest, "web");
	m.flags |= BH_VOLUME_SEALED;
	n = bh_msg_volume_open_encode(&m, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	check_limits(BH_MSG_VOLUME_OPEN, n);
	memset(&d, 0, sizeof(d));
	CU_ASSERT_EQUAL(bh_msg_volume_open_decode(buf, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(memcmp(&m, &d, sizeof(m)), 0);
	strcpy(m.keyfile, "/k"); /* sealed with a key file */
	expect_open_reject(m);
	m.keyfile[0] = '\0';
	m.guest[0] = '\0'; /* sealed without its guest */
	expect_open_reject(m);
	m = sample_open();
	strcpy(m.guest, "web"); /* a guest without SEALED */
	expect_open_reject(m);
	strcpy(m.guest, "Bad/Name");
	m.flags |= BH_VOLUME_SEALED;
	m.keyfile[0] = '\0';
	expect_open_reject(m);
}

static void expect_open_reject(struct bh_msg_volume_open m)
{
	struct bh_msg_volume_open d;
	long n = bh_msg_volume_open_encode(&m, buf, sizeof(buf));

	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(bh_msg_volume_open_decode(buf, (size_t)n, &d), -EBADMSG);
}

static void test_open_rejects(void)
{
	struct bh_msg_volume_open m = sample_open();

	strcpy(m.path, "relative/disk.img");
	expect_open_reject(m);
	m = sample_open();
	m.keyfile[3] = '\n';
	expect_open_reject(m);
	m = sample_open();
	strcpy(m.name, "Bad Name");
	expect_open_reject(m);
	m = sample_open();
	m.size = 4095;
	expect_open_reject(m);
	m = sample_open();
	m.size = 0;
	expect_open_reject(m);
	m = sample_open();
	m.flags = 0; /* open: no size */
	expect_open_reject(m);
	m = sample_open();
	m.flags = BH_VOLUME_TEST_KDF; /* a KDF only when creating */
	m.size = 0;
	expect_open_reject(m);
	m = sample_open();
	m.flags = BH_VOLUME_IF_MISSING; /* create-if-missing only with CREATE */
	m.size = 0;
	expect_open_reject(m);
	m = sample_open();
	m.flags |= 0x80;
	expect_open_reject(m);
}

static void test_ref_roundtrip(void)
{
	static const uint16_t types[] = { BH_MSG_VOLUME_CLOSE, BH_MSG_VOLUME_GROW,
					  BH_MSG_VOLUME_ERASE };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct bh_msg_volume_ref m = { "db-disk0", 0 }, d = { "", 0 };
		long n;

		if (types[i] == BH_MSG_VOLUME_GROW)
			m.size = 1ull << 30;
		n = bh_msg_volume_ref_encode(types[i], &m, buf, sizeof(buf));
		CU_ASSERT_FATAL(n > 0);
		check_limits(types[i], n);
		CU_ASSERT_EQUAL(bh_msg_volume_ref_decode(types[i], buf, (size_t)n, &d), 0);
		CU_ASSERT_EQUAL(memcmp(&m, &d, sizeof(m)), 0);
		CU_ASSERT_EQUAL(bh_msg_volume_ref_decode(types[i], buf, (size_t)n - 1, &d),
				-EBADMSG);
	}
	CU_ASSERT_EQUAL(bh_msg_volume_ref_encode(BH_MSG_PING, &(struct bh_msg_volume_ref){ "a", 0 },
						 buf, sizeof(buf)),
			-EINVAL);
}

static void test_grow_rejects(void)
{
	struct bh_msg_volume_ref m = { "db", 12345 }, d;
	long n = bh_msg_volume_ref_encode(BH_MSG_VOLUME_GROW, &m, buf, sizeof(buf));

	CU_ASSERT_EQUAL(bh_msg_volume_ref_decode(BH_MSG_VOLUME_GROW, buf, (size_t)n, &d), -EBADMSG);
	m.size = 0;
	n = bh_msg_volume_ref_encode(BH_MSG_VOLUME_GROW, &m, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_volume_ref_decode(BH_MSG_VOLUME_GROW, buf, (size_t)n, &d), -EBADMSG);
}

static void test_result_roundtrip(void)
{
	struct bh_msg_volume_result m = { -EPERM, 0, "web", "wrong key" }, d;
	long n = bh_msg_volume_result_encode(&m, buf, sizeof(buf));

	CU_ASSERT_FATAL(n > 0);
	check_limits(BH_MSG_VOLUME_RESULT, n);
	memset(&d, 0, sizeof(d));
	CU_ASSERT_EQUAL(bh_msg_volume_result_decode(buf, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(memcmp(&m, &d, sizeof(m)), 0);
	m = (struct bh_msg_volume_result){ 0, 1ull << 40, "", "" };
	n = bh_msg_volume_result_encode(&m, buf, sizeof(buf));
	check_limits(BH_MSG_VOLUME_RESULT, n);
	CU_ASSERT_EQUAL(bh_msg_volume_result_decode(buf, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(d.size, 1ull << 40);
	m.status = 5; /* positive: not an errno */
	n = bh_msg_volume_result_encode(&m, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_volume_result_decode(buf, (size_t)n, &d), -EBADMSG);
}

static void test_names(void)
{
	CU_ASSERT_STRING_EQUAL(bh_msg_type_name(BH_MSG_VOLUME_OPEN), "VOLUME_OPEN");
	CU_ASSERT_STRING_EQUAL(bh_msg_type_name(BH_MSG_VOLUME_RESULT), "VOLUME_RESULT");
}

static const struct bh_test tests[] = {
	{ "open sealed", test_open_sealed },
	{ "VOLUME_OPEN round trip, longest paths", test_open_roundtrip },
	{ "VOLUME_OPEN rejects", test_open_rejects },
	{ "CLOSE/GROW/ERASE round trip", test_ref_roundtrip },
	{ "GROW rejects bad sizes", test_grow_rejects },
	{ "VOLUME_RESULT round trip", test_result_roundtrip },
	{ "type names", test_names },
	{ NULL, NULL },
};

static const struct bh_suite suites[] = {
	{ "msg-stordom", tests },
	{ NULL, NULL },
};

int main(void)
{
	return bh_test_main(suites);
}
