/* SPDX-License-Identifier: MIT */
/*
 * Test and bench tool standing in for dom0's side of the stordom protocol:
 * sends one VOLUME_* message to a stordomd control socket (or appends it to a
 * file for `stordomd --volumes`) and prints the VOLUME_RESULT.
 *
 *   helper-storctl SOCK|@FILE open NAME PATH KEYFILE [create SIZE] [ro] [discard] [test-kdf]
 *   helper-storctl SOCK close|erase NAME
 *   helper-storctl SOCK grow NAME SIZE
 *   helper-storctl SOCK serve NAME DOMID XS_PATH   (CHAN_SERVE: a xen channel)
 *   prints "result status=S size=N name=NAME text" and exits 0 iff status is 0
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bulkhead/msg.h"
#include "bulkhead/parse.h"

static uint8_t body[BH_MSG_BODY_MAX], frame[BH_MSG_HDR_SIZE + BH_MSG_BODY_MAX];

static int usage(void)
{
	fprintf(stderr, "usage: helper-storctl SOCK|@FILE open NAME PATH KEYFILE [create SIZE] "
			"[ro] [discard] [test-kdf] [if-missing] | close|erase NAME | grow NAME SIZE | "
			"serve NAME DOMID XS_PATH\n");
	return 2;
}

static long encode_open(int argc, char **argv)
{
	struct bh_msg_volume_open m;

	memset(&m, 0, sizeof(m));
	if (argc < 3)
		return -EINVAL;
	snprintf(m.name, sizeof(m.name), "%s", argv[0]);
	snprintf(m.path, sizeof(m.path), "%s", argv[1]);
	snprintf(m.keyfile, sizeof(m.keyfile), "%s", argv[2]);
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "create") && i + 1 < argc) {
			m.flags |= BH_VOLUME_CREATE;
			if (bh_parse_size(argv[++i], 1, 1, BH_VOLUME_SIZE_MAX, &m.size) < 0)
				return -EINVAL;
		} else if (!strcmp(argv[i], "ro")) {
			m.flags |= BH_VOLUME_READONLY;
		} else if (!strcmp(argv[i], "discard")) {
			m.flags |= BH_VOLUME_DISCARD;
		} else if (!strcmp(argv[i], "test-kdf")) {
			m.flags |= BH_VOLUME_TEST_KDF;
		} else if (!strcmp(argv[i], "if-missing")) {
			m.flags |= BH_VOLUME_IF_MISSING;
		} else {
			return -EINVAL;
		}
	}
	return bh_msg_volume_open_encode(&m, body, sizeof(body));
}

static long encode_serve(int argc, char **argv)
{
	struct bh_msg_chan_serve m;
	uint32_t domid;

	memset(&m, 0, sizeof(m));
	if (argc != 3 || bh_parse_u32(argv[1], 0, 0x7fef, &domid) < 0)
		return -EINVAL;
	snprintf(m.name, sizeof(m.name), "%s", argv[0]);
	m.kind = BH_CHAN_SERVE_DATA;
	m.domid = domid;
	snprintf(m.xs_path, sizeof(m.xs_path), "%s", argv[2]);
	return bh_msg_chan_serve_encode(&m, body, sizeof(body));
}

static long encode(const char *verb, int argc, char **argv, uint16_t *type)
{
	struct bh_msg_volume_ref m = { "", 0 };

	if (!strcmp(verb, "open")) {
		*type = BH_MSG_VOLUME_OPEN;
		return encode_open(argc, argv);
	}
	if (!strcmp(verb, "serve")) {
		*type = BH_MSG_CHAN_SERVE;
		return encode_serve(argc, argv);
	}
	if (!strcmp(verb, "close"))
		*type = BH_MSG_VOLUME_CLOSE;
	else if (!strcmp(verb, "erase"))
		*type = BH_MSG_VOLUME_ERASE;
	else if (!strcmp(verb, "grow"))
		*type = BH_MSG_VOLUME_GROW;
	else
		return -EINVAL;
	if (argc != (*type == BH_MSG_VOLUME_GROW ? 2 : 1))
		return -EINVAL;
	snprintf(m.name, sizeof(m.name), "%s", argv[0]);
	if (argc == 2 && bh_parse_size(argv[1], 1, 1, BH_VOLUME_SIZE_MAX, &m.size) < 0)
		return -EINVAL;
	return bh_msg_volume_ref_encode(*type, &m, body, sizeof(body));
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static int read_full(int fd, void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = read(fd, (uint8_t *)buf + off, len - off);

		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int print_result(int fd)
{
	struct bh_msg_hdr h;
	struct bh_msg_volume_result res;

	if (read_full(fd, frame, BH_MSG_HDR_SIZE) < 0 || bh_msg_hdr_decode(frame, &h) < 0 ||
	    h.type != BH_MSG_VOLUME_RESULT || read_full(fd, body, h.length) < 0 ||
	    bh_msg_volume_result_decode(body, h.length, &res) < 0) {
		fprintf(stderr, "helper-storctl: no valid VOLUME_RESULT\n");
		return 1;
	}
	printf("result status=%d size=%llu name=%s %s\n", res.status,
	       (unsigned long long)res.size, res.name, res.text);
	return res.status ? 1 : 0;
}

int main(int argc, char **argv)
{
	uint16_t type = 0;
	long n, len;
	int fd;

	if (argc < 4)
		return usage();
	len = encode(argv[2], argc - 3, argv + 3, &type);
	if (len < 0)
		return usage();
	n = bh_msg_frame(type, 0, 1, 1, body, (size_t)len, frame, sizeof(frame));
	if (n < 0)
		return usage();
	if (argv[1][0] == '@') {
		fd = open(argv[1] + 1, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		return fd >= 0 && write(fd, frame, (size_t)n) == n && close(fd) == 0 ? 0 : 1;
	}
	fd = connect_unix(argv[1]);
	if (write(fd, frame, (size_t)n) != n)
		return 1;
	return print_result(fd);
}
