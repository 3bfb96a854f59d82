/* SPDX-License-Identifier: MIT */
/*
 * bulkhead measure [--platform host|xen] [--bank ALG]... [--tpm SOCK [--extend]]
 *                  [--event-log FILE] DIR GUEST
 *
 * Without --extend: the golden values, computed from the config and the files
 * it names. With --extend: the measured boot of GUEST into its vTPM, as the
 * supervisor does before starting it (bh_measure_guest()).
 */
#include <ctype.h>
#include <getopt.h>
#include <limits.h>

#include "bulkhead/log.h"
#include "dom0.h"

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: bulkhead %s [--platform host|xen] [--bank ALG]... [--tpm SOCK [--extend]]\n"
		"                [--event-log FILE] DIR GUEST\n\n"
		"Print the events bulkhead measures into GUEST's vTPM before it starts (its\n"
		"canonical config into PCR 1, kernel and initramfs into PCR 9, command line\n"
		"into PCR 8) and the PCR values they give: the golden values, computed from\n"
		"the configuration and the files it names.\n\n"
		"  --platform host|xen  measure as this platform starts the guest\n"
		"  --bank ALG           sha1, sha256, sha384 or sha512; repeatable (default:\n"
		"                       sha1 and sha256, or the vTPM's active banks with --tpm)\n"
		"  --tpm SOCK           the guest's vTPM: its swtpm data socket\n"
		"  --extend             measure for real: extend the events into the vTPM at\n"
		"                       SOCK (freshly started: PCRs 1, 8, 9 still zero) and\n"
		"                       write the event log\n"
		"  --event-log FILE     the event log (default <bh_state_dir>/eventlog/GUEST.bin);\n"
		"                       without --extend, write the expected log there\n"
		"  --canonical          print the canonical form of GUEST's config and exit\n",
		prog);
}

int bh_cmd_load_guest(const char *dir, enum bh_platform cli, const char *guest,
		      struct bh_topology **ret_t, const struct bh_domain **ret_dom,
		      enum bh_platform *ret_platform)
{
	struct bh_topology *t = NULL;
	const struct bh_domain *dom;
	enum bh_platform platform = BH_PLATFORM_AUTO;
	int r = bh_topology_load_valid(dir, cli, stderr, &t, &platform);

	if (r == -EINVAL)
		bh_err("%s: configuration not valid", dir);
	dom = r == 0 ? bh_topology_domain(t, guest) : NULL;
	if (r == 0 && (!dom || dom->role != BH_DOM_GUEST)) {
		bh_err("%s: no guest named '%s'", dir, guest);
		r = -ENOENT;
	}
	if (r < 0) {
		bh_topology_free(t);
		return r;
	}
	*ret_t = t;
	*ret_dom = dom;
	*ret_platform = platform;
	return 0;
}

static void print_events(const struct bh_eventlog *log, const char *guest)
{
	char desc[256], hex[2 * BH_DIGEST_MAX + 1];

	printf("%s: %zu events\n", guest, log->n);
	for (size_t i = 0; i < log->n; i++) {
		bh_event_describe(log, i, desc, sizeof(desc));
		printf("  %s\n", desc);
		for (size_t k = 0; k < log->v[i].n_digests; k++) {
			bh_hex(log->v[i].digests[k].d, bh_tpm_alg_size(log->v[i].digests[k].alg),
			       hex);
			printf("    %s: %s\n", bh_tpm_alg_name(log->v[i].digests[k].alg), hex);
		}
	}
}

/* The replayed PCRs in tpm2_pcrread's layout, so the two can be compared as text. */
static int print_pcrs(const struct bh_eventlog *log)
{
	_cleanup_free_ struct bh_pcrs *p = calloc(1, sizeof(*p));
	char hex[2 * BH_DIGEST_MAX + 1];
	int r;

	if (!p)
		return -ENOMEM;
	r = bh_eventlog_replay(log, p);
	if (r < 0)
		return r;
	for (size_t b = 0; b < p->n_banks; b++) {
		printf("  %s:\n", bh_tpm_alg_name(p->algs[b]));
		for (unsigned pcr = 0; pcr < BH_PCR_COUNT; pcr++) {
			if (!(BH_PCRS_MEASURED & (1u << pcr)))
				continue;
			bh_hex(p->v[b][pcr], bh_tpm_alg_size(p->algs[b]), hex);
			for (char *c = hex; *c; c++)
				*c = (char)toupper((unsigned char)*c);
			printf("    %u : 0x%s\n", pcr, hex);
		}
	}
	return 0;
}

struct measure_args {
	enum bh_platform platform;
	uint16_t algs[BH_BANKS_MAX];
	size_t n_algs;
	const char *tpm, *log, *dir, *guest;
	bool extend, canonical;
};

static int parse_args(int argc, char **argv, struct measure_args *a)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, 'p' }, { "bank", required_argument, NULL, 'b' },
		{ "tpm", required_argument, NULL, 't' },      { "extend", no_argument, NULL, 'x' },
		{ "event-log", required_argument, NULL, 'l' }, { "canonical", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },           { 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		uint16_t alg;

		switch (c) {
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		case 'p':
			if (!bh_streq(optarg, "host") && !bh_streq(optarg, "xen")) {
				bh_err("--platform must be host or xen, not '%s'", optarg);
				return -EINVAL;
			}
			a->platform = bh_streq(optarg, "xen") ? BH_PLATFORM_XEN : BH_PLATFORM_HOST;
			break;
		case 'b':
			if (bh_tpm_alg_parse(optarg, &alg) < 0 || a->n_algs == BH_BANKS_MAX) {
				bh_err("--bank must be sha1, sha256, sha384 or sha512, not '%s'", optarg);
				return -EINVAL;
			}
			for (size_t i = 0; i < a->n_algs; i++)
				if (a->algs[i] == alg) {
					bh_err("--bank %s given twice", optarg);
					return -EINVAL;
				}
			a->algs[a->n_algs++] = alg;
			break;
		case 't':
			a->tpm = optarg;
			break;
		case 'x':
			a->extend = true;
			break;
		case 'l':
			a->log = optarg;
			break;
		case 'c':
			a->canonical = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (argc - optind != 2)
		return -EINVAL;
	if (a->extend && (!a->tpm || a->n_algs)) {
		bh_err("--extend needs --tpm and takes the vTPM's banks (no --bank)");
		return -EINVAL;
	}
	a->dir = argv[optind];
	a->guest = argv[optind + 1];
	return 0;
}

/* The banks to compute: --bank, else the vTPM's, else SHA-1 and SHA-256. */
static int pick_banks(struct measure_args *a)
{
	struct bh_tpm *tpm = NULL;
	int r;

	if (a->n_algs)
		return 0;
	if (!a->tpm) {
		a->algs[0] = BH_TPM_ALG_SHA1;
		a->algs[1] = BH_TPM_ALG_SHA256;
		a->n_algs = 2;
		return 0;
	}
	r = bh_tpm_open(a->tpm, &tpm);
	if (r == 0)
		r = bh_tpm_startup(tpm);
	if (r == 0)
		r = bh_tpm_banks(tpm, a->algs, &a->n_algs);
	bh_tpm_close(tpm);
	if (r < 0)
		bh_log_errno(LOG_ERR, r, "vTPM %s: cannot read its PCR banks", a->tpm);
	return r;
}

static int golden(const struct measure_args *a, const struct bh_domain *dom,
		  enum bh_platform platform)
{
	struct bh_eventlog *log = NULL;
	char err[512];
	int r = bh_measure_events(dom, platform, a->algs, a->n_algs, &log, err, sizeof(err));

	if (r < 0) {
		bh_err("%s: %s", dom->name, err);
		return r;
	}
	print_events(log, dom->name);
	printf("expected PCRs:\n");
	r = print_pcrs(log);
	if (r == 0 && a->log) {
		r = bh_eventlog_write_file(log, a->log);
		if (r < 0)
			bh_log_errno(LOG_ERR, r, "cannot write %s", a->log);
	}
	bh_eventlog_free(log);
	return r;
}

static int canonical(const struct bh_domain *dom)
{
	_cleanup_free_ char *canon = NULL;
	size_t len;
	int r = bh_config_canonical(dom->cfg, &canon, &len);

	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "%s: canonical config", dom->name);
	fwrite(canon, 1, len, stdout);
	return 0;
}

int bh_cmd_measure(int argc, char **argv)
{
	struct measure_args a = { .platform = BH_PLATFORM_AUTO };
	const struct bh_domain *dom;
	struct bh_topology *t = NULL;
	enum bh_platform platform;
	char err[512], path[PATH_MAX];
	int r = parse_args(argc, argv, &a);

	if (r) {
		if (r < 0)
			usage(stderr, argv[0]);
		return r > 0 ? 0 : 1;
	}
	r = bh_cmd_load_guest(a.dir, a.platform, a.guest, &t, &dom, &platform);
	if (r < 0)
		return 1;
	if (a.canonical) {
		r = canonical(dom);
	} else if (a.extend) {
		if (!a.log)
			a.log = bh_eventlog_path(t, dom->name, path, sizeof(path));
		r = bh_measure_guest(t, dom, platform, a.tpm, a.log, err, sizeof(err));
		if (r < 0)
			bh_err("measure %s: %s", dom->name, err);
		else
			printf("%s: measured into %s; event log %s\n", dom->name, a.tpm, a.log);
	} else {
		r = pick_banks(&a);
		if (r == 0)
			r = golden(&a, dom, platform);
	}
	bh_topology_free(t);
	return r < 0 ? 1 : 0;
}
