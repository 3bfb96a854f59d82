/* SPDX-License-Identifier: MIT */
/*
 * dom0 private header: the configuration model that `bulkhead` builds from a
 * topology directory (DESIGN.md section 5), the diagnostics it collects while
 * doing so, and the pieces the CLI is made of.
 *
 * Ownership: one struct bh_topology owns everything hanging off it (files,
 * domains, rules, volumes, zones, grants) and bh_topology_free() frees it all.
 * Cross references (a rule naming a zone, a volume naming its owner) are by
 * name, resolved by the validator, so arrays can grow without dangling
 * pointers. Every model object records where it came from (struct bh_src).
 */
#ifndef BULKHEAD_DOM0_H
#define BULKHEAD_DOM0_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>

#include "bulkhead/chan.h"
#include "bulkhead/msg.h"
#include "bulkhead/util.h"

/* ------------------------------------------------------------------------
 * Diagnostics (diag.c): every configuration error, as "file:line: message".
 * Adding never fails: on ENOMEM the list goes sticky (err) and stops growing.
 */
struct bh_diag {
	char *file;
	unsigned line; /* 0: the error concerns the whole file */
	char *msg;
};

struct bh_diags {
	struct bh_diag *v;
	size_t n;
	size_t cap;
	int err; /* 0 or -ENOMEM */
};

void bh_diag_add(struct bh_diags *d, const char *file, unsigned line, const char *fmt, ...)
	_printf_(4, 5);
/* Stable sort by file name, then line. */
void bh_diags_sort(struct bh_diags *d);
void bh_diags_print(const struct bh_diags *d, FILE *out);
void bh_diags_clear(struct bh_diags *d);

/* ------------------------------------------------------------------------
 * Scanner (cfg-scan.c): libxlutil reports neither the keys a file sets nor
 * their lines, so this finds every "key = value" / "key += value" statement,
 * with the line of the key and of each top-level list item.
 */
struct bh_scan_stmt {
	char *key;
	unsigned line;
	bool append; /* "+=" */
	bool is_list;
	unsigned *item_lines; /* line of each top-level list item */
	size_t n_items;
};

struct bh_scan {
	struct bh_scan_stmt *v;
	size_t n;
};

/* Returns 0 or -ENOMEM. Never fails on malformed input: it resyncs at newlines. */
int bh_cfg_scan(const char *untrusted_data, size_t len, struct bh_scan *ret);
void bh_scan_free(struct bh_scan *s);
/*
 * Find a byte outside strings and comments that libxlutil's lexer rejects.
 * Returns 0, or -EINVAL with its line and the offending text (quoted) in @tok.
 */
int bh_cfg_lex_check(const char *untrusted_data, size_t len, unsigned *ret_line, char *tok,
		     size_t toklen);

/* ------------------------------------------------------------------------
 * Known keys (cfg-keys.c).
 */
enum bh_file_kind {
	BH_FILE_HOST = 1 << 0,
	BH_FILE_SERVICE = 1 << 1,
	BH_FILE_GUEST = 1 << 2,
};

enum bh_key_type {
	BH_KEY_STRING, /* a string or a number */
	BH_KEY_LIST,   /* a list of strings */
};

struct bh_key_info {
	const char *name;
	enum bh_key_type type;
	unsigned files; /* enum bh_file_kind bits where the key is allowed */
};

const struct bh_key_info *bh_key_lookup(const char *name);
const struct bh_key_info *bh_key_table(size_t *ret_n);
/* The known bh_ key closest to @name (edit distance <= 3), or NULL. */
const char *bh_key_suggest(const char *name);
const char *bh_file_kind_name(enum bh_file_kind kind);

/* ------------------------------------------------------------------------
 * One parsed file (cfg.c, the libxlutil adapter): the values of the keys
 * bulkhead knows, with their lines.
 */
struct bh_cfg_value {
	const char *key; /* points into the key table */
	unsigned line;
	bool is_list;
	char *str;
	char **items;
	unsigned *item_lines;
	size_t n_items;
};

struct bh_cfg_file {
	char *path; /* as printed in diagnostics */
	enum bh_file_kind kind;
	struct bh_cfg_value *vals;
	size_t n_vals;
};

#define BH_CFG_FILE_MAX (1u << 20)

/*
 * Parse @untrusted_data (a whole file named @path in diagnostics). Syntax and
 * key errors go to @diags; *ret is NULL when libxlutil could not parse the
 * file at all. Returns 0, or -ENOMEM.
 */
int bh_cfg_file_parse(const char *path, enum bh_file_kind kind, const char *untrusted_data,
		      size_t len, struct bh_diags *diags, struct bh_cfg_file **ret);
/* Same, reading the file first (unreadable files are a diagnostic). */
int bh_cfg_file_read(const char *path, enum bh_file_kind kind, struct bh_diags *diags,
		     struct bh_cfg_file **ret);
void bh_cfg_file_free(struct bh_cfg_file *f);

const struct bh_cfg_value *bh_cfg_get(const struct bh_cfg_file *f, const char *key);
/* Line of @key, or 0 when unset. */
unsigned bh_cfg_line(const struct bh_cfg_file *f, const char *key);

/* Typed getters for the model builders (cfg-value.c). */
/* The string value of @key, or NULL when unset. */
const char *bh_val_str(const struct bh_cfg_file *f, const char *key);
/* The list value of @key, or NULL when unset. */
const struct bh_cfg_value *bh_val_list(const struct bh_cfg_file *f, const char *key);
/* Getters: leave *ret alone when unset or malformed (malformed is a diagnostic). */
void bh_val_bool(const struct bh_cfg_file *f, const char *key, struct bh_diags *d, bool *ret);
void bh_val_u64(const struct bh_cfg_file *f, const char *key, uint64_t min, uint64_t max,
		struct bh_diags *d, uint64_t *ret);
/* Index of the value in @names; -EINVAL (and a diagnostic) for anything else. */
int bh_val_enum(const struct bh_cfg_file *f, const char *key, const char *const *names,
		size_t n, struct bh_diags *d, int *ret);
/* bh_io_max: 0, or -EINVAL with a message in @err. */
int bh_io_max_check(const char *untrusted_s, char *err, size_t errlen);
/* Copy of the string value, or *ret untouched when unset. 0 or -ENOMEM. */
int bh_val_strdup(const struct bh_cfg_file *f, const char *key, char **ret);
/* A diagnostic unless the value (when set) is an absolute path. */
void bh_val_abspath(const struct bh_cfg_file *f, const char *key, struct bh_diags *d);

struct bh_disk {
	char *spec;
	char *vdev;
	char *target;
	char *format;  /* libxl's name: "raw", "qcow2", ... ("unknown": libxl picks) */
	char *backend; /* libxl's name: "phy", "qdisk", ... ("unknown": libxl picks) */
	char *script;  /* the block hotplug script, or NULL for libxl's default */
	bool readonly;
	unsigned line;
};

/* Free what @d owns (accepts a zeroed one). */
void bh_disk_clear(struct bh_disk *d);

/*
 * Parse one xl disk spec with xlu_disk_parse(). On -EINVAL, @err holds what
 * libxlutil said. Returns 0, -EINVAL or -ENOMEM.
 */
int bh_cfg_disk_parse(const char *untrusted_spec, struct bh_disk *ret, char *err, size_t errlen);

/* ------------------------------------------------------------------------
 * Addresses (net.c).
 */
struct bh_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned len; /* prefix length */
};

/*
 * "10.0.0.1", "10.0.0.0/24", "fd00::1/64". Without "/N" the prefix is a
 * single host. Returns 0 or -EINVAL.
 */
int bh_prefix_parse(const char *untrusted_s, struct bh_prefix *ret);
/* True when no bit beyond the prefix length is set. */
bool bh_prefix_is_network(const struct bh_prefix *p);
bool bh_prefix_overlap(const struct bh_prefix *a, const struct bh_prefix *b);
/* @inner lies entirely within @outer. */
bool bh_prefix_contains(const struct bh_prefix *outer, const struct bh_prefix *inner);
/* "10.0.0.0/24"; a single host is printed without the prefix length. */
void bh_prefix_format(const struct bh_prefix *p, char *out, size_t outlen);

/* "00:16:3e:00:00:01". Returns 0 or -EINVAL. */
int bh_mac_parse(const char *untrusted_s, uint8_t ret[6]);

/* ------------------------------------------------------------------------
 * The model.
 */
enum bh_platform {
	BH_PLATFORM_AUTO,
	BH_PLATFORM_HOST,
	BH_PLATFORM_XEN,
};

enum bh_dom_role {
	BH_DOM_GUEST,
	BH_DOM_NETDOM,
	BH_DOM_STORDOM,
	BH_DOM_VTPM,
	BH_DOM_ROLE_MAX_,
};

struct bh_src {
	const char *file; /* owned by the topology's file list */
	unsigned line;
};

struct bh_vif {
	struct bh_src src;
	bool has_mac;
	uint8_t mac[6];
	char *bridge;
	char *backend; /* the netdom's name when the spec does not say */
	char *vifname;
	struct bh_prefix *ips;
	size_t n_ips;
};

enum bh_ep_kind {
	BH_EP_SELF,   /* the domain whose file holds the rule */
	BH_EP_DOMAIN, /* a guest or the netdom, by name */
	BH_EP_ZONE,   /* "zone:NAME" */
	BH_EP_ANY,    /* "any" */
	BH_EP_CIDR,   /* an outside network */
};

struct bh_endpoint {
	enum bh_ep_kind kind;
	char *name; /* domain or zone name */
	struct bh_prefix cidr;
};

enum bh_proto {
	BH_PROTO_ANY,
	BH_PROTO_TCP,
	BH_PROTO_UDP,
	BH_PROTO_ICMP,
	BH_PROTO_ICMPV6,
};

enum bh_action {
	BH_ACTION_ACCEPT,
	BH_ACTION_DROP,
	BH_ACTION_REJECT,
};

struct bh_port_range {
	uint16_t lo, hi;
};

#define BH_RULE_PORTS_MAX 16

struct bh_rule {
	struct bh_src src;
	char *owner; /* domain whose file holds it; NULL for host.cfg rules */
	struct bh_endpoint from, to;
	enum bh_proto proto;
	struct bh_port_range ports[BH_RULE_PORTS_MAX];
	size_t n_ports;
	enum bh_action action;
	bool log;
};

#define BH_VOLUME_CIPHER "aes-xts-plain64"
#define BH_VOLUME_SECTOR 4096u
/* What a config may ask for; within what VOLUME_OPEN can carry (msg.h). */
#define BH_CFG_VOLUME_SIZE_MIN (1ull << 20)
#define BH_CFG_VOLUME_SIZE_MAX (1ull << 44)

struct bh_volume {
	struct bh_src src;
	char *name;
	char *owner; /* guest name */
	uint64_t size; /* bytes, multiple of BH_VOLUME_SECTOR */
	char *backing; /* absolute path; NULL means <state dir>/volumes/<name>.luks */
	const char *cipher;
	unsigned sector_size;
	bool sealed; /* seal=1: its keyslot secret is sealed in the owner's vTPM, not in a key file */
};

struct bh_zone {
	struct bh_src src;
	char *name;
	struct bh_prefix *cidrs;
	size_t n_cidrs;
};

enum bh_perm {
	BH_PERM_STATUS = 1 << 0,
	BH_PERM_LOGS = 1 << 1,
	BH_PERM_UP = 1 << 2,
	BH_PERM_DOWN = 1 << 3,
	BH_PERM_ATTEST = 1 << 4,
	BH_PERM_POLICY = 1 << 5,
	BH_PERM_MEASURE = 1 << 6,
	BH_PERM_RESTART = 1 << 7,
	BH_PERM_RESEAL = 1 << 8, /* seal a guest's volume secrets to its changed measurements */
	BH_PERM_ALL = (1 << 9) - 1,
	/* The roles of bh_manage, names for sets of the above. */
	BH_ROLE_ADMIN = BH_PERM_ALL,
	BH_ROLE_OPERATOR = BH_PERM_STATUS | BH_PERM_RESTART | BH_PERM_POLICY,
	BH_ROLE_AUDITOR = BH_PERM_STATUS | BH_PERM_LOGS,
};

struct bh_grant {
	struct bh_src src;
	bool is_group;
	char *principal;
	unsigned perms; /* enum bh_perm bits */
};

enum bh_restart {
	BH_RESTART_ALWAYS,
	BH_RESTART_ON_FAILURE,
	BH_RESTART_NEVER,
};

struct bh_domain {
	struct bh_src src; /* the file; line of "name" */
	const struct bh_cfg_file *cfg;
	char *name;
	enum bh_dom_role role;
	char *type; /* xl "type": pv or pvh */
	char *kernel;
	char *ramdisk;
	char *cmdline; /* xl "cmdline", or "extra" (with "root=" in front if set) */
	uint64_t memory_mib;
	unsigned vcpus;
	unsigned cpu_weight; /* xl cpu_weight; 0: the scheduler's default */
	unsigned cpu_cap;    /* xl cap, % of one CPU; 0: none */
	char *tsc_mode;      /* xl tsc_mode, checked; NULL: libxl's default */
	char *io_max; /* bh_io_max, checked: "rbps=N wbps=N riops=N wiops=N" (any of them) */
	struct bh_vif *vifs;
	size_t n_vifs;
	struct bh_disk *disks;
	size_t n_disks;
	/* guests */
	char *zone;
	bool vtpm;
	bool measure;
	char *host_cmd;
	/* service domains */
	uint32_t pids_max;
	enum bh_restart restart;
	struct bh_prefix *gateways; /* netdom: its address on each guest network */
	size_t n_gateways;
};

#define BH_MEMORY_MIN_MIB 32
#define BH_MEMORY_MAX_MIB (1024ull * 1024)
#define BH_VCPUS_MAX 128
#define BH_PIDS_MAX_LIMIT 4194304u

struct bh_topology {
	char *dir;
	struct bh_cfg_file **files;
	size_t n_files;
	const struct bh_cfg_file *host_cfg;
	/* host.cfg */
	enum bh_platform platform;
	char *audit_log;
	bool syslog;
	char *syslog_socket; /* AF_UNIX datagram socket for RFC 5424; NULL: /dev/log */
	enum bh_action default_policy;
	char *state_dir;
	struct bh_grant *grants;
	size_t n_grants;
	struct bh_zone *zones;
	size_t n_zones;
	/* everything else */
	struct bh_domain *domains;
	size_t n_domains;
	struct bh_rule *rules;
	size_t n_rules;
	struct bh_volume *volumes;
	size_t n_volumes;
};

/* ------------------------------------------------------------------------
 * Spec strings inside list items (cfg-spec.c). Each returns 0, or -EINVAL with
 * a message in @err, or -ENOMEM. Nothing is written to *ret on failure.
 */
int bh_rule_parse(const char *untrusted_spec, struct bh_rule *ret, char *err, size_t errlen);
int bh_volume_parse(const char *untrusted_spec, struct bh_volume *ret, char *err, size_t errlen);
int bh_zone_parse(const char *untrusted_spec, struct bh_zone *ret, char *err, size_t errlen);
int bh_grant_parse(const char *untrusted_spec, struct bh_grant *ret, char *err, size_t errlen);
/* xl vif spec: "mac=...,ip=...,bridge=...,backend=..." */
int bh_vif_parse(const char *untrusted_spec, struct bh_vif *ret, char *err, size_t errlen);

void bh_rule_clear(struct bh_rule *r);
void bh_volume_clear(struct bh_volume *v);
void bh_zone_clear(struct bh_zone *z);
void bh_grant_clear(struct bh_grant *g);
void bh_vif_clear(struct bh_vif *v);

const char *bh_proto_name(enum bh_proto p);
const char *bh_action_name(enum bh_action a);
const char *bh_role_cfg_name(enum bh_dom_role r);
const char *bh_platform_name(enum bh_platform p);
/* "web", "zone:dmz", "any", "198.51.100.0/24"; @self names BH_EP_SELF. */
void bh_endpoint_format(const struct bh_endpoint *e, const char *self, char *out, size_t outlen);

/* ------------------------------------------------------------------------
 * Building the model (cfg-host.c, cfg-domain.c, topology.c).
 */

/* Append a zeroed element to a growable array; NULL on ENOMEM. */
void *bh_array_push(void *arrayp, size_t *n, size_t elem_size);

int bh_host_build(struct bh_topology *t, const struct bh_cfg_file *f, struct bh_diags *diags);
/* The bh_allow rules of @f; @owner is its domain, NULL for host.cfg. */
int bh_rules_build(struct bh_topology *t, const struct bh_cfg_file *f, const char *owner,
		   struct bh_diags *diags);
int bh_domain_build(struct bh_topology *t, const struct bh_cfg_file *f, struct bh_diags *diags);
void bh_domain_clear(struct bh_domain *dom);

/*
 * Load every file of the topology in @dir. Configuration errors go to @diags
 * (a partial topology is still returned so validation can find more).
 * Returns 0 or -ENOMEM.
 */
int bh_topology_load(const char *dir, struct bh_diags *diags, struct bh_topology **ret);
/* A topology made of one file of @kind (fuzzing, tests). */
int bh_topology_load_data(const char *path, enum bh_file_kind kind, const char *untrusted_data,
			  size_t len, struct bh_diags *diags, struct bh_topology **ret);
void bh_topology_free(struct bh_topology *t);

const struct bh_domain *bh_topology_domain(const struct bh_topology *t, const char *name);
const struct bh_domain *bh_topology_service(const struct bh_topology *t, enum bh_dom_role role);
const struct bh_zone *bh_topology_zone(const struct bh_topology *t, const char *name);

/* ------------------------------------------------------------------------
 * Validation (validate.c, validate-net.c): every error goes to @diags.
 * @platform is the resolved platform (host or xen).
 */
void bh_validate(const struct bh_topology *t, enum bh_platform platform, struct bh_diags *diags);
void bh_validate_net(const struct bh_topology *t, struct bh_diags *diags);
void bh_validate_rules(const struct bh_topology *t, struct bh_diags *diags);

/* The platform to check against: @cli if given, else host.cfg, else probe. */
enum bh_platform bh_platform_resolve(enum bh_platform cli, const struct bh_topology *t);

/*
 * Load DIR and validate it for @cli (resolved against the topology). Returns 0
 * with *ret (owned by the caller) and *ret_platform; -EINVAL after printing
 * the diagnostics to @diag_out; another -errno after logging it.
 */
int bh_topology_load_valid(const char *dir, enum bh_platform cli, FILE *diag_out,
			   struct bh_topology **ret, enum bh_platform *ret_platform);

/* ------------------------------------------------------------------------
 * CLI (main.c and one cmd-*.c per subcommand).
 */
int bh_cmd_validate(int argc, char **argv);
/*
 * Options shared by validate and show: "--platform host|xen" and one DIR.
 * Returns 0, 1 after printing --help, or -EINVAL after printing the usage.
 */
int bh_cmd_args(int argc, char **argv, enum bh_platform *ret_platform, const char **ret_dir,
		void (*usage_fn)(FILE *out, const char *prog));
/*
 * Parse the arguments, load DIR and validate it. Returns true with *ret (the
 * caller frees it) when valid; else prints help, errors or the failure and
 * returns false with the exit status in *ret_exit.
 */
bool bh_cmd_load_valid(int argc, char **argv, void (*usage_fn)(FILE *out, const char *prog),
		       enum bh_platform *ret_platform, struct bh_topology **ret, int *ret_exit);
int bh_cmd_show(int argc, char **argv);
int bh_cmd_policy_export(int argc, char **argv);

/* ------------------------------------------------------------------------
 * netdom policy (policy-build.c).
 */
/* The interface of vif @n of guest @dom: its vifname, else "vif<k>.<n>", k = guest number. */
void bh_vif_ifname(const struct bh_topology *t, const struct bh_domain *dom, size_t n, char *out,
		   size_t outlen);
/*
 * Write the POLICY_* sequence of valid topology @t to @out, rules labelled
 * "file:line" and numbered by their place in the topology. Rules netdom does
 * not carry are notes in @diags. Returns 0, -EIO or an encoder's -errno.
 */
int bh_policy_write(const struct bh_topology *t, uint64_t generation, FILE *out,
		    struct bh_diags *d);
void bh_show_topology(const struct bh_topology *t, enum bh_platform platform, FILE *out);


/* ------------------------------------------------------------------------
 * SHA-256 (hash.c, the OpenSSL adapter for the audit log). 0 or -EIO.
 */
#define BH_SHA256_LEN 32
#define BH_SHA256_HEX_LEN 64
int bh_sha256(const void *data, size_t len, uint8_t ret[BH_SHA256_LEN]);
int bh_sha256_hex(const void *data, size_t len, char ret[BH_SHA256_HEX_LEN + 1]);

/* ------------------------------------------------------------------------
 * Measured boot and attestation (issue 9): hash.c (the OpenSSL adapter),
 * tpm2-cmd.c (TPM 2.0 commands and response parsers), tpm2-client.c (one
 * vTPM over its swtpm data socket), eventlog.c (TCG2 crypto-agile event log),
 * measure.c (canonical config, the events that start a guest), attest.c
 * (quote verification, comparison with the golden values).
 * Formats and the PCRs used: bulkhead(8), MEASURED BOOT.
 */
/* TPM_ALG_ID of the PCR banks bulkhead measures into. */
#define BH_TPM_ALG_SHA1 0x0004
#define BH_TPM_ALG_SHA256 0x000B
#define BH_TPM_ALG_SHA384 0x000C
#define BH_TPM_ALG_SHA512 0x000D
#define BH_DIGEST_MAX 64
#define BH_BANKS_MAX 4 /* banks bulkhead knows */
#define BH_PCR_COUNT 24
#define BH_PCRSEL_MAX 16  /* banks in a TPML_PCR_SELECTION we accept */
#define BH_DIGESTS_MAX 8  /* PCR values in one PCR_Read response */
#define BH_NONCE_LEN 32
#define BH_NONCE_MAX 64
#define BH_TPM_BUF_MAX 4096

/* Where a guest's measurements go (PC Client PCR usage, as GRUB does for 8/9). */
#define BH_PCR_CONFIG 1  /* the canonical form of the guest's config: its "platform" */
#define BH_PCR_CMDLINE 8 /* command line */
#define BH_PCR_KERNEL 9  /* kernel and initramfs (host platform: the executables) */
#define BH_PCRS_MEASURED (1u << BH_PCR_CONFIG | 1u << BH_PCR_CMDLINE | 1u << BH_PCR_KERNEL)

/* TCG PC Client event types used. */
#define BH_EV_NO_ACTION 0x03u
#define BH_EV_PLATFORM_CONFIG_FLAGS 0x0Au
#define BH_EV_IPL 0x0Du

/* Digest size of a bank bulkhead knows, else 0; its name ("sha256"), else "unknown". */
size_t bh_tpm_alg_size(uint16_t alg);
const char *bh_tpm_alg_name(uint16_t alg);
/* "sha1", "sha256", "sha384", "sha512". 0 or -EINVAL. */
int bh_tpm_alg_parse(const char *name, uint16_t *ret);
/* Lower-case hex of @n bytes into @out (2n + 1 bytes). */
void bh_hex(const uint8_t *p, size_t n, char *out);

/* Digest of @data in bank @alg into @ret (bh_tpm_alg_size bytes). 0, -EINVAL or -EIO. */
int bh_digest(uint16_t alg, const void *data, size_t len, uint8_t *ret);
/* The file at @path in each of @n banks at once. 0 or -errno. */
int bh_digest_file(const char *path, const uint16_t *algs, size_t n,
		   uint8_t (*ret)[BH_DIGEST_MAX]);
/* ECDSA P-256 over SHA-256 of @msg. 0, -EBADMSG (bad key or signature) or -EIO. */
int bh_ecdsa_p256_verify(const uint8_t x[32], const uint8_t y[32], const void *msg, size_t msglen,
			 const uint8_t *r, size_t rlen, const uint8_t *s, size_t slen);
/* The P-256 public key (x, y) as a PEM SubjectPublicKeyInfo. 0, -EBADMSG or -EIO. */
int bh_p256_pem(const uint8_t x[32], const uint8_t y[32], FILE *out);

/* A TPML_PCR_SELECTION: per bank, PCRs as bits (bit n = PCR n). */
struct bh_pcrsel {
	size_t n;
	struct {
		uint16_t alg;
		uint32_t mask;
	} v[BH_PCRSEL_MAX];
};

/* A TPML_DIGEST as PCR_Read returns it. */
struct bh_digests {
	size_t n;
	struct {
		uint8_t d[BH_DIGEST_MAX];
		size_t len;
	} v[BH_DIGESTS_MAX];
};

/* PCR values of up to BH_BANKS_MAX banks. */
struct bh_pcrs {
	size_t n_banks;
	uint16_t algs[BH_BANKS_MAX];
	uint8_t v[BH_BANKS_MAX][BH_PCR_COUNT][BH_DIGEST_MAX];
};

/* One event: the digests of every bank of its log, in the log's bank order. */
struct bh_event {
	uint32_t pcr;
	uint32_t type;
	size_t n_digests;
	struct {
		uint16_t alg;
		uint8_t d[BH_DIGEST_MAX];
	} digests[BH_BANKS_MAX];
	uint8_t *data; /* owned */
	size_t len;
	const char *label; /* static; events computed here only ("kernel", ...), else NULL */
};

struct bh_eventlog {
	size_t n_algs;
	uint16_t algs[BH_BANKS_MAX];
	struct bh_event *v;
	size_t n;
};

/* The AK: an ECDSA P-256 restricted signing primary under the endorsement hierarchy. */
struct bh_tpm_ak {
	uint32_t handle;
	uint8_t x[32], y[32];
	uint8_t pub[128]; /* TPM2B_PUBLIC as marshalled */
	size_t pub_len;
	uint8_t name[2 + BH_DIGEST_MAX];
	size_t name_len;
};

#define BH_TPM_ATTEST_MAX 1024

struct bh_tpm_quote {
	uint8_t attest[BH_TPM_ATTEST_MAX]; /* TPMS_ATTEST, the signed bytes */
	size_t attest_len;
	uint8_t sig[80]; /* TPMT_SIGNATURE as marshalled */
	size_t sig_len;
	uint16_t sig_alg, sig_hash;
	uint8_t r[32], s[32];
	size_t r_len, s_len;
};

/* A TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE. */
struct bh_attest_info {
	uint8_t signer[2 + BH_DIGEST_MAX];
	size_t signer_len;
	uint8_t extra[BH_NONCE_MAX];
	size_t extra_len;
	uint64_t clock, firmware;
	uint32_t reset_count, restart_count;
	uint8_t safe;
	struct bh_pcrsel sel;
	uint8_t pcr_digest[BH_DIGEST_MAX];
	size_t pcr_digest_len;
};

/* Commands (tpm2-cmd.c): the whole command in @buf; its length, or -ENOBUFS/-EINVAL. */
long bh_tpm2_startup_cmd(void *buf, size_t cap);
long bh_tpm2_getcap_pcrs_cmd(void *buf, size_t cap);
long bh_tpm2_pcr_read_cmd(void *buf, size_t cap, const struct bh_pcrsel *sel);
long bh_tpm2_pcr_extend_cmd(void *buf, size_t cap, uint32_t pcr, const struct bh_event *ev);
long bh_tpm2_create_ak_cmd(void *buf, size_t cap);
long bh_tpm2_quote_cmd(void *buf, size_t cap, uint32_t ak, const uint8_t *nonce, size_t nonce_len,
		       const struct bh_pcrsel *sel);
long bh_tpm2_flush_cmd(void *buf, size_t cap, uint32_t handle);
/*
 * Responses: 0 with *ret written; -EREMOTEIO with the TPM's response code in
 * *ret_rc; -EBADMSG for anything malformed (sizes, tags, trailing bytes, an
 * AK that is not exactly our template, a signature that is not ECDSA-SHA256).
 */
int bh_tpm2_parse_empty(const void *untrusted, size_t len, bool sessions, uint32_t *ret_rc);
int bh_tpm2_parse_getcap_pcrs(const void *untrusted, size_t len, struct bh_pcrsel *ret,
			      uint32_t *ret_rc);
int bh_tpm2_parse_pcr_read(const void *untrusted, size_t len, struct bh_pcrsel *ret_sel,
			   struct bh_digests *ret_vals, uint32_t *ret_rc);
int bh_tpm2_parse_create_ak(const void *untrusted, size_t len, struct bh_tpm_ak *ret,
			    uint32_t *ret_rc);
int bh_tpm2_parse_quote(const void *untrusted, size_t len, struct bh_tpm_quote *ret,
			uint32_t *ret_rc);
/* Saved forms (bulkhead attest --quote-from): TPM2B_PUBLIC, TPMT_SIGNATURE. */
int bh_tpm2_parse_ak_public(const void *untrusted, size_t len, struct bh_tpm_ak *ret);
int bh_tpm2_parse_signature(const void *untrusted, size_t len, struct bh_tpm_quote *ret);
/* TPMS_ATTEST of a quote. 0 or -EBADMSG. */
int bh_tpm2_parse_attest(const void *untrusted, size_t len, struct bh_attest_info *ret);

/* One vTPM over its swtpm data socket (tpm2-client.c). */
struct bh_tpm {
	int fd;
	uint32_t rc; /* response code of the last command that failed in the TPM */
	uint8_t rsp[BH_TPM_BUF_MAX];
};

/* Connect to the unix socket at @path. 0 or -errno. */
int bh_tpm_open(const char *path, struct bh_tpm **ret);
void bh_tpm_close(struct bh_tpm *t);
/* "TPM_RC_RETRY"-style text for t->rc into @buf. */
const char *bh_tpm_rc_str(uint32_t rc, char *buf, size_t len);
/* "WHAT: reason" for error @r of a call on @t (its response code for -EREMOTEIO) into @buf; returns @r. */
int bh_tpm_why(const struct bh_tpm *t, int r, const char *what, char *buf, size_t len);
/* TPM2_Startup(CLEAR); an already started TPM is fine. */
int bh_tpm_startup(struct bh_tpm *t);
/* The active banks (with any PCR allocated). -EOPNOTSUPP when one is not a bank
 * bulkhead knows (it could not keep that bank's log). */
int bh_tpm_banks(struct bh_tpm *t, uint16_t algs[BH_BANKS_MAX], size_t *ret_n);
/* bh_tpm_startup() then bh_tpm_banks(); on failure "WHAT: reason" (bh_tpm_why)
 * in @why. 0 or -errno. */
int bh_tpm_start_banks(struct bh_tpm *t, uint16_t algs[BH_BANKS_MAX], size_t *ret_n, char *why,
		       size_t whylen);
/* PCRs in @mask of banks @algs (several PCR_Reads as needed). */
int bh_tpm_pcr_read(struct bh_tpm *t, uint32_t mask, const uint16_t *algs, size_t n,
		    struct bh_pcrs *ret);
int bh_tpm_extend(struct bh_tpm *t, const struct bh_event *ev);
/* Create the AK (transient; flush it with bh_tpm_flush) and check its name. */
int bh_tpm_create_ak(struct bh_tpm *t, struct bh_tpm_ak *ret);
int bh_tpm_quote(struct bh_tpm *t, const struct bh_tpm_ak *ak, const uint8_t *nonce,
		 size_t nonce_len, const struct bh_pcrsel *sel, struct bh_tpm_quote *ret);
int bh_tpm_flush(struct bh_tpm *t, uint32_t handle);

/* Event logs (eventlog.c): TCG PC Client "crypto agile" format, little-endian. */
#define BH_EVENTLOG_MAX (16u << 20)
#define BH_EVENT_DATA_MAX (1u << 20)

int bh_eventlog_new(const uint16_t *algs, size_t n_algs, struct bh_eventlog **ret);
void bh_eventlog_free(struct bh_eventlog *log);
/* Append an event with @digests in the log's bank order; @data copied. 0 or -errno. */
int bh_eventlog_add(struct bh_eventlog *log, uint32_t pcr, uint32_t type, const void *data,
		    size_t len, const uint8_t (*digests)[BH_DIGEST_MAX], const char *label);
/* Append an event whose digests are those of @data itself. */
int bh_eventlog_add_data(struct bh_eventlog *log, uint32_t pcr, uint32_t type, const void *data,
			 size_t len, const char *label);
/* The log as bytes (malloc'ed, the caller frees): Spec ID event, then TCG_PCR_EVENT2s. */
int bh_eventlog_encode(const struct bh_eventlog *log, uint8_t **ret, size_t *ret_len);
/* Encode to @path: written to a temporary file, synced, renamed. 0 or -errno. */
int bh_eventlog_write_file(const struct bh_eventlog *log, const char *path);
/* Parse a log; -EBADMSG with the reason (and the event) in @why. */
int bh_eventlog_parse(const void *untrusted, size_t len, struct bh_eventlog **ret, char *why,
		      size_t whylen);
int bh_eventlog_read_file(const char *path, struct bh_eventlog **ret, char *why, size_t whylen);
/* Replay every event from all-zero PCRs into *ret (the log's banks). 0 or -EIO. */
int bh_eventlog_replay(const struct bh_eventlog *log, struct bh_pcrs *ret);
/* "event 3 (PCR 9, EV_IPL, kernel /usr/bin/sleep)" */
void bh_event_describe(const struct bh_eventlog *log, size_t i, char *out, size_t outlen);

/* Measurement (measure.c). */
#define BH_CANON_MAX (256u * 1024)
#define BH_HOST_SHELL "/bin/sh"
#define BH_HOST_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/*
 * The canonical form of a domain's config file (bulkhead(8), MEASURED BOOT):
 * "bulkhead-config 1" and one "key=value" line per setting bulkhead knows,
 * keys sorted, list items as key[N], values normalised. Malloc'ed, NUL
 * terminated; *ret_len excludes the NUL. 0, -ENOMEM or -EFBIG.
 */
int bh_config_canonical(const struct bh_cfg_file *f, char **ret, size_t *ret_len);
/* The executable a host-platform guest's command starts (first word, PATH
 * BH_HOST_PATH), or BH_HOST_SHELL when the first word is not a file. */
int bh_host_cmd_exe(const char *cmd, char *out, size_t outlen);
/*
 * The events that start guest @dom on @platform, digests in banks @algs:
 * config (PCR 1), kernel and initramfs (PCR 9), command line (PCR 8).
 * Files that cannot be read are -errno with the file named in @err.
 */
int bh_measure_events(const struct bh_domain *dom, enum bh_platform platform,
		      const uint16_t *algs, size_t n_algs, struct bh_eventlog **ret, char *err,
		      size_t errlen);
/* Default place of a guest's event log: <bh_state_dir>/eventlog/<guest>.bin. */
const char *bh_eventlog_path(const struct bh_topology *t, const char *guest, char *buf,
			     size_t len);
/*
 * Measured boot of guest @dom before it starts: compute its events in every
 * active bank of the vTPM at @tpm_sock (TPM2_Startup first; the measured PCRs
 * must still be all zero, i.e. a freshly started vTPM), extend them, and
 * write the event log to @log_path (NULL: bh_eventlog_path()). Nothing is
 * extended when a file cannot be hashed. Returns 0, or -errno with the
 * reason in @err (the caller logs it, then must not start the guest).
 */
int bh_measure_guest(const struct bh_topology *t, const struct bh_domain *dom,
		     enum bh_platform platform, const char *tpm_sock, const char *log_path,
		     char *err, size_t errlen);

/* Attestation (attest.c). */
/* ak->name must be nameAlg || SHA-256(TPMT_PUBLIC). 0 or -EBADMSG. */
int bh_ak_check_name(const struct bh_tpm_ak *ak);
/* Digest (bank @alg) of the values of @pcrs selected by @sel, in selection order. */
int bh_pcrs_digest(const struct bh_pcrs *pcrs, const struct bh_pcrsel *sel, uint16_t alg,
		   uint8_t *ret, size_t *ret_len);
/*
 * Verify @q as a quote by @ak over @sel with qualifying data @nonce whose PCRs
 * are @expected: signature, signer name, magic and type, nonce, selection,
 * PCR digest. 0, or -EPERM (-EBADMSG when malformed) with the reason in @why.
 */
int bh_quote_verify(const struct bh_tpm_ak *ak, const struct bh_tpm_quote *q,
		    const uint8_t *nonce, size_t nonce_len, const struct bh_pcrsel *sel,
		    const struct bh_pcrs *expected, char *why, size_t whylen);
/* @log against @golden event by event: 0, or -EPERM naming the first difference. */
int bh_eventlog_compare(const struct bh_eventlog *golden, const struct bh_eventlog *log,
			char *why, size_t whylen);

struct bh_attest_opts {
	const char *tpm_sock;
	const char *log_path;    /* NULL: bh_eventlog_path() */
	const uint8_t *nonce;    /* NULL: a fresh random one */
	size_t nonce_len;
	const char *save_dir;    /* write ak.pub, ak.pem, quote.msg, quote.sig, nonce there */
	const char *quote_from;  /* verify the quote saved there instead of asking the TPM */
	const char *golden_path; /* expected event log; NULL: computed from the config now */
};

/*
 * Attest guest @dom: quote of PCRs 1, 8, 9 in every bank of its event log by
 * a fresh AK, verified against the replayed log, then the log against the
 * golden events (from the config, or a saved expected log). 0 (pass), -EPERM (fail) or another -errno
 * (could not attest); the reason in @why either way.
 */
int bh_attest_guest(const struct bh_topology *t, const struct bh_domain *dom,
		    enum bh_platform platform, const struct bh_attest_opts *o, char *why,
		    size_t whylen);

int bh_cmd_measure(int argc, char **argv);
int bh_cmd_attest(int argc, char **argv);
/* Load and validate DIR and find guest @guest in it; errors printed. 0 or -errno. */
int bh_cmd_load_guest(const char *dir, enum bh_platform cli, const char *guest,
		      struct bh_topology **ret_t, const struct bh_domain **ret_dom,
		      enum bh_platform *ret_platform);

/* ------------------------------------------------------------------------
 * Audit log (audit.c, audit-json.c, audit-verify.c, audit-syslog.c): JSON
 * lines, one record per line, each carrying the SHA-256 (hex) of the exact
 * bytes of the previous line without its newline; the first record carries
 * BH_AUDIT_GENESIS. Format and guarantees: bulkhead(8), AUDIT LOG.
 */
#define BH_AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
#define BH_AUDIT_RECORD_MAX 8192 /* bytes of one line, newline included */
#define BH_AUDIT_FIELD_MAX 1024  /* bytes of a caller-supplied string before escaping */
#define BH_AUDIT_DEFAULT_LOG "/var/log/bulkhead/audit.jsonl"
#define BH_SYSLOG_DEFAULT_SOCKET "/dev/log"

/* Write @len bytes of @s as a quoted JSON string: control characters, '"', '\\'
 * and DEL escaped, invalid UTF-8 replaced byte by byte with U+FFFD. */
void bh_json_quote(FILE *out, const char *s, size_t len);

/* A string field of a parsed record: its bytes as escaped in the line, no quotes. */
struct bh_json_span {
	const char *p;
	size_t len;
};

struct bh_audit_rec {
	uint64_t seq, uid, pid;
	struct bh_json_span ts, user, action, target, result, detail, prev;
};

/*
 * Parse one record line (no newline): a JSON object with exactly the keys seq,
 * ts, actor{uid,user,pid}, action, target, result, detail, prev. Spans point
 * into @untrusted_line. Returns 0, or -EBADMSG with a static reason in *why.
 */
int bh_audit_rec_parse(const char *untrusted_line, size_t len, struct bh_audit_rec *ret,
		       const char **why);

struct bh_audit_verify {
	uint64_t n_records;  /* good records so far */
	uint64_t bad_line;   /* 1-based line of the first bad record; 0 while intact */
	char why[256];
	char head[BH_SHA256_HEX_LEN + 1]; /* hash of the last good record (genesis if none) */
};

void bh_audit_verify_init(struct bh_audit_verify *v);
/* Feed the next line (without its newline; @complete false when it had none).
 * Returns true while the chain is intact. */
bool bh_audit_verify_line(struct bh_audit_verify *v, const char *untrusted_line, size_t len,
			  bool complete);
/* Verify a whole log in memory, or on disk (0, see ret->bad_line, or -errno). */
void bh_audit_verify_buf(const char *untrusted_data, size_t len, struct bh_audit_verify *ret);
int bh_audit_verify_file(const char *path, struct bh_audit_verify *ret);

struct bh_audit_actor {
	uint32_t uid;
	int32_t pid;
};

struct bh_audit_opts {
	bool syslog;             /* also forward each record (RFC 5424) */
	const char *syslog_path; /* AF_UNIX datagram socket; NULL: BH_SYSLOG_DEFAULT_SOCKET */
	bool no_fsync;           /* tests only: skip the per-record fsync */
};

struct bh_audit;

/* Open (creating, mode 0640, and its directory, 0750) the log at @path. */
int bh_audit_open(const char *path, const struct bh_audit_opts *opts, struct bh_audit **ret);
void bh_audit_close(struct bh_audit *a);
/*
 * Append one record under an exclusive flock, chained to the last line on
 * disk, then fsync. Refuses (-EBADMSG) to extend a log whose last line is not
 * a whole record. Syslog forwarding failures do not fail the append; they are
 * counted in bh_audit_syslog_errors(). Returns 0 or -errno.
 */
int bh_audit_append(struct bh_audit *a, const struct bh_audit_actor *actor, const char *action,
		    const char *target, const char *result, const char *detail);
unsigned bh_audit_syslog_errors(const struct bh_audit *a);
/* The path the topology's audit log lives at (bh_audit_log, else under the state dir). */
const char *bh_audit_path(const struct bh_topology *t, char *buf, size_t buflen);

/*
 * One RFC 5424 message carrying a record: "<PRI>1 TS HOST bulkhead PID audit
 * [bulkhead@32473 seq=.. prev=..] BOM JSON". Returns its length, or -ENOBUFS.
 */
long bh_syslog_format(char *out, size_t cap, int severity, const char *ts, const char *host,
		      long pid, uint64_t seq, const char *prev, const char *record, size_t reclen);
/* Send @msg as one datagram to the AF_UNIX socket at @path. 0 or -errno. */
int bh_syslog_send(const char *path, const char *msg, size_t len);

int bh_cmd_logs(int argc, char **argv);


/* ------------------------------------------------------------------------
 * Management access (rbac.c): the caller of the management socket by
 * SO_PEERCRED, and its permissions under the bh_manage grants.
 */
struct bh_peer {
	uint32_t uid, gid;
	int32_t pid;
};

/* 0, or -errno. */
int bh_peer_from_socket(int fd, struct bh_peer *ret);
/* enum bh_perm bits @peer holds: uid 0 all; else the union of matching grants. */
unsigned bh_rbac_perms(const struct bh_grant *grants, size_t n_grants, const struct bh_peer *peer);
/* "status" for BH_PERM_STATUS, ...; "unknown" for anything not one bit. */
const char *bh_perm_name(unsigned perm);


/* ------------------------------------------------------------------------
 * Management socket (mgmt-wire.c: format; mgmt.c: server; cmd-mgmt.c:
 * clients and `serve`). SOCK_SEQPACKET, one message per packet.
 */
#define BH_MGMT_SOCKET_NAME "mgmt.sock"
#define BH_MGMT_DEFAULT_SOCKET "/var/lib/bulkhead/mgmt.sock"
#define BH_MGMT_TEXT_MAX 60000u
#define BH_MGMT_PACKET_MAX (BH_MGMT_TEXT_MAX + 16)

enum bh_mgmt_op {
	BH_MGMT_STATUS = 1,
	BH_MGMT_LOGS = 2,
	BH_MGMT_DOWN = 3,
	BH_MGMT_RESTART = 4,
	BH_MGMT_POLICY = 5,
	BH_MGMT_RESEAL = 6,
	BH_MGMT_OP_MAX_,
};

enum bh_mgmt_flags {
	BH_MGMT_F_JSON = 1u << 0,   /* status: JSON; logs: records as stored */
	BH_MGMT_F_VERIFY = 1u << 1, /* logs: verify the chain */
	BH_MGMT_F_ALL_ = 3,
};

#define BH_MGMT_R_FINAL 1u

struct bh_mgmt_req {
	uint8_t op;
	uint8_t flags;
	char target[64];
};

struct bh_mgmt_resp {
	uint8_t flags;
	int32_t status;
	const char *text; /* decode: points into the packet */
	size_t len;
};

const char *bh_mgmt_op_name(unsigned op);
/* The enum bh_perm bit an op needs, or 0 for an unknown op. */
unsigned bh_mgmt_op_perm(unsigned op);
long bh_mgmt_req_encode(const struct bh_mgmt_req *m, void *out, size_t cap);
/* 0, -EBADMSG or -EPROTONOSUPPORT; *ret written only on success. */
int bh_mgmt_req_decode(const void *untrusted_data, size_t len, struct bh_mgmt_req *ret);
long bh_mgmt_resp_encode(const struct bh_mgmt_resp *m, void *out, size_t cap);
int bh_mgmt_resp_decode(const void *untrusted_data, size_t len, struct bh_mgmt_resp *ret);

struct bh_sup;

struct bh_mgmt {
	const struct bh_topology *t;
	struct bh_sup *sup; /* the running topology (bulkhead up); NULL for serve */
	struct bh_audit *audit;
	const char *audit_path;
	bool stop; /* set by a granted `down` */
};

/* Bind a fresh socket at @path (mode 0666: access is decided by RBAC). */
int bh_mgmt_listen(const char *path, int *ret_fd);
/* Serve one connection: one request, its audit records, its responses. */
int bh_mgmt_handle(struct bh_mgmt *m, int cfd);
/* Accept and serve until *stop_signal or m->stop. 0 or -errno. */
int bh_mgmt_serve(struct bh_mgmt *m, int lfd, volatile int *stop_signal);
/* Client: send @req to the socket at @path, write text to @out (status 0) or
 * @err, return the final status (0 or -errno from the server) or a local -errno. */
int bh_mgmt_call(const char *path, const struct bh_mgmt_req *req, FILE *out, FILE *err);

int bh_cmd_status(int argc, char **argv);
int bh_cmd_down(int argc, char **argv);
int bh_cmd_restart(int argc, char **argv);
int bh_cmd_reseal(int argc, char **argv);
int bh_cmd_serve(int argc, char **argv);


/* ------------------------------------------------------------------------
 * Host platform domains (platform-host.c, host-veth.c, host-net.c,
 * host-mount.c): guests and service domains as sandboxed process trees.
 */
#define BH_HOST_VIFS_MAX 8
#define BH_HOST_BINDS_MAX 8
/* Where a guest finds its endpoints (disk0.sock, tpm.sock) in its own mount
 * namespace: a private tmpfs holding bind mounts of its service sockets. */
#define BH_GUEST_ENDPOINT_DIR "/run/bulkhead"

/*
 * A running domain as the supervisor sees it, on either platform (the host
 * platform's process tree or a Xen domain): the platform that started it
 * fills it in and alone reads @priv.
 */
struct bh_pdom {
	char name[64];
	int id;      /* host: pid 1 of its namespaces, as seen from here; xen: domid; 0 once gone */
	int exit_fd; /* readable when it may have ended (host: pidfd; xen: a xenstore watch) */
	char *cgroup; /* host: its cgroup v2 directory, NULL when none could be made */
	bool limits_ok;        /* every limit written */
	char limits_note[512]; /* why not, for status */
	char vifs[BH_HOST_VIFS_MAX][16]; /* "vif<k>.<n>" in netdom's namespace */
	size_t n_vifs;
	int exit_status; /* waitid's si_status once reaped */
	int exit_code;   /* CLD_EXITED, CLD_KILLED... */
	const char *exit_why; /* xen: "crashed", "powered off"...; NULL: use exit_code */
	void *priv;           /* the platform's own */
};

/* A service socket bound into a guest's endpoint directory. */
struct bh_host_bind {
	char src[256]; /* as dom0 sees it */
	char name[32]; /* its name in BH_GUEST_ENDPOINT_DIR */
};

/* A host path bound at the same path in a service domain's own root. */
struct bh_host_mnt {
	const char *path;
	bool readonly;
	bool optional; /* skipped when missing */
};

#define BH_HOST_MNTS_MAX 32

struct bh_host_opts {
	const char *netdom_netns; /* netdom's network namespace (a file, e.g. /proc/PID/ns/net) */
	/* guests */
	const struct bh_host_bind *binds;
	size_t n_binds;
	const char *io_path; /* bh_io_max applies to the block device holding it */
	/* service domains: the daemon to run (argv[0] an absolute path), a socket
	 * it inherits as fd 3 (-1: none) and where its stderr goes (-1: nowhere) */
	char *const *argv;
	int pass_fd;
	int log_fd;
	int netns_fd; /* >= 0: join this network namespace instead of a new one */
	const char *root; /* pivot_root into a tmpfs on this empty directory, or NULL */
	const struct bh_host_mnt *mnts;
	size_t n_mnts;
};

/*
 * Start domain @dom of @t. A guest: namespaces, cgroup and limits, vifs with
 * their addresses, endpoint binds, sandbox, then /bin/sh -c bh_host_cmd. A
 * service domain: namespaces, cgroup and limits, the sandbox of its role
 * (its capabilities kept across exec), then o->argv. 0 or -errno (nothing is
 * left behind on failure).
 */
int bh_host_spawn(const struct bh_topology *t, const struct bh_domain *dom,
		  const struct bh_host_opts *o, struct bh_pdom **ret);
/* Kill the whole tree, reap it, remove its cgroup. 0 or -errno. */
int bh_host_stop(struct bh_pdom *d);
/* SIGTERM to its pid 1, up to @ms for it to end, then bh_host_stop(). */
int bh_host_stop_gently(struct bh_pdom *d, unsigned ms);
/* Reap an exited domain (its pidfd was readable): 1 when reaped, 0 if still running. */
int bh_host_reap(struct bh_pdom *d);
void bh_host_dom_free(struct bh_pdom *d);
/* Read the rtnetlink ACK of the one request sent on @fd: 0 or the kernel's -errno (-EPROTO: not an ACK). */
int bh_nl_read_ack(int fd);
/* veth pair @host_if (into netdom's namespace @netdom_ns_fd) <-> @guest_if
 * (into the namespace of @guest_pid), @mac on the guest side if not NULL. */
int bh_host_veth_create(const char *host_if, int netdom_ns_fd, const char *guest_if,
			pid_t guest_pid, const uint8_t *mac);

/* host-net.c: addresses and routes over plain rtnetlink. */
/* Bring @ifname up in the current network namespace and give it @addr (its
 * prefix length included); @gw: also a default route through it. 0 or -errno. */
int bh_net_iface_config(const char *ifname, const struct bh_prefix *addr,
			const struct bh_prefix *gw);
/* In the namespace @ns_fd: bring netdom's end of a vif up, give it the host
 * address @gw and a host route to @guest through it. 0 or -errno. */
int bh_net_vif_config(int ns_fd, const char *ifname, const struct bh_prefix *gw,
		      const struct bh_prefix *guest);
/* Delete @ifname (a veth: the pair goes) in the namespace @ns_fd; 0 if absent. */
int bh_net_link_del(int ns_fd, const char *ifname);
/* The netdom gateway of @t whose network holds @ip, or NULL. */
const struct bh_prefix *bh_net_gateway_for(const struct bh_topology *t,
					   const struct bh_prefix *ip);

/* host-root.c: in the calling domain's pid 1 (new, private mount namespace):
 * pivot_root into a tmpfs on @root holding the base system and @mnts. */
int bh_host_pivot_root(const char *root, const struct bh_host_mnt *mnts, size_t n);

/* host-mount.c: a guest's endpoint directory. */
/* In the calling (new) mount namespace: a tmpfs at BH_GUEST_ENDPOINT_DIR with
 * each of @b bound at its name. 0 or -errno. */
int bh_mount_endpoints(const struct bh_host_bind *b, size_t n);
/* From dom0: replace the bind @b in the mount namespace of the process of
 * @pidfd (after its service restarted: a new socket inode). 0 or -errno. */
int bh_mount_rebind(int pidfd, const struct bh_host_bind *b);

/* ------------------------------------------------------------------------
 * A running topology: `bulkhead up` (cmd-up.c), its files (up-state.c),
 * service domains and their control connections (svc.c, svc-push.c), guests
 * (guest.c), the supervisor loop (supervise.c) and what `status` says about
 * it (sup-status.c), the same on both platforms; what differs is behind
 * struct bh_plat_ops (sup-host.c, platform-xen.c).
 */
#define BH_STATE_DEFAULT "/var/lib/bulkhead"
#define BH_SVC_MAX 3

struct bh_up_opts {
	char state[PATH_MAX];   /* volumes, keys, vTPM state, logs; kept across runs */
	char run[PATH_MAX];     /* <state>/run: sockets (0700); removed by down */
	char logs[PATH_MAX];    /* <state>/log: one file per service daemon */
	char mgmt[PATH_MAX];    /* the management socket */
	char daemons[PATH_MAX]; /* directory holding netdomd, stordomd, vtpmd */
	unsigned timeout_ms;    /* per service: start to ready */
	bool verbose;           /* daemons log at debug level */
	enum bh_platform platform; /* host or xen (resolved) */
};

enum bh_svc_state {
	BH_SVC_STOPPED,
	BH_SVC_STARTING,
	BH_SVC_RUNNING,
	BH_SVC_BACKOFF, /* crashed; restarts at restart_at */
	BH_SVC_FAILED,  /* crashed and bh_restart says not again */
};

struct bh_svc {
	const struct bh_domain *dom;
	struct bh_pdom *hd; /* NULL when not running */
	struct bh_chan *chan;   /* control channel (the platform's spawn opens it), or NULL */
	bool chan_dead;         /* the daemon's end closed it */
	enum bh_svc_state state;
	uint64_t started_ms, ready_ms, restart_at_ms, crashed_ms;
	uint64_t deadline_ms; /* of the control exchange under way */
	unsigned restarts, backoff_ms;
	uint64_t generation; /* netdom: the policy in force */
	unsigned n_items;    /* stordom: volumes open; vtpm: instances started */
	uint64_t drops;      /* netdom: DROP_EVENT packets reported */
	char note[256];      /* last failure or exit, for status */
};

struct bh_guest {
	const struct bh_domain *dom;
	struct bh_pdom *hd;
	uint64_t started_ms;
	unsigned restarts; /* by `bulkhead restart` */
	struct bh_host_bind binds[BH_HOST_BINDS_MAX];
	enum bh_dom_role bind_role[BH_HOST_BINDS_MAX]; /* the service serving each */
	size_t n_binds;
	char note[128];
	uint64_t locked;     /* sealed volumes (bit: index in t->volumes) vtpm would not unseal */
	char lock_note[384]; /* why, for status; "" when none is locked */
};

struct bh_sup {
	const struct bh_topology *t;
	const struct bh_up_opts *o;
	struct bh_svc svc[BH_SVC_MAX]; /* in start order: vtpm, stordom, netdom */
	size_t n_svc;
	struct bh_guest *guests;
	size_t n_guests;
	struct bh_audit *audit;
	int netns_fd; /* host: netdom's network namespace, held across its restarts */
	const struct bh_plat_ops *plat;
	void *plat_data; /* the platform's own (xen: libxl and xenstore handles) */
	uint64_t next_generation;
	bool stopped;
};

/*
 * What starting, stopping and watching a domain means on one platform. The
 * supervisor (supervise.c, svc.c, guest.c) calls only these; everything else
 * about a domain's life (order, readiness, backoff, re-pushing, re-wiring,
 * measurement, audit) is the same code on both platforms.
 */
struct bh_plat_ops {
	const char *name;
	/* Handles the platform needs for the whole run; 0 or -errno (logged). */
	int (*open)(struct bh_sup *s);
	void (*close)(struct bh_sup *s);
	/* Start service domain svc->dom: svc->hd, and svc->chan, its control
	 * channel (non-blocking), attached or about to be, by svc->deadline_ms.
	 * 0 or -errno, nothing left running on failure (svc->note may say why). */
	int (*svc_spawn)(struct bh_sup *s, struct bh_svc *svc);
	/* Start guest g->dom with its endpoints g->binds: g->hd. 0 or -errno. */
	int (*guest_spawn)(struct bh_sup *s, struct bh_guest *g);
	/* Stop @d (asking it first and waiting up to @gentle_ms if not 0) and free it. */
	void (*stop)(struct bh_sup *s, struct bh_pdom *d, unsigned gentle_ms);
	/* After d->exit_fd polled readable: 1 when it ended (exit_* set), else 0. */
	int (*reap)(struct bh_sup *s, struct bh_pdom *d);
	/* Point guest endpoint @b of @g at its restarted service. 0 or -errno. */
	int (*rebind)(struct bh_sup *s, struct bh_guest *g, size_t b);
	/* Where dom0 reaches guest @g's vTPM (the swtpm data socket; its control
	 * socket is the same path + ".ctrl"), for measured boot. 0 or -errno. */
	int (*guest_tpm)(struct bh_sup *s, struct bh_guest *g, char *out, size_t len);
	/* Optional: service @svc was just started (its control channel up, its
	 * configuration not pushed yet): wire what joins it to the other
	 * services (xen: stordom's channel to vtpm's UNSEAL socket). 0 or -errno. */
	int (*svc_wire)(struct bh_sup *s, struct bh_svc *svc);
};

extern const struct bh_plat_ops bh_plat_host;
extern const struct bh_plat_ops bh_plat_xen;
/* platform-xen.c: the libxl domain configuration built for @dom (relative
 * kernel and ramdisk paths under @dir), as libxl's JSON (what `xl create`
 * would be given; no hypervisor needed). *ret is owned by the caller
 * (free()). 0 or -errno. */
int bh_xen_config_json(const char *dir, const struct bh_domain *dom, char **ret);
/* "exited with status 1", "killed by signal 9 (Killed)", "crashed" */
void bh_pdom_exit_text(const struct bh_pdom *d, char *out, size_t len);

uint64_t bh_now_ms(void);
/* snprintf for paths and notes: 0, or -ENAMETOOLONG when cut short. */
int bh_fmt(char *out, size_t len, const char *fmt, ...) _printf_(3, 4);
const char *bh_svc_state_name(enum bh_svc_state s);

/* up-state.c: create the directories, the vTPM manager key and each volume's
 * key file when missing. 0 or -errno (logged, naming the file). */
int bh_up_state_prepare(const struct bh_topology *t, const struct bh_up_opts *o);
/* svc-push.c: VOLUME_OPEN's create flags and size for @v (@m->path set):
 * CREATE when the backing file does not exist yet; on Xen, where dom0 cannot
 * look, CREATE|IF_MISSING and stordom decides. */
struct bh_msg_volume_open;
void bh_volume_create_flags(const struct bh_sup *s, const struct bh_volume *v,
			    struct bh_msg_volume_open *m);
/* Paths of a volume's backing file and key file (on Xen: in stordom's file
 * system, under /var/lib/bulkhead). */
void bh_up_volume_paths(const struct bh_topology *t, const struct bh_up_opts *o,
			const struct bh_volume *v, char *backing, char *key, size_t len);
/* <run>/unseal/unseal.sock: vtpmd's UNSEAL socket, for stordom. */
void bh_up_unseal_path(const struct bh_up_opts *o, char *out, size_t len);
/* <run>/<service>/, its control socket, and <run>/<service>.root (its root). */
void bh_up_root_dir(const struct bh_up_opts *o, const struct bh_domain *dom, char *out,
		    size_t len);
void bh_up_svc_dir(const struct bh_up_opts *o, const struct bh_domain *dom, char *out,
		   size_t len);
void bh_up_ctl_path(const struct bh_up_opts *o, const struct bh_domain *dom, char *out,
		    size_t len);

/* svc.c: start a service domain with its control channel, push its
 * configuration and wait for its answers (ready), all within o->timeout_ms.
 * On failure svc->note says why and nothing is left running. 0 or -errno. */
int bh_svc_start(struct bh_sup *s, struct bh_svc *svc);
void bh_svc_stop(struct bh_sup *s, struct bh_svc *svc);

/* seal.c: sealed volumes (seal=1). Open @g's in stordom (@sd, or the running
 * one) once @g was measured: stordom unseals each secret from vtpm itself. A
 * volume vtpm refuses stays closed, marked in g->locked and g->lock_note,
 * audit-logged. 0 or the last failure. */
int bh_seal_open_guest(struct bh_sup *s, struct bh_guest *g, struct bh_svc *sd);
/* The same for every running guest, after stordom (@sd) (re)started. */
void bh_seal_push_running(struct bh_sup *s, struct bh_svc *sd);
bool bh_seal_locked(const struct bh_sup *s, const struct bh_guest *g, const struct bh_volume *v);
/* `bulkhead reseal GUEST`: vtpm seals each of its secrets again to its PCRs
 * now (admin branch, in vtpm), then the guest restarts with its volumes. */
int bh_seal_reseal(struct bh_sup *s, const char *name, char *detail, size_t dlen);

/* svc-push.c: the running service of @role with a control channel, or NULL. */
struct bh_svc *bh_sup_service(struct bh_sup *s, enum bh_dom_role role);
/* One VTPM_* request (e.g. VTPM_RESET) about instance @name to the running
 * vtpm, bounded by the start timeout; its status, and why in @err. */
int bh_vtpm_request(struct bh_sup *s, uint16_t type, const char *name, char *err, size_t errlen);

/* svc-ctl.c: control messages over a service's channel, each call bounded
 * by svc->deadline_ms. */
/* One request and its reply of type @want (messages in between that no one
 * asked for, netdom's DROP_EVENTs, are audited). Returns the reply's body
 * length, or -errno (-ETIMEDOUT, -ECONNRESET when the daemon went away). */
int bh_ctl_call(struct bh_sup *s, struct bh_svc *svc, uint16_t type, const void *body,
		size_t len, uint16_t want, void *reply, size_t cap);
/* Write @len bytes of already framed messages (a policy sequence). 0 or -errno. */
int bh_ctl_send_raw(struct bh_svc *svc, const void *buf, size_t len);
/* The reply half of bh_ctl_call(), after the caller wrote its request. */
int bh_ctl_wait(struct bh_sup *s, struct bh_svc *svc, uint16_t want, void *reply, size_t cap);
/* After the channel fd polled readable: read what the service sent unasked.
 * 0, or -ECONNRESET once the daemon's end is closed (svc->chan_dead). */
int bh_ctl_drain(struct bh_sup *s, struct bh_svc *svc);

/* svc-push.c: a service's part of the configuration. 0 or -errno, svc->note set. */
int bh_push_netdom(struct bh_sup *s, struct bh_svc *svc);
int bh_push_stordom(struct bh_sup *s, struct bh_svc *svc);
int bh_push_vtpm(struct bh_sup *s, struct bh_svc *svc);
/* CHAN_SERVE to stordom or vtpm (xen platform: a guest's endpoint over a
 * channel for it). 0, the service's -errno status, or -errno. */
int bh_svc_chan_serve(struct bh_sup *s, struct bh_svc *svc, const struct bh_msg_chan_serve *m);

/* guest.c: the endpoints of guest @g, its start, and re-binding them after
 * service @svc restarted. */
void bh_guest_binds(struct bh_sup *s, struct bh_guest *g);
int bh_guest_start(struct bh_sup *s, struct bh_guest *g);
void bh_guest_rewire(struct bh_sup *s, const struct bh_svc *svc);

/* supervise.c */
int bh_sup_new(const struct bh_topology *t, const struct bh_up_opts *o, struct bh_audit *audit,
	       struct bh_sup **ret);
/* Start services in dependency order, then guests; on failure everything is
 * stopped again and @err says which domain failed and why. 0 or -errno. */
int bh_sup_up(struct bh_sup *s, char *err, size_t errlen);
/* Everything down, guests first, then services in reverse order. */
void bh_sup_down(struct bh_sup *s);
/* Supervise and serve the management socket @lfd until down or a signal. */
int bh_sup_run(struct bh_sup *s, struct bh_mgmt *m, int lfd, int sigfd);
/* Restart service or guest @name now (management `restart`). 0 or -errno. */
int bh_sup_restart(struct bh_sup *s, const char *name, char *detail, size_t dlen);
void bh_sup_free(struct bh_sup *s);
/* Audit one supervision event as dom0 itself. */
void bh_sup_audit(struct bh_sup *s, const char *action, const char *target, const char *result,
		  const char *fmt, ...) _printf_(5, 6);

/* sup-status.c: the table (or JSON) `bulkhead status` prints. */
void bh_sup_status(const struct bh_sup *s, bool json, FILE *out);

int bh_cmd_up(int argc, char **argv);

#endif
