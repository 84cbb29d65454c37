/* sockdrill in-process layer: the C library's own functions behind the thread, clock and
 * process interposers. The one place they are resolved; src/libc.h's table replaces it. */
#ifndef SD_LIBC_NEXT_H
#define SD_LIBC_NEXT_H

/* Every libc function these interposers forward to. 1: a sanitizer's interceptor of it
 * comes first (a runtime linked statically, as clang's ASan is, sits in this program where
 * RTLD_NEXT skips it; pthread_create must go through it); 0: functions sanitizer runtimes
 * call themselves on their hot paths, where the probe only costs. */
/* clang-format off */
#define SD__NEXT_LIST(X) \
	X(pthread_getspecific, 0) X(pthread_setspecific, 0) X(pthread_key_create, 0) \
	X(pthread_key_delete, 0) X(pthread_create, 1) X(pthread_join, 1) \
	X(pthread_tryjoin_np, 1) X(pthread_clockjoin_np, 1) X(pthread_detach, 1) \
	X(pthread_self, 1) X(pthread_exit, 1) X(pthread_cancel, 1) X(pthread_setcancelstate, 1) \
	X(pthread_setcanceltype, 1) X(pthread_testcancel, 1) X(__pthread_register_cancel, 1) \
	X(__pthread_unregister_cancel, 1) X(__pthread_unwind_next, 1) X(pthread_sigmask, 1) \
	X(sigprocmask, 1) X(sched_yield, 1) X(pthread_kill, 1) X(pthread_setname_np, 1) \
	X(pthread_getname_np, 1) X(pthread_setschedparam, 1) X(pthread_getschedparam, 1) \
	X(pthread_setaffinity_np, 1) X(pthread_getaffinity_np, 1) X(pthread_getattr_np, 1) \
	X(pthread_mutex_init, 1) X(pthread_mutex_destroy, 1) X(pthread_mutex_lock, 1) \
	X(pthread_mutex_trylock, 1) X(pthread_mutex_clocklock, 1) X(pthread_mutex_unlock, 1) \
	X(pthread_spin_init, 1) X(pthread_spin_destroy, 1) X(pthread_spin_lock, 1) \
	X(pthread_spin_trylock, 1) X(pthread_spin_unlock, 1) X(pthread_cond_wait, 1) \
	X(pthread_cond_clockwait, 1) X(pthread_cond_timedwait, 1) X(pthread_cond_signal, 1) \
	X(pthread_cond_broadcast, 1) X(pthread_rwlock_init, 1) X(pthread_rwlock_destroy, 1) \
	X(pthread_rwlock_rdlock, 1) X(pthread_rwlock_wrlock, 1) X(pthread_rwlock_tryrdlock, 1) \
	X(pthread_rwlock_trywrlock, 1) X(pthread_rwlock_clockrdlock, 1) \
	X(pthread_rwlock_clockwrlock, 1) X(pthread_rwlock_unlock, 1) X(sem_init, 1) \
	X(sem_destroy, 1) X(sem_wait, 1) X(sem_trywait, 1) X(sem_clockwait, 1) X(sem_post, 1) \
	X(sem_getvalue, 1) X(pthread_barrier_init, 1) X(pthread_barrier_destroy, 1) \
	X(pthread_barrier_wait, 1) X(pthread_once, 1) X(clock_gettime, 1) X(gettimeofday, 1) \
	X(time, 1) X(sleep, 1) X(usleep, 1) X(nanosleep, 1) X(clock_nanosleep, 1) X(_exit, 1) \
	X(exit, 1) X(_Exit, 1) X(quick_exit, 1) X(verr, 1) X(verrx, 1) X(fork, 1) X(_Fork, 1) \
	X(daemon, 1) X(system, 1) X(popen, 1) X(posix_spawn, 1) X(posix_spawnp, 1) X(execve, 1) \
	X(execv, 1) X(execvp, 1) X(execvpe, 1) X(fexecve, 1)

enum {
#define SD__NEXT_ENUM(name, icpt) SD__NX_##name,
	SD__NEXT_LIST(SD__NEXT_ENUM)
#undef SD__NEXT_ENUM
	SD__NX_COUNT
};
/* clang-format on */

extern void *sd__next_fn[SD__NX_COUNT];
/* Resolves entry i now. Never NULL: a missing function is a one-line message and abort. */
void *sd__next_resolve(int i);

/* All are resolved by a constructor, before any sanitizer exit handler (LeakSanitizer
 * calls sched_yield with the world stopped, where a dlsym would never return); a call
 * from another library's constructor that came first resolves its own on the spot. */
static inline void *sd__next_at(int i)
{
	void *p = __atomic_load_n(&sd__next_fn[i], __ATOMIC_ACQUIRE);
	return p ? p : sd__next_resolve(i);
}

/* SD_REAL(pthread_join)(t, r): the C library's pthread_join. */
#define SD_REAL(name) ((__typeof__(&name))sd__next_at(SD__NX_##name))

#endif
