/* sockdrill: the `trace` wrapper: one line per call, over any backend. */
#ifndef SOCKDRILL_TRACE_H
#define SOCKDRILL_TRACE_H

#include <stdint.h>
#include <stdio.h>

#include <sockdrill/ops.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Wraps `inner` (which must stay open as long as the wrapper) into *out: every call is
 * forwarded, then described by one line
 *
 *     SEC.NSEC ACTOR call(args) = result
 *
 * with the time of inner's clock after the call (virtual on the sim, CLOCK_MONOTONIC on real),
 * the actor that made it (sd_actor_name) and the result as sd_result_format writes it. A `note`
 * (what a wrapper above decided, such as a fault) is a line "SEC.NSEC ACTOR TEXT" of its own,
 * and goes on to inner too. The lines are written to f when f is not NULL, and hashed either
 * way (sd_trace_hash). Stack it right above the backend, under any fault wrapper, so that a
 * fault's note comes just before the line of the call it changes.
 *
 * now_ns, caps, join_until and actor_name are forwarded without a line; so is `wake` on a
 * negative descriptor (a wrapper's question whether inner can wake), and a sendmsg or recvmsg
 * refused before it reached a socket (no header, more than UIO_MAXIOV pieces; sendmsg to an
 * address the loopback policy refuses). Lines never interleave: calls from several threads
 * (real) take a lock for their line. Close with sd_net_close(out); inner is not closed.
 * 0, or -EINVAL (no inner, or a table below version 2), -ENOMEM.
 */
int sd_trace_wrap(struct sd_net *out, struct sd_net *inner, FILE *f);
/* FNV-1a (64-bit, starting from 0) of every line the wrapper wrote or would have written:
 * on a deterministic backend the same seed and calls give the same hash. 0 for a net that is
 * not a trace wrapper. */
uint64_t sd_trace_hash(struct sd_net *traced);
/* The net a trace wrapper forwards to, or NULL for a net that is not one: for calls only that
 * backend offers (the sim's API also accepts the wrapper itself). */
struct sd_net *sd_trace_unwrap(struct sd_net *traced);

/* ---- structured events: what a timeline (sockdrill run --html) is drawn from ------------- */

/* The bytes of one send or recv an event carries, at most. */
#define SD_TRACE_DATA_MAX 4096

/* One call as the wrapper saw it, or a note (call is "note", text its text). Only valid
 * during the sink's call: copy what is kept. */
struct sd_trace_event {
	const char *actor;         /* sd_actor_name of the caller */
	int64_t start_ns;          /* inner's clock before the call was forwarded */
	int64_t end_ns;            /* and after it returned: a blocking call is a span */
	const char *call;          /* "send", "accept", ..., "note" */
	const char *text;          /* the call as its trace line shows it, without time and actor */
	int fd;                    /* the descriptor it was on, -1 for none */
	long result;               /* >= 0, or a negative errno */
	int step;                  /* what sd_trace_set_step said when the call started (-1) */
	const unsigned char *data; /* send/recv: the bytes moved, the first SD_TRACE_DATA_MAX */
	size_t ndata;
	/* a connect that went through or is under way, an accept that gave a socket: the
	 * endpoints of the new connection's end ("a.b.c.d:port", "" when unknown), to pair the
	 * two ends of one connection */
	const char *local, *peer;
};

typedef void (*sd_trace_sink)(void *ctx, const struct sd_trace_event *ev);

/* Every call and note from now on also goes to fn(ctx, event), after its line, in the same
 * order (under the wrapper's lock: fn must not call through the net). NULL fn: none. The lines
 * and their hash do not change. 0, or -EINVAL for a net that is not a trace wrapper. */
int sd_trace_set_sink(struct sd_net *traced, sd_trace_sink fn, void *ctx);
/* The event as one JSON object, no newline: {"a": actor, "s": start_ns, "e": end_ns, "c": call,
 * "t": text, "fd", "r": result, "rs": its name ("" for a note), "st": step, "d": the bytes in
 * hex (only when there are some)}. '<', '>' and '&' are written as \u escapes, so the object
 * can sit in an HTML <script> block as it is. */
void sd_trace_event_json(FILE *f, const struct sd_trace_event *ev);
/* A sink (ctx: a FILE *) writing each event as a line of JSON (sd_trace_event_json). */
void sd_trace_json_lines(void *ctx, const struct sd_trace_event *ev);

/* The step the driver is at (a scenario step's index), carried by the events of calls that
 * start from now on. */
void sd_trace_set_step(struct sd_net *traced, int step);

extern const struct sd_ops sd_trace_ops;

#ifdef __cplusplus
}
#endif
#endif
