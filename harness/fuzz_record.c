/* sockdrill: a fuzz input's run written as a scenario (repro --scenario; docs/inproc.md). */
#include <stdlib.h>

#include "fuzz_internal.h"
#include "libc/proc.h"

FILE *sd__fz_record_start(const struct sd_fuzz_server *srv, const struct sd_fuzz_plan *plan,
			  const uint8_t *data, size_t size)
{
	(void)srv, (void)plan, (void)data, (void)size;
	const char *out = getenv("SOCKDRILL_SCENARIO_OUT");
	if (out && *out)
		sd__harness_error("SOCKDRILL_SCENARIO_OUT: not available yet");
	return NULL;
}

void sd__fz_record_finish(void) {}
