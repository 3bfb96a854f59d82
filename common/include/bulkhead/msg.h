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
 *      2026-11  (still version 1, nothing released yet) netdom: POLICY_BEGIN,
 *               POLICY_ZONE, POLICY_GUEST, POLICY_RULE, POLICY_COMMIT,
 *               POLICY_RESULT, COUNTERS_GET, COUNTERS, DROP_EVENT.
 *      2026-11  (still version 1) stordom: VOLUME_OPEN, VOLUME_CLOSE,
 *               VOLUME_GROW, VOLUME_ERASE, VOLUME_RESULT.
 *      2026-11  (still version 1) vtpm: VTPM_CREATE, VTPM_START, VTPM_STOP,
 *               VTPM_DELETE, VTPM_RESULT, VTPM_STATE_LOAD, VTPM_STATE_STORE.
 *      2026-11  (still version 1) POLICY_RULE endpoint kind 4, "self" (the
 *               netdom domain: its input chain), appended to the enum.
 *      2026-11  (still version 1) vtpm: VTPM_RESET (the power cycle a guest
 *               may no longer do through its swtpm control socket).
 *      2026-11  (still version 1) sealed volumes: VTPM_RESEAL, UNSEAL,
 *               UNSEAL_RESULT, VTPM_KEY_OP, VTPM_KEY_RESULT; VOLUME_OPEN gains
 *               a trailing guest name and the BH_VOLUME_SEALED flag.
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
	/* netdom policy, dom0 -> netdom: BEGIN, then ZONE/GUEST/RULE items, then COMMIT */
	BH_MSG_POLICY_BEGIN = 8,
	BH_MSG_POLICY_ZONE = 9,
	BH_MSG_POLICY_GUEST = 10,
	BH_MSG_POLICY_RULE = 11,
	BH_MSG_POLICY_COMMIT = 12,
	BH_MSG_POLICY_RESULT = 13, /* netdom -> dom0, reply to COMMIT (or to a refused item) */
	BH_MSG_COUNTERS_GET = 14,  /* dom0 -> netdom */
	BH_MSG_COUNTERS = 15,      /* netdom -> dom0, one or more replies to COUNTERS_GET */
	BH_MSG_DROP_EVENT = 16,    /* netdom -> dom0, unsolicited */
	/* stordom volumes, dom0 -> stordom; each answered by one VOLUME_RESULT */
	BH_MSG_VOLUME_OPEN = 17,
	BH_MSG_VOLUME_CLOSE = 18,
	BH_MSG_VOLUME_GROW = 19,
	BH_MSG_VOLUME_ERASE = 20,
	BH_MSG_VOLUME_RESULT = 21, /* stordom -> dom0 */
	/* vtpm instances, dom0 -> vtpmd; each answered by one VTPM_RESULT */
	BH_MSG_VTPM_CREATE = 22,
	BH_MSG_VTPM_START = 23,
	BH_MSG_VTPM_STOP = 24,
	BH_MSG_VTPM_DELETE = 25,
	BH_MSG_VTPM_RESULT = 26,
	/* inside vtpm only: vtpmd <-> its per-guest worker, over a socketpair */
	BH_MSG_VTPM_STATE_LOAD = 27,  /* vtpmd -> worker: permanent state (empty: new TPM) */
	BH_MSG_VTPM_STATE_STORE = 28, /* worker -> vtpmd: new permanent state; VTPM_RESULT */
	/* dom0 -> vtpmd (and vtpmd -> worker): power-cycle an instance's TPM; VTPM_RESULT */
	BH_MSG_VTPM_RESET = 29,
	/* sealed volume secrets (DESIGN.md section 4) */
	BH_MSG_VTPM_RESEAL = 30,    /* dom0 -> vtpmd: reseal(guest, volume); VTPM_RESULT */
	BH_MSG_UNSEAL = 31,         /* stordom -> vtpmd: unseal(guest, volume) */
	BH_MSG_UNSEAL_RESULT = 32,  /* vtpmd -> stordom: the secret, or why not */
	BH_MSG_VTPM_KEY_OP = 33,    /* inside vtpm only: vtpmd -> worker (vtpm/keyseal.c) */
	BH_MSG_VTPM_KEY_RESULT = 34, /* inside vtpm only: worker -> vtpmd */
	/* dom0 -> stordom / vtpm (xen platform): serve one of a guest's sockets
	 * over a channel for that guest; the reply is the service's own result
	 * (VOLUME_RESULT, VTPM_RESULT) */
	BH_MSG_CHAN_SERVE = 35,
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

/*
 * netdom policy (DESIGN.md section 6). A policy does not fit one message
 * (10,000 rules), so it travels as a sequence on one stream:
 *
 *   POLICY_BEGIN{generation, counts}  POLICY_ZONE*  POLICY_GUEST*  POLICY_RULE*
 *   POLICY_COMMIT{generation}  ->  POLICY_RESULT{generation in force, status, rule}
 *
 * The counts in BEGIN are exact: the receiver refuses a sequence with more or
 * fewer items, or one interleaved with another BEGIN. Nothing is applied
 * before COMMIT, and the whole policy is applied or none of it. Items are
 * referenced by name (zones, guests) and rules by a sender-chosen id plus a
 * label (e.g. "guests/web.cfg:12") that errors quote.
 */
#define BH_POLICY_ZONES_MAX 4096u
#define BH_POLICY_VIFS_MAX 65536u
#define BH_POLICY_RULES_MAX 262144u
#define BH_POLICY_ADDRS_MAX 16u
#define BH_POLICY_PORTS_MAX 16u
#define BH_POLICY_LABEL_MAX 128 /* including the NUL */
#define BH_IFNAME_MAX 16        /* IFNAMSIZ, including the NUL */

enum bh_policy_action {
	BH_POLICY_ACCEPT = 0,
	BH_POLICY_DROP = 1,
	BH_POLICY_REJECT = 2,
	BH_POLICY_ACTION_MAX_,
};

enum bh_policy_proto {
	BH_POLICY_PROTO_ANY = 0,
	BH_POLICY_PROTO_TCP = 1,
	BH_POLICY_PROTO_UDP = 2,
	BH_POLICY_PROTO_ICMP = 3,
	BH_POLICY_PROTO_ICMPV6 = 4,
	BH_POLICY_PROTO_MAX_,
};

enum bh_policy_ep_kind {
	BH_POLICY_EP_ANY = 0,
	BH_POLICY_EP_GUEST = 1, /* name: a guest */
	BH_POLICY_EP_ZONE = 2,  /* name: a zone */
	BH_POLICY_EP_CIDR = 3,  /* net */
	BH_POLICY_EP_SELF = 4,  /* the netdom domain itself; destination only */
	BH_POLICY_EP_KIND_MAX_,
};

/* An address or network: family 4 or 6 (0 only where "none" is allowed). */
struct bh_msg_net {
	uint8_t family;
	uint8_t plen;
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
};

struct bh_msg_policy_begin {
	uint64_t generation; /* > 0, chosen by dom0, reported back */
	uint8_t default_action; /* drop or reject */
	uint32_t n_zones, n_vifs, n_rules;
};

struct bh_msg_policy_zone {
	char name[BH_MSG_NAME_MAX];
};

/* One vif of a guest; a guest with several vifs sends one message per vif. */
struct bh_msg_policy_guest {
	char name[BH_MSG_NAME_MAX];
	char zone[BH_MSG_NAME_MAX]; /* "" for none */
	char ifname[BH_IFNAME_MAX];
	uint8_t mac[6];
	uint8_t n_addrs;
	struct bh_msg_net addrs[BH_POLICY_ADDRS_MAX]; /* host addresses */
};

struct bh_msg_policy_ep {
	uint8_t kind; /* enum bh_policy_ep_kind */
	char name[BH_MSG_NAME_MAX]; /* guest or zone, else "" */
	struct bh_msg_net net; /* CIDR, else family 0 */
};

struct bh_msg_port_range {
	uint16_t lo, hi;
};

enum bh_policy_rule_flags {
	BH_POLICY_RULE_LOG = 1u << 0,
	BH_POLICY_RULE_FLAGS_ALL_ = BH_POLICY_RULE_LOG,
};

struct bh_msg_policy_rule {
	uint32_t id; /* unique in the policy, > 0 */
	char label[BH_POLICY_LABEL_MAX];
	struct bh_msg_policy_ep from, to;
	uint8_t proto;  /* enum bh_policy_proto */
	uint8_t action; /* enum bh_policy_action */
	uint8_t flags;  /* enum bh_policy_rule_flags */
	uint8_t n_ports; /* destination ports; tcp/udp only; 0 = all */
	struct bh_msg_port_range ports[BH_POLICY_PORTS_MAX];
};

struct bh_msg_policy_commit {
	uint64_t generation; /* must equal BEGIN's */
};

/*
 * status 0: @generation is now in force. Otherwise a negative errno, the
 * policy was refused whole and @generation (the one still in force) is
 * unchanged; @rule_id names the offending rule (0: not a rule's fault).
 */
struct bh_msg_policy_result {
	uint64_t generation;
	int32_t status;
	uint32_t rule_id;
	char text[BH_MSG_ERROR_TEXT_MAX];
};

#define BH_COUNTERS_PER_MSG 32768u
struct bh_msg_counter {
	uint32_t rule_id;
	uint64_t packets, bytes;
};

/* Counters of the rules in force; @first + @n <= @total, sent in order. */
struct bh_msg_counters {
	uint64_t generation;
	uint32_t total, first, n;
	struct bh_msg_counter *v; /* decode: points at caller storage of BH_COUNTERS_PER_MSG */
};

/* Drops seen by netdom, coalesced by (guest, src, dst, proto, port). */
struct bh_msg_drop_event {
	char guest[BH_MSG_NAME_MAX]; /* source guest, "" when not a guest */
	struct bh_msg_net src, dst;
	uint8_t l4proto; /* IP protocol number */
	uint16_t dport;  /* 0 when the protocol has none */
	uint32_t count;
};

long bh_msg_policy_begin_encode(const struct bh_msg_policy_begin *m, void *out, size_t cap);
int bh_msg_policy_begin_decode(const void *untrusted_body, size_t len,
			       struct bh_msg_policy_begin *ret);
long bh_msg_policy_zone_encode(const struct bh_msg_policy_zone *m, void *out, size_t cap);
int bh_msg_policy_zone_decode(const void *untrusted_body, size_t len,
			      struct bh_msg_policy_zone *ret);
long bh_msg_policy_guest_encode(const struct bh_msg_policy_guest *m, void *out, size_t cap);
int bh_msg_policy_guest_decode(const void *untrusted_body, size_t len,
			       struct bh_msg_policy_guest *ret);
long bh_msg_policy_rule_encode(const struct bh_msg_policy_rule *m, void *out, size_t cap);
int bh_msg_policy_rule_decode(const void *untrusted_body, size_t len,
			      struct bh_msg_policy_rule *ret);
long bh_msg_policy_commit_encode(const struct bh_msg_policy_commit *m, void *out, size_t cap);
int bh_msg_policy_commit_decode(const void *untrusted_body, size_t len,
				struct bh_msg_policy_commit *ret);
long bh_msg_policy_result_encode(const struct bh_msg_policy_result *m, void *out, size_t cap);
int bh_msg_policy_result_decode(const void *untrusted_body, size_t len,
				struct bh_msg_policy_result *ret);
/* @ret->v must point at BH_COUNTERS_PER_MSG entries. */
long bh_msg_counters_encode(const struct bh_msg_counters *m, void *out, size_t cap);
int bh_msg_counters_decode(const void *untrusted_body, size_t len, struct bh_msg_counters *ret);
long bh_msg_drop_event_encode(const struct bh_msg_drop_event *m, void *out, size_t cap);
int bh_msg_drop_event_decode(const void *untrusted_body, size_t len,
			     struct bh_msg_drop_event *ret);

/*
 * stordom volumes (DESIGN.md section 6). VOLUME_OPEN names a volume (the NBD
 * export name, a bulkhead name), its backing file or block device and the
 * file holding the keyslot secret: the path only, never the secret itself,
 * which stordom reads. With BH_VOLUME_CREATE the backing store is formatted
 * as a new LUKS2 volume of @size data bytes (a multiple of 4096; a file is
 * created or extended); without it @size is 0 and an existing LUKS1/LUKS2
 * volume is opened. With BH_VOLUME_SEALED there is no key file: the
 * secret is sealed in @guest's vTPM, and stordom asks vtpm for it (UNSEAL,
 * below). CLOSE forgets the key and drops its NBD connections;
 * GROW extends the data area to @size; ERASE closes and crypto-erases
 * (every keyslot destroyed, then the header wiped).
 */
#define BH_VOLUME_PATH_MAX 4096 /* including the NUL */
#define BH_VOLUME_SIZE_MAX (1ull << 50)

enum bh_volume_flags {
	BH_VOLUME_CREATE = 1u << 0,
	BH_VOLUME_READONLY = 1u << 1,
	BH_VOLUME_DISCARD = 1u << 2,  /* pass TRIM to the backing file (reveals unused areas) */
	BH_VOLUME_TEST_KDF = 1u << 3, /* create: cheapest PBKDF2; for tests only */
	/* the keyslot secret is sealed in @guest's vTPM: stordom asks vtpm (UNSEAL),
	 * @keyfile is empty */
	BH_VOLUME_SEALED = 1u << 4,
	/* with CREATE: create only if the backing store does not exist yet, else
	 * open it (xen: dom0 cannot see stordom's files, stordom decides) */
	BH_VOLUME_IF_MISSING = 1u << 5,
	BH_VOLUME_FLAGS_ALL_ = 0x3f,
};

struct bh_msg_volume_open {
	char name[BH_MSG_NAME_MAX];
	char path[BH_VOLUME_PATH_MAX];
	char keyfile[BH_VOLUME_PATH_MAX];
	uint8_t flags; /* enum bh_volume_flags */
	uint64_t size; /* create: data bytes; else 0 */
	char guest[BH_MSG_NAME_MAX]; /* SEALED: the guest whose vTPM holds the secret; else "" */
};

/* VOLUME_CLOSE, VOLUME_ERASE (size 0) and VOLUME_GROW (new data size). */
struct bh_msg_volume_ref {
	char name[BH_MSG_NAME_MAX];
	uint64_t size;
};

/* status 0 or a negative errno; @size: the volume's data bytes now (0 if none). */
struct bh_msg_volume_result {
	int32_t status;
	uint64_t size;
	char name[BH_MSG_NAME_MAX]; /* "" when the request could not be decoded */
	char text[BH_MSG_ERROR_TEXT_MAX];
};

long bh_msg_volume_open_encode(const struct bh_msg_volume_open *m, void *out, size_t cap);
int bh_msg_volume_open_decode(const void *untrusted_body, size_t len,
			      struct bh_msg_volume_open *ret);
/* @type: BH_MSG_VOLUME_CLOSE, _GROW or _ERASE (only GROW carries a size). */
long bh_msg_volume_ref_encode(uint16_t type, const struct bh_msg_volume_ref *m, void *out,
			      size_t cap);
int bh_msg_volume_ref_decode(uint16_t type, const void *untrusted_body, size_t len,
			     struct bh_msg_volume_ref *ret);
long bh_msg_volume_result_encode(const struct bh_msg_volume_result *m, void *out, size_t cap);
int bh_msg_volume_result_decode(const void *untrusted_body, size_t len,
				struct bh_msg_volume_result *ret);

/*
 * vtpm (DESIGN.md section 6). CREATE makes a new instance (its TPM is
 * manufactured at the first START), START forks its worker and answers once
 * the TPM is up and its sockets listen, STOP ends the worker (the TPM is
 * powered off; NV and persistent objects stay), DELETE erases the instance,
 * RESET power-cycles a running instance's TPM (PCRs back to their reset
 * values, NV kept): only dom0 may, before it measures a guest that
 * (re)starts; a guest's own swtpm control socket refuses CMD_INIT, CMD_STOP
 * and CMD_SHUTDOWN (or it could reset its PCRs and replay its event log).
 * STATE_LOAD / STATE_STORE bodies are the libtpms permanent-state blob,
 * opaque to the manager (sealed and written, never parsed).
 */
struct bh_msg_vtpm_ref {
	char name[BH_MSG_NAME_MAX];
};

/* status 0 or a negative errno; @text says why for a human. */
struct bh_msg_vtpm_result {
	int32_t status;
	char name[BH_MSG_NAME_MAX]; /* "" when the request could not be decoded */
	char text[BH_MSG_ERROR_TEXT_MAX];
};

/*
 * Sealed volume secrets. The secret that opens a volume's LUKS2 keyslot is
 * sealed in its guest's vTPM to the guest's measured boot (PCRs 1, 8, 9):
 * stordom asks vtpmd for it with UNSEAL over their own channel, never
 * through dom0; BH_UNSEAL_CREATE makes (and seals) a new one when the volume
 * has none yet. UNSEAL_RESULT carries the secret only with status 0. dom0's
 * VTPM_RESEAL (the same body, flags 0) seals the secret again to the PCRs
 * now in force, through the admin branch vtpmd keeps: the secret never
 * leaves vtpm.
 */
enum bh_unseal_flags {
	BH_UNSEAL_CREATE = 1u << 0,
	BH_UNSEAL_FLAGS_ALL_ = 1,
};

struct bh_msg_unseal {
	char guest[BH_MSG_NAME_MAX];
	char volume[BH_MSG_NAME_MAX];
	uint8_t flags; /* enum bh_unseal_flags */
};

#define BH_UNSEAL_SECRET_MAX 128
struct bh_msg_unseal_result {
	int32_t status; /* 0, or a negative errno: -EACCES when the guest's PCRs differ */
	uint16_t secret_len; /* 0 unless status is 0 */
	uint8_t secret[BH_UNSEAL_SECRET_MAX];
	char text[BH_MSG_ERROR_TEXT_MAX];
};

long bh_msg_unseal_encode(const struct bh_msg_unseal *m, void *out, size_t cap);
int bh_msg_unseal_decode(const void *untrusted_body, size_t len, struct bh_msg_unseal *ret);
long bh_msg_unseal_result_encode(const struct bh_msg_unseal_result *m, void *out, size_t cap);
/* The caller wipes ret->secret (explicit_bzero) once used. */
int bh_msg_unseal_result_decode(const void *untrusted_body, size_t len,
				struct bh_msg_unseal_result *ret);

long bh_msg_vtpm_ref_encode(const struct bh_msg_vtpm_ref *m, void *out, size_t cap);
int bh_msg_vtpm_ref_decode(const void *untrusted_body, size_t len, struct bh_msg_vtpm_ref *ret);
long bh_msg_vtpm_result_encode(const struct bh_msg_vtpm_result *m, void *out, size_t cap);
int bh_msg_vtpm_result_decode(const void *untrusted_body, size_t len,
			      struct bh_msg_vtpm_result *ret);

/*
 * CHAN_SERVE: serve the socket of export or vTPM instance @name (@kind: its
 * data socket, or a vTPM's control socket) over a xen channel for domain
 * @domid, advertised at @xs_path under the service's own xenstore home
 * ("data/bulkhead/g1-disk0": relative, [A-Za-z0-9_/-] only, no empty
 * component). Replaces an earlier one for the same name, kind and path.
 */
#define BH_CHAN_XS_PATH_MAX 128 /* including the NUL */
#define BH_DOMID_MAX 0x7fefu     /* the last ordinary domain id (DOMID_FIRST_RESERVED - 1) */

enum bh_chan_serve_kind {
	BH_CHAN_SERVE_DATA = 0,
	BH_CHAN_SERVE_CTRL = 1, /* a vTPM instance's control socket */
	/* to vtpm: serve vtpmd's UNSEAL socket (--unseal) to stordom's domain
	 * @domid; @name is that stordom domain's name */
	BH_CHAN_SERVE_UNSEAL = 2,
	/* to stordom: vtpm domain @domid serves its UNSEAL socket at @xs_path in
	 * its own home; reach it behind stordomd's --unseal socket (a channel
	 * client per connection); @name is that vtpm domain's name */
	BH_CHAN_SERVE_UNSEAL_PEER = 3,
	BH_CHAN_SERVE_KIND_MAX_,
};

struct bh_msg_chan_serve {
	char name[BH_MSG_NAME_MAX];
	uint32_t kind; /* enum bh_chan_serve_kind; a u8 on the wire (no padding here) */
	uint32_t domid;
	char xs_path[BH_CHAN_XS_PATH_MAX];
};

long bh_msg_chan_serve_encode(const struct bh_msg_chan_serve *m, void *out, size_t cap);
int bh_msg_chan_serve_decode(const void *untrusted_body, size_t len,
			     struct bh_msg_chan_serve *ret);

struct bh_cursor;
/*
 * Decode a name field (u16 length + bytes) that must be a valid bulkhead name
 * (parse.h: bh_check_name), or "" when @may_be_empty. Fails the cursor
 * otherwise; returns 0 or the cursor's error. For every message codec.
 */
int bh_msg_get_name(struct bh_cursor *c, char out[BH_MSG_NAME_MAX], bool may_be_empty);

/*
 * A body that is one name and nothing else (POLICY_ZONE, VTPM_CREATE...):
 * the encoder returns the length or -ENOBUFS, the decoder 0 or -EBADMSG.
 */
long bh_msg_name_body_encode(const char *name, void *out, size_t cap);
int bh_msg_name_body_decode(const void *untrusted_body, size_t len, char out[BH_MSG_NAME_MAX]);

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
