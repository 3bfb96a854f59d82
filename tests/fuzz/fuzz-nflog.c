/* SPDX-License-Identifier: MIT */
/*
 * Fuzz netdom's kernel-message parsers: NFLOG (one datagram as read from the
 * NFLOG socket) with drop coalescing, and a ctnetlink dump entry. Every drop reported must carry addresses of
 * one family that the DROP_EVENT codec accepts, and coalescing must keep its
 * table bound.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "bulkhead/msg.h"
#include "../../netdom/netdom.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nd_drops table;

static void on_drop(const struct nd_drop *d, void *arg)
{
	uint8_t body[256];
	struct bh_msg_drop_event ev = { .src = d->src, .dst = d->dst, .l4proto = d->l4proto,
					.dport = d->dport, .count = 1 }, back;
	long n;

	(void)arg;
	assert(d->src.family == d->dst.family);
	assert(d->src.family == 4 || d->src.family == 6);
	n = bh_msg_drop_event_encode(&ev, body, sizeof(body));
	assert(n > 0 && bh_msg_drop_event_decode(body, (size_t)n, &back) == 0);
	nd_drops_add(&table, d->spoof ? "spoofer" : NULL, d);
	assert(table.n <= ND_DROPS_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nd_drop d = { 0 };
	struct nd_flow f;
	const uint8_t *tuple;
	size_t tuple_len;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	nd_drops_reset(&table, 0);
	nd_nflog_parse(data, size, on_drop, NULL);
	if (nd_nflog_packet(data, size, &d) == 0)
		on_drop(&d, NULL);
	/* The same bytes as a conntrack dump entry: the tuple found lies inside the input. */
	if (nd_ct_parse(data, size, &f, &tuple, &tuple_len) == 0)
		assert(tuple >= data && tuple_len <= size - (size_t)(tuple - data) &&
		       (f.fam == 4 || f.fam == 6));
	return 0;
}
