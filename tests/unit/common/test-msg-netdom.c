/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "../bh-test.h"
#include "bulkhead/msg.h"

static uint8_t buf[BH_MSG_BODY_MAX];

static struct bh_msg_policy_rule sample_rule(void)
{
	struct bh_msg_policy_rule r = { .id = 42, .proto = BH_POLICY_PROTO_TCP,
					.action = BH_POLICY_REJECT, .flags = BH_POLICY_RULE_LOG,
					.n_ports = 2 };

	strcpy(r.label, "guests/web.cfg:12");
	r.from.kind = BH_POLICY_EP_ZONE;
	strcpy(r.from.name, "dmz");
	r.to.kind = BH_POLICY_EP_CIDR;
	r.to.net = (struct bh_msg_net){ 6, 64, { 0xfd } };
	r.ports[0] = (struct bh_msg_port_range){ 80, 80 };
	r.ports[1] = (struct bh_msg_port_range){ 8000, 8080 };
	return r;
}

static void test_rule_roundtrip(void)
{
	struct bh_msg_policy_rule r = sample_rule(), d;
	long n = bh_msg_policy_rule_encode(&r, buf, sizeof(buf));
	uint32_t min, max;

	CU_ASSERT(n > 0);
	CU_ASSERT_EQUAL(bh_msg_body_limits(BH_MSG_POLICY_RULE, &min, &max), 0);
	CU_ASSERT(n >= (long)min && n <= (long)max);
	memset(&d, 0, sizeof(d));
	CU_ASSERT_EQUAL(bh_msg_policy_rule_decode(buf, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(memcmp(&r, &d, sizeof(r)), 0);
	CU_ASSERT_EQUAL(bh_msg_policy_rule_decode(buf, (size_t)n - 1, &d), -EBADMSG);
}

/* Endpoint kind "self" (the netdom): neither name nor network, destination side. */
static void test_rule_self_roundtrip(void)
{
	struct bh_msg_policy_rule r = sample_rule(), d;
	long n;

	r.to = (struct bh_msg_policy_ep){ .kind = BH_POLICY_EP_SELF };
	n = bh_msg_policy_rule_encode(&r, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	memset(&d, 0xa5, sizeof(d));
	CU_ASSERT_EQUAL(bh_msg_policy_rule_decode(buf, (size_t)n, &d), 0);
	CU_ASSERT_EQUAL(d.to.kind, BH_POLICY_EP_SELF);
	CU_ASSERT_EQUAL(memcmp(&r, &d, sizeof(r)), 0);
	strcpy(r.to.name, "netdom"); /* self carries no name */
	n = bh_msg_policy_rule_encode(&r, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_rule_decode(buf, (size_t)n, &d), -EBADMSG);
	r.to = (struct bh_msg_policy_ep){ .kind = BH_POLICY_EP_SELF,
					  .net = { 4, 32, { 10, 0, 0, 1 } } }; /* nor a network */
	n = bh_msg_policy_rule_encode(&r, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_rule_decode(buf, (size_t)n, &d), -EBADMSG);
	r.to = (struct bh_msg_policy_ep){ .kind = BH_POLICY_EP_KIND_MAX_ };
	n = bh_msg_policy_rule_encode(&r, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_rule_decode(buf, (size_t)n, &d), -EBADMSG);
}

static void test_rule_rejects(void)
{
	struct bh_msg_policy_rule r = sample_rule(), d;
	long n;

	r.to.net.family = 5; /* bad family */
	n = bh_msg_policy_rule_encode(&r, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_rule_decode(buf, (size_t)n, &d), -EBADMSG);
	r = sample_rule();
	r.from.kind = BH_POLICY_EP_ANY; /* a name on "any" */
	n = bh_msg_policy_rule_encode(&r, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_rule_decode(buf, (size_t)n, &d), -EBADMSG);
	r = sample_rule();
	r.action = BH_POLICY_ACTION_MAX_;
	n = bh_msg_policy_rule_encode(&r, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_rule_decode(buf, (size_t)n, &d), -EBADMSG);
	r = sample_rule();
	r.id = 0;
	n = bh_msg_policy_rule_encode(&r, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_rule_decode(buf, (size_t)n, &d), -EBADMSG);
}

static void test_guest_begin_commit(void)
{
	struct bh_msg_policy_guest g = { .name = "web", .zone = "", .ifname = "vif1.0",
					 .mac = { 0, 0x16, 0x3e, 0, 0, 1 }, .n_addrs = 1 }, gd;
	struct bh_msg_policy_begin b = { 7, BH_POLICY_DROP, 1, 2, 3 }, bd;
	long n;

	g.addrs[0] = (struct bh_msg_net){ 4, 32, { 10, 0, 0, 2 } };
	n = bh_msg_policy_guest_encode(&g, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_guest_decode(buf, (size_t)n, &gd), 0);
	CU_ASSERT_EQUAL(memcmp(&g, &gd, sizeof(g)), 0);
	strcpy(g.ifname, "a/b");
	n = bh_msg_policy_guest_encode(&g, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_guest_decode(buf, (size_t)n, &gd), -EBADMSG);
	n = bh_msg_policy_begin_encode(&b, buf, sizeof(buf));
	CU_ASSERT_EQUAL(n, 21);
	CU_ASSERT_EQUAL(bh_msg_policy_begin_decode(buf, (size_t)n, &bd), 0);
	CU_ASSERT_EQUAL(memcmp(&b, &bd, sizeof(b)), 0);
	b.default_action = BH_POLICY_ACCEPT; /* default accept is not a thing */
	n = bh_msg_policy_begin_encode(&b, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_begin_decode(buf, (size_t)n, &bd), -EBADMSG);
}

static void test_result_counters_drop(void)
{
	struct bh_msg_policy_result r = { 9, -22, 12, "rule 12: bad" }, rd;
	static struct bh_msg_counter v[3] = { { 1, 10, 1000 }, { 2, 0, 0 }, { 7, 5, 300 } };
	static struct bh_msg_counter vd[BH_COUNTERS_PER_MSG];
	struct bh_msg_counters c = { 9, 3, 0, 3, v }, cd = { .v = vd };
	struct bh_msg_drop_event e = { "web", { 4, 32, { 10, 0, 0, 2 } }, { 4, 32, { 10, 0, 1, 2 } },
				       6, 22, 17 }, ed;
	long n;

	n = bh_msg_policy_result_encode(&r, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_policy_result_decode(buf, (size_t)n, &rd), 0);
	CU_ASSERT_EQUAL(memcmp(&r, &rd, sizeof(r)), 0);
	n = bh_msg_counters_encode(&c, buf, sizeof(buf));
	CU_ASSERT_EQUAL(n, 20 + 3 * 20);
	CU_ASSERT_EQUAL(bh_msg_counters_decode(buf, (size_t)n, &cd), 0);
	CU_ASSERT_EQUAL(cd.n, 3);
	CU_ASSERT_EQUAL(memcmp(vd, v, sizeof(v)), 0);
	c.first = 2; /* first + n > total */
	CU_ASSERT_EQUAL(bh_msg_counters_encode(&c, buf, sizeof(buf)), -EINVAL);
	n = bh_msg_drop_event_encode(&e, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_drop_event_decode(buf, (size_t)n, &ed), 0);
	CU_ASSERT_EQUAL(memcmp(&e, &ed, sizeof(e)), 0);
	e.count = 0;
	n = bh_msg_drop_event_encode(&e, buf, sizeof(buf));
	CU_ASSERT_EQUAL(bh_msg_drop_event_decode(buf, (size_t)n, &ed), -EBADMSG);
}

int main(void)
{
	static const struct bh_test tests[] = {
		{ "rule round trip", test_rule_roundtrip },
		{ "rule to self round trip", test_rule_self_roundtrip },
		{ "rule rejects", test_rule_rejects },
		{ "guest, begin", test_guest_begin_commit },
		{ "result, counters, drop event", test_result_counters_drop },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = { { "msg-netdom", tests }, { NULL, NULL } };

	return bh_test_main(suites);
}
