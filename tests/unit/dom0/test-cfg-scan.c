/* SPDX-License-Identifier: MIT */
/*
 * The key scanner on the same inputs the loader sees: every statement, its
 * line, "+=", and the line of each top-level list item.
 */
#include <string.h>

#include "../bh-test.h"
#include "../../../dom0/dom0.h"

static struct bh_scan scan_str(const char *s)
{
	struct bh_scan sc = { 0 };

	CU_ASSERT_EQUAL_FATAL(bh_cfg_scan(s, strlen(s), &sc), 0);
	return sc;
}

static void test_simple(void)
{
	struct bh_scan sc = scan_str("name = \"web\"\n\nmemory=256 # MiB\nvcpus = 2");

	CU_ASSERT_EQUAL_FATAL(sc.n, 3);
	CU_ASSERT_STRING_EQUAL(sc.v[0].key, "name");
	CU_ASSERT_EQUAL(sc.v[0].line, 1);
	CU_ASSERT_FALSE(sc.v[0].is_list);
	CU_ASSERT_STRING_EQUAL(sc.v[1].key, "memory");
	CU_ASSERT_EQUAL(sc.v[1].line, 3);
	CU_ASSERT_STRING_EQUAL(sc.v[2].key, "vcpus");
	CU_ASSERT_EQUAL(sc.v[2].line, 4);
	bh_scan_free(&sc);
}

static void test_comments_and_strings(void)
{
	/* '#', '=' and newlines-as-text inside strings and comments are not statements. */
	struct bh_scan sc = scan_str("# bh_fake = 1\n"
				     "extra = \"a=b # not a comment\" # x = 2\n"
				     "root = 'q\\'x = 3'\n"
				     "kernel = \"\\\"y = 4\"; ramdisk = 'r'\n");

	CU_ASSERT_EQUAL_FATAL(sc.n, 4);
	CU_ASSERT_STRING_EQUAL(sc.v[0].key, "extra");
	CU_ASSERT_EQUAL(sc.v[0].line, 2);
	CU_ASSERT_STRING_EQUAL(sc.v[1].key, "root");
	CU_ASSERT_EQUAL(sc.v[1].line, 3);
	CU_ASSERT_STRING_EQUAL(sc.v[2].key, "kernel");
	CU_ASSERT_STRING_EQUAL(sc.v[3].key, "ramdisk");
	CU_ASSERT_EQUAL(sc.v[3].line, 4);
	bh_scan_free(&sc);
}

static void test_multiline_list(void)
{
	struct bh_scan sc = scan_str("bh_allow = [\n"
				     "    \"to=db port=5432\", # first\n"
				     "    # a comment line, with a , comma\n"
				     "    'to=netdom', \"x\",\n"
				     "    [ \"nested\", \"ignored\" ],\n"
				     "]\n"
				     "vcpus = 1\n");

	CU_ASSERT_EQUAL_FATAL(sc.n, 2);
	CU_ASSERT_TRUE(sc.v[0].is_list);
	CU_ASSERT_EQUAL(sc.v[0].line, 1);
	CU_ASSERT_EQUAL_FATAL(sc.v[0].n_items, 4);
	CU_ASSERT_EQUAL(sc.v[0].item_lines[0], 2);
	CU_ASSERT_EQUAL(sc.v[0].item_lines[1], 4);
	CU_ASSERT_EQUAL(sc.v[0].item_lines[2], 4);
	CU_ASSERT_EQUAL(sc.v[0].item_lines[3], 5);
	CU_ASSERT_STRING_EQUAL(sc.v[1].key, "vcpus");
	CU_ASSERT_EQUAL(sc.v[1].line, 7);
	bh_scan_free(&sc);
}

static void test_append_and_empty(void)
{
	struct bh_scan sc = scan_str("vif = []\nvif += [ \"a\" ]\nvif+=[\"b\",\"c\"]\n");

	CU_ASSERT_EQUAL_FATAL(sc.n, 3);
	CU_ASSERT_FALSE(sc.v[0].append);
	CU_ASSERT_EQUAL(sc.v[0].n_items, 0);
	CU_ASSERT_TRUE(sc.v[1].append);
	CU_ASSERT_EQUAL(sc.v[1].n_items, 1);
	CU_ASSERT_TRUE(sc.v[2].append);
	CU_ASSERT_EQUAL(sc.v[2].n_items, 2);
	CU_ASSERT_EQUAL(sc.v[2].line, 3);
	bh_scan_free(&sc);
}

static void test_junk_resyncs(void)
{
	/* Nothing here is an assignment but the last line; the scanner must not give up. */
	struct bh_scan sc = scan_str("}}} garbage =\n= 5\n\"str\" = 1\nname \"x\"\nmemory = \"unterminated\nvcpus = 3\n");

	CU_ASSERT_EQUAL_FATAL(sc.n, 2);
	CU_ASSERT_STRING_EQUAL(sc.v[0].key, "memory");
	CU_ASSERT_EQUAL(sc.v[0].line, 5);
	CU_ASSERT_STRING_EQUAL(sc.v[1].key, "vcpus");
	CU_ASSERT_EQUAL(sc.v[1].line, 6);
	bh_scan_free(&sc);
}

static void test_unterminated_list(void)
{
	struct bh_scan sc = scan_str("disk = [ \"a\",\n \"b\"\n");

	CU_ASSERT_EQUAL_FATAL(sc.n, 1);
	CU_ASSERT_EQUAL(sc.v[0].n_items, 2);
	CU_ASSERT_EQUAL(sc.v[0].item_lines[1], 2);
	bh_scan_free(&sc);
}

static void test_empty_input(void)
{
	struct bh_scan sc = { 0 };

	CU_ASSERT_EQUAL(bh_cfg_scan("", 0, &sc), 0);
	CU_ASSERT_EQUAL(sc.n, 0);
	bh_scan_free(&sc);
}

/* Exactly what libxlutil's lexer rejects: each of these is a lexical error there. */
static void test_lex_check(void)
{
	static const struct {
		const char *in;
		unsigned line;
		const char *tok;
	} bad[] = {
		{ "Memory = 1\n", 1, "Memory" }, { "a = 1\nb = 1.5\n", 2, ".5" },
		{ "a = [ \"x\", \"y\" @ ]\n", 1, "@" }, { "a = 0xAB\n", 1, "AB" },
		{ "a = [ \"x\",\n \"y\" + ]\n", 2, "+" }, { "a = -5\n", 1, "-5" },
		{ "a = 1\r\n", 1, "\\x0d" }, { "_a = 1\n", 1, "_a" },
		{ "a = [ \"x\", \"y\",\n 'z ]\n", 2, "'z ]" },
	};
	static const char *const good[] = {
		"a.b_c = [ 'x', \"y\" ] ; d += [ 5a, 0x1f ] # Anything @ here\n",
		"e = \"Upper @ -1.5\"\n",
	};
	char tok[32];
	unsigned line;

	for (size_t i = 0; i < BH_ARRAY_SIZE(bad); i++) {
		line = 0;
		CU_ASSERT_EQUAL(bh_cfg_lex_check(bad[i].in, strlen(bad[i].in), &line, tok,
						 sizeof(tok)), -EINVAL);
		CU_ASSERT_EQUAL(line, bad[i].line);
		CU_ASSERT_STRING_EQUAL(tok, bad[i].tok);
	}
	for (size_t i = 0; i < BH_ARRAY_SIZE(good); i++)
		CU_ASSERT_EQUAL(bh_cfg_lex_check(good[i], strlen(good[i]), &line, tok, sizeof(tok)),
				0);
}

static const struct bh_test scan_tests[] = {
	{ "lexical pre-check", test_lex_check },
	{ "simple statements and lines", test_simple },
	{ "comments and both quote types", test_comments_and_strings },
	{ "multi-line list item lines", test_multiline_list },
	{ "+= and empty lists", test_append_and_empty },
	{ "junk resyncs at newlines", test_junk_resyncs },
	{ "unterminated list", test_unterminated_list },
	{ "empty input", test_empty_input },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = {
		{ "cfg-scan", scan_tests },
		{ NULL, NULL },
	};

	return bh_test_main(suites);
}
