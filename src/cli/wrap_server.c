/* sockdrill wrap --run: the server started, found listening (or daemonized), checked by the
 * scenarios, stopped, and judged by how it ended. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sockdrill/scenario.h>

#include "cli.h"
#include "html.h"
#include "proc.h"
#include "sarif.h"
#include "progress.h"
#include "run.h"
#include "wrap.h"

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

static void print_file(const char *path, const char *prefix, int max_lines)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	for (int n = 0; f && n < max_lines && fgets(line, sizeof line, f); n++)
		printf("%s%s", prefix, line);
	if (f)
		fclose(f);
}

/* The command that reproduces a finding: sockdrill wrap's own command line (malloc'd; NULL
 * when out of memory). wrap.c makes it once, for the console, --sarif and --html alike. */
char *sd__wrap_repro_cmd(int argc, char **argv)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return NULL;
	fputs("./sockdrill", m);
	for (int i = 0; i < argc; i++) {
		int plain = strspn(argv[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789-_./=,:{}@%+") == strlen(argv[i]);
		fprintf(m, plain && *argv[i] ? " %s" : " '%s'", argv[i]);
	}
	if (fclose(m) != 0) {
		free(text);
		return NULL;
	}
	return text;
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
		sd__proc_sleep_ms(50);
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

/* The server never listened (not_up says how, before anything is stopped): it is stopped
 * with whatever it left, and the finding printed. */
static void never_up(struct server *sv, const struct sd__wrap *w, const char *errpath,
		     const char *repro)
{
	char how[PATH_MAX + 256];
	not_up(sv, w->port, w->timeout, w->pidfile, how, sizeof how);
	if (!sv->exited && sd__proc_caught())
		sd__proc_wait(sv->pid, &sv->status); /* the handler passed the signal on */
	else if (!sv->exited)
		sd__proc_stop(sv->pid, SIGTERM, &sv->status);
	/* what it left (a daemon that never listened) goes too */
	sd__proc_stop_children(sd__proc_caught() ? sd__proc_caught() : SIGTERM, 0, NULL, NULL);
	if (!sd__proc_caught()) {
		printf("FINDING: the server %s\n", how);
		print_file(errpath, "  server: ", 20);
		char text[PATH_MAX + 300];
		struct sd__sarif_where none = {0};
		snprintf(text, sizeof text, "%s: the server %s", w->cargv[0], how);
		sd__wrap_sarif_server(w, "server-not-listening", text, errpath, repro, &none);
	}
}

/* --html: one --run file's run, told to the page's writer. */
static void html_item(struct sd__wrap *w, int i, const struct sd_sc_result *r)
{
	struct run_item it = {.file = w->runs[i],
			      .steps = sd_scenario_steps(w->scs[i]),
			      .seed = w->seed,
			      .nres = 1,
			      .backend = {"real"},
			      .res = {r},
			      .repro = {w->repro}};
	w->ran++;
	w->passed += r->passed;
	w->failed += !r->passed && !r->skipped;
	w->html->item(w->html, &it);
}

/* Each --run file against the listening server, a line each: the findings (and with --sarif,
 * the first failed step's place in blame). */
static int run_scenarios(struct sd__wrap *w, const char *repro, struct sd__sarif_where *blame)
{
	struct sd_sc_options o = {.seed = w->seed, .has_seed = 1, .target_port = w->port};
	int findings = 0;
	struct sd__progress p;
	sd__progress_start(&p, w->nruns, "wrap", "scenarios", "findings", isatty(2), w->quiet);
	for (int i = 0; i < w->nruns && !sd__proc_caught(); i++) {
		struct sd_sc_result r;
		if (w->html && sd__html_events_reset(w->events) == 0)
			o.trace_sink = sd__html_sink,
			o.trace_ctx = w->events; /* the page's calls */
		if (sd_scenario_run(w->scs[i], "real", &o, &r) < 0) {
			findings++;
			sd__progress_step(&p, i + 1, findings);
			continue;
		}
		if (w->html)
			html_item(w, i, &r);
		sd__progress_hide(&p);  /* the file's line goes above it */
		if (!sd__proc_caught()) /* a run cut short by the signal says nothing */
			printf("%-4s %s  (%d steps, %.3f s)\n",
			       r.passed    ? "ok"
			       : r.skipped ? "n/a"
					   : "FAIL",
			       w->runs[i], r.n, r.seconds);
		if (!r.passed && !sd__proc_caught()) {
			printf("      %s\n", r.message);
			findings += !r.skipped; /* a file for another kernel finds nothing */
			if (!r.skipped)
				sd__wrap_sarif_steps(w, i, &r, repro, blame);
		}
		sd_sc_result_free(&r);
		sd__progress_step(&p, i + 1, findings);
	}
	sd__progress_end(&p);
	return findings;
}

/* How the server ended is one finding, whatever the order: a crash closes the client's
 * socket a moment before the process can be reaped, so "it had exited" and "we stopped it and
 * it died of SIGSEGV" are the same event seen at two instants. The sanitizer report, when
 * there is one (any mark of the one list, proc.h), tells it best. 1 for a finding, else 0. */
static int how_it_ended(struct server *sv, const struct sd__wrap *w, const char *errpath,
			const char *repro, const struct sd__sarif_where *blame)
{
	int status = 0, alone = stop_server(sv, &status);
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	char text[PATH_MAX + 128];
	const char *rule = NULL;
	if (sd__proc_caught())
		return 0; /* a run cut short by the signal says nothing */
	if (sd__sanitizer_report(errpath)) {
		printf("FINDING: the server printed a sanitizer report:\n");
		print_file(errpath, "  server: ", 40);
		snprintf(text, sizeof text, "%s: the server printed a sanitizer report",
			 w->cargv[0]);
	} else if (sig && sig != SIGTERM && sig != SIGKILL) {
		printf("FINDING: the server died of signal %d (%s)\n", sig, strsignal(sig));
		snprintf(text, sizeof text, "%s: the server died of signal %d (%s)", w->cargv[0],
			 sig, strsignal(sig));
		rule = "server-crash";
	} else if (alone > 0) {
		printf("FINDING: the server exited during the scenarios (status %d)\n",
		       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + sig);
		snprintf(text, sizeof text,
			 "%s: the server exited during the scenarios (status %d)", w->cargv[0],
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + sig);
		rule = "server-exit";
	} else {
		return 0;
	}
	sd__wrap_sarif_server(w, rule, text, errpath, repro, blame);
	return 1;
}

int sd__wrap_serve(struct sd__wrap *w, int argc, char **argv)
{
	/* The server's stderr goes to a file we read for sanitizer reports (and show on a
	 * finding). Close-on-exec: the server gets it as fd 2 only. */
	char errpath[PATH_MAX];
	int errfd = sd__proc_tmpfile("wrap", errpath, sizeof errpath);
	if (errfd < 0) {
		sd__usage_error("wrap", "cannot create a file in %s: %s", sd__proc_tmpdir(),
				strerror(-errfd));
		sd__wrap_stats_report(w->statspath, &w->used, NULL, w->logmax, 1);
		return SD_EXIT_USAGE;
	}
	printf("wrap: %s on 127.0.0.1:%d, faults '%s', seed %llu\n", w->cargv[0], w->port,
	       w->faults, (unsigned long long)w->seed);
	/* A server that daemonizes becomes our child, not init's: followed, stopped, reaped. */
	int sr = sd__proc_subreaper();
	if (sr < 0)
		fprintf(stderr,
			"sockdrill wrap: warning: cannot become a child subreaper (%s): a "
			"server that daemonizes cannot be followed\n",
			strerror(-sr));
	struct sd__proc_io io = {.file = w->prog, .fd = errfd};
	pid_t pid = sd__proc_exec(w->cargv, &io);
	close(errfd);
	if (pid < 0) {
		unlink(errpath);
		sd__wrap_stats_report(w->statspath, &w->used, NULL, w->logmax, 1);
		return sd__proc_caught() ? sd__proc_exit_status()
					 : sd__usage_error("wrap", "cannot start %s: %s",
							   w->cargv[0], strerror((int)-pid));
	}
	unsetenv("LD_PRELOAD"); /* not for our own scenario client */
	struct server sv = {.pid = pid};
	struct sd__sarif_where blame = {0};
	const char *repro = w->repro && *w->repro ? w->repro : NULL;
	(void)argc, (void)argv;
	int findings;
	if (!wait_listening(&sv, w->port, w->timeout, w->pidfile)) {
		never_up(&sv, w, errpath, repro);
		findings = 1;
	} else {
		follow_daemon(&sv);
		findings = run_scenarios(w, repro, &blame);
		findings += how_it_ended(&sv, w, errpath, repro, &blame);
	}
	unlink(errpath);
	sd__wrap_stats_report(w->statspath, &w->used, w->logpath, w->logmax, w->quiet);
	if (sd__proc_caught()) {
		fprintf(stderr, "sockdrill wrap: stopped by %s; %s was stopped too\n",
			sd__proc_caught() == SIGINT ? "SIGINT" : "SIGTERM", w->cargv[0]);
		return sd__proc_exit_status(); /* the --sarif log is left as it was */
	}
	printf("wrap: %d finding%s\n", findings, findings == 1 ? "" : "s");
	if (findings)
		printf("reproduce: %s\n", repro ? repro : "(out of memory)");
	int rc = findings ? SD_EXIT_CHECK : SD_EXIT_OK;
	if (w->sarif && sd__sarif_finish(w->sarif, "sockdrill-wrap/", 1) < 0)
		rc = SD_EXIT_USAGE;
	w->sarif = NULL;
	return rc;
}
