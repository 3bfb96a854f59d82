/* SPDX-License-Identifier: MIT */
/*
 * LUKS volumes through libcryptsetup, the only file that includes it: format
 * (LUKS2), open (LUKS1 and LUKS2), grow, crypto-erase. The data path never
 * goes through libcryptsetup or device-mapper: stordom only takes the volume
 * key, the cipher and the geometry from the header, and xts.c does the rest.
 *
 * libcryptsetup returns negative errno values already; they pass through.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "bulkhead/log.h"
#include "stordom.h"

#define LUKS2_HEADER_DEFAULT (16u << 20)
#define TEST_PBKDF2_ITERATIONS 1000 /* libcryptsetup's minimum */

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t next_key_id = 1;

/* libcryptsetup's messages are not ours to print at error level: callers log once. */
static void cs_log(int level, const char *msg, void *arg)
{
	(void)arg;
	(void)level;
	bh_debug("libcryptsetup: %.*s", (int)strcspn(msg, "\n"), msg);
}

static void cs_log_init(void)
{
	crypt_set_log_callback(NULL, cs_log, NULL);
}

static void crypt_freep(struct crypt_device **cd)
{
	crypt_free(*cd);
}
#define _cleanup_crypt_ _cleanup_(crypt_freep)

static int backing_size(int fd, bool *ret_blockdev, uint64_t *ret)
{
	struct stat st;
	uint64_t size;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			return -errno;
		*ret_blockdev = true;
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
		*ret_blockdev = false;
	} else {
		return -ENOTBLK;
	}
	*ret = size;
	return 0;
}

static int load(const char *path, struct crypt_device **ret)
{
	struct crypt_device *cd = NULL;
	int r;

	pthread_once(&log_once, cs_log_init);
	r = crypt_init(&cd, path);
	if (r < 0)
		return r;
	r = crypt_load(cd, CRYPT_LUKS, NULL);
	if (r < 0) {
		crypt_free(cd);
		return r;
	}
	*ret = cd;
	return 0;
}

/* Only what xts.c implements: aes-xts-plain64 (or -plain), no integrity, no pending reencryption. */
static int check_header(struct crypt_device *cd, struct sd_volume *v)
{
	const char *cipher = crypt_get_cipher(cd), *mode = crypt_get_cipher_mode(cd);
	const char *type = crypt_get_type(cd);
	struct crypt_params_integrity ip = { 0 };
	uint32_t req = 0;

	if (!cipher || !mode || !type || strcmp(cipher, "aes") ||
	    (strcmp(mode, "xts-plain64") && strcmp(mode, "xts-plain")))
		return -EOPNOTSUPP;
	/* An authenticated (dm-integrity) volume has tags per sector: not this data path. */
	if (crypt_get_integrity_info(cd, &ip) == 0 && (ip.tag_size || ip.integrity))
		return -EOPNOTSUPP;
	if (bh_streq(type, CRYPT_LUKS2) &&
	    (crypt_persistent_flags_get(cd, CRYPT_FLAGS_REQUIREMENTS, &req) < 0 || req))
		return -EOPNOTSUPP;
	v->luks_version = bh_streq(type, CRYPT_LUKS1) ? 1 : bh_streq(type, CRYPT_LUKS2) ? 2 : 0;
	if (!v->luks_version)
		return -EOPNOTSUPP;
	snprintf(v->cipher, sizeof(v->cipher), "%s-%s", cipher, mode);
	return 0;
}

/*
 * Geometry as dm-crypt would use it. LUKS2 with sectors larger than 512
 * bytes counts IVs in sectors (cryptsetup always activates it with
 * iv_large_sectors); LUKS1 has 512-byte sectors, where both counts agree.
 */
static int geometry(struct crypt_device *cd, struct sd_volume *v)
{
	int ss = crypt_get_sector_size(cd);
	uint64_t total;
	int r;

	if (ss < 512 || ss > 4096 || (ss & (ss - 1)))
		return -EOPNOTSUPP;
	v->sector_size = (uint32_t)ss;
	v->data_offset = crypt_get_data_offset(cd) * 512;
	v->iv_step = 1;
	v->iv_offset = crypt_get_iv_offset(cd) / ((uint64_t)ss / 512);
	r = backing_size(v->fd, &v->is_blockdev, &total);
	if (r < 0)
		return r;
	if (total <= v->data_offset)
		return -ENOSPC;
	v->size = (total - v->data_offset) / v->sector_size * v->sector_size;
	return 0;
}

static int get_key(struct crypt_device *cd, const struct sd_secret *pass, struct sd_volume *v)
{
	int n = crypt_get_volume_key_size(cd);
	size_t len = (size_t)n;
	int r;

	if (n != 32 && n != 64)
		return -EOPNOTSUPP;
	r = sd_secret_new(len, &v->key);
	if (r == 0)
		r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *)v->key->data, &len,
					 (const char *)pass->data, pass->len);
	if (r < 0)
		return r;
	if (len != (size_t)n)
		return -EIO;
	v->key_id = atomic_fetch_add(&next_key_id, 1);
	return 0;
}

int sd_volume_open(const char *path, const char *keyfile, bool readonly, struct sd_volume **ret)
{
	struct sd_secret *pass = NULL;
	int r = sd_secret_read_file(keyfile, SD_KEYFILE_MAX, &pass);

	if (r < 0)
		return r;
	r = sd_volume_open_secret(path, pass, readonly, ret);
	sd_secret_free(pass);
	return r;
}

int sd_volume_open_secret(const char *path, const struct sd_secret *pass, bool readonly,
			  struct sd_volume **ret)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	struct sd_volume *v;
	int r = load(path, &cd);

	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->readonly = readonly;
	pthread_mutex_init(&v->write_lock, NULL);
	v->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
	r = v->fd < 0 ? -errno : 0;
	if (r == 0)
		r = check_header(cd, v);
	if (r == 0)
		r = geometry(cd, v);
	if (r == 0)
		r = get_key(cd, pass, v);
	if (r < 0) {
		sd_volume_close(v);
		return r;
	}
	if (sd_view_open(v) < 0) /* an optimisation: reads fall back to pread */
		bh_debug("%s: no read view, reads use pread", path);
	*ret = v;
	return 0;
}

void sd_volume_close(struct sd_volume *v)
{
	if (!v)
		return;
	sd_secret_free(v->key);
	sd_view_close(v);
	if (v->fd >= 0)
		close(v->fd);
	pthread_mutex_destroy(&v->write_lock);
	free(v);
}

/* A file is sized to hold the header and the data; a block device must already. */
static int prepare_backing(const char *path, uint64_t want)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	uint64_t have;
	bool blk;
	int r;

	if (fd < 0)
		return -errno;
	r = backing_size(fd, &blk, &have);
	if (r < 0)
		return r;
	if (have >= want)
		return 0;
	if (blk)
		return -ENOSPC;
	return ftruncate(fd, (off_t)want) < 0 ? -errno : 0;
}

static int set_test_kdf(struct crypt_device *cd)
{
	const struct crypt_pbkdf_type kdf = {
		.type = CRYPT_KDF_PBKDF2,
		.hash = "sha256",
		.iterations = TEST_PBKDF2_ITERATIONS,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};

	return crypt_set_pbkdf_type(cd, &kdf);
}

static int format(const char *path, const struct sd_secret *pass,
		  const struct sd_volume_params *p, uint64_t *ret_data_offset)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	struct crypt_params_luks2 params = { .sector_size = SD_SECTOR_SIZE };
	int r;

	pthread_once(&log_once, cs_log_init);
	r = crypt_init(&cd, path);
	if (r == 0 && p->test_kdf)
		r = set_test_kdf(cd);
	if (r == 0)
		r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL,
				 SD_VOLUME_KEY_BITS / 8, &params);
	if (r == 0)
		r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 0,
						    (const char *)pass->data, pass->len);
	if (r < 0)
		return r;
	*ret_data_offset = crypt_get_data_offset(cd) * 512;
	return 0;
}

int sd_volume_create(const char *path, const char *keyfile, const struct sd_volume_params *p,
		     struct sd_volume **ret)
{
	struct sd_secret *pass = NULL;
	int r = sd_secret_read_file(keyfile, SD_KEYFILE_MAX, &pass);

	if (r < 0)
		return r;
	r = sd_volume_create_secret(path, pass, p, ret);
	sd_secret_free(pass);
	return r;
}

int sd_volume_create_secret(const char *path, const struct sd_secret *pass,
			    const struct sd_volume_params *p, struct sd_volume **ret)
{
	uint64_t data_offset = 0;
	int r;

	if (!p->size || p->size % SD_SECTOR_SIZE || p->size > BH_VOLUME_SIZE_MAX)
		return -EINVAL;
	r = prepare_backing(path, LUKS2_HEADER_DEFAULT + p->size);
	if (r == 0)
		r = format(path, pass, p, &data_offset);
	/* The header may be smaller than the default: size the file to exactly header + data. */
	if (r == 0 && data_offset != LUKS2_HEADER_DEFAULT) {
		_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
		struct stat st;

		if (fd < 0 || fstat(fd, &st) < 0)
			r = -errno;
		else if (S_ISREG(st.st_mode) && ftruncate(fd, (off_t)(data_offset + p->size)) < 0)
			r = -errno;
	}
	if (r < 0)
		return r;
	return sd_volume_open_secret(path, pass, p->readonly, ret);
}

int sd_volume_grow(struct sd_volume *v, uint64_t new_size)
{
	uint64_t total;
	bool blk;
	int r;

	if (v->readonly)
		return -EROFS;
	if (new_size % v->sector_size || new_size > BH_VOLUME_SIZE_MAX)
		return -EINVAL;
	if (new_size < v->size)
		return -EINVAL; /* shrinking would cut a guest's data: not here */
	r = backing_size(v->fd, &blk, &total);
	if (r < 0)
		return r;
	if (total < v->data_offset + new_size) {
		if (blk)
			return -ENOSPC;
		if (ftruncate(v->fd, (off_t)(v->data_offset + new_size)) < 0)
			return -errno;
	}
	v->size = new_size;
	return 0;
}

static int destroy_keyslots(struct crypt_device *cd)
{
	int max = crypt_keyslot_max(crypt_get_type(cd));

	if (max <= 0)
		return -EINVAL;
	for (int i = 0; i < max; i++) {
		crypt_keyslot_info st = crypt_keyslot_status(cd, i);
		int r;

		if (st != CRYPT_SLOT_ACTIVE && st != CRYPT_SLOT_ACTIVE_LAST)
			continue;
		r = crypt_keyslot_destroy(cd, i);
		if (r < 0)
			return r;
	}
	return 0;
}

static int zero_range(int fd, uint64_t len)
{
	static const uint8_t zeros[64 << 10];

	for (uint64_t off = 0; off < len;) {
		size_t n = len - off < sizeof(zeros) ? (size_t)(len - off) : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += (uint64_t)w;
	}
	return fdatasync(fd) < 0 ? -errno : 0;
}

int sd_volume_erase(const char *path)
{
	_cleanup_crypt_ struct crypt_device *cd = NULL;
	_cleanup_close_ int fd = -1;
	uint64_t header;
	int r = load(path, &cd);

	if (r < 0)
		return r;
	header = crypt_get_data_offset(cd) * 512;
	r = destroy_keyslots(cd);
	if (r < 0)
		return r;
	crypt_free(TAKE_PTR(cd));
	if (header == 0)
		return -EINVAL; /* detached header: nothing of ours to wipe here */
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	return zero_range(fd, header);
}

uint64_t sd_volume_iv(const struct sd_volume *v, uint64_t offset)
{
	return v->iv_offset + offset / v->sector_size * v->iv_step;
}
