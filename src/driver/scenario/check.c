/* sockdrill scenarios: a result checked against the step's expectation, shown (as got and in
 * the backend-independent form), and the failure text when it does not meet it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/sockdrill.h>

#include "../../util/util.h"
#include "sc_internal.h"

/* Bytes as a quoted string for messages; one cut short ends in "..." inside the quotes (room
 * for it and the closing quote: the escaper stops while 8 bytes are still free). */
static void show_bytes(const unsigned char *d, size_t n, char *out, size_t size)
{
	size_t o = 0, done;
	out[o++] = '"';
	o += sd__escape(out + o, size > 5 ? size - 5 : 0, d, n,
			SD__ESC_NL | SD__ESC_QUOTE | SD__ESC_BACKSLASH, &done);
	if (done && done < n)
		o += (size_t)snprintf(out + o, size - o, "...");
	snprintf(out + o, size - o, "\"");
}

/* The result as shown (got) and in a backend-independent form (norm). */
void sc__describe(enum sc_call call, const struct sc_expect *e, const struct sc_res *r, int data_ok,
		  char *got, size_t gl, char *norm, size_t nl)
{
	char b[48];
	if (r->v < 0) {
		sd_result_format((long)r->v, got, (unsigned)gl);
		snprintf(norm, nl, "%s", got);
		return;
	}
	switch (call) {
	case C_RECV:
	case C_RECVMSG:
	case C_RECV_UNTIL:
	case C_RECVLINE:
		show_bytes(r->data, r->dlen, got, gl);
		if (r->eof) {
			char part[64];
			show_bytes(r->data, r->dlen, part, sizeof part);
			snprintf(got, gl, "eof after %s", part);
		}
		if (e->kind == E_STR || e->kind == E_PATTERN || e->kind == E_PREFIX ||
		    e->kind == E_MATCH)
			snprintf(norm, nl, "%s", data_ok ? "expected bytes" : "other bytes");
		else if (r->eof)
			snprintf(norm, nl, "eof");
		else
			snprintf(norm, nl, "%lld", (long long)r->v);
		if (e->kind == E_PATTERN || (r->dlen > 40 && !r->eof))
			snprintf(got, gl, "%lld bytes%s", (long long)r->v,
				 e->kind == E_PATTERN
					 ? (data_ok ? " (the pattern)" : " (not the pattern)")
					 : "");
		return;
	case C_GETSOCKOPT:
		/* a pair, or a number as any call's (a break here left both unwritten) */
		if (r->has_linger)
			snprintf(got, gl, "{%d, %d}", r->linger[0], r->linger[1]);
		else
			snprintf(got, gl, "%lld", (long long)r->v);
		snprintf(norm, nl, "%s", got);
		return;
	case C_POLL:
		sc__show_flags(r->v, got, gl);
		snprintf(norm, nl, "%s", got);
		return;
	case C_MSG_FLAGS:
		sc__show_msg_flags(r->v, got, gl);
		snprintf(norm, nl, "%s", got);
		return;
	case C_SOCKET:
	case C_ACCEPT:
	case C_DUP:
	case C_DUP2:
	case C_DUP3:
		snprintf(got, gl, "%lld", (long long)r->v);
		snprintf(norm, nl, "fd");
		return;
	case C_ADDR:
	case C_PEER: sc__describe_addr(r, got, gl, norm, nl); return;
	case C_EPOLL_WAIT: sc__describe_events(r, got, gl, norm, nl); return;
	case C_PORT:
	case C_PEERPORT:
	case C_REPLY_PORT:
		snprintf(got, gl, "%lld", (long long)r->v);
		snprintf(norm, nl, "port");
		return;
	case C_NOW:
	case C_ELAPSED: /* the clocks differ: whether the expectation held is compared */
		snprintf(got, gl, "%lld ms", (long long)r->v);
		snprintf(norm, nl, "time");
		return;
	default:
		snprintf(b, sizeof b, "%lld", (long long)r->v);
		snprintf(got, gl, "%s", b);
		snprintf(norm, nl, "%s", b);
	}
}

/* The bytes a string expectation names, filled in when it names variables (*owned is then
 * the buffer to free); NULL with why set when a variable is missing. */
static const unsigned char *expected_bytes(struct run *R, const struct sc_expect *e, size_t *n,
					   unsigned char **owned, char *why, size_t wl)
{
	*owned = NULL;
	*n = e->str.len;
	if (!e->interp)
		return R->sc->bytes + e->str.off;
	if (sc__expand(R, R->sc->bytes + e->str.off, e->str.len, owned, n, why, wl) < 0)
		return NULL;
	return *owned;
}

/* Whether received bytes meet a string, prefix, pattern or match expectation (others: 1);
 * pm, when given, gets a match's groups. */
static int data_matches(struct run *R, const struct sc_expect *e, const struct sc_res *r,
			regmatch_t *pm, char *why, size_t wl)
{
	const struct sd_scenario *sc = R->sc;
	if (e->kind == E_STR || e->kind == E_PREFIX) {
		unsigned char *owned;
		size_t n;
		const unsigned char *want = expected_bytes(R, e, &n, &owned, why, wl);
		int ok = want && r->v >= 0 && !r->eof &&
			 (e->kind == E_STR ? r->dlen == n : r->dlen >= n) &&
			 !memcmp(r->data, want, n);
		free(owned);
		return ok;
	}
	if (e->kind == E_MATCH) {
		regmatch_t m[SC_MAX_GROUPS + 1];
		if (r->v < 0 || r->eof)
			return 0;
		m[0].rm_so = 0;
		m[0].rm_eo = (regoff_t)r->dlen;
		if (r->dlen)
			r->data[r->dlen] = 0; /* the buffer has room for it (resolve) */
		if (regexec(&sc->regs[e->reg], r->dlen ? (const char *)r->data : "",
			    SC_MAX_GROUPS + 1, m, REG_STARTEND) != 0)
			return 0;
		if (pm)
			memcpy(pm, m, sizeof m);
		return 1;
	}
	if (e->kind == E_PATTERN) {
		int64_t n = e->lo;
		if ((e->op & CMP_VAR) && sc__ref_value(R, &e->var, &n, why, wl) < 0)
			return 0;
		if (r->v != n || r->eof)
			return 0;
		for (size_t i = 0; i < r->dlen; i++)
			if (r->data[i] != sc_pattern_byte(i))
				return 0;
		return 1;
	}
	return 1;
}

static int check_one(struct run *R, const struct sc_expect *e, const struct sc_res *r,
		     regmatch_t *pm, char *why, size_t wl)
{
	int64_t v = r->v, want;
	switch (e->kind) {
	case E_NONE:
	case E_ANY: return 1;
	case E_NUM: return v == e->lo;
	case E_RANGE: return v >= e->lo && v <= e->hi;
	case E_FD: return v >= 0;
	case E_FLAGS: return v == e->lo;
	case E_STR:
	case E_PREFIX:
	case E_MATCH:
	case E_PATTERN: return data_matches(R, e, r, pm, why, wl);
	case E_EOF: return v == 0;
	case E_ERRNOS:
		for (int i = 0; i < e->nerrs; i++)
			if (v == -e->errs[i])
				return 1;
		return 0;
	case E_VAR:
		if (r->alen && r->data) { /* an address: the whole of it, as a variable's text */
			const unsigned char *p;
			size_t n;
			char num[24];
			return sc__ref_text(R, &e->var, &p, &n, num, why, wl) == 0 && v >= 0 &&
			       n == r->dlen && !memcmp(p, r->data, n);
		}
		if (sc__ref_value(R, &e->var, &want, why, wl) < 0)
			return 0;
		return v == want;
	case E_PARITY: return v >= 0 && (v & 1) == e->lo;
	case E_LINGER: return r->has_linger && r->linger[0] == e->lo && r->linger[1] == e->hi;
	case E_EVENTS: {
		int fds[SC_MAX_EVENTS];
		int64_t evs[SC_MAX_EVENTS];
		for (int i = 0; i < e->ncaps; i++) {
			int64_t fd;
			if (sc__ref_value(R, &R->sc->vals[e->caps + 2 * (uint32_t)i].var, &fd, why,
					  wl) < 0)
				return 0;
			fds[i] = (int)fd;
			evs[i] = R->sc->vals[e->caps + 2 * (uint32_t)i + 1].num;
		}
		return v == e->ncaps && sc__events_match(r, fds, evs, e->ncaps);
	}
	case E_ADDR:
		want = 0;
		if ((e->op & CMP_VAR) && sc__ref_value(R, &e->port, &want, why, wl) < 0)
			return 0;
		return v >= 0 && sc__addr_matches(R->sc, e, r, want);
	case E_CMP:
		want = e->lo;
		if ((e->op & CMP_VAR) && sc__ref_value(R, &e->var, &want, why, wl) < 0)
			return 0;
		if (v < 0) /* an error meets no comparison: it is named as an alternative */
			return 0;
		switch (e->op & ~CMP_VAR) {
		case CMP_LT: return v < want;
		case CMP_LE: return v <= want;
		case CMP_GT: return v > want;
		case CMP_GE: return v >= want;
		default: return v != want;
		}
	}
	return 0;
}

/* The alternative the result meets, or NULL; pm gets its groups when it is a match. */
static const struct sc_expect *check(struct run *R, const struct sc_expect *e,
				     const struct sc_res *r, regmatch_t *pm, char *why, size_t wl)
{
	for (;;) {
		if (check_one(R, e, r, pm, why, wl))
			return e;
		if (!e->next)
			return NULL;
		e = &R->sc->expects[e->next - 1];
	}
}

void sc__failure(struct run *R, const struct sc_step *st, struct sd_sc_outcome *o, const char *fmt,
		 ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (o)
		o->ok = 0;
	struct sd_sc_result *res = R->res;
	char line[sizeof res->message];
	if (R->iter >= 0)
		sd__textf(line, sizeof line, "%s:%d: %.*s (iteration %d): %s", R->sc->path,
			  st->line, st->text_len, sc_text(R->sc, st), R->iter, msg);
	else
		sd__textf(line, sizeof line, "%s:%d: %.*s: %s", R->sc->path, st->line, st->text_len,
			  sc_text(R->sc, st), msg);
	if (res->passed) {
		res->passed = 0;
		res->failed_at = o ? (int)(o - res->out) : -1;
		snprintf(res->message, sizeof res->message, "%s", line);
	}
	res->nfailed++;
	if (res->nfailures < SD_SC_MAX_FAILURES &&
	    sc__grow((void **)&res->failures, &R->capfail, res->nfailures, sizeof *res->failures) ==
		    0) {
		struct sd_sc_failure *f = &res->failures[res->nfailures++];
		f->line = st->line;
		f->iteration = R->iter;
		f->time_bound = 0; /* bound_failure (run.c) marks its own */
		snprintf(f->message, sizeof f->message, "%s", line);
	}
}

static void expected_one(const struct run *R, const struct sc_expect *e, char *out, size_t size)
{
	char b[64];
	switch (e->kind) {
	case E_PREFIX:
		snprintf(out, size, "prefix ");
		show_bytes(R->sc->bytes + e->str.off, e->str.len, out + 7, size - 7);
		break;
	case E_MATCH:
		snprintf(out, size, "match /%.*s/", (int)(e->str.len > 80 ? 80 : e->str.len),
			 (const char *)R->sc->bytes + e->str.off);
		break;
	case E_EOF: snprintf(out, size, "eof"); break;
	case E_NUM: snprintf(out, size, "%lld", (long long)e->lo); break;
	case E_RANGE: snprintf(out, size, "%lld..%lld", (long long)e->lo, (long long)e->hi); break;
	case E_FD: snprintf(out, size, "a descriptor"); break;
	case E_FLAGS:
		if (e->op) /* msg_flags' */
			sc__show_msg_flags(e->lo, out, size);
		else
			sc__show_flags(e->lo, out, size);
		break;
	case E_STR: show_bytes(R->sc->bytes + e->str.off, e->str.len, out, size); break;
	case E_PATTERN:
		if (e->op & CMP_VAR)
			snprintf(out, size, "pattern($%s)", sc__name_of(R, e->var.name));
		else
			snprintf(out, size, "pattern(%lld)", (long long)e->lo);
		break;
	case E_VAR: snprintf(out, size, "$%s", sc__name_of(R, e->var.name)); break;
	case E_PARITY: snprintf(out, size, "%s", e->lo ? "odd" : "even"); break;
	case E_LINGER:
		snprintf(out, size, "{%lld, %lld}", (long long)e->lo, (long long)e->hi);
		break;
	case E_EVENTS: {
		size_t o = (size_t)snprintf(out, size, "{");
		for (int i = 0; i < e->ncaps && o + 8 < size; i++) {
			char f[64];
			sc__show_flags(R->sc->vals[e->caps + 2 * (uint32_t)i + 1].num, f, sizeof f);
			o += (size_t)snprintf(
				out + o, size - o, "%s$%s: %s", i ? ", " : "",
				sc__name_of(R, R->sc->vals[e->caps + 2 * (uint32_t)i].var.name), f);
		}
		if (o < size)
			snprintf(out + o, size - o, "}");
		break;
	}
	case E_ADDR: {
		const struct sc_addr *a = &R->sc->addrs[e->addr];
		char t[SD_ADDR_STRLEN];
		sd_addr_format((const struct sockaddr *)a, a->len, t, sizeof t);
		if (e->op & (CMP_VAR | CMP_ANY)) /* "...:0" written as the port expected */
			snprintf(out, size, "%.*s%s%s", (int)(strrchr(t, ':') + 1 - t), t,
				 e->op & CMP_ANY ? "*" : "$",
				 e->op & CMP_ANY ? "" : sc__name_of(R, e->port.name));
		else
			snprintf(out, size, "%s", t);
		break;
	}
	case E_CMP: {
		static const char *const ops[] = {"", "<", "<=", ">", ">=", "!="};
		const char *op = ops[(e->op & ~CMP_VAR) % 6];
		if (e->op & CMP_VAR)
			snprintf(out, size, "%s $%s", op, sc__name_of(R, e->var.name));
		else
			snprintf(out, size, "%s %lld", op, (long long)e->lo);
		break;
	}
	case E_ERRNOS: {
		size_t o = 0;
		out[0] = 0;
		for (int i = 0; i < e->nerrs; i++)
			o += (size_t)snprintf(out + o, size - o, "%s%s", i ? "|" : "",
					      sd_errname(e->errs[i]) ? sd_errname(e->errs[i])
								     : "?");
		break;
	}
	default: snprintf(b, sizeof b, "anything"), snprintf(out, size, "%s", b);
	}
}

/* The expectation as text, its alternatives joined by " | " (a string naming variables is
 * shown as written). */
static void expected_text(const struct run *R, const struct sc_expect *e, char *out, size_t size)
{
	size_t o = 0;
	out[0] = 0;
	for (;;) {
		expected_one(R, e, out + o, size - o);
		o += strlen(out + o);
		if (!e->next || o + 4 >= size)
			return;
		o += (size_t)snprintf(out + o, size - o, " | ");
		e = &R->sc->expects[e->next - 1];
	}
}

/* A match's groups into the variables its 'as' names: each its text, and its number the
 * text's value when it is a decimal integer (a port), else its length. */
static int keep_groups(struct run *R, const struct sc_expect *e, const struct sc_res *r,
		       const regmatch_t *pm, char *why, size_t wl)
{
	for (int g = 0; g < e->ncaps; g++) {
		const struct sc_ref *t = &R->sc->vals[e->caps + (uint32_t)g].var;
		const regmatch_t *m = &pm[g + 1];
		const unsigned char *d = m->rm_so >= 0 ? r->data + m->rm_so : r->data;
		size_t n = m->rm_so >= 0 ? (size_t)(m->rm_eo - m->rm_so) : 0;
		int indexed;
		int64_t index, *slot, num = 0;
		int digits = n > 0 && n <= 18;
		for (size_t k = 0; k < n && digits; k++)
			digits = d[k] >= '0' && d[k] <= '9';
		for (size_t k = 0; k < n && digits; k++)
			num = num * 10 + (d[k] - '0');
		if (sc__ref_key(R, t, &indexed, &index, why, wl) < 0)
			return -1;
		if (!(slot = sc__table_find(R, &R->vars, t->name, indexed, index, 1)) ||
		    sc__set_text(slot, d, n) < 0) {
			snprintf(why, wl, "out of memory");
			return -1;
		}
		*slot = digits ? num : (int64_t)n;
	}
	return 0;
}

/* Checks a finished call's result; records and keeps the variable. */
void sc__conclude(struct run *R, const struct sc_step *st, enum sc_call call, struct sc_res *r,
		  struct sd_sc_outcome *o)
{
	char why[160] = "", exp[128];
	const struct sc_expect *e = sc_expect_of(R->sc, st), *met;
	regmatch_t pm[SC_MAX_GROUPS + 1];
	met = check(R, e, r, pm, why, sizeof why);
	int data_ok = met != NULL;
	if (met && (met->kind == E_STR || met->kind == E_PREFIX || met->kind == E_MATCH ||
		    met->kind == E_PATTERN))
		e = met; /* the alternative the bytes met decides how they are shown */
	char got[96], norm[64];
	sc__describe(call, e, r, data_ok, got, sizeof got, norm, sizeof norm);
	if (o) {
		snprintf(o->got, sizeof o->got, "%s", got);
		snprintf(o->norm, sizeof o->norm, "%s", norm);
	}
	if (st->has_target) {
		const struct sc_ref *t = sc_target(R->sc, st);
		int indexed;
		int64_t index, *slot;
		if (sc__ref_key(R, t, &indexed, &index, why, sizeof why) < 0 ||
		    !(slot = sc__table_find(R, &R->vars, t->name, indexed, index, 1))) {
			sc__failure(R, st, o, "%s", why[0] ? why : "out of memory");
			return;
		}
		*slot = r->v;
		/* a read keeps its bytes as the variable's text */
		if (sc__set_text(slot,
				 (sc_reads_bytes(call) || sc_gives_addr(call)) && r->v >= 0
					 ? r->data
					 : NULL,
				 r->dlen) < 0) {
			sc__failure(R, st, o, "out of memory");
			return;
		}
	}
	if (met && met->kind == E_MATCH && met->ncaps &&
	    keep_groups(R, met, r, pm, why, sizeof why) < 0) {
		sc__failure(R, st, o, "%s", why);
		return;
	}
	if (!met) {
		expected_text(R, e, exp, sizeof exp);
		if (r->v == -EDEADLK && (R->caps & SD_CAP_DETERMINISTIC) && sc_deadlock_report(R))
			sc__failure(R, st, o, "expected %s, but the call would block forever: %s",
				    exp, sc_deadlock_report(R));
		else if (why[0])
			sc__failure(R, st, o, "%s", why);
		else
			sc__failure(R, st, o, "expected %s, got %s", exp, got);
	}
}
