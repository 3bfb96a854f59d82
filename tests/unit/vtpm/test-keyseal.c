/* SPDX-License-Identifier: MIT */
/*
 * Volume secrets sealed in a real libtpms TPM (keyseal.c): a new secret
 * unseals while PCRs 1, 8, 9 are as they were, is refused once PCR 9 moved,
 * is sealed again through the admin branch to the PCRs of now and then
 * unseals to the same bytes; no handle is left behind; the record and the
 * worker messages round-trip and refuse malformed input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../bh-test.h"
#include "bulkhead/cursor.h"
#include "../../../vtpm/vtpm.h"

static const uint8_t startup_clear[] = { 0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0 };
/* TPM2_GetCapability(TPM_CAP_HANDLES, TRANSIENT_FIRST, 16) */
static const uint8_t transient_handles[] = { 0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7a,
					     0, 0, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 16 };

static int store_cb(void *ctx, const uint8_t *blob, size_t len)
{
	(void)ctx;
	(void)blob;
	(void)len;
	return 0;
}

static uint32_t run(const uint8_t *cmd, size_t len, uint8_t *out)
{
	size_t n = vt_tpm_process(cmd, (uint32_t)len, out, VT_TPM_RSP_MAX);

	CU_ASSERT(n >= VT_TPM_HDR_SIZE);
	return vt_be32(out + 6);
}

/* TPM2_PCR_Extend(@pcr, sha256 = @byte x 32) with an empty password session. */
static uint32_t extend(uint8_t pcr, uint8_t byte)
{
	uint8_t cmd[10 + 4 + 4 + 9 + 4 + 2 + 32] = { 0x80, 0x02, 0, 0, 0, sizeof(cmd), 0, 0, 0x01,
						      0x82, 0, 0, 0, pcr, 0, 0, 0, 9, 0x40, 0,
						      0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x0b };
	uint8_t out[VT_TPM_RSP_MAX];

	memset(cmd + sizeof(cmd) - 32, byte, 32);
	return run(cmd, sizeof(cmd), out);
}

static unsigned n_transient(void)
{
	uint8_t out[VT_TPM_RSP_MAX];

	CU_ASSERT_EQUAL(run(transient_handles, sizeof(transient_handles), out), 0);
	/* header, moreData u8, capability u32, count u32 */
	return vt_be32(out + 15);
}

static void test_seal_unseal_reseal(void)
{
	static struct vt_sealed rec, rec2;
	uint8_t secret[VT_SECRET_LEN], got[VT_SECRET_MAX], out[VT_TPM_RSP_MAX];
	char err[256] = "";
	size_t n = 0;

	CU_ASSERT_EQUAL_FATAL(vt_tpm_start(NULL, 0, store_cb, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(run(startup_clear, sizeof(startup_clear), out), 0);
	CU_ASSERT_EQUAL(extend(9, 0xab), 0);
	CU_ASSERT_EQUAL_FATAL(vt_keyseal_create(secret, sizeof(secret), &rec, err, sizeof(err)), 0);
	CU_ASSERT(rec.pub_len > 0 && rec.priv_len > 0);
	CU_ASSERT(memcmp(rec.branch[0], rec.branch[1], VT_DIGEST_LEN) != 0);
	CU_ASSERT_EQUAL(n_transient(), 0);

	CU_ASSERT_EQUAL(vt_keyseal_unseal(&rec, got, sizeof(got), &n, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(n, sizeof(secret));
	CU_ASSERT_EQUAL(memcmp(got, secret, sizeof(secret)), 0);
	CU_ASSERT_EQUAL(n_transient(), 0);

	/* PCR 9 moved: the PCR branch no longer opens it. */
	CU_ASSERT_EQUAL(extend(9, 0xcd), 0);
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(vt_keyseal_unseal(&rec, got, sizeof(got), &n, err, sizeof(err)), -EACCES);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "PCRs 1, 8, 9"));
	CU_ASSERT_EQUAL(n_transient(), 0);
	/* PCR 16 is not in the policy: it changes nothing. */
	CU_ASSERT_EQUAL(extend(16, 0x01), 0);

	/* The admin branch seals it again to the PCRs of now, with a new password. */
	CU_ASSERT_EQUAL_FATAL(vt_keyseal_reseal(&rec, &rec2, err, sizeof(err)), 0);
	CU_ASSERT(memcmp(rec.admin, rec2.admin, VT_ADMIN_LEN) != 0);
	CU_ASSERT(memcmp(rec.branch[0], rec2.branch[0], VT_DIGEST_LEN) != 0);
	CU_ASSERT_EQUAL(vt_keyseal_unseal(&rec2, got, sizeof(got), &n, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(memcmp(got, secret, sizeof(secret)), 0);
	/* A wrong admin password opens nothing. */
	rec.admin[0] ^= 1;
	CU_ASSERT_EQUAL(vt_keyseal_reseal(&rec, &rec2, err, sizeof(err)), -EACCES);
	CU_ASSERT_EQUAL(n_transient(), 0);

	/* After a power cycle (PCRs reset) it stays locked until measured the same way. */
	CU_ASSERT_EQUAL(vt_tpm_restart(), 0);
	CU_ASSERT_EQUAL(run(startup_clear, sizeof(startup_clear), out), 0);
	CU_ASSERT_EQUAL(vt_keyseal_unseal(&rec2, got, sizeof(got), &n, err, sizeof(err)), -EACCES);
	CU_ASSERT_EQUAL(extend(9, 0xab), 0);
	CU_ASSERT_EQUAL(extend(9, 0xcd), 0);
	CU_ASSERT_EQUAL(vt_keyseal_unseal(&rec2, got, sizeof(got), &n, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(memcmp(got, secret, sizeof(secret)), 0);
	vt_tpm_fini();
}

static void test_records_and_messages(void)
{
	static struct vt_sealed rec, back;
	static struct vt_keyres res, res2;
	static uint8_t buf[4096];
	struct bh_cursor c;
	uint8_t op = 0;
	bool has = false;
	long n;

	memset(&rec, 0x5a, sizeof(rec));
	rec.pub_len = 48;
	rec.priv_len = 130;
	n = vt_sealed_encode(&rec, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(n, 3 * 32 + 2 + 48 + 2 + 130);
	bh_cursor_init(&c, buf, (size_t)n);
	memset(&back, 0, sizeof(back));
	CU_ASSERT_EQUAL(vt_sealed_decode(&c, &back), 0);
	CU_ASSERT_EQUAL(bh_cursor_finish(&c), 0);
	CU_ASSERT_EQUAL(memcmp(back.pub, rec.pub, 48), 0);
	CU_ASSERT_EQUAL(back.priv_len, 130);
	buf[3 * 32 + 1] = 255; /* pub longer than it may be */
	bh_cursor_init(&c, buf, (size_t)n);
	CU_ASSERT_EQUAL(vt_sealed_decode(&c, &back), -EBADMSG);

	n = vt_keyop_encode(VT_KEY_UNSEAL, &rec, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(vt_keyop_decode(buf, (size_t)n, &op, &back, &has), 0);
	CU_ASSERT(op == VT_KEY_UNSEAL && has);
	CU_ASSERT_EQUAL(vt_keyop_decode(buf, (size_t)n - 1, &op, &back, &has), -EBADMSG);
	n = vt_keyop_encode(VT_KEY_CREATE, NULL, buf, sizeof(buf));
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(vt_keyop_decode(buf, (size_t)n, &op, &back, &has), 0);
	CU_ASSERT(op == VT_KEY_CREATE && !has);
	buf[0] = VT_KEY_UNSEAL; /* an unseal needs its record */
	CU_ASSERT_EQUAL(vt_keyop_decode(buf, (size_t)n, &op, &back, &has), -EBADMSG);
	buf[0] = 9;
	CU_ASSERT_EQUAL(vt_keyop_decode(buf, (size_t)n, &op, &back, &has), -EBADMSG);

	memset(&res, 0, sizeof(res));
	res.has_record = true;
	res.rec = rec;
	res.secret_len = 64;
	memset(res.secret, 7, 64);
	strcpy(res.text, "ok");
	n = vt_keyres_encode(&res, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(vt_keyres_decode(buf, (size_t)n, &res2), 0);
	CU_ASSERT(res2.has_record && res2.rec.priv_len == 130 && res2.secret_len == 64);
	CU_ASSERT_EQUAL(memcmp(res2.rec.admin, rec.admin, VT_ADMIN_LEN), 0);
	CU_ASSERT_EQUAL(memcmp(res2.secret, res.secret, 64), 0);
	CU_ASSERT_STRING_EQUAL(res2.text, "ok");
	CU_ASSERT_EQUAL(vt_keyres_decode(buf, (size_t)n + 1, &res2), -EBADMSG);
	CU_ASSERT_EQUAL(res2.secret_len, 0); /* wiped on failure */
}

static const struct bh_test tests[] = {
	{ "seal, unseal, PCR change, reseal", test_seal_unseal_reseal },
	{ "records and worker messages", test_records_and_messages },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = { { "keyseal", tests }, { NULL, NULL } };

	return bh_test_main(suites);
}
