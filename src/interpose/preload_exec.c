/* sockdrill LD_PRELOAD route: a connection keeps its identity across exec (SOCKDRILL_CONNS). */
#include "layer.h"

#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_list.h"
#include "preload_exec.h"

/*
 * A program that execs keeps its descriptors, and a new image of the preload would number the
 * sockets among them afresh (with SOCKDRILL_INHERITED: a1 for every connection OpenSSH's
 * listener hands to the sshd it re-execs, so one seed gave every connection the same
 * decisions). So every entry point of the exec family (glibc's own calls between them do not
 * go through the PLT, so each one matters) and posix_spawn pass the identities of the sockets
 * this image tracks to the next in SOCKDRILL_CONNS, added to the environment given to the new
 * image only: the program's own environ is untouched, so a failed exec leaves nothing behind.
 * The new image takes the variable out again (sd__preload_exec_arrive) and continues each
 * connection whose descriptor is still the same socket (its inode).
 *
 * Only on the way to an exec: one fstat per tracked socket. A sandboxed program (preload.c,
 * prctl) execs unchanged: its filter may not allow fstat, and a program that never execs
 * makes no call of this file's.
 */

static struct {
	int fd;
	ino_t ino;
	struct sd_fault_conn c;
} got[SD_CONNS_MAX];
static int ngot;

/* One entry "FD:INO:PID:CONN:CALLS" at *p; 1 when it was whole (*p moved past it). */
static int parse_entry(const char **p)
{
	char *e;
	const char *s = *p;
	unsigned long long v[5];
	for (int i = 0; i < 5; i++) {
		int hex = i == 3;
		if (!(*s >= '0' && *s <= '9') && !(hex && *s >= 'a' && *s <= 'f'))
			return 0; /* strtoull would take a sign or spaces */
		v[i] = strtoull(s, &e, hex ? 16 : 10);
		if (i < 4 ? *e != ':' : *e && *e != ',')
			return 0;
		s = *e ? e + 1 : e;
	}
	if (v[0] > (unsigned long long)SD__FD_MAX || !(v[3] >> 56))
		return 0;
	got[ngot].fd = (int)v[0];
	got[ngot].ino = (ino_t)v[1];
	got[ngot].c = (struct sd_fault_conn){.pid = (long)v[2], .conn = v[3], .calls = v[4]};
	ngot++;
	*p = s;
	return 1;
}

int sd__preload_exec_arrive(void)
{
	const char *v = getenv(SD_CONNS_ENV);
	if (!v)
		return 0;
	while (*v && ngot < SD_CONNS_MAX && parse_entry(&v))
		;
	unsetenv(SD_CONNS_ENV); /* ours, not the program's: it is made anew at each exec */
	return ngot;
}

const struct sd_fault_conn *sd__preload_exec_identity(int fd, ino_t ino)
{
	const struct sd_fault_conn *first = NULL;
	for (int i = 0; i < ngot; i++) {
		if (got[i].ino != ino)
			continue;
		if (got[i].fd == fd)
			return &got[i].c;
		if (!first)
			first = &got[i].c;
	}
	return first;
}

static size_t env_count(char *const *envp)
{
	size_t n = 0;
	while (envp && envp[n])
		n++;
	return n;
}

static int is_conns(const char *entry)
{
	size_t l = sizeof SD_CONNS_ENV - 1;
	return !strncmp(entry, SD_CONNS_ENV, l) && entry[l] == '=';
}

/* envp for the new image: without any SOCKDRILL_CONNS of its own, with this image's (when it
 * tracks a socket), in v (room for envp's entries and two more) and text; envp itself when
 * nothing changes. */
static char *const *with_conns(char *const *envp, char **v, char *text, size_t size)
{
	size_t k = 0, o = sizeof SD_CONNS_ENV;
	int stale = 0;
	if (sd__route_plain_calls())
		return envp; /* sandboxed: no system call it did not ask for */
	memcpy(text, SD_CONNS_ENV "=", o);
	size_t n = sd__preload_conns(text + o, size - o);
	for (size_t i = 0; envp && envp[i]; i++) {
		if (is_conns(envp[i]))
			stale = 1;
		else
			v[k++] = envp[i];
	}
	if (!n && !stale)
		return envp;
	if (n)
		v[k++] = text;
	v[k] = NULL;
	return v;
}

/* The new image's environment, on the caller's stack (a vfork child may exec: nothing is
 * allocated), named `out`. */
#define SD__WITH_CONNS(envp, out)                                                                  \
	char *out##_v[env_count(envp) + 2];                                                        \
	char out##_t[sizeof SD_CONNS_ENV + SD_CONNS_MAX * 80];                                     \
	char *const *out = with_conns(envp, out##_v, out##_t, sizeof out##_t)

SD__EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	SD__WITH_CONNS(envp, env);
	return SD__LIBC_FN(execve)(path, argv, env);
}

SD__EXPORT int execv(const char *path, char *const argv[])
{
	SD__WITH_CONNS(environ, env);
	return SD__LIBC_FN(execve)(path, argv, env);
}

SD__EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	SD__WITH_CONNS(envp, env);
	return SD__LIBC_FN(execvpe)(file, argv, env);
}

SD__EXPORT int execvp(const char *file, char *const argv[])
{
	SD__WITH_CONNS(environ, env);
	return SD__LIBC_FN(execvpe)(file, argv, env);
}

SD__EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	SD__WITH_CONNS(envp, env);
	return SD__LIBC_FN(fexecve)(fd, argv, env);
}

SD__EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	SD__EXEC_LIST(arg, ap, argv)
	va_end(ap);
	return execve(path, argv, environ);
}

SD__EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	SD__EXEC_LIST(arg, ap, argv)
	va_end(ap);
	return execvpe(file, argv, environ);
}

SD__EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	SD__EXEC_LIST(arg, ap, argv)
	char **envp = va_arg(ap, char **);
	va_end(ap);
	return execve(path, argv, envp);
}

/* posix_spawn's file actions may move a socket to another number in the child: the new image
 * finds it by its inode (sd__preload_exec_identity). */
SD__EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			   const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	SD__WITH_CONNS(envp, env);
	return SD__LIBC_FN(posix_spawn)(pid, path, fa, attr, argv, env);
}

SD__EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	SD__WITH_CONNS(envp, env);
	return SD__LIBC_FN(posix_spawnp)(pid, file, fa, attr, argv, env);
}
