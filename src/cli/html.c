/* sockdrill --html: the timeline page, one self-contained file: the data as JSON, the style
 * and the script inline (src/cli/html/, carried as strings by cmake/embed.cmake). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "html.h"

extern const char sd_html_timeline_js[];
extern const char sd_html_timeline_css[];

void sd__html_str(FILE *f, const char *s) { sd__json_str(f, s, 1); }

int sd__html_events_reset(struct sd_html_events *e)
{
	sd__html_events_free(e);
	e->m = open_memstream(&e->text, &e->len);
	return e->m ? 0 : -1;
}

const char *sd__html_events_text(struct sd_html_events *e)
{
	if (!e->m || fflush(e->m) != 0)
		return "";
	return e->text ? e->text : "";
}

void sd__html_events_free(struct sd_html_events *e)
{
	if (e->m)
		fclose(e->m);
	free(e->text);
	memset(e, 0, sizeof *e);
}

void sd__html_sink(void *ctx, const struct sd_trace_event *ev)
{
	struct sd_html_events *e = ctx;
	if (!e->m)
		return;
	if (e->n >= SD_HTML_MAX_EVENTS) {
		e->dropped++;
		return;
	}
	fputs(e->n++ ? ",\n" : "", e->m);
	sd_trace_event_json(e->m, ev);
}

int sd__html_page(FILE *f, const char *title, const char *data, size_t len)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
	for (const char *p = title; *p; p++) /* the title is text: its markup characters escaped */
		if (*p == '<')
			fputs("&lt;", f);
		else if (*p == '&')
			fputs("&amp;", f);
		else
			fputc(*p, f);
	fputs("</title>\n<style>\n", f);
	fputs(sd_html_timeline_css, f);
	fputs("</style>\n</head><body>\n<script type=\"application/json\" id=\"sd-data\">\n", f);
	fwrite(data, 1, len, f);
	fputs("\n</script>\n<script>\n", f);
	fputs(sd_html_timeline_js, f);
	fputs("</script>\n</body></html>\n", f);
	return ferror(f) ? -1 : 0;
}
