/* sockdrill sim: byte streams (send, recv, buffer space, segmentation) and poll masks. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#ifdef SD_ASAN
#define POISON(p, n)   __asan_poison_memory_region(p, n)
#define UNPOISON(p, n) __asan_unpoison_memory_region(p, n)
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* ---- chunks ------------------------------------------------------------------------------ */

/* A slab is a header (the link to the sim's previous slab) and SLAB_SLOTS slots of one pooled
 * chunk each. Under ASan every byte of a slab not in a chunk in use is poisoned: the header,
 * a gap after each slot (so an overrun past a chunk's capacity is reported, as past a block
 * of malloc's), slots not yet handed out and chunks on the free list (so the sim's own code
 * touching a chunk after freeing it is reported until the chunk is reused). */
#define POOLED_SIZE (sizeof(struct sim__chunk) + SD__CHUNK_POOLED)
#ifdef SD_ASAN
#define SLOT_GAP 32
#else
#define SLOT_GAP 0
#endif
#define SLOT_SIZE  (POOLED_SIZE + SLOT_GAP)
#define SLAB_HEAD  16 /* keeps the slots 16-byte aligned */
#define SLAB_SLOTS 32

/* A chunk for `len` bytes, its len set. */
static struct sim__chunk *chunk_new(struct sim__sim *s, size_t len)
{
	struct sim__chunk *c;
	if (len > SD__CHUNK_POOLED) {
		c = malloc(sizeof *c + len);
	} else if ((c = s->chunk_pool) != NULL) {
		UNPOISON(c, POOLED_SIZE);
		s->chunk_pool = c->next;
	} else {
		if (s->slab_next == s->slab_end) {
			char *slab = malloc(SLAB_HEAD + SLAB_SLOTS * SLOT_SIZE);
			if (!slab)
				return NULL;
			*(void **)slab = s->chunk_slabs;
			s->chunk_slabs = slab;
			s->slab_next = slab + SLAB_HEAD;
			s->slab_end = s->slab_next + SLAB_SLOTS * SLOT_SIZE;
			POISON(slab, SLAB_HEAD + SLAB_SLOTS * SLOT_SIZE);
		}
		c = (struct sim__chunk *)(void *)s->slab_next;
		s->slab_next += SLOT_SIZE;
		UNPOISON(c, POOLED_SIZE);
	}
	if (c)
		c->len = len;
	return c;
}

void sim__chunk_free(struct sim__sim *s, struct sim__chunk *c)
{
	if (c->len > SD__CHUNK_POOLED) {
		free(c);
		return;
	}
	c->next = s->chunk_pool;
	s->chunk_pool = c;
	POISON(c, POOLED_SIZE);
}

void sim__chunk_pool_free(struct sim__sim *s)
{
	for (char *slab = s->chunk_slabs, *n; slab; slab = n) {
		UNPOISON(slab, SLAB_HEAD + SLAB_SLOTS * SLOT_SIZE);
		n = *(void **)slab;
		free(slab);
	}
	s->chunk_slabs = NULL;
	s->chunk_pool = NULL;
	s->slab_next = s->slab_end = NULL;
}

/* ---- data ------------------------------------------------------------------------------- */

size_t sim__readable(struct sim__sim *s, const struct sim__sock *k)
{
	size_t n = 0;
	for (const struct sim__chunk *c = k->in_head; c && c->arrive <= s->now; c = c->next)
		n += c->len - c->off;
	return n;
}

/* The readable bytes without walking the queue when its last piece has arrived: in_bytes
 * counts every byte not yet read. */
size_t sim__arrived(struct sim__sim *s, const struct sim__sock *k)
{
	if (!k->in_tail || k->in_tail->arrive <= s->now)
		return k->in_bytes;
	return sim__readable(s, k);
}

/* How many bytes k may still queue toward its peer (send buffer + half the receive
 * buffer: see docs/sim-vs-linux.md). */
static size_t send_space(const struct sim__sock *k)
{
	const struct sim__sock *p = k->peer;
	size_t cap = (size_t)k->sndbuf + (p ? (size_t)p->rcvbuf / 2 : 0);
	size_t used = p ? p->in_bytes : 0;
	return used >= cap ? 0 : cap - used;
}

/* sk_stream_is_writeable(), TCP_NOTSENT_LOWAT's test included: for a socket with no peer
 * too, which a disconnect may have left with not-sent bytes (sim__notsent). */
static int writable(struct sim__sim *s, struct sim__sock *k)
{
	const struct sim__sock *p = k->peer;
	size_t used = p ? p->in_bytes : 0;
	return send_space(k) >= used / 2 && send_space(k) > 0 && sim__lowat_writable(s, k);
}

/* What a send round may queue: the buffer space, less once TCP_NOTSENT_LOWAT binds. */
static size_t send_room(struct sim__sim *s, struct sim__sock *k)
{
	size_t room = send_space(k), lowat;
	if (room && (lowat = sim__lowat_room(s, k)) < room)
		room = lowat;
	return room;
}

void sim__write_space(struct sim__sim *s, struct sim__sock *k)
{
	if (writable(s, k)) {
		k->nospace = 0;
		k->outseq++;
	}
}

/* Send space counts as just freed (an EPOLLOUT edge) when there is room; with none, the next
 * room made is one (SOCK_NOSPACE), as after a write that found no room. */
void sim__wake_writers(struct sim__sim *s, struct sim__sock *k)
{
	if (writable(s, k)) {
		k->nospace = 0;
		k->outseq++;
	} else {
		k->nospace = 1;
	}
}

/* tcp_check_space(): a writer that found no room (SOCK_NOSPACE) gets sk_write_space once
 * reading made room. */
static void space_freed(struct sim__sim *s, struct sim__sock *p)
{
	if (p && p->nospace)
		sim__write_space(s, p);
}

/* Appends `total` bytes gathered from iov (which covers at least that many) to p's queue;
 * held (hold >= 0: TCP_CORK, MSG_MORE) they arrive whole at that time. */
static int queue_bytes(struct sim__sim *s, struct sim__sock *p, const struct iovec *iov,
		       size_t total, int64_t hold)
{
	size_t done = 0;
	int i = 0;
	size_t ioff = 0;
	int64_t at = s->now;
	int segment = hold >= 0 ? 0 : p->rx_segment_own ? p->rx_segment : s->segment;
	if (p->in_tail && p->in_tail->arrive > at)
		at = p->in_tail->arrive;
	if (hold >= 0)
		at = hold;
	while (done < total) {
		size_t piece = total - done;
		if (segment) {
			size_t cut = 1 + sim__rand_below(s, (uint32_t)segment);
			if (cut < piece)
				piece = cut;
			at += SEGMENT_GAP_NS;
		}
		struct sim__chunk *c = chunk_new(s, piece);
		if (!c)
			return done ? 0 : -ENOMEM;
		c->next = NULL;
		c->arrive = at;
		c->off = 0;
		for (size_t got = 0; got < piece;) {
			size_t n = iov[i].iov_len - ioff;
			if (n > piece - got)
				n = piece - got;
			memcpy(c->data + got, (const char *)iov[i].iov_base + ioff, n);
			got += n;
			ioff += n;
			if (ioff == iov[i].iov_len)
				i++, ioff = 0;
		}
		if (p->in_tail)
			p->in_tail->next = c;
		else
			p->in_head = c;
		p->in_tail = c;
		p->in_bytes += piece;
		p->rx_total += piece;
		done += piece;
		if (at > s->now)
			sim__timer_add(s, at);
	}
	return 0;
}

/* Splits iov after `skip` bytes into out (at most 64 pieces). */
static int iov_advance(const struct iovec *iov, int iovcnt, size_t skip, struct iovec *out)
{
	int n = 0;
	for (int i = 0; i < iovcnt && n < 64; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		out[n].iov_base = (char *)iov[i].iov_base + skip;
		out[n].iov_len = iov[i].iov_len - skip;
		skip = 0;
		n++;
	}
	return n;
}

/* sk_stream_error(): a stored error first, else EPIPE; SIGPIPE goes with EPIPE, however it
 * came about, unless MSG_NOSIGNAL. */
static ssize_t send_error(struct sim__sim *s, struct sim__sock *k, int flags)
{
	int e = k->err ? k->err : EPIPE;
	k->err = 0;
	if (e == EPIPE && !(flags & MSG_NOSIGNAL))
		s->sigpipes++;
	return -e;
}
/* Whether a piece of iov is a NULL buffer of some length: where Linux's copy to or from the
 * caller faults (EFAULT), when there is something to copy. */
static int iov_faults(const struct iovec *iov, int n)
{
	for (int i = 0; i < n; i++)
		if (!iov[i].iov_base && iov[i].iov_len)
			return 1;
	return 0;
}

/* tcp_sendmsg_locked(). */
ssize_t sim__send(struct sim__sim *s, struct sim__sock *k, const struct iovec *iov, int iovcnt,
		  int flags)
{
	size_t total = sim__iov_total(iov, iovcnt), copied = 0;
	int nonblock = k->nonblock || (flags & MSG_DONTWAIT) || k->sndtimeo < 0;
	int64_t deadline = sim__deadline(s, k->sndtimeo);
	int more = k->cork || (flags & MSG_MORE);

	if (flags & MSG_OOB)
		return -EOPNOTSUPP; /* urgent data is not modelled (docs/sim-vs-linux.md) */
	sim__sync_fin(s, k);
	if (k->st != T_ESTABLISHED && k->st != T_CLOSE_WAIT) {
		/* sk_stream_wait_connect() */
		for (;;) {
			if (k->err || k->st != T_SYN_SENT)
				return send_error(s, k, flags);
			if (nonblock)
				return -EAGAIN;
			enum sim__wake w = sim__park(s, "send (connecting)", deadline);
			if (w == W_DEADLOCK)
				return -EDEADLK;
			if (w == W_INTR)
				return -EINTR;
			if (w == W_TIMEOUT && k->st == T_SYN_SENT)
				return -EAGAIN;
			if (k->st == T_ESTABLISHED || k->st == T_CLOSE_WAIT)
				break;
		}
	}
	while (copied < total || total == 0) {
		if (k->err || (k->shut & SD__SEND_SHUTDOWN) || !k->peer)
			return copied ? (ssize_t)copied : send_error(s, k, flags);
		if (total == 0)
			return 0;
		size_t room = send_room(s, k);
		if (room) {
			struct iovec rest[64];
			int nrest = iov_advance(iov, iovcnt, copied, rest);
			size_t take = sim__iov_total(rest, nrest); /* at most 64 pieces a round */
			if (take > room)
				take = room;
			/* Bytes reaching a socket in FIN_WAIT2 that shut its read side (closed or
			 * SHUT_RD) are dropped and reset both ends (RFC 1122,
			 * tcp_rcv_state_process). The sender's call itself succeeds. */
			struct sim__sock *p = k->peer;
			if (p != k && p->st == T_FIN_WAIT2 && (p->shut & SD__RCV_SHUTDOWN)) {
				sim__cork_drop(s, k);
				k->peer = p->peer = NULL;
				sim__rst_arrives(s, k);
				sim__rst_arrives(s, p);
				sim__maybe_free(s, p);
				copied += take;
				return (ssize_t)copied;
			}
			if (iov_faults(rest, nrest)) /* the copy faults: nothing more is queued */
				return copied ? (ssize_t)copied : -EFAULT;
			/* corked or MSG_MORE: whole segments leave, the rest is held (sim_cork.c)
			 */
			size_t hold, go = sim__cork_plan(s, k, take, more, &hold);
			int rc = go ? queue_bytes(s, p, rest, go, -1) : 0;
			if (rc == 0 && hold) {
				struct iovec tail[64];
				iov_advance(rest, nrest, go, tail);
				int64_t at = sim__cork_hold_until(s, k, hold);
				if ((rc = queue_bytes(s, p, tail, hold, at)) == 0)
					k->held += hold;
			}
			if (rc < 0)
				return copied ? (ssize_t)copied : rc;
			copied += take;
			sim__wake_all(s);
			continue;
		}
		k->nospace = 1;
		if (nonblock)
			return copied ? (ssize_t)copied : -EAGAIN;
		enum sim__wake w = sim__park(s, "send", deadline);
		if (w == W_DEADLOCK)
			return copied ? (ssize_t)copied : -EDEADLK;
		if (w == W_INTR) /* as a signal does: what was queued counts */
			return copied ? (ssize_t)copied : -EINTR;
		if (w == W_TIMEOUT && !send_room(s, k))
			return copied ? (ssize_t)copied : -EAGAIN;
	}
	return (ssize_t)copied;
}

/* Copies up to len readable bytes into iov; consumes them unless MSG_PEEK is in flags. With
 * MSG_TRUNC the bytes are taken (or peeked) but not copied: tcp_recvmsg_locked() skips the
 * copy for it, so the caller's buffer is left as it was. */
static size_t take_bytes(struct sim__sim *s, struct sim__sock *k, const struct iovec *iov,
			 int iovcnt, size_t skip, size_t len, int flags)
{
	int peek = flags & MSG_PEEK;
	struct iovec out[64];
	int n = iov_advance(iov, iovcnt, skip, out), i = 0;
	/* a peek starts past SO_PEEK_OFF's offset, when it is set */
	size_t done = 0, oo = 0,
	       cskip = peek ? skip + (k->peek_off > 0 ? (size_t)k->peek_off : 0) : 0;
	struct sim__chunk *c = k->in_head;
	while (c && c->arrive <= s->now && done < len && i < n) {
		size_t avail = c->len - c->off;
		if (cskip >= avail) { /* a peek continuing past what it already copied */
			cskip -= avail;
			c = c->next;
			continue;
		}
		size_t m = avail - cskip;
		if (m > len - done)
			m = len - done;
		if (m > out[i].iov_len - oo)
			m = out[i].iov_len - oo;
		if (!(flags & MSG_TRUNC))
			memcpy((char *)out[i].iov_base + oo, c->data + c->off + cskip, m);
		done += m;
		oo += m;
		if (oo == out[i].iov_len)
			i++, oo = 0;
		if (peek) {
			cskip += m;
			continue;
		}
		c->off += m;
		k->in_bytes -= m;
		if (c->off == c->len) {
			k->in_head = c->next;
			if (!k->in_head)
				k->in_tail = NULL;
			sim__chunk_free(s, c);
			c = k->in_head;
		}
	}
	return done;
}

/* A zero-length recv (tcp_recvmsg_locked with len 0): its target is still one byte, so it
 * reports as a one-byte read would (0 with bytes queued or at the end, the pending error,
 * ENOTCONN, EAGAIN); a blocking one waits for the socket's next event (bytes, FIN, reset, a
 * state change, write space) or its timeout, and then returns 0 whatever happened: the
 * kernel's loop ends once it has waited, as no byte is wanted. Measured on 6.18. */
static ssize_t recv_zero(struct sim__sim *s, struct sim__sock *k, int nonblock, int64_t deadline)
{
	sim__sync_fin(s, k);
	if (sim__readable(s, k) || k->done)
		return 0;
	if (k->err) {
		int e = k->err;
		k->err = 0;
		return -e;
	}
	if (k->shut & SD__RCV_SHUTDOWN)
		return 0;
	if (k->st == T_CLOSE)
		return -ENOTCONN;
	if (nonblock)
		return -EAGAIN;
	uint64_t ev = k->evseq, out = k->outseq;
	for (;;) {
		enum sim__wake w = sim__park(s, "recv", deadline);
		if (w == W_DEADLOCK)
			return -EDEADLK;
		if (w == W_INTR)
			return -EINTR;
		sim__sync_fin(s, k);
		if (w == W_TIMEOUT || sim__readable(s, k) || k->done || k->err || k->evseq != ev ||
		    k->outseq != out)
			return 0;
	}
}

/* tcp_recvmsg_locked(). */
ssize_t sim__recv(struct sim__sim *s, struct sim__sock *k, const struct iovec *iov, int iovcnt,
		  int flags)
{
	size_t len = sim__iov_total(iov, iovcnt), copied = 0;
	int nonblock = k->nonblock || (flags & MSG_DONTWAIT) || k->rcvtimeo < 0;
	int peek = flags & MSG_PEEK;
	/* sock_rcvlowat(): MSG_WAITALL wants every byte, peeking too; else SO_RCVLOWAT's */
	size_t target = sim__rcv_target(k, flags, len);
	int64_t deadline = sim__deadline(s, k->rcvtimeo);

	if (flags & MSG_OOB)
		return -EINVAL; /* no urgent data is ever pending in the simulation */
	if (k->st == T_LISTEN)
		return -ENOTCONN;
	if (!len)
		return recv_zero(s, k, nonblock, deadline);
	for (;;) {
		sim__sync_fin(s, k);
		/* take_bytes fills at most 64 pieces of iov a round: go on while it moves bytes */
		size_t got;
		/* skb_copy_datagram_msg() faults on a NULL buffer once there are bytes to copy
		 * (MSG_TRUNC copies none) */
		if (!(flags & MSG_TRUNC) && iov_faults(iov, iovcnt) && sim__readable(s, k) > 0)
			return copied ? (ssize_t)copied : -EFAULT;
		while (copied < len && (got = take_bytes(s, k, iov, iovcnt, copied, len - copied,
							 flags & (MSG_PEEK | MSG_TRUNC))) > 0) {
			if (!peek) {
				sim__wake_all(s); /* room for the sender */
				space_freed(s, k->peer);
			}
			copied += got;
		}
		if (copied >= target)
			break;
		if (copied) {
			if (k->err || k->st == T_CLOSE || (k->shut & SD__RCV_SHUTDOWN) || nonblock)
				break;
		} else {
			if (k->done)
				break;
			if (k->err) {
				int e = k->err;
				k->err = 0;
				return -e;
			}
			if (k->shut & SD__RCV_SHUTDOWN)
				break;
			if (k->st == T_CLOSE)
				return -ENOTCONN;
			if (nonblock)
				return -EAGAIN;
		}
		enum sim__wake w;
		do
			w = sim__park(s, "recv", deadline);
		while (w == W_WOKEN && sim__below_lowat(s, k));
		if (w == W_DEADLOCK)
			return copied ? (ssize_t)copied : -EDEADLK;
		if (w == W_INTR)
			return copied ? (ssize_t)copied : -EINTR;
		/* A peek still sees what it copied: only bytes past those are new. */
		if (w == W_TIMEOUT && sim__readable(s, k) <= (peek ? copied : 0)) {
			if (copied)
				break;
			return -EAGAIN;
		}
		if (w == W_TIMEOUT)
			nonblock = 1; /* timeo is 0 now: take what came, then return */
	}
	return (ssize_t)copied;
}

/* inet_shutdown() + tcp_shutdown(); how is SHUT_RD/SHUT_WR/SHUT_RDWR. */
short sim__poll_mask(struct sim__sim *s, struct sim__sock *k)
{
	short m = 0;
	sim__sync_fin(s, k);
	if (k->st == T_LISTEN)
		return k->aq_head ? (POLLIN | POLLRDNORM) : 0;
	if (k->shut == (SD__RCV_SHUTDOWN | SD__SEND_SHUTDOWN) || k->st == T_CLOSE)
		m |= POLLHUP;
	if (k->shut & SD__RCV_SHUTDOWN)
		m |= POLLIN | POLLRDNORM | POLLRDHUP;
	if (k->st != T_SYN_SENT) {
		if (sim__readable(s, k) >= sim__rcvlowat(k)) /* tcp_stream_is_readable() */
			m |= POLLIN | POLLRDNORM;
		if (!(k->shut & SD__SEND_SHUTDOWN)) {
			if (writable(s, k))
				m |= POLLOUT | POLLWRNORM;
			else
				k->nospace = 1; /* tcp_poll() sets SOCK_NOSPACE */
		} else {
			m |= POLLOUT | POLLWRNORM;
		}
	}
	if (k->err)
		m |= POLLERR;
	return m;
}
