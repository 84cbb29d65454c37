/* sockdrill scenarios: the parser, line by line, with file:line:col messages: statements,
 * repeats, the names each line reads and makes, and the bounds of the whole file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sc_internal.h"

static int target(struct cur *c, struct sc_ref *r)
{
	if (sd__sc_ref(c, r, REF_TARGET) < 0)
		return -1;
	return sd__sc_expect_char(c, '=');
}

/* Looks ahead: "NAME =" or "NAME[...] =" (an assignment), as opposed to a call. */
static int assignment_ahead(const struct cur *c)
{
	const char *q = c->p;
	while (q < c->eol && sc_is_id(*q))
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
	sc_ws(c);
	st->kind = S_CALL;
	if (c->eol - c->p > 6 && !strncmp(c->p, "start", 5) && !sc_is_id(c->p[5])) {
		c->p += 5;
		st->kind = S_START;
		sc_ws(c);
		if (target(c, &m->handle) < 0 || sd__sc_call_expr(c, m) < 0)
			return -1;
		if (!sc_at_end(c))
			return sd__sc_fail(
				c, c->p,
				"a started call has no expectation here: check it at 'wait'");
		return 0;
	}
	if (c->eol - c->p > 8 && !strncmp(c->p, "blocked", 7) && !sc_is_id(c->p[7])) {
		c->p += 7;
		st->kind = S_BLOCKED;
		sc_ws(c);
		if (c->p < c->eol && *c->p == '$')
			c->p++;
		return sd__sc_ref(c, &m->handle, REF_HANDLE);
	}
	if (assignment_ahead(c)) {
		st->has_target = 1;
		if (target(c, &m->target) < 0)
			return -1;
		sc_ws(c);
	}
	if (c->eol - c->p > 5 && !strncmp(c->p, "wait", 4) && !sc_is_id(c->p[4])) {
		c->p += 4;
		st->kind = S_WAIT;
		sc_ws(c);
		if (c->p < c->eol && *c->p == '$')
			c->p++;
		if (sd__sc_ref(c, &m->handle, REF_HANDLE) < 0)
			return -1;
	} else if (sd__sc_call_expr(c, m) < 0) {
		return -1;
	}
	sc_ws(c);
	if (c->eol - c->p >= 2 && c->p[0] == '-' && c->p[1] == '>') {
		c->p += 2;
		if (sd__sc_expectation(c, &m->expect, st->call, st->kind == S_CALL) < 0)
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
	if (sd__sc_reserve(&sc->vals, &sc->capvals, sc->nvals, nv, sizeof *sc->vals) < 0 ||
	    sd__sc_reserve(&sc->steps, (uint32_t *)&sc->capsteps, (uint32_t)sc->n, 1,
			   sizeof *sc->steps) < 0)
		return sd__sc_fail(c, at, "out of memory");
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
	if (sd__sc_reserve(&sc->bytes, &sc->capbytes, sc->nbytes, (uint32_t)n, 1) < 0)
		return sd__sc_fail(c, from, "out of memory");
	memcpy(sc->bytes + sc->nbytes, from, n);
	st->text = sc->nbytes;
	st->text_len = (uint8_t)n;
	sc->nbytes += (uint32_t)n;
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
	if (sd__sc_reserve(&c->known, &c->capknown, (uint32_t)sym, 1, 1) < 0)
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
			return sd__sc_fail(c, u->at, "$i used outside repeat");
		if (u->what == U_VAR && !known(c, u->sym, SYM_VAR)) {
			if (!strcmp(name, "TARGET_PORT"))
				return sd__sc_fail(
					c, u->at,
					"unknown variable $TARGET_PORT (only 'sockdrill run "
					"--target' and 'sockdrill wrap --run' define it)");
			return sd__sc_fail(
				c, u->at,
				"unknown variable $%s (no line before this one assigns it)", name);
		}
		if (u->what == U_HANDLE && !known(c, u->sym, SYM_STARTED))
			return sd__sc_fail(c, u->at, "no call was started as %s before this line",
					   name);
	}
	if ((st->kind == S_START && know(c, m->handle.name, SYM_STARTED) < 0) ||
	    (st->has_target && know(c, m->target.name, SYM_VAR) < 0))
		return sd__sc_fail(c, at, "out of memory");
	for (int k = 0; k < c->ncaps; k++)
		if (know(c, c->caps[k], SYM_VAR) < 0)
			return sd__sc_fail(c, at, "out of memory");
	return 0;
}

/* The repeats open around a line, and the steps the file runs. */
struct nest {
	int stack[SC_MAX_DEPTH], opened_at[SC_MAX_DEPTH], depth, real_steps;
	/* times a step at each depth runs (repeat counts multiplied, held at SC_MAX_STEPS + 1 once
	 * past it), and the steps the whole file runs */
	int64_t times[SC_MAX_DEPTH + 1], total, starts;
};

/* Bytes a text file does not have are refused wherever they are. */
static int text_bytes(struct cur *c)
{
	int in_str = 0;
	for (const char *q = c->ls; q < c->eol; q++) {
		unsigned char ch = (unsigned char)*q;
		if (ch == '"' && (q == c->ls || q[-1] != '\\'))
			in_str = !in_str;
		if (ch == '#' && !in_str)
			break;
		if ((ch < 0x20 && ch != '\t' && ch != '\r') || (ch >= 0x7f && !in_str))
			return sd__sc_fail(c, q, "unexpected byte 0x%02x", ch);
	}
	return 0;
}

/* 'repeat N {': a repeat opens. */
static int repeat_line(struct cur *c, struct nest *nest, struct stmt *m, const char *start)
{
	struct sd_scenario *sc = c->sc;
	struct sc_step *st = &m->st;
	int64_t count;
	c->p += 6;
	sc_ws(c);
	const char *ns = c->p;
	if (sd__sc_number(c, &count) < 0)
		return -1;
	if (count < 0 || count > SC_MAX_REPEAT)
		return sd__sc_fail(c, ns, "repeat count must be 0..%d", SC_MAX_REPEAT);
	if (sd__sc_expect_char(c, '{') < 0)
		return -1;
	if (nest->depth == SC_MAX_DEPTH)
		return sd__sc_fail(c, start, "repeat nested too deeply (at most %d)", SC_MAX_DEPTH);
	st->kind = S_REPEAT;
	st->count = (int32_t)count;
	nest->times[nest->depth + 1] = nest->times[nest->depth] * count;
	if (nest->times[nest->depth + 1] > SC_MAX_STEPS)
		nest->times[nest->depth + 1] = SC_MAX_STEPS + 1;
	nest->opened_at[nest->depth] = nest->real_steps;
	nest->stack[nest->depth++] = sc->n;
	c->depth = nest->depth;
	if (step_text(c, start, st) < 0 || store(c, m, start) < 0)
		return -1;
	return 0;
}

/* '}': the innermost repeat closes. */
static int end_line(struct cur *c, struct nest *nest, struct stmt *m, const char *start)
{
	struct sd_scenario *sc = c->sc;
	struct sc_step *st = &m->st;
	c->p++;
	if (!nest->depth)
		return sd__sc_fail(c, start, "'}' without a matching 'repeat'");
	st->kind = S_END;
	st->match = nest->stack[--nest->depth];
	c->depth = nest->depth;
	if (step_text(c, start, st) < 0 || store(c, m, start) < 0)
		return -1;
	sc->steps[st->match].match = sc->n - 1;
	if (nest->opened_at[nest->depth] == nest->real_steps) /* nothing inside runs: skip it */
		sc->steps[st->match].count = 0;
	return 0;
}

/* A step: "[actor:] statement", its names checked, the steps it adds to the file's bounded. */
static int step_line(struct cur *c, struct nest *nest, struct stmt *m, const char *start)
{
	struct sc_step *st = &m->st;
	/* actor: ... */
	const char *q = c->p;
	while (q < c->eol && sc_is_id(*q))
		q++;
	if (q > c->p && q < c->eol && *q == ':') {
		if ((size_t)(q - c->p) > SC_MAX_NAME)
			return sd__sc_fail(c, c->p, "actor name too long");
		st->actor_len = (uint8_t)(q - c->p);
		c->p = q + 1;
	}
	if (statement(c, m) < 0 || step_text(c, start, st) < 0)
		return -1;
	if (!sc_at_end(c))
		return sd__sc_fail(c, c->p, "unexpected '%c'", *c->p);
	if (check_names(c, m, start) < 0 || store(c, m, start) < 0)
		return -1;
	nest->real_steps++;
	nest->total += nest->times[nest->depth];
	if (nest->total > SC_MAX_STEPS)
		return sd__sc_fail(c, start,
				   "the scenario would run more than %d steps here (a step "
				   "in repeat runs once per iteration)",
				   SC_MAX_STEPS);
	if (st->kind == S_START && (nest->starts += nest->times[nest->depth]) > SC_MAX_STARTS)
		return sd__sc_fail(c, start,
				   "the scenario would start more than %d calls here (a "
				   "start in repeat runs once per iteration)",
				   SC_MAX_STARTS);
	return 0;
}

/* A line that is not empty, at c->p. */
static int one_line(struct cur *c, struct nest *nest, struct sd_scenario *sc)
{
	struct stmt m;
	struct sc_step *st = &m.st;
	memset(&m, 0, sizeof m);
	c->nuses = 0;
	c->ncaps = 0;
	st->line = c->line;
	const char *start = c->p;
	if (c->eol - c->p >= 4 && !strncmp(c->p, "set", 3) && (c->p[3] == ' ' || c->p[3] == '\t')) {
		c->p += 3;
		if (sd__sc_setting(c, sc, c->opt) < 0)
			return -1;
	} else if (c->eol - c->p >= 8 && !strncmp(c->p, "requires", 8) &&
		   (c->eol - c->p == 8 || strchr(" \t\r#", c->p[8]))) {
		c->p += 8;
		if (sd__sc_requirement(c, sc) < 0)
			return -1;
	} else if (c->eol - c->p >= 7 && !strncmp(c->p, "repeat", 6) && !sc_is_id(c->p[6])) {
		if (repeat_line(c, nest, &m, start) < 0)
			return -1;
	} else if (*c->p == '}') {
		if (end_line(c, nest, &m, start) < 0)
			return -1;
	} else if (step_line(c, nest, &m, start) < 0) {
		return -1;
	}
	if (!sc_at_end(c))
		return sd__sc_fail(c, c->p, "unexpected '%c'", *c->p);
	return 0;
}

static int parse_lines(struct cur *c, const char *text, size_t len, struct sd_scenario *sc)
{
	struct nest nest = {.times = {1}};
	const char *end = text + len;
	for (const char *p = text; p < end; c->line++) {
		c->ls = c->p = p;
		c->eol = memchr(p, '\n', (size_t)(end - p));
		if (!c->eol)
			c->eol = end;
		p = c->eol + 1;
		if (text_bytes(c) < 0)
			return -1;
		if (sc_at_end(c))
			continue;
		if (one_line(c, &nest, sc) < 0)
			return -1;
	}
	if (nest.depth) {
		c->line = sc->steps[nest.stack[nest.depth - 1]].line;
		c->ls = c->p = text; /* column 1 of that line is good enough */
		return sd__sc_fail(c, c->p, "repeat is never closed with '}'");
	}
	if (!nest.real_steps) {
		c->line = 1;
		c->ls = c->p = text;
		return sd__sc_fail(c, c->p, "no steps in this scenario");
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
	    ((sym = sd__sc_symbol_find(&c, "TARGET_PORT", 1)) < 0 || know(&c, sym, SYM_VAR) < 0))
		rc = sd__sc_fail(&c, text, "out of memory");
	if (rc == 0)
		rc = parse_lines(&c, text, len, sc);
	sc->sym_target = rc < 0 ? -1 : sd__sc_symbol_find(&c, "TARGET_PORT", 0);
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
