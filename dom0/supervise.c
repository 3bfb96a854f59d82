/* SPDX-License-Identifier: MIT */
/*
 * The supervisor of a running topology (DESIGN.md section 6, dom0): start
 * the service domains in dependency order (vtpm, stordom, netdom: a guest's
 * disk key will come from its vTPM, and netdom's namespace is what the
 * guests plug into), then the guests; then one poll loop watching every
 * domain's exit fd (pidfd, xenstore watch), netdom's control connection (drop events), the pending
 * restarts and the management socket.
 *
 * A service domain that dies is restarted after an exponential backoff (100
 * ms doubling to 30 s; back to 100 ms once it has run for 30 s), as its
 * bh_restart allows; its configuration is pushed again and the guests'
 * endpoints it serves are re-bound to its new sockets. Guests keep running
 * throughout: netdom's network namespace is held here, so its vifs and its
 * nftables rules outlive netdomd (fail closed) and the new netdomd joins
 * them. Every crash, restart and re-wiring goes to the audit log.
 */
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "bulkhead/log.h"
#include "dom0.h"

#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 30000u
#define STABLE_MS 30000u

void bh_sup_audit(struct bh_sup *s, const char *action, const char *target, const char *result,
		  const char *fmt, ...)
{
	struct bh_audit_actor me = { (uint32_t)getuid(), (int32_t)getpid() };
	char detail[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	bh_info("%s %s: %s %s", action, target, result, detail);
	if (!s->audit)
		return;
	r = bh_audit_append(s->audit, &me, action, target, result, detail);
	if (r < 0)
		bh_log_errno(LOG_ERR, r, "audit log: %s %s", action, target);
}

static const enum bh_dom_role start_order[BH_SVC_MAX] = { BH_DOM_VTPM, BH_DOM_STORDOM,
							  BH_DOM_NETDOM };

int bh_sup_new(const struct bh_topology *t, const struct bh_up_opts *o, struct bh_audit *audit,
	       struct bh_sup **ret)
{
	struct bh_sup *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	*s = (struct bh_sup){ .t = t, .o = o, .audit = audit, .netns_fd = -1,
			      .next_generation = 1,
			      .plat = o->platform == BH_PLATFORM_XEN ? &bh_plat_xen : &bh_plat_host };
	for (size_t i = 0; i < BH_SVC_MAX; i++) {
		const struct bh_domain *d = bh_topology_service(t, start_order[i]);

		if (d)
			s->svc[s->n_svc++] = (struct bh_svc){ .dom = d,
							      .backoff_ms = BACKOFF_MIN_MS };
	}
	s->guests = calloc(t->n_domains, sizeof(*s->guests));
	if (!s->guests) {
		free(s);
		return -ENOMEM;
	}
	r = s->plat->open(s);
	if (r < 0) {
		free(s->guests);
		free(s);
		return r;
	}
	for (size_t i = 0; i < t->n_domains; i++)
		if (t->domains[i].role == BH_DOM_GUEST)
			s->guests[s->n_guests++].dom = &t->domains[i];
	*ret = s;
	return 0;
}

void bh_sup_free(struct bh_sup *s)
{
	if (!s)
		return;
	bh_sup_down(s);
	free(s->guests);
	free(s);
}

int bh_sup_up(struct bh_sup *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < s->n_svc; i++) {
		struct bh_svc *svc = &s->svc[i];
		int r = bh_svc_start(s, svc);

		bh_sup_audit(s, "start", svc->dom->name, r < 0 ? "failed" : "ok", "%s",
			     r < 0 ? svc->note : "ready");
		if (r < 0) {
			snprintf(err, errlen, "service domain %s did not become ready: %s",
				 svc->dom->name, svc->note);
			bh_sup_down(s);
			return r;
		}
	}
	for (size_t i = 0; i < s->n_guests; i++) {
		struct bh_guest *g = &s->guests[i];
		int r = bh_guest_start(s, g);

		bh_sup_audit(s, "start", g->dom->name, r < 0 ? "failed" : "ok", "%s",
			     r < 0 ? g->note : "running");
		if (r < 0) {
			snprintf(err, errlen, "guest %s: %s", g->dom->name, g->note);
			bh_sup_down(s);
			return r;
		}
	}
	return 0;
}

static void guest_stop(struct bh_sup *s, struct bh_guest *g)
{
	if (!g->hd)
		return;
	s->plat->stop(s, g->hd, 0);
	g->hd = NULL;
}

void bh_sup_down(struct bh_sup *s)
{
	if (s->stopped)
		return;
	for (size_t i = 0; i < s->n_guests; i++)
		if (s->guests[i].hd) {
			guest_stop(s, &s->guests[i]);
			bh_sup_audit(s, "stop", s->guests[i].dom->name, "ok", "guest stopped");
		}
	for (size_t i = s->n_svc; i-- > 0;)
		if (s->svc[i].hd) {
			bh_svc_stop(s, &s->svc[i]);
			bh_sup_audit(s, "stop", s->svc[i].dom->name, "ok", "service stopped");
		}
	s->plat->close(s);
	s->stopped = true;
}

/* ------------------------------------------------------------------------
 * Crashes and restarts.
 */
static bool may_restart(const struct bh_svc *svc)
{
	const struct bh_pdom *hd = svc->hd;

	switch (svc->dom->restart) {
	case BH_RESTART_NEVER:
		return false;
	case BH_RESTART_ON_FAILURE:
		return !(hd->exit_code == CLD_EXITED && hd->exit_status == 0 && !hd->exit_why);
	default:
		return true;
	}
}

static void svc_exited(struct bh_sup *s, struct bh_svc *svc)
{
	uint64_t now = bh_now_ms();
	bool again;

	if (s->plat->reap(s, svc->hd) != 1)
		return;
	bh_pdom_exit_text(svc->hd, svc->note, sizeof(svc->note));
	again = may_restart(svc);
	if (now - svc->ready_ms >= STABLE_MS)
		svc->backoff_ms = BACKOFF_MIN_MS;
	bh_svc_stop(s, svc);
	svc->crashed_ms = now;
	svc->state = again ? BH_SVC_BACKOFF : BH_SVC_FAILED;
	svc->restart_at_ms = now + svc->backoff_ms;
	bh_sup_audit(s, "crash", svc->dom->name, "failed", "%s; %s", svc->note,
		     again ? "restarting" : "bh_restart forbids a restart");
}

static void svc_restart(struct bh_sup *s, struct bh_svc *svc)
{
	int r = bh_svc_start(s, svc);

	if (r < 0) {
		svc->backoff_ms = svc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
									  svc->backoff_ms * 2;
		svc->state = BH_SVC_BACKOFF;
		svc->restart_at_ms = bh_now_ms() + svc->backoff_ms;
		bh_sup_audit(s, "restart", svc->dom->name, "failed", "%s; next try in %u ms",
			     svc->note, svc->backoff_ms);
		return;
	}
	svc->restarts++;
	bh_sup_audit(s, "restart", svc->dom->name, "ok",
		     "serving again %llu ms after it went down (restart %u)",
		     (unsigned long long)(svc->ready_ms - svc->crashed_ms), svc->restarts);
	svc->backoff_ms = svc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
								  svc->backoff_ms * 2;
	bh_guest_rewire(s, svc);
}

static void guest_exited(struct bh_sup *s, struct bh_guest *g)
{
	if (s->plat->reap(s, g->hd) != 1)
		return;
	bh_pdom_exit_text(g->hd, g->note, sizeof(g->note));
	guest_stop(s, g);
	bh_sup_audit(s, "exit", g->dom->name, "failed", "guest %s", g->note);
}

int bh_sup_restart(struct bh_sup *s, const char *name, char *detail, size_t dlen)
{
	for (size_t i = 0; i < s->n_svc; i++) {
		struct bh_svc *svc = &s->svc[i];

		if (!bh_streq(svc->dom->name, name))
			continue;
		bh_svc_stop(s, svc);
		svc->crashed_ms = bh_now_ms();
		svc_restart(s, svc);
		snprintf(detail, dlen, "%s", svc->state == BH_SVC_RUNNING ? "restarted" : svc->note);
		return svc->state == BH_SVC_RUNNING ? 0 : -EIO;
	}
	for (size_t i = 0; i < s->n_guests; i++) {
		struct bh_guest *g = &s->guests[i];
		int r;

		if (!bh_streq(g->dom->name, name))
			continue;
		guest_stop(s, g);
		r = bh_guest_start(s, g);
		g->restarts += r == 0;
		snprintf(detail, dlen, "%s", r < 0 ? g->note : "restarted");
		return r;
	}
	snprintf(detail, dlen, "no such domain");
	return -ENOENT;
}

/* ------------------------------------------------------------------------
 * The loop.
 */
enum { P_MGMT, P_SIG, P_FIXED_ };

struct pollset {
	struct pollfd p[P_FIXED_ + 2 * BH_SVC_MAX + 256];
	void *who[P_FIXED_ + 2 * BH_SVC_MAX + 256];
	char kind[P_FIXED_ + 2 * BH_SVC_MAX + 256]; /* 'p' svc exit fd, 'c' svc ctl, 'g' guest */
	nfds_t n;
};

static void ps_add(struct pollset *ps, int fd, char kind, void *who)
{
	if (ps->n == BH_ARRAY_SIZE(ps->p))
		return;
	ps->p[ps->n] = (struct pollfd){ .fd = fd, .events = POLLIN };
	ps->kind[ps->n] = kind;
	ps->who[ps->n++] = who;
}

/* Every fd to watch; returns the poll timeout (ms) to the next restart. */
static int ps_build(struct bh_sup *s, struct pollset *ps, int lfd, int sigfd)
{
	uint64_t now = bh_now_ms(), next = UINT64_MAX;

	ps->n = 0;
	ps_add(ps, lfd, 'm', NULL);
	ps_add(ps, sigfd, 's', NULL);
	for (size_t i = 0; i < s->n_svc; i++) {
		struct bh_svc *svc = &s->svc[i];

		if (svc->hd)
			ps_add(ps, svc->hd->exit_fd, 'p', svc);
		if (svc->chan && !svc->chan_dead)
			ps_add(ps, bh_chan_fd(svc->chan), 'c', svc);
		if (svc->state == BH_SVC_BACKOFF && svc->restart_at_ms < next)
			next = svc->restart_at_ms;
	}
	for (size_t i = 0; i < s->n_guests; i++)
		if (s->guests[i].hd)
			ps_add(ps, s->guests[i].hd->exit_fd, 'g', &s->guests[i]);
	return next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now);
}

static void ps_handle(struct bh_sup *s, struct pollset *ps)
{
	for (nfds_t i = P_FIXED_; i < ps->n; i++) {
		struct bh_svc *svc = ps->who[i];

		if (!ps->p[i].revents)
			continue;
		if (ps->kind[i] == 'g')
			guest_exited(s, ps->who[i]);
		else if (ps->kind[i] == 'p' && svc->hd && svc->hd->exit_fd == ps->p[i].fd)
			svc_exited(s, svc);
		else if (ps->kind[i] == 'c' && svc->chan && bh_chan_fd(svc->chan) == ps->p[i].fd &&
			 bh_ctl_drain(s, svc) < 0)
			bh_debug("%s: control connection ended", svc->dom->name);
	}
}

static void restarts_due(struct bh_sup *s)
{
	for (size_t i = 0; i < s->n_svc; i++)
		if (s->svc[i].state == BH_SVC_BACKOFF && s->svc[i].restart_at_ms <= bh_now_ms())
			svc_restart(s, &s->svc[i]);
}

static void serve_one(struct bh_mgmt *m, int lfd)
{
	int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	int r;

	if (cfd < 0)
		return;
	r = bh_mgmt_handle(m, cfd);
	if (r < 0)
		bh_debug("management request: %s", strerror(-r));
	close(cfd);
}

int bh_sup_run(struct bh_sup *s, struct bh_mgmt *m, int lfd, int sigfd)
{
	static struct pollset ps;

	while (!m->stop) {
		int timeout = ps_build(s, &ps, lfd, sigfd);
		int r = poll(ps.p, ps.n, timeout);

		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && ps.p[P_SIG].revents) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				bh_sup_audit(s, "down", "topology", "ok", "signal %u", si.ssi_signo);
			break;
		}
		if (r > 0)
			ps_handle(s, &ps);
		restarts_due(s);
		if (r > 0 && ps.p[P_MGMT].revents)
			serve_one(m, lfd);
	}
	bh_sup_down(s);
	return 0;
}
