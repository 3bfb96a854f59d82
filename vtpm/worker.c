/* SPDX-License-Identifier: MIT */
/*
 * One guest's TPM: a worker process, forked by vtpmd's spawner (zygote.c). It
 * receives its permanent state from the manager and powers the TPM on (a
 * spare worker makes a new TPM before any instance wants it), then learns
 * its instance and sockets, enters the sandbox, and only then accepts guest
 * connections:
 *
 *   tpm.sock       raw TPM 2.0 commands (swtpm's data channel)
 *   tpm.sock.ctrl  swtpm's control channel
 *   tpm.chan       a bulkhead memfd channel carrying both, as mux streams
 *                  (worker-chan.c)
 *
 * One connection of each kind at a time (later ones wait in the backlog), as
 * in swtpm; QEMU's CMD_SET_DATAFD replaces the data connection with the
 * socket it passes. Single-threaded: a command runs to completion before the next.
 * Every state change libtpms reports goes to the manager, and the command
 * completes only once the manager says the sealed state is on disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "vtpm.h"

static int write_all(int fd, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, (const uint8_t *)buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (size_t)n;
	}
	return 0;
}

/*
 * libtpms changed the permanent state: the manager seals and writes it, then
 * answers. A request the manager sent meanwhile (VTPM_RESET, VTPM_KEY_OP)
 * waits for its turn in w->pending.
 */
static int store_state(void *ctx, const uint8_t *blob, size_t len)
{
	struct vt_worker *w = ctx;
	struct bh_msg_vtpm_result res;
	const uint8_t *body;
	struct bh_msg_hdr h;
	int r = vt_ipc_send(VT_FD_MGR, BH_MSG_VTPM_STATE_STORE, blob, len);

	while (r == 0) {
		r = vt_ipc_recv(VT_FD_MGR, w->msg, sizeof(w->msg), &h, &body);
		if (r < 0 || h.type == BH_MSG_VTPM_RESULT || w->pending_len)
			break;
		/* A request the manager sent before it saw our store: later. */
		w->pending_len = BH_MSG_HDR_SIZE + h.length;
		memcpy(w->pending, w->msg, w->pending_len);
	}
	if (r == 0 && (h.type != BH_MSG_VTPM_RESULT ||
		       bh_msg_vtpm_result_decode(body, h.length, &res) < 0))
		r = -EPROTO;
	if (r == 0)
		r = res.status;
	if (r < 0)
		bh_err("storing the TPM state failed: %s", strerror(-r));
	return r;
}

/* ---- the manager's requests ---- */

/*
 * VTPM_RESET: power-cycle (PCRs reset, NV kept), as when the guest's machine
 * reboots. An orderly one: TPM2_Shutdown(CLEAR) first, or the TPM counts
 * every reset as a possible dictionary attack (failedTries) and soon locks
 * out its DA-protected keys. A TPM that was not started answers an error,
 * which changes nothing.
 */
static int power_cycle(struct vt_worker *w)
{
	static const uint8_t shutdown_clear[12] = { 0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x45, 0, 0 };
	int r;

	if (vt_tpm_running())
		vt_tpm_process(shutdown_clear, sizeof(shutdown_clear), w->rsp, sizeof(w->rsp));
	vt_framer_init(&w->data_fr, w->bufsize);
	r = vt_tpm_restart();
	if (r < 0)
		bh_err("power cycle: %s", strerror(-r));
	return vt_ipc_result(VT_FD_MGR, 0, r, w->name, "%s", r < 0 ? strerror(-r) : "reset");
}

/*
 * VTPM_KEY_OP: a volume secret sealed in this TPM (keyseal.c), between two
 * guest commands. The answer carries the secret (CREATE, UNSEAL) to the
 * manager only; every copy here is wiped.
 */
static int key_op(struct vt_worker *w, const uint8_t *body, uint32_t len)
{
	static uint8_t out[BH_MSG_HDR_SIZE + 2048];
	static struct vt_sealed rec;
	static struct vt_keyres res;
	bool has = false;
	uint8_t op = 0;
	long n;
	int r;

	if (vt_keyop_decode(body, len, &op, &rec, &has) < 0)
		return -EPROTO;
	vt_keyop_run(op, has ? &rec : NULL, &res);
	if (res.status < 0)
		bh_warn("sealed secret: %s", res.text);
	n = vt_keyres_encode(&res, out, sizeof(out));
	r = n < 0 ? (int)n : vt_ipc_send(VT_FD_MGR, BH_MSG_VTPM_KEY_RESULT, out, (size_t)n);
	explicit_bzero(out, sizeof(out));
	explicit_bzero(&rec, sizeof(rec));
	explicit_bzero(&res, sizeof(res));
	explicit_bzero(w->msg, sizeof(w->msg));
	return r;
}

/*
 * The manager spoke (or a request of its waits in w->pending): run it. 0, or
 * -errno when its end closed or it sent what it may not.
 */
static int manager_input(struct vt_worker *w)
{
	const uint8_t *body;
	struct bh_msg_hdr h;
	int r;

	if (w->pending_len) {
		memcpy(w->msg, w->pending, w->pending_len);
		r = bh_msg_parse(w->msg, w->pending_len, &h, &body);
		explicit_bzero(w->pending, w->pending_len);
		w->pending_len = 0;
	} else {
		r = vt_ipc_recv(VT_FD_MGR, w->msg, sizeof(w->msg), &h, &body);
	}
	if (r < 0)
		return r;
	if (h.type == BH_MSG_VTPM_RESET)
		return power_cycle(w);
	if (h.type == BH_MSG_VTPM_KEY_OP)
		return key_op(w, body, h.length);
	return -EPROTO;
}

/* ---- control channel ---- */

static int op_locality(void *ctx, uint8_t loc)
{
	(void)ctx;
	return vt_tpm_set_locality(loc);
}

static int op_cancel(void *ctx)
{
	(void)ctx;
	return vt_tpm_cancel();
}

static int op_get_est(void *ctx, bool *ret)
{
	(void)ctx;
	return vt_tpm_get_established(ret);
}

static int op_reset_est(void *ctx, uint8_t loc)
{
	(void)ctx;
	return vt_tpm_reset_established(loc);
}

static uint32_t op_bufsize(void *ctx, uint32_t want, uint32_t *min, uint32_t *max)
{
	struct vt_worker *w = ctx;

	w->bufsize = vt_tpm_set_buffersize(want, min, max);
	return w->bufsize;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* QEMU's data socket, received with this request, becomes the data connection. */
static int op_datafd(void *ctx)
{
	struct vt_worker *w = ctx;
	struct stat st;

	if (w->datafd_pending < 0)
		return -EINVAL;
	if (fstat(w->datafd_pending, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		close_fd(&w->datafd_pending);
		return -EINVAL;
	}
	close_fd(&w->data);
	w->data = w->datafd_pending;
	w->datafd_pending = -1;
	vt_framer_init(&w->data_fr, w->bufsize);
	return 0;
}

static const struct vt_ctrl_ops ctrl_ops = {
	.set_locality = op_locality,
	.cancel = op_cancel,
	.get_established = op_get_est,
	.reset_established = op_reset_est,
	.set_buffersize = op_bufsize,
	.set_datafd = op_datafd,
};

/* ---- guest streams, whatever carries them ---- */

int vt_worker_ctrl(struct vt_worker *w, struct vt_ctrl_parser *p, const uint8_t *untrusted_in,
		   size_t len, vt_send_fn send, void *sctx)
{
	uint8_t out[VT_CTRL_RSP_MAX];
	struct vt_ctrl_req req;
	size_t off = 0;
	bool done;

	while (off < len) {
		ssize_t used = vt_ctrl_feed(p, untrusted_in + off, len - off, &req, &done);

		if (used < 0) {
			/* Unknown request length: answer and drop the stream. */
			vt_put_be32(out, VT_PTM_BAD_ORDINAL);
			send(sctx, out, 4);
			return -EOPNOTSUPP;
		}
		off += (size_t)used;
		if (done && send(sctx, out, vt_ctrl_handle(&req, &ctrl_ops, w, out)) < 0)
			return -EPIPE;
		/* An fd that came with any other request is not kept. */
		close_fd(&w->datafd_pending);
		if (w->shutdown)
			return 0;
	}
	return 0;
}

int vt_worker_data(struct vt_worker *w, struct vt_framer *f, const uint8_t *untrusted_in,
		   size_t len, vt_send_fn send, void *sctx)
{
	size_t off = 0;

	while (off < len) {
		ssize_t used = vt_framer_feed(f, untrusted_in + off, len - off);
		uint32_t clen;

		if (used < 0) {
			vt_tpm_error_response(w->rsp, f->err_rc);
			send(sctx, w->rsp, VT_TPM_HDR_SIZE);
			return -EBADMSG;
		}
		off += (size_t)used;
		clen = vt_framer_command(f);
		if (!clen)
			continue;
		if (send(sctx, w->rsp, vt_tpm_process(f->buf, clen, w->rsp, sizeof(w->rsp))) < 0)
			return -EPIPE;
		vt_framer_next(f);
	}
	return 0;
}

/* ---- unix sockets ---- */

static int send_sock(void *sctx, const void *buf, size_t len)
{
	return write_all(*(int *)sctx, buf, len);
}

/* recv on the control socket, keeping an fd that comes along (SET_DATAFD). */
static ssize_t recv_ctrl(struct vt_worker *w, uint8_t *buf, size_t len)
{
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
			     .msg_controllen = sizeof(cm.b) };
	ssize_t n = recvmsg(w->ctrl, &mh, MSG_CMSG_CLOEXEC);
	struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;

	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int))) {
		close_fd(&w->datafd_pending);
		memcpy(&w->datafd_pending, CMSG_DATA(c), sizeof(int));
	}
	/* More fds than one (truncated): the kernel closed the rest for us. */
	return n;
}

static void ctrl_input(struct vt_worker *w)
{
	uint8_t in[256];
	ssize_t n = recv_ctrl(w, in, sizeof(in));

	if (n <= 0) {
		if (n == 0 || errno != EINTR)
			close_fd(&w->ctrl);
		return;
	}
	if (vt_worker_ctrl(w, &w->cp, in, (size_t)n, send_sock, &w->ctrl) < 0)
		close_fd(&w->ctrl);
}

static void data_input(struct vt_worker *w)
{
	uint8_t in[VT_TPM_CMD_MAX];
	ssize_t n = recv(w->data, in, sizeof(in), 0);

	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		/* A command cut short by the end of the stream: say so if anyone listens. */
		if (n == 0 && vt_framer_partial(&w->data_fr)) {
			vt_tpm_error_response(w->rsp, VT_TPM_RC_COMMAND_SIZE);
			send_sock(&w->data, w->rsp, VT_TPM_HDR_SIZE);
		}
		close_fd(&w->data);
		return;
	}
	if (vt_worker_data(w, &w->data_fr, in, (size_t)n, send_sock, &w->data) < 0)
		close_fd(&w->data);
}

static int accept_sock(int lfd)
{
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/*
 * The loop; returns when the manager goes away or the guest sends SHUTDOWN.
 * While the channel is busy, poll() only looks at the rest (timeout 0) and
 * the channel is served by spinning on its ring (worker-chan.c).
 */
static void serve(struct vt_worker *w)
{
	while (!w->shutdown) {
		struct pollfd p[4] = {
			{ VT_FD_MGR, POLLIN, 0 },
			{ w->data >= 0 ? w->data : VT_FD_DATA, POLLIN, 0 },
			{ w->ctrl >= 0 ? w->ctrl : VT_FD_CTRL, POLLIN, 0 },
			{ w->wc ? vt_wchan_fd(w) : VT_FD_CHAN, POLLIN, 0 },
		};

		if (poll(p, 4, w->chan_busy || w->pending_len ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if ((p[0].revents || w->pending_len) && manager_input(w) < 0)
			return; /* the manager closed or misbehaved */
		if (p[1].revents && w->data < 0) {
			w->data = accept_sock(VT_FD_DATA);
			vt_framer_init(&w->data_fr, w->bufsize);
		} else if (p[1].revents) {
			data_input(w);
		}
		if (p[2].revents && w->ctrl < 0) {
			w->ctrl = accept_sock(VT_FD_CTRL);
			vt_ctrl_parser_init(&w->cp);
		} else if (p[2].revents) {
			ctrl_input(w);
		}
		if (p[3].revents && !w->wc)
			vt_wchan_accept(w, accept_sock(VT_FD_CHAN));
		else if (p[3].revents)
			vt_wchan_event(w);
		else if (w->chan_busy)
			vt_wchan_run(w);
	}
}

/* The state arrives as the first message; an empty one means a new TPM. */
static int power_on(struct vt_worker *w)
{
	_cleanup_free_ uint8_t *buf = malloc(VT_IPC_MAX);
	const uint8_t *body;
	struct bh_msg_hdr h;
	int r;

	if (!buf)
		return -ENOMEM;
	r = vt_ipc_recv(VT_FD_MGR, buf, VT_IPC_MAX, &h, &body);
	if (r == 0 && h.type != BH_MSG_VTPM_STATE_LOAD)
		r = -EPROTO;
	if (r == 0)
		r = vt_tpm_start(h.length ? body : NULL, h.length, store_state, w);
	explicit_bzero(buf, VT_IPC_MAX);
	return r;
}

/* Show the worker as "--worker NAME" in ps/pgrep: overwrite the argv area. */
static void set_title(char *area, size_t len, const char *name)
{
	if (!area || len < 10)
		return;
	memset(area, 0, len);
	snprintf(area, len, "--worker");
	snprintf(area + 9, len - 9, "%s", name);
}

/* Install the three listening sockets at their fixed numbers. */
static int install_fds(const int fds[3])
{
	int tmp[3], r = 0;

	/* Out of the way first, so no dup2 overwrites one not yet moved. */
	for (int i = 0; i < 3; i++)
		tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 16);
	for (int i = 0; i < 3; i++) {
		if (tmp[i] < 0 || dup2(tmp[i], VT_FD_DATA + i) < 0)
			r = -EBADF;
		if (tmp[i] >= 0)
			close(tmp[i]);
		if (fds[i] != VT_FD_DATA + i)
			close(fds[i]);
	}
	return r;
}

/* VTPM_START from the manager: which instance we are, and its sockets. */
static int take_instance(struct vt_worker *w, char *title, size_t title_len)
{
	uint8_t buf[BH_MSG_HDR_SIZE + BH_MSG_NAME_MAX + 8];
	int fds[3] = { -1, -1, -1 };
	struct bh_msg_vtpm_ref ref;
	const uint8_t *body;
	struct bh_msg_hdr h;
	char tag[96];
	ssize_t n = vt_recv_fds(VT_FD_MGR, buf, sizeof(buf), fds, 3, false);
	int r = n < 0 ? (int)n : bh_msg_parse(buf, (size_t)n, &h, &body);

	if (r == 0 && (h.type != BH_MSG_VTPM_START ||
		       bh_msg_vtpm_ref_decode(body, h.length, &ref) < 0))
		r = -EPROTO;
	if (r == 0)
		r = install_fds(fds);
	else if (n >= 0)
		for (int i = 0; i < 3; i++)
			close(fds[i]);
	if (r < 0)
		return r;
	snprintf(w->name, sizeof(w->name), "%s", ref.name);
	set_title(title, title_len, w->name);
	snprintf(tag, sizeof(tag), "vtpmd[%s]", w->name);
	bh_log_init(tag, BH_LOG_STDERR, bh_log_get_level());
	return 0;
}

int vt_worker_main(const char *empty_dir, char *title, size_t title_len)
{
	struct vt_worker *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return 1;
	w->data = w->ctrl = w->datafd_pending = -1;
	w->bufsize = VT_TPM_CMD_MAX;
	r = power_on(w);
	if (r == 0)
		r = take_instance(w, title, title_len);
	if (r == 0)
		r = vt_sandbox_enter(empty_dir);
	if (r < 0) {
		vt_ipc_result(VT_FD_MGR, 0, r, w->name, "%s: %s",
			      vt_tpm_running() ? "start" : "TPM power-on", strerror(-r));
		vt_tpm_fini();
		free(w);
		return 1;
	}
	vt_ipc_result(VT_FD_MGR, 0, 0, w->name, "ready");
	serve(w);
	vt_wchan_close(w);
	close_fd(&w->data);
	close_fd(&w->ctrl);
	close_fd(&w->datafd_pending);
	vt_tpm_fini();
	free(w);
	return 0;
}
