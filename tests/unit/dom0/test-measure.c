/* SPDX-License-Identifier: MIT */
/*
 * Measured boot without a TPM: the event log writer against bytes encoded
 * independently (Python's struct, 2026-11-23), its parser (round trip, every
 * truncation, corrupt headers), replay against hashlib's values, the
 * canonical config (formatting does not matter, values do), the host
 * command's executable, the events of a guest on both platforms, and the
 * comparison that names the first differing event.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "../bh-test.h"
#include "../../../dom0/dom0.h"

static char tmpdir[] = "/tmp/bh-test-measure-XXXXXX";

/* Spec ID (sha1, sha256, vendor "bulkhead"), then PCR 9 "abc" with digests
 * 11.. / 22.., then PCR 8 with no data and digests 33.. / 44... */
static const char log_hex[] =
	"000000000300000000000000000000000000000000000000000000002d00000053706563"
	"204944204576656e74303300000000000002000202000000040014000b0020000862756c"
	"6b68656164090000000d0000000200000004001111111111111111111111111111111111"
	"1111110b0022222222222222222222222222222222222222222222222222222222222222"
	"2203000000616263080000000d0000000200000004003333333333333333333333333333"
	"3333333333330b0044444444444444444444444444444444444444444444444444444444"
	"4444444400000000";

static const uint16_t banks[] = { BH_TPM_ALG_SHA1, BH_TPM_ALG_SHA256 };

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;

	CU_ASSERT_FATAL(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

static struct bh_eventlog *sample_log(void)
{
	uint8_t d[2][BH_DIGEST_MAX];
	struct bh_eventlog *log = NULL;

	CU_ASSERT_EQUAL_FATAL(bh_eventlog_new(banks, 2, &log), 0);
	memset(d[0], 0x11, 20);
	memset(d[1], 0x22, 32);
	CU_ASSERT_EQUAL(bh_eventlog_add(log, 9, BH_EV_IPL, "abc", 3,
					(const uint8_t (*)[BH_DIGEST_MAX])d, NULL), 0);
	memset(d[0], 0x33, 20);
	memset(d[1], 0x44, 32);
	CU_ASSERT_EQUAL(bh_eventlog_add(log, 8, BH_EV_IPL, NULL, 0,
					(const uint8_t (*)[BH_DIGEST_MAX])d, NULL), 0);
	return log;
}

static void test_encode(void)
{
	struct bh_eventlog *log = sample_log();
	uint8_t want[512], *buf = NULL;
	size_t n = unhex(log_hex, want, sizeof(want)), len = 0;

	CU_ASSERT_EQUAL_FATAL(bh_eventlog_encode(log, &buf, &len), 0);
	CU_ASSERT_EQUAL(len, n);
	CU_ASSERT_EQUAL(memcmp(buf, want, n), 0);
	free(buf);
	bh_eventlog_free(log);
	/* Bank sets the format cannot describe. */
	CU_ASSERT_EQUAL(bh_eventlog_new(banks, 0, &log), -EINVAL);
	CU_ASSERT_EQUAL(bh_eventlog_new((const uint16_t[]){ 0x0012 }, 1, &log), -EINVAL);
}

static void test_parse(void)
{
	uint8_t raw[512], *buf = NULL;
	struct bh_eventlog *log = NULL;
	char why[256];
	size_t n = unhex(log_hex, raw, sizeof(raw)), len = 0;

	CU_ASSERT_EQUAL_FATAL(bh_eventlog_parse(raw, n, &log, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(log->n_algs, 2);
	CU_ASSERT_EQUAL(log->n, 2);
	CU_ASSERT_EQUAL(log->v[0].pcr, 9);
	CU_ASSERT_EQUAL(log->v[0].len, 3);
	CU_ASSERT_EQUAL(memcmp(log->v[0].data, "abc", 3), 0);
	CU_ASSERT_EQUAL(log->v[1].digests[1].d[31], 0x44);
	CU_ASSERT_EQUAL_FATAL(bh_eventlog_encode(log, &buf, &len), 0);
	CU_ASSERT(len == n && memcmp(buf, raw, n) == 0);
	free(buf);
	bh_eventlog_free(log);

	/* Every truncation fails, except at an event boundary (a shorter log). */
	for (size_t k = 0; k < n; k++) {
		int r = bh_eventlog_parse(raw, k, &log, why, sizeof(why));

		if (k == 77 || k == 152) {
			CU_ASSERT_EQUAL(r, 0);
			if (r == 0)
				bh_eventlog_free(log);
		} else {
			CU_ASSERT_EQUAL(r, -EBADMSG);
		}
	}
}

static void expect_bad(const uint8_t *raw, size_t n, const char *why_part)
{
	struct bh_eventlog *log = NULL;
	char why[256] = "";

	CU_ASSERT_EQUAL(bh_eventlog_parse(raw, n, &log, why, sizeof(why)), -EBADMSG);
	if (!strstr(why, why_part))
		fprintf(stderr, "why '%s', wanted '%s'\n", why, why_part);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, why_part));
}

static void test_parse_corrupt(void)
{
	uint8_t raw[512], bad[512];
	size_t n = unhex(log_hex, raw, sizeof(raw));

	memcpy(bad, raw, n);
	bad[4] = 4; /* Spec ID event type */
	expect_bad(bad, n, "not a Spec ID event");
	memcpy(bad, raw, n);
	bad[32 + 14] = '4'; /* "Spec ID Event04" */
	expect_bad(bad, n, "Spec ID Event03");
	memcpy(bad, raw, n);
	bad[32 + 28] = 0x12; /* an unknown bank (sm3) in the header */
	expect_bad(bad, n, "not one bulkhead knows");
	memcpy(bad, raw, n);
	bad[32 + 24] = 5; /* more banks than bulkhead keeps */
	expect_bad(bad, n, "banks");
	memcpy(bad, raw, n);
	bad[77] = 24; /* PCR 24 */
	expect_bad(bad, n, "event 1: PCR 24");
	memcpy(bad, raw, n);
	bad[77 + 8] = 1; /* one digest for two banks */
	expect_bad(bad, n, "event 1: 1 digests");
	memcpy(bad, raw, n);
	bad[77 + 12 + 22] = 0x0c; /* sha384 where sha256 was declared */
	expect_bad(bad, n, "event 1: digest 2");
	memcpy(bad, raw, n);
	bad[77 + 12 + 22 + 34 + 3] = 0x7f; /* event size near 2 GiB */
	expect_bad(bad, n, "event 1");
}

static void test_replay(void)
{
	struct bh_eventlog *log = sample_log();
	static struct bh_pcrs p;
	uint8_t want[32];
	static const uint8_t zero[32];

	CU_ASSERT_EQUAL_FATAL(bh_eventlog_replay(log, &p), 0);
	CU_ASSERT_EQUAL(p.n_banks, 2);
	unhex("b3e26c6ca6785f04dd7187293d802d5b16dad8c1", want, sizeof(want));
	CU_ASSERT_EQUAL(memcmp(p.v[0][9], want, 20), 0);
	unhex("ee4b0e933b56cdf12a42b1e3f3b9ed1aa70cf9f3cf37325693255c8bfbcb8ba8", want,
	      sizeof(want));
	CU_ASSERT_EQUAL(memcmp(p.v[1][9], want, 32), 0);
	unhex("105c2393ee071304893e2992acbf55e5de591ae162bae0ac5f3a2d2de0f5f4c3", want,
	      sizeof(want));
	CU_ASSERT_EQUAL(memcmp(p.v[1][8], want, 32), 0);
	CU_ASSERT_EQUAL(memcmp(p.v[1][1], zero, 32), 0);
	/* EV_NO_ACTION events are never extended. */
	CU_ASSERT_EQUAL(bh_eventlog_add_data(log, 1, BH_EV_NO_ACTION, "x", 1, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(bh_eventlog_replay(log, &p), 0);
	CU_ASSERT_EQUAL(memcmp(p.v[1][1], zero, 32), 0);
	bh_eventlog_free(log);
}

static void test_file(void)
{
	struct bh_eventlog *log = sample_log(), *back = NULL;
	char path[256], why[256];

	snprintf(path, sizeof(path), "%s/log.bin", tmpdir);
	CU_ASSERT_EQUAL_FATAL(bh_eventlog_write_file(log, path), 0);
	CU_ASSERT_EQUAL_FATAL(bh_eventlog_read_file(path, &back, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(back->n, 2);
	CU_ASSERT_EQUAL(bh_eventlog_compare(log, back, why, sizeof(why)), 0);
	bh_eventlog_free(back);
	snprintf(path, sizeof(path), "%s/missing.bin", tmpdir);
	CU_ASSERT_EQUAL(bh_eventlog_read_file(path, &back, why, sizeof(why)), -ENOENT);
	CU_ASSERT_EQUAL(bh_eventlog_read_file(tmpdir, &back, why, sizeof(why)), -EBADMSG);
	bh_eventlog_free(log);
}

static struct bh_cfg_file *cfg(const char *text)
{
	struct bh_diags d = { 0 };
	struct bh_cfg_file *f = NULL;

	CU_ASSERT_EQUAL_FATAL(bh_cfg_file_parse("g.cfg", BH_FILE_GUEST, text, strlen(text), &d, &f),
			      0);
	CU_ASSERT_EQUAL(d.n, 0);
	bh_diags_clear(&d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	return f;
}

static char *canonical(const char *text)
{
	struct bh_cfg_file *f = cfg(text);
	char *out = NULL;
	size_t len;

	CU_ASSERT_EQUAL_FATAL(bh_config_canonical(f, &out, &len), 0);
	CU_ASSERT_EQUAL(strlen(out), len);
	bh_cfg_file_free(f);
	return out;
}

static void test_canonical(void)
{
	char *a = canonical("name = \"web\"\nmemory = 128\nbh_vtpm = 1\nbh_measure = \"yes\"\n"
			    "vif = [ \"mac=00:16:3e:00:00:01, ip=10.0.0.2\", ]\n"
			    "bh_host_cmd = \"exec sleep infinity\"\n");
	char *b = canonical("# the same guest, written otherwise\n"
			    "bh_host_cmd='exec sleep infinity'\n"
			    "vif=[\"ip=10.0.0.2,mac=00:16:3e:00:00:01\"]\n"
			    "bh_measure = \"on\"   # a comment\n\n"
			    "bh_vtpm = \"true\"\nmemory = \"128\"\nname='web'\n");
	char *c = canonical("name = \"web\"\nmemory = 129\nbh_vtpm = 1\nbh_measure = \"yes\"\n"
			    "vif = [ \"mac=00:16:3e:00:00:01, ip=10.0.0.2\", ]\n"
			    "bh_host_cmd = \"exec sleep infinity\"\n");
	char *d = canonical("name = \"x\"\nbh_allow = [ \"to=a\", \"to=b\" ]\nextra = \"a\\\\b\"\n");

	CU_ASSERT_STRING_EQUAL(a, "bulkhead-config 1\n"
				  "bh_host_cmd=exec sleep infinity\n"
				  "bh_measure=yes\n"
				  "bh_vtpm=yes\n"
				  "memory=128\n"
				  "name=web\n"
				  "vif[0]=ip=10.0.0.2,mac=00:16:3e:00:00:01\n");
	CU_ASSERT_STRING_EQUAL(a, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, c);
	CU_ASSERT_PTR_NOT_NULL(strstr(c, "\nmemory=129\n"));
	/* list items keep their order; a backslash is escaped (one line per value) */
	CU_ASSERT_STRING_EQUAL(d, "bulkhead-config 1\n"
				  "bh_allow[0]=to=a\n"
				  "bh_allow[1]=to=b\n"
				  "extra=a\\x5cb\n"
				  "name=x\n");
	free(a);
	free(b);
	free(c);
	free(d);
}

static void exe_is(const char *cmd, const char *want)
{
	char out[256];

	CU_ASSERT_EQUAL_FATAL(bh_host_cmd_exe(cmd, out, sizeof(out)), 0);
	if (strcmp(out, want) != 0)
		fprintf(stderr, "'%s': got '%s', wanted '%s'\n", cmd, out, want);
	CU_ASSERT_STRING_EQUAL(out, want);
}

static void test_host_exe(void)
{
	char out[256];

	exe_is("/opt/guest/bin/server --port 80", "/opt/guest/bin/server");
	exe_is("  exec /usr/bin/env A=1 x", "/usr/bin/env");
	exe_is("while :; do sleep 1; done", BH_HOST_SHELL);
	exe_is("$HOME/bin/x", BH_HOST_SHELL);
	exe_is("A=1 /bin/true", BH_HOST_SHELL);
	exe_is("./relative", BH_HOST_SHELL);
	exe_is("no-such-command-anywhere", BH_HOST_SHELL);
	exe_is("'/bin/true'", BH_HOST_SHELL);
	exe_is("", BH_HOST_SHELL);
	CU_ASSERT_EQUAL_FATAL(bh_host_cmd_exe("exec sleep infinity", out, sizeof(out)), 0);
	CU_ASSERT(strlen(out) > 6 && strcmp(out + strlen(out) - 6, "/sleep") == 0);
	CU_ASSERT_EQUAL(bh_host_cmd_exe("/a/long/path", out, 5), -ENAMETOOLONG);
}

static void write_prog(const char *name, const char *content, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static struct bh_topology *guest(const char *text)
{
	struct bh_diags d = { 0 };
	struct bh_topology *t = NULL;

	CU_ASSERT_EQUAL_FATAL(bh_topology_load_data("guests/g.cfg", BH_FILE_GUEST, text,
						    strlen(text), &d, &t), 0);
	bh_diags_clear(&d);
	CU_ASSERT_EQUAL_FATAL(t->n_domains, 1);
	return t;
}

static void test_events(void)
{
	static const uint16_t sha256[] = { BH_TPM_ALG_SHA256 };
	char prog[256], ramdisk[256], text[1024], cmd[300], data[400], err[256];
	uint8_t want[32];
	struct bh_eventlog *log = NULL;
	struct bh_topology *t;

	write_prog("prog", "hello", prog, sizeof(prog));
	write_prog("initrd", "world", ramdisk, sizeof(ramdisk));
	snprintf(cmd, sizeof(cmd), "%s --x", prog);
	snprintf(text, sizeof(text),
		 "name = \"g\"\nbh_vtpm = 1\nbh_measure = 1\nbh_host_cmd = \"%s\"\n"
		 "kernel = \"%s\"\nramdisk = \"%s\"\ncmdline = \"console=hvc0\"\n",
		 cmd, prog, ramdisk);
	t = guest(text);

	CU_ASSERT_EQUAL_FATAL(bh_measure_events(&t->domains[0], BH_PLATFORM_HOST, sha256, 1, &log,
						err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(log->n, 4);
	CU_ASSERT(log->v[0].pcr == BH_PCR_CONFIG && log->v[0].type == BH_EV_PLATFORM_CONFIG_FLAGS);
	CU_ASSERT(log->v[0].len > 17 && memcmp(log->v[0].data, "bulkhead-config 1", 17) == 0);
	CU_ASSERT(log->v[1].pcr == BH_PCR_KERNEL && log->v[1].type == BH_EV_IPL);
	CU_ASSERT_STRING_EQUAL(log->v[1].label, "kernel");
	CU_ASSERT(log->v[1].len == strlen(prog) && memcmp(log->v[1].data, prog, strlen(prog)) == 0);
	unhex("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", want, 32);
	CU_ASSERT_EQUAL(memcmp(log->v[1].digests[0].d, want, 32), 0); /* sha256("hello") */
	CU_ASSERT_STRING_EQUAL(log->v[2].label, "shell");
	CU_ASSERT(log->v[2].len == strlen(BH_HOST_SHELL));
	CU_ASSERT_EQUAL(log->v[3].pcr, BH_PCR_CMDLINE);
	/* GRUB's form: "kernel_cmdline: " CMDLINE NUL, digest of CMDLINE alone */
	snprintf(data, sizeof(data), "kernel_cmdline: %s", cmd);
	CU_ASSERT(log->v[3].len == strlen(data) + 1 && memcmp(log->v[3].data, data, strlen(data) + 1) == 0);
	CU_ASSERT_EQUAL(bh_digest(BH_TPM_ALG_SHA256, cmd, strlen(cmd), want), 0);
	CU_ASSERT_EQUAL(memcmp(log->v[3].digests[0].d, want, 32), 0);
	bh_eventlog_free(log);

	CU_ASSERT_EQUAL_FATAL(bh_measure_events(&t->domains[0], BH_PLATFORM_XEN, banks, 2, &log,
						err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(log->n, 4);
	CU_ASSERT_STRING_EQUAL(log->v[2].label, "initramfs");
	CU_ASSERT(log->v[2].len == strlen(ramdisk));
	CU_ASSERT_EQUAL(log->v[3].len, strlen("kernel_cmdline: console=hvc0") + 1);
	bh_eventlog_free(log);

	/* A file that cannot be read is named. */
	unlink(ramdisk);
	CU_ASSERT_EQUAL(bh_measure_events(&t->domains[0], BH_PLATFORM_XEN, banks, 2, &log, err,
					  sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "initramfs"));
	bh_topology_free(t);
}

static void test_compare(void)
{
	static const uint16_t sha256[] = { BH_TPM_ALG_SHA256 };
	char prog[256], text[512], why[512], *buf = NULL;
	struct bh_eventlog *golden = NULL, *log = NULL;
	struct bh_topology *t;
	size_t len;

	write_prog("prog2", "hello", prog, sizeof(prog));
	snprintf(text, sizeof(text), "name = \"g\"\nbh_vtpm = 1\nbh_host_cmd = \"%s\"\n", prog);
	t = guest(text);
	CU_ASSERT_EQUAL_FATAL(bh_measure_events(&t->domains[0], BH_PLATFORM_HOST, sha256, 1,
						&golden, why, sizeof(why)), 0);
	/* What was measured, as read back from its log. */
	CU_ASSERT_EQUAL_FATAL(bh_eventlog_encode(golden, (uint8_t **)&buf, &len), 0);
	CU_ASSERT_EQUAL_FATAL(bh_eventlog_parse(buf, len, &log, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(bh_eventlog_compare(golden, log, why, sizeof(why)), 0);

	log->v[1].digests[0].d[0] ^= 1; /* the executable differs */
	CU_ASSERT_EQUAL(bh_eventlog_compare(golden, log, why, sizeof(why)), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "event 2 (PCR 9, EV_IPL, kernel"));
	log->v[1].digests[0].d[0] ^= 1;
	log->n--; /* the command line was never measured */
	CU_ASSERT_EQUAL(bh_eventlog_compare(golden, log, why, sizeof(why)), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "event 4"));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "missing"));
	log->n++;
	CU_ASSERT_EQUAL(bh_eventlog_add_data(log, 9, BH_EV_IPL, "more", 4, NULL), 0);
	CU_ASSERT_EQUAL(bh_eventlog_compare(golden, log, why, sizeof(why)), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "event 5"));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "not expected"));
	free(buf);
	bh_eventlog_free(golden);
	bh_eventlog_free(log);
	bh_topology_free(t);
}

int main(void)
{
	static const struct bh_test eventlog[] = {
		{ "encode: bytes as specified", test_encode },
		{ "parse: round trip and truncations", test_parse },
		{ "parse: corrupt headers and events", test_parse_corrupt },
		{ "replay", test_replay },
		{ "write and read a file", test_file },
		{ NULL, NULL },
	};
	static const struct bh_test measure[] = {
		{ "canonical config", test_canonical },
		{ "host command's executable", test_host_exe },
		{ "events of a guest, host and xen", test_events },
		{ "first differing event", test_compare },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = {
		{ "eventlog", eventlog },
		{ "measure", measure },
		{ NULL, NULL },
	};
	char cmd[300];
	int r;

	if (!mkdtemp(tmpdir))
		return 2;
	r = bh_test_main(suites);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		r = r ? r : 2;
	return r;
}
