/* sockdrill: fault specs: parsed from text, written back as text, asked what they inject.
 * Nothing here allocates or touches errno, so the preload can use it on any thread. */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/errors.h>
#include <sockdrill/fault.h>

#include "../util/util.h"

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
		next = t + strlen(t) + 1;
		char *v = sd__kv_cut(t);
		const char *want = NULL;
		unsigned key;
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
		v = sd__kv_cut(kv);
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
