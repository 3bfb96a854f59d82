/* SPDX-License-Identifier: MIT */
/*
 * The config loader (libxlutil values + scanner lines), the spec parsers, the
 * address helpers and the validator, on small in-memory files.
 */
#include <string.h>
#include <sys/socket.h>

#include "../bh-test.h"
#include "../../../dom0/dom0.h"

static struct bh_cfg_file *parse(const char *s, enum bh_file_kind kind, struct bh_diags *d)
{
	struct bh_cfg_file *f = NULL;

	CU_ASSERT_EQUAL_FATAL(bh_cfg_file_parse("t.cfg", kind, s, strlen(s), d, &f), 0);
	return f;
}

static void test_values_and_lines(void)
{
	struct bh_diags d = { 0 };
	struct bh_cfg_file *f = parse("name = 'web'\nmemory = 0x100\n"
				      "bh_allow = [\n \"to=db\",\n\n \"to=netdom\" ]\n"
				      "bh_allow += [ \"to=x\" ]\n",
				      BH_FILE_GUEST, &d);
	const struct bh_cfg_value *v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(d.n, 0);
	CU_ASSERT_STRING_EQUAL(bh_cfg_get(f, "name")->str, "web");
	CU_ASSERT_STRING_EQUAL(bh_cfg_get(f, "memory")->str, "0x100");
	CU_ASSERT_EQUAL(bh_cfg_line(f, "memory"), 2);
	v = bh_cfg_get(f, "bh_allow");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL_FATAL(v->n_items, 3);
	CU_ASSERT_STRING_EQUAL(v->items[2], "to=x");
	CU_ASSERT_EQUAL(v->item_lines[0], 4);
	CU_ASSERT_EQUAL(v->item_lines[1], 6);
	CU_ASSERT_EQUAL(v->item_lines[2], 7);
	bh_cfg_file_free(f);
	bh_diags_clear(&d);
}

static void test_syntax_error_has_line(void)
{
	struct bh_diags d = { 0 };
	struct bh_cfg_file *f = parse("name = \"a\"\n\nvcpus = = 2\n", BH_FILE_GUEST, &d);

	CU_ASSERT_PTR_NULL(f);
	CU_ASSERT_EQUAL_FATAL(d.n, 1);
	CU_ASSERT_STRING_EQUAL(d.v[0].file, "t.cfg");
	CU_ASSERT_EQUAL(d.v[0].line, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.v[0].msg, "syntax error"));
	bh_diags_clear(&d);
}

static void test_unknown_and_misplaced_keys(void)
{
	struct bh_diags d = { 0 };
	struct bh_cfg_file *f = parse("name = \"a\"\nbh_vtmp = 1\nbh_role = \"vtpm\"\nbh_xyzzy_q = 2\n"
				      "on_crash = \"destroy\"\n",
				      BH_FILE_GUEST, &d);

	CU_ASSERT_PTR_NOT_NULL(f);
	CU_ASSERT_EQUAL_FATAL(d.n, 3);
	bh_diags_sort(&d);
	CU_ASSERT_EQUAL(d.v[0].line, 2);
	CU_ASSERT_STRING_EQUAL(d.v[0].msg, "unknown key 'bh_vtmp' (did you mean 'bh_vtpm'?)");
	CU_ASSERT_EQUAL(d.v[1].line, 3);
	CU_ASSERT_STRING_EQUAL(d.v[1].msg, "key 'bh_role' is not valid in a guest file");
	CU_ASSERT_STRING_EQUAL(d.v[2].msg, "unknown key 'bh_xyzzy_q'");
	bh_cfg_file_free(f);
	bh_diags_clear(&d);
}

static void test_nul_and_type(void)
{
	struct bh_diags d = { 0 };
	struct bh_cfg_file *f = NULL;

	CU_ASSERT_EQUAL(bh_cfg_file_parse("t.cfg", BH_FILE_GUEST, "a=1\0b=2", 7, &d, &f), 0);
	CU_ASSERT_PTR_NULL(f);
	CU_ASSERT_EQUAL(d.n, 1);
	bh_diags_clear(&d);
	f = parse("vif = \"mac=00:16:3e:00:00:01\"\nname = [ \"x\" ]\n", BH_FILE_GUEST, &d);
	CU_ASSERT_EQUAL(d.n, 2);
	CU_ASSERT_PTR_NULL(bh_cfg_get(f, "vif"));
	CU_ASSERT_PTR_NULL(bh_cfg_get(f, "name"));
	bh_cfg_file_free(f);
	bh_diags_clear(&d);
}

static void test_rule_parse(void)
{
	struct bh_rule r;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(bh_rule_parse("to=db proto=tcp port=5432,8000-8080 log=yes", &r, err,
					    sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.from.kind, BH_EP_SELF);
	CU_ASSERT_EQUAL(r.to.kind, BH_EP_DOMAIN);
	CU_ASSERT_STRING_EQUAL(r.to.name, "db");
	CU_ASSERT_EQUAL(r.proto, BH_PROTO_TCP);
	CU_ASSERT_EQUAL_FATAL(r.n_ports, 2);
	CU_ASSERT_EQUAL(r.ports[1].lo, 8000);
	CU_ASSERT_EQUAL(r.ports[1].hi, 8080);
	CU_ASSERT_TRUE(r.log);
	bh_rule_clear(&r);
	CU_ASSERT_EQUAL_FATAL(bh_rule_parse("from=zone:dmz to=2001:db8::/32 action=reject", &r,
					    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.from.kind, BH_EP_ZONE);
	CU_ASSERT_EQUAL(r.to.kind, BH_EP_CIDR);
	CU_ASSERT_EQUAL(r.to.cidr.len, 32);
	CU_ASSERT_EQUAL(r.action, BH_ACTION_REJECT);
	bh_rule_clear(&r);
}

static void test_rule_parse_errors(void)
{
	static const struct {
		const char *spec, *msg;
	} bad[] = {
		{ "proto=tcp", "a rule needs from= or to=" },
		{ "to=db to=web", "'to' given twice" },
		{ "to=db port=99999", "bad port or port range '99999'" },
		{ "to=db proto=gre", "unknown proto 'gre' (expected tcp, udp, icmp, icmpv6 or any)" },
		{ "to=db color=red", "unknown field 'color' (expected from, to, proto, port, action, log)" },
		{ "to=Db", "'Db' is not a domain name, zone:NAME, any or a CIDR" },
		{ "to=10.0.0.1/8", "'10.0.0.1/8' has host bits set beyond the prefix" },
		{ "to db", "expected key=value, got 'to'" },
	};
	struct bh_rule r;
	char err[256];

	for (size_t i = 0; i < BH_ARRAY_SIZE(bad); i++) {
		CU_ASSERT_EQUAL(bh_rule_parse(bad[i].spec, &r, err, sizeof(err)), -EINVAL);
		CU_ASSERT_STRING_EQUAL(err, bad[i].msg);
	}
}

static void test_volume_vif_grant(void)
{
	struct bh_volume vol;
	struct bh_vif vif;
	struct bh_grant g;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(bh_volume_parse("name=v1 size=2G", &vol, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(vol.size, 2ull << 30);
	CU_ASSERT_STRING_EQUAL(vol.cipher, "aes-xts-plain64");
	CU_ASSERT_EQUAL(vol.sector_size, 4096);
	bh_volume_clear(&vol);
	CU_ASSERT_EQUAL(bh_volume_parse("name=v1", &vol, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bh_volume_parse("name=v1 size=1G backing=rel/x", &vol, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_EQUAL_FATAL(bh_vif_parse("mac=00:16:3E:00:00:01, ip=10.0.0.1 fd00::1,bridge=br0",
					   &vif, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(vif.mac[2], 0x3e);
	CU_ASSERT_EQUAL_FATAL(vif.n_ips, 2);
	CU_ASSERT_EQUAL(vif.ips[1].family, AF_INET6);
	CU_ASSERT_STRING_EQUAL(vif.bridge, "br0");
	bh_vif_clear(&vif);
	CU_ASSERT_EQUAL(bh_vif_parse("mac=00:16:3e:00:00:01,colour=blue", &vif, err, sizeof(err)),
			-EINVAL);
	CU_ASSERT_EQUAL_FATAL(bh_grant_parse("group=wheel:status,logs", &g, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(g.is_group);
	CU_ASSERT_EQUAL(g.perms, BH_PERM_STATUS | BH_PERM_LOGS);
	bh_grant_clear(&g);
	CU_ASSERT_EQUAL(bh_grant_parse("user=ops", &g, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bh_grant_parse("uid=0:all", &g, err, sizeof(err)), -EINVAL);
}

static void test_prefixes(void)
{
	struct bh_prefix a, b, c;
	uint8_t mac[6];

	CU_ASSERT_EQUAL(bh_prefix_parse("10.1.0.0/16", &a), 0);
	CU_ASSERT_EQUAL(bh_prefix_parse("10.1.200.3", &b), 0);
	CU_ASSERT_EQUAL(bh_prefix_parse("10.2.0.0/15", &c), 0);
	CU_ASSERT_TRUE(bh_prefix_contains(&a, &b));
	CU_ASSERT_TRUE(bh_prefix_overlap(&a, &b));
	CU_ASSERT_FALSE(bh_prefix_overlap(&a, &c));
	CU_ASSERT_TRUE(bh_prefix_is_network(&a));
	CU_ASSERT_FALSE(bh_prefix_is_network(&c) && c.len == 14);
	CU_ASSERT_EQUAL(bh_prefix_parse("10.1.0.0/33", &a), -EINVAL);
	CU_ASSERT_EQUAL(bh_prefix_parse("10.1.0.0/", &a), -EINVAL);
	CU_ASSERT_EQUAL(bh_prefix_parse("fd00::/129", &a), -EINVAL);
	CU_ASSERT_EQUAL(bh_prefix_parse("fd00::1/64", &a), 0);
	CU_ASSERT_FALSE(bh_prefix_is_network(&a));
	CU_ASSERT_EQUAL(bh_prefix_parse("fd00::/7", &c), 0);
	CU_ASSERT_TRUE(bh_prefix_contains(&c, &a));
	CU_ASSERT_FALSE(bh_prefix_overlap(&c, &b)); /* different families */
	CU_ASSERT_EQUAL(bh_mac_parse("00:16:3e:00:00:0g", mac), -EINVAL);
	CU_ASSERT_EQUAL(bh_mac_parse("00:16:3e:00:00:01:", mac), -EINVAL);
	CU_ASSERT_EQUAL(bh_mac_parse("00-16-3e-00-00-01", mac), -EINVAL);
}

/* One guest file, validated alone: everything it references is missing. */
static void test_validate_single_guest(void)
{
	static const char guest[] = "name = \"web\"\n"
				    "vif = [ \"mac=00:16:3e:00:00:01,ip=10.0.0.2\" ]\n"
				    "bh_allow = [ \"from=web proto=icmp port=1\" ]\n"
				    "bh_volume = [ \"name=data size=1G\" ]\n";
	struct bh_diags d = { 0 };
	struct bh_topology *t = NULL;

	CU_ASSERT_EQUAL_FATAL(bh_topology_load_data("web.cfg", BH_FILE_GUEST, guest,
						    strlen(guest), &d, &t), 0);
	CU_ASSERT_EQUAL(d.n, 0);
	bh_validate(t, BH_PLATFORM_HOST, &d);
	bh_diags_sort(&d);
	CU_ASSERT_EQUAL_FATAL(d.n, 5);
	CU_ASSERT_EQUAL(d.v[0].line, 1); /* no bh_host_cmd */
	CU_ASSERT_STRING_EQUAL(d.v[1].msg, "'vif' needs a netdom domain, but the topology has none");
	CU_ASSERT_EQUAL(d.v[2].line, 3);
	CU_ASSERT_EQUAL(d.v[3].line, 3);
	CU_ASSERT_EQUAL(d.v[4].line, 4);
	bh_topology_free(t);
	bh_diags_clear(&d);
}

static const struct bh_test cfg_tests[] = {
	{ "values and item lines", test_values_and_lines },
	{ "libxlutil syntax error keeps its line", test_syntax_error_has_line },
	{ "unknown and misplaced keys", test_unknown_and_misplaced_keys },
	{ "NUL byte and value types", test_nul_and_type },
	{ NULL, NULL },
};

static const struct bh_test spec_tests[] = {
	{ "rule parse", test_rule_parse },
	{ "rule parse errors", test_rule_parse_errors },
	{ "volume, vif and grant", test_volume_vif_grant },
	{ "prefixes and MACs", test_prefixes },
	{ NULL, NULL },
};

static const struct bh_test validate_tests[] = {
	{ "single guest", test_validate_single_guest },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = {
		{ "cfg", cfg_tests },
		{ "spec", spec_tests },
		{ "validate", validate_tests },
		{ NULL, NULL },
	};

	return bh_test_main(suites);
}
