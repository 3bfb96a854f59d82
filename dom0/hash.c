/* SPDX-License-Identifier: MIT */
/*
 * SHA-256, the one place dom0's audit code touches OpenSSL (STYLE.md: one
 * adapter per library). OpenSSL's 0-on-failure is translated to -EIO here.
 */
#include <openssl/evp.h>

#include "dom0.h"

int bh_sha256(const void *data, size_t len, uint8_t ret[BH_SHA256_LEN])
{
	unsigned int outlen = 0;

	if (!EVP_Digest(data, len, ret, &outlen, EVP_sha256(), NULL) || outlen != BH_SHA256_LEN)
		return -EIO;
	return 0;
}

int bh_sha256_hex(const void *data, size_t len, char ret[BH_SHA256_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t md[BH_SHA256_LEN];
	int r = bh_sha256(data, len, md);

	if (r < 0)
		return r;
	for (size_t i = 0; i < BH_SHA256_LEN; i++) {
		ret[2 * i] = hex[md[i] >> 4];
		ret[2 * i + 1] = hex[md[i] & 15];
	}
	ret[BH_SHA256_HEX_LEN] = '\0';
	return 0;
}
