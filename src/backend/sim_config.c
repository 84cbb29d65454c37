/* sockdrill sim: the sim's options text ("segment=4,profile=6.1,...") read into the instance. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static int opt_num(const char *v, long lo, long hi, long *out)
{
	char *end;
	if (!v || !*v)
		return -EINVAL;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n < lo || n > hi)
		return -EINVAL;
	*out = n;
	return 0;
}

/* The profile an options text names ("profile=NAME" anywhere in it; none: the default), so
 * that the options given beside it override its values whatever their order. */
static int options_profile(const char *text, struct sd_sim_profile *out)
{
	const char *name = NULL;
	size_t nlen = 0;
	for (const char *p = text; p && *p;) {
		size_t n = strcspn(p, ",");
		if (n > 8 && !strncmp(p, "profile=", 8)) {
			if (name)
				return -EINVAL; /* two profiles: which one was meant? */
			name = p + 8, nlen = n - 8;
		}
		p += n + (p[n] == ',');
	}
	char buf[32];
	if (!name) {
		*out = *sd_sim_profile_at(0);
		return 0;
	}
	if (nlen >= sizeof buf)
		return -EINVAL;
	memcpy(buf, name, nlen);
	buf[nlen] = 0;
	if (!strcmp(buf, "host"))
		return sd_sim_profile_host(out, NULL, 0) < 0 ? -EINVAL : 0;
	const struct sd_sim_profile *p = sd_sim_profile_find(buf);
	if (!p)
		return -EINVAL;
	*out = *p;
	return 0;
}

/* Applies the options text to a sim being created: its profile first, then each option. 0 or
 * -EINVAL. */
int sd__sim_options(struct sd__sim *s, const char *text)
{
	char buf[512], *save = NULL;
	long n, m;
	struct sd_sim_profile *pf = &s->prof;
	if (options_profile(text, pf) < 0)
		return -EINVAL;
	if (!text || !*text)
		return 0;
	if (strlen(text) >= sizeof buf)
		return -EINVAL;
	strcpy(buf, text);
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = sd__kv_cut(kv);
		if (!strcmp(kv, "segment") && !opt_num(v, 0, 1 << 20, &n))
			s->segment = (int)n;
		else if (!strcmp(kv, "preempt") && v) {
			char *end;
			double p = strtod(v, &end);
			if (*end || !(p >= 0 && p <= 1))
				return -EINVAL;
			s->preempt = (unsigned)(p * 1024);
		} else if (!strcmp(kv, "profile") && v && *v)
			; /* applied first, by options_profile */
		else if (!strcmp(kv, "ports") && v && sscanf(v, "%ld-%ld", &n, &m) == 2 && n >= 1 &&
			 n <= m && m <= 65535)
			pf->port_lo = (int)n, pf->port_hi = (int)m;
		else if (!strcmp(kv, "somaxconn") && !opt_num(v, 0, 1 << 30, &n))
			pf->somaxconn = (int)n;
		else if (!strcmp(kv, "wmem_max") && !opt_num(v, 2304, 1 << 30, &n))
			pf->wmem_max = (int)n;
		else if (!strcmp(kv, "rmem_max") && !opt_num(v, 2304, 1 << 30, &n))
			pf->rmem_max = (int)n;
		else if (!strcmp(kv, "syn_retries") && !opt_num(v, 1, 127, &n))
			pf->syn_retries = (int)n;
		else if (!strcmp(kv, "syn_linear_timeouts") && !opt_num(v, 0, 127, &n))
			pf->syn_linear_timeouts = (int)n;
		else if (!strcmp(kv, "hz") && !opt_num(v, 24, 10000, &n))
			pf->hz = (int)n;
		else if (!strcmp(kv, "fin_timeout") && !opt_num(v, 1, 1 << 20, &n))
			pf->fin_timeout = (int)n;
		else if (!strcmp(kv, "tcp_rmem_max") && !opt_num(v, 1, 1 << 30, &n))
			pf->tcp_rmem_max = (int)n;
		else if (!strcmp(kv, "tcp_peek_off") && !opt_num(v, 0, 1, &n))
			pf->tcp_peek_off = (int)n;
		else if (!strcmp(kv, "tw_reuse") && !opt_num(v, 0, 2, &n))
			pf->tw_reuse = (int)n;
		else if (!strcmp(kv, "tw_reuse_delay") && !opt_num(v, 1, 60000, &n))
			pf->tw_reuse_delay = (int)n; /* the sysctl's own bounds, 1..60000 ms */
		else if (!strcmp(kv, "notsent_lowat") && !opt_num(v, 1, INT_MAX, &n))
			pf->notsent_lowat = (int)n;
		else if (!strcmp(kv, "nofile") && !opt_num(v, 1, 1 << 24, &n))
			s->nofile = (int)n;
		else if (!strcmp(kv, "fdbase") && !opt_num(v, 0, 1 << 20, &n))
			s->fdbase = (int)n;
		else if (!strcmp(kv, "stack") && !opt_num(v, 16, 1 << 20, &n))
			s->stack_kb = (size_t)n;
		else if (!strcmp(kv, "unprivileged") && !v)
			s->privileged = 0;
		else if (!strcmp(kv, "allow-nonloopback") && !v)
			s->allow_nonloopback = 1;
		else if (!strcmp(kv, "one-role") && !opt_num(v, 0, 1, &n))
			s->one_role = (int)n;
		else
			return -EINVAL;
	}
	return 0;
}
