/* SPDX-License-Identifier: MIT */
/*
 * bulkhead attest [--platform host|xen] (--tpm SOCK | --quote-from QDIR [--nonce HEX])
 *                 [--event-log FILE] [--golden FILE] [--save-quote QDIR] DIR GUEST
 *
 * Attest GUEST (attest.c): exit 0 and "pass", or 1 and "FAIL" with the
 * reason, naming the first event that differs from the golden values.
 */
#include <ctype.h>
#include <getopt.h>

#include "bulkhead/log.h"
#include "dom0.h"

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: bulkhead %s [--platform host|xen] [--tpm SOCK] [--event-log FILE]\n"
		"                [--golden FILE] [--save-quote QDIR] DIR GUEST\n"
		"       bulkhead %s [--platform host|xen] --quote-from QDIR [--nonce HEX]\n"
		"                [--event-log FILE] [--golden FILE] DIR GUEST\n\n"
		"Attest GUEST: its vTPM quotes PCRs 1, 8 and 9 with a fresh nonce, signed by\n"
		"its attestation key; the quote is verified here (signature, nonce, PCR\n"
		"digest against the replayed event log), then the event log is compared\n"
		"with the golden values computed from the configuration. Prints \"pass\" and\n"
		"exits 0, or \"FAIL\" with the first difference and exits 1.\n\n"
		"  --platform host|xen  the platform the guest was measured for\n"
		"  --tpm SOCK           the guest's vTPM: its swtpm data socket (default, for\n"
		"                       a topology that is up: <bh_state_dir>/vtpm/GUEST/tpm.sock)\n"
		"  --event-log FILE     the guest's event log (default\n"
		"                       <bh_state_dir>/eventlog/GUEST.bin)\n"
		"  --golden FILE        compare with this expected event log (bulkhead measure\n"
		"                       --event-log FILE, written when the files were trusted)\n"
		"                       instead of golden values computed from the files now\n"
		"  --save-quote QDIR    keep the AK (ak.pub, ak.pem), quote (quote.msg,\n"
		"                       quote.sig) and nonce in QDIR, as tpm2_checkquote reads them\n"
		"  --quote-from QDIR    verify the quote saved in QDIR instead of asking the vTPM\n"
		"  --nonce HEX          the nonce that quote must carry (default: a fresh one,\n"
		"                       which no saved quote can)\n",
		prog, prog);
}

static int parse_hex(const char *s, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t n = strlen(s);

	if (n == 0 || n % 2 || n / 2 > cap)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	*ret_len = n / 2;
	return 0;
}

int bh_cmd_attest(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, 'p' },
		{ "tpm", required_argument, NULL, 't' },
		{ "event-log", required_argument, NULL, 'l' },
		{ "save-quote", required_argument, NULL, 's' },
		{ "quote-from", required_argument, NULL, 'q' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "golden", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bh_attest_opts o = { 0 };
	enum bh_platform cli = BH_PLATFORM_AUTO, platform;
	uint8_t nonce[BH_NONCE_MAX];
	const struct bh_domain *dom;
	struct bh_topology *t = NULL;
	char why[1024] = "", tpm_default[PATH_MAX];
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		case 'p':
			if (!bh_streq(optarg, "host") && !bh_streq(optarg, "xen")) {
				bh_err("--platform must be host or xen, not '%s'", optarg);
				return 1;
			}
			cli = bh_streq(optarg, "xen") ? BH_PLATFORM_XEN : BH_PLATFORM_HOST;
			break;
		case 't':
			o.tpm_sock = optarg;
			break;
		case 'l':
			o.log_path = optarg;
			break;
		case 's':
			o.save_dir = optarg;
			break;
		case 'q':
			o.quote_from = optarg;
			break;
		case 'g':
			o.golden_path = optarg;
			break;
		case 'n':
			if (parse_hex(optarg, nonce, sizeof(nonce), &o.nonce_len) < 0) {
				bh_err("--nonce must be 1 to %d bytes in hex, not '%s'", BH_NONCE_MAX,
				       optarg);
				return 1;
			}
			o.nonce = nonce;
			break;
		default:
			usage(stderr, argv[0]);
			return 1;
		}
	}
	if (argc - optind != 2 || (o.tpm_sock && o.quote_from) || (o.nonce && !o.quote_from)) {
		if (argc - optind == 2)
			bh_err("give --tpm or --quote-from, not both; --nonce goes with --quote-from");
		usage(stderr, argv[0]);
		return 1;
	}
	if (bh_cmd_load_guest(argv[optind], cli, argv[optind + 1], &t, &dom, &platform) < 0)
		return 1;
	/* Neither: the guest's vTPM in a topology brought up with its default state directory. */
	if (!o.tpm_sock && !o.quote_from) {
		bh_fmt(tpm_default, sizeof(tpm_default), "%s/vtpm/%s/tpm.sock",
		       t->state_dir ? t->state_dir : BH_STATE_DEFAULT, dom->name);
		o.tpm_sock = tpm_default;
	}
	r = bh_attest_guest(t, dom, platform, &o, why, sizeof(why));
	if (r == 0)
		printf("attest %s: pass: %s\n", dom->name, why);
	else if (r == -EPERM)
		printf("attest %s: FAIL: %s\n", dom->name, why);
	else
		bh_err("attest %s: cannot attest: %s", dom->name, *why ? why : strerror(-r));
	bh_topology_free(t);
	return r == 0 ? 0 : 1;
}
