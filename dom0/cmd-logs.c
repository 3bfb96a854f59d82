/* SPDX-License-Identifier: MIT */
/* bulkhead logs [--verify] [--json] (--log FILE | DIR) */
#include <getopt.h>
#include <stdio.h>

#include "bulkhead/log.h"
#include "dom0.h"

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"Usage: bulkhead %s [--verify] [--json] [--log FILE | --socket PATH | DIR]\n\n"
		"Print the audit log: through the management server (default socket\n"
		"%s), or read directly from FILE or DIR's bh_audit_log,\n"
		"one record a line. With --verify, check the hash chain instead: print\n"
		"\"audit log OK\" with the record count and the head hash, or name the first\n"
		"bad record by line and exit 1.\n\n"
		"  --json      print the records as stored (JSON lines)\n"
		"  --log FILE     read FILE\n"
		"  --socket PATH  ask the management server listening at PATH\n",
		prog, BH_MGMT_DEFAULT_SOCKET);
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

/* Print every record of @f; a line that is not one is reported and skipped. */
static int print_records(FILE *f, const char *path, bool json)
{
	_cleanup_free_ char *line = NULL;
	unsigned long lineno = 0, bad = 0;
	size_t cap = 0;
	ssize_t n;

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

static int print_log(const char *path, bool json)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");

	if (!f)
		return bh_log_errno(LOG_ERR, -errno, "cannot open %s", path);
	return print_records(f, path, json);
}

/* Through the management server, which checks the caller may read logs. */
static int remote_log(const char *sock, bool verify, bool json)
{
	struct bh_mgmt_req req = { .op = BH_MGMT_LOGS, .flags = verify ? BH_MGMT_F_VERIFY : 0 };
	_cleanup_free_ char *text = NULL;
	_cleanup_fclose_ FILE *in = NULL;
	size_t len = 0;
	FILE *out = verify ? stdout : open_memstream(&text, &len);
	int r;

	if (!out)
		return -ENOMEM;
	r = bh_mgmt_call(sock, &req, out, stderr);
	if (!verify && fclose(out) != 0 && r == 0)
		r = -ENOMEM;
	if (r < 0 && r != -EBADMSG)
		return bh_log_errno(LOG_ERR, r, "logs via %s", sock);
	if (verify || !len)
		return r;
	in = fmemopen(text, len, "r");
	return in ? print_records(in, sock, json) : -ENOMEM;
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
		{ "log", required_argument, NULL, 'l' }, { "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_free_ char *path = NULL;
	const char *sock = NULL;
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
		} else if (c == 'l' && !path && !sock && (path = strdup(optarg))) {
			continue;
		} else if (c == 's' && !path) {
			sock = optarg;
		} else {
			usage(stderr, argv[0]);
			return 1;
		}
	}
	if (argc - optind > ((path || sock) ? 0 : 1)) {
		usage(stderr, argv[0]);
		return 1;
	}
	if (!path && !sock && optind == argc)
		sock = BH_MGMT_DEFAULT_SOCKET;
	if (sock)
		return remote_log(sock, verify, json) < 0 ? 1 : 0;
	if (!path && topology_log(argv[optind], &path) < 0)
		return 1;
	r = verify ? verify_log(path) : print_log(path, json);
	return r < 0 ? 1 : 0;
}
