/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../bh-test.h"
#include "bulkhead/log.h"

/* Capture what the logger writes to stderr into @out. */
static void capture(void (*fn)(void), char *out, size_t outlen)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, outlen - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
}

static void log_levels(void)
{
	bh_log_init("stordomd[web]", BH_LOG_STDERR, LOG_INFO);
	bh_info("volume %s open", "web-data");
	bh_err("short read %d", 3);
	bh_debug("not shown at info");
}

static void test_tag_and_levels(void)
{
	char out[512];

	capture(log_levels, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "stordomd[web]: volume web-data open\n"
				    "stordomd[web]: error: short read 3\n");
}

static void log_errno(void)
{
	int r;

	bh_log_init("bulkhead", BH_LOG_STDERR, LOG_DEBUG);
	r = bh_log_errno(LOG_WARNING, -ENOENT, "open %s", "/x");
	CU_ASSERT_EQUAL(r, -ENOENT);
	bh_debug("dbg");
}

static void test_errno(void)
{
	char out[512];

	capture(log_errno, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "bulkhead: warning: open /x: No such file or directory\n"
				    "bulkhead: debug: dbg\n");
}

static void test_level_clamp(void)
{
	bh_log_set_level(100);
	CU_ASSERT_EQUAL(bh_log_get_level(), LOG_DEBUG);
	bh_log_set_level(-3);
	CU_ASSERT_EQUAL(bh_log_get_level(), LOG_EMERG);
}

static void test_quote(void)
{
	char out[16];

	CU_ASSERT_STRING_EQUAL(bh_log_quote(out, sizeof(out), "abc", 3), "abc");
	CU_ASSERT_STRING_EQUAL(bh_log_quote(out, sizeof(out), "a\nb\\", 4), "a\\x0ab\\\\");
	CU_ASSERT_STRING_EQUAL(bh_log_quote(out, sizeof(out), "\0\1", 2), "\\x00\\x01");
	/* Cut with an ellipsis, never longer than the buffer. */
	bh_log_quote(out, sizeof(out), "0123456789abcdefghij", 20);
	CU_ASSERT_EQUAL(strlen(out), sizeof(out) - 1);
	CU_ASSERT_STRING_EQUAL(out, "0123456789ab...");
	bh_log_quote(out, 8, "\xff\xff\xff\xff", 4);
	CU_ASSERT(strlen(out) <= 7);
	CU_ASSERT_STRING_EQUAL(out, "\\xff...");
	/* Exactly fitting input is not cut. */
	CU_ASSERT_STRING_EQUAL(bh_log_quote(out, 4, "abc", 3), "abc");
	CU_ASSERT_STRING_EQUAL(bh_log_quote(out, 1, "abc", 3), "");
}

static const struct bh_test log_tests[] = {
	{ "tag and level filter", test_tag_and_levels },
	{ "errno helper", test_errno },
	{ "level clamp", test_level_clamp },
	{ "quote untrusted bytes", test_quote },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "log", log_tests }, { NULL, NULL } };

	return bh_test_main(suites);
}
