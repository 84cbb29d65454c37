/* sockdrill in-process harness: a server's own libc socket calls, routed to an sd_net. */
#ifndef SD_INPROC_H
#define SD_INPROC_H

#include <sockdrill/ops.h>

/* Descriptors at or above this number belong to the attached net (open it with
 * fdbase=SD_INPROC_FDBASE); all others go to the C library as usual. */
#define SD_INPROC_FDBASE 4096

/* From now on socket(), bind(), accept(), recv(), poll(), close(), ... made by code linked
 * into this program act on net. NULL detaches: everything goes to the C library again. */
void sd_inproc_attach(struct sd_net *net);
/* The attached net, or NULL: whether an in-process run is active (harness/libc/ asks). */
struct sd_net *sd_inproc_net(void);

#endif
