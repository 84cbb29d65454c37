/* sockdrill sim: its options, typed (struct sd_sim_config), from the options text
 * ("segment=4,profile=6.1,...") parsed once, and applied to an instance being created. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/sim.h>

#include "../util/util.h"
#include "sim_internal.h"

#define CFG(f) offsetof(struct sd_sim_config, f)
#define PRO(f) (offsetof(struct sd_sim_config, profile) + offsetof(struct sd_sim_profile, f))

/* The options that take one int, where struct sd_sim_config keeps it and its range; those of
 * the instance (before the profile) are checked again in a config given typed. */
static const struct num_opt {
	const char *name;
	size_t off;
	long lo, hi;
} nums[] = {
	{"segment", CFG(segment), 0, 1 << 20},
	{"nofile", CFG(nofile), 1, 1 << 24},
	{"fdbase", CFG(fdbase), 0, 1 << 20},
	{"stack", CFG(stack_kb), 16, 1 << 20},
	{"one-role", CFG(one_role), 0, 1},
	{"somaxconn", PRO(somaxconn), 0, 1 << 30},
	{"wmem_max", PRO(wmem_max), 2304, 1 << 30},
	{"rmem_max", PRO(rmem_max), 2304, 1 << 30},
	{"syn_retries", PRO(syn_retries), 1, 127},
	{"syn_linear_timeouts", PRO(syn_linear_timeouts), 0, 127},
	{"hz", PRO(hz), 24, 10000},
	{"fin_timeout", PRO(fin_timeout), 1, 1 << 20},
	{"tcp_rmem_max", PRO(tcp_rmem_max), 1, 1 << 30},
	{"tcp_peek_off", PRO(tcp_peek_off), 0, 1},
	{"tw_reuse", PRO(tw_reuse), 0, 2},
	{"tw_reuse_delay", PRO(tw_reuse_delay), 1, 60000}, /* the sysctl's own bounds, ms */
	{"notsent_lowat", PRO(notsent_lowat), 1, INT_MAX},
};
#define NNUMS (sizeof nums / sizeof nums[0])

static int *num_field(struct sd_sim_config *cfg, const struct num_opt *o)
{
	return (int *)(void *)((char *)cfg + o->off);
}

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

void sd_sim_config_init(struct sd_sim_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->preempt = 0.25;
	cfg->nofile = 1024;
	cfg->fdbase = 3; /* as in a process with stdio open */
	cfg->stack_kb = 256;
	cfg->profile = *sd_sim_profile_at(0);
}

/* -EINVAL, with why in err when there is room for one. */
__attribute__((format(printf, 3, 4))) static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The profile an options text names ("profile=NAME" anywhere in it; none: the default) into
 * cfg->profile, so that the options given beside it override its values whatever their
 * order. */
static int options_profile(const char *text, struct sd_sim_config *cfg, char *err, size_t errlen)
{
	const char *name = NULL;
	size_t nlen = 0;
	for (const char *p = text; p && *p;) {
		size_t n = strcspn(p, ",");
		if (n > 8 && !strncmp(p, "profile=", 8)) {
			if (name)
				return bad(err, errlen, "sim options name two profiles");
			name = p + 8, nlen = n - 8;
		}
		p += n + (p[n] == ',');
	}
	char buf[32], why[200];
	if (!name)
		return 0;
	if (nlen >= sizeof buf)
		return bad(err, errlen, "sim option profile=: a name of at most %zu characters",
			   sizeof buf - 1);
	memcpy(buf, name, nlen);
	buf[nlen] = 0;
	if (!strcmp(buf, "host")) {
		if (sd_sim_profile_host(&cfg->profile, why, sizeof why) < 0)
			return bad(err, errlen, "sim option profile=host: %s", why);
		return 0;
	}
	const struct sd_sim_profile *p = sd_sim_profile_find(buf);
	if (!p)
		return bad(err, errlen, "unknown profile '%s' (see 'sockdrill list')", buf);
	cfg->profile = *p;
	return 0;
}

/* One key=value (v NULL: no '=') of the text into cfg: 0, or -EINVAL with why in err. */
static int option(struct sd_sim_config *cfg, const char *kv, const char *v, char *err,
		  size_t errlen)
{
	long n, m;
	int *flag = !strcmp(kv, "unprivileged")        ? &cfg->unprivileged
		    : !strcmp(kv, "allow-nonloopback") ? &cfg->allow_nonloopback
						       : NULL;
	for (size_t i = 0; i < NNUMS; i++)
		if (!strcmp(kv, nums[i].name)) {
			if (opt_num(v, nums[i].lo, nums[i].hi, &n) < 0) {
				if (errlen)
					snprintf(err, errlen,
						 "sim option %s takes %ld..%ld, not '%.40s'", kv,
						 nums[i].lo, nums[i].hi, v ? v : "");
				return -EINVAL;
			}
			*num_field(cfg, &nums[i]) = (int)n;
			return 0;
		}
	if (!strcmp(kv, "preempt")) {
		char *end = NULL;
		double p = v ? strtod(v, &end) : -1;
		if (!v || *end || !(p >= 0 && p <= 1))
			return bad(err, errlen,
				   "sim option preempt takes a number from 0 to 1, not '%.40s'",
				   v ? v : "");
		cfg->preempt = p;
	} else if (!strcmp(kv, "profile")) {
		if (!v || !*v) /* a name: applied first, by options_profile */
			return bad(err, errlen, "sim option profile takes a name");
	} else if (!strcmp(kv, "ports")) {
		if (!v || sscanf(v, "%ld-%ld", &n, &m) != 2 || n < 1 || n > m || m > 65535)
			return bad(
				err, errlen,
				"sim option ports takes LO-HI, 1 <= LO <= HI <= 65535, not '%.40s'",
				v ? v : "");
		cfg->profile.port_lo = (int)n, cfg->profile.port_hi = (int)m;
	} else if (flag) {
		if (v)
			return bad(err, errlen, "sim option %s takes no value", kv);
		*flag = 1;
	} else {
		return bad(err, errlen, "unknown sim option '%.40s'", kv);
	}
	return 0;
}

int sd_sim_config_parse(const char *text, struct sd_sim_config *cfg, char *err, size_t errlen)
{
	char buf[512], *save = NULL;
	sd_sim_config_init(cfg);
	if (errlen)
		err[0] = 0;
	if (options_profile(text, cfg, err, errlen) < 0)
		return -EINVAL;
	if (!text || !*text)
		return 0;
	if (strlen(text) >= sizeof buf)
		return bad(err, errlen, "sim options longer than %zu bytes", sizeof buf - 1);
	strcpy(buf, text);
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		if (option(cfg, kv, sd__kv_cut(kv), err, errlen) < 0)
			return -EINVAL;
	}
	return 0;
}

/* A config given typed: the instance's fields in the ranges the text allows. */
static int config_check(const struct sd_sim_config *cfg)
{
	for (size_t i = 0; i < NNUMS && nums[i].off < CFG(profile); i++) {
		int v = *num_field((struct sd_sim_config *)cfg, &nums[i]);
		if (v < nums[i].lo || v > nums[i].hi)
			return -EINVAL;
	}
	if (!(cfg->preempt >= 0 && cfg->preempt <= 1) || cfg->profile.hz < 1 ||
	    cfg->profile.port_lo < 1 || cfg->profile.port_lo > cfg->profile.port_hi ||
	    cfg->profile.port_hi > 65535)
		return -EINVAL;
	return 0;
}

int sd__sim_configure(struct sd__sim *s, const struct sd_config *cfg)
{
	struct sd_sim_config parsed;
	const struct sd_sim_config *c = cfg->sim;
	if (!c && sd_sim_config_parse(cfg->options, &parsed, NULL, 0) < 0)
		return -EINVAL;
	if (!c)
		c = &parsed;
	else if (config_check(c) < 0)
		return -EINVAL;
	s->segment = c->segment;
	s->preempt = (unsigned)(c->preempt * 1024);
	s->nofile = c->nofile, s->fdbase = c->fdbase;
	s->stack_kb = (size_t)c->stack_kb;
	s->one_role = c->one_role;
	s->privileged = !c->unprivileged;
	s->allow_nonloopback = (cfg->flags & SD_CFG_ALLOW_NONLOOPBACK) || c->allow_nonloopback;
	s->prof = c->profile;
	return 0;
}
