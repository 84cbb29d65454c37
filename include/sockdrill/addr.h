/* sockdrill: socket address helpers shared by backends, drivers and tools. */
#ifndef SOCKDRILL_ADDR_H
#define SOCKDRILL_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest text sd_addr_format writes, NUL included: "[" v6 "]:" port. */
#define SD_ADDR_STRLEN 56

/* Parses "127.0.0.1", "::1", "127.0.0.1:80", "[::1]:80" or "localhost" into *out.
 * A port in the text wins over `port`. 0 and *len set, or -EINVAL. */
int sd_addr_parse(const char *text, uint16_t port, struct sockaddr_storage *out, socklen_t *len);
/* Writes "a.b.c.d:port" or "[v6]:port" into buf; returns buf. Unknown families print "?". */
char *sd_addr_format(const struct sockaddr *addr, socklen_t len, char *buf, size_t size);
/* The port in host order, or -EAFNOSUPPORT. */
int sd_addr_port(const struct sockaddr *addr, socklen_t len);
/* 1 when the address is 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104; else 0. */
int sd_addr_is_loopback(const struct sockaddr *addr, socklen_t len);
/* 1 when the address is 0.0.0.0, :: or ::ffff:0.0.0.0; else 0. */
int sd_addr_is_wildcard(const struct sockaddr *addr, socklen_t len);

#ifdef __cplusplus
}
#endif
#endif
