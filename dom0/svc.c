/* SPDX-License-Identifier: MIT */
/*
 * A service domain's life as dom0 sees it: start its daemon in a host
 * platform domain, open its control connection, push its part of the
 * configuration (svc-push.c) and call it ready once every item was answered
 * with success; all of it within the start timeout, or a failure whose note
 * names what did not happen. The control connection carries the common
 * control messages (msg.h) and nothing else: dom0 never sees guest data.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "dom0.h"

#define ARGS_MAX 12
#define CONNECT_RETRY_MS 10

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

struct args {
	char buf[ARGS_MAX][PATH_MAX];
	char *v[ARGS_MAX + 1];
	size_t n;
};

static void arg(struct args *a, const char *fmt, ...) _printf_(2, 3);

static void arg(struct args *a, const char *fmt, ...)
{
	va_list ap;

	if (a->n == ARGS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(a->buf[a->n], PATH_MAX, fmt, ap);
	va_end(ap);
	a->v[a->n] = a->buf[a->n];
	a->v[++a->n] = NULL;
}

static void build_argv(const struct bh_sup *s, const struct bh_domain *dom, struct args *a)
{
	const struct bh_up_opts *o = s->o;
	char ctl[PATH_MAX], dir[PATH_MAX];

	bh_up_ctl_path(o, dom, ctl, sizeof(ctl));
	bh_up_svc_dir(o, dom, dir, sizeof(dir));
	switch (dom->role) {
	case BH_DOM_NETDOM:
		arg(a, "%s/netdomd", o->daemons);
		break;
	case BH_DOM_STORDOM:
		arg(a, "%s/stordomd", o->daemons);
		arg(a, "--listen");
		arg(a, "%s", dir);
		break;
	default:
		arg(a, "%s/vtpmd", o->daemons);
		arg(a, "--state-dir");
		arg(a, "%s/vtpm", o->state);
		arg(a, "--key-file");
		arg(a, "%s/keys/vtpm.key", o->state);
		break;
	}
	arg(a, "--control");
	arg(a, "%s", ctl);
	if (o->verbose)
		arg(a, "-v");
}

static int open_log(const struct bh_sup *s, const struct bh_domain *dom)
{
	char path[PATH_MAX];
	int fd;

	bh_fmt(path, sizeof(path), "%s/%s.log", s->o->logs, dom->name);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

static int spawn(struct bh_sup *s, struct bh_svc *svc)
{
	struct args a = { .n = 0 };
	struct bh_host_opts ho = { .pass_fd = -1 };
	_cleanup_close_ int log_fd = open_log(s, svc->dom);
	char ctl[PATH_MAX];

	build_argv(s, svc->dom, &a);
	bh_up_ctl_path(s->o, svc->dom, ctl, sizeof(ctl));
	unlink(ctl); /* a stale socket of a crashed daemon must not look ready */
	ho.argv = a.v;
	ho.log_fd = log_fd;
	ho.netns_fd = svc->dom->role == BH_DOM_NETDOM ? s->netns_fd : -1;
	return bh_host_spawn(s->t, svc->dom, &ho, &svc->hd);
}

/* "exited with status 1", "killed by signal 9" */
static void exit_text(const struct bh_host_dom *hd, char *out, size_t len)
{
	if (hd->exit_code == CLD_EXITED)
		bh_fmt(out, len, "exited with status %d", hd->exit_status);
	else
		bh_fmt(out, len, "killed by signal %d (%s)", hd->exit_status,
			 strsignal(hd->exit_status));
}

/* Connect to the daemon's control socket as soon as it listens. */
static int connect_ctl(struct bh_sup *s, struct bh_svc *svc, uint64_t deadline)
{
	char path[PATH_MAX], why[96];

	bh_up_ctl_path(s->o, svc->dom, path, sizeof(path));
	for (;;) {
		struct pollfd p = { .fd = svc->hd->pidfd, .events = POLLIN };
		int fd = bh_unix_connect(path, SOCK_STREAM);

		if (fd >= 0)
			return svc->ctl = fd;
		if (bh_now_ms() >= deadline) {
			bh_fmt(svc->note, sizeof(svc->note),
				 "no control socket after %u ms (%s)", s->o->timeout_ms, path);
			return -ETIMEDOUT;
		}
		if (poll(&p, 1, CONNECT_RETRY_MS) == 1 && bh_host_reap(svc->hd) == 1) {
			exit_text(svc->hd, why, sizeof(why));
			bh_fmt(svc->note, sizeof(svc->note), "daemon %s before it listened", why);
			return -ECHILD;
		}
	}
}

static void set_timeouts(int fd, uint64_t deadline)
{
	uint64_t now = bh_now_ms(), left = deadline > now ? deadline - now : 1;
	struct timeval tv = { .tv_sec = (time_t)(left / 1000),
			      .tv_usec = (suseconds_t)(left % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
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

/* netdom's namespace outlives netdomd: its vifs and rules stay (fail closed). */
static int hold_netns(struct bh_sup *s, struct bh_svc *svc)
{
	char path[64];

	if (svc->dom->role != BH_DOM_NETDOM || s->netns_fd >= 0)
		return 0;
	bh_fmt(path, sizeof(path), "/proc/%d/ns/net", svc->hd->pid);
	s->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	return s->netns_fd < 0 ? -errno : 0;
}

int bh_svc_start(struct bh_sup *s, struct bh_svc *svc)
{
	uint64_t deadline = bh_now_ms() + s->o->timeout_ms;
	int r;

	svc->note[0] = '\0';
	svc->state = BH_SVC_STARTING;
	svc->started_ms = bh_now_ms();
	svc->n_items = 0;
	r = spawn(s, svc);
	if (r < 0) {
		bh_fmt(svc->note, sizeof(svc->note), "cannot start: %s", strerror(-r));
		goto fail;
	}
	r = hold_netns(s, svc);
	if (r == 0)
		r = connect_ctl(s, svc, deadline);
	if (r >= 0) {
		set_timeouts(svc->ctl, deadline);
		r = push(s, svc);
	}
	if (r < 0)
		goto fail;
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

	if (svc->ctl >= 0)
		close(svc->ctl);
	svc->ctl = -1;
	if (svc->hd) {
		/* SIGTERM first: stordomd wipes its keys, vtpmd stores its TPMs. netdomd
		 * has nothing to save (the kernel keeps its rules) and, as pid 1 of its
		 * namespace without a handler, would not even see it. */
		if (svc->dom->role == BH_DOM_NETDOM)
			bh_host_stop(svc->hd);
		else
			bh_host_stop_gently(svc->hd, 3000);
		bh_host_dom_free(svc->hd);
		svc->hd = NULL;
	}
	bh_up_ctl_path(s->o, svc->dom, ctl, sizeof(ctl));
	unlink(ctl);
	svc->state = BH_SVC_STOPPED;
}

/* ------------------------------------------------------------------------
 * Control messages.
 */
static uint32_t next_request = 1;

/* Something the service sent that no request waits for. */
static void unasked(struct bh_sup *s, struct bh_svc *svc, const struct bh_msg_hdr *h,
		    const uint8_t *untrusted_body)
{
	struct bh_msg_drop_event e;
	char src[64], dst[64];

	if (h->type != BH_MSG_DROP_EVENT ||
	    bh_msg_drop_event_decode(untrusted_body, h->length, &e) < 0) {
		bh_debug("%s: ignoring %s", svc->dom->name, bh_msg_type_name(h->type));
		return;
	}
	svc->drops += e.count;
	inet_ntop(e.src.family == 6 ? AF_INET6 : AF_INET, e.src.addr, src, sizeof(src));
	inet_ntop(e.dst.family == 6 ? AF_INET6 : AF_INET, e.dst.addr, dst, sizeof(dst));
	bh_sup_audit(s, "drop", e.guest[0] ? e.guest : "-", "dropped",
		     "%s -> %s proto %u port %u: %u packets", src, dst, e.l4proto, e.dport, e.count);
}

static int read_one(struct bh_svc *svc, struct bh_msg_hdr *h, uint8_t **ret_body)
{
	static uint8_t untrusted_buf[64 << 10];
	int r = bh_msg_read(svc->ctl, h, untrusted_buf, sizeof(untrusted_buf));

	if (r == 0)
		return -ECONNRESET;
	if (r < 0)
		return r == -EAGAIN || r == -EWOULDBLOCK ? -ETIMEDOUT : r;
	*ret_body = untrusted_buf;
	return 0;
}

int bh_ctl_wait(struct bh_sup *s, struct bh_svc *svc, uint16_t want, void *reply, size_t cap)
{
	struct bh_msg_hdr h;
	uint8_t *body;

	for (;;) {
		int r = read_one(svc, &h, &body);

		if (r < 0)
			return r;
		if (h.type != want) {
			unasked(s, svc, &h, body);
			continue;
		}
		if (h.length > cap)
			return -EMSGSIZE;
		memcpy(reply, body, h.length);
		return (int)h.length;
	}
}

int bh_ctl_call(struct bh_sup *s, struct bh_svc *svc, uint16_t type, const void *body,
		size_t len, uint16_t want, void *reply, size_t cap)
{
	int r = bh_msg_write(svc->ctl, type, 0, next_request++, body, len);

	return r < 0 ? r : bh_ctl_wait(s, svc, want, reply, cap);
}

int bh_ctl_drain(struct bh_sup *s, struct bh_svc *svc)
{
	struct pollfd p = { .fd = svc->ctl, .events = POLLIN };

	while (poll(&p, 1, 0) == 1) {
		struct bh_msg_hdr h;
		uint8_t *body;
		int r;

		if (!(p.revents & POLLIN))
			return -ECONNRESET;
		r = read_one(svc, &h, &body);
		if (r < 0)
			return r;
		unasked(s, svc, &h, body);
	}
	return 0;
}
