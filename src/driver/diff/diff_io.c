/* sockdrill diff: the steps that move or count a connection's bytes (send, recv, recvmsg,
 * the queue sizes), with the byte check and the buffer and held-bytes rules they feed. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <sockdrill/sockdrill.h>

#include "diff_int.h"

long diff__step_send(struct run *r, const struct sd_diff_op *o, struct slot *sl,
		     struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	(void)res;
	size_t n = diff__io_size(o);
	struct slot *p = diff__peer_slot(r, sl);
	uint64_t unread = p ? sl->sent - p->recvd : 0;
	for (size_t i = 0; i < n; i++)
		r->buf[i] = diff__pattern(sl->sent + i, sl->port);
	int more = diff__send_more(o);
	/* what a holding send held back: the bytes its peer did not get (on loopback the
	 * kernel delivers the rest before the call returns) */
	long before = (more || sl->corked) && p ? diff__inq_of(r, p) : -1;
	/* The reader closed or shut down before (its FIN came): the sim resets at once if
	 * it shut its read side, Linux when the held bytes reach it (diff__close_slot()). */
	int reader_closed =
		(more || sl->corked) && sl->peer_port && diff__tcp_state(r, sl) == TCP_CLOSE_WAIT;
	/* A segment from the reader makes Linux send what MSG_MORE held on an uncorked
	 * socket (tcp_data_snd_check()); the sim holds them on (the reader's FIN too:
	 * SD_DIFF_SHUTDOWN). */
	if (p && !p->corked)
		diff__held_unsure_all(r, p);
	long rc = sd_send(r->net, sl->fd, r->buf, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
	if (rc > 0 && reader_closed)
		sl->held_unsure = 1;
	if (rc > 0 && (more || sl->corked) && !sl->held_since)
		sl->held_since = sd_now_ns(r->net) | 1;
	/* Held past a segment, what is held depends on the segment size, which Linux
	 * raises as data flows and the sim keeps (docs/sim-vs-linux.md, TCP_MAXSEG) */
	if (rc > 0 && (more || sl->corked) && n >= HELD_SEGMENT)
		sl->held_unsure = 1;
	else if (rc > 0 && !more && !sl->corked)
		sl->held_since = 0; /* pushed */
	/* A shrunk buffer on either end makes the window small, whatever was advertised
	 * before: any send beyond it is in the autotuning zone too. */
	uint64_t cap = sl->small_buf || (p && p->small_buf) ? SMALL_CAPACITY : NEAR_CAPACITY;
	if (rc == -EAGAIN && unread + n > cap) {
		snprintf(out->text, sizeof out->text, "blocked~");
		diff__taint(r, sl);
		if (p)
			diff__taint(r, p);
		return STEP_WRITTEN;
	}
	if (rc < 0)
		return rc;
	/* Past its first segments (quick ACK mode) Linux's receiver delays an ACK up to
	 * 40 ms: seen with a second send while the first was unread (30786 bytes unread),
	 * and past DELAYED_ACK_UNREAD unread (unread: those of a peer not accepted yet
	 * too). */
	if (sl->sent > 0 || sl->sent + (uint64_t)rc - (p ? p->recvd : 0) > DELAYED_ACK_UNREAD)
		sl->acks_delayed = 1;
	sl->sent += (uint64_t)rc;
	int near = unread + n > cap;
	if ((size_t)rc < n || near)
		diff__taint(r, sl);
	if (p && ((size_t)rc < n || near))
		diff__taint(r, p);
	long after = before >= 0 && !near ? diff__inq_of(r, p) : -1;
	if (after >= before && before >= 0)
		snprintf(out->text, sizeof out->text, "%s held=%ld",
			 (size_t)rc == n ? "all" : "partial", rc - (after - before));
	else
		snprintf(out->text, sizeof out->text, "%s%s", (size_t)rc == n ? "all" : "partial",
			 near ? "~" : "");
	return STEP_WRITTEN;
}

long diff__step_recv(struct run *r, const struct sd_diff_op *o, struct slot *sl,
		     struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	static const int flags[] = {0, MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT};
	size_t n = diff__io_size(o);
	struct slot *p = diff__peer_slot(r, sl);
	long rc = sd_recv(r->net, sl->fd, r->buf, n, flags[o->a % 4]);
	if (rc < 0)
		return rc;
	int peeked_past = (flags[o->a % 4] & MSG_PEEK) && sl->peek_off;
	for (long i = 0; i < rc && !peeked_past; i++)
		if (p && r->buf[i] != diff__pattern(sl->recvd + (uint64_t)i, p->port))
			res->stream_errors++;
	if (!(flags[o->a % 4] & MSG_PEEK))
		sl->recvd += (uint64_t)rc;
	if (sl->tainted)
		snprintf(out->text, sizeof out->text, rc ? "data" : "0");
	else
		diff__set_text(out, rc);
	return STEP_WRITTEN;
}

long diff__step_recvmsg(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	int fl = diff__msg_flags(o);
	struct slot *p = diff__peer_slot(r, sl);
	struct iovec iov = {.iov_base = r->buf, .iov_len = diff__io_size(o)};
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	size_t room = diff__control_room(o);
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = room ? &ctl : NULL,
			    .msg_controllen = room};
	memset(&ctl, 0, sizeof ctl);
	long rc = sd_recvmsg(r->net, sl->fd, &mh, fl | (o->a / 24 % 2 ? MSG_CMSG_CLOEXEC : 0));
	if (rc < 0)
		return rc;
	/* MSG_TRUNC on TCP: the bytes are counted (and, without MSG_PEEK, dropped),
	 * not copied */
	for (long i = 0; i < rc && !(fl & MSG_TRUNC) && !((fl & MSG_PEEK) && sl->peek_off); i++)
		if (p && r->buf[i] != diff__pattern(sl->recvd + (uint64_t)i, p->port))
			res->stream_errors++;
	if (!(fl & MSG_PEEK))
		sl->recvd += (uint64_t)rc;
	/* TCP_INQ's count of the bytes left (setsockopt TCP_INQ=1) */
	int inq = -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_len >= CMSG_LEN(sizeof inq) && c->cmsg_level == SOL_TCP &&
	    c->cmsg_type == TCP_CM_INQ)
		memcpy(&inq, CMSG_DATA(c), sizeof inq);
	char clen[24] = "";
	if (room != sizeof ctl) /* the usual room: the message's whole space */
		snprintf(clen, sizeof clen, " clen=%zu", (size_t)mh.msg_controllen);
	char t[128];
	if (sl->tainted)
		snprintf(t, sizeof t, rc ? "data" : "0");
	else if (inq >= 0)
		snprintf(t, sizeof t, "%ld flags=0x%x inq=%d%s", rc, (unsigned)mh.msg_flags, inq,
			 clen);
	else
		snprintf(t, sizeof t, "%ld flags=0x%x%s%s", rc, (unsigned)mh.msg_flags,
			 c ? " cmsg" : "", clen);
	snprintf(out->text, sizeof out->text, "%.47s", t);
	return STEP_WRITTEN;
}

long diff__step_query(struct run *r, const struct sd_diff_op *o, struct slot *sl,
		      struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	int v = 0;
	socklen_t vl = sizeof v;
	long rc;
	(void)res;
	if (o->a % 3 == 2) {
		rc = sd_getsockopt(r->net, sl->fd, IPPROTO_TCP, TCP_INQ, &v, &vl);
		rc = rc < 0 ? rc : v;
	} else {
		rc = sd_ioctl(r->net, sl->fd, o->a % 3 ? SIOCOUTQ : SIOCINQ, &v);
		rc = rc < 0 ? rc : v;
	}
	if (o->a % 3 == 1 && rc >= 0 &&
	    (sl->fin_sent || sl->acks_delayed || diff__tcp_state(r, sl) == TCP_CLOSE)) {
		/* Linux counts a FIN in SIOCOUTQ until its ACK, which the peer delays, and bytes
		 * of a second send or past DELAYED_ACK_UNREAD unread too; and a closed socket's
		 * SIOCOUTQ is what its sequence numbers were left at (1 for the SYN of a refused
		 * connect). The sim says 0 for all. */
		diff__not_compared(out, R_OUTQ);
		return STEP_WRITTEN;
	}
	return rc;
}
