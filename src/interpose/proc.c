/* sockdrill in-process layer: process calls of a server run as actors. exit() and its
 * kin end the server (every actor of the run stops) with the status recorded for the
 * driver, never the fuzzer; fork, exec and the like are refused with one line. */
/* GNU names (sigorset, CPU_SET_S, program_invocation_name, the _np calls): the layer is
 * also compiled in a user project that does not define it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <err.h>
#include <fcntl.h>
#include <errno.h>
#include <error.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sockdrill/sim.h>

#include "../util/libc.h"
#include "exec_list.h"
#include "proc.h"
#include "threads.h"

static struct {
	int exited, status;
} P;

int sd__proc_exited(int *status)
{
	if (P.exited && status)
		*status = P.status;
	return P.exited;
}

void sd__proc_reset(void) { P.exited = 0; }

/* ---- the server's last output --------------------------------------------------------- */

/* While a run captures (sd__output_capture), stdout and stderr are streams of ours: unbuffered,
 * passing every byte on to descriptors 1 and 2 at once, and keeping the last SD__OUTPUT_TAIL
 * bytes that actors wrote, as write() and writev() on 1 and 2 do (io.c). C library code
 * reaches its own streams through these variables (printf, perror, err, warn). */
static struct {
	int on;
	FILE *saved[2], *tap[2]; /* the C library's streams; ours (NULL: not made, or closed) */
	FILE *reopened[2];       /* what freopen made of ours during the run */
	char ring[SD__OUTPUT_TAIL];
	size_t n; /* bytes noted since the capture began */
} O;

void sd__output_note(const void *p, size_t n)
{
	struct sd_net sim;
	if (!O.on || !sd__in_actor(&sim))
		return;
	const char *b = p;
	if (n > SD__OUTPUT_TAIL) { /* only the last bytes can stay */
		O.n += n - SD__OUTPUT_TAIL;
		b += n - SD__OUTPUT_TAIL;
		n = SD__OUTPUT_TAIL;
	}
	for (size_t i = 0; i < n; i++)
		O.ring[(O.n + i) % SD__OUTPUT_TAIL] = b[i];
	O.n += n;
}

static ssize_t tap_write(void *cookie, const char *b, size_t n)
{
	int fd = (int)(intptr_t)cookie;
	sd__output_note(b, n);
	for (size_t done = 0; done < n;) {
		ssize_t k = SD__LIBC(write)(fd, b + done, n - done);
		if (k < 0 && errno != EINTR)
			return done ? (ssize_t)done : -1;
		done += k > 0 ? (size_t)k : 0;
	}
	return (ssize_t)n;
}

/* The server closed stdout or stderr (fclose): the stream is gone; the descriptor, which is
 * the fuzzer's too, stays open. */
static int tap_close(void *cookie)
{
	O.tap[(intptr_t)cookie - 1] = NULL;
	return 0;
}

void sd__output_capture(int on)
{
	if (on == O.on)
		return;
	if (!on) {
		O.on = 0;
		for (int i = 0; i < 2; i++)
			if (O.reopened[i] && (i ? stderr : stdout) == O.reopened[i])
				fclose(O.reopened[i]); /* the server's log file, as its exit would
							*/
		O.reopened[0] = O.reopened[1] = NULL;
		stdout = O.saved[0], stderr = O.saved[1];
		return;
	}
	fflush(stdout); /* what the fuzzer printed before comes first */
	fflush(stderr);
	O.saved[0] = stdout, O.saved[1] = stderr;
	O.n = 0;
	for (int i = 0; i < 2; i++) {
		if (!O.tap[i]) {
			cookie_io_functions_t fns = {.write = tap_write, .close = tap_close};
			O.tap[i] = fopencookie((void *)(intptr_t)(i + 1), "w", fns);
			if (!O.tap[i])
				continue; /* no memory: that stream is not captured */
			setvbuf(O.tap[i], NULL, _IONBF, 0);
			O.tap[i]->_fileno =
				i + 1; /* fileno(stdout) stays 1, as the program expects */
		}
		if (i == 0)
			stdout = O.tap[0];
		else
			stderr = O.tap[1];
	}
	O.on = 1;
}

/* freopen(path, mode, stdout or stderr) while they are ours (glibc's freopen crashes on a
 * stream that is not a file): the file opens as a new stream, the program's stdout or stderr
 * for the rest of the run, as descriptor 1 or 2 would have become the file (the fuzzer's own
 * descriptors are left alone). A NULL path (a mode change) leaves ours as it is. */
static FILE *reopen(FILE *(*real)(const char *, const char *, FILE *), const char *path,
		    const char *mode, FILE *f)
{
	int i = !O.on || !f ? -1 : f == O.tap[0] ? 0 : f == O.tap[1] ? 1 : -1;
	if (i < 0)
		return real(path, mode, f);
	if (!path)
		return f;
	FILE *n = fopen(path, mode);
	if (!n)
		return NULL;
	O.reopened[i] = n;
	if (i == 0)
		stdout = n;
	else
		stderr = n;
	return n;
}

FILE *freopen(const char *path, const char *mode, FILE *f)
{
	return reopen(SD__LIBC_FN(freopen), path, mode, f);
}

FILE *freopen64(const char *path, const char *mode, FILE *f)
{
	return reopen(SD__LIBC_FN(freopen64), path, mode, f);
}

/* The noted tail as text, from its first whole line when the ring has wrapped; its length. */
static size_t output_tail(char *out)
{
	size_t n = O.n < SD__OUTPUT_TAIL ? O.n : SD__OUTPUT_TAIL, from = O.n - n, k = 0;
	for (size_t i = 0; i < n; i++)
		out[i] = O.ring[(from + i) % SD__OUTPUT_TAIL];
	if (O.n > SD__OUTPUT_TAIL)
		while (k < n && out[k++] != '\n')
			;
	if (k == n) /* one long line: keep it */
		k = 0;
	memmove(out, out + k, n - k);
	return n - k;
}

/* The record of a harness error: "sockdrill: <message>", then, when the server wrote
 * anything, "; the server's last output:" and that output, each line indented by two
 * spaces. Its length (cut to cap). */
static size_t harness_record(char *out, size_t cap, const char *msg)
{
	static char tail[SD__OUTPUT_TAIL];
	size_t t = output_tail(tail);
	int len = snprintf(out, cap, "sockdrill: %s%s\n", msg,
			   t ? "; the server's last output:" : "");
	size_t n = len < 0 ? 0 : (size_t)len < cap ? (size_t)len : cap - 1;
	for (size_t i = 0; i < t && n + 4 < cap; i++) {
		if (i == 0 || tail[i - 1] == '\n')
			out[n++] = ' ', out[n++] = ' ';
		out[n++] = tail[i];
	}
	if (t && out[n - 1] != '\n')
		out[n++] = '\n';
	out[n] = '\0';
	return n;
}

enum { HARNESS_ERRORS_MAX = 65536 }; /* SOCKDRILL_HARNESS_ERRORS stops growing here */

void sd__harness_error(const char *fmt, ...)
{
	static char msg[1024], rec[3 * SD__OUTPUT_TAIL + sizeof msg + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sd__output_capture(0);
	fflush(stdout);
	size_t n = harness_record(rec, sizeof rec, msg);
	fputs(rec, stderr);
	fflush(stderr);
	/* For `sockdrill fuzz`, which cannot tell this exit from a clean one under AFL++. */
	const char *path = getenv("SOCKDRILL_HARNESS_ERRORS");
	int fd = path && *path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size < HARNESS_ERRORS_MAX &&
	    SD__LIBC(write)(fd, rec, n) < 0) {
		/* nothing more to say: the process ends with status 2 all the same */
	}
	if (fd >= 0)
		SD__LIBC(close)(fd);
	SD__LIBC_FN(_exit)(2);
}

/* The caller is one of the run's actors, not inside a signal handler (libFuzzer's crash
 * and timeout handlers end the process with _Exit: that must stay real). */
static int in_server(struct sd_net *sim) { return sd__in_actor(sim) && !sd__in_signal_handler(); }

/* The process ends, as far as the run can tell: the first status is kept, every other
 * actor stops where it is (threads die with the process; clients with the input), and
 * this one ends. The server's atexit handlers do not run: they are the fuzzer's too. */
static _Noreturn void server_exit(struct sd_net *sim, int status, int flush)
{
	if (!P.exited) {
		P.exited = 1;
		P.status = status & 0xff;
	}
	if (flush) { /* what exit() would write out; streams on sockets are left alone */
		fflush(stdout);
		fflush(stderr);
	}
	for (int id = 1; sd_sim_actor_stop(sim, id) != -ESRCH; id++)
		; /* this actor says -EINVAL and goes on below */
	sd_sim_actor_exit(sim, status);
	abort(); /* not reached */
}

void exit(int status)
{
	struct sd_net sim;
	if (in_server(&sim))
		server_exit(&sim, status, 1);
	SD__LIBC_FN(exit)(status);
	abort();
}

void _exit(int status)
{
	struct sd_net sim;
	if (in_server(&sim))
		server_exit(&sim, status, 0);
	SD__LIBC_FN(_exit)(status);
	abort();
}

void _Exit(int status)
{
	struct sd_net sim;
	if (in_server(&sim))
		server_exit(&sim, status, 0);
	SD__LIBC_FN(_Exit)(status);
	abort();
}

void quick_exit(int status)
{
	struct sd_net sim;
	if (in_server(&sim))
		server_exit(&sim, status, 0);
	SD__LIBC_FN(quick_exit)(status);
	abort();
}

void verr(int status, const char *fmt, va_list ap)
{
	struct sd_net sim;
	int e = errno; /* the message ends with strerror of the caller's errno */
	if (!in_server(&sim)) {
		errno = e;
		SD__LIBC_FN(verr)(status, fmt, ap);
	}
	errno = e;
	vwarn(fmt, ap);
	server_exit(&sim, status, 1);
}

void verrx(int status, const char *fmt, va_list ap)
{
	struct sd_net sim;
	if (!in_server(&sim))
		SD__LIBC_FN(verrx)(status, fmt, ap);
	vwarnx(fmt, ap);
	server_exit(&sim, status, 1);
}

void err(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr(status, fmt, ap);
}

void errx(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verrx(status, fmt, ap);
}

/* glibc's error() and error_at_line(), which exit when status is not 0. Written out here
 * (the C library has no va_list form to forward to), with its format: program name,
 * "file:line: ", the message, ": strerror(errnum)". */
static void error_line(int status, int errnum, const char *file, unsigned line, const char *fmt,
		       va_list ap)
{
	fflush(stdout);
	if (error_print_progname)
		error_print_progname();
	else
		fprintf(stderr, "%s:", program_invocation_name);
	if (file)
		fprintf(stderr, "%s:%u:", file, line);
	fputc(' ', stderr);
	vfprintf(stderr, fmt, ap);
	if (errnum)
		fprintf(stderr, ": %s", strerror(errnum));
	fputc('\n', stderr);
	error_message_count++;
	if (status)
		exit(status);
}

void error(int status, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_line(status, errnum, NULL, 0, fmt, ap);
	va_end(ap);
}

void error_at_line(int status, int errnum, const char *file, unsigned line, const char *fmt, ...)
{
	static const char *last_file;
	static unsigned last_line;
	if (error_one_per_line && line == last_line &&
	    (file == last_file || (file && last_file && strcmp(file, last_file) == 0)))
		return;
	last_file = file;
	last_line = line;
	va_list ap;
	va_start(ap, fmt);
	error_line(status, errnum, file, line, fmt, ap);
	va_end(ap);
}

/* ---- calls that would copy or replace the whole fuzzer -------------------------------- */

static void refuse(const char *call)
{
	struct sd_net sim;
	if (sd__in_actor(&sim))
		sd__harness_error("%s() in an in-process server is not supported; run such a "
				  "server with `sockdrill wrap`",
				  call);
}

pid_t fork(void)
{
	refuse("fork");
	return SD__LIBC_FN(fork)();
}

/* Outside a run too, vfork is fork: a child returning from this wrapper's frame would
 * wreck the parent's, which vfork shares. */
pid_t vfork(void)
{
	refuse("vfork");
	return SD__LIBC_FN(fork)();
}

pid_t _Fork(void)
{
	refuse("_Fork");
	return SD__LIBC_FN(_Fork)();
}

int daemon(int nochdir, int noclose)
{
	refuse("daemon");
	return SD__LIBC_FN(daemon)(nochdir, noclose);
}

int system(const char *cmd)
{
	refuse("system");
	return SD__LIBC_FN(system)(cmd);
}

FILE *popen(const char *cmd, const char *mode)
{
	refuse("popen");
	return SD__LIBC_FN(popen)(cmd, mode);
}

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	refuse("posix_spawn");
	return SD__LIBC_FN(posix_spawn)(pid, path, fa, attr, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	refuse("posix_spawnp");
	return SD__LIBC_FN(posix_spawnp)(pid, file, fa, attr, argv, envp);
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	refuse("execve");
	return SD__LIBC_FN(execve)(path, argv, envp);
}

int execv(const char *path, char *const argv[])
{
	refuse("execv");
	return SD__LIBC_FN(execv)(path, argv);
}

int execvp(const char *file, char *const argv[])
{
	refuse("execvp");
	return SD__LIBC_FN(execvp)(file, argv);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
	refuse("execvpe");
	return SD__LIBC_FN(execvpe)(file, argv, envp);
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
	refuse("fexecve");
	return SD__LIBC_FN(fexecve)(fd, argv, envp);
}

int execl(const char *path, const char *arg, ...)
{
	refuse("execl");
	va_list ap;
	va_start(ap, arg);
	SD__EXEC_LIST(arg, ap, argv)
	va_end(ap);
	return SD__LIBC_FN(execv)(path, argv);
}

int execlp(const char *file, const char *arg, ...)
{
	refuse("execlp");
	va_list ap;
	va_start(ap, arg);
	SD__EXEC_LIST(arg, ap, argv)
	va_end(ap);
	return SD__LIBC_FN(execvp)(file, argv);
}

int execle(const char *path, const char *arg, ...)
{
	refuse("execle");
	va_list ap;
	va_start(ap, arg);
	SD__EXEC_LIST(arg, ap, argv)
	char **envp = va_arg(ap, char **);
	va_end(ap);
	return SD__LIBC_FN(execve)(path, argv, envp);
}
