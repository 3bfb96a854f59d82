/* SPDX-License-Identifier: MIT */
/*
 * vtpm state at rest: the manager key file, AES-256-GCM sealing (tamper,
 * wrong instance, wrong key) and the instance store (atomic writes,
 * generation record, rollback refused).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bh-test.h"
#include "../../../vtpm/vtpm.h"

static char dir[] = "/tmp/bh-vtpm-test-XXXXXX";
static int dirfd = -1;

static struct vt_key *make_key(const char *file)
{
	char path[128];
	struct vt_key *k = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	unlink(path);
	CU_ASSERT_EQUAL_FATAL(vt_key_generate(path), 0);
	CU_ASSERT_EQUAL_FATAL(vt_key_load(path, &k), 0);
	return k;
}

static void test_key_file(void)
{
	char path[128];
	struct vt_key *k = NULL;
	int fd;

	snprintf(path, sizeof(path), "%s/key", dir);
	unlink(path);
	CU_ASSERT_EQUAL(vt_key_generate(path), 0);
	CU_ASSERT_EQUAL(vt_key_generate(path), -EEXIST);
	CU_ASSERT_EQUAL(vt_key_load(path, &k), 0);
	vt_key_free(k);
	k = NULL;
	chmod(path, 0640);
	CU_ASSERT_EQUAL(vt_key_load(path, &k), -EPERM);
	chmod(path, 0600);
	fd = open(path, O_WRONLY | O_APPEND);
	CU_ASSERT_EQUAL(write(fd, "x", 1), 1);
	close(fd);
	CU_ASSERT_EQUAL(vt_key_load(path, &k), -EBADMSG);
	CU_ASSERT_PTR_NULL(k);
	CU_ASSERT_EQUAL(vt_key_load("/nonexistent/key", &k), -ENOENT);
}

static void test_seal_roundtrip_and_tamper(void)
{
	struct vt_key *k = make_key("k1"), *k2 = make_key("k2");
	const uint8_t pt[] = "permanent state bytes";
	uint8_t *s = NULL, *out = NULL;
	size_t slen = 0, olen = 0;
	uint64_t gen = 0;

	CU_ASSERT_EQUAL_FATAL(vt_seal(k, "web", 7, pt, sizeof(pt), &s, &slen), 0);
	CU_ASSERT_EQUAL(slen, VT_SEAL_HDR + sizeof(pt) + VT_SEAL_TAG);
	CU_ASSERT_PTR_NULL(memmem(s, slen, "permanent", 9)); /* encrypted */
	CU_ASSERT_EQUAL(vt_unseal(k, "web", s, slen, &gen, &out, &olen), 0);
	CU_ASSERT_EQUAL(gen, 7);
	CU_ASSERT_EQUAL(olen, sizeof(pt));
	CU_ASSERT(out && memcmp(out, pt, sizeof(pt)) == 0);
	free(out);
	/* Another instance's name, another key: refused. */
	CU_ASSERT_EQUAL(vt_unseal(k, "db", s, slen, &gen, &out, &olen), -EKEYREJECTED);
	CU_ASSERT_EQUAL(vt_unseal(k2, "web", s, slen, &gen, &out, &olen), -EKEYREJECTED);
	/* Every single flipped byte is refused (header, body or tag). */
	for (size_t i = 0; i < slen; i++) {
		int r;

		s[i] ^= 0x01;
		r = vt_unseal(k, "web", s, slen, &gen, &out, &olen);
		CU_ASSERT(r == -EKEYREJECTED || r == -EBADMSG);
		s[i] ^= 0x01;
	}
	CU_ASSERT_EQUAL(vt_unseal(k, "web", s, slen - 1, &gen, &out, &olen), -EBADMSG);
	CU_ASSERT_EQUAL(vt_unseal(k, "web", s, 10, &gen, &out, &olen), -EBADMSG);
	free(s);
	/* An empty state seals too. */
	CU_ASSERT_EQUAL(vt_seal(k, "web", 1, NULL, 0, &s, &slen), 0);
	CU_ASSERT_EQUAL(vt_unseal(k, "web", s, slen, &gen, &out, &olen), 0);
	CU_ASSERT_EQUAL(olen, 0);
	free(out);
	free(s);
	vt_key_free(k);
	vt_key_free(k2);
}

static void load_expect(struct vt_store *st, struct vt_key *k, const char *want, int want_r)
{
	uint8_t *pt = NULL;
	size_t len = 0;
	int r = vt_store_load(st, k, &pt, &len);

	CU_ASSERT_EQUAL(r, want_r);
	if (r == 0 && want) {
		CU_ASSERT_EQUAL(len, strlen(want));
		CU_ASSERT(pt && memcmp(pt, want, len) == 0);
	} else if (r == 0) {
		CU_ASSERT_PTR_NULL(pt);
	}
	free(pt);
}

static void copy_file(int fromfd, const char *from, int tofd, const char *to)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(vt_read_file(fromfd, from, 1 << 20, &buf, &len), 0);
	CU_ASSERT_EQUAL(vt_write_atomic(tofd, to, buf, len), 0);
	free(buf);
}

static void expect_record(int fd, const char *want)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(vt_read_file(fd, "generation", 64, &buf, &len), 0);
	CU_ASSERT_EQUAL(len, strlen(want));
	CU_ASSERT_EQUAL(memcmp(buf, want, len < strlen(want) ? len : strlen(want)), 0);
	free(buf);
}

static void test_store_generations_and_rollback(void)
{
	struct vt_key *k = make_key("k3");
	struct vt_store st;

	vt_store_delete(dirfd, "inst");
	CU_ASSERT_EQUAL_FATAL(vt_store_create(dirfd, "inst"), 0);
	CU_ASSERT_EQUAL(vt_store_create(dirfd, "inst"), -EEXIST);
	CU_ASSERT_EQUAL(vt_store_create(dirfd, "../x"), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(vt_store_open(dirfd, "inst", &st), 0);
	CU_ASSERT_EQUAL(st.generation, 0);
	load_expect(&st, k, NULL, 0); /* new: no state */
	CU_ASSERT_EQUAL(vt_store_save(&st, k, (const uint8_t *)"one", 3), 0);
	copy_file(st.dirfd, "state", dirfd, "old-state");
	CU_ASSERT_EQUAL(vt_store_save(&st, k, (const uint8_t *)"two", 3), 0);
	CU_ASSERT_EQUAL(st.generation, 2);
	/* The record follows the acknowledged states: behind until vt_store_record(). */
	expect_record(st.dirfd, "0\n");
	CU_ASSERT_EQUAL(vt_store_save(&st, k, (const uint8_t *)"two", 3), 0);
	CU_ASSERT_EQUAL(st.generation, 3); /* a third save writes the record (lag 2) first */
	expect_record(st.dirfd, "2\n");
	vt_store_close(&st);
	/* Reopened with the record 1 behind: accepted, and the record catches up. */
	CU_ASSERT_EQUAL_FATAL(vt_store_open(dirfd, "inst", &st), 0);
	CU_ASSERT_EQUAL(st.generation, 2);
	load_expect(&st, k, "two", 0);
	CU_ASSERT_EQUAL(st.generation, 3);
	expect_record(st.dirfd, "3\n");
	CU_ASSERT_EQUAL(vt_store_save(&st, k, (const uint8_t *)"two", 3), 0);
	CU_ASSERT_EQUAL(vt_store_save(&st, k, (const uint8_t *)"two", 3), 0);
	expect_record(st.dirfd, "3\n");
	CU_ASSERT_EQUAL(vt_store_record(&st), 0);
	expect_record(st.dirfd, "5\n");
	CU_ASSERT_EQUAL(vt_store_record(&st), 0); /* nothing to do */
	vt_store_close(&st);

	/* A reopened store (vtpmd restarted) finds the newest state. */
	CU_ASSERT_EQUAL_FATAL(vt_store_open(dirfd, "inst", &st), 0);
	CU_ASSERT_EQUAL(st.generation, 5);
	load_expect(&st, k, "two", 0);
	/* The old file put back: rollback. */
	copy_file(st.dirfd, "state", dirfd, "new-state");
	copy_file(dirfd, "old-state", st.dirfd, "state");
	load_expect(&st, k, NULL, -ESTALE);
	/* Deleted state while the record says it existed: rollback to a fresh TPM. */
	CU_ASSERT_EQUAL(unlinkat(st.dirfd, "state", 0), 0);
	load_expect(&st, k, NULL, -ESTALE);
	/* Crash before the record caught up: state = record + 2 is accepted and caught up. */
	copy_file(dirfd, "new-state", st.dirfd, "state");
	CU_ASSERT_EQUAL(vt_write_atomic(st.dirfd, "generation", "3\n", 2), 0);
	vt_store_close(&st);
	CU_ASSERT_EQUAL_FATAL(vt_store_open(dirfd, "inst", &st), 0);
	CU_ASSERT_EQUAL(st.generation, 3);
	load_expect(&st, k, "two", 0);
	CU_ASSERT_EQUAL(st.generation, 5);
	expect_record(st.dirfd, "5\n");
	/* Further ahead than a record can ever lag: refused. */
	CU_ASSERT_EQUAL(vt_write_atomic(st.dirfd, "generation", "2\n", 2), 0);
	vt_store_close(&st);
	CU_ASSERT_EQUAL_FATAL(vt_store_open(dirfd, "inst", &st), 0);
	load_expect(&st, k, NULL, -ESTALE);
	/* A corrupt record is an error, not generation 0. */
	CU_ASSERT_EQUAL(vt_write_atomic(st.dirfd, "generation", "2x\n", 3), 0);
	vt_store_close(&st);
	CU_ASSERT_EQUAL(vt_store_open(dirfd, "inst", &st), -EBADMSG);
	CU_ASSERT_EQUAL(vt_store_delete(dirfd, "inst"), 0);
	CU_ASSERT_EQUAL(vt_store_open(dirfd, "inst", &st), -ENOENT);
	vt_key_free(k);
}

static void test_store_tampered(void)
{
	struct vt_key *k = make_key("k4");
	struct vt_store st;
	uint8_t *buf = NULL;
	size_t len = 0;

	vt_store_delete(dirfd, "tamp");
	CU_ASSERT_EQUAL_FATAL(vt_store_create(dirfd, "tamp"), 0);
	CU_ASSERT_EQUAL_FATAL(vt_store_open(dirfd, "tamp", &st), 0);
	CU_ASSERT_EQUAL(vt_store_save(&st, k, (const uint8_t *)"secret", 6), 0);
	CU_ASSERT_EQUAL_FATAL(vt_read_file(dirfd, "tamp/state", 1 << 20, &buf, &len), 0);
	buf[len - 20] ^= 0x80;
	CU_ASSERT_EQUAL(vt_write_atomic(st.dirfd, "state", buf, len), 0);
	load_expect(&st, k, NULL, -EKEYREJECTED);
	CU_ASSERT_EQUAL(vt_write_atomic(st.dirfd, "state", buf, 12), 0);
	load_expect(&st, k, NULL, -EBADMSG);
	free(buf);
	vt_store_close(&st);
	vt_store_delete(dirfd, "tamp");
	vt_key_free(k);
}

static const struct bh_test tests[] = {
	{ "key file", test_key_file },
	{ "seal round trip and tamper", test_seal_roundtrip_and_tamper },
	{ "store generations and rollback", test_store_generations_and_rollback },
	{ "store tampered", test_store_tampered },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "vtpm-state", tests }, { NULL, NULL } };
	char cmd[128];
	int r;

	if (!mkdtemp(dir))
		return 2;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = bh_test_main(suites);
	close(dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		r = r ? r : 2;
	return r;
}
