/* SPDX-License-Identifier: MIT */
/*
 * Bounded big-endian decoder/encoder. See cursor.h.
 *
 * Every check is written as "need > remaining" so that no addition can wrap.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bulkhead/cursor.h"

void bh_cursor_init(struct bh_cursor *c, const void *untrusted_data, size_t len)
{
	c->data = untrusted_data;
	c->len = untrusted_data ? len : 0;
	c->off = 0;
	c->err = 0;
}

size_t bh_cursor_remaining(const struct bh_cursor *c)
{
	return c->len - c->off;
}

/* Reserve @n bytes; on success return a pointer to them and advance. */
static const uint8_t *take(struct bh_cursor *c, size_t n)
{
	const uint8_t *p;

	if (c->err)
		return NULL;
	if (n > c->len - c->off) {
		c->err = -EBADMSG;
		return NULL;
	}
	p = c->data + c->off;
	c->off += n;
	return p;
}

int bh_cursor_u8(struct bh_cursor *c, uint8_t *ret)
{
	const uint8_t *p = take(c, 1);

	if (!p)
		return c->err;
	*ret = p[0];
	return 0;
}

int bh_cursor_u16(struct bh_cursor *c, uint16_t *ret)
{
	const uint8_t *p = take(c, 2);

	if (!p)
		return c->err;
	*ret = (uint16_t)(p[0] << 8 | p[1]);
	return 0;
}

int bh_cursor_u32(struct bh_cursor *c, uint32_t *ret)
{
	const uint8_t *p = take(c, 4);

	if (!p)
		return c->err;
	*ret = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return 0;
}

int bh_cursor_u64(struct bh_cursor *c, uint64_t *ret)
{
	uint32_t hi = 0, lo = 0;

	if (bh_cursor_u32(c, &hi) < 0 || bh_cursor_u32(c, &lo) < 0)
		return c->err;
	*ret = (uint64_t)hi << 32 | lo;
	return 0;
}

int bh_cursor_bytes(struct bh_cursor *c, void *out, size_t len)
{
	const uint8_t *p = take(c, len);

	if (!p)
		return c->err;
	if (len)
		memcpy(out, p, len);
	return 0;
}

int bh_cursor_ref(struct bh_cursor *c, size_t len, const uint8_t **ret)
{
	const uint8_t *p = take(c, len);

	if (!p)
		return c->err;
	*ret = p;
	return 0;
}

int bh_cursor_skip(struct bh_cursor *c, size_t len)
{
	return take(c, len) ? 0 : c->err;
}

int bh_cursor_str(struct bh_cursor *c, char *out, size_t outsz)
{
	const uint8_t *p;
	uint16_t n = 0;

	if (bh_cursor_u16(c, &n) < 0)
		return c->err;
	p = take(c, n);
	if (!p)
		return c->err;
	/* The string and its NUL must fit; an embedded NUL would truncate silently. */
	if (n >= outsz || memchr(p, 0, n)) {
		c->err = -EBADMSG;
		return c->err;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

void bh_cursor_fail(struct bh_cursor *c)
{
	if (!c->err)
		c->err = -EBADMSG;
}

int bh_cursor_finish(const struct bh_cursor *c)
{
	if (c->err)
		return c->err;
	return c->off == c->len ? 0 : -EBADMSG;
}

void bh_wcursor_init(struct bh_wcursor *w, void *buf, size_t cap)
{
	w->data = buf;
	w->cap = buf ? cap : 0;
	w->off = 0;
	w->err = 0;
}

static uint8_t *put(struct bh_wcursor *w, size_t n)
{
	uint8_t *p;

	if (w->err)
		return NULL;
	if (n > w->cap - w->off) {
		w->err = -ENOBUFS;
		return NULL;
	}
	p = w->data + w->off;
	w->off += n;
	return p;
}

int bh_wcursor_u8(struct bh_wcursor *w, uint8_t v)
{
	uint8_t *p = put(w, 1);

	if (!p)
		return w->err;
	p[0] = v;
	return 0;
}

int bh_wcursor_u16(struct bh_wcursor *w, uint16_t v)
{
	uint8_t *p = put(w, 2);

	if (!p)
		return w->err;
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 0;
}

int bh_wcursor_u32(struct bh_wcursor *w, uint32_t v)
{
	uint8_t *p = put(w, 4);

	if (!p)
		return w->err;
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
	return 0;
}

int bh_wcursor_u64(struct bh_wcursor *w, uint64_t v)
{
	if (bh_wcursor_u32(w, (uint32_t)(v >> 32)) < 0)
		return w->err;
	return bh_wcursor_u32(w, (uint32_t)v);
}

int bh_wcursor_bytes(struct bh_wcursor *w, const void *src, size_t len)
{
	uint8_t *p = put(w, len);

	if (!p)
		return w->err;
	if (len)
		memcpy(p, src, len);
	return 0;
}

int bh_wcursor_str(struct bh_wcursor *w, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT16_MAX) {
		if (!w->err)
			w->err = -EINVAL;
		return w->err;
	}
	if (bh_wcursor_u16(w, (uint16_t)n) < 0)
		return w->err;
	return bh_wcursor_bytes(w, s, n);
}
