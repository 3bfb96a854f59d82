/* SPDX-License-Identifier: MIT */
/*
 * Control-message header, per-type limits, body codecs and version
 * negotiation. See msg.h for the wire layout and its version history.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bulkhead/cursor.h"
#include "bulkhead/msg.h"
#include "bulkhead/parse.h"

/* Encoded size of a u16-length-prefixed string of at most n bytes. */
#define STR_MAX(n) (2u + (n))
#define NAME_MAX_LEN (BH_MSG_NAME_MAX - 1)

struct msg_type_info {
	const char *name;
	uint32_t min, max; /* body length limits, inclusive */
};

/*
 * The one table of per-type body limits. The header decoder rejects a length
 * outside these before any body byte is read.
 */
static const struct msg_type_info msg_types[BH_MSG_TYPE_MAX_] = {
	[BH_MSG_HELLO] = { "HELLO", 3 + STR_MAX(1), 3 + STR_MAX(NAME_MAX_LEN) },
	[BH_MSG_HELLO_ACK] = { "HELLO_ACK", 2 + STR_MAX(1), 2 + STR_MAX(NAME_MAX_LEN) },
	[BH_MSG_ERROR] = { "ERROR", 4 + STR_MAX(0), 4 + STR_MAX(BH_MSG_ERROR_TEXT_MAX - 1) },
	[BH_MSG_PING] = { "PING", 8, 8 },
	[BH_MSG_PONG] = { "PONG", 8, 8 },
	[BH_MSG_READY] = { "READY", 0, 0 },
	[BH_MSG_SHUTDOWN] = { "SHUTDOWN", 0, 0 },
	/* netdom: sizes spelled out in msg-netdom.c */
	[BH_MSG_POLICY_BEGIN] = { "POLICY_BEGIN", 21, 21 },
	[BH_MSG_POLICY_ZONE] = { "POLICY_ZONE", STR_MAX(1), STR_MAX(NAME_MAX_LEN) },
	[BH_MSG_POLICY_GUEST] = { "POLICY_GUEST", 15, 2 * STR_MAX(NAME_MAX_LEN) + STR_MAX(15) + 7 +
							   18 * BH_POLICY_ADDRS_MAX },
	[BH_MSG_POLICY_RULE] = { "POLICY_RULE", 52, 4 + STR_MAX(BH_POLICY_LABEL_MAX - 1) +
							2 * (19 + STR_MAX(NAME_MAX_LEN)) + 4 +
							4 * BH_POLICY_PORTS_MAX },
	[BH_MSG_POLICY_COMMIT] = { "POLICY_COMMIT", 8, 8 },
	[BH_MSG_POLICY_RESULT] = { "POLICY_RESULT", 16 + STR_MAX(0),
				   16 + STR_MAX(BH_MSG_ERROR_TEXT_MAX - 1) },
	[BH_MSG_COUNTERS_GET] = { "COUNTERS_GET", 0, 0 },
	[BH_MSG_COUNTERS] = { "COUNTERS", 20, 20 + 20 * BH_COUNTERS_PER_MSG },
	[BH_MSG_DROP_EVENT] = { "DROP_EVENT", 45, 43 + STR_MAX(NAME_MAX_LEN) },
	/* stordom: sizes spelled out in msg-stordom.c */
	[BH_MSG_VOLUME_OPEN] = { "VOLUME_OPEN", 2 * STR_MAX(1) + STR_MAX(0) + 9 + STR_MAX(0),
				 2 * STR_MAX(NAME_MAX_LEN) + 2 * STR_MAX(BH_VOLUME_PATH_MAX - 1) +
					 9 },
	[BH_MSG_VOLUME_CLOSE] = { "VOLUME_CLOSE", STR_MAX(1), STR_MAX(NAME_MAX_LEN) },
	[BH_MSG_VOLUME_GROW] = { "VOLUME_GROW", STR_MAX(1) + 8, STR_MAX(NAME_MAX_LEN) + 8 },
	[BH_MSG_VOLUME_ERASE] = { "VOLUME_ERASE", STR_MAX(1), STR_MAX(NAME_MAX_LEN) },
	[BH_MSG_VOLUME_RESULT] = { "VOLUME_RESULT", 12 + 2 * STR_MAX(0),
				   12 + STR_MAX(NAME_MAX_LEN) + STR_MAX(BH_MSG_ERROR_TEXT_MAX - 1) },
	/* vtpm: sizes spelled out in msg-vtpm.c */
	[BH_MSG_VTPM_CREATE] = { "VTPM_CREATE", STR_MAX(1), STR_MAX(NAME_MAX_LEN) },
	[BH_MSG_VTPM_START] = { "VTPM_START", STR_MAX(1), STR_MAX(NAME_MAX_LEN) },
	[BH_MSG_VTPM_STOP] = { "VTPM_STOP", STR_MAX(1), STR_MAX(NAME_MAX_LEN) },
	[BH_MSG_VTPM_DELETE] = { "VTPM_DELETE", STR_MAX(1), STR_MAX(NAME_MAX_LEN) },
	[BH_MSG_VTPM_RESULT] = { "VTPM_RESULT", 4 + 2 * STR_MAX(0),
				 4 + STR_MAX(NAME_MAX_LEN) + STR_MAX(BH_MSG_ERROR_TEXT_MAX - 1) },
	[BH_MSG_VTPM_STATE_LOAD] = { "VTPM_STATE_LOAD", 0, BH_MSG_BODY_MAX },
	[BH_MSG_VTPM_STATE_STORE] = { "VTPM_STATE_STORE", 1, BH_MSG_BODY_MAX },
	[BH_MSG_VTPM_RESET] = { "VTPM_RESET", STR_MAX(1), STR_MAX(NAME_MAX_LEN) },
	[BH_MSG_VTPM_RESEAL] = { "VTPM_RESEAL", 2 * STR_MAX(1) + 1, 2 * STR_MAX(NAME_MAX_LEN) + 1 },
	[BH_MSG_UNSEAL] = { "UNSEAL", 2 * STR_MAX(1) + 1, 2 * STR_MAX(NAME_MAX_LEN) + 1 },
	[BH_MSG_UNSEAL_RESULT] = { "UNSEAL_RESULT", 4 + 2 + STR_MAX(0),
				   4 + 2 + BH_UNSEAL_SECRET_MAX + STR_MAX(BH_MSG_ERROR_TEXT_MAX - 1) },
	/* vtpm/keyseal.c spells these out */
	[BH_MSG_VTPM_KEY_OP] = { "VTPM_KEY_OP", 2, 2048 },
	[BH_MSG_VTPM_KEY_RESULT] = { "VTPM_KEY_RESULT", 4, 2048 },
	[BH_MSG_CHAN_SERVE] = { "CHAN_SERVE", STR_MAX(1) + 5 + STR_MAX(1),
				STR_MAX(NAME_MAX_LEN) + 5 + STR_MAX(BH_CHAN_XS_PATH_MAX - 1) },
};

static const char *const role_names[BH_ROLE_MAX_] = {
	[BH_ROLE_DOM0] = "dom0",       [BH_ROLE_NETDOM] = "netdom", [BH_ROLE_STORDOM] = "stordom",
	[BH_ROLE_VTPM] = "vtpm",       [BH_ROLE_GUEST] = "guest",
};

static const struct msg_type_info *type_info(uint16_t type)
{
	if (type >= BH_MSG_TYPE_MAX_ || !msg_types[type].name)
		return NULL;
	return &msg_types[type];
}

const char *bh_msg_type_name(uint16_t type)
{
	const struct msg_type_info *t = type_info(type);

	return t ? t->name : "unknown";
}

const char *bh_role_name(uint8_t role)
{
	if (role >= BH_ROLE_MAX_ || !role_names[role])
		return "unknown";
	return role_names[role];
}

int bh_msg_body_limits(uint16_t type, uint32_t *ret_min, uint32_t *ret_max)
{
	const struct msg_type_info *t = type_info(type);

	if (!t)
		return -EOPNOTSUPP;
	*ret_min = t->min;
	*ret_max = t->max < BH_MSG_BODY_MAX ? t->max : BH_MSG_BODY_MAX;
	return 0;
}

void bh_msg_hdr_encode(const struct bh_msg_hdr *h, uint8_t out[BH_MSG_HDR_SIZE])
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, BH_MSG_HDR_SIZE);
	bh_wcursor_u32(&w, h->magic);
	bh_wcursor_u8(&w, h->version);
	bh_wcursor_u8(&w, h->flags);
	bh_wcursor_u16(&w, h->type);
	bh_wcursor_u32(&w, h->length);
	bh_wcursor_u32(&w, h->request_id);
}

int bh_msg_hdr_decode(const uint8_t untrusted_in[BH_MSG_HDR_SIZE], struct bh_msg_hdr *ret)
{
	struct bh_msg_hdr h = { 0 };
	struct bh_cursor c;
	uint32_t min, max;

	bh_cursor_init(&c, untrusted_in, BH_MSG_HDR_SIZE);
	bh_cursor_u32(&c, &h.magic);
	bh_cursor_u8(&c, &h.version);
	bh_cursor_u8(&c, &h.flags);
	bh_cursor_u16(&c, &h.type);
	bh_cursor_u32(&c, &h.length);
	bh_cursor_u32(&c, &h.request_id);
	if (bh_cursor_finish(&c) < 0 || h.magic != BH_MSG_MAGIC)
		return -EBADMSG;
	if (bh_msg_body_limits(h.type, &min, &max) < 0)
		return -EOPNOTSUPP;
	if (h.version < BH_MSG_VERSION_MIN || h.version > BH_MSG_VERSION_MAX)
		return -EPROTONOSUPPORT;
	if (h.flags & ~(uint8_t)BH_MSGF_ALL_)
		return -EBADMSG;
	if (h.length < min || h.length > max)
		return -EMSGSIZE;
	*ret = h;
	return 0;
}

int bh_msg_get_name(struct bh_cursor *c, char out[BH_MSG_NAME_MAX], bool may_be_empty)
{
	if (bh_cursor_str(c, out, BH_MSG_NAME_MAX) < 0)
		return c->err;
	if (out[0] == '\0' ? !may_be_empty : bh_check_name(out) < 0)
		bh_cursor_fail(c);
	return c->err;
}

long bh_msg_name_body_encode(const char *name, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_str(&w, name);
	return bh_wcursor_finish(&w);
}

int bh_msg_name_body_decode(const void *untrusted_body, size_t len, char out[BH_MSG_NAME_MAX])
{
	char name[BH_MSG_NAME_MAX] = "";
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_msg_get_name(&c, name, false);
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	memcpy(out, name, sizeof(name));
	return 0;
}

long bh_msg_chan_serve_encode(const struct bh_msg_chan_serve *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_str(&w, m->name);
	bh_wcursor_u8(&w, (uint8_t)m->kind);
	bh_wcursor_u32(&w, m->domid);
	bh_wcursor_str(&w, m->xs_path);
	return bh_wcursor_finish(&w);
}

/* Relative, components of [A-Za-z0-9_-], none empty: nothing to climb out with. */
static bool xs_path_ok(const char *p)
{
	size_t comp = 0;

	if (!*p)
		return false;
	for (; *p; p++) {
		if (*p == '/') {
			if (!comp)
				return false;
			comp = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			   (*p >= '0' && *p <= '9') || *p == '_' || *p == '-') {
			comp++;
		} else {
			return false;
		}
	}
	return comp > 0;
}

int bh_msg_chan_serve_decode(const void *untrusted_body, size_t len,
			     struct bh_msg_chan_serve *ret)
{
	struct bh_msg_chan_serve m = { 0 };
	struct bh_cursor c;
	uint8_t kind = 0;

	bh_cursor_init(&c, untrusted_body, len);
	bh_msg_get_name(&c, m.name, false);
	bh_cursor_u8(&c, &kind);
	m.kind = kind;
	bh_cursor_u32(&c, &m.domid);
	bh_cursor_str(&c, m.xs_path, sizeof(m.xs_path));
	if (bh_cursor_finish(&c) < 0 || m.kind >= BH_CHAN_SERVE_KIND_MAX_ ||
	    m.domid > BH_DOMID_MAX || !xs_path_ok(m.xs_path))
		return -EBADMSG;
	*ret = m;
	return 0;
}

static int check_role(uint8_t role)
{
	return (role >= 1 && role < BH_ROLE_MAX_) ? 0 : -EBADMSG;
}

long bh_msg_hello_encode(const struct bh_msg_hello *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u8(&w, m->version_min);
	bh_wcursor_u8(&w, m->version_max);
	bh_wcursor_u8(&w, m->role);
	bh_wcursor_str(&w, m->name);
	return bh_wcursor_finish(&w);
}

int bh_msg_hello_decode(const void *untrusted_body, size_t len, struct bh_msg_hello *ret)
{
	struct bh_msg_hello m = { 0 };
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u8(&c, &m.version_min);
	bh_cursor_u8(&c, &m.version_max);
	bh_cursor_u8(&c, &m.role);
	bh_msg_get_name(&c, m.name, false);
	if (bh_cursor_finish(&c) < 0 || check_role(m.role) < 0 ||
	    m.version_min > m.version_max || m.version_min == 0)
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_hello_ack_encode(const struct bh_msg_hello_ack *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u8(&w, m->version);
	bh_wcursor_u8(&w, m->role);
	bh_wcursor_str(&w, m->name);
	return bh_wcursor_finish(&w);
}

int bh_msg_hello_ack_decode(const void *untrusted_body, size_t len, struct bh_msg_hello_ack *ret)
{
	struct bh_msg_hello_ack m = { 0 };
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u8(&c, &m.version);
	bh_cursor_u8(&c, &m.role);
	bh_msg_get_name(&c, m.name, false);
	if (bh_cursor_finish(&c) < 0 || check_role(m.role) < 0 || m.version == 0)
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_error_encode(const struct bh_msg_error *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u32(&w, (uint32_t)m->code);
	bh_wcursor_str(&w, m->text);
	return bh_wcursor_finish(&w);
}

int bh_msg_error_decode(const void *untrusted_body, size_t len, struct bh_msg_error *ret)
{
	struct bh_msg_error m = { 0 };
	struct bh_cursor c;
	uint32_t code = 0;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u32(&c, &code);
	bh_cursor_str(&c, m.text, sizeof(m.text));
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	/* Only a negative errno is a valid code: 1..4095 as a magnitude. */
	m.code = (int32_t)code;
	if (m.code >= 0 || m.code < -4095)
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_ping_encode(const struct bh_msg_ping *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u64(&w, m->token);
	return bh_wcursor_finish(&w);
}

int bh_msg_ping_decode(const void *untrusted_body, size_t len, struct bh_msg_ping *ret)
{
	struct bh_msg_ping m = { 0 };
	struct bh_cursor c;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u64(&c, &m.token);
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	*ret = m;
	return 0;
}

int bh_msg_negotiate(uint8_t our_min, uint8_t our_max, uint8_t peer_min, uint8_t peer_max,
		     uint8_t *ret)
{
	uint8_t lo = our_min > peer_min ? our_min : peer_min;
	uint8_t hi = our_max < peer_max ? our_max : peer_max;

	if (our_min > our_max || peer_min > peer_max || lo > hi || hi == 0)
		return -EPROTONOSUPPORT;
	*ret = hi;
	return 0;
}

long bh_msg_frame(uint16_t type, uint8_t flags, uint32_t request_id, uint8_t version,
		  const void *body, size_t body_len, void *out, size_t cap)
{
	struct bh_msg_hdr h = {
		.magic = BH_MSG_MAGIC,
		.version = version,
		.flags = flags,
		.type = type,
		.request_id = request_id,
	};
	uint32_t min, max;

	if (bh_msg_body_limits(type, &min, &max) < 0)
		return -EOPNOTSUPP;
	if (body_len < min || body_len > max)
		return -EMSGSIZE;
	if (cap < BH_MSG_HDR_SIZE || body_len > cap - BH_MSG_HDR_SIZE)
		return -ENOBUFS;
	h.length = (uint32_t)body_len;
	bh_msg_hdr_encode(&h, out);
	if (body_len)
		memcpy((uint8_t *)out + BH_MSG_HDR_SIZE, body, body_len);
	return (long)(BH_MSG_HDR_SIZE + body_len);
}

int bh_msg_parse(const void *untrusted_buf, size_t len, struct bh_msg_hdr *ret_hdr,
		 const uint8_t **ret_body)
{
	struct bh_msg_hdr h = { 0 };
	int r;

	if (len < BH_MSG_HDR_SIZE)
		return -EBADMSG;
	r = bh_msg_hdr_decode(untrusted_buf, &h);
	if (r < 0)
		return r;
	if (h.length != len - BH_MSG_HDR_SIZE)
		return -EBADMSG;
	*ret_hdr = h;
	*ret_body = (const uint8_t *)untrusted_buf + BH_MSG_HDR_SIZE;
	return 0;
}
