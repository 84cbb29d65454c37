/* sockdrill: the kernel's TCP sockets on a local port, from netlink sock_diag. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "kports.h"

#define BUF_SIZE   32768
#define MAX_READS  4096 /* a dump of ~100 sockets a read: far beyond any real table */
#define READ_LIMIT 1    /* seconds one read may wait for the kernel */

/* Asks for every TCP socket of one family, every state: all bits set also asks for the
 * bound-only ones (TCP_BOUND_INACTIVE, Linux 6.9+; older kernels ignore the bit). */
static int dump(int nl, int family, uint16_t port, struct sd__kport *out, int max, int *n,
		char *buf)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = sizeof req;
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (sendto(nl, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
		return -errno;
	for (int reads = 0; reads < MAX_READS; reads++) {
		ssize_t len = recv(nl, buf, BUF_SIZE, 0);
		if (len < 0)
			return -errno;
		if (len == 0)
			return -EIO;
		size_t left = (size_t)len;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error ? e->error : -EIO;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				continue;
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			if (ntohs(m->id.idiag_sport) != port)
				continue;
			if (*n < max) {
				out[*n].dport = ntohs(m->id.idiag_dport);
				out[*n].state = m->idiag_state;
				out[*n].inode = m->idiag_inode;
			}
			(*n)++;
		}
	}
	return -EIO; /* no end of dump in sight */
}

int sd__kports(uint16_t port, struct sd__kport *out, int max)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	struct timeval limit = {.tv_sec = READ_LIMIT};
	setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
	char *buf = malloc(BUF_SIZE);
	int n = 0, rc = buf ? 0 : -ENOMEM;
	/* A dual-stack IPv6 socket holds the port for IPv4 too: both tables count. */
	if (!rc)
		rc = dump(nl, AF_INET, port, out, max, &n, buf);
	if (!rc)
		rc = dump(nl, AF_INET6, port, out, max, &n, buf);
	free(buf);
	close(nl);
	return rc < 0 ? rc : n;
}
