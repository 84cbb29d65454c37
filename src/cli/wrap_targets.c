/* sockdrill CLI: wrap's summary says when a fault's target kept it from ever firing. */
#include <stdio.h>

#include "wrap_targets.h"

/*
 * Only what the counts prove is said: a connection never numbered, a window that begins after
 * the run ended (every process's clock starts after wrap's), no call after the @after'th.
 * Each bound is an upper one (the highest ordinal, call number or count any process saw), so
 * a warning is never wrong; a target that merely made the fault unlikely is not judged.
 */

#define ORD_MASK ((1ull << 56) - 1)
/* The ops whose calls have no connection: numbered per process and op. */
#define CONNLESS (1u << SD_OP_SOCKET | 1u << SD_OP_EPOLL | 1u << SD_OP_RESOLVE)

static const char role_letter[SD_STATS_ROLES] = {'?', 'a', 'c', 'l', 's'};
static const char *const role_done[SD_STATS_ROLES] = {"", "accepted", "connected", "listened on",
						      "made"};
static const char *const connless_name[SD_STATS_OPS] = {
	[SD_OP_SOCKET] = "socket", [SD_OP_EPOLL] = "epoll_create", [SD_OP_RESOLVE] = "getaddrinfo"};

static double secs(int64_t ns) { return (double)ns / 1e9; }

/* The highest call number any process saw that kind k's @after could pass: on its named
 * connection, else on any connection (if k touches calls with one), and the count of each op
 * without one in a process (its calls are numbered by that count). */
static uint64_t most_calls(int k, unsigned ops, const struct sd_fault_spec *sp,
			   const struct sd_stats_file *st)
{
	uint64_t most = 0;
	for (int i = 0; i < SD_STATS_SLOTS && st->slots[i].pid; i++) {
		const struct sd_stats_slot *s = &st->slots[i];
		uint64_t m = sp->target[k].conn ? s->named_calls[k]
			     : ops & ~CONNLESS  ? s->call_max
						: 0;
		for (int op = 0; op < SD_STATS_OPS && !sp->target[k].conn; op++)
			if (ops & CONNLESS & 1u << op && s->calls[op][0] + s->calls[op][1] > m)
				m = s->calls[op][0] + s->calls[op][1];
		most = m > most ? m : most;
	}
	return most;
}

const char *sd__wrap_target_never(int k, const struct sd_fault_spec *sp,
				  const struct sd_stats_file *st, int64_t elapsed_ns, char *buf,
				  size_t size)
{
	const struct sd_fault_target *g = &sp->target[k];
	unsigned ops = sd_fault_kind_ops(k) & (g->ops ? g->ops : ~0u);
	if (k < 0 || k >= SD_STATS_FK || st->lost) /* processes not counted: nothing is proven */
		return NULL;
	unsigned role = (unsigned)(g->conn >> 56);
	char id[32] = "";
	if (g->conn && role < SD_STATS_ROLES) {
		uint64_t n = g->conn & ORD_MASK, most = 0;
		snprintf(id, sizeof id, "%c%llu", role_letter[role], (unsigned long long)n);
		for (int i = 0; i < SD_STATS_SLOTS && st->slots[i].pid; i++)
			most = st->slots[i].conn_max[role] > most ? st->slots[i].conn_max[role]
								  : most;
		if (most < n) {
			if (most)
				snprintf(buf, size,
					 "@conn=%s names a connection the program never had (its "
					 "processes %s %llu at most)",
					 id, role_done[role], (unsigned long long)most);
			else
				snprintf(buf, size,
					 "@conn=%s names a connection the program never had (it %s "
					 "none)",
					 id, role_done[role]);
			return buf;
		}
	}
	if (g->to_ns && g->from_ns >= elapsed_ns) {
		snprintf(buf, size,
			 "@window= begins %.3g s after the start, and the run lasted %.3g s",
			 secs(g->from_ns), secs(elapsed_ns));
		return buf;
	}
	if (g->after) {
		uint64_t most = most_calls(k, ops, sp, st);
		if (most > g->after)
			return NULL;
		const char *what = NULL;
		for (int op = 0; op < SD_STATS_OPS; op++)
			if (ops & CONNLESS & 1u << op)
				what = what ? "such" : connless_name[op];
		if (g->conn)
			snprintf(buf, size,
				 "@after=%llu: %s never had more than %llu calls (it had %llu)",
				 (unsigned long long)g->after, id, (unsigned long long)g->after,
				 (unsigned long long)most);
		else if (!(ops & ~CONNLESS))
			snprintf(buf, size,
				 "@after=%llu: no process made more than %llu %s calls (the most "
				 "was "
				 "%llu)",
				 (unsigned long long)g->after, (unsigned long long)g->after, what,
				 (unsigned long long)most);
		else
			snprintf(buf, size,
				 "@after=%llu: no connection had more than %llu calls%s (the most "
				 "was "
				 "%llu)",
				 (unsigned long long)g->after, (unsigned long long)g->after,
				 ops & CONNLESS ? ", nor any process that many calls without one"
						: "",
				 (unsigned long long)most);
		return buf;
	}
	return NULL;
}
