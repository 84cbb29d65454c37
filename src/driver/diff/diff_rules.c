/* sockdrill diff: the documented differences as named rules (docs/sim-vs-linux.md's table). */
#include <stdio.h>

#include "diff_int.h"

/* One name per enum rule, as an uncompared outcome shows it and sim-vs-linux.md lists it. */
static const char *const rule_names[R_NRULES] = {
	"buffer autotuning",   "v4-mapped then IPv6", "port held outside",
	"outq unacknowledged", "held bytes",
};

const char *sd_diff_rule_name(int i) { return i >= 0 && i < R_NRULES ? rule_names[i] : NULL; }

void diff__not_compared(struct sd_diff_outcome *out, enum rule r)
{
	snprintf(out->text, sizeof out->text, "~ %s", rule_names[r]);
}
