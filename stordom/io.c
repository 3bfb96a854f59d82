/* SPDX-License-Identifier: MIT */
/*
 * Execute one checked NBD request on a volume: ciphertext on the backing
 * store, plaintext only in the request buffer. pread/pwrite with explicit
 * offsets, so any number of workers share the one fd without a lock.
 *
 * Durability: a WRITE or WRITE_ZEROES with FUA, and every FLUSH, returns only
 * after fdatasync(2) on the backing store, so what was acknowledged survives
 * a crash of stordomd (and of the host, as far as the disk keeps its word).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "stordom.h"

static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) /* the backing file shrank under us */
			return -EIO;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Key the worker's context for @v unless it already holds that volume's key. */
static int ensure_key(const struct sd_volume *v, struct sd_xts *x, uint64_t *keyed)
{
	int r;

	if (*keyed == v->key_id)
		return 0;
	r = sd_xts_set_key(x, v->key->data, v->key->len);
	*keyed = r == 0 ? v->key_id : 0;
	return r;
}

static int do_read(const struct sd_volume *v, struct sd_xts *x, uint64_t off, uint32_t len,
		   uint8_t *buf)
{
	int r = sd_view_read(v, x, off, len, buf);

	if (r != -EAGAIN)
		return r;
	r = pread_full(v->fd, buf, len, v->data_offset + off);
	if (r < 0)
		return r;
	return sd_xts_decrypt(x, buf, len, v->sector_size, sd_volume_iv(v, off), v->iv_step);
}

/* Store @len bytes of ciphertext at data offset @off. */
static int store(struct sd_volume *v, uint64_t off, uint32_t len, const uint8_t *buf)
{
	int r;

	pthread_mutex_lock(&v->write_lock);
	r = pwrite_full(v->fd, buf, len, v->data_offset + off);
	pthread_mutex_unlock(&v->write_lock);
	return r;
}

static int do_write(struct sd_volume *v, struct sd_xts *x, uint64_t off, uint32_t len,
		    uint8_t *buf)
{
	int r = sd_xts_encrypt(x, buf, len, v->sector_size, sd_volume_iv(v, off), v->iv_step);

	return r < 0 ? r : store(v, off, len, buf);
}

/* Zeroes must read back as zeroes: encrypt them like any data, a chunk at a time. */
static int do_write_zeroes(struct sd_volume *v, struct sd_xts *x, uint64_t off,
			   uint32_t len, uint8_t *buf)
{
	while (len) {
		uint32_t n = len < SD_IO_CHUNK ? len : SD_IO_CHUNK;
		int r;

		memset(buf, 0, n);
		r = do_write(v, x, off, n, buf);
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * TRIM is advisory. Only with discard enabled for the volume is it passed to
 * the backing file as a hole (which tells dom0 which areas are unused, as
 * dm-crypt's allow_discards does); otherwise it is acknowledged and the
 * ciphertext stays.
 */
static int do_trim(const struct sd_volume *v, bool discard, uint64_t off, uint32_t len)
{
	if (!discard || v->is_blockdev)
		return 0;
	if (fallocate(v->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(v->data_offset + off), (off_t)len) < 0)
		return errno == EOPNOTSUPP ? 0 : -errno;
	return 0;
}

static int sync_data(const struct sd_volume *v)
{
	return fdatasync(v->fd) < 0 ? -errno : 0;
}

static int fua(const struct sd_volume *v, const struct sd_nbd_req *r)
{
	return r->flags & SD_NBD_CMD_FLAG_FUA ? sync_data(v) : 0;
}

static int execute(struct sd_volume *v, bool discard, struct sd_xts *x,
		   const struct sd_nbd_req *r, uint8_t *buf)
{
	int ret;

	switch (r->type) {
	case SD_NBD_CMD_READ:
		return do_read(v, x, r->offset, r->len, buf);
	case SD_NBD_CMD_WRITE:
		ret = do_write(v, x, r->offset, r->len, buf);
		break;
	case SD_NBD_CMD_WRITE_ZEROES:
		ret = do_write_zeroes(v, x, r->offset, r->len, buf);
		break;
	case SD_NBD_CMD_TRIM:
		ret = do_trim(v, discard, r->offset, r->len);
		break;
	case SD_NBD_CMD_FLUSH:
		return sync_data(v);
	default:
		return -EINVAL;
	}
	return ret == 0 ? fua(v, r) : ret;
}

int sd_io_execute(struct sd_volume *v, bool discard, struct sd_xts *x, uint64_t *keyed,
		  const struct sd_nbd_req *r, uint8_t *buf)
{
	int ret;

	if (r->error)
		return r->error;
	ret = ensure_key(v, x, keyed);
	if (ret == 0)
		ret = execute(v, discard, x, r, buf);
	return sd_nbd_errno(ret);
}

int sd_io_seal(const struct sd_volume *v, struct sd_xts *x, uint64_t *keyed,
	       const struct sd_nbd_req *r, uint8_t *buf, uint32_t from, uint32_t to)
{
	int ret;

	if (r->error)
		return r->error;
	if (r->type != SD_NBD_CMD_WRITE || from > to || to > r->len || from % v->sector_size)
		return SD_NBD_EINVAL;
	ret = ensure_key(v, x, keyed);
	if (ret == 0)
		ret = sd_xts_encrypt(x, buf + from, to - from, v->sector_size,
				     sd_volume_iv(v, r->offset + from), v->iv_step);
	return sd_nbd_errno(ret);
}

int sd_io_store(struct sd_volume *v, const struct sd_nbd_req *r, const uint8_t *buf,
		uint32_t from, uint32_t to)
{
	if (r->error)
		return r->error;
	if (r->type != SD_NBD_CMD_WRITE || from > to || to > r->len)
		return SD_NBD_EINVAL;
	return sd_nbd_errno(store(v, r->offset + from, to - from, buf + from));
}

int sd_io_write_finish(const struct sd_volume *v, const struct sd_nbd_req *r)
{
	if (r->error)
		return r->error;
	return sd_nbd_errno(fua(v, r));
}

size_t sd_io_bufsize(const struct sd_nbd_req *r)
{
	if (r->error)
		return 0;
	switch (r->type) {
	case SD_NBD_CMD_READ:
	case SD_NBD_CMD_WRITE:
		return r->len;
	case SD_NBD_CMD_WRITE_ZEROES:
		return r->len < SD_IO_CHUNK ? r->len : SD_IO_CHUNK;
	default:
		return 0;
	}
}
