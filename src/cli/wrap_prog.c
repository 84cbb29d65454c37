/* sockdrill wrap: the program: found, its ELF asked about, {port} put in, run without --run. */
#include <arpa/inet.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "proc.h"
#include "wrap.h"

/* The program file for argv0 (a path, or searched in PATH). */
int sd__wrap_resolve(const char *argv0, char *out, size_t size)
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
int sd__wrap_is_static(const char *path)
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
int sd__wrap_asan_runtime(const char *prog, char *out, size_t size)
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

/* A loopback port free now, for {port}: the kernel picks it; -1 when none is. */
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

char **sd__wrap_command(int argc, char **argv, int *port)
{
	char **cargv = calloc((size_t)argc + 1, sizeof *cargv);
	*port = -1;
	if (!cargv) {
		sd__usage_error("wrap", "out of memory");
		return NULL;
	}
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *p = strstr(a, "{port}");
		if (p && *port < 0 && (*port = free_port()) < 0) {
			sd__usage_error("wrap", "cannot find a free loopback port");
			for (int j = 0; j < i; j++)
				free(cargv[j]);
			free(cargv);
			return NULL;
		}
		if (!p) {
			cargv[i] = strdup(a);
			continue;
		}
		char buf[4096];
		size_t o = 0;
		for (; *a && o + 8 < sizeof buf; a++) {
			if (!strncmp(a, "{port}", 6)) {
				o += (size_t)snprintf(buf + o, sizeof buf - o, "%d", *port);
				a += 5;
			} else {
				buf[o++] = *a;
			}
		}
		buf[o] = 0;
		cargv[i] = strdup(buf);
	}
	return cargv;
}

/* Without --run: the program runs in a process group of its own (so that SIGINT and SIGTERM
 * reach it once, through us), in the terminal's foreground when we were; we wait for it, print
 * the summary and exit with its status (128 + signal when a signal ended it). */
int sd__wrap_plain(struct sd__wrap *w)
{
	const char *prog = w->prog;
	char **cargv = w->cargv;
	int tty = isatty(0) && tcgetpgrp(0) == getpgrp();
	pid_t parent = getpid(), pid = sd__proc_spawn();
	if (pid == 0) {
		/* wrap killed outright (SIGKILL, which it cannot pass on) takes the program along,
		 * as when wrap exec'd it: nothing is left running unwatched */
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
		sd__wrap_stats_report(w->statspath, &w->used, w->logpath, w->logmax, 1);
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
	sd__wrap_stats_report(w->statspath, &w->used, w->logpath, w->logmax, w->quiet);
	if (rc < 0)
		return sd__usage_error("wrap", "waiting for %s: %s", prog, strerror(-rc));
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
