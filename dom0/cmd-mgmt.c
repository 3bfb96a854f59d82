/* SPDX-License-Identifier: MIT */
/*
 * bulkhead status|down|restart|reseal: clients of the management socket; and
 * bulkhead serve DIR: the management socket in the foreground.
 */
#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "dom0.h"

/* Read responses until the FINAL one; its status is the call's. */
static int read_responses(int fd, FILE *out, FILE *err)
{
	static uint8_t untrusted_buf[BH_MGMT_PACKET_MAX];

	for (;;) {
		struct bh_mgmt_resp resp;
		ssize_t n = recv(fd, untrusted_buf, sizeof(untrusted_buf), MSG_TRUNC);
		int r;

		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		if ((size_t)n > sizeof(untrusted_buf))
			return -EMSGSIZE;
		r = bh_mgmt_resp_decode(untrusted_buf, (size_t)n, &resp);
		if (r < 0)
			return r;
		fwrite(resp.text, 1, resp.len, resp.status ? err : out);
		if (resp.flags & BH_MGMT_R_FINAL)
			return resp.status;
	}
}

int bh_mgmt_call(const char *path, const struct bh_mgmt_req *req, FILE *out, FILE *err)
{
	uint8_t buf[256];
	long n = bh_mgmt_req_encode(req, buf, sizeof(buf));
	_cleanup_close_ int fd = -1;

	if (n < 0)
		return (int)n;
	fd = bh_unix_connect(path, SOCK_SEQPACKET);
	if (fd < 0)
		return fd;
	if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
		return -errno;
	return read_responses(fd, out, err);
}

/* Run one request from the command line; exit status 0 or 1. */
static int call_cli(const char *sock, const struct bh_mgmt_req *req)
{
	int r = bh_mgmt_call(sock, req, stdout, stderr);

	struct stat st;

	if (r == -EACCES) {
		fputc('\n', stderr);
		bh_err("%s: permission denied by the management server", bh_mgmt_op_name(req->op));
	} else if (r < 0 && (stat(sock, &st) < 0 || !S_ISSOCK(st.st_mode))) {
		bh_err("%s: no management socket at %s: nothing is up there (bulkhead up DIR, or "
		       "--socket PATH)", bh_mgmt_op_name(req->op), sock);
	} else if (r == -ECONNREFUSED) {
		bh_err("%s: no management server answers at %s", bh_mgmt_op_name(req->op), sock);
	} else if (r < 0) {
		fputc('\n', stderr);
		bh_log_errno(LOG_ERR, r, "%s via %s", bh_mgmt_op_name(req->op), sock);
	}
	return r < 0 ? 1 : 0;
}

static void usage(FILE *out, const char *cmd)
{
	fprintf(out, "Usage: bulkhead %s [--socket PATH]%s%s\n\n", cmd,
		bh_streq(cmd, "status") ? " [--json]" : "",
		bh_streq(cmd, "restart") ? " DOMAIN" : bh_streq(cmd, "reseal") ? " GUEST" : "");
	fprintf(out, "Ask the management server (bulkhead serve / up) to %s. The server\n"
		"decides by your uid and groups (bh_manage in host.cfg) and audit-logs it.\n\n"
		"  --socket PATH  the management socket (default %s)\n",
		bh_streq(cmd, "status") ? "print the state of every domain" :
		bh_streq(cmd, "down") ? "stop everything" :
		bh_streq(cmd, "reseal") ?
			"seal the secrets of GUEST's sealed volumes (seal=1) again, to the\n"
			"measurements GUEST booted with now, and restart it with its volumes.\n"
			"For an admin who changed GUEST's executable, command line or config on\n"
			"purpose: until then vtpm refuses to unseal them and GUEST gets no volume" :
			"restart DOMAIN",
		BH_MGMT_DEFAULT_SOCKET);
}

/* Shared option parsing of status/down/restart. */
static int client_cmd(int argc, char **argv, uint8_t op, bool want_target)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	struct bh_mgmt_req req = { .op = op };
	const char *sock = BH_MGMT_DEFAULT_SOCKET;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 's') {
			sock = optarg;
		} else if (c == 'j' && op == BH_MGMT_STATUS) {
			req.flags |= BH_MGMT_F_JSON;
		} else {
			usage(c == 'h' ? stdout : stderr, argv[0]);
			return c == 'h' ? 0 : 1;
		}
	}
	if (argc - optind != (want_target ? 1 : 0) ||
	    (want_target && strlen(argv[optind]) >= sizeof(req.target))) {
		usage(stderr, argv[0]);
		return 1;
	}
	if (want_target)
		strcpy(req.target, argv[optind]);
	return call_cli(sock, &req);
}

int bh_cmd_status(int argc, char **argv)
{
	return client_cmd(argc, argv, BH_MGMT_STATUS, false);
}

int bh_cmd_down(int argc, char **argv)
{
	return client_cmd(argc, argv, BH_MGMT_DOWN, false);
}

int bh_cmd_restart(int argc, char **argv)
{
	return client_cmd(argc, argv, BH_MGMT_RESTART, true);
}

int bh_cmd_reseal(int argc, char **argv)
{
	return client_cmd(argc, argv, BH_MGMT_RESEAL, true);
}
