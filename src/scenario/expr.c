/* sockdrill scenarios, the parser: a call and its arguments (values, addresses, flags,
 * keywords), checked against what the call takes. */
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <sockdrill/addr.h>

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

/* a.b.c.d:PORT or [v6]:PORT, PORT a number or a variable; with any_port (an expectation),
 * also '*', any port (*any_port set). */
int sd__sc_address_any(struct cur *c, struct sc_value *v, int *any_port)
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
			return sd__sc_fail(c, s, "unterminated IPv6 address (missing ']')");
		he = c->p++;
	} else {
		hs = c->p;
		while (c->p < c->eol && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.'))
			c->p++;
		he = c->p;
	}
	if (c->p >= c->eol || *c->p != ':')
		return sd__sc_fail(c, c->p, "an address needs a port: ADDR:PORT");
	c->p++;
	if ((size_t)(he - hs) >= sizeof host)
		return sd__sc_fail(c, s, "address too long");
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = 0;
	if (sd_addr_parse(host, 0, &ss, &sl) < 0 || (*s == '[') != (ss.ss_family == AF_INET6) ||
	    sl > sizeof(struct sockaddr_in6))
		return sd__sc_fail(c, hs, "not an IPv4 or IPv6 address: '%s'", host);
	if (sd__sc_reserve(&sc->addrs, &sc->capaddrs, sc->naddrs, 1, sizeof *sc->addrs) < 0)
		return sd__sc_fail(c, s, "out of memory");
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
		return sd__sc_ref(c, &v->var, REF_READ);
	}
	int64_t port;
	const char *ps = c->p;
	if (sd__sc_number(c, &port) < 0)
		return -1;
	if (port < 0 || port > 65535)
		return sd__sc_fail(c, ps, "port out of range: %lld", (long long)port);
	if (a->v4.sin_family == AF_INET)
		a->v4.sin_port = htons((uint16_t)port);
	else
		a->v6.sin6_port = htons((uint16_t)port);
	return 0;
}

static int address(struct cur *c, struct sc_value *v) { return sd__sc_address_any(c, v, NULL); }

/* NAME|NAME|... resolved to the OR of their values. */
int sd__sc_flags(struct cur *c, int64_t *out)
{
	char name[32];
	*out = 0;
	for (;;) {
		const char *s = (sc_ws(c), c->p);
		int64_t v;
		if (sd__sc_ident(c, name, sizeof name, "a name") < 0)
			return -1;
		if (sd__sc_lookup_const(name, &v) < 0)
			return sd__sc_fail(c, s, "unknown name '%s'", name);
		*out |= v;
		sc_ws(c);
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
	while (q < c->eol && sc_is_id(*q))
		q++;
	size_t n = (size_t)(q - c->p);
	while (q < c->eol && (*q == ' ' || *q == '\t'))
		q++;
	if (!n || !sc_is_id0(*c->p) || n >= sizeof name || (q < c->eol && *q == '|'))
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
	sc_ws(c);
	if (c->p >= c->eol)
		return sd__sc_fail(c, c->p, "expected a value");
	char ch = *c->p;
	if (ch == '"') {
		v->kind = V_STR;
		return sd__sc_string_interp(c, &v->str, &v->interp);
	}
	if (ch == '[')
		return address(c, v);
	if (ch == '$') {
		c->p++;
		v->kind = V_VAR;
		return sd__sc_ref(c, &v->var, REF_READ);
	}
	if ((ch >= '0' && ch <= '9') || ch == '-') {
		const char *q = c->p + (ch == '-');
		while (q < c->eol && *q >= '0' && *q <= '9')
			q++;
		if (q < c->eol && *q == '.' && ch != '-')
			return address(c, v);
		v->kind = V_NUM;
		return sd__sc_number(c, &v->num);
	}
	if (sc_is_id0(ch) && c->eol - c->p > 8 && !strncmp(c->p, "pattern(", 8)) {
		c->p += 8;
		sc_ws(c);
		v->kind = V_PATTERN;
		if (c->p < c->eol && *c->p == '$') {
			c->p++;
			v->len_is_var = 1;
			if (sd__sc_ref(c, &v->var, REF_READ) < 0)
				return -1;
		} else {
			const char *s = c->p;
			if (sd__sc_number(c, &v->num) < 0)
				return -1;
			if (v->num < 0 || v->num > (64 << 20))
				return sd__sc_fail(c, s, "pattern length must be 0..67108864");
		}
		return sd__sc_expect_char(c, ')');
	}
	if (sc_is_id0(ch) && c->eol - c->p > 5 && !strncmp(c->p, "null(", 5)) {
		c->p += 5;
		sc_ws(c);
		const char *s = c->p;
		v->kind = V_NULL;
		if (sd__sc_number(c, &v->num) < 0)
			return -1;
		if (v->num < 1 || v->num > (64 << 20))
			return sd__sc_fail(c, s, "null length must be 1..67108864");
		return sd__sc_expect_char(c, ')');
	}
	if (sc_is_id0(ch) && option_name(c, v))
		return 0;
	if (sc_is_id0(ch)) {
		v->kind = V_NUM;
		return sd__sc_flags(c, &v->num);
	}
	return sd__sc_fail(c, c->p, "unexpected '%c'", ch);
}

/* {ON, SECS}: SO_LINGER's pair (ON 0 or 1, SECS an int: Linux takes a negative one as a time
 * too long for its jiffies and caps it); misplaced when not for SO_LINGER
 * (the caller says), which is an error here. */
int sd__sc_linger_pair(struct cur *c, int64_t *on, int64_t *secs, int misplaced)
{
	const char *s = c->p;
	if (misplaced)
		return sd__sc_fail(
			c, s,
			"an {ON, SECONDS} pair is SO_LINGER's, for setsockopt and getsockopt");
	c->p++;
	sc_ws(c);
	const char *ns = c->p;
	if (sd__sc_number(c, on) < 0)
		return -1;
	if (*on != 0 && *on != 1)
		return sd__sc_fail(c, ns, "SO_LINGER's ON is 0 or 1");
	if (sd__sc_expect_char(c, ',') < 0)
		return -1;
	sc_ws(c);
	ns = c->p;
	if (sd__sc_number(c, secs) < 0)
		return -1;
	if (*secs < INT_MIN || *secs > INT_MAX)
		return sd__sc_fail(c, ns, "SO_LINGER's seconds are %d..%d", INT_MIN, INT_MAX);
	return sd__sc_expect_char(c, '}');
}

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
		    strncmp(c->p, kw->name, len) || sc_is_id(*q))
			continue;
		while (q < c->eol && (*q == ' ' || *q == '\t'))
			q++;
		if (q >= c->eol || *q != '=')
			continue;
		c->p = q + 1;
		sc_ws(c);
		const char *ns = c->p;
		int64_t n = 0;
		int digits = 0;
		while (c->p < c->eol && *c->p >= '0' && *c->p <= '9' && digits < 10)
			n = n * 10 + (*c->p++ - '0'), digits++;
		if (kw->ms && c->eol - c->p >= 2 && !strncmp(c->p, "ms", 2))
			c->p += 2;
		if (!digits || (c->p < c->eol && sc_is_id(*c->p)) || n > kw->max)
			return sd__sc_fail(c, ns, "%s takes %s, 0..%lld: %s=%s", kw->name,
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
	if (sd__sc_reserve(&sc->addrs, &sc->capaddrs, sc->naddrs, 1, sizeof *sc->addrs) < 0)
		return sd__sc_fail(c, c->p, "out of memory");
	struct sc_addr *a = &sc->addrs[sc->naddrs];
	memset(a, 0, sizeof *a);
	a->v4.sin_family = AF_UNSPEC;
	a->len = sizeof(struct sockaddr);
	memset(v, 0, sizeof *v);
	v->kind = V_ADDR;
	v->addr = sc->naddrs++;
	return 0;
}

/* An argument's value, parsed as its place (want: A_*) takes it: 1 when it was a keyword or a
 * value of a kind of its own (checked here), 0 for another value, -1 with the error set. */
static int arg_value(struct cur *c, struct stmt *m, int want, struct sc_value *v, const char *as)
{
	struct sc_step *st = &m->st;
	int kw = 0;
	if (st->nargs >= 2 && c->p < c->eol && sc_is_id0(*c->p) &&
	    (kw = call_keyword(c, st->call, v)) != 0) {
		if (kw < 0)
			return -1;
		for (int k = 2; k < st->nargs; k++)
			if (m->args[k].kind == v->kind)
				return sd__sc_fail(c, as, "%s given twice", keyword_name(v->kind));
	} else if (want == A_ADDR && c->eol - c->p >= 9 && !strncmp(c->p, "AF_UNSPEC", 9) &&
		   (c->eol - c->p == 9 || !sc_is_id(c->p[9]))) {
		/* connect(S, AF_UNSPEC): a disconnect (bind takes it too, as Linux) */
		c->p += 9;
		if (unspec_address(c, v) < 0)
			return -1;
	} else if (st->call == C_SETSOCKOPT && st->nargs == 2 && c->p < c->eol && *c->p == '{') {
		int64_t on, secs;
		int linger = m->args[1].kind == V_OPT &&
			     sd__sockopts[m->args[1].num].kind == SD__KIND_LINGER;
		if (sd__sc_linger_pair(c, &on, &secs, !linger) < 0)
			return -1;
		memset(v, 0, sizeof *v);
		v->kind = V_LINGER;
		v->num = on << 32 | (secs & 0xffffffff);
		kw = 1; /* a value of its own kind: checked here */
	} else if (want == A_FD && c->p < c->eol && sc_is_id0(*c->p) &&
		   !(c->eol - c->p > 5 && !strncmp(c->p, "null(", 5))) {
		/* a descriptor is a variable: "L" and "$L" both name it */
		memset(v, 0, sizeof *v);
		v->kind = V_VAR;
		if (sd__sc_ref(c, &v->var, REF_READ) < 0)
			return -1;
	} else if (value(c, v) < 0) {
		return -1;
	}
	return kw;
}

/* Whether argument st->nargs (just parsed into v) is what the call takes in its place: 0, or
 * -1 with the error set. */
static int arg_check(struct cur *c, const struct stmt *m, const char *name, int want, int kw,
		     const struct sc_value *v, const char *as)
{
	const struct sc_step *st = &m->st;
	if ((want == A_NUM || want == A_FD) && v->kind == V_NUM) {
		/* the runner passes numbers on as int (milliseconds for sleep) */
		int64_t lo = st->call == C_SLEEP ? 0 : INT_MIN;
		int64_t hi = st->call == C_SLEEP ? SC_MAX_SLEEP_MS : INT_MAX;
		if (st->call == C_SETSOCKOPT && st->nargs == 3 &&
		    sd__sockopts[m->args[1].num].kind == SD__KIND_U32)
			lo = 0, hi = UINT32_MAX;
		if (v->num < lo || v->num > hi)
			return sd__sc_fail(c, as, "argument %d of %s must be %lld..%lld%s",
					   st->nargs, name, (long long)lo, (long long)hi,
					   st->call == C_SLEEP ? " (milliseconds)" : "");
	}
	if (st->call == C_CMSG && v->kind == V_OPT)
		return 0; /* cmsg(C, TCP_INQ): call_checks says it takes TCP_CM_INQ */
	int ok = kw                  ? 1
		 : want == A_KW      ? 0
		 : want == A_FD      ? v->kind == V_VAR || v->kind == V_NUM
		 : want == A_ADDR    ? v->kind == V_ADDR || v->kind == V_VAR
		 : v->kind == V_NULL ? (st->call == C_SEND && st->nargs == 2) ||
					       (st->call == C_RECV && st->nargs == 2)
		 : want == A_DATA ? v->kind == V_STR || v->kind == V_PATTERN
		 : want == A_OPT  ? v->kind == V_OPT
				  : v->kind == V_NUM || v->kind == V_VAR;
	if (!ok) {
		static const char *const what[] = {"",
						   "a descriptor: a variable ($X) or a number",
						   "a number",
						   "an address (ADDR:PORT or $A)",
						   "a string or pattern(N)",
						   "a socket option name",
						   ""};
		char kws[64];
		keyword_list(st->call, kws, sizeof kws);
		return sd__sc_fail(c, as, "argument %d of %s must be %s", st->nargs, name,
				   want == A_KW ? kws : what[want]);
	}
	return 0;
}

/* The arguments of call i, up to the closing ')': 0, or -1 with the error set. */
static int call_args(struct cur *c, struct stmt *m, size_t i, const char *name)
{
	struct sc_step *st = &m->st;
	for (;;) {
		const char *as = (sc_ws(c), c->p);
		if (st->nargs == calls[i].max)
			return sd__sc_fail(c, as, "%s takes at most %d arguments", name,
					   calls[i].max);
		struct sc_value *v = &m->args[st->nargs];
		int want = calls[i].kinds[st->nargs], kw = arg_value(c, m, want, v, as);
		if (kw < 0)
			return -1;
		st->nargs++;
		if (arg_check(c, m, name, want, kw, v, as) < 0)
			return -1;
		sc_ws(c);
		if (c->p < c->eol && *c->p == ',') {
			c->p++;
			continue;
		}
		return sd__sc_expect_char(c, ')');
	}
}

/* What the call's arguments must meet together: 0, or -1 with the error set. */
static int call_checks(struct cur *c, const struct stmt *m, const char *name, const char *s)
{
	const struct sc_step *st = &m->st;
	if (st->call == C_IOCTL && m->args[1].kind == V_NUM && m->args[1].num != SIOCINQ &&
	    m->args[1].num != SIOCOUTQ)
		return sd__sc_fail(c, s, "ioctl takes FIONREAD, SIOCINQ or SIOCOUTQ");
	if (st->call == C_EPOLL_WAIT && st->nargs == 3 && m->args[2].kind == V_NUM &&
	    (m->args[2].num < 1 || m->args[2].num > SC_MAX_EVENTS))
		return sd__sc_fail(c, s, "epoll_wait takes at most %d events at once (1..%d)",
				   SC_MAX_EVENTS, SC_MAX_EVENTS);
	for (int k = 0; st->call == C_SEND && m->args[1].kind == V_NULL && k < st->nargs; k++)
		if (m->args[k].kind == V_PACE || m->args[k].kind == V_HOLD)
			return sd__sc_fail(
				c, s,
				"null(N) sends nothing to pace: no pace= or hold_last= with it");
	if (st->call == C_CMSG && (m->args[1].kind != V_NUM || m->args[1].num != TCP_INQ))
		return sd__sc_fail(c, s, "cmsg takes TCP_CM_INQ: cmsg($S, TCP_CM_INQ)");
	/* a number names the same descriptor on neither backend: only a bad one (-1) is safe */
	if ((st->call == C_DUP2 || st->call == C_DUP3) && m->args[1].kind != V_VAR)
		return sd__sc_fail(
			c, s,
			"%s's second descriptor is a variable: %s(A, B) makes B name A's "
			"socket (numbers differ between backends)",
			name, name);
	if (st->call == C_ELAPSED && m->args[0].kind != V_VAR)
		return sd__sc_fail(c, s,
				   "elapsed takes the variable a now() step kept: elapsed($T)");
	if (st->call == C_IOCTL && m->args[1].kind != V_NUM)
		return sd__sc_fail(c, s,
				   "ioctl takes FIONREAD, SIOCINQ or SIOCOUTQ, not a variable");
	return 0;
}

int sd__sc_call_expr(struct cur *c, struct stmt *m)
{
	struct sc_step *st = &m->st;
	char name[32];
	const char *s = (sc_ws(c), c->p);
	size_t i;
	if (sd__sc_ident(c, name, sizeof name, "a call") < 0)
		return -1;
	for (i = 0; i < sizeof calls / sizeof calls[0]; i++)
		if (!strcmp(calls[i].name, name))
			break;
	if (i == sizeof calls / sizeof calls[0])
		return sd__sc_fail(c, s, "unknown call '%s'", name);
	st->call = (uint8_t)calls[i].call;
	c->sc->uses_reply_port |= st->call == C_REPLY_PORT;
	if (sd__sc_expect_char(c, '(') < 0)
		return -1;
	sc_ws(c);
	if (c->p < c->eol && *c->p == ')')
		c->p++;
	else if (call_args(c, m, i, name) < 0)
		return -1;
	if (st->nargs < calls[i].min)
		return sd__sc_fail(c, s, "%s needs at least %d arguments", name, calls[i].min);
	return call_checks(c, m, name, s);
}
