/* sockdrill diff: opening the backends, running a program, comparing and reporting outcomes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/sockdrill.h>

#include "diff_int.h"

int sd_diff_open_sim(struct sd_net *net, uint64_t seed, int one_role)
{
	struct sd_sim_config sim;
	struct sd_config cfg = {.seed = seed, .sim = &sim};
	if (one_role != 0 && one_role != 1)
		return -EINVAL;
	sd_sim_config_init(&sim);
	sim.one_role = one_role;
	return sd_net_open(net, "sim", &cfg);
}

int sd_diff_open(struct sd_net *net, const char *backend, uint64_t seed)
{
	struct sd_config cfg = {.seed = seed};
	struct sd_sim_config sim;
	int caps = sd_backend_caps(backend);
	if (caps < 0) {
		net->ops = NULL, net->state = NULL;
		return caps;
	}
	if (!(caps & SD_CAP_SIM_CONFIG))
		return sd_net_open(net, backend, &cfg);
	/* The sim is compared with the kernel it runs on, so it models that kernel's variant
	 * and takes its tunables (the host's profile). */
	sd_sim_config_init(&sim);
	int one_role = sd_real_host_one_role();
	int rc = one_role < 0 ? one_role : sd_sim_profile_host(&sim.profile, NULL, 0);
	if (rc < 0) {
		net->ops = NULL, net->state = NULL;
		return rc;
	}
	sim.one_role = one_role;
	cfg.sim = &sim;
	return sd_net_open(net, backend, &cfg);
}

int sd_diff_run(struct sd_net *net, const struct sd_diff_prog *p, struct sd_diff_result *res)
{
	/* Only the kernel answers SYNs asynchronously; on the sim a poll with a timeout would
	 * move its virtual clock. By the caps, not the name: a wrapper (a trace) may sit above. */
	int kernel = (sd_caps(net) & SD_CAP_KERNEL) != 0;
	struct run r = {.net = net, .settle_ms = kernel ? 20 : 0, .ep = -1, .kernel = kernel};
	size_t max = 1;
	for (int i = 0; i < p->n; i++)
		if ((p->op[i].kind == SD_DIFF_SEND || p->op[i].kind == SD_DIFF_RECV ||
		     p->op[i].kind == SD_DIFF_RECVMSG) &&
		    sd__diff_io_size(&p->op[i]) > max)
			max = sd__diff_io_size(&p->op[i]);
	r.buf = malloc(max);
	if (!r.buf)
		return -ENOMEM;
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		r.s[i].fd = -1;
	memset(res, 0, sizeof *res);
	for (int i = 0; i < p->n; i++) {
		sd__diff_step(&r, &p->op[i], &res->out[i], res);
		/* A connection's peer is known once both ends exist: learn late pairings. */
		for (int j = 0; j < SD_DIFF_SLOTS; j++)
			if (r.s[j].fd >= 0 && !r.s[j].peer_port)
				sd__diff_learn_ports(&r, &r.s[j]);
	}
	res->n = p->n;
	/* The outcomes are in. On the kernel the sockets left are reset rather than closed, so
	 * they leave no TIME_WAIT entries: sim_vs_kernel, at about 130 programs a second, kept
	 * over a thousand of them, whose ports later programs' binds can collide with. (This
	 * halves them; the rest come from closes inside the programs, which are compared.) */
	struct linger rst = {.l_onoff = 1, .l_linger = 0};
	for (int i = 0; i < SD_DIFF_SLOTS; i++)
		if (r.s[i].fd >= 0) {
			if (r.settle_ms)
				sd_setsockopt(net, r.s[i].fd, SOL_SOCKET, SO_LINGER, &rst,
					      sizeof rst);
			sd__diff_close_slot(&r, &r.s[i]);
		}
	if (r.ep >= 0)
		sd_close(net, r.ep);
	free(r.buf);
	return 0;
}

/* "all~" and "partial~" are one outcome: see NEAR_CAPACITY. */
static int same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (a[0] == '~' || b[0] == '~') /* not compared on either side */
		return 1;
	if (la && lb && a[la - 1] == '~' && b[lb - 1] == '~')
		return 1;
	return strcmp(a, b) == 0;
}

int sd_diff_first_mismatch(const struct sd_diff_result *a, const struct sd_diff_result *b)
{
	int n = a->n < b->n ? a->n : b->n;
	for (int i = 0; i < n; i++)
		if (!same(a->out[i].text, b->out[i].text))
			return i;
	return a->n == b->n ? -1 : n;
}

void sd_diff_report(FILE *f, const struct sd_diff_prog *p, const char *name_a,
		    const struct sd_diff_result *a, const char *name_b,
		    const struct sd_diff_result *b, int mismatch)
{
	char op[96];
	fprintf(f, "  %-3s %-44s %-20s %-20s\n", "#", "call", name_a, name_b);
	for (int i = 0; i < p->n; i++)
		fprintf(f, "%s %-3d %-44s %-20s %-20s\n", i == mismatch ? ">>" : "  ", i,
			sd_diff_op_format(&p->op[i], op, sizeof op), i < a->n ? a->out[i].text : "",
			i < b->n ? b->out[i].text : "");
}
