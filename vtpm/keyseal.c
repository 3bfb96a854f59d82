/* SPDX-License-Identifier: MIT */
/*
 * Volume secrets sealed in the guest's own TPM (DESIGN.md section 4: stordom's
 * UNSEAL), run by the worker between guest commands through vt_tpm_process()
 * like any other command: this file builds TPM 2.0 commands and reads their
 * responses, it does not use libtpms itself (tpm.c is its only user).
 *
 * The secret is a KEYEDHASH sealed-data object under a storage primary of the
 * owner hierarchy (ECC P-256 from a fixed template, so it is the same key
 * after every restart). Its authPolicy is
 *
 *   PolicyOR( PolicyPCR(sha256: 1, 8, 9 as they were when it was sealed),
 *             PolicyPassword )
 *
 * userWithAuth clear: only a policy session opens it. The first branch is the
 * guest's measured boot (config, command line, executable): stordom's UNSEAL
 * succeeds only while the guest's PCRs are those. The second is the admin's
 * (`bulkhead reseal`): its password is the object's authValue, 32 random
 * bytes that vtpmd keeps in the sealed record (encrypted under its manager
 * key), never dom0; with it the worker unseals and seals again to the PCRs
 * now in force, and the secret never leaves the worker. noDA: a guest that
 * provokes dictionary-attack lockout does not lock its volume with it.
 *
 * Every handle this file creates is flushed before it returns.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "bulkhead/cursor.h"
#include "vtpm.h"

#define CC_CREATE_PRIMARY 0x131
#define CC_CREATE 0x153
#define CC_LOAD 0x157
#define CC_UNSEAL 0x15e
#define CC_FLUSH 0x165
#define CC_POLICY_OR 0x171
#define CC_START_AUTH_SESSION 0x176
#define CC_POLICY_PCR 0x17f
#define CC_POLICY_GET_DIGEST 0x189
#define CC_POLICY_PASSWORD 0x18c
#define RH_OWNER 0x40000001u
#define RH_NULL 0x40000007u
#define RS_PW 0x40000009u
#define ALG_AES 0x0006
#define ALG_KEYEDHASH 0x0008
#define ALG_SHA256 0x000b
#define ALG_NULL 0x0010
#define ALG_ECC 0x0023
#define ALG_CFB 0x0043
#define ECC_NIST_P256 0x0003
#define SE_POLICY 0x01
#define SE_TRIAL 0x03
/* fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | noDA | restricted | decrypt */
#define ATTR_STORAGE 0x00030472u
/* fixedTPM | fixedParent | noDA: userWithAuth clear, so only the policy opens it */
#define ATTR_SEALED 0x00000412u

struct tpm_rsp {
	uint8_t buf[VT_TPM_RSP_MAX];
	size_t len;
	uint32_t rc;
};

/* Put the command's size in its header, run it; the TPM's rc (0 = success) or -errno. */
static int run(struct bh_wcursor *w, struct tpm_rsp *rsp)
{
	long n = bh_wcursor_finish(w);

	if (n < VT_TPM_HDR_SIZE)
		return n < 0 ? (int)n : -EINVAL;
	vt_put_be32(w->data + 2, (uint32_t)n);
	rsp->len = vt_tpm_process(w->data, (uint32_t)n, rsp->buf, sizeof(rsp->buf));
	rsp->rc = rsp->len >= VT_TPM_HDR_SIZE ? vt_be32(rsp->buf + 6) : VT_TPM_RC_FAILURE;
	return (int)rsp->rc;
}

static void begin(struct bh_wcursor *w, uint8_t *buf, size_t cap, bool sessions, uint32_t cc)
{
	bh_wcursor_init(w, buf, cap);
	bh_wcursor_u16(w, sessions ? VT_TPM_ST_SESSIONS : VT_TPM_ST_NO_SESSIONS);
	bh_wcursor_u32(w, 0); /* size, filled in by run() */
	bh_wcursor_u32(w, cc);
}

/* An authorization area of one session: @handle (RS_PW or a policy session), @auth in clear. */
static void auth_area(struct bh_wcursor *w, uint32_t handle, const uint8_t *auth, uint16_t len)
{
	bh_wcursor_u32(w, 4 + 2 + 1 + 2 + len);
	bh_wcursor_u32(w, handle);
	bh_wcursor_u16(w, 0); /* nonceCaller */
	bh_wcursor_u8(w, 0);  /* attributes: continueSession clear (a policy session ends here) */
	bh_wcursor_u16(w, len);
	bh_wcursor_bytes(w, auth, len);
}

/* A cursor over the response after its header (and @skip more bytes). */
static int rsp_cursor(const struct tpm_rsp *rsp, size_t skip, struct bh_cursor *c)
{
	if (rsp->len < VT_TPM_HDR_SIZE + skip)
		return -EBADMSG;
	bh_cursor_init(c, rsp->buf + VT_TPM_HDR_SIZE + skip, rsp->len - VT_TPM_HDR_SIZE - skip);
	return 0;
}

/* A u16-sized field of at most @cap bytes into @out. */
static int get_sized(struct bh_cursor *c, uint8_t *out, size_t cap, uint16_t *ret_len)
{
	uint16_t n = 0;

	if (bh_cursor_u16(c, &n) < 0 || n > cap || bh_cursor_bytes(c, out, n) < 0)
		return -EBADMSG;
	*ret_len = n;
	return 0;
}

static void flush(uint32_t handle)
{
	uint8_t buf[16];
	struct bh_wcursor w;
	struct tpm_rsp rsp;

	if (!handle)
		return;
	begin(&w, buf, sizeof(buf), false, CC_FLUSH);
	bh_wcursor_u32(&w, handle);
	run(&w, &rsp);
}

/* Why a step failed, for the caller's message: "TPM2_Unseal: TPM rc 0x99d". */
static int fail(char *err, size_t errlen, const char *step, int r)
{
	if (r > 0)
		snprintf(err, errlen, "%s: TPM rc 0x%x", step, (unsigned)r);
	else
		snprintf(err, errlen, "%s: %s", step, strerror(-r));
	return r > 0 ? -EACCES : r;
}

static int create_primary(uint32_t *ret, char *err, size_t errlen)
{
	uint8_t buf[128];
	struct bh_wcursor w;
	struct tpm_rsp rsp;
	struct bh_cursor c;
	int r;

	begin(&w, buf, sizeof(buf), true, CC_CREATE_PRIMARY);
	bh_wcursor_u32(&w, RH_OWNER);
	auth_area(&w, RS_PW, NULL, 0);
	bh_wcursor_u16(&w, 4); /* inSensitive: empty userAuth, empty data */
	bh_wcursor_u32(&w, 0);
	bh_wcursor_u16(&w, 26); /* inPublic */
	bh_wcursor_u16(&w, ALG_ECC);
	bh_wcursor_u16(&w, ALG_SHA256);
	bh_wcursor_u32(&w, ATTR_STORAGE);
	bh_wcursor_u16(&w, 0); /* authPolicy */
	bh_wcursor_u16(&w, ALG_AES);
	bh_wcursor_u16(&w, 128);
	bh_wcursor_u16(&w, ALG_CFB);
	bh_wcursor_u16(&w, ALG_NULL); /* scheme */
	bh_wcursor_u16(&w, ECC_NIST_P256);
	bh_wcursor_u16(&w, ALG_NULL); /* kdf */
	bh_wcursor_u32(&w, 0);        /* unique: empty x, y */
	bh_wcursor_u16(&w, 0);        /* outsideInfo */
	bh_wcursor_u32(&w, 0);        /* creationPCR: none */
	r = run(&w, &rsp);
	if (r == 0)
		r = rsp_cursor(&rsp, 0, &c);
	if (r == 0 && bh_cursor_u32(&c, ret) < 0)
		r = -EBADMSG;
	return r ? fail(err, errlen, "TPM2_CreatePrimary (owner hierarchy)", r) : 0;
}

static int start_session(uint8_t type, uint32_t *ret, char *err, size_t errlen)
{
	uint8_t buf[96], nonce[32];
	struct bh_wcursor w;
	struct tpm_rsp rsp;
	struct bh_cursor c;
	int r = getrandom(nonce, sizeof(nonce), 0) == (ssize_t)sizeof(nonce) ? 0 : -EIO;

	begin(&w, buf, sizeof(buf), false, CC_START_AUTH_SESSION);
	bh_wcursor_u32(&w, RH_NULL); /* tpmKey: no salt */
	bh_wcursor_u32(&w, RH_NULL); /* bind: none */
	bh_wcursor_u16(&w, sizeof(nonce));
	bh_wcursor_bytes(&w, nonce, sizeof(nonce));
	bh_wcursor_u16(&w, 0); /* encryptedSalt */
	bh_wcursor_u8(&w, type);
	bh_wcursor_u16(&w, ALG_NULL); /* symmetric: none (the commands never leave this process) */
	bh_wcursor_u16(&w, ALG_SHA256);
	if (r == 0)
		r = run(&w, &rsp);
	if (r == 0)
		r = rsp_cursor(&rsp, 0, &c);
	if (r == 0 && bh_cursor_u32(&c, ret) < 0)
		r = -EBADMSG;
	return r ? fail(err, errlen, "TPM2_StartAuthSession", r) : 0;
}

/* PolicyPCR over sha256 PCRs 1, 8, 9 as they are now. */
static int policy_pcr(uint32_t session, char *err, size_t errlen)
{
	static const uint8_t select[3] = { 0x02, 0x03, 0x00 }; /* PCR 1; PCRs 8, 9 */
	uint8_t buf[64];
	struct bh_wcursor w;
	struct tpm_rsp rsp;
	int r;

	begin(&w, buf, sizeof(buf), false, CC_POLICY_PCR);
	bh_wcursor_u32(&w, session);
	bh_wcursor_u16(&w, 0); /* pcrDigest: the TPM takes the current values */
	bh_wcursor_u32(&w, 1);
	bh_wcursor_u16(&w, ALG_SHA256);
	bh_wcursor_u8(&w, sizeof(select));
	bh_wcursor_bytes(&w, select, sizeof(select));
	r = run(&w, &rsp);
	return r ? fail(err, errlen, "TPM2_PolicyPCR", r) : 0;
}

static int policy_password(uint32_t session, char *err, size_t errlen)
{
	uint8_t buf[16];
	struct bh_wcursor w;
	struct tpm_rsp rsp;
	int r;

	begin(&w, buf, sizeof(buf), false, CC_POLICY_PASSWORD);
	bh_wcursor_u32(&w, session);
	r = run(&w, &rsp);
	return r ? fail(err, errlen, "TPM2_PolicyPassword", r) : 0;
}

/* TPM_RC_VALUE here means: the session's digest is in neither branch (PCRs changed). */
static int policy_or(uint32_t session, const struct vt_sealed *s, char *err, size_t errlen)
{
	uint8_t buf[128];
	struct bh_wcursor w;
	struct tpm_rsp rsp;
	int r;

	begin(&w, buf, sizeof(buf), false, CC_POLICY_OR);
	bh_wcursor_u32(&w, session);
	bh_wcursor_u32(&w, 2);
	for (int i = 0; i < 2; i++) {
		bh_wcursor_u16(&w, VT_DIGEST_LEN);
		bh_wcursor_bytes(&w, s->branch[i], VT_DIGEST_LEN);
	}
	r = run(&w, &rsp);
	return r ? fail(err, errlen, "TPM2_PolicyOR", r) : 0;
}

static int policy_digest(uint32_t session, uint8_t out[VT_DIGEST_LEN], char *err, size_t errlen)
{
	uint8_t buf[16];
	struct bh_wcursor w;
	struct tpm_rsp rsp;
	struct bh_cursor c;
	uint16_t n = 0;
	int r;

	begin(&w, buf, sizeof(buf), false, CC_POLICY_GET_DIGEST);
	bh_wcursor_u32(&w, session);
	r = run(&w, &rsp);
	if (r == 0)
		r = rsp_cursor(&rsp, 0, &c);
	if (r == 0 && (get_sized(&c, out, VT_DIGEST_LEN, &n) < 0 || n != VT_DIGEST_LEN))
		r = -EBADMSG;
	return r ? fail(err, errlen, "TPM2_PolicyGetDigest", r) : 0;
}

/*
 * The two branches as trial sessions compute them (PCR values of now), and
 * into s->policy their OR: the sealed object's authPolicy.
 */
static int make_policy(struct vt_sealed *s, uint8_t policy[VT_DIGEST_LEN], char *err,
		       size_t errlen)
{
	uint32_t t = 0;
	int r = start_session(SE_TRIAL, &t, err, errlen);

	if (r == 0)
		r = policy_pcr(t, err, errlen);
	if (r == 0)
		r = policy_digest(t, s->branch[0], err, errlen);
	flush(t);
	t = 0;
	if (r == 0)
		r = start_session(SE_TRIAL, &t, err, errlen);
	if (r == 0)
		r = policy_password(t, err, errlen);
	if (r == 0)
		r = policy_digest(t, s->branch[1], err, errlen);
	if (r == 0)
		r = policy_or(t, s, err, errlen);
	if (r == 0)
		r = policy_digest(t, policy, err, errlen);
	flush(t);
	return r;
}

/* TPM2_Create of the sealed-data object under @parent; its blobs into @s. */
static int create_sealed(uint32_t parent, const uint8_t *secret, size_t len,
			 const uint8_t policy[VT_DIGEST_LEN], struct vt_sealed *s, char *err,
			 size_t errlen)
{
	uint8_t buf[256];
	struct bh_wcursor w;
	struct tpm_rsp rsp;
	struct bh_cursor c;
	uint32_t psize = 0;
	int r;

	begin(&w, buf, sizeof(buf), true, CC_CREATE);
	bh_wcursor_u32(&w, parent);
	auth_area(&w, RS_PW, NULL, 0);
	bh_wcursor_u16(&w, (uint16_t)(4 + VT_ADMIN_LEN + len)); /* inSensitive */
	bh_wcursor_u16(&w, VT_ADMIN_LEN);
	bh_wcursor_bytes(&w, s->admin, VT_ADMIN_LEN);
	bh_wcursor_u16(&w, (uint16_t)len);
	bh_wcursor_bytes(&w, secret, len);
	bh_wcursor_u16(&w, 14 + VT_DIGEST_LEN); /* inPublic */
	bh_wcursor_u16(&w, ALG_KEYEDHASH);
	bh_wcursor_u16(&w, ALG_SHA256);
	bh_wcursor_u32(&w, ATTR_SEALED);
	bh_wcursor_u16(&w, VT_DIGEST_LEN);
	bh_wcursor_bytes(&w, policy, VT_DIGEST_LEN);
	bh_wcursor_u16(&w, ALG_NULL); /* scheme: sealed data */
	bh_wcursor_u16(&w, 0);        /* unique */
	bh_wcursor_u16(&w, 0);        /* outsideInfo */
	bh_wcursor_u32(&w, 0);        /* creationPCR */
	r = run(&w, &rsp);
	explicit_bzero(buf, sizeof(buf));
	if (r == 0)
		r = rsp_cursor(&rsp, 0, &c);
	if (r == 0 && (bh_cursor_u32(&c, &psize) < 0 ||
		       get_sized(&c, s->priv, sizeof(s->priv), &s->priv_len) < 0 ||
		       get_sized(&c, s->pub, sizeof(s->pub), &s->pub_len) < 0))
		r = -EBADMSG;
	return r ? fail(err, errlen, "TPM2_Create (sealed secret)", r) : 0;
}

static int load(uint32_t parent, const struct vt_sealed *s, uint32_t *ret, char *err,
		size_t errlen)
{
	uint8_t buf[64 + sizeof(s->priv) + sizeof(s->pub)];
	struct bh_wcursor w;
	struct tpm_rsp rsp;
	struct bh_cursor c;
	int r;

	begin(&w, buf, sizeof(buf), true, CC_LOAD);
	bh_wcursor_u32(&w, parent);
	auth_area(&w, RS_PW, NULL, 0);
	bh_wcursor_u16(&w, s->priv_len);
	bh_wcursor_bytes(&w, s->priv, s->priv_len);
	bh_wcursor_u16(&w, s->pub_len);
	bh_wcursor_bytes(&w, s->pub, s->pub_len);
	r = run(&w, &rsp);
	if (r == 0)
		r = rsp_cursor(&rsp, 0, &c);
	if (r == 0 && bh_cursor_u32(&c, ret) < 0)
		r = -EBADMSG;
	return r ? fail(err, errlen, "TPM2_Load (sealed secret)", r) : 0;
}

/* TPM2_Unseal of @item in @session (its hmac field: @auth, the admin branch's password). */
static int unseal(uint32_t item, uint32_t session, const uint8_t *auth, uint16_t auth_len,
		  uint8_t *out, size_t cap, size_t *ret_len, char *err, size_t errlen)
{
	uint8_t buf[96];
	struct bh_wcursor w;
	struct tpm_rsp rsp;
	struct bh_cursor c;
	uint32_t psize = 0;
	uint16_t n = 0;
	int r;

	begin(&w, buf, sizeof(buf), true, CC_UNSEAL);
	bh_wcursor_u32(&w, item);
	auth_area(&w, session, auth, auth_len);
	r = run(&w, &rsp);
	explicit_bzero(buf, sizeof(buf));
	if (r == 0)
		r = rsp_cursor(&rsp, 0, &c);
	if (r == 0 && (bh_cursor_u32(&c, &psize) < 0 || get_sized(&c, out, cap, &n) < 0))
		r = -EBADMSG;
	explicit_bzero(rsp.buf, sizeof(rsp.buf));
	if (r)
		return fail(err, errlen, "TPM2_Unseal", r);
	*ret_len = n;
	return 0;
}

/* Seal @secret to the PCRs of now with a fresh admin password, under @parent. */
static int seal_now(uint32_t parent, const uint8_t *secret, size_t len, struct vt_sealed *ret,
		    char *err, size_t errlen)
{
	uint8_t policy[VT_DIGEST_LEN];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (getrandom(ret->admin, sizeof(ret->admin), 0) != (ssize_t)sizeof(ret->admin))
		return fail(err, errlen, "admin password", -EIO);
	r = make_policy(ret, policy, err, errlen);
	if (r == 0)
		r = create_sealed(parent, secret, len, policy, ret, err, errlen);
	if (r < 0)
		explicit_bzero(ret, sizeof(*ret));
	return r;
}

/* Open @s through one branch: the PCRs' (@admin false) or the admin password's. */
static int open_sealed(uint32_t parent, const struct vt_sealed *s, bool admin, uint8_t *out,
		       size_t cap, size_t *ret_len, char *err, size_t errlen)
{
	uint32_t item = 0, session = 0;
	int r = load(parent, s, &item, err, errlen);

	if (r == 0)
		r = start_session(SE_POLICY, &session, err, errlen);
	if (r == 0)
		r = admin ? policy_password(session, err, errlen) : policy_pcr(session, err, errlen);
	if (r == 0) {
		r = policy_or(session, s, err, errlen);
		if (r < 0 && !admin)
			snprintf(err, errlen, "the guest's PCRs 1, 8, 9 are not those the secret "
					      "was sealed to (its config, command line or "
					      "executable changed)");
	}
	if (r == 0)
		r = unseal(item, session, admin ? s->admin : NULL, admin ? VT_ADMIN_LEN : 0, out,
			   cap, ret_len, err, errlen);
	if (r < 0)
		flush(session); /* a successful Unseal ended it (continueSession clear) */
	flush(item);
	return r;
}

int vt_keyseal_unseal(const struct vt_sealed *s, uint8_t *out, size_t cap, size_t *ret_len,
		      char *err, size_t errlen)
{
	uint32_t parent = 0;
	int r = create_primary(&parent, err, errlen);

	if (r == 0)
		r = open_sealed(parent, s, false, out, cap, ret_len, err, errlen);
	flush(parent);
	return r;
}

int vt_keyseal_create(uint8_t *secret, size_t len, struct vt_sealed *ret, char *err,
		      size_t errlen)
{
	uint32_t parent = 0;
	int r = len <= VT_SECRET_MAX ? 0 : -EINVAL;

	if (r == 0 && getrandom(secret, len, 0) != (ssize_t)len)
		r = fail(err, errlen, "secret", -EIO);
	if (r == 0)
		r = create_primary(&parent, err, errlen);
	if (r == 0)
		r = seal_now(parent, secret, len, ret, err, errlen);
	flush(parent);
	if (r < 0)
		explicit_bzero(secret, len);
	return r;
}

int vt_keyseal_reseal(const struct vt_sealed *old, struct vt_sealed *ret, char *err,
		      size_t errlen)
{
	uint8_t secret[VT_SECRET_MAX];
	uint32_t parent = 0;
	size_t len = 0;
	int r = create_primary(&parent, err, errlen);

	if (r == 0)
		r = open_sealed(parent, old, true, secret, sizeof(secret), &len, err, errlen);
	if (r == 0)
		r = seal_now(parent, secret, len, ret, err, errlen);
	explicit_bzero(secret, sizeof(secret));
	flush(parent);
	return r;
}

/* ---- the record vtpmd keeps (sealed under its key), and its codec ---- */

long vt_sealed_encode(const struct vt_sealed *s, uint8_t *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_bytes(&w, s->admin, VT_ADMIN_LEN);
	bh_wcursor_bytes(&w, s->branch[0], VT_DIGEST_LEN);
	bh_wcursor_bytes(&w, s->branch[1], VT_DIGEST_LEN);
	bh_wcursor_u16(&w, s->pub_len);
	bh_wcursor_bytes(&w, s->pub, s->pub_len);
	bh_wcursor_u16(&w, s->priv_len);
	bh_wcursor_bytes(&w, s->priv, s->priv_len);
	return bh_wcursor_finish(&w);
}

int vt_sealed_decode(struct bh_cursor *c, struct vt_sealed *ret)
{
	struct vt_sealed s = { 0 };

	bh_cursor_bytes(c, s.admin, VT_ADMIN_LEN);
	bh_cursor_bytes(c, s.branch[0], VT_DIGEST_LEN);
	bh_cursor_bytes(c, s.branch[1], VT_DIGEST_LEN);
	if (get_sized(c, s.pub, sizeof(s.pub), &s.pub_len) < 0 ||
	    get_sized(c, s.priv, sizeof(s.priv), &s.priv_len) < 0 || !s.pub_len || !s.priv_len) {
		explicit_bzero(&s, sizeof(s));
		return -EBADMSG;
	}
	*ret = s;
	explicit_bzero(&s, sizeof(s));
	return 0;
}

/* ---- VTPM_KEY_OP / VTPM_KEY_RESULT: vtpmd <-> worker ----
 *
 *   KEY_OP      u8 op (enum vt_key_op), u8 has_record, record (vt_sealed_encode)
 *   KEY_RESULT  i32 status, u8 has_record, record, u16 len + secret, str text
 */
long vt_keyop_encode(uint8_t op, const struct vt_sealed *rec, uint8_t *out, size_t cap)
{
	struct bh_wcursor w;
	long n;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u8(&w, op);
	bh_wcursor_u8(&w, rec != NULL);
	if (!rec)
		return bh_wcursor_finish(&w);
	n = bh_wcursor_finish(&w);
	if (n < 0)
		return n;
	n = vt_sealed_encode(rec, out + 2, cap - 2);
	return n < 0 ? n : n + 2;
}

int vt_keyop_decode(const uint8_t *untrusted_body, size_t len, uint8_t *ret_op,
		    struct vt_sealed *ret, bool *ret_has)
{
	struct bh_cursor c;
	uint8_t op = 0, has = 0;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u8(&c, &op);
	bh_cursor_u8(&c, &has);
	if (op < VT_KEY_CREATE || op > VT_KEY_RESEAL || has > 1 || has != (op != VT_KEY_CREATE))
		return -EBADMSG;
	if (has && vt_sealed_decode(&c, ret) < 0)
		return -EBADMSG;
	if (bh_cursor_finish(&c) < 0) {
		explicit_bzero(ret, sizeof(*ret));
		return -EBADMSG;
	}
	*ret_op = op;
	*ret_has = has;
	return 0;
}

long vt_keyres_encode(const struct vt_keyres *m, uint8_t *out, size_t cap)
{
	struct bh_wcursor w;
	long n;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u32(&w, (uint32_t)m->status);
	bh_wcursor_u8(&w, m->has_record);
	if (m->has_record && (n = bh_wcursor_finish(&w)) >= 0) {
		n = vt_sealed_encode(&m->rec, out + w.off, cap - w.off);
		if (n < 0)
			return n;
		w.off += (size_t)n;
	}
	bh_wcursor_u16(&w, m->secret_len);
	bh_wcursor_bytes(&w, m->secret, m->secret_len);
	bh_wcursor_str(&w, m->text);
	return bh_wcursor_finish(&w);
}

int vt_keyres_decode(const uint8_t *untrusted_body, size_t len, struct vt_keyres *ret)
{
	struct bh_cursor c;
	uint32_t status = 0;
	uint8_t has = 0;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u32(&c, &status);
	bh_cursor_u8(&c, &has);
	if (has > 1 || (has && vt_sealed_decode(&c, &ret->rec) < 0))
		r = -EBADMSG;
	if (r == 0 && get_sized(&c, ret->secret, sizeof(ret->secret), &ret->secret_len) < 0)
		r = -EBADMSG;
	bh_cursor_str(&c, ret->text, sizeof(ret->text));
	if (r == 0)
		r = bh_cursor_finish(&c);
	ret->status = (int32_t)status;
	ret->has_record = has;
	if (r == 0 && (ret->status > 0 || ret->status < -4095))
		r = -EBADMSG;
	if (r < 0) {
		explicit_bzero(ret, sizeof(*ret));
		return -EBADMSG;
	}
	return 0;
}

/* In the worker: run one KEY_OP; the result goes into @res (the caller wipes it). */
void vt_keyop_run(uint8_t op, const struct vt_sealed *rec, struct vt_keyres *res)
{
	size_t n = 0;
	int r;

	memset(res, 0, sizeof(*res));
	switch (op) {
	case VT_KEY_CREATE:
		r = vt_keyseal_create(res->secret, VT_SECRET_LEN, &res->rec, res->text,
				      sizeof(res->text));
		res->has_record = r == 0;
		n = r == 0 ? VT_SECRET_LEN : 0;
		break;
	case VT_KEY_UNSEAL:
		r = vt_keyseal_unseal(rec, res->secret, sizeof(res->secret), &n, res->text,
				      sizeof(res->text));
		break;
	default: /* VT_KEY_RESEAL */
		r = vt_keyseal_reseal(rec, &res->rec, res->text, sizeof(res->text));
		res->has_record = r == 0;
		break;
	}
	res->status = r;
	res->secret_len = (uint16_t)n;
	if (r == 0 && !res->text[0])
		snprintf(res->text, sizeof(res->text), "ok");
}
