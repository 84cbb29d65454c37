/* Fuzz target: the scenario language front end. Any bytes must give a scenario or one
 * "file:line:col: message" error, never a crash, a leak or an overrun. */
#include <string.h>

#include <sockdrill/scenario.h>

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_scenario *sc = NULL;
	char err[512];
	/* half the inputs parse as for a server sockdrill starts ('set server-faults' allowed) */
	struct sd_sc_options opt = {.server_started = (int)(size & 1)};
	int rc = sd_scenario_parse_opt("input.sd", (const char *)data, size, &opt, &sc, err,
				       sizeof err);
	if (rc == 0) {
		if (!sc || sd_scenario_steps(sc) <= 0)
			FINDING("parse succeeded without steps");
		sd_scenario_free(sc);
	} else if (sc || strncmp(err, "input.sd:", 9) != 0 || strchr(err, '\n')) {
		FINDING("malformed error report: %s", err);
	}
	return 0;
}
