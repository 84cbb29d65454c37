/* sockdrill wrap: the end-of-run summary, from the counts the preload keeps in a shared file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/fault.h>

#include "../interpose/preload_stats.h"
#include "../util/util.h"
#include "proc.h"
#include "wrap.h"
#include "wrap_targets.h"

/*
 * The end-of-run summary. The preload counts, per process, the socket calls it saw and the
 * faults it injected in a file shared with us (src/interpose/preload_stats.h); once the program
 * has ended, the summary says what happened by pid, kind and op, and warns when a fault that
 * was asked for could never have fired, or none fired at all.
 */
static const char *const op_names[SD_STATS_OPS] = {
	"read", "write", "accept", "connect", "socket", "close", "epoll_create", "getaddrinfo"};

static int64_t run_start_ns; /* before the program started: a window is judged by it */

/* Removes the counts file and the directory it was made in; path becomes "". */
static void stats_remove(char *path)
{
	char *slash = strrchr(path, '/');
	unlink(path);
	if (slash) {
		*slash = 0;
		rmdir(path);
	}
	path[0] = 0;
}

/* Creates the counts file and names it in SOCKDRILL_STATS; 0, or -1 (no summary: the program
 * runs all the same). Each program image maps it again by that name, also one exec'd as
 * another user (`setpriv`, `su`: postgres run so): the file is mode 0666, under a random name
 * in a directory of its own in $TMPDIR, mode 0711, which no one can list, so only processes
 * given the name through their environment can open it. */
int sd__wrap_stats_create(char *path, size_t size)
{
	static const char leaf[] = "/counts-XXXXXX";
	run_start_ns = sd__mono_ns();
	struct sd_stats_file *st = NULL;
	int n = snprintf(path, size, "%s/sockdrill-stats-XXXXXX", sd__proc_tmpdir());
	if (n < 0 || (size_t)n + sizeof leaf > size || !mkdtemp(path)) {
		path[0] = 0;
		return -1;
	}
	if (chmod(path, 0711) < 0) { /* mkdtemp's 0700 would keep another user out */
		rmdir(path);
		path[0] = 0;
		return -1;
	}
	strcat(path, leaf);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		stats_remove(path);
		return -1;
	}
	if (fchmod(fd, 0666) == 0 && ftruncate(fd, sizeof *st) == 0 &&
	    (st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) !=
		    MAP_FAILED) {
		st->magic = SD_STATS_MAGIC;
		munmap(st, sizeof *st);
		close(fd);
		setenv("SOCKDRILL_STATS", path, 1);
		return 0;
	}
	close(fd);
	stats_remove(path);
	return -1;
}

/* What a kind could fire on in this run: the ops of the fault core's table, narrowed by the
 * kind's `@op=` target. */
static unsigned kind_ops(int k, const struct sd_fault_spec *sp)
{
	unsigned ops = sd_fault_kind_ops(k);
	return sp->target[k].ops ? ops & sp->target[k].ops : ops;
}

/* Calls that kind k could have been injected into, from the counts: calls of its ops, as the
 * decisions on the kernel's sockets allow (docs/faults.md, "What a kernel could do"). calls:
 * [op][1] blocking, [op][0] non-blocking; spared[op]: non-blocking ones no EAGAIN may refuse,
 * the first after a wait. The other targets are judged apart (wrap_targets.c). */
static unsigned long long eligible(int k, const struct sd_fault_spec *sp,
				   const unsigned long long calls[SD_STATS_OPS][2],
				   const unsigned long long spared[SD_STATS_OPS])
{
	unsigned ops = kind_ops(k, sp);
	int lt = sp->level_triggered; /* non-blocking calls get eagain and short calls only then */
	unsigned long long n = 0;
	for (int op = 0; op < SD_STATS_OPS; op++) {
		if (!(ops & 1u << op))
			continue;
		if (k == SD_FK_EINTR)
			n += calls[op][1];
		else if (k == SD_FK_EAGAIN)
			n += lt && calls[op][0] > spared[op] ? calls[op][0] - spared[op] : 0;
		else if (k == SD_FK_SHORT_READ || k == SD_FK_SHORT_WRITE)
			n += calls[op][1] + (lt ? calls[op][0] : 0);
		else
			n += calls[op][0] + calls[op][1];
	}
	return n;
}

/* "read or write": the summary's names of ops, into buf. */
static const char *ops_text(unsigned ops, char *buf, size_t size)
{
	size_t o = 0;
	int n = __builtin_popcount(ops), i = 0;
	buf[0] = 0;
	for (int op = 0; op < SD_STATS_OPS && o < size; op++)
		if (ops & 1u << op)
			o += (size_t)snprintf(buf + o, size - o, "%s%s",
					      !i++     ? ""
					      : i == n ? " or "
						       : ", ",
					      op_names[op]);
	return buf;
}

/* Why kind k could not fire, for the warning (buf: room for the ops' names). */
static const char *why_never(int k, const struct sd_fault_spec *sp,
			     const unsigned long long calls[SD_STATS_OPS][2], char *buf,
			     size_t size)
{
	unsigned ops = kind_ops(k, sp);
	unsigned long long nonblocking = 0;
	char names[128];
	for (int op = 0; op < SD_STATS_OPS; op++)
		if (ops & 1u << op)
			nonblocking += calls[op][0];
	if (k == SD_FK_EAGAIN && !sp->level_triggered)
		return "on the kernel's sockets it is injected only with level-triggered "
		       "(docs/faults.md)";
	if (k == SD_FK_EAGAIN && nonblocking)
		return "it comes only in the middle of a read, write or accept loop once the "
		       "program's waits are seen, and the program makes one call per wait: a "
		       "kernel "
		       "refuses none of them (docs/faults.md)";
	if (sp->target[k].ops) {
		int lt = sp->level_triggered;
		snprintf(buf, size, "the program made no %s%s call (what @op= aims it at)",
			 k == SD_FK_EINTR    ? "blocking "
			 : k == SD_FK_EAGAIN ? "non-blocking "
			 : (k == SD_FK_SHORT_READ || k == SD_FK_SHORT_WRITE) && !lt ? "blocking "
										    : "",
			 ops_text(ops, names, sizeof names));
		return buf;
	}
	if (k == SD_FK_EINTR)
		return "the program made no blocking socket call (an event loop: try eagain with "
		       "level-triggered)";
	if (k == SD_FK_EAGAIN)
		return "the program made no non-blocking read, write or accept";
	if (k == SD_FK_SHORT_READ || k == SD_FK_SHORT_WRITE)
		return sp->level_triggered ? "the program made no such call"
					   : "the program made no blocking such call (non-blocking "
					     "ones get it only with level-triggered)";
	if (k < SD_FK_EPIPE) /* the first kinds keep their words */
		return "the program made no socket call it applies to";
	snprintf(buf, size, "the program made no %s call", ops_text(ops, names, sizeof names));
	return buf;
}

/* Whether any process injected kind k. */
static int fired(const struct sd_stats_file *st, int k)
{
	const char *name = sd_fault_kind_name(k);
	for (int j = 0; j < SD_STATS_KINDS; j++) {
		const struct sd_stats_kind *kind = &st->kinds[j];
		if (kind->state != 2 || strncmp(kind->name, name, sizeof kind->name))
			continue;
		for (int i = 0; i < SD_STATS_SLOTS && st->slots[i].pid; i++)
			for (int op = 0; op < SD_STATS_OPS; op++)
				if (st->slots[i].faults[j][op])
					return 1;
	}
	return 0;
}

/* Process i's line of the summary into line (the counts of st): its faults by kind and op,
 * its calls; its calls are added to calls and spared. The number of faults it injected. */
static unsigned long long slot_line(const struct sd_stats_file *st, int i,
				    unsigned long long calls[SD_STATS_OPS][2],
				    unsigned long long spared[SD_STATS_OPS], char *line,
				    size_t size)
{
	const struct sd_stats_slot *s = &st->slots[i];
	unsigned long long mine = 0;
	size_t o = 0;
	for (int op = 0; op < SD_STATS_OPS; op++) {
		for (int b = 0; b < 2; b++)
			calls[op][b] += s->calls[op][b];
		spared[op] += s->spared[op];
	}
	o += (size_t)snprintf(line + o, size - o, "  pid %d", s->pid);
	if (i > 0)
		o += (size_t)snprintf(line + o, size - o, " (parent %d)", s->ppid);
	o += (size_t)snprintf(line + o, size - o, ":");
	for (int k = 0; k < SD_STATS_KINDS && o < size - 64; k++)
		for (int op = 0; op < SD_STATS_OPS && o < size - 64; op++)
			if (s->faults[k][op] && st->kinds[k].state == 2) {
				o += (size_t)snprintf(
					line + o, size - o, "%s %.*s %s %llu", mine ? "," : "",
					(int)sizeof st->kinds[k].name, st->kinds[k].name,
					op_names[op], (unsigned long long)s->faults[k][op]);
				mine += s->faults[k][op];
			}
	if (!mine)
		o += (size_t)snprintf(line + o, size - o, " no fault");
	o += (size_t)snprintf(line + o, size - o, "; calls");
	for (int op = 0; op < SD_STATS_OPS && o < size - 64; op++)
		/* socket, close, epoll_create, getaddrinfo only once decided */
		if (op <= SD_OP_CONNECT || s->calls[op][0] || s->calls[op][1])
			o += (size_t)snprintf(line + o, size - o, " %s %llu+%llu", op_names[op],
					      (unsigned long long)s->calls[op][1],
					      (unsigned long long)s->calls[op][0]);
	if (s->unlogged && o < size - 64)
		o += (size_t)snprintf(line + o, size - o,
				      "; %llu not logged (the log could not be checked)",
				      (unsigned long long)s->unlogged);
	if (s->capped && o < size - 64)
		snprintf(line + o, size - o, "; %llu after the log cap",
			 (unsigned long long)s->capped);
	return mine;
}

/* The summary's closing lines: the total, what the log cap left out, and a warning for each
 * asked kind that could never fire, or when nothing fired at all. */
static void summary_end(const struct sd_stats_file *st, const struct sd_fault_spec *sp,
			const unsigned long long calls[SD_STATS_OPS][2],
			const unsigned long long spared[SD_STATS_OPS], unsigned long long total,
			unsigned long long capped, int procs, uint64_t logmax)
{
	fprintf(stderr, "sockdrill wrap: %llu fault%s in %d process%s\n", total,
		total == 1 ? "" : "s", procs, procs == 1 ? "" : "es");
	if (st->lost)
		fprintf(stderr, "sockdrill wrap: %u more processes were not counted (%d at most)\n",
			st->lost, SD_STATS_SLOTS);
	if (st->capped)
		fprintf(stderr,
			"sockdrill wrap: the log reached --log-max %llu bytes: %llu later faults "
			"are "
			"counted here, not logged\n",
			(unsigned long long)logmax, capped);
	/* the spec's kinds, in the fault core's order: by their ops, then targets */
	for (int k = 0; k < SD_FK_KINDS; k++) {
		char why[192];
		const char *t = NULL;
		if (!sd_fault_kind_asked(sp, k))
			continue;
		if (!eligible(k, sp, calls, spared))
			t = why_never(k, sp, calls, why, sizeof why);
		else if (!fired(st, k))
			t = sd__wrap_target_never(k, sp, st, sd__mono_ns() - run_start_ns, why,
						  sizeof why);
		if (t)
			fprintf(stderr, "sockdrill wrap: warning: %s could never fire: %s\n",
				sd_fault_kind_name(k), t);
	}
	unsigned long long seen = 0;
	for (int op = 0; op < SD_STATS_OPS; op++)
		seen += calls[op][0] + calls[op][1];
	if (!total && sd_fault_active(sp))
		fprintf(stderr,
			"sockdrill wrap: warning: no fault was injected although faults were "
			"asked: "
			"%s\n",
			seen ? "none of the program's socket calls qualified (see the calls above)"
			     : "the preload saw no TCP socket of the program's own (sockets "
			       "inherited "
			       "from a parent, only UDP or Unix sockets, or a statically linked "
			       "program)");
}

void sd__wrap_stats_report(char *path, const struct sd_fault_spec *sp, const char *logpath,
			   uint64_t logmax, int quiet)
{
	if (!path[0])
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct sd_stats_file *st = MAP_FAILED;
	if (fd >= 0) {
		st = mmap(NULL, sizeof *st, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
	}
	stats_remove(path);
	if (st == MAP_FAILED)
		return;
	unsigned long long calls[SD_STATS_OPS][2] = {{0}}, spared[SD_STATS_OPS] = {0}, total = 0,
			   capped = 0;
	int procs = 0;
	for (int i = 0; i < SD_STATS_SLOTS && st->slots[i].pid; i++) {
		char line[2048];
		total += slot_line(st, i, calls, spared, line, sizeof line);
		capped += st->slots[i].capped;
		procs++;
		if (!quiet)
			fprintf(stderr, "%s%s\n",
				procs == 1 ? "sockdrill wrap: faults by pid, kind and op (calls: "
					     "blocking+non-blocking):\n"
					   : "",
				line);
	}
	if (st->capped && logpath) {
		/* the log's last line: wrap alone knows how many faults came after the cap */
		FILE *lf = fopen(logpath, "a");
		if (lf) {
			fprintf(lf,
				"{\"truncated\":true,\"log_max\":%llu,\"faults_not_logged\":%llu}"
				"\n",
				(unsigned long long)logmax, capped);
			fclose(lf);
		}
	}
	if (!quiet)
		summary_end(st, sp, (const unsigned long long(*)[2])calls, spared, total, capped,
			    procs, logmax);
	munmap(st, sizeof *st);
}
