/* SPDX-License-Identifier: MIT */
/* bulkhead logs [--verify] [--json] (--log FILE | DIR) */
#include <getopt.h>
#include <stdio.h>

#include "bulkhead/log.h"
#include "dom0.h"

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: bulkhead %s [--verify] [--json] (--log FILE | DIR)\n\n"
		"Print the audit log of the topology in DIR (bh_audit_log in host.cfg) or FILE,\n"
		"one record a line. With --verify, check the hash chain instead: print\n"
		"\"audit log OK\" with the record count and the head hash, or name the first\n"
		"bad record by line and exit 1.\n\n"
		"  --json      print the records as stored (JSON lines)\n"
		"  --log FILE  read FILE instead of the topology's log\n",
		prog);
}

static void print_span(const struct bh_json_span *s)
{
	/* The escaped form as stored: no raw control characters reach the terminal. */
	if (s->len)
		printf(" %.*s", (int)s->len, s->p);
	else
		printf(" -");
}

static void print_record(const struct bh_audit_rec *r)
{
	printf("%6llu %.*s %.*s(%llu) pid=%llu", (unsigned long long)r->seq, (int)r->ts.len,
	       r->ts.p, (int)r->user.len, r->user.p, (unsigned long long)r->uid,
	       (unsigned long long)r->pid);
	print_span(&r->action);
	print_span(&r->target);
	print_span(&r->result);
	if (r->detail.len)
		printf(" (%.*s)", (int)r->detail.len, r->detail.p);
	putchar('\n');
}

/* Print every record; a line that is not one is reported and skipped. */
static int print_log(const char *path, bool json)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	unsigned long lineno = 0, bad = 0;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return bh_log_errno(LOG_ERR, -errno, "cannot open %s", path);
	while ((n = getline(&line, &cap, f)) > 0) {
		struct bh_audit_rec rec;
		const char *why = NULL;
		size_t len = (size_t)n - (line[n - 1] == '\n');

		lineno++;
		if (bh_audit_rec_parse(line, len, &rec, &why) < 0) {
			bh_warn("%s:%lu: not a valid record: %s", path, lineno, why);
			bad++;
		} else if (json) {
			printf("%.*s\n", (int)len, line);
		} else {
			print_record(&rec);
		}
	}
	return bad ? -EBADMSG : 0;
}

static int verify_log(const char *path)
{
	struct bh_audit_verify v;
	int r = bh_audit_verify_file(path, &v);

	if (r < 0)
		return bh_log_errno(LOG_ERR, r, "cannot read %s", path);
	if (v.bad_line) {
		printf("%s:%llu: %s\n", path, (unsigned long long)v.bad_line, v.why);
		printf("audit log BROKEN: first bad record at line %llu (%llu good records before "
		       "it)\n", (unsigned long long)v.bad_line, (unsigned long long)v.n_records);
		return -EBADMSG;
	}
	printf("audit log OK: %llu records, head %s\n", (unsigned long long)v.n_records, v.head);
	return 0;
}

/* The log named by DIR's host.cfg (the topology is loaded, not validated). */
static int topology_log(const char *dir, char **ret)
{
	struct bh_diags diags = { 0 };
	struct bh_topology *t = NULL;
	char buf[4096];
	int r = bh_topology_load(dir, &diags, &t);

	if (r == 0 && !t->host_cfg)
		r = -ENOENT;
	if (r == 0 && !(*ret = strdup(bh_audit_path(t, buf, sizeof(buf)))))
		r = -ENOMEM;
	bh_topology_free(t);
	bh_diags_clear(&diags);
	if (r < 0)
		bh_log_errno(LOG_ERR, r, "cannot find the audit log of %s", dir);
	return r;
}

int bh_cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verify", no_argument, NULL, 'v' }, { "json", no_argument, NULL, 'j' },
		{ "log", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_free_ char *path = NULL;
	bool verify = false, json = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout, argv[0]);
			return 0;
		} else if (c == 'v') {
			verify = true;
		} else if (c == 'j') {
			json = true;
		} else if (c == 'l' && !path && (path = strdup(optarg))) {
			continue;
		} else {
			usage(stderr, argv[0]);
			return 1;
		}
	}
	if ((path && optind != argc) || (!path && argc - optind != 1)) {
		usage(stderr, argv[0]);
		return 1;
	}
	if (!path && topology_log(argv[optind], &path) < 0)
		return 1;
	r = verify ? verify_log(path) : print_log(path, json);
	return r < 0 ? 1 : 0;
}
