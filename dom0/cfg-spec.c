/* SPDX-License-Identifier: MIT */
/*
 * The small languages inside list items: "to=db proto=tcp port=5432" (rules),
 * "name=web-data size=1G" (volumes), "name=dmz cidr=10.10.1.0/24" (zones),
 * "group=bhadmin:all" (management grants) and xl's own vif specs
 * ("mac=...,ip=...,backend=..."). Pure C; every error quotes the bad value.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/parse.h"
#include "dom0.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) _printf_(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * Next "key=value" field of @*cursor (a private copy, cut in place), fields
 * separated by @sep; blanks around fields are ignored. Returns 1 with
 * *ret_k and *ret_v set, 0 at the end, -EINVAL for a field without '='.
 */
static int next_field(char **cursor, char sep, char **ret_k, char **ret_v, char *err, size_t errlen)
{
	char *s = *cursor, *end, *eq;

	while (*s == ' ' || *s == '\t' || (*s == sep && sep != ' '))
		s++;
	if (!*s)
		return 0;
	end = s + strcspn(s, sep == ' ' ? " \t" : ",");
	*cursor = *end ? end + 1 : end;
	*end = '\0';
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	eq = strchr(s, '=');
	if (!eq || eq == s)
		return fail(err, errlen, "expected key=value, got '%s'", s);
	*eq = '\0';
	*ret_k = s;
	*ret_v = eq + 1;
	return 1;
}

static int set_once(char **slot, const char *k, const char *v, char *err, size_t errlen)
{
	if (*slot)
		return fail(err, errlen, "'%s' given twice", k);
	*slot = strdup(v);
	return *slot ? 0 : -ENOMEM;
}

/* ---- rules ---- */

static int endpoint_parse(const char *s, struct bh_endpoint *ret, char *err, size_t errlen)
{
	struct bh_endpoint e = { 0 };

	if (bh_streq(s, "any")) {
		e.kind = BH_EP_ANY;
	} else if (bh_startswith(s, "zone:")) {
		if (bh_check_name(s + 5) < 0)
			return fail(err, errlen, "bad zone name '%s'", s + 5);
		e.kind = BH_EP_ZONE;
		e.name = strdup(s + 5);
	} else if (bh_prefix_parse(s, &e.cidr) == 0) {
		if (!bh_prefix_is_network(&e.cidr))
			return fail(err, errlen, "'%s' has host bits set beyond the prefix", s);
		e.kind = BH_EP_CIDR;
	} else if (bh_check_name(s) == 0) {
		e.kind = BH_EP_DOMAIN;
		e.name = strdup(s);
	} else {
		return fail(err, errlen, "'%s' is not a domain name, zone:NAME, any or a CIDR", s);
	}
	if ((e.kind == BH_EP_ZONE || e.kind == BH_EP_DOMAIN) && !e.name)
		return -ENOMEM;
	*ret = e;
	return 0;
}

static int proto_parse(const char *s, enum bh_proto *ret, char *err, size_t errlen)
{
	static const enum bh_proto all[] = { BH_PROTO_ANY, BH_PROTO_TCP, BH_PROTO_UDP,
					     BH_PROTO_ICMP, BH_PROTO_ICMPV6 };

	for (size_t i = 0; i < BH_ARRAY_SIZE(all); i++) {
		if (bh_streq(s, bh_proto_name(all[i]))) {
			*ret = all[i];
			return 0;
		}
	}
	return fail(err, errlen, "unknown proto '%s' (expected tcp, udp, icmp, icmpv6 or any)", s);
}

static int ports_parse(char *s, struct bh_rule *r, char *err, size_t errlen)
{
	char *save = NULL;

	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct bh_port_range *p = &r->ports[r->n_ports];

		if (r->n_ports == BH_RULE_PORTS_MAX)
			return fail(err, errlen, "more than %d port ranges", BH_RULE_PORTS_MAX);
		if (bh_parse_port_range(tok, &p->lo, &p->hi) < 0)
			return fail(err, errlen, "bad port or port range '%s'", tok);
		r->n_ports++;
	}
	if (!r->n_ports)
		return fail(err, errlen, "empty port list");
	return 0;
}

static int action_parse(const char *s, enum bh_action *ret, char *err, size_t errlen)
{
	for (enum bh_action a = BH_ACTION_ACCEPT; a <= BH_ACTION_REJECT; a++) {
		if (bh_streq(s, bh_action_name(a))) {
			*ret = a;
			return 0;
		}
	}
	return fail(err, errlen, "unknown action '%s' (expected accept, drop or reject)", s);
}

static int rule_field(struct bh_rule *r, unsigned *seen, char *k, char *v, char *err,
		      size_t errlen)
{
	static const char *const names[] = { "from", "to", "proto", "port", "action", "log" };
	size_t i;

	for (i = 0; i < BH_ARRAY_SIZE(names); i++)
		if (bh_streq(k, names[i]))
			break;
	if (i == BH_ARRAY_SIZE(names))
		return fail(err, errlen,
			    "unknown field '%s' (expected from, to, proto, port, action, log)", k);
	if (*seen & (1u << i))
		return fail(err, errlen, "'%s' given twice", k);
	*seen |= 1u << i;
	switch (i) {
	case 0:
		return endpoint_parse(v, &r->from, err, errlen);
	case 1:
		return endpoint_parse(v, &r->to, err, errlen);
	case 2:
		return proto_parse(v, &r->proto, err, errlen);
	case 3:
		return ports_parse(v, r, err, errlen);
	case 4:
		return action_parse(v, &r->action, err, errlen);
	default:
		if (bh_parse_bool(v, &r->log) < 0)
			return fail(err, errlen, "log must be yes or no, not '%s'", v);
		return 0;
	}
}

int bh_rule_parse(const char *untrusted_spec, struct bh_rule *ret, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strdup(untrusted_spec);
	struct bh_rule r = { .from.kind = BH_EP_SELF, .to.kind = BH_EP_SELF };
	unsigned seen = 0;
	char *cur = copy, *k, *v;
	int n;

	if (!copy)
		return -ENOMEM;
	while ((n = next_field(&cur, ' ', &k, &v, err, errlen)) > 0) {
		n = rule_field(&r, &seen, k, v, err, errlen);
		if (n < 0)
			break;
	}
	if (n == 0 && !(seen & 3))
		n = fail(err, errlen, "a rule needs from= or to=");
	if (n < 0) {
		bh_rule_clear(&r);
		return n;
	}
	*ret = r;
	return 0;
}

void bh_rule_clear(struct bh_rule *r)
{
	free(r->owner);
	free(r->from.name);
	free(r->to.name);
	*r = (struct bh_rule){ 0 };
}

/* ---- volumes ---- */

static int volume_field(struct bh_volume *vol, const char *k, const char *v, char *err,
			size_t errlen)
{
	int r;

	if (bh_streq(k, "name")) {
		if (bh_check_name(v) < 0)
			return fail(err, errlen, "bad volume name '%s'", v);
		return set_once(&vol->name, k, v, err, errlen);
	}
	if (bh_streq(k, "backing")) {
		if (v[0] != '/' || strstr(v, "/../") || strstr(v, "/./"))
			return fail(err, errlen, "backing '%s' must be a plain absolute path", v);
		return set_once(&vol->backing, k, v, err, errlen);
	}
	if (bh_streq(k, "seal")) {
		if (!bh_streq(v, "1") && !bh_streq(v, "0"))
			return fail(err, errlen, "seal '%s' must be 1 or 0", v);
		vol->sealed = bh_streq(v, "1");
		return 0;
	}
	if (!bh_streq(k, "size"))
		return fail(err, errlen, "unknown field '%s' (expected name, size, backing, seal)", k);
	if (vol->size)
		return fail(err, errlen, "'size' given twice");
	r = bh_parse_size(v, 1, BH_CFG_VOLUME_SIZE_MIN, BH_CFG_VOLUME_SIZE_MAX, &vol->size);
	if (r == -ERANGE)
		return fail(err, errlen, "size '%s' is outside 1M..16T", v);
	if (r < 0)
		return fail(err, errlen, "bad size '%s' (expected e.g. 512M or 10G)", v);
	if (vol->size % BH_VOLUME_SECTOR)
		return fail(err, errlen, "size '%s' is not a multiple of %u bytes", v,
			    BH_VOLUME_SECTOR);
	return 0;
}

int bh_volume_parse(const char *untrusted_spec, struct bh_volume *ret, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strdup(untrusted_spec);
	struct bh_volume vol = { .cipher = BH_VOLUME_CIPHER, .sector_size = BH_VOLUME_SECTOR };
	char *cur = copy, *k, *v;
	int n;

	if (!copy)
		return -ENOMEM;
	while ((n = next_field(&cur, ' ', &k, &v, err, errlen)) > 0) {
		n = volume_field(&vol, k, v, err, errlen);
		if (n < 0)
			break;
	}
	if (n == 0 && !vol.name)
		n = fail(err, errlen, "a volume needs name=");
	if (n == 0 && !vol.size)
		n = fail(err, errlen, "volume '%s' needs size=", vol.name);
	if (n < 0) {
		bh_volume_clear(&vol);
		return n;
	}
	*ret = vol;
	return 0;
}

void bh_volume_clear(struct bh_volume *v)
{
	free(v->name);
	free(v->owner);
	free(v->backing);
	*v = (struct bh_volume){ 0 };
}

/* ---- zones ---- */

static int cidr_list_parse(char *s, struct bh_prefix **arr, size_t *n, char *err, size_t errlen)
{
	char *save = NULL;

	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct bh_prefix p, *slot;

		if (bh_prefix_parse(tok, &p) < 0)
			return fail(err, errlen, "bad address or prefix '%s'", tok);
		if (!bh_prefix_is_network(&p))
			return fail(err, errlen, "'%s' has host bits set beyond the prefix", tok);
		slot = bh_array_push(arr, n, sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		*slot = p;
	}
	return 0;
}

int bh_zone_parse(const char *untrusted_spec, struct bh_zone *ret, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strdup(untrusted_spec);
	struct bh_zone z = { 0 };
	char *cur = copy, *k, *v;
	int n;

	if (!copy)
		return -ENOMEM;
	while ((n = next_field(&cur, ' ', &k, &v, err, errlen)) > 0) {
		if (bh_streq(k, "name") && bh_check_name(v) < 0)
			n = fail(err, errlen, "bad zone name '%s'", v);
		else if (bh_streq(k, "name"))
			n = set_once(&z.name, k, v, err, errlen);
		else if (bh_streq(k, "cidr") && z.n_cidrs)
			n = fail(err, errlen, "'cidr' given twice");
		else if (bh_streq(k, "cidr"))
			n = cidr_list_parse(v, &z.cidrs, &z.n_cidrs, err, errlen);
		else
			n = fail(err, errlen, "unknown field '%s' (expected name, cidr)", k);
		if (n < 0)
			break;
	}
	if (n == 0 && !z.name)
		n = fail(err, errlen, "a zone needs name=");
	if (n < 0) {
		bh_zone_clear(&z);
		return n;
	}
	*ret = z;
	return 0;
}

void bh_zone_clear(struct bh_zone *z)
{
	free(z->name);
	free(z->cidrs);
	*z = (struct bh_zone){ 0 };
}

/*
 * ---- management grants: "user=ops:status,logs", "group=bhadmin:all",
 * "user=audit:auditor": permissions, or roles naming sets of them ----
 */

static const char *const perm_names[] = { "status", "logs", "up", "down", "attest",
					  "policy", "measure", "restart", "reseal" };

static const struct {
	const char *name;
	unsigned perms;
} role_names[] = {
	{ "all", BH_PERM_ALL },
	{ "admin", BH_ROLE_ADMIN },
	{ "operator", BH_ROLE_OPERATOR },
	{ "auditor", BH_ROLE_AUDITOR },
};

static bool role_lookup(const char *tok, unsigned *perms)
{
	for (size_t i = 0; i < BH_ARRAY_SIZE(role_names); i++)
		if (bh_streq(tok, role_names[i].name)) {
			*perms |= role_names[i].perms;
			return true;
		}
	return false;
}

static int perms_parse(char *s, unsigned *ret, char *err, size_t errlen)
{
	char *save = NULL;
	unsigned perms = 0;

	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		if (role_lookup(tok, &perms))
			continue;
		for (i = 0; i < BH_ARRAY_SIZE(perm_names); i++)
			if (bh_streq(tok, perm_names[i]))
				break;
		if (i == BH_ARRAY_SIZE(perm_names))
			return fail(err, errlen,
				    "unknown permission '%s' (expected a role: admin, operator, "
				    "auditor; or all, status, logs, up, down, restart, attest, "
				    "policy, measure)", tok);
		perms |= 1u << i;
	}
	if (!perms)
		return fail(err, errlen, "no permissions given");
	*ret = perms;
	return 0;
}

/* POSIX portable user/group names: [a-z_][a-z0-9_-]*, at most 32. */
static bool principal_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

int bh_grant_parse(const char *untrusted_spec, struct bh_grant *ret, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strdup(untrusted_spec);
	struct bh_grant g = { 0 };
	char *colon, *name;
	int r;

	if (!copy)
		return -ENOMEM;
	g.is_group = bh_startswith(copy, "group=");
	if (bh_startswith(copy, "user="))
		name = copy + strlen("user=");
	else if (g.is_group)
		name = copy + strlen("group=");
	else
		return fail(err, errlen, "'%s' must be user=NAME:PERMS or group=NAME:PERMS", copy);
	colon = strchr(name, ':');
	if (!colon)
		return fail(err, errlen, "'%s' lacks :PERMS (e.g. :status,logs or :all)",
			    untrusted_spec);
	*colon = '\0';
	if (!principal_ok(name))
		return fail(err, errlen, "bad %s name '%s'", g.is_group ? "group" : "user", name);
	r = perms_parse(colon + 1, &g.perms, err, errlen);
	if (r < 0)
		return r;
	g.principal = strdup(name);
	if (!g.principal)
		return -ENOMEM;
	*ret = g;
	return 0;
}

void bh_grant_clear(struct bh_grant *g)
{
	free(g->principal);
	*g = (struct bh_grant){ 0 };
}

/* ---- vifs: xl's "mac=...,ip=...,bridge=...,backend=..." ---- */

static int vif_ips(char *s, struct bh_vif *vif, char *err, size_t errlen)
{
	char *save = NULL;

	for (char *tok = strtok_r(s, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		struct bh_prefix p, *slot;

		if (bh_prefix_parse(tok, &p) < 0)
			return fail(err, errlen, "bad IP address '%s'", tok);
		if (strchr(tok, '/'))
			return fail(err, errlen, "ip '%s' must be an address, not a prefix", tok);
		slot = bh_array_push(&vif->ips, &vif->n_ips, sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		*slot = p;
	}
	return 0;
}

/* xl vif keys bulkhead passes through without interpreting. */
static bool vif_key_passthrough(const char *k)
{
	static const char *const keys[] = { "model", "type", "script", "rate", "gatewaydev",
					    "mtu", "devid", "trusted" };

	for (size_t i = 0; i < BH_ARRAY_SIZE(keys); i++)
		if (bh_streq(k, keys[i]))
			return true;
	return false;
}

static int vif_field(struct bh_vif *vif, char *k, char *v, char *err, size_t errlen)
{
	if (bh_streq(k, "mac")) {
		if (vif->has_mac)
			return fail(err, errlen, "'mac' given twice");
		if (bh_mac_parse(v, vif->mac) < 0)
			return fail(err, errlen, "bad MAC address '%s' (expected xx:xx:xx:xx:xx:xx)",
				    v);
		if (vif->mac[0] & 1)
			return fail(err, errlen, "MAC address '%s' is multicast", v);
		vif->has_mac = true;
		return 0;
	}
	if (bh_streq(k, "ip"))
		return vif->n_ips ? fail(err, errlen, "'ip' given twice") : vif_ips(v, vif, err,
										      errlen);
	if (bh_streq(k, "bridge"))
		return set_once(&vif->bridge, k, v, err, errlen);
	if (bh_streq(k, "backend"))
		return set_once(&vif->backend, k, v, err, errlen);
	if (bh_streq(k, "vifname"))
		return set_once(&vif->vifname, k, v, err, errlen);
	if (vif_key_passthrough(k))
		return 0;
	return fail(err, errlen, "unknown vif field '%s'", k);
}

int bh_vif_parse(const char *untrusted_spec, struct bh_vif *ret, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strdup(untrusted_spec);
	struct bh_vif vif = { 0 };
	char *cur = copy, *k, *v;
	int n;

	if (!copy)
		return -ENOMEM;
	while ((n = next_field(&cur, ',', &k, &v, err, errlen)) > 0) {
		n = vif_field(&vif, k, v, err, errlen);
		if (n < 0)
			break;
	}
	if (n < 0) {
		bh_vif_clear(&vif);
		return n;
	}
	*ret = vif;
	return 0;
}

void bh_vif_clear(struct bh_vif *v)
{
	free(v->bridge);
	free(v->backend);
	free(v->vifname);
	free(v->ips);
	*v = (struct bh_vif){ 0 };
}

/* ---- names ---- */

const char *bh_proto_name(enum bh_proto p)
{
	static const char *const names[] = { "any", "tcp", "udp", "icmp", "icmpv6" };

	return (size_t)p < BH_ARRAY_SIZE(names) ? names[p] : "?";
}

const char *bh_action_name(enum bh_action a)
{
	static const char *const names[] = { "accept", "drop", "reject" };

	return (size_t)a < BH_ARRAY_SIZE(names) ? names[a] : "?";
}

const char *bh_role_cfg_name(enum bh_dom_role r)
{
	static const char *const names[] = { "guest", "netdom", "stordom", "vtpm" };

	return (size_t)r < BH_ARRAY_SIZE(names) ? names[r] : "?";
}

const char *bh_platform_name(enum bh_platform p)
{
	static const char *const names[] = { "auto", "host", "xen" };

	return (size_t)p < BH_ARRAY_SIZE(names) ? names[p] : "?";
}

void bh_endpoint_format(const struct bh_endpoint *e, const char *self, char *out, size_t outlen)
{
	switch (e->kind) {
	case BH_EP_SELF:
		snprintf(out, outlen, "%s", self ? self : "?");
		break;
	case BH_EP_DOMAIN:
		snprintf(out, outlen, "%s", e->name);
		break;
	case BH_EP_ZONE:
		snprintf(out, outlen, "zone:%s", e->name);
		break;
	case BH_EP_ANY:
		snprintf(out, outlen, "any");
		break;
	case BH_EP_CIDR:
		bh_prefix_format(&e->cidr, out, outlen);
		break;
	}
}
