/* SPDX-License-Identifier: MIT */
/*
 * The NBD protocol as a pure function of the bytes a client sends: the fixed
 * newstyle handshake (EXPORT_NAME, ABORT, LIST, INFO, GO, STRUCTURED_REPLY),
 * the request header check and the reply encoders. No I/O, no allocation in
 * transmission, so the whole surface a guest reaches can be fuzzed.
 *
 * Everything the client sends is untrusted: each option and request is
 * length-checked before it is looked at, and anything that leaves the stream
 * unframeable (bad magic, oversized option or WRITE) ends the connection
 * rather than guessing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/cursor.h"
#include "stordom.h"

#define NBD_MAGIC 0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_IHAVEOPT 0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC 0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu

enum {
	NBD_FLAG_FIXED_NEWSTYLE = 1 << 0,
	NBD_FLAG_NO_ZEROES = 1 << 1,
};

enum {
	NBD_OPT_EXPORT_NAME = 1,
	NBD_OPT_ABORT = 2,
	NBD_OPT_LIST = 3,
	NBD_OPT_STARTTLS = 5,
	NBD_OPT_INFO = 6,
	NBD_OPT_GO = 7,
	NBD_OPT_STRUCTURED_REPLY = 8,
};

#define NBD_REP_ERR(n) ((1u << 31) | (n))
enum {
	NBD_REP_ACK = 1,
	NBD_REP_SERVER = 2,
	NBD_REP_INFO = 3,
	NBD_REP_ERR_UNSUP = NBD_REP_ERR(1),
	NBD_REP_ERR_INVALID = NBD_REP_ERR(3),
	NBD_REP_ERR_UNKNOWN = NBD_REP_ERR(6),
};

enum {
	NBD_INFO_EXPORT = 0,
	NBD_INFO_NAME = 1,
	NBD_INFO_BLOCK_SIZE = 3,
};

enum {
	NBD_FLAG_HAS_FLAGS = 1 << 0,
	NBD_FLAG_READ_ONLY = 1 << 1,
	NBD_FLAG_SEND_FLUSH = 1 << 2,
	NBD_FLAG_SEND_FUA = 1 << 3,
	NBD_FLAG_SEND_TRIM = 1 << 5,
	NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6,
	NBD_FLAG_CAN_MULTI_CONN = 1 << 8,
};

enum {
	NBD_REPLY_FLAG_DONE = 1 << 0,
	NBD_REPLY_TYPE_NONE = 0,
	NBD_REPLY_TYPE_OFFSET_DATA = 1,
	NBD_REPLY_TYPE_ERROR = (1 << 15) + 1,
};

/* ------------------------------------------------------------------------ */

void sd_nbd_out_free(struct sd_nbd_out *o)
{
	free(o->buf);
	*o = (struct sd_nbd_out){ 0 };
}

static uint8_t *out_reserve(struct sd_nbd_out *o, size_t n)
{
	if (o->err)
		return NULL;
	if (n > o->cap - o->len) {
		size_t cap = o->cap ? o->cap : 256;
		uint8_t *p;

		while (cap - o->len < n)
			cap *= 2;
		p = realloc(o->buf, cap);
		if (!p) {
			o->err = -ENOMEM;
			return NULL;
		}
		o->buf = p;
		o->cap = cap;
	}
	o->len += n;
	return o->buf + o->len - n;
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void out_be(struct sd_nbd_out *o, uint64_t v, int bytes)
{
	uint8_t *p = out_reserve(o, (size_t)bytes);

	if (p)
		put_be(p, v, bytes);
}

static void out_bytes(struct sd_nbd_out *o, const void *data, size_t n)
{
	uint8_t *p = out_reserve(o, n);

	if (p && n)
		memcpy(p, data, n);
}

/* One option reply header; its payload follows with out_be/out_bytes. */
static void opt_reply(struct sd_nbd_out *o, uint32_t opt, uint32_t type, uint32_t len)
{
	out_be(o, NBD_REP_MAGIC, 8);
	out_be(o, opt, 4);
	out_be(o, type, 4);
	out_be(o, len, 4);
}

/* ------------------------------------------------------------------------ */

void sd_nbd_session_init(struct sd_nbd_session *s, const struct sd_nbd_exports_ops *ops,
			 void *ctx)
{
	*s = (struct sd_nbd_session){ .phase = SD_NBD_PHASE_CLIENT_FLAGS, .ops = ops,
				      .ops_ctx = ctx };
}

void sd_nbd_greeting(uint8_t out[SD_NBD_GREETING_SIZE])
{
	put_be(out, NBD_MAGIC, 8);
	put_be(out + 8, NBD_IHAVEOPT, 8);
	put_be(out + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, 2);
}

static uint16_t transmission_flags(const struct sd_nbd_export *e)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
		     NBD_FLAG_CAN_MULTI_CONN; /* FLUSH on any connection syncs the one file */

	if (e->readonly)
		f |= NBD_FLAG_READ_ONLY;
	else
		f |= NBD_FLAG_SEND_WRITE_ZEROES | (e->discard ? NBD_FLAG_SEND_TRIM : 0);
	return f;
}

static int client_flags(struct sd_nbd_session *s, const uint8_t *untrusted)
{
	uint32_t f = (uint32_t)untrusted[0] << 24 | (uint32_t)untrusted[1] << 16 |
		     (uint32_t)untrusted[2] << 8 | untrusted[3];

	/* Only fixed newstyle, and no flag we did not offer. */
	if (!(f & NBD_FLAG_FIXED_NEWSTYLE) || (f & ~(uint32_t)(NBD_FLAG_FIXED_NEWSTYLE |
							       NBD_FLAG_NO_ZEROES)))
		return -EPROTO;
	s->no_zeroes = f & NBD_FLAG_NO_ZEROES;
	s->phase = SD_NBD_PHASE_OPTIONS;
	return 4;
}

/* A name from the client: no NUL inside (we hand it on as a C string). */
static int copy_name(const uint8_t *untrusted, uint32_t len, char out[SD_NBD_NAME_MAX + 1])
{
	if (len > SD_NBD_NAME_MAX || memchr(untrusted, 0, len))
		return -EINVAL;
	memcpy(out, untrusted, len);
	out[len] = '\0';
	return 0;
}

static int lookup(struct sd_nbd_session *s, const char *name)
{
	return s->ops->lookup(s->ops_ctx, name, &s->exp, &s->handle);
}

static int opt_export_name(struct sd_nbd_session *s, const uint8_t *untrusted, uint32_t len,
			   struct sd_nbd_out *o)
{
	static const uint8_t zeroes[124];
	char name[SD_NBD_NAME_MAX + 1];

	/* EXPORT_NAME cannot be refused politely: an unknown name is a hang-up. */
	if (copy_name(untrusted, len, name) < 0 || lookup(s, name) < 0)
		return -ENOENT;
	out_be(o, s->exp.size, 8);
	out_be(o, transmission_flags(&s->exp), 2);
	if (!s->no_zeroes)
		out_bytes(o, zeroes, sizeof(zeroes));
	s->phase = SD_NBD_PHASE_TRANSMISSION;
	return 0;
}

static void opt_list(struct sd_nbd_session *s, uint32_t len, struct sd_nbd_out *o)
{
	const char *name;

	if (len) {
		opt_reply(o, NBD_OPT_LIST, NBD_REP_ERR_INVALID, 0);
		return;
	}
	for (size_t i = 0; (name = s->ops->list(s->ops_ctx, i)) != NULL; i++) {
		uint32_t n = (uint32_t)strlen(name);

		opt_reply(o, NBD_OPT_LIST, NBD_REP_SERVER, 4 + n);
		out_be(o, n, 4);
		out_bytes(o, name, n);
	}
	opt_reply(o, NBD_OPT_LIST, NBD_REP_ACK, 0);
}

/* INFO/GO body: u32 name length, name, u16 count, count * u16 info type; nothing more. */
static int parse_info_req(const uint8_t *untrusted, uint32_t len, char name[SD_NBD_NAME_MAX + 1],
			  bool *ret_want_name)
{
	struct bh_cursor c;
	const uint8_t *p = NULL;
	uint32_t nlen = 0;
	uint16_t n = 0, type = 0;

	bh_cursor_init(&c, untrusted, len);
	bh_cursor_u32(&c, &nlen);
	if (nlen > SD_NBD_NAME_MAX || bh_cursor_ref(&c, nlen, &p) < 0 ||
	    copy_name(p, nlen, name) < 0)
		return -EINVAL;
	bh_cursor_u16(&c, &n);
	*ret_want_name = false;
	for (uint16_t i = 0; i < n && bh_cursor_u16(&c, &type) == 0; i++)
		if (type == NBD_INFO_NAME)
			*ret_want_name = true;
	return bh_cursor_finish(&c) < 0 ? -EINVAL : 0;
}

static void info_replies(struct sd_nbd_session *s, uint32_t opt, const char *name, bool want_name,
			 struct sd_nbd_out *o)
{
	uint32_t nlen = (uint32_t)strlen(name);

	opt_reply(o, opt, NBD_REP_INFO, 12);
	out_be(o, NBD_INFO_EXPORT, 2);
	out_be(o, s->exp.size, 8);
	out_be(o, transmission_flags(&s->exp), 2);
	/* Always sent: requests must be whole, aligned sectors (and capped). */
	opt_reply(o, opt, NBD_REP_INFO, 14);
	out_be(o, NBD_INFO_BLOCK_SIZE, 2);
	out_be(o, s->exp.block_min, 4);
	out_be(o, s->exp.block_min > SD_SECTOR_SIZE ? s->exp.block_min : SD_SECTOR_SIZE, 4);
	out_be(o, SD_NBD_MAX_PAYLOAD, 4);
	if (want_name) {
		opt_reply(o, opt, NBD_REP_INFO, 2 + nlen);
		out_be(o, NBD_INFO_NAME, 2);
		out_bytes(o, name, nlen);
	}
	opt_reply(o, opt, NBD_REP_ACK, 0);
}

static void opt_info_go(struct sd_nbd_session *s, uint32_t opt, const uint8_t *untrusted,
			uint32_t len, struct sd_nbd_out *o)
{
	char name[SD_NBD_NAME_MAX + 1];
	bool want_name;

	if (parse_info_req(untrusted, len, name, &want_name) < 0) {
		opt_reply(o, opt, NBD_REP_ERR_INVALID, 0);
		return;
	}
	if (lookup(s, name) < 0) {
		opt_reply(o, opt, NBD_REP_ERR_UNKNOWN, 0);
		return;
	}
	info_replies(s, opt, name, want_name, o);
	if (opt == NBD_OPT_GO)
		s->phase = SD_NBD_PHASE_TRANSMISSION;
}

static int option(struct sd_nbd_session *s, uint32_t opt, const uint8_t *untrusted, uint32_t len,
		  struct sd_nbd_out *o)
{
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		return opt_export_name(s, untrusted, len, o);
	case NBD_OPT_ABORT:
		opt_reply(o, opt, NBD_REP_ACK, 0);
		s->phase = SD_NBD_PHASE_CLOSED;
		return -ECONNABORTED;
	case NBD_OPT_LIST:
		opt_list(s, len, o);
		return 0;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		opt_info_go(s, opt, untrusted, len, o);
		return 0;
	case NBD_OPT_STRUCTURED_REPLY:
		if (len == 0)
			s->structured = true;
		opt_reply(o, opt, len ? NBD_REP_ERR_INVALID : NBD_REP_ACK, 0);
		return 0;
	default: /* STARTTLS included: this server does no TLS (the channel is the boundary) */
		opt_reply(o, opt, NBD_REP_ERR_UNSUP, 0);
		return 0;
	}
}

static ssize_t options(struct sd_nbd_session *s, const uint8_t *untrusted, size_t len,
		       struct sd_nbd_out *o)
{
	struct bh_cursor c;
	uint64_t magic = 0;
	uint32_t opt = 0, olen = 0;
	int r;

	if (len < 16)
		return 0;
	bh_cursor_init(&c, untrusted, 16);
	bh_cursor_u64(&c, &magic);
	bh_cursor_u32(&c, &opt);
	bh_cursor_u32(&c, &olen);
	if (magic != NBD_IHAVEOPT || olen > SD_NBD_OPTION_MAX ||
	    ++s->n_options > SD_NBD_OPTIONS_MAX)
		return -EPROTO;
	if (len - 16 < olen)
		return 0;
	r = option(s, opt, untrusted + 16, olen, o);
	if (r < 0)
		return r;
	return o->err ? o->err : (ssize_t)(16 + olen);
}

ssize_t sd_nbd_handshake(struct sd_nbd_session *s, const uint8_t *untrusted, size_t len,
			 struct sd_nbd_out *out)
{
	switch (s->phase) {
	case SD_NBD_PHASE_CLIENT_FLAGS:
		return len < 4 ? 0 : client_flags(s, untrusted);
	case SD_NBD_PHASE_OPTIONS:
		return options(s, untrusted, len, out);
	default:
		return -EINVAL;
	}
}

/* ------------------------------------------------------------------------ */

/* Whole sectors inside the export; WRITE-like commands past the end get ENOSPC. */
static int check_range(const struct sd_nbd_export *e, const struct sd_nbd_req *r, int past_end)
{
	if (r->len == 0 || r->offset % e->block_min || r->len % e->block_min)
		return SD_NBD_EINVAL;
	if (r->offset > e->size || r->len > e->size - r->offset)
		return past_end;
	return 0;
}

static int check_command(const struct sd_nbd_export *e, const struct sd_nbd_req *r)
{
	switch (r->type) {
	case SD_NBD_CMD_READ:
		if (r->len > SD_NBD_MAX_PAYLOAD)
			return SD_NBD_EINVAL;
		return check_range(e, r, SD_NBD_EINVAL);
	case SD_NBD_CMD_WRITE:
	case SD_NBD_CMD_WRITE_ZEROES:
		if (e->readonly)
			return SD_NBD_EPERM;
		return check_range(e, r, SD_NBD_ENOSPC);
	case SD_NBD_CMD_TRIM:
		if (e->readonly)
			return SD_NBD_EPERM;
		return check_range(e, r, SD_NBD_EINVAL);
	case SD_NBD_CMD_FLUSH:
	case SD_NBD_CMD_DISC:
		return 0;
	default:
		return SD_NBD_EINVAL;
	}
}

static uint16_t allowed_flags(uint16_t type)
{
	switch (type) {
	case SD_NBD_CMD_WRITE:
	case SD_NBD_CMD_TRIM:
		return SD_NBD_CMD_FLAG_FUA;
	case SD_NBD_CMD_WRITE_ZEROES:
		return SD_NBD_CMD_FLAG_FUA | SD_NBD_CMD_FLAG_NO_HOLE;
	case SD_NBD_CMD_READ:
	case SD_NBD_CMD_FLUSH:
		return SD_NBD_CMD_FLAG_FUA; /* meaningless there, harmless */
	default:
		return 0;
	}
}

int sd_nbd_parse_request(const struct sd_nbd_session *s,
			 const uint8_t untrusted_hdr[SD_NBD_REQ_SIZE], struct sd_nbd_req *ret)
{
	struct sd_nbd_req r = { 0 };
	struct bh_cursor c;
	uint32_t magic = 0;

	bh_cursor_init(&c, untrusted_hdr, SD_NBD_REQ_SIZE);
	bh_cursor_u32(&c, &magic);
	bh_cursor_u16(&c, &r.flags);
	bh_cursor_u16(&c, &r.type);
	bh_cursor_u64(&c, &r.cookie);
	bh_cursor_u64(&c, &r.offset);
	bh_cursor_u32(&c, &r.len);
	if (bh_cursor_finish(&c) < 0 || magic != NBD_REQUEST_MAGIC)
		return -EPROTO;
	if (r.type == SD_NBD_CMD_WRITE) {
		/* The data follows whatever we answer: too much of it and we cannot stay in frame. */
		if (r.len > SD_NBD_MAX_PAYLOAD)
			return -EPROTO;
		r.payload = r.len;
	}
	r.error = (r.flags & ~allowed_flags(r.type)) ? SD_NBD_EINVAL : check_command(&s->exp, &r);
	*ret = r;
	return 0;
}

size_t sd_nbd_reply_header(const struct sd_nbd_session *s, const struct sd_nbd_req *r,
			   int nbd_err, uint32_t data_len, uint8_t out[SD_NBD_REPLY_HDR_MAX])
{
	if (!s->structured) {
		put_be(out, NBD_SIMPLE_REPLY_MAGIC, 4);
		put_be(out + 4, (uint32_t)nbd_err, 4);
		put_be(out + 8, r->cookie, 8);
		return SD_NBD_SIMPLE_REPLY_SIZE;
	}
	put_be(out, NBD_STRUCTURED_REPLY_MAGIC, 4);
	put_be(out + 4, NBD_REPLY_FLAG_DONE, 2);
	put_be(out + 8, r->cookie, 8);
	if (nbd_err) {
		/* An error chunk: u32 error, u16 message length (0). */
		put_be(out + 6, NBD_REPLY_TYPE_ERROR, 2);
		put_be(out + 16, 6, 4);
		put_be(out + 20, (uint32_t)nbd_err, 4);
		put_be(out + 24, 0, 2);
		return SD_NBD_CHUNK_HDR_SIZE + 6;
	}
	if (r->type == SD_NBD_CMD_READ) {
		put_be(out + 6, NBD_REPLY_TYPE_OFFSET_DATA, 2);
		put_be(out + 16, 8 + (uint64_t)data_len, 4);
		put_be(out + 20, r->offset, 8);
		return SD_NBD_CHUNK_HDR_SIZE + 8;
	}
	put_be(out + 6, NBD_REPLY_TYPE_NONE, 2);
	put_be(out + 16, 0, 4);
	return SD_NBD_CHUNK_HDR_SIZE;
}

int sd_nbd_errno(int err)
{
	switch (err) {
	case 0:
		return 0;
	case -EPERM:
	case -EROFS:
	case -EACCES:
		return SD_NBD_EPERM;
	case -ENOMEM:
		return SD_NBD_ENOMEM;
	case -EINVAL:
		return SD_NBD_EINVAL;
	case -ENOSPC:
	case -EDQUOT:
	case -EFBIG:
		return SD_NBD_ENOSPC;
	case -EOPNOTSUPP:
		return SD_NBD_ENOTSUP;
	case -ESHUTDOWN:
		return SD_NBD_ESHUTDOWN;
	default:
		return SD_NBD_EIO;
	}
}
