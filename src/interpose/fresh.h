/* sockdrill in-process layer: a fresh process's state for every input (fresh.c; not a public
 * header). */
#ifndef SD_LIBC_FRESH_H
#define SD_LIBC_FRESH_H

/* 1 when the program holds a server's globals in the sections ci/real-servers makes
 * (sd_srv_data, sd_srv_bss): they are put back before every run. */
int sd__fresh_globals(void);
/* Before the server starts: the server's globals as at the first run, the open descriptors
 * noted, no signal disposition or timer kept. */
void sd__fresh_begin(void);
/* After the run (the sim closed, the layer detached): the descriptors opened during the run
 * closed, the standard ones put back, kept dispositions and timers forgotten. */
void sd__fresh_end(void);

/* src/interpose/heap.c, linked only into programs built by ci/real-servers (servers/
 * CMakeLists.txt): the server's blocks and streams noted from sd__heap_begin and given back
 * by sd__heap_end_streams (fclose) and sd__heap_end (free). Weak: absent elsewhere. */
int sd__heap_tracked(void) __attribute__((weak));
void sd__heap_begin(void) __attribute__((weak));
void sd__heap_end_streams(void) __attribute__((weak));
void sd__heap_end(void) __attribute__((weak));

#endif
