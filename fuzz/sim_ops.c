/* Fuzz target: op sequences decoded from the input, run on the sim. Checks: no crash; every
 * byte delivered once and in order; no descriptor left open; the same input twice gives the
 * same trace, byte for byte. */
#include <sockdrill/diff.h>
#include <sockdrill/sockdrill.h>

#include "fuzz_input.h"

static uint64_t run(const struct sd_diff_prog *p, uint64_t seed, struct sd_diff_result *r)
{
	struct sd_net net, traced;
	struct sd_sim_config sim;
	struct sd_config cfg = {.seed = seed, .sim = &sim};
	struct sd_sim_stats st;
	sd_sim_config_init(&sim);
	sim.preempt = 0;
	if (sd_net_open(&net, "sim", &cfg) < 0)
		FINDING("cannot open sim");
	if (sd_trace_wrap(&traced, &net, NULL) < 0) /* hashed only */
		FINDING("cannot trace the sim");
	if (sd_diff_run(&traced, p, r) < 0)
		FINDING("program could not run");
	sd_sim_stats(&net, &st);
	if (st.open_fds != 0)
		FINDING("%d descriptors left open after the program closed everything",
			st.open_fds);
	uint64_t h = sd_trace_hash(&traced);
	sd_net_close(&traced);
	sd_net_close(&net);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin in = {data, size};
	uint64_t seed = fin_u8(&in);
	struct sd_diff_prog p;
	struct sd_diff_result a, b;
	sd_diff_decode(in.p, in.n, SD_DIFF_MAX_OPS, &p);
	uint64_t h1 = run(&p, seed, &a), h2 = run(&p, seed, &b);
	if (a.stream_errors)
		FINDING("%d bytes received were not the bytes sent, in order", a.stream_errors);
	if (h1 != h2 || sd_diff_first_mismatch(&a, &b) >= 0)
		FINDING("the same input gave two different traces");
	return 0;
}
