/* SPDX-License-Identifier: MIT */
/*
 * netdomd's control messages (from a unix socket, a file, later a channel):
 * assemble a policy sequence, apply it on COMMIT, answer COUNTERS_GET and
 * PING. netdomd never parses config text: what arrives here is dom0's typed
 * policy. Connections and drop events are serve.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "netdom.h"

struct keep_arg {
	const struct nd_ruleset *rs;
	const struct nd_flows *ix;
};

static bool keep_flow(const struct nd_flow *f, void *arg)
{
	const struct keep_arg *k = arg;

	return nd_flow_allowed(k->rs, k->ix, f);
}

/*
 * Established flows the new policy forbids lose their conntrack entry, so
 * their next packet meets the forward chain and its policy drop; flows it
 * still allows keep theirs (and their replies keep passing as established).
 */
static void cut_forbidden_flows(const struct nd_ruleset *rs, uint64_t generation)
{
	struct nd_flows ix;
	struct keep_arg k = { rs, &ix };
	int r = nd_flows_index(rs->p, &ix);

	if (r == 0)
		r = nd_conntrack_prune(keep_flow, &k);
	nd_flows_free(&ix);
	if (r < 0)
		bh_warn("pruning conntrack after generation %llu: %s",
			(unsigned long long)generation, strerror(-r));
	else if (r > 0)
		bh_info("generation %llu: cut %d established flow(s) it forbids",
			(unsigned long long)generation, r);
}

int nd_daemon_init(struct nd_daemon *d)
{
	uint64_t gen = 0;
	int r;

	memset(d, 0, sizeof(*d));
	d->nflog_fd = -1;
	r = nd_nft_open(&d->nft);
	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "netlink");
	r = nd_nft_generation(d->nft, &gen);
	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "reading table inet " ND_TABLE);
	if (r > 0) {
		/* Adopt: the kernel already enforces it; touching nothing leaves no window. */
		d->generation = gen;
		bh_notice("adopted table inet %s, generation %llu", ND_TABLE,
			  (unsigned long long)gen);
		return 0;
	}
	return nd_daemon_apply_closed(d);
}

/* No table at all: install "nothing allowed" before anything else happens (fail closed). */
int nd_daemon_apply_closed(struct nd_daemon *d)
{
	struct nd_policy *p = NULL;
	struct nd_ruleset *rs = NULL;
	struct nd_error e = { 0 };
	int r = nd_policy_closed(&p);

	if (r == 0)
		r = nd_compile(p, &rs, &e);
	if (r == 0)
		r = nd_nft_apply(d->nft, rs, &e);
	if (r == 0)
		cut_forbidden_flows(rs, 0);
	nd_ruleset_free(rs);
	nd_policy_free(p);
	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "installing the closed policy: %s", e.text);
	bh_notice("no table inet %s found: installed the closed policy", ND_TABLE);
	return 0;
}

void nd_daemon_fini(struct nd_daemon *d)
{
	for (size_t i = 0; i < d->n_conns; i++)
		nd_conn_close(&d->conns[i]);
	if (d->nflog_fd >= 0)
		close(d->nflog_fd);
	nd_policy_free(d->policy);
	nd_nft_close(d->nft);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int apply(struct nd_daemon *d, struct nd_policy *p, struct nd_error *e)
{
	struct nd_ruleset *rs = NULL;
	struct timespec t0;
	double t_compile;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = nd_compile(p, &rs, e);
	t_compile = ms_since(&t0);
	if (r == 0)
		r = nd_nft_apply(d->nft, rs, e);
	bh_debug("generation %llu: compiled in %.1f ms, committed in %.1f ms",
		 (unsigned long long)p->generation, t_compile, ms_since(&t0) - t_compile);
	if (r == 0)
		cut_forbidden_flows(rs, p->generation);
	nd_ruleset_free(rs);
	if (r < 0)
		return r;
	d->generation = p->generation;
	if (d->policy != p)
		nd_policy_free(d->policy);
	d->policy = p;
	return 0;
}

int nd_send(int fd, uint16_t type, uint16_t flags, uint32_t req, const void *body, long len)
{
	if (len < 0)
		return (int)len;
	if (fd < 0)
		return 0; /* nobody to tell (netdomd --policy) */
	return bh_msg_write(fd, type, (uint8_t)flags, req, body, (size_t)len);
}

static int reply(int fd, uint16_t type, uint32_t req, const void *body, long len)
{
	return nd_send(fd, type, BH_MSGF_REPLY, req, body, len);
}

static int send_result(struct nd_daemon *d, int fd, uint32_t req, const struct nd_error *e)
{
	struct bh_msg_policy_result m = { .generation = d->generation };
	uint8_t body[512];

	if (e) {
		m.status = e->code;
		m.rule_id = e->rule_id;
		snprintf(m.text, sizeof(m.text), "%s", e->text);
	}
	d->last_status = m.status;
	return reply(fd, BH_MSG_POLICY_RESULT, req, body,
		     bh_msg_policy_result_encode(&m, body, sizeof(body)));
}

static int send_counters(struct nd_daemon *d, int fd, uint32_t req)
{
	_cleanup_free_ struct bh_msg_counter *v = NULL;
	_cleanup_free_ uint8_t *body = NULL;
	size_t n = 0, cap = 20 + 20 * (size_t)BH_COUNTERS_PER_MSG;
	int r = nd_nft_counters(d->nft, &v, &n);

	body = malloc(cap);
	if (r == 0 && !body)
		r = -ENOMEM;
	for (size_t first = 0; r == 0 && (first < n || first == 0); first += BH_COUNTERS_PER_MSG) {
		struct bh_msg_counters m = { d->generation, (uint32_t)n, (uint32_t)first, 0, NULL };

		m.n = (uint32_t)(n - first < BH_COUNTERS_PER_MSG ? n - first : BH_COUNTERS_PER_MSG);
		m.v = v + first;
		r = reply(fd, BH_MSG_COUNTERS, req, body, bh_msg_counters_encode(&m, body, cap));
		if (n == 0)
			break;
	}
	return r;
}

int nd_daemon_handle(struct nd_daemon *d, struct nd_conn *c, const struct bh_msg_hdr *h,
		     const uint8_t *untrusted_body)
{
	struct nd_error e = { 0 };
	struct bh_msg_ping ping;
	int r;

	switch (h->type) {
	case BH_MSG_PING:
		if (bh_msg_ping_decode(untrusted_body, h->length, &ping) < 0)
			return -EBADMSG;
		return reply(c->out, BH_MSG_PONG, h->request_id, untrusted_body, h->length);
	case BH_MSG_COUNTERS_GET:
		return send_counters(d, c->out, h->request_id);
	case BH_MSG_POLICY_BEGIN ... BH_MSG_POLICY_COMMIT:
		r = nd_policy_feed(&c->pending, h->type, untrusted_body, h->length, &e);
		if (r == 0)
			return 0;
		if (r > 0) {
			r = apply(d, c->pending, &e);
			if (r < 0)
				nd_policy_free(c->pending); /* else d->policy owns it */
			c->pending = NULL;
		}
		if (r < 0)
			bh_err("policy refused, generation %llu stays: %s",
			       (unsigned long long)d->generation, e.text);
		else
			bh_notice("generation %llu in force", (unsigned long long)d->generation);
		return send_result(d, c->out, h->request_id, r < 0 ? &e : NULL);
	default:
		bh_warn("ignoring %s", bh_msg_type_name(h->type));
		return 0;
	}
}
