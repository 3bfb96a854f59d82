/* SPDX-License-Identifier: MIT */
/*
 * What bulkhead measures into a guest's vTPM before the guest starts
 * (DESIGN.md section 6; bulkhead(8), MEASURED BOOT), in this order:
 *
 *   PCR 1  EV_PLATFORM_CONFIG_FLAGS  the canonical form of the guest's config
 *   PCR 9  EV_IPL                    the kernel (xen) / the command's executable (host)
 *   PCR 9  EV_IPL                    the initramfs (xen, when set) / /bin/sh (host,
 *                                    which runs the command, unless it is the executable)
 *   PCR 8  EV_IPL                    the command line (xen) / bh_host_cmd (host)
 *
 * Event data is the canonical config, the file's path, or "kernel_cmdline: "
 * and the command line with a NUL (GRUB's form); the digests are those of the
 * config text, the file's contents and the command line without prefix or NUL. The same function gives the golden values (bulkhead
 * measure, attest) and the measurements (bh_measure_guest), so they cannot
 * drift apart.
 */
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "bulkhead/parse.h"
#include "dom0.h"

/* ------------------------------------------------------------------------
 * Canonical config.
 */
static bool is_bool_key(const char *k)
{
	return bh_streq(k, "bh_vtpm") || bh_streq(k, "bh_measure") || bh_streq(k, "bh_syslog");
}

static bool is_number_key(const char *k)
{
	return bh_streq(k, "memory") || bh_streq(k, "vcpus") || bh_streq(k, "bh_pids_max");
}

/* Bytes outside printable ASCII, and the backslash, as \xNN: one line per value. */
static void put_escaped(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '\\')
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An xl vif spec: its comma-separated key=value pairs trimmed and sorted (xl
 * reads them in any order). */
static int put_vif(FILE *out, const char *spec)
{
	_cleanup_free_ char *copy = strdup(spec);
	_cleanup_free_ char **parts = NULL;
	size_t n = 0;
	char *save = NULL;

	if (!copy || !(parts = calloc(strlen(spec) + 1, sizeof(*parts))))
		return -ENOMEM;
	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		size_t len;

		p += strspn(p, " \t");
		len = strlen(p);
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			p[--len] = '\0';
		if (len)
			parts[n++] = p;
	}
	qsort(parts, n, sizeof(*parts), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		put_escaped(out, parts[i], strlen(parts[i]));
	}
	return 0;
}

static int put_value(FILE *out, const char *key, const char *v)
{
	uint64_t num;
	bool b;

	if (is_bool_key(key) && bh_parse_bool(v, &b) == 0)
		fputs(b ? "yes" : "no", out);
	else if (is_number_key(key) && bh_parse_u64(v, 0, UINT64_MAX, &num) == 0)
		fprintf(out, "%llu", (unsigned long long)num);
	else if (bh_streq(key, "vif"))
		return put_vif(out, v);
	else
		put_escaped(out, v, strlen(v));
	return 0;
}

static int cmp_val(const void *a, const void *b)
{
	return strcmp((*(const struct bh_cfg_value *const *)a)->key,
		      (*(const struct bh_cfg_value *const *)b)->key);
}

static int put_canonical(FILE *out, const struct bh_cfg_file *f)
{
	_cleanup_free_ const struct bh_cfg_value **vals = calloc(f->n_vals + 1, sizeof(*vals));
	int r = 0;

	if (!vals)
		return -ENOMEM;
	for (size_t i = 0; i < f->n_vals; i++)
		vals[i] = &f->vals[i];
	qsort(vals, f->n_vals, sizeof(*vals), cmp_val);
	fputs("bulkhead-config 1\n", out);
	for (size_t i = 0; i < f->n_vals && r == 0; i++) {
		const struct bh_cfg_value *v = vals[i];

		if (!v->is_list) {
			fprintf(out, "%s=", v->key);
			r = put_value(out, v->key, v->str);
			fputc('\n', out);
		}
		for (size_t k = 0; v->is_list && k < v->n_items && r == 0; k++) {
			fprintf(out, "%s[%zu]=", v->key, k);
			r = put_value(out, v->key, v->items[k]);
			fputc('\n', out);
		}
	}
	return r;
}

int bh_config_canonical(const struct bh_cfg_file *f, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int r;

	if (!out)
		return -ENOMEM;
	r = put_canonical(out, f);
	if (fclose(out) != 0 && r == 0)
		r = -ENOMEM;
	if (r == 0 && len > BH_CANON_MAX)
		r = -EFBIG;
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* ------------------------------------------------------------------------
 * The host platform's "kernel": the executable the command starts.
 */
static bool executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static int search_path(const char *word, char *out, size_t outlen)
{
	const char *dir = BH_HOST_PATH;

	while (*dir) {
		size_t n = strcspn(dir, ":");

		if ((size_t)snprintf(out, outlen, "%.*s/%s", (int)n, dir, word) < outlen &&
		    executable_file(out))
			return 0;
		dir += n + (dir[n] == ':');
	}
	return -ENOENT;
}

int bh_host_cmd_exe(const char *cmd, char *out, size_t outlen)
{
	/* A word with shell syntax in it is the shell's business, not a file name. */
	static const char special[] = "\"'`$\\*?[]{}~=#!";
	char word[PATH_MAX];
	size_t n;

	cmd += strspn(cmd, " \t\n");
	if (bh_startswith(cmd, "exec") && strchr(" \t", cmd[4]) && cmd[4])
		cmd += 4 + strspn(cmd + 4, " \t\n");
	n = strcspn(cmd, " \t\n;&|<>()");
	if (n == 0 || n >= sizeof(word))
		goto shell;
	memcpy(word, cmd, n);
	word[n] = '\0';
	if (strpbrk(word, special))
		goto shell;
	if (word[0] == '/') {
		if ((size_t)snprintf(out, outlen, "%s", word) >= outlen)
			return -ENAMETOOLONG;
		return 0;
	}
	if (!strchr(word, '/') && search_path(word, out, outlen) == 0)
		return 0;
shell:
	if ((size_t)snprintf(out, outlen, "%s", BH_HOST_SHELL) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

/* ------------------------------------------------------------------------
 * Events.
 */
struct measuring {
	struct bh_eventlog *log;
	char *err;
	size_t errlen;
};

static int add_file(struct measuring *m, uint32_t pcr, const char *label, const char *path)
{
	uint8_t d[BH_BANKS_MAX][BH_DIGEST_MAX];
	int r = bh_digest_file(path, m->log->algs, m->log->n_algs, d);

	if (r < 0) {
		snprintf(m->err, m->errlen, "%s %s: %s", label, path, strerror(-r));
		return r;
	}
	return bh_eventlog_add(m->log, pcr, BH_EV_IPL, path, strlen(path),
			       (const uint8_t (*)[BH_DIGEST_MAX])d, label);
}

/*
 * The command line as GRUB logs it: event data "kernel_cmdline: CMDLINE" and
 * its NUL, digests of CMDLINE alone (tpm2_eventlog checks exactly this).
 */
static int add_cmdline(struct measuring *m, const char *cmdline)
{
	uint8_t d[BH_BANKS_MAX][BH_DIGEST_MAX];
	_cleanup_free_ char *data = NULL;
	int len = asprintf(&data, "kernel_cmdline: %s", cmdline);

	if (len < 0) {
		data = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->log->n_algs; i++) {
		int r = bh_digest(m->log->algs[i], cmdline, strlen(cmdline), d[i]);

		if (r < 0)
			return r;
	}
	return bh_eventlog_add(m->log, BH_PCR_CMDLINE, BH_EV_IPL, data, (size_t)len + 1,
			       (const uint8_t (*)[BH_DIGEST_MAX])d, "command line");
}

static int add_config(struct measuring *m, const struct bh_domain *dom)
{
	_cleanup_free_ char *canon = NULL;
	size_t len;
	int r = bh_config_canonical(dom->cfg, &canon, &len);

	if (r < 0) {
		snprintf(m->err, m->errlen, "canonical config of %s: %s", dom->cfg->path,
			 strerror(-r));
		return r;
	}
	return bh_eventlog_add_data(m->log, BH_PCR_CONFIG, BH_EV_PLATFORM_CONFIG_FLAGS, canon, len,
				    "config");
}

static int add_host(struct measuring *m, const struct bh_domain *dom)
{
	char exe[PATH_MAX];
	int r;

	if (!dom->host_cmd) {
		snprintf(m->err, m->errlen, "guest '%s' has no bh_host_cmd", dom->name);
		return -EINVAL;
	}
	r = bh_host_cmd_exe(dom->host_cmd, exe, sizeof(exe));
	if (r == 0)
		r = add_file(m, BH_PCR_KERNEL, "kernel", exe);
	if (r == 0 && !bh_streq(exe, BH_HOST_SHELL))
		r = add_file(m, BH_PCR_KERNEL, "shell", BH_HOST_SHELL);
	if (r == 0)
		r = add_cmdline(m, dom->host_cmd);
	return r;
}

static int add_xen(struct measuring *m, const struct bh_domain *dom)
{
	const char *cmdline = dom->cmdline ? dom->cmdline : "";
	int r;

	if (!dom->kernel) {
		snprintf(m->err, m->errlen, "guest '%s' has no kernel", dom->name);
		return -EINVAL;
	}
	r = add_file(m, BH_PCR_KERNEL, "kernel", dom->kernel);
	if (r == 0 && dom->ramdisk)
		r = add_file(m, BH_PCR_KERNEL, "initramfs", dom->ramdisk);
	if (r == 0)
		r = add_cmdline(m, cmdline);
	return r;
}

int bh_measure_events(const struct bh_domain *dom, enum bh_platform platform,
		      const uint16_t *algs, size_t n_algs, struct bh_eventlog **ret, char *err,
		      size_t errlen)
{
	struct measuring m = { .err = err, .errlen = errlen };
	int r;

	if (dom->role != BH_DOM_GUEST) {
		snprintf(err, errlen, "'%s' is not a guest", dom->name);
		return -EINVAL;
	}
	r = bh_eventlog_new(algs, n_algs, &m.log);
	if (r < 0) {
		snprintf(err, errlen, "bad set of banks");
		return r;
	}
	r = add_config(&m, dom);
	if (r == 0)
		r = platform == BH_PLATFORM_XEN ? add_xen(&m, dom) : add_host(&m, dom);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		bh_eventlog_free(m.log);
		return r;
	}
	*ret = m.log;
	return 0;
}

const char *bh_eventlog_path(const struct bh_topology *t, const char *guest, char *buf,
			     size_t len)
{
	snprintf(buf, len, "%s/eventlog/%s.bin",
		 t && t->state_dir ? t->state_dir : "/var/lib/bulkhead", guest);
	return buf;
}

/* ------------------------------------------------------------------------
 * Measuring for real.
 */
/* The measured PCRs must be untouched: the log replays from zero. */
static int check_fresh(struct bh_tpm *t, const struct bh_eventlog *log, char *err, size_t errlen)
{
	static const uint8_t zero[BH_DIGEST_MAX];
	_cleanup_free_ struct bh_pcrs *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	r = bh_tpm_pcr_read(t, BH_PCRS_MEASURED, log->algs, log->n_algs, p);
	if (r < 0)
		return bh_tpm_why(t, r, "PCR_Read", err, errlen);
	for (size_t b = 0; b < p->n_banks; b++)
		for (unsigned pcr = 0; pcr < BH_PCR_COUNT; pcr++)
			if ((BH_PCRS_MEASURED & (1u << pcr)) &&
			    memcmp(p->v[b][pcr], zero, bh_tpm_alg_size(p->algs[b])) != 0) {
				bh_fmt(err, errlen,
				     "PCR %u (%s) was extended since the vTPM started; measuring needs a freshly started vTPM",
				     pcr, bh_tpm_alg_name(p->algs[b]));
				return -EEXIST;
			}
	return 0;
}

static int ensure_dir_of(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	const char *dir;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int measure_into(struct bh_tpm *t, const struct bh_domain *dom, enum bh_platform platform,
			const char *log_path, char *err, size_t errlen)
{
	uint16_t algs[BH_BANKS_MAX];
	struct bh_eventlog *log = NULL;
	size_t n_algs;
	int r = bh_tpm_start_banks(t, algs, &n_algs, err, errlen);

	if (r < 0)
		return r;
	r = bh_measure_events(dom, platform, algs, n_algs, &log, err, errlen);
	if (r < 0)
		return r;
	r = check_fresh(t, log, err, errlen);
	for (size_t i = 0; r == 0 && i < log->n; i++) {
		r = bh_tpm_extend(t, &log->v[i]);
		if (r < 0)
			bh_tpm_why(t, r, "PCR_Extend", err, errlen);
	}
	if (r == 0) {
		r = ensure_dir_of(log_path);
		if (r == 0)
			r = bh_eventlog_write_file(log, log_path);
		if (r < 0)
			bh_fmt(err, errlen, "event log %s: %s", log_path, strerror(-r));
	}
	bh_eventlog_free(log);
	return r;
}

int bh_measure_guest(const struct bh_topology *t, const struct bh_domain *dom,
		     enum bh_platform platform, const char *tpm_sock, const char *log_path,
		     char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct bh_tpm *tpm = NULL;
	int r;

	if (dom->role != BH_DOM_GUEST || !dom->vtpm) {
		bh_fmt(err, errlen, "'%s' is not a guest with a vTPM (bh_vtpm)", dom->name);
		return -EINVAL;
	}
	if (!log_path)
		log_path = bh_eventlog_path(t, dom->name, path, sizeof(path));
	r = bh_tpm_open(tpm_sock, &tpm);
	if (r < 0) {
		bh_fmt(err, errlen, "vTPM %s: %s", tpm_sock, strerror(-r));
		return r;
	}
	r = measure_into(tpm, dom, platform, log_path, err, errlen);
	bh_tpm_close(tpm);
	return r;
}
