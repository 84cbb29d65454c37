/* sockdrill demo: the Q&A example server against many concurrent clients on one backend. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sockdrill/sockdrill.h>

#include "../util/util.h"
#include "cli.h"
#include "progress.h"
#include "qa.h"

static const char demo_help[] =
	"usage: sockdrill demo [--backend NAME] [--clients N] [--concurrency N] [--host ADDR]\n"
	"                      [--port P] [--timeout S] [--seed N] [--quiet]\n\n"
	"Starts the question/answer example server on HOST:PORT (default 127.0.0.1, an\n"
	"ephemeral port) and runs N clients against it (default 100, all at once), each\n"
	"connecting, asking \"When is Charles' birthday?\" and checking the answer line.\n"
	"The same code runs on every backend: on sim in virtual time, where the same seed\n"
	"prints the same summary (wall-clock figures aside). Exit 1 if any client failed;\n"
	"2 for bad arguments or a port that is already in use.\n\n"
	"  --backend NAME     real (default) or sim; see 'sockdrill list'\n"
	"  --clients N        clients in all (1..1000000, default 100)\n"
	"  --concurrency N    clients connected at once (default: all of them)\n"
	"  --host ADDR        server address, loopback only (127.0.0.0/8, ::1; not 0.0.0.0\n"
	"                     or ::); ADDR:PORT or [V6]:PORT also sets the port, unless\n"
	"                     --port is given too, which is an error\n"
	"  --port P           server port (0 = ephemeral, default)\n"
	"  --timeout S        give up after S seconds without progress (default 10)\n"
	"  --seed N           seed of the sim backend's choices (default 1)\n"
	"  --quiet            no progress line on stderr (on a terminal a line redrawn in\n"
	"                     place: clients done/total, rate, time left, errors so far;\n"
	"                     elsewhere the same as a plain line every 10 s of a longer run);\n"
	"                     the summary is printed all the same\n";

struct server_run {
	struct sd_net *net;
	int lfd;
	struct sd_qa_server_opts opts;
	struct sd_qa_server_stats stats;
	int rc;
};

/* The server is an actor: a thread on real, a coroutine on sim. */
static void server_actor(void *arg)
{
	struct server_run *s = arg;
	s->rc = sd_qa_serve(s->net, s->lfd, &s->opts, &s->stats);
}

/* Lets a large demo hold many sockets at once; failure just keeps the old limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int listen_error(struct sd_net *net, int rc, const struct sockaddr_storage *ss, socklen_t sl)
{
	char where[SD_ADDR_STRLEN], buf[64];
	sd_addr_format((const struct sockaddr *)ss, sl, where, sizeof where);
	if (rc == -EADDRINUSE)
		sd__usage_error("demo", "port already in use: cannot bind %s (EADDRINUSE)", where);
	else if (rc == -EPERM)
		sd__usage_error("demo", "%s is not a loopback address; sockdrill refuses it",
				where);
	else
		sd__usage_error("demo", "cannot listen on %s: %s", where,
				sd_result_format(rc, buf, sizeof buf));
	sd_net_close(net);
	return SD_EXIT_USAGE;
}

/* What the command line asked for. */
struct demo_args {
	const char *backend, *host;
	uint64_t clients, concurrency, port, timeout, seed;
	int port_given, quiet;
};

/* The options into d: -1 to go on, else the exit code (help printed, or a usage error). */
static int parse_demo_args(int argc, char **argv, struct demo_args *d)
{
	static const struct option longopts[] = {
		{"backend", required_argument, NULL, 'b'},
		{"clients", required_argument, NULL, 'n'},
		{"concurrency", required_argument, NULL, 'c'},
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'},
		{"seed", required_argument, NULL, 's'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		const char *o = argv[optind - 1];
		switch (opt) {
		case 'b': d->backend = optarg; break;
		case 'H': d->host = optarg; break;
		case 'n':
			if (sd__parse_num("demo", "--clients", optarg, 1, 1000000, &d->clients))
				return SD_EXIT_USAGE;
			break;
		case 'c':
			if (sd__parse_num("demo", "--concurrency", optarg, 1, 1000000,
					  &d->concurrency))
				return SD_EXIT_USAGE;
			break;
		case 'p':
			if (sd__parse_num("demo", "--port", optarg, 0, 65535, &d->port))
				return SD_EXIT_USAGE;
			d->port_given = 1;
			break;
		case 't':
			if (sd__parse_num("demo", "--timeout", optarg, 1, 3600, &d->timeout))
				return SD_EXIT_USAGE;
			break;
		case 's':
			if (sd__parse_num("demo", "--seed", optarg, 0, UINT64_MAX, &d->seed))
				return SD_EXIT_USAGE;
			break;
		case 'q': d->quiet = 1; break;
		case 'h': fputs(demo_help, stdout); return SD_EXIT_OK;
		case ':': return sd__usage_error("demo", "option '%s' needs a value", o);
		default:
			return sd__usage_error(
				"demo", "unknown option '%s' (try 'sockdrill demo --help')", o);
		}
	}
	if (optind < argc)
		return sd__usage_error("demo", "unexpected argument '%s'", argv[optind]);
	if (!d->concurrency || d->concurrency > d->clients)
		d->concurrency = d->clients;
	return -1;
}

/* The server's address and the backend checked: -1 to go on, else SD_EXIT_USAGE (printed). */
static int check_demo_args(const struct demo_args *d, struct sockaddr_storage *ss, socklen_t *sl)
{
	int arc = sd_qa_server_addr(d->host, (unsigned)d->port, d->port_given, ss, sl);
	if (arc == -EINVAL)
		return sd__usage_error("demo", "--host: not an IPv4 or IPv6 address: '%s'",
				       d->host);
	if (arc == -EEXIST)
		return sd__usage_error("demo",
				       "--host %s carries a port and --port %llu was given "
				       "too: give the port once",
				       d->host, (unsigned long long)d->port);
	if (arc == -EPERM)
		return sd__usage_error("demo",
				       "--host %s is not a loopback address; the demo "
				       "serves on 127.0.0.0/8 or ::1 only",
				       d->host);
	if (!sd_find(d->backend))
		return sd__usage_error("demo", "unknown backend '%s' (see 'sockdrill list')",
				       d->backend);
	if (d->concurrency > 20000 && ss->ss_family != AF_INET)
		return sd__usage_error("demo", "more than 20000 clients at once need an IPv4 host "
					       "(they spread over 127.0.0.x source addresses)");
	return -1;
}

/* Opens the backend into net: 0, or SD_EXIT_USAGE (printed). */
static int open_demo_backend(const struct demo_args *d, struct sd_net *net)
{
	char buf[64];
	/* A simulated host sized for the run, as a real one would be configured for it: for a
	 * backend that takes the sim's configuration. */
	struct sd_sim_config sim;
	sd_sim_config_init(&sim);
	sim.preempt = 0;
	sim.nofile = (int)(2 * d->concurrency + 64); /* --concurrency is at most 1000000 */
	sim.profile.somaxconn = (int)(d->concurrency + 64);
	int rc = sd_backend_caps(d->backend);
	struct sd_config cfg = {.seed = d->seed,
				.sim = rc >= 0 && (rc & SD_CAP_SIM_CONFIG) ? &sim : NULL};
	if (rc >= 0)
		rc = sd_net_open(net, d->backend, &cfg);
	if (rc < 0)
		return sd__usage_error("demo", "cannot start backend '%s': %s", d->backend,
				       sd_result_format(rc, buf, sizeof buf));
	return 0;
}

/* The summary lines; the exit code. */
static int demo_report(const struct demo_args *d, const struct server_run *srv,
		       const struct sd_qa_client_stats *cs, const struct sd_sim_stats *sst,
		       int have_sim, double dt, double vt)
{
	char buf[64];
	printf("served:  %lu/%llu clients answered correctly (server: %lu accepted, %lu answered, "
	       "%lu errors)\n",
	       cs->ok, (unsigned long long)d->clients, srv->stats.accepted, srv->stats.answered,
	       srv->stats.errors);
	printf("bytes:   %lu sent by clients, %lu received by clients\n", cs->bytes_out,
	       cs->bytes_in);
	if (have_sim)
		printf("sim:     seed %llu, %.6f s virtual, %llu socket calls, %d descriptors open "
		       "at the end\n",
		       (unsigned long long)d->seed, vt, (unsigned long long)sst->calls,
		       sst->open_fds);
	printf("time:    %.3f s wall, %.0f clients/s\n", dt, dt > 0 ? (double)cs->ok / dt : 0.0);
	if (cs->failed || srv->rc < 0 || srv->stats.errors) {
		int e = cs->first_error          ? cs->first_error
			: srv->stats.first_error ? srv->stats.first_error
						 : srv->rc;
		printf("FAILED:  %lu clients failed; first error %s\n", cs->failed,
		       sd_result_format(e, buf, sizeof buf));
		return SD_EXIT_CHECK;
	}
	return SD_EXIT_OK;
}

/* The clients' counts as the progress line: wall-clock only, the net is not called. */
static void client_progress(void *arg, const struct sd_qa_client_stats *st)
{
	sd__progress_step(arg, (long)(st->ok + st->failed), (long)st->failed);
}

/* The server as an actor and the clients on the caller, on an open net (closed here). */
static int run_demo(const struct demo_args *d, struct sd_net *net, struct sockaddr_storage *ss,
		    socklen_t sl)
{
	char where[SD_ADDR_STRLEN], buf[64];
	struct server_run srv = {.net = net};
	srv.lfd = sd_qa_listen(net, (struct sockaddr *)ss, sl, (int)d->concurrency);
	if (srv.lfd < 0)
		return listen_error(net, srv.lfd, ss, sl);
	sl = sizeof *ss;
	sd_getsockname(net, srv.lfd, (struct sockaddr *)ss, &sl);
	sd_addr_format((struct sockaddr *)ss, sl, where, sizeof where);
	printf("sockdrill demo: backend %s, server %s, %llu clients (%llu at once)\n", d->backend,
	       where, (unsigned long long)d->clients, (unsigned long long)d->concurrency);
	fflush(stdout);

	/* The poll loops count idle rounds of 100 ms, so both give up on their own. */
	atomic_int stop = 0;
	srv.opts = (struct sd_qa_server_opts){.max_clients = d->clients,
					      .poll_ms = 100,
					      .idle_polls = (int)d->timeout * 10,
					      .stop = &stop};
	/* Past 20k clients at once, spread them over source addresses (see qa.h), 10k each:
	 * bind(port 0) searches the ~14k odd ports first, like Linux, and slows when they fill. */
	struct sd_qa_client_opts co = {.clients = d->clients,
				       .concurrency = d->concurrency,
				       .poll_ms = 100,
				       .idle_polls = (int)d->timeout * 10,
				       .per_source = d->concurrency > 20000 ? 10000 : 0,
				       .progress = client_progress};
	struct sd__progress p;
	struct sd_qa_client_stats cs;
	struct sd_sim_stats sst = {0};
	double t0 = sd__mono_s();
	int64_t v0 = sd_now_ns(net);
	int id = sd_spawn(net, "server", server_actor, &srv);
	if (id < 0) {
		sd_net_close(net);
		return sd__usage_error("demo", "cannot start the server: %s",
				       sd_result_format(id, buf, sizeof buf));
	}
	sd__progress_start(&p, (long)d->clients, "demo", "clients", "errors", isatty(2), d->quiet);
	co.progress_arg = &p;
	sd_qa_run_clients(net, (struct sockaddr *)ss, sl, &co, &cs);
	sd__progress_end(&p); /* the summary starts on a clean line */
	atomic_store(&stop, 1);
	int jrc = sd_join(net, id);
	double dt = sd__mono_s() - t0;
	double vt = (double)(sd_now_ns(net) - v0) / 1e9;
	sd_close(net, srv.lfd);
	int have_sim = sd_sim_stats(net, &sst) == 0;
	sd_net_close(net);
	if (jrc < 0 && srv.rc == 0)
		srv.rc = jrc;
	return demo_report(d, &srv, &cs, &sst, have_sim, dt, vt);
}

int sd__cmd_demo(int argc, char **argv)
{
	struct demo_args d = {
		.backend = "real", .host = "127.0.0.1", .clients = 100, .timeout = 10, .seed = 1};
	struct sockaddr_storage ss;
	socklen_t sl;
	struct sd_net net;
	int rc = parse_demo_args(argc, argv, &d);
	if (rc < 0)
		rc = check_demo_args(&d, &ss, &sl);
	if (rc >= 0) /* --help, or a usage error */
		return rc;
	if ((rc = open_demo_backend(&d, &net)))
		return rc;
	raise_fd_limit();
	return run_demo(&d, &net, &ss, sl);
}
