/* sockdrill: the socket options and poll flags the project names, each listed once (issue 16):
 * the scenario language, its runner, the differential test and the sim take them from here. */
#ifndef SD_UTIL_SOCKOPTS_H
#define SD_UTIL_SOCKOPTS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51 /* Linux 6.3 (linux/in.h); glibc's netinet/in.h lacks it */
#endif

/* What an option's value is, which decides how a caller passes and reads it. */
enum sd__opt_kind {
	SD__KIND_INT,      /* an int */
	SD__KIND_BOOL,     /* an int the kernel reads as on (non-zero) or off */
	SD__KIND_U32,      /* an int the kernel keeps as a u32: read back as 0..4294967295 */
	SD__KIND_LINGER,   /* struct linger: {l_onoff, l_linger} */
	SD__KIND_TIMEVAL,  /* struct timeval */
	SD__KIND_TCP_INFO, /* struct tcp_info, getsockopt's only: of which the state is read */
};

/* The options, by their index in sd__sockopts. */
enum sd__opt {
	SD__SO_REUSEADDR,
	SD__SO_REUSEPORT,
	SD__SO_KEEPALIVE,
	SD__SO_SNDBUF,
	SD__SO_RCVBUF,
	SD__SO_LINGER,
	SD__SO_RCVTIMEO,
	SD__SO_SNDTIMEO,
	SD__TCP_NODELAY,
	SD__IPV6_V6ONLY,
	SD__SO_TYPE,
	SD__SO_ACCEPTCONN,
	SD__TCP_INQ,
	SD__SO_PEEK_OFF,
	SD__SO_RCVLOWAT,
	SD__TCP_USER_TIMEOUT,
	SD__TCP_MAXSEG,
	SD__IP_LOCAL_PORT_RANGE, /* a u32: the high port << 16 | the low port */
	SD__TCP_NOTSENT_LOWAT,
	SD__TCP_INFO,
	SD__TCP_CORK,
	SD__NSOCKOPTS
};

struct sd__sockopt {
	const char *name; /* as C and a scenario file spell it: "SO_LINGER" */
	int level, optname;
	enum sd__opt_kind kind;
};

extern const struct sd__sockopt sd__sockopts[SD__NSOCKOPTS];

/* The option a name stands for, or NULL. */
const struct sd__sockopt *sd__sockopt_by_name(const char *name);
/* The option with this level and name, or NULL for one the table does not list. */
const struct sd__sockopt *sd__sockopt_find(int level, int optname);

/* Poll and epoll flags: a name without its POLL or EPOLL prefix, the bit (the same for both
 * calls where both have it), and which of the two calls knows it. */
#define SD__PF_POLL  0x1u /* poll(2)'s: POLLIN, POLLNVAL, ... */
#define SD__PF_EPOLL 0x2u /* epoll's: EPOLLIN, EPOLLET, ... */

struct sd__pollflag {
	const char *name; /* "IN", "RDHUP", "ET" */
	uint32_t bit;
	unsigned calls; /* SD__PF_* */
};

/* In the order flags are shown: IN, PRI, OUT, ERR, HUP, NVAL, RDHUP, ET, ONESHOT. */
extern const struct sd__pollflag sd__pollflags[];
extern const int sd__npollflags;

/* The flag of one of `calls` (SD__PF_*) with that name (no prefix), or NULL. */
const struct sd__pollflag *sd__pollflag_find(const char *name, unsigned calls);
/* The bits the flags of `calls` name. */
uint32_t sd__pollflags_mask(unsigned calls);
/* The flags of `calls` set in v as "PREFIXIN|PREFIXOUT", in the table's order ("" when none);
 * bits no such flag names are left out (the caller shows them its own way). The length
 * written, as snprintf's when out is too small. */
size_t sd__pollflags_show(uint64_t v, unsigned calls, const char *prefix, char *out, size_t size);

#endif
