/* sockdrill scenarios, the parser: an expectation after '->', its alternatives joined by '|'
 * (numbers, ranges, comparisons, strings, patterns, regular expressions, errno and flag
 * names, addresses, events, {ON, SECS} pairs). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <sockdrill/errors.h>

#include "../util/util.h"
#include "sc_internal.h"

static int is_errno_name(const char *n) { return sd_errno_by_name(n) != 0; }

/* 'match /RE/ [as A, B]': the expression compiled (POSIX ERE), the names its groups go to. */
static int regex_expectation(struct cur *c, struct sc_expect *e)
{
	struct sd_scenario *sc = c->sc;
	sc_ws(c);
	const char *s = c->p;
	if (c->p >= c->eol || *c->p != '/')
		return sd__sc_fail(c, s,
				   "match takes a regular expression between slashes: match /^OK/");
	c->p++;
	size_t cap = (size_t)(c->eol - c->p) + 1, n = 0;
	char *src = malloc(cap);
	if (!src)
		return sd__sc_fail(c, s, "out of memory");
	for (;;) {
		if (c->p >= c->eol) {
			free(src);
			return sd__sc_fail(c, s, "unterminated regular expression (missing '/')");
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
			   sd__hexval(c->p[1]) >= 0 && sd__hexval(c->p[2]) >= 0) {
			ch = (char)(sd__hexval(c->p[1]) * 16 + sd__hexval(c->p[2]));
			c->p += 3;
			if (!ch) {
				free(src);
				return sd__sc_fail(c, c->p - 4,
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
		return sd__sc_fail(c, s + 1, "bad regular expression: %s", why);
	}
	if (sd__sc_reserve(&sc->regs, &sc->capregs, sc->nregs, 1, sizeof *sc->regs) < 0 ||
	    sd__sc_reserve(&sc->bytes, &sc->capbytes, sc->nbytes, (uint32_t)n, 1) < 0) {
		regfree(&re);
		free(src);
		return sd__sc_fail(c, s, "out of memory");
	}
	sc->regs[sc->nregs] = re;
	e->reg = sc->nregs++;
	memcpy(sc->bytes + sc->nbytes, src, n);
	e->str = (struct sc_span){.off = sc->nbytes, .len = (uint32_t)n};
	sc->nbytes += (uint32_t)n;
	free(src);
	e->kind = E_MATCH;
	sc_ws(c);
	if (!(c->eol - c->p > 2 && !strncmp(c->p, "as", 2) && !sc_is_id(c->p[2])))
		return 0;
	c->p += 2;
	e->caps = sc->nvals;
	for (;;) {
		struct sc_ref r;
		const char *at = (sc_ws(c), c->p);
		if (e->ncaps == SC_MAX_GROUPS || e->ncaps == re.re_nsub)
			return sd__sc_fail(
				c, at,
				"the expression has %zu group%s: 'as' names at most that many",
				re.re_nsub > SC_MAX_GROUPS ? SC_MAX_GROUPS : re.re_nsub,
				re.re_nsub == 1 ? "" : "s");
		if (sd__sc_ref(c, &r, REF_TARGET) < 0)
			return -1;
		if (sd__sc_reserve(&sc->vals, &sc->capvals, sc->nvals, 1, sizeof *sc->vals) < 0 ||
		    c->ncaps == (int)(sizeof c->caps / sizeof c->caps[0]))
			return sd__sc_fail(c, at, "out of memory");
		sc->vals[sc->nvals++] = (struct sc_value){.kind = V_VAR, .var = r};
		c->caps[c->ncaps++] = r.name;
		e->ncaps++;
		sc_ws(c);
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
	for (s = q; q < c->eol && sc_is_id(*q); q++)
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
		return sd__sc_fail(c, s, "expected a comparison: <, <=, >, >= or !=");
	c->p += strlen(ops[k].text);
	e->kind = E_CMP;
	e->op = ops[k].op;
	sc_ws(c);
	if (c->p < c->eol && *c->p == '$') {
		c->p++;
		e->op |= CMP_VAR;
		return sd__sc_ref(c, &e->var, REF_READ);
	}
	if (c->p >= c->eol || !((*c->p >= '0' && *c->p <= '9') || *c->p == '-'))
		return sd__sc_fail(c, c->p, "%s takes a number or a variable: %s 1, %s $X",
				   ops[k].text, ops[k].text, ops[k].text);
	return sd__sc_number(c, &e->lo);
}

/* 127.0.0.1:$P, [::ffff:127.0.0.1]:*, 0.0.0.0:0: what addr() or peer() must give. */
static int address_expectation(struct cur *c, struct sc_expect *e, enum sc_call call, int is_call)
{
	struct sc_value v;
	int any = 0;
	const char *s = c->p;
	if (is_call && !sc_gives_addr(call))
		return sd__sc_fail(c, s, "an address expectation is only for addr, peer");
	memset(&v, 0, sizeof v);
	if (sd__sc_address_any(c, &v, &any) < 0)
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
/* {S: IN|OUT, C: IN|RDHUP} (or {} for none): the descriptors epoll_wait reports, in any
 * order, each with exactly these events. */
static int events_expectation(struct cur *c, struct sc_expect *e)
{
	struct sd_scenario *sc = c->sc;
	const char *s = c->p++;
	e->kind = E_EVENTS;
	e->caps = sc->nvals;
	sc_ws(c);
	if (c->p < c->eol && *c->p == '}') {
		c->p++;
		return 0;
	}
	for (;;) {
		struct sc_ref r;
		int64_t ev;
		sc_ws(c);
		const char *at = c->p;
		if (e->ncaps == SC_MAX_EVENTS)
			return sd__sc_fail(c, at, "too many descriptors (at most %d)",
					   SC_MAX_EVENTS);
		if (c->p < c->eol && *c->p == '$')
			c->p++;
		if (sd__sc_ref(c, &r, REF_READ) < 0 || sd__sc_expect_char(c, ':') < 0)
			return -1;
		sc_ws(c);
		const char *fs = c->p;
		if (sd__sc_flags(c, &ev) < 0)
			return -1;
		if (ev &
		    ~(int64_t)(EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLERR | EPOLLHUP))
			return sd__sc_fail(c, fs,
					   "epoll_wait reports IN, OUT, RDHUP, PRI, ERR, HUP");
		if (sd__sc_reserve(&sc->vals, &sc->capvals, sc->nvals, 2, sizeof *sc->vals) < 0)
			return sd__sc_fail(c, at, "out of memory");
		sc->vals[sc->nvals++] = (struct sc_value){.kind = V_VAR, .var = r};
		sc->vals[sc->nvals++] = (struct sc_value){.kind = V_NUM, .num = ev};
		e->ncaps++;
		sc_ws(c);
		if (c->p < c->eol && *c->p == '}') {
			c->p++;
			return 0;
		}
		if (c->p >= c->eol || *c->p != ',')
			return sd__sc_fail(c, c->p >= c->eol ? s : c->p,
					   "expected ',' or '}' in {...}");
		c->p++;
	}
}

/* A number or a range, at s: N, N..M. */
static int number_alternative(struct cur *c, struct sc_expect *e, const char *s)
{
	if (sd__sc_number(c, &e->lo) < 0)
		return -1;
	e->kind = E_NUM;
	if (c->eol - c->p >= 2 && c->p[0] == '.' && c->p[1] == '.') {
		c->p += 2;
		if (sd__sc_number(c, &e->hi) < 0)
			return -1;
		if (e->hi < e->lo)
			return sd__sc_fail(c, s, "empty range %lld..%lld", (long long)e->lo,
					   (long long)e->hi);
		e->kind = E_RANGE;
	}
	return 0;
}

/* pattern(N) or pattern($N), at s ("pattern(" next): the bytes a send of pattern(N) sent. */
static int pattern_alternative(struct cur *c, struct sc_expect *e, enum sc_call call, int is_call,
			       const char *s)
{
	if (is_call && !sc_reads_bytes(call))
		return sd__sc_fail(c, s,
				   "a pattern expectation is only for recv, recv_until, recvline");
	c->p += 8;
	sc_ws(c);
	e->kind = E_PATTERN;
	if (c->p < c->eol && *c->p == '$') { /* pattern($N): the length a variable holds */
		c->p++;
		e->op = CMP_VAR;
		if (sd__sc_ref(c, &e->var, REF_READ) < 0)
			return -1;
		return sd__sc_expect_char(c, ')');
	}
	if (sd__sc_number(c, &e->lo) < 0)
		return -1;
	if (e->lo < 0 || e->lo > (64 << 20))
		return sd__sc_fail(c, s, "pattern length must be 0..67108864");
	return sd__sc_expect_char(c, ')');
}

/* Errno names (ECONNRESET|EPIPE) or flags (IN|OUT, MSG_TRUNC), the first one `first`, at s. */
static int name_list(struct cur *c, struct sc_expect *e, const char *first, enum sc_call call,
		     int is_call, const char *s)
{
	char name[32];
	snprintf(name, sizeof name, "%s", first);
	int errs = is_errno_name(name), polls = flag_name(call, name);
	if (!errs && !polls)
		return sd__sc_fail(c, s,
				   "unknown expectation '%s' (an errno name such as ECONNREFUSED, "
				   "%s, a number, a range, a comparison such as >= 1, even, "
				   "odd, fd, a string or *)",
				   name,
				   call == C_MSG_FLAGS
					   ? "msg_flags flags such as MSG_CTRUNC|MSG_EOR"
					   : "poll flags");
	e->kind = errs ? E_ERRNOS : E_FLAGS;
	for (;;) {
		if (errs) {
			if (e->nerrs == 8)
				return sd__sc_fail(c, s, "too many alternatives (at most 8)");
			e->errs[e->nerrs++] = (uint16_t)sd_errno_by_name(name);
		} else {
			int64_t v = 0;
			sd__sc_lookup_const(name, &v);
			e->lo |= v;
		}
		sc_ws(c);
		if (c->p >= c->eol || *c->p != '|' || !same_list_after_bar(c, errs, call))
			break;
		c->p++;
		sc_ws(c);
		const char *ns = c->p;
		if (sd__sc_ident(c, name, sizeof name, "a name after '|'") < 0)
			return -1;
		if (errs ? !is_errno_name(name) : !flag_name(call, name))
			return sd__sc_fail(c, ns, "'%s' is not %s", name,
					   errs                  ? "an errno name"
					   : call == C_MSG_FLAGS ? "a msg_flags flag"
								 : "a poll flag");
	}
	if (e->kind == E_FLAGS && is_call && call != C_POLL && call != C_MSG_FLAGS)
		return sd__sc_fail(c, s, "poll flags are only an expectation for poll");
	if (e->kind == E_FLAGS && call == C_MSG_FLAGS)
		e->op = 1; /* shown as MSG_ names */
	return 0;
}

/* A named expectation at s: fd, even, odd, eof, prefix "...", match /RE/, or a name list. */
static int named_alternative(struct cur *c, struct sc_expect *e, enum sc_call call, int is_call,
			     const char *s)
{
	char name[32];
	if (sd__sc_ident(c, name, sizeof name, "an expectation") < 0)
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
			return sd__sc_fail(c, s,
					   "'%s' is an expectation for recv, recv_until, recvline",
					   name);
		if (!strcmp(name, "eof")) {
			e->kind = E_EOF;
			return 0;
		}
		if (!strcmp(name, "match"))
			return regex_expectation(c, e);
		sc_ws(c);
		if (c->p >= c->eol || *c->p != '"')
			return sd__sc_fail(c, c->p,
					   "prefix takes a string: prefix \"HTTP/1.1 200\"");
		e->kind = E_PREFIX;
		return sd__sc_string_interp(c, &e->str, &e->interp);
	}
	return name_list(c, e, name, call, is_call, s);
}

/* One alternative of an expectation, for call (is_call: a call's, not a wait's). */
static int alternative(struct cur *c, struct sc_expect *e, enum sc_call call, int is_call)
{
	memset(e, 0, sizeof *e);
	sc_ws(c);
	const char *s = c->p;
	if (c->p >= c->eol)
		return sd__sc_fail(c, s, "expected an expectation after '->'");
	char ch = *c->p;
	if (ch == '*') {
		c->p++;
		e->kind = E_ANY;
		return 0;
	}
	if (ch == '"') {
		if (is_call && !sc_reads_bytes(call))
			return sd__sc_fail(
				c, s,
				"a string expectation is only for recv, recv_until, recvline");
		e->kind = E_STR;
		return sd__sc_string_interp(c, &e->str, &e->interp);
	}
	if (ch == '$') {
		c->p++;
		e->kind = E_VAR;
		return sd__sc_ref(c, &e->var, REF_READ);
	}
	const char *q = c->p;
	while (q < c->eol && *q >= '0' && *q <= '9')
		q++;
	if (ch == '[' || (q > c->p && q < c->eol && *q == '.' && !(q + 1 < c->eol && q[1] == '.')))
		return address_expectation(c, e, call, is_call);
	if ((ch >= '0' && ch <= '9') || ch == '-')
		return number_alternative(c, e, s);
	if (ch == '<' || ch == '>' || ch == '!')
		return comparison(c, e);
	if (ch == '{' && linger_ahead(c)) {
		e->kind = E_LINGER;
		return sd__sc_linger_pair(c, &e->lo, &e->hi, is_call && call != C_GETSOCKOPT);
	}
	if (ch == '{') {
		if (is_call && call != C_EPOLL_WAIT)
			return sd__sc_fail(c, s,
					   "an events expectation {...} is only for epoll_wait");
		return events_expectation(c, e);
	}
	if (!sc_is_id0(ch))
		return sd__sc_fail(c, s, "unexpected '%c' in an expectation", ch);
	if (c->eol - c->p > 8 && !strncmp(c->p, "pattern(", 8))
		return pattern_alternative(c, e, call, is_call, s);
	return named_alternative(c, e, call, is_call, s);
}

/* An expectation: alternatives joined by '|' ("x" | eof | ECONNRESET), stored in order in
 * sc->expects, each naming the next; *first is 1 + the first's index. */
int sd__sc_expectation(struct cur *c, uint32_t *first, enum sc_call call, int is_call)
{
	struct sd_scenario *sc = c->sc;
	uint32_t prev = 0;
	for (int n = 0;; n++) {
		struct sc_expect e;
		const char *s = (sc_ws(c), c->p);
		if (n == SC_MAX_ALTS)
			return sd__sc_fail(c, s, "too many alternatives (at most %d)", SC_MAX_ALTS);
		if (alternative(c, &e, call, is_call) < 0)
			return -1;
		if (sd__sc_reserve(&sc->expects, &sc->capexpects, sc->nexpects, 1,
				   sizeof *sc->expects) < 0)
			return sd__sc_fail(c, s, "out of memory");
		sc->expects[sc->nexpects++] = e;
		if (prev)
			sc->expects[prev - 1].next = sc->nexpects;
		else
			*first = sc->nexpects;
		prev = sc->nexpects;
		sc_ws(c);
		if (c->p >= c->eol || *c->p != '|')
			return 0;
		c->p++;
	}
}
