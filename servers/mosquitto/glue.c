/* mosquitto (Debian bookworm) fuzzed in-process: the broker's main on a plain MQTT listener,
 * clients speaking MQTT 3.1.1 (and 3.1), an oracle that knows the broker's exact replies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sockdrill/fuzz.h>

#define PORT 1883

int sd_server_main(int argc, char **argv);

static char confdir[4000], conf[4096];

/* The process's config goes with it (an input that crashes leaves it behind). */
static void remove_config(void)
{
	unlink(conf);
	rmdir(confdir);
}

/* A harness error: one line, and exit 2 without the atexit handlers, where libFuzzer's would
 * take the exit for a crash of the input (docs/inproc.md). */
static void fail(const char *what, const char *path)
{
	fprintf(stderr, "mosquitto glue: cannot %s %s: %s\n", what, path, strerror(errno));
	remove_config();
	fflush(stdout);
	_exit(2);
}

/* The config, written once per process. `user root` keeps a broker started as root from
 * dropping the whole fuzzer to the `mosquitto` (or `nobody`) user; it changes nothing for a
 * broker started as anyone else. Logging is off: every input would print a dozen lines. */
static void write_config(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(confdir, sizeof confdir, "%s/sd-mosquitto-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(confdir))
		fail("make the directory", confdir);
	snprintf(conf, sizeof conf, "%s/mosquitto.conf", confdir);
	atexit(remove_config);
	FILE *f = fopen(conf, "w");
	if (!f)
		fail("write", conf);
	int w = fprintf(f,
			"listener %d 127.0.0.1\n"
			"allow_anonymous true\n"
			"persistence false\n"
			"user root\n"
			"log_dest none\n",
			PORT);
	if (fclose(f) != 0 || w < 0)
		fail("write", conf);
}

static void serve(void *arg)
{
	(void)arg;
	char *av[] = {"mosquitto", "-c", conf, NULL};
	sd_server_main(3, av);
}

/* The packets. CONNECT is MQTT 3.1.1 with an empty client id and a clean session (so the
 * broker makes up an id and clients never take over each other's session), keep-alive 60 s;
 * SUBSCRIBE asks for a/b at QoS 0 (packet id 1), UNSUBSCRIBE drops it (id 2); PUBLISH sends
 * "hi" to a/b at QoS 0, PUBLISH1 "x" to q at QoS 1 (id 5), PUBLISH2 at QoS 2 (id 6). */
/* clang-format off */
#define CONNECT     "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"
#define CONNECT31   "\x10\x0e\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x00"
#define SUBSCRIBE   "\x82\x08\x00\x01\x00\x03" "a/b" "\x00"
#define UNSUBSCRIBE "\xa2\x07\x00\x02\x00\x03" "a/b"
#define PUBLISH     "\x30\x07\x00\x03" "a/bhi"
#define PUBLISH1    "\x32\x06\x00\x01q\x00\x05x"
#define PUBLISH2    "\x34\x06\x00\x01q\x00\x06x"
#define PUBREL      "\x62\x02\x00\x06"
#define PINGREQ     "\xc0\x00"
#define DISCONNECT  "\xe0\x00"

#define CONNACK  "\x20\x02\x00\x00"
#define SUBACK   "\x90\x03\x00\x01\x00"
#define UNSUBACK "\xb0\x02\x00\x02"
#define PINGRESP "\xd0\x00"

#define REQ(s) {s, sizeof s - 1}

static const struct {
	const char *bytes;
	size_t len;
} msgs[] = {
	REQ(CONNECT),
	REQ(CONNECT SUBSCRIBE PUBLISH PINGREQ DISCONNECT),
	REQ(CONNECT PINGREQ DISCONNECT),
	REQ(CONNECT SUBSCRIBE UNSUBSCRIBE DISCONNECT),
	REQ(CONNECT PUBLISH1 PUBLISH2 PUBREL DISCONNECT),
	REQ(CONNECT PUBLISH DISCONNECT),
	REQ(CONNECT31),
	REQ(CONNECT CONNECT),
	REQ(PINGREQ CONNECT),
	/* single packets, for dialogs (which start with CONNECT, number 0) */
	REQ(SUBSCRIBE),
	REQ(UNSUBSCRIBE),
	REQ(PUBLISH),
	REQ(PUBLISH1),
	REQ(PUBLISH2),
	REQ(PUBREL),
	REQ(PINGREQ),
	REQ(DISCONNECT),
};
/* clang-format on */
#define NREQ (sizeof msgs / sizeof msgs[0])

/* What the broker answers each, packet by packet; "" ends a list. SUBACK opens a window in
 * which PUBLISHes to a/b may come from other clients, UNSUBACK closes it. */
static const char *const replies[NREQ][5] = {
	{CONNACK, ""},
	{CONNACK, SUBACK, PUBLISH, PINGRESP, ""},
	{CONNACK, PINGRESP, ""},
	{CONNACK, SUBACK, UNSUBACK, ""},
	{CONNACK, "\x40\x02\x00\x05", "\x50\x02\x00\x06", "\x70\x02\x00\x06", ""},
	{CONNACK, ""},
	{"\x20\x02\x00\x02", ""}, /* 3.1 wants a client id: "identifier rejected" */
	{CONNACK, ""},            /* a second CONNECT is a protocol error: closed */
	{""},                     /* so is anything before CONNECT */
	{""}, {""}, {""}, {""}, {""}, {""}, {""}, {""}, /* alone: before CONNECT too */
};

static const char *reqs[NREQ];
static size_t lens[NREQ];

/* The packet at p (n bytes left): 1 with its whole length in *len and its fixed header's in
 * *hdr, 0 when cut short, -1 when its remaining length is not a valid variable byte integer. */
static int frame(const unsigned char *p, size_t n, size_t *len, size_t *hdr)
{
	size_t rl = 0, mult = 1;
	for (size_t i = 1; i <= 4; i++) {
		if (i >= n)
			return 0;
		rl += (p[i] & 127u) * mult;
		mult *= 128;
		if (!(p[i] & 128)) {
			*hdr = i + 1;
			*len = *hdr + rl;
			return *len <= n;
		}
	}
	return -1;
}

/* A PUBLISH to a/b at QoS 0 (retained or not), as a subscriber of a/b may get from others. */
static int publish_ab(const unsigned char *p, size_t len, size_t hdr)
{
	return (p[0] & 0xfe) == 0x30 && len >= hdr + 5 && memcmp(p + hdr, "\x00\x03\x61/b", 5) == 0;
}

/* The packet types a broker sends a client, with their fixed flags (PUBLISH's vary). */
static int broker_sends(unsigned char b)
{
	unsigned type = b >> 4u, flags = b & 15u;
	if (type == 3)
		return (flags & 6) != 6; /* QoS 3 does not exist */
	if (type == 6)
		return flags == 2; /* PUBREL */
	/* CONNACK, PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK, PINGRESP, DISCONNECT, AUTH; not
	 * CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ or 0, which only go the other way */
	return flags == 0 && (0xeab4u >> type & 1);
}

/* Raw bytes may get any answer, but it is MQTT: whole packets of the types a broker sends,
 * and CONNACK first. */
static int check_raw(const unsigned char *r, size_t rl)
{
	for (size_t off = 0, len, hdr; off < rl; off += len) {
		int k = frame(r + off, rl - off, &len, &hdr);
		if (k == 0)
			return 1; /* a packet cut short: clients read replies whole */
		if (k < 0 || !broker_sends(r[off]) || (off == 0 && r[0] != 0x20))
			return 1;
	}
	return 0;
}

static int check(int which, const unsigned char *q, size_t ql, const unsigned char *r, size_t rl)
{
	(void)q, (void)ql;
	if (which < 0)
		return check_raw(r, rl);
	const char *const *want = replies[which];
	int window = 0;
	for (size_t off = 0, len, hdr; off < rl; off += len) {
		if (frame(r + off, rl - off, &len, &hdr) != 1)
			return 1;
		size_t wl = strlen(*want) ? (unsigned char)(*want)[1] + 2u : 0;
		if (wl && len == wl && memcmp(r + off, *want, len) == 0) {
			window = (r[off] == 0x90) ? 1 : (r[off] == 0xb0) ? 0 : window;
			want++;
		} else if (!(window && publish_ab(r + off, len, hdr))) {
			return 1;
		}
	}
	return **want != '\0';
}

/* Any dialog: whole packets of the types a broker sends, CONNACK first; the last may be cut
 * when the client closed first or a fault ended the connection. */
static int check_session(void *arg, const struct sd_fuzz_session *s)
{
	(void)arg;
	const unsigned char *r = s->reply;
	for (size_t off = 0, len, hdr; off < s->replylen; off += len) {
		int k = frame(r + off, s->replylen - off, &len, &hdr);
		if (k == 0)
			return s->eof && !s->faults && !s->err;
		if (k < 0 || !broker_sends(r[off]) || (off == 0 && r[0] != 0x20))
			return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!conf[0]) {
		write_config();
		for (size_t i = 0; i < NREQ; i++)
			reqs[i] = msgs[i].bytes, lens[i] = msgs[i].len;
	}
	struct sd_fuzz_server s = {.serve = serve,
				   .port = PORT,
				   .requests = reqs,
				   .nrequests = NREQ,
				   .check = check,
				   .request_lens = lens,
				   .check_session = check_session};
	return sd_fuzz_server_run(&s, data, size);
}
