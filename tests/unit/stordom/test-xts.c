/* SPDX-License-Identifier: MIT */
/*
 * xts.c against an AES-XTS that is not ours (xts-ref.py, Python's
 * `cryptography`): same ciphertext for the same key, data and plain64 tweaks,
 * both key sizes, 512- and 4096-byte sectors, IV steps of 1 and 8, tweaks
 * above 2^32. (The kernel's xts(aes) through AF_ALG is not loadable here.)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../bh-test.h"
#include "sd-test.h"

#define LEN (64u << 10)

static uint8_t plain[LEN], ours[LEN], theirs[LEN];

static void fill_random(void *p, size_t n)
{
	CU_ASSERT_FATAL(getrandom(p, n, 0) == (ssize_t)n);
}

/* plain -> theirs through xts-ref.py. */
static int ref_encrypt(const uint8_t *key, size_t key_len, uint32_t ss, uint64_t iv, uint64_t step)
{
	char kf[128], in[128], out[128];

	snprintf(kf, sizeof(kf), "%s/key", test_dir());
	snprintf(in, sizeof(in), "%s/plain", test_dir());
	snprintf(out, sizeof(out), "%s/cipher", test_dir());
	if (write_file(kf, key, key_len) < 0 || write_file(in, plain, LEN) < 0 ||
	    xts_ref(true, kf, ss, iv, step, in, out, 0) < 0)
		return -1;
	return read_file(out, theirs, LEN, 0) == LEN ? 0 : -1;
}

static void check_against_ref(size_t key_len, uint32_t sector_size, uint64_t iv,
				 uint64_t step)
{
	struct sd_xts *x = NULL;
	uint8_t key[64];

	fill_random(key, sizeof(key));
	fill_random(plain, LEN);
	CU_ASSERT_FATAL(sd_xts_new(&x) == 0);
	CU_ASSERT_FATAL(sd_xts_set_key(x, key, key_len) == 0);
	memcpy(ours, plain, LEN);
	CU_ASSERT_EQUAL(sd_xts_encrypt(x, ours, LEN, sector_size, iv, step), 0);
	CU_ASSERT_EQUAL_FATAL(ref_encrypt(key, key_len, sector_size, iv, step), 0);
	CU_ASSERT_EQUAL(memcmp(ours, theirs, LEN), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(ours, plain, LEN), 0);
	/* Their ciphertext decrypts to the plaintext with ours, out of place too. */
	memset(ours, 0, LEN);
	CU_ASSERT_EQUAL(sd_xts_decrypt_to(x, ours, theirs, LEN, sector_size, iv, step), 0);
	CU_ASSERT_EQUAL(memcmp(ours, plain, LEN), 0);
	CU_ASSERT_EQUAL(sd_xts_decrypt(x, theirs, LEN, sector_size, iv, step), 0);
	CU_ASSERT_EQUAL(memcmp(theirs, plain, LEN), 0);
	sd_xts_free(x);
}

static void test_aes256_4k(void)
{
	check_against_ref(64, 4096, 0, 1);
	check_against_ref(64, 4096, 123456789, 1);
	check_against_ref(64, 4096, (1ull << 32) - 3, 1); /* crosses 2^32: plain64, not plain */
}

static void test_aes256_512(void)
{
	check_against_ref(64, 512, 77, 1);
}

static void test_aes128_and_step(void)
{
	check_against_ref(32, 512, 5, 1);
	check_against_ref(32, 4096, 40, 8); /* 4K sectors with 512-byte IV numbering */
}

static void test_tweak_matters(void)
{
	struct sd_xts *x = NULL;
	uint8_t key[64], a[4096] = { 0 }, b[4096] = { 0 };

	fill_random(key, sizeof(key));
	CU_ASSERT_FATAL(sd_xts_new(&x) == 0);
	CU_ASSERT_FATAL(sd_xts_set_key(x, key, sizeof(key)) == 0);
	CU_ASSERT_EQUAL(sd_xts_encrypt(x, a, sizeof(a), 4096, 1, 1), 0);
	CU_ASSERT_EQUAL(sd_xts_encrypt(x, b, sizeof(b), 4096, 2, 1), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof(a)), 0);
	sd_xts_free(x);
}

static void test_rejects(void)
{
	struct sd_xts *x = NULL;
	uint8_t key[64], buf[4096] = { 0 };

	CU_ASSERT_FATAL(sd_xts_new(&x) == 0);
	CU_ASSERT_EQUAL(sd_xts_encrypt(x, buf, sizeof(buf), 4096, 0, 1), -ENOKEY);
	fill_random(key, sizeof(key));
	CU_ASSERT_EQUAL(sd_xts_set_key(x, key, 48), -EINVAL);
	memcpy(key + 32, key, 32); /* equal halves: refused (IEEE 1619, as OpenSSL 3 does) */
	CU_ASSERT_EQUAL(sd_xts_set_key(x, key, 64), -EIO);
	CU_ASSERT_EQUAL(sd_xts_encrypt(x, buf, sizeof(buf), 4096, 0, 1), -ENOKEY);
	fill_random(key, sizeof(key));
	CU_ASSERT_EQUAL(sd_xts_set_key(x, key, 64), 0);
	CU_ASSERT_EQUAL(sd_xts_encrypt(x, buf, 1000, 4096, 0, 1), -EINVAL);
	sd_xts_free(x);
	sd_xts_free(NULL);
}

static const struct bh_test xts_tests[] = {
	{ "aes-256-xts 4096-byte sectors = reference", test_aes256_4k },
	{ "aes-256-xts 512-byte sectors = reference", test_aes256_512 },
	{ "aes-128-xts and IV step 8 = reference", test_aes128_and_step },
	{ "different tweak, different ciphertext", test_tweak_matters },
	{ "bad keys and lengths refused", test_rejects },
	{ NULL, NULL },
};

static const struct bh_suite suites[] = {
	{ "xts", xts_tests },
	{ NULL, NULL },
};

int main(void)
{
	int r = bh_test_main(suites);

	test_dir_cleanup();
	return r;
}
