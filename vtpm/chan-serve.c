/* SPDX-License-Identifier: MIT */
/*
 * CHAN_SERVE (xen platform): dom0 asks vtpmd to serve one instance's swtpm
 * data or control socket over a channel granted to that instance's guest
 * domain, once the guest exists (its domid is known only then). One proxy
 * (bulkhead/chanproxy.h) per instance socket and xenstore path; a new
 * request for the same socket and path (the guest restarted: a new domid)
 * replaces the old proxy. The
 * manager's control loop is the only caller.
 *
 * The UNSEAL socket (--unseal) the same way, for the stordom domain alone
 * (BH_CHAN_SERVE_UNSEAL; DESIGN.md section 4: stordom asks vtpm for sealed
 * volumes' secrets; dom0 only says which domain may ask, and never sees the
 * bytes). A restarted stordom is a new domain: the new request replaces the
 * old proxy, so the old domid can no longer attach.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "bulkhead/chanproxy.h"
#include "bulkhead/log.h"
#include "vtpm.h"

#define CHANS_MAX 32

static struct {
	char name[BH_MSG_NAME_MAX];
	uint32_t kind;
	char xs_path[BH_CHAN_XS_PATH_MAX];
	struct bh_chanproxy *proxy;
} chans[CHANS_MAX];

/* The socket @m asks for. 0 or -errno. */
static int sock_path(const struct vt_manager_cfg *cfg, const struct bh_msg_chan_serve *m,
		     char *path, size_t len)
{
	int n;

	if (m->kind == BH_CHAN_SERVE_UNSEAL) {
		if (!cfg->unseal_path)
			return -ENOPROTOOPT; /* vtpmd runs without --unseal */
		n = snprintf(path, len, "%s", cfg->unseal_path);
	} else if (m->kind == BH_CHAN_SERVE_DATA || m->kind == BH_CHAN_SERVE_CTRL) {
		n = snprintf(path, len, "%s/%s/%s", cfg->state_dir, m->name,
			     m->kind == BH_CHAN_SERVE_CTRL ? "tpm.sock.ctrl" : "tpm.sock");
	} else {
		return -EINVAL;
	}
	return n >= (int)len ? -ENAMETOOLONG : 0;
}

int vt_chan_serve(const struct vt_manager_cfg *cfg, const struct bh_msg_chan_serve *m)
{
	char spec[BH_CHAN_XS_PATH_MAX + 32], path[PATH_MAX];
	size_t slot = CHANS_MAX;
	int r = sock_path(cfg, m, path, sizeof(path));

	if (r < 0)
		return r;

	for (size_t i = 0; i < CHANS_MAX; i++) {
		if (chans[i].proxy && chans[i].kind == m->kind &&
		    (m->kind == BH_CHAN_SERVE_UNSEAL ||
		     (bh_streq(chans[i].name, m->name) && bh_streq(chans[i].xs_path, m->xs_path)))) {
			bh_chanproxy_stop(chans[i].proxy);
			chans[i].proxy = NULL;
		}
		if (!chans[i].proxy && slot == CHANS_MAX)
			slot = i;
	}
	if (slot == CHANS_MAX)
		return -ENOSPC;
	snprintf(spec, sizeof(spec), "xen:%u:%s", m->domid, m->xs_path);
	snprintf(chans[slot].name, sizeof(chans[slot].name), "%s", m->name);
	chans[slot].kind = m->kind;
	snprintf(chans[slot].xs_path, sizeof(chans[slot].xs_path), "%s", m->xs_path);
	return bh_chanproxy_start(spec, path, 0, &chans[slot].proxy);
}

void vt_chan_serve_stop_all(void)
{
	for (size_t i = 0; i < CHANS_MAX; i++) {
		bh_chanproxy_stop(chans[i].proxy);
		chans[i].proxy = NULL;
	}
}
