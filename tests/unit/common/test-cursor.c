/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../bh-test.h"
#include "bulkhead/cursor.h"

static void test_roundtrip(void)
{
	uint8_t buf[64];
	struct bh_wcursor w;
	struct bh_cursor c;
	uint8_t u8 = 0;
	uint16_t u16 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;
	char s[16];
	uint8_t raw[3];

	bh_wcursor_init(&w, buf, sizeof(buf));
	bh_wcursor_u8(&w, 0xab);
	bh_wcursor_u16(&w, 0x1234);
	bh_wcursor_u32(&w, 0xdeadbeef);
	bh_wcursor_u64(&w, 0x0102030405060708ull);
	bh_wcursor_str(&w, "hello");
	bh_wcursor_bytes(&w, "xyz", 3);
	CU_ASSERT_EQUAL(bh_wcursor_finish(&w), 1 + 2 + 4 + 8 + 2 + 5 + 3);
	/* Big-endian on the wire. */
	CU_ASSERT_EQUAL(buf[1], 0x12);
	CU_ASSERT_EQUAL(buf[2], 0x34);
	CU_ASSERT_EQUAL(buf[3], 0xde);
	CU_ASSERT_EQUAL(buf[7], 0x01);

	bh_cursor_init(&c, buf, (size_t)bh_wcursor_finish(&w));
	CU_ASSERT_EQUAL(bh_cursor_u8(&c, &u8), 0);
	CU_ASSERT_EQUAL(bh_cursor_u16(&c, &u16), 0);
	CU_ASSERT_EQUAL(bh_cursor_u32(&c, &u32), 0);
	CU_ASSERT_EQUAL(bh_cursor_u64(&c, &u64), 0);
	CU_ASSERT_EQUAL(bh_cursor_str(&c, s, sizeof(s)), 0);
	CU_ASSERT_EQUAL(bh_cursor_bytes(&c, raw, 3), 0);
	CU_ASSERT_EQUAL(bh_cursor_finish(&c), 0);
	CU_ASSERT_EQUAL(u8, 0xab);
	CU_ASSERT_EQUAL(u16, 0x1234);
	CU_ASSERT_EQUAL(u32, 0xdeadbeef);
	CU_ASSERT_EQUAL(u64, 0x0102030405060708ull);
	CU_ASSERT_STRING_EQUAL(s, "hello");
	CU_ASSERT_EQUAL(memcmp(raw, "xyz", 3), 0);
}

static void test_short_input_is_sticky(void)
{
	const uint8_t in[3] = { 1, 2, 3 };
	struct bh_cursor c;
	uint32_t v = 99;
	uint8_t b = 0;

	bh_cursor_init(&c, in, sizeof(in));
	CU_ASSERT_EQUAL(bh_cursor_u32(&c, &v), -EBADMSG);
	CU_ASSERT_EQUAL(v, 99);
	/* Even a read that would fit now fails: the error is sticky. */
	CU_ASSERT_EQUAL(bh_cursor_u8(&c, &b), -EBADMSG);
	CU_ASSERT_EQUAL(b, 0);
	CU_ASSERT_EQUAL(bh_cursor_finish(&c), -EBADMSG);
}

static void test_trailing_bytes(void)
{
	const uint8_t in[3] = { 1, 2, 3 };
	struct bh_cursor c;
	uint16_t v;

	bh_cursor_init(&c, in, sizeof(in));
	CU_ASSERT_EQUAL(bh_cursor_u16(&c, &v), 0);
	CU_ASSERT_EQUAL(bh_cursor_remaining(&c), 1);
	CU_ASSERT_EQUAL(bh_cursor_finish(&c), -EBADMSG);
	CU_ASSERT_EQUAL(bh_cursor_skip(&c, 1), 0);
	CU_ASSERT_EQUAL(bh_cursor_finish(&c), 0);
}

static void test_huge_lengths_do_not_wrap(void)
{
	const uint8_t in[8] = { 0 };
	const uint8_t *p = NULL;
	struct bh_cursor c;

	bh_cursor_init(&c, in, sizeof(in));
	CU_ASSERT_EQUAL(bh_cursor_skip(&c, 4), 0);
	CU_ASSERT_EQUAL(bh_cursor_ref(&c, SIZE_MAX, &p), -EBADMSG);
	CU_ASSERT_PTR_NULL(p);
	bh_cursor_init(&c, in, sizeof(in));
	CU_ASSERT_EQUAL(bh_cursor_skip(&c, SIZE_MAX - 2), -EBADMSG);
}

static void test_strings(void)
{
	const uint8_t too_long[] = { 0, 4, 'a', 'b', 'c', 'd' };
	const uint8_t embedded_nul[] = { 0, 3, 'a', 0, 'c' };
	const uint8_t short_body[] = { 0, 9, 'a' };
	const uint8_t empty[] = { 0, 0 };
	struct bh_cursor c;
	char s[4];

	bh_cursor_init(&c, too_long, sizeof(too_long));
	CU_ASSERT_EQUAL(bh_cursor_str(&c, s, sizeof(s)), -EBADMSG);
	bh_cursor_init(&c, embedded_nul, sizeof(embedded_nul));
	CU_ASSERT_EQUAL(bh_cursor_str(&c, s, sizeof(s)), -EBADMSG);
	bh_cursor_init(&c, short_body, sizeof(short_body));
	CU_ASSERT_EQUAL(bh_cursor_str(&c, s, sizeof(s)), -EBADMSG);
	bh_cursor_init(&c, empty, sizeof(empty));
	CU_ASSERT_EQUAL(bh_cursor_str(&c, s, sizeof(s)), 0);
	CU_ASSERT_STRING_EQUAL(s, "");
	CU_ASSERT_EQUAL(bh_cursor_finish(&c), 0);
}

static void test_writer_overflow(void)
{
	uint8_t buf[5];
	struct bh_wcursor w;
	char big[70000];

	bh_wcursor_init(&w, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_wcursor_u32(&w, 1), 0);
	CU_ASSERT_EQUAL(bh_wcursor_u16(&w, 1), -ENOBUFS);
	CU_ASSERT_EQUAL(bh_wcursor_u8(&w, 1), -ENOBUFS); /* sticky */
	CU_ASSERT_EQUAL(bh_wcursor_finish(&w), -ENOBUFS);

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bh_wcursor_init(&w, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_wcursor_str(&w, big), -EINVAL);
	CU_ASSERT_EQUAL(bh_wcursor_finish(&w), -EINVAL);
}

static void test_null_buffer(void)
{
	struct bh_cursor c;
	struct bh_wcursor w;
	uint8_t b;

	bh_cursor_init(&c, NULL, 100);
	CU_ASSERT_EQUAL(bh_cursor_remaining(&c), 0);
	CU_ASSERT_EQUAL(bh_cursor_u8(&c, &b), -EBADMSG);
	bh_wcursor_init(&w, NULL, 100);
	CU_ASSERT_EQUAL(bh_wcursor_u8(&w, 1), -ENOBUFS);
}

static const struct bh_test cursor_tests[] = {
	{ "encode/decode round trip", test_roundtrip },
	{ "short input is a sticky error", test_short_input_is_sticky },
	{ "trailing bytes rejected by finish", test_trailing_bytes },
	{ "huge lengths do not wrap", test_huge_lengths_do_not_wrap },
	{ "strings: length, NUL, short", test_strings },
	{ "writer overflow", test_writer_overflow },
	{ "NULL buffers", test_null_buffer },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "cursor", cursor_tests }, { NULL, NULL } };

	return bh_test_main(suites);
}
