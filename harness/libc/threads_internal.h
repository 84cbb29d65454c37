/* sockdrill in-process layer: what the thread interposers' files share (threads.c: the threads'
 * life, cancellation and keys; threads_attrs.c: masks, names and the calls that take a thread
 * id). Not a public header. */
#ifndef SD_LIBC_THREADS_INTERNAL_H
#define SD_LIBC_THREADS_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

/* An actor seen as a thread: every actor of the run that calls in here gets one. */
struct sd__thr {
	int id; /* its actor id */
	int detached, done, joined, joiner;
	int exiting; /* pthread_exit or a cancellation is running its cleanup handlers */
	void *(*start)(void *);
	void *arg, *retval;
	int cancel_pending, cancel_off, cancel_async;
	__pthread_unwind_buf_t *cleanup; /* innermost registered cleanup handler */
	void **tsd;                      /* values of the run's keys, SD__KEYS of them */
	sigset_t mask;                   /* the signal mask it believes it has */
	pthread_once_t *once;            /* the pthread_once it is running the routine of */
	char name[16];
};

/* A thread id of the run: tag, run number, actor id. Never a C library thread's (those
 * are addresses), and an id kept from an earlier run is told apart (ESRCH). */
#define SD__TID_TAG 0x5dull

static inline int sd__tid_tagged(pthread_t tid) { return (uint64_t)tid >> 56 == SD__TID_TAG; }

/* The thread a tagged id names in this run, or NULL (stale, or never ours). */
struct sd__thr *sd__thr_of(pthread_t tid);

#endif
