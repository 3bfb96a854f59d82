/* SPDX-License-Identifier: MIT */
/*
 * bulkhead up [options] DIR: validate a topology, start its service domains
 * in dependency order and wait for each to be ready, start its guests, then
 * supervise them and serve the management socket (supervise.c). By default
 * the supervisor goes to the background once everything is up, and `up`
 * exits 0; or 1 with the reason (naming the domain) when anything failed,
 * having stopped what it had started.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "bulkhead/parse.h"
#include "dom0.h"

#define TIMEOUT_DEFAULT_S 20

struct up_args {
	const char *state, *sock, *daemons;
	unsigned timeout_s;
	bool foreground, verbose;
};

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: bulkhead %s [options] DIR\n\n"
		"Validate the topology DIR, start its service domains (vtpm, stordom, netdom)\n"
		"in dependency order, push each its part of the configuration and wait until\n"
		"it is ready, then start the guests. A supervisor then restarts crashed service\n"
		"domains (with backoff, re-wiring their guests) and serves the management\n"
		"socket (bulkhead status, down, restart, logs). It goes to the background once\n"
		"everything is up; `bulkhead down` stops it all.\n\n"
		"  --state-dir DIR   volumes, keys, vTPM state, logs (default: bh_state_dir,\n"
		"                    else %s)\n"
		"  --socket PATH     management socket (default: <state dir>/%s)\n"
		"  --daemons DIR     where netdomd, stordomd and vtpmd are (default: next to\n"
		"                    bulkhead, else ../libexec/bulkhead from it)\n"
		"  --timeout SECS    per service domain, start to ready (default %d)\n"
		"  --foreground      stay in the foreground (logs on stderr)\n"
		"  --verbose         daemons log at debug level\n"
		"  --platform P      host or xen (default: bh_platform, else xen when\n"
		"                    /dev/xen/privcmd exists, else host)\n\n"
		"Exit status: 0 when every domain is up; 1 on a configuration error, a domain\n"
		"that did not become ready in time, or any other failure (nothing is left running).\n",
		prog, BH_STATE_DEFAULT, BH_MGMT_SOCKET_NAME, TIMEOUT_DEFAULT_S);
}

/* Pull our options out of argv, leaving --platform and DIR for bh_cmd_load_valid. */
static int take_opts(int *argc, char **argv, struct up_args *a)
{
	for (int i = 1; i < *argc;) {
		const char *o = argv[i];
		bool val = bh_streq(o, "--state-dir") || bh_streq(o, "--socket") ||
			   bh_streq(o, "--daemons") || bh_streq(o, "--timeout");
		int take = val ? 2 : bh_streq(o, "--foreground") || bh_streq(o, "--verbose") ? 1 : 0;

		if (!take) {
			i++;
			continue;
		}
		if (val && i + 1 >= *argc)
			return bh_log_errno(LOG_ERR, -EINVAL, "%s needs a value", o);
		if (bh_streq(o, "--state-dir"))
			a->state = argv[i + 1];
		else if (bh_streq(o, "--socket"))
			a->sock = argv[i + 1];
		else if (bh_streq(o, "--daemons"))
			a->daemons = argv[i + 1];
		else if (bh_streq(o, "--timeout") && bh_parse_u32(argv[i + 1], 1, 3600, &a->timeout_s) < 0)
			return bh_log_errno(LOG_ERR, -EINVAL, "--timeout: bad value '%s' (1..3600)",
					    argv[i + 1]);
		a->foreground |= bh_streq(o, "--foreground");
		a->verbose |= bh_streq(o, "--verbose");
		memmove(&argv[i], &argv[i + take], sizeof(*argv) * (size_t)(*argc - i - take));
		*argc -= take;
	}
	return 0;
}

/* netdomd, stordomd and vtpmd next to us (the build tree), else ../libexec/bulkhead. */
static int find_daemons(const char *given, char *out, size_t len)
{
	static const char *const names[] = { "netdomd", "stordomd", "vtpmd" };
	char self[PATH_MAX], path[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (given) {
		bh_fmt(out, len, "%s", given);
	} else {
		if (n <= 0)
			return -errno;
		self[n] = '\0';
		slash = strrchr(self, '/');
		*slash = '\0';
		bh_fmt(out, len, "%s", self);
		bh_fmt(path, sizeof(path), "%s/netdomd", out);
		if (access(path, X_OK) < 0 &&
		    (size_t)bh_fmt(out, len, "%s/../libexec/bulkhead", self) >= len)
			return -ENAMETOOLONG;
	}
	for (size_t i = 0; i < BH_ARRAY_SIZE(names); i++) {
		bh_fmt(path, sizeof(path), "%s/%s", out, names[i]);
		if (access(path, X_OK) < 0)
			return bh_log_errno(LOG_ERR, -errno, "service daemon %s", path);
	}
	return 0;
}

static int make_opts(const struct bh_topology *t, const struct up_args *a,
		     struct bh_up_opts *o)
{
	const char *state = a->state ? a->state : t->state_dir ? t->state_dir : BH_STATE_DEFAULT;

	if (state[0] != '/')
		return bh_log_errno(LOG_ERR, -EINVAL, "--state-dir must be absolute: '%s'", state);
	bh_fmt(o->state, sizeof(o->state), "%s", state);
	bh_fmt(o->run, sizeof(o->run), "%s/run", state);
	bh_fmt(o->logs, sizeof(o->logs), "%s/log", state);
	bh_fmt(o->mgmt, sizeof(o->mgmt), "%s", a->sock ? a->sock : "");
	if (!a->sock)
		bh_fmt(o->mgmt, sizeof(o->mgmt), "%s/%s", state, BH_MGMT_SOCKET_NAME);
	o->timeout_ms = (a->timeout_s ? a->timeout_s : TIMEOUT_DEFAULT_S) * 1000;
	o->verbose = a->verbose;
	/* On Xen the daemons are in the service domains' images, not here. */
	if (o->platform == BH_PLATFORM_XEN)
		return 0;
	return find_daemons(a->daemons, o->daemons, sizeof(o->daemons));
}

static int already_up(const char *sock)
{
	_cleanup_close_ int fd = bh_unix_connect(sock, SOCK_SEQPACKET);

	if (fd < 0)
		return 0;
	bh_err("already up: the management socket %s answers (bulkhead down --socket %s)", sock,
	       sock);
	return -EALREADY;
}

/* Remove <run>/<service>/ with what a killed daemon left in it, then <run>. */
static void remove_run(const struct bh_topology *t, const struct bh_up_opts *o)
{
	char dir[PATH_MAX], path[PATH_MAX + 80];

	for (size_t i = 0; i < t->n_domains; i++) {
		if (t->domains[i].role == BH_DOM_GUEST)
			continue;
		bh_up_svc_dir(o, &t->domains[i], dir, sizeof(dir));
		bh_fmt(path, sizeof(path), "%s/ctl.sock", dir);
		unlink(path);
		for (size_t v = 0; v < t->n_volumes; v++) {
			bh_fmt(path, sizeof(path), "%s/%s.sock", dir, t->volumes[v].name);
			unlink(path);
		}
		rmdir(dir);
		bh_up_root_dir(o, &t->domains[i], dir, sizeof(dir));
		rmdir(dir);
	}
	bh_up_unseal_path(o, path, sizeof(path));
	unlink(path);
	bh_fmt(dir, sizeof(dir), "%s/unseal", o->run);
	rmdir(dir);
	rmdir(o->run);
}

static int signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/* Everything up, then supervise; @ready_fd hears "ok" or the error. */
static int run(const struct bh_topology *t, const struct bh_up_opts *o, struct bh_mgmt *m,
	       int ready_fd)
{
	struct bh_sup *s = NULL;
	_cleanup_close_ int lfd = -1, sigfd = signal_fd();
	char err[512] = "";
	int r = bh_sup_new(t, o, m->audit, &s);

	if (r == 0)
		r = bh_mgmt_listen(o->mgmt, &lfd);
	if (r < 0)
		bh_fmt(err, sizeof(err), "management socket %.300s: %s", o->mgmt, strerror(-r));
	else
		r = bh_sup_up(s, err, sizeof(err));
	if (r < 0) {
		if (ready_fd >= 0)
			bh_write_full(ready_fd, err, strlen(err));
		bh_err("%s", err);
	} else {
		bh_sup_audit(s, "up", t->dir, "ok", "%zu service domains, %zu guests", s->n_svc,
			     s->n_guests);
		if (ready_fd >= 0)
			bh_write_full(ready_fd, "ok", 2);
		if (ready_fd >= 0)
			close(ready_fd);
		m->sup = s;
		r = bh_sup_run(s, m, lfd, sigfd);
		bh_sup_audit(s, "down", t->dir, "ok", "every domain stopped");
	}
	if (lfd >= 0)
		unlink(o->mgmt);
	bh_sup_free(s);
	remove_run(t, o);
	return r;
}

/* The background supervisor: own session, output to <logs>/bulkhead.log. */
static void detach(const struct bh_up_opts *o)
{
	char path[PATH_MAX + 16];
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC), log;

	bh_fmt(path, sizeof(path), "%s/bulkhead.log", o->logs);
	log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	setsid();
	if (null >= 0)
		dup2(null, 0);
	if (log >= 0) {
		dup2(log, 1);
		dup2(log, 2);
	}
}

/* Wait for the background supervisor's word: 0 when up, else print why. */
static int parent_wait(int fd, const struct bh_up_opts *o, const struct bh_topology *t)
{
	char msg[600] = "";
	ssize_t n = read(fd, msg, sizeof(msg) - 1);

	if (n == 2 && !memcmp(msg, "ok", 2)) {
		const char *sock = bh_streq(o->mgmt, BH_MGMT_DEFAULT_SOCKET) ? "" : o->mgmt;
		const char *opt = sock[0] ? " --socket " : "";

		printf("bulkhead: %s is up (state in %s); `bulkhead status%s%s` shows it, "
		       "`bulkhead down%s%s` stops it\n", t->dir, o->state, opt, sock, opt, sock);
		return 0;
	}
	if (n > 0)
		bh_err("up: %s", msg);
	else
		bh_err("up: the supervisor ended before it was ready; see %s/bulkhead.log", o->logs);
	return -EIO;
}

static int up(const struct bh_topology *t, const struct bh_up_opts *o, bool foreground)
{
	struct bh_audit_opts ao = { .syslog = t->syslog, .syslog_path = t->syslog_socket };
	char abuf[PATH_MAX];
	struct bh_mgmt m = { .t = t, .audit_path = bh_audit_path(t, abuf, sizeof(abuf)) };
	int p[2], r = bh_up_state_prepare(t, o);
	pid_t pid;

	if (r == 0 && (r = bh_audit_open(m.audit_path, &ao, &m.audit)) < 0)
		bh_log_errno(LOG_ERR, r, "cannot open the audit log %s", m.audit_path);
	if (r < 0)
		return r;
	signal(SIGPIPE, SIG_IGN);
	if (foreground) {
		r = run(t, o, &m, -1);
	} else if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		r = -errno;
	} else if (pid == 0) {
		close(p[0]);
		detach(o);
		r = run(t, o, &m, p[1]);
		bh_audit_close(m.audit);
		_exit(r < 0 ? 1 : 0);
	} else {
		close(p[1]);
		r = parent_wait(p[0], o, t);
		close(p[0]);
	}
	bh_audit_close(m.audit);
	return r;
}

int bh_cmd_up(int argc, char **argv)
{
	struct up_args a = { 0 };
	struct bh_up_opts o = { 0 };
	enum bh_platform platform;
	struct bh_topology *t;
	int status, r;

	if (take_opts(&argc, argv, &a) < 0) {
		usage(stderr, argv[0]);
		return 1;
	}
	if (!bh_cmd_load_valid(argc, argv, usage, &platform, &t, &status))
		return status;
	r = 0;
	if (geteuid() != 0)
		r = -EPERM, bh_err("up: needs root (host: namespaces, cgroups, veth pairs; xen: libxl)");
	o.platform = platform;
	if (r == 0)
		r = make_opts(t, &a, &o);
	if (r == 0)
		r = already_up(o.mgmt);
	if (r == 0)
		r = up(t, &o, a.foreground);
	bh_topology_free(t);
	return r < 0 ? 1 : 0;
}
