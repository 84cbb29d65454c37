/* Shared scaffolding for sockdrill's cmocka tests: one backend per run, bounded time. */
#ifndef SD_TEST_H
#define SD_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include <sockdrill/sockdrill.h>

/* The backend this run exercises (--backend NAME), "none" for backend-free modules. */
extern const char *sd_test_backend;

/* Opens a fresh instance of sd_test_backend into *state and arms a 20 s alarm. */
int sd_test_setup(void **state);
/* Closes the instance (and with it any socket a failed test left open). */
int sd_test_teardown(void **state);

/* A sim of its own, whatever the run's backend: seed and options as given (asserts it opens). */
struct sd_net *sd_test_open_sim(uint64_t seed, const char *options);
void sd_test_close_sim(struct sd_net *net);

/* A connected pair through net on 127.0.0.1 (asserts each step): *l the listener, *c the
 * client, *s the accepted end. Returns the listener's port. */
int sd_test_pair(struct sd_net *net, int *l, int *c, int *s);

#define T(name) cmocka_unit_test_setup_teardown(name, sd_test_setup, sd_test_teardown)

/* Every test file defines its table and size. */
extern const struct CMUnitTest sd_unit_tests[];
extern const size_t sd_unit_ntests;
extern const char sd_unit_module[];

#endif
