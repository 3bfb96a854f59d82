/* SPDX-License-Identifier: MIT */
/*
 * The management socket's wire format: dom0-local (only `bulkhead` speaks
 * it, on both ends), so it is not among the control messages of msg.h.
 * The socket is SOCK_SEQPACKET: one message per packet, so no framing; each
 * is decoded with a cursor that refuses short input and trailing bytes.
 *
 *   request   u8 version (1)  u8 op (enum bh_mgmt_op)  u8 flags (BH_MGMT_F_*)
 *             u16 len + target bytes (a domain name, or empty; < 64)
 *   response  u8 version (1)  u8 flags (BH_MGMT_R_FINAL on the last)
 *             i32 status (0 or -errno)  u32 len + text bytes (<= BH_MGMT_TEXT_MAX)
 *
 * A request is answered by one or more responses, the last one FINAL; the
 * status of the FINAL one is the request's. Integers are big-endian.
 * Version history: 1 (2026-11) as above.
 */
#include "bulkhead/cursor.h"
#include "dom0.h"

#define MGMT_VERSION 1

static const char *const op_names[] = {
	[BH_MGMT_STATUS] = "status", [BH_MGMT_LOGS] = "logs", [BH_MGMT_DOWN] = "down",
	[BH_MGMT_RESTART] = "restart", [BH_MGMT_POLICY] = "policy", [BH_MGMT_RESEAL] = "reseal",
};

static const unsigned op_perms[] = {
	[BH_MGMT_STATUS] = BH_PERM_STATUS, [BH_MGMT_LOGS] = BH_PERM_LOGS,
	[BH_MGMT_DOWN] = BH_PERM_DOWN, [BH_MGMT_RESTART] = BH_PERM_RESTART,
	[BH_MGMT_POLICY] = BH_PERM_POLICY, [BH_MGMT_RESEAL] = BH_PERM_RESEAL,
};

const char *bh_mgmt_op_name(unsigned op)
{
	return op > 0 && op < BH_MGMT_OP_MAX_ ? op_names[op] : "unknown";
}

unsigned bh_mgmt_op_perm(unsigned op)
{
	return op > 0 && op < BH_MGMT_OP_MAX_ ? op_perms[op] : 0;
}

long bh_mgmt_req_encode(const struct bh_mgmt_req *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u8(&w, MGMT_VERSION);
	bh_wcursor_u8(&w, m->op);
	bh_wcursor_u8(&w, m->flags);
	bh_wcursor_str(&w, m->target);
	return bh_wcursor_finish(&w);
}

int bh_mgmt_req_decode(const void *untrusted_data, size_t len, struct bh_mgmt_req *ret)
{
	struct bh_mgmt_req m = { 0 };
	struct bh_cursor c;
	uint8_t version = 0;

	bh_cursor_init(&c, untrusted_data, len);
	bh_cursor_u8(&c, &version);
	bh_cursor_u8(&c, &m.op);
	bh_cursor_u8(&c, &m.flags);
	bh_cursor_str(&c, m.target, sizeof(m.target));
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	if (version != MGMT_VERSION)
		return -EPROTONOSUPPORT;
	if (m.op == 0 || m.op >= BH_MGMT_OP_MAX_ || (m.flags & ~BH_MGMT_F_ALL_))
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_mgmt_resp_encode(const struct bh_mgmt_resp *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	if (m->len > BH_MGMT_TEXT_MAX)
		return -EINVAL;
	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u8(&w, MGMT_VERSION);
	bh_wcursor_u8(&w, m->flags);
	bh_wcursor_u32(&w, (uint32_t)m->status);
	bh_wcursor_u32(&w, (uint32_t)m->len);
	bh_wcursor_bytes(&w, m->text, m->len);
	return bh_wcursor_finish(&w);
}

int bh_mgmt_resp_decode(const void *untrusted_data, size_t len, struct bh_mgmt_resp *ret)
{
	struct bh_mgmt_resp m = { 0 };
	const uint8_t *text = NULL;
	uint32_t status = 0, n = 0;
	uint8_t version = 0;
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_data, len);
	bh_cursor_u8(&c, &version);
	bh_cursor_u8(&c, &m.flags);
	bh_cursor_u32(&c, &status);
	bh_cursor_u32(&c, &n);
	if (c.err == 0 && n > BH_MGMT_TEXT_MAX)
		return -EBADMSG;
	bh_cursor_ref(&c, n, &text);
	if (bh_cursor_finish(&c) < 0 || (m.flags & ~BH_MGMT_R_FINAL))
		return -EBADMSG;
	if (version != MGMT_VERSION)
		return -EPROTONOSUPPORT;
	m.status = (int32_t)status;
	if (m.status > 0 || m.status < -4095)
		return -EBADMSG;
	m.text = (const char *)text;
	m.len = n;
	*ret = m;
	return 0;
}
