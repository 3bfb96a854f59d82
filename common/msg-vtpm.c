/* SPDX-License-Identifier: MIT */
/*
 * vtpm control-message bodies (see msg.h): instance references and results.
 * STATE_LOAD / STATE_STORE carry an opaque blob and need no codec.
 *
 *   VTPM_CREATE/START/STOP/DELETE   str name (a bulkhead name)
 *   VTPM_RESULT                     i32 status (0 or -errno), str name ("" or
 *                                   a bulkhead name), str text
 *   UNSEAL, VTPM_RESEAL             str guest, str volume, u8 flags
 *   UNSEAL_RESULT                   i32 status, u16 len + secret (len 0 unless
 *                                   status is 0), str text
 */
#include <errno.h>
#include <string.h>

#include "bulkhead/cursor.h"
#include "bulkhead/msg.h"
#include "bulkhead/parse.h"

long bh_msg_vtpm_ref_encode(const struct bh_msg_vtpm_ref *m, void *out, size_t cap)
{
	return bh_msg_name_body_encode(m->name, out, cap);
}

int bh_msg_vtpm_ref_decode(const void *untrusted_body, size_t len, struct bh_msg_vtpm_ref *ret)
{
	struct bh_msg_vtpm_ref m = { 0 };
	int r = bh_msg_name_body_decode(untrusted_body, len, m.name);

	if (r < 0)
		return r;
	*ret = m;
	return 0;
}

long bh_msg_vtpm_result_encode(const struct bh_msg_vtpm_result *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u32(&w, (uint32_t)m->status);
	bh_wcursor_str(&w, m->name);
	bh_wcursor_str(&w, m->text);
	return bh_wcursor_finish(&w);
}

int bh_msg_vtpm_result_decode(const void *untrusted_body, size_t len,
			      struct bh_msg_vtpm_result *ret)
{
	struct bh_msg_vtpm_result m = { 0 };
	struct bh_cursor c;
	uint32_t status = 0;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u32(&c, &status);
	bh_msg_get_name(&c, m.name, true);
	bh_cursor_str(&c, m.text, sizeof(m.text));
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	m.status = (int32_t)status;
	/* 0 or a negative errno. */
	if (m.status > 0 || m.status < -4095)
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_unseal_encode(const struct bh_msg_unseal *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_str(&w, m->guest);
	bh_wcursor_str(&w, m->volume);
	bh_wcursor_u8(&w, m->flags);
	return bh_wcursor_finish(&w);
}

int bh_msg_unseal_decode(const void *untrusted_body, size_t len, struct bh_msg_unseal *ret)
{
	struct bh_msg_unseal m = { 0 };
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_msg_get_name(&c, m.guest, false);
	bh_msg_get_name(&c, m.volume, false);
	bh_cursor_u8(&c, &m.flags);
	if (bh_cursor_finish(&c) < 0 || (m.flags & ~BH_UNSEAL_FLAGS_ALL_))
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_unseal_result_encode(const struct bh_msg_unseal_result *m, void *out, size_t cap)
{
	struct bh_wcursor w;
	uint16_t n = m->status == 0 ? m->secret_len : 0;

	if (n > BH_UNSEAL_SECRET_MAX)
		return -EINVAL;
	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u32(&w, (uint32_t)m->status);
	bh_wcursor_u16(&w, n);
	bh_wcursor_bytes(&w, m->secret, n);
	bh_wcursor_str(&w, m->text);
	return bh_wcursor_finish(&w);
}

int bh_msg_unseal_result_decode(const void *untrusted_body, size_t len,
				struct bh_msg_unseal_result *ret)
{
	struct bh_cursor c;
	uint32_t status = 0;
	uint16_t n = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u32(&c, &status);
	bh_cursor_u16(&c, &n);
	if (n > BH_UNSEAL_SECRET_MAX)
		bh_cursor_fail(&c);
	else
		bh_cursor_bytes(&c, ret->secret, n);
	bh_cursor_str(&c, ret->text, sizeof(ret->text));
	r = bh_cursor_finish(&c);
	ret->status = (int32_t)status;
	ret->secret_len = n;
	/* 0 or a negative errno; a secret only with success. */
	if (r == 0 && (ret->status > 0 || ret->status < -4095 || (ret->status && n)))
		r = -EBADMSG;
	if (r < 0) {
		explicit_bzero(ret, sizeof(*ret));
		return -EBADMSG;
	}
	return 0;
}
