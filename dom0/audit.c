/* SPDX-License-Identifier: MIT */
/*
 * The audit log writer. Append-only: the file is opened O_APPEND, never
 * rewritten, and every record is chained to the line before it (see
 * audit-verify.c). Several writers (the management server, a CLI command)
 * may share one file: each append takes an exclusive flock, reads the last
 * line back from disk, chains to it, writes the record with one write() and
 * fsyncs it before the lock is dropped. An audit record is written once per
 * control action, so one fsync per record costs nothing that matters and
 * means an acknowledged action is never missing from the log after a crash.
 */
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "bulkhead/log.h"
#include "dom0.h"

struct bh_audit {
	int fd;
	bool syslog;
	bool no_fsync;
	char *syslog_path;
	unsigned syslog_errors;
};

static int mkdir_parent(const char *path)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int bh_audit_open(const char *path, const struct bh_audit_opts *opts, struct bh_audit **ret)
{
	static const struct bh_audit_opts none = { 0 };
	struct bh_audit *a;
	int r;

	opts = opts ? opts : &none;
	r = mkdir_parent(path);
	if (r < 0)
		return r;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->syslog = opts->syslog;
	a->no_fsync = opts->no_fsync;
	a->syslog_path = strdup(opts->syslog_path ? opts->syslog_path : BH_SYSLOG_DEFAULT_SOCKET);
	a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (a->fd < 0 || !a->syslog_path) {
		r = a->fd < 0 ? -errno : -ENOMEM;
		bh_audit_close(a);
		return r;
	}
	*ret = a;
	return 0;
}

void bh_audit_close(struct bh_audit *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	free(a->syslog_path);
	free(a);
}

unsigned bh_audit_syslog_errors(const struct bh_audit *a)
{
	return a->syslog_errors;
}

const char *bh_audit_path(const struct bh_topology *t, char *buf, size_t buflen)
{
	if (t && t->audit_log)
		return t->audit_log;
	snprintf(buf, buflen, "%s/audit.jsonl", t && t->state_dir ? t->state_dir : "/var/lib/bulkhead");
	return buf;
}

/*
 * Read the last line of the file (under the lock) into @ret_seq and its hash
 * into @ret_hash; an empty file gives seq 0 and the genesis value. A file
 * that does not end in a whole, parseable record is -EBADMSG: chaining to it
 * would bury the damage, so the caller refuses to write.
 */
static int read_tail(int fd, uint64_t *ret_seq, char ret_hash[BH_SHA256_HEX_LEN + 1])
{
	char buf[BH_AUDIT_RECORD_MAX + 1];
	struct bh_audit_rec rec;
	const char *why, *start;
	struct stat st;
	size_t n;
	ssize_t got;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size == 0) {
		*ret_seq = 0;
		memcpy(ret_hash, BH_AUDIT_GENESIS, BH_SHA256_HEX_LEN + 1);
		return 0;
	}
	n = st.st_size < (off_t)sizeof(buf) ? (size_t)st.st_size : sizeof(buf);
	got = pread(fd, buf, n, st.st_size - (off_t)n);
	if (got != (ssize_t)n)
		return got < 0 ? -errno : -EIO;
	if (buf[n - 1] != '\n')
		return -EBADMSG;
	n--;
	start = memrchr(buf, '\n', n);
	start = start ? start + 1 : buf;
	if (start == buf && n == sizeof(buf) - 1 && (off_t)sizeof(buf) < st.st_size)
		return -EBADMSG; /* longer than any record we write */
	if (bh_audit_rec_parse(start, n - (size_t)(start - buf), &rec, &why) < 0)
		return -EBADMSG;
	*ret_seq = rec.seq;
	return bh_sha256_hex(start, n - (size_t)(start - buf), ret_hash);
}

/* "2026-11-05T12:34:56.789Z" (RFC 3339, UTC, milliseconds). */
static void timestamp(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;

	char date[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(date, sizeof(date), "1970-01-01T00:00:00");
	snprintf(out, len, "%s.%03uZ", date, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

static void quote_field(FILE *out, const char *key, const char *s)
{
	size_t len = s ? strnlen(s, BH_AUDIT_FIELD_MAX) : 0;

	fprintf(out, ",\"%s\":", key);
	bh_json_quote(out, s ? s : "", len);
}

static void user_name(uint32_t uid, char *out, size_t len)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	out[0] = '\0';
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(out, len, "%s", pw.pw_name);
}

struct record {
	char *p;
	size_t len;
	char ts[48];
};

static int format_record(struct record *rec, uint64_t seq, const char *prev,
			 const struct bh_audit_actor *actor, const char *const f[4])
{
	static const char *const keys[] = { "action", "target", "result", "detail" };
	FILE *out = open_memstream(&rec->p, &rec->len);
	char user[256];

	if (!out)
		return -ENOMEM;
	user_name(actor->uid, user, sizeof(user));
	timestamp(rec->ts, sizeof(rec->ts));
	fprintf(out, "{\"seq\":%llu,\"ts\":\"%s\",\"actor\":{\"uid\":%u,\"user\":",
		(unsigned long long)seq, rec->ts, actor->uid);
	bh_json_quote(out, user, strlen(user));
	fprintf(out, ",\"pid\":%d}", actor->pid < 0 ? 0 : actor->pid);
	for (size_t i = 0; i < BH_ARRAY_SIZE(keys); i++)
		quote_field(out, keys[i], f[i]);
	fprintf(out, ",\"prev\":\"%s\"}\n", prev);
	if (fclose(out) != 0)
		return -ENOMEM;
	return rec->len > BH_AUDIT_RECORD_MAX ? -E2BIG : 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void forward(struct bh_audit *a, const struct record *rec, uint64_t seq,
		    const char *prev, const char *result)
{
	bool bad = result && (bh_streq(result, "refused") || bh_streq(result, "failed"));
	char host[256] = "", msg[BH_AUDIT_RECORD_MAX + 512];
	long n;

	gethostname(host, sizeof(host) - 1);
	n = bh_syslog_format(msg, sizeof(msg), bad ? LOG_WARNING : LOG_NOTICE, rec->ts, host,
			     (long)getpid(), seq, prev, rec->p, rec->len - 1);
	if (n < 0 || bh_syslog_send(a->syslog_path, msg, (size_t)n) < 0)
		a->syslog_errors++;
}

int bh_audit_append(struct bh_audit *a, const struct bh_audit_actor *actor, const char *action,
		    const char *target, const char *result, const char *detail)
{
	const char *const f[4] = { action, target, result, detail };
	char prev[BH_SHA256_HEX_LEN + 1];
	struct record rec = { 0 };
	uint64_t seq;
	int r;

	if (flock(a->fd, LOCK_EX) < 0)
		return -errno;
	r = read_tail(a->fd, &seq, prev);
	if (r == 0)
		r = format_record(&rec, seq + 1, prev, actor, f);
	if (r == 0)
		r = write_all(a->fd, rec.p, rec.len);
	if (r == 0 && !a->no_fsync && fsync(a->fd) < 0)
		r = -errno;
	flock(a->fd, LOCK_UN);
	if (r == 0 && a->syslog)
		forward(a, &rec, seq + 1, prev, result);
	free(rec.p);
	return r;
}
