/* SPDX-License-Identifier: MIT */
/*
 * Bench tool for bench/vtpm (a helper so that it links libtpms through
 * libvtpm for the in-process figures). Raw TPM 2.0 command bytes over one
 * persistent connection, as a driver in a guest would send them:
 *
 *   helper-tpmbench rates inproc N_EXT N_QUOTE        libtpms called in-process
 *   helper-tpmbench rates chan PATH N_EXT N_QUOTE     bulkhead channel (vtpmd's tpm.chan)
 *   helper-tpmbench rates sock PATH N_EXT N_QUOTE     unix socket (swtpm, or vtpmd's tpm.sock)
 *       prints "extend=<per s> quote=<per s>" (PCR_Extend of PCR 16; Quote of PCR 0
 *       with an unrestricted ECDSA P-256 primary key created first)
 *   helper-tpmbench start vtpmd CTL_SOCKET STATE_DIR NAME
 *       CREATE the instance, then time VTPM_START on an open control connection (as
 *       dom0 sends it) until the response to TPM2_Startup on its tpm.sock; STOP it.
 *       Prints milliseconds.
 *   helper-tpmbench start swtpm DIR
 *       time the launch of swtpm on the fresh state directory DIR until the response
 *       to TPM2_Startup on DIR.sock (connect retried every 50 us); then end it.
 *   helper-tpmbench first-response sock PATH TIMEOUT_MS
 *       connect (retrying until the socket exists), send TPM2_Startup, print the
 *       milliseconds until the response arrived (for start-up times)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/msg.h"
#include "bulkhead/parse.h"
#include "../../../vtpm/vtpm.h"

struct conn {
	int kind; /* 0 inproc, 1 chan, 2 sock */
	int fd;
	struct vt_client *chan;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "helper-tpmbench: %s\n", what);
	exit(1);
}

static int read_full(struct conn *c, uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(c->fd, buf + off, len - off);

		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* One command, one response; returns the response code. */
static uint32_t xfer(struct conn *c, const uint8_t *cmd, size_t len, uint8_t *rsp)
{
	if (c->kind == 0) {
		vt_tpm_process(cmd, (uint32_t)len, rsp, VT_TPM_RSP_MAX);
		return vt_be32(rsp + 6);
	}
	if (c->kind == 1) {
		if (vt_client_transact(c->chan, cmd, len, rsp, VT_TPM_RSP_MAX) < 0)
			die("no response on the channel");
		return vt_be32(rsp + 6);
	}
	if (write(c->fd, cmd, len) != (ssize_t)len)
		die("send failed");
	if (read_full(c, rsp, VT_TPM_HDR_SIZE) < 0 || vt_be32(rsp + 2) > VT_TPM_RSP_MAX ||
	    vt_be32(rsp + 2) < VT_TPM_HDR_SIZE ||
	    read_full(c, rsp + VT_TPM_HDR_SIZE, vt_be32(rsp + 2) - VT_TPM_HDR_SIZE) < 0)
		die("no response");
	return vt_be32(rsp + 6);
}

static size_t put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static size_t put32(uint8_t *p, uint32_t v)
{
	vt_put_be32(p, v);
	return 4;
}

/* Header + handle + empty password session; returns the offset of the parameters. */
static size_t begin(uint8_t *b, uint32_t cc, uint32_t handle)
{
	size_t o = put16(b, 0x8002);

	o += 4; /* size, set by finish() */
	o += put32(b + o, cc);
	o += put32(b + o, handle);
	o += put32(b + o, 9);
	o += put32(b + o, 0x40000009); /* TPM_RS_PW */
	o += put16(b + o, 0);
	b[o++] = 0;
	o += put16(b + o, 0);
	return o;
}

static size_t finish(uint8_t *b, size_t o)
{
	vt_put_be32(b + 2, (uint32_t)o);
	return o;
}

static size_t cmd_create_primary(uint8_t *b)
{
	size_t o = begin(b, 0x131, 0x40000001); /* owner hierarchy */

	o += put16(b + o, 4); /* inSensitive: empty auth and data */
	o += put16(b + o, 0);
	o += put16(b + o, 0);
	o += put16(b + o, 24); /* inPublic: ECC P-256, ECDSA-SHA256, unrestricted signing */
	o += put16(b + o, 0x0023);
	o += put16(b + o, 0x000b);
	/* fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|noDA|sign: noDA, or a run after
	 * a non-orderly power-off counts as a failed try and three of them lock the key out. */
	o += put32(b + o, 0x00040472);
	o += put16(b + o, 0);
	o += put16(b + o, 0x0010);
	o += put16(b + o, 0x0018);
	o += put16(b + o, 0x000b);
	o += put16(b + o, 0x0003);
	o += put16(b + o, 0x0010);
	o += put16(b + o, 0);
	o += put16(b + o, 0);
	o += put16(b + o, 0); /* outsideInfo */
	o += put32(b + o, 0); /* creationPCR */
	return finish(b, o);
}

static size_t cmd_extend(uint8_t *b)
{
	size_t o = begin(b, 0x182, 16);

	o += put32(b + o, 1);
	o += put16(b + o, 0x000b);
	memset(b + o, 0xab, 32);
	return finish(b, o + 32);
}

static size_t cmd_quote(uint8_t *b, uint32_t key)
{
	size_t o = begin(b, 0x158, key);

	o += put16(b + o, 8);
	memcpy(b + o, "noncenon", 8);
	o += 8;
	o += put16(b + o, 0x0010); /* the key's own scheme */
	o += put32(b + o, 1);
	o += put16(b + o, 0x000b);
	b[o++] = 3;
	b[o++] = 1; /* PCR 0 */
	b[o++] = 0;
	b[o++] = 0;
	return finish(b, o);
}

/* TPM2_FlushContext: the primary key goes, so runs can repeat on one instance. */
static size_t cmd_flush(uint8_t *b, uint32_t handle)
{
	size_t o = put16(b, 0x8001);

	o += 4;
	o += put32(b + o, 0x165);
	o += put32(b + o, handle);
	return finish(b, o);
}

static const uint8_t startup[] = { 0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0 };

static int store_nothing(void *ctx, const uint8_t *blob, size_t len)
{
	(void)ctx;
	(void)blob;
	(void)len;
	return 0;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void open_conn(struct conn *c, const char *kind, const char *path)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (!strcmp(kind, "inproc")) {
		if (vt_tpm_start(NULL, 0, store_nothing, NULL) < 0)
			die("libtpms did not start");
		return;
	}
	c->kind = !strcmp(kind, "chan") ? 1 : 2;
	if (c->kind == 1) {
		if (vt_client_open(path, &c->chan) < 0)
			die("channel set-up failed");
		return;
	}
	c->fd = connect_unix(path);
	if (c->fd < 0)
		die("cannot connect");
}

static uint32_t arg_u32(const char *s)
{
	uint32_t v;

	if (bh_parse_u32(s, 1, 100000000, &v) < 0)
		die("bad number");
	return v;
}

static int rates(int argc, char **argv)
{
	uint8_t cmd[512], rsp[VT_TPM_RSP_MAX];
	int a = !strcmp(argv[2], "inproc") ? 3 : 4;
	uint32_t next, nq, key, rc;
	struct conn c;
	size_t qlen, elen;
	double t0, ext, q;

	if (argc != a + 2)
		die("usage");
	next = arg_u32(argv[a]);
	nq = arg_u32(argv[a + 1]);
	open_conn(&c, argv[2], argv[3]);
	xfer(&c, startup, sizeof(startup), rsp); /* 0, or INITIALIZE when already started */
	if ((rc = xfer(&c, cmd, cmd_create_primary(cmd), rsp)) != 0)
		die("CreatePrimary failed");
	key = vt_be32(rsp + 10);
	elen = cmd_extend(cmd);
	t0 = now();
	for (uint32_t i = 0; i < next; i++)
		if (xfer(&c, cmd, elen, rsp) != 0)
			die("PCR_Extend failed");
	ext = next / (now() - t0);
	qlen = cmd_quote(cmd, key);
	while ((rc = xfer(&c, cmd, qlen, rsp)) == 0x922) /* TPM_RC_RETRY after key creation */
		;
	t0 = now();
	for (uint32_t i = 0; i < nq; i++)
		if ((rc = xfer(&c, cmd, qlen, rsp)) != 0 && rc != 0x922) {
			fprintf(stderr, "helper-tpmbench: Quote rc 0x%x\n", rc);
			exit(1);
		}
	q = nq / (now() - t0);
	if (xfer(&c, cmd, cmd_flush(cmd, key), rsp) != 0)
		die("FlushContext failed");
	printf("extend=%.0f quote=%.0f\n", ext, q);
	if (c.kind == 0)
		vt_tpm_fini();
	vt_client_close(c.chan);
	if (c.fd >= 0)
		close(c.fd);
	return 0;
}

/* Time from now until the first response: the caller starts the TPM just before. */
static int first_response(char **argv)
{
	uint8_t rsp[VT_TPM_RSP_MAX];
	double t0 = now(), limit = arg_u32(argv[4]) / 1000.0;
	struct conn c = { .kind = 2, .fd = -1 };

	while ((c.fd = connect_unix(argv[3])) < 0) {
		if (now() - t0 > limit)
			die("timed out connecting");
		usleep(100);
	}
	xfer(&c, startup, sizeof(startup), rsp);
	printf("%.2f\n", (now() - t0) * 1000);
	close(c.fd);
	return 0;
}

/* One VTPM_* request on an open control connection; dies unless it succeeds. */
static void vtpm_request(int fd, uint16_t type, const char *name)
{
	struct bh_msg_vtpm_ref ref = { { 0 } };
	struct bh_msg_vtpm_result res;
	uint8_t body[128], frame[256], rbody[1024];
	struct bh_msg_hdr h;
	struct conn c = { .kind = 2, .fd = fd };
	long n;

	snprintf(ref.name, sizeof(ref.name), "%s", name);
	n = bh_msg_vtpm_ref_encode(&ref, body, sizeof(body));
	n = n < 0 ? n : bh_msg_frame(type, 0, 1, 1, body, (size_t)n, frame, sizeof(frame));
	if (n < 0 || write(fd, frame, (size_t)n) != n)
		die("control request not sent");
	if (read_full(&c, frame, BH_MSG_HDR_SIZE) < 0 || bh_msg_hdr_decode(frame, &h) < 0 ||
	    h.type != BH_MSG_VTPM_RESULT || h.length > sizeof(rbody) ||
	    read_full(&c, rbody, h.length) < 0 ||
	    bh_msg_vtpm_result_decode(rbody, h.length, &res) < 0 || res.status != 0)
		die("control request failed");
}

static double startup_on(const char *path, double t0, double limit)
{
	uint8_t rsp[VT_TPM_RSP_MAX];
	struct conn c = { .kind = 2, .fd = -1 };

	while ((c.fd = connect_unix(path)) < 0) {
		if (now() - t0 > limit)
			die("timed out connecting");
		usleep(50);
	}
	if (xfer(&c, startup, sizeof(startup), rsp) != 0)
		die("TPM2_Startup failed");
	close(c.fd);
	return (now() - t0) * 1000;
}

static int start_vtpmd(char **argv)
{
	char path[4096];
	int fd = connect_unix(argv[3]);
	double t0, ms;

	if (fd < 0)
		die("cannot connect to vtpmd");
	snprintf(path, sizeof(path), "%s/%s/tpm.sock", argv[4], argv[5]);
	vtpm_request(fd, BH_MSG_VTPM_CREATE, argv[5]);
	t0 = now();
	vtpm_request(fd, BH_MSG_VTPM_START, argv[5]);
	ms = startup_on(path, t0, 10);
	vtpm_request(fd, BH_MSG_VTPM_STOP, argv[5]);
	close(fd);
	printf("%.2f\n", ms);
	return 0;
}

static int start_swtpm(char **argv)
{
	char state[4200], data[4200], ctrl[4200];
	double t0, ms;
	pid_t pid;

	snprintf(state, sizeof(state), "dir=%s", argv[3]);
	snprintf(data, sizeof(data), "type=unixio,path=%s.sock", argv[3]);
	snprintf(ctrl, sizeof(ctrl), "type=unixio,path=%s.sock.ctrl", argv[3]);
	t0 = now();
	pid = fork();
	if (pid == 0) {
		char *args[] = { "swtpm", "socket", "--tpm2", "--tpmstate", state, "--flags",
				 "not-need-init", "--server", data, "--ctrl", ctrl, NULL };

		execvp("swtpm", args);
		_exit(127);
	}
	if (pid < 0)
		die("fork failed");
	snprintf(data, sizeof(data), "%s.sock", argv[3]);
	ms = startup_on(data, t0, 10);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	printf("%.2f\n", ms);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "start") && !strcmp(argv[2], "vtpmd"))
		return start_vtpmd(argv);
	if (argc == 4 && !strcmp(argv[1], "start") && !strcmp(argv[2], "swtpm"))
		return start_swtpm(argv);
	if (argc >= 4 && !strcmp(argv[1], "rates"))
		return rates(argc, argv);
	if (argc == 5 && !strcmp(argv[1], "first-response"))
		return first_response(argv);
	die("usage: see the comment at the top of helper-tpmbench.c");
	return 2;
}
