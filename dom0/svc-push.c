/* SPDX-License-Identifier: MIT */
/*
 * Each service's part of the configuration, as typed control messages (no
 * daemon parses config text): netdom the whole policy as one transaction,
 * stordom one VOLUME_OPEN per volume (CREATE the first time), vtpm one
 * instance per guest with bh_vtpm (CREATE the first time, then START). A
 * guest's sockets are made connectable for it (0666) once served: they are
 * only reachable through the bind in that guest's mount namespace, the
 * service directories being root only.
 */
#include <sys/stat.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "dom0.h"

#define NOTE(svc, ...) bh_fmt((svc)->note, sizeof((svc)->note), __VA_ARGS__)

int bh_push_netdom(struct bh_sup *s, struct bh_svc *svc)
{
	struct bh_diags d = { 0 };
	struct bh_msg_policy_result res;
	uint8_t reply[512];
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	uint64_t gen = s->next_generation++;
	FILE *f = open_memstream(&buf, &len);
	int r = f ? bh_policy_write(s->t, gen, f, &d) : -ENOMEM;

	if (f && fclose(f) != 0 && r == 0)
		r = -ENOMEM;
	bh_diags_clear(&d);
	if (r == 0)
		r = bh_ctl_send_raw(svc, buf, len);
	if (r == 0)
		r = bh_ctl_wait(s, svc, BH_MSG_POLICY_RESULT, reply, sizeof(reply));
	if (r >= 0)
		r = bh_msg_policy_result_decode(reply, (size_t)r, &res);
	if (r < 0)
		return NOTE(svc, "policy generation %llu: %s", (unsigned long long)gen,
			    strerror(-r)), r;
	if (res.status != 0)
		return NOTE(svc, "policy refused (rule %u): %s", res.rule_id, res.text), res.status;
	svc->generation = res.generation;
	return 0;
}

static int volume_open(struct bh_sup *s, struct bh_svc *svc, const struct bh_volume *v)
{
	static struct bh_msg_volume_open m;
	static uint8_t body[2 * BH_VOLUME_PATH_MAX + 256];
	struct bh_msg_volume_result res;
	uint8_t reply[512];
	long n;
	int r;

	memset(&m, 0, sizeof(m));
	bh_fmt(m.name, sizeof(m.name), "%s", v->name);
	bh_up_volume_paths(s->t, s->o, v, m.path, m.keyfile, sizeof(m.path));
	bh_volume_create_flags(s, v, &m);
	n = bh_msg_volume_open_encode(&m, body, sizeof(body));
	r = n < 0 ? (int)n : bh_ctl_call(s, svc, BH_MSG_VOLUME_OPEN, body, (size_t)n,
					   BH_MSG_VOLUME_RESULT, reply, sizeof(reply));
	if (r >= 0)
		r = bh_msg_volume_result_decode(reply, (size_t)r, &res);
	if (r < 0)
		return NOTE(svc, "volume %s: %s", v->name, strerror(-r)), r;
	if (res.status != 0)
		return NOTE(svc, "volume %s (%s): %s: %s", v->name, m.path, strerror(-res.status),
			    res.text), res.status;
	if ((m.flags & BH_VOLUME_CREATE) && !(m.flags & BH_VOLUME_IF_MISSING))
		bh_sup_audit(s, "volume-create", v->name, "ok", "%s, %llu bytes", m.path,
			     (unsigned long long)v->size);
	return 0;
}

void bh_volume_create_flags(const struct bh_sup *s, const struct bh_volume *v,
			    struct bh_msg_volume_open *m)
{
	/* The secret is 512 random bits (key file or vtpm's): PBKDF stretching
	 * adds nothing to it and would cost every open (and restart) a second. */
	if (s->o->platform == BH_PLATFORM_XEN)
		m->flags |= BH_VOLUME_CREATE | BH_VOLUME_TEST_KDF | BH_VOLUME_IF_MISSING;
	else if (access(m->path, F_OK) < 0)
		m->flags |= BH_VOLUME_CREATE | BH_VOLUME_TEST_KDF;
	if (m->flags & BH_VOLUME_CREATE)
		m->size = v->size;
}

static int guest_socket(struct bh_sup *s, struct bh_svc *svc, const char *path)
{
	/* On Xen the sockets are the service domain's own; guests reach them
	 * over channels the service grants to each guest alone. */
	if (s->o->platform == BH_PLATFORM_XEN)
		return 0;
	if (chmod(path, 0666) < 0)
		return NOTE(svc, "chmod %s: %s", path, strerror(errno)), -errno;
	return 0;
}

int bh_push_stordom(struct bh_sup *s, struct bh_svc *svc)
{
	char sock[PATH_MAX], dir[PATH_MAX];
	int r = 0;

	bh_up_svc_dir(s->o, svc->dom, dir, sizeof(dir));
	for (size_t i = 0; r == 0 && i < s->t->n_volumes; i++) {
		if (s->t->volumes[i].sealed)
			continue; /* opened once its guest was measured (seal.c) */
		r = volume_open(s, svc, &s->t->volumes[i]);
		bh_fmt(sock, sizeof(sock), "%s/%s.sock", dir, s->t->volumes[i].name);
		if (r == 0)
			r = guest_socket(s, svc, sock);
		if (r == 0)
			svc->n_items++;
	}
	if (r == 0) /* a restart: the running guests' sealed volumes, unsealed again */
		bh_seal_push_running(s, svc);
	return r;
}

/* One VTPM_* request about instance @name; its status, text in *res. */
static int vtpm_call(struct bh_sup *s, struct bh_svc *svc, uint16_t type, const char *name,
		     struct bh_msg_vtpm_result *res)
{
	uint8_t body[BH_MSG_NAME_MAX + 8], reply[512];
	long n = bh_msg_name_body_encode(name, body, sizeof(body));
	int r = n < 0 ? (int)n : bh_ctl_call(s, svc, type, body, (size_t)n, BH_MSG_VTPM_RESULT,
					       reply, sizeof(reply));

	if (r >= 0)
		r = bh_msg_vtpm_result_decode(reply, (size_t)r, res);
	if (r < 0)
		return NOTE(svc, "vTPM %s: %s: %s", name, bh_msg_type_name(type), strerror(-r)), r;
	return res->status;
}

struct bh_svc *bh_sup_service(struct bh_sup *s, enum bh_dom_role role)
{
	for (size_t i = 0; i < s->n_svc; i++)
		if (s->svc[i].dom->role == role && s->svc[i].state == BH_SVC_RUNNING && s->svc[i].chan)
			return &s->svc[i];
	return NULL;
}

int bh_vtpm_request(struct bh_sup *s, uint16_t type, const char *name, char *err, size_t errlen)
{
	struct bh_svc *svc = bh_sup_service(s, BH_DOM_VTPM);
	struct bh_msg_vtpm_result res = { .text = "" };
	int r;

	if (!svc)
		return bh_fmt(err, errlen, "vtpm is not running"), -ESRCH;
	svc->deadline_ms = bh_now_ms() + s->o->timeout_ms;
	svc->note[0] = '\0';
	r = vtpm_call(s, svc, type, name, &res);
	bh_fmt(err, errlen, "%s", r < 0 && svc->note[0] ? svc->note : res.text);
	return r;
}

static int vtpm_instance(struct bh_sup *s, struct bh_svc *svc, const char *name)
{
	struct bh_msg_vtpm_result res;
	char sock[PATH_MAX];
	int r = vtpm_call(s, svc, BH_MSG_VTPM_CREATE, name, &res);

	if (r == 0)
		bh_sup_audit(s, "vtpm-create", name, "ok", "new vTPM instance");
	if (r == 0 || r == -EEXIST)
		r = vtpm_call(s, svc, BH_MSG_VTPM_START, name, &res);
	if (r < 0)
		return svc->note[0] ? r : (NOTE(svc, "vTPM %s: %s", name, res.text), r);
	bh_fmt(sock, sizeof(sock), "%s/vtpm/%s/tpm.sock", s->o->state, name);
	r = guest_socket(s, svc, sock);
	strcat(sock, ".ctrl");
	return r ? r : guest_socket(s, svc, sock);
}

int bh_push_vtpm(struct bh_sup *s, struct bh_svc *svc)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < s->t->n_domains; i++) {
		const struct bh_domain *g = &s->t->domains[i];

		if (g->role != BH_DOM_GUEST || !g->vtpm)
			continue;
		r = vtpm_instance(s, svc, g->name);
		if (r == 0)
			svc->n_items++;
	}
	return r;
}

int bh_svc_chan_serve(struct bh_sup *s, struct bh_svc *svc, const struct bh_msg_chan_serve *m)
{
	uint16_t want = svc->dom->role == BH_DOM_STORDOM ? BH_MSG_VOLUME_RESULT : BH_MSG_VTPM_RESULT;
	uint8_t body[BH_MSG_NAME_MAX + BH_CHAN_XS_PATH_MAX + 16], reply[512];
	long n = bh_msg_chan_serve_encode(m, body, sizeof(body));
	int r;

	/* STARTING: wired before its configuration is pushed (platform-xen.c). */
	if (!svc->chan || (svc->state != BH_SVC_RUNNING && svc->state != BH_SVC_STARTING))
		return -ENOTCONN;
	svc->deadline_ms = bh_now_ms() + s->o->timeout_ms;
	r = n < 0 ? (int)n : bh_ctl_call(s, svc, BH_MSG_CHAN_SERVE, body, (size_t)n, want, reply,
					   sizeof(reply));
	if (r >= 0 && want == BH_MSG_VOLUME_RESULT) {
		struct bh_msg_volume_result res;

		r = bh_msg_volume_result_decode(reply, (size_t)r, &res);
		r = r < 0 ? r : res.status;
	} else if (r >= 0) {
		struct bh_msg_vtpm_result res;

		r = bh_msg_vtpm_result_decode(reply, (size_t)r, &res);
		r = r < 0 ? r : res.status;
	}
	return r;
}
