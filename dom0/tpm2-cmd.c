/* SPDX-License-Identifier: MIT */
/*
 * The few TPM 2.0 commands dom0 sends to a guest's vTPM (TPM 2.0 Library
 * Part 3), marshalled by hand, and their responses parsed through the
 * bounded cursor. A response is peer input: the vTPM instance serves the
 * guest, so after the guest has run it may be under the guest's influence.
 * Every size is checked against what was asked for, every structure must be
 * consumed exactly, and nothing is returned that was not validated.
 */
#include <string.h>

#include "bulkhead/cursor.h"
#include "dom0.h"

#define ST_NO_SESSIONS 0x8001
#define ST_SESSIONS 0x8002
#define RS_PW 0x40000009u
#define RH_ENDORSEMENT 0x4000000Bu
#define CC_STARTUP 0x144u
#define CC_CREATE_PRIMARY 0x131u
#define CC_FLUSH_CONTEXT 0x165u
#define CC_GET_CAPABILITY 0x17Au
#define CC_PCR_READ 0x17Eu
#define CC_PCR_EXTEND 0x182u
#define CC_QUOTE 0x158u
#define CAP_PCRS 5u
#define ALG_ECC 0x0023
#define ALG_ECDSA 0x0018
#define ALG_NULL 0x0010
#define ECC_NIST_P256 0x0003
#define GENERATED_VALUE 0xff544347u
#define ST_ATTEST_QUOTE 0x8018

/* fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | sign */
#define AK_ATTRIBUTES 0x00050072u

static const struct {
	uint16_t alg;
	size_t size;
	const char *name;
} algs[] = {
	{ BH_TPM_ALG_SHA1, 20, "sha1" },
	{ BH_TPM_ALG_SHA256, 32, "sha256" },
	{ BH_TPM_ALG_SHA384, 48, "sha384" },
	{ BH_TPM_ALG_SHA512, 64, "sha512" },
};

size_t bh_tpm_alg_size(uint16_t alg)
{
	for (size_t i = 0; i < BH_ARRAY_SIZE(algs); i++)
		if (algs[i].alg == alg)
			return algs[i].size;
	return 0;
}

const char *bh_tpm_alg_name(uint16_t alg)
{
	for (size_t i = 0; i < BH_ARRAY_SIZE(algs); i++)
		if (algs[i].alg == alg)
			return algs[i].name;
	return "unknown";
}

int bh_tpm_alg_parse(const char *name, uint16_t *ret)
{
	for (size_t i = 0; i < BH_ARRAY_SIZE(algs); i++)
		if (bh_streq(algs[i].name, name)) {
			*ret = algs[i].alg;
			return 0;
		}
	return -EINVAL;
}

void bh_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ------------------------------------------------------------------------
 * Commands. Each writes a whole command into @buf and returns its length or
 * -ENOBUFS. The header's size field is patched in by finish().
 */
static void begin(struct bh_wcursor *w, void *buf, size_t cap, uint16_t tag, uint32_t cc)
{
	bh_wcursor_init(w, buf, cap);
	bh_wcursor_u16(w, tag);
	bh_wcursor_u32(w, 0); /* commandSize, set by finish() */
	bh_wcursor_u32(w, cc);
}

static long finish(struct bh_wcursor *w)
{
	long n = bh_wcursor_finish(w);

	if (n < 0)
		return n;
	w->data[2] = (uint8_t)(n >> 24);
	w->data[3] = (uint8_t)(n >> 16);
	w->data[4] = (uint8_t)(n >> 8);
	w->data[5] = (uint8_t)n;
	return n;
}

/* One password session with the empty password: the hierarchies and objects
 * dom0 touches have no auth value (a fresh vTPM; the AK template sets none). */
static void pw_session(struct bh_wcursor *w)
{
	bh_wcursor_u32(w, 9); /* authorizationSize */
	bh_wcursor_u32(w, RS_PW);
	bh_wcursor_u16(w, 0); /* nonceCaller */
	bh_wcursor_u8(w, 0);  /* sessionAttributes */
	bh_wcursor_u16(w, 0); /* hmac (the password) */
}

static void put_pcrsel(struct bh_wcursor *w, const struct bh_pcrsel *sel)
{
	bh_wcursor_u32(w, (uint32_t)sel->n);
	for (size_t i = 0; i < sel->n; i++) {
		bh_wcursor_u16(w, sel->v[i].alg);
		bh_wcursor_u8(w, 3); /* sizeofSelect: PCRs 0..23 */
		for (int b = 0; b < 3; b++)
			bh_wcursor_u8(w, (uint8_t)(sel->v[i].mask >> (8 * b)));
	}
}

long bh_tpm2_startup_cmd(void *buf, size_t cap)
{
	struct bh_wcursor w;

	begin(&w, buf, cap, ST_NO_SESSIONS, CC_STARTUP);
	bh_wcursor_u16(&w, 0); /* TPM_SU_CLEAR */
	return finish(&w);
}

long bh_tpm2_getcap_pcrs_cmd(void *buf, size_t cap)
{
	struct bh_wcursor w;

	begin(&w, buf, cap, ST_NO_SESSIONS, CC_GET_CAPABILITY);
	bh_wcursor_u32(&w, CAP_PCRS);
	bh_wcursor_u32(&w, 0); /* property */
	bh_wcursor_u32(&w, 1); /* propertyCount */
	return finish(&w);
}

long bh_tpm2_pcr_read_cmd(void *buf, size_t cap, const struct bh_pcrsel *sel)
{
	struct bh_wcursor w;

	begin(&w, buf, cap, ST_NO_SESSIONS, CC_PCR_READ);
	put_pcrsel(&w, sel);
	return finish(&w);
}

long bh_tpm2_pcr_extend_cmd(void *buf, size_t cap, uint32_t pcr, const struct bh_event *ev)
{
	struct bh_wcursor w;

	begin(&w, buf, cap, ST_SESSIONS, CC_PCR_EXTEND);
	bh_wcursor_u32(&w, pcr);
	pw_session(&w);
	bh_wcursor_u32(&w, (uint32_t)ev->n_digests);
	for (size_t i = 0; i < ev->n_digests; i++) {
		bh_wcursor_u16(&w, ev->digests[i].alg);
		bh_wcursor_bytes(&w, ev->digests[i].d, bh_tpm_alg_size(ev->digests[i].alg));
	}
	return finish(&w);
}

/* The AK's TPMT_PUBLIC without the unique field: ECC P-256, restricted,
 * signing with ECDSA-SHA256, name algorithm SHA-256, no policy. */
static void put_ak_template(struct bh_wcursor *w)
{
	bh_wcursor_u16(w, ALG_ECC);
	bh_wcursor_u16(w, BH_TPM_ALG_SHA256);
	bh_wcursor_u32(w, AK_ATTRIBUTES);
	bh_wcursor_u16(w, 0);        /* authPolicy */
	bh_wcursor_u16(w, ALG_NULL); /* symmetric */
	bh_wcursor_u16(w, ALG_ECDSA);
	bh_wcursor_u16(w, BH_TPM_ALG_SHA256);
	bh_wcursor_u16(w, ECC_NIST_P256);
	bh_wcursor_u16(w, ALG_NULL); /* kdf */
}

#define AK_TEMPLATE_LEN 20

long bh_tpm2_create_ak_cmd(void *buf, size_t cap)
{
	struct bh_wcursor w;

	begin(&w, buf, cap, ST_SESSIONS, CC_CREATE_PRIMARY);
	bh_wcursor_u32(&w, RH_ENDORSEMENT);
	pw_session(&w);
	bh_wcursor_u16(&w, 4); /* inSensitive: userAuth and data empty */
	bh_wcursor_u16(&w, 0);
	bh_wcursor_u16(&w, 0);
	bh_wcursor_u16(&w, AK_TEMPLATE_LEN + 4); /* inPublic */
	put_ak_template(&w);
	bh_wcursor_u16(&w, 0); /* unique.x */
	bh_wcursor_u16(&w, 0); /* unique.y */
	bh_wcursor_u16(&w, 0); /* outsideInfo */
	bh_wcursor_u32(&w, 0); /* creationPCR: none */
	return finish(&w);
}

long bh_tpm2_quote_cmd(void *buf, size_t cap, uint32_t ak, const uint8_t *nonce, size_t nonce_len,
		       const struct bh_pcrsel *sel)
{
	struct bh_wcursor w;

	if (nonce_len > BH_NONCE_MAX)
		return -EINVAL;
	begin(&w, buf, cap, ST_SESSIONS, CC_QUOTE);
	bh_wcursor_u32(&w, ak);
	pw_session(&w);
	bh_wcursor_u16(&w, (uint16_t)nonce_len);
	bh_wcursor_bytes(&w, nonce, nonce_len);
	bh_wcursor_u16(&w, ALG_NULL); /* inScheme: the key's own */
	put_pcrsel(&w, sel);
	return finish(&w);
}

long bh_tpm2_flush_cmd(void *buf, size_t cap, uint32_t handle)
{
	struct bh_wcursor w;

	begin(&w, buf, cap, ST_NO_SESSIONS, CC_FLUSH_CONTEXT);
	bh_wcursor_u32(&w, handle);
	return finish(&w);
}

/* ------------------------------------------------------------------------
 * Responses.
 */

/*
 * The header: a known tag, a size equal to what was received, and the
 * response code. On success the cursor stands after the header; a TPM error
 * is -EREMOTEIO with its code in *ret_rc, and then must carry nothing else.
 */
static int rsp_begin(struct bh_cursor *c, const void *untrusted, size_t len, bool sessions,
		     uint32_t *ret_rc)
{
	uint16_t tag = 0;
	uint32_t size = 0, rc = 0;

	*ret_rc = 0;
	bh_cursor_init(c, untrusted, len);
	bh_cursor_u16(c, &tag);
	bh_cursor_u32(c, &size);
	bh_cursor_u32(c, &rc);
	if (c->err || size != len)
		return -EBADMSG;
	if (rc != 0) {
		*ret_rc = rc;
		return tag == ST_NO_SESSIONS && len == 10 ? -EREMOTEIO : -EBADMSG;
	}
	if (tag != (sessions ? ST_SESSIONS : ST_NO_SESSIONS))
		return -EBADMSG;
	return 0;
}

/* The response auth area of our one password session, then the end. */
static int rsp_end_sessions(struct bh_cursor *c)
{
	uint16_t nonce = 1, hmac = 1;
	uint8_t attrs;

	bh_cursor_u16(c, &nonce);
	bh_cursor_u8(c, &attrs);
	bh_cursor_u16(c, &hmac);
	if (nonce != 0 || hmac != 0)
		bh_cursor_fail(c);
	return bh_cursor_finish(c);
}

/* parameterSize, checked against what the auth area leaves (5 bytes). */
static int rsp_param_size(struct bh_cursor *c)
{
	uint32_t n = 0;

	if (bh_cursor_u32(c, &n) < 0)
		return c->err;
	if (bh_cursor_remaining(c) < 5 || n != bh_cursor_remaining(c) - 5)
		bh_cursor_fail(c);
	return c->err;
}

int bh_tpm2_parse_empty(const void *untrusted, size_t len, bool sessions, uint32_t *ret_rc)
{
	struct bh_cursor c;
	int r = rsp_begin(&c, untrusted, len, sessions, ret_rc);

	if (r < 0)
		return r;
	if (!sessions)
		return bh_cursor_finish(&c);
	if (rsp_param_size(&c) < 0)
		return -EBADMSG;
	return rsp_end_sessions(&c);
}

/* TPML_PCR_SELECTION: at most BH_PCRSEL_MAX banks, PCRs 0..31 (sizeofSelect <= 4). */
static int get_pcrsel(struct bh_cursor *c, struct bh_pcrsel *ret)
{
	uint32_t n = 0;

	if (bh_cursor_u32(c, &n) < 0)
		return c->err;
	if (n > BH_PCRSEL_MAX) {
		bh_cursor_fail(c);
		return c->err;
	}
	ret->n = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t size = 0, byte = 0;
		uint32_t mask = 0;

		bh_cursor_u16(c, &ret->v[i].alg);
		bh_cursor_u8(c, &size);
		if (size > 4)
			bh_cursor_fail(c);
		for (uint8_t b = 0; b < size && !c->err; b++) {
			bh_cursor_u8(c, &byte);
			mask |= (uint32_t)byte << (8 * b);
		}
		if (c->err)
			return c->err;
		ret->v[i].mask = mask;
		ret->n = i + 1;
	}
	return 0;
}

int bh_tpm2_parse_getcap_pcrs(const void *untrusted, size_t len, struct bh_pcrsel *ret,
			      uint32_t *ret_rc)
{
	struct bh_pcrsel sel;
	struct bh_cursor c;
	uint32_t capability = 0;
	uint8_t more = 0;
	int r = rsp_begin(&c, untrusted, len, false, ret_rc);

	if (r < 0)
		return r;
	bh_cursor_u8(&c, &more);
	bh_cursor_u32(&c, &capability);
	if (capability != CAP_PCRS)
		bh_cursor_fail(&c);
	get_pcrsel(&c, &sel);
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	*ret = sel;
	return 0;
}

int bh_tpm2_parse_pcr_read(const void *untrusted, size_t len, struct bh_pcrsel *ret_sel,
			   struct bh_digests *ret_vals, uint32_t *ret_rc)
{
	struct bh_pcrsel sel;
	struct bh_digests vals = { 0 };
	struct bh_cursor c;
	uint32_t counter, n = 0;
	int r = rsp_begin(&c, untrusted, len, false, ret_rc);

	if (r < 0)
		return r;
	bh_cursor_u32(&c, &counter);
	get_pcrsel(&c, &sel);
	bh_cursor_u32(&c, &n);
	if (n > BH_DIGESTS_MAX)
		bh_cursor_fail(&c);
	for (uint32_t i = 0; i < n && !c.err; i++) {
		uint16_t size = 0;

		bh_cursor_u16(&c, &size);
		if (size > BH_DIGEST_MAX)
			bh_cursor_fail(&c);
		bh_cursor_bytes(&c, vals.v[i].d, size);
		vals.v[i].len = size;
	}
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	vals.n = n;
	*ret_sel = sel;
	*ret_vals = vals;
	return 0;
}

/* A TPM2B of at most @max bytes, copied out. */
static void get_2b(struct bh_cursor *c, uint8_t *out, size_t max, size_t *ret_len)
{
	uint16_t n = 0;

	if (bh_cursor_u16(c, &n) < 0)
		return;
	if (n > max) {
		bh_cursor_fail(c);
		return;
	}
	if (bh_cursor_bytes(c, out, n) == 0)
		*ret_len = n;
}

static void skip_2b(struct bh_cursor *c)
{
	uint16_t n = 0;

	if (bh_cursor_u16(c, &n) == 0)
		bh_cursor_skip(c, n);
}

/*
 * The AK's TPMT_PUBLIC must be exactly our template with a 32-byte point: a
 * vTPM that answers with another key type or other attributes (say, not
 * restricted, so it would sign anything) is refused.
 */
static int check_ak_public(const uint8_t *pub, size_t len, struct bh_tpm_ak *ak)
{
	uint8_t want[AK_TEMPLATE_LEN];
	struct bh_wcursor w;
	struct bh_cursor c;
	size_t xl = 0, yl = 0;

	bh_wcursor_init(&w, want, sizeof(want));
	put_ak_template(&w);
	if (bh_wcursor_finish(&w) != AK_TEMPLATE_LEN || len < AK_TEMPLATE_LEN ||
	    memcmp(pub, want, AK_TEMPLATE_LEN) != 0)
		return -EBADMSG;
	bh_cursor_init(&c, pub + AK_TEMPLATE_LEN, len - AK_TEMPLATE_LEN);
	get_2b(&c, ak->x, sizeof(ak->x), &xl);
	get_2b(&c, ak->y, sizeof(ak->y), &yl);
	if (bh_cursor_finish(&c) < 0 || xl != 32 || yl != 32)
		return -EBADMSG;
	return 0;
}

/* The AK's public area (TPMT_PUBLIC, @len bytes) into @ak, kept as TPM2B_PUBLIC. */
static int take_ak_public(const uint8_t *pub, size_t len, struct bh_tpm_ak *ak)
{
	if (len > sizeof(ak->pub) - 2 || check_ak_public(pub, len, ak) < 0)
		return -EBADMSG;
	ak->pub[0] = (uint8_t)(len >> 8);
	ak->pub[1] = (uint8_t)len;
	memcpy(ak->pub + 2, pub, len);
	ak->pub_len = len + 2;
	return 0;
}

int bh_tpm2_parse_create_ak(const void *untrusted, size_t len, struct bh_tpm_ak *ret,
			    uint32_t *ret_rc)
{
	struct bh_tpm_ak ak = { 0 };
	struct bh_cursor c;
	const uint8_t *pub = NULL;
	uint16_t publen = 0, tag = 0;
	uint32_t hierarchy = 0;
	int r = rsp_begin(&c, untrusted, len, true, ret_rc);

	if (r < 0)
		return r;
	bh_cursor_u32(&c, &ak.handle);
	rsp_param_size(&c);
	bh_cursor_u16(&c, &publen);
	bh_cursor_ref(&c, publen, &pub);
	skip_2b(&c); /* creationData */
	skip_2b(&c); /* creationHash */
	bh_cursor_u16(&c, &tag); /* creationTicket */
	bh_cursor_u32(&c, &hierarchy);
	skip_2b(&c);
	get_2b(&c, ak.name, sizeof(ak.name), &ak.name_len);
	if (rsp_end_sessions(&c) < 0 || take_ak_public(pub, publen, &ak) < 0)
		return -EBADMSG;
	*ret = ak;
	return 0;
}

int bh_tpm2_parse_ak_public(const void *untrusted, size_t len, struct bh_tpm_ak *ret)
{
	struct bh_tpm_ak ak = { 0 };
	struct bh_cursor c;
	const uint8_t *pub = NULL;
	uint16_t publen = 0;

	bh_cursor_init(&c, untrusted, len);
	bh_cursor_u16(&c, &publen);
	bh_cursor_ref(&c, publen, &pub);
	if (bh_cursor_finish(&c) < 0 || take_ak_public(pub, publen, &ak) < 0)
		return -EBADMSG;
	*ret = ak;
	return 0;
}

/* TPMT_SIGNATURE: ECDSA with SHA-256 only, r and s at most 32 bytes. */
static int get_signature(struct bh_cursor *c, struct bh_tpm_quote *q)
{
	size_t start = c->off;

	bh_cursor_u16(c, &q->sig_alg);
	bh_cursor_u16(c, &q->sig_hash);
	if (q->sig_alg != ALG_ECDSA || q->sig_hash != BH_TPM_ALG_SHA256)
		bh_cursor_fail(c);
	get_2b(c, q->r, sizeof(q->r), &q->r_len);
	get_2b(c, q->s, sizeof(q->s), &q->s_len);
	if (c->err)
		return c->err;
	q->sig_len = c->off - start;
	memcpy(q->sig, c->data + start, q->sig_len);
	return 0;
}

int bh_tpm2_parse_quote(const void *untrusted, size_t len, struct bh_tpm_quote *ret,
			uint32_t *ret_rc)
{
	struct bh_tpm_quote q = { 0 };
	struct bh_cursor c;
	int r = rsp_begin(&c, untrusted, len, true, ret_rc);

	if (r < 0)
		return r;
	rsp_param_size(&c);
	get_2b(&c, q.attest, sizeof(q.attest), &q.attest_len);
	get_signature(&c, &q);
	if (rsp_end_sessions(&c) < 0)
		return -EBADMSG;
	*ret = q;
	return 0;
}

int bh_tpm2_parse_signature(const void *untrusted, size_t len, struct bh_tpm_quote *ret)
{
	struct bh_tpm_quote q = *ret; /* keeps the caller's attest bytes */
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted, len);
	if (get_signature(&c, &q) < 0 || bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	*ret = q;
	return 0;
}

int bh_tpm2_parse_attest(const void *untrusted, size_t len, struct bh_attest_info *ret)
{
	struct bh_attest_info a = { 0 };
	struct bh_cursor c;
	uint32_t magic = 0;
	uint16_t type = 0;

	bh_cursor_init(&c, untrusted, len);
	bh_cursor_u32(&c, &magic);
	bh_cursor_u16(&c, &type);
	if (magic != GENERATED_VALUE || type != ST_ATTEST_QUOTE)
		bh_cursor_fail(&c);
	get_2b(&c, a.signer, sizeof(a.signer), &a.signer_len);
	get_2b(&c, a.extra, sizeof(a.extra), &a.extra_len);
	bh_cursor_u64(&c, &a.clock);
	bh_cursor_u32(&c, &a.reset_count);
	bh_cursor_u32(&c, &a.restart_count);
	bh_cursor_u8(&c, &a.safe);
	bh_cursor_u64(&c, &a.firmware);
	get_pcrsel(&c, &a.sel);
	get_2b(&c, a.pcr_digest, sizeof(a.pcr_digest), &a.pcr_digest_len);
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	*ret = a;
	return 0;
}
