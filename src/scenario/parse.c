/* sockdrill scenarios: the parser, line by line, with file:line:col messages. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <sockdrill/addr.h>
#include <sockdrill/errors.h>
#include <sockdrill/fault.h>
#include <sockdrill/sim.h>

#include "sc_internal.h"

enum { A_FD = 1, A_NUM, A_ADDR, A_DATA, A_OPT, A_KW };
static const struct {
	const char *name;
	enum sc_call call;
	int min, max;
	int kinds[6];
} calls[] = {
	{"socket", C_SOCKET, 1, 2, {A_NUM, A_NUM}},
	{"bind", C_BIND, 2, 3, {A_FD, A_ADDR, A_KW}},
	{"listen", C_LISTEN, 2, 2, {A_FD, A_NUM}},
	{"accept", C_ACCEPT, 1, 2, {A_FD, A_NUM}},
	{"connect", C_CONNECT, 2, 3, {A_FD, A_ADDR, A_KW}},
	{"send", C_SEND, 2, 5, {A_FD, A_DATA, A_NUM, A_KW, A_KW}},
	{"recv", C_RECV, 2, 3, {A_FD, A_NUM, A_NUM}},
	{"shutdown", C_SHUTDOWN, 2, 2, {A_FD, A_NUM}},
	{"close", C_CLOSE, 1, 1, {A_FD}},
	{"setsockopt", C_SETSOCKOPT, 3, 3, {A_FD, A_OPT, A_NUM}},
	{"getsockopt", C_GETSOCKOPT, 2, 2, {A_FD, A_OPT}},
	{"so_error", C_SO_ERROR, 1, 1, {A_FD}},
	{"port", C_PORT, 1, 1, {A_FD}},
	{"peerport", C_PEERPORT, 1, 1, {A_FD}},
	{"nonblock", C_NONBLOCK, 1, 1, {A_FD}},
	{"block", C_BLOCK, 1, 1, {A_FD}},
	{"poll", C_POLL, 2, 3, {A_FD, A_NUM, A_NUM}},
	{"sleep", C_SLEEP, 1, 1, {A_NUM}},
	{"reply_port", C_REPLY_PORT, 1, 1, {A_FD}},
	{"recv_until", C_RECV_UNTIL, 3, 3, {A_FD, A_DATA, A_NUM}},
	{"recvline", C_RECVLINE, 2, 2, {A_FD, A_NUM}},
	{"addr", C_ADDR, 1, 1, {A_FD}},
	{"peer", C_PEER, 1, 1, {A_FD}},
	{"ioctl", C_IOCTL, 2, 2, {A_FD, A_NUM}},
	{"sendto", C_SENDTO, 3, 5, {A_FD, A_DATA, A_ADDR, A_NUM, A_KW}},
	{"recvmsg", C_RECVMSG, 2, 4, {A_FD, A_NUM, A_NUM, A_KW}},
	{"epoll_create", C_EPOLL_CREATE, 0, 0, {0}},
	{"epoll_ctl", C_EPOLL_CTL, 3, 4, {A_FD, A_NUM, A_FD, A_NUM}},
	{"epoll_wait", C_EPOLL_WAIT, 2, 3, {A_FD, A_NUM, A_NUM}},
	{"now", C_NOW, 0, 0, {0}},
	{"elapsed", C_ELAPSED, 1, 1, {A_NUM}},
	{"dup", C_DUP, 1, 1, {A_FD}},
	{"dup2", C_DUP2, 2, 2, {A_FD, A_FD}},
	{"dup3", C_DUP3, 3, 3, {A_FD, A_FD, A_NUM}},
	{"cmsg", C_CMSG, 2, 2, {A_FD, A_NUM}},
	{"msg_flags", C_MSG_FLAGS, 1, 1, {A_FD}},
	{"msg_controllen", C_CTLLEN, 1, 1, {A_FD}},
};

struct cur {
	const char *path, *p, *ls, *eol; /* position, line start, line end */
	int line;
	char *err;
	size_t errlen;
	struct sd_scenario *sc;
	const struct sd_sc_options *opt; /* what the run will define (may be NULL) */
	int32_t *symtab; /* open addressing: 1 + symbol, 0 empty; symcap a power of two */
	uint32_t symcap;
	uint8_t *known; /* per symbol: what lines before this one made of it (SYM_*) */
	uint32_t capknown;
	int depth; /* repeats open around this line */
	struct use {
		int32_t sym;
		const char *at;
		int what; /* U_* */
	} uses[16];       /* the names this line reads, checked once it parsed */
	int nuses;
	int32_t caps[SC_MAX_ALTS * SC_MAX_GROUPS]; /* the names 'as' assigns on this line */
	int ncaps;
};

enum { SYM_VAR = 1, SYM_STARTED = 2 };
enum { U_VAR, U_HANDLE, U_ITER };

static int fail(struct cur *c, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct cur *c, const char *at, const char *fmt, ...)
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
static int reserve(void *p, uint32_t *cap, uint32_t n, uint32_t more, size_t size)
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

static void ws(struct cur *c)
{
	while (c->p < c->eol && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
		c->p++;
}

static int at_end(struct cur *c)
{
	ws(c);
	return c->p >= c->eol || *c->p == '#';
}

static int is_id0(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static int is_id(char ch) { return is_id0(ch) || (ch >= '0' && ch <= '9'); }

/* An identifier into buf; 0, or -1 with the error set when there is none or it is long. */
static int ident(struct cur *c, char *buf, size_t size, const char *what)
{
	const char *s;
	ws(c);
	s = c->p;
	if (c->p >= c->eol || !is_id0(*c->p))
		return fail(c, s, "expected %s", what);
	while (c->p < c->eol && is_id(*c->p))
		c->p++;
	if ((size_t)(c->p - s) >= size)
		return fail(c, s, "name too long (at most %zu characters)", size - 1);
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
static int32_t symbol_find(struct cur *c, const char *name, int create)
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
	if (!create || reserve(&sc->names, (uint32_t *)&sc->capnames, (uint32_t)sc->nnames, 1,
			       sizeof *sc->names) < 0)
		return -1;
	snprintf(sc->names[sc->nnames], sizeof *sc->names, "%s", name);
	c->symtab[i] = sc->nnames + 1;
	return sc->nnames++;
}

static int symbol(struct cur *c, const char *at, const char *name, int32_t *out)
{
	if ((*out = symbol_find(c, name, 1)) < 0)
		return fail(c, at, "out of memory");
	return 0;
}

static int expect_char(struct cur *c, char ch)
{
	ws(c);
	if (c->p >= c->eol || *c->p != ch)
		return fail(c, c->p, "expected '%c'", ch);
	c->p++;
	return 0;
}

static int number(struct cur *c, int64_t *out)
{
	const char *s = c->p;
	int neg = 0;
	uint64_t v = 0;
	if (c->p < c->eol && *c->p == '-')
		neg = 1, c->p++;
	if (c->p >= c->eol || *c->p < '0' || *c->p > '9')
		return fail(c, s, "expected a number");
	while (c->p < c->eol && *c->p >= '0' && *c->p <= '9') {
		v = v * 10 + (uint64_t)(*c->p++ - '0');
		if (v > (uint64_t)INT64_MAX / 10)
			return fail(c, s, "number too large");
	}
	if (c->p < c->eol && is_id(*c->p))
		return fail(c, c->p, "unexpected '%c' after a number", *c->p);
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* How a reference is used: assigned (X = ...), read ($X), or a started call's handle. */
enum { REF_TARGET, REF_READ, REF_HANDLE };

static int use(struct cur *c, int what, int32_t sym, const char *at)
{
	if (c->nuses == (int)(sizeof c->uses / sizeof c->uses[0]))
		return fail(c, at, "too many names on one line");
	if (at > c->ls && at[-1] == '$')
		at--;
	c->uses[c->nuses++] = (struct use){.sym = sym, .at = at, .what = what};
	return 0;
}

/* name, name[3], name[$i], name[$j]; the '$' before it, if any, already seen. */
static int ref(struct cur *c, struct sc_ref *r, int how)
{
	char name[SC_MAX_NAME + 1];
	memset(r, 0, sizeof *r);
	ws(c);
	const char *at = c->p;
	if (ident(c, name, sizeof name, "a variable name") < 0 || symbol(c, at, name, &r->name) < 0)
		return -1;
	int indexed = c->p < c->eol && *c->p == '[';
	int iter = how == REF_READ && !indexed && !strcmp(name, "i"); /* $i: the repeat index */
	if (how != REF_TARGET && !iter &&
	    use(c, how == REF_HANDLE ? U_HANDLE : U_VAR, r->name, at) < 0)
		return -1;
	if (indexed) {
		c->p++;
		ws(c);
		if (c->p < c->eol && *c->p == '$') {
			char idx[SC_MAX_NAME + 1];
			const char *is = ++c->p;
			if (ident(c, idx, sizeof idx, "an index variable") < 0)
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
			if (number(c, &r->index) < 0)
				return -1;
		}
		if (expect_char(c, ']') < 0)
			return -1;
	} else if (iter) {
		r->ix = IX_ITER;
		if (use(c, U_ITER, -1, at) < 0)
			return -1;
	}
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int ref(struct cur *c, struct sc_ref *r, int how);

/* A quoted string, its bytes appended to sc->bytes. With interp, "${NAME}" names a variable
 * and the bytes are a template (SC_TPL_MARK), *interp then set; without, those are bytes. */
static int string_interp(struct cur *c, struct sc_span *out, uint8_t *interp)
{
	struct sd_scenario *sc = c->sc;
	const char *start = c->p++;
	/* a reference, 4 characters at least, takes 2 + sizeof(struct sc_ref) bytes */
	if (reserve(&sc->bytes, &sc->capbytes, sc->nbytes, (uint32_t)(c->eol - c->p) * 5 + 1, 1) <
	    0)
		return fail(c, start, "out of memory");
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
			return fail(c, start, "unterminated string");
		char ch = *c->p++;
		if (ch == '"')
			break;
		if (tpl && ch == '$' && c->p < c->eol && *c->p == '{') {
			struct sc_ref r;
			c->p++;
			if (ref(c, &r, REF_READ) < 0)
				return -1;
			ws(c);
			if (c->p >= c->eol || *c->p != '}')
				return fail(c, c->p, "expected '}' after the variable name");
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
			return fail(c, start, "unterminated string");
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
			int h = c->p + 1 < c->eol ? hexval(c->p[0]) : -1;
			int l = h >= 0 ? hexval(c->p[1]) : -1;
			if (l < 0)
				return fail(c, esc, "\\x needs two hex digits");
			if (tpl && h * 16 + l == SC_TPL_MARK)
				buf[n++] = SC_TPL_MARK;
			buf[n++] = (unsigned char)(h * 16 + l);
			c->p += 2;
			break;
		}
		default: return fail(c, esc, "unknown escape '\\%c'", c->p[-1]);
		}
	}
	out->off = sc->nbytes;
	out->len = n;
	sc->nbytes += n;
	if (interp)
		*interp = (uint8_t)tpl;
	return 0;
}

static int string(struct cur *c, struct sc_span *out) { return string_interp(c, out, NULL); }

/* a.b.c.d:PORT or [v6]:PORT, PORT a number or a variable; with any_port (an expectation),
 * also '*', any port (*any_port set). */
static int address_any(struct cur *c, struct sc_value *v, int *any_port)
{
	struct sd_scenario *sc = c->sc;
	const char *s = c->p, *hs, *he;
	char host[64];
	struct sockaddr_storage ss;
	socklen_t sl;
	if (*c->p == '[') {
		hs = ++c->p;
		while (c->p < c->eol && *c->p != ']')
			c->p++;
		if (c->p >= c->eol)
			return fail(c, s, "unterminated IPv6 address (missing ']')");
		he = c->p++;
	} else {
		hs = c->p;
		while (c->p < c->eol && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.'))
			c->p++;
		he = c->p;
	}
	if (c->p >= c->eol || *c->p != ':')
		return fail(c, c->p, "an address needs a port: ADDR:PORT");
	c->p++;
	if ((size_t)(he - hs) >= sizeof host)
		return fail(c, s, "address too long");
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = 0;
	if (sd_addr_parse(host, 0, &ss, &sl) < 0 || (*s == '[') != (ss.ss_family == AF_INET6) ||
	    sl > sizeof(struct sockaddr_in6))
		return fail(c, hs, "not an IPv4 or IPv6 address: '%s'", host);
	if (reserve(&sc->addrs, &sc->capaddrs, sc->naddrs, 1, sizeof *sc->addrs) < 0)
		return fail(c, s, "out of memory");
	struct sc_addr *a = &sc->addrs[sc->naddrs];
	memset(a, 0, sizeof *a);
	memcpy(a, &ss, sl);
	a->len = sl;
	v->kind = V_ADDR;
	v->addr = sc->naddrs++;
	if (any_port && c->p < c->eol && *c->p == '*') {
		c->p++;
		*any_port = 1;
		return 0;
	}
	if (c->p < c->eol && *c->p == '$') {
		c->p++;
		v->port_is_var = 1;
		return ref(c, &v->var, REF_READ);
	}
	int64_t port;
	const char *ps = c->p;
	if (number(c, &port) < 0)
		return -1;
	if (port < 0 || port > 65535)
		return fail(c, ps, "port out of range: %lld", (long long)port);
	if (a->v4.sin_family == AF_INET)
		a->v4.sin_port = htons((uint16_t)port);
	else
		a->v6.sin6_port = htons((uint16_t)port);
	return 0;
}

static int address(struct cur *c, struct sc_value *v) { return address_any(c, v, NULL); }

/* NAME|NAME|... resolved to the OR of their values. */
static int flags(struct cur *c, int64_t *out)
{
	char name[32];
	*out = 0;
	for (;;) {
		const char *s = (ws(c), c->p);
		int64_t v;
		if (ident(c, name, sizeof name, "a name") < 0)
			return -1;
		if (sd__sc_lookup_const(name, &v) < 0)
			return fail(c, s, "unknown name '%s'", name);
		*out |= v;
		ws(c);
		if (c->p >= c->eol || *c->p != '|')
			return 0;
		c->p++;
	}
}

/* A socket option's name, alone (not in NAME|NAME): 1 with v its entry in the table (V_OPT), a
 * value of its own that only setsockopt and getsockopt take; else 0 with nothing read. */
static int option_name(struct cur *c, struct sc_value *v)
{
	char name[32];
	const char *q = c->p;
	while (q < c->eol && is_id(*q))
		q++;
	size_t n = (size_t)(q - c->p);
	while (q < c->eol && (*q == ' ' || *q == '\t'))
		q++;
	if (!n || !is_id0(*c->p) || n >= sizeof name || (q < c->eol && *q == '|'))
		return 0;
	memcpy(name, c->p, n);
	name[n] = 0;
	const struct sd__sockopt *o = sd__sockopt_by_name(name);
	if (!o)
		return 0;
	memset(v, 0, sizeof *v);
	v->kind = V_OPT;
	v->num = o - sd__sockopts;
	c->p += n;
	return 1;
}

static int value(struct cur *c, struct sc_value *v)
{
	memset(v, 0, sizeof *v);
	ws(c);
	if (c->p >= c->eol)
		return fail(c, c->p, "expected a value");
	char ch = *c->p;
	if (ch == '"') {
		v->kind = V_STR;
		return string_interp(c, &v->str, &v->interp);
	}
	if (ch == '[')
		return address(c, v);
	if (ch == '$') {
		c->p++;
		v->kind = V_VAR;
		return ref(c, &v->var, REF_READ);
	}
	if ((ch >= '0' && ch <= '9') || ch == '-') {
		const char *q = c->p + (ch == '-');
		while (q < c->eol && *q >= '0' && *q <= '9')
			q++;
		if (q < c->eol && *q == '.' && ch != '-')
			return address(c, v);
		v->kind = V_NUM;
		return number(c, &v->num);
	}
	if (is_id0(ch) && c->eol - c->p > 8 && !strncmp(c->p, "pattern(", 8)) {
		c->p += 8;
		ws(c);
		v->kind = V_PATTERN;
		if (c->p < c->eol && *c->p == '$') {
			c->p++;
			v->len_is_var = 1;
			if (ref(c, &v->var, REF_READ) < 0)
				return -1;
		} else {
			const char *s = c->p;
			if (number(c, &v->num) < 0)
				return -1;
			if (v->num < 0 || v->num > (64 << 20))
				return fail(c, s, "pattern length must be 0..67108864");
		}
		return expect_char(c, ')');
	}
	if (is_id0(ch) && c->eol - c->p > 5 && !strncmp(c->p, "null(", 5)) {
		c->p += 5;
		ws(c);
		const char *s = c->p;
		v->kind = V_NULL;
		if (number(c, &v->num) < 0)
			return -1;
		if (v->num < 1 || v->num > (64 << 20))
			return fail(c, s, "null length must be 1..67108864");
		return expect_char(c, ')');
	}
	if (is_id0(ch) && option_name(c, v))
		return 0;
	if (is_id0(ch)) {
		v->kind = V_NUM;
		return flags(c, &v->num);
	}
	return fail(c, c->p, "unexpected '%c'", ch);
}

static int is_errno_name(const char *n) { return sd_errno_by_name(n) != 0; }

/* 'match /RE/ [as A, B]': the expression compiled (POSIX ERE), the names its groups go to. */
static int regex_expectation(struct cur *c, struct sc_expect *e)
{
	struct sd_scenario *sc = c->sc;
	ws(c);
	const char *s = c->p;
	if (c->p >= c->eol || *c->p != '/')
		return fail(c, s, "match takes a regular expression between slashes: match /^OK/");
	c->p++;
	size_t cap = (size_t)(c->eol - c->p) + 1, n = 0;
	char *src = malloc(cap);
	if (!src)
		return fail(c, s, "out of memory");
	for (;;) {
		if (c->p >= c->eol) {
			free(src);
			return fail(c, s, "unterminated regular expression (missing '/')");
		}
		char ch = *c->p++;
		if (ch == '/')
			break;
		/* \/ is a slash; \r \n \t \xHH are those bytes, as in strings; any other
		 * backslash is the expression's own */
		if (ch == '\\' && c->p < c->eol && strchr("/rnt", *c->p)) {
			ch = *c->p++;
			ch = ch == 'r' ? '\r' : ch == 'n' ? '\n' : ch == 't' ? '\t' : ch;
		} else if (ch == '\\' && c->eol - c->p >= 3 && c->p[0] == 'x' &&
			   hexval(c->p[1]) >= 0 && hexval(c->p[2]) >= 0) {
			ch = (char)(hexval(c->p[1]) * 16 + hexval(c->p[2]));
			c->p += 3;
			if (!ch) {
				free(src);
				return fail(c, c->p - 4,
					    "a regular expression cannot hold a NUL byte");
			}
		} else if (ch == '\\' && c->p < c->eol) {
			src[n++] = ch, ch = *c->p++;
		}
		src[n++] = ch;
	}
	src[n] = 0;
	regex_t re;
	int rc = regcomp(&re, src, REG_EXTENDED);
	if (rc != 0) {
		char why[128];
		regerror(rc, &re, why, sizeof why);
		free(src);
		return fail(c, s + 1, "bad regular expression: %s", why);
	}
	if (reserve(&sc->regs, &sc->capregs, sc->nregs, 1, sizeof *sc->regs) < 0 ||
	    reserve(&sc->bytes, &sc->capbytes, sc->nbytes, (uint32_t)n, 1) < 0) {
		regfree(&re);
		free(src);
		return fail(c, s, "out of memory");
	}
	sc->regs[sc->nregs] = re;
	e->reg = sc->nregs++;
	memcpy(sc->bytes + sc->nbytes, src, n);
	e->str = (struct sc_span){.off = sc->nbytes, .len = (uint32_t)n};
	sc->nbytes += (uint32_t)n;
	free(src);
	e->kind = E_MATCH;
	ws(c);
	if (!(c->eol - c->p > 2 && !strncmp(c->p, "as", 2) && !is_id(c->p[2])))
		return 0;
	c->p += 2;
	e->caps = sc->nvals;
	for (;;) {
		struct sc_ref r;
		const char *at = (ws(c), c->p);
		if (e->ncaps == SC_MAX_GROUPS || e->ncaps == re.re_nsub)
			return fail(c, at,
				    "the expression has %zu group%s: 'as' names at most that many",
				    re.re_nsub > SC_MAX_GROUPS ? SC_MAX_GROUPS : re.re_nsub,
				    re.re_nsub == 1 ? "" : "s");
		if (ref(c, &r, REF_TARGET) < 0)
			return -1;
		if (reserve(&sc->vals, &sc->capvals, sc->nvals, 1, sizeof *sc->vals) < 0 ||
		    c->ncaps == (int)(sizeof c->caps / sizeof c->caps[0]))
			return fail(c, at, "out of memory");
		sc->vals[sc->nvals++] = (struct sc_value){.kind = V_VAR, .var = r};
		c->caps[c->ncaps++] = r.name;
		e->ncaps++;
		ws(c);
		if (c->p >= c->eol || *c->p != ',')
			return 0;
		c->p++;
	}
}

/* A flag name an expectation of call may give: msg_flags' MSG_ names, poll's otherwise. */
static int flag_name(enum sc_call call, const char *name)
{
	return call == C_MSG_FLAGS ? sd__sc_is_msg_flag_name(name) : sd__sc_is_poll_name(name);
}

/* After 'A|B': the name that follows '|' is one of the same list (errno or poll names), or
 * else the start of the next alternative ("ECONNRESET | eof"): 1 when it is. */
static int same_list_after_bar(const struct cur *c, int errs, enum sc_call call)
{
	const char *q = c->p + 1, *s;
	char name[32];
	while (q < c->eol && (*q == ' ' || *q == '\t'))
		q++;
	for (s = q; q < c->eol && is_id(*q); q++)
		;
	if (q == s || (size_t)(q - s) >= sizeof name)
		return 0;
	memcpy(name, s, (size_t)(q - s));
	name[q - s] = 0;
	return errs ? is_errno_name(name) : flag_name(call, name);
}

/* '< N', '<= $X', '> N', '>= N', '!= N': a comparison of the result with a number or a
 * variable's number. */
static int comparison(struct cur *c, struct sc_expect *e)
{
	static const struct {
		const char *text;
		uint8_t op;
	} ops[] = {{"<=", CMP_LE}, {">=", CMP_GE}, {"!=", CMP_NE}, {"<", CMP_LT}, {">", CMP_GT}};
	const char *s = c->p;
	size_t k = 0;
	while (k < sizeof ops / sizeof ops[0] && ((size_t)(c->eol - c->p) < strlen(ops[k].text) ||
						  strncmp(c->p, ops[k].text, strlen(ops[k].text))))
		k++;
	if (k == sizeof ops / sizeof ops[0])
		return fail(c, s, "expected a comparison: <, <=, >, >= or !=");
	c->p += strlen(ops[k].text);
	e->kind = E_CMP;
	e->op = ops[k].op;
	ws(c);
	if (c->p < c->eol && *c->p == '$') {
		c->p++;
		e->op |= CMP_VAR;
		return ref(c, &e->var, REF_READ);
	}
	if (c->p >= c->eol || !((*c->p >= '0' && *c->p <= '9') || *c->p == '-'))
		return fail(c, c->p, "%s takes a number or a variable: %s 1, %s $X", ops[k].text,
			    ops[k].text, ops[k].text);
	return number(c, &e->lo);
}

/* 127.0.0.1:$P, [::ffff:127.0.0.1]:*, 0.0.0.0:0: what addr() or peer() must give. */
static int address_expectation(struct cur *c, struct sc_expect *e, enum sc_call call, int is_call)
{
	struct sc_value v;
	int any = 0;
	const char *s = c->p;
	if (is_call && !sc_gives_addr(call))
		return fail(c, s, "an address expectation is only for addr, peer");
	memset(&v, 0, sizeof v);
	if (address_any(c, &v, &any) < 0)
		return -1;
	e->kind = E_ADDR;
	e->addr = v.addr;
	e->op = any ? CMP_ANY : v.port_is_var ? CMP_VAR : 0;
	if (v.port_is_var)
		e->port = v.var;
	return 0;
}

/* Looks ahead: '{' then a number, the start of an {ON, SECS} pair. */
static int linger_ahead(const struct cur *c)
{
	const char *q = c->p + 1;
	while (q < c->eol && (*q == ' ' || *q == '\t'))
		q++;
	return q < c->eol && ((*q >= '0' && *q <= '9') || *q == '-');
}

/* {ON, SECS}: SO_LINGER's pair (ON 0 or 1, SECS an int: Linux takes a negative one as a time
 * too long for its jiffies and caps it); misplaced when not for SO_LINGER
 * (the caller says), which is an error here. */
static int linger_pair(struct cur *c, int64_t *on, int64_t *secs, int misplaced)
{
	const char *s = c->p;
	if (misplaced)
		return fail(c, s,
			    "an {ON, SECONDS} pair is SO_LINGER's, for setsockopt and getsockopt");
	c->p++;
	ws(c);
	const char *ns = c->p;
	if (number(c, on) < 0)
		return -1;
	if (*on != 0 && *on != 1)
		return fail(c, ns, "SO_LINGER's ON is 0 or 1");
	if (expect_char(c, ',') < 0)
		return -1;
	ws(c);
	ns = c->p;
	if (number(c, secs) < 0)
		return -1;
	if (*secs < INT_MIN || *secs > INT_MAX)
		return fail(c, ns, "SO_LINGER's seconds are %d..%d", INT_MIN, INT_MAX);
	return expect_char(c, '}');
}

/* {S: IN|OUT, C: IN|RDHUP} (or {} for none): the descriptors epoll_wait reports, in any
 * order, each with exactly these events. */
static int events_expectation(struct cur *c, struct sc_expect *e)
{
	struct sd_scenario *sc = c->sc;
	const char *s = c->p++;
	e->kind = E_EVENTS;
	e->caps = sc->nvals;
	ws(c);
	if (c->p < c->eol && *c->p == '}') {
		c->p++;
		return 0;
	}
	for (;;) {
		struct sc_ref r;
		int64_t ev;
		ws(c);
		const char *at = c->p;
		if (e->ncaps == SC_MAX_EVENTS)
			return fail(c, at, "too many descriptors (at most %d)", SC_MAX_EVENTS);
		if (c->p < c->eol && *c->p == '$')
			c->p++;
		if (ref(c, &r, REF_READ) < 0 || expect_char(c, ':') < 0)
			return -1;
		ws(c);
		const char *fs = c->p;
		if (flags(c, &ev) < 0)
			return -1;
		if (ev &
		    ~(int64_t)(EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLERR | EPOLLHUP))
			return fail(c, fs, "epoll_wait reports IN, OUT, RDHUP, PRI, ERR, HUP");
		if (reserve(&sc->vals, &sc->capvals, sc->nvals, 2, sizeof *sc->vals) < 0)
			return fail(c, at, "out of memory");
		sc->vals[sc->nvals++] = (struct sc_value){.kind = V_VAR, .var = r};
		sc->vals[sc->nvals++] = (struct sc_value){.kind = V_NUM, .num = ev};
		e->ncaps++;
		ws(c);
		if (c->p < c->eol && *c->p == '}') {
			c->p++;
			return 0;
		}
		if (c->p >= c->eol || *c->p != ',')
			return fail(c, c->p >= c->eol ? s : c->p, "expected ',' or '}' in {...}");
		c->p++;
	}
}

static int alternative(struct cur *c, struct sc_expect *e, enum sc_call call, int is_call)
{
	memset(e, 0, sizeof *e);
	ws(c);
	const char *s = c->p;
	if (c->p >= c->eol)
		return fail(c, s, "expected an expectation after '->'");
	char ch = *c->p;
	if (ch == '*') {
		c->p++;
		e->kind = E_ANY;
		return 0;
	}
	if (ch == '"') {
		if (is_call && !sc_reads_bytes(call))
			return fail(c, s,
				    "a string expectation is only for recv, recv_until, recvline");
		e->kind = E_STR;
		return string_interp(c, &e->str, &e->interp);
	}
	if (ch == '$') {
		c->p++;
		e->kind = E_VAR;
		return ref(c, &e->var, REF_READ);
	}
	const char *q = c->p;
	while (q < c->eol && *q >= '0' && *q <= '9')
		q++;
	if (ch == '[' || (q > c->p && q < c->eol && *q == '.' && !(q + 1 < c->eol && q[1] == '.')))
		return address_expectation(c, e, call, is_call);
	if ((ch >= '0' && ch <= '9') || ch == '-') {
		if (number(c, &e->lo) < 0)
			return -1;
		e->kind = E_NUM;
		if (c->eol - c->p >= 2 && c->p[0] == '.' && c->p[1] == '.') {
			c->p += 2;
			if (number(c, &e->hi) < 0)
				return -1;
			if (e->hi < e->lo)
				return fail(c, s, "empty range %lld..%lld", (long long)e->lo,
					    (long long)e->hi);
			e->kind = E_RANGE;
		}
		return 0;
	}
	if (ch == '<' || ch == '>' || ch == '!')
		return comparison(c, e);
	if (ch == '{' && linger_ahead(c)) {
		e->kind = E_LINGER;
		return linger_pair(c, &e->lo, &e->hi, is_call && call != C_GETSOCKOPT);
	}
	if (ch == '{') {
		if (is_call && call != C_EPOLL_WAIT)
			return fail(c, s, "an events expectation {...} is only for epoll_wait");
		return events_expectation(c, e);
	}
	if (!is_id0(ch))
		return fail(c, s, "unexpected '%c' in an expectation", ch);
	if (c->eol - c->p > 8 && !strncmp(c->p, "pattern(", 8)) {
		if (is_call && !sc_reads_bytes(call))
			return fail(c, s,
				    "a pattern expectation is only for recv, recv_until, recvline");
		c->p += 8;
		ws(c);
		e->kind = E_PATTERN;
		if (c->p < c->eol && *c->p == '$') { /* pattern($N): the length a variable holds */
			c->p++;
			e->op = CMP_VAR;
			if (ref(c, &e->var, REF_READ) < 0)
				return -1;
			return expect_char(c, ')');
		}
		if (number(c, &e->lo) < 0)
			return -1;
		if (e->lo < 0 || e->lo > (64 << 20))
			return fail(c, s, "pattern length must be 0..67108864");
		return expect_char(c, ')');
	}
	char name[32];
	if (ident(c, name, sizeof name, "an expectation") < 0)
		return -1;
	if (!strcmp(name, "fd")) {
		e->kind = E_FD;
		return 0;
	}
	if (!strcmp(name, "even") || !strcmp(name, "odd")) {
		e->kind = E_PARITY;
		e->lo = name[0] == 'o';
		return 0;
	}
	if (!strcmp(name, "eof") || !strcmp(name, "prefix") || !strcmp(name, "match")) {
		if (is_call && !sc_reads_bytes(call))
			return fail(c, s, "'%s' is an expectation for recv, recv_until, recvline",
				    name);
		if (!strcmp(name, "eof")) {
			e->kind = E_EOF;
			return 0;
		}
		if (!strcmp(name, "match"))
			return regex_expectation(c, e);
		ws(c);
		if (c->p >= c->eol || *c->p != '"')
			return fail(c, c->p, "prefix takes a string: prefix \"HTTP/1.1 200\"");
		e->kind = E_PREFIX;
		return string_interp(c, &e->str, &e->interp);
	}
	int errs = is_errno_name(name), polls = flag_name(call, name);
	if (!errs && !polls)
		return fail(c, s,
			    "unknown expectation '%s' (an errno name such as ECONNREFUSED, "
			    "%s, a number, a range, a comparison such as >= 1, even, "
			    "odd, fd, a string or *)",
			    name,
			    call == C_MSG_FLAGS ? "msg_flags flags such as MSG_CTRUNC|MSG_EOR"
						: "poll flags");
	e->kind = errs ? E_ERRNOS : E_FLAGS;
	for (;;) {
		if (errs) {
			if (e->nerrs == 8)
				return fail(c, s, "too many alternatives (at most 8)");
			e->errs[e->nerrs++] = (uint16_t)sd_errno_by_name(name);
		} else {
			int64_t v = 0;
			sd__sc_lookup_const(name, &v);
			e->lo |= v;
		}
		ws(c);
		if (c->p >= c->eol || *c->p != '|' || !same_list_after_bar(c, errs, call))
			break;
		c->p++;
		ws(c);
		const char *ns = c->p;
		if (ident(c, name, sizeof name, "a name after '|'") < 0)
			return -1;
		if (errs ? !is_errno_name(name) : !flag_name(call, name))
			return fail(c, ns, "'%s' is not %s", name,
				    errs                  ? "an errno name"
				    : call == C_MSG_FLAGS ? "a msg_flags flag"
							  : "a poll flag");
	}
	if (e->kind == E_FLAGS && is_call && call != C_POLL && call != C_MSG_FLAGS)
		return fail(c, s, "poll flags are only an expectation for poll");
	if (e->kind == E_FLAGS && call == C_MSG_FLAGS)
		e->op = 1; /* shown as MSG_ names */
	return 0;
}

/* An expectation: alternatives joined by '|' ("x" | eof | ECONNRESET), stored in order in
 * sc->expects, each naming the next; *first is 1 + the first's index. */
static int expectation(struct cur *c, uint32_t *first, enum sc_call call, int is_call)
{
	struct sd_scenario *sc = c->sc;
	uint32_t prev = 0;
	for (int n = 0;; n++) {
		struct sc_expect e;
		const char *s = (ws(c), c->p);
		if (n == SC_MAX_ALTS)
			return fail(c, s, "too many alternatives (at most %d)", SC_MAX_ALTS);
		if (alternative(c, &e, call, is_call) < 0)
			return -1;
		if (reserve(&sc->expects, &sc->capexpects, sc->nexpects, 1, sizeof *sc->expects) <
		    0)
			return fail(c, s, "out of memory");
		sc->expects[sc->nexpects++] = e;
		if (prev)
			sc->expects[prev - 1].next = sc->nexpects;
		else
			*first = sc->nexpects;
		prev = sc->nexpects;
		ws(c);
		if (c->p >= c->eol || *c->p != '|')
			return 0;
		c->p++;
	}
}

/* A statement as parsed, before it is stored: the step and the values it refers to. */
struct stmt {
	struct sc_step st;
	struct sc_value args[6];
	struct sc_ref handle, target;
	uint32_t expect; /* 1 + index in sc->expects of the first alternative, 0 for none */
};

/* The keywords a call takes after its positional arguments: send's pace=MS and hold_last=MS
 * ("ms" may follow the number), recvmsg's control=BYTES, the address length len=N of bind,
 * connect and sendto. */
static const struct keyword {
	const char *name;
	int call, kind, ms;
	int64_t max;
} keywords[] = {{"pace", C_SEND, V_PACE, 1, SC_MAX_PACE_MS},
		{"hold_last", C_SEND, V_HOLD, 1, SC_MAX_PAUSES},
		{"control", C_RECVMSG, V_CONTROL, 0, SC_MAX_CONTROL},
		{"len", C_BIND, V_ALEN, 0, (int64_t)sizeof(struct sockaddr_storage)},
		{"len", C_CONNECT, V_ALEN, 0, (int64_t)sizeof(struct sockaddr_storage)},
		{"len", C_SENDTO, V_ALEN, 0, (int64_t)sizeof(struct sockaddr_storage)}};

static const char *keyword_name(int kind)
{
	for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
		if (keywords[k].kind == kind)
			return keywords[k].name;
	return "?";
}

/* "pace=MS or hold_last=MS": what a call's keywords are, for a message. */
static void keyword_list(int call, char *out, size_t size)
{
	size_t o = 0;
	out[0] = 0;
	for (size_t k = 0; k < sizeof keywords / sizeof keywords[0] && o < size; k++)
		if (keywords[k].call == call)
			o += (size_t)snprintf(out + o, size - o, "%s%s=%s", o ? " or " : "",
					      keywords[k].name, keywords[k].ms ? "MS" : "N");
}

/* One of the call's keywords: 1 parsed into v, 0 when the text is no such keyword (nothing
 * read), -1 with the error set. */
static int call_keyword(struct cur *c, int call, struct sc_value *v)
{
	for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++) {
		const struct keyword *kw = &keywords[k];
		size_t len = strlen(kw->name);
		const char *q = c->p + len;
		if (kw->call != call || (size_t)(c->eol - c->p) <= len ||
		    strncmp(c->p, kw->name, len) || is_id(*q))
			continue;
		while (q < c->eol && (*q == ' ' || *q == '\t'))
			q++;
		if (q >= c->eol || *q != '=')
			continue;
		c->p = q + 1;
		ws(c);
		const char *ns = c->p;
		int64_t n = 0;
		int digits = 0;
		while (c->p < c->eol && *c->p >= '0' && *c->p <= '9' && digits < 10)
			n = n * 10 + (*c->p++ - '0'), digits++;
		if (kw->ms && c->eol - c->p >= 2 && !strncmp(c->p, "ms", 2))
			c->p += 2;
		if (!digits || (c->p < c->eol && is_id(*c->p)) || n > kw->max)
			return fail(c, ns, "%s takes %s, 0..%lld: %s=%s", kw->name,
				    kw->ms ? "milliseconds" : "a number of bytes",
				    (long long)kw->max, kw->name, kw->ms ? "10ms" : "8");
		memset(v, 0, sizeof *v);
		v->kind = (uint8_t)kw->kind;
		v->num = n;
		return 1;
	}
	return 0;
}

/* An address of family AF_UNSPEC, the length of a sockaddr (Linux reads only the family). */
static int unspec_address(struct cur *c, struct sc_value *v)
{
	struct sd_scenario *sc = c->sc;
	if (reserve(&sc->addrs, &sc->capaddrs, sc->naddrs, 1, sizeof *sc->addrs) < 0)
		return fail(c, c->p, "out of memory");
	struct sc_addr *a = &sc->addrs[sc->naddrs];
	memset(a, 0, sizeof *a);
	a->v4.sin_family = AF_UNSPEC;
	a->len = sizeof(struct sockaddr);
	memset(v, 0, sizeof *v);
	v->kind = V_ADDR;
	v->addr = sc->naddrs++;
	return 0;
}

#define CMSG_USAGE "cmsg takes TCP_CM_INQ: cmsg($S, TCP_CM_INQ)"
static int call_expr(struct cur *c, struct stmt *m)
{
	struct sc_step *st = &m->st;
	char name[32];
	const char *s = (ws(c), c->p);
	size_t i;
	if (ident(c, name, sizeof name, "a call") < 0)
		return -1;
	for (i = 0; i < sizeof calls / sizeof calls[0]; i++)
		if (!strcmp(calls[i].name, name))
			break;
	if (i == sizeof calls / sizeof calls[0])
		return fail(c, s, "unknown call '%s'", name);
	st->call = (uint8_t)calls[i].call;
	c->sc->uses_reply_port |= st->call == C_REPLY_PORT;
	if (expect_char(c, '(') < 0)
		return -1;
	ws(c);
	if (c->p < c->eol && *c->p == ')') {
		c->p++;
	} else {
		for (;;) {
			const char *as = (ws(c), c->p);
			if (st->nargs == calls[i].max)
				return fail(c, as, "%s takes at most %d arguments", name,
					    calls[i].max);
			struct sc_value *v = &m->args[st->nargs];
			int want = calls[i].kinds[st->nargs], kw = 0;
			if (st->nargs >= 2 && c->p < c->eol && is_id0(*c->p) &&
			    (kw = call_keyword(c, st->call, v)) != 0) {
				if (kw < 0)
					return -1;
				for (int k = 2; k < st->nargs; k++)
					if (m->args[k].kind == v->kind)
						return fail(c, as, "%s given twice",
							    keyword_name(v->kind));
			} else if (want == A_ADDR && c->eol - c->p >= 9 &&
				   !strncmp(c->p, "AF_UNSPEC", 9) &&
				   (c->eol - c->p == 9 || !is_id(c->p[9]))) {
				/* connect(S, AF_UNSPEC): a disconnect (bind takes it too, as Linux)
				 */
				c->p += 9;
				if (unspec_address(c, v) < 0)
					return -1;
			} else if (st->call == C_SETSOCKOPT && st->nargs == 2 && c->p < c->eol &&
				   *c->p == '{') {
				int64_t on, secs;
				int linger = m->args[1].kind == V_OPT &&
					     sd__sockopts[m->args[1].num].kind == SD__KIND_LINGER;
				if (linger_pair(c, &on, &secs, !linger) < 0)
					return -1;
				memset(v, 0, sizeof *v);
				v->kind = V_LINGER;
				v->num = on << 32 | (secs & 0xffffffff);
				kw = 1; /* a value of its own kind: checked here */
			} else if (want == A_FD && c->p < c->eol && is_id0(*c->p) &&
				   !(c->eol - c->p > 5 && !strncmp(c->p, "null(", 5))) {
				/* a descriptor is a variable: "L" and "$L" both name it */
				memset(v, 0, sizeof *v);
				v->kind = V_VAR;
				if (ref(c, &v->var, REF_READ) < 0)
					return -1;
			} else if (value(c, v) < 0) {
				return -1;
			}
			st->nargs++;
			if ((want == A_NUM || want == A_FD) && v->kind == V_NUM) {
				/* the runner passes numbers on as int (milliseconds for sleep) */
				int64_t lo = st->call == C_SLEEP ? 0 : INT_MIN;
				int64_t hi = st->call == C_SLEEP ? SC_MAX_SLEEP_MS : INT_MAX;
				if (st->call == C_SETSOCKOPT && st->nargs == 3 &&
				    sd__sockopts[m->args[1].num].kind == SD__KIND_U32)
					lo = 0, hi = UINT32_MAX;
				if (v->num < lo || v->num > hi)
					return fail(c, as, "argument %d of %s must be %lld..%lld%s",
						    st->nargs, name, (long long)lo, (long long)hi,
						    st->call == C_SLEEP ? " (milliseconds)" : "");
			}
			int ok = kw               ? 1
				 : want == A_KW   ? 0
				 : want == A_FD   ? v->kind == V_VAR || v->kind == V_NUM
				 : want == A_ADDR ? v->kind == V_ADDR || v->kind == V_VAR
				 : v->kind == V_NULL
					 ? (st->call == C_SEND && st->nargs == 2) ||
						   (st->call == C_RECV && st->nargs == 2)
				 : want == A_DATA ? v->kind == V_STR || v->kind == V_PATTERN
				 : want == A_OPT  ? v->kind == V_OPT
						  : v->kind == V_NUM || v->kind == V_VAR;
			if (st->call == C_CMSG && v->kind == V_OPT) /* cmsg(C, TCP_INQ) */
				return fail(c, s, CMSG_USAGE);
			if (!ok) {
				static const char *const what[] = {
					"",
					"a descriptor: a variable ($X) or a number",
					"a number",
					"an address (ADDR:PORT or $A)",
					"a string or pattern(N)",
					"a socket option name",
					""};
				char kws[64];
				keyword_list(st->call, kws, sizeof kws);
				return fail(c, as, "argument %d of %s must be %s", st->nargs, name,
					    want == A_KW ? kws : what[want]);
			}
			ws(c);
			if (c->p < c->eol && *c->p == ',') {
				c->p++;
				continue;
			}
			if (expect_char(c, ')') < 0)
				return -1;
			break;
		}
	}
	if (st->nargs < calls[i].min)
		return fail(c, s, "%s needs at least %d arguments", name, calls[i].min);
	if (st->call == C_IOCTL && m->args[1].kind == V_NUM && m->args[1].num != SIOCINQ &&
	    m->args[1].num != SIOCOUTQ)
		return fail(c, s, "ioctl takes FIONREAD, SIOCINQ or SIOCOUTQ");
	if (st->call == C_EPOLL_WAIT && st->nargs == 3 && m->args[2].kind == V_NUM &&
	    (m->args[2].num < 1 || m->args[2].num > SC_MAX_EVENTS))
		return fail(c, s, "epoll_wait takes at most %d events at once (1..%d)",
			    SC_MAX_EVENTS, SC_MAX_EVENTS);
	for (int k = 0; st->call == C_SEND && m->args[1].kind == V_NULL && k < st->nargs; k++)
		if (m->args[k].kind == V_PACE || m->args[k].kind == V_HOLD)
			return fail(
				c, s,
				"null(N) sends nothing to pace: no pace= or hold_last= with it");
	if (st->call == C_CMSG && (m->args[1].kind != V_NUM || m->args[1].num != TCP_INQ))
		return fail(c, s, CMSG_USAGE);
	/* a number names the same descriptor on neither backend: only a bad one (-1) is safe */
	if ((st->call == C_DUP2 || st->call == C_DUP3) && m->args[1].kind != V_VAR)
		return fail(c, s,
			    "%s's second descriptor is a variable: %s(A, B) makes B name A's "
			    "socket (numbers differ between backends)",
			    name, name);
	if (st->call == C_ELAPSED && m->args[0].kind != V_VAR)
		return fail(c, s, "elapsed takes the variable a now() step kept: elapsed($T)");
	if (st->call == C_IOCTL && m->args[1].kind != V_NUM)
		return fail(c, s, "ioctl takes FIONREAD, SIOCINQ or SIOCOUTQ, not a variable");
	return 0;
}

static int target(struct cur *c, struct sc_ref *r)
{
	if (ref(c, r, REF_TARGET) < 0)
		return -1;
	return expect_char(c, '=');
}

/* Looks ahead: "NAME =" or "NAME[...] =" (an assignment), as opposed to a call. */
static int assignment_ahead(const struct cur *c)
{
	const char *q = c->p;
	while (q < c->eol && is_id(*q))
		q++;
	if (q < c->eol && *q == '[')
		while (q < c->eol && *q != ']')
			q++;
	if (q < c->eol && *q == ']')
		q++;
	while (q < c->eol && (*q == ' ' || *q == '\t'))
		q++;
	return q < c->eol && *q == '=';
}

/* One statement after an optional "actor:". */
static int statement(struct cur *c, struct stmt *m)
{
	struct sc_step *st = &m->st;
	ws(c);
	st->kind = S_CALL;
	if (c->eol - c->p > 6 && !strncmp(c->p, "start", 5) && !is_id(c->p[5])) {
		c->p += 5;
		st->kind = S_START;
		ws(c);
		if (target(c, &m->handle) < 0 || call_expr(c, m) < 0)
			return -1;
		if (!at_end(c))
			return fail(c, c->p,
				    "a started call has no expectation here: check it at 'wait'");
		return 0;
	}
	if (c->eol - c->p > 8 && !strncmp(c->p, "blocked", 7) && !is_id(c->p[7])) {
		c->p += 7;
		st->kind = S_BLOCKED;
		ws(c);
		if (c->p < c->eol && *c->p == '$')
			c->p++;
		return ref(c, &m->handle, REF_HANDLE);
	}
	if (assignment_ahead(c)) {
		st->has_target = 1;
		if (target(c, &m->target) < 0)
			return -1;
		ws(c);
	}
	if (c->eol - c->p > 5 && !strncmp(c->p, "wait", 4) && !is_id(c->p[4])) {
		c->p += 4;
		st->kind = S_WAIT;
		ws(c);
		if (c->p < c->eol && *c->p == '$')
			c->p++;
		if (ref(c, &m->handle, REF_HANDLE) < 0)
			return -1;
	} else if (call_expr(c, m) < 0) {
		return -1;
	}
	ws(c);
	if (c->eol - c->p >= 2 && c->p[0] == '-' && c->p[1] == '>') {
		c->p += 2;
		if (expectation(c, &m->expect, st->call, st->kind == S_CALL) < 0)
			return -1;
	}
	return 0;
}

/* Stores a parsed statement: its values and expectation into the shared arrays. */
static int store(struct cur *c, struct stmt *m, const char *at)
{
	struct sd_scenario *sc = c->sc;
	struct sc_step *st = &m->st;
	uint32_t nv = st->nargs + (uint32_t)sc_has_handle(st) + st->has_target;
	if (reserve(&sc->vals, &sc->capvals, sc->nvals, nv, sizeof *sc->vals) < 0 ||
	    reserve(&sc->steps, (uint32_t *)&sc->capsteps, (uint32_t)sc->n, 1, sizeof *sc->steps) <
		    0)
		return fail(c, at, "out of memory");
	if (st->kind == S_REPEAT || st->kind == S_END) {
		sc->steps[sc->n++] = *st;
		return 0;
	}
	st->vals = sc->nvals;
	for (int i = 0; i < st->nargs; i++)
		sc->vals[sc->nvals++] = m->args[i];
	if (sc_has_handle(st))
		sc->vals[sc->nvals++] = (struct sc_value){.kind = V_VAR, .var = m->handle};
	if (st->has_target)
		sc->vals[sc->nvals++] = (struct sc_value){.kind = V_VAR, .var = m->target};
	st->expect = m->expect;
	sc->steps[sc->n++] = *st;
	return 0;
}

/* The step's text for reports, trimmed and cut to SC_MAX_TEXT, appended to sc->bytes. */
static int step_text(struct cur *c, const char *from, struct sc_step *st)
{
	struct sd_scenario *sc = c->sc;
	const char *e = c->eol;
	while (e > from && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	size_t n = (size_t)(e - from);
	if (n > SC_MAX_TEXT)
		n = SC_MAX_TEXT;
	if (reserve(&sc->bytes, &sc->capbytes, sc->nbytes, (uint32_t)n, 1) < 0)
		return fail(c, from, "out of memory");
	memcpy(sc->bytes + sc->nbytes, from, n);
	st->text = sc->nbytes;
	st->text_len = (uint8_t)n;
	sc->nbytes += (uint32_t)n;
	return 0;
}

/* A number for 'set preempt': the characters of one, copied out (the text has no NUL). */
static int fraction(struct cur *c, double *out)
{
	char buf[32];
	size_t n = 0;
	while (c->p + n < c->eol && n < sizeof buf - 1 && strchr("0123456789.eE+-", c->p[n]))
		n++;
	memcpy(buf, c->p, n);
	buf[n] = 0;
	char *end;
	*out = strtod(buf, &end);
	if (!n || end != buf + n)
		return -1;
	c->p += n;
	return 0;
}

/* A quoted fault spec, parsed once here into *spec (the runner and the server take it typed)
 * and, when text is not NULL, kept as text too: 0, or -1 with the error set. */
static int spec_setting(struct cur *c, const char *setting, struct sd_fault_spec *spec, char *text)
{
	struct sc_span str;
	char why[200], buf[sizeof c->sc->server_faults];
	const char *vs = c->p;
	if (c->p >= c->eol || *c->p != '"')
		return fail(c, vs, "%s takes a quoted spec, e.g. \"short-read=1\"", setting);
	if (string(c, &str) < 0)
		return -1;
	c->sc->nbytes -= str.len; /* only needed here */
	if (str.len >= sizeof buf || memchr(c->sc->bytes + str.off, 0, str.len))
		return fail(c, vs, "fault spec too long");
	memcpy(buf, c->sc->bytes + str.off, str.len);
	buf[str.len] = 0;
	if (sd_fault_parse(buf, spec, why, sizeof why) < 0)
		return fail(c, vs, "%s", why);
	if (text)
		memcpy(text, buf, str.len + 1);
	return 0;
}

#define TUNABLE_NAMES                                                                              \
	"hz, syn-retries, syn-linear-timeouts, fin-timeout, port-range, somaxconn, wmem-max, "     \
	"rmem-max, tcp-rmem-max, tcp-peek-off, tw-reuse, tw-reuse-delay, notsent-lowat"
static int profile_setting(struct cur *c, struct sd_scenario *sc);

static int setting(struct cur *c, struct sd_scenario *sc, const struct sd_sc_options *opt)
{
	char name[32];
	const char *s = (ws(c), c->p);
	int64_t v;
	int prof = profile_setting(c, sc);
	if (prof)
		return prof < 0 ? -1 : 0;
	if (ident(c, name, sizeof name, "a setting name") < 0)
		return -1;
	if (!strcmp(name, "server") && c->p < c->eol && *c->p == '-') {
		/* server-faults, server-seed: the one setting name with a hyphen */
		c->p++;
		if (ident(c, name + 7, sizeof name - 7, "a setting name") < 0)
			return -1;
		name[6] = '-';
	}
	ws(c);
	const char *vs = c->p;
	if (!strncmp(name, "server-", 7) &&
	    (!strcmp(name + 7, "faults") || !strcmp(name + 7, "seed")) &&
	    !(opt && opt->server_started))
		return fail(c, s,
			    "%s is for a server sockdrill starts: replay the file with "
			    "'sockdrill run --inproc TARGET' or 'sockdrill wrap --run'",
			    name);
	if (!strcmp(name, "preempt")) {
		double p;
		if (fraction(c, &p) < 0 || !(p >= 0 && p <= 1))
			return fail(c, vs, "preempt takes a number from 0 to 1");
		sc->preempt = p;
		sc->has_preempt = 1;
		return 0;
	}
	if (!strcmp(name, "faults"))
		return spec_setting(c, "faults", &sc->faults, NULL);
	if (!strcmp(name, "server-faults")) {
		sc->has_server_faults = 1;
		return spec_setting(c, "server-faults", &sc->server_spec, sc->server_faults);
	}
	if (number(c, &v) < 0)
		return -1;
	if (!strcmp(name, "seed") && v >= 0)
		sc->seed = (uint64_t)v, sc->has_seed = 1;
	else if (!strcmp(name, "server-seed") && v >= 0)
		sc->server_seed = (uint64_t)v, sc->has_server_seed = 1;
	else if (!strcmp(name, "segment") && v >= 0 && v <= (1 << 20))
		sc->segment = (int)v;
	else if (!strcmp(name, "timeout") && v > 0 && v <= 600000)
		sc->timeout_ms = (int)v;
	else if (strcmp(name, "seed") && strcmp(name, "segment") && strcmp(name, "timeout") &&
		 strcmp(name, "server-seed"))
		return fail(c, s,
			    "unknown setting '%s' (seed, segment, preempt, timeout, faults, "
			    "server-faults, server-seed, unprivileged, " TUNABLE_NAMES ")",
			    name);
	else
		return fail(c, vs, "value out of range for %s", name);
	return 0;
}

#define TUNABLE(name, field, lo, hi)                                                               \
	{                                                                                          \
		name, offsetof(struct sd_sim_profile, field), 0, 0, lo, hi                         \
	}
/* The ranges are the sim's options' (src/backend/sim_config.c), so that a file it accepts
 * always opens a sim. */
const struct sc_tunable sc_tunables[] = {
	TUNABLE("hz", hz, 24, 10000),
	TUNABLE("syn-retries", syn_retries, 1, 127),
	TUNABLE("syn-linear-timeouts", syn_linear_timeouts, 0, 127),
	TUNABLE("fin-timeout", fin_timeout, 1, 1 << 20),
	{"port-range", offsetof(struct sd_sim_profile, port_lo),
	 offsetof(struct sd_sim_profile, port_hi), 1, 1, 65535},
	TUNABLE("somaxconn", somaxconn, 0, 1 << 30),
	TUNABLE("wmem-max", wmem_max, 2304, 1 << 30),
	TUNABLE("rmem-max", rmem_max, 2304, 1 << 30),
	TUNABLE("tcp-rmem-max", tcp_rmem_max, 1, 1 << 30),
	TUNABLE("tcp-peek-off", tcp_peek_off, 0, 1),
	TUNABLE("tw-reuse", tw_reuse, 0, 2),
	TUNABLE("tw-reuse-delay", tw_reuse_delay, 1, 60000),
	TUNABLE("notsent-lowat", notsent_lowat, 1, INT32_MAX),
};
const int sc_ntunables = (int)(sizeof sc_tunables / sizeof sc_tunables[0]);

static int find_tunable(const char *s, size_t n)
{
	int f = 0;
	while (f < sc_ntunables &&
	       (strlen(sc_tunables[f].name) != n || strncmp(sc_tunables[f].name, s, n)))
		f++;
	return f < sc_ntunables ? f : -1;
}

/* The value of 'requires TUNABLE=N' or 'set TUNABLE N' (a pair: LO-HI), at c->p: a
 * kernel-profile value the sim runs the file with and the kernel must have (the kernel is the
 * oracle: a file cannot change the host's sysctls, so on real it is otherwise not applicable). */
static int tunable_value(struct cur *c, struct sd_scenario *sc, int f, const char *s, int is_set)
{
	const struct sc_tunable *t = &sc_tunables[f];
	for (int i = 0; i < sc->nreqs; i++)
		if (sc->reqs[i].field == f)
			return fail(c, s, "line %d already %s %s", sc->reqs[i].line,
				    sc->reqs[i].is_set ? "sets" : "requires", t->name);
	if (sc->nreqs == SC_MAX_REQUIRES)
		return fail(c, s, "more than %d kernel tunables in one file", SC_MAX_REQUIRES);
	const char *vs = c->p;
	int64_t v, hi = 0;
	if (number(c, &v) < 0)
		return -1;
	if (t->pair) {
		if (c->p >= c->eol || *c->p != '-')
			return fail(c, vs, "%s takes LO-HI, e.g. 40000-40999", t->name);
		c->p++;
		if (number(c, &hi) < 0)
			return -1;
	}
	if (v < t->lo || v > t->hi || (t->pair && (hi < v || hi > t->hi)))
		return fail(c, vs, "value out of range for %s (%ld..%ld%s)", t->name, t->lo, t->hi,
			    t->pair ? ", LO <= HI" : "");
	sc->reqs[sc->nreqs++] = (struct sc_require){f, (long)v, (long)hi, c->line, is_set};
	return 0;
}

/* 'requires TUNABLE=N': a kernel-profile value the file's expectations hold for. */
static int require_tunable(struct cur *c, struct sd_scenario *sc, const char *s, size_t n)
{
	int f = find_tunable(s, n);
	if (f < 0)
		return fail(c, s, "unknown kernel tunable '%.*s' (" TUNABLE_NAMES ")",
			    (int)(n > 40 ? 40 : n), s);
	c->p++; /* '=' */
	return tunable_value(c, sc, f, s, 0);
}

/* 'set TUNABLE N' and 'set unprivileged': 1 when the word at c->p is one (handled), 0 when
 * it is another setting (c->p left where it was), -1 on an error. */
static int profile_setting(struct cur *c, struct sd_scenario *sc)
{
	const char *s = c->p;
	while (c->p < c->eol && (is_id(*c->p) || *c->p == '-'))
		c->p++;
	size_t n = (size_t)(c->p - s);
	if (n == 12 && !strncmp(s, "unprivileged", 12)) {
		if (sc->unprivileged)
			return fail(c, s, "line %d already sets unprivileged",
				    sc->unprivileged_line);
		sc->unprivileged = 1, sc->unprivileged_line = c->line;
		return 1;
	}
	int f = find_tunable(s, n);
	if (f < 0) {
		c->p = s;
		return 0;
	}
	ws(c);
	return tunable_value(c, sc, f, s, 1) < 0 ? -1 : 1;
}

/* 'requires free-ports=LO-HI' (at most 64 ports): a file that names fixed ports. */
static int require_free_ports(struct cur *c, struct sd_scenario *sc, const char *s)
{
	if (sc->free_line)
		return fail(c, s, "line %d already requires free-ports", sc->free_line);
	c->p++; /* '=' */
	const char *vs = c->p;
	int64_t lo, hi;
	if (number(c, &lo) < 0)
		return -1;
	if (c->p >= c->eol || *c->p != '-')
		return fail(c, vs, "free-ports takes LO-HI, e.g. 40000-40009");
	c->p++;
	if (number(c, &hi) < 0)
		return -1;
	if (lo < 1024 || hi > 65535 || hi < lo || hi - lo >= 64)
		return fail(c, vs, "free-ports is LO-HI within 1024..65535, at most 64 ports");
	sc->free_lo = (int)lo, sc->free_hi = (int)hi, sc->free_line = c->line;
	return 0;
}

/* 'requires one-role', 'requires no-one-role' or 'requires TUNABLE=N': the kernel the file
 * describes (docs/scenarios.md, "Kernel variants"); the variant once per file. */
static int requirement(struct cur *c, struct sd_scenario *sc)
{
	ws(c);
	const char *s = c->p;
	while (c->p < c->eol && (is_id(*c->p) || *c->p == '-'))
		c->p++;
	size_t n = (size_t)(c->p - s);
	if (!n)
		return fail(c, s, "expected a kernel variant (one-role, no-one-role) or TUNABLE=N");
	if (c->p < c->eol && *c->p == '=' && n == 10 && !strncmp(s, "free-ports", 10))
		return require_free_ports(c, sc, s);
	if (c->p < c->eol && *c->p == '=')
		return require_tunable(c, sc, s, n);
	int no = n > 3 && !strncmp(s, "no-", 3), base = no ? 3 : 0;
	if (n - base != 8 || strncmp(s + base, "one-role", 8))
		return fail(c, s,
			    "unknown kernel variant '%.*s' (one-role, no-one-role, or TUNABLE=N)",
			    (int)(n > 40 ? 40 : n), s);
	if (sc->has_one_role)
		return fail(c, s, "line %d already states the one-role variant", sc->one_role_line);
	sc->has_one_role = 1;
	sc->one_role = !no;
	sc->one_role_line = c->line;
	return 0;
}

void sd_scenario_free(struct sd_scenario *sc)
{
	if (!sc)
		return;
	free(sc->steps);
	free(sc->vals);
	free(sc->expects);
	free(sc->addrs);
	free(sc->bytes);
	free(sc->names);
	for (uint32_t i = 0; i < sc->nregs; i++)
		regfree(&sc->regs[i]);
	free(sc->regs);
	free(sc);
}

int sd_scenario_steps(const struct sd_scenario *sc) { return sc->n; }

static int know(struct cur *c, int32_t sym, uint8_t what)
{
	uint32_t have = c->capknown;
	if (reserve(&c->known, &c->capknown, (uint32_t)sym, 1, 1) < 0)
		return -1;
	memset(c->known + have, 0, c->capknown - have);
	c->known[sym] |= what;
	return 0;
}

static int known(const struct cur *c, int32_t sym, uint8_t what)
{
	return (uint32_t)sym < c->capknown && (c->known[sym] & what);
}

/* A line that parsed reads only names lines before it made; then what it makes is known. */
static int check_names(struct cur *c, const struct stmt *m, const char *at)
{
	const struct sc_step *st = &m->st;
	for (int k = 0; k < c->nuses; k++) {
		const struct use *u = &c->uses[k];
		const char *name = u->sym >= 0 ? c->sc->names[u->sym] : "i";
		if (u->what == U_ITER && !c->depth)
			return fail(c, u->at, "$i used outside repeat");
		if (u->what == U_VAR && !known(c, u->sym, SYM_VAR)) {
			if (!strcmp(name, "TARGET_PORT"))
				return fail(c, u->at,
					    "unknown variable $TARGET_PORT (only 'sockdrill run "
					    "--target' and 'sockdrill wrap --run' define it)");
			return fail(c, u->at,
				    "unknown variable $%s (no line before this one assigns it)",
				    name);
		}
		if (u->what == U_HANDLE && !known(c, u->sym, SYM_STARTED))
			return fail(c, u->at, "no call was started as %s before this line", name);
	}
	if ((st->kind == S_START && know(c, m->handle.name, SYM_STARTED) < 0) ||
	    (st->has_target && know(c, m->target.name, SYM_VAR) < 0))
		return fail(c, at, "out of memory");
	for (int k = 0; k < c->ncaps; k++)
		if (know(c, c->caps[k], SYM_VAR) < 0)
			return fail(c, at, "out of memory");
	return 0;
}

static int parse_lines(struct cur *c, const char *text, size_t len, struct sd_scenario *sc)
{
	int stack[SC_MAX_DEPTH], opened_at[SC_MAX_DEPTH], depth = 0, real_steps = 0;
	/* times a step at each depth runs (repeat counts multiplied, held at SC_MAX_STEPS + 1 once
	 * past it), and the steps the whole file runs */
	int64_t times[SC_MAX_DEPTH + 1] = {1}, total = 0, starts = 0;
	const char *end = text + len;
	for (const char *p = text; p < end; c->line++) {
		c->ls = c->p = p;
		c->eol = memchr(p, '\n', (size_t)(end - p));
		if (!c->eol)
			c->eol = end;
		p = c->eol + 1;
		/* Bytes a text file does not have are refused wherever they are. */
		int in_str = 0;
		for (const char *q = c->ls; q < c->eol; q++) {
			unsigned char ch = (unsigned char)*q;
			if (ch == '"' && (q == c->ls || q[-1] != '\\'))
				in_str = !in_str;
			if (ch == '#' && !in_str)
				break;
			if ((ch < 0x20 && ch != '\t' && ch != '\r') || (ch >= 0x7f && !in_str))
				return fail(c, q, "unexpected byte 0x%02x", ch);
		}
		if (at_end(c))
			continue;
		struct stmt m;
		struct sc_step *st = &m.st;
		memset(&m, 0, sizeof m);
		c->nuses = 0;
		c->ncaps = 0;
		st->line = c->line;
		const char *start = c->p;
		if (c->eol - c->p >= 4 && !strncmp(c->p, "set", 3) &&
		    (c->p[3] == ' ' || c->p[3] == '\t')) {
			c->p += 3;
			if (setting(c, sc, c->opt) < 0)
				return -1;
		} else if (c->eol - c->p >= 8 && !strncmp(c->p, "requires", 8) &&
			   (c->eol - c->p == 8 || strchr(" \t\r#", c->p[8]))) {
			c->p += 8;
			if (requirement(c, sc) < 0)
				return -1;
		} else if (c->eol - c->p >= 7 && !strncmp(c->p, "repeat", 6) && !is_id(c->p[6])) {
			int64_t count;
			c->p += 6;
			ws(c);
			const char *ns = c->p;
			if (number(c, &count) < 0)
				return -1;
			if (count < 0 || count > SC_MAX_REPEAT)
				return fail(c, ns, "repeat count must be 0..%d", SC_MAX_REPEAT);
			if (expect_char(c, '{') < 0)
				return -1;
			if (depth == SC_MAX_DEPTH)
				return fail(c, start, "repeat nested too deeply (at most %d)",
					    SC_MAX_DEPTH);
			st->kind = S_REPEAT;
			st->count = (int32_t)count;
			times[depth + 1] = times[depth] * count;
			if (times[depth + 1] > SC_MAX_STEPS)
				times[depth + 1] = SC_MAX_STEPS + 1;
			opened_at[depth] = real_steps;
			stack[depth++] = sc->n;
			c->depth = depth;
			if (step_text(c, start, st) < 0 || store(c, &m, start) < 0)
				return -1;
		} else if (*c->p == '}') {
			c->p++;
			if (!depth)
				return fail(c, start, "'}' without a matching 'repeat'");
			st->kind = S_END;
			st->match = stack[--depth];
			c->depth = depth;
			if (step_text(c, start, st) < 0 || store(c, &m, start) < 0)
				return -1;
			sc->steps[st->match].match = sc->n - 1;
			if (opened_at[depth] == real_steps) /* nothing inside runs: skip it whole */
				sc->steps[st->match].count = 0;
		} else {
			/* actor: ... */
			const char *q = c->p;
			while (q < c->eol && is_id(*q))
				q++;
			if (q > c->p && q < c->eol && *q == ':') {
				if ((size_t)(q - c->p) > SC_MAX_NAME)
					return fail(c, c->p, "actor name too long");
				st->actor_len = (uint8_t)(q - c->p);
				c->p = q + 1;
			}
			if (statement(c, &m) < 0 || step_text(c, start, st) < 0)
				return -1;
			if (!at_end(c))
				return fail(c, c->p, "unexpected '%c'", *c->p);
			if (check_names(c, &m, start) < 0 || store(c, &m, start) < 0)
				return -1;
			real_steps++;
			total += times[depth];
			if (total > SC_MAX_STEPS)
				return fail(
					c, start,
					"the scenario would run more than %d steps here (a step "
					"in repeat runs once per iteration)",
					SC_MAX_STEPS);
			if (st->kind == S_START && (starts += times[depth]) > SC_MAX_STARTS)
				return fail(c, start,
					    "the scenario would start more than %d calls here (a "
					    "start in repeat runs once per iteration)",
					    SC_MAX_STARTS);
		}
		if (!at_end(c))
			return fail(c, c->p, "unexpected '%c'", *c->p);
	}
	if (depth) {
		c->line = sc->steps[stack[depth - 1]].line;
		c->ls = c->p = text; /* column 1 of that line is good enough */
		return fail(c, c->p, "repeat is never closed with '}'");
	}
	if (!real_steps) {
		c->line = 1;
		c->ls = c->p = text;
		return fail(c, c->p, "no steps in this scenario");
	}
	return 0;
}

int sd_scenario_parse(const char *path, const char *text, size_t len, struct sd_scenario **out,
		      char *err, size_t errlen)
{
	return sd_scenario_parse_opt(path, text, len, NULL, out, err, errlen);
}

int sd_scenario_parse_opt(const char *path, const char *text, size_t len,
			  const struct sd_sc_options *opt, struct sd_scenario **out, char *err,
			  size_t errlen)
{
	struct cur c = {.path = path, .line = 1, .err = err, .errlen = errlen, .opt = opt};
	struct sd_scenario *sc;
	*out = NULL;
	if (len > SD_SC_MAX_BYTES) {
		snprintf(err, errlen, "%s:1:1: file too large (%zu bytes; at most %d)", path, len,
			 SD_SC_MAX_BYTES);
		return -EINVAL;
	}
	sc = calloc(1, sizeof *sc);
	if (!sc) {
		snprintf(err, errlen, "%s:1:1: out of memory", path);
		return -EINVAL;
	}
	snprintf(sc->path, sizeof sc->path, "%s", path);
	c.sc = sc;
	c.ls = c.p = c.eol = text;
	int32_t sym;
	int rc = 0;
	if (opt && opt->target_port > 0 && /* the run will define it */
	    ((sym = symbol_find(&c, "TARGET_PORT", 1)) < 0 || know(&c, sym, SYM_VAR) < 0))
		rc = fail(&c, text, "out of memory");
	if (rc == 0)
		rc = parse_lines(&c, text, len, sc);
	sc->sym_target = rc < 0 ? -1 : symbol_find(&c, "TARGET_PORT", 0);
	free(c.symtab);
	free(c.known);
	if (rc < 0) {
		sd_scenario_free(sc);
		return -EINVAL;
	}
	*out = sc;
	return 0;
}

int sd_scenario_load(const char *path, struct sd_scenario **out, char *err, size_t errlen)
{
	return sd_scenario_load_opt(path, NULL, out, err, errlen);
}

int sd_scenario_load_opt(const char *path, const struct sd_sc_options *opt,
			 struct sd_scenario **out, char *err, size_t errlen)
{
	struct stat stbuf;
	FILE *f = fopen(path, "rb");
	*out = NULL;
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fileno(f), &stbuf) == 0 && stbuf.st_size > SD_SC_MAX_BYTES) {
		snprintf(err, errlen, "%s:1:1: file too large (%lld bytes; at most %d)", path,
			 (long long)stbuf.st_size, SD_SC_MAX_BYTES);
		fclose(f);
		return -EFBIG;
	}
	char *buf = malloc(SD_SC_MAX_BYTES + 1);
	size_t n = buf ? fread(buf, 1, SD_SC_MAX_BYTES + 1, f) : 0;
	int bad = !buf || ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		snprintf(err, errlen, "%s: cannot read", path);
		return -EIO;
	}
	int rc = sd_scenario_parse_opt(path, buf, n, opt, out, err, errlen);
	free(buf);
	return rc;
}
