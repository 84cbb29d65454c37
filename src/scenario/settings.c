/* sockdrill scenarios, the parser: 'set' and 'requires' lines: the run's settings, fault
 * specs, and the kernel the file describes (variant, tunables, free ports). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/fault.h>
#include <sockdrill/sim.h>

#include "sc_internal.h"

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
		return sd__sc_fail(c, vs, "%s takes a quoted spec, e.g. \"short-read=1\"", setting);
	if (sd__sc_string(c, &str) < 0)
		return -1;
	c->sc->nbytes -= str.len; /* only needed here */
	if (str.len >= sizeof buf || memchr(c->sc->bytes + str.off, 0, str.len))
		return sd__sc_fail(c, vs, "fault spec too long");
	memcpy(buf, c->sc->bytes + str.off, str.len);
	buf[str.len] = 0;
	if (sd_fault_parse(buf, spec, why, sizeof why) < 0)
		return sd__sc_fail(c, vs, "%s", why);
	if (text)
		memcpy(text, buf, str.len + 1);
	return 0;
}

#define TUNABLE_NAMES                                                                              \
	"hz, syn-retries, syn-linear-timeouts, fin-timeout, port-range, somaxconn, wmem-max, "     \
	"rmem-max, tcp-rmem-max, tcp-peek-off, tw-reuse, tw-reuse-delay, notsent-lowat"
static int profile_setting(struct cur *c, struct sd_scenario *sc);

int sd__sc_setting(struct cur *c, struct sd_scenario *sc, const struct sd_sc_options *opt)
{
	char name[32];
	const char *s = (sc_ws(c), c->p);
	int64_t v;
	int prof = profile_setting(c, sc);
	if (prof)
		return prof < 0 ? -1 : 0;
	if (sd__sc_ident(c, name, sizeof name, "a setting name") < 0)
		return -1;
	if (!strcmp(name, "server") && c->p < c->eol && *c->p == '-') {
		/* server-faults, server-seed: the one setting name with a hyphen */
		c->p++;
		if (sd__sc_ident(c, name + 7, sizeof name - 7, "a setting name") < 0)
			return -1;
		name[6] = '-';
	}
	sc_ws(c);
	const char *vs = c->p;
	if (!strncmp(name, "server-", 7) &&
	    (!strcmp(name + 7, "faults") || !strcmp(name + 7, "seed")) &&
	    !(opt && opt->server_started))
		return sd__sc_fail(c, s,
				   "%s is for a server sockdrill starts: replay the file with "
				   "'sockdrill run --inproc TARGET' or 'sockdrill wrap --run'",
				   name);
	if (!strcmp(name, "preempt")) {
		double p;
		if (fraction(c, &p) < 0 || !(p >= 0 && p <= 1))
			return sd__sc_fail(c, vs, "preempt takes a number from 0 to 1");
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
	if (sd__sc_number(c, &v) < 0)
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
		return sd__sc_fail(c, s,
				   "unknown setting '%s' (seed, segment, preempt, timeout, faults, "
				   "server-faults, server-seed, unprivileged, " TUNABLE_NAMES ")",
				   name);
	else
		return sd__sc_fail(c, vs, "value out of range for %s", name);
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
			return sd__sc_fail(c, s, "line %d already %s %s", sc->reqs[i].line,
					   sc->reqs[i].is_set ? "sets" : "requires", t->name);
	if (sc->nreqs == SC_MAX_REQUIRES)
		return sd__sc_fail(c, s, "more than %d kernel tunables in one file",
				   SC_MAX_REQUIRES);
	const char *vs = c->p;
	int64_t v, hi = 0;
	if (sd__sc_number(c, &v) < 0)
		return -1;
	if (t->pair) {
		if (c->p >= c->eol || *c->p != '-')
			return sd__sc_fail(c, vs, "%s takes LO-HI, e.g. 40000-40999", t->name);
		c->p++;
		if (sd__sc_number(c, &hi) < 0)
			return -1;
	}
	if (v < t->lo || v > t->hi || (t->pair && (hi < v || hi > t->hi)))
		return sd__sc_fail(c, vs, "value out of range for %s (%ld..%ld%s)", t->name, t->lo,
				   t->hi, t->pair ? ", LO <= HI" : "");
	sc->reqs[sc->nreqs++] = (struct sc_require){f, (long)v, (long)hi, c->line, is_set};
	return 0;
}

/* 'requires TUNABLE=N': a kernel-profile value the file's expectations hold for. */
static int require_tunable(struct cur *c, struct sd_scenario *sc, const char *s, size_t n)
{
	int f = find_tunable(s, n);
	if (f < 0)
		return sd__sc_fail(c, s, "unknown kernel tunable '%.*s' (" TUNABLE_NAMES ")",
				   (int)(n > 40 ? 40 : n), s);
	c->p++; /* '=' */
	return tunable_value(c, sc, f, s, 0);
}

/* 'set TUNABLE N' and 'set unprivileged': 1 when the word at c->p is one (handled), 0 when
 * it is another setting (c->p left where it was), -1 on an error. */
static int profile_setting(struct cur *c, struct sd_scenario *sc)
{
	const char *s = c->p;
	while (c->p < c->eol && (sc_is_id(*c->p) || *c->p == '-'))
		c->p++;
	size_t n = (size_t)(c->p - s);
	if (n == 12 && !strncmp(s, "unprivileged", 12)) {
		if (sc->unprivileged)
			return sd__sc_fail(c, s, "line %d already sets unprivileged",
					   sc->unprivileged_line);
		sc->unprivileged = 1, sc->unprivileged_line = c->line;
		return 1;
	}
	int f = find_tunable(s, n);
	if (f < 0) {
		c->p = s;
		return 0;
	}
	sc_ws(c);
	return tunable_value(c, sc, f, s, 1) < 0 ? -1 : 1;
}

/* 'requires free-ports=LO-HI' (at most 64 ports): a file that names fixed ports. */
static int require_free_ports(struct cur *c, struct sd_scenario *sc, const char *s)
{
	if (sc->free_line)
		return sd__sc_fail(c, s, "line %d already requires free-ports", sc->free_line);
	c->p++; /* '=' */
	const char *vs = c->p;
	int64_t lo, hi;
	if (sd__sc_number(c, &lo) < 0)
		return -1;
	if (c->p >= c->eol || *c->p != '-')
		return sd__sc_fail(c, vs, "free-ports takes LO-HI, e.g. 40000-40009");
	c->p++;
	if (sd__sc_number(c, &hi) < 0)
		return -1;
	if (lo < 1024 || hi > 65535 || hi < lo || hi - lo >= 64)
		return sd__sc_fail(c, vs,
				   "free-ports is LO-HI within 1024..65535, at most 64 ports");
	sc->free_lo = (int)lo, sc->free_hi = (int)hi, sc->free_line = c->line;
	return 0;
}

/* 'requires one-role', 'requires no-one-role' or 'requires TUNABLE=N': the kernel the file
 * describes (docs/scenarios.md, "Kernel variants"); the variant once per file. */
int sd__sc_requirement(struct cur *c, struct sd_scenario *sc)
{
	sc_ws(c);
	const char *s = c->p;
	while (c->p < c->eol && (sc_is_id(*c->p) || *c->p == '-'))
		c->p++;
	size_t n = (size_t)(c->p - s);
	if (!n)
		return sd__sc_fail(
			c, s, "expected a kernel variant (one-role, no-one-role) or TUNABLE=N");
	if (c->p < c->eol && *c->p == '=' && n == 10 && !strncmp(s, "free-ports", 10))
		return require_free_ports(c, sc, s);
	if (c->p < c->eol && *c->p == '=')
		return require_tunable(c, sc, s, n);
	int no = n > 3 && !strncmp(s, "no-", 3), base = no ? 3 : 0;
	if (n - base != 8 || strncmp(s + base, "one-role", 8))
		return sd__sc_fail(
			c, s, "unknown kernel variant '%.*s' (one-role, no-one-role, or TUNABLE=N)",
			(int)(n > 40 ? 40 : n), s);
	if (sc->has_one_role)
		return sd__sc_fail(c, s, "line %d already states the one-role variant",
				   sc->one_role_line);
	sc->has_one_role = 1;
	sc->one_role = !no;
	sc->one_role_line = c->line;
	return 0;
}
