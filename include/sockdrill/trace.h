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

extern const struct sd_ops sd_trace_ops;

#ifdef __cplusplus
}
#endif
#endif
