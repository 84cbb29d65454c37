/* sockdrill --html: the timeline page and the events it is drawn from (html.c). */
#ifndef SD_CLI_HTML_H
#define SD_CLI_HTML_H

#include <stddef.h>
#include <stdio.h>

#include <sockdrill/trace.h>

/* At most this many events of one run go into a page; the rest are counted. */
enum { SD_HTML_MAX_EVENTS = 200000 };

/* One run's calls, as the trace wrapper's sink hands them over, kept as JSON objects. */
struct sd_html_events {
	FILE *m;
	char *text;
	size_t len;
	long n, dropped;
};

/* Starts or restarts the collection: 0, or -1 when out of memory. */
int sd__html_events_reset(struct sd_html_events *e);
/* The events so far, as the members of a JSON array ("" for none). */
const char *sd__html_events_text(struct sd_html_events *e);
void sd__html_events_free(struct sd_html_events *e);
/* A sink for sd_trace_set_sink / sd_sc_options.trace_sink: ctx is a struct sd_html_events. */
void sd__html_sink(void *ctx, const struct sd_trace_event *ev);

/* A JSON string whose text cannot end the page's <script> block (<, >, & escaped). */
void sd__html_str(FILE *f, const char *s);

/* The page: a title, the data (one JSON object: docs/timeline.md) in a script block, the style
 * and the script that draws it. 0, or -1 when f could not take it. */
int sd__html_page(FILE *f, const char *title, const char *data, size_t len);

#endif
