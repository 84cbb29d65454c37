/* sockdrill: fault specs and seeded decisions, shared by the wrapper and the preload library.
 * Nothing here allocates or touches errno, so the preload can use it on any thread. */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/errors.h>
#include <sockdrill/fault.h>

static int parse_prob(const char *v, double *out)
{
	char *end;
	double p;
	if (!v) {
		*out = 0.1;
		return 0;
	}
	p = strtod(v, &end);
	if (end == v || *end || !(p >= 0 && p <= 1))
		return -1;
	*out = p;
	return 0;
}

static int parse_uint(const char *v, unsigned def, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long n;
	if (!v) {
		*out = def;
		return 0;
	}
	if (!*v || *v == '-' || *v == '+')
		return -1;
	n = strtoul(v, &end, 10);
	if (*end || n < lo || n > hi)
		return -1;
	*out = (unsigned)n;
	return 0;
}

/* One kind of fault: its name, where its value goes, and which calls it can touch (a target
 * aimed at another op could never fire, and is refused). */
enum vtype { V_PROB, V_BYTES, V_MS, V_MS_PM, V_RATE, V_BYTES_PM, V_BUDGET, V_MS_REQ };
#define R (1u << SD_OP_READ)
#define W (1u << SD_OP_WRITE)
#define A (1u << SD_OP_ACCEPT)
#define C (1u << SD_OP_CONNECT)
#define S (1u << SD_OP_SOCKET)
#define X (1u << SD_OP_CLOSE)
#define E (1u << SD_OP_EPOLL)
#define N (1u << SD_OP_RESOLVE)
static const struct kind {
	const char *name;
	enum sd_fault_kind k;
	enum vtype v;
	size_t off; /* of the value in struct sd_fault_spec */
	unsigned ops;
} kinds[] = {
	{"short-read", SD_FK_SHORT_READ, V_BYTES, offsetof(struct sd_fault_spec, short_read), R},
	{"short-write", SD_FK_SHORT_WRITE, V_BYTES, offsetof(struct sd_fault_spec, short_write), W},
	{"eintr", SD_FK_EINTR, V_PROB, offsetof(struct sd_fault_spec, eintr), R | W | A | C},
	{"eagain", SD_FK_EAGAIN, V_PROB, offsetof(struct sd_fault_spec, eagain), R | W | A},
	{"reset", SD_FK_RESET, V_PROB, offsetof(struct sd_fault_spec, reset), R | W},
	{"accept-fail", SD_FK_ACCEPT_FAIL, V_PROB, offsetof(struct sd_fault_spec, accept_fail), A},
	{"connect-fail", SD_FK_CONNECT_FAIL, V_PROB, offsetof(struct sd_fault_spec, connect_fail),
	 C},
	{"delay", SD_FK_DELAY, V_MS, offsetof(struct sd_fault_spec, delay_ms), R | W | A | C},
	{"epipe", SD_FK_EPIPE, V_PROB, offsetof(struct sd_fault_spec, epipe), W},
	{"etimedout", SD_FK_ETIMEDOUT, V_PROB, offsetof(struct sd_fault_spec, etimedout), R},
	{"enobufs", SD_FK_ENOBUFS, V_PROB, offsetof(struct sd_fault_spec, enobufs), W},
	{"enomem", SD_FK_ENOMEM, V_PROB, offsetof(struct sd_fault_spec, enomem), W},
	{"emfile", SD_FK_EMFILE, V_PROB, offsetof(struct sd_fault_spec, emfile), A | S | E},
	{"enfile", SD_FK_ENFILE, V_PROB, offsetof(struct sd_fault_spec, enfile), A | S | E},
	{"latency", SD_FK_LATENCY, V_MS_PM, offsetof(struct sd_fault_spec, latency_ms), R | W},
	{"bandwidth", SD_FK_BANDWIDTH, V_RATE, offsetof(struct sd_fault_spec, bandwidth_kbps),
	 R | W},
	{"slice", SD_FK_SLICE, V_BYTES_PM, offsetof(struct sd_fault_spec, slice), W},
	{"limit-data", SD_FK_LIMIT_DATA, V_BUDGET, offsetof(struct sd_fault_spec, limit_data),
	 R | W},
	{"slow-close", SD_FK_SLOW_CLOSE, V_MS_REQ, offsetof(struct sd_fault_spec, slow_close_ms),
	 X},
	{"timeout", SD_FK_TIMEOUT, V_MS_REQ, offsetof(struct sd_fault_spec, timeout_ms), R | W},
	{"eai-again", SD_FK_EAI_AGAIN, V_PROB, offsetof(struct sd_fault_spec, eai_again), N},
	{"eai-noname", SD_FK_EAI_NONAME, V_PROB, offsetof(struct sd_fault_spec, eai_noname), N},
};
/* What each value type wants, for the message that refuses one. */
static const char *const vwant[] = {
	[V_PROB] = "a probability from 0 to 1",
	[V_BYTES] = "a byte count from 1",
	[V_MS] = "milliseconds, 0..60000",
	[V_MS_PM] = "milliseconds, 1..60000, and ~ a jitter 0..60000, e.g. 100~20",
	[V_RATE] = "kilobytes a second, 1..10000000",
	[V_BYTES_PM] = "a byte count from 1, and ~ a variation below it, e.g. 64~16",
	[V_BUDGET] = "a byte count, 1..1073741824",
	[V_MS_REQ] = "milliseconds, 1..60000",
};

/* "N[~V]" into out[0] and out[1] (0 when no ~V), V at most vhi, and below N if below: 0, or
 * -1. */
static int parse_pm(const char *v, unsigned lo, unsigned hi, unsigned vhi, int below, unsigned *out)
{
	char head[24];
	const char *tilde = v ? strchr(v, '~') : NULL;
	if (!v)
		return -1;
	out[1] = 0;
	if (!tilde)
		return parse_uint(v, 0, lo, hi, &out[0]);
	if ((size_t)(tilde - v) >= sizeof head)
		return -1;
	memcpy(head, v, (size_t)(tilde - v));
	head[tilde - v] = 0;
	if (parse_uint(head, 0, lo, hi, &out[0]) || parse_uint(tilde + 1, 0, 0, vhi, &out[1]))
		return -1;
	return below && out[1] >= out[0] ? -1 : 0;
}
#undef R
#undef W
#undef A
#undef C
#undef S
#undef X
#undef E
#undef N
static const char *const op_names[] = {"read",   "write", "accept", "connect",
				       "socket", "close", "epoll",  "resolve"};

/* "read|write": the ops named, or 0 when one is not an op. */
static unsigned parse_ops(const char *v)
{
	unsigned ops = 0;
	while (*v) {
		size_t n = strcspn(v, "|"), i;
		for (i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
			if (strlen(op_names[i]) == n && !strncmp(v, op_names[i], n))
				break;
		if (i == sizeof op_names / sizeof op_names[0])
			return 0;
		ops |= 1u << i;
		v += n;
		if (*v == '|' && !*++v)
			return 0;
	}
	return ops;
}

/* "2s", "100ms" (at most a day) into nanoseconds: 0, or -1. */
static int parse_dur(const char *v, const char *end, int64_t *ns)
{
	char *e;
	if (v == end || *v < '0' || *v > '9')
		return -1;
	unsigned long long n = strtoull(v, &e, 10);
	size_t unit = (size_t)(end - e);
	if (n > 86400000ull)
		return -1;
	if (unit == 2 && !strncmp(e, "ms", 2))
		*ns = (int64_t)n * 1000000;
	else if (unit == 1 && *e == 's' && n <= 86400)
		*ns = (int64_t)n * 1000000000;
	else
		return -1;
	return 0;
}

/* "a2": the connection's ordinal with its role, or 0. */
static uint64_t parse_conn(const char *v)
{
	const char *roles = "acl";
	const char *r = *v ? strchr(roles, *v) : NULL;
	char *end;
	if (!r || v[1] < '1' || v[1] > '9')
		return 0;
	unsigned long long n = strtoull(v + 1, &end, 10);
	if (*end || n >= (1ull << 32))
		return 0;
	return ((uint64_t)(r - roles + 1) << 56) | n;
}

/* A count of calls, 0 .. 2^32 - 1: 0, or -1. */
static int parse_calls(const char *v, uint64_t *out)
{
	char *end;
	if (*v < '0' || *v > '9')
		return -1;
	unsigned long long n = strtoull(v, &end, 10);
	if (*end || n >= (1ull << 32))
		return -1;
	*out = n;
	return 0;
}

/* The "@KEY=VALUE" parts after fault k (t: the first, NULL for none; the '@'s are cut to NULs
 * up to end). */
static int parse_targets(char *t, const char *end, const struct kind *k, struct sd_fault_spec *spec,
			 char *err, size_t errlen)
{
	struct sd_fault_target *g = &spec->target[k->k];
	unsigned seen = 0;
	*g = (struct sd_fault_target){0};
	if (!t)
		return 0;
	if (t == end) { /* "reset@": an '@' with nothing after it */
		snprintf(err, errlen, "faults: empty target after %s", k->name);
		return -EINVAL;
	}
	for (char *next; t < end; t = next) {
		char *v = strchr(t, '=');
		next = t + strlen(t) + 1;
		const char *want = NULL;
		unsigned key;
		if (v)
			*v++ = 0;
		if (!strcmp(t, "conn"))
			key = 0,
			want = v && (g->conn = parse_conn(v))
				       ? NULL
				       : "a connection: a, c or l and a number from 1, e.g. a2";
		else if (!strcmp(t, "after"))
			key = 1, want = v && !parse_calls(v, &g->after)
						? NULL
						: "a count of calls, 0 or more";
		else if (!strcmp(t, "for"))
			key = 2, want = v && !parse_calls(v, &g->count) && g->count
						? NULL
						: "a count of calls, 1 or more";
		else if (!strcmp(t, "op"))
			key = 3,
			want = v && (g->ops = parse_ops(v))
				       ? NULL
				       : "read, write, accept, connect, socket, close, epoll or "
					 "resolve, joined by |";
		else if (!strcmp(t, "window")) {
			char *dash = v ? strchr(v, '-') : NULL;
			key = 4;
			if (!dash || parse_dur(v, dash, &g->from_ns) < 0 ||
			    parse_dur(dash + 1, dash + 1 + strlen(dash + 1), &g->to_ns) < 0 ||
			    g->to_ns <= g->from_ns)
				want = "FROM-TO since the start, in ms or s, FROM before TO, "
				       "e.g. 100ms-2s";
			spec->windows = 1;
		} else {
			snprintf(err, errlen,
				 "faults: unknown target '@%s' for %s (conn, after, for, op, "
				 "window)",
				 t, k->name);
			return -EINVAL;
		}
		if (want) {
			snprintf(err, errlen, "faults: bad target '@%s=%s' for %s (%s)", t,
				 v ? v : "", k->name, want);
			return -EINVAL;
		}
		if (seen & 1u << key) {
			snprintf(err, errlen, "faults: target '@%s' given twice for %s", t,
				 k->name);
			return -EINVAL;
		}
		seen |= 1u << key;
		if (g->ops & ~k->ops) {
			unsigned bad = g->ops & ~k->ops, i = 0;
			while (!(bad & 1u << i))
				i++;
			snprintf(err, errlen, "faults: %s never applies to %s ('@op=%s')", k->name,
				 op_names[i], v);
			return -EINVAL;
		}
	}
	return 0;
}

int sd_fault_parse(const char *text, struct sd_fault_spec *spec, char *err, size_t errlen)
{
	char buf[512], *save = NULL;
	memset(spec, 0, sizeof *spec);
	if (!text || !*text)
		return 0;
	if (strlen(text) >= sizeof buf) {
		snprintf(err, errlen, "faults: spec too long");
		return -EINVAL;
	}
	/* Messages quote the spec: a control character would break the one-line report. */
	for (const unsigned char *c = (const unsigned char *)text; *c; c++)
		if (*c < 0x20 || *c == 0x7f) {
			snprintf(err, errlen, "faults: the spec has a control character (0x%02x)",
				 *c);
			return -EINVAL;
		}
	strcpy(buf, text);
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *end = kv + strlen(kv), *at = strchr(kv, '@'), *v;
		const struct kind *k = NULL;
		int bad = 0;
		for (char *p = at; p; p = strchr(p + 1, '@'))
			*p = 0;
		v = strchr(kv, '=');
		if (v)
			*v++ = 0;
		for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
			if (!strcmp(kv, kinds[i].name))
				k = &kinds[i];
		if (!k && at && (!strcmp(kv, "scope") || !strcmp(kv, "level-triggered"))) {
			snprintf(err, errlen, "faults: %s takes no target ('@%s')", kv, at + 1);
			return -EINVAL;
		}
		if (k && k->v == V_PROB)
			bad = parse_prob(v, (double *)((char *)spec + k->off));
		else if (k && k->v == V_BYTES)
			bad = parse_uint(v, 1, 1, 1u << 30, (unsigned *)((char *)spec + k->off));
		else if (k && k->v == V_MS)
			bad = parse_uint(v, 10, 0, 60000, (unsigned *)((char *)spec + k->off));
		else if (k && k->v == V_MS_PM)
			bad = parse_pm(v, 1, 60000, 60000, 0, (unsigned *)((char *)spec + k->off));
		else if (k && k->v == V_BUDGET)
			bad = !v ||
			      parse_uint(v, 0, 1, 1u << 30, (unsigned *)((char *)spec + k->off));
		else if (k && k->v == V_MS_REQ)
			bad = !v || parse_uint(v, 0, 1, 60000, (unsigned *)((char *)spec + k->off));
		else if (k && k->v == V_RATE)
			bad = !v ||
			      parse_uint(v, 0, 1, 10000000, (unsigned *)((char *)spec + k->off));
		else if (k)
			bad = parse_pm(v, 1, 1u << 30, 1u << 30, 1,
				       (unsigned *)((char *)spec + k->off));
		else if (!strcmp(kv, "scope") && v && !strcmp(v, "all"))
			spec->scope = SD_SCOPE_ALL;
		else if (!strcmp(kv, "scope") && v && !strcmp(v, "accepted"))
			spec->scope = SD_SCOPE_ACCEPTED;
		else if (!strcmp(kv, "scope") && v && !strcmp(v, "connected"))
			spec->scope = SD_SCOPE_CONNECTED;
		else if (!strcmp(kv, "level-triggered") && !v)
			spec->level_triggered = 1;
		else if (!strcmp(kv, "level-triggered")) {
			snprintf(err, errlen, "faults: level-triggered takes no value ('%s')", v);
			return -EINVAL;
		} else if (!strcmp(kv, "scope")) {
			snprintf(err, errlen,
				 "faults: scope must be all, accepted or connected, not '%s'",
				 v ? v : "");
			return -EINVAL;
		} else {
			snprintf(err, errlen,
				 "faults: unknown fault '%s' (short-read, short-write, eintr, "
				 "eagain, reset, accept-fail, connect-fail, delay, epipe, "
				 "etimedout, enobufs, enomem, emfile, enfile, latency, "
				 "bandwidth, slice, limit-data, slow-close, timeout, eai-again, "
				 "eai-noname, scope, "
				 "level-triggered)",
				 kv);
			return -EINVAL;
		}
		if (bad) {
			snprintf(err, errlen, "faults: bad value '%s' for %s (%s)", v ? v : "", kv,
				 vwant[k->v]);
			return -EINVAL;
		}
		if (k && parse_targets(at ? at + 1 : NULL, end, k, spec, err, errlen) < 0)
			return -EINVAL;
	}
	return 0;
}

/* The table's row for kind k, or NULL. */
static const struct kind *kind_row(int k)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if ((int)kinds[i].k == k)
			return &kinds[i];
	return NULL;
}

const char *sd_fault_kind_name(int k)
{
	const struct kind *r = kind_row(k);
	return r ? r->name : NULL;
}

unsigned sd_fault_kind_ops(int k)
{
	const struct kind *r = kind_row(k);
	return r ? r->ops : 0;
}

/* Whether the spec asks for row r's kind: a probability above 0, any other value not 0. */
static int row_asked(const struct sd_fault_spec *s, const struct kind *r)
{
	if (r->v == V_PROB)
		return *(const double *)((const char *)s + r->off) > 0;
	return *(const unsigned *)((const char *)s + r->off) != 0;
}

/* The target of one kind as its "@KEY=VALUE" parts. */
#define PART(...)                                                                                  \
	n += (size_t)snprintf(out + (n < size ? n : 0), n < size ? size - n : 0, __VA_ARGS__)
static size_t target_text(const struct sd_fault_target *g, char *out, size_t size)
{
	size_t n = 0;
	if (g->conn)
		PART("@conn=%c%llu", "?acls"[(unsigned)(g->conn >> 56) < 5 ? g->conn >> 56 : 0],
		     (unsigned long long)(g->conn & ((1ull << 56) - 1)));
	if (g->after)
		PART("@after=%llu", (unsigned long long)g->after);
	if (g->count)
		PART("@for=%llu", (unsigned long long)g->count);
	for (unsigned i = 0, first = 1; i < SD_OP_KINDS; i++)
		if (g->ops & 1u << i) {
			PART("%s%s", first ? "@op=" : "|", op_names[i]);
			first = 0;
		}
	if (g->to_ns)
		PART("@window=%lldms-%lldms", (long long)(g->from_ns / 1000000),
		     (long long)(g->to_ns / 1000000));
	return n;
}

size_t sd_fault_spec_text(const struct sd_fault_spec *s, char *out, size_t size)
{
	size_t n = 0;
	if (size)
		out[0] = 0;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		const struct kind *k = &kinds[i];
		const char *at = (const char *)s + k->off;
		if (!sd_fault_kind_asked(s, (int)k->k))
			continue;
		PART("%s%s=", n ? "," : "", k->name);
		if (k->v == V_PROB) {
			double p = *(const double *)(const void *)at;
			char g[32];
			snprintf(g, sizeof g, "%g", p);
			PART(strtod(g, NULL) == p ? "%g" : "%.17g", p);
		} else {
			const unsigned *u = (const unsigned *)(const void *)at;
			PART("%u", u[0]);
			if ((k->v == V_MS_PM || k->v == V_BYTES_PM) && u[1])
				PART("~%u", u[1]); /* jitter_ms, slice_var: the next member */
		}
		n += target_text(&s->target[k->k], out + (n < size ? n : 0),
				 n < size ? size - n : 0);
	}
	if (s->scope != SD_SCOPE_ALL)
		PART("%sscope=%s", n ? "," : "",
		     s->scope == SD_SCOPE_ACCEPTED ? "accepted" : "connected");
	if (s->level_triggered)
		PART("%slevel-triggered", n ? "," : "");
	return n;
}
#undef PART

int sd_fault_kind_asked(const struct sd_fault_spec *s, int k)
{
	const struct kind *r = kind_row(k);
	return r ? row_asked(s, r) : 0;
}

/* Sound only while each row's ops name every op its kind's code in sd_fault_decide_at can
 * touch (tests/unit/test_fault.c checks the two agree). */
unsigned sd_fault_ops_asked(const struct sd_fault_spec *s)
{
	unsigned ops = 0;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (row_asked(s, &kinds[i]))
			ops |= kinds[i].ops;
	return ops;
}

int sd_fault_active(const struct sd_fault_spec *s)
{
	for (int k = 0; k < SD_FK_KINDS; k++)
		if (sd_fault_kind_asked(s, k))
			return 1;
	return 0;
}

/* splitmix64 over (seed, connection, call, which decision). */
static uint64_t mix(uint64_t seed, uint64_t conn, uint64_t call, unsigned salt)
{
	uint64_t z = seed ^ (conn * 0x9e3779b97f4a7c15ull) ^ (call * 0xc2b2ae3d27d4eb4full) ^
		     ((uint64_t)salt << 48);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int chance(double p, uint64_t seed, uint64_t conn, uint64_t call, unsigned salt)
{
	if (p <= 0)
		return 0;
	return (double)(mix(seed, conn, call, salt) >> 11) * 0x1.0p-53 < p;
}

static int in_scope(const struct sd_fault_spec *s, uint64_t conn)
{
	uint64_t role = conn & (0xffull << 56);
	if (s->scope == SD_SCOPE_ACCEPTED)
		return role == SD_CONN_ACCEPTED || role == SD_CONN_LISTENER;
	if (s->scope == SD_SCOPE_CONNECTED)
		return role == SD_CONN_CONNECTED;
	return 1;
}

/* Whether the target of kind k lets it fire on this call. */
static int aimed(const struct sd_fault_spec *s, enum sd_fault_kind k, uint64_t conn, uint64_t call,
		 enum sd_fault_op op, int64_t t)
{
	const struct sd_fault_target *g = &s->target[k];
	if (g->conn && g->conn != conn)
		return 0;
	if (call <= g->after || (g->count && call - g->after > g->count))
		return 0;
	if (g->ops && !(g->ops & 1u << op))
		return 0;
	return !g->to_ns || (t >= g->from_ns && t < g->to_ns);
}

/* Error kinds of the toxiproxy-like vocabulary, after the older ones (so that a spec of only
 * those decides exactly as before): each has its own salt. 1 when one fired. */
static int error_kinds(const struct sd_fault_spec *s, uint64_t seed, uint64_t conn, uint64_t call,
		       enum sd_fault_op op, int64_t t, struct sd_fault_decision *d)
{
	static const struct {
		enum sd_fault_kind k;
		enum sd_fault_op op, op2, op3;
		const char *name;
		int err, reset;
		size_t off;
	} e[] = {
		{SD_FK_EPIPE, SD_OP_WRITE, SD_OP_WRITE, SD_OP_WRITE, "epipe", EPIPE, 1,
		 offsetof(struct sd_fault_spec, epipe)},
		{SD_FK_ETIMEDOUT, SD_OP_READ, SD_OP_READ, SD_OP_READ, "etimedout", ETIMEDOUT, 1,
		 offsetof(struct sd_fault_spec, etimedout)},
		{SD_FK_ENOBUFS, SD_OP_WRITE, SD_OP_WRITE, SD_OP_WRITE, "enobufs", ENOBUFS, 0,
		 offsetof(struct sd_fault_spec, enobufs)},
		{SD_FK_ENOMEM, SD_OP_WRITE, SD_OP_WRITE, SD_OP_WRITE, "enomem", ENOMEM, 0,
		 offsetof(struct sd_fault_spec, enomem)},
		{SD_FK_EMFILE, SD_OP_ACCEPT, SD_OP_SOCKET, SD_OP_EPOLL, "emfile", EMFILE, 0,
		 offsetof(struct sd_fault_spec, emfile)},
		{SD_FK_ENFILE, SD_OP_ACCEPT, SD_OP_SOCKET, SD_OP_EPOLL, "enfile", ENFILE, 0,
		 offsetof(struct sd_fault_spec, enfile)},
		{SD_FK_EAI_AGAIN, SD_OP_RESOLVE, SD_OP_RESOLVE, SD_OP_RESOLVE, "eai-again",
		 EAI_AGAIN, 0, offsetof(struct sd_fault_spec, eai_again)},
		{SD_FK_EAI_NONAME, SD_OP_RESOLVE, SD_OP_RESOLVE, SD_OP_RESOLVE, "eai-noname",
		 EAI_NONAME, 0, offsetof(struct sd_fault_spec, eai_noname)},
	};
	for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
		double p = *(const double *)((const char *)s + e[i].off);
		if ((op == e[i].op || op == e[i].op2 || op == e[i].op3) && p > 0 &&
		    aimed(s, e[i].k, conn, call, op, t) &&
		    chance(p, seed, conn, call, 16 + (unsigned)e[i].k)) {
			d->fault = e[i].name;
			d->err = e[i].err;
			d->reset = e[i].reset;
			return 1;
		}
	}
	return 0;
}

/* bandwidth and slice, once nothing failed the call: they change when bytes move, not how
 * many (a sliced write is whole for the program). */
static void time_kinds(const struct sd_fault_spec *s, uint64_t seed, uint64_t conn, uint64_t call,
		       enum sd_fault_op op, size_t len, int64_t t, struct sd_fault_decision *d)
{
	if (op != SD_OP_READ && op != SD_OP_WRITE)
		return;
	if (s->limit_data && aimed(s, SD_FK_LIMIT_DATA, conn, call, op, t))
		d->limit = s->limit_data; /* the wrapper counts the bytes */
	if (s->bandwidth_kbps && aimed(s, SD_FK_BANDWIDTH, conn, call, op, t)) {
		d->bandwidth_kbps = s->bandwidth_kbps;
		if (d->len == len)
			d->fault = "bandwidth";
	}
	if (s->slice && op == SD_OP_WRITE && d->len == len && len > 1 &&
	    aimed(s, SD_FK_SLICE, conn, call, op, t)) {
		d->slice = s->slice;
		d->slice_var = s->slice_var;
		d->slice_key = mix(seed, conn, call, 41);
		if (sd_fault_slice_piece(d, 0) < len)
			d->fault = "slice";
		else
			d->slice = 0; /* one piece: nothing to slice */
	}
}

size_t sd_fault_slice_piece(const struct sd_fault_decision *d, unsigned i)
{
	if (!d->slice_var)
		return d->slice;
	uint64_t r = mix(d->slice_key, i, 0, 42) % (2ull * d->slice_var + 1);
	return (size_t)d->slice + (size_t)r - d->slice_var; /* slice_var < slice: at least 1 */
}

void sd_fault_decide(const struct sd_fault_spec *s, uint64_t seed, uint64_t conn, uint64_t call,
		     enum sd_fault_op op, enum sd_fault_wait wait, size_t len,
		     struct sd_fault_decision *d)
{
	sd_fault_decide_at(s, seed, conn, call, op, wait, len, 0, d);
}

void sd_fault_decide_at(const struct sd_fault_spec *s, uint64_t seed, uint64_t conn, uint64_t call,
			enum sd_fault_op op, enum sd_fault_wait wait, size_t len, int64_t t,
			struct sd_fault_decision *d)
{
	int blocking = wait == SD_WAIT_BLOCKING, no_edge = wait == SD_WAIT_NONBLOCKING_NO_EDGE;
	memset(d, 0, sizeof *d);
	d->len = len;
	d->conn = conn;
	d->call = call;
	if (!in_scope(s, conn))
		return;
	if (op == SD_OP_SOCKET || op == SD_OP_EPOLL || op == SD_OP_RESOLVE) {
		/* only descriptor exhaustion and resolver failures touch these */
		error_kinds(s, seed, conn, call, op, t, d);
		return;
	}
	if (op == SD_OP_CLOSE) { /* and only slow-close close() and shutdown() */
		if (s->slow_close_ms && aimed(s, SD_FK_SLOW_CLOSE, conn, call, op, t)) {
			d->fault = "slow-close";
			d->delay_ms = s->slow_close_ms;
		}
		return;
	}
	if (s->delay_ms && aimed(s, SD_FK_DELAY, conn, call, op, t)) {
		d->delay_ms = s->delay_ms;
		d->fault = "delay";
	}
	if (s->latency_ms && (op == SD_OP_READ || op == SD_OP_WRITE) &&
	    aimed(s, SD_FK_LATENCY, conn, call, op, t)) {
		int64_t ms = (int64_t)s->latency_ms;
		if (s->jitter_ms)
			ms += (int64_t)(mix(seed, conn, call, 40) % (2ull * s->jitter_ms + 1)) -
			      (int64_t)s->jitter_ms;
		d->delay_ms += ms > 0 ? (unsigned)ms : 0;
		d->fault = "latency";
	}
	if (op == SD_OP_ACCEPT && aimed(s, SD_FK_ACCEPT_FAIL, conn, call, op, t) &&
	    chance(s->accept_fail, seed, conn, call, 1)) {
		static const int errs[] = {EMFILE, ECONNABORTED, ENFILE};
		d->fault = "accept-fail";
		d->err = errs[mix(seed, conn, call, 2) % 3];
		return;
	}
	if (op == SD_OP_CONNECT && aimed(s, SD_FK_CONNECT_FAIL, conn, call, op, t) &&
	    chance(s->connect_fail, seed, conn, call, 3)) {
		d->fault = "connect-fail";
		d->err = mix(seed, conn, call, 4) & 1 ? ETIMEDOUT : ECONNREFUSED;
		return;
	}
	if (blocking && aimed(s, SD_FK_EINTR, conn, call, op, t) &&
	    chance(s->eintr, seed, conn, call, 5)) {
		d->fault = "eintr";
		d->err = EINTR;
		return;
	}
	if (!blocking && !no_edge && op != SD_OP_CONNECT &&
	    aimed(s, SD_FK_EAGAIN, conn, call, op, t) && chance(s->eagain, seed, conn, call, 6)) {
		d->fault = "eagain";
		d->err = EAGAIN;
		return;
	}
	if ((op == SD_OP_READ || op == SD_OP_WRITE) && aimed(s, SD_FK_RESET, conn, call, op, t) &&
	    chance(s->reset, seed, conn, call, 7)) {
		d->fault = "reset";
		d->reset = 1;
		d->err = ECONNRESET;
		return;
	}
	if (s->timeout_ms && (op == SD_OP_READ || op == SD_OP_WRITE) &&
	    aimed(s, SD_FK_TIMEOUT, conn, call, op, t)) {
		d->fault = "timeout"; /* the wrapper keeps it to the connection's first */
		d->delay_ms += s->timeout_ms;
		d->err = ETIMEDOUT;
		d->reset = 1;
		return;
	}
	if (error_kinds(s, seed, conn, call, op, t, d))
		return;
	unsigned piece = op == SD_OP_READ ? s->short_read : op == SD_OP_WRITE ? s->short_write : 0;
	enum sd_fault_kind pk = op == SD_OP_READ ? SD_FK_SHORT_READ : SD_FK_SHORT_WRITE;
	if (piece && len > 1 && !no_edge && aimed(s, pk, conn, call, op, t)) {
		size_t n = 1 + (size_t)(mix(seed, conn, call, 8) % piece);
		if (n < len) {
			d->len = n;
			d->fault = op == SD_OP_READ ? "short-read" : "short-write";
		}
	}
	time_kinds(s, seed, conn, call, op, len, t, d);
}

/* The name of an injected error for the log and the trace: the errno table's (errors.c),
 * or a resolver's EAI_* code, which shares the field (negative numbers in glibc). */
static const char *err_name(int e)
{
	if (e == EAI_AGAIN)
		return "EAI_AGAIN";
	if (e == EAI_NONAME)
		return "EAI_NONAME";
	return e > 0 ? sd_errname(e) : NULL;
}

/* "a1": the role letter and the ordinal of a connection. */
#define CONN_ROLE(conn) ("?acls"[(unsigned)((conn) >> 56) < 5 ? (unsigned)((conn) >> 56) : 0])
#define CONN_NUM(conn)  ((unsigned long long)((conn) & ((1ull << 56) - 1)))

size_t sd_fault_format(char *buf, size_t size, int64_t t_ns, uint64_t conn, uint64_t call,
		       const char *op, const struct sd_fault_decision *d, size_t asked)
{
	return sd_fault_format_pid(buf, size, t_ns, 0, 0, conn, call, op, d, asked);
}

size_t sd_fault_format_pid(char *buf, size_t size, int64_t t_ns, long pid, long conn_pid,
			   uint64_t conn, uint64_t call, const char *op,
			   const struct sd_fault_decision *d, size_t asked)
{
	const char *err = err_name(d->err);
	char who[32] = "", owner[24] = "";
	if (pid) {
		snprintf(who, sizeof who, "\"pid\":%ld,", pid);
		snprintf(owner, sizeof owner, "%ld/", conn_pid ? conn_pid : pid);
	}
	int n = snprintf(buf, size,
			 "{\"t\":%lld.%09lld,%s\"conn\":\"%s%c%llu\",\"call\":%llu,\"op\":\"%s\","
			 "\"fault\":\"%s\",\"bytes\":%zu,\"asked\":%zu%s%s%s}\n",
			 (long long)(t_ns / 1000000000), (long long)(t_ns % 1000000000), who, owner,
			 CONN_ROLE(conn), CONN_NUM(conn), (unsigned long long)call, op,
			 d->fault ? d->fault : "none", d->err ? (size_t)0 : d->len, asked,
			 err ? ",\"errno\":\"" : "", err ? err : "", err ? "\"" : "");
	return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

size_t sd_fault_describe(char *buf, size_t size, uint64_t conn, uint64_t call, const char *op,
			 int fd, const struct sd_fault_decision *d, size_t asked)
{
	char what[64] = "", delay[32] = "";
	const char *err = err_name(d->err);
	if (err)
		snprintf(what, sizeof what, " (%s)", err);
	else if (!d->err && d->len != asked)
		snprintf(what, sizeof what, ", %zu of %zu bytes", d->len, asked);
	else if (d->slice)
		snprintf(what, sizeof what, ", %zu bytes in pieces of %u~%u", asked, d->slice,
			 d->slice_var);
	else if (d->bandwidth_kbps)
		snprintf(what, sizeof what, ", %zu bytes at %u KB/s", asked, d->bandwidth_kbps);
	if (d->delay_ms)
		snprintf(delay, sizeof delay, "%s%u ms",
			 d->fault && strcmp(d->fault, "delay") ? ", after " : " ", d->delay_ms);
	int n = snprintf(buf, size, "fault %c%llu call %llu %s(%d): %s%s%s", CONN_ROLE(conn),
			 CONN_NUM(conn), (unsigned long long)call, op, fd,
			 d->fault ? d->fault : "none", what, delay);
	return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}
