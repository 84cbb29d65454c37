/* sockdrill: the kernel's TCP sockets on a local port, from netlink sock_diag (private). */
#ifndef SD_KPORTS_H
#define SD_KPORTS_H

#include <stdint.h>

/* One kernel TCP socket (any family, any state, bound-only ones included). */
struct sd__kport {
	uint16_t dport; /* remote port, 0 when unconnected */
	uint8_t state;  /* TCP_* state as sock_diag reports it */
	uint32_t inode; /* the socket's inode; 0 for TIME_WAIT, orphans and unaccepted ones */
};

/* Fills up to max entries for the sockets whose local port is `port`. The number found
 * (which may exceed max), or a negative errno when the kernel could not be asked. */
int sd__kports(uint16_t port, struct sd__kport *out, int max);

#endif
