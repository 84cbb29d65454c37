/* sockdrill: the seeded fault decisions, and their log lines, for the wrapper and the preload.
 * Nothing here allocates or touches errno, so the preload can use it on any thread. */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <sockdrill/errors.h>
#include <sockdrill/fault.h>

#include "../util/util.h"

/* splitmix64 over (seed, connection, call, which decision). */
static uint64_t mix(uint64_t seed, uint64_t conn, uint64_t call, unsigned salt)
{
	return sd__mix(seed ^ (conn * SD__GOLDEN) ^ (call * 0xc2b2ae3d27d4eb4full) ^
		       ((uint64_t)salt << 48));
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
