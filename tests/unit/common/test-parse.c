/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>

#include "../bh-test.h"
#include "bulkhead/parse.h"

static void test_u64_accepts(void)
{
	uint64_t v = 0;

	CU_ASSERT_EQUAL(bh_parse_u64("0", 0, UINT64_MAX, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(bh_parse_u64("42", 0, 100, &v), 0);
	CU_ASSERT_EQUAL(v, 42);
	CU_ASSERT_EQUAL(bh_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	CU_ASSERT_EQUAL(v, UINT64_MAX);
	CU_ASSERT_EQUAL(bh_parse_u64("0x1f", 0, 100, &v), 0);
	CU_ASSERT_EQUAL(v, 31);
	CU_ASSERT_EQUAL(bh_parse_u64("0XFF", 0, 1000, &v), 0);
	CU_ASSERT_EQUAL(v, 255);
}

static void test_u64_rejects_junk(void)
{
	static const char *const bad[] = {
		"", " 1", "1 ", "-1", "+1", "1a", "a1", "0x", "0xg", "1.0", "1e3", "١", "\t7", "0x-1",
	};
	uint64_t v = 1234;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(bh_parse_u64(bad[i], 0, UINT64_MAX, &v), -EINVAL);
		CU_ASSERT_EQUAL(v, 1234); /* never written on failure */
	}
	CU_ASSERT_EQUAL(bh_parse_u64(NULL, 0, 1, &v), -EINVAL);
}

static void test_u64_range(void)
{
	uint64_t v = 7;

	CU_ASSERT_EQUAL(bh_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_u64("0x10000000000000000", 0, UINT64_MAX, &v), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_u64("5", 6, 10, &v), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_u64("11", 6, 10, &v), -ERANGE);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(bh_parse_u64("10", 6, 10, &v), 0);
	CU_ASSERT_EQUAL(v, 10);
}

static void test_narrow(void)
{
	uint32_t v32 = 0;
	uint16_t v16 = 0;

	CU_ASSERT_EQUAL(bh_parse_u32("4294967295", 0, UINT32_MAX, &v32), 0);
	CU_ASSERT_EQUAL(v32, UINT32_MAX);
	CU_ASSERT_EQUAL(bh_parse_u32("4294967296", 0, UINT32_MAX, &v32), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_u16("65535", 0, UINT16_MAX, &v16), 0);
	CU_ASSERT_EQUAL(v16, 65535);
	CU_ASSERT_EQUAL(bh_parse_u16("65536", 0, UINT16_MAX, &v16), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_u16("-0", 0, UINT16_MAX, &v16), -EINVAL);
}

static void test_size(void)
{
	uint64_t v = 0;

	CU_ASSERT_EQUAL(bh_parse_size("512", 1 << 20, 0, UINT64_MAX, &v), 0);
	CU_ASSERT_EQUAL(v, 512ull << 20);
	CU_ASSERT_EQUAL(bh_parse_size("4K", 1, 0, UINT64_MAX, &v), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT_EQUAL(bh_parse_size("2G", 1, 0, UINT64_MAX, &v), 0);
	CU_ASSERT_EQUAL(v, 2ull << 30);
	CU_ASSERT_EQUAL(bh_parse_size("1T", 1, 0, UINT64_MAX, &v), 0);
	CU_ASSERT_EQUAL(v, 1ull << 40);
	CU_ASSERT_EQUAL(bh_parse_size("1X", 1, 0, UINT64_MAX, &v), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_size("G", 1, 0, UINT64_MAX, &v), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_size("1g", 1, 0, UINT64_MAX, &v), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_size("1 G", 1, 0, UINT64_MAX, &v), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_size("-1G", 1, 0, UINT64_MAX, &v), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_size("16777216T", 1, 0, UINT64_MAX, &v), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_size("2M", 1, 0, 1 << 20, &v), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_size("1", 0, 0, 10, &v), -EINVAL);
}

static void test_bool(void)
{
	bool b = false;

	CU_ASSERT_EQUAL(bh_parse_bool("yes", &b), 0);
	CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(bh_parse_bool("0", &b), 0);
	CU_ASSERT_FALSE(b);
	CU_ASSERT_EQUAL(bh_parse_bool("on", &b), 0);
	CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(bh_parse_bool("off", &b), 0);
	CU_ASSERT_FALSE(b);
	CU_ASSERT_EQUAL(bh_parse_bool("Yes", &b), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_bool("", &b), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_bool("2", &b), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_bool(NULL, &b), -EINVAL);
}

static void test_port_range(void)
{
	uint16_t lo = 0, hi = 0;

	CU_ASSERT_EQUAL(bh_parse_port_range("80", &lo, &hi), 0);
	CU_ASSERT_EQUAL(lo, 80);
	CU_ASSERT_EQUAL(hi, 80);
	CU_ASSERT_EQUAL(bh_parse_port_range("8000-8080", &lo, &hi), 0);
	CU_ASSERT_EQUAL(lo, 8000);
	CU_ASSERT_EQUAL(hi, 8080);
	CU_ASSERT_EQUAL(bh_parse_port_range("1-65535", &lo, &hi), 0);
	CU_ASSERT_EQUAL(bh_parse_port_range("0", &lo, &hi), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_port_range("65536", &lo, &hi), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_port_range("0-10", &lo, &hi), -ERANGE);
	CU_ASSERT_EQUAL(bh_parse_port_range("90-80", &lo, &hi), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_port_range("80-", &lo, &hi), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_port_range("-80", &lo, &hi), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_port_range("80--90", &lo, &hi), -EINVAL);
	CU_ASSERT_EQUAL(bh_parse_port_range("0x50", &lo, &hi), -EINVAL);
	CU_ASSERT_EQUAL(lo, 1); /* untouched by the failures since "1-65535" */
}

static void test_name(void)
{
	CU_ASSERT_EQUAL(bh_check_name("web"), 0);
	CU_ASSERT_EQUAL(bh_check_name("db-1_a"), 0);
	CU_ASSERT_EQUAL(bh_check_name(""), -EINVAL);
	CU_ASSERT_EQUAL(bh_check_name("1web"), -EINVAL);
	CU_ASSERT_EQUAL(bh_check_name("Web"), -EINVAL);
	CU_ASSERT_EQUAL(bh_check_name("we b"), -EINVAL);
	CU_ASSERT_EQUAL(bh_check_name("a/b"), -EINVAL);
	CU_ASSERT_EQUAL(bh_check_name("a.b"), -EINVAL);
	CU_ASSERT_EQUAL(bh_check_name("a23456789012345678901234567890123456789012345678901234567890123"),
			0);
	CU_ASSERT_EQUAL(bh_check_name("a234567890123456789012345678901234567890123456789012345678901234"),
			-EINVAL);
}

static const struct bh_test parse_tests[] = {
	{ "u64 accepts decimal and hex", test_u64_accepts },
	{ "u64 rejects signs, spaces, junk", test_u64_rejects_junk },
	{ "u64 range and overflow", test_u64_range },
	{ "u32/u16 narrowing", test_narrow },
	{ "size suffixes", test_size },
	{ "bool words", test_bool },
	{ "port ranges", test_port_range },
	{ "names", test_name },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "parse", parse_tests }, { NULL, NULL } };

	return bh_test_main(suites);
}
