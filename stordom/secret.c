/* SPDX-License-Identifier: MIT */
/*
 * Memory for keys and keyslot secrets: its own anonymous mapping, locked so it
 * is never swapped, left out of core dumps, wiped before it is unmapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stordom.h"

int sd_secret_new(size_t len, struct sd_secret **ret)
{
	long page = sysconf(_SC_PAGESIZE);
	struct sd_secret *s;
	size_t size;

	if (len == 0 || len > (1u << 20) || page <= 0)
		return -EINVAL;
	size = (len + (size_t)page - 1) & ~((size_t)page - 1);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->data == MAP_FAILED) {
		free(s);
		return -ENOMEM;
	}
	s->size = size;
	s->len = len;
	/* Locked or nothing: a key that can reach swap is not held. */
	if (mlock(s->data, size) < 0) {
		int r = -errno;

		munmap(s->data, size);
		free(s);
		return r;
	}
	madvise(s->data, size, MADV_DONTDUMP);
	madvise(s->data, size, MADV_DONTFORK);
	*ret = s;
	return 0;
}

void sd_secret_free(struct sd_secret *s)
{
	if (!s)
		return;
	explicit_bzero(s->data, s->size);
	munlock(s->data, s->size);
	munmap(s->data, s->size);
	free(s);
}

int sd_secret_read_file(const char *path, size_t max, struct sd_secret **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct sd_secret *s = NULL;
	struct stat st;
	size_t off = 0;
	int r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > max)
		return -EINVAL;
	r = sd_secret_new((size_t)st.st_size, &s);
	if (r < 0)
		return r;
	while (off < s->len) {
		ssize_t n = read(fd, s->data + off, s->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sd_secret_free(s);
			return n < 0 ? -errno : -EIO;
		}
		off += (size_t)n;
	}
	*ret = s;
	return 0;
}
