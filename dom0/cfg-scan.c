/* SPDX-License-Identifier: MIT */
/*
 * A small scanner for xl.cfg files. libxlutil parses values but offers no list
 * of the keys a file sets and no line numbers, so this walks the same syntax
 * (as libxlu_cfg_l.l tokenises it) and records, per statement, the key, its
 * line, "=" or "+=", and the line of every top-level list item:
 *
 *   key = "string" | 'string' | number | [ item, item, ... ]    ; or newline
 *
 * Comments run from '#' to the end of the line, strings may use either quote
 * and backslash escapes, lists may span lines. It never rejects input: after
 * anything it does not understand it skips to the end of the statement, and
 * libxlutil, which parses the same bytes, reports the syntax error.
 */
#include <stdlib.h>
#include <string.h>

#include "bulkhead/log.h"
#include "dom0.h"

struct scanner {
	const char *p;
	const char *end;
	unsigned line;
	struct bh_scan *out;
	int err;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '.';
}

static void skip_blanks(struct scanner *s)
{
	while (s->p < s->end && is_blank(*s->p))
		s->p++;
}

/* Up to, not past, the newline: the caller counts lines. */
static void skip_comment(struct scanner *s)
{
	while (s->p < s->end && *s->p != '\n')
		s->p++;
}

/*
 * A quoted string; an unterminated one ends at the newline, as in the lexer.
 * Returns whether it was terminated.
 */
static bool skip_string(struct scanner *s)
{
	char q = *s->p++;

	while (s->p < s->end && *s->p != q && *s->p != '\n') {
		if (*s->p == '\\' && s->end - s->p > 1 && s->p[1] != '\n')
			s->p++;
		s->p++;
	}
	if (s->p < s->end && *s->p == q) {
		s->p++;
		return true;
	}
	return false;
}

/* To the end of the statement: a newline (not consumed) or ';' (consumed). */
static void skip_statement(struct scanner *s)
{
	while (s->p < s->end && *s->p != '\n') {
		if (*s->p == ';') {
			s->p++;
			return;
		}
		if (*s->p == '#')
			skip_comment(s);
		else if (*s->p == '"' || *s->p == '\'')
			skip_string(s);
		else
			s->p++;
	}
}

static void add_item(struct scanner *s, struct bh_scan_stmt *st)
{
	unsigned *slot = bh_array_push(&st->item_lines, &st->n_items, sizeof(*slot));

	if (!slot) {
		s->err = -ENOMEM;
		return;
	}
	*slot = s->line;
}

/* After '[': until the matching ']' or the end of input. */
static void scan_list(struct scanner *s, struct bh_scan_stmt *st)
{
	unsigned depth = 1;
	bool want_item = true;

	s->p++;
	while (s->p < s->end && depth > 0 && !s->err) {
		char c = *s->p;

		if (is_blank(c)) {
			s->p++;
			continue;
		}
		if (c == '\n') {
			s->line++;
			s->p++;
			continue;
		}
		if (c == '#') {
			skip_comment(s);
			continue;
		}
		if (c == ';')
			return; /* a syntax error; libxlutil will say so */
		if (c == ']' || c == ',') {
			depth -= c == ']';
			want_item = c == ',' && depth == 1;
			s->p++;
			continue;
		}
		if (depth == 1 && want_item)
			add_item(s, st);
		want_item = false;
		if (c == '[') {
			depth++;
			s->p++;
		} else if (c == '"' || c == '\'') {
			skip_string(s);
		} else {
			s->p++;
		}
	}
}

static struct bh_scan_stmt *add_stmt(struct scanner *s, const char *key, size_t keylen, bool append)
{
	struct bh_scan_stmt *st = bh_array_push(&s->out->v, &s->out->n, sizeof(*st));

	if (!st) {
		s->err = -ENOMEM;
		return NULL;
	}
	/* Not strndup(): the input is not NUL-terminated. */
	st->key = malloc(keylen + 1);
	if (st->key) {
		memcpy(st->key, key, keylen);
		st->key[keylen] = '\0';
	} else {
		s->out->n--;
		s->err = -ENOMEM;
		return NULL;
	}
	st->line = s->line;
	st->append = append;
	return st;
}

/* At the start of a statement, blanks skipped. */
static void scan_statement(struct scanner *s)
{
	const char *key = s->p;
	struct bh_scan_stmt *st;
	bool append = false;
	size_t keylen;

	while (s->p < s->end && is_ident(*s->p))
		s->p++;
	keylen = (size_t)(s->p - key);
	skip_blanks(s);
	if (s->end - s->p >= 2 && s->p[0] == '+' && s->p[1] == '=') {
		append = true;
		s->p++;
	} else if (s->p == s->end || *s->p != '=') {
		skip_statement(s);
		return;
	}
	s->p++;
	st = add_stmt(s, key, keylen, append);
	if (!st)
		return;
	skip_blanks(s);
	if (s->p < s->end && *s->p == '[') {
		st->is_list = true;
		scan_list(s, st);
	}
	skip_statement(s);
}

int bh_cfg_scan(const char *untrusted_data, size_t len, struct bh_scan *ret)
{
	struct bh_scan out = { 0 };
	struct scanner s = {
		.p = untrusted_data, .end = untrusted_data + len, .line = 1, .out = &out,
	};

	while (s.p < s.end && !s.err) {
		char c = *s.p;

		if (c == '\n') {
			s.line++;
			s.p++;
		} else if (is_blank(c) || c == ';') {
			s.p++;
		} else if (c == '#') {
			skip_comment(&s);
		} else if (is_ident_start(c)) {
			scan_statement(&s);
		} else {
			skip_statement(&s);
		}
	}
	if (s.err) {
		bh_scan_free(&out);
		return s.err;
	}
	*ret = out;
	return 0;
}

void bh_scan_free(struct bh_scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].key);
		free(s->v[i].item_lines);
	}
	free(s->v);
	*s = (struct bh_scan){ 0 };
}

/*
 * Past one token of libxlutil's lexer at s->p, outside strings and comments:
 * IDENT [a-z][._0-9a-z]*, NUMBER [0-9][0-9a-z]*, "+=", a blank or one of
 * ",;=[]". Returns false (not moving) when no token starts here.
 */
static bool lex_token(struct scanner *s)
{
	char c = *s->p;

	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
		bool ident = c >= 'a';

		for (s->p++; s->p < s->end; s->p++) {
			c = *s->p;
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			      (ident && (c == '.' || c == '_'))))
				break;
		}
		return true;
	}
	if (c == '+') {
		if (s->end - s->p < 2 || s->p[1] != '=')
			return false;
		s->p += 2;
		return true;
	}
	if (c == '\n')
		s->line++;
	if (c && strchr(" \t\n,;=[]", c)) {
		s->p++;
		return true;
	}
	return false;
}

/*
 * libxlutil 4.17 leaks parser values when a lexical error follows list items
 * (e.g. `a = [ "x", "y" @ ]`, or `. _ +` there; found by tests/fuzz/fuzz-cfg.c).
 * This mirrors its lexer's rules, so everything rejected here its lexer
 * rejects too (upper case, CR, '@', '-', "1.5", ...): checking first changes
 * no verdict, only who reports it.
 */
int bh_cfg_lex_check(const char *untrusted_data, size_t len, unsigned *ret_line, char *tok,
		     size_t toklen)
{
	struct scanner s = { .p = untrusted_data, .end = untrusted_data + len, .line = 1 };

	while (s.p < s.end) {
		const char *start = s.p;

		if (*s.p == '#') {
			skip_comment(&s);
		} else if ((*s.p == '"' || *s.p == '\'') && skip_string(&s)) {
			continue;
		} else if (s.p != start) {
			/* An unterminated string. */
			bh_log_quote(tok, toklen, start, (size_t)(s.p - start));
			*ret_line = s.line;
			return -EINVAL;
		} else if (!lex_token(&s)) {
			while (s.p < s.end && (is_ident(*s.p) || s.p == start))
				s.p++;
			bh_log_quote(tok, toklen, start, (size_t)(s.p - start));
			*ret_line = s.line;
			return -EINVAL;
		}
	}
	return 0;
}
