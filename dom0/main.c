/* SPDX-License-Identifier: MIT */
/*
 * bulkhead: the dom0 control tool. One table of subcommands, one file each
 * (cmd-*.c), in the manner of wireguard-tools' wg.c.
 */
#include <stdio.h>
#include <string.h>

#include "bulkhead/log.h"
#include "dom0.h"

#ifndef BH_VERSION
#define BH_VERSION "0.1.0"
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *description;
} subcommands[] = {
	{ "validate", bh_cmd_validate, "Check a topology directory and report every error" },
	{ "show", bh_cmd_show, "Print a topology as a tree of domains, channels and policy" },
	{ "policy-export", bh_cmd_policy_export,
	  "Write a topology's network policy as the messages netdomd reads" },
	{ "logs", bh_cmd_logs, "Print the audit log, or verify its hash chain (--verify)" },
	{ "up", bh_cmd_up, "Start a topology's domains, supervise them, serve its management socket" },
	{ "serve", bh_cmd_serve, "Serve a topology's management socket in the foreground" },
	{ "status", bh_cmd_status, "Ask the management server for the state of every domain" },
	{ "down", bh_cmd_down, "Stop every domain of a running topology (via its management socket)" },
	{ "restart", bh_cmd_restart, "Ask the management server to restart a domain" },
	{ "reseal", bh_cmd_reseal,
	  "Seal a guest's volume secrets to its measurements now, unlocking them (admin)" },
	{ "measure", bh_cmd_measure, "Print a guest's golden PCR values, or measure it into its vTPM" },
	{ "attest", bh_cmd_attest, "Verify a guest's vTPM quote and event log against its config" },
};

static void show_usage(FILE *out, const char *prog)
{
	fprintf(out, "Usage: %s <cmd> [<args>]\n\n", prog);
	fprintf(out, "Available subcommands:\n");
	for (size_t i = 0; i < BH_ARRAY_SIZE(subcommands); i++)
		fprintf(out, "  %-14s %s\n", subcommands[i].name, subcommands[i].description);
	fprintf(out, "\nOptions: --help, --version. '%s <cmd> --help' describes a subcommand.\n",
		prog);
}

int main(int argc, char **argv)
{
	const char *prog = argc > 0 ? argv[0] : "bulkhead";

	bh_log_init("bulkhead", BH_LOG_STDERR, LOG_INFO);
	if (argc < 2) {
		show_usage(stderr, prog);
		return 1;
	}
	if (bh_streq(argv[1], "--help") || bh_streq(argv[1], "-h") || bh_streq(argv[1], "help")) {
		show_usage(stdout, prog);
		return 0;
	}
	if (bh_streq(argv[1], "--version") || bh_streq(argv[1], "version")) {
		printf("bulkhead %s\n", BH_VERSION);
		return 0;
	}
	for (size_t i = 0; i < BH_ARRAY_SIZE(subcommands); i++)
		if (bh_streq(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	bh_err("invalid subcommand '%s'", argv[1]);
	show_usage(stderr, prog);
	return 1;
}
