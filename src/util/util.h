/* sockdrill: small pieces that several layers need, each written once (issue 16). */
#ifndef SD_UTIL_H
#define SD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

/* ---- splitmix64 (Steele, Lea and Flood): every seeded choice in the project -------------- */
#define SD__GOLDEN 0x9e3779b97f4a7c15ull

/* The finalizer alone, for callers that hash their own mix of inputs. */
static inline uint64_t sd__mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The next draw of the generator whose state is *x. */
static inline uint64_t sd__splitmix64(uint64_t *x) { return sd__mix(*x += SD__GOLDEN); }

/* ---- the monotonic clock ------------------------------------------------------------------ */
/* Inline, so that each caller's clock_gettime resolves where it did: inside a run of the
 * in-process layer (src/interpose/clock.c) that is the run's virtual clock. The real
 * backend, which must see the host's clock, converts its own reading with sd__ts_ns. */
static inline int64_t sd__ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static inline int64_t sd__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return sd__ts_ns(&ts);
}

/* Seconds as a double, summed from the two fields (not from sd__mono_ns: the rounding
 * differs, and the deadlines computed from it must stay as they were). */
static inline double sd__mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- buffers ------------------------------------------------------------------------------ */
static inline size_t sd__iov_sum(const struct iovec *iov, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

/* ---- addresses (src/table/addr.c) ---------------------------------------------------------------
 */
/* The loopback policy of both built-in backends: loopback and the wildcard always pass,
 * anything else only with allow_other (SD_CFG_ALLOW_NONLOOPBACK). An address the kernel
 * refuses by itself (too short, not IPv4 or IPv6, AF_UNSPEC's disconnect) passes too, so
 * that the call's own errno is what the caller sees. */
int sd__addr_permitted(int allow_other, const struct sockaddr *a, socklen_t len);

/* ---- text (src/util/text.c) --------------------------------------------------------------- */
/* vsnprintf into a fixed buffer: cut rather than overflow. */
void sd__textf(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* What sd__escape writes for the bytes that have a rule; every other byte below 0x20 or from
 * 0x7f on is \xNN, and '"', '\\' and "${"'s '$' are \xNN too unless their flag says. */
enum {
	SD__ESC_NL = 1 << 0,        /* '\n' as \n */
	SD__ESC_CR = 1 << 1,        /* '\r' as \r */
	SD__ESC_TAB = 1 << 2,       /* '\t' as \t */
	SD__ESC_QUOTE = 1 << 3,     /* '"' as \" */
	SD__ESC_BACKSLASH = 1 << 4, /* '\\' as \\ */
	SD__ESC_DOLLAR = 1 << 5,    /* a '$' before '{' as \$ (not read as a variable) */
	SD__ESC_DOLLAR_HEX = 1 << 6 /* a '$' before '{' as \x24 */
};
/* The longest text one byte becomes. */
#define SD__ESC_MAX 4

/* Escapes n bytes of data into out (size bytes, NUL-terminated when size > 0), without
 * quotes. It stops before a byte when SD__ESC_MAX + 1 bytes are no longer free, so that
 * a caller can write in pieces (data's whole rest is passed, so "${" is seen across the
 * pieces). Returns the length written; *done (if not NULL) receives how many bytes were. */
size_t sd__escape(char *out, size_t size, const void *data, size_t n, unsigned flags, size_t *done);

/* Bytes as lower-case hex, two digits each, to f (transcripts, the messages file). */
void sd__hex_write(FILE *f, const void *data, size_t n);

/* s as a JSON string, quoted, to f: '"' and '\\' escaped, '\n' as \n, other control bytes as
 * \u00XX. html: '<', '>' and '&' as \u00XX too, so the text cannot end an HTML <script>
 * block it sits in. */
void sd__json_str(FILE *f, const char *s, int html);
/* One byte of a JSON string's contents, escaped by the same rule. */
void sd__json_byte(FILE *f, unsigned char c, int html);

/* The value of one hex digit, either case; -1 for any other character. */
static inline int sd__hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* ---- key=value lists ---------------------------------------------------------------------- */
/* Cuts "key=value" at its first '=': returns the value, or NULL where there is none. */
static inline char *sd__kv_cut(char *kv)
{
	for (char *p = kv; *p; p++)
		if (*p == '=') {
			*p = 0;
			return p + 1;
		}
	return NULL;
}

#endif
