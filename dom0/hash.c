/* SPDX-License-Identifier: MIT */
/*
 * The OpenSSL adapter of dom0 (STYLE.md: one adapter per library): SHA-256
 * for the audit log; the TPM banks' digests (SHA-1, SHA-256, SHA-384,
 * SHA-512) for measured boot; ECDSA P-256 verification and the PEM form of an
 * attestation key for `bulkhead attest`. Nothing else in dom0 includes an
 * OpenSSL header. OpenSSL's 0-on-failure becomes -EIO here (-EBADMSG for a
 * signature that does not verify); the error queue is logged at debug level.
 */
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "dom0.h"

/* Log (at debug) and clear what OpenSSL queued; return @err. */
static int ossl_fail(int err, const char *what)
{
	unsigned long e;

	while ((e = ERR_get_error()) != 0) {
		char buf[256];

		ERR_error_string_n(e, buf, sizeof(buf));
		bh_log(LOG_DEBUG, "%s: %s", what, buf);
	}
	return err;
}

int bh_sha256(const void *data, size_t len, uint8_t ret[BH_SHA256_LEN])
{
	unsigned int outlen = 0;

	if (!EVP_Digest(data, len, ret, &outlen, EVP_sha256(), NULL) || outlen != BH_SHA256_LEN)
		return ossl_fail(-EIO, "sha256");
	return 0;
}

int bh_sha256_hex(const void *data, size_t len, char ret[BH_SHA256_HEX_LEN + 1])
{
	uint8_t md[BH_SHA256_LEN];
	int r = bh_sha256(data, len, md);

	if (r < 0)
		return r;
	bh_hex(md, BH_SHA256_LEN, ret);
	return 0;
}

static const EVP_MD *md_of(uint16_t alg)
{
	switch (alg) {
	case BH_TPM_ALG_SHA1:
		return EVP_sha1();
	case BH_TPM_ALG_SHA256:
		return EVP_sha256();
	case BH_TPM_ALG_SHA384:
		return EVP_sha384();
	case BH_TPM_ALG_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

int bh_digest(uint16_t alg, const void *data, size_t len, uint8_t *ret)
{
	const EVP_MD *md = md_of(alg);
	unsigned int outlen = 0;

	if (!md)
		return -EINVAL;
	if (!EVP_Digest(data, len, ret, &outlen, md, NULL) || outlen != bh_tpm_alg_size(alg))
		return ossl_fail(-EIO, "digest");
	return 0;
}

static void free_ctxs(EVP_MD_CTX **ctx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_MD_CTX_free(ctx[i]);
}

static int digest_fd(int fd, const uint16_t *algs, size_t n, EVP_MD_CTX **ctx)
{
	enum { CHUNK = 1 << 16 };
	_cleanup_free_ uint8_t *buf = malloc(CHUNK);
	ssize_t got;

	if (!buf)
		return -ENOMEM;

	for (size_t i = 0; i < n; i++) {
		ctx[i] = EVP_MD_CTX_new();
		if (!ctx[i] || !md_of(algs[i]) || !EVP_DigestInit_ex(ctx[i], md_of(algs[i]), NULL))
			return md_of(algs[i]) ? ossl_fail(-EIO, "digest init") : -EINVAL;
	}
	while ((got = read(fd, buf, CHUNK)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		for (size_t i = 0; i < n; i++)
			if (!EVP_DigestUpdate(ctx[i], buf, (size_t)got))
				return ossl_fail(-EIO, "digest update");
	}
	return 0;
}

int bh_digest_file(const char *path, const uint16_t *algs, size_t n,
		   uint8_t (*ret)[BH_DIGEST_MAX])
{
	EVP_MD_CTX *ctx[BH_BANKS_MAX] = { 0 };
	_cleanup_close_ int fd = -1;
	int r;

	if (n > BH_BANKS_MAX)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	r = digest_fd(fd, algs, n, ctx);
	for (size_t i = 0; r == 0 && i < n; i++) {
		unsigned int outlen = 0;

		if (!EVP_DigestFinal_ex(ctx[i], ret[i], &outlen) ||
		    outlen != bh_tpm_alg_size(algs[i]))
			r = ossl_fail(-EIO, "digest final");
	}
	free_ctxs(ctx, n);
	return r;
}

/* SubjectPublicKeyInfo of a P-256 key: this prefix, then 04 || X || Y (RFC 5480). */
static const uint8_t p256_spki_prefix[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
};

static EVP_PKEY *p256_key(const uint8_t x[32], const uint8_t y[32])
{
	uint8_t der[sizeof(p256_spki_prefix) + 64];
	const uint8_t *p = der;
	EVP_PKEY *key;

	memcpy(der, p256_spki_prefix, sizeof(p256_spki_prefix));
	memcpy(der + sizeof(p256_spki_prefix), x, 32);
	memcpy(der + sizeof(p256_spki_prefix) + 32, y, 32);
	/* Refuses a point that is not on the curve. */
	key = d2i_PUBKEY(NULL, &p, (long)sizeof(der));
	if (!key)
		ossl_fail(0, "P-256 public key");
	return key;
}

/* r and s as the DER ECDSA-Sig-Value OpenSSL verifies. */
static int ecdsa_der(const uint8_t *r, size_t rlen, const uint8_t *s, size_t slen, uint8_t **ret,
		     int *ret_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(r, (int)rlen, NULL), *bs = BN_bin2bn(s, (int)slen, NULL);
	int len;

	if (!sig || !br || !bs || !ECDSA_SIG_set0(sig, br, bs)) {
		ECDSA_SIG_free(sig);
		BN_free(br);
		BN_free(bs);
		return ossl_fail(-EIO, "ECDSA signature");
	}
	*ret = NULL;
	len = i2d_ECDSA_SIG(sig, ret);
	ECDSA_SIG_free(sig);
	if (len <= 0)
		return ossl_fail(-EIO, "ECDSA signature encoding");
	*ret_len = len;
	return 0;
}

int bh_ecdsa_p256_verify(const uint8_t x[32], const uint8_t y[32], const void *msg, size_t msglen,
			 const uint8_t *r, size_t rlen, const uint8_t *s, size_t slen)
{
	EVP_PKEY *key;
	EVP_MD_CTX *ctx = NULL;
	uint8_t *der = NULL;
	int derlen = 0, ok, ret;

	if (rlen == 0 || rlen > 32 || slen == 0 || slen > 32)
		return -EBADMSG;
	key = p256_key(x, y);
	if (!key)
		return -EBADMSG;
	ret = ecdsa_der(r, rlen, s, slen, &der, &derlen);
	if (ret < 0)
		goto out;
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key)) {
		ret = ossl_fail(-EIO, "verify init");
		goto out;
	}
	ok = EVP_DigestVerify(ctx, der, (size_t)derlen, msg, msglen);
	/* 0 is a signature that does not verify; < 0 a malformed one. Both: refused. */
	ret = ok == 1 ? 0 : ossl_fail(-EBADMSG, "verify");
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	return ret;
}

int bh_p256_pem(const uint8_t x[32], const uint8_t y[32], FILE *out)
{
	EVP_PKEY *key = p256_key(x, y);
	int ok;

	if (!key)
		return -EBADMSG;
	ok = PEM_write_PUBKEY(out, key);
	EVP_PKEY_free(key);
	return ok ? 0 : ossl_fail(-EIO, "PEM");
}
