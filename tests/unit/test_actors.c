/* Actors every backend must run alike: join with a deadline, the caller's actor name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sd_test.h"

const char sd_unit_module[] = "actors";

#define MS 1000000LL

struct napper {
	struct sd_net *net;
	int64_t ms;
	char name[32]; /* sd_actor_name as the actor saw it */
};

static void nap(void *arg)
{
	struct napper *n = arg;
	snprintf(n->name, sizeof n->name, "%s", sd_actor_name(n->net));
	sd_sleep_ns(n->net, n->ms * MS);
}

/* A deadline before the actor ends gives -ETIMEDOUT at that deadline, on the backend's own
 * clock (wall time on real, virtual on sim), and leaves the actor joinable. */
static void join_until_times_out_then_joins(void **state)
{
	struct sd_net *net = *state;
	struct napper n = {.net = net, .ms = 300};
	int64_t t0 = sd_now_ns(net); /* (a thread starts its nap at once) */
	int id = sd_spawn(net, "napper", nap, &n);
	assert_true(id > 0);
	assert_int_equal(sd_join_until(net, id, t0 + 50 * MS), -ETIMEDOUT);
	int64_t t1 = sd_now_ns(net);
	assert_true(t1 - t0 >= 50 * MS); /* (-ETIMEDOUT says the napper still ran) */
	assert_int_equal(sd_join_until(net, id, t1 + 10000 * MS), 0);
	assert_true(sd_now_ns(net) - t0 >= 300 * MS);
	assert_int_equal(sd_join_until(net, id, sd_now_ns(net) + 10 * MS), -ESRCH);
	assert_int_equal(sd_join(net, id), -ESRCH);
}

/* A deadline already past only looks: an actor still running is not waited for. */
static void join_until_past_deadline_looks(void **state)
{
	struct sd_net *net = *state;
	struct napper n = {.net = net, .ms = 100};
	int id = sd_spawn(net, "napper", nap, &n);
	assert_true(id > 0);
	int64_t t0 = sd_now_ns(net);
	assert_int_equal(sd_join_until(net, id, t0 - 1), -ETIMEDOUT);
	assert_int_equal(sd_join_until(net, id, 0), -ETIMEDOUT);
	assert_int_equal(sd_join(net, id), 0); /* a plain join still waits for it */
	assert_int_equal(sd_join_until(net, 0, t0), -ESRCH);
	assert_int_equal(sd_join_until(net, 12345, t0), -ESRCH);
}

/* The name given to spawn on the actor's own calls; "main" on the caller's. */
static void actor_name_is_the_callers(void **state)
{
	struct sd_net *net = *state;
	struct napper a = {.net = net, .ms = 1}, b = {.net = net, .ms = 1};
	assert_string_equal(sd_actor_name(net), "main");
	int ia = sd_spawn(net, "alice", nap, &a), ib = sd_spawn(net, "", nap, &b);
	assert_true(ia > 0 && ib > 0);
	assert_string_equal(sd_actor_name(net), "main");
	assert_int_equal(sd_join(net, ia), 0);
	assert_int_equal(sd_join_until(net, ib, sd_now_ns(net) + 10000 * MS), 0);
	assert_string_equal(a.name, "alice");
	assert_string_equal(b.name, "actor"); /* no name given */
}

/* An instance destroyed while an actor still runs leaves it to end on its own (real: its
 * thread frees its record; ASan sees any use after free). */
static void destroy_with_running_actor(void **state)
{
	struct sd_net other;
	struct napper n = {.ms = 100};
	(void)state;
	assert_int_equal(sd_net_open(&other, sd_test_backend, NULL), 0);
	n.net = &other;
	int id = sd_spawn(&other, "napper", nap, &n);
	assert_true(id > 0);
	if (sd_caps(&other) & SD_CAP_BLOCKS_THREAD) {
		/* its thread runs at once: let it start its sleep before the instance goes */
		sd_sleep_ns(&other, 20 * MS);
		sd_net_close(&other);
		struct sd_net clock;
		assert_int_equal(sd_net_open(&clock, sd_test_backend, NULL), 0);
		sd_sleep_ns(&clock, 200 * MS); /* the napper ends meanwhile */
		sd_net_close(&clock);
	} else {
		sd_net_close(&other); /* a coroutine never run is dropped with the instance */
	}
}

const struct CMUnitTest sd_unit_tests[] = {
	T(join_until_times_out_then_joins),
	T(join_until_past_deadline_looks),
	T(actor_name_is_the_callers),
	T(destroy_with_running_actor),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
