/* SPDX-License-Identifier: MIT */
/*
 * Whole-buffer I/O on file descriptors, unix sockets, and control messages
 * (msg.h) over a stream socket. One copy for every daemon and tool.
 *
 * All functions retry on EINTR, return -errno on failure and never allocate.
 */
#ifndef BULKHEAD_FDIO_H
#define BULKHEAD_FDIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msg.h"

/*
 * Read exactly @len bytes. Returns @len, 0 at end of file before the first
 * byte (a clean close), -EPIPE at end of file after part of the buffer, or
 * another -errno.
 */
ssize_t bh_read_full(int fd, void *buf, size_t len);

/* Write all @len bytes. Returns 0, or -errno (-EPIPE when the peer closed). */
int bh_write_full(int fd, const void *buf, size_t len);

/*
 * A unix socket of @type (SOCK_STREAM, SOCK_SEQPACKET, ...), close-on-exec.
 * bh_unix_listen() replaces a stale socket file at @path and listens with
 * @backlog. Both return the fd or -errno (-ENAMETOOLONG when @path does not
 * fit in sun_path).
 */
int bh_unix_listen(const char *path, int type, int backlog);
int bh_unix_connect(const char *path, int type);

/*
 * Send one control message: the header and @body (@len bytes, within the
 * type's limits) written with one writev where the socket allows.
 * Returns 0 or -errno (-EMSGSIZE, -EOPNOTSUPP from framing).
 */
int bh_msg_write(int fd, uint16_t type, uint8_t flags, uint32_t request_id, const void *body,
		 size_t len);

/*
 * Receive one control message into @body (capacity @cap). The header is
 * checked (msg.h: magic, type, version, length within the type's limits)
 * before the body is read; a body larger than @cap is -EMSGSIZE.
 * Returns 1 with *ret_hdr written, 0 on a clean close before a header,
 * -EPIPE on a close mid-message, or another -errno.
 */
int bh_msg_read(int fd, struct bh_msg_hdr *ret_hdr, void *body, size_t cap);

#endif
