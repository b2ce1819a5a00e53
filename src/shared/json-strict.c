/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json-strict.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "why.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_tokener *, json_tokener_free)

/* Syntax errors point at a place in the text: "FILE:LINE:COLUMN: why" (bytes). */
int json_fail_at(const char *file, const char *text, size_t offset, char **ret_error, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	size_t line = 1, line_start = 0;
	va_list ap;
	int k;

	for (size_t i = 0; i < offset; i++)
		if (text[i] == '\n') {
			line++;
			line_start = i + 1;
		}
	va_start(ap, fmt);
	k = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (k < 0)
		return -ENOMEM;
	return ret_error ? why(ret_error, -EINVAL, "%s:%zu:%zu: %s", file, line, offset - line_start + 1, msg) : -EINVAL;
}

/*
 * json-c keeps the last of two equal keys in an object without a word, so an
 * edited copy of a rule could grant what the admin believes it revokes.  Walk
 * the text json-c accepted (well-formed, so the walk can be naive) and refuse
 * repeated keys.  Every valid key is plain ASCII, so keys with escapes are
 * refused too: that makes comparing them as written exact, and stops json-c
 * cutting "users\u0000x" down to "users".  json-c takes 'single-quoted'
 * strings even in strict mode; those are refused as well.
 */
#define JSON_WS " \t\r\n"

struct walk {
	const char *p;   /* where the walk is */
	const char *bad; /* what it refuses, and why */
	size_t bad_len;
	const char *why;
};

struct key {
	const char *s; /* the token, quotes included */
	size_t n;
};

static int key_compare(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = x->n != y->n ? (x->n > y->n) - (x->n < y->n) : memcmp(x->s, y->s, x->n);

	return c != 0 ? c : (x->s > y->s) - (x->s < y->s); /* equal keys in file order */
}

static int refuse(struct walk *w, const char *bad, size_t len, const char *why)
{
	w->bad = bad;
	w->bad_len = len;
	w->why = why;
	return -EINVAL;
}

/* At an opening quote: step past the string. */
static int walk_string(struct walk *w)
{
	if (*w->p != '"')
		return refuse(w, w->p, 0, "strings must be in double quotes");
	for (w->p++; *w->p != '"'; w->p++)
		if (*w->p == '\\')
			w->p++;
	w->p++;
	return 0;
}

static int walk_value(struct walk *w)
{
	_cleanup_free_ struct key *keys = NULL;
	const struct key *dup = NULL;
	size_t n = 0;
	char open;
	int r;

	w->p += strspn(w->p, JSON_WS);
	open = *w->p;
	if (open != '{' && open != '[') {
		if (open == '"' || open == '\'')
			return walk_string(w);
		w->p += strcspn(w->p, ",]}" JSON_WS); /* number, true, false, null */
		return 0;
	}
	for (w->p++;;) {
		w->p += strspn(w->p, JSON_WS);
		if (*w->p == '}' || *w->p == ']')
			break;
		if (open == '{') {
			struct key k = { .s = w->p }, *nk;

			r = walk_string(w);
			if (r < 0)
				return r;
			k.n = (size_t) (w->p - k.s);
			if (memchr(k.s, '\\', k.n))
				return refuse(w, k.s, k.n, "escapes are not allowed in keys:");
			nk = reallocarray(keys, n + 1, sizeof(*keys));
			if (!nk)
				return -ENOMEM;
			keys = nk;
			keys[n++] = k;
			w->p += strspn(w->p, JSON_WS) + 1; /* and the ':' */
		}
		r = walk_value(w);
		if (r < 0)
			return r;
		w->p += strspn(w->p, JSON_WS);
		if (*w->p == ',')
			w->p++;
	}
	w->p++;

	/* Sorted, a repeated key follows its first use; report the earliest repeat. */
	if (n > 1)
		qsort(keys, n, sizeof(*keys), key_compare);
	for (size_t i = 1; i < n; i++)
		if (keys[i].n == keys[i - 1].n && memcmp(keys[i].s, keys[i - 1].s, keys[i].n) == 0 &&
		    (!dup || keys[i].s < dup->s))
			dup = &keys[i];
	return dup ? refuse(w, dup->s, dup->n, "duplicate key") : 0;
}

/* JSON text to a json-c tree: strict JSON, one value, syntax errors with line:column. */
int json_parse_strict(const char *text, const char *file, json_object **ret, char **ret_error)
{
	_cleanup_(json_tokener_freep) struct json_tokener *tok = NULL;
	_cleanup_(json_object_putp) json_object *root = NULL;
	struct walk w = { .p = text };
	size_t len = strlen(text), end;
	int r;

	if (len >= INT_MAX)
		return ret_error ? why(ret_error, -EFBIG, "%s: too large", file) : -EFBIG;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8 |
					    JSON_TOKENER_ALLOW_TRAILING_CHARS);
	/* The NUL goes in too: it ends a top-level literal, and a truncated
	 * document then fails as "unexpected end of data", not "continue". */
	root = json_tokener_parse_ex(tok, text, (int) len + 1);
	end = json_tokener_get_parse_end(tok);
	if (end > len)
		end = len;
	if (json_tokener_get_error(tok) != json_tokener_success)
		return json_fail_at(file, text, end, ret_error, "%s", json_tokener_error_desc(json_tokener_get_error(tok)));
	end += strspn(text + end, JSON_WS);
	if (end < len)
		return json_fail_at(file, text, end, ret_error, "trailing characters after the top-level value");

	r = walk_value(&w);
	if (r == -EINVAL)
		return json_fail_at(file, text, (size_t) (w.bad - text), ret_error, "%s%s%.*s",
			       w.why, w.bad_len ? " " : "", (int) w.bad_len, w.bad);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(root);
	return 0;
}

