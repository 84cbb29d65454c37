/* sockdrill in-process layer: what the process calls (proc.c) tell the fuzz driver, and the
 * one way the layer stops an input it cannot run (not a public header). */
#ifndef SD_LIBC_PROC_H
#define SD_LIBC_PROC_H

/* 1 with *status (0..255, as a parent would see it) once the server called exit(), _exit(),
 * _Exit(), quick_exit(), err(), errx(), verr(), verrx() or error() with a status during
 * the run; 0 otherwise. */
int sd__proc_exited(int *status);
/* Forgets the exit, for the next run. */
void sd__proc_reset(void);

/* A harness error: "sockdrill: <message>" on stderr (stdout flushed first, so the server's
 * last output comes before it), then the process ends with status 2 through _exit: no
 * atexit handler runs, so libFuzzer does not take it for a crash of the target. */
_Noreturn void sd__harness_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
