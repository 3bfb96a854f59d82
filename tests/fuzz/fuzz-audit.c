/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the audit log reader: the chain verifier over arbitrary files, the
 * record parser on every line, and a property of the writer's quoting: any
 * bytes, quoted by bh_json_quote(), make a string the strict parser accepts.
 *
 * Inputs are capped at 64 KiB: records are at most 8 KiB, a few lines are
 * enough to reach every state of the verifier.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../dom0/dom0.h"

#define FUZZ_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quote_roundtrip(const uint8_t *data, size_t size)
{
	struct bh_audit_rec rec;
	const char *why = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	fputs("{\"seq\":1,\"ts\":\"\",\"actor\":{\"uid\":0,\"user\":\"\",\"pid\":0},\"action\":", f);
	bh_json_quote(f, (const char *)data, size < 1024 ? size : 1024);
	fputs(",\"target\":\"\",\"result\":\"\",\"detail\":\"\",\"prev\":\"" BH_AUDIT_GENESIS "\"}", f);
	if (fclose(f) == 0 && bh_audit_rec_parse(buf, len, &rec, &why) != 0)
		abort(); /* the writer produced a record the reader refuses */
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bh_audit_verify v;
	size_t off = 0;

	if (size > FUZZ_MAX)
		return 0;
	bh_audit_verify_buf((const char *)data, size, &v);
	if (v.bad_line == 0 && v.n_records == 0 && size != 0)
		abort(); /* a non-empty file is either records or a bad line */
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (data + off)) : size - off;
		struct bh_audit_rec rec;
		const char *why = NULL;

		if (bh_audit_rec_parse((const char *)data + off, n, &rec, &why) < 0 && !why)
			abort(); /* every refusal says why */
		off += n + 1;
	}
	quote_roundtrip(data, size);
	return 0;
}
