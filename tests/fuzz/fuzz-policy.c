/* SPDX-License-Identifier: MIT */
/*
 * Fuzz netdom's policy path without netlink: the input is a stream of
 * control messages as dom0 (or a hostile control peer) would send them. Each
 * is fed to nd_policy_feed() exactly as netdomd does; every policy that
 * completes is compiled, and the compiled maps must hold disjoint boxes that
 * each name a rule of the policy. A refused sequence must leave nothing
 * pending and name a rule of its own only when one was sent.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "bulkhead/msg.h"
#include "../../netdom/netdom.h"

/* Small: a guest's vifs x another's x 16 port ranges grows fast; 16 KiB still holds ~80 rules. */
#define FUZZ_MAX_INPUT (16 * 1024)
#define DISJOINT_CHECK_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fields_overlap(const struct nd_map *m, const struct nd_elem *a, const struct nd_elem *b)
{
	unsigned off = 0;

	for (unsigned i = 0; i < m->n_fields; i++) {
		unsigned len = m->field_len[i];

		if (memcmp(a->hi + off, b->lo + off, len) < 0 || memcmp(b->hi + off, a->lo + off, len) < 0)
			return false;
		off += (len + 3u) & ~3u;
	}
	return true;
}

static void check_ruleset(const struct nd_policy *p, const struct nd_ruleset *rs)
{
	for (size_t o = 0; o < rs->n_order; o++) {
		const struct nd_map *m = &rs->maps[rs->order[o]];

		assert(m->n > 0 && m->key_len <= ND_KEY_MAX);
		for (size_t i = 0; i < m->n; i++) {
			assert(m->v[i].rule < p->n_rules);
			for (size_t j = i + 1; m->n <= DISJOINT_CHECK_MAX && j < m->n; j++)
				assert(!fields_overlap(m, &m->v[i], &m->v[j]));
		}
	}
}

static void complete(struct nd_policy *p)
{
	struct nd_ruleset *rs = NULL;
	struct nd_error e = { 0 };

	assert(p->finished);
	if (nd_compile(p, &rs, &e) == 0) {
		check_ruleset(p, rs);
		nd_ruleset_free(rs);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nd_policy *pending = NULL;
	size_t off = 0;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	while (size - off >= BH_MSG_HDR_SIZE) {
		struct nd_error e = { 0 };
		struct bh_msg_hdr h;
		int r;

		if (bh_msg_hdr_decode(data + off, &h) < 0 || h.length > size - off - BH_MSG_HDR_SIZE)
			break;
		off += BH_MSG_HDR_SIZE;
		if (h.type >= BH_MSG_POLICY_BEGIN && h.type <= BH_MSG_POLICY_COMMIT) {
			r = nd_policy_feed(&pending, h.type, data + off, h.length, &e);
			if (r < 0)
				assert(!pending && e.code < 0 && e.text[0]);
			if (r > 0) {
				complete(pending);
				nd_policy_free(pending);
				pending = NULL;
			}
		}
		off += h.length;
	}
	nd_policy_free(pending);
	return 0;
}
