/* sockdrill sim: setsockopt and getsockopt, the options the sim has kept from the start
 * (the newer TCP ones are sim_opts.c's, which these calls hand them to). */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/time.h>

#include "sim_internal.h"

#define SOCK_MIN_SNDBUF 4608
#define SOCK_MIN_RCVBUF 2304

static int int_opt(const void *v, socklen_t l, int *out)
{
	if (!v || l < sizeof(int))
		return -EINVAL;
	memcpy(out, v, sizeof *out);
	return 0;
}

/* Seconds from which a timeout means "forever" (Linux: those that do not fit in jiffies); below
 * it, now + timeout stays far from overflowing the sim's nanosecond clock. */
#define TIMEO_MAX_S (INT64_MAX / 1000000000 / 2)

/* sock_set_timeout(): the kernel keeps a timeout in ticks of HZ, rounded up, so it lasts and
 * reads back as whole ticks (250 ms is 252 ms at HZ 250, 1 ms is 4 ms). */
static int timeo_opt(const struct sd__sim *s, const void *v, socklen_t l, int64_t *out)
{
	struct timeval tv;
	if (!v || l < sizeof tv)
		return -EINVAL;
	memcpy(&tv, v, sizeof tv);
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	if (tv.tv_sec < 0) {
		*out = -1; /* no waiting at all: see sd__deadline */
	} else if (tv.tv_sec >= TIMEO_MAX_S) {
		*out = 0; /* as Linux's MAX_SCHEDULE_TIMEOUT: wait forever, read back as {0, 0} */
	} else {
		int64_t hz = s->prof.hz, tick_us = 1000000 / hz;
		int64_t ticks =
			(int64_t)tv.tv_sec * hz + ((int64_t)tv.tv_usec + tick_us - 1) / tick_us;
		*out = ticks / hz * 1000000000 + ticks % hz * 1000000000 / hz;
	}
	return 0;
}

/* TCP_INQ (tcp_setsockopt): 0 or 1, else EINVAL; recvmsg then adds TCP_CM_INQ (put_inq). */
static int tcp_inq_opt(struct sd__sock *k, const void *v, socklen_t l, int *iv)
{
	int rc = int_opt(v, l, iv);
	if (rc == 0 && (*iv < 0 || *iv > 1))
		rc = -EINVAL;
	if (rc == 0)
		k->recvmsg_inq = *iv;
	return rc;
}

/* sock_get_timeout(): whole seconds and the microseconds of the ticks left over. */
static struct timeval timeo_get(const struct sd__sim *s, int64_t ns)
{
	struct timeval tv = {0, 0};
	if (ns <= 0)
		return tv;
	int64_t hz = s->prof.hz;
	int64_t ticks = ns / 1000000000 * hz + (ns % 1000000000 * hz + 500000000) / 1000000000;
	tv.tv_sec = (time_t)(ticks / hz);
	tv.tv_usec = (suseconds_t)(ticks % hz * 1000000 / hz);
	return tv;
}

int sd__sim_setsockopt(void *state, int fd, int level, int name, const void *v, socklen_t l)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc = 0, iv = 0;
	sd__enter(s);
	if (!(k = sd__lookup(s, fd))) {
		rc = sd__bad_fd(s, fd);
	} else if (sd__opt_ours(level, name)) {
		rc = sd__opt_set(s, k, level, name, v, l, &iv);
	} else if (level == SOL_SOCKET) {
		switch (name) {
		case SO_LINGER: {
			struct linger lg;
			if (!v || l < sizeof lg) {
				rc = -EINVAL;
				break;
			}
			memcpy(&lg, v, sizeof lg);
			k->linger_on = lg.l_onoff != 0;
			/* as sk_setsockopt(): off keeps the seconds set before. Linux widens the
			 * int to an unsigned long, so a negative one is past MAX_SCHEDULE_TIMEOUT /
			 * HZ and kept as MAX_SCHEDULE_TIMEOUT jiffies; getsockopt's jiffies / HZ
			 * then reads back LONG_MAX / HZ cut to an int (-1752346657 at HZ 250). */
			if (k->linger_on)
				k->linger_s = lg.l_linger >= 0
						      ? lg.l_linger
						      : (int)(uint32_t)(LONG_MAX / s->prof.hz);
			break;
		}
		case SO_RCVTIMEO: rc = timeo_opt(s, v, l, &k->rcvtimeo); break;
		case SO_SNDTIMEO: rc = timeo_opt(s, v, l, &k->sndtimeo); break;
		default:
			if ((rc = int_opt(v, l, &iv)) < 0)
				break;
			switch (name) {
			case SO_REUSEADDR: k->reuseaddr = iv != 0; break;
			case SO_REUSEPORT: k->reuseport = iv != 0; break;
			case SO_KEEPALIVE: k->keepalive = iv != 0; break;
			case SO_PEEK_OFF:
				/* sk_set_peek_off takes any value; TCP has it from 6.10 */
				if (s->prof.tcp_peek_off)
					k->peek_off = iv;
				else
					rc = -EOPNOTSUPP;
				break;
			case SO_SNDBUF: {
				unsigned u = (unsigned)iv > (unsigned)s->wmem_max
						     ? (unsigned)s->wmem_max
						     : (unsigned)iv;
				k->sndbuf =
					u * 2 > SOCK_MIN_SNDBUF ? (int)(u * 2) : SOCK_MIN_SNDBUF;
				k->sndbuf_lock = 1;
				sd__write_space(s, k); /* sock_setsockopt() calls sk_write_space */
				sd__wake_all(s);
				break;
			}
			case SO_RCVBUF: {
				unsigned u = (unsigned)iv > (unsigned)s->rmem_max
						     ? (unsigned)s->rmem_max
						     : (unsigned)iv;
				k->rcvbuf =
					u * 2 > SOCK_MIN_RCVBUF ? (int)(u * 2) : SOCK_MIN_RCVBUF;
				k->rcvbuf_lock = 1;
				sd__wake_all(s);
				break;
			}
			default: rc = -ENOPROTOOPT; break;
			}
		}
	} else if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		if ((rc = int_opt(v, l, &iv)) == 0 && (k->nodelay = iv != 0))
			sd__cork_push(s, k); /* tcp_sock_set_nodelay(): pushes, corked or not */
	} else if (level == IPPROTO_TCP && name == TCP_INQ) {
		rc = tcp_inq_opt(k, v, l, &iv);
	} else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && k->v6) {
		if ((rc = int_opt(v, l, &iv)) == 0) {
			if (k->bound)
				rc = -EINVAL;
			else
				k->v6only = iv != 0;
		}
	} else {
		rc = -ENOPROTOOPT;
	}
	return rc;
}

/* TCP_INFO as tcp_get_info() fills it, as far as the sim has the facts: the state (Linux's
 * numbering), and for a listener its accept queue and backlog; every other field is 0. */
static void tcp_info_of(const struct sd__sock *k, struct tcp_info *ti)
{
	static const unsigned char linux_state[] = {
		[T_CLOSE] = TCP_CLOSE,         [T_LISTEN] = TCP_LISTEN,
		[T_SYN_SENT] = TCP_SYN_SENT,   [T_ESTABLISHED] = TCP_ESTABLISHED,
		[T_FIN_WAIT2] = TCP_FIN_WAIT2, [T_CLOSE_WAIT] = TCP_CLOSE_WAIT,
		[T_TIME_WAIT] = TCP_TIME_WAIT,
	};
	memset(ti, 0, sizeof *ti);
	ti->tcpi_state = linux_state[k->st];
	if (k->st == T_LISTEN) {
		ti->tcpi_unacked = (unsigned)k->aq_len;
		ti->tcpi_sacked = (unsigned)k->backlog;
	}
}

int sd__sim_getsockopt(void *state, int fd, int level, int name, void *v, socklen_t *l)
{
	struct sd__sim *s = state;
	struct sd__sock *k;
	int rc = 0, iv = 0;
	const void *src = &iv;
	size_t size = sizeof iv;
	struct timeval tv;
	struct linger lg;
	struct tcp_info ti;
	sd__enter(s);
	if (!(k = sd__lookup(s, fd))) {
		rc = sd__bad_fd(s, fd);
	} else if (!l || (int)*l < 0) {
		rc = -EINVAL;
	} else if (sd__opt_ours(level, name)) {
		iv = sd__opt_get(k, level, name);
	} else if (level == SOL_SOCKET) {
		switch (name) {
		case SO_ERROR:
			iv = k->err;
			k->err = 0;
			break;
		case SO_TYPE: iv = SOCK_STREAM; break;
		case SO_DOMAIN: iv = k->v6 ? AF_INET6 : AF_INET; break;
		case SO_PROTOCOL: iv = IPPROTO_TCP; break;
		case SO_ACCEPTCONN: iv = k->st == T_LISTEN; break;
		case SO_REUSEADDR: iv = k->reuseaddr; break;
		case SO_REUSEPORT: iv = k->reuseport; break;
		case SO_KEEPALIVE: iv = k->keepalive; break;
		case SO_PEEK_OFF:
			if (s->prof.tcp_peek_off)
				iv = k->peek_off;
			else
				rc = -EOPNOTSUPP; /* no set_peek_off in the ops (before 6.10) */
			break;
		case SO_SNDBUF: iv = k->sndbuf; break;
		case SO_RCVBUF: iv = k->rcvbuf; break;
		case SO_LINGER:
			lg.l_onoff = k->linger_on;
			lg.l_linger = k->linger_s;
			src = &lg, size = sizeof lg;
			break;
		case SO_RCVTIMEO:
		case SO_SNDTIMEO:
			tv = timeo_get(s, name == SO_RCVTIMEO ? k->rcvtimeo : k->sndtimeo);
			src = &tv, size = sizeof tv;
			break;
		default: rc = -ENOPROTOOPT; break;
		}
	} else if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		iv = k->nodelay;
	} else if (level == IPPROTO_TCP && name == TCP_INQ) {
		iv = k->recvmsg_inq;
	} else if (level == IPPROTO_TCP && name == TCP_INFO) {
		tcp_info_of(k, &ti);
		iv = ti.tcpi_state;
		src = &ti, size = sizeof ti;
	} else if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && k->v6) {
		iv = k->v6only;
	} else if (!k->v6 && level != IPPROTO_IP && level != IPPROTO_TCP) {
		/* Linux (6.18, measured) answers getsockopt on an AF_INET socket at a level other
		 * than SOL_IP and SOL_TCP, IPV6_V6ONLY's included, with EOPNOTSUPP; setsockopt
		 * there says ENOPROTOOPT, as below */
		rc = -EOPNOTSUPP;
	} else {
		rc = -ENOPROTOOPT;
	}
	if (rc == 0) {
		size_t n = *l < size ? *l : size;
		if (v)
			memcpy(v, src, n);
		*l = (socklen_t)n;
	}
	return rc;
}
