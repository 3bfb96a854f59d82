/* SPDX-License-Identifier: MIT */
/*
 * Management access: bh_manage grants with role names, permissions of a
 * caller by uid and groups (real users of the system database: root,
 * daemon, nobody/nogroup), and the management wire codec (round trip and
 * refusals).
 */
#include <string.h>

#include "../bh-test.h"
#include "../../../dom0/dom0.h"

static struct bh_grant grant(const char *spec)
{
	struct bh_grant g = { 0 };
	char err[256];

	CU_ASSERT_EQUAL(bh_grant_parse(spec, &g, err, sizeof(err)), 0);
	return g;
}

static void test_roles(void)
{
	struct bh_grant g;
	char err[256];

	g = grant("group=bhadmin:admin");
	CU_ASSERT(g.is_group);
	CU_ASSERT_EQUAL(g.perms, BH_PERM_ALL);
	bh_grant_clear(&g);
	g = grant("user=ops:operator");
	CU_ASSERT_EQUAL(g.perms, BH_PERM_STATUS | BH_PERM_RESTART | BH_PERM_POLICY);
	bh_grant_clear(&g);
	g = grant("user=audit:auditor");
	CU_ASSERT_EQUAL(g.perms, BH_PERM_STATUS | BH_PERM_LOGS);
	bh_grant_clear(&g);
	g = grant("user=audit:auditor,restart");
	CU_ASSERT_EQUAL(g.perms, BH_PERM_STATUS | BH_PERM_LOGS | BH_PERM_RESTART);
	bh_grant_clear(&g);
	CU_ASSERT_EQUAL(bh_grant_parse("user=x:superuser", &g, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "admin, operator, auditor"));
}

static void test_perms(void)
{
	struct bh_grant gs[3];
	const struct bh_peer root = { 0, 0, 1 }, daemon_ = { 1, 1, 2 }, nobody = { 65534, 65534, 3 },
			     stranger = { 54321, 54321, 4 }, in_nogroup = { 54321, 65534, 5 };

	gs[0] = grant("user=daemon:operator");
	gs[1] = grant("user=nobody:auditor");
	gs[2] = grant("group=nogroup:logs");
	CU_ASSERT_EQUAL(bh_rbac_perms(gs, 3, &root), BH_PERM_ALL);
	CU_ASSERT_EQUAL(bh_rbac_perms(gs, 3, &daemon_), BH_ROLE_OPERATOR);
	/* nobody: its user grant plus its primary group's. */
	CU_ASSERT_EQUAL(bh_rbac_perms(gs, 3, &nobody), BH_ROLE_AUDITOR);
	CU_ASSERT_EQUAL(bh_rbac_perms(gs, 3, &stranger), 0);
	/* A uid without a passwd entry still gets its SO_PEERCRED gid's grants. */
	CU_ASSERT_EQUAL(bh_rbac_perms(gs, 3, &in_nogroup), BH_PERM_LOGS);
	CU_ASSERT_EQUAL(bh_rbac_perms(gs, 0, &nobody), 0);
	/* A grant naming a user that does not exist matches nobody. */
	bh_grant_clear(&gs[0]);
	gs[0] = grant("user=no-such-user-zz:admin");
	CU_ASSERT_EQUAL(bh_rbac_perms(gs, 1, &stranger), 0);
	for (int i = 0; i < 3; i++)
		bh_grant_clear(&gs[i]);
	CU_ASSERT_STRING_EQUAL(bh_perm_name(BH_PERM_RESTART), "restart");
	CU_ASSERT_STRING_EQUAL(bh_perm_name(3), "unknown");
}

static void test_wire_roundtrip(void)
{
	struct bh_mgmt_req req = { BH_MGMT_RESTART, BH_MGMT_F_JSON, "netdom" }, got;
	struct bh_mgmt_resp resp = { BH_MGMT_R_FINAL, -EACCES, "no", 2 }, rgot;
	uint8_t buf[256];
	long n;

	n = bh_mgmt_req_encode(&req, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(n, 3 + 2 + 6);
	CU_ASSERT_EQUAL(bh_mgmt_req_decode(buf, (size_t)n, &got), 0);
	CU_ASSERT_EQUAL(got.op, BH_MGMT_RESTART);
	CU_ASSERT_EQUAL(got.flags, BH_MGMT_F_JSON);
	CU_ASSERT_STRING_EQUAL(got.target, "netdom");
	CU_ASSERT_EQUAL(bh_mgmt_req_decode(buf, (size_t)n - 1, &got), -EBADMSG);
	buf[n] = 0;
	CU_ASSERT_EQUAL(bh_mgmt_req_decode(buf, (size_t)n + 1, &got), -EBADMSG);
	buf[0] = 2;
	CU_ASSERT_EQUAL(bh_mgmt_req_decode(buf, (size_t)n, &got), -EPROTONOSUPPORT);
	buf[0] = 1, buf[1] = BH_MGMT_OP_MAX_;
	CU_ASSERT_EQUAL(bh_mgmt_req_decode(buf, (size_t)n, &got), -EBADMSG);
	buf[1] = BH_MGMT_STATUS, buf[2] = 0x80;
	CU_ASSERT_EQUAL(bh_mgmt_req_decode(buf, (size_t)n, &got), -EBADMSG);

	n = bh_mgmt_resp_encode(&resp, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(n, 1 + 1 + 4 + 4 + 2);
	CU_ASSERT_EQUAL(bh_mgmt_resp_decode(buf, (size_t)n, &rgot), 0);
	CU_ASSERT_EQUAL(rgot.status, -EACCES);
	CU_ASSERT_EQUAL(rgot.len, 2);
	CU_ASSERT_EQUAL(memcmp(rgot.text, "no", 2), 0);
	CU_ASSERT_EQUAL(bh_mgmt_resp_decode(buf, (size_t)n - 1, &rgot), -EBADMSG);
	buf[5] = 1; /* status +1: positive statuses do not exist */
	buf[2] = buf[3] = buf[4] = 0;
	CU_ASSERT_EQUAL(bh_mgmt_resp_decode(buf, (size_t)n, &rgot), -EBADMSG);
	/* A length beyond the maximum is refused before the bytes are looked for. */
	memcpy(buf + 6, "\xff\xff\xff\xff", 4);
	CU_ASSERT_EQUAL(bh_mgmt_resp_decode(buf, (size_t)n, &rgot), -EBADMSG);
	CU_ASSERT_STRING_EQUAL(bh_mgmt_op_name(BH_MGMT_LOGS), "logs");
	CU_ASSERT_EQUAL(bh_mgmt_op_perm(BH_MGMT_DOWN), BH_PERM_DOWN);
	CU_ASSERT_EQUAL(bh_mgmt_op_perm(0), 0);
}

static const struct bh_test tests[] = {
	{ "grant roles", test_roles },
	{ "permissions by uid and groups", test_perms },
	{ "wire round trip and refusals", test_wire_roundtrip },
	{ NULL, NULL },
};

static const struct bh_suite suites[] = {
	{ "rbac", tests },
	{ NULL, NULL },
};

int main(void)
{
	return bh_test_main(suites);
}
