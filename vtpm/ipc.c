/* SPDX-License-Identifier: MIT */
/*
 * Manager <-> worker messages: one bulkhead control message per
 * SOCK_SEQPACKET packet, so a packet is a message and its length is checked
 * exactly against the header (bh_msg_parse) even though the peer is our own
 * child: the worker parses guest input and may be compromised.
 *
 *   manager -> worker: STATE_LOAD (state, empty for a new TPM), then
 *                      VTPM_START (instance name; its three listening sockets
 *                      as SCM_RIGHTS); RESULT for each STATE_STORE
 *   worker -> manager: STATE_STORE (new state), RESULT (ready, or why not)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "bulkhead/msg.h"
#include "vtpm.h"

int vt_ipc_send_msg(int fd, uint16_t type, uint8_t flags, uint32_t req, const void *body,
		    size_t len)
{
	_cleanup_free_ uint8_t *buf = malloc(BH_MSG_HDR_SIZE + len);
	size_t off = 0;
	long n;

	if (!buf)
		return -ENOMEM;
	n = bh_msg_frame(type, flags, req, 1, body, len, buf, BH_MSG_HDR_SIZE + len);
	if (n < 0)
		return (int)n;
	/* One send on a SOCK_SEQPACKET; a stream socket (control) may take several. */
	while (off < (size_t)n) {
		ssize_t w = send(fd, buf + off, (size_t)n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += (size_t)w;
	}
	return 0;
}

int vt_ipc_send_fds(int fd, uint16_t type, const void *body, size_t len, const int *fds,
		    int nfds)
{
	uint8_t buf[BH_MSG_HDR_SIZE + 256];
	long n = bh_msg_frame(type, 0, 0, 1, body, len, buf, sizeof(buf));

	return n < 0 ? (int)n : vt_send_fds(fd, buf, (size_t)n, fds, nfds);
}

int vt_ipc_send(int fd, uint16_t type, const void *body, size_t len)
{
	return vt_ipc_send_msg(fd, type, 0, 0, body, len);
}

int vt_ipc_recv(int fd, uint8_t *buf, size_t cap, struct bh_msg_hdr *ret_hdr,
		const uint8_t **ret_body)
{
	ssize_t n;

	do {
		n = recv(fd, buf, cap, MSG_TRUNC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	if ((size_t)n > cap)
		return -EMSGSIZE; /* MSG_TRUNC: the real length, larger than any valid message */
	return bh_msg_parse(buf, (size_t)n, ret_hdr, ret_body);
}

int vt_ipc_result(int fd, uint32_t req, int status, const char *name, const char *fmt, ...)
{
	struct bh_msg_vtpm_result m = { .status = status };
	uint8_t body[512];
	va_list ap;
	long n;

	snprintf(m.name, sizeof(m.name), "%s", name ? name : "");
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	n = bh_msg_vtpm_result_encode(&m, body, sizeof(body));
	if (n < 0)
		return (int)n;
	return vt_ipc_send_msg(fd, BH_MSG_VTPM_RESULT, req ? BH_MSGF_REPLY : 0, req, body,
			       (size_t)n);
}
