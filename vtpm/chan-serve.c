/* SPDX-License-Identifier: MIT */
/*
 * CHAN_SERVE (xen platform): dom0 asks vtpmd to serve one instance's swtpm
 * data or control socket over a channel granted to that instance's guest
 * domain, once the guest exists (its domid is known only then). One proxy
 * (bulkhead/chanproxy.h) per instance socket and xenstore path; a new
 * request for the same socket and path (the guest restarted: a new domid)
 * replaces the old proxy. The
 * manager's control loop is the only caller.
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

int vt_chan_serve(const char *state_dir, const struct bh_msg_chan_serve *m)
{
	char spec[BH_CHAN_XS_PATH_MAX + 32], path[PATH_MAX];
	size_t slot = CHANS_MAX;

	for (size_t i = 0; i < CHANS_MAX; i++) {
		if (chans[i].proxy && chans[i].kind == m->kind && bh_streq(chans[i].name, m->name) &&
		    bh_streq(chans[i].xs_path, m->xs_path)) {
			bh_chanproxy_stop(chans[i].proxy);
			chans[i].proxy = NULL;
		}
		if (!chans[i].proxy && slot == CHANS_MAX)
			slot = i;
	}
	if (slot == CHANS_MAX)
		return -ENOSPC;
	snprintf(spec, sizeof(spec), "xen:%u:%s", m->domid, m->xs_path);
	if (snprintf(path, sizeof(path), "%s/%s/%s", state_dir, m->name,
		     m->kind == BH_CHAN_SERVE_CTRL ? "tpm.sock.ctrl" : "tpm.sock") >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
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
