/* sockdrill: the in-process driver's verdicts on each connection (the reply oracles: `check`,
 * `on_reply`'s refusals, the session oracle, refused connections), the oracles the glue or
 * SOCKDRILL_ORACLES switch off, and the transcript of what the connections sent and got. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/fuzz.h>

#include "../src/util/util.h"
#include "fuzz_input.h"
#include "fuzz_internal.h"
#include "libc/proc.h"

#define EXCERPT 256 /* bytes of a reply a finding shows */

/* n bytes as a quoted string (a C string literal's contents, so a finding stays on one
 * line), cut to `limit` bytes with "..." after the quote. out holds 4 * limit + 6. */
static const char *quoted(char *out, const unsigned char *p, size_t n, size_t limit)
{
	size_t k = n < limit ? n : limit;
	out[0] = '"';
	sd__escape(out + 1, 4 * k + 1, p, k,
		   SD__ESC_CR | SD__ESC_NL | SD__ESC_QUOTE | SD__ESC_BACKSLASH, NULL);
	strcat(out, n > limit ? "\"..." : "\"");
	return out;
}

/* SOCKDRILL_TRANSCRIPT=FILE: what each connection sent and received, one JSON object a line
 * in client order, written anew for every input once the clients are done and before any
 * verdict, so an input that is a finding leaves its transcript too (docs/inproc.md). */
void sd__fz_write_transcript(const char *path, int nclients)
{
	if (!path || !*path)
		return;
	FILE *f = fopen(path, "we");
	if (!f)
		sd__harness_error("SOCKDRILL_TRANSCRIPT: %s: %s", path, strerror(errno));
	for (int c = 0; c <= nclients; c++)
		for (int i = 0; i < sd__fz_nconns; i++) {
			const struct sd_fuzz_conn *k = &sd__fz_conns[i];
			if (k->client != c)
				continue;
			fprintf(f, "{\"client\": %d, \"port\": %d, \"which\": [", c,
				k->to_server ? 0 : k->port);
			for (int m = 0; m < k->nmsgs; m++)
				fprintf(f, "%s%d", m ? ", " : "", k->which[m]);
			fputs("], \"sent\": \"", f);
			sd__hex_write(f, k->sent, k->sentlen);
			fputs("\", \"reply\": \"", f);
			sd__hex_write(f, k->got, k->gotlen);
			if (k->total > k->gotlen) /* cut at the bound: the whole length */
				fprintf(f, "\", \"reply_bytes\": %zu", k->total);
			else
				putc('"', f);
			fprintf(f, ", \"err\": %d}\n", -k->err);
		}
	if (fclose(f) != 0)
		sd__harness_error("SOCKDRILL_TRANSCRIPT: %s: %s", path, strerror(errno));
}

/* The oracles' names, for SOCKDRILL_ORACLES ("-fd-leak,-deadlock": off; "+x": on). */
static const struct {
	const char *name;
	unsigned bit;
} oracle_names[] = {
	{"reply", SD_ORACLE_REPLY},     {"deadlock", SD_ORACLE_DEADLOCK},
	{"fd-leak", SD_ORACLE_FD_LEAK}, {"listeners", SD_ORACLE_LISTENERS},
	{"exit", SD_ORACLE_EXIT},       {"refused", SD_ORACLE_REFUSED},
};

/* The oracles switched off: the glue's choice, then SOCKDRILL_ORACLES. A bad name there is a
 * harness error. */
unsigned sd__fz_oracles_off(const struct sd_fuzz_server *srv)
{
	unsigned off = srv->oracles_off;
	const char *e = getenv("SOCKDRILL_ORACLES");
	while (e && *e) {
		size_t n = strcspn(e, ",");
		int on = *e == '+';
		if (*e != '+' && *e != '-')
			goto bad;
		size_t i = 0;
		for (; i < sizeof oracle_names / sizeof oracle_names[0]; i++)
			if (strlen(oracle_names[i].name) == n - 1 &&
			    !strncmp(oracle_names[i].name, e + 1, n - 1))
				break;
		if (i == sizeof oracle_names / sizeof oracle_names[0])
			goto bad;
		off = on ? off & ~oracle_names[i].bit : off | oracle_names[i].bit;
		e += n + (e[n] == ',');
	}
	return off;
bad:
	sd__harness_error("SOCKDRILL_ORACLES: '%s': expected a list like -fd-leak,+reply of "
			  "reply, deadlock, fd-leak, listeners, exit, refused",
			  getenv("SOCKDRILL_ORACLES"));
}

/* The oracles' verdict on one connection: a finding says what it sent and shows at most
 * EXCERPT bytes of the reply. */
void sd__fz_judge(const struct sd_fuzz_server *srv, const struct sd_fuzz_conn *k, unsigned off,
		  int faults)
{
	char sent[4 * EXCERPT + 6], got[4 * EXCERPT + 6];
	if (!(off & SD_ORACLE_REFUSED) && k->to_server && k->err == -ECONNREFUSED)
		FINDING("client %d: connection refused: the server no longer listens on "
			"127.0.0.1:%d",
			k->client, srv->port);
	if (off & SD_ORACLE_REPLY)
		return;
	quoted(sent, k->sent, k->sentlen, EXCERPT);
	if (k->refused_at != SIZE_MAX && k->refused_len)
		FINDING("client %d sent %s and on_reply refused the reply at byte %zu: %s",
			k->client, sent, k->refused_at,
			quoted(got, k->refused, k->refused_len, sizeof k->refused));
	if (k->refused_at != SIZE_MAX)
		FINDING("client %d sent %s and on_reply refused the reply at its end (%zu bytes): "
			"%s",
			k->client, sent, k->total, quoted(got, k->got, k->total, EXCERPT));
	int whole = k->total <= k->gotlen; /* not cut at the bound */
	if (srv->check_session && whole && faults != SD_FAULTS_LOSE_WRITES) {
		struct sd_fuzz_session s = {.conn = k->id,
					    .client = k->client,
					    .nmsgs = k->nmsgs,
					    .which = k->which,
					    .sent = k->sent,
					    .sentlen = k->sentlen,
					    .reply = k->got,
					    .replylen = k->gotlen,
					    .err = -k->err,
					    .faults = faults,
					    .eof = k->eof};
		if (srv->check_session(srv->arg, &s))
			FINDING("client %d sent %s and the session oracle refused the %zu "
				"bytes it got: %s",
				k->client, sent, k->gotlen,
				quoted(got, k->got, k->gotlen, EXCERPT));
	}
	/* `check` judges a request and its whole reply: one message, read to the end. */
	if (!srv->check || faults || k->nmsgs != 1 || k->err || !k->eof)
		return;
	if (!whole) {
		if (!srv->on_reply)
			sd__harness_error(
				"client %d got a reply of %zu bytes, more than `check` is "
				"given (SD_FUZZ_MAX_REPLY, %u): judge replies this long with "
				"the streaming oracle `on_reply` (sockdrill/fuzz.h)",
				k->client, k->total, SD_FUZZ_MAX_REPLY);
		return; /* on_reply saw it all */
	}
	if (!srv->check(k->which[0], k->sent, k->sentlen, k->got, k->gotlen))
		return;
	if (k->gotlen <= EXCERPT)
		FINDING("client %d sent %s and got %s", k->client, sent,
			quoted(got, k->got, k->gotlen, EXCERPT));
	FINDING("client %d sent %s and got %zu bytes: %s", k->client, sent, k->gotlen,
		quoted(got, k->got, k->gotlen, EXCERPT));
}
