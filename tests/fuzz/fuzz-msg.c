/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the control-message decoders: the input is a stream of messages as a
 * peer would send them. Every message that decodes is re-encoded and must
 * decode to the same value (the codecs are inverse on their valid domain).
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "bulkhead/msg.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUNDTRIP(kind, body, len)                                                                 \
	do {                                                                                       \
		struct bh_msg_##kind a, b;                                                         \
		uint8_t out[BH_MSG_HDR_SIZE + 512];                                                \
		long n;                                                                            \
		memset(&a, 0, sizeof(a));                                                          \
		memset(&b, 0, sizeof(b));                                                          \
		if (bh_msg_##kind##_decode(body, len, &a) == 0) {                                  \
			n = bh_msg_##kind##_encode(&a, out, sizeof(out));                          \
			assert(n == (long)(len));                                                  \
			assert(memcmp(out, body, len) == 0);                                       \
			assert(bh_msg_##kind##_decode(out, (size_t)n, &b) == 0);                   \
			assert(memcmp(&a, &b, sizeof(a)) == 0);                                    \
		}                                                                                  \
	} while (0)

static void decode_body(uint16_t type, const uint8_t *body, size_t len)
{
	switch (type) {
	case BH_MSG_HELLO:
		ROUNDTRIP(hello, body, len);
		break;
	case BH_MSG_HELLO_ACK:
		ROUNDTRIP(hello_ack, body, len);
		break;
	case BH_MSG_ERROR:
		ROUNDTRIP(error, body, len);
		break;
	case BH_MSG_PING:
	case BH_MSG_PONG:
		ROUNDTRIP(ping, body, len);
		break;
	case BH_MSG_UNSEAL:
	case BH_MSG_VTPM_RESEAL:
		ROUNDTRIP(unseal, body, len);
		break;
	case BH_MSG_UNSEAL_RESULT:
		ROUNDTRIP(unseal_result, body, len);
		break;
	case BH_MSG_CHAN_SERVE:
		ROUNDTRIP(chan_serve, body, len);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	while (size - off >= BH_MSG_HDR_SIZE) {
		struct bh_msg_hdr h;
		const uint8_t *body;
		uint8_t reenc[BH_MSG_HDR_SIZE];

		if (bh_msg_hdr_decode(data + off, &h) < 0)
			break;
		bh_msg_hdr_encode(&h, reenc);
		assert(memcmp(reenc, data + off, BH_MSG_HDR_SIZE) == 0);
		if (h.length > size - off - BH_MSG_HDR_SIZE)
			break;
		assert(bh_msg_parse(data + off, BH_MSG_HDR_SIZE + h.length, &h, &body) == 0);
		decode_body(h.type, body, h.length);
		off += BH_MSG_HDR_SIZE + h.length;
	}
	/* The body decoders must also survive arbitrary bytes with no header. */
	if (size >= 1)
		decode_body((uint16_t)(data[0] % BH_MSG_TYPE_MAX_), data + 1, size - 1);
	return 0;
}
