/* SPDX-License-Identifier: MIT */
/*
 * netdom private header: the policy model (policy.c), its compilation to
 * lookup maps (compile.c), the nftables adapter (nft.c, the only file that
 * includes libnftnl/libmnl) and the daemon (daemon.c, main.c).
 *
 * Semantics (DESIGN.md section 6):
 *   - Forwarded traffic is dropped unless a rule accepts it (default drop or
 *     reject); established/related flows are accepted, invalid ones dropped.
 *   - A rule matches on (from, to, protocol, destination ports). from/to is a
 *     guest (by its vifs), a zone (the vifs of its guests), a CIDR (by address)
 *     or any.
 *   - When several rules match a packet, the most specific endpoint pair wins
 *     (guest > zone > CIDR > any, source before destination on a tie), and
 *     among rules of the same pair the first in policy order wins. This is
 *     what lets every rule live in a lookup map: a packet costs one lookup per
 *     endpoint pair, whatever the number of guests or rules.
 *   - Packets from a guest's vif must carry that vif's MAC and one of its
 *     addresses (anti-spoofing, before conntrack).
 */
#ifndef BULKHEAD_NETDOM_H
#define BULKHEAD_NETDOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead/msg.h"
#include "bulkhead/util.h"

#define ND_TABLE "bulkhead"

/* An error that names what caused it: the rule (id and label) when there is one. */
struct nd_error {
	int code; /* negative errno */
	uint32_t rule_id; /* 0: not one rule's fault */
	char text[BH_MSG_ERROR_TEXT_MAX];
};

void nd_error_set(struct nd_error *e, int code, uint32_t rule_id, const char *fmt, ...)
	_printf_(4, 5);

/* ------------------------------------------------------------------------
 * Policy model (policy.c). Built from the control-message sequence; every
 * reference resolved and every constraint checked by nd_policy_finish().
 */
struct nd_guest {
	char name[BH_MSG_NAME_MAX];
	uint32_t zone; /* zone index + 1; 0 = no zone */
};

struct nd_vif {
	struct bh_msg_policy_guest m;
	uint32_t guest; /* index */
};

struct nd_rule {
	struct bh_msg_policy_rule m;
	uint32_t from_ref, to_ref; /* guest or zone index for those endpoint kinds */
};

struct nd_policy {
	uint64_t generation;
	uint8_t default_action;
	uint32_t want_zones, want_vifs, want_rules; /* from POLICY_BEGIN */
	struct bh_msg_policy_zone *zones;
	uint32_t n_zones;
	struct nd_guest *guests;
	uint32_t n_guests;
	struct nd_vif *vifs;
	uint32_t n_vifs;
	struct nd_rule *rules;
	uint32_t n_rules;
	uint32_t cap_zones, cap_guests, cap_vifs, cap_rules;
	bool finished;
};

int nd_policy_begin(const struct bh_msg_policy_begin *b, struct nd_policy **ret);
void nd_policy_free(struct nd_policy *p);
int nd_policy_add_zone(struct nd_policy *p, const struct bh_msg_policy_zone *z, struct nd_error *e);
int nd_policy_add_vif(struct nd_policy *p, const struct bh_msg_policy_guest *g, struct nd_error *e);
int nd_policy_add_rule(struct nd_policy *p, const struct bh_msg_policy_rule *r, struct nd_error *e);
/* Check counts and @generation against BEGIN, resolve references, validate. */
int nd_policy_finish(struct nd_policy *p, uint64_t generation, struct nd_error *e);
/* The built-in "nothing allowed" policy netdomd installs when it finds no table. */
int nd_policy_closed(struct nd_policy **ret);

/*
 * Feed one decoded message of the sequence (POLICY_BEGIN creates *pp,
 * POLICY_COMMIT finishes it). Returns 0 when more is expected, 1 when the
 * policy in *pp is complete, or -errno with @e filled (then *pp is freed).
 */
int nd_policy_feed(struct nd_policy **pp, uint16_t type, const uint8_t *untrusted_body, size_t len,
		   struct nd_error *e);

/* "rule 12 (guests/web.cfg:3)" */
void nd_rule_name(const struct nd_rule *r, char *out, size_t outlen);
const struct nd_rule *nd_policy_rule_by_id(const struct nd_policy *p, uint32_t id);

/* ------------------------------------------------------------------------
 * Compiler (compile.c): policy -> one interval map per endpoint pair, whose
 * elements are disjoint boxes each owned by one rule.
 */
enum nd_slot {
	ND_SLOT_ANY,
	ND_SLOT_GUEST, /* iifname / oifname, 16 bytes */
	ND_SLOT_ZONE,  /* zone id through meta mark (source) / ct mark (destination), 4 bytes */
	ND_SLOT_NET4,  /* ip saddr / daddr */
	ND_SLOT_NET6,  /* ip6 saddr / daddr */
	ND_SLOT_MAX_,
};

#define ND_FIELDS_MAX 4
#define ND_KEY_MAX 64

struct nd_elem {
	uint8_t lo[ND_KEY_MAX], hi[ND_KEY_MAX]; /* register layout, each field padded to 4 */
	uint32_t rule; /* index in the policy */
};

struct nd_map {
	uint8_t src, dst; /* enum nd_slot */
	uint8_t n_fields;
	uint8_t field_len[ND_FIELDS_MAX]; /* unpadded bytes */
	uint32_t key_len; /* padded */
	struct nd_elem *v;
	size_t n, cap;
};

struct nd_ruleset {
	const struct nd_policy *p;
	struct nd_map maps[ND_SLOT_MAX_ * ND_SLOT_MAX_];
	uint8_t order[ND_SLOT_MAX_ * ND_SLOT_MAX_]; /* map indexes, most specific first */
	size_t n_order;
	bool uses_zones;
};

int nd_compile(const struct nd_policy *p, struct nd_ruleset **ret, struct nd_error *e);
void nd_ruleset_free(struct nd_ruleset *rs);
/* Zone id written into the mark for zone index @zi (ids start at 1). */
static inline uint32_t nd_zone_id(uint32_t zi)
{
	return zi + 1;
}

/* ------------------------------------------------------------------------
 * nftables adapter (nft.c).
 */
struct nd_nft;

#define ND_NFLOG_GROUP 7301

int nd_nft_open(struct nd_nft **ret);
void nd_nft_close(struct nd_nft *n);
/*
 * Replace table inet bulkhead by @rs in one transaction. On failure nothing
 * changed and @e names the rule whose message the kernel refused.
 */
int nd_nft_apply(struct nd_nft *n, const struct nd_ruleset *rs, struct nd_error *e);
/* Generation of the table in force (0 when there is none, or not ours). */
int nd_nft_generation(struct nd_nft *n, uint64_t *ret);
/* Per-rule counters: rule ids and values, in any order; caller frees *ret. */
int nd_nft_counters(struct nd_nft *n, struct bh_msg_counter **ret, size_t *ret_n);
/* Forget every conntrack entry so the next packet of each flow meets the new policy. */
int nd_conntrack_flush(void);

/* ------------------------------------------------------------------------
 * Daemon (daemon.c).
 */
struct nd_daemon {
	struct nd_nft *nft;
	uint64_t generation; /* in force; 0 = the closed policy */
	struct nd_policy *pending; /* a sequence being received */
	int last_status;
};

/* Open netlink; adopt the table in force, or install the closed policy if none. */
int nd_daemon_init(struct nd_daemon *d);
int nd_daemon_apply_closed(struct nd_daemon *d);
void nd_daemon_fini(struct nd_daemon *d);
/* Handle one message; replies go to @out_fd. -errno only when the stream must close. */
int nd_daemon_handle(struct nd_daemon *d, int out_fd, const struct bh_msg_hdr *h,
		     const uint8_t *untrusted_body);
/* Serve a msg-framed stream until EOF (0) or a framing error (-errno). */
int nd_daemon_stream(struct nd_daemon *d, int in_fd, int out_fd);

#endif
