/* A third backend through `sockdrill run --backend NAME`: a wrapper around the sim with a name
 * and a table of its own, registered by this program, which then runs the CLI's own command
 * line (the CLI's objects, linked here) on the scenario suites. The drivers decide by the
 * table's capabilities, never by its name, so it must get the sim's outcomes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sd_test.h"

const char sd_unit_module[] = "run_backend";

int sd__cli_main(int argc, char **argv); /* src/cli/main.c */

/* ---- the twin: every member forwarded to a sim instance it owns ---------------------------- */

#define IN(s) (&((struct twin *)(s))->inner)

struct twin {
	struct sd_net inner;
};

static int tw_create(const struct sd_config *cfg, void **state)
{
	struct twin *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	int rc = sd_net_open(&t->inner, "sim", cfg); /* the sim's options pass through */
	if (rc < 0) {
		free(t);
		return rc;
	}
	*state = t;
	return 0;
}

static void tw_destroy(void *s)
{
	sd_net_close(IN(s));
	free(s);
}

static int tw_socket(void *s, int d, int t, int p) { return sd_socket(IN(s), d, t, p); }
static int tw_bind(void *s, int fd, const struct sockaddr *a, socklen_t l)
{
	return sd_bind(IN(s), fd, a, l);
}
static int tw_listen(void *s, int fd, int b) { return sd_listen(IN(s), fd, b); }
static int tw_accept(void *s, int fd, struct sockaddr *a, socklen_t *l, int f)
{
	return sd_accept(IN(s), fd, a, l, f);
}
static int tw_connect(void *s, int fd, const struct sockaddr *a, socklen_t l)
{
	return sd_connect(IN(s), fd, a, l);
}
static ssize_t tw_send(void *s, int fd, const void *b, size_t n, int f)
{
	return sd_send(IN(s), fd, b, n, f);
}
static ssize_t tw_recv(void *s, int fd, void *b, size_t n, int f)
{
	return sd_recv(IN(s), fd, b, n, f);
}
static ssize_t tw_sendmsg(void *s, int fd, const struct msghdr *m, int f)
{
	return sd_sendmsg(IN(s), fd, m, f);
}
static ssize_t tw_recvmsg(void *s, int fd, struct msghdr *m, int f)
{
	return sd_recvmsg(IN(s), fd, m, f);
}
static int tw_shutdown(void *s, int fd, int how) { return sd_shutdown(IN(s), fd, how); }
static int tw_close(void *s, int fd) { return sd_close(IN(s), fd); }
static int tw_setsockopt(void *s, int fd, int lv, int n, const void *v, socklen_t l)
{
	return sd_setsockopt(IN(s), fd, lv, n, v, l);
}
static int tw_getsockopt(void *s, int fd, int lv, int n, void *v, socklen_t *l)
{
	return sd_getsockopt(IN(s), fd, lv, n, v, l);
}
static int tw_getsockname(void *s, int fd, struct sockaddr *a, socklen_t *l)
{
	return sd_getsockname(IN(s), fd, a, l);
}
static int tw_getpeername(void *s, int fd, struct sockaddr *a, socklen_t *l)
{
	return sd_getpeername(IN(s), fd, a, l);
}
static int tw_poll(void *s, struct pollfd *p, nfds_t n, int t) { return sd_poll(IN(s), p, n, t); }
static int tw_set_nonblocking(void *s, int fd, int on) { return sd_set_nonblocking(IN(s), fd, on); }
static int tw_spawn(void *s, const char *name, void (*fn)(void *), void *arg)
{
	return sd_spawn(IN(s), name, fn, arg);
}
static int tw_join(void *s, int id) { return sd_join(IN(s), id); }
static int tw_sleep_ns(void *s, int64_t ns) { return sd_sleep_ns(IN(s), ns); }
static int64_t tw_now_ns(void *s) { return sd_now_ns(IN(s)); }
static int tw_epoll_create(void *s, int f) { return sd_epoll_create(IN(s), f); }
static int tw_epoll_ctl(void *s, int ep, int op, int fd, struct epoll_event *e)
{
	return sd_epoll_ctl(IN(s), ep, op, fd, e);
}
static int tw_epoll_wait(void *s, int ep, struct epoll_event *e, int max, int t)
{
	return sd_epoll_wait(IN(s), ep, e, max, t);
}
static int tw_wake(void *s, int fd, short ev) { return sd_wake(IN(s), fd, ev); }
static int tw_note(void *s, const char *text) { return sd_note(IN(s), text); }
static int tw_dup(void *s, int fd) { return sd_dup(IN(s), fd); }
static int tw_dup3(void *s, int a, int b, int f) { return sd_dup3(IN(s), a, b, f); }
static unsigned tw_caps(void *s) { return sd_caps(IN(s)); }
static int tw_join_until(void *s, int id, int64_t deadline)
{
	return sd_join_until(IN(s), id, deadline);
}
static const char *tw_actor_name(void *s) { return sd_actor_name(IN(s)); }
static int tw_ioctl(void *s, int fd, unsigned long req, int *v)
{
	return sd_ioctl(IN(s), fd, req, v);
}

static const struct sd_ops twin_ops = {
	.version = SD_OPS_VERSION,
	.name = "simtwin",
	.create = tw_create,
	.destroy = tw_destroy,
	.socket = tw_socket,
	.bind = tw_bind,
	.listen = tw_listen,
	.accept = tw_accept,
	.connect = tw_connect,
	.send = tw_send,
	.recv = tw_recv,
	.sendmsg = tw_sendmsg,
	.recvmsg = tw_recvmsg,
	.shutdown = tw_shutdown,
	.close = tw_close,
	.setsockopt = tw_setsockopt,
	.getsockopt = tw_getsockopt,
	.getsockname = tw_getsockname,
	.getpeername = tw_getpeername,
	.poll = tw_poll,
	.set_nonblocking = tw_set_nonblocking,
	.spawn = tw_spawn,
	.join = tw_join,
	.sleep_ns = tw_sleep_ns,
	.now_ns = tw_now_ns,
	.epoll_create = tw_epoll_create,
	.epoll_ctl = tw_epoll_ctl,
	.epoll_wait = tw_epoll_wait,
	.wake = tw_wake,
	.note = tw_note,
	.dup = tw_dup,
	.dup3 = tw_dup3,
	.caps = tw_caps,
	.join_until = tw_join_until,
	.actor_name = tw_actor_name,
	.ioctl = tw_ioctl,
};

/* ---- the run's JSON report, one result a line --------------------------------------------- */

struct result {
	char file[512], status[16];
	char *outcomes; /* the "outcomes" array as written (malloc'd) */
};

/* The text after `key` in line up to `end` (malloc'd), or NULL. */
static char *field(const char *line, const char *key, const char *end)
{
	const char *p = strstr(line, key), *q;
	if (!p)
		return NULL;
	p += strlen(key);
	if (!(q = strstr(p, end)))
		return NULL;
	char *v = malloc((size_t)(q - p) + 1);
	assert_non_null(v);
	memcpy(v, p, (size_t)(q - p));
	v[q - p] = 0;
	return v;
}

static int load_results(const char *path, struct result **out)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	assert_non_null(f);
	*out = NULL;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "{\"file\": ", 9))
			continue;
		*out = realloc(*out, (size_t)(n + 1) * sizeof **out);
		assert_non_null(*out);
		struct result *r = &(*out)[n++];
		char *file = field(line, "{\"file\": \"", "\""),
		     *st = field(line, "\"status\": \"", "\"");
		assert_non_null(file);
		assert_non_null(st);
		snprintf(r->file, sizeof r->file, "%s", file);
		snprintf(r->status, sizeof r->status, "%s", st);
		free(file), free(st);
		r->outcomes = field(line, "\"outcomes\": ", ", \"differs\"");
		assert_non_null(r->outcomes);
	}
	free(line);
	fclose(f);
	return n;
}

static void free_results(struct result *r, int n)
{
	for (int i = 0; i < n; i++)
		free(r[i].outcomes);
	free(r);
}

/* `sockdrill run --backend NAME --verbose --json OUT SUITES...` through the CLI's entry. */
static int cli_run(const char *backend, const char *json)
{
	char *argv[] = {"sockdrill",
			"run",
			"--backend",
			(char *)backend,
			"--verbose",
			"--json",
			(char *)json,
			SD_SOURCE_DIR "/corpus/scenarios",
			SD_SOURCE_DIR "/corpus/kernel",
			NULL};
	int rc = sd__cli_main(9, argv);
	fflush(stdout);
	return rc;
}

static void third_backend_runs_the_suites(void **state)
{
	(void)state;
	char sim_json[] = "/tmp/sd-run-backend-sim-XXXXXX",
	     twin_json[] = "/tmp/sd-run-backend-twin-XXXXXX";
	int fd1 = mkstemp(sim_json), fd2 = mkstemp(twin_json);
	assert_true(fd1 >= 0 && fd2 >= 0);
	close(fd1), close(fd2);
	assert_int_equal(sd_register(&twin_ops), 0);
	assert_int_equal(sd_backend_caps("simtwin"), sd_backend_caps("sim"));

	int sim_rc = cli_run("sim", sim_json);
	int twin_rc = cli_run("simtwin", twin_json);
	struct result *a, *b;
	int na = load_results(sim_json, &a), nb = load_results(twin_json, &b);
	unlink(sim_json), unlink(twin_json);
	assert_int_equal(sim_rc, 0);
	assert_true(na > 150); /* both suites */
	assert_int_equal(na, nb);
	/* every file alike, those asking a queue size (ioctl) too: it goes through the table */
	for (int i = 0; i < na; i++) {
		assert_string_equal(a[i].file, b[i].file);
		assert_string_equal(a[i].status, "passed");
		assert_string_equal(b[i].status, a[i].status);
		assert_string_equal(b[i].outcomes,
				    a[i].outcomes); /* the same calls, step by step */
	}
	assert_int_equal(twin_rc, 0);
	free_results(a, na);
	free_results(b, nb);
}

/* Its name is not one the CLI knows of: --one-role and --profile go to it by its SIM_CONFIG
 * capability, as to the sim. */
static void third_backend_takes_sim_options(void **state)
{
	(void)state;
	int rc = sd_register(&twin_ops);
	assert_true(rc == 0 || rc == -EEXIST);
	char *argv[] = {"sockdrill", "run",        "--backend",
			"simtwin",   "--one-role", "1",
			"--profile", "linux-6.1",  SD_SOURCE_DIR "/corpus/scenarios/bind",
			NULL};
	assert_int_equal(sd__cli_main(9, argv), 0);
	char *bad[] = {"sockdrill", "run", "--backend", "real", "--one-role", "1", "x.sd", NULL};
	assert_int_equal(sd__cli_main(7, bad), 2); /* the kernel's variant is the host's */
}

const struct CMUnitTest sd_unit_tests[] = {
	T(third_backend_runs_the_suites),
	T(third_backend_takes_sim_options),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
