/* sockdrill: the in-process driver's clients: connections that read while they send, the
 * input's dialogs, and the API a glue's own client uses (src/driver/fuzz/include/sockdrill/fuzz.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/scenario.h>
#include <sockdrill/sim.h>
#include <sockdrill/sockdrill.h>

#include "fuzz_internal.h"

#define REPLY_WAIT_MS SD_FZ_REPLY_WAIT_MS
#define QUIET_MS      SD_FZ_QUIET_MS
#define SEND_WAIT_MS  60000 /* how long a send may wait for room before the client gives up */
#define PIECE_GAP_NS  SD_FZ_PIECE_GAP_NS
#define SPILL         65536      /* receive size beyond the bound */
#define SENT_MAX      (1u << 20) /* bytes of what a connection sent kept for the oracles */

struct sd_fuzz_conn sd__fz_conns[SD_FUZZ_MAX_CONNS];
int sd__fz_nconns;
void (*sd__fz_record)(const struct sd__fz_event *e);

/* Clients finished, for those waiting for a port from one of them. */
static unsigned char client_done[SD_FUZZ_MAX_CLIENTS + 1];

static void record(enum sd__fz_ev ev, const struct sd_fuzz_conn *k, const void *bytes,
		   ssize_t result)
{
	if (sd__fz_record)
		sd__fz_record(
			&(struct sd__fz_event){.ev = ev, .k = k, .bytes = bytes, .result = result});
}

void sd__fz_conns_reset(void)
{
	sd__fz_nconns = 0;
	memset(client_done, 0, sizeof client_done);
}

/* The next entry of the table, cleared but for its buffers (kept from input to input). */
static struct sd_fuzz_conn *new_conn(void)
{
	struct sd_fuzz_conn *k = &sd__fz_conns[sd__fz_nconns];
	*k = (struct sd_fuzz_conn){.got = k->got,
				   .spill = k->spill,
				   .cap = k->cap,
				   .sent = k->sent,
				   .sentcap = k->sentcap,
				   .id = sd__fz_nconns++,
				   .fd = -1,
				   .refused_at = SIZE_MAX};
	return k;
}

void sd__fz_conns_trim(int all)
{
	for (int i = 0; i < SD_FUZZ_MAX_CONNS; i++) {
		struct sd_fuzz_conn *k = &sd__fz_conns[i];
		if (all || k->cap > (1u << 20)) { /* the common small reply keeps its buffer */
			free(k->got);
			k->got = NULL, k->cap = 0;
		}
		if (all) {
			free(k->spill), free(k->sent);
			k->spill = k->sent = NULL, k->sentcap = 0;
		}
	}
}

const void *sd__fz_client_key(int client) { return &client_done[client]; }

/* Where the next received bytes go, and how many fit: the held reply while below the bound
 * (grown by doubling), else the spill buffer. NULL when out of memory. */
static unsigned char *room(struct sd_fuzz_conn *k, size_t *n)
{
	if (k->total < SD_FUZZ_MAX_REPLY) {
		if (k->gotlen == k->cap) {
			size_t cap = k->cap ? 2 * k->cap : 4096;
			if (cap > SD_FUZZ_MAX_REPLY)
				cap = SD_FUZZ_MAX_REPLY;
			unsigned char *g = realloc(k->got, cap);
			if (!g)
				return NULL;
			k->got = g, k->cap = cap;
		}
		*n = k->cap - k->gotlen;
		return k->got + k->gotlen;
	}
	if (!k->spill && !(k->spill = malloc(SPILL)))
		return NULL;
	*n = SPILL;
	return k->spill;
}

/* Hands received bytes to the streaming oracle until it refuses (bytes NULL: the end). */
static void stream(struct sd_fuzz_conn *k, const unsigned char *bytes, size_t n)
{
	const struct sd_fuzz_server *srv = k->cl->srv;
	if (!k->cl->oracle_reply || !srv->on_reply || k->refused_at != SIZE_MAX ||
	    !srv->on_reply(srv->arg, k->id, k->nmsgs ? k->which[0] : -1, bytes,
			   bytes ? n : k->total))
		return;
	k->refused_at = k->total;
	k->refused_len = bytes ? n : 0;
	memcpy(k->refused, bytes ? bytes : k->refused,
	       k->refused_len < sizeof k->refused ? k->refused_len : sizeof k->refused);
}

static void failed(struct sd_fuzz_conn *k, int err)
{
	if (!k->err)
		k->err = err;
}

/* One receive: 1 when bytes came, 0 at the end of the stream or on EAGAIN (*again set), -1
 * on an error. */
static int take_one(struct sd_fuzz_conn *k, int flags, int *again)
{
	size_t n;
	unsigned char *to = room(k, &n);
	if (to && !(flags & MSG_DONTWAIT))
		record(SD_EV_RECV_BEGIN, k, NULL, 0);
	ssize_t r = to ? sd_recv(k->cl->net, k->fd, to, n, flags) : -ENOMEM;
	if (r == -EAGAIN) {
		*again = 1;
		return 0;
	}
	record(SD_EV_RECV, k, to, r);
	if (r <= 0) {
		if (r < 0)
			failed(k, (int)r);
		k->eof = 1;
		return r < 0 ? -1 : 0;
	}
	if (to != k->spill)
		k->gotlen += (size_t)r;
	stream(k, to, (size_t)r);
	k->total += (size_t)r;
	sd_sim_unpark(k->cl->net, sd__fz_client_key(k->client), -1);
	return 1;
}

/* Reads what is there without waiting. */
static void take_in(struct sd_fuzz_conn *k)
{
	int again = 0;
	while (!k->eof && take_one(k, MSG_DONTWAIT, &again) > 0)
		;
}

struct sd_fuzz_conn *sd_fuzz_connect(struct sd_fuzz_client *c, int port)
{
	if (sd__fz_nconns == SD_FUZZ_MAX_CONNS)
		return NULL;
	struct sd_fuzz_conn *k = new_conn();
	k->cl = c, k->client = c->id, k->port = port, k->to_server = port == c->srv->port;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	k->fd = sd_socket(c->net, AF_INET, SOCK_STREAM, 0);
	record(SD_EV_SOCKET, k, NULL, k->fd);
	if (k->fd < 0) {
		failed(k, k->fd);
		k->eof = k->ended = 1;
		return NULL;
	}
	/* The input's segmentation is for the server's side; a long reply comes whole. */
	sd_sim_set_segment(c->net, k->fd, 0);
	int r = sd_connect(c->net, k->fd, (struct sockaddr *)&a, sizeof a);
	record(SD_EV_CONNECT, k, NULL, r);
	if (r < 0) {
		failed(k, r);
		sd_close(c->net, k->fd);
		record(SD_EV_CLOSE, k, NULL, 0);
		k->fd = -1, k->eof = k->ended = 1;
		return NULL;
	}
	return k;
}

static void keep_sent(struct sd_fuzz_conn *k, const unsigned char *p, size_t n)
{
	if (k->sentlen + n > SENT_MAX)
		n = k->sentlen < SENT_MAX ? SENT_MAX - k->sentlen : 0;
	if (!n)
		return;
	if (k->sentlen + n > k->sentcap) {
		size_t cap = k->sentcap ? k->sentcap : 256;
		while (cap < k->sentlen + n)
			cap *= 2;
		unsigned char *s = realloc(k->sent, cap);
		if (!s)
			return;
		k->sent = s, k->sentcap = cap;
	}
	memcpy(k->sent + k->sentlen, p, n);
	k->sentlen += n;
}

/* Sends n bytes, reading whatever arrives while the socket has no room: a client that only
 * wrote could block a server that is writing to it, a deadlock of the client's making. */
static int send_all(struct sd_fuzz_conn *k, const unsigned char *p, size_t n)
{
	struct sd_net *net = k->cl->net;
	for (size_t off = 0, rounds = 0; off < n && !k->err; rounds++) {
		if (rounds > (1u << 20))
			failed(k, -ELOOP);
		struct pollfd pf = {.fd = k->fd, .events = POLLOUT | (k->eof ? 0 : POLLIN)};
		int r = sd_poll(net, &pf, 1, SEND_WAIT_MS);
		if (r <= 0) { /* the server has read nothing for a minute: the client gives up */
			failed(k, r < 0 ? r : -ETIMEDOUT);
			break;
		}
		if (pf.revents & (POLLIN | POLLHUP | POLLERR) && !k->eof)
			take_in(k);
		if (!(pf.revents & (POLLOUT | POLLHUP | POLLERR)))
			continue;
		ssize_t s = sd_send(net, k->fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (s == -EAGAIN)
			continue;
		record(SD_EV_SEND, k, p + off, s);
		if (s <= 0) {
			failed(k, s < 0 ? (int)s : -EIO);
			break;
		}
		keep_sent(k, p + off, (size_t)s);
		off += (size_t)s;
	}
	return k->err;
}

int sd_fuzz_send(struct sd_fuzz_conn *k, int which, const void *buf, size_t n)
{
	if (!k || k->fd < 0)
		return -EBADF;
	if (send_all(k, buf, n) == 0 && k->nmsgs < SD_FUZZ_MAX_MSGS)
		k->which[k->nmsgs++] = which;
	return k->err;
}

size_t sd_fuzz_wait_reply(struct sd_fuzz_conn *k)
{
	if (!k || k->fd < 0)
		return 0;
	size_t before = k->total;
	struct sd_net *net = k->cl->net;
	int64_t until = sd_now_ns(net) + REPLY_WAIT_MS * 1000000LL;
	while (!k->eof && k->total == before) {
		int64_t left = (until - sd_now_ns(net)) / 1000000;
		if (left <= 0)
			break;
		struct pollfd pf = {.fd = k->fd, .events = POLLIN};
		int r = sd_poll(net, &pf, 1, (int)left);
		if (r < 0) {
			failed(k, r);
			break;
		}
		if (r > 0)
			take_in(k);
	}
	while (!k->eof && k->total > before) { /* then until it goes quiet */
		struct pollfd pf = {.fd = k->fd, .events = POLLIN};
		int r = sd_poll(net, &pf, 1, QUIET_MS);
		if (r <= 0)
			break;
		size_t had = k->total;
		take_in(k);
		if (k->total == had && !k->eof)
			break;
	}
	return k->total - before;
}

void sd_fuzz_read_to_end(struct sd_fuzz_conn *k)
{
	int again = 0;
	while (k && k->fd >= 0 && !k->eof && take_one(k, 0, &again) >= 0 && !again)
		;
}

const unsigned char *sd_fuzz_reply(struct sd_fuzz_conn *k, size_t *n)
{
	*n = k ? k->gotlen : 0;
	return k ? k->got : NULL;
}

int sd_fuzz_reply_port(struct sd_fuzz_conn *k)
{
	if (!k || !k->gotlen)
		return 0;
	const struct sd_fuzz_server *srv = k->cl->srv;
	int port = srv->reply_port ? srv->reply_port(k->got, k->gotlen)
				   : sd_scenario_reply_port(k->got, k->gotlen);
	return port > 0 && port < 65536 ? port : 0;
}

void sd_fuzz_close(struct sd_fuzz_conn *k, int how)
{
	if (!k || k->fd < 0)
		return;
	struct sd_net *net = k->cl->net;
	if (how == SD_FUZZ_HALF_CLOSE) {
		int r = sd_shutdown(net, k->fd, SHUT_WR);
		record(SD_EV_SHUTDOWN, k, NULL, r);
		sd_fuzz_read_to_end(k);
	} else if (how == SD_FUZZ_RESET) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};
		int r = sd_setsockopt(net, k->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
		record(SD_EV_LINGER0, k, NULL, r);
	} else {
		take_in(k);
	}
	stream(k, NULL, 0);
	sd_close(net, k->fd);
	record(SD_EV_CLOSE, k, NULL, 0);
	k->fd = -1, k->ended = 1;
}

int sd__fz_client_port_seen(int client, int *ended)
{
	*ended = client_done[client];
	for (int i = sd__fz_nconns - 1; i >= 0; i--) {
		int port =
			sd__fz_conns[i].client == client ? sd_fuzz_reply_port(&sd__fz_conns[i]) : 0;
		if (port)
			return port;
	}
	return 0;
}

void sd__fz_client_done(struct sd_net *net, int client)
{
	client_done[client] = 1;
	sd_sim_unpark(net, sd__fz_client_key(client), -1);
}

/* The port to connect to: the server's, or the one client `from` is told in a reply (waiting
 * for it up to REPLY_WAIT_MS); 0 when that client ends or the wait ends without one. */
static int target_port(struct sd_fuzz_client *cl, int from)
{
	if (from < 0)
		return cl->srv->port;
	int64_t until = sd_now_ns(cl->net) + REPLY_WAIT_MS * 1000000LL;
	for (;;) {
		int ended, port = sd__fz_client_port_seen(from, &ended);
		if (port || ended)
			return port;
		if (sd_sim_park(cl->net, sd__fz_client_key(from), until, 0, "a port in a reply") <
		    0)
			return sd__fz_client_port_seen(from, &ended);
	}
}

void sd__fz_dialog(struct sd_fuzz_client *cl, const struct sd_fuzz_plan_client *q,
		   struct sd_fuzz_client *from_cl)
{
	int port = target_port(cl, from_cl ? from_cl->id : -1);
	struct sd_fuzz_conn *k = port ? sd_fuzz_connect(cl, port) : NULL;
	if (!k)
		return;
	for (int j = 0; j < q->nmsgs && !k->err; j++) {
		const struct sd_fuzz_plan_msg *m = &q->m[j];
		size_t off = 0;
		for (int p = 0; p < m->npieces && !k->err; p++) {
			if (p && off < m->len)
				sd_sleep_ns(cl->net, PIECE_GAP_NS);
			send_all(k, m->bytes + off, m->cut[p] - off);
			off = m->cut[p];
		}
		if (k->err)
			break;
		if (k->nmsgs < SD_FUZZ_MAX_MSGS)
			k->which[k->nmsgs++] = m->which;
		if (m->after == SD_AFTER_REPLY)
			sd_fuzz_wait_reply(k);
		else if (m->after == SD_AFTER_SLEEP) {
			sd_sleep_ns(cl->net, (int64_t)m->sleep_ms * 1000000);
			if (sd__fz_record)
				sd__fz_record(&(struct sd__fz_event){
					.ev = SD_EV_SLEEP, .k = k, .ms = m->sleep_ms});
		}
	}
	sd_fuzz_close(k, q->end == SD_END_RESET   ? SD_FUZZ_RESET
			 : q->end == SD_END_CLOSE ? SD_FUZZ_CLOSE
						  : SD_FUZZ_HALF_CLOSE);
}

/* ---- a custom client's side: the input and the net --------------------------------------- */

struct sd_net *sd_fuzz_client_net(struct sd_fuzz_client *c) { return c->net; }
int sd_fuzz_client_port(struct sd_fuzz_client *c) { return c->srv->port; }
unsigned sd_fuzz_take_u8(struct sd_fuzz_client *c) { return fin_u8(&c->in); }
uint64_t sd_fuzz_take_u64(struct sd_fuzz_client *c) { return fin_u64(&c->in); }
size_t sd_fuzz_take_left(struct sd_fuzz_client *c) { return c->in.n; }

unsigned sd_fuzz_take_range(struct sd_fuzz_client *c, unsigned lo, unsigned hi)
{
	if (hi <= lo)
		return lo;
	uint64_t span = (uint64_t)hi - lo + 1, v = 0;
	for (uint64_t s = span - 1; s; s >>= 8)
		v = v << 8 | fin_u8(&c->in);
	return lo + (unsigned)(v % span);
}

size_t sd_fuzz_take_bytes(struct sd_fuzz_client *c, const unsigned char **p, size_t max)
{
	size_t n = fin_u16(&c->in);
	if (n > max)
		n = max;
	if (n > c->in.n)
		n = c->in.n;
	*p = c->in.p;
	c->in.p += n, c->in.n -= n;
	return n;
}

int sd_fuzz_take_msg(struct sd_fuzz_client *c, const unsigned char **p, size_t *len)
{
	unsigned kind = fin_u8(&c->in);
	const struct sd_fuzz_dict *d = c->dict;
	if (d && d->n && kind < SD_FUZZ_DICT_KINDS) {
		int which = (int)(kind % d->n);
		*p = (const unsigned char *)d->msgs[which];
		*len = sd_fuzz_dict_len(d, (size_t)which);
		return which;
	}
	*len = sd_fuzz_take_bytes(c, p, SD_FUZZ_MAX_RAW);
	return -1;
}
