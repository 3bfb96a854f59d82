/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of `bulkhead up`: bh_io_max checking, which netdom gateway
 * a guest address routes through, the endpoints each guest of configs/demo
 * gets bound, and the status a topology with nothing running yet reports
 * (table and JSON fields).
 */
#include <stdlib.h>
#include <string.h>

#include "../bh-test.h"
#include "../../../dom0/dom0.h"

static void test_io_max(void)
{
	char err[128];

	CU_ASSERT_EQUAL(bh_io_max_check("wbps=1048576", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bh_io_max_check("rbps=max wbps=10 riops=1 wiops=max", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(bh_io_max_check("", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bh_io_max_check("wbps=10M", err, sizeof(err)), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "bad value '10M' (a number or max)");
	CU_ASSERT_EQUAL(bh_io_max_check("wbps=0", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bh_io_max_check("wbps=-1", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bh_io_max_check("rios=1", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(bh_io_max_check("wbps=1; rm", err, sizeof(err)), -EINVAL);
}

static struct bh_topology *demo(void)
{
	struct bh_diags d = { 0 };
	struct bh_topology *t = NULL;

	CU_ASSERT_EQUAL_FATAL(bh_topology_load("configs/demo", &d, &t), 0);
	CU_ASSERT_EQUAL(d.n, 0);
	bh_diags_clear(&d);
	return t;
}

static void test_gateway(void)
{
	struct bh_topology *t = demo();
	struct bh_prefix ip, other;
	const struct bh_prefix *gw;
	char s[64];

	CU_ASSERT_EQUAL_FATAL(bh_prefix_parse("10.10.2.20", &ip), 0);
	gw = bh_net_gateway_for(t, &ip);
	CU_ASSERT_PTR_NOT_NULL_FATAL(gw);
	bh_prefix_format(gw, s, sizeof(s));
	CU_ASSERT_STRING_EQUAL(s, "10.10.2.1/24");
	CU_ASSERT_EQUAL_FATAL(bh_prefix_parse("192.0.2.1", &other), 0);
	CU_ASSERT_PTR_NULL(bh_net_gateway_for(t, &other));
	bh_topology_free(t);
}

static struct bh_up_opts opts = { .state = "/st", .run = "/st/run", .logs = "/st/log" };

static void test_binds(void)
{
	struct bh_topology *t = demo();
	struct bh_sup *s = NULL;

	CU_ASSERT_EQUAL_FATAL(bh_sup_new(t, &opts, NULL, &s), 0);
	CU_ASSERT_EQUAL(s->n_svc, 3);
	CU_ASSERT_EQUAL(s->svc[0].dom->role, BH_DOM_VTPM); /* dependency order */
	CU_ASSERT_EQUAL(s->svc[2].dom->role, BH_DOM_NETDOM);
	for (size_t i = 0; i < s->n_guests; i++) {
		struct bh_guest *g = &s->guests[i];

		bh_guest_binds(s, g);
		CU_ASSERT_EQUAL(g->n_binds, 3);
		CU_ASSERT_STRING_EQUAL(g->binds[0].name, "disk0.sock");
		CU_ASSERT_EQUAL(g->bind_role[0], BH_DOM_STORDOM);
		CU_ASSERT_STRING_EQUAL(g->binds[1].name, "tpm.sock");
		CU_ASSERT_STRING_EQUAL(g->binds[2].name, "tpm.sock.ctrl");
		if (bh_streq(g->dom->name, "web")) {
			CU_ASSERT_STRING_EQUAL(g->binds[0].src, "/st/run/stordom/web-data.sock");
			CU_ASSERT_STRING_EQUAL(g->binds[1].src, "/st/vtpm/web/tpm.sock");
		}
	}
	bh_sup_free(s);
	bh_topology_free(t);
}

static void test_status_not_started(void)
{
	struct bh_topology *t = demo();
	struct bh_sup *s = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(bh_sup_new(t, &opts, NULL, &s), 0);
	f = open_memstream(&text, &len);
	bh_sup_status(s, false, f);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nnetdom       netdom   stopped   -"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nweb          guest    stopped"));
	free(text);
	f = open_memstream(&text, &len);
	bh_sup_status(s, true, f);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"name\":\"stordom\",\"role\":\"stordom\",\"state\":\"stopped\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"channel\":\"down\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"volumes\":[{\"name\":\"db-data\",\"owner\":\"db\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"vtpms\":[\"db\",\"web\"]"));
	CU_ASSERT_EQUAL(text[len - 1], '\n');
	free(text);
	bh_sup_free(s);
	bh_topology_free(t);
}

int main(void)
{
	static const struct bh_test tests[] = {
		{ "bh_io_max values", test_io_max },
		{ "gateway of a guest address", test_gateway },
		{ "endpoints bound into each guest", test_binds },
		{ "status before anything started", test_status_not_started },
		{ NULL, NULL },
	};
	static const struct bh_suite suites[] = { { "up", tests }, { NULL, NULL } };

	return bh_test_main(suites);
}
