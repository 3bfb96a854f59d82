/* SPDX-License-Identifier: MIT */
/*
 * TCG2 event logs in the PC Client "crypto agile" format (TCG PC Client
 * Platform Firmware Profile, section 10): first a TCG_PCClientPCREvent in the
 * old SHA-1 layout carrying the Spec ID Event (EV_NO_ACTION, PCR 0, the
 * banks and their digest sizes), then one TCG_PCR_EVENT2 per measurement
 * with a digest for every bank. Little-endian throughout, as the spec says
 * (unlike the TPM's own big-endian wire format).
 *
 * A log read back is untrusted (it sits in the state directory and is shown
 * to the guest): every size is checked against what remains, digests only
 * for the banks the header declared, each exactly once.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include <stdarg.h>

#include "bulkhead/cursor.h"
#include "bulkhead/fdio.h"
#include "dom0.h"

#define SPEC_ID_SIGNATURE "Spec ID Event03" /* with its NUL: 16 bytes */
#define SPEC_ID_VENDOR "bulkhead"
#define EVENTS_MAX 65536u

int bh_eventlog_new(const uint16_t *algs, size_t n_algs, struct bh_eventlog **ret)
{
	struct bh_eventlog *log;

	if (n_algs == 0 || n_algs > BH_BANKS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n_algs; i++)
		if (!bh_tpm_alg_size(algs[i]))
			return -EINVAL;
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->n_algs = n_algs;
	memcpy(log->algs, algs, n_algs * sizeof(*algs));
	*ret = log;
	return 0;
}

void bh_eventlog_free(struct bh_eventlog *log)
{
	if (!log)
		return;
	for (size_t i = 0; i < log->n; i++)
		free(log->v[i].data);
	free(log->v);
	free(log);
}

int bh_eventlog_add(struct bh_eventlog *log, uint32_t pcr, uint32_t type, const void *data,
		    size_t len, const uint8_t (*digests)[BH_DIGEST_MAX], const char *label)
{
	struct bh_event *ev;
	uint8_t *copy;

	if (pcr >= BH_PCR_COUNT || len > BH_EVENT_DATA_MAX || log->n >= EVENTS_MAX)
		return -EINVAL;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	ev = bh_array_push(&log->v, &log->n, sizeof(*ev));
	if (!ev) {
		free(copy);
		return -ENOMEM;
	}
	*ev = (struct bh_event){ .pcr = pcr, .type = type, .n_digests = log->n_algs,
				 .data = copy, .len = len, .label = label };
	for (size_t i = 0; i < log->n_algs; i++) {
		ev->digests[i].alg = log->algs[i];
		memcpy(ev->digests[i].d, digests[i], bh_tpm_alg_size(log->algs[i]));
	}
	return 0;
}

int bh_eventlog_add_data(struct bh_eventlog *log, uint32_t pcr, uint32_t type, const void *data,
			 size_t len, const char *label)
{
	uint8_t d[BH_BANKS_MAX][BH_DIGEST_MAX];

	for (size_t i = 0; i < log->n_algs; i++) {
		int r = bh_digest(log->algs[i], data, len, d[i]);

		if (r < 0)
			return r;
	}
	return bh_eventlog_add(log, pcr, type, data, len, (const uint8_t (*)[BH_DIGEST_MAX])d,
			       label);
}

/* ------------------------------------------------------------------------
 * Writing: a growable little-endian buffer.
 */
struct lebuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void put(struct lebuf *b, const void *src, size_t n)
{
	if (b->err)
		return;
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *p;

		while (n > cap - b->len) {
			if (cap > BH_EVENTLOG_MAX) {
				b->err = -EFBIG;
				return;
			}
			cap *= 2;
		}
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void put_le(struct lebuf *b, uint64_t v, size_t n)
{
	uint8_t x[8];

	for (size_t i = 0; i < n; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	put(b, x, n);
}

static void put_spec_id(struct lebuf *b, const struct bh_eventlog *log)
{
	static const uint8_t zero[20];
	size_t size = 16 + 4 + 4 + 4 + 4 * log->n_algs + 1 + strlen(SPEC_ID_VENDOR);

	put_le(b, 0, 4);               /* pcrIndex */
	put_le(b, BH_EV_NO_ACTION, 4); /* eventType */
	put(b, zero, sizeof(zero));    /* digest (SHA-1 layout) */
	put_le(b, size, 4);
	put(b, SPEC_ID_SIGNATURE, 16);
	put_le(b, 0, 4); /* platformClass: client */
	put_le(b, 0, 1); /* specVersionMinor */
	put_le(b, 2, 1); /* specVersionMajor */
	put_le(b, 0, 1); /* specErrata */
	put_le(b, 2, 1); /* uintnSize: 64-bit */
	put_le(b, log->n_algs, 4);
	for (size_t i = 0; i < log->n_algs; i++) {
		put_le(b, log->algs[i], 2);
		put_le(b, bh_tpm_alg_size(log->algs[i]), 2);
	}
	put_le(b, strlen(SPEC_ID_VENDOR), 1);
	put(b, SPEC_ID_VENDOR, strlen(SPEC_ID_VENDOR));
}

int bh_eventlog_encode(const struct bh_eventlog *log, uint8_t **ret, size_t *ret_len)
{
	struct lebuf b = { 0 };

	put_spec_id(&b, log);
	for (size_t i = 0; i < log->n; i++) {
		const struct bh_event *ev = &log->v[i];

		put_le(&b, ev->pcr, 4);
		put_le(&b, ev->type, 4);
		put_le(&b, ev->n_digests, 4);
		for (size_t k = 0; k < ev->n_digests; k++) {
			put_le(&b, ev->digests[k].alg, 2);
			put(&b, ev->digests[k].d, bh_tpm_alg_size(ev->digests[k].alg));
		}
		put_le(&b, ev->len, 4);
		put(&b, ev->data, ev->len);
	}
	if (b.err) {
		free(b.p);
		return b.err;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}

int bh_eventlog_write_file(const struct bh_eventlog *log, const char *path)
{
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;
	int r = bh_eventlog_encode(log, &buf, &len);

	if (r < 0)
		return r;
	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	r = bh_write_full(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* ------------------------------------------------------------------------
 * Reading.
 */
/* A little-endian field of @n <= 4 bytes; 0 once the cursor has failed. */
static uint32_t get_le(struct bh_cursor *c, size_t n)
{
	const uint8_t *p = NULL;
	uint32_t v = 0;

	if (bh_cursor_ref(c, n, &p) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

_printf_(3, 4) static int bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static int parse_spec_id(struct bh_cursor *c, uint16_t *algs, size_t *ret_n, char *why,
			 size_t whylen)
{
	static const uint8_t zero[20];
	const uint8_t *digest = NULL, *sig = NULL;
	uint32_t pcr = get_le(c, 4), type = get_le(c, 4), size, n;
	struct bh_cursor e;
	const uint8_t *data = NULL;

	bh_cursor_ref(c, 20, &digest);
	size = get_le(c, 4);
	bh_cursor_ref(c, size, &data);
	if (c->err)
		return bad(why, whylen, "event 0 (Spec ID): truncated");
	if (pcr != 0 || type != BH_EV_NO_ACTION || memcmp(digest, zero, 20) != 0)
		return bad(why, whylen, "event 0 is not a Spec ID event (not a crypto-agile log)");
	bh_cursor_init(&e, data, size);
	bh_cursor_ref(&e, 16, &sig);
	bh_cursor_skip(&e, 4 + 4); /* platformClass; version, errata, uintnSize */
	n = get_le(&e, 4);
	if (e.err || memcmp(sig, SPEC_ID_SIGNATURE, 16) != 0)
		return bad(why, whylen, "event 0: not a \"Spec ID Event03\"");
	if (n == 0 || n > BH_BANKS_MAX)
		return bad(why, whylen, "event 0: %u banks (1..%d)", n, BH_BANKS_MAX);
	for (uint32_t i = 0; i < n; i++) {
		uint16_t alg = (uint16_t)get_le(&e, 2), dsize = (uint16_t)get_le(&e, 2);

		if (e.err)
			return bad(why, whylen, "event 0: truncated");
		if (!bh_tpm_alg_size(alg) || bh_tpm_alg_size(alg) != dsize)
			return bad(why, whylen, "event 0: bank 0x%04x of %u bytes is not one bulkhead knows", alg, dsize);
		for (uint32_t j = 0; j < i; j++)
			if (algs[j] == alg)
				return bad(why, whylen, "event 0: bank %s twice", bh_tpm_alg_name(alg));
		algs[i] = alg;
	}
	bh_cursor_skip(&e, get_le(&e, 1)); /* vendorInfo */
	if (bh_cursor_finish(&e) < 0)
		return bad(why, whylen, "event 0: wrong size");
	*ret_n = n;
	return 0;
}

static int parse_event(struct bh_cursor *c, struct bh_eventlog *log, size_t idx, char *why,
		       size_t whylen)
{
	uint8_t d[BH_BANKS_MAX][BH_DIGEST_MAX];
	uint32_t pcr = get_le(c, 4), type = get_le(c, 4), count = get_le(c, 4), size;
	bool seen[BH_BANKS_MAX] = { false };
	const uint8_t *data = NULL;

	if (c->err)
		return bad(why, whylen, "event %zu: truncated", idx);
	if (pcr >= BH_PCR_COUNT)
		return bad(why, whylen, "event %zu: PCR %u", idx, pcr);
	if (count != log->n_algs)
		return bad(why, whylen, "event %zu: %u digests, the header declares %zu banks", idx,
			   count, log->n_algs);
	for (uint32_t i = 0; i < count; i++) {
		uint16_t alg = (uint16_t)get_le(c, 2);
		size_t k = 0;

		while (k < log->n_algs && log->algs[k] != alg)
			k++;
		if (c->err || k == log->n_algs || seen[k])
			return bad(why, whylen, "event %zu: digest %u: bank 0x%04x unexpected", idx,
				   i + 1, alg);
		seen[k] = true;
		bh_cursor_bytes(c, d[k], bh_tpm_alg_size(alg));
	}
	size = get_le(c, 4);
	if (!c->err && size > BH_EVENT_DATA_MAX)
		return bad(why, whylen, "event %zu: %u bytes of data", idx, size);
	bh_cursor_ref(c, size, &data);
	if (c->err)
		return bad(why, whylen, "event %zu: truncated", idx);
	return bh_eventlog_add(log, pcr, type, data, size, (const uint8_t (*)[BH_DIGEST_MAX])d,
			       NULL);
}

int bh_eventlog_parse(const void *untrusted, size_t len, struct bh_eventlog **ret, char *why,
		      size_t whylen)
{
	uint16_t algs[BH_BANKS_MAX];
	struct bh_eventlog *log = NULL;
	struct bh_cursor c;
	size_t n_algs = 0;
	int r;

	if (len > BH_EVENTLOG_MAX)
		return bad(why, whylen, "larger than %u bytes", BH_EVENTLOG_MAX);
	bh_cursor_init(&c, untrusted, len);
	r = parse_spec_id(&c, algs, &n_algs, why, whylen);
	if (r < 0)
		return r;
	r = bh_eventlog_new(algs, n_algs, &log);
	while (r == 0 && bh_cursor_remaining(&c) > 0) {
		if (log->n >= EVENTS_MAX)
			r = bad(why, whylen, "more than %u events", EVENTS_MAX);
		else
			r = parse_event(&c, log, log->n + 1, why, whylen);
	}
	if (r < 0) {
		bh_eventlog_free(log);
		return r;
	}
	*ret = log;
	return 0;
}

int bh_eventlog_read_file(const char *path, struct bh_eventlog **ret, char *why, size_t whylen)
{
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0) {
		int r = -errno;

		snprintf(why, whylen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > BH_EVENTLOG_MAX)
		return bad(why, whylen, "%s: not a regular file of at most %u bytes", path,
			   BH_EVENTLOG_MAX);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	n = bh_read_full(fd, buf, (size_t)st.st_size);
	if (n != st.st_size) {
		snprintf(why, whylen, "%s: short read", path);
		return n < 0 ? (int)n : -EIO;
	}
	return bh_eventlog_parse(buf, (size_t)n, ret, why, whylen);
}

int bh_eventlog_replay(const struct bh_eventlog *log, struct bh_pcrs *ret)
{
	uint8_t in[2 * BH_DIGEST_MAX];
	struct bh_pcrs *p = calloc(1, sizeof(*p));
	int r = 0;

	if (!p)
		return -ENOMEM;
	p->n_banks = log->n_algs;
	memcpy(p->algs, log->algs, sizeof(p->algs));
	for (size_t i = 0; i < log->n && r == 0; i++) {
		const struct bh_event *ev = &log->v[i];

		/* EV_NO_ACTION events are information, never extended. */
		if (ev->type == BH_EV_NO_ACTION)
			continue;
		for (size_t b = 0; b < log->n_algs && r == 0; b++) {
			size_t size = bh_tpm_alg_size(log->algs[b]);

			memcpy(in, p->v[b][ev->pcr], size);
			memcpy(in + size, ev->digests[b].d, size);
			r = bh_digest(log->algs[b], in, 2 * size, p->v[b][ev->pcr]);
		}
	}
	if (r == 0)
		*ret = *p;
	free(p);
	return r;
}

static const char *type_name(uint32_t type)
{
	switch (type) {
	case BH_EV_NO_ACTION:
		return "EV_NO_ACTION";
	case BH_EV_PLATFORM_CONFIG_FLAGS:
		return "EV_PLATFORM_CONFIG_FLAGS";
	case BH_EV_IPL:
		return "EV_IPL";
	}
	return NULL;
}

void bh_event_describe(const struct bh_eventlog *log, size_t i, char *out, size_t outlen)
{
	const struct bh_event *ev = &log->v[i];
	const char *tn = type_name(ev->type);
	char tbuf[16], data[64];
	size_t k = 0;

	if (!tn) {
		snprintf(tbuf, sizeof(tbuf), "type 0x%x", ev->type);
		tn = tbuf;
	}
	/* The first line of the data, printable bytes only, bounded. */
	for (; k < ev->len && k < sizeof(data) - 4 && ev->data[k] != '\n' && ev->data[k]; k++)
		data[k] = ev->data[k] >= 0x20 && ev->data[k] < 0x7f ? (char)ev->data[k] : '.';
	if (k < ev->len && ev->data[k] != '\n' && ev->data[k])
		data[k++] = '.', data[k++] = '.';
	data[k] = '\0';
	if (ev->label)
		snprintf(out, outlen, "event %zu (PCR %u, %s, %s: \"%s\")", i + 1, ev->pcr, tn,
			 ev->label, data);
	else
		snprintf(out, outlen, "event %zu (PCR %u, %s, \"%s\")", i + 1, ev->pcr, tn, data);
}
