/* sockdrill in-process harness: a server's own libc socket calls, routed to an sd_net. */
#ifndef SD_INPROC_H
#define SD_INPROC_H

#include <sockdrill/ops.h>

/*
 * From now on socket() for TCP (AF_INET, AF_INET6; SOCK_STREAM) made by code in this program
 * creates a socket of `net`, named by a placeholder: a real descriptor of the process, the
 * lowest free one as for any socket, which the layer (src/interpose/) owns. Every call on a
 * placeholder (bind, accept, read, poll, fcntl, ...) goes to net; every other descriptor is
 * the C library's as usual. NULL detaches. Attaching another net, or detaching, closes every
 * placeholder of the previous one (its sockets are the net's to free, with sd_net_close).
 */
void sd_inproc_attach(struct sd_net *net);
/* The attached net, or NULL: whether an in-process run is active (src/interpose/ asks). */
struct sd_net *sd_inproc_net(void);

#endif
