/* SPDX-License-Identifier: MIT */
/*
 * The table layout (table.c) without netlink: forward-chain length does not
 * grow with guests or rules, every set a rule looks up is one the table
 * declares, element values and names round-trip.
 */
#include <errno.h>
#include <string.h>

#include "../bh-test.h"
#include "nd-test.h"
#include <linux/netfilter.h> /* after netinet/in.h (nd-test.h), or the two clash */

static struct nd_policy *synth(uint32_t guests, uint32_t rules)
{
	uint32_t zones = (guests + 9) / 10;
	struct nd_policy *p = nt_begin(zones, guests, rules);
	struct nd_error e = { 0 };
	char a[64], b[64], ifn[16], addr[32];

	for (uint32_t z = 0; z < zones; z++) {
		snprintf(a, sizeof(a), "z%u", z);
		CU_ASSERT_EQUAL(nt_zone(p, a, &e), 0);
	}
	for (uint32_t g = 0; g < guests; g++) {
		struct bh_msg_policy_guest m;

		snprintf(a, sizeof(a), "g%u", g);
		snprintf(b, sizeof(b), "z%u", g / 10);
		snprintf(ifn, sizeof(ifn), "vif%u.0", g);
		snprintf(addr, sizeof(addr), "10.%u.%u.2", g / 250, g % 250);
		m = nt_vif_msg(a, b, ifn, 0, addr, NULL);
		m.mac[4] = (uint8_t)(g >> 8);
		m.mac[5] = (uint8_t)g;
		CU_ASSERT_EQUAL(nd_policy_add_vif(p, &m, &e), 0);
	}
	for (uint32_t i = 0; i < rules; i++) {
		snprintf(a, sizeof(a), "g=g%u", i % guests);
		if (i % 4 == 3)
			snprintf(b, sizeof(b), "z=z%u", (i / 7) % zones);
		else
			snprintf(b, sizeof(b), "g=g%u", (i + 1 + i / guests) % guests);
		CU_ASSERT_EQUAL(nt_rule(p, i + 1, a, b, BH_POLICY_PROTO_TCP, (uint16_t)(1000 + i / guests),
					(uint16_t)(1000 + i / guests), BH_POLICY_ACCEPT, &e), 0);
	}
	CU_ASSERT_EQUAL_FATAL(nd_policy_finish(p, 1, &e), 0);
	return p;
}

static size_t chain_rules(const struct nd_xrules *xr, const char *chain)
{
	size_t n = 0;

	for (size_t i = 0; i < xr->n; i++)
		n += !strcmp(xr->v[i].chain, chain);
	return n;
}

static void base_rules_of(uint32_t guests, uint32_t rules, size_t *fwd, size_t *all)
{
	struct nd_policy *p = synth(guests, rules);
	struct nd_ruleset *rs = NULL;
	struct nd_xrules xr = { 0 };
	struct nd_error e = { 0 };

	CU_ASSERT_EQUAL_FATAL(nd_compile(p, &rs, &e), 0);
	nd_table_base_rules(rs, &xr);
	CU_ASSERT_EQUAL(xr.err, 0);
	*fwd = chain_rules(&xr, "forward");
	*all = xr.n;
	nd_xrules_free(&xr);
	nd_ruleset_free(rs);
	nd_policy_free(p);
}

static void test_cost_does_not_grow(void)
{
	size_t f_small, a_small, f_big, a_big;

	base_rules_of(20, 8, &f_small, &a_small);
	base_rules_of(1000, 10000, &f_big, &a_big);
	CU_ASSERT_EQUAL(f_small, f_big);
	CU_ASSERT_EQUAL(a_small, a_big);
	/* ct invalid, ct established, 2 x (guest-guest, guest-zone), default */
	CU_ASSERT_EQUAL(f_big, 2 + 4 + 1);
}

/* Index of the first rule of @chain from @from on that looks @name up, or xr->n. */
static size_t find_lookup(const struct nd_xrules *xr, const char *chain, const char *name,
			  size_t from)
{
	for (size_t i = from; i < xr->n; i++)
		for (unsigned k = 0; !strcmp(xr->v[i].chain, chain) && k < xr->v[i].n; k++)
			if ((xr->v[i].x[k].op == ND_X_LOOKUP || xr->v[i].x[k].op == ND_X_COUNTER_MAP) &&
			    !strcmp(xr->v[i].x[k].name, name))
				return i;
	return xr->n;
}

static size_t last_of(const struct nd_xrules *xr, const char *chain)
{
	size_t last = xr->n;

	for (size_t i = 0; i < xr->n; i++)
		if (!strcmp(xr->v[i].chain, chain))
			last = i;
	return last;
}

static bool set_declared(const struct nd_ruleset *rs, const char *name);
static void check_refs(const struct nd_ruleset *rs, const struct nd_xrules *xr);

/*
 * Rules to self go to the input chain: a counter map and a verdict map per
 * source kind, after the fixed rules and before the default (counter
 * "default-drop"), whatever their number; none of them in forward.
 */
static void test_input_chain(void)
{
	struct nd_policy *p = synth(20, 8);
	struct nd_ruleset *rs = NULL;
	struct nd_xrules xr = { 0 };
	struct nd_error e = { 0 };
	size_t in_fixed, i, def;

	CU_ASSERT_EQUAL_FATAL(nd_compile(p, &rs, &e), 0);
	nd_table_base_rules(rs, &xr);
	in_fixed = chain_rules(&xr, "input");
	nd_xrules_free(&xr);
	nd_ruleset_free(rs);
	nd_policy_free(p);
	CU_ASSERT_EQUAL(in_fixed, 2 + 1 + 2 + 1); /* ct x2, loopback, icmp x2, default */

	p = synth(20, 0);
	p->want_rules = 300;
	for (uint32_t r = 0; r < 300; r++) {
		char from[16];

		snprintf(from, sizeof(from), r % 3 ? "g=g%u" : "z=z%u", r % 2);
		CU_ASSERT_EQUAL(nt_rule(p, r + 1, r % 5 ? from : "any", "self",
					r % 2 ? BH_POLICY_PROTO_UDP : BH_POLICY_PROTO_TCP,
					(uint16_t)(50 + r), (uint16_t)(50 + r), BH_POLICY_ACCEPT, &e), 0);
	}
	CU_ASSERT_EQUAL_FATAL(nd_policy_finish(p, 1, &e), 0);
	CU_ASSERT_EQUAL_FATAL(nd_compile(p, &rs, &e), 0);
	nd_table_base_rules(rs, &xr);
	nd_table_verdict_rules(&xr);
	check_refs(rs, &xr);
	CU_ASSERT_EQUAL(chain_rules(&xr, "input"), in_fixed + 3 * 2); /* guest, zone, any */
	CU_ASSERT_EQUAL(chain_rules(&xr, "forward"), 2 + 1);          /* ct x2, default */
	i = find_lookup(&xr, "input", "count-guest-self", 0);
	CU_ASSERT_EQUAL(find_lookup(&xr, "input", "allow-guest-self", 0), i + 1);
	CU_ASSERT(find_lookup(&xr, "input", "allow-zone-self", 0) > i + 1); /* guest first */
	CU_ASSERT(find_lookup(&xr, "input", "allow-any-self", 0) >
		  find_lookup(&xr, "input", "allow-zone-self", 0));
	def = last_of(&xr, "input");
	CU_ASSERT(find_lookup(&xr, "input", "allow-any-self", 0) < def);
	CU_ASSERT_EQUAL_FATAL(def < xr.n, true);
	CU_ASSERT_STRING_EQUAL(xr.v[def].x[0].name, "default-drop");
	CU_ASSERT_EQUAL(find_lookup(&xr, "forward", "allow-guest-self", 0), xr.n);
	/* The key: source mark, l4proto, dport; no destination field. */
	{
		struct nd_set_spec vs, cs;

		nd_pair_specs(&rs->maps[ND_SLOT_GUEST * ND_SLOT_MAX_ + ND_SLOT_SELF], &vs, &cs);
		CU_ASSERT_STRING_EQUAL(vs.name, "allow-guest-self");
		CU_ASSERT_STRING_EQUAL(cs.name, "count-guest-self");
		CU_ASSERT_EQUAL(vs.n_fields, 3);
		CU_ASSERT_EQUAL(nd_set_key_len(&vs), 12);
	}
	nd_xrules_free(&xr);
	nd_ruleset_free(rs);
	nd_policy_free(p);
}

static bool set_declared(const struct nd_ruleset *rs, const char *name)
{
	for (size_t i = 0; i < ND_SPOOF_SETS; i++)
		if (!strcmp(nd_spoof_specs[i].name, name))
			return true;
	for (size_t i = 0; i < rs->n_order; i++) {
		struct nd_set_spec vs, cs;

		nd_pair_specs(&rs->maps[rs->order[i]], &vs, &cs);
		if (!strcmp(vs.name, name) || !strcmp(cs.name, name))
			return true;
	}
	return false;
}

static bool chain_declared(const char *name)
{
	for (size_t i = 0; i < BH_ARRAY_SIZE(nd_verdict_chains); i++)
		if (!strcmp(nd_verdict_chains[i].name, name))
			return true;
	for (size_t i = 0; i < BH_ARRAY_SIZE(nd_base_chains); i++)
		if (!strcmp(nd_base_chains[i].name, name))
			return true;
	return false;
}

static void check_refs(const struct nd_ruleset *rs, const struct nd_xrules *xr)
{
	for (size_t i = 0; i < xr->n; i++) {
		CU_ASSERT(chain_declared(xr->v[i].chain));
		for (unsigned k = 0; k < xr->v[i].n; k++) {
			const struct nd_x *x = &xr->v[i].x[k];

			if (x->op == ND_X_LOOKUP || x->op == ND_X_COUNTER_MAP)
				CU_ASSERT(set_declared(rs, x->name));
			if (x->op == ND_X_VERDICT && x->name[0])
				CU_ASSERT(chain_declared(x->name));
		}
	}
}

static void test_references_resolve(void)
{
	struct nd_policy *p = synth(30, 40);
	struct nd_ruleset *rs = NULL;
	struct nd_xrules xr = { 0 };
	struct nd_error e = { 0 };

	CU_ASSERT_EQUAL_FATAL(nd_compile(p, &rs, &e), 0);
	nd_table_base_rules(rs, &xr);
	nd_table_verdict_rules(&xr);
	check_refs(rs, &xr);
	/* The v4 and v6 fast paths, then from a guest vif: jump spoof. */
	CU_ASSERT_EQUAL(chain_rules(&xr, "prerouting"), 3);
	CU_ASSERT_EQUAL(chain_rules(&xr, "spoof"), 3);      /* MAC, IPv4, IPv6 */
	nd_xrules_free(&xr);
	nd_ruleset_free(rs);
	nd_policy_free(p);
}

static void test_vif_elems_and_verdicts(void)
{
	struct nd_policy *p = synth(12, 1);
	struct nd_vif_elem el[ND_VIF_ELEMS_MAX];
	struct nd_rule r = { 0 };
	struct nd_elem_val v = { 0 };
	size_t n;

	p->vifs[11].m.addrs[p->vifs[11].m.n_addrs++] = nt_net("fd00::b");
	n = nd_vif_elems(p, &p->vifs[11], el);
	CU_ASSERT_EQUAL_FATAL(n, 8); /* vifs, mac, ip4, src4, ip6, src6, zone, id */
	CU_ASSERT_EQUAL(el[0].key_len, 16);
	CU_ASSERT_STRING_EQUAL((char *)el[0].key, "vif11.0");
	CU_ASSERT_EQUAL(el[1].key_len, 24);
	CU_ASSERT_EQUAL(el[1].key[21], 11); /* last MAC byte */
	CU_ASSERT_EQUAL(el[2].set, 2);
	CU_ASSERT_EQUAL(el[2].key_len, 20);
	/* The fast-path key: name, MAC padded to 8 bytes, then the address. */
	CU_ASSERT_EQUAL(el[3].set, 6);
	CU_ASSERT_STRING_EQUAL(nd_spoof_specs[6].name, "vif-src4");
	CU_ASSERT_EQUAL(nd_set_key_len(&nd_spoof_specs[6]), 28);
	CU_ASSERT_EQUAL(el[3].key_len, 28);
	CU_ASSERT_EQUAL(el[3].key[21], 11);
	CU_ASSERT_EQUAL(el[3].key[22], 0);
	CU_ASSERT_EQUAL(memcmp(el[3].key + 24, el[2].key + 16, 4), 0);
	CU_ASSERT_EQUAL(el[4].set, 3);
	CU_ASSERT_EQUAL(el[4].key_len, 32);
	CU_ASSERT_EQUAL(el[5].set, 7);
	CU_ASSERT_EQUAL(el[5].key_len, 40);
	CU_ASSERT_EQUAL(memcmp(el[5].key + 24, el[4].key + 16, 16), 0);
	CU_ASSERT_EQUAL(el[6].set, 4);
	CU_ASSERT_EQUAL(el[6].data, nd_zone_id(1)); /* g11 is in z1 */
	CU_ASSERT_EQUAL(el[7].set, 5);
	CU_ASSERT_EQUAL(el[7].data, nd_vif_id(11));
	r.m.action = BH_POLICY_ACCEPT;
	nd_rule_verdict(&r, &v);
	CU_ASSERT(v.is_verdict && !v.chain && v.verdict == NF_ACCEPT);
	r.m.action = BH_POLICY_REJECT;
	memset(&v, 0, sizeof(v));
	nd_rule_verdict(&r, &v);
	CU_ASSERT_STRING_EQUAL(v.chain, "reject");
	r.m.flags = BH_POLICY_RULE_LOG;
	r.m.action = BH_POLICY_DROP;
	nd_rule_verdict(&r, &v);
	CU_ASSERT_STRING_EQUAL(v.chain, "log-drop");
	nd_policy_free(p);
}

static void test_names(void)
{
	char s[64];
	uint32_t id = 0;
	uint64_t gen = 0;

	nd_counter_name(4242, s, sizeof(s));
	CU_ASSERT_EQUAL(nd_counter_parse(s, &id), 0);
	CU_ASSERT_EQUAL(id, 4242);
	CU_ASSERT(nd_counter_parse("r0", &id) < 0);
	CU_ASSERT(nd_counter_parse("r12x", &id) < 0);
	CU_ASSERT(nd_counter_parse("spoof", &id) < 0);
	CU_ASSERT(nd_counter_parse("r-1", &id) < 0);
	nd_generation_comment(18446744073709551615ull, s, sizeof(s));
	CU_ASSERT_EQUAL(nd_generation_parse(s, strlen(s) + 1, &gen), 0); /* udata keeps the NUL */
	CU_ASSERT_EQUAL(gen, 18446744073709551615ull);
	CU_ASSERT(nd_generation_parse("bulkhead generation 1x", 22, &gen) < 0);
	CU_ASSERT(nd_generation_parse("someone else's table", 20, &gen) < 0);
	CU_ASSERT(nd_generation_parse(s, 0, &gen) < 0);
}

/* Sequence numbers map back to the policy rule (or object) each message came from. */
static void test_batch_origins(void)
{
	struct nd_policy *p = synth(10, 5);
	struct nd_ruleset rs = { .p = p };
	struct nd_batch b = { .seq = 1000, .rs = &rs };
	struct nd_error e = { 0 };

	b.seq0 = b.seq;
	nd_batch_origin(&b, -1, "table");
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_PTR_NOT_NULL(nd_batch_room(&b));
		CU_ASSERT_EQUAL(nd_batch_record(&b), 0);
		nd_batch_done(&b, 64);
	}
	nd_batch_origin(&b, 3, NULL); /* policy rule index 3: id 4, label "t:4" */
	nd_batch_record(&b);
	nd_batch_done(&b, 64);
	nd_batch_origin(&b, -1, "vif7.0");
	nd_batch_record(&b);
	nd_batch_done(&b, 64);
	CU_ASSERT_EQUAL(b.len, 5 * 64);
	CU_ASSERT(nd_batch_owns(&b, 1000) && nd_batch_owns(&b, 1004));
	CU_ASSERT(!nd_batch_owns(&b, 999) && !nd_batch_owns(&b, 1005));
	nd_batch_error(&b, 1003, -EEXIST, &e);
	CU_ASSERT_EQUAL(e.rule_id, 4);
	CU_ASSERT_EQUAL(e.code, -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.text, "rule 4 (t:4): kernel refused it"));
	CU_ASSERT(!nd_batch_spans_rules(&b, 1003));
	nd_batch_origin(&b, 1, NULL); /* elements of rules 1..3 in one message */
	b.cur.rule_last = 3;
	nd_batch_record(&b);
	nd_batch_done(&b, 64);
	CU_ASSERT(nd_batch_spans_rules(&b, 1005));
	CU_ASSERT(!nd_batch_spans_rules(&b, 1004));
	nd_batch_error(&b, 1004, -ENOSPC, &e);
	CU_ASSERT_EQUAL(e.rule_id, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.text, "kernel refused vif7.0"));
	nd_batch_free(&b);
	nd_policy_free(p);
}

int main(void)
{
	static const struct bh_test table[] = {
		{ "forward chain length independent of guests and rules", test_cost_does_not_grow },
		{ "every looked-up set and jumped-to chain is declared", test_references_resolve },
		{ "rules to self: input chain maps, before its default", test_input_chain },
		{ "vif elements and rule verdicts", test_vif_elems_and_verdicts },
		{ "counter and generation names", test_names },
		{ "batch sequence numbers map errors to rules", test_batch_origins },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = {
		{ "table", table },
		{ NULL, NULL },
	};

	return bh_test_main(suites);
}
