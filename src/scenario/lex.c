/* sockdrill scenarios, the parser's cursor: errors with file:line:col, the words, names,
 * numbers, references and strings of a line. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "sc_internal.h"

int sd__sc_fail(struct cur *c, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int sd__sc_fail(struct cur *c, const char *at, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, c->errlen, "%s:%d:%d: ", c->path, c->line, (int)(at - c->ls) + 1);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Room for `more` elements of `size` bytes after `n` in *p, grown by doubling; 0 or -1. */
int sd__sc_reserve(void *p, uint32_t *cap, uint32_t n, uint32_t more, size_t size)
{
	if ((uint64_t)n + more <= *cap)
		return 0;
	uint64_t ncap = *cap ? *cap : 16;
	while (ncap < (uint64_t)n + more)
		ncap *= 2;
	if (ncap > UINT32_MAX)
		return -1;
	void *g = realloc(*(void **)p, (size_t)ncap * size);
	if (!g)
		return -1;
	*(void **)p = g;
	*cap = (uint32_t)ncap;
	return 0;
}

/* An identifier into buf; 0, or -1 with the error set when there is none or it is long. */
int sd__sc_ident(struct cur *c, char *buf, size_t size, const char *what)
{
	const char *s;
	sc_ws(c);
	s = c->p;
	if (c->p >= c->eol || !sc_is_id0(*c->p))
		return sd__sc_fail(c, s, "expected %s", what);
	while (c->p < c->eol && sc_is_id(*c->p))
		c->p++;
	if ((size_t)(c->p - s) >= size)
		return sd__sc_fail(c, s, "name too long (at most %zu characters)", size - 1);
	memcpy(buf, s, (size_t)(c->p - s));
	buf[c->p - s] = 0;
	return 0;
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The symbol of a name (made on first sight), or -1 when out of memory. */
int32_t sd__sc_symbol_find(struct cur *c, const char *name, int create)
{
	struct sd_scenario *sc = c->sc;
	if (create && (uint64_t)(sc->nnames + 1) * 2 > c->symcap) {
		uint32_t ncap = c->symcap ? c->symcap * 2 : 64;
		int32_t *t = calloc(ncap, sizeof *t);
		if (!t)
			return -1;
		for (int32_t k = 0; k < sc->nnames; k++) {
			uint32_t i = name_hash(sc->names[k]) & (ncap - 1);
			while (t[i])
				i = (i + 1) & (ncap - 1);
			t[i] = k + 1;
		}
		free(c->symtab);
		c->symtab = t;
		c->symcap = ncap;
	}
	if (!c->symcap)
		return -1;
	uint32_t i = name_hash(name) & (c->symcap - 1);
	for (; c->symtab[i]; i = (i + 1) & (c->symcap - 1))
		if (!strcmp(sc->names[c->symtab[i] - 1], name))
			return c->symtab[i] - 1;
	if (!create || sd__sc_reserve(&sc->names, (uint32_t *)&sc->capnames, (uint32_t)sc->nnames,
				      1, sizeof *sc->names) < 0)
		return -1;
	snprintf(sc->names[sc->nnames], sizeof *sc->names, "%s", name);
	c->symtab[i] = sc->nnames + 1;
	return sc->nnames++;
}

static int symbol(struct cur *c, const char *at, const char *name, int32_t *out)
{
	if ((*out = sd__sc_symbol_find(c, name, 1)) < 0)
		return sd__sc_fail(c, at, "out of memory");
	return 0;
}

int sd__sc_expect_char(struct cur *c, char ch)
{
	sc_ws(c);
	if (c->p >= c->eol || *c->p != ch)
		return sd__sc_fail(c, c->p, "expected '%c'", ch);
	c->p++;
	return 0;
}

int sd__sc_number(struct cur *c, int64_t *out)
{
	const char *s = c->p;
	int neg = 0;
	uint64_t v = 0;
	if (c->p < c->eol && *c->p == '-')
		neg = 1, c->p++;
	if (c->p >= c->eol || *c->p < '0' || *c->p > '9')
		return sd__sc_fail(c, s, "expected a number");
	while (c->p < c->eol && *c->p >= '0' && *c->p <= '9') {
		v = v * 10 + (uint64_t)(*c->p++ - '0');
		if (v > (uint64_t)INT64_MAX / 10)
			return sd__sc_fail(c, s, "number too large");
	}
	if (c->p < c->eol && sc_is_id(*c->p))
		return sd__sc_fail(c, c->p, "unexpected '%c' after a number", *c->p);
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static int use(struct cur *c, int what, int32_t sym, const char *at)
{
	if (c->nuses == (int)(sizeof c->uses / sizeof c->uses[0]))
		return sd__sc_fail(c, at, "too many names on one line");
	if (at > c->ls && at[-1] == '$')
		at--;
	c->uses[c->nuses++] = (struct use){.sym = sym, .at = at, .what = what};
	return 0;
}

/* name, name[3], name[$i], name[$j]; the '$' before it, if any, already seen. */
int sd__sc_ref(struct cur *c, struct sc_ref *r, int how)
{
	char name[SC_MAX_NAME + 1];
	memset(r, 0, sizeof *r);
	sc_ws(c);
	const char *at = c->p;
	if (sd__sc_ident(c, name, sizeof name, "a variable name") < 0 ||
	    symbol(c, at, name, &r->name) < 0)
		return -1;
	int indexed = c->p < c->eol && *c->p == '[';
	int iter = how == REF_READ && !indexed && !strcmp(name, "i"); /* $i: the repeat index */
	if (how != REF_TARGET && !iter &&
	    use(c, how == REF_HANDLE ? U_HANDLE : U_VAR, r->name, at) < 0)
		return -1;
	if (indexed) {
		c->p++;
		sc_ws(c);
		if (c->p < c->eol && *c->p == '$') {
			char idx[SC_MAX_NAME + 1];
			const char *is = ++c->p;
			if (sd__sc_ident(c, idx, sizeof idx, "an index variable") < 0)
				return -1;
			if (!strcmp(idx, "i")) {
				r->ix = IX_I;
				if (use(c, U_ITER, -1, is) < 0)
					return -1;
			} else {
				int32_t sym;
				if (symbol(c, is, idx, &sym) < 0 || use(c, U_VAR, sym, is) < 0)
					return -1;
				r->ix = IX_VAR;
				r->index = sym;
			}
		} else {
			r->ix = IX_NUM;
			if (sd__sc_number(c, &r->index) < 0)
				return -1;
		}
		if (sd__sc_expect_char(c, ']') < 0)
			return -1;
	} else if (iter) {
		r->ix = IX_ITER;
		if (use(c, U_ITER, -1, at) < 0)
			return -1;
	}
	return 0;
}

/* A quoted string, its bytes appended to sc->bytes. With interp, "${NAME}" names a variable
 * and the bytes are a template (SC_TPL_MARK), *interp then set; without, those are bytes. */
int sd__sc_string_interp(struct cur *c, struct sc_span *out, uint8_t *interp)
{
	struct sd_scenario *sc = c->sc;
	const char *start = c->p++;
	/* a reference, 4 characters at least, takes 2 + sizeof(struct sc_ref) bytes */
	if (sd__sc_reserve(&sc->bytes, &sc->capbytes, sc->nbytes, (uint32_t)(c->eol - c->p) * 5 + 1,
			   1) < 0)
		return sd__sc_fail(c, start, "out of memory");
	unsigned char *buf = sc->bytes + sc->nbytes;
	uint32_t n = 0;
	int tpl = 0;
	if (interp) { /* a template only when a name is in it: look ahead once */
		*interp = 0;
		for (const char *q = c->p; q + 1 < c->eol && *q != '"'; q++)
			if (*q == '\\')
				q++;
			else if (q[0] == '$' && q[1] == '{')
				tpl = 1;
	}
	for (;;) {
		if (c->p >= c->eol)
			return sd__sc_fail(c, start, "unterminated string");
		char ch = *c->p++;
		if (ch == '"')
			break;
		if (tpl && ch == '$' && c->p < c->eol && *c->p == '{') {
			struct sc_ref r;
			c->p++;
			if (sd__sc_ref(c, &r, REF_READ) < 0)
				return -1;
			sc_ws(c);
			if (c->p >= c->eol || *c->p != '}')
				return sd__sc_fail(c, c->p, "expected '}' after the variable name");
			c->p++;
			buf[n++] = SC_TPL_MARK;
			buf[n++] = SC_TPL_REF;
			memcpy(buf + n, &r, sizeof r);
			n += sizeof r;
			continue;
		}
		if (ch != '\\') {
			if (tpl && ch == SC_TPL_MARK)
				buf[n++] = SC_TPL_MARK;
			buf[n++] = (unsigned char)ch;
			continue;
		}
		if (c->p >= c->eol)
			return sd__sc_fail(c, start, "unterminated string");
		const char *esc = c->p - 1;
		switch (*c->p++) {
		case 'n': buf[n++] = '\n'; break;
		case 'r': buf[n++] = '\r'; break;
		case 't': buf[n++] = '\t'; break;
		case '0': buf[n++] = 0; break;
		case '\\': buf[n++] = '\\'; break;
		case '"': buf[n++] = '"'; break;
		case '$': buf[n++] = '$'; break;
		case 'x': {
			int h = c->p + 1 < c->eol ? sd__hexval(c->p[0]) : -1;
			int l = h >= 0 ? sd__hexval(c->p[1]) : -1;
			if (l < 0)
				return sd__sc_fail(c, esc, "\\x needs two hex digits");
			if (tpl && h * 16 + l == SC_TPL_MARK)
				buf[n++] = SC_TPL_MARK;
			buf[n++] = (unsigned char)(h * 16 + l);
			c->p += 2;
			break;
		}
		default: return sd__sc_fail(c, esc, "unknown escape '\\%c'", c->p[-1]);
		}
	}
	out->off = sc->nbytes;
	out->len = n;
	sc->nbytes += n;
	if (interp)
		*interp = (uint8_t)tpl;
	return 0;
}

int sd__sc_string(struct cur *c, struct sc_span *out) { return sd__sc_string_interp(c, out, NULL); }
