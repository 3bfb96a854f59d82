/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the parsers of what a guest's vTPM answers dom0 (tpm2-cmd.c): the
 * first byte picks the parser (its top bit: a response with sessions, for
 * the empty ones), the rest is the response. Whatever a parser
 * accepts must hold together: sizes within their arrays, an AK whose public
 * area reads back as the same key, a quote whose signature parses alone.
 *
 * Inputs are capped at BH_TPM_BUF_MAX + 1: dom0 never reads a longer response.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../dom0/dom0.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ak(const uint8_t *d, size_t n)
{
	struct bh_tpm_ak ak, again;
	uint32_t rc;

	if (bh_tpm2_parse_create_ak(d, n, &ak, &rc) != 0)
		return;
	if (ak.pub_len > sizeof(ak.pub) || ak.name_len > sizeof(ak.name))
		abort();
	if (bh_tpm2_parse_ak_public(ak.pub, ak.pub_len, &again) != 0 ||
	    memcmp(again.x, ak.x, 32) != 0 || memcmp(again.y, ak.y, 32) != 0)
		abort();
	bh_ak_check_name(&ak);
}

static void check_quote(const uint8_t *d, size_t n)
{
	struct bh_tpm_quote q, again = { 0 };
	struct bh_attest_info a;
	uint32_t rc;

	if (bh_tpm2_parse_quote(d, n, &q, &rc) != 0)
		return;
	if (q.attest_len > sizeof(q.attest) || q.r_len > 32 || q.s_len > 32 ||
	    q.sig_len > sizeof(q.sig))
		abort();
	if (bh_tpm2_parse_signature(q.sig, q.sig_len, &again) != 0 || again.r_len != q.r_len)
		abort();
	if (bh_tpm2_parse_attest(q.attest, q.attest_len, &a) == 0 &&
	    (a.sel.n > BH_PCRSEL_MAX || a.extra_len > sizeof(a.extra)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bh_pcrsel sel;
	struct bh_digests vals;
	struct bh_attest_info a;
	uint32_t rc;

	if (size < 1 || size > BH_TPM_BUF_MAX + 1)
		return 0;
	switch ((data[0] & 0x7f) % 6) {
	case 0:
		bh_tpm2_parse_empty(data + 1, size - 1, data[0] & 0x80, &rc);
		break;
	case 1:
		if (bh_tpm2_parse_getcap_pcrs(data + 1, size - 1, &sel, &rc) == 0 &&
		    sel.n > BH_PCRSEL_MAX)
			abort();
		break;
	case 2:
		if (bh_tpm2_parse_pcr_read(data + 1, size - 1, &sel, &vals, &rc) == 0 &&
		    (vals.n > BH_DIGESTS_MAX || sel.n > BH_PCRSEL_MAX))
			abort();
		break;
	case 3:
		check_ak(data + 1, size - 1);
		break;
	case 4:
		check_quote(data + 1, size - 1);
		break;
	case 5:
		bh_tpm2_parse_attest(data + 1, size - 1, &a);
		break;
	}
	return 0;
}
