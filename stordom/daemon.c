/* SPDX-License-Identifier: MIT */
/*
 * stordomd's control loop over one msg-framed stream (a unix socket, a file,
 * later a channel from dom0): VOLUME_OPEN / CLOSE / GROW / ERASE, each
 * answered by one VOLUME_RESULT; CHAN_SERVE (an export's socket over a
 * channel for one guest, xen platform) too; PING answered by PONG. stordomd never parses
 * config text: these typed messages are all it is told.
 *
 * A message carries a key file's path, never a key (a sealed volume's secret
 * comes from vtpm, unseal.c); results and logs carry names, paths and errors,
 * never key material.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "stordom.h"

struct sd_vol_entry {
	char name[BH_MSG_NAME_MAX];
	char path[BH_VOLUME_PATH_MAX];
};

static struct sd_vol_entry *entry_find(struct sd_daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_vols; i++)
		if (bh_streq(d->vols[i].name, name))
			return &d->vols[i];
	return NULL;
}

static int entry_add(struct sd_daemon *d, const char *name, const char *path)
{
	struct sd_vol_entry *v = realloc(d->vols, (d->n_vols + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	d->vols = v;
	v = &d->vols[d->n_vols++];
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->path, sizeof(v->path), "%s", path);
	return 0;
}

static void entry_del(struct sd_daemon *d, struct sd_vol_entry *v)
{
	*v = d->vols[--d->n_vols];
}

static int reply(int fd, uint16_t type, uint32_t req, const void *body, long len)
{
	if (len < 0)
		return (int)len;
	return bh_msg_write(fd, type, BH_MSGF_REPLY, req, body, (size_t)len);
}

static int send_result(int fd, uint32_t req, const char *name, int status, uint64_t size,
		       const char *what)
{
	struct bh_msg_volume_result m = { .status = status, .size = status ? 0 : size };
	uint8_t body[512];

	snprintf(m.name, sizeof(m.name), "%s", name);
	/* "what: error", unless @what already says why (vtpm's reason for a refusal). */
	if (status && strchr(what, ':'))
		snprintf(m.text, sizeof(m.text), "%s", what);
	else if (status)
		snprintf(m.text, sizeof(m.text), "%s: %s", what, strerror(-status));
	if (status)
		bh_err("volume '%s': %s", name, m.text);
	else
		bh_notice("volume '%s': %s, %llu bytes", name, what, (unsigned long long)size);
	return reply(fd, BH_MSG_VOLUME_RESULT, req, body,
		     bh_msg_volume_result_encode(&m, body, sizeof(body)));
}

/*
 * A sealed volume: its keyslot secret from vtpm (UNSEAL over vtpmd's socket,
 * never through dom0); a new one when the volume is being created. vtpm's
 * reason for a refusal goes into @why, for the VOLUME_RESULT and the log.
 */
static int open_sealed(struct sd_daemon *d, const struct bh_msg_volume_open *m,
		       const struct sd_volume_params *p, struct sd_volume **ret, char *why,
		       size_t whylen)
{
	struct sd_secret *pass = NULL;
	bool create = m->flags & BH_VOLUME_CREATE;
	int r = sd_unseal(d->unseal_path, m->guest, m->name, create, &pass, why, whylen);

	if (r < 0)
		return r;
	if (create)
		r = sd_volume_create_secret(m->path, pass, p, ret);
	else
		r = sd_volume_open_secret(m->path, pass, p->readonly, ret);
	sd_secret_free(pass);
	if (r < 0)
		snprintf(why, whylen, "unsealed, but the keyslot did not open: %s", strerror(-r));
	return r;
}

static int vol_open(struct sd_daemon *d, const struct bh_msg_volume_open *m, uint64_t *ret_size,
		    char *why, size_t whylen)
{
	struct sd_volume_params p = { .size = m->size,
				      .test_kdf = m->flags & BH_VOLUME_TEST_KDF,
				      .readonly = m->flags & BH_VOLUME_READONLY };
	struct sd_volume *v = NULL;
	int r;

	if (entry_find(d, m->name))
		return -EEXIST;
	if (m->flags & BH_VOLUME_SEALED)
		r = open_sealed(d, m, &p, &v, why, whylen);
	else if (m->flags & BH_VOLUME_CREATE)
		r = sd_volume_create(m->path, m->keyfile, &p, &v);
	else
		r = sd_volume_open(m->path, m->keyfile, p.readonly, &v);
	if (r < 0)
		return r;
	*ret_size = v->size;
	r = entry_add(d, m->name, m->path);
	if (r == 0)
		r = sd_server_add(d->srv, m->name, v, m->flags & BH_VOLUME_DISCARD);
	if (r < 0) {
		struct sd_vol_entry *e = entry_find(d, m->name);

		if (e)
			entry_del(d, e);
		sd_volume_close(v);
	}
	return r;
}

static int grow_fn(struct sd_volume *v, void *arg)
{
	uint64_t *size = arg;
	int r = sd_volume_grow(v, *size);

	*size = v->size;
	return r;
}

static int vol_ref(struct sd_daemon *d, uint16_t type, struct bh_msg_volume_ref *m)
{
	struct sd_vol_entry *e = entry_find(d, m->name);
	int r;

	if (!e)
		return -ENOENT;
	if (type == BH_MSG_VOLUME_GROW)
		return sd_server_with_volume(d->srv, m->name, grow_fn, &m->size);
	r = sd_server_remove(d->srv, m->name);
	if (r == 0 && type == BH_MSG_VOLUME_ERASE)
		r = sd_volume_erase(e->path);
	entry_del(d, e);
	return r;
}

static int handle_volume(struct sd_daemon *d, int fd, const struct bh_msg_hdr *h,
			 const uint8_t *untrusted_body)
{
	struct bh_msg_volume_open o;
	struct bh_msg_volume_ref m = { "", 0 };
	uint64_t size = 0;
	int r;

	if (h->type == BH_MSG_VOLUME_OPEN) {
		r = bh_msg_volume_open_decode(untrusted_body, h->length, &o);
		if (r < 0)
			return send_result(fd, h->request_id, "", r, 0, "VOLUME_OPEN");
		char what[BH_MSG_ERROR_TEXT_MAX - 64] = "";

		/* Create only what is not there yet (xen: dom0 cannot look). */
		if ((o.flags & BH_VOLUME_IF_MISSING) && access(o.path, F_OK) == 0) {
			o.flags &= (uint8_t) ~(BH_VOLUME_CREATE | BH_VOLUME_TEST_KDF |
					       BH_VOLUME_IF_MISSING);
			o.size = 0;
		}

		r = vol_open(d, &o, &size, what, sizeof(what));
		if (r < 0 && !what[0])
			snprintf(what, sizeof(what), "%s", (o.flags & BH_VOLUME_CREATE) ? "create" : "open");
		else if (r == 0)
			snprintf(what, sizeof(what), "%s%s", (o.flags & BH_VOLUME_CREATE) ? "created" : "opened",
				 (o.flags & BH_VOLUME_SEALED) ? " with the secret vtpm unsealed" : "");
		return send_result(fd, h->request_id, o.name, r, size, what);
	}
	r = bh_msg_volume_ref_decode(h->type, untrusted_body, h->length, &m);
	if (r == 0)
		r = vol_ref(d, h->type, &m);
	return send_result(fd, h->request_id, m.name, r, m.size, bh_msg_type_name(h->type));
}

/*
 * CHAN_SERVE (xen platform): serve an open export's socket over a channel
 * granted to one guest domain, replacing an earlier one of the same export
 * (the guest restarted: a new domid). The proxy connects to the socket per
 * session, so the NBD protocol code never knows the transport.
 */
static int chan_serve(struct sd_daemon *d, const struct bh_msg_chan_serve *m)
{
	char spec[BH_CHAN_XS_PATH_MAX + 32], path[BH_VOLUME_PATH_MAX];
	size_t slot = SD_CHAN_EXPORTS_MAX;

	if (!entry_find(d, m->name))
		return -ENOENT;
	if (m->kind != BH_CHAN_SERVE_DATA || !d->dir)
		return -EINVAL;
	for (size_t i = 0; i < SD_CHAN_EXPORTS_MAX; i++) {
		if (d->chans[i].proxy && bh_streq(d->chans[i].name, m->name) &&
		    bh_streq(d->chans[i].xs_path, m->xs_path)) {
			bh_chanproxy_stop(d->chans[i].proxy);
			d->chans[i].proxy = NULL;
		}
		if (!d->chans[i].proxy && slot == SD_CHAN_EXPORTS_MAX)
			slot = i;
	}
	if (slot == SD_CHAN_EXPORTS_MAX)
		return -ENOSPC;
	snprintf(spec, sizeof(spec), "xen:%u:%s", m->domid, m->xs_path);
	if (snprintf(path, sizeof(path), "%s/%s.sock", d->dir, m->name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	snprintf(d->chans[slot].name, sizeof(d->chans[slot].name), "%s", m->name);
	snprintf(d->chans[slot].xs_path, sizeof(d->chans[slot].xs_path), "%s", m->xs_path);
	return bh_chanproxy_start(spec, path, SD_CHAN_RING, &d->chans[slot].proxy);
}

/*
 * CHAN_SERVE UNSEAL_PEER (xen platform): the vtpm domain @m->domid serves
 * its UNSEAL socket at @m->xs_path in its home, for this domain alone. Our
 * --unseal socket becomes a channel client to it (one session per
 * connection, as unseal.c connects per request), replacing the one for an
 * earlier vtpm domain (vtpm restarted: a new domid).
 */
static int unseal_peer(struct sd_daemon *d, const struct bh_msg_chan_serve *m)
{
	char spec[BH_CHAN_XS_PATH_MAX + 64];

	if (!d->unseal_path)
		return -ENOPROTOOPT; /* stordomd runs without --unseal */
	bh_chanproxy_stop(d->unseal_proxy);
	d->unseal_proxy = NULL;
	snprintf(spec, sizeof(spec), "xen:%u:/local/domain/%u/%s", m->domid, m->domid, m->xs_path);
	return bh_chanproxy_client_start(spec, d->unseal_path, &d->unseal_proxy);
}

static int handle_chan_serve(struct sd_daemon *d, int fd, const struct bh_msg_hdr *h,
			     const uint8_t *untrusted_body)
{
	struct bh_msg_chan_serve m;
	int r = bh_msg_chan_serve_decode(untrusted_body, h->length, &m);

	if (r < 0)
		return send_result(fd, h->request_id, "", r, 0, "CHAN_SERVE");
	if (m.kind == BH_CHAN_SERVE_UNSEAL_PEER) {
		r = unseal_peer(d, &m);
		if (r == 0)
			bh_notice("UNSEAL: %s reaches vtpm domain %u (%s) at %s", d->unseal_path,
				  m.domid, m.name, m.xs_path);
		return send_result(fd, h->request_id, m.name, r, 0, "CHAN_SERVE UNSEAL");
	}
	r = chan_serve(d, &m);
	if (r == 0)
		bh_notice("export '%s' served to domain %u at %s", m.name, m.domid, m.xs_path);
	return send_result(fd, h->request_id, m.name, r, 0, "CHAN_SERVE");
}

int sd_daemon_handle(struct sd_daemon *d, int out_fd, const struct bh_msg_hdr *h,
		     const uint8_t *untrusted_body)
{
	struct bh_msg_ping ping;

	switch (h->type) {
	case BH_MSG_PING:
		if (bh_msg_ping_decode(untrusted_body, h->length, &ping) < 0)
			return -EBADMSG;
		return reply(out_fd, BH_MSG_PONG, h->request_id, untrusted_body, h->length);
	case BH_MSG_VOLUME_OPEN ... BH_MSG_VOLUME_ERASE:
		return handle_volume(d, out_fd, h, untrusted_body);
	case BH_MSG_CHAN_SERVE:
		return handle_chan_serve(d, out_fd, h, untrusted_body);
	default:
		bh_warn("ignoring %s", bh_msg_type_name(h->type));
		return 0;
	}
}

int sd_daemon_stream(struct sd_daemon *d, int in_fd, int out_fd)
{
	_cleanup_free_ uint8_t *body = malloc(BH_MSG_BODY_MAX);
	struct bh_msg_hdr h;
	int r;

	if (!body)
		return -ENOMEM;
	for (;;) {
		/* 0 at a clean end of stream; a bad header or a torn message is an error. */
		r = bh_msg_read(in_fd, &h, body, BH_MSG_BODY_MAX);
		if (r <= 0)
			return r == 0 ? 0 : bh_log_errno(LOG_ERR, r, "control stream");
		r = sd_daemon_handle(d, out_fd, &h, body);
		if (r < 0)
			return bh_log_errno(LOG_ERR, r, "control stream: %s",
					    bh_msg_type_name(h.type));
	}
}

void sd_daemon_fini(struct sd_daemon *d)
{
	bh_chanproxy_stop(d->unseal_proxy);
	d->unseal_proxy = NULL;
	for (size_t i = 0; i < SD_CHAN_EXPORTS_MAX; i++) {
		bh_chanproxy_stop(d->chans[i].proxy);
		d->chans[i].proxy = NULL;
	}
	sd_server_free(d->srv); /* every key wiped */
	d->srv = NULL;
	free(d->vols);
	d->vols = NULL;
	d->n_vols = 0;
}
