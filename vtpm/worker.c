/* SPDX-License-Identifier: MIT */
/*
 * One guest's TPM: the worker process vtpmd execs per instance. It receives
 * its permanent state from the manager, powers the TPM on, enters the
 * sandbox, and only then accepts guest connections:
 *
 *   tpm.sock       raw TPM 2.0 commands (swtpm's data channel)
 *   tpm.sock.ctrl  swtpm's control channel
 *   tpm.chan       a bulkhead memfd channel carrying the data channel
 *
 * One connection of each kind at a time (later ones wait in the backlog), as
 * in swtpm. Single-threaded: a command runs to completion before the next.
 * Every state change libtpms reports goes to the manager, and the command
 * completes only once the manager says the sealed state is on disk.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/chan.h"
#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "vtpm.h"

/* After a command on the channel, poll it this long before sleeping in poll(). */
#define CHAN_SPIN_NS 50000u

struct worker {
	const char *name;
	int data, ctrl; /* accepted connections, or -1 */
	struct bh_chan *chan;
	struct vt_framer data_fr, chan_fr;
	struct vt_ctrl_parser cp;
	uint32_t bufsize;
	bool shutdown;
	uint8_t msg[BH_MSG_HDR_SIZE + 1024]; /* manager replies to a store */
	uint8_t rsp[VT_TPM_RSP_MAX];
};

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

/* libtpms changed the permanent state: the manager seals and writes it, then answers. */
static int store_state(void *ctx, const uint8_t *blob, size_t len)
{
	struct worker *w = ctx;
	struct bh_msg_vtpm_result res;
	const uint8_t *body;
	struct bh_msg_hdr h;
	int r = vt_ipc_send(VT_FD_MGR, BH_MSG_VTPM_STATE_STORE, blob, len);

	if (r == 0)
		r = vt_ipc_recv(VT_FD_MGR, w->msg, sizeof(w->msg), &h, &body);
	if (r == 0 && (h.type != BH_MSG_VTPM_RESULT ||
		       bh_msg_vtpm_result_decode(body, h.length, &res) < 0))
		r = -EPROTO;
	if (r == 0)
		r = res.status;
	if (r < 0)
		bh_err("storing the TPM state failed: %s", strerror(-r));
	return r;
}

/* ---- control channel ---- */

static int op_init(void *ctx, uint32_t flags)
{
	struct worker *w = ctx;

	(void)flags; /* DELETE_VOLATILE: there never is volatile state */
	vt_framer_init(&w->data_fr, w->bufsize);
	vt_framer_init(&w->chan_fr, w->bufsize);
	return vt_tpm_restart();
}

static int op_stop(void *ctx)
{
	(void)ctx;
	vt_tpm_stop();
	return 0;
}

static int op_shutdown(void *ctx)
{
	struct worker *w = ctx;

	vt_tpm_stop();
	w->shutdown = true;
	return 0;
}

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
	struct worker *w = ctx;

	w->bufsize = vt_tpm_set_buffersize(want, min, max);
	return w->bufsize;
}

static const struct vt_ctrl_ops ctrl_ops = {
	.init = op_init,
	.stop = op_stop,
	.shutdown = op_shutdown,
	.set_locality = op_locality,
	.cancel = op_cancel,
	.get_established = op_get_est,
	.reset_established = op_reset_est,
	.set_buffersize = op_bufsize,
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void ctrl_input(struct worker *w)
{
	uint8_t in[256], out[VT_CTRL_RSP_MAX];
	struct vt_ctrl_req req;
	ssize_t n = recv(w->ctrl, in, sizeof(in), 0);
	size_t off = 0;
	bool done;

	if (n <= 0) {
		if (n == 0 || errno != EINTR)
			close_fd(&w->ctrl);
		return;
	}
	while (off < (size_t)n && w->ctrl >= 0) {
		ssize_t used = vt_ctrl_feed(&w->cp, in + off, (size_t)n - off, &req, &done);

		if (used < 0) {
			/* Unknown request length: answer and drop the stream. */
			out[0] = out[1] = out[2] = 0;
			out[3] = VT_PTM_BAD_ORDINAL;
			write_all(w->ctrl, out, 4);
			close_fd(&w->ctrl);
			return;
		}
		off += (size_t)used;
		if (done && write_all(w->ctrl, out, vt_ctrl_handle(&req, &ctrl_ops, w, out)) < 0)
			close_fd(&w->ctrl);
	}
}

/* ---- data channel: unix socket or bulkhead channel ---- */

typedef int (*send_fn)(struct worker *w, const void *buf, size_t len);

static int send_sock(struct worker *w, const void *buf, size_t len)
{
	return write_all(w->data, buf, len);
}

static int send_chan(struct worker *w, const void *buf, size_t len)
{
	ssize_t n;

	bh_chan_set_blocking(w->chan, true);
	n = bh_chan_write(w->chan, buf, len);
	bh_chan_set_blocking(w->chan, false);
	return n == (ssize_t)len ? 0 : (n < 0 ? (int)n : -EIO);
}

/*
 * Feed received bytes through the framer and run every complete command.
 * Returns 0, or -errno when the connection must be closed (framing error,
 * already answered with a TPM error; or a failed send).
 */
static int data_bytes(struct worker *w, struct vt_framer *f, const uint8_t *in, size_t len,
		      send_fn send)
{
	size_t off = 0;

	while (off < len) {
		ssize_t used = vt_framer_feed(f, in + off, len - off);
		uint32_t clen;

		if (used < 0) {
			vt_tpm_error_response(w->rsp, f->err_rc);
			send(w, w->rsp, VT_TPM_HDR_SIZE);
			return -EBADMSG;
		}
		off += (size_t)used;
		clen = vt_framer_command(f);
		if (!clen)
			continue;
		if (send(w, w->rsp, vt_tpm_process(f->buf, clen, w->rsp, sizeof(w->rsp))) < 0)
			return -EPIPE;
		vt_framer_next(f);
	}
	return 0;
}

static void data_input(struct worker *w)
{
	uint8_t in[VT_TPM_CMD_MAX];
	ssize_t n = recv(w->data, in, sizeof(in), 0);

	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		/* A command cut short by the end of the stream: say so if anyone listens. */
		if (n == 0 && vt_framer_partial(&w->data_fr)) {
			vt_tpm_error_response(w->rsp, VT_TPM_RC_COMMAND_SIZE);
			send_sock(w, w->rsp, VT_TPM_HDR_SIZE);
		}
		close_fd(&w->data);
		return;
	}
	if (data_bytes(w, &w->data_fr, in, (size_t)n, send_sock) < 0)
		close_fd(&w->data);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void chan_close(struct worker *w)
{
	bh_chan_close(w->chan);
	w->chan = NULL;
}

/*
 * Drain the channel, then keep polling it for a short while: the next
 * command of a busy client usually arrives within microseconds, and an
 * eventfd wake-up costs more than that.
 */
static void chan_input(struct worker *w)
{
	uint8_t in[VT_TPM_CMD_MAX];
	uint64_t deadline = 0;

	if (bh_chan_wait(w->chan) < 0)
		return chan_close(w);
	for (;;) {
		ssize_t n = bh_chan_read(w->chan, in, sizeof(in));

		if (n == -EAGAIN) {
			if (!deadline)
				deadline = now_ns() + CHAN_SPIN_NS;
			if (now_ns() > deadline)
				return;
			continue;
		}
		if (n <= 0 || data_bytes(w, &w->chan_fr, in, (size_t)n, send_chan) < 0)
			return chan_close(w);
		deadline = 0;
	}
}

static void accept_chan(struct worker *w)
{
	int s = accept4(VT_FD_CHAN, NULL, NULL, SOCK_CLOEXEC);
	int r;

	if (s < 0)
		return;
	r = bh_chan_memfd_server(s, 64u << 10, 64u << 10, &w->chan);
	if (r < 0) {
		close(s);
		w->chan = NULL;
		bh_warn("channel set-up failed: %s", strerror(-r));
		return;
	}
	bh_chan_set_blocking(w->chan, false);
	vt_framer_init(&w->chan_fr, w->bufsize);
}

static int accept_sock(int lfd)
{
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* The loop; returns when the manager goes away or the guest sends SHUTDOWN. */
static void serve(struct worker *w)
{
	while (!w->shutdown) {
		struct pollfd p[4] = {
			{ VT_FD_MGR, POLLIN, 0 },
			{ w->data >= 0 ? w->data : VT_FD_DATA, POLLIN, 0 },
			{ w->ctrl >= 0 ? w->ctrl : VT_FD_CTRL, POLLIN, 0 },
			{ w->chan ? bh_chan_fd(w->chan) : VT_FD_CHAN, POLLIN, 0 },
		};

		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (p[0].revents)
			return; /* the manager never writes unasked: closed or gone */
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
		if (p[3].revents && !w->chan)
			accept_chan(w);
		else if (p[3].revents)
			chan_input(w);
	}
}

/* The state arrives as the first message; an empty one means a new TPM. */
static int power_on(struct worker *w)
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

int vt_worker_main(const char *name, const char *empty_dir)
{
	struct worker *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return 1;
	w->name = name;
	w->data = w->ctrl = -1;
	w->bufsize = VT_TPM_CMD_MAX;
	r = vt_crypto_preload();
	if (r == 0)
		r = power_on(w);
	if (r == 0)
		r = vt_sandbox_enter(empty_dir);
	if (r < 0) {
		vt_ipc_result(VT_FD_MGR, 0, r, name, "%s: %s",
			      vt_tpm_running() ? "sandbox" : "TPM power-on", strerror(-r));
		vt_tpm_fini();
		free(w);
		return 1;
	}
	vt_ipc_result(VT_FD_MGR, 0, 0, name, "ready");
	serve(w);
	chan_close(w);
	close_fd(&w->data);
	close_fd(&w->ctrl);
	vt_tpm_fini();
	free(w);
	return 0;
}
