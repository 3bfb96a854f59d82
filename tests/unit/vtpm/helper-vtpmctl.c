/* SPDX-License-Identifier: MIT */
/*
 * Test and bench tool standing in for dom0's side of the vtpm protocol:
 * sends VTPM_CREATE/START/STOP/DELETE requests to a vtpmd control socket and
 * prints each VTPM_RESULT.
 *
 *   helper-vtpmctl SOCKET OP NAME [OP NAME]...   OP: create start stop delete reset
 *                                               reseal (NAME: GUEST:VOLUME)
 *
 * Prints "OP NAME: status=S text" per request; exits 1 if any failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bulkhead/msg.h"

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(path);
		exit(2);
	}
	return fd;
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, (uint8_t *)buf + off, len - off);

		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int op_type(const char *op)
{
	static const char *const ops[] = { "create", "start", "stop", "delete" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(op, ops[i]))
			return BH_MSG_VTPM_CREATE + i;
	if (!strcmp(op, "reset"))
		return BH_MSG_VTPM_RESET;
	if (!strcmp(op, "reseal"))
		return BH_MSG_VTPM_RESEAL;
	fprintf(stderr, "unknown op '%s'\n", op);
	exit(2);
}

static int request(int fd, uint32_t id, const char *op, const char *name)
{
	struct bh_msg_vtpm_ref ref = { { 0 } };
	struct bh_msg_vtpm_result res;
	uint8_t body[256], frame[512], rbody[1024];
	struct bh_msg_hdr h;
	long n;

	snprintf(ref.name, sizeof(ref.name), "%s", name);
	if (!strcmp(op, "reseal")) {
		/* reseal GUEST:VOLUME */
		struct bh_msg_unseal u = { .flags = 0 };
		const char *colon = strchr(name, ':');

		if (!colon)
			return fprintf(stderr, "reseal GUEST:VOLUME\n"), -1;
		snprintf(u.guest, sizeof(u.guest), "%.*s", (int)(colon - name), name);
		snprintf(u.volume, sizeof(u.volume), "%s", colon + 1);
		n = bh_msg_unseal_encode(&u, body, sizeof(body));
	} else {
		n = bh_msg_vtpm_ref_encode(&ref, body, sizeof(body));
	}
	n = n < 0 ? n : bh_msg_frame((uint16_t)op_type(op), 0, id, 1, body, (size_t)n, frame,
				       sizeof(frame));
	if (n < 0 || write(fd, frame, (size_t)n) != n) {
		fprintf(stderr, "%s %s: cannot send\n", op, name);
		return -1;
	}
	if (read_full(fd, frame, BH_MSG_HDR_SIZE) < 0 || bh_msg_hdr_decode(frame, &h) < 0 ||
	    h.type != BH_MSG_VTPM_RESULT || h.request_id != id || h.length > sizeof(rbody) ||
	    read_full(fd, rbody, h.length) < 0 ||
	    bh_msg_vtpm_result_decode(rbody, h.length, &res) < 0) {
		fprintf(stderr, "%s %s: no valid reply\n", op, name);
		return -1;
	}
	printf("%s %s: status=%d %s\n", op, name, res.status, res.text);
	return res.status;
}

int main(int argc, char **argv)
{
	int fd, rc = 0;

	if (argc < 4 || (argc - 2) % 2) {
		fprintf(stderr, "usage: helper-vtpmctl SOCKET OP NAME [OP NAME]...\n");
		return 2;
	}
	fd = connect_to(argv[1]);
	for (int i = 2; i + 1 < argc; i += 2)
		if (request(fd, (uint32_t)i, argv[i], argv[i + 1]) != 0)
			rc = 1;
	close(fd);
	return rc;
}
