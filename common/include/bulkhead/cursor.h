/* SPDX-License-Identifier: MIT */
/*
 * Bounded decoder and encoder for wire bodies (big-endian, network order).
 *
 * A read cursor fails with -EBADMSG on short input and stays failed ("sticky"),
 * so a decoder can read every field and check once at the end with
 * bh_cursor_finish(), which also rejects trailing bytes. The same for the
 * writer with -ENOBUFS. Neither allocates.
 */
#ifndef BULKHEAD_CURSOR_H
#define BULKHEAD_CURSOR_H

#include <stddef.h>
#include <stdint.h>

struct bh_cursor {
	const uint8_t *data;
	size_t len;
	size_t off;
	int err; /* 0, or the first error (negative errno) */
};

void bh_cursor_init(struct bh_cursor *c, const void *untrusted_data, size_t len);
size_t bh_cursor_remaining(const struct bh_cursor *c);

/* Each getter returns 0 or the sticky error; *ret is written only on success. */
int bh_cursor_u8(struct bh_cursor *c, uint8_t *ret);
int bh_cursor_u16(struct bh_cursor *c, uint16_t *ret);
int bh_cursor_u32(struct bh_cursor *c, uint32_t *ret);
int bh_cursor_u64(struct bh_cursor *c, uint64_t *ret);
/* Copy exactly @len bytes out. */
int bh_cursor_bytes(struct bh_cursor *c, void *out, size_t len);
/* Point *ret at @len bytes inside the buffer (no copy). */
int bh_cursor_ref(struct bh_cursor *c, size_t len, const uint8_t **ret);
int bh_cursor_skip(struct bh_cursor *c, size_t len);
/*
 * A string as u16 length + bytes, copied into @out (size @outsz) and
 * NUL-terminated. Embedded NULs and lengths >= @outsz are -EBADMSG.
 */
int bh_cursor_str(struct bh_cursor *c, char *out, size_t outsz);
/* Mark a semantic error (bad enum, bad name): -EBADMSG unless already failed. */
void bh_cursor_fail(struct bh_cursor *c);
/* 0 when every byte was consumed and no error occurred, else -EBADMSG. */
int bh_cursor_finish(const struct bh_cursor *c);

struct bh_wcursor {
	uint8_t *data;
	size_t cap;
	size_t off;
	int err;
};

void bh_wcursor_init(struct bh_wcursor *w, void *buf, size_t cap);
int bh_wcursor_u8(struct bh_wcursor *w, uint8_t v);
int bh_wcursor_u16(struct bh_wcursor *w, uint16_t v);
int bh_wcursor_u32(struct bh_wcursor *w, uint32_t v);
int bh_wcursor_u64(struct bh_wcursor *w, uint64_t v);
int bh_wcursor_bytes(struct bh_wcursor *w, const void *p, size_t len);
/* u16 length + bytes; strings longer than 65535 are -EINVAL. */
int bh_wcursor_str(struct bh_wcursor *w, const char *s);
/* Bytes written so far, or the sticky error. */
static inline long bh_wcursor_finish(const struct bh_wcursor *w)
{
	return w->err ? w->err : (long)w->off;
}

#endif
