/* sockdrill scenarios: what a file asks of the backend: the sim's options it runs with, and on
 * the kernel its 'requires' and 'set' lines checked (not applicable when it differs); the
 * settings for a server under test. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <sockdrill/real.h>
#include <sockdrill/sim.h>
#include <sockdrill/sockdrill.h>

#include "sc_internal.h"

static const char *variant_name(int one_role) { return one_role ? "one-role" : "no-one-role"; }

int sd_scenario_sim_config(const struct sd_scenario *sc, const struct sd_sc_options *opt,
			   struct sd_sim_config *cfg)
{
	sd_sim_config_init(cfg);
	/* on sim, a file that requires a variant always runs as that variant */
	cfg->one_role = sc->has_one_role ? sc->one_role : opt && opt->one_role;
	cfg->segment = sc->segment;
	if (sc->has_preempt)
		cfg->preempt = sc->preempt;
	cfg->unprivileged = sc->unprivileged;
	if (opt && opt->profile && !strcmp(opt->profile, "host")) {
		if (sd_sim_profile_host(&cfg->profile, NULL, 0) < 0)
			return -EINVAL;
	} else if (opt && opt->profile) {
		const struct sd_sim_profile *p = sd_sim_profile_find(opt->profile);
		if (!p)
			return -EINVAL;
		cfg->profile = *p;
	}
	/* and the tunables it requires, over any profile's (the parser checked their ranges,
	 * the sim's) */
	for (int i = 0; i < sc->nreqs; i++) {
		const struct sc_tunable *t = &sc_tunables[sc->reqs[i].field];
		int v = (int)sc->reqs[i].value, hi = (int)sc->reqs[i].hi;
		memcpy((char *)&cfg->profile + t->offset, &v, sizeof v);
		if (t->pair)
			memcpy((char *)&cfg->profile + t->offset_hi, &hi, sizeof hi);
	}
	return 0;
}

/* Whether this process binds below 1024 as 'set unprivileged' describes (EACCES): it lacks
 * CAP_NET_BIND_SERVICE (root has it) and the kernel keeps the default
 * net.ipv4.ip_unprivileged_port_start of 1024. 1 yes, 0 no, with why in `why`. */
static int host_unprivileged(char *why, size_t size)
{
	char line[256];
	unsigned long long cap = ~0ull;
	long start = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "CapEff: %llx", &cap) == 1)
			break;
	if (f)
		fclose(f);
	f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
	if (f && fscanf(f, "%ld", &start) != 1)
		start = -1;
	if (f)
		fclose(f);
	if (cap & (1ull << 10)) /* CAP_NET_BIND_SERVICE, or a status that could not be read */
		snprintf(why, size,
			 "this process may bind ports below 1024 (CAP_NET_BIND_SERVICE)");
	else if (start != 1024)
		snprintf(why, size, "this kernel has ip_unprivileged_port_start=%ld", start);
	else
		return 1;
	return 0;
}

/* 'requires free-ports=LO-HI': each port can be bound on 127.0.0.1 and ::1 now (no socket,
 * TIME_WAIT included, holds it: one made by another process's bind(0) would make the file's
 * own binds and connects fail). 0, or the first port held with why. */
static int port_held(int lo, int hi, char *why, size_t size)
{
	for (int port = lo; port <= hi; port++)
		for (int v6 = 0; v6 < 2; v6++) {
			struct sockaddr_in a4 = {.sin_family = AF_INET,
						 .sin_port = htons((uint16_t)port),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			struct sockaddr_in6 a6 = {.sin6_family = AF_INET6,
						  .sin6_port = htons((uint16_t)port),
						  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
			const struct sd_real_syscalls *sys = &sd_real_libc; /* the host's own */
			int fd =
				sys->socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0) {
				if (v6 && errno == EAFNOSUPPORT)
					continue;
				snprintf(why, size, "cannot make a socket to probe: %s",
					 strerror(errno));
				return port;
			}
			int rc = v6 ? sys->bind(fd, (struct sockaddr *)&a6, sizeof a6)
				    : sys->bind(fd, (struct sockaddr *)&a4, sizeof a4);
			int err = errno;
			sys->close(fd);
			if (rc < 0 && !(v6 && err == EADDRNOTAVAIL)) { /* no ::1 configured */
				snprintf(why, size, "port %d is held on this machine (%s on %s)",
					 port, strerror(err), v6 ? "::1" : "127.0.0.1");
				return port;
			}
		}
	return 0;
}

/* On the kernel, a file whose 'requires' it does not meet is not applicable (or, when the
 * kernel cannot be asked, fails): 1 with res filled in, 0 to run it. */
int sd__sc_kernel_lacks(const struct sd_scenario *sc, struct sd_sc_result *res)
{
	if (sc->free_line) {
		char why[160];
		if (port_held(sc->free_lo, sc->free_hi, why, sizeof why)) {
			snprintf(res->message, sizeof res->message,
				 "%s:%d: not applicable: the file requires free-ports=%d-%d and %s",
				 sc->path, sc->free_line, sc->free_lo, sc->free_hi, why);
			res->passed = 0, res->skipped = 1;
			return 1;
		}
	}
	if (sc->has_one_role) {
		int host = sd_real_host_one_role();
		if (host < 0)
			snprintf(res->message, sizeof res->message,
				 "%s:%d: cannot tell whether this kernel is one-role: %s", sc->path,
				 sc->one_role_line, strerror(-host));
		else if (host != sc->one_role)
			snprintf(
				res->message, sizeof res->message,
				"%s:%d: not applicable: the file requires %s and this kernel is %s",
				sc->path, sc->one_role_line, variant_name(sc->one_role),
				variant_name(host));
		if (host != sc->one_role) {
			res->passed = 0, res->skipped = host >= 0;
			return 1;
		}
	}
	if (sc->unprivileged) {
		char why[120];
		if (!host_unprivileged(why, sizeof why)) {
			snprintf(res->message, sizeof res->message,
				 "%s:%d: not applicable: the file sets unprivileged and %s",
				 sc->path, sc->unprivileged_line, why);
			res->passed = 0, res->skipped = 1;
			return 1;
		}
	}
	if (!sc->nreqs)
		return 0;
	struct sd_sim_profile host;
	char err[160] = "";
	int rc = sd_sim_profile_host(&host, err, sizeof err);
	if (rc < 0) {
		snprintf(res->message, sizeof res->message,
			 "%s:%d: cannot read this kernel's %s: %s", sc->path, sc->reqs[0].line,
			 sc_tunables[sc->reqs[0].field].name, err[0] ? err : strerror(-rc));
		res->passed = 0, res->skipped = 0;
		return 1;
	}
	for (int i = 0; i < sc->nreqs; i++) {
		const struct sc_tunable *t = &sc_tunables[sc->reqs[i].field];
		const struct sc_require *r = &sc->reqs[i];
		int have, have_hi = 0;
		memcpy(&have, (const char *)&host + t->offset, sizeof have);
		if (t->pair)
			memcpy(&have_hi, (const char *)&host + t->offset_hi, sizeof have_hi);
		if (have != r->value || have_hi != r->hi) {
			char want[32] = "", got[32] = "";
			if (t->pair)
				snprintf(want, sizeof want, "-%ld", r->hi),
					snprintf(got, sizeof got, "-%d", have_hi);
			snprintf(res->message, sizeof res->message,
				 "%s:%d: not applicable: the file %s %s=%ld%s and this kernel "
				 "has %s=%d%s",
				 sc->path, r->line, r->is_set ? "sets" : "requires", t->name,
				 r->value, want, t->name, have, got);
			res->passed = 0, res->skipped = 1;
			return 1;
		}
	}
	return 0;
}

const char *sd_scenario_server_faults(const struct sd_scenario *sc)
{
	return sc->has_server_faults ? sc->server_faults : NULL;
}

const struct sd_fault_spec *sd_scenario_server_fault_spec(const struct sd_scenario *sc)
{
	return sc->has_server_faults ? &sc->server_spec : NULL;
}

int sd_scenario_server_seed(const struct sd_scenario *sc, uint64_t *seed)
{
	if (sc->has_server_seed)
		*seed = sc->server_seed;
	return sc->has_server_seed;
}
