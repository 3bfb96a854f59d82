/* SPDX-License-Identifier: MIT */
/*
 * Body codecs of the stordom control messages (VOLUME_*). See msg.h for the
 * meaning of each field.
 *
 * Decoders are syntactic and canonical like the netdom ones: names are
 * bulkhead names, paths absolute and printable, flags known, sizes in range,
 * so that an accepted body re-encodes to the same bytes. Whether a path
 * exists or a key file opens is stordom's to find out.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bulkhead/cursor.h"
#include "bulkhead/msg.h"
#include "bulkhead/parse.h"
#include "bulkhead/util.h"

/* An absolute path of printable ASCII (no control bytes, which logs would carry). */
static bool path_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (; *p; p++)
		if (*p < ' ' || *p >= 0x7f)
			return false;
	return true;
}

static void get_path(struct bh_cursor *c, char out[BH_VOLUME_PATH_MAX])
{
	if (bh_cursor_str(c, out, BH_VOLUME_PATH_MAX) == 0 && !path_ok(out))
		bh_cursor_fail(c);
}

long bh_msg_volume_open_encode(const struct bh_msg_volume_open *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_str(&w, m->name);
	bh_wcursor_str(&w, m->path);
	bh_wcursor_str(&w, m->keyfile);
	bh_wcursor_u8(&w, m->flags);
	bh_wcursor_u64(&w, m->size);
	bh_wcursor_str(&w, m->guest);
	return bh_wcursor_finish(&w);
}

static bool volume_size_ok(uint64_t size)
{
	return size > 0 && size <= BH_VOLUME_SIZE_MAX && size % 4096 == 0;
}

int bh_msg_volume_open_decode(const void *untrusted_body, size_t len,
			      struct bh_msg_volume_open *ret)
{
	struct bh_msg_volume_open m;
	struct bh_cursor c;

	memset(&m, 0, sizeof(m));
	bh_cursor_init(&c, untrusted_body, len);
	bh_msg_get_name(&c, m.name, false);
	get_path(&c, m.path);
	bh_cursor_str(&c, m.keyfile, sizeof(m.keyfile));
	bh_cursor_u8(&c, &m.flags);
	bh_cursor_u64(&c, &m.size);
	bh_msg_get_name(&c, m.guest, true);
	if (bh_cursor_finish(&c) < 0 || (m.flags & ~(uint8_t)BH_VOLUME_FLAGS_ALL_))
		return -EBADMSG;
	/* A sealed volume names its guest and has no key file; any other, the reverse. */
	if ((m.flags & BH_VOLUME_SEALED) ? !m.guest[0] || m.keyfile[0] :
					   m.guest[0] || !path_ok(m.keyfile))
		return -EBADMSG;
	/* A size only with CREATE; a test KDF only when creating. */
	if ((m.flags & BH_VOLUME_CREATE) ? !volume_size_ok(m.size) : m.size != 0)
		return -EBADMSG;
	if ((m.flags & (BH_VOLUME_TEST_KDF | BH_VOLUME_IF_MISSING)) && !(m.flags & BH_VOLUME_CREATE))
		return -EBADMSG;
	*ret = m;
	return 0;
}

static bool ref_type(uint16_t type)
{
	return type == BH_MSG_VOLUME_CLOSE || type == BH_MSG_VOLUME_GROW ||
	       type == BH_MSG_VOLUME_ERASE;
}

long bh_msg_volume_ref_encode(uint16_t type, const struct bh_msg_volume_ref *m, void *out,
			      size_t cap)
{
	struct bh_wcursor w;

	if (!ref_type(type))
		return -EINVAL;
	bh_wcursor_init(&w, out, cap);
	bh_wcursor_str(&w, m->name);
	if (type == BH_MSG_VOLUME_GROW)
		bh_wcursor_u64(&w, m->size);
	return bh_wcursor_finish(&w);
}

int bh_msg_volume_ref_decode(uint16_t type, const void *untrusted_body, size_t len,
			     struct bh_msg_volume_ref *ret)
{
	struct bh_msg_volume_ref m = { 0 };
	struct bh_cursor c;

	if (!ref_type(type))
		return -EINVAL;
	bh_cursor_init(&c, untrusted_body, len);
	bh_msg_get_name(&c, m.name, false);
	if (type == BH_MSG_VOLUME_GROW)
		bh_cursor_u64(&c, &m.size);
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	if (type == BH_MSG_VOLUME_GROW && !volume_size_ok(m.size))
		return -EBADMSG;
	*ret = m;
	return 0;
}

long bh_msg_volume_result_encode(const struct bh_msg_volume_result *m, void *out, size_t cap)
{
	struct bh_wcursor w;

	bh_wcursor_init(&w, out, cap);
	bh_wcursor_u32(&w, (uint32_t)m->status);
	bh_wcursor_u64(&w, m->size);
	bh_wcursor_str(&w, m->name);
	bh_wcursor_str(&w, m->text);
	return bh_wcursor_finish(&w);
}

int bh_msg_volume_result_decode(const void *untrusted_body, size_t len,
				struct bh_msg_volume_result *ret)
{
	struct bh_msg_volume_result m = { 0 };
	struct bh_cursor c;
	uint32_t status = 0;

	bh_cursor_init(&c, untrusted_body, len);
	bh_cursor_u32(&c, &status);
	bh_cursor_u64(&c, &m.size);
	bh_msg_get_name(&c, m.name, true);
	bh_cursor_str(&c, m.text, sizeof(m.text));
	if (bh_cursor_finish(&c) < 0)
		return -EBADMSG;
	/* 0 or a negative errno (magnitude 1..4095). */
	m.status = (int32_t)status;
	if (m.status > 0 || m.status < -4095)
		return -EBADMSG;
	*ret = m;
	return 0;
}
