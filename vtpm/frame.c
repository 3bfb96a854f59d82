/* SPDX-License-Identifier: MIT */
/*
 * Framing of raw TPM 2.0 commands on the data channel (the swtpm socket
 * interface: no extra header, the command's own size field delimits it).
 * Everything here is peer input: the header is validated before a body byte
 * is buffered, and the size limit is enforced before libtpms sees anything.
 */
#include <errno.h>
#include <string.h>

#include "vtpm.h"

void vt_tpm_error_response(uint8_t out[VT_TPM_HDR_SIZE], uint32_t rc)
{
	out[0] = VT_TPM_ST_NO_SESSIONS >> 8;
	out[1] = VT_TPM_ST_NO_SESSIONS & 0xff;
	vt_put_be32(out + 2, VT_TPM_HDR_SIZE);
	vt_put_be32(out + 6, rc);
}

void vt_framer_init(struct vt_framer *f, uint32_t max)
{
	f->max = max < VT_TPM_CMD_MAX ? max : VT_TPM_CMD_MAX;
	if (f->max < VT_TPM_HDR_SIZE)
		f->max = VT_TPM_HDR_SIZE;
	f->need = 0;
	f->have = 0;
	f->err_rc = 0;
}

/* The header is complete: check it once, remember the size. */
static int check_header(struct vt_framer *f)
{
	uint16_t tag = vt_be16(f->buf);
	uint32_t size = vt_be32(f->buf + 2);

	if (tag != VT_TPM_ST_NO_SESSIONS && tag != VT_TPM_ST_SESSIONS) {
		f->err_rc = VT_TPM_RC_BAD_TAG;
		return -EBADMSG;
	}
	if (size < VT_TPM_HDR_SIZE || size > f->max) {
		f->err_rc = VT_TPM_RC_COMMAND_SIZE;
		return -EBADMSG;
	}
	f->need = size;
	return 0;
}

ssize_t vt_framer_feed(struct vt_framer *f, const uint8_t *untrusted_in, size_t len)
{
	size_t used = 0;

	if (f->err_rc)
		return -EBADMSG;
	while (used < len && !vt_framer_command(f)) {
		uint32_t want = f->need ? f->need : VT_TPM_HDR_SIZE;
		size_t n = want - f->have;

		if (n > len - used)
			n = len - used;
		memcpy(f->buf + f->have, untrusted_in + used, n);
		f->have += (uint32_t)n;
		used += n;
		if (!f->need && f->have == VT_TPM_HDR_SIZE && check_header(f) < 0)
			return -EBADMSG;
	}
	return (ssize_t)used;
}

uint32_t vt_framer_command(const struct vt_framer *f)
{
	return f->need && f->have == f->need ? f->need : 0;
}

void vt_framer_next(struct vt_framer *f)
{
	f->need = 0;
	f->have = 0;
}

bool vt_framer_partial(const struct vt_framer *f)
{
	return f->have > 0 && !vt_framer_command(f);
}
