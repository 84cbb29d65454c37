/* sockdrill: the trace wrapper's structured events: each call's line taken apart for a sink
 * (sd_trace_set_sink), with its start time, step and the bytes it moved. */
#include <string.h>
#include <sys/socket.h>

#include <sockdrill/errors.h>

#include "../util/util.h"
#include "trace_int.h"

/* The bytes a sendmsg or recvmsg moved, gathered from its pieces: at most `cap`. */
static size_t gather(const struct msghdr *m, size_t moved, unsigned char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < (size_t)m->msg_iovlen && n < moved && n < cap; i++) {
		size_t k = m->msg_iov[i].iov_len;
		if (k > moved - n)
			k = moved - n;
		if (k > cap - n)
			k = cap - n;
		if (k && m->msg_iov[i].iov_base)
			memcpy(out + n, m->msg_iov[i].iov_base, k);
		n += k;
	}
	return n;
}

void trace__sink(struct tstate *t, const char *line, int headlen, const struct tcall *c,
		 long result, int64_t now)
{
	/* the line is "SEC.NSEC ACTOR TEXT = RESULT\n": the actor and the text are cut out of
	 * it, so the event says what the line says */
	char actor[128], text[512], call[32];
	const char *sp = strchr(line, ' ');
	size_t alen = sp ? (size_t)(line + headlen - 1 - (sp + 1)) : 0;
	if (!sp || alen >= sizeof actor || (int)(sp - line) >= headlen)
		alen = 0;
	memcpy(actor, sp ? sp + 1 : "", alen);
	actor[alen] = 0;
	snprintf(text, sizeof text, "%s", line + headlen);
	char *end = c ? strstr(text, " = ") : NULL;
	/* the result follows the last " = " of a call's line: the args hold none */
	for (char *p = end; p; p = strstr(p + 1, " = "))
		end = p;
	if (end)
		*end = 0;
	text[strcspn(text, "\n")] = 0;
	size_t clen = c ? strcspn(text, "(") : 0;
	if (clen >= sizeof call)
		clen = sizeof call - 1;
	memcpy(call, text, clen);
	call[clen] = 0;

	unsigned char buf[SD_TRACE_DATA_MAX];
	struct sd_trace_event ev = {
		.actor = actor,
		.start_ns = c ? c->start : now,
		.end_ns = now,
		.call = c ? call : "note",
		.text = text,
		.fd = c ? c->fd : -1,
		.result = result,
		.step = c ? c->step : t->step,
	};
	if (c && c->data) {
		ev.data = c->data;
		ev.ndata = c->ndata < SD_TRACE_DATA_MAX ? c->ndata : SD_TRACE_DATA_MAX;
	} else if (c && c->msg && c->ndata) {
		ev.data = buf;
		ev.ndata = gather(c->msg, c->ndata, buf, sizeof buf);
	}
	t->sink(t->sink_ctx, &ev);
}

void sd_trace_event_json(FILE *f, const struct sd_trace_event *ev)
{
	char res[48];
	int note = !strcmp(ev->call, "note");
	fputs("{\"a\":", f);
	sd__json_str(f, ev->actor, 1);
	fprintf(f, ",\"s\":%lld,\"e\":%lld,\"c\":", (long long)ev->start_ns, (long long)ev->end_ns);
	sd__json_str(f, ev->call, 1);
	fputs(",\"t\":", f);
	sd__json_str(f, ev->text, 1);
	fprintf(f, ",\"fd\":%d,\"r\":%ld,\"rs\":", ev->fd, ev->result);
	sd__json_str(f, note ? "" : sd_result_format(ev->result, res, sizeof res), 1);
	fprintf(f, ",\"st\":%d", ev->step);
	if (ev->ndata) { /* the bytes, in hex: a reader shows them as hex and as text */
		fputs(",\"d\":\"", f);
		sd__hex_write(f, ev->data, ev->ndata);
		fputc('"', f);
	}
	fputc('}', f);
}

void sd_trace_json_lines(void *ctx, const struct sd_trace_event *ev)
{
	FILE *f = ctx;
	sd_trace_event_json(f, ev);
	fputc('\n', f);
}
