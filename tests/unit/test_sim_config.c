/* The sim's options typed (struct sd_sim_config): text parsed once gives the sim the text
 * gives it, a config built by hand is the text it mirrors, and bad text and bad fields are
 * refused as before, the text's with one line saying why. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/scenario.h>

#include "sd_test.h"

const char sd_unit_module[] = "sim_config";

/* What a sim opened from cfg does with a fixed program: its trace's hash (the calls, their
 * results and times), and what it tells of itself. */
struct seen {
	uint64_t hash;
	struct sd_sim_profile prof;
	struct sd_sim_stats st;
	int one_role, bind80, first_fd;
};

static void drive(const struct sd_config *cfg, struct seen *out)
{
	struct sd_net sim, net; /* net: a trace (hashed only) over the sim */
	struct sockaddr_storage a;
	socklen_t al = sizeof a;
	char buf[4096] = {0};
	memset(out, 0, sizeof *out);
	assert_int_equal(sd_net_open(&sim, "sim", cfg), 0);
	assert_int_equal(sd_trace_wrap(&net, &sim, NULL), 0);
	assert_int_equal(sd_sim_profile_of(&net, &out->prof), 0);
	out->one_role = sd_sim_one_role(&net);
	int l = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
	out->first_fd = l;
	sd_addr_parse("127.0.0.1", 80, &a, &al);
	out->bind80 = sd_bind(&net, l, (struct sockaddr *)&a, al); /* EACCES when unprivileged */
	al = sizeof a;
	sd_addr_parse("127.0.0.1", 0, &a, &al);
	if (out->bind80 < 0)
		assert_int_equal(sd_bind(&net, l, (struct sockaddr *)&a, al), 0);
	assert_int_equal(sd_listen(&net, l, 8), 0);
	al = sizeof a;
	assert_int_equal(sd_getsockname(&net, l, (struct sockaddr *)&a, &al), 0);
	int c = sd_socket(&net, AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sd_connect(&net, c, (struct sockaddr *)&a, al), 0);
	int s = sd_accept(&net, l, NULL, NULL, 0);
	assert_true(s >= 0);
	assert_int_equal(sd_send(&net, c, buf, sizeof buf, 0), (ssize_t)sizeof buf);
	for (size_t got = 0; got < sizeof buf;) { /* in pieces when segment= cuts them */
		ssize_t n = sd_recv(&net, s, buf, sizeof buf, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	sd_close(&net, c);
	sd_close(&net, s);
	sd_close(&net, l);
	sd_sim_stats(&net, &out->st);
	out->hash = sd_trace_hash(&net);
	sd_net_close(&net);
	sd_net_close(&sim);
}

static void assert_same(const struct seen *a, const struct seen *b)
{
	assert_true(a->hash == b->hash);
	assert_memory_equal(&a->prof, &b->prof, sizeof a->prof);
	assert_true(a->st.calls == b->st.calls && a->st.now_ns == b->st.now_ns);
	assert_int_equal(a->one_role, b->one_role);
	assert_int_equal(a->bind80, b->bind80);
	assert_int_equal(a->first_fd, b->first_fd);
}

static const char *const texts[] = {
	"",
	"segment=4,preempt=0.5",
	"hz=100,profile=linux-6.1,ports=40000-40010",
	"unprivileged,nofile=64,fdbase=10,one-role=1,stack=64",
	"segment=3,tw_reuse=0,syn_retries=2,preempt=0",
	"profile=host,one-role=0,somaxconn=16,wmem_max=65536,rmem_max=65536",
	"allow-nonloopback,tcp_rmem_max=100000,notsent_lowat=1000,tcp_peek_off=0",
	"segment=1,segment=7,fin_timeout=5,tw_reuse_delay=10,syn_linear_timeouts=0",
};

/* Text parsed once into a struct opens the sim the text opens: the same tunables and the same
 * run, trace for trace; given typed, the struct wins over the text beside it. */
static void text_and_its_struct_give_the_same_sim(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct sd_sim_config typed;
		char err[200] = "x";
		struct seen a, b;
		assert_int_equal(sd_sim_config_parse(texts[i], &typed, err, sizeof err), 0);
		assert_string_equal(err, "");
		struct sd_config by_text = {.seed = 9, .options = texts[i]};
		struct sd_config by_struct = {.seed = 9, .options = "frobnicate", .sim = &typed};
		drive(&by_text, &a);
		drive(&by_struct, &b);
		assert_same(&a, &b);
	}
	struct sd_sim_config none;
	assert_int_equal(sd_sim_config_parse(NULL, &none, NULL, 0), 0);
	struct sd_sim_config init;
	sd_sim_config_init(&init);
	assert_memory_equal(&none.profile, sd_sim_profile_at(0), sizeof none.profile);
	assert_int_equal(none.segment, init.segment);
	assert_true(none.preempt == 0.25 && init.preempt == 0.25);
}

/* A config a driver fills in is the text it stands for: the one scenarios, the fuzz driver and
 * the differential test formatted before (segment=N,preempt=P,one-role=B,profile=NAME, the
 * file's tunables, unprivileged). */
static void a_scenario_config_is_the_text_it_replaces(void **state)
{
	(void)state;
	static const char file[] = "set segment 3\nset preempt 0.5\nrequires hz=100\n"
				   "set port-range 40000-40100\nset unprivileged\n"
				   "requires one-role\na: S = socket(inet)\n";
	struct sd_scenario *sc;
	char err[300];
	assert_int_equal(sd_scenario_parse("t.sd", file, sizeof file - 1, &sc, err, sizeof err), 0);
	struct sd_sc_options opt = {.profile = "linux-6.1"};
	struct sd_sim_config built, parsed;
	assert_int_equal(sd_scenario_sim_config(sc, &opt, &built), 0);
	assert_int_equal(sd_sim_config_parse("segment=3,preempt=0.5,one-role=1,profile=linux-6.1,"
					     "hz=100,ports=40000-40100,unprivileged",
					     &parsed, err, sizeof err),
			 0);
	assert_int_equal(built.segment, parsed.segment);
	assert_true(built.preempt == parsed.preempt);
	assert_int_equal(built.one_role, parsed.one_role);
	assert_int_equal(built.unprivileged, parsed.unprivileged);
	assert_int_equal(built.nofile, parsed.nofile);
	assert_int_equal(built.fdbase, parsed.fdbase);
	assert_int_equal(built.stack_kb, parsed.stack_kb);
	assert_int_equal(built.allow_nonloopback, parsed.allow_nonloopback);
	assert_memory_equal(&built.profile, &parsed.profile, sizeof built.profile);
	struct seen a, b;
	drive(&(struct sd_config){.seed = 3, .sim = &built}, &a);
	drive(&(struct sd_config){.seed = 3, .sim = &parsed}, &b);
	assert_same(&a, &b);
	opt.profile = "linux-2.4"; /* the sim refused it as text: so does the config */
	assert_int_equal(sd_scenario_sim_config(sc, &opt, &built), -EINVAL);
	sd_scenario_free(sc);
}

/* Every text the sim refused is still refused, by the parser with one line naming the option
 * and by sd_net_open as before (-EINVAL). */
static void bad_text_is_refused_with_one_line(void **state)
{
	(void)state;
	static const struct {
		const char *text, *message;
	} bad[] = {
		{"frobnicate", "unknown sim option 'frobnicate'"},
		{"segment", "sim option segment takes 0..1048576, not ''"},
		{"segment=-1", "sim option segment takes 0..1048576, not '-1'"},
		{"preempt=2", "sim option preempt takes a number from 0 to 1, not '2'"},
		{"preempt", "sim option preempt takes a number from 0 to 1, not ''"},
		{"ports=5-1", "sim option ports takes LO-HI, 1 <= LO <= HI <= 65535, not '5-1'"},
		{"nofile=0", "sim option nofile takes 1..16777216, not '0'"},
		{"unprivileged=1", "sim option unprivileged takes no value"},
		{"stack=1", "sim option stack takes 16..1048576, not '1'"},
		{"one-role", "sim option one-role takes 0..1, not ''"},
		{"one-role=yes", "sim option one-role takes 0..1, not 'yes'"},
		{"profile=linux-2.4", "unknown profile 'linux-2.4' (see 'sockdrill list')"},
		{"profile=", "sim option profile takes a name"},
		{"profile=linux-6.1,profile=linux-6.18", "sim options name two profiles"},
		{"hz=0", "sim option hz takes 24..10000, not '0'"},
		{"notsent_lowat=2147483648", "sim option notsent_lowat takes 1..2147483647, not "
					     "'2147483648'"},
		{"tw_reuse_delay=60001", "sim option tw_reuse_delay takes 1..60000, not '60001'"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sd_sim_config cfg;
		struct sd_net net;
		char err[200];
		struct sd_config by_text = {.seed = 1, .options = bad[i].text};
		assert_int_equal(sd_sim_config_parse(bad[i].text, &cfg, err, sizeof err), -EINVAL);
		assert_string_equal(err, bad[i].message);
		assert_int_equal(sd_net_open(&net, "sim", &by_text), -EINVAL);
	}
	char longer[600];
	memset(longer, 'a', sizeof longer - 1);
	longer[sizeof longer - 1] = 0;
	struct sd_sim_config cfg;
	char err[200];
	assert_int_equal(sd_sim_config_parse(longer, &cfg, err, sizeof err), -EINVAL);
	assert_string_equal(err, "sim options longer than 511 bytes");
	assert_int_equal(sd_sim_config_parse("frobnicate", &cfg, NULL, 0), -EINVAL);
}

/* A struct given typed is checked as the text is: a field out of the option's range is
 * -EINVAL from sd_net_open, not a sim that misbehaves. */
static void typed_fields_out_of_range_are_refused(void **state)
{
	(void)state;
	for (int i = 0; i < 8; i++) {
		struct sd_sim_config cfg;
		struct sd_net net;
		sd_sim_config_init(&cfg);
		switch (i) {
		case 0: cfg.segment = -1; break;
		case 1: cfg.preempt = 1.5; break;
		case 2: cfg.nofile = 0; break;
		case 3: cfg.fdbase = -3; break;
		case 4: cfg.stack_kb = 8; break;
		case 5: cfg.one_role = 2; break;
		case 6: cfg.profile.hz = 0; break;
		case 7: cfg.profile.port_lo = 5000, cfg.profile.port_hi = 4000; break;
		}
		struct sd_config c = {.sim = &cfg};
		assert_int_equal(sd_net_open(&net, "sim", &c), -EINVAL);
	}
}

const struct CMUnitTest sd_unit_tests[] = {
	T(text_and_its_struct_give_the_same_sim),
	T(a_scenario_config_is_the_text_it_replaces),
	T(bad_text_is_refused_with_one_line),
	T(typed_fields_out_of_range_are_refused),
};
const size_t sd_unit_ntests = sizeof sd_unit_tests / sizeof sd_unit_tests[0];
