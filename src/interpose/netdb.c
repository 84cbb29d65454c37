/* sockdrill interposition layer: names without DNS (numeric addresses, localhost) while attached.
 */
#include "layer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sockdrill/fault.h>

/*
 * While a net is attached in-process, getaddrinfo and getnameinfo answer from the text alone,
 * as the C library would with a hosts file holding only localhost: numeric IPv4 (inet_aton's
 * forms) and IPv6 addresses, "localhost" (127.0.0.1, then ::1), no host (the wildcard with
 * AI_PASSIVE, else loopback, in glibc's order), numeric services. Any other name is
 * EAI_NONAME and any other service EAI_SERVICE: no DNS query, no file read, the same answer
 * on every machine. Otherwise both are the C library's.
 */

/* One entry of a result: the addrinfo and its address, in one block. */
struct node {
	struct addrinfo ai;
	struct sockaddr_in6 addr; /* holds a sockaddr_in too */
	struct node *result_next; /* our results not yet freed (heads only) */
};

/* Our results, so that freeaddrinfo tells them from the C library's. */
static struct node *ours;
static int ours_lock;

static void lock(void)
{
	while (__atomic_exchange_n(&ours_lock, 1, __ATOMIC_ACQUIRE))
		;
}

static void unlock(void) { __atomic_store_n(&ours_lock, 0, __ATOMIC_RELEASE); }

struct want {
	int family, socktype, protocol, flags;
	uint16_t port;
};

struct addr {
	int family;
	unsigned char a[16];
	uint32_t scope;
};

/* Appends one node per socket type the hints allow for address x to the list at **tail. */
static int add(struct addrinfo ***tail, const struct want *w, const struct addr *x)
{
	static const int types[][2] = {
		{SOCK_STREAM, IPPROTO_TCP}, {SOCK_DGRAM, IPPROTO_UDP}, {SOCK_RAW, 0}};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		if (w->socktype && w->socktype != types[i][0])
			continue;
		struct node *n = calloc(1, sizeof *n);
		if (!n)
			return EAI_MEMORY;
		n->ai.ai_family = x->family;
		n->ai.ai_socktype = types[i][0];
		n->ai.ai_protocol = w->socktype && w->protocol ? w->protocol : types[i][1];
		n->ai.ai_addr = (struct sockaddr *)&n->addr;
		if (x->family == AF_INET) {
			struct sockaddr_in *s = (struct sockaddr_in *)&n->addr;
			s->sin_family = AF_INET;
			s->sin_port = htons(w->port);
			memcpy(&s->sin_addr, x->a, 4);
			n->ai.ai_addrlen = sizeof *s;
		} else {
			n->addr.sin6_family = AF_INET6;
			n->addr.sin6_port = htons(w->port);
			memcpy(&n->addr.sin6_addr, x->a, 16);
			n->addr.sin6_scope_id = x->scope;
			n->ai.ai_addrlen = sizeof n->addr;
		}
		**tail = &n->ai;
		*tail = &n->ai.ai_next;
	}
	return 0;
}

static void free_nodes(struct addrinfo *ai)
{
	while (ai) {
		struct addrinfo *next = ai->ai_next;
		free(ai->ai_canonname);
		free(ai);
		ai = next;
	}
}

/* The addresses host stands for, in order: how many (at most 2), or a negative EAI_ code. */
static int lookup(const char *host, const struct want *w, struct addr *out)
{
	struct addr v4 = {.family = AF_INET}, v6 = {.family = AF_INET6};
	struct in_addr in;
	if (!host) {
		if (w->flags & AI_PASSIVE) /* 0.0.0.0, then :: */
			out[0] = v4, out[1] = v6;
		else { /* ::1, then 127.0.0.1 */
			v6.a[15] = 1;
			v4.a[0] = 127, v4.a[3] = 1;
			out[0] = v6, out[1] = v4;
		}
	} else if (inet_aton(host, &in)) {
		memcpy(v4.a, &in, 4);
		if (w->family != AF_INET6) {
			out[0] = v4;
			return 1;
		}
		if (!(w->flags & AI_V4MAPPED))
			return EAI_ADDRFAMILY;
		v6.a[10] = v6.a[11] = 0xff;
		memcpy(v6.a + 12, &in, 4);
		out[0] = v6;
		return 1;
	} else {
		char text[INET6_ADDRSTRLEN + 16], *pct;
		if (strlen(host) >= sizeof text)
			return EAI_NONAME;
		strcpy(text, host);
		if ((pct = strchr(text, '%')) != NULL) {
			char *end;
			unsigned long id = strtoul(pct + 1, &end, 10);
			if (!isdigit((unsigned char)pct[1]) || *end || id > UINT32_MAX)
				return EAI_NONAME; /* interface names are not looked up */
			v6.scope = (uint32_t)id;
			*pct = '\0';
		}
		if (inet_pton(AF_INET6, text, v6.a) == 1) {
			if (w->family == AF_INET)
				return EAI_ADDRFAMILY;
			out[0] = v6;
			return 1;
		}
		if ((w->flags & AI_NUMERICHOST) || strcasecmp(host, "localhost") != 0)
			return EAI_NONAME;
		v4.a[0] = 127, v4.a[3] = 1;
		v6.a[15] = 1;
		v6.scope = 0;
		out[0] = v4, out[1] = v6;
	}
	/* two addresses: the family asked for keeps its own */
	if (w->family == AF_INET || w->family == AF_INET6) {
		out[0] = out[0].family == w->family ? out[0] : out[1];
		return 1;
	}
	return 2;
}

/* The hints as one want, or an EAI_ code. */
static int want_of(const struct addrinfo *hi, const char *serv, struct want *w)
{
	const int known = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_V4MAPPED | AI_ALL |
			  AI_ADDRCONFIG | AI_NUMERICSERV;
	memset(w, 0, sizeof *w);
	if (hi) {
		w->family = hi->ai_family, w->socktype = hi->ai_socktype;
		w->protocol = hi->ai_protocol, w->flags = hi->ai_flags;
	}
	if (w->flags & ~known)
		return EAI_BADFLAGS;
	if (w->family != AF_UNSPEC && w->family != AF_INET && w->family != AF_INET6)
		return EAI_FAMILY;
	if (w->socktype != 0 && w->socktype != SOCK_STREAM && w->socktype != SOCK_DGRAM &&
	    w->socktype != SOCK_RAW)
		return EAI_SOCKTYPE;
	if (w->protocol && ((w->socktype == SOCK_STREAM && w->protocol != IPPROTO_TCP) ||
			    (w->socktype == SOCK_DGRAM && w->protocol != IPPROTO_UDP)))
		return EAI_SOCKTYPE;
	if (serv) {
		char *end;
		unsigned long port = strtoul(serv, &end, 10);
		if (!isdigit((unsigned char)*serv) || *end)
			return w->flags & AI_NUMERICSERV ? EAI_NONAME : EAI_SERVICE;
		w->port = (uint16_t)port; /* glibc keeps the low 16 bits too */
	}
	return 0;
}

int sd__on_getaddrinfo(const char *host, const char *serv, const struct addrinfo *hi,
		       struct addrinfo **res)
{
	int failed = sd__route_call_fault(SD_OP_RESOLVE, "getaddrinfo");
	if (failed)
		return failed;
	if (!sd__route_resolver())
		return SD__LIBC(getaddrinfo)(host, serv, hi, res);
	struct want w;
	struct addr x[2];
	int rc = want_of(hi, serv, &w);
	if (rc)
		return rc;
	if (!host && !serv)
		return EAI_NONAME;
	if (!host && (w.flags & AI_CANONNAME))
		return EAI_BADFLAGS;
	int n = lookup(host, &w, x);
	if (n < 0)
		return n;
	struct addrinfo *head = NULL, **tail = &head;
	for (int i = 0; i < n && rc == 0; i++)
		rc = add(&tail, &w, &x[i]);
	if (rc == 0 && !head)
		rc = EAI_SOCKTYPE;
	if (rc == 0 && (w.flags & AI_CANONNAME) && !(head->ai_canonname = strdup(host)))
		rc = EAI_MEMORY;
	if (rc) {
		free_nodes(head);
		return rc;
	}
	struct node *first = (struct node *)(void *)head;
	lock();
	first->result_next = ours;
	ours = first;
	unlock();
	*res = head;
	return 0;
}

void sd__on_freeaddrinfo(struct addrinfo *ai)
{
	struct node **p, *mine = NULL;
	if (!ai)
		return;
	lock();
	for (p = &ours; *p; p = &(*p)->result_next)
		if (&(*p)->ai == ai) {
			mine = *p;
			*p = mine->result_next;
			break;
		}
	unlock();
	if (mine)
		free_nodes(ai);
	else
		SD__LIBC(freeaddrinfo)(ai);
}

/* Copies text into buf of size len: 0, or EAI_OVERFLOW. */
static int put(char *buf, socklen_t len, const char *text)
{
	size_t n = strlen(text);
	if (n >= len)
		return EAI_OVERFLOW;
	memcpy(buf, text, n + 1);
	return 0;
}

int sd__on_getnameinfo(const struct sockaddr *a, socklen_t l, char *host, socklen_t hl, char *serv,
		       socklen_t sl, int f)
{
	if (!sd__route_resolver())
		return SD__LIBC(getnameinfo)(a, l, host, hl, serv, sl, f);
	const int known = NI_NUMERICHOST | NI_NUMERICSERV | NI_NOFQDN | NI_NAMEREQD | NI_DGRAM;
	char text[INET6_ADDRSTRLEN + 16];
	int rc = 0, loop;
	uint16_t port;
	if (f & ~known)
		return EAI_BADFLAGS;
	if (!a || (a->sa_family == AF_INET && l >= sizeof(struct sockaddr_in))) {
		if (!a)
			return EAI_FAMILY;
		const struct sockaddr_in *s = (const struct sockaddr_in *)a;
		inet_ntop(AF_INET, &s->sin_addr, text, sizeof text);
		loop = ntohl(s->sin_addr.s_addr) == INADDR_LOOPBACK;
		port = ntohs(s->sin_port);
	} else if (a->sa_family == AF_INET6 && l >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
		inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof text);
		if (s->sin6_scope_id)
			snprintf(text + strlen(text), 12, "%%%u", (unsigned)s->sin6_scope_id);
		loop = IN6_IS_ADDR_LOOPBACK(&s->sin6_addr);
		port = ntohs(s->sin6_port);
	} else {
		return EAI_FAMILY;
	}
	if (!(host && hl) && !(serv && sl))
		return EAI_NONAME;
	if (host && hl) {
		if (!(f & NI_NUMERICHOST) && loop)
			rc = put(host, hl, "localhost");
		else if (f & NI_NAMEREQD)
			rc = EAI_NONAME;
		else
			rc = put(host, hl, text);
	}
	if (rc == 0 && serv && sl) {
		char num[8];
		snprintf(num, sizeof num, "%u", (unsigned)port);
		rc = put(serv, sl, num);
	}
	return rc;
}
