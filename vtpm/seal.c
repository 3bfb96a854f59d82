/* SPDX-License-Identifier: MIT */
/*
 * The OpenSSL adapter of vtpm: the manager key and AES-256-GCM sealing of
 * instance state (layout in vtpm.h). OpenSSL's 0/NULL failures become -EIO
 * here, an authentication failure -EKEYREJECTED. Never logs: the caller
 * logs once, and never the key or the state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "bulkhead/cursor.h"
#include "vtpm.h"

static const uint8_t seal_magic[8] = { 'B', 'H', 'V', 'T', 'P', 'M', 'S', 0 };
#define SEAL_VERSION 1u
#define NONCE_LEN 12

int vt_crypto_preload(void)
{
	uint8_t b[16];
	int ok;

	/*
	 * OpenSSL reads its config file and seeds its DRBG on first use; a
	 * sandboxed worker cannot open files, so do both before the sandbox.
	 */
	ok = OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_ADD_ALL_CIPHERS |
					 OPENSSL_INIT_ADD_ALL_DIGESTS, NULL) == 1 &&
	     RAND_bytes(b, sizeof(b)) == 1 && RAND_priv_bytes(b, sizeof(b)) == 1;
	explicit_bzero(b, sizeof(b));
	return ok ? 0 : -EIO;
}

int vt_crypto_after_fork(void)
{
	/* OpenSSL 3 also notices the fork by itself; reseeding here does not rely on it. */
	return RAND_poll() == 1 ? 0 : -EIO;
}

static struct vt_key *key_alloc(void)
{
	void *p = mmap(NULL, sizeof(struct vt_key), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Never swapped, never in a core dump; wiped by vt_key_free(). */
	if (mlock(p, sizeof(struct vt_key)) < 0 ||
	    madvise(p, sizeof(struct vt_key), MADV_DONTDUMP) < 0) {
		munmap(p, sizeof(struct vt_key));
		return NULL;
	}
	return p;
}

void vt_key_free(struct vt_key *k)
{
	if (!k)
		return;
	explicit_bzero(k, sizeof(*k));
	munmap(k, sizeof(*k));
}

static int read_key(int fd, struct vt_key *k)
{
	struct stat st;
	size_t off = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid())
		return -EPERM;
	if (st.st_size != VT_KEY_LEN)
		return -EBADMSG;
	while (off < VT_KEY_LEN) {
		ssize_t n = read(fd, k->k + off, VT_KEY_LEN - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EBADMSG;
		off += (size_t)n;
	}
	return 0;
}

int vt_key_load(const char *path, struct vt_key **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct vt_key *k;
	int r;

	if (fd < 0)
		return -errno;
	k = key_alloc();
	if (!k)
		return -ENOMEM;
	r = read_key(fd, k);
	if (r < 0) {
		vt_key_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

int vt_key_generate(const char *path)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	uint8_t k[VT_KEY_LEN];
	int r = 0;

	if (fd < 0)
		return -errno;
	if (RAND_priv_bytes(k, sizeof(k)) != 1)
		r = -EIO;
	else if (write(fd, k, sizeof(k)) != (ssize_t)sizeof(k) || fsync(fd) < 0)
		r = -EIO;
	explicit_bzero(k, sizeof(k));
	if (r < 0)
		unlink(path);
	return r;
}

/* One GCM pass; @enc selects direction. The tag is read (decrypt) or written. */
static int gcm(const struct vt_key *k, bool enc, const uint8_t *nonce, const uint8_t *hdr,
	       const char *name, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	if (!c)
		return -ENOMEM;
	ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, k->k, nonce, enc) == 1 &&
	     EVP_CipherUpdate(c, NULL, &n, hdr, VT_SEAL_HDR) == 1 &&
	     EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)name, (int)strlen(name)) == 1 &&
	     (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, VT_SEAL_TAG, tag) == 1;
	if (ok && EVP_CipherFinal_ex(c, out + len, &n) != 1) {
		EVP_CIPHER_CTX_free(c);
		return enc ? -EIO : -EKEYREJECTED;
	}
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, VT_SEAL_TAG, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -EIO;
}

static void put_header(uint8_t *hdr, uint64_t gen, const uint8_t *nonce, uint32_t len)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, hdr, VT_SEAL_HDR);
	bh_wcursor_bytes(&w, seal_magic, sizeof(seal_magic));
	bh_wcursor_u32(&w, SEAL_VERSION);
	bh_wcursor_u64(&w, gen);
	bh_wcursor_bytes(&w, nonce, NONCE_LEN);
	bh_wcursor_u32(&w, len);
}

int vt_seal(const struct vt_key *k, const char *name, uint64_t gen, const uint8_t *pt,
	    size_t len, uint8_t **ret, size_t *ret_len)
{
	uint8_t nonce[NONCE_LEN];
	size_t total = VT_SEAL_HDR + len + VT_SEAL_TAG;
	uint8_t *out;
	int r;

	if (len > VT_STATE_MAX)
		return -EFBIG;
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -EIO;
	out = malloc(total);
	if (!out)
		return -ENOMEM;
	put_header(out, gen, nonce, (uint32_t)len);
	r = gcm(k, true, nonce, out, name, pt, len, out + VT_SEAL_HDR, out + VT_SEAL_HDR + len);
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_len = total;
	return 0;
}

int vt_unseal(const struct vt_key *k, const char *name, const uint8_t *untrusted_in, size_t len,
	      uint64_t *ret_gen, uint8_t **ret_pt, size_t *ret_len)
{
	uint8_t magic[8], nonce[NONCE_LEN], tag[VT_SEAL_TAG];
	uint32_t version = 0, ptlen = 0;
	uint64_t gen = 0;
	struct bh_cursor c;
	uint8_t *pt;
	int r;

	bh_cursor_init(&c, untrusted_in, len);
	bh_cursor_bytes(&c, magic, sizeof(magic));
	bh_cursor_u32(&c, &version);
	bh_cursor_u64(&c, &gen);
	bh_cursor_bytes(&c, nonce, sizeof(nonce));
	bh_cursor_u32(&c, &ptlen);
	if (c.err || memcmp(magic, seal_magic, sizeof(magic)) || version != SEAL_VERSION ||
	    ptlen > VT_STATE_MAX || bh_cursor_remaining(&c) != (size_t)ptlen + VT_SEAL_TAG)
		return -EBADMSG;
	memcpy(tag, untrusted_in + VT_SEAL_HDR + ptlen, VT_SEAL_TAG);
	pt = malloc(ptlen ? ptlen : 1);
	if (!pt)
		return -ENOMEM;
	r = gcm(k, false, nonce, untrusted_in, name, untrusted_in + VT_SEAL_HDR, ptlen, pt, tag);
	if (r < 0) {
		explicit_bzero(pt, ptlen);
		free(pt);
		return r;
	}
	*ret_gen = gen;
	*ret_pt = pt;
	*ret_len = ptlen;
	return 0;
}
