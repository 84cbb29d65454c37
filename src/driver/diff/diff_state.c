/* sockdrill diff: the run state: slots, their sockets' ports and what the rules mark on them. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <sockdrill/sockdrill.h>

#include "../../util/kports.h"
#include "diff_int.h"

/* A dup's slot shares the socket's state: after a change to sl, its copies get it too. */
void diff__sync_copies(struct run *r, const struct slot *sl)
{
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (&r->s[i] != sl && r->s[i].fd >= 0 && sl->fd >= 0 && r->s[i].file == sl->file) {
			int fd = r->s[i].fd;
			r->s[i] = *sl;
			r->s[i].fd = fd;
		}
}

/* Every slot naming a's socket or its peer's: diff__sync_copies() only follows the slot a step
 * acted on, and either end's outcomes depend on where held bytes went. */
static void conn_unsure(struct run *r, struct slot *a)
{
	struct slot *b = diff__peer_slot(r, a);
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (r->s[i].fd >= 0 && (r->s[i].file == a->file || (b && r->s[i].file == b->file)))
			r->s[i].held_unsure = 1;
	a->held_unsure = 1;
}

/* What p holds may arrive otherwise on the two stacks (its reader closed, sent, or shut
 * down): see R_HELD. */
void diff__held_unsure_all(struct run *r, struct slot *p)
{
	if (p && p->held_since)
		conn_unsure(r, p);
}

/* Each slot holds a descriptor of its own (dup is the ops table's on both stacks): the
 * socket closes with the last, on either. */
long diff__close_slot(struct run *r, struct slot *sl)
{
	/* A reader closing while its peer holds bytes for it: the sim resets at once (they
	 * count as unread), Linux sends its FIN and resets when they reach it. The same when
	 * the bytes are held after the close (SD_DIFF_SEND). */
	diff__held_unsure_all(r, diff__peer_slot(r, sl));
	/* A holder closing whose bytes are unsure: its reader's later outcomes are too. */
	if (sl->held_unsure)
		conn_unsure(r, sl);
	int fd = sl->fd;
	sl->fd = -1;
	return sd_close(r->net, fd);
}

void diff__taint(struct run *r, struct slot *sl)
{
	sl->tainted = 1;
	if (sl->port && r->ntainted < (int)(sizeof r->tainted_ports / sizeof r->tainted_ports[0]))
		r->tainted_ports[r->ntainted++] = sl->port;
	diff__sync_copies(r, sl);
}

int diff__port_tainted(const struct run *r, int port)
{
	for (int i = 0; i < r->ntainted; i++)
		if (port && r->tainted_ports[i] == port)
			return 1;
	return 0;
}

static void note_port(struct run *r, int port)
{
	for (int i = 0; i < r->nown; i++)
		if (r->own_ports[i] == port)
			return;
	if (port && r->nown < (int)(sizeof r->own_ports / sizeof r->own_ports[0]))
		r->own_ports[r->nown++] = port;
}

static int own_port(const struct run *r, int port)
{
	for (int i = 0; i < r->nown; i++)
		if (r->own_ports[i] == port)
			return 1;
	return 0;
}

/* Whether a kernel socket outside the program holds `port`: one that is neither open in a
 * slot (its inode) nor a closed or unaccepted one of the program's own connections (no inode,
 * a peer port the program used). Other processes' TIME_WAIT entries and connections sharing
 * an ephemeral port make a bind fail with EADDRINUSE on the kernel alone. When the kernel
 * cannot be asked, nobody outside is assumed, so the step is compared as before. */
int diff__held_outside(struct run *r, int port)
{
	struct sd__kport k[128];
	int n = sd__kports((uint16_t)port, k, 128);
	if (n < 0)
		return 0;
	if (n > 128)
		return 1; /* more sockets on one port than a program can own */
	for (int i = 0; i < n; i++) {
		int own = 0;
		for (int j = 0; j < SD_DIFF_SLOTS && !own && k[i].inode; j++) {
			struct stat st;
			own = r->s[j].fd >= 0 && fstat(r->s[j].fd, &st) == 0 &&
			      st.st_ino == k[i].inode;
		}
		if (!k[i].inode)
			own = k[i].dport && own_port(r, k[i].dport);
		if (!own)
			return 1;
	}
	return 0;
}

unsigned char diff__pattern(uint64_t off, int port)
{
	return (unsigned char)((off * 131) >> 3 ^ off ^ (uint64_t)port);
}

void diff__learn_ports(struct run *r, struct slot *sl)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (sd_getsockname(r->net, sl->fd, (struct sockaddr *)&ss, &len) == 0)
		sl->port = sd_addr_port((struct sockaddr *)&ss, len);
	len = sizeof ss;
	if (sd_getpeername(r->net, sl->fd, (struct sockaddr *)&ss, &len) == 0)
		sl->peer_port = sd_addr_port((struct sockaddr *)&ss, len);
	note_port(r, sl->port);
	note_port(r, sl->peer_port);
}

int diff__slot_of_port(const struct run *r, int port)
{
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (r->s[i].fd >= 0 && port && r->s[i].port == port)
			return i;
	return -1;
}

struct slot *diff__peer_slot(struct run *r, const struct slot *sl)
{
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (r->s[i].fd >= 0 && &r->s[i] != sl && sl->peer_port &&
		    r->s[i].port == sl->peer_port && r->s[i].peer_port == sl->port)
			return &r->s[i];
	return NULL;
}

/* Documented difference (docs/sim-vs-linux.md): the sim sends at once where Linux's Nagle
 * algorithm holds a small segment until the previous one is acknowledged (a delayed ACK can
 * take 40 ms), so every socket of a run has TCP_NODELAY on both stacks. */
void diff__no_nagle(struct run *r, int fd)
{
	int one = 1;
	if (fd >= 0)
		sd_setsockopt(r->net, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void diff__set_text(struct sd_diff_outcome *o, long rc)
{
	sd_result_format(rc, o->text, sizeof o->text);
}

/* SIOCINQ of the slot, through the table as every other call. */
long diff__inq_of(struct run *r, const struct slot *sl)
{
	int v = 0;
	int rc = sd_ioctl(r->net, sl->fd, SIOCINQ, &v);
	return rc < 0 ? rc : v;
}

/* The socket's TCP state as TCP_INFO names it, or -1. */
int diff__tcp_state(struct run *r, const struct slot *sl)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	if (sd_getsockopt(r->net, sl->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -1;
	return ti.tcpi_state;
}
