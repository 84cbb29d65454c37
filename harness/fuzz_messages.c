/* sockdrill: a target's protocol messages as a file (SOCKDRILL_MESSAGES_OUT) and as a
 * dictionary for the engines (fuzz_messages.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../src/util/util.h"
#include "fuzz_messages.h"

int sd_fuzz_messages_write(FILE *f, const struct sd_fuzz_dict *d, int custom_client)
{
	size_t n = d ? d->n : 0;
	if (n > SD_FUZZ_MSGS_MAX) /* past 240 none is ever picked anyway */
		n = SD_FUZZ_MSGS_MAX;
	fprintf(f, "sockdrill-messages 1 %zu %d\n", n, custom_client ? 1 : 0);
	for (size_t i = 0; i < n; i++) {
		size_t len = sd_fuzz_dict_len(d, i);
		sd__hex_write(f, d->msgs[i],
			      len < SD_FUZZ_MSG_BYTES_MAX ? len : SD_FUZZ_MSG_BYTES_MAX);
		putc('\n', f);
	}
	return ferror(f) ? -EIO : 0;
}

void sd_fuzz_messages_free(struct sd_fuzz_dict *d)
{
	for (size_t i = 0; d->msgs && i < d->n; i++)
		free((void *)d->msgs[i]);
	free((void *)d->msgs);
	free((void *)d->lens);
	*d = (struct sd_fuzz_dict){0};
}

int sd_fuzz_messages_read(const char *path, struct sd_fuzz_dict *d, int *custom_client, char *err,
			  size_t errsize)
{
	*d = (struct sd_fuzz_dict){0};
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		snprintf(err, errsize, "%s: %s", path, strerror(e));
		return -e;
	}
	char *line = NULL, **msgs = NULL;
	size_t cap = 0, n = 0, *lens = NULL, got = 0;
	unsigned version = 0;
	int client = 0, rc = -EINVAL, lineno = 1;
	char extra;
	ssize_t len = getline(&line, &cap, f);
	if (len <= 0 ||
	    sscanf(line, "sockdrill-messages %u %zu %d %c", &version, &n, &client, &extra) != 3 ||
	    version != 1 || (client != 0 && client != 1)) {
		snprintf(err, errsize, "%s:1: expected \"sockdrill-messages 1 N C\"", path);
		goto out;
	}
	if (n > SD_FUZZ_MSGS_MAX) {
		snprintf(err, errsize, "%s:1: %zu messages, more than %d", path, n,
			 SD_FUZZ_MSGS_MAX);
		goto out;
	}
	msgs = calloc(n ? n : 1, sizeof *msgs);
	lens = calloc(n ? n : 1, sizeof *lens);
	if (!msgs || !lens) {
		snprintf(err, errsize, "%s: out of memory", path);
		rc = -ENOMEM;
		goto out;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		if (got == n) {
			snprintf(err, errsize, "%s:%d: more messages than the %zu announced", path,
				 lineno, n);
			goto out;
		}
		if (len % 2 || (size_t)len / 2 > SD_FUZZ_MSG_BYTES_MAX) {
			snprintf(err, errsize, "%s:%d: %s", path, lineno,
				 len % 2 ? "an odd number of hex digits"
					 : "a message longer than 1 MiB");
			goto out;
		}
		unsigned char *m = malloc((size_t)len / 2 + 1);
		if (!m) {
			snprintf(err, errsize, "%s: out of memory", path);
			rc = -ENOMEM;
			goto out;
		}
		msgs[got] = (char *)m;
		lens[got++] = (size_t)len / 2;
		for (ssize_t i = 0; i < len; i += 2) {
			int hi = sd__hexval(line[i]), lo = sd__hexval(line[i + 1]);
			if (hi < 0 || lo < 0) {
				snprintf(err, errsize, "%s:%d:%zd: not a hex digit", path, lineno,
					 i + 1 + (hi >= 0));
				goto out;
			}
			m[i / 2] = (unsigned char)(hi << 4 | lo);
		}
		m[len / 2] = 0;
	}
	if (got < n) {
		snprintf(err, errsize, "%s:%d: %zu messages announced, %zu found", path, lineno, n,
			 got);
		goto out;
	}
	*d = (struct sd_fuzz_dict){(const char *const *)msgs, lens, n};
	*custom_client = client;
	msgs = NULL, lens = NULL;
	rc = 0;
out:
	if (msgs) {
		struct sd_fuzz_dict partial = {(const char *const *)msgs, lens, got};
		sd_fuzz_messages_free(&partial);
	} else {
		free(lens);
	}
	free(line);
	fclose(f);
	return rc;
}

int sd_fuzz_messages_dict(FILE *f, const struct sd_fuzz_dict *d, size_t limit)
{
	int written = 0;
	fputs("# the target's protocol messages (sockdrill fuzz, SOCKDRILL_MESSAGES_OUT)\n", f);
	for (size_t i = 0; d && i < d->n; i++) {
		size_t len = sd_fuzz_dict_len(d, i);
		if (!len || len > limit)
			continue;
		const unsigned char *m = (const unsigned char *)d->msgs[i];
		fprintf(f, "msg%zu=\"", i);
		for (size_t b = 0, done; b < len; b += done) { /* AFL's dictionary: all in hex */
			char e[256];
			sd__escape(e, sizeof e, m + b, len - b, 0, &done);
			fputs(e, f);
		}
		fputs("\"\n", f);
		written++;
	}
	return written;
}
