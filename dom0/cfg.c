/* SPDX-License-Identifier: MIT */
/*
 * The libxlutil adapter: the only file that includes <libxlutil.h>.
 *
 * Values always come from libxlutil, so a file means to bulkhead exactly what
 * it means to xl. The scanner (cfg-scan.c) supplies what libxlutil does not:
 * which keys are set, and on which lines. libxlutil's own complaints, written
 * to a FILE*, are captured and re-emitted as "file:line: message".
 */
#include <libxlutil.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead/parse.h"
#include "dom0.h"

struct report {
	FILE *f;
	char *buf;
	size_t size;
};

static int report_open(struct report *r)
{
	r->buf = NULL;
	r->size = 0;
	r->f = open_memstream(&r->buf, &r->size);
	return r->f ? 0 : -ENOMEM;
}

static void report_close(struct report *r)
{
	if (r->f)
		fclose(r->f);
	free(r->buf);
	r->f = NULL;
	r->buf = NULL;
}

/*
 * One report line: "PATH:N: message" keeps its line; anything else (the
 * "looks like Python" hints) is attached to the line reported before it.
 */
static void report_line(const char *path, char *line, unsigned *lineno, struct bh_diags *d)
{
	size_t plen = strlen(path);
	char *colon;
	uint32_t n;

	if (strncmp(line, path, plen) == 0 && line[plen] == ':') {
		colon = strchr(line + plen + 1, ':');
		if (colon) {
			*colon = '\0';
			if (bh_parse_u32(line + plen + 1, 1, UINT32_MAX, &n) == 0) {
				*lineno = n;
				line = colon + 1;
				line += *line == ' ';
			} else {
				*colon = ':';
			}
		}
	}
	if (*line)
		bh_diag_add(d, path, *lineno, "%s", line);
}

static unsigned report_flush(struct report *r, const char *path, struct bh_diags *d)
{
	unsigned lineno = 0, count = 0;
	char *save = NULL;

	if (fflush(r->f) != 0) {
		d->err = -ENOMEM;
		return 0;
	}
	if (!r->buf)
		return 0;
	for (char *l = strtok_r(r->buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		report_line(path, l, &lineno, d);
		count++;
	}
	/* Consumed: start the stream afresh for the next call. */
	fclose(r->f);
	free(r->buf);
	return report_open(r) < 0 ? (d->err = -ENOMEM, count) : count;
}

struct loader {
	XLU_Config *x;
	const struct bh_scan *scan;
	struct bh_cfg_file *file;
	struct bh_diags *diags;
};

/* Pass 1: unknown bh_ keys, and known keys in the wrong kind of file. */
static void check_key_names(struct loader *l)
{
	const char *path = l->file->path;

	for (size_t i = 0; i < l->scan->n; i++) {
		const struct bh_scan_stmt *st = &l->scan->v[i];
		const struct bh_key_info *k = bh_key_lookup(st->key);
		const char *hint;

		if (k && !(k->files & l->file->kind)) {
			bh_diag_add(l->diags, path, st->line, "key '%s' is not valid in %s",
				    st->key, bh_file_kind_name(l->file->kind));
		} else if (!k && bh_startswith(st->key, "bh_")) {
			hint = bh_key_suggest(st->key);
			if (hint)
				bh_diag_add(l->diags, path, st->line,
					    "unknown key '%s' (did you mean '%s'?)", st->key, hint);
			else
				bh_diag_add(l->diags, path, st->line, "unknown key '%s'", st->key);
		}
	}
}

/*
 * The statements that make up the value libxlutil holds for @key: the last
 * plain "=" and the "+=" after it. Returns the index of the first, or -1.
 */
static long effective_stmt(struct loader *l, const char *key)
{
	long first = -1, prev_line = 0;

	for (size_t i = 0; i < l->scan->n; i++) {
		const struct bh_scan_stmt *st = &l->scan->v[i];

		if (!bh_streq(st->key, key))
			continue;
		if (first >= 0 && !st->append)
			bh_diag_add(l->diags, l->file->path, st->line,
				    "'%s' is set again (first set at line %ld); use += to extend a list",
				    key, prev_line);
		if (first < 0 || !st->append) {
			first = (long)i;
			prev_line = st->line;
		}
	}
	return first;
}

/* Item lines from the scanner, if its count agrees with libxlutil's. */
static int item_lines(struct loader *l, long first, struct bh_cfg_value *v)
{
	size_t total = 0, k = 0;
	const char *key = l->scan->v[first].key;

	for (size_t i = (size_t)first; i < l->scan->n; i++)
		if (bh_streq(l->scan->v[i].key, key))
			total += l->scan->v[i].n_items;
	v->item_lines = calloc(v->n_items ? v->n_items : 1, sizeof(*v->item_lines));
	if (!v->item_lines)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_items; i++)
		v->item_lines[i] = v->line;
	if (total != v->n_items)
		return 0;
	for (size_t i = (size_t)first; i < l->scan->n; i++) {
		const struct bh_scan_stmt *st = &l->scan->v[i];

		if (bh_streq(st->key, key))
			for (size_t j = 0; j < st->n_items; j++)
				v->item_lines[k++] = st->item_lines[j];
	}
	return 0;
}

static int get_list(struct loader *l, XLU_ConfigList *list, int n, long first,
		    struct bh_cfg_value *v)
{
	int r;

	v->is_list = true;
	v->items = calloc((size_t)n + 1, sizeof(*v->items));
	if (!v->items)
		return -ENOMEM;
	v->n_items = (size_t)n;
	r = item_lines(l, first, v);
	if (r < 0)
		return r;
	/* Nested lists are reported and dropped, keeping items and lines aligned. */
	v->n_items = 0;
	for (int i = 0; i < n; i++) {
		const char *s = xlu_cfg_get_listitem(list, i);

		if (!s) {
			bh_diag_add(l->diags, l->file->path, v->item_lines[i],
				    "item %d of '%s' is a list; expected a string", i + 1, v->key);
			continue;
		}
		v->item_lines[v->n_items] = v->item_lines[i];
		v->items[v->n_items] = strdup(s);
		if (!v->items[v->n_items])
			return -ENOMEM;
		v->n_items++;
	}
	return 0;
}

static void value_clear(struct bh_cfg_value *v)
{
	for (size_t i = 0; v->items && i < v->n_items; i++)
		free(v->items[i]);
	free(v->items);
	free(v->item_lines);
	free(v->str);
}

static int get_value(struct loader *l, const struct bh_key_info *k, long first,
		     struct bh_cfg_value *v)
{
	XLU_ConfigList *list;
	const char *s;
	int n, r;

	v->key = k->name;
	v->line = l->scan->v[first].line;
	r = xlu_cfg_get_list(l->x, k->name, &list, &n, 1);
	if (r == 0)
		return get_list(l, list, n, first, v);
	if (r == EINVAL && xlu_cfg_get_string(l->x, k->name, &s, 1) == 0) {
		v->str = strdup(s);
		return v->str ? 0 : -ENOMEM;
	}
	/* The scanner saw a statement libxlutil did not store: a scanner bug. */
	bh_diag_add(l->diags, l->file->path, v->line,
		    "internal error: libxlutil has no value for '%s' (error %d)", k->name, r);
	return 1;
}

static bool type_ok(struct loader *l, const struct bh_key_info *k, const struct bh_cfg_value *v)
{
	if (k->type == BH_KEY_LIST && !v->is_list) {
		bh_diag_add(l->diags, l->file->path, v->line,
			    "'%s' must be a list, e.g. %s = [ \"...\" ]", k->name, k->name);
		return false;
	}
	if (k->type == BH_KEY_STRING && v->is_list) {
		bh_diag_add(l->diags, l->file->path, v->line,
			    "'%s' must be a single value, not a list", k->name);
		return false;
	}
	return true;
}

/* Pass 2: the value of every known key allowed in this file. */
static int load_values(struct loader *l)
{
	size_t n_keys;
	const struct bh_key_info *keys = bh_key_table(&n_keys);

	for (const struct bh_key_info *k = keys; k < keys + n_keys; k++) {
		struct bh_cfg_value v = { 0 };
		struct bh_cfg_value *slot;
		long first;
		int r;

		if (!(k->files & l->file->kind))
			continue;
		first = effective_stmt(l, k->name);
		if (first < 0)
			continue;
		r = get_value(l, k, first, &v);
		if (r != 0 || !type_ok(l, k, &v)) {
			value_clear(&v);
			if (r < 0)
				return r;
			continue;
		}
		slot = bh_array_push(&l->file->vals, &l->file->n_vals, sizeof(*slot));
		if (!slot) {
			value_clear(&v);
			return -ENOMEM;
		}
		*slot = v;
	}
	return 0;
}

static bool precheck(const char *path, const char *untrusted_data, size_t len,
		     struct bh_diags *diags)
{
	char tok[64];
	unsigned line;

	if (len > BH_CFG_FILE_MAX) {
		bh_diag_add(diags, path, 0, "file is larger than %u bytes", BH_CFG_FILE_MAX);
		return false;
	}
	/* libxlutil's lexer would stop at a NUL and silently ignore the rest. */
	if (memchr(untrusted_data, '\0', len)) {
		bh_diag_add(diags, path, 0, "file contains a NUL byte");
		return false;
	}
	/* Reported as libxlutil would; see bh_cfg_lex_check() for why we look first. */
	if (bh_cfg_lex_check(untrusted_data, len, &line, tok, sizeof(tok)) < 0) {
		bh_diag_add(diags, path, line, "config parsing error near `%s': lexical error", tok);
		return false;
	}
	return true;
}

/* libxlutil's view of the file; a syntax error leaves *ret NULL (and a diagnostic). */
static int xlu_load(const char *path, const char *untrusted_data, size_t len, struct report *rep,
		    struct bh_diags *diags, XLU_Config **ret)
{
	XLU_Config *x = xlu_cfg_init(rep->f, path);
	int r;

	*ret = NULL;
	if (!x)
		return -ENOMEM;
	r = xlu_cfg_readdata(x, untrusted_data, (int)len);
	if (report_flush(rep, path, diags) == 0 && r)
		bh_diag_add(diags, path, 0, "cannot parse: %s", strerror(r));
	if (r) {
		xlu_cfg_destroy(x);
		return r == ENOMEM ? -ENOMEM : 0;
	}
	*ret = x;
	return 0;
}

int bh_cfg_file_parse(const char *path, enum bh_file_kind kind, const char *untrusted_data,
		      size_t len, struct bh_diags *diags, struct bh_cfg_file **ret)
{
	struct bh_scan scan = { 0 };
	struct report rep = { 0 };
	struct bh_cfg_file *f = NULL;
	struct loader l = { .scan = &scan, .diags = diags };
	int r;

	*ret = NULL;
	if (!precheck(path, untrusted_data, len, diags))
		return 0;
	r = bh_cfg_scan(untrusted_data, len, &scan);
	if (r < 0)
		return r;
	r = report_open(&rep);
	if (r < 0)
		goto out;
	r = xlu_load(path, untrusted_data, len, &rep, diags, &l.x);
	if (r < 0 || !l.x)
		goto out;
	r = -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path)))
		goto out;
	f->kind = kind;
	l.file = f;
	check_key_names(&l);
	r = load_values(&l);
	/* The warnings libxlutil printed while we fetched values (we ask it not to). */
	report_flush(&rep, path, diags);
	if (r == 0)
		*ret = TAKE_PTR(f);
out:
	bh_cfg_file_free(f);
	if (l.x)
		xlu_cfg_destroy(l.x);
	report_close(&rep);
	bh_scan_free(&scan);
	return r;
}

int bh_cfg_file_read(const char *path, enum bh_file_kind kind, struct bh_diags *diags,
		     struct bh_cfg_file **ret)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	size_t len;

	*ret = NULL;
	if (!f) {
		bh_diag_add(diags, path, 0, "cannot open: %s", strerror(errno));
		return 0;
	}
	buf = malloc(BH_CFG_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	len = fread(buf, 1, BH_CFG_FILE_MAX + 1, f);
	if (ferror(f)) {
		bh_diag_add(diags, path, 0, "cannot read: %s", strerror(errno));
		return 0;
	}
	return bh_cfg_file_parse(path, kind, buf, len, diags, ret);
}

void bh_cfg_file_free(struct bh_cfg_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_vals; i++)
		value_clear(&f->vals[i]);
	free(f->vals);
	free(f->path);
	free(f);
}

const struct bh_cfg_value *bh_cfg_get(const struct bh_cfg_file *f, const char *key)
{
	for (size_t i = 0; f && i < f->n_vals; i++)
		if (bh_streq(f->vals[i].key, key))
			return &f->vals[i];
	return NULL;
}

unsigned bh_cfg_line(const struct bh_cfg_file *f, const char *key)
{
	const struct bh_cfg_value *v = bh_cfg_get(f, key);

	return v ? v->line : 0;
}

/* libxlutil prints "disk: <message>"; keep the message. */
static void disk_error(struct report *rep, char *err, size_t errlen)
{
	const char *msg = "invalid disk specification";

	if (fflush(rep->f) == 0 && rep->buf && bh_startswith(rep->buf, "disk: "))
		msg = rep->buf + strlen("disk: ");
	snprintf(err, errlen, "%.*s", (int)strcspn(msg, "\n"), msg);
}

void bh_disk_clear(struct bh_disk *d)
{
	free(d->spec);
	free(d->vdev);
	free(d->target);
	free(d->format);
	free(d->backend);
	free(d->script);
	memset(d, 0, sizeof(*d));
}

/* What platform-xen.c needs to rebuild the libxl disk (it may not use libxlutil). */
static int disk_copy(const libxl_device_disk *disk, const char *spec, struct bh_disk *ret)
{
	struct bh_disk d = {
		.spec = strdup(spec),
		.vdev = strdup(disk->vdev ? disk->vdev : ""),
		.target = strdup(disk->pdev_path ? disk->pdev_path : ""),
		.format = strdup(libxl_disk_format_to_string(disk->format)),
		.backend = strdup(libxl_disk_backend_to_string(disk->backend)),
		.script = disk->script ? strdup(disk->script) : NULL,
		.readonly = !disk->readwrite,
	};

	if (!d.spec || !d.vdev || !d.target || !d.format || !d.backend ||
	    (disk->script && !d.script)) {
		bh_disk_clear(&d);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

int bh_cfg_disk_parse(const char *untrusted_spec, struct bh_disk *ret, char *err, size_t errlen)
{
	struct report rep = { 0 };
	libxl_device_disk disk;
	XLU_Config *x;
	int r;

	r = report_open(&rep);
	if (r < 0)
		return r;
	x = xlu_cfg_init(rep.f, "disk");
	if (!x) {
		report_close(&rep);
		return -ENOMEM;
	}
	libxl_device_disk_init(&disk);
	r = xlu_disk_parse(x, 1, &untrusted_spec, &disk);
	if (r == 0)
		r = disk_copy(&disk, untrusted_spec, ret);
	else if (r == ENOMEM)
		r = -ENOMEM;
	else
		r = -EINVAL;
	if (r == -EINVAL)
		disk_error(&rep, err, errlen);
	libxl_device_disk_dispose(&disk);
	xlu_cfg_destroy(x);
	report_close(&rep);
	return r;
}
