/* SPDX-License-Identifier: MIT */
/*
 * The host platform under the supervisor (struct bh_plat_ops): a service
 * domain is its daemon in a sandboxed process tree (platform-host.c) whose
 * fd 3 is the server end of a memfd control channel made here; a guest is
 * /bin/sh -c bh_host_cmd in one, joined to netdom's network namespace by its
 * vifs, its endpoints bound into its private /run/bulkhead; a domain's exit
 * fd is its pidfd. netdom's namespace is held here across netdomd restarts.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "bulkhead/log.h"
#include "dom0.h"

#define ARGS_MAX 14
#define CHAN_RING (256u << 10)

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
	char ctl[PATH_MAX], dir[PATH_MAX], unseal[PATH_MAX];

	bh_up_unseal_path(o, unseal, sizeof(unseal));
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
		/* Sealed volumes' secrets come from vtpm, never through us. */
		arg(a, "--unseal");
		arg(a, "%s", unseal);
		break;
	default:
		arg(a, "%s/vtpmd", o->daemons);
		arg(a, "--state-dir");
		arg(a, "%s/vtpm", o->state);
		arg(a, "--key-file");
		arg(a, "%s/keys/vtpm.key", o->state);
		arg(a, "--unseal");
		arg(a, "%s", unseal);
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
		if (!v->sealed) /* a sealed volume has no key file */
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
	/* vtpmd's unseal socket: the channel between vtpm and stordom (a directory,
	 * so a restarted vtpmd's new socket shows through). */
	if (dom->role == BH_DOM_STORDOM || dom->role == BH_DOM_VTPM)
		mnt(m, false, "%s/unseal", s->o->run);
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

/* netdom's namespace outlives netdomd: its vifs and rules stay (fail closed). */
static int hold_netns(struct bh_sup *s, struct bh_svc *svc)
{
	char path[64];

	if (svc->dom->role != BH_DOM_NETDOM || s->netns_fd >= 0)
		return 0;
	bh_fmt(path, sizeof(path), "/proc/%d/ns/net", svc->hd->id);
	s->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	return s->netns_fd < 0 ? -errno : 0;
}

static int host_svc_spawn(struct bh_sup *s, struct bh_svc *svc)
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
	r = bh_host_spawn(s->t, svc->dom, &ho, &svc->hd);
	if (r == 0)
		r = hold_netns(s, svc);
	return r;
}


static int host_guest_spawn(struct bh_sup *s, struct bh_guest *g)
{
	char ns[64];
	struct bh_host_opts ho = { .pass_fd = -1, .log_fd = -1, .netns_fd = -1 };

	bh_fmt(ns, sizeof(ns), "/proc/self/fd/%d", s->netns_fd);
	ho.netdom_netns = s->netns_fd >= 0 ? ns : NULL;
	ho.io_path = s->o->state;
	ho.binds = g->binds;
	ho.n_binds = g->n_binds;
	return bh_host_spawn(s->t, g->dom, &ho, &g->hd);
}

/* The tree, and a guest's vifs at once: a namespace kept alive by anything
 * else (or only slow to go) would keep them, and a restart needs the names. */
static void host_stop(struct bh_sup *s, struct bh_pdom *d, unsigned gentle_ms)
{
	if (gentle_ms)
		bh_host_stop_gently(d, gentle_ms);
	else
		bh_host_stop(d);
	for (size_t i = 0; s->netns_fd >= 0 && i < d->n_vifs; i++)
		bh_net_link_del(s->netns_fd, d->vifs[i]);
	bh_host_dom_free(d);
}

static int host_reap(struct bh_sup *s, struct bh_pdom *d)
{
	(void)s;
	return bh_host_reap(d);
}

static int host_rebind(struct bh_sup *s, struct bh_guest *g, size_t b)
{
	(void)s;
	return bh_mount_rebind(g->hd->exit_fd, &g->binds[b]);
}

static int host_guest_tpm(struct bh_sup *s, struct bh_guest *g, char *out, size_t len)
{
	return bh_fmt(out, len, "%s/vtpm/%s/tpm.sock", s->o->state, g->dom->name);
}

static int host_open(struct bh_sup *s)
{
	s->netns_fd = -1;
	return 0;
}

static void host_close(struct bh_sup *s)
{
	if (s->netns_fd >= 0)
		close(s->netns_fd);
	s->netns_fd = -1;
}

const struct bh_plat_ops bh_plat_host = {
	.name = "host",
	.open = host_open,
	.close = host_close,
	.svc_spawn = host_svc_spawn,
	.guest_spawn = host_guest_spawn,
	.stop = host_stop,
	.reap = host_reap,
	.rebind = host_rebind,
	.guest_tpm = host_guest_tpm,
};
