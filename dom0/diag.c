/* SPDX-License-Identifier: MIT */
/*
 * Configuration diagnostics: collected, not printed, so that `bulkhead
 * validate` reports every error in one run, sorted by file and line.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dom0.h"

void bh_diag_add(struct bh_diags *d, const char *file, unsigned line, const char *fmt, ...)
{
	struct bh_diag *slot;
	va_list ap;
	int r;

	if (d->err)
		return;
	slot = bh_array_push(&d->v, &d->n, sizeof(*d->v));
	if (!slot) {
		d->err = -ENOMEM;
		return;
	}
	slot->line = line;
	slot->file = strdup(file);
	va_start(ap, fmt);
	r = vasprintf(&slot->msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		slot->msg = NULL;
	if (!slot->file || !slot->msg) {
		free(slot->file);
		free(slot->msg);
		d->n--;
		d->err = -ENOMEM;
	}
}

/* Insertion sort: stable, and the lists are short. */
void bh_diags_sort(struct bh_diags *d)
{
	for (size_t i = 1; i < d->n; i++) {
		struct bh_diag cur = d->v[i];
		size_t j = i;

		while (j > 0) {
			int c = strcmp(d->v[j - 1].file, cur.file);

			if (c < 0 || (c == 0 && d->v[j - 1].line <= cur.line))
				break;
			d->v[j] = d->v[j - 1];
			j--;
		}
		d->v[j] = cur;
	}
}

void bh_diags_print(const struct bh_diags *d, FILE *out)
{
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].line)
			fprintf(out, "%s:%u: %s\n", d->v[i].file, d->v[i].line, d->v[i].msg);
		else
			fprintf(out, "%s: %s\n", d->v[i].file, d->v[i].msg);
	}
}

void bh_diags_clear(struct bh_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	*d = (struct bh_diags){ 0 };
}

void *bh_array_push(void *arrayp, size_t *n, size_t elem_size)
{
	void **array = arrayp;
	char *p;

	/* The capacity is implicit: double whenever the count is a power of two (or 0). */
	if ((*n & (*n - 1)) == 0) {
		size_t cap = *n ? *n * 2 : 1;

		p = reallocarray(*array, cap, elem_size);
		if (!p)
			return NULL;
		*array = p;
	}
	p = (char *)*array + *n * elem_size;
	memset(p, 0, elem_size);
	(*n)++;
	return p;
}
