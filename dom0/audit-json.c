/* SPDX-License-Identifier: MIT */
/*
 * JSON for the audit log: quoting arbitrary bytes on the way out, and a strict
 * parser for one record on the way back in. The parser reads what may have
 * been edited by anyone with write access to the file, so it is fuzzed
 * (tests/fuzz/fuzz-audit.c) and fails closed: unknown or repeated keys,
 * raw control characters, bad escapes, invalid UTF-8, numbers with signs,
 * fractions, leading zeros or more than 64 bits are all -EBADMSG.
 */
#include <stdbool.h>
#include <string.h>

#include "dom0.h"

/* Length of the valid UTF-8 sequence at @s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > len)
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

static void quote_byte(FILE *out, unsigned char c)
{
	switch (c) {
	case '"':
		fputs("\\\"", out);
		break;
	case '\\':
		fputs("\\\\", out);
		break;
	case '\n':
		fputs("\\n", out);
		break;
	case '\r':
		fputs("\\r", out);
		break;
	case '\t':
		fputs("\\t", out);
		break;
	default:
		if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
}

void bh_json_quote(FILE *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	fputc('"', out);
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(u + i, len - i);

		if (n == 0) {
			fputs("\\ufffd", out); /* one replacement per invalid byte */
			i++;
		} else if (n == 1) {
			quote_byte(out, u[i++]);
		} else {
			fwrite(u + i, 1, n, out);
			i += n;
		}
	}
	fputc('"', out);
}

/* ---- parser ---- */

struct jp {
	const char *s;
	size_t len, off;
	const char *why;
};

static bool jp_fail(struct jp *p, const char *why)
{
	if (!p->why)
		p->why = why;
	return false;
}

static void jp_ws(struct jp *p)
{
	while (p->off < p->len && (p->s[p->off] == ' ' || p->s[p->off] == '\t'))
		p->off++;
}

static bool jp_char(struct jp *p, char c)
{
	jp_ws(p);
	if (p->off >= p->len || p->s[p->off] != c)
		return false;
	p->off++;
	return true;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One escape after the backslash at p->off - 1. */
static bool jp_escape(struct jp *p)
{
	char c;

	if (p->off >= p->len)
		return jp_fail(p, "unterminated string");
	c = p->s[p->off++];
	if (strchr("\"\\/bfnrt", c) && c)
		return true;
	if (c != 'u' || p->len - p->off < 4)
		return jp_fail(p, "bad escape in string");
	for (int i = 0; i < 4; i++)
		if (!is_hex(p->s[p->off + i]))
			return jp_fail(p, "bad \\u escape in string");
	p->off += 4;
	return true;
}

static bool jp_string(struct jp *p, struct bh_json_span *ret)
{
	const unsigned char *u = (const unsigned char *)p->s;
	size_t start;

	if (!jp_char(p, '"'))
		return jp_fail(p, "string expected");
	start = p->off;
	while (p->off < p->len && p->s[p->off] != '"') {
		size_t n;

		if (u[p->off] < 0x20)
			return jp_fail(p, "control character in string");
		if (p->s[p->off] == '\\') {
			p->off++;
			if (!jp_escape(p))
				return false;
			continue;
		}
		n = utf8_seq_len(u + p->off, p->len - p->off);
		if (n == 0)
			return jp_fail(p, "invalid UTF-8 in string");
		p->off += n;
	}
	if (p->off >= p->len)
		return jp_fail(p, "unterminated string");
	*ret = (struct bh_json_span){ p->s + start, p->off - start };
	p->off++;
	return true;
}

static bool jp_u64(struct jp *p, uint64_t *ret)
{
	uint64_t v = 0;
	size_t start;

	jp_ws(p);
	start = p->off;
	while (p->off < p->len && p->s[p->off] >= '0' && p->s[p->off] <= '9') {
		unsigned d = (unsigned)(p->s[p->off] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return jp_fail(p, "number out of range");
		v = v * 10 + d;
		p->off++;
	}
	if (p->off == start)
		return jp_fail(p, "unsigned integer expected");
	if (p->s[start] == '0' && p->off - start > 1)
		return jp_fail(p, "number with a leading zero");
	if (p->off < p->len && strchr(".eE", p->s[p->off]) && p->s[p->off])
		return jp_fail(p, "number is not an integer");
	*ret = v;
	return true;
}

/* Keys of one object: each seen at most once, all required. */
struct jp_key {
	const char *name;
	int kind; /* 0 string, 1 u64, 2 actor object */
	void *dst;
};

static bool jp_object(struct jp *p, const struct jp_key *keys, size_t n_keys);

static bool jp_value(struct jp *p, const struct jp_key *k, struct bh_audit_rec *rec)
{
	if (k->kind == 0)
		return jp_string(p, k->dst);
	if (k->kind == 1)
		return jp_u64(p, k->dst);
	{
		const struct jp_key actor[] = {
			{ "uid", 1, &rec->uid },
			{ "user", 0, &rec->user },
			{ "pid", 1, &rec->pid },
		};
		return jp_object(p, actor, BH_ARRAY_SIZE(actor));
	}
}

static bool jp_member(struct jp *p, const struct jp_key *keys, size_t n_keys, unsigned *seen)
{
	struct bh_json_span name;
	size_t i;

	if (!jp_string(p, &name))
		return false;
	for (i = 0; i < n_keys; i++)
		if (strlen(keys[i].name) == name.len && !memcmp(keys[i].name, name.p, name.len))
			break;
	if (i == n_keys)
		return jp_fail(p, "unknown key");
	if (*seen & (1u << i))
		return jp_fail(p, "key repeated");
	*seen |= 1u << i;
	if (!jp_char(p, ':'))
		return jp_fail(p, "':' expected");
	return jp_value(p, &keys[i], keys[i].kind == 2 ? keys[i].dst : NULL);
}

static bool jp_object(struct jp *p, const struct jp_key *keys, size_t n_keys)
{
	unsigned seen = 0;

	if (!jp_char(p, '{'))
		return jp_fail(p, "'{' expected");
	do {
		if (!jp_member(p, keys, n_keys, &seen))
			return false;
	} while (jp_char(p, ','));
	if (!jp_char(p, '}'))
		return jp_fail(p, "'}' or ',' expected");
	if (seen != (1u << n_keys) - 1)
		return jp_fail(p, "key missing");
	return true;
}

static bool prev_ok(const struct bh_json_span *s)
{
	if (s->len != BH_SHA256_HEX_LEN)
		return false;
	for (size_t i = 0; i < s->len; i++)
		if (!((s->p[i] >= '0' && s->p[i] <= '9') || (s->p[i] >= 'a' && s->p[i] <= 'f')))
			return false;
	return true;
}

int bh_audit_rec_parse(const char *untrusted_line, size_t len, struct bh_audit_rec *ret,
		       const char **why)
{
	struct bh_audit_rec rec = { 0 };
	struct jp p = { untrusted_line, len, 0, NULL };
	const struct jp_key keys[] = {
		{ "seq", 1, &rec.seq },       { "ts", 0, &rec.ts },
		{ "actor", 2, &rec },         { "action", 0, &rec.action },
		{ "target", 0, &rec.target }, { "result", 0, &rec.result },
		{ "detail", 0, &rec.detail }, { "prev", 0, &rec.prev },
	};
	bool ok = jp_object(&p, keys, BH_ARRAY_SIZE(keys));

	if (ok) {
		jp_ws(&p);
		if (p.off != p.len)
			ok = jp_fail(&p, "trailing bytes after the record");
		else if (!prev_ok(&rec.prev))
			ok = jp_fail(&p, "prev is not 64 lower-case hex digits");
		else if (rec.seq == 0)
			ok = jp_fail(&p, "seq 0");
	}
	if (!ok) {
		*why = p.why;
		return -EBADMSG;
	}
	*ret = rec;
	return 0;
}
