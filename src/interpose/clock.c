/* sockdrill in-process layer: a server's clocks and sleeps on the sim's virtual clock, so a
 * 30 s idle timer fires at once and at the same moment on every run; real time outside. */
#ifndef _GNU_SOURCE /* also built in user projects that do not define it */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/sim.h>

#include "../util/libc.h"
#include "threads.h"

#define NS 1000000000LL

int64_t sd__vclock_base(clockid_t c)
{
	switch (c) {
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
	case CLOCK_BOOTTIME_ALARM: return SD_VCLOCK_MONO_BASE_S * NS;
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_REALTIME_ALARM: return SD_VCLOCK_REAL_BASE_S * NS;
	case CLOCK_TAI: return (SD_VCLOCK_REAL_BASE_S + SD_VCLOCK_TAI_OFFSET_S) * NS;
	default: return -1; /* CPU-time clocks stay real */
	}
}

static int bad_ts(const struct timespec *t) { return t->tv_nsec < 0 || t->tv_nsec >= NS; }

/* ns of a timespec, saturated (a far-away time is "never"). */
static int64_t ts_ns(const struct timespec *t)
{
	if (t->tv_sec >= INT64_MAX / NS - 1)
		return INT64_MAX;
	if (t->tv_sec <= INT64_MIN / NS + 1)
		return INT64_MIN;
	return (int64_t)t->tv_sec * NS + t->tv_nsec;
}

int64_t sd__vdeadline(clockid_t c, const struct timespec *abs)
{
	int64_t base = sd__vclock_base(c);
	if (base < 0 || bad_ts(abs))
		return -EINVAL;
	int64_t t = ts_ns(abs);
	if (t == INT64_MAX)
		return -1;
	return t > base ? t - base : 0;
}

/* The time of clock c now, when the caller is an actor of a run; -1 when it is not, for a
 * clock that stays real, and for the realtime clocks read by a signal handler (libFuzzer's
 * timeout check compares them with the wall clock). */
static int64_t vnow(clockid_t c)
{
	struct sd_net sim;
	int64_t base = sd__vclock_base(c);
	if (base < 0 || !sd__in_actor(&sim))
		return -1;
	if (base != SD_VCLOCK_MONO_BASE_S * NS && sd__in_signal_handler())
		return -1;
	return base + sd_now_ns(&sim);
}

int clock_gettime(clockid_t c, struct timespec *ts)
{
	int64_t t = vnow(c);
	if (t < 0)
		return SD__LIBC(clock_gettime)(c, ts);
	ts->tv_sec = (time_t)(t / NS);
	ts->tv_nsec = (long)(t % NS);
	return 0;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	int64_t t = vnow(CLOCK_REALTIME);
	if (t < 0)
		return SD__LIBC_FN(gettimeofday)(tv, tz);
	tv->tv_sec = (time_t)(t / NS); /* declared non-null by glibc */
	tv->tv_usec = (suseconds_t)(t % NS / 1000);
	if (tz) /* UTC, as the kernel says when nobody set a zone */
		*(struct timezone *)tz = (struct timezone){0, 0};
	return 0;
}

time_t time(time_t *out)
{
	int64_t t = vnow(CLOCK_REALTIME);
	if (t < 0)
		return SD__LIBC_FN(time)(out);
	time_t s = (time_t)(t / NS);
	if (out)
		*out = s;
	return s;
}

/* Sleeps the calling actor until sim time `until` (INT64_MAX: for ever); a cancellation
 * point. Other actors run meanwhile; when all wait, the clock jumps to the next deadline. */
static void vsleep_until(struct sd_net *sim, int64_t until)
{
	static const char key; /* nobody wakes a sleeper: only its deadline does */
	sd__thread_cancel_point();
	while (sd_now_ns(sim) < until) {
		int r = sd_sim_park(sim, &key, until == INT64_MAX ? -1 : until, SD_SIM_PARK_INTR,
				    "sleep");
		if (r == -EINTR)
			sd__thread_cancel_point();
		else if (r == -EDEADLK)
			return;
	}
}

static int64_t add_sat(int64_t a, int64_t b) { return b > INT64_MAX - a ? INT64_MAX : a + b; }

unsigned sleep(unsigned s)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(sleep)(s);
	vsleep_until(&sim, add_sat(sd_now_ns(&sim), (int64_t)s * NS));
	return 0;
}

int usleep(useconds_t us)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC_FN(usleep)(us);
	vsleep_until(&sim, add_sat(sd_now_ns(&sim), (int64_t)us * 1000));
	return 0;
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	struct sd_net sim;
	if (!sd__in_actor(&sim))
		return SD__LIBC(nanosleep)(req, rem);
	if (bad_ts(req) || req->tv_sec < 0) {
		errno = EINVAL;
		return -1;
	}
	vsleep_until(&sim, add_sat(sd_now_ns(&sim), ts_ns(req)));
	return 0;
}

int clock_nanosleep(clockid_t c, int flags, const struct timespec *req, struct timespec *rem)
{
	struct sd_net sim;
	if (sd__vclock_base(c) < 0 || !sd__in_actor(&sim))
		return SD__LIBC_FN(clock_nanosleep)(c, flags, req, rem);
	if (bad_ts(req) || (!(flags & TIMER_ABSTIME) && req->tv_sec < 0))
		return EINVAL;
	int64_t until = flags & TIMER_ABSTIME ? sd__vdeadline(c, req)
					      : add_sat(sd_now_ns(&sim), ts_ns(req));
	vsleep_until(&sim, until < 0 ? INT64_MAX : until);
	return 0;
}
