/* SPDX-License-Identifier: MIT */
/*
 * swtpm's control channel, as tpm2-tss's swtpm TCTI and QEMU's tpm-emulator
 * speak it: a big-endian u32 command code followed by that command's
 * fixed-size request; the response is a u32 result (TPM 1.2 codes) and the
 * command's response fields. Requests are peer input: the code decides the
 * exact request length, and an unknown code ends the connection.
 *
 * SET_DATAFD (QEMU's tpm-emulator passes its data socket this way) has no
 * request bytes: the fd comes as SCM_RIGHTS with the code; the transport
 * (worker.c) receives it and ops->set_datafd takes it.
 *
 * Refused on purpose, not advertised in GET_CAPABILITY:
 * GET_STATEBLOB / SET_STATEBLOB: the blob is the TPM's plaintext state
 * (seeds, NV, keys); whoever holds the control socket could clone the TPM or
 * plant one. State leaves a worker only towards the manager, which seals it;
 * an instance moves between hosts as its sealed directory plus the manager
 * key. GET_STATEBLOB has a fixed request, so it is answered with
 * BAD_ORDINAL in its own response layout and the stream goes on;
 * SET_STATEBLOB carries a blob of peer-chosen length and is refused as
 * unknown (BAD_ORDINAL, then the stream closes).
 * INIT / STOP / SHUTDOWN: every control stream of a worker is the guest's,
 * and a guest that could power-cycle its TPM could reset its PCRs and replay
 * its event log: attestation would pass (and a volume sealed to its PCRs
 * unseal) for a guest that did not boot as measured. Only dom0 power-cycles
 * an instance, through vtpmd (VTPM_RESET), before it measures the guest. The
 * requests are fixed-size, so they are answered with BAD_ORDINAL and the
 * stream goes on. tpm2-tss's swtpm TCTI sends only SET_LOCALITY (and INIT
 * in Tss2_Tcti_Swtpm_Reset, which then fails); QEMU's tpm-emulator, which
 * stops and inits the TPM itself at every VM reset, needs a VMM that dom0
 * trusts with power (not offered by this socket).
 * Not implemented (refused as unknown): HASH_* (TIS locality-4 hashing,
 * TPM 1.2 DRTM), STORE_VOLATILE (volatile state is never persisted: a
 * restart is a power cycle), GET_INFO.
 */
#include <errno.h>
#include <string.h>

#include "vtpm.h"

int vt_ctrl_req_size(uint32_t cmd)
{
	switch (cmd) {
	case VT_CMD_GET_CAPABILITY:
	case VT_CMD_SHUTDOWN:
	case VT_CMD_GET_TPMESTABLISHED:
	case VT_CMD_CANCEL_TPM_CMD:
	case VT_CMD_STOP:
	case VT_CMD_GET_CONFIG:
	case VT_CMD_SET_DATAFD:
		return 0;
	case VT_CMD_GET_STATEBLOB:
		return 12; /* state_flags, type, offset */
	case VT_CMD_SET_LOCALITY:
	case VT_CMD_RESET_TPMESTABLISHED:
		return 1;
	case VT_CMD_INIT:
	case VT_CMD_SET_BUFFERSIZE:
		return 4;
	default:
		return -EOPNOTSUPP;
	}
}

void vt_ctrl_parser_init(struct vt_ctrl_parser *p)
{
	p->have = 0;
	p->need = 4;
}

static void decode(const struct vt_ctrl_parser *p, struct vt_ctrl_req *ret)
{
	ret->cmd = vt_be32(p->buf);
	ret->arg = 0;
	if (p->need == 5)
		ret->arg = p->buf[4];
	else if (p->need == 8)
		ret->arg = vt_be32(p->buf + 4);
}

ssize_t vt_ctrl_feed(struct vt_ctrl_parser *p, const uint8_t *untrusted_in, size_t len,
		     struct vt_ctrl_req *ret, bool *ret_done)
{
	size_t used = 0;

	*ret_done = false;
	for (;;) {
		if (p->have == 4 && p->need == 4) {
			int sz = vt_ctrl_req_size(vt_be32(p->buf));

			if (sz < 0)
				return -EOPNOTSUPP;
			p->need = 4 + (uint32_t)sz;
		}
		if (p->have == p->need) {
			decode(p, ret);
			vt_ctrl_parser_init(p);
			*ret_done = true;
			return (ssize_t)used;
		}
		if (used == len)
			return (ssize_t)used;
		p->buf[p->have++] = untrusted_in[used++];
	}
}

static uint32_t result(int r)
{
	if (r == -EINVAL)
		return VT_PTM_BAD_PARAMETER;
	return r < 0 ? VT_PTM_FAIL : VT_PTM_SUCCESS;
}

size_t vt_ctrl_handle(const struct vt_ctrl_req *req, const struct vt_ctrl_ops *ops, void *ctx,
		      uint8_t *out)
{
	uint32_t caps = VT_CAP_GET_TPMESTABLISHED | VT_CAP_SET_LOCALITY | VT_CAP_CANCEL_TPM_CMD |
			VT_CAP_RESET_TPMESTABLISHED | VT_CAP_GET_CONFIG | VT_CAP_SET_BUFFERSIZE |
			VT_CAP_SET_DATAFD;
	uint32_t min = 0, max = 0, cur;
	bool est = false;
	int r;

	switch (req->cmd) {
	case VT_CMD_GET_CAPABILITY:
		/* ptm_cap is a u64 with no result code in front. */
		memset(out, 0, 8);
		vt_put_be32(out + 4, caps);
		return 8;
	case VT_CMD_INIT:
	case VT_CMD_SHUTDOWN:
	case VT_CMD_STOP:
		/* Power is dom0's (VTPM_RESET through vtpmd), see above. */
		vt_put_be32(out, VT_PTM_BAD_ORDINAL);
		return 4;
	case VT_CMD_SET_LOCALITY:
		r = ops->set_locality(ctx, (uint8_t)req->arg);
		break;
	case VT_CMD_CANCEL_TPM_CMD:
		r = ops->cancel(ctx);
		break;
	case VT_CMD_RESET_TPMESTABLISHED:
		r = ops->reset_established(ctx, (uint8_t)req->arg);
		break;
	case VT_CMD_GET_TPMESTABLISHED:
		r = ops->get_established(ctx, &est);
		vt_put_be32(out, result(r));
		memset(out + 4, 0, 4); /* bit, then padding as in struct ptm_est */
		out[4] = est ? 1 : 0;
		return 8;
	case VT_CMD_GET_CONFIG:
		vt_put_be32(out, VT_PTM_SUCCESS);
		vt_put_be32(out + 4, 0); /* no file key, no migration key: the manager seals */
		return 8;
	case VT_CMD_SET_DATAFD:
		r = ops->set_datafd(ctx);
		break;
	case VT_CMD_GET_STATEBLOB:
		/* ptm_getstate's response: result, state_flags, totlength, length. */
		memset(out, 0, 16);
		vt_put_be32(out, VT_PTM_BAD_ORDINAL);
		return 16;
	case VT_CMD_SET_BUFFERSIZE:
		cur = ops->set_buffersize(ctx, req->arg, &min, &max);
		vt_put_be32(out, VT_PTM_SUCCESS);
		vt_put_be32(out + 4, cur);
		vt_put_be32(out + 8, min);
		vt_put_be32(out + 12, max);
		return 16;
	default:
		r = -EOPNOTSUPP;
		vt_put_be32(out, VT_PTM_BAD_ORDINAL);
		return 4;
	}
	vt_put_be32(out, result(r));
	return 4;
}
