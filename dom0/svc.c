/* SPDX-License-Identifier: MIT */
/*
 * A service domain's life as dom0 sees it: start it with its control
 * channel (the platform's svc_spawn: sup-host.c, platform-xen.c), push its part of the
 * configuration (svc-push.c) and call it ready once every item was answered
 * with success; all of it within the start timeout, or a failure whose note
 * names what did not happen. The channel carries the common control
 * messages (msg.h, svc-ctl.c) and nothing else: dom0 never sees guest data.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "dom0.h"


uint64_t bh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int bh_fmt(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const char *bh_svc_state_name(enum bh_svc_state st)
{
	static const char *const names[] = { "stopped", "starting", "running", "backoff",
					     "failed" };

	return st < BH_ARRAY_SIZE(names) ? names[st] : "unknown";
}

void bh_pdom_exit_text(const struct bh_pdom *hd, char *out, size_t len)
{
	if (hd->exit_why)
		bh_fmt(out, len, "%s", hd->exit_why);
	else if (hd->exit_code == CLD_EXITED)
		bh_fmt(out, len, "exited with status %d", hd->exit_status);
	else
		bh_fmt(out, len, "killed by signal %d (%s)", hd->exit_status,
			 strsignal(hd->exit_status));
}

/* Why the exchange with the daemon failed, when the daemon is the reason. */
static void why_failed(struct bh_sup *s, struct bh_svc *svc, int r)
{
	char why[96];

	if (svc->hd && s->plat->reap(s, svc->hd) == 1) {
		bh_pdom_exit_text(svc->hd, why, sizeof(why));
		bh_fmt(svc->note, sizeof(svc->note), "daemon %s before it was ready", why);
	} else if (r == -ETIMEDOUT && bh_chan_is_open(svc->chan) == 2) {
		bh_fmt(svc->note, sizeof(svc->note),
		       "its control channel was not attached within %u ms", s->o->timeout_ms);
	} else if (r == -ETIMEDOUT && !strstr(svc->note, "timed out")) {
		size_t n = strlen(svc->note);

		bh_fmt(svc->note + n, sizeof(svc->note) - n, "%sno answer within %u ms",
		       n ? ": " : "", s->o->timeout_ms);
	}
}

static int push(struct bh_sup *s, struct bh_svc *svc)
{
	switch (svc->dom->role) {
	case BH_DOM_NETDOM:
		return bh_push_netdom(s, svc);
	case BH_DOM_STORDOM:
		return bh_push_stordom(s, svc);
	default:
		return bh_push_vtpm(s, svc);
	}
}

int bh_svc_start(struct bh_sup *s, struct bh_svc *svc)
{
	uint64_t deadline = bh_now_ms() + s->o->timeout_ms;
	int r;

	svc->note[0] = '\0';
	svc->drops = 0;
	svc->state = BH_SVC_STARTING;
	svc->started_ms = bh_now_ms();
	svc->n_items = 0;
	svc->deadline_ms = deadline;
	r = s->plat->svc_spawn(s, svc);
	if (r < 0) {
		if (!svc->note[0])
			bh_fmt(svc->note, sizeof(svc->note), "cannot start: %s", strerror(-r));
		goto fail;
	}
	if (s->plat->svc_wire)
		s->plat->svc_wire(s, svc); /* a failure is logged; what needs it says why */
	r = push(s, svc);
	if (r < 0) {
		why_failed(s, svc, r);
		goto fail;
	}
	svc->state = BH_SVC_RUNNING;
	svc->ready_ms = bh_now_ms();
	return 0;
fail:
	if (!svc->note[0])
		bh_fmt(svc->note, sizeof(svc->note), "%s", strerror(-r));
	bh_svc_stop(s, svc);
	return r;
}

void bh_svc_stop(struct bh_sup *s, struct bh_svc *svc)
{
	char ctl[PATH_MAX];

	bh_chan_close(svc->chan);
	svc->chan = NULL;
	if (svc->hd) {
		/* Asked first: stordomd wipes its keys, vtpmd stores its TPMs. netdomd
		 * has nothing to save (the kernel keeps its rules) and, as pid 1 of its
		 * namespace without a handler, would not even see it. */
		s->plat->stop(s, svc->hd, svc->dom->role == BH_DOM_NETDOM ? 0 : 3000);
		svc->hd = NULL;
	}
	bh_up_ctl_path(s->o, svc->dom, ctl, sizeof(ctl));
	unlink(ctl);
	svc->state = BH_SVC_STOPPED;
}

