/* sockdrill in-process layer: what the thread, clock and process interposers share with each
 * other, with the socket calls of the layer and with the fuzz driver (not a public header). */
#ifndef SD_LIBC_THREADS_H
#define SD_LIBC_THREADS_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <sockdrill/ops.h>

/* The virtual clocks of a run (docs/inproc.md): CLOCK_MONOTONIC, _RAW, _COARSE and BOOTTIME
 * read a day of uptime plus the sim clock; CLOCK_REALTIME and _COARSE read 2024-01-01
 * 00:00:00 UTC plus the sim clock, CLOCK_TAI 37 s more. Fixed, so a run replays exactly. */
#define SD_VCLOCK_MONO_BASE_S  86400LL
#define SD_VCLOCK_REAL_BASE_S  1704067200LL
#define SD_VCLOCK_TAI_OFFSET_S 37LL

/* 1 with *sim naming the sim when an in-process run is active (sd_inproc_net()) and the
 * caller is one of its actors; 0 otherwise: the call then goes to the C library. */
int sd__in_actor(struct sd_net *sim);
/* The net a run's thread calls (spawn, join) go through for sim: the attached net when it
 * leads down to sim, so that its wrappers see them (a trace shows them), else sim itself. */
struct sd_net *sd__route_calls_net(struct sd_net *sim);

/* 1 when the calling actor is inside a signal handler (the fuzzer's alarm, a crash
 * handler): a signal is blocked that was not when the run began (actors' own masks are
 * kept apart, threads_attrs.c). Such code gets the real clock and the real exit. */
int sd__in_signal_handler(void);

/* A cancellation point: a pending pthread_cancel of the calling actor acts here (the
 * call does not return then). The layer calls it when a call POSIX makes a cancellation
 * point starts, and again when one failed with EINTR. Nothing outside a run. */
void sd__thread_cancel_point(void);

/* Forgets every thread, key and synchronisation object of the run that ended, and gives
 * back the pthread_once objects an abandoned actor was still running. The driver calls it
 * when a run ends; a new run calls it by itself when it finds the last one's state. */
void sd__threads_reset(void);

/* The calling actor's thread (threads.c), or NULL outside a run. */
struct sd__thr;
struct sd__thr *sd__thr_self(struct sd_net *sim);
int sd__thr_id(const struct sd__thr *t); /* its actor id */
/* pthread_once bookkeeping: the object an actor is running the init routine of. */
void sd__thr_set_once(struct sd__thr *t, pthread_once_t *once);

/* sync.c: the side table of mutexes, rwlocks, semaphores, spinlocks and barriers. */
void sd__sync_reset(void);

/* clock.c: the sim-clock time of an absolute time on clock c (0 for one before the run
 * began), -1 for one too far away to ever come, or -EINVAL for a clock without virtual
 * time (CPU clocks) or a tv_nsec out of range. */
int64_t sd__vdeadline(clockid_t c, const struct timespec *abs);
/* Where clock c starts, in ns, or -1 for a clock that stays real. */
int64_t sd__vclock_base(clockid_t c);

#endif
