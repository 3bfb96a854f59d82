/* SPDX-License-Identifier: MIT */
/*
 * vtpmd: a TPM 2.0 per guest (DESIGN.md section 6).
 *
 *   vtpmd --state-dir DIR --key-file FILE --control SOCKET [--no-sandbox] [-v]
 *         serve VTPM_* control messages; instances live in DIR/<name>/ and
 *         guests reach DIR/<name>/tpm.sock (+ .ctrl) and tpm.chan
 *   --control-chan SPEC      also serve the control socket over a channel
 *                            (bulkhead/chanproxy.h: fd:N from dom0 on the
 *                            host platform, xen:DOMID:PATH on Xen)
 *   --instance-chan NAME=SPEC       also serve instance NAME's TPM data socket
 *   --instance-chan NAME.ctrl=SPEC  (DIR/NAME/tpm.sock) or its control socket
 *                            (tpm.sock.ctrl) over a channel, as a raw byte
 *                            stream per peer: on Xen, a guest runs Xen's
 *                            vchan-socket-proxy and tpm2-tools' swtpm TCTI
 *                            (repeatable)
 *   --unseal SOCKET          serve stordom's UNSEAL requests (volume secrets
 *                            sealed in each guest's vTPM) on a unix socket
 *   vtpmd --gen-key FILE     create a new manager key (mode 0600)
 *   vtpmd --zygote ...       internal: the worker spawner vtpmd execs once
 *                            (zygote.c); workers are forked from it
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/chanproxy.h"
#include "bulkhead/log.h"
#include "bulkhead/parse.h"
#include "vtpm.h"

#define INSTANCE_CHANS_MAX 32

/* --instance-chan NAME[.ctrl]=SPEC: one proxy from a channel to an instance socket each. */
struct instance_chan {
	const char *arg;
	struct bh_chanproxy *proxy;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: vtpmd --state-dir DIR --key-file FILE --control SOCKET "
		     "[--control-chan SPEC]\n"
		     "             [--instance-chan NAME[.ctrl]=SPEC]... [--unseal SOCKET]\n"
		     "             [--no-sandbox] [-v]\n"
		     "       vtpmd --gen-key FILE\n"
		     "  --state-dir DIR          one directory per instance (state file, sockets)\n"
		     "  --key-file FILE          the manager key that seals every state file\n"
		     "  --control SOCKET         serve dom0's control messages on a unix socket\n"
		     "  --control-chan SPEC      also over a channel: fd:N (host) or xen:DOMID:PATH\n"
		     "  --instance-chan NAME=SPEC serve instance NAME's tpm.sock (NAME.ctrl: its\n"
		     "                           tpm.sock.ctrl) over channel SPEC\n"
		     "  --unseal SOCKET          serve stordom's UNSEAL of volume secrets sealed in\n"
		     "                           the guests' vTPMs on a unix socket\n"
		     "  --no-sandbox             workers without namespaces and seccomp (debugging)\n"
		     "  --gen-key FILE           write a new random manager key to FILE and exit\n"
		     "  -v, --verbose            debug logging\n"
		     "  -h, --help               this text\n"
		     "See vtpmd(8).\n");
}

/* The sockets need not exist yet: each proxy connects when a peer arrives. */
static int start_instance_chans(const char *dir, struct instance_chan *ic, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const char *eq = strchr(ic[i].arg, '='), *sock = "tpm.sock";
		char name[BH_MSG_NAME_MAX + 5], path[PATH_MAX];
		size_t len = eq ? (size_t)(eq - ic[i].arg) : 0;
		int r;

		if (!eq || len >= sizeof(name))
			return bh_log_errno(LOG_ERR, -EINVAL, "--instance-chan '%s'", ic[i].arg);
		snprintf(name, sizeof(name), "%.*s", (int)len, ic[i].arg);
		if (len > 5 && bh_streq(name + len - 5, ".ctrl")) {
			name[len - 5] = '\0';
			sock = "tpm.sock.ctrl";
		}
		if (bh_check_name(name) < 0 ||
		    snprintf(path, sizeof(path), "%s/%s/%s", dir, name, sock) >= (int)sizeof(path))
			return bh_log_errno(LOG_ERR, -EINVAL, "--instance-chan '%s'", ic[i].arg);
		r = bh_chanproxy_start(eq + 1, path, 0, &ic[i].proxy);
		if (r < 0)
			return bh_log_errno(LOG_ERR, r, "--instance-chan '%s'", ic[i].arg);
	}
	return 0;
}

static void stop_instance_chans(struct instance_chan *ic, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		bh_chanproxy_stop(ic[i].proxy);
}

static int zygote(const char *empty, int level, char **argv, int argc)
{
	/* The argv strings are contiguous: a worker rewrites them as its title. */
	char *area = argv[1], *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;

	bh_log_init("vtpmd[zygote]", BH_LOG_STDERR, level);
	/* No atexit handlers in a sandbox (they may need files): _exit. */
	_exit(vt_zygote_main(bh_streq(empty, "-") ? NULL : empty, area, (size_t)(end - area)));
}

static int manager(struct vt_manager_cfg *cfg, const char *control, const char *control_chan,
		   struct instance_chan *ic, unsigned n_ic)
{
	static char self[PATH_MAX];
	struct vt_manager *m = NULL;
	struct bh_chanproxy *proxy = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int r;

	if (n <= 0)
		return bh_log_errno(LOG_ERR, -errno, "/proc/self/exe"), 1;
	self[n] = 0;
	cfg->self_exe = self;
	if (vt_manager_new(cfg, &m) < 0)
		return 1;
	/* The proxy connects to the control socket only once a peer arrives. */
	if (control_chan && (r = bh_chanproxy_start(control_chan, control, 0, &proxy)) < 0) {
		vt_manager_free(m);
		return bh_log_errno(LOG_ERR, r, "--control-chan '%s'", control_chan), 1;
	}
	r = start_instance_chans(cfg->state_dir, ic, n_ic);
	if (r == 0)
		r = vt_manager_serve(m, control);
	stop_instance_chans(ic, n_ic);
	bh_chanproxy_stop(proxy);
	vt_manager_free(m);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "control", required_argument, NULL, 'c' },
		{ "control-chan", required_argument, NULL, 'X' },
		{ "instance-chan", required_argument, NULL, 'I' },
		{ "gen-key", required_argument, NULL, 'g' },
		{ "unseal", required_argument, NULL, 'u' },
		{ "no-sandbox", no_argument, NULL, 'n' },
		{ "zygote", no_argument, NULL, 'z' },
		{ "title", required_argument, NULL, 't' },
		{ "empty", required_argument, NULL, 'e' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vt_manager_cfg cfg = { .sandbox = true };
	struct instance_chan instance_chans[INSTANCE_CHANS_MAX] = { { 0 } };
	unsigned n_instance_chans = 0;
	const char *control = NULL, *control_chan = NULL, *genkey = NULL, *empty = "-";
	int c, r, level = LOG_NOTICE;
	bool zyg = false;

	while ((c = getopt_long(argc, argv, "d:k:c:g:nzt:e:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': cfg.state_dir = optarg; break;
		case 'k': cfg.key_file = optarg; break;
		case 'c': control = optarg; break;
		case 'X': control_chan = optarg; break;
		case 'I':
			if (n_instance_chans == INSTANCE_CHANS_MAX) {
				fprintf(stderr, "vtpmd: at most %u --instance-chan\n",
					INSTANCE_CHANS_MAX);
				return 2;
			}
			instance_chans[n_instance_chans++].arg = optarg;
			break;
		case 'g': genkey = optarg; break;
		case 'u': cfg.unseal_path = optarg; break;
		case 'n': cfg.sandbox = false; break;
		case 'z': zyg = true; break;
		case 't': break; /* room for the workers' titles */
		case 'e': empty = optarg; break;
		case 'v': level = LOG_DEBUG; break;
		case 'h': return usage(stdout), 0;
		default: return usage(stderr), 2;
		}
	}
	if (optind != argc)
		return usage(stderr), 2;
	if (zyg)
		return zygote(empty, level, argv, argc);
	bh_log_init("vtpmd", BH_LOG_STDERR, level);
	if (genkey) {
		r = vt_key_generate(genkey);
		if (r < 0)
			return bh_log_errno(LOG_ERR, r, "generating %s", genkey), 1;
		return 0;
	}
	if (!cfg.state_dir || !cfg.key_file || !control)
		return usage(stderr), 2;
	return manager(&cfg, control, control_chan, instance_chans, n_instance_chans);
}
