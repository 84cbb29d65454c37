/* sockdrill tests: blocking socket I/O in a seccomp sandbox that kills the process on fcntl and
 * fstat, and on sendto and recvfrom (OpenSSH's filter lists write and read, not those), as a
 * sandboxed server child's filter would: the preload must add or substitute no such call. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "pair.h"

#define N 20000

static int fds[2];

static void *writer(void *arg)
{
	(void)arg;
	static char buf[N];
	for (size_t i = 0; i < N; i++)
		buf[i] = (char)('a' + i % 26);
	for (size_t off = 0; off < N;) {
		ssize_t k = write(fds[0], buf + off, N - off);
		if (k < 0 && errno != EINTR)
			return (void *)1;
		off += k > 0 ? (size_t)k : 0;
	}
	return NULL;
}

#define DENY(nr, action)                                                                           \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, (action))

/* usage: sandboxed kill|eacces. kill: fcntl, fstat, newfstatat and statx end the process.
 * eacces: fcntl ends it, fstat and open fail with EACCES (OpenSSH's filter does so). */
int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	int eacces = !strcmp(argv[1], "eacces");
	unsigned stat_action = eacces ? SECCOMP_RET_ERRNO | EACCES : SECCOMP_RET_KILL_PROCESS;
	sd_test_pair(fds);
	/* stdout set up before the filter: its first use looks at the descriptor */
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		DENY(__NR_fcntl, SECCOMP_RET_KILL_PROCESS),
		DENY(__NR_sendto, SECCOMP_RET_KILL_PROCESS),
		DENY(__NR_recvfrom, SECCOMP_RET_KILL_PROCESS),
		DENY(__NR_fstat, stat_action),
		DENY(__NR_newfstatat, stat_action),
		DENY(__NR_statx, stat_action),
		DENY(__NR_open, eacces ? SECCOMP_RET_ERRNO | EACCES : SECCOMP_RET_ALLOW),
		DENY(__NR_openat, eacces ? SECCOMP_RET_ERRNO | EACCES : SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("seccomp");
		return 3;
	}
	/* Non-blocking for a moment through ioctl, which the sandbox allows: the layer follows it
	 * without asking the kernel again (no fcntl). */
	int on = 1;
	if (ioctl(fds[1], FIONBIO, &on) < 0)
		return 3;
	on = 0;
	if (ioctl(fds[1], FIONBIO, &on) < 0)
		return 3;
	pthread_t t;
	if (pthread_create(&t, NULL, writer, NULL))
		return 3;
	static char got[N];
	size_t off = 0;
	long eintr = 0;
	while (off < N) {
		ssize_t k = read(fds[1], got + off, N - off);
		if (k < 0 && errno == EINTR) {
			eintr++;
			continue;
		}
		if (k <= 0)
			return 4;
		off += (size_t)k;
	}
	void *wrc;
	pthread_join(t, &wrc);
	size_t bad = 0;
	for (size_t i = 0; i < N; i++)
		bad += got[i] != (char)('a' + i % 26);
	printf("read %zu bytes, %zu wrong, %s EINTR\n", off, bad, eintr ? "some" : "no");
	return wrc ? 5 : 0;
}
