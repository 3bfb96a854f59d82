/* SPDX-License-Identifier: MIT */
/*
 * Sealed volumes (bh_volume "... seal=1"): the secret that opens a volume's
 * LUKS2 keyslot is sealed in its guest's vTPM to the guest's measured boot
 * (PCRs 1, 8, 9: config, command line, executable). dom0 only says when: once
 * a guest was measured, stordom is told to open its sealed volumes, and
 * stordom asks vtpm for each secret itself (UNSEAL over vtpmd's socket). No
 * message dom0 sends or receives carries a secret: VOLUME_OPEN names the
 * guest, VOLUME_RESULT and VTPM_RESULT carry a status and a reason.
 *
 * A guest whose measurements changed gets no volume: vtpm refuses the
 * unseal, the volume stays closed (no disk socket in the guest), `status`
 * and the audit log say why, until an admin runs `bulkhead reseal GUEST`:
 * vtpm seals each secret again to the PCRs now in force, through an admin
 * branch of its policy whose password vtpmd keeps, and the guest restarts
 * with its volumes.
 */
#include <sys/stat.h>

#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "dom0.h"

static bool owned_sealed(const struct bh_volume *v, const struct bh_guest *g)
{
	return v->sealed && v->owner && bh_streq(v->owner, g->dom->name);
}

bool bh_seal_locked(const struct bh_sup *s, const struct bh_guest *g,
		    const struct bh_volume *v)
{
	size_t i = (size_t)(v - s->t->volumes);

	return v->sealed && i < 64 && (g->locked & (1ull << i));
}

/* Close (whatever stordom had open for it), then open with the secret from vtpm. */
static int open_one(struct bh_sup *s, struct bh_svc *sd, const struct bh_volume *v,
		    char *why, size_t whylen)
{
	static struct bh_msg_volume_open m;
	static uint8_t body[2 * BH_VOLUME_PATH_MAX + 256];
	struct bh_msg_volume_ref ref = { "", 0 };
	struct bh_msg_volume_result res = { .text = "" };
	char key[PATH_MAX], sock[PATH_MAX];
	uint8_t reply[512];
	long n;
	int r;

	memset(&m, 0, sizeof(m));
	bh_fmt(m.name, sizeof(m.name), "%s", v->name);
	bh_fmt(ref.name, sizeof(ref.name), "%s", v->name);
	bh_fmt(m.guest, sizeof(m.guest), "%s", v->owner);
	bh_up_volume_paths(s->t, s->o, v, m.path, key, sizeof(key));
	m.flags = BH_VOLUME_SEALED;
	/* A new volume: vtpm makes its secret. */
	bh_volume_create_flags(s, v, &m);
	sd->deadline_ms = bh_now_ms() + s->o->timeout_ms;
	n = bh_msg_volume_ref_encode(BH_MSG_VOLUME_CLOSE, &ref, body, sizeof(body));
	r = n < 0 ? (int)n : bh_ctl_call(s, sd, BH_MSG_VOLUME_CLOSE, body, (size_t)n,
					   BH_MSG_VOLUME_RESULT, reply, sizeof(reply));
	n = r < 0 ? r : bh_msg_volume_open_encode(&m, body, sizeof(body));
	r = n < 0 ? (int)n : bh_ctl_call(s, sd, BH_MSG_VOLUME_OPEN, body, (size_t)n,
					   BH_MSG_VOLUME_RESULT, reply, sizeof(reply));
	if (r >= 0)
		r = bh_msg_volume_result_decode(reply, (size_t)r, &res);
	if (r == 0)
		r = res.status;
	bh_fmt(why, whylen, "%s", res.text[0] ? res.text : strerror(-r));
	if (r == 0 && (m.flags & BH_VOLUME_CREATE) && !(m.flags & BH_VOLUME_IF_MISSING))
		bh_sup_audit(s, "volume-create", v->name, "ok", "%s, %llu bytes, sealed to %s",
			     m.path, (unsigned long long)v->size, v->owner);
	/* On Xen the socket is stordom's own, served to the guest over a channel. */
	if (s->o->platform == BH_PLATFORM_XEN)
		return r;
	bh_fmt(sock, sizeof(sock), "%s/%s/%s.sock", s->o->run, sd->dom->name, v->name);
	if (r == 0 && chmod(sock, 0666) < 0) /* reachable only through the guest's bind */
		r = -errno;
	return r;
}

int bh_seal_open_guest(struct bh_sup *s, struct bh_guest *g, struct bh_svc *sd)
{
	int ret = 0;

	g->lock_note[0] = '\0';
	for (size_t i = 0; i < s->t->n_volumes && i < 64; i++) {
		const struct bh_volume *v = &s->t->volumes[i];
		char why[BH_MSG_ERROR_TEXT_MAX] = "";
		int r;

		if (!owned_sealed(v, g))
			continue;
		sd = sd ? sd : bh_sup_service(s, BH_DOM_STORDOM);
		r = sd ? open_one(s, sd, v, why, sizeof(why)) : -ESRCH;
		if (!sd)
			bh_fmt(why, sizeof(why), "stordom is not running");
		if (r == 0) {
			g->locked &= ~(1ull << i);
			bh_sup_audit(s, "volume-unseal", v->name, "ok",
				     "opened for %s with the secret sealed to its measurements",
				     g->dom->name);
			continue;
		}
		g->locked |= 1ull << i;
		bh_fmt(g->lock_note, sizeof(g->lock_note),
		       "volume %s locked: %s; `bulkhead reseal %s` (admin) unlocks it", v->name,
		       why, g->dom->name);
		bh_sup_audit(s, "volume-locked", v->name, "failed", "%s gets no volume: %s",
			     g->dom->name, why);
		bh_warn("%s", g->lock_note);
		ret = r;
	}
	return ret;
}

void bh_seal_push_running(struct bh_sup *s, struct bh_svc *sd)
{
	/* stordom (re)started: the sealed volumes of the guests that run (their
	 * PCRs are still those of their start). */
	for (size_t i = 0; i < s->n_guests; i++) {
		struct bh_guest *g = &s->guests[i];

		if (g->hd && g->dom->measure)
			bh_seal_open_guest(s, g, sd);
	}
}

int bh_seal_reseal(struct bh_sup *s, const char *name, char *detail, size_t dlen)
{
	struct bh_guest *g = NULL;
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < s->n_guests; i++)
		if (bh_streq(s->guests[i].dom->name, name))
			g = &s->guests[i];
	if (!g)
		return bh_fmt(detail, dlen, "no such guest"), -ENOENT;
	if (!g->hd)
		return bh_fmt(detail, dlen, "not running: start it first (its measurements "
				      "are what the secrets are sealed to)"), -ESRCH;
	for (size_t i = 0; r == 0 && i < s->t->n_volumes; i++) {
		const struct bh_volume *v = &s->t->volumes[i];
		char why[BH_MSG_ERROR_TEXT_MAX] = "";
		uint8_t body[2 * BH_MSG_NAME_MAX + 8];
		struct bh_msg_unseal u = { .flags = 0 };
		struct bh_svc *vt = bh_sup_service(s, BH_DOM_VTPM);
		struct bh_msg_vtpm_result res = { .text = "" };
		uint8_t reply[512];
		long len;

		if (!owned_sealed(v, g))
			continue;
		bh_fmt(u.guest, sizeof(u.guest), "%s", g->dom->name);
		bh_fmt(u.volume, sizeof(u.volume), "%s", v->name);
		len = bh_msg_unseal_encode(&u, body, sizeof(body));
		if (!vt)
			r = -ESRCH;
		else
			vt->deadline_ms = bh_now_ms() + s->o->timeout_ms;
		if (r == 0)
			r = len < 0 ? (int)len : bh_ctl_call(s, vt, BH_MSG_VTPM_RESEAL, body,
							      (size_t)len, BH_MSG_VTPM_RESULT, reply,
							      sizeof(reply));
		if (r >= 0)
			r = bh_msg_vtpm_result_decode(reply, (size_t)r, &res);
		if (r == 0)
			r = res.status;
		bh_fmt(why, sizeof(why), "%s", res.text[0] ? res.text : strerror(-r));
		bh_sup_audit(s, "reseal", v->name, r < 0 ? "failed" : "ok", "%s: %s",
			     g->dom->name, why);
		if (r < 0)
			bh_fmt(detail, dlen, "%s", why);
		n += r == 0;
	}
	if (r < 0)
		return r;
	if (!n)
		return bh_fmt(detail, dlen, "%s has no sealed volume", name), -ENOENT;
	/* Measured again and started with its volumes (unsealed by the new policy). */
	r = bh_sup_restart(s, name, detail, dlen);
	if (r == 0)
		bh_fmt(detail, dlen, "%zu volume(s) sealed again to its measurements; %s",
		       n, g->lock_note[0] ? g->lock_note : "restarted with its volumes");
	return r == 0 && g->lock_note[0] ? -EACCES : r;
}
