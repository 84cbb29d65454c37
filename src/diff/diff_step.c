/* sockdrill diff: one step per op kind on the socket slots, dispatched by a table of kinds. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include <sockdrill/sockdrill.h>

#include "diff_int.h"

static long step_socket(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	(void)res;
	if (sl->fd >= 0)
		sd__diff_close_slot(r, sl);
	memset(sl, 0, sizeof *sl);
	sl->file = ++r->files;
	sl->v6 = o->a & 1;
	sl->fd = sd_socket(r->net, sl->v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	sd__diff_no_nagle(r, sl->fd);
	snprintf(out->text, sizeof out->text, sl->fd >= 0 ? "fd" : "%ld", (long)sl->fd);
	if (sl->fd < 0)
		sd__diff_set_text(out, sl->fd), sl->fd = -1;
	return STEP_WRITTEN;
}

static long step_bind(struct run *r, const struct sd_diff_op *o, struct slot *sl,
		      struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int src = o->b % (SD_DIFF_SLOTS + 1);
	int port = src ? r->s[src - 1].port : 0;
	sd__diff_make_addr(sl->v6, o->a % 6, port, &ss, &len);
	long rc = sd_bind(r->net, sl->fd, (struct sockaddr *)&ss, len);
	if (rc == 0 && sl->v6 && (o->a % 6 == 2 || o->a % 6 == 4))
		sl->mapped_bound = 1;
	if (rc == -EADDRINUSE && r->settle_ms && port && sd__diff_held_outside(r, port)) {
		/* Not a difference of the stacks: the sim has no such socket. The socket is now
		 * unbound here and maybe bound there, so it is not compared again (nor are binds
		 * and connects to its port). */
		sd__diff_not_compared(out, R_HELD_OUTSIDE);
		res->held_outside++;
		sd__diff_taint(r, sl);
		return STEP_WRITTEN;
	}
	return rc;
}

static long step_listen(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	(void)out, (void)res;
	return sd_listen(r->net, sl->fd, o->a % 4);
}

static long step_connect(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			 struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	struct sockaddr_storage ss;
	socklen_t len;
	(void)res;
	sd__diff_make_addr(sl->v6, o->a % 4, r->s[o->b % SD_DIFF_SLOTS].port, &ss, &len);
	/* "::" from a socket bound to a v4-mapped address is a v4-mapped connect too
	 * (tcp_v6_connect turns it into ::ffff:127.0.0.1) */
	if (sl->v6 && (o->a % 4 == 2 || (o->a % 4 == 1 && sl->mapped_bound)))
		sl->mapped_tried = 1;
	else if (sl->v6 && sl->mapped_tried && o->a % 4 != 3) {
		/* After a v4-mapped connect, Linux loses the SYN of a later IPv6 connect on the
		 * same socket. */
		sd__diff_not_compared(out, R_MAPPED_V6);
		return STEP_WRITTEN;
	}
	long rc = sd_connect(r->net, sl->fd, (struct sockaddr *)&ss, len);
	if (rc == -EINPROGRESS && r->settle_ms) {
		/* The kernel answers the SYN (SYN-ACK, RST, or nothing from a full accept queue)
		 * in a softirq that can run after connect() returned, and on a busy machine well
		 * after; the sim has answered before its next call. Wait, bounded, for the
		 * answer, so the next step sees the same state on both (a dropped SYN costs the
		 * whole bound). */
		struct pollfd pf = {.fd = sl->fd, .events = POLLOUT};
		sd_poll(r->net, &pf, 1, r->settle_ms);
	}
	return rc;
}

static long step_accept(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	(void)o, (void)res;
	long rc = sd_accept(r->net, sl->fd, NULL, NULL, SOCK_NONBLOCK);
	if (rc < 0)
		return rc;
	struct slot *dst = NULL;
	for (int i = 0; i < SD_DIFF_SLOTS && !dst; i++)
		if (r->s[i].fd < 0)
			dst = &r->s[i];
	sd__diff_no_nagle(r, (int)rc);
	struct slot tmp = {.fd = (int)rc,
			   .v6 = sl->v6,
			   .small_buf = sl->small_buf,
			   .corked = sl->corked,
			   .file = ++r->files};
	sd__diff_learn_ports(r, &tmp);
	int from = sd__diff_slot_of_port(r, tmp.peer_port);
	if (from >= 0 && r->s[from].tainted)
		sd__diff_taint(r, &tmp); /* bytes the client sent before the accept count too */
	snprintf(out->text, sizeof out->text, "fd peer=s%d", from);
	if (dst)
		*dst = tmp;
	else
		sd_close(r->net, (int)rc);
	return STEP_WRITTEN;
}

static long step_shutdown(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			  struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	(void)out, (void)res;
	/* The reader's FIN while its peer holds bytes for it: on Linux the segment that carries
	 * it makes the peer send what MSG_MORE held (tcp_data_snd_check() on an uncorked
	 * socket), and a reader that shut its read side resets; the sim keeps them held. */
	struct slot *p = sd__diff_peer_slot(r, sl);
	if (o->a % 3 != SHUT_RD)
		sd__diff_held_unsure_all(r, p);
	long rc = sd_shutdown(r->net, sl->fd, o->a % 3);
	sl->fin_sent |= rc == 0 && o->a % 3 != SHUT_RD;
	if (sl->fin_sent)
		sl->held_since = 0; /* the FIN pushed them */
	return rc;
}

static long step_close(struct run *r, const struct sd_diff_op *o, struct slot *sl,
		       struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	(void)o, (void)out, (void)res;
	return sd__diff_close_slot(r, sl);
}

/* SD_DIFF_DUP: a % 4 is dup into a free slot (0, 1), dup2 (2) or dup3 (3) onto the slot
 * b % SD_DIFF_SLOTS, when that one is open (a number no slot holds means a different one on
 * each stack); dup3's flags (b / SD_DIFF_SLOTS % 3) are 0, O_CLOEXEC or O_NONBLOCK (EINVAL).
 * The target slot then names the socket too, sharing its record; what it named closes with
 * its last descriptor, on both stacks alike. */
static long step_dup(struct run *r, const struct sd_diff_op *o, struct slot *sl,
		     struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	static const int dup3_flags[3] = {0, O_CLOEXEC, O_NONBLOCK};
	struct slot *dst = NULL;
	int how = o->a % 4, rc;
	(void)res;
	if (how < 2) {
		for (int i = 0; i < SD_DIFF_SLOTS && !dst; i++)
			if (r->s[i].fd < 0)
				dst = &r->s[i];
	} else if (r->s[o->b % SD_DIFF_SLOTS].fd >= 0) {
		dst = &r->s[o->b % SD_DIFF_SLOTS];
	}
	if (!dst) {
		snprintf(out->text, sizeof out->text, how < 2 ? "no free slot" : "no target");
		return STEP_WRITTEN;
	}
	if (how < 2)
		rc = sd_dup(r->net, sl->fd);
	else if (how == 2)
		rc = sd_dup2(r->net, sl->fd, dst->fd);
	else
		rc = sd_dup3(r->net, sl->fd, dst->fd, dup3_flags[o->b / SD_DIFF_SLOTS % 3]);
	if (rc < 0) {
		sd__diff_set_text(out, rc);
		return STEP_WRITTEN;
	}
	if (dst != sl) {
		/* What dst named lost a descriptor, maybe its last: a reader closing while its
		 * peer holds bytes for it, as in sd__diff_close_slot(). */
		if (how >= 2)
			sd__diff_held_unsure_all(r, sd__diff_peer_slot(r, dst));
		*dst = *sl;
		dst->fd = rc;
	}
	snprintf(out->text, sizeof out->text, "fd");
	return STEP_WRITTEN;
}

static long step_setopt(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	const struct setopt *so = sd__diff_setopt_of(o);
	const struct sd__sockopt *opt = &sd__sockopts[so->opt];
	struct linger lg = {so->val, so->secs};
	int v = so->val;
	long rc;
	(void)out, (void)res;
	if (opt->kind == SD__KIND_LINGER)
		rc = sd_setsockopt(r->net, sl->fd, opt->level, opt->optname, &lg, sizeof lg);
	else
		rc = sd_setsockopt(r->net, sl->fd, opt->level, opt->optname, &v, sizeof v);
	if (so->opt == SD__SO_SNDBUF || so->opt == SD__SO_RCVBUF)
		sl->small_buf |= rc == 0;
	if (so->opt == SD__SO_PEEK_OFF)
		sl->peek_off |= rc == 0;
	if (rc == 0 && so->opt == SD__TCP_CORK)
		sl->corked = so->val;
	if (rc == 0 && ((so->opt == SD__TCP_CORK && !so->val) || so->opt == SD__TCP_NODELAY))
		sl->held_since = 0; /* pushed */
	return rc;
}

/* TCP_INFO's state as compared. Documented difference (docs/sim-vs-linux.md): Linux's peer
 * delays the ACK of a FIN (up to 40 ms), the sim's comes at once, so FIN_WAIT1 and FIN_WAIT2
 * are one outcome (teardown/fin_ack_delayed.sd shows it). */
static const char *state_name(int st)
{
	static const char *const names[] = {"0",           "ESTABLISHED", "SYN_SENT",  "SYN_RECV",
					    "FIN_WAIT1|2", "FIN_WAIT1|2", "TIME_WAIT", "CLOSE",
					    "CLOSE_WAIT",  "LAST_ACK",    "LISTEN",    "CLOSING"};
	return st >= 0 && st < (int)(sizeof names / sizeof names[0]) ? names[st] : "?";
}

static long step_getopt(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	const struct sd__sockopt *go = sd__diff_getopt_of(o);
	union {
		int i;
		struct linger lg;
		struct tcp_info ti;
	} v;
	socklen_t vl = sizeof v;
	(void)res;
	memset(&v, 0, sizeof v);
	long rc = sd_getsockopt(r->net, sl->fd, go->level, go->optname, &v, &vl);
	if (rc < 0)
		return rc;
	if (go->kind == SD__KIND_LINGER)
		snprintf(out->text, sizeof out->text, "{%d,%d}", v.lg.l_onoff, v.lg.l_linger);
	else if (go->kind == SD__KIND_TCP_INFO)
		snprintf(out->text, sizeof out->text, "state=%s", state_name(v.ti.tcpi_state));
	else
		snprintf(out->text, sizeof out->text, "%d", v.i);
	return STEP_WRITTEN;
}

static long step_soerror(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			 struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	int err = 0;
	socklen_t el = sizeof err;
	(void)o, (void)res;
	long rc = sd_getsockopt(r->net, sl->fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (rc == 0) {
		snprintf(out->text, sizeof out->text, "err=%s", err ? sd_errname(err) : "0");
		return STEP_WRITTEN;
	}
	return rc;
}

static long step_poll(struct run *r, const struct sd_diff_op *o, struct slot *sl,
		      struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	struct pollfd pf = {.fd = sl->fd, .events = POLLIN | POLLOUT | POLLRDHUP};
	(void)o, (void)res;
	long rc = sd_poll(r->net, &pf, 1, 0);
	if (rc < 0)
		return rc;
	short ev = pf.revents;
	if (sl->tainted)
		ev &= (short)~POLLOUT; /* writability depends on buffer sizes */
	snprintf(out->text, sizeof out->text, "revents=0x%x", (unsigned)ev);
	return STEP_WRITTEN;
}

static long step_peername(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			  struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	(void)o, (void)res;
	long rc = sd_getpeername(r->net, sl->fd, (struct sockaddr *)&ss, &len);
	if (rc == 0) {
		int from = sd__diff_slot_of_port(r, sd_addr_port((struct sockaddr *)&ss, len));
		snprintf(out->text, sizeof out->text, "peer=s%d len=%u", from, (unsigned)len);
		return STEP_WRITTEN;
	}
	return rc;
}

/* epoll_create, which names no slot. */
static long step_epoll_create(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			      struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	(void)sl, (void)res;
	if (r->ep >= 0)
		sd_close(r->net, r->ep);
	r->ep = sd_epoll_create(r->net, o->a & 1 ? EPOLL_CLOEXEC : 0);
	if (r->ep < 0)
		sd__diff_set_text(out, r->ep), r->ep = -1;
	else
		snprintf(out->text, sizeof out->text, "ep");
	return STEP_WRITTEN;
}

static long step_epoll_ctl(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			   struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	static const int ops[3] = {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL};
	struct epoll_event ev = {.events = sd__diff_ep_set(o), .data.u32 = (uint32_t)(sl - r->s)};
	(void)out, (void)res;
	if (r->ep < 0) /* the first epoll_ctl makes the instance, as a program would */
		r->ep = sd_epoll_create(r->net, 0);
	long rc = r->ep < 0 ? r->ep : sd_epoll_ctl(r->net, r->ep, ops[o->a % 3], sl->fd, &ev);
	if (r->ep < 0)
		r->ep = -1;
	return rc;
}

/* epoll_wait, which names no slot. Its outcome is the set of (slot, events) it reported, in
 * slot order (the two stacks' report orders are not compared); slots whose outcomes are not
 * compared are left out, as their readiness depends on what the rules allow for. */
static long step_epoll_wait(struct run *r, const struct sd_diff_op *o, struct slot *sl,
			    struct sd_diff_outcome *out, struct sd_diff_result *res)
{
	(void)o, (void)sl, (void)res;
	if (r->ep < 0) {
		snprintf(out->text, sizeof out->text, "skip");
		return STEP_WRITTEN;
	}
	struct epoll_event ev[2 * SD_DIFF_SLOTS];
	uint32_t got[SD_DIFF_SLOTS] = {0};
	int n = sd_epoll_wait(r->net, r->ep, ev, 2 * SD_DIFF_SLOTS, 0);
	if (n < 0) {
		sd__diff_set_text(out, n);
		return STEP_WRITTEN;
	}
	for (int i = 0; i < n; i++)
		if (ev[i].data.u32 < SD_DIFF_SLOTS)
			got[ev[i].data.u32] |= ev[i].events | 0x80000000u; /* reported */
	size_t len = (size_t)snprintf(out->text, sizeof out->text, "ev");
	for (int i = 0; i < SD_DIFF_SLOTS && len < sizeof out->text; i++) {
		struct slot *p = r->s[i].fd >= 0 ? sd__diff_peer_slot(r, &r->s[i]) : NULL;
		if (!got[i] || r->s[i].tainted || (p && p->tainted) || r->s[i].held_unsure ||
		    (p && p->held_unsure))
			continue;
		len += (size_t)snprintf(out->text + len, sizeof out->text - len, " s%d:0x%x", i,
					(unsigned)(got[i] & 0x7fffffffu));
	}
	return STEP_WRITTEN;
}

/* Each op kind's step; whether it runs when its slot holds no socket (socket() makes one;
 * the epoll instance's own calls name no slot: any other kind on a closed slot is skipped);
 * and whether its success gives the slot ports to learn (bind, listen, connect). */
static const struct {
	sd__diff_step_fn *fn;
	int any_slot, learns;
} kinds[SD_DIFF_NKINDS] = {
	[SD_DIFF_SOCKET] = {step_socket, 1, 0},
	[SD_DIFF_BIND] = {step_bind, 0, 1},
	[SD_DIFF_LISTEN] = {step_listen, 0, 1},
	[SD_DIFF_CONNECT] = {step_connect, 0, 1},
	[SD_DIFF_ACCEPT] = {step_accept, 0, 0},
	[SD_DIFF_SEND] = {sd__diff_step_send, 0, 0},
	[SD_DIFF_RECV] = {sd__diff_step_recv, 0, 0},
	[SD_DIFF_SHUTDOWN] = {step_shutdown, 0, 0},
	[SD_DIFF_CLOSE] = {step_close, 0, 0},
	[SD_DIFF_SETOPT] = {step_setopt, 0, 0},
	[SD_DIFF_SOERROR] = {step_soerror, 0, 0},
	[SD_DIFF_POLL] = {step_poll, 0, 0},
	[SD_DIFF_PEERNAME] = {step_peername, 0, 0},
	[SD_DIFF_EPOLL_CREATE] = {step_epoll_create, 1, 0},
	[SD_DIFF_EPOLL_CTL] = {step_epoll_ctl, 0, 0},
	[SD_DIFF_EPOLL_WAIT] = {step_epoll_wait, 1, 0},
	[SD_DIFF_DUP] = {step_dup, 0, 0},
	[SD_DIFF_RECVMSG] = {sd__diff_step_recvmsg, 0, 0},
	[SD_DIFF_QUERY] = {sd__diff_step_query, 0, 0},
	[SD_DIFF_GETOPT] = {step_getopt, 0, 0},
};

/* Whether op o acts on the open socket of its slot (not socket() or the epoll instance's). */
static int on_open_slot(const struct run *r, const struct sd_diff_op *o)
{
	int any = o->kind < SD_DIFF_NKINDS && kinds[o->kind].any_slot;
	return !any && r->s[o->slot % SD_DIFF_SLOTS].fd >= 0;
}

static void step_inner(struct run *r, const struct sd_diff_op *o, struct sd_diff_outcome *out,
		       struct sd_diff_result *res)
{
	struct slot *sl = &r->s[o->slot % SD_DIFF_SLOTS];
	int known = o->kind < SD_DIFF_NKINDS;
	if ((!known || !kinds[o->kind].any_slot) && sl->fd < 0) {
		snprintf(out->text, sizeof out->text, "skip");
		return;
	}
	long rc = known ? kinds[o->kind].fn(r, o, sl, out, res) : -EINVAL;
	if (rc == STEP_WRITTEN)
		return;
	sd__diff_set_text(out, rc);
	if (rc == 0 && sl->fd >= 0 && known && kinds[o->kind].learns)
		sd__diff_learn_ports(r, sl);
	if (rc == -EINPROGRESS)
		sd__diff_learn_ports(r, sl);
}

/* Documented difference (docs/sim-vs-linux.md): once a connection has held more unread
 * bytes than a receive window, Linux's window autotuning decides how much moves when, which
 * the sim does not model. Its sockets are then still driven, and their byte streams still
 * checked, but their step outcomes are no longer compared ("~"). */
void sd__diff_step(struct run *r, const struct sd_diff_op *o, struct sd_diff_outcome *out,
		   struct sd_diff_result *res)
{
	struct slot *sl = &r->s[o->slot % SD_DIFF_SLOTS];
	struct slot *peer = sl->fd >= 0 ? sd__diff_peer_slot(r, sl) : NULL;
	int unsure = on_open_slot(r, o) && (sl->tainted || (peer && peer->tainted));
	/* A bind or connect to a port a tainted connection's socket holds or held depends on
	 * whether that socket (or the orphan Linux keeps after close) still has it, which the
	 * buffer difference decides: the sim may reset it where Linux's closed window sent
	 * nothing. The port of a listener is also that of the connections it accepted. */
	int src = -1;
	if (o->kind == SD_DIFF_BIND)
		src = (int)(o->b % (SD_DIFF_SLOTS + 1)) - 1;
	else if (o->kind == SD_DIFF_CONNECT)
		src = (int)(o->b % SD_DIFF_SLOTS);
	int racy = src >= 0 && sl->fd >= 0 &&
		   (r->s[src].tainted || sd__diff_port_tainted(r, r->s[src].port));
	/* Bytes held back leave by the probe timer no sooner than 200 ms after the first of
	 * them (TCP_RTO_MIN): a run that took 150 ms since may see them gone on one stack (the
	 * kernel's clock runs while a loaded machine stalls the program; the sim's does not). */
	int64_t now = sd_now_ns(r->net);
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (r->s[i].fd >= 0 && r->s[i].held_since &&
		    now - r->s[i].held_since >= HELD_SAFE_NS)
			r->s[i].held_unsure = 1;
	int held = on_open_slot(r, o) && (sl->held_unsure || (peer && peer->held_unsure));
	/* A bind or connect to the port of a socket whose held bytes went otherwise on one
	 * stack: the sim may have reset it where Linux keeps it (and its port) open. */
	int held_racy = src >= 0 && sl->fd >= 0 && r->s[src].held_unsure;
	step_inner(r, o, out, res);
	sd__diff_sync_copies(r, sl);
	/* Bound or connected on one stack and not on the other: the socket's own later
	 * outcomes are not compared either. */
	if (racy)
		sd__diff_taint(r, sl);
	else if (held_racy) /* and its own later outcomes, as a tainted socket's */
		sl->held_unsure = 1;
	if (unsure || racy)
		sd__diff_not_compared(out, R_BUFFER);
	else if (held || held_racy)
		sd__diff_not_compared(out, R_HELD);
}
