/* sockdrill sim: the `sim` backend's table, descriptors, options, tracing and PRNG. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/time.h>

#include <sockdrill/sockdrill.h>

#include "sim_internal.h"

#define SOCK_MIN_SNDBUF 4608
#define SOCK_MIN_RCVBUF 2304

/* ---- table_perturb (the PRNG itself is inline, in sim_internal.h) ---------------------- */

/* Linux's table_perturb starts random: entry i is the sim's (i + 1)-th draw, made at
 * creation. splitmix64 can compute any draw directly, so an entry is filled when first
 * used (a fuzz input uses a few of the 256) with the value it would have had. */
uint32_t *sd__perturb(struct sd__sim *s, unsigned i)
{
	i &= 255;
	if (!(s->perturb_set[i / 64] >> (i % 64) & 1)) {
		s->perturb[i] = (uint32_t)sd__mix(s->perturb_rng + (uint64_t)(i + 1) * SD__GOLDEN);
		s->perturb_set[i / 64] |= 1ull << (i % 64);
	}
	return &s->perturb[i];
}

/* Internal timers form a binary min-heap on their time: the scheduler asks for the earliest
 * one at every park, and tens of thousands can be pending (SYN retries of a large demo). */
void sd__timer_add(struct sd__sim *s, int64_t at)
{
	if (s->ntimers && s->timers[0] == at)
		return; /* most timers fall on the same instant as the earliest */
	if (s->ntimers == s->timers_cap) {
		size_t cap = s->timers_cap ? s->timers_cap * 2 : 64;
		int64_t *t = realloc(s->timers, cap * sizeof *t);
		if (!t)
			return; /* a lost timer only delays a wake-up to the next event */
		s->timers = t;
		s->timers_cap = cap;
	}
	size_t i = s->ntimers++;
	while (i && s->timers[(i - 1) / 2] > at) {
		s->timers[i] = s->timers[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->timers[i] = at;
}

void sd__timer_pop(struct sd__sim *s)
{
	int64_t last = s->timers[--s->ntimers];
	size_t i = 0, n = s->ntimers;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && s->timers[c + 1] < s->timers[c])
			c++;
		if (s->timers[c] >= last)
			break;
		s->timers[i] = s->timers[c];
		i = c;
	}
	if (n)
		s->timers[i] = last;
}

/* ---- options ---------------------------------------------------------------------------- */

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

static int parse_options(struct sd__sim *s, const char *text)
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
		char *v = strchr(kv, '=');
		if (v)
			*v++ = 0;
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

static struct sd__sock reserved; /* marks a slot taken by an accept still in progress */

/* ---- instance ---------------------------------------------------------------------------- */

#define PORT_TABLES (2 * 65536 * sizeof(struct sd__sock *))

/* The port tables are 1 MiB, of which a run touches a few pages: mmap's zero pages fault in
 * as used, where calloc from the heap would clear all of it. Under ASan they stay on the
 * heap: LeakSanitizer looks for pointers in heap blocks, not in private mappings (and ASan's
 * calloc of a block this size is fresh pages anyway). */
static struct sd__sock **ports_alloc(void)
{
#ifdef SD_ASAN
	return calloc(1, PORT_TABLES);
#else
	void *p =
		mmap(NULL, PORT_TABLES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
#endif
}

static void ports_free(struct sd__sock **p)
{
#ifdef SD_ASAN
	free(p);
#else
	munmap(p, PORT_TABLES);
#endif
}

/* One pair of tables kept for the next sim: a fuzz input opens a sim, and a fresh pair costs
 * a mapping, page faults on the pages touched and an unmapping (under ASan, clearing 1 MiB).
 * A sim gives its tables back all zero again: every entry ever set is for a port listed in
 * ports_used (sd__port_link), and those are cleared; a sim that could not list a port
 * (ports_dirty) frees its tables instead. A global, not thread-local, so LeakSanitizer sees
 * the kept block; threads take and give it atomically. */
static _Atomic(struct sd__sock **) ports_spare;

static struct sd__sock **ports_get(void)
{
	struct sd__sock **p = atomic_exchange(&ports_spare, NULL);
	if (!p)
		return ports_alloc();
#ifndef NDEBUG
	for (size_t i = 0; i < 2 * 65536; i++)
		assert(!p[i]); /* the reset in ports_put is complete */
#endif
	return p;
}

static void ports_put(struct sd__sim *s)
{
	struct sd__sock **p = s->by_port, **none = NULL;
	if (!s->ports_dirty) {
		for (size_t i = 0; i < s->nports_used; i++)
			p[s->ports_used[i]] = p[65536 + s->ports_used[i]] = NULL;
		if (atomic_compare_exchange_strong(&ports_spare, &none, p))
			return;
	}
	ports_free(p);
}

static int sim_create(const struct sd_config *cfg, void **state)
{
	struct sd__sim *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->by_port = ports_get();
	if (!s->by_port) {
		free(s);
		return -ENOMEM;
	}
	s->listeners = s->by_port + 65536;
	s->seed = cfg->seed;
	s->rng = cfg->seed ^ 0x5ced5eedull;
	s->bytes_rng = sd__mix(cfg->seed ^ 0x7261776279746573ull);
	s->wmem_auto = 3939840;
	s->nofile = 1024, s->fdbase = 3, s->privileged = 1, s->preempt = 256;
	s->stack_kb = 256;
	s->allow_nonloopback = (cfg->flags & SD_CFG_ALLOW_NONLOOPBACK) != 0;
	if (parse_options(s, cfg->options) < 0) {
		ports_put(s);
		free(s);
		return -EINVAL;
	}
	s->port_lo = s->prof.port_lo, s->port_hi = s->prof.port_hi;
	s->somaxconn = s->prof.somaxconn;
	s->wmem_max = s->prof.wmem_max, s->rmem_max = s->prof.rmem_max;
	s->wmem_def = s->prof.wmem_def, s->rmem_def = s->prof.rmem_def;
	s->perturb_rng = s->rng; /* the next 256 draws are the perturb table's (sd__perturb) */
	s->rng += 256 * SD__GOLDEN;
	if (sd__sched_init(s) < 0) {
		ports_put(s);
		free(s);
		return -ENOMEM;
	}
	*state = s;
	return 0;
}

static void sim_destroy(void *state)
{
	struct sd__sim *s = state;
	/* An actor left blocked in accept holds a reserved slot: not a socket to free. */
	for (int i = 0; i < s->nfds_cap; i++)
		if (s->fds[i] == &reserved)
			s->fds[i] = NULL;
	sd__free_all(s);
	sd__epoll_free_all(s);
	sd__chunk_pool_free(s);
	free(s->fds);
	free(s->timers);
	sd__sched_free(s);
	ports_put(s);
	free(s->ports_used);
	free(s);
}

/* ---- descriptors -------------------------------------------------------------------------- */

/* What fd names: a socket or an epoll instance (NULL: not open). */
struct sd__sock *sd__slot(struct sd__sim *s, int fd)
{
	int i = fd - s->fdbase;
	if (fd < s->fdbase || i >= s->nfds_cap || s->fds[i] == &reserved)
		return NULL;
	return s->fds[i];
}

/* The socket fd names (NULL: not open, or an epoll descriptor). */
static struct sd__sock *lookup(struct sd__sim *s, int fd)
{
	struct sd__sock *k = sd__slot(s, fd);
	return k && !k->ep ? k : NULL;
}

/* Why a socket call found no socket at fd. */
static int bad_fd(struct sd__sim *s, int fd) { return sd__slot(s, fd) ? -ENOTSOCK : -EBADF; }

/* Room in the descriptor table for at least n entries, doubling. 0 or -ENOMEM. */
static int grow_fds(struct sd__sim *s, int n)
{
	int cap = s->nfds_cap ? s->nfds_cap : 64;
	while (cap < n)
		cap *= 2;
	if (cap <= s->nfds_cap)
		return 0;
	struct sd__sock **f = realloc(s->fds, (size_t)cap * sizeof *f);
	if (!f)
		return -ENOMEM;
	memset(f + s->nfds_cap, 0, (size_t)(cap - s->nfds_cap) * sizeof *f);
	s->fds = f;
	s->nfds_cap = cap;
	return 0;
}

/* The lowest free descriptor, as Linux hands out; -EMFILE past the limit. */
int sd__fd_alloc(struct sd__sim *s, struct sd__sock *k)
{
	if (s->open_fds >= s->nofile)
		return -EMFILE;
	int i = s->fd_hint;
	while (i < s->nfds_cap && s->fds[i])
		i++;
	if (i >= s->nfds_cap && grow_fds(s, i + 1) < 0)
		return -ENOMEM;
	s->fds[i] = k;
	s->fd_hint = i + 1;
	s->open_fds++;
	return i + s->fdbase;
}

static void fd_free(struct sd__sim *s, int fd)
{
	int i = fd - s->fdbase;
	s->fds[i] = NULL;
	s->open_fds--;
	if (i < s->fd_hint)
		s->fd_hint = i;
}

/* ---- tracing ----------------------------------------------------------------------------- */

/* Every line the trace gets is hashed, and written when there is a file. */
static void trace_line(struct sd__sim *s, const char *line)
{
	for (const char *p = line; *p; p++)
		s->trace_hash = (s->trace_hash ^ (unsigned char)*p) * 0x100000001b3ull;
	if (s->trace)
		fputs(line, s->trace);
}

void sd__trace(struct sd__sim *s, long result, const char *fmt, ...)
{
	char line[512], res[48];
	va_list ap;
	int n = snprintf(line, sizeof line, "%lld.%09lld %s ", (long long)(s->now / 1000000000),
			 (long long)(s->now % 1000000000), s->cur->name);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < (int)sizeof line)
		snprintf(line + n, sizeof line - (size_t)n, " = %s\n",
			 sd_result_format(result, res, sizeof res));
	trace_line(s, line);
}

static const char *epstr(const struct sd__ep *e, char *buf, size_t n)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(e->port)};
	memcpy(&a.sin6_addr, e->a, 16);
	if (sd__ep_is_v4(e)) {
		struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(e->port)};
		memcpy(&b.sin_addr, e->a + 12, 4);
		return sd_addr_format((struct sockaddr *)&b, sizeof b, buf, n);
	}
	return sd_addr_format((struct sockaddr *)&a, sizeof a, buf, n);
}

/* Every call starts here: count it, maybe let another actor run first, process due timers. */
void sd__enter(struct sd__sim *s)
{
	s->calls++;
	sd__maybe_yield(s);
	if (s->ntimers && s->timers[0] <= s->now)
		sd__advance(s);
}

/* ---- addresses across the boundary -------------------------------------------------------- */

/* Reads a caller's sockaddr for socket k. 0, or the errno Linux gives for a wrong length
 * (-EINVAL) or family (-EAFNOSUPPORT). */
static int ep_from(const struct sd__sock *k, const struct sockaddr *a, socklen_t len,
		   struct sd__ep *ep)
{
	memset(ep, 0, sizeof *ep);
	if (!a)
		return -EFAULT;
	if (!k->v6) {
		if (len < sizeof(struct sockaddr_in))
			return -EINVAL;
		const struct sockaddr_in *in = (const struct sockaddr_in *)a;
		if (a->sa_family != AF_INET &&
		    !(a->sa_family == AF_UNSPEC && in->sin_addr.s_addr == htonl(INADDR_ANY)))
			return -EAFNOSUPPORT;
		ep->a[10] = ep->a[11] = 0xff;
		memcpy(ep->a + 12, &in->sin_addr, 4);
		ep->port = ntohs(in->sin_port);
		return 0;
	}
	if (len < 24) /* SIN6_LEN_RFC2133 */
		return -EINVAL;
	if (a->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
	memcpy(ep->a, &in6->sin6_addr, 16);
	ep->port = ntohs(in6->sin6_port);
	return 0;
}

static void ep_to(const struct sd__sock *k, const struct sd__ep *ep, struct sockaddr *a,
		  socklen_t *len)
{
	struct sockaddr_storage ss;
	socklen_t n;
	memset(&ss, 0, sizeof ss);
	if (!k->v6) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(ep->port);
		memcpy(&in->sin_addr, ep->a + 12, 4);
		n = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(ep->port);
		memcpy(&in6->sin6_addr, ep->a, 16);
		n = sizeof *in6;
	}
	if (a && len) {
		memcpy(a, &ss, *len < n ? *len : n);
		*len = n;
	}
}

static int permitted(const struct sd__sim *s, const struct sockaddr *a, socklen_t len)
{
	return sd__addr_permitted(s->allow_nonloopback, a, len);
}

/* ---- the table's members ------------------------------------------------------------------- */

static int sim_socket(void *state, int domain, int type, int protocol)
{
	struct sd__sim *s = state;
	int fd;
	sd__enter(s);
	if (domain != AF_INET && domain != AF_INET6)
		fd = -EAFNOSUPPORT;
	else if (type & ~(SOCK_STREAM | SOCK_DGRAM | SOCK_RAW | SOCK_SEQPACKET | SOCK_NONBLOCK |
			  SOCK_CLOEXEC | 0xf))
		fd = -EINVAL;
	else if ((type & 0xf) != SOCK_STREAM)
		fd = -ESOCKTNOSUPPORT;
	else if (protocol != 0 && protocol != IPPROTO_TCP)
		fd = -EPROTONOSUPPORT;
	else {
		struct sd__sock *k = calloc(1, sizeof *k);
		if (!k) {
			fd = -ENOMEM;
		} else {
			k->id = ++s->next_id;
			k->refs = 1;
			k->v6 = domain == AF_INET6;
			k->nonblock = (type & SOCK_NONBLOCK) != 0;
			k->fin_at = -1;
			k->peek_off = -1;
			k->sndbuf = s->wmem_def;
			k->rcvbuf = s->rmem_def;
			if (!k->v6)
				k->local.a[10] = k->local.a[11] = 0xff;
			fd = sd__fd_alloc(s, k);
			if (fd < 0)
				free(k);
			else
				k->fd = fd, k->ndesc = 1;
		}
	}
	TRACE(s, fd, "socket(%s, SOCK_STREAM%s)", domain == AF_INET6 ? "AF_INET6" : "AF_INET",
	      type & SOCK_NONBLOCK ? "|SOCK_NONBLOCK" : "");
	return fd;
}

static int sim_bind(void *state, int fd, const struct sockaddr *a, socklen_t len)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	struct sd__ep ep;
	char b[SD_ADDR_STRLEN];
	int rc;
	sd__enter(s);
	memset(&ep, 0, sizeof ep);
	if (!(k = lookup(s, fd)))
		rc = bad_fd(s, fd);
	else if (!permitted(s, a, len)) /* policy first, as the real backend does */
		rc = -EPERM;
	else if ((rc = ep_from(k, a, len, &ep)) == 0)
		rc = sd__bind(s, k, &ep);
	TRACE(s, rc, "bind(%d, %s)", fd, rc == -EBADF ? "?" : epstr(&ep, b, sizeof b));
	return rc;
}

static int sim_listen(void *state, int fd, int backlog)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc;
	sd__enter(s);
	rc = (k = lookup(s, fd)) ? sd__listen(s, k, backlog) : bad_fd(s, fd);
	TRACE(s, rc, "listen(%d, %d)", fd, backlog);
	return rc;
}

static int sim_accept(void *state, int fd, struct sockaddr *a, socklen_t *len, int flags)
{
	struct sd__sim *s = state;
	struct sd__sock *k, *c = NULL;
	int rc, nfd = -1;
	sd__enter(s);
	if (!(k = lookup(s, fd)))
		rc = bad_fd(s, fd);
	else if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK))
		rc = -EINVAL;
	else if ((rc = nfd = sd__fd_alloc(s, &reserved)) >= 0) {
		k->refs++;
		rc = sd__accept(s, k, &c, k->nonblock);
		sd__sock_unref(s, k);
		if (rc == 0) {
			s->fds[nfd - s->fdbase] = c;
			c->fd = nfd;
			c->ndesc = 1;
			c->nonblock = (flags & SOCK_NONBLOCK) != 0;
			ep_to(c, &c->remote, a, len);
			rc = nfd;
		} else {
			fd_free(s, nfd);
		}
	}
	TRACE(s, rc, "accept(%d%s)", fd, flags & SOCK_NONBLOCK ? ", SOCK_NONBLOCK" : "");
	return rc;
}

static int sim_connect(void *state, int fd, const struct sockaddr *a, socklen_t len)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	struct sd__ep ep;
	char b[SD_ADDR_STRLEN] = "?";
	int rc;
	sd__enter(s);
	if (!(k = lookup(s, fd)))
		rc = bad_fd(s, fd);
	else if (!permitted(s, a, len))
		rc = -EPERM;
	else if (a && len >= sizeof(sa_family_t) && a->sa_family == AF_UNSPEC)
		rc = sd__disconnect(s, k);
	else if (!a || len < sizeof(sa_family_t))
		rc = -EINVAL;
	else {
		int aerr = ep_from(k, a, len, &ep);
		if (!aerr && s->tracing) /* formatting costs more than the call itself */
			epstr(&ep, b, sizeof b);
		k->refs++;
		rc = sd__connect(s, k, aerr ? NULL : &ep, aerr, k->nonblock);
		sd__sock_unref(s, k);
	}
	TRACE(s, rc, "connect(%d, %s)", fd, b);
	return rc;
}

static ssize_t do_send(struct sd__sim *s, int fd, const struct iovec *iov, int n, int flags,
		       const char *what)
{
	struct sd__sock *k;
	ssize_t rc;
	sd__enter(s);
	if (!(k = lookup(s, fd))) {
		rc = bad_fd(s, fd);
	} else {
		k->refs++;
		rc = sd__send(s, k, iov, n, flags);
		sd__sock_unref(s, k);
	}
	TRACE(s, rc, "%s(%d, %zu bytes, 0x%x)", what, fd, sd__iov_total(iov, n), (unsigned)flags);
	return rc;
}

/* TCP_INQ's control message after a recvmsg (tcp_recvmsg): tcp_inq_hint() is rcv_nxt -
 * copied_seq, and the peer's FIN takes a sequence number: the bytes still readable plus 1 once
 * the FIN came (which a read that reached it consumed: then 0, which SOCK_DONE makes 1 again).
 * Either way, the bytes + 1 after the FIN; SIOCINQ takes the FIN off again (tcp_ioctl). Cut
 * short as put_cmsg() cuts it: MSG_CTRUNC when `room` holds less than the message, nothing at
 * all below a header. */
static void put_inq(struct sd__sim *s, struct sd__sock *k, struct msghdr *m, size_t room)
{
	size_t left = sd__arrived(s, k);
	int inq = left > INT_MAX - 1 ? INT_MAX : (int)left + (k->done != 0);
	if (!m->msg_control || room < sizeof(struct cmsghdr)) {
		m->msg_flags |= MSG_CTRUNC;
		return;
	}
	size_t len = CMSG_LEN(sizeof inq), space = CMSG_SPACE(sizeof inq);
	if (room < len)
		m->msg_flags |= MSG_CTRUNC, len = room;
	unsigned char msg[CMSG_SPACE(sizeof(int))] = {0};
	struct cmsghdr h = {.cmsg_len = len, .cmsg_level = SOL_TCP, .cmsg_type = TCP_CM_INQ};
	memcpy(msg, &h, sizeof h);
	memcpy(msg + CMSG_LEN(0), &inq, sizeof inq);
	memcpy(m->msg_control, msg, len);
	m->msg_controllen = room < space ? room : space;
}

/* m: recvmsg's header, for its control messages in `room` bytes (NULL for recv) */

/* SO_PEEK_OFF after a read of rc bytes (sk_peek_offset_fwd/_bwd): a peek moves the offset on
 * past what it saw, a read takes what it consumed off it (not below 0). */
static void peek_off_moves(struct sd__sock *k, int flags, ssize_t rc)
{
	if (rc <= 0 || k->peek_off < 0)
		return;
	if (flags & MSG_PEEK)
		k->peek_off = rc > INT_MAX - k->peek_off ? INT_MAX : k->peek_off + (int)rc;
	else
		k->peek_off = rc >= k->peek_off ? 0 : k->peek_off - (int)rc;
}

static ssize_t do_recv(struct sd__sim *s, int fd, const struct iovec *iov, int n, int flags,
		       struct msghdr *m, size_t room, const char *what)
{
	struct sd__sock *k;
	ssize_t rc;
	sd__enter(s);
	if (!(k = lookup(s, fd))) {
		rc = bad_fd(s, fd);
	} else {
		k->refs++;
		rc = sd__recv(s, k, iov, n, flags);
		if (m && rc >= 0 && k->recvmsg_inq)
			put_inq(s, k, m, room);
		peek_off_moves(k, flags, rc);
		sd__sock_unref(s, k);
	}
	TRACE(s, rc, "%s(%d, %zu, 0x%x)", what, fd, sd__iov_total(iov, n), (unsigned)flags);
	return rc;
}

static ssize_t sim_send(void *state, int fd, const void *buf, size_t len, int flags)
{
	struct iovec v = {(void *)buf, len};
	return do_send(state, fd, &v, 1, flags, "send");
}

static ssize_t sim_recv(void *state, int fd, void *buf, size_t len, int flags)
{
	struct iovec v = {buf, len};
	return do_recv(state, fd, &v, 1, flags, NULL, 0, "recv");
}

static ssize_t sim_sendmsg(void *state, int fd, const struct msghdr *m, int flags)
{
	struct sd__sim *s = state;
	if (!m)
		return -EINVAL;
	if (m->msg_iovlen > 1024) /* UIO_MAXIOV */
		return -EMSGSIZE;
	if (m->msg_name && !permitted(s, m->msg_name, m->msg_namelen))
		return -EPERM;
	return do_send(s, fd, m->msg_iov, (int)m->msg_iovlen, flags, "sendmsg");
}

static ssize_t sim_recvmsg(void *state, int fd, struct msghdr *m, int flags)
{
	if (!m)
		return -EINVAL;
	if (m->msg_iovlen > 1024) /* UIO_MAXIOV */
		return -EMSGSIZE;
	size_t room = m->msg_controllen;
	m->msg_namelen = 0;
	m->msg_controllen = 0;
	m->msg_flags = flags & MSG_CMSG_CLOEXEC; /* ____sys_recvmsg() keeps it for the caller */
	return do_recv(state, fd, m->msg_iov, (int)m->msg_iovlen, flags, m, room, "recvmsg");
}

static int sim_shutdown(void *state, int fd, int how)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc;
	sd__enter(s);
	rc = (k = lookup(s, fd)) ? sd__shutdown(s, k, how) : bad_fd(s, fd);
	TRACE(s, rc, "shutdown(%d, %d)", fd, how);
	return rc;
}

/* Releases descriptor fd, which names k: what close does, and dup3 to a taken number. */
static void drop_fd(struct sd__sim *s, int fd, struct sd__sock *k)
{
	fd_free(s, fd);
	if (k->ep) {
		if (--k->ndesc == 0)
			k->fd = -1;
		sd__epoll_unref(s, k);
		return;
	}
	/* Linux drops a socket's epoll entries with its last descriptor (the open file): an
	 * entry added through a duplicate closed since still reports */
	if (--k->ndesc == 0) {
		k->fd = -1;
		sd__epoll_forget(s, k);
	}
	sd__sock_unref(s, k);
	sd__wake_all(s);
}

static int sim_close(void *state, int fd)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc = 0;
	sd__enter(s);
	if (!(k = sd__slot(s, fd)))
		rc = -EBADF;
	else
		drop_fd(s, fd, k);
	TRACE(s, rc, "close(%d)", fd);
	return rc;
}

/* dup(2): another descriptor for the same socket or epoll instance, which holds a reference,
 * so that closing either leaves the other working. */
static int sim_dup(void *state, int fd)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc;
	sd__enter(s);
	if (!(k = sd__slot(s, fd)))
		rc = -EBADF;
	else if ((rc = sd__fd_alloc(s, k)) >= 0)
		k->refs++, k->ndesc++;
	TRACE(s, rc, "dup(%d)", fd);
	return rc;
}

/* dup3(2), after ksys_dup3(): flags first, then the number's range (the descriptor limit; the
 * sim's numbers start at fdbase, below it nothing is the sim's), then oldfd. A socket that
 * newfd named closes there if that was its last descriptor. */
static int sim_dup3(void *state, int oldfd, int newfd, int flags)
{
	struct sd__sim *s = state;
	struct sd__sock *k, *old;
	int rc = newfd, i = newfd < s->fdbase ? -1 : newfd - s->fdbase;
	sd__enter(s);
	if ((flags & ~O_CLOEXEC) || oldfd == newfd)
		rc = -EINVAL;
	else if (i < 0 || i >= s->nofile)
		rc = -EBADF;
	else if (!(k = sd__slot(s, oldfd)))
		rc = -EBADF;
	else if (i >= s->nfds_cap && grow_fds(s, i + 1) < 0)
		rc = -ENOMEM;
	else {
		if ((old = s->fds[i]))
			drop_fd(s, newfd, old);
		s->fds[i] = k;
		s->open_fds++;
		k->refs++, k->ndesc++;
	}
	TRACE(s, rc, "dup3(%d, %d, %#x)", oldfd, newfd, (unsigned)flags);
	return rc;
}

static int int_opt(const void *v, socklen_t l, int *out)
{
	if (!v || l < sizeof(int))
		return -EINVAL;
	memcpy(out, v, sizeof *out);
	return 0;
}

/* Seconds from which a timeout means "forever" (Linux: those that do not fit in jiffies); below
 * it, now + timeout stays far from overflowing the sim's nanosecond clock. */
#define TIMEO_MAX_S (INT64_MAX / 1000000000 / 2)

/* sock_set_timeout(): the kernel keeps a timeout in ticks of HZ, rounded up, so it lasts and
 * reads back as whole ticks (250 ms is 252 ms at HZ 250, 1 ms is 4 ms). */
static int timeo_opt(const struct sd__sim *s, const void *v, socklen_t l, int64_t *out)
{
	struct timeval tv;
	if (!v || l < sizeof tv)
		return -EINVAL;
	memcpy(&tv, v, sizeof tv);
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	if (tv.tv_sec < 0) {
		*out = -1; /* no waiting at all: see sd__deadline */
	} else if (tv.tv_sec >= TIMEO_MAX_S) {
		*out = 0; /* as Linux's MAX_SCHEDULE_TIMEOUT: wait forever, read back as {0, 0} */
	} else {
		int64_t hz = s->prof.hz, tick_us = 1000000 / hz;
		int64_t ticks =
			(int64_t)tv.tv_sec * hz + ((int64_t)tv.tv_usec + tick_us - 1) / tick_us;
		*out = ticks / hz * 1000000000 + ticks % hz * 1000000000 / hz;
	}
	return 0;
}

/* TCP_INQ (tcp_setsockopt): 0 or 1, else EINVAL; recvmsg then adds TCP_CM_INQ (put_inq). */
static int tcp_inq_opt(struct sd__sock *k, const void *v, socklen_t l, int *iv)
{
	int rc = int_opt(v, l, iv);
	if (rc == 0 && (*iv < 0 || *iv > 1))
		rc = -EINVAL;
	if (rc == 0)
		k->recvmsg_inq = *iv;
	return rc;
}

/* sock_get_timeout(): whole seconds and the microseconds of the ticks left over. */
static struct timeval timeo_get(const struct sd__sim *s, int64_t ns)
{
	struct timeval tv = {0, 0};
	if (ns <= 0)
		return tv;
	int64_t hz = s->prof.hz;
	int64_t ticks = ns / 1000000000 * hz + (ns % 1000000000 * hz + 500000000) / 1000000000;
	tv.tv_sec = (time_t)(ticks / hz);
	tv.tv_usec = (suseconds_t)(ticks % hz * 1000000 / hz);
	return tv;
}

static int sim_setsockopt(void *state, int fd, int level, int name, const void *v, socklen_t l)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc = 0, iv = 0;
	sd__enter(s);
	if (!(k = lookup(s, fd))) {
		rc = bad_fd(s, fd);
	} else if (sd__opt_ours(level, name)) {
		rc = sd__opt_set(s, k, level, name, v, l, &iv);
	} else if (level == SOL_SOCKET) {
		switch (name) {
		case SO_LINGER: {
			struct linger lg;
			if (!v || l < sizeof lg) {
				rc = -EINVAL;
				break;
			}
			memcpy(&lg, v, sizeof lg);
			k->linger_on = lg.l_onoff != 0;
			/* as sk_setsockopt(): off keeps the seconds set before. Linux widens the
			 * int to an unsigned long, so a negative one is past MAX_SCHEDULE_TIMEOUT /
			 * HZ and kept as MAX_SCHEDULE_TIMEOUT jiffies; getsockopt's jiffies / HZ
			 * then reads back LONG_MAX / HZ cut to an int (-1752346657 at HZ 250). */
			if (k->linger_on)
				k->linger_s = lg.l_linger >= 0
						      ? lg.l_linger
						      : (int)(uint32_t)(LONG_MAX / s->prof.hz);
			break;
		}
		case SO_RCVTIMEO: rc = timeo_opt(s, v, l, &k->rcvtimeo); break;
		case SO_SNDTIMEO: rc = timeo_opt(s, v, l, &k->sndtimeo); break;
		default:
			if ((rc = int_opt(v, l, &iv)) < 0)
				break;
			switch (name) {
			case SO_REUSEADDR: k->reuseaddr = iv != 0; break;
			case SO_REUSEPORT: k->reuseport = iv != 0; break;
			case SO_KEEPALIVE: k->keepalive = iv != 0; break;
			case SO_PEEK_OFF:
				/* sk_set_peek_off takes any value; TCP has it from 6.10 */
				if (s->prof.tcp_peek_off)
					k->peek_off = iv;
				else
					rc = -EOPNOTSUPP;
				break;
			case SO_SNDBUF: {
				unsigned u = (unsigned)iv > (unsigned)s->wmem_max
						     ? (unsigned)s->wmem_max
						     : (unsigned)iv;
				k->sndbuf =
					u * 2 > SOCK_MIN_SNDBUF ? (int)(u * 2) : SOCK_MIN_SNDBUF;
				k->sndbuf_lock = 1;
				sd__write_space(s, k); /* sock_setsockopt() calls sk_write_space */
				sd__wake_all(s);
				break;
			}
			case SO_RCVBUF: {
				unsigned u = (unsigned)iv > (unsigned)s->rmem_max
						     ? (unsigned)s->rmem_max
						     : (unsigned)iv;
				k->rcvbuf =
					u * 2 > SOCK_MIN_RCVBUF ? (int)(u * 2) : SOCK_MIN_RCVBUF;
				k->rcvbuf_lock = 1;
				sd__wake_all(s);
				break;
			}
			default: rc = -ENOPROTOOPT; break;
			}
		}
	} else if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		if ((rc = int_opt(v, l, &iv)) == 0 && (k->nodelay = iv != 0))
			sd__cork_push(s, k); /* tcp_sock_set_nodelay(): pushes, corked or not */
	} else if (level == IPPROTO_TCP && name == TCP_INQ) {
		rc = tcp_inq_opt(k, v, l, &iv);
	} else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && k->v6) {
		if ((rc = int_opt(v, l, &iv)) == 0) {
			if (k->bound)
				rc = -EINVAL;
			else
				k->v6only = iv != 0;
		}
	} else {
		rc = -ENOPROTOOPT;
	}
	TRACE(s, rc, "setsockopt(%d, %d, %d, %d)", fd, level, name, iv);
	return rc;
}

/* TCP_INFO as tcp_get_info() fills it, as far as the sim has the facts: the state (Linux's
 * numbering), and for a listener its accept queue and backlog; every other field is 0. */
static void tcp_info_of(const struct sd__sock *k, struct tcp_info *ti)
{
	static const unsigned char linux_state[] = {
		[T_CLOSE] = TCP_CLOSE,         [T_LISTEN] = TCP_LISTEN,
		[T_SYN_SENT] = TCP_SYN_SENT,   [T_ESTABLISHED] = TCP_ESTABLISHED,
		[T_FIN_WAIT2] = TCP_FIN_WAIT2, [T_CLOSE_WAIT] = TCP_CLOSE_WAIT,
		[T_TIME_WAIT] = TCP_TIME_WAIT,
	};
	memset(ti, 0, sizeof *ti);
	ti->tcpi_state = linux_state[k->st];
	if (k->st == T_LISTEN) {
		ti->tcpi_unacked = (unsigned)k->aq_len;
		ti->tcpi_sacked = (unsigned)k->backlog;
	}
}

static int sim_getsockopt(void *state, int fd, int level, int name, void *v, socklen_t *l)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc = 0, iv = 0;
	const void *src = &iv;
	size_t size = sizeof iv;
	struct timeval tv;
	struct linger lg;
	struct tcp_info ti;
	sd__enter(s);
	if (!(k = lookup(s, fd))) {
		rc = bad_fd(s, fd);
	} else if (!l || (int)*l < 0) {
		rc = -EINVAL;
	} else if (sd__opt_ours(level, name)) {
		iv = sd__opt_get(k, level, name);
	} else if (level == SOL_SOCKET) {
		switch (name) {
		case SO_ERROR:
			iv = k->err;
			k->err = 0;
			break;
		case SO_TYPE: iv = SOCK_STREAM; break;
		case SO_DOMAIN: iv = k->v6 ? AF_INET6 : AF_INET; break;
		case SO_PROTOCOL: iv = IPPROTO_TCP; break;
		case SO_ACCEPTCONN: iv = k->st == T_LISTEN; break;
		case SO_REUSEADDR: iv = k->reuseaddr; break;
		case SO_REUSEPORT: iv = k->reuseport; break;
		case SO_KEEPALIVE: iv = k->keepalive; break;
		case SO_PEEK_OFF:
			if (s->prof.tcp_peek_off)
				iv = k->peek_off;
			else
				rc = -EOPNOTSUPP; /* no set_peek_off in the ops (before 6.10) */
			break;
		case SO_SNDBUF: iv = k->sndbuf; break;
		case SO_RCVBUF: iv = k->rcvbuf; break;
		case SO_LINGER:
			lg.l_onoff = k->linger_on;
			lg.l_linger = k->linger_s;
			src = &lg, size = sizeof lg;
			break;
		case SO_RCVTIMEO:
		case SO_SNDTIMEO:
			tv = timeo_get(s, name == SO_RCVTIMEO ? k->rcvtimeo : k->sndtimeo);
			src = &tv, size = sizeof tv;
			break;
		default: rc = -ENOPROTOOPT; break;
		}
	} else if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		iv = k->nodelay;
	} else if (level == IPPROTO_TCP && name == TCP_INQ) {
		iv = k->recvmsg_inq;
	} else if (level == IPPROTO_TCP && name == TCP_INFO) {
		tcp_info_of(k, &ti);
		iv = ti.tcpi_state;
		src = &ti, size = sizeof ti;
	} else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && k->v6) {
		iv = k->v6only;
	} else if (!k->v6 && level != IPPROTO_IP && level != IPPROTO_TCP) {
		/* Linux (6.18, measured) answers getsockopt on an AF_INET socket at a level other
		 * than SOL_IP and SOL_TCP, IPV6_V6ONLY's included, with EOPNOTSUPP; setsockopt
		 * there says ENOPROTOOPT, as below */
		rc = -EOPNOTSUPP;
	} else {
		rc = -ENOPROTOOPT;
	}
	if (rc == 0) {
		size_t n = *l < size ? *l : size;
		if (v)
			memcpy(v, src, n);
		*l = (socklen_t)n;
	}
	TRACE(s, rc, "getsockopt(%d, %d, %d) -> %d", fd, level, name, iv);
	return rc;
}

static int sim_getname(void *state, int fd, struct sockaddr *a, socklen_t *len, int peer)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc = 0;
	sd__enter(s);
	if (!(k = lookup(s, fd)))
		rc = bad_fd(s, fd);
	else if (!len || (int)*len < 0)
		rc = -EINVAL;
	else if (peer && (k->st == T_CLOSE || k->st == T_SYN_SENT || k->st == T_LISTEN))
		rc = -ENOTCONN;
	else
		ep_to(k, peer ? &k->remote : &k->local, a, len);
	TRACE(s, rc, "%s(%d)", peer ? "getpeername" : "getsockname", fd);
	return rc;
}

static int sim_getsockname(void *state, int fd, struct sockaddr *a, socklen_t *len)
{
	return sim_getname(state, fd, a, len, 0);
}

static int sim_getpeername(void *state, int fd, struct sockaddr *a, socklen_t *len)
{
	return sim_getname(state, fd, a, len, 1);
}

static int poll_scan(struct sd__sim *s, struct pollfd *fds, nfds_t n)
{
	int ready = 0;
	for (nfds_t i = 0; i < n; i++) {
		struct sd__sock *k;
		fds[i].revents = 0;
		if (fds[i].fd < 0)
			continue;
		if (!(k = sd__slot(s, fds[i].fd)))
			fds[i].revents = POLLNVAL;
		else if (k->ep)
			fds[i].revents = (short)(sd__epoll_mask(s, k) & fds[i].events);
		else
			fds[i].revents =
				(short)(sd__poll_mask(s, k) & (fds[i].events | POLLERR | POLLHUP));
		ready += fds[i].revents != 0;
	}
	return ready;
}

static int sim_poll(void *state, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct sd__sim *s = state;
	int rc;
	sd__enter(s);
	if (n > (nfds_t)s->nofile) {
		rc = -EINVAL;
	} else {
		int64_t deadline = timeout_ms < 0 ? -1 : s->now + (int64_t)timeout_ms * 1000000;
		for (;;) {
			rc = poll_scan(s, fds, n);
			if (rc || timeout_ms == 0 || (deadline >= 0 && s->now >= deadline))
				break;
			enum sd__wake w = sd__park(s, "poll", deadline);
			if (w == W_DEADLOCK || w == W_INTR) {
				rc = w == W_INTR ? -EINTR : -EDEADLK;
				break;
			}
		}
	}
	TRACE(s, rc, "poll(%lu fds, %d ms)", (unsigned long)n, timeout_ms);
	return rc;
}

static int sim_set_nonblocking(void *state, int fd, int on)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc = 0;
	sd__enter(s);
	if (!(k = sd__slot(s, fd)))
		rc = -EBADF;
	else
		k->nonblock = on != 0; /* an epoll descriptor takes O_NONBLOCK too (fcntl) */
	TRACE(s, rc, "set_nonblocking(%d, %d)", fd, on);
	return rc;
}

static int sim_spawn(void *state, const char *name, void (*fn)(void *), void *arg)
{
	struct sd__sim *s = state;
	int rc = sd__spawn(s, name, fn, arg);
	TRACE(s, rc, "spawn(%s)", name ? name : "actor");
	return rc;
}

static int sim_join(void *state, int id)
{
	struct sd__sim *s = state;
	int rc = sd__join(s, id);
	TRACE(s, rc, "join(%d)", id);
	return rc;
}

static int sim_sleep_ns(void *state, int64_t ns)
{
	struct sd__sim *s = state;
	int rc = sd__sleep(s, ns);
	TRACE(s, rc, "sleep(%lld ns)", (long long)ns);
	return rc;
}

static int64_t sim_now_ns(void *state) { return ((struct sd__sim *)state)->now; }

/* sim_wake without the trace line; 0, -EINVAL or -EBADF. */
static int wake(struct sd__sim *s, int fd, short events)
{
	struct sd__sock *k;
	if (!events || (events & ~(POLLIN | POLLOUT)))
		return -EINVAL;
	if (!(k = lookup(s, fd)))
		return -EBADF;
	if (events & POLLIN)
		k->inseq++; /* an arrival for edge-triggered EPOLLIN entries (sim_epoll.c) */
	if (events & POLLOUT)
		sd__wake_writers(s, k);
	sd__wake_all(s);
	return 0;
}

/* No sd__enter: neither a scheduling point nor a draw, so a wrapper's wake leaves the run's
 * interleaving as it was. */
static int sim_wake(void *state, int fd, short events)
{
	struct sd__sim *s = state;
	if (fd < 0)
		return -EBADF; /* untraced: a caller asking whether the call is there */
	int rc = wake(s, fd, events);
	char ev[16];
	snprintf(ev, sizeof ev, "0x%x", (unsigned)(unsigned short)events);
	TRACE(s, rc, "wake(%d, %s)", fd,
	      events == POLLIN               ? "POLLIN"
	      : events == POLLOUT            ? "POLLOUT"
	      : events == (POLLIN | POLLOUT) ? "POLLIN|POLLOUT"
					     : ev);
	return rc;
}

static int sim_note(void *state, const char *text)
{
	struct sd__sim *s = state;
	if (!text || strchr(text, '\n'))
		return -EINVAL;
	if (s->tracing) {
		char line[512];
		snprintf(line, sizeof line, "%lld.%09lld %s %s\n", (long long)(s->now / 1000000000),
			 (long long)(s->now % 1000000000), s->cur->name, text);
		trace_line(s, line);
	}
	return 0;
}

const struct sd_ops sd_sim_ops = {
	.version = SD_OPS_VERSION,
	.name = "sim",
	.create = sim_create,
	.destroy = sim_destroy,
	.socket = sim_socket,
	.bind = sim_bind,
	.listen = sim_listen,
	.accept = sim_accept,
	.connect = sim_connect,
	.send = sim_send,
	.recv = sim_recv,
	.sendmsg = sim_sendmsg,
	.recvmsg = sim_recvmsg,
	.shutdown = sim_shutdown,
	.close = sim_close,
	.setsockopt = sim_setsockopt,
	.getsockopt = sim_getsockopt,
	.getsockname = sim_getsockname,
	.getpeername = sim_getpeername,
	.poll = sim_poll,
	.set_nonblocking = sim_set_nonblocking,
	.spawn = sim_spawn,
	.join = sim_join,
	.sleep_ns = sim_sleep_ns,
	.now_ns = sim_now_ns,
	.epoll_create = sd__sim_epoll_create,
	.epoll_ctl = sd__sim_epoll_ctl,
	.epoll_wait = sd__sim_epoll_wait,
	.wake = sim_wake,
	.note = sim_note,
	.dup = sim_dup,
	.dup3 = sim_dup3,
};

/* ---- sim-only API ----------------------------------------------------------------------- */

static struct sd__sim *as_sim(struct sd_net *net)
{
	return net && net->ops == &sd_sim_ops ? net->state : NULL;
}

int sd_sim_set_trace(struct sd_net *net, FILE *f)
{
	struct sd__sim *s = as_sim(net);
	if (!s)
		return -EINVAL;
	s->trace = f;
	s->tracing = 1;
	return 0;
}

uint64_t sd_sim_trace_hash(struct sd_net *net)
{
	struct sd__sim *s = as_sim(net);
	return s ? s->trace_hash : 0;
}

const char *sd_sim_deadlock_report(struct sd_net *net)
{
	struct sd__sim *s = as_sim(net);
	return s ? s->deadlock : NULL;
}

int sd_sim_profile_of(struct sd_net *net, struct sd_sim_profile *out)
{
	struct sd__sim *s = as_sim(net);
	if (!s || !out)
		return -EINVAL;
	*out = s->prof;
	return 0;
}

int sd_sim_one_role(struct sd_net *net)
{
	struct sd__sim *s = as_sim(net);
	return s ? s->one_role : -EINVAL;
}

int sd_sim_stats(struct sd_net *net, struct sd_sim_stats *out)
{
	struct sd__sim *s = as_sim(net);
	if (!s)
		return -EINVAL;
	out->calls = s->calls;
	out->sigpipes = s->sigpipes;
	out->now_ns = s->now;
	/* A slot an accept in progress holds is no descriptor yet (Linux allocates it when a
	 * connection is taken). */
	out->open_fds = out->listening = 0;
	for (int i = 0; i < s->nfds_cap; i++) {
		struct sd__sock *k = s->fds[i];
		if (!k || k == &reserved)
			continue;
		out->open_fds++;
		out->listening += k->st == T_LISTEN;
	}
	return 0;
}

int sd_sim_set_segment(struct sd_net *net, int fd, int segment)
{
	struct sd__sim *s = as_sim(net);
	struct sd__sock *k;
	if (!s)
		return -EOPNOTSUPP;
	if (segment < -1 || segment > (1 << 20))
		return -EINVAL;
	if (!(k = lookup(s, fd)))
		return -EBADF;
	if (k->ep)
		return -ENOTSOCK;
	k->rx_segment_own = segment >= 0;
	k->rx_segment = segment;
	return 0;
}

int sd_sim_listening(struct sd_net *net, const struct sockaddr *a, socklen_t len)
{
	struct sd__sim *s = as_sim(net);
	if (!s)
		return -EOPNOTSUPP;
	struct sd__sock as = {.v6 = a && a->sa_family == AF_INET6}; /* a connect from that family */
	struct sd__ep ep;
	int rc = ep_from(&as, a, len, &ep);
	if (rc < 0)
		return rc;
	return ep.port ? sd__listeners_for(s, &ep) : -EINVAL;
}

long sd_sim_queued(struct sd_net *net, int fd, int outq)
{
	struct sd__sim *s = as_sim(net);
	struct sd__sock *k;
	if (!s)
		return -EOPNOTSUPP;
	if (!(k = lookup(s, fd)))
		return -EBADF;
	if (k->st == T_LISTEN)
		return -EINVAL;
	if (k->st == T_SYN_SENT)
		return 0;
	if (!outq)
		return (long)sd__arrived(s, k);
	/* what the peer holds past its receive buffer is, for Linux, still in our send queue */
	const struct sd__sock *p = k->peer;
	if (!p)
		return 0;
	size_t got = sd__arrived(s, p);
	if (got > (size_t)p->rcvbuf)
		got = (size_t)p->rcvbuf;
	return (long)(p->in_bytes - got);
}

int sd_sim_wake_readers(struct sd_net *net, int fd)
{
	struct sd__sim *s = as_sim(net);
	return s ? wake(s, fd, POLLIN) : -EOPNOTSUPP;
}
