/* SPDX-License-Identifier: MIT */
/*
 * bulkhead policy-export's encoder: configs/demo as the POLICY_* sequence
 * netdomd reads, decoded again with the codecs netdomd uses. Its rules to the
 * netdom domain (DNS) travel as to=self, labelled file:line like the others.
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

static const struct {
	const char *label, *from, *to_name;
	unsigned line;
	uint8_t to_kind, proto;
	uint16_t port;
} demo_rules[5] = {
	{ "guests/db.cfg:13", "db", "", 13, BH_POLICY_EP_SELF, BH_POLICY_PROTO_UDP, 53 },
	{ "guests/db.cfg:14", "db", "", 14, BH_POLICY_EP_SELF, BH_POLICY_PROTO_TCP, 53 },
	{ "guests/web.cfg:14", "web", "db", 14, BH_POLICY_EP_GUEST, BH_POLICY_PROTO_TCP, 5432 },
	{ "guests/web.cfg:15", "web", "", 15, BH_POLICY_EP_SELF, BH_POLICY_PROTO_UDP, 53 },
	{ "guests/web.cfg:16", "web", "", 16, BH_POLICY_EP_SELF, BH_POLICY_PROTO_TCP, 53 },
};

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
	CU_ASSERT_EQUAL_FATAL(s.n_rules, 5); /* four of them to the netdom itself (DNS) */
	CU_ASSERT_EQUAL(d.n, 0);
	for (size_t i = 0; i < s.n_vifs; i++) {
		char want[32];

		snprintf(want, sizeof(want), "vif%zu.0", i + 1); /* no vifname: guest number */
		CU_ASSERT_STRING_EQUAL(s.vifs[i].ifname, want);
		CU_ASSERT_EQUAL(s.vifs[i].mac[0], 0x00);
		CU_ASSERT_EQUAL(s.vifs[i].n_addrs, 1);
		CU_ASSERT_EQUAL(s.vifs[i].addrs[0].plen, 32);
	}
	for (size_t i = 0; i < s.n_rules; i++) {
		const struct bh_msg_policy_rule *m = &s.rules[i];

		CU_ASSERT_EQUAL(t->rules[m->id - 1].src.line, demo_rules[i].line); /* id: topology order */
		CU_ASSERT(ends_with(m->label, demo_rules[i].label));
		CU_ASSERT_EQUAL(m->from.kind, BH_POLICY_EP_GUEST);
		CU_ASSERT_STRING_EQUAL(m->from.name, demo_rules[i].from);
		CU_ASSERT_EQUAL(m->to.kind, demo_rules[i].to_kind);
		CU_ASSERT_STRING_EQUAL(m->to.name, demo_rules[i].to_name);
		CU_ASSERT_EQUAL(m->to.net.family, 0);
		CU_ASSERT_EQUAL(m->proto, demo_rules[i].proto);
		CU_ASSERT_EQUAL(m->action, BH_POLICY_ACCEPT);
		CU_ASSERT_EQUAL(m->n_ports, 1);
		CU_ASSERT_EQUAL(m->ports[0].lo, demo_rules[i].port);
		CU_ASSERT_EQUAL(m->ports[0].hi, demo_rules[i].port);
	}
	free(buf);
	bh_diags_clear(&d);
	bh_topology_free(t);
}

/* A rule from the netdom is refused with its file:line (netdom would refuse it too). */
static void test_from_netdom_refused(void)
{
	struct bh_diags d = { 0 };
	struct bh_topology *t = NULL;
	struct bh_rule *r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(bh_topology_load("configs/demo", &d, &t), 0);
	CU_ASSERT_EQUAL_FATAL(t->n_rules, 5);
	r = &t->rules[0]; /* guests/db.cfg:13, to=netdom udp 53: turn it around */
	free(r->from.name);
	r->from = r->to;
	r->to = (struct bh_endpoint){ .kind = BH_EP_SELF };
	f = open_memstream(&buf, &len);
	CU_ASSERT_EQUAL(bh_policy_write(t, 43, f, &d), -EINVAL);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(d.n, 1);
	CU_ASSERT(ends_with(d.v[0].file, "guests/db.cfg"));
	CU_ASSERT_EQUAL(d.v[0].line, 13);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.v[0].msg, "from the netdom"));
	free(buf);
	bh_diags_clear(&d);
	bh_topology_free(t);
}

int main(void)
{
	static const struct bh_test tests[] = {
		{ "configs/demo as POLICY_* messages", test_demo_policy },
		{ "a rule from the netdom is refused naming its line", test_from_netdom_refused },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = {
		{ "policy-export", tests },
		{ NULL, NULL },
	};

	return bh_test_main(suites);
}
