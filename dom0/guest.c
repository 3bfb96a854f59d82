/* SPDX-License-Identifier: MIT */
/*
 * Guests of a running topology: what each finds in its endpoint directory
 * (disk<i>.sock per volume it owns, tpm.sock and tpm.sock.ctrl for its
 * vTPM), measuring and starting it (the platform's guest_spawn), and
 * re-binding its endpoints when the service behind them restarted. A guest keeps running
 * through any service restart; its clients reconnect to the same path.
 */
#include <limits.h>

#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "dom0.h"

static void add_bind(struct bh_guest *g, enum bh_dom_role role, const char *name,
		     const char *fmt, ...) _printf_(4, 5);

static void add_bind(struct bh_guest *g, enum bh_dom_role role, const char *name,
		     const char *fmt, ...)
{
	struct bh_host_bind *b;
	va_list ap;

	if (g->n_binds == BH_HOST_BINDS_MAX)
		return;
	b = &g->binds[g->n_binds];
	g->bind_role[g->n_binds++] = role;
	bh_fmt(b->name, sizeof(b->name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(b->src, sizeof(b->src), fmt, ap);
	va_end(ap);
}

void bh_guest_binds(struct bh_sup *s, struct bh_guest *g)
{
	const struct bh_domain *sd = bh_topology_service(s->t, BH_DOM_STORDOM);
	unsigned disk = 0;

	g->n_binds = 0;
	for (size_t i = 0; sd && i < s->t->n_volumes; i++) {
		const struct bh_volume *v = &s->t->volumes[i];
		char name[32];

		if (!v->owner || !bh_streq(v->owner, g->dom->name))
			continue;
		bh_fmt(name, sizeof(name), "disk%u.sock", disk++);
		if (bh_seal_locked(s, g, v))
			continue; /* vtpm would not unseal it: the guest gets no volume */
		add_bind(g, BH_DOM_STORDOM, name, "%s/%s/%s.sock", s->o->run, sd->name, v->name);
	}
	if (g->dom->vtpm && bh_topology_service(s->t, BH_DOM_VTPM)) {
		add_bind(g, BH_DOM_VTPM, "tpm.sock", "%s/vtpm/%s/tpm.sock", s->o->state,
			 g->dom->name);
		add_bind(g, BH_DOM_VTPM, "tpm.sock.ctrl", "%s/vtpm/%s/tpm.sock.ctrl", s->o->state,
			 g->dom->name);
	}
}

/*
 * Measured boot (bh_measure): the guest's executable, command line and
 * canonical config go into its freshly reset vTPM, with the event log in
 * STATE/eventlog/, before it runs. A guest whose measurement fails does not
 * start. Returns 0 (also when there is nothing to measure) or -errno.
 */
static int guest_measure(struct bh_sup *s, struct bh_guest *g)
{
	char tpm[PATH_MAX], log[PATH_MAX], why[200] = "", err[256] = "";
	int r;

	if (!g->dom->measure || !g->dom->vtpm || !bh_topology_service(s->t, BH_DOM_VTPM))
		return 0;
	bh_fmt(log, sizeof(log), "%s/eventlog/%s.bin", s->o->state, g->dom->name);
	r = s->plat->guest_tpm(s, g, tpm, sizeof(tpm));
	if (r < 0) {
		bh_fmt(err, sizeof(err), "no way to its vTPM: %s", strerror(-r));
	} else {
		/* Power-cycle it first (PCRs back to zero), as a machine's TPM resets
		 * when it boots: through vtpmd, since the guest's own control socket
		 * may not (it could reset its PCRs and replay its log). */
		r = bh_vtpm_request(s, BH_MSG_VTPM_RESET, g->dom->name, why, sizeof(why));
		if (r < 0)
			bh_fmt(err, sizeof(err), "vTPM reset: %s", why);
	}
	if (r == 0)
		r = bh_measure_guest(s->t, g->dom, s->o->platform, tpm, log, err, sizeof(err));
	bh_sup_audit(s, "measure", g->dom->name, r < 0 ? "failed" : "ok", "%s",
		     r < 0 ? err : log);
	if (r < 0)
		bh_fmt(g->note, sizeof(g->note), "not started: measurement failed: %s", err);
	return r;
}

int bh_guest_start(struct bh_sup *s, struct bh_guest *g)
{
	int r;

	g->note[0] = '\0';
	r = guest_measure(s, g);
	if (r < 0)
		return r;
	/* Measured: stordom may now unseal its sealed volumes' secrets from vtpm. */
	if (g->dom->measure)
		bh_seal_open_guest(s, g, NULL);
	bh_guest_binds(s, g);
	r = s->plat->guest_spawn(s, g);
	if (r < 0) {
		bh_fmt(g->note, sizeof(g->note), "cannot start: %s", strerror(-r));
		return r;
	}
	g->started_ms = bh_now_ms();
	return 0;
}

void bh_guest_rewire(struct bh_sup *s, const struct bh_svc *svc)
{
	for (size_t i = 0; i < s->n_guests; i++) {
		struct bh_guest *g = &s->guests[i];

		for (size_t b = 0; g->hd && g->hd->id > 0 && b < g->n_binds; b++) {
			int r;

			if (g->bind_role[b] != svc->dom->role)
				continue;
			r = s->plat->rebind(s, g, b);
			bh_sup_audit(s, "rewire", g->dom->name, r < 0 ? "failed" : "ok",
				     "%s re-bound to restarted %s%s%s", g->binds[b].name,
				     svc->dom->name, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		}
		/* A restarted vtpm brought the guest's TPM up with its PCRs reset: its
		 * measurements go in again, or its attestation would fail until it
		 * restarted. The guest keeps running either way (audited). */
		if (svc->dom->role == BH_DOM_VTPM && g->hd && g->hd->id > 0)
			guest_measure(s, g);
	}
}
