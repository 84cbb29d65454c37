/* sockdrill: the in-process driver's faults from the input: its fault levels as the fault
 * wrapper's spec for the server's calls (docs/inproc.md, "Faults from the input"), the spec the
 * server starts under, whether they may change replies, and the virtual time they may add. */
#include <stdint.h>
#include <string.h>

#include <sockdrill/fault.h>

#include "fuzz_internal.h"

#define DELAY_STRETCH_NS (6000 * 1000000000LL)

/* Each level's value, by the kind's type of value (docs/inproc.md, "Faults from the input"):
 * a chance, or the milliseconds, bytes or rate a higher level makes harsher. */
static const double chance[8] = {0, .01, .02, .05, .1, .2, .3, .5};
static const unsigned delay_ms[8] = {0, 1, 1, 2, 2, 5, 10, 20};
static const unsigned latency_ms[8] = {0, 1, 2, 3, 5, 10, 15, 20};
static const unsigned bandwidth_kbps[8] = {0, 1000, 500, 200, 100, 50, 20, 10};
static const unsigned slice_bytes[8] = {0, 64, 32, 16, 8, 4, 2, 1};
static const unsigned limit_bytes[8] = {0, 65536, 4096, 1024, 256, 64, 16, 1};
static const unsigned close_ms[8] = {0, 1, 2, 5, 10, 20, 50, 100};
static const unsigned timeout_ms[8] = {0, 1, 5, 20, 100, 500, 2000, 10000};

/* Where an aimed slot lets its kind fire, as the spec's targets say it. */
static void aim(struct sd_fault_target *g, unsigned a)
{
	if (a == SD_AIM_LATER || a == SD_AIM_FOURTH)
		g->after = SD_FZ_AIM_CALLS;
	if (a == SD_AIM_FIRST)
		g->count = SD_FZ_AIM_CALLS;
	if (a == SD_AIM_FOURTH)
		g->count = 1;
}

void sd__fz_fault_spec(const struct sd_fuzz_plan *p, struct sd_fault_spec *spec)
{
	memset(spec, 0, sizeof *spec);
	for (int k = 0; k < SD_FZ_KINDS; k++) {
		unsigned v = p->fault[k] % 8;
		int kind = sd_fuzz_plan_kind(p, k);
		if (!v)
			continue;
		switch (kind) {
		case SD_FK_SHORT_READ: spec->short_read = v; break;
		case SD_FK_SHORT_WRITE: spec->short_write = v; break;
		case SD_FK_EINTR: spec->eintr = chance[v]; break;
		case SD_FK_EAGAIN: spec->eagain = chance[v]; break;
		case SD_FK_RESET: spec->reset = chance[v]; break;
		case SD_FK_ACCEPT_FAIL: spec->accept_fail = chance[v]; break;
		case SD_FK_CONNECT_FAIL: spec->connect_fail = chance[v]; break;
		case SD_FK_DELAY: spec->delay_ms = delay_ms[v]; break;
		case SD_FK_EPIPE: spec->epipe = chance[v]; break;
		case SD_FK_ETIMEDOUT: spec->etimedout = chance[v]; break;
		case SD_FK_ENOBUFS: spec->enobufs = chance[v]; break;
		case SD_FK_ENOMEM: spec->enomem = chance[v]; break;
		case SD_FK_EMFILE: spec->emfile = chance[v]; break;
		case SD_FK_ENFILE: spec->enfile = chance[v]; break;
		case SD_FK_LATENCY:
			spec->latency_ms = latency_ms[v];
			spec->jitter_ms = latency_ms[v] / 2;
			break;
		case SD_FK_BANDWIDTH: spec->bandwidth_kbps = bandwidth_kbps[v]; break;
		case SD_FK_SLICE:
			spec->slice = slice_bytes[v];
			spec->slice_var = slice_bytes[v] / 4;
			break;
		case SD_FK_LIMIT_DATA: spec->limit_data = limit_bytes[v]; break;
		case SD_FK_SLOW_CLOSE: spec->slow_close_ms = close_ms[v]; break;
		case SD_FK_TIMEOUT: spec->timeout_ms = timeout_ms[v]; break;
		case SD_FK_EAI_AGAIN: spec->eai_again = chance[v]; break;
		case SD_FK_EAI_NONAME: spec->eai_noname = chance[v]; break;
		default: continue;
		}
		aim(&spec->target[kind], p->fault_aim[k]);
	}
}

/* The spec the server starts under: without the kinds that fail a call with no connection
 * (socket, epoll_create, getaddrinfo), which at start-up would only keep a server from
 * listening, a harness error rather than a finding; they begin once it listens. 1 when that
 * leaves something out. */
int sd__fz_startup_spec(const struct sd_fault_spec *spec, struct sd_fault_spec *start)
{
	*start = *spec;
	start->emfile = start->enfile = start->eai_again = start->eai_noname = 0;
	return spec->emfile > 0 || spec->enfile > 0 || spec->eai_again > 0 || spec->eai_noname > 0;
}

/* Whether the input's faults may change what a correct server replies, so that the reply
 * oracles stay out of it. A reset ends a connection; EINTR, failed accepts and connects are
 * errors a server may answer in its own way; EAGAIN and delays move when a server writes
 * relative to what its clients do next (a broker that has a reply queued when the client's
 * half-close arrives may drop it, as on any network); the kinds of their families likewise.
 * Short reads and writes and segmentation change nothing a correct server's clients see. */
int sd__fz_faults_change_replies(const struct sd_fuzz_plan *p)
{
	int change = 0;
	for (int k = 0; k < SD_FZ_KINDS; k++) {
		int kind = sd_fuzz_plan_kind(p, k);
		if (!p->fault[k] || kind == SD_FK_SHORT_READ || kind == SD_FK_SHORT_WRITE)
			continue;
		change = 1;
		/* A send refused with ENOBUFS or ENOMEM, which Linux's TCP gives practically never
		 * (docs/faults.md), after which the connection still works: a server that writes
		 * on leaves a hole in its stream (tinyproxy's status line,
		 * docs/server-findings.md), which no kernel would have made. The session oracle
		 * does not judge such streams. */
		if (kind == SD_FK_ENOBUFS || kind == SD_FK_ENOMEM)
			return SD_FAULTS_LOSE_WRITES;
	}
	return change;
}

/* What the input's waits may add to a run: every call of the server may wait, so a server
 * that answers a long reply in short writes takes that much longer in virtual time;
 * DELAY_STRETCH_NS per millisecond a call waits (a million delayed calls of 6 ms), the time
 * 64 MiB take at the bandwidth, 16 MiB take in slices 1 ms apart, and a thousand slow
 * closes or timeouts. It costs no wall time. */
int64_t sd__fz_delay_stretch(const struct sd_fuzz_plan *p)
{
	struct sd_fault_spec s;
	sd__fz_fault_spec(p, &s);
	int64_t t = (int64_t)(s.delay_ms + s.latency_ms + s.jitter_ms) * DELAY_STRETCH_NS;
	if (s.bandwidth_kbps)
		t += (64LL << 20) * 1000000 / s.bandwidth_kbps; /* bytes / (KB/s) = ms */
	if (s.slice)
		t += (16LL << 20) / s.slice * SD_FAULT_SLICE_GAP_NS;
	return t + (int64_t)(s.slow_close_ms + s.timeout_ms) * 1000 * 1000000;
}
