/* sockdrill sim: kernel profiles, the tunables a sim takes from a named kernel or the host. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/real.h>
#include <sockdrill/sim.h>

/*
 * Each value is the kernel's own default, from its source (the file named) or, for 6.18, read
 * in a fresh network namespace of 6.18.44, where the per-namespace sysctls start at the
 * kernel's defaults. HZ is a build option: both take Kconfig.hz's default, 250 (Debian's
 * kernels too). The first entry is the plain sim's default (docs/sim-vs-linux.md).
 */
static const struct sd_sim_profile profiles[] = {
	{
		.name = "linux-6.18",
		.source = "Linux 6.18.44, a fresh netns: tcp_syn_linear_timeouts=4 (6.1 has none), "
			  "tcp_rto_max_ms, core rmem_max/wmem_max 4194304; HZ 250",
		.syn_retries = 6,
		.syn_linear_timeouts = 4,
		.rto_max_ms = 120000,
		.hz = 250,
		.port_lo = 32768,
		.port_hi = 60999,
		.somaxconn = 4096,
		.wmem_max = 4194304,
		.rmem_max = 4194304,
		.wmem_def = 16384,
		.rmem_def = 131072,
		.fin_timeout = 60,
		.tcp_rmem_max = 33554432, /* measured: 32 MB (tcp_init) */
		.tcp_peek_off = 1,        /* inet_stream_ops.set_peek_off, since 6.10 */
		.tw_reuse = 2,
		.tw_reuse_delay = 1000,
	},
	{
		.name = "linux-6.1",
		.source = "Linux 6.1 source: TCP_SYN_RETRIES, TCP_RTO_MAX, SOMAXCONN (tcp.h, "
			  "socket.h), SK_WMEM_MAX/SK_RMEM_MAX (sock.c), tcp_init, tcp_sk_init, "
			  "af_inet.c; HZ 250",
		.syn_retries = 6,
		.syn_linear_timeouts = 0,
		.rto_max_ms = 120000,
		.hz = 250,
		.port_lo = 32768,
		.port_hi = 60999,
		.somaxconn = 4096,
		.wmem_max = 212992,
		.rmem_max = 212992,
		.wmem_def = 16384,
		.rmem_def = 131072,
		.fin_timeout = 60,
		.tcp_rmem_max = 6291456, /* tcp_init: 6 MB */
		.tcp_peek_off = 0,       /* no set_peek_off for TCP before 6.10: EOPNOTSUPP */
		.tw_reuse = 2,           /* tcp_sk_init */
		/* No tcp_tw_reuse_delay (6.14): reuse once ktime_get_seconds() passes the second
		 * of the last timestamp, 0 to 1 s; the sim takes the longest, 1 s. */
		.tw_reuse_delay = 1000,
	},
};

#define NPROFILES (int)(sizeof profiles / sizeof profiles[0])

const struct sd_sim_profile *sd_sim_profile_at(int i)
{
	return i >= 0 && i < NPROFILES ? &profiles[i] : NULL;
}

const struct sd_sim_profile *sd_sim_profile_find(const char *name)
{
	for (int i = 0; name && i < NPROFILES; i++)
		if (!strcmp(profiles[i].name, name))
			return &profiles[i];
	return NULL;
}

/* Reads ROOT/proc/sys/REL into buf: 1, 0 when it does not exist, or -errno (err filled). */
static int read_sysctl(const char *root, const char *rel, char *buf, size_t size, char *err,
		       size_t errlen)
{
	char path[512];
	snprintf(path, sizeof path, "%s/proc/sys/%s", root, rel);
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	size_t n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = 0;
	return 1;
}

/* Up to n integers in lo..hi from a sysctl's text (fields split by blanks): 0 or -EINVAL. */
static int parse_ints(const char *text, long *v, int n, long lo, long hi)
{
	const char *p = text;
	for (int i = 0; i < n; i++) {
		char *end;
		while (*p == ' ' || *p == '\t')
			p++;
		errno = 0;
		v[i] = strtol(p, &end, 10);
		if (end == p || errno || v[i] < lo || v[i] > hi)
			return -EINVAL;
		p = end;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	return *p ? -EINVAL : 0;
}

/* One sysctl of n integers: into v, or left as is when the kernel lacks it and !required. */
static int sysctl_ints(const char *root, const char *rel, int required, long *v, int n, long lo,
		       long hi, char *err, size_t errlen)
{
	char buf[256];
	int rc = read_sysctl(root, rel, buf, sizeof buf, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		if (!required)
			return 0;
		snprintf(err, errlen, "%s/proc/sys/%s: missing", root, rel);
		return -ENOENT;
	}
	if (parse_ints(buf, v, n, lo, hi) < 0) {
		buf[strcspn(buf, "\n")] = 0;
		snprintf(err, errlen,
			 "%s/proc/sys/%s: cannot read '%.40s' (%d integer%s in %ld..%ld)", root,
			 rel, buf, n, n > 1 ? "s" : "", lo, hi);
		return -EINVAL;
	}
	return 0;
}

int sd_sim_profile_read(const char *root, int hz, struct sd_sim_profile *out, char *err,
			size_t errlen)
{
	char dummy[1], release[96];
	long v[3];
	int rc;
	if (!err)
		err = dummy, errlen = sizeof dummy;
	err[0] = 0;
	if (!root || !*root)
		root = "";
	else if (!strcmp(root, "/"))
		root = "";
	struct sd_sim_profile p = profiles[0];
	/* Sysctls a kernel may lack (newer than it): the value that kernel behaves with. */
	p.syn_linear_timeouts = 0;
	p.rto_max_ms = 120000;
	p.tw_reuse_delay = 1000;
	struct {
		const char *rel;
		int required, n;
		long lo, hi;
		int *dst[3];
	} const fields[] = {
		{"net/ipv4/tcp_syn_retries", 1, 1, 1, 127, {&p.syn_retries}},
		{"net/ipv4/tcp_syn_linear_timeouts", 0, 1, 0, 127, {&p.syn_linear_timeouts}},
		{"net/ipv4/tcp_rto_max_ms", 0, 1, 1000, 120000, {&p.rto_max_ms}},
		{"net/ipv4/ip_local_port_range", 1, 2, 1, 65535, {&p.port_lo, &p.port_hi}},
		{"net/core/somaxconn", 1, 1, 0, 1 << 30, {&p.somaxconn}},
		{"net/core/wmem_max", 1, 1, 2304, 1 << 30, {&p.wmem_max}},
		{"net/core/rmem_max", 1, 1, 2304, 1 << 30, {&p.rmem_max}},
		{"net/ipv4/tcp_wmem", 1, 3, 1, 1 << 30, {NULL, &p.wmem_def}},
		{"net/ipv4/tcp_rmem", 1, 3, 1, 1 << 30, {NULL, &p.rmem_def, &p.tcp_rmem_max}},
		{"net/ipv4/tcp_fin_timeout", 1, 1, 1, 1 << 20, {&p.fin_timeout}},
		{"net/ipv4/tcp_tw_reuse", 1, 1, 0, 2, {&p.tw_reuse}},
		{"net/ipv4/tcp_tw_reuse_delay", 0, 1, 1, 60000, {&p.tw_reuse_delay}},
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		for (int j = 0; j < fields[i].n; j++)
			v[j] = fields[i].dst[j] ? *fields[i].dst[j] : 0;
		rc = sysctl_ints(root, fields[i].rel, fields[i].required, v, fields[i].n,
				 fields[i].lo, fields[i].hi, err, errlen);
		if (rc < 0)
			return rc;
		for (int j = 0; j < fields[i].n; j++)
			if (fields[i].dst[j])
				*fields[i].dst[j] = (int)v[j];
	}
	if (p.port_lo > p.port_hi) {
		snprintf(err, errlen, "%s/proc/sys/net/ipv4/ip_local_port_range: %d > %d", root,
			 p.port_lo, p.port_hi);
		return -EINVAL;
	}
	if ((rc = read_sysctl(root, "kernel/osrelease", release, sizeof release, err, errlen)) < 0)
		return rc;
	if (rc == 0) {
		snprintf(err, errlen, "%s/proc/sys/kernel/osrelease: missing", root);
		return -ENOENT;
	}
	release[strcspn(release, "\n")] = 0;
	int major, minor;
	if (sscanf(release, "%d.%d", &major, &minor) != 2) {
		snprintf(err, errlen, "%s/proc/sys/kernel/osrelease: cannot read '%.40s'", root,
			 release);
		return -EINVAL;
	}
	/* A version, not a sysctl: TCP answers SO_PEEK_OFF from 6.10 (sk_set_peek_off in
	 * inet_stream_ops), EOPNOTSUPP before it. */
	p.tcp_peek_off = major > 6 || (major == 6 && minor >= 10);
	if (hz <= 0 && (hz = sd_real_host_hz()) < 0) {
		snprintf(err, errlen, "cannot measure this kernel's HZ: %s", strerror(-hz));
		return hz;
	}
	p.hz = hz;
	snprintf(p.name, sizeof p.name, "host");
	snprintf(p.source, sizeof p.source,
		 "this machine: Linux %.60s, %s/proc/sys, HZ %d measured", release, root, hz);
	*out = p;
	return 0;
}

/* The host's profile, read once: 0 unread, 1 being read, 2 there. No mutex: this runs inside
 * in-process fuzzers, whose layer owns the pthread functions; a thread that finds it being
 * read reads its own copy (the same values). */
static _Atomic int host_state;
static struct sd_sim_profile host_profile;

int sd_sim_profile_host(struct sd_sim_profile *out, char *err, size_t errlen)
{
	int expect = 0;
	if (atomic_load(&host_state) == 2) {
		*out = host_profile;
		return 0;
	}
	if (!atomic_compare_exchange_strong(&host_state, &expect, 1))
		return sd_sim_profile_read(NULL, 0, out, err, errlen);
	int rc = sd_sim_profile_read(NULL, 0, &host_profile, err, errlen);
	if (rc == 0)
		*out = host_profile;
	atomic_store(&host_state, rc == 0 ? 2 : 0); /* a failed read is tried again next time */
	return rc;
}
