/* SPDX-License-Identifier: MIT */
/*
 * The audit log: SHA-256 against the FIPS 180-2 vector, record format and
 * JSON escaping, the strict record parser, chain verification naming the
 * first bad record for every kind of tampering, refusal to extend a torn
 * log, concurrent writers, and RFC 5424 forwarding read back from a socket.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "../bh-test.h"
#include "../../../dom0/dom0.h"

static char tmpdir[] = "/tmp/bh-test-audit-XXXXXX";
static char logpath[256];

static const struct bh_audit_actor actor = { .uid = 0, .pid = 42 };
static const struct bh_audit_opts nosync = { .no_fsync = true };

static void fresh_log(void)
{
	static unsigned n;

	snprintf(logpath, sizeof(logpath), "%s/log%u/audit.jsonl", tmpdir, n++);
}

static void append_n(const char *path, unsigned n)
{
	struct bh_audit *a = NULL;

	CU_ASSERT_EQUAL_FATAL(bh_audit_open(path, &nosync, &a), 0);
	for (unsigned i = 0; i < n; i++) {
		char target[32];

		snprintf(target, sizeof(target), "dom%u", i);
		CU_ASSERT_EQUAL(bh_audit_append(a, &actor, "status", target, "ok", ""), 0);
	}
	bh_audit_close(a);
}

/* The whole file in a malloc'ed NUL-terminated buffer. */
static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	*ret_len = 0;
	buf = malloc(1 << 20);
	cap = fread(buf, 1, (1 << 20) - 1, f);
	buf[cap] = '\0';
	*ret_len = cap;
	fclose(f);
	return buf;
}

/* Start offset of line @k (1-based) in @buf. */
static size_t line_off(const char *buf, unsigned k)
{
	size_t off = 0;

	while (--k)
		off = (size_t)(strchr(buf + off, '\n') - buf) + 1;
	return off;
}

static void verify_buf(const char *buf, size_t len, uint64_t want_bad, uint64_t want_n)
{
	struct bh_audit_verify v;

	bh_audit_verify_buf(buf, len, &v);
	CU_ASSERT_EQUAL(v.bad_line, want_bad);
	CU_ASSERT_EQUAL(v.n_records, want_n);
	if (v.bad_line != want_bad)
		fprintf(stderr, "bad_line %llu (%s), wanted %llu\n", (unsigned long long)v.bad_line,
			v.why, (unsigned long long)want_bad);
}

static void test_sha256_vector(void)
{
	char hex[BH_SHA256_HEX_LEN + 1];

	CU_ASSERT_EQUAL(bh_sha256_hex("abc", 3, hex), 0);
	CU_ASSERT_STRING_EQUAL(hex,
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_format_and_chain(void)
{
	char h1[BH_SHA256_HEX_LEN + 1], *buf;
	struct bh_audit_verify v;
	struct bh_audit_rec rec;
	const char *why;
	size_t len, l1;

	fresh_log();
	append_n(logpath, 3);
	buf = slurp(logpath, &len);
	CU_ASSERT_EQUAL(bh_audit_verify_file(logpath, &v), 0);
	CU_ASSERT_EQUAL(v.bad_line, 0);
	CU_ASSERT_EQUAL(v.n_records, 3);
	/* Line 1: seq 1, genesis prev, actor, fields in order. */
	l1 = (size_t)(strchr(buf, '\n') - buf);
	CU_ASSERT_EQUAL_FATAL(bh_audit_rec_parse(buf, l1, &rec, &why), 0);
	CU_ASSERT_EQUAL(rec.seq, 1);
	CU_ASSERT_EQUAL(rec.uid, 0);
	CU_ASSERT_EQUAL(rec.pid, 42);
	CU_ASSERT_EQUAL(rec.user.len, 4);
	CU_ASSERT_NSTRING_EQUAL(rec.user.p, "root", 4);
	CU_ASSERT_NSTRING_EQUAL(rec.prev.p, BH_AUDIT_GENESIS, 64);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"action\":\"status\",\"target\":\"dom0\","
					"\"result\":\"ok\",\"detail\":\"\",\"prev\":\""));
	CU_ASSERT_EQUAL(strncmp(buf, "{\"seq\":1,\"ts\":\"", 15), 0);
	/* Line 2 chains to the hash of line 1's bytes without the newline. */
	CU_ASSERT_EQUAL(bh_sha256_hex(buf, l1, h1), 0);
	CU_ASSERT_EQUAL_FATAL(bh_audit_rec_parse(buf + l1 + 1,
		(size_t)(strchr(buf + l1 + 1, '\n') - (buf + l1 + 1)), &rec, &why), 0);
	CU_ASSERT_EQUAL(rec.seq, 2);
	CU_ASSERT_NSTRING_EQUAL(rec.prev.p, h1, 64);
	free(buf);
}

static void test_escaping(void)
{
	/* quote, backslash, newline, ESC, DEL, valid é and €, then invalid: lone 0xff,
	 * overlong NUL (c0 80), surrogate (ed a0 80), truncated sequence (e2 82). */
	static const char nasty[] = "a\"b\\c\nd\x1b" "e\x7f" "\xc3\xa9\xe2\x82\xac"
				    "\xff\xc0\x80\xed\xa0\x80\xe2\x82";
	static const char want[] = "\"a\\\"b\\\\c\\nd\\u001be\\u007f\xc3\xa9\xe2\x82\xac"
				   "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"";
	struct bh_audit *a = NULL;
	struct bh_audit_verify v;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	bh_json_quote(f, nasty, sizeof(nasty) - 1);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, want);
	free(buf);
	/* The same through a record: still one line, still a valid chain. */
	fresh_log();
	CU_ASSERT_EQUAL_FATAL(bh_audit_open(logpath, &nosync, &a), 0);
	CU_ASSERT_EQUAL(bh_audit_append(a, &actor, "policy", nasty, "refused", nasty), 0);
	CU_ASSERT_EQUAL(bh_audit_append(a, &actor, "down", NULL, "ok", NULL), 0);
	bh_audit_close(a);
	buf = slurp(logpath, &len);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"target\":\"\""));
	CU_ASSERT_EQUAL(strchr(buf, '\n') - buf, (long)line_off(buf, 2) - 1);
	CU_ASSERT_EQUAL(bh_audit_verify_file(logpath, &v), 0);
	CU_ASSERT_EQUAL(v.bad_line, 0);
	CU_ASSERT_EQUAL(v.n_records, 2);
	free(buf);
}

static void test_parser_rejects(void)
{
	static const char *const bad[] = {
		"",
		"{}",
		"{\"seq\":1}",
		"{\"seq\":01,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":\"\","
		"\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"" BH_AUDIT_GENESIS "\"}",
		"{\"seq\":-1,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":\"\","
		"\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"" BH_AUDIT_GENESIS "\"}",
		"{\"seq\":1,\"seq\":1,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},"
		"\"action\":\"\",\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\""
		BH_AUDIT_GENESIS "\"}",
		"{\"seq\":1,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":\"a\tb\","
		"\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"" BH_AUDIT_GENESIS "\"}",
		"{\"seq\":1,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":\"\\q\","
		"\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"" BH_AUDIT_GENESIS "\"}",
		"{\"seq\":1,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":\"\xff\","
		"\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"" BH_AUDIT_GENESIS "\"}",
		"{\"seq\":1,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":\"\","
		"\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"" BH_AUDIT_GENESIS "\"}x",
		"{\"seq\":0,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":\"\","
		"\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"" BH_AUDIT_GENESIS "\"}",
		"{\"seq\":1,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":\"\","
		"\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"00\"}",
		"{\"seq\":1,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":\"\","
		"\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"" BH_AUDIT_GENESIS "\","
		"\"extra\":\"\"}",
		"{\"seq\":18446744073709551616,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},"
		"\"action\":\"\",\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\""
		BH_AUDIT_GENESIS "\"}",
		"{\"seq\":1.5,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":\"\","
		"\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"" BH_AUDIT_GENESIS "\"}",
	};
	static const char good[] =
		"{\"seq\":1,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\\u00e9\",\"pid\":0},"
		"\"action\":\"\",\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\""
		BH_AUDIT_GENESIS "\"}";
	struct bh_audit_rec rec;
	const char *why;

	for (size_t i = 0; i < BH_ARRAY_SIZE(bad); i++) {
		why = NULL;
		CU_ASSERT_EQUAL(bh_audit_rec_parse(bad[i], strlen(bad[i]), &rec, &why), -EBADMSG);
		CU_ASSERT_PTR_NOT_NULL(why);
	}
	CU_ASSERT_EQUAL(bh_audit_rec_parse(good, strlen(good), &rec, &why), 0);
}

/* Build a 4-record log, return its bytes. */
static char *four(size_t *len)
{
	fresh_log();
	append_n(logpath, 4);
	return slurp(logpath, len);
}

static void test_tamper_edit(void)
{
	size_t len;
	char *buf = four(&len);
	char *p = strstr(buf + line_off(buf, 2), "dom1");

	verify_buf(buf, len, 0, 4);
	p[3] = '9'; /* record 2's target: dom1 -> dom9 */
	verify_buf(buf, len, 2, 1);
	free(buf);
}

static void test_tamper_reorder(void)
{
	size_t len, o2, o3, o4;
	char *buf = four(&len), *copy = malloc(len);

	o2 = line_off(buf, 2), o3 = line_off(buf, 3), o4 = line_off(buf, 4);
	memcpy(copy, buf, o2);
	memcpy(copy + o2, buf + o3, o4 - o3);
	memcpy(copy + o2 + (o4 - o3), buf + o2, o3 - o2);
	memcpy(copy + o4, buf + o4, len - o4);
	verify_buf(copy, len, 2, 1);
	free(copy);
	free(buf);
}

static void test_tamper_delete(void)
{
	size_t len, o2, o3;
	char *buf = four(&len);

	o2 = line_off(buf, 2), o3 = line_off(buf, 3);
	memmove(buf + o2, buf + o3, len - o3);
	verify_buf(buf, len - (o3 - o2), 2, 1);
	/* The first record deleted: line 1 now has seq 2. */
	free(buf);
	buf = four(&len);
	o2 = line_off(buf, 2);
	verify_buf(buf + o2, len - o2, 1, 0);
	free(buf);
}

static void test_tamper_renumber(void)
{
	/* Delete record 2 and renumber 3, 4 as 2, 3: seqs fine, chain broken at line 1. */
	size_t len, o2, o3;
	char *buf = four(&len), *p;

	o2 = line_off(buf, 2), o3 = line_off(buf, 3);
	memmove(buf + o2, buf + o3, len - o3);
	len -= o3 - o2;
	buf[len] = '\0';
	p = strstr(buf + o2, "\"seq\":3");
	p[6] = '2';
	p = strstr(buf, "\"seq\":4");
	p[6] = '3';
	verify_buf(buf, len, 1, 0);
	free(buf);
}

static void test_truncated(void)
{
	struct bh_audit *a = NULL;
	size_t len;
	char *buf = four(&len);

	verify_buf(buf, len - 1, 4, 3);  /* newline lost */
	verify_buf(buf, len - 20, 4, 3); /* cut mid-record */
	/* The writer refuses to chain to a torn record, and leaves the file alone. */
	CU_ASSERT_EQUAL(truncate(logpath, (off_t)len - 20), 0);
	CU_ASSERT_EQUAL_FATAL(bh_audit_open(logpath, &nosync, &a), 0);
	CU_ASSERT_EQUAL(bh_audit_append(a, &actor, "down", "", "ok", ""), -EBADMSG);
	bh_audit_close(a);
	free(buf);
	buf = slurp(logpath, &len);
	verify_buf(buf, len, 4, 3);
	free(buf);
}

static void test_concurrent_writers(void)
{
	struct bh_audit_verify v;
	pid_t kids[4];

	fresh_log();
	append_n(logpath, 1); /* creates the directory */
	for (int i = 0; i < 4; i++) {
		kids[i] = fork();
		CU_ASSERT_FATAL(kids[i] >= 0);
		if (kids[i] == 0) {
			struct bh_audit *a = NULL;
			int bad = bh_audit_open(logpath, &nosync, &a) < 0;

			for (int k = 0; k < 50 && !bad; k++)
				bad = bh_audit_append(a, &actor, "status", "x", "ok", "") < 0;
			bh_audit_close(a);
			_exit(bad);
		}
	}
	for (int i = 0; i < 4; i++) {
		int st;

		CU_ASSERT_EQUAL(waitpid(kids[i], &st, 0), kids[i]);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CU_ASSERT_EQUAL(bh_audit_verify_file(logpath, &v), 0);
	CU_ASSERT_EQUAL(v.bad_line, 0);
	CU_ASSERT_EQUAL(v.n_records, 201);
}

static int dgram_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 2 };

	CU_ASSERT_FATAL(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void check_syslog_msg(const char *msg, size_t n, const char *pri, unsigned seq,
			     const char *line, size_t linelen)
{
	char sd[128];
	const char *bom;

	CU_ASSERT_EQUAL(strncmp(msg, pri, strlen(pri)), 0);
	snprintf(sd, sizeof(sd), " bulkhead %d audit [bulkhead@32473 seq=\"%u\" prev=\"",
		 (int)getpid(), seq);
	CU_ASSERT_PTR_NOT_NULL(memmem(msg, n, sd, strlen(sd)));
	bom = memmem(msg, n, "\"] \xef\xbb\xbf{", 7);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bom);
	/* MSG is exactly the record as stored, without its newline. */
	CU_ASSERT_EQUAL((size_t)(msg + n - (bom + 6)), linelen);
	CU_ASSERT_EQUAL(memcmp(bom + 6, line, linelen), 0);
}

static void test_syslog_forwarding(void)
{
	char sock[256], msg[16384], *buf;
	struct bh_audit_opts o = { .no_fsync = true, .syslog = true, .syslog_path = sock };
	struct bh_audit *a = NULL;
	size_t len, l1;
	ssize_t n;
	int fd;

	fresh_log();
	snprintf(sock, sizeof(sock), "%s/syslog.sock", tmpdir);
	fd = dgram_listen(sock);
	CU_ASSERT_EQUAL_FATAL(bh_audit_open(logpath, &o, &a), 0);
	CU_ASSERT_EQUAL(bh_audit_append(a, &actor, "status", "web", "ok", ""), 0);
	CU_ASSERT_EQUAL(bh_audit_append(a, &actor, "down", "", "refused", "no role"), 0);
	CU_ASSERT_EQUAL(bh_audit_syslog_errors(a), 0);
	bh_audit_close(a);
	buf = slurp(logpath, &len);
	l1 = (size_t)(strchr(buf, '\n') - buf);
	n = recv(fd, msg, sizeof(msg), 0);
	CU_ASSERT_FATAL(n > 0);
	check_syslog_msg(msg, (size_t)n, "<85>1 ", 1, buf, l1); /* authpriv.notice */
	CU_ASSERT_PTR_NOT_NULL(memmem(msg, (size_t)n, "\"] \xef\xbb\xbf", 6));
	n = recv(fd, msg, sizeof(msg), 0);
	CU_ASSERT_FATAL(n > 0);
	check_syslog_msg(msg, (size_t)n, "<84>1 ", 2, buf + l1 + 1, len - l1 - 2); /* warning */
	close(fd);
	unlink(sock);
	/* No listener: the append still succeeds, the failure is counted. */
	CU_ASSERT_EQUAL_FATAL(bh_audit_open(logpath, &o, &a), 0);
	CU_ASSERT_EQUAL(bh_audit_append(a, &actor, "status", "", "ok", ""), 0);
	CU_ASSERT_EQUAL(bh_audit_syslog_errors(a), 1);
	bh_audit_close(a);
	free(buf);
}

static void test_syslog_format_bounds(void)
{
	char out[128];

	CU_ASSERT_EQUAL(bh_syslog_format(out, sizeof(out), 5, "ts", "h", 1, 1, "p", "{}", 2) > 0,
			1);
	CU_ASSERT_EQUAL(bh_syslog_format(out, 20, 5, "ts", "h", 1, 1, "p", "{}", 2), -ENOBUFS);
	/* A hostname with a space is not a valid HOSTNAME: NILVALUE. */
	CU_ASSERT(bh_syslog_format(out, sizeof(out), 5, "ts", "a b", 1, 1, "p", "{}", 2) > 0);
	CU_ASSERT_EQUAL(strncmp(out, "<85>1 ts - bulkhead 1 audit", 27), 0);
}

static const struct bh_test tests[] = {
	{ "sha256 vector", test_sha256_vector },
	{ "format and chain", test_format_and_chain },
	{ "escaping", test_escaping },
	{ "parser rejects", test_parser_rejects },
	{ "tamper: edit", test_tamper_edit },
	{ "tamper: reorder", test_tamper_reorder },
	{ "tamper: delete", test_tamper_delete },
	{ "tamper: delete and renumber", test_tamper_renumber },
	{ "truncated", test_truncated },
	{ "concurrent writers", test_concurrent_writers },
	{ "syslog forwarding", test_syslog_forwarding },
	{ "syslog format bounds", test_syslog_format_bounds },
	{ NULL, NULL },
};

static const struct bh_suite suites[] = {
	{ "audit", tests },
	{ NULL, NULL },
};

int main(void)
{
	char cmd[512];
	int r;

	if (!mkdtemp(tmpdir))
		return 2;
	r = bh_test_main(suites);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		r = r ? r : 2;
	return r;
}
