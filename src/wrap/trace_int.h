/* sockdrill: the trace wrapper's private state and what its files share (trace*.c). */
#ifndef SD_WRAP_TRACE_INT_H
#define SD_WRAP_TRACE_INT_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>

#include <sockdrill/trace.h>

struct tstate {
	struct sd_net *inner;
	FILE *f;
	uint64_t hash;
	pthread_mutex_t m; /* guards the hash, the file's lines and the families */
	/* fam[fd]: AF_INET or AF_INET6 for a socket the wrapper saw made (socket, accept, dup),
	 * 0 for any other descriptor: how bind and connect read an address depends on it */
	unsigned char *fam;
	int nfam;
	sd_trace_sink sink; /* sd_trace_set_sink, or NULL */
	void *sink_ctx;
	int step; /* sd_trace_set_step */
};

/* One call while it is forwarded: what its event needs beyond its line. */
struct tcall {
	int64_t start; /* inner's clock before forwarding (with a sink) */
	int fd, step;
	const void *data;         /* send/recv: the buffer, of which ndata bytes moved */
	const struct msghdr *msg; /* sendmsg/recvmsg: the pieces, of which ndata bytes moved */
	size_t ndata;
};

/* The event of a call (c; NULL for a note) to the sink, under t's lock: line is its trace
 * line, whose head (time and actor) is headlen long; now the time the head shows. */
void trace__sink(struct tstate *t, const char *line, int headlen, const struct tcall *c,
		 long result, int64_t now);

/* The family fd was made with, or 0 when the wrapper did not see it made. */
int trace__family(struct tstate *t, int fd);

/* The address of a bind or connect on fd that returned rc, as the line shows it: "?" for
 * none (bind: only without a socket), an IPv4 endpoint as a.b.c.d:port. */
const char *trace__bind_addr(struct tstate *t, int fd, const struct sockaddr *a, socklen_t len,
			     int rc, char *buf, size_t n);
const char *trace__connect_addr(struct tstate *t, int fd, const struct sockaddr *a, socklen_t len,
				int rc, char *buf, size_t n);
/* The int a setsockopt set, or a getsockopt read back (after the call), as the line shows
 * it: 0 for a struct-valued option, a failed or refused call, a value shorter than an int. */
int trace__set_value(int level, int name, const void *v, socklen_t l, int rc);
int trace__get_value(int level, int name, const void *v, const socklen_t *l, int rc);

#endif
