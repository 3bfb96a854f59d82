/* SPDX-License-Identifier: MIT */
/*
 * The data path's cipher: AES-XTS through OpenSSL EVP, the only file that
 * includes OpenSSL. One context per worker thread, keyed once per volume;
 * per sector only the tweak changes (EVP_CipherInit_ex with a NULL key keeps
 * the key schedule), so a request allocates nothing.
 *
 * The tweak is what dm-crypt's plain64 IV generator produces: the IV number
 * as a little-endian 64-bit integer, zero-padded to 16 bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "bulkhead/log.h"
#include "stordom.h"

struct sd_xts {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	bool keyed;
};

/* OpenSSL reports 0 for failure: log its queue at debug, return -EIO. */
static int ossl_fail(const char *what)
{
	unsigned long e;

	while ((e = ERR_get_error()) != 0) {
		char buf[256];

		ERR_error_string_n(e, buf, sizeof(buf));
		bh_debug("openssl %s: %s", what, buf);
	}
	return -EIO;
}

int sd_xts_new(struct sd_xts **ret)
{
	struct sd_xts *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	x->enc = EVP_CIPHER_CTX_new();
	x->dec = EVP_CIPHER_CTX_new();
	if (!x->enc || !x->dec) {
		sd_xts_free(x);
		return -ENOMEM;
	}
	*ret = x;
	return 0;
}

void sd_xts_free(struct sd_xts *x)
{
	if (!x)
		return;
	/* EVP_CIPHER_CTX_free cleanses the expanded key schedule. */
	EVP_CIPHER_CTX_free(x->enc);
	EVP_CIPHER_CTX_free(x->dec);
	free(x);
}

int sd_xts_set_key(struct sd_xts *x, const uint8_t *key, size_t key_len)
{
	const EVP_CIPHER *c;

	if (key_len == 64)
		c = EVP_aes_256_xts();
	else if (key_len == 32)
		c = EVP_aes_128_xts();
	else
		return -EINVAL;
	x->keyed = false;
	if (EVP_CipherInit_ex(x->enc, c, NULL, key, NULL, 1) != 1 ||
	    EVP_CipherInit_ex(x->dec, c, NULL, key, NULL, 0) != 1)
		return ossl_fail("xts key");
	x->keyed = true;
	return 0;
}

static int crypt_sectors(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len,
			 uint32_t sector_size, uint64_t iv, uint64_t iv_step)
{
	uint8_t tweak[16] = { 0 };

	if (sector_size < 16 || len % sector_size)
		return -EINVAL;
	for (size_t off = 0; off < len; off += sector_size, iv += iv_step) {
		int outl;

		for (int i = 0; i < 8; i++)
			tweak[i] = (uint8_t)(iv >> (8 * i));
		if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, tweak, -1) != 1 ||
		    EVP_CipherUpdate(ctx, out + off, &outl, in + off, (int)sector_size) != 1 ||
		    outl != (int)sector_size)
			return ossl_fail("xts sector");
	}
	return 0;
}

int sd_xts_encrypt(struct sd_xts *x, uint8_t *buf, size_t len, uint32_t sector_size,
		   uint64_t iv, uint64_t iv_step)
{
	if (!x->keyed)
		return -ENOKEY;
	return crypt_sectors(x->enc, buf, buf, len, sector_size, iv, iv_step);
}

int sd_xts_decrypt(struct sd_xts *x, uint8_t *buf, size_t len, uint32_t sector_size,
		   uint64_t iv, uint64_t iv_step)
{
	return sd_xts_decrypt_to(x, buf, buf, len, sector_size, iv, iv_step);
}

int sd_xts_decrypt_to(struct sd_xts *x, uint8_t *out, const uint8_t *in, size_t len,
		      uint32_t sector_size, uint64_t iv, uint64_t iv_step)
{
	if (!x->keyed)
		return -ENOKEY;
	return crypt_sectors(x->dec, out, in, len, sector_size, iv, iv_step);
}
