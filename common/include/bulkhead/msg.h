/* SPDX-License-Identifier: MIT */
/*
 * bulkhead control messages: dom0 <-> each service domain, and service <->
 * service (stordom asks vtpm to UNSEAL). See DESIGN.md section 4.
 *
 * Every message is a fixed 16-byte header followed by a typed body:
 *
 *   offset size field
 *   0      4    magic       "BKHD" (0x424b4844), big-endian
 *   4      1    version     protocol version the body is encoded in
 *   5      1    flags       BH_MSGF_*
 *   6      2    type        enum bh_msg_type
 *   8      4    length      body length in bytes (header excluded)
 *   12     4    request id  chosen by the requester, echoed in the reply
 *
 * All integers are big-endian. The header is checked (magic, known type,
 * version in range, length within that type's limits) before any body byte
 * is looked at; bodies are decoded through struct bh_cursor.
 *
 * Version history:
 *   1  2026-11  HELLO/HELLO_ACK, ERROR, PING/PONG, READY, SHUTDOWN.
 *
 * HELLO and HELLO_ACK are frozen: every version encodes them the same way
 * and sends them with version = 1, so two peers can always negotiate.
 */
#ifndef BULKHEAD_MSG_H
#define BULKHEAD_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BH_MSG_MAGIC 0x424b4844u /* "BKHD" */
#define BH_MSG_HDR_SIZE 16
#define BH_MSG_VERSION_MIN 1
#define BH_MSG_VERSION_MAX 1
/* No body may exceed this, whatever its type's table entry says. */
#define BH_MSG_BODY_MAX (1u << 20)
#define BH_MSG_NAME_MAX 64

enum bh_msg_type {
	BH_MSG_HELLO = 1,
	BH_MSG_HELLO_ACK = 2,
	BH_MSG_ERROR = 3,
	BH_MSG_PING = 4,
	BH_MSG_PONG = 5,
	BH_MSG_READY = 6,
	BH_MSG_SHUTDOWN = 7,
	BH_MSG_TYPE_MAX_, /* not a type: one past the last */
};

enum bh_msg_flags {
	BH_MSGF_REPLY = 1u << 0, /* a response to request id */
	BH_MSGF_ALL_ = BH_MSGF_REPLY,
};

/* Who is speaking, in HELLO. */
enum bh_role {
	BH_ROLE_DOM0 = 1,
	BH_ROLE_NETDOM = 2,
	BH_ROLE_STORDOM = 3,
	BH_ROLE_VTPM = 4,
	BH_ROLE_GUEST = 5,
	BH_ROLE_MAX_,
};

struct bh_msg_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t flags;
	uint16_t type;
	uint32_t length;
	uint32_t request_id;
};

struct bh_msg_hello {
	uint8_t version_min;
	uint8_t version_max;
	uint8_t role; /* enum bh_role */
	char name[BH_MSG_NAME_MAX]; /* the sender's domain name */
};

struct bh_msg_hello_ack {
	uint8_t version; /* the version both sides now use */
	uint8_t role;
	char name[BH_MSG_NAME_MAX];
};

#define BH_MSG_ERROR_TEXT_MAX 256
struct bh_msg_error {
	int32_t code; /* negative errno */
	char text[BH_MSG_ERROR_TEXT_MAX];
};

struct bh_msg_ping {
	uint64_t token;
};

/* Name of a type for logs ("HELLO"), or "unknown". */
const char *bh_msg_type_name(uint16_t type);
const char *bh_role_name(uint8_t role);

/*
 * Header codec. bh_msg_hdr_encode() writes exactly BH_MSG_HDR_SIZE bytes.
 * bh_msg_hdr_decode() checks magic (-EBADMSG), type (-EOPNOTSUPP), version
 * (-EPROTONOSUPPORT), flags (-EBADMSG) and the body length against the
 * type's limits (-EMSGSIZE); *ret is written only on success.
 */
void bh_msg_hdr_encode(const struct bh_msg_hdr *h, uint8_t out[BH_MSG_HDR_SIZE]);
int bh_msg_hdr_decode(const uint8_t untrusted_in[BH_MSG_HDR_SIZE], struct bh_msg_hdr *ret);

/* Body length limits of a known type; -EOPNOTSUPP for an unknown one. */
int bh_msg_body_limits(uint16_t type, uint32_t *ret_min, uint32_t *ret_max);

/*
 * Body codecs: encoders return the body length or -ENOBUFS; decoders return 0
 * or -EBADMSG (short input, trailing bytes, bad enum or string).
 */
long bh_msg_hello_encode(const struct bh_msg_hello *m, void *out, size_t cap);
int bh_msg_hello_decode(const void *untrusted_body, size_t len, struct bh_msg_hello *ret);
long bh_msg_hello_ack_encode(const struct bh_msg_hello_ack *m, void *out, size_t cap);
int bh_msg_hello_ack_decode(const void *untrusted_body, size_t len, struct bh_msg_hello_ack *ret);
long bh_msg_error_encode(const struct bh_msg_error *m, void *out, size_t cap);
int bh_msg_error_decode(const void *untrusted_body, size_t len, struct bh_msg_error *ret);
long bh_msg_ping_encode(const struct bh_msg_ping *m, void *out, size_t cap);
int bh_msg_ping_decode(const void *untrusted_body, size_t len, struct bh_msg_ping *ret);

/*
 * Pick the highest version both ranges contain. Returns 0 and writes *ret, or
 * -EPROTONOSUPPORT when the ranges do not overlap (or a range is inverted).
 */
int bh_msg_negotiate(uint8_t our_min, uint8_t our_max, uint8_t peer_min, uint8_t peer_max,
		     uint8_t *ret);

/*
 * Whole-message helper: header + body into @out. Returns total length or
 * -ENOBUFS / -EMSGSIZE (body outside the type's limits).
 */
long bh_msg_frame(uint16_t type, uint8_t flags, uint32_t request_id, uint8_t version,
		  const void *body, size_t body_len, void *out, size_t cap);

/*
 * Split one whole message from @untrusted_buf (@len bytes): checks the header
 * and that exactly header + body bytes are present. On success writes *ret_hdr
 * and points *ret_body into the buffer.
 */
int bh_msg_parse(const void *untrusted_buf, size_t len, struct bh_msg_hdr *ret_hdr,
		 const uint8_t **ret_body);

#endif
