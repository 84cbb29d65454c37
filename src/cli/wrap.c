/* sockdrill wrap: a program under libsockdrill_preload.so, optionally checked by scenarios. */
#include <arpa/inet.h>
#include <elf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/fault.h>
#include <sockdrill/scenario.h>
#include <sockdrill/sockdrill.h>

#include "cli.h"
#include "libc/preload_stats.h"
#include "proc.h"
#include "wrap_record.h"
#include "wrap_targets.h"

static const char wrap_help[] =
	"usage: sockdrill wrap [--faults SPEC] [--seed N] [--log FILE] [--log-max BYTES]\n"
	"                      [--inherited] [--run SCENARIO]... [--timeout S]\n"
	"                      [--pidfile FILE] [--record FILE] [--quiet] -- CMD [ARGS...]\n\n"
	"Runs CMD with libsockdrill_preload.so, which injects faults into the TCP sockets CMD\n"
	"creates (docs/faults.md). {port} in ARGS becomes a free loopback port. Without --run,\n"
	"sockdrill waits for CMD (in a process group of its own; SIGINT and SIGTERM are passed on)\n"
	"and exits with its status. With --run, sockdrill waits until CMD listens on\n"
	"127.0.0.1:{port} (read from /proc/net/tcp: no probe connection), runs each scenario\n"
	"against it ($TARGET_PORT is the port), then stops CMD (SIGTERM to its process group,\n"
	"SIGKILL after 10 s). A CMD that daemonizes (exits 0, leaving a descendant that listens)\n"
	"is followed: sockdrill is a child subreaper, runs the scenarios against the daemon and\n"
	"stops every process of it left, by pid, at the end. A crash, a sanitizer report or a\n"
	"failed step is a finding (exit 1) printed with the command that reproduces it. SIGINT or\n"
	"SIGTERM to sockdrill is passed on to CMD (and a followed daemon) the same way, then\n"
	"sockdrill exits 130 or 143. CMD's stderr is kept in $TMPDIR (default /tmp). With faults,\n"
	"a summary goes to stderr at the end: faults by pid, kind and op, and a warning for a\n"
	"fault that could never fire.\n\n"
	"  --faults SPEC    e.g. short-read=1,short-write=1,eintr=0.05,scope=accepted (default:\n"
	"                   the --run files' 'set server-faults', which must then agree); aimed\n"
	"                   with @conn=a2, @after=N, @for=M, @op=read|write, @window=1s-5s\n"
	"  --seed N         seed of the fault decisions (default: their 'set server-seed', else 1)\n"
	"  --log FILE       one JSON line per injected fault (appended; checked before CMD starts)\n"
	"  --log-max BYTES  cap on what the log grows by (default 67108864, 0: no cap); later\n"
	"                   faults are counted in the summary and in the log's last line\n"
	"  --inherited      also fault the TCP sockets CMD starts with (inherited from its parent:\n"
	"                   sshd's re-exec, inetd, systemd's LISTEN_FDS): listeners get l ids,\n"
	"                   connected ones a ids\n"
	"  --run FILE       a scenario file to run against CMD; repeatable, at most 64\n"
	"  --timeout S      how long CMD may take to start listening (default 10)\n"
	"  --pidfile FILE   with --run: where CMD writes the server's pid; once the port is up,\n"
	"                   the process it names (a descendant of CMD) is the server\n"
	"  --quiet          no end-of-run summary\n"
	"  --record FILE    write what real clients did to CMD as a scenario once CMD ends (stop\n"
	"                   it with Ctrl-C): replay it with --run FILE (docs/scenarios.md)\n"
	"Exit: CMD's own status without --run (128 + N when signal N ended it); with --run 0\n"
	"clean, 1 a finding, 2 bad input, 130/143 stopped by SIGINT/SIGTERM.\n";

/* The program file for argv0 (a path, or searched in PATH). */
static int resolve(const char *argv0, char *out, size_t size)
{
	if (strchr(argv0, '/')) {
		snprintf(out, size, "%s", argv0);
		return access(out, X_OK) == 0 ? 0 : -1;
	}
	const char *path = getenv("PATH");
	char buf[8192];
	snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		int n = snprintf(out, size, "%s/%s", *d ? d : ".", argv0);
		struct stat st;
		if (n > 0 && (size_t)n < size && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* 1 for an ELF program without an interpreter (static), 0 for dynamic or not ELF. */
static int is_static_elf(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	int dynamic = 0, elf = 0;
	if (fd < 0)
		return 0;
	if (read(fd, &eh, sizeof eh) == (ssize_t)sizeof eh &&
	    !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 256) {
		elf = 1;
		for (int i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof ph,
				  (off_t)(eh.e_phoff + (size_t)i * sizeof ph)) !=
			    (ssize_t)sizeof ph)
				break;
			dynamic |= ph.p_type == PT_INTERP;
		}
	}
	close(fd);
	return elf && !dynamic;
}

/* A program built with gcc's ASan needs its runtime first in LD_PRELOAD, before ours. Its
 * DT_NEEDED name ("libasan.so.8") stands in .dynstr; finding the text is enough to ask. */
static int asan_runtime(const char *prog, char *out, size_t size)
{
	FILE *f = fopen(prog, "rb");
	char buf[65536 + 32], name[32] = "";
	size_t keep = 0, n;
	if (!f)
		return -1;
	while (!name[0] && (n = fread(buf + keep, 1, sizeof buf - 32 - keep, f)) > 0) {
		size_t len = keep + n;
		for (size_t i = 0; i + 13 < len; i++)
			if (!memcmp(buf + i, "libasan.so.", 11) && buf[i + 11] >= '0' &&
			    buf[i + 11] <= '9') {
				size_t j = i + 11;
				while (j < len && j - i < sizeof name - 1 && buf[j] >= '0' &&
				       buf[j] <= '9')
					j++;
				memcpy(name, buf + i, j - i);
				name[j - i] = 0;
				break;
			}
		keep = len < 16 ? len : 16; /* a name cut between two reads */
		memmove(buf, buf + len - keep, keep);
	}
	fclose(f);
	if (!name[0])
		return -1;
	const char *const dirs[] = {"/usr/lib/x86_64-linux-gnu",
				    "/lib/x86_64-linux-gnu",
				    "/usr/lib64",
				    "/usr/lib",
				    "/lib64",
				    "/lib"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		int k = snprintf(out, size, "%s/%s", dirs[i], name);
		if (k > 0 && (size_t)k < size && access(out, R_OK) == 0)
			return 0;
	}
	return -1;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof a;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* One /proc/net/tcp{,6} line's local address: whether a connection to 127.0.0.1 reaches it
 * (127.0.0.1, 0.0.0.0, ::, ::ffff:127.0.0.1; not ::1, which 127.0.0.1 never reaches). The
 * kernel prints each 32-bit word of the address in memory order as one hex number. */
static int reaches_loopback(const char *hex)
{
	size_t len = strlen(hex);
	uint32_t w[4] = {0};
	if (len != 8 && len != 32)
		return 0;
	for (size_t i = 0; i < len / 8; i++) {
		char part[9];
		memcpy(part, hex + 8 * i, 8);
		part[8] = 0;
		w[i] = (uint32_t)strtoul(part, NULL, 16);
	}
	if (len == 8) {
		struct in_addr a;
		memcpy(&a, w, sizeof a);
		return a.s_addr == htonl(INADDR_LOOPBACK) || a.s_addr == htonl(INADDR_ANY);
	}
	struct in6_addr a6;
	memcpy(&a6, w, sizeof a6);
	uint32_t v4;
	memcpy(&v4, a6.s6_addr + 12, sizeof v4);
	return IN6_IS_ADDR_UNSPECIFIED(&a6) ||
	       (IN6_IS_ADDR_V4MAPPED(&a6) && (v4 == htonl(INADDR_LOOPBACK) || v4 == 0));
}

/* Whether a socket listens where a client of 127.0.0.1:port gets to, read from /proc/net/tcp
 * and tcp6, not by connecting: a probe connection would be the server's first client (its
 * faults, its connection number). The socket's inode in *inode. */
static int listening(int port, unsigned long *inode)
{
	static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	int found = 0;
	for (size_t t = 0; t < 2 && !found; t++) {
		FILE *f = fopen(tables[t], "re");
		char line[512], addr[40];
		unsigned lport, state;
		if (!f)
			continue;
		if (!fgets(line, sizeof line, f)) /* the header */
			line[0] = 0;
		while (!found && fgets(line, sizeof line, f))
			found = sscanf(line,
				       " %*s %39[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %lu",
				       addr, &lport, &state, inode) == 4 &&
				state == 0x0A && (int)lport == port && reaches_loopback(addr);
		fclose(f);
	}
	return found;
}

/* A descendant of ours holding the socket of that inode: its pid, 0 for none, -1 when some
 * descendant's descriptors could not be read (another user's: then it may be one). */
static pid_t socket_owner(unsigned long inode)
{
	char want[48], path[64], link[64];
	int unreadable = 0;
	pid_t owner = 0;
	DIR *d = opendir("/proc");
	snprintf(want, sizeof want, "socket:[%lu]", inode);
	for (struct dirent *e; d && !owner && (e = readdir(d)) != NULL;) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || !sd__proc_is_descendant((pid_t)pid))
			continue;
		snprintf(path, sizeof path, "/proc/%ld/fd", pid);
		DIR *fds = opendir(path);
		unreadable |= !fds;
		for (struct dirent *g; fds && !owner && (g = readdir(fds)) != NULL;) {
			snprintf(path, sizeof path, "/proc/%ld/fd/%.20s", pid, g->d_name);
			ssize_t n = readlink(path, link, sizeof link - 1);
			if (n > 0 && (link[n] = 0, !strcmp(link, want)))
				owner = (pid_t)pid;
		}
		if (fds)
			closedir(fds);
	}
	if (d)
		closedir(d);
	return owner ? owner : unreadable ? -1 : 0;
}

/* The pid a --pidfile names (decimal, then a newline or nothing), or -1. */
static pid_t read_pidfile(const char *path)
{
	char buf[32], *end;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	long pid = strtol(buf, &end, 10);
	return pid > 1 && pid < INT_MAX && end != buf && (!*end || *end == '\n') ? (pid_t)pid : -1;
}

/* The child of ours that pid descends from (pid itself when it is one), or 0. */
static pid_t our_child(pid_t pid)
{
	char path[64], buf[512];
	for (int depth = 0; pid > 1 && depth < 64; depth++) {
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
		FILE *f = fopen(path, "re");
		char *p = f && fgets(buf, sizeof buf, f) ? strrchr(buf, ')') : NULL;
		long ppid = p ? strtol(p + 4, NULL, 10) : -1;
		if (f)
			fclose(f);
		if (ppid == getpid())
			return pid;
		pid = (pid_t)ppid;
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int found = 0;
	while (f && !found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

static void print_file(const char *path, const char *prefix, int max_lines)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	for (int n = 0; f && n < max_lines && fgets(line, sizeof line, f); n++)
		printf("%s%s", prefix, line);
	if (f)
		fclose(f);
}

/* The files' 'set server-faults' and 'set server-seed' for CMD, where the command line gave
 * none (faults or seed NULL): one server takes one spec and one seed, so the files that state
 * one must agree. 0, or -1 with the message printed. */
static int server_settings(const char *const runs[], struct sd_scenario *const scs[], int n,
			   const char **faults, struct sd_fault_spec *spec, uint64_t *seed)
{
	int from_f = -1, from_s = -1;
	for (int i = 0; i < n; i++) {
		const char *f = faults ? sd_scenario_server_faults(scs[i]) : NULL;
		uint64_t s = 0;
		int has_s = seed && sd_scenario_server_seed(scs[i], &s);
		const char *what = NULL;
		int first = -1;
		if (f && from_f >= 0 && strcmp(f, *faults))
			what = "faults", first = from_f;
		else if (has_s && from_s >= 0 && s != *seed)
			what = "seed", first = from_s;
		if (what) {
			sd__usage_error(
				"wrap",
				"--run %s and %s set a different server-%s (one server: give "
				"--%s)",
				runs[first], runs[i], what, what);
			return -1;
		}
		if (f && from_f < 0) /* parsed when the file was loaded */
			*faults = f, *spec = *sd_scenario_server_fault_spec(scs[i]), from_f = i;
		if (has_s && from_s < 0)
			*seed = s, from_s = i;
	}
	return 0;
}

static void reproduce(int argc, char **argv)
{
	printf("reproduce: ./sockdrill");
	for (int i = 0; i < argc; i++) {
		int plain = strspn(argv[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789-_./=,:{}@%+") == strlen(argv[i]);
		printf(plain && *argv[i] ? " %s" : " '%s'", argv[i]);
	}
	printf("\n");
}

/*
 * The end-of-run summary. The preload counts, per process, the socket calls it saw and the
 * faults it injected in a file shared with us (harness/libc/preload_stats.h); once the program
 * has ended, the summary says what happened by pid, kind and op, and warns when a fault that
 * was asked for could never have fired, or none fired at all.
 */
static const char *const op_names[SD_STATS_OPS] = {"read",   "write", "accept",       "connect",
						   "socket", "close", "epoll_create", "getaddrinfo"};

static int64_t run_start_ns; /* before the program started: a window is judged by it */

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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
static int stats_create(char *path, size_t size)
{
	static const char leaf[] = "/counts-XXXXXX";
	run_start_ns = mono_ns();
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
	    (st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) != MAP_FAILED) {
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
					      !i++ ? "" : i == n ? " or " : ", ", op_names[op]);
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
		       "program's waits are seen, and the program makes one call per wait: a kernel "
		       "refuses none of them (docs/faults.md)";
	if (sp->target[k].ops) {
		int lt = sp->level_triggered;
		snprintf(buf, size, "the program made no %s%s call (what @op= aims it at)",
			 k == SD_FK_EINTR ? "blocking "
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
	snprintf(buf, size, "the program made no %s call",
		 ops_text(ops, names, sizeof names));
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

/* Prints the summary on stderr (unless quiet), appends the log's last line when it reached
 * its cap, and removes the counts file. Called once the program (and all it started) ended. */
static void stats_report(char *path, const struct sd_fault_spec *sp, const char *logpath,
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
		const struct sd_stats_slot *s = &st->slots[i];
		unsigned long long mine = 0;
		char line[2048];
		size_t o = 0;
		procs++;
		for (int op = 0; op < SD_STATS_OPS; op++) {
			for (int b = 0; b < 2; b++)
				calls[op][b] += s->calls[op][b];
			spared[op] += s->spared[op];
		}
		o += (size_t)snprintf(line + o, sizeof line - o, "  pid %d", s->pid);
		if (i > 0)
			o += (size_t)snprintf(line + o, sizeof line - o, " (parent %d)", s->ppid);
		o += (size_t)snprintf(line + o, sizeof line - o, ":");
		for (int k = 0; k < SD_STATS_KINDS && o < sizeof line - 64; k++)
			for (int op = 0; op < SD_STATS_OPS && o < sizeof line - 64; op++)
				if (s->faults[k][op] && st->kinds[k].state == 2) {
					o += (size_t)snprintf(line + o, sizeof line - o,
							      "%s %.*s %s %llu", mine ? "," : "",
							      (int)sizeof st->kinds[k].name,
							      st->kinds[k].name, op_names[op],
							      (unsigned long long)s->faults[k][op]);
					mine += s->faults[k][op];
				}
		if (!mine)
			o += (size_t)snprintf(line + o, sizeof line - o, " no fault");
		o += (size_t)snprintf(line + o, sizeof line - o, "; calls");
		for (int op = 0; op < SD_STATS_OPS && o < sizeof line - 64; op++)
			/* socket, close, epoll_create, getaddrinfo only once decided */
			if (op <= SD_OP_CONNECT || s->calls[op][0] || s->calls[op][1])
				o += (size_t)snprintf(line + o, sizeof line - o, " %s %llu+%llu",
						      op_names[op],
						      (unsigned long long)s->calls[op][1],
						      (unsigned long long)s->calls[op][0]);
		if (s->unlogged && o < sizeof line - 64)
			o += (size_t)snprintf(line + o, sizeof line - o,
					      "; %llu not logged (the log could not be checked)",
					      (unsigned long long)s->unlogged);
		if (s->capped && o < sizeof line - 64)
			snprintf(line + o, sizeof line - o, "; %llu after the log cap",
				 (unsigned long long)s->capped);
		total += mine;
		capped += s->capped;
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
				"{\"truncated\":true,\"log_max\":%llu,\"faults_not_logged\":%llu}\n",
				(unsigned long long)logmax, capped);
			fclose(lf);
		}
	}
	if (!quiet) {
		fprintf(stderr, "sockdrill wrap: %llu fault%s in %d process%s\n", total,
			total == 1 ? "" : "s", procs, procs == 1 ? "" : "es");
		if (st->lost)
			fprintf(stderr, "sockdrill wrap: %u more processes were not counted (%d at "
					"most)\n",
				st->lost, SD_STATS_SLOTS);
		if (st->capped)
			fprintf(stderr,
				"sockdrill wrap: the log reached --log-max %llu bytes: %llu later "
				"faults are counted here, not logged\n",
				(unsigned long long)logmax, capped);
		/* the spec's kinds, in the fault core's order: by their ops, then targets */
		for (int k = 0; k < SD_FK_KINDS; k++) {
			char why[192];
			const char *t = NULL;
			if (!sd_fault_kind_asked(sp, k))
				continue;
			if (!eligible(k, sp, (const unsigned long long(*)[2])calls, spared))
				t = why_never(k, sp, (const unsigned long long(*)[2])calls, why,
					      sizeof why);
			else if (!fired(st, k))
				t = sd__wrap_target_never(k, sp, st, mono_ns() - run_start_ns, why,
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
				"asked: %s\n",
				seen ? "none of the program's socket calls qualified (see the calls "
				       "above)"
				     : "the preload saw no TCP socket of the program's own (sockets "
				       "inherited from a parent, only UDP or Unix sockets, or a "
				       "statically linked program)");
	}
	munmap(st, sizeof *st);
}

/* Without --run: the program runs in a process group of its own (so that SIGINT and SIGTERM
 * reach it once, through us), in the terminal's foreground when we were; we wait for it, print
 * the summary and exit with its status (128 + signal when a signal ended it). */
static int run_plain(const char *prog, char **cargv, char *statspath,
		     const struct sd_fault_spec *sp, const char *logpath, uint64_t logmax,
		     int quiet)
{
	int tty = isatty(0) && tcgetpgrp(0) == getpgrp();
	pid_t parent = getpid(), pid = sd__proc_spawn();
	if (pid == 0) {
		/* wrap killed outright (SIGKILL, which it cannot pass on) takes the program along, as
		 * when wrap exec'd it: nothing is left running unwatched */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(128 + SIGKILL);
		if (tty) { /* a background group may do this only with SIGTTOU held off */
			sigset_t ttou, old;
			sigemptyset(&ttou);
			sigaddset(&ttou, SIGTTOU);
			sigprocmask(SIG_BLOCK, &ttou, &old);
			tcsetpgrp(0, getpid());
			sigprocmask(SIG_SETMASK, &old, NULL);
		}
		execv(prog, cargv);
		fprintf(stderr, "sockdrill wrap: cannot run %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		stats_report(statspath, sp, logpath, logmax, 1);
		return sd__proc_caught() ? sd__proc_exit_status()
					 : sd__usage_error("wrap", "cannot start %s: %s", prog,
							   strerror((int)-pid));
	}
	if (tty)
		tcsetpgrp(0, pid); /* whichever runs first: the child may read at once */
	int status = 0;
	int rc = sd__proc_wait(pid, &status);
	if (tty) {
		/* back to the foreground: from the background this needs SIGTTOU held off */
		struct sigaction ign = {.sa_handler = SIG_IGN}, old;
		sigemptyset(&ign.sa_mask);
		sigaction(SIGTTOU, &ign, &old);
		tcsetpgrp(0, getpgrp());
		sigaction(SIGTTOU, &old, NULL);
	}
	stats_report(statspath, sp, logpath, logmax, quiet);
	if (rc < 0)
		return sd__usage_error("wrap", "waiting for %s: %s", prog, strerror(-rc));
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* The server wrap --run started: the process it spawned and, once that has exited 0 leaving
 * a descendant to serve (it daemonized), that descendant, reparented to us (subreaper). */
struct server {
	pid_t pid;    /* what we spawned: its process group's leader */
	pid_t daemon; /* the child of ours that serves after pid exited, or 0 */
	int exited;   /* pid has been reaped, its wait status in status */
	int status;
	int pidfile_bad; /* it listened, but --pidfile named none of its processes */
	int left;        /* it exited 0, leaving processes behind (daemonizing) */
};

/* Waits, at most timeout s, until the server listens on 127.0.0.1:port: 1, or 0 when it did
 * not (not_up says how). A parent that exits 0 leaving descendants is daemonizing: the wait
 * goes on for them; the listener found must be a descendant's socket (and --pidfile, when
 * given, must name a descendant, not a stale pid). */
static int wait_listening(struct server *sv, int port, uint64_t timeout, const char *pidfile)
{
	for (long waited = 0; !sd__proc_caught() && waited < (long)timeout * 1000; waited += 50) {
		unsigned long inode;
		pid_t owner, named = 0;
		if (!sv->exited) {
			int r = sd__proc_poll(sv->pid, &sv->status);
			if (r < 0)
				return 0;
			sv->exited = r;
			if (r && !(WIFEXITED(sv->status) && WEXITSTATUS(sv->status) == 0))
				return 0; /* died or failed: a daemon's parent exits 0 */
		}
		if (sv->exited && (sv->left = sd__proc_children(NULL, 0, 0) > 0) == 0)
			return 0; /* nothing of it is left */
		if (listening(port, &inode) && (owner = socket_owner(inode)) != 0) {
			if (pidfile && ((named = read_pidfile(pidfile)) <= 0 ||
					!sd__proc_is_descendant(named))) {
				sv->pidfile_bad = 1; /* not written yet, or stale */
			} else {
				pid_t top = our_child(named ? named : owner > 0 ? owner : 0);
				sv->pidfile_bad = 0;
				if (top == sv->pid) /* what we started serves: no daemon */
					top = 0;
				else if (!top && sv->exited && sd__proc_children(&top, 1, 0) < 1)
					top = 0;
				sv->daemon = top;
				return 1;
			}
		}
		sleep_ms(50);
	}
	return 0;
}

/* How the server that wait_listening gave up on ended, as words after "the server". */
static void not_up(const struct server *sv, int port, uint64_t timeout, const char *pidfile,
		   char *how, size_t size)
{
	unsigned long long s = (unsigned long long)timeout;
	char what[160];
	pid_t left;
	int st;
	if (sv->pidfile_bad) {
		snprintf(how, size,
			 "listened on 127.0.0.1:%d, but after %llu s --pidfile %s still named none "
			 "of its processes",
			 port, s, pidfile);
		return;
	}
	if (!sv->exited)
		snprintf(what, sizeof what, "was not listening after %llu s", s);
	else if (WIFSIGNALED(sv->status))
		snprintf(what, sizeof what, "died of signal %d (%s)", WTERMSIG(sv->status),
			 strsignal(WTERMSIG(sv->status)));
	else if (WEXITSTATUS(sv->status))
		snprintf(what, sizeof what, "exited with status %d", WEXITSTATUS(sv->status));
	else if ((left = sd__proc_children_failed(&st)) && WIFSIGNALED(st))
		snprintf(what, sizeof what,
			 "exited 0, and process %d it left died of signal %d (%s)", (int)left,
			 WTERMSIG(st), strsignal(WTERMSIG(st)));
	else if (left)
		snprintf(what, sizeof what,
			 "exited 0, and process %d it left exited with status %d", (int)left,
			 WEXITSTATUS(st));
	else if (!sv->left)
		snprintf(what, sizeof what, "exited with status 0");
	else
		snprintf(what, sizeof what,
			 "exited 0, and what it left was not listening after %llu s", s);
	snprintf(how, size, "%s before listening on 127.0.0.1:%d", what, port);
}

/* After the scenarios: stops the server (SIGTERM, or the signal that stopped us, which the
 * handler passed on already; SIGKILL after the grace) and every process of it left, by pid
 * (sd__proc_stop_children). The server's wait status in *status; 1 when it had ended on its
 * own before we stopped it, else 0. */
static int stop_server(struct server *sv, int *status)
{
	int alone = 0, sig = sd__proc_caught() ? sd__proc_caught() : SIGTERM;
	if (!sv->daemon) {
		if (sd__proc_caught())
			sd__proc_wait(sv->pid, status);
		else if ((alone = sd__proc_poll(sv->pid, status)) == 0)
			sd__proc_stop(sv->pid, SIGTERM, status);
		sd__proc_stop_children(sig, 0, NULL, NULL);
	} else {
		int ignored;
		if (!sv->exited && sd__proc_caught()) /* a launcher still running after it */
			sd__proc_wait(sv->pid, &ignored);
		else if (!sv->exited)
			sd__proc_stop(sv->pid, SIGTERM, &ignored);
		sd__proc_stop_children(sig, sv->daemon, status, &alone);
	}
	return alone > 0;
}

/* Once a daemon serves: SIGINT and SIGTERM to us go on to it and to every other process of
 * the server's reparented to us (they left our process group: the handler signals them by
 * pid). */
static void follow_daemon(const struct server *sv)
{
	pid_t kids[SD__PROC_MAX];
	int n = sd__proc_children(kids, SD__PROC_MAX, sv->daemon); /* its end is a verdict */
	for (int i = 0; i < n && i < SD__PROC_MAX; i++)
		sd__proc_follow(kids[i]);
	if (sv->daemon)
		printf("wrap: the server daemonized: following pid %d\n", (int)sv->daemon);
}

int sd__cmd_wrap(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"faults", required_argument, NULL, 'f'},
		{"seed", required_argument, NULL, 's'},
		{"log", required_argument, NULL, 'l'},
		{"run", required_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 't'},
		{"log-max", required_argument, NULL, 'm'},
		{"quiet", no_argument, NULL, 'q'},
		{"pidfile", required_argument, NULL, 'p'},
		{"inherited", no_argument, NULL, 'i'},
		{"record", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *faults = "", *logpath = NULL, *runs[64], *pidfile = NULL, *record = NULL;
	int nruns = 0, opt, faults_given = 0, seed_given = 0, quiet = 0, inherited = 0;
	uint64_t seed = 1, timeout = 10, logmax = 64ull << 20;
	char err[256];

	/* Line by line: on a pipe, our lines and CMD's come out in the order they happened. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		const char *o = argv[optind - 1];
		switch (opt) {
		case 'f': faults = optarg, faults_given = 1; break;
		case 'l': logpath = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'i': inherited = 1; break;
		case 'r':
			if (nruns == 64)
				return sd__usage_error("wrap", "at most 64 --run scenarios");
			runs[nruns++] = optarg;
			break;
		case 's':
			if (sd__parse_num("wrap", "--seed", optarg, 0, UINT64_MAX, &seed))
				return SD_EXIT_USAGE;
			seed_given = 1;
			break;
		case 't':
			if (sd__parse_num("wrap", "--timeout", optarg, 1, 3600, &timeout))
				return SD_EXIT_USAGE;
			break;
		case 'm':
			if (sd__parse_num("wrap", "--log-max", optarg, 0, UINT64_MAX / 2, &logmax))
				return SD_EXIT_USAGE;
			break;
		case 'q': quiet = 1; break;
		case 'R': record = optarg; break;
		case 'h': fputs(wrap_help, stdout); return SD_EXIT_OK;
		case ':': return sd__usage_error("wrap", "option '%s' needs a value", o);
		default:
			return sd__usage_error(
				"wrap", "unknown option '%s' (try 'sockdrill wrap --help')", o);
		}
	}
	struct sd_fault_spec used; /* the spec the program gets: the --run files' when given */
	if (sd_fault_parse(faults, &used, err, sizeof err) < 0)
		return sd__usage_error("wrap", "%s", err);
	if (optind >= argc)
		return sd__usage_error("wrap",
				       "no command given (sockdrill wrap [OPTIONS] -- CMD [ARGS])");
	if (record && nruns)
		return sd__usage_error("wrap", "--record and --run do not go together (record "
					       "first, then replay the file with --run)");
	int cargc = argc - optind, rc = SD_EXIT_USAGE, nloaded = 0;
	char **cargv = calloc((size_t)cargc + 1, sizeof *cargv), prog[PATH_MAX], preload[PATH_MAX];
	struct sd_scenario *scs[64];
	int port = -1;
	if (!cargv)
		return sd__usage_error("wrap", "out of memory");
	for (int i = 0; i < cargc; i++) {
		const char *a = argv[optind + i], *p = strstr(a, "{port}");
		if (p && port < 0 && (port = free_port()) < 0) {
			sd__usage_error("wrap", "cannot find a free loopback port");
			goto out;
		}
		if (!p) {
			cargv[i] = strdup(a);
			continue;
		}
		char buf[4096];
		size_t o = 0;
		for (; *a && o + 8 < sizeof buf; a++) {
			if (!strncmp(a, "{port}", 6)) {
				o += (size_t)snprintf(buf + o, sizeof buf - o, "%d", port);
				a += 5;
			} else {
				buf[o++] = *a;
			}
		}
		buf[o] = 0;
		cargv[i] = strdup(buf);
	}
	if (resolve(cargv[0], prog, sizeof prog) < 0) {
		sd__usage_error("wrap", "%s: command not found", cargv[0]);
		goto out;
	}
	if (sd__find_library("SOCKDRILL_PRELOAD", "libsockdrill_preload.so", preload,
			     sizeof preload) < 0) {
		sd__usage_error("wrap", "libsockdrill_preload.so not found beside the sockdrill "
					"binary (set SOCKDRILL_PRELOAD)");
		goto out;
	}
	if (pidfile && !nruns) {
		sd__usage_error("wrap", "--pidfile needs --run (it names the server to follow)");
		goto out;
	}
	if (nruns && port < 0) {
		sd__usage_error("wrap",
				"--run needs {port} in the command, so sockdrill knows where "
				"it listens");
		goto out;
	}
	/* Load every scenario before anything starts: a missing or malformed one is an input
	 * error. A FIFO or a directory is refused before it is opened (a FIFO would block). They
	 * run with $TARGET_PORT defined. */
	struct sd_sc_options load_opt = {.target_port = port, .server_started = 1};
	for (; nloaded < nruns; nloaded++) {
		struct stat st;
		if (stat(runs[nloaded], &st) < 0) {
			sd__usage_error("wrap", "--run %s: %s", runs[nloaded], strerror(errno));
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			sd__usage_error("wrap", "--run %s: not a regular file", runs[nloaded]);
			goto out;
		}
		if (sd_scenario_load_opt(runs[nloaded], &load_opt, &scs[nloaded], err, sizeof err) <
		    0) {
			sd__usage_error("wrap", "%s", err);
			goto out;
		}
	}
	if (server_settings(runs, scs, nruns, faults_given ? NULL : &faults, &used,
			    seed_given ? NULL : &seed) < 0)
		goto out;
	char seedtxt[32], logabs[PATH_MAX], ldp[PATH_MAX * 3], asan[PATH_MAX] = "";
	char statspath[PATH_MAX] = "", maxtxt[32];
	if (logpath) {
		/* Opened here, so a log that cannot be written stops us before CMD starts. */
		int lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (lfd < 0) {
			sd__usage_error("wrap", "--log %s: %s", logpath, strerror(errno));
			goto out;
		}
		close(lfd);
	}
	if (is_static_elf(prog))
		fprintf(stderr,
			"sockdrill wrap: warning: %s is statically linked: nothing can be "
			"interposed, so no fault will be injected\n",
			prog);

	snprintf(seedtxt, sizeof seedtxt, "%llu", (unsigned long long)seed);
	const char *old = getenv("LD_PRELOAD");
	if (asan_runtime(prog, asan, sizeof asan) == 0)
		strcat(asan, " ");
	snprintf(ldp, sizeof ldp, "%s%s%s%s", asan, preload, old && *old ? " " : "",
		 old ? old : "");
	setenv("LD_PRELOAD", ldp, 1);
	setenv("SOCKDRILL_FAULTS", faults, 1);
	setenv("SOCKDRILL_SEED", seedtxt, 1);
	if (inherited) /* the preload tracks the TCP sockets CMD starts with */
		setenv("SOCKDRILL_INHERITED", "1", 1);
	else
		unsetenv("SOCKDRILL_INHERITED");
	if (logpath) {
		if (logpath[0] != '/' && getcwd(logabs, sizeof logabs))
			snprintf(logabs + strlen(logabs), sizeof logabs - strlen(logabs), "/%s",
				 logpath);
		else
			snprintf(logabs, sizeof logabs, "%s", logpath);
		setenv("SOCKDRILL_LOG", logabs, 1);
		snprintf(maxtxt, sizeof maxtxt, "%llu", (unsigned long long)logmax);
		setenv("SOCKDRILL_LOG_MAX", maxtxt, 1);
	} else {
		unsetenv("SOCKDRILL_LOG");
		unsetenv("SOCKDRILL_LOG_MAX");
	}
	if (record) {
		rc = sd__wrap_record(record, prog, cargv, port);
		goto out;
	}
	sd__proc_catch_signals(); /* from here on, a signal finds the counts file removed */
	unsetenv("SOCKDRILL_STATS");
	if (*faults)
		stats_create(statspath, sizeof statspath);
	if (!nruns) {
		rc = run_plain(prog, cargv, statspath, &used, logpath ? logabs : NULL, logmax,
			       quiet);
		goto out;
	}

	/* --run: the program is a server; its stderr goes to a file we read for sanitizer
	 * reports (and show on a finding). Close-on-exec: the server gets it as fd 2 only. */
	char errpath[PATH_MAX];
	int errfd = sd__proc_tmpfile("wrap", errpath, sizeof errpath);
	if (errfd < 0) {
		sd__usage_error("wrap", "cannot create a file in %s: %s", sd__proc_tmpdir(),
				strerror(-errfd));
		stats_report(statspath, &used, NULL, logmax, 1);
		goto out;
	}
	printf("wrap: %s on 127.0.0.1:%d, faults '%s', seed %llu\n", cargv[0], port, faults,
	       (unsigned long long)seed);
	/* A server that daemonizes becomes our child, not init's: followed, stopped, reaped. */
	int sr = sd__proc_subreaper();
	if (sr < 0)
		fprintf(stderr,
			"sockdrill wrap: warning: cannot become a child subreaper (%s): a "
			"server that daemonizes cannot be followed\n",
			strerror(-sr));
	pid_t pid = sd__proc_spawn();
	if (pid == 0) {
		if (errfd == 2) /* we were started without a stderr */
			fcntl(2, F_SETFD, 0);
		else
			dup2(errfd, 2);
		execv(prog, cargv);
		_exit(127);
	}
	close(errfd);
	if (pid < 0) {
		unlink(errpath);
		stats_report(statspath, &used, NULL, logmax, 1);
		rc = sd__proc_caught() ? sd__proc_exit_status()
				       : sd__usage_error("wrap", "cannot start %s: %s", cargv[0],
							 strerror((int)-pid));
		goto out;
	}
	unsetenv("LD_PRELOAD"); /* not for our own scenario client */
	struct server sv = {.pid = pid};
	int status = 0, findings = 0, up = wait_listening(&sv, port, timeout, pidfile);
	if (!up) {
		char how[PATH_MAX + 256]; /* before we stop anything: how it ended by itself */
		not_up(&sv, port, timeout, pidfile, how, sizeof how);
		if (!sv.exited && sd__proc_caught())
			sd__proc_wait(pid, &sv.status); /* the handler passed the signal on */
		else if (!sv.exited)
			sd__proc_stop(pid, SIGTERM, &sv.status);
		/* what it left (a daemon that never listened) goes too */
		sd__proc_stop_children(sd__proc_caught() ? sd__proc_caught() : SIGTERM, 0, NULL,
				       NULL);
		if (!sd__proc_caught()) {
			printf("FINDING: the server %s\n", how);
			print_file(errpath, "  server: ", 20);
		}
		findings++;
	} else {
		follow_daemon(&sv);
		struct sd_sc_options o = {.seed = seed, .has_seed = 1, .target_port = port};
		for (int i = 0; i < nruns && !sd__proc_caught(); i++) {
			struct sd_sc_result r;
			if (sd_scenario_run(scs[i], "real", &o, &r) < 0) {
				findings++;
				continue;
			}
			if (!sd__proc_caught()) /* a run cut short by the signal says nothing */
				printf("%-4s %s  (%d steps, %.3f s)\n",
				       r.passed    ? "ok"
				       : r.skipped ? "n/a"
						   : "FAIL",
				       runs[i], r.n, r.seconds);
			if (!r.passed && !sd__proc_caught()) {
				printf("      %s\n", r.message);
				findings +=
					!r.skipped; /* a file for another kernel finds nothing */
			}
			sd_sc_result_free(&r);
		}
		/* How the server ended is one finding, whatever the order: a crash closes the
		 * client's socket a moment before the process can be reaped, so "it had exited"
		 * and "we stopped it and it died of SIGSEGV" are the same event seen at two
		 * instants. The sanitizer report, when there is one, tells it best. */
		int alone = stop_server(&sv, &status);
		int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		if (sd__proc_caught()) {
			/* a run cut short by the signal says nothing */
		} else if (file_has(errpath, "ERROR: AddressSanitizer") ||
			   file_has(errpath, "ERROR: LeakSanitizer") ||
			   file_has(errpath, "runtime error:")) {
			printf("FINDING: the server printed a sanitizer report:\n");
			print_file(errpath, "  server: ", 40);
			findings++;
		} else if (sig && sig != SIGTERM && sig != SIGKILL) {
			printf("FINDING: the server died of signal %d (%s)\n", sig, strsignal(sig));
			findings++;
		} else if (alone > 0) {
			printf("FINDING: the server exited during the scenarios (status %d)\n",
			       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + sig);
			findings++;
		}
	}
	unlink(errpath);
	stats_report(statspath, &used, logpath ? logabs : NULL, logmax, quiet);
	if (sd__proc_caught()) {
		fprintf(stderr, "sockdrill wrap: stopped by %s; %s was stopped too\n",
			sd__proc_caught() == SIGINT ? "SIGINT" : "SIGTERM", cargv[0]);
		rc = sd__proc_exit_status();
		goto out;
	}
	printf("wrap: %d finding%s\n", findings, findings == 1 ? "" : "s");
	if (findings)
		reproduce(argc, argv);
	rc = findings ? SD_EXIT_CHECK : SD_EXIT_OK;
out:
	for (int i = 0; i < nloaded; i++)
		sd_scenario_free(scs[i]);
	for (int i = 0; i < cargc; i++)
		free(cargv[i]);
	free(cargv);
	return rc;
}
