/* SPDX-License-Identifier: MIT */
/*
 * bulkhead policy-export's encoder: configs/demo as the POLICY_* sequence
 * netdomd reads, decoded again with the codecs netdomd uses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../bh-test.h"
#include "bulkhead/msg.h"
#include "../../../dom0/dom0.h"

struct seq {
	struct bh_msg_policy_begin begin;
	struct bh_msg_policy_zone zones[4];
	struct bh_msg_policy_guest vifs[4];
	struct bh_msg_policy_rule rules[8];
	size_t n_zones, n_vifs, n_rules;
	uint64_t commit;
	int bad;
};

static void decode(const uint8_t *p, size_t len, struct seq *s)
{
	for (size_t off = 0; len - off >= BH_MSG_HDR_SIZE;) {
		struct bh_msg_hdr h;
		const uint8_t *body = p + off + BH_MSG_HDR_SIZE;
		struct bh_msg_policy_commit c;
		int r = -1;

		if (bh_msg_hdr_decode(p + off, &h) < 0 || h.length > len - off - BH_MSG_HDR_SIZE) {
			s->bad++;
			return;
		}
		if (h.type == BH_MSG_POLICY_BEGIN)
			r = bh_msg_policy_begin_decode(body, h.length, &s->begin);
		if (h.type == BH_MSG_POLICY_ZONE && s->n_zones < 4)
			r = bh_msg_policy_zone_decode(body, h.length, &s->zones[s->n_zones++]);
		if (h.type == BH_MSG_POLICY_GUEST && s->n_vifs < 4)
			r = bh_msg_policy_guest_decode(body, h.length, &s->vifs[s->n_vifs++]);
		if (h.type == BH_MSG_POLICY_RULE && s->n_rules < 8)
			r = bh_msg_policy_rule_decode(body, h.length, &s->rules[s->n_rules++]);
		if (h.type == BH_MSG_POLICY_COMMIT && bh_msg_policy_commit_decode(body, h.length, &c) == 0)
			r = 0, s->commit = c.generation;
		s->bad += r < 0;
		off += BH_MSG_HDR_SIZE + h.length;
	}
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);

	return a >= b && !strcmp(s + a - b, tail);
}

static void test_demo_policy(void)
{
	struct bh_diags d = { 0 };
	struct bh_topology *t = NULL;
	struct seq s = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(bh_topology_load("configs/demo", &d, &t), 0);
	CU_ASSERT_EQUAL_FATAL(d.n, 0);
	f = open_memstream(&buf, &len);
	CU_ASSERT_EQUAL(bh_policy_write(t, 42, f, &d), 0);
	fclose(f);
	decode((const uint8_t *)buf, len, &s);
	CU_ASSERT_EQUAL(s.bad, 0);
	CU_ASSERT_EQUAL(s.begin.generation, 42);
	CU_ASSERT_EQUAL(s.commit, 42);
	CU_ASSERT_EQUAL(s.begin.default_action, BH_POLICY_DROP);
	CU_ASSERT_EQUAL(s.begin.n_zones, s.n_zones);
	CU_ASSERT_EQUAL(s.begin.n_vifs, s.n_vifs);
	CU_ASSERT_EQUAL(s.begin.n_rules, s.n_rules);
	CU_ASSERT_EQUAL(s.n_zones, 2);
	CU_ASSERT_EQUAL_FATAL(s.n_vifs, 2);
	CU_ASSERT_EQUAL_FATAL(s.n_rules, 1); /* the four rules to the netdom itself are notes */
	CU_ASSERT_EQUAL(d.n, 4);
	for (size_t i = 0; i < s.n_vifs; i++) {
		char want[32];

		snprintf(want, sizeof(want), "vif%zu.0", i + 1); /* no vifname: guest number */
		CU_ASSERT_STRING_EQUAL(s.vifs[i].ifname, want);
		CU_ASSERT_EQUAL(s.vifs[i].mac[0], 0x00);
		CU_ASSERT_EQUAL(s.vifs[i].n_addrs, 1);
		CU_ASSERT_EQUAL(s.vifs[i].addrs[0].plen, 32);
	}
	CU_ASSERT(ends_with(s.rules[0].label, "guests/web.cfg:14"));
	CU_ASSERT_EQUAL(s.rules[0].from.kind, BH_POLICY_EP_GUEST);
	CU_ASSERT_STRING_EQUAL(s.rules[0].from.name, "web");
	CU_ASSERT_STRING_EQUAL(s.rules[0].to.name, "db");
	CU_ASSERT_EQUAL(s.rules[0].proto, BH_POLICY_PROTO_TCP);
	CU_ASSERT_EQUAL(s.rules[0].n_ports, 1);
	CU_ASSERT_EQUAL(s.rules[0].ports[0].lo, 5432);
	CU_ASSERT_EQUAL(t->rules[s.rules[0].id - 1].src.line, 14); /* id = place in the topology */
	free(buf);
	bh_diags_clear(&d);
	bh_topology_free(t);
}

int main(void)
{
	static const struct bh_test tests[] = {
		{ "configs/demo as POLICY_* messages", test_demo_policy },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = {
		{ "policy-export", tests },
		{ NULL, NULL },
	};

	return bh_test_main(suites);
}
