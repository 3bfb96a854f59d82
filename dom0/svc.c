/* SPDX-License-Identifier: MIT */
/*
 * A service domain's life as dom0 sees it: make its control channel (a
 * memfd channel whose server end dom0 keeps; the other end is the daemon's
 * fd 3), start its daemon in a host platform domain, push its part of the
 * configuration (svc-push.c) and call it ready once every item was answered
 * with success; all of it within the start timeout, or a failure whose note
 * names what did not happen. The channel carries the common control
 * messages (msg.h, svc-ctl.c) and nothing else: dom0 never sees guest data.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "dom0.h"

#define ARGS_MAX 14
#define CHAN_RING (256u << 10)

uint64_t bh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int bh_fmt(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const char *bh_svc_state_name(enum bh_svc_state st)
{
	static const char *const names[] = { "stopped", "starting", "running", "backoff",
					     "failed" };

	return st < BH_ARRAY_SIZE(names) ? names[st] : "unknown";
}

struct args {
	char buf[ARGS_MAX][PATH_MAX];
	char *v[ARGS_MAX + 1];
	size_t n;
};

static void arg(struct args *a, const char *fmt, ...) _printf_(2, 3);

static void arg(struct args *a, const char *fmt, ...)
{
	va_list ap;

	if (a->n == ARGS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(a->buf[a->n], PATH_MAX, fmt, ap);
	va_end(ap);
	a->v[a->n] = a->buf[a->n];
	a->v[++a->n] = NULL;
}

static void build_argv(const struct bh_sup *s, const struct bh_domain *dom, struct args *a)
{
	const struct bh_up_opts *o = s->o;
	char ctl[PATH_MAX], dir[PATH_MAX];

	bh_up_ctl_path(o, dom, ctl, sizeof(ctl));
	bh_up_svc_dir(o, dom, dir, sizeof(dir));
	switch (dom->role) {
	case BH_DOM_NETDOM:
		arg(a, "%s/netdomd", o->daemons);
		break;
	case BH_DOM_STORDOM:
		arg(a, "%s/stordomd", o->daemons);
		arg(a, "--listen");
		arg(a, "%s", dir);
		break;
	default:
		arg(a, "%s/vtpmd", o->daemons);
		arg(a, "--state-dir");
		arg(a, "%s/vtpm", o->state);
		arg(a, "--key-file");
		arg(a, "%s/keys/vtpm.key", o->state);
		break;
	}
	/* The daemon still listens on its control socket (in its root-only run
	 * directory); its channel proxy relays our channel, fd 3, to it. */
	arg(a, "--control");
	arg(a, "%s", ctl);
	arg(a, "--control-chan");
	arg(a, "fd:3");
	if (o->verbose)
		arg(a, "-v");
}

static int open_log(const struct bh_sup *s, const struct bh_domain *dom)
{
	char path[PATH_MAX];
	int fd;

	bh_fmt(path, sizeof(path), "%s/%s.log", s->o->logs, dom->name);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

/* What the daemon of @dom sees in its own root, besides the base system. */
struct mnts {
	struct bh_host_mnt v[BH_HOST_MNTS_MAX];
	char buf[BH_HOST_MNTS_MAX][PATH_MAX];
	size_t n;
};

static void mnt(struct mnts *m, bool ro, const char *fmt, ...) _printf_(3, 4);

static void mnt(struct mnts *m, bool ro, const char *fmt, ...)
{
	va_list ap;

	if (m->n == BH_HOST_MNTS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(m->buf[m->n], PATH_MAX, fmt, ap);
	va_end(ap);
	m->v[m->n] = (struct bh_host_mnt){ .path = m->buf[m->n], .readonly = ro };
	m->n++;
}

static void stordom_mnts(const struct bh_sup *s, struct mnts *m)
{
	char backing[PATH_MAX], key[PATH_MAX];

	mnt(m, false, "%s/volumes", s->o->state);
	for (size_t i = 0; i < s->t->n_volumes; i++) {
		const struct bh_volume *v = &s->t->volumes[i];
		char *slash;

		bh_up_volume_paths(s->t, s->o, v, backing, key, sizeof(key));
		mnt(m, true, "%s", key);
		slash = strrchr(backing, '/');
		*slash = '\0';
		if (v->backing) /* its directory: a new volume's file is created there */
			mnt(m, false, "%s", backing[0] ? backing : "/");
	}
}

static void build_mnts(const struct bh_sup *s, const struct bh_domain *dom, struct mnts *m)
{
	char dir[PATH_MAX];

	bh_up_svc_dir(s->o, dom, dir, sizeof(dir));
	mnt(m, true, "%s", s->o->daemons);
	mnt(m, false, "%s", dir);
	if (dom->role == BH_DOM_STORDOM)
		stordom_mnts(s, m);
	if (dom->role == BH_DOM_VTPM) {
		mnt(m, false, "%s/vtpm", s->o->state);
		mnt(m, true, "%s/keys/vtpm.key", s->o->state);
	}
}

/* The control channel: we serve it on one end of a socketpair, the daemon gets the other. */
static int make_chan(struct bh_svc *svc, int *ret_child_end)
{
	int sp[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	r = bh_chan_memfd_server(sp[0], CHAN_RING, CHAN_RING, &svc->chan);
	if (r < 0) {
		close(sp[0]);
		close(sp[1]);
		return r;
	}
	bh_chan_set_blocking(svc->chan, false);
	svc->chan_dead = false;
	*ret_child_end = sp[1];
	return 0;
}

static int spawn(struct bh_sup *s, struct bh_svc *svc)
{
	struct args a = { .n = 0 };
	struct bh_host_opts ho = { .pass_fd = -1 };
	_cleanup_close_ int log_fd = open_log(s, svc->dom), child_end = -1;
	static struct mnts m;
	char ctl[PATH_MAX], root[PATH_MAX];
	int r = make_chan(svc, &child_end);

	if (r < 0)
		return r;
	build_argv(s, svc->dom, &a);
	m.n = 0;
	build_mnts(s, svc->dom, &m);
	bh_up_root_dir(s->o, svc->dom, root, sizeof(root));
	ho.root = root;
	ho.mnts = m.v;
	ho.n_mnts = m.n;
	bh_up_ctl_path(s->o, svc->dom, ctl, sizeof(ctl));
	unlink(ctl); /* nothing of a crashed daemon's may answer for the new one */
	ho.argv = a.v;
	ho.io_path = s->o->state;
	ho.log_fd = log_fd;
	ho.pass_fd = child_end;
	ho.netns_fd = svc->dom->role == BH_DOM_NETDOM ? s->netns_fd : -1;
	/* Our copy of the daemon's end closes here: its death must hang the channel up. */
	return bh_host_spawn(s->t, svc->dom, &ho, &svc->hd);
}

/* "exited with status 1", "killed by signal 9" */
static void exit_text(const struct bh_host_dom *hd, char *out, size_t len)
{
	if (hd->exit_code == CLD_EXITED)
		bh_fmt(out, len, "exited with status %d", hd->exit_status);
	else
		bh_fmt(out, len, "killed by signal %d (%s)", hd->exit_status,
			 strsignal(hd->exit_status));
}

/* Why the exchange with the daemon failed, when the daemon is the reason. */
static void why_failed(struct bh_sup *s, struct bh_svc *svc, int r)
{
	char why[96];

	if (bh_host_reap(svc->hd) == 1) {
		exit_text(svc->hd, why, sizeof(why));
		bh_fmt(svc->note, sizeof(svc->note), "daemon %s before it was ready", why);
	} else if (r == -ETIMEDOUT && bh_chan_is_open(svc->chan) == 2) {
		bh_fmt(svc->note, sizeof(svc->note),
		       "its control channel was not attached within %u ms", s->o->timeout_ms);
	} else if (r == -ETIMEDOUT && !strstr(svc->note, "timed out")) {
		size_t n = strlen(svc->note);

		bh_fmt(svc->note + n, sizeof(svc->note) - n, "%sno answer within %u ms",
		       n ? ": " : "", s->o->timeout_ms);
	}
}

static int push(struct bh_sup *s, struct bh_svc *svc)
{
	switch (svc->dom->role) {
	case BH_DOM_NETDOM:
		return bh_push_netdom(s, svc);
	case BH_DOM_STORDOM:
		return bh_push_stordom(s, svc);
	default:
		return bh_push_vtpm(s, svc);
	}
}

/* netdom's namespace outlives netdomd: its vifs and rules stay (fail closed). */
static int hold_netns(struct bh_sup *s, struct bh_svc *svc)
{
	char path[64];

	if (svc->dom->role != BH_DOM_NETDOM || s->netns_fd >= 0)
		return 0;
	bh_fmt(path, sizeof(path), "/proc/%d/ns/net", svc->hd->pid);
	s->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	return s->netns_fd < 0 ? -errno : 0;
}

int bh_svc_start(struct bh_sup *s, struct bh_svc *svc)
{
	uint64_t deadline = bh_now_ms() + s->o->timeout_ms;
	int r;

	svc->note[0] = '\0';
	svc->drops = 0;
	svc->state = BH_SVC_STARTING;
	svc->started_ms = bh_now_ms();
	svc->n_items = 0;
	r = spawn(s, svc);
	if (r < 0) {
		bh_fmt(svc->note, sizeof(svc->note), "cannot start: %s", strerror(-r));
		goto fail;
	}
	svc->deadline_ms = deadline;
	r = hold_netns(s, svc);
	if (r == 0)
		r = push(s, svc);
	if (r < 0) {
		why_failed(s, svc, r);
		goto fail;
	}
	svc->state = BH_SVC_RUNNING;
	svc->ready_ms = bh_now_ms();
	return 0;
fail:
	if (!svc->note[0])
		bh_fmt(svc->note, sizeof(svc->note), "%s", strerror(-r));
	bh_svc_stop(s, svc);
	return r;
}

void bh_svc_stop(struct bh_sup *s, struct bh_svc *svc)
{
	char ctl[PATH_MAX];

	bh_chan_close(svc->chan);
	svc->chan = NULL;
	if (svc->hd) {
		/* SIGTERM first: stordomd wipes its keys, vtpmd stores its TPMs. netdomd
		 * has nothing to save (the kernel keeps its rules) and, as pid 1 of its
		 * namespace without a handler, would not even see it. */
		if (svc->dom->role == BH_DOM_NETDOM)
			bh_host_stop(svc->hd);
		else
			bh_host_stop_gently(svc->hd, 3000);
		bh_host_dom_free(svc->hd);
		svc->hd = NULL;
	}
	bh_up_ctl_path(s->o, svc->dom, ctl, sizeof(ctl));
	unlink(ctl);
	svc->state = BH_SVC_STOPPED;
}

