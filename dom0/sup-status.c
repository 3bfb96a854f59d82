/* SPDX-License-Identifier: MIT */
/*
 * What `bulkhead status` prints about a running topology: one row per
 * domain (state, pid, uptime, restarts, control channel health, and per
 * role the firewall generation, volumes or vTPM instances), then every
 * limit that could not be applied, said plainly; or the same as JSON.
 */
#include "dom0.h"

static unsigned long long uptime_s(uint64_t since_ms, bool running)
{
	return running && since_ms ? (unsigned long long)((bh_now_ms() - since_ms) / 1000) : 0;
}

/* The control channel: both ends attached, or why not. */
static const char *chan_health(const struct bh_svc *v)
{
	if (!v->chan || v->chan_dead)
		return "down";
	switch (bh_chan_is_open(v->chan)) {
	case 1:
		return "ok";
	case 2:
		return "waiting";
	default:
		return bh_chan_error(v->chan) ? "broken" : "closed";
	}
}

/* A sealed volume's state: "closed" (its guest does not run), "locked", or "unsealed". */
static const char *sealed_state(const struct bh_sup *s, const struct bh_volume *v)
{
	for (size_t i = 0; v->sealed && i < s->n_guests; i++) {
		const struct bh_guest *g = &s->guests[i];

		if (bh_streq(g->dom->name, v->owner))
			return !g->hd ? "closed" : bh_seal_locked(s, g, v) ? "locked" : "unsealed";
	}
	return "";
}

/* The volumes stordom serves: the unsealed ones with the others (svc->n_items). */
static unsigned volumes_open(const struct bh_sup *s, const struct bh_svc *svc)
{
	unsigned n = svc->n_items;

	for (size_t i = 0; i < s->t->n_volumes; i++)
		n += bh_streq(sealed_state(s, &s->t->volumes[i]), "unsealed");
	return n;
}

static void volumes_text(const struct bh_sup *s, FILE *out, bool json)
{
	for (size_t i = 0; i < s->t->n_volumes; i++) {
		const struct bh_volume *v = &s->t->volumes[i];
		const char *st = sealed_state(s, v);

		if (json)
			fprintf(out, "%s{\"name\":\"%s\",\"owner\":\"%s\",\"size\":%llu,"
				"\"sealed\":\"%s\"}",
				i ? "," : "", v->name, v->owner ? v->owner : "",
				(unsigned long long)v->size, st);
		else
			fprintf(out, "%s%s %lluM%s%s%s", i ? ", " : "", v->name,
				(unsigned long long)(v->size >> 20), st[0] ? " (sealed, " : "", st,
				st[0] ? ")" : "");
	}
}

static void vtpms_text(const struct bh_sup *s, FILE *out, bool json)
{
	size_t n = 0;

	for (size_t i = 0; i < s->t->n_domains; i++) {
		const struct bh_domain *d = &s->t->domains[i];

		if (d->role == BH_DOM_GUEST && d->vtpm)
			fprintf(out, json ? "%s\"%s\"" : "%s%s", n++ ? (json ? "," : " ") : "",
				d->name);
	}
}

/* The role-specific column of a service. */
static void svc_detail(const struct bh_sup *s, const struct bh_svc *svc, FILE *out)
{
	if (svc->state != BH_SVC_RUNNING) {
		fprintf(out, "%s", svc->note);
		return;
	}
	switch (svc->dom->role) {
	case BH_DOM_NETDOM:
		fprintf(out, "firewall generation %llu, %llu drops reported",
			(unsigned long long)svc->generation, (unsigned long long)svc->drops);
		break;
	case BH_DOM_STORDOM:
		fprintf(out, "%u volumes: ", volumes_open(s, svc));
		volumes_text(s, out, false);
		break;
	default:
		fprintf(out, "%u vTPM instances: ", svc->n_items);
		vtpms_text(s, out, false);
		break;
	}
}

static void guest_detail(const struct bh_guest *g, FILE *out)
{
	if (!g->hd) {
		fprintf(out, "%s", g->note);
		return;
	}
	for (size_t i = 0; i < g->hd->n_vifs; i++)
		fprintf(out, "%s%s", i ? "," : "", g->hd->vifs[i]);
	for (size_t i = 0; i < g->n_binds; i++)
		fprintf(out, "%s%s", i ? " " : " | ", g->binds[i].name);
	if (g->lock_note[0])
		fprintf(out, " | %s", g->lock_note);
}

static void row(FILE *out, const char *name, const char *role, const char *state, int pid,
		unsigned long long up, unsigned restarts, const char *chan)
{
	char pids[16] = "-";

	if (pid > 0)
		bh_fmt(pids, sizeof(pids), "%d", pid);
	fprintf(out, "%-12s %-8s %-9s %-8s %7llus %8u  %-8s ", name, role, state, pids, up,
		restarts, chan);
}

static void limits_text(const struct bh_pdom *hd, const char *name, bool *header, FILE *out)
{
	if (!hd || hd->limits_ok)
		return;
	if (!*header)
		fprintf(out, "\nlimits not applied:\n");
	*header = true;
	fprintf(out, "  %s: %s\n", name, hd->limits_note);
}

/* The note every running domain has, when they all have the same one; else NULL. */
static const char *common_note(const struct bh_sup *s)
{
	const char *note = NULL;
	size_t n = s->n_svc + s->n_guests;

	for (size_t i = 0; i < n; i++) {
		const struct bh_pdom *hd = i < s->n_svc ? s->svc[i].hd :
							      s->guests[i - s->n_svc].hd;

		if (!hd || hd->limits_ok || (note && !bh_streq(note, hd->limits_note)))
			return NULL;
		note = hd->limits_note;
	}
	return note;
}

static void status_table(const struct bh_sup *s, FILE *out)
{
	bool header = false;
	bool xen = s->plat == &bh_plat_xen;

	fprintf(out, "topology %s (%s platform), supervisor pid %d\n", s->t->dir, s->plat->name,
		(int)getpid());
	fprintf(out, "%-12s %-8s %-9s %-8s %8s %8s  %-8s %s\n", "DOMAIN", "ROLE", "STATE",
		xen ? "DOMID" : "PID",
		"UPTIME", "RESTARTS", "CHANNEL", "DETAIL");
	for (size_t i = 0; i < s->n_svc; i++) {
		const struct bh_svc *v = &s->svc[i];
		bool up = v->state == BH_SVC_RUNNING;

		row(out, v->dom->name, bh_role_cfg_name(v->dom->role), bh_svc_state_name(v->state),
		    v->hd ? v->hd->id : 0, uptime_s(v->ready_ms, up), v->restarts,
		    chan_health(v));
		svc_detail(s, v, out);
		fputc('\n', out);
	}
	for (size_t i = 0; i < s->n_guests; i++) {
		const struct bh_guest *g = &s->guests[i];

		row(out, g->dom->name, "guest", g->hd ? "running" : "stopped",
		    g->hd ? g->hd->id : 0, uptime_s(g->started_ms, g->hd), g->restarts, "-");
		guest_detail(g, out);
		fputc('\n', out);
	}
	if (common_note(s)) {
		fprintf(out, "\nlimits not applied, in every domain: %s\n", common_note(s));
		return;
	}
	for (size_t i = 0; i < s->n_svc; i++)
		limits_text(s->svc[i].hd, s->svc[i].dom->name, &header, out);
	for (size_t i = 0; i < s->n_guests; i++)
		limits_text(s->guests[i].hd, s->guests[i].dom->name, &header, out);
}

static void json_common(FILE *out, const char *name, const char *role, const char *state,
			const struct bh_pdom *hd, unsigned long long up, unsigned restarts,
			const char *note)
{
	fprintf(out, "{\"name\":\"%s\",\"role\":\"%s\",\"state\":\"%s\",\"pid\":%d,"
		"\"uptime\":%llu,\"restarts\":%u,\"limits_applied\":%s,\"limits_note\":",
		name, role, state, hd ? hd->id : 0, up, restarts,
		!hd || hd->limits_ok ? "true" : "false");
	bh_json_quote(out, hd ? hd->limits_note : "", hd ? strlen(hd->limits_note) : 0);
	fprintf(out, ",\"note\":");
	bh_json_quote(out, note, strlen(note));
}

static void json_svc(const struct bh_sup *s, const struct bh_svc *v, FILE *out)
{
	bool up = v->state == BH_SVC_RUNNING;

	json_common(out, v->dom->name, bh_role_cfg_name(v->dom->role), bh_svc_state_name(v->state),
		    v->hd, uptime_s(v->ready_ms, up), v->restarts, v->note);
	fprintf(out, ",\"channel\":\"%s\"", chan_health(v));
	if (v->dom->role == BH_DOM_NETDOM)
		fprintf(out, ",\"generation\":%llu,\"drops\":%llu",
			(unsigned long long)v->generation, (unsigned long long)v->drops);
	if (v->dom->role == BH_DOM_STORDOM) {
		fprintf(out, ",\"volumes\":[");
		volumes_text(s, out, true);
		fputc(']', out);
	}
	if (v->dom->role == BH_DOM_VTPM) {
		fprintf(out, ",\"vtpms\":[");
		vtpms_text(s, out, true);
		fputc(']', out);
	}
	fputc('}', out);
}

static void json_guest(const struct bh_guest *g, FILE *out)
{
	json_common(out, g->dom->name, "guest", g->hd ? "running" : "stopped", g->hd,
		    uptime_s(g->started_ms, g->hd), g->restarts, g->note);
	fprintf(out, ",\"vifs\":[");
	for (size_t i = 0; g->hd && i < g->hd->n_vifs; i++)
		fprintf(out, "%s\"%s\"", i ? "," : "", g->hd->vifs[i]);
	fprintf(out, "],\"endpoints\":[");
	for (size_t i = 0; i < g->n_binds; i++)
		fprintf(out, "%s\"%s/%s\"", i ? "," : "", BH_GUEST_ENDPOINT_DIR, g->binds[i].name);
	fprintf(out, "],\"volumes_locked\":");
	bh_json_quote(out, g->lock_note, strlen(g->lock_note));
	fprintf(out, "}");
}

void bh_sup_status(const struct bh_sup *s, bool json, FILE *out)
{
	if (!json) {
		status_table(s, out);
		return;
	}
	fprintf(out, "{\"running\":true,\"platform\":\"host\",\"supervisor\":%d,\"topology\":",
		(int)getpid());
	bh_json_quote(out, s->t->dir, strlen(s->t->dir));
	fprintf(out, ",\"domains\":[");
	for (size_t i = 0; i < s->n_svc; i++) {
		fprintf(out, "%s", i ? "," : "");
		json_svc(s, &s->svc[i], out);
	}
	for (size_t i = 0; i < s->n_guests; i++) {
		fprintf(out, "%s", i || s->n_svc ? "," : "");
		json_guest(&s->guests[i], out);
	}
	fprintf(out, "]}\n");
}
