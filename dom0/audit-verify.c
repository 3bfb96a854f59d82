/* SPDX-License-Identifier: MIT */
/*
 * Checking an audit log's chain. Record k (line k) must be a well-formed
 * record with seq k and prev = SHA-256 of line k-1 (BH_AUDIT_GENESIS for
 * k = 1), and end in a newline. The first line that breaks this is named:
 *
 *  - not a record, or no newline (truncated mid-line): that line;
 *  - seq out of order (a record deleted, inserted or moved): that line;
 *  - prev not the hash of line k-1 while the seqs are in order: line k-1,
 *    whose bytes are no longer those its successor was chained to (edited;
 *    or line k's own prev was edited, which the message says).
 *
 * A chain alone cannot show that records were cut from the end: compare
 * the head this prints with one kept elsewhere (the syslog copy carries it).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dom0.h"

void bh_audit_verify_init(struct bh_audit_verify *v)
{
	*v = (struct bh_audit_verify){ 0 };
	memcpy(v->head, BH_AUDIT_GENESIS, sizeof(v->head));
}

static bool bad(struct bh_audit_verify *v, uint64_t line, const char *fmt, ...) _printf_(3, 4);

static bool bad(struct bh_audit_verify *v, uint64_t line, const char *fmt, ...)
{
	va_list ap;

	v->bad_line = line;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
	return false;
}

bool bh_audit_verify_line(struct bh_audit_verify *v, const char *untrusted_line, size_t len,
			  bool complete)
{
	uint64_t line = v->n_records + 1;
	struct bh_audit_rec rec;
	const char *why = NULL;
	char hash[BH_SHA256_HEX_LEN + 1];

	if (v->bad_line)
		return false;
	if (!complete)
		return bad(v, line, "truncated record (no newline at the end of the file)");
	if (len >= BH_AUDIT_RECORD_MAX)
		return bad(v, line, "record longer than %d bytes", BH_AUDIT_RECORD_MAX - 1);
	if (bh_audit_rec_parse(untrusted_line, len, &rec, &why) < 0)
		return bad(v, line, "not a valid record: %s", why);
	if (rec.seq != line)
		return bad(v, line, "seq %llu where %llu was due: a record was deleted, inserted "
			   "or moved here", (unsigned long long)rec.seq, (unsigned long long)line);
	if (memcmp(rec.prev.p, v->head, BH_SHA256_HEX_LEN) != 0) {
		if (line == 1)
			return bad(v, 1, "prev is not the genesis value: records before it were "
				   "deleted, or it was edited");
		v->n_records = line - 2; /* line - 1 is not good after all */
		return bad(v, line - 1, "chain broken: this record's hash is not the prev of line "
			   "%llu (this record edited, records after it deleted and renumbered, or "
			   "that prev edited)", (unsigned long long)line);
	}
	if (bh_sha256_hex(untrusted_line, len, hash) < 0)
		return bad(v, line, "cannot hash the record");
	memcpy(v->head, hash, sizeof(hash));
	v->n_records++;
	return true;
}

void bh_audit_verify_buf(const char *untrusted_data, size_t len, struct bh_audit_verify *ret)
{
	size_t off = 0;

	bh_audit_verify_init(ret);
	while (off < len) {
		const char *nl = memchr(untrusted_data + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (untrusted_data + off)) : len - off;

		if (!bh_audit_verify_line(ret, untrusted_data + off, n, nl != NULL))
			return;
		off += n + 1;
	}
}

int bh_audit_verify_file(const char *path, struct bh_audit_verify *ret)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return -errno;
	bh_audit_verify_init(ret);
	while ((n = getline(&line, &cap, f)) > 0) {
		bool nl = line[n - 1] == '\n';

		/* An embedded NUL is caught by the parser (a control character). */
		if (!bh_audit_verify_line(ret, line, (size_t)n - nl, nl))
			break;
	}
	return ferror(f) ? -EIO : 0;
}
