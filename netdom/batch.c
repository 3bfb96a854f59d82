/* SPDX-License-Identifier: MIT */
/*
 * The bookkeeping of an nfnetlink batch, apart from building its messages
 * (nft.c does that with libnftnl): the growing buffer, the sequence numbers,
 * and for each message the policy rule or table object it came from, which
 * is how a kernel error is reported against a rule (as nftables'
 * mnl_batch_talk maps errors to command lines).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netdom.h"

char *nd_batch_room(struct nd_batch *b)
{
	if (b->err)
		return NULL;
	if (b->cap - b->len < ND_MSG_ROOM) {
		size_t ncap = b->cap ? b->cap * 2 : 4 * ND_MSG_ROOM;
		char *nb = realloc(b->buf, ncap);

		if (!nb) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->buf = nb;
		b->cap = ncap;
	}
	return b->buf + b->len;
}

int nd_batch_record(struct nd_batch *b)
{
	if (b->n_orig == b->cap_orig) {
		size_t ncap = b->cap_orig ? b->cap_orig * 2 : 1024;
		struct nd_origin *no = reallocarray(b->orig, ncap, sizeof(*no));

		if (!no) {
			b->err = -ENOMEM;
			return -ENOMEM;
		}
		b->orig = no;
		b->cap_orig = ncap;
	}
	b->orig[b->n_orig++] = b->cur;
	return 0;
}

void nd_batch_done(struct nd_batch *b, uint32_t msg_len)
{
	if (msg_len > ND_MSG_ROOM)
		abort(); /* a programmer error: too many elements per message for ND_MSG_ROOM */
	b->len += msg_len;
	b->seq++;
}

void nd_batch_origin(struct nd_batch *b, int64_t rule, const char *what)
{
	b->cur = (struct nd_origin){ rule, what, rule };
}

bool nd_batch_spans_rules(const struct nd_batch *b, uint32_t seq)
{
	const struct nd_origin *o = &b->orig[seq - b->seq0];

	return o->rule >= 0 && o->rule_last != o->rule;
}

bool nd_batch_owns(const struct nd_batch *b, uint32_t seq)
{
	return seq >= b->seq0 && seq - b->seq0 < b->n_orig;
}

void nd_batch_error(const struct nd_batch *b, uint32_t seq, int code, struct nd_error *e)
{
	const struct nd_origin *o = &b->orig[seq - b->seq0];
	char name[BH_POLICY_LABEL_MAX + 32];

	if (o->rule >= 0) {
		const struct nd_rule *r = &b->rs->p->rules[o->rule];

		nd_rule_name(r, name, sizeof(name));
		nd_error_set(e, code, r->m.id, "%s: kernel refused it: %s", name, strerror(-code));
	} else {
		nd_error_set(e, code, 0, "kernel refused %s: %s", o->what ? o->what : "table",
			     strerror(-code));
	}
}

void nd_batch_free(struct nd_batch *b)
{
	free(b->buf);
	free(b->orig);
}

int nd_counters_push(struct nd_counter_list *l, const struct bh_msg_counter *c)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 256;
		struct bh_msg_counter *nv = reallocarray(l->v, ncap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = *c;
	return 0;
}
