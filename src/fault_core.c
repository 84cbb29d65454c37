/* sockdrill: fault specs and seeded decisions, shared by the wrapper and the preload library.
 * Nothing here allocates or touches errno, so the preload can use it on any thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		char *v = strchr(kv, '=');
		int bad = 0;
		if (v)
			*v++ = 0;
		if (!strcmp(kv, "short-read"))
			bad = parse_uint(v, 1, 1, 1u << 30, &spec->short_read);
		else if (!strcmp(kv, "short-write"))
			bad = parse_uint(v, 1, 1, 1u << 30, &spec->short_write);
		else if (!strcmp(kv, "eintr"))
			bad = parse_prob(v, &spec->eintr);
		else if (!strcmp(kv, "eagain"))
			bad = parse_prob(v, &spec->eagain);
		else if (!strcmp(kv, "reset"))
			bad = parse_prob(v, &spec->reset);
		else if (!strcmp(kv, "accept-fail"))
			bad = parse_prob(v, &spec->accept_fail);
		else if (!strcmp(kv, "connect-fail"))
			bad = parse_prob(v, &spec->connect_fail);
		else if (!strcmp(kv, "delay"))
			bad = parse_uint(v, 10, 0, 60000, &spec->delay_ms);
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
				 "eagain, reset, accept-fail, connect-fail, delay, scope, "
				 "level-triggered)",
				 kv);
			return -EINVAL;
		}
		if (bad) {
			snprintf(err, errlen, "faults: bad value '%s' for %s (%s)", v ? v : "", kv,
				 !strncmp(kv, "short", 5) ? "a byte count from 1"
				 : !strcmp(kv, "delay")   ? "milliseconds, 0..60000"
							  : "a probability from 0 to 1");
			return -EINVAL;
		}
	}
	return 0;
}

int sd_fault_active(const struct sd_fault_spec *s)
{
	return s->short_read || s->short_write || s->eintr > 0 || s->eagain > 0 || s->reset > 0 ||
	       s->accept_fail > 0 || s->connect_fail > 0 || s->delay_ms;
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

void sd_fault_decide(const struct sd_fault_spec *s, uint64_t seed, uint64_t conn, uint64_t call,
		     enum sd_fault_op op, enum sd_fault_wait wait, size_t len,
		     struct sd_fault_decision *d)
{
	int blocking = wait == SD_WAIT_BLOCKING, no_edge = wait == SD_WAIT_NONBLOCKING_NO_EDGE;
	memset(d, 0, sizeof *d);
	d->len = len;
	if (!in_scope(s, conn))
		return;
	d->delay_ms = s->delay_ms;
	if (s->delay_ms)
		d->fault = "delay";
	if (op == SD_OP_ACCEPT && chance(s->accept_fail, seed, conn, call, 1)) {
		static const int errs[] = {EMFILE, ECONNABORTED, ENFILE};
		d->fault = "accept-fail";
		d->err = errs[mix(seed, conn, call, 2) % 3];
		return;
	}
	if (op == SD_OP_CONNECT && chance(s->connect_fail, seed, conn, call, 3)) {
		d->fault = "connect-fail";
		d->err = mix(seed, conn, call, 4) & 1 ? ETIMEDOUT : ECONNREFUSED;
		return;
	}
	if (blocking && chance(s->eintr, seed, conn, call, 5)) {
		d->fault = "eintr";
		d->err = EINTR;
		return;
	}
	if (!blocking && !no_edge && op != SD_OP_CONNECT &&
	    chance(s->eagain, seed, conn, call, 6)) {
		d->fault = "eagain";
		d->err = EAGAIN;
		return;
	}
	if ((op == SD_OP_READ || op == SD_OP_WRITE) && chance(s->reset, seed, conn, call, 7)) {
		d->fault = "reset";
		d->reset = 1;
		d->err = ECONNRESET;
		return;
	}
	unsigned piece = op == SD_OP_READ ? s->short_read : op == SD_OP_WRITE ? s->short_write : 0;
	if (piece && len > 1 && !no_edge) {
		size_t n = 1 + (size_t)(mix(seed, conn, call, 8) % piece);
		if (n < len) {
			d->len = n;
			d->fault = op == SD_OP_READ ? "short-read" : "short-write";
		}
	}
}

/* The errno names the decisions inject, for the log and the trace. */
static const char *err_name(int e)
{
	static const struct {
		int e;
		const char *name;
	} names[] = {{EINTR, "EINTR"},
		     {EAGAIN, "EAGAIN"},
		     {ECONNRESET, "ECONNRESET"},
		     {EMFILE, "EMFILE"},
		     {ENFILE, "ENFILE"},
		     {ECONNABORTED, "ECONNABORTED"},
		     {ECONNREFUSED, "ECONNREFUSED"},
		     {ETIMEDOUT, "ETIMEDOUT"}};
	for (size_t i = 0; e && i < sizeof names / sizeof names[0]; i++)
		if (names[i].e == e)
			return names[i].name;
	return NULL;
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
			 (long long)(t_ns / 1000000000), (long long)(t_ns % 1000000000), who,
			 owner, CONN_ROLE(conn), CONN_NUM(conn), (unsigned long long)call, op,
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
	if (d->delay_ms)
		snprintf(delay, sizeof delay, "%s%u ms",
			 d->fault && strcmp(d->fault, "delay") ? ", after " : " ", d->delay_ms);
	int n = snprintf(buf, size, "fault %c%llu call %llu %s(%d): %s%s%s", CONN_ROLE(conn),
			 CONN_NUM(conn), (unsigned long long)call, op, fd,
			 d->fault ? d->fault : "none", what, delay);
	return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}
