/* SPDX-License-Identifier: MIT */
/*
 * TPM 2.0 commands and responses (tpm2-cmd.c) and quote verification
 * (attest.c), against vectors recorded from vtpmd (libtpms) on 2026-11-23:
 * the AK's CreatePrimary response, a Quote of PCRs 1, 8, 9 (SHA-256) with its
 * nonce, and the PCR values it covered. Every command is compared byte for
 * byte; every truncation, extension and corruption of a response is refused.
 */
#include "../bh-test.h"
#include "../../../dom0/dom0.h"

static const char ak_rsp_hex[] =
	"80020000013800000000800000000000012100580023000b00050072000000100018000b"
	"0003001000205d759de71269dc14fff87ebdec9b3e44c00e89ddba8a80f3fc8b99f76162"
	"00f00020c37dd6f86009e311feecda7c8cb7f4d794c2ab435e70e14a0b8129b37fd6ef83"
	"0037000000000020e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
	"7852b85501001000044000000b00044000000b0000002028d026fafd749106743e27c428"
	"0551585e5d17668eb521835ed60127effc05d480214000000b0040a25b388afdc0009cda"
	"5e7a75b75338f38e460f212f5292d14e550bf3f1ed2cd8908ded960ac217416567d4e567"
	"94d69207139601cc73b751bc2346dec63ac6aa0022000b2fd58c9d005ed26371b19b5e54"
	"d82ab3d24cdda86a00105fce815dc7628d33ea0000010000";
static const char quote_rsp_hex[] =
	"8002000000ee00000000000000db0091ff54434780180022000b617346af457e62b9e40d"
	"d21e7ec7d90f065bd6a9f6e9a8729bfffa083748878b0020ae3ba9a4951934002dd9ef05"
	"2ac4a35d2736e8ea463e7d4c62fb66c62bca293e00000000000a3e560000000200000000"
	"01201910230016363600000001000b0302030000208d78cd0c9e54789802184f8f75c919"
	"90af3248ee29d62cf5b0ba507f49d33f530018000b002020624bfe1c384d60219f724ec6"
	"672e7fb1409c63309246696f06836a4fa9b4ed0020fd12c39f1883a81f80374294c00259"
	"fb8f2c15bbc8964d640dfc77920c9505c00000010000";
static const char quote_cmd_hex[] =
	"8002000000490000015880000000000000094000000900000000000020ae3ba9a4951934"
	"002dd9ef052ac4a35d2736e8ea463e7d4c62fb66c62bca293e001000000001000b030203"
	"00";
static const char ak_cmd_hex[] =
	"800200000041000001314000000b00000009400000090000000000000400000000001800"
	"23000b00050072000000100018000b0003001000000000000000000000";

/* The sha256 PCRs 1, 8, 9 the quote covered. */
static const char pcr1_hex[] = "0055f6f5dc1c98fbac896c9d6a4be6b5ea10d44ecc62ab72c8d2e094ebbe0c0e";
static const char pcr8_hex[] = "54a49e6b2ec93f4f962d96be0ef708198a7a55ddf0eb9b1e15a9f3a210f74963";
static const char pcr9_hex[] = "bba6cfc0364a0d8baca66c0e4eb4716919d9be54f316cfa2a0a0436a08a5a791";

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

static void check_cmd(long n, const uint8_t *buf, const char *want_hex)
{
	char hex[1024];

	CU_ASSERT_FATAL(n > 0 && (size_t)n * 2 < sizeof(hex));
	bh_hex(buf, (size_t)n, hex);
	CU_ASSERT_STRING_EQUAL(hex, want_hex);
}

static const struct bh_pcrsel sel_sha256 = { .n = 1, .v = { { BH_TPM_ALG_SHA256, 0x302 } } };

static void test_commands(void)
{
	uint8_t buf[512], nonce[32];
	struct bh_event ev = { .pcr = 16, .n_digests = 1 };
	struct bh_pcrsel four = { .n = 4,
				  .v = { { BH_TPM_ALG_SHA1, 0x302 }, { BH_TPM_ALG_SHA256, 0x302 },
					 { BH_TPM_ALG_SHA384, 0x302 }, { BH_TPM_ALG_SHA512, 0x302 } } };

	check_cmd(bh_tpm2_startup_cmd(buf, sizeof(buf)), buf, "80010000000c000001440000");
	check_cmd(bh_tpm2_getcap_pcrs_cmd(buf, sizeof(buf)), buf,
		  "8001000000160000017a000000050000000000000001");
	check_cmd(bh_tpm2_create_ak_cmd(buf, sizeof(buf)), buf, ak_cmd_hex);
	unhex("ae3ba9a4951934002dd9ef052ac4a35d2736e8ea463e7d4c62fb66c62bca293e", nonce,
	      sizeof(nonce));
	check_cmd(bh_tpm2_quote_cmd(buf, sizeof(buf), 0x80000000, nonce, 32, &sel_sha256), buf,
		  quote_cmd_hex);
	check_cmd(bh_tpm2_flush_cmd(buf, sizeof(buf), 0x80000000), buf,
		  "80010000000e0000016580000000");
	check_cmd(bh_tpm2_pcr_read_cmd(buf, sizeof(buf), &four), buf,
		  "8001000000260000017e00000004000403020300000b03020300000c03020300000d03020300");
	ev.digests[0].alg = BH_TPM_ALG_SHA256;
	memset(ev.digests[0].d, 0xab, 32);
	check_cmd(bh_tpm2_pcr_extend_cmd(buf, sizeof(buf), 16, &ev), buf,
		  "80020000004100000182000000100000000940000009000000000000000001000b"
		  "abababababababababababababababababababababababababababababababab");
	/* Too small a buffer is -ENOBUFS, never a short command. */
	CU_ASSERT_EQUAL(bh_tpm2_create_ak_cmd(buf, 40), -ENOBUFS);
	CU_ASSERT_EQUAL(bh_tpm2_quote_cmd(buf, sizeof(buf), 1, nonce, BH_NONCE_MAX + 1, &four),
			-EINVAL);
}

static void test_rc_and_empty(void)
{
	uint8_t rsp[32];
	uint32_t rc = 0;
	size_t n = unhex("80010000000a00000100", rsp, sizeof(rsp));

	CU_ASSERT_EQUAL(bh_tpm2_parse_empty(rsp, n, false, &rc), -EREMOTEIO);
	CU_ASSERT_EQUAL(rc, 0x100);
	n = unhex("80010000000a00000000", rsp, sizeof(rsp));
	CU_ASSERT_EQUAL(bh_tpm2_parse_empty(rsp, n, false, &rc), 0);
	/* size field disagreeing with the bytes received */
	CU_ASSERT_EQUAL(bh_tpm2_parse_empty(rsp, n - 1, false, &rc), -EBADMSG);
	n = unhex("80010000000b0000000000", rsp, sizeof(rsp));
	CU_ASSERT_EQUAL(bh_tpm2_parse_empty(rsp, n, false, &rc), -EBADMSG);
	/* PCR_Extend's answer: parameterSize 0, then our session's auth */
	n = unhex("80020000001300000000000000000000010000", rsp, sizeof(rsp));
	CU_ASSERT_EQUAL(bh_tpm2_parse_empty(rsp, n, true, &rc), 0);
	CU_ASSERT_EQUAL(bh_tpm2_parse_empty(rsp, n, false, &rc), -EBADMSG);
	/* an error response carrying a body is malformed, not an error code */
	n = unhex("80010000000c000001000000", rsp, sizeof(rsp));
	CU_ASSERT_EQUAL(bh_tpm2_parse_empty(rsp, n, false, &rc), -EBADMSG);
}

static void test_getcap_pcr_read(void)
{
	uint8_t rsp[512];
	struct bh_pcrsel sel;
	struct bh_digests vals;
	uint32_t rc;
	size_t n = unhex("80010000002b00000000000000000500000004000403ffffff000b03ffffff000c03ff"
			 "ffff000d03ffffff", rsp, sizeof(rsp));

	CU_ASSERT_EQUAL_FATAL(bh_tpm2_parse_getcap_pcrs(rsp, n, &sel, &rc), 0);
	CU_ASSERT_EQUAL(sel.n, 4);
	CU_ASSERT_EQUAL(sel.v[1].alg, BH_TPM_ALG_SHA256);
	CU_ASSERT_EQUAL(sel.v[3].mask, 0xffffff);
	for (size_t k = 0; k < n; k++)
		CU_ASSERT_EQUAL(bh_tpm2_parse_getcap_pcrs(rsp, k, &sel, &rc), -EBADMSG);
	/* sizeofSelect 5 (PCRs beyond 31) */
	CU_ASSERT_EQUAL_FATAL(rsp[21], 3);
	rsp[21] = 5;
	CU_ASSERT_EQUAL(bh_tpm2_parse_getcap_pcrs(rsp, n, &sel, &rc), -EBADMSG);

	/* PCR_Read: sha256 PCR 1 and 8, two values */
	n = unhex("800100000060000000000000002400000001000b03020100000000020020"
		  "0055f6f5dc1c98fbac896c9d6a4be6b5ea10d44ecc62ab72c8d2e094ebbe0c0e0020"
		  "54a49e6b2ec93f4f962d96be0ef708198a7a55ddf0eb9b1e15a9f3a210f74963", rsp,
		  sizeof(rsp));
	CU_ASSERT_EQUAL_FATAL(bh_tpm2_parse_pcr_read(rsp, n, &sel, &vals, &rc), 0);
	CU_ASSERT_EQUAL(sel.v[0].mask, 0x102);
	CU_ASSERT_EQUAL(vals.n, 2);
	CU_ASSERT_EQUAL(vals.v[1].len, 32);
	CU_ASSERT_EQUAL(vals.v[1].d[0], 0x54);
	for (size_t k = 0; k < n; k++)
		CU_ASSERT_EQUAL(bh_tpm2_parse_pcr_read(rsp, k, &sel, &vals, &rc), -EBADMSG);
	rsp[n] = 0;
	CU_ASSERT_EQUAL(bh_tpm2_parse_pcr_read(rsp, n + 1, &sel, &vals, &rc), -EBADMSG);
}

static void load_ak(struct bh_tpm_ak *ak)
{
	uint8_t rsp[512];
	uint32_t rc;
	size_t n = unhex(ak_rsp_hex, rsp, sizeof(rsp));

	CU_ASSERT_EQUAL_FATAL(bh_tpm2_parse_create_ak(rsp, n, ak, &rc), 0);
}

static void load_quote(struct bh_tpm_quote *q)
{
	uint8_t rsp[512];
	uint32_t rc;
	size_t n = unhex(quote_rsp_hex, rsp, sizeof(rsp));

	CU_ASSERT_EQUAL_FATAL(bh_tpm2_parse_quote(rsp, n, q, &rc), 0);
}

static void test_create_ak(void)
{
	uint8_t rsp[512];
	struct bh_tpm_ak ak, again;
	uint32_t rc;
	size_t n = unhex(ak_rsp_hex, rsp, sizeof(rsp));

	load_ak(&ak);
	CU_ASSERT_EQUAL(ak.handle, 0x80000000);
	CU_ASSERT_EQUAL(ak.pub_len, 2 + 0x58);
	CU_ASSERT_EQUAL(ak.x[0], 0x5d);
	CU_ASSERT_EQUAL(ak.y[31], 0x83);
	CU_ASSERT_EQUAL(bh_ak_check_name(&ak), 0);
	/* The saved TPM2B_PUBLIC reads back as the same key. */
	CU_ASSERT_EQUAL_FATAL(bh_tpm2_parse_ak_public(ak.pub, ak.pub_len, &again), 0);
	CU_ASSERT_EQUAL(memcmp(again.x, ak.x, 32), 0);
	CU_ASSERT_EQUAL(bh_tpm2_parse_ak_public(ak.pub, ak.pub_len - 1, &again), -EBADMSG);
	ak.name[5] ^= 1;
	CU_ASSERT_EQUAL(bh_ak_check_name(&ak), -EBADMSG);
	for (size_t k = 0; k < n; k++)
		CU_ASSERT_EQUAL(bh_tpm2_parse_create_ak(rsp, k, &ak, &rc), -EBADMSG);
	/* Not restricted (attributes 0x00040072): a key that would sign anything. */
	CU_ASSERT_EQUAL_FATAL(rsp[25], 0x05);
	rsp[25] = 0x04;
	CU_ASSERT_EQUAL(bh_tpm2_parse_create_ak(rsp, n, &ak, &rc), -EBADMSG);
	rsp[25] = 0x05;
	/* another curve (P-384) */
	CU_ASSERT_EQUAL_FATAL(rsp[37], 0x03);
	rsp[37] = 0x04;
	CU_ASSERT_EQUAL(bh_tpm2_parse_create_ak(rsp, n, &ak, &rc), -EBADMSG);
}

static void test_quote_parse(void)
{
	uint8_t rsp[512];
	struct bh_tpm_quote q;
	struct bh_attest_info a;
	uint32_t rc;
	size_t n = unhex(quote_rsp_hex, rsp, sizeof(rsp));

	load_quote(&q);
	CU_ASSERT_EQUAL(q.attest_len, 0x91);
	CU_ASSERT_EQUAL(q.r_len, 32);
	CU_ASSERT_EQUAL(q.s_len, 32);
	CU_ASSERT_EQUAL_FATAL(bh_tpm2_parse_attest(q.attest, q.attest_len, &a), 0);
	CU_ASSERT_EQUAL(a.extra_len, 32);
	CU_ASSERT_EQUAL(a.sel.n, 1);
	CU_ASSERT_EQUAL(a.sel.v[0].mask, 0x302);
	CU_ASSERT_EQUAL(a.pcr_digest_len, 32);
	for (size_t k = 0; k < q.attest_len; k++)
		CU_ASSERT_EQUAL(bh_tpm2_parse_attest(q.attest, k, &a), -EBADMSG);
	for (size_t k = 0; k < n; k++)
		CU_ASSERT_EQUAL(bh_tpm2_parse_quote(rsp, k, &q, &rc), -EBADMSG);
	/* TPM_GENERATED magic broken */
	q.attest[0] ^= 1;
	CU_ASSERT_EQUAL(bh_tpm2_parse_attest(q.attest, q.attest_len, &a), -EBADMSG);
	/* a signature scheme other than ECDSA */
	CU_ASSERT_EQUAL_FATAL(rsp[10 + 4 + 2 + 0x91 + 1], 0x18);
	rsp[10 + 4 + 2 + 0x91 + 1] = 0x14; /* RSASSA */
	CU_ASSERT_EQUAL(bh_tpm2_parse_quote(rsp, n, &q, &rc), -EBADMSG);
}

static void expected_pcrs(struct bh_pcrs *p)
{
	memset(p, 0, sizeof(*p));
	p->n_banks = 1;
	p->algs[0] = BH_TPM_ALG_SHA256;
	unhex(pcr1_hex, p->v[0][1], 32);
	unhex(pcr8_hex, p->v[0][8], 32);
	unhex(pcr9_hex, p->v[0][9], 32);
}

static struct bh_pcrs pcrs; /* big: not on the stack */

static void test_quote_verify(void)
{
	struct bh_tpm_ak ak, other;
	struct bh_tpm_quote q, bad;
	uint8_t nonce[32];
	struct bh_pcrsel sel = sel_sha256;
	char why[512];

	load_ak(&ak);
	load_quote(&q);
	expected_pcrs(&pcrs);
	unhex("ae3ba9a4951934002dd9ef052ac4a35d2736e8ea463e7d4c62fb66c62bca293e", nonce,
	      sizeof(nonce));
	CU_ASSERT_EQUAL(bh_quote_verify(&ak, &q, nonce, 32, &sel, &pcrs, why, sizeof(why)), 0);

	/* An old quote: another nonce than this attestation's. */
	nonce[31] ^= 1;
	CU_ASSERT_EQUAL(bh_quote_verify(&ak, &q, nonce, 32, &sel, &pcrs, why, sizeof(why)),
			-EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "old or replayed"));
	nonce[31] ^= 1;
	CU_ASSERT_EQUAL(bh_quote_verify(&ak, &q, nonce, 31, &sel, &pcrs, why, sizeof(why)),
			-EPERM);

	/* Any byte of the signed data or of the signature changed. */
	for (size_t k = 0; k < q.attest_len; k += 7) {
		bad = q;
		bad.attest[k] ^= 0x10;
		CU_ASSERT_EQUAL(bh_quote_verify(&ak, &bad, nonce, 32, &sel, &pcrs, why,
						sizeof(why)), -EPERM);
	}
	bad = q;
	bad.s[5] ^= 1;
	CU_ASSERT_EQUAL(bh_quote_verify(&ak, &bad, nonce, 32, &sel, &pcrs, why, sizeof(why)),
			-EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "signature"));

	/* Another key (a point off the curve, then a valid but different one). */
	other = ak;
	other.x[3] ^= 1;
	CU_ASSERT_NOT_EQUAL(bh_quote_verify(&other, &q, nonce, 32, &sel, &pcrs, why,
					    sizeof(why)), 0);

	/* PCRs other than those quoted. */
	pcrs.v[0][9][0] ^= 1;
	CU_ASSERT_EQUAL(bh_quote_verify(&ak, &q, nonce, 32, &sel, &pcrs, why, sizeof(why)),
			-EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "replays"));
	pcrs.v[0][9][0] ^= 1;

	/* Another selection than asked for. */
	sel.v[0].mask = 0x300;
	CU_ASSERT_EQUAL(bh_quote_verify(&ak, &q, nonce, 32, &sel, &pcrs, why, sizeof(why)),
			-EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "other PCRs"));
}

static void test_signature_roundtrip(void)
{
	struct bh_tpm_quote q, again = { 0 };

	load_quote(&q);
	CU_ASSERT_EQUAL_FATAL(bh_tpm2_parse_signature(q.sig, q.sig_len, &again), 0);
	CU_ASSERT_EQUAL(again.r_len, q.r_len);
	CU_ASSERT_EQUAL(memcmp(again.s, q.s, q.s_len), 0);
	CU_ASSERT_EQUAL(bh_tpm2_parse_signature(q.sig, q.sig_len - 1, &again), -EBADMSG);
}

static void test_alg_names(void)
{
	uint16_t alg;

	CU_ASSERT_EQUAL(bh_tpm_alg_size(BH_TPM_ALG_SHA384), 48);
	CU_ASSERT_EQUAL(bh_tpm_alg_size(0x0012), 0);
	CU_ASSERT_STRING_EQUAL(bh_tpm_alg_name(BH_TPM_ALG_SHA512), "sha512");
	CU_ASSERT_EQUAL(bh_tpm_alg_parse("sha1", &alg), 0);
	CU_ASSERT_EQUAL(alg, BH_TPM_ALG_SHA1);
	CU_ASSERT_EQUAL(bh_tpm_alg_parse("sm3_256", &alg), -EINVAL);
}

int main(void)
{
	static const struct bh_test tpm2[] = {
		{ "commands, byte for byte", test_commands },
		{ "response codes and empty responses", test_rc_and_empty },
		{ "GetCapability(PCRS) and PCR_Read", test_getcap_pcr_read },
		{ "CreatePrimary: the AK", test_create_ak },
		{ "Quote and TPMS_ATTEST", test_quote_parse },
		{ "TPMT_SIGNATURE round trip", test_signature_roundtrip },
		{ "bank names", test_alg_names },
		{ NULL, NULL },
	};
	static const struct bh_test verify[] = {
		{ "recorded quote: pass, nonce, tamper, key, PCRs, selection", test_quote_verify },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = {
		{ "tpm2", tpm2 },
		{ "quote verification", verify },
		{ NULL, NULL },
	};

	return bh_test_main(suites);
}
