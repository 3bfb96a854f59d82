/* SPDX-License-Identifier: MIT */
/*
 * Instance files: sealed state and the manager's generation record, both
 * written atomically (temp file, fsync, rename, fsync of the directory). The
 * record follows the state: the manager acknowledges a store once the state
 * is durable and brings the record up to date when it is idle or the
 * instance stops (vt_store_record), so the guest waits for two fsyncs per
 * state change, not four.
 * Only the manager runs this code; workers cannot open files at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/parse.h"
#include "vtpm.h"

#define STATE_FILE "state"
#define GEN_FILE "generation"

static int write_all(int fd, const void *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, (const uint8_t *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

int vt_write_atomic(int dirfd, const char *file, const void *data, size_t len)
{
	char tmp[128];
	_cleanup_close_ int fd = -1;
	int r;

	if (snprintf(tmp, sizeof(tmp), ".%s.tmp", file) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, file) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	/* The rename is durable only once the directory is. */
	return fsync(dirfd) < 0 ? -errno : 0;
}

int vt_read_file(int dirfd, const char *file, size_t max, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;
	size_t off = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (size_t)n;
	}
	buf[off] = 0;
	*ret = TAKE_PTR(buf);
	*ret_len = off;
	return 0;
}

static int write_gen(int dirfd, uint64_t gen)
{
	char s[32];
	int n = snprintf(s, sizeof(s), "%llu\n", (unsigned long long)gen);

	return vt_write_atomic(dirfd, GEN_FILE, s, (size_t)n);
}

static int read_gen(int dirfd, uint64_t *ret)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	int r = vt_read_file(dirfd, GEN_FILE, 31, &buf, &len);

	if (r < 0)
		return r;
	if (len < 2 || buf[len - 1] != '\n')
		return -EBADMSG;
	buf[len - 1] = 0;
	return bh_parse_u64((const char *)buf, 0, UINT64_MAX - 1, ret) < 0 ? -EBADMSG : 0;
}

int vt_store_create(int statedirfd, const char *name)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (bh_check_name(name) < 0)
		return -EINVAL;
	if (mkdirat(statedirfd, name, 0700) < 0)
		return -errno;
	fd = openat(statedirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write_gen(fd, 0);
	if (r == 0 && fsync(statedirfd) < 0)
		r = -errno;
	return r;
}

int vt_store_open(int statedirfd, const char *name, struct vt_store *ret)
{
	struct vt_store s = { .dirfd = -1 };
	int r;

	if (bh_check_name(name) < 0)
		return -EINVAL;
	snprintf(s.name, sizeof(s.name), "%s", name);
	s.dirfd = openat(statedirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (s.dirfd < 0)
		return -errno;
	r = read_gen(s.dirfd, &s.generation);
	s.record = s.generation;
	if (r < 0) {
		close(s.dirfd);
		return r;
	}
	*ret = s;
	return 0;
}

void vt_store_close(struct vt_store *s)
{
	if (s->dirfd >= 0)
		close(s->dirfd);
	s->dirfd = -1;
}

int vt_store_load(struct vt_store *s, const struct vt_key *k, uint8_t **ret_pt, size_t *ret_len)
{
	_cleanup_free_ uint8_t *file = NULL;
	uint8_t *pt = NULL;
	size_t len = 0, ptlen = 0;
	uint64_t gen = 0;
	int r = vt_read_file(s->dirfd, STATE_FILE, VT_STATE_MAX + VT_SEAL_HDR + VT_SEAL_TAG,
			     &file, &len);

	if (r == -ENOENT) {
		/* A new instance has no state; one that had state and lost it is rolled back. */
		if (s->generation != 0)
			return -ESTALE;
		*ret_pt = NULL;
		*ret_len = 0;
		return 0;
	}
	if (r < 0)
		return r;
	r = vt_unseal(k, s->name, file, len, &gen, &pt, &ptlen);
	if (r < 0)
		return r;
	if (gen < s->record || gen > s->record + VT_RECORD_LAG_MAX ||
	    (gen != s->record && (r = write_gen(s->dirfd, gen)) < 0)) {
		explicit_bzero(pt, ptlen);
		free(pt);
		return r < 0 ? r : -ESTALE;
	}
	s->generation = s->record = gen;
	*ret_pt = pt;
	*ret_len = ptlen;
	return 0;
}

int vt_store_record(struct vt_store *s)
{
	int r;

	if (s->record == s->generation)
		return 0;
	r = write_gen(s->dirfd, s->generation);
	if (r == 0)
		s->record = s->generation;
	return r;
}

int vt_store_save(struct vt_store *s, const struct vt_key *k, const uint8_t *pt, size_t len)
{
	_cleanup_free_ uint8_t *sealed = NULL;
	size_t slen = 0;
	uint64_t gen = s->generation + 1;
	int r = 0;

	/* Never let the state run further ahead of the record than load accepts. */
	if (gen - s->record > VT_RECORD_LAG_MAX)
		r = vt_store_record(s);
	if (r == 0)
		r = vt_seal(k, s->name, gen, pt, len, &sealed, &slen);
	if (r < 0)
		return r;
	r = vt_write_atomic(s->dirfd, STATE_FILE, sealed, slen);
	if (r < 0)
		return r;
	/* Until vt_store_record(): record < state <= record + LAG_MAX, which load accepts. */
	s->generation = gen;
	return 0;
}

int vt_store_delete(int statedirfd, const char *name)
{
	static const char *const files[] = { STATE_FILE, GEN_FILE, "." STATE_FILE ".tmp",
					     "." GEN_FILE ".tmp", "tpm.sock", "tpm.sock.ctrl",
					     "tpm.chan" };
	_cleanup_close_ int fd = -1;

	if (bh_check_name(name) < 0)
		return -EINVAL;
	fd = openat(statedirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < BH_ARRAY_SIZE(files); i++)
		(void)unlinkat(fd, files[i], 0); /* most are absent */
	if (unlinkat(statedirfd, name, AT_REMOVEDIR) < 0)
		return -errno;
	return fsync(statedirfd) < 0 ? -errno : 0;
}
