/* SPDX-License-Identifier: MIT */
/*
 * Whole-buffer fd I/O, unix sockets and control messages over a socket.
 * See fdio.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "bulkhead/fdio.h"

ssize_t bh_read_full(int fd, void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, (char *)buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return off ? -EPIPE : 0;
		off += (size_t)n;
	}
	return (ssize_t)len;
}

/* Write every byte the iovecs describe; advances @iov as it goes. */
static int writev_full(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		ssize_t n = writev(fd, iov, iovcnt);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		/* Skip what was written: whole iovecs first, then part of one. */
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int bh_write_full(int fd, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return writev_full(fd, &iov, 1);
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	size_t len = strlen(path);

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, len + 1);
	return 0;
}

int bh_unix_listen(const char *path, int type, int backlog)
{
	struct sockaddr_un sa;
	int fd, r;

	r = unix_addr(path, &sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket file left by a previous run would make bind() fail. */
	if (unlink(path) < 0 && errno != ENOENT)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

int bh_unix_connect(const char *path, int type)
{
	struct sockaddr_un sa;
	int fd, r;

	r = unix_addr(path, &sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int bh_msg_write(int fd, uint16_t type, uint8_t flags, uint32_t request_id, const void *body,
		 size_t len)
{
	struct bh_msg_hdr h = {
		.magic = BH_MSG_MAGIC,
		.version = BH_MSG_VERSION_MIN,
		.flags = flags,
		.type = type,
		.request_id = request_id,
	};
	uint8_t hdr[BH_MSG_HDR_SIZE];
	struct iovec iov[2];
	uint32_t min, max;
	int r;

	r = bh_msg_body_limits(type, &min, &max);
	if (r < 0)
		return r;
	if (len < min || len > max)
		return -EMSGSIZE;
	h.length = (uint32_t)len;
	bh_msg_hdr_encode(&h, hdr);
	/* Header and body in one writev: no copy, and usually one syscall. */
	iov[0] = (struct iovec){ hdr, sizeof(hdr) };
	iov[1] = (struct iovec){ (void *)body, len };
	return writev_full(fd, iov, len ? 2 : 1);
}

int bh_msg_read(int fd, struct bh_msg_hdr *ret_hdr, void *body, size_t cap)
{
	uint8_t untrusted_hdr[BH_MSG_HDR_SIZE];
	struct bh_msg_hdr h;
	ssize_t n;
	int r;

	n = bh_read_full(fd, untrusted_hdr, sizeof(untrusted_hdr));
	if (n <= 0)
		return (int)n;
	r = bh_msg_hdr_decode(untrusted_hdr, &h);
	if (r < 0)
		return r;
	if (h.length > cap)
		return -EMSGSIZE;
	if (h.length) {
		n = bh_read_full(fd, body, h.length);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return (int)n;
	}
	*ret_hdr = h;
	return 1;
}
