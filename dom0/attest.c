/* SPDX-License-Identifier: MIT */
/*
 * Attestation of a guest (bulkhead attest; bulkhead(8), MEASURED BOOT):
 *
 *  1. read the guest's event log (untrusted: it is also the guest's to see);
 *  2. have its vTPM create the AK (a primary under the endorsement hierarchy
 *     from a fixed template, so the same key every time) and quote PCRs 1, 8
 *     and 9 of the SHA-256 bank with a fresh random nonce (one bank, so that
 *     tpm2_checkquote can check the same quote against tpm2_pcrread's values);
 *  3. verify the quote here, with OpenSSL and not the TPM: ECDSA signature by
 *     the AK, the AK's qualified name as signer, TPM_GENERATED magic, quote
 *     type, our nonce, our PCR selection, and the PCR digest against the log
 *     replayed; the other banks, read after the quote, must replay too;
 *  4. compare the log, event by event, with the golden events computed from
 *     the config (measure.c), or read from an expected log saved earlier
 *     (bulkhead measure --event-log), and report the first that differs.
 *
 * Step 3 proves the log is what the vTPM measured; step 4 that what it
 * measured is what the config says.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "bulkhead/fdio.h"
#include "dom0.h"

int bh_ak_check_name(const struct bh_tpm_ak *ak)
{
	uint8_t d[BH_SHA256_LEN];

	if (ak->name_len != 2 + BH_SHA256_LEN || ak->pub_len < 2 || ak->name[0] != 0 ||
	    ak->name[1] != BH_TPM_ALG_SHA256)
		return -EBADMSG;
	if (bh_sha256(ak->pub + 2, ak->pub_len - 2, d) < 0)
		return -EIO;
	return memcmp(d, ak->name + 2, sizeof(d)) == 0 ? 0 : -EBADMSG;
}

int bh_pcrs_digest(const struct bh_pcrs *pcrs, const struct bh_pcrsel *sel, uint16_t alg,
		   uint8_t *ret, size_t *ret_len)
{
	uint8_t buf[BH_PCRSEL_MAX * BH_PCR_COUNT * BH_DIGEST_MAX / 4];
	size_t len = 0;

	for (size_t i = 0; i < sel->n; i++) {
		size_t b = 0, size = bh_tpm_alg_size(sel->v[i].alg);

		while (b < pcrs->n_banks && pcrs->algs[b] != sel->v[i].alg)
			b++;
		if (b == pcrs->n_banks || (sel->v[i].mask >> BH_PCR_COUNT))
			return -EINVAL;
		for (unsigned p = 0; p < BH_PCR_COUNT; p++) {
			if (!(sel->v[i].mask & (1u << p)))
				continue;
			if (size > sizeof(buf) - len)
				return -EINVAL;
			memcpy(buf + len, pcrs->v[b][p], size);
			len += size;
		}
	}
	*ret_len = bh_tpm_alg_size(alg);
	return bh_digest(alg, buf, len, ret);
}

/*
 * A quote names its signer by qualified name: for a primary, nameAlg ||
 * H(handle of its hierarchy || name) (TPM 2.0 Part 1, 16 "Names").
 */
static int ak_qualified_name(const struct bh_tpm_ak *ak, uint8_t ret[2 + BH_SHA256_LEN])
{
	static const uint8_t endorsement[4] = { 0x40, 0x00, 0x00, 0x0b };
	uint8_t buf[sizeof(endorsement) + sizeof(ak->name)];

	if (ak->name_len > sizeof(ak->name))
		return -EINVAL;
	memcpy(buf, endorsement, sizeof(endorsement));
	memcpy(buf + sizeof(endorsement), ak->name, ak->name_len);
	ret[0] = 0;
	ret[1] = BH_TPM_ALG_SHA256;
	return bh_sha256(buf, sizeof(endorsement) + ak->name_len, ret + 2);
}

static bool same_sel(const struct bh_pcrsel *a, const struct bh_pcrsel *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].alg != b->v[i].alg || a->v[i].mask != b->v[i].mask)
			return false;
	return true;
}

static void hex_short(const uint8_t *p, size_t n, char *out)
{
	bh_hex(p, n > 16 ? 16 : n, out);
	if (n > 16)
		strcat(out, "..");
}

int bh_quote_verify(const struct bh_tpm_ak *ak, const struct bh_tpm_quote *q,
		    const uint8_t *nonce, size_t nonce_len, const struct bh_pcrsel *sel,
		    const struct bh_pcrs *expected, char *why, size_t whylen)
{
	struct bh_attest_info a;
	uint8_t digest[BH_DIGEST_MAX], qname[2 + BH_SHA256_LEN];
	char got[40], want[40];
	size_t dlen = 0;
	int r;

	r = bh_ecdsa_p256_verify(ak->x, ak->y, q->attest, q->attest_len, q->r, q->r_len, q->s,
				 q->s_len);
	if (r < 0) {
		bh_fmt(why, whylen, "the quote's signature does not verify with the AK");
		return r == -EIO ? r : -EPERM;
	}
	if (bh_tpm2_parse_attest(q->attest, q->attest_len, &a) < 0) {
		bh_fmt(why, whylen, "the signed data is not a TPM-generated quote (TPMS_ATTEST)");
		return -EBADMSG;
	}
	r = ak_qualified_name(ak, qname);
	if (r < 0) {
		bh_fmt(why, whylen, "cannot compute the AK's qualified name");
		return r;
	}
	if (a.signer_len != sizeof(qname) || memcmp(a.signer, qname, sizeof(qname)) != 0) {
		bh_fmt(why, whylen, "the quote names another signer than the AK");
		return -EPERM;
	}
	if (a.extra_len != nonce_len || memcmp(a.extra, nonce, nonce_len) != 0) {
		hex_short(a.extra, a.extra_len, got);
		hex_short(nonce, nonce_len, want);
		bh_fmt(why, whylen, "the quote is for nonce %s, not this attestation's %s (an old or replayed quote)",
		    got, want);
		return -EPERM;
	}
	if (!same_sel(&a.sel, sel)) {
		bh_fmt(why, whylen, "the quote covers other PCRs than those asked for");
		return -EPERM;
	}
	r = bh_pcrs_digest(expected, sel, BH_TPM_ALG_SHA256, digest, &dlen);
	if (r < 0) {
		bh_fmt(why, whylen, "cannot compute the expected PCR digest");
		return r;
	}
	if (a.pcr_digest_len != dlen || memcmp(a.pcr_digest, digest, dlen) != 0) {
		bh_fmt(why, whylen, "the quoted PCRs are not those the event log replays to");
		return -EPERM;
	}
	return 0;
}

/* False when a digest differs, with the bank to report (SHA-256 when it is one). */
static bool same_digests(const struct bh_event *a, const struct bh_event *b, size_t *ret_bank)
{
	bool same = true;

	for (size_t k = 0; k < a->n_digests; k++)
		if (a->digests[k].alg != b->digests[k].alg ||
		    memcmp(a->digests[k].d, b->digests[k].d, bh_tpm_alg_size(a->digests[k].alg))) {
			if (same || a->digests[k].alg == BH_TPM_ALG_SHA256)
				*ret_bank = k;
			same = false;
		}
	return same;
}

/* For text events (the config): the first line that differs, appended to @why. */
static void explain_text(const struct bh_event *g, const struct bh_event *e, char *why,
			 size_t whylen)
{
	size_t used = strlen(why), i = 0, line = 0, gl, el;

	if (g->type != BH_EV_PLATFORM_CONFIG_FLAGS)
		return;
	while (i < g->len && i < e->len && g->data[i] == e->data[i])
		if (g->data[i++] == '\n')
			line = i;
	for (gl = line; gl < g->len && g->data[gl] != '\n'; gl++)
		;
	for (el = line; el < e->len && e->data[el] != '\n'; el++)
		;
	snprintf(why + used, whylen - used, "; expected \"%.*s\", measured \"%.*s\"",
		 (int)(gl - line > 80 ? 80 : gl - line), (const char *)g->data + line,
		 (int)(el - line > 80 ? 80 : el - line), (const char *)e->data + line);
}

int bh_eventlog_compare(const struct bh_eventlog *golden, const struct bh_eventlog *log,
			char *why, size_t whylen)
{
	char desc[256], got[40], want[40];
	size_t i, k = 0;

	if (golden->n_algs != log->n_algs ||
	    memcmp(golden->algs, log->algs, golden->n_algs * sizeof(golden->algs[0]))) {
		bh_fmt(why, whylen, "the event log's banks are not the ones expected");
		return -EPERM;
	}
	for (i = 0; i < golden->n && i < log->n; i++) {
		const struct bh_event *g = &golden->v[i], *e = &log->v[i];

		bh_event_describe(golden, i, desc, sizeof(desc));
		if (g->pcr != e->pcr || g->type != e->type) {
			bh_fmt(why, whylen, "%s: the log has PCR %u, type 0x%x there", desc, e->pcr,
			    e->type);
			return -EPERM;
		}
		if (!same_digests(g, e, &k)) {
			hex_short(e->digests[k].d, bh_tpm_alg_size(e->digests[k].alg), got);
			hex_short(g->digests[k].d, bh_tpm_alg_size(g->digests[k].alg), want);
			bh_fmt(why, whylen, "%s differs: %s %s measured, %s expected",
			    desc, bh_tpm_alg_name(g->digests[k].alg), got, want);
			explain_text(g, e, why, whylen);
			return -EPERM;
		}
		if (g->len != e->len || memcmp(g->data, e->data, g->len) != 0) {
			bh_fmt(why, whylen, "%s: the log's event data differs", desc);
			return -EPERM;
		}
	}
	if (i < log->n) {
		bh_event_describe(log, i, desc, sizeof(desc));
		bh_fmt(why, whylen, "%s was measured but is not expected", desc);
		return -EPERM;
	}
	if (i < golden->n) {
		bh_event_describe(golden, i, desc, sizeof(desc));
		bh_fmt(why, whylen, "%s is expected but missing from the log", desc);
		return -EPERM;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Saved quotes: the files tpm2_checkquote reads.
 */
static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	return bh_write_full(fd, data, len);
}

static int save_quote(const char *dir, const struct bh_tpm_ak *ak, const struct bh_tpm_quote *q,
		      const uint8_t *nonce, size_t nonce_len)
{
	char path[PATH_MAX];
	_cleanup_fclose_ FILE *pem = NULL;
	int r;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	r = write_file(dir, "ak.pub", ak->pub, ak->pub_len);
	if (r == 0)
		r = write_file(dir, "quote.msg", q->attest, q->attest_len);
	if (r == 0)
		r = write_file(dir, "quote.sig", q->sig, q->sig_len);
	if (r == 0)
		r = write_file(dir, "nonce", nonce, nonce_len);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/ak.pem", dir);
	pem = fopen(path, "we");
	if (!pem)
		return -errno;
	r = bh_p256_pem(ak->x, ak->y, pem);
	return r == 0 && fflush(pem) != 0 ? -EIO : r;
}

static int read_small(const char *dir, const char *name, uint8_t *buf, size_t cap, size_t *ret_len)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap);
	if (n < 0)
		return -errno;
	if ((size_t)n == cap)
		return -EFBIG;
	*ret_len = (size_t)n;
	return 0;
}

static int load_quote(const char *dir, struct bh_tpm_ak *ak, struct bh_tpm_quote *q, char *why,
		      size_t whylen)
{
	uint8_t buf[BH_TPM_ATTEST_MAX + 1];
	size_t len = 0;
	int r = read_small(dir, "ak.pub", buf, sizeof(buf), &len);

	if (r == 0 && bh_tpm2_parse_ak_public(buf, len, ak) < 0)
		r = -EBADMSG;
	if (r == 0) {
		/* The name is ours to compute: nameAlg || SHA-256(TPMT_PUBLIC). */
		ak->name[0] = 0;
		ak->name[1] = BH_TPM_ALG_SHA256;
		ak->name_len = 2 + BH_SHA256_LEN;
		r = bh_sha256(ak->pub + 2, ak->pub_len - 2, ak->name + 2);
	}
	if (r == 0)
		r = read_small(dir, "quote.msg", q->attest, sizeof(q->attest), &q->attest_len);
	if (r == 0)
		r = read_small(dir, "quote.sig", buf, sizeof(buf), &len);
	if (r == 0 && bh_tpm2_parse_signature(buf, len, q) < 0)
		r = -EBADMSG;
	if (r < 0)
		bh_fmt(why, whylen, "saved quote in %s: %s", dir, strerror(-r));
	return r;
}

/* ------------------------------------------------------------------------
 * Asking the vTPM.
 */
struct asked {
	struct bh_tpm_ak ak;
	struct bh_tpm_quote q;
	struct bh_pcrs pcrs; /* read after the quote, to explain a mismatch */
	bool have_pcrs;
};

static bool same_banks(const uint16_t *a, size_t na, const uint16_t *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;

		while (j < nb && b[j] != a[i])
			j++;
		if (j == nb)
			return false;
	}
	return true;
}

static int ask_tpm(struct bh_tpm *t, const struct bh_eventlog *log, const uint8_t *nonce,
		   size_t nonce_len, const struct bh_pcrsel *sel, struct asked *a, char *why,
		   size_t whylen)
{
	uint16_t algs[BH_BANKS_MAX];
	size_t n_algs;
	int r = bh_tpm_start_banks(t, algs, &n_algs, why, whylen);

	if (r < 0)
		return r;
	if (!same_banks(algs, n_algs, log->algs, log->n_algs)) {
		bh_fmt(why, whylen, "the vTPM's active PCR banks are not those of the event log");
		return -EPERM;
	}
	r = bh_tpm_create_ak(t, &a->ak);
	if (r < 0)
		return bh_tpm_why(t, r, "creating the AK", why, whylen);
	r = bh_tpm_quote(t, &a->ak, nonce, nonce_len, sel, &a->q);
	if (r < 0)
		bh_tpm_why(t, r, "TPM2_Quote", why, whylen);
	/* Transient objects outlive the connection without a resource manager. */
	bh_tpm_flush(t, a->ak.handle);
	if (r < 0)
		return r;
	r = bh_tpm_pcr_read(t, BH_PCRS_MEASURED, log->algs, log->n_algs, &a->pcrs);
	if (r < 0)
		return bh_tpm_why(t, r, "PCR_Read", why, whylen);
	a->have_pcrs = true;
	return 0;
}

/*
 * The first measured PCR in which the vTPM (read after the quote) and the
 * replayed log disagree, appended to @why; false when they agree. This is how
 * the banks outside the quote are checked, and what explains a bad digest.
 */
static bool explain_pcrs(const struct asked *a, const struct bh_pcrs *replayed, uint16_t first,
			 char *why, size_t whylen)
{
	size_t used = strlen(why);

	/* Bank @first (the quoted one) first, then the others. */
	for (size_t i = 0; a->have_pcrs && i < 2 * replayed->n_banks; i++)
		for (unsigned p = 0; p < BH_PCR_COUNT; p++) {
			size_t b = i % replayed->n_banks;
			size_t size = bh_tpm_alg_size(replayed->algs[b]);
			char got[40], want[40];

			if ((i < replayed->n_banks) != (replayed->algs[b] == first) ||
			    !(BH_PCRS_MEASURED & (1u << p)) ||
			    memcmp(a->pcrs.v[b][p], replayed->v[b][p], size) == 0)
				continue;
			hex_short(a->pcrs.v[b][p], size, got);
			hex_short(replayed->v[b][p], size, want);
			snprintf(why + used, whylen - used,
				 "%sPCR %u %s: %s in the vTPM, %s from the log%s", used ? " (" : "",
				 p, bh_tpm_alg_name(replayed->algs[b]), got, want, used ? ")" : "");
			return true;
		}
	return false;
}

struct attesting {
	const struct bh_topology *t;
	const struct bh_domain *dom;
	enum bh_platform platform;
	const struct bh_attest_opts *o;
	struct bh_eventlog *log, *golden;
	struct bh_pcrsel sel;
	uint8_t nonce[BH_NONCE_MAX];
	size_t nonce_len;
	struct asked asked;
	struct bh_pcrs replayed;
	char *why;
	size_t whylen;
};

static int get_quote(struct attesting *s)
{
	struct bh_tpm *tpm = NULL;
	int r;

	if (s->o->quote_from)
		return load_quote(s->o->quote_from, &s->asked.ak, &s->asked.q, s->why, s->whylen);
	if (!s->o->tpm_sock) {
		bh_fmt(s->why, s->whylen, "no vTPM socket given");
		return -EINVAL;
	}
	r = bh_tpm_open(s->o->tpm_sock, &tpm);
	if (r < 0) {
		bh_fmt(s->why, s->whylen, "vTPM %s: %s", s->o->tpm_sock, strerror(-r));
		return r;
	}
	r = ask_tpm(tpm, s->log, s->nonce, s->nonce_len, &s->sel, &s->asked, s->why, s->whylen);
	bh_tpm_close(tpm);
	if (r == 0 && s->o->save_dir) {
		r = save_quote(s->o->save_dir, &s->asked.ak, &s->asked.q, s->nonce, s->nonce_len);
		if (r < 0)
			bh_fmt(s->why, s->whylen, "saving the quote in %s: %s", s->o->save_dir,
			    strerror(-r));
	}
	return r;
}

static int prepare(struct attesting *s)
{
	char path[PATH_MAX], why[256];
	const char *log_path = s->o->log_path;
	int r;

	if (!log_path)
		log_path = bh_eventlog_path(s->t, s->dom->name, path, sizeof(path));
	r = bh_eventlog_read_file(log_path, &s->log, why, sizeof(why));
	if (r < 0) {
		bh_fmt(s->why, s->whylen, "event log %s", why);
		return r == -EBADMSG ? -EPERM : r;
	}
	if (s->o->nonce) {
		if (s->o->nonce_len > BH_NONCE_MAX)
			return -EINVAL;
		memcpy(s->nonce, s->o->nonce, s->o->nonce_len);
		s->nonce_len = s->o->nonce_len;
	} else {
		if (getrandom(s->nonce, BH_NONCE_LEN, 0) != BH_NONCE_LEN) {
			bh_fmt(s->why, s->whylen, "getrandom: %s", strerror(errno));
			return -EIO;
		}
		s->nonce_len = BH_NONCE_LEN;
	}
	/* The quote covers the SHA-256 bank (the others are read, see check_banks()). */
	s->sel.n = 1;
	s->sel.v[0].alg = s->log->algs[0];
	s->sel.v[0].mask = BH_PCRS_MEASURED;
	for (size_t i = 0; i < s->log->n_algs; i++)
		if (s->log->algs[i] == BH_TPM_ALG_SHA256)
			s->sel.v[0].alg = BH_TPM_ALG_SHA256;
	return 0;
}

/* The golden events: a saved expected log, else computed from the config and files now. */
static int golden(struct attesting *s)
{
	char why[256];
	int r;

	if (!s->o->golden_path)
		return bh_measure_events(s->dom, s->platform, s->log->algs, s->log->n_algs,
					 &s->golden, s->why, s->whylen);
	r = bh_eventlog_read_file(s->o->golden_path, &s->golden, why, sizeof(why));
	if (r < 0)
		bh_fmt(s->why, s->whylen, "golden event log %s", why);
	return r;
}

static int run(struct attesting *s)
{
	char name[2 * BH_SHA256_LEN + 1];
	int r = prepare(s);

	if (r == 0)
		r = get_quote(s);
	if (r == 0)
		r = bh_eventlog_replay(s->log, &s->replayed);
	if (r == 0) {
		r = bh_quote_verify(&s->asked.ak, &s->asked.q, s->nonce, s->nonce_len, &s->sel,
				    &s->replayed, s->why, s->whylen);
		if (r == -EPERM && strstr(s->why, "replays"))
			explain_pcrs(&s->asked, &s->replayed, s->sel.v[0].alg, s->why, s->whylen);
		if (r == -EBADMSG)
			r = -EPERM;
	}
	if (r == 0) {
		s->why[0] = '\0';
		if (explain_pcrs(&s->asked, &s->replayed, s->sel.v[0].alg, s->why, s->whylen))
			r = -EPERM;
	}
	if (r == 0)
		r = golden(s);
	if (r == 0)
		r = bh_eventlog_compare(s->golden, s->log, s->why, s->whylen);
	if (r == 0) {
		bh_hex(s->asked.ak.name + 2, 8, name);
		bh_fmt(s->why, s->whylen,
		    "%zu events match the golden values; quote of PCRs 1, 8, 9 (%s) verified%s (AK %s..)",
		    s->log->n, bh_tpm_alg_name(s->sel.v[0].alg),
		    s->asked.have_pcrs ? ", every bank as the log replays" : "", name);
	}
	return r;
}

int bh_attest_guest(const struct bh_topology *t, const struct bh_domain *dom,
		    enum bh_platform platform, const struct bh_attest_opts *o, char *why,
		    size_t whylen)
{
	struct attesting *s;
	int r;

	if (dom->role != BH_DOM_GUEST || !dom->vtpm) {
		bh_fmt(why, whylen, "'%s' is not a guest with a vTPM (bh_vtpm)", dom->name);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (struct attesting){ .t = t, .dom = dom, .platform = platform, .o = o, .why = why,
				 .whylen = whylen };
	r = run(s);
	bh_eventlog_free(s->log);
	bh_eventlog_free(s->golden);
	free(s);
	return r;
}
