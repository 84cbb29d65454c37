/* sockdrill interposition layer: the in-process route, simulated sockets named by placeholders. */
#include "layer.h"

#include <stdlib.h>
#include <linux/sockios.h>

#include <sockdrill/fault.h>
#include <sockdrill/sim.h>
#include <sockdrill/trace.h>

#include "inproc.h"
#include "proc.h"
#include "threads.h"

/* In-process a program descriptor is a placeholder: socket(AF_UNIX, SOCK_STREAM) made through
 * the C library, so its number is the kernel's lowest free one (below FD_SETSIZE in a process
 * with few files), fstat says S_ISSOCK, and FD_CLOEXEC, O_NONBLOCK, dup and close_range act on
 * it natively. Its calls are the attached net's. */
const int sd__route_kernel_fds = 0;

static struct sd_net *cur;
static struct sd__fdh *to_close; /* released by sd__route_forget, closed by sd__route_flush */

struct sd_net *sd_inproc_net(void) { return __atomic_load_n(&cur, __ATOMIC_ACQUIRE); }

struct sd_net *sd__route_resolver(void) { return sd_inproc_net(); }

/* The attached net decides, when it is a fault wrapper (sd_fault_call answers 0 otherwise). */
int sd__route_call_fault(int op, const char *name)
{
	struct sd_net *net = sd_inproc_net();
	return net ? sd_fault_call(net, (enum sd_fault_op)op, name) : 0;
}

void sd__route_cancel_point(void) { sd__thread_cancel_point(); }

void sd__route_output(const struct iovec *v, int n)
{
	for (int i = 0; i < n; i++)
		sd__output_note(v[i].iov_base, v[i].iov_len);
}

void sd__route_unsupported(const char *call)
{
	sd__harness_error("%s on a simulated socket is not supported (harness error)", call);
}

struct sd_net *sd__route_socket_net(int domain, int type, int protocol)
{
	(void)protocol; /* the net answers EPROTONOSUPPORT for a protocol other than TCP */
	struct sd_net *net = sd_inproc_net();
	if (!net || (domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM)
		return NULL;
	return net;
}

int sd__route_adopt(struct sd_net *net, int sfd, int flags)
{
	int fd = SD__LIBC(socket)(AF_UNIX, SOCK_STREAM | (flags & (SOCK_NONBLOCK | SOCK_CLOEXEC)),
				  0);
	struct sd__fdh *h = fd < 0 ? NULL : calloc(1, sizeof *h);
	int err = fd < 0 ? -errno : !h ? -ENOMEM : 0;
	if (!err) {
		*h = (struct sd__fdh){.net = net, .sfd = sfd, .refs = 1, .kep = -1};
		err = sd__fd_set(fd, h);
	}
	if (err) {
		free(h);
		if (fd >= 0)
			SD__LIBC(close)(fd);
		sd_close(net, sfd);
		return err;
	}
	return fd;
}

int sd__route_dup(struct sd__fdh *h, int fd, int nfd)
{
	(void)fd;
	h->refs++;
	int err = sd__fd_set(nfd, h);
	if (err) {
		h->refs--;
		SD__LIBC(close)(nfd);
	}
	return err;
}

/* A handle no descriptor names any more, with the kernel epoll of a mixed set. */
static void free_handle(struct sd__fdh *h)
{
	if (h->kep >= 0)
		SD__LIBC(close)(h->kep);
	free(h);
}

/* One descriptor fewer names h: the socket closes with the last. */
static void release(struct sd__fdh *h)
{
	if (--h->refs)
		return;
	sd_close(h->net, h->sfd);
	free_handle(h);
}

int sd__route_close(int fd, struct sd__fdh *h)
{
	int rc = SD__LIBC(close)(fd) < 0 ? -errno : 0;
	release(h);
	return rc;
}

void sd__route_forget(int fd, struct sd__fdh *h)
{
	(void)fd;
	if (--h->refs)
		return;
	h->later = to_close;
	to_close = h;
}

void sd__route_flush(void)
{
	while (to_close) {
		struct sd__fdh *h = to_close;
		to_close = h->later;
		sd_close(h->net, h->sfd);
		free_handle(h);
	}
}

/* The sim under any fault and trace wrappers (NULL: none). */
static struct sd_net *sim_of(struct sd_net *net)
{
	while (net && (net->ops == &sd_fault_ops || net->ops == &sd_trace_ops))
		net = net->ops == &sd_fault_ops ? sd_fault_inner(net) : sd_trace_unwrap(net);
	return net;
}

struct sd_net *sd__route_calls_net(struct sd_net *sim)
{
	struct sd_net *net = sd_inproc_net(), *bottom = sim_of(net);
	return bottom && bottom->state == sim->state ? net : sim;
}

/* The queue sizes through the socket's net, one hop per layer (fault, trace, sim): a traced
 * run's trace has the call. */
long sd__route_queued(struct sd__fdh *h, int outq)
{
	int n = 0;
	int rc = sd_ioctl(h->net, h->sfd, outq ? SIOCOUTQ : SIOCINQ, &n);
	return rc < 0 ? rc : n;
}

int sd__route_sigpipe_raised(void) { return 0; /* no kernel socket on this route */ }

int sd__route_plain_calls(void) { return 0; }

void sd__route_waited(void) {}

/* The sim's API, under the wrappers, on purpose: this check and wake are the layer's own
 * bookkeeping after a short read, no call of the program's. Through the table (sd_ioctl,
 * sd_wake) a trace wrapper would add lines the program never caused to the trace and its hash;
 * the sim API is the table's member made on the sim itself, without them. */
void sd__route_read_short(struct sd_net *net, int sfd)
{
	net = sim_of(net);
	if (net && sd_sim_queued(net, sfd, 0) > 0)
		sd_sim_wake_readers(net, sfd);
}

/* At detach: the placeholder goes; the socket is left to the net, which may be closed next,
 * and whose sd_close could run another actor after the program was detached. */
static void drop(int fd, struct sd__fdh *h)
{
	SD__LIBC(close)(fd);
	if (--h->refs == 0)
		free_handle(h);
}

void sd_inproc_attach(struct sd_net *net)
{
	if (net == sd_inproc_net())
		return;
	sd__fd_take_range(0, SD__FD_MAX - 1, drop);
	__atomic_store_n(&cur, net, __ATOMIC_RELEASE);
}

int sd__route_own_fd(unsigned lo, unsigned hi)
{
	(void)lo, (void)hi;
	return -1;
}

void sd__route_own_move(int fd) { (void)fd; }
