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
 * written by dom0 with read permission for that guest only; the service
 * serves each over a channel granted to that guest alone (CHAN_SERVE, sent
 * while the new guest is still paused). dom0 reaches a guest's vTPM (to
 * measure it before it runs) the same way, through Xen's vchan-socket-proxy.
 */
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <libxl.h>
#include <libxl_utils.h>
#include <xenstore.h>

#include "bulkhead/log.h"
#include "dom0.h"

#define CTL_PATH "data/bulkhead/ctl"
#define ENDPOINT_DIR "data/bulkhead"
#define CONNECT_RETRY_MS 100

#define TPM_PROXIES_MAX 16

struct xen_plat {
	libxl_ctx *ctx;
	xentoollog_logger_stdiostream *lg;
	struct xs_handle *xs;
	/* dom0's own way to a guest's vTPM (measured boot, attest): Xen's
	 * vchan-socket-proxy per socket, data and control, by guest name */
	struct {
		char guest[BH_MSG_NAME_MAX];
		pid_t pid[2];
	} tpm[TPM_PROXIES_MAX];
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

/*
 * "console=hvc0 rdinit=/init bh_role=netdom bh_gw=10.81.1.1/24,...": the
 * role for the image's /init, and netdom's gateway addresses for its vif
 * hotplug (images/init-service.sh).
 */
static int cmdline(const struct bh_domain *dom, char **ret)
{
	const char *base = dom->cmdline ? dom->cmdline : "";
	char gw[512] = "";
	size_t used = 0;
	int n;

	if (dom->role == BH_DOM_GUEST)
		return dup_str(ret, dom->cmdline);
	for (size_t i = 0; i < dom->n_gateways && used + 64 < sizeof(gw); i++) {
		char p[64];

		bh_prefix_format(&dom->gateways[i], p, sizeof(p));
		if (!strchr(p, '/')) /* a single host prints without its length */
			bh_fmt(p + strlen(p), sizeof(p) - strlen(p), "/%u", dom->gateways[i].len);
		used += (size_t)snprintf(gw + used, sizeof(gw) - used, "%s%s", i ? "," : " bh_gw=", p);
	}
	n = asprintf(ret, "%s%sbh_role=%s%s", base, base[0] ? " " : "",
		     bh_role_cfg_name(dom->role), gw);
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

/* A kernel, ramdisk or disk path: relative ones are relative to the topology directory. */
static int dup_path(char **dst, const char *dir, const char *path)
{
	if (!path || path[0] == '/' || !dir)
		return dup_str(dst, path);
	return asprintf(dst, "%s/%s", dir, path) < 0 ? -ENOMEM : 0;
}

/*
 * The domain's disks as xl would attach them (parsed by libxlutil in
 * cfg.c): for a service domain its state disk, xvdb, which the image's
 * /init mounts on /var/lib/bulkhead. The backend is dom0's (blkback, with
 * the hotplug script libxl runs: a file target gets a loop device).
 */
static int add_disks(const char *dir, libxl_domain_config *dc, const struct bh_domain *dom)
{
	if (!dom->n_disks)
		return 0;
	dc->disks = calloc(dom->n_disks, sizeof(*dc->disks));
	if (!dc->disks)
		return -ENOMEM;
	for (size_t i = 0; i < dom->n_disks; i++) {
		const struct bh_disk *k = &dom->disks[i];
		libxl_device_disk *disk = &dc->disks[i];
		int r;

		libxl_device_disk_init(disk);
		dc->num_disks++;
		if (libxl_disk_format_from_string(k->format, &disk->format) ||
		    libxl_disk_backend_from_string(k->backend, &disk->backend))
			return -EINVAL;
		disk->readwrite = !k->readonly;
		r = dup_str(&disk->vdev, k->vdev);
		if (r == 0 && k->target[0])
			r = dup_path(&disk->pdev_path, dir, k->target);
		if (r == 0)
			r = dup_str(&disk->script, k->script);
		if (r < 0)
			return r;
	}
	return 0;
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
	/* Checked against xl's names when the config was loaded. */
	if (dom->tsc_mode && libxl_tsc_mode_from_string(dom->tsc_mode, &b->tsc_mode) < 0)
		return -EINVAL;
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
	r = add_nics(dc, dom);
	return r < 0 ? r : add_disks(dir, dc, dom);
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

/* Create domain @dom (left paused: the caller unpauses); its domid in *ret_domid. */
static int create(struct bh_sup *s, const struct bh_domain *dom, uint32_t *ret_domid)
{
	libxl_domain_config dc;
	uint32_t domid = (uint32_t)INVALID_DOMID;
	int r = domain_config(s->t->dir, dom, &dc);

	if (r == 0)
		r = xl_err(libxl_domain_create_new(xp(s)->ctx, &dc, &domid, NULL, NULL));
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

static int unpause(struct bh_sup *s, struct bh_pdom *d)
{
	return xl_err(libxl_domain_unpause(xp(s)->ctx, (uint32_t)d->id, NULL));
}

/* Drop @x's pending watch events: whoever polled its fd looks for itself. */
static void drain(struct xen_dom *x)
{
	char **ev;

	while ((ev = xs_check_watch(x->watch)))
		free(ev);
}

static bool advertised(struct bh_sup *s, const char *ring_ref)
{
	unsigned len;
	char *v = xs_read(xp(s)->xs, XBT_NULL, ring_ref, &len);

	free(v);
	return v != NULL;
}

/*
 * The daemon advertises its control channel once booted: wait for its
 * ring-ref in a xenstore watch (no polling: under emulation every
 * attempt would take CPU from the booting domain), then connect as its
 * client. A domain that ends meanwhile fails at once.
 */
static int wait_ctl(struct bh_sup *s, struct bh_svc *svc, const char *path)
{
	struct xen_dom *x = svc->hd->priv;
	char ring_ref[160];
	int r = -ETIMEDOUT;

	bh_fmt(ring_ref, sizeof(ring_ref), "%s/ring-ref", path);
	if (!xs_watch(x->watch, ring_ref, "ctl"))
		return -EIO;
	for (;;) {
		uint64_t now = bh_now_ms();
		struct pollfd p = { .fd = svc->hd->exit_fd, .events = POLLIN };

		if (advertised(s, ring_ref)) {
			r = 0;
			break;
		}
		if (s->plat->reap(s, svc->hd) == 1) {
			r = -ECHILD;
			break;
		}
		if (now >= svc->deadline_ms)
			break;
		/* A bounded wait: a change between the read and the poll is seen next time. */
		poll(&p, 1, (int)(svc->deadline_ms - now < 1000 ? svc->deadline_ms - now : 1000));
		drain(x);
	}
	xs_unwatch(x->watch, ring_ref, "ctl");
	drain(x);
	return r;
}

static int connect_ctl(struct bh_sup *s, struct bh_svc *svc)
{
	char path[128], why[96];
	int r;

	bh_fmt(path, sizeof(path), "/local/domain/%d/%s", svc->hd->id, CTL_PATH);
	for (;;) {
		r = wait_ctl(s, svc, path);
		if (r == 0)
			r = bh_chan_xen_client(svc->hd->id, path, &svc->chan);
		if (r == 0)
			break;
		if (r == -ECHILD) {
			bh_pdom_exit_text(svc->hd, why, sizeof(why));
			bh_fmt(svc->note, sizeof(svc->note), "%s before it was ready", why);
			return r;
		}
		if (bh_now_ms() >= svc->deadline_ms) {
			bh_fmt(svc->note, sizeof(svc->note),
			       "domain %d did not advertise %s within %u ms", svc->hd->id, path,
			       s->o->timeout_ms);
			return -ETIMEDOUT;
		}
		/* Advertised but not yet connectable (a session ending): try again. */
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

	if (r == 0 && (r = unpause(s, svc->hd)) < 0) {
		xen_stop(s, svc->hd, 0);
		svc->hd = NULL;
	}

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

/*
 * Guest endpoint @b ("disk0.sock", "tpm.sock", "tpm.sock.ctrl"): its service
 * serves it over a channel for this guest alone (CHAN_SERVE), advertised at
 * data/bulkhead/<guest>-<endpoint> in the service's home; the guest finds
 * "<service domid> <that path>" at data/bulkhead/<endpoint> in its own.
 */
static int endpoint(struct bh_sup *s, struct bh_guest *g, size_t b)
{
	const struct bh_svc *svc = svc_of(s, g->bind_role[b]);
	struct bh_msg_chan_serve m = { .domid = (uint32_t)g->hd->id };
	char ep[32], value[192], *dot;
	const char *src = strrchr(g->binds[b].src, '/');
	int r;

	if (!svc || !svc->hd)
		return -ENOTCONN;
	bh_fmt(ep, sizeof(ep), "%s", g->binds[b].name);
	dot = strstr(ep, ".sock");
	if (dot)
		memmove(dot, dot + 5, strlen(dot + 5) + 1);
	for (char *c = ep; *c; c++)
		*c = *c == '.' ? '-' : *c;
	if (svc->dom->role == BH_DOM_STORDOM) {
		/* <run>/<stordom>/<volume>.sock: the export is the volume */
		bh_fmt(m.name, sizeof(m.name), "%s", src ? src + 1 : "");
		dot = strstr(m.name, ".sock");
		if (dot)
			*dot = '\0';
	} else {
		bh_fmt(m.name, sizeof(m.name), "%s", g->dom->name);
		m.kind = strstr(g->binds[b].name, ".ctrl") ? BH_CHAN_SERVE_CTRL : BH_CHAN_SERVE_DATA;
	}
	bh_fmt(m.xs_path, sizeof(m.xs_path), "%s/%s-%s", ENDPOINT_DIR, g->dom->name, ep);
	r = bh_svc_chan_serve(s, (struct bh_svc *)svc, &m);
	if (r < 0) {
		bh_fmt(g->note, sizeof(g->note), "%s: %s cannot serve it: %s", ep, svc->dom->name,
		       strerror(-r));
		return r;
	}
	bh_fmt(value, sizeof(value), "%d /local/domain/%d/%s", svc->hd->id, svc->hd->id,
	       m.xs_path);
	return write_endpoint(s, g->hd->id, ep, value);
}

/* Does the topology have a sealed volume (which stordom unseals from vtpm)? */
static bool any_sealed(const struct bh_topology *t)
{
	for (size_t i = 0; i < t->n_volumes; i++)
		if (t->volumes[i].sealed)
			return true;
	return false;
}

static struct bh_svc *svc_live(struct bh_sup *s, enum bh_dom_role role)
{
	for (size_t i = 0; i < s->n_svc; i++) {
		struct bh_svc *svc = &s->svc[i];

		if (svc->dom->role == role && svc->hd && svc->chan &&
		    (svc->state == BH_SVC_RUNNING || svc->state == BH_SVC_STARTING))
			return svc;
	}
	return NULL;
}

/*
 * stordom <-> vtpm, for sealed volumes (DESIGN.md section 4: UNSEAL between
 * the two service domains, never through dom0): vtpm serves its UNSEAL
 * socket over a channel granted to stordom's domain alone, advertised at
 * data/bulkhead/unseal-<stordom> in vtpm's home; stordomd's --unseal socket
 * becomes a client of that channel. Both ends are named by domid, so this
 * runs whenever either domain is (re)created, before stordom opens sealed
 * volumes. dom0 sends only the two CHAN_SERVE messages: no secret passes.
 */
static int xen_svc_wire(struct bh_sup *s, struct bh_svc *svc)
{
	struct bh_svc *vt = svc_live(s, BH_DOM_VTPM), *sd = svc_live(s, BH_DOM_STORDOM);
	struct bh_msg_chan_serve m = { .kind = BH_CHAN_SERVE_UNSEAL };
	int r;

	if (!any_sealed(s->t) || !vt || !sd || (svc != vt && svc != sd))
		return 0; /* nothing to unseal, or the other end comes later */
	m.domid = (uint32_t)sd->hd->id;
	bh_fmt(m.name, sizeof(m.name), "%s", sd->dom->name);
	bh_fmt(m.xs_path, sizeof(m.xs_path), "%s/unseal-%s", ENDPOINT_DIR, sd->dom->name);
	r = bh_svc_chan_serve(s, vt, &m);
	if (r == 0) {
		m.kind = BH_CHAN_SERVE_UNSEAL_PEER;
		m.domid = (uint32_t)vt->hd->id;
		bh_fmt(m.name, sizeof(m.name), "%s", vt->dom->name);
		r = bh_svc_chan_serve(s, sd, &m);
	}
	bh_sup_audit(s, "unseal-wire", svc->dom->name, r < 0 ? "failed" : "ok",
		     "%s (domain %d) reaches %s's UNSEAL socket (domain %d)%s%s", sd->dom->name,
		     sd->hd->id, vt->dom->name, vt->hd->id, r < 0 ? ": " : "",
		     r < 0 ? strerror(-r) : "");
	if (r < 0)
		bh_log_errno(LOG_WARNING, r, "sealed volumes: cannot wire %s to %s's UNSEAL socket",
			     sd->dom->name, vt->dom->name);
	return r;
}

static int xen_rebind(struct bh_sup *s, struct bh_guest *g, size_t b)
{
	return endpoint(s, g, b);
}

/* Created paused: its endpoints are in place before it runs. */
static int xen_guest_spawn(struct bh_sup *s, struct bh_guest *g)
{
	int r = create_pdom(s, g->dom, &g->hd);

	for (size_t b = 0; r == 0 && b < g->n_binds; b++)
		r = endpoint(s, g, b);
	if (r == 0)
		r = unpause(s, g->hd);
	if (r < 0 && g->hd) {
		xen_stop(s, g->hd, 0);
		g->hd = NULL;
	}
	return r;
}

/* Drain the watch; then is the domain still running? */
static int xen_reap(struct bh_sup *s, struct bh_pdom *d)
{
	libxl_dominfo info;
	int r;

	drain(d->priv);
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

/* Xen's vchan-socket-proxy (client mode): @sock, each connection a channel session. */
static pid_t spawn_proxy(int domid, const char *xs_path, const char *sock)
{
	char id[16];
	pid_t pid;

	bh_fmt(id, sizeof(id), "%d", domid);
	unlink(sock);
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		/* The supervisor blocks its signals for its signalfd: not the proxy's. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execlp("vchan-socket-proxy", "vchan-socket-proxy", id, xs_path, sock, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void stop_proxies(pid_t pid[2])
{
	for (int i = 0; i < 2; i++)
		if (pid[i] > 0) {
			kill(pid[i], SIGKILL);
			waitpid(pid[i], NULL, 0);
			pid[i] = 0;
		}
}

static int wait_socket(struct bh_sup *s, const char *path)
{
	uint64_t end = bh_now_ms() + s->o->timeout_ms;
	struct stat st;

	while (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		if (bh_now_ms() >= end)
			return -ETIMEDOUT;
		poll(NULL, 0, 50);
	}
	return 0;
}

/*
 * dom0's way to guest @g's vTPM, for measured boot and attestation: vtpmd
 * serves the instance's data and control sockets over two channels for
 * dom0 (CHAN_SERVE, at data/bulkhead/dom0-<guest>-tpm[-ctrl]), and Xen's
 * vchan-socket-proxy makes them unix sockets at <run>/<guest>-tpm.sock[.ctrl]
 * (replaced when called again: vtpm or the guest restarted).
 */
static int xen_guest_tpm(struct bh_sup *s, struct bh_guest *g, char *out, size_t len)
{
	static const char *const sfx[2] = { "", ".ctrl" }, *const xsfx[2] = { "", "-ctrl" };
	const struct bh_svc *svc = svc_of(s, BH_DOM_VTPM);
	size_t slot = TPM_PROXIES_MAX;
	char sock[PATH_MAX], abs_path[256];
	int r = 0;

	if (!svc || !svc->hd)
		return -ENOTCONN;
	for (size_t i = 0; i < TPM_PROXIES_MAX; i++)
		if (bh_streq(xp(s)->tpm[i].guest, g->dom->name) ||
		    (!xp(s)->tpm[i].guest[0] && slot == TPM_PROXIES_MAX))
			slot = i;
	if (slot == TPM_PROXIES_MAX)
		return -ENOSPC;
	stop_proxies(xp(s)->tpm[slot].pid);
	bh_fmt(xp(s)->tpm[slot].guest, sizeof(xp(s)->tpm[slot].guest), "%s", g->dom->name);
	for (int k = 0; r == 0 && k < 2; k++) {
		struct bh_msg_chan_serve m = { .kind = k ? BH_CHAN_SERVE_CTRL : BH_CHAN_SERVE_DATA,
					       .domid = 0 };

		bh_fmt(m.name, sizeof(m.name), "%s", g->dom->name);
		bh_fmt(m.xs_path, sizeof(m.xs_path), "%s/dom0-%s-tpm%s", ENDPOINT_DIR, g->dom->name,
		       xsfx[k]);
		r = bh_svc_chan_serve(s, (struct bh_svc *)svc, &m);
		bh_fmt(abs_path, sizeof(abs_path), "/local/domain/%d/%s", svc->hd->id, m.xs_path);
		bh_fmt(sock, sizeof(sock), "%s/%s-tpm.sock%s", s->o->run, g->dom->name, sfx[k]);
		if (r == 0) {
			xp(s)->tpm[slot].pid[k] = spawn_proxy(svc->hd->id, abs_path, sock);
			r = xp(s)->tpm[slot].pid[k] < 0 ? -errno : wait_socket(s, sock);
		}
	}
	if (r < 0)
		return r;
	return bh_fmt(out, len, "%s/%s-tpm.sock", s->o->run, g->dom->name);
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
	for (size_t i = 0; i < TPM_PROXIES_MAX; i++)
		stop_proxies(p->tpm[i].pid);
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
	.svc_wire = xen_svc_wire,
};
