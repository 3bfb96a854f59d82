/* SPDX-License-Identifier: MIT */
/*
 * The xen platform's translation of our domain config into libxl's
 * (platform-xen.c), checked through the JSON libxl itself generates from
 * the libxl_domain_config it will be given: no hypervisor needed.
 */
#include <string.h>

#include "../bh-test.h"
#include "../../../dom0/dom0.h"

static char *json_of(const struct bh_topology *t, const char *name)
{
	char *json = NULL;

	for (size_t i = 0; i < t->n_domains; i++)
		if (bh_streq(t->domains[i].name, name))
			CU_ASSERT_EQUAL(bh_xen_config_json(t->dir, &t->domains[i], &json), 0);
	CU_ASSERT_PTR_NOT_NULL(json);
	return json;
}

/*
 * Load the one-domain config @text as file @path of @kind, expect no
 * diagnostics, and return the JSON of domain @name (NULL on failure).
 */
static char *load_json(const char *path, enum bh_file_kind kind, const char *text,
		       const char *name)
{
	struct bh_diags d = { 0 };
	struct bh_topology *t = NULL;
	char *json = NULL;

	CU_ASSERT_EQUAL(bh_topology_load_data(path, kind, text, strlen(text), &d, &t), 0);
	CU_ASSERT_EQUAL(d.n, 0);
	if (t && d.n == 0)
		json = json_of(t, name);
	bh_topology_free(t);
	bh_diags_clear(&d);
	return json;
}

/* @json holds @want (libxl writes "key": value, one per line). */
#define HAS(json, want)                                                                    \
	do {                                                                               \
		CU_ASSERT_PTR_NOT_NULL(strstr(json, want));                                \
		if (!strstr(json, want))                                                   \
			fprintf(stderr, "missing %s in:\n%s\n", want, json);               \
	} while (0)

static void test_demo_guest(void)
{
	struct bh_diags d = { 0 };
	struct bh_topology *t = NULL;
	char *j;

	CU_ASSERT_EQUAL_FATAL(bh_topology_load("configs/demo", &d, &t), 0);
	j = json_of(t, "web");
	if (j) {
		HAS(j, "\"name\": \"web\"");
		HAS(j, "\"type\": \"pvh\"");
		HAS(j, "\"max_memkb\": 262144");
		HAS(j, "\"target_memkb\": 262144");
		HAS(j, "\"kernel\": \"/usr/local/lib/bulkhead/images/guest.vmlinuz\"");
		HAS(j, "\"ramdisk\": \"/usr/local/lib/bulkhead/images/guest.initrd\"");
		HAS(j, "\"cmdline\": \"console=hvc0 quiet\"");
		HAS(j, "\"backend_domname\": \"netdom\"");
		HAS(j, "\"mac\": \"00:16:3e:0a:01:0a\"");
		HAS(j, "\"ip\": \"10.10.1.10\"");
		HAS(j, "\"on_crash\": \"preserve\"");
		HAS(j, "\"on_poweroff\": \"preserve\"");
		CU_ASSERT_PTR_NULL(strstr(j, "bh_role"));
	}
	free(j);
	j = json_of(t, "netdom");
	if (j)
		HAS(j, "bh_role=netdom bh_gw=10.10.1.1/24,10.10.2.1/24\"");
	free(j);
	bh_topology_free(t);
	bh_diags_clear(&d);
}

static void test_service_role_and_sched(void)
{
	static const char svc[] = "name = \"stordom\"\nbh_role = \"stordom\"\ntype = \"pv\"\n"
				  "kernel = \"/k\"\nramdisk = \"r.cpio\"\n"
				  "extra = \"console=hvc0\"\nmemory = 192\nvcpus = 2\n"
				  "cpu_weight = 512\ncap = 50\n";
	char *j = load_json("stordom.cfg", BH_FILE_SERVICE, svc, "stordom");

	if (j) {
		HAS(j, "\"type\": \"pv\"");
		HAS(j, "\"max_vcpus\": 2");
		HAS(j, "\"weight\": 512");
		HAS(j, "\"cap\": 50");
		HAS(j, "\"max_memkb\": 196608");
		HAS(j, "\"kernel\": \"/k\"");
		CU_ASSERT_PTR_NOT_NULL(strstr(j, "/r.cpio\""));
		CU_ASSERT_PTR_NULL(strstr(j, "\"ramdisk\": \"r.cpio\""));
		HAS(j, "\"cmdline\": \"console=hvc0 bh_role=stordom\"");
		CU_ASSERT_PTR_NULL(strstr(j, "\"nics\""));
	}
	free(j);
}

static void test_sched_limits(void)
{
	static const char svc[] = "name = \"vtpm\"\nbh_role = \"vtpm\"\ncpu_weight = 0\ncap = 20000\n";
	struct bh_diags d = { 0 };
	struct bh_topology *t = NULL;

	bh_topology_load_data("vtpm.cfg", BH_FILE_SERVICE, svc, strlen(svc), &d, &t);
	CU_ASSERT_EQUAL_FATAL(d.n, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.v[0].msg, "'cpu_weight' = 0 is out of range"));
	CU_ASSERT_PTR_NOT_NULL(strstr(d.v[1].msg, "'cap' = 20000 is out of range"));
	bh_topology_free(t);
	bh_diags_clear(&d);
}

/* PVH under an emulated CPU needs tsc_mode = "native" (nested-xen notes). */
static void test_pvh_tsc_mode(void)
{
	static const char g[] = "name = \"g\"\ntype = \"pvh\"\nkernel = \"/k\"\n"
				"memory = 128\ntsc_mode = \"native\"\n";
	static const char bad[] = "name = \"g\"\ntsc_mode = \"fast\"\n";
	struct bh_diags d = { 0 };
	struct bh_topology *t = NULL;
	char *j = load_json("g.cfg", BH_FILE_GUEST, g, "g");

	if (j) {
		HAS(j, "\"type\": \"pvh\"");
		HAS(j, "\"tsc_mode\": \"native\"");
	}
	free(j);
	bh_topology_load_data("g.cfg", BH_FILE_GUEST, bad, strlen(bad), &d, &t);
	CU_ASSERT_EQUAL_FATAL(d.n, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(d.v[0].msg, "'tsc_mode' must be default, always_emulate, "
						  "native or native_paravirt, not 'fast'"));
	bh_topology_free(t);
	bh_diags_clear(&d);
}

/* A service domain's state disk (xvdb) goes to libxl as xl would attach it. */
static void test_state_disk(void)
{
	static const char svc[] = "name = \"vtpm\"\nbh_role = \"vtpm\"\nkernel = \"/k\"\n"
				  "disk = [ \"format=raw,vdev=xvdb,access=rw,"
				  "target=/srv/bulkhead/vtpm-state.img\" ]\n";
	static const char phy[] = "name = \"stordom\"\nbh_role = \"stordom\"\nkernel = \"/k\"\n"
				  "disk = [ \"backendtype=phy,vdev=xvdb,access=w,"
				  "target=/dev/vg0/stordom-state\" ]\n";
	struct bh_diags d = { 0 };
	struct bh_topology *t = NULL;
	char *j;

	CU_ASSERT_EQUAL_FATAL(bh_topology_load_data("vtpm.cfg", BH_FILE_SERVICE, svc, strlen(svc),
						    &d, &t), 0);
	CU_ASSERT_EQUAL(d.n, 0);
	bh_validate(t, BH_PLATFORM_HOST, &d);
	CU_ASSERT_EQUAL(d.n, 0);
	j = json_of(t, "vtpm");
	if (j) {
		HAS(j, "\"disks\": [");
		HAS(j, "\"pdev_path\": \"/srv/bulkhead/vtpm-state.img\"");
		HAS(j, "\"vdev\": \"xvdb\"");
		HAS(j, "\"format\": \"raw\"");
		HAS(j, "\"readwrite\": 1");
		CU_ASSERT_PTR_NULL(strstr(j, "\"backend\": \"phy\""));
	}
	free(j);
	bh_topology_free(t);
	bh_diags_clear(&d);

	j = load_json("stordom.cfg", BH_FILE_SERVICE, phy, "stordom");
	if (j) {
		HAS(j, "\"pdev_path\": \"/dev/vg0/stordom-state\"");
		HAS(j, "\"backend\": \"phy\"");
		HAS(j, "\"readwrite\": 1");
	}
	free(j);
}

/* A service domain's disk is its one state disk: xvdb, writable. */
static void test_state_disk_checks(void)
{
	static const char *const bad[][2] = {
		{ "disk = [ \"phy:/a,xvdc,w\" ]\n", "state disk is xvdb, not 'xvdc'" },
		{ "disk = [ \"phy:/a,xvdb,r\" ]\n", "must be writable" },
		{ "disk = [ \"phy:/a,xvdb,w\", \"phy:/b,xvdc,w\" ]\n", "has one disk" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bh_diags d = { 0 };
		struct bh_topology *t = NULL;
		char svc[256];

		snprintf(svc, sizeof(svc), "name = \"vtpm\"\nbh_role = \"vtpm\"\n%s", bad[i][0]);
		CU_ASSERT_EQUAL_FATAL(bh_topology_load_data("vtpm.cfg", BH_FILE_SERVICE, svc,
							    strlen(svc), &d, &t), 0);
		bh_validate(t, BH_PLATFORM_HOST, &d);
		CU_ASSERT_EQUAL(d.n, 1);
		if (d.n != 1 || !strstr(d.v[0].msg, bad[i][1]))
			fprintf(stderr, "case %zu: %zu diags, first '%s'\n", i, d.n,
				d.n ? d.v[0].msg : "");
		else
			CU_ASSERT_PTR_NOT_NULL(strstr(d.v[0].msg, bad[i][1]));
		bh_topology_free(t);
		bh_diags_clear(&d);
	}
}

static const struct bh_test xen_tests[] = {
	{ "service state disk as libxl disk", test_state_disk },
	{ "service state disk checks", test_state_disk_checks },
	{ "demo guest as libxl config", test_demo_guest },
	{ "service role on the command line, scheduler", test_service_role_and_sched },
	{ "cpu_weight and cap ranges", test_sched_limits },
	{ "PVH with tsc_mode", test_pvh_tsc_mode },
	{ NULL, NULL },
};

int main(void)
{
	static const struct bh_suite suites[] = {
		{ "platform-xen", xen_tests },
		{ NULL, NULL },
	};

	return bh_test_main(suites);
}
