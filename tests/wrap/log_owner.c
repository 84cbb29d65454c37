/* sockdrill tests: a program that closes every descriptor it did not open, as daemons do, then
 * reuses the numbers; under wrap the fault log must never write into them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "pair.h"

/* The number the log has now (the descriptor whose link is `log`), or -1. */
static int log_number(const char *log)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char link[300], target[PATH_MAX];
	int found = -1;
	while (d && (e = readdir(d))) {
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n > 0 && (target[n] = 0, !strcmp(target, log)))
			found = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

/* usage: log_owner closefrom|loop|raw REUSE_FILE LOG_FILE */
int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	const char *how = argv[1];
	char log[PATH_MAX];
	if (!realpath(argv[3], log))
		return 2;
	int stolen = log_number(log);
	if (!strcmp(how, "closefrom")) {
		closefrom(3);
	} else if (!strcmp(how, "loop")) {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		for (int fd = 3; fd < (int)rl.rlim_cur && fd < 65536; fd++)
			close(fd);
	} else if (!strcmp(how, "raw")) {
		/* behind the layer's back: it cannot see this */
		syscall(SYS_close_range, 3u, ~0u, 0);
	} else {
		return 2;
	}
	/* the numbers are taken again: the lowest, and where the log was */
	int reuse = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (reuse < 0)
		return 3;
	if (stolen >= 0 && !strcmp(how, "raw")) {
		/* the number is the program's now: its close must close it */
		if (syscall(SYS_dup3, reuse, stolen, 0) < 0 || close(stolen) != 0)
			return 5;
		if (syscall(SYS_dup3, reuse, stolen, 0) < 0)
			return 3;
	}
	int p[2];
	sd_test_pair(p);
	char buf[64], got[64];
	memset(buf, 'x', sizeof buf);
	size_t off = 0;
	while (off < sizeof buf) {
		ssize_t k = write(p[0], buf + off, sizeof buf - off);
		if (k < 0 && errno != EINTR)
			return 4;
		off += k > 0 ? (size_t)k : 0;
	}
	for (off = 0; off < sizeof got;) {
		ssize_t k = read(p[1], got + off, sizeof got - off);
		if (k == 0 || (k < 0 && errno != EINTR))
			return 4;
		off += k > 0 ? (size_t)k : 0;
	}
	printf("log at %d, reuse at %d, data %s\n", stolen, reuse,
	       memcmp(buf, got, sizeof buf) ? "bad" : "ok");
	return 0;
}
