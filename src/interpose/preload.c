/* sockdrill interposition layer: the LD_PRELOAD route, kernel sockets through the fault wrapper. */
#include "layer.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/sockios.h>

#include <sockdrill/fault.h>
#include <sockdrill/real.h>

#include "preload_exec.h"
#include "preload_out.h"
#include "record.h"

/*
 * libsockdrill_preload.so (`sockdrill wrap`): the TCP sockets an unmodified program creates
 * itself (socket, accept) go through the fault wrapper (src/wrap/fault.c) to a `real`
 * instance, configured by SOCKDRILL_FAULTS, SOCKDRILL_SEED and SOCKDRILL_LOG
 * (docs/faults.md). A program descriptor is the kernel socket itself: what the layer does not
 * model goes to the C library on it. Files, pipes, UDP, sockets the program did not create
 * (unless SOCKDRILL_INHERITED=1: then the TCP sockets it starts with are tracked too), and
 * everything when no fault is configured (and no recording asked, SOCKDRILL_RECORD:
 * record.c), go to the C library untouched: the table stays empty and each call costs one
 * load.
 *
 * Safe in any program: the C library is reached through src/util/libc.c, which works before this
 * library's constructor ran (another library's constructor may call read first); tracking a
 * socket allocates nothing (handles live in chunks mapped beside the table); the wrapper's
 * lock is held across fork() so that no child inherits it taken.
 */
const int sd__route_kernel_fds = 1;

static struct sd_net real, faulty;
static struct sd_net *top = &faulty; /* what the sockets use: faulty, or a recorder before it */
static int active;
static int carry; /* SOCKDRILL_INHERITED: an exec passes the sockets' identities on */

static struct sd__fdh *own[SD__FD_CHUNKS]; /* own[fd / SD__FD_CHUNK][fd % SD__FD_CHUNK] */

/* The handle kept for descriptor fd, or NULL (beyond the table, or no memory). */
static struct sd__fdh *own_handle(int fd)
{
	if (fd < 0 || fd >= SD__FD_MAX)
		return NULL;
	struct sd__fdh *c =
		sd__chunk_map((void **)&own[(unsigned)fd / SD__FD_CHUNK], SD__FD_CHUNK * sizeof *c);
	return c ? &c[(unsigned)fd % SD__FD_CHUNK] : NULL;
}

/* Enters kernel descriptor fd, one of the real instance's, in the table; one the table cannot
 * hold stays a plain socket of the program's. */
static void track(int fd)
{
	struct sd__fdh *h = own_handle(fd);
	if (!h)
		return;
	*h = (struct sd__fdh){.net = top, .sfd = fd, .refs = 1};
	if (sd__fd_set(fd, h) < 0)
		sd_real_adopt(&real, fd, 0);
}

/* The inherited socket fd (SOCKDRILL_INHERITED): a TCP one is tracked as if the program had
 * made it, listeners numbered l, connected ones a (accepted by whoever passed it on: sshd's
 * listener before its re-exec, inetd); one neither listening nor connected gets its number
 * when it does. One the image before an exec tracked (SOCKDRILL_CONNS, the same inode)
 * continues its connection instead: its ordinal, its process, its call count. Not a TCP
 * socket (ENOTSOCK for files and pipes): untouched. */
static struct {
	ino_t ino;
	int fd;
} adopted[64]; /* the inherited sockets tracked, to know their copies (inetd: 0 and 1) */
static int nadopted;

static void adopt_inherited(int fd)
{
	int domain = 0, type = 0, proto = 0, acc = 0, fl;
	socklen_t l = sizeof domain;
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	if (SD__LIBC(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0 ||
	    (domain != AF_INET && domain != AF_INET6))
		return;
	l = sizeof type;
	if (SD__LIBC(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM)
		return;
	l = sizeof proto;
	if (SD__LIBC(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0 ||
	    proto != IPPROTO_TCP || sd__fd_lookup(fd))
		return;
	l = sizeof acc;
	if (SD__LIBC(getsockopt)(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0 ||
	    (fl = SD__LIBC(fcntl)(fd, F_GETFL)) < 0)
		return;
	uint64_t role = acc ? SD_CONN_LISTENER
			: SD__LIBC(getpeername)(fd, (struct sockaddr *)&peer, &pl) == 0
				? SD_CONN_ACCEPTED
				: 0;
	struct stat st;
	int first = -1, known = fstat(fd, &st) == 0;
	const struct sd_fault_conn *id = known ? sd__preload_exec_identity(fd, st.st_ino) : NULL;
	if (known)
		for (int i = 0; i < nadopted && first < 0; i++)
			first = adopted[i].ino == st.st_ino ? adopted[i].fd : -1;
	if (sd_real_adopt(&real, fd, 1) < 0)
		return;
	if (id) { /* numbered before the exec: the same connection, the same decisions */
		if (first < 0 && known && nadopted < (int)(sizeof adopted / sizeof adopted[0]))
			adopted[nadopted].ino = st.st_ino, adopted[nadopted++].fd = fd;
		if (sd_fault_adopt_conn(&faulty, fd, id, (fl & O_NONBLOCK) != 0) == 0)
			track(fd);
		else
			sd_real_adopt(&real, fd, 0);
		return;
	}
	if (first >= 0) { /* a copy of one seen already: the same connection */
		if (sd_fault_dup(&faulty, first, fd) == 0)
			track(fd);
		else
			sd_real_adopt(&real, fd, 0);
		return;
	}
	if (known && nadopted < (int)(sizeof adopted / sizeof adopted[0]))
		adopted[nadopted].ino = st.st_ino, adopted[nadopted++].fd = fd;
	if (sd_fault_adopt(&faulty, fd, role, (fl & O_NONBLOCK) != 0) < 0) {
		sd_real_adopt(&real, fd, 0);
		return;
	}
	track(fd);
}

/* Every descriptor open at start-up, in increasing order (the numbering replays): from
 * /proc/self/fd read with getdents64 (no allocation, no stdio), else the first 1024. */
static void adopt_all_inherited(void)
{
	_Alignas(8) char buf[4096];                 /* records of 8-byte fields */
	unsigned char seen[SD__FD_CHUNK / 8] = {0}; /* the ones below 1024, in order */
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC), high[64], nhigh = 0;
	long n;
	if (dir < 0) {
		for (int fd = 0; fd < SD__FD_CHUNK; fd++)
			adopt_inherited(fd);
		return;
	}
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0)
		for (long off = 0; off < n;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *e = (void *)(buf + off);
			char *end;
			long fd = strtol(e->name, &end, 10);
			off += e->reclen;
			if (*end || fd < 0 || fd == dir)
				continue;
			if (fd < SD__FD_CHUNK)
				seen[fd / 8] |= (unsigned char)(1u << (fd % 8));
			else if (nhigh < (int)(sizeof high / sizeof high[0]))
				high[nhigh++] = (int)fd; /* a listener at a high number: kept */
		}
	SD__LIBC(close)(dir);
	for (int fd = 0; fd < SD__FD_CHUNK; fd++)
		if (seen[fd / 8] & (1u << (fd % 8)))
			adopt_inherited(fd);
	for (int i = 1; i < nhigh; i++) /* few: insertion sort */
		for (int j = i; j > 0 && high[j - 1] > high[j]; j--) {
			int t = high[j];
			high[j] = high[j - 1], high[j - 1] = t;
		}
	for (int i = 0; i < nhigh; i++)
		adopt_inherited(high[i]);
}

/* The wrapper's lock, then the log's, are held across fork. The child takes its own pid (log
 * lines, connection ids) and its own slot of the counts before releasing them. */
static void fork_prepare(void)
{
	sd_fault_lock(&faulty, 1);
	sd__preload_out_fork_prepare();
}
static void fork_parent(void)
{
	sd__preload_out_fork_parent();
	sd_fault_lock(&faulty, 0);
}
static void fork_child(void)
{
	sd__preload_out_fork_child(&faulty);
	sd_fault_lock(&faulty, 0);
}

__attribute__((constructor)) static void sd_preload_init(void)
{
	int saved = errno; /* the C library's functions were found before (src/util/libc.c) */
	const char *f = getenv("SOCKDRILL_FAULTS"), *s = getenv("SOCKDRILL_SEED");
	const char *l = getenv("SOCKDRILL_LOG"), *lmax = getenv("SOCKDRILL_LOG_MAX");
	const char *st = getenv("SOCKDRILL_STATS");
	struct sd_fault_spec spec;
	struct sd_config cfg = {.flags = SD_CFG_ALLOW_NONLOOPBACK}; /* the program's own policy */
	char err[256];
	void *state;
	/* Any spec turns the decisions on, even one whose faults are all at probability 0 (which
	 * is how their overhead is measured); no spec is pure pass-through. */
	if ((!f || !*f) && !sd__record_wanted())
		goto out;
	if (!f)
		f = ""; /* recording with no fault: the wrapper passes every call through */
	if (sd_fault_parse(f, &spec, err, sizeof err) < 0) {
		/* sockdrill wrap checked the spec already; a hand-set bad one is said once */
		dprintf(2, "libsockdrill_preload: %s; no faults injected\n", err);
		goto out;
	}
	if (sd_real_ops.create(&cfg, &state) < 0)
		goto out;
	real = (struct sd_net){.ops = &sd_real_ops, .state = state};
	if (sd_fault_wrap(&faulty, &real, &spec, s ? strtoull(s, NULL, 0) : 1, NULL) < 0)
		goto out;
	sd__preload_out_init(&faulty, &spec, l, lmax, st); /* the log is a descriptor of our own */
	top = sd__record_wrap(&faulty);
	const char *inh = getenv("SOCKDRILL_INHERITED");
	if (inh && !strcmp(inh, "1")) {
		sd__preload_exec_arrive(); /* what the image before an exec numbered */
		adopt_all_inherited();
		carry = 1;
	}
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	__atomic_store_n(&active, 1, __ATOMIC_RELEASE);
out:
	errno = saved;
}

struct sd_net *sd__route_resolver(void) { return NULL; }

int sd__route_call_fault(int op, const char *name)
{
	if (!__atomic_load_n(&active, __ATOMIC_ACQUIRE))
		return 0;
	return sd_fault_call(&faulty, (enum sd_fault_op)op, name);
}

void sd__route_cancel_point(void) {}

void sd__route_output(const struct iovec *v, int n) { (void)v, (void)n; }

void sd__route_unsupported(const char *call)
{
	dprintf(2, "libsockdrill_preload: %s is not supported\n", call);
	SD__LIBC_FN(_exit)(2);
	abort();
}

/* Through the socket's net (recorder, fault wrapper, real). A socket the real instance could
 * not record (-EBADF from it, as for close) is still the program's: the kernel answers. */
long sd__route_queued(struct sd__fdh *h, int outq)
{
	unsigned long req = outq ? SIOCOUTQ : SIOCINQ;
	int n = 0;
	int rc = sd_ioctl(h->net, h->sfd, req, &n);
	if (rc == -EBADF)
		rc = SD__LIBC(ioctl)(h->sfd, req, &n) < 0 ? -errno : 0;
	return rc < 0 ? rc : n;
}

int sd__route_sigpipe_raised(void) { return sd_real_sigpipe_raised(); }

/*
 * A program that sandboxes itself (OpenSSH's pre-authentication child, anything using
 * libseccomp) first calls prctl(PR_SET_NO_NEW_PRIVS) or prctl(PR_SET_SECCOMP); its filter
 * may then kill any system call it did not list, such as a sendto standing in for its write.
 * From that call on (set before it: the filter applies at once), the layer makes the
 * program's read, write, readv and writev as those system calls (io.c, SD_MSG_PLAIN). A fork
 * keeps the flag with the memory; an image exec'd after sandboxing starts without it.
 */
static int sandboxed;

int sd__route_plain_calls(void) { return __atomic_load_n(&sandboxed, __ATOMIC_RELAXED); }

void sd__route_waited(void)
{
	if (__atomic_load_n(&active, __ATOMIC_ACQUIRE))
		sd_fault_note_wait(&faulty);
}

SD__EXPORT int prctl(int option, ...)
{
	va_list ap;
	unsigned long a[4];
	va_start(ap, option);
	for (int i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	if (option == PR_SET_NO_NEW_PRIVS || option == PR_SET_SECCOMP)
		__atomic_store_n(&sandboxed, 1, __ATOMIC_RELAXED);
	return SD__LIBC(prctl)(option, a[0], a[1], a[2], a[3]);
}

void sd__route_read_short(struct sd_net *net, int sfd)
{
	(void)net, (void)sfd; /* the kernel's epoll cannot be told (docs/faults.md) */
}

struct sd_net *sd__route_socket_net(int domain, int type, int protocol)
{
	if (!__atomic_load_n(&active, __ATOMIC_ACQUIRE) ||
	    (domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM ||
	    (protocol != 0 && protocol != IPPROTO_TCP))
		return NULL;
	return top;
}

int sd__route_adopt(struct sd_net *net, int sfd, int flags)
{
	(void)net, (void)flags; /* the program's descriptor is the socket: flags are the kernel's */
	track(sfd);
	return sfd;
}

/* A copy continues the socket's connection (its ordinal, its call count). */
int sd__route_dup(struct sd__fdh *h, int fd, int nfd)
{
	(void)h;
	if (sd_real_adopt(&real, nfd, 1) == 0 && sd_fault_dup(&faulty, fd, nfd) == 0)
		track(nfd);
	return 0;
}

int sd__route_close(int fd, struct sd__fdh *h)
{
	int rc = sd_close(h->net, fd);
	/* not the instance's (it could not record it): still the program's to close */
	return rc == -EBADF ? (SD__LIBC(close)(fd) < 0 ? -errno : 0) : rc;
}

void sd__route_forget(int fd, struct sd__fdh *h)
{
	(void)h;
	sd_real_adopt(&real, fd, 0);
}

void sd__route_flush(void) {}

size_t sd__preload_conns(char *buf, size_t size)
{
	size_t o = 0;
	int n = 0;
	if (!carry || !__atomic_load_n(&active, __ATOMIC_ACQUIRE) || !sd__fd_any() || !size)
		return 0;
	buf[0] = 0;
	for (unsigned ci = 0; ci < SD__FD_CHUNKS && n < SD_CONNS_MAX; ci++) {
		struct sd__fdh **c = __atomic_load_n(&sd__fdtab[ci], __ATOMIC_ACQUIRE);
		for (unsigned j = 0; c && j < SD__FD_CHUNK && n < SD_CONNS_MAX; j++) {
			int fd = (int)(ci * SD__FD_CHUNK + j), k;
			struct sd_fault_conn id;
			struct stat st;
			if (!__atomic_load_n(&c[j], __ATOMIC_ACQUIRE) ||
			    sd_fault_conn_of(&faulty, fd, &id) < 0 || fstat(fd, &st) < 0)
				continue;
			k = snprintf(buf + o, size - o, "%s%d:%llu:%ld:%llx:%llu", o ? "," : "", fd,
				     (unsigned long long)st.st_ino, id.pid,
				     (unsigned long long)id.conn, (unsigned long long)id.calls);
			if (k < 0 || (size_t)k >= size - o) {
				buf[o] = 0; /* no entry cut in half */
				return o;
			}
			o += (size_t)k;
			n++;
		}
	}
	return o;
}
