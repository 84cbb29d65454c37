/* sockdrill: the `real` backend's probes of the kernel it runs on (docs/sim-vs-linux.md,
 * "Kernel variants"): one-role or not, and its HZ. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <sockdrill/sockdrill.h>

#include "real_internal.h"

/* The probe's connect waits at most this long: a refusal on loopback is immediate, so only a
 * loopback that drops SYNs (a firewall rule) would make it wait at all. */
#define PROBE_TIMEOUT_S 5

int sd_real_probe_one_role(const struct sd_real_syscalls *sys)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	struct timeval tv = {PROBE_TIMEOUT_S, 0};
	int holder = -1, c = -1, rc;
	if (!sys)
		sys = &sd_real_libc;
	/* A port bound but not listening: a connect to it is refused at once. */
	if ((holder = sys->socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    sys->bind(holder, (struct sockaddr *)&a, sizeof a) < 0 ||
	    sys->getsockname(holder, (struct sockaddr *)&a, &len) < 0 ||
	    (c = sys->socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    sys->setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
		rc = -errno;
		goto out;
	}
	if (sys->connect(c, (struct sockaddr *)&a, len) == 0)
		rc = -EPROTO; /* nothing could accept there: not the kernel this probe knows */
	else if (errno != ECONNREFUSED)
		rc = errno == EINPROGRESS || errno == EAGAIN ? -ETIMEDOUT : -errno;
	else if (sys->listen(c, 1) == 0)
		rc = 0;
	else
		rc = errno == EINVAL ? 1 : -errno;
out:
	if (c >= 0)
		sys->close(c);
	if (holder >= 0)
		sys->close(holder);
	return rc;
}

/* 0 while this process has no answer, else 1 + the answer: the kernel a process runs on does
 * not change under it, so one probe serves every comparison it makes. */
static atomic_int host_one_role;

int sd_real_host_one_role(void)
{
	int known = atomic_load(&host_one_role);
	if (known)
		return known - 1;
	int rc = sd_real_probe_one_role(&sd_real_libc);
	if (rc >= 0)
		atomic_store(&host_one_role, rc + 1);
	return rc;
}

int sd_real_probe_hz(const struct sd_real_syscalls *sys)
{
	struct timeval tv = {0, 1};
	socklen_t len = sizeof tv;
	int fd, rc = 0;
	if (!sys)
		sys = &sd_real_libc;
	if ((fd = sys->socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (sys->setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    sys->getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) < 0)
		rc = -errno;
	sys->close(fd);
	if (rc < 0)
		return rc;
	/* sock_get_timeout: usec = ticks * 1000000 / HZ, truncated; one tick of HZ=300 is 3333 */
	if (tv.tv_sec != 0 || tv.tv_usec < 100 || tv.tv_usec > 41666)
		return -EPROTO;
	return (int)((1000000 + tv.tv_usec / 2) / tv.tv_usec);
}

static atomic_int host_hz; /* 0 until probed */

int sd_real_host_hz(void)
{
	int known = atomic_load(&host_hz);
	if (known)
		return known;
	int rc = sd_real_probe_hz(&sd_real_libc);
	if (rc > 0)
		atomic_store(&host_hz, rc);
	return rc;
}
