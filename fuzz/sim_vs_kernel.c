/* Fuzz target: the same decoded op sequence on the sim and on the kernel over loopback; a
 * divergence that is not a documented difference (docs/sim-vs-linux.md) and survives a
 * fresh kernel run aborts with the side-by-side report. */
#include <stdio.h>
#include <stdlib.h>

#include <sockdrill/diff.h>
#include <sockdrill/sockdrill.h>

#include "fuzz_input.h"

static void run(const char *backend, const struct sd_diff_prog *p, struct sd_diff_result *r)
{
	struct sd_net net, traced, *on = &net;
	const char *tr = getenv("SOCKDRILL_TRACE");
	/* the sim models this host's kernel variant (sd_diff_open) */
	if (sd_diff_open(&net, backend, 1) < 0)
		FINDING("cannot run on %s", backend);
	/* sockdrill repro sets it: each side's calls on stderr, the kernel's too */
	if (tr && *tr && *tr != '0') {
		fprintf(stderr, "# %s\n", backend);
		if (sd_trace_wrap(&traced, &net, stderr) == 0)
			on = &traced;
	}
	if (sd_diff_run(on, p, r) < 0)
		FINDING("cannot run on %s", backend);
	if (on == &traced)
		sd_net_close(&traced);
	sd_net_close(&net);
}

static int agree(const struct sd_diff_result *a, const struct sd_diff_result *b)
{
	return sd_diff_first_mismatch(a, b) < 0 && !a->stream_errors && !b->stream_errors;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_diff_prog p;
	struct sd_diff_result real, sim;
	sd_diff_decode(data, size, 30, &p);
	if (!p.n)
		return 0;
	run("sim", &p, &sim);
	for (int attempt = 0; attempt < 3; attempt++) {
		run("real", &p, &real);
		if (agree(&real, &sim))
			return 0; /* a first miss can be the shared kernel's TIME_WAIT state */
	}
	sd_diff_report(stderr, &p, "real", &real, "sim", &sim, sd_diff_first_mismatch(&real, &sim));
	FINDING("sim and kernel differ (step %d)", sd_diff_first_mismatch(&real, &sim));
}
