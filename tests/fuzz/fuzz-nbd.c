/* SPDX-License-Identifier: MIT */
/*
 * Fuzz what a guest reaches in stordom: the input is the byte stream a client
 * sends on an NBD connection. It goes through the handshake state machine,
 * then through the request parser, and every accepted request is executed by
 * the real handler (io.c, xts.c) against a 1 MiB volume in a memfd, exactly
 * as a worker would. Nothing may crash, leak, hang or read out of bounds, and
 * every reply header must fit its buffer.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../stordom/stordom.h"

#define FUZZ_MAX_INPUT (1u << 20)
#define VOL_SIZE (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sd_volume vol = { .fd = -1 };
static struct sd_xts *xts;
static uint8_t *buf;

static int lookup(void *ctx, const char *name, struct sd_nbd_export *ret, void **ret_handle)
{
	(void)ctx;
	if (name[0] && strcmp(name, "disk"))
		return -ENOENT;
	*ret = (struct sd_nbd_export){ .size = vol.size, .block_min = vol.sector_size,
				       .discard = true };
	*ret_handle = &vol;
	return 0;
}

static const char *list(void *ctx, size_t i)
{
	(void)ctx;
	return i == 0 ? "disk" : NULL;
}

static const struct sd_nbd_exports_ops ops = { lookup, list };

static void setup(void)
{
	vol.fd = memfd_create("fuzz-nbd", MFD_CLOEXEC);
	assert(vol.fd >= 0 && ftruncate(vol.fd, VOL_SIZE) == 0);
	vol.size = VOL_SIZE;
	vol.sector_size = 4096;
	vol.iv_step = 1;
	vol.key_id = 1;
	assert(sd_secret_new(64, &vol.key) == 0);
	for (int i = 0; i < 64; i++)
		vol.key->data[i] = (uint8_t)(i * 37 + 11); /* halves differ */
	assert(sd_xts_new(&xts) == 0);
	buf = malloc(SD_NBD_MAX_PAYLOAD);
	assert(buf);
}

static size_t handshake(struct sd_nbd_session *s, const uint8_t *data, size_t size)
{
	struct sd_nbd_out out = { 0 };
	size_t off = 0;

	while (s->phase != SD_NBD_PHASE_TRANSMISSION) {
		ssize_t n = sd_nbd_handshake(s, data + off, size - off, &out);

		if (n <= 0)
			break;
		assert((size_t)n <= size - off);
		off += (size_t)n;
		out.len = 0;
	}
	sd_nbd_out_free(&out);
	return off;
}

/* A WRITE as conn.c runs it: sealed and stored in two pieces (cut where the cookie says). */
static int run_write(const struct sd_nbd_req *r, uint64_t *keyed)
{
	uint32_t sectors = r->len / vol.sector_size;
	uint32_t cut = (uint32_t)(r->cookie % (sectors + 1u)) * vol.sector_size;
	int err = sd_io_seal(&vol, xts, keyed, r, buf, 0, cut);

	if (!err)
		err = sd_io_store(&vol, r, buf, 0, cut);
	if (!err)
		err = sd_io_seal(&vol, xts, keyed, r, buf, cut, r->len);
	if (!err)
		err = sd_io_store(&vol, r, buf, cut, r->len);
	return err ? err : sd_io_write_finish(&vol, r);
}

static void transmission(struct sd_nbd_session *s, const uint8_t *data, size_t size)
{
	uint64_t keyed = 0;

	while (size >= SD_NBD_REQ_SIZE) {
		uint8_t hdr[SD_NBD_REPLY_HDR_MAX];
		struct sd_nbd_req r;
		size_t hlen;
		int err;

		if (sd_nbd_parse_request(s, data, &r) < 0)
			return;
		data += SD_NBD_REQ_SIZE;
		size -= SD_NBD_REQ_SIZE;
		if (r.payload > size || (r.type == SD_NBD_CMD_DISC && !r.error))
			return;
		assert(sd_io_bufsize(&r) <= SD_NBD_MAX_PAYLOAD);
		memcpy(buf, data, r.payload);
		data += r.payload;
		size -= r.payload;
		err = r.type == SD_NBD_CMD_WRITE ? run_write(&r, &keyed)
						 : sd_io_execute(&vol, true, xts, &keyed, &r, buf);
		hlen = sd_nbd_reply_header(s, &r, err, err ? 0 : r.len, hdr);
		assert(hlen <= sizeof(hdr));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_nbd_session s;
	size_t off;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (vol.fd < 0)
		setup();
	sd_nbd_session_init(&s, &ops, NULL);
	off = handshake(&s, data, size);
	if (s.phase == SD_NBD_PHASE_TRANSMISSION)
		transmission(&s, data + off, size - off);
	return 0;
}
