/* sockdrill: a fuzz input's run written as a scenario (repro --scenario; docs/inproc.md). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fopencookie; built into a user's project, which may not define it */
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sockdrill/errors.h>
#include <sockdrill/fault.h>
#include <sockdrill/scenario.h>

#include "../../util/util.h"
#include "fuzz_internal.h"
#include "../../interpose/proc.h"

/* Room kept below the parser's bound for the lines written at the end and the header lines
 * `sockdrill repro` adds: the file stays one that sockdrill run reads. */
#define RESERVE   (32u << 10)
#define MERGE_MAX 65536 /* bytes of one receive step, at most */
#define RECV_ANY  65536 /* what a receive that ended the stream or failed asks for */

static struct {
	FILE *out; /* the scenario being written, NULL when not recording */
	const struct sd_fuzz_server *srv;
	size_t written; /* bytes in out */
	int cut;        /* the size bound was reached: nothing more is written */
	char *line;     /* the line being made */
	size_t len, cap;
	int oom;
	int rconn; /* receives of connection rconn not written yet (-1: none) */
	unsigned char *rbuf;
	size_t rlen, rcap;
	int lastport[SD_FUZZ_MAX_CONNS];          /* the port a reply of each named, last written */
	unsigned char waiting[SD_FUZZ_MAX_CONNS]; /* a blocking receive has not returned */
	char fkey[128]; /* the last fault annotation written, and like ones since */
	long frepeat;
	char fpart[512]; /* a fault line coming in from the wrapper */
	size_t fpartlen;
} W = {.rconn = -1};

static FILE *fault_stream; /* made once: the fault wrapper may log after a run ends */

/* ---- lines ---------------------------------------------------------------------------- */

static void add(const char *p, size_t n)
{
	if (W.len + n + 1 > W.cap) {
		size_t cap = W.cap ? W.cap : 256;
		while (cap < W.len + n + 1)
			cap *= 2;
		char *g = realloc(W.line, cap);
		if (!g) {
			W.oom = 1;
			return;
		}
		W.line = g, W.cap = cap;
	}
	memcpy(W.line + W.len, p, n);
	W.len += n;
	W.line[W.len] = 0;
}

static void addf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void addf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	add(buf, n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Bytes as the language's string literal: printable ASCII as it is, the rest escaped (a
 * backslash as \x5c, so no quote ever follows one; a '$' before '{' as \x24, since "${" names
 * a variable). */
static void add_string(const unsigned char *p, size_t n)
{
	add("\"", 1);
	for (size_t i = 0, done; i < n; i += done) {
		char e[256];
		add(e, sd__escape(e, sizeof e, p + i, n - i,
				  SD__ESC_NL | SD__ESC_CR | SD__ESC_TAB | SD__ESC_QUOTE |
					  SD__ESC_DOLLAR_HEX,
				  &done));
	}
	add("\"", 1);
}

static void add_result(ssize_t r)
{
	const char *name = r < 0 ? sd_errname((int)-r) : NULL;
	if (name)
		addf(" -> %s", name);
	else
		addf(" -> %lld", (long long)r);
}

/* Writes the line made so far (and a newline), unless that would take the file past the
 * bound: then one comment says it was cut and nothing more is written. Flushed at once: a
 * crash may end the process at any call. */
static void put_line(void)
{
	size_t bound = SD_SC_MAX_BYTES - RESERVE;
	if (W.out && !W.cut && !W.oom && W.written + W.len + 1 > bound) {
		static const char cut[] = "# cut here: the scenario reached its size bound (1 MiB "
					  "less room for its last lines); the rest of the run is "
					  "not written\n";
		fputs(cut, W.out);
		W.written += sizeof cut - 1;
		W.cut = 1;
		fprintf(stderr, "sockdrill: SOCKDRILL_SCENARIO_OUT: the run is longer than a "
				"scenario file holds (1 MiB): its scenario was cut\n");
	}
	if (W.out && !W.cut && !W.oom) {
		fwrite(W.line, 1, W.len, W.out);
		fputc('\n', W.out);
		fflush(W.out);
		W.written += W.len + 1;
	}
	W.len = 0;
	W.oom = 0;
}

/* "like ones since": fault annotations held back once they repeat */
static void flush_repeats(void)
{
	if (W.frepeat) {
		addf("#   ... and %ld more like it", W.frepeat);
		put_line();
	}
	W.frepeat = 0;
	W.fkey[0] = 0;
}

/* ---- the steps -------------------------------------------------------------------------- */

static void actor(const struct sd_fuzz_conn *k) { addf("client%d: ", k->client); }

/* The receives held for one step: "recv(C, N, MSG_WAITALL)" takes exactly the bytes that
 * came, however the replay cuts them; then, if the reply now names a port, it is read. */
static void flush_recv(void)
{
	if (W.rconn < 0)
		return;
	const struct sd_fuzz_conn *k = &sd__fz_conns[W.rconn];
	flush_repeats();
	actor(k);
	addf("recv(C%d, %zu, MSG_WAITALL) -> ", k->id, W.rlen);
	add_string(W.rbuf, W.rlen);
	put_line();
	W.rconn = -1, W.rlen = 0;
	int port = sd_fuzz_reply_port((struct sd_fuzz_conn *)k);
	if (port && port != W.lastport[k->id]) {
		actor(k);
		addf("P%d = reply_port(C%d)       # %d here", k->id, k->id, port);
		put_line();
		W.lastport[k->id] = port;
	}
}

static void hold_recv(const struct sd_fuzz_conn *k, const unsigned char *p, size_t n)
{
	if (W.rconn != k->id || W.rlen + n > MERGE_MAX)
		flush_recv();
	if (W.rlen + n > W.rcap) {
		size_t cap = W.rcap ? W.rcap : 4096;
		while (cap < W.rlen + n)
			cap *= 2;
		unsigned char *g = realloc(W.rbuf, cap);
		if (!g) { /* no room to hold them: this receive is a step of its own */
			flush_recv();
			actor(k);
			addf("recv(C%d, %zu, MSG_WAITALL) -> ", k->id, n);
			add_string(p, n);
			put_line();
			return;
		}
		W.rbuf = g, W.rcap = cap;
	}
	memcpy(W.rbuf + W.rlen, p, n);
	W.rlen += n;
	W.rconn = k->id;
}

/* Where connection k connects: the server's port, or a variable read from the reply of the
 * connection that named this port last. */
static void add_target(const struct sd_fuzz_conn *k)
{
	if (k->port == W.srv->port) {
		add("127.0.0.1:$TARGET_PORT", 22);
		return;
	}
	for (int j = sd__fz_nconns - 1; j >= 0; j--)
		if (j != k->id && W.lastport[j] == k->port) {
			addf("127.0.0.1:$P%d", j);
			return;
		}
	addf("127.0.0.1:%d", k->port); /* a port no reply named (a custom client's choice) */
}

static void on_event(const struct sd__fz_event *e)
{
	const struct sd_fuzz_conn *k = e->k;
	if (e->ev == SD_EV_RECV_BEGIN) {
		W.waiting[k->id] = 1;
		return;
	}
	if (e->ev == SD_EV_RECV && e->result > 0) {
		W.waiting[k->id] = 0;
		hold_recv(k, e->bytes, (size_t)e->result);
		return;
	}
	flush_recv();
	flush_repeats();
	actor(k);
	switch (e->ev) {
	case SD_EV_SOCKET:
		if (e->result >= 0)
			addf("C%d = ", k->id);
		add("socket(inet)", 12);
		if (e->result >= 0)
			add(" -> fd", 6);
		else
			add_result(e->result);
		break;
	case SD_EV_CONNECT:
		addf("connect(C%d, ", k->id);
		add_target(k);
		add(")", 1);
		add_result(e->result);
		break;
	case SD_EV_SEND:
		/* what the call took; a failed one is written with the first byte it offered */
		addf("send(C%d, ", k->id);
		add_string(e->bytes, e->result > 0 ? (size_t)e->result : 1);
		add(")", 1);
		add_result(e->result);
		break;
	case SD_EV_RECV:
		W.waiting[k->id] = 0;
		addf("recv(C%d, %d)", k->id, RECV_ANY);
		add_result(e->result);
		break;
	case SD_EV_SHUTDOWN:
		addf("shutdown(C%d, SHUT_WR)", k->id);
		add_result(e->result);
		break;
	case SD_EV_LINGER0:
		addf("setsockopt(C%d, SO_LINGER, 0)", k->id);
		add_result(e->result);
		break;
	case SD_EV_CLOSE: addf("close(C%d) -> 0", k->id); break;
	case SD_EV_SLEEP: addf("sleep(%lld)", (long long)e->ms); break;
	case SD_EV_RECV_BEGIN: break;
	}
	put_line();
}

/* ---- the server's faults, from the fault wrapper's JSON lines ----------------------------- */

/* One logged fault as an annotation: "# server fault: a1 call 3 recv: short-read, 1 of 512
 * bytes (t=0.004 s)". Repeats of one kind on one connection are counted, not written. A
 * client's receives held for one step stay held: the faults that cut a reply stand above
 * the step that takes it. */
static void on_fault_line(const char *json)
{
	char t[32], conn[24], op[24], fault[32], err[24] = "", key[128];
	unsigned long long call;
	size_t bytes, asked;
	if (!W.out)
		return;
	if (sscanf(json,
		   "{\"t\":%31[0-9.],\"conn\":\"%23[^\"]\",\"call\":%llu,\"op\":\"%23[^\"]\","
		   "\"fault\":\"%31[^\"]\",\"bytes\":%zu,\"asked\":%zu,\"errno\":\"%23[^\"]\"",
		   t, conn, &call, op, fault, &bytes, &asked, err) < 7) {
		flush_repeats();
		addf("# server fault: %.400s", json);
		put_line();
		return;
	}
	snprintf(key, sizeof key, "%s %s %s %s", conn, op, fault, err);
	if (!strcmp(key, W.fkey)) {
		W.frepeat++;
		return;
	}
	flush_repeats();
	addf("# server fault: %s call %llu %s: %s", conn, call, op, fault);
	if (err[0])
		addf(", %s", err);
	else if (!strncmp(fault, "short-", 6))
		addf(", %zu of %zu bytes", bytes, asked);
	addf(" (t=%s s)", t);
	put_line();
	snprintf(W.fkey, sizeof W.fkey, "%s", key);
}

/* The stream the fault wrapper logs to: whole lines become annotations. */
static ssize_t fault_write(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (W.fpartlen < sizeof W.fpart - 1)
				W.fpart[W.fpartlen++] = buf[i];
			continue;
		}
		W.fpart[W.fpartlen] = 0;
		on_fault_line(W.fpart);
		W.fpartlen = 0;
	}
	return (ssize_t)n;
}

/* ---- start and end ---------------------------------------------------------------------- */

FILE *sd__fz_record_start(const struct sd_fuzz_server *srv, const struct sd_fuzz_plan *plan,
			  const uint8_t *data, size_t size)
{
	(void)data;
	const char *path = getenv("SOCKDRILL_SCENARIO_OUT");
	if (!path || !*path)
		return NULL;
	if (W.out)
		fclose(W.out); /* an earlier input that ended without its finish (cannot happen) */
	W.out = fopen(path, "we");
	if (!W.out)
		sd__harness_error("SOCKDRILL_SCENARIO_OUT: %s: %s", path, strerror(errno));
	if (!fault_stream &&
	    !(fault_stream = fopencookie(NULL, "w", (cookie_io_functions_t){.write = fault_write})))
		sd__harness_error("SOCKDRILL_SCENARIO_OUT: %s", strerror(errno));
	setvbuf(fault_stream, NULL, _IOLBF, 0);
	W.srv = srv;
	W.written = 0, W.cut = 0, W.len = 0, W.rconn = -1, W.rlen = 0, W.fpartlen = 0;
	W.fkey[0] = 0, W.frepeat = 0;
	memset(W.lastport, 0, sizeof W.lastport);
	memset(W.waiting, 0, sizeof W.waiting);
	struct sd_fault_spec spec;
	char faults[256]; /* eight kinds, each aimed: 228 bytes at most, as the scenario takes */
	sd__fz_fault_spec(plan, &spec);
	if (sd_fault_spec_text(&spec, faults, sizeof faults) >= sizeof faults)
		sd__harness_error("SOCKDRILL_SCENARIO_OUT: the input's faults do not fit in %zu "
				  "bytes",
				  sizeof faults);
	const char *target = getenv("SOCKDRILL_SCENARIO_TARGET");
	const char *input = getenv("SOCKDRILL_SCENARIO_INPUT");
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	if (!target || !*target)
		target = exe;
	addf("# sockdrill: the run of one fuzz input, written as a scenario (docs/inproc.md)");
	put_line();
	addf("# target: %.400s", target);
	put_line();
	addf("# input: %.400s%s%zu bytes; seed %llu, segment %u, faults on the server's calls: "
	     "%s",
	     input && *input ? input : "", input && *input ? ", " : "", size,
	     (unsigned long long)plan->seed, plan->segment, faults[0] ? faults : "none");
	put_line();
	addf("# finding: not recorded (see the target's output)");
	put_line();
	addf("# replay in-process on the sim: ./sockdrill run --inproc %.400s %.400s", target,
	     path);
	put_line();
	addf("# replay on the kernel: ./sockdrill wrap --run %.400s -- NATIVE_SERVER ARGS "
	     "(with {port} where it listens)",
	     path);
	put_line();
	addf("# The clients' calls in the order they returned; a receive waits for exactly the "
	     "bytes that came.");
	put_line();
	addf("set seed %llu", (unsigned long long)plan->seed);
	put_line();
	addf("set segment %u", plan->segment);
	put_line();
	if (faults[0]) {
		addf("set server-faults \"%s\"", faults);
		put_line();
		addf("set server-seed %llu", (unsigned long long)plan->seed);
		put_line();
	}
	sd__fz_record = on_event;
	return fault_stream;
}

/* Receives still waiting when the run ended, as calls started and still blocked. */
static void write_waiting(void)
{
	for (int i = 0; i < sd__fz_nconns; i++) {
		const struct sd_fuzz_conn *k = &sd__fz_conns[i];
		if (!W.waiting[i])
			continue;
		actor(k);
		addf("start R%d = recv(C%d, %d)", i, i, RECV_ANY);
		put_line();
		actor(k);
		addf("blocked R%d", i);
		put_line();
		W.waiting[i] = 0;
	}
}

void sd__fz_record_blocked(void)
{
	if (!W.out)
		return;
	flush_recv();
	flush_repeats();
	addf("# here the clients and the server were all blocked:");
	put_line();
	write_waiting();
}

void sd__fz_record_finish(void)
{
	if (!W.out)
		return;
	fflush(fault_stream);
	flush_recv();
	flush_repeats();
	write_waiting();
	addf("# the run ended here, with no finding");
	put_line();
	sd__fz_record = NULL;
	int bad = ferror(W.out);
	if (fclose(W.out) != 0 || bad)
		sd__harness_error("SOCKDRILL_SCENARIO_OUT: cannot write: %s", strerror(errno));
	W.out = NULL;
}
