/* SPDX-License-Identifier: MIT */
/*
 * The netdom policy model: items, whole-policy checks, the message-sequence
 * feeder. Every refused rule must be named (id and label) in the error.
 */
#include <errno.h>
#include <string.h>

#include "../bh-test.h"
#include "nd-test.h"

enum { TCP = BH_POLICY_PROTO_TCP, UDP = BH_POLICY_PROTO_UDP, ICMP = BH_POLICY_PROTO_ICMP,
       ICMP6 = BH_POLICY_PROTO_ICMPV6, ANYP = BH_POLICY_PROTO_ANY, ACC = BH_POLICY_ACCEPT,
       DROP = BH_POLICY_DROP };

/* Two zones, three guests (web has two vifs), room for @rules rules. */
static struct nd_policy *base(uint32_t rules)
{
	struct nd_policy *p = nt_begin(2, 4, rules);
	struct nd_error e = { 0 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(nt_zone(p, "dmz", &e), 0);
	CU_ASSERT_EQUAL(nt_zone(p, "db", &e), 0);
	CU_ASSERT_EQUAL(nt_vif(p, "web", "dmz", "vif1.0", 1, "10.0.1.2", "fd00::1:2", &e), 0);
	CU_ASSERT_EQUAL(nt_vif(p, "web", "dmz", "vif1.1", 2, "10.0.2.2", NULL, &e), 0);
	CU_ASSERT_EQUAL(nt_vif(p, "pg", "db", "vif2.0", 3, "10.0.3.2", NULL, &e), 0);
	CU_ASSERT_EQUAL(nt_vif(p, "lone", NULL, "vif3.0", 4, "10.0.4.2", NULL, &e), 0);
	return p;
}

static void test_valid_policy_resolves(void)
{
	struct nd_policy *p = base(3);
	struct nd_error e = { 0 };

	CU_ASSERT_EQUAL(nt_rule(p, 10, "g=web", "g=pg", TCP, 5432, 5432, ACC, &e), 0);
	CU_ASSERT_EQUAL(nt_rule(p, 11, "z=dmz", "10.9.0.0/16", UDP, 53, 53, ACC, &e), 0);
	CU_ASSERT_EQUAL(nt_rule(p, 12, "any", "z=db", ICMP, 0, 0, DROP, &e), 0);
	CU_ASSERT_EQUAL(nd_policy_finish(p, 1, &e), 0);
	CU_ASSERT(p->finished);
	CU_ASSERT_EQUAL(p->n_guests, 3);
	CU_ASSERT_EQUAL(p->n_vifs, 4);
	CU_ASSERT_EQUAL(p->vifs[1].guest, 0); /* both vifs of web belong to one guest */
	CU_ASSERT_EQUAL(p->guests[0].zone, 1); /* zone index + 1 */
	CU_ASSERT_EQUAL(p->guests[1].zone, 2);
	CU_ASSERT_EQUAL(p->guests[2].zone, 0);
	CU_ASSERT_EQUAL(p->rules[0].from_ref, 0);
	CU_ASSERT_EQUAL(p->rules[0].to_ref, 1);
	CU_ASSERT_EQUAL(p->rules[1].from_ref, 0); /* zone dmz */
	CU_ASSERT_EQUAL(p->rules[2].to_ref, 1);    /* zone db */
	CU_ASSERT_PTR_EQUAL(nd_policy_rule_by_id(p, 11), &p->rules[1]);
	CU_ASSERT_PTR_NULL(nd_policy_rule_by_id(p, 99));
	nd_policy_free(p);
}

/* A rule refused at add time: the error carries its id and "rule N (t:N)". */
static void expect_rule_refused(struct bh_msg_policy_rule r, const char *words)
{
	struct nd_policy *p = base(1);
	struct nd_error e = { 0 };
	char name[64];

	CU_ASSERT_EQUAL(nd_policy_add_rule(p, &r, &e), -EINVAL);
	CU_ASSERT_EQUAL(e.rule_id, r.id);
	snprintf(name, sizeof(name), "rule %u (t:%u)", r.id, r.id);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.text, name));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.text, words));
	CU_ASSERT_EQUAL(p->n_rules, 0);
	nd_policy_free(p);
}

static void test_rule_shape_refused(void)
{
	struct bh_msg_policy_rule r;

	expect_rule_refused(nt_rule_msg(3, "any", "any", ICMP, 80, 80, ACC), "ports need");
	expect_rule_refused(nt_rule_msg(4, "any", "any", TCP, 90, 80, ACC), "bad port range");
	r = nt_rule_msg(5, "any", "any", TCP, 1, 2, ACC);
	r.ports[0].lo = 0;
	expect_rule_refused(r, "bad port range");
	expect_rule_refused(nt_rule_msg(6, "10.0.0.1/8", "any", TCP, 0, 0, ACC), "beyond its prefix");
	expect_rule_refused(nt_rule_msg(7, "10.0.0.0/8", "fd00::/8", ANYP, 0, 0, ACC), "mixes IPv4");
	expect_rule_refused(nt_rule_msg(8, "fd00::/8", "any", ICMP, 0, 0, ACC), "address family");
	expect_rule_refused(nt_rule_msg(9, "any", "10.0.0.0/8", ICMP6, 0, 0, ACC), "address family");
	expect_rule_refused(nt_rule_msg(10, "g=web", "g=web", TCP, 0, 0, ACC), "to itself");
	expect_rule_refused(nt_rule_msg(11, "self", "any", TCP, 53, 53, ACC), "from self");
	expect_rule_refused(nt_rule_msg(12, "self", "self", UDP, 0, 0, ACC), "from self");
}

/* A rule refused by nd_policy_finish (references), named likewise. */
static void expect_finish_refused(const char *from, const char *to, const char *words)
{
	struct nd_policy *p = base(2);
	struct nd_error e = { 0 };

	CU_ASSERT_EQUAL(nt_rule(p, 1, "g=web", "g=pg", TCP, 0, 0, ACC, &e), 0);
	CU_ASSERT_EQUAL(nt_rule(p, 77, from, to, TCP, 0, 0, ACC, &e), 0);
	CU_ASSERT_EQUAL(nd_policy_finish(p, 1, &e), -EINVAL);
	CU_ASSERT_EQUAL(e.rule_id, 77);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.text, "rule 77 (t:77)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(e.text, words));
	CU_ASSERT(!p->finished);
	nd_policy_free(p);
}

static void test_unknown_references(void)
{
	expect_finish_refused("g=web", "g=nosuch", "unknown guest 'nosuch'");
	expect_finish_refused("z=nozone", "any", "unknown zone 'nozone'");
	expect_finish_refused("z=web", "any", "unknown zone 'web'"); /* a guest is not a zone */
}

/* A whole-policy conflict among vifs/zones, refused with no rule to blame. */
static void expect_vif_conflict(struct bh_msg_policy_guest extra, const char *words)
{
	struct nd_policy *p = nt_begin(2, 5, 0);
	struct nd_error e = { 0 };
	int r;

	nt_zone(p, "dmz", &e);
	nt_zone(p, "db", &e);
	nt_vif(p, "web", "dmz", "vif1.0", 1, "10.0.1.2", "fd00::2", &e);
	nt_vif(p, "web", "dmz", "vif1.1", 2, "10.0.2.2", NULL, &e);
	nt_vif(p, "pg", "db", "vif2.0", 3, "10.0.3.2", NULL, &e);
	nt_vif(p, "lone", NULL, "vif3.0", 4, "10.0.4.2", NULL, &e);
	r = nd_policy_add_vif(p, &extra, &e);
	if (r == 0)
		r = nd_policy_finish(p, 1, &e);
	CU_ASSERT_EQUAL(r, -EINVAL);
	CU_ASSERT_EQUAL(e.rule_id, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.text, words));
	nd_policy_free(p);
}

static void test_vif_conflicts(void)
{
	expect_vif_conflict(nt_vif_msg("x", NULL, "vif1.0", 9, "10.0.9.2", NULL), "interface name");
	expect_vif_conflict(nt_vif_msg("x", NULL, "vif9.0", 3, "10.0.9.2", NULL), "MAC");
	expect_vif_conflict(nt_vif_msg("x", NULL, "vif9.0", 9, "fd00::2", NULL), "address");
	expect_vif_conflict(nt_vif_msg("x", "nozone", "vif9.0", 9, "10.0.9.2", NULL),
			    "unknown zone 'nozone'");
	expect_vif_conflict(nt_vif_msg("web", NULL, "vif9.0", 9, "10.0.9.2", NULL), "defined twice");
	expect_vif_conflict(nt_vif_msg("x", NULL, "vif9.0", 9, "10.0.9.0/24", NULL), "is a network");
	struct bh_msg_policy_guest g = nt_vif_msg("x", NULL, "vif9.0", 9, "10.0.9.2", NULL);

	g.mac[0] = 1;
	expect_vif_conflict(g, "multicast");
}

static void test_vifs_in_two_zones(void)
{
	struct nd_policy *p = nt_begin(2, 2, 0);
	struct nd_error e = { 0 };

	nt_zone(p, "a", &e);
	nt_zone(p, "b", &e);
	nt_vif(p, "x", "a", "vif1.0", 1, "10.0.0.1", NULL, &e);
	nt_vif(p, "x", "b", "vif1.1", 2, "10.0.0.2", NULL, &e);
	CU_ASSERT_EQUAL(nd_policy_finish(p, 1, &e), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.text, "different zones"));
	nd_policy_free(p);
}

static void test_counts_and_ids(void)
{
	struct nd_policy *p = base(2);
	struct nd_error e = { 0 };

	CU_ASSERT_EQUAL(nt_zone(p, "more", &e), -EBADMSG); /* BEGIN said 2 zones */
	CU_ASSERT_EQUAL(nt_vif(p, "more", NULL, "vif8.0", 8, NULL, NULL, &e), -EBADMSG);
	CU_ASSERT_EQUAL(nt_rule(p, 5, "any", "g=pg", TCP, 0, 0, ACC, &e), 0);
	CU_ASSERT_EQUAL(nd_policy_finish(p, 1, &e), -EBADMSG); /* one rule short */
	CU_ASSERT_EQUAL(nt_rule(p, 5, "any", "g=web", TCP, 0, 0, ACC, &e), 0);
	CU_ASSERT_EQUAL(nt_rule(p, 6, "any", "any", TCP, 0, 0, ACC, &e), -EBADMSG);
	CU_ASSERT_EQUAL(e.rule_id, 6);
	CU_ASSERT_EQUAL(nd_policy_finish(p, 2, &e), -EBADMSG); /* generation differs */
	CU_ASSERT_EQUAL(nd_policy_finish(p, 1, &e), -EINVAL);  /* id 5 twice */
	CU_ASSERT_EQUAL(e.rule_id, 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.text, "id used twice"));
	nd_policy_free(p);
	p = nt_begin(1, 0, 0);
	CU_ASSERT_EQUAL(nt_zone(p, "a", &e), 0);
	p->want_zones = 2;
	CU_ASSERT_EQUAL(nt_zone(p, "a", &e), -EINVAL);
	nd_policy_free(p);
}

/* ---- the feeder: the exact message sequence netdomd receives ---- */

static uint8_t body[BH_MSG_BODY_MAX];

static int feed(struct nd_policy **pp, uint16_t type, long len, struct nd_error *e)
{
	CU_ASSERT_FATAL(len >= 0);
	return nd_policy_feed(pp, type, body, (size_t)len, e);
}

static void test_feed_sequence(void)
{
	struct bh_msg_policy_begin b = { 4, BH_POLICY_REJECT, 1, 1, 1 };
	struct bh_msg_policy_zone z = { "dmz" };
	struct bh_msg_policy_guest g = nt_vif_msg("web", "dmz", "vif1.0", 1, "10.0.0.2", NULL);
	struct bh_msg_policy_rule r = nt_rule_msg(1, "any", "z=dmz", TCP, 80, 80, ACC);
	struct bh_msg_policy_commit c = { 4 };
	struct nd_policy *p = NULL;
	struct nd_error e = { 0 };

	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_ZONE, bh_msg_policy_zone_encode(&z, body, sizeof(body)),
			     &e), -EPROTO); /* before BEGIN */
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_BEGIN,
			     bh_msg_policy_begin_encode(&b, body, sizeof(body)), &e), 0);
	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_ZONE,
			     bh_msg_policy_zone_encode(&z, body, sizeof(body)), &e), 0);
	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_GUEST,
			     bh_msg_policy_guest_encode(&g, body, sizeof(body)), &e), 0);
	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_RULE,
			     bh_msg_policy_rule_encode(&r, body, sizeof(body)), &e), 0);
	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_COMMIT,
			     bh_msg_policy_commit_encode(&c, body, sizeof(body)), &e), 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT(p->finished);
	CU_ASSERT_EQUAL(p->generation, 4);
	CU_ASSERT_EQUAL(p->default_action, BH_POLICY_REJECT);
	nd_policy_free(p);
}

static void test_feed_errors_free_the_policy(void)
{
	struct bh_msg_policy_begin b = { 4, BH_POLICY_DROP, 0, 0, 1 };
	struct bh_msg_policy_rule r = nt_rule_msg(1, "any", "any", ICMP, 22, 22, ACC);
	struct nd_policy *p = NULL;
	struct nd_error e = { 0 };
	long n;

	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_BEGIN,
			     bh_msg_policy_begin_encode(&b, body, sizeof(body)), &e), 0);
	n = bh_msg_policy_rule_encode(&r, body, sizeof(body));
	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_RULE, n - 1, &e), -EBADMSG); /* truncated */
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.text, "malformed"));
	feed(&p, BH_MSG_POLICY_BEGIN, bh_msg_policy_begin_encode(&b, body, sizeof(body)), &e);
	n = bh_msg_policy_rule_encode(&r, body, sizeof(body));
	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_RULE, n, &e), -EINVAL); /* ports on icmp */
	CU_ASSERT_EQUAL(e.rule_id, 1);
	CU_ASSERT_PTR_NULL(p);
	feed(&p, BH_MSG_POLICY_BEGIN, bh_msg_policy_begin_encode(&b, body, sizeof(body)), &e);
	CU_ASSERT_EQUAL(feed(&p, BH_MSG_PING, 0, &e), -EPROTO);
	CU_ASSERT_PTR_NULL(p);
	/* A second BEGIN starts over (the first sequence is dropped, not leaked). */
	feed(&p, BH_MSG_POLICY_BEGIN, bh_msg_policy_begin_encode(&b, body, sizeof(body)), &e);
	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_BEGIN,
			     bh_msg_policy_begin_encode(&b, body, sizeof(body)), &e), 0);
	CU_ASSERT_EQUAL(feed(&p, BH_MSG_POLICY_BEGIN, 3, &e), -EBADMSG);
	CU_ASSERT_PTR_NULL(p);
}

static void test_closed_policy(void)
{
	struct nd_policy *p = NULL;

	CU_ASSERT_EQUAL(nd_policy_closed(&p), 0);
	CU_ASSERT(p->finished);
	CU_ASSERT_EQUAL(p->generation, 0);
	CU_ASSERT_EQUAL(p->n_rules + p->n_vifs + p->n_zones, 0);
	nd_policy_free(p);
}

int main(void)
{
	static const struct bh_test model[] = {
		{ "valid policy resolves references and zones", test_valid_policy_resolves },
		{ "rule shape errors name the rule", test_rule_shape_refused },
		{ "unknown guest/zone references name the rule", test_unknown_references },
		{ "duplicate ifname/MAC/address, bad vifs", test_vif_conflicts },
		{ "one guest's vifs in two zones", test_vifs_in_two_zones },
		{ "counts against BEGIN, duplicate rule ids", test_counts_and_ids },
		{ "closed policy", test_closed_policy },
		{ NULL, NULL },
	};
	static const struct bh_test feeder[] = {
		{ "full sequence", test_feed_sequence },
		{ "errors free the pending policy", test_feed_errors_free_the_policy },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = {
		{ "policy model", model },
		{ "policy feeder", feeder },
		{ NULL, NULL },
	};

	return bh_test_main(suites);
}
