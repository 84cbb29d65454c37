/* sockdrill LD_PRELOAD route: a connection's identity across exec (preload_exec.c). */
#ifndef SD_PRELOAD_EXEC_H
#define SD_PRELOAD_EXEC_H

#include <stddef.h>
#include <sys/types.h>

#include <sockdrill/fault.h>

/* The variable that carries the identities to the new image. */
#define SD_CONNS_ENV "SOCKDRILL_CONNS"
/* At most this many sockets are carried (the first ones by descriptor); later ones start
 * afresh in the new image, as without the variable. */
#define SD_CONNS_MAX 64

/* In the constructor: reads SOCKDRILL_CONNS (what the image before the exec passed on) and
 * takes it out of the environment, so the program sees its own. The number of entries read. */
int sd__preload_exec_arrive(void);
/* The identity the image before the exec gave the socket now at fd whose inode is ino: the
 * entry of that descriptor with that inode, else the first with that inode (a copy moved by
 * posix_spawn's file actions); NULL when none. */
const struct sd_fault_conn *sd__preload_exec_identity(int fd, ino_t ino);

/* Written by preload.c: with SOCKDRILL_INHERITED=1 (the new image adopts what it inherits
 * only then), the identities of the sockets this process tracks, as the variable's value
 * ("FD:INO:PID:CONN:CALLS,..."; CONN in hex), into buf; its length (0: none). Makes one fstat per
 * tracked socket and nothing else: called only on the way to an exec. */
size_t sd__preload_conns(char *buf, size_t size);

#endif
