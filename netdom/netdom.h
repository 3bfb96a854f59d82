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
 *     or any; to may also be "self", the netdom domain (its input chain, which
 *     drops the same way). Traffic netdom originates is not filtered, so a
 *     rule from self is refused.
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
	ND_SLOT_GUEST, /* vif id (map vif-id) via meta mark (source) / ct mark (dest.), 4 bytes */
	ND_SLOT_ZONE,  /* zone id (map vif-zone), the same way, 4 bytes */
	ND_SLOT_NET4,  /* ip saddr / daddr */
	ND_SLOT_NET6,  /* ip6 saddr / daddr */
	ND_SLOT_SELF,  /* destination only: the input chain, no key field */
	ND_SLOT_MAX_,
};

/* The slot has a field in the map key (any and self do not). */
static inline bool nd_slot_keyed(uint8_t slot)
{
	return slot != ND_SLOT_ANY && slot != ND_SLOT_SELF;
}

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
	/* Map indexes in use, most specific first; dst == ND_SLOT_SELF: input chain. */
	uint8_t order[ND_SLOT_MAX_ * ND_SLOT_MAX_];
	size_t n_order;
};

int nd_compile(const struct nd_policy *p, struct nd_ruleset **ret, struct nd_error *e);
void nd_ruleset_free(struct nd_ruleset *rs);
/* Ids the vif-id and vif-zone maps give for vif index @vi and zone index @zi (from 1). */
static inline uint32_t nd_vif_id(uint32_t vi)
{
	return vi + 1;
}

static inline uint32_t nd_zone_id(uint32_t zi)
{
	return zi + 1;
}

/* ------------------------------------------------------------------------
 * The table as data (table.c): chains, rules as lists of abstract
 * expressions, set specs and element values, in plain C over the kernel's
 * uapi constants. nft.c only turns each item into libnftnl objects, so the
 * layout of table inet bulkhead is unit-testable without netlink.
 */
enum nd_x_op {
	ND_X_META,        /* key, reg (destination) */
	ND_X_META_SET,    /* key, reg (source) */
	ND_X_CT,          /* key, reg (destination) */
	ND_X_CT_SET,      /* key, reg (source) */
	ND_X_PAYLOAD,     /* key = base, off, len, reg (destination) */
	ND_X_CMP,         /* key = op, reg, data[len] */
	ND_X_BITWISE,     /* reg, mask = data[len], xor 0 */
	ND_X_LOOKUP,      /* name = set, reg (source), dreg (-1: a match test), invert */
	ND_X_COUNTER,     /* name = counter object */
	ND_X_COUNTER_MAP, /* name = counter map, reg (source) */
	ND_X_VERDICT,     /* verdict, name = chain for jump/goto */
	ND_X_LIMIT,       /* ND_LOG_RATE packets/s, burst ND_LOG_BURST */
	ND_X_LOG,         /* name = prefix, group ND_NFLOG_GROUP */
	ND_X_REJECT,      /* key = type, data[0] = code */
};

#define ND_NAME_MAX 32
#define ND_X_MAX 20
#define ND_NFLOG_GROUP 7301
#define ND_LOG_RATE 20
#define ND_LOG_BURST 40

struct nd_x {
	uint8_t op; /* enum nd_x_op */
	bool invert;
	uint32_t key, reg, off, len;
	int32_t dreg, verdict;
	char name[ND_NAME_MAX];
	uint8_t data[16];
};

struct nd_xrule {
	const char *chain;
	uint8_t n;
	struct nd_x x[ND_X_MAX];
};

struct nd_xrules {
	struct nd_xrule *v;
	size_t n, cap;
	int err;
};

struct nd_chain_spec {
	const char *name;
	int hook; /* -1: a regular chain */
	int prio, policy;
};

/* Regular chains that set elements jump to (created before the elements). */
extern const struct nd_chain_spec nd_verdict_chains[5];
/* Base chains (created after every set is filled). */
extern const struct nd_chain_spec nd_base_chains[3];

void nd_table_verdict_rules(struct nd_xrules *out);
void nd_table_base_rules(const struct nd_ruleset *rs, struct nd_xrules *out);
void nd_xrules_free(struct nd_xrules *r);

struct nd_set_spec {
	char name[ND_NAME_MAX];
	uint32_t flags; /* NFT_SET_* */
	uint8_t n_fields;
	uint8_t field_len[ND_FIELDS_MAX];
	uint8_t field_type[ND_FIELDS_MAX]; /* nftables datatype numbers, for `nft list` */
	uint32_t data_type, data_len;      /* maps */
	uint32_t obj_type;                 /* object maps */
};

#define ND_SPOOF_SETS 8
extern const struct nd_set_spec nd_spoof_specs[ND_SPOOF_SETS];
uint32_t nd_set_key_len(const struct nd_set_spec *s);
/* The verdict map and counter map of one endpoint pair. */
void nd_pair_specs(const struct nd_map *m, struct nd_set_spec *vs, struct nd_set_spec *cs);

/* One set element: a key or key range, and what it maps to (at most one of the four). */
struct nd_elem_val {
	const void *key, *key_end;
	uint32_t key_len;
	bool is_verdict;
	int32_t verdict;
	const char *chain; /* goto, for verdict maps */
	const void *data;
	uint32_t data_len;
	const char *obj;
};

/* What an element of rule @r's verdict map does (accept, drop, reject, via a log chain). */
void nd_rule_verdict(const struct nd_rule *r, struct nd_elem_val *v);

/* The anti-spoofing elements of one vif: which set, which key, zone data. */
struct nd_vif_elem {
	uint8_t set; /* index in nd_spoof_specs */
	uint32_t key_len;
	uint8_t key[40]; /* vif-src6: ifname, MAC padded to 8, IPv6 address */
	uint32_t data;	 /* vif-id and vif-zone: the id */
};
#define ND_VIF_ELEMS_MAX (4 + 2 * BH_POLICY_ADDRS_MAX)
size_t nd_vif_elems(const struct nd_policy *p, const struct nd_vif *v, struct nd_vif_elem *out);

/* Counter object names: "r<id>" for rules, plus "default-drop" and "spoof". */
void nd_counter_name(uint32_t rule_id, char *out, size_t len);
int nd_counter_parse(const char *untrusted_name, uint32_t *ret_id);

/* The generation rides in the table's comment: "bulkhead generation N". */
void nd_generation_comment(uint64_t generation, char *out, size_t len);
int nd_generation_parse(const char *untrusted, size_t len, uint64_t *ret);

/* ------------------------------------------------------------------------
 * Drop reports (drops.c): NFLOG messages -> drops -> coalesced DROP_EVENTs.
 */
#define ND_NFLOG_COPY 128 /* bytes of each dropped packet copied to us: headers only */
#define ND_DROPS_MAX 64   /* distinct events per period; more are counted as lost */
#define ND_DROPS_PERIOD_MS 1000

struct nd_drop {
	uint32_t indev; /* ifindex the packet came in on, 0: unknown */
	bool spoof;     /* dropped by the anti-spoofing rule */
	struct bh_msg_net src, dst;
	uint8_t l4proto;
	uint16_t dport;
};

typedef void (*nd_drop_cb)(const struct nd_drop *d, void *arg);

/* Parse a network header onward (IPv4 or IPv6); -EBADMSG if it is neither. */
int nd_nflog_packet(const uint8_t *untrusted, size_t len, struct nd_drop *d);
/* Parse one datagram of NFLOG messages; @cb per logged drop; returns their number or -EBADMSG. */
int nd_nflog_parse(const uint8_t *untrusted, size_t len, nd_drop_cb cb, void *arg);

struct nd_drops {
	struct bh_msg_drop_event v[ND_DROPS_MAX];
	size_t n;
	uint64_t lost;
	uint64_t last_ms; /* when the table was last handed out */
};

void nd_drops_add(struct nd_drops *t, const char *guest, const struct nd_drop *d);
/* The table holds something and a period has passed since the last hand-out. */
bool nd_drops_due(const struct nd_drops *t, uint64_t now_ms);
/* Milliseconds until due, 0 if due now, -1 if empty (poll timeouts). */
int nd_drops_wait_ms(const struct nd_drops *t, uint64_t now_ms);
void nd_drops_reset(struct nd_drops *t, uint64_t now_ms);

/* ------------------------------------------------------------------------
 * Established flows under a new policy (flows.c).
 */
struct nd_flow {
	uint8_t fam; /* 4 or 6 */
	uint8_t src[16], dst[16];
	uint8_t l4proto;
	uint16_t dport;
};

struct nd_addr_ref;

/* Guest addresses -> vif, sorted for lookups. */
struct nd_flows {
	struct nd_addr_ref *v;
	size_t n;
};

int nd_flows_index(const struct nd_policy *p, struct nd_flows *ret);
void nd_flows_free(struct nd_flows *f);
/* The rule (index) that decides a flow's first packet under @rs, or -1: the default. */
long nd_flow_decide(const struct nd_ruleset *rs, const struct nd_flows *ix, const struct nd_flow *f);
bool nd_flow_allowed(const struct nd_ruleset *rs, const struct nd_flows *ix,
		     const struct nd_flow *f);
/*
 * One ctnetlink entry (the attributes after nfgenmsg): its original tuple as
 * a flow, and the raw CTA_TUPLE_ORIG attribute (pointing into @untrusted) that
 * deletes it. -EBADMSG when torn or without an IPv4/IPv6 tuple.
 */
int nd_ct_parse(const uint8_t *untrusted, size_t len, struct nd_flow *f, const uint8_t **tuple,
		size_t *tuple_len);

/* ------------------------------------------------------------------------
 * Plain netfilter netlink (netlink.c).
 */
typedef bool (*nd_ct_keep_fn)(const struct nd_flow *f, void *arg);
/*
 * Delete the conntrack entries of forwarded flows that @keep refuses (flows
 * to or from the netdom's own addresses are left alone). Returns the number
 * deleted, or -errno.
 */
int nd_conntrack_prune(nd_ct_keep_fn keep, void *arg);
/* A non-blocking socket bound to NFLOG @group, copying packet headers. */
int nd_nflog_open(uint16_t group, int *ret_fd);

/* ------------------------------------------------------------------------
 * Batch bookkeeping (batch.c): buffer, sequence numbers, and what each
 * message came from, so a kernel error names a policy rule.
 */
#define ND_MSG_ROOM (256 * 1024) /* free space kept before building each message */

struct nd_origin {
	int64_t rule; /* index in the policy, -1: none */
	const char *what;
	int64_t rule_last; /* the message holds rules [rule, rule_last] (elements, fast path) */
};

struct nd_batch {
	char *buf;
	size_t len, cap;
	uint32_t seq0, seq; /* first message's sequence number, next one */
	struct nd_origin *orig; /* indexed by seq - seq0 */
	size_t n_orig, cap_orig;
	int err;
	const struct nd_ruleset *rs;
	uint32_t set_id;
	struct nd_origin cur; /* origin of the messages being added */
	bool one_rule_per_msg; /* element messages never span rules (to pinpoint an error) */
};

/* Room for one more message (ND_MSG_ROOM bytes), NULL after an error. */
char *nd_batch_room(struct nd_batch *b);
/* Note b->cur as the origin of the message about to get b->seq. */
int nd_batch_record(struct nd_batch *b);
/* A message of @msg_len bytes was built in the room: account for it. */
void nd_batch_done(struct nd_batch *b, uint32_t msg_len);
void nd_batch_origin(struct nd_batch *b, int64_t rule, const char *what);
bool nd_batch_owns(const struct nd_batch *b, uint32_t seq);
/* Fill @e for the kernel's @code on message @seq, naming its rule or object. */
void nd_batch_error(const struct nd_batch *b, uint32_t seq, int code, struct nd_error *e);
/* Message @seq carried the elements of several rules: the error cannot name one. */
bool nd_batch_spans_rules(const struct nd_batch *b, uint32_t seq);
void nd_batch_free(struct nd_batch *b);

struct nd_counter_list {
	struct bh_msg_counter *v;
	size_t n, cap;
	int err;
};

int nd_counters_push(struct nd_counter_list *l, const struct bh_msg_counter *c);

/* ------------------------------------------------------------------------
 * nftables adapter (nft.c).
 */
struct nd_nft;

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
/* ------------------------------------------------------------------------
 * Daemon (daemon.c).
 */
/* One control connection (or the policy file): its input and its own pending sequence. */
struct nd_conn {
	int fd;  /* input */
	int out; /* replies and drop events; -1: none */
	struct nd_policy *pending;
	uint8_t *buf; /* input being assembled: at most one header and one body */
	size_t len;
};

#define ND_CONNS_MAX 8

struct nd_daemon {
	struct nd_nft *nft;
	uint64_t generation; /* in force; 0 = the closed policy */
	/* The policy in force when this process applied it (names guests in drop events). */
	struct nd_policy *policy;
	int last_status;
	int nflog_fd; /* -1: no drop events */
	struct nd_drops drops;
	struct nd_conn conns[ND_CONNS_MAX];
	size_t n_conns;
};

/* Open netlink; adopt the table in force, or install the closed policy if none. */
int nd_daemon_init(struct nd_daemon *d);
int nd_daemon_apply_closed(struct nd_daemon *d);
void nd_daemon_fini(struct nd_daemon *d);
/* Handle one message from @c. -errno only when the connection must close. */
int nd_daemon_handle(struct nd_daemon *d, struct nd_conn *c, const struct bh_msg_hdr *h,
		     const uint8_t *untrusted_body);
/* Write one framed message to @fd; -errno when the peer is gone. */
int nd_send(int fd, uint16_t type, uint16_t flags, uint32_t req, const void *body, long len);

/* serve.c: connections and drop events. */
/* Read what @c has and handle every complete message: 0 more to come, 1 EOF, -errno. */
int nd_conn_input(struct nd_daemon *d, struct nd_conn *c);
void nd_conn_close(struct nd_conn *c);
/* Apply a file of messages to its end (netdomd --policy); the last POLICY_RESULT status. */
int nd_daemon_file(struct nd_daemon *d, int fd);
/* Serve connections on @listen_fd until a fatal error; drop events if nflog_fd >= 0. */
int nd_daemon_serve(struct nd_daemon *d, int listen_fd);

#endif
