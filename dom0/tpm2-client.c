/* SPDX-License-Identifier: MIT */
/*
 * dom0 as a client of one guest's vTPM: raw TPM 2.0 commands on the swtpm
 * data socket vtpmd serves (what tpm2-tss's swtpm TCTI sends there too), one
 * command and one response at a time, each bounded by a timeout and by
 * BH_TPM_BUF_MAX. The responses go through the parsers of tpm2-cmd.c.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include "bulkhead/fdio.h"
#include "dom0.h"

#define IO_TIMEOUT_S 30
#define RC_INITIALIZE 0x100u
#define RC_RETRY 0x922u
#define RC_YIELDED 0x908u
#define RC_TESTING 0x90Au
#define RETRIES 8

int bh_tpm_open(const char *path, struct bh_tpm **ret)
{
	const struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	struct bh_tpm *t;
	int fd = bh_unix_connect(path, SOCK_STREAM);

	if (fd < 0)
		return fd;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		close(fd);
		return -ENOMEM;
	}
	t->fd = fd;
	*ret = t;
	return 0;
}

void bh_tpm_close(struct bh_tpm *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

int bh_tpm_why(const struct bh_tpm *t, int r, const char *what, char *buf, size_t len)
{
	char rc[64];

	if (r == -EREMOTEIO)
		snprintf(buf, len, "%s: %s", what, bh_tpm_rc_str(t->rc, rc, sizeof(rc)));
	else
		snprintf(buf, len, "%s: %s", what, strerror(-r));
	return r;
}

const char *bh_tpm_rc_str(uint32_t rc, char *buf, size_t len)
{
	static const struct {
		uint32_t rc;
		const char *name;
	} names[] = {
		{ RC_INITIALIZE, "TPM_RC_INITIALIZE" }, { 0x101, "TPM_RC_FAILURE" },
		{ RC_RETRY, "TPM_RC_RETRY" },           { 0x902, "TPM_RC_OBJECT_MEMORY" },
		{ 0x9a2, "TPM_RC_BAD_AUTH" },          { 0x98e, "TPM_RC_AUTH_FAIL" },
		{ 0x921, "TPM_RC_LOCKOUT" },           { 0x149, "TPM_RC_COMMAND_SIZE" },
	};

	for (size_t i = 0; i < BH_ARRAY_SIZE(names); i++)
		if (names[i].rc == rc) {
			snprintf(buf, len, "%s (0x%x)", names[i].name, rc);
			return buf;
		}
	snprintf(buf, len, "TPM response code 0x%x", rc);
	return buf;
}

/* Send @len bytes of command, receive one response into t->rsp. Its length or -errno. */
static long transact(struct bh_tpm *t, const uint8_t *cmd, size_t len)
{
	uint32_t untrusted_size;
	ssize_t n;
	int r = bh_write_full(t->fd, cmd, len);

	if (r < 0)
		return r == -EAGAIN ? -ETIMEDOUT : r;
	n = bh_read_full(t->fd, t->rsp, 10);
	if (n != 10)
		return n == 0 ? -EPIPE : n == -EAGAIN ? -ETIMEDOUT : n < 0 ? n : -EPIPE;
	untrusted_size = (uint32_t)t->rsp[2] << 24 | (uint32_t)t->rsp[3] << 16 |
			 (uint32_t)t->rsp[4] << 8 | t->rsp[5];
	if (untrusted_size < 10 || untrusted_size > sizeof(t->rsp))
		return -EBADMSG;
	n = bh_read_full(t->fd, t->rsp + 10, untrusted_size - 10);
	if (untrusted_size > 10 && n != (ssize_t)(untrusted_size - 10))
		return n == -EAGAIN ? -ETIMEDOUT : n < 0 ? n : -EPIPE;
	return (long)untrusted_size;
}

static bool transient(uint32_t rc)
{
	return rc == RC_RETRY || rc == RC_YIELDED || rc == RC_TESTING;
}

int bh_tpm_startup(struct bh_tpm *t)
{
	uint8_t cmd[64];
	long n = bh_tpm2_startup_cmd(cmd, sizeof(cmd));
	int r;

	if (n < 0)
		return (int)n;
	n = transact(t, cmd, (size_t)n);
	if (n < 0)
		return (int)n;
	r = bh_tpm2_parse_empty(t->rsp, (size_t)n, false, &t->rc);
	/* Started already (by an earlier command, or the guest): fine. */
	return r == -EREMOTEIO && t->rc == RC_INITIALIZE ? 0 : r;
}

int bh_tpm_banks(struct bh_tpm *t, uint16_t algs[BH_BANKS_MAX], size_t *ret_n)
{
	struct bh_pcrsel sel;
	uint8_t cmd[64];
	size_t k = 0;
	long n = bh_tpm2_getcap_pcrs_cmd(cmd, sizeof(cmd));
	int r;

	if (n >= 0)
		n = transact(t, cmd, (size_t)n);
	if (n < 0)
		return (int)n;
	r = bh_tpm2_parse_getcap_pcrs(t->rsp, (size_t)n, &sel, &t->rc);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sel.n; i++) {
		if (sel.v[i].mask == 0)
			continue;
		if (!bh_tpm_alg_size(sel.v[i].alg) || k == BH_BANKS_MAX)
			return -EOPNOTSUPP;
		for (size_t j = 0; j < k; j++)
			if (algs[j] == sel.v[i].alg)
				return -EBADMSG;
		algs[k++] = sel.v[i].alg;
	}
	if (k == 0)
		return -EBADMSG;
	*ret_n = k;
	return 0;
}

int bh_tpm_start_banks(struct bh_tpm *t, uint16_t algs[BH_BANKS_MAX], size_t *ret_n, char *why,
		       size_t whylen)
{
	int r = bh_tpm_startup(t);

	if (r < 0)
		return bh_tpm_why(t, r, "TPM2_Startup", why, whylen);
	r = bh_tpm_banks(t, algs, ret_n);
	if (r < 0)
		return bh_tpm_why(t, r, "PCR banks", why, whylen);
	return 0;
}

static int bank_index(const uint16_t *algs, size_t n, uint16_t alg)
{
	for (size_t i = 0; i < n; i++)
		if (algs[i] == alg)
			return (int)i;
	return -1;
}

/*
 * Take the values of one PCR_Read response: each returned bank must be one we
 * asked for, each PCR one still missing, each value the bank's size, and the
 * number of values the number of PCRs selected. Clears what it got from @want.
 */
static int take_values(const struct bh_pcrsel *got, const struct bh_digests *vals,
		       struct bh_pcrs *pcrs, uint32_t *want)
{
	size_t k = 0;

	for (size_t i = 0; i < got->n; i++) {
		int b = bank_index(pcrs->algs, pcrs->n_banks, got->v[i].alg);
		size_t size = bh_tpm_alg_size(got->v[i].alg);

		if (b < 0 || (got->v[i].mask & ~want[b]))
			return -EBADMSG;
		for (unsigned p = 0; p < BH_PCR_COUNT; p++) {
			if (!(got->v[i].mask & (1u << p)))
				continue;
			if (k == vals->n || vals->v[k].len != size)
				return -EBADMSG;
			memcpy(pcrs->v[b][p], vals->v[k++].d, size);
		}
		want[b] &= ~got->v[i].mask;
	}
	return k == vals->n && k > 0 ? 0 : -EBADMSG;
}

int bh_tpm_pcr_read(struct bh_tpm *t, uint32_t mask, const uint16_t *algs, size_t n,
		    struct bh_pcrs *ret)
{
	uint32_t want[BH_BANKS_MAX];
	struct bh_pcrs *pcrs;
	uint8_t cmd[128];
	int r = 0;

	if (n == 0 || n > BH_BANKS_MAX || (mask >> BH_PCR_COUNT))
		return -EINVAL;
	pcrs = calloc(1, sizeof(*pcrs));
	if (!pcrs)
		return -ENOMEM;
	pcrs->n_banks = n;
	for (size_t i = 0; i < n; i++) {
		pcrs->algs[i] = algs[i];
		want[i] = mask;
	}
	for (;;) {
		struct bh_pcrsel sel = { 0 }, got;
		struct bh_digests vals;
		long len;

		for (size_t i = 0; i < n; i++)
			if (want[i]) {
				sel.v[sel.n].alg = algs[i];
				sel.v[sel.n++].mask = want[i];
			}
		if (sel.n == 0)
			break;
		len = bh_tpm2_pcr_read_cmd(cmd, sizeof(cmd), &sel);
		if (len >= 0)
			len = transact(t, cmd, (size_t)len);
		r = len < 0 ? (int)len : bh_tpm2_parse_pcr_read(t->rsp, (size_t)len, &got, &vals,
								 &t->rc);
		if (r == 0)
			r = take_values(&got, &vals, pcrs, want);
		if (r < 0)
			break;
	}
	if (r == 0)
		*ret = *pcrs;
	free(pcrs);
	return r;
}

/* Send a command built in @cmd, retrying while the TPM says "later". */
static long transact_retry(struct bh_tpm *t, const uint8_t *cmd, size_t len)
{
	long n = -EIO;

	for (int i = 0; i < RETRIES; i++) {
		n = transact(t, cmd, len);
		/* A TPM error response is exactly a header. */
		if (n != 10 || !transient((uint32_t)t->rsp[6] << 24 | (uint32_t)t->rsp[7] << 16 |
					  (uint32_t)t->rsp[8] << 8 | t->rsp[9]))
			return n;
	}
	return n;
}

int bh_tpm_extend(struct bh_tpm *t, const struct bh_event *ev)
{
	uint8_t cmd[512];
	long n = bh_tpm2_pcr_extend_cmd(cmd, sizeof(cmd), ev->pcr, ev);

	if (n >= 0)
		n = transact_retry(t, cmd, (size_t)n);
	if (n < 0)
		return (int)n;
	return bh_tpm2_parse_empty(t->rsp, (size_t)n, true, &t->rc);
}

int bh_tpm_create_ak(struct bh_tpm *t, struct bh_tpm_ak *ret)
{
	struct bh_tpm_ak ak;
	uint8_t cmd[128];
	long n = bh_tpm2_create_ak_cmd(cmd, sizeof(cmd));
	int r;

	if (n >= 0)
		n = transact_retry(t, cmd, (size_t)n);
	if (n < 0)
		return (int)n;
	r = bh_tpm2_parse_create_ak(t->rsp, (size_t)n, &ak, &t->rc);
	if (r < 0)
		return r;
	/* The name the TPM reports must be the one of the public area it gave. */
	r = bh_ak_check_name(&ak);
	if (r < 0) {
		bh_tpm_flush(t, ak.handle);
		return r;
	}
	*ret = ak;
	return 0;
}

int bh_tpm_quote(struct bh_tpm *t, const struct bh_tpm_ak *ak, const uint8_t *nonce,
		 size_t nonce_len, const struct bh_pcrsel *sel, struct bh_tpm_quote *ret)
{
	uint8_t cmd[256];
	long n = bh_tpm2_quote_cmd(cmd, sizeof(cmd), ak->handle, nonce, nonce_len, sel);

	if (n >= 0)
		n = transact_retry(t, cmd, (size_t)n);
	if (n < 0)
		return (int)n;
	return bh_tpm2_parse_quote(t->rsp, (size_t)n, ret, &t->rc);
}

int bh_tpm_flush(struct bh_tpm *t, uint32_t handle)
{
	uint8_t cmd[32];
	long n = bh_tpm2_flush_cmd(cmd, sizeof(cmd), handle);

	if (n >= 0)
		n = transact(t, cmd, (size_t)n);
	if (n < 0)
		return (int)n;
	return bh_tpm2_parse_empty(t->rsp, (size_t)n, false, &t->rc);
}
