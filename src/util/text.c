/* sockdrill: text helpers shared by the library, the drivers and the CLI (util.h). */
#include <stdarg.h>
#include <stdio.h>

#include "util.h"

void sd__textf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
}

static const char hex[] = "0123456789abcdef";

void sd__hex_write(FILE *f, const void *data, size_t n)
{
	const unsigned char *d = data;
	for (size_t i = 0; i < n; i++) {
		putc(hex[d[i] >> 4], f);
		putc(hex[d[i] & 15], f);
	}
}

void sd__json_byte(FILE *f, unsigned char c, int html)
{
	if (c == '"' || c == '\\')
		fprintf(f, "\\%c", c);
	else if (c == '\n')
		fputs("\\n", f);
	else if (c < 0x20 || c == 0x7f || (html && (c == '<' || c == '>' || c == '&')))
		fprintf(f, "\\u%04x", c);
	else
		fputc(c, f);
}

void sd__json_str(FILE *f, const char *s, int html)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		sd__json_byte(f, *p, html);
	fputc('"', f);
}

/* The escape for d[i] (at most SD__ESC_MAX characters, no NUL) written to e; its length. */
static size_t escape_one(const unsigned char *d, size_t i, size_t n, unsigned flags, char *e)
{
	unsigned char ch = d[i];
	int dollar = ch == '$' && i + 1 < n && d[i + 1] == '{';
	char named = 0;
	if (ch == '\n' && flags & SD__ESC_NL)
		named = 'n';
	else if (ch == '\r' && flags & SD__ESC_CR)
		named = 'r';
	else if (ch == '\t' && flags & SD__ESC_TAB)
		named = 't';
	else if ((ch == '"' && flags & SD__ESC_QUOTE) ||
		 (ch == '\\' && flags & SD__ESC_BACKSLASH) || (dollar && flags & SD__ESC_DOLLAR))
		named = (char)ch;
	if (named) {
		e[0] = '\\', e[1] = named;
		return 2;
	}
	if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' ||
	    (dollar && flags & SD__ESC_DOLLAR_HEX)) {
		e[0] = '\\', e[1] = 'x', e[2] = hex[ch >> 4], e[3] = hex[ch & 15];
		return 4;
	}
	e[0] = (char)ch;
	return 1;
}

size_t sd__escape(char *out, size_t size, const void *data, size_t n, unsigned flags, size_t *done)
{
	const unsigned char *d = data;
	size_t o = 0, i = 0;
	for (; i < n && o + SD__ESC_MAX < size; i++)
		o += escape_one(d, i, n, flags, out + o);
	if (size)
		out[o] = 0;
	if (done)
		*done = i;
	return o;
}
