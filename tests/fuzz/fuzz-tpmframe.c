/* SPDX-License-Identifier: MIT */
/*
 * Fuzz vtpm's two guest-facing parsers with arbitrary streams: the TPM
 * command framer of the data channel and the swtpm control-channel parser
 * (with its response encoder). Byte 0 picks the parser and byte 1 the chunk
 * size the stream is fed in; invariants are asserted on every step.
 *
 * Linked with libvtpm (FUZZ_VTPM in the Makefile): the same frame.c and
 * ctrl.c objects the worker runs.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../../vtpm/vtpm.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_framer(const uint8_t *in, size_t len, size_t chunk, uint32_t max)
{
	static struct vt_framer f;
	size_t off = 0;

	vt_framer_init(&f, max);
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		ssize_t used = vt_framer_feed(&f, in + off, n);
		uint32_t clen;

		if (used < 0) {
			assert(f.err_rc == VT_TPM_RC_COMMAND_SIZE || f.err_rc == VT_TPM_RC_BAD_TAG);
			assert(vt_framer_feed(&f, in, 1) == -EBADMSG);
			return;
		}
		assert((size_t)used <= n);
		off += (size_t)used;
		clen = vt_framer_command(&f);
		if (clen) {
			/* A complete command: exactly as long as its header says, within the limit. */
			assert(clen >= VT_TPM_HDR_SIZE && clen <= f.max);
			assert(vt_be32(f.buf + 2) == clen);
			vt_framer_next(&f);
		} else {
			assert(used == (ssize_t)n); /* incomplete: everything was taken */
		}
	}
}

static int nop(void *ctx)
{
	(void)ctx;
	return 0;
}
static int nop_u8(void *ctx, uint8_t v)
{
	(void)ctx;
	return v > 4 ? -EINVAL : 0;
}
static int nop_est(void *ctx, bool *ret)
{
	(void)ctx;
	*ret = true;
	return 0;
}
static uint32_t nop_buf(void *ctx, uint32_t want, uint32_t *min, uint32_t *max)
{
	(void)ctx;
	*min = 128;
	*max = VT_TPM_CMD_MAX;
	return want < 128 ? 128 : want > VT_TPM_CMD_MAX ? VT_TPM_CMD_MAX : want;
}

static int nop_fd(void *ctx)
{
	(void)ctx;
	return -EINVAL; /* no fd ever comes with a fuzz input */
}

static const struct vt_ctrl_ops ops = {
	.set_locality = nop_u8, .cancel = nop,
	.get_established = nop_est, .reset_established = nop_u8, .set_buffersize = nop_buf,
	.set_datafd = nop_fd,
};

static void fuzz_ctrl(const uint8_t *in, size_t len, size_t chunk)
{
	struct vt_ctrl_parser p;
	uint8_t out[VT_CTRL_RSP_MAX];
	size_t off = 0;

	vt_ctrl_parser_init(&p);
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		struct vt_ctrl_req req;
		bool done;
		ssize_t used = vt_ctrl_feed(&p, in + off, n, &req, &done);

		if (used < 0) {
			assert(vt_ctrl_req_size(vt_be32(p.buf)) < 0);
			return;
		}
		assert((size_t)used <= n);
		off += (size_t)used;
		if (done) {
			size_t rlen = vt_ctrl_handle(&req, &ops, NULL, out);

			assert(vt_ctrl_req_size(req.cmd) >= 0);
			assert(rlen >= 4 && rlen <= VT_CTRL_RSP_MAX);
		} else {
			assert((size_t)used == n);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk;

	if (size > FUZZ_MAX_INPUT || size < 2)
		return 0;
	chunk = data[1] ? data[1] : 4096;
	if (data[0] & 1)
		fuzz_ctrl(data + 2, size - 2, chunk);
	else
		fuzz_framer(data + 2, size - 2, chunk, data[0] & 2 ? 256 : VT_TPM_CMD_MAX);
	return 0;
}
