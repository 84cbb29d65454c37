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
 * last output comes before it), followed by the server's last output when it wrote any (its
 * lines indented by two spaces), then the process ends with status 2 through _exit: no
 * atexit handler runs, so libFuzzer does not take it for a crash of the target. The same
 * text is appended to the file SOCKDRILL_HARNESS_ERRORS names, if set (while the file is
 * under 64 KiB): `sockdrill fuzz` reads it, since AFL++ takes status 2 for a clean run. */
_Noreturn void sd__harness_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#include <stddef.h>

/* The server's last output: while a run captures, the last SD__OUTPUT_TAIL bytes the run's
 * actors wrote to descriptors 1 and 2, through stdio (printf, fputs, perror, err, ...) or
 * write/writev. It still reaches the descriptors as it is written. */
#define SD__OUTPUT_TAIL 2048
/* on 1: starts capturing for a run (stdout and stderr become unbuffered streams that note
 * what actors write, then pass it on), forgetting the last run's tail; 0: stops (the C
 * library's streams are back), keeping the tail for a harness error. */
void sd__output_capture(int on);
/* Bytes an actor wrote to descriptor 1 or 2; nothing unless capturing and called by an actor. */
void sd__output_note(const void *p, size_t n);

#endif
