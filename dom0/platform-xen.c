/* SPDX-License-Identifier: MIT */
/*
 * The xen platform under the supervisor (struct bh_plat_ops; DESIGN.md
 * section 2): a domain is a PV or PVH domain that libxl builds from our
 * struct bh_domain (kernel, ramdisk, command line, memory, vcpus, credit
 * scheduler weight and cap, vifs whose backend is netdom). The one adapter
 * of libxl and libxenstore in dom0 (chan-xen.c is the other, for channels).
 *
 * A service domain's image (make images) runs its daemon with
 * `--control-chan xen:0:data/bulkhead/ctl`: the daemon advertises the
 * control channel in its own xenstore home, readable by dom0 only, and we
 * connect as its client. The role goes on the command line (bh_role=...).
 *
 * Death: libxl's own actions on shutdown (on_poweroff, on_crash) are carried
 * out by xl's monitor process, which we do not run: every domain here is
 * created with on_crash=preserve and the supervisor acts. Each domain gets a
 * xenstore handle watching @releaseDomain (fired when any domain shuts down
 * or dies); its fd is the domain's exit fd. reap() asks libxl whether this
 * domain is still running; once it is shut down, crashed or gone, it records
 * why and destroys it, and the supervisor restarts it with backoff as its
 * bh_restart says.
 *
 * A guest finds its endpoints in its own xenstore home:
 * data/bulkhead/<endpoint> = "<service domid> <absolute xenstore path>",
 * written by dom0 with read permission for that guest only.
 */
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>

#include <libxl.h>
#include <libxl_utils.h>
#include <xenstore.h>

#include "bulkhead/log.h"
#include "dom0.h"

#define CTL_PATH "data/bulkhead/ctl"
#define ENDPOINT_DIR "data/bulkhead"
#define CONNECT_RETRY_MS 100

struct xen_plat {
	libxl_ctx *ctx;
	xentoollog_logger_stdiostream *lg;
	struct xs_handle *xs;
};

struct xen_dom {
	struct xs_handle *watch; /* @releaseDomain, its fd the domain's exit fd */
};

static struct xen_plat *xp(struct bh_sup *s)
{
	return s->plat_data;
}

static int xl_err(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case ERROR_NOMEM:
		return -ENOMEM;
	case ERROR_INVAL:
		return -EINVAL;
	case ERROR_DOMAIN_NOTFOUND:
		return -ESRCH;
	default:
		return -EIO;
	}
}

static int dup_str(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* "console=hvc0 rdinit=/init bh_role=netdom": the role for the image's /init. */
static int cmdline(const struct bh_domain *dom, char **ret)
{
	const char *base = dom->cmdline ? dom->cmdline : "";
	int n;

	if (dom->role == BH_DOM_GUEST)
		return dup_str(ret, dom->cmdline);
	n = asprintf(ret, "%s%sbh_role=%s", base, base[0] ? " " : "",
		     bh_role_cfg_name(dom->role));
	return n < 0 ? -ENOMEM : 0;
}

static int add_nics(libxl_domain_config *dc, const struct bh_domain *dom)
{
	if (!dom->n_vifs)
		return 0;
	dc->nics = calloc(dom->n_vifs, sizeof(*dc->nics));
	if (!dc->nics)
		return -ENOMEM;
	for (size_t i = 0; i < dom->n_vifs; i++) {
		const struct bh_vif *v = &dom->vifs[i];
		libxl_device_nic *nic = &dc->nics[i];
		char ip[64] = "";
		int r;

		libxl_device_nic_init(nic);
		dc->num_nics++;
		nic->devid = (libxl_devid)i;
		if (v->has_mac)
			memcpy(nic->mac, v->mac, sizeof(nic->mac));
		if (v->n_ips) {
			struct bh_prefix host = v->ips[0];

			host.len = host.family == AF_INET ? 32 : 128;
			bh_prefix_format(&host, ip, sizeof(ip));
		}
		r = dup_str(&nic->backend_domname, v->backend);
		if (r == 0 && ip[0])
			r = dup_str(&nic->ip, ip);
		if (r == 0)
			r = dup_str(&nic->bridge, v->bridge);
		if (r == 0)
			r = dup_str(&nic->ifname, v->vifname);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A kernel or ramdisk path: relative ones are relative to the topology directory. */
static int dup_path(char **dst, const char *dir, const char *path)
{
	if (!path || path[0] == '/' || !dir)
		return dup_str(dst, path);
	return asprintf(dst, "%s/%s", dir, path) < 0 ? -ENOMEM : 0;
}

static int domain_config(const char *dir, const struct bh_domain *dom, libxl_domain_config *dc)
{
	libxl_domain_type type = dom->type && bh_streq(dom->type, "pv") ? LIBXL_DOMAIN_TYPE_PV :
									     LIBXL_DOMAIN_TYPE_PVH;
	libxl_domain_build_info *b = &dc->b_info;
	int r;

	libxl_domain_config_init(dc);
	dc->c_info.type = type;
	r = dup_str(&dc->c_info.name, dom->name);
	if (r < 0)
		return r;
	libxl_domain_build_info_init_type(b, type);
	b->max_vcpus = (int)dom->vcpus;
	/* libxl_bitmap_alloc() without a context would crash: the same by hand
	 * (libxl_bitmap_dispose() frees the map). */
	b->avail_vcpus.size = (dom->vcpus + 7) / 8;
	b->avail_vcpus.map = calloc(1, b->avail_vcpus.size);
	if (!b->avail_vcpus.map)
		return -ENOMEM;
	libxl_bitmap_set_none(&b->avail_vcpus);
	for (unsigned i = 0; i < dom->vcpus; i++)
		libxl_bitmap_set(&b->avail_vcpus, (int)i);
	b->max_memkb = dom->memory_mib * 1024;
	b->target_memkb = b->max_memkb;
	if (dom->cpu_weight)
		b->sched_params.weight = (int)dom->cpu_weight;
	if (dom->cpu_cap)
		b->sched_params.cap = (int)dom->cpu_cap;
	r = dup_path(&b->kernel, dir, dom->kernel);
	if (r == 0)
		r = dup_path(&b->ramdisk, dir, dom->ramdisk);
	if (r == 0)
		r = cmdline(dom, &b->cmdline);
	if (r < 0)
		return r;
	/* No xl monitor runs: the supervisor sees every shutdown and acts. */
	dc->on_poweroff = LIBXL_ACTION_ON_SHUTDOWN_PRESERVE;
	dc->on_reboot = LIBXL_ACTION_ON_SHUTDOWN_PRESERVE;
	dc->on_watchdog = LIBXL_ACTION_ON_SHUTDOWN_PRESERVE;
	dc->on_crash = LIBXL_ACTION_ON_SHUTDOWN_PRESERVE;
	return add_nics(dc, dom);
}

int bh_xen_config_json(const char *dir, const struct bh_domain *dom, char **ret)
{
	libxl_domain_config dc;
	char *json = NULL;
	/* No context (there may be no hypervisor): libxl's JSON generator uses
	 * it only to log a failed allocation. */
	int r = domain_config(dir, dom, &dc);

	if (r == 0) {
		json = libxl_domain_config_to_json(NULL, &dc);
		r = json ? 0 : -ENOMEM;
	}
	libxl_domain_config_dispose(&dc);
	if (r == 0)
		*ret = json;
	return r;
}

static void xen_dom_free(struct bh_pdom *d)
{
	struct xen_dom *x;

	if (!d)
		return;
	x = d->priv;
	if (x && x->watch)
		xs_close(x->watch);
	free(x);
	free(d);
}

/* A handle for domain @domid: name, exit fd (a @releaseDomain watch). */
static int pdom_new(const struct bh_domain *dom, uint32_t domid, struct bh_pdom **ret)
{
	struct bh_pdom *d = calloc(1, sizeof(*d));
	struct xen_dom *x = calloc(1, sizeof(*x));

	if (!d || !x) {
		free(d);
		free(x);
		return -ENOMEM;
	}
	d->priv = x;
	d->id = (int)domid;
	d->limits_ok = true;
	bh_fmt(d->name, sizeof(d->name), "%s", dom->name);
	x->watch = xs_open(0);
	if (!x->watch || !xs_watch(x->watch, "@releaseDomain", "bh")) {
		xen_dom_free(d);
		return -EIO;
	}
	d->exit_fd = xs_fileno(x->watch);
	*ret = d;
	return 0;
}

/* Create, then unpause, domain @dom; its domid in *ret_domid. */
static int create(struct bh_sup *s, const struct bh_domain *dom, uint32_t *ret_domid)
{
	libxl_domain_config dc;
	uint32_t domid = (uint32_t)INVALID_DOMID;
	int r = domain_config(s->t->dir, dom, &dc);

	if (r == 0)
		r = xl_err(libxl_domain_create_new(xp(s)->ctx, &dc, &domid, NULL, NULL));
	if (r == 0)
		r = xl_err(libxl_domain_unpause(xp(s)->ctx, domid, NULL));
	if (r < 0 && domid != (uint32_t)INVALID_DOMID)
		libxl_domain_destroy(xp(s)->ctx, domid, NULL);
	libxl_domain_config_dispose(&dc);
	if (r == 0)
		*ret_domid = domid;
	return r;
}

static int create_pdom(struct bh_sup *s, const struct bh_domain *dom, struct bh_pdom **ret)
{
	uint32_t domid;
	int r = create(s, dom, &domid);

	if (r < 0)
		return r;
	r = pdom_new(dom, domid, ret);
	if (r < 0)
		libxl_domain_destroy(xp(s)->ctx, domid, NULL);
	return r;
}

/* The daemon advertises its control channel once booted: connect as its client. */
static int connect_ctl(struct bh_sup *s, struct bh_svc *svc)
{
	char path[128];
	int r;

	bh_fmt(path, sizeof(path), "/local/domain/%d/%s", svc->hd->id, CTL_PATH);
	for (;;) {
		r = bh_chan_xen_client(svc->hd->id, path, &svc->chan);
		if (r == 0)
			break;
		if (bh_now_ms() >= svc->deadline_ms) {
			bh_fmt(svc->note, sizeof(svc->note),
			       "domain %d did not advertise %s within %u ms", svc->hd->id, path,
			       s->o->timeout_ms);
			return -ETIMEDOUT;
		}
		if (s->plat->reap(s, svc->hd) == 1) {
			char why[96];

			bh_pdom_exit_text(svc->hd, why, sizeof(why));
			bh_fmt(svc->note, sizeof(svc->note), "domain %s before it was ready", why);
			return -ECHILD;
		}
		poll(NULL, 0, CONNECT_RETRY_MS);
	}
	bh_chan_set_blocking(svc->chan, false);
	svc->chan_dead = false;
	return 0;
}

static void xen_stop(struct bh_sup *s, struct bh_pdom *d, unsigned gentle_ms)
{
	(void)gentle_ms; /* its memory goes back to Xen, scrubbed: nothing to save first */
	if (d && d->id > 0)
		libxl_domain_destroy(xp(s)->ctx, (uint32_t)d->id, NULL);
	xen_dom_free(d);
}

static int xen_svc_spawn(struct bh_sup *s, struct bh_svc *svc)
{
	int r = create_pdom(s, svc->dom, &svc->hd);

	if (r < 0) {
		bh_fmt(svc->note, sizeof(svc->note), "libxl cannot create the domain: %s",
		       strerror(-r));
		return r;
	}
	bh_info("%s: domain %d created", svc->dom->name, svc->hd->id);
	r = connect_ctl(s, svc);
	if (r < 0) {
		xen_stop(s, svc->hd, 0);
		svc->hd = NULL;
	}
	return r;
}

/* @value at the guest's data/bulkhead/@name, readable by dom0 and the guest only. */
static int write_endpoint(struct bh_sup *s, int guest, const char *name, const char *value)
{
	struct xs_permissions perms[2] = { { .id = 0, .perms = XS_PERM_NONE },
					   { .id = (unsigned)guest, .perms = XS_PERM_READ } };
	char path[128];

	bh_fmt(path, sizeof(path), "/local/domain/%d/%s/%s", guest, ENDPOINT_DIR, name);
	if (!xs_write(xp(s)->xs, XBT_NULL, path, value, strlen(value)) ||
	    !xs_set_permissions(xp(s)->xs, XBT_NULL, path, perms, 2))
		return -errno ? -errno : -EIO;
	return 0;
}

static const struct bh_svc *svc_of(struct bh_sup *s, enum bh_dom_role role)
{
	for (size_t i = 0; i < s->n_svc; i++)
		if (s->svc[i].dom->role == role)
			return &s->svc[i];
	return NULL;
}

/* "disk0.sock" -> data/bulkhead/disk0 = "<stordom domid> <its path for this guest>" */
static int endpoint(struct bh_sup *s, struct bh_guest *g, size_t b)
{
	const struct bh_svc *svc = svc_of(s, g->bind_role[b]);
	char name[32], value[192], *dot;

	if (!svc || !svc->hd)
		return -ENOTCONN;
	bh_fmt(name, sizeof(name), "%s", g->binds[b].name);
	dot = strstr(name, ".sock");
	if (dot)
		memmove(dot, dot + 5, strlen(dot + 5) + 1);
	for (char *c = name; *c; c++)
		*c = *c == '.' ? '-' : *c;
	bh_fmt(value, sizeof(value), "%d /local/domain/%d/%s/%s-%s", svc->hd->id, svc->hd->id,
	       ENDPOINT_DIR, g->dom->name, name);
	return write_endpoint(s, g->hd->id, name, value);
}

static int xen_rebind(struct bh_sup *s, struct bh_guest *g, size_t b)
{
	return endpoint(s, g, b);
}

static int xen_guest_spawn(struct bh_sup *s, struct bh_guest *g)
{
	int r = create_pdom(s, g->dom, &g->hd);

	for (size_t b = 0; r == 0 && b < g->n_binds; b++) {
		r = endpoint(s, g, b);
		if (r < 0) {
			xen_stop(s, g->hd, 0);
			g->hd = NULL;
		}
	}
	return r;
}

/* Drain the watch; then is the domain still running? */
static int xen_reap(struct bh_sup *s, struct bh_pdom *d)
{
	struct xen_dom *x = d->priv;
	libxl_dominfo info;
	char **ev;
	int r;

	while ((ev = xs_check_watch(x->watch)))
		free(ev);
	if (d->id <= 0)
		return 1;
	libxl_dominfo_init(&info);
	r = libxl_domain_info(xp(s)->ctx, &info, (uint32_t)d->id);
	if (r == 0 && !info.shutdown && !info.dying) {
		libxl_dominfo_dispose(&info);
		return 0;
	}
	d->exit_code = CLD_KILLED;
	d->exit_status = 0;
	if (r != 0)
		d->exit_why = "domain gone (destroyed from outside)";
	else if (info.shutdown_reason == LIBXL_SHUTDOWN_REASON_CRASH)
		d->exit_why = "domain crashed";
	else if (info.shutdown_reason == LIBXL_SHUTDOWN_REASON_POWEROFF)
		d->exit_why = "domain powered off (its daemon exited)";
	else if (info.shutdown_reason == LIBXL_SHUTDOWN_REASON_REBOOT)
		d->exit_why = "domain rebooted";
	else
		d->exit_why = "domain shut down";
	libxl_dominfo_dispose(&info);
	/* Keep nothing of it: the restart builds a new domain. */
	libxl_domain_destroy(xp(s)->ctx, (uint32_t)d->id, NULL);
	d->id = 0;
	return 1;
}

static int xen_guest_tpm(struct bh_sup *s, struct bh_guest *g, char *out, size_t len)
{
	(void)s;
	(void)g;
	(void)out;
	(void)len;
	return -EOPNOTSUPP;
}

static int xen_open(struct bh_sup *s)
{
	struct xen_plat *p = calloc(1, sizeof(*p));
	int r = -EIO;

	if (!p)
		return -ENOMEM;
	p->lg = xtl_createlogger_stdiostream(stderr, XTL_ERROR, 0);
	if (p->lg && libxl_ctx_alloc(&p->ctx, LIBXL_VERSION, 0, (xentoollog_logger *)p->lg) == 0)
		p->xs = xs_open(0);
	if (p->xs) {
		s->plat_data = p;
		return 0;
	}
	bh_log_errno(LOG_ERR, r, "xen platform: cannot open libxl or xenstore");
	if (p->ctx)
		libxl_ctx_free(p->ctx);
	if (p->lg)
		xtl_logger_destroy((xentoollog_logger *)p->lg);
	free(p);
	return r;
}

static void xen_close(struct bh_sup *s)
{
	struct xen_plat *p = s->plat_data;

	if (!p)
		return;
	xs_close(p->xs);
	libxl_ctx_free(p->ctx);
	xtl_logger_destroy((xentoollog_logger *)p->lg);
	free(p);
	s->plat_data = NULL;
}

const struct bh_plat_ops bh_plat_xen = {
	.name = "xen",
	.open = xen_open,
	.close = xen_close,
	.svc_spawn = xen_svc_spawn,
	.guest_spawn = xen_guest_spawn,
	.stop = xen_stop,
	.reap = xen_reap,
	.rebind = xen_rebind,
	.guest_tpm = xen_guest_tpm,
};
